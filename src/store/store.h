/*
 * store.h — the one SQL store, with two backends behind one interface.
 *
 * huike keeps all its data in one SQL database: SQLite (a file; the default, nothing to set up)
 * or PostgreSQL (a postgresql:// URL; for teams and several huike processes). The store is the
 * one source of truth; the engine and everything else derive from it.
 *
 * Shape
 *   struct hk_store  the handle: opens the database, owns a pool of connections, runs migrations.
 *   struct hk_db     one connection, taken from the pool by one thread (hk_db_acquire) and given
 *                    back (hk_db_release). Transactions and statements live on a db.
 *   struct hk_stmt   a prepared statement on one db, named: hk_db_stmt(db, "user_by_login", sql)
 *                    prepares the SQL the first time a name is used on that connection and
 *                    returns the cached, reset statement afterwards.
 *
 * SQL text
 *   All SQL lives under src/store/ (the contract suite in tests/store is the one exception).
 *   Statements are written once, in portable SQL, with parameters $1, $2, ... (always bound, never
 *   pasted into the text). The SQLite backend rewrites $N to ?N; PostgreSQL takes them as they
 *   are. Both support INSERT ... ON CONFLICT ... DO UPDATE and RETURNING. Booleans are INTEGER
 *   0/1, times are BIGINT seconds since the epoch (UTC), money is BIGINT fen.
 *   Migrations (sql/NNNN_name.sql, compiled into the binary) may use two macros that the backend
 *   expands: @ID@ (an auto-assigned BIGINT primary key) and @BLOB@ (BLOB / BYTEA).
 *
 * Errors: functions return 0 or a negative HK_E code with err filled. A unique or foreign-key
 * violation is HK_E(CONFLICT); a lost connection or busy timeout is HK_E(UNAVAILABLE); anything
 * else the database reports is HK_E(STORE). The message never contains bound values (they may be
 * PII), only the statement name and the database's reason.
 *
 * Errors inside a transaction: once a statement fails inside a transaction, the transaction is
 * aborted — on both backends, as PostgreSQL does (SQLite alone would only undo the statement;
 * the store applies PostgreSQL's rule there too so code tested on SQLite behaves the same on
 * PostgreSQL). Every later statement fails with HK_E(STORE) and hk_db_commit rolls back and
 * fails, until hk_db_savepoint_rollback to a savepoint made before the failure, or
 * hk_db_rollback. So a statement whose failure the caller expects and handles inside a
 * transaction (typically a unique violation -> HK_E(CONFLICT) meaning "already there") must be
 * wrapped in a savepoint:
 *     hk_db_savepoint(db, "try_insert", err);
 *     rc = hk_stmt_exec(st, err);
 *     if (rc == HK_E(CONFLICT)) hk_db_savepoint_rollback(db, "try_insert", err);
 *     hk_db_savepoint_release(db, "try_insert", err);
 *
 * Threads: a hk_store may be shared; a hk_db and its statements belong to one thread at a time.
 * On PostgreSQL a statement's result is fetched whole on its first step, so statements on one db
 * may be interleaved on both backends.
 */
#ifndef HK_STORE_STORE_H
#define HK_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_err;
struct hk_store;
struct hk_db;
struct hk_stmt;

enum hk_store_backend { HK_STORE_SQLITE = 1, HK_STORE_POSTGRES = 2 };

struct hk_store_opts {
    int pool_size;       /* connections kept open; 0 = 8 */
    int busy_timeout_ms; /* SQLite busy timeout; 0 = 5000 */
};

/**
 * Opens the store at url: a file path (SQLite; the file is created if missing, its directory must
 * exist) or "postgresql://..." / "postgres://..." (libpq connection URI). opts may be NULL.
 * Does not migrate. Returns 0 and a new handle in *out (free with hk_store_close).
 */
int hk_store_open(const char *url, const struct hk_store_opts *opts, struct hk_store **out,
                  struct hk_err *err);
/** Closes every connection. All dbs must have been released. s may be NULL. */
void hk_store_close(struct hk_store *s);

enum hk_store_backend hk_store_backend(const struct hk_store *s);
/** "sqlite" or "postgresql". */
const char *hk_store_backend_name(const struct hk_store *s);

/** The newest schema version compiled into this binary. */
int hk_store_latest_version(void);
/**
 * Applies every migration newer than the database's schema_version, each in its own
 * transaction, recording (version, name, applied_at = now) in schema_version. Safe to run from
 * several processes at once (PostgreSQL: advisory lock; SQLite: an immediate transaction).
 * Writes the versions before and after to *from / *to when not NULL. At the latest version it
 * also builds the indexes an initial load that was killed left missing (ingest_repo.h).
 */
int hk_store_migrate(struct hk_store *s, int64_t now, int *from, int *to, struct hk_err *err);
/** The database's current schema version (0 for an empty database). */
int hk_store_schema_version(struct hk_store *s, int *out, struct hk_err *err);
/** Checks that the database answers (SELECT 1 on a pooled connection). */
int hk_store_ping(struct hk_store *s, struct hk_err *err);

/* ---- connections ---------------------------------------------------------------------- */

/**
 * Takes a connection from the pool (borrowed until hk_db_release), waiting if all are in use;
 * after 30 s of waiting it gives up with HK_E(UNAVAILABLE). Reconnects a broken one (the cached
 * statements of that connection are prepared again on use). Thread-safe. A thread must not hold
 * two dbs of one store while others wait on it (it could deadlock the pool).
 */
int hk_db_acquire(struct hk_store *s, struct hk_db **out, struct hk_err *err);
/** Gives the connection back; rolls back a transaction left open. db may be NULL. */
void hk_db_release(struct hk_db *db);
enum hk_store_backend hk_db_backend(const struct hk_db *db);

/* ---- transactions --------------------------------------------------------------------- */

enum hk_tx_mode { HK_TX_READ = 0, HK_TX_WRITE = 1 };
/** Begins a transaction (SQLite: BEGIN IMMEDIATE for HK_TX_WRITE, so writers queue up front). */
int hk_db_begin(struct hk_db *db, enum hk_tx_mode mode, struct hk_err *err);
/** Commits. On failure the transaction is rolled back and no longer open. */
int hk_db_commit(struct hk_db *db, struct hk_err *err);
/** Rolls back the open transaction; a no-op when none is open. */
void hk_db_rollback(struct hk_db *db);
bool hk_db_in_tx(const struct hk_db *db);
/**
 * Tunes db for a long run of large write transactions (an import) while on is true, and back
 * to the defaults when it is false (hk_db_release does that too, and does not pool a connection
 * it could not set back). Isolation is unchanged. SQLite keeps WAL with synchronous=NORMAL and
 * gets a bounded 64 MiB page cache (instead of 2 MiB) and a WAL checkpoint every 20000 pages
 * (instead of 1000), so pages that many batches touch are checkpointed once, not once per
 * batch. PostgreSQL plans without sequential scans and commits without waiting for the WAL
 * flush (synchronous_commit = off): a crash may lose the last commits made while on, and
 * turning it off ends with one synchronous write that makes every earlier commit durable — so
 * call it (off) yourself at the end of an import and report its failure. Memory stays bounded
 * whatever the amount written. Call outside a transaction.
 */
int hk_db_bulk(struct hk_db *db, bool on, struct hk_err *err);
/**
 * The store's load lock: held by the one initial load that dropped identities_key, from before
 * the drop until the index is built again (store/ingest_repo.h), so no second load drops it
 * meanwhile. Never waits: *got says whether db holds it now (false when another connection, in
 * this process or another, does). The death of the holding process frees it. SQLite: flock on
 * the file DBFILE-loadlock beside the database (an in-memory database never gives it);
 * PostgreSQL: a session advisory lock. hk_db_release frees it too.
 */
int hk_db_load_lock(struct hk_db *db, bool *got, struct hk_err *err);
void hk_db_load_unlock(struct hk_db *db);
/**
 * The journal of an initial load (call outside a transaction). SQLite, on: when no other
 * connection of huike's has the database file open (presence locks, sqlite.c), it leaves WAL
 * for a rollback journal (journal_mode = TRUNCATE, synchronous = FULL): a page the load adds to
 * the file is then written once, where WAL writes it to the log and the checkpoint copies it
 * again inside a commit. Pages that existed before a transaction are copied to the journal
 * first, so a crash or kill -9 still rolls back to the last commit. Otherwise it stays in WAL
 * (*switched false, not an error, no wait). While it is on, a connection that opens the file
 * waits for the load to give it back: call hk_db_load_poll between transactions (the
 * load goes back to WAL there when someone is waiting). A connection opened by the thread that
 * turned it on fails at once (HK_E(UNAVAILABLE)): it would wait for itself. Off: back to WAL
 * and synchronous = NORMAL. hk_db_release turns it off too. PostgreSQL: nothing (*switched
 * false).
 */
int hk_db_load_journal(struct hk_db *db, bool on, bool *switched, struct hk_err *err);
/**
 * Between two transactions of a load (a connection in bulk mode): when another connection
 * waits for it, goes back to WAL if the load's journal is on, then waits (up to 2 s) while
 * other connections wait for the write lock, so that they get it once the load's transaction in
 * flight commits (*yielded true). Needs no idle pipeline. A no-op on PostgreSQL, whose
 * writers queue for row locks, not for the database.
 */
int hk_db_load_poll(struct hk_db *db, bool *yielded, struct hk_err *err);
/**
 * Tells the store that a bulk load has grown the tables a lot since the last call (an importer
 * calls it, outside a transaction, each time the rows it wrote doubled). PostgreSQL analyzes
 * the import's tables, which also makes its cached generic plans be remade for their real
 * size: plans made while the tables were nearly empty scan them whole. SQLite: nothing.
 */
int hk_db_bulk_grown(struct hk_db *db, struct hk_err *err);

/**
 * Pipelined writes (pipe.c), for a bulk import: while on, hk_db_begin, hk_db_commit and bulk
 * loads (hk_db_copy_*) are queued and run in order by a writer thread on db's connection, and
 * return at once; hk_db_next_ids hands out ids from a pool so it seldom waits. Every other call
 * on db (statements, savepoints, scripts, rollback) first waits until the writer has run
 * everything queued, so reads see the queued writes. The first queued operation that fails
 * rolls its transaction back and every operation queued after it is dropped; from then on every
 * call on db returns that failure ("an earlier pipelined write failed: ...") until the pipeline
 * is turned off. So hk_db_commit returning 0 means "queued": hk_db_pipeline_mark, taken right
 * after it, and hk_db_pipeline_wait tell whether that transaction committed. Finish reading a
 * statement's rows before starting a bulk load. Turning it off (outside a transaction; also
 * done by hk_db_release) waits for the queued work, rolls back what a failure left open and
 * forgets the failure. Durability and isolation are those of the transactions themselves.
 */
int hk_db_pipeline(struct hk_db *db, bool on, struct hk_err *err);
/** The number of the last operation queued (0 without a pipeline). */
uint64_t hk_db_pipeline_mark(struct hk_db *db);
/**
 * Waits until the operations up to mark have run. Returns 0 when they all succeeded, or the
 * failure of the first that failed (its transaction was rolled back), with its message.
 */
int hk_db_pipeline_wait(struct hk_db *db, uint64_t mark, struct hk_err *err);

/*
 * The change log (table changes): every write that can change a customer's derived values
 * (orders, lines, events, identities, tags, profile, merges) names the customer (or the order)
 * with hk_db_touch_*, inside its transaction; hk_db_commit writes one change row per touched
 * customer in that same transaction, so a change row exists exactly when the write committed.
 * Engines in every process follow the log by id (store/changes_repo.h). Touching is in memory
 * and cheap; outside a transaction it is a no-op. Repositories call these, not services.
 */
void hk_db_touch_customer(struct hk_db *db, int64_t customer_id);
/** Like hk_db_touch_customer for the customer owning order_id (resolved at commit). */
void hk_db_touch_order(struct hk_db *db, int64_t order_id);
/**
 * Sets fn(ctx) to be called (on the committing thread, after COMMIT) whenever a commit wrote
 * change rows — how the local engine is nudged at once. fn must be quick and thread-safe; NULL
 * removes it. The hook must be removed before ctx dies.
 */
void hk_store_set_change_hook(struct hk_store *s, void (*fn)(void *ctx), void *ctx);
/**
 * Savepoints inside a transaction (names: [a-z_][a-z0-9_]*, at most 63 characters; HK_E(INVAL)
 * outside a transaction), for all-or-nothing sub-units. Rolling back to a savepoint keeps it
 * open (release it afterwards) and clears an abort caused by an error after it was made.
 */
int hk_db_savepoint(struct hk_db *db, const char *name, struct hk_err *err);
int hk_db_savepoint_release(struct hk_db *db, const char *name, struct hk_err *err);
int hk_db_savepoint_rollback(struct hk_db *db, const char *name, struct hk_err *err);

/* ---- bulk loading --------------------------------------------------------------------- */

/*
 * Rows streamed into one table, for imports: COPY ... FROM STDIN on PostgreSQL (text format),
 * on SQLite INSERT OR FAIL statements of 32 rows each (sqlite.c says why). COPY is much cheaper
 * than multi-row INSERTs on PostgreSQL, where parsing and binding every value of every row
 * dominate.
 *
 *     struct hk_copy *c;
 *     hk_db_copy_begin(db, "order_items", "order_id, line_no, title", 3, &c, err);
 *     for each row: hk_copy_int64(c, ...); hk_copy_int64(c, ...); hk_copy_text(c, ...);
 *                   hk_copy_row(c, err);
 *     hk_db_copy_end(c, err);
 *
 * Only inside a transaction. table and columns are constant text (identifiers, commas and
 * spaces only). Values are given in column order, exactly ncols per row; they are borrowed
 * until hk_copy_row returns. While a copy is open nothing else may run on the db
 * (statements, savepoints, scripts: HK_E(INVAL)); a rollback abandons it. A failure aborts the
 * transaction like a failed statement, and rows of the copy may already be written: roll the
 * transaction (or a savepoint) back. Constraint violations may be reported by hk_copy_row or only
 * by hk_db_copy_end (both backends check some rows only at the end). hk_db_copy_end always frees c.
 * Rows get no ids back: give the id column yourself from hk_db_next_ids.
 */
struct hk_copy;
int hk_db_copy_begin(struct hk_db *db, const char *table, const char *columns, int ncols,
                     struct hk_copy **out, struct hk_err *err);
int hk_copy_int64(struct hk_copy *c, int64_t v);
/** s == NULL writes NULL; HK_E(INVAL) for text holding a NUL byte. */
int hk_copy_text(struct hk_copy *c, const char *s, size_t len);
/** hk_copy_text of a C string (s == NULL writes NULL), which holds no NUL to look for. */
int hk_copy_cstr(struct hk_copy *c, const char *s);
/** p == NULL writes NULL; an empty blob is not NULL. */
int hk_copy_blob(struct hk_copy *c, const void *p, size_t len);
int hk_copy_null(struct hk_copy *c);
/** Ends the current row (HK_E(INVAL) when it does not have ncols values). */
int hk_copy_row(struct hk_copy *c, struct hk_err *err);
/** Finishes the copy (or abandons it after an earlier failure) and frees c. */
int hk_db_copy_end(struct hk_copy *c, struct hk_err *err);

/**
 * n new ids for table's "id" column, ascending, never handed out before (PostgreSQL: from the
 * column's sequence; SQLite: above the largest id and above what this transaction already
 * reserved). Only inside a write transaction. For rows written with hk_db_copy_*.
 */
int hk_db_next_ids(struct hk_db *db, const char *table, size_t n, int64_t *ids, struct hk_err *err);

/* ---- statements ----------------------------------------------------------------------- */

/**
 * Returns the statement called name on this db (borrowed; valid until db is released), preparing
 * sql the first time. The statement comes back reset with no bindings. The same name must always
 * be used with the same SQL.
 */
int hk_db_stmt(struct hk_db *db, const char *name, const char *sql, struct hk_stmt **out,
               struct hk_err *err);

/*
 * Parameters are numbered from 1, as $1 in the SQL. Bind functions copy the value. They return 0,
 * HK_E(NOMEM), or HK_E(INVAL) for a number the statement does not have, for text containing a
 * NUL byte, or when the statement has been stepped and not reset (bind before the first step).
 */
int hk_stmt_bind_int64(struct hk_stmt *st, int idx, int64_t v);
int hk_stmt_bind_double(struct hk_stmt *st, int idx, double v);
/** len == (size_t)-1 means strlen(s); s == NULL binds NULL. */
int hk_stmt_bind_text(struct hk_stmt *st, int idx, const char *s, size_t len);
/** p == NULL (with len 0) binds NULL; an empty blob (p != NULL, len 0) is not NULL. */
int hk_stmt_bind_blob(struct hk_stmt *st, int idx, const void *p, size_t len);
int hk_stmt_bind_null(struct hk_stmt *st, int idx);

#define HK_ROW  1
#define HK_DONE 0
/**
 * Advances: HK_ROW when a row is ready, HK_DONE when finished, or a negative HK_E code. After
 * HK_DONE or an error it keeps returning HK_DONE until the statement is reset (it never silently
 * runs again).
 */
int hk_stmt_step(struct hk_stmt *st, struct hk_err *err);
/** Steps to completion, ignoring rows; then resets. Returns 0 or a negative HK_E code. */
int hk_stmt_exec(struct hk_stmt *st, struct hk_err *err);
/**
 * Rows inserted, updated or deleted by the statement's last finished execution (known once step
 * returned HK_DONE; kept across reset until the next execution; 0 for reads and DDL).
 */
int64_t hk_stmt_changes(struct hk_stmt *st);
/** Clears bindings and any pending rows, ready for reuse. */
void hk_stmt_reset(struct hk_stmt *st);

/* Typed reads of the current row; columns numbered from 0. NULL reads as 0 / NULL. */
int hk_stmt_columns(struct hk_stmt *st);
bool hk_stmt_is_null(struct hk_stmt *st, int col);
int64_t hk_stmt_int64(struct hk_stmt *st, int col);
double hk_stmt_double(struct hk_stmt *st, int col);
/** Borrowed, NUL-terminated, valid until the next step or reset; NULL for SQL NULL. */
const char *hk_stmt_text(struct hk_stmt *st, int col, size_t *len);
/** Borrowed, valid until the next step or reset; NULL for SQL NULL. */
const void *hk_stmt_blob(struct hk_stmt *st, int col, size_t *len);
/** Copies a text column into buf (truncating, always NUL-terminated; "" for NULL). */
void hk_stmt_text_copy(struct hk_stmt *st, int col, char *buf, size_t size);

#endif
