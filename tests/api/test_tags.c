/*
 * test_tags.c — tags over HTTP: CRUD with 409 for duplicate names and 400 invalid_expression
 * (line and column) for a bad rule; manual tags put on and taken off a customer, shown on the
 * profile (source manual with tagged_at; rule tags with source rule), in the customer list and
 * in has_tag() preview counts; bulk apply to a saved segment (the tag's count equals the
 * segment's); a rule tag following an order ingested through POST /api/v1/orders; the presets
 * with the documented expressions and counts equal to their expressions' on the data, category
 * presets made as categories appear, and a deleted preset not made again after a restart;
 * manual tags moving with a merge; roles (an agent reads but cannot write); a deleted or renamed
 * tag's old name unknown to has_tag() and name completion at once in the writing server and,
 * after its sync, in a second server on the same database (and known again when made again).
 */
#include <setjmp.h>
#include <signal.h>
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
#define NCUST   30

struct fixture {
    struct ht_server srv;
    char admin[256], operator_[256], agent[256];
    int64_t cust[NCUST]; /* customer ids of the generated buyers */
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

/* POSTs orders (a JSON array text); returns the response (caller frees). */
static struct ht_resp post_orders(const char *orders)
{
    size_t len = strlen(orders) + 32;
    char *body = malloc(len);
    assert_non_null(body);
    snprintf(body, len, "{\"orders\": %s}", orders);
    struct ht_resp r = req(fx->admin, "POST", "/api/v1/orders", body, 200);
    free(body);
    if (json_integer_value(json_object_get(r.json, "rejected")) != 0)
        fail_msg("rejected: %s", r.body);
    return r;
}

static int64_t result_customer(const struct ht_resp *r, size_t i)
{
    json_t *res = json_array_get(json_object_get(r->json, "results"), i);
    return (int64_t)json_integer_value(json_object_get(res, "customer_id"));
}

/*
 * Buyer i: one order of 100 × (i + 1) yuan with a line of 女装/连衣裙 (even i) or 食品/坚果
 * (odd i), paid in June 2025 when i % 3 == 0 (asleep by now) or in February 2026, with a coupon
 * for even i; every fourth a second couponed order on 1 March; every fifth a third in March.
 */
static void post_buyers(void)
{
    char *buf = malloc(256 * 1024);
    assert_non_null(buf);
    size_t len = 0, cap = 256 * 1024;
    len += (size_t)snprintf(buf + len, cap - len, "[");
    for (int i = 0; i < NCUST; i++) {
        const char *cat = i % 2 ? "食品/坚果" : "女装/连衣裙";
        char day[32];
        snprintf(day, sizeof day, i % 3 == 0 ? "2025-06-%02d" : "2026-02-%02d", i % 28 + 1);
        len += (size_t)snprintf(
            buf + len, cap - len,
            "%s{\"shop\":\"标签店\",\"channel\":\"taobao\",\"order_no\":\"T-%d\","
            "\"status\":\"completed\",\"created_at\":\"%sT10:00:00+08:00\","
            "\"paid_at\":\"%sT10:05:00+08:00\",\"paid_fen\":%d%s,"
            "\"buyer\":{\"buyer_id\":\"tg_%d\",\"nick\":\"标签买家%d\"},"
            "\"items\":[{\"product_id\":\"P%d\",\"title\":\"商品\",\"category\":\"%s\","
            "\"paid_fen\":%d}]}",
            i ? "," : "", i, day, day, 10000 * (i + 1), i % 2 ? "" : ",\"coupon_code\":\"C1\"", i,
            i, i % 2, cat, 10000 * (i + 1));
        for (int k = 1; k <= 2; k++) {
            if ((k == 1 && i % 4) || (k == 2 && i % 5))
                continue;
            len += (size_t)snprintf(
                buf + len, cap - len,
                ",{\"shop\":\"标签店\",\"channel\":\"taobao\",\"order_no\":\"T-%d-%d\","
                "\"status\":\"paid\",\"created_at\":\"2026-03-0%dT10:00:00+08:00\","
                "\"paid_at\":\"2026-03-0%dT10:00:00+08:00\",\"paid_fen\":5000,"
                "\"coupon_code\":\"C2\",\"buyer\":{\"buyer_id\":\"tg_%d\"},"
                "\"items\":[{\"product_id\":\"P%d\",\"title\":\"商品\",\"category\":\"%s\","
                "\"paid_fen\":5000}]}",
                i, k, k, k, i, i % 2, cat);
        }
    }
    snprintf(buf + len, cap - len, "]");
    struct ht_resp r = post_orders(buf);
    free(buf);
    /* the first result of each buyer is its first order (results follow the input order) */
    json_t *results = json_object_get(r.json, "results");
    for (size_t k = 0, i = 0; k < json_array_size(results) && i < NCUST; k++) {
        const char *no = json_string_value(json_object_get(json_array_get(results, k), "order_no"));
        char want[32];
        snprintf(want, sizeof want, "T-%zu", i);
        if (no && strcmp(no, want) == 0)
            fx->cust[i++] = result_customer(&r, k);
    }
    ht_resp_free(&r);
    for (int i = 0; i < NCUST; i++)
        assert_true(fx->cust[i] > 0);
}

static int64_t preview_count(const char *expr)
{
    json_t *b = json_pack("{s:s}", "expression", expr);
    char *text = json_dumps(b, 0);
    struct ht_resp r = req(fx->admin, "POST", "/api/v1/segments/preview", text, 200);
    int64_t n = (int64_t)json_integer_value(json_object_get(r.json, "count"));
    ht_resp_free(&r);
    free(text);
    json_decref(b);
    return n;
}

/* Polls the preview of expr until it answers want (at most 3 s); returns the last answer. */
static int64_t wait_count(const char *expr, int64_t want)
{
    int64_t t0 = mono_ms(), got = -1;
    while ((got = preview_count(expr)) != want && mono_ms() - t0 < 3000)
        sleep_ms(20);
    return got;
}

static int group_setup(void **state)
{
    (void)state;
    fx = calloc(1, sizeof *fx);
    static const char *const env[] = {NOW_ENV, NULL};
    if (!fx || ht_server_start(&fx->srv, env) != 0)
        return -1;
    if (ht_login(&fx->srv, "admin", "admin-pass-1", fx->admin, sizeof fx->admin) ||
        ht_login(&fx->srv, "operator1", "operator1-pass", fx->operator_, sizeof fx->operator_) ||
        ht_login(&fx->srv, "agent1", "agent1-pass", fx->agent, sizeof fx->agent))
        return -1;
    post_buyers();
    int64_t t0 = mono_ms();
    while (preview_count("frequency >= 1") < NCUST && mono_ms() - t0 < 3000)
        sleep_ms(20);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    int st = ht_server_stop(&fx->srv);
    free(fx);
    return st == 0 ? 0 : -1;
}

static struct ht_resp create_tag(const char *cookie, const char *name, const char *expr, long want)
{
    json_t *b = expr ? json_pack("{s:s, s:s, s:s, s:s}", "name", name, "kind", "rule", "expression",
                                 expr, "color", "#409eff")
                     : json_pack("{s:s, s:s}", "name", name, "kind", "manual");
    char *text = json_dumps(b, 0);
    struct ht_resp r = req(cookie, "POST", "/api/v1/tags", text, want);
    free(text);
    json_decref(b);
    return r;
}

static int64_t id_of(const struct ht_resp *r)
{
    return (int64_t)json_integer_value(json_object_get(r->json, "id"));
}

/* The tag named name in GET /api/v1/tags (new reference), or NULL. */
static json_t *find_tag(const char *name)
{
    struct ht_resp r = req(fx->admin, "GET", "/api/v1/tags", NULL, 200);
    json_t *items = json_object_get(r.json, "items"), *v, *hit = NULL;
    size_t i;
    json_array_foreach(items, i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "name")), name) == 0)
            hit = json_incref(v);
    }
    ht_resp_free(&r);
    return hit;
}

/* Does the array of tag objects (or names) hold name? */
static bool has_name(json_t *tags, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(tags, i, v)
    {
        const char *n = json_is_string(v) ? json_string_value(v)
                                          : json_string_value(json_object_get(v, "name"));
        if (n && strcmp(n, name) == 0)
            return true;
    }
    return false;
}

static void crud__conflicts_and_expression_errors_with_position(void **state)
{
    (void)state;
    struct ht_resp r = create_tag(fx->admin, "重点跟进", NULL, 201);
    int64_t id = id_of(&r);
    assert_string_equal(json_string_value(json_object_get(r.json, "kind")), "manual");
    assert_true(json_is_null(json_object_get(r.json, "expression")));
    assert_false(json_is_true(json_object_get(r.json, "preset")));
    assert_int_equal(json_integer_value(json_object_get(r.json, "count")), 0);
    ht_resp_free(&r);

    r = create_tag(fx->admin, "重点跟进", NULL, 409);
    assert_string_equal(ht_error_code(&r), "conflict");
    ht_resp_free(&r);

    r = create_tag(fx->admin, "坏规则", "frequency >= ", 400);
    json_t *e = json_object_get(r.json, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "invalid_expression");
    assert_int_equal(json_integer_value(json_object_get(e, "line")), 1);
    assert_int_equal(json_integer_value(json_object_get(e, "column")), 14);
    ht_resp_free(&r);
    r = create_tag(fx->admin, "坏规则", "frequncy >= 2", 400);
    e = json_object_get(r.json, "error");
    assert_string_equal(json_string_value(json_object_get(e, "suggestion")), "frequency");
    ht_resp_free(&r);
    r = req(fx->admin, "POST", "/api/v1/tags",
            "{\"name\":\"手工\",\"kind\":\"manual\",\"expression\":\"frequency >= 1\"}", 400);
    ht_resp_free(&r);
    r = req(fx->admin, "POST", "/api/v1/tags", "{\"name\":\"模型\",\"kind\":\"model\"}", 400);
    ht_resp_free(&r);

    /* rules may use other rule tags, but never reach themselves */
    r = create_tag(fx->admin, "规则甲", "frequency >= 2", 201);
    int64_t a = id_of(&r);
    int64_t fa = json_integer_value(json_object_get(r.json, "count"));
    assert_int_equal(fa, preview_count("frequency >= 2"));
    ht_resp_free(&r);
    r = create_tag(fx->admin, "规则乙", "has_tag(\"规则甲\") and monetary >= 1000", 201);
    int64_t b = id_of(&r);
    assert_int_equal(json_integer_value(json_object_get(r.json, "count")),
                     preview_count("frequency >= 2 and monetary >= 1000"));
    ht_resp_free(&r);
    char path[96];
    snprintf(path, sizeof path, "/api/v1/tags/%lld", (long long)a);
    r = req(fx->admin, "PATCH", path, "{\"expression\":\"has_tag('规则乙')\"}", 400);
    ht_resp_free(&r);
    r = req(fx->admin, "PATCH", path, "{\"name\":\"规则丙\"}", 409); /* 规则乙 uses it */
    ht_resp_free(&r);
    r = req(fx->admin, "DELETE", path, NULL, 409);
    ht_resp_free(&r);
    r = req(fx->admin, "PATCH", path, "{\"expression\":\"frequency >= 3\",\"color\":\"#f56c6c\"}",
            200);
    assert_string_equal(json_string_value(json_object_get(r.json, "color")), "#f56c6c");
    assert_int_equal(json_integer_value(json_object_get(r.json, "count")),
                     preview_count("frequency >= 3"));
    ht_resp_free(&r);
    assert_int_equal(
        wait_count("has_tag(\"规则乙\")", preview_count("frequency >= 3 and monetary >= 1000")),
        preview_count("frequency >= 3 and monetary >= 1000"));

    snprintf(path, sizeof path, "/api/v1/tags/%lld", (long long)b);
    r = req(fx->admin, "DELETE", path, NULL, 204);
    ht_resp_free(&r);
    r = req(fx->admin, "GET", path, NULL, 404);
    ht_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/tags/%lld", (long long)a);
    r = req(fx->admin, "DELETE", path, NULL, 204);
    ht_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/tags/%lld", (long long)id);
    r = req(fx->admin, "PATCH", path, "{\"name\":\"重点跟进客户\"}", 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "name")), "重点跟进客户");
    ht_resp_free(&r);
    r = req(fx->admin, "DELETE", path, NULL, 204);
    ht_resp_free(&r);
}

static void manual__add_remove_on_profile_list_and_has_tag(void **state)
{
    (void)state;
    int64_t c = fx->cust[3];
    char path[128];
    snprintf(path, sizeof path, "/api/v1/customers/%lld/tags", (long long)c);
    struct ht_resp r = req(fx->operator_, "POST", path, "{\"tag\":\"电话回访\"}", 200);
    assert_true(has_name(json_object_get(r.json, "tags"), "电话回访"));
    ht_resp_free(&r);
    json_t *t = find_tag("电话回访"); /* made on the fly, as a manual tag */
    assert_non_null(t);
    assert_string_equal(json_string_value(json_object_get(t, "kind")), "manual");
    int64_t tag_id = (int64_t)json_integer_value(json_object_get(t, "id"));
    json_decref(t);
    assert_int_equal(wait_count("has_tag(\"电话回访\")", 1), 1);

    char prof[96];
    snprintf(prof, sizeof prof, "/api/v1/customers/%lld", (long long)c);
    r = req(fx->agent, "GET", prof, NULL, 200);
    json_t *tags = json_object_get(r.json, "tags");
    assert_true(has_name(tags, "电话回访"));
    assert_true(has_name(tags, "沉睡客户")); /* buyer 3 last paid in June 2025: a rule tag */
    /* stored tags with when they were put on; rule tags with source rule */
    size_t k;
    json_t *o;
    json_array_foreach(tags, k, o)
    {
        const char *n = json_string_value(json_object_get(o, "name"));
        const char *src = json_string_value(json_object_get(o, "source"));
        if (strcmp(n, "电话回访") == 0) {
            assert_string_equal(src, "manual");
            assert_true(json_is_string(json_object_get(o, "tagged_at")));
        } else if (strcmp(n, "沉睡客户") == 0) {
            assert_string_equal(src, "rule");
        }
    }
    ht_resp_free(&r);
    r = req(fx->agent, "GET",
            "/api/v1/customers?q=%E6%A0%87%E7%AD%BE%E4%B9%B0%E5%AE%B63&by=nick&limit=500", NULL,
            200);
    bool seen = false;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(r.json, "items"), i, v)
    {
        if (json_integer_value(json_object_get(v, "id")) == c) {
            seen = true;
            assert_true(has_name(json_object_get(v, "tags"), "电话回访"));
            assert_true(has_name(json_object_get(v, "tags"), "沉睡客户"));
        }
    }
    assert_true(seen);
    ht_resp_free(&r);

    /* a rule tag is neither removed nor applied by hand */
    t = find_tag("沉睡客户");
    assert_non_null(t);
    char rpath[160];
    snprintf(rpath, sizeof rpath, "/api/v1/customers/%lld/tags/%lld", (long long)c,
             (long long)json_integer_value(json_object_get(t, "id")));
    r = req(fx->admin, "DELETE", rpath, NULL, 409);
    ht_resp_free(&r);
    r = req(fx->admin, "POST", path, "{\"tag\":\"沉睡客户\"}", 409);
    ht_resp_free(&r);
    snprintf(rpath, sizeof rpath, "/api/v1/tags/%lld/apply",
             (long long)json_integer_value(json_object_get(t, "id")));
    r = req(fx->admin, "POST", rpath, "{\"expression\":\"frequency >= 1\"}", 409);
    ht_resp_free(&r);
    json_decref(t);

    snprintf(rpath, sizeof rpath, "/api/v1/customers/%lld/tags/%lld", (long long)c,
             (long long)tag_id);
    r = req(fx->admin, "DELETE", rpath, NULL, 200);
    assert_false(has_name(json_object_get(r.json, "tags"), "电话回访"));
    ht_resp_free(&r);
    assert_int_equal(wait_count("has_tag(\"电话回访\")", 0), 0);
    r = req(fx->admin, "GET", prof, NULL, 200);
    assert_false(has_name(json_object_get(r.json, "tags"), "电话回访"));
    ht_resp_free(&r);
}

static void apply__to_a_saved_segment_matches_its_count(void **state)
{
    (void)state;
    struct ht_resp r = req(fx->admin, "POST", "/api/v1/segments",
                           "{\"name\":\"复购买家\",\"expression\":\"frequency >= 2\"}", 201);
    int64_t seg = id_of(&r);
    int64_t seg_count = json_integer_value(json_object_get(r.json, "count"));
    ht_resp_free(&r);
    assert_true(seg_count > 0 && seg_count < NCUST);
    r = create_tag(fx->admin, "复购关怀", NULL, 201);
    int64_t tag = id_of(&r);
    ht_resp_free(&r);
    char path[96], body[64];
    snprintf(path, sizeof path, "/api/v1/tags/%lld/apply", (long long)tag);
    snprintf(body, sizeof body, "{\"segment_id\":%lld}", (long long)seg);
    r = req(fx->operator_, "POST", path, body, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "applied")), seg_count);
    assert_int_equal(json_integer_value(json_object_get(r.json, "added")), seg_count);
    ht_resp_free(&r);
    r = req(fx->operator_, "POST", path, body, 200); /* again: nothing new */
    assert_int_equal(json_integer_value(json_object_get(r.json, "applied")), seg_count);
    assert_int_equal(json_integer_value(json_object_get(r.json, "added")), 0);
    ht_resp_free(&r);
    assert_int_equal(wait_count("has_tag(\"复购关怀\")", seg_count), seg_count);
    assert_int_equal(preview_count("has_tag(\"复购关怀\") and not in_segment(\"复购买家\")"), 0);
    json_t *t = find_tag("复购关怀");
    assert_int_equal(json_integer_value(json_object_get(t, "count")), seg_count);
    json_decref(t);

    r = req(fx->admin, "POST", path, "{\"expression\":\"frequency >\"}", 400);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r.json, "error"), "code")),
        "invalid_expression");
    ht_resp_free(&r);
    r = req(fx->admin, "POST", path, "{\"segment_id\":999999}", 404);
    ht_resp_free(&r);
    /* by expression: one more customer */
    r = req(fx->admin, "POST", path, "{\"expression\":\"frequency = 1 and monetary >= 3000\"}",
            200);
    int64_t more = json_integer_value(json_object_get(r.json, "added"));
    ht_resp_free(&r);
    assert_int_equal(wait_count("has_tag(\"复购关怀\")", seg_count + more), seg_count + more);
    /* a segment using the tag keeps it from being deleted */
    r = req(fx->admin, "POST", "/api/v1/segments",
            "{\"name\":\"关怀名单\",\"expression\":\"has_tag('复购关怀')\"}", 201);
    int64_t user = id_of(&r);
    ht_resp_free(&r);
    char tpath[64];
    snprintf(tpath, sizeof tpath, "/api/v1/tags/%lld", (long long)tag);
    r = req(fx->admin, "DELETE", tpath, NULL, 409);
    ht_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/segments/%lld", (long long)user);
    r = req(fx->admin, "DELETE", path, NULL, 204);
    ht_resp_free(&r);
    r = req(fx->admin, "DELETE", tpath, NULL, 204);
    ht_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/segments/%lld", (long long)seg);
    r = req(fx->admin, "DELETE", path, NULL, 204);
    ht_resp_free(&r);
}

static void rule__follows_an_order_ingested_through_the_api(void **state)
{
    (void)state;
    struct ht_resp r = create_tag(fx->admin, "大单客户", "monetary >= 5000", 201);
    int64_t before = json_integer_value(json_object_get(r.json, "count"));
    ht_resp_free(&r);
    r = post_orders("[{\"shop\":\"标签店\",\"channel\":\"taobao\",\"order_no\":\"BIG-1\","
                    "\"status\":\"paid\",\"created_at\":\"2026-03-09T10:00:00+08:00\","
                    "\"paid_at\":\"2026-03-09T10:01:00+08:00\",\"paid_fen\":600000,"
                    "\"buyer\":{\"buyer_id\":\"tg_big\",\"nick\":\"大客户\"}}]");
    int64_t c = result_customer(&r, 0);
    ht_resp_free(&r);
    int64_t t0 = mono_ms();
    assert_int_equal(wait_count("has_tag(\"大单客户\")", before + 1), before + 1);
    print_message("rule tag current %lld ms after the ingest\n", (long long)(mono_ms() - t0));
    /* new buyers are 新客 too */
    assert_int_equal(preview_count("has_tag(\"新客\")"), preview_count("first_order_days < 30"));
    char path[96];
    snprintf(path, sizeof path, "/api/v1/customers/%lld", (long long)c);
    r = req(fx->admin, "GET", path, NULL, 200);
    assert_true(has_name(json_object_get(r.json, "tags"), "大单客户"));
    assert_true(has_name(json_object_get(r.json, "tags"), "新客"));
    ht_resp_free(&r);
    json_t *t = find_tag("大单客户");
    assert_int_equal(json_integer_value(json_object_get(t, "count")), before + 1);
    json_decref(t);
}

static void merge__moves_manual_tags_to_the_survivor(void **state)
{
    (void)state;
    struct ht_resp r =
        post_orders("[{\"shop\":\"标签店\",\"channel\":\"taobao\",\"order_no\":\"M-1\","
                    "\"status\":\"paid\",\"created_at\":\"2026-02-01T10:00:00+08:00\","
                    "\"paid_at\":\"2026-02-01T10:00:00+08:00\",\"paid_fen\":1000,"
                    "\"buyer\":{\"buyer_id\":\"m_a\",\"phone\":\"13700000011\"}},"
                    "{\"shop\":\"京东标签店\",\"channel\":\"jd\",\"order_no\":\"M-2\","
                    "\"status\":\"paid\",\"created_at\":\"2026-02-02T10:00:00+08:00\","
                    "\"paid_at\":\"2026-02-02T10:00:00+08:00\",\"paid_fen\":2000,"
                    "\"buyer\":{\"buyer_id\":\"m_b\"}}]");
    int64_t a = result_customer(&r, 0), b = result_customer(&r, 1);
    ht_resp_free(&r);
    assert_true(a > 0 && b > a);
    char path[96];
    snprintf(path, sizeof path, "/api/v1/customers/%lld/tags", (long long)b);
    r = req(fx->admin, "POST", path, "{\"tag\":\"合并前标签\"}", 200);
    ht_resp_free(&r);
    assert_int_equal(wait_count("has_tag(\"合并前标签\")", 1), 1);
    /* the jd buyer shows the taobao buyer's phone: merged into the older customer */
    r = post_orders("[{\"shop\":\"京东标签店\",\"channel\":\"jd\",\"order_no\":\"M-3\","
                    "\"status\":\"paid\",\"created_at\":\"2026-02-03T10:00:00+08:00\","
                    "\"paid_at\":\"2026-02-03T10:00:00+08:00\",\"paid_fen\":3000,"
                    "\"buyer\":{\"buyer_id\":\"m_b\",\"phone\":\"13700000011\"}}]");
    assert_int_equal(result_customer(&r, 0), a);
    ht_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/customers/%lld", (long long)b);
    r = req(fx->admin, "GET", path, NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "id")), a);
    assert_true(has_name(json_object_get(r.json, "tags"), "合并前标签"));
    ht_resp_free(&r);
    /* still one customer carries it: the survivor */
    int64_t t0 = mono_ms();
    while (mono_ms() - t0 < 3000 && preview_count("has_tag(\"合并前标签\") and frequency = 3") != 1)
        sleep_ms(20);
    assert_int_equal(preview_count("has_tag(\"合并前标签\") and frequency = 3"), 1);
    assert_int_equal(preview_count("has_tag(\"合并前标签\")"), 1);
}

static void roles__agent_reads_but_cannot_write(void **state)
{
    (void)state;
    struct ht_resp r = req(fx->agent, "GET", "/api/v1/tags", NULL, 200);
    assert_true(json_array_size(json_object_get(r.json, "items")) > 0);
    int64_t any = json_integer_value(
        json_object_get(json_array_get(json_object_get(r.json, "items"), 0), "id"));
    ht_resp_free(&r);
    char path[96];
    snprintf(path, sizeof path, "/api/v1/tags/%lld", (long long)any);
    r = req(fx->agent, "GET", path, NULL, 200);
    ht_resp_free(&r);
    r = create_tag(fx->agent, "客服标签", NULL, 403);
    ht_resp_free(&r);
    r = req(fx->agent, "PATCH", path, "{\"color\":\"#000000\"}", 403);
    ht_resp_free(&r);
    r = req(fx->agent, "DELETE", path, NULL, 403);
    ht_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/customers/%lld/tags", (long long)fx->cust[0]);
    r = req(fx->agent, "POST", path, "{\"tag\":\"客服标签\"}", 403);
    ht_resp_free(&r);
    r = create_tag(fx->operator_, "运营标签", NULL, 201);
    ht_resp_free(&r);
    /* writes are audited */
    r = req(fx->admin, "GET", "/api/v1/audit?action=tag.create", NULL, 200);
    assert_true(json_array_size(json_object_get(r.json, "items")) > 0);
    ht_resp_free(&r);
}

static void presets__counts_equal_their_expressions_and_stay_deleted(void **state)
{
    (void)state;
    static const char *const names[] = {"高客单价", "高频复购", "优惠券敏感", "沉睡客户", "新客"};
    /* docs/segments.md, "Presets" (fewer than 50 buyers: 高客单价 at 500 yuan) */
    static const char *const exprs[] = {"aov >= 500", "frequency >= 3",
                                        "coupon_use_rate >= 0.5 and frequency >= 2",
                                        "recency_days >= 180", "first_order_days < 30"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        json_t *t = find_tag(names[i]);
        if (!t)
            fail_msg("no preset %s", names[i]);
        assert_true(json_is_true(json_object_get(t, "preset")));
        assert_string_equal(json_string_value(json_object_get(t, "kind")), "rule");
        const char *expr = json_string_value(json_object_get(t, "expression"));
        assert_string_equal(expr, exprs[i]);
        int64_t want = preview_count(expr);
        assert_int_equal(json_integer_value(json_object_get(t, "count")), want);
        char has[64];
        snprintf(has, sizeof has, "has_tag(\"%s\")", names[i]);
        assert_int_equal(preview_count(has), want);
        json_decref(t);
    }
    /* sensible on these buyers: a third asleep, some frequent, some coupon-sensitive */
    int64_t asleep = 0; /* paid in June 2025 and not again in March */
    for (int i = 0; i < NCUST; i++)
        asleep += i % 3 == 0 && i % 4 != 0 && i % 5 != 0;
    assert_int_equal(preview_count("has_tag(\"沉睡客户\")"), asleep);
    assert_true(preview_count("has_tag(\"高频复购\")") > 0);
    assert_true(preview_count("has_tag(\"优惠券敏感\")") > 0);
    assert_true(preview_count("has_tag(\"高客单价\")") > 0);
    assert_true(preview_count("has_tag(\"高客单价\")") < NCUST);
    /* category presets appear with the categories (made after the data arrived) */
    json_t *cat = NULL;
    int64_t t0 = mono_ms();
    while (!(cat = find_tag("连衣裙爱好者")) && mono_ms() - t0 < 3000)
        sleep_ms(50);
    assert_non_null(cat);
    assert_string_equal(json_string_value(json_object_get(cat, "expression")),
                        "main_category = \"女装/连衣裙\"");
    assert_int_equal(json_integer_value(json_object_get(cat, "count")),
                     preview_count("main_category = \"女装/连衣裙\""));
    json_decref(cat);
    cat = find_tag("坚果爱好者");
    assert_non_null(cat);
    json_decref(cat);

    /* deleted presets stay deleted across a restart; an edited one keeps the edit */
    json_t *t = find_tag("新客");
    char path[96];
    snprintf(path, sizeof path, "/api/v1/tags/%lld",
             (long long)json_integer_value(json_object_get(t, "id")));
    json_decref(t);
    struct ht_resp r = req(fx->admin, "DELETE", path, NULL, 204);
    ht_resp_free(&r);
    t = find_tag("高频复购");
    snprintf(path, sizeof path, "/api/v1/tags/%lld",
             (long long)json_integer_value(json_object_get(t, "id")));
    json_decref(t);
    r = req(fx->admin, "PATCH", path, "{\"expression\":\"frequency >= 2\"}", 200);
    ht_resp_free(&r);
    static const char *const env[] = {NOW_ENV, NULL};
    assert_int_equal(ht_server_signal(&fx->srv, SIGTERM), 0);
    assert_int_equal(ht_server_restart(&fx->srv, env), 0);
    assert_null(find_tag("新客"));
    t = find_tag("高频复购");
    assert_non_null(t);
    assert_string_equal(json_string_value(json_object_get(t, "expression")), "frequency >= 2");
    assert_int_equal(json_integer_value(json_object_get(t, "count")),
                     preview_count("frequency >= 2"));
    json_decref(t);
    assert_non_null(t = find_tag("连衣裙爱好者"));
    json_decref(t);
}

/* POST /segments/preview of expr on srv: the status; *suggestion gets error.suggestion ("" when
 * none) for a 400, *count the count for a 200. */
static long preview_on(struct ht_server *srv, const char *cookie, const char *expr, int64_t *count,
                       char *suggestion, size_t size)
{
    json_t *b = json_pack("{s:s}", "expression", expr);
    char *text = json_dumps(b, 0);
    struct ht_resp r;
    assert_int_equal(ht_request(srv, "POST", "/api/v1/segments/preview", text, NULL, cookie, &r),
                     0);
    free(text);
    json_decref(b);
    long st = r.status;
    if (st == 400) {
        json_t *e = json_object_get(r.json, "error");
        assert_string_equal(json_string_value(json_object_get(e, "code")), "invalid_expression");
        const char *sug = json_string_value(json_object_get(e, "suggestion"));
        snprintf(suggestion, size, "%s", sug ? sug : "");
    } else if (st == 200) {
        *count = (int64_t)json_integer_value(json_object_get(r.json, "count"));
    } else {
        fail_msg("preview %s: %ld %s", expr, st, r.body);
    }
    ht_resp_free(&r);
    return st;
}

/* Polls srv until the preview of expr answers status want (at most 3 s); the milliseconds. */
static int64_t wait_status(struct ht_server *srv, const char *cookie, const char *expr, long want)
{
    int64_t t0 = mono_ms(), n = 0;
    char sug[256];
    while (preview_on(srv, cookie, expr, &n, sug, sizeof sug) != want) {
        if (mono_ms() - t0 > 3000)
            fail_msg("%s: not %ld after 3 s", expr, want);
        sleep_ms(20);
    }
    return mono_ms() - t0;
}

static void deleted__tag_is_unknown_at_once_and_in_a_second_server(void **state)
{
    (void)state;
    struct ht_server b = fx->srv; /* a second process on the same database */
    b.pid = 0;
    b.pg_dbname[0] = '\0'; /* the first server owns (and drops) the database */
    static const char *const env[] = {NOW_ENV, NULL};
    assert_int_equal(ht_server_restart(&b, env), 0);
    char cookie_b[256];
    assert_int_equal(ht_login(&b, "admin", "admin-pass-1", cookie_b, sizeof cookie_b), 0);

    struct ht_resp r = create_tag(fx->admin, "待删除标签", NULL, 201);
    int64_t manual = id_of(&r);
    ht_resp_free(&r);
    char path[128], body[96];
    snprintf(path, sizeof path, "/api/v1/customers/%lld/tags", (long long)fx->cust[0]);
    r = req(fx->admin, "POST", path, "{\"tag\": \"待删除标签\"}", 200);
    ht_resp_free(&r);
    r = create_tag(fx->admin, "待改名规则", "frequency >= 2", 201);
    int64_t rule = id_of(&r);
    ht_resp_free(&r);
    int64_t repeat = preview_count("frequency >= 2"), n = -1;
    assert_true(repeat > 0);
    char sug[256];
    /* both servers know both names */
    assert_int_equal(wait_count("has_tag(\"待删除标签\")", 1), 1);
    wait_status(&b, cookie_b, "has_tag(\"待改名规则\")", 200);
    int64_t t0 = mono_ms();
    while (preview_on(&b, cookie_b, "has_tag(\"待删除标签\")", &n, sug, sizeof sug) != 200 ||
           n != 1)
        assert_true(mono_ms() - t0 < 3000);

    snprintf(path, sizeof path, "/api/v1/tags/%lld", (long long)manual);
    r = req(fx->admin, "DELETE", path, NULL, 204);
    ht_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/tags/%lld", (long long)rule);
    snprintf(body, sizeof body, "{\"name\": \"已改名规则\"}");
    r = req(fx->admin, "PATCH", path, body, 200);
    ht_resp_free(&r);

    /* the writing process: unknown as the requests return, like any unknown tag */
    assert_int_equal(
        preview_on(&fx->srv, fx->admin, "has_tag(\"待删除标签\")", &n, sug, sizeof sug), 400);
    assert_string_not_equal(sug, "待删除标签");
    assert_int_equal(
        preview_on(&fx->srv, fx->admin, "has_tag(\"待改名规则\")", &n, sug, sizeof sug), 400);
    assert_string_equal(sug, "已改名规则"); /* the nearest live name, never the old one */
    assert_int_equal(preview_count("has_tag(\"已改名规则\")"), repeat);
    /* nor offered by the console's name completion */
    r = req(fx->admin, "GET", "/api/v1/segments/names?kind=tag&limit=100", NULL, 200);
    json_t *names = json_object_get(r.json, "items");
    assert_true(has_name(names, "已改名规则"));
    assert_false(has_name(names, "待改名规则"));
    assert_false(has_name(names, "待删除标签"));
    ht_resp_free(&r);
    /* the other process: after its sync */
    int64_t ms = wait_status(&b, cookie_b, "has_tag(\"待删除标签\")", 400);
    print_message("tag deleted through server A -> unknown in server B: %lld ms\n", (long long)ms);
    assert_int_equal(preview_on(&b, cookie_b, "has_tag(\"待改名规则\")", &n, sug, sizeof sug), 400);
    assert_string_equal(sug, "已改名规则");
    assert_int_equal(preview_on(&b, cookie_b, "has_tag(\"已改名规则\")", &n, sug, sizeof sug), 200);
    assert_int_equal(n, repeat);
    /* made again: known again in both, carried by nobody */
    r = create_tag(fx->admin, "待删除标签", NULL, 201);
    ht_resp_free(&r);
    assert_int_equal(preview_count("has_tag(\"待删除标签\")"), 0);
    wait_status(&b, cookie_b, "has_tag(\"待删除标签\")", 200);
    assert_int_equal(preview_on(&b, cookie_b, "has_tag(\"待删除标签\")", &n, sug, sizeof sug), 200);
    assert_int_equal(n, 0);
    assert_int_equal(ht_server_signal(&b, SIGTERM), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crud__conflicts_and_expression_errors_with_position),
        cmocka_unit_test(manual__add_remove_on_profile_list_and_has_tag),
        cmocka_unit_test(apply__to_a_saved_segment_matches_its_count),
        cmocka_unit_test(rule__follows_an_order_ingested_through_the_api),
        cmocka_unit_test(merge__moves_manual_tags_to_the_survivor),
        cmocka_unit_test(roles__agent_reads_but_cannot_write),
        cmocka_unit_test(presets__counts_equal_their_expressions_and_stay_deleted),
        cmocka_unit_test(deleted__tag_is_unknown_at_once_and_in_a_second_server),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
