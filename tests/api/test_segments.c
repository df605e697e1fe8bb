/*
 * test_segments.c — saved segments over HTTP: create/list/get/update/delete with expression
 * errors placed by line and column, 409 for duplicate names and for deleting or renaming a
 * segment another one uses through in_segment, counts kept current after data arrives through
 * the REST ingest, members paged by every sort (each member exactly once, in order), CSV export
 * (BOM, one row per member) and XLSX export (a zip whose sheet1.xml has one <row> per member
 * plus the header), phones masked for the operator and clear for the manager, and the CLI export.
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
#define NCUST   24

struct fixture {
    struct ht_server srv;
    char admin[256], manager[256], operator_[256], agent[256];
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

/* NCUST customers; customer i pays 10 * (i + 1) yuan on day i + 1 of February; every fourth a
 * second order in March; every sixth only a cancelled order. */
static void post_orders(int first, int n, const char *tag)
{
    char *body = malloc(64 * 1024);
    assert_non_null(body);
    size_t len = 0;
    len += (size_t)snprintf(body + len, 64 * 1024 - len, "{\"orders\": [");
    for (int i = first; i < first + n; i++) {
        bool cancelled = i % 6 == 5;
        char paid_at[64] = "";
        if (!cancelled)
            snprintf(paid_at, sizeof paid_at, ",\"paid_at\":\"2026-02-%02dT10:05:00+08:00\"",
                     i % 28 + 1);
        len += (size_t)snprintf(
            body + len, 64 * 1024 - len,
            "%s{\"shop\":\"分群店\",\"channel\":\"taobao\",\"order_no\":\"%s-%d\","
            "\"status\":\"%s\",\"created_at\":\"2026-02-%02dT10:00:00+08:00\"%s,"
            "\"paid_fen\":%d,\"buyer\":{\"buyer_id\":\"%s_%d\",\"nick\":\"买家%d\","
            "\"phone\":\"1390000%04d\"}}",
            i == first ? "" : ",", tag, i, cancelled ? "cancelled" : "completed", i % 28 + 1,
            paid_at, 1000 * (i + 1), tag, i, i, i);
        if (i % 4 == 0 && !cancelled)
            len += (size_t)snprintf(
                body + len, 64 * 1024 - len,
                ",{\"shop\":\"分群店\",\"channel\":\"taobao\",\"order_no\":\"%s-%d-b\","
                "\"status\":\"paid\",\"created_at\":\"2026-03-01T10:00:00+08:00\","
                "\"paid_at\":\"2026-03-01T10:00:00+08:00\",\"paid_fen\":500,"
                "\"buyer\":{\"buyer_id\":\"%s_%d\"}}",
                tag, i, tag, i);
    }
    snprintf(body + len, 64 * 1024 - len, "]}");
    struct ht_resp r = req(fx->admin, "POST", "/api/v1/orders", body, 200);
    if (json_integer_value(json_object_get(r.json, "rejected")) != 0)
        fail_msg("rejected: %s", r.body);
    ht_resp_free(&r);
    free(body);
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

static int group_setup(void **state)
{
    (void)state;
    fx = calloc(1, sizeof *fx);
    static const char *const env[] = {NOW_ENV, NULL};
    if (!fx || ht_server_start(&fx->srv, env) != 0)
        return -1;
    if (ht_login(&fx->srv, "admin", "admin-pass-1", fx->admin, sizeof fx->admin) ||
        ht_login(&fx->srv, "manager1", "manager1-pass", fx->manager, sizeof fx->manager) ||
        ht_login(&fx->srv, "operator1", "operator1-pass", fx->operator_, sizeof fx->operator_) ||
        ht_login(&fx->srv, "agent1", "agent1-pass", fx->agent, sizeof fx->agent))
        return -1;
    post_orders(0, NCUST, "tb");
    /* wait for the engine to see them */
    int64_t t0 = mono_ms();
    while (preview_count("frequency >= 0") < NCUST && mono_ms() - t0 < 3000)
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

/* POSTs a segment; returns the response (status checked against want). */
static struct ht_resp create(const char *cookie, const char *name, const char *expr, long want)
{
    json_t *b =
        json_pack("{s:s, s:s, s:s}", "name", name, "expression", expr, "description", "测试");
    char *text = json_dumps(b, 0);
    struct ht_resp r = req(cookie, "POST", "/api/v1/segments", text, want);
    free(text);
    json_decref(b);
    return r;
}

static int64_t id_of(const struct ht_resp *r)
{
    return (int64_t)json_integer_value(json_object_get(r->json, "id"));
}

static void crud__validation_conflicts_and_in_segment(void **state)
{
    (void)state;
    char path[128];
    struct ht_resp r = create(fx->operator_, "大额客户", "monetary >= 100", 201);
    int64_t big = id_of(&r);
    assert_true(big > 0);
    assert_int_equal(json_integer_value(json_object_get(r.json, "count")),
                     preview_count("monetary >= 100"));
    assert_string_equal(json_string_value(json_object_get(r.json, "description")), "测试");
    ht_resp_free(&r);

    /* the agent reads but does not write */
    r = create(fx->agent, "x", "frequency > 1", 403);
    ht_resp_free(&r);
    r = req(fx->agent, "GET", "/api/v1/segments", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
    json_t *it = json_array_get(json_object_get(r.json, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(it, "name")), "大额客户");
    assert_non_null(json_object_get(it, "counted_at"));
    assert_non_null(json_object_get(it, "updated_at"));
    ht_resp_free(&r);

    /* duplicate name */
    r = create(fx->admin, "大额客户", "frequency > 1", 409);
    ht_resp_free(&r);

    /* expression errors carry the place */
    r = create(fx->admin, "坏的", "monetary >=", 400);
    json_t *e = json_object_get(r.json, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "invalid_expression");
    assert_int_equal(json_integer_value(json_object_get(e, "line")), 1);
    assert_true(json_integer_value(json_object_get(e, "column")) >= 11);
    assert_true(strlen(json_string_value(json_object_get(e, "expected"))) > 0);
    ht_resp_free(&r);
    r = create(fx->admin, "坏的", "monetry > 1", 400);
    e = json_object_get(r.json, "error");
    assert_string_equal(json_string_value(json_object_get(e, "suggestion")), "monetary");
    ht_resp_free(&r);
    r = create(fx->admin, "坏的", "in_segment(\"没有\")", 400);
    ht_resp_free(&r);

    /* in_segment resolves saved segments */
    r = create(fx->admin, "大额近客", "in_segment(\"大额客户\") and recency_days < 20", 201);
    int64_t near = id_of(&r);
    assert_int_equal(json_integer_value(json_object_get(r.json, "count")),
                     preview_count("monetary >= 100 and recency_days < 20"));
    ht_resp_free(&r);
    /* the live preview resolves saved segments too, exactly as saving does */
    assert_int_equal(preview_count("in_segment(\"大额近客\")"),
                     preview_count("monetary >= 100 and recency_days < 20"));

    /* delete and rename of a used segment: 409; a cycle: 400 */
    snprintf(path, sizeof path, "/api/v1/segments/%lld", (long long)big);
    r = req(fx->admin, "DELETE", path, NULL, 409);
    assert_non_null(strstr(r.body, "大额近客"));
    ht_resp_free(&r);
    r = req(fx->admin, "PATCH", path, "{\"name\": \"改名\"}", 409);
    ht_resp_free(&r);
    r = req(fx->admin, "PATCH", path, "{\"expression\": \"in_segment('大额近客')\"}", 400);
    ht_resp_free(&r);
    r = req(fx->admin, "PATCH", path, "{\"expression\": \"monetary >= 50\", \"description\": \"\"}",
            200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "count")),
                     preview_count("monetary >= 50"));
    assert_string_equal(json_string_value(json_object_get(r.json, "description")), "");
    ht_resp_free(&r);
    r = req(fx->admin, "PATCH", path, "{\"bogus\": 1}", 400);
    ht_resp_free(&r);

    /* the user goes first, then the used one */
    char near_path[128];
    snprintf(near_path, sizeof near_path, "/api/v1/segments/%lld", (long long)near);
    r = req(fx->admin, "DELETE", near_path, NULL, 204);
    ht_resp_free(&r);
    r = req(fx->admin, "PATCH", path, "{\"name\": \"改名\"}", 200);
    ht_resp_free(&r);
    r = req(fx->admin, "DELETE", path, NULL, 204);
    ht_resp_free(&r);
    r = req(fx->admin, "GET", path, NULL, 404);
    ht_resp_free(&r);
    r = req(fx->admin, "GET", "/api/v1/segments", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 0);
    ht_resp_free(&r);
}

static void count__kept_current_after_ingest(void **state)
{
    (void)state;
    struct ht_resp r = create(fx->admin, "买家", "frequency >= 1", 201);
    int64_t id = id_of(&r);
    int64_t before = json_integer_value(json_object_get(r.json, "count"));
    ht_resp_free(&r);
    post_orders(100, 6, "dy"); /* 5 new buyers (one cancelled) */
    char path[128];
    snprintf(path, sizeof path, "/api/v1/segments/%lld", (long long)id);
    int64_t t0 = mono_ms(), got = -1;
    while (mono_ms() - t0 < 2000) {
        r = req(fx->admin, "GET", path, NULL, 200);
        got = json_integer_value(json_object_get(r.json, "count"));
        ht_resp_free(&r);
        if (got == before + 5)
            break;
        sleep_ms(50);
    }
    print_message("count current after %lld ms\n", (long long)(mono_ms() - t0));
    assert_int_equal(got, before + 5);
    r = req(fx->admin, "DELETE", path, NULL, 204);
    ht_resp_free(&r);
}

/* Pages through segment id with sort/order; checks each member once and the order. */
static void page_all(int64_t id, const char *sort, const char *order, int64_t want)
{
    char path[512], cursor[128] = "";
    int64_t seen[256];
    size_t n = 0;
    bool have_prev = false, prev_missing = false;
    double prev = 0;
    int64_t prev_id = 0;
    bool desc = strcmp(order, "desc") == 0;
    for (int pages = 0; pages < 100; pages++) {
        snprintf(path, sizeof path, "/api/v1/segments/%lld/members?sort=%s&order=%s&limit=7%s%s",
                 (long long)id, sort, order, cursor[0] ? "&cursor=" : "", cursor);
        struct ht_resp r = req(fx->admin, "GET", path, NULL, 200);
        assert_int_equal(json_integer_value(json_object_get(r.json, "count")), want);
        json_t *items = json_object_get(r.json, "items");
        assert_true(json_array_size(items) <= 7);
        size_t i;
        json_t *m;
        json_array_foreach(items, i, m)
        {
            int64_t mid = json_integer_value(json_object_get(m, "id"));
            for (size_t k = 0; k < n; k++)
                assert_true(seen[k] != mid);
            assert_true(n < 256);
            seen[n++] = mid;
            json_t *v = json_object_get(m, strcmp(sort, "monetary") == 0 ? "monetary_fen" : sort);
            bool missing = json_is_null(v);
            double x = json_is_string(v)   ? strtod(json_string_value(v), NULL)
                       : json_is_number(v) ? json_number_value(v)
                                           : 0;
            if (have_prev) {
                assert_true(!prev_missing || missing); /* missing values last */
                if (!missing && !prev_missing) {
                    assert_true(desc ? x <= prev : x >= prev);
                    if (x == prev)
                        assert_true(desc ? mid < prev_id : mid > prev_id);
                }
            }
            have_prev = true;
            prev_missing = missing;
            prev = x;
            prev_id = mid;
        }
        json_t *nc = json_object_get(r.json, "next_cursor");
        if (json_is_null(nc)) {
            ht_resp_free(&r);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", json_string_value(nc));
        ht_resp_free(&r);
    }
    assert_int_equal((int64_t)n, want);
}

static void members__every_sort_pages_each_member_once(void **state)
{
    (void)state;
    struct ht_resp r = create(fx->admin, "全部", "frequency >= 0", 201);
    int64_t id = id_of(&r);
    int64_t count = json_integer_value(json_object_get(r.json, "count"));
    ht_resp_free(&r);
    assert_true(count >= NCUST);
    static const char *const sorts[] = {"id", "recency_days", "frequency", "monetary", "aov"};
    for (size_t s = 0; s < 5; s++) {
        page_all(id, sorts[s], "asc", count);
        page_all(id, sorts[s], "desc", count);
    }
    char path[256];
    snprintf(path, sizeof path, "/api/v1/segments/%lld/members?sort=nope", (long long)id);
    r = req(fx->admin, "GET", path, NULL, 400);
    ht_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/segments/%lld/members?sort=aov&cursor=0.0.0.1.2",
             (long long)id);
    r = req(fx->admin, "GET", path, NULL, 400);
    ht_resp_free(&r);
    r = req(fx->admin, "GET", "/api/v1/segments/999999/members", NULL, 404);
    ht_resp_free(&r);

    /* phones: masked for the operator and the agent, clear for the manager */
    snprintf(path, sizeof path, "/api/v1/segments/%lld/members?limit=3", (long long)id);
    const char *who[] = {fx->operator_, fx->agent, fx->manager};
    for (int w = 0; w < 3; w++) {
        r = req(who[w], "GET", path, NULL, 200);
        const char *phone = json_string_value(
            json_object_get(json_array_get(json_object_get(r.json, "items"), 0), "phone"));
        assert_non_null(phone);
        if (w < 2)
            assert_non_null(strchr(phone, '*'));
        else
            assert_null(strchr(phone, '*'));
        ht_resp_free(&r);
    }
}

static int64_t find_segment(const char *name)
{
    struct ht_resp r = req(fx->admin, "GET", "/api/v1/segments", NULL, 200);
    size_t i;
    json_t *s;
    int64_t id = 0;
    json_array_foreach(json_object_get(r.json, "items"), i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0)
            id = json_integer_value(json_object_get(s, "id"));
    }
    ht_resp_free(&r);
    return id;
}

static size_t count_lines(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += s[i] == '\n';
    return n;
}

#define ZH_HEADER                                                                                                              \
    "客户ID,昵称,手机号,省份,城市,距上次购买天数,购买次数,累计消费（元）,客单价（元）,RFM " \
    "分类,RFM 层级\r\n"
#define EN_HEADER                                                                                  \
    "Customer ID,Nick,Phone,Province,City,Days since last order,Orders,Net spend (CNY),AOV "       \
    "(CNY),RFM segment,RFM tier\r\n"

/* Checks every data row of a CSV (after the BOM and the header) whose columns nick_col and
 * phone_col hold 买家N and that buyer's phone: 1390000NNNN (11 digits, no +86) in clear, or
 * 139****NNNN masked. Returns the rows checked. */
static size_t check_phones(const char *body, size_t nick_col, size_t phone_col, bool masked)
{
    const char *line = strstr(body, "\r\n");
    assert_non_null(line);
    line += 2;
    size_t rows = 0;
    while (*line) {
        const char *end = strstr(line, "\r\n");
        assert_non_null(end);
        char cells[16][128];
        size_t n = 0;
        for (const char *p = line; p <= end && n < 16; n++) {
            size_t len = strcspn(p, ",\r");
            assert_true(len < sizeof cells[0]);
            memcpy(cells[n], p, len);
            cells[n][len] = '\0';
            p += len + 1;
        }
        assert_true(n > nick_col && n > phone_col);
        int buyer = -1;
        assert_int_equal(sscanf(cells[nick_col], "买家%d", &buyer), 1);
        char want[32];
        snprintf(want, sizeof want, masked ? "139****%04d" : "1390000%04d", buyer);
        assert_string_equal(cells[phone_col], want);
        rows++;
        line = end + 2;
    }
    return rows;
}

static void export__csv_has_bom_one_row_per_member_and_masks_by_role(void **state)
{
    (void)state;
    struct ht_resp r = create(fx->admin, "大单买家", "monetary >= 100", 201);
    int64_t id = id_of(&r);
    int64_t count = json_integer_value(json_object_get(r.json, "count"));
    ht_resp_free(&r);
    assert_true(count > 3);
    char path[256], buf[512];
    snprintf(path, sizeof path, "/api/v1/segments/%lld/export?format=csv", (long long)id);
    r = req(fx->manager, "GET", path, NULL, 200);
    assert_true(r.body_len > 3);
    assert_memory_equal(r.body, "\xEF\xBB\xBF", 3);
    assert_int_equal(count_lines(r.body, r.body_len), (size_t)count + 1);
    /* the header row in the seller's words (zh-CN by default); phones as 11 digits */
    assert_memory_equal(r.body + 3, ZH_HEADER, strlen(ZH_HEADER));
    assert_int_equal(check_phones(r.body, 1, 2, false), (size_t)count);
    assert_null(strstr(r.body, "+86"));
    assert_non_null(ht_resp_header(&r, "Content-Type", buf, sizeof buf));
    assert_non_null(strstr(buf, "text/csv"));
    assert_non_null(ht_resp_header(&r, "Content-Disposition", buf, sizeof buf));
    assert_non_null(strstr(buf, "filename*=UTF-8''%E5%A4%A7"));
    assert_null(strstr(r.body, "*")); /* clear phones for the manager */
    ht_resp_free(&r);

    /* lang=en: English headers, the same rows */
    snprintf(path, sizeof path, "/api/v1/segments/%lld/export?format=csv&lang=en", (long long)id);
    r = req(fx->manager, "GET", path, NULL, 200);
    assert_memory_equal(r.body + 3, EN_HEADER, strlen(EN_HEADER));
    assert_int_equal(check_phones(r.body, 1, 2, false), (size_t)count);
    ht_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/segments/%lld/export?lang=fr", (long long)id);
    r = req(fx->manager, "GET", path, NULL, 400);
    assert_string_equal(ht_error_code(&r), "invalid_argument");
    ht_resp_free(&r);

    /* columns= takes the stable keys in any language; the operator sees masked phones */
    snprintf(path, sizeof path, "/api/v1/segments/%lld/export?columns=phone,nick&lang=en",
             (long long)id);
    r = req(fx->operator_, "GET", path, NULL, 200);
    assert_memory_equal(r.body + 3, "Phone,Nick\r\n", 12);
    assert_int_equal(check_phones(r.body, 1, 0, true), (size_t)count);
    ht_resp_free(&r);

    snprintf(path, sizeof path, "/api/v1/segments/%lld/export?columns=id,phone", (long long)id);
    r = req(fx->operator_, "GET", path, NULL, 200);
    assert_int_equal(count_lines(r.body, r.body_len), (size_t)count + 1);
    assert_memory_equal(r.body + 3, "客户ID,手机号\r\n", strlen("客户ID,手机号\r\n"));
    assert_non_null(strstr(r.body + 3, "****"));
    ht_resp_free(&r);

    snprintf(path, sizeof path, "/api/v1/segments/%lld/export?columns=id,bogus", (long long)id);
    r = req(fx->admin, "GET", path, NULL, 400);
    ht_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/segments/%lld/export", (long long)id);
    r = req(fx->agent, "GET", path, NULL, 403);
    ht_resp_free(&r);

    /* the four exports are audited, newest first: the operator's two with masked phones, then
     * the manager's two with clear ones; the refused and the failed ones are not */
    r = req(fx->admin, "GET", "/api/v1/audit?action=segment.export&limit=10", NULL, 200);
    json_t *items = json_object_get(r.json, "items");
    assert_int_equal(json_array_size(items), 4);
    char target[64];
    snprintf(target, sizeof target, "segment:%lld", (long long)id);
    for (size_t i = 0; i < 4; i++) {
        json_t *e = json_array_get(items, i);
        assert_string_equal(json_string_value(json_object_get(e, "target")), target);
        const char *d = json_string_value(json_object_get(e, "details"));
        json_t *dj = d ? json_loads(d, 0, NULL) : json_incref(json_object_get(e, "details"));
        assert_non_null(dj);
        assert_int_equal(json_integer_value(json_object_get(dj, "count")), count);
        assert_int_equal(json_is_true(json_object_get(dj, "clear_pii")), i >= 2);
        json_decref(dj);
    }
    ht_resp_free(&r);
}

/* GETs the segment's XLSX export (query appended) and returns its sheet1.xml (caller frees). */
static char *xlsx_sheet(int64_t id, const char *query)
{
    char path[256];
    snprintf(path, sizeof path, "/api/v1/segments/%lld/export?format=xlsx%s", (long long)id, query);
    struct ht_resp r = req(fx->admin, "GET", path, NULL, 200);
    assert_true(r.body_len > 4);
    assert_memory_equal(r.body, "PK\x03\x04", 4);
    char file[600], cmd[700];
    snprintf(file, sizeof file, "%s/test-export.xlsx", fx->srv.dir);
    FILE *f = fopen(file, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(r.body, 1, r.body_len, f), r.body_len);
    fclose(f);
    ht_resp_free(&r);
    snprintf(cmd, sizeof cmd, "unzip -p '%s' xl/worksheets/sheet1.xml", file);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, len = 0, got;
    char *xml = malloc(cap + 1);
    assert_non_null(xml);
    while ((got = fread(xml + len, 1, cap - len, p)) > 0) {
        len += got;
        if (len == cap) {
            cap *= 2;
            xml = realloc(xml, cap + 1);
            assert_non_null(xml);
        }
    }
    xml[len] = '\0';
    assert_int_equal(pclose(p), 0);
    remove(file);
    return xml;
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *s = hay; (s = strstr(s, needle)) != NULL; s++)
        n++;
    return n;
}

static void export__xlsx_is_a_workbook_with_one_row_per_member(void **state)
{
    (void)state;
    int64_t id = find_segment("大单买家");
    assert_true(id > 0);
    char path[256];
    snprintf(path, sizeof path, "/api/v1/segments/%lld", (long long)id);
    struct ht_resp r = req(fx->admin, "GET", path, NULL, 200);
    int64_t count = json_integer_value(json_object_get(r.json, "count"));
    ht_resp_free(&r);

    char *xml = xlsx_sheet(id, "");
    assert_int_equal(count_of(xml, "<row "), (size_t)count + 1);
    /* zh-CN headers, bold (a style on every header cell), frozen, with a filter and widths */
    assert_non_null(strstr(xml, "<t>客户ID</t>"));
    assert_non_null(strstr(xml, "<t>累计消费（元）</t>"));
    assert_non_null(strstr(xml, "<t>RFM 层级</t>"));
    assert_non_null(strstr(xml, "<c r=\"A1\" s=\""));
    assert_non_null(strstr(xml, "<c r=\"K1\" s=\""));
    assert_non_null(strstr(xml, "state=\"frozen\""));
    assert_non_null(strstr(xml, "ySplit=\"1\""));
    assert_non_null(strstr(xml, "<autoFilter ref=\"A1:K"));
    assert_non_null(strstr(xml, "<col min=\"1\" max=\"1\" width="));
    /* phones are text of 11 digits; ids and amounts are numbers */
    assert_int_equal(count_of(xml, "<t>1390000"), (size_t)count);
    assert_null(strstr(xml, "+86"));
    assert_null(strstr(xml, "<c r=\"A2\" t="));
    free(xml);

    xml = xlsx_sheet(id, "&lang=en&columns=id,monetary,phone");
    assert_int_equal(count_of(xml, "<row "), (size_t)count + 1);
    assert_non_null(strstr(xml, "<t>Customer ID</t>"));
    assert_non_null(strstr(xml, "<t>Net spend (CNY)</t>"));
    assert_non_null(strstr(xml, "<t>Phone</t>"));
    assert_null(strstr(xml, "<t>客户ID</t>"));
    assert_null(strstr(xml, "<c r=\"B2\" t="));
    assert_non_null(strstr(xml, "<c r=\"C2\" t=\"inlineStr\"><is><t>1390000"));
    free(xml);
}

static void cli__segment_export_writes_the_same_rows(void **state)
{
    (void)state;
    int64_t id = find_segment("大单买家");
    char ids[24], file[600], out[4096];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    snprintf(file, sizeof file, "%s/cli-export.csv", fx->srv.dir);
    const char *const args[] = {"segment", "export", "--id", ids, "-o", file, NULL};
    assert_int_equal(ht_cli(&fx->srv, args, out, sizeof out), 0);
    FILE *f = fopen(file, "rb");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 20);
    size_t len = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    assert_memory_equal(buf, "\xEF\xBB\xBF", 3);
    assert_memory_equal(buf + 3, ZH_HEADER, strlen(ZH_HEADER));
    assert_int_equal(count_lines(buf, len), (size_t)preview_count("monetary >= 100") + 1);
    assert_int_equal(check_phones(buf, 1, 2, false), (size_t)preview_count("monetary >= 100"));
    free(buf);
    const char *const args_en[] = {"segment", "export", "--id", ids, "--lang",
                                   "en",      "-o",     file,   NULL};
    assert_int_equal(ht_cli(&fx->srv, args_en, out, sizeof out), 0);
    f = fopen(file, "rb");
    assert_non_null(f);
    buf = calloc(1, 1 << 20);
    len = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    assert_memory_equal(buf + 3, EN_HEADER, strlen(EN_HEADER));
    assert_int_equal(count_lines(buf, len), (size_t)preview_count("monetary >= 100") + 1);
    free(buf);
    const char *const args_bad[] = {"segment", "export", "--id", ids, "--lang", "de", NULL};
    assert_int_equal(ht_cli(&fx->srv, args_bad, out, sizeof out), 2);
    const char *const args2[] = {"segment", "export", "in_segment(\"大单买家\") and frequency >= 2",
                                 "-o",      file,     NULL};
    assert_int_equal(ht_cli(&fx->srv, args2, out, sizeof out), 0);
    remove(file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crud__validation_conflicts_and_in_segment),
        cmocka_unit_test(count__kept_current_after_ingest),
        cmocka_unit_test(members__every_sort_pages_each_member_once),
        cmocka_unit_test(export__csv_has_bom_one_row_per_member_and_masks_by_role),
        cmocka_unit_test(export__xlsx_is_a_workbook_with_one_row_per_member),
        cmocka_unit_test(cli__segment_export_writes_the_same_rows),
    };
    return cmocka_run_group_tests_name("segments_api", tests, group_setup, group_teardown);
}
