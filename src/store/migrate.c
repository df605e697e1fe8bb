/*
 * migrate.c — brings a database's schema up to the newest migration compiled into the binary.
 *
 * The schema lives in sql/NNNN_name.sql, embedded as hk_migrations[] (generated/migrations.c).
 * The database records what it has in schema_version (version, name, applied_at), created on
 * first use. Each newer migration runs in its own transaction together with the row that
 * records it, so a migration is either wholly applied and recorded or not at all; a failure
 * leaves the database at the last good version and names the migration and the database's
 * reason.
 *
 * Two processes may migrate at once (two huike instances starting together):
 *   PostgreSQL  the backend's migration lock (a session advisory lock) serialises them;
 *   SQLite      every step is a BEGIN IMMEDIATE transaction that re-reads schema_version after
 *               taking the write lock, so the second process finds the work done. A writer held
 *               up longer than the busy timeout is retried a few times.
 * Either way each version is applied once.
 *
 * Macros: @ID@ and @BLOB@ in migration text are replaced with the backend's types before the
 * script runs; the rest of the SQL is portable, except in sections: a line `-- @sqlite` or
 * `-- @postgres` starts lines only that backend runs, `-- @both` ends them (0011 rebuilds a
 * table on SQLite where PostgreSQL drops a constraint).
 *
 * Threading: uses one pooled connection for the duration; safe to call from any thread.
 */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "store/ingest_repo.h"
#include "store/migrations.h"
#include "store/store_int.h"

#define BEGIN_ATTEMPTS 12

int hk_store_latest_version(void)
{
    return hk_migrations_count > 0 ? hk_migrations[hk_migrations_count - 1].version : 0;
}

/* Keeps the lines of sql meant for the backend (the sections above) in out. */
static int backend_lines(const struct hk_store_ops *ops, const char *sql, struct hk_strbuf *out)
{
    static const struct {
        const char *line;
        int backend; /* -1: both */
    } marks[] = {
        {"-- @sqlite", HK_STORE_SQLITE}, {"-- @postgres", HK_STORE_POSTGRES}, {"-- @both", -1}};
    int keep = -1, rc = 0;
    for (const char *p = sql; rc == 0 && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p), body = len - (nl != NULL);
        bool mark = false;
        while (body && (p[body - 1] == '\r' || p[body - 1] == ' ' || p[body - 1] == '\t'))
            body--; /* a marker with trailing blanks or a CRLF end is still a marker */
        for (size_t i = 0; i < HK_ARRAY_LEN(marks); i++)
            if (body == strlen(marks[i].line) && memcmp(p, marks[i].line, body) == 0) {
                keep = marks[i].backend;
                mark = true;
            }
        if (!mark && (keep < 0 || keep == (int)ops->backend))
            rc = hk_strbuf_add(out, p, len);
        p += len;
    }
    return rc;
}

/* Replaces @ID@ and @BLOB@ with the backend's types. */
static int expand_macros(const struct hk_store_ops *ops, const char *sql, struct hk_strbuf *out)
{
    static const char *const names[] = {"@ID@", "@BLOB@"};
    const char *types[] = {ops->id_type, ops->blob_type};
    const char *p = sql;
    int rc = 0;

    while (rc == 0 && *p) {
        const char *at = strchr(p, '@');
        if (!at)
            return hk_strbuf_adds(out, p);
        rc = hk_strbuf_add(out, p, (size_t)(at - p));
        size_t i = 0;
        for (; rc == 0 && i < 2; i++) {
            size_t n = strlen(names[i]);
            if (strncmp(at, names[i], n) == 0) {
                rc = hk_strbuf_adds(out, types[i]);
                p = at + n;
                break;
            }
        }
        if (rc == 0 && i == 2) {
            rc = hk_strbuf_addch(out, '@');
            p = at + 1;
        }
    }
    return rc;
}

int hk_store_migration_text(const struct hk_store_ops *ops, const char *sql, struct hk_strbuf *out)
{
    struct hk_strbuf mine;
    hk_strbuf_init(&mine, 0);
    int rc = 0;
    if (backend_lines(ops, sql, &mine) < 0 || expand_macros(ops, mine.buf, out) < 0)
        rc = HK_E(NOMEM);
    hk_strbuf_release(&mine);
    return rc;
}

/* The version recorded in db; 0 when schema_version does not exist yet. */
static int read_version(struct hk_db *db, int *out, struct hk_err *err)
{
    struct hk_stmt *st;
    int64_t v = 0;
    int rc;

    rc = hk_db_stmt(db, "hk_schema_version_exists", db->store->ops->table_exists_sql, &st, err);
    if (rc < 0)
        return rc;
    hk_stmt_bind_text(st, 1, "schema_version", (size_t)-1);
    rc = hk_stmt_step(st, err);
    if (rc < 0)
        return rc;
    bool exists = rc == HK_ROW && hk_stmt_int64(st, 0) > 0;
    hk_stmt_reset(st);
    if (exists) {
        rc = hk_db_stmt(db, "hk_schema_version_max",
                        "SELECT COALESCE(MAX(version), 0) FROM schema_version", &st, err);
        if (rc < 0)
            return rc;
        rc = hk_stmt_step(st, err);
        if (rc < 0)
            return rc;
        v = rc == HK_ROW ? hk_stmt_int64(st, 0) : 0;
        hk_stmt_reset(st);
    }
    *out = (int)v;
    return 0;
}

static int begin_write(struct hk_db *db, struct hk_err *err)
{
    int rc = 0;
    for (int i = 0; i < BEGIN_ATTEMPTS; i++) {
        rc = hk_db_begin(db, HK_TX_WRITE, err);
        if (rc != HK_E(UNAVAILABLE))
            break;
    }
    return rc;
}

static int apply_one(struct hk_db *db, const struct hk_migration *m, int64_t now, int *cur,
                     struct hk_err *err)
{
    struct hk_strbuf sql;
    struct hk_stmt *st;
    char what[96];
    int rc;

    hk_strbuf_init(&sql, 0);
    rc = begin_write(db, err);
    if (rc < 0)
        goto fail;
    /* Someone else may have applied it while we waited for the write lock. */
    rc = read_version(db, cur, err);
    if (rc < 0 || *cur >= m->version)
        goto fail; /* rolls back the empty transaction */
    if (hk_store_migration_text(db->store->ops, m->sql, &sql) < 0) {
        rc = hk_err_set(err, HK_E(NOMEM), "migration %04d_%s: out of memory", m->version, m->name);
        goto fail;
    }
    snprintf(what, sizeof(what), "migration %04d_%s", m->version, m->name);
    rc = hk_db_exec_script(db, what, sql.buf, err);
    if (rc < 0)
        goto fail;
    rc = hk_db_stmt(db, "hk_schema_version_insert",
                    "INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)",
                    &st, err);
    if (rc < 0)
        goto fail;
    hk_stmt_bind_int64(st, 1, m->version);
    hk_stmt_bind_text(st, 2, m->name, (size_t)-1);
    hk_stmt_bind_int64(st, 3, now);
    rc = hk_stmt_exec(st, err);
    if (rc < 0)
        goto fail;
    rc = hk_db_commit(db, err);
    if (rc < 0)
        goto fail;
    *cur = m->version;
    hk_strbuf_release(&sql);
    return 0;

fail:
    hk_db_rollback(db);
    hk_strbuf_release(&sql);
    return rc;
}

int hk_store_migrate(struct hk_store *s, int64_t now, int *from, int *to, struct hk_err *err)
{
    struct hk_db *db = NULL;
    bool locked = false;
    int before = 0, cur = 0;
    int rc;

    rc = hk_db_acquire(s, &db, err);
    if (rc < 0)
        return rc;
    rc = s->ops->migration_lock(db->conn, err);
    if (rc < 0)
        goto done;
    locked = true;

    rc = begin_write(db, err);
    if (rc < 0)
        goto done;
    rc = hk_db_exec_script(db, "create schema_version",
                           "CREATE TABLE IF NOT EXISTS schema_version ("
                           " version INTEGER PRIMARY KEY,"
                           " name TEXT NOT NULL,"
                           " applied_at BIGINT NOT NULL)",
                           err);
    if (rc == 0)
        rc = read_version(db, &before, err);
    if (rc == 0)
        rc = hk_db_commit(db, err);
    if (rc < 0)
        goto done;
    /* A newer huike migrated this database: this one would write what the newer one reads
       differently (0012: look-up hashes of 32 digits, not 64), so it stops here. */
    if (before > hk_store_latest_version()) {
        rc = hk_err_set(err, HK_E(CONFLICT),
                        "the database is at schema version %d, newer than this huike's %d: "
                        "run the newer huike",
                        before, hk_store_latest_version());
        goto done;
    }

    cur = before;
    for (int i = 0; i < hk_migrations_count; i++) {
        if (hk_migrations[i].version <= cur)
            continue;
        rc = apply_one(db, &hk_migrations[i], now, &cur, err);
        if (rc < 0)
            goto done;
    }
    /* indexes an initial load dropped and a kill left missing (store/ingest_repo.h) — unless a
       load is running (it holds the load lock) and builds them at its end: building them now
       would make it keep them row by row. An in-memory database never gives the lock; no load
       of another process can have left it without them. */
    if (cur == hk_store_latest_version()) {
        bool got = false;
        if ((rc = hk_db_load_lock(db, &got, err)) < 0)
            goto done;
        rc = got ? hk_irepo_load_indexes_restore(db, NULL, err) : 0;
        hk_db_load_unlock(db);
        if (rc < 0)
            goto done;
    }
    if (from)
        *from = before;
    if (to)
        *to = cur;

done:
    hk_db_rollback(db);
    if (locked)
        s->ops->migration_unlock(db->conn);
    hk_db_release(db);
    return rc;
}

int hk_store_schema_version(struct hk_store *s, int *out, struct hk_err *err)
{
    struct hk_db *db;
    int v = 0;
    int rc = hk_db_acquire(s, &db, err);
    if (rc < 0)
        return rc;
    rc = read_version(db, &v, err);
    hk_db_release(db);
    if (rc == 0)
        *out = v;
    return rc;
}
