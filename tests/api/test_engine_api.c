/*
 * test_engine_api.c — the customer engine inside `huike serve`: segment preview and RFM over
 * HTTP, kept current by the change log. Writes through the REST ingest (same process: the commit
 * nudges the sync) and through `huike import` (another process: seen by polling) must show in
 * the counts within a second; a second `huike serve` on the same database sees writes made
 * through the first within a second. Counts are checked against SQL over the store.
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
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "harness.h"
#include "store/store.h"

#define NOW_ENV "HUIKE_NOW=2026-03-10T00:00:00+08:00"

struct fixture {
    struct ht_server srv;
    char admin[256], operator_[256], agent[256];
};

static struct fixture *fx;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    int st = ht_server_stop(&fx->srv);
    free(fx);
    return st == 0 ? 0 : -1;
}

/* The count of a preview of expr on srv (asserting 200). */
static int64_t preview_count(struct ht_server *srv, const char *cookie, const char *expr)
{
    char body[1024];
    snprintf(body, sizeof body, "{\"expression\": \"%s\"}", expr);
    struct ht_resp r;
    assert_int_equal(ht_request(srv, "POST", "/api/v1/segments/preview", body, NULL, cookie, &r),
                     0);
    if (r.status != 200)
        fail_msg("preview %s: %ld %s", expr, r.status, r.body);
    int64_t n = (int64_t)json_integer_value(json_object_get(r.json, "count"));
    ht_resp_free(&r);
    return n;
}

/* Polls until the preview count of expr is want; returns the milliseconds it took (fails > 3 s). */
static int64_t wait_count(struct ht_server *srv, const char *cookie, const char *expr, int64_t want)
{
    int64_t t0 = mono_ms(), got = -1;
    while (mono_ms() - t0 < 3000) {
        got = preview_count(srv, cookie, expr);
        if (got == want)
            return mono_ms() - t0;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    fail_msg("%s: count %lld, want %lld after 3 s", expr, (long long)got, (long long)want);
    return -1;
}

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

static const char BUYERS_SQL[] =
    "SELECT COUNT(DISTINCT o.customer_id) FROM orders o JOIN customers c ON c.id = o.customer_id"
    " WHERE c.merged_into IS NULL AND o.status IN ('paid', 'shipped', 'completed')"
    " AND o.paid_at IS NOT NULL";

static void post_orders(struct ht_server *srv, const char *cookie, const char *body)
{
    struct ht_resp r;
    assert_int_equal(ht_request(srv, "POST", "/api/v1/orders", body, NULL, cookie, &r), 0);
    if (r.status != 200)
        fail_msg("POST /orders: %ld %s", r.status, r.body);
    if (json_integer_value(json_object_get(r.json, "rejected")) != 0)
        fail_msg("rejected: %s", r.body);
    ht_resp_free(&r);
}

static const char ORDERS[] =
    "{\"orders\": ["
    "{\"shop\":\"引擎店\",\"channel\":\"taobao\",\"order_no\":\"E-1\",\"status\":\"paid\","
    " \"created_at\":\"2026-03-01T10:00:00+08:00\",\"paid_at\":\"2026-03-01T10:05:00+08:00\","
    " \"paid_fen\":12800,\"buyer\":{\"buyer_id\":\"tb_e1\",\"nick\":\"e1\","
    " \"phone\":\"13900000001\"},"
    " \"items\":[{\"product_id\":\"EP1\",\"title\":\"茶杯\",\"paid\":\"128.00\"}]},"
    "{\"shop\":\"引擎店\",\"channel\":\"taobao\",\"order_no\":\"E-2\",\"status\":\"completed\","
    " \"created_at\":\"2026-01-02T09:00:00+08:00\",\"paid_at\":\"2026-01-02T09:01:00+08:00\","
    " \"paid_fen\":1250,\"buyer\":{\"buyer_id\":\"tb_e2\"}},"
    "{\"shop\":\"引擎店\",\"channel\":\"taobao\",\"order_no\":\"E-3\",\"status\":\"cancelled\","
    " \"created_at\":\"2026-03-02T09:00:00+08:00\",\"buyer\":{\"buyer_id\":\"tb_e3\"}}"
    "]}";

static void sync__rest_ingest_shows_in_counts_within_a_second(void **state)
{
    (void)state;
    assert_int_equal(preview_count(&fx->srv, fx->admin, "frequency >= 1"), 0);
    post_orders(&fx->srv, fx->admin, ORDERS);
    int64_t ms = wait_count(&fx->srv, fx->admin, "frequency >= 1", 2);
    print_message("REST ingest -> engine: %lld ms\n", (long long)ms);
    assert_true(ms < 1000);
    assert_int_equal(sql_int(BUYERS_SQL), 2);
    /* three customers, the cancelled one is no buyer; missing recency is false, `not` complements
     */
    assert_int_equal(preview_count(&fx->srv, fx->admin, "not recency_days > 30"), 2);
    assert_int_equal(preview_count(&fx->srv, fx->admin, "recency_days <= 30"), 1);
    assert_int_equal(preview_count(&fx->srv, fx->admin, "bought(product='EP1', within=10d)"), 1);
}

static void sync__rest_events_show_in_event_counts(void **state)
{
    (void)state;
    /* no share event before this one: the type is not even known to the engine yet */
    struct ht_resp r;
    assert_int_equal(
        ht_request(&fx->srv, "POST", "/api/v1/events",
                   "{\"events\":[{\"type\":\"share\",\"at\":\"2026-03-08T10:00:00+08:00\","
                   "\"identities\":[{\"channel\":\"taobao\",\"kind\":\"buyer_id\","
                   "\"value\":\"tb_e2\"}]}]}",
                   NULL, fx->admin, &r),
        0);
    assert_int_equal(r.status, 200);
    ht_resp_free(&r);
    int64_t ms = wait_count(&fx->srv, fx->admin, "event(type='share', within=30d)", 1);
    print_message("REST event -> engine: %lld ms\n", (long long)ms);
    assert_true(ms < 1000);
    assert_int_equal(
        preview_count(&fx->srv, fx->admin, "event(type='share') and frequency = 1 and aov < 13"),
        1);
}

static void sync__cli_import_in_another_process_is_seen_by_polling(void **state)
{
    (void)state;
    int64_t before = preview_count(&fx->srv, fx->admin, "frequency >= 1");
    char path[512], out[8192];
    snprintf(path, sizeof path, "%s/tests/fixtures/import/generic-orders.csv", HK_SOURCE_DIR);
    const char *const args[] = {"import", "--json", path, NULL};
    int64_t t0 = mono_ms();
    assert_int_equal(ht_cli(&fx->srv, args, out, sizeof out), 0);
    /* a small file into a store: not a first load of a large history */
    assert_non_null(strstr(out, "\"initial_load\":false"));
    int64_t want = sql_int(BUYERS_SQL);
    assert_true(want > before);
    int64_t ms = wait_count(&fx->srv, fx->admin, "frequency >= 1", want);
    print_message("CLI import (other process) -> engine: %lld ms after the import ended (%lld "
                  "ms in all)\n",
                  (long long)ms, (long long)(mono_ms() - t0));
    assert_true(ms < 1000);
    /* live customers = SQL */
    assert_int_equal(preview_count(&fx->srv, fx->admin, "frequency >= 0"),
                     sql_int("SELECT COUNT(*) FROM customers WHERE merged_into IS NULL"));
}

static void sync__merge_moves_history_to_the_survivor(void **state)
{
    (void)state;
    int64_t live = sql_int("SELECT COUNT(*) FROM customers WHERE merged_into IS NULL");
    /* a JD buyer with e1's phone: a strong key, so the two merge */
    post_orders(&fx->srv, fx->admin,
                "{\"orders\": [{\"shop\":\"京东店\",\"channel\":\"jd\",\"order_no\":\"E-J1\","
                "\"status\":\"paid\",\"created_at\":\"2026-03-05T10:00:00+08:00\","
                "\"paid_at\":\"2026-03-05T10:00:00+08:00\",\"paid_fen\":5000,"
                "\"buyer\":{\"buyer_id\":\"jd_e1\",\"phone\":\"13900000001\"}}]}");
    assert_int_equal(sql_int("SELECT COUNT(*) FROM customers WHERE merged_into IS NULL"), live);
    wait_count(&fx->srv, fx->admin, "frequency = 2 and channel = 'jd' and channel = 'taobao'", 1);
    assert_int_equal(preview_count(&fx->srv, fx->admin, "frequency >= 0"), live);

    /* the survivor's 360 profile shows the engine's view: recency from the shop-local dates
     * (2026-03-05 to now 2026-03-10), both channels, and the RFM segment and tier the segment
     * language answers for it */
    int64_t id = sql_int("SELECT customer_id FROM orders WHERE external_no = 'E-J1'");
    char path[64];
    snprintf(path, sizeof path, "/api/v1/customers/%lld", (long long)id);
    struct ht_resp r;
    /* RFM scores are relative to all buyers: they follow within the rescore interval */
    for (int tries = 0;; tries++) {
        assert_int_equal(ht_request(&fx->srv, "GET", path, NULL, NULL, fx->admin, &r), 0);
        assert_int_equal(r.status, 200);
        json_t *t = json_object_get(json_object_get(r.json, "rfm"), "tier");
        if (json_is_string(t) || tries == 40)
            break;
        ht_resp_free(&r);
        usleep(50 * 1000);
    }
    assert_int_equal(json_integer_value(json_object_get(r.json, "recency_days")), 5);
    json_t *rfm = json_object_get(r.json, "rfm");
    assert_true(json_is_object(rfm));
    json_t *ch = json_object_get(rfm, "channels");
    assert_int_equal(json_array_size(ch), 2);
    const char *seg = json_string_value(json_object_get(rfm, "segment"));
    const char *tier = json_string_value(json_object_get(rfm, "tier"));
    assert_non_null(seg);
    assert_non_null(tier);
    int64_t rs = json_integer_value(json_object_get(rfm, "r"));
    assert_true(rs >= 1 && rs <= 5);
    char expr[512];
    snprintf(expr, sizeof expr,
             "rfm_segment = '%s' and rfm_tier = '%s' and r_score = %lld and frequency = 2 "
             "and channel = 'jd'",
             seg, tier, (long long)rs);
    assert_int_equal(preview_count(&fx->srv, fx->admin, expr), 1);
    ht_resp_free(&r);
}

static void preview__errors_say_where_and_suggest(void **state)
{
    (void)state;
    struct ht_resp r;
    assert_int_equal(ht_request(&fx->srv, "POST", "/api/v1/segments/preview",
                                "{\"expression\": \"recency_days >\"}", NULL, fx->admin, &r),
                     0);
    assert_int_equal(r.status, 400);
    json_t *e = json_object_get(r.json, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "invalid_expression");
    assert_int_equal(json_integer_value(json_object_get(e, "line")), 1);
    assert_int_equal(json_integer_value(json_object_get(e, "column")), 15);
    assert_true(strlen(json_string_value(json_object_get(e, "expected"))) > 0);
    ht_resp_free(&r);
    assert_int_equal(ht_request(&fx->srv, "POST", "/api/v1/segments/preview",
                                "{\"expression\": \"frequncy > 1\"}", NULL, fx->admin, &r),
                     0);
    assert_int_equal(r.status, 400);
    e = json_object_get(r.json, "error");
    assert_string_equal(json_string_value(json_object_get(e, "suggestion")), "frequency");
    ht_resp_free(&r);
    /* errors inline (the console as the user types): 200 with the same error object, no count */
    assert_int_equal(ht_request(&fx->srv, "POST", "/api/v1/segments/preview",
                                "{\"expression\": \"frequncy > 1\", \"errors\": \"inline\"}", NULL,
                                fx->admin, &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_true(json_is_null(json_object_get(r.json, "count")));
    assert_int_equal(json_array_size(json_object_get(r.json, "members")), 0);
    e = json_object_get(r.json, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "invalid_expression");
    assert_int_equal(json_integer_value(json_object_get(e, "column")), 1);
    assert_string_equal(json_string_value(json_object_get(e, "suggestion")), "frequency");
    ht_resp_free(&r);
    /* a valid expression inline is the plain answer; an unknown errors mode is a 400 */
    assert_int_equal(ht_request(&fx->srv, "POST", "/api/v1/segments/preview",
                                "{\"expression\": \"frequency >= 0\", \"errors\": \"inline\"}",
                                NULL, fx->admin, &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_true(json_is_integer(json_object_get(r.json, "count")));
    assert_null(json_object_get(r.json, "error"));
    ht_resp_free(&r);
    assert_int_equal(ht_request(&fx->srv, "POST", "/api/v1/segments/preview",
                                "{\"expression\": \"frequency >= 0\", \"errors\": \"loud\"}", NULL,
                                fx->admin, &r),
                     0);
    assert_int_equal(r.status, 400);
    ht_resp_free(&r);
    /* agents may not preview */
    assert_int_equal(ht_request(&fx->srv, "POST", "/api/v1/segments/preview",
                                "{\"expression\": \"frequency > 1\"}", NULL, fx->agent, &r),
                     0);
    assert_int_equal(r.status, 403);
    ht_resp_free(&r);
}

static void preview__members_and_latency(void **state)
{
    (void)state;
    struct ht_resp r;
    int64_t t0 = mono_ms();
    for (int i = 0; i < 20; i++) {
        assert_int_equal(ht_request(&fx->srv, "POST", "/api/v1/segments/preview",
                                    "{\"expression\": \"frequency >= 1\", \"limit\": 5}", NULL,
                                    fx->operator_, &r),
                         0);
        assert_int_equal(r.status, 200);
        if (i < 19)
            ht_resp_free(&r);
    }
    print_message("preview over HTTP: %.1f ms per request\n", (double)(mono_ms() - t0) / 20.0);
    json_t *m = json_object_get(r.json, "members");
    assert_true(json_array_size(m) >= 1 && json_array_size(m) <= 5);
    json_t *first = json_array_get(m, 0);
    assert_true(json_integer_value(json_object_get(first, "id")) > 0);
    assert_true(json_integer_value(json_object_get(first, "frequency")) >= 1);
    assert_non_null(json_string_value(json_object_get(first, "monetary")));
    ht_resp_free(&r);
}

static void rfm__report_matches_sql_and_config_round_trips(void **state)
{
    (void)state;
    struct ht_resp r;
    assert_int_equal(
        ht_request(&fx->srv, "GET", "/api/v1/rfm/report", NULL, NULL, fx->operator_, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "buyers")), sql_int(BUYERS_SQL));
    assert_int_equal(json_array_size(json_object_get(r.json, "segments")), 8);
    ht_resp_free(&r);

    assert_int_equal(ht_request(&fx->srv, "PUT", "/api/v1/rfm/config",
                                "{\"mode\": \"thresholds\", \"thresholds\": {\"r_days\": "
                                "[7, 30, 90, 180], \"f\": [2, 3, 5, 8], \"m_yuan\": [\"50\", "
                                "\"100\", \"500\", \"1000.50\"]}}",
                                NULL, fx->admin, &r),
                     0);
    if (r.status != 200)
        fail_msg("PUT config: %ld %s", r.status, r.body);
    ht_resp_free(&r);
    assert_int_equal(
        ht_request(&fx->srv, "GET", "/api/v1/rfm/config", NULL, NULL, fx->operator_, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "mode")), "thresholds");
    json_t *m = json_object_get(json_object_get(r.json, "thresholds"), "m_yuan");
    assert_string_equal(json_string_value(json_array_get(m, 3)), "1000.50");
    ht_resp_free(&r);
    /* thresholds apply at once: a buyer with 1 order scores F = 1 */
    int64_t f1 = preview_count(&fx->srv, fx->admin, "frequency = 1");
    int64_t s1 = preview_count(&fx->srv, fx->admin, "f_score = 1 and frequency = 1");
    if (f1 != s1 || f1 == 0)
        fail_msg("frequency = 1: %lld, with f_score = 1: %lld", (long long)f1, (long long)s1);
    /* bad config */
    assert_int_equal(ht_request(&fx->srv, "PUT", "/api/v1/rfm/config",
                                "{\"thresholds\": {\"f\": [5, 3, 2, 1]}}", NULL, fx->admin, &r),
                     0);
    assert_int_equal(r.status, 400);
    ht_resp_free(&r);
    assert_int_equal(ht_request(&fx->srv, "PUT", "/api/v1/rfm/config", "{\"mode\": \"quintile\"}",
                                NULL, fx->agent, &r),
                     0);
    assert_int_equal(r.status, 403);
    ht_resp_free(&r);
    assert_int_equal(ht_request(&fx->srv, "PUT", "/api/v1/rfm/config", "{\"mode\": \"quintile\"}",
                                NULL, fx->admin, &r),
                     0);
    assert_int_equal(r.status, 200);
    ht_resp_free(&r);
}

/* The response of method path body as cookie, asserting the status; the caller frees it. */
static void request_expect(const char *method, const char *path, const char *body,
                           const char *cookie, long status, struct ht_resp *r)
{
    assert_int_equal(ht_request(&fx->srv, method, path, body, NULL, cookie, r), 0);
    if (r->status != status)
        fail_msg("%s %s: %ld, want %ld: %s", method, path, r->status, status, r->body);
}

/* Customers in the four 重要 segments (M high) of a report. */
static int64_t important_customers(json_t *report)
{
    int64_t n = 0;
    for (size_t i = 0; i < 4; i++)
        n += json_integer_value(
            json_object_get(json_array_get(json_object_get(report, "segments"), i), "customers"));
    return n;
}

static void rfm__preview_is_a_dry_run(void **state)
{
    (void)state;
    struct ht_resp live, p, after;
    request_expect("GET", "/api/v1/rfm/report", NULL, fx->operator_, 200, &live);
    int64_t buyers = json_integer_value(json_object_get(live.json, "buyers"));
    assert_true(buyers >= 2);
    assert_true(important_customers(live.json) > 0); /* someone spends at least the mean */

    /* the stored configuration previews as the live report, field for field */
    request_expect("POST", "/api/v1/rfm/preview", "{}", fx->operator_, 200, &p);
    if (!json_equal(p.json, live.json))
        fail_msg("preview of the stored config differs:\n%s\n%s", p.body, live.body);
    ht_resp_free(&p);

    /* thresholds nobody reaches: every buyer F = 1 and M low; same shape as the report */
    request_expect("POST", "/api/v1/rfm/preview",
                   "{\"mode\": \"thresholds\", \"thresholds\": {\"r_days\": [7, 30, 90, 180],"
                   " \"f\": [100, 200, 300, 400], \"m_yuan\": [\"1000000\", \"2000000\","
                   " \"3000000\", \"4000000\"]}, \"high_low\": \"thresholds\","
                   " \"high\": {\"r_days_max\": 30, \"f_min\": 100, \"m_yuan_min\": \"1000000\"}}",
                   fx->admin, 200, &p);
    const char *key;
    json_t *v;
    json_object_foreach(live.json, key, v)
    {
        json_t *pv = json_object_get(p.json, key);
        if (!pv || json_typeof(pv) != json_typeof(v))
            fail_msg("preview lacks or retypes '%s': %s", key, p.body);
    }
    assert_int_equal(json_object_size(p.json), json_object_size(live.json));
    assert_int_equal(json_integer_value(json_object_get(p.json, "buyers")), buyers);
    assert_int_equal(important_customers(p.json), 0);
    int64_t f1 = 0;
    json_t *grid = json_object_get(p.json, "grid");
    for (size_t r = 0; r < 5; r++)
        f1 += json_integer_value(json_array_get(json_array_get(grid, r), 0));
    assert_int_equal(f1, buyers);
    assert_false(json_equal(p.json, live.json));
    ht_resp_free(&p);

    /* nothing was saved or rescored */
    request_expect("GET", "/api/v1/rfm/report", NULL, fx->operator_, 200, &after);
    if (!json_equal(after.json, live.json))
        fail_msg("the live report changed after a preview:\n%s\n%s", after.body, live.body);
    ht_resp_free(&after);
    request_expect("GET", "/api/v1/rfm/config", NULL, fx->operator_, 200, &after);
    assert_string_equal(json_string_value(json_object_get(after.json, "mode")), "quintile");
    ht_resp_free(&after);

    /* invalid configurations: 400 as for PUT; agents may not */
    request_expect("POST", "/api/v1/rfm/preview", "{\"thresholds\": {\"f\": [5, 3, 2, 1]}}",
                   fx->admin, 400, &p);
    ht_resp_free(&p);
    request_expect("POST", "/api/v1/rfm/preview", "{\"mode\": \"deciles\"}", fx->admin, 400, &p);
    ht_resp_free(&p);
    request_expect("POST", "/api/v1/rfm/preview", "{\"tiers\": [{\"name\": \"a\", \"r\": [4, 2]}]}",
                   fx->admin, 400, &p);
    ht_resp_free(&p);
    request_expect("POST", "/api/v1/rfm/preview", "{}", fx->agent, 403, &p);
    ht_resp_free(&p);
    ht_resp_free(&live);
}

static void cli__rfm_and_segment_count_agree_with_the_api(void **state)
{
    (void)state;
    char out[8192];
    const char *const a1[] = {"segment", "count", "frequency >= 1", "--json", NULL};
    assert_int_equal(ht_cli(&fx->srv, a1, out, sizeof out), 0);
    char want[64];
    snprintf(want, sizeof want, "{\"count\": %lld}", (long long)sql_int(BUYERS_SQL));
    assert_non_null(strstr(out, want));
    const char *const a2[] = {"rfm", "--json", "--now", "2026-03-10T00:00:00+08:00", NULL};
    assert_int_equal(ht_cli(&fx->srv, a2, out, sizeof out), 0);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "buyers")), sql_int(BUYERS_SQL));
    assert_int_equal(json_object_size(json_object_get(j, "segments")), 8);
    assert_non_null(json_object_get(json_object_get(j, "tiers"), "高价值客户"));
    json_decref(j);
}

static void sync__second_server_on_the_same_database_sees_writes_within_a_second(void **state)
{
    (void)state;
    struct ht_server b = fx->srv; /* same database and directory */
    b.pid = 0;
    b.pg_dbname[0] = '\0'; /* the first server owns (and drops) the database */
    static const char *const env[] = {NOW_ENV, NULL};
    assert_int_equal(ht_server_restart(&b, env), 0);
    char cookie[256];
    assert_int_equal(ht_login(&b, "admin", "admin-pass-1", cookie, sizeof cookie), 0);
    int64_t before = preview_count(&b, cookie, "frequency >= 1");
    assert_int_equal(before, sql_int(BUYERS_SQL));
    post_orders(&fx->srv, fx->admin,
                "{\"orders\": [{\"shop\":\"引擎店\",\"channel\":\"taobao\",\"order_no\":\"E-9\","
                "\"status\":\"paid\",\"created_at\":\"2026-03-09T10:00:00+08:00\","
                "\"paid_at\":\"2026-03-09T10:00:00+08:00\",\"paid_fen\":100,"
                "\"buyer\":{\"buyer_id\":\"tb_new9\"}}]}");
    int64_t ms = wait_count(&b, cookie, "frequency >= 1", before + 1);
    print_message("write through server A -> read through server B: %lld ms\n", (long long)ms);
    assert_true(ms < 1000);
    assert_int_equal(ht_server_signal(&b, SIGTERM), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sync__rest_ingest_shows_in_counts_within_a_second),
        cmocka_unit_test(sync__rest_events_show_in_event_counts),
        cmocka_unit_test(sync__cli_import_in_another_process_is_seen_by_polling),
        cmocka_unit_test(sync__merge_moves_history_to_the_survivor),
        cmocka_unit_test(preview__errors_say_where_and_suggest),
        cmocka_unit_test(preview__members_and_latency),
        cmocka_unit_test(rfm__report_matches_sql_and_config_round_trips),
        cmocka_unit_test(rfm__preview_is_a_dry_run),
        cmocka_unit_test(cli__rfm_and_segment_count_agree_with_the_api),
        cmocka_unit_test(sync__second_server_on_the_same_database_sees_writes_within_a_second),
    };
    return cmocka_run_group_tests_name("engine_api", tests, group_setup, group_teardown);
}
