/*
 * bench_coldstart.c — times the engine's cold start from a huike store: what `huike serve` does
 * at start (services/engine_load: read every row through store/engine_repo, feed the engine,
 * group, aggregate, index, score). Not a test: `bench_coldstart DB [reps]` (an SQLite path or a
 * postgresql:// URL) prints, per run, the time of a bare read of the same rows (the store's
 * share: every row fetched and its columns read, nothing built) and of the whole load, then the
 * engine's memory per order line and customer and the process's peak RSS. Lines for scripts:
 * `RESULT huike-store coldstart|read rep seconds`.
 */
#include "core/err.h"
#include "engine/engine.h"
#include "services/engine_load.h"
#include "store/engine_repo.h"
#include "store/store.h"

#include <stdio.h>
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
    for (int i = 1; i <= reps; i++) {
        struct counts c = {0, 0, 0, 0};
        struct hk_engine_repo_sink sink = {&c,   NULL, NULL,     on_customer, NULL,
                                           NULL, NULL, on_order, on_event};
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
