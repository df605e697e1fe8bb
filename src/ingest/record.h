/*
 * record.h — the canonical order record every import format is parsed into, and the row-level
 * error report. This is the contract between the format parsers (csv.c, formats.c) and the
 * importer (import.c), which knows nothing of the formats.
 *
 * One hk_order_rec is one order as one file describes it: order-level fields plus zero or more
 * line items. Strings are UTF-8, NUL-terminated, owned by the reader's arena (valid until the
 * next call that produces records); "" means absent. Times are epoch seconds, 0 = absent.
 * Money is fen.
 *
 * PII arrives here in clear text (phone, name, address) or already masked by the marketplace
 * ("138****5678", "##3f…", "$$…"); *_masked tells which. The importer encrypts clear values and
 * keeps masked ones as they came — a masked value is never guessed or used as an identity.
 */
#ifndef HK_INGEST_RECORD_H
#define HK_INGEST_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum hk_order_status {
    HK_ORDER_UNKNOWN = 0,
    HK_ORDER_CREATED,   /* placed, not paid */
    HK_ORDER_PAID,      /* paid, not shipped */
    HK_ORDER_SHIPPED,   /* shipped, not yet received */
    HK_ORDER_COMPLETED, /* received / trade succeeded */
    HK_ORDER_REFUNDED,  /* paid, then fully refunded or closed after payment */
    HK_ORDER_CANCELLED, /* closed before payment */
};

/** "created", "paid", ... as stored; "" for UNKNOWN. */
const char *hk_order_status_name(enum hk_order_status s);
/** Parses a stored status name; HK_ORDER_UNKNOWN when not one. */
enum hk_order_status hk_order_status_parse(const char *s);
/**
 * Splits amount (fen, < 0 taken as 0) over n lines in proportion to weights (price x quantity):
 * out[i] = floor(amount * w[i] / sum w), the rounding remainder on the line with the largest
 * weight (the first of equals), so the out[] sum to amount exactly. All weights 0: all on line 0.
 */
void hk_allocate_fen(const int64_t *weights, int64_t *out, size_t n, int64_t amount);
/** Paid, shipped and completed orders count toward a customer's value. */
bool hk_order_status_counted(enum hk_order_status s);

enum hk_import_format {
    HK_FMT_AUTO = 0,
    HK_FMT_GENERIC,
    HK_FMT_TAOBAO_ORDERS,  /* ExportOrderList*.csv: one row per order */
    HK_FMT_TAOBAO_DETAILS, /* ExportOrderDetailList*.csv: one row per line item */
    HK_FMT_DOUYIN,
    HK_FMT_PDD,
    HK_FMT_JD,
};

/* Bits of hk_order_rec.local_times. */
enum {
    HK_LOCAL_CREATED = 1u << 0,
    HK_LOCAL_PAID = 1u << 1,
    HK_LOCAL_SHIPPED = 1u << 2,
    HK_LOCAL_RECEIVED = 1u << 3,
    HK_LOCAL_REFUNDED = 1u << 4,
    HK_LOCAL_CANCELLED = 1u << 5,
};

struct hk_item_rec {
    const char *product_id; /* the marketplace's product/goods id ("" when the file has none) */
    const char *sku;        /* seller's code / outer id (商家编码, 外部系统编号) */
    const char *title;
    const char *variant; /* 商品属性 / 商品规格 / 套餐信息 */
    const char *category;
    int32_t quantity;
    int64_t unit_price_fen;
    int64_t paid_fen; /* what the buyer paid for this line (0 when the file doesn't say) */
    int64_t refund_fen;
    /* provenance of the row this item came from */
    int64_t record, line;
};

struct hk_order_rec {
    enum hk_import_format format;
    const char *channel; /* taobao, tmall, jd, pdd, douyin, wechat, pos, other */
    const char *shop;    /* shop name from the file, or "" (the importer applies --shop/default) */
    const char *order_no;

    /* buyer */
    const char *buyer_id; /* stable account id on the channel (淘宝 会员名, JD 下单帐号, …) */
    const char *buyer_nick;
    const char *alipay; /* 买家支付宝账号 (often masked) */
    const char *phone;  /* as found, spaces/' removed; the importer normalises to +86 */
    bool phone_masked;
    const char *name; /* recipient's real name */
    bool name_masked;
    const char *address;
    bool address_masked;
    const char *province, *city;
    const char *email;

    enum hk_order_status status;
    int64_t created_at, paid_at, shipped_at, received_at, refunded_at, cancelled_at;
    int64_t total_fen; /* goods total before discounts */
    int64_t postage_fen;
    int64_t discount_fen;
    int64_t paid_fen; /* what the buyer paid for the whole order */
    int64_t refund_fen;
    bool has_paid_fen; /* false when the file had no order-level paid amount (sum the items) */
    const char *coupon_code;
    const char *buyer_note;
    const char *seller_note;
    const char *status_text; /* the file's own status words, for history */
    /* Times written without a UTC offset are the shop's local time, a zone only the importer
       learns (shops.timezone, or the default zone for a shop not stored yet). Two marks, as
       HK_LOCAL_* bits:
       local_times  (REST ingest) the time holds the wall clock read as if it were UTC;
                    hk_ingest_orders re-reads it in the shop's zone;
       zone_times   (file readers) the time was read in the default zone; the importer re-reads
                    it in the shop's zone when that differs. */
    unsigned local_times;
    unsigned zone_times;

    struct hk_item_rec *items;
    size_t nitems;

    /* provenance: the file and the first/last record (1-based, header excluded) and physical
       line (1-based, header included) this order came from */
    const char *file;
    int64_t first_record, last_record;
    int64_t first_line, last_line;
};

/** One rejected row: where and why. */
struct hk_row_error {
    const char *file;  /* borrowed from the import */
    int64_t record;    /* 1-based data record number (header not counted) */
    int64_t line;      /* 1-based physical line where the record starts */
    char column[64];   /* the column at fault, as named in the file's header; "" if none */
    char message[256]; /* the reason, in words a seller understands */
};

#endif
