/*
 * test_reader.c — the import reader (src/ingest/reader.h) against the fixtures in
 * tests/fixtures/import: every format parses to exactly the expected orders, items, amounts,
 * statuses and times (shop time zone Asia/Shanghai); masked fields are flagged; each bad-row
 * kind is reported with its record, physical line, column and reason while the good rows
 * around it still arrive; formats are recognised from their headers; a missing required column
 * is named. Plus generated files: a GBK file larger than every buffer, and a fuzz-ish pass of
 * mutated fixtures under the sanitizers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/strbuf.h"
#include "core/tz.h"
#include "ingest/reader.h"

#define MAX_ORDERS 64
#define MAX_ERRORS 64

static struct hk_tz *g_tz;

static int setup(void **state)
{
    (void)state;
    struct hk_err err;
    return hk_tz_load("Asia/Shanghai", &g_tz, &err);
}

static int teardown(void **state)
{
    (void)state;
    hk_tz_free(g_tz);
    return 0;
}

/* ---- helpers ---- */

struct loaded {
    struct hk_reader *r;
    const struct hk_order_rec *o[MAX_ORDERS];
    size_t n;
    struct hk_row_error e[MAX_ERRORS];
    size_t ne;
    int64_t records;
};

static void fixture_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", HK_FIXTURES_DIR, name);
}

/* Reads a whole file; orders stay valid (no recycling) until unload. */
static void load_path(struct loaded *L, const char *path, const char *display,
                      enum hk_import_format fmt)
{
    struct hk_err err;
    hk_err_clear(&err);
    memset(L, 0, sizeof(*L));
    int rc = hk_reader_open(path, display, fmt, g_tz, &L->r, &err);
    if (rc)
        fail_msg("open %s: %s", path, hk_err_message(&err));
    for (;;) {
        const struct hk_order_rec *o = NULL;
        rc = hk_reader_next(L->r, &o, &err);
        if (rc < 0)
            fail_msg("next: %s", hk_err_message(&err));
        size_t n;
        const struct hk_row_error *e = hk_reader_errors(L->r, &n);
        for (size_t i = 0; i < n; i++) {
            assert_true(L->ne < MAX_ERRORS);
            L->e[L->ne++] = e[i];
        }
        hk_reader_take_errors(L->r);
        if (rc == 0)
            break;
        assert_true(L->n < MAX_ORDERS);
        L->o[L->n++] = o;
    }
    L->records = hk_reader_records(L->r);
    assert_int_equal(hk_reader_rejected(L->r), (int64_t)L->ne);
}

static void load(struct loaded *L, const char *name, enum hk_import_format fmt)
{
    char path[1024];
    fixture_path(path, sizeof(path), name);
    load_path(L, path, name, fmt);
}

static void unload(struct loaded *L)
{
    hk_reader_close(L->r);
    L->r = NULL;
}

static const struct hk_order_rec *find(const struct loaded *L, const char *order_no)
{
    for (size_t i = 0; i < L->n; i++)
        if (strcmp(L->o[i]->order_no, order_no) == 0)
            return L->o[i];
    fail_msg("order %s not returned", order_no);
    return NULL;
}

/* An instant written with its offset. */
static int64_t T(const char *iso)
{
    int64_t t = 0;
    struct hk_err err;
    if (hk_time_parse(iso, strlen(iso), NULL, &t, &err) != 0)
        fail_msg("bad test time %s", iso);
    return t;
}

static void assert_error(const struct loaded *L, size_t i, int64_t record, int64_t line,
                         const char *column, const char *message_part)
{
    if (i >= L->ne)
        fail_msg("expected error %zu, only %zu", i, L->ne);
    const struct hk_row_error *e = &L->e[i];
    if (e->record != record || e->line != line || strcmp(e->column, column) != 0 ||
        !strstr(e->message, message_part))
        fail_msg("error %zu: got record %lld line %lld column '%s' message '%s'; want record "
                 "%lld line %lld column '%s' message containing '%s'",
                 i, (long long)e->record, (long long)e->line, e->column, e->message,
                 (long long)record, (long long)line, column, message_part);
    assert_non_null(e->file);
}

static void assert_item(const struct hk_item_rec *it, const char *product_id, const char *sku,
                        const char *title, const char *variant, int32_t qty, int64_t unit_fen,
                        int64_t paid_fen, int64_t refund_fen)
{
    assert_string_equal(it->product_id, product_id);
    assert_string_equal(it->sku, sku);
    assert_string_equal(it->title, title);
    assert_string_equal(it->variant, variant);
    assert_int_equal(it->quantity, qty);
    assert_int_equal(it->unit_price_fen, unit_fen);
    assert_int_equal(it->paid_fen, paid_fen);
    assert_int_equal(it->refund_fen, refund_fen);
}

/* ---- generic ---- */

static void generic__parses_orders_items_amounts_and_shop_local_times(void **state)
{
    (void)state;
    struct loaded L;
    load(&L, "generic-orders.csv", HK_FMT_AUTO);
    assert_int_equal(hk_reader_format(L.r), HK_FMT_GENERIC);
    assert_int_equal(L.ne, 0);
    assert_int_equal(L.n, 6);
    assert_int_equal(L.records, 9);

    const struct hk_order_rec *o = find(&L, "G1001");
    assert_int_equal(o->format, HK_FMT_GENERIC);
    /* 2026-03-01 00:00:00 in Asia/Shanghai is 2026-02-28T16:00:00Z */
    assert_int_equal(o->created_at, 1772294400);
    assert_int_equal(o->created_at, T("2026-02-28T16:00:00Z"));
    assert_int_equal(o->paid_at, T("2026-03-01T00:05:00+08:00"));
    assert_int_equal(o->received_at, T("2026-03-04T10:00:00+08:00"));
    assert_string_equal(o->channel, "wechat");
    assert_string_equal(o->shop, "回客小铺");
    assert_string_equal(o->buyer_id, "u1001");
    assert_string_equal(o->buyer_nick, "小鹿同学");
    assert_string_equal(o->phone, "13800138001");
    assert_false(o->phone_masked);
    assert_string_equal(o->province, "浙江省");
    assert_string_equal(o->city, "杭州市");
    assert_int_equal(o->status, HK_ORDER_COMPLETED);
    assert_string_equal(o->status_text, "completed");
    assert_string_equal(o->coupon_code, "SPRING10");
    assert_int_equal(o->nitems, 2);
    assert_item(&o->items[0], "P1001", "", "碎花连衣裙", "", 1, 19900, 18900, 0);
    assert_string_equal(o->items[0].category, "连衣裙");
    assert_item(&o->items[1], "P2002", "", "针织开衫", "", 2, 8850, 17000, 0);
    assert_int_equal(o->items[1].record, 2);
    assert_int_equal(o->items[1].line, 3);
    assert_int_equal(o->total_fen, 37600);
    assert_int_equal(o->paid_fen, 35900);
    assert_true(o->has_paid_fen);
    assert_int_equal(o->refund_fen, 0);
    assert_string_equal(o->file, "generic-orders.csv");
    assert_int_equal(o->first_record, 1);
    assert_int_equal(o->last_record, 2);
    assert_int_equal(o->first_line, 2);
    assert_int_equal(o->last_line, 3);

    o = find(&L, "G1002"); /* ISO times with offsets; phone spaces removed */
    assert_int_equal(o->created_at, T("2026-03-02T01:30:00Z"));
    assert_int_equal(o->paid_at, T("2026-03-02T01:31:00Z"));
    assert_int_equal(o->received_at, 0);
    assert_string_equal(o->phone, "+8613800138002");
    assert_string_equal(o->channel, "taobao");
    assert_int_equal(o->status, HK_ORDER_PAID);
    assert_int_equal(o->paid_fen, 19900);

    o = find(&L, "G1003"); /* "1,299.00" */
    assert_int_equal(o->status, HK_ORDER_REFUNDED);
    assert_item(&o->items[0], "P3003", "", "真丝围巾", "", 1, 129900, 129900, 129900);
    assert_int_equal(o->refund_fen, 129900);
    assert_string_equal(o->phone, "");

    o = find(&L, "G1004");
    assert_int_equal(o->status, HK_ORDER_CANCELLED);
    assert_int_equal(o->paid_at, 0);
    assert_int_equal(o->paid_fen, 0);
    assert_string_equal(o->channel, "pos");
    assert_string_equal(o->buyer_nick, "");

    o = find(&L, "G1005"); /* after a blank line; an identical line exported twice is kept once */
    assert_int_equal(o->status, HK_ORDER_SHIPPED);
    assert_string_equal(o->status_text, "Shipped");
    assert_int_equal(o->nitems, 2);
    assert_item(&o->items[0], "P2002", "", "针织开衫", "", 1, 8850, 8850, 0);
    assert_item(&o->items[1], "P4004", "", "帆布包, 大号", "", 1, 4500, 4000, 0);
    assert_int_equal(o->items[1].line, 10);
    assert_int_equal(o->total_fen, 13350);
    assert_int_equal(o->paid_fen, 12850);
    assert_int_equal(o->first_record, 6);
    assert_int_equal(o->last_record, 8);
    assert_int_equal(o->first_line, 8);
    assert_int_equal(o->last_line, 10);

    o = find(&L, "G1006");
    assert_string_equal(o->channel, "other");
    assert_int_equal(o->status, HK_ORDER_CREATED);
    assert_item(&o->items[0], "P5005", "", "限量\"樱花\"礼盒", "", 3, 5990, 17970, 0);
    assert_int_equal(o->created_at, T("2026-03-06T23:59:59+08:00"));
    unload(&L);
}

static void generic__reports_every_bad_row_kind_and_keeps_the_good_orders(void **state)
{
    (void)state;
    struct loaded L;
    load(&L, "generic-bad.csv", HK_FMT_GENERIC);
    assert_int_equal(L.n, 3);
    assert_string_equal(L.o[0]->order_no, "G2001");
    assert_string_equal(L.o[1]->order_no, "G2003");
    assert_string_equal(L.o[2]->order_no, "G2006");
    /* a title with a line break inside quotes */
    assert_string_equal(L.o[1]->items[0].title, "两行的\n商品名");
    assert_int_equal(L.o[1]->first_line, 7);
    assert_int_equal(L.o[2]->first_line, 11); /* after the embedded line break */
    assert_int_equal(L.records, 11);

    assert_int_equal(L.ne, 8);
    assert_error(&L, 0, 2, 3, "", "rejected with order G2002: record 3 is bad");
    assert_error(&L, 1, 3, 4, "paid_amount", "'12,5x' is not an amount");
    assert_error(&L, 2, 4, 5, "order_no", "the order number is empty");
    assert_error(&L, 3, 5, 6, "order_no",
                 "order number '2.456E+17' was turned into scientific notation by a spreadsheet; "
                 "re-export the file — the digits cannot be recovered");
    assert_error(&L, 4, 7, 9, "created_at",
                 "'2026-02-30 10:00:00' is not a date: February 2026 has 28 days");
    assert_error(&L, 5, 8, 10, "status",
                 "unknown status 'shipping'; accepted: created, paid, shipped, completed, "
                 "refunded, cancelled");
    assert_error(&L, 6, 10, 12, "quantity", "'1.5' is not a quantity");
    assert_error(&L, 7, 11, 13, "channel", "unknown channel 'weibo'");
    assert_string_equal(L.e[0].file, "generic-bad.csv");
    unload(&L);
}

static void generic__names_a_missing_required_column(void **state)
{
    (void)state;
    char path[1024];
    fixture_path(path, sizeof(path), "generic-missing-column.csv");
    struct hk_reader *r = NULL;
    struct hk_err err;
    hk_err_clear(&err);
    assert_int_equal(hk_reader_open(path, "orders.csv", HK_FMT_AUTO, g_tz, &r, &err), HK_E(INVAL));
    assert_null(r);
    assert_non_null(strstr(err.msg, "orders.csv: missing required column paid_amount"));
    assert_string_equal(err.field, "paid_amount");
}

/* ---- Taobao ---- */

static void taobao_orders__parses_the_gbk_crlf_export(void **state)
{
    (void)state;
    struct loaded L;
    load(&L, "ExportOrderList202603.csv", HK_FMT_AUTO);
    assert_int_equal(hk_reader_format(L.r), HK_FMT_TAOBAO_ORDERS);
    assert_int_equal(L.ne, 0);
    assert_int_equal(L.n, 6);

    const struct hk_order_rec *o = find(&L, "245600000000009335"); /* ="…" unwrapped */
    assert_int_equal(o->format, HK_FMT_TAOBAO_ORDERS);
    assert_string_equal(o->channel, "taobao");
    assert_string_equal(o->shop, "回客测试旗舰店");
    assert_string_equal(o->buyer_id, "tb_xiaolu01");
    assert_string_equal(o->buyer_nick, "tb_xiaolu01");
    assert_string_equal(o->alipay, "138****8001");
    assert_string_equal(o->phone, "13800138001"); /* leading ' removed */
    assert_false(o->phone_masked);
    assert_string_equal(o->name, "李小花");
    assert_string_equal(o->address, "浙江省 杭州市 西湖区 文三路100号 测试小区1幢");
    assert_string_equal(o->province, "浙江省");
    assert_string_equal(o->city, "杭州市");
    /* commas, doubled quotes and a line break in 买家留言 */
    assert_string_equal(o->buyer_note, "请发顺丰, 谢谢！\"急用\"，\r\n周末不在家请放门卫");
    assert_string_equal(o->seller_note, "老客户 送小样");
    assert_int_equal(o->status, HK_ORDER_COMPLETED);
    assert_string_equal(o->status_text, "交易成功");
    assert_int_equal(o->created_at, T("2026-02-28T16:00:00Z"));
    assert_int_equal(o->paid_at, T("2026-03-01T00:02:10+08:00"));
    assert_int_equal(o->received_at, T("2026-03-05T10:00:00+08:00"));
    assert_int_equal(o->total_fen, 28900);
    assert_int_equal(o->postage_fen, 0);
    assert_int_equal(o->paid_fen, 27900);
    assert_true(o->has_paid_fen);
    assert_int_equal(o->refund_fen, 0);
    assert_int_equal(o->nitems, 0); /* the order list has no line items */
    assert_int_equal(o->first_line, 2);

    o = find(&L, "245600000000009336"); /* full-width comma */
    assert_int_equal(o->status, HK_ORDER_PAID);
    assert_string_equal(o->status_text, "买家已付款，等待卖家发货");
    assert_int_equal(o->total_fen, 12900);
    assert_int_equal(o->postage_fen, 1000);
    assert_int_equal(o->paid_fen, 13900);
    assert_int_equal(o->first_line, 4); /* after the two-line record */

    o = find(&L, "245600000000009337"); /* half-width comma */
    assert_int_equal(o->status, HK_ORDER_SHIPPED);
    assert_string_equal(o->name, "Lily Wang");
    assert_string_equal(o->phone, "13800138003");
    assert_string_equal(o->province, "上海市"); /* "上海 上海市 …": stored in full form */
    assert_string_equal(o->city, "上海市");

    o = find(&L, "245600000000009338"); /* 交易关闭 after payment */
    assert_int_equal(o->status, HK_ORDER_REFUNDED);
    assert_int_equal(o->refund_fen, 5900);

    o = find(&L, "245600000000009339"); /* 交易关闭 without payment */
    assert_int_equal(o->status, HK_ORDER_CANCELLED);
    assert_int_equal(o->paid_at, 0);
    assert_int_equal(o->refund_fen, 0);

    o = find(&L, "245600000000009340");
    assert_int_equal(o->status, HK_ORDER_CREATED);
    assert_string_equal(o->phone, "0571-88886666"); /* the landline when there is no mobile */
    assert_int_equal(o->total_fen, 4500);
    assert_int_equal(o->postage_fen, 800);
    assert_int_equal(o->paid_fen, 0);
    assert_int_equal(o->created_at, T("2026-03-06T23:59:59+08:00"));
    unload(&L);
}

static void taobao_details__parses_line_items_and_statuses(void **state)
{
    (void)state;
    struct loaded L;
    /* asked for the order list: corrected to the detail list from the header */
    load(&L, "ExportOrderDetailList202603.csv", HK_FMT_TAOBAO_ORDERS);
    assert_int_equal(hk_reader_format(L.r), HK_FMT_TAOBAO_DETAILS);
    assert_int_equal(L.ne, 0);
    assert_int_equal(L.n, 6);

    const struct hk_order_rec *o = find(&L, "245600000000009335");
    assert_int_equal(o->format, HK_FMT_TAOBAO_DETAILS);
    assert_int_equal(o->status, HK_ORDER_COMPLETED);
    assert_int_equal(o->nitems, 2);
    assert_item(&o->items[0], "", "HK-DRESS-01-M", "碎花连衣裙", "颜色分类：米白色;尺码：M", 1,
                19900, 0, 0);
    assert_item(&o->items[1], "", "HK-CARD-02", "针织开衫", "颜色分类：燕麦色", 2, 4500, 0, 0);
    /* a detail record carries order number, items and status only */
    assert_string_equal(o->buyer_id, "");
    assert_int_equal(o->created_at, 0);
    assert_int_equal(o->paid_fen, 0);
    assert_false(o->has_paid_fen);

    o = find(&L, "245600000000009336"); /* the same line exported twice */
    assert_int_equal(o->nitems, 1);
    assert_int_equal(o->status, HK_ORDER_PAID);
    assert_int_equal(o->first_record, 3);
    assert_int_equal(o->last_record, 4);

    o = find(&L, "245600000000009337"); /* one line refunded, the other shipped */
    assert_int_equal(o->status, HK_ORDER_SHIPPED);
    assert_string_equal(o->status_text, "卖家已发货,等待买家确认");
    assert_item(&o->items[0], "", "HK-BAG-L", "帆布包 大号", "", 1, 5900, 0, 5900);
    assert_item(&o->items[1], "", "HK-BAG-S", "帆布包 小号", "", 1, 3900, 0, 0);

    o = find(&L, "245600000000009338");
    assert_int_equal(o->status, HK_ORDER_REFUNDED);
    o = find(&L, "245600000000009339"); /* 交易关闭, and the detail list shows no payment */
    assert_int_equal(o->status, HK_ORDER_CANCELLED);
    o = find(&L, "245600000000009340");
    assert_int_equal(o->status, HK_ORDER_CREATED);
    /* no 商家编码: the 外部系统编号 stands in */
    assert_item(&o->items[0], "", "HK-CARD-02", "针织开衫", "套餐一", 1, 4500, 0, 0);
    unload(&L);
}

static void taobao_orders__reads_an_older_column_set_in_utf8_with_bom(void **state)
{
    (void)state;
    struct loaded L;
    load(&L, "ExportOrderList201503.csv", HK_FMT_TAOBAO_ORDERS);
    assert_int_equal(hk_reader_format(L.r), HK_FMT_TAOBAO_ORDERS);
    assert_int_equal(L.ne, 0);
    assert_int_equal(L.n, 3);

    const struct hk_order_rec *o = find(&L, "1021345678901234");
    assert_int_equal(o->created_at, T("2015-03-08T09:05:00+08:00")); /* "2015/3/8 9:05:00" */
    assert_int_equal(o->paid_at, T("2015-03-08T09:06:12+08:00"));
    assert_int_equal(o->status, HK_ORDER_COMPLETED);
    assert_string_equal(o->buyer_note, "颜色要白的");
    assert_string_equal(o->phone, "13800138011");
    assert_string_equal(o->address, "北京 北京市 海淀区 中关村大街5号"); /* "收货地址 " */
    assert_string_equal(o->shop, "");
    assert_int_equal(o->paid_fen, 6800);

    o = find(&L, "1021345678901235");
    assert_int_equal(o->status, HK_ORDER_CANCELLED);
    assert_int_equal(o->total_fen, 3550);
    assert_int_equal(o->postage_fen, 600);

    o = find(&L, "1021345678901236");
    assert_int_equal(o->status, HK_ORDER_SHIPPED);
    assert_int_equal(o->paid_fen, 11000);
    assert_int_equal(o->created_at, T("2015-03-10T10:10:10+08:00"));
    unload(&L);
}

static void taobao_orders__reports_every_bad_row_kind(void **state)
{
    (void)state;
    struct loaded L;
    load(&L, "ExportOrderList-bad.csv", HK_FMT_AUTO);
    assert_int_equal(L.n, 2);
    assert_string_equal(L.o[0]->order_no, "245600000000019001");
    assert_string_equal(L.o[0]->buyer_note, "好评返现，\r\n记得\"五星\"");
    assert_string_equal(L.o[1]->order_no, "245600000000019006");
    assert_int_equal(L.o[1]->status, HK_ORDER_PAID);
    assert_int_equal(L.o[1]->first_line, 10);

    assert_int_equal(L.ne, 6);
    assert_error(&L, 0, 2, 4, "订单编号", "'2.456E+17' was turned into scientific notation");
    assert_error(&L, 1, 3, 5, "订单编号", "the order number is empty");
    assert_error(&L, 2, 4, 6, "买家实际支付金额", "'12,5x' is not an amount");
    assert_error(&L, 3, 5, 7, "订单创建时间", "February 2026 has 28 days");
    assert_error(&L, 4, 6, 8, "订单状态",
                 "unknown status '已发货啦'; accepted: 等待买家付款, 付款确认中, "
                 "买家已付款，等待卖家发货, 卖家部分发货, 卖家已发货，等待买家确认, 交易成功, "
                 "交易关闭, 退款成功");
    assert_error(&L, 5, 7, 9, "买家留言", "not GBK/GB18030");
    unload(&L);
}

/* 买家已付款,等待卖家发货 written without quotes: the row has one cell more than the header;
   a trailing comma (an empty last cell) is not counted. */
static void taobao_orders__rejects_a_row_with_more_cells_than_the_header(void **state)
{
    (void)state;
    struct loaded L;
    load(&L, "ExportOrderList-comma.csv", HK_FMT_AUTO);
    assert_int_equal(hk_reader_format(L.r), HK_FMT_TAOBAO_ORDERS);
    assert_int_equal(L.n, 2);
    assert_string_equal(L.o[0]->order_no, "245600000000010001");
    assert_string_equal(L.o[1]->order_no, "245600000000010003");
    assert_int_equal(L.o[1]->paid_fen, 3000);
    assert_int_equal(L.ne, 1);
    assert_error(&L, 0, 2, 3, "", "record 2 (line 3) has 9 cells but the header has 8");
    unload(&L);
}

static void taobao_details__withholds_the_whole_order_of_a_bad_line(void **state)
{
    (void)state;
    struct loaded L;
    load(&L, "ExportOrderDetailList-bad.csv", HK_FMT_AUTO);
    assert_int_equal(hk_reader_format(L.r), HK_FMT_TAOBAO_DETAILS);
    assert_int_equal(L.n, 1);
    assert_string_equal(L.o[0]->order_no, "245600000000029003");
    assert_item(&L.o[0]->items[0], "", "E1", "好物E", "", 3, 1500, 0, 0);
    assert_int_equal(L.ne, 4);
    assert_error(&L, 0, 1, 2, "", "rejected with order 245600000000029001: record 2 is bad");
    assert_error(&L, 1, 2, 3, "价格", "more than 2 decimals");
    assert_error(&L, 2, 3, 4, "购买数量", "'0' is not a quantity");
    assert_error(&L, 3, 4, 5, "订单编号", "scientific notation");
    unload(&L);
}

/* ---- Douyin ---- */

static void douyin__parses_multi_line_orders_with_masked_recipients(void **state)
{
    (void)state;
    struct loaded L;
    load(&L, "douyin-orders.csv", HK_FMT_AUTO);
    assert_int_equal(hk_reader_format(L.r), HK_FMT_DOUYIN);
    assert_int_equal(L.ne, 0);
    assert_int_equal(L.n, 6);

    const struct hk_order_rec *o = find(&L, "6930000000000000001"); /* tab before the id */
    assert_string_equal(o->channel, "douyin");
    assert_int_equal(o->status, HK_ORDER_COMPLETED);
    assert_int_equal(o->nitems, 2);
    /* no paid amount per line: the order's 127.00 shared by price x quantity */
    assert_item(&o->items[0], "3600000000000001", "DY-DRESS-M", "春季碎花连衣裙", "米白色;M", 1,
                6900, 6900, 0);
    assert_item(&o->items[1], "3600000000000002", "DY-SOCK", "纯棉短袜", "白色;均码", 2, 2900, 5800,
                0);
    assert_int_equal(o->paid_fen, 12700);
    assert_true(o->has_paid_fen);
    assert_int_equal(o->total_fen, 12700);
    assert_string_equal(o->name, "##E1A2B3C4D5F6##"); /* kept verbatim, flagged */
    assert_true(o->name_masked);
    assert_string_equal(o->phone, "$$AbCdEf0123456789$$");
    assert_true(o->phone_masked);
    assert_string_equal(o->address, "##9F8E7D6C5B4A##");
    assert_true(o->address_masked);
    assert_string_equal(o->province, "浙江省");
    assert_string_equal(o->city, "杭州市");
    assert_string_equal(o->buyer_id, "");
    assert_int_equal(o->created_at, T("2026-03-10T10:00:00+08:00"));
    assert_int_equal(o->paid_at, T("2026-03-10T10:00:30+08:00"));
    assert_int_equal(o->shipped_at, T("2026-03-11T09:00:00+08:00"));
    assert_int_equal(o->received_at, T("2026-03-15T12:00:00+08:00"));

    o = find(&L, "6930000000000000002");
    assert_int_equal(o->status, HK_ORDER_SHIPPED);
    assert_string_equal(o->name, "王**");
    assert_true(o->name_masked);
    assert_string_equal(o->phone, "138****0003");
    assert_true(o->phone_masked);
    assert_true(o->address_masked);
    assert_int_equal(o->received_at, 0); /* "-" */

    o = find(&L, "6930000000000000003"); /* 已关闭 after payment, 售后 退款成功 */
    assert_int_equal(o->status, HK_ORDER_REFUNDED);
    assert_int_equal(o->items[0].refund_fen, 5900);
    assert_int_equal(o->refund_fen, 5900);

    o = find(&L, "6930000000000000004"); /* 已关闭, never paid */
    assert_int_equal(o->status, HK_ORDER_CANCELLED);
    assert_int_equal(o->paid_at, 0);
    assert_int_equal(o->refund_fen, 0);

    o = find(&L, "6930000000000000005"); /* one of two lines refunded after sale */
    assert_int_equal(o->status, HK_ORDER_COMPLETED);
    assert_int_equal(o->nitems, 2);
    assert_int_equal(o->items[0].refund_fen, 8800);
    assert_int_equal(o->items[1].refund_fen, 0);
    assert_int_equal(o->refund_fen, 8800);
    assert_int_equal(o->paid_fen, 11700);

    o = find(&L, "6930000000000000006");
    assert_int_equal(o->status, HK_ORDER_PAID);
    assert_string_equal(o->buyer_note, "麻烦尽快发货, 谢谢");
    assert_int_equal(o->first_line, 9);
    unload(&L);
}

static void douyin__reports_every_bad_row_kind(void **state)
{
    (void)state;
    struct loaded L;
    load(&L, "douyin-bad.csv", HK_FMT_AUTO);
    assert_int_equal(L.n, 2);
    assert_string_equal(L.o[0]->order_no, "6930000000000000101");
    assert_string_equal(L.o[1]->order_no, "6930000000000000108");
    assert_int_equal(L.ne, 7);
    assert_error(&L, 0, 2, 3, "主订单编号", "'6.93E+18' was turned into scientific notation");
    assert_error(&L, 1, 3, 4, "主订单编号", "the order number is empty");
    assert_error(&L, 2, 4, 5, "商品金额", "more than 2 decimals");
    assert_error(&L, 3, 5, 6, "订单提交时间", "there is no month 13");
    assert_error(&L, 4, 6, 7, "订单状态",
                 "unknown status '已发走'; accepted: 待支付, 待付款, 待发货, 备货中, 已支付, "
                 "部分发货, 已发货, 待收货, 已完成, 已签收, 已关闭, 已取消");
    assert_error(&L, 5, 7, 8, "", "rejected with order 6930000000000000107: record 8 is bad");
    assert_error(&L, 6, 8, 9, "选购商品", "not UTF-8");
    unload(&L);
}

/* ---- PDD ---- */

static void pdd__parses_orders_with_masked_fields_and_after_sales(void **state)
{
    (void)state;
    struct loaded L;
    load(&L, "pdd-orders.csv", HK_FMT_AUTO);
    assert_int_equal(hk_reader_format(L.r), HK_FMT_PDD);
    assert_int_equal(L.ne, 0);
    assert_int_equal(L.n, 6);

    const struct hk_order_rec *o = find(&L, "260517-607198974342268");
    assert_string_equal(o->channel, "pdd");
    assert_int_equal(o->status, HK_ORDER_COMPLETED);
    assert_int_equal(o->nitems, 1);
    assert_item(&o->items[0], "512345678901", "PDD-SOCK-W", "【2双装】纯棉短袜 男女同款",
                "白色;均码", 2, 2990, 5180, 0);
    assert_int_equal(o->total_fen, 5980);
    assert_int_equal(o->discount_fen, 800);
    assert_int_equal(o->postage_fen, 0);
    assert_int_equal(o->paid_fen, 5180);
    assert_true(o->has_paid_fen);
    assert_string_equal(o->name, "张**");
    assert_true(o->name_masked);
    assert_string_equal(o->phone, "****");
    assert_true(o->phone_masked);
    assert_string_equal(o->address, "****");
    assert_true(o->address_masked);
    assert_int_equal(o->created_at, T("2026-05-17T10:11:12+08:00"));
    assert_int_equal(o->paid_at, o->created_at); /* 成交 = paid */
    assert_int_equal(o->shipped_at, T("2026-05-17T16:00:00+08:00"));
    assert_int_equal(o->received_at, T("2026-05-20T09:00:00+08:00"));

    o = find(&L, "260517-607198974342269");
    assert_int_equal(o->status, HK_ORDER_SHIPPED);
    assert_string_equal(o->items[0].sku, "PDD-BAG"); /* goods-level code when no SKU code */
    assert_int_equal(o->paid_fen, 3790);

    o = find(&L, "260518-607198974342270"); /* 未发货，退款成功 */
    assert_int_equal(o->status, HK_ORDER_REFUNDED);
    assert_int_equal(o->refund_fen, 11900);

    o = find(&L, "260518-607198974342271"); /* 已签收, 售后 退款成功 */
    assert_int_equal(o->status, HK_ORDER_REFUNDED);
    assert_int_equal(o->refund_fen, 9400);
    assert_int_equal(o->postage_fen, 600);
    assert_string_equal(o->phone, "138****0031");
    assert_true(o->phone_masked);

    o = find(&L, "260519-607198974342272");
    assert_int_equal(o->status, HK_ORDER_CANCELLED);
    assert_int_equal(o->paid_at, 0);

    o = find(&L, "260519-607198974342273"); /* 售后处理中 does not change the status */
    assert_int_equal(o->status, HK_ORDER_PAID);
    assert_int_equal(o->refund_fen, 0);
    assert_string_equal(o->seller_note, "加急，周末前发");
    unload(&L);
}

static void pdd__reports_every_bad_row_kind(void **state)
{
    (void)state;
    struct loaded L;
    load(&L, "pdd-bad.csv", HK_FMT_PDD);
    assert_int_equal(L.n, 2);
    assert_string_equal(L.o[0]->order_no, "260520-600000000000001");
    assert_string_equal(L.o[1]->order_no, "260520-600000000000007");
    assert_int_equal(L.ne, 5);
    assert_error(&L, 0, 2, 3, "订单号", "scientific notation");
    assert_error(&L, 1, 3, 4, "订单号", "the order number is empty");
    assert_error(&L, 2, 4, 5, "用户实付金额(元)", "'abc' is not an amount");
    assert_error(&L, 3, 5, 6, "订单成交时间", "February 2026 has 28 days");
    assert_error(&L, 4, 6, 7, "订单状态", "unknown status '拼团中'");
    unload(&L);
}

/* ---- JD ---- */

static void jd__parses_the_gbk_export(void **state)
{
    (void)state;
    struct loaded L;
    load(&L, "jd-orders.csv", HK_FMT_AUTO);
    assert_int_equal(hk_reader_format(L.r), HK_FMT_JD);
    assert_int_equal(L.ne, 0);
    assert_int_equal(L.n, 5);

    const struct hk_order_rec *o = find(&L, "281234567890");
    assert_string_equal(o->channel, "jd");
    assert_int_equal(o->status, HK_ORDER_COMPLETED);
    assert_string_equal(o->buyer_id, "jd_user_01");
    assert_string_equal(o->buyer_nick, "jd_user_01");
    assert_string_equal(o->name, "赵六");
    assert_string_equal(o->address, "北京市朝阳区建国路88号测试大厦");
    /* province and city from the address written without spaces */
    assert_string_equal(o->province, "北京市");
    assert_string_equal(o->city, "北京市");
    assert_string_equal(o->phone, "13800138021");
    assert_int_equal(o->nitems, 2);
    /* 应付金额 129.00 shared 99.00 : 2 x 20.00 (rounded down, the remainder on the larger) */
    assert_item(&o->items[0], "100012345601", "", "京东自营测试 碎花连衣裙", "", 1, 9900, 9188, 0);
    assert_item(&o->items[1], "100012345602", "", "纯棉短袜 3双装", "", 2, 2000, 3712, 0);
    assert_int_equal(o->total_fen, 13900);
    assert_int_equal(o->paid_fen, 12900);
    assert_int_equal(o->created_at, T("2026-04-01T09:00:00+08:00"));
    assert_int_equal(o->paid_at, T("2026-04-01T09:01:00+08:00"));
    assert_int_equal(o->received_at, T("2026-04-03T18:00:00+08:00"));

    o = find(&L, "281234567891");
    assert_int_equal(o->status, HK_ORDER_PAID);
    assert_int_equal(o->postage_fen, 600);
    assert_true(o->phone_masked);
    assert_string_equal(o->buyer_note, "请用纸箱包装");

    assert_string_equal(o->province, "上海市");
    assert_string_equal(o->city, "上海市");

    o = find(&L, "281234567892");
    assert_int_equal(o->status, HK_ORDER_SHIPPED);
    assert_string_equal(o->province, "广东省");
    assert_string_equal(o->city, "广州市");
    o = find(&L, "281234567893"); /* (删除)锁定 after payment */
    assert_string_equal(o->province, "四川省");
    assert_string_equal(o->city, "成都市");
    assert_int_equal(o->status, HK_ORDER_REFUNDED);
    assert_int_equal(o->refund_fen, 8800);
    o = find(&L, "281234567894"); /* 已取消, never paid */
    assert_int_equal(o->status, HK_ORDER_CANCELLED);
    unload(&L);
}

static void jd__reports_every_bad_row_kind(void **state)
{
    (void)state;
    struct loaded L;
    load(&L, "jd-bad.csv", HK_FMT_JD);
    assert_int_equal(L.n, 2);
    assert_string_equal(L.o[0]->order_no, "281234567990");
    assert_string_equal(L.o[1]->order_no, "281234567997");
    assert_int_equal(L.ne, 7);
    assert_error(&L, 0, 2, 3, "订单号", "'2.81235E+11' was turned into scientific notation");
    assert_error(&L, 1, 3, 4, "订单号", "the order number is empty");
    assert_error(&L, 2, 4, 5, "京东价", "'九十九' is not an amount");
    assert_error(&L, 3, 5, 6, "下单时间", "April 2026 has 30 days");
    assert_error(&L, 4, 6, 7, "订单状态", "unknown status '等待审核'");
    assert_error(&L, 5, 7, 8, "", "rejected with order 281234567996: record 8 is bad");
    assert_error(&L, 6, 8, 9, "订购数量", "'0' is not a quantity");
    unload(&L);
}

/* ---- recognition and API ---- */

static void open__recognises_every_format_from_its_header(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        enum hk_import_format fmt;
    } cases[] = {
        {"generic-orders.csv", HK_FMT_GENERIC},
        {"generic-bad.csv", HK_FMT_GENERIC},
        {"ExportOrderList202603.csv", HK_FMT_TAOBAO_ORDERS},
        {"ExportOrderList201503.csv", HK_FMT_TAOBAO_ORDERS},
        {"ExportOrderList-bad.csv", HK_FMT_TAOBAO_ORDERS},
        {"ExportOrderDetailList202603.csv", HK_FMT_TAOBAO_DETAILS},
        {"ExportOrderDetailList-bad.csv", HK_FMT_TAOBAO_DETAILS},
        {"douyin-orders.csv", HK_FMT_DOUYIN},
        {"douyin-bad.csv", HK_FMT_DOUYIN},
        {"pdd-orders.csv", HK_FMT_PDD},
        {"pdd-bad.csv", HK_FMT_PDD},
        {"jd-orders.csv", HK_FMT_JD},
        {"jd-bad.csv", HK_FMT_JD},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[1024];
        fixture_path(path, sizeof(path), cases[i].file);
        struct hk_reader *r;
        struct hk_err err;
        if (hk_reader_open(path, NULL, HK_FMT_AUTO, g_tz, &r, &err) != 0)
            fail_msg("%s: %s", cases[i].file, err.msg);
        if (hk_reader_format(r) != cases[i].fmt)
            fail_msg("%s: recognised as %d", cases[i].file, (int)hk_reader_format(r));
        assert_true(hk_reader_bytes_total(r) > 0);
        hk_reader_close(r);
    }
}

static void open__with_the_wrong_format_names_the_column_and_the_likely_format(void **state)
{
    (void)state;
    char path[1024];
    fixture_path(path, sizeof(path), "douyin-orders.csv");
    struct hk_reader *r = NULL;
    struct hk_err err;
    hk_err_clear(&err);
    assert_int_equal(hk_reader_open(path, "dy.csv", HK_FMT_PDD, g_tz, &r, &err), HK_E(INVAL));
    assert_non_null(strstr(err.msg, "dy.csv: missing required column 订单号"));
    assert_non_null(strstr(err.msg, "looks like a douyin export"));
    assert_string_equal(err.field, "订单号");
}

static char *write_temp(const void *data, size_t n, char *path, size_t size)
{
    snprintf(path, size, "/tmp/hk_test_reader_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
    return path;
}

/*
 * Every 订单状态 docs/import.md lists for Taobao, PDD and JD is read as the status the docs give
 * (交易关闭/已取消 with a payment time are refunded), and an unknown status is refused with a
 * message that lists every one of them — also after a long bad value, in full.
 */
struct status_case {
    const char *word;
    enum hk_order_status want;
    bool listed_as_is; /* false: the message lists a pattern instead ("…退款成功…", "(删除)…") */
};

static void check_statuses(enum hk_import_format fmt, const char *header, const char *row_fmt,
                           const struct status_case *cases, size_t ncases,
                           const char *const *patterns)
{
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof text, "%s\n", header);
    for (size_t i = 0; i < ncases; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, row_fmt, 100 + i, cases[i].word);
    /* two unknown statuses: a short one and one longer than the quote */
    n += (size_t)snprintf(text + n, sizeof text - n, row_fmt, (size_t)900, "已发货啦");
    n += (size_t)snprintf(text + n, sizeof text - n, row_fmt, (size_t)901,
                          "买家已付款但是卖家还没有发货也没有联系买家");
    char path[64];
    write_temp(text, n, path, sizeof path);
    struct loaded L;
    load_path(&L, path, "statuses.csv", fmt);
    assert_int_equal(L.n, ncases);
    for (size_t i = 0; i < ncases; i++) {
        if (L.o[i]->status != cases[i].want)
            fail_msg("%s: status %d, want %d", cases[i].word, (int)L.o[i]->status,
                     (int)cases[i].want);
    }
    assert_int_equal(L.ne, 2);
    assert_non_null(strstr(L.e[0].message, "unknown status '已发货啦'; accepted: "));
    assert_non_null(strstr(L.e[1].message, "…'; accepted: "));
    for (size_t e = 0; e < 2; e++) {
        assert_string_equal(L.e[e].column, "订单状态");
        const char *list = strstr(L.e[e].message, "accepted: ");
        for (size_t i = 0; i < ncases; i++)
            if (cases[i].listed_as_is && !strstr(list, cases[i].word))
                fail_msg("'%s' is not in the message: %s", cases[i].word, L.e[e].message);
        for (const char *const *p = patterns; *p; p++)
            if (!strstr(list, *p))
                fail_msg("'%s' is not in the message: %s", *p, L.e[e].message);
    }
    unload(&L);
    unlink(path);
}

static void taobao_pdd_jd__accept_and_list_every_documented_status(void **state)
{
    (void)state;
    static const struct status_case taobao[] = {
        {"等待买家付款", HK_ORDER_CREATED, true},
        {"付款确认中", HK_ORDER_CREATED, true},
        {"买家已付款，等待卖家发货", HK_ORDER_PAID, true},
        {"卖家已发货，等待买家确认", HK_ORDER_SHIPPED, true},
        {"卖家部分发货", HK_ORDER_SHIPPED, true},
        {"交易成功", HK_ORDER_COMPLETED, true},
        {"交易关闭", HK_ORDER_REFUNDED, true}, /* the row has a payment time */
        {"退款成功", HK_ORDER_REFUNDED, true},
    };
    static const char *const no_patterns[] = {NULL};
    check_statuses(HK_FMT_TAOBAO_ORDERS,
                   "订单编号,买家会员名,买家实际支付金额,订单状态,订单创建时间,订单付款时间",
                   "=\"2456%015zu\",买家,10.00,%s,2026-03-01 10:00:00,2026-03-01 10:01:00\n",
                   taobao, sizeof taobao / sizeof taobao[0], no_patterns);

    static const struct status_case pdd[] = {
        {"待支付", HK_ORDER_CREATED, true},
        {"待发货", HK_ORDER_PAID, true},
        {"已发货，待签收", HK_ORDER_SHIPPED, true},
        {"已发货，待收货", HK_ORDER_SHIPPED, true},
        {"已签收", HK_ORDER_COMPLETED, true},
        {"已收货", HK_ORDER_COMPLETED, true},
        {"交易成功", HK_ORDER_COMPLETED, true},
        {"未发货，退款成功", HK_ORDER_REFUNDED, false},
        {"已发货，退款成功", HK_ORDER_REFUNDED, false},
        {"已取消", HK_ORDER_CANCELLED, true},
        {"未支付，交易关闭", HK_ORDER_CANCELLED, false},
    };
    static const char *const pdd_patterns[] = {"…退款成功…", "…交易关闭…", NULL};
    check_statuses(HK_FMT_PDD,
                   "订单号,订单成交时间,商品,订单状态,商品总价(元),用户实付金额(元),商品数量(件)",
                   "260301-%015zu,2026-03-01 10:00:00,袜子,%s,9.00,9.00,1\n", pdd,
                   sizeof pdd / sizeof pdd[0], pdd_patterns);

    static const struct status_case jd[] = {
        {"等待付款", HK_ORDER_CREATED, true},
        {"等待付款确认", HK_ORDER_CREATED, true},
        {"延迟付款确认", HK_ORDER_CREATED, true},
        {"等待出库", HK_ORDER_PAID, true},
        {"等待发货", HK_ORDER_PAID, true},
        {"暂停", HK_ORDER_PAID, true},
        {"锁定", HK_ORDER_PAID, true},
        {"等待确认收货", HK_ORDER_SHIPPED, true},
        {"完成", HK_ORDER_COMPLETED, true},
        {"已完成", HK_ORDER_COMPLETED, true},
        {"已取消", HK_ORDER_REFUNDED, true}, /* the row has 付款确认时间 */
        {"取消", HK_ORDER_REFUNDED, true},
        {"(删除)锁定", HK_ORDER_REFUNDED, false},
    };
    static const char *const jd_patterns[] = {"(删除)…", NULL};
    check_statuses(HK_FMT_JD,
                   "订单号,商品名称,订购数量,下单时间,京东价,应付金额,订单状态,付款确认时间",
                   "%zu,袜子,1,2026-03-01 10:00:00,9.00,9.00,%s,2026-03-01 10:01:00\n", jd,
                   sizeof jd / sizeof jd[0], jd_patterns);

    static const struct status_case douyin[] = {
        {"待支付", HK_ORDER_CREATED, true},   {"待付款", HK_ORDER_CREATED, true},
        {"待发货", HK_ORDER_PAID, true},      {"备货中", HK_ORDER_PAID, true},
        {"已支付", HK_ORDER_PAID, true},      {"部分发货", HK_ORDER_SHIPPED, true},
        {"已发货", HK_ORDER_SHIPPED, true},   {"待收货", HK_ORDER_SHIPPED, true},
        {"已完成", HK_ORDER_COMPLETED, true}, {"已签收", HK_ORDER_COMPLETED, true},
        {"已关闭", HK_ORDER_REFUNDED, true},  {"已取消", HK_ORDER_REFUNDED, true},
    };
    check_statuses(HK_FMT_DOUYIN,
                   "主订单编号,选购商品,商品数量,商品金额,订单应付金额,订单提交时间,订单状态,"
                   "支付完成时间",
                   "6930%015zu,袜子,1,9.00,9.00,2026-03-10 10:00:00,%s,2026-03-10 10:01:00\n",
                   douyin, sizeof douyin / sizeof douyin[0], no_patterns);
}

/*
 * A Taobao order list from 2014 re-saved by Excel (GBK): every field quoted, header names with
 * trailing spaces and empty trailing header cells, a blank line, a row of commas, a 合计 total
 * row at the end, 联系手机 twice (the first one empty on one row), amounts like ￥1,299.00 and
 * times like 2014/11/11 0:05. Every order is read, nothing is reported: the total row is no
 * order, and the second 联系手机 gives the phone the first one lacks.
 */
static void taobao_orders__reads_an_excel_resaved_gbk_file_with_a_total_row(void **state)
{
    (void)state;
    struct loaded L;
    load(&L, "ExportOrderList-excel.csv", HK_FMT_AUTO);
    for (size_t i = 0; i < L.ne; i++)
        fprintf(stderr, "unexpected: line %lld %s: %s\n", (long long)L.e[i].line, L.e[i].column,
                L.e[i].message);
    assert_int_equal(L.ne, 0);
    assert_int_equal(L.records, 3);
    assert_int_equal(L.n, 3);
    const struct hk_order_rec *o = find(&L, "514400000000001001");
    assert_string_equal(o->phone, "13900139001");
    assert_string_equal(o->province, "广东省");
    assert_int_equal(o->paid_fen, 13800);
    assert_int_equal(o->created_at, T("2014-11-11T00:05:00+08:00"));
    o = find(&L, "514400000000001002");
    assert_int_equal(o->paid_fen, 129900);
    assert_int_equal(o->status, HK_ORDER_REFUNDED); /* 交易关闭 after payment */
    assert_string_equal(o->phone, "13800138111");   /* from the second 联系手机 */
    assert_string_equal(o->province, "内蒙古自治区");
    o = find(&L, "514400000000001003");
    assert_string_equal(o->phone, "13800138111");
    assert_string_equal(o->province, "广西壮族自治区");
    assert_int_equal(o->status, HK_ORDER_PAID);
    assert_int_equal(o->first_line, 5); /* after the blank line */
    unload(&L);
}

/* A detail list whose every field is written ="…" (ERP and Excel re-exports): titles, statuses,
   variants and codes are read without the formula wrapping. */
static void taobao_details__reads_every_field_written_as_a_formula(void **state)
{
    (void)state;
    struct loaded L;
    load(&L, "ExportOrderDetailList-formula.csv", HK_FMT_AUTO);
    for (size_t i = 0; i < L.ne; i++)
        fprintf(stderr, "unexpected: line %lld %s: %s\n", (long long)L.e[i].line, L.e[i].column,
                L.e[i].message);
    assert_int_equal(L.ne, 0);
    assert_int_equal(L.n, 3);
    const struct hk_order_rec *o = find(&L, "514400000000001002");
    assert_int_equal(o->nitems, 1);
    assert_string_equal(o->items[0].title, "羊绒大衣");
    assert_string_equal(o->items[0].variant, "尺码:M");
    assert_string_equal(o->items[0].sku, "COAT-M");
    assert_int_equal(o->items[0].unit_price_fen, 129900);
    assert_string_equal(o->status_text, "交易关闭");
    assert_int_equal(find(&L, "514400000000001003")->status, HK_ORDER_PAID);
    unload(&L);
}

/* Two Douyin exports joined into one file: the second header (after a byte-order mark in the
   middle of the file) is skipped, not reported as a bad row; 达人 columns are ignored. */
static void douyin__skips_the_header_of_a_second_export_joined_below_the_first(void **state)
{
    (void)state;
    struct loaded L;
    load(&L, "douyin-joined.csv", HK_FMT_AUTO);
    for (size_t i = 0; i < L.ne; i++)
        fprintf(stderr, "unexpected: line %lld %s: %s\n", (long long)L.e[i].line, L.e[i].column,
                L.e[i].message);
    assert_int_equal(L.ne, 0);
    assert_int_equal(L.records, 2);
    assert_int_equal(L.n, 2);
    const struct hk_order_rec *o = find(&L, "6921000000000000102");
    assert_int_equal(o->first_line, 4);
    assert_int_equal(o->nitems, 1);
    assert_int_equal(o->items[0].quantity, 2);
    assert_true(o->phone_masked);
    assert_string_equal(o->province, "新疆维吾尔自治区");
    unload(&L);
}

/*
 * Values as a Chinese Excel re-saves them: dates 2024年5月3日 8:05 and 2024.05.04, amounts with
 * 元 or zeros past the second decimal, a quantity 2.0, and numbers Excel turned into scientific
 * notation — a phone 1.39001E+10, product ids 3.6E+15 on two different products, buyer accounts
 * 1.38001E+10 of two different buyers: their digits are lost, so they are left out rather than
 * stored wrong (which would make one product or one buyer of two); the orders are good.
 */
static void generic__reads_excel_resaved_dates_amounts_and_quantities(void **state)
{
    (void)state;
    struct loaded L;
    load(&L, "generic-excel.csv", HK_FMT_AUTO);
    for (size_t i = 0; i < L.ne; i++)
        fprintf(stderr, "unexpected: line %lld %s: %s\n", (long long)L.e[i].line, L.e[i].column,
                L.e[i].message);
    assert_int_equal(L.ne, 0);
    assert_int_equal(L.n, 4);
    const struct hk_order_rec *o = find(&L, "X1001");
    assert_string_equal(o->items[0].product_id, "");
    assert_int_equal(o->created_at, T("2024-05-03T08:05:00+08:00"));
    assert_int_equal(o->paid_at, T("2024-05-03T08:06:30+08:00"));
    assert_int_equal(o->items[0].quantity, 2);
    assert_int_equal(o->items[0].unit_price_fen, 5950);
    assert_int_equal(o->items[0].paid_fen, 11900);
    assert_true(o->phone == NULL || o->phone[0] == '\0');
    assert_string_equal(o->province, "广东省");
    o = find(&L, "X1002");
    assert_int_equal(o->created_at, T("2024-05-04T09:00:00+08:00"));
    assert_int_equal(o->paid_at, T("2024-05-04T00:00:00+08:00"));
    assert_int_equal(o->items[0].unit_price_fen, 129900);
    assert_string_equal(o->phone, "13900139002");
    assert_string_equal(o->province, "广西壮族自治区");
    assert_string_equal(o->items[0].product_id, "");
    o = find(&L, "X1003");
    assert_true(o->buyer_id == NULL || o->buyer_id[0] == '\0');
    assert_string_equal(o->buyer_nick, "数字账号甲");
    assert_string_equal(o->items[0].product_id, "3600000000000103");
    unload(&L);
}

/* Every 订单状态 docs/import.md lists for Douyin is read, as the status the docs give. */
static void douyin__accepts_every_documented_status(void **state)
{
    (void)state;
    static const struct {
        const char *word;
        enum hk_order_status want;
    } cases[] = {
        {"待支付", HK_ORDER_CREATED},   {"待付款", HK_ORDER_CREATED},
        {"待发货", HK_ORDER_PAID},      {"备货中", HK_ORDER_PAID},
        {"已支付", HK_ORDER_PAID},      {"部分发货", HK_ORDER_SHIPPED},
        {"已发货", HK_ORDER_SHIPPED},   {"待收货", HK_ORDER_SHIPPED},
        {"已完成", HK_ORDER_COMPLETED}, {"已签收", HK_ORDER_COMPLETED},
        {"已关闭", HK_ORDER_CANCELLED}, {"已取消", HK_ORDER_CANCELLED},
    };
    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof text,
                                "主订单编号,子订单编号,选购商品,商品数量,商品金额,订单应付金额,"
                                "订单提交时间,订单状态\n");
    for (size_t i = 0; i < (sizeof cases / sizeof cases[0]); i++)
        n += (size_t)snprintf(text + n, sizeof text - n,
                              "69300000000009%02zu,1,袜子,1,9.00,9.00,2026-03-10 10:00:00,%s\n", i,
                              cases[i].word);
    char path[64];
    write_temp(text, n, path, sizeof path);
    struct loaded L;
    load_path(&L, path, "douyin.csv", HK_FMT_DOUYIN);
    assert_int_equal(L.ne, 0);
    assert_int_equal(L.n, (sizeof cases / sizeof cases[0]));
    for (size_t i = 0; i < (sizeof cases / sizeof cases[0]); i++) {
        assert_string_equal(L.o[i]->status_text, cases[i].word);
        assert_int_equal(L.o[i]->status, cases[i].want);
    }
    unload(&L);
    unlink(path);
}

static void open__refuses_an_unrecognised_header_and_an_empty_file(void **state)
{
    (void)state;
    char path[64];
    struct hk_reader *r = NULL;
    struct hk_err err;
    write_temp("name,age\nx,1\n", 13, path, sizeof(path));
    assert_int_equal(hk_reader_open(path, "x.csv", HK_FMT_AUTO, g_tz, &r, &err), HK_E(INVAL));
    assert_non_null(strstr(err.msg, "cannot tell the format"));
    unlink(path);
    write_temp("\n\n", 2, path, sizeof(path));
    assert_int_equal(hk_reader_open(path, "x.csv", HK_FMT_AUTO, g_tz, &r, &err), HK_E(INVAL));
    assert_non_null(strstr(err.msg, "no header row"));
    unlink(path);
    /* Excel's "Text (Tab delimited)": one header cell holding every name */
    static const char tab[] = "订单编号\t买家会员名\t订单状态\n1\tx\t交易成功\n";
    write_temp(tab, sizeof tab - 1, path, sizeof(path));
    assert_int_equal(hk_reader_open(path, "x.txt", HK_FMT_AUTO, g_tz, &r, &err), HK_E(INVAL));
    assert_non_null(strstr(err.msg, "separated by tabs"));
    assert_non_null(strstr(err.msg, "CSV UTF-8"));
    unlink(path);
    assert_int_equal(hk_reader_open("/nonexistent/x.csv", NULL, HK_FMT_AUTO, g_tz, &r, &err),
                     HK_E(IO));
    assert_null(r);
}

static void next__orders_stay_valid_until_recycle(void **state)
{
    (void)state;
    char path[1024];
    fixture_path(path, sizeof(path), "generic-orders.csv");
    struct hk_reader *r;
    struct hk_err err;
    assert_int_equal(hk_reader_open(path, NULL, HK_FMT_GENERIC, g_tz, &r, &err), 0);
    const struct hk_order_rec *a, *b, *c;
    assert_int_equal(hk_reader_next(r, &a, &err), 1);
    assert_int_equal(hk_reader_next(r, &b, &err), 1);
    assert_string_equal(a->order_no, "G1001"); /* still valid after the next call */
    assert_string_equal(a->items[1].title, "针织开衫");
    assert_string_equal(b->order_no, "G1002");
    hk_reader_recycle(r);
    int n = 0;
    while (hk_reader_next(r, &c, &err) == 1) {
        n++;
        assert_true(c->order_no[0] == 'G');
        hk_reader_recycle(r);
    }
    assert_int_equal(n, 4);
    assert_int_equal(hk_reader_records(r), 9);
    assert_int_equal(hk_reader_bytes_done(r), hk_reader_bytes_total(r));
    hk_reader_close(r);
}

static void format_and_status_names__round_trip(void **state)
{
    (void)state;
    enum hk_import_format f;
    struct hk_err err;
    assert_int_equal(hk_import_format_parse("taobao", &f, &err), 0);
    assert_int_equal(f, HK_FMT_TAOBAO_ORDERS);
    assert_string_equal(hk_import_format_name(HK_FMT_TAOBAO_DETAILS), "taobao");
    assert_int_equal(hk_import_format_parse("douyin", &f, &err), 0);
    assert_int_equal(f, HK_FMT_DOUYIN);
    assert_int_equal(hk_import_format_parse("auto", &f, &err), 0);
    assert_int_equal(f, HK_FMT_AUTO);
    assert_int_equal(hk_import_format_parse("excel", &f, &err), HK_E(INVAL));
    assert_non_null(strstr(err.msg, "accepted: auto, generic, taobao, douyin, pdd, jd"));
    for (int s = HK_ORDER_CREATED; s <= HK_ORDER_CANCELLED; s++)
        assert_int_equal(hk_order_status_parse(hk_order_status_name(s)), s);
    assert_int_equal(hk_order_status_parse("shipping"), HK_ORDER_UNKNOWN);
    assert_true(hk_order_status_counted(HK_ORDER_PAID));
    assert_true(hk_order_status_counted(HK_ORDER_SHIPPED));
    assert_true(hk_order_status_counted(HK_ORDER_COMPLETED));
    assert_false(hk_order_status_counted(HK_ORDER_CREATED));
    assert_false(hk_order_status_counted(HK_ORDER_REFUNDED));
    assert_false(hk_order_status_counted(HK_ORDER_CANCELLED));
}

/* ---- generated files ---- */

static void taobao_details__reads_a_gbk_file_larger_than_every_buffer(void **state)
{
    (void)state;
    static const char *const words[] = {"碎花",     "连衣裙", "针织开衫", "真丝围巾", "帆布包",
                                        "「限量」", "纯棉",   "樱花礼盒", "短袜",     "开衫"};
    enum { N = 40000, BAD = 23456 };
    struct hk_strbuf text;
    hk_strbuf_init(&text, 0);
    hk_strbuf_adds(&text, "订单编号,标题,价格,购买数量,订单状态,备注\r\n");
    for (int i = 0; i < N; i++) {
        hk_strbuf_addf(&text, "=\"%018d\",", 245600000 + i);
        for (int k = 0; k <= i % 11; k++)
            hk_strbuf_adds(&text, words[(i + k * 3) % 10]);
        hk_strbuf_addf(&text, ",%d.%02d,%d,%s,%s\r\n", i % 500, i % 100, i % 5 + 1,
                       i % 2 ? "交易成功" : "\"买家已付款，等待卖家发货\"",
                       i % 101 == 0 ? "\"两行\r\n备注\"" : (i == BAD ? "坏X" : "普通备注"));
    }
    iconv_t cd = iconv_open("GBK", "UTF-8");
    assert_true(cd != (iconv_t)-1);
    size_t inleft = text.len, cap = text.len, outleft = cap;
    char *gbk = malloc(cap), *o = gbk, *in = text.buf;
    assert_true(iconv(cd, &in, &inleft, &o, &outleft) != (size_t)-1);
    iconv_close(cd);
    size_t n = cap - outleft;
    assert_true(n > (size_t)3 << 20);
    char *x = memchr(gbk, 'X', n); /* the only ASCII 'X' in the file */
    assert_non_null(x);
    *x = (char)0x80;
    char path[64];
    write_temp(gbk, n, path, sizeof(path));

    struct hk_reader *r;
    struct hk_err err;
    assert_int_equal(hk_reader_open(path, "big.csv", HK_FMT_AUTO, g_tz, &r, &err), 0);
    assert_int_equal(hk_reader_format(r), HK_FMT_TAOBAO_DETAILS);
    const struct hk_order_rec *rec;
    int i = 0, rc;
    int64_t line = 2;
    while ((rc = hk_reader_next(r, &rec, &err)) == 1) {
        if (i == BAD) {
            line++;
            i++;
        }
        char no[32];
        snprintf(no, sizeof(no), "%018d", 245600000 + i);
        assert_string_equal(rec->order_no, no);
        struct hk_strbuf title;
        hk_strbuf_init(&title, 0);
        for (int k = 0; k <= i % 11; k++)
            hk_strbuf_adds(&title, words[(i + k * 3) % 10]);
        assert_string_equal(rec->items[0].title, title.buf);
        hk_strbuf_release(&title);
        assert_int_equal(rec->items[0].unit_price_fen, (i % 500) * 100 + i % 100);
        assert_int_equal(rec->items[0].quantity, i % 5 + 1);
        assert_int_equal(rec->status, i % 2 ? HK_ORDER_COMPLETED : HK_ORDER_PAID);
        assert_int_equal(rec->first_line, line);
        line += i % 101 == 0 ? 2 : 1;
        i++;
        hk_reader_recycle(r);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(i, N);
    size_t ne;
    const struct hk_row_error *e = hk_reader_errors(r, &ne);
    assert_int_equal(ne, 1);
    assert_int_equal(e[0].record, BAD + 1);
    assert_string_equal(e[0].column, "备注");
    assert_int_equal(hk_reader_records(r), N);
    hk_reader_close(r);
    unlink(path);
    free(gbk);
    hk_strbuf_release(&text);
}

static void next__keeps_memory_flat_for_many_bad_rows_and_a_huge_order(void **state)
{
    (void)state;
    static const char hdr[] = "order_no,buyer_id,status,created_at,product_id,quantity,"
                              "unit_price,paid_amount\n";
    struct hk_strbuf text;
    hk_strbuf_init(&text, 0);
    hk_strbuf_adds(&text, hdr);
    hk_strbuf_adds(&text, "A1,u,paid,2026-03-01 10:00:00,P1,1,1.00,1.00\n");
    for (int i = 0; i < 25000; i++) /* every one in scientific notation */
        hk_strbuf_addf(&text, "%d.5E+17,u,paid,2026-03-01 10:00:00,P1,1,1.00,1.00\n", i % 9 + 1);
    for (int i = 0; i < 100005; i++) /* one order of more than 100000 rows */
        hk_strbuf_addf(&text, "BIG,u,paid,2026-03-01 10:00:00,P%d,1,1.00,1.00\n", i);
    hk_strbuf_adds(&text, "Z9,u,paid,2026-03-01 10:00:00,P1,1,1.00,1.00\n");
    char path[64];
    write_temp(text.buf, text.len, path, sizeof(path));
    hk_strbuf_release(&text);

    struct hk_reader *r;
    struct hk_err err;
    assert_int_equal(hk_reader_open(path, NULL, HK_FMT_AUTO, g_tz, &r, &err), 0);
    const struct hk_order_rec *o;
    size_t ne;
    assert_int_equal(hk_reader_next(r, &o, &err), 1);
    assert_string_equal(o->order_no, "A1");
    hk_reader_errors(r, &ne);
    assert_int_equal(ne, 0);
    /* the next good order comes after 25000 bad rows and the withheld huge order */
    assert_int_equal(hk_reader_next(r, &o, &err), 1);
    assert_string_equal(o->order_no, "Z9");
    const struct hk_row_error *e = hk_reader_errors(r, &ne);
    assert_int_equal(ne, 10000); /* kept */
    assert_int_equal(e[0].record, 2);
    assert_int_equal(hk_reader_rejected(r), 25000 + 100005); /* counted */
    hk_reader_take_errors(r);
    assert_int_equal(hk_reader_next(r, &o, &err), 0);
    hk_reader_close(r);
    unlink(path);
}

/* Deterministic pseudo-random numbers for the fuzz-ish test. */
static uint32_t next_rand(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static void reader__survives_mutated_fixtures(void **state)
{
    (void)state;
    static const char *const files[] = {
        "generic-orders.csv",
        "ExportOrderList202603.csv",
        "ExportOrderDetailList202603.csv",
        "ExportOrderList201503.csv",
        "douyin-orders.csv",
        "pdd-orders.csv",
        "jd-orders.csv",
        "ExportOrderList-bad.csv",
    };
    static const char bytes[] = {'"',  ',',  '\n',       '\r',       '\t',       '=',
                                 '\'', '\0', (char)0x80, (char)0xE4, (char)0xB8, (char)0xFF,
                                 '*',  '-',  '9',        'E'};
    uint32_t seed = 12345;
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        char path[1024];
        fixture_path(path, sizeof(path), files[f]);
        FILE *fp = fopen(path, "rb");
        assert_non_null(fp);
        char orig[8192];
        size_t n = fread(orig, 1, sizeof(orig), fp);
        fclose(fp);
        for (int iter = 0; iter < 150; iter++) {
            char buf[8192];
            memcpy(buf, orig, n);
            size_t len = n;
            int edits = 1 + (int)(next_rand(&seed) % 8);
            for (int k = 0; k < edits; k++) {
                size_t at = next_rand(&seed) % len;
                if (next_rand(&seed) % 4 == 0 && len > 1)
                    len = at + 1; /* truncate */
                else
                    buf[at] = bytes[next_rand(&seed) % sizeof(bytes)];
            }
            char tmp[64];
            write_temp(buf, len, tmp, sizeof(tmp));
            struct hk_reader *r;
            struct hk_err err;
            if (hk_reader_open(tmp, NULL, HK_FMT_AUTO, g_tz, &r, &err) == 0) {
                const struct hk_order_rec *o;
                int rc;
                while ((rc = hk_reader_next(r, &o, &err)) == 1) {
                    assert_true(o->order_no[0] != '\0');
                    assert_true(o->first_line >= 2 && o->last_line >= o->first_line);
                    for (size_t i = 0; i < o->nitems; i++)
                        assert_true(o->items[i].quantity >= 1);
                }
                assert_int_equal(rc, 0);
                size_t ne;
                const struct hk_row_error *e = hk_reader_errors(r, &ne);
                for (size_t i = 0; i < ne; i++) {
                    assert_true(e[i].line >= 2 && e[i].record >= 1);
                    assert_true(e[i].message[0] != '\0');
                }
                hk_reader_close(r);
            }
            unlink(tmp);
        }
    }
}

/*
 * An order's lines are told apart by a hash of all their fields (then compared field by field):
 * values that differ only in where one field ends and the next begins are different lines, and
 * identical lines are one line — among the first eight lines and past them (a hash table).
 */
static void generic__line_hash_keeps_field_boundaries_and_drops_repeats(void **state)
{
    (void)state;
    static const char *const lines[][3] = {
        /* product_id, title, category */
        {"P1", "ab", "c"},
        {"P1", "a", "bc"},
        {"P1", "abc", ""},
        {"P1", "", "abc"},
        {"P1ab", "", "c"},
        {"P1", "ab", "c"}, /* repeat */
        {"P2", "一二三四五六七八九十", "长标题"},
        {"P2", "一二三四五六七八九", "十长标题"},
        {"P3", "12345678", "x"},
        {"P3", "1234567", "8x"},
        {"P3", "12345678", "x"}, /* repeat */
        {"P1", "a", "bc"},       /* a repeat past the first eight lines */
    };
    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof text,
                                "order_no,buyer_id,channel,status,created_at,product_id,"
                                "product_title,category,quantity,unit_price,paid_amount\n");
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        n += (size_t)snprintf(text + n, sizeof text - n,
                              "H1,u1,pos,paid,2026-03-01 10:00:00,%s,%s,%s,1,1.00,1.00\n",
                              lines[i][0], lines[i][1], lines[i][2]);
    char path[64];
    write_temp(text, n, path, sizeof path);
    struct loaded L;
    load_path(&L, path, "lines.csv", HK_FMT_GENERIC);
    unlink(path);
    assert_int_equal(L.n, 1);
    const struct hk_order_rec *o = find(&L, "H1");
    assert_int_equal(o->nitems, 9);
    assert_string_equal(o->items[1].title, "a");
    assert_string_equal(o->items[1].category, "bc");
    assert_string_equal(o->items[5].title, "一二三四五六七八九十");
    assert_string_equal(o->items[8].title, "1234567");
    unload(&L);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(generic__parses_orders_items_amounts_and_shop_local_times),
        cmocka_unit_test(generic__reports_every_bad_row_kind_and_keeps_the_good_orders),
        cmocka_unit_test(generic__names_a_missing_required_column),
        cmocka_unit_test(taobao_orders__parses_the_gbk_crlf_export),
        cmocka_unit_test(taobao_details__parses_line_items_and_statuses),
        cmocka_unit_test(taobao_orders__reads_an_older_column_set_in_utf8_with_bom),
        cmocka_unit_test(taobao_orders__reports_every_bad_row_kind),
        cmocka_unit_test(taobao_details__withholds_the_whole_order_of_a_bad_line),
        cmocka_unit_test(douyin__parses_multi_line_orders_with_masked_recipients),
        cmocka_unit_test(douyin__reports_every_bad_row_kind),
        cmocka_unit_test(pdd__parses_orders_with_masked_fields_and_after_sales),
        cmocka_unit_test(pdd__reports_every_bad_row_kind),
        cmocka_unit_test(jd__parses_the_gbk_export),
        cmocka_unit_test(jd__reports_every_bad_row_kind),
        cmocka_unit_test(open__recognises_every_format_from_its_header),
        cmocka_unit_test(open__with_the_wrong_format_names_the_column_and_the_likely_format),
        cmocka_unit_test(open__refuses_an_unrecognised_header_and_an_empty_file),
        cmocka_unit_test(next__orders_stay_valid_until_recycle),
        cmocka_unit_test(format_and_status_names__round_trip),
        cmocka_unit_test(taobao_details__reads_a_gbk_file_larger_than_every_buffer),
        cmocka_unit_test(taobao_orders__rejects_a_row_with_more_cells_than_the_header),
        cmocka_unit_test(douyin__accepts_every_documented_status),
        cmocka_unit_test(taobao_pdd_jd__accept_and_list_every_documented_status),
        cmocka_unit_test(taobao_orders__reads_an_excel_resaved_gbk_file_with_a_total_row),
        cmocka_unit_test(taobao_details__reads_every_field_written_as_a_formula),
        cmocka_unit_test(douyin__skips_the_header_of_a_second_export_joined_below_the_first),
        cmocka_unit_test(generic__reads_excel_resaved_dates_amounts_and_quantities),
        cmocka_unit_test(next__keeps_memory_flat_for_many_bad_rows_and_a_huge_order),
        cmocka_unit_test(reader__survives_mutated_fixtures),
        cmocka_unit_test(generic__line_hash_keeps_field_boundaries_and_drops_repeats),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
