/*
 * test_engine_load.c — the cold start from the store: a fresh SQLite database filled with SQL
 * (shops in two zones, products, customers one of them merged away, identities, tags, orders
 * with and without lines, events), loaded through store/engine_repo + services/engine_load, and
 * the engine's aggregates and segment answers checked against the rows.
 */
#include "../unit/unit.h"

#include "core/err.h"
#include "core/tz.h"
#include "engine/engine.h"
#include "engine/segment.h"
#include "services/engine_load.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void exec_sql(struct hk_db *db, int n, const char *sql)
{
    char name[32];
    snprintf(name, sizeof(name), "t_%d", n);
    struct hk_stmt *st;
    struct hk_err err;
    int rc = hk_db_stmt(db, name, sql, &st, &err);
    if (!rc)
        rc = hk_stmt_exec(st, &err);
    if (rc)
        print_error("%s: %s\n", sql, hk_err_message(&err));
    assert_int_equal(rc, 0);
}

/* 2026-03-01T12:00:00+08:00 */
#define NOW 1772337600

static void engine_load__reads_the_store_into_the_engine(void **state)
{
    (void)state;
    char dir[256], path[300];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/hk_engine_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/huike.db", dir);
    struct hk_err err;
    struct hk_store *store;
    assert_int_equal(hk_store_open(path, NULL, &store, &err), 0);
    assert_int_equal(hk_store_migrate(store, NOW, NULL, NULL, &err), 0);
    struct hk_db *db;
    assert_int_equal(hk_db_acquire(store, &db, &err), 0);
    const char *rows[] = {
        "INSERT INTO shops (id, channel, name, timezone, created_at) VALUES"
        " (1, 'taobao', 'A', 'Asia/Shanghai', 0), (2, 'jd', 'B', 'America/New_York', 0)",
        "INSERT INTO products (id, shop_id, external_id, title, category, created_at) VALUES"
        " (11, 1, 'P1001', 'phone', 'phones', 0), (12, 1, 'P2002', 'case', 'phone_accessories', 0),"
        " (13, 2, 'P3003', 'dress', '连衣裙', 0)",
        "INSERT INTO customers (id, nick, province, city, merged_into, created_at, updated_at)"
        " VALUES (1, 'a', '浙江', '杭州', NULL, 0, 0), (2, 'b', '', '', NULL, 0, 0),"
        " (3, 'c', '广东', '深圳', NULL, 0, 0), (4, 'd', '', '', 3, 0, 0)",
        "INSERT INTO identities (customer_id, channel, kind, value, created_at) VALUES"
        " (1, 'taobao', 'nick', 'a', 0), (1, 'jd', 'buyer_id', 'a', 0),"
        " (1, 'any', 'phone', 'h', 0), (3, 'douyin', 'open_id', 'c', 0)",
        "INSERT INTO tags (id, name, kind, created_at, updated_at) VALUES"
        " (1, 'vip', 'manual', 0, 0), (2, '沉睡客户', 'rule', 0, 0)",
        "INSERT INTO customer_tags (customer_id, tag_id, source, created_at) VALUES (1, 1, "
        "'manual', 0)",
        /* customer 1: two counted orders (one with a refund and a coupon), one cancelled */
        "INSERT INTO orders (id, shop_id, external_no, customer_id, status, paid_fen, refund_fen,"
        " coupon_code, created_at, paid_at, updated_at) VALUES"
        " (100, 1, 'o100', 1, 'completed', 300000, 0, NULL, 0, 1771862400, 0)," /* 2026-02-24 00:00
                                                                                   +08 */
        " (101, 1, 'o101', 1, 'paid', 5000, 1000, 'C1', 0, 1772294399, 0)," /* 2026-02-28 23:59:59
                                                                               +08 */
        " (102, 1, 'o102', 1, 'cancelled', 9000, 0, NULL, 0, NULL, 0),"
        /* customer 2: only a cancelled order */
        " (103, 1, 'o103', 2, 'cancelled', 7000, 0, NULL, 0, NULL, 0),"
        /* customer 3: a New York order without lines, and a refunded one */
        " (104, 2, 'o104', 3, 'shipped', 20000, 0, '', 0, 1772323200, 0)," /* 2026-02-28 19:00 NY */
        " (105, 2, 'o105', 3, 'refunded', 8000, 8000, NULL, 0, 1772000000, 0)",
        "INSERT INTO order_items (order_id, line_no, item_key, product_id, paid_fen, refund_fen)"
        " VALUES (100, 1, 'k1', 11, 300000, 0), (101, 1, 'k1', 12, 3000, 0),"
        " (101, 2, 'k2', 13, 2000, 1000), (102, 1, 'k1', 11, 9000, 0), (105, 1, 'k1', 13, 8000, "
        "8000)",
        "INSERT INTO events (customer_id, shop_id, type, at, created_at) VALUES"
        " (2, 1, 'browse', 1772300000, 0), (2, NULL, 'cart', 1772300000, 0),"
        " (3, 2, 'browse', 1760000000, 0)",
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        exec_sql(db, (int)i, rows[i]);
    hk_db_release(db);

    struct hk_engine *e;
    int rc = hk_engine_load_from_store(store, NULL, NOW, &e, &err);
    if (rc)
        print_error("%s\n", hk_err_message(&err));
    assert_int_equal(rc, 0);
    assert_int_equal(hk_engine_live_customers(e), 3);

    struct hk_engine_aggregates a;
    assert_int_equal(hk_engine_customer_get(e, 1, NOW, &a, &err), 0);
    assert_int_equal(a.frequency, 2);
    assert_int_equal(a.monetary_fen, 300000 + 4000);
    assert_int_equal(a.recency_days, 1); /* 23:59:59 the day before, Shanghai */
    assert_int_equal(a.first_order_days, 5);
    assert_int_equal(a.refund_count, 1);
    assert_true(a.coupon_use_rate > 0.49 && a.coupon_use_rate < 0.51);
    assert_string_equal(a.main_category, "phones");
    assert_string_equal(a.province, "浙江");
    assert_int_equal(a.orders, 3);

    assert_int_equal(hk_engine_customer_get(e, 2, NOW, &a, &err), 0);
    assert_int_equal(a.frequency, 0);
    assert_false(a.has_recency);
    assert_int_equal(a.events, 2);

    assert_int_equal(hk_engine_customer_get(e, 3, NOW, &a, &err), 0);
    assert_int_equal(a.frequency, 1);
    assert_int_equal(a.monetary_fen, 20000);
    assert_int_equal(a.recency_days, 0); /* New York is still on 28 February at NOW */
    assert_int_equal(a.refund_count, 1);
    assert_null(a.main_category); /* its counted order has no lines */

    assert_int_equal(hk_engine_customer_get(e, 4, NOW, &a, &err), 0);
    assert_false(a.live);

    const struct {
        const char *expr;
        size_t want;
    } q[] = {
        {"channel = \"jd\" and has_tag(\"vip\")", 1},
        {"channel = \"any\"", 0},
        {"not channel in (\"taobao\", \"douyin\")", 1},
        {"bought(category=\"phones\") and bought(category=\"连衣裙\", within=2d)", 1},
        {"bought(within=1d)", 1},
        {"recency_days > 0", 1},
        {"not recency_days > 0", 2},
        {"event(type=\"browse\", within=1d) and event(type=\"cart\")", 1},
        {"has_tag(\"沉睡客户\")", 0},
        {"aov >= 1520", 1},
        {"province = \"广东\"", 1},
    };
    for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
        size_t n = 99;
        rc = hk_segment_count(e, q[i].expr, NULL, NOW, &n, &err);
        if (rc)
            print_error("%s: %s\n", q[i].expr, hk_err_message(&err));
        assert_int_equal(rc, 0);
        if (n != q[i].want)
            print_error("%s: %zu, want %zu\n", q[i].expr, n, q[i].want);
        assert_int_equal(n, q[i].want);
    }
    hk_engine_free(e);
    hk_store_close(store);
    char f[400];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(f, sizeof(f), "%s%s", path, suffix[i]);
        unlink(f);
    }
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(engine_load__reads_the_store_into_the_engine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
