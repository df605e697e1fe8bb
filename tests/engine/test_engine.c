/*
 * test_engine.c — the engine's semantics on hand-made data: aggregates (midnight in the shop's
 * zone, refunds, cancelled-only customers, empty engine), missing values with `not`, RFM
 * quintiles with ties, the eight segments and four tiers, merges, incremental apply, and the
 * segment language's errors (positions, expectations, suggestions) and in_segment cycles.
 */
#include "../unit/unit.h"

#include "core/err.h"
#include "core/tz.h"
#include "engine/engine.h"
#include "engine/engine_int.h"
#include "engine/segment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t at(const char *s)
{
    int64_t t = 0;
    struct hk_err err;
    assert_int_equal(hk_time_parse(s, strlen(s), NULL, &t, &err), 0);
    return t;
}

#define NOW at("2026-03-01T12:00:00+08:00")

static struct hk_engine *new_engine(void)
{
    struct hk_engine *e = NULL;
    struct hk_err err;
    assert_int_equal(hk_engine_new(NULL, &e, &err), 0);
    assert_int_equal(hk_engine_add_shop(e, 1, "Asia/Shanghai", &err), 0);
    assert_int_equal(hk_engine_add_product(e, 101, "P1001", "phones", &err), 0);
    assert_int_equal(hk_engine_add_product(e, 102, "P2002", "phone_accessories", &err), 0);
    assert_int_equal(hk_engine_add_product(e, 103, "P3003", "连衣裙", &err), 0);
    return e;
}

static void order(struct hk_engine *e, int64_t oid, int64_t cid, enum hk_order_status st,
                  const char *paid, int64_t paid_fen, int64_t refund_fen, int64_t product)
{
    struct hk_err err;
    struct hk_engine_line line = {product, paid_fen - refund_fen};
    struct hk_engine_order o = {
        oid,      cid,        1,     st,    paid != NULL,   paid ? at(paid) : 0,
        paid_fen, refund_fen, false, &line, product ? 1 : 0};
    int rc = hk_engine_apply_order(e, &o, &err);
    if (rc)
        print_error("%s\n", hk_err_message(&err));
    assert_int_equal(rc, 0);
}

static size_t count(struct hk_engine *e, const char *expr)
{
    size_t n = 0;
    struct hk_err err;
    int rc = hk_segment_count(e, expr, NULL, NOW, &n, &err);
    if (rc)
        print_error("%s: %s\n", expr, hk_err_message(&err));
    assert_int_equal(rc, 0);
    return n;
}

static const char *parse_error(struct hk_engine *e, const char *expr, struct hk_err *err)
{
    size_t n;
    assert_int_equal(hk_segment_count(e, expr, NULL, NOW, &n, err), HK_E(INVAL));
    return hk_err_message(err);
}

static void finish(struct hk_engine *e)
{
    struct hk_err err;
    assert_int_equal(hk_engine_load_finish(e, &err), 0);
    assert_int_equal(hk_engine_rescore(e, NOW, &err), 0);
}

static void engine__days_ago_uses_shop_local_midnight(void **state)
{
    (void)state;
    struct hk_engine *e = new_engine();
    /* 00:00:00 on 1 March in Shanghai is today; one second earlier is yesterday. */
    order(e, 1, 10, HK_ORDER_PAID, "2026-03-01T00:00:00+08:00", 1000, 0, 101);
    order(e, 2, 11, HK_ORDER_PAID, "2026-02-28T23:59:59+08:00", 1000, 0, 101);
    finish(e);
    struct hk_engine_aggregates a;
    struct hk_err err;
    assert_int_equal(hk_engine_customer_get(e, 10, NOW, &a, &err), 0);
    assert_int_equal(a.recency_days, 0);
    assert_int_equal(hk_engine_customer_get(e, 11, NOW, &a, &err), 0);
    assert_int_equal(a.recency_days, 1);
    assert_int_equal(count(e, "bought(within=1d)"), 1);
    assert_int_equal(count(e, "bought(within=2d)"), 2);
    assert_int_equal(count(e, "recency_days < 1"), 1);
    assert_int_equal(count(e, "recency_days = 1"), 1);
    assert_int_equal(count(e, "bought(within=24h)"), 1);
    assert_int_equal(count(e, "bought(within=25h)"), 2);
    hk_engine_free(e);
}

static void engine__refunds_cancellations_and_missing_values(void **state)
{
    (void)state;
    struct hk_engine *e = new_engine();
    order(e, 1, 10, HK_ORDER_COMPLETED, "2025-10-01T10:00:00+08:00", 10000, 3000, 101);
    order(e, 2, 10, HK_ORDER_REFUNDED, "2025-10-02T10:00:00+08:00", 5000, 5000, 102);
    order(e, 3, 11, HK_ORDER_CANCELLED, NULL, 8000, 0, 101); /* only cancelled */
    order(e, 4, 12, HK_ORDER_CREATED, NULL, 8000, 0, 101);
    finish(e);
    struct hk_engine_aggregates a;
    struct hk_err err;
    assert_int_equal(hk_engine_customer_get(e, 10, NOW, &a, &err), 0);
    assert_int_equal(a.frequency, 1);
    assert_int_equal(a.monetary_fen, 7000);
    assert_int_equal(a.refund_count, 2);
    assert_string_equal(a.main_category, "phones");
    assert_int_equal(hk_engine_customer_get(e, 11, NOW, &a, &err), 0);
    assert_int_equal(a.frequency, 0);
    assert_int_equal(a.monetary_fen, 0);
    assert_false(a.has_recency);
    assert_null(a.main_category);
    /* missing values: comparisons false both ways; not is the plain complement */
    assert_int_equal(count(e, "recency_days > 90"), 1);
    assert_int_equal(count(e, "recency_days <= 90"), 0);
    assert_int_equal(count(e, "not recency_days > 90"), 2);
    assert_int_equal(count(e, "aov != 70"), 0);
    assert_int_equal(count(e, "aov = 70"), 1);
    assert_int_equal(count(e, "not aov = 70"), 2);
    assert_int_equal(count(e, "frequency = 0"), 2);
    assert_int_equal(count(e, "monetary = 0"), 2);
    assert_int_equal(count(e, "bought(category=\"phone_accessories\")"), 0);
    assert_int_equal(count(e, "refund_count >= 1"), 1);
    hk_engine_free(e);
}

static void engine__empty_engine_answers_zero(void **state)
{
    (void)state;
    struct hk_engine *e = new_engine();
    finish(e);
    assert_int_equal(count(e, "recency_days > 90 or not recency_days > 90"), 0);
    assert_int_equal(count(e, "not frequency > 0"), 0);
    struct hk_rfm_report rep;
    hk_engine_rfm_report(e, &rep);
    assert_int_equal(rep.buyers, 0);
    assert_int_equal(rep.n_tiers, 5);
    hk_engine_free(e);
}

static void engine__money_literals_are_exact_yuan(void **state)
{
    (void)state;
    struct hk_engine *e = new_engine();
    order(e, 1, 10, HK_ORDER_PAID, "2026-02-01T10:00:00+08:00", 50000, 0, 101);
    order(e, 2, 11, HK_ORDER_PAID, "2026-02-01T10:00:00+08:00", 49999, 0, 101);
    order(e, 3, 12, HK_ORDER_PAID, "2026-02-01T10:00:00+08:00", 100001, 0, 101);
    order(e, 4, 12, HK_ORDER_PAID, "2026-02-02T10:00:00+08:00", 0, 0, 101);
    finish(e);
    assert_int_equal(count(e, "aov >= 500"), 2); /* 500.00 and 500.005 */
    assert_int_equal(count(e, "aov > 500"), 1);
    assert_int_equal(count(e, "aov = 500"), 1);
    assert_int_equal(count(e, "aov between 499.99 and 500"), 2);
    assert_int_equal(count(e, "monetary in (500, 499.99)"), 2);
    assert_int_equal(count(e, "monetary > 1000.00"), 1);
    hk_engine_free(e);
}

/* Amounts past int32 fen move the amount columns to int64; an aov past the int32 key takes the
 * exact path. Both before and after the load, and with the bought() index answering. */
static void engine__huge_amounts_stay_exact(void **state)
{
    (void)state;
    struct hk_engine *e = new_engine();
    order(e, 1, 10, HK_ORDER_PAID, "2026-02-01T10:00:00+08:00", 50000, 0, 101);
    finish(e);
    assert_int_equal(count(e, "aov >= 500 and aov <= 500"), 1);
    /* 30,000,000.01 yuan: past int32 fen */
    order(e, 2, 11, HK_ORDER_PAID, "2026-02-20T10:00:00+08:00", 3000000001LL, 0, 102);
    order(e, 3, 12, HK_ORDER_PAID, "2026-02-21T10:00:00+08:00", 1000, 0, 103);
    struct hk_engine_aggregates a;
    struct hk_err err;
    assert_int_equal(hk_engine_customer_get(e, 11, NOW, &a, &err), 0);
    assert_int_equal(a.monetary_fen, 3000000001LL);
    assert_string_equal(a.main_category, "phone_accessories");
    assert_int_equal(count(e, "aov > 30000000"), 1);
    assert_int_equal(count(e, "aov > 30000000.01"), 0);
    assert_int_equal(count(e, "aov >= 30000000.01"), 1);
    assert_int_equal(count(e, "aov < 500"), 1);
    assert_int_equal(count(e, "aov = 500"), 1);
    assert_int_equal(count(e, "bought(category=\"phone_accessories\", within=30d)"), 1);
    assert_int_equal(count(e, "bought(product=\"P3003\") and not bought(category=\"phones\")"), 1);
    /* clearing the big customer brings the fast aov path back */
    assert_int_equal(hk_engine_customer_clear(e, 11, &err), 0);
    assert_int_equal(count(e, "aov > 400"), 1);
    assert_int_equal(count(e, "bought(category=\"phone_accessories\")"), 0);
    hk_engine_free(e);
}

/* The bought() index after the load: keys newer than the index, removals, merges, rebuilds. */
static void engine__bought_index_follows_changes(void **state)
{
    (void)state;
    struct hk_engine *e = new_engine();
    struct hk_err err;
    order(e, 1, 10, HK_ORDER_PAID, "2026-02-27T10:00:00+08:00", 1000, 0, 101);
    order(e, 2, 11, HK_ORDER_PAID, "2025-02-27T10:00:00+08:00", 1000, 0, 102);
    finish(e);
    assert_true(hk_engine_loaded(e));
    /* a category and a product the index has never seen */
    assert_int_equal(hk_engine_add_product(e, 104, "P4004", "零食", &err), 0);
    order(e, 3, 11, HK_ORDER_PAID, "2026-02-28T10:00:00+08:00", 500, 0, 104);
    order(e, 4, 12, HK_ORDER_CANCELLED, "2026-02-28T10:00:00+08:00", 500, 0, 104);
    assert_int_equal(count(e, "bought(category=\"零食\", within=7d)"), 1);
    assert_int_equal(count(e, "bought(product=\"P4004\")"), 1);
    assert_int_equal(count(e, "bought(category=\"phone_accessories\", within=30d)"), 0);
    assert_int_equal(count(e, "bought(category=\"phone_accessories\")"), 1);
    /* a removed order no longer counts; a replaced one counts as it is now */
    assert_int_equal(hk_engine_remove_order(e, 10, 1, &err), 0);
    assert_int_equal(count(e, "bought(category=\"phones\")"), 0);
    order(e, 2, 11, HK_ORDER_PAID, "2026-02-28T10:00:00+08:00", 1000, 0, 102);
    assert_int_equal(count(e, "bought(category=\"phone_accessories\", within=30d)"), 1);
    order(e, 5, 13, HK_ORDER_PAID, "2026-02-28T10:00:00+08:00", 1000, 0, 101);
    /* merging 13 into 12 moves the phones purchase */
    assert_int_equal(hk_engine_merge(e, 12, 13, &err), 0);
    assert_int_equal(count(e, "bought(category=\"phones\", within=30d)"), 1);
    assert_int_equal(hk_engine_row_of(e, 12) >= 0, 1);
    size_t n = 0;
    assert_int_equal(hk_segment_count(e, "bought(product=\"P1001\")", NULL, NOW, &n, &err), 0);
    assert_int_equal(n, 1);
    struct hk_engine_memory m;
    hk_engine_memory(e, &m);
    assert_true(m.bytes_index > 0);
    hk_engine_free(e);
}

static void engine__quintile_scores_follow_the_formula_with_ties(void **state)
{
    (void)state;
    struct hk_engine *e = new_engine();
    /* frequencies 1,1,1,1,1,2,2,3,4,5 for customers 1..10 */
    const int freq[10] = {1, 1, 1, 1, 1, 2, 2, 3, 4, 5};
    int64_t oid = 1;
    for (int c = 0; c < 10; c++)
        for (int k = 0; k < freq[c]; k++)
            order(e, oid++, c + 1, HK_ORDER_PAID, "2026-02-01T10:00:00+08:00", 1000, 0, 101);
    finish(e);
    /* strictly worse: 0 -> 1; 5 -> 1+floor(25/10)=3; 7 -> 4; 8 -> 5; 9 -> 5 */
    const int want[10] = {1, 1, 1, 1, 1, 3, 3, 4, 5, 5};
    for (int c = 0; c < 10; c++) {
        struct hk_engine_aggregates a;
        struct hk_err err;
        assert_int_equal(hk_engine_customer_get(e, c + 1, NOW, &a, &err), 0);
        assert_int_equal(a.f_score, want[c]);
        assert_int_equal(a.r_score, 1); /* all tied on recency: nobody strictly worse */
    }
    assert_int_equal(count(e, "f_score = 3"), 2);
    assert_int_equal(count(e, "f_score >= 4"), 3);
    hk_engine_free(e);
}

/* Quintiles over money spread across 11 digits (the radix-select path), against the formula. */
static void engine__quintiles_over_wide_money_match_the_formula(void **state)
{
    (void)state;
    struct hk_engine *e = new_engine();
    enum { N = 1500 };
    static int64_t mon[N];
    static int days[N];
    uint64_t x = 88172645463325252ull;
    for (int c = 0; c < N; c++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* clusters: a few high bits shared by many, low bits apart, and exact ties */
        mon[c] = (int64_t)((x % 7) << 33) + (int64_t)((x >> 8) % 5000) * 997 + 1;
        days[c] = (int)((x >> 24) % 700);
        char when[40];
        int64_t t = NOW - (int64_t)days[c] * 86400 - 3600;
        assert_true(hk_time_format_utc(t, when, sizeof when) > 0);
        order(e, c + 1, c + 1, HK_ORDER_PAID, when, mon[c], 0, 101);
    }
    finish(e);
    struct hk_rfm_report live, pv;
    hk_engine_rfm_report(e, &live);
    for (int c = 0; c < N; c++) {
        int wm = 0, wr = 0;
        for (int o = 0; o < N; o++) {
            wm += mon[o] < mon[c];
            wr += days[o] > days[c];
        }
        struct hk_engine_aggregates a;
        struct hk_err err;
        assert_int_equal(hk_engine_customer_get(e, c + 1, NOW, &a, &err), 0);
        assert_int_equal(a.m_score, 1 + 5 * wm / N);
        assert_int_equal(a.r_score, 1 + 5 * wr / N);
        assert_int_equal(a.f_score, 1); /* all tied */
    }
    /* a preview of the configuration in force is the report, and leaves the scores alone */
    struct hk_err err;
    assert_int_equal(hk_engine_rfm_preview(e, hk_engine_rfm_config(e), NOW, &pv, &err), 0);
    assert_memory_equal(&pv, &live, sizeof pv);
    struct hk_rfm_config cfg = *hk_engine_rfm_config(e);
    cfg.score_mode = HK_RFM_SCORE_THRESHOLDS;
    cfg.m_cuts_fen[3] = INT64_MAX; /* nobody scores M 5 */
    assert_int_equal(hk_engine_rfm_preview(e, &cfg, NOW, &pv, &err), 0);
    assert_memory_not_equal(&pv, &live, sizeof pv);
    assert_int_equal(pv.buyers, N);
    struct hk_rfm_report again;
    hk_engine_rfm_report(e, &again);
    assert_memory_equal(&again, &live, sizeof again);
    /* ... and it is what configuring and rescoring gives */
    assert_int_equal(hk_engine_rfm_configure(e, &cfg, &err), 0);
    assert_int_equal(hk_engine_rescore(e, NOW, &err), 0);
    hk_engine_rfm_report(e, &again);
    assert_memory_equal(&again, &pv, sizeof again);
    assert_int_equal(count(e, "m_score = 5"), 0);
    cfg.f_cuts[1] = cfg.f_cuts[0]; /* not ascending */
    assert_int_equal(hk_engine_rfm_preview(e, &cfg, NOW, &pv, &err), HK_E(INVAL));
    hk_engine_free(e);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Enough buyers for the scoring to use both threads (cut keys of M on the second). */
static void engine__quintiles_on_two_threads_match_the_formula(void **state)
{
    (void)state;
    struct hk_engine *e = new_engine();
    enum { N = 70000 };
    int64_t *mon = malloc(N * sizeof(int64_t)), *sorted = malloc(N * sizeof(int64_t));
    assert_non_null(mon);
    assert_non_null(sorted);
    uint64_t x = 0x2545F4914F6CDD1Dull;
    for (int c = 0; c < N; c++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        mon[c] = (int64_t)((x % 3) << 30) + (int64_t)((x >> 8) % 20000) * 31 + 1;
        order(e, c + 1, c + 1, HK_ORDER_PAID, "2026-02-01T10:00:00+08:00", mon[c], 0, 101);
    }
    finish(e);
    memcpy(sorted, mon, N * sizeof(int64_t));
    qsort(sorted, N, sizeof(int64_t), cmp_i64);
    for (int c = 0; c < N; c += 7) {
        size_t lo = 0, hi = N; /* strictly worse = the first index of mon[c] in sorted */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (sorted[mid] < mon[c])
                lo = mid + 1;
            else
                hi = mid;
        }
        struct hk_engine_aggregates a;
        struct hk_err err;
        assert_int_equal(hk_engine_customer_get(e, c + 1, NOW, &a, &err), 0);
        assert_int_equal(a.m_score, 1 + (int)(5 * lo / N));
    }
    free(mon);
    free(sorted);
    hk_engine_free(e);
}

/* One buyer per combination of R, F, M high/low, with thresholds 1/2/3 for the scores. */
static void engine__eight_segments_and_four_tiers(void **state)
{
    (void)state;
    struct hk_engine *e = new_engine();
    int64_t oid = 1;
    for (int c = 0; c < 8; c++) {
        bool mlo = c & 4, rlo = c & 2, flo = c & 1;
        int n = flo ? 1 : 6;
        for (int k = 0; k < n; k++)
            order(e, oid++, c + 1, HK_ORDER_PAID,
                  rlo ? "2025-06-01T10:00:00+08:00" : "2026-02-25T10:00:00+08:00",
                  (mlo ? 1000 : 200000) / n, 0, 101);
    }
    struct hk_rfm_config cfg;
    hk_rfm_config_default(&cfg);
    cfg.score_mode = HK_RFM_SCORE_THRESHOLDS;
    cfg.high_mode = HK_RFM_HIGH_THRESHOLDS;
    struct hk_err err;
    assert_int_equal(hk_engine_rfm_configure(e, &cfg, &err), 0);
    finish(e);
    for (int c = 0; c < 8; c++) {
        struct hk_engine_aggregates a;
        assert_int_equal(hk_engine_customer_get(e, c + 1, NOW, &a, &err), 0);
        assert_string_equal(a.rfm_segment, hk_rfm_segment_name(c + 1));
    }
    /* scores: R 5 (4 days) / 1 (273 days); F 4 (6 orders) / 1; M 5 (2000 yuan) / 1 (10 yuan) */
    struct hk_engine_aggregates a;
    assert_int_equal(hk_engine_customer_get(e, 1, NOW, &a, &err), 0);
    assert_string_equal(a.rfm_tier, "高价值客户");
    assert_int_equal(hk_engine_customer_get(e, 2, NOW, &a, &err), 0);
    assert_string_equal(a.rfm_tier, "潜力客户");
    assert_int_equal(hk_engine_customer_get(e, 3, NOW, &a, &err), 0);
    assert_string_equal(a.rfm_tier, "待唤醒客户");
    assert_int_equal(hk_engine_customer_get(e, 8, NOW, &a, &err), 0);
    assert_string_equal(a.rfm_tier, "一般挽留客户");
    assert_int_equal(hk_engine_customer_get(e, 4, NOW, &a, &err), 0);
    assert_string_equal(a.rfm_tier, "其他");
    assert_int_equal(count(e, "rfm_segment = \"重要挽留客户\""), 1);
    assert_int_equal(count(e, "rfm_tier in (\"高价值客户\", \"其他\")"), 1 + 4);
    struct hk_rfm_report rep;
    hk_engine_rfm_report(e, &rep);
    assert_int_equal(rep.buyers, 8);
    for (int s = 0; s < 8; s++)
        assert_int_equal(rep.segments[s].customers, 1);
    assert_int_equal(rep.grid[4][3], 2); /* R 5, F 4 */
    assert_int_equal(rep.tiers[0].customers, 1);
    assert_int_equal(rep.tiers[0].spend_fen, 199998);
    hk_engine_free(e);
}

static void engine__mean_split_segments(void **state)
{
    (void)state;
    struct hk_engine *e = new_engine();
    order(e, 1, 1, HK_ORDER_PAID, "2026-02-28T10:00:00+08:00", 100000, 0, 101);
    order(e, 2, 1, HK_ORDER_PAID, "2026-02-27T10:00:00+08:00", 100000, 0, 101);
    order(e, 3, 2, HK_ORDER_PAID, "2025-01-01T10:00:00+08:00", 100, 0, 101);
    finish(e);
    assert_int_equal(count(e, "rfm_segment = \"重要价值客户\""), 1);
    assert_int_equal(count(e, "rfm_segment = \"一般挽留客户\""), 1);
    hk_engine_free(e);
}

static void engine__merge_moves_history_and_clear_undoes_it(void **state)
{
    (void)state;
    struct hk_engine *e = new_engine();
    struct hk_err err;
    order(e, 1, 10, HK_ORDER_PAID, "2026-02-20T10:00:00+08:00", 1000, 0, 101);
    order(e, 2, 11, HK_ORDER_PAID, "2026-02-21T10:00:00+08:00", 2000, 0, 102);
    assert_int_equal(hk_engine_add_channel(e, 11, "jd", &err), 0);
    assert_int_equal(hk_engine_tag_set(e, 11, "vip", true, &err), 0);
    assert_int_equal(hk_engine_add_event(e, 11, 1, "browse", at("2026-02-28T10:00:00+08:00"), &err),
                     0);
    finish(e);
    assert_int_equal(count(e, "frequency >= 1"), 2);
    assert_int_equal(hk_engine_merge(e, 10, 11, &err), 0);
    struct hk_engine_aggregates a;
    assert_int_equal(hk_engine_customer_get(e, 10, NOW, &a, &err), 0);
    assert_int_equal(a.frequency, 2);
    assert_int_equal(a.monetary_fen, 3000);
    assert_int_equal(a.recency_days, 8);
    assert_int_equal(count(e, "frequency >= 1"), 1);
    assert_int_equal(count(e, "has_tag(\"vip\") and channel = \"jd\""), 1);
    assert_int_equal(count(e, "bought(product=\"P1001\") and bought(product=\"P2002\")"), 1);
    assert_int_equal(count(e, "event(type=\"browse\", within=7d)"), 1);
    /* unmerge: clear both, bring the loser back, re-add each one's history */
    assert_int_equal(hk_engine_customer_clear(e, 10, &err), 0);
    assert_int_equal(hk_engine_customer_clear(e, 11, &err), 0);
    struct hk_engine_customer c = {11, "", "", 0};
    assert_int_equal(hk_engine_upsert_customer(e, &c, &err), 0);
    order(e, 1, 10, HK_ORDER_PAID, "2026-02-20T10:00:00+08:00", 1000, 0, 101);
    order(e, 2, 11, HK_ORDER_PAID, "2026-02-21T10:00:00+08:00", 2000, 0, 102);
    assert_int_equal(count(e, "frequency >= 1"), 2);
    assert_int_equal(count(e, "bought(product=\"P1001\") and bought(product=\"P2002\")"), 0);
    hk_engine_free(e);
}

static void engine__apply_order_updates_and_min_count(void **state)
{
    (void)state;
    struct hk_engine *e = new_engine();
    struct hk_err err;
    order(e, 1, 10, HK_ORDER_PAID, "2026-02-20T10:00:00+08:00", 1000, 0, 103);
    order(e, 2, 20, HK_ORDER_PAID, "2026-02-20T10:00:00+08:00", 1000, 0, 101);
    finish(e);
    assert_int_equal(count(e, "bought(category=\"连衣裙\", min_count=2)"), 0);
    order(e, 3, 10, HK_ORDER_PAID, "2026-02-25T10:00:00+08:00", 1000, 0, 103);
    assert_int_equal(count(e, "bought(category=\"连衣裙\", min_count=2)"), 1);
    assert_int_equal(count(e, "bought(category=\"连衣裙\", min_count=2, within=5d)"), 0);
    /* the same order again, now refunded: replaces, not adds */
    order(e, 3, 10, HK_ORDER_REFUNDED, "2026-02-25T10:00:00+08:00", 1000, 1000, 103);
    assert_int_equal(count(e, "bought(category=\"连衣裙\", min_count=2)"), 0);
    struct hk_engine_aggregates a;
    assert_int_equal(hk_engine_customer_get(e, 10, NOW, &a, &err), 0);
    assert_int_equal(a.frequency, 1);
    assert_int_equal(a.refund_count, 1);
    assert_int_equal(hk_engine_remove_order(e, 10, 1, &err), 0);
    assert_int_equal(hk_engine_customer_get(e, 10, NOW, &a, &err), 0);
    assert_int_equal(a.frequency, 0);
    /* many incremental orders trigger compaction; answers stay right */
    for (int i = 0; i < 3000; i++)
        order(e, 100 + i, 1000 + i % 50, HK_ORDER_PAID, "2026-02-26T10:00:00+08:00", 100, 0,
              i % 2 ? 101 : 102);
    for (int i = 0; i < 3000; i++)
        order(e, 100 + i, 1000 + i % 50, HK_ORDER_SHIPPED, "2026-02-26T10:00:00+08:00", 100, 0,
              i % 2 ? 101 : 102);
    assert_int_equal(count(e, "frequency = 60"), 50);
    assert_int_equal(count(e, "bought(category=\"phones\", min_count=30)"), 25);
    hk_engine_free(e);
}

/* An order of several lines (products), paid at `paid`. */
static void order_lines(struct hk_engine *e, int64_t oid, int64_t cid, const char *paid,
                        const int64_t *products, size_t n)
{
    struct hk_engine_line lines[8];
    for (size_t i = 0; i < n; i++) {
        lines[i].product_id = products[i];
        lines[i].amount_fen = 100;
    }
    struct hk_engine_order o = {oid,   cid,   1, HK_ORDER_PAID, true, at(paid), 100 * (int64_t)n, 0,
                                false, lines, n};
    struct hk_err err;
    assert_int_equal(hk_engine_apply_order(e, &o, &err), 0);
}

/* min_count from the index's per-entry order counts: distinct orders (an order with several
 * lines of the key counts once), saturation at 255, windows, rows changed after the build. */
static void engine__min_count_from_the_index_counts_distinct_orders(void **state)
{
    (void)state;
    struct hk_engine *e = new_engine();
    const int64_t aba[3] = {101, 102, 101}, a[1] = {101}, b[1] = {102};
    int64_t oid = 1;
    /* 10: one order with phones, accessories, phones: one phones order */
    order_lines(e, oid++, 10, "2026-02-20T10:00:00+08:00", aba, 3);
    /* 11: two phones orders, one of them old */
    order_lines(e, oid++, 11, "2026-02-20T10:00:00+08:00", a, 1);
    order_lines(e, oid++, 11, "2025-06-01T10:00:00+08:00", aba, 3);
    /* 12: 300 phones orders (the entry's count saturates), 13: 255 and 14: 254 */
    for (int i = 0; i < 300; i++)
        order_lines(e, oid++, 12, "2026-01-10T10:00:00+08:00", a, 1);
    for (int i = 0; i < 255; i++)
        order_lines(e, oid++, 13, "2026-01-10T10:00:00+08:00", i % 2 ? a : aba, i % 2 ? 1 : 3);
    for (int i = 0; i < 254; i++)
        order_lines(e, oid++, 14, "2026-01-10T10:00:00+08:00", a, 1);
    order_lines(e, oid++, 15, "2026-02-20T10:00:00+08:00", b, 1);
    finish(e);
    assert_true(e->ix_valid);
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(count(e, "bought(category=\"phones\", min_count=2)"), 4);
        assert_int_equal(count(e, "bought(product=\"P1001\", min_count=2)"), 4);
        assert_int_equal(count(e, "bought(category=\"phones\", min_count=2, within=30d)"), 0);
        assert_int_equal(count(e, "bought(category=\"phones\", min_count=254)"), 3);
        assert_int_equal(count(e, "bought(category=\"phones\", min_count=255)"), 2);
        assert_int_equal(count(e, "bought(category=\"phones\", min_count=256)"), 1);
        assert_int_equal(count(e, "bought(category=\"phones\", min_count=300)"), 1);
        assert_int_equal(count(e, "bought(category=\"phones\", min_count=301)"), 0);
        assert_int_equal(count(e, "bought(category=\"phones\", min_count=255, within=60d)"), 2);
        assert_int_equal(count(e, "bought(category=\"phone_accessories\", min_count=2)"), 1);
        /* new orders after the build (index delta), then a rebuilt index: the same answers */
        if (pass == 0) {
            order_lines(e, oid++, 10, "2026-02-27T10:00:00+08:00", aba, 3); /* 10: 2 orders */
            order_lines(e, oid++, 15, "2026-02-27T10:00:00+08:00", a, 1);   /* 15: 1 order */
            assert_int_equal(count(e, "bought(category=\"phones\", min_count=2)"), 5);
            /* 10: 9 and 2 days ago; 15: 2 days ago */
            assert_int_equal(count(e, "bought(category=\"phones\", min_count=2, within=30d)"), 1);
            assert_int_equal(count(e, "bought(category=\"phones\", min_count=2, within=5d)"), 0);
            order_lines(e, oid++, 15, "2026-02-28T10:00:00+08:00", aba, 3); /* 15: 2 orders */
            assert_int_equal(count(e, "bought(category=\"phones\", min_count=2, within=5d)"), 1);
            struct hk_err err;
            assert_int_equal(hk_engine_remove_order(e, 10, oid - 3, &err), 0); /* dirty row */
            assert_int_equal(count(e, "bought(category=\"phones\", min_count=2)"), 5);
            assert_int_equal(hk_engine_remove_order(e, 15, oid - 1, &err), 0);
            assert_int_equal(hk_index_build(e), 0);
        }
    }
    hk_engine_free(e);
}

static void segment_parse__reports_positions_and_expectations(void **state)
{
    (void)state;
    struct hk_engine *e = new_engine();
    finish(e);
    struct hk_err err;
    assert_contains(parse_error(e, "recency_days >", &err), "line 1, column 15");
    assert_contains(hk_err_message(&err), "expected a number of days");
    assert_contains(parse_error(e, "(frequency > 1", &err), "line 1, column 15: expected ')'");
    assert_contains(parse_error(e, "frequency > 1 and\n  (aov > 5", &err), "line 2, column 11");
    assert_contains(parse_error(e, "frequency > 1)", &err), "unmatched ')'");
    assert_contains(parse_error(e, "frequency 1", &err),
                    "line 1, column 11: expected a comparison");
    assert_contains(parse_error(e, "province = 北京", &err), "column 12");
    assert_contains(hk_err_message(&err), "double quotes");
    assert_contains(parse_error(e, "bought(category=\"phones\"", &err), "expected ',' or ')'");
    assert_contains(parse_error(e, "province = \"x", &err), "unterminated string");
    assert_contains(parse_error(e, "", &err), "expected an expression");
    assert_contains(parse_error(e, "frequency > 3d", &err), "not a duration field");
    assert_contains(parse_error(e, "bought(within=0d)", &err), "positive duration");
    assert_contains(parse_error(e, "aov > 1.001", &err), "2 decimals");
    assert_contains(parse_error(e, "province > \"x\"", &err), "is text");
    hk_engine_free(e);
}

static void segment_parse__suggests_the_nearest_name(void **state)
{
    (void)state;
    struct hk_engine *e = new_engine();
    struct hk_err err;
    assert_int_equal(hk_engine_tag_define(e, "活动敏感型", &err), 0);
    finish(e);
    assert_contains(parse_error(e, "recency > 5", &err),
                    "unknown field 'recency' (did you mean 'recency_days'?)");
    assert_contains(parse_error(e, "bougth(category=\"phones\")", &err),
                    "unknown function 'bougth' (did you mean 'bought'?)");
    assert_contains(parse_error(e, "bought(category=\"phone\")", &err),
                    "unknown category \"phone\" (did you mean 'phones'?)");
    assert_contains(parse_error(e, "bought(product=\"P1010\")", &err), "did you mean 'P1001'");
    assert_contains(parse_error(e, "bought(categroy=\"phones\")", &err),
                    "no argument 'categroy' (did you mean 'category'?)");
    assert_contains(parse_error(e, "has_tag(\"活动敏感\")", &err),
                    "unknown tag \"活动敏感\" (did you mean '活动敏感型'?)");
    assert_contains(parse_error(e, "rfm_segment = \"重要价值\"", &err),
                    "did you mean '重要价值客户'");
    assert_contains(parse_error(e, "channel = \"taobo\"", &err), "did you mean 'taobao'");
    assert_contains(parse_error(e, "event(type=\"brows\")", &err), "did you mean 'browse'");
    assert_contains(parse_error(e, "in_segment(\"x\")", &err), "unknown segment \"x\"");
    hk_engine_free(e);
}

struct saved {
    const char *names[3];
    const char *exprs[3];
};

static const char *lookup(void *ctx, const char *name)
{
    struct saved *s = ctx;
    for (int i = 0; i < 3; i++)
        if (s->names[i] && strcmp(s->names[i], name) == 0)
            return s->exprs[i];
    return NULL;
}

static void segment_parse__in_segment_resolves_and_detects_cycles(void **state)
{
    (void)state;
    struct hk_engine *e = new_engine();
    order(e, 1, 10, HK_ORDER_PAID, "2026-02-20T10:00:00+08:00", 100000, 0, 101);
    order(e, 2, 11, HK_ORDER_PAID, "2025-02-20T10:00:00+08:00", 100, 0, 101);
    finish(e);
    struct saved sv = {{"big", "a", "b"},
                       {"monetary >= 1000", "in_segment(\"b\")",
                        "frequency > 0 and\n"
                        "in_segment(\"a\")"}};
    struct hk_segment_resolver res = {lookup, &sv, sv.names, 3};
    size_t n = 0;
    struct hk_err err;
    assert_int_equal(hk_segment_count(e, "in_segment(\"big\")", &res, NOW, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(hk_segment_count(e, "not in_segment(\"big\")", &res, NOW, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(hk_segment_count(e, "in_segment(\"a\")", &res, NOW, &n, &err), HK_E(INVAL));
    assert_contains(hk_err_message(&err), "refers to itself");
    assert_contains(hk_err_message(&err), "in segment \"b\": line 2, column 12");
    assert_int_equal(hk_segment_count(e, "in_segment(\"bgi\")", &res, NOW, &n, &err), HK_E(INVAL));
    assert_contains(hk_err_message(&err), "did you mean 'big'");
    hk_engine_free(e);
}

static void engine__profile_fields_channels_and_coupons(void **state)
{
    (void)state;
    struct hk_engine *e = new_engine();
    struct hk_err err;
    struct hk_engine_customer c1 = {10, "浙江", "杭州", 0}, c2 = {11, "", "", 0};
    assert_int_equal(hk_engine_upsert_customer(e, &c1, &err), 0);
    assert_int_equal(hk_engine_upsert_customer(e, &c2, &err), 0);
    assert_int_equal(hk_engine_add_channel(e, 10, "taobao", &err), 0);
    assert_int_equal(hk_engine_add_channel(e, 10, "douyin", &err), 0);
    struct hk_engine_line l = {101, 1000};
    struct hk_engine_order o = {
        1, 10, 1, HK_ORDER_PAID, true, at("2026-02-01T10:00:00+08:00"), 1000, 0, true, &l, 1};
    assert_int_equal(hk_engine_apply_order(e, &o, &err), 0);
    o.order_id = 2;
    o.coupon = false;
    assert_int_equal(hk_engine_apply_order(e, &o, &err), 0);
    o.order_id = 3;
    o.lines = NULL;
    o.n_lines = 0;
    o.shop_id = 99;
    assert_int_equal(hk_engine_apply_order(e, &o, &err), HK_E(INVAL));
    assert_contains(hk_err_message(&err), "unknown shop 99");
    finish(e);
    assert_int_equal(count(e, "province = \"浙江\" and city = \"杭州\""), 1);
    assert_int_equal(count(e, "province != \"浙江\""), 0); /* unknown province: missing */
    assert_int_equal(count(e, "province = \"北京\""), 0);
    assert_int_equal(count(e, "channel = \"douyin\""), 1);
    assert_int_equal(count(e, "channel in (\"jd\", \"taobao\")"), 1);
    assert_int_equal(count(e, "channel != \"taobao\""), 0);
    assert_int_equal(count(e, "not channel = \"taobao\""), 1);
    assert_int_equal(count(e, "coupon_use_rate = 0.5"), 1);
    assert_int_equal(count(e, "coupon_use_rate > 0.49 and coupon_use_rate < 0.51"), 1);
    assert_int_equal(count(e, "main_category = \"phones\""), 1);
    assert_int_equal(count(e, "first_order_days between 28 and 30"), 1);
    assert_int_equal(count(e, "first_order_days >= 672h"), 1);
    assert_int_equal(count(e, "first_order_days > 671h"), 1); /* 28 days > 27.96 days */
    assert_int_equal(count(e, "first_order_days > 672h"), 0); /* whole days: 28 > 28 is false */
    hk_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(engine__days_ago_uses_shop_local_midnight),
        cmocka_unit_test(engine__refunds_cancellations_and_missing_values),
        cmocka_unit_test(engine__empty_engine_answers_zero),
        cmocka_unit_test(engine__money_literals_are_exact_yuan),
        cmocka_unit_test(engine__huge_amounts_stay_exact),
        cmocka_unit_test(engine__bought_index_follows_changes),
        cmocka_unit_test(engine__quintile_scores_follow_the_formula_with_ties),
        cmocka_unit_test(engine__quintiles_over_wide_money_match_the_formula),
        cmocka_unit_test(engine__quintiles_on_two_threads_match_the_formula),
        cmocka_unit_test(engine__eight_segments_and_four_tiers),
        cmocka_unit_test(engine__mean_split_segments),
        cmocka_unit_test(engine__merge_moves_history_and_clear_undoes_it),
        cmocka_unit_test(engine__apply_order_updates_and_min_count),
        cmocka_unit_test(engine__min_count_from_the_index_counts_distinct_orders),
        cmocka_unit_test(segment_parse__reports_positions_and_expectations),
        cmocka_unit_test(segment_parse__suggests_the_nearest_name),
        cmocka_unit_test(segment_parse__in_segment_resolves_and_detects_cycles),
        cmocka_unit_test(engine__profile_fields_channels_and_coupons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
