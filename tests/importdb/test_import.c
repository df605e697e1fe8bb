/*
 * test_import.c — importing files and REST batches into a real store (SQLite and PostgreSQL):
 * every fixture of tests/fixtures/import with its exact counts and stored data, re-imports,
 * later exports, Taobao order/detail lists in every order, duplicates, bad rows, PII at rest,
 * and a database failure confined to its order.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "core/tz.h"
#include "ingest/events.h"
#include "store/ingest_repo.h"
#include "store/store.h"

static int64_t count(struct tdb *t, const char *table)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    return q_int(t->store, sql);
}

/* ---- generic ------------------------------------------------------------------------------ */

static void generic_fixture__imports_with_exact_counts_and_stored_data(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    char buf[256];

    tdb_import1(t, fixture("generic-orders.csv"), &r);
    /* 10 data rows: G1005's first line twice (one line), G1001 and G1005 two lines each */
    check_counts(&r, 9, 6, 0, 0, 8, 6, 0);
    hk_import_result_release(&r);

    assert_int_equal(count(t, "orders"), 6);
    assert_int_equal(count(t, "order_items"), 8);
    assert_int_equal(count(t, "customers"), 6);
    assert_int_equal(count(t, "order_history"), 0); /* creation is no change */
    assert_int_equal(count(t, "staged_items"), 0);
    /* one shop per channel ("回客小铺" on wechat, taobao, …; G1006 names none: the default) */
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM shops WHERE name = '回客小铺'"), 5);
    assert_int_equal(
        q_int(t->store, "SELECT count(*) FROM shops WHERE channel = 'other' AND name = '默认店铺'"),
        1);

    /* G1001: two lines, completed, coupon, times in the shop's zone */
    assert_string_equal(
        q_text(t->store, "SELECT status FROM orders WHERE external_no = 'G1001'", buf, sizeof buf),
        "completed");
    assert_int_equal(q_int(t->store, "SELECT total_fen FROM orders WHERE external_no = 'G1001'"),
                     19900 + 2 * 8850);
    assert_int_equal(q_int(t->store, "SELECT paid_fen FROM orders WHERE external_no = 'G1001'"),
                     18900 + 17000);
    assert_int_equal(q_int(t->store, "SELECT refund_fen FROM orders WHERE external_no = 'G1001'"),
                     0);
    assert_string_equal(q_text(t->store,
                               "SELECT coupon_code FROM orders WHERE external_no = 'G1001'", buf,
                               sizeof buf),
                        "SPRING10");
    assert_int_equal(q_int(t->store, "SELECT created_at FROM orders WHERE external_no = 'G1001'"),
                     sh_time(t, "2026-03-01 00:00:00"));
    assert_int_equal(q_int(t->store, "SELECT paid_at FROM orders WHERE external_no = 'G1001'"),
                     sh_time(t, "2026-03-01 00:05:00"));
    assert_int_equal(q_int(t->store, "SELECT received_at FROM orders WHERE external_no = 'G1001'"),
                     sh_time(t, "2026-03-04 10:00:00"));
    assert_string_equal(
        q_text(t->store, "SELECT source FROM orders WHERE external_no = 'G1001'", buf, sizeof buf),
        "generic");
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM order_items i JOIN orders o ON "
                                     "o.id = i.order_id WHERE o.external_no = 'G1001'"),
                     2);
    assert_int_equal(q_int(t->store,
                           "SELECT i.quantity * 1000000 + i.unit_price_fen FROM order_items i "
                           "JOIN orders o ON o.id = i.order_id WHERE o.external_no = 'G1001' "
                           "AND i.title = '针织开衫'"),
                     2 * 1000000 + 8850);
    assert_string_equal(q_text(t->store,
                               "SELECT p.external_id || '/' || p.category FROM order_items i "
                               "JOIN orders o ON o.id = i.order_id JOIN products p ON p.id = "
                               "i.product_id WHERE o.external_no = 'G1001' AND i.line_no = 1",
                               buf, sizeof buf),
                        "P1001/连衣裙");

    /* G1002: an ISO time with Z and one with +08:00 */
    assert_int_equal(q_int(t->store, "SELECT paid_at FROM orders WHERE external_no = 'G1002'"),
                     sh_time(t, "2026-03-02 09:31:00"));
    /* G1003: refunded in full, the amount with a thousands separator */
    assert_int_equal(q_int(t->store, "SELECT refund_fen FROM orders WHERE external_no = 'G1003'"),
                     129900);
    assert_string_equal(
        q_text(t->store, "SELECT status FROM orders WHERE external_no = 'G1003'", buf, sizeof buf),
        "refunded");
    /* G1005: "Shipped" in any case, the duplicated line once, a title with a comma */
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM order_items i JOIN orders o ON "
                                     "o.id = i.order_id WHERE o.external_no = 'G1005'"),
                     2);
    assert_int_equal(
        q_int(t->store, "SELECT count(*) FROM order_items WHERE title = '帆布包, 大号'"), 1);
    /* G1006: quotes in a title */
    assert_int_equal(
        q_int(t->store, "SELECT count(*) FROM order_items WHERE title = '限量\"樱花\"礼盒'"), 1);

    /* customers and identities: buyer ids per channel, phones as hashes */
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM identities WHERE kind = 'buyer_id'"), 6);
    assert_int_equal(
        q_int(t->store, "SELECT count(*) FROM identities WHERE kind = 'phone' AND channel = '*'"),
        4);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM identities WHERE channel = 'wechat' "
                                     "AND kind = 'buyer_id' AND value = 'u1001'"),
                     1);
    char phone_hash[HK_PII_HASH_HEX + 1];
    hk_pii_hash(&t->keys, "+8613800138001", strlen("+8613800138001"), phone_hash);
    assert_string_equal(q_text(t->store,
                               "SELECT c.phone_hash FROM customers c JOIN identities i ON "
                               "i.customer_id = c.id WHERE i.value = 'u1001'",
                               buf, sizeof buf),
                        phone_hash);
    assert_string_equal(q_open(t,
                               "SELECT c.phone_enc FROM customers c JOIN identities i ON "
                               "i.customer_id = c.id WHERE i.value = 'u1001'",
                               buf, sizeof buf),
                        "+8613800138001");
    assert_string_equal(q_text(t->store,
                               "SELECT c.phone_masked || '|' || c.nick || '|' || c.province || "
                               "'|' || c.city FROM customers c JOIN identities i ON "
                               "i.customer_id = c.id WHERE i.value = 'u1001'",
                               buf, sizeof buf),
                        "138****8001|小鹿同学|浙江省|杭州市");
    /* "+86 138 0013 8002" is the same kind of number, normalised */
    assert_string_equal(q_open(t,
                               "SELECT c.phone_enc FROM customers c JOIN identities i ON "
                               "i.customer_id = c.id WHERE i.value = 'u1002'",
                               buf, sizeof buf),
                        "+8613800138002");
    /* every order points at its identity and customer */
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM orders o JOIN identities i ON "
                                     "i.id = o.identity_id AND i.customer_id = o.customer_id"),
                     6);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM orders WHERE source = 'generic'"), 6);
}

/* The clear number appears in no column of any table (only sealed, hashed or masked). */
static void pii__phone_is_never_stored_in_clear(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    const char *files[] = {fixture("generic-orders.csv"), fixture("ExportOrderList202603.csv"),
                           fixture("jd-orders.csv")};
    tdb_import(t, files, 3, NULL, &r);
    hk_import_result_release(&r);
    static const char *const checks[] = {
        "SELECT count(*) FROM customers WHERE nick LIKE '%38001380%' OR phone_hash LIKE "
        "'%38001380%' OR phone_masked LIKE '%38001380%' OR email LIKE '%38001380%' OR custom "
        "LIKE '%38001380%' OR province LIKE '%38001380%' OR city LIKE '%38001380%'",
        "SELECT count(*) FROM identities WHERE value LIKE '%38001380%'",
        "SELECT count(*) FROM orders WHERE buyer_note LIKE '%38001380%' OR seller_note LIKE "
        "'%38001380%' OR external_no LIKE '%38001380%'",
        "SELECT count(*) FROM order_history WHERE old_value LIKE '%38001380%' OR new_value LIKE "
        "'%38001380%'",
        "SELECT count(*) FROM order_items WHERE title LIKE '%38001380%' OR sku LIKE "
        "'%38001380%' OR variant LIKE '%38001380%'",
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
        assert_int_equal(q_int(t->store, checks[i]), 0);
    /* clear numbers are sealed, with their hash beside them */
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customers WHERE phone_enc IS NOT NULL "
                                     "AND (phone_hash IS NULL OR phone_masked IS NULL)"),
                     0);
    assert_true(q_int(t->store, "SELECT count(*) FROM customers WHERE phone_enc IS NOT NULL") >= 8);
    if (!t->pg) { /* and nowhere in the database file's bytes either */
        char cmd[1600];
        snprintf(cmd, sizeof cmd, "cat '%s' '%s-wal' 2>/dev/null | grep -a -c 13800138 >/dev/null",
                 t->target, t->target);
        assert_int_not_equal(system(cmd), 0);
    }
}

static void generic_fixture__reimport_creates_and_updates_nothing(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    tdb_import1(t, fixture("generic-orders.csv"), &r);
    hk_import_result_release(&r);
    int64_t hist = count(t, "order_history"), idents = count(t, "identities");
    int64_t upd = q_int(t->store, "SELECT max(updated_at) FROM orders");

    tdb_import1(t, fixture("generic-orders.csv"), &r);
    check_counts(&r, 9, 0, 0, 6, 0, 0, 0);
    hk_import_result_release(&r);
    assert_int_equal(count(t, "orders"), 6);
    assert_int_equal(count(t, "order_items"), 8);
    assert_int_equal(count(t, "customers"), 6);
    assert_int_equal(count(t, "order_history"), hist);
    assert_int_equal(count(t, "identities"), idents);
    assert_int_equal(count(t, "customer_merges"), 0);
    assert_int_equal(q_int(t->store, "SELECT max(updated_at) FROM orders"), upd);
}

static const char LATER[] = TDB_GENERIC_HEADER
    "G1001,u1001,小鹿同学,13800138001,浙江省,杭州市,wechat,回客小铺,refunded,2026-03-01 "
    "00:00:00,2026-03-01 00:05:00,2026-03-04 10:00:00,P1001,碎花连衣裙,连衣裙,1,199.00,189.00,"
    "189.00,SPRING10\n"
    "G1001,u1001,小鹿同学,13800138001,浙江省,杭州市,wechat,回客小铺,refunded,2026-03-01 "
    "00:00:00,2026-03-01 00:05:00,2026-03-04 10:00:00,P2002,针织开衫,外套,2,88.50,170.00,"
    "170.00,SPRING10\n"
    "G1002,u1002,阿木,+86 138 0013 8002,广东省,深圳市,taobao,回客小铺,completed,"
    "2026-03-02T09:30:00+08:00,2026-03-02T01:31:00Z,2026-03-06 12:00:00,P1001,碎花连衣裙,连衣裙,1,"
    "199,199,,\n";

static void generic__later_export_updates_status_and_refunds_with_history(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    char buf[256];
    tdb_import1(t, fixture("generic-orders.csv"), &r);
    hk_import_result_release(&r);

    tdb_import1(t, tdb_write(t, "later.csv", LATER), &r);
    check_counts(&r, 3, 0, 2, 0, 0, 0, 0);
    hk_import_result_release(&r);

    assert_string_equal(
        q_text(t->store, "SELECT status FROM orders WHERE external_no = 'G1001'", buf, sizeof buf),
        "refunded");
    assert_int_equal(q_int(t->store, "SELECT refund_fen FROM orders WHERE external_no = 'G1001'"),
                     35900);
    assert_int_equal(q_int(t->store, "SELECT sum(i.refund_fen) FROM order_items i JOIN orders o "
                                     "ON o.id = i.order_id WHERE o.external_no = 'G1001'"),
                     35900);
    assert_string_equal(
        q_text(t->store, "SELECT status FROM orders WHERE external_no = 'G1002'", buf, sizeof buf),
        "completed");
    assert_int_equal(q_int(t->store, "SELECT received_at FROM orders WHERE external_no = 'G1002'"),
                     sh_time(t, "2026-03-06 12:00:00"));
    assert_int_equal(q_int(t->store, "SELECT updated_at FROM orders WHERE external_no = 'G1002'"),
                     TEST_NOW);

    assert_string_equal(q_text(t->store,
                               "SELECT h.old_value || '>' || h.new_value FROM order_history h "
                               "JOIN orders o ON o.id = h.order_id WHERE o.external_no = 'G1001' "
                               "AND h.change = 'status'",
                               buf, sizeof buf),
                        "completed>refunded");
    assert_string_equal(q_text(t->store,
                               "SELECT h.old_value || '>' || h.new_value FROM order_history h "
                               "JOIN orders o ON o.id = h.order_id WHERE o.external_no = 'G1001' "
                               "AND h.change = 'refund'",
                               buf, sizeof buf),
                        "0.00>359.00");
    assert_string_equal(q_text(t->store,
                               "SELECT h.old_value || '>' || h.new_value FROM order_history h "
                               "JOIN orders o ON o.id = h.order_id WHERE o.external_no = 'G1002' "
                               "AND h.change = 'status'",
                               buf, sizeof buf),
                        "paid>completed");
    assert_int_equal(count(t, "order_history"), 3);

    /* the same later export again: nothing */
    tdb_import1(t, tdb_write(t, "later.csv", LATER), &r);
    check_counts(&r, 3, 0, 0, 2, 0, 0, 0);
    hk_import_result_release(&r);
    assert_int_equal(count(t, "order_history"), 3);
}

static void generic__older_export_never_moves_an_order_back(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    char buf[64];
    tdb_import1(t, tdb_write(t, "later.csv", LATER), &r);
    hk_import_result_release(&r);
    tdb_import1(t, fixture("generic-orders.csv"), &r);
    /* G1001 and G1002 are behind the stored status: unchanged; the other 4 are new */
    check_counts(&r, 9, 4, 0, 2, 5, 4, 0);
    hk_import_result_release(&r);
    assert_string_equal(
        q_text(t->store, "SELECT status FROM orders WHERE external_no = 'G1001'", buf, sizeof buf),
        "refunded");
    assert_int_equal(q_int(t->store, "SELECT refund_fen FROM orders WHERE external_no = 'G1001'"),
                     35900);
    assert_string_equal(
        q_text(t->store, "SELECT status FROM orders WHERE external_no = 'G1002'", buf, sizeof buf),
        "completed");
}

static void generic__same_order_twice_in_one_file_is_one_order(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    const char *csv = TDB_GENERIC_HEADER
        "D1,u1,,13900000001,,,taobao,店,paid,2026-03-01 10:00:00,,,P1,甲,,1,10.00,10.00,,\n"
        "D2,u2,,,,,taobao,店,paid,2026-03-01 11:00:00,,,P1,甲,,1,10.00,10.00,,\n"
        "D1,u1,,13900000001,,,taobao,店,paid,2026-03-01 10:00:00,,,P1,甲,,1,10.00,10.00,,\n"
        "D3,u3,,,,,taobao,店,paid,2026-03-01 12:00:00,,,P1,甲,,1,10.00,10.00,,\n"
        "D1,u1,,13900000001,,,taobao,店,shipped,2026-03-01 10:00:00,,,P2,乙,,2,5.00,10.00,,\n";
    tdb_import1(t, tdb_write(t, "dup.csv", csv), &r);
    /* D1 three times: created, then unchanged, then updated (a second line, and shipped) */
    check_counts(&r, 5, 3, 1, 1, 4, 3, 0);
    hk_import_result_release(&r);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM orders WHERE external_no = 'D1'"), 1);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM order_items i JOIN orders o ON "
                                     "o.id = i.order_id WHERE o.external_no = 'D1'"),
                     2);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM orders o JOIN order_history h ON "
                                     "h.order_id = o.id WHERE o.external_no = 'D1'"),
                     2); /* status, amounts */

    /* batches of every size give the same result */
    tdb_import1(t, tdb_write(t, "dup.csv", csv), &r);
    check_counts(&r, 5, 0, 0, 5, 0, 0, 0);
    hk_import_result_release(&r);
}

/* ---- Taobao ------------------------------------------------------------------------------- */

static void check_taobao_202603(struct tdb *t)
{
    char buf[256];
    assert_int_equal(count(t, "orders"), 6);
    assert_int_equal(count(t, "order_items"), 8);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM order_items WHERE placeholder = 1"), 0);
    assert_int_equal(count(t, "staged_items"), 0);
    assert_string_equal(q_text(t->store, "SELECT name FROM shops", buf, sizeof buf),
                        "回客测试旗舰店");
    /* 245600000000009335: two detail lines */
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM order_items i JOIN orders o ON "
                                     "o.id = i.order_id WHERE o.external_no = "
                                     "'245600000000009335'"),
                     2);
    assert_int_equal(q_int(t->store, "SELECT i.quantity FROM order_items i JOIN orders o ON "
                                     "o.id = i.order_id WHERE o.external_no = "
                                     "'245600000000009335' AND i.title = '针织开衫'"),
                     2);
    assert_string_equal(q_text(t->store,
                               "SELECT i.sku || '|' || i.variant FROM order_items i JOIN orders o "
                               "ON o.id = i.order_id WHERE o.external_no = '245600000000009335' "
                               "AND i.title = '碎花连衣裙'",
                               buf, sizeof buf),
                        "HK-DRESS-01-M|颜色分类：米白色;尺码：M");
    assert_int_equal(q_int(t->store, "SELECT total_fen * 1000000 + paid_fen FROM orders WHERE "
                                     "external_no = '245600000000009335'"),
                     28900 * 1000000LL + 27900);
    assert_int_equal(q_int(t->store, "SELECT postage_fen FROM orders WHERE external_no = "
                                     "'245600000000009336'"),
                     1000);
    /* detail lines carry no paid amount: the order's 279.00 is shared by price x quantity
       (199.00 : 2 x 45.00), the rounding remainder (0.02) on the larger line */
    assert_int_equal(q_int(t->store, "SELECT i.paid_fen FROM order_items i JOIN orders o ON "
                                     "o.id = i.order_id WHERE o.external_no = "
                                     "'245600000000009335' AND i.title = '碎花连衣裙'"),
                     19212);
    assert_int_equal(q_int(t->store, "SELECT i.paid_fen FROM order_items i JOIN orders o ON "
                                     "o.id = i.order_id WHERE o.external_no = "
                                     "'245600000000009335' AND i.title = '针织开衫'"),
                     8688);
    /* 139.00 paid with 10.00 postage: the line gets the goods' 129.00 */
    assert_int_equal(q_int(t->store, "SELECT i.paid_fen FROM order_items i JOIN orders o ON "
                                     "o.id = i.order_id WHERE o.external_no = "
                                     "'245600000000009336'"),
                     12900);
    /* every order's lines add up to its paid amount less postage (none when unpaid) */
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM orders o WHERE CASE WHEN o.paid_fen > "
                                     "o.postage_fen THEN o.paid_fen - o.postage_fen ELSE 0 END <> "
                                     "(SELECT sum(i.paid_fen) FROM order_items i "
                                     "WHERE i.order_id = o.id)"),
                     0);
    /* the duplicated detail line of ...9336 is one line */
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM order_items i JOIN orders o ON "
                                     "o.id = i.order_id WHERE o.external_no = "
                                     "'245600000000009336'"),
                     1);
    /* 交易关闭 without payment: cancelled; with: refunded */
    assert_string_equal(q_text(t->store,
                               "SELECT status FROM orders WHERE external_no = '245600000000009339'",
                               buf, sizeof buf),
                        "cancelled");
    assert_string_equal(q_text(t->store,
                               "SELECT status FROM orders WHERE external_no = '245600000000009338'",
                               buf, sizeof buf),
                        "refunded");
    /* the mobile written as '13800138001 */
    assert_string_equal(q_open(t,
                               "SELECT c.phone_enc FROM customers c JOIN orders o ON o.customer_id "
                               "= c.id WHERE o.external_no = '245600000000009335'",
                               buf, sizeof buf),
                        "+8613800138001");
    assert_string_equal(q_open(t,
                               "SELECT c.name_enc FROM customers c JOIN orders o ON o.customer_id "
                               "= c.id WHERE o.external_no = '245600000000009335'",
                               buf, sizeof buf),
                        "李小花");
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM identities WHERE channel = 'taobao' "
                                     "AND kind = 'buyer_id' AND value = 'tb_xiaolu01'"),
                     1);
}

static void taobao__orders_and_details_together_in_either_order(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    const char *files[] = {fixture("ExportOrderList202603.csv"),
                           fixture("ExportOrderDetailList202603.csv")};
    tdb_import(t, files, 2, NULL, &r);
    /* detail lines wait (staged) until their orders arrive in the same import */
    check_counts(&r, 15, 6, 0, 0, 8, 6, 0);
    assert_int_equal(r.items_staged, 8);
    hk_import_result_release(&r);
    check_taobao_202603(t);

    const char *swapped[] = {files[1], files[0]};
    tdb_import(t, swapped, 2, NULL, &r);
    check_counts(&r, 15, 0, 0, 6, 0, 0, 0);
    assert_int_equal(r.items_staged, 0);
    hk_import_result_release(&r);
    check_taobao_202603(t);
}

static void taobao__details_first_then_orders_separately(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    tdb_import1(t, fixture("ExportOrderDetailList202603.csv"), &r);
    check_counts(&r, 9, 0, 0, 0, 0, 0, 0);
    assert_int_equal(r.items_staged, 8);
    hk_import_result_release(&r);
    assert_int_equal(count(t, "staged_items"), 8);
    assert_int_equal(count(t, "orders"), 0);

    tdb_import1(t, fixture("ExportOrderDetailList202603.csv"), &r); /* again: nothing new */
    assert_int_equal(r.items_staged, 0);
    hk_import_result_release(&r);

    tdb_import1(t, fixture("ExportOrderList202603.csv"), &r);
    check_counts(&r, 6, 6, 0, 0, 8, 6, 0);
    hk_import_result_release(&r);
    check_taobao_202603(t);
}

static void taobao__orders_first_then_details_attach_lines(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    tdb_import1(t, fixture("ExportOrderList202603.csv"), &r);
    check_counts(&r, 6, 6, 0, 0, 0, 6, 0);
    hk_import_result_release(&r);
    assert_int_equal(count(t, "order_items"), 0);

    tdb_import1(t, fixture("ExportOrderDetailList202603.csv"), &r);
    check_counts(&r, 9, 0, 6, 0, 8, 0, 0);
    assert_int_equal(r.items_staged, 0);
    hk_import_result_release(&r);
    check_taobao_202603(t);

    tdb_import1(t, fixture("ExportOrderDetailList202603.csv"), &r);
    check_counts(&r, 9, 0, 0, 0, 0, 0, 0);
    hk_import_result_release(&r);
}

/* `huike import --json` with a file that cannot be imported (an Excel workbook saved as .csv):
   the JSON object still comes out on stdout, with the reason in "failure", and exit 1. */
static void cli_json__prints_the_failure_of_an_excel_workbook(void **state)
{
    struct tdb *t = *state;
    const char *bin = getenv("HUIKE_BIN");
    if (!bin)
        fail_msg("HUIKE_BIN must name the huike binary");
    const char *file = tdb_write(t, "orders.xlsx", "PK\x03\x04\x14 [Content_Types].xml");
    char cmd[2048], out[4096];
    snprintf(cmd, sizeof cmd, "'%s' --db '%s' import --json '%s' 2>/dev/null", bin, t->target,
             file);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    if (!strstr(out, "\"rows\":0") || !strstr(out, "\"failure\":") ||
        !strstr(out, "this is an Excel workbook: save it as CSV"))
        fail_msg("stdout: %s", out);
    assert_int_equal(count(t, "orders"), 0);
}

/* A detail list alone: its lines wait for their orders, and --json says how many. */
static void cli_json__says_how_many_lines_wait_for_their_orders(void **state)
{
    struct tdb *t = *state;
    const char *bin = getenv("HUIKE_BIN");
    if (!bin)
        fail_msg("HUIKE_BIN must name the huike binary");
    const char *file = tdb_write(t, "ExportOrderDetailList-w.csv",
                                 "订单编号,标题,价格,购买数量,订单状态\n"
                                 "W1,甲,30.00,1,交易成功\n"
                                 "W1,乙,10.00,2,交易成功\n"
                                 "W2,丙,5.00,1,交易成功\n");
    char cmd[2048], out[4096];
    snprintf(cmd, sizeof cmd, "'%s' --db '%s' import --json '%s' 2>/dev/null", bin, t->target,
             file);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    if (!strstr(out, "\"items_waiting\":3") || !strstr(out, "\"orders_created\":0"))
        fail_msg("stdout: %s", out);
    assert_int_equal(count(t, "orders"), 0);
}

/* A later order list with another paid amount (a partial refund, a price change) shares the new
   amount over the stored detail lines again. */
static void taobao__lines_reshare_a_changed_paid_amount(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    const char *details = "订单编号,标题,价格,购买数量,订单状态\n"
                          "T1,甲,30.00,1,交易成功\n"
                          "T1,乙,10.00,2,交易成功\n";
    const char *orders = "订单编号,买家会员名,买家应付货款,买家应付邮费,买家实际支付金额,订单状态,"
                         "订单创建时间\n"
                         "T1,tb_t1,50.00,5.00,%s,交易成功,2026-03-01 10:00:00\n";
    char buf[512];
    snprintf(buf, sizeof buf, orders, "55.00");
    tdb_import1(t, tdb_write(t, "ExportOrderList-a.csv", buf), &r);
    hk_import_result_release(&r);
    tdb_import1(t, tdb_write(t, "ExportOrderDetailList-a.csv", details), &r);
    hk_import_result_release(&r);
    const char *q1 = "SELECT i.paid_fen FROM order_items i JOIN orders o ON o.id = i.order_id "
                     "WHERE o.external_no = 'T1' AND i.title = '甲'";
    const char *q2 = "SELECT i.paid_fen FROM order_items i JOIN orders o ON o.id = i.order_id "
                     "WHERE o.external_no = 'T1' AND i.title = '乙'";
    /* 55.00 paid, 5.00 of it postage: 50.00 over 30.00 : 20.00 */
    assert_int_equal(q_int(t->store, q1), 3000);
    assert_int_equal(q_int(t->store, q2), 2000);

    snprintf(buf, sizeof buf, orders, "38.33");
    tdb_import1(t, tdb_write(t, "ExportOrderList-b.csv", buf), &r);
    check_counts(&r, 1, 0, 1, 0, 0, 0, 0);
    hk_import_result_release(&r);
    /* 33.33 over 3 : 2 = 19.998 / 13.332: 19.99 + 0.01 left over (on the larger line), 13.33 */
    assert_int_equal(q_int(t->store, q1), 2000);
    assert_int_equal(q_int(t->store, q2), 1333);

    /* lines stored with no paid amount (before shares were made) get theirs on a re-import of
       either file */
    q_exec(t->store, "UPDATE order_items SET paid_fen = 0");
    tdb_import1(t, tdb_write(t, "ExportOrderDetailList-a.csv", details), &r);
    check_counts(&r, 2, 0, 1, 0, 0, 0, 0);
    hk_import_result_release(&r);
    assert_int_equal(q_int(t->store, q1), 2000);
    assert_int_equal(q_int(t->store, q2), 1333);
    q_exec(t->store, "UPDATE order_items SET paid_fen = 0");
    tdb_import1(t, tdb_write(t, "ExportOrderList-b.csv", buf), &r);
    check_counts(&r, 1, 0, 1, 0, 0, 0, 0);
    hk_import_result_release(&r);
    assert_int_equal(q_int(t->store, q1) + q_int(t->store, q2), 3333);
    /* and once more: nothing to do */
    tdb_import1(t, tdb_write(t, "ExportOrderList-b.csv", buf), &r);
    check_counts(&r, 1, 0, 0, 1, 0, 0, 0);
    hk_import_result_release(&r);
}

/* An orders-only record with a placeholder line (as the API may send one) gives way to the
   detail list's real lines. */
static void taobao__detail_lines_replace_placeholder_lines(void **state)
{
    struct tdb *t = *state;
    struct hk_err err = {0};
    struct hk_item_rec ph = {.product_id = "",
                             .sku = "",
                             .title = "碎花连衣裙，针织开衫",
                             .variant = "",
                             .category = "",
                             .quantity = 3};
    struct hk_order_rec rec = {
        .format = HK_FMT_TAOBAO_ORDERS,
        .channel = "taobao",
        .shop = "回客测试旗舰店",
        .order_no = "245600000000009335",
        .buyer_id = "tb_xiaolu01",
        .status = HK_ORDER_COMPLETED,
        .created_at = sh_time(t, "2026-03-01 00:00:00"),
        .total_fen = 28900,
        .paid_fen = 27900,
        .has_paid_fen = true,
        .items = &ph,
        .nitems = 1,
    };
    const struct hk_order_rec *recs[] = {&rec};
    enum hk_apply_outcome out[1];
    struct hk_err errs[1];
    struct hk_import_result r = {0};
    assert_int_equal(hk_ingest_orders(&t->ctx, recs, 1, NULL, out, errs, &r, &err), 0);
    assert_int_equal(out[0], HK_APPLY_CREATED);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM order_items WHERE placeholder = 1"), 1);

    /* the same orders-only record again: the placeholder matches itself */
    assert_int_equal(hk_ingest_orders(&t->ctx, recs, 1, NULL, out, errs, &r, &err), 0);
    assert_int_equal(out[0], HK_APPLY_UNCHANGED);

    tdb_import1(t, fixture("ExportOrderDetailList202603.csv"), &r);
    /* 9335 is updated (its placeholder replaced); the other 5 orders wait in staged_items */
    check_counts(&r, 9, 0, 1, 0, 2, 0, 0);
    assert_int_equal(r.items_staged, 6);
    hk_import_result_release(&r);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM order_items WHERE placeholder = 1"), 0);
    assert_int_equal(count(t, "order_items"), 2);

    /* an orders-only record after the real lines adds no placeholder */
    assert_int_equal(hk_ingest_orders(&t->ctx, recs, 1, NULL, out, errs, &r, &err), 0);
    assert_int_equal(out[0], HK_APPLY_UNCHANGED);
    assert_int_equal(count(t, "order_items"), 2);
}

static void taobao_2015__older_export_with_utf8_bom(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    char buf[64];
    tdb_import1(t, fixture("ExportOrderList201503.csv"), &r);
    check_counts(&r, 3, 3, 0, 0, 0, 2, 0);
    hk_import_result_release(&r);
    assert_int_equal(q_int(t->store, "SELECT count(DISTINCT customer_id) FROM orders"), 2);
    assert_string_equal(q_text(t->store,
                               "SELECT status FROM orders WHERE external_no = '1021345678901235'",
                               buf, sizeof buf),
                        "cancelled");
    assert_int_equal(
        q_int(t->store, "SELECT created_at FROM orders WHERE external_no = '1021345678901234'"),
        sh_time(t, "2015-03-08 09:05:00"));
}

/* ---- products ------------------------------------------------------------------------------ */

static void product_row(struct tdb *t, const char *ext, char *out, size_t size)
{
    char sql[160], title[64], cat[64];
    snprintf(sql, sizeof sql, "SELECT title FROM products WHERE external_id = '%s'", ext);
    q_text(t->store, sql, title, sizeof title);
    snprintf(sql, sizeof sql, "SELECT category FROM products WHERE external_id = '%s'", ext);
    q_text(t->store, sql, cat, sizeof cat);
    snprintf(out, size, "%s|%s", title, cat);
}

/* A file import reads each shop's products once and writes new ones with the batch's bulk
   loads; a product's empty title or category is filled by the first line that has one —
   a line of the same batch (before the product is written), of a later batch, or of a later
   file — and never overwritten. Batches of 3 orders (tdb_import), through the pipeline. */
static void products__created_once_and_filled_across_batches_and_files(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    char got[160];
    const char *f1 = tdb_write(
        t, "products1.csv",
        TDB_GENERIC_HEADER
        "A1,b1,,,,,pos,店,paid,2026-07-01 09:30:00,2026-07-01 09:31:00,,P1,,,1,1.00,1.00,,\n"
        "A2,b2,,,,,pos,店,paid,2026-07-01 09:32:00,2026-07-01 09:33:00,,P1,一号,,1,1.00,1.00,,\n"
        "A3,b3,,,,,pos,店,paid,2026-07-01 09:34:00,2026-07-01 09:35:00,,P1,,零食,1,1.00,1.00,,\n"
        "A4,b1,,,,,pos,店,paid,2026-07-02 09:30:00,2026-07-02 09:31:00,,P2,二号,,1,2.00,2.00,,\n"
        "A5,b2,,,,,pos,店,paid,2026-07-02 09:32:00,2026-07-02 09:33:00,,P5,,,1,5.00,5.00,,\n"
        "A6,b3,,,,,pos,店,paid,2026-07-02 09:34:00,2026-07-02 09:35:00,,P2,别名,饮料,1,2.00,2.00,,"
        "\n"
        "A7,b1,,,,,pos,店,paid,2026-07-03 09:30:00,2026-07-03 "
        "09:31:00,,P1,另一个,其他,1,1.00,1.00,,"
        "\n");
    tdb_import1(t, f1, &r);
    check_counts(&r, 7, 7, 0, 0, 7, 3, 0);
    hk_import_result_release(&r);
    assert_int_equal(count(t, "products"), 3);
    product_row(t, "P1", got, sizeof got);
    assert_string_equal(got, "一号|零食"); /* filled before it was written; never overwritten */
    product_row(t, "P2", got, sizeof got);
    assert_string_equal(got, "二号|饮料");
    product_row(t, "P5", got, sizeof got);
    assert_string_equal(got, "|");

    const char *f2 = tdb_write(
        t, "products2.csv",
        TDB_GENERIC_HEADER
        "B1,b4,,,,,pos,店,paid,2026-08-01 09:30:00,2026-08-01 09:31:00,,P3,三号,,1,3.00,3.00,,\n"
        "B2,b5,,,,,pos,店,paid,2026-08-01 09:32:00,2026-08-01 09:33:00,,P3,,日用,1,3.00,3.00,,\n"
        "B3,b6,,,,,pos,店,paid,2026-08-01 09:34:00,2026-08-01 09:35:00,,P4,,,1,4.00,4.00,,\n"
        "B4,b4,,,,,pos,店,paid,2026-08-02 09:30:00,2026-08-02 09:31:00,,P4,四号,,1,4.00,4.00,,\n"
        "B5,b5,,,,,pos,店,paid,2026-08-02 09:32:00,2026-08-02 09:33:00,,P5,五号,,1,5.00,5.00,,\n"
        "B6,b6,,,,,pos,店,paid,2026-08-02 09:34:00,2026-08-02 09:35:00,,P1,,,1,1.00,1.00,,\n");
    tdb_import1(t, f2, &r);
    check_counts(&r, 6, 6, 0, 0, 6, 3, 0);
    hk_import_result_release(&r);
    assert_int_equal(count(t, "products"), 5);
    product_row(t, "P3", got, sizeof got);
    assert_string_equal(got, "三号|日用");
    product_row(t, "P4", got, sizeof got); /* written in batch 1, filled in batch 2 */
    assert_string_equal(got, "四号|");
    product_row(t, "P5", got, sizeof got); /* from the first file, filled by the second */
    assert_string_equal(got, "五号|");
    product_row(t, "P1", got, sizeof got);
    assert_string_equal(got, "一号|零食");

    /* every line points at its product; importing both again adds nothing */
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM order_items i LEFT JOIN products p ON "
                                     "p.id = i.product_id WHERE p.id IS NULL"),
                     0);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM order_items i JOIN orders o ON o.id = "
                                     "i.order_id JOIN products p ON p.id = i.product_id WHERE "
                                     "p.external_id = 'P1'"),
                     5);
    const char *both[] = {f1, f2};
    tdb_import(t, both, 2, NULL, &r);
    check_counts(&r, 13, 0, 0, 13, 0, 0, 0);
    hk_import_result_release(&r);
    assert_int_equal(count(t, "products"), 5);
    assert_int_equal(count(t, "order_items"), 13);
}

/* A product id longer than products.external_id keeps (stored cut, as always) is one product
   in the batch that creates it, in later batches and in later imports, which find it by what
   was stored; the same id in another shop is another product. */
static void products__long_ids_and_other_shops(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    char longid[400], text[4096];
    memset(longid, 'L', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    snprintf(text, sizeof text,
             TDB_GENERIC_HEADER
             "C1,c1,,,,,pos,店,paid,2026-07-01 09:30:00,2026-07-01 09:31:00,,%s,长,,1,1.00,1.00,,\n"
             "C2,c2,,,,,pos,店,paid,2026-07-01 09:32:00,2026-07-01 09:33:00,,%s,长,,1,1.00,1.00,,\n"
             "C3,c3,,,,,pos,店,paid,2026-07-01 09:34:00,2026-07-01 09:35:00,,P1,一,,1,1.00,1.00,,\n"
             "C4,c1,,,,,pos,店,paid,2026-07-02 09:30:00,2026-07-02 09:31:00,,%s,长,,1,1.00,1.00,,\n"
             "C5,c2,,,,,pos,二店,paid,2026-07-02 09:32:00,2026-07-02 09:33:00,,P1,一,,1,1.00,1.00,,"
             "\n",
             longid, longid, longid);
    const char *f = tdb_write(t, "long.csv", text);
    tdb_import1(t, f, &r);
    check_counts(&r, 5, 5, 0, 0, 5, 3, 0); /* c2 is one customer in both shops */
    hk_import_result_release(&r);
    assert_int_equal(count(t, "products"), 3);
    assert_int_equal(q_int(t->store, "SELECT count(DISTINCT shop_id) FROM products WHERE "
                                     "external_id = 'P1'"),
                     2);
    tdb_import1(t, f, &r);
    check_counts(&r, 5, 0, 0, 5, 0, 0, 0);
    hk_import_result_release(&r);
    assert_int_equal(count(t, "products"), 3);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM order_items i LEFT JOIN products p ON "
                                     "p.id = i.product_id WHERE p.id IS NULL"),
                     0);
}

/* A Chinese product id or sku longer than products.external_id keeps (263 bytes) is cut on a
   character boundary: the stored id is the longest whole-character prefix (PostgreSQL refused
   the half character the byte cut left, SQLite stored it), and a re-import finds the product. */
static void products__long_chinese_ids_are_cut_on_a_character_boundary(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    char pid[400], sku[400], want_pid[400], want_sku[400], text[4096], sql[1024];
    tdb_repeat_utf8(pid, sizeof pid, "长", 100);          /* 300 bytes */
    tdb_repeat_utf8(sku, sizeof sku, "码", 100);          /* 300 bytes, and no product id */
    tdb_repeat_utf8(want_pid, sizeof want_pid, "长", 87); /* 261 of 263 */
    snprintf(want_sku, sizeof want_sku, "sku:");
    tdb_repeat_utf8(want_sku + 4, sizeof want_sku - 4, "码", 86); /* 4 + 258 of 263 */
    snprintf(
        text, sizeof text,
        TDB_GENERIC_COLUMNS
        ",sku\n"
        "U1,u1,,,,,pos,店,paid,2026-07-01 09:30:00,2026-07-01 09:31:00,,%s,长,,1,1.00,1.00,,,\n"
        "U2,u2,,,,,pos,店,paid,2026-07-01 09:32:00,2026-07-01 09:33:00,,,码,,1,1.00,1.00,,,%s\n",
        pid, sku);
    const char *f = tdb_write(t, "long-cjk.csv", text);
    tdb_import1(t, f, &r);
    check_counts(&r, 2, 2, 0, 0, 2, 2, 0);
    hk_import_result_release(&r);
    assert_int_equal(count(t, "products"), 2);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM products WHERE external_id = '%s'", want_pid);
    assert_int_equal(q_int(t->store, sql), 1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM products WHERE external_id = '%s'", want_sku);
    assert_int_equal(q_int(t->store, sql), 1);
    tdb_import1(t, f, &r);
    check_counts(&r, 2, 0, 0, 2, 0, 0, 0);
    hk_import_result_release(&r);
    assert_int_equal(count(t, "products"), 2);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM order_items i LEFT JOIN products p ON "
                                     "p.id = i.product_id WHERE p.id IS NULL"),
                     0);
}

/* The same cut for a Taobao detail line that waits for its order (staged_items.product_ext_id),
   and for the product made when the order list comes. */
static void taobao__long_chinese_product_id_of_a_waiting_line(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    char pid[400], want[400], text[4096], sql[1024];
    tdb_repeat_utf8(pid, sizeof pid, "长", 100);
    tdb_repeat_utf8(want, sizeof want, "长", 87);
    snprintf(text, sizeof text,
             "订单编号,标题,价格,购买数量,外部系统编号,商品属性,套餐信息,备注,订单状态,商家编码,"
             "商品id\nT9,长标题,10.00,1,,,,,交易成功,,%s\n",
             pid);
    tdb_import1(t, tdb_write(t, "ExportOrderDetailList-long.csv", text), &r);
    assert_int_equal(r.rejected, 0);
    assert_int_equal(r.items_staged, 1);
    hk_import_result_release(&r);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM staged_items WHERE product_ext_id = '%s'",
             want);
    assert_int_equal(q_int(t->store, sql), 1);
    tdb_import1(t,
                tdb_write(t, "ExportOrderList-long.csv",
                          "订单编号,买家会员名,买家实际支付金额,订单状态,订单创建时间,订单付款时间,"
                          "宝贝标题,宝贝总数量,店铺名称\nT9,tb_long,10.00,交易成功,2026-03-01 "
                          "10:00:00,2026-03-01 10:01:00,长标题,1,长店\n"),
                &r);
    assert_int_equal(r.rejected, 0);
    assert_int_equal(r.orders_created, 1);
    hk_import_result_release(&r);
    assert_int_equal(count(t, "products"), 1);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM order_items i JOIN products p ON p.id = i.product_id"
             " WHERE p.external_id = '%s'",
             want);
    assert_int_equal(q_int(t->store, sql), 1);
}

/* ---- other marketplaces ------------------------------------------------------------------- */

static void douyin__masked_recipients_are_kept_masked(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    char buf[128];
    tdb_import1(t, fixture("douyin-orders.csv"), &r);
    check_counts(&r, 8, 6, 0, 0, 8, 6, 0);
    hk_import_result_release(&r);
    /* ids written after a tab */
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM orders WHERE external_no = "
                                     "'6930000000000000001'"),
                     1);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM products WHERE external_id = "
                                     "'3600000000000002'"),
                     1);
    /* no clear phone: nothing sealed, masked forms kept, never a phone identity */
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customers WHERE phone_enc IS NOT NULL"),
                     0);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM identities WHERE kind = 'phone'"), 0);
    assert_string_equal(q_text(t->store,
                               "SELECT c.phone_masked FROM customers c JOIN orders o ON "
                               "o.customer_id = c.id WHERE o.external_no = '6930000000000000002'",
                               buf, sizeof buf),
                        "138****0003");
    assert_string_equal(q_open(t,
                               "SELECT c.name_enc FROM customers c JOIN orders o ON o.customer_id "
                               "= c.id WHERE o.external_no = '6930000000000000002'",
                               buf, sizeof buf),
                        "王**");
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customers WHERE name_hash IS NOT NULL"),
                     0);
    /* 退款成功 on one of two lines: that line refunded, the order completed */
    assert_string_equal(
        q_text(t->store, "SELECT status FROM orders WHERE external_no = '6930000000000000005'", buf,
               sizeof buf),
        "completed");
    assert_int_equal(q_int(t->store, "SELECT refund_fen FROM orders WHERE external_no = "
                                     "'6930000000000000005'"),
                     8800);
    /* re-import: the same six customers (recipient keys), nothing new */
    tdb_import1(t, fixture("douyin-orders.csv"), &r);
    check_counts(&r, 8, 0, 0, 6, 0, 0, 0);
    hk_import_result_release(&r);
}

static void pdd__fully_masked_orders_get_a_customer_each(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    char buf[64];
    tdb_import1(t, fixture("pdd-orders.csv"), &r);
    check_counts(&r, 6, 6, 0, 0, 6, 6, 0);
    hk_import_result_release(&r);
    /* only 260518-…271 shows enough of its recipient (138****0031, a name, an address) for a
       weak recipient key; the others have none */
    assert_int_equal(count(t, "identities"), 1);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM identities WHERE kind = 'recipient'"),
                     1);
    assert_string_equal(q_text(t->store,
                               "SELECT status FROM orders WHERE external_no = "
                               "'260517-607198974342268'",
                               buf, sizeof buf),
                        "completed");
    assert_int_equal(q_int(t->store, "SELECT discount_fen * 1000000 + paid_fen FROM orders WHERE "
                                     "external_no = '260517-607198974342268'"),
                     800 * 1000000LL + 5180);
    /* re-import finds each order, and with it its customer */
    tdb_import1(t, fixture("pdd-orders.csv"), &r);
    check_counts(&r, 6, 0, 0, 6, 0, 0, 0);
    hk_import_result_release(&r);
    assert_int_equal(count(t, "customers"), 6);
}

static void jd__gbk_export_with_buyer_accounts(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    char buf[64];
    tdb_import1(t, fixture("jd-orders.csv"), &r);
    check_counts(&r, 6, 5, 0, 0, 6, 5, 0);
    hk_import_result_release(&r);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM identities WHERE channel = 'jd' AND "
                                     "kind = 'buyer_id'"),
                     5);
    /* the masked number of jd_user_02 is kept masked and is no identity */
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM identities WHERE kind = 'phone'"), 4);
    assert_string_equal(q_text(t->store,
                               "SELECT c.phone_masked FROM customers c JOIN identities i ON "
                               "i.customer_id = c.id WHERE i.value = 'jd_user_02'",
                               buf, sizeof buf),
                        "138****0022");
    assert_string_equal(q_text(t->store, "SELECT name FROM shops", buf, sizeof buf), "京东店铺");
}

/* ---- regions ------------------------------------------------------------------------------ */

/* Provinces are stored in one full form from files (spaced or not) and REST, so a filter on
 * 上海市 finds Taobao's "上海 上海市 …" and JD's "上海市浦东新区…" customers alike. */
static void region__provinces_stored_in_full_form_from_files_and_rest(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    struct hk_err err = {0};
    char buf[128];
    tdb_import1(t, fixture("ExportOrderList202603.csv"), &r);
    hk_import_result_release(&r);
    tdb_import1(t, fixture("jd-orders.csv"), &r);
    hk_import_result_release(&r);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customers WHERE province = '上海'"), 0);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customers WHERE province = '上海市' "
                                     "AND city = '上海市'"),
                     2);
    assert_string_equal(q_text(t->store,
                               "SELECT c.province || '|' || c.city FROM customers c JOIN "
                               "identities i ON i.customer_id = c.id WHERE i.value = 'jd_user_03'",
                               buf, sizeof buf),
                        "广东省|广州市");
    assert_string_equal(q_text(t->store,
                               "SELECT c.province || '|' || c.city FROM customers c JOIN "
                               "identities i ON i.customer_id = c.id WHERE i.value = 'jd_user_01'",
                               buf, sizeof buf),
                        "北京市|北京市");

    /* REST orders: the buyer's short-form province */
    struct hk_item_rec it = {.product_id = "SKU-1",
                             .sku = "",
                             .title = "茶",
                             .variant = "",
                             .category = "",
                             .quantity = 1,
                             .unit_price_fen = 1000,
                             .paid_fen = 1000};
    struct hk_order_rec o = {.channel = "wechat",
                             .order_no = "R1",
                             .buyer_id = "o-gx",
                             .province = "广西",
                             .city = "南宁市",
                             .status = HK_ORDER_PAID,
                             .created_at = 1772294400,
                             .paid_fen = 1000,
                             .has_paid_fen = true,
                             .items = &it,
                             .nitems = 1};
    const struct hk_order_rec *recs[] = {&o};
    enum hk_apply_outcome out[1];
    struct hk_err errs[1];
    memset(&r, 0, sizeof r);
    assert_int_equal(hk_ingest_orders(&t->ctx, recs, 1, "小程序商城", out, errs, &r, &err), 0);
    assert_int_equal(errs[0].code, 0);
    assert_string_equal(q_text(t->store,
                               "SELECT c.province FROM customers c JOIN identities i ON "
                               "i.customer_id = c.id WHERE i.value = 'o-gx'",
                               buf, sizeof buf),
                        "广西壮族自治区");

    /* REST customer upserts: short form stored in full; the full form then changes nothing */
    struct hk_identity_in id = {"wechat", "buyer_id", "o-nmg"};
    struct hk_customer_in c = {.ids = &id, .nids = 1, .province = "内蒙古", .city = "呼和浩特市"};
    c.consent_sms = c.consent_email = c.consent_wechat = -1;
    struct hk_ingest_item_result res = {0};
    struct hk_err ierr = {0};
    assert_int_equal(hk_ingest_customers(&t->ctx, &c, 1, &res, &ierr, &err), 0);
    assert_int_equal(ierr.code, 0);
    assert_string_equal(q_text(t->store,
                               "SELECT c.province FROM customers c JOIN identities i ON "
                               "i.customer_id = c.id WHERE i.value = 'o-nmg'",
                               buf, sizeof buf),
                        "内蒙古自治区");
    c.province = "内蒙古自治区";
    assert_int_equal(hk_ingest_customers(&t->ctx, &c, 1, &res, &ierr, &err), 0);
    assert_int_equal(res.outcome, HK_APPLY_UNCHANGED);
}

/* ---- bad input ---------------------------------------------------------------------------- */

static void bad_rows__reported_and_good_rows_imported(void **state)
{
    struct tdb *t = *state;
    static const struct {
        const char *file;
        int64_t rows, orders, rejected;
    } cases[] = {
        {"generic-bad.csv", 11, 3, 8}, {"ExportOrderList-bad.csv", 8, 2, 6},
        {"douyin-bad.csv", 9, 2, 7},   {"pdd-bad.csv", 7, 2, 5},
        {"jd-bad.csv", 9, 2, 7},
    };
    int64_t orders = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hk_import_result r;
        tdb_import1(t, fixture(cases[i].file), &r);
        if (r.rows != cases[i].rows || r.orders_created != cases[i].orders ||
            r.rejected != cases[i].rejected)
            fail_msg("%s: rows %lld orders %lld rejected %lld", cases[i].file, (long long)r.rows,
                     (long long)r.orders_created, (long long)r.rejected);
        assert_int_equal((int64_t)r.nerrors, cases[i].rejected);
        for (size_t j = 0; j < r.nerrors; j++) {
            assert_non_null(strstr(r.errors[j].file, cases[i].file));
            assert_true(r.errors[j].line > 1 && r.errors[j].record >= 1);
            assert_true(r.errors[j].message[0] != '\0');
        }
        orders += cases[i].orders;
        assert_int_equal(count(t, "orders"), orders);
        hk_import_result_release(&r);
    }
    /* generic-bad in detail: where and why */
    struct hk_import_result r;
    tdb_import1(t, fixture("generic-bad.csv"), &r);
    check_counts(&r, 11, 0, 0, 3, 0, 0, 8);
    bool sci = false, amount = false;
    for (size_t j = 0; j < r.nerrors; j++) {
        if (r.errors[j].line == 6 && strcmp(r.errors[j].column, "order_no") == 0 &&
            strstr(r.errors[j].message, "2.456E+17"))
            sci = true;
        if (r.errors[j].line == 4 && r.errors[j].record == 3 &&
            strcmp(r.errors[j].column, "paid_amount") == 0)
            amount = true;
    }
    assert_true(sci && amount);
    hk_import_result_release(&r);
    /* G2002 (one bad line of two) is not half-stored */
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM orders WHERE external_no = 'G2002'"), 0);
}

static void bad_detail_list__good_lines_staged(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    tdb_import1(t, fixture("ExportOrderDetailList-bad.csv"), &r);
    check_counts(&r, 5, 0, 0, 0, 0, 0, 4);
    assert_int_equal(r.items_staged, 1);
    hk_import_result_release(&r);
    assert_int_equal(count(t, "staged_items"), 1);
}

static void missing_column__import_refused_naming_it(void **state)
{
    struct tdb *t = *state;
    struct hk_err err = {0};
    struct hk_import_result r;
    memset(&r, 0, sizeof r);
    const char *files[] = {fixture("generic-orders.csv"), fixture("generic-missing-column.csv")};
    int rc = hk_import_files(&t->ctx, files, NULL, 2, NULL, &r, &err);
    assert_int_equal(rc, HK_E(INVAL));
    assert_non_null(strstr(err.msg, "paid_amount"));
    hk_import_result_release(&r);
    assert_int_equal(count(t, "orders"), 0); /* every file is checked before anything is written */
}

/* ---- REST batches and database failures ---------------------------------------------------- */

static void rest__bad_orders_rejected_good_ones_commit(void **state)
{
    struct tdb *t = *state;
    struct hk_err err = {0};
    struct hk_item_rec it = {.product_id = "SKU-1",
                             .sku = "",
                             .title = "茶",
                             .variant = "",
                             .category = "茶饮",
                             .quantity = 1,
                             .unit_price_fen = 1000,
                             .paid_fen = 1000};
    struct hk_order_rec good = {.channel = "wechat",
                                .order_no = "W1",
                                .buyer_id = "o-1",
                                .phone = "13700000001",
                                .status = HK_ORDER_PAID,
                                .created_at = 1772294400,
                                .paid_fen = 1000,
                                .has_paid_fen = true,
                                .items = &it,
                                .nitems = 1};
    struct hk_order_rec no_number = good;
    no_number.order_no = "";
    struct hk_order_rec no_status = good;
    no_status.order_no = "W2";
    no_status.status = HK_ORDER_UNKNOWN;
    struct hk_order_rec good2 = good;
    good2.order_no = "W3";
    const struct hk_order_rec *recs[] = {&good, &no_number, &no_status, &good2};
    enum hk_apply_outcome out[4];
    struct hk_err errs[4];
    struct hk_import_result r = {0};
    assert_int_equal(hk_ingest_orders(&t->ctx, recs, 4, "小程序商城", out, errs, &r, &err), 0);
    assert_int_equal(out[0], HK_APPLY_CREATED);
    assert_int_equal(out[3], HK_APPLY_CREATED);
    assert_int_equal(out[1], 0);
    assert_int_equal(errs[1].code, HK_E(INVAL));
    assert_int_equal(errs[2].code, HK_E(INVAL));
    assert_int_equal(errs[0].code, 0);
    assert_int_equal(r.orders_created, 2);
    assert_int_equal(r.customers_created, 1);
    assert_int_equal(count(t, "orders"), 2);
    char buf[64];
    assert_string_equal(q_text(t->store, "SELECT DISTINCT source FROM orders", buf, sizeof buf),
                        "api");
    assert_string_equal(q_text(t->store, "SELECT name FROM shops", buf, sizeof buf), "小程序商城");

    memset(&r, 0, sizeof r);
    assert_int_equal(hk_ingest_orders(&t->ctx, recs, 4, "小程序商城", out, errs, &r, &err), 0);
    assert_int_equal(out[0], HK_APPLY_UNCHANGED);
    assert_int_equal(r.orders_unchanged, 2);
}

/* Once in one batch, then in batches of two and of one order, where the refused order's batch
   fails in the writer with batches before it and, as the timing has it, after it (import.c:
   each unconfirmed batch is redone, in order; test_pipeline times the case of two queued
   after it). */
static void db_failure__only_the_failing_order_is_lost(void **state)
{
    struct tdb *t = *state;
    static const int64_t batches[] = {100, 2, 1};
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
        char target[512];
        struct hk_store *st =
            b ? tdb_open_store(tdb_fresh_target(t, target, sizeof target)) : t->store;
        struct hk_ingest_ctx ctx = t->ctx;
        ctx.store = st;
        struct hk_import_result r;
        /* the database refuses order G1003 (a trigger stands in for any database-level
           failure) */
        if (t->pg) {
            q_exec(st, "CREATE FUNCTION refuse_g1003() RETURNS trigger LANGUAGE plpgsql AS "
                       "$$ BEGIN IF NEW.external_no = 'G1003' THEN RAISE EXCEPTION 'refused'; "
                       "END IF; RETURN NEW; END $$");
            q_exec(st, "CREATE TRIGGER refuse_g1003 BEFORE INSERT ON orders FOR EACH ROW "
                       "EXECUTE FUNCTION refuse_g1003()");
        } else {
            q_exec(st, "CREATE TRIGGER refuse_g1003 BEFORE INSERT ON orders WHEN "
                       "NEW.external_no = 'G1003' BEGIN SELECT RAISE(ABORT, 'refused'); END");
        }
        struct hk_err err = {0};
        struct hk_import_opts o = {0};
        o.batch_orders = batches[b];
        memset(&r, 0, sizeof r);
        assert_int_equal(hk_import_files(&ctx, (const char *const[]){fixture("generic-orders.csv")},
                                         NULL, 1, &o, &r, &err),
                         0);
        check_counts(&r, 9, 5, 0, 0, 7, 5, 1);
        assert_true(r.pipeline_redos >= 1);
        assert_int_equal((int64_t)r.nerrors, 1);
        assert_int_equal(r.errors[0].line, 5);
        assert_non_null(strstr(r.errors[0].message, "G1003"));
        hk_import_result_release(&r);
        assert_int_equal(q_int(st, "SELECT count(*) FROM orders"), 5);
        assert_int_equal(q_int(st, "SELECT count(*) FROM order_items"), 7);
        assert_int_equal(q_int(st, "SELECT count(*) FROM customers"),
                         5); /* G1003's new customer went with it */
        assert_int_equal(q_int(st, "SELECT count(*) FROM identities WHERE value = 'u1003'"), 0);
        assert_int_equal(q_int(st, "SELECT count(*) FROM orders WHERE external_no IN ('G1001',"
                                   " 'G1002', 'G1004', 'G1005', 'G1006')"),
                         5);
        if (b)
            hk_store_close(st);
    }
}

/*
 * REST ingest: times without an offset are the shop's local time (shops.timezone), not the
 * default zone; times with an offset are instants; a shop not stored yet takes the default.
 */
static void rest__local_times_read_in_the_shops_time_zone(void **state)
{
    struct tdb *t = *state;
    struct hk_err err;
    hk_err_clear(&err);
    int64_t ny_shop;
    struct hk_db *db;
    assert_int_equal(hk_db_acquire(t->store, &db, &err), 0);
    assert_int_equal(
        hk_irepo_shop_ensure(db, "pos", "纽约门店", "America/New_York", TEST_NOW, &ny_shop, &err),
        0);
    hk_db_release(db);

    /* what the REST handler does with each time string */
    int64_t created, paid, paid_sh;
    bool local = false;
    assert_int_equal(hk_ingest_time_parse("2026-07-01 09:30:00", 19, &created, &local, &err), 0);
    assert_true(local);
    assert_int_equal(hk_ingest_time_parse(" 2026-07-01T10:00:00-04:00 ", 27, &paid, &local, &err),
                     0);
    assert_false(local);
    assert_int_equal(hk_ingest_time_parse("2026-07-01T22:00:00Z", 20, &paid_sh, &local, &err), 0);
    assert_false(local);
    int64_t day;
    assert_int_equal(hk_ingest_time_parse("2026-07-02", 10, &day, &local, &err), 0);
    assert_true(local);
    assert_int_equal(hk_ingest_time_parse("2026-07-02 25:00:00", 19, &day, &local, &err),
                     HK_E(INVAL));

    struct hk_item_rec it = {.product_id = "P1",
                             .sku = "",
                             .title = "T",
                             .variant = "",
                             .category = "",
                             .quantity = 1,
                             .unit_price_fen = 100,
                             .paid_fen = 100};
    struct hk_order_rec ny = {
        .format = HK_FMT_GENERIC,
        .channel = "pos",
        .shop = "纽约门店",
        .order_no = "NY-1",
        .buyer_id = "ny_buyer",
        .status = HK_ORDER_PAID,
        .created_at = created,
        .paid_at = paid,
        .local_times = HK_LOCAL_CREATED,
        .paid_fen = 100,
        .has_paid_fen = true,
        .items = &it,
        .nitems = 1,
    };
    struct hk_order_rec sh = ny; /* a new shop: the default zone (Asia/Shanghai) */
    sh.shop = "上海门店";
    sh.order_no = "SH-1";
    sh.buyer_id = "sh_buyer";
    sh.paid_at = created; /* "2026-07-01 09:30:00" again, local too */
    sh.local_times = HK_LOCAL_CREATED | HK_LOCAL_PAID;
    const struct hk_order_rec *recs[] = {&ny, &sh};
    enum hk_apply_outcome out[2];
    struct hk_err errs[2];
    struct hk_import_result r = {0};
    assert_int_equal(hk_ingest_orders(&t->ctx, recs, 2, NULL, out, errs, &r, &err), 0);
    assert_int_equal(out[0], HK_APPLY_CREATED);
    assert_int_equal(out[1], HK_APPLY_CREATED);
    /* the caller's records are not changed */
    assert_int_equal(ny.created_at, created);
    assert_int_equal(ny.local_times, HK_LOCAL_CREATED);

    /* 2026-07-01 09:30 in New York (EDT, UTC-4) = 13:30Z */
    assert_int_equal(q_int(t->store, "SELECT created_at FROM orders WHERE external_no = 'NY-1'"),
                     1782912600);
    /* 10:00-04:00 = 14:00Z, whatever the shop's zone */
    assert_int_equal(q_int(t->store, "SELECT paid_at FROM orders WHERE external_no = 'NY-1'"),
                     1782914400);
    /* the new shop: 09:30 in Shanghai = 01:30Z */
    assert_int_equal(q_int(t->store, "SELECT created_at FROM orders WHERE external_no = 'SH-1'"),
                     sh_time(t, "2026-07-01 09:30:00"));
    assert_int_equal(q_int(t->store, "SELECT paid_at FROM orders WHERE external_no = 'SH-1'"),
                     1782869400);
    char tz[64];
    assert_string_equal(
        q_text(t->store, "SELECT timezone FROM shops WHERE name = '上海门店'", tz, sizeof tz),
        "Asia/Shanghai");

    /* sent again the same way: unchanged */
    assert_int_equal(hk_ingest_orders(&t->ctx, recs, 2, NULL, out, errs, &r, &err), 0);
    assert_int_equal(out[0], HK_APPLY_UNCHANGED);
    assert_int_equal(out[1], HK_APPLY_UNCHANGED);
}

/*
 * Files: times without an offset are read in the shop's zone too (shops.timezone), times with
 * an offset are instants, and a shop in the default zone is read as before.
 */
static void generic__local_times_read_in_the_shops_time_zone(void **state)
{
    struct tdb *t = *state;
    struct hk_err err;
    hk_err_clear(&err);
    int64_t ny_shop;
    struct hk_db *db;
    assert_int_equal(hk_db_acquire(t->store, &db, &err), 0);
    assert_int_equal(
        hk_irepo_shop_ensure(db, "pos", "纽约门店", "America/New_York", TEST_NOW, &ny_shop, &err),
        0);
    hk_db_release(db);
    const char *path = tdb_write(
        t, "zones.csv",
        TDB_GENERIC_HEADER
        "NY1,ny1,,,,,pos,纽约门店,paid,2026-07-01 09:30:00,2026-07-01T10:00:00-04:00,,P1,一,,1,"
        "1.00,1.00,,\n"
        "NY2,ny2,,,,,pos,纽约门店,paid,2026/7/1 9:30,2026-07-01 09:45,,P1,一,,1,1.00,1.00,,\n"
        "SH1,sh1,,,,,pos,上海门店,paid,2026-07-01 09:30:00,2026-07-01T01:45:00Z,,P1,一,,1,1.00,"
        "1.00,,\n");
    struct hk_import_result r = {0};
    tdb_import1(t, path, &r);
    check_counts(&r, 3, 3, 0, 0, 3, 3, 0);
    hk_import_result_release(&r);
    /* 09:30 in New York (EDT, UTC-4) = 13:30Z; 10:00-04:00 = 14:00Z; 09:45 EDT = 13:45Z */
    assert_int_equal(q_int(t->store, "SELECT created_at FROM orders WHERE external_no = 'NY1'"),
                     1782912600);
    assert_int_equal(q_int(t->store, "SELECT paid_at FROM orders WHERE external_no = 'NY1'"),
                     1782914400);
    assert_int_equal(q_int(t->store, "SELECT created_at FROM orders WHERE external_no = 'NY2'"),
                     1782912600);
    assert_int_equal(q_int(t->store, "SELECT paid_at FROM orders WHERE external_no = 'NY2'"),
                     1782913500);
    /* the default zone: 09:30 in Shanghai = 01:30Z */
    assert_int_equal(q_int(t->store, "SELECT created_at FROM orders WHERE external_no = 'SH1'"),
                     1782869400);
    assert_int_equal(q_int(t->store, "SELECT paid_at FROM orders WHERE external_no = 'SH1'"),
                     1782870300);

    /* the same file again: nothing changes */
    tdb_import1(t, path, &r);
    check_counts(&r, 3, 0, 0, 3, 0, 0, 0);
    hk_import_result_release(&r);
}

/* Stores made before migration 0010 hold a 'created' history row for every imported order; the
   migration removes exactly those and keeps the changes. */
static void migration_0010__created_history_rows_go_changes_stay(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    tdb_import1(t, fixture("generic-orders.csv"), &r);
    hk_import_result_release(&r);
    q_exec(t->store,
           "INSERT INTO order_history (order_id, at, change, old_value, new_value, source)"
           " SELECT id, created_at, 'created', '', status, source FROM orders");
    q_exec(t->store,
           "INSERT INTO order_history (order_id, at, change, old_value, new_value, source)"
           " SELECT id, created_at, 'status', 'paid', 'completed', 'generic' FROM orders"
           " WHERE external_no = 'G1002'");
    assert_int_equal(count(t, "order_history"), 7);
    q_exec(t->store, "DELETE FROM schema_version WHERE version >= 10");
    struct hk_err err;
    hk_err_clear(&err);
    int from = 0, to = 0;
    assert_int_equal(hk_store_migrate(t->store, TEST_NOW, &from, &to, &err), 0);
    assert_true(from < 10 && to >= 10);
    assert_int_equal(count(t, "order_history"), 1);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM order_history WHERE change = 'status'"),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, tdb_setup, tdb_teardown)
        T(generic_fixture__imports_with_exact_counts_and_stored_data),
        T(pii__phone_is_never_stored_in_clear),
        T(generic_fixture__reimport_creates_and_updates_nothing),
        T(generic__later_export_updates_status_and_refunds_with_history),
        T(generic__older_export_never_moves_an_order_back),
        T(generic__same_order_twice_in_one_file_is_one_order),
        T(taobao__orders_and_details_together_in_either_order),
        T(taobao__details_first_then_orders_separately),
        T(taobao__orders_first_then_details_attach_lines),
        T(taobao__detail_lines_replace_placeholder_lines),
        T(taobao__lines_reshare_a_changed_paid_amount),
        T(cli_json__prints_the_failure_of_an_excel_workbook),
        T(cli_json__says_how_many_lines_wait_for_their_orders),
        T(taobao_2015__older_export_with_utf8_bom),
        T(products__created_once_and_filled_across_batches_and_files),
        T(products__long_ids_and_other_shops),
        T(products__long_chinese_ids_are_cut_on_a_character_boundary),
        T(taobao__long_chinese_product_id_of_a_waiting_line),
        T(douyin__masked_recipients_are_kept_masked),
        T(pdd__fully_masked_orders_get_a_customer_each),
        T(jd__gbk_export_with_buyer_accounts),
        T(region__provinces_stored_in_full_form_from_files_and_rest),
        T(bad_rows__reported_and_good_rows_imported),
        T(bad_detail_list__good_lines_staged),
        T(missing_column__import_refused_naming_it),
        T(rest__bad_orders_rejected_good_ones_commit),
        T(db_failure__only_the_failing_order_is_lost),
        T(rest__local_times_read_in_the_shops_time_zone),
        T(generic__local_times_read_in_the_shops_time_zone),
        T(migration_0010__created_history_rows_go_changes_stay),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
