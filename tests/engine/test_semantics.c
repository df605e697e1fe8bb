/*
 * test_semantics.c — the documented meanings of the segment language (docs/segments.md, issue 4
 * items 2 and 4), one statement at a time, on a small hand-built engine whose every answer is
 * worked out by hand below:
 *   - a counted order needs a counted status and a payment time;
 *   - missing values (non-buyers' recency_days, first_order_days, aov, coupon_use_rate, scores,
 *     main_category): every comparison false with every operator, in and between, and `not`
 *     the plain complement over all live customers;
 *   - main_category: most net spend, ties to the smaller name in byte order, categories at a net
 *     <= 0 taking part, missing for buyers without categorised lines;
 *   - coupon_use_rate and refund_count as defined; channel membership with two identities;
 *   - bought(): min_count counting distinct counted orders (index, walk and scan paths), product
 *     and category on one line, no arguments = any counted order (with or without lines),
 *     within= in days and hours; event() with type, within and min_count;
 *   - literals: money in yuan with decimals, durations on day fields, `in` with one element,
 *     between with both ends included, every comparison operator, negative numbers, 6 decimals;
 *   - aov between whole fen and below zero compared exactly;
 *   - the grammar: precedence, case-insensitive keywords, quotes and escapes, the nesting and
 *     length limits; parse errors naming line, column and what was expected over several lines;
 *     the nearest-name suggestion for every kind of name;
 *   - the same data written one change at a time after the load answers the same, and
 *     merged-away customers are never members (not even of `not`).
 */
#include "../unit/unit.h"

#include "core/err.h"
#include "core/tz.h"
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

#define NOW at("2026-03-01T12:00:00+08:00")

enum { P_PHONE = 101, P_ACC, P_DRESS, P_NOCAT, P_B, P_A };

struct ln {
    int64_t product, fen;
};

static void ord(struct hk_engine *e, int64_t oid, int64_t cid, enum hk_order_status st,
                const char *paid, int64_t paid_fen, int64_t refund_fen, bool coupon,
                const struct ln *lines, size_t n)
{
    struct hk_engine_line l[8];
    for (size_t i = 0; i < n; i++) {
        l[i].product_id = lines[i].product;
        l[i].amount_fen = lines[i].fen;
    }
    struct hk_engine_order o = {
        oid, cid, 1, st, paid != NULL, paid ? at(paid) : 0, paid_fen, refund_fen, coupon, l, n};
    struct hk_err err;
    int rc = hk_engine_apply_order(e, &o, &err);
    if (rc)
        print_error("%s\n", hk_err_message(&err));
    assert_int_equal(rc, 0);
}

#define LINES(...)                                                                                 \
    (const struct ln[]){__VA_ARGS__}, sizeof((const struct ln[]){__VA_ARGS__}) / sizeof(struct ln)
#define NOLINES NULL, 0

#define LIVE       16
#define NON_BUYERS 3 /* customers 1, 7, 16 */

/*
 * Customers 1..16 (all live). Days are days_ago as of NOW (1 March 2026, 12:00 Shanghai).
 *  1  non-buyer: only a cancelled order (no payment time) with a coupon and a refund; taobao;
 *     浙江/杭州
 *  2  orders 10 d (100.00, coupon, 连衣裙) and 40 d (99.90, 连衣裙), a cancelled couponed phones
 *     order: frequency 2, monetary 199.90, aov 99.95, coupon_use_rate 0.5; taobao; events
 *  3  one order 1 d: a_cat 50.00 + b_cat 50.00 (a tie: a_cat); douyin
 *  4  one order 28 d, paid 10.00 and refunded 10.00 without a status change (b_cat line 0):
 *     counted, monetary 0, aov 0, refund_count 1
 *  5  orders 19 d (an uncategorised line, 20.00) and 18 d (no lines, 10.00): no main_category
 *  6  one order 14 d (phones 30.00, coupon); identities on taobao and jd
 *  7  a paid order without a payment time: not counted, a non-buyer
 *  8  orders 9 d (two phones lines, 200.00) and 55 d (phones 100.00): two phones orders
 *  9  one order 9 d: two phones lines + an accessory (3.00): one phones order
 * 10  one order 3 d: phones 1.00 + accessory 1.00 (a tie: phone_accessories < phones)
 * 11  one order today 08:00 without lines (10.00)
 * 12  orders 8 d (phones 50.00), cancelled 7 d (phones, paid time), refunded-status 6 d with no
 *     refund amount: frequency 1, refund_count 1
 * 13  one order 4 d: b_cat 30.00 then a_cat 30.00 (a tie: a_cat)
 * 14  one order 5 d: b_cat 30.01 + a_cat 30.00 (b_cat)
 * 15  one order 12 d: a_cat -5.00, b_cat -2.00 (refunds past the paid amount): b_cat, aov -7.00
 * 16  no orders, no identity
 */
static struct hk_engine *world_built(bool finish_first)
{
    struct hk_engine *e = NULL;
    struct hk_err err;
    assert_int_equal(hk_engine_new(NULL, &e, &err), 0);
    if (finish_first) /* every order, event and identity then arrives one at a time */
        assert_int_equal(hk_engine_load_finish(e, &err), 0);
    assert_int_equal(hk_engine_add_shop(e, 1, "Asia/Shanghai", &err), 0);
    assert_int_equal(hk_engine_add_product(e, P_PHONE, "P1001", "phones", &err), 0);
    assert_int_equal(hk_engine_add_product(e, P_ACC, "P2002", "phone_accessories", &err), 0);
    assert_int_equal(hk_engine_add_product(e, P_DRESS, "P3003", "连衣裙", &err), 0);
    assert_int_equal(hk_engine_add_product(e, P_NOCAT, "P4004", "", &err), 0);
    assert_int_equal(hk_engine_add_product(e, P_B, "P5005", "b_cat", &err), 0);
    assert_int_equal(hk_engine_add_product(e, P_A, "P6006", "a_cat", &err), 0);
    for (int64_t c = 1; c <= 16; c++) {
        struct hk_engine_customer cu = {c, c == 1 ? "浙江" : "", c == 1 ? "杭州" : "", 0};
        assert_int_equal(hk_engine_upsert_customer(e, &cu, &err), 0);
    }
    assert_int_equal(hk_engine_add_channel(e, 1, "taobao", &err), 0);
    assert_int_equal(hk_engine_add_channel(e, 2, "taobao", &err), 0);
    assert_int_equal(hk_engine_add_channel(e, 3, "douyin", &err), 0);
    assert_int_equal(hk_engine_add_channel(e, 6, "taobao", &err), 0);
    assert_int_equal(hk_engine_add_channel(e, 6, "jd", &err), 0);

    ord(e, 1, 1, HK_ORDER_CANCELLED, NULL, 5000, 2000, true, LINES({P_PHONE, 3000}));
    ord(e, 2, 2, HK_ORDER_PAID, "2026-02-19T10:00:00+08:00", 10000, 0, true,
        LINES({P_DRESS, 10000}));
    ord(e, 3, 2, HK_ORDER_SHIPPED, "2026-01-20T10:00:00+08:00", 9990, 0, false,
        LINES({P_DRESS, 9990}));
    ord(e, 4, 2, HK_ORDER_CANCELLED, "2026-02-25T10:00:00+08:00", 777, 0, true,
        LINES({P_PHONE, 777}));
    ord(e, 5, 3, HK_ORDER_COMPLETED, "2026-02-28T10:00:00+08:00", 10000, 0, false,
        LINES({P_B, 5000}, {P_A, 5000}));
    ord(e, 6, 4, HK_ORDER_COMPLETED, "2026-02-01T10:00:00+08:00", 1000, 1000, false,
        LINES({P_B, 0}));
    ord(e, 7, 5, HK_ORDER_PAID, "2026-02-10T10:00:00+08:00", 2000, 0, false,
        LINES({P_NOCAT, 2000}));
    ord(e, 8, 5, HK_ORDER_PAID, "2026-02-11T10:00:00+08:00", 1000, 0, false, NOLINES);
    ord(e, 9, 6, HK_ORDER_PAID, "2026-02-15T10:00:00+08:00", 3000, 0, true, LINES({P_PHONE, 3000}));
    ord(e, 10, 7, HK_ORDER_PAID, NULL, 5000, 0, false, LINES({P_PHONE, 5000}));
    ord(e, 11, 8, HK_ORDER_PAID, "2026-02-20T10:00:00+08:00", 20000, 0, false,
        LINES({P_PHONE, 10000}, {P_PHONE, 10000}));
    ord(e, 12, 8, HK_ORDER_PAID, "2026-01-05T10:00:00+08:00", 10000, 0, false,
        LINES({P_PHONE, 10000}));
    ord(e, 13, 9, HK_ORDER_PAID, "2026-02-20T10:00:00+08:00", 300, 0, false,
        LINES({P_PHONE, 100}, {P_PHONE, 100}, {P_ACC, 100}));
    ord(e, 14, 10, HK_ORDER_PAID, "2026-02-26T10:00:00+08:00", 200, 0, false,
        LINES({P_PHONE, 100}, {P_ACC, 100}));
    ord(e, 15, 11, HK_ORDER_PAID, "2026-03-01T08:00:00+08:00", 1000, 0, false, NOLINES);
    ord(e, 16, 12, HK_ORDER_PAID, "2026-02-21T10:00:00+08:00", 5000, 0, false,
        LINES({P_PHONE, 5000}));
    ord(e, 17, 12, HK_ORDER_CANCELLED, "2026-02-22T10:00:00+08:00", 5000, 0, false,
        LINES({P_PHONE, 5000}));
    ord(e, 18, 12, HK_ORDER_REFUNDED, "2026-02-23T10:00:00+08:00", 5000, 0, false,
        LINES({P_PHONE, 5000}));
    ord(e, 19, 13, HK_ORDER_PAID, "2026-02-25T10:00:00+08:00", 6000, 0, false,
        LINES({P_B, 3000}, {P_A, 3000}));
    ord(e, 20, 14, HK_ORDER_PAID, "2026-02-24T10:00:00+08:00", 6001, 0, false,
        LINES({P_B, 3001}, {P_A, 3000}));
    ord(e, 21, 15, HK_ORDER_COMPLETED, "2026-02-17T10:00:00+08:00", 0, 700, false,
        LINES({P_A, -500}, {P_B, -200}));

    static const char *const browse[] = {"2026-03-01T09:00:00+08:00", "2026-02-27T09:00:00+08:00",
                                         "2026-02-23T09:00:00+08:00", "2026-02-19T09:00:00+08:00"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(hk_engine_add_event(e, 2, 1, "browse", at(browse[i]), &err), 0);
    assert_int_equal(hk_engine_add_event(e, 2, 1, "cart", at("2026-02-28T09:00:00+08:00"), &err),
                     0);
    /* an event without a shop: the default zone (Asia/Shanghai), not UTC (where it is 28 Feb) */
    assert_int_equal(hk_engine_add_event(e, 3, 0, "share", at("2026-03-01T00:30:00+08:00"), &err),
                     0);
    assert_int_equal(hk_engine_tag_set(e, 2, "say \"hi\"\\", true, &err), 0);
    if (!finish_first)
        assert_int_equal(hk_engine_load_finish(e, &err), 0);
    assert_int_equal(hk_engine_rescore(e, NOW, &err), 0);
    return e;
}

static struct hk_engine *world(void)
{
    return world_built(false);
}

static struct hk_engine *W;

static int setup(void **state)
{
    (void)state;
    W = world();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hk_engine_free(W);
    return 0;
}

static size_t count(const char *expr)
{
    size_t n = 0;
    struct hk_err err;
    int rc = hk_segment_count(W, expr, NULL, NOW, &n, &err);
    if (rc)
        print_error("%s: %s\n", expr, hk_err_message(&err));
    assert_int_equal(rc, 0);
    return n;
}

/* count(expr), asserting want with the expression in the failure message. */
#define EXPECT(expr, want)                                                                         \
    do {                                                                                           \
        size_t got_ = count(expr);                                                                 \
        if (got_ != (size_t)(want))                                                                \
            fail_msg("%s: %zu, want %zu", (expr), got_, (size_t)(want));                           \
    } while (0)

static const char *error_of(const char *expr)
{
    static char msg[600];
    size_t n = 0;
    struct hk_err err;
    int rc = hk_segment_count(W, expr, NULL, NOW, &n, &err);
    if (rc != HK_E(INVAL))
        fail_msg("%s: compiled (%zu), want an error", expr, n);
    snprintf(msg, sizeof msg, "%s", hk_err_message(&err));
    return msg;
}

static void aggregates(int64_t c, struct hk_engine_aggregates *a)
{
    struct hk_err err;
    assert_int_equal(hk_engine_customer_get(W, c, NOW, a, &err), 0);
}

static void counted__needs_a_counted_status_and_a_payment_time(void **state)
{
    (void)state;
    struct hk_engine_aggregates a;
    aggregates(7, &a); /* paid, without paid_at */
    assert_int_equal(a.frequency, 0);
    assert_false(a.has_recency);
    aggregates(12, &a); /* paid + cancelled + refunded-status */
    assert_int_equal(a.frequency, 1);
    assert_int_equal(a.monetary_fen, 5000);
    EXPECT("frequency = 0", NON_BUYERS);
    EXPECT("frequency >= 1", LIVE - NON_BUYERS);
    EXPECT("bought()", LIVE - NON_BUYERS);
    EXPECT("bought(product=\"P1001\") and frequency = 0", 0);
    EXPECT("frequency = 2", 3); /* 2, 5, 8 */
}

/* Every comparison with a missing value is false; `not` is the plain complement. */
static void missing__every_operator_is_false_and_not_complements(void **state)
{
    (void)state;
    static const char *const fields[] = {"recency_days",    "first_order_days", "aov",
                                         "coupon_use_rate", "r_score",          "f_score",
                                         "m_score"};
    static const char *const tests[] = {"= 0",
                                        "!= 0",
                                        "> 0",
                                        ">= 0",
                                        "< 0",
                                        "<= 0",
                                        "= 1",
                                        "!= 1",
                                        "> -1",
                                        ">= -1000",
                                        "< 1000000",
                                        "<= 1000000",
                                        "<> 3",
                                        "== 0",
                                        "in (0)",
                                        "in (0, 1, 2)",
                                        "between -1000 and 1000000",
                                        "between 0 and 0"};
    char ex[200], nex[240], both[280];
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++)
        for (size_t t = 0; t < sizeof tests / sizeof tests[0]; t++) {
            snprintf(ex, sizeof ex, "%s %s", fields[f], tests[t]);
            size_t n = count(ex);
            snprintf(both, sizeof both, "%s and frequency = 0", ex);
            EXPECT(both, 0);
            snprintf(nex, sizeof nex, "not %s", ex);
            EXPECT(nex, LIVE - n);
            snprintf(both, sizeof both, "not (%s) and frequency = 0", ex);
            EXPECT(both, NON_BUYERS);
        }
    /* the text fields: =, != and in */
    static const char *const texts[] = {"main_category = \"a_cat\"",
                                        "main_category != \"a_cat\"",
                                        "main_category in (\"a_cat\", \"b_cat\")",
                                        "rfm_segment != \"重要价值客户\"",
                                        "rfm_tier != \"其他\"",
                                        "rfm_tier in (\"其他\", \"高价值客户\")"};
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        size_t n = count(texts[t]);
        snprintf(both, sizeof both, "(%s) and frequency = 0", texts[t]);
        EXPECT(both, 0);
        snprintf(nex, sizeof nex, "not (%s)", texts[t]);
        EXPECT(nex, LIVE - n);
    }
    /* the issue's own example: not recency_days > 90 includes the never-buyers */
    EXPECT("recency_days > 90", 0);
    EXPECT("not recency_days > 90", LIVE);
    EXPECT("recency_days <= 90", LIVE - NON_BUYERS);
    EXPECT("not not recency_days > 90", 0);
    /* frequency, monetary and refund_count are never missing */
    EXPECT("frequency = 0 and monetary = 0", NON_BUYERS);
    EXPECT("refund_count = 0", LIVE - 4);
}

static void main_category__most_spend_ties_net_below_zero_and_missing(void **state)
{
    (void)state;
    struct hk_engine_aggregates a;
    static const struct {
        int64_t c;
        const char *cat;
    } want[] = {{2, "连衣裙"}, {3, "a_cat"},  {4, "b_cat"},  {5, NULL},
                {6, "phones"}, {8, "phones"}, {9, "phones"}, {10, "phone_accessories"},
                {11, NULL},    {13, "a_cat"}, {14, "b_cat"}, {15, "b_cat"},
                {1, NULL},     {7, NULL},     {16, NULL}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        aggregates(want[i].c, &a);
        if (!want[i].cat) {
            if (a.main_category)
                fail_msg("customer %lld: main_category %s, want none", (long long)want[i].c,
                         a.main_category);
        } else if (!a.main_category || strcmp(a.main_category, want[i].cat) != 0) {
            fail_msg("customer %lld: main_category %s, want %s", (long long)want[i].c,
                     a.main_category ? a.main_category : "(none)", want[i].cat);
        }
    }
    EXPECT("main_category = \"a_cat\"", 2);
    EXPECT("main_category = \"b_cat\"", 3);
    EXPECT("main_category = \"phone_accessories\"", 1);
    EXPECT("main_category != \"a_cat\"", 9); /* buyers with another one; 5 and 11 have none */
    EXPECT("main_category in (\"a_cat\")", 2);
}

static void coupon_use_rate_and_refund_count(void **state)
{
    (void)state;
    struct hk_engine_aggregates a;
    aggregates(2, &a); /* the cancelled couponed order does not count */
    assert_true(a.coupon_use_rate > 0.49 && a.coupon_use_rate < 0.51);
    EXPECT("coupon_use_rate = 0.5", 1);
    EXPECT("coupon_use_rate >= 0.5", 2); /* 2 and 6 */
    EXPECT("coupon_use_rate = 1", 1);    /* 6 */
    EXPECT("coupon_use_rate = 0", 11);   /* buyers without coupons; 1 is not a buyer */
    EXPECT("coupon_use_rate >= 0", 13);  /* every buyer, no non-buyer */
    EXPECT("coupon_use_rate >= 0.500000", 2);
    assert_contains(error_of("coupon_use_rate >= 0.1234567"), "at most 6 decimals");
    /* refund_count: refunded status, or a refund amount, any status */
    static const int64_t refunded[] = {1, 4, 12, 15};
    for (size_t i = 0; i < 4; i++) {
        aggregates(refunded[i], &a);
        assert_int_equal(a.refund_count, 1);
    }
    aggregates(4, &a); /* refunded in full without the status: counted, net 0 */
    assert_int_equal(a.frequency, 1);
    assert_int_equal(a.monetary_fen, 0);
    EXPECT("refund_count >= 1", 4);
    EXPECT("refund_count = 1 and frequency = 0", 1); /* 1: its cancelled order */
    EXPECT("frequency = 1 and monetary = 0", 1);
    EXPECT("aov = 0", 1);
}

static void channel__every_identity_counts(void **state)
{
    (void)state;
    EXPECT("channel = \"jd\"", 1);
    EXPECT("channel = \"taobao\"", 3);
    EXPECT("channel = \"jd\" and channel = \"taobao\"", 1);
    EXPECT("channel != \"jd\"", 3);     /* 1, 2 (taobao) and 3 (douyin); 6 has jd */
    EXPECT("channel != \"douyin\"", 3); /* 1, 2, 6 */
    EXPECT("channel in (\"jd\")", 1);
    EXPECT("channel in (\"jd\", \"douyin\")", 2);
    EXPECT("not channel = \"jd\"", LIVE - 1);
    EXPECT("not channel != \"jd\"", LIVE - 3); /* those without identities included */
    struct hk_engine_aggregates a;
    aggregates(6, &a);
    uint32_t jd = hk_engine_dict_find(W, HK_DICT_CHANNEL, "jd", 2);
    uint32_t tb = hk_engine_dict_find(W, HK_DICT_CHANNEL, "taobao", 6);
    assert_int_equal(a.channels, (1u << jd) | (1u << tb));
    assert_contains(error_of("channel = \"jdd\""), "unknown channel \"jdd\" (did you mean 'jd'?)");
}

static void bought__distinct_orders_one_line_for_both_and_no_arguments(void **state)
{
    (void)state;
    EXPECT("bought(category=\"phones\")", 5); /* 6, 8, 9, 10, 12: never a cancelled order */
    /* two lines of one order count once: 8 has two orders, 9 one order with two phone lines */
    EXPECT("bought(category=\"phones\", min_count=2)", 1);
    EXPECT("bought(product=\"P1001\", min_count=2)", 1);
    EXPECT("bought(category=\"phones\", min_count=2, within=60d)", 1);
    EXPECT("bought(category=\"phones\", min_count=2, within=30d)", 0);
    EXPECT("bought(product=\"P1001\", category=\"phones\", min_count=2)", 1);
    EXPECT("bought(min_count=2)", 3); /* 2, 5, 8 */
    EXPECT("bought(category=\"phones\", min_count=1)", 5);
    /* product and category together: one line must match both */
    EXPECT("bought(product=\"P1001\", category=\"phone_accessories\")", 0);
    EXPECT("bought(product=\"P1001\", category=\"phones\")", 5);
    EXPECT("bought(product=\"P2002\", category=\"phone_accessories\", within=5d)", 1); /* 10 */
    /* no arguments: any counted order, with or without lines */
    EXPECT("bought(within=1d)", 1); /* 11: today, no lines */
    EXPECT("bought(within=12h)", 1);
    EXPECT("bought(within=24h)", 1);
    EXPECT("bought(within=25h)", 2); /* ⌈25/24⌉ = 2 days: 3 and 11 */
    EXPECT("bought(within=2d)", 2);
    EXPECT("bought(within=48h)", 2);
    EXPECT("bought(within=49h)", 2);
    EXPECT("bought(within=4d)", 3); /* 10 (3 days) too */
    EXPECT("bought() and not bought(within=30d)", 0);
    EXPECT("bought(within=29d) and not bought(within=28d)", 1); /* 4: 28 days */
}

static void event__type_within_and_min_count(void **state)
{
    (void)state;
    /* customer 2: browse 0, 2, 6 and 10 days ago, cart 1 day ago */
    EXPECT("event(type=\"browse\", within=7d, min_count=3)", 1);
    EXPECT("event(type=\"browse\", within=7d, min_count=4)", 0);
    EXPECT("event(type=\"browse\", min_count=4)", 1);
    EXPECT("event(type=\"browse\", within=12h)", 1);
    EXPECT("event(type=\"cart\", within=1d)", 0);
    EXPECT("event(type=\"cart\", within=25h)", 1);
    EXPECT("event(within=2d, min_count=2)", 1); /* browse today + cart yesterday */
    EXPECT("event(within=2d, min_count=3)", 0);
    EXPECT("event()", 2); /* 2, and 3's share */
    EXPECT("event(type=\"share\", within=1d)", 1);
    EXPECT("event(type=\"favourite\")", 0); /* a known type nobody has */
    assert_contains(error_of("event(type=\"brows\")"),
                    "unknown event type \"brows\" (did you mean 'browse'?)");
    assert_contains(error_of("event(typ=\"browse\")"),
                    "event() has no argument 'typ' (did you mean 'type'?)");
}

static void literals__money_durations_in_between_and_operators(void **state)
{
    (void)state;
    /* aov: 2 99.95, 3 100, 4 0, 5 15, 6 30, 8 150, 9 3, 10 2, 11 10, 12 50, 13 60, 14 60.01,
     * 15 -7 */
    EXPECT("aov >= 99.9", 3);
    EXPECT("aov >= 99.95", 3);
    EXPECT("aov >= 99.96", 2);
    EXPECT("aov > 99.95", 2);
    EXPECT("aov = 99.95", 1);
    EXPECT("aov between 99.95 and 100", 2);
    EXPECT("aov between 99.95 and 99.95", 1);
    EXPECT("aov > 60", 4);
    EXPECT("aov >= 60.01", 4);
    EXPECT("aov >= 60", 5);
    EXPECT("aov < 0", 1);
    EXPECT("aov < -7", 0);
    EXPECT("aov <= -7", 1);
    EXPECT("aov = -7.00", 1);
    EXPECT("monetary = 199.9", 1);
    EXPECT("monetary = 199.90", 1);
    EXPECT("monetary < 0", 1);
    assert_contains(error_of("aov >= 99.999"), "2 decimals");
    /* every operator, with their spellings */
    EXPECT("frequency = 2", 3);
    EXPECT("frequency == 2", 3);
    EXPECT("frequency != 2", LIVE - 3);
    EXPECT("frequency <> 2", LIVE - 3);
    EXPECT("frequency > 1", 3);
    EXPECT("frequency >= 1", LIVE - NON_BUYERS);
    EXPECT("frequency < 1", NON_BUYERS);
    EXPECT("frequency <= 1", LIVE - 3);
    /* in with one element is = */
    EXPECT("frequency in (2)", 3);
    EXPECT("recency_days in (9)", 2);
    EXPECT("main_category in (\"b_cat\")", 3);
    EXPECT("rfm_tier in (\"其他\")", count("rfm_tier = \"其他\""));
    /* between: both ends included */
    EXPECT("recency_days between 9 and 10", 3); /* 2 (10), 8 and 9 (9) */
    EXPECT("recency_days between 10 and 10", 1);
    EXPECT("frequency between 2 and 2", 3);
    EXPECT("first_order_days between 40 and 55", 2);
    EXPECT("first_order_days between 41 and 54", 0);
    /* durations on day fields: whole days against hours */
    EXPECT("recency_days > 12h", LIVE - NON_BUYERS - 1); /* all but 11 (0 days) */
    EXPECT("recency_days >= 1d", LIVE - NON_BUYERS - 1);
    EXPECT("recency_days < 1", 1);
    EXPECT("recency_days < 24h", 1);
    EXPECT("recency_days <= 24h", 2); /* 3: 1 day */
    EXPECT("first_order_days >= 40d", 2);
    /* numbers are exact decimals on every numeric field */
    EXPECT("recency_days > 0.5", LIVE - NON_BUYERS - 1);
    EXPECT("recency_days = 0.5", 0);
    EXPECT("frequency > 1.5", 3);
    EXPECT("frequency = 1.999999", 0);
    EXPECT("coupon_use_rate > 0.499999 and coupon_use_rate < 0.500001", 1);
    EXPECT("aov in (-7, 99.95)", 2);
    /* a place nobody has matches nobody, with = and with != (missing stays missing) */
    EXPECT("province = \"北京\"", 0);
    EXPECT("province != \"北京\"", 1); /* 1 (浙江); the others have no province */
    EXPECT("city in (\"杭州\", \"nowhere\")", 1);
    EXPECT("not province = \"北京\"", LIVE);
    assert_contains(error_of("aov > 3d"), "not a duration field");
    assert_contains(error_of("monetary > 12h"), "not a duration field");
}

static void grammar__precedence_keywords_quotes_and_limits(void **state)
{
    (void)state;
    /* and binds tighter than or; not tightest */
    EXPECT("frequency = 0 or frequency >= 1 and aov > 1000", NON_BUYERS);
    EXPECT("(frequency = 0 or frequency >= 1) and aov > 1000", 0);
    EXPECT("not frequency = 0 and frequency = 0", 0);
    EXPECT("not (frequency = 0 and frequency = 0)", LIVE - NON_BUYERS);
    EXPECT("frequency = 0 and frequency = 0 or frequency = 2", NON_BUYERS + 3);
    /* keywords in any case; field names lower-case */
    EXPECT("frequency = 0 OR frequency >= 1", LIVE);
    EXPECT("NOT frequency = 0", LIVE - NON_BUYERS);
    EXPECT("frequency In (2) And aov BeTwEeN 99 AnD 100", 1);
    assert_contains(error_of("Frequency = 2"), "unknown field 'Frequency' (did you mean");
    assert_contains(error_of("BOUGHT()"), "unknown function 'BOUGHT'");
    /* white space and newlines are free */
    EXPECT("\n  frequency\t=\n2\r\n", 3);
    /* strings: double or single quotes, \" and \\ escapes */
    EXPECT("has_tag(\"say \\\"hi\\\"\\\\\")", 1);
    EXPECT("has_tag('say \"hi\"\\\\')", 1);
    EXPECT("main_category = 'b_cat'", 3);
    /* nesting: 100 levels of parentheses or nots, not 101 */
    char buf[1200];
    size_t k = 0;
    for (int i = 0; i < 100; i++)
        buf[k++] = '(';
    k += (size_t)snprintf(buf + k, sizeof buf - k, "frequency = 2");
    for (int i = 0; i < 100; i++)
        buf[k++] = ')';
    buf[k] = '\0';
    EXPECT(buf, 3);
    char deeper[1300];
    snprintf(deeper, sizeof deeper, "(%s)", buf);
    assert_contains(error_of(deeper), "nested too deeply");
    k = 0;
    for (int i = 0; i < 100; i++)
        k += (size_t)snprintf(buf + k, sizeof buf - k, "not ");
    snprintf(buf + k, sizeof buf - k, "frequency = 2");
    EXPECT(buf, 3);
    snprintf(deeper, sizeof deeper, "not %s", buf);
    assert_contains(error_of(deeper), "nested too deeply");
    /* 64 KiB of text, not a byte more */
    size_t max = HK_SEGMENT_MAX_LEN;
    char *big = malloc(max + 2);
    assert_non_null(big);
    memset(big, ' ', max + 1);
    memcpy(big, "frequency = 2", 13);
    big[max] = '\0';
    EXPECT(big, 3);
    big[max] = ' ';
    big[max + 1] = '\0';
    assert_contains(error_of(big), "longer than 65536 bytes");
    free(big);
}

static void errors__line_column_and_what_was_expected(void **state)
{
    (void)state;
    const char *m = error_of("frequency > 1 and\n\n   aov >");
    assert_contains(m, "line 3, column 9: expected");
    assert_contains(m, "found end of input");
    m = error_of("bought(category=\"phones\",\n       within=)");
    assert_contains(m, "line 2, column 15: expected");
    assert_contains(m, "found ')'");
    assert_contains(error_of("frequency > 1\nand\nfoo = 1"),
                    "line 3, column 1: unknown field 'foo'");
    assert_contains(error_of("frequency > 1\n  and and"), "line 2, column 7: expected a field");
    /* columns count characters, not bytes */
    assert_contains(error_of("main_category = \"连衣裙\" and\nhas_tag(\"连衣\") or"),
                    "line 2, column 9: unknown tag \"连衣\"");
    assert_contains(error_of("main_category = \"连衣裙\" or foo"), "line 1, column 26");
    assert_contains(error_of("frequency >= 1 and (aov > 5\n"), "line 2, column 1: expected ')'");
}

static const char *resolve(void *ctx, const char *name)
{
    (void)ctx;
    static char buf[64];
    if (strcmp(name, "常客") == 0)
        return "frequency >= 2";
    int i;
    if (sscanf(name, "s%d", &i) == 1 && i >= 0 && i < 30) { /* s0 -> s1 -> ... -> s29 */
        if (i == 29)
            return "frequency >= 2";
        snprintf(buf, sizeof buf, "in_segment(\"s%d\")", i + 1);
        return buf;
    }
    return NULL;
}

static void suggestions__nearest_name_for_every_kind(void **state)
{
    (void)state;
    assert_contains(error_of("frequncy > 2"),
                    "unknown field 'frequncy' (did you mean 'frequency'?)");
    assert_contains(error_of("bougt()"), "unknown function 'bougt' (did you mean 'bought'?)");
    assert_contains(error_of("bought(witin=3d)"), "no argument 'witin' (did you mean 'within'?)");
    assert_contains(error_of("bought(product=\"P1002\")"),
                    "unknown product \"P1002\" (did you mean 'P1001'?)");
    assert_contains(error_of("bought(category=\"a_ca\")"),
                    "unknown category \"a_ca\" (did you mean 'a_cat'?)");
    assert_contains(error_of("main_category = \"连衣\""),
                    "unknown category \"连衣\" (did you mean '连衣裙'?)");
    assert_contains(error_of("has_tag(\"say hi\")"), "unknown tag \"say hi\" (did you mean 'say");
    assert_contains(error_of("event(type=\"crt\")"), "(did you mean 'cart'?)");
    assert_contains(error_of("channel = \"taoba\""), "(did you mean 'taobao'?)");
    assert_contains(error_of("rfm_segment = \"重要价值\""), "(did you mean '重要价值客户'?)");
    assert_contains(error_of("rfm_tier = \"其它\""),
                    "unknown RFM tier \"其它\" (did you mean '其他'?)");
    /* saved segments */
    const char *names[] = {"常客"};
    struct hk_segment_resolver res = {resolve, NULL, names, 1};
    size_t n = 0;
    struct hk_err err;
    assert_int_equal(hk_segment_count(W, "in_segment(\"常客\")", &res, NOW, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(hk_segment_count(W, "in_segment(\"常\")", &res, NOW, &n, &err), HK_E(INVAL));
    assert_contains(hk_err_message(&err), "unknown segment \"常\" (did you mean '常客'?)");
    /* in_segment: 16 levels deep at most */
    assert_int_equal(hk_segment_count(W, "in_segment(\"s14\")", &res, NOW, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(hk_segment_count(W, "in_segment(\"s13\")", &res, NOW, &n, &err), HK_E(INVAL));
    assert_contains(hk_err_message(&err), "nested more than 16 deep");
}

/* aov between whole fen, negative ones included, compared exactly. */
static void aov__fractions_of_a_fen_and_negative_values_exact(void **state)
{
    (void)state;
    struct hk_engine *e = NULL;
    struct hk_err err;
    assert_int_equal(hk_engine_new(NULL, &e, &err), 0);
    assert_int_equal(hk_engine_add_shop(e, 1, "Asia/Shanghai", &err), 0);
    /* 1: -7.01 over 2 orders (aov -3.505); 2: 10.00 over 3 (3.333…); 3: 9.99 over 2 (4.995) */
    static const struct {
        int64_t c, paid, refund;
    } o[] = {{1, 0, 400}, {1, 0, 301}, {2, 300, 0}, {2, 300, 0},
             {2, 400, 0}, {3, 500, 0}, {3, 499, 0}};
    for (size_t i = 0; i < sizeof o / sizeof o[0]; i++)
        ord(e, (int64_t)i + 1, o[i].c, HK_ORDER_PAID, "2026-02-20T10:00:00+08:00", o[i].paid,
            o[i].refund, false, NOLINES);
    assert_int_equal(hk_engine_load_finish(e, &err), 0);
    static const struct {
        const char *expr;
        size_t want;
    } t[] = {{"aov > -3.51", 3},
             {"aov > -3.50", 2},
             {"aov < -3.5", 1},
             {"aov <= -3.51", 0},
             {"aov >= -3.51", 3},
             {"aov > 3.33", 2},
             {"aov >= 3.34", 1},
             {"aov = 3.33", 0},
             {"aov between 3.33 and 3.34", 1},
             {"aov > 4.99", 1},
             {"aov < 5", 3},
             {"aov = 5", 0},
             {"aov != 5", 3},
             {"aov in (3.33, 4.99, 5)", 0},
             {"monetary = -7.01", 1}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        size_t n = 0;
        assert_int_equal(hk_segment_count(e, t[i].expr, NULL, NOW, &n, &err), 0);
        if (n != t[i].want)
            fail_msg("%s: %zu, want %zu", t[i].expr, n, t[i].want);
    }
    hk_engine_free(e);
}

/* The same data arriving one write at a time after the load gives the same answers. */
static void incremental__same_answers_as_the_bulk_load(void **state)
{
    (void)state;
    struct hk_engine *inc = world_built(true);
    for (int64_t c = 1; c <= 16; c++) {
        struct hk_engine_aggregates a, b;
        struct hk_err err;
        assert_int_equal(hk_engine_customer_get(W, c, NOW, &a, &err), 0);
        assert_int_equal(hk_engine_customer_get(inc, c, NOW, &b, &err), 0);
        assert_int_equal(a.frequency, b.frequency);
        assert_int_equal(a.monetary_fen, b.monetary_fen);
        assert_int_equal(a.has_recency, b.has_recency);
        assert_int_equal(a.recency_days, b.recency_days);
        assert_int_equal(a.first_order_days, b.first_order_days);
        assert_true(a.coupon_use_rate == b.coupon_use_rate);
        assert_int_equal(a.refund_count, b.refund_count);
        if (a.main_category || b.main_category) {
            if (!a.main_category || !b.main_category || strcmp(a.main_category, b.main_category))
                fail_msg("customer %lld: main_category %s (bulk) vs %s (one at a time)",
                         (long long)c, a.main_category ? a.main_category : "-",
                         b.main_category ? b.main_category : "-");
        }
        assert_int_equal(a.r_score, b.r_score);
        assert_int_equal(a.f_score, b.f_score);
        assert_int_equal(a.m_score, b.m_score);
    }
    static const char *const exprs[] = {"bought(category=\"phones\", min_count=2)",
                                        "bought(within=25h)",
                                        "event(type=\"browse\", within=7d, min_count=3)",
                                        "channel != \"jd\"",
                                        "main_category = \"a_cat\"",
                                        "has_tag('say \"hi\"\\\\')",
                                        "aov >= 99.9"};
    for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
        size_t n = 0;
        struct hk_err err;
        if (hk_segment_count(inc, exprs[i], NULL, NOW, &n, &err) != 0)
            fail_msg("%s: %s (one at a time)", exprs[i], hk_err_message(&err));
        if (n != count(exprs[i]))
            fail_msg("%s: %zu one at a time, %zu bulk", exprs[i], n, count(exprs[i]));
    }
    /* merged-away customers are never members, not even of `not` */
    struct hk_err err;
    assert_int_equal(hk_engine_merge(inc, 1, 16, &err), 0);
    size_t n = 0;
    assert_int_equal(hk_segment_count(inc, "not recency_days > 90", NULL, NOW, &n, &err), 0);
    assert_int_equal(n, LIVE - 1);
    assert_int_equal(hk_segment_count(inc, "frequency = 0", NULL, NOW, &n, &err), 0);
    assert_int_equal(n, NON_BUYERS - 1);
    assert_int_equal(hk_segment_count(inc, "not channel = \"jd\"", NULL, NOW, &n, &err), 0);
    assert_int_equal(n, LIVE - 2);
    hk_engine_free(inc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counted__needs_a_counted_status_and_a_payment_time),
        cmocka_unit_test(missing__every_operator_is_false_and_not_complements),
        cmocka_unit_test(main_category__most_spend_ties_net_below_zero_and_missing),
        cmocka_unit_test(coupon_use_rate_and_refund_count),
        cmocka_unit_test(channel__every_identity_counts),
        cmocka_unit_test(bought__distinct_orders_one_line_for_both_and_no_arguments),
        cmocka_unit_test(event__type_within_and_min_count),
        cmocka_unit_test(literals__money_durations_in_between_and_operators),
        cmocka_unit_test(grammar__precedence_keywords_quotes_and_limits),
        cmocka_unit_test(errors__line_column_and_what_was_expected),
        cmocka_unit_test(suggestions__nearest_name_for_every_kind),
        cmocka_unit_test(aov__fractions_of_a_fen_and_negative_values_exact),
        cmocka_unit_test(incremental__same_answers_as_the_bulk_load),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
