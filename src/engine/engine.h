/*
 * engine.h — huike's in-memory customer engine: one row per customer in struct-of-arrays
 * columns, the customer's purchase and event history, aggregates, RFM, and (segment.h) the
 * segment language evaluated into bitmaps over the table.
 *
 * The engine is a derived index of the store: it holds nothing the store does not. It is filled
 * either in bulk (cold start: add shops, products, customers, orders, events in any order, then
 * hk_engine_load_finish) or one change at a time (hk_engine_apply_order, hk_engine_merge, ...),
 * through the same functions. Every identifier it takes is the store's id (customer, order, shop,
 * product); strings (product external ids, categories, channels, tags, event types, provinces,
 * cities) are interned into dictionaries.
 *
 * Time: the engine never reads the clock. Orders and events are stored as shop-local day
 * numbers (core/tz.h) in their shop's zone; functions that depend on "today" take `now`.
 *
 * Threading: a hk_engine is not internally locked. Any number of threads may read it (segment
 * evaluation, hk_engine_customer_get, report) while no thread writes; writers (add / apply /
 * merge / recompute / rescore) need exclusive access — the caller holds a rwlock. Recompute and
 * large segment scans use up to `threads` worker threads of their own.
 */
#ifndef HK_ENGINE_ENGINE_H
#define HK_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_err;
struct hk_engine;

#define HK_ENGINE_NONE UINT32_MAX /* "no value" for dictionary ids */

enum hk_order_status {
    HK_ORDER_CREATED = 0,
    HK_ORDER_PAID,
    HK_ORDER_SHIPPED,
    HK_ORDER_COMPLETED,
    HK_ORDER_REFUNDED,
    HK_ORDER_CANCELLED
};

/** Parses a store status ("paid", ...). Returns 0 or HK_E(INVAL). */
int hk_engine_status_parse(const char *s, enum hk_order_status *out);
/** True for the counted statuses: paid, shipped, completed. */
bool hk_engine_status_counted(enum hk_order_status st);

/** The engine's string dictionaries. */
enum hk_dict_kind {
    HK_DICT_PRODUCT = 0, /* products.external_id */
    HK_DICT_CATEGORY,
    HK_DICT_PROVINCE,
    HK_DICT_CITY,
    HK_DICT_CHANNEL,
    HK_DICT_TAG,
    HK_DICT_EVENT_TYPE,
    HK_DICT_COUNT_
};

struct hk_engine_opts {
    const char *default_timezone; /* for events without a shop; NULL = Asia/Shanghai */
    int threads;                  /* worker threads for recompute and scans; 0 = 2 */
};

/** Creates an empty engine (new; free with hk_engine_free). opts may be NULL. */
int hk_engine_new(const struct hk_engine_opts *opts, struct hk_engine **out, struct hk_err *err);
void hk_engine_free(struct hk_engine *e);

/* ---- filling ------------------------------------------------------------------------------ */

/**
 * Registers (or re-zones) a shop (store id > 0) with its IANA time zone. HK_E(INVAL) for an
 * unknown zone. At most 65535 shops.
 */
int hk_engine_add_shop(struct hk_engine *e, int64_t shop_id, const char *timezone,
                       struct hk_err *err);
/**
 * Names a registered shop: its channel and name (copied; NULL or "" keeps what is known), by
 * which the segment language finds it (r_score(shop="name")). HK_E(NOTFOUND) for an unknown shop.
 */
int hk_engine_shop_describe(struct hk_engine *e, int64_t shop_id, const char *channel,
                            const char *name, struct hk_err *err);

struct hk_engine_shop {
    int64_t id;
    const char *channel, *name; /* borrowed; NULL when not described */
    const char *timezone;       /* borrowed */
    bool own_config;            /* false: scores with shop 0's RFM configuration */
};
/** Number of registered shops; shop i (i < count) in registration order. */
size_t hk_engine_shop_count(const struct hk_engine *e);
void hk_engine_shop_at(const struct hk_engine *e, size_t i, struct hk_engine_shop *out);
bool hk_engine_shop_known(const struct hk_engine *e, int64_t shop_id);
/**
 * The shop a user names: its numeric id ("0" = all shops), its name, or "channel:name" when
 * two channels have a shop of that name. HK_E(NOTFOUND) suggesting the nearest name, or
 * HK_E(INVAL) for an ambiguous name (listing the "channel:name" forms).
 */
int hk_engine_shop_resolve(const struct hk_engine *e, const char *text, int64_t *shop_id,
                           struct hk_err *err);
/** Registers a product (store id) with its external id and category ("" = none). */
int hk_engine_add_product(struct hk_engine *e, int64_t product_id, const char *external_id,
                          const char *category, struct hk_err *err);
/** Declares a tag name so expressions may name it before anyone carries it. */
int hk_engine_tag_define(struct hk_engine *e, const char *name, struct hk_err *err);

struct hk_engine_customer {
    int64_t id;
    const char *province; /* "" or NULL = unknown */
    const char *city;
    int64_t merged_into; /* 0 = a live customer; else merged away (excluded from every answer) */
};
/** Adds or updates a customer's profile columns. */
int hk_engine_upsert_customer(struct hk_engine *e, const struct hk_engine_customer *c,
                              struct hk_err *err);
/** The customer has an identity on channel (taobao, jd, ...; at most 32 distinct channels). */
int hk_engine_add_channel(struct hk_engine *e, int64_t customer_id, const char *channel,
                          struct hk_err *err);
/** Sets or clears tag `name` on a customer (the tag is defined if new). */
int hk_engine_tag_set(struct hk_engine *e, int64_t customer_id, const char *name, bool on,
                      struct hk_err *err);

struct hk_engine_line {
    int64_t product_id; /* store id; 0 = no product (the line counts for no product/category) */
    int64_t amount_fen; /* the line's paid minus refunded amount */
};

struct hk_engine_order {
    int64_t order_id;
    int64_t customer_id;
    int64_t shop_id;
    enum hk_order_status status;
    bool has_paid_at;
    int64_t paid_at; /* seconds since the epoch, UTC */
    int64_t paid_fen;
    int64_t refund_fen;
    bool coupon; /* a coupon was used on the order */
    const struct hk_engine_line *lines;
    size_t n_lines;
};

/**
 * Adds or replaces (same customer and order id) an order. Before hk_engine_load_finish this
 * appends (bulk load: no aggregate work); afterwards it moves the customer's history to the
 * tail if needed and re-derives that customer's aggregates (its RFM scores are refreshed by the
 * next hk_engine_rescore). The customer, shop and products must be known (the customer is
 * created with an empty profile if not). HK_E(INVAL) for an unknown shop or product.
 */
int hk_engine_apply_order(struct hk_engine *e, const struct hk_engine_order *o, struct hk_err *err);
/** Removes an order from a customer (no-op when absent). */
int hk_engine_remove_order(struct hk_engine *e, int64_t customer_id, int64_t order_id,
                           struct hk_err *err);
/** Adds an event (type interned; shop_id 0 = the default zone). */
int hk_engine_add_event(struct hk_engine *e, int64_t customer_id, int64_t shop_id, const char *type,
                        int64_t at, struct hk_err *err);

/** Ends the bulk load: groups history by customer, computes aggregates. Call once. */
int hk_engine_load_finish(struct hk_engine *e, struct hk_err *err);
bool hk_engine_loaded(const struct hk_engine *e);

/**
 * Merge: the loser's orders, events, channels and tags move to the winner, whose aggregates are
 * re-derived; the loser is marked merged (excluded from answers). Only after load_finish.
 */
int hk_engine_merge(struct hk_engine *e, int64_t winner_id, int64_t loser_id, struct hk_err *err);
/**
 * Forgets a customer's orders, events, channels and tags (it stays known, live unless
 * merged_into is set again). Unmerge is: clear both customers, upsert them, and re-add their
 * history as the store now has it.
 */
int hk_engine_customer_clear(struct hk_engine *e, int64_t customer_id, struct hk_err *err);

/* ---- derived values ----------------------------------------------------------------------- */

/** Re-derives every customer's aggregates from its history (both cores). The per-shop RFM
 * scores are 0 until the next hk_engine_rescore. */
int hk_engine_recompute(struct hk_engine *e, struct hk_err *err);

/** A customer's aggregates as of now. Values marked "has_" are missing for non-buyers. */
struct hk_engine_aggregates {
    bool live;            /* false when merged away */
    uint32_t frequency;   /* counted orders */
    int64_t monetary_fen; /* sum over counted orders of paid - refunded */
    bool has_recency;     /* frequency > 0: recency_days, first_order_days, aov, ... valid */
    int32_t recency_days;
    int32_t first_order_days;
    double aov_fen;
    double coupon_use_rate;
    uint32_t refund_count;
    const char *main_category; /* borrowed; NULL when none */
    const char *province;      /* borrowed; NULL when unknown */
    const char *city;
    uint32_t channels;             /* bit i = channel dictionary id i */
    int r_score, f_score, m_score; /* 0 for non-buyers (and before the first rescore) */
    const char *rfm_segment;       /* borrowed; NULL for non-buyers */
    const char *rfm_tier;
    uint32_t orders, lines, events; /* history sizes, all statuses */
};

/** Fills *out for a customer. HK_E(NOTFOUND) when the engine does not know it. */
int hk_engine_customer_get(const struct hk_engine *e, int64_t customer_id, int64_t now,
                           struct hk_engine_aggregates *out, struct hk_err *err);

/** Number of customer rows (live and merged), and of live ones. */
size_t hk_engine_rows(const struct hk_engine *e);
size_t hk_engine_live_customers(const struct hk_engine *e);
/** The store id of row i (i < hk_engine_rows). */
int64_t hk_engine_row_id(const struct hk_engine *e, size_t row);
/** The row of a customer id, or -1. */
int64_t hk_engine_row_of(const struct hk_engine *e, int64_t customer_id);

/** Dictionary access: the id of a name (HK_ENGINE_NONE when absent), size, name of an id. */
uint32_t hk_engine_dict_find(const struct hk_engine *e, enum hk_dict_kind k, const char *name,
                             size_t len);
uint32_t hk_engine_dict_size(const struct hk_engine *e, enum hk_dict_kind k);
const char *hk_engine_dict_name(const struct hk_engine *e, enum hk_dict_kind k, uint32_t id);

struct hk_engine_memory {
    size_t customers, orders, lines, events; /* live rows */
    size_t bytes_customers;                  /* per-customer columns, maps, bitmaps */
    size_t bytes_history;                    /* order, line and event arrays (allocated) */
    size_t bytes_total;
    size_t bytes_index; /* the bought() index, included in the two above (per line / row) */
};
void hk_engine_memory(const struct hk_engine *e, struct hk_engine_memory *out);

/* ---- RFM ---------------------------------------------------------------------------------- */

#define HK_RFM_MAX_TIERS 8
#define HK_RFM_NAME_MAX  64

enum hk_rfm_score_mode { HK_RFM_QUINTILES = 0, HK_RFM_SCORE_THRESHOLDS };
enum hk_rfm_high_mode { HK_RFM_HIGH_MEAN = 0, HK_RFM_HIGH_THRESHOLDS };

/** A tier: the customer's scores must lie in every [min, max] (1..5). First match wins. */
struct hk_rfm_tier_rule {
    char name[HK_RFM_NAME_MAX];
    uint8_t r_min, r_max, f_min, f_max, m_min, m_max;
};

struct hk_rfm_config {
    enum hk_rfm_score_mode score_mode;
    /* HK_RFM_SCORE_THRESHOLDS: R score 5 when recency_days <= r_cuts_days[0], 4 when <= [1],
     * 3 when <= [2], 2 when <= [3], else 1 (ascending). F and M score = 1 + the number of cuts
     * <= the value (ascending). */
    int32_t r_cuts_days[4];
    int64_t f_cuts[4];
    int64_t m_cuts_fen[4];
    enum hk_rfm_high_mode high_mode;
    /* HK_RFM_HIGH_THRESHOLDS: R high <=> recency_days <= r_high_max_days; F high <=>
     * frequency >= f_high_min; M high <=> monetary_fen >= m_high_min_fen. */
    int32_t r_high_max_days;
    int64_t f_high_min;
    int64_t m_high_min_fen;
    struct hk_rfm_tier_rule tiers[HK_RFM_MAX_TIERS];
    size_t n_tiers;
    char other_tier[HK_RFM_NAME_MAX]; /* the tier of buyers no rule matches: 其他 */
};

/** The default configuration: quintiles, mean split, the four tiers of the issue. */
void hk_rfm_config_default(struct hk_rfm_config *c);
/** Checks a configuration (ranges, ascending cuts, names). HK_E(INVAL) with the reason. */
int hk_rfm_config_validate(const struct hk_rfm_config *c, struct hk_err *err);
/** Replaces the engine's configuration (copied); takes effect at the next rescore. */
int hk_engine_rfm_configure(struct hk_engine *e, const struct hk_rfm_config *c, struct hk_err *err);
/** The engine's configuration (borrowed). */
const struct hk_rfm_config *hk_engine_rfm_config(const struct hk_engine *e);

/** Scores every buyer (R, F, M, segment, tier) as of now: shop 0 (all shops) and every shop. */
int hk_engine_rescore(struct hk_engine *e, int64_t now, struct hk_err *err);

/*
 * Per shop. Shop 0 is "all shops": hk_engine_rfm_configure's configuration, and the scores of
 * hk_engine_customer_get and the plain segment fields. Every shop (store id) is also scored on
 * its own: its buyers are the customers with a counted order in it, with recency, frequency and
 * monetary over that shop's orders (days in the shop's zone), against that shop's buyers, with
 * the shop's own configuration or, when it has none, shop 0's ("inherited").
 */

/**
 * Sets shop_id's configuration (copied; shop 0 = hk_engine_rfm_configure). c NULL: the shop
 * inherits shop 0's again (not for shop 0). Takes effect at the next rescore of that shop.
 * HK_E(NOTFOUND) for an unknown shop, HK_E(INVAL) for an invalid c.
 */
int hk_engine_rfm_configure_shop(struct hk_engine *e, int64_t shop_id,
                                 const struct hk_rfm_config *c, struct hk_err *err);
/** shop_id's effective configuration (borrowed), NULL for an unknown shop; *inherited (may be
 * NULL) tells whether it is shop 0's. */
const struct hk_rfm_config *hk_engine_rfm_config_shop(const struct hk_engine *e, int64_t shop_id,
                                                      bool *inherited);
/**
 * Rescores what shop_id's configuration decides: for 0, all shops' scores and those of every
 * shop inheriting shop 0's configuration; for a shop, that shop's. HK_E(NOTFOUND).
 */
int hk_engine_rescore_shop(struct hk_engine *e, int64_t shop_id, int64_t now, struct hk_err *err);

/** A customer's scores in one shop it bought in. */
struct hk_engine_shop_rfm {
    int64_t shop_id;
    uint32_t frequency;
    int64_t monetary_fen;
    int32_t recency_days;
    int r_score, f_score, m_score; /* 0 before the shop's first rescore */
    const char *rfm_segment;       /* borrowed; NULL before the first rescore */
    const char *rfm_tier;
};
/**
 * Writes up to max entries, one per shop the customer has a counted order in (in no particular
 * order), and returns how many there are (possibly more than max). 0 for unknown customers.
 */
size_t hk_engine_customer_shops(const struct hk_engine *e, int64_t customer_id, int64_t now,
                                struct hk_engine_shop_rfm *out, size_t max);

/** The eight classic segments, ids 1..8 in this order (0 = none). */
#define HK_RFM_SEGMENTS 8
const char *hk_rfm_segment_name(int id);

struct hk_rfm_group {
    char name[HK_RFM_NAME_MAX];
    uint64_t customers;
    double share; /* of buyers */
    int64_t spend_fen;
    double spend_share; /* of all buyers' monetary */
    uint64_t orders;
    double aov_fen; /* spend / orders; 0 when no orders */
};

struct hk_rfm_report {
    uint64_t customers; /* live */
    uint64_t buyers;
    int64_t spend_fen;
    double mean_recency_days, mean_frequency, mean_monetary_fen;
    uint64_t grid[5][5]; /* [r_score - 1][f_score - 1] */
    struct hk_rfm_group segments[HK_RFM_SEGMENTS];
    struct hk_rfm_group tiers[HK_RFM_MAX_TIERS + 1]; /* the rules, then the other tier */
    size_t n_tiers;                                  /* rules + 1 */
};

/** Builds the report from the current scores (call hk_engine_rescore first). */
void hk_engine_rfm_report(const struct hk_engine *e, struct hk_rfm_report *out);
/** The report of shop_id (0 = hk_engine_rfm_report); a shop's customers are its buyers.
 * HK_E(NOTFOUND) for an unknown shop. */
int hk_engine_rfm_report_shop(const struct hk_engine *e, int64_t shop_id, struct hk_rfm_report *out,
                              struct hk_err *err);
/**
 * Dry run: the report hk_engine_rfm_report would give after configuring c and rescoring as of
 * now, computed into temporary columns — the engine's configuration and scores are unchanged,
 * so readers may call it concurrently. HK_E(INVAL) for an invalid c (hk_rfm_config_validate).
 */
int hk_engine_rfm_preview(const struct hk_engine *e, const struct hk_rfm_config *c, int64_t now,
                          struct hk_rfm_report *out, struct hk_err *err);
/** hk_engine_rfm_preview for one shop (0 = all shops). HK_E(NOTFOUND) for an unknown shop. */
int hk_engine_rfm_preview_shop(const struct hk_engine *e, int64_t shop_id,
                               const struct hk_rfm_config *c, int64_t now,
                               struct hk_rfm_report *out, struct hk_err *err);

/* ---- tags as whole bitmaps (tags.c) ------------------------------------------------------- */

/**
 * Replaces tag `name`'s members by the rows set in bits[0..words) (a segment result; rows past
 * words and merged-away rows are cleared), defining the tag if new. bits NULL: nobody carries
 * it. *changed (may be NULL) tells whether any membership changed. For rule tags (services).
 */
int hk_engine_tag_assign(struct hk_engine *e, const char *name, const uint64_t *bits, size_t words,
                         bool *changed, struct hk_err *err);
/**
 * Makes tag `name` unknown by name (deleted or renamed away in the store): hk_engine_dict_find
 * and hk_engine_dict_name of the tag dictionary skip it, so has_tag() of it is an unknown tag
 * and suggestions do not offer it, until hk_engine_tag_define or hk_engine_tag_set(on) names it
 * again. Its members are left as they are. No-op for an unknown name.
 */
int hk_engine_tag_retire(struct hk_engine *e, const char *name, struct hk_err *err);
/** True when the live customer carries tag (a HK_DICT_TAG id). */
bool hk_engine_tag_has(const struct hk_engine *e, uint32_t tag, int64_t customer_id);
/** Live customers carrying tag (a HK_DICT_TAG id). */
size_t hk_engine_tag_count(const struct hk_engine *e, uint32_t tag);
/**
 * What `main_category = "<category k>"` selects, for n categories in one pass over the rows:
 * bitmap bits[k] (words words each, words >= hk_engine_words(e); zeroed first) gets the live
 * buyers whose main_category is category id cats[k] (an HK_DICT_CATEGORY id; an unknown id
 * selects nobody). Rule tags of that form are evaluated this way (services/tag_rules.c).
 */
int hk_engine_main_category_bitmaps(const struct hk_engine *e, const uint32_t *cats, size_t n,
                                    uint64_t *const *bits, size_t words, struct hk_err *err);
/** counts[c] = live customers whose main_category is category id c, for c < n. */
void hk_engine_main_category_counts(const struct hk_engine *e, uint64_t *counts, size_t n);

#endif
