/*
 * test_engine_shops.c — RFM per shop: per-(customer, shop) recency / frequency / monetary in
 * the shop's zone, quintiles against the shop's own buyers, a shop's own configuration versus
 * shop 0's (inherited), rescoring one shop only, reports and previews per shop, entries moving
 * with new orders, merges and clears, and the shop argument of the RFM fields in the segment
 * language (names, "channel:name", ids, errors).
 */
#include "../unit/unit.h"

#include "core/err.h"
#include "core/tz.h"
#include "core/util.h"
#include "engine/engine.h"
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

/* 12:30 UTC on 1 March: 1 March in Shanghai (20:30) and in New York (07:30). */
#define NOW at("2026-03-01T12:30:00Z")

/* Shops: 1 天猫旗舰店 (tmall, Shanghai), 2 抖音小店 (douyin, New York), 3 旗舰店 (jd, Shanghai)
 * and 4 旗舰店 (pdd, Shanghai) — the same name on two channels. */
static struct hk_engine *new_engine(void)
{
    struct hk_engine *e = NULL;
    struct hk_err err;
    assert_int_equal(hk_engine_new(NULL, &e, &err), 0);
    assert_int_equal(hk_engine_add_shop(e, 1, "Asia/Shanghai", &err), 0);
    assert_int_equal(hk_engine_add_shop(e, 2, "America/New_York", &err), 0);
    assert_int_equal(hk_engine_add_shop(e, 3, "Asia/Shanghai", &err), 0);
    assert_int_equal(hk_engine_add_shop(e, 4, "Asia/Shanghai", &err), 0);
    assert_int_equal(hk_engine_shop_describe(e, 1, "tmall", "天猫旗舰店", &err), 0);
    assert_int_equal(hk_engine_shop_describe(e, 2, "douyin", "抖音小店", &err), 0);
    assert_int_equal(hk_engine_shop_describe(e, 3, "jd", "旗舰店", &err), 0);
    assert_int_equal(hk_engine_shop_describe(e, 4, "pdd", "旗舰店", &err), 0);
    assert_int_equal(hk_engine_add_product(e, 101, "P1", "phones", &err), 0);
    return e;
}

static void order(struct hk_engine *e, int64_t oid, int64_t cid, int64_t shop,
                  enum hk_order_status st, const char *paid, int64_t fen)
{
    struct hk_err err;
    struct hk_engine_line line = {101, fen};
    struct hk_engine_order o = {oid, cid,   shop,  st, paid != NULL, paid ? at(paid) : 0, fen,
                                0,   false, &line, 1};
    int rc = hk_engine_apply_order(e, &o, &err);
    if (rc)
        print_error("%s\n", hk_err_message(&err));
    assert_int_equal(rc, 0);
}

static void finish(struct hk_engine *e)
{
    struct hk_err err;
    assert_int_equal(hk_engine_load_finish(e, &err), 0);
    assert_int_equal(hk_engine_rescore(e, NOW, &err), 0);
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

/* The customer's entry for shop (NULL when it has none). */
static const struct hk_engine_shop_rfm *entry(struct hk_engine *e, int64_t cid, int64_t shop,
                                              struct hk_engine_shop_rfm *buf, size_t max)
{
    size_t n = hk_engine_customer_shops(e, cid, NOW, buf, max);
    assert_true(n <= max);
    for (size_t i = 0; i < n; i++)
        if (buf[i].shop_id == shop)
            return &buf[i];
    return NULL;
}

static void shops__per_shop_aggregates_use_each_shops_zone(void **state)
{
    (void)state;
    struct hk_engine *e = new_engine();
    /* 03:00 UTC on 1 March: 1 March in Shanghai, 28 February in New York. */
    order(e, 1, 10, 1, HK_ORDER_PAID, "2026-03-01T03:00:00Z", 1000);
    order(e, 2, 10, 2, HK_ORDER_PAID, "2026-03-01T03:00:00Z", 2000);
    order(e, 3, 10, 2, HK_ORDER_COMPLETED, "2026-02-20T03:00:00Z", 500);
    order(e, 4, 10, 2, HK_ORDER_CANCELLED, "2026-02-27T03:00:00Z", 9999); /* not counted */
    order(e, 5, 11, 1, HK_ORDER_CREATED, NULL, 700);                      /* no counted order */
    finish(e);
    struct hk_engine_shop_rfm b[4];
    assert_int_equal(hk_engine_customer_shops(e, 10, NOW, b, 4), 2);
    const struct hk_engine_shop_rfm *s1 = entry(e, 10, 1, b, 4);
    assert_non_null(s1);
    assert_int_equal(s1->frequency, 1);
    assert_int_equal(s1->monetary_fen, 1000);
    assert_int_equal(s1->recency_days, 0);
    const struct hk_engine_shop_rfm *s2 = entry(e, 10, 2, b, 4);
    assert_non_null(s2);
    assert_int_equal(s2->frequency, 2);
    assert_int_equal(s2->monetary_fen, 2500);
    assert_int_equal(s2->recency_days, 1); /* 28 Feb -> 1 Mar in New York */
    assert_int_equal(hk_engine_customer_shops(e, 11, NOW, b, 4), 0);
    /* all shops: frequency 3 over both */
    struct hk_engine_aggregates a;
    struct hk_err err;
    assert_int_equal(hk_engine_customer_get(e, 10, NOW, &a, &err), 0);
    assert_int_equal(a.frequency, 3);
    assert_int_equal(a.monetary_fen, 3500);
    hk_engine_free(e);
}

/* 1 + floor(5 w / n) by brute force over vals (higher is better). */
static int quintile(const int64_t *vals, size_t n, size_t i)
{
    size_t w = 0;
    for (size_t j = 0; j < n; j++)
        w += vals[j] < vals[i];
    return 1 + (int)(5 * w / n);
}

static void shops__quintiles_are_against_the_shops_own_buyers(void **state)
{
    (void)state;
    struct hk_engine *e = new_engine();
    /* shop 1: 7 buyers spending 100..700 yuan; shop 2: 3 big buyers who also spent 1 yuan
     * each in shop 1, where they are the smallest */
    int64_t spend1[10];
    size_t n1 = 0;
    for (int i = 0; i < 7; i++) {
        order(e, 100 + i, 10 + i, 1, HK_ORDER_PAID, "2026-02-01T10:00:00+08:00", 10000 * (i + 1));
        spend1[n1++] = 10000 * (i + 1);
    }
    for (int i = 0; i < 3; i++) {
        order(e, 200 + i, 30 + i, 2, HK_ORDER_PAID, "2026-02-01T10:00:00Z", 1000000 * (i + 1));
        order(e, 300 + i, 30 + i, 1, HK_ORDER_PAID, "2026-02-01T10:00:00+08:00", 100);
        spend1[n1++] = 100;
    }
    finish(e);
    struct hk_engine_shop_rfm b[4];
    for (int i = 0; i < 7; i++) {
        const struct hk_engine_shop_rfm *s = entry(e, 10 + i, 1, b, 4);
        assert_non_null(s);
        assert_int_equal(s->m_score, quintile(spend1, n1, (size_t)i));
    }
    int64_t spend2[3] = {1000000, 2000000, 3000000};
    for (int i = 0; i < 3; i++) {
        const struct hk_engine_shop_rfm *s = entry(e, 30 + i, 2, b, 4);
        assert_non_null(s);
        assert_int_equal(s->m_score, quintile(spend2, 3, (size_t)i));
        assert_int_equal(s->f_score, 1); /* all tie */
        s = entry(e, 30 + i, 1, b, 4);
        assert_int_equal(s->m_score, 1); /* the smallest in shop 1 */
    }
    /* all shops: the three big buyers are the top of everybody */
    struct hk_engine_aggregates a;
    struct hk_err err;
    assert_int_equal(hk_engine_customer_get(e, 32, NOW, &a, &err), 0);
    assert_int_equal(a.m_score, 5);
    /* segment fields by shop */
    assert_int_equal(count(e, "m_score(shop=\"天猫旗舰店\") = 1"), 3);
    assert_int_equal(count(e, "m_score(shop=1) >= 4"), 4); /* 400 .. 700 yuan */
    assert_int_equal(count(e, "m_score(shop=\"抖音小店\") >= 1"), 3);
    assert_int_equal(count(e, "m_score >= 4"), 4); /* 3 big + 700 yuan */
    assert_int_equal(count(e, "m_score(shop=0) >= 4"), 4);
    /* `not` is the plain complement: customers without an entry in shop 2 are in */
    assert_int_equal(count(e, "not m_score(shop=\"抖音小店\") >= 1"), 7);
    /* the shop's report: its customers are its buyers */
    struct hk_rfm_report rep;
    assert_int_equal(hk_engine_rfm_report_shop(e, 1, &rep, &err), 0);
    assert_int_equal(rep.buyers, 10);
    assert_int_equal(rep.customers, 10);
    assert_int_equal(rep.spend_fen, 280000 + 300);
    uint64_t grid = 0;
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++)
            grid += rep.grid[i][j];
    assert_int_equal(grid, 10);
    assert_int_equal(hk_engine_rfm_report_shop(e, 2, &rep, &err), 0);
    assert_int_equal(rep.buyers, 3);
    assert_int_equal(hk_engine_rfm_report_shop(e, 99, &rep, &err), HK_E(NOTFOUND));
    hk_engine_free(e);
}

static void shops__own_configuration_inheritance_and_one_shop_rescore(void **state)
{
    (void)state;
    struct hk_engine *e = new_engine();
    order(e, 1, 10, 1, HK_ORDER_PAID, "2026-02-25T10:00:00+08:00", 60000);
    order(e, 2, 11, 1, HK_ORDER_PAID, "2025-06-01T10:00:00+08:00", 500);
    order(e, 3, 10, 2, HK_ORDER_PAID, "2026-02-25T10:00:00Z", 60000);
    order(e, 4, 11, 2, HK_ORDER_PAID, "2025-06-01T10:00:00Z", 500);
    finish(e);
    bool inherited = false;
    struct hk_err err;
    assert_non_null(hk_engine_rfm_config_shop(e, 2, &inherited));
    assert_true(inherited);
    assert_null(hk_engine_rfm_config_shop(e, 42, &inherited));
    /* shop 2 gets thresholds: everybody with >= 1 order is F 5, >= 100 yuan is M 5 */
    struct hk_rfm_config c;
    hk_rfm_config_default(&c);
    c.score_mode = HK_RFM_SCORE_THRESHOLDS;
    c.f_cuts[0] = -3;
    c.f_cuts[1] = -2;
    c.f_cuts[2] = -1;
    c.f_cuts[3] = 1;
    c.m_cuts_fen[0] = 1;
    c.m_cuts_fen[1] = 2;
    c.m_cuts_fen[2] = 3;
    c.m_cuts_fen[3] = 10000;
    hk_strlcpy(c.tiers[0].name, "金牌", sizeof(c.tiers[0].name));
    assert_int_equal(hk_engine_rfm_configure_shop(e, 2, &c, &err), 0);
    assert_int_equal(hk_engine_rfm_configure_shop(e, 42, &c, &err), HK_E(NOTFOUND));
    assert_int_equal(hk_engine_rfm_configure_shop(e, 0, NULL, &err), HK_E(INVAL));
    assert_non_null(hk_engine_rfm_config_shop(e, 2, &inherited));
    assert_false(inherited);
    struct hk_engine_shop_rfm b[4];
    /* not rescored yet: shop 2 still scores by quintiles */
    assert_int_equal(entry(e, 11, 2, b, 4)->m_score, 1);
    assert_int_equal(hk_engine_rescore_shop(e, 2, NOW, &err), 0);
    assert_int_equal(entry(e, 11, 2, b, 4)->m_score, 4); /* 5 yuan: 3 cuts <= 500 fen */
    assert_int_equal(entry(e, 10, 2, b, 4)->m_score, 5);
    assert_int_equal(entry(e, 11, 2, b, 4)->f_score, 5);
    /* shop 1 still inherits shop 0's quintiles */
    assert_int_equal(entry(e, 11, 1, b, 4)->m_score, 1);
    /* the tier names of shop 2 are its own */
    assert_int_equal(count(e, "rfm_tier(shop=\"抖音小店\") = \"金牌\""),
                     count(e, "r_score(shop=2) >= 4 and f_score(shop=2) >= 4 and "
                              "m_score(shop=2) >= 4"));
    struct hk_err perr;
    assert_contains(parse_error(e, "rfm_tier(shop=\"天猫旗舰店\") = \"金牌\"", &perr),
                    "unknown RFM tier");
    /* a shop-0 change rescores shop 0 and the inheriting shops, not shop 2 */
    struct hk_rfm_config g;
    hk_rfm_config_default(&g);
    g.score_mode = HK_RFM_SCORE_THRESHOLDS;
    g.m_cuts_fen[0] = 100;
    g.m_cuts_fen[1] = 200;
    g.m_cuts_fen[2] = 300;
    g.m_cuts_fen[3] = 400;
    assert_int_equal(hk_engine_rfm_configure_shop(e, 0, &g, &err), 0);
    assert_int_equal(hk_engine_rescore_shop(e, 0, NOW, &err), 0);
    assert_int_equal(entry(e, 11, 1, b, 4)->m_score, 5); /* 500 fen >= 400 */
    assert_int_equal(entry(e, 11, 2, b, 4)->m_score, 4); /* its own thresholds */
    struct hk_engine_aggregates a;
    assert_int_equal(hk_engine_customer_get(e, 11, NOW, &a, &err), 0);
    assert_int_equal(a.m_score, 5); /* 1000 fen over both shops */
    /* back to inheriting */
    assert_int_equal(hk_engine_rfm_configure_shop(e, 2, NULL, &err), 0);
    assert_non_null(hk_engine_rfm_config_shop(e, 2, &inherited));
    assert_true(inherited);
    assert_int_equal(hk_engine_rescore_shop(e, 2, NOW, &err), 0);
    assert_int_equal(entry(e, 11, 2, b, 4)->m_score, 5);
    /* preview of one shop leaves its scores alone */
    struct hk_rfm_report pv, live;
    assert_int_equal(hk_engine_rfm_report_shop(e, 2, &live, &err), 0);
    assert_int_equal(hk_engine_rfm_preview_shop(e, 2, &c, NOW, &pv, &err), 0);
    assert_int_equal(pv.buyers, 2);
    assert_string_equal(pv.tiers[0].name, "金牌");
    assert_string_equal(live.tiers[0].name, "高价值客户");
    assert_int_equal(entry(e, 11, 2, b, 4)->m_score, 5);
    assert_int_equal(hk_engine_rfm_preview_shop(e, 42, &c, NOW, &pv, &err), HK_E(NOTFOUND));
    hk_engine_free(e);
}

/* Shop 1's scores of every customer against shop 0's: (same) equal, (!same) the m scores
 * differ somewhere; and when shop 1 scores by quintiles (quint), the formula over its entries. */
static void check_one_shop(struct hk_engine *e, int ncust, bool same, bool quint)
{
    int64_t *rv = malloc((size_t)ncust * sizeof(int64_t)), *fv = malloc((size_t)ncust * 8),
            *mv = malloc((size_t)ncust * 8), *who = malloc((size_t)ncust * 8);
    int *ms = malloc((size_t)ncust * sizeof(int));
    size_t n = 0, differ = 0;
    struct hk_err err;
    for (int c = 1; c <= ncust; c++) {
        struct hk_engine_shop_rfm b[4];
        struct hk_engine_aggregates a;
        size_t k = hk_engine_customer_shops(e, c, NOW, b, 4);
        if (hk_engine_customer_get(e, c, NOW, &a, &err) || !a.frequency) {
            assert_int_equal(k, 0);
            continue;
        }
        assert_int_equal(k, 1);
        assert_int_equal(b[0].shop_id, 1);
        assert_int_equal(b[0].frequency, a.frequency);
        assert_int_equal(b[0].monetary_fen, a.monetary_fen);
        assert_int_equal(b[0].recency_days, a.recency_days);
        if (same) {
            assert_int_equal(b[0].r_score, a.r_score);
            assert_int_equal(b[0].f_score, a.f_score);
            assert_int_equal(b[0].m_score, a.m_score);
            assert_string_equal(b[0].rfm_segment, a.rfm_segment);
            assert_string_equal(b[0].rfm_tier, a.rfm_tier);
        }
        differ += b[0].m_score != a.m_score;
        rv[n] = -b[0].recency_days;
        fv[n] = b[0].frequency;
        mv[n] = b[0].monetary_fen;
        ms[n] = b[0].m_score;
        who[n++] = c;
    }
    assert_true(n > 100);
    if (!same)
        assert_true(differ > 0);
    struct hk_rfm_report r0, r1;
    assert_int_equal(hk_engine_rfm_report_shop(e, 0, &r0, &err), 0);
    assert_int_equal(hk_engine_rfm_report_shop(e, 1, &r1, &err), 0);
    assert_int_equal(r1.buyers, n);
    assert_int_equal(r0.buyers, n);
    if (same)
        assert_true(r1.mean_recency_days == r0.mean_recency_days);
    if (quint) {
        for (size_t i = 0; i < n; i++) {
            struct hk_engine_shop_rfm b[4];
            hk_engine_customer_shops(e, who[i], NOW, b, 4);
            assert_int_equal(b[0].r_score, quintile(rv, n, i));
            assert_int_equal(b[0].f_score, quintile(fv, n, i));
            assert_int_equal(ms[i], quintile(mv, n, i));
        }
    }
    free(rv);
    free(fv);
    free(mv);
    free(who);
    free(ms);
}

/*
 * A seller with one shop: its scores equal shop 0's exactly when it scores like shop 0 (the
 * rescore copies them then), and follow its own configuration otherwise — with one shop
 * registered or with others that have no orders, across full and partial rescores.
 */
static void shops__one_shop_scores_like_shop_0_only_under_the_same_configuration(void **state)
{
    (void)state;
    for (int variant = 0; variant < 2; variant++) {
        struct hk_engine *e = NULL;
        struct hk_err err;
        if (variant == 0) { /* one shop registered */
            assert_int_equal(hk_engine_new(NULL, &e, &err), 0);
            assert_int_equal(hk_engine_add_shop(e, 1, "Asia/Shanghai", &err), 0);
            assert_int_equal(hk_engine_add_product(e, 101, "P1", "phones", &err), 0);
        } else { /* four, orders in shop 1 only */
            e = new_engine();
        }
        enum { CUST = 600 };
        uint64_t x = 0x9e3779b97f4a7c15ull;
        int64_t oid = 1;
        for (int c = 1; c <= CUST; c++) {
            int n = 1 + (int)((x = x * 6364136223846793005ull + 1442695040888963407ull) >> 61);
            for (int k = 0; k < n; k++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                char paid[40];
                snprintf(paid, sizeof paid, "2025-%02d-%02dT%02d:00:00+08:00",
                         1 + (int)((x >> 20) % 12), 1 + (int)((x >> 30) % 28),
                         (int)((x >> 40) % 24));
                enum hk_order_status st = (x >> 50) % 9 == 0 ? HK_ORDER_CANCELLED : HK_ORDER_PAID;
                order(e, oid++, c, 1, st, paid, 100 * (int64_t)((x >> 8) % 3000));
            }
        }
        finish(e);
        assert_int_equal(hk_engine_merge(e, 1, 2, &err), 0); /* 2's entry dies */
        assert_int_equal(hk_engine_rescore(e, NOW, &err), 0);
        check_one_shop(e, CUST, true, true);
        /* shop 1 on thresholds of its own: no longer shop 0's, through full rescores too */
        struct hk_rfm_config t;
        hk_rfm_config_default(&t);
        t.score_mode = HK_RFM_SCORE_THRESHOLDS;
        assert_int_equal(hk_engine_rfm_configure_shop(e, 1, &t, &err), 0);
        assert_int_equal(hk_engine_rescore_shop(e, 1, NOW, &err), 0);
        check_one_shop(e, CUST, false, false);
        assert_int_equal(hk_engine_rescore(e, NOW, &err), 0);
        check_one_shop(e, CUST, false, false);
        assert_int_equal(count(e, "m_score(shop=1) = 5"), count(e, "monetary >= 5000"));
        /* its own configuration, equal to shop 0's: shop 0's scores again */
        struct hk_rfm_config d;
        hk_rfm_config_default(&d);
        assert_int_equal(hk_engine_rfm_configure_shop(e, 1, &d, &err), 0);
        assert_int_equal(hk_engine_rescore(e, NOW, &err), 0);
        check_one_shop(e, CUST, true, true);
        /* shop 0 changes: shop 1 has its own configuration, so it keeps its scores */
        assert_int_equal(hk_engine_rfm_configure_shop(e, 0, &t, &err), 0);
        assert_int_equal(hk_engine_rescore_shop(e, 0, NOW, &err), 0);
        check_one_shop(e, CUST, false, true);
        /* ... while an inheriting shop 1 follows it */
        assert_int_equal(hk_engine_rfm_configure_shop(e, 1, NULL, &err), 0);
        assert_int_equal(hk_engine_rescore_shop(e, 0, NOW, &err), 0);
        check_one_shop(e, CUST, true, false);
        assert_int_equal(hk_engine_rfm_configure_shop(e, 0, &d, &err), 0);
        assert_int_equal(hk_engine_rescore(e, NOW, &err), 0);
        check_one_shop(e, CUST, true, true);
        hk_engine_free(e);
    }
}

/* Entries built by the full recompute for customers of many shops (past the 8 kept while
 * walking the orders; engines past the 64 shops of the shop-count bitmap and the 256 of the
 * derive's shop table) equal a walk by hand. */
static void shops__entries_of_customers_of_many_shops(void **state)
{
    (void)state;
    for (int nsh = 12; nsh <= 300; nsh += 288) {
        struct hk_engine *e = NULL;
        struct hk_err err;
        assert_int_equal(hk_engine_new(NULL, &e, &err), 0);
        for (int s = 1; s <= nsh; s++)
            assert_int_equal(hk_engine_add_shop(e, s, s % 2 ? "Asia/Shanghai" : "UTC", &err), 0);
        assert_int_equal(hk_engine_add_product(e, 101, "P1", "phones", &err), 0);
        /* customer 1: 11 shops, two orders in odd ones, a cancelled one in shop 12; customer
         * 2: 3 shops; customer 3: 1 shop; customer 4: nothing counted */
        int64_t oid = 1;
        for (int s = 1; s <= 11; s++) {
            int shop = nsh == 300 ? 290 + s - 1 : s;
            order(e, oid++, 1, shop, HK_ORDER_PAID, "2026-02-01T10:00:00Z", 100 * s);
            if (s % 2)
                order(e, oid++, 1, shop, HK_ORDER_PAID, "2026-02-20T10:00:00Z", 1000 * s);
        }
        order(e, oid++, 1, 12, HK_ORDER_CANCELLED, "2026-02-25T10:00:00Z", 5);
        for (int s = 3; s >= 1; s--)
            order(e, oid++, 2, s, HK_ORDER_PAID, "2026-01-10T10:00:00Z", 700);
        order(e, oid++, 3, 2, HK_ORDER_PAID, "2026-01-10T10:00:00Z", 900);
        order(e, oid++, 4, 2, HK_ORDER_CANCELLED, "2026-01-10T10:00:00Z", 900);
        finish(e);
        struct hk_engine_shop_rfm b[16];
        assert_int_equal(hk_engine_customer_shops(e, 1, NOW, b, 16), 11);
        for (int s = 1; s <= 11; s++) {
            const struct hk_engine_shop_rfm *v = entry(e, 1, nsh == 300 ? 290 + s - 1 : s, b, 16);
            assert_non_null(v);
            assert_int_equal(v->frequency, s % 2 ? 2 : 1);
            assert_int_equal(v->monetary_fen, 100 * s + (s % 2 ? 1000 * s : 0));
            /* 20 Feb or 1 Feb, 10:00 UTC, is that day in Shanghai and in UTC alike */
            int32_t want = s % 2 ? 9 : 28;
            assert_int_equal(v->recency_days, want);
            assert_true(v->r_score >= 1 && v->r_score <= 5);
        }
        assert_int_equal(hk_engine_customer_shops(e, 2, NOW, b, 16), 3);
        for (int s = 1; s <= 3; s++) {
            assert_non_null(entry(e, 2, s, b, 16));
            assert_int_equal(entry(e, 2, s, b, 16)->monetary_fen, 700);
        }
        assert_int_equal(hk_engine_customer_shops(e, 3, NOW, b, 16), 1);
        assert_int_equal(entry(e, 3, 2, b, 16)->monetary_fen, 900);
        assert_int_equal(hk_engine_customer_shops(e, 4, NOW, b, 16), 0);
        struct hk_rfm_report rep;
        assert_int_equal(hk_engine_rfm_report_shop(e, 2, &rep, &err), 0);
        assert_int_equal(rep.buyers, nsh == 300 ? 2 : 3);
        hk_engine_free(e);
    }
}

static void shops__entries_follow_orders_merges_and_clears(void **state)
{
    (void)state;
    struct hk_engine *e = new_engine();
    order(e, 1, 10, 1, HK_ORDER_PAID, "2026-02-01T10:00:00+08:00", 1000);
    order(e, 2, 11, 2, HK_ORDER_PAID, "2026-02-01T10:00:00Z", 3000);
    order(e, 3, 12, 1, HK_ORDER_PAID, "2026-02-01T10:00:00+08:00", 5000);
    finish(e);
    struct hk_engine_shop_rfm b[4];
    struct hk_err err;
    /* a new order in another shop adds an entry; the old entry keeps its scores */
    int old_m = entry(e, 10, 1, b, 4)->m_score;
    assert_true(old_m > 0);
    order(e, 4, 10, 2, HK_ORDER_PAID, "2026-02-10T10:00:00Z", 2000);
    assert_int_equal(hk_engine_customer_shops(e, 10, NOW, b, 4), 2);
    assert_int_equal(entry(e, 10, 1, b, 4)->m_score, old_m);
    assert_int_equal(entry(e, 10, 2, b, 4)->m_score, 0); /* until the next rescore */
    assert_int_equal(entry(e, 10, 2, b, 4)->monetary_fen, 2000);
    assert_int_equal(hk_engine_rescore(e, NOW, &err), 0);
    assert_int_equal(count(e, "m_score(shop=\"抖音小店\") >= 1"), 2);
    /* the same order again (an update) changes the entry in place */
    order(e, 4, 10, 2, HK_ORDER_PAID, "2026-02-10T10:00:00Z", 2500);
    assert_int_equal(entry(e, 10, 2, b, 4)->monetary_fen, 2500);
    /* refunding the only shop-2 order removes the entry */
    order(e, 4, 10, 2, HK_ORDER_REFUNDED, "2026-02-10T10:00:00Z", 2500);
    assert_int_equal(hk_engine_customer_shops(e, 10, NOW, b, 4), 1);
    assert_null(entry(e, 10, 2, b, 4));
    /* merge 11 (shop 2) into 12 (shop 1): 12 has both, 11 none */
    assert_int_equal(hk_engine_merge(e, 12, 11, &err), 0);
    assert_int_equal(hk_engine_customer_shops(e, 12, NOW, b, 4), 2);
    assert_int_equal(entry(e, 12, 2, b, 4)->monetary_fen, 3000);
    assert_int_equal(hk_engine_customer_shops(e, 11, NOW, b, 4), 0);
    assert_int_equal(hk_engine_rescore(e, NOW, &err), 0);
    assert_int_equal(count(e, "m_score(shop=2) >= 1"), 1);
    /* unmerge: clear both and re-add as the store has them */
    assert_int_equal(hk_engine_customer_clear(e, 12, &err), 0);
    assert_int_equal(hk_engine_customer_clear(e, 11, &err), 0);
    assert_int_equal(hk_engine_customer_shops(e, 12, NOW, b, 4), 0);
    struct hk_engine_customer c11 = {11, NULL, NULL, 0}, c12 = {12, NULL, NULL, 0};
    assert_int_equal(hk_engine_upsert_customer(e, &c11, &err), 0);
    assert_int_equal(hk_engine_upsert_customer(e, &c12, &err), 0);
    order(e, 2, 11, 2, HK_ORDER_PAID, "2026-02-01T10:00:00Z", 3000);
    order(e, 3, 12, 1, HK_ORDER_PAID, "2026-02-01T10:00:00+08:00", 5000);
    assert_int_equal(hk_engine_rescore(e, NOW, &err), 0);
    assert_int_equal(hk_engine_customer_shops(e, 12, NOW, b, 4), 1);
    assert_int_equal(entry(e, 11, 2, b, 4)->monetary_fen, 3000);
    assert_int_equal(count(e, "m_score(shop=2) >= 1"), 1);
    assert_int_equal(count(e, "m_score(shop=1) >= 1"), 2);
    /* many changes force a compaction: entries survive it */
    for (int i = 0; i < 3000; i++)
        order(e, 1000 + i, 12, 1 + (i % 2), HK_ORDER_PAID, "2026-02-11T10:00:00Z", 100);
    for (int i = 0; i < 3000; i++)
        order(e, 5000 + i, 100 + i, 1 + (i % 4), HK_ORDER_PAID, "2026-02-11T10:00:00Z", 100);
    assert_int_equal(hk_engine_rescore(e, NOW, &err), 0);
    assert_int_equal(entry(e, 12, 2, b, 4)->frequency, 1500);
    assert_int_equal(entry(e, 12, 1, b, 4)->frequency, 1501);
    assert_int_equal(count(e, "f_score(shop=\"jd:旗舰店\") >= 1"), 750);
    assert_int_equal(count(e, "f_score(shop=\"pdd:旗舰店\") >= 1"), 750);
    hk_engine_free(e);
}

static void shops__segment_language_names_shops(void **state)
{
    (void)state;
    struct hk_engine *e = new_engine();
    order(e, 1, 10, 3, HK_ORDER_PAID, "2026-02-01T10:00:00+08:00", 1000);
    order(e, 2, 11, 4, HK_ORDER_PAID, "2026-02-01T10:00:00+08:00", 1000);
    finish(e);
    struct hk_err err;
    assert_contains(parse_error(e, "r_score(shop=\"天猫旗舰\") >= 4", &err),
                    "unknown shop \"天猫旗舰\" (did you mean '天猫旗舰店'?)");
    assert_contains(parse_error(e, "r_score(shop=\"天猫旗舰\") >= 4", &err), "column 14");
    const char *m = parse_error(e, "r_score(shop=\"旗舰店\") >= 1", &err);
    assert_contains(m, "ambiguous");
    assert_contains(m, "\"jd:旗舰店\"");
    assert_contains(m, "\"pdd:旗舰店\"");
    assert_int_equal(count(e, "r_score(shop=\"jd:旗舰店\") >= 1"), 1);
    /* a suggestion for a name two channels share is in the "channel:name" form the language
     * takes, never the ambiguous plain name */
    assert_contains(parse_error(e, "r_score(shop=\"jd:旗舰\") >= 1", &err),
                    "unknown shop \"jd:旗舰\" (did you mean 'jd:旗舰店'?)");
    assert_contains(parse_error(e, "r_score(shop=\"pdd:旗舰店铺\") >= 1", &err),
                    "(did you mean 'pdd:旗舰店'?)");
    assert_contains(parse_error(e, "r_score(shop=\"旗舰\") >= 1", &err),
                    "(did you mean 'jd:旗舰店'?)");
    assert_int_equal(count(e, "r_score(shop=3) >= 1 or r_score(shop=4) >= 1"), 2);
    assert_int_equal(count(e, "rfm_segment(shop=\"jd:旗舰店\") != \"重要价值客户\" or "
                              "rfm_segment(shop=3) = \"重要价值客户\""),
                     1);
    assert_contains(parse_error(e, "r_score(shop=77) >= 1", &err), "unknown shop \"77\"");
    assert_contains(parse_error(e, "r_score(store=1) >= 1", &err), "expected shop=\"name\"");
    assert_contains(parse_error(e, "r_score(shop=1 >= 1", &err), "expected ')' after the shop");
    assert_contains(parse_error(e, "frequency(shop=1) >= 1", &err), "takes no arguments");
    hk_engine_free(e);
}

/* Random data: every shop's quintile scores match the formula over its buyers by brute force,
 * with many shops (small shops take the sorting path, one large one the counting path). */
static void shops__random_quintiles_match_the_formula(void **state)
{
    (void)state;
    struct hk_engine *e = NULL;
    struct hk_err err;
    assert_int_equal(hk_engine_new(NULL, &e, &err), 0);
    enum { SHOPS = 12, CUST = 9000 };
    for (int s = 1; s <= SHOPS; s++)
        assert_int_equal(hk_engine_add_shop(e, s, s % 3 ? "Asia/Shanghai" : "Europe/Berlin", &err),
                         0);
    assert_int_equal(hk_engine_add_product(e, 101, "P1", "x", &err), 0);
    uint64_t x = 88172645463325252ull;
    int64_t oid = 1;
    for (int c = 1; c <= CUST; c++) {
        int n = 1 + (int)((x = x * 6364136223846793005ull + 1442695040888963407ull) >> 62);
        for (int k = 0; k < n; k++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            int shop = (x >> 40) % 7 == 0 ? 1 + (int)((x >> 20) % SHOPS) : 1;
            int64_t day = (int64_t)((x >> 10) % 400);
            int64_t fen = (int64_t)((x >> 30) % 50000);
            struct hk_engine_line line = {101, fen};
            struct hk_engine_order o = {
                oid++, c,
                shop,  HK_ORDER_PAID,
                true,  at("2026-03-01T00:00:00Z") - day * 86400 - (int64_t)(x % 86400),
                fen,   0,
                false, &line,
                1};
            assert_int_equal(hk_engine_apply_order(e, &o, &err), 0);
        }
    }
    finish(e);
    /* gather every entry per shop */
    for (int s = 1; s <= SHOPS; s++) {
        int64_t *rv = malloc(CUST * sizeof(int64_t)), *fv = malloc(CUST * sizeof(int64_t)),
                *mv = malloc(CUST * sizeof(int64_t));
        int64_t *who = malloc(CUST * sizeof(int64_t));
        int *rs = malloc(CUST * sizeof(int)), *fs = malloc(CUST * sizeof(int)),
            *ms = malloc(CUST * sizeof(int));
        size_t n = 0;
        for (int c = 1; c <= CUST; c++) {
            struct hk_engine_shop_rfm b[SHOPS];
            size_t k = hk_engine_customer_shops(e, c, NOW, b, SHOPS);
            for (size_t i = 0; i < k; i++)
                if (b[i].shop_id == s) {
                    rv[n] = -b[i].recency_days; /* fewer days is better */
                    fv[n] = b[i].frequency;
                    mv[n] = b[i].monetary_fen;
                    rs[n] = b[i].r_score;
                    fs[n] = b[i].f_score;
                    ms[n] = b[i].m_score;
                    who[n++] = c;
                }
        }
        assert_true(n > 0);
        struct hk_rfm_report rep;
        assert_int_equal(hk_engine_rfm_report_shop(e, s, &rep, &err), 0);
        assert_int_equal(rep.buyers, n);
        for (size_t i = 0; i < n; i++) {
            if (rs[i] != quintile(rv, n, i) || fs[i] != quintile(fv, n, i) ||
                ms[i] != quintile(mv, n, i))
                print_error("shop %d customer %lld: %d %d %d\n", s, (long long)who[i], rs[i], fs[i],
                            ms[i]);
            assert_int_equal(rs[i], quintile(rv, n, i));
            assert_int_equal(fs[i], quintile(fv, n, i));
            assert_int_equal(ms[i], quintile(mv, n, i));
        }
        char expr[64];
        snprintf(expr, sizeof expr, "m_score(shop=%d) >= 3", s);
        size_t want = 0;
        for (size_t i = 0; i < n; i++)
            want += ms[i] >= 3;
        assert_int_equal(count(e, expr), want);
        free(rv);
        free(fv);
        free(mv);
        free(who);
        free(rs);
        free(fs);
        free(ms);
    }
    hk_engine_free(e);
}

/* Recency past the histogram's window (an order 250 years ago) and a customer with 70,000
 * orders take the fallback paths; the scores still follow the formula, for all shops and for
 * the shop. */
static void shops__quintiles_outside_the_histograms_match_the_formula(void **state)
{
    (void)state;
    struct hk_engine *e = new_engine();
    enum { N = 5000 };
    int64_t rec[N], freq[N], mon[N];
    int64_t oid = 1, base = at("2026-02-01T12:00:00Z");
    for (int c = 0; c < N; c++) {
        int64_t days = c == 0 ? 250 * 366 : (c * 37) % 400;
        int64_t n = c == 1 ? 70000 : 1 + c % 4;
        for (int64_t k = 0; k < n; k++) {
            struct hk_err err;
            struct hk_engine_line line = {101, 100 + c};
            int64_t t = base - days * 86400 - (k ? 86400 * 1000 : 0);
            struct hk_engine_order o = {oid++,   1000 + c, 1,     HK_ORDER_PAID, true, t,
                                        100 + c, 0,        false, &line,         1};
            assert_int_equal(hk_engine_apply_order(e, &o, &err), 0);
        }
        rec[c] = -(days + 28); /* 1 March - 1 February; higher is better */
        freq[c] = n;
        mon[c] = n * (100 + c);
    }
    finish(e);
    struct hk_engine_shop_rfm b[2];
    struct hk_err err;
    for (int c = 0; c < N; c += 7) {
        const struct hk_engine_shop_rfm *s = entry(e, 1000 + c, 1, b, 2);
        assert_non_null(s);
        assert_int_equal(s->r_score, quintile(rec, N, (size_t)c));
        assert_int_equal(s->f_score, quintile(freq, N, (size_t)c));
        assert_int_equal(s->m_score, quintile(mon, N, (size_t)c));
        struct hk_engine_aggregates a;
        assert_int_equal(hk_engine_customer_get(e, 1000 + c, NOW, &a, &err), 0);
        assert_int_equal(a.r_score, s->r_score);
        assert_int_equal(a.f_score, s->f_score);
        assert_int_equal(a.m_score, s->m_score);
    }
    hk_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shops__per_shop_aggregates_use_each_shops_zone),
        cmocka_unit_test(shops__quintiles_are_against_the_shops_own_buyers),
        cmocka_unit_test(shops__own_configuration_inheritance_and_one_shop_rescore),
        cmocka_unit_test(shops__entries_follow_orders_merges_and_clears),
        cmocka_unit_test(shops__segment_language_names_shops),
        cmocka_unit_test(shops__random_quintiles_match_the_formula),
        cmocka_unit_test(shops__quintiles_outside_the_histograms_match_the_formula),
        cmocka_unit_test(shops__one_shop_scores_like_shop_0_only_under_the_same_configuration),
        cmocka_unit_test(shops__entries_of_customers_of_many_shops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
