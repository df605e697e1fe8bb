/*
 * store/repo_util.h — small helpers shared by the repository files of src/store/ (accounts.c,
 * *_repo.c): the step-and-reset patterns and the optional-value bindings they all use.
 *
 * Internal to src/store/: built on the public statement API of store.h only, so the repository
 * files stay the store's own clients. Every helper that ends a statement's use resets it, as the
 * repository pattern requires (an unfinished SELECT keeps an SQLite read snapshot open).
 *
 * Threads: stateless; a statement belongs to the thread holding its db (store.h).
 */
#ifndef HK_STORE_REPO_UTIL_H
#define HK_STORE_REPO_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_err;
struct hk_stmt;

/**
 * The uniform bind failure: resets st (when not NULL) and fills err with HK_E(STORE)
 * "<name>: cannot bind parameters" (name is the statement name). Returns the code.
 */
int hk_stmt_bind_failed(struct hk_stmt *st, const char *name, struct hk_err *err);

/**
 * Steps a statement that returns at most one row: HK_ROW with the row current (the caller reads
 * it, then resets), or HK_E(NOTFOUND) "<what> not found" when there is none, or the step's
 * error. Resets on anything but HK_ROW.
 */
int hk_stmt_one_row(struct hk_stmt *st, const char *what, struct hk_err *err);

/**
 * Steps a statement that must return one row with an integer in column 0 (COUNT(*),
 * INSERT ... RETURNING id): 0 with *out set, HK_E(STORE) "a statement returned no row" when it
 * returned none, or the step's error. Resets.
 */
int hk_stmt_one_int64(struct hk_stmt *st, int64_t *out, struct hk_err *err);

/**
 * Steps a statement that returns at most one row with an integer in column 0: 0 with
 * *found = true and *out set, or 0 with *found = false (*out untouched), or the step's error
 * (*found untouched). Resets.
 */
int hk_stmt_find_int64(struct hk_stmt *st, int64_t *out, bool *found, struct hk_err *err);

/**
 * Steps an UPDATE/DELETE ... RETURNING: 0 with *changed (when not NULL) telling whether a row
 * came back, i.e. whether a row was affected; or the step's error. Resets.
 */
int hk_stmt_exec_returning(struct hk_stmt *st, bool *changed, struct hk_err *err);

/*
 * Optional values. Each returns what the hk_stmt_bind_* call it makes returns. (For "NULL for
 * NULL only, '' is a value", hk_stmt_bind_text(st, idx, s, (size_t)-1) already does that.)
 */
/** Binds s, NULL when s is NULL or "" (the nullable text columns). */
int hk_stmt_bind_opt_text(struct hk_stmt *st, int idx, const char *s);
/** Binds s, "" when s is NULL (the NOT NULL DEFAULT '' text columns). */
int hk_stmt_bind_text_or_empty(struct hk_stmt *st, int idx, const char *s);
/** Binds v, NULL when v is 0 (the nullable time and id columns). */
int hk_stmt_bind_opt_int64(struct hk_stmt *st, int idx, int64_t v);
/** Binds the blob p[0..len), NULL when p is NULL or len is 0. */
int hk_stmt_bind_opt_blob(struct hk_stmt *st, int idx, const void *p, size_t len);

/** A text column of the current row, "" for NULL; borrowed until the next step or reset. */
const char *hk_stmt_text_or_empty(struct hk_stmt *st, int col);
/** A heap copy of a text column ("" for NULL); NULL when out of memory. The caller frees it. */
char *hk_stmt_text_dup(struct hk_stmt *st, int col);

#endif
