/*
 * segments_repo.h — saved segments (table segments, sql/0001_init.sql): a unique name, an
 * expression in the segment language (docs/segments.md), a description and the member count
 * last computed by a process's engine (cached_count, counted_at).
 *
 * Writes that change what a segment means (insert, update, delete) announce HK_CHANGE_SEGMENT in
 * the change log inside the caller's transaction, so every process recounts; storing a count
 * does not (it would make the counters chase their own tail).
 *
 * Errors: 0 or a negative HK_E code with err filled; HK_E(CONFLICT) for a duplicate name,
 * HK_E(NOTFOUND) for an id that does not exist.
 *
 * Threading: functions use the one hk_db they are given (borrowed; one thread at a time).
 */
#ifndef HK_STORE_SEGMENTS_REPO_H
#define HK_STORE_SEGMENTS_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_db;
struct hk_err;

/** A saved segment as stored. The strings are owned (hk_segment_row_release). */
struct hk_segment_row {
    int64_t id;
    char *name;
    char *expression;
    char *description;
    bool has_count; /* cached_count is not NULL */
    int64_t cached_count;
    int64_t counted_at; /* 0 when never counted */
    int64_t created_by; /* 0 when unknown */
    int64_t created_at, updated_at;
};

/** Frees what a row owns and zeroes it. r may be NULL. */
void hk_segment_row_release(struct hk_segment_row *r);
/** Releases n rows and frees the array. rows may be NULL. */
void hk_segment_rows_free(struct hk_segment_row *rows, size_t n);

/** Every saved segment ordered by name. *out is new (hk_segment_rows_free; NULL when *n is 0). */
int hk_segments_repo_list(struct hk_db *db, struct hk_segment_row **out, size_t *n,
                          struct hk_err *err);
/** The segment with id into *out (release it). HK_E(NOTFOUND). */
int hk_segments_repo_get(struct hk_db *db, int64_t id, struct hk_segment_row *out,
                         struct hk_err *err);
/** Inserts a segment (user_id 0 = unknown); its id into *id. HK_E(CONFLICT) for the name. */
int hk_segments_repo_insert(struct hk_db *db, const char *name, const char *expression,
                            const char *description, int64_t user_id, int64_t now, int64_t *id,
                            struct hk_err *err);
/** Replaces name, expression and description of id. HK_E(NOTFOUND), HK_E(CONFLICT). */
int hk_segments_repo_update(struct hk_db *db, int64_t id, const char *name, const char *expression,
                            const char *description, int64_t now, struct hk_err *err);
/** Deletes id. HK_E(NOTFOUND). */
int hk_segments_repo_delete(struct hk_db *db, int64_t id, struct hk_err *err);
/** Stores a computed count (no change-log row). A missing id is not an error. */
int hk_segments_repo_set_count(struct hk_db *db, int64_t id, int64_t count, int64_t at,
                               struct hk_err *err);

#endif
