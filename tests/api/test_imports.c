/*
 * test_imports.c — file imports as background jobs over HTTP, and the demo shop:
 *   - POST /api/v1/imports as multipart/form-data and as a raw body: 202 + Location, the job
 *     runs in the background, GET /api/v1/imports/{id} ends "done" with exact counters, the
 *     orders can be found, the uploaded files are deleted afterwards, a re-import is unchanged;
 *   - a bad row is rejected and listed with file, record, line, column and message while the
 *     good rows are imported;
 *   - several files in one upload, file names sanitised and made unique;
 *   - refusals before the body is read: 403 for agent/associate, 400 for a bad format, 415 for a
 *     url-encoded form; 400 for an unknown form field or an empty file; 404 for unknown ids;
 *   - 413 over upload_limit (Content-Length, chunked, multipart), leaving no job behind;
 *   - a job interrupted by kill -9, and one interrupted by a graceful stop, complete after a
 *     restart with exactly the right counts (the first run's orders reported unchanged);
 *   - `huike demo`: the same counts (orders and events) from the same seed in two fresh
 *     databases; events shaped like a shop's (more views than carts, more carts than orders);
 *     a second run on the same database is refused, and with --force changes nothing.
 *
 * One server (group setup) serves the tests that share it; the others start their own. Run by
 * ctest on SQLite and PostgreSQL.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "harness.h"

#define HEADER                                                                                     \
    "order_no,buyer_id,buyer_nick,phone,province,city,channel,shop,status,created_at,paid_at,"     \
    "received_at,product_id,product_title,category,quantity,unit_price,paid_amount,"               \
    "refund_amount,coupon_code\n"

/* Three orders, four lines, two buyers. */
static const char GOOD_CSV[] =
    HEADER "IMP1001,u1,小鹿同学,13800138001,浙江省,杭州市,taobao,测试店,completed,"
           "2026-03-01T10:00:00+08:00,2026-03-01T10:05:00+08:00,2026-03-04T10:00:00+08:00,P1,"
           "碎花连衣裙,女装/连衣裙,1,199.00,189.00,,SPRING10\n"
           "IMP1001,u1,小鹿同学,13800138001,浙江省,杭州市,taobao,测试店,completed,"
           "2026-03-01T10:00:00+08:00,2026-03-01T10:05:00+08:00,2026-03-04T10:00:00+08:00,P2,"
           "针织开衫,女装/针织衫,2,88.50,170.00,,SPRING10\n"
           "IMP1002,u2,阿木,13800138002,广东省,深圳市,taobao,测试店,paid,"
           "2026-03-02T09:30:00+08:00,2026-03-02T09:31:00+08:00,,P1,碎花连衣裙,女装/连衣裙,1,"
           "199.00,199.00,,\n"
           "IMP1003,u1,小鹿同学,13800138001,浙江省,杭州市,taobao,测试店,completed,"
           "2026-03-05T20:00:00+08:00,2026-03-05T20:01:00+08:00,2026-03-08T12:00:00+08:00,P3,"
           "每日坚果,食品/坚果,3,89.90,269.70,,\n";

/* Record 2 (line 3) has an amount that is not one. */
static const char BAD_CSV[] =
    HEADER "BAD1001,u9,好人,13800138009,江苏省,苏州市,jd,测试店,completed,"
           "2026-04-01T10:00:00+08:00,2026-04-01T10:05:00+08:00,,P1,碎花连衣裙,女装/连衣裙,1,"
           "199.00,199.00,,\n"
           "BAD1002,u8,坏行,13800138008,江苏省,苏州市,jd,测试店,completed,"
           "2026-04-01T11:00:00+08:00,2026-04-01T11:05:00+08:00,,P1,碎花连衣裙,女装/连衣裙,1,"
           "199.00,abc,,\n";

struct fixture {
    struct ht_server srv;
    char admin[256];
};

/* ---- helpers ------------------------------------------------------------------------------- */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_int_t jint(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        fail_msg("'%s' is not an integer", key);
    return json_integer_value(v);
}

static const char *jstr(json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v ? v : "";
}

/* A raw upload: the body is the file. query: "?filename=...&format=..." or "". */
static long upload_raw(struct ht_server *s, const char *cookie, const char *query, const char *body,
                       const char *const *extra_headers, struct ht_resp *out)
{
    char path[512];
    snprintf(path, sizeof path, "/api/v1/imports%s", query);
    const char *headers[4] = {"Content-Type: text/csv", NULL, NULL, NULL};
    for (size_t i = 0; extra_headers && extra_headers[i] && i < 2; i++)
        headers[i + 1] = extra_headers[i];
    assert_int_equal(ht_request(s, "POST", path, body, headers, cookie, out), 0);
    return out->status;
}

struct part {
    const char *name;
    const char *filename; /* NULL: a plain field */
    const char *data;
    size_t len; /* 0: strlen(data) */
};

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
    char **buf = userdata;
    size_t old = *buf ? strlen(*buf) : 0, add = size * n;
    char *p = realloc(*buf, old + add + 1);
    if (!p)
        return 0;
    memcpy(p + old, data, add);
    p[old + add] = '\0';
    *buf = p;
    return add;
}

/* A multipart/form-data upload with libcurl's mime API; returns the status, *json the reply. */
static long upload_multipart(struct ht_server *s, const char *cookie, const struct part *parts,
                             size_t n, json_t **json, char *location, size_t loc_size)
{
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_mime *mime = curl_mime_init(c);
    for (size_t i = 0; i < n; i++) {
        curl_mimepart *mp = curl_mime_addpart(mime);
        curl_mime_name(mp, parts[i].name);
        curl_mime_data(mp, parts[i].data, parts[i].len ? parts[i].len : CURL_ZERO_TERMINATED);
        if (parts[i].filename) {
            curl_mime_filename(mp, parts[i].filename);
            curl_mime_type(mp, "text/csv");
        }
    }
    char url[256];
    snprintf(url, sizeof url, "%s/api/v1/imports", s->base_url);
    char *body = NULL, *hdrs = NULL;
    struct curl_slist *hl = curl_slist_append(NULL, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_COOKIE, cookie);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hdrs);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK)
        fail_msg("multipart upload: %s", curl_easy_strerror(cc));
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    *json = body ? json_loads(body, 0, NULL) : NULL;
    if (location && loc_size) {
        location[0] = '\0';
        const char *l = hdrs ? strstr(hdrs, "Location: ") : NULL;
        if (l)
            snprintf(location, loc_size, "%.*s", (int)strcspn(l + 10, "\r\n"), l + 10);
    }
    free(body);
    free(hdrs);
    curl_slist_free_all(hl);
    curl_mime_free(mime);
    curl_easy_cleanup(c);
    return status;
}

/* GET /api/v1/imports/{id} until the job is done or failed (or until ready(job) says so). */
static json_t *wait_job(struct ht_server *s, const char *cookie, json_int_t id,
                        bool (*ready)(json_t *job), int timeout_ms)
{
    char path[64];
    snprintf(path, sizeof path, "/api/v1/imports/%lld", (long long)id);
    int64_t deadline = mono_ms() + timeout_ms;
    for (;;) {
        struct ht_resp r;
        assert_int_equal(ht_request(s, "GET", path, NULL, NULL, cookie, &r), 0);
        if (r.status != 200)
            fail_msg("GET %s: %ld %s", path, r.status, r.body);
        const char *st = jstr(r.json, "status");
        if (ready ? ready(r.json) : (strcmp(st, "done") == 0 || strcmp(st, "failed") == 0)) {
            json_t *j = json_incref(r.json);
            ht_resp_free(&r);
            return j;
        }
        ht_resp_free(&r);
        if (mono_ms() > deadline)
            fail_msg("import %lld still '%s' after %d ms", (long long)id, st, timeout_ms);
        sleep_ms(50);
    }
}

static void assert_result(json_t *job, json_int_t rows, json_int_t created, json_int_t updated,
                          json_int_t unchanged, json_int_t items, json_int_t rejected)
{
    json_t *res = json_object_get(job, "result");
    if (!json_is_object(res)) {
        char *d = json_dumps(job, 0);
        fail_msg("no result in %s", d);
    }
    assert_int_equal(jint(res, "rows"), rows);
    assert_int_equal(jint(res, "orders_created"), created);
    assert_int_equal(jint(res, "orders_updated"), updated);
    assert_int_equal(jint(res, "orders_unchanged"), unchanged);
    assert_int_equal(jint(res, "items_created"), items);
    assert_int_equal(jint(res, "rejected"), rejected);
    assert_non_null(json_object_get(res, "items_waiting"));
}

static bool dir_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Customers found by q (an order number finds its buyer). */
static size_t customers_found(struct fixture *f, const char *q)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/customers?q=%s", q);
    struct ht_resp r;
    assert_int_equal(ht_request(&f->srv, "GET", path, NULL, NULL, f->admin, &r), 0);
    assert_int_equal(r.status, 200);
    size_t n = json_array_size(json_object_get(r.json, "items"));
    ht_resp_free(&r);
    return n;
}

/* ---- setup ---------------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f || ht_server_start(&f->srv, NULL) != 0)
        return -1;
    if (ht_login(&f->srv, "admin", "admin-pass-1", f->admin, sizeof f->admin) != 0)
        return -1;
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;
    int rc = ht_server_stop(&f->srv);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* ---- tests on the shared server ------------------------------------------------------------- */

static void multipart_upload__runs_in_background_and_imports_every_order(void **state)
{
    struct fixture *f = *state;
    const struct part parts[] = {
        {"format", NULL, "generic", 0},
        {"file", "orders.csv", GOOD_CSV, 0},
    };
    json_t *reply = NULL;
    char location[128];
    long st = upload_multipart(&f->srv, f->admin, parts, 2, &reply, location, sizeof location);
    if (st != 202)
        fail_msg("status %ld", st);
    json_int_t id = jint(reply, "id");
    char want[64];
    snprintf(want, sizeof want, "/api/v1/imports/%lld", (long long)id);
    assert_string_equal(location, want);
    const char *status = jstr(reply, "status");
    assert_true(strcmp(status, "queued") == 0 || strcmp(status, "running") == 0 ||
                strcmp(status, "done") == 0);
    assert_string_equal(jstr(reply, "format"), "generic");
    json_t *files = json_object_get(reply, "files");
    assert_int_equal(json_array_size(files), 1);
    assert_string_equal(jstr(json_array_get(files, 0), "name"), "orders.csv");
    assert_int_equal(jint(json_array_get(files, 0), "size"), (json_int_t)strlen(GOOD_CSV));
    json_decref(reply);

    json_t *job = wait_job(&f->srv, f->admin, id, NULL, 60000);
    assert_string_equal(jstr(job, "status"), "done");
    assert_result(job, 4, 3, 0, 0, 4, 0);
    assert_int_equal(jint(json_object_get(job, "result"), "customers_created"), 2);
    json_t *progress = json_object_get(job, "progress");
    assert_int_equal(jint(progress, "percent"), 100);
    assert_int_equal(jint(progress, "bytes_total"), (json_int_t)strlen(GOOD_CSV));
    assert_int_equal(jint(progress, "bytes_done"), (json_int_t)strlen(GOOD_CSV));
    assert_int_equal(json_array_size(json_object_get(job, "errors")), 0);
    assert_true(json_is_string(json_object_get(job, "started_at")));
    assert_true(json_is_string(json_object_get(job, "finished_at")));
    assert_string_equal(jstr(job, "message"), "");
    json_decref(job);

    /* The orders are there, and the uploaded file (clear-text PII) is gone. */
    assert_int_equal(customers_found(f, "IMP1002"), 1);
    assert_int_equal(customers_found(f, "IMP1003"), 1);
    char dir[400];
    snprintf(dir, sizeof dir, "%s/data/uploads/%lld", f->srv.dir, (long long)id);
    for (int i = 0; i < 100 && dir_exists(dir); i++)
        sleep_ms(50); /* removed just after the job's row says done */
    assert_false(dir_exists(dir));
}

static void raw_upload__same_file_again_changes_nothing(void **state)
{
    struct fixture *f = *state;
    struct ht_resp r;
    assert_int_equal(
        upload_raw(&f->srv, f->admin, "?filename=again.csv&format=auto", GOOD_CSV, NULL, &r), 202);
    json_int_t id = jint(r.json, "id");
    char loc[128], want[64];
    snprintf(want, sizeof want, "/api/v1/imports/%lld", (long long)id);
    assert_non_null(ht_resp_header(&r, "Location", loc, sizeof loc));
    assert_string_equal(loc, want);
    assert_string_equal(jstr(json_array_get(json_object_get(r.json, "files"), 0), "name"),
                        "again.csv");
    ht_resp_free(&r);
    json_t *job = wait_job(&f->srv, f->admin, id, NULL, 60000);
    assert_string_equal(jstr(job, "status"), "done");
    assert_result(job, 4, 0, 0, 3, 0, 0);
    assert_int_equal(jint(json_object_get(job, "result"), "customers_created"), 0);
    json_decref(job);
}

static void bad_row__is_rejected_and_listed_while_good_rows_import(void **state)
{
    struct fixture *f = *state;
    const struct part parts[] = {{"file", "bad.csv", BAD_CSV, 0}, {"shop", NULL, "测试店", 0}};
    json_t *reply = NULL;
    assert_int_equal(upload_multipart(&f->srv, f->admin, parts, 2, &reply, NULL, 0), 202);
    assert_string_equal(jstr(reply, "shop"), "测试店");
    json_int_t id = jint(reply, "id");
    json_decref(reply);
    json_t *job = wait_job(&f->srv, f->admin, id, NULL, 60000);
    assert_string_equal(jstr(job, "status"), "done");
    assert_result(job, 2, 1, 0, 0, 1, 1);
    json_t *errors = json_object_get(job, "errors");
    assert_int_equal(json_array_size(errors), 1);
    json_t *e = json_array_get(errors, 0);
    assert_string_equal(jstr(e, "file"), "bad.csv");
    assert_int_equal(jint(e, "record"), 2);
    assert_int_equal(jint(e, "line"), 3);
    assert_string_equal(jstr(e, "column"), "paid_amount");
    assert_true(strlen(jstr(e, "message")) > 0);
    json_decref(job);
    assert_int_equal(customers_found(f, "BAD1001"), 1);
    assert_int_equal(customers_found(f, "BAD1002"), 0);
}

/* A Taobao detail list uploaded before its order list: the job's result says how many lines wait
   for their orders (items_waiting, as `huike import --json` says); the order list then takes them
   and its own job has none waiting. */
static void taobao_details_first__result_counts_items_waiting(void **state)
{
    struct fixture *f = *state;
    static const char details[] = "订单编号,标题,价格,购买数量,订单状态\r\n"
                                  "=\"WAIT9001\",连衣裙,30.00,1,交易成功\r\n"
                                  "=\"WAIT9001\",开衫,10.00,2,交易成功\r\n"
                                  "=\"WAIT9002\",坚果,5.00,1,交易成功\r\n";
    static const char orders[] =
        "订单编号,买家会员名,买家实际支付金额,订单状态,订单创建时间,订单付款时间,宝贝标题\r\n"
        "=\"WAIT9001\",等待的买家,50.00,交易成功,2026-03-01 10:00:00,2026-03-01 10:01:00,连衣裙\r\n"
        "=\"WAIT9002\",等待的买家,5.00,交易成功,2026-03-02 10:00:00,2026-03-02 10:01:00,坚果\r\n";
    struct ht_resp r;
    assert_int_equal(upload_raw(&f->srv, f->admin,
                                "?filename=ExportOrderDetailList-wait.csv&format=taobao", details,
                                NULL, &r),
                     202);
    json_int_t id = jint(r.json, "id");
    ht_resp_free(&r);
    json_t *job = wait_job(&f->srv, f->admin, id, NULL, 60000);
    assert_string_equal(jstr(job, "status"), "done");
    assert_result(job, 3, 0, 0, 0, 0, 0);
    assert_int_equal(jint(json_object_get(job, "result"), "items_waiting"), 3);
    json_decref(job);

    assert_int_equal(upload_raw(&f->srv, f->admin,
                                "?filename=ExportOrderList-wait.csv&format=taobao", orders, NULL,
                                &r),
                     202);
    id = jint(r.json, "id");
    ht_resp_free(&r);
    job = wait_job(&f->srv, f->admin, id, NULL, 60000);
    assert_string_equal(jstr(job, "status"), "done");
    assert_result(job, 2, 2, 0, 0, 3, 0);
    assert_int_equal(jint(json_object_get(job, "result"), "items_waiting"), 0);
    json_decref(job);
    assert_int_equal(customers_found(f, "WAIT9001"), 1);
}

static void several_files__names_sanitised_and_unique(void **state)
{
    struct fixture *f = *state;
    static const char one[] =
        HEADER "MULTI1,m1,多文件,13800138011,北京市,北京市,wechat,测试店,completed,"
               "2026-05-01T10:00:00+08:00,2026-05-01T10:01:00+08:00,,P1,碎花连衣裙,女装/连衣裙,1,"
               "199.00,199.00,,\n";
    static const char two[] =
        HEADER "MULTI2,m2,多文件二,13800138012,北京市,北京市,wechat,测试店,completed,"
               "2026-05-02T10:00:00+08:00,2026-05-02T10:01:00+08:00,,P1,碎花连衣裙,女装/连衣裙,1,"
               "199.00,199.00,,\n";
    const struct part parts[] = {
        {"file", "../../etc/订单?.csv", one, 0},
        {"file", "C:\\Users\\me\\订单?.csv", two, 0},
        {"file", ".hidden", one, 0},
    };
    json_t *reply = NULL;
    assert_int_equal(upload_multipart(&f->srv, f->admin, parts, 3, &reply, NULL, 0), 202);
    json_t *files = json_object_get(reply, "files");
    assert_int_equal(json_array_size(files), 3);
    assert_string_equal(jstr(json_array_get(files, 0), "name"), "订单_.csv");
    assert_string_equal(jstr(json_array_get(files, 1), "name"), "订单_-2.csv");
    assert_string_equal(jstr(json_array_get(files, 2), "name"), "hidden");
    json_int_t id = jint(reply, "id");
    json_decref(reply);
    json_t *job = wait_job(&f->srv, f->admin, id, NULL, 60000);
    assert_string_equal(jstr(job, "status"), "done");
    assert_result(job, 3, 2, 0, 1, 2, 0); /* the third file repeats the first: unchanged */
    json_decref(job);
}

static void refusals__before_the_body_is_read(void **state)
{
    struct fixture *f = *state;
    struct ht_resp r;
    char cookie[256];
    /* Roles: agent and associate may not import, nor see imports. */
    const char *logins[2][2] = {{"agent1", "agent1-pass"}, {"associate1", "associate1-pass"}};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ht_login(&f->srv, logins[i][0], logins[i][1], cookie, sizeof cookie), 0);
        assert_int_equal(upload_raw(&f->srv, cookie, "?filename=x.csv", GOOD_CSV, NULL, &r), 403);
        assert_string_equal(ht_error_code(&r), "forbidden");
        ht_resp_free(&r);
        assert_int_equal(ht_request(&f->srv, "GET", "/api/v1/imports", NULL, NULL, cookie, &r), 0);
        assert_int_equal(r.status, 403);
        ht_resp_free(&r);
        assert_int_equal(ht_request(&f->srv, "GET", "/api/v1/imports/1", NULL, NULL, cookie, &r),
                         0);
        assert_int_equal(r.status, 403);
        ht_resp_free(&r);
    }
    /* Without credentials: 401. */
    assert_int_equal(upload_raw(&f->srv, NULL, "?filename=x.csv", GOOD_CSV, NULL, &r), 401);
    ht_resp_free(&r);
    /* An operator may. */
    assert_int_equal(ht_login(&f->srv, "operator1", "operator1-pass", cookie, sizeof cookie), 0);
    assert_int_equal(upload_raw(&f->srv, cookie, "?filename=op.csv", GOOD_CSV, NULL, &r), 202);
    json_int_t id = jint(r.json, "id");
    ht_resp_free(&r);
    json_decref(wait_job(&f->srv, cookie, id, NULL, 60000));

    /* Bad options, media type, fields, empty files. */
    assert_int_equal(upload_raw(&f->srv, f->admin, "?format=xls", GOOD_CSV, NULL, &r), 400);
    assert_string_equal(ht_error_code(&r), "invalid_argument");
    assert_non_null(strstr(r.body, "format"));
    ht_resp_free(&r);
    const char *form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    assert_int_equal(ht_request(&f->srv, "POST", "/api/v1/imports", "a=b", form, f->admin, &r), 0);
    assert_int_equal(r.status, 415);
    assert_string_equal(ht_error_code(&r), "unsupported_media_type");
    ht_resp_free(&r);
    json_t *reply = NULL;
    const struct part typo[] = {{"fiel", "x.csv", GOOD_CSV, 0}};
    assert_int_equal(upload_multipart(&f->srv, f->admin, typo, 1, &reply, NULL, 0), 400);
    assert_non_null(strstr(
        json_string_value(json_object_get(json_object_get(reply, "error"), "message")), "fiel"));
    json_decref(reply);
    const struct part nofile[] = {{"format", NULL, "generic", 0}};
    assert_int_equal(upload_multipart(&f->srv, f->admin, nofile, 1, &reply, NULL, 0), 400);
    json_decref(reply);
    const struct part badfmt[] = {{"file", "x.csv", GOOD_CSV, 0}, {"format", NULL, "excel", 0}};
    assert_int_equal(upload_multipart(&f->srv, f->admin, badfmt, 2, &reply, NULL, 0), 400);
    json_decref(reply);
    assert_int_equal(upload_raw(&f->srv, f->admin, "?filename=empty.csv", "", NULL, &r), 400);
    ht_resp_free(&r);

    /* Unknown ids. */
    assert_int_equal(ht_request(&f->srv, "GET", "/api/v1/imports/999999", NULL, NULL, f->admin, &r),
                     0);
    assert_int_equal(r.status, 404);
    assert_string_equal(ht_error_code(&r), "not_found");
    ht_resp_free(&r);
    assert_int_equal(ht_request(&f->srv, "GET", "/api/v1/imports/abc", NULL, NULL, f->admin, &r),
                     0);
    assert_int_equal(r.status, 404);
    ht_resp_free(&r);
}

static void list__newest_first_with_cursor(void **state)
{
    struct fixture *f = *state;
    struct ht_resp r;
    json_int_t seen = 0, last = 0;
    char path[96] = "/api/v1/imports?limit=2";
    for (int page = 0; page < 50; page++) {
        assert_int_equal(ht_request(&f->srv, "GET", path, NULL, NULL, f->admin, &r), 0);
        assert_int_equal(r.status, 200);
        json_t *items = json_object_get(r.json, "items");
        assert_true(json_array_size(items) <= 2);
        for (size_t i = 0; i < json_array_size(items); i++) {
            json_t *it = json_array_get(items, i);
            json_int_t id = jint(it, "id");
            assert_true(last == 0 || id < last); /* newest first, no repeats */
            last = id;
            seen++;
            assert_null(json_object_get(it, "errors")); /* lists leave the errors out */
            assert_true(json_is_object(json_object_get(it, "progress")));
        }
        const char *next = json_string_value(json_object_get(r.json, "next_cursor"));
        if (!next) {
            ht_resp_free(&r);
            break;
        }
        snprintf(path, sizeof path, "/api/v1/imports?limit=2&cursor=%s", next);
        ht_resp_free(&r);
    }
    assert_int_equal(seen, 7); /* the jobs of the tests before; refused uploads left none */
}

/* ---- tests with their own server ---------------------------------------------------------- */

static void upload_over_limit__is_413_and_leaves_no_job(void **state)
{
    (void)state;
    struct ht_server s;
    const char *env[] = {"HUIKE_UPLOAD_LIMIT=2000", NULL};
    assert_int_equal(ht_server_start(&s, env), 0);
    char cookie[256];
    assert_int_equal(ht_login(&s, "admin", "admin-pass-1", cookie, sizeof cookie), 0);
    char *big = malloc(5001);
    assert_non_null(big);
    memset(big, 'x', 5000);
    big[5000] = '\0';
    struct ht_resp r;
    /* With Content-Length: refused up front. */
    assert_int_equal(upload_raw(&s, cookie, "?filename=big.csv", big, NULL, &r), 413);
    assert_string_equal(ht_error_code(&r), "payload_too_large");
    ht_resp_free(&r);
    /* Chunked: refused when the limit is crossed. */
    const char *chunked[] = {"Transfer-Encoding: chunked", NULL};
    assert_int_equal(upload_raw(&s, cookie, "?filename=big.csv", big, chunked, &r), 413);
    assert_string_equal(ht_error_code(&r), "payload_too_large");
    ht_resp_free(&r);
    /* Multipart. */
    json_t *reply = NULL;
    const struct part parts[] = {{"file", "big.csv", big, 0}};
    assert_int_equal(upload_multipart(&s, cookie, parts, 1, &reply, NULL, 0), 413);
    json_decref(reply);
    free(big);
    /* Under the limit: fine. */
    assert_int_equal(upload_raw(&s, cookie, "?filename=small.csv", GOOD_CSV, NULL, &r), 202);
    json_int_t id = jint(r.json, "id");
    ht_resp_free(&r);
    json_decref(wait_job(&s, cookie, id, NULL, 60000));
    /* No job left behind by the refused uploads, and no files. */
    assert_int_equal(ht_request(&s, "GET", "/api/v1/imports", NULL, NULL, cookie, &r), 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
    ht_resp_free(&r);
    char dir[400];
    for (json_int_t i = 1; i < id; i++) {
        snprintf(dir, sizeof dir, "%s/data/uploads/%lld", s.dir, (long long)i);
        assert_false(dir_exists(dir));
    }
    assert_int_equal(ht_server_stop(&s), 0);
}

/* A generic CSV of n one-line orders numbered <prefix>000001 ... (new; caller frees). */
static char *big_csv(const char *prefix, int n)
{
    size_t cap = strlen(HEADER) + (size_t)n * 260 + 1, len = 0;
    char *p = malloc(cap);
    assert_non_null(p);
    len += (size_t)snprintf(p, cap, "%s", HEADER);
    for (int i = 1; i <= n; i++) {
        int w = snprintf(p + len, cap - len,
                         "%s%06d,b%s%d,买家%d,139%08d,浙江省,杭州市,tmall,大店,completed,"
                         "2026-0%d-%02dT10:00:00+08:00,2026-0%d-%02dT10:01:00+08:00,,P%d,商品%d,"
                         "食品/坚果,1,%d.00,%d.00,,\n",
                         prefix, i, prefix, i % 5000, i % 5000, i % 5000, 1 + i % 9, 1 + i % 28,
                         1 + i % 9, 1 + i % 28, i % 50, i % 50, 10 + i % 90, 10 + i % 90);
        assert_true(w > 0 && (size_t)w < cap - len);
        len += (size_t)w;
    }
    return p;
}

static bool has_committed_rows(json_t *job)
{
    const char *st = jstr(job, "status");
    return strcmp(st, "done") == 0 || strcmp(st, "failed") == 0 ||
           (strcmp(st, "running") == 0 &&
            json_integer_value(json_object_get(json_object_get(job, "progress"), "rows")) > 0);
}

/* Eight transactions of 2000 orders for 16000: the signal comes in the middle of the job. */
static const char *const SMALL_BATCHES[] = {"HUIKE_IMPORT_BATCH=2000", NULL};

/* Uploads n orders, interrupts the job with sig once part of it is committed, restarts the
   server and checks the job completes exactly. */
static void interrupt_and_resume(struct ht_server *s, const char *prefix, int sig, int n)
{
    char cookie[256];
    assert_int_equal(ht_login(s, "admin", "admin-pass-1", cookie, sizeof cookie), 0);
    char *csv = big_csv(prefix, n);
    struct ht_resp r;
    assert_int_equal(upload_raw(s, cookie, "?filename=big.csv&format=generic", csv, NULL, &r), 202);
    free(csv);
    json_int_t id = jint(r.json, "id");
    ht_resp_free(&r);
    json_t *job = wait_job(s, cookie, id, has_committed_rows, 120000);
    bool interrupted = strcmp(jstr(job, "status"), "running") == 0;
    json_decref(job);
    int st = ht_server_signal(s, sig);
    assert_int_equal(st, sig == SIGKILL ? 128 + SIGKILL : 0);
    assert_int_equal(ht_server_restart(s, SMALL_BATCHES), 0);

    job = wait_job(s, cookie, id, NULL, 180000);
    assert_string_equal(jstr(job, "status"), "done");
    json_t *res = json_object_get(job, "result");
    assert_int_equal(jint(res, "rows"), n);
    assert_int_equal(jint(res, "rejected"), 0);
    assert_int_equal(jint(res, "orders_updated"), 0);
    assert_int_equal(jint(res, "orders_created") + jint(res, "orders_unchanged"), n);
    if (interrupted)
        assert_true(jint(res, "orders_unchanged") > 0); /* the first run's part was kept */
    else
        fprintf(stderr, "note: the import finished before it could be interrupted\n");
    json_decref(job);
}

static void interrupted_jobs__resume_after_restart_with_exact_counts(void **state)
{
    (void)state;
    struct ht_server s;
    assert_int_equal(ht_server_start(&s, SMALL_BATCHES), 0);
    interrupt_and_resume(&s, "K", SIGKILL, 16000);
    interrupt_and_resume(&s, "T", SIGTERM, 16000);
    /* The graceful stop said why the job went back to the queue. */
    FILE *log = fopen(s.log_path, "r");
    assert_non_null(log);
    char line[4096];
    bool requeued = false;
    while (fgets(line, sizeof line, log))
        requeued = requeued || strstr(line, "event=import.requeued") ||
                   strstr(line, "event=import.recovered");
    fclose(log);
    assert_true(requeued);
    assert_int_equal(ht_server_stop(&s), 0);
}

static json_t *run_demo(struct ht_server *s, int expect_exit, const char *extra)
{
    char out[16384];
    const char *args[] = {"--now", "2026-11-01T00:00:00+08:00",
                          "demo",  "--customers",
                          "500",   "--seed",
                          "1",     "--json",
                          extra,   NULL};
    int st = ht_cli(s, args, out, sizeof out);
    assert_int_equal(st, expect_exit);
    if (st != 0)
        return NULL;
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    if (!j)
        fail_msg("demo output is not JSON: %s", out);
    return j;
}

static void demo__same_seed_same_shop_and_refuses_a_second_run(void **state)
{
    (void)state;
    struct ht_server a, b;
    assert_int_equal(ht_server_start(&a, NULL), 0);
    assert_int_equal(ht_server_start(&b, NULL), 0);
    json_t *ja = run_demo(&a, 0, NULL);
    json_t *jb = run_demo(&b, 0, NULL);
    static const char *const keys[] = {"customers", "cross_channel", "orders",     "lines",
                                       "refunded",  "cancelled",     "with_coupon"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_int_equal(jint(ja, keys[i]), jint(jb, keys[i]));
    assert_string_equal(jstr(ja, "first_order_at"), jstr(jb, "first_order_at"));
    assert_string_equal(jstr(ja, "last_order_at"), jstr(jb, "last_order_at"));
    json_t *ia = json_object_get(ja, "import"), *ib = json_object_get(jb, "import");
    static const char *const ikeys[] = {"rows", "orders_created", "items_created",
                                        "customers_created", "rejected"};
    for (size_t i = 0; i < sizeof ikeys / sizeof ikeys[0]; i++)
        assert_int_equal(jint(ia, ikeys[i]), jint(ib, ikeys[i]));
    /* The shop as described: 500 people, most buying once, some on two channels. */
    assert_int_equal(jint(ja, "customers"), 500);
    assert_true(jint(ja, "orders") > 700 && jint(ja, "orders") < 2000);
    assert_true(jint(ja, "cross_channel") > 0);
    assert_int_equal(jint(ja, "channels"), 7);
    assert_int_equal(jint(ia, "rows"), jint(ja, "lines"));
    assert_int_equal(jint(ia, "orders_created"), jint(ja, "orders"));
    assert_int_equal(jint(ia, "rejected"), 0);
    assert_true(jint(ia, "customers_created") <= 500);
    assert_true(strncmp(jstr(ja, "last_order_at"), "2026-10-31T", 11) == 0);
    assert_true(strncmp(jstr(ja, "first_order_at"), "2024-11-0", 9) == 0);

    /* Events: the same in both databases, all applied, shaped like a shop's. */
    assert_int_equal(jint(ja, "browsers"), 100); /* one who only looks per five buyers */
    assert_int_equal(jint(ja, "events"), jint(jb, "events"));
    json_t *ta = json_object_get(ja, "event_types"), *tb = json_object_get(jb, "event_types");
    static const char *const types[] = {"browse", "cart",     "favourite", "coupon_claim",
                                        "review", "check_in", "share",     "logistics_update"};
    int64_t sum = 0;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        assert_int_equal(jint(ta, types[i]), jint(tb, types[i]));
        sum += jint(ta, types[i]);
    }
    assert_int_equal(sum, jint(ja, "events"));
    assert_true(jint(ta, "browse") > jint(ta, "cart"));
    assert_true(jint(ta, "cart") > jint(ja, "orders"));
    assert_true(jint(ta, "coupon_claim") > 0 && jint(ta, "review") > 0);
    assert_true(jint(ta, "favourite") > 0 && jint(ta, "logistics_update") > 0);
    json_t *ea = json_object_get(ja, "events_applied"), *eb = json_object_get(jb, "events_applied");
    assert_int_equal(jint(ea, "created"), jint(ja, "events"));
    assert_int_equal(jint(eb, "created"), jint(jb, "events"));
    assert_int_equal(jint(ea, "unchanged"), 0);
    assert_int_equal(jint(ea, "rejected"), 0);

    /* A database with orders is refused; --force adds nothing new. */
    assert_null(run_demo(&a, 1, NULL));
    json_t *again = run_demo(&a, 0, "--force");
    json_t *ig = json_object_get(again, "import");
    assert_int_equal(jint(ig, "orders_created"), 0);
    assert_int_equal(jint(ig, "orders_updated"), 0);
    assert_int_equal(jint(ig, "orders_unchanged"), jint(ja, "orders"));
    assert_int_equal(jint(ig, "customers_created"), 0);
    json_t *eg = json_object_get(again, "events_applied");
    assert_int_equal(jint(again, "events"), jint(ja, "events"));
    assert_int_equal(jint(eg, "created"), 0);
    assert_int_equal(jint(eg, "unchanged"), jint(ja, "events"));
    assert_int_equal(jint(eg, "rejected"), 0);
    json_decref(again);
    json_decref(ja);
    json_decref(jb);
    assert_int_equal(ht_server_stop(&a), 0);
    assert_int_equal(ht_server_stop(&b), 0);
}

int main(void)
{
    const struct CMUnitTest shared[] = {
        cmocka_unit_test(multipart_upload__runs_in_background_and_imports_every_order),
        cmocka_unit_test(raw_upload__same_file_again_changes_nothing),
        cmocka_unit_test(bad_row__is_rejected_and_listed_while_good_rows_import),
        cmocka_unit_test(several_files__names_sanitised_and_unique),
        cmocka_unit_test(taobao_details_first__result_counts_items_waiting),
        cmocka_unit_test(refusals__before_the_body_is_read),
        cmocka_unit_test(list__newest_first_with_cursor),
    };
    const struct CMUnitTest own[] = {
        cmocka_unit_test(upload_over_limit__is_413_and_leaves_no_job),
        cmocka_unit_test(interrupted_jobs__resume_after_restart_with_exact_counts),
        cmocka_unit_test(demo__same_seed_same_shop_and_refuses_a_second_run),
    };
    int failed =
        cmocka_run_group_tests_name("imports (shared server)", shared, group_setup, group_teardown);
    failed += cmocka_run_group_tests_name("imports (own servers)", own, NULL, NULL);
    return failed ? 1 : 0;
}
