/*
 * test_console_api.c — the small APIs behind the web console, over HTTP on both backends:
 *   GET /api/v1/dashboard/summary   customers, buyers, repeat buyers, repurchase rate and buyers
 *                                   new this month, exact on a hand-made shop;
 *   GET /api/v1/dashboard/sales     net sales per channel and shop-local day, week or month
 *                                   (uncounted orders and refunds handled, a purchase just after
 *                                   local midnight on its local day), and its 400s;
 *   GET /api/v1/customers?expr=     the list filtered by a segment expression (with q, every
 *                                   sort, paging), expr_count, and 400 invalid_expression with
 *                                   the position;
 *   GET /api/v1/segments/names      autocomplete names from the engine and the saved segments;
 *   GET/PATCH /api/v1/shops         the shop time zone: validated, admin only, audited, and the
 *                                   engine's days and the sales chart follow the new zone.
 *
 * The clock is fixed (HUIKE_NOW = 2026-03-10 00:00 +08:00 = 2026-03-09 16:00 UTC). The shop:
 *   c1 淘宝 counted 3-01 23:30 (100 yuan) and 3-02 00:30 +08:00 (200 yuan, 50 refunded)
 *   c2 京东 counted 2-10 (400 yuan) and 3-03 08:00 (300 yuan)
 *   c3 淘宝 cancelled, c4 淘宝 created (unpaid), c5 淘宝 refunded: no counted order
 *   c6 淘宝 counted 3-05 10:00 (50 yuan)
 * so 6 customers, 3 buyers (c1, c2, c6), 2 repeat buyers, 2 new in March (c1, c6).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "harness.h"

#define NOW_ENV "HUIKE_NOW=2026-03-10T00:00:00+08:00"

struct fixture {
    struct ht_server srv;
    char admin[256], manager[256], agent[256];
    int64_t c[7]; /* c[1..6]: customer ids */
};

static struct fixture *fx;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A request that must answer want; returns the response (caller frees). */
static struct ht_resp req(const char *cookie, const char *method, const char *path,
                          const char *body, long want)
{
    struct ht_resp r;
    assert_int_equal(ht_request(&fx->srv, method, path, body, NULL, cookie, &r), 0);
    if (r.status != want)
        fail_msg("%s %s: %ld (want %ld) %s", method, path, r.status, want, r.body);
    return r;
}

static json_int_t int_at(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("%s is not an integer", key);
    return json_integer_value(v);
}

/* Percent-encodes s for a query string into out. */
static void qenc(const char *s, char *out, size_t size)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && n + 4 < size; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.')
            out[n++] = (char)*p;
        else
            n += (size_t)snprintf(out + n, size - n, "%%%02X", *p);
    }
    out[n] = '\0';
}

static size_t preview_count(const char *expr)
{
    json_t *b = json_pack("{s:s}", "expression", expr);
    char *text = json_dumps(b, 0);
    struct ht_resp r = req(fx->admin, "POST", "/api/v1/segments/preview", text, 200);
    size_t n = (size_t)int_at(r.json, "count");
    ht_resp_free(&r);
    free(text);
    json_decref(b);
    return n;
}

/* Waits (at most 5 s) until expr counts want; returns the last count. */
static size_t wait_count(const char *expr, size_t want)
{
    int64_t t0 = mono_ms();
    size_t got;
    while ((got = preview_count(expr)) != want && mono_ms() - t0 < 5000)
        sleep_ms(25);
    return got;
}

#define ORDER                                                                                      \
    "{\"shop\":\"%s\",\"channel\":\"%s\",\"order_no\":\"%s\",\"status\":\"%s\","                   \
    "\"created_at\":\"%s\"%s%s%s,\"paid_fen\":%d,\"refund_fen\":%d,"                               \
    "\"buyer\":{\"buyer_id\":\"%s\",\"nick\":\"%s\"},"                                             \
    "\"items\":[{\"product_id\":\"%s\",\"title\":\"商品\",\"category\":\"%s\",\"paid_fen\":%d}]}"

static void add_order(char *buf, size_t cap, size_t *len, const char *shop, const char *channel,
                      const char *no, const char *status, const char *at, bool paid, int paid_fen,
                      int refund_fen, const char *buyer, const char *product, const char *category)
{
    *len += (size_t)snprintf(buf + *len, cap - *len, "%s" ORDER, *len > 1 ? "," : "", shop, channel,
                             no, status, at, paid ? ",\"paid_at\":\"" : "", paid ? at : "",
                             paid ? "\"" : "", paid_fen, refund_fen, buyer, buyer, product,
                             category, paid_fen);
}

static void post_shop(void)
{
    size_t cap = 16384, len = 0;
    char *b = malloc(cap);
    assert_non_null(b);
    len += (size_t)snprintf(b, cap, "[");
    const char *tb = "控制台淘宝", *jd = "控制台京东";
    add_order(b, cap, &len, tb, "taobao", "K-1", "completed", "2026-03-01T23:30:00+08:00", true,
              10000, 0, "con_c1", "KP-1", "女装/连衣裙");
    add_order(b, cap, &len, tb, "taobao", "K-2", "paid", "2026-03-02T00:30:00+08:00", true, 20000,
              5000, "con_c1", "KP-2", "女装/针织衫");
    add_order(b, cap, &len, jd, "jd", "K-3", "completed", "2026-02-10T10:00:00+08:00", true, 40000,
              0, "con_c2", "KP-3", "数码/耳机");
    add_order(b, cap, &len, jd, "jd", "K-4", "shipped", "2026-03-03T08:00:00+08:00", true, 30000, 0,
              "con_c2", "KP-3", "数码/耳机");
    add_order(b, cap, &len, tb, "taobao", "K-5", "cancelled", "2026-03-02T10:00:00+08:00", true,
              7000, 0, "con_c3", "KP-1", "女装/连衣裙");
    add_order(b, cap, &len, tb, "taobao", "K-6", "created", "2026-03-02T11:00:00+08:00", false,
              8000, 0, "con_c4", "KP-1", "女装/连衣裙");
    add_order(b, cap, &len, tb, "taobao", "K-7", "refunded", "2026-03-02T12:00:00+08:00", true,
              9000, 9000, "con_c5", "KP-1", "女装/连衣裙");
    add_order(b, cap, &len, tb, "taobao", "K-8", "completed", "2026-03-05T10:00:00+08:00", true,
              5000, 0, "con_c6", "KP-4", "食品/坚果");
    snprintf(b + len, cap - len, "]");
    size_t blen = strlen(b) + 32;
    char *body = malloc(blen);
    assert_non_null(body);
    snprintf(body, blen, "{\"orders\": %s}", b);
    struct ht_resp r = req(fx->admin, "POST", "/api/v1/orders", body, 200);
    assert_int_equal(int_at(r.json, "rejected"), 0);
    json_t *res = json_object_get(r.json, "results");
    assert_int_equal(json_array_size(res), 8);
    /* results in order: K-1 c1, K-2 c1, K-3 c2, K-4 c2, K-5 c3, K-6 c4, K-7 c5, K-8 c6 */
    static const int who[8] = {1, 1, 2, 2, 3, 4, 5, 6};
    for (size_t i = 0; i < 8; i++)
        fx->c[who[i]] = (int64_t)int_at(json_array_get(res, i), "customer_id");
    ht_resp_free(&r);
    free(body);
    free(b);
}

static int group_setup(void **state)
{
    (void)state;
    fx = calloc(1, sizeof *fx);
    static const char *const env[] = {NOW_ENV, NULL};
    if (!fx || ht_server_start(&fx->srv, env) != 0)
        return -1;
    if (ht_login(&fx->srv, "admin", "admin-pass-1", fx->admin, sizeof fx->admin) ||
        ht_login(&fx->srv, "manager1", "manager1-pass", fx->manager, sizeof fx->manager) ||
        ht_login(&fx->srv, "agent1", "agent1-pass", fx->agent, sizeof fx->agent))
        return -1;
    post_shop();
    /* the orders reach the engine first, their RFM scores with the next rescore (within the
     * rescore interval): wait for both, or the tier shares may still be empty */
    if (wait_count("frequency >= 1", 3) != 3 || wait_count("r_score >= 1", 3) != 3)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    int st = ht_server_stop(&fx->srv);
    free(fx);
    return st == 0 ? 0 : -1;
}

/* ---- dashboard ------------------------------------------------------------------------------ */

static void summary__counts_buyers_repeat_and_new_this_month(void **state)
{
    (void)state;
    struct ht_resp r = req(fx->admin, "GET", "/api/v1/dashboard/summary", NULL, 200);
    assert_int_equal(int_at(r.json, "customers"), 6);
    assert_int_equal(int_at(r.json, "buyers"), 3);
    assert_int_equal(int_at(r.json, "repeat_buyers"), 2);
    assert_int_equal(int_at(r.json, "new_buyers_this_month"), 2); /* c1 and c6; c2 began in Feb */
    double rate = json_real_value(json_object_get(r.json, "repurchase_rate"));
    assert_true(rate > 0.6666 && rate < 0.6667);
    assert_string_equal(json_string_value(json_object_get(r.json, "month_start")), "2026-03-01");
    assert_string_equal(json_string_value(json_object_get(r.json, "today")), "2026-03-10");
    json_t *tiers = json_object_get(r.json, "tiers");
    json_int_t sum = 0;
    for (size_t i = 0; i < json_array_size(tiers); i++)
        sum += int_at(json_array_get(tiers, i), "customers");
    assert_int_equal(sum, 3); /* the tiers share the buyers */
    ht_resp_free(&r);
    /* the engine's analytics are not for agents */
    r = req(fx->agent, "GET", "/api/v1/dashboard/summary", NULL, 403);
    ht_resp_free(&r);
}

/* The series of channel in a sales reply (borrowed), or NULL. */
static json_t *series_of(json_t *sales, const char *channel)
{
    json_t *series = json_object_get(sales, "series");
    for (size_t i = 0; i < json_array_size(series); i++) {
        json_t *s = json_array_get(series, i);
        if (strcmp(json_string_value(json_object_get(s, "channel")), channel) == 0)
            return s;
    }
    return NULL;
}

static void assert_values(json_t *series, const json_int_t *want, size_t n)
{
    assert_non_null(series);
    json_t *v = json_object_get(series, "net_fen");
    assert_int_equal(json_array_size(v), n);
    for (size_t i = 0; i < n; i++)
        if (json_integer_value(json_array_get(v, i)) != want[i])
            fail_msg("bucket %zu: %lld, want %lld", i,
                     (long long)json_integer_value(json_array_get(v, i)), (long long)want[i]);
}

static void sales__net_per_channel_and_local_day(void **state)
{
    (void)state;
    struct ht_resp r =
        req(fx->manager, "GET", "/api/v1/dashboard/sales?from=2026-03-01&to=2026-03-05", NULL, 200);
    json_t *b = json_object_get(r.json, "buckets");
    assert_int_equal(json_array_size(b), 5);
    assert_string_equal(json_string_value(json_array_get(b, 0)), "2026-03-01");
    assert_string_equal(json_string_value(json_array_get(b, 4)), "2026-03-05");
    assert_string_equal(json_string_value(json_object_get(r.json, "granularity")), "day");
    /* K-2 was paid at 00:30 on 3-02 Shanghai time (16:30 UTC on 3-01): it counts on 3-02, net of
       its refund; cancelled, unpaid and refunded orders count nowhere */
    const json_int_t tb[5] = {10000, 15000, 0, 0, 5000}, jd[5] = {0, 0, 30000, 0, 0};
    assert_values(series_of(r.json, "taobao"), tb, 5);
    assert_values(series_of(r.json, "jd"), jd, 5);
    /* equal totals (300 yuan each): by channel name */
    assert_string_equal(json_string_value(json_array_get(json_object_get(r.json, "channels"), 0)),
                        "jd");
    assert_int_equal(int_at(r.json, "total_fen"), 60000);
    assert_int_equal(int_at(r.json, "orders"), 4);
    assert_int_equal(int_at(series_of(r.json, "taobao"), "orders"), 3);
    ht_resp_free(&r);

    /* months: February and March */
    r = req(fx->admin, "GET",
            "/api/v1/dashboard/sales?from=2026-02-01&to=2026-03-09&granularity=month", NULL, 200);
    b = json_object_get(r.json, "buckets");
    assert_int_equal(json_array_size(b), 2);
    assert_string_equal(json_string_value(json_array_get(b, 1)), "2026-03-01");
    const json_int_t tbm[2] = {0, 30000}, jdm[2] = {40000, 30000};
    assert_values(series_of(r.json, "taobao"), tbm, 2);
    assert_values(series_of(r.json, "jd"), jdm, 2);
    /* the largest channel first */
    assert_string_equal(json_string_value(json_array_get(json_object_get(r.json, "channels"), 0)),
                        "jd");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(r.json, "series"), 0), "channel")),
                        "jd");
    ht_resp_free(&r);

    /* weeks start on Monday: 3-01 is a Sunday, so its week began on 2-23 */
    r = req(fx->admin, "GET",
            "/api/v1/dashboard/sales?from=2026-03-01&to=2026-03-09&granularity=week", NULL, 200);
    b = json_object_get(r.json, "buckets");
    assert_int_equal(json_array_size(b), 3);
    assert_string_equal(json_string_value(json_array_get(b, 0)), "2026-02-23");
    assert_string_equal(json_string_value(json_array_get(b, 1)), "2026-03-02");
    const json_int_t tbw[3] = {10000, 20000, 0};
    assert_values(series_of(r.json, "taobao"), tbw, 3);
    ht_resp_free(&r);

    /* the default range: the 30 days to today (the clock's, in the default zone) */
    r = req(fx->admin, "GET", "/api/v1/dashboard/sales", NULL, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "to")), "2026-03-10");
    assert_string_equal(json_string_value(json_object_get(r.json, "from")), "2026-02-09");
    assert_int_equal(int_at(r.json, "total_fen"), 100000);
    ht_resp_free(&r);
}

static void sales__rejects_bad_ranges_and_roles(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "/api/v1/dashboard/sales?from=2026-03-05&to=2026-03-01",
        "/api/v1/dashboard/sales?from=2026-02-30",
        "/api/v1/dashboard/sales?to=yesterday",
        "/api/v1/dashboard/sales?granularity=hour",
        "/api/v1/dashboard/sales?from=2000-01-01&to=2026-03-01",                 /* > 3660 days */
        "/api/v1/dashboard/sales?from=2023-01-01&to=2026-03-01&granularity=day", /* > 800 days */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ht_resp r = req(fx->admin, "GET", bad[i], NULL, 400);
        assert_string_equal(ht_error_code(&r), "invalid_argument");
        ht_resp_free(&r);
    }
    struct ht_resp r = req(fx->agent, "GET", "/api/v1/dashboard/sales", NULL, 403);
    ht_resp_free(&r);
}

/* ---- customers filtered by an expression ---------------------------------------------------- */

/* Every id of the filtered list (sort, order), paging with limit; returns how many. */
static size_t list_ids(const char *cookie, const char *expr, const char *q, const char *sort,
                       const char *order, int limit, int64_t *ids, size_t cap, json_int_t *count)
{
    char e[512], qq[128], cursor[256] = "", path[1024];
    qenc(expr, e, sizeof e);
    qenc(q ? q : "", qq, sizeof qq);
    size_t n = 0;
    for (int pages = 0; pages < 50; pages++) {
        snprintf(path, sizeof path, "/api/v1/customers?expr=%s&q=%s&sort=%s&order=%s&limit=%d%s%s",
                 e, qq, sort, order, limit, *cursor ? "&cursor=" : "", cursor);
        struct ht_resp r = req(cookie, "GET", path, NULL, 200);
        json_t *items = json_object_get(r.json, "items");
        for (size_t i = 0; i < json_array_size(items) && n < cap; i++)
            ids[n++] = (int64_t)int_at(json_array_get(items, i), "id");
        *count = int_at(r.json, "expr_count");
        const char *next = json_string_value(json_object_get(r.json, "next_cursor"));
        char tmp[256];
        qenc(next ? next : "", tmp, sizeof tmp);
        snprintf(cursor, sizeof cursor, "%s", tmp);
        ht_resp_free(&r);
        if (!*cursor)
            break;
    }
    return n;
}

static void customers__filtered_by_expression_in_every_sort(void **state)
{
    (void)state;
    int64_t ids[16];
    json_int_t count = -1;
    static const char *const sorts[] = {"id", "spend", "last_order", "created_at"};
    for (size_t s = 0; s < 4; s++)
        for (int desc = 0; desc < 2; desc++) {
            size_t n = list_ids(fx->admin, "frequency >= 2", NULL, sorts[s], desc ? "desc" : "asc",
                                1, ids, 16, &count);
            assert_int_equal(count, 2);
            assert_int_equal(n, 2);
            bool has1 = ids[0] == fx->c[1] || ids[1] == fx->c[1];
            bool has2 = ids[0] == fx->c[2] || ids[1] == fx->c[2];
            assert_true(has1 && has2);
            if (strcmp(sorts[s], "spend") == 0) /* c2 700 yuan > c1 250 yuan */
                assert_int_equal(ids[0], desc ? fx->c[2] : fx->c[1]);
            if (strcmp(sorts[s], "id") == 0)
                assert_true(desc ? ids[0] > ids[1] : ids[0] < ids[1]);
        }
    /* buyers: three, in id order as the unfiltered list orders them */
    size_t n = list_ids(fx->admin, "frequency >= 1", NULL, "id", "desc", 50, ids, 16, &count);
    assert_int_equal(n, 3);
    assert_int_equal(count, 3);
    assert_int_equal(ids[0], fx->c[6]);
    /* with q: the nick prefix narrows the filtered set; expr_count stays the expression's */
    n = list_ids(fx->admin, "frequency >= 1", "con_c2", "id", "desc", 50, ids, 16, &count);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], fx->c[2]);
    assert_int_equal(count, 3);
    /* channel and non-buyers: c3, c4 and c5 are on taobao and never bought */
    n = list_ids(fx->agent, "channel = \"taobao\" and frequency = 0", NULL, "id", "asc", 2, ids, 16,
                 &count);
    assert_int_equal(n, 3);
    assert_int_equal(count, 3);
    assert_int_equal(ids[0], fx->c[3]);
    assert_int_equal(ids[2], fx->c[5]);
    /* nobody */
    n = list_ids(fx->admin, "monetary > 100000", NULL, "spend", "desc", 20, ids, 16, &count);
    assert_int_equal(n, 0);
    assert_int_equal(count, 0);
}

static void customers__bad_expression_is_400_with_position(void **state)
{
    (void)state;
    char e[128], path[256];
    qenc("frequency >= 1 and rfm_tier = \"nope\"", e, sizeof e);
    snprintf(path, sizeof path, "/api/v1/customers?expr=%s", e);
    struct ht_resp r = req(fx->admin, "GET", path, NULL, 400);
    json_t *err = json_object_get(r.json, "error");
    assert_string_equal(json_string_value(json_object_get(err, "code")), "invalid_expression");
    assert_int_equal(int_at(err, "line"), 1);
    assert_int_equal(int_at(err, "column"), 31);
    ht_resp_free(&r);
    qenc("frequncy > 1", e, sizeof e);
    snprintf(path, sizeof path, "/api/v1/customers?expr=%s", e);
    r = req(fx->agent, "GET", path, NULL, 400);
    err = json_object_get(r.json, "error");
    assert_int_equal(int_at(err, "column"), 1);
    assert_string_equal(json_string_value(json_object_get(err, "suggestion")), "frequency");
    ht_resp_free(&r);
    /* no expr: no expr_count */
    r = req(fx->admin, "GET", "/api/v1/customers?limit=1", NULL, 200);
    assert_null(json_object_get(r.json, "expr_count"));
    ht_resp_free(&r);
}

/* ---- names ------------------------------------------------------------------------------- */

static bool has_item(json_t *items, const char *name)
{
    for (size_t i = 0; i < json_array_size(items); i++)
        if (strcmp(json_string_value(json_array_get(items, i)), name) == 0)
            return true;
    return false;
}

static void names__from_the_engine_and_the_saved_segments(void **state)
{
    (void)state;
    char path[256], q[64];
    qenc("女装", q, sizeof q);
    snprintf(path, sizeof path, "/api/v1/segments/names?kind=category&q=%s", q);
    struct ht_resp r = req(fx->agent, "GET", path, NULL, 200);
    json_t *items = json_object_get(r.json, "items");
    assert_int_equal(json_array_size(items), 2); /* 女装/连衣裙, 女装/针织衫 */
    assert_true(has_item(items, "女装/连衣裙") && has_item(items, "女装/针织衫"));
    ht_resp_free(&r);
    /* a prefix first, then names containing the text elsewhere; limit */
    qenc("耳机", q, sizeof q);
    snprintf(path, sizeof path, "/api/v1/segments/names?kind=category&q=%s", q);
    r = req(fx->admin, "GET", path, NULL, 200);
    items = json_object_get(r.json, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(json_string_value(json_array_get(items, 0)), "数码/耳机");
    ht_resp_free(&r);
    r = req(fx->admin, "GET", "/api/v1/segments/names?kind=product&q=kp-&limit=2", NULL, 200);
    items = json_object_get(r.json, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(json_string_value(json_array_get(items, 0)), "KP-1");
    assert_string_equal(json_string_value(json_array_get(items, 1)), "KP-2");
    ht_resp_free(&r);
    r = req(fx->admin, "GET", "/api/v1/segments/names?kind=channel", NULL, 200);
    items = json_object_get(r.json, "items");
    assert_true(has_item(items, "taobao") && has_item(items, "jd"));
    assert_false(has_item(items, "any")); /* phone and e-mail identities: not a channel */
    ht_resp_free(&r);
    r = req(fx->admin, "GET", "/api/v1/segments/names?kind=rfm_tier", NULL, 200);
    items = json_object_get(r.json, "items");
    assert_string_equal(json_string_value(json_array_get(items, 0)), "高价值客户");
    ht_resp_free(&r);
    r = req(fx->admin, "GET", "/api/v1/segments/names?kind=rfm_segment", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 8);
    ht_resp_free(&r);
    /* saved segments */
    r = req(fx->admin, "POST", "/api/v1/segments",
            "{\"name\":\"控制台复购客户\",\"expression\":\"frequency >= 2\"}", 201);
    ht_resp_free(&r);
    qenc("控制台", q, sizeof q);
    snprintf(path, sizeof path, "/api/v1/segments/names?kind=segment&q=%s", q);
    r = req(fx->admin, "GET", path, NULL, 200);
    items = json_object_get(r.json, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(json_string_value(json_array_get(items, 0)), "控制台复购客户");
    ht_resp_free(&r);
    /* errors */
    r = req(fx->admin, "GET", "/api/v1/segments/names?kind=colour", NULL, 400);
    ht_resp_free(&r);
    r = req(fx->admin, "GET", "/api/v1/segments/names?kind=tag&limit=0", NULL, 400);
    ht_resp_free(&r);
}

/* ---- shops and their zones ---------------------------------------------------------------- */

static int64_t shop_id(const char *name)
{
    struct ht_resp r = req(fx->manager, "GET", "/api/v1/shops", NULL, 200);
    json_t *items = json_object_get(r.json, "items");
    int64_t id = 0;
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *s = json_array_get(items, i);
        if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0) {
            id = (int64_t)int_at(s, "id");
            assert_string_equal(json_string_value(json_object_get(s, "timezone")), "Asia/Shanghai");
        }
    }
    ht_resp_free(&r);
    return id;
}

static void shops__zone_change_is_validated_audited_and_followed(void **state)
{
    (void)state;
    int64_t tb = shop_id("控制台淘宝");
    assert_true(tb > 0);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/shops/%lld", (long long)tb);
    /* c6 paid on 3-05 10:00 Shanghai = 02:00 UTC: 5 days ago in Shanghai (today 3-10) */
    assert_int_equal(preview_count("recency_days = 5 and frequency = 1"), 1);

    struct ht_resp r = req(fx->admin, "PATCH", path, "{\"timezone\":\"Mars/Olympus\"}", 400);
    assert_string_equal(ht_error_code(&r), "invalid_argument");
    ht_resp_free(&r);
    r = req(fx->admin, "PATCH", path, "{\"timezone\":\"../../etc/passwd\"}", 400);
    ht_resp_free(&r);
    r = req(fx->admin, "PATCH", path, "{\"zone\":\"UTC\"}", 400);
    ht_resp_free(&r);
    r = req(fx->manager, "PATCH", path, "{\"timezone\":\"UTC\"}", 403);
    ht_resp_free(&r);
    r = req(fx->admin, "PATCH", "/api/v1/shops/999999", "{\"timezone\":\"UTC\"}", 404);
    ht_resp_free(&r);

    r = req(fx->admin, "PATCH", path, "{\"timezone\":\"UTC\"}", 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "timezone")), "UTC");
    ht_resp_free(&r);

    /* the engine reloads with the new zone: in UTC today is 3-09 and c6 bought 4 days ago */
    assert_int_equal(wait_count("recency_days = 4 and frequency = 1", 1), 1);
    assert_int_equal(preview_count("recency_days = 5 and frequency = 1"), 0);

    /* the sales chart too: K-2 (16:30 UTC on 3-01) moves to 3-01 */
    r = req(fx->admin, "GET", "/api/v1/dashboard/sales?from=2026-03-01&to=2026-03-05", NULL, 200);
    const json_int_t tb_utc[5] = {25000, 0, 0, 0, 5000}, jd[5] = {0, 0, 30000, 0, 0};
    assert_values(series_of(r.json, "taobao"), tb_utc, 5);
    assert_values(series_of(r.json, "jd"), jd, 5); /* the other shop keeps its zone */
    ht_resp_free(&r);

    /* audited, once: setting the same zone again writes nothing */
    r = req(fx->admin, "PATCH", path, "{\"timezone\":\"UTC\"}", 200);
    ht_resp_free(&r);
    r = req(fx->admin, "GET", "/api/v1/audit?action=shop.update", NULL, 200);
    json_t *items = json_object_get(r.json, "items");
    assert_int_equal(json_array_size(items), 1);
    char target[64];
    snprintf(target, sizeof target, "shop:%lld", (long long)tb);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "target")),
                        target);
    ht_resp_free(&r);

    /* and back */
    r = req(fx->admin, "PATCH", path, "{\"timezone\":\"Asia/Shanghai\"}", 200);
    ht_resp_free(&r);
    assert_int_equal(wait_count("recency_days = 5 and frequency = 1", 1), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(summary__counts_buyers_repeat_and_new_this_month),
        cmocka_unit_test(sales__net_per_channel_and_local_day),
        cmocka_unit_test(sales__rejects_bad_ranges_and_roles),
        cmocka_unit_test(customers__filtered_by_expression_in_every_sort),
        cmocka_unit_test(customers__bad_expression_is_400_with_position),
        cmocka_unit_test(names__from_the_engine_and_the_saved_segments),
        cmocka_unit_test(shops__zone_change_is_validated_audited_and_followed),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
