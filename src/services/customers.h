/*
 * customers.h — the customer 360 profile, its timeline, and customer search, as staff see them.
 *
 * What a caller gets depends on their role (accounts.h: hk_role_may_read_pii):
 *   - admin and manager read PII in clear: phone (+86 form), real name, full address, e-mail;
 *   - operator, agent and associate get it masked: phone "138****5678" (the stored
 *     phone_masked), name as its first character and "*" ("张*"), address as province and city
 *     only, e-mail as "a***@qq.com". Phone identities (stored as keyed hashes) show the
 *     customer's phone, masked or clear by the same rule.
 *   Associates (导购) see every customer, like agents, until customers are assigned to them.
 * Decryption happens here, in memory, for the response only; nothing decrypted is logged. A
 * value that cannot be decrypted (wrong key file) is returned as absent and logged by customer
 * id only.
 *
 * Merged customers: a customer merged into another (customers.merged_into) is read as the
 * survivor: hk_customers_get and hk_customers_timeline of a merged-away id answer with the
 * customer it was merged into (following chains of merges), with merged_from set to the id
 * asked for. Search never lists merged-away customers.
 *
 * Value: an order counts toward a customer's value when it is paid, shipped or completed (not
 * created, refunded or cancelled); net spend is the sum of paid - refund over counted orders,
 * AOV is net spend / counted orders rounded to the nearest fen, coupon-use rate is counted
 * orders with a coupon / counted orders, refund count is orders refunded or with a refund > 0.
 * A purchase's time is its payment time, or its creation time when it has none.
 *
 * Paging: search and timeline pages are keyset-paged; cursors are opaque strings ("" for the
 * last page) to pass back as they came.
 *
 * Threads: every function may be called concurrently; each takes its own connection. `now` is
 * not needed: nothing here depends on the clock.
 */
#ifndef HK_SERVICES_CUSTOMERS_H
#define HK_SERVICES_CUSTOMERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_app;
struct hk_err;
struct hk_principal;
struct hk_segment_error;

#define HK_CUSTOMER_TEXT_MAX   256
#define HK_CUSTOMER_SHORT_MAX  64
#define HK_CUSTOMER_TITLE_MAX  512
#define HK_CUSTOMER_CURSOR_MAX 96
#define HK_CUSTOMER_PAGE_MAX   500 /* largest limit of a search or timeline page */
#define HK_CUSTOMER_MERGED_MAX 100 /* merged-away ids listed on a profile */

/* ---- timeline --------------------------------------------------------------------------- */

struct hk_customer_item {
    int line_no;
    char product_id[HK_CUSTOMER_TEXT_MAX]; /* the channel's product id, "" when unknown */
    char category[HK_CUSTOMER_TEXT_MAX];
    char title[HK_CUSTOMER_TITLE_MAX];
    char sku[HK_CUSTOMER_TEXT_MAX];
    char variant[HK_CUSTOMER_TITLE_MAX];
    int64_t quantity, unit_price_fen, paid_fen, refund_fen;
    bool placeholder; /* made from an order-only export; details not imported yet */
};

enum hk_timeline_kind { HK_TIMELINE_ORDER = 1, HK_TIMELINE_EVENT = 2 };

struct hk_timeline_entry {
    enum hk_timeline_kind kind;
    int64_t id;          /* order id or event id */
    int64_t at;          /* order: created_at; event: at */
    char local_date[16]; /* "YYYY-MM-DD" in the shop's time zone (default zone without a shop) */
    char local_time[24]; /* "YYYY-MM-DD HH:MM:SS", same zone */
    int64_t shop_id;     /* 0 when none */
    char shop_name[HK_CUSTOMER_TEXT_MAX], shop_channel[HK_CUSTOMER_SHORT_MAX];
    /* orders */
    char order_no[128];
    char status[HK_CUSTOMER_SHORT_MAX];
    bool counted; /* counts toward the customer's value */
    int64_t total_fen, discount_fen, postage_fen, paid_fen, refund_fen;
    char coupon_code[HK_CUSTOMER_TEXT_MAX];                              /* "" when none */
    int64_t paid_at, shipped_at, received_at, refunded_at, cancelled_at; /* 0: not (yet) */
    const struct hk_customer_item *items; /* borrowed from the page */
    size_t nitems;
    /* events */
    char event_type[HK_CUSTOMER_SHORT_MAX];
    const char *properties; /* JSON object text, borrowed from the page; NULL for orders */
};

struct hk_timeline_page {
    struct hk_timeline_entry *entries; /* newest first */
    size_t n;
    char next_cursor[HK_CUSTOMER_CURSOR_MAX]; /* "" on the last page */
    /* owned storage the entries point into */
    struct hk_customer_item *items_;
    size_t nitems_;
    char **properties_;
};

/** Frees a page; leaves it empty. p may be NULL. */
void hk_timeline_page_release(struct hk_timeline_page *p);

/* ---- profile ---------------------------------------------------------------------------- */

struct hk_customer_identity {
    char channel[HK_CUSTOMER_SHORT_MAX]; /* taobao, jd, ..., or "*" for phone and e-mail */
    char kind[HK_CUSTOMER_SHORT_MAX]; /* buyer_id, nick, open_id, union_id, phone, email, recipient,
                                         ... */
    char value[HK_CUSTOMER_TEXT_MAX]; /* as the caller may see it; "" when unknown */
    int64_t created_at;
};

struct hk_customer_tag {
    int64_t id;
    char name[HK_CUSTOMER_TEXT_MAX];
    char kind[HK_CUSTOMER_SHORT_MAX];
    char source[HK_CUSTOMER_SHORT_MAX];
    char color[HK_CUSTOMER_SHORT_MAX];
    int64_t created_at;
};

struct hk_customer_profile {
    int64_t id;
    int64_t merged_from; /* the id asked for when it was merged into id; 0 otherwise */
    int64_t merged_ids[HK_CUSTOMER_MERGED_MAX]; /* customers merged into this one */
    size_t n_merged;
    bool pii_masked; /* the caller's role sees PII masked */

    char nick[HK_CUSTOMER_TEXT_MAX];
    char name[HK_CUSTOMER_TEXT_MAX];   /* "" when unknown */
    char phone[HK_CUSTOMER_SHORT_MAX]; /* "" when unknown */
    char email[HK_CUSTOMER_TEXT_MAX];  /* "" when unknown */
    char *address;                     /* new; NULL when unknown */
    char province[HK_CUSTOMER_SHORT_MAX], city[HK_CUSTOMER_SHORT_MAX];
    char birthday[HK_CUSTOMER_SHORT_MAX]; /* "YYYY-MM-DD" or "" */
    char gender[8];                       /* "", "f", "m" */
    int64_t created_at, updated_at;

    struct hk_customer_identity *identities; /* new; ordered by channel, kind */
    size_t n_identities;
    struct hk_customer_tag *tags; /* new; ordered by name */
    size_t n_tags;

    int64_t order_count;
    int64_t first_purchase_at, last_purchase_at;          /* 0 when none */
    char first_purchase_date[16], last_purchase_date[16]; /* default shop zone; "" when none */
    int64_t net_spend_fen;
    int64_t aov_fen;                          /* 0 when no counted order */
    char main_category[HK_CUSTOMER_TEXT_MAX]; /* "" when none */
    int64_t coupon_orders;
    double coupon_use_rate; /* 0..1, 4 decimals; 0 when no counted order */
    int64_t refund_count;

    /* From the engine as of the clock's now (has_engine false when this process has none, e.g.
     * a CLI command, or the engine does not know the customer yet). */
    bool has_engine;
    bool has_recency; /* a buyer: recency_days and first_order_days valid */
    int32_t recency_days, first_order_days;
    int r_score, f_score, m_score;      /* 0 for non-buyers */
    char rfm_segment[64], rfm_tier[64]; /* "" for non-buyers */
    char channels[256];                 /* the customer's channels, comma-separated */
    /* RFM per shop the customer bought in (scored among that shop's buyers), every one */
    struct hk_customer_shop_rfm {
        int64_t shop_id;
        char channel[64], name[128]; /* the shop's */
        int32_t recency_days;
        int64_t frequency, monetary_fen;
        int r_score, f_score, m_score;      /* 0 before the shop's first rescore */
        char rfm_segment[64], rfm_tier[64]; /* "" before it */
    } * shops; /* n_shops entries, malloc'd (released with the profile) */
    size_t n_shops;

    struct hk_timeline_page timeline; /* the first page */
};

/** Frees what a profile owns; leaves it empty. p may be NULL. */
void hk_customer_profile_release(struct hk_customer_profile *p);

/**
 * The 360 profile of customer id as `who` may see it, with the first timeline_limit (1-500;
 * other values become 20) timeline entries. A merged-away id answers with its survivor
 * (merged_from = id). HK_E(NOTFOUND) when there is no such customer. *out is filled (release
 * with hk_customer_profile_release) only on success.
 */
int hk_customers_get(struct hk_app *app, const struct hk_principal *who, int64_t id,
                     int timeline_limit, struct hk_customer_profile *out, struct hk_err *err);

/**
 * A page of customer id's timeline (survivor of a merge as above; its id into *resolved_id, may
 * be NULL) after cursor (NULL or "": the newest), at most limit (1-500; other values become
 * 20). HK_E(INVAL) naming "cursor" for a cursor this function did not make; HK_E(NOTFOUND).
 * *out filled only on success (release with hk_timeline_page_release).
 */
int hk_customers_timeline(struct hk_app *app, const struct hk_principal *who, int64_t id,
                          const char *cursor, int limit, struct hk_timeline_page *out,
                          int64_t *resolved_id, struct hk_err *err);

/* ---- search ----------------------------------------------------------------------------- */

/** A search request as the API receives it; every string may be NULL or "" (the default). */
struct hk_customer_search {
    const char *q;      /* the search text; empty: every customer */
    const char *by;     /* any (default), nick, name, phone, order */
    const char *sort;   /* id (default), created, last_order, spend */
    const char *order;  /* desc (default), asc */
    const char *cursor; /* next_cursor of the previous page */
    int limit;          /* 1-500; other values become 50 */
    /* a segment expression the customers must also match (services/customer_filter.h); NULL
       or "" = none. On HK_E(INVAL) for the expression, *expr_error (when not NULL) says where. */
    const char *expr;
    struct hk_segment_error *expr_error;
};

struct hk_customer_summary {
    int64_t id;
    char nick[HK_CUSTOMER_TEXT_MAX];
    char name[HK_CUSTOMER_TEXT_MAX];   /* masked by role as in the profile; "" when unknown */
    char phone[HK_CUSTOMER_SHORT_MAX]; /* idem */
    char province[HK_CUSTOMER_SHORT_MAX], city[HK_CUSTOMER_SHORT_MAX];
    char gender[8];
    int64_t created_at;
    int64_t order_count, net_spend_fen, last_purchase_at;
    char last_purchase_date[16]; /* default shop zone; "" when none */
    char **tags;                 /* tag names, stored and rule (services/tags.h); new */
    size_t n_tags;
};

struct hk_customer_list {
    struct hk_customer_summary *items; /* new (hk_customer_list_release) */
    size_t n;
    char next_cursor[HK_CUSTOMER_CURSOR_MAX]; /* "" on the last page */
    const char *sort, *order, *by;            /* as applied (static strings) */
    bool pii_masked;
    bool filtered;     /* an expr was given */
    size_t expr_count; /* filtered: the customers matching expr (before q) */
};

void hk_customer_list_release(struct hk_customer_list *l);

/**
 * Finds customers (never merged-away ones) by q: `by` nick matches nicks starting with q,
 * case-insensitively for ASCII; name the exact real name; phone the exact number in any common
 * way of writing it ("138 1234 5678", "+86 138-1234-5678", "008613812345678"); order an exact
 * order number (in any shop); any (the default) all four at once. Sorted by `sort` then id, in
 * `order`. HK_E(INVAL) naming the parameter for an unknown by, sort or order, or a cursor made
 * for another sort. *out filled only on success.
 */
int hk_customers_search(struct hk_app *app, const struct hk_principal *who,
                        const struct hk_customer_search *in, struct hk_customer_list *out,
                        struct hk_err *err);

/* ---- contact details for lists and exports ---------------------------------------------- */

/** A customer's nick, phone (clear or masked), province and city, by id. */
struct hk_customer_contact {
    int64_t id; /* in: the customer */
    bool found; /* out: false when there is no such customer (the strings are then "") */
    char nick[HK_CUSTOMER_TEXT_MAX];
    char phone[HK_CUSTOMER_SHORT_MAX]; /* clear (+86 form) when clear, else masked; "" unknown */
    char province[HK_CUSTOMER_SHORT_MAX], city[HK_CUSTOMER_SHORT_MAX];
};

/**
 * Fills items[0..n) by their id on one connection. clear: the caller may read PII
 * (hk_role_may_read_pii); otherwise phones are masked as in the profile. Decrypted values live
 * only in the items.
 */
int hk_customers_contacts(struct hk_app *app, bool clear, struct hk_customer_contact *items,
                          size_t n, struct hk_err *err);

#endif
