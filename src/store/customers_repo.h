/*
 * store/customers_repo.h — the customer repository for reading: a customer row, its identities,
 * tags and merged-away customers, its aggregates over its orders, its timeline of orders (with
 * their items) and events, and the customer search (schema in sql/0001_init.sql). Writes to
 * customers belong to the importer and identity resolution (store/ingest_repo.*).
 *
 * Design
 *   One function per question, each taking a connection the caller has acquired (the caller,
 *   services/customers.c, decides whether several share a read transaction). Rows come back as
 *   plain structs: fixed buffers for short text (truncated at a UTF-8 character boundary, so a
 *   value is always valid UTF-8), heap copies for unbounded text (event properties, addresses).
 *   PII columns come back sealed, exactly as stored: decrypting and masking are the service's
 *   business, and no clear PII passes through this layer.
 *
 *   Aggregates are computed by SQL over the orders every time (no denormalised copy that could
 *   drift from the orders): an order counts toward a customer's value when its status is paid,
 *   shipped or completed (HK_CUST_COUNTED_SQL); its purchase time is paid_at, or created_at when
 *   it has none. For very large shops the engine's in-memory table will take over the list
 *   sorts by spend and last purchase, which today aggregate all orders per page.
 *
 *   Paging is keyset, never OFFSET: each page asks for rows strictly after the last row of the
 *   previous one in a total order (sort key, then id as the tie-breaker), so every row is seen
 *   exactly once however the pages are interleaved with writes elsewhere. Sort keys are never
 *   NULL (a customer without purchases has last purchase 0 and spend 0), so NULL ordering,
 *   which differs between SQLite and PostgreSQL, never matters.
 *
 * Portability (SQLite and PostgreSQL)
 *   Case-insensitive nick prefix: lower(nick) LIKE lower(pattern) ESCAPE '\' (no ILIKE in
 *   SQLite; LIKE is case-sensitive on PostgreSQL); the pattern's own %, _ and \ are escaped.
 *   No integer division and no floating point in SQL: ratios are made in C from counts. SUM of
 *   BIGINT is NUMERIC on PostgreSQL; the store reads it as int64.
 *
 * Errors: 0 or a negative HK_E code with err filled; HK_E(NOTFOUND) where a single row is asked
 * for and there is none; HK_E(NOMEM).
 *
 * Threads: stateless; a db is used by one thread at a time (store.h).
 */
#ifndef HK_STORE_CUSTOMERS_REPO_H
#define HK_STORE_CUSTOMERS_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_db;
struct hk_err;

#define HK_CUST_TEXT_MAX    256  /* nick, identity values, tag names, categories, shop names */
#define HK_CUST_SHORT_MAX   64   /* channel, kind, status, province, city, dates, zone names */
#define HK_CUST_TITLE_MAX   512  /* product titles, variants */
#define HK_CUST_SEALED_MAX  1024 /* a sealed phone or name (nonce + MAC + value) */
#define HK_CUST_HASH_MAX    72   /* hex look-up hashes (core/pii.h, HK_PII_HASH_HEX: 32) */
#define HK_CUST_ORDERNO_MAX 128

/** A customer row. Sealed values have *_len 0 when the column is NULL. */
struct hk_cust_row {
    int64_t id;
    int64_t merged_into; /* 0: not merged */
    char nick[HK_CUST_TEXT_MAX];
    unsigned char name_enc[HK_CUST_SEALED_MAX];
    size_t name_enc_len;
    unsigned char phone_enc[HK_CUST_SEALED_MAX];
    size_t phone_enc_len;
    char phone_hash[HK_CUST_HASH_MAX];    /* "" when NULL */
    char phone_masked[HK_CUST_SHORT_MAX]; /* "" when NULL */
    char email[HK_CUST_TEXT_MAX];         /* "" when NULL */
    char province[HK_CUST_SHORT_MAX], city[HK_CUST_SHORT_MAX];
    unsigned char *address_enc; /* new (hk_cust_row_release); NULL when NULL */
    size_t address_enc_len;
    char birthday[HK_CUST_SHORT_MAX]; /* "YYYY-MM-DD" or "" */
    char gender[8];                   /* "", "f", "m" */
    int64_t created_at, updated_at;
};

/** Frees what a hk_cust_row owns (address_enc); the row stays usable as an empty one. */
void hk_cust_row_release(struct hk_cust_row *row);

/** The customer with id, merged or not (HK_E(NOTFOUND) when there is none). *out is filled. */
int hk_cust_get(struct hk_db *db, int64_t id, struct hk_cust_row *out, struct hk_err *err);

/**
 * Ids of the customers merged into id (merged_into = id), ascending, at most cap, into ids;
 * the count into *n.
 */
int hk_cust_merged_ids(struct hk_db *db, int64_t id, size_t cap, int64_t *ids, size_t *n,
                       struct hk_err *err);

struct hk_cust_identity_row {
    int64_t id;
    char channel[HK_CUST_SHORT_MAX];
    char kind[HK_CUST_SHORT_MAX];
    char value[HK_CUST_TEXT_MAX]; /* phone, recipient: the keyed hash, never the clear value */
    int64_t created_at;
};

/**
 * The identities of customer id ordered by channel, kind, id. *out is a new array (caller
 * frees; NULL when *n is 0).
 */
int hk_cust_identities(struct hk_db *db, int64_t id, struct hk_cust_identity_row **out, size_t *n,
                       struct hk_err *err);

struct hk_cust_tag_row {
    int64_t id;
    char name[HK_CUST_TEXT_MAX];
    char kind[HK_CUST_SHORT_MAX];   /* tags.kind: manual, rule, model */
    char source[HK_CUST_SHORT_MAX]; /* customer_tags.source */
    char color[HK_CUST_SHORT_MAX];
    int64_t created_at; /* when the tag was put on the customer */
};

/** The tags of customer id ordered by name, id. *out new (caller frees; NULL when *n is 0). */
int hk_cust_tags(struct hk_db *db, int64_t id, struct hk_cust_tag_row **out, size_t *n,
                 struct hk_err *err);

/** A customer's value, computed over their orders. */
struct hk_cust_aggregates {
    int64_t order_count;       /* counted orders (paid, shipped, completed) */
    int64_t first_purchase_at; /* purchase time of the first counted order; 0 when none */
    int64_t last_purchase_at;  /* ... of the last one; 0 when none */
    int64_t net_spend_fen;     /* sum of paid - refund over counted orders */
    int64_t coupon_orders;     /* counted orders that carry a coupon code */
    int64_t refund_count;      /* orders (any status) refunded or with a refund > 0 */
    char main_category[HK_CUST_TEXT_MAX]; /* "" when none; see hk_cust_aggregates_get */
    int64_t main_category_fen;            /* the net spend in main_category */
};

/**
 * The aggregates of customer id into *out. The main category is the non-empty category (the
 * line's own, else its product's) with the largest net spend (sum of line paid - line refund)
 * over counted orders; ties go to the larger quantity, then to the smaller category name.
 */
int hk_cust_aggregates_get(struct hk_db *db, int64_t id, struct hk_cust_aggregates *out,
                           struct hk_err *err);

/* ---- timeline --------------------------------------------------------------------------- */

enum hk_cust_tl_kind { HK_CUST_TL_ORDER = 1, HK_CUST_TL_EVENT = 2 };

/**
 * A position in a timeline: entries are ordered by (at, kind, id) descending, newest first, and
 * a page holds the entries strictly after the cursor in that order. The first page: at =
 * INT64_MAX (hk_cust_tl_cursor_first).
 */
struct hk_cust_tl_cursor {
    int64_t at;
    int kind;
    int64_t id;
};
struct hk_cust_tl_cursor hk_cust_tl_cursor_first(void);

struct hk_cust_tl_row {
    enum hk_cust_tl_kind kind;
    int64_t id;      /* orders.id or events.id */
    int64_t at;      /* orders.created_at or events.at */
    int64_t shop_id; /* 0 when none */
    char shop_name[HK_CUST_TEXT_MAX], shop_channel[HK_CUST_SHORT_MAX];
    char shop_timezone[HK_CUST_SHORT_MAX]; /* "" when no shop */
    /* orders */
    char order_no[HK_CUST_ORDERNO_MAX];
    char status[HK_CUST_SHORT_MAX];
    int64_t total_fen, discount_fen, postage_fen, paid_fen, refund_fen;
    char coupon_code[HK_CUST_TEXT_MAX];                                  /* "" when none */
    int64_t paid_at, shipped_at, received_at, refunded_at, cancelled_at; /* 0: never */
    /* events */
    char event_type[HK_CUST_SHORT_MAX];
    char *properties; /* JSON object text (new; see hk_cust_tl_rows_free); NULL for orders */
};

/**
 * At most cap timeline entries of customer id after cursor, newest first, into *out (new; free
 * with hk_cust_tl_rows_free); the count into *n.
 */
int hk_cust_timeline(struct hk_db *db, int64_t id, const struct hk_cust_tl_cursor *after,
                     size_t cap, struct hk_cust_tl_row **out, size_t *n, struct hk_err *err);
/** Frees rows returned by hk_cust_timeline (and their properties). rows may be NULL. */
void hk_cust_tl_rows_free(struct hk_cust_tl_row *rows, size_t n);

struct hk_cust_item_row {
    int64_t order_id;
    int line_no;
    char product_ext_id[HK_CUST_TEXT_MAX]; /* products.external_id, "" when none */
    char category[HK_CUST_TEXT_MAX];       /* the line's, else its product's */
    char title[HK_CUST_TITLE_MAX];
    char sku[HK_CUST_TEXT_MAX];
    char variant[HK_CUST_TITLE_MAX];
    int64_t quantity, unit_price_fen, paid_fen, refund_fen;
    bool placeholder;
};

/**
 * The line items of customer id's orders created within [from, to] (inclusive), ordered by
 * order id, line number: one query for a whole timeline page. *out new (caller frees).
 */
int hk_cust_order_items(struct hk_db *db, int64_t id, int64_t from, int64_t to,
                        struct hk_cust_item_row **out, size_t *n, struct hk_err *err);

/* ---- search ----------------------------------------------------------------------------- */

/** What q is matched against. */
enum hk_cust_match {
    HK_CUST_MATCH_ALL = 0, /* no filter: every customer */
    HK_CUST_MATCH_ANY,     /* any of the four below */
    HK_CUST_MATCH_NICK,    /* nick starts with q, case-insensitively for ASCII */
    HK_CUST_MATCH_NAME,    /* name_hash = hash of the real name */
    HK_CUST_MATCH_PHONE,   /* phone_hash = hash of the normalised phone */
    HK_CUST_MATCH_ORDER,   /* has an order with this order number (any shop) */
};

enum hk_cust_sort {
    HK_CUST_SORT_ID = 0,
    HK_CUST_SORT_CREATED,    /* customers.created_at */
    HK_CUST_SORT_LAST_ORDER, /* last purchase time (0 when none) */
    HK_CUST_SORT_SPEND,      /* net spend */
};

struct hk_cust_query {
    enum hk_cust_match match;
    const char *nick_prefix; /* NICK / ANY: the prefix as typed */
    const char *name_hash;   /* NAME / ANY */
    const char *phone_hash;  /* PHONE / ANY */
    const char *order_no;    /* ORDER / ANY */
    enum hk_cust_sort sort;
    bool descending;
    /* keyset: rows strictly after (after_key, after_id) in the sort order; has_after false for
       the first page. after_key is ignored for HK_CUST_SORT_ID. */
    bool has_after;
    int64_t after_key, after_id;
};

/** A customer as a search result lists it. */
struct hk_cust_list_row {
    int64_t id;
    char nick[HK_CUST_TEXT_MAX];
    unsigned char name_enc[HK_CUST_SEALED_MAX];
    size_t name_enc_len;
    unsigned char phone_enc[HK_CUST_SEALED_MAX];
    size_t phone_enc_len;
    char phone_masked[HK_CUST_SHORT_MAX];
    char province[HK_CUST_SHORT_MAX], city[HK_CUST_SHORT_MAX];
    char gender[8];
    int64_t created_at;
    int64_t order_count, net_spend_fen, last_purchase_at;
    int64_t sort_key; /* the value sorted on, for the next cursor */
};

/**
 * Customers that are not merged away and match q, in q's order, at most cap, into rows
 * (caller's array of cap); the count into *n.
 */
int hk_cust_search(struct hk_db *db, const struct hk_cust_query *q, size_t cap,
                   struct hk_cust_list_row *rows, size_t *n, struct hk_err *err);

#endif
