/*
 * store_int.h — the store module's own view: the backend ops table and the handle structs.
 * Only the src/store/ sources include this; everyone else sees the opaque handles of store.h.
 *
 * Design
 *   A backend (sqlite.c, postgres.c) fills one const struct hk_store_ops. store.c owns everything
 *   that is the same on both — the pool, the per-connection statement cache, the statement state
 *   machine (fresh -> rows -> done), transaction bookkeeping and the mapping of failures to HK_E
 *   codes — and calls the backend through the table. Nothing outside src/store/ branches on the
 *   backend, and nothing inside store.c does either: it only dispatches.
 *
 *   Backend connections and statements are opaque (void *) to store.c. A backend reports a
 *   failure by calling hk_store_fail() with a fault class, the statement name (or what it was
 *   doing) and the database's reason; store.c turns the class into the HK_E code, so the
 *   mapping lives in one place. Reasons must never contain bound values.
 *
 * Invariants
 *   - A connection (struct hk_db) is used by one thread at a time: the one that acquired it.
 *   - Every cached statement belongs to exactly one db and dies with its connection; a
 *     reconnect drops the cache (prepared statements are per connection on PostgreSQL).
 *   - store.c only calls column reads when the statement is on a row, and only calls bind on a
 *     fresh (reset) statement, so backends need not check either.
 *
 * Threading: struct hk_store's pool fields are guarded by its mutex; everything in a hk_db is
 * touched only by the thread holding it.
 */
#ifndef HK_STORE_STORE_INT_H
#define HK_STORE_STORE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/err.h"
#include "store/store.h"

struct hk_err;

/** How a backend classifies a failure; hk_store_fail() maps it to an HK_E code. */
enum hk_store_fault {
    HK_FAULT_CONSTRAINT,  /* unique or foreign-key violation -> HK_E(CONFLICT) */
    HK_FAULT_UNAVAILABLE, /* busy, locked, lost connection, deadlock -> HK_E(UNAVAILABLE) */
    HK_FAULT_MISUSE,      /* the caller's mistake (bad index, several statements) -> HK_E(INVAL) */
    HK_FAULT_NOMEM,       /* -> HK_E(NOMEM) */
    HK_FAULT_OTHER        /* anything else the database reports -> HK_E(STORE) */
};

/**
 * Fills err with "<what>: <reason>" and the code for fault; returns the code. what is the
 * statement name or the operation ("begin", "connect"); reason is the database's message and
 * must not contain bound values. Either may be NULL.
 */
int hk_store_fail(struct hk_err *err, enum hk_store_fault fault, const char *what,
                  const char *reason);

/*
 * The backend ops table. conn is the backend's connection, stmt the backend's statement.
 * Functions returning int return 0 (or HK_ROW / HK_DONE for step) or a negative HK_E code with
 * err filled through hk_store_fail(). Bind functions have no err: they return 0, HK_E(INVAL)
 * for an index out of range or HK_E(NOMEM).
 */
struct hk_store_ops {
    enum hk_store_backend backend;
    const char *name;      /* "sqlite" / "postgresql" */
    const char *id_type;   /* expansion of @ID@ in migrations */
    const char *blob_type; /* expansion of @BLOB@ in migrations */
    /* One parameter ($1 = table name); returns one row whose column 0 is > 0 when it exists. */
    const char *table_exists_sql;
    /* Scripts run by hk_db_bulk (either may be NULL: nothing to do). */
    const char *bulk_on_sql;
    const char *bulk_off_sql;
    /* run by hk_db_bulk(off) after bulk_off_sql, in a transaction of its own; may be NULL */
    const char *bulk_end_sql;
    const char *bulk_grown_sql; /* run by hk_db_bulk_grown; may be NULL */

    /* Connections. target is the SQLite path or the libpq URL (borrowed). */
    int (*connect)(const char *target, int busy_timeout_ms, void **conn, struct hk_err *err);
    void (*disconnect)(void *conn);
    /* False when the connection is known to be unusable (PostgreSQL: lost); cheap, no I/O wait. */
    bool (*usable)(void *conn);
    int (*ping)(void *conn, struct hk_err *err);
    /* Runs a script of several statements without parameters (migrations). */
    int (*exec_script)(void *conn, const char *what, const char *sql, struct hk_err *err);

    /* Transactions and savepoints; names are validated by store.c. */
    int (*begin)(void *conn, enum hk_tx_mode mode, struct hk_err *err);
    int (*commit)(void *conn, struct hk_err *err);
    void (*rollback)(void *conn);
    int (*savepoint)(void *conn, const char *name, struct hk_err *err);
    int (*savepoint_release)(void *conn, const char *name, struct hk_err *err);
    int (*savepoint_rollback)(void *conn, const char *name, struct hk_err *err);

    /* Cross-process lock held while migrating (PostgreSQL: advisory lock; SQLite: none, the
     * immediate transaction of each step serialises). */
    int (*migration_lock)(void *conn, struct hk_err *err);
    void (*migration_unlock)(void *conn);
    /* The load lock (hk_db_load_lock): try to take it, *token to hand back to load_unlock. */
    int (*load_lock)(void *conn, int *token, bool *got, struct hk_err *err);
    void (*load_unlock)(void *conn, int token);
    /* hk_db_load_journal; NULL: the backend has nothing to change. on: *switched says whether
     * the change was made (SQLite: false when another connection has the database open). */
    int (*load_journal)(void *conn, bool on, int busy_timeout_ms, bool *switched,
                        struct hk_err *err);
    /* hk_db_load_poll (all three may be NULL: nobody ever knocks). load_knocked: whether
     * another connection waits for the load, to open the file or for a lock; load_yield: waits
     * (bounded) until none does. Neither runs SQL (the pipeline's writer may be using conn).
     * load_mark: hk_db_bulk turned bulk mode on or off (a load's connection does not knock). */
    bool (*load_knocked)(void *conn);
    void (*load_yield)(void *conn);
    void (*load_mark)(void *conn, bool on);

    /* Statements. name is borrowed and outlives the statement (store.c keeps it). */
    int (*prepare)(void *conn, const char *name, const char *sql, void **stmt, struct hk_err *err);
    void (*finalize)(void *stmt);
    int (*bind_int64)(void *stmt, int idx, int64_t v);
    int (*bind_double)(void *stmt, int idx, double v);
    int (*bind_text)(void *stmt, int idx, const char *s, size_t len); /* s != NULL */
    int (*bind_blob)(void *stmt, int idx, const void *p, size_t len); /* p != NULL || !len */
    int (*bind_null)(void *stmt, int idx);
    /* HK_ROW, HK_DONE or a negative code. After HK_DONE or an error the backend has released
     * whatever the execution held (locks, results) but keeps the bindings. */
    int (*step)(void *stmt, struct hk_err *err);
    /* Rows changed by the execution that just returned HK_DONE. */
    int64_t (*changes)(void *stmt);
    /* Ends any execution and clears the bindings. */
    void (*reset)(void *stmt);
    int (*columns)(void *stmt);
    bool (*is_null)(void *stmt, int col);
    int64_t (*column_int64)(void *stmt, int col);
    double (*column_double)(void *stmt, int col);
    const char *(*column_text)(void *stmt, int col, size_t *len);
    const void *(*column_blob)(void *stmt, int col, size_t *len);

    /* Bulk loading (store.h, hk_db_copy_*); store.c checks the protocol (transaction, value
     * counts, no statements meanwhile) and validates table and columns. copy_end frees copy,
     * after a failure too (ok false: abandon what was sent). */
    int (*copy_begin)(void *conn, const char *table, const char *columns, int ncols, void **copy,
                      struct hk_err *err);
    int (*copy_int64)(void *copy, int64_t v);
    int (*copy_text)(void *copy, const char *s, size_t len); /* s != NULL, no NUL inside */
    int (*copy_blob)(void *copy, const void *p, size_t len); /* p != NULL || !len */
    int (*copy_null)(void *copy);
    int (*copy_row)(void *copy, struct hk_err *err);
    int (*copy_end)(void *copy, bool ok, struct hk_err *err);
    /* Optional: a whole copy at once, nrows rows of ncols values in the pipeline's encoding
     * (HK_PIPE_V_*, below), which the backend may bind in place (buf outlives the call). The
     * pipeline's writer uses it instead of the value-by-value ops when it is there. */
    int (*copy_encoded)(void *conn, const char *table, const char *columns, int ncols,
                        const unsigned char *buf, size_t len, size_t nrows, struct hk_err *err);
    /* True when next_ids gives max(id) + 1 onwards (SQLite), so a pipeline may continue the
     * ids in memory; false for a sequence (PostgreSQL), whose values it takes in blocks. */
    bool ids_are_max_plus_one;
    /* n new ids of table.id, ascending, all > floor (the largest this transaction reserved). */
    int (*next_ids)(void *conn, const char *table, size_t n, int64_t floor, int64_t *ids,
                    struct hk_err *err);
};

/* The largest id hk_db_next_ids handed out per table in the open transaction. */
struct hk_id_floor {
    char table[32];
    int64_t last;
};

struct hk_copy {
    struct hk_db *db;
    void *impl;
    int ncols, col;         /* values per row, values given in the current row */
    bool failed;            /* a value or row failed: the transaction is aborted */
    struct hk_pipe_buf *rb; /* pipelined: impl's buffer (borrowed, valid until hk_pipe_copy_end) */
};

extern const struct hk_store_ops hk_store_sqlite_ops;
extern const struct hk_store_ops hk_store_postgres_ops;

enum hk_stmt_state { HK_STMT_FRESH, HK_STMT_ROWS, HK_STMT_DONE };

struct hk_stmt {
    struct hk_db *db;
    char *name; /* owned */
    void *impl; /* backend statement, owned */
    uint64_t sql_hash;
    enum hk_stmt_state state;
    int64_t changes;      /* of the last finished execution */
    struct hk_stmt *next; /* hash chain */
};

/* A savepoint open in the current transaction (store.c keeps the stack). */
struct hk_savepoint {
    char name[64];
};

struct hk_db {
    struct hk_store *store;
    void *conn; /* backend connection, NULL until first connected */
    bool in_tx;
    /* A statement failed inside the transaction: PostgreSQL's "aborted" state, kept by store.c
     * on both backends so they behave alike. Cleared by rolling back to a savepoint made before
     * the failure, or by ending the transaction. */
    bool tx_failed;
    struct hk_savepoint *sp; /* savepoint stack, innermost last */
    size_t nsp, capsp;
    bool in_use;
    bool bulk; /* hk_db_bulk(db, true) is in effect */
    /* hk_irepo_identities_key_ensure found or built identities_key in the open transaction;
       forgotten when it ends or rolls back to a savepoint (the build may be undone). */
    bool keys_ensured;
    bool load_locked;  /* holds the load lock (hk_db_load_lock) with load_token */
    bool load_journal; /* hk_db_load_journal(db, true) switched the journal */
    int load_token;
    /* Customers and orders the open transaction wrote (hk_db_touch_*), turned into change-log
     * rows by hk_db_commit (changes.c); forgotten when the transaction ends. touch_all: too many
     * to list, log one "reload everything" row instead. */
    int64_t *touched_customers, *touched_orders;
    size_t ntc, captc, nto, capto;
    bool touch_all;
    unsigned announce;    /* bits of enum hk_change_announce (changes_repo.h) to log at commit */
    struct hk_copy *copy; /* the open bulk load, if any */
    struct hk_id_floor id_floors[8]; /* hk_db_next_ids in the open transaction */
    size_t nid_floors;
    struct hk_stmt **buckets; /* statement cache, chained hash by name */
    size_t nbuckets;          /* power of two, or 0 */
    size_t nstmts;
    struct hk_db *next_free;
    struct hk_pipe *pipe; /* hk_db_pipeline is on (pipe.c) */
};

struct hk_store {
    const struct hk_store_ops *ops;
    char *target; /* SQLite path or libpq URL, owned */
    int busy_timeout_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pool_size;
    struct hk_db *dbs;       /* pool_size slots */
    struct hk_db *free_list; /* guarded by mu */
    /* Called after a commit that wrote change-log rows (hk_store_set_change_hook); guarded by mu.
     */
    void (*change_hook)(void *ctx);
    void *change_hook_ctx;
};

/**
 * Writes the change-log rows for what db's open transaction touched (changes.c). Called by
 * hk_db_commit just before COMMIT; sets *wrote when it wrote any row.
 */
int hk_changes_flush(struct hk_db *db, bool *wrote, struct hk_err *err);
/** Forgets db's touched sets (end of a transaction). */
void hk_changes_forget(struct hk_db *db);

/** Runs a parameterless multi-statement script on db (migrations). */
int hk_db_exec_script(struct hk_db *db, const char *what, const char *sql, struct hk_err *err);

struct hk_strbuf;
/**
 * Appends to out a migration's text (sql: hk_migrations[i].sql) as ops' backend runs it: the
 * lines meant for that backend (the `-- @sqlite` / `-- @postgres` sections) with @ID@ and @BLOB@
 * expanded (migrate.c). Returns 0 or HK_E(NOMEM). Tests build older schemas with it.
 */
int hk_store_migration_text(const struct hk_store_ops *ops, const char *sql, struct hk_strbuf *out);

/* ---- pipelined writes (pipe.c; store.h hk_db_pipeline) ---- */
/* A recorded copy's values, one after another: a tag byte, then the value (int64: 8 bytes;
   text and blob: a size_t length and the bytes, unaligned); HK_PIPE_V_ROW ends a row. */
enum { HK_PIPE_V_INT = 1, HK_PIPE_V_TEXT, HK_PIPE_V_BLOB, HK_PIPE_V_NULL, HK_PIPE_V_ROW };
/* One value of a recorded copy, as hk_pipe_value_next reads it. */
struct hk_pipe_value {
    int tag;                /* HK_PIPE_V_* */
    int64_t i;              /* HK_PIPE_V_INT */
    const unsigned char *p; /* HK_PIPE_V_TEXT, HK_PIPE_V_BLOB: n bytes (inside the buffer) */
    size_t n;
};
/* Reads the value at buf[*at] of a recorded copy of len bytes into v and moves *at past it;
   false when the buffer ends inside it or its tag is unknown. The one reader of the encoding
   hk_pipe_put_* (below) write (the writer's replay, SQLite's copy_encoded); inline: it runs
   for every value. */
static inline bool hk_pipe_value_next(const unsigned char *buf, size_t len, size_t *at,
                                      struct hk_pipe_value *v)
{
    size_t p = *at;
    if (p >= len)
        return false;
    v->tag = buf[p++];
    switch (v->tag) {
    case HK_PIPE_V_INT:
        if (len - p < sizeof v->i)
            return false;
        memcpy(&v->i, buf + p, sizeof v->i);
        p += sizeof v->i;
        break;
    case HK_PIPE_V_TEXT:
    case HK_PIPE_V_BLOB:
        if (len - p < sizeof v->n)
            return false;
        memcpy(&v->n, buf + p, sizeof v->n);
        p += sizeof v->n;
        if (len - p < v->n)
            return false;
        v->p = buf + p;
        p += v->n;
        break;
    case HK_PIPE_V_NULL:
    case HK_PIPE_V_ROW:
        break;
    default:
        return false;
    }
    *at = p;
    return true;
}
/* A recorded copy's values as written (pipe.c owns it; store.c's hk_copy_* append to it in place
   through hk_pipe_put_*, without a call per value: 100k lines are ~2.9M values, and the calls
   through the pipeline's functions were ~3 % of the importing thread). */
struct hk_pipe_buf {
    unsigned char *buf;
    size_t len, cap;
    size_t rows; /* HK_PIPE_V_ROW tags written */
};
/* Makes room for n more bytes: 0, or HK_E(NOMEM) (pipe.c). */
int hk_pipe_buf_grow(struct hk_pipe_buf *b, size_t n);
/* The one writer of the encoding hk_pipe_value_next reads. Each returns 0 or HK_E(NOMEM). */
static inline int hk_pipe_put_int(struct hk_pipe_buf *b, int64_t v)
{
    if (b->cap - b->len < 1 + sizeof v && hk_pipe_buf_grow(b, 1 + sizeof v) < 0)
        return HK_E(NOMEM);
    b->buf[b->len] = HK_PIPE_V_INT;
    memcpy(b->buf + b->len + 1, &v, sizeof v);
    b->len += 1 + sizeof v;
    return 0;
}
static inline int hk_pipe_put_bytes(struct hk_pipe_buf *b, unsigned char tag, const void *s,
                                    size_t n)
{
    if ((b->cap - b->len < 1 + sizeof n || b->cap - b->len - 1 - sizeof n < n) &&
        hk_pipe_buf_grow(b, 1 + sizeof n + n) < 0)
        return HK_E(NOMEM);
    b->buf[b->len] = tag;
    memcpy(b->buf + b->len + 1, &n, sizeof n);
    if (n)
        memcpy(b->buf + b->len + 1 + sizeof n, s, n);
    b->len += 1 + sizeof n + n;
    return 0;
}
/* HK_PIPE_V_NULL or HK_PIPE_V_ROW (which counts the row). */
static inline int hk_pipe_put_tag(struct hk_pipe_buf *b, unsigned char tag)
{
    if (b->cap == b->len && hk_pipe_buf_grow(b, 1) < 0)
        return HK_E(NOMEM);
    b->buf[b->len++] = tag;
    b->rows += tag == HK_PIPE_V_ROW;
    return 0;
}
struct hk_pipe;
int hk_pipe_start(struct hk_db *db, struct hk_pipe **out, struct hk_err *err);
/** Waits for the queued work, rolls back what a failure left open and joins the writer. */
void hk_pipe_stop(struct hk_pipe *p);
/** Waits until the writer is idle; returns the pipeline's failure (kept), or 0. */
int hk_pipe_sync(struct hk_pipe *p, struct hk_err *err);
/** Waits until idle, rolls back an open transaction, forgets the failure and the id pools. */
void hk_pipe_clear(struct hk_pipe *p);
/** Waits until idle and rolls back the transaction open on the connection, if any. */
void hk_pipe_real_rollback(struct hk_pipe *p);
int hk_pipe_begin(struct hk_pipe *p, enum hk_tx_mode mode, struct hk_err *err);
int hk_pipe_commit(struct hk_pipe *p, bool hook, struct hk_err *err);
uint64_t hk_pipe_mark(struct hk_pipe *p);
int hk_pipe_wait(struct hk_pipe *p, uint64_t mark, struct hk_err *err);
int hk_pipe_copy_begin(struct hk_pipe *p, const char *table, const char *columns, int ncols,
                       void **rec, struct hk_err *err);
/** The buffer a recorded copy's values go to (hk_pipe_put_*): rec's own, valid until
    hk_pipe_copy_end frees rec. */
struct hk_pipe_buf *hk_pipe_copy_buf(void *rec);
/** Queues the recorded copy (ok) or drops it (!ok); frees rec either way. */
int hk_pipe_copy_end(struct hk_pipe *p, void *rec, bool ok, struct hk_err *err);
int hk_pipe_next_ids(struct hk_pipe *p, const char *table, size_t n, int64_t *ids,
                     struct hk_err *err);
/** hk_db_acquire without waiting: HK_E(UNAVAILABLE) at once when every slot is taken. */
int hk_db_acquire_free(struct hk_store *s, struct hk_db **out, struct hk_err *err);
/** Calls the store's change hook, if one is set (store.c). */
void hk_store_fire_change_hook(struct hk_store *s);

#endif
