/*
 * store/accounts.c — SQL for users, sessions, API tokens, failed sign-ins and the audit log.
 *
 * Every statement is portable SQL with $N parameters, named "acct_<what>" and prepared once per
 * connection by hk_db_stmt. The pattern in each function is the same: get the statement, bind,
 * step, copy the row out, reset. Resetting before returning matters on SQLite, where an
 * unfinished SELECT keeps a read snapshot open; text pointers read from a row are copied before
 * the reset because they die with it.
 *
 * Conventions of the schema kept here: NULL times read as 0 (hk_stmt_int64 of NULL is 0), and
 * 0 is written as NULL for the nullable ones (actor_id); booleans are INTEGER 0/1.
 *
 * Threads: stateless; a db is used by one thread at a time (store.h).
 */
#include "store/accounts.h"

#include <stdbool.h>
#include <string.h>

#include "core/err.h"
#include "store/repo_util.h"
#include "store/store.h"

/* ---- users ---------------------------------------------------------------------------- */

#define USER_COLUMNS                                                                               \
    "id, login, display_name, role, password_hash, disabled, created_at, updated_at, "             \
    "last_login_at"

static void read_user(struct hk_stmt *st, struct hk_acct_user_row *u)
{
    memset(u, 0, sizeof *u);
    u->id = hk_stmt_int64(st, 0);
    hk_stmt_text_copy(st, 1, u->login, sizeof u->login);
    hk_stmt_text_copy(st, 2, u->display_name, sizeof u->display_name);
    hk_stmt_text_copy(st, 3, u->role, sizeof u->role);
    hk_stmt_text_copy(st, 4, u->password_hash, sizeof u->password_hash);
    u->disabled = hk_stmt_int64(st, 5) != 0;
    u->created_at = hk_stmt_int64(st, 6);
    u->updated_at = hk_stmt_int64(st, 7);
    u->last_login_at = hk_stmt_int64(st, 8);
}

int hk_acct_user_count(struct hk_db *db, int64_t *out, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "acct_user_count", "SELECT COUNT(*) FROM users", &st, err);
    if (rc != 0)
        return rc;
    return hk_stmt_one_int64(st, out, err);
}

int hk_acct_admin_active_count(struct hk_db *db, int64_t *out, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc =
        hk_db_stmt(db, "acct_admin_active_count",
                   "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0", &st, err);
    if (rc != 0)
        return rc;
    return hk_stmt_one_int64(st, out, err);
}

int hk_acct_user_insert(struct hk_db *db, const struct hk_acct_user_row *row, int64_t *id,
                        struct hk_err *err)
{
    static const char name[] = "acct_user_insert";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name,
                        "INSERT INTO users (login, display_name, role, password_hash, disabled, "
                        "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                        "RETURNING id",
                        &st, err);
    if (rc != 0)
        return rc;
    int b = hk_stmt_bind_text(st, 1, row->login, (size_t)-1);
    b |= hk_stmt_bind_text(st, 2, row->display_name, (size_t)-1);
    b |= hk_stmt_bind_text(st, 3, row->role, (size_t)-1);
    b |= hk_stmt_bind_text(st, 4, row->password_hash, (size_t)-1);
    b |= hk_stmt_bind_int64(st, 5, row->disabled ? 1 : 0);
    b |= hk_stmt_bind_int64(st, 6, row->created_at);
    b |= hk_stmt_bind_int64(st, 7, row->updated_at);
    if (b != 0)
        return hk_stmt_bind_failed(st, name, err);
    return hk_stmt_one_int64(st, id, err);
}

static int user_by(struct hk_db *db, const char *name, const char *sql, int64_t id,
                   const char *login, struct hk_acct_user_row *out, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name, sql, &st, err);
    if (rc != 0)
        return rc;
    int b = login ? hk_stmt_bind_text(st, 1, login, (size_t)-1) : hk_stmt_bind_int64(st, 1, id);
    if (b != 0)
        return hk_stmt_bind_failed(st, name, err);
    if ((rc = hk_stmt_one_row(st, "user", err)) != HK_ROW)
        return rc;
    read_user(st, out);
    hk_stmt_reset(st);
    return 0;
}

int hk_acct_user_by_id(struct hk_db *db, int64_t id, struct hk_acct_user_row *out,
                       struct hk_err *err)
{
    return user_by(db, "acct_user_by_id", "SELECT " USER_COLUMNS " FROM users WHERE id = $1", id,
                   NULL, out, err);
}

int hk_acct_user_by_login(struct hk_db *db, const char *login, struct hk_acct_user_row *out,
                          struct hk_err *err)
{
    return user_by(db, "acct_user_by_login", "SELECT " USER_COLUMNS " FROM users WHERE login = $1",
                   0, login, out, err);
}

int hk_acct_user_list(struct hk_db *db, int64_t after_id, size_t cap, struct hk_acct_user_row *rows,
                      size_t *n, struct hk_err *err)
{
    static const char name[] = "acct_user_list";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name,
                        "SELECT " USER_COLUMNS " FROM users WHERE id > $1 ORDER BY id LIMIT $2",
                        &st, err);
    if (rc != 0)
        return rc;
    int b = hk_stmt_bind_int64(st, 1, after_id);
    b |= hk_stmt_bind_int64(st, 2, (int64_t)cap);
    if (b != 0)
        return hk_stmt_bind_failed(st, name, err);
    size_t count = 0;
    while (count < cap && (rc = hk_stmt_step(st, err)) == HK_ROW)
        read_user(st, &rows[count++]);
    hk_stmt_reset(st);
    if (rc < 0)
        return rc;
    *n = count;
    return 0;
}

int hk_acct_user_update(struct hk_db *db, const struct hk_acct_user_row *row, struct hk_err *err)
{
    static const char name[] = "acct_user_update";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name,
                        "UPDATE users SET display_name = $2, role = $3, password_hash = $4, "
                        "disabled = $5, updated_at = $6 WHERE id = $1 RETURNING id",
                        &st, err);
    if (rc != 0)
        return rc;
    int b = hk_stmt_bind_int64(st, 1, row->id);
    b |= hk_stmt_bind_text(st, 2, row->display_name, (size_t)-1);
    b |= hk_stmt_bind_text(st, 3, row->role, (size_t)-1);
    b |= hk_stmt_bind_text(st, 4, row->password_hash, (size_t)-1);
    b |= hk_stmt_bind_int64(st, 5, row->disabled ? 1 : 0);
    b |= hk_stmt_bind_int64(st, 6, row->updated_at);
    if (b != 0)
        return hk_stmt_bind_failed(st, name, err);
    bool changed = false;
    if ((rc = hk_stmt_exec_returning(st, &changed, err)) != 0)
        return rc;
    if (!changed)
        return hk_err_set(err, HK_E(NOTFOUND), "user %lld not found", (long long)row->id);
    return 0;
}

/* UPDATE <table> SET <column> = $2 WHERE id = $1, for one integer or text value. */
static int set_by_id_changed(struct hk_db *db, const char *name, const char *sql, int64_t id,
                             int64_t v, const char *text, bool *changed, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name, sql, &st, err);
    if (rc != 0)
        return rc;
    int b = hk_stmt_bind_int64(st, 1, id);
    b |= text ? hk_stmt_bind_text(st, 2, text, (size_t)-1) : hk_stmt_bind_int64(st, 2, v);
    if (b != 0)
        return hk_stmt_bind_failed(st, name, err);
    return changed ? hk_stmt_exec_returning(st, changed, err) : hk_stmt_exec(st, err);
}

static int set_by_id(struct hk_db *db, const char *name, const char *sql, int64_t id, int64_t v,
                     const char *text, struct hk_err *err)
{
    return set_by_id_changed(db, name, sql, id, v, text, NULL, err);
}

int hk_acct_user_set_last_login(struct hk_db *db, int64_t id, int64_t at, struct hk_err *err)
{
    return set_by_id(db, "acct_user_set_last_login",
                     "UPDATE users SET last_login_at = $2 WHERE id = $1", id, at, NULL, err);
}

int hk_acct_user_set_password_hash(struct hk_db *db, int64_t id, const char *hash,
                                   struct hk_err *err)
{
    return set_by_id(db, "acct_user_set_password_hash",
                     "UPDATE users SET password_hash = $2 WHERE id = $1", id, 0, hash, err);
}

/* ---- sessions ------------------------------------------------------------------------- */

int hk_acct_session_insert(struct hk_db *db, const char *token_hash, int64_t user_id,
                           int64_t created_at, int64_t expires_at, const char *ip,
                           const char *user_agent, int64_t *id, struct hk_err *err)
{
    static const char name[] = "acct_session_insert";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name,
                        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, "
                        "last_seen_at, ip, user_agent) VALUES ($1, $2, $3, $4, $3, $5, $6) "
                        "RETURNING id",
                        &st, err);
    if (rc != 0)
        return rc;
    int b = hk_stmt_bind_text(st, 1, token_hash, (size_t)-1);
    b |= hk_stmt_bind_int64(st, 2, user_id);
    b |= hk_stmt_bind_int64(st, 3, created_at);
    b |= hk_stmt_bind_int64(st, 4, expires_at);
    b |= hk_stmt_bind_text(st, 5, ip ? ip : "", (size_t)-1);
    b |= hk_stmt_bind_text(st, 6, user_agent ? user_agent : "", (size_t)-1);
    if (b != 0)
        return hk_stmt_bind_failed(st, name, err);
    return hk_stmt_one_int64(st, id, err);
}

int hk_acct_session_lookup(struct hk_db *db, const char *token_hash,
                           struct hk_acct_session_row *out, struct hk_err *err)
{
    static const char name[] = "acct_session_lookup";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name,
                        "SELECT s.id, s.user_id, s.expires_at, s.last_seen_at, s.revoked_at, "
                        "u.login, u.role, u.disabled FROM sessions s "
                        "JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
                        &st, err);
    if (rc != 0)
        return rc;
    if (hk_stmt_bind_text(st, 1, token_hash, (size_t)-1) != 0)
        return hk_stmt_bind_failed(st, name, err);
    if ((rc = hk_stmt_one_row(st, "session", err)) != HK_ROW)
        return rc;
    memset(out, 0, sizeof *out);
    out->id = hk_stmt_int64(st, 0);
    out->user_id = hk_stmt_int64(st, 1);
    out->expires_at = hk_stmt_int64(st, 2);
    out->last_seen_at = hk_stmt_int64(st, 3);
    out->revoked_at = hk_stmt_int64(st, 4);
    hk_stmt_text_copy(st, 5, out->login, sizeof out->login);
    hk_stmt_text_copy(st, 6, out->role, sizeof out->role);
    out->user_disabled = hk_stmt_int64(st, 7) != 0;
    hk_stmt_reset(st);
    return 0;
}

int hk_acct_session_touch(struct hk_db *db, int64_t id, int64_t at, struct hk_err *err)
{
    return set_by_id(db, "acct_session_touch",
                     "UPDATE sessions SET last_seen_at = $2 WHERE id = $1", id, at, NULL, err);
}

int hk_acct_session_revoke(struct hk_db *db, int64_t id, int64_t at, bool *changed,
                           struct hk_err *err)
{
    bool c = false;
    int rc = set_by_id_changed(db, "acct_session_revoke",
                               "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND "
                               "revoked_at IS NULL RETURNING id",
                               id, at, NULL, &c, err);
    if (rc == 0 && changed)
        *changed = c;
    return rc;
}

int hk_acct_sessions_revoke_user(struct hk_db *db, int64_t user_id, int64_t except_id, int64_t at,
                                 struct hk_err *err)
{
    static const char name[] = "acct_sessions_revoke_user";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name,
                        "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND "
                        "revoked_at IS NULL AND id <> $3",
                        &st, err);
    if (rc != 0)
        return rc;
    int b = hk_stmt_bind_int64(st, 1, user_id);
    b |= hk_stmt_bind_int64(st, 2, at);
    b |= hk_stmt_bind_int64(st, 3, except_id);
    if (b != 0)
        return hk_stmt_bind_failed(st, name, err);
    return hk_stmt_exec(st, err);
}

int hk_acct_sessions_prune_user(struct hk_db *db, int64_t user_id, int64_t before,
                                struct hk_err *err)
{
    return set_by_id(db, "acct_sessions_prune_user",
                     "DELETE FROM sessions WHERE user_id = $1 AND expires_at < $2", user_id, before,
                     NULL, err);
}

/* ---- API tokens ----------------------------------------------------------------------- */

#define TOKEN_SELECT                                                                               \
    "SELECT t.id, t.user_id, u.login, u.role, u.disabled, t.name, t.prefix, t.created_at, "        \
    "t.last_used_at, t.revoked_at FROM api_tokens t JOIN users u ON u.id = t.user_id "

static void read_token(struct hk_stmt *st, struct hk_acct_token_row *t)
{
    memset(t, 0, sizeof *t);
    t->id = hk_stmt_int64(st, 0);
    t->user_id = hk_stmt_int64(st, 1);
    hk_stmt_text_copy(st, 2, t->user_login, sizeof t->user_login);
    hk_stmt_text_copy(st, 3, t->user_role, sizeof t->user_role);
    t->user_disabled = hk_stmt_int64(st, 4) != 0;
    hk_stmt_text_copy(st, 5, t->name, sizeof t->name);
    hk_stmt_text_copy(st, 6, t->prefix, sizeof t->prefix);
    t->created_at = hk_stmt_int64(st, 7);
    t->last_used_at = hk_stmt_int64(st, 8);
    t->revoked_at = hk_stmt_int64(st, 9);
}

int hk_acct_token_insert(struct hk_db *db, int64_t user_id, const char *name_,
                         const char *token_hash, const char *prefix, int64_t created_at,
                         int64_t *id, struct hk_err *err)
{
    static const char name[] = "acct_token_insert";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name,
                        "INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at) "
                        "VALUES ($1, $2, $3, $4, $5) RETURNING id",
                        &st, err);
    if (rc != 0)
        return rc;
    int b = hk_stmt_bind_int64(st, 1, user_id);
    b |= hk_stmt_bind_text(st, 2, name_, (size_t)-1);
    b |= hk_stmt_bind_text(st, 3, token_hash, (size_t)-1);
    b |= hk_stmt_bind_text(st, 4, prefix, (size_t)-1);
    b |= hk_stmt_bind_int64(st, 5, created_at);
    if (b != 0)
        return hk_stmt_bind_failed(st, name, err);
    return hk_stmt_one_int64(st, id, err);
}

static int token_by(struct hk_db *db, const char *name, const char *sql, int64_t id,
                    const char *hash, struct hk_acct_token_row *out, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name, sql, &st, err);
    if (rc != 0)
        return rc;
    int b = hash ? hk_stmt_bind_text(st, 1, hash, (size_t)-1) : hk_stmt_bind_int64(st, 1, id);
    if (b != 0)
        return hk_stmt_bind_failed(st, name, err);
    if ((rc = hk_stmt_one_row(st, "API token", err)) != HK_ROW)
        return rc;
    read_token(st, out);
    hk_stmt_reset(st);
    return 0;
}

int hk_acct_token_lookup(struct hk_db *db, const char *token_hash, struct hk_acct_token_row *out,
                         struct hk_err *err)
{
    return token_by(db, "acct_token_lookup", TOKEN_SELECT "WHERE t.token_hash = $1", 0, token_hash,
                    out, err);
}

int hk_acct_token_by_id(struct hk_db *db, int64_t id, struct hk_acct_token_row *out,
                        struct hk_err *err)
{
    return token_by(db, "acct_token_by_id", TOKEN_SELECT "WHERE t.id = $1", id, NULL, out, err);
}

int hk_acct_token_list(struct hk_db *db, int64_t after_id, size_t cap,
                       struct hk_acct_token_row *rows, size_t *n, struct hk_err *err)
{
    static const char name[] = "acct_token_list";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name, TOKEN_SELECT "WHERE t.id > $1 ORDER BY t.id LIMIT $2", &st, err);
    if (rc != 0)
        return rc;
    int b = hk_stmt_bind_int64(st, 1, after_id);
    b |= hk_stmt_bind_int64(st, 2, (int64_t)cap);
    if (b != 0)
        return hk_stmt_bind_failed(st, name, err);
    size_t count = 0;
    while (count < cap && (rc = hk_stmt_step(st, err)) == HK_ROW)
        read_token(st, &rows[count++]);
    hk_stmt_reset(st);
    if (rc < 0)
        return rc;
    *n = count;
    return 0;
}

int hk_acct_token_touch(struct hk_db *db, int64_t id, int64_t at, struct hk_err *err)
{
    return set_by_id(db, "acct_token_touch",
                     "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1", id, at, NULL, err);
}

int hk_acct_token_revoke(struct hk_db *db, int64_t id, int64_t at, bool *changed,
                         struct hk_err *err)
{
    bool c = false;
    int rc = set_by_id_changed(db, "acct_token_revoke",
                               "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND "
                               "revoked_at IS NULL RETURNING id",
                               id, at, NULL, &c, err);
    if (rc == 0 && changed)
        *changed = c;
    return rc;
}

/* ---- failed sign-ins ------------------------------------------------------------------ */

int hk_acct_login_failure_insert(struct hk_db *db, const char *login, const char *ip, int64_t at,
                                 struct hk_err *err)
{
    static const char name[] = "acct_login_failure_insert";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name, "INSERT INTO login_failures (login, ip, at) VALUES ($1, $2, $3)",
                        &st, err);
    if (rc != 0)
        return rc;
    int b = hk_stmt_bind_text(st, 1, login, (size_t)-1);
    b |= hk_stmt_bind_text(st, 2, ip ? ip : "", (size_t)-1);
    b |= hk_stmt_bind_int64(st, 3, at);
    if (b != 0)
        return hk_stmt_bind_failed(st, name, err);
    return hk_stmt_exec(st, err);
}

int hk_acct_login_failure_nth(struct hk_db *db, bool by_ip, const char *key, int64_t since,
                              int64_t n, int64_t *at, struct hk_err *err)
{
    const char *name = by_ip ? "acct_login_failure_nth_ip" : "acct_login_failure_nth_login";
    const char *sql = by_ip ? "SELECT at FROM login_failures WHERE ip = $1 AND at > $2 "
                              "ORDER BY at DESC LIMIT 1 OFFSET $3"
                            : "SELECT at FROM login_failures WHERE login = $1 AND at > $2 "
                              "ORDER BY at DESC LIMIT 1 OFFSET $3";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name, sql, &st, err);
    if (rc != 0)
        return rc;
    int b = hk_stmt_bind_text(st, 1, key ? key : "", (size_t)-1);
    b |= hk_stmt_bind_int64(st, 2, since);
    b |= hk_stmt_bind_int64(st, 3, n > 0 ? n - 1 : 0);
    if (b != 0)
        return hk_stmt_bind_failed(st, name, err);
    rc = hk_stmt_step(st, err);
    int64_t v = rc == HK_ROW ? hk_stmt_int64(st, 0) : 0;
    hk_stmt_reset(st);
    if (rc < 0)
        return rc;
    *at = v;
    return 0;
}

int hk_acct_login_failures_clear(struct hk_db *db, const char *login, struct hk_err *err)
{
    static const char name[] = "acct_login_failures_clear";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name, "DELETE FROM login_failures WHERE login = $1", &st, err);
    if (rc != 0)
        return rc;
    if (hk_stmt_bind_text(st, 1, login, (size_t)-1) != 0)
        return hk_stmt_bind_failed(st, name, err);
    return hk_stmt_exec(st, err);
}

int hk_acct_login_failures_prune(struct hk_db *db, const char *login, int64_t before,
                                 struct hk_err *err)
{
    static const char name[] = "acct_login_failures_prune";
    struct hk_stmt *st;
    int rc =
        hk_db_stmt(db, name, "DELETE FROM login_failures WHERE login = $1 AND at <= $2", &st, err);
    if (rc != 0)
        return rc;
    int b = hk_stmt_bind_text(st, 1, login, (size_t)-1);
    b |= hk_stmt_bind_int64(st, 2, before);
    if (b != 0)
        return hk_stmt_bind_failed(st, name, err);
    return hk_stmt_exec(st, err);
}

/* ---- audit log ------------------------------------------------------------------------ */

int hk_acct_audit_insert(struct hk_db *db, const struct hk_acct_audit_row *row, struct hk_err *err)
{
    static const char name[] = "acct_audit_insert";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name,
                        "INSERT INTO audit_log (at, actor_id, actor, action, target, ip, "
                        "request_id, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        &st, err);
    if (rc != 0)
        return rc;
    int b = hk_stmt_bind_int64(st, 1, row->at);
    b |= row->actor_id > 0 ? hk_stmt_bind_int64(st, 2, row->actor_id) : hk_stmt_bind_null(st, 2);
    b |= hk_stmt_bind_text(st, 3, row->actor, (size_t)-1);
    b |= hk_stmt_bind_text(st, 4, row->action, (size_t)-1);
    b |= hk_stmt_bind_text(st, 5, row->target, (size_t)-1);
    b |= hk_stmt_bind_text(st, 6, row->ip, (size_t)-1);
    b |= hk_stmt_bind_text(st, 7, row->request_id, (size_t)-1);
    b |= hk_stmt_bind_text(st, 8, row->details[0] ? row->details : "{}", (size_t)-1);
    if (b != 0)
        return hk_stmt_bind_failed(st, name, err);
    return hk_stmt_exec(st, err);
}

int hk_acct_audit_list(struct hk_db *db, int64_t before_id, const char *action, size_t cap,
                       struct hk_acct_audit_row *rows, size_t *n, struct hk_err *err)
{
    static const char name[] = "acct_audit_list";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name,
                        "SELECT id, at, actor_id, actor, action, target, ip, request_id, details "
                        "FROM audit_log WHERE (CAST($1 AS BIGINT) = 0 OR id < $1) "
                        "AND (CAST($2 AS TEXT) = '' OR action = $2) ORDER BY id DESC LIMIT $3",
                        &st, err);
    if (rc != 0)
        return rc;
    int b = hk_stmt_bind_int64(st, 1, before_id > 0 ? before_id : 0);
    b |= hk_stmt_bind_text(st, 2, action ? action : "", (size_t)-1);
    b |= hk_stmt_bind_int64(st, 3, (int64_t)cap);
    if (b != 0)
        return hk_stmt_bind_failed(st, name, err);
    size_t count = 0;
    while (count < cap && (rc = hk_stmt_step(st, err)) == HK_ROW) {
        struct hk_acct_audit_row *a = &rows[count++];
        memset(a, 0, sizeof *a);
        a->id = hk_stmt_int64(st, 0);
        a->at = hk_stmt_int64(st, 1);
        a->actor_id = hk_stmt_int64(st, 2);
        hk_stmt_text_copy(st, 3, a->actor, sizeof a->actor);
        hk_stmt_text_copy(st, 4, a->action, sizeof a->action);
        hk_stmt_text_copy(st, 5, a->target, sizeof a->target);
        hk_stmt_text_copy(st, 6, a->ip, sizeof a->ip);
        hk_stmt_text_copy(st, 7, a->request_id, sizeof a->request_id);
        hk_stmt_text_copy(st, 8, a->details, sizeof a->details);
    }
    hk_stmt_reset(st);
    if (rc < 0)
        return rc;
    *n = count;
    return 0;
}
