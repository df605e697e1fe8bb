/*
 * test_rfm_shops.c — RFM per shop over HTTP and the CLI: ?shop= on GET/PUT/DELETE
 * /api/v1/rfm/config and GET /api/v1/rfm/report, "shop" in POST /api/v1/rfm/preview, 404 for
 * unknown shops, a shop's own configuration and its return to inheriting shop 0's (audited),
 * the shop-qualified RFM fields in segment previews, `huike rfm --shop`, and a second server on
 * the same database following a shop's configuration change through the change log. Buyer
 * counts are checked against SQL over the store.
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

#include "core/err.h"
#include "harness.h"
#include "store/store.h"

#define NOW_ENV "HUIKE_NOW=2026-03-10T00:00:00+08:00"

struct fixture {
    struct ht_server srv;
    char admin[256], operator_[256], agent[256];
    int64_t tmall, douyin; /* shop ids */
};

static struct fixture *fx;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Customer A buys in both shops (one phone), B and C in the Tmall shop, D in the Douyin one. */
static const char ORDERS[] =
    "{\"orders\": ["
    "{\"shop\":\"天猫旗舰店\",\"channel\":\"tmall\",\"order_no\":\"T-1\",\"status\":\"paid\","
    " \"created_at\":\"2026-03-01T10:00:00+08:00\",\"paid_at\":\"2026-03-01T10:00:00+08:00\","
    " \"paid_fen\":50000,\"buyer\":{\"buyer_id\":\"tm_a\",\"phone\":\"13900000011\"}},"
    "{\"shop\":\"天猫旗舰店\",\"channel\":\"tmall\",\"order_no\":\"T-2\",\"status\":\"completed\","
    " \"created_at\":\"2026-02-01T10:00:00+08:00\",\"paid_at\":\"2026-02-01T10:00:00+08:00\","
    " \"paid_fen\":10000,\"buyer\":{\"buyer_id\":\"tm_a\"}},"
    "{\"shop\":\"天猫旗舰店\",\"channel\":\"tmall\",\"order_no\":\"T-3\",\"status\":\"paid\","
    " \"created_at\":\"2026-01-10T10:00:00+08:00\",\"paid_at\":\"2026-01-10T10:00:00+08:00\","
    " \"paid_fen\":5000,\"buyer\":{\"buyer_id\":\"tm_b\"}},"
    "{\"shop\":\"天猫旗舰店\",\"channel\":\"tmall\",\"order_no\":\"T-4\",\"status\":\"paid\","
    " \"created_at\":\"2025-12-01T10:00:00+08:00\",\"paid_at\":\"2025-12-01T10:00:00+08:00\","
    " \"paid_fen\":2000,\"buyer\":{\"buyer_id\":\"tm_c\"}},"
    "{\"shop\":\"抖音小店\",\"channel\":\"douyin\",\"order_no\":\"D-1\",\"status\":\"paid\","
    " \"created_at\":\"2026-03-05T10:00:00+08:00\",\"paid_at\":\"2026-03-05T10:00:00+08:00\","
    " \"paid_fen\":200000,\"buyer\":{\"buyer_id\":\"dy_a\",\"phone\":\"13900000011\"}},"
    "{\"shop\":\"抖音小店\",\"channel\":\"douyin\",\"order_no\":\"D-2\",\"status\":\"paid\","
    " \"created_at\":\"2025-11-05T10:00:00+08:00\",\"paid_at\":\"2025-11-05T10:00:00+08:00\","
    " \"paid_fen\":1500,\"buyer\":{\"buyer_id\":\"dy_d\"}}"
    "]}";

/* One int from SQL over the store the server uses. */
static int64_t sql_int(const char *sql)
{
    struct hk_store *store;
    struct hk_db *db;
    struct hk_stmt *st;
    struct hk_err err;
    if (hk_store_open(fx->srv.db_url, NULL, &store, &err) != 0)
        fail_msg("open: %s", hk_err_message(&err));
    assert_int_equal(hk_db_acquire(store, &db, &err), 0);
    if (hk_db_stmt(db, "q", sql, &st, &err) != 0)
        fail_msg("%s: %s", sql, hk_err_message(&err));
    assert_int_equal(hk_stmt_step(st, &err), HK_ROW);
    int64_t v = hk_stmt_int64(st, 0);
    hk_stmt_reset(st);
    hk_db_release(db);
    hk_store_close(store);
    return v;
}

/* Live buyers of one shop (0 = all shops), by SQL. */
static int64_t sql_buyers(int64_t shop)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(DISTINCT o.customer_id) FROM orders o JOIN customers c ON c.id ="
             " o.customer_id WHERE c.merged_into IS NULL AND o.status IN ('paid', 'shipped',"
             " 'completed') AND o.paid_at IS NOT NULL AND (%lld = 0 OR o.shop_id = %lld)",
             (long long)shop, (long long)shop);
    return sql_int(sql);
}

/* A request expecting `status`; the response is returned (caller frees). */
static struct ht_resp req(const char *method, const char *path, const char *body, const char *ck,
                          long status)
{
    struct ht_resp r;
    assert_int_equal(ht_request(&fx->srv, method, path, body, NULL, ck, &r), 0);
    if (r.status != status)
        fail_msg("%s %s: %ld (want %ld) %s", method, path, r.status, status, r.body);
    return r;
}

static int64_t jint(json_t *o, const char *k)
{
    return (int64_t)json_integer_value(json_object_get(o, k));
}

static int64_t preview_count_on(struct ht_server *srv, const char *cookie, const char *expr)
{
    json_t *b = json_pack("{s:s}", "expression", expr);
    char *body = json_dumps(b, 0);
    json_decref(b);
    struct ht_resp r;
    assert_int_equal(ht_request(srv, "POST", "/api/v1/segments/preview", body, NULL, cookie, &r),
                     0);
    free(body);
    if (r.status != 200)
        fail_msg("preview %s: %ld %s", expr, r.status, r.body);
    int64_t n = jint(r.json, "count");
    ht_resp_free(&r);
    return n;
}

static int64_t preview_count(const char *expr)
{
    return preview_count_on(&fx->srv, fx->admin, expr);
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
    struct ht_resp r;
    if (ht_request(&fx->srv, "POST", "/api/v1/orders", ORDERS, NULL, fx->admin, &r) ||
        r.status != 200 || jint(r.json, "rejected") != 0)
        return -1;
    ht_resp_free(&r);
    if (ht_request(&fx->srv, "GET", "/api/v1/shops", NULL, NULL, fx->admin, &r) || r.status != 200)
        return -1;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(r.json, "items"), i, s)
    {
        const char *name = json_string_value(json_object_get(s, "name"));
        if (name && strcmp(name, "天猫旗舰店") == 0)
            fx->tmall = jint(s, "id");
        if (name && strcmp(name, "抖音小店") == 0)
            fx->douyin = jint(s, "id");
    }
    ht_resp_free(&r);
    /* the REST write reaches the engine through the change log: wait for it */
    int64_t t0 = mono_ms();
    while (mono_ms() - t0 < 3000 && preview_count("frequency >= 1") != 4) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return fx->tmall && fx->douyin ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    int st = ht_server_stop(&fx->srv);
    free(fx);
    return st == 0 ? 0 : -1;
}

static void rfm_shops__reports_count_each_shops_buyers(void **state)
{
    (void)state;
    char path[128];
    assert_int_equal(sql_buyers(0), 4);
    int64_t shops[3] = {0, fx->tmall, fx->douyin};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "/api/v1/rfm/report?shop=%lld", (long long)shops[i]);
        struct ht_resp r = req("GET", path, NULL, fx->operator_, 200);
        assert_int_equal(jint(r.json, "buyers"), sql_buyers(shops[i]));
        assert_int_equal(jint(r.json, "shop_id"), shops[i]);
        int64_t seg = 0;
        size_t k;
        json_t *g;
        json_array_foreach(json_object_get(r.json, "segments"), k, g) seg += jint(g, "customers");
        assert_int_equal(seg, sql_buyers(shops[i]));
        ht_resp_free(&r);
    }
    /* no ?shop= is all shops */
    struct ht_resp r = req("GET", "/api/v1/rfm/report", NULL, fx->admin, 200);
    assert_int_equal(jint(r.json, "buyers"), 4);
    ht_resp_free(&r);
    r = req("GET", "/api/v1/rfm/report?shop=987654", NULL, fx->admin, 404);
    assert_string_equal(ht_error_code(&r), "not_found");
    ht_resp_free(&r);
    r = req("GET", "/api/v1/rfm/report?shop=abc", NULL, fx->admin, 400);
    ht_resp_free(&r);
    /* agents may not read RFM reports, with or without a shop */
    snprintf(path, sizeof path, "/api/v1/rfm/report?shop=%lld", (long long)fx->tmall);
    r = req("GET", path, NULL, fx->agent, 403);
    ht_resp_free(&r);
    /* the shop-qualified fields: every Tmall buyer has a Tmall score, A and D a Douyin one */
    char expr[128];
    snprintf(expr, sizeof expr, "r_score(shop=%lld) >= 1", (long long)fx->tmall);
    assert_int_equal(preview_count(expr), 3);
    assert_int_equal(preview_count("f_score(shop=\"抖音小店\") >= 1"), 2);
    assert_int_equal(preview_count("f_score(shop=\"douyin:抖音小店\") >= 1 and "
                                   "f_score(shop=\"天猫旗舰店\") >= 1"),
                     1);
}

static void rfm_shops__own_configuration_put_get_delete(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "/api/v1/rfm/config?shop=%lld", (long long)fx->douyin);
    struct ht_resp r = req("GET", path, NULL, fx->operator_, 200);
    assert_true(json_is_true(json_object_get(r.json, "inherited")));
    assert_int_equal(jint(r.json, "shop_id"), fx->douyin);
    ht_resp_free(&r);
    r = req("GET", "/api/v1/rfm/config", NULL, fx->operator_, 200);
    assert_true(json_is_false(json_object_get(r.json, "inherited")));
    assert_int_equal(jint(r.json, "shop_id"), 0);
    ht_resp_free(&r);
    /* Douyin gets thresholds and a tier of its own */
    static const char body[] =
        "{\"mode\": \"thresholds\", \"thresholds\": {\"m_yuan\": [10, 20, 30, 1000]},"
        " \"tiers\": [{\"name\": \"抖音金牌\", \"m\": [5, 5]}]}";
    r = req("PUT", path, body, fx->operator_, 200);
    assert_true(json_is_false(json_object_get(r.json, "inherited")));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(r.json, "tiers"), 0), "name")),
                        "抖音金牌");
    ht_resp_free(&r);
    r = req("GET", path, NULL, fx->operator_, 200);
    assert_true(json_is_false(json_object_get(r.json, "inherited")));
    assert_string_equal(json_string_value(json_object_get(r.json, "mode")), "thresholds");
    ht_resp_free(&r);
    /* the PUT rescored Douyin at once: A spent 2000 yuan there (M 5), D 15 yuan (M 2) */
    assert_int_equal(preview_count("m_score(shop=\"抖音小店\") = 5"), 1);
    assert_int_equal(preview_count("m_score(shop=\"抖音小店\") = 2"), 1);
    assert_int_equal(preview_count("rfm_tier(shop=\"抖音小店\") = \"抖音金牌\""), 1);
    /* Tmall still inherits shop 0's quintiles and tiers */
    snprintf(path, sizeof path, "/api/v1/rfm/config?shop=%lld", (long long)fx->tmall);
    r = req("GET", path, NULL, fx->operator_, 200);
    assert_true(json_is_true(json_object_get(r.json, "inherited")));
    assert_string_equal(json_string_value(json_object_get(r.json, "mode")), "quintile");
    ht_resp_free(&r);
    /* the report of Douyin uses its tiers */
    snprintf(path, sizeof path, "/api/v1/rfm/report?shop=%lld", (long long)fx->douyin);
    r = req("GET", path, NULL, fx->operator_, 200);
    json_t *t0 = json_array_get(json_object_get(r.json, "tiers"), 0);
    assert_string_equal(json_string_value(json_object_get(t0, "name")), "抖音金牌");
    assert_int_equal(jint(t0, "customers"), 1);
    ht_resp_free(&r);
    /* audited with the shop */
    r = req("GET", "/api/v1/audit?action=rfm.config", NULL, fx->admin, 200);
    char target[48];
    snprintf(target, sizeof target, "shop:%lld", (long long)fx->douyin);
    json_t *e0 = json_array_get(json_object_get(r.json, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(e0, "target")), target);
    ht_resp_free(&r);
    /* unknown shops and bad requests */
    r = req("PUT", "/api/v1/rfm/config?shop=987654", body, fx->operator_, 404);
    ht_resp_free(&r);
    r = req("GET", "/api/v1/rfm/config?shop=987654", NULL, fx->operator_, 404);
    ht_resp_free(&r);
    r = req("DELETE", "/api/v1/rfm/config?shop=987654", NULL, fx->operator_, 404);
    ht_resp_free(&r);
    r = req("DELETE", "/api/v1/rfm/config?shop=0", NULL, fx->operator_, 400);
    ht_resp_free(&r);
    r = req("DELETE", "/api/v1/rfm/config", NULL, fx->operator_, 400);
    ht_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/rfm/config?shop=%lld", (long long)fx->douyin);
    r = req("DELETE", path, NULL, fx->agent, 403);
    ht_resp_free(&r);
    /* back to inheriting: quintiles over Douyin's two buyers (A: M 3, D: M 1) */
    r = req("DELETE", path, NULL, fx->operator_, 200);
    assert_true(json_is_true(json_object_get(r.json, "inherited")));
    assert_string_equal(json_string_value(json_object_get(r.json, "mode")), "quintile");
    ht_resp_free(&r);
    assert_int_equal(preview_count("m_score(shop=\"抖音小店\") = 3"), 1);
    assert_int_equal(preview_count("m_score(shop=\"抖音小店\") = 1"), 1);
    r = req("GET", "/api/v1/audit?action=rfm.config_delete", NULL, fx->admin, 200);
    e0 = json_array_get(json_object_get(r.json, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(e0, "target")), target);
    ht_resp_free(&r);
    /* deleting again is not an error */
    r = req("DELETE", path, NULL, fx->operator_, 200);
    ht_resp_free(&r);
}

static void rfm_shops__preview_takes_a_shop(void **state)
{
    (void)state;
    char body[256];
    snprintf(body, sizeof body,
             "{\"shop\": %lld, \"mode\": \"thresholds\", \"tiers\": [{\"name\": \"试算\"}]}",
             (long long)fx->tmall);
    struct ht_resp r = req("POST", "/api/v1/rfm/preview", body, fx->operator_, 200);
    assert_int_equal(jint(r.json, "buyers"), sql_buyers(fx->tmall));
    assert_int_equal(jint(r.json, "shop_id"), fx->tmall);
    json_t *t0 = json_array_get(json_object_get(r.json, "tiers"), 0);
    assert_string_equal(json_string_value(json_object_get(t0, "name")), "试算");
    assert_int_equal(jint(t0, "customers"), 3); /* every score range 1..5 */
    ht_resp_free(&r);
    /* a dry run: nothing stored */
    char path[128];
    snprintf(path, sizeof path, "/api/v1/rfm/config?shop=%lld", (long long)fx->tmall);
    r = req("GET", path, NULL, fx->operator_, 200);
    assert_true(json_is_true(json_object_get(r.json, "inherited")));
    ht_resp_free(&r);
    r = req("POST", "/api/v1/rfm/preview", "{\"shop\": 987654}", fx->operator_, 404);
    ht_resp_free(&r);
    r = req("POST", "/api/v1/rfm/preview", "{\"shop\": \"x\"}", fx->operator_, 400);
    ht_resp_free(&r);
    /* PUT takes the shop from the query only */
    r = req("PUT", "/api/v1/rfm/config", "{\"shop\": 1}", fx->operator_, 400);
    ht_resp_free(&r);
}

static void rfm_shops__cli_reports_one_shop(void **state)
{
    (void)state;
    char out[8192];
    const char *const a1[] = {"rfm", "--shop", "抖音小店", "--json", NULL};
    assert_int_equal(ht_cli(&fx->srv, a1, out, sizeof out), 0);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    assert_non_null(j);
    assert_int_equal(jint(j, "buyers"), sql_buyers(fx->douyin));
    assert_int_equal(jint(j, "shop_id"), fx->douyin);
    json_decref(j);
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)fx->tmall);
    const char *const a2[] = {"rfm", "--json", "--shop", id, NULL};
    assert_int_equal(ht_cli(&fx->srv, a2, out, sizeof out), 0);
    j = json_loads(out, 0, &je);
    assert_non_null(j);
    assert_int_equal(jint(j, "buyers"), sql_buyers(fx->tmall));
    json_decref(j);
    /* the human report names the shop */
    const char *const a5[] = {"rfm", "--shop", id, NULL};
    assert_int_equal(ht_cli(&fx->srv, a5, out, sizeof out), 0);
    char head[128];
    snprintf(head, sizeof head, "shop %s 天猫旗舰店 (tmall)\n", id);
    if (!strstr(out, head))
        fail_msg("rfm --shop %s printed: %.200s", id, out);
    const char *const a3[] = {"rfm", "--shop", "抖音小", "--json", NULL};
    assert_int_not_equal(ht_cli(&fx->srv, a3, out, sizeof out), 0);
    const char *const a4[] = {"rfm", "--json", NULL};
    assert_int_equal(ht_cli(&fx->srv, a4, out, sizeof out), 0);
    j = json_loads(out, 0, &je);
    assert_int_equal(jint(j, "buyers"), 4);
    assert_null(json_object_get(j, "shop_id"));
    json_decref(j);
}

static void rfm_shops__second_server_follows_a_shops_configuration(void **state)
{
    (void)state;
    struct ht_server b = fx->srv; /* same database and directory */
    b.pid = 0;
    b.pg_dbname[0] = '\0'; /* the first server owns (and drops) the database */
    static const char *const env[] = {NOW_ENV, NULL};
    assert_int_equal(ht_server_restart(&b, env), 0);
    char cookie[256];
    assert_int_equal(ht_login(&b, "admin", "admin-pass-1", cookie, sizeof cookie), 0);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/rfm/config?shop=%lld", (long long)fx->tmall);
    struct ht_resp r = req("PUT", path, "{\"tiers\": [{\"name\": \"天猫全部\"}]}", fx->admin, 200);
    ht_resp_free(&r);
    /* server B applies it through the change log: its engine's tiers for Tmall change */
    int64_t t0 = mono_ms(), got = -1;
    while (mono_ms() - t0 < 3000) {
        json_t *q =
            json_pack("{s:s}", "expression", "rfm_tier(shop=\"天猫旗舰店\") = \"天猫全部\"");
        char *body = json_dumps(q, 0);
        json_decref(q);
        assert_int_equal(ht_request(&b, "POST", "/api/v1/segments/preview", body, NULL, cookie, &r),
                         0);
        free(body);
        got = r.status == 200 ? jint(r.json, "count") : -1;
        ht_resp_free(&r);
        if (got == 3)
            break;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    print_message("PUT on server A -> shop rescored on server B: %lld ms\n",
                  (long long)(mono_ms() - t0));
    assert_int_equal(got, 3);
    /* shop 0 is untouched */
    assert_int_equal(ht_request(&b, "GET", "/api/v1/rfm/report", NULL, NULL, cookie, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *first = json_array_get(json_object_get(r.json, "tiers"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "name")), "高价值客户");
    ht_resp_free(&r);
    (void)ht_server_signal(&b, SIGTERM);
}

static void rfm_shops__profile_and_names_show_shops(void **state)
{
    (void)state;
    int64_t a = sql_int("SELECT customer_id FROM orders WHERE external_no = 'D-1'");
    char path[64];
    snprintf(path, sizeof path, "/api/v1/customers/%lld", (long long)a);
    struct ht_resp r = req("GET", path, NULL, fx->admin, 200);
    json_t *rfm = json_object_get(r.json, "rfm");
    json_t *shops = json_object_get(rfm, "shops");
    assert_int_equal(json_array_size(shops), 2);
    size_t i;
    json_t *s;
    int seen = 0;
    json_array_foreach(shops, i, s)
    {
        if (jint(s, "shop_id") == fx->douyin) {
            seen |= 1;
            assert_string_equal(json_string_value(json_object_get(s, "name")), "抖音小店");
            assert_string_equal(json_string_value(json_object_get(s, "monetary")), "2000.00");
            assert_int_equal(jint(s, "frequency"), 1);
            assert_int_equal(jint(s, "recency_days"), 5);
            assert_true(jint(s, "r") >= 1);
        } else if (jint(s, "shop_id") == fx->tmall) {
            seen |= 2;
            assert_int_equal(jint(s, "frequency"), 2);
            assert_string_equal(json_string_value(json_object_get(s, "monetary")), "600.00");
        }
    }
    assert_int_equal(seen, 3);
    ht_resp_free(&r);
    /* the segment editor completes shop names */
    r = req("GET", "/api/v1/segments/names?kind=shop&q=%E6%8A%96", NULL, fx->agent, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(r.json, "items"), 0)),
                        "抖音小店");
    ht_resp_free(&r);
}

/* A buyer of many shops (a chain's stores) has one profile entry per shop, every one of them. */
static void rfm_shops__profile_lists_every_shop_of_a_buyer(void **state)
{
    (void)state;
    enum { STORES = 20 };
    char body[STORES * 400 + 64];
    size_t n = (size_t)snprintf(body, sizeof body, "{\"orders\": [");
    for (int k = 1; k <= STORES; k++)
        n += (size_t)snprintf(
            body + n, sizeof body - n,
            "%s{\"shop\":\"湖滨门店%02d\",\"channel\":\"pos\",\"order_no\":"
            "\"POS-%02d\",\"status\":\"completed\",\"created_at\":"
            "\"2026-03-0%dT10:00:00+08:00\",\"paid_at\":\"2026-03-0%dT10:00:00+08:00\","
            "\"paid_fen\":%d,\"buyer\":{\"phone\":\"13900000077\"}}",
            k > 1 ? "," : "", k, k, 1 + k % 9, 1 + k % 9, 1000 * k);
    snprintf(body + n, sizeof body - n, "]}");
    struct ht_resp r = req("POST", "/api/v1/orders", body, fx->admin, 200);
    assert_int_equal(jint(r.json, "rejected"), 0);
    ht_resp_free(&r);
    int64_t c = sql_int("SELECT customer_id FROM orders WHERE external_no = 'POS-01'");
    assert_int_equal(sql_int("SELECT COUNT(DISTINCT shop_id) FROM orders WHERE external_no LIKE"
                             " 'POS-%'"),
                     STORES);
    char path[64];
    snprintf(path, sizeof path, "/api/v1/customers/%lld", (long long)c);
    /* the REST write reaches the engine through the change log: wait for all the shops */
    size_t got = 0;
    for (int64_t t0 = mono_ms(); mono_ms() - t0 < 5000;) {
        r = req("GET", path, NULL, fx->admin, 200);
        got = json_array_size(json_object_get(json_object_get(r.json, "rfm"), "shops"));
        if (got >= STORES)
            break;
        ht_resp_free(&r);
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(got, STORES);
    json_t *shops = json_object_get(json_object_get(r.json, "rfm"), "shops");
    int64_t fen = 0;
    size_t i;
    json_t *s;
    json_array_foreach(shops, i, s)
    {
        assert_int_equal(jint(s, "frequency"), 1);
        const char *m = json_string_value(json_object_get(s, "monetary"));
        fen += (int64_t)(atof(m) * 100 + 0.5);
    }
    assert_int_equal(fen, 1000 * STORES * (STORES + 1) / 2); /* each store once */
    ht_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfm_shops__reports_count_each_shops_buyers),
        cmocka_unit_test(rfm_shops__own_configuration_put_get_delete),
        cmocka_unit_test(rfm_shops__preview_takes_a_shop),
        cmocka_unit_test(rfm_shops__cli_reports_one_shop),
        cmocka_unit_test(rfm_shops__profile_and_names_show_shops),
        cmocka_unit_test(rfm_shops__second_server_follows_a_shops_configuration),
        cmocka_unit_test(rfm_shops__profile_lists_every_shop_of_a_buyer),
    };
    return cmocka_run_group_tests_name("rfm_shops", tests, group_setup, group_teardown);
}
