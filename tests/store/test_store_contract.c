/*
 * test_store_contract.c — the store contract (src/store/store.h), run unchanged on both backends.
 *
 * ctest runs this executable twice:
 *   HUIKE_TEST_BACKEND=sqlite     every database is a fresh file in a private temp directory;
 *   HUIKE_TEST_BACKEND=postgres   every database is a fresh, randomly named database created in
 *                                 the throw-away cluster whose URL is in the file named by
 *                                 HUIKE_TEST_PG_URL_FILE (tests/pg-cluster.sh), dropped at exit.
 * The group setup creates one migrated database plus a few test tables; tests that need an empty
 * database (migrations) make their own. Tests clean the tables they use before they start, so
 * they do not depend on order.
 *
 * This file is the one place outside src/store/ that contains SQL. The only backend-specific
 * text is the auto-id column type of the test tables (what @ID@ expands to in migrations).
 *
 * Threads in the pool tests never call cmocka (it is not thread-safe): they count failures and
 * the main thread asserts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "store/store.h"

#define MAX_TARGETS 8
#define NOW         1767225600 /* 2026-01-01T00:00:00Z */

struct fixture {
    bool pg;
    char tmpdir[256];               /* SQLite: where the files go */
    char admin_url[512];            /* PostgreSQL: the cluster's URL */
    char targets[MAX_TARGETS][640]; /* every database made, for cleanup */
    char pg_names[MAX_TARGETS][64]; /* PostgreSQL database names */
    int ntargets;
    struct hk_store *store; /* migrated, with the test tables */
};

#define CHECK(call)                                                                                \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ < 0)                                                                               \
            fail_msg("%s failed (%d): %s", #call, rc_, err.msg);                                   \
    } while (0)

/* ---- databases ------------------------------------------------------------------------- */

static void random_hex(char *out, size_t nbytes)
{
    unsigned char b[16] = {0};
    int fd = open("/dev/urandom", O_RDONLY);
    assert_true(fd >= 0);
    assert_true(nbytes <= sizeof(b));
    assert_int_equal(read(fd, b, nbytes), (ssize_t)nbytes);
    close(fd);
    for (size_t i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void pg_admin(const struct fixture *f, const char *sql)
{
    PGconn *c = PQconnectdb(f->admin_url);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "admin connect: %s", PQerrorMessage(c));
        PQfinish(c);
        fail();
    }
    PGresult *r = PQexec(c, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    assert_true(ok);
}

/* Makes a new, empty database and returns its URL or path (borrowed from f). */
static const char *fresh_target(struct fixture *f)
{
    assert_true(f->ntargets < MAX_TARGETS);
    char *t = f->targets[f->ntargets];
    char hex[17];
    random_hex(hex, 8);
    if (!f->pg) {
        snprintf(t, sizeof(f->targets[0]), "%s/store_%s.db", f->tmpdir, hex);
    } else {
        char *name = f->pg_names[f->ntargets];
        char sql[128];
        snprintf(name, sizeof(f->pg_names[0]), "hk_store_test_%s", hex);
        snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
        pg_admin(f, sql);
        /* Same URL with the path replaced by the new database. */
        const char *scheme = strstr(f->admin_url, "://");
        assert_non_null(scheme);
        const char *slash = strchr(scheme + 3, '/');
        const char *query = strchr(scheme + 3, '?');
        size_t head = slash   ? (size_t)(slash - f->admin_url)
                      : query ? (size_t)(query - f->admin_url)
                              : strlen(f->admin_url);
        /* Built in a local buffer: t and admin_url share the struct, which -Wrestrict dislikes. */
        char url[sizeof(f->targets[0])];
        snprintf(url, sizeof(url), "%.*s/%s%s", (int)head, f->admin_url, name, query ? query : "");
        memcpy(t, url, sizeof(url));
    }
    f->ntargets++;
    return t;
}

static void drop_targets(struct fixture *f)
{
    for (int i = 0; i < f->ntargets; i++) {
        if (f->pg) {
            char sql[128];
            snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->pg_names[i]);
            pg_admin(f, sql);
        } else {
            static const char *const suffix[] = {"",          "-wal",  "-shm",  "-journal",
                                                 "-loadlock", "-open", "-knock"};
            for (size_t j = 0; j < sizeof(suffix) / sizeof(suffix[0]); j++) {
                char p[700];
                snprintf(p, sizeof(p), "%s%s", f->targets[i], suffix[j]);
                unlink(p);
            }
        }
    }
    f->ntargets = 0;
}

static const char *id_type(const struct fixture *f)
{
    return f->pg ? "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY" : "INTEGER PRIMARY KEY";
}

/* ---- SQL helpers ----------------------------------------------------------------------- */

static void run(struct hk_db *db, const char *name, const char *sql)
{
    struct hk_err err = {0};
    struct hk_stmt *st;
    CHECK(hk_db_stmt(db, name, sql, &st, &err));
    CHECK(hk_stmt_exec(st, &err));
}

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

static int64_t count_key(struct hk_db *db, const char *k)
{
    struct hk_err err = {0};
    struct hk_stmt *st;
    CHECK(hk_db_stmt(db, "count_key", "SELECT count(*) FROM t_items WHERE k = $1", &st, &err));
    CHECK(hk_stmt_bind_text(st, 1, k, (size_t)-1));
    assert_int_equal(hk_stmt_step(st, &err), HK_ROW);
    int64_t v = hk_stmt_int64(st, 0);
    hk_stmt_reset(st);
    return v;
}

static int insert_item(struct hk_db *db, const char *k, int64_t v, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "item_insert", "INSERT INTO t_items (k, v) VALUES ($1, $2)", &st, err);
    if (rc < 0)
        return rc;
    hk_stmt_bind_text(st, 1, k, (size_t)-1);
    hk_stmt_bind_int64(st, 2, v);
    return hk_stmt_exec(st, err);
}

static void clean(struct hk_db *db)
{
    run(db, "clean_child", "DELETE FROM t_child");
    run(db, "clean_items", "DELETE FROM t_items");
    run(db, "clean_values", "DELETE FROM t_values");
    run(db, "clean_pool", "DELETE FROM t_pool");
}

/* ---- group setup ----------------------------------------------------------------------- */

static int group_setup(void **state)
{
    struct hk_err err = {0};
    struct fixture *f = calloc(1, sizeof(*f));
    const char *backend = getenv("HUIKE_TEST_BACKEND");
    char ddl[512];

    if (!f)
        return -1;
    f->pg = backend && strcmp(backend, "postgres") == 0;
    if (f->pg) {
        const char *file = getenv("HUIKE_TEST_PG_URL_FILE");
        FILE *fp = file ? fopen(file, "r") : NULL;
        if (!fp) {
            fprintf(stderr, "HUIKE_TEST_PG_URL_FILE not set or unreadable\n");
            free(f);
            return -1;
        }
        if (!fgets(f->admin_url, sizeof(f->admin_url), fp))
            f->admin_url[0] = '\0';
        fclose(fp);
        f->admin_url[strcspn(f->admin_url, "\r\n")] = '\0';
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(f->tmpdir, sizeof(f->tmpdir), "%s/hk_store_XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(f->tmpdir)) {
            free(f);
            return -1;
        }
    }
    *state = f;

    const char *target = fresh_target(f);
    CHECK(hk_store_open(target, NULL, &f->store, &err));
    CHECK(hk_store_migrate(f->store, NOW, NULL, NULL, &err));

    struct hk_db *db;
    CHECK(hk_db_acquire(f->store, &db, &err));
    snprintf(ddl, sizeof(ddl),
             "CREATE TABLE t_values (id BIGINT PRIMARY KEY, i BIGINT, d DOUBLE PRECISION,"
             " s TEXT, b %s)",
             f->pg ? "BYTEA" : "BLOB");
    run(db, "ddl_values", ddl);
    snprintf(ddl, sizeof(ddl),
             "CREATE TABLE t_items (id %s, k TEXT NOT NULL UNIQUE, v BIGINT NOT NULL DEFAULT 0)",
             id_type(f));
    run(db, "ddl_items", ddl);
    snprintf(ddl, sizeof(ddl),
             "CREATE TABLE t_child (id %s, item_id BIGINT NOT NULL REFERENCES t_items(id))",
             id_type(f));
    run(db, "ddl_child", ddl);
    snprintf(ddl, sizeof(ddl),
             "CREATE TABLE t_pool (id %s, thread INTEGER NOT NULL, n INTEGER NOT NULL)",
             id_type(f));
    run(db, "ddl_pool", ddl);
    hk_db_release(db);
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;
    hk_store_close(f->store);
    drop_targets(f);
    if (!f->pg)
        rmdir(f->tmpdir);
    free(f);
    return 0;
}

/* ---- migrations ------------------------------------------------------------------------ */

static void store_migrate__from_empty_to_latest_then_is_a_noop(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_store *s;
    struct hk_db *db;
    struct hk_stmt *st;
    int from = -1, to = -1, v = -1;

    assert_true(hk_store_latest_version() >= 1);
    CHECK(hk_store_open(fresh_target(f), NULL, &s, &err));
    CHECK(hk_store_schema_version(s, &v, &err));
    assert_int_equal(v, 0);

    CHECK(hk_store_migrate(s, NOW, &from, &to, &err));
    assert_int_equal(from, 0);
    assert_int_equal(to, hk_store_latest_version());
    CHECK(hk_store_schema_version(s, &v, &err));
    assert_int_equal(v, hk_store_latest_version());

    CHECK(hk_store_migrate(s, NOW + 60, &from, &to, &err));
    assert_int_equal(from, hk_store_latest_version());
    assert_int_equal(to, hk_store_latest_version());

    CHECK(hk_db_acquire(s, &db, &err));
    CHECK(hk_db_stmt(db, "sv_first",
                     "SELECT name, applied_at FROM schema_version WHERE version = 1", &st, &err));
    assert_int_equal(hk_stmt_step(st, &err), HK_ROW);
    assert_string_equal(hk_stmt_text(st, 0, NULL), "init");
    assert_int_equal(hk_stmt_int64(st, 1), NOW); /* the re-run recorded nothing new */
    assert_int_equal(hk_stmt_step(st, &err), HK_DONE);
    assert_int_equal(scalar(db, "sv_dupes",
                            "SELECT count(*) - count(DISTINCT version) FROM "
                            "schema_version"),
                     0);
    /* The schema is really there: 0001 seeds the five roles. */
    assert_int_equal(scalar(db, "roles_count", "SELECT count(*) FROM roles"), 5);
    if (!f->pg) /* a new SQLite file is made of 16 KiB pages (sqlite.c) */
        assert_int_equal(scalar(db, "page_size", "PRAGMA page_size"), 16384);
    hk_db_release(db);
    hk_store_close(s);
}

struct migrate_arg {
    struct hk_store *s;
    int rc;
    char msg[HK_ERR_MSG_MAX];
};

static void *migrate_thread(void *p)
{
    struct migrate_arg *a = p;
    struct hk_err err = {0};
    a->rc = hk_store_migrate(a->s, NOW, NULL, NULL, &err);
    memcpy(a->msg, err.msg, sizeof(a->msg));
    return NULL;
}

static void store_migrate__concurrent_runs_apply_each_version_once(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_store *s1, *s2;
    struct migrate_arg args[4];
    pthread_t th[4];
    int v = -1;

    const char *target = fresh_target(f);
    CHECK(hk_store_open(target, NULL, &s1, &err));
    CHECK(hk_store_open(target, NULL, &s2, &err));
    for (int i = 0; i < 4; i++) {
        args[i] = (struct migrate_arg){.s = i % 2 ? s2 : s1};
        assert_int_equal(pthread_create(&th[i], NULL, migrate_thread, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        if (args[i].rc != 0)
            fail_msg("migrate %d: %d %s", i, args[i].rc, args[i].msg);
    }
    CHECK(hk_store_schema_version(s1, &v, &err));
    assert_int_equal(v, hk_store_latest_version());
    struct hk_db *db;
    CHECK(hk_db_acquire(s2, &db, &err));
    assert_int_equal(scalar(db, "sv_dupes",
                            "SELECT count(*) - count(DISTINCT version) FROM "
                            "schema_version"),
                     0);
    assert_int_equal(scalar(db, "roles_count", "SELECT count(*) FROM roles"), 5);
    hk_db_release(db);
    hk_store_close(s1);
    hk_store_close(s2);
}

/* ---- values ---------------------------------------------------------------------------- */

static void store_bind__every_type_round_trips(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    struct hk_stmt *st;
    static const char text1[] = "回客 O'Brien \"引号\" '';-- 顾客";
    static const unsigned char blob1[] = {0x00, 0x01, 0xff, 0x00, 'x', 0x00};
    size_t len;

    CHECK(hk_db_acquire(f->store, &db, &err));
    clean(db);
    const char *ins = "INSERT INTO t_values (id, i, d, s, b) VALUES ($1, $2, $3, $4, $5)";

    CHECK(hk_db_stmt(db, "values_insert", ins, &st, &err));
    CHECK(hk_stmt_bind_int64(st, 1, 1));
    CHECK(hk_stmt_bind_int64(st, 2, INT64_MAX));
    CHECK(hk_stmt_bind_double(st, 3, 3.141592653589793));
    CHECK(hk_stmt_bind_text(st, 4, text1, (size_t)-1));
    CHECK(hk_stmt_bind_blob(st, 5, blob1, sizeof(blob1)));
    CHECK(hk_stmt_exec(st, &err));

    CHECK(hk_db_stmt(db, "values_insert", ins, &st, &err));
    CHECK(hk_stmt_bind_int64(st, 1, 2));
    CHECK(hk_stmt_bind_int64(st, 2, INT64_MIN));
    CHECK(hk_stmt_bind_double(st, 3, -1.5e-300));
    CHECK(hk_stmt_bind_text(st, 4, "abc", 0)); /* empty, not NULL */
    CHECK(hk_stmt_bind_blob(st, 5, "", 0));    /* empty, not NULL */
    CHECK(hk_stmt_exec(st, &err));

    CHECK(hk_db_stmt(db, "values_insert", ins, &st, &err));
    CHECK(hk_stmt_bind_int64(st, 1, 3));
    CHECK(hk_stmt_bind_null(st, 2));
    CHECK(hk_stmt_bind_null(st, 3));
    CHECK(hk_stmt_bind_text(st, 4, NULL, 0));
    CHECK(hk_stmt_bind_blob(st, 5, NULL, 0));
    CHECK(hk_stmt_exec(st, &err));

    CHECK(hk_db_stmt(db, "values_insert", ins, &st, &err));
    CHECK(hk_stmt_bind_int64(st, 1, 4));
    CHECK(hk_stmt_bind_int64(st, 2, 0));
    CHECK(hk_stmt_bind_double(st, 3, 1e300));
    CHECK(hk_stmt_bind_text(st, 4, "前缀后缀", 6)); /* only the first two characters */
    assert_int_equal(hk_stmt_bind_text(st, 4, "a\0b", 3), HK_E(INVAL));
    CHECK(hk_stmt_exec(st, &err));

    CHECK(
        hk_db_stmt(db, "values_all", "SELECT id, i, d, s, b FROM t_values ORDER BY id", &st, &err));
    assert_int_equal(hk_stmt_columns(st), 5);

    assert_int_equal(hk_stmt_step(st, &err), HK_ROW);
    assert_int_equal(hk_stmt_int64(st, 0), 1);
    assert_true(hk_stmt_int64(st, 1) == INT64_MAX);
    assert_true(hk_stmt_double(st, 2) == 3.141592653589793);
    assert_string_equal(hk_stmt_text(st, 3, &len), text1);
    assert_int_equal(len, strlen(text1));
    const unsigned char *b = hk_stmt_blob(st, 4, &len);
    assert_non_null(b);
    assert_int_equal(len, sizeof(blob1));
    assert_memory_equal(b, blob1, sizeof(blob1));
    char small[8];
    hk_stmt_text_copy(st, 3, small, sizeof(small)); /* "回客 O" is 8 bytes: cut after 客 */
    assert_string_equal(small, "回客 ");
    hk_stmt_text_copy(st, 3, small, 3); /* no room for 回: empty rather than half of it */
    assert_string_equal(small, "");
    for (int c = 0; c < 5; c++)
        assert_false(hk_stmt_is_null(st, c));

    assert_int_equal(hk_stmt_step(st, &err), HK_ROW);
    assert_int_equal(hk_stmt_int64(st, 0), 2);
    assert_true(hk_stmt_int64(st, 1) == INT64_MIN);
    assert_true(hk_stmt_double(st, 2) == -1.5e-300);
    assert_false(hk_stmt_is_null(st, 3));
    assert_string_equal(hk_stmt_text(st, 3, &len), "");
    assert_int_equal(len, 0);
    assert_false(hk_stmt_is_null(st, 4));
    assert_non_null(hk_stmt_blob(st, 4, &len));
    assert_int_equal(len, 0);

    assert_int_equal(hk_stmt_step(st, &err), HK_ROW);
    assert_int_equal(hk_stmt_int64(st, 0), 3);
    for (int c = 1; c < 5; c++)
        assert_true(hk_stmt_is_null(st, c));
    assert_int_equal(hk_stmt_int64(st, 1), 0);
    assert_true(hk_stmt_double(st, 2) == 0.0);
    len = 99;
    assert_null(hk_stmt_text(st, 3, &len));
    assert_int_equal(len, 0);
    assert_null(hk_stmt_blob(st, 4, &len));
    hk_stmt_text_copy(st, 3, small, sizeof(small));
    assert_string_equal(small, "");

    assert_int_equal(hk_stmt_step(st, &err), HK_ROW);
    assert_int_equal(hk_stmt_int64(st, 0), 4);
    assert_true(hk_stmt_double(st, 2) == 1e300);
    assert_string_equal(hk_stmt_text(st, 3, NULL), "前缀");

    assert_int_equal(hk_stmt_step(st, &err), HK_DONE);
    /* Off a row, reads are 0 / NULL, never stale. */
    assert_int_equal(hk_stmt_int64(st, 0), 0);
    assert_null(hk_stmt_text(st, 3, NULL));
    hk_stmt_reset(st);
    hk_db_release(db);
}

static void store_params__reused_and_out_of_order(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    struct hk_stmt *st;

    CHECK(hk_db_acquire(f->store, &db, &err));
    clean(db);
    CHECK(hk_db_stmt(db, "item_insert_swapped", "INSERT INTO t_items (v, k) VALUES ($2, $1)", &st,
                     &err));
    CHECK(hk_stmt_bind_text(st, 1, "k-$1-'$2'", (size_t)-1)); /* $N inside a literal value */
    CHECK(hk_stmt_bind_int64(st, 2, 42));
    CHECK(hk_stmt_exec(st, &err));

    CHECK(hk_db_stmt(db, "params_mix",
                     "SELECT CAST($2 AS BIGINT) * 100 + CAST($1 AS BIGINT) * 10 + "
                     "CAST($2 AS BIGINT), '$1 stays', v FROM t_items /* $3 */ WHERE k = $3 -- $4\n"
                     "  AND v = CAST($2 AS BIGINT) * 6",
                     &st, &err));
    CHECK(hk_stmt_bind_int64(st, 2, 7));
    CHECK(hk_stmt_bind_int64(st, 1, 3));
    CHECK(hk_stmt_bind_text(st, 3, "k-$1-'$2'", (size_t)-1));
    assert_int_equal(hk_stmt_columns(st), 3);
    assert_int_equal(hk_stmt_step(st, &err), HK_ROW);
    assert_int_equal(hk_stmt_int64(st, 0), 737);
    assert_string_equal(hk_stmt_text(st, 1, NULL), "$1 stays");
    assert_int_equal(hk_stmt_int64(st, 2), 42);
    assert_int_equal(hk_stmt_step(st, &err), HK_DONE);

    /* Out-of-range parameter numbers are refused. */
    CHECK(hk_db_stmt(db, "count_key", "SELECT count(*) FROM t_items WHERE k = $1", &st, &err));
    assert_int_equal(hk_stmt_bind_int64(st, 2, 1), HK_E(INVAL));
    assert_int_equal(hk_stmt_bind_int64(st, 0, 1), HK_E(INVAL));
    hk_db_release(db);
}

/* ---- statements ------------------------------------------------------------------------ */

static void store_stmt__cache_returns_the_same_statement_reset(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    struct hk_stmt *a, *b;
    const char *q = "SELECT k FROM t_items WHERE v >= $1 ORDER BY k";

    CHECK(hk_db_acquire(f->store, &db, &err));
    clean(db);
    CHECK(insert_item(db, "a", 1, &err));
    CHECK(insert_item(db, "b", 2, &err));

    CHECK(hk_db_stmt(db, "items_from", q, &a, &err));
    CHECK(hk_stmt_bind_int64(a, 1, 0));
    assert_int_equal(hk_stmt_step(a, &err), HK_ROW);
    assert_string_equal(hk_stmt_text(a, 0, NULL), "a");
    /* Binding mid-execution is refused: reset first. */
    assert_int_equal(hk_stmt_bind_int64(a, 1, 5), HK_E(INVAL));

    CHECK(hk_db_stmt(db, "items_from", q, &b, &err));
    assert_ptr_equal(a, b);
    /* Reset, and its binding cleared: $1 is NULL, so nothing matches. */
    assert_int_equal(hk_stmt_step(b, &err), HK_DONE);
    assert_int_equal(hk_stmt_step(b, &err), HK_DONE); /* stays done until reset */

    CHECK(hk_db_stmt(db, "items_from", q, &b, &err));
    CHECK(hk_stmt_bind_int64(b, 1, 0));
    assert_int_equal(hk_stmt_step(b, &err), HK_ROW);
    assert_string_equal(hk_stmt_text(b, 0, NULL), "a"); /* from the start again */
    assert_int_equal(hk_stmt_step(b, &err), HK_ROW);
    assert_string_equal(hk_stmt_text(b, 0, NULL), "b");
    assert_int_equal(hk_stmt_step(b, &err), HK_DONE);
    hk_stmt_reset(b);

    /* Many statements on one connection (the cache grows). */
    for (int i = 0; i < 40; i++) {
        char name[32];
        struct hk_stmt *st;
        snprintf(name, sizeof(name), "many_%d", i);
        CHECK(hk_db_stmt(db, name, "SELECT count(*) FROM t_items WHERE v > $1", &st, &err));
        CHECK(hk_stmt_bind_int64(st, 1, i % 3));
        assert_int_equal(hk_stmt_step(st, &err), HK_ROW);
        assert_int_equal(hk_stmt_int64(st, 0), i % 3 == 0 ? 2 : i % 3 == 1 ? 1 : 0);
    }
    CHECK(hk_db_stmt(db, "items_from", q, &b, &err));
    assert_ptr_equal(a, b);
    hk_db_release(db);
}

static void store_stmt__bad_sql_names_the_statement(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    struct hk_stmt *st;

    CHECK(hk_db_acquire(f->store, &db, &err));
    assert_int_equal(hk_db_stmt(db, "broken_select", "SELECT nope FROM no_such_table", &st, &err),
                     HK_E(STORE));
    assert_non_null(strstr(err.msg, "broken_select"));
    assert_non_null(strstr(err.msg, "no_such_table"));
    /* The connection is still fine afterwards. */
    assert_int_equal(scalar(db, "one", "SELECT 1"), 1);
    hk_db_release(db);
    CHECK(hk_store_ping(f->store, &err));
    assert_string_equal(hk_store_backend_name(f->store), f->pg ? "postgresql" : "sqlite");
    assert_int_equal(hk_store_backend(f->store), f->pg ? HK_STORE_POSTGRES : HK_STORE_SQLITE);
}

static void store_stmt__returning_gives_the_new_id(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    struct hk_stmt *st;
    int64_t ids[3];

    CHECK(hk_db_acquire(f->store, &db, &err));
    clean(db);
    for (int i = 0; i < 3; i++) {
        char k[16];
        snprintf(k, sizeof(k), "ret%d", i);
        CHECK(hk_db_stmt(db, "item_insert_returning",
                         "INSERT INTO t_items (k, v) VALUES ($1, $2) RETURNING id, v", &st, &err));
        CHECK(hk_stmt_bind_text(st, 1, k, (size_t)-1));
        CHECK(hk_stmt_bind_int64(st, 2, 10 + i));
        assert_int_equal(hk_stmt_step(st, &err), HK_ROW);
        ids[i] = hk_stmt_int64(st, 0);
        assert_int_equal(hk_stmt_int64(st, 1), 10 + i);
        assert_int_equal(hk_stmt_step(st, &err), HK_DONE);
        assert_int_equal(hk_stmt_changes(st), 1);
        assert_true(ids[i] > 0);
        if (i > 0)
            assert_true(ids[i] > ids[i - 1]);
    }
    CHECK(hk_db_stmt(db, "item_by_id", "SELECT k FROM t_items WHERE id = $1", &st, &err));
    CHECK(hk_stmt_bind_int64(st, 1, ids[1]));
    assert_int_equal(hk_stmt_step(st, &err), HK_ROW);
    assert_string_equal(hk_stmt_text(st, 0, NULL), "ret1");
    hk_stmt_reset(st);
    hk_db_release(db);
}

static void store_stmt__upsert_inserts_then_updates(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    struct hk_stmt *st;
    static const int64_t add[] = {5, 3, 10};
    static const int64_t want[] = {5, 8, 18};

    CHECK(hk_db_acquire(f->store, &db, &err));
    clean(db);
    for (int i = 0; i < 3; i++) {
        CHECK(hk_db_stmt(db, "item_upsert",
                         "INSERT INTO t_items (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE "
                         "SET v = t_items.v + excluded.v RETURNING v",
                         &st, &err));
        CHECK(hk_stmt_bind_text(st, 1, "upsert", (size_t)-1));
        CHECK(hk_stmt_bind_int64(st, 2, add[i]));
        assert_int_equal(hk_stmt_step(st, &err), HK_ROW);
        assert_int_equal(hk_stmt_int64(st, 0), want[i]);
        assert_int_equal(hk_stmt_step(st, &err), HK_DONE);
        assert_int_equal(hk_stmt_changes(st), 1);
    }
    assert_int_equal(count_key(db, "upsert"), 1);
    hk_db_release(db);
}

static void store_stmt__changes_counts_rows_of_the_last_execution(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    struct hk_stmt *st;

    CHECK(hk_db_acquire(f->store, &db, &err));
    clean(db);
    for (int i = 1; i <= 5; i++) {
        char k[8];
        snprintf(k, sizeof(k), "c%d", i);
        CHECK(insert_item(db, k, i, &err));
    }
    CHECK(hk_db_stmt(db, "items_bump", "UPDATE t_items SET v = v + 10 WHERE v >= $1", &st, &err));
    CHECK(hk_stmt_bind_int64(st, 1, 3));
    CHECK(hk_stmt_exec(st, &err));
    assert_int_equal(hk_stmt_changes(st), 3); /* still there after exec's reset */

    CHECK(hk_db_stmt(db, "items_bump", "UPDATE t_items SET v = v + 10 WHERE v >= $1", &st, &err));
    CHECK(hk_stmt_bind_int64(st, 1, 1000));
    CHECK(hk_stmt_exec(st, &err));
    assert_int_equal(hk_stmt_changes(st), 0);

    CHECK(hk_db_stmt(db, "items_delete_over", "DELETE FROM t_items WHERE v > $1", &st, &err));
    CHECK(hk_stmt_bind_int64(st, 1, 13));
    CHECK(hk_stmt_exec(st, &err));
    assert_int_equal(hk_stmt_changes(st), 2);

    CHECK(hk_db_stmt(db, "items_all_k", "SELECT k FROM t_items", &st, &err));
    CHECK(hk_stmt_exec(st, &err));
    assert_int_equal(hk_stmt_changes(st), 0); /* reads change nothing */
    hk_db_release(db);
}

static void store_stmt__two_statements_interleave_on_one_db(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    struct hk_stmt *rd, *wr, *cnt;

    CHECK(hk_db_acquire(f->store, &db, &err));
    clean(db);
    for (int i = 0; i < 10; i++) {
        char k[8];
        snprintf(k, sizeof(k), "i%d", i);
        CHECK(insert_item(db, k, i, &err));
    }
    for (int pass = 0; pass < 2; pass++) { /* autocommit, then inside a transaction */
        if (pass == 1)
            CHECK(hk_db_begin(db, HK_TX_WRITE, &err));
        CHECK(hk_db_stmt(db, "items_ids", "SELECT id, v FROM t_items ORDER BY id", &rd, &err));
        int rows = 0;
        int rc;
        while ((rc = hk_stmt_step(rd, &err)) == HK_ROW) {
            CHECK(hk_db_stmt(db, "child_insert", "INSERT INTO t_child (item_id) VALUES ($1)", &wr,
                             &err));
            CHECK(hk_stmt_bind_int64(wr, 1, hk_stmt_int64(rd, 0)));
            CHECK(hk_stmt_exec(wr, &err));
            CHECK(hk_db_stmt(db, "child_count", "SELECT count(*) FROM t_child", &cnt, &err));
            assert_int_equal(hk_stmt_step(cnt, &err), HK_ROW);
            assert_int_equal(hk_stmt_int64(cnt, 0), pass * 10 + rows + 1);
            hk_stmt_reset(cnt);
            assert_int_equal(hk_stmt_int64(rd, 1), rows); /* the outer row is intact */
            rows++;
        }
        assert_int_equal(rc, HK_DONE);
        assert_int_equal(rows, 10);
        if (pass == 1)
            CHECK(hk_db_commit(db, &err));
    }
    assert_int_equal(scalar(db, "child_total", "SELECT count(*) FROM t_child"), 20);
    hk_db_release(db);
}

/* ---- transactions ---------------------------------------------------------------------- */

static void store_tx__commit_is_visible_rollback_is_not(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_db *db, *other;

    CHECK(hk_db_acquire(f->store, &db, &err));
    CHECK(hk_db_acquire(f->store, &other, &err));
    assert_ptr_not_equal(db, other);
    clean(db);

    assert_false(hk_db_in_tx(db));
    CHECK(hk_db_begin(db, HK_TX_WRITE, &err));
    assert_true(hk_db_in_tx(db));
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), HK_E(INVAL)); /* no nesting */
    CHECK(insert_item(db, "committed", 1, &err));
    assert_int_equal(count_key(db, "committed"), 1);
    assert_int_equal(count_key(other, "committed"), 0); /* not yet */
    CHECK(hk_db_commit(db, &err));
    assert_false(hk_db_in_tx(db));
    assert_int_equal(count_key(other, "committed"), 1);

    CHECK(hk_db_begin(db, HK_TX_WRITE, &err));
    CHECK(insert_item(db, "rolled_back", 1, &err));
    assert_int_equal(count_key(db, "rolled_back"), 1);
    hk_db_rollback(db);
    assert_false(hk_db_in_tx(db));
    assert_int_equal(count_key(db, "rolled_back"), 0);
    assert_int_equal(count_key(other, "rolled_back"), 0);
    hk_db_rollback(db); /* no-op without a transaction */
    assert_int_equal(hk_db_commit(db, &err), HK_E(INVAL));

    /* A read transaction sees committed data. */
    CHECK(hk_db_begin(other, HK_TX_READ, &err));
    assert_int_equal(count_key(other, "committed"), 1);
    CHECK(hk_db_commit(other, &err));
    hk_db_release(other);
    hk_db_release(db);
}

static void store_tx__savepoint_rollback_keeps_the_rest(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_db *db;

    CHECK(hk_db_acquire(f->store, &db, &err));
    clean(db);
    assert_int_equal(hk_db_savepoint(db, "outside", &err), HK_E(INVAL)); /* needs a tx */
    CHECK(hk_db_begin(db, HK_TX_WRITE, &err));
    assert_int_equal(hk_db_savepoint(db, "Bad-Name", &err), HK_E(INVAL));
    CHECK(insert_item(db, "sp_a", 1, &err));
    CHECK(hk_db_savepoint(db, "sp1", &err));
    CHECK(insert_item(db, "sp_b", 2, &err));
    CHECK(hk_db_savepoint_rollback(db, "sp1", &err));
    CHECK(insert_item(db, "sp_c", 3, &err));
    CHECK(hk_db_savepoint_release(db, "sp1", &err));
    CHECK(hk_db_savepoint(db, "sp2", &err));
    CHECK(insert_item(db, "sp_d", 4, &err));
    CHECK(hk_db_savepoint_release(db, "sp2", &err)); /* kept */
    CHECK(hk_db_commit(db, &err));
    assert_int_equal(count_key(db, "sp_a"), 1);
    assert_int_equal(count_key(db, "sp_b"), 0);
    assert_int_equal(count_key(db, "sp_c"), 1);
    assert_int_equal(count_key(db, "sp_d"), 1);
    hk_db_release(db);
}

static void store_tx__unique_violation_is_conflict_and_tx_continues_after_savepoint(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    const char *pii = "13800138000"; /* shaped like a phone number: must not reach the message */

    CHECK(hk_db_acquire(f->store, &db, &err));
    clean(db);
    /* Outside a transaction. */
    CHECK(insert_item(db, pii, 1, &err));
    assert_int_equal(insert_item(db, pii, 2, &err), HK_E(CONFLICT));
    assert_int_equal(err.code, HK_E(CONFLICT));
    assert_non_null(strstr(err.msg, "item_insert"));
    assert_null(strstr(err.msg, pii));

    /* Inside one: the savepoint lets the transaction go on (PostgreSQL needs it). */
    CHECK(hk_db_begin(db, HK_TX_WRITE, &err));
    CHECK(insert_item(db, "tx_first", 1, &err));
    CHECK(hk_db_savepoint(db, "try_insert", &err));
    assert_int_equal(insert_item(db, pii, 3, &err), HK_E(CONFLICT));
    assert_null(strstr(err.msg, pii));
    CHECK(hk_db_savepoint_rollback(db, "try_insert", &err));
    CHECK(hk_db_savepoint_release(db, "try_insert", &err));
    CHECK(insert_item(db, "tx_after", 1, &err));
    CHECK(hk_db_commit(db, &err));
    assert_int_equal(count_key(db, "tx_first"), 1);
    assert_int_equal(count_key(db, "tx_after"), 1);
    assert_int_equal(count_key(db, pii), 1);
    hk_db_release(db);
}

static void store_tx__error_without_savepoint_aborts_the_transaction(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    struct hk_stmt *st;

    CHECK(hk_db_acquire(f->store, &db, &err));
    clean(db);
    CHECK(hk_db_begin(db, HK_TX_WRITE, &err));
    CHECK(insert_item(db, "ab_1", 1, &err));
    assert_int_equal(insert_item(db, "ab_1", 1, &err), HK_E(CONFLICT));
    /* Aborted, on both backends: nothing more runs until a rollback. */
    assert_int_equal(insert_item(db, "ab_2", 1, &err), HK_E(STORE));
    assert_int_equal(hk_db_stmt(db, "never_prepared", "SELECT 2", &st, &err), HK_E(STORE));
    assert_int_equal(hk_db_savepoint(db, "late", &err), HK_E(STORE));
    assert_int_equal(hk_db_commit(db, &err), HK_E(STORE));
    assert_false(hk_db_in_tx(db));
    assert_int_equal(count_key(db, "ab_1"), 0); /* the commit rolled back */

    /* A savepoint made before the error un-aborts it; ones made after are gone. */
    CHECK(hk_db_begin(db, HK_TX_WRITE, &err));
    CHECK(hk_db_savepoint(db, "outer", &err));
    CHECK(insert_item(db, "ab_3", 1, &err));
    CHECK(hk_db_savepoint(db, "inner", &err));
    assert_int_equal(insert_item(db, "ab_3", 1, &err), HK_E(CONFLICT));
    CHECK(hk_db_savepoint_rollback(db, "outer", &err));
    assert_int_equal(count_key(db, "ab_3"), 0);
    CHECK(insert_item(db, "ab_4", 1, &err));
    CHECK(hk_db_savepoint_release(db, "outer", &err));
    CHECK(hk_db_commit(db, &err));
    assert_int_equal(count_key(db, "ab_4"), 1);
    hk_db_release(db);
}

static void store_stmt__data_errors_do_not_quote_values(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    struct hk_stmt *st;

    CHECK(hk_db_acquire(f->store, &db, &err));
    CHECK(hk_db_stmt(db, "cast_bigint", "SELECT CAST($1 AS BIGINT)", &st, &err));
    CHECK(hk_stmt_bind_text(st, 1, "13800138000x", (size_t)-1));
    int rc = hk_stmt_exec(st, &err);
    /* PostgreSQL refuses the value; SQLite converts it. Either way no value in a message. */
    if (rc < 0) {
        assert_int_equal(rc, HK_E(STORE));
        assert_non_null(strstr(err.msg, "cast_bigint"));
        assert_null(strstr(err.msg, "13800138000"));
    }
    hk_db_release(db);
}

static void store_tx__foreign_key_violation_is_conflict(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    struct hk_stmt *st;

    CHECK(hk_db_acquire(f->store, &db, &err));
    clean(db);
    CHECK(hk_db_stmt(db, "child_insert", "INSERT INTO t_child (item_id) VALUES ($1)", &st, &err));
    CHECK(hk_stmt_bind_int64(st, 1, 987654321));
    assert_int_equal(hk_stmt_exec(st, &err), HK_E(CONFLICT));
    assert_non_null(strstr(err.msg, "child_insert"));
    assert_null(strstr(err.msg, "987654321"));
    assert_int_equal(scalar(db, "child_total", "SELECT count(*) FROM t_child"), 0);
    hk_db_release(db);
}

/* Bulk mode is tuning only: the same writes commit, roll back and see constraints alike. */
static void store_bulk__writes_behave_alike_and_refuses_inside_a_transaction(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    struct hk_stmt *st;

    CHECK(hk_db_acquire(f->store, &db, &err));
    clean(db);
    CHECK(hk_db_bulk(db, true, &err));
    CHECK(hk_db_bulk(db, true, &err)); /* twice is fine */
    CHECK(hk_db_begin(db, HK_TX_WRITE, &err));
    assert_int_equal(hk_db_bulk(db, false, &err), HK_E(INVAL));
    CHECK(insert_item(db, "bulk_1", 1, &err));
    CHECK(hk_db_commit(db, &err));
    CHECK(hk_db_begin(db, HK_TX_WRITE, &err));
    CHECK(insert_item(db, "bulk_2", 2, &err));
    hk_db_rollback(db);
    CHECK(hk_db_stmt(db, "child_insert", "INSERT INTO t_child (item_id) VALUES ($1)", &st, &err));
    CHECK(hk_stmt_bind_int64(st, 1, 987654321));
    assert_int_equal(hk_stmt_exec(st, &err), HK_E(CONFLICT)); /* FKs still checked */
    assert_int_equal(scalar(db, "bulk_total", "SELECT count(*) FROM t_items WHERE k LIKE 'bulk%'"),
                     1);
    CHECK(hk_db_bulk(db, false, &err));
    hk_db_release(db);
    /* released in bulk mode: the next user gets the defaults back */
    CHECK(hk_db_acquire(f->store, &db, &err));
    CHECK(hk_db_bulk(db, true, &err));
    hk_db_release(db);
    CHECK(hk_db_acquire(f->store, &db, &err));
    assert_int_equal(scalar(db, "bulk_total", "SELECT count(*) FROM t_items WHERE k LIKE 'bulk%'"),
                     1);
    hk_db_release(db);
}

/* The journal of an initial load (hk_db_load_journal): never inside a transaction, on either
   backend; on PostgreSQL it changes nothing. Its SQLite behaviour is in test_load_journal.c. */
static void store_load_journal__refused_inside_a_transaction(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    bool switched = true;

    CHECK(hk_db_acquire(f->store, &db, &err));
    clean(db);
    CHECK(hk_db_begin(db, HK_TX_WRITE, &err));
    CHECK(insert_item(db, "journal_tx", 1, &err));
    assert_int_equal(hk_db_load_journal(db, true, &switched, &err), HK_E(INVAL));
    assert_false(switched);
    assert_int_equal(hk_db_load_journal(db, false, &switched, &err), HK_E(INVAL));
    assert_true(hk_db_in_tx(db)); /* the transaction goes on */
    CHECK(hk_db_commit(db, &err));
    assert_int_equal(count_key(db, "journal_tx"), 1);
    hk_db_release(db);
}

static void store_load_journal__postgres_changes_nothing(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    bool switched = true;

    if (!f->pg)
        skip(); /* SQLite: test_load_journal.c */
    CHECK(hk_db_acquire(f->store, &db, &err));
    clean(db);
    CHECK(hk_db_load_journal(db, true, &switched, &err));
    assert_false(switched);
    CHECK(hk_db_begin(db, HK_TX_WRITE, &err));
    CHECK(insert_item(db, "journal_pg", 1, &err));
    CHECK(hk_db_commit(db, &err));
    CHECK(hk_db_load_journal(db, false, NULL, &err));
    assert_int_equal(count_key(db, "journal_pg"), 1);
    hk_db_release(db);
}

static void store_tx__release_rolls_back_an_open_transaction(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_store *s;
    struct hk_db *db, *again;
    struct hk_stmt *st;
    struct hk_store_opts opts = {.pool_size = 1};

    CHECK(hk_store_open(f->targets[0], &opts, &s, &err));
    CHECK(hk_db_acquire(s, &db, &err));
    clean(db);
    CHECK(hk_db_begin(db, HK_TX_WRITE, &err));
    CHECK(insert_item(db, "left_open", 1, &err));
    /* A statement left mid-iteration, too. */
    CHECK(hk_db_stmt(db, "items_ids", "SELECT id, v FROM t_items ORDER BY id", &st, &err));
    assert_int_equal(hk_stmt_step(st, &err), HK_ROW);
    hk_db_release(db);

    CHECK(hk_db_acquire(s, &again, &err)); /* pool of one: the same connection */
    assert_ptr_equal(db, again);
    assert_false(hk_db_in_tx(again));
    assert_int_equal(count_key(again, "left_open"), 0);
    CHECK(hk_db_begin(again, HK_TX_WRITE, &err));
    CHECK(insert_item(again, "next_tx", 1, &err));
    CHECK(hk_db_commit(again, &err));
    hk_db_release(again);

    CHECK(hk_db_acquire(f->store, &db, &err));
    assert_int_equal(count_key(db, "left_open"), 0);
    assert_int_equal(count_key(db, "next_tx"), 1);
    hk_db_release(db);
    hk_store_close(s);
}

/* ---- pool ------------------------------------------------------------------------------ */

#define POOL_THREADS 8
#define POOL_INSERTS 200

struct pool_arg {
    struct hk_store *s;
    int thread;
    int failures;
    char msg[HK_ERR_MSG_MAX];
};

static void *pool_thread(void *p)
{
    struct pool_arg *a = p;
    for (int n = 0; n < POOL_INSERTS; n++) {
        struct hk_err err = {0};
        struct hk_db *db;
        struct hk_stmt *st;
        bool tx = n % 2 == 1; /* half in explicit transactions, half autocommit */
        int rc = hk_db_acquire(a->s, &db, &err);
        if (rc < 0)
            goto failed;
        if (tx)
            rc = hk_db_begin(db, HK_TX_WRITE, &err);
        if (rc == 0)
            rc = hk_db_stmt(db, "pool_insert", "INSERT INTO t_pool (thread, n) VALUES ($1, $2)",
                            &st, &err);
        if (rc == 0) {
            hk_stmt_bind_int64(st, 1, a->thread);
            hk_stmt_bind_int64(st, 2, n);
            rc = hk_stmt_exec(st, &err);
        }
        if (rc == 0 && tx)
            rc = hk_db_commit(db, &err);
        hk_db_release(db);
        if (rc == 0)
            continue;
    failed:
        a->failures++;
        memcpy(a->msg, err.msg, sizeof(a->msg));
    }
    return NULL;
}

static void store_pool__many_threads_lose_no_rows(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_store *s;
    struct hk_store_opts opts = {.pool_size = 4}; /* fewer connections than threads: they wait */
    struct pool_arg args[POOL_THREADS];
    pthread_t th[POOL_THREADS];
    struct hk_db *db;

    CHECK(hk_db_acquire(f->store, &db, &err));
    clean(db);
    hk_db_release(db);

    CHECK(hk_store_open(f->targets[0], &opts, &s, &err));
    for (int i = 0; i < POOL_THREADS; i++) {
        args[i] = (struct pool_arg){.s = s, .thread = i};
        assert_int_equal(pthread_create(&th[i], NULL, pool_thread, &args[i]), 0);
    }
    for (int i = 0; i < POOL_THREADS; i++) {
        pthread_join(th[i], NULL);
        if (args[i].failures)
            fail_msg("thread %d: %d failures, last: %s", i, args[i].failures, args[i].msg);
    }
    hk_store_close(s);

    CHECK(hk_db_acquire(f->store, &db, &err));
    assert_int_equal(scalar(db, "pool_total", "SELECT count(*) FROM t_pool"),
                     POOL_THREADS * POOL_INSERTS);
    assert_int_equal(scalar(db, "pool_distinct",
                            "SELECT count(*) FROM (SELECT DISTINCT thread, n FROM t_pool) x"),
                     POOL_THREADS * POOL_INSERTS);
    hk_db_release(db);
}

/* ---- PostgreSQL only: a connection the server dropped is replaced ---------------------- */

/* Has the server end backend pid, and waits until it is gone. */
static void terminate_backend(const struct fixture *f, int64_t pid)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%lld)", (long long)pid);
    PGconn *c = PQconnectdb(f->admin_url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PQclear(PQexec(c, sql));
    /* Wait until the server has really ended it. */
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_stat_activity WHERE pid = %lld",
             (long long)pid);
    for (int i = 0; i < 100; i++) {
        PGresult *r = PQexec(c, sql);
        bool gone = PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "0") == 0;
        PQclear(r);
        if (gone)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
    }
    PQfinish(c);
}

static void store_pool__broken_connection_is_reconnected(void **state)
{
    struct fixture *f = *state;
    struct hk_err err = {0};
    struct hk_store *s;
    struct hk_db *db;
    struct hk_store_opts opts = {.pool_size = 1};

    if (!f->pg)
        skip(); /* SQLite connections are files; they do not drop */
    CHECK(hk_store_open(f->targets[0], &opts, &s, &err));
    CHECK(hk_db_acquire(s, &db, &err));
    int64_t pid = scalar(db, "backend_pid", "SELECT pg_backend_pid()");
    hk_db_release(db);
    terminate_backend(f, pid); /* while idle in the pool */

    CHECK(hk_db_acquire(s, &db, &err));
    int64_t pid2 = scalar(db, "backend_pid", "SELECT pg_backend_pid()");
    assert_true(pid2 != pid);

    /* Dropped while in use: the statement fails UNAVAILABLE; the next acquire reconnects. */
    terminate_backend(f, pid2);
    struct hk_stmt *st;
    CHECK(hk_db_stmt(db, "backend_pid", "SELECT pg_backend_pid()", &st, &err));
    assert_int_equal(hk_stmt_step(st, &err), HK_E(UNAVAILABLE));
    hk_db_release(db);
    CHECK(hk_db_acquire(s, &db, &err));
    int64_t pid3 = scalar(db, "backend_pid", "SELECT pg_backend_pid()");
    assert_true(pid3 != pid2);
    hk_db_release(db);
    hk_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(store_migrate__from_empty_to_latest_then_is_a_noop),
        cmocka_unit_test(store_migrate__concurrent_runs_apply_each_version_once),
        cmocka_unit_test(store_bind__every_type_round_trips),
        cmocka_unit_test(store_params__reused_and_out_of_order),
        cmocka_unit_test(store_stmt__cache_returns_the_same_statement_reset),
        cmocka_unit_test(store_stmt__bad_sql_names_the_statement),
        cmocka_unit_test(store_stmt__returning_gives_the_new_id),
        cmocka_unit_test(store_stmt__upsert_inserts_then_updates),
        cmocka_unit_test(store_stmt__changes_counts_rows_of_the_last_execution),
        cmocka_unit_test(store_stmt__two_statements_interleave_on_one_db),
        cmocka_unit_test(store_tx__commit_is_visible_rollback_is_not),
        cmocka_unit_test(store_tx__savepoint_rollback_keeps_the_rest),
        cmocka_unit_test(store_tx__unique_violation_is_conflict_and_tx_continues_after_savepoint),
        cmocka_unit_test(store_tx__error_without_savepoint_aborts_the_transaction),
        cmocka_unit_test(store_stmt__data_errors_do_not_quote_values),
        cmocka_unit_test(store_tx__foreign_key_violation_is_conflict),
        cmocka_unit_test(store_tx__release_rolls_back_an_open_transaction),
        cmocka_unit_test(store_bulk__writes_behave_alike_and_refuses_inside_a_transaction),
        cmocka_unit_test(store_load_journal__refused_inside_a_transaction),
        cmocka_unit_test(store_load_journal__postgres_changes_nothing),
        cmocka_unit_test(store_pool__many_threads_lose_no_rows),
        cmocka_unit_test(store_pool__broken_connection_is_reconnected),
    };
    const char *backend = getenv("HUIKE_TEST_BACKEND");
    const char *group = backend && strcmp(backend, "postgres") == 0 ? "store_contract_postgres"
                                                                    : "store_contract_sqlite";
    return cmocka_run_group_tests_name(group, tests, group_setup, group_teardown);
}
