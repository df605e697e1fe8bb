/*
 * bench_coldstart.c — times the engine's cold start from a huike store: what `huike serve` does
 * at start (services/engine_load: read every row through store/engine_repo, feed the engine,
 * group, aggregate, index, score). Not a test: `bench_coldstart DB [reps]` (an SQLite path or a
 * postgresql:// URL) prints, per run, the time of a bare read of the same rows (the store's
 * share: every row fetched and its columns read, nothing built) and of the whole load, then the
 * engine's memory per order line and customer and the process's peak RSS. Lines for scripts:
 * `RESULT huike-store coldstart|read rep seconds`.
 *
 * `bench_coldstart DB reps snapshot [CHANGED]` then measures the engine snapshot through the
 * service, as `huike serve` and the CLI start (services/engine_svc.c): a full start (the
 * snapshot file DB.engine removed first), the snapshot written from it (time, size, how long the
 * sync was held, and the longest read-lock wait of a reader thread meanwhile), CHANGED customers
 * (default 10000, spread over the ids) marked changed in the change log through the store's
 * write path (hk_db_touch_customer: each is re-read from the store and replayed at the next
 * start, exactly as for a real write by another process), and the start from the snapshot
 * (read + catch-up + derive), whose RFM report must equal the full start's.
 * `RESULT huike-snapshot full|write|start|catchup seconds`. `snapshot-start` only starts from
 * the file as it is (catching up whatever the log has since), for profiling.
 */
#include "core/err.h"
#include "core/tz.h"
#include "engine/engine.h"
#include "services/app.h"
#include "services/engine_load.h"
#include "services/engine_svc.h"
#include "store/engine_repo.h"
#include "store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* CPU time of the process (all threads): on a shared machine the wall clock also counts the
 * time other processes held the cores. */
static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct counts {
    size_t customers, orders, lines, events;
};

static int on_customer(void *ctx, int64_t id, const char *province, const char *city,
                       int64_t merged_into, struct hk_err *err)
{
    (void)id, (void)province, (void)city, (void)merged_into, (void)err;
    ((struct counts *)ctx)->customers++;
    return 0;
}

static int on_order(void *ctx, const struct hk_engine_repo_order *o, struct hk_err *err)
{
    (void)err;
    struct counts *c = ctx;
    c->orders++;
    c->lines += o->n_lines;
    return 0;
}

static int on_event(void *ctx, int64_t customer_id, int64_t shop_id, const char *type, int64_t at,
                    struct hk_err *err)
{
    (void)customer_id, (void)shop_id, (void)type, (void)at, (void)err;
    ((struct counts *)ctx)->events++;
    return 0;
}

static double loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

struct reader {
    struct hk_engine_svc *s;
    volatile bool stop;
    double max_wait;
    unsigned long reads;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    while (!r->stop) {
        double t0 = now_s();
        hk_engine_svc_read(r->s);
        double w = now_s() - t0;
        hk_engine_svc_read_end(r->s);
        if (w > r->max_wait)
            r->max_wait = w;
        r->reads++;
        usleep(200);
    }
    return NULL;
}

static struct hk_engine_svc *svc_timed(struct hk_app *app, double *wall, double *cpu)
{
    struct hk_err err;
    hk_err_clear(&err);
    struct hk_engine_svc_opts o = {.follow = false};
    struct hk_engine_svc *s = NULL;
    double t0 = now_s(), c0 = cpu_s();
    if (hk_engine_svc_start(app, &o, &s, &err)) {
        fprintf(stderr, "engine start: %s\n", hk_err_message(&err));
        exit(1);
    }
    *wall = now_s() - t0;
    *cpu = cpu_s() - c0;
    return s;
}

static void report(struct hk_engine_svc *s, struct hk_rfm_report *out)
{
    memset(out, 0, sizeof(*out));
    hk_engine_rfm_report(hk_engine_svc_read(s), out);
    hk_engine_svc_read_end(s);
}

static int snapshot_bench(const char *dbpath, struct hk_store *store, int64_t now, long changed,
                          bool start_only)
{
    struct hk_err err;
    hk_err_clear(&err);
    struct hk_app app;
    memset(&app, 0, sizeof app);
    hk_config_defaults(&app.cfg);
    snprintf(app.cfg.db, sizeof app.cfg.db, "%s", dbpath);
    hk_clock_init_fixed(&app.clock, now);
    hk_log_init(&app.log, 2, HK_LOG_INFO);
    app.store = store;
    if (hk_tz_load(app.cfg.timezone, &app.tz, &err)) {
        fprintf(stderr, "%s\n", hk_err_message(&err));
        return 1;
    }
    char path[1200];
    snprintf(path, sizeof path, "%s.engine", dbpath);
    if (start_only) { /* the file as it is, no changes: the start alone (for profiles) */
        double w, c;
        struct hk_engine_svc *s = svc_timed(&app, &w, &c);
        struct hk_engine_svc_stats ss;
        hk_engine_svc_stats(s, &ss);
        printf("snapshot start: %.2f s (CPU %.2f s), from snapshot %d (%s), %llu caught up; load "
               "average %.2f\n",
               w, c, ss.from_snapshot, ss.snapshot_skipped, (unsigned long long)ss.snapshot_catchup,
               loadavg());
        hk_engine_svc_stop(s);
        hk_tz_free(app.tz);
        return 0;
    }
    unlink(path);

    double w_full, c_full;
    printf("== snapshot: full start through the service (no snapshot file), load average %.2f\n",
           loadavg());
    fflush(stdout);
    struct hk_engine_svc *full = svc_timed(&app, &w_full, &c_full);
    printf("full start: %.2f s (CPU %.2f s)\n", w_full, c_full);

    struct reader rd = {full, false, 0, 0};
    pthread_t th;
    pthread_create(&th, NULL, reader_main, &rd);
    double t0 = now_s(), c0 = cpu_s();
    if (hk_engine_svc_snapshot(full, &err)) {
        fprintf(stderr, "snapshot: %s\n", hk_err_message(&err));
        return 1;
    }
    double w_write = now_s() - t0, c_write = cpu_s() - c0;
    rd.stop = true;
    pthread_join(th, NULL);
    struct hk_engine_svc_stats st;
    hk_engine_svc_stats(full, &st);
    printf("snapshot write: %.2f s (CPU %.2f s, the reader thread included), %.1f MiB, sync "
           "held %.2f s; reader: %lu reads, longest read-lock wait %.3f ms; load average %.2f\n",
           w_write, c_write, (double)st.snapshot_bytes / (1024.0 * 1024.0),
           (double)st.snapshot_hold_ms / 1000, rd.reads, rd.max_wait * 1000, loadavg());

    /* customers changed by "another process": marked in the change log by the write path */
    size_t rows = st.customers;
    long step = changed > 0 ? (long)(rows / (size_t)changed) : 1;
    struct hk_db *db;
    if (hk_db_acquire(store, &db, &err)) {
        fprintf(stderr, "%s\n", hk_err_message(&err));
        return 1;
    }
    for (long i = 0; i < changed;) {
        if (hk_db_begin(db, HK_TX_WRITE, &err)) {
            fprintf(stderr, "%s\n", hk_err_message(&err));
            return 1;
        }
        for (long k = 0; k < 5000 && i < changed; k++, i++) {
            const struct hk_engine *e = hk_engine_svc_read(full);
            int64_t id = hk_engine_row_id(e, (size_t)(i * step) % rows);
            hk_engine_svc_read_end(full);
            hk_db_touch_customer(db, id);
        }
        if (hk_db_commit(db, &err)) {
            fprintf(stderr, "%s\n", hk_err_message(&err));
            return 1;
        }
    }
    hk_db_release(db);

    double w_snap, c_snap;
    printf("== snapshot start with %ld changed customers, load average %.2f\n", changed, loadavg());
    fflush(stdout);
    struct hk_engine_svc *snap = svc_timed(&app, &w_snap, &c_snap);
    struct hk_engine_svc_stats ss;
    hk_engine_svc_stats(snap, &ss);
    printf("snapshot start: %.2f s (CPU %.2f s), from snapshot %d (%s), %llu customers caught "
           "up; load average %.2f\n",
           w_snap, c_snap, ss.from_snapshot, ss.snapshot_skipped,
           (unsigned long long)ss.snapshot_catchup, loadavg());
    struct hk_rfm_report a, b;
    report(full, &a);
    report(snap, &b);
    bool same = a.customers == b.customers && a.buyers == b.buyers && a.spend_fen == b.spend_fen &&
                memcmp(a.grid, b.grid, sizeof a.grid) == 0;
    for (int i = 0; i < HK_RFM_SEGMENTS; i++)
        same = same && a.segments[i].customers == b.segments[i].customers &&
               a.segments[i].spend_fen == b.segments[i].spend_fen;
    printf("RFM report of the snapshot start %s the full start's (%llu buyers)\n",
           same ? "equals" : "DIFFERS FROM", (unsigned long long)b.buyers);
    printf("RESULT huike-snapshot full %.6f\nRESULT huike-snapshot write %.6f\n"
           "RESULT huike-snapshot start %.6f\nRESULT huike-snapshot catchup %llu\n",
           w_full, w_write, w_snap, (unsigned long long)ss.snapshot_catchup);
    hk_engine_svc_stop(snap);
    hk_engine_svc_stop(full);
    hk_tz_free(app.tz);
    return same && ss.from_snapshot ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DB [reps]\n", argv[0]);
        return 2;
    }
    int reps = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 3;
    if (reps < 1)
        reps = 1;
    struct hk_err err;
    struct hk_store *store;
    if (hk_store_open(argv[1], NULL, &store, &err)) {
        fprintf(stderr, "%s\n", hk_err_message(&err));
        return 1;
    }
    int64_t now = 1735689600; /* 2025-01-01T00:00:00Z, the peers' reference date */
    if (argc > 3 && strncmp(argv[3], "snapshot", 8) == 0) {
        int rc = snapshot_bench(argv[1], store, now, argc > 4 ? strtol(argv[4], NULL, 10) : 10000,
                                strcmp(argv[3], "snapshot-start") == 0);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("peak RSS %.0f MiB\n", (double)ru.ru_maxrss / 1024);
        hk_store_close(store);
        return rc;
    }
    for (int i = 1; i <= reps; i++) {
        struct counts c = {0, 0, 0, 0};
        struct hk_engine_repo_sink sink = {&c,   NULL, NULL,     on_customer, NULL,
                                           NULL, NULL, on_order, on_event,    NULL};
        struct hk_db *db;
        double t0 = now_s(), c0 = cpu_s();
        if (hk_db_acquire(store, &db, &err) || hk_engine_repo_load(db, store, &sink, &err)) {
            fprintf(stderr, "read: %s\n", hk_err_message(&err));
            return 1;
        }
        hk_db_release(db);
        double t_read = now_s() - t0, c_read = cpu_s() - c0;
        struct hk_engine *e;
        t0 = now_s();
        c0 = cpu_s();
        if (hk_engine_load_from_store(store, NULL, now, &e, &err)) {
            fprintf(stderr, "load: %s\n", hk_err_message(&err));
            return 1;
        }
        double t_load = now_s() - t0, c_load = cpu_s() - c0;
        struct hk_engine_memory m;
        hk_engine_memory(e, &m);
        printf("run %d: %zu customers, %zu orders, %zu lines, %zu events; bare read %.2f s (CPU "
               "%.2f s); cold start %.2f s (CPU %.2f s); load average %.2f\n",
               i, c.customers, c.orders, c.lines, c.events, t_read, c_read, t_load, c_load,
               loadavg());
        printf("RESULT huike-store read %d %.6f\nRESULT huike-store coldstart %d %.6f\n", i, t_read,
               i, t_load);
        if (i == reps)
            printf("engine memory: %.1f MB; %.1f bytes per order line (history + index), %.1f "
                   "bytes per customer\n",
                   (double)m.bytes_total / 1e6, (double)m.bytes_history / (double)m.lines,
                   (double)m.bytes_customers / (double)m.customers);
        hk_engine_free(e);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS %.0f MiB\n", (double)ru.ru_maxrss / 1024);
    hk_store_close(store);
    return 0;
}
