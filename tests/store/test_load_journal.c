/*
 * test_load_journal.c — hk_db_load_journal on SQLite (src/store/store.h): the journal of an
 * initial load. (What holds on both backends — refused inside a transaction, nothing on
 * PostgreSQL — is in the contract suite, test_store_contract.c.)
 *
 * Every test uses a fresh, migrated SQLite file in a private temp directory. The file's mode is
 * read behind the store's back, so that the reading does not change it (every store connection
 * asks for WAL when it opens): bytes 18 and 19 of the header (1: rollback journal, 2: WAL), and
 * PRAGMA journal_mode on a raw sqlite3 connection ("wal", or "delete" for a rollback-mode file).
 *
 * The thread in the busy-timeout test never calls cmocka (it is not thread-safe).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "store/store.h"

#define NOW     1767225600 /* 2026-01-01T00:00:00Z */
#define BUSY_MS 5000       /* the store's busy timeout in these tests */

struct fixture {
    char dir[256];
    char path[320];
    struct hk_store *store;
    struct hk_db *held[2]; /* acquired and not yet released: teardown releases them */
};

#define CHECK(call)                                                                                \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ < 0)                                                                               \
            fail_msg("%s failed (%d): %s", #call, rc_, err.msg);                                   \
    } while (0)

static int setup(void **state)
{
    struct hk_err err = {0};
    struct hk_store_opts opts = {.pool_size = 2, .busy_timeout_ms = BUSY_MS};
    struct fixture *f = calloc(1, sizeof(*f));
    const char *tmp = getenv("TMPDIR");
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/hk_journal_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/store.db", f->dir);
    *state = f;
    if (hk_store_open(f->path, &opts, &f->store, &err) < 0 ||
        hk_store_migrate(f->store, NOW, NULL, NULL, &err) < 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    struct hk_db *db;
    struct hk_stmt *st;
    if (hk_db_acquire(f->store, &db, &err) < 0)
        return -1;
    int rc = hk_db_stmt(db, "ddl_items",
                        "CREATE TABLE t_items (id INTEGER PRIMARY KEY, k TEXT NOT NULL UNIQUE)",
                        &st, &err);
    if (rc == 0)
        rc = hk_stmt_exec(st, &err);
    hk_db_release(db);
    return rc < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    static const char *const suffix[] = {"",          "-wal",  "-shm",  "-journal",
                                         "-loadlock", "-open", "-knock"};
    for (size_t i = 0; i < 2; i++) /* a test that failed halfway */
        hk_db_release(f->held[i]);
    hk_store_close(f->store);
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        char p[400];
        snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* ---- connections ------------------------------------------------------------------------ */

static struct hk_db *acquire(struct fixture *f)
{
    struct hk_err err = {0};
    struct hk_db *db;
    CHECK(hk_db_acquire(f->store, &db, &err));
    for (size_t i = 0; i < 2; i++) {
        if (!f->held[i]) {
            f->held[i] = db;
            return db;
        }
    }
    fail_msg("more than two connections held");
    return NULL;
}

static void release(struct fixture *f, struct hk_db *db)
{
    for (size_t i = 0; i < 2; i++) {
        if (f->held[i] == db)
            f->held[i] = NULL;
    }
    hk_db_release(db);
}

/* ---- the file, read behind the store's back ---------------------------------------------- */

/* Bytes 18 and 19 of the database header (the write and read versions): 1 rollback, 2 WAL. */
static int header_version(const struct fixture *f)
{
    unsigned char b[2];
    int fd = open(f->path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, b, 2, 18), 2);
    close(fd);
    assert_int_equal(b[0], b[1]);
    return b[0];
}

/* The journal mode a fresh raw connection reports ("wal", or "delete" for a rollback file). */
static void raw_journal_mode(const struct fixture *f, char *out, size_t size)
{
    sqlite3 *raw = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(f->path, &raw, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, size, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(raw);
}

static bool wal_file_exists(const struct fixture *f)
{
    char p[400];
    snprintf(p, sizeof(p), "%s-wal", f->path);
    return access(p, F_OK) == 0;
}

/* ---- SQL helpers ----------------------------------------------------------------------- */

static int64_t scalar(struct hk_db *db, const char *name, const char *sql)
{
    struct hk_err err = {0};
    struct hk_stmt *st;
    CHECK(hk_db_stmt(db, name, sql, &st, &err));
    assert_int_equal(hk_stmt_step(st, &err), HK_ROW);
    int64_t v = hk_stmt_int64(st, 0);
    hk_stmt_reset(st);
    return v;
}

static void insert_items(struct hk_db *db, const char *prefix, int n)
{
    struct hk_err err = {0};
    struct hk_stmt *st;
    char k[64];
    CHECK(hk_db_begin(db, HK_TX_WRITE, &err));
    CHECK(hk_db_stmt(db, "item_insert", "INSERT INTO t_items (k) VALUES ($1)", &st, &err));
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "%s_%d", prefix, i);
        CHECK(hk_stmt_bind_text(st, 1, k, (size_t)-1));
        CHECK(hk_stmt_exec(st, &err));
    }
    CHECK(hk_db_commit(db, &err));
}

static int64_t count_prefix(struct hk_db *db, const char *prefix)
{
    struct hk_err err = {0};
    struct hk_stmt *st;
    char like[64];
    snprintf(like, sizeof(like), "%s_%%", prefix);
    CHECK(hk_db_stmt(db, "items_like", "SELECT count(*) FROM t_items WHERE k LIKE $1", &st, &err));
    CHECK(hk_stmt_bind_text(st, 1, like, (size_t)-1));
    assert_int_equal(hk_stmt_step(st, &err), HK_ROW);
    int64_t v = hk_stmt_int64(st, 0);
    hk_stmt_reset(st);
    return v;
}

static double elapsed_s(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- tests ----------------------------------------------------------------------------- */

/* The only connection: on leaves WAL for a rollback journal, off comes back to WAL. */
static void load_journal__alone_switches_to_rollback_and_off_back_to_wal(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    bool switched = false;
    char mode[32];

    db = acquire(f);
    assert_int_equal(header_version(f), 2);
    assert_int_equal(scalar(db, "synchronous", "PRAGMA synchronous"), 1); /* NORMAL */
    /* as Debian's SQLite has it by default: the journal turns it off and back on */
    assert_int_equal(scalar(db, "secure_delete_on", "PRAGMA secure_delete = 1"), 1);

    CHECK(hk_db_load_journal(db, true, &switched, &err));
    assert_true(switched);
    assert_int_equal(scalar(db, "secure_delete", "PRAGMA secure_delete"), 0);
    assert_int_equal(header_version(f), 1);
    raw_journal_mode(f, mode, sizeof(mode));
    assert_string_equal(mode, "delete");
    assert_false(wal_file_exists(f));
    assert_int_equal(scalar(db, "synchronous", "PRAGMA synchronous"), 2); /* FULL */

    insert_items(db, "rollback", 50);
    assert_false(wal_file_exists(f)); /* committed through the rollback journal */
    assert_int_equal(header_version(f), 1);

    switched = true;
    CHECK(hk_db_load_journal(db, false, &switched, &err));
    assert_int_equal(header_version(f), 2);
    raw_journal_mode(f, mode, sizeof(mode));
    assert_string_equal(mode, "wal");
    assert_int_equal(scalar(db, "synchronous", "PRAGMA synchronous"), 1); /* NORMAL */
    assert_int_equal(scalar(db, "secure_delete", "PRAGMA secure_delete"), 1);
    assert_int_equal(count_prefix(db, "rollback"), 50);
    /* FAST (2) comes back as FAST, not as on */
    assert_int_equal(scalar(db, "secure_delete_fast", "PRAGMA secure_delete = FAST"), 2);
    CHECK(hk_db_load_journal(db, true, &switched, &err));
    assert_true(switched);
    assert_int_equal(scalar(db, "secure_delete", "PRAGMA secure_delete"), 0);
    CHECK(hk_db_load_journal(db, false, &switched, &err));
    assert_int_equal(scalar(db, "secure_delete", "PRAGMA secure_delete"), 2);
    raw_journal_mode(f, mode, sizeof(mode));
    assert_string_equal(mode, "wal");
    insert_items(db, "wal_again", 5);
    assert_true(wal_file_exists(f));
    assert_int_equal(count_prefix(db, "wal_again"), 5);
    release(f, db);
}

/* Holds a raw write lock on the file for a while, then lets it go. */
struct holder {
    sqlite3 *raw;
    int rc;
};

static void *release_later(void *p)
{
    struct holder *h = p;
    nanosleep(&(struct timespec){.tv_nsec = 300 * 1000 * 1000}, NULL);
    h->rc = sqlite3_exec(h->raw, "COMMIT", NULL, NULL, NULL);
    return NULL;
}

/* Another connection has the file open: on stays in WAL at once, and writes still work. */
static void load_journal__another_connection_keeps_wal_and_does_not_wait(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_db *db, *other;
    struct timespec t0;
    bool switched = true;
    char mode[32];

    db = acquire(f);
    other = acquire(f);
    assert_ptr_not_equal(db, other);
    assert_true(scalar(other, "items_total", "SELECT count(*) FROM t_items") >= 0);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(hk_db_load_journal(db, true, &switched, &err));
    double took = elapsed_s(&t0);
    assert_false(switched);
    if (took >= 1.0) /* the busy timeout is BUSY_MS: it must not have waited */
        fail_msg("hk_db_load_journal(on) took %.3f s with another connection open", took);
    assert_int_equal(header_version(f), 2);
    raw_journal_mode(f, mode, sizeof(mode));
    assert_string_equal(mode, "wal");
    assert_int_equal(scalar(db, "synchronous", "PRAGMA synchronous"), 1); /* still NORMAL */

    /* Writes on both connections still work, and the busy timeout is back: a writer that finds
       the file locked for 0.3 s waits for it instead of failing at once. */
    insert_items(db, "shared", 10);
    insert_items(other, "other", 3);
    struct holder h = {0};
    pthread_t th;
    assert_int_equal(sqlite3_open_v2(f->path, &h.raw, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h.raw, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(pthread_create(&th, NULL, release_later, &h), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = hk_db_begin(db, HK_TX_WRITE, &err);
    took = elapsed_s(&t0);
    pthread_join(th, NULL);
    sqlite3_close(h.raw);
    assert_int_equal(h.rc, SQLITE_OK);
    if (rc < 0)
        fail_msg("a write after the attempt did not wait for the lock (%.3f s): %s", took, err.msg);
    hk_db_rollback(db);

    /* Off while never switched: nothing to undo. */
    CHECK(hk_db_load_journal(db, false, NULL, &err));
    assert_int_equal(header_version(f), 2);
    assert_int_equal(count_prefix(db, "shared"), 10);
    assert_int_equal(count_prefix(db, "other"), 3);
    release(f, other);
    release(f, db);
}

/* Released while on: the file is back in WAL, and the connection back to NORMAL. */
static void load_journal__release_left_on_puts_wal_back(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_db *db, *again;
    bool switched = false;
    char mode[32];

    db = acquire(f);
    CHECK(hk_db_load_journal(db, true, &switched, &err));
    assert_true(switched);
    insert_items(db, "left_on", 20);
    assert_int_equal(header_version(f), 1);
    release(f, db);

    assert_int_equal(header_version(f), 2);
    raw_journal_mode(f, mode, sizeof(mode));
    assert_string_equal(mode, "wal");

    /* The pool hands the same (last released) connection back, with the defaults. */
    again = acquire(f);
    assert_ptr_equal(again, db);
    assert_int_equal(scalar(again, "synchronous", "PRAGMA synchronous"), 1);
    assert_int_equal(count_prefix(again, "left_on"), 20);
    /* and it can switch again: the store did not think it was still on */
    CHECK(hk_db_load_journal(again, true, &switched, &err));
    assert_true(switched);
    assert_int_equal(header_version(f), 1);
    CHECK(hk_db_load_journal(again, false, NULL, &err));
    assert_int_equal(header_version(f), 2);
    release(f, again);
}

/* A connection that opens the file while the load holds it in its journal waits (presence
   locks, sqlite.c) until the load polls between two transactions; the load then goes back to
   WAL, and both write. */
struct opener {
    struct fixture *f;
    struct hk_db *db;
    volatile int done;
};

static void *open_late(void *arg)
{
    struct opener *o = arg;
    struct hk_err err = {0};
    if (hk_db_acquire(o->f->store, &o->db, &err) < 0)
        o->db = NULL;
    o->done = 1;
    return NULL;
}

static void load_journal__a_new_connection_waits_for_the_load_to_give_it_back(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    bool switched = false, yielded = true;
    struct opener o = {f, NULL, 0};
    pthread_t th;

    db = acquire(f);
    CHECK(hk_db_bulk(db, true, &err)); /* a load's connection: it polls */
    CHECK(hk_db_load_journal(db, true, &switched, &err));
    assert_true(switched);
    CHECK(hk_db_load_poll(db, &yielded, &err)); /* nobody waits */
    assert_false(yielded);
    assert_int_equal(header_version(f), 1);

    assert_int_equal(pthread_create(&th, NULL, open_late, &o), 0);
    struct timespec ts = {0, 200 * 1000000L};
    nanosleep(&ts, NULL);
    assert_int_equal(o.done, 0);   /* it waits: the load still holds the file */
    insert_items(db, "loader", 6); /* a batch of the load, still in its journal */
    assert_int_equal(header_version(f), 1);
    assert_int_equal(o.done, 0);

    CHECK(hk_db_load_poll(db, &yielded, &err)); /* between two batches */
    assert_true(yielded);
    assert_int_equal(header_version(f), 2);
    pthread_join(th, NULL);
    assert_non_null(o.db);
    f->held[1] = o.db;
    insert_items(o.db, "late", 4);
    insert_items(db, "after", 3); /* the load goes on, in WAL */
    assert_int_equal(header_version(f), 2);
    assert_int_equal(scalar(db, "synchronous", "PRAGMA synchronous"), 1);
    CHECK(hk_db_load_journal(db, false, NULL, &err)); /* already off: nothing to do */
    assert_int_equal(count_prefix(db, "late"), 4);
    assert_int_equal(count_prefix(db, "loader"), 6);
    release(f, o.db);
    release(f, db);
}

/* The load's own thread opening another connection would wait for itself: it fails at once,
   and the load goes on in its journal. */
static void load_journal__the_loading_thread_cannot_open_another(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_db *db, *other = NULL;
    bool switched = false;

    db = acquire(f);
    CHECK(hk_db_load_journal(db, true, &switched, &err));
    assert_true(switched);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(hk_db_acquire(f->store, &other, &err), HK_E(UNAVAILABLE));
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_true(b.tv_sec - a.tv_sec < 2);
    assert_int_equal(header_version(f), 1);
    insert_items(db, "loader", 3);
    CHECK(hk_db_load_journal(db, false, NULL, &err));
    assert_int_equal(header_version(f), 2);
    CHECK(hk_db_acquire(f->store, &other, &err)); /* given back: it opens */
    f->held[1] = other;
    assert_int_equal(count_prefix(other, "loader"), 3);
    release(f, other);
    release(f, db);
}

/* ---- writer fairness -------------------------------------------------------------------- */

/* A load in a thread of its own, as an import: bulk mode and the pipeline, batches of LOAD_ROWS
   rows back to back until told to stop (or LOAD_MAX batches), each queued while the one before
   is written, and waited for before the next is queued, into t_load, whose trigger makes each
   row cost the writer far more than the loop (as the writer of a real load has the indexes):
   the writer never waits for work, and starts each batch right after the last commit. yield:
   it polls before each batch (hk_db_load_poll), as an import does. It never calls cmocka. */
#define LOAD_ROWS 200
#define LOAD_MAX  20000

struct loader {
    struct hk_db *db;
    bool yield;
    atomic_int batches;
    atomic_bool stop;
    atomic_int rc;
    struct hk_err err; /* read once the thread is joined */
};

static void *load_loop(void *arg)
{
    struct loader *l = arg;
    struct hk_err err = {0};
    uint64_t prev = 0;
    int rc = hk_db_bulk(l->db, true, &err);
    if (rc == 0)
        rc = hk_db_pipeline(l->db, true, &err);
    for (int b = 0; rc == 0 && b < LOAD_MAX && !atomic_load(&l->stop); b++) {
        struct hk_copy *c = NULL;
        if (l->yield && (rc = hk_db_load_poll(l->db, NULL, &err)) < 0)
            break;
        if ((rc = hk_db_begin(l->db, HK_TX_WRITE, &err)) < 0 ||
            (rc = hk_db_copy_begin(l->db, "t_load", "k", 1, &c, &err)) < 0)
            break;
        for (int i = 0; rc == 0 && i < LOAD_ROWS; i++) {
            char k[64];
            int n = snprintf(k, sizeof(k), "load_%d_%d", b, i);
            if (hk_copy_text(c, k, (size_t)n) < 0)
                rc = hk_err_set(&err, HK_E(INTERNAL), "copy: a value cannot be written");
            else
                rc = hk_copy_row(c, &err);
        }
        if (rc == 0)
            rc = hk_db_copy_end(c, &err);
        if (rc == 0)
            rc = hk_db_commit(l->db, &err);
        uint64_t mark = hk_db_pipeline_mark(l->db);
        if (rc == 0 && prev && (rc = hk_db_pipeline_wait(l->db, prev, &err)) == 0)
            atomic_fetch_add(&l->batches, 1);
        prev = mark;
    }
    if (rc == 0 && prev && (rc = hk_db_pipeline_wait(l->db, prev, &err)) == 0)
        atomic_fetch_add(&l->batches, 1);
    struct hk_err ignored = {0};
    if (rc < 0)
        hk_db_rollback(l->db);
    (void)hk_db_pipeline(l->db, false, &ignored);
    (void)hk_db_bulk(l->db, false, &ignored);
    l->rc = rc;
    l->err = err;
    return NULL;
}

/* A load's pipeline takes the write lock again right after each commit. A writer of another
   connection that waits for the lock knocks, and the load lets it in between two batches: its
   insert takes a fraction of the busy timeout, and the load goes on afterwards. */
static void load_poll__a_waiting_writer_goes_between_two_batches(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct loader l = {.db = acquire(f), .yield = true};
    pthread_t th;
    struct hk_stmt *st;

    static const char *const ddl[] = {
        "CREATE TABLE t_load (k TEXT NOT NULL)",
        "CREATE TABLE t_work (n INTEGER NOT NULL)",
        "INSERT INTO t_work VALUES (0)",
        "CREATE TRIGGER t_load_work AFTER INSERT ON t_load BEGIN"
        " UPDATE t_work SET n = n + length(hex(randomblob(4000))); END",
    };
    for (size_t i = 0; i < sizeof(ddl) / sizeof(ddl[0]); i++) {
        CHECK(hk_db_stmt(l.db, ddl[i], ddl[i], &st, &err));
        CHECK(hk_stmt_exec(st, &err));
    }

    assert_int_equal(pthread_create(&th, NULL, load_loop, &l), 0);
    while (atomic_load(&l.batches) < 3 && atomic_load(&l.rc) == 0) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    struct hk_db *w = acquire(f);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int before = atomic_load(&l.batches);
    int rc = hk_db_stmt(w, "item_insert", "INSERT INTO t_items (k) VALUES ('waited')", &st, &err);
    if (rc == 0)
        rc = hk_stmt_exec(st, &err);
    double took = elapsed_s(&t0);
    int after = atomic_load(&l.batches);
    /* the load goes on once the writer is through, without waiting for it any more (its knock
       went with its statement: a knock left behind would hold each batch up LOAD_YIELD_MS) */
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    while (atomic_load(&l.batches) < after + 3 && atomic_load(&l.rc) == 0 && elapsed_s(&t1) < 30) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    double resumed = elapsed_s(&t1);
    int later = atomic_load(&l.batches);
    atomic_store(&l.stop, true);
    pthread_join(th, NULL);
    if (rc < 0)
        fail_msg("the waiting writer failed after %.3f s: %s", took, err.msg);
    if (l.rc < 0)
        fail_msg("the load failed: %s", l.err.msg);
    /* the load finished the batch in flight and maybe the one queued behind it, no more (without
       the poll, tens to hundreds: measured 13-594) */
    if (after - before > 3 || took > 1.5)
        fail_msg("the waiting writer got in after %.3f s (%d batches meanwhile)", took,
                 after - before);
    assert_true(after < LOAD_MAX);   /* it got in during the load */
    assert_true(later >= after + 3); /* and the load went on */
    if (resumed > 1.5)
        fail_msg("the load's next 3 batches took %.3f s after the writer was through", resumed);
    assert_int_equal(scalar(w, "waited", "SELECT count(*) FROM t_items WHERE k = 'waited'"), 1);
    assert_int_equal(scalar(w, "loaded", "SELECT count(*) FROM t_load"),
                     (int64_t)atomic_load(&l.batches) * LOAD_ROWS);
    release(f, w);
    release(f, l.db);
}

/* A writer that waited for the lock (and so knocked) and then rolled back leaves no knock
   behind: a load's poll afterwards does not wait. */
struct waiter {
    struct hk_db *db;
    atomic_int rc;
};

static void *begin_then_rollback(void *arg)
{
    struct waiter *w = arg;
    struct hk_err err = {0};
    int rc = hk_db_begin(w->db, HK_TX_WRITE, &err); /* waits for the holder below */
    if (rc == 0)
        hk_db_rollback(w->db);
    atomic_store(&w->rc, rc < 0 ? rc : 1);
    return NULL;
}

static void load_poll__a_writer_that_waited_and_rolled_back_leaves_no_knock(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_db *holder = acquire(f);
    struct waiter w = {.db = acquire(f)};
    pthread_t th;
    bool yielded = true;

    CHECK(hk_db_begin(holder, HK_TX_WRITE, &err));
    assert_int_equal(pthread_create(&th, NULL, begin_then_rollback, &w), 0);
    struct timespec ts = {0, 150 * 1000000L};
    nanosleep(&ts, NULL);
    assert_int_equal(atomic_load(&w.rc), 0); /* still waiting */
    CHECK(hk_db_commit(holder, &err));
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&w.rc), 1);
    release(f, w.db); /* back in the pool, idle */

    CHECK(hk_db_bulk(holder, true, &err)); /* now the load */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(hk_db_load_poll(holder, &yielded, &err));
    assert_false(yielded);
    assert_true(elapsed_s(&t0) < 0.5);
    CHECK(hk_db_bulk(holder, false, &err));
    release(f, holder);
}

/* The lock files beside the database take its permissions past the umask, as SQLite's -wal
   and -shm do: another user who may write the database may open them. */
static void lock_files__take_the_database_permissions(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    char path[400], side[420];
    snprintf(path, sizeof(path), "%s/shared.db", f->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, 0664), 0);
    close(fd);
    mode_t old = umask(077);
    struct hk_store_opts opts = {.pool_size = 1, .busy_timeout_ms = BUSY_MS};
    struct hk_store *s = NULL;
    struct hk_db *db = NULL;
    bool got = false;
    int rc = hk_store_open(path, &opts, &s, &err);
    if (rc == 0)
        rc = hk_db_acquire(s, &db, &err);
    if (rc == 0)
        rc = hk_db_load_lock(db, &got, &err);
    umask(old);
    if (rc < 0)
        fail_msg("open: %s", err.msg);
    assert_true(got);
    static const char *const suffix[] = {"-open", "-knock", "-loadlock"};
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        struct stat st;
        snprintf(side, sizeof(side), "%s%s", path, suffix[i]);
        assert_int_equal(stat(side, &st), 0);
        if ((st.st_mode & 0777) != 0664)
            fail_msg("%s: mode %o, not the database's 664", suffix[i],
                     (unsigned)(st.st_mode & 0777));
    }
    hk_db_load_unlock(db);
    hk_db_release(db);
    hk_store_close(s);
    static const char *const all[] = {"", "-wal", "-shm", "-open", "-knock", "-loadlock"};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        snprintf(side, sizeof(side), "%s%s", path, all[i]);
        unlink(side);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            load_journal__alone_switches_to_rollback_and_off_back_to_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(
            load_journal__another_connection_keeps_wal_and_does_not_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(load_journal__release_left_on_puts_wal_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            load_journal__a_new_connection_waits_for_the_load_to_give_it_back, setup, teardown),
        cmocka_unit_test_setup_teardown(load_journal__the_loading_thread_cannot_open_another, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(load_poll__a_waiting_writer_goes_between_two_batches, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            load_poll__a_writer_that_waited_and_rolled_back_leaves_no_knock, setup, teardown),
        cmocka_unit_test_setup_teardown(lock_files__take_the_database_permissions, setup, teardown),
    };
    return cmocka_run_group_tests_name("store_load_journal_sqlite", tests, NULL, NULL);
}
