/*
 * store.c — the backend-neutral half of the store: opening, the connection pool, the named
 * statement cache, the statement state machine, transactions and savepoints, and the mapping
 * of backend faults to HK_E codes. The backends (sqlite.c, postgres.c) are reached only through
 * the ops table of store_int.h.
 *
 * Pool
 *   hk_store_open picks the backend from the URL (postgresql:// or postgres:// -> PostgreSQL,
 *   anything else is a SQLite path) and opens the first connection at once so a bad URL or path
 *   fails there; the other pool_size - 1 slots connect on first use and then stay open. The free
 *   list is LIFO, so a lightly loaded server keeps reusing the same few warm connections.
 *   hk_db_acquire waits on a condition variable while every slot is taken (up to
 *   HK_ACQUIRE_TIMEOUT_S, then HK_E(UNAVAILABLE): a thread that never gives its connection back
 *   must not hang the whole server silently). A slot whose connection is found broken on
 *   acquire is reconnected, dropping its statement cache.
 *
 * Statements
 *   Each connection caches its statements in a chained hash table keyed by name; a statement is
 *   prepared the first time its name is used on that connection. store.c tracks each
 *   statement's state (fresh -> rows -> done): step after done keeps returning HK_DONE until a
 *   reset (SQLite would silently re-run it), column reads off a row return 0/NULL, and binding
 *   is only allowed on a fresh statement, so both backends behave the same.
 *
 * Transactions: store.c remembers whether a transaction is open and which savepoints are. Release
 * rolls back a forgotten one; a failed commit rolls back, so a db never goes back to the pool
 * mid-transaction. When a statement fails inside a transaction, PostgreSQL aborts the whole
 * transaction until it is rolled back (or rolled back to a savepoint made before the failure),
 * while SQLite only undoes the statement. store.c applies PostgreSQL's rule on both backends
 * (tx_failed), so code that works on SQLite in development cannot break on PostgreSQL.
 *
 * Threading: the pool is guarded by the store's mutex; a db and its statements are used by the
 * one thread that acquired it, without locks.
 */
#include "store/store_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/util.h"

#define HK_DEFAULT_POOL_SIZE 8
#define HK_DEFAULT_BUSY_MS   5000
#define HK_ACQUIRE_TIMEOUT_S 30

int hk_store_fail(struct hk_err *err, enum hk_store_fault fault, const char *what,
                  const char *reason)
{
    int code;
    switch (fault) {
    case HK_FAULT_CONSTRAINT:
        code = HK_E(CONFLICT);
        break;
    case HK_FAULT_UNAVAILABLE:
        code = HK_E(UNAVAILABLE);
        break;
    case HK_FAULT_MISUSE:
        code = HK_E(INVAL);
        break;
    case HK_FAULT_NOMEM:
        code = HK_E(NOMEM);
        break;
    default:
        code = HK_E(STORE);
        break;
    }
    if (!reason || !*reason)
        reason = hk_error_default_message(code);
    size_t n = strlen(reason);
    while (n > 0 && (reason[n - 1] == '\n' || reason[n - 1] == ' ' || reason[n - 1] == '\r'))
        n--;
    if (what && *what)
        return hk_err_set(err, code, "%s: %.*s", what, (int)n, reason);
    return hk_err_set(err, code, "%.*s", (int)n, reason);
}

/* ---- statement cache ------------------------------------------------------------------ */

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static void stmt_free(struct hk_db *db, struct hk_stmt *st)
{
    db->store->ops->finalize(st->impl);
    free(st->name);
    free(st);
}

/* Finalizes every cached statement (before a disconnect). */
static void db_drop_stmts(struct hk_db *db)
{
    for (size_t i = 0; i < db->nbuckets; i++) {
        struct hk_stmt *st = db->buckets[i];
        while (st) {
            struct hk_stmt *next = st->next;
            stmt_free(db, st);
            st = next;
        }
    }
    free(db->buckets);
    db->buckets = NULL;
    db->nbuckets = 0;
    db->nstmts = 0;
}

static void stmt_reset(struct hk_stmt *st)
{
    if (st->db->pipe) /* the writer may be using the connection */
        (void)hk_pipe_sync(st->db->pipe, NULL);
    st->db->store->ops->reset(st->impl);
    st->state = HK_STMT_FRESH;
}

/* Abandons an open bulk load (its hk_copy stays allocated, failed, until hk_db_copy_end). */
static void db_abandon_copy(struct hk_db *db)
{
    struct hk_copy *c = db->copy;
    if (!c)
        return;
    struct hk_err e;
    hk_err_clear(&e);
    if (c->impl && c->rb)
        (void)hk_pipe_copy_end(db->pipe, c->impl, false, &e);
    else if (c->impl)
        (void)db->store->ops->copy_end(c->impl, false, &e);
    c->impl = NULL;
    c->rb = NULL;
    c->failed = true;
    db->copy = NULL;
}

/* Ends every execution in progress on db (before rollback and release). */
static void db_reset_running(struct hk_db *db)
{
    db_abandon_copy(db);
    for (size_t i = 0; i < db->nbuckets; i++)
        for (struct hk_stmt *st = db->buckets[i]; st; st = st->next)
            if (st->state != HK_STMT_FRESH)
                stmt_reset(st);
}

static int db_cache_grow(struct hk_db *db)
{
    size_t n = db->nbuckets ? db->nbuckets * 2 : 16;
    struct hk_stmt **b = calloc(n, sizeof(*b));
    if (!b)
        return HK_E(NOMEM);
    for (size_t i = 0; i < db->nbuckets; i++) {
        struct hk_stmt *st = db->buckets[i];
        while (st) {
            struct hk_stmt *next = st->next;
            size_t j = (size_t)(fnv1a(st->name) & (n - 1));
            st->next = b[j];
            b[j] = st;
            st = next;
        }
    }
    free(db->buckets);
    db->buckets = b;
    db->nbuckets = n;
    return 0;
}

/* ---- connections ---------------------------------------------------------------------- */

/* Forgets the transaction state (after commit, rollback or a disconnect). */
static void db_tx_end(struct hk_db *db)
{
    hk_changes_forget(db);
    db->in_tx = false;
    db->keys_ensured = false;
    db->tx_failed = false;
    db->nsp = 0;
    db->nid_floors = 0;
}

/* Records a failure of something sent to the database; inside a transaction it aborts it. */
static int db_failed(struct hk_db *db, int rc)
{
    if (rc < 0 && db->in_tx)
        db->tx_failed = true;
    return rc;
}

/* With the pipeline on: waits until its writer is idle, so db's connection is ours; returns
   the pipeline's failure (the caller returns it instead of doing its work), marking the
   transaction aborted. */
static int db_sync(struct hk_db *db, struct hk_err *err)
{
    return db->pipe ? db_failed(db, hk_pipe_sync(db->pipe, err)) : 0;
}

static int tx_aborted(struct hk_err *err, const char *what)
{
    return hk_err_set(err, HK_E(STORE),
                      "%s: the transaction was aborted by an earlier error; roll back, or roll "
                      "back to a savepoint made before the error",
                      what);
}

static void db_disconnect(struct hk_db *db)
{
    if (!db->conn)
        return;
    db_drop_stmts(db);
    db->store->ops->disconnect(db->conn);
    db->conn = NULL;
    db->bulk = false; /* a new connection starts with the defaults */
    db->load_journal = false;
    db_tx_end(db);
}

/* Makes sure db has a working connection, reconnecting a broken one. */
static int db_ensure_connected(struct hk_db *db, struct hk_err *err)
{
    const struct hk_store_ops *ops = db->store->ops;
    if (db->conn && !ops->usable(db->conn))
        db_disconnect(db);
    if (db->conn)
        return 0;
    return ops->connect(db->store->target, db->store->busy_timeout_ms, &db->conn, err);
}

static bool is_pg_url(const char *url)
{
    return strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0;
}

int hk_store_open(const char *url, const struct hk_store_opts *opts, struct hk_store **out,
                  struct hk_err *err)
{
    struct hk_store *s = NULL;
    pthread_condattr_t ca;
    bool mu_ok = false, cv_ok = false;
    int rc;

    if (!url || !*url)
        return hk_err_set(err, HK_E(INVAL),
                          "store: no database given (a file path or a "
                          "postgresql:// URL)");
    int pool = opts && opts->pool_size ? opts->pool_size : HK_DEFAULT_POOL_SIZE;
    int busy = opts && opts->busy_timeout_ms ? opts->busy_timeout_ms : HK_DEFAULT_BUSY_MS;
    if (pool < 1 || pool > 1024 || busy < 0)
        return hk_err_set(err, HK_E(INVAL),
                          "store: pool size must be 1..1024 and the busy "
                          "timeout positive");

    s = calloc(1, sizeof(*s));
    if (!s)
        return hk_err_set(err, HK_E(NOMEM), "store: out of memory");
    s->ops = is_pg_url(url) ? &hk_store_postgres_ops : &hk_store_sqlite_ops;
    /* An in-memory SQLite database is private to its connection: one connection, one db. */
    if (s->ops == &hk_store_sqlite_ops && strcmp(url, ":memory:") == 0)
        pool = 1;
    s->busy_timeout_ms = busy;
    s->pool_size = pool;
    s->target = hk_strdup(url);
    s->dbs = calloc((size_t)pool, sizeof(*s->dbs));
    if (!s->target || !s->dbs) {
        rc = hk_err_set(err, HK_E(NOMEM), "store: out of memory");
        goto fail;
    }
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        rc = hk_err_set(err, HK_E(INTERNAL), "store: cannot create the pool mutex");
        goto fail;
    }
    mu_ok = true;
    if (pthread_condattr_init(&ca) != 0) {
        rc = hk_err_set(err, HK_E(INTERNAL), "store: cannot create the pool condition");
        goto fail;
    }
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    cv_ok = pthread_cond_init(&s->cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!cv_ok) {
        rc = hk_err_set(err, HK_E(INTERNAL), "store: cannot create the pool condition");
        goto fail;
    }
    for (int i = pool - 1; i >= 0; i--) {
        s->dbs[i].store = s;
        s->dbs[i].next_free = s->free_list;
        s->free_list = &s->dbs[i];
    }
    /* The first connection now, so a wrong URL or path fails here rather than later. */
    rc = db_ensure_connected(&s->dbs[0], err);
    if (rc < 0)
        goto fail;
    *out = s;
    return 0;

fail:
    if (cv_ok)
        pthread_cond_destroy(&s->cv);
    if (mu_ok)
        pthread_mutex_destroy(&s->mu);
    free(s->dbs);
    free(s->target);
    free(s);
    return rc;
}

void hk_store_close(struct hk_store *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->pool_size; i++) {
        assert(!s->dbs[i].in_use && "hk_store_close with a db still acquired");
        db_disconnect(&s->dbs[i]);
        free(s->dbs[i].sp);
        free(s->dbs[i].touched_customers);
        free(s->dbs[i].touched_orders);
    }
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->dbs);
    free(s->target);
    free(s);
}

enum hk_store_backend hk_store_backend(const struct hk_store *s)
{
    return s->ops->backend;
}

const char *hk_store_backend_name(const struct hk_store *s)
{
    return s->ops->name;
}

int hk_store_ping(struct hk_store *s, struct hk_err *err)
{
    struct hk_db *db;
    int rc = hk_db_acquire(s, &db, err);
    if (rc < 0)
        return rc;
    rc = s->ops->ping(db->conn, err);
    hk_db_release(db);
    return rc;
}

/* Takes a free slot and connects it; wait = false fails at once (HK_E(UNAVAILABLE)) when every
   slot is taken. */
static int db_acquire(struct hk_store *s, bool wait, struct hk_db **out, struct hk_err *err)
{
    struct timespec deadline;
    struct hk_db *db;
    int rc;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += HK_ACQUIRE_TIMEOUT_S;

    pthread_mutex_lock(&s->mu);
    if (!wait && !s->free_list) {
        pthread_mutex_unlock(&s->mu);
        return hk_err_set(err, HK_E(UNAVAILABLE), "store: no database connection is free");
    }
    while (!s->free_list) {
        rc = pthread_cond_timedwait(&s->cv, &s->mu, &deadline);
        if (rc == ETIMEDOUT && !s->free_list) {
            pthread_mutex_unlock(&s->mu);
            return hk_err_set(err, HK_E(UNAVAILABLE),
                              "store: all %d database connections stayed busy for %d s",
                              s->pool_size, HK_ACQUIRE_TIMEOUT_S);
        }
    }
    db = s->free_list;
    s->free_list = db->next_free;
    db->next_free = NULL;
    db->in_use = true;
    pthread_mutex_unlock(&s->mu);

    /* Connecting happens outside the lock: other threads keep taking warm connections. */
    rc = db_ensure_connected(db, err);
    if (rc < 0) {
        db->in_use = false;
        pthread_mutex_lock(&s->mu);
        db->next_free = s->free_list;
        s->free_list = db;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    *out = db;
    return 0;
}

int hk_db_acquire(struct hk_store *s, struct hk_db **out, struct hk_err *err)
{
    return db_acquire(s, true, out, err);
}

int hk_db_acquire_free(struct hk_store *s, struct hk_db **out, struct hk_err *err)
{
    return db_acquire(s, false, out, err);
}

void hk_db_release(struct hk_db *db)
{
    if (!db)
        return;
    struct hk_store *s = db->store;
    hk_db_rollback(db);
    db_reset_running(db);
    if (db->pipe) {
        hk_pipe_stop(db->pipe);
        db->pipe = NULL;
    }
    hk_db_load_unlock(db);
    if (db->load_journal) { /* back to WAL; a connection that cannot be is not pooled */
        struct hk_err e;
        hk_err_clear(&e);
        if (hk_db_load_journal(db, false, NULL, &e) < 0 && db->load_journal)
            db_disconnect(db);
    }
    if (db->bulk) { /* back to the defaults; a connection that cannot be is not pooled */
        struct hk_err e;
        hk_err_clear(&e);
        if (hk_db_bulk(db, false, &e) < 0 && db->bulk)
            db_disconnect(db); /* the next acquire connects afresh, with the defaults */
    }
    db->in_use = false;
    pthread_mutex_lock(&s->mu);
    db->next_free = s->free_list;
    s->free_list = db;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int hk_db_load_lock(struct hk_db *db, bool *got, struct hk_err *err)
{
    int rc;
    *got = db->load_locked;
    if (db->load_locked)
        return 0;
    if ((rc = db_sync(db, err)) < 0 ||
        (rc = db->store->ops->load_lock(db->conn, &db->load_token, got, err)) < 0)
        return rc;
    db->load_locked = *got;
    return 0;
}

void hk_db_load_unlock(struct hk_db *db)
{
    struct hk_err ignored;
    hk_err_clear(&ignored);
    if (!db->load_locked)
        return;
    (void)db_sync(db, &ignored);
    db->store->ops->load_unlock(db->conn, db->load_token);
    db->load_locked = false;
}

int hk_db_load_journal(struct hk_db *db, bool on, bool *switched, struct hk_err *err)
{
    const struct hk_store_ops *ops = db->store->ops;
    bool done = false;
    int rc;
    if (switched)
        *switched = false;
    if (db->in_tx)
        return hk_err_set(err, HK_E(INVAL), "load journal: changed inside a transaction");
    if (!ops->load_journal)
        return 0;
    if (db->load_journal == on) { /* nothing to change */
        if (switched)
            *switched = on;
        return 0;
    }
    if ((rc = db_sync(db, err)) < 0)
        return rc;
    rc = ops->load_journal(db->conn, on, db->store->busy_timeout_ms, &done, err);
    if (on)
        db->load_journal = done; /* on a failure too: still on, for release to end */
    else if (rc == 0)
        db->load_journal = false;
    if (switched)
        *switched = on && rc == 0 && done;
    return rc;
}

int hk_db_load_poll(struct hk_db *db, bool *yielded, struct hk_err *err)
{
    const struct hk_store_ops *ops = db->store->ops;
    int rc;
    if (yielded)
        *yielded = false;
    if (!ops->load_knocked || !db->bulk) /* only a load yields */
        return 0;
    if (db->in_tx)
        return hk_err_set(err, HK_E(INVAL), "load poll: inside a transaction");
    /* the test alone: a batch's commit may still be in the pipeline, and waiting for it at
       every batch would cost the overlap the pipeline is for */
    if (!ops->load_knocked(db->conn))
        return 0;
    if (db->load_journal && (rc = hk_db_load_journal(db, false, NULL, err)) < 0)
        return rc;
    ops->load_yield(db->conn);
    if (yielded)
        *yielded = true;
    return 0;
}

enum hk_store_backend hk_db_backend(const struct hk_db *db)
{
    return db->store->ops->backend;
}

int hk_db_bulk(struct hk_db *db, bool on, struct hk_err *err)
{
    const struct hk_store_ops *ops = db->store->ops;
    const char *sql = on ? ops->bulk_on_sql : ops->bulk_off_sql;
    if (db->in_tx)
        return hk_err_set(err, HK_E(INVAL), "bulk mode: changed inside a transaction");
    if (db->bulk == on)
        return 0;
    if (sql) {
        int rc = hk_db_exec_script(db, "bulk mode", sql, err);
        if (rc < 0)
            return rc;
    }
    db->bulk = on;
    if (ops->load_mark)
        ops->load_mark(db->conn, on);
    /* the settings are back; then the backend's end of a bulk write (PostgreSQL: make it
       durable), whose failure is the caller's to report */
    return !on && ops->bulk_end_sql ? hk_db_exec_script(db, "bulk mode end", ops->bulk_end_sql, err)
                                    : 0;
}

int hk_db_pipeline(struct hk_db *db, bool on, struct hk_err *err)
{
    if (db->in_tx)
        return hk_err_set(err, HK_E(INVAL), "pipeline: changed inside a transaction");
    if (on && !db->pipe)
        return hk_pipe_start(db, &db->pipe, err);
    if (!on && db->pipe) {
        hk_pipe_stop(db->pipe);
        db->pipe = NULL;
    }
    return 0;
}

uint64_t hk_db_pipeline_mark(struct hk_db *db)
{
    return db->pipe ? hk_pipe_mark(db->pipe) : 0;
}

int hk_db_pipeline_wait(struct hk_db *db, uint64_t mark, struct hk_err *err)
{
    return db->pipe ? hk_pipe_wait(db->pipe, mark, err) : 0;
}

int hk_db_bulk_grown(struct hk_db *db, struct hk_err *err)
{
    const char *sql = db->store->ops->bulk_grown_sql;
    if (db->in_tx)
        return hk_err_set(err, HK_E(INVAL), "bulk mode: grown inside a transaction");
    if (!sql)
        return 0;
    if (!db->pipe)
        return hk_db_exec_script(db, "bulk grown", sql, err);
    /* With the pipeline on, another connection does it (it reads only committed tables), so
       the importer does not wait for the writer to drain. Only a free one: waiting for a slot
       while holding this connection could wait on a holder that waits on our transaction's
       locks (up to the pool's timeout); without one, this connection does it. */
    struct hk_db *other;
    if (hk_db_acquire_free(db->store, &other, NULL) < 0)
        return hk_db_exec_script(db, "bulk grown", sql, err);
    int rc = hk_db_exec_script(other, "bulk grown", sql, err);
    hk_db_release(other);
    return rc;
}

int hk_db_exec_script(struct hk_db *db, const char *what, const char *sql, struct hk_err *err)
{
    if (db->copy)
        return hk_err_set(err, HK_E(INVAL), "%s: a bulk load is open on this connection", what);
    if (db->in_tx && db->tx_failed)
        return tx_aborted(err, what);
    int rc = db_sync(db, err);
    if (rc < 0)
        return rc;
    return db_failed(db, db->store->ops->exec_script(db->conn, what, sql, err));
}

/* ---- transactions --------------------------------------------------------------------- */

int hk_db_begin(struct hk_db *db, enum hk_tx_mode mode, struct hk_err *err)
{
    if (db->in_tx)
        return hk_err_set(err, HK_E(INVAL),
                          "begin: a transaction is already open on this connection (use a "
                          "savepoint for a nested unit)");
    int rc =
        db->pipe ? hk_pipe_begin(db->pipe, mode, err) : db->store->ops->begin(db->conn, mode, err);
    if (rc == 0) {
        db_tx_end(db);
        db->in_tx = true;
    }
    return rc;
}

int hk_db_commit(struct hk_db *db, struct hk_err *err)
{
    int rc;
    if (!db->in_tx)
        return hk_err_set(err, HK_E(INVAL), "commit: no transaction is open");
    if (db->copy)
        rc = hk_err_set(err, HK_E(INVAL), "commit: a bulk load (hk_db_copy_begin) is still open");
    else if (db->tx_failed)
        rc = hk_err_set(err, HK_E(STORE),
                        "commit: an earlier statement failed, so the "
                        "transaction was rolled back (roll back to a savepoint "
                        "after an error you expect)");
    else {
        bool wrote = false;
        rc = hk_changes_flush(db, &wrote, err);
        if (rc == 0 && db->pipe) /* queued: hk_db_pipeline_wait tells whether it committed */
            rc = hk_pipe_commit(db->pipe, wrote, err);
        else if (rc == 0)
            rc = db->store->ops->commit(db->conn, err);
        if (rc == 0 && wrote && !db->pipe)
            hk_store_fire_change_hook(db->store);
    }
    if (rc < 0) {
        /* Leave no half-open transaction behind: whatever failed is undone. */
        db_reset_running(db);
        if (db->pipe)
            hk_pipe_real_rollback(db->pipe);
        else
            db->store->ops->rollback(db->conn);
    }
    db_tx_end(db);
    return rc;
}

void hk_store_fire_change_hook(struct hk_store *s)
{
    void (*hook)(void *);
    void *ctx;
    pthread_mutex_lock(&s->mu);
    hook = s->change_hook;
    ctx = s->change_hook_ctx;
    pthread_mutex_unlock(&s->mu);
    if (hook)
        hook(ctx);
}

void hk_store_set_change_hook(struct hk_store *s, void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&s->mu);
    s->change_hook = fn;
    s->change_hook_ctx = ctx;
    pthread_mutex_unlock(&s->mu);
}

void hk_db_rollback(struct hk_db *db)
{
    if (!db || !db->in_tx)
        return;
    db_reset_running(db);
    if (db->pipe)
        hk_pipe_real_rollback(db->pipe);
    else
        db->store->ops->rollback(db->conn);
    db_tx_end(db);
}

bool hk_db_in_tx(const struct hk_db *db)
{
    return db->in_tx;
}

static int check_savepoint(const struct hk_db *db, const char *what, const char *name,
                           struct hk_err *err)
{
    if (!db->in_tx)
        return hk_err_set(err, HK_E(INVAL), "%s: savepoints need an open transaction", what);
    size_t n = name ? strlen(name) : 0;
    bool ok = n > 0 && n < sizeof(db->sp[0].name) &&
              ((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_');
    for (size_t i = 1; ok && i < n; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    }
    if (!ok)
        return hk_err_set(err, HK_E(INVAL),
                          "%s: savepoint names are [a-z_][a-z0-9_]*, at most %zu characters", what,
                          sizeof(db->sp[0].name) - 1);
    return 0;
}

/* The innermost open savepoint called name, or -1. */
static ptrdiff_t find_savepoint(const struct hk_db *db, const char *name)
{
    for (size_t i = db->nsp; i > 0; i--)
        if (strcmp(db->sp[i - 1].name, name) == 0)
            return (ptrdiff_t)(i - 1);
    return -1;
}

int hk_db_savepoint(struct hk_db *db, const char *name, struct hk_err *err)
{
    if (db->copy)
        return hk_err_set(err, HK_E(INVAL), "savepoint: a bulk load is open on this connection");
    int rc = check_savepoint(db, "savepoint", name, err);
    if (rc < 0)
        return rc;
    if (db->tx_failed)
        return tx_aborted(err, "savepoint");
    if ((rc = db_sync(db, err)) < 0)
        return rc;
    if (db->nsp == db->capsp) {
        size_t cap = db->capsp ? db->capsp * 2 : 8;
        struct hk_savepoint *sp = realloc(db->sp, cap * sizeof(*sp));
        if (!sp)
            return hk_err_set(err, HK_E(NOMEM), "savepoint: out of memory");
        db->sp = sp;
        db->capsp = cap;
    }
    rc = db_failed(db, db->store->ops->savepoint(db->conn, name, err));
    if (rc == 0)
        hk_strlcpy(db->sp[db->nsp++].name, name, sizeof(db->sp[0].name));
    return rc;
}

int hk_db_savepoint_release(struct hk_db *db, const char *name, struct hk_err *err)
{
    if (db->copy)
        return hk_err_set(err, HK_E(INVAL),
                          "release savepoint: a bulk load is open on this connection");
    int rc = check_savepoint(db, "release savepoint", name, err);
    if (rc < 0)
        return rc;
    if (db->tx_failed)
        return tx_aborted(err, "release savepoint");
    if ((rc = db_sync(db, err)) < 0)
        return rc;
    rc = db_failed(db, db->store->ops->savepoint_release(db->conn, name, err));
    ptrdiff_t at = find_savepoint(db, name);
    if (rc == 0 && at >= 0)
        db->nsp = (size_t)at; /* it and every savepoint made after it are gone */
    return rc;
}

int hk_db_savepoint_rollback(struct hk_db *db, const char *name, struct hk_err *err)
{
    int rc = check_savepoint(db, "rollback to savepoint", name, err);
    if (rc < 0)
        return rc;
    db_reset_running(db);
    if (db->pipe && (rc = hk_pipe_sync(db->pipe, err)) < 0)
        return rc;
    rc = db_failed(db, db->store->ops->savepoint_rollback(db->conn, name, err));
    ptrdiff_t at = find_savepoint(db, name);
    if (rc == 0 && at >= 0) {
        db->nsp = (size_t)at + 1; /* it stays; the ones made after it are gone */
        db->tx_failed = false;    /* every open savepoint predates the failure */
        db->keys_ensured = false; /* a build since may be undone */
    }
    return rc;
}

/* ---- statements ----------------------------------------------------------------------- */

int hk_db_stmt(struct hk_db *db, const char *name, const char *sql, struct hk_stmt **out,
               struct hk_err *err)
{
    struct hk_stmt *st = NULL;
    int rc;

    if (!name || !*name || !sql)
        return hk_err_set(err, HK_E(INVAL), "statement: a name and SQL are required");
    if (db->copy) /* PostgreSQL cannot prepare in the middle of a COPY */
        return hk_err_set(err, HK_E(INVAL), "%s: a bulk load is open on this connection", name);
    if ((rc = db_sync(db, err)) < 0)
        return rc;
    uint64_t h = fnv1a(name);
    if (db->nbuckets) {
        for (st = db->buckets[h & (db->nbuckets - 1)]; st; st = st->next) {
            if (strcmp(st->name, name) == 0) {
                assert(st->sql_hash == fnv1a(sql) && "one statement name, two SQL texts");
                stmt_reset(st); /* also clears bindings left by a caller */
                *out = st;
                return 0;
            }
        }
    }
    if (db->nstmts >= db->nbuckets && db_cache_grow(db) < 0)
        return hk_err_set(err, HK_E(NOMEM), "%s: out of memory", name);

    st = calloc(1, sizeof(*st));
    if (!st)
        return hk_err_set(err, HK_E(NOMEM), "%s: out of memory", name);
    st->name = hk_strdup(name);
    if (!st->name) {
        rc = hk_err_set(err, HK_E(NOMEM), "%s: out of memory", name);
        goto fail;
    }
    if (db->in_tx && db->tx_failed) {
        rc = tx_aborted(err, name);
        goto fail;
    }
    rc = db_failed(db, db->store->ops->prepare(db->conn, st->name, sql, &st->impl, err));
    if (rc < 0)
        goto fail;
    st->db = db;
    st->sql_hash = fnv1a(sql);
    st->state = HK_STMT_FRESH;
    size_t b = (size_t)(h & (db->nbuckets - 1));
    st->next = db->buckets[b];
    db->buckets[b] = st;
    db->nstmts++;
    *out = st;
    return 0;

fail:
    free(st->name);
    free(st);
    return rc;
}

/* Binding is allowed on a fresh statement only: both backends then agree on what it means. */
#define BIND_CHECK(st)                                                                             \
    do {                                                                                           \
        if ((st)->state != HK_STMT_FRESH || idx < 1)                                               \
            return HK_E(INVAL);                                                                    \
    } while (0)

int hk_stmt_bind_int64(struct hk_stmt *st, int idx, int64_t v)
{
    BIND_CHECK(st);
    return st->db->store->ops->bind_int64(st->impl, idx, v);
}

int hk_stmt_bind_double(struct hk_stmt *st, int idx, double v)
{
    BIND_CHECK(st);
    return st->db->store->ops->bind_double(st->impl, idx, v);
}

int hk_stmt_bind_text(struct hk_stmt *st, int idx, const char *s, size_t len)
{
    BIND_CHECK(st);
    if (!s)
        return st->db->store->ops->bind_null(st->impl, idx);
    if (len == (size_t)-1)
        len = strlen(s);
    else if (memchr(s, '\0', len))
        return HK_E(INVAL); /* PostgreSQL text cannot hold NUL; refuse it on both backends */
    return st->db->store->ops->bind_text(st->impl, idx, s, len);
}

int hk_stmt_bind_blob(struct hk_stmt *st, int idx, const void *p, size_t len)
{
    BIND_CHECK(st);
    if (!p && len)
        return HK_E(INVAL);
    if (!p)
        return st->db->store->ops->bind_null(st->impl, idx);
    return st->db->store->ops->bind_blob(st->impl, idx, p, len);
}

int hk_stmt_bind_null(struct hk_stmt *st, int idx)
{
    BIND_CHECK(st);
    return st->db->store->ops->bind_null(st->impl, idx);
}

int hk_stmt_step(struct hk_stmt *st, struct hk_err *err)
{
    if (st->state == HK_STMT_DONE)
        return HK_DONE;
    if (st->state == HK_STMT_FRESH) {
        st->changes = 0;
        if (st->db->copy)
            return hk_err_set(err, HK_E(INVAL), "%s: a bulk load is open on this connection",
                              st->name);
        if (st->db->in_tx && st->db->tx_failed) {
            st->state = HK_STMT_DONE;
            return tx_aborted(err, st->name);
        }
        int src = db_sync(st->db, err);
        if (src < 0) {
            st->state = HK_STMT_DONE;
            return src;
        }
    }
    int rc = db_failed(st->db, st->db->store->ops->step(st->impl, err));
    if (rc == HK_ROW) {
        st->state = HK_STMT_ROWS;
        return HK_ROW;
    }
    st->state = HK_STMT_DONE;
    if (rc == HK_DONE)
        st->changes = st->db->store->ops->changes(st->impl);
    return rc;
}

int hk_stmt_exec(struct hk_stmt *st, struct hk_err *err)
{
    int rc;
    while ((rc = hk_stmt_step(st, err)) == HK_ROW)
        ;
    hk_stmt_reset(st);
    return rc < 0 ? rc : 0;
}

int64_t hk_stmt_changes(struct hk_stmt *st)
{
    return st->changes;
}

void hk_stmt_reset(struct hk_stmt *st)
{
    stmt_reset(st);
}

int hk_stmt_columns(struct hk_stmt *st)
{
    return st->db->store->ops->columns(st->impl);
}

static bool on_row(const struct hk_stmt *st, int col)
{
    return st->state == HK_STMT_ROWS && col >= 0 && col < st->db->store->ops->columns(st->impl);
}

bool hk_stmt_is_null(struct hk_stmt *st, int col)
{
    return !on_row(st, col) || st->db->store->ops->is_null(st->impl, col);
}

int64_t hk_stmt_int64(struct hk_stmt *st, int col)
{
    return on_row(st, col) ? st->db->store->ops->column_int64(st->impl, col) : 0;
}

double hk_stmt_double(struct hk_stmt *st, int col)
{
    return on_row(st, col) ? st->db->store->ops->column_double(st->impl, col) : 0.0;
}

const char *hk_stmt_text(struct hk_stmt *st, int col, size_t *len)
{
    const char *s = on_row(st, col) ? st->db->store->ops->column_text(st->impl, col, len) : NULL;
    if (!s && len)
        *len = 0;
    return s;
}

const void *hk_stmt_blob(struct hk_stmt *st, int col, size_t *len)
{
    const void *p = on_row(st, col) ? st->db->store->ops->column_blob(st->impl, col, len) : NULL;
    if (!p && len)
        *len = 0;
    return p;
}

void hk_stmt_text_copy(struct hk_stmt *st, int col, char *buf, size_t size)
{
    size_t len = 0;
    if (!size)
        return;
    const char *s = hk_stmt_text(st, col, &len);
    if (!s) {
        buf[0] = '\0';
        return;
    }
    size_t n = len < size - 1 ? len : size - 1;
    /* Never cut a UTF-8 sequence in half: back off to the start of the split character. */
    if (n < len)
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    memcpy(buf, s, n);
    buf[n] = '\0';
}

/* ---- bulk loading --------------------------------------------------------------------- */

/* Constant identifiers only: letters, digits, '_', and for column lists ',' and ' '. */
static bool sql_names_ok(const char *s, bool list)
{
    if (!s || !*s)
        return false;
    for (; *s; s++) {
        char ch = *s;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
                  (list && (ch == ',' || ch == ' '));
        if (!ok)
            return false;
    }
    return true;
}

int hk_db_copy_begin(struct hk_db *db, const char *table, const char *columns, int ncols,
                     struct hk_copy **out, struct hk_err *err)
{
    if (!db->in_tx)
        return hk_err_set(err, HK_E(INVAL), "copy into %s: no transaction is open",
                          table ? table : "?");
    if (db->copy)
        return hk_err_set(err, HK_E(INVAL), "copy: another bulk load is open");
    if (!sql_names_ok(table, false) || !sql_names_ok(columns, true) || ncols < 1)
        return hk_err_set(err, HK_E(INVAL), "copy: bad table or column names");
    if (db->tx_failed)
        return tx_aborted(err, table);
    struct hk_copy *c = calloc(1, sizeof(*c));
    if (!c)
        return hk_err_set(err, HK_E(NOMEM), "copy: out of memory");
    c->db = db;
    c->ncols = ncols;
    int rc = db_failed(
        db, db->pipe ? hk_pipe_copy_begin(db->pipe, table, columns, ncols, &c->impl, err)
                     : db->store->ops->copy_begin(db->conn, table, columns, ncols, &c->impl, err));
    if (rc < 0) {
        free(c);
        return rc;
    }
    if (db->pipe)
        c->rb = hk_pipe_copy_buf(c->impl);
    db->copy = c;
    *out = c;
    return 0;
}

/* A value may be added: the copy is live and the row not full. */
static bool copy_open(struct hk_copy *c)
{
    return c->impl && !c->failed && c->col < c->ncols;
}

static int copy_value(struct hk_copy *c, int rc)
{
    if (rc < 0) {
        c->failed = true;
        db_failed(c->db, rc);
        return rc;
    }
    c->col++;
    return 0;
}

int hk_copy_int64(struct hk_copy *c, int64_t v)
{
    if (!copy_open(c))
        return HK_E(INVAL);
    return copy_value(c, c->rb ? hk_pipe_put_int(c->rb, v)
                               : c->db->store->ops->copy_int64(c->impl, v));
}

/* Text known to hold no NUL byte. */
static int copy_text_value(struct hk_copy *c, const char *s, size_t len)
{
    return copy_value(c, c->rb ? hk_pipe_put_bytes(c->rb, HK_PIPE_V_TEXT, s, len)
                               : c->db->store->ops->copy_text(c->impl, s, len));
}

int hk_copy_text(struct hk_copy *c, const char *s, size_t len)
{
    if (!copy_open(c))
        return HK_E(INVAL);
    if (!s)
        return hk_copy_null(c);
    if (memchr(s, '\0', len))
        return copy_value(c, HK_E(INVAL));
    return copy_text_value(c, s, len);
}

int hk_copy_cstr(struct hk_copy *c, const char *s)
{
    if (!copy_open(c))
        return HK_E(INVAL);
    return s ? copy_text_value(c, s, strlen(s)) : hk_copy_null(c);
}

int hk_copy_blob(struct hk_copy *c, const void *p, size_t len)
{
    if (!copy_open(c))
        return HK_E(INVAL);
    if (!p && len)
        return copy_value(c, HK_E(INVAL));
    if (!p)
        return hk_copy_null(c);
    return copy_value(c, c->rb ? hk_pipe_put_bytes(c->rb, HK_PIPE_V_BLOB, p, len)
                               : c->db->store->ops->copy_blob(c->impl, p, len));
}

int hk_copy_null(struct hk_copy *c)
{
    if (!copy_open(c))
        return HK_E(INVAL);
    return copy_value(c, c->rb ? hk_pipe_put_tag(c->rb, HK_PIPE_V_NULL)
                               : c->db->store->ops->copy_null(c->impl));
}

int hk_copy_row(struct hk_copy *c, struct hk_err *err)
{
    if (!c->impl || c->failed)
        return tx_aborted(err, "copy");
    if (c->col != c->ncols) {
        c->failed = true;
        db_failed(c->db, HK_E(INVAL));
        return hk_err_set(err, HK_E(INVAL), "copy: a row needs %d values, got %d", c->ncols,
                          c->col);
    }
    c->col = 0;
    int rc;
    if (c->rb) {
        rc = hk_pipe_put_tag(c->rb, HK_PIPE_V_ROW);
        if (rc < 0)
            hk_err_set(err, rc, "copy: out of memory");
    } else {
        rc = c->db->store->ops->copy_row(c->impl, err);
    }
    if (rc < 0) {
        c->failed = true;
        db_failed(c->db, rc);
    }
    return rc;
}

int hk_db_copy_end(struct hk_copy *c, struct hk_err *err)
{
    if (!c)
        return 0;
    struct hk_db *db = c->db;
    int rc = 0;
    if (c->impl) {
        bool ok = !c->failed && c->col == 0;
        rc = c->rb ? hk_pipe_copy_end(db->pipe, c->impl, ok, err)
                   : db->store->ops->copy_end(c->impl, ok, err);
        if (rc == 0 && !ok)
            rc = tx_aborted(err, "copy");
        db_failed(db, rc);
        if (db->copy == c)
            db->copy = NULL;
    } else {
        rc = tx_aborted(err, "copy");
    }
    free(c);
    return rc;
}

int hk_db_next_ids(struct hk_db *db, const char *table, size_t n, int64_t *ids, struct hk_err *err)
{
    if (!db->in_tx)
        return hk_err_set(err, HK_E(INVAL), "next ids: no transaction is open");
    if (!sql_names_ok(table, false) || strlen(table) >= sizeof db->id_floors[0].table)
        return hk_err_set(err, HK_E(INVAL), "next ids: bad table name");
    if (db->tx_failed)
        return tx_aborted(err, table);
    if (db->copy)
        return hk_err_set(err, HK_E(INVAL), "next ids: a bulk load is open");
    if (!n)
        return 0;
    if (db->pipe)
        return db_failed(db, hk_pipe_next_ids(db->pipe, table, n, ids, err));
    struct hk_id_floor *f = NULL;
    for (size_t i = 0; i < db->nid_floors && !f; i++)
        if (strcmp(db->id_floors[i].table, table) == 0)
            f = &db->id_floors[i];
    if (!f && db->nid_floors < sizeof db->id_floors / sizeof db->id_floors[0]) {
        f = &db->id_floors[db->nid_floors++];
        hk_strlcpy(f->table, table, sizeof f->table);
        f->last = 0;
    }
    if (!f)
        return hk_err_set(err, HK_E(INTERNAL), "next ids: too many tables in one transaction");
    int rc = db_failed(db, db->store->ops->next_ids(db->conn, table, n, f->last, ids, err));
    if (rc == 0)
        f->last = ids[n - 1];
    return rc;
}
