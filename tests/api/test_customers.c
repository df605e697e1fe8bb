/*
 * test_customers.c — the customer 360 profile, its timeline and customer search over HTTP:
 * aggregates exact for a constructed customer (refunded, cancelled and unpaid orders excluded,
 * refunds subtracted, AOV, main category by net spend, coupon-use rate, refund count), PII
 * masked by role, merged ids answered with the survivor, search by nick prefix, exact phone in
 * several written forms, real name and order number, keyset paging that covers every customer
 * exactly once in every sort, timeline paging, 404/400/401; and the same on data written by
 * `huike import` from a generic CSV.
 *
 * Seeding: the data are written straight into the server's database through the store
 * (hk_store_open on the harness's db_url), so every value is known exactly. PII is sealed with
 * the same key the server uses: the test sets HUIKE_KEY (inherited by the server and the CLI)
 * and loads the same keyring. One server serves every test; the tests only read.
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

#include "core/err.h"
#include "core/pii.h"
#include "harness.h"
#include "store/store.h"

#define TEST_KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define NFILLERS 30

struct fixture {
    struct ht_server srv;
    struct hk_keyring kr;
    char cookie[5][256]; /* admin, manager1, operator1, agent1, associate1 */
    int64_t alice, alicia, old_alice, older_alice, pct, five;
    int64_t fillers[NFILLERS];
    int64_t all_live; /* customers not merged away */
};

enum { ADMIN, MANAGER, OPERATOR, AGENT, ASSOCIATE };
static const char *const logins[] = {"admin", "manager1", "operator1", "agent1", "associate1"};
static const char *const passwords[] = {"admin-pass-1", "manager1-pass", "operator1-pass",
                                        "agent1-pass", "associate1-pass"};

/* Instants used below (Asia/Shanghai is UTC+8). */
#define T_2025_06_01 1748707200 /* 2025-06-01 00:00 +08 */
#define T_2025_10_01 1759291200 /* 2025-10-01 12:00 +08 */
#define T_2025_11_11 1762826400 /* 2025-11-11 10:00 +08 */
#define T_2025_12_01 1764552600 /* 2025-12-01 09:30 +08 */
#define T_2026_01_05 1767546000 /* 2026-01-05 01:00 +08 = 2026-01-04 17:00 UTC */
#define T_2026_01_10 1768046400 /* 2026-01-10 20:00 +08 */
#define T_2026_01_11 1768136400 /* 2026-01-11 21:00 +08 */
#define T_2026_02_01 1769904000 /* 2026-02-01 08:00 +08 */
#define T_2026_02_10 1770681600 /* 2026-02-10 08:00 +08 */

/* ---- seeding through the store ------------------------------------------------------------ */

enum { B_NULL, B_INT, B_TEXT, B_BLOB };
struct bv {
    int type;
    int64_t i;
    const char *s;
    const unsigned char *p;
    size_t len;
};
#define BI(v)    ((struct bv){B_INT, (v), NULL, NULL, 0})
#define BT(v)    ((struct bv){B_TEXT, 0, (v), NULL, 0})
#define BB(p, n) ((struct bv){B_BLOB, 0, NULL, (p), (n)})
#define BN       ((struct bv){B_NULL, 0, NULL, NULL, 0})

/* Runs sql with the n bindings; returns the first column of the first row (RETURNING id), or 0. */
static int64_t run(struct hk_db *db, const char *name, const char *sql, const struct bv *b,
                   size_t n)
{
    struct hk_err err;
    struct hk_stmt *st;
    if (hk_db_stmt(db, name, sql, &st, &err) != 0)
        fail_msg("%s: %s", name, hk_err_message(&err));
    for (size_t i = 0; i < n; i++) {
        int idx = (int)i + 1, rc = 0;
        switch (b[i].type) {
        case B_INT:
            rc = hk_stmt_bind_int64(st, idx, b[i].i);
            break;
        case B_TEXT:
            rc = hk_stmt_bind_text(st, idx, b[i].s, (size_t)-1);
            break;
        case B_BLOB:
            rc = hk_stmt_bind_blob(st, idx, b[i].p, b[i].len);
            break;
        default:
            rc = hk_stmt_bind_null(st, idx);
        }
        assert_int_equal(rc, 0);
    }
    int rc = hk_stmt_step(st, &err);
    if (rc < 0)
        fail_msg("%s: %s", name, hk_err_message(&err));
    int64_t id = rc == HK_ROW ? hk_stmt_int64(st, 0) : 0;
    hk_stmt_reset(st);
    return id;
}
#define RUN(db, name, sql, ...)                                                                    \
    run(db, name, sql, (const struct bv[]){__VA_ARGS__},                                           \
        sizeof((const struct bv[]){__VA_ARGS__}) / sizeof(struct bv))

struct sealed {
    unsigned char b[256];
    size_t n;
};

static struct bv seal(const struct hk_keyring *kr, const char *plain, struct sealed *out)
{
    if (!plain)
        return BN;
    out->n = hk_pii_seal(kr, plain, strlen(plain), out->b);
    return BB(out->b, out->n);
}

struct person {
    const char *nick, *name, *phone, *address, *province, *city, *birthday, *gender, *email;
    int64_t merged_into, created_at;
};

static int64_t add_customer(struct hk_db *db, const struct hk_keyring *kr, const struct person *p)
{
    struct sealed name_enc, phone_enc, addr_enc;
    char phone[HK_PHONE_MAX] = "", phone_hash[HK_PII_HASH_HEX + 1] = "",
         name_hash[HK_PII_HASH_HEX + 1] = "", masked[32] = "";
    if (p->phone) {
        hk_phone_normalize(p->phone, strlen(p->phone), phone, sizeof phone);
        hk_pii_hash(kr, phone, strlen(phone), phone_hash);
        hk_phone_mask(phone, masked, sizeof masked);
    }
    if (p->name)
        hk_pii_hash(kr, p->name, strlen(p->name), name_hash);
    return RUN(db, "t_customer",
               "INSERT INTO customers (nick, name_enc, phone_enc, phone_hash, name_hash, "
               "phone_masked, email, province, city, address_enc, birthday, gender, merged_into, "
               "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
               "$13, $14, $14) RETURNING id",
               BT(p->nick), seal(kr, p->name, &name_enc),
               seal(kr, p->phone ? phone : NULL, &phone_enc), p->phone ? BT(phone_hash) : BN,
               p->name ? BT(name_hash) : BN, p->phone ? BT(masked) : BN,
               p->email ? BT(p->email) : BN, BT(p->province ? p->province : ""),
               BT(p->city ? p->city : ""), seal(kr, p->address, &addr_enc),
               p->birthday ? BT(p->birthday) : BN, BT(p->gender ? p->gender : ""),
               p->merged_into ? BI(p->merged_into) : BN, BI(p->created_at));
}

struct order {
    int64_t shop;
    const char *no, *status, *coupon;
    int64_t paid_fen, refund_fen, created_at, paid_at;
};

static int64_t add_order(struct hk_db *db, int64_t customer, const struct order *o)
{
    return RUN(db, "t_order",
               "INSERT INTO orders (shop_id, external_no, customer_id, status, total_fen, "
               "paid_fen, refund_fen, coupon_code, created_at, paid_at, refunded_at, "
               "cancelled_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9, $10, "
               "$11, $8) RETURNING id",
               BI(o->shop), BT(o->no), BI(customer), BT(o->status), BI(o->paid_fen),
               BI(o->refund_fen), o->coupon ? BT(o->coupon) : BN, BI(o->created_at),
               o->paid_at ? BI(o->paid_at) : BN,
               strcmp(o->status, "refunded") == 0 ? BI(o->paid_at + 86400) : BN,
               strcmp(o->status, "cancelled") == 0 ? BI(o->created_at + 3600) : BN);
}

static void add_item(struct hk_db *db, int64_t order, int line, int64_t product, const char *title,
                     int64_t qty, int64_t paid_fen, int64_t refund_fen)
{
    char key[32];
    snprintf(key, sizeof key, "k%d", line);
    RUN(db, "t_item",
        "INSERT INTO order_items (order_id, line_no, item_key, product_id, title, quantity, "
        "unit_price_fen, paid_fen, refund_fen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        BI(order), BI(line), BT(key), product ? BI(product) : BN, BT(title), BI(qty),
        BI(qty ? paid_fen / qty : 0), BI(paid_fen), BI(refund_fen));
}

static void add_identity(struct hk_db *db, int64_t customer, const char *channel, const char *kind,
                         const char *value)
{
    RUN(db, "t_identity",
        "INSERT INTO identities (customer_id, channel, kind, value, created_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        BI(customer), BT(channel), BT(kind), BT(value), BI(T_2025_06_01));
}

static void add_event(struct hk_db *db, int64_t customer, int64_t shop, const char *type,
                      int64_t at, const char *props)
{
    RUN(db, "t_event",
        "INSERT INTO events (customer_id, shop_id, type, at, properties, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $4)",
        BI(customer), BI(shop), BT(type), BI(at), BT(props));
}

static void add_tag(struct hk_db *db, int64_t customer, const char *name)
{
    int64_t tag = RUN(db, "t_tag",
                      "INSERT INTO tags (name, kind, created_at, updated_at) "
                      "VALUES ($1, 'manual', $2, $2) RETURNING id",
                      BT(name), BI(T_2025_06_01));
    RUN(db, "t_customer_tag",
        "INSERT INTO customer_tags (customer_id, tag_id, source, created_at) "
        "VALUES ($1, $2, 'manual', $3)",
        BI(customer), BI(tag), BI(T_2025_06_01));
}

/*
 * The data set:
 *   alice (王小丽, 13812345678) with six orders in two shops — completed (coupon), shipped
 *   with a partial refund, paid (coupon), refunded, cancelled, created — two events, four
 *   identities and two tags; old_alice merged into alice and older_alice into old_alice;
 *   alicia (李四) with one order; two customers whose nicks hold LIKE wildcards; and NFILLERS
 *   customers with tied creation times, spends and last purchases to test keyset paging.
 */
static void seed(struct fixture *f)
{
    struct hk_store *store;
    struct hk_db *db;
    struct hk_err err;
    if (hk_store_open(f->srv.db_url, NULL, &store, &err) != 0)
        fail_msg("open %s: %s", f->srv.db_url, hk_err_message(&err));
    assert_int_equal(hk_db_acquire(store, &db, &err), 0);
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);

    int64_t tb = RUN(db, "t_shop",
                     "INSERT INTO shops (channel, name, created_at) VALUES ($1, $2, $3) "
                     "RETURNING id",
                     BT("taobao"), BT("回客旗舰店"), BI(T_2025_06_01));
    int64_t jd = RUN(db, "t_shop",
                     "INSERT INTO shops (channel, name, created_at) VALUES ($1, $2, $3) "
                     "RETURNING id",
                     BT("jd"), BT("回客京东店"), BI(T_2025_06_01));
    int64_t dress1 = RUN(db, "t_product",
                         "INSERT INTO products (shop_id, external_id, title, category, created_at) "
                         "VALUES ($1, $2, $3, $4, $5) RETURNING id",
                         BI(tb), BT("P100"), BT("碎花连衣裙"), BT("连衣裙"), BI(T_2025_06_01));
    int64_t lipstick = RUN(db, "t_product",
                           "INSERT INTO products (shop_id, external_id, title, category, "
                           "created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                           BI(tb), BT("P200"), BT("丝绒口红"), BT("口红"), BI(T_2025_06_01));
    int64_t dress2 = RUN(db, "t_product",
                         "INSERT INTO products (shop_id, external_id, title, category, created_at) "
                         "VALUES ($1, $2, $3, $4, $5) RETURNING id",
                         BI(jd), BT("J300"), BT("真丝连衣裙"), BT("连衣裙"), BI(T_2025_06_01));

    struct person alice = {.nick = "Alice_Wang",
                           .name = "王小丽",
                           .phone = "13812345678",
                           .address = "浙江省杭州市西湖区文三路 1 号",
                           .province = "浙江省",
                           .city = "杭州市",
                           .birthday = "1990-05-01",
                           .gender = "f",
                           .email = "alice@example.com",
                           .created_at = T_2025_06_01};
    f->alice = add_customer(db, &f->kr, &alice);

    /* counted: 10000 (coupon) + (20000 - 5000) + 8000 (coupon) = 33000 over 3 orders */
    struct order o1 = {tb,    "TB1001", "completed",  "C-11",
                       10000, 0,        T_2025_11_11, T_2025_11_11 + 60};
    int64_t id1 = add_order(db, f->alice, &o1);
    add_item(db, id1, 1, dress1, "碎花连衣裙", 1, 10000, 0);
    struct order o2 = {tb, "TB1002", "shipped", NULL, 20000, 5000, T_2025_12_01, T_2025_12_01 + 60};
    int64_t id2 = add_order(db, f->alice, &o2);
    add_item(db, id2, 1, lipstick, "丝绒口红", 2, 20000, 5000);
    struct order o3 = {jd, "JD2001", "paid", "JD-COUPON", 8000, 0, T_2026_01_05, T_2026_01_05 + 60};
    int64_t id3 = add_order(db, f->alice, &o3);
    add_item(db, id3, 1, dress2, "真丝连衣裙", 1, 8000, 0);
    /* not counted: refunded (its lipstick would make 口红 the main category), cancelled, unpaid */
    struct order o4 = {tb,    "TB1004", "refunded",   "C-44",
                       30000, 30000,    T_2025_10_01, T_2025_10_01 + 60};
    int64_t id4 = add_order(db, f->alice, &o4);
    add_item(db, id4, 1, lipstick, "丝绒口红", 3, 30000, 30000);
    struct order o5 = {tb, "TB1005", "cancelled", "C-55", 0, 0, T_2026_02_01, 0};
    add_order(db, f->alice, &o5);
    struct order o6 = {tb, "TB1006", "created", NULL, 0, 0, T_2026_02_10, 0};
    int64_t id6 = add_order(db, f->alice, &o6);
    add_item(db, id6, 1, lipstick, "丝绒口红", 1, 0, 0);
    add_event(db, f->alice, tb, "browse", T_2026_01_10, "{\"product_id\":\"P100\"}");
    add_event(db, f->alice, tb, "cart", T_2026_01_11, "{\"product_id\":\"P200\",\"quantity\":1}");
    char phone_hash[HK_PII_HASH_HEX + 1];
    hk_pii_hash(&f->kr, "+8613812345678", 14, phone_hash);
    add_identity(db, f->alice, "taobao", "buyer_id", "tb_alice");
    add_identity(db, f->alice, "taobao", "nick", "Alice_Wang");
    add_identity(db, f->alice, "jd", "buyer_id", "jd_alice_88");
    add_identity(db, f->alice, "*", "phone", phone_hash);
    add_tag(db, f->alice, "活动敏感型");
    add_tag(db, f->alice, "VIP");

    struct person old = {.nick = "alice_old", .merged_into = f->alice, .created_at = T_2025_06_01};
    f->old_alice = add_customer(db, &f->kr, &old);
    struct person older = {
        .nick = "alice_older", .merged_into = f->old_alice, .created_at = T_2025_06_01};
    f->older_alice = add_customer(db, &f->kr, &older);

    struct person alicia = {.nick = "alicia",
                            .name = "李四",
                            .phone = "+86 139-0000-1111",
                            .province = "广东省",
                            .city = "深圳市",
                            .created_at = T_2025_06_01 + 10};
    f->alicia = add_customer(db, &f->kr, &alicia);
    /* a second mobile, known only as an identity (the profile keeps its first phone) */
    hk_pii_hash(&f->kr, "+8613700002222", 14, phone_hash);
    add_identity(db, f->alicia, "*", "phone", phone_hash);
    struct order o7 = {jd, "T-2002", "completed", NULL, 50000, 0, T_2025_12_01, T_2025_12_01};
    int64_t id7 = add_order(db, f->alicia, &o7);
    RUN(db, "t_item_cat",
        "INSERT INTO order_items (order_id, line_no, item_key, title, quantity, paid_fen, "
        "category) VALUES ($1, 1, 'k1', '羊毛大衣', 1, 50000, '外套')",
        BI(id7));

    struct person pct = {.nick = "50%_off", .created_at = T_2025_06_01 + 20};
    f->pct = add_customer(db, &f->kr, &pct);
    struct person five = {.nick = "5x0yoff", .created_at = T_2025_06_01 + 20};
    f->five = add_customer(db, &f->kr, &five);

    /* fillers: creation times in ties of three; spends 0..4000 in ties; last purchases in 4 */
    for (int i = 0; i < NFILLERS; i++) {
        char nick[32], no[32];
        snprintf(nick, sizeof nick, "buyer%02d", i);
        struct person p = {.nick = nick, .created_at = T_2025_06_01 + 1000 + (i / 3) * 100};
        f->fillers[i] = add_customer(db, &f->kr, &p);
        if (i % 5 == 0)
            continue; /* no orders: spend 0, no last purchase */
        snprintf(no, sizeof no, "F%04d", i);
        int64_t at = T_2025_11_11 + (int64_t)(i % 4) * 3600;
        struct order o = {tb, no, "completed", NULL, (int64_t)(i % 5) * 1000, 0, at, at};
        add_order(db, f->fillers[i], &o);
    }
    f->all_live = 4 + NFILLERS; /* alice, alicia, pct, five, fillers */

    assert_int_equal(hk_db_commit(db, &err), 0);
    hk_db_release(db);
    hk_store_close(store);
}

/* ---- setup ------------------------------------------------------------------------------ */

static int group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct hk_err err;
    if (!f)
        return -1;
    /* the server and every CLI the harness runs inherit the key, so the test can seal PII */
    setenv("HUIKE_KEY", TEST_KEY, 1);
    if (hk_keyring_load(&f->kr, "/nonexistent", TEST_KEY, &err) != 0 ||
        ht_server_start(&f->srv, NULL) != 0) {
        free(f);
        return -1;
    }
    for (int i = 0; i < 5; i++) {
        if (ht_login(&f->srv, logins[i], passwords[i], f->cookie[i], sizeof f->cookie[i]) != 0) {
            ht_server_stop(&f->srv);
            free(f);
            return -1;
        }
    }
    seed(f);
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;
    int st = ht_server_stop(&f->srv);
    hk_keyring_clear(&f->kr);
    free(f);
    return st == 0 ? 0 : -1;
}

/* ---- HTTP helpers ------------------------------------------------------------------------- */

static long get(struct fixture *f, int who, const char *path, struct ht_resp *out)
{
    assert_int_equal(ht_request(&f->srv, "GET", path, NULL, NULL, f->cookie[who], out), 0);
    return out->status;
}

/* GET path as who, expecting 200; returns the JSON body (owned by *r). */
static json_t *get_ok(struct fixture *f, int who, const char *path, struct ht_resp *r)
{
    long st = get(f, who, path, r);
    if (st != 200)
        fail_msg("GET %s as %s: %ld %s", path, logins[who], st, r->body);
    assert_non_null(r->json);
    return r->json;
}

/* Percent-encodes s (UTF-8) for a query string. */
static void url_encode(const char *s, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && n + 4 < size; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        fail_msg("%s is not a string", key);
    return json_string_value(v);
}

static int64_t jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("%s is not an integer", key);
    return (int64_t)json_integer_value(v);
}

/* Ids of a search for q (raw text, encoded here) with extra query (may be ""), one page. */
static size_t search_ids(struct fixture *f, int who, const char *q, const char *extra, int64_t *ids,
                         size_t cap)
{
    char enc[512], path[1024];
    url_encode(q, enc, sizeof enc);
    snprintf(path, sizeof path, "/api/v1/customers?q=%s&limit=500%s", enc, extra);
    struct ht_resp r;
    json_t *body = get_ok(f, who, path, &r);
    json_t *items = json_object_get(body, "items");
    assert_true(json_is_array(items));
    assert_true(json_is_null(json_object_get(body, "next_cursor")));
    size_t n = json_array_size(items);
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++)
        ids[i] = jint(json_array_get(items, i), "id");
    ht_resp_free(&r);
    return n;
}

static bool near(double a, double b)
{
    return a - b < 1e-9 && b - a < 1e-9;
}

static bool has_id(const int64_t *ids, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

/* ---- profile ------------------------------------------------------------------------------ */

static void profile__aggregates_are_exact_for_a_constructed_customer(void **state)
{
    struct fixture *f = *state;
    char path[128];
    snprintf(path, sizeof path, "/api/v1/customers/%lld", (long long)f->alice);
    struct ht_resp r;
    json_t *p = get_ok(f, ADMIN, path, &r);

    assert_int_equal(jint(p, "id"), f->alice);
    assert_true(json_is_null(json_object_get(p, "merged_from")));
    assert_string_equal(jstr(p, "nick"), "Alice_Wang");
    assert_string_equal(jstr(p, "birthday"), "1990-05-01");
    assert_string_equal(jstr(p, "gender"), "f");
    json_t *region = json_object_get(p, "region");
    assert_string_equal(jstr(region, "province"), "浙江省");
    assert_string_equal(jstr(region, "city"), "杭州市");

    /* paid, shipped, completed count; refunded, cancelled and created do not */
    assert_int_equal(jint(p, "order_count"), 3);
    assert_int_equal(jint(p, "net_spend_fen"), 33000);
    assert_string_equal(jstr(p, "net_spend"), "330.00");
    assert_int_equal(jint(p, "aov_fen"), 11000);
    assert_string_equal(jstr(p, "aov"), "110.00");
    /* 连衣裙 10000 + 8000 beats 口红 20000 - 5000 (the refunded 口红 order does not count) */
    assert_string_equal(jstr(p, "main_category"), "连衣裙");
    assert_int_equal(jint(p, "coupon_orders"), 2);
    assert_true(near(json_real_value(json_object_get(p, "coupon_use_rate")), 0.6667));
    /* the refunded order and the shipped one with a partial refund */
    assert_int_equal(jint(p, "refund_count"), 2);
    /* purchase time = payment time: first 2025-11-11 10:01 +08, last 2026-01-05 01:01 +08 */
    assert_string_equal(jstr(p, "first_purchase_at"), "2025-11-11T02:01:00Z");
    assert_string_equal(jstr(p, "first_purchase_date"), "2025-11-11");
    assert_string_equal(jstr(p, "last_purchase_at"), "2026-01-04T17:01:00Z");
    assert_string_equal(jstr(p, "last_purchase_date"), "2026-01-05"); /* shop-local */

    /* tags by name; identities grouped per channel */
    json_t *tags = json_object_get(p, "tags");
    assert_int_equal(json_array_size(tags), 2);
    assert_string_equal(jstr(json_array_get(tags, 0), "name"), "VIP");
    assert_string_equal(jstr(json_array_get(tags, 1), "name"), "活动敏感型");
    json_t *ids = json_object_get(p, "identities");
    assert_int_equal(json_array_size(json_object_get(ids, "taobao")), 2);
    json_t *jd = json_object_get(ids, "jd");
    assert_int_equal(json_array_size(jd), 1);
    assert_string_equal(jstr(json_array_get(jd, 0), "kind"), "buyer_id");
    assert_string_equal(jstr(json_array_get(jd, 0), "value"), "jd_alice_88");
    json_t *star = json_object_get(ids, "*");
    assert_int_equal(json_array_size(star), 1);
    assert_string_equal(jstr(json_array_get(star, 0), "kind"), "phone");
    assert_string_equal(jstr(json_array_get(star, 0), "value"), "+8613812345678");

    /* the merged-away customers are listed (only the direct one) */
    json_t *merged = json_object_get(p, "merged_ids");
    assert_int_equal(json_array_size(merged), 1);
    assert_int_equal(json_integer_value(json_array_get(merged, 0)), f->old_alice);

    /* the first timeline page: 6 orders + 2 events, newest first */
    json_t *tl = json_object_get(p, "timeline");
    json_t *items = json_object_get(tl, "items");
    assert_int_equal(json_array_size(items), 8);
    assert_true(json_is_null(json_object_get(tl, "next_cursor")));
    json_t *first = json_array_get(items, 0);
    assert_string_equal(jstr(first, "type"), "order");
    assert_string_equal(jstr(json_object_get(first, "order"), "order_no"), "TB1006");
    assert_false(json_is_true(json_object_get(json_object_get(first, "order"), "counted")));
    ht_resp_free(&r);

    /* alicia: a line with its own category and no product */
    snprintf(path, sizeof path, "/api/v1/customers/%lld", (long long)f->alicia);
    p = get_ok(f, ADMIN, path, &r);
    assert_string_equal(jstr(p, "main_category"), "外套");
    assert_int_equal(jint(p, "aov_fen"), 50000);
    assert_int_equal(jint(p, "refund_count"), 0);
    assert_true(near(json_real_value(json_object_get(p, "coupon_use_rate")), 0.0));
    ht_resp_free(&r);

    /* a customer without orders */
    snprintf(path, sizeof path, "/api/v1/customers/%lld", (long long)f->fillers[0]);
    p = get_ok(f, ADMIN, path, &r);
    assert_int_equal(jint(p, "order_count"), 0);
    assert_string_equal(jstr(p, "net_spend"), "0.00");
    assert_true(json_is_null(json_object_get(p, "first_purchase_at")));
    assert_true(json_is_null(json_object_get(p, "main_category")));
    assert_true(json_is_null(json_object_get(p, "phone")));
    assert_true(json_is_null(json_object_get(p, "name")));
    ht_resp_free(&r);
}

static void profile__pii_is_masked_for_roles_without_pii_access(void **state)
{
    struct fixture *f = *state;
    char path[128];
    snprintf(path, sizeof path, "/api/v1/customers/%lld", (long long)f->alice);
    for (int who = ADMIN; who <= ASSOCIATE; who++) {
        bool clear = who == ADMIN || who == MANAGER;
        struct ht_resp r;
        json_t *p = get_ok(f, who, path, &r);
        assert_true(json_is_true(json_object_get(p, "pii_masked")) == !clear);
        assert_string_equal(jstr(p, "phone"), clear ? "+8613812345678" : "138****5678");
        assert_string_equal(jstr(p, "name"), clear ? "王小丽" : "王*");
        assert_string_equal(jstr(p, "address"),
                            clear ? "浙江省杭州市西湖区文三路 1 号" : "浙江省杭州市");
        assert_string_equal(jstr(p, "email"), clear ? "alice@example.com" : "a***@example.com");
        json_t *phone_id =
            json_array_get(json_object_get(json_object_get(p, "identities"), "*"), 0);
        assert_string_equal(jstr(phone_id, "value"), clear ? "+8613812345678" : "138****5678");
        /* the aggregates are the same for everyone */
        assert_int_equal(jint(p, "net_spend_fen"), 33000);
        if (!clear)
            assert_null(strstr(r.body, "13812345678"));
        ht_resp_free(&r);

        /* and so is the search listing */
        char q[256];
        snprintf(q, sizeof q, "/api/v1/customers?q=Alice_W");
        json_t *l = get_ok(f, who, q, &r);
        json_t *item = json_array_get(json_object_get(l, "items"), 0);
        assert_int_equal(jint(item, "id"), f->alice);
        assert_string_equal(jstr(item, "phone"), clear ? "+8613812345678" : "138****5678");
        assert_string_equal(jstr(item, "name"), clear ? "王小丽" : "王*");
        assert_true(json_is_true(json_object_get(l, "pii_masked")) == !clear);
        ht_resp_free(&r);
    }
}

static void profile__merged_id_answers_with_the_survivor(void **state)
{
    struct fixture *f = *state;
    int64_t asked[] = {f->old_alice, f->older_alice}; /* one merge, and a chain of two */
    for (size_t i = 0; i < 2; i++) {
        char path[128];
        snprintf(path, sizeof path, "/api/v1/customers/%lld", (long long)asked[i]);
        struct ht_resp r;
        json_t *p = get_ok(f, AGENT, path, &r);
        assert_int_equal(jint(p, "id"), f->alice);
        assert_int_equal(jint(p, "merged_from"), asked[i]);
        assert_string_equal(jstr(p, "nick"), "Alice_Wang");
        assert_int_equal(jint(p, "order_count"), 3);
        ht_resp_free(&r);

        snprintf(path, sizeof path, "/api/v1/customers/%lld/timeline?limit=2", (long long)asked[i]);
        json_t *t = get_ok(f, AGENT, path, &r);
        assert_int_equal(jint(t, "customer_id"), f->alice);
        assert_int_equal(jint(t, "merged_from"), asked[i]);
        assert_int_equal(json_array_size(json_object_get(t, "items")), 2);
        ht_resp_free(&r);
    }
    /* merged-away customers are never listed by search */
    int64_t ids[64] = {0};
    size_t n = search_ids(f, ADMIN, "ali", "", ids, 64);
    assert_int_equal(n, 2);
    assert_true(has_id(ids, n, f->alice));
    assert_true(has_id(ids, n, f->alicia));
}

static void profile__unknown_id_is_404_and_auth_is_required(void **state)
{
    struct fixture *f = *state;
    struct ht_resp r;
    assert_int_equal(get(f, ADMIN, "/api/v1/customers/999999", &r), 404);
    assert_string_equal(ht_error_code(&r), "not_found");
    ht_resp_free(&r);
    assert_int_equal(get(f, ADMIN, "/api/v1/customers/999999/timeline", &r), 404);
    ht_resp_free(&r);
    assert_int_equal(get(f, ADMIN, "/api/v1/customers/abc", &r), 404);
    ht_resp_free(&r);

    /* no session, a bad session, a bad token: 401 on every route */
    const char *paths[] = {"/api/v1/customers", "/api/v1/customers/1",
                           "/api/v1/customers/1/timeline"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(ht_request(&f->srv, "GET", paths[i], NULL, NULL, NULL, &r), 0);
        assert_int_equal(r.status, 401);
        ht_resp_free(&r);
        assert_int_equal(
            ht_request(&f->srv, "GET", paths[i], NULL, NULL, "huike_session=forged", &r), 0);
        assert_int_equal(r.status, 401);
        ht_resp_free(&r);
        const char *bearer[] = {"Authorization: Bearer hk_not-a-token", NULL};
        assert_int_equal(ht_request(&f->srv, "GET", paths[i], NULL, bearer, NULL, &r), 0);
        assert_int_equal(r.status, 401);
        ht_resp_free(&r);
    }
    /* every staff role may read customers (no 403 for any of them); writes are not routes */
    for (int who = ADMIN; who <= ASSOCIATE; who++) {
        assert_int_equal(get(f, who, "/api/v1/customers?limit=1", &r), 200);
        ht_resp_free(&r);
    }
    assert_int_equal(
        ht_request(&f->srv, "DELETE", "/api/v1/customers/1", NULL, NULL, f->cookie[ADMIN], &r), 0);
    assert_int_equal(r.status, 405);
    ht_resp_free(&r);
}

/* ---- timeline ----------------------------------------------------------------------------- */

static void timeline__pages_cover_every_entry_newest_first(void **state)
{
    struct fixture *f = *state;
    char cursor[128] = "", path[256], prev[40] = "";
    int orders = 0, events = 0, pages = 0;
    bool saw_items = false;
    do {
        snprintf(path, sizeof path, "/api/v1/customers/%lld/timeline?limit=3%s%s",
                 (long long)f->alice, cursor[0] ? "&cursor=" : "", cursor);
        struct ht_resp r;
        json_t *t = get_ok(f, OPERATOR, path, &r);
        json_t *items = json_object_get(t, "items");
        assert_true(json_array_size(items) <= 3);
        for (size_t i = 0; i < json_array_size(items); i++) {
            json_t *e = json_array_get(items, i);
            const char *type = jstr(e, "type");
            assert_true(jint(e, "id") > 0);
            json_t *shop = json_object_get(e, "shop");
            assert_true(json_is_object(shop));
            if (strcmp(type, "order") == 0) {
                orders++;
                json_t *o = json_object_get(e, "order");
                if (strcmp(jstr(o, "order_no"), "TB1002") == 0) {
                    json_t *it = json_array_get(json_object_get(o, "items"), 0);
                    assert_string_equal(jstr(it, "category"), "口红");
                    assert_string_equal(jstr(it, "product_id"), "P200");
                    assert_int_equal(jint(it, "quantity"), 2);
                    assert_int_equal(jint(it, "refund_fen"), 5000);
                    assert_int_equal(jint(o, "refund_fen"), 5000);
                    assert_string_equal(jstr(o, "paid"), "200.00");
                    assert_string_equal(jstr(o, "status"), "shipped");
                    assert_true(json_is_true(json_object_get(o, "counted")));
                    assert_string_equal(jstr(shop, "channel"), "taobao");
                    saw_items = true;
                }
                if (strcmp(jstr(o, "order_no"), "JD2001") == 0) {
                    /* 2026-01-05 01:00 in the shop's zone, 2026-01-04 in UTC */
                    assert_string_equal(jstr(e, "local_date"), "2026-01-05");
                    assert_string_equal(jstr(e, "at"), "2026-01-04T17:00:00Z");
                }
            } else {
                assert_string_equal(type, "event");
                events++;
                json_t *ev = json_object_get(e, "event");
                assert_true(json_is_object(json_object_get(ev, "properties")));
                assert_non_null(json_object_get(json_object_get(ev, "properties"), "product_id"));
            }
            /* newest first: compare the ISO strings (same format, so lexical = temporal) */
            if (prev[0])
                assert_true(strcmp(jstr(e, "at"), prev) <= 0);
            snprintf(prev, sizeof prev, "%s", jstr(e, "at"));
        }
        json_t *next = json_object_get(t, "next_cursor");
        if (json_is_string(next)) {
            char enc[128];
            url_encode(json_string_value(next), enc, sizeof enc);
            snprintf(cursor, sizeof cursor, "%s", enc);
        } else {
            cursor[0] = '\0';
        }
        pages++;
        ht_resp_free(&r);
    } while (cursor[0] && pages < 10);
    assert_int_equal(orders, 6);
    assert_int_equal(events, 2);
    assert_int_equal(pages, 3);
    assert_true(saw_items);

    struct ht_resp r;
    snprintf(path, sizeof path, "/api/v1/customers/%lld/timeline?cursor=nonsense",
             (long long)f->alice);
    assert_int_equal(get(f, ADMIN, path, &r), 400);
    assert_string_equal(ht_error_code(&r), "invalid_argument");
    ht_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/customers/%lld/timeline?limit=0", (long long)f->alice);
    assert_int_equal(get(f, ADMIN, path, &r), 400);
    ht_resp_free(&r);
}

/* ---- search ------------------------------------------------------------------------------- */

static void search__by_nick_prefix_case_insensitively(void **state)
{
    struct fixture *f = *state;
    int64_t ids[64] = {0};
    const char *forms[] = {"ali", "ALI", "Ali", "  alI  "};
    for (size_t i = 0; i < 4; i++) {
        size_t n = search_ids(f, AGENT, forms[i], "&by=nick", ids, 64);
        assert_int_equal(n, 2);
        assert_true(has_id(ids, n, f->alice));
        assert_true(has_id(ids, n, f->alicia));
    }
    /* a prefix, not a substring */
    assert_int_equal(search_ids(f, AGENT, "lice", "&by=nick", ids, 64), 0);
    assert_int_equal(search_ids(f, AGENT, "alicia", "", ids, 64), 1);
    assert_int_equal(ids[0], f->alicia);
    /* LIKE wildcards in the text are literal */
    size_t n = search_ids(f, AGENT, "50%", "&by=nick", ids, 64);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], f->pct);
    assert_int_equal(search_ids(f, AGENT, "5_", "&by=nick", ids, 64), 0);
    assert_int_equal(search_ids(f, AGENT, "5x0", "&by=nick", ids, 64), 1);
    /* fillers: buyer00..buyer29 */
    assert_int_equal(search_ids(f, AGENT, "buyer", "", ids, 64), NFILLERS);
    assert_int_equal(search_ids(f, AGENT, "buyer1", "", ids, 64), 10);
}

static void search__by_exact_phone_in_any_written_form(void **state)
{
    struct fixture *f = *state;
    int64_t ids[64] = {0};
    const char *forms[] = {"13812345678",    "138 1234 5678",    "+86 138-1234-5678",
                           "+8613812345678", "0086 13812345678", "86-138-1234-5678"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        size_t n = search_ids(f, OPERATOR, forms[i], "", ids, 64);
        if (n != 1 || ids[0] != f->alice)
            fail_msg("phone '%s' found %zu customers", forms[i], n);
        n = search_ids(f, OPERATOR, forms[i], "&by=phone", ids, 64);
        assert_int_equal(n, 1);
        assert_int_equal(ids[0], f->alice);
    }
    assert_int_equal(search_ids(f, OPERATOR, "139 0000 1111", "&by=phone", ids, 64), 1);
    assert_int_equal(ids[0], f->alicia);
    /* a mobile the customer used that is not the profile's phone: found through identities */
    assert_int_equal(search_ids(f, OPERATOR, "137 0000 2222", "&by=phone", ids, 64), 1);
    assert_int_equal(ids[0], f->alicia);
    assert_int_equal(search_ids(f, OPERATOR, "13700002222", "", ids, 64), 1);
    assert_int_equal(ids[0], f->alicia);
    /* exact only: a partial number or the mask finds nobody */
    assert_int_equal(search_ids(f, OPERATOR, "1381234", "&by=phone", ids, 64), 0);
    assert_int_equal(search_ids(f, OPERATOR, "138****5678", "", ids, 64), 0);
}

static void search__by_real_name_and_order_number(void **state)
{
    struct fixture *f = *state;
    int64_t ids[64] = {0};
    /* a name is exact; operators may search by it though they see it masked */
    size_t n = search_ids(f, OPERATOR, "王小丽", "", ids, 64);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], f->alice);
    assert_int_equal(search_ids(f, OPERATOR, "李四", "&by=name", ids, 64), 1);
    assert_int_equal(ids[0], f->alicia);
    assert_int_equal(search_ids(f, OPERATOR, "王小", "&by=name", ids, 64), 0);
    assert_int_equal(search_ids(f, OPERATOR, "王小丽", "&by=nick", ids, 64), 0);

    n = search_ids(f, AGENT, "T-2002", "", ids, 64);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], f->alicia);
    assert_int_equal(search_ids(f, AGENT, "JD2001", "&by=order", ids, 64), 1);
    assert_int_equal(ids[0], f->alice);
    /* an order of the customer's that does not count still finds them */
    assert_int_equal(search_ids(f, AGENT, "TB1005", "&by=order", ids, 64), 1);
    assert_int_equal(ids[0], f->alice);
    assert_int_equal(search_ids(f, AGENT, "TB10", "&by=order", ids, 64), 0);
}

/* The key a listed customer was sorted on. */
static int64_t sort_key(json_t *item, const char *sort)
{
    if (strcmp(sort, "spend") == 0)
        return jint(item, "net_spend_fen");
    if (strcmp(sort, "id") == 0)
        return jint(item, "id");
    const char *field = strcmp(sort, "created_at") == 0 ? "created_at" : "last_purchase_at";
    json_t *v = json_object_get(item, field);
    if (json_is_null(v))
        return 0;
    /* ISO strings of one format order like their instants: map to a comparable number */
    const char *s = json_string_value(v);
    int y, mo, d, h, mi, se;
    assert_int_equal(sscanf(s, "%d-%d-%dT%d:%d:%dZ", &y, &mo, &d, &h, &mi, &se), 6);
    return ((((int64_t)y * 13 + mo) * 32 + d) * 24 + h) * 3600 + (int64_t)mi * 60 + se;
}

static void search__paging_covers_every_customer_exactly_once(void **state)
{
    struct fixture *f = *state;
    const char *sorts[] = {"id", "created_at", "last_order", "spend"};
    const char *orders[] = {"asc", "desc"};
    for (size_t s = 0; s < 4; s++) {
        for (size_t o = 0; o < 2; o++) {
            int64_t seen[128];
            size_t nseen = 0;
            char cursor[160] = "", path[512];
            int64_t prev_key = 0, prev_id = 0;
            int pages = 0;
            do {
                snprintf(path, sizeof path, "/api/v1/customers?sort=%s&order=%s&limit=7%s%s",
                         sorts[s], orders[o], cursor[0] ? "&cursor=" : "", cursor);
                struct ht_resp r;
                json_t *body = get_ok(f, ASSOCIATE, path, &r);
                assert_string_equal(jstr(body, "sort"), sorts[s]);
                assert_string_equal(jstr(body, "order"), orders[o]);
                json_t *items = json_object_get(body, "items");
                assert_true(json_array_size(items) <= 7);
                for (size_t i = 0; i < json_array_size(items); i++) {
                    json_t *it = json_array_get(items, i);
                    int64_t id = jint(it, "id"), key = sort_key(it, sorts[s]);
                    if (has_id(seen, nseen, id))
                        fail_msg("sort=%s order=%s: customer %lld listed twice", sorts[s],
                                 orders[o], (long long)id);
                    assert_true(nseen < 128);
                    if (nseen > 0) {
                        /* (key, id) strictly monotonic in the direction asked for */
                        bool after = o == 0 ? (key > prev_key || (key == prev_key && id > prev_id))
                                            : (key < prev_key || (key == prev_key && id < prev_id));
                        if (!after)
                            fail_msg("sort=%s order=%s: %lld after %lld out of order", sorts[s],
                                     orders[o], (long long)id, (long long)prev_id);
                    }
                    seen[nseen++] = id;
                    prev_key = key;
                    prev_id = id;
                }
                json_t *next = json_object_get(body, "next_cursor");
                if (json_is_string(next))
                    url_encode(json_string_value(next), cursor, sizeof cursor);
                else
                    cursor[0] = '\0';
                ht_resp_free(&r);
                pages++;
            } while (cursor[0] && pages < 50);
            if ((int64_t)nseen != f->all_live)
                fail_msg("sort=%s order=%s: %zu customers listed, %lld expected", sorts[s],
                         orders[o], nseen, (long long)f->all_live);
            assert_false(has_id(seen, nseen, f->old_alice));
            assert_false(has_id(seen, nseen, f->older_alice));
        }
    }

    /* the default: newest id first; the biggest spender first with sort=spend */
    int64_t ids[64] = {0};
    size_t n = search_ids(f, ADMIN, "", "&sort=spend", ids, 64);
    assert_int_equal(n, f->all_live);
    assert_int_equal(ids[0], f->alicia); /* 500.00 */
    assert_int_equal(ids[1], f->alice);  /* 330.00 */
}

static void search__rejects_bad_parameters(void **state)
{
    struct fixture *f = *state;
    const char *bad[] = {
        "/api/v1/customers?sort=nick",
        "/api/v1/customers?order=up",
        "/api/v1/customers?by=email",
        "/api/v1/customers?limit=0",
        "/api/v1/customers?limit=501",
        "/api/v1/customers?limit=x",
        "/api/v1/customers?cursor=12",
        "/api/v1/customers?cursor=id.desc.1",
        "/api/v1/customers?sort=spend&cursor=id.desc.5.5",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ht_resp r;
        if (get(f, AGENT, bad[i], &r) != 400)
            fail_msg("%s: %ld", bad[i], r.status);
        assert_string_equal(ht_error_code(&r), "invalid_argument");
        ht_resp_free(&r);
    }
    /* a cursor made by one sort is refused by another */
    struct ht_resp r;
    json_t *body = get_ok(f, AGENT, "/api/v1/customers?sort=spend&limit=2", &r);
    char cur[160], path[256];
    url_encode(jstr(body, "next_cursor"), cur, sizeof cur);
    ht_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/customers?sort=last_order&limit=2&cursor=%s", cur);
    assert_int_equal(get(f, AGENT, path, &r), 400);
    ht_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/customers?sort=spend&order=asc&limit=2&cursor=%s", cur);
    assert_int_equal(get(f, AGENT, path, &r), 400);
    ht_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/customers?sort=spend&limit=2&cursor=%s", cur);
    assert_int_equal(get(f, AGENT, path, &r), 200);
    ht_resp_free(&r);
}

/* ---- through the importer ------------------------------------------------------------------ */

/*
 * The same questions on data written by `huike import` (identity resolution, sealing and
 * hashing by the importer): one buyer on two channels whose phone is written three ways is one
 * customer, found by any form of the phone, by name and by order number, with exact aggregates.
 * Runs last: it adds a customer.
 */
static void import__generic_csv_buyer_has_an_exact_profile(void **state)
{
    struct fixture *f = *state;
    static const char csv[] =
        "order_no,buyer_id,buyer_nick,phone,province,city,channel,shop,status,created_at,paid_at,"
        "received_at,product_id,product_title,category,quantity,unit_price,paid_amount,"
        "refund_amount,coupon_code,name,address\n"
        "IM1,imp_u1,导入用户,13700001234,江苏省,南京市,taobao,导入店,completed,"
        "2026-01-01 10:00:00,2026-01-01 10:05:00,,PX1,羽绒服,外套,1,300.00,280.00,,NY2026,赵六,"
        "江苏省南京市鼓楼区中山路 1 号\n"
        "IM1,imp_u1,导入用户,13700001234,江苏省,南京市,taobao,导入店,completed,"
        "2026-01-01 10:00:00,2026-01-01 10:05:00,,PX2,围巾,配饰,1,50.00,50.00,,NY2026,赵六,"
        "江苏省南京市鼓楼区中山路 1 号\n"
        "IM2,imp_u1,导入用户,137 0000 1234,江苏省,南京市,taobao,导入店,refunded,"
        "2026-01-05 10:00:00,2026-01-05 10:05:00,,PX1,羽绒服,外套,1,100.00,100.00,100.00,,赵六,\n"
        "IM3,jd_u9,zhao6,+86 137-0000-1234,江苏省,南京市,jd,导入京东店,paid,2026-02-01 10:00:00,"
        "2026-02-01 10:05:00,,PX2,围巾,配饰,2,50.00,100.00,20.00,,赵六,\n";
    char path[400], out[4096];
    snprintf(path, sizeof path, "%s/customers.csv", f->srv.dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fwrite(csv, 1, sizeof csv - 1, fp), sizeof csv - 1);
    assert_int_equal(fclose(fp), 0);
    const char *args[] = {"import", "--json", path, NULL};
    int st = ht_cli(&f->srv, args, out, sizeof out);
    if (st != 0)
        fail_msg("huike import exited %d: %s", st, out);
    f->all_live++;

    int64_t ids[8] = {0};
    const char *forms[] = {"13700001234", "137 0000 1234", "+86 137-0000-1234"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(search_ids(f, AGENT, forms[i], "&by=phone", ids, 8), 1);
        assert_int_equal(search_ids(f, AGENT, forms[i], "", ids, 8), 1);
    }
    int64_t id = ids[0];
    assert_int_equal(search_ids(f, AGENT, "赵六", "", ids, 8), 1);
    assert_int_equal(ids[0], id);
    assert_int_equal(search_ids(f, AGENT, "IM3", "", ids, 8), 1);
    assert_int_equal(ids[0], id);

    char url[128];
    snprintf(url, sizeof url, "/api/v1/customers/%lld", (long long)id);
    struct ht_resp r;
    json_t *p = get_ok(f, MANAGER, url, &r);
    assert_string_equal(jstr(p, "name"), "赵六");
    assert_string_equal(jstr(p, "phone"), "+8613700001234");
    assert_string_equal(jstr(p, "address"), "江苏省南京市鼓楼区中山路 1 号");
    /* IM1 330.00 + IM3 (100.00 - 20.00); IM2 was refunded */
    assert_int_equal(jint(p, "order_count"), 2);
    assert_string_equal(jstr(p, "net_spend"), "410.00");
    assert_string_equal(jstr(p, "aov"), "205.00");
    assert_string_equal(jstr(p, "main_category"), "外套"); /* 280.00 against 50.00 + 80.00 */
    assert_true(near(json_real_value(json_object_get(p, "coupon_use_rate")), 0.5));
    assert_int_equal(jint(p, "refund_count"), 2);
    assert_string_equal(jstr(p, "first_purchase_at"), "2026-01-01T02:05:00Z");
    assert_string_equal(jstr(p, "last_purchase_date"), "2026-02-01");
    json_t *idn = json_object_get(p, "identities");
    assert_string_equal(jstr(json_array_get(json_object_get(idn, "taobao"), 0), "value"), "imp_u1");
    assert_string_equal(jstr(json_array_get(json_object_get(idn, "jd"), 0), "value"), "jd_u9");
    assert_int_equal(json_array_size(json_object_get(json_object_get(p, "timeline"), "items")), 3);
    ht_resp_free(&r);

    p = get_ok(f, ASSOCIATE, url, &r);
    assert_string_equal(jstr(p, "name"), "赵*");
    assert_string_equal(jstr(p, "phone"), "137****1234");
    assert_string_equal(jstr(p, "address"), "江苏省南京市");
    assert_null(strstr(r.body, "13700001234"));
    assert_null(strstr(r.body, "中山路"));
    ht_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(profile__aggregates_are_exact_for_a_constructed_customer),
        cmocka_unit_test(profile__pii_is_masked_for_roles_without_pii_access),
        cmocka_unit_test(profile__merged_id_answers_with_the_survivor),
        cmocka_unit_test(profile__unknown_id_is_404_and_auth_is_required),
        cmocka_unit_test(timeline__pages_cover_every_entry_newest_first),
        cmocka_unit_test(search__by_nick_prefix_case_insensitively),
        cmocka_unit_test(search__by_exact_phone_in_any_written_form),
        cmocka_unit_test(search__by_real_name_and_order_number),
        cmocka_unit_test(search__paging_covers_every_customer_exactly_once),
        cmocka_unit_test(search__rejects_bad_parameters),
        cmocka_unit_test(import__generic_csv_buyer_has_an_exact_profile),
    };
    return cmocka_run_group_tests_name("customers", tests, group_setup, group_teardown);
}
