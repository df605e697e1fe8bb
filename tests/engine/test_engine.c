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
#include "engine/segment.h"

#include <stdio.h>
#include <stdlib.h>

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
        cmocka_unit_test(engine__eight_segments_and_four_tiers),
        cmocka_unit_test(engine__mean_split_segments),
        cmocka_unit_test(engine__merge_moves_history_and_clear_undoes_it),
        cmocka_unit_test(engine__apply_order_updates_and_min_count),
        cmocka_unit_test(segment_parse__reports_positions_and_expectations),
        cmocka_unit_test(segment_parse__suggests_the_nearest_name),
        cmocka_unit_test(segment_parse__in_segment_resolves_and_detects_cycles),
        cmocka_unit_test(engine__profile_fields_channels_and_coupons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
