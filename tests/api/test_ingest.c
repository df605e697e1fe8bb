/*
 * test_ingest.c — live REST ingest and merges over HTTP, with API tokens: a batch of orders
 * with bad items (the good ones stored, errors per index naming the field), the same batch
 * again (all unchanged), a status change (updated, visible in the timeline), 1,001 orders
 * (rejected whole with a clear message); events (stored, unknown type rejected, repeated
 * external_id unchanged, in the customer's timeline); customer upserts (create, same identities
 * -> same customer, a profile change -> updated); a phone that links customers from two
 * channels merges them, unmerge restores both with their own orders, and the same upsert
 * afterwards does not merge them again (never-merge); the merge history and audit entries;
 * operator and agent tokens get 403 and no token 401.
 *
 * One server serves the whole file; the tests run in order and build on each other's data.
 * Run by ctest on SQLite and PostgreSQL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

struct fixture {
    struct ht_server srv;
    char admin_cookie[256];
    char token[4][128]; /* admin, manager1, operator1, agent1 */
    json_int_t alice;   /* customer of order API-1 */
};

enum { ADMIN, MANAGER, OPERATOR, AGENT };

static struct fixture *fx;

/* ---- helpers ------------------------------------------------------------------------------ */

/* A request with the token of `who` (or none when who < 0); returns the status. */
static long api(int who, const char *method, const char *path, const char *body,
                struct ht_resp *out)
{
    char auth[200];
    const char *hdr[3] = {"Content-Type: application/json", NULL, NULL};
    if (who >= 0) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", fx->token[who]);
        hdr[1] = auth;
    }
    assert_int_equal(ht_request(&fx->srv, method, path, body, hdr, NULL, out), 0);
    return out->status;
}

static json_int_t jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static json_t *result(struct ht_resp *r, size_t i)
{
    json_t *res = json_object_get(r->json, "results");
    assert_true(json_is_array(res));
    json_t *o = json_array_get(res, i);
    assert_non_null(o);
    assert_int_equal(jint(o, "index"), (json_int_t)i);
    return o;
}

static void expect_outcome(struct ht_resp *r, size_t i, const char *outcome)
{
    json_t *o = result(r, i);
    if (!json_object_get(o, "outcome")) {
        char *dump = json_dumps(o, 0);
        fail_msg("result %zu: %s", i, dump ? dump : "?");
    }
    assert_string_equal(jstr(o, "outcome"), outcome);
}

/* The error of result i names field and says something containing word. */
static void expect_error(struct ht_resp *r, size_t i, const char *field, const char *word)
{
    json_t *e = json_object_get(result(r, i), "error");
    assert_true(json_is_object(e));
    assert_string_equal(jstr(e, "code"), "invalid_argument");
    assert_string_equal(jstr(e, "field"), field);
    if (!strstr(jstr(e, "message"), word))
        fail_msg("message '%s' lacks '%s'", jstr(e, "message"), word);
}

static void expect_counts(struct ht_resp *r, int created, int updated, int unchanged, int rejected)
{
    assert_int_equal(jint(r->json, "created"), created);
    assert_int_equal(jint(r->json, "updated"), updated);
    assert_int_equal(jint(r->json, "unchanged"), unchanged);
    assert_int_equal(jint(r->json, "rejected"), rejected);
}

/* Whether the customer's timeline has an order numbered no with status (NULL: any), or an
   event of type (when no is NULL). */
static bool timeline_has(json_int_t customer, const char *no, const char *status,
                         const char *event_type)
{
    char path[128];
    struct ht_resp r;
    snprintf(path, sizeof path, "/api/v1/customers/%lld/timeline?limit=100", (long long)customer);
    assert_int_equal(api(ADMIN, "GET", path, NULL, &r), 200);
    bool found = false;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(r.json, "items"), i, it)
    {
        json_t *o = json_object_get(it, "order"), *e = json_object_get(it, "event");
        if (no && o && strcmp(json_string_value(json_object_get(o, "order_no")), no) == 0 &&
            (!status || strcmp(json_string_value(json_object_get(o, "status")), status) == 0))
            found = true;
        if (!no && e && strcmp(json_string_value(json_object_get(e, "type")), event_type) == 0)
            found = true;
    }
    ht_resp_free(&r);
    return found;
}

/* GET /api/v1/customers/{id}: the id it answers with (the survivor for a merged id). */
static json_int_t customer_answer(json_int_t id)
{
    char path[64];
    struct ht_resp r;
    snprintf(path, sizeof path, "/api/v1/customers/%lld", (long long)id);
    assert_int_equal(api(ADMIN, "GET", path, NULL, &r), 200);
    json_int_t got = jint(r.json, "id");
    ht_resp_free(&r);
    return got;
}

/* ---- setup -------------------------------------------------------------------------------- */

static int make_token(const char *login, char *out, size_t size)
{
    struct ht_resp r;
    json_int_t uid = 0;
    if (ht_request(&fx->srv, "GET", "/api/v1/users?limit=100", NULL, NULL, fx->admin_cookie, &r))
        return -1;
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(r.json, "items"), i,
                       u) if (strcmp(json_string_value(json_object_get(u, "login")), login) == 0)
        uid = json_integer_value(json_object_get(u, "id"));
    ht_resp_free(&r);
    if (!uid)
        return -1;
    char body[128];
    snprintf(body, sizeof body, "{\"name\":\"sync %s\",\"user_id\":%lld}", login, (long long)uid);
    const char *hdr[] = {"Content-Type: application/json", NULL};
    if (ht_request(&fx->srv, "POST", "/api/v1/tokens", body, hdr, fx->admin_cookie, &r) ||
        r.status != 201) {
        ht_resp_free(&r);
        return -1;
    }
    snprintf(out, size, "%s", json_string_value(json_object_get(r.json, "token")));
    ht_resp_free(&r);
    return 0;
}

static int setup(void **state)
{
    static const char *const logins[] = {"admin", "manager1", "operator1", "agent1"};
    fx = calloc(1, sizeof *fx);
    if (!fx || ht_server_start(&fx->srv, NULL) != 0)
        return -1;
    if (ht_login(&fx->srv, "admin", "admin-pass-1", fx->admin_cookie, sizeof fx->admin_cookie))
        return -1;
    for (int i = 0; i < 4; i++)
        if (make_token(logins[i], fx->token[i], sizeof fx->token[i]) != 0)
            return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int st = ht_server_stop(&fx->srv);
    free(fx);
    return st == 0 ? 0 : -1;
}

/* ---- orders ------------------------------------------------------------------------------- */

static const char ORDERS[] =
    "{\"orders\": ["
    "{\"shop\":\"API店\",\"channel\":\"taobao\",\"order_no\":\"API-1\",\"status\":\"paid\","
    " \"created_at\":\"2026-03-01T10:00:00+08:00\",\"paid_at\":\"2026-03-01 10:05:00\","
    " \"paid_fen\":12800,\"total_fen\":12800,"
    " \"buyer\":{\"buyer_id\":\"tb_alice\",\"nick\":\"alice\",\"phone\":\"13800000001\","
    "  \"province\":\"浙江\",\"city\":\"杭州\",\"name\":\"王小丽\"},"
    " \"items\":[{\"product_id\":\"P1\",\"title\":\"茶杯\",\"quantity\":2,\"unit_price\":\"64.00\","
    "  \"paid\":\"128.00\"}]},"
    "{\"shop\":\"API店\",\"channel\":\"taobao\",\"order_no\":\"API-2\",\"status\":\"completed\","
    " \"created_at\":\"2026-03-02T09:00:00+08:00\",\"paid\":\"12.50\",\"postage\":\"0\","
    " \"buyer\":{\"buyer_id\":\"tb_bob\"},\"items\":[{\"sku\":\"S-2\",\"title\":\"茶叶\"}]},"
    "{\"shop\":\"API店\",\"channel\":\"taobao\",\"order_no\":\"API-3\",\"status\":\"shipping\","
    " \"created_at\":\"2026-03-02T09:00:00+08:00\",\"buyer\":{\"buyer_id\":\"tb_carl\"}},"
    "{\"shop\":\"API店\",\"channel\":\"taobao\",\"order_no\":\"API-4\",\"status\":\"paid\","
    " \"created_at\":\"2026-03-02T09:00:00+08:00\",\"paid\":\"12,5x\","
    " \"buyer\":{\"buyer_id\":\"tb_dan\"}},"
    "{\"shop\":\"API店\",\"channel\":\"taobao\",\"status\":\"paid\","
    " \"created_at\":\"2026-03-02T09:00:00+08:00\",\"buyer\":{\"buyer_id\":\"tb_eve\"}}"
    "]}";

static void orders__good_items_stored_bad_ones_named_by_index_and_field(void **state)
{
    (void)state;
    struct ht_resp r;
    assert_int_equal(api(ADMIN, "POST", "/api/v1/orders", ORDERS, &r), 200);
    expect_outcome(&r, 0, "created");
    expect_outcome(&r, 1, "created");
    assert_string_equal(jstr(result(&r, 0), "order_no"), "API-1");
    fx->alice = jint(result(&r, 0), "customer_id");
    assert_true(fx->alice > 0);
    assert_true(jint(result(&r, 1), "customer_id") != fx->alice);
    expect_error(&r, 2, "orders[2].status", "created, paid");
    expect_error(&r, 3, "orders[3].paid", "paid");
    expect_error(&r, 4, "orders[4].order_no", "required");
    expect_counts(&r, 2, 0, 0, 3);
    ht_resp_free(&r);

    assert_true(timeline_has(fx->alice, "API-1", "paid", NULL));

    /* the same batch again: nothing changes */
    assert_int_equal(api(MANAGER, "POST", "/api/v1/orders", ORDERS, &r), 200);
    expect_outcome(&r, 0, "unchanged");
    expect_outcome(&r, 1, "unchanged");
    assert_int_equal(jint(result(&r, 0), "customer_id"), fx->alice);
    expect_counts(&r, 0, 0, 2, 3);
    ht_resp_free(&r);
}

/*
 * A buyer known by nothing (no buyer object, or only a name and address, or only a masked phone)
 * would become a customer nothing can find again: refused per item, naming orders[i].buyer, and
 * nothing of it stored. Errors inside an order name the full path of the field.
 */
static void orders__buyer_without_identity_refused_fields_named_by_full_path(void **state)
{
    (void)state;
    const char *body =
        "{\"orders\":["
        "{\"channel\":\"pdd\",\"order_no\":\"ANON-1\",\"status\":\"paid\","
        " \"created_at\":\"2026-03-04T10:00:00+08:00\",\"paid_fen\":3900},"
        "{\"channel\":\"pdd\",\"order_no\":\"ANON-2\",\"status\":\"paid\","
        " \"created_at\":\"2026-03-04T10:00:00+08:00\",\"buyer\":{\"name\":\"张三\","
        "  \"province\":\"浙江\",\"address\":\"杭州市西湖区1号\"}},"
        "{\"channel\":\"douyin\",\"order_no\":\"ANON-3\",\"status\":\"paid\","
        " \"created_at\":\"2026-03-04T10:00:00+08:00\",\"buyer\":{\"phone\":\"138****5678\"}},"
        "{\"channel\":\"taobao\",\"order_no\":\"QTY-1\",\"status\":\"paid\","
        " \"created_at\":\"2026-03-04T10:00:00+08:00\",\"buyer\":{\"buyer_id\":\"tb_frank\"},"
        " \"items\":[{\"title\":\"茶盘\"},{\"title\":\"茶盘\",\"quantity\":-1}]},"
        "{\"channel\":\"jd\",\"order_no\":\"MAIL-1\",\"status\":\"paid\","
        " \"created_at\":\"2026-03-04T10:00:00+08:00\",\"buyer\":{\"email\":\"gina@example.com\"}},"
        "{\"channel\":\"wechat\",\"order_no\":\"WXU-1\",\"status\":\"paid\","
        " \"created_at\":\"2026-03-04T10:00:00+08:00\",\"buyer\":{\"union_id\":\"u-888\"}}"
        "]}";
    struct ht_resp r;
    assert_int_equal(api(ADMIN, "POST", "/api/v1/orders", body, &r), 200);
    expect_error(&r, 0, "orders[0].buyer", "no identity");
    expect_error(&r, 1, "orders[1].buyer", "no identity");
    expect_error(&r, 2, "orders[2].buyer", "masked");
    expect_error(&r, 3, "orders[3].items[1].quantity", "items[1].quantity");
    expect_outcome(&r, 4, "created");
    expect_outcome(&r, 5, "created");
    assert_true(jint(result(&r, 4), "customer_id") > 0);
    assert_true(jint(result(&r, 5), "customer_id") > 0);
    expect_counts(&r, 2, 0, 0, 4);
    ht_resp_free(&r);

    /* the refused orders were not stored; the good ones were */
    const char *gone[] = {"ANON-1", "ANON-2", "ANON-3", "QTY-1"};
    char path[64];
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) {
        snprintf(path, sizeof path, "/api/v1/customers?q=%s", gone[i]);
        assert_int_equal(api(ADMIN, "GET", path, NULL, &r), 200);
        assert_int_equal(json_array_size(json_object_get(r.json, "items")), 0);
        ht_resp_free(&r);
    }
    assert_int_equal(api(ADMIN, "GET", "/api/v1/customers?q=MAIL-1", NULL, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
    ht_resp_free(&r);
}

static void orders__status_change_updates_and_shows_in_timeline(void **state)
{
    (void)state;
    struct ht_resp r;
    const char *body =
        "{\"orders\":[{\"shop\":\"API店\",\"channel\":\"taobao\",\"order_no\":\"API-1\","
        "\"status\":\"completed\",\"created_at\":\"2026-03-01T10:00:00+08:00\","
        "\"received_at\":\"2026-03-05T10:00:00+08:00\",\"paid_fen\":12800,\"total_fen\":12800,"
        "\"buyer\":{\"buyer_id\":\"tb_alice\"}}]}";
    assert_int_equal(api(ADMIN, "POST", "/api/v1/orders", body, &r), 200);
    expect_outcome(&r, 0, "updated");
    expect_counts(&r, 0, 1, 0, 0);
    ht_resp_free(&r);
    assert_true(timeline_has(fx->alice, "API-1", "completed", NULL));
}

static void orders__more_than_1000_rejected_whole(void **state)
{
    (void)state;
    size_t cap = 1001 * 160 + 64, off = 0;
    char *body = malloc(cap);
    assert_non_null(body);
    off += (size_t)snprintf(body + off, cap - off, "{\"orders\":[");
    for (int i = 0; i < 1001; i++)
        off += (size_t)snprintf(body + off, cap - off,
                                "%s{\"channel\":\"jd\",\"order_no\":\"BIG-%d\",\"status\":\"paid\","
                                "\"created_at\":\"2026-03-01T10:00:00+08:00\"}",
                                i ? "," : "", i);
    snprintf(body + off, cap - off, "]}");
    struct ht_resp r;
    long st = api(ADMIN, "POST", "/api/v1/orders", body, &r);
    assert_int_equal(st, 413);
    assert_string_equal(ht_error_code(&r), "payload_too_large");
    json_t *e = json_object_get(r.json, "error");
    assert_non_null(strstr(jstr(e, "message"), "at most 1000"));
    ht_resp_free(&r);
    free(body);

    /* nothing of it was stored */
    assert_int_equal(api(ADMIN, "GET", "/api/v1/customers?q=BIG-7", NULL, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 0);
    ht_resp_free(&r);
}

static void orders__wechat_union_id_joins_the_buyer(void **state)
{
    (void)state;
    struct ht_resp r;
    const char *order = "{\"orders\":[{\"channel\":\"wechat\",\"order_no\":\"WX-1\","
                        "\"status\":\"paid\",\"created_at\":\"2026-03-01T10:00:00+08:00\","
                        "\"paid_fen\":100,\"buyer\":{\"nick\":\"wx_nick\",\"union_id\":"
                        "\"u-777\",\"open_id\":\"o-777\"}}]}";
    assert_int_equal(api(ADMIN, "POST", "/api/v1/orders", order, &r), 200);
    expect_outcome(&r, 0, "created");
    json_int_t c = jint(result(&r, 0), "customer_id");
    ht_resp_free(&r);
    const char *ev = "{\"events\":[{\"type\":\"share\",\"at\":\"2026-03-02T10:00:00Z\","
                     "\"identities\":[{\"kind\":\"union_id\",\"value\":\"u-777\"}]}]}";
    assert_int_equal(api(ADMIN, "POST", "/api/v1/events", ev, &r), 200);
    expect_outcome(&r, 0, "created");
    assert_int_equal(jint(result(&r, 0), "customer_id"), c);
    ht_resp_free(&r);
}

/* ---- events ------------------------------------------------------------------------------- */

static void events__stored_validated_idempotent_and_in_timeline(void **state)
{
    (void)state;
    struct ht_resp r;
    const char *body =
        "{\"events\":["
        "{\"type\":\"browse\",\"at\":\"2026-03-03T12:00:00+08:00\",\"external_id\":\"ev-1\","
        " \"shop\":\"API店\",\"channel\":\"taobao\",\"properties\":{\"product_id\":\"P1\"},"
        " \"identities\":[{\"channel\":\"taobao\",\"kind\":\"buyer_id\",\"value\":\"tb_alice\"}]},"
        "{\"type\":\"teleport\",\"at\":\"2026-03-03T12:00:00+08:00\","
        " \"identities\":[{\"channel\":\"taobao\",\"kind\":\"buyer_id\",\"value\":\"tb_alice\"}]},"
        "{\"type\":\"cart\",\"at\":\"2026-03-03T12:01:00+08:00\",\"properties\":[1,2],"
        " \"identities\":[{\"channel\":\"taobao\",\"kind\":\"buyer_id\",\"value\":\"tb_alice\"}]},"
        "{\"type\":\"favourite\",\"at\":\"2026-03-03T12:02:00+08:00\",\"external_id\":\"ev-2\","
        " \"identities\":[{\"kind\":\"device\",\"value\":\"dev-new-1\"}]}"
        "]}";
    assert_int_equal(api(ADMIN, "POST", "/api/v1/events", body, &r), 200);
    expect_outcome(&r, 0, "created");
    assert_int_equal(jint(result(&r, 0), "customer_id"), fx->alice);
    assert_true(jint(result(&r, 0), "event_id") > 0);
    expect_error(&r, 1, "events[1].type", "browse");
    expect_error(&r, 2, "events[2].properties", "object");
    expect_outcome(&r, 3, "created"); /* an unknown device: a new customer */
    json_int_t dev_customer = jint(result(&r, 3), "customer_id");
    assert_true(dev_customer > 0 && dev_customer != fx->alice);
    expect_counts(&r, 2, 0, 0, 2);
    json_int_t ev1 = jint(result(&r, 0), "event_id");
    ht_resp_free(&r);

    assert_true(timeline_has(fx->alice, NULL, NULL, "browse"));
    assert_true(timeline_has(dev_customer, NULL, NULL, "favourite"));

    /* the same external ids again: unchanged, same event */
    assert_int_equal(api(MANAGER, "POST", "/api/v1/events", body, &r), 200);
    expect_outcome(&r, 0, "unchanged");
    assert_int_equal(jint(result(&r, 0), "event_id"), ev1);
    expect_outcome(&r, 3, "unchanged");
    expect_counts(&r, 0, 0, 2, 2);
    ht_resp_free(&r);

    /* a body that is not a batch */
    assert_int_equal(api(ADMIN, "POST", "/api/v1/events", "{\"event\":{}}", &r), 400);
    ht_resp_free(&r);
}

/* ---- customers ---------------------------------------------------------------------------- */

static void customers__upsert_creates_then_finds_by_identity(void **state)
{
    (void)state;
    struct ht_resp r;
    const char *body =
        "{\"customers\":[{\"identities\":[{\"channel\":\"wechat\",\"kind\":\"open_id\","
        "\"value\":\"o-123\"}],\"nick\":\"小红\",\"province\":\"上海\",\"birthday\":\"1990-05-20\","
        "\"gender\":\"f\",\"consent\":{\"sms\":true,\"wechat\":true}},"
        "{\"identities\":[{\"kind\":\"phone\",\"value\":\"12\"}]},"
        "{\"nick\":\"nobody\"},"
        "{\"identities\":[{\"channel\":\"jd\",\"kind\":\"buyer_id\",\"value\":\"jd_x\"}],"
        "\"birthday\":\"2023-02-30\"}]}";
    assert_int_equal(api(ADMIN, "POST", "/api/v1/customers", body, &r), 200);
    expect_outcome(&r, 0, "created");
    json_int_t id = jint(result(&r, 0), "customer_id");
    expect_error(&r, 1, "customers[1].identities", "mobile");
    expect_error(&r, 2, "customers[2].identities", "at least one");
    expect_error(&r, 3, "customers[3].birthday", "YYYY-MM-DD");
    expect_counts(&r, 1, 0, 0, 3);
    ht_resp_free(&r);

    assert_int_equal(api(MANAGER, "POST", "/api/v1/customers", body, &r), 200);
    expect_outcome(&r, 0, "unchanged");
    assert_int_equal(jint(result(&r, 0), "customer_id"), id);
    ht_resp_free(&r);

    const char *change = "{\"customers\":[{\"identities\":[{\"channel\":\"wechat\","
                         "\"kind\":\"open_id\",\"value\":\"o-123\"}],\"city\":\"上海\"}]}";
    assert_int_equal(api(ADMIN, "POST", "/api/v1/customers", change, &r), 200);
    expect_outcome(&r, 0, "updated");
    assert_int_equal(jint(result(&r, 0), "customer_id"), id);
    ht_resp_free(&r);
}

static void customers__phone_merges_across_channels_unmerge_restores_never_again(void **state)
{
    (void)state;
    struct ht_resp r;
    /* A: a Taobao order with a phone; B: a JD order by another account, no phone */
    const char *orders = "{\"orders\":["
                         "{\"channel\":\"taobao\",\"order_no\":\"M-TB-1\",\"status\":\"paid\","
                         " \"created_at\":\"2026-03-01T10:00:00+08:00\",\"paid_fen\":5000,"
                         " \"buyer\":{\"buyer_id\":\"tb_mia\",\"phone\":\"13900000007\"}},"
                         "{\"channel\":\"jd\",\"order_no\":\"M-JD-1\",\"status\":\"paid\","
                         " \"created_at\":\"2026-03-02T10:00:00+08:00\",\"paid_fen\":7000,"
                         " \"buyer\":{\"buyer_id\":\"jd_mia\"}}]}";
    assert_int_equal(api(ADMIN, "POST", "/api/v1/orders", orders, &r), 200);
    expect_counts(&r, 2, 0, 0, 0);
    json_int_t a = jint(result(&r, 0), "customer_id"), b = jint(result(&r, 1), "customer_id");
    ht_resp_free(&r);
    assert_true(a > 0 && b > 0 && a < b);

    /* the JD account says it has the Taobao buyer's phone: one person */
    const char *upsert = "{\"customers\":[{\"identities\":[{\"channel\":\"jd\",\"kind\":"
                         "\"buyer_id\",\"value\":\"jd_mia\"}],\"phone\":\"139 0000 0007\"}]}";
    assert_int_equal(api(MANAGER, "POST", "/api/v1/customers", upsert, &r), 200);
    expect_outcome(&r, 0, "updated");
    assert_int_equal(jint(result(&r, 0), "customer_id"), a);
    ht_resp_free(&r);
    assert_int_equal(customer_answer(b), a);
    assert_true(timeline_has(a, "M-JD-1", NULL, NULL));

    /* the merge history */
    char path[96];
    snprintf(path, sizeof path, "/api/v1/customers/%lld/merges", (long long)a);
    assert_int_equal(api(MANAGER, "GET", path, NULL, &r), 200);
    json_t *items = json_object_get(r.json, "items");
    assert_int_equal(json_array_size(items), 1);
    json_t *m = json_array_get(items, 0);
    assert_int_equal(jint(m, "winner_id"), a);
    assert_int_equal(jint(m, "loser_id"), b);
    assert_string_equal(jstr(m, "reason"), "phone");
    assert_true(json_is_null(json_object_get(m, "undone_at")));
    json_int_t merge_id = jint(m, "id");
    ht_resp_free(&r);

    /* undo it (by the merged-away id, naming the merge) */
    snprintf(path, sizeof path, "/api/v1/customers/%lld/unmerge", (long long)b);
    char body[64];
    snprintf(body, sizeof body, "{\"merge_id\":%lld}", (long long)merge_id);
    assert_int_equal(api(MANAGER, "POST", path, body, &r), 200);
    assert_int_equal(jint(r.json, "winner_id"), a);
    assert_int_equal(jint(r.json, "loser_id"), b);
    assert_true(json_is_string(json_object_get(json_object_get(r.json, "merge"), "undone_at")));
    ht_resp_free(&r);
    assert_int_equal(customer_answer(b), b);
    assert_int_equal(customer_answer(a), a);
    assert_true(timeline_has(a, "M-TB-1", NULL, NULL));
    assert_false(timeline_has(a, "M-JD-1", NULL, NULL));
    assert_true(timeline_has(b, "M-JD-1", NULL, NULL));
    assert_false(timeline_has(b, "M-TB-1", NULL, NULL));

    /* again: nothing left to undo */
    assert_int_equal(api(MANAGER, "POST", path, body, &r), 409);
    ht_resp_free(&r);

    /* the same upsert again: the pair is never-merge now */
    assert_int_equal(api(MANAGER, "POST", "/api/v1/customers", upsert, &r), 200);
    assert_int_equal(jint(result(&r, 0), "customer_id"), b);
    ht_resp_free(&r);
    assert_int_equal(customer_answer(b), b);
    assert_true(timeline_has(b, "M-JD-1", NULL, NULL));

    /* both actions are audited */
    assert_int_equal(ht_request(&fx->srv, "GET", "/api/v1/audit?action=customer.unmerge", NULL,
                                NULL, fx->admin_cookie, &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
    ht_resp_free(&r);
}

static void never_merge__marks_pair_and_validates(void **state)
{
    (void)state;
    struct ht_resp r;
    char body[128];
    /* two fresh customers that a later phone would link */
    const char *mk = "{\"customers\":["
                     "{\"identities\":[{\"channel\":\"pdd\",\"kind\":\"buyer_id\",\"value\":"
                     "\"pdd_n\"}]},"
                     "{\"identities\":[{\"channel\":\"douyin\",\"kind\":\"buyer_id\",\"value\":"
                     "\"dy_n\"}],\"phone\":\"13700000005\"}]}";
    assert_int_equal(api(ADMIN, "POST", "/api/v1/customers", mk, &r), 200);
    json_int_t p = jint(result(&r, 0), "customer_id"), d = jint(result(&r, 1), "customer_id");
    ht_resp_free(&r);
    snprintf(body, sizeof body, "{\"a\":%lld,\"b\":%lld,\"reason\":\"siblings\"}", (long long)p,
             (long long)d);
    assert_int_equal(api(MANAGER, "POST", "/api/v1/customers/never-merge", body, &r), 200);
    ht_resp_free(&r);
    const char *link = "{\"customers\":[{\"identities\":[{\"channel\":\"pdd\",\"kind\":"
                       "\"buyer_id\",\"value\":\"pdd_n\"}],\"phone\":\"13700000005\"}]}";
    assert_int_equal(api(ADMIN, "POST", "/api/v1/customers", link, &r), 200);
    assert_int_equal(jint(result(&r, 0), "customer_id"), p);
    ht_resp_free(&r);
    assert_int_equal(customer_answer(p), p);
    assert_int_equal(customer_answer(d), d);

    snprintf(body, sizeof body, "{\"a\":%lld,\"b\":%lld}", (long long)p, (long long)p);
    assert_int_equal(api(ADMIN, "POST", "/api/v1/customers/never-merge", body, &r), 400);
    ht_resp_free(&r);
    snprintf(body, sizeof body, "{\"a\":%lld,\"b\":99999999}", (long long)p);
    assert_int_equal(api(ADMIN, "POST", "/api/v1/customers/never-merge", body, &r), 404);
    ht_resp_free(&r);
    assert_int_equal(api(ADMIN, "POST", "/api/v1/customers/99999999/unmerge", NULL, &r), 404);
    ht_resp_free(&r);
}

/* ---- roles -------------------------------------------------------------------------------- */

static void roles__operator_and_agent_forbidden_no_token_unauthenticated(void **state)
{
    (void)state;
    static const char *const paths[] = {"/api/v1/orders", "/api/v1/events", "/api/v1/customers",
                                        "/api/v1/customers/1/unmerge",
                                        "/api/v1/customers/never-merge"};
    const char *body = "{\"orders\":[]}";
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct ht_resp r;
        assert_int_equal(api(OPERATOR, "POST", paths[i], body, &r), 403);
        ht_resp_free(&r);
        assert_int_equal(api(AGENT, "POST", paths[i], body, &r), 403);
        ht_resp_free(&r);
        assert_int_equal(api(-1, "POST", paths[i], body, &r), 401);
        ht_resp_free(&r);
    }
    struct ht_resp r;
    assert_int_equal(api(AGENT, "GET", "/api/v1/customers/1/merges", NULL, &r), 403);
    ht_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(orders__good_items_stored_bad_ones_named_by_index_and_field),
        cmocka_unit_test(orders__status_change_updates_and_shows_in_timeline),
        cmocka_unit_test(orders__buyer_without_identity_refused_fields_named_by_full_path),
        cmocka_unit_test(orders__more_than_1000_rejected_whole),
        cmocka_unit_test(orders__wechat_union_id_joins_the_buyer),
        cmocka_unit_test(events__stored_validated_idempotent_and_in_timeline),
        cmocka_unit_test(customers__upsert_creates_then_finds_by_identity),
        cmocka_unit_test(customers__phone_merges_across_channels_unmerge_restores_never_again),
        cmocka_unit_test(never_merge__marks_pair_and_validates),
        cmocka_unit_test(roles__operator_and_agent_forbidden_no_token_unauthenticated),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
