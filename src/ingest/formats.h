/*
 * formats.h — what each import format's columns mean (internal to ingest/).
 *
 * Every format is data: a table of canonical fields and the header names (aliases) that carry
 * them, which of them are required, a few marker columns that recognise the format from its
 * header, and its status words. The code around the tables is shared:
 *
 *   hk_fmt_bind      header -> binding (format recognised, each canonical field's column found,
 *                    required columns checked; unknown columns ignored)
 *   hk_fmt_convert   one CSV row -> one hk_fmt_row: cells cleaned and validated; a bad cell
 *                    makes a row error naming its column
 *   hk_order_builder rows of one order -> one hk_order_rec in an arena
 *
 * Cell cleaning (hk_cell_*) undoes what spreadsheets and seller centres do to values:
 * surrounding spaces and tabs (Douyin writes ids after a tab), `="245600000000009335"` (Taobao
 * keeps Excel from turning ids into numbers), a leading `'` before phones and ids. Full-width
 * digits are left alone: an id is kept as written, never silently changed.
 *
 * Threads: the tables are constant; a binding and a builder belong to one reader.
 */
#ifndef HK_INGEST_FORMATS_H
#define HK_INGEST_FORMATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/csv.h"
#include "ingest/record.h"

struct hk_arena;
struct hk_err;
struct hk_tz;

/** A view of text (not NUL-terminated in general). */
struct hk_str {
    const char *s;
    size_t len;
};

/* ---- cell cleaning ---- */

/** hk_cell_trim when the cell may have something to trim. */
struct hk_str hk_cell_trim_ends(struct hk_str v);
/** Drops ASCII spaces, tabs, CR/LF, U+00A0, U+3000, U+200B and U+FEFF at both ends. Inline: it
    runs for every cell (~20 a line), which mostly has nothing to trim: a first byte that starts
    none of those (C2, E2, E3, EF or ASCII up to ' ') and a last byte that ends none of them (A0,
    80, BF, 8B or ASCII up to ' ') settle it, for Chinese text too. */
static inline struct hk_str hk_cell_trim(struct hk_str v)
{
    if (v.len == 0)
        return v;
    unsigned char a = (unsigned char)v.s[0], z = (unsigned char)v.s[v.len - 1];
    if (a > ' ' && a != 0xC2 && a != 0xE2 && a != 0xE3 && a != 0xEF && z > ' ' && z != 0xA0 &&
        z != 0x80 && z != 0xBF && z != 0x8B)
        return v;
    return hk_cell_trim_ends(v);
}
/** `="…"` -> `…` (then trimmed); anything else unchanged. */
struct hk_str hk_cell_unwrap_formula(struct hk_str v);
/** For ids, order numbers and phones: trim, unwrap `="…"`, drop a leading `'`, trim again. */
struct hk_str hk_cell_clean_id(struct hk_str v);
/** True for a number in scientific notation ("2.456E+17", "2E17"): a mangled id. */
bool hk_cell_is_sci_notation(struct hk_str v);
/** True for a value the marketplace masked or encrypted: contains '*', or starts '#' or '$'. */
bool hk_cell_is_masked(struct hk_str v);
/**
 * Status words compared loosely: trimmed, full-width comma/parentheses made half-width, ASCII
 * lower-cased. Writes at most cap-1 bytes and a NUL into out; returns the length (a status longer
 * than cap-1 is cut, which then matches nothing).
 */
size_t hk_status_fold(struct hk_str v, char *out, size_t cap);

/* ---- canonical fields ---- */

enum hk_field {
    HK_F_ORDER_NO,
    HK_F_SUBORDER_NO,
    HK_F_BUYER_ID,
    HK_F_BUYER_NICK,
    HK_F_ALIPAY,
    HK_F_PHONE,
    HK_F_PHONE_ALT, /* landline, used when there is no mobile */
    HK_F_NAME,
    HK_F_ADDRESS,
    HK_F_PROVINCE,
    HK_F_CITY,
    HK_F_EMAIL,
    HK_F_CHANNEL,
    HK_F_SHOP,
    HK_F_STATUS,
    HK_F_AFTERSALE,
    HK_F_CREATED_AT,
    HK_F_PAID_AT,
    HK_F_SHIPPED_AT,
    HK_F_RECEIVED_AT,
    HK_F_ORDER_TOTAL,     /* goods total of the order */
    HK_F_ORDER_TOTAL_ALT, /* a total that includes postage (淘宝 总金额) */
    HK_F_POSTAGE,
    HK_F_DISCOUNT_SHOP,
    HK_F_DISCOUNT_PLATFORM,
    HK_F_ORDER_PAID,
    HK_F_ORDER_REFUND,
    HK_F_COUPON,
    HK_F_BUYER_NOTE,
    HK_F_SELLER_NOTE,
    HK_F_PRODUCT_ID,
    HK_F_SKU,
    HK_F_SKU_ALT,
    HK_F_TITLE,
    HK_F_VARIANT,
    HK_F_VARIANT_ALT,
    HK_F_CATEGORY,
    HK_F_QUANTITY,
    HK_F_UNIT_PRICE,
    HK_F_LINE_TOTAL,
    HK_F_LINE_PAID,
    HK_F_LINE_REFUND,
    HK_F_COUNT
};

enum hk_aftersale {
    HK_AS_NONE = 0, /* no after-sales case, or one that was withdrawn */
    HK_AS_OPEN,     /* under way, or an outcome that is not a refund */
    HK_AS_REFUNDED, /* money went back to the buyer */
};

struct hk_fmt_desc; /* one format's tables (formats.c) */

/** A header bound to a format. */
struct hk_fmt_binding {
    const struct hk_fmt_desc *desc;
    enum hk_import_format format;
    int col[HK_F_COUNT];  /* column index of each canonical field, -1 when absent */
    int col2[HK_F_COUNT]; /* a second column for the field (the same name twice), read when the
                             first one's cell is empty; -1 when none */
    bool any_col2;        /* some field has a second column */
    char **names;         /* header names as written (trimmed), one per column; owned */
    size_t ncols;
    size_t last_required; /* highest column index that a required field uses */
};

/**
 * Binds a header. want: HK_FMT_AUTO (recognise), or a format; TAOBAO_ORDERS and TAOBAO_DETAILS
 * are each corrected to the other when the header says so. On error returns HK_E(INVAL) with a
 * message that names the missing column, or says the format is not recognised; err->field holds
 * the missing column.
 */
int hk_fmt_bind(const struct hk_csv_field *hdr, size_t n, enum hk_import_format want,
                struct hk_fmt_binding *b, struct hk_err *err);
void hk_fmt_binding_release(struct hk_fmt_binding *b);
/** The channel a format's orders come from ("taobao", ...; "" for generic: per row). */
const char *hk_fmt_channel(const struct hk_fmt_binding *b);

/** Per-reader conversion state: the shop zone and a cache of local days. */
struct hk_fmt_ctx {
    const struct hk_tz *tz;
    struct {
        int32_t ymd;      /* 0 = empty */
        int64_t midnight; /* instant of local 00:00:00 */
        bool uniform;     /* no UTC offset change within the day */
    } days[64];
};
void hk_fmt_ctx_init(struct hk_fmt_ctx *ctx, const struct hk_tz *tz);

/** One converted row. Text views point into the CSV row (valid until the next CSV read). */
struct hk_fmt_row {
    struct hk_str v[HK_F_COUNT]; /* cleaned text; len 0 = absent */
    int64_t num[HK_F_COUNT];     /* fen for amounts, epoch seconds for times, count for qty */
    bool has[HK_F_COUNT];        /* an amount or time was given */
    bool local[HK_F_COUNT];      /* a time written without an offset (read in the default zone) */
    bool order_ok;               /* v[HK_F_ORDER_NO] is a usable order number */
    enum hk_order_status status;
    enum hk_aftersale aftersale;
    const char *channel; /* static */
    bool phone_masked, name_masked, address_masked;
};

/** Empties a row once before its first hk_fmt_convert (which then resets only its own fields). */
void hk_fmt_row_init(struct hk_fmt_row *row);

/**
 * Converts one row into out (initialised by hk_fmt_row_init, then reused from row to row with
 * the same binding). Returns 0 when the row is good, 1 when it is bad (column and message filled
 * in *bad; out->order_ok still tells whether the order number could be read so the row's order
 * can be withheld), or HK_E(NOMEM).
 */
int hk_fmt_convert(const struct hk_fmt_binding *b, struct hk_fmt_ctx *ctx,
                   const struct hk_csv_field *f, size_t nf, struct hk_fmt_row *out,
                   struct hk_row_error *bad);

/**
 * For a header with a column twice (col2): where the first one's cell is empty, the second one's
 * cell takes its place in f, so hk_fmt_convert reads it. Nothing to do (and no cost) otherwise.
 */
void hk_fmt_fill_second_columns(const struct hk_fmt_binding *b, struct hk_csv_field *f, size_t nf);

/**
 * Reads only the order number of a row that could not be converted as a whole (e.g. one with
 * bytes that are not text): true and *out when the order-number cell is usable.
 */
bool hk_fmt_peek_order_no(const struct hk_fmt_binding *b, const struct hk_csv_field *f, size_t nf,
                          struct hk_str *out);

/* ---- assembling orders ---- */

/** Builds one order from its rows. Reused from order to order; memory kept between orders. */
struct hk_order_builder {
    struct hk_order_rec rec;
    struct hk_item_rec *items;
    uint64_t *item_hash;
    size_t nitems, cap;
    uint32_t *table; /* open addressing over items: index + 1, 0 = empty */
    size_t tcap;
    size_t nrows;
    size_t n_item_refunded; /* items whose row said the money went back */
    int64_t sum_line_total, sum_line_paid, sum_line_refund, sum_postage, sum_discount;
    int64_t sum_order_paid;
    bool sum_overflow;
    bool first_status_closed; /* the status so far came from a refunded/cancelled row */
};

void hk_order_builder_init(struct hk_order_builder *ob);
void hk_order_builder_release(struct hk_order_builder *ob);

/**
 * Starts an order from its first row: order-level fields are copied into the arena. file:
 * borrowed display name. Returns 0 or HK_E(NOMEM).
 */
int hk_order_builder_start(struct hk_order_builder *ob, const struct hk_fmt_binding *b,
                           struct hk_arena *a, const struct hk_fmt_row *row, const char *file,
                           int64_t record, int64_t line);
/**
 * Adds a row (the first one too): its line item, unless an identical one is already in the order,
 * and its share of the sums. Returns 0, 1 when an amount overflowed (the row is bad: message in
 * *bad), or HK_E(NOMEM).
 */
int hk_order_builder_add(struct hk_order_builder *ob, const struct hk_fmt_binding *b,
                         struct hk_arena *a, const struct hk_fmt_row *row, int64_t record,
                         int64_t line, struct hk_row_error *bad);
/** Finishes the order: items copied into the arena, totals and final status set. */
int hk_order_builder_finish(struct hk_order_builder *ob, const struct hk_fmt_binding *b,
                            struct hk_arena *a, const struct hk_order_rec **out);

#endif
