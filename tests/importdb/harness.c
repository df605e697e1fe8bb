/*
 * harness.c — fresh stores and small query helpers for the import tests (see harness.h).
 */
#include "harness.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/tz.h"
#include "store/ingest_repo.h"
#include "store/store.h"

#define MAX_EXTRA 4

struct extra_db {
    char target[640];
    char pg_name[64];
};

/* Extra databases made by tdb_fresh_target, per test (tests run one at a time). */
struct extras {
    struct extra_db db[MAX_EXTRA];
    int n;
};

static struct extras *extras_of(struct tdb *t)
{
    /* kept right after the tdb in one allocation (see tdb_setup) */
    return (struct extras *)(t + 1);
}

static void random_hex(char *out, size_t nbytes)
{
    unsigned char b[16] = {0};
    int fd = open("/dev/urandom", O_RDONLY);
    assert_true(fd >= 0);
    assert_true(nbytes <= sizeof b);
    assert_int_equal(read(fd, b, nbytes), (ssize_t)nbytes);
    close(fd);
    for (size_t i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void pg_admin(const struct tdb *t, const char *sql)
{
    PGconn *c = PQconnectdb(t->admin_url);
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

static void make_target(struct tdb *t, char *target, size_t tsize, char *pg_name, size_t nsize)
{
    char hex[17];
    random_hex(hex, 8);
    if (!t->pg) {
        snprintf(target, tsize, "%s/import_%s.db", t->tmpdir, hex);
        return;
    }
    char sql[128];
    snprintf(pg_name, nsize, "hk_import_test_%s", hex);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", pg_name);
    pg_admin(t, sql);
    const char *scheme = strstr(t->admin_url, "://");
    assert_non_null(scheme);
    const char *slash = strchr(scheme + 3, '/');
    const char *query = strchr(scheme + 3, '?');
    size_t head = slash   ? (size_t)(slash - t->admin_url)
                  : query ? (size_t)(query - t->admin_url)
                          : strlen(t->admin_url);
    snprintf(target, tsize, "%.*s/%s%s", (int)head, t->admin_url, pg_name, query ? query : "");
}

static void drop_target(struct tdb *t, const char *target, const char *pg_name)
{
    if (t->pg) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", pg_name);
        pg_admin(t, sql);
        return;
    }
    static const char *const suffix[] = {"",          "-wal",  "-shm",  "-journal",
                                         "-loadlock", "-open", "-knock"};
    for (size_t j = 0; j < sizeof(suffix) / sizeof(suffix[0]); j++) {
        char p[700];
        snprintf(p, sizeof p, "%s%s", target, suffix[j]);
        unlink(p);
    }
}

struct hk_store *tdb_open_store(const char *target)
{
    struct hk_err err = {0};
    struct hk_store *s = NULL;
    if (hk_store_open(target, NULL, &s, &err) != 0)
        fail_msg("store open: %s", err.msg);
    if (hk_store_migrate(s, TEST_NOW, NULL, NULL, &err) != 0)
        fail_msg("migrate: %s", err.msg);
    return s;
}

int tdb_setup(void **state)
{
    struct hk_err err = {0};
    struct tdb *t = calloc(1, sizeof(*t) + sizeof(struct extras));
    if (!t)
        return -1;
    const char *backend = getenv("HUIKE_TEST_BACKEND");
    t->pg = backend && strcmp(backend, "postgres") == 0;
    if (t->pg) {
        const char *file = getenv("HUIKE_TEST_PG_URL_FILE");
        FILE *fp = file ? fopen(file, "r") : NULL;
        if (!fp) {
            fprintf(stderr, "HUIKE_TEST_PG_URL_FILE not set or unreadable\n");
            free(t);
            return -1;
        }
        if (!fgets(t->admin_url, sizeof t->admin_url, fp))
            t->admin_url[0] = '\0';
        fclose(fp);
        t->admin_url[strcspn(t->admin_url, "\r\n")] = '\0';
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(t->tmpdir, sizeof t->tmpdir, "%s/hk_import_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(t->tmpdir)) {
        free(t);
        return -1;
    }
    make_target(t, t->target, sizeof t->target, t->pg_name, sizeof t->pg_name);
    t->store = tdb_open_store(t->target);
    if (hk_keyring_load(&t->keys, "/nonexistent/huike.key", TEST_KEY_HEX, &err) != 0)
        fail_msg("keyring: %s", err.msg);
    if (hk_tz_load("Asia/Shanghai", &t->tz, &err) != 0)
        fail_msg("tz: %s", err.msg);
    t->ctx.store = t->store;
    t->ctx.keys = &t->keys;
    t->ctx.tz = t->tz;
    t->ctx.now = TEST_NOW;
    *state = t;
    return 0;
}

const char *tdb_fresh_target(struct tdb *t, char *buf, size_t size)
{
    struct extras *x = extras_of(t);
    assert_true(x->n < MAX_EXTRA);
    struct extra_db *d = &x->db[x->n++];
    make_target(t, d->target, sizeof d->target, d->pg_name, sizeof d->pg_name);
    snprintf(buf, size, "%s", d->target);
    return buf;
}

int tdb_teardown(void **state)
{
    struct tdb *t = *state;
    hk_store_close(t->store);
    drop_target(t, t->target, t->pg_name);
    struct extras *x = extras_of(t);
    for (int i = 0; i < x->n; i++)
        drop_target(t, x->db[i].target, x->db[i].pg_name);
    hk_tz_free(t->tz);
    hk_keyring_clear(&t->keys);
    /* files written by the test */
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", t->tmpdir);
    free(t);
    return 0;
}

const char *fixture(const char *name)
{
    static char slots[4][512];
    static int next;
    char *p = slots[next++ % 4];
    snprintf(p, sizeof slots[0], "%s/%s", HK_FIXTURES_DIR, name);
    return p;
}

const char *tdb_write(struct tdb *t, const char *name, const char *text)
{
    static char slots[4][512];
    static int next;
    char *p = slots[next++ % 4];
    snprintf(p, sizeof slots[0], "%s/%s", t->tmpdir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    return p;
}

void tdb_import(struct tdb *t, const char *const *paths, size_t n, const char *shop,
                struct hk_import_result *res)
{
    struct hk_err err = {0};
    struct hk_import_opts o = {0};
    o.shop = shop;
    o.batch_orders = 3; /* small batches: several transactions even for the fixtures */
    memset(res, 0, sizeof *res);
    if (hk_import_files(&t->ctx, paths, NULL, n, &o, res, &err) != 0)
        fail_msg("import: %s", err.msg);
}

void tdb_import1(struct tdb *t, const char *path, struct hk_import_result *res)
{
    tdb_import(t, &path, 1, NULL, res);
}

static void stmt_name(const char *sql, char *name, size_t size)
{
    uint64_t h = 14695981039346656037ULL;
    for (const char *p = sql; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ULL;
    }
    snprintf(name, size, "t_%016llx", (unsigned long long)h);
}

int64_t q_int(struct hk_store *s, const char *sql)
{
    struct hk_err err = {0};
    struct hk_db *db;
    struct hk_stmt *st;
    char name[32];
    stmt_name(sql, name, sizeof name);
    if (hk_db_acquire(s, &db, &err) != 0 || hk_db_stmt(db, name, sql, &st, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
    int rc = hk_stmt_step(st, &err);
    if (rc < 0)
        fail_msg("%s: %s", sql, err.msg);
    int64_t v = rc == HK_ROW ? hk_stmt_int64(st, 0) : 0;
    hk_stmt_reset(st);
    hk_db_release(db);
    return v;
}

uint64_t q_checksum(struct hk_store *s, const char *sql)
{
    struct hk_err err = {0};
    struct hk_db *db;
    struct hk_stmt *st;
    char name[32];
    uint64_t h = 14695981039346656037ULL;
    int rc;
    stmt_name(sql, name, sizeof name);
    if (hk_db_acquire(s, &db, &err) != 0 || hk_db_stmt(db, name, sql, &st, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
    while ((rc = hk_stmt_step(st, &err)) == HK_ROW) {
        for (int c = 0; c < hk_stmt_columns(st); c++) {
            const char *v = hk_stmt_text(st, c, NULL);
            for (const char *p = v ? v : "\\N"; *p; p++) {
                h ^= (unsigned char)*p;
                h *= 1099511628211ULL;
            }
            h ^= 0x1f;
            h *= 1099511628211ULL;
        }
    }
    if (rc < 0)
        fail_msg("%s: %s", sql, err.msg);
    hk_stmt_reset(st);
    hk_db_release(db);
    return h;
}

const char *q_text(struct hk_store *s, const char *sql, char *buf, size_t size)
{
    struct hk_err err = {0};
    struct hk_db *db;
    struct hk_stmt *st;
    char name[32];
    stmt_name(sql, name, sizeof name);
    if (hk_db_acquire(s, &db, &err) != 0 || hk_db_stmt(db, name, sql, &st, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
    int rc = hk_stmt_step(st, &err);
    if (rc < 0)
        fail_msg("%s: %s", sql, err.msg);
    buf[0] = '\0';
    if (rc == HK_ROW)
        hk_stmt_text_copy(st, 0, buf, size);
    hk_stmt_reset(st);
    hk_db_release(db);
    return buf;
}

void q_exec(struct hk_store *s, const char *sql)
{
    struct hk_err err = {0};
    struct hk_db *db;
    struct hk_stmt *st;
    char name[32];
    stmt_name(sql, name, sizeof name);
    if (hk_db_acquire(s, &db, &err) != 0 || hk_db_stmt(db, name, sql, &st, &err) != 0 ||
        hk_stmt_exec(st, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
    hk_db_release(db);
}

const char *q_open(struct tdb *t, const char *sql, char *buf, size_t size)
{
    struct hk_err err = {0};
    struct hk_db *db;
    struct hk_stmt *st;
    char name[32];
    stmt_name(sql, name, sizeof name);
    if (hk_db_acquire(t->store, &db, &err) != 0 || hk_db_stmt(db, name, sql, &st, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
    int rc = hk_stmt_step(st, &err);
    if (rc < 0)
        fail_msg("%s: %s", sql, err.msg);
    buf[0] = '\0';
    size_t len = 0;
    const void *blob = rc == HK_ROW ? hk_stmt_blob(st, 0, &len) : NULL;
    if (blob && hk_pii_open(&t->keys, blob, len, buf, size, &err) != 0)
        fail_msg("open: %s", err.msg);
    hk_stmt_reset(st);
    hk_db_release(db);
    return buf;
}

void check_counts(const struct hk_import_result *r, int64_t rows, int64_t created, int64_t updated,
                  int64_t unchanged, int64_t items, int64_t customers, int64_t rejected)
{
    if (r->rows != rows || r->orders_created != created || r->orders_updated != updated ||
        r->orders_unchanged != unchanged || r->items_created != items ||
        r->customers_created != customers || r->rejected != rejected)
        fail_msg("counts: rows %lld created %lld updated %lld unchanged %lld items %lld "
                 "customers %lld rejected %lld; expected %lld %lld %lld %lld %lld %lld %lld",
                 (long long)r->rows, (long long)r->orders_created, (long long)r->orders_updated,
                 (long long)r->orders_unchanged, (long long)r->items_created,
                 (long long)r->customers_created, (long long)r->rejected, (long long)rows,
                 (long long)created, (long long)updated, (long long)unchanged, (long long)items,
                 (long long)customers, (long long)rejected);
}

int64_t sh_time(struct tdb *t, const char *local)
{
    struct hk_err err = {0};
    int64_t v = 0;
    if (hk_time_parse(local, strlen(local), t->tz, &v, &err) != 0)
        fail_msg("time %s: %s", local, err.msg);
    return v;
}

void tdb_generate(const char *lines, const char *file, const char *variant)
{
    const char *gen = getenv("HUIKE_GEN");
    if (!gen)
        fail_msg("HUIKE_GEN must name the generator");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl(gen, gen, lines, file, "11", variant, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int tdb_load_indexes(struct hk_store *s)
{
    struct hk_err err = {0};
    struct hk_db *db;
    int n = -1;
    if (hk_db_acquire(s, &db, &err) != 0 || hk_irepo_load_indexes_present(db, &n, &err) != 0)
        fail_msg("load indexes: %s", err.msg);
    hk_db_release(db);
    return n;
}

void tdb_plant_progress(void *arg, int64_t done, int64_t total, int64_t rows)
{
    (void)done;
    (void)total;
    (void)rows;
    struct tdb_plant *p = arg;
    if (p->calls++ != 0)
        return;
    /* as every writer of identities does: in its transaction, the key index first */
    struct hk_err err = {0};
    struct hk_db *db;
    if (hk_db_acquire(p->store, &db, &err) != 0 || hk_db_begin(db, HK_TX_WRITE, &err) != 0 ||
        hk_irepo_identities_key_ensure(db, &err) != 0)
        fail_msg("plant: %s", err.msg);
    for (int i = 0; i < 2; i++) {
        struct hk_stmt *st;
        char name[32];
        if (!p->sql[i])
            continue;
        stmt_name(p->sql[i], name, sizeof name);
        if (hk_db_stmt(db, name, p->sql[i], &st, &err) != 0 || hk_stmt_exec(st, &err) != 0)
            fail_msg("%s: %s", p->sql[i], err.msg);
    }
    if (hk_db_commit(db, &err) != 0)
        fail_msg("plant: %s", err.msg);
    hk_db_release(db);
}

void tdb_drop_load_indexes(struct hk_store *s)
{
    struct hk_err err = {0};
    struct hk_db *db;
    if (hk_db_acquire(s, &db, &err) != 0 || hk_irepo_load_indexes_drop(db, &err) != 0)
        fail_msg("drop: %s", err.msg);
    hk_db_release(db);
    q_exec(s, "DROP INDEX IF EXISTS identities_key");
    /* SQLite's loads keep orders_sales since session 10; a load of an older huike dropped it */
    q_exec(s, "DROP INDEX IF EXISTS orders_sales");
    assert_int_equal(tdb_load_indexes(s), 0);
}

const char TDB_MERGE_CSV[] = TDB_GENERIC_HEADER
    "M1,ma,甲,13900000001,浙江省,杭州市,taobao,店,paid,2026-01-01 10:00:00,2026-01-01 "
    "10:00:00,,P1,商品,零食,1,10.00,10.00,,\n"
    "M2,mb,乙,13900000002,浙江省,杭州市,jd,店,paid,2026-01-02 10:00:00,2026-01-02 "
    "10:00:00,,P1,商品,零食,1,10.00,10.00,,\n"
    "M3,mb,乙,13900000001,浙江省,杭州市,jd,店,completed,2026-01-03 10:00:00,2026-01-03 "
    "10:00:00,,P1,商品,零食,2,10.00,20.00,,\n";

void tdb_repeat_utf8(char *out, size_t size, const char *ch, size_t n)
{
    size_t k = strlen(ch), at = 0;
    for (size_t i = 0; i < n && at + k < size; i++, at += k)
        memcpy(out + at, ch, k);
    out[at] = '\0';
}
