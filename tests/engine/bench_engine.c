/*
 * bench_engine.c — measures the engine on a CSV written by the bench-peers generator
 * (gen_orders: order_id,customer_id,channel,paid_at,amount,category,product_id,coupon_used,
 * status). Not a test: `bench_engine orders.csv [reps] [size]` prints load, full recompute, RFM,
 * the two reference segments, one incremental order and memory per order line and customer.
 * With a size label (S, L) it also prints machine-readable lines for bench/engine_bench.sh:
 * `RESULT huike SIZE task rep seconds` and `CHECK huike SIZE key value`. The full recompute's
 * line has its CPU time and is followed by a digest of every score and per-shop entry (A/B runs
 * of a change must print the same); HK_BENCH_ONLY=recompute stops there.
 *
 * The reference workload's times have no zone and its "now" is 2025-01-01T00:00:00, so the
 * shop is in UTC here.
 */
#include "core/err.h"
#include "core/money.h"
#include "core/tz.h"
#include "core/util.h"
#include "engine/engine.h"
#include "engine/engine_int.h"
#include "engine/segment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* CPU time of the process (every thread) since *t0, in ms: less sensitive than the wall clock to
 * other processes on a shared machine. */
static double cpu_ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void print_memory(const struct hk_engine *e, const char *when)
{
    struct hk_engine_memory mem;
    hk_engine_memory(e, &mem);
    printf("memory %s: total %.1f MB; history+index %.1f bytes per order line (%zu lines, index "
           "%.1f MB); customers %.1f bytes per customer (%zu)\n",
           when, (double)mem.bytes_total / 1e6, (double)mem.bytes_history / (double)mem.lines,
           mem.lines, (double)mem.bytes_index / 1e6,
           (double)mem.bytes_customers / (double)mem.customers, mem.customers);
}

static int64_t parse_i64(const char *s, size_t n)
{
    int64_t v = 0;
    if (hk_parse_int64(s, n, &v))
        return -1;
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s orders.csv [reps] [size]\n", argv[0]);
        return 2;
    }
    int64_t reps = 5;
    if (argc > 2 && hk_parse_int64(argv[2], strlen(argv[2]), &reps))
        reps = 5;
    const char *size = argc > 3 ? argv[3] : NULL;
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    struct hk_err err;
    struct hk_engine *e;
    struct hk_engine_opts opts = {"UTC", 2};
    if (hk_engine_new(&opts, &e, &err) || hk_engine_add_shop(e, 1, "UTC", &err)) {
        fprintf(stderr, "%s\n", hk_err_message(&err));
        return 1;
    }
    /* HK_BENCH_SHOPS=one: every order in shop 1 (the figures of earlier sessions); otherwise
     * (channel, the default) one shop per channel, so per-shop RFM has several shops to score */
    const char *shops_env = getenv("HK_BENCH_SHOPS");
    bool shop_per_channel = !shops_env || strcmp(shops_env, "one") != 0;
    char shop_names[16][32];
    int nshop_names = 0;
    char line[512];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t n = 0;
    char *seen_product = calloc(1 << 20, 1);
    if (!fgets(line, sizeof(line), f))
        return 1;
    while (fgets(line, sizeof(line), f)) {
        const char *fld[9];
        size_t len[9];
        char *p = line;
        for (int i = 0; i < 9; i++) {
            fld[i] = p;
            char *q = p + strcspn(p, ",\n");
            len[i] = (size_t)(q - p);
            p = *q ? q + 1 : q;
        }
        int64_t oid = parse_i64(fld[0], len[0]), cid = parse_i64(fld[1], len[1]);
        int64_t pid = parse_i64(fld[6], len[6]);
        int64_t paid_at, fen;
        if (hk_time_parse(fld[3], len[3], NULL, &paid_at, &err) ||
            hk_money_parse(fld[4], len[4], 0, &fen, &err)) {
            fprintf(stderr, "line %zu: %s\n", n + 2, hk_err_message(&err));
            return 1;
        }
        char chan[32], cat[64], ext[32];
        snprintf(chan, sizeof(chan), "%.*s", (int)len[2], fld[2]);
        if (pid >= 0 && pid < (1 << 20) && !seen_product[pid]) {
            snprintf(cat, sizeof(cat), "%.*s", (int)len[5], fld[5]);
            snprintf(ext, sizeof(ext), "%lld", (long long)pid);
            if (hk_engine_add_product(e, pid, ext, cat, &err))
                return 1;
            seen_product[pid] = 1;
        }
        int64_t shop = 1;
        if (shop_per_channel) {
            int k = 0;
            while (k < nshop_names && strcmp(shop_names[k], chan) != 0)
                k++;
            if (k == nshop_names && k < 16) {
                snprintf(shop_names[k], sizeof shop_names[k], "%s", chan);
                nshop_names++;
                if ((k > 0 && hk_engine_add_shop(e, k + 1, "UTC", &err)) ||
                    hk_engine_shop_describe(e, k + 1, chan, chan, &err))
                    return 1;
            }
            shop = k < 16 ? k + 1 : 1;
        }
        bool paid = len[8] == 4 && memcmp(fld[8], "paid", 4) == 0;
        struct hk_engine_line l = {pid, paid ? fen : 0};
        struct hk_engine_order o = {oid,
                                    cid,
                                    shop,
                                    paid ? HK_ORDER_PAID : HK_ORDER_REFUNDED,
                                    true,
                                    paid_at,
                                    fen,
                                    paid ? 0 : fen,
                                    fld[7][0] == '1',
                                    &l,
                                    1};
        if (hk_engine_apply_order(e, &o, &err) || hk_engine_add_channel(e, cid, chan, &err)) {
            fprintf(stderr, "%s\n", hk_err_message(&err));
            return 1;
        }
        n++;
    }
    fclose(f);
    double t_parse = ms_since(&t0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (hk_engine_load_finish(e, &err))
        return 1;
    double t_finish = ms_since(&t0);
    if (size)
        printf("RESULT huike %s load 1 %.6f\n", size, (t_parse + t_finish) / 1e3);
    int64_t now;
    hk_time_parse("2025-01-01T00:00:00Z", 20, NULL, &now, &err);
    printf("orders %zu  customers %zu\n", n, hk_engine_rows(e));
    printf("load: parse+append %.0f ms, group+aggregates+index %.0f ms\n", t_parse, t_finish);
    print_memory(e, "after load");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (hk_index_build(e))
        return 1;
    printf("bought() index rebuild: %.1f ms\n", ms_since(&t0));

    double *times = calloc((size_t)reps, sizeof(double));
    double *t2 = calloc((size_t)reps, sizeof(double));
    double *t3 = calloc((size_t)reps, sizeof(double));
    double *c3 = calloc((size_t)reps, sizeof(double));
    for (int64_t i = 0; i < reps; i++) {
        struct timespec c0;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        hk_engine_recompute(e, &err);
        times[i] = ms_since(&t0);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        hk_engine_rescore(e, now, &err);
        t2[i] = ms_since(&t0);
        t3[i] = times[i] + t2[i];
        c3[i] = cpu_ms_since(&c0);
        if (size)
            printf("RESULT huike %s agg_rfm %lld %.6f\n", size, (long long)i + 1, t3[i] / 1e3);
    }
    qsort(times, (size_t)reps, sizeof(double), cmp_double);
    qsort(t2, (size_t)reps, sizeof(double), cmp_double);
    qsort(t3, (size_t)reps, sizeof(double), cmp_double);
    qsort(c3, (size_t)reps, sizeof(double), cmp_double);
    printf("full recompute: aggregates %.1f ms + RFM %.1f ms = %.1f ms (median of %lld; min "
           "%.1f, max %.1f; CPU median %.1f ms, min %.1f)\n",
           times[reps / 2], t2[reps / 2], t3[reps / 2], (long long)reps, t3[0], t3[reps - 1],
           c3[reps / 2], c3[0]);
    free(c3);
    struct hk_rfm_report rep;
    hk_engine_rfm_report(e, &rep);
    if (size)
        printf("CHECK huike %s n_cust %llu\n", size, (unsigned long long)rep.buyers);
    { /* a digest of every score and per-shop entry, row by row: A/B runs must agree */
        uint64_t h = 1469598103934665603u;
#define MIX(v) (h = (h ^ (uint64_t)(v)) * 1099511628211u)
        for (size_t r = 0; r < e->nc; r++) {
            MIX(e->c_r[r]);
            MIX(e->c_f[r]);
            MIX(e->c_m[r]);
            MIX(e->c_seg[r]);
            MIX(e->c_tier[r]);
            MIX(e->c_freq[r]);
            MIX(e->c_monetary[r]);
            MIX(e->c_last_day[r]);
            MIX(e->c_main_cat[r]);
            for (uint32_t i = e->c_psstart[r]; i < e->c_psstart[r] + e->c_pscount[r]; i++) {
                MIX(e->ps_shop[i]);
                MIX(e->ps_freq[i]);
                MIX(e->ps_mon[i]);
                MIX(e->ps_last[i]);
                MIX(e->ps_r[i]);
                MIX(e->ps_f[i]);
                MIX(e->ps_m[i]);
                MIX(e->ps_seg[i]);
                MIX(e->ps_tier[i]);
            }
        }
#undef MIX
        printf("scores digest %016llx (%zu entries)\n", (unsigned long long)h, e->nps);
    }
    /* HK_BENCH_ONLY=recompute: stop here (for A/B runs of the full recompute) */
    const char *only = getenv("HK_BENCH_ONLY");
    if (only && strcmp(only, "recompute") == 0)
        return 0;

    /* rescoring after a threshold change: alternate the seller's thresholds and the default */
    struct hk_rfm_config def, thr;
    hk_rfm_config_default(&def);
    thr = def;
    thr.score_mode = HK_RFM_SCORE_THRESHOLDS;
    thr.high_mode = HK_RFM_HIGH_THRESHOLDS;
    int32_t rc_days[4] = {30, 90, 180, 365};
    int64_t fc[4] = {2, 3, 5, 8}, mc[4] = {20000, 50000, 100000, 300000};
    memcpy(thr.r_cuts_days, rc_days, sizeof(rc_days));
    memcpy(thr.f_cuts, fc, sizeof(fc));
    memcpy(thr.m_cuts_fen, mc, sizeof(mc));
    thr.r_high_max_days = 90;
    thr.f_high_min = 2;
    thr.m_high_min_fen = 100000;
    double *cpu[2] = {calloc((size_t)reps, sizeof(double)), calloc((size_t)reps, sizeof(double))};
    for (int64_t i = 0; i < reps; i++) {
        for (int k = 0; k < 2; k++) {
            if (hk_engine_rfm_configure(e, k ? &def : &thr, &err))
                return 1;
            struct timespec c0;
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
            clock_gettime(CLOCK_MONOTONIC, &t0);
            hk_engine_rescore(e, now, &err);
            double ms = ms_since(&t0);
            cpu[k][i] = cpu_ms_since(&c0);
            (k ? t2 : times)[i] = ms;
            if (size)
                printf("RESULT huike %s %s %lld %.6f\n", size,
                       k ? "rescore_quintiles" : "rescore_thresholds", (long long)i + 1, ms / 1e3);
        }
    }
    qsort(times, (size_t)reps, sizeof(double), cmp_double);
    qsort(t2, (size_t)reps, sizeof(double), cmp_double);
    qsort(cpu[0], (size_t)reps, sizeof(double), cmp_double);
    qsort(cpu[1], (size_t)reps, sizeof(double), cmp_double);
    printf("rescore after a config change: thresholds %.1f ms (CPU %.1f ms), back to quintiles "
           "%.1f ms (CPU %.1f ms)\n",
           times[reps / 2], cpu[0][reps / 2], t2[reps / 2], cpu[1][reps / 2]);

    /* per shop: a shop-0 change rescores shop 0 and the shops inheriting it; a shop's own
     * change rescores that shop; with every shop on its own configuration, shop 0 alone */
    size_t nshops = hk_engine_shop_count(e);
    int64_t big = 1;
    size_t big_n = 0;
    for (size_t i = 0; i < nshops; i++) {
        struct hk_engine_shop sh;
        hk_engine_shop_at(e, i, &sh);
        struct hk_rfm_report sr;
        if (hk_engine_rfm_report_shop(e, sh.id, &sr, &err) == 0 && sr.buyers > big_n) {
            big_n = sr.buyers;
            big = sh.id;
        }
    }
    const char *what[3] = {"shop 0 + inheriting shops", "the largest shop alone",
                           "shop 0 alone (every shop on its own)"};
    const char *rkey[3] = {"rescore_shop0_inheriting", "rescore_one_shop", "rescore_shop0_alone"};
    for (int w = 0; w < 3; w++) {
        if (w == 2)
            for (size_t i = 0; i < nshops; i++) {
                struct hk_engine_shop sh;
                hk_engine_shop_at(e, i, &sh);
                if (hk_engine_rfm_configure_shop(e, sh.id, &def, &err))
                    return 1;
            }
        int64_t target = w == 1 ? big : 0;
        for (int64_t i = 0; i < reps; i++) {
            for (int k = 0; k < 2; k++) {
                if (hk_engine_rfm_configure_shop(e, target, k ? &def : &thr, &err))
                    return 1;
                struct timespec c0;
                clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
                clock_gettime(CLOCK_MONOTONIC, &t0);
                if (hk_engine_rescore_shop(e, target, now, &err))
                    return 1;
                double ms = ms_since(&t0);
                cpu[k][i] = cpu_ms_since(&c0);
                (k ? t2 : times)[i] = ms;
                if (size)
                    printf("RESULT huike %s %s_%s %lld %.6f\n", size, rkey[w],
                           k ? "quintiles" : "thresholds", (long long)i + 1, ms / 1e3);
            }
        }
        qsort(times, (size_t)reps, sizeof(double), cmp_double);
        qsort(t2, (size_t)reps, sizeof(double), cmp_double);
        qsort(cpu[0], (size_t)reps, sizeof(double), cmp_double);
        qsort(cpu[1], (size_t)reps, sizeof(double), cmp_double);
        printf("rescore %s (%zu shops; largest %zu buyers): thresholds %.1f ms (CPU %.1f ms), "
               "quintiles %.1f ms (CPU %.1f ms)\n",
               what[w], nshops, big_n, times[reps / 2], cpu[0][reps / 2], t2[reps / 2],
               cpu[1][reps / 2]);
    }
    for (size_t i = 0; i < nshops; i++) { /* back to inheriting */
        struct hk_engine_shop sh;
        hk_engine_shop_at(e, i, &sh);
        hk_engine_rfm_configure_shop(e, sh.id, NULL, &err);
    }
    free(cpu[0]);
    free(cpu[1]);

    const char *exprs[] = {
        "recency_days > 90 and aov > 500",
        "bought(category=\"phones\", within=30d) and not bought(category=\"phone_accessories\")",
        "bought(category=\"phones\", within=31d) and not bought(category=\"phone_accessories\")",
        "bought(category=\"phones\", min_count=2) and r_score >= 4",
        "rfm_segment = \"重要挽留客户\" and channel in (\"taobao\", \"douyin\")",
        "r_score(shop=1) >= 4 and m_score(shop=1) >= 4",
    };
    const char *keys[] = {"seg1",        "seg2_30d",       "seg2", "bought_min_count",
                          "seg_strings", "seg_shop_scores"};
    for (size_t k = 0; k < sizeof(exprs) / sizeof(exprs[0]); k++) {
        struct hk_segment *s;
        if (hk_segment_compile(e, exprs[k], NULL, &s, &err)) {
            fprintf(stderr, "%s\n", hk_err_message(&err));
            return 1;
        }
        uint64_t *bits = malloc(hk_segment_words(e) * 8);
        size_t cnt = 0;
        for (int64_t i = 0; i < reps; i++) {
            clock_gettime(CLOCK_MONOTONIC, &t0);
            hk_segment_eval(e, s, now, bits, &cnt, &err);
            times[i] = ms_since(&t0);
            if (size)
                printf("RESULT huike %s %s %lld %.6f\n", size, keys[k], (long long)i + 1,
                       times[i] / 1e3);
        }
        if (size)
            printf("CHECK huike %s %s %zu\n", size, keys[k], cnt);
        qsort(times, (size_t)reps, sizeof(double), cmp_double);
        printf("segment %-90s count %8zu  %.2f ms (min %.2f)\n", exprs[k], cnt, times[reps / 2],
               times[0]);
        free(bits);
        hk_segment_free(s);
    }

    /* incremental: new orders for existing customers */
    size_t rows = hk_engine_rows(e), m = 200000;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < m; i++) {
        struct hk_engine_line l = {2202, 9900};
        struct hk_engine_order o = {900000000 + (int64_t)i,
                                    hk_engine_row_id(e, (i * 7919) % rows),
                                    1,
                                    HK_ORDER_PAID,
                                    true,
                                    now - 3600,
                                    9900,
                                    0,
                                    false,
                                    &l,
                                    1};
        if (hk_engine_apply_order(e, &o, &err)) {
            fprintf(stderr, "%s\n", hk_err_message(&err));
            return 1;
        }
    }
    double t_apply = ms_since(&t0);
    printf("apply one order: %.2f us average over %zu (random existing customers)\n",
           t_apply * 1e3 / (double)m, m);
    if (size)
        printf("RESULT huike %s apply_one_order 1 %.9f\n", size, t_apply / 1e3 / (double)m);

    printf("bought() index builds so far: %zu\n", e->ix_builds);
    print_memory(e, "after the applies");
    free(times);
    free(t2);
    free(t3);
    free(seen_product);
    hk_engine_free(e);
    return 0;
}
