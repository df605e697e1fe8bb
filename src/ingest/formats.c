/*
 * formats.c — import formats as tables, and the code that applies them (see formats.h).
 *
 * Design
 *   A format is a struct hk_fmt_desc: its column table (canonical field, the header names that
 *   carry it as '|'-separated aliases, flags), the marker columns that recognise it, its status
 *   words and a few behaviour flags. Adding a year's renamed column is one alias; adding a
 *   format is one table. Header names are compared folded: trimmed, spaces dropped, full-width
 *   parentheses made half-width, ASCII lower-cased; aliases in the tables are written folded.
 *
 *   A row is converted cell by cell, the order number first (so that even a bad row can be tied
 *   to its order and the whole order withheld), then the other columns in table order; the first
 *   bad cell makes the row bad, with its column and a reason a seller can act on.
 *
 *   Status words: each format maps its own words to hk_order_status. "Closed" words (淘宝
 *   交易关闭, 抖店 已关闭/已取消, 京东 已取消 and (删除)…) mean refunded when the row has a
 *   payment time and cancelled when it has none. An after-sales column that shows a completed
 *   refund refunds that row's line; an order whose every line was refunded is refunded.
 *
 *   Orders are assembled by hk_order_builder: order-level fields from the first row, one line
 *   item per row for formats whose rows are items (identical lines kept once), sums for the
 *   formats whose amounts are per row (generic, PDD).
 *
 * Invariants
 *   Every text view in an hk_fmt_row points into the CSV row; the builder copies what it keeps
 *   into the arena. Amount arithmetic is checked for overflow; a row that would overflow is bad.
 *
 * Threads: tables are const; everything else belongs to the caller.
 */
#include "ingest/formats.h"
#include "core/err.h"
#include "core/money.h"
#include "core/tz.h"
#include "core/util.h"
#include "ingest/arena.h"
#include "ingest/import.h"
#include "ingest/region.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- tables ---- */

enum col_flags {
    REQ = 1 << 0,      /* the column must be in the header */
    VAL = 1 << 1,      /* the cell must not be empty */
    ONE_OF_A = 1 << 2, /* one of the columns of group A must be in the header */
    ONE_OF_B = 1 << 3,
};

struct col_spec {
    enum hk_field field;
    unsigned flags;
    const char *names; /* folded aliases, '|'-separated; the first names the column in messages */
};

enum status_flags {
    ST_CLOSED = 1 << 0,   /* refunded when the row has a payment time, else cancelled */
    ST_PREFIX = 1 << 1,   /* matches any status that starts with the text */
    ST_CONTAINS = 1 << 2, /* matches any status that contains the text */
};

struct status_word {
    const char *text; /* folded */
    enum hk_order_status status;
    unsigned flags;
};

enum desc_flags {
    DF_ROW_IS_ITEM = 1 << 0,     /* each row is one line item */
    DF_MONEY_PER_ROW = 1 << 1,   /* order amounts are per row and summed (PDD) */
    DF_DASH_EMPTY = 1 << 2,      /* "-" and "--" mean empty (marketplace exports) */
    DF_NICK_IS_ID = 1 << 3,      /* the buyer's account name is both id and nick */
    DF_FULL_ADDRESS = 1 << 4,    /* one-string address: province and city from it (region.h) */
    DF_STATUS_ONLY = 1 << 5,     /* records carry order number, items and status only */
    DF_PAID_AT_CREATED = 1 << 6, /* the order time is also the payment time once paid (PDD) */
};

struct hk_fmt_desc {
    enum hk_import_format format;
    unsigned flags;
    const char *name;
    const char *channel;
    const struct col_spec *cols;
    size_t ncols;
    const char *key;            /* folded column that must be present to consider the format */
    const char *const *markers; /* folded columns that suggest the format (NULL-terminated) */
    const struct status_word *statuses; /* also what "unknown status" messages list, in order */
    size_t nstatuses;
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct col_spec GENERIC_COLS[] = {
    {HK_F_ORDER_NO, REQ | VAL, "order_no"},
    {HK_F_BUYER_ID, ONE_OF_A, "buyer_id"},
    {HK_F_BUYER_NICK, ONE_OF_A, "buyer_nick"},
    {HK_F_PHONE, ONE_OF_A, "phone"},
    {HK_F_PROVINCE, 0, "province"},
    {HK_F_CITY, 0, "city"},
    {HK_F_CHANNEL, 0, "channel"},
    {HK_F_SHOP, 0, "shop"},
    {HK_F_STATUS, REQ | VAL, "status"},
    {HK_F_CREATED_AT, REQ | VAL, "created_at"},
    {HK_F_PAID_AT, 0, "paid_at"},
    {HK_F_SHIPPED_AT, 0, "shipped_at"},
    {HK_F_RECEIVED_AT, 0, "received_at"},
    {HK_F_PRODUCT_ID, ONE_OF_B, "product_id"},
    {HK_F_TITLE, ONE_OF_B, "product_title"},
    {HK_F_SKU, 0, "sku"},
    {HK_F_VARIANT, 0, "variant"},
    {HK_F_CATEGORY, 0, "category"},
    {HK_F_QUANTITY, REQ | VAL, "quantity"},
    {HK_F_UNIT_PRICE, REQ | VAL, "unit_price"},
    {HK_F_LINE_PAID, REQ | VAL, "paid_amount"},
    {HK_F_LINE_REFUND, 0, "refund_amount"},
    {HK_F_COUPON, 0, "coupon_code"},
    {HK_F_NAME, 0, "name"},
    {HK_F_ADDRESS, 0, "address"},
    {HK_F_EMAIL, 0, "email"},
    {HK_F_BUYER_NOTE, 0, "buyer_note"},
    {HK_F_SELLER_NOTE, 0, "seller_note"},
};
static const char *const GENERIC_MARKERS[] = {"paid_amount", "unit_price", "buyer_id", "created_at",
                                              NULL};
static const struct status_word GENERIC_STATUS[] = {
    {"created", HK_ORDER_CREATED, 0},   {"paid", HK_ORDER_PAID, 0},
    {"shipped", HK_ORDER_SHIPPED, 0},   {"completed", HK_ORDER_COMPLETED, 0},
    {"refunded", HK_ORDER_REFUNDED, 0}, {"cancelled", HK_ORDER_CANCELLED, 0},
};

/* 淘宝 ExportOrderList: one row per order. Column names vary by year; older files end some
   names with a space ("收货地址 "), which folding removes. */
static const struct col_spec TAOBAO_ORDER_COLS[] = {
    {HK_F_ORDER_NO, REQ | VAL, "订单编号"},
    {HK_F_BUYER_ID, REQ, "买家会员名|买家昵称|买家会员名称"},
    {HK_F_ALIPAY, 0, "买家支付宝账号"},
    {HK_F_ORDER_TOTAL, 0, "买家应付货款"},
    {HK_F_ORDER_TOTAL_ALT, 0, "总金额"},
    {HK_F_POSTAGE, 0, "买家应付邮费"},
    {HK_F_ORDER_PAID, REQ | VAL, "买家实际支付金额|买家实付金额|实付金额"},
    {HK_F_ORDER_REFUND, 0, "退款金额"},
    {HK_F_STATUS, REQ | VAL, "订单状态"},
    {HK_F_BUYER_NOTE, 0, "买家留言"},
    {HK_F_NAME, 0, "收货人姓名"},
    {HK_F_ADDRESS, 0, "收货地址"},
    {HK_F_PHONE, 0, "联系手机"},
    {HK_F_PHONE_ALT, 0, "联系电话"},
    {HK_F_CREATED_AT, REQ | VAL, "订单创建时间|创建时间"},
    {HK_F_PAID_AT, 0, "订单付款时间|付款时间"},
    {HK_F_SHIPPED_AT, 0, "发货时间"},
    {HK_F_RECEIVED_AT, 0, "确认收货时间"},
    {HK_F_SELLER_NOTE, 0, "订单备注"},
    {HK_F_SHOP, 0, "店铺名称"},
};
static const char *const TAOBAO_ORDER_MARKERS[] = {
    "买家会员名", "买家实际支付金额", "订单付款时间", "宝贝标题",
    "收货人姓名", "买家应付邮费",     "宝贝总数量",   NULL};

/* 淘宝 ExportOrderDetailList: one row per line item. */
static const struct col_spec TAOBAO_DETAIL_COLS[] = {
    {HK_F_ORDER_NO, REQ | VAL, "订单编号"},
    {HK_F_TITLE, REQ, "标题|宝贝标题|商品标题"},
    {HK_F_UNIT_PRICE, REQ | VAL, "价格|商品价格"},
    {HK_F_QUANTITY, REQ | VAL, "购买数量"},
    {HK_F_SKU, 0, "商家编码"},
    {HK_F_SKU_ALT, 0, "外部系统编号"},
    {HK_F_VARIANT, 0, "商品属性"},
    {HK_F_VARIANT_ALT, 0, "套餐信息"},
    {HK_F_PRODUCT_ID, 0, "商品id|宝贝id"},
    {HK_F_STATUS, REQ | VAL, "订单状态"},
};
static const char *const TAOBAO_DETAIL_MARKERS[] = {
    "标题", "价格", "购买数量", "外部系统编号", "商品属性", "套餐信息", NULL};

static const struct status_word TAOBAO_STATUS[] = {
    {"等待买家付款", HK_ORDER_CREATED, 0},
    {"付款确认中", HK_ORDER_CREATED, 0},
    {"买家已付款,等待卖家发货", HK_ORDER_PAID, 0},
    {"卖家部分发货", HK_ORDER_SHIPPED, 0},
    {"卖家已发货,等待买家确认", HK_ORDER_SHIPPED, 0},
    {"交易成功", HK_ORDER_COMPLETED, 0},
    {"交易关闭", HK_ORDER_UNKNOWN, ST_CLOSED},
    {"退款成功", HK_ORDER_REFUNDED, 0},
};

/* 抖店: one row per 子订单 (line), grouped by 主订单编号. */
static const struct col_spec DOUYIN_COLS[] = {
    {HK_F_ORDER_NO, REQ | VAL, "主订单编号"},
    {HK_F_SUBORDER_NO, 0, "子订单编号"},
    {HK_F_TITLE, REQ, "选购商品|商品名称"},
    {HK_F_VARIANT, 0, "商品规格"},
    {HK_F_QUANTITY, REQ | VAL, "商品数量"},
    {HK_F_PRODUCT_ID, 0, "商品id"},
    {HK_F_SKU, 0, "商家编码"},
    {HK_F_UNIT_PRICE, REQ | VAL, "商品金额"},
    {HK_F_ORDER_PAID, REQ | VAL, "订单应付金额"},
    {HK_F_POSTAGE, 0, "运费"},
    {HK_F_NAME, 0, "收件人"},
    {HK_F_PHONE, 0, "收件人手机号|收件人电话"},
    {HK_F_ADDRESS, 0, "详细地址"},
    {HK_F_PROVINCE, 0, "省"},
    {HK_F_CITY, 0, "市"},
    {HK_F_CREATED_AT, REQ | VAL, "订单提交时间"},
    {HK_F_PAID_AT, 0, "支付完成时间"},
    {HK_F_SHIPPED_AT, 0, "发货时间"},
    {HK_F_RECEIVED_AT, 0, "订单完成时间"},
    {HK_F_STATUS, REQ | VAL, "订单状态"},
    {HK_F_AFTERSALE, 0, "售后状态"},
    {HK_F_SELLER_NOTE, 0, "商家备注"},
    {HK_F_BUYER_NOTE, 0, "买家留言"},
    {HK_F_SHOP, 0, "店铺名称"},
};
static const char *const DOUYIN_MARKERS[] = {"子订单编号",   "选购商品", "商品规格", "订单提交时间",
                                             "支付完成时间", "收件人",   "达人id",   NULL};
static const struct status_word DOUYIN_STATUS[] = {
    {"待支付", HK_ORDER_CREATED, 0},
    {"待付款", HK_ORDER_CREATED, 0},
    {"待发货", HK_ORDER_PAID, 0},
    {"备货中", HK_ORDER_PAID, 0},
    {"已支付", HK_ORDER_PAID, 0},
    {"部分发货", HK_ORDER_SHIPPED, 0},
    {"已发货", HK_ORDER_SHIPPED, 0},
    {"待收货", HK_ORDER_SHIPPED, 0},
    {"已完成", HK_ORDER_COMPLETED, 0},
    {"已签收", HK_ORDER_COMPLETED, 0},
    {"已关闭", HK_ORDER_UNKNOWN, ST_CLOSED},
    {"已取消", HK_ORDER_UNKNOWN, ST_CLOSED},
};

/* 拼多多: one row per order (a single goods line). */
static const struct col_spec PDD_COLS[] = {
    {HK_F_ORDER_NO, REQ | VAL, "订单号"},
    {HK_F_CREATED_AT, REQ | VAL, "订单成交时间"},
    {HK_F_PAID_AT, 0, "支付时间"},
    {HK_F_TITLE, REQ, "商品|商品名称"},
    {HK_F_STATUS, REQ | VAL, "订单状态"},
    {HK_F_LINE_TOTAL, REQ | VAL, "商品总价(元)"},
    {HK_F_POSTAGE, 0, "邮费(元)"},
    {HK_F_DISCOUNT_SHOP, 0, "店铺优惠折扣(元)"},
    {HK_F_DISCOUNT_PLATFORM, 0, "平台优惠折扣(元)"},
    {HK_F_ORDER_PAID, REQ | VAL, "用户实付金额(元)"},
    {HK_F_QUANTITY, REQ | VAL, "商品数量(件)"},
    {HK_F_SHIPPED_AT, 0, "发货时间"},
    {HK_F_RECEIVED_AT, 0, "确认收货时间"},
    {HK_F_PRODUCT_ID, 0, "商品id"},
    {HK_F_VARIANT, 0, "商品规格"},
    {HK_F_SKU, 0, "商家编码-sku维度"},
    {HK_F_SKU_ALT, 0, "商家编码-商品维度"},
    {HK_F_AFTERSALE, 0, "售后状态"},
    {HK_F_NAME, 0, "收货人"},
    {HK_F_PHONE, 0, "手机|收货人手机号|手机号"},
    {HK_F_ADDRESS, 0, "详细地址|收货地址"},
    {HK_F_PROVINCE, 0, "省"},
    {HK_F_CITY, 0, "市"},
    {HK_F_BUYER_NOTE, 0, "买家留言"},
    {HK_F_SELLER_NOTE, 0, "商家备注"},
    {HK_F_SHOP, 0, "店铺名称"},
};
static const char *const PDD_MARKERS[] = {
    "订单成交时间", "商品总价(元)",     "用户实付金额(元)",  "商家实收金额(元)",
    "商品数量(件)", "店铺优惠折扣(元)", "商家编码-商品维度", NULL};
static const struct status_word PDD_STATUS[] = {
    {"待支付", HK_ORDER_CREATED, 0},
    {"待发货", HK_ORDER_PAID, 0},
    {"已发货,待签收", HK_ORDER_SHIPPED, 0},
    {"已发货,待收货", HK_ORDER_SHIPPED, 0},
    {"已签收", HK_ORDER_COMPLETED, 0},
    {"已收货", HK_ORDER_COMPLETED, 0},
    {"交易成功", HK_ORDER_COMPLETED, 0},
    {"退款成功", HK_ORDER_REFUNDED, ST_CONTAINS}, /* 未发货，退款成功 / 已发货，退款成功 */
    {"已取消", HK_ORDER_CANCELLED, 0},
    {"交易关闭", HK_ORDER_CANCELLED, ST_CONTAINS}, /* 未支付，交易关闭 */
};

/* 京东 POP order export: one row per line item. */
static const struct col_spec JD_COLS[] = {
    {HK_F_ORDER_NO, REQ | VAL, "订单号"},
    {HK_F_PRODUCT_ID, 0, "商品id"},
    {HK_F_TITLE, REQ, "商品名称"},
    {HK_F_QUANTITY, REQ | VAL, "订购数量"},
    {HK_F_CREATED_AT, REQ | VAL, "下单时间"},
    {HK_F_UNIT_PRICE, REQ | VAL, "京东价"},
    {HK_F_ORDER_TOTAL, 0, "订单金额"},
    {HK_F_ORDER_PAID, REQ | VAL, "应付金额"},
    {HK_F_POSTAGE, 0, "运费金额"},
    {HK_F_STATUS, REQ | VAL, "订单状态"},
    {HK_F_BUYER_ID, 0, "下单帐号|下单账号"},
    {HK_F_NAME, 0, "客户姓名"},
    {HK_F_ADDRESS, 0, "客户地址"},
    {HK_F_PHONE, 0, "联系电话"},
    {HK_F_PAID_AT, 0, "付款确认时间"},
    {HK_F_RECEIVED_AT, 0, "订单完成时间"},
    {HK_F_SKU, 0, "商家skuid|商家编码"},
    {HK_F_SELLER_NOTE, 0, "商家备注"},
    {HK_F_BUYER_NOTE, 0, "订单备注"},
};
static const char *const JD_MARKERS[] = {"京东价",   "订购数量",     "下单帐号", "下单账号",
                                         "结算金额", "付款确认时间", "客户姓名", NULL};
static const struct status_word JD_STATUS[] = {
    {"等待付款", HK_ORDER_CREATED, 0},
    {"等待付款确认", HK_ORDER_CREATED, 0},
    {"延迟付款确认", HK_ORDER_CREATED, 0},
    {"等待出库", HK_ORDER_PAID, 0},
    {"等待发货", HK_ORDER_PAID, 0},
    {"暂停", HK_ORDER_PAID, 0},
    {"锁定", HK_ORDER_PAID, 0},
    {"等待确认收货", HK_ORDER_SHIPPED, 0},
    {"完成", HK_ORDER_COMPLETED, 0},
    {"已完成", HK_ORDER_COMPLETED, 0},
    {"已取消", HK_ORDER_UNKNOWN, ST_CLOSED},
    {"取消", HK_ORDER_UNKNOWN, ST_CLOSED},
    {"(删除)", HK_ORDER_UNKNOWN, ST_CLOSED | ST_PREFIX},
};

static const struct hk_fmt_desc FORMATS[] = {
    {.format = HK_FMT_GENERIC,
     .name = "generic",
     .channel = "",
     .cols = GENERIC_COLS,
     .ncols = N(GENERIC_COLS),
     .key = "order_no",
     .markers = GENERIC_MARKERS,
     .statuses = GENERIC_STATUS,
     .nstatuses = N(GENERIC_STATUS),
     .flags = DF_ROW_IS_ITEM},
    {.format = HK_FMT_TAOBAO_ORDERS,
     .name = "taobao",
     .channel = "taobao",
     .cols = TAOBAO_ORDER_COLS,
     .ncols = N(TAOBAO_ORDER_COLS),
     .key = "订单编号",
     .markers = TAOBAO_ORDER_MARKERS,
     .statuses = TAOBAO_STATUS,
     .nstatuses = N(TAOBAO_STATUS),
     .flags = DF_DASH_EMPTY | DF_NICK_IS_ID | DF_FULL_ADDRESS},
    {.format = HK_FMT_TAOBAO_DETAILS,
     .name = "taobao",
     .channel = "taobao",
     .cols = TAOBAO_DETAIL_COLS,
     .ncols = N(TAOBAO_DETAIL_COLS),
     .key = "订单编号",
     .markers = TAOBAO_DETAIL_MARKERS,
     .statuses = TAOBAO_STATUS,
     .nstatuses = N(TAOBAO_STATUS),
     .flags = DF_ROW_IS_ITEM | DF_DASH_EMPTY | DF_STATUS_ONLY},
    {.format = HK_FMT_DOUYIN,
     .name = "douyin",
     .channel = "douyin",
     .cols = DOUYIN_COLS,
     .ncols = N(DOUYIN_COLS),
     .key = "主订单编号",
     .markers = DOUYIN_MARKERS,
     .statuses = DOUYIN_STATUS,
     .nstatuses = N(DOUYIN_STATUS),
     .flags = DF_ROW_IS_ITEM | DF_DASH_EMPTY},
    {.format = HK_FMT_PDD,
     .name = "pdd",
     .channel = "pdd",
     .cols = PDD_COLS,
     .ncols = N(PDD_COLS),
     .key = "订单号",
     .markers = PDD_MARKERS,
     .statuses = PDD_STATUS,
     .nstatuses = N(PDD_STATUS),
     .flags = DF_ROW_IS_ITEM | DF_DASH_EMPTY | DF_MONEY_PER_ROW | DF_PAID_AT_CREATED},
    {.format = HK_FMT_JD,
     .name = "jd",
     .channel = "jd",
     .cols = JD_COLS,
     .ncols = N(JD_COLS),
     .key = "订单号",
     .markers = JD_MARKERS,
     .statuses = JD_STATUS,
     .nstatuses = N(JD_STATUS),
     .flags = DF_ROW_IS_ITEM | DF_DASH_EMPTY | DF_NICK_IS_ID | DF_FULL_ADDRESS},
};

static const char *const CHANNELS[] = {"taobao", "tmall",  "jd",  "pdd",
                                       "douyin", "wechat", "pos", "other"};

enum field_kind {
    K_TEXT = 0,
    K_ID,
    K_ORDER_NO,
    K_PHONE,
    K_MASKABLE,
    K_CHANNEL,
    K_STATUS,
    K_AFTERSALE,
    K_TIME,
    K_MONEY,
    K_QTY,
};

static const unsigned char KIND[HK_F_COUNT] = {
    [HK_F_ORDER_NO] = K_ORDER_NO,
    [HK_F_SUBORDER_NO] = K_ID,
    [HK_F_BUYER_ID] = K_ID,
    [HK_F_BUYER_NICK] = K_ID,
    [HK_F_ALIPAY] = K_ID,
    [HK_F_PHONE] = K_PHONE,
    [HK_F_PHONE_ALT] = K_PHONE,
    [HK_F_NAME] = K_MASKABLE,
    [HK_F_ADDRESS] = K_MASKABLE,
    [HK_F_EMAIL] = K_ID,
    [HK_F_CHANNEL] = K_CHANNEL,
    [HK_F_STATUS] = K_STATUS,
    [HK_F_AFTERSALE] = K_AFTERSALE,
    [HK_F_CREATED_AT] = K_TIME,
    [HK_F_PAID_AT] = K_TIME,
    [HK_F_SHIPPED_AT] = K_TIME,
    [HK_F_RECEIVED_AT] = K_TIME,
    [HK_F_ORDER_TOTAL] = K_MONEY,
    [HK_F_ORDER_TOTAL_ALT] = K_MONEY,
    [HK_F_POSTAGE] = K_MONEY,
    [HK_F_DISCOUNT_SHOP] = K_MONEY,
    [HK_F_DISCOUNT_PLATFORM] = K_MONEY,
    [HK_F_ORDER_PAID] = K_MONEY,
    [HK_F_ORDER_REFUND] = K_MONEY,
    [HK_F_COUPON] = K_ID,
    [HK_F_PRODUCT_ID] = K_ID,
    [HK_F_SKU] = K_ID,
    [HK_F_SKU_ALT] = K_ID,
    [HK_F_QUANTITY] = K_QTY,
    [HK_F_UNIT_PRICE] = K_MONEY,
    [HK_F_LINE_TOTAL] = K_MONEY,
    [HK_F_LINE_PAID] = K_MONEY,
    [HK_F_LINE_REFUND] = K_MONEY,
};

/* Fields whose value is dropped when a spreadsheet turned it into scientific notation (see
   hk_fmt_convert); excel_only: only Excel's exact shape d.dddE+dd. */
static const struct {
    enum hk_field field;
    bool excel_only;
} SCI_DROP_FIELDS[] = {
    {HK_F_PHONE, false},       {HK_F_PHONE_ALT, false}, {HK_F_PRODUCT_ID, false},
    {HK_F_SUBORDER_NO, false}, {HK_F_BUYER_ID, true},   {HK_F_ALIPAY, true},
};

#define QTY_MAX   1000000
#define QUOTE_MAX 48 /* bytes of a bad value repeated in a message */
/* A bad status is quoted shorter: the message also lists every accepted word (up to ~170 bytes
   for Taobao and JD) and must fit hk_row_error.message whole. */
#define STATUS_QUOTE_MAX 36

/* ---- cell cleaning ---- */

/* A three-byte space-like character: U+3000 (E3 80 80), U+FEFF (EF BB BF: a byte-order mark
   left inside a file, e.g. where two exports were joined) and U+200B (E2 80 8B). */
static inline bool space3(const unsigned char *s)
{
    return (s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80) ||
           (s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF) ||
           (s[0] == 0xE2 && s[1] == 0x80 && s[2] == 0x8B);
}

static size_t space_at(const unsigned char *s, size_t n)
{
    if (n >= 1 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\r' || s[0] == '\n'))
        return 1;
    if (n >= 2 && s[0] == 0xC2 && s[1] == 0xA0)
        return 2;
    if (n >= 3 && (s[0] == 0xE3 || s[0] == 0xEF || s[0] == 0xE2) && space3(s))
        return 3;
    return 0;
}

static size_t space_before(const unsigned char *s, size_t n)
{
    if (n >= 1 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        return 1;
    if (n >= 2 && s[n - 2] == 0xC2 && s[n - 1] == 0xA0)
        return 2;
    if (n >= 3 && (s[n - 3] == 0xE3 || s[n - 3] == 0xEF || s[n - 3] == 0xE2) && space3(s + n - 3))
        return 3;
    return 0;
}

struct hk_str hk_cell_trim_ends(struct hk_str v)
{
    const unsigned char *s = (const unsigned char *)v.s;
    size_t b = 0, e = v.len, k;
    while (b < e && (k = space_at(s + b, e - b)) > 0)
        b += k;
    while (e > b && (k = space_before(s + b, e - b)) > 0)
        e -= k;
    struct hk_str r = {v.s + b, e - b};
    return r;
}

struct hk_str hk_cell_unwrap_formula(struct hk_str v)
{
    if (v.len >= 3 && v.s[0] == '=' && v.s[1] == '"' && v.s[v.len - 1] == '"') {
        struct hk_str r = {v.s + 2, v.len - 3};
        return hk_cell_trim(r);
    }
    return v;
}

struct hk_str hk_cell_clean_id(struct hk_str v)
{
    v = hk_cell_trim(v);
    v = hk_cell_unwrap_formula(v);
    if (v.len > 0 && v.s[0] == '\'') {
        v.s++;
        v.len--;
        v = hk_cell_trim(v);
    }
    return v;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool hk_cell_is_sci_notation(struct hk_str v)
{
    size_t i = 0, n = v.len;
    const char *s = v.s;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    size_t d0 = i;
    while (i < n && is_digit(s[i]))
        i++;
    if (i == d0)
        return false;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i >= n || (s[i] != 'e' && s[i] != 'E'))
        return false;
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    size_t e0 = i;
    while (i < n && is_digit(s[i]))
        i++;
    return i > e0 && i == n;
}

bool hk_cell_is_masked(struct hk_str v)
{
    if (v.len == 0)
        return false;
    if (v.s[0] == '#' || v.s[0] == '$')
        return true;
    return memchr(v.s, '*', v.len) != NULL;
}

size_t hk_status_fold(struct hk_str v, char *out, size_t cap)
{
    v = hk_cell_trim(v);
    size_t o = 0;
    const unsigned char *s = (const unsigned char *)v.s;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < v.len && o + 1 < cap;) {
        /* U+FF0C '，' EF BC 8C; U+FF08 '（' EF BC 88; U+FF09 '）' EF BC 89 */
        if (i + 2 < v.len && s[i] == 0xEF && s[i + 1] == 0xBC &&
            (s[i + 2] == 0x8C || s[i + 2] == 0x88 || s[i + 2] == 0x89)) {
            out[o++] = (char)(s[i + 2] == 0x8C ? ',' : s[i + 2] == 0x88 ? '(' : ')');
            i += 3;
            continue;
        }
        unsigned char c = s[i++];
        if (c == ' ' || c == '\t')
            continue; /* "买家已付款, 等待卖家发货" */
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return o;
}

/* Header names compare like status words. */
static size_t fold_name(struct hk_str v, char *out, size_t cap)
{
    return hk_status_fold(v, out, cap);
}

/* ---- messages ---- */

/* Formats into bad->message, cutting on a character boundary. */
static void set_message(struct hk_row_error *bad, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_message(struct hk_row_error *bad, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized):
                                                     a false positive of clang 14's checker */
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n >= sizeof(tmp) ? sizeof(tmp) - 1 : (size_t)n;
    size_t k = hk_utf8_cut(tmp, len, sizeof(bad->message) - 1);
    memcpy(bad->message, tmp, k);
    bad->message[k] = '\0';
}

static void set_column(struct hk_row_error *bad, const struct hk_fmt_binding *b, int col)
{
    const char *name = col >= 0 && (size_t)col < b->ncols ? b->names[col] : "";
    size_t n = strlen(name);
    size_t k = hk_utf8_cut(name, n, sizeof(bad->column) - 1);
    memcpy(bad->column, name, k);
    bad->column[k] = '\0';
}

/* A quotable prefix of v: at most QUOTE_MAX bytes on a character boundary. */
static int quote_len(struct hk_str v)
{
    return (int)hk_utf8_cut(v.s, v.len, QUOTE_MAX);
}

static const char *ellipsis(struct hk_str v)
{
    return (size_t)quote_len(v) < v.len ? "…" : "";
}

/* ---- binding ---- */

static const struct hk_fmt_desc *desc_of(enum hk_import_format f)
{
    for (size_t i = 0; i < N(FORMATS); i++)
        if (FORMATS[i].format == f)
            return &FORMATS[i];
    return NULL;
}

/* Is the folded name one of the '|'-separated aliases? */
static bool alias_match(const char *aliases, const char *name, size_t len)
{
    const char *p = aliases;
    for (;;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && memcmp(p, name, len) == 0)
            return true;
        if (!bar)
            return false;
        p = bar + 1;
    }
}

static void first_alias(const char *aliases, char *out, size_t cap)
{
    const char *bar = strchr(aliases, '|');
    size_t n = bar ? (size_t)(bar - aliases) : strlen(aliases);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, aliases, n);
    out[n] = '\0';
}

struct folded_header {
    char (*name)[128];
    size_t n;
};

static bool header_has(const struct folded_header *h, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < h->n; i++)
        if (strlen(h->name[i]) == len && memcmp(h->name[i], name, len) == 0)
            return true;
    return false;
}

/* Score of a format for a header: -1 when its key column is absent, else markers present. */
static int score(const struct hk_fmt_desc *d, const struct folded_header *h)
{
    if (!header_has(h, d->key))
        return -1;
    int s = 0;
    for (const char *const *m = d->markers; *m; m++)
        if (header_has(h, *m))
            s++;
    return s;
}

/* The best-scoring format among candidates (all when only_taobao is false). */
static const struct hk_fmt_desc *detect(const struct folded_header *h, bool only_taobao, bool *tie)
{
    const struct hk_fmt_desc *best = NULL;
    int best_score = 0;
    *tie = false;
    for (size_t i = 0; i < N(FORMATS); i++) {
        const struct hk_fmt_desc *d = &FORMATS[i];
        bool taobao = d->format == HK_FMT_TAOBAO_ORDERS || d->format == HK_FMT_TAOBAO_DETAILS;
        if (only_taobao && !taobao)
            continue;
        int s = score(d, h);
        if (s <= 0)
            continue;
        if (s > best_score) {
            best = d;
            best_score = s;
            *tie = false;
        } else if (s == best_score) {
            *tie = true;
        }
    }
    return best;
}

void hk_fmt_binding_release(struct hk_fmt_binding *b)
{
    if (b->names) {
        for (size_t i = 0; i < b->ncols; i++)
            free(b->names[i]);
        free(b->names);
    }
    b->names = NULL;
    b->ncols = 0;
}

const char *hk_fmt_channel(const struct hk_fmt_binding *b)
{
    return b->desc->channel;
}

static const char *family_name(enum hk_import_format f)
{
    const struct hk_fmt_desc *d = desc_of(f);
    return d ? d->name : "auto";
}

int hk_fmt_bind(const struct hk_csv_field *hdr, size_t n, enum hk_import_format want,
                struct hk_fmt_binding *b, struct hk_err *err)
{
    memset(b, 0, sizeof(*b));
    struct folded_header h = {calloc(n ? n : 1, sizeof(*h.name)), n};
    b->names = calloc(n ? n : 1, sizeof(*b->names));
    int rc = 0;
    if (!h.name || !b->names) {
        rc = hk_err_set(err, HK_E(NOMEM), "out of memory");
        goto out;
    }
    b->ncols = n;
    for (size_t i = 0; i < n; i++) {
        struct hk_str v = {hdr[i].s, hdr[i].len};
        v = hk_cell_trim(v);
        b->names[i] = malloc(v.len + 1);
        if (!b->names[i]) {
            rc = hk_err_set(err, HK_E(NOMEM), "out of memory");
            goto out;
        }
        memcpy(b->names[i], v.s, v.len);
        b->names[i][v.len] = '\0';
        fold_name(v, h.name[i], sizeof(h.name[i]));
    }

    bool tie = false;
    const struct hk_fmt_desc *d;
    if (n == 1 && (strchr(b->names[0], '\t') || strchr(b->names[0], ';'))) {
        /* Excel's "Text (Tab delimited)" (or a semicolon CSV): one cell holds every name */
        rc = hk_err_set(
            err, HK_E(INVAL),
            "the header has no commas: the file is separated by %s, not a CSV; save "
            "it from Excel as \"CSV (comma delimited)\" or \"CSV UTF-8\" and import that",
            strchr(b->names[0], '\t') ? "tabs (Excel's \"Text (Tab delimited)\")" : "semicolons");
        goto out;
    }
    if (want == HK_FMT_AUTO) {
        d = detect(&h, false, &tie);
        if (!d || tie) {
            struct hk_str first = {n > 0 ? b->names[0] : "", n > 0 ? strlen(b->names[0]) : 0};
            rc = hk_err_set(err, HK_E(INVAL),
                            "cannot tell the format from the header (first column '%.*s%s'); give "
                            "--format generic, taobao, douyin, pdd or jd",
                            quote_len(first), first.s, ellipsis(first));
            goto out;
        }
    } else if (want == HK_FMT_TAOBAO_ORDERS || want == HK_FMT_TAOBAO_DETAILS) {
        d = detect(&h, true, &tie);
        if (!d || tie)
            d = desc_of(want);
    } else {
        d = desc_of(want);
        if (!d) {
            rc = hk_err_set(err, HK_E(INVAL), "unknown import format %d", (int)want);
            goto out;
        }
    }
    b->desc = d;
    b->format = d->format;

    for (int f = 0; f < HK_F_COUNT; f++)
        b->col[f] = b->col2[f] = -1;
    for (size_t c = 0; c < d->ncols; c++) {
        const struct col_spec *cs = &d->cols[c];
        for (size_t i = 0; i < n; i++) {
            if (!alias_match(cs->names, h.name[i], strlen(h.name[i])))
                continue;
            /* the first column of that name wins; a second one is read when the first is empty
               (files with a column twice, the first often left blank) */
            if (b->col[cs->field] < 0) {
                b->col[cs->field] = (int)i;
            } else {
                b->col2[cs->field] = (int)i;
                b->any_col2 = true;
                break;
            }
        }
    }

    /* Required columns. */
    bool any_a = false, need_a = false, any_b = false, need_b = false;
    for (size_t c = 0; c < d->ncols; c++) {
        const struct col_spec *cs = &d->cols[c];
        int col = b->col[cs->field];
        if (cs->flags & ONE_OF_A) {
            need_a = true;
            any_a |= col >= 0;
        }
        if (cs->flags & ONE_OF_B) {
            need_b = true;
            any_b |= col >= 0;
        }
        if ((cs->flags & REQ) && col < 0) {
            char name[64];
            first_alias(cs->names, name, sizeof(name));
            char hint[160] = "";
            if (want != HK_FMT_AUTO) {
                const struct hk_fmt_desc *other = detect(&h, false, &tie);
                if (other && !tie && strcmp(other->name, d->name) != 0)
                    snprintf(hint, sizeof(hint),
                             " (the header looks like a %s export: use --format %s or auto)",
                             other->name, other->name);
            }
            rc = hk_err_setf(err, HK_E(INVAL), name,
                             "missing required column %s for the %s "
                             "format%s",
                             name, family_name(d->format), hint);
            goto out;
        }
        if ((cs->flags & REQ) && (size_t)col > b->last_required)
            b->last_required = (size_t)col;
    }
    if (need_a && !any_a) {
        rc = hk_err_setf(err, HK_E(INVAL), "buyer_id",
                         "missing required column: one of buyer_id, buyer_nick, phone");
        goto out;
    }
    if (need_b && !any_b) {
        rc = hk_err_setf(err, HK_E(INVAL), "product_id",
                         "missing required column: one of product_id, product_title");
        goto out;
    }
out:
    free(h.name);
    if (rc)
        hk_fmt_binding_release(b);
    return rc;
}

/* ---- converting a row ---- */

void hk_fmt_ctx_init(struct hk_fmt_ctx *ctx, const struct hk_tz *tz)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->tz = tz;
}

static int two(const char *s)
{
    if (!is_digit(s[0]) || !is_digit(s[1]))
        return -1;
    return (s[0] - '0') * 10 + (s[1] - '0');
}

/*
 * The common shape "YYYY-MM-DD HH:MM:SS" (or with '/') without a zone, via a cache of local days:
 * a day whose UTC offset does not change is converted with one addition. Returns 0 and *out, or
 * -1 when the slow path (hk_time_parse) must decide, including for every error.
 */
static int fast_time(struct hk_fmt_ctx *ctx, struct hk_str v, int64_t *out)
{
    const char *s = v.s;
    if (v.len != 19 || (s[4] != '-' && s[4] != '/') || s[7] != s[4] || s[10] != ' ' ||
        s[13] != ':' || s[16] != ':')
        return -1;
    int y1 = two(s), y2 = two(s + 2), mo = two(s + 5), d = two(s + 8), h = two(s + 11),
        mi = two(s + 14), se = two(s + 17);
    if (y1 < 0 || y2 < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || se < 0 || se > 59)
        return -1;
    int32_t ymd = (y1 * 100 + y2) * 10000 + mo * 100 + d;
    if (ymd == 0)
        return -1;
    unsigned slot = (unsigned)(ymd * 2654435761u) >> 26; /* 0..63 */
    if (ctx->days[slot].ymd != ymd) {
        struct hk_civil c0 = {y1 * 100 + y2, mo, d, 0, 0, 0},
                        c1 = {y1 * 100 + y2, mo, d, 23, 59, 59};
        int64_t t0, t1;
        if (hk_tz_from_local(ctx->tz, &c0, &t0, NULL) || hk_tz_from_local(ctx->tz, &c1, &t1, NULL))
            return -1; /* not a date: let the slow path say why */
        ctx->days[slot].ymd = ymd;
        ctx->days[slot].midnight = t0;
        ctx->days[slot].uniform = t1 - t0 == 86399;
    }
    if (!ctx->days[slot].uniform)
        return -1;
    *out = ctx->days[slot].midnight + (int64_t)h * 3600 + (int64_t)mi * 60 + se;
    return 0;
}

static size_t digits_at(struct hk_str v, size_t i, size_t max)
{
    size_t k = 0;
    while (i + k < v.len && k < max && is_digit(v.s[i + k]))
        k++;
    return k;
}

static bool bytes_at(struct hk_str v, size_t i, const char *text)
{
    size_t n = strlen(text);
    return i + n <= v.len && memcmp(v.s + i, text, n) == 0;
}

/*
 * A date as a Chinese Excel re-saves it, "2024年5月3日 8:05" or "2024.05.03 08:05", rewritten
 * into buf as "2024-5-3 8:05" for hk_time_parse; false (buf unused) for any other shape.
 */
static bool excel_date(struct hk_str v, char *buf, size_t cap, struct hk_str *out)
{
    size_t i = digits_at(v, 0, 4);
    if (i != 4 || v.len + 1 > cap)
        return false;
    bool cjk = bytes_at(v, i, "年");
    if (!cjk && !(i < v.len && v.s[i] == '.'))
        return false;
    size_t o = 0;
    memcpy(buf, v.s, 4);
    o = 4;
    i += cjk ? 3 : 1;
    for (int part = 0; part < 2; part++) {
        size_t n = digits_at(v, i, 2);
        if (n == 0)
            return false;
        buf[o++] = '-';
        memcpy(buf + o, v.s + i, n);
        o += n;
        i += n;
        if (part == 0) {
            if (cjk ? !bytes_at(v, i, "月") : !(i < v.len && v.s[i] == '.'))
                return false;
            i += cjk ? 3 : 1;
        } else if (cjk) {
            if (!bytes_at(v, i, "日"))
                return false;
            i += 3;
        }
    }
    memcpy(buf + o, v.s + i, v.len - i); /* the time, as written */
    o += v.len - i;
    *out = (struct hk_str){buf, o};
    return true;
}

/* An amount as sellers' spreadsheets write it beyond what hk_money_parse reads: a trailing 元
   ("1299.00元") and zeros past the second decimal ("1299.0000"); other digits there stay and
   make the amount bad. */
static struct hk_str money_cut(struct hk_str v)
{
    if (v.len >= 3 && memcmp(v.s + v.len - 3, "元", 3) == 0) {
        v.len -= 3;
        v = hk_cell_trim(v);
    }
    const char *dot = memchr(v.s, '.', v.len);
    if (dot) {
        size_t keep = (size_t)(dot - v.s) + 3;
        while (v.len > keep && v.s[v.len - 1] == '0')
            v.len--;
    }
    return v;
}

/* Quick test before hk_cell_is_sci_notation: an 'E' or 'e' among the last 6 bytes ("E+17",
   "E+010"), so a plain number is not scanned whole. */
static bool has_exponent(struct hk_str v)
{
    for (size_t k = v.len > 6 ? v.len - 6 : 0; k < v.len; k++)
        if ((v.s[k] | 0x20) == 'e')
            return true;
    return false;
}

/* Scientific notation exactly as Excel writes a long number: digit '.' digits 'E+' digits. */
static bool excel_sci(struct hk_str v)
{
    if (v.len < 6 || !is_digit(v.s[0]) || v.s[1] != '.' || !hk_cell_is_sci_notation(v))
        return false;
    const char *e = memchr(v.s, 'E', v.len);
    return e && e + 1 < v.s + v.len && e[1] == '+';
}

static bool is_dash(struct hk_str v)
{
    return (v.len == 1 && v.s[0] == '-') || (v.len == 2 && v.s[0] == '-' && v.s[1] == '-');
}

/* An empty date some exports write for "never": 0000-00-00 … */
static bool is_zero_date(struct hk_str v)
{
    return v.len >= 10 && memcmp(v.s, "0000-00-00", 10) == 0;
}

static int match_status(const struct hk_fmt_desc *d, const char *folded, size_t len,
                        const struct status_word **out)
{
    for (size_t i = 0; i < d->nstatuses; i++) {
        const struct status_word *w = &d->statuses[i];
        size_t wl = strlen(w->text);
        bool hit;
        if (w->flags & ST_PREFIX)
            hit = len >= wl && memcmp(folded, w->text, wl) == 0;
        else if (w->flags & ST_CONTAINS)
            hit = len >= wl && strstr(folded, w->text) != NULL;
        else
            hit = len == wl && memcmp(folded, w->text, wl) == 0;
        if (hit) {
            *out = w;
            return 0;
        }
    }
    return -1;
}

/*
 * Every status word of a format, as a seller writes it, for "unknown status" messages: generated
 * from the table so the message can never leave one out. Folded commas are shown full-width in
 * Chinese words (the seller centres' spelling; both are accepted); a word matched at the start
 * ends with "…" ("(删除)…"), one matched anywhere has "…" on both sides ("…退款成功…").
 */
static void accepted_list(const struct hk_fmt_desc *d, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < d->nstatuses; i++) {
        const struct status_word *w = &d->statuses[i];
        bool cjk = (unsigned char)w->text[0] >= 0x80 || strchr(w->text, '(') != NULL;
        char word[96];
        size_t k = 0;
        if (w->flags & ST_CONTAINS)
            k += (size_t)snprintf(word + k, sizeof(word) - k, "…");
        for (const char *p = w->text; *p && k + 4 < sizeof(word); p++) {
            if (*p == ',' && cjk) {
                memcpy(word + k, "，", 3);
                k += 3;
            } else {
                word[k++] = *p;
            }
        }
        word[k] = '\0';
        if (w->flags & (ST_CONTAINS | ST_PREFIX))
            snprintf(word + k, sizeof(word) - k, "…");
        int n = snprintf(out + o, cap - o, "%s%s", i ? ", " : "", word);
        if (n < 0 || (size_t)n >= cap - o) {
            out[o] = '\0';
            return;
        }
        o += (size_t)n;
    }
}

static enum hk_aftersale match_aftersale(struct hk_str v)
{
    char f[192];
    size_t n = hk_status_fold(v, f, sizeof(f));
    if (n == 0 || is_dash(v))
        return HK_AS_NONE;
    static const char *const none[] = {"无售后或售后取消", "无售后",   "无",    "售后关闭",
                                       "售后取消",         "退款关闭", "已撤销"};
    for (size_t i = 0; i < N(none); i++)
        if (strcmp(f, none[i]) == 0)
            return HK_AS_NONE;
    if (strstr(f, "退款成功") || strstr(f, "已退款") || strstr(f, "退款完成"))
        return HK_AS_REFUNDED;
    return HK_AS_OPEN;
}

static bool channel_known(struct hk_str v, const char **out)
{
    for (size_t i = 0; i < N(CHANNELS); i++) {
        size_t n = strlen(CHANNELS[i]);
        if (v.len == n && strncasecmp(v.s, CHANNELS[i], n) == 0) {
            *out = CHANNELS[i];
            return true;
        }
    }
    return false;
}

void hk_fmt_row_init(struct hk_fmt_row *row)
{
    memset(row, 0, sizeof(*row));
    for (int i = 0; i < HK_F_COUNT; i++)
        row->v[i].s = ""; /* never NULL, so views can go to mem* functions */
}

static struct hk_str cell(const struct hk_csv_field *f, size_t nf, int col)
{
    struct hk_str v = {"", 0};
    if (col >= 0 && (size_t)col < nf) {
        v.s = f[col].s;
        v.len = f[col].len;
    }
    return v;
}

static int bad_cell(struct hk_row_error *bad, const struct hk_fmt_binding *b, int col)
{
    set_column(bad, b, col);
    return 1;
}

void hk_fmt_fill_second_columns(const struct hk_fmt_binding *b, struct hk_csv_field *f, size_t nf)
{
    if (!b->any_col2)
        return;
    for (int fld = 0; fld < HK_F_COUNT; fld++) {
        int c1 = b->col[fld], c2 = b->col2[fld];
        if (c2 < 0 || (size_t)c1 >= nf || (size_t)c2 >= nf)
            continue;
        if (hk_cell_trim((struct hk_str){f[c1].s, f[c1].len}).len == 0)
            f[c1] = f[c2];
    }
}

bool hk_fmt_peek_order_no(const struct hk_fmt_binding *b, const struct hk_csv_field *f, size_t nf,
                          struct hk_str *out)
{
    struct hk_str v = hk_cell_clean_id(cell(f, nf, b->col[HK_F_ORDER_NO]));
    if (v.len == 0 || hk_cell_is_sci_notation(v) ||
        !hk_utf8_valid((const unsigned char *)v.s, v.len) || memchr(v.s, '\0', v.len))
        return false;
    *out = v;
    return true;
}

int hk_fmt_convert(const struct hk_fmt_binding *b, struct hk_fmt_ctx *ctx,
                   const struct hk_csv_field *f, size_t nf, struct hk_fmt_row *out,
                   struct hk_row_error *bad)
{
    const struct hk_fmt_desc *d = b->desc;
    const unsigned flags = d->flags;
    /* Only the format's own fields are reset: the others stay empty from hk_fmt_row_init. */
    for (size_t c = 0; c < d->ncols; c++) {
        enum hk_field fld = d->cols[c].field;
        out->v[fld].s = "";
        out->v[fld].len = 0;
        out->num[fld] = 0;
        out->has[fld] = false;
        out->local[fld] = false;
    }
    out->order_ok = false;
    out->status = HK_ORDER_UNKNOWN;
    out->aftersale = HK_AS_NONE;
    out->phone_masked = out->name_masked = out->address_masked = false;
    out->channel = d->channel;

    /* The order number first: even a bad row belongs to its order. */
    int col = b->col[HK_F_ORDER_NO];
    struct hk_str v = hk_cell_clean_id(cell(f, nf, col));
    if (v.len == 0) {
        set_message(bad, "the order number is empty");
        return bad_cell(bad, b, col);
    }
    if (hk_cell_is_sci_notation(v)) {
        set_message(bad,
                    "order number '%.*s' was turned into scientific notation by a spreadsheet; "
                    "re-export the file — the digits cannot be recovered",
                    quote_len(v), v.s);
        return bad_cell(bad, b, col);
    }
    out->v[HK_F_ORDER_NO] = v;
    out->order_ok = true;

    if (nf <= b->last_required) {
        /* A short row: name the first required column it lacks. */
        for (size_t c = 0; c < d->ncols; c++) {
            int cc = b->col[d->cols[c].field];
            if ((d->cols[c].flags & REQ) && cc >= 0 && (size_t)cc >= nf) {
                set_message(bad, "the row has only %zu fields but the header has %zu", nf,
                            b->ncols);
                return bad_cell(bad, b, cc);
            }
        }
    }

    struct hk_err e;
    for (size_t c = 0; c < d->ncols; c++) {
        const struct col_spec *cs = &d->cols[c];
        enum hk_field fld = cs->field;
        col = b->col[fld];
        if (col < 0 || fld == HK_F_ORDER_NO)
            continue;
        struct hk_str raw = cell(f, nf, col);
        int kind = KIND[fld];
        if (kind == K_ID || kind == K_PHONE)
            v = hk_cell_clean_id(raw);
        else { /* ="…" on every cell: some ERP and Excel re-exports write each field so */
            v = hk_cell_trim(raw);
            if (v.len >= 3 && v.s[0] == '=')
                v = hk_cell_unwrap_formula(v);
        }
        if ((flags & DF_DASH_EMPTY) && is_dash(v) && kind != K_STATUS)
            v.len = 0;
        if (v.len == 0) {
            if (cs->flags & VAL) {
                set_message(bad, "this column must not be empty");
                return bad_cell(bad, b, col);
            }
            continue;
        }
        switch (kind) {
        case K_TIME: {
            int64_t t;
            if (is_zero_date(v))
                break;
            bool local = true; /* the fast path's shape has no offset */
            char dbuf[96];
            struct hk_str dv;
            if (v.len > 5 && v.s[4] != '-' && v.s[4] != '/' &&
                excel_date(v, dbuf, sizeof(dbuf), &dv))
                v = dv; /* "2024年5月3日 8:05", "2024.05.03": parsed (and quoted) as 2024-5-3 */
            if (fast_time(ctx, v, &t) != 0) {
                hk_err_clear(&e);
                int rc = hk_time_parse(v.s, v.len, ctx->tz, &t, &e);
                if (rc < 0) {
                    set_message(bad, "%s", hk_err_message(&e));
                    return bad_cell(bad, b, col);
                }
                if (rc > 0)
                    break;
                local = !hk_time_has_offset(v.s, v.len);
            }
            out->num[fld] = t;
            out->has[fld] = true;
            out->local[fld] = local;
            break;
        }
        case K_MONEY: {
            int64_t fen = 0;
            hk_err_clear(&e);
            if (v.len > 0 && (v.s[v.len - 1] == '0' || (unsigned char)v.s[v.len - 1] == 0x83))
                v = money_cut(v); /* only "…0" and "…元" can need it */
            int rc = hk_money_parse(v.s, v.len, 0, &fen, &e);
            if (rc < 0) {
                set_message(bad, "%s", hk_err_message(&e));
                return bad_cell(bad, b, col);
            }
            if (rc == 0) {
                out->num[fld] = fen;
                out->has[fld] = true;
            }
            break;
        }
        case K_QTY: {
            int64_t q = 0;
            size_t i = 0;
            while (i < v.len && is_digit(v.s[i]) && q <= QTY_MAX)
                q = q * 10 + (v.s[i++] - '0');
            if (i > 0 && i + 1 < v.len && v.s[i] == '.') { /* "2.0", as Excel may write it */
                size_t z = i + 1;
                while (z < v.len && v.s[z] == '0')
                    z++;
                if (z == v.len)
                    i = z;
            }
            if (i != v.len || q < 1 || q > QTY_MAX) {
                set_message(bad, "'%.*s%s' is not a quantity: expected a whole number from 1 to %d",
                            quote_len(v), v.s, ellipsis(v), QTY_MAX);
                return bad_cell(bad, b, col);
            }
            out->num[fld] = q;
            out->has[fld] = true;
            break;
        }
        case K_CHANNEL: {
            const char *ch;
            if (!channel_known(v, &ch)) {
                set_message(bad,
                            "unknown channel '%.*s%s'; accepted: taobao, tmall, jd, pdd, douyin, "
                            "wechat, pos, other",
                            quote_len(v), v.s, ellipsis(v));
                return bad_cell(bad, b, col);
            }
            out->channel = ch;
            break;
        }
        case K_AFTERSALE:
            out->aftersale = match_aftersale(v);
            break;
        default:
            break;
        }
        out->v[fld] = v;
    }

    /* 1.38001E+10, 3.6E+15: a spreadsheet turned a number into scientific notation and lost its
       digits. Two buyers or products so mangled would read as one: no phone, product id or
       sub-order number beats a wrong one, and so for a buyer account that has Excel's shape
       exactly (d.dddE+dd; an account name may otherwise look like "2e10"). Checked here, for
       these few fields, rather than in the loop over every cell. */
    for (size_t k = 0; k < N(SCI_DROP_FIELDS); k++) {
        enum hk_field fld = SCI_DROP_FIELDS[k].field;
        struct hk_str *sv = &out->v[fld];
        if (sv->len > 0 && is_digit(sv->s[0]) && has_exponent(*sv) &&
            (SCI_DROP_FIELDS[k].excel_only ? excel_sci(*sv) : hk_cell_is_sci_notation(*sv)))
            sv->len = 0;
    }

    /* Status last: "closed" depends on whether the row shows a payment. */
    col = b->col[HK_F_STATUS];
    if (col >= 0) {
        char folded[192];
        v = out->v[HK_F_STATUS];
        size_t n = hk_status_fold(v, folded, sizeof(folded));
        const struct status_word *w;
        if (match_status(d, folded, n, &w) != 0) {
            char accepted[sizeof(bad->message)];
            accepted_list(d, accepted, sizeof(accepted));
            int q = (int)hk_utf8_cut(v.s, v.len, STATUS_QUOTE_MAX);
            set_message(bad, "unknown status '%.*s%s'; accepted: %s", q, v.s,
                        (size_t)q < v.len ? "…" : "", accepted);
            return bad_cell(bad, b, col);
        }
        out->status = w->status;
        if (w->flags & ST_CLOSED)
            out->status = out->has[HK_F_PAID_AT] ? HK_ORDER_REFUNDED : HK_ORDER_CANCELLED;
    }
    if ((flags & DF_PAID_AT_CREATED) && !out->has[HK_F_PAID_AT] && out->has[HK_F_CREATED_AT] &&
        out->status != HK_ORDER_CREATED && out->status != HK_ORDER_CANCELLED) {
        out->num[HK_F_PAID_AT] = out->num[HK_F_CREATED_AT];
        out->has[HK_F_PAID_AT] = true;
    }

    struct hk_str ph = out->v[HK_F_PHONE].len ? out->v[HK_F_PHONE] : out->v[HK_F_PHONE_ALT];
    out->phone_masked = hk_cell_is_masked(ph);
    out->name_masked = hk_cell_is_masked(out->v[HK_F_NAME]);
    out->address_masked = hk_cell_is_masked(out->v[HK_F_ADDRESS]);
    return 0;
}

/* ---- assembling orders ---- */

void hk_order_builder_init(struct hk_order_builder *ob)
{
    memset(ob, 0, sizeof(*ob));
}

void hk_order_builder_release(struct hk_order_builder *ob)
{
    free(ob->items);
    free(ob->item_hash);
    free(ob->table);
    memset(ob, 0, sizeof(*ob));
}

static const char *dup(struct hk_arena *a, struct hk_str v, bool *oom)
{
    const char *s = hk_arena_strndup(a, v.s, v.len);
    if (!s) {
        *oom = true;
        return "";
    }
    return s;
}

/* Phone as found with spaces removed (masked values are kept exactly). */
static const char *dup_phone(struct hk_arena *a, struct hk_str v, bool masked, bool *oom)
{
    if (masked || !memchr(v.s, ' ', v.len))
        return dup(a, v, oom);
    char *p = hk_arena_alloc(a, v.len + 1);
    if (!p) {
        *oom = true;
        return "";
    }
    size_t k = 0;
    for (size_t i = 0; i < v.len; i++)
        if (v.s[i] != ' ')
            p[k++] = v.s[i];
    p[k] = '\0';
    return p;
}

/*
 * Province and city from a one-string address, with or without spaces ("浙江省 杭州市 西湖区 …",
 * "广东省深圳市南山区…"; see region.h); an address that starts with no province name but has
 * spaces ("海外 新加坡 …") gives its first two space-separated parts, as written.
 */
static void split_address(struct hk_str addr, struct hk_str *prov, struct hk_str *city)
{
    const char *pn, *cs;
    size_t cl;
    if (hk_region_from_address(addr.s, addr.len, &pn, &cs, &cl)) {
        *prov = (struct hk_str){pn, strlen(pn)};
        *city = (struct hk_str){cs, cl};
        return;
    }
    const char *s = addr.s, *e = addr.s + addr.len;
    const char *sp1 = memchr(s, ' ', addr.len);
    if (!sp1 || sp1 == s)
        return;
    const char *c0 = sp1;
    while (c0 < e && *c0 == ' ')
        c0++;
    const char *sp2 = memchr(c0, ' ', (size_t)(e - c0));
    if (!sp2 || sp2 == c0)
        return;
    prov->s = s;
    prov->len = (size_t)(sp1 - s);
    city->s = c0;
    city->len = (size_t)(sp2 - c0);
}

static bool closed(enum hk_order_status s)
{
    return s == HK_ORDER_REFUNDED || s == HK_ORDER_CANCELLED;
}

int hk_order_builder_start(struct hk_order_builder *ob, const struct hk_fmt_binding *b,
                           struct hk_arena *a, const struct hk_fmt_row *row, const char *file,
                           int64_t record, int64_t line)
{
    const unsigned flags = b->desc->flags;
    struct hk_order_rec *r = &ob->rec;
    bool oom = false;

    memset(r, 0, sizeof(*r));
    r->channel = r->shop = r->order_no = r->buyer_id = r->buyer_nick = r->alipay = r->phone =
        r->name = r->address = r->province = r->city = r->email = r->coupon_code = r->buyer_note =
            r->seller_note = r->status_text = "";
    r->format = b->format;
    r->channel = row->channel[0] ? row->channel : "other";
    r->order_no = dup(a, row->v[HK_F_ORDER_NO], &oom);
    r->status = row->status;
    r->status_text = dup(a, row->v[HK_F_STATUS], &oom);
    r->file = file;
    r->first_record = r->last_record = record;
    r->first_line = r->last_line = line;

    if (ob->tcap && ob->nitems > 8)
        memset(ob->table, 0, ob->tcap * sizeof(*ob->table));
    ob->nitems = 0;
    ob->nrows = 0;
    ob->n_item_refunded = 0;
    ob->sum_line_total = ob->sum_line_paid = ob->sum_line_refund = 0;
    ob->sum_postage = ob->sum_discount = ob->sum_order_paid = 0;
    ob->sum_overflow = false;
    ob->first_status_closed = closed(row->status);

    if (!(flags & DF_STATUS_ONLY)) {
        const struct hk_str *v = row->v;
        r->shop = dup(a, v[HK_F_SHOP], &oom);
        r->buyer_id = dup(a, v[HK_F_BUYER_ID], &oom);
        r->buyer_nick = v[HK_F_BUYER_NICK].len    ? dup(a, v[HK_F_BUYER_NICK], &oom)
                        : (flags & DF_NICK_IS_ID) ? r->buyer_id
                                                  : "";
        r->alipay = dup(a, v[HK_F_ALIPAY], &oom);
        struct hk_str ph = v[HK_F_PHONE].len ? v[HK_F_PHONE] : v[HK_F_PHONE_ALT];
        r->phone = dup_phone(a, ph, row->phone_masked, &oom);
        r->phone_masked = row->phone_masked;
        r->name = dup(a, v[HK_F_NAME], &oom);
        r->name_masked = row->name_masked;
        r->address = dup(a, v[HK_F_ADDRESS], &oom);
        r->address_masked = row->address_masked;
        struct hk_str prov = v[HK_F_PROVINCE], city = v[HK_F_CITY];
        if ((flags & DF_FULL_ADDRESS) && !prov.len && !city.len && !row->address_masked)
            split_address(v[HK_F_ADDRESS], &prov, &city);
        const char *canon = hk_region_province_canonical(prov.s, prov.len);
        r->province = canon ? canon : dup(a, prov, &oom);
        r->city = dup(a, city, &oom);
        r->email = dup(a, v[HK_F_EMAIL], &oom);
        r->coupon_code = dup(a, v[HK_F_COUPON], &oom);
        r->buyer_note = dup(a, v[HK_F_BUYER_NOTE], &oom);
        r->seller_note = dup(a, v[HK_F_SELLER_NOTE], &oom);
        r->created_at = row->num[HK_F_CREATED_AT];
        r->paid_at = row->num[HK_F_PAID_AT];
        r->shipped_at = row->num[HK_F_SHIPPED_AT];
        r->received_at = row->num[HK_F_RECEIVED_AT];
        r->zone_times = (row->local[HK_F_CREATED_AT] ? HK_LOCAL_CREATED : 0u) |
                        (row->local[HK_F_PAID_AT] ? HK_LOCAL_PAID : 0u) |
                        (row->local[HK_F_SHIPPED_AT] ? HK_LOCAL_SHIPPED : 0u) |
                        (row->local[HK_F_RECEIVED_AT] ? HK_LOCAL_RECEIVED : 0u);
        if (!(flags & DF_MONEY_PER_ROW)) {
            r->postage_fen = row->num[HK_F_POSTAGE];
            r->discount_fen = row->num[HK_F_DISCOUNT_SHOP] + row->num[HK_F_DISCOUNT_PLATFORM];
            if (row->has[HK_F_ORDER_TOTAL])
                r->total_fen = row->num[HK_F_ORDER_TOTAL];
            else if (row->has[HK_F_ORDER_TOTAL_ALT])
                r->total_fen = row->num[HK_F_ORDER_TOTAL_ALT] - r->postage_fen;
            r->paid_fen = row->num[HK_F_ORDER_PAID];
            r->has_paid_fen = row->has[HK_F_ORDER_PAID];
            r->refund_fen = row->num[HK_F_ORDER_REFUND];
        }
    }
    return oom ? HK_E(NOMEM) : 0;
}

/*
 * The line hash: only compared within one order, never stored, so any good 64-bit mix will do.
 * Eight bytes a step (byte-wise FNV-1a here was 2 % of a bulk import's own CPU); every value ends
 * in a step that includes its length mod 8, so ("ab","c") and ("a","bc") hash apart.
 */
static uint64_t mix(uint64_t h, uint64_t w)
{
    h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
    return h ^ (h >> 29);
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (; n >= 8; s += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = mix(h, w);
    }
    uint64_t w = (uint64_t)n << 56;
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)s[i] << (8 * i);
    return mix(h, w);
}

static uint64_t hash_str(uint64_t h, struct hk_str v)
{
    return hash_bytes(h, v.s, v.len);
}

static bool same_str(const char *s, struct hk_str v)
{
    return strlen(s) == v.len && memcmp(s, v.s, v.len) == 0;
}

static int grow_items(struct hk_order_builder *ob)
{
    size_t n = ob->cap ? ob->cap * 2 : 16;
    struct hk_item_rec *it = realloc(ob->items, n * sizeof(*it));
    if (!it)
        return -1;
    ob->items = it;
    uint64_t *hs = realloc(ob->item_hash, n * sizeof(*hs));
    if (!hs)
        return -1;
    ob->item_hash = hs;
    ob->cap = n;
    return 0;
}

/* Rebuilds the hash table for at least 2 * cap slots. */
static int rehash(struct hk_order_builder *ob)
{
    size_t t = 32;
    while (t < ob->cap * 2)
        t *= 2;
    if (t != ob->tcap) {
        uint32_t *tab = realloc(ob->table, t * sizeof(*tab));
        if (!tab)
            return -1;
        ob->table = tab;
        ob->tcap = t;
    }
    memset(ob->table, 0, ob->tcap * sizeof(*ob->table));
    for (size_t i = 0; i < ob->nitems; i++) {
        size_t s = ob->item_hash[i] & (ob->tcap - 1);
        while (ob->table[s])
            s = (s + 1) & (ob->tcap - 1);
        ob->table[s] = (uint32_t)(i + 1);
    }
    return 0;
}

/* The line item a row describes, as views (before copying). */
struct item_view {
    struct hk_str product_id, sku, title, variant, category, suborder;
    int64_t quantity, unit_price_fen, paid_fen, refund_fen;
};

static bool item_equal(const struct hk_item_rec *it, const struct item_view *iv)
{
    return it->quantity == iv->quantity && it->unit_price_fen == iv->unit_price_fen &&
           it->paid_fen == iv->paid_fen && it->refund_fen == iv->refund_fen &&
           same_str(it->product_id, iv->product_id) && same_str(it->sku, iv->sku) &&
           same_str(it->title, iv->title) && same_str(it->variant, iv->variant) &&
           same_str(it->category, iv->category);
}

static int64_t round_div(int64_t a, int64_t b)
{
    return (a + b / 2) / b;
}

int hk_order_builder_add(struct hk_order_builder *ob, const struct hk_fmt_binding *b,
                         struct hk_arena *a, const struct hk_fmt_row *row, int64_t record,
                         int64_t line, struct hk_row_error *bad)
{
    const unsigned flags = b->desc->flags;
    struct hk_order_rec *r = &ob->rec;
    bool oom = false;

    ob->nrows++;
    r->last_record = record;
    r->last_line = line;

    /* A later line's status wins over a refunded/cancelled first line: the order goes on. */
    if (ob->nrows > 1 && ob->first_status_closed && !closed(row->status)) {
        r->status = row->status;
        r->status_text = dup(a, row->v[HK_F_STATUS], &oom);
        ob->first_status_closed = false;
    }

    if (flags & DF_ROW_IS_ITEM) {
        const struct hk_str *v = row->v;
        struct item_view iv;
        iv.product_id = v[HK_F_PRODUCT_ID];
        iv.sku = v[HK_F_SKU].len ? v[HK_F_SKU] : v[HK_F_SKU_ALT];
        iv.title = v[HK_F_TITLE];
        iv.variant = v[HK_F_VARIANT].len ? v[HK_F_VARIANT] : v[HK_F_VARIANT_ALT];
        iv.category = v[HK_F_CATEGORY];
        iv.suborder = v[HK_F_SUBORDER_NO];
        iv.quantity = row->has[HK_F_QUANTITY] ? row->num[HK_F_QUANTITY] : 1;
        int64_t line_total;
        if (row->has[HK_F_UNIT_PRICE]) {
            iv.unit_price_fen = row->num[HK_F_UNIT_PRICE];
            if (__builtin_mul_overflow(iv.unit_price_fen, iv.quantity, &line_total)) {
                set_message(bad, "the line's price times quantity is too large");
                set_column(bad, b, b->col[HK_F_UNIT_PRICE]);
                return 1;
            }
        } else {
            line_total = row->num[HK_F_LINE_TOTAL];
            iv.unit_price_fen = round_div(line_total, iv.quantity);
        }
        iv.paid_fen = row->has[HK_F_LINE_PAID]     ? row->num[HK_F_LINE_PAID]
                      : (flags & DF_MONEY_PER_ROW) ? row->num[HK_F_ORDER_PAID]
                                                   : 0;
        iv.refund_fen = row->num[HK_F_LINE_REFUND];
        bool refunded = row->aftersale == HK_AS_REFUNDED || row->status == HK_ORDER_REFUNDED;
        if (refunded && iv.refund_fen == 0)
            iv.refund_fen = iv.paid_fen ? iv.paid_fen : line_total;

        /* An identical line already in the order is the same line exported twice. */
        uint64_t h = 14695981039346656037ULL;
        h = hash_str(h, iv.product_id);
        h = hash_str(h, iv.sku);
        h = hash_str(h, iv.title);
        h = hash_str(h, iv.variant);
        h = hash_str(h, iv.category);
        h = hash_str(h, iv.suborder);
        h = hash_bytes(h, &iv.quantity, sizeof(iv.quantity));
        h = hash_bytes(h, &iv.unit_price_fen, sizeof(iv.unit_price_fen));
        h = hash_bytes(h, &iv.paid_fen, sizeof(iv.paid_fen));
        h = hash_bytes(h, &iv.refund_fen, sizeof(iv.refund_fen));
        /* Items do not keep the sub-order number, so lines with one are compared by hash and
           fields; a collision of the 64-bit hash over different sub-orders is ignored. */
        if (ob->nitems <= 8) {
            for (size_t i = 0; i < ob->nitems; i++)
                if (ob->item_hash[i] == h && item_equal(&ob->items[i], &iv))
                    return 0;
        } else {
            for (size_t s = h & (ob->tcap - 1); ob->table[s]; s = (s + 1) & (ob->tcap - 1)) {
                size_t i = ob->table[s] - 1;
                if (ob->item_hash[i] == h && item_equal(&ob->items[i], &iv))
                    return 0;
            }
        }

        int64_t s1, s2, s3, s4, s5, s6;
        bool ovf = __builtin_add_overflow(ob->sum_line_total, line_total, &s1) ||
                   __builtin_add_overflow(ob->sum_line_paid, iv.paid_fen, &s2) ||
                   __builtin_add_overflow(ob->sum_line_refund, iv.refund_fen, &s3) ||
                   __builtin_add_overflow(ob->sum_postage, row->num[HK_F_POSTAGE], &s4) ||
                   __builtin_add_overflow(
                       ob->sum_discount,
                       row->num[HK_F_DISCOUNT_SHOP] + row->num[HK_F_DISCOUNT_PLATFORM], &s5) ||
                   __builtin_add_overflow(ob->sum_order_paid, row->num[HK_F_ORDER_PAID], &s6);
        if (ovf) {
            set_message(bad, "the order's amounts add up to more than can be stored");
            set_column(bad, b, -1);
            return 1;
        }
        ob->sum_line_total = s1;
        ob->sum_line_paid = s2;
        ob->sum_line_refund = s3;
        ob->sum_postage = s4;
        ob->sum_discount = s5;
        ob->sum_order_paid = s6;
        if (refunded)
            ob->n_item_refunded++;

        if (ob->nitems == ob->cap && grow_items(ob))
            return HK_E(NOMEM);
        struct hk_item_rec *it = &ob->items[ob->nitems];
        it->product_id = dup(a, iv.product_id, &oom);
        it->sku = dup(a, iv.sku, &oom);
        it->title = dup(a, iv.title, &oom);
        it->variant = dup(a, iv.variant, &oom);
        it->category = dup(a, iv.category, &oom);
        it->quantity = (int32_t)iv.quantity;
        it->unit_price_fen = iv.unit_price_fen;
        it->paid_fen = iv.paid_fen;
        it->refund_fen = iv.refund_fen;
        it->record = record;
        it->line = line;
        ob->item_hash[ob->nitems] = h;
        ob->nitems++;
        if (ob->nitems > 8) {
            if (ob->nitems == 9 || ob->nitems * 2 > ob->tcap) {
                if (rehash(ob))
                    return HK_E(NOMEM);
            } else {
                size_t s = h & (ob->tcap - 1);
                while (ob->table[s])
                    s = (s + 1) & (ob->tcap - 1);
                ob->table[s] = (uint32_t)ob->nitems;
            }
        }
    }
    return oom ? HK_E(NOMEM) : 0;
}

__extension__ typedef __int128 wide_t; /* amount x weight needs more than 64 bits */

void hk_allocate_fen(const int64_t *weights, int64_t *out, size_t n, int64_t amount)
{
    if (n == 0)
        return;
    if (amount < 0)
        amount = 0;
    wide_t sum = 0;
    size_t big = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t w = weights[i] > 0 ? weights[i] : 0;
        sum += w;
        if (w > (weights[big] > 0 ? weights[big] : 0))
            big = i;
    }
    int64_t given = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t w = weights[i] > 0 ? weights[i] : 0;
        out[i] = sum > 0 ? (int64_t)((wide_t)amount * w / sum) : 0;
        given += out[i];
    }
    out[big] += amount - given;
}

int hk_order_builder_finish(struct hk_order_builder *ob, const struct hk_fmt_binding *b,
                            struct hk_arena *a, const struct hk_order_rec **out)
{
    const unsigned flags = b->desc->flags;
    struct hk_order_rec *r = &ob->rec;

    r->items = NULL;
    r->nitems = 0;
    if (ob->nitems > 0) {
        struct hk_item_rec *items = hk_arena_alloc(a, ob->nitems * sizeof(*items));
        if (!items)
            return HK_E(NOMEM);
        memcpy(items, ob->items, ob->nitems * sizeof(*items));
        r->items = items;
        r->nitems = ob->nitems;
    }

    if (!(flags & DF_STATUS_ONLY)) {
        if (flags & DF_MONEY_PER_ROW) {
            r->total_fen = ob->sum_line_total;
            r->postage_fen = ob->sum_postage;
            r->discount_fen = ob->sum_discount;
            r->paid_fen = ob->sum_order_paid;
            r->has_paid_fen = true;
        } else if (flags & DF_ROW_IS_ITEM) {
            if (r->total_fen == 0)
                r->total_fen = ob->sum_line_total;
            if (!r->has_paid_fen && b->col[HK_F_LINE_PAID] >= 0) {
                r->paid_fen = ob->sum_line_paid;
                r->has_paid_fen = true;
            }
            /* Lines without a paid amount of their own (Douyin, JD) share the order's: what
               was paid for goods (paid minus postage) in proportion to price x quantity. */
            if (b->col[HK_F_LINE_PAID] < 0 && r->has_paid_fen && r->nitems > 0) {
                int64_t *w = hk_arena_alloc(a, 2 * r->nitems * sizeof(*w));
                if (!w)
                    return HK_E(NOMEM);
                int64_t *paid = w + r->nitems;
                for (size_t i = 0; i < r->nitems; i++)
                    if (__builtin_mul_overflow(r->items[i].unit_price_fen,
                                               (int64_t)r->items[i].quantity, &w[i]))
                        w[i] = INT64_MAX / (int64_t)r->nitems;
                hk_allocate_fen(w, paid, r->nitems, r->paid_fen - r->postage_fen);
                for (size_t i = 0; i < r->nitems; i++)
                    r->items[i].paid_fen = paid[i];
            }
        }
        if (r->refund_fen == 0)
            r->refund_fen = ob->sum_line_refund;
    }

    /* Every line refunded (by its status or its after-sales case): the order is refunded. */
    if (ob->nitems > 0 && ob->n_item_refunded == ob->nitems && r->status != HK_ORDER_CANCELLED)
        r->status = HK_ORDER_REFUNDED;
    if (r->status == HK_ORDER_REFUNDED && r->refund_fen == 0 && !(flags & DF_STATUS_ONLY))
        r->refund_fen = r->paid_fen;

    /* The builder is reused for the next order: the record itself goes into the arena too. */
    struct hk_order_rec *copy = hk_arena_alloc(a, sizeof(*copy));
    if (!copy)
        return HK_E(NOMEM);
    *copy = *r;
    *out = copy;
    return 0;
}
