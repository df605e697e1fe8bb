/*
 * test_engine_snapshot.c — the engine snapshot (engine/snapshot.h, services/engine_svc.c) on the
 * backend named by HUIKE_TEST_BACKEND, with the data generator and SQL reference of
 * test_engine_sql.c (included below, its main renamed):
 *
 *   - a snapshot taken, then writes through the real paths as another process would make them
 *     (orders, status changes and refunds, new orders, merges, unmerges, manual tags added,
 *     removed and a tag deleted; a rule tag): the engine started from the snapshot and caught
 *     up equals a full load — every customer's aggregates, the RFM report, tag and bought()
 *     counts — and both match SQL on random expressions;
 *   - a corrupted, truncated, wrong-version, other-store snapshot and one whose change-log
 *     position is gone each fall back to the full load (and the engine is right);
 *   - the periodic writer writes when the history changed and not otherwise; readers are not
 *     held while it writes (the longest read-lock wait is printed and bounded);
 *   - kill -9 during snapshot writes leaves the previous snapshot valid.
 */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glob.h>
#include <pthread.h>

int engine_sql_main(void);
#define main engine_sql_main
#include "test_engine_sql.c"
#undef main

#include "services/accounts.h"
#include "services/engine_svc.h"
#include "services/shops.h"
#include "services/tags.h"
#include "snapshot_probe.h"

/* ---- helpers -------------------------------------------------------------------------------- */

static void set_snapshot_path(struct env *v, const char *name)
{
    snprintf(v->app.cfg.engine_snapshot, sizeof v->app.cfg.engine_snapshot, "%s/%s", v->t->tmpdir,
             name);
}

static struct hk_engine_svc *start_opts(struct env *v, bool follow, int64_t every_ms)
{
    struct hk_err err = {0};
    struct hk_engine_svc_opts o = {0};
    o.follow = follow;
    o.snapshot_every_ms = every_ms;
    o.poll_ms = 50;
    struct hk_engine_svc *s = NULL;
    if (hk_engine_svc_start(&v->app, &o, &s, &err) != 0)
        fail_msg("engine start: %s", err.msg);
    return s;
}

/* A full load, whatever the snapshot setting. */
static struct hk_engine_svc *start_full(struct env *v)
{
    char keep[HK_CONFIG_STR_MAX];
    memcpy(keep, v->app.cfg.engine_snapshot, sizeof keep);
    snprintf(v->app.cfg.engine_snapshot, sizeof v->app.cfg.engine_snapshot, "off");
    struct hk_engine_svc *s = svc_start(v);
    memcpy(v->app.cfg.engine_snapshot, keep, sizeof keep);
    return s;
}

static struct hk_engine_svc_stats stats_of(struct hk_engine_svc *s)
{
    struct hk_engine_svc_stats st;
    hk_engine_svc_stats(s, &st);
    return st;
}

static void take_snapshot(struct hk_engine_svc *s)
{
    struct hk_err err = {0};
    if (hk_engine_svc_snapshot(s, &err) != 0)
        fail_msg("snapshot: %s", hk_err_message(&err));
}

static const char *const probe_exprs[] = {
    "has_tag(\"VIP\")",
    "has_tag(\"常客\")",
    "has_tag(\"VIP\") and not has_tag(\"常客\")",
    "bought(category=\"零食\")",
    "bought(category=\"零食\", within=30d)",
    "bought(product=\"P100\")",
    "bought(category=\"phones\", min_count=2)",
    "bought(category=\"连衣裙\") and not bought(category=\"美妆\")",
    "recency_days > 90",
    "not recency_days > 90",
    "frequency >= 2 and aov > 100",
    "rfm_tier = \"高价值客户\"",
    "event(type=\"browse\", within=60d)",
    "channel = \"jd\"",
    "province = \"浙江省\"",
};

/* Every customer, the RFM report and the probe expressions: a equals b. */
static void expect_same_engine(struct hk_engine_svc *a, struct hk_engine_svc *b, int64_t now)
{
    size_t rows = sprobe_rows(b);
    assert_int_equal(sprobe_rows(a), rows);
    assert_true(rows > 0);
    for (size_t i = 0; i < rows; i++) {
        int64_t id = sprobe_row_id(b, i);
        struct probe_agg x, y;
        struct hk_err err = {0};
        memset(&x, 0, sizeof x);
        memset(&y, 0, sizeof y);
        if (probe_get(a, id, now, &x, &err) != 0 || probe_get(b, id, now, &y, &err) != 0)
            fail_msg("customer %lld: %s", (long long)id, hk_err_message(&err));
        if (memcmp(&x, &y, sizeof x) != 0) {
            probe_print(a, id, now);
            probe_print(b, id, now);
            fail_msg("customer %lld differs between the snapshot start and the full load",
                     (long long)id);
        }
    }
    char why[256];
    if (!sprobe_rfm_same(a, b, why, sizeof why))
        fail_msg("RFM report: %s", why);
    for (size_t i = 0; i < sizeof probe_exprs / sizeof probe_exprs[0]; i++) {
        struct probe_ids x = {0}, y = {0};
        struct hk_err err = {0};
        if (probe_members(a, probe_exprs[i], now, &x, &err) != 0 ||
            probe_members(b, probe_exprs[i], now, &y, &err) != 0)
            fail_msg("%s: %s", probe_exprs[i], hk_err_message(&err));
        if (x.n != y.n || (x.n && memcmp(x.v, y.v, x.n * 8) != 0))
            fail_msg("%s: %zu members after the snapshot start, %zu after the full load",
                     probe_exprs[i], x.n, y.n);
        free(x.v);
        free(y.v);
    }
}

static const struct hk_actor system_actor = {NULL, "127.0.0.1", "test"};

static int64_t tag_add(struct env *v, int64_t customer, const char *name)
{
    struct hk_err err = {0};
    int64_t cid = 0;
    if (hk_tags_customer_add(&v->app, &system_actor, customer, name, &cid, &err) != 0)
        fail_msg("tag %s on %lld: %s", name, (long long)customer, hk_err_message(&err));
    return cid;
}

static int64_t tag_id(struct env *v, const char *name)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT id FROM tags WHERE name = '%s'", name);
    return q_int(v->t->store, sql);
}

/* Creates a rule tag (the service checks the expression against an engine). */
static void rule_tag(struct env *v, const char *name, const char *expr)
{
    struct hk_err err = {0};
    struct hk_engine_svc *check = start_full(v);
    v->app.engine = check;
    struct hk_tag_input in = {name, "rule", expr, NULL, NULL};
    struct hk_segment_error where;
    struct hk_tag out;
    memset(&out, 0, sizeof out);
    if (hk_tags_create(&v->app, &system_actor, &in, &where, &out, &err) != 0)
        fail_msg("rule tag %s: %s", name, hk_err_message(&err));
    hk_tag_release(&out);
    v->app.engine = NULL;
    hk_engine_svc_stop(check);
}

/* The generated world of the differential test, round 1 written. */
static void world_init(struct env *v, struct world *w, struct rng *r, uint64_t seed)
{
    memset(w, 0, sizeof(*w));
    w->sh = malloc(sizeof(*w->sh));
    w->ny = malloc(sizeof(*w->ny));
    assert_true(w->sh && w->ny);
    zone_days("Asia/Shanghai", w->sh);
    zone_days("America/New_York", w->ny);
    sql_create_tables(v->t->store);
    gen_world(r, w, seed);
    gen_round1(r, w, seed, v);
    rule_tag(v, "常客", "frequency >= 2");
}

static void world_free(struct world *w)
{
    free(w->orders);
    free(w->sh);
    free(w->ny);
}

static void live_ids(struct env *v, struct probe_ids *out)
{
    sql_ids(v->t->store, "SELECT id FROM customers WHERE merged_into IS NULL ORDER BY id", out);
    assert_true(out->n > 40);
}

/* ---- snapshot + catch-up = full load -------------------------------------------------------- */

static void snapshot__catch_up_gives_the_full_load_engine(void **state)
{
    struct tdb *t = *state;
    struct env v;
    env_init(&v, t, NOW1);
    set_snapshot_path(&v, "engine.snap");
    struct rng r = {424242};
    struct world w;
    world_init(&v, &w, &r, 7);
    struct probe_ids ids = {0};
    live_ids(&v, &ids);
    for (size_t i = 0; i < 30; i++)
        tag_add(&v, ids.v[i], "VIP");
    for (size_t i = 30; i < 40; i++)
        tag_add(&v, ids.v[i], "old");

    struct hk_engine_svc *a = svc_start(&v); /* no file yet: the full load, then written */
    assert_false(stats_of(a).from_snapshot);
    take_snapshot(a);
    assert_int_equal(stats_of(a).snapshots_written, 1);
    hk_engine_svc_stop(a);

    /* writes after the snapshot, as another process makes them (no engine in this app) */
    int undone = undo_merges(&v, &r);
    gen_round2(&r, &w, 7, &v);
    int64_t vip = tag_id(&v, "VIP"), old = tag_id(&v, "old");
    for (size_t i = 0; i < 5; i++) {
        struct hk_err err = {0};
        int64_t cid;
        if (hk_tags_customer_remove(&v.app, &system_actor, ids.v[i], vip, &cid, &err) != 0)
            fail_msg("untag: %s", hk_err_message(&err));
    }
    for (size_t i = 40; i < 45; i++)
        tag_add(&v, ids.v[i], "VIP");
    {
        struct hk_err err = {0};
        if (hk_tags_delete(&v.app, &system_actor, old, &err) != 0)
            fail_msg("tag delete: %s", hk_err_message(&err));
    }
    assert_true(undone > 0);

    struct hk_engine_svc *b = svc_start(&v); /* the snapshot, caught up */
    struct hk_engine_svc_stats sb = stats_of(b);
    assert_true(sb.from_snapshot);
    assert_true(sb.snapshot_catchup > 20);
    struct hk_engine_svc *c = start_full(&v);
    assert_false(stats_of(c).from_snapshot);
    expect_same_engine(b, c, NOW1);
    hk_clock_set(&v.app.clock, NOW2);
    svc_rescore(b);
    svc_rescore(c);
    expect_same_engine(b, c, NOW2);

    /* a deleted tag is unknown to both */
    struct hk_err err = {0};
    struct probe_ids x = {0};
    assert_int_not_equal(probe_members(b, "has_tag(\"old\")", NOW2, &x, &err), 0);
    assert_int_not_equal(probe_members(c, "has_tag(\"old\")", NOW2, &x, &err), 0);
    free(x.v);

    /* and both answer as SQL does */
    struct diff_stats ds = {0};
    sql_fill_days(t->store);
    sql_as_of(t->store, NOW2);
    struct hk_engine_svc *both[2] = {b, c};
    const char *names[2] = {"snapshot + catch-up", "full load"};
    diff_run(t->store, both, names, 2, &r, 150, NOW2, &ds);
    fprintf(stderr,
            "snapshot start on %s: %llu customers caught up, %d expressions, %d mismatches\n",
            hk_store_backend_name(t->store), (unsigned long long)sb.snapshot_catchup, ds.exprs,
            ds.mismatches);
    assert_int_equal(ds.compile_errors, 0);
    assert_int_equal(ds.mismatches, 0);
    assert_true(ds.nonempty > (size_t)ds.exprs / 2);

    hk_engine_svc_stop(b);
    hk_engine_svc_stop(c);
    free(ids.v);
    world_free(&w);
    env_release(&v);
}

/* ---- bad snapshots fall back ---------------------------------------------------------------- */

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)len + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return p;
}

static void spit(const char *path, const char *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* Starts on whatever file is there: from it, or not for the reason expected (a part of the
 * logged reason), and right either way. */
static void start_expect(struct env *v, const char *reason, const char *what)
{
    struct hk_engine_svc *s = svc_start(v);
    struct hk_engine_svc_stats st = stats_of(s);
    if (st.from_snapshot != (reason == NULL) || (reason && !strstr(st.snapshot_skipped, reason)))
        fail_msg("%s: from_snapshot %d (skipped: '%s'), want %s", what, st.from_snapshot,
                 st.snapshot_skipped, reason ? reason : "from the snapshot");
    fprintf(stderr, "%s: %s\n", what, reason ? st.snapshot_skipped : "used");
    struct hk_engine_svc *full = start_full(v);
    expect_same_engine(s, full, NOW1);
    hk_engine_svc_stop(full);
    hk_engine_svc_stop(s);
}

static void snapshot__bad_files_fall_back_to_the_full_load(void **state)
{
    struct tdb *t = *state;
    struct env v;
    env_init(&v, t, NOW1);
    set_snapshot_path(&v, "engine.snap");
    const char *path = v.app.cfg.engine_snapshot;
    struct rng r = {99};
    struct world w;
    world_init(&v, &w, &r, 11);
    struct probe_ids ids = {0};
    live_ids(&v, &ids);
    for (size_t i = 0; i < 10; i++)
        tag_add(&v, ids.v[i], "VIP");
    struct hk_engine_svc *a = svc_start(&v);
    take_snapshot(a);
    hk_engine_svc_stop(a);
    size_t n;
    char *good = slurp(path, &n);
    assert_true(n > 1000);

    start_expect(&v, NULL, "the good file");
    char *bad = malloc(n);
    assert_non_null(bad);

    memcpy(bad, good, n);
    bad[n / 2] ^= 0x40;
    spit(path, bad, n);
    start_expect(&v, "checksum mismatch", "a corrupted file");

    spit(path, good, n / 2);
    start_expect(&v, "truncated", "a truncated file");
    spit(path, good, 100);
    start_expect(&v, "truncated", "a file cut inside its header");
    /* something at the path that is not a file: said so, not "truncated" */
    assert_int_equal(remove(path), 0);
    assert_int_equal(mkdir(path, 0700), 0);
    start_expect(&v, "not a regular file", "a directory at the path");
    assert_int_equal(rmdir(path), 0);

    memcpy(bad, good, n);
    bad[8]++; /* the format version */
    spit(path, bad, n);
    start_expect(&v, "format version", "another format version");

    /* a snapshot of another database, put beside this one */
    {
        char target[700];
        tdb_fresh_target(t, target, sizeof target);
        struct hk_store *other = tdb_open_store(target);
        assert_non_null(other);
        struct env v2 = v;
        v2.app.store = other;
        struct gorder o = mk_order("OTHER-1", 0, 0, HK_ORDER_COMPLETED, NOW1 - 86400, 10000, 0, 1);
        struct person p[1];
        memset(p, 0, sizeof p);
        p[0].acct[0] = true;
        snprintf(p[0].buyer[0], sizeof p[0].buyer[0], "other-buyer");
        p[0].province = p[0].city = "";
        struct hk_ingest_ctx ctx = t->ctx;
        ctx.store = other;
        const struct gorder *op = &o;
        ingest_orders(&ctx, p, &op, 1);
        struct hk_engine_svc *s2 = svc_start(&v2);
        take_snapshot(s2); /* over this database's file: same path */
        hk_engine_svc_stop(s2);
        hk_store_close(other);
    }
    start_expect(&v, "another database", "another database's file");

    /* the file's change-log position is gone (pruned, or a restored backup) */
    spit(path, good, n);
    start_expect(&v, NULL, "the good file again");
    q_exec(t->store, "DELETE FROM changes");
    tag_add(&v, ids.v[20], "VIP"); /* a change row after the gap */
    start_expect(&v, "change log", "a file whose change-log position is gone");

    /* a shop moved to another time zone: every day number of its history is stale */
    struct hk_engine_svc *again = svc_start(&v); /* full load, then a fresh file */
    take_snapshot(again);
    hk_engine_svc_stop(again);
    start_expect(&v, NULL, "a fresh file");
    {
        struct hk_err err = {0};
        int64_t shop = q_int(t->store, "SELECT MIN(id) FROM shops");
        struct hk_shop_row row;
        if (hk_shops_set_timezone(&v.app, &system_actor, shop, "Asia/Tokyo", &row, &err) != 0)
            fail_msg("set timezone: %s", hk_err_message(&err));
    }
    start_expect(&v, "full reload", "a file from before a shop's time zone changed");

    free(bad);
    free(good);
    free(ids.v);
    world_free(&w);
    env_release(&v);
}

/* ---- the periodic writer ------------------------------------------------------------------ */

struct reader {
    struct hk_engine_svc *s;
    volatile bool stop;
    int64_t max_wait_us;
    uint64_t reads;
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *reader_main(void *arg)
{
    struct reader *rd = arg;
    while (!rd->stop) {
        int64_t t0 = now_us();
        hk_engine_svc_read(rd->s);
        int64_t w = now_us() - t0;
        hk_engine_svc_read_end(rd->s);
        if (w > rd->max_wait_us)
            rd->max_wait_us = w;
        rd->reads++;
        usleep(100);
    }
    return NULL;
}

static bool wait_written(struct hk_engine_svc *s, uint64_t more_than, int ms)
{
    for (int i = 0; i < ms / 20; i++) {
        if (stats_of(s).snapshots_written > more_than)
            return true;
        usleep(20000);
    }
    return false;
}

static void snapshot__periodic_writer_writes_changes_without_holding_readers(void **state)
{
    struct tdb *t = *state;
    struct env v;
    env_init(&v, t, NOW1);
    set_snapshot_path(&v, "engine.snap");
    struct rng r = {5};
    struct world w;
    world_init(&v, &w, &r, 13);
    struct probe_ids ids = {0};
    live_ids(&v, &ids);

    struct hk_engine_svc *s = start_opts(&v, true, 150);
    assert_true(wait_written(s, 0, 10000)); /* a full load's engine is not on disk yet */
    uint64_t n = stats_of(s).snapshots_written;
    usleep(600000);
    assert_int_equal(stats_of(s).snapshots_written, n); /* nothing changed: nothing written */
    tag_add(&v, ids.v[3], "VIP"); /* another process's write: followed, then written */
    assert_true(wait_written(s, n, 10000));

    /* readers while snapshots are written and the sync applies changes */
    struct reader rd = {s, false, 0, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, reader_main, &rd), 0);
    for (int i = 0; i < 20; i++) {
        tag_add(&v, ids.v[10 + (size_t)i], "VIP");
        take_snapshot(s);
    }
    rd.stop = true;
    pthread_join(th, NULL);
    struct hk_engine_svc_stats st = stats_of(s);
    fprintf(stderr,
            "periodic writer: %llu snapshots, last %lld ms (sync held %lld ms), %llu reads, "
            "longest read-lock wait %lld us\n",
            (unsigned long long)st.snapshots_written, (long long)st.snapshot_write_ms,
            (long long)st.snapshot_hold_ms, (unsigned long long)rd.reads,
            (long long)rd.max_wait_us);
    assert_true(rd.reads > 20);
    assert_true(rd.max_wait_us < 200000);
    tag_add(&v, ids.v[40], "VIP");
    hk_engine_svc_sync(s, &(struct hk_err){0});
    hk_engine_svc_stop(s); /* changed since the last write: written at shutdown */

    struct hk_engine_svc *b = svc_start(&v);
    struct hk_engine_svc_stats sb = stats_of(b);
    assert_true(sb.from_snapshot);
    assert_int_equal(sb.snapshot_catchup, 0);
    struct hk_engine_svc *c = start_full(&v);
    expect_same_engine(b, c, NOW1);
    hk_engine_svc_stop(b);
    hk_engine_svc_stop(c);
    free(ids.v);
    world_free(&w);
    env_release(&v);
}

/* ---- kill -9 while writing ------------------------------------------------------------------ */

static void snapshot__kill_during_write_leaves_the_previous_file(void **state)
{
    struct tdb *t = *state;
    struct env v;
    env_init(&v, t, NOW1);
    struct rng r = {77};
    struct world w;
    world_init(&v, &w, &r, 17);
    struct hk_engine_svc *s = start_full(&v);
    char path[512], why[256];
    snprintf(path, sizeof path, "%s/kill.snap", t->tmpdir);
    assert_int_equal(sprobe_write_loop(s, path, 1), 0);
    size_t rows = sprobe_rows(s), got_rows = 0;
    int64_t cursor = -1;
    int mid_write = 0;
    for (int i = 0; i < 25; i++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            sprobe_write_loop(s, path, 1 << 30);
            _exit(0);
        }
        usleep((useconds_t)(500 + rnd(&r, 6000)));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        char tmp[600];
        snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)pid);
        mid_write += access(tmp, F_OK) == 0;
        if (sprobe_read(path, "Asia/Shanghai", &cursor, &got_rows, why, sizeof why) != 0)
            fail_msg("after kill -9 #%d the snapshot is not valid: %s", i, why);
        assert_int_equal(got_rows, rows);
    }
    fprintf(stderr, "kill -9: %d of 25 kills landed while a temporary file was open\n", mid_write);
    assert_true(mid_write > 0);
    /* the next write removes the dead writers' temporary files */
    assert_int_equal(sprobe_write_loop(s, path, 1), 0);
    char pat[600];
    snprintf(pat, sizeof pat, "%s.tmp.*", path);
    glob_t g;
    int grc = glob(pat, 0, NULL, &g);
    assert_int_equal(grc, GLOB_NOMATCH);
    if (grc == 0)
        globfree(&g);
    hk_engine_svc_stop(s);
    world_free(&w);
    env_release(&v);
}

int main(void)
{
    (void)engine_sql_main;
    const char *only = getenv("HUIKE_TEST_FILTER"); /* one test by name pattern */
    if (only && *only)
        cmocka_set_test_filter(only);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(snapshot__catch_up_gives_the_full_load_engine, tdb_setup,
                                        tdb_teardown),
        cmocka_unit_test_setup_teardown(snapshot__bad_files_fall_back_to_the_full_load, tdb_setup,
                                        tdb_teardown),
        cmocka_unit_test_setup_teardown(
            snapshot__periodic_writer_writes_changes_without_holding_readers, tdb_setup,
            tdb_teardown),
        cmocka_unit_test_setup_teardown(snapshot__kill_during_write_leaves_the_previous_file,
                                        tdb_setup, tdb_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
