/*
 * bench_tag_rules.c — a measuring tool, not a test: the cost of deriving the preset rule tags
 * (5 fixed presets + one `main_category = "c"` per category) over a generated engine.
 *
 *   bench_tag_rules [CUSTOMERS [CATEGORIES [REPS]]]     (default 1,950,000, 21, 7)
 *
 * Generates CUSTOMERS customers with 1..5 counted orders each (one to three lines, categories
 * drawn with a skew so that a few categories are most customers' main one, a fifth of the
 * orders with a coupon, paid over the last 400 days), then times, REPS times each, alternating:
 *   per-rule  every rule compiled and evaluated alone (the evaluation before the one-pass change);
 *   derive    hk_tag_rules_eval (the `main_category` rules in one pass, the rest alone);
 * and the category rules alone both ways. Prints medians of wall and process CPU time (all
 * threads), the load average, and checks that both give the same members.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "engine/engine.h"
#include "engine/segment.h"
#include "services/tag_rules.h"
#include "store/tags_repo.h"

static double now_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void die(const char *what, const struct hk_err *err)
{
    fprintf(stderr, "%s: %s\n", what, err ? hk_err_message(err) : "failed");
    exit(1);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

/* Every rule compiled and evaluated alone into bits (n × words). */
static void per_rule(const struct hk_engine *e, char **exprs, size_t n, int64_t now, uint64_t *bits,
                     size_t words)
{
    struct hk_err err;
    for (size_t i = 0; i < n; i++) {
        struct hk_segment *seg = NULL;
        if (hk_segment_compile(e, exprs[i], NULL, &seg, &err) ||
            hk_segment_eval(e, seg, now, bits + i * words, NULL, &err))
            die(exprs[i], &err);
        hk_segment_free(seg);
    }
}

struct rules {
    struct hk_tag_row *rows;
    char **exprs;
    size_t n;
};

static struct hk_tag_rules *make_rules(const struct rules *r)
{
    struct hk_tag_rules *t = NULL;
    struct hk_err err;
    if (hk_tag_rules_from_rows(r->rows, r->n, &t, &err))
        die("rules", &err);
    return t;
}

static void run(const char *label, const struct hk_engine *e, const struct rules *r, int reps,
                int64_t now)
{
    size_t words = hk_segment_words(e);
    uint64_t *a = malloc(r->n * words * sizeof(uint64_t));
    uint64_t *b = malloc(r->n * words * sizeof(uint64_t));
    struct hk_tag_rules *t = make_rules(r);
    double wa[64], ca[64], wb[64], cb[64];
    struct hk_err err;
    if (!a || !b || reps > 64)
        die("alloc", NULL);
    for (int k = 0; k < reps; k++) {
        double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
        per_rule(e, r->exprs, r->n, now, a, words);
        wa[k] = now_s(CLOCK_MONOTONIC) - w0;
        ca[k] = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        struct hk_tag_rules_result res;
        w0 = now_s(CLOCK_MONOTONIC);
        c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
        if (hk_tag_rules_eval(t, e, now, &res, &err))
            die("eval", &err);
        wb[k] = now_s(CLOCK_MONOTONIC) - w0;
        cb[k] = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        if (res.failed)
            die("a rule failed", NULL);
    }
    /* the same members: assign the derived bitmaps, then compare has_tag with per-rule bits */
    if (hk_tag_rules_assign(t, (struct hk_engine *)e, NULL, &err))
        die("assign", &err);
    for (size_t i = 0; i < r->n; i++) {
        char ex[300];
        snprintf(ex, sizeof ex, "has_tag(\"%s\")", r->rows[i].name);
        char *one[] = {ex};
        per_rule(e, one, 1, now, b, words);
        if (memcmp(a + i * words, b, words * sizeof(uint64_t)) != 0)
            die(r->rows[i].name, NULL);
    }
    double load[3] = {0};
    if (getloadavg(load, 3) < 0)
        load[0] = -1;
    printf("%-28s rules %2zu  per-rule %8.2f ms wall %8.2f ms CPU  |  derive %8.2f ms wall "
           "%8.2f ms CPU  (median of %d, load %.2f)\n",
           label, r->n, median(wa, reps) * 1e3, median(ca, reps) * 1e3, median(wb, reps) * 1e3,
           median(cb, reps) * 1e3, reps, load[0]);
    hk_tag_rules_free(t);
    free(a);
    free(b);
}

int main(int argc, char **argv)
{
    long ncust = argc > 1 ? strtol(argv[1], NULL, 10) : 1950000;
    int ncat = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 21;
    int reps = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 7;
    if (ncust < 1 || ncat < 1 || ncat > 500 || reps < 1 || reps > 64)
        die("usage: bench_tag_rules [CUSTOMERS [CATEGORIES [REPS]]]", NULL);
    struct hk_err err;
    struct hk_engine *e = NULL;
    if (hk_engine_new(NULL, &e, &err) || hk_engine_add_shop(e, 1, "Asia/Shanghai", &err))
        die("engine", &err);
    char name[64], ext[32];
    for (int c = 0; c < ncat; c++) {
        snprintf(name, sizeof name, "类目%02d/子类%02d", c / 4, c);
        snprintf(ext, sizeof ext, "P%d", c + 1);
        if (hk_engine_add_product(e, c + 1, ext, name, &err))
            die("product", &err);
    }
    int64_t now = 1798761600; /* 2027-01-01T00:00:00Z */
    double t0 = now_s(CLOCK_MONOTONIC);
    int64_t oid = 1;
    size_t orders = 0;
    for (long c = 1; c <= ncust; c++) {
        int n = 1 + (int)rnd(5);
        for (int k = 0; k < n; k++) {
            struct hk_engine_line lines[3];
            size_t nl = 1 + rnd(3);
            int64_t paid = 0;
            for (size_t j = 0; j < nl; j++) {
                uint32_t x = rnd((uint32_t)ncat * (uint32_t)ncat); /* skewed: low ids common */
                uint32_t cat =
                    (uint32_t)ncat - 1 -
                    (uint32_t)(x / (uint32_t)ncat * x) / ((uint32_t)ncat * (uint32_t)ncat);
                lines[j].product_id = cat + 1;
                lines[j].amount_fen = 1000 + rnd(80000);
                paid += lines[j].amount_fen;
            }
            struct hk_engine_order o = {
                oid++, c, 1,           HK_ORDER_PAID, true, now - (int64_t)rnd(400 * 86400),
                paid,  0, rnd(5) == 0, lines,         nl};
            if (hk_engine_apply_order(e, &o, &err))
                die("order", &err);
            orders++;
        }
    }
    if (hk_engine_load_finish(e, &err) || hk_engine_rescore(e, now, &err))
        die("load", &err);
    printf("engine: %ld customers, %zu orders, %d categories, generated and loaded in %.1f s\n",
           ncust, orders, ncat, now_s(CLOCK_MONOTONIC) - t0);

    /* the presets (docs/segments.md, "Presets") */
    static const char *const fixed[][2] = {
        {"高客单价", "aov >= 440"},
        {"高频复购", "frequency >= 3"},
        {"优惠券敏感", "coupon_use_rate >= 0.5 and frequency >= 2"},
        {"沉睡客户", "recency_days >= 180"},
        {"新客", "first_order_days < 30"},
    };
    size_t n = 5 + (size_t)ncat;
    struct hk_tag_row *rows = calloc(n, sizeof *rows);
    char **exprs = calloc(n, sizeof *exprs);
    if (!rows || !exprs)
        die("alloc", NULL);
    for (size_t i = 0; i < n; i++) {
        char nm[96], ex[160];
        if (i < 5) {
            snprintf(nm, sizeof nm, "%s", fixed[i][0]);
            snprintf(ex, sizeof ex, "%s", fixed[i][1]);
        } else {
            snprintf(nm, sizeof nm, "子类%02zu爱好者", i - 5);
            snprintf(ex, sizeof ex, "main_category = \"类目%02zu/子类%02zu\"", (i - 5) / 4, i - 5);
        }
        rows[i].id = (int64_t)i + 1;
        rows[i].name = strdup(nm);
        rows[i].kind = strdup("rule");
        rows[i].expression = exprs[i] = strdup(ex);
    }
    struct rules all = {rows, exprs, n}, cats = {rows + 5, exprs + 5, (size_t)ncat};
    run("all presets (5 + categories)", e, &all, reps, now);
    run("category presets only", e, &cats, reps, now);
    for (size_t i = 0; i < n; i++) {
        free(rows[i].name);
        free(rows[i].kind);
        free(exprs[i]);
    }
    free(rows);
    free(exprs);
    hk_engine_free(e);
    return 0;
}
