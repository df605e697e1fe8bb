/*
 * store/accounts.h — the accounts repository: every SQL statement on users, sessions,
 * api_tokens, login_failures and audit_log (schema in sql/0001_init.sql).
 *
 * Design
 *   Thin, one function per statement, each taking a connection (struct hk_db) the caller has
 *   acquired, so the caller (services/accounts.c) decides what shares a transaction. Rows come
 *   back as plain structs with fixed buffers; nothing here knows about roles as bits, password
 *   hashing or policy. Statements are named "acct_*" and prepared once per connection.
 *
 * Invariants
 *   Secrets never reach this layer in clear: sessions and API tokens are looked up by the hex
 *   BLAKE2b hash of the value the client holds; passwords arrive as argon2id hash strings.
 *   Times are seconds since the epoch (UTC); 0 in a row means SQL NULL ("never").
 *   Out-parameters are written only on success. Statements are reset before returning, so no
 *   SQLite read transaction is left open behind a caller.
 *
 * Errors: 0 or a negative HK_E code with err filled; HK_E(NOTFOUND) for a missing row where a
 * single row is asked for, HK_E(CONFLICT) for a duplicate login (unique violation).
 *
 * Threads: a db belongs to one thread at a time (store.h); these functions keep no state.
 */
#ifndef HK_STORE_ACCOUNTS_H
#define HK_STORE_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_db;
struct hk_err;

#define HK_ACCT_LOGIN_MAX   64
#define HK_ACCT_NAME_MAX    128
#define HK_ACCT_ROLE_MAX    16
#define HK_ACCT_HASH_MAX    128 /* argon2id strings (crypto_pwhash_STRBYTES) and hex hashes */
#define HK_ACCT_PREFIX_MAX  16
#define HK_ACCT_IP_MAX      64
#define HK_ACCT_REQID_MAX   64
#define HK_ACCT_ACTION_MAX  64
#define HK_ACCT_TARGET_MAX  128
#define HK_ACCT_DETAILS_MAX 1024

struct hk_acct_user_row {
    int64_t id;
    char login[HK_ACCT_LOGIN_MAX];
    char display_name[HK_ACCT_NAME_MAX];
    char role[HK_ACCT_ROLE_MAX]; /* roles.name */
    char password_hash[HK_ACCT_HASH_MAX];
    bool disabled;
    int64_t created_at, updated_at, last_login_at;
};

/** A session joined with its user, as authentication needs it. */
struct hk_acct_session_row {
    int64_t id, user_id, expires_at, last_seen_at, revoked_at;
    char login[HK_ACCT_LOGIN_MAX];
    char role[HK_ACCT_ROLE_MAX];
    bool user_disabled;
};

/** An API token joined with its user (never the token or its hash). */
struct hk_acct_token_row {
    int64_t id, user_id;
    char user_login[HK_ACCT_LOGIN_MAX];
    char user_role[HK_ACCT_ROLE_MAX];
    bool user_disabled;
    char name[HK_ACCT_NAME_MAX];
    char prefix[HK_ACCT_PREFIX_MAX];
    int64_t created_at, last_used_at, revoked_at;
};

struct hk_acct_audit_row {
    int64_t id, at, actor_id; /* actor_id 0: the system or the CLI */
    char actor[HK_ACCT_LOGIN_MAX];
    char action[HK_ACCT_ACTION_MAX];
    char target[HK_ACCT_TARGET_MAX];
    char ip[HK_ACCT_IP_MAX];
    char request_id[HK_ACCT_REQID_MAX];
    char details[HK_ACCT_DETAILS_MAX]; /* JSON object text */
};

/* ---- users ---------------------------------------------------------------------------- */

/** Number of users (any state) into *out. */
int hk_acct_user_count(struct hk_db *db, int64_t *out, struct hk_err *err);
/** Number of users with role 'admin' that are not disabled. */
int hk_acct_admin_active_count(struct hk_db *db, int64_t *out, struct hk_err *err);
/** Inserts row (its id and last_login_at ignored); the new id into *id. CONFLICT: login taken. */
int hk_acct_user_insert(struct hk_db *db, const struct hk_acct_user_row *row, int64_t *id,
                        struct hk_err *err);
int hk_acct_user_by_id(struct hk_db *db, int64_t id, struct hk_acct_user_row *out,
                       struct hk_err *err);
int hk_acct_user_by_login(struct hk_db *db, const char *login, struct hk_acct_user_row *out,
                          struct hk_err *err);
/**
 * Users with id > after_id in id order, at most cap of them, into rows (caller's array of cap);
 * the count into *n.
 */
int hk_acct_user_list(struct hk_db *db, int64_t after_id, size_t cap, struct hk_acct_user_row *rows,
                      size_t *n, struct hk_err *err);
/** Writes display_name, role, password_hash, disabled and updated_at of row->id. NOTFOUND. */
int hk_acct_user_update(struct hk_db *db, const struct hk_acct_user_row *row, struct hk_err *err);
int hk_acct_user_set_last_login(struct hk_db *db, int64_t id, int64_t at, struct hk_err *err);
/** Replaces only the password hash (re-hashing with new cost on sign-in). */
int hk_acct_user_set_password_hash(struct hk_db *db, int64_t id, const char *hash,
                                   struct hk_err *err);

/* ---- sessions ------------------------------------------------------------------------- */

/** New session (last_seen_at = created_at); its id into *id. */
int hk_acct_session_insert(struct hk_db *db, const char *token_hash, int64_t user_id,
                           int64_t created_at, int64_t expires_at, const char *ip,
                           const char *user_agent, int64_t *id, struct hk_err *err);
/** The session whose token hashes to token_hash, with its user. NOTFOUND. */
int hk_acct_session_lookup(struct hk_db *db, const char *token_hash,
                           struct hk_acct_session_row *out, struct hk_err *err);
int hk_acct_session_touch(struct hk_db *db, int64_t id, int64_t at, struct hk_err *err);
/** Revokes one session if not yet revoked; *changed (may be NULL) tells whether it was live. */
int hk_acct_session_revoke(struct hk_db *db, int64_t id, int64_t at, bool *changed,
                           struct hk_err *err);
/** Revokes every live session of user_id except except_id (0: none excepted). */
int hk_acct_sessions_revoke_user(struct hk_db *db, int64_t user_id, int64_t except_id, int64_t at,
                                 struct hk_err *err);
/** Deletes user_id's sessions that expired before `before` (housekeeping at sign-in). */
int hk_acct_sessions_prune_user(struct hk_db *db, int64_t user_id, int64_t before,
                                struct hk_err *err);

/* ---- API tokens ----------------------------------------------------------------------- */

int hk_acct_token_insert(struct hk_db *db, int64_t user_id, const char *name,
                         const char *token_hash, const char *prefix, int64_t created_at,
                         int64_t *id, struct hk_err *err);
/** The token whose value hashes to token_hash, with its user. NOTFOUND. */
int hk_acct_token_lookup(struct hk_db *db, const char *token_hash, struct hk_acct_token_row *out,
                         struct hk_err *err);
int hk_acct_token_by_id(struct hk_db *db, int64_t id, struct hk_acct_token_row *out,
                        struct hk_err *err);
/** Tokens with id > after_id in id order, at most cap, into rows; count into *n. */
int hk_acct_token_list(struct hk_db *db, int64_t after_id, size_t cap,
                       struct hk_acct_token_row *rows, size_t *n, struct hk_err *err);
int hk_acct_token_touch(struct hk_db *db, int64_t id, int64_t at, struct hk_err *err);
/** Revokes the token if not yet revoked; *changed (may be NULL) tells whether it was live. */
int hk_acct_token_revoke(struct hk_db *db, int64_t id, int64_t at, bool *changed,
                         struct hk_err *err);

/* ---- failed sign-ins ------------------------------------------------------------------ */

int hk_acct_login_failure_insert(struct hk_db *db, const char *login, const char *ip, int64_t at,
                                 struct hk_err *err);
/**
 * The time of the nth newest (n from 1) failure after `since` for login (by_ip false) or for ip
 * (by_ip true), into *at; 0 when there are fewer than n. Used to throttle: when the nth exists,
 * the limit n is reached until that failure leaves the window.
 */
int hk_acct_login_failure_nth(struct hk_db *db, bool by_ip, const char *key, int64_t since,
                              int64_t n, int64_t *at, struct hk_err *err);
/** Forgets every failure of login (after a successful sign-in). */
int hk_acct_login_failures_clear(struct hk_db *db, const char *login, struct hk_err *err);
/** Deletes login's failures at or before `before` (outside the window). */
int hk_acct_login_failures_prune(struct hk_db *db, const char *login, int64_t before,
                                 struct hk_err *err);

/* ---- audit log ------------------------------------------------------------------------ */

/** Appends row (its id ignored; actor_id 0 stored as NULL). */
int hk_acct_audit_insert(struct hk_db *db, const struct hk_acct_audit_row *row, struct hk_err *err);
/**
 * Entries with id < before_id (0: from the newest), newest first, optionally only those with
 * action (NULL or "": all), at most cap, into rows; count into *n.
 */
int hk_acct_audit_list(struct hk_db *db, int64_t before_id, const char *action, size_t cap,
                       struct hk_acct_audit_row *rows, size_t *n, struct hk_err *err);

#endif
