/*
 * sqlite.c — the SQLite backend of the store (the default: one file, nothing to set up).
 *
 * Connections are opened with SQLITE_OPEN_NOMUTEX: the pool hands each connection to one thread
 * at a time, so SQLite's per-connection mutex would only cost time. Each connection sets
 *   page_size = 16384       only takes effect when the file is new (existing stores keep theirs):
 *                           an import into 16 KiB pages takes ~17 % less time than into the
 *                           default 4 KiB (fewer page splits and B-tree levels, fewer WAL
 *                           frames; bench/RESULTS.md, session 4), point reads hardly notice;
 *   journal_mode = WAL      readers never block the writer and the writer never blocks readers;
 *   synchronous = NORMAL    safe with WAL (a power cut may lose the last commits, never corrupt);
 *   foreign_keys = ON       SQLite leaves them off by default; the schema relies on them;
 *   a busy timeout          writers queue for the write lock instead of failing at once.
 * HK_TX_WRITE begins with BEGIN IMMEDIATE so a writer takes the write lock up front and waits in
 * the busy handler, rather than failing with SQLITE_BUSY when it upgrades a read halfway through.
 *
 * SQL is written with PostgreSQL's $N parameters; prepare rewrites them to ?N (same length, so
 * in place) outside string literals, quoted identifiers and comments. ?N keeps the number, so a
 * parameter can be reused and appear out of order.
 *
 * After HK_DONE or an error the statement is reset at once (bindings kept) so it holds no read
 * snapshot or lock while it sits in the cache.
 *
 * Threading: a connection and its statements are used by one thread at a time (the pool's
 * promise); nothing here is shared.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/util.h"
#include "store/store_int.h"

struct sq_stmt {
    sqlite3_stmt *st;
    sqlite3 *db;
    const char *name;     /* borrowed from struct hk_stmt */
    int64_t total_before; /* sqlite3_total_changes64 when the execution began */
    int64_t changes;      /* of the last finished execution */
    bool running;
};

static enum hk_store_fault sq_fault(int rc)
{
    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_ROWID:
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return HK_FAULT_CONSTRAINT;
    default:
        break;
    }
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return HK_FAULT_UNAVAILABLE;
    case SQLITE_NOMEM:
        return HK_FAULT_NOMEM;
    case SQLITE_RANGE:
    case SQLITE_MISUSE:
        return HK_FAULT_MISUSE;
    default:
        return HK_FAULT_OTHER;
    }
}

static void knock_idle(sqlite3 *db);

static int sq_exec(sqlite3 *db, const char *what, const char *sql, struct hk_err *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    knock_idle(db);
    if (rc == SQLITE_OK)
        return 0;
    rc = hk_store_fail(err, sq_fault(sqlite3_extended_errcode(db)), what,
                       msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return rc;
}

/* Before the first connection: no memory statistics. SQLite keeps them under one global mutex
   taken by every allocation, which an import's writer and reader threads then contend for (1.5 %
   of an import's time, session 4); huike never reads them. */
static void sq_configure(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); /* refused if already initialised: fine */
    (void)sqlite3_initialize();
}

/*
 * Presence locks (the journal of an initial load, hk_db_load_journal). Every connection to a
 * database file holds a shared flock on DBFILE-open, on a descriptor of its own (flock belongs
 * to the open file description, so connections of one process exclude each other too). A load
 * may leave WAL for a rollback journal only while it can make its lock exclusive: then no
 * other connection of huike's has the file open. A connection that opens the file meanwhile
 * finds the lock exclusive; it holds a shared lock on DBFILE-knock while it waits for its
 * shared lock on DBFILE-open, and the load, which tests the knock lock between its batches and
 * index builds (hk_db_load_poll), goes back to WAL and shares its lock again. If the
 * load dies, its locks go with it and the first read rolls the journal back. In-memory
 * databases take no locks (nothing else can open them).
 *
 * Writers knock too (writer fairness, any load, WAL or journal). A load's pipeline takes the
 * write lock again right after each commit, and SQLite's busy handler, which sleeps between its
 * tries, seldom finds it free: a server started during a load could wait for the whole load.
 * So a connection's busy handler (sq_busy) holds a shared lock on DBFILE-knock, on the
 * connection's own descriptor, from its first wait until the statement that waited ends
 * (knock_idle), and retries every few milliseconds.
 * A load (a connection in bulk mode, which never knocks itself) tests the lock between its
 * transactions (hk_db_load_poll) and, while someone knocks, waits before it begins the next
 * one, up to LOAD_YIELD_MS: the waiting writer gets the lock as soon as the load's batch in
 * flight commits.
 */
struct presence {
    sqlite3 *db;
    int fd;            /* DBFILE-open, shared (exclusive while the journal is the load's) */
    char *knock;       /* DBFILE-knock */
    int kfd;           /* DBFILE-knock: shared while this connection waits for a lock */
    int busy_ms;       /* the busy timeout */
    bool journal;      /* the load holds the file in a rollback journal */
    int secure_delete; /* PRAGMA secure_delete before the journal turned it off; -1: untouched */
    bool loader;       /* bulk mode: a load, which yields to knocks and does not knock */
    bool knocking;     /* kfd's shared lock is held (the connection's thread reads and writes it) */
    pthread_t by;      /* the thread that switched it (the load's, which polls) */
    struct presence *next;
};

/* Connections whose knock is held: when 0 (nearly always), nothing to release after a
   statement. */
static atomic_int knockers;

/* How long a load waits for the writers that knock before it begins its next transaction. A
   writer needs the lock only once the load's transaction in flight commits; the cap bounds the
   pause when a knocking connection sits in a long transaction of its own. */
#define LOAD_YIELD_MS 2000

static pthread_mutex_t presence_mu = PTHREAD_MUTEX_INITIALIZER;
static struct presence *presences;

/* How long an opener waits for a load to go back to WAL: a load tests the knock lock between
   batches (well under a second) and between index builds (seconds at 10M lines). */
#define PRESENCE_WAIT_MS (10 * 60 * 1000)

static struct presence *presence_of(sqlite3 *db)
{
    pthread_mutex_lock(&presence_mu);
    struct presence *p = presences;
    while (p && p->db != db)
        p = p->next;
    pthread_mutex_unlock(&presence_mu);
    return p;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Opens path + suffix (created if missing, with the database's permissions; read-only when
   that is all the caller may: flock needs no more). */
static int side_open(const char *path, const char *suffix, char **name, struct hk_err *err)
{
    size_t n = strlen(path) + strlen(suffix) + 1;
    char *s = malloc(n);
    if (!s)
        return hk_err_set(err, HK_E(NOMEM), "lock file: out of memory");
    snprintf(s, n, "%s%s", path, suffix);
    struct stat st; /* the database's permissions, as SQLite gives its -wal and -shm */
    bool known = stat(path, &st) == 0;
    mode_t mode = known ? (st.st_mode & 0666) : 0600;
    int fd = open(s, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd >= 0 && known)
        (void)fchmod(fd, mode); /* past the umask, as SQLite does for its own files */
    else if (fd < 0 && errno == EEXIST)
        fd = open(s, O_RDWR | O_CLOEXEC);
    if (fd < 0 && (errno == EACCES || errno == EROFS))
        fd = open(s, O_RDONLY | O_CLOEXEC); /* flock needs no write access */
    if (fd < 0) {
        int e = errno;
        hk_err_set(err, HK_E(IO), "lock file %s: %s", s, strerror(e));
        free(s);
        return HK_E(IO);
    }
    if (name)
        *name = s;
    else
        free(s);
    return fd;
}

/* Takes p's shared lock, knocking while a load holds it exclusively. (Also after a failed
   upgrade: Linux drops the shared lock of a conversion that would wait.) */
static int presence_share(struct presence *p, struct hk_err *err)
{
    int knock = -1, rc = 0;
    int64_t until = hk_monotonic_ms() + PRESENCE_WAIT_MS;
    while (flock(p->fd, LOCK_SH | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) {
            rc = hk_err_set(err, HK_E(IO), "presence lock: %s", strerror(errno));
            break;
        }
        if (knock < 0 && ((knock = open(p->knock, O_RDONLY | O_CLOEXEC)) < 0 ||
                          flock(knock, LOCK_SH) != 0)) { /* the load only tests it */
            rc = hk_err_set(err, HK_E(IO), "presence lock: %s", strerror(errno));
            break;
        }
        if (hk_monotonic_ms() >= until) {
            rc = hk_err_set(err, HK_E(UNAVAILABLE),
                            "database busy: an initial load did not give it back in time");
            break;
        }
        sleep_ms(2);
    }
    if (knock >= 0)
        close(knock);
    return rc;
}

/* p->journal changes under presence_mu (journal_held_here reads it from other threads). */
static void set_journal(struct presence *p, bool on)
{
    pthread_mutex_lock(&presence_mu);
    p->journal = on;
    p->by = pthread_self();
    pthread_mutex_unlock(&presence_mu);
}

/* Whether this thread holds the file named by knock in a load's journal: a connection it
   opened would wait for a load that cannot yield while its thread waits. (Another thread's
   connection waits like another process's.) */
static bool journal_held_here(const char *knock)
{
    bool held = false;
    pthread_mutex_lock(&presence_mu);
    for (struct presence *p = presences; p && !held; p = p->next)
        held = p->journal && pthread_equal(p->by, pthread_self()) && strcmp(p->knock, knock) == 0;
    pthread_mutex_unlock(&presence_mu);
    return held;
}

/* Gives up p's knock, if held. */
static void knock_end(struct presence *p)
{
    if (!p->knocking)
        return;
    (void)flock(p->kfd, LOCK_UN);
    p->knocking = false;
    atomic_fetch_sub(&knockers, 1);
}

/* After a statement (or a prepare, a rollback) ended on db: its knock goes. The lock it waited
   for is its own by then, or it gave up; either way a load has nothing more to wait for (its
   next BEGIN waits for a held lock like any writer). */
static void knock_idle(sqlite3 *db)
{
    if (atomic_load_explicit(&knockers, memory_order_relaxed) == 0)
        return;
    struct presence *p = presence_of(db);
    if (p)
        knock_end(p);
}

/* The busy handler of a file's connections (SQLite's own is sqlite3_busy_timeout's): knocks,
   then sleeps 1, 2, 5, then 10 ms at a time until the busy timeout has passed. The short naps
   matter: a load that yields pauses until the writer it waits for has been through. */
static int sq_busy(void *arg, int count)
{
    static const int delays[] = {1, 2, 5};
    struct presence *p = arg;
    if (!p->knocking && !p->loader && flock(p->kfd, LOCK_SH | LOCK_NB) == 0) {
        p->knocking = true;
        atomic_fetch_add(&knockers, 1);
    }
    long waited = 0;
    int n = (int)HK_ARRAY_LEN(delays);
    for (int i = 0; i < count && i < n; i++)
        waited += delays[i];
    if (count > n)
        waited += 10L * (count - n);
    if (waited >= p->busy_ms) {
        knock_end(p);
        return 0;
    }
    sleep_ms(count < n ? delays[count] : 10);
    return 1;
}

/* The busy timeout of db: sq_busy when db has a presence, SQLite's otherwise (in memory). */
static void busy_set(sqlite3 *db, struct presence *p, int ms)
{
    if (p && ms > 0)
        sqlite3_busy_handler(db, sq_busy, p);
    else
        sqlite3_busy_timeout(db, ms);
}

static int presence_take(sqlite3 *db, int busy_ms, struct hk_err *err)
{
    const char *path = sqlite3_db_filename(db, "main");
    if (!path || !*path)
        return 0;
    struct presence *p = calloc(1, sizeof(*p));
    if (!p)
        return hk_err_set(err, HK_E(NOMEM), "presence lock: out of memory");
    p->db = db;
    p->kfd = -1;
    p->secure_delete = -1;
    int rc = 0, kfd = -1;
    if ((p->fd = side_open(path, "-open", NULL, err)) < 0 ||
        (kfd = side_open(path, "-knock", &p->knock, err)) < 0 ||
        (journal_held_here(p->knock) &&
         (rc = hk_err_set(err, HK_E(UNAVAILABLE),
                          "database busy: this thread is loading it (initial load)")) < 0) ||
        (rc = presence_share(p, err)) < 0) {
        rc = p->fd < 0 ? p->fd : kfd < 0 ? kfd : rc;
        if (kfd >= 0)
            close(kfd);
        if (p->fd >= 0)
            close(p->fd);
        free(p->knock);
        free(p);
        return rc;
    }
    p->kfd = kfd;
    p->busy_ms = busy_ms;
    pthread_mutex_lock(&presence_mu);
    p->next = presences;
    presences = p;
    pthread_mutex_unlock(&presence_mu);
    busy_set(db, p, busy_ms);
    return 0;
}

static void presence_drop(sqlite3 *db)
{
    pthread_mutex_lock(&presence_mu);
    struct presence **pp = &presences;
    while (*pp && (*pp)->db != db)
        pp = &(*pp)->next;
    struct presence *p = *pp;
    if (p)
        *pp = p->next;
    pthread_mutex_unlock(&presence_mu);
    if (!p)
        return;
    knock_end(p);
    close(p->kfd);
    close(p->fd);
    free(p->knock);
    free(p);
}

static int sq_connect(const char *path, int busy_timeout_ms, void **conn, struct hk_err *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    sqlite3 *db = NULL;
    char what[300];
    int rc;

    pthread_once(&once, sq_configure);
    snprintf(what, sizeof(what), "open SQLite database %s", path);
    rc = sqlite3_open_v2(path, &db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = hk_store_fail(err, rc == SQLITE_NOMEM ? HK_FAULT_NOMEM : HK_FAULT_OTHER, what,
                           db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, busy_timeout_ms);
    if ((rc = presence_take(db, busy_timeout_ms, err)) < 0)
        goto fail;
    rc = sq_exec(db, what,
                 "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL;"
                 " PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                 err);
    if (rc < 0)
        goto fail;
    *conn = db;
    return 0;

fail:
    if (db) /* NULL only when SQLite could not allocate it */
        sqlite3_busy_handler(db, NULL, NULL);
    presence_drop(db);
    sqlite3_close(db);
    return rc;
}

static void sq_disconnect(void *conn)
{
    sqlite3_busy_handler(conn, NULL, NULL); /* its argument goes with the presence */
    presence_drop(conn);
    sqlite3_close(conn);
}

static bool sq_usable(void *conn)
{
    (void)conn;
    return true;
}

static int sq_ping(void *conn, struct hk_err *err)
{
    return sq_exec(conn, "ping", "SELECT 1", err);
}

static int sq_exec_script(void *conn, const char *what, const char *sql, struct hk_err *err)
{
    return sq_exec(conn, what, sql, err);
}

static int sq_begin(void *conn, enum hk_tx_mode mode, struct hk_err *err)
{
    return sq_exec(conn, "begin", mode == HK_TX_WRITE ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED", err);
}

static int sq_commit(void *conn, struct hk_err *err)
{
    return sq_exec(conn, "commit", "COMMIT", err);
}

static void sq_rollback(void *conn)
{
    /* Fails only when no transaction is open (SQLite already rolled back): nothing to do. */
    sqlite3_exec(conn, "ROLLBACK", NULL, NULL, NULL);
    knock_idle(conn);
}

static int sq_savepoint_sql(void *conn, const char *what, const char *verb, const char *name,
                            struct hk_err *err)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "%s \"%s\"", verb, name); /* quoted: "outer" is a keyword */
    return sq_exec(conn, what, sql, err);
}

static int sq_savepoint(void *conn, const char *name, struct hk_err *err)
{
    return sq_savepoint_sql(conn, "savepoint", "SAVEPOINT", name, err);
}

static int sq_savepoint_release(void *conn, const char *name, struct hk_err *err)
{
    return sq_savepoint_sql(conn, "release savepoint", "RELEASE SAVEPOINT", name, err);
}

static int sq_savepoint_rollback(void *conn, const char *name, struct hk_err *err)
{
    return sq_savepoint_sql(conn, "rollback to savepoint", "ROLLBACK TO SAVEPOINT", name, err);
}

static int sq_migration_lock(void *conn, struct hk_err *err)
{
    (void)conn;
    (void)err;
    return 0;
}

static void sq_migration_unlock(void *conn)
{
    (void)conn;
}

/* The load lock: flock on DBFILE-loadlock (the fd is the token; closing it frees the lock). */
static int sq_load_lock(void *conn, int *token, bool *got, struct hk_err *err)
{
    const char *path = sqlite3_db_filename(conn, "main");
    *got = false;
    if (!path || !*path)
        return 0; /* in memory: no other connection shares it */
    int fd = side_open(path, "-loadlock", NULL, err);
    if (fd < 0)
        return fd;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return 0;
        return hk_err_set(err, HK_E(IO), "load lock: %s", strerror(e));
    }
    *token = fd;
    *got = true;
    return 0;
}

static void sq_load_unlock(void *conn, int token)
{
    (void)conn;
    close(token);
}

/* The end of a statement run outside the statement cache: finalizes st (may be NULL), ends a
   knock, and turns rc (SQLITE_OK or the failing call's code) into 0 or the failure named what. */
static int sq_raw_done(sqlite3 *db, sqlite3_stmt *st, int rc, const char *what, struct hk_err *err)
{
    char reason[256] = "";
    bool failed = rc != SQLITE_OK;
    if (failed) {
        hk_strlcpy(reason, sqlite3_errmsg(db), sizeof reason);
        rc = sqlite3_extended_errcode(db);
    }
    sqlite3_finalize(st);
    knock_idle(db);
    return failed ? hk_store_fail(err, sq_fault(rc), what, reason) : 0;
}

/* Runs PRAGMA journal_mode = mode and tells whether the database is in it now (the pragma
   answers with the mode in effect, the old one when it could not change). */
static int sq_journal_mode(sqlite3 *db, const char *mode, bool *now, struct hk_err *err)
{
    char sql[64];
    sqlite3_stmt *st = NULL;
    snprintf(sql, sizeof sql, "PRAGMA journal_mode = %s", mode);
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *got = (const char *)sqlite3_column_text(st, 0);
        *now = got && strcasecmp(got, mode) == 0;
        rc = SQLITE_OK;
    }
    return sq_raw_done(db, st, rc, "journal mode", err);
}

/* The integer value of PRAGMA name. */
static int sq_pragma_int(sqlite3 *db, const char *name, int *out, struct hk_err *err)
{
    char sql[64];
    sqlite3_stmt *st = NULL;
    snprintf(sql, sizeof sql, "PRAGMA %s", name);
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *out = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_ERROR;
    }
    return sq_raw_done(db, st, rc, name, err);
}

/*
 * Freed space on the load's pages is not zeroed. Debian builds SQLite with SECURE_DELETE, so by
 * default every page a B-tree insert splits or rebuilds is first cleared to its end: 3.7 % of
 * the writer's instructions in an initial load (callgrind, 100k lines). A load frees little:
 * cells moved by page splits (still in the file), the dropped load indexes' pages (entries of
 * rows that stay) and the old cells of the few rows it updates; huike promises no secure
 * deletion (upstream SQLite's default is off too). The connection's setting comes back when the
 * journal ends, before anyone else can open the file. Best effort: a failure costs speed only.
 */
static void secure_delete_off(sqlite3 *conn, struct presence *p)
{
    struct hk_err ignored;
    hk_err_clear(&ignored);
    int was = 0;
    if (sq_pragma_int(conn, "secure_delete", &was, &ignored) == 0 && was != 0 &&
        sq_exec(conn, "load journal", "PRAGMA secure_delete = 0", &ignored) == 0)
        p->secure_delete = was;
}

/* Back to WAL and the shared presence lock (the end of a load's journal, or someone knocked). */
static int journal_end(sqlite3 *conn, struct presence *p, struct hk_err *err)
{
    bool now = false;
    int rc = 0;
    if (p->secure_delete >= 0) { /* first: a failure leaves the journal as it was */
        char sql[48];            /* 2 is FAST, which "= 2" would read as true (1) */
        snprintf(sql, sizeof sql, "PRAGMA secure_delete = %s",
                 p->secure_delete == 2 ? "FAST"
                 : p->secure_delete    ? "1"
                                       : "0");
        if ((rc = sq_exec(conn, "load journal", sql, err)) == 0)
            p->secure_delete = -1;
    }
    if (rc == 0)
        rc = sq_journal_mode(conn, "WAL", &now, err);
    if (rc == 0 && !now)
        rc =
            hk_err_set(err, HK_E(UNAVAILABLE), "journal mode: the database did not go back to WAL");
    if (rc == 0)
        rc = sq_exec(conn, "load journal", "PRAGMA synchronous = NORMAL", err);
    if (rc == 0) {
        set_journal(p, false);
        /* a conversion: it waits for nobody (only an exclusive lock could hold it up, and
           nobody else can have one while this is held) */
        if (flock(p->fd, LOCK_SH) != 0)
            rc = hk_err_set(err, HK_E(IO), "presence lock: %s", strerror(errno));
    }
    return rc;
}

/* hk_db_load_journal: see "Presence locks" above. */
static int sq_load_journal(void *conn, bool on, int busy_timeout_ms, bool *switched,
                           struct hk_err *err)
{
    struct presence *p = presence_of(conn);
    bool now = false;
    int rc;
    *switched = false;
    if (!p)
        return 0; /* in memory */
    if (!on)
        return p->journal ? journal_end(conn, p, err) : 0;
    if (flock(p->fd, LOCK_EX | LOCK_NB) != 0) /* another connection has the file open */
        return presence_share(p, err);        /* stay in WAL */
    sqlite3_busy_timeout(conn, 0);
    rc = sq_journal_mode(conn, "TRUNCATE", &now, err);
    busy_set(conn, p, busy_timeout_ms);
    if (rc == 0 && now) {
        set_journal(p, true);
        if ((rc = sq_exec(conn, "load journal", "PRAGMA synchronous = FULL", err)) < 0) {
            struct hk_err ignored;
            hk_err_clear(&ignored);
            *switched = journal_end(conn, p, &ignored) < 0; /* still on: the caller ends it */
            return rc;
        }
        *switched = true;
        secure_delete_off(conn, p);
        return 0;
    }
    (void)flock(p->fd, LOCK_SH);   /* a conversion to shared never waits here: we held it */
    if (rc == HK_E(UNAVAILABLE)) { /* a connection not of huike's has it open */
        hk_err_clear(err);
        return 0;
    }
    return rc;
}

/* hk_db_load_poll: whether a connection knocks (waits to open the file, or for a lock). The
   test takes the knock lock exclusively on a descriptor of its own and lets it go. */
static bool sq_load_knocked(void *conn)
{
    struct presence *p = presence_of(conn);
    if (!p)
        return false;
    int fd = open(p->knock, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false; /* removed: nobody can be knocking on it */
    bool knocked = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd); /* releases the lock if taken */
    return knocked;
}

/* hk_db_load_poll: waits until nobody knocks, up to LOAD_YIELD_MS. Runs no SQL (the pipeline's
   writer may be using conn). */
static void sq_load_yield(void *conn)
{
    int64_t until = hk_monotonic_ms() + LOAD_YIELD_MS;
    while (sq_load_knocked(conn) && hk_monotonic_ms() < until)
        sleep_ms(2);
}

/* hk_db_bulk: a connection in bulk mode is a load's, which yields and never knocks. */
static void sq_load_mark(void *conn, bool on)
{
    struct presence *p = presence_of(conn);
    if (p)
        p->loader = on;
}

/* Rewrites $N to ?N in place, outside '...', "...", `...` and comments. */
static void sq_rewrite_params(char *sql)
{
    size_t n = strlen(sql);
    for (size_t i = 0; i < n; i++) {
        char c = sql[i];
        if (c == '\'' || c == '"' || c == '`') {
            /* A doubled quote inside closes and reopens the literal: same result. */
            for (i++; i < n && sql[i] != c; i++)
                ;
        } else if (c == '-' && sql[i + 1] == '-') {
            for (; i < n && sql[i] != '\n'; i++)
                ;
        } else if (c == '/' && sql[i + 1] == '*') {
            for (i += 2; i < n && !(sql[i] == '*' && sql[i + 1] == '/'); i++)
                ;
            i++;
        } else if (c == '$' && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
            sql[i] = '?';
        }
    }
}

static int sq_prepare(void *conn, const char *name, const char *sql, void **out, struct hk_err *err)
{
    sqlite3 *db = conn;
    struct sq_stmt *s = NULL;
    const char *tail = NULL;
    char *text = hk_strdup(sql);
    int rc;

    if (!text)
        return hk_store_fail(err, HK_FAULT_NOMEM, name, NULL);
    sq_rewrite_params(text);
    s = calloc(1, sizeof(*s));
    if (!s) {
        rc = hk_store_fail(err, HK_FAULT_NOMEM, name, NULL);
        goto fail;
    }
    s->db = db;
    s->name = name;
    rc = sqlite3_prepare_v3(db, text, -1, SQLITE_PREPARE_PERSISTENT, &s->st, &tail);
    knock_idle(db); /* reading the schema may have waited */
    if (rc != SQLITE_OK) {
        rc = hk_store_fail(err, sq_fault(rc), name, sqlite3_errmsg(db));
        goto fail;
    }
    if (!s->st) {
        rc = hk_store_fail(err, HK_FAULT_OTHER, name, "no SQL statement in the text");
        goto fail;
    }
    for (; tail && *tail; tail++) {
        if (*tail != ' ' && *tail != '\n' && *tail != '\t' && *tail != '\r' && *tail != ';') {
            rc = hk_store_fail(err, HK_FAULT_OTHER, name, /* HK_E(STORE), as on PostgreSQL */
                               "a named statement must hold exactly one SQL statement");
            goto fail;
        }
    }
    free(text);
    *out = s;
    return 0;

fail:
    if (s)
        sqlite3_finalize(s->st);
    free(s);
    free(text);
    return rc;
}

static void sq_finalize(void *stmt)
{
    struct sq_stmt *s = stmt;
    sqlite3_finalize(s->st);
    free(s);
}

static int sq_bind_rc(int rc)
{
    switch (rc) {
    case SQLITE_OK:
        return 0;
    case SQLITE_NOMEM:
        return HK_E(NOMEM);
    case SQLITE_RANGE:
    case SQLITE_TOOBIG:
    case SQLITE_MISUSE:
        return HK_E(INVAL);
    default:
        return HK_E(STORE);
    }
}

static int sq_bind_int64(void *stmt, int idx, int64_t v)
{
    return sq_bind_rc(sqlite3_bind_int64(((struct sq_stmt *)stmt)->st, idx, v));
}

static int sq_bind_double(void *stmt, int idx, double v)
{
    return sq_bind_rc(sqlite3_bind_double(((struct sq_stmt *)stmt)->st, idx, v));
}

static int sq_bind_text(void *stmt, int idx, const char *s, size_t len)
{
    return sq_bind_rc(sqlite3_bind_text64(((struct sq_stmt *)stmt)->st, idx, s, len,
                                          SQLITE_TRANSIENT, SQLITE_UTF8));
}

static int sq_bind_blob(void *stmt, int idx, const void *p, size_t len)
{
    sqlite3_stmt *st = ((struct sq_stmt *)stmt)->st;
    /* sqlite3_bind_blob would bind NULL for an empty blob; an empty blob is not NULL. */
    if (len == 0)
        return sq_bind_rc(sqlite3_bind_zeroblob(st, idx, 0));
    return sq_bind_rc(sqlite3_bind_blob64(st, idx, p, len, SQLITE_TRANSIENT));
}

static int sq_bind_null(void *stmt, int idx)
{
    return sq_bind_rc(sqlite3_bind_null(((struct sq_stmt *)stmt)->st, idx));
}

static int sq_step(void *stmt, struct hk_err *err)
{
    struct sq_stmt *s = stmt;
    char reason[256];

    if (!s->running) {
        s->running = true;
        s->total_before = sqlite3_total_changes64(s->db);
    }
    int rc = sqlite3_step(s->st);
    if (rc == SQLITE_ROW)
        return HK_ROW;
    s->running = false;
    if (rc == SQLITE_DONE) {
        /* sqlite3_changes64 keeps the count of the last INSERT/UPDATE/DELETE on the connection;
         * it belongs to this statement only if this statement changed something. */
        s->changes =
            sqlite3_total_changes64(s->db) != s->total_before ? sqlite3_changes64(s->db) : 0;
        sqlite3_reset(s->st);
        knock_idle(s->db);
        return HK_DONE;
    }
    hk_strlcpy(reason, sqlite3_errmsg(s->db), sizeof(reason));
    sqlite3_reset(s->st);
    knock_idle(s->db);
    return hk_store_fail(err, sq_fault(rc), s->name, reason);
}

static int64_t sq_changes(void *stmt)
{
    return ((struct sq_stmt *)stmt)->changes;
}

static void sq_reset(void *stmt)
{
    struct sq_stmt *s = stmt;
    sqlite3_reset(s->st);
    sqlite3_clear_bindings(s->st);
    s->running = false;
    knock_idle(s->db);
}

static int sq_columns(void *stmt)
{
    return sqlite3_column_count(((struct sq_stmt *)stmt)->st);
}

static bool sq_is_null(void *stmt, int col)
{
    return sqlite3_column_type(((struct sq_stmt *)stmt)->st, col) == SQLITE_NULL;
}

static int64_t sq_column_int64(void *stmt, int col)
{
    return sqlite3_column_int64(((struct sq_stmt *)stmt)->st, col);
}

static double sq_column_double(void *stmt, int col)
{
    return sqlite3_column_double(((struct sq_stmt *)stmt)->st, col);
}

static const char *sq_column_text(void *stmt, int col, size_t *len)
{
    sqlite3_stmt *st = ((struct sq_stmt *)stmt)->st;
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return NULL;
    const char *t = (const char *)sqlite3_column_text(st, col);
    if (len)
        *len = t ? (size_t)sqlite3_column_bytes(st, col) : 0;
    return t;
}

static const void *sq_column_blob(void *stmt, int col, size_t *len)
{
    sqlite3_stmt *st = ((struct sq_stmt *)stmt)->st;
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return NULL;
    const void *p = sqlite3_column_blob(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    if (len)
        *len = p ? n : 0;
    return p ? p : ""; /* SQLite returns NULL for an empty blob; it is not SQL NULL */
}

/* ---- bulk loading: multi-row INSERTs ------------------------------------------------------
 *
 * Values are kept (text and blobs copied into one buffer) until SQ_COPY_GROUP rows are complete,
 * then bound to one prepared INSERT of that many rows and stepped; the rows left at the end go in
 * one INSERT of their own. Against one single-row INSERT a row this halves SQLite's statement
 * overhead (cursor opening, VdbeHalt, reset) per row: order_items 1.85 -> 1.15 s of writer CPU per
 * 1M lines. OR FAIL, not the default ABORT: with ABORT a statement of several rows that may hit a
 * constraint needs a statement journal, into which SQLite copies every page the statement
 * touches first — for the identities' random unique index more than the INSERT saved (1.6 ->
 * 2.0 s). A failure still ends the copy and the caller rolls the transaction (or savepoint) back
 * (store.h), so rows a failed group wrote before the failing one never stay.
 */

#define SQ_COPY_GROUP 32

struct sq_val {
    int type; /* SQLITE_INTEGER, SQLITE_TEXT, SQLITE_BLOB or SQLITE_NULL */
    int64_t i;
    size_t at, n; /* text and blobs: bytes at c->buf + at */
};

struct sq_copy {
    sqlite3 *db;
    char *head;          /* "INSERT OR FAIL INTO t (cols) VALUES " */
    char *row;           /* "(?,?,...)" */
    sqlite3_stmt *group; /* group rows, prepared at the first full group */
    int ncols, col, rows;
    int group_rows;      /* SQ_COPY_GROUP, fewer if the rows' parameters would pass the limit */
    struct sq_val *vals; /* group_rows * ncols */
    unsigned char *buf;  /* the group's text and blobs */
    size_t len, cap;
};

static int sq_copy_prepare(struct sq_copy *c, int rows, sqlite3_stmt **out)
{
    size_t hl = strlen(c->head), rl = strlen(c->row);
    char *sql = malloc(hl + (size_t)rows * (rl + 1) + 1);
    if (!sql)
        return SQLITE_NOMEM;
    memcpy(sql, c->head, hl);
    size_t len = hl;
    for (int r = 0; r < rows; r++) {
        if (r)
            sql[len++] = ',';
        memcpy(sql + len, c->row, rl);
        len += rl;
    }
    sql[len] = '\0';
    int rc = sqlite3_prepare_v3(c->db, sql, (int)len + 1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    free(sql);
    return rc;
}

static int sq_copy_bind(const struct sq_copy *c, sqlite3_stmt *st, int idx, const struct sq_val *v)
{
    switch (v->type) {
    case SQLITE_INTEGER:
        return sqlite3_bind_int64(st, idx, v->i);
    case SQLITE_TEXT:
        /* empty text is not SQL NULL either: never bind a null pointer */
        return sqlite3_bind_text64(st, idx, v->n ? (const char *)c->buf + v->at : "", v->n,
                                   SQLITE_STATIC, SQLITE_UTF8);
    case SQLITE_BLOB:
        /* an empty blob is not SQL NULL */
        return v->n ? sqlite3_bind_blob64(st, idx, c->buf + v->at, v->n, SQLITE_STATIC)
                    : sqlite3_bind_zeroblob(st, idx, 0);
    default:
        return sqlite3_bind_null(st, idx);
    }
}

/* Binds the first rows kept rows to st and steps it. */
static int sq_copy_flush(struct sq_copy *c, sqlite3_stmt *st, int rows)
{
    int rc = SQLITE_OK;
    for (int i = 0; i < rows * c->ncols && rc == SQLITE_OK; i++)
        rc = sq_copy_bind(c, st, i + 1, &c->vals[i]);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_DONE)
        rc = SQLITE_OK;
    sqlite3_reset(st);
    c->len = 0;
    return rc;
}

static int sq_copy_fail(struct sq_copy *c, int rc, struct hk_err *err)
{
    char reason[256];
    hk_strlcpy(reason, sqlite3_errmsg(c->db), sizeof reason);
    int ext = sqlite3_extended_errcode(c->db);
    return hk_store_fail(err, sq_fault(ext != SQLITE_OK ? ext : rc), "copy", reason);
}

static void sq_copy_free(struct sq_copy *c)
{
    if (!c)
        return;
    sqlite3_finalize(c->group);
    free(c->head);
    free(c->row);
    free(c->vals);
    free(c->buf);
    free(c);
}

/* A copy into table; slots: with room for a group's values (not needed by copy_encoded). */
static int sq_copy_new(void *conn, const char *table, const char *columns, int ncols, bool slots,
                       void **out, struct hk_err *err)
{
    struct sq_copy *c = calloc(1, sizeof(*c));
    size_t size = strlen(table) + strlen(columns) + 48;
    int group = ncols > 0 ? sqlite3_limit(conn, SQLITE_LIMIT_VARIABLE_NUMBER, -1) / ncols : 1;
    group = group < 1 ? 1 : group > SQ_COPY_GROUP ? SQ_COPY_GROUP : group;
    if (c) {
        c->head = malloc(size);
        c->row = malloc((size_t)ncols * 2 + 2);
        c->vals = slots ? calloc((size_t)group * (size_t)ncols, sizeof *c->vals) : NULL;
        c->group_rows = group;
    }
    if (!c || !c->head || !c->row || (slots && !c->vals)) {
        sq_copy_free(c);
        return hk_store_fail(err, HK_FAULT_NOMEM, "copy", "out of memory");
    }
    snprintf(c->head, size, "INSERT OR FAIL INTO %s (%s) VALUES ", table, columns);
    size_t len = 0;
    c->row[len++] = '(';
    for (int i = 0; i < ncols; i++) {
        if (i)
            c->row[len++] = ',';
        c->row[len++] = '?';
    }
    c->row[len++] = ')';
    c->row[len] = '\0';
    c->db = conn;
    c->ncols = ncols;
    *out = c;
    return 0;
}

static int sq_copy_begin(void *conn, const char *table, const char *columns, int ncols, void **out,
                         struct hk_err *err)
{
    return sq_copy_new(conn, table, columns, ncols, true, out, err);
}

static struct sq_val *sq_copy_slot(void *copy)
{
    struct sq_copy *c = copy;
    return &c->vals[c->rows * c->ncols + c->col++];
}

static int sq_copy_int64(void *copy, int64_t v)
{
    struct sq_val *s = sq_copy_slot(copy);
    s->type = SQLITE_INTEGER;
    s->i = v;
    return 0;
}

/* Keeps len bytes at p in the group's buffer. */
static int sq_copy_bytes(void *copy, int type, const void *p, size_t len)
{
    struct sq_copy *c = copy;
    if (len > c->cap - c->len) {
        size_t cap = c->cap ? c->cap : 4096;
        while (len > cap - c->len)
            cap *= 2;
        unsigned char *b = realloc(c->buf, cap);
        if (!b)
            return -1;
        c->buf = b;
        c->cap = cap;
    }
    struct sq_val *s = sq_copy_slot(c);
    s->type = type;
    s->at = c->len;
    s->n = len;
    if (len)
        memcpy(c->buf + c->len, p, len);
    c->len += len;
    return 0;
}

static int sq_copy_text(void *copy, const char *p, size_t len)
{
    return sq_copy_bytes(copy, SQLITE_TEXT, p, len);
}

static int sq_copy_blob(void *copy, const void *p, size_t len)
{
    return sq_copy_bytes(copy, SQLITE_BLOB, p, len);
}

static int sq_copy_null(void *copy)
{
    sq_copy_slot(copy)->type = SQLITE_NULL;
    return 0;
}

static int sq_copy_row(void *copy, struct hk_err *err)
{
    struct sq_copy *c = copy;
    c->col = 0;
    if (++c->rows < c->group_rows)
        return 0;
    c->rows = 0;
    int rc = c->group ? SQLITE_OK : sq_copy_prepare(c, c->group_rows, &c->group);
    if (rc == SQLITE_OK)
        rc = sq_copy_flush(c, c->group, c->group_rows);
    return rc == SQLITE_OK ? 0 : sq_copy_fail(c, rc, err);
}

static int sq_copy_end(void *copy, bool ok, struct hk_err *err)
{
    struct sq_copy *c = copy;
    int rc = SQLITE_OK;
    if (ok && c->rows > 0) {
        sqlite3_stmt *st = NULL;
        rc = sq_copy_prepare(c, c->rows, &st);
        if (rc == SQLITE_OK)
            rc = sq_copy_flush(c, st, c->rows);
        sqlite3_finalize(st);
    }
    int out = rc == SQLITE_OK ? 0 : sq_copy_fail(c, rc, err);
    knock_idle(c->db);
    sq_copy_free(c);
    return out;
}

/* sq_bind_encoded's answer for a row that does not have ncols values, or a buffer that ends
   inside one. */
#define SQ_MALFORMED (-1)

/* What a parameter of a copy's group statement holds from the group before (SQLite keeps
   bindings across sqlite3_reset; text and blobs point into the same recorded buffer, alive for
   the whole copy). */
struct sq_bound {
    int tag; /* HK_PIPE_V_*; 0: nothing bound yet */
    int64_t i;
    const unsigned char *p;
    size_t n;
};

static bool sq_bound_same(const struct sq_bound *b, const struct hk_pipe_value *v)
{
    if (b->tag != v->tag)
        return false;
    if (v->tag == HK_PIPE_V_INT)
        return b->i == v->i;
    if (v->tag == HK_PIPE_V_TEXT || v->tag == HK_PIPE_V_BLOB)
        return b->n == v->n && memcmp(b->p, v->p, v->n) == 0;
    return true; /* NULL */
}

/*
 * Binds the next rows rows of a pipeline's encoded copy (HK_PIPE_V_*, store_int.h), from *at on,
 * to st's parameters in place (the buffer outlives the statement's execution) and moves *at past
 * them. SQLITE_OK, a binding's failure, or SQ_MALFORMED. With last (the group statement: one
 * entry per parameter), a value equal to the one its parameter already holds from the group
 * before is not bound again: a copy's constant columns (shop, source, now, the empty notes, zeros,
 * NULLs) are about a quarter of its values, and a bind costs 70–180 instructions where the
 * comparison costs 10–20 (100k lines: binding was a fifth of the writer thread).
 */
static int sq_bind_encoded(sqlite3_stmt *st, int ncols, int rows, const unsigned char *buf,
                           size_t len, size_t *at, struct sq_bound *last)
{
    int idx = 0;
    struct hk_pipe_value v = {0};
    for (int r = 0; r < rows; r++) {
        for (int col = 0;; col++) {
            if (!hk_pipe_value_next(buf, len, at, &v))
                return SQ_MALFORMED;
            if (v.tag == HK_PIPE_V_ROW) {
                if (col != ncols)
                    return SQ_MALFORMED;
                break;
            }
            if (col == ncols)
                return SQ_MALFORMED;
            int p = ++idx;
            if (last && sq_bound_same(&last[p - 1], &v))
                continue;
            int rc;
            /* empty text and blobs are not SQL NULL: never bind a null pointer */
            if (v.tag == HK_PIPE_V_INT)
                rc = sqlite3_bind_int64(st, p, v.i);
            else if (v.tag == HK_PIPE_V_TEXT)
                rc = sqlite3_bind_text64(st, p, v.n ? (const char *)v.p : "", v.n, SQLITE_STATIC,
                                         SQLITE_UTF8);
            else if (v.tag == HK_PIPE_V_BLOB)
                rc = v.n ? sqlite3_bind_blob64(st, p, v.p, v.n, SQLITE_STATIC)
                         : sqlite3_bind_zeroblob(st, p, 0);
            else
                rc = sqlite3_bind_null(st, p);
            if (rc != SQLITE_OK)
                return rc;
            if (last)
                last[p - 1] = (struct sq_bound){v.tag, v.i, v.p, v.n};
        }
    }
    return SQLITE_OK;
}

/*
 * hk_store_ops.copy_encoded: a pipelined copy bound straight from the pipeline's buffer, in
 * INSERTs of SQ_COPY_GROUP rows as sq_copy_row does, without copying each value into the copy's
 * own slots first and binding it from there (100k lines: 7 % of the writer thread's
 * instructions, callgrind).
 */
static int sq_copy_encoded(void *conn, const char *table, const char *columns, int ncols,
                           const unsigned char *buf, size_t len, size_t nrows, struct hk_err *err)
{
    void *impl;
    int rc = sq_copy_new(conn, table, columns, ncols, false, &impl, err);
    if (rc < 0)
        return rc;
    struct sq_copy *c = impl;
    sqlite3_stmt *tail = NULL;
    size_t at = 0;
    /* the group statement's parameters, when it runs twice or more (NULL, out of memory too:
       then every value is bound) */
    struct sq_bound *last = nrows >= (size_t)c->group_rows * 2
                                ? calloc((size_t)c->group_rows * (size_t)ncols, sizeof *last)
                                : NULL;
    for (size_t left = nrows; rc == SQLITE_OK && left > 0;) {
        int rows = left >= (size_t)c->group_rows ? c->group_rows : (int)left;
        bool group = rows == c->group_rows;
        sqlite3_stmt **st = group ? &c->group : &tail;
        if (!*st)
            rc = sq_copy_prepare(c, rows, st);
        if (rc == SQLITE_OK)
            rc = sq_bind_encoded(*st, ncols, rows, buf, len, &at, group ? last : NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_step(*st)) == SQLITE_DONE)
            rc = SQLITE_OK;
        if (*st)
            sqlite3_reset(*st);
        left -= (size_t)rows;
    }
    if (rc == SQLITE_OK && at != len)
        rc = SQ_MALFORMED;
    free(last);
    sqlite3_finalize(tail);
    int out = rc == SQLITE_OK      ? 0
              : rc == SQ_MALFORMED ? hk_store_fail(err, HK_FAULT_OTHER, "copy",
                                                   "a recorded row does not match the columns")
                                   : sq_copy_fail(c, rc, err);
    knock_idle(c->db);
    sq_copy_free(c);
    return out;
}

static int sq_next_ids(void *conn, const char *table, size_t n, int64_t floor, int64_t *ids,
                       struct hk_err *err)
{
    char sql[96];
    sqlite3_stmt *st;
    snprintf(sql, sizeof sql, "SELECT max(id) FROM %s", table);
    int rc = sqlite3_prepare_v2(conn, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            int64_t max = sqlite3_column_int64(st, 0);
            int64_t next = (max > floor ? max : floor) + 1;
            for (size_t i = 0; i < n; i++)
                ids[i] = next + (int64_t)i;
            rc = SQLITE_OK;
        }
    }
    return sq_raw_done(conn, st, rc, "next ids", err);
}

const struct hk_store_ops hk_store_sqlite_ops = {
    .backend = HK_STORE_SQLITE,
    .name = "sqlite",
    .id_type = "INTEGER PRIMARY KEY",
    .blob_type = "BLOB",
    .table_exists_sql = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
    /* 64 MiB of page cache (negative: KiB) and a checkpoint per ~80 MB of WAL; the defaults
     * (2 MiB, 1000 pages) make a bulk write re-read and re-checkpoint its random index pages
     * in every batch. Restoring cache_size also frees the cache. */
    .bulk_on_sql = "PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 20000;"
                   " PRAGMA temp_store = MEMORY;",
    .bulk_off_sql = "PRAGMA cache_size = -2000; PRAGMA wal_autocheckpoint = 1000;"
                    " PRAGMA temp_store = DEFAULT;",
    .connect = sq_connect,
    .disconnect = sq_disconnect,
    .usable = sq_usable,
    .ping = sq_ping,
    .exec_script = sq_exec_script,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .savepoint = sq_savepoint,
    .savepoint_release = sq_savepoint_release,
    .savepoint_rollback = sq_savepoint_rollback,
    .migration_lock = sq_migration_lock,
    .migration_unlock = sq_migration_unlock,
    .load_lock = sq_load_lock,
    .load_unlock = sq_load_unlock,
    .load_journal = sq_load_journal,
    .load_knocked = sq_load_knocked,
    .load_yield = sq_load_yield,
    .load_mark = sq_load_mark,
    .prepare = sq_prepare,
    .finalize = sq_finalize,
    .bind_int64 = sq_bind_int64,
    .bind_double = sq_bind_double,
    .bind_text = sq_bind_text,
    .bind_blob = sq_bind_blob,
    .bind_null = sq_bind_null,
    .step = sq_step,
    .changes = sq_changes,
    .reset = sq_reset,
    .columns = sq_columns,
    .is_null = sq_is_null,
    .column_int64 = sq_column_int64,
    .column_double = sq_column_double,
    .column_text = sq_column_text,
    .column_blob = sq_column_blob,
    .copy_begin = sq_copy_begin,
    .copy_int64 = sq_copy_int64,
    .copy_text = sq_copy_text,
    .copy_blob = sq_copy_blob,
    .copy_null = sq_copy_null,
    .copy_row = sq_copy_row,
    .copy_end = sq_copy_end,
    .copy_encoded = sq_copy_encoded,
    .ids_are_max_plus_one = true,
    .next_ids = sq_next_ids,
};
