/*
 * import.c — orders into the store, from files (hk_import_files) and from the REST ingest API
 * (hk_ingest_orders), through one apply path (see import.h for the guarantees).
 *
 * Design
 *   Orders are applied in batches (opts->batch_orders, default 2000), one transaction each.
 *   A batch is applied set-wise so that a bulk import costs a few statements per batch rather
 *   than several per row:
 *     1. prepare: shop of each record (cached), identity keys, validation;
 *     2. prefetch: the stored orders of the batch by natural key (shop, order number) and their
 *        items, the identity keys not yet in the resolver's cache, the profile state of the
 *        stored orders' customers — each as multi-key look-ups (ingest_repo.h);
 *     3. apply each record in file order against that snapshot: create, or compare and update
 *        (order_history rows for status, amount and refund changes), upsert items by item key;
 *        new rows (customers, identities, orders, items, history) are queued with provisional
 *        ids, updates run at once; a file import's new products are queued too, with reserved
 *        ids (each shop's products are read once, at its first line that names one);
 *     4. flush the queues with the store's bulk loader (products, customers, identities,
 *        orders, items, history; COPY on PostgreSQL).
 *   If anything fails in the database, the batch is rolled back and applied again one order at
 *   a time, each under its own savepoint: a failing order is rolled back and reported, every
 *   other order of the batch commits. The caches are dropped after any rollback.
 *
 *   Item keys: a line item is identified inside its order by a digest of (product id, sku,
 *   variant) — the title too when there is neither id nor sku — plus "#n" for the n-th repeat
 *   in one record. Re-imported lines match their stored row; new lines are added (never
 *   duplicated); lines missing from a later export stay.
 *
 *   Taobao: ExportOrderList rows carry no lines; ExportOrderDetailList rows carry only lines.
 *   Detail files are read first. A detail record finds its order by (channel, order number) in
 *   any shop (detail lists name no shop): the lines are attached (replacing placeholder lines,
 *   i.e. lines that came from an orders-only record) or, when the order is not stored yet,
 *   kept in staged_items and attached when the order arrives.
 *
 *   Updates: a record whose status ranks behind the stored one (created < paid < shipped <
 *   completed < refunded/cancelled) is an older export: it only fills what the order lacks.
 *   Otherwise present values replace stored ones.
 *
 * Invariants
 *   - An order and its items, history and (new) customer and identities are written in one
 *     transaction; nothing of an order is committed without the rest.
 *   - Counters (res) only count what was committed.
 *   - Provisional ids never reach the store: pending orders are written after the resolver's
 *     flush has made their customer and identity ids real.
 *
 * Threads: an import uses one db, acquired for its whole run, from one thread.
 */
#include "ingest/import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/money.h"
#include "core/tz.h"
#include "core/util.h"
#include "ingest/arena.h"
#include "ingest/bloom.h"
#include "ingest/hashtab.h"
#include "ingest/identity.h"
#include "ingest/reader.h"
#include "ingest/region.h"
#include "store/changes_repo.h"
#include "store/ingest_repo.h"
#include "store/store.h"

#define DEFAULT_BATCH      2000
#define DEFAULT_MAX_ERRORS 1000
#define ITEM_KEY_LEN       16 /* hex digits: a 64-bit digest, unique enough within one order */

/* Fixed key for item-key digests: item keys are stored, so they must not vary by run. */
static const unsigned char ITEM_KEY_HASH_KEY[16] = "huike-item-key-1";

struct counts {
    int64_t created, updated, unchanged, items_created, items_staged, customers_created;
};

/* An item of a batch's order, as stored or about to be. Strings in the batch arena. */
struct bitem {
    const char *key;
    int32_t line_no;
    bool placeholder;
    int64_t product_id;
    const char *title, *sku, *variant, *category;
    int32_t quantity;
    int64_t unit_price_fen, paid_fen, refund_fen;
};

/* An order of a batch, as stored (found by the prefetch) or about to be (pending). */
struct border {
    struct hk_irepo_order row; /* strings in the batch arena */
    bool pending;              /* created in this batch, written at the next flush */
    struct bitem *items;       /* in the batch arena */
    size_t nitems, capitems;
    int32_t max_line;
};

/* One record of the batch, prepared. */
struct prep {
    const struct hk_order_rec *rec;
    bool details; /* a Taobao detail record: lines only */
    bool skip;    /* rejected by validation */
    const char *channel;
    int64_t shop_id;     /* the record's shop (0 for detail records) */
    int64_t shop_key;    /* map key: shop_id, or a negative channel key for detail records */
    struct hk_h128 bdig; /* border_digest(shop_key, order_no), set by prepare */
    uint64_t known_h;    /* hk_bloom_hash(order_no) when imp->known is on, set by prepare */
    /* in imp->pkeys, apart: a key set is 1.5 KiB, and the loops over a batch's preps that read
       only the fields above touched a new cache line and page per record */
    struct hk_identity_keys *keys;
};

struct shop_entry {
    char *channel, *name;
    int64_t id;
    struct hk_tz *tz; /* owned; NULL: the default zone (ctx->tz) */
};

/* importer.products' v2: what a product lacks (filled by the first line that has it), and for
   a new product of the set, its index in pprods (v2 >> PROD_INDEX_SHIFT). */
enum {
    PROD_NO_TITLE = 1,
    PROD_NO_CATEGORY = 2,
    PROD_PENDING = 4,
    PROD_INDEX_SHIFT = 3,
};

struct importer {
    const struct hk_ingest_ctx *ctx;
    struct hk_db *db;
    struct hk_resolver *resolver;
    const char *default_shop; /* --shop */
    const char *source;       /* "api", or NULL for the record's format name */
    unsigned char hkey[16];   /* digests of the batch map and product cache */

    struct shop_entry *shops;
    size_t nshops, capshops;
    const char *channels[16]; /* channel keys for shop-less look-ups: -(index + 1) */
    size_t nchannels;
    struct hk_h128tab products;     /* (shop, external id) -> product id, PROD_* flags (v2) */
    struct hk_i64tab product_shops; /* file imports: shops whose products are all in products */
    /* a file import's products first seen in this set, written by flush_all with reserved ids
       (so the importing thread never waits for the pipeline's writer to look one up or create
       it), and their keys in products */
    struct hk_irepo_product *pprods;
    struct hk_h128 *pprod_keys;
    size_t npprods, cappprods, cappprod_keys;
    struct hk_bloom known; /* initial loads: order numbers that may be stored (bloom.h) */
    bool lookup_all;       /* run_batch's retry: every number looked up, known or not */

    /* the batch */
    struct hk_arena arena;
    struct prep *preps;
    size_t capprep;
    struct hk_identity_keys *pkeys; /* preps[i].keys == &pkeys[i] */
    size_t cappkeys;
    struct border *borders;
    size_t nborders, capborders;
    struct hk_h128tab bmap; /* (shop_key, order no) -> border index */
    struct hk_i64tab bbyid; /* order id -> border index */
    bool staged_checked, staged_any;

    /* pending writes */
    size_t *porders;
    size_t nporders, capporders;
    struct hk_irepo_order *orows;
    size_t caporows;
    int64_t *oids;
    size_t capoids;
    struct hk_irepo_item *pitems;
    size_t *pitem_b;
    size_t npitems, cappitems, cappitem_b;
    struct hk_irepo_history *phist;
    size_t *phist_b;
    size_t nphist, capphist, capphist_b;

    /* scratch for look-ups */
    const char **nos;
    size_t capnos;
    int64_t *ids;
    size_t capids;
    const struct hk_identity_keys **keysets;
    size_t capkeysets;

    struct counts cnt;           /* counted so far in this batch attempt */
    enum hk_apply_outcome *outc; /* per record of the current set */
    bool bulk;                   /* a file import (hk_db_bulk) */
    bool rollback_journal;       /* an initial load began SQLite's (hk_db_load_journal) */
    bool initial;                /* an initial load (hk_load_mode) */
    int64_t rows_written;        /* new orders, lines and customers committed so far */
    int64_t rows_analyzed;       /* rows_written at the last hk_db_bulk_grown */
    int64_t lookup_key;          /* shop_key of the current order look-up */
};

/* ---- small helpers ------------------------------------------------------------------------ */

static int oom(struct hk_err *err)
{
    return hk_err_set(err, HK_E(NOMEM), "import: out of memory");
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

static bool streq(const char *a, const char *b)
{
    return strcmp(nz(a), nz(b)) == 0;
}

static const char *astr(struct importer *imp, const char *s)
{
    s = nz(s);
    return hk_arena_strndup(&imp->arena, s, strlen(s));
}

static int status_rank(const char *s)
{
    switch (hk_order_status_parse(s)) {
    case HK_ORDER_CREATED:
        return 1;
    case HK_ORDER_PAID:
        return 2;
    case HK_ORDER_SHIPPED:
        return 3;
    case HK_ORDER_COMPLETED:
        return 4;
    case HK_ORDER_REFUNDED:
    case HK_ORDER_CANCELLED:
        return 5;
    default:
        return 0;
    }
}

static const char *default_shop_name(const char *channel)
{
    static const struct {
        const char *channel, *shop;
    } names[] = {
        {"taobao", "淘宝店铺"}, {"tmall", "天猫店铺"},    {"douyin", "抖店"}, {"pdd", "拼多多店铺"},
        {"jd", "京东店铺"},     {"wechat", "微信小程序"}, {"pos", "门店"},
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(names); i++)
        if (strcmp(channel, names[i].channel) == 0)
            return names[i].shop;
    return "默认店铺";
}

/* ---- shops and products ------------------------------------------------------------------- */

static void shops_clear(struct importer *imp)
{
    for (size_t i = 0; i < imp->nshops; i++) {
        free(imp->shops[i].channel);
        free(imp->shops[i].name);
        hk_tz_free(imp->shops[i].tz);
    }
    imp->nshops = 0;
}

/* The shop's id, and in *zone (may be NULL) its time zone when it is not the default one. */
static int shop_id(struct importer *imp, const char *channel, const char *name, int64_t *id,
                   const struct hk_tz **zone, struct hk_err *err)
{
    for (size_t i = imp->nshops; i > 0; i--) {
        struct shop_entry *s = &imp->shops[i - 1];
        if (strcmp(s->name, name) == 0 && strcmp(s->channel, channel) == 0) {
            *id = s->id;
            if (zone)
                *zone = s->tz;
            return 0;
        }
    }
    int64_t v;
    char tzname[128];
    int rc = hk_irepo_shop_ensure(imp->db, channel, name, hk_tz_name(imp->ctx->tz), imp->ctx->now,
                                  &v, err);
    if (rc == 0)
        rc = hk_irepo_shop_timezone(imp->db, channel, name, tzname, sizeof tzname, err);
    if (rc < 0)
        return rc;
    if (grow((void **)&imp->shops, &imp->capshops, imp->nshops + 1, sizeof(*imp->shops)) < 0)
        return oom(err);
    struct shop_entry *s = &imp->shops[imp->nshops];
    s->channel = hk_strdup(channel);
    s->name = hk_strdup(name);
    s->tz = NULL;
    if (!s->channel || !s->name) {
        free(s->channel);
        free(s->name);
        return oom(err);
    }
    if (tzname[0] && imp->ctx->tz && strcmp(tzname, hk_tz_name(imp->ctx->tz)) != 0) {
        struct hk_err e;
        hk_err_clear(&e);
        if (hk_tz_load(tzname, &s->tz, &e) != 0)
            s->tz = NULL; /* a zone this system lacks: the default */
    }
    s->id = v;
    imp->nshops++;
    *id = v;
    if (zone)
        *zone = s->tz;
    return 0;
}

/* t, read in zone `from` (NULL: UTC), as the same wall-clock time in zone `to`. */
static int64_t rezone(const struct hk_tz *from, const struct hk_tz *to, int64_t t)
{
    struct hk_civil c;
    struct hk_err e;
    int64_t out;
    hk_tz_to_local(from, t, &c);
    return hk_tz_from_local(to, &c, &out, &e) == 0 ? out : t;
}

/* r's times marked in bits (HK_LOCAL_*), read in zone `from`, re-read in zone `to`. */
static void rezone_times(struct hk_order_rec *r, unsigned bits, const struct hk_tz *from,
                         const struct hk_tz *to)
{
    struct {
        unsigned bit;
        int64_t *t;
    } f[] = {{HK_LOCAL_CREATED, &r->created_at},   {HK_LOCAL_PAID, &r->paid_at},
             {HK_LOCAL_SHIPPED, &r->shipped_at},   {HK_LOCAL_RECEIVED, &r->received_at},
             {HK_LOCAL_REFUNDED, &r->refunded_at}, {HK_LOCAL_CANCELLED, &r->cancelled_at}};
    for (size_t k = 0; k < HK_ARRAY_LEN(f); k++)
        if ((bits & f[k].bit) && *f[k].t)
            *f[k].t = rezone(from, to, *f[k].t);
}

/*
 * A file record whose times without an offset were read in the default zone, for a shop in
 * another zone: a copy in the batch arena with those times read in the shop's zone (NULL when
 * out of memory).
 */
static const struct hk_order_rec *
record_in_zone(struct importer *imp, const struct hk_order_rec *rec, const struct hk_tz *zone)
{
    struct hk_order_rec *r = hk_arena_alloc(&imp->arena, sizeof(*r));
    if (!r)
        return NULL;
    *r = *rec;
    rezone_times(r, r->zone_times, imp->ctx->tz, zone);
    r->zone_times = 0;
    return r;
}

static int64_t channel_key(struct importer *imp, const char *channel)
{
    for (size_t i = 0; i < imp->nchannels; i++)
        if (strcmp(imp->channels[i], channel) == 0)
            return -(int64_t)(i + 1);
    if (imp->nchannels == HK_ARRAY_LEN(imp->channels))
        return -(int64_t)HK_ARRAY_LEN(imp->channels) - 1; /* shared overflow key: still exact
                                                              because the order number and
                                                              the look-up agree */
    imp->channels[imp->nchannels] = channel;
    return -(int64_t)(++imp->nchannels);
}

/* A line's product as products.external_id holds it: the product id, else "sku:" and the sku,
   cut to at most cap - 1 bytes on a character boundary (a cut in the middle of a character
   stored text that is not UTF-8, which PostgreSQL refused; sql/0013 mends what SQLite stores
   kept). The cache is keyed by it too, so a product has one key whichever way a line names it
   (product id "sku:X" or sku X) and however long the id. */
static const char *product_ext(const char *pid, const char *sku, char *buf, size_t cap)
{
    size_t n;
    if (pid && *pid) {
        n = strlen(pid);
        if (n < cap)
            return pid;
        n = hk_utf8_cut(pid, n, cap - 1);
        memcpy(buf, pid, n);
        buf[n] = '\0';
        return buf;
    }
    n = hk_utf8_cut(sku, strlen(sku), cap - 1 - strlen("sku:"));
    snprintf(buf, cap, "sku:%.*s", (int)n, sku);
    return buf;
}

static struct hk_h128 product_key(const struct importer *imp, int64_t shop, const char *ext)
{
    return hk_h128_of_id(imp->hkey, shop, ext);
}

static int64_t lacks(bool title_empty, bool category_empty)
{
    return (title_empty ? PROD_NO_TITLE : 0) | (category_empty ? PROD_NO_CATEGORY : 0);
}

struct shop_products {
    struct importer *imp;
    int64_t shop;
};

/* One stored product into the cache. */
static int cache_product(void *arg, int64_t id, const char *ext, bool title_empty,
                         bool category_empty)
{
    struct shop_products *a = arg;
    if (!hk_h128tab_put(&a->imp->products, product_key(a->imp, a->shop, ext), id,
                        lacks(title_empty, category_empty), NULL))
        return HK_E(NOMEM);
    return 0;
}

/* Gives a cached product the title / category it lacks, if the line has them: in memory for a
   product of the set not written yet, in the store otherwise (rare: a statement, which waits
   for the pipeline's writer). */
static int product_fill(struct importer *imp, struct hk_h128_slot *s, const char *title,
                        const char *category, struct hk_err *err)
{
    bool t = (s->v2 & PROD_NO_TITLE) && title && *title;
    bool c = (s->v2 & PROD_NO_CATEGORY) && category && *category;
    if (!t && !c)
        return 0;
    if (s->v2 & PROD_PENDING) {
        struct hk_irepo_product *r = &imp->pprods[s->v2 >> PROD_INDEX_SHIFT];
        if (t)
            r->title = title;
        if (c)
            r->category = category;
    } else {
        int rc = hk_irepo_product_fill(imp->db, s->v1, t ? title : NULL, c ? category : NULL, err);
        if (rc < 0)
            return rc;
    }
    s->v2 &= ~(int64_t)((t ? PROD_NO_TITLE : 0) | (c ? PROD_NO_CATEGORY : 0));
    return 0;
}

/*
 * The product of a line (0 when the line names neither a product id nor a sku). A file import
 * reads each shop's products once (one query, when the shop's first line names one) and queues
 * the new ones for flush_all with reserved ids; looking each new product up and inserting it
 * with statements made the importing thread wait for the pipeline's writer each time (a real
 * export names new products all through the years). The REST ingest, a batch per request,
 * looks up and creates each product it has not seen (hk_irepo_product_ensure).
 */
static int product_id(struct importer *imp, int64_t shop, const char *pid, const char *sku,
                      const char *title, const char *category, int64_t *out, struct hk_err *err)
{
    char buf[HK_IDENTITY_VALUE_MAX + 8];
    int rc;
    if (!(pid && *pid) && !(sku && *sku)) {
        *out = 0;
        return 0;
    }
    const char *ext = product_ext(pid, sku, buf, sizeof buf);
    struct hk_h128 h = product_key(imp, shop, ext);
    struct hk_h128_slot *s = hk_h128tab_get(&imp->products, h);
    int64_t loaded;
    if (!s && imp->bulk && !hk_i64tab_get(&imp->product_shops, shop, &loaded)) {
        struct shop_products a = {imp, shop};
        if ((rc = hk_irepo_products_of_shop(imp->db, shop, cache_product, &a, err)) < 0)
            return rc == HK_E(NOMEM) ? oom(err) : rc;
        if (hk_i64tab_set(&imp->product_shops, shop, 1) < 0)
            return oom(err);
        s = hk_h128tab_get(&imp->products, h);
    }
    if (s) {
        if ((rc = product_fill(imp, s, title, category, err)) < 0)
            return rc;
        *out = s->v1;
        return 0;
    }
    int64_t id;
    if (!imp->bulk) {
        rc = hk_irepo_product_ensure(imp->db, shop, ext, title, category, imp->ctx->now, &id, err);
        if (rc < 0)
            return rc;
        if (!hk_h128tab_put(&imp->products, h, id, 0, NULL))
            return oom(err);
        *out = id;
        return 0;
    }
    if ((rc = hk_db_next_ids(imp->db, "products", 1, &id, err)) < 0)
        return rc;
    const char *ext_copy = hk_arena_strndup(&imp->arena, ext, strlen(ext));
    if (!ext_copy ||
        grow((void **)&imp->pprods, &imp->cappprods, imp->npprods + 1, sizeof(*imp->pprods)) < 0 ||
        grow((void **)&imp->pprod_keys, &imp->cappprod_keys, imp->npprods + 1,
             sizeof(*imp->pprod_keys)) < 0)
        return oom(err);
    size_t k = imp->npprods++;
    imp->pprods[k] = (struct hk_irepo_product){.id = id,
                                               .shop_id = shop,
                                               .external_id = ext_copy,
                                               .title = nz(title),
                                               .category = nz(category)};
    imp->pprod_keys[k] = h;
    int64_t v2 = lacks(!(title && *title), !(category && *category)) | PROD_PENDING |
                 (int64_t)k << PROD_INDEX_SHIFT;
    if (!hk_h128tab_put(&imp->products, h, id, v2, NULL))
        return oom(err);
    *out = id;
    return 0;
}

/* ---- item keys ---------------------------------------------------------------------------- */

static void item_key_of(const char *pid, const char *sku, const char *variant, const char *title,
                        char out[ITEM_KEY_LEN + 1])
{
    bool named = (pid && *pid) || (sku && *sku);
    const char *parts[] = {nz(pid), nz(sku), nz(variant), named ? "" : nz(title)};
    struct hk_h128 h = hk_h128_of(ITEM_KEY_HASH_KEY, parts, 4);
    unsigned char b[8];
    memcpy(b, &h.a, 8);
    hk_hex_encode(b, ITEM_KEY_LEN / 2, out);
}

/*
 * Keys of a record's items, unique within the record: the n-th repeat of a key gets "#n".
 * keys[i] points into the batch arena.
 */
static int record_item_keys(struct importer *imp, const struct hk_order_rec *rec, const char **keys,
                            struct hk_err *err)
{
    for (size_t i = 0; i < rec->nitems; i++) {
        const struct hk_item_rec *it = &rec->items[i];
        char k[ITEM_KEY_LEN + 16];
        item_key_of(it->product_id, it->sku, it->variant, it->title, k);
        int dup = 1;
        for (size_t j = 0; j < i; j++)
            if (strncmp(keys[j], k, ITEM_KEY_LEN) == 0)
                dup++;
        if (dup > 1)
            snprintf(k + ITEM_KEY_LEN, sizeof k - ITEM_KEY_LEN, "#%d", dup);
        keys[i] = astr(imp, k);
        if (!keys[i])
            return oom(err);
    }
    return 0;
}

/* ---- the batch map ------------------------------------------------------------------------ */

static struct hk_h128 border_digest(const struct importer *imp, int64_t shop_key, const char *no)
{
    return hk_h128_of_id(imp->hkey, shop_key, no);
}

/* The border of digest h (border_digest), or NULL. */
static struct border *border_find_h(struct importer *imp, struct hk_h128 h)
{
    struct hk_h128_slot *s = hk_h128tab_get(&imp->bmap, h);
    return s ? &imp->borders[s->v1] : NULL;
}

static struct border *border_find(struct importer *imp, int64_t shop_key, const char *no)
{
    return border_find_h(imp, border_digest(imp, shop_key, no));
}

/* A new border for digest h, or NULL on out of memory / when one exists (*exists). */
static struct border *border_add_h(struct importer *imp, struct hk_h128 h, bool *exists)
{
    bool added = false;
    *exists = false;
    if (grow((void **)&imp->borders, &imp->capborders, imp->nborders + 1, sizeof(*imp->borders)) <
        0)
        return NULL;
    struct hk_h128_slot *s = hk_h128tab_put(&imp->bmap, h, (int64_t)imp->nborders, 0, &added);
    if (!s)
        return NULL;
    if (!added) {
        *exists = true;
        return NULL;
    }
    struct border *b = &imp->borders[imp->nborders++];
    memset(b, 0, sizeof *b);
    return b;
}

/* A new border for key (shop_key, no), or NULL on out of memory / when one exists (*exists). */
static struct border *border_add(struct importer *imp, int64_t shop_key, const char *no,
                                 bool *exists)
{
    return border_add_h(imp, border_digest(imp, shop_key, no), exists);
}

static size_t border_index(const struct importer *imp, const struct border *b)
{
    return (size_t)(b - imp->borders);
}

static int copy_order(struct importer *imp, struct hk_irepo_order *dst,
                      const struct hk_irepo_order *src)
{
    *dst = *src;
    dst->external_no = astr(imp, src->external_no);
    dst->status = astr(imp, src->status);
    dst->coupon_code = astr(imp, src->coupon_code);
    dst->buyer_note = astr(imp, src->buyer_note);
    dst->seller_note = astr(imp, src->seller_note);
    dst->source = astr(imp, src->source);
    return dst->external_no && dst->status && dst->coupon_code && dst->buyer_note &&
                   dst->seller_note && dst->source
               ? 0
               : HK_E(NOMEM);
}

static struct bitem *border_add_item(struct importer *imp, struct border *b)
{
    if (b->nitems == b->capitems) {
        size_t cap = b->capitems ? b->capitems * 2 : 4;
        struct bitem *n = hk_arena_alloc(&imp->arena, cap * sizeof(*n));
        if (!n)
            return NULL;
        if (b->nitems)
            memcpy(n, b->items, b->nitems * sizeof(*n));
        b->items = n;
        b->capitems = cap;
    }
    struct bitem *it = &b->items[b->nitems++];
    memset(it, 0, sizeof *it);
    return it;
}

static int on_found_order(void *arg, const struct hk_irepo_order *row)
{
    struct importer *imp = arg;
    bool exists;
    struct border *b = border_add(imp, imp->lookup_key, row->external_no, &exists);
    if (exists)
        return 0; /* the same number in two shops of a channel: the oldest order wins */
    /* found by run_batch's retry: stored behind the filter's back, known from now on */
    if (imp->lookup_all)
        hk_bloom_add(&imp->known, row->external_no, strlen(row->external_no));
    if (!b || copy_order(imp, &b->row, row) < 0)
        return HK_E(NOMEM);
    if (hk_i64tab_set(&imp->bbyid, row->id, (int64_t)border_index(imp, b)) < 0)
        return HK_E(NOMEM);
    return 0;
}

static int on_found_item(void *arg, const struct hk_irepo_item *row)
{
    struct importer *imp = arg;
    int64_t bi;
    if (!hk_i64tab_get(&imp->bbyid, row->order_id, &bi))
        return 0;
    struct border *b = &imp->borders[bi];
    struct bitem *it = border_add_item(imp, b);
    if (!it)
        return HK_E(NOMEM);
    it->key = astr(imp, row->item_key);
    it->line_no = row->line_no;
    it->placeholder = row->placeholder;
    it->product_id = row->product_id;
    it->title = astr(imp, row->title);
    it->sku = astr(imp, row->sku);
    it->variant = astr(imp, row->variant);
    it->category = astr(imp, row->category);
    it->quantity = row->quantity;
    it->unit_price_fen = row->unit_price_fen;
    it->paid_fen = row->paid_fen;
    it->refund_fen = row->refund_fen;
    if (!it->key || !it->title || !it->sku || !it->variant || !it->category)
        return HK_E(NOMEM);
    if (row->line_no > b->max_line)
        b->max_line = row->line_no;
    return 0;
}

/* ---- pending writes ----------------------------------------------------------------------- */

static int queue_item(struct importer *imp, struct border *b, const struct bitem *it,
                      struct hk_err *err)
{
    if (grow((void **)&imp->pitems, &imp->cappitems, imp->npitems + 1, sizeof(*imp->pitems)) < 0 ||
        grow((void **)&imp->pitem_b, &imp->cappitem_b, imp->npitems + 1, sizeof(*imp->pitem_b)) < 0)
        return oom(err);
    imp->pitems[imp->npitems] = (struct hk_irepo_item){
        .order_id = 0,
        .line_no = it->line_no,
        .item_key = it->key,
        .placeholder = it->placeholder,
        .product_id = it->product_id,
        .title = it->title,
        .sku = it->sku,
        .variant = it->variant,
        .category = it->category,
        .quantity = it->quantity,
        .unit_price_fen = it->unit_price_fen,
        .paid_fen = it->paid_fen,
        .refund_fen = it->refund_fen,
    };
    imp->pitem_b[imp->npitems++] = border_index(imp, b);
    imp->cnt.items_created++;
    return 0;
}

static int queue_history(struct importer *imp, struct border *b, const char *change,
                         const char *old_value, const char *new_value, struct hk_err *err)
{
    if (grow((void **)&imp->phist, &imp->capphist, imp->nphist + 1, sizeof(*imp->phist)) < 0 ||
        grow((void **)&imp->phist_b, &imp->capphist_b, imp->nphist + 1, sizeof(*imp->phist_b)) < 0)
        return oom(err);
    const char *o = astr(imp, old_value), *n = astr(imp, new_value);
    if (!o || !n)
        return oom(err);
    imp->phist[imp->nphist] = (struct hk_irepo_history){
        .order_id = 0,
        .at = imp->ctx->now,
        .change = change,
        .old_value = o,
        .new_value = n,
        .source = b->row.source,
    };
    imp->phist_b[imp->nphist++] = border_index(imp, b);
    return 0;
}

/* Writes everything pending: new products, customers and identities, then orders, items,
   history. */
static int flush_all(void *arg, struct hk_db *db, struct hk_err *err)
{
    struct importer *imp = arg;
    int64_t made = 0;
    int rc = 0;
    if (imp->npprods &&
        (rc = hk_irepo_products_insert(db, imp->pprods, imp->npprods, imp->ctx->now, err)) < 0)
        goto done;
    if ((rc = hk_resolver_flush(imp->resolver, db, imp->ctx->now, &made, err)) < 0)
        goto done;
    imp->cnt.customers_created += made;

    if (imp->nporders) {
        if (grow((void **)&imp->orows, &imp->caporows, imp->nporders, sizeof(*imp->orows)) < 0 ||
            grow((void **)&imp->oids, &imp->capoids, imp->nporders, sizeof(*imp->oids)) < 0) {
            rc = oom(err);
            goto done;
        }
        for (size_t i = 0; i < imp->nporders; i++) {
            struct border *b = &imp->borders[imp->porders[i]];
            b->row.customer_id = hk_resolver_real_customer(imp->resolver, b->row.customer_id);
            b->row.identity_id = hk_resolver_real_identity(imp->resolver, b->row.identity_id);
            imp->orows[i] = b->row;
        }
        if ((rc = hk_irepo_orders_insert(db, imp->orows, imp->nporders, imp->oids, err)) < 0)
            goto done;
        for (size_t i = 0; i < imp->nporders; i++) {
            struct border *b = &imp->borders[imp->porders[i]];
            b->row.id = imp->oids[i];
            b->pending = false;
        }
    }
    if (imp->npitems) {
        for (size_t i = 0; i < imp->npitems; i++) {
            const struct border *b = &imp->borders[imp->pitem_b[i]];
            imp->pitems[i].order_id = b->row.id;
            imp->pitems[i].customer_id = b->row.customer_id > 0 ? b->row.customer_id : 0;
        }
        if ((rc = hk_irepo_items_insert(db, imp->pitems, imp->npitems, err)) < 0)
            goto done;
    }
    if (imp->nphist) {
        for (size_t i = 0; i < imp->nphist; i++)
            imp->phist[i].order_id = imp->borders[imp->phist_b[i]].row.id;
        if ((rc = hk_irepo_history_insert(db, imp->phist, imp->nphist, err)) < 0)
            goto done;
    }
    rc = 0;
done:
    hk_resolver_flush_done(imp->resolver);
    /* The new products are written (a later fill is a statement), or the set failed and the
       caller forgets the caches: either way no slot may point into pprods any more. */
    for (size_t i = 0; i < imp->npprods; i++) {
        struct hk_h128_slot *s = hk_h128tab_get(&imp->products, imp->pprod_keys[i]);
        if (s)
            s->v2 &= PROD_NO_TITLE | PROD_NO_CATEGORY;
    }
    imp->nporders = imp->npitems = imp->nphist = imp->npprods = 0;
    return rc;
}

/* ---- applying one record ------------------------------------------------------------------ */

static int64_t sum_items_paid(const struct hk_order_rec *rec)
{
    int64_t s = 0;
    for (size_t i = 0; i < rec->nitems; i++)
        s += rec->items[i].paid_fen;
    return s;
}

static int64_t sum_items_refund(const struct hk_order_rec *rec)
{
    int64_t s = 0;
    for (size_t i = 0; i < rec->nitems; i++)
        s += rec->items[i].refund_fen;
    return s;
}

static int64_t record_paid(const struct hk_order_rec *rec)
{
    return rec->has_paid_fen ? rec->paid_fen : sum_items_paid(rec);
}

static int64_t record_refund(const struct hk_order_rec *rec)
{
    return rec->refund_fen ? rec->refund_fen : sum_items_refund(rec);
}

static const char *record_source(const struct importer *imp, const struct hk_order_rec *rec)
{
    return imp->source ? imp->source : hk_import_format_name(rec->format);
}

/* Fills an item from a record line (strings borrowed from the record: valid for the batch). */
static int item_from_record(struct importer *imp, int64_t shop, const struct hk_item_rec *src,
                            const char *key, bool placeholder, struct bitem *it, struct hk_err *err)
{
    it->key = key;
    it->placeholder = placeholder;
    it->title = nz(src->title);
    it->sku = nz(src->sku);
    it->variant = nz(src->variant);
    it->category = nz(src->category);
    it->quantity = src->quantity;
    it->unit_price_fen = src->unit_price_fen;
    it->paid_fen = src->paid_fen;
    it->refund_fen = src->refund_fen;
    return product_id(imp, shop, src->product_id, src->sku, src->title, src->category,
                      &it->product_id, err);
}

static bool item_differs(const struct bitem *a, const struct bitem *b)
{
    return a->placeholder != b->placeholder || a->product_id != b->product_id ||
           !streq(a->title, b->title) || !streq(a->sku, b->sku) || !streq(a->variant, b->variant) ||
           !streq(a->category, b->category) || a->quantity != b->quantity ||
           a->unit_price_fen != b->unit_price_fen || a->paid_fen != b->paid_fen ||
           a->refund_fen != b->refund_fen;
}

/*
 * Merges a record's lines into a stored order: placeholders give way to real lines, known keys
 * are compared (and rewritten unless the record is older), new keys are added. *changed is set
 * when anything was written or queued; *partial (may be NULL) when the order has real lines the
 * record does not mention.
 */
static int merge_items(struct importer *imp, struct border *b, const struct hk_order_rec *rec,
                       int64_t shop, bool placeholder, bool older, bool *changed, bool *partial,
                       struct hk_err *err)
{
    int rc;
    if (partial)
        *partial = false;
    if (!rec->nitems)
        return 0;
    bool has_real = false, has_placeholder = false;
    for (size_t i = 0; i < b->nitems; i++) {
        has_real |= !b->items[i].placeholder;
        has_placeholder |= b->items[i].placeholder;
    }
    if (placeholder && has_real)
        return 0; /* the order's real lines are known: an orders-only record adds nothing */
    if (!placeholder && has_placeholder) {
        if ((rc = hk_irepo_items_delete_placeholders(imp->db, b->row.id, NULL, err)) < 0)
            return rc;
        size_t w = 0;
        for (size_t i = 0; i < b->nitems; i++)
            if (!b->items[i].placeholder)
                b->items[w++] = b->items[i];
        b->nitems = w;
        *changed = true;
    }

    const char **keys = hk_arena_alloc(&imp->arena, rec->nitems * sizeof(*keys));
    if (!keys)
        return oom(err);
    if ((rc = record_item_keys(imp, rec, keys, err)) < 0)
        return rc;
    for (size_t i = 0; i < rec->nitems; i++) {
        struct bitem in;
        memset(&in, 0, sizeof in);
        if ((rc = item_from_record(imp, shop, &rec->items[i], keys[i], placeholder, &in, err)) < 0)
            return rc;
        struct bitem *cur = NULL;
        for (size_t j = 0; j < b->nitems && !cur; j++)
            if (strcmp(b->items[j].key, keys[i]) == 0)
                cur = &b->items[j];
        if (cur && rec->format == HK_FMT_TAOBAO_DETAILS)
            in.paid_fen = cur->paid_fen; /* derived from the order: allocate_taobao_paid */
        if (cur) {
            if (older || !item_differs(cur, &in))
                continue;
            in.line_no = cur->line_no;
            struct hk_irepo_item row = {
                .order_id = b->row.id,
                .line_no = in.line_no,
                .item_key = in.key,
                .placeholder = in.placeholder,
                .product_id = in.product_id,
                .title = in.title,
                .sku = in.sku,
                .variant = in.variant,
                .category = in.category,
                .quantity = in.quantity,
                .unit_price_fen = in.unit_price_fen,
                .paid_fen = in.paid_fen,
                .refund_fen = in.refund_fen,
            };
            if ((rc = hk_irepo_item_update(imp->db, &row, err)) < 0)
                return rc;
            *cur = in;
            *changed = true;
            continue;
        }
        struct bitem *it = border_add_item(imp, b);
        if (!it)
            return oom(err);
        in.line_no = ++b->max_line;
        *it = in;
        if ((rc = queue_item(imp, b, it, err)) < 0)
            return rc;
        *changed = true;
    }
    if (partial) {
        for (size_t j = 0; j < b->nitems && !*partial; j++) {
            bool mentioned = false;
            for (size_t i = 0; i < rec->nitems && !mentioned; i++)
                mentioned = strcmp(b->items[j].key, keys[i]) == 0;
            *partial = !mentioned && !b->items[j].placeholder;
        }
    }
    return 0;
}

/*
 * Taobao detail lines carry no paid amount: the order's goods paid (买家实际支付金额 minus
 * 买家应付邮费) is shared over its real lines in proportion to price x quantity, the rounding
 * remainder on the largest line (hk_allocate_fen). Run after the order's lines or amounts
 * changed; lines queued for insert are patched, stored ones rewritten when their share moved.
 */
/* Real lines all without a paid amount: lines stored before shares were made (they get theirs
   when their order or detail list is imported again). */
static bool lines_unshared(const struct border *b)
{
    bool any = false;
    for (size_t i = 0; i < b->nitems; i++) {
        if (b->items[i].placeholder)
            continue;
        if (b->items[i].paid_fen)
            return false;
        any = true;
    }
    return any && b->row.paid_fen > b->row.postage_fen;
}

static int allocate_taobao_paid(struct importer *imp, struct border *b, bool *changed,
                                struct hk_err *err)
{
    size_t n = 0;
    for (size_t i = 0; i < b->nitems; i++)
        n += !b->items[i].placeholder;
    if (n == 0)
        return 0;
    int64_t *w = hk_arena_alloc(&imp->arena, 2 * n * sizeof(*w));
    if (!w)
        return oom(err);
    int64_t *paid = w + n;
    for (size_t i = 0, k = 0; i < b->nitems; i++) {
        const struct bitem *it = &b->items[i];
        if (it->placeholder)
            continue;
        if (__builtin_mul_overflow(it->unit_price_fen, (int64_t)it->quantity, &w[k]))
            w[k] = INT64_MAX / (int64_t)n;
        k++;
    }
    hk_allocate_fen(w, paid, n, b->row.paid_fen - b->row.postage_fen);
    size_t bi = border_index(imp, b);
    for (size_t i = 0, k = 0; i < b->nitems; i++) {
        struct bitem *it = &b->items[i];
        if (it->placeholder)
            continue;
        int64_t share = paid[k++];
        if (it->paid_fen == share)
            continue;
        it->paid_fen = share;
        bool queued = false;
        for (size_t q = 0; q < imp->npitems; q++)
            if (imp->pitem_b[q] == bi && imp->pitems[q].line_no == it->line_no) {
                imp->pitems[q].paid_fen = share;
                queued = true;
            }
        if (queued || b->pending)
            continue;
        struct hk_irepo_item row = {
            .order_id = b->row.id,
            .line_no = it->line_no,
            .item_key = it->key,
            .placeholder = it->placeholder,
            .product_id = it->product_id,
            .title = it->title,
            .sku = it->sku,
            .variant = it->variant,
            .category = it->category,
            .quantity = it->quantity,
            .unit_price_fen = it->unit_price_fen,
            .paid_fen = it->paid_fen,
            .refund_fen = it->refund_fen,
        };
        int rc = hk_irepo_item_update(imp->db, &row, err);
        if (rc < 0)
            return rc;
        if (changed)
            *changed = true;
    }
    return 0;
}

struct staged_ctx {
    struct importer *imp;
    struct border *b;
    int64_t shop;
    struct hk_err *err;
    int rc;
};

static int on_staged(void *arg, const struct hk_irepo_staged *s)
{
    struct staged_ctx *c = arg;
    struct importer *imp = c->imp;
    struct bitem *it = border_add_item(imp, c->b);
    if (!it)
        return oom(c->err);
    it->key = astr(imp, s->item_key);
    it->title = astr(imp, s->title);
    it->sku = astr(imp, s->sku);
    it->variant = astr(imp, s->variant);
    it->category = astr(imp, s->category);
    if (!it->key || !it->title || !it->sku || !it->variant || !it->category)
        return oom(c->err);
    it->quantity = s->quantity;
    it->unit_price_fen = s->unit_price_fen;
    it->paid_fen = s->paid_fen;
    it->refund_fen = s->refund_fen;
    it->line_no = ++c->b->max_line;
    const char *pid = strncmp(s->product_ext_id, "sku:", 4) == 0 ? "" : s->product_ext_id;
    int rc =
        product_id(imp, c->shop, pid, it->sku, it->title, it->category, &it->product_id, c->err);
    if (rc < 0)
        return rc;
    return queue_item(imp, c->b, it, c->err);
}

static void order_from_record(const struct importer *imp, const struct prep *p,
                              struct hk_irepo_order *o)
{
    const struct hk_order_rec *rec = p->rec;
    memset(o, 0, sizeof *o);
    o->shop_id = p->shop_id;
    o->external_no = rec->order_no;
    o->status = hk_order_status_name(rec->status);
    o->total_fen = rec->total_fen;
    o->discount_fen = rec->discount_fen;
    o->postage_fen = rec->postage_fen;
    o->paid_fen = record_paid(rec);
    o->refund_fen = record_refund(rec);
    o->coupon_code = nz(rec->coupon_code);
    o->created_at = rec->created_at ? rec->created_at : rec->paid_at;
    o->paid_at = rec->paid_at;
    o->shipped_at = rec->shipped_at;
    o->received_at = rec->received_at;
    o->refunded_at = rec->refunded_at;
    o->cancelled_at = rec->cancelled_at;
    o->buyer_note = nz(rec->buyer_note);
    o->seller_note = nz(rec->seller_note);
    o->source = record_source(imp, rec);
    o->updated_at = imp->ctx->now;
}

static int create_order(struct importer *imp, const struct prep *p, const struct hk_resolution *who,
                        struct hk_err *err)
{
    const struct hk_order_rec *rec = p->rec;
    bool exists;
    int rc;
    struct border *b = border_add_h(imp, p->bdig, &exists);
    if (!b)
        return oom(err);
    order_from_record(imp, p, &b->row); /* imp->known has the number already (prefetch) */
    b->row.customer_id = who->customer_id;
    b->row.identity_id = who->identity_id;
    b->pending = true;
    if (grow((void **)&imp->porders, &imp->capporders, imp->nporders + 1, sizeof(*imp->porders)) <
        0)
        return oom(err);
    imp->porders[imp->nporders++] = border_index(imp, b);

    bool placeholder = rec->format == HK_FMT_TAOBAO_ORDERS;
    size_t before = b->nitems;
    if (placeholder) { /* lines of a detail list that came first */
        if (!imp->staged_checked) {
            if ((rc = hk_irepo_staged_any(imp->db, &imp->staged_any, err)) < 0)
                return rc;
            imp->staged_checked = true;
        }
        if (imp->staged_any) {
            struct staged_ctx c = {imp, b, p->shop_id, err, 0};
            if ((rc = hk_irepo_staged_take(imp->db, p->channel, rec->order_no, on_staged, &c,
                                           err)) < 0)
                return rc;
        }
    }
    if (b->nitems == before && rec->nitems) {
        const char **keys = hk_arena_alloc(&imp->arena, rec->nitems * sizeof(*keys));
        if (!keys)
            return oom(err);
        if ((rc = record_item_keys(imp, rec, keys, err)) < 0)
            return rc;
        for (size_t i = 0; i < rec->nitems; i++) {
            struct bitem *it = border_add_item(imp, b);
            if (!it)
                return oom(err);
            if ((rc = item_from_record(imp, p->shop_id, &rec->items[i], keys[i], placeholder, it,
                                       err)) < 0)
                return rc;
            it->line_no = ++b->max_line;
            if ((rc = queue_item(imp, b, it, err)) < 0)
                return rc;
        }
    }
    if (placeholder && b->nitems > before && rec->has_paid_fen &&
        (rc = allocate_taobao_paid(imp, b, NULL, err)) < 0)
        return rc;
    if (!rec->has_paid_fen && b->nitems > before && !rec->nitems) {
        int64_t s = 0; /* paid from the staged lines */
        for (size_t i = before; i < b->nitems; i++)
            s += b->items[i].paid_fen;
        b->row.paid_fen = s;
    }
    /* No history row: the history records changes, and an order's creation is its own row
       (created_at, status, source) — a row per new order was a sixth of an import's rows. */
    return 0;
}

static void amounts_text(const struct hk_irepo_order *o, char *buf, size_t size)
{
    char t[24], d[24], p[24], pd[24];
    hk_money_format(o->total_fen, t, sizeof t);
    hk_money_format(o->discount_fen, d, sizeof d);
    hk_money_format(o->postage_fen, p, sizeof p);
    hk_money_format(o->paid_fen, pd, sizeof pd);
    snprintf(buf, size, "total=%s discount=%s postage=%s paid=%s", t, d, p, pd);
}

/* Sets *dst to v when v is given and differs (or only fills when older). */
static bool take_time(int64_t *dst, int64_t v, bool older)
{
    if (!v || v == *dst || (older && *dst))
        return false;
    *dst = v;
    return true;
}

static bool take_text(const char **dst, const char *v, bool older)
{
    if (!v || !*v || streq(*dst, v) || (older && **dst))
        return false;
    *dst = v;
    return true;
}

static int update_order(struct importer *imp, const struct prep *p, struct border *b,
                        enum hk_apply_outcome *outcome, struct hk_err *err)
{
    const struct hk_order_rec *rec = p->rec;
    struct hk_irepo_order o = b->row;
    int rc;
    bool changed = false, row_changed = false;
    int old_rank = status_rank(o.status), new_rank = status_rank(hk_order_status_name(rec->status));
    bool older = new_rank && new_rank < old_rank;

    if (new_rank && !older && strcmp(o.status, hk_order_status_name(rec->status)) != 0) {
        if ((rc = queue_history(imp, b, "status", o.status, hk_order_status_name(rec->status),
                                err)) < 0)
            return rc;
        o.status = hk_order_status_name(rec->status);
        row_changed = true;
    }
    bool partial = false;
    if ((rc = merge_items(imp, b, rec, p->shop_id, rec->format == HK_FMT_TAOBAO_ORDERS, older,
                          &changed, &partial, err)) < 0)
        return rc;
    if (!older) {
        int64_t paid = record_paid(rec), refund = record_refund(rec);
        int64_t total = rec->total_fen ? rec->total_fen : o.total_fen;
        /* A record that shows only some of the order's lines (the order's rows split in the
           file) with amounts that are just its lines' sums: the order's amounts are the sums
           over all its lines. */
        int64_t lt = 0, lp = 0, lr = 0, at = 0, ap = 0, ar = 0;
        for (size_t i = 0; partial && i < rec->nitems; i++) {
            lt += rec->items[i].unit_price_fen * rec->items[i].quantity;
            lp += rec->items[i].paid_fen;
            lr += rec->items[i].refund_fen;
        }
        for (size_t i = 0; partial && i < b->nitems; i++) {
            at += b->items[i].unit_price_fen * b->items[i].quantity;
            ap += b->items[i].paid_fen;
            ar += b->items[i].refund_fen;
        }
        if (partial && rec->total_fen == lt && paid == lp) {
            total = at;
            paid = ap;
            if (refund == lr)
                refund = ar;
        }
        if (total != o.total_fen || rec->discount_fen != o.discount_fen ||
            rec->postage_fen != o.postage_fen || paid != o.paid_fen) {
            char was[128], now[128];
            amounts_text(&o, was, sizeof was);
            o.total_fen = total;
            o.discount_fen = rec->discount_fen;
            o.postage_fen = rec->postage_fen;
            o.paid_fen = paid;
            amounts_text(&o, now, sizeof now);
            if ((rc = queue_history(imp, b, "amounts", was, now, err)) < 0)
                return rc;
            row_changed = true;
        }
        if (refund != o.refund_fen) {
            char was[24], now[24];
            hk_money_format(o.refund_fen, was, sizeof was);
            hk_money_format(refund, now, sizeof now);
            if ((rc = queue_history(imp, b, "refund", was, now, err)) < 0)
                return rc;
            o.refund_fen = refund;
            row_changed = true;
        }
    }
    if (rec->format == HK_FMT_TAOBAO_ORDERS && !older && rec->has_paid_fen &&
        (o.paid_fen != b->row.paid_fen || o.postage_fen != b->row.postage_fen ||
         lines_unshared(b))) {
        struct hk_irepo_order keep = b->row;
        b->row.paid_fen = o.paid_fen;
        b->row.postage_fen = o.postage_fen;
        rc = allocate_taobao_paid(imp, b, &changed, err);
        b->row = keep;
        if (rc < 0)
            return rc;
    }
    row_changed |= take_time(&o.created_at, rec->created_at, older);
    row_changed |= take_time(&o.paid_at, rec->paid_at, older);
    row_changed |= take_time(&o.shipped_at, rec->shipped_at, older);
    row_changed |= take_time(&o.received_at, rec->received_at, older);
    row_changed |= take_time(&o.refunded_at, rec->refunded_at, older);
    row_changed |= take_time(&o.cancelled_at, rec->cancelled_at, older);
    row_changed |= take_text(&o.coupon_code, rec->coupon_code, older);
    row_changed |= take_text(&o.buyer_note, rec->buyer_note, older);
    row_changed |= take_text(&o.seller_note, rec->seller_note, older);

    if (row_changed) {
        o.updated_at = imp->ctx->now;
        if ((rc = hk_irepo_order_update(imp->db, &o, err)) < 0)
            return rc;
        /* keep the snapshot's strings valid for the batch: they point into the record or the
           arena, both alive until the batch ends */
        b->row = o;
        changed = true;
    }
    *outcome = changed ? HK_APPLY_UPDATED : HK_APPLY_UNCHANGED;
    return 0;
}

/* A Taobao detail record: lines for an order, stored or not yet. */
static int apply_details(struct importer *imp, const struct prep *p, enum hk_apply_outcome *outcome,
                         struct hk_err *err)
{
    const struct hk_order_rec *rec = p->rec;
    struct border *b = border_find(imp, p->shop_key, rec->order_no);
    int rc;
    if (b && b->pending && (rc = flush_all(imp, imp->db, err)) < 0)
        return rc;
    if (b) {
        bool changed = false;
        if ((rc = merge_items(imp, b, rec, b->row.shop_id, false, false, &changed, NULL, err)) < 0)
            return rc;
        if ((changed || lines_unshared(b)) &&
            (rc = allocate_taobao_paid(imp, b, &changed, err)) < 0)
            return rc;
        *outcome = changed ? HK_APPLY_UPDATED : 0;
        return 0;
    }
    const char **keys =
        hk_arena_alloc(&imp->arena, (rec->nitems ? rec->nitems : 1) * sizeof(*keys));
    if (!keys)
        return oom(err);
    if ((rc = record_item_keys(imp, rec, keys, err)) < 0)
        return rc;
    for (size_t i = 0; i < rec->nitems; i++) {
        const struct hk_item_rec *it = &rec->items[i];
        char buf[HK_IDENTITY_VALUE_MAX + 8];
        const char *ext = it->product_id && *it->product_id
                              ? product_ext(it->product_id, NULL, buf, sizeof buf)
                              : "";
        struct hk_irepo_staged s = {
            .channel = p->channel,
            .order_no = rec->order_no,
            .item_key = keys[i],
            .product_ext_id = ext,
            .sku = nz(it->sku),
            .title = nz(it->title),
            .variant = nz(it->variant),
            .category = nz(it->category),
            .status = hk_order_status_name(rec->status),
            .quantity = it->quantity,
            .unit_price_fen = it->unit_price_fen,
            .paid_fen = it->paid_fen,
            .refund_fen = it->refund_fen,
        };
        bool changed = false;
        if ((rc = hk_irepo_staged_put(imp->db, &s, imp->ctx->now, &changed, err)) < 0)
            return rc;
        imp->cnt.items_staged += changed;
    }
    imp->staged_checked = imp->staged_any = true;
    *outcome = 0;
    return 0;
}

static int apply_record(struct importer *imp, struct prep *p, enum hk_apply_outcome *outcome,
                        struct hk_err *err)
{
    const struct hk_order_rec *rec = p->rec;
    int rc;
    *outcome = 0;
    if (p->details)
        return apply_details(imp, p, outcome, err);

    struct border *b = border_find_h(imp, p->bdig);
    if (b && b->pending) { /* the same order again in this batch: write the first one */
        if ((rc = flush_all(imp, imp->db, err)) < 0)
            return rc;
    }
    struct hk_profile_in prof = {
        .nick = rec->buyer_nick && *rec->buyer_nick ? rec->buyer_nick : rec->buyer_id,
        .name = rec->name,
        .name_masked = rec->name_masked,
        .address = rec->address,
        .address_masked = rec->address_masked,
        .province = hk_region_province_norm(rec->province), /* REST orders too */
        .city = rec->city,
    };
    if (prof.nick && hk_pii_is_masked(prof.nick, strlen(prof.nick)))
        prof.nick = NULL;
    struct hk_resolution who;
    if ((rc = hk_resolver_resolve(imp->resolver, imp->db, p->keys, b ? b->row.customer_id : 0,
                                  &prof, imp->ctx->now, &who, err)) < 0)
        return rc;
    if (!b) {
        if ((rc = create_order(imp, p, &who, err)) < 0)
            return rc;
        *outcome = HK_APPLY_CREATED;
        return 0;
    }
    return update_order(imp, p, b, outcome, err);
}

/* ---- a set of records --------------------------------------------------------------------- */

/* Why a record cannot be applied at all, or NULL. */
static const char *invalid_reason(const struct hk_order_rec *rec)
{
    if (!rec->order_no || !*rec->order_no)
        return "the order has no order number";
    if (strlen(rec->order_no) > 128)
        return "the order number is longer than 128 characters";
    if (rec->format != HK_FMT_TAOBAO_DETAILS && rec->status == HK_ORDER_UNKNOWN)
        return "the order has no known status";
    for (size_t i = 0; i < rec->nitems; i++)
        if (rec->items[i].quantity < 0)
            return "a line has a negative quantity";
    return NULL;
}

struct batch_io {
    enum hk_apply_outcome *outcomes; /* per record */
    struct hk_err *errors;           /* per record (REST) or NULL */
    struct hk_import_result *res;    /* row errors go here when errors is NULL */
    size_t max_errors;
    const char *file; /* display name for row errors */
};

static void reject(struct importer *imp, const struct batch_io *io, size_t i,
                   const struct hk_order_rec *rec, int code, const char *msg)
{
    (void)imp;
    io->outcomes[i] = 0;
    if (io->errors) {
        hk_err_set(&io->errors[i], code, "order %.64s: %s", nz(rec->order_no), msg);
        return;
    }
    struct hk_import_result *res = io->res;
    int64_t rows = rec->last_record >= rec->first_record && rec->first_record > 0
                       ? rec->last_record - rec->first_record + 1
                       : 1;
    res->rejected += rows;
    if (res->nerrors < io->max_errors) {
        struct hk_row_error *e = &res->errors[res->nerrors++];
        memset(e, 0, sizeof *e);
        e->file = io->file;
        e->record = rec->first_record;
        e->line = rec->first_line;
        snprintf(e->message, sizeof e->message, "order %.64s not stored: %s", nz(rec->order_no),
                 msg);
    }
}

static int prepare(struct importer *imp, const struct hk_order_rec *const *recs, size_t n,
                   const struct batch_io *io, size_t first, struct hk_err *err)
{
    int rc;
    if (grow((void **)&imp->preps, &imp->capprep, n, sizeof(*imp->preps)) < 0 ||
        grow((void **)&imp->pkeys, &imp->cappkeys, n, sizeof(*imp->pkeys)) < 0)
        return oom(err);
    for (size_t i = 0; i < n; i++) {
        struct prep *p = &imp->preps[i];
        const struct hk_order_rec *rec = recs[i];
        p->rec = rec;
        p->keys = &imp->pkeys[i];
        p->details = rec->format == HK_FMT_TAOBAO_DETAILS;
        p->channel = rec->channel && *rec->channel ? rec->channel : "other";
        p->skip = false;
        p->keys->n = 0;
        p->known_h = 0;
        const char *why = invalid_reason(rec);
        if (why) {
            p->skip = true;
            reject(imp, io, first + i, rec, HK_E(INVAL), why);
            continue;
        }
        if (imp->known.words) /* once for prefetch's ask-and-add */
            p->known_h = hk_bloom_hash(rec->order_no, strlen(rec->order_no));
        if (p->details) {
            p->shop_id = 0;
            p->shop_key = channel_key(imp, p->channel);
            continue;
        }
        const char *shop = rec->shop && *rec->shop ? rec->shop
                           : imp->default_shop && *imp->default_shop
                               ? imp->default_shop
                               : default_shop_name(p->channel);
        const struct hk_tz *zone = NULL;
        if ((rc = shop_id(imp, p->channel, shop, &p->shop_id, &zone, err)) < 0)
            return rc;
        if (zone && rec->zone_times && !(p->rec = rec = record_in_zone(imp, rec, zone)))
            return oom(err);
        p->shop_key = p->shop_id;
        hk_identity_keys_from_order(imp->ctx->keys, rec, p->keys);
        hk_resolver_digest_keys(imp->resolver, p->keys); /* once for prefetch and resolve */
        p->bdig = border_digest(imp, p->shop_key, rec->order_no); /* once for find and add */
    }
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * The distinct shop keys of the set's records into imp->ids, ascending; returns how many (the
 * caller skips equal neighbours, so with very many shops the plain sort of every record's key
 * gives the same list).
 */
static size_t distinct_shop_keys(struct importer *imp, size_t n)
{
    enum { FEW = 32 };
    size_t nkeys = 0, last = 0;
    for (size_t i = 0; i < n; i++) {
        if (imp->preps[i].skip)
            continue;
        int64_t key = imp->preps[i].shop_key;
        if (nkeys && imp->ids[last] == key)
            continue;
        size_t j = 0;
        while (j < nkeys && imp->ids[j] != key)
            j++;
        if (j == nkeys) {
            if (nkeys == FEW) { /* many shops in one set: every record's key, sorted */
                nkeys = 0;
                for (size_t m = 0; m < n; m++)
                    if (!imp->preps[m].skip)
                        imp->ids[nkeys++] = imp->preps[m].shop_key;
                qsort(imp->ids, nkeys, sizeof(*imp->ids), cmp_i64);
                return nkeys;
            }
            imp->ids[nkeys++] = key;
        }
        last = j;
    }
    qsort(imp->ids, nkeys, sizeof(*imp->ids), cmp_i64);
    return nkeys;
}

/* Records ahead whose filter blocks prefetch asks the caches for (the filter is megabytes: a
   block is rarely cached when its record comes). */
#define KNOWN_PREFETCH_AHEAD 8

static int prefetch(struct importer *imp, size_t n, struct hk_err *err)
{
    int rc;
    if (grow((void **)&imp->nos, &imp->capnos, n, sizeof(*imp->nos)) < 0 ||
        grow((void **)&imp->ids, &imp->capids, n, sizeof(*imp->ids)) < 0 ||
        grow((void **)&imp->keysets, &imp->capkeysets, n, sizeof(*imp->keysets)) < 0)
        return oom(err);

    /* stored orders, by shop key (few distinct per batch: collected as such, not sorted out of
       one per record, which cost 1 % of a bulk import) */
    size_t nkeys = distinct_shop_keys(imp, n);
    for (size_t k = 0; k < nkeys; k++) {
        if (k && imp->ids[k] == imp->ids[k - 1])
            continue;
        int64_t key = imp->ids[k];
        size_t m = 0;
        const char *channel = NULL;
        for (size_t i = 0; i < n; i++) {
            if (imp->known.words && i + KNOWN_PREFETCH_AHEAD < n)
                hk_bloom_prefetch(&imp->known, imp->preps[i + KNOWN_PREFETCH_AHEAD].known_h);
            const struct prep *p = &imp->preps[i];
            if (p->skip || p->shop_key != key)
                continue;
            if (imp->known.words) {
                /* Initial loads: a number certainly not stored needs no look-up. An order
                   record's number is added here, in the same touch of its block, rather than
                   when create_order makes the order: every order created comes from such a
                   record, and a record that ends in no order (rejected, or an update) only
                   costs a later look-up that finds nothing. Detail records create no order. */
                bool maybe = p->details ? hk_bloom_maybe_h(&imp->known, p->known_h)
                                        : hk_bloom_maybe_add(&imp->known, p->known_h);
                if (!maybe && !imp->lookup_all)
                    continue;
            }
            const char *no = p->rec->order_no;
            imp->nos[m++] = no;
            channel = p->channel;
        }
        if (!m)
            continue;
        imp->lookup_key = key;
        rc = key > 0 ? hk_irepo_orders_find(imp->db, key, imp->nos, m, on_found_order, imp, err)
                     : hk_irepo_orders_find_in_channel(imp->db, channel, imp->nos, m,
                                                       on_found_order, imp, err);
        if (rc < 0)
            return rc == HK_E(NOMEM) ? oom(err) : rc;
    }

    /* their items and customers */
    size_t nb = imp->nborders;
    if (nb) {
        if (grow((void **)&imp->ids, &imp->capids, nb, sizeof(*imp->ids)) < 0)
            return oom(err);
        for (size_t i = 0; i < nb; i++)
            imp->ids[i] = imp->borders[i].row.id;
        if ((rc = hk_irepo_items_find(imp->db, imp->ids, nb, on_found_item, imp, err)) < 0)
            return rc == HK_E(NOMEM) ? oom(err) : rc;
        for (size_t i = 0; i < nb; i++)
            imp->ids[i] = imp->borders[i].row.customer_id;
    }

    size_t ns = 0;
    for (size_t i = 0; i < n; i++)
        if (!imp->preps[i].skip && !imp->preps[i].details)
            imp->keysets[ns++] = imp->preps[i].keys;
    return hk_resolver_prefetch(imp->resolver, imp->db, imp->keysets, ns, imp->ids, nb, err);
}

static void set_reset(struct importer *imp)
{
    hk_arena_reset(&imp->arena);
    imp->nborders = 0;
    hk_h128tab_clear(&imp->bmap);
    hk_i64tab_clear(&imp->bbyid);
    imp->staged_checked = false;
}

/* After a committed batch of a bulk import: tells the store each time the rows written doubled
 * (from 5000 on), so the database can refresh its plans (hk_db_bulk_grown). */
static void bulk_grown(struct importer *imp)
{
    if (!imp->bulk)
        return;
    imp->rows_written += imp->cnt.created + imp->cnt.items_created + imp->cnt.customers_created;
    if (imp->rows_written < imp->rows_analyzed * 2 || imp->rows_written < 5000)
        return;
    imp->rows_analyzed = imp->rows_written;
    struct hk_err ignored; /* only an optimisation: the batch is committed either way */
    hk_err_clear(&ignored);
    (void)hk_db_bulk_grown(imp->db, &ignored);
}

/* Records ahead whose identity keys apply_set asks the CPU to bring into its caches while it
   applies the current one (the resolver's cache is a table of up to 256 MiB, probed at random). */
#define RESOLVE_PREFETCH_AHEAD 2

/* Applies recs (records first..first+n of the batch) and flushes. */
static int apply_set(struct importer *imp, const struct hk_order_rec *const *recs, size_t n,
                     const struct batch_io *io, size_t first, struct hk_err *err)
{
    int rc;
    set_reset(imp);
    if ((rc = prepare(imp, recs, n, io, first, err)) < 0)
        return rc;
    if ((rc = prefetch(imp, n, err)) < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (i + RESOLVE_PREFETCH_AHEAD < n && !imp->preps[i + RESOLVE_PREFETCH_AHEAD].skip)
            hk_resolver_prefetch_keys(imp->resolver, imp->preps[i + RESOLVE_PREFETCH_AHEAD].keys);
        if (imp->preps[i].skip)
            continue;
        if ((rc = apply_record(imp, &imp->preps[i], &io->outcomes[first + i], err)) < 0)
            return rc;
    }
    return flush_all(imp, imp->db, err);
}

static void count_outcomes(struct counts *c, const enum hk_apply_outcome *o, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        c->created += o[i] == HK_APPLY_CREATED;
        c->updated += o[i] == HK_APPLY_UPDATED;
        c->unchanged += o[i] == HK_APPLY_UNCHANGED;
    }
}

static void forget_caches(struct importer *imp)
{
    hk_resolver_forget(imp->resolver);
    shops_clear(imp);
    hk_h128tab_clear(&imp->products);
    hk_i64tab_clear(&imp->product_shops);
    imp->nporders = imp->npitems = imp->nphist = imp->npprods = 0;
}

static bool fatal(int rc)
{
    return rc == HK_E(NOMEM) || rc == HK_E(UNAVAILABLE) || rc == HK_E(IO);
}

static void add_counts(struct hk_import_result *res, const struct counts *c)
{
    if (!res)
        return;
    res->orders_created += c->created;
    res->orders_updated += c->updated;
    res->orders_unchanged += c->unchanged;
    res->items_created += c->items_created;
    res->items_staged += c->items_staged;
    res->customers_created += c->customers_created;
}

/*
 * One batch: all records in one transaction; if that fails, again one savepoint per record.
 * Counters go to io->res only once committed.
 */
/* Begins a batch's transaction. An initial load's batch logs one 'all' change, not a row per
   customer: nearly every customer it touches is new, and a follower reloads everything past
   HK_RELOAD_OVER customers anyway (engine_svc.c); 1M lines wrote 484k rows to the log. */
static int begin_batch(struct importer *imp, struct hk_err *err)
{
    int rc = hk_db_begin(imp->db, HK_TX_WRITE, err);
    if (rc == 0 && imp->initial)
        hk_changes_touch_all(imp->db);
    return rc;
}

static int run_batch(struct importer *imp, const struct hk_order_rec *const *recs, size_t n,
                     const struct batch_io *io, struct hk_err *err)
{
    int rc;
    size_t nerr0 = io->res ? io->res->nerrors : 0;
    int64_t rej0 = io->res ? io->res->rejected : 0;

    memset(&imp->cnt, 0, sizeof imp->cnt);
    for (size_t i = 0; i < n; i++) {
        io->outcomes[i] = 0;
        if (io->errors)
            hk_err_clear(&io->errors[i]);
    }
    if ((rc = begin_batch(imp, err)) < 0)
        return rc;
    rc = apply_set(imp, recs, n, io, 0, err);
    if (rc == 0 && (rc = hk_db_commit(imp->db, err)) == 0) {
        hk_resolver_committed(imp->resolver); /* a redo after a rollback looked keys up */
        count_outcomes(&imp->cnt, io->outcomes, n);
        add_counts(io->res, &imp->cnt);
        bulk_grown(imp);
        return 0;
    }
    hk_db_rollback(imp->db);
    forget_caches(imp);
    /* An initial load's filter of numbers (known_orders) misses an order another writer stored
       after it was filled: the insert of the file's record of it failed. The retry looks every
       number up, so such a record updates the order (a single record is retried too). */
    bool filtered = imp->known.words && !fatal(rc);
    if (fatal(rc) || (n == 1 && !filtered)) {
        if (n == 1 && !fatal(rc)) { /* nothing to retry: report the order */
            reject(imp, io, 0, recs[0], rc, hk_err_message(err));
            return 0;
        }
        return rc;
    }

    /* The slow path: the same records one at a time, each under a savepoint. */
    if (io->res) { /* validation errors are reported again below */
        io->res->nerrors = nerr0;
        io->res->rejected = rej0;
    }
    memset(&imp->cnt, 0, sizeof imp->cnt);
    if ((rc = begin_batch(imp, err)) < 0)
        return rc;
    /* The redo looks up the keys the rollback made the resolver forget, which needs
       identities_key (a load may have dropped it): built here, not under a record's savepoint,
       whose rollback would undo it (and the next record build it again). */
    if ((rc = hk_irepo_identities_key_ensure(imp->db, err)) < 0)
        goto fail;
    imp->lookup_all = filtered;
    for (size_t i = 0; i < n; i++) {
        struct counts before = imp->cnt;
        struct hk_err e;
        hk_err_clear(&e);
        if ((rc = hk_db_savepoint(imp->db, "hk_import_order", err)) < 0)
            goto fail;
        rc = apply_set(imp, &recs[i], 1, io, i, &e);
        if (rc == 0) {
            if ((rc = hk_db_savepoint_release(imp->db, "hk_import_order", err)) < 0)
                goto fail;
            continue;
        }
        if (fatal(rc)) {
            *err = e;
            goto fail;
        }
        int rc2 = hk_db_savepoint_rollback(imp->db, "hk_import_order", err);
        if (rc2 == 0)
            rc2 = hk_db_savepoint_release(imp->db, "hk_import_order", err);
        if (rc2 < 0) {
            rc = rc2;
            goto fail;
        }
        forget_caches(imp);
        imp->cnt = before;
        reject(imp, io, i, recs[i], rc, hk_err_message(&e));
    }
    if ((rc = hk_db_commit(imp->db, err)) < 0)
        goto fail;
    hk_resolver_committed(imp->resolver);
    imp->lookup_all = false;
    count_outcomes(&imp->cnt, io->outcomes, n);
    add_counts(io->res, &imp->cnt);
    return 0;
fail:
    imp->lookup_all = false;
    hk_db_rollback(imp->db);
    forget_caches(imp);
    for (size_t i = 0; i < n; i++)
        io->outcomes[i] = 0;
    return rc;
}

/* ---- the importer ------------------------------------------------------------------------- */

static void importer_free(struct importer *imp)
{
    if (!imp)
        return;
    hk_resolver_free(imp->resolver);
    shops_clear(imp);
    free(imp->shops);
    hk_h128tab_release(&imp->products);
    hk_i64tab_release(&imp->product_shops);
    free(imp->pprods);
    free(imp->pprod_keys);
    hk_bloom_free(&imp->known);
    hk_arena_release(&imp->arena);
    free(imp->preps);
    free(imp->pkeys);
    free(imp->borders);
    hk_h128tab_release(&imp->bmap);
    hk_i64tab_release(&imp->bbyid);
    free(imp->porders);
    free(imp->orows);
    free(imp->oids);
    free(imp->pitems);
    free(imp->pitem_b);
    free(imp->phist);
    free(imp->phist_b);
    free(imp->nos);
    free(imp->ids);
    free(imp->keysets);
    hk_db_release(imp->db);
    free(imp);
}

static int importer_new(const struct hk_ingest_ctx *ctx, const char *shop, const char *source,
                        bool bulk, struct importer **out, struct hk_err *err)
{
    struct importer *imp = calloc(1, sizeof(*imp));
    int rc;
    if (!imp)
        return oom(err);
    imp->ctx = ctx;
    imp->default_shop = shop;
    imp->source = source;
    hk_random_bytes(imp->hkey, sizeof imp->hkey);
    hk_h128tab_init(&imp->products);
    hk_i64tab_init(&imp->product_shops);
    hk_h128tab_init(&imp->bmap);
    hk_i64tab_init(&imp->bbyid);
    hk_arena_init(&imp->arena, 0);
    imp->resolver = hk_resolver_new(ctx->keys);
    if (!imp->resolver) {
        importer_free(imp);
        return oom(err);
    }
    hk_resolver_set_flush(imp->resolver, flush_all, imp);
    if ((rc = hk_db_acquire(ctx->store, &imp->db, err)) < 0) {
        imp->db = NULL;
        importer_free(imp);
        return rc;
    }
    imp->bulk = bulk;
    if (bulk && (rc = hk_db_bulk(imp->db, true, err)) < 0) { /* undone by hk_db_release */
        importer_free(imp);
        return rc;
    }
    if (bulk) { /* fresh statistics for the look-ups' plans (an optimisation only) */
        struct hk_err ignored;
        hk_err_clear(&ignored);
        (void)hk_db_bulk_grown(imp->db, &ignored);
    }
    *out = imp;
    return 0;
}

void hk_import_result_release(struct hk_import_result *res)
{
    if (!res)
        return;
    free(res->errors);
    for (size_t i = 0; i < res->nfiles; i++)
        free(res->files[i]);
    free(res->files);
    memset(res, 0, sizeof *res);
}

/* ---- shop-local times of REST records ------------------------------------------------------ */

bool hk_time_has_offset(const char *s, size_t len)
{
    size_t b = 0, e = len;
    while (b < e && (s[b] == ' ' || s[b] == '\t'))
        b++;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
        e--;
    /* An offset is a trailing Z or a sign after the time of day (dates use '-' before it). */
    bool offset = false;
    if (e > b && (s[e - 1] == 'Z' || s[e - 1] == 'z'))
        offset = true;
    const char *colon = e > b ? memchr(s + b, ':', e - b) : NULL;
    for (const char *p = colon; p && p < s + e && !offset; p++)
        offset = *p == '+' || *p == '-';
    return offset;
}

int hk_ingest_time_parse(const char *s, size_t len, int64_t *out, bool *local, struct hk_err *err)
{
    int64_t t;
    int rc = hk_time_parse(s, len, NULL, &t, err);
    if (rc != 0)
        return rc;
    *out = t;
    *local = !hk_time_has_offset(s, len);
    return 0;
}

/* A shop's zone, loaded once per hk_ingest_orders call. */
struct shop_zone {
    const char *channel, *name; /* borrowed from the records */
    struct hk_tz *tz;           /* owned; NULL: the default zone */
};

static const struct hk_tz *zone_of_shop(struct importer *imp, struct shop_zone *zones,
                                        size_t *nzones, const char *channel, const char *name,
                                        struct hk_err *err, int *rc)
{
    for (size_t i = 0; i < *nzones; i++)
        if (strcmp(zones[i].channel, channel) == 0 && strcmp(zones[i].name, name) == 0)
            return zones[i].tz ? zones[i].tz : imp->ctx->tz;
    char tzname[128];
    *rc = hk_irepo_shop_timezone(imp->db, channel, name, tzname, sizeof tzname, err);
    if (*rc < 0)
        return NULL;
    struct shop_zone *z = &zones[(*nzones)++];
    z->channel = channel;
    z->name = name;
    z->tz = NULL;
    if (tzname[0] && (!imp->ctx->tz || strcmp(tzname, hk_tz_name(imp->ctx->tz)) != 0)) {
        struct hk_err e;
        hk_err_clear(&e);
        if (hk_tz_load(tzname, &z->tz, &e) != 0)
            z->tz = NULL; /* a zone this system lacks: the default, as for a new shop */
    }
    return z->tz ? z->tz : imp->ctx->tz;
}

/*
 * Copies of the records with their local times (local_times bits) re-read in their shop's
 * zone into *copies (new, n entries); *copies stays NULL when no record has local times.
 */
static int localise_times(struct importer *imp, const struct hk_order_rec *const *orders, size_t n,
                          struct hk_order_rec **copies, struct hk_err *err)
{
    size_t i, nz = 0;
    int rc = 0;
    *copies = NULL;
    for (i = 0; i < n && !orders[i]->local_times; i++)
        ;
    if (i == n)
        return 0;
    struct hk_order_rec *c = malloc(n * sizeof(*c));
    struct shop_zone *zones = calloc(n, sizeof(*zones));
    if (!c || !zones) {
        free(c);
        free(zones);
        return oom(err);
    }
    for (i = 0; i < n && rc == 0; i++) {
        struct hk_order_rec *r = &c[i];
        *r = *orders[i];
        if (!r->local_times)
            continue;
        const char *channel = r->channel && *r->channel ? r->channel : "other";
        const char *shop = r->shop && *r->shop                       ? r->shop
                           : imp->default_shop && *imp->default_shop ? imp->default_shop
                                                                     : default_shop_name(channel);
        const struct hk_tz *tz = zone_of_shop(imp, zones, &nz, channel, shop, err, &rc);
        if (rc < 0)
            break;
        rezone_times(r, r->local_times, NULL, tz); /* the wall clock was read as UTC */
        r->local_times = 0;
    }
    for (i = 0; i < nz; i++)
        hk_tz_free(zones[i].tz);
    free(zones);
    if (rc < 0) {
        free(c);
        return rc;
    }
    *copies = c;
    return 0;
}

int hk_ingest_orders(const struct hk_ingest_ctx *ctx, const struct hk_order_rec *const *orders,
                     size_t n, const char *shop, enum hk_apply_outcome *outcomes,
                     struct hk_err *errors, struct hk_import_result *res, struct hk_err *err)
{
    struct importer *imp;
    struct hk_import_result local;
    struct hk_order_rec *copies = NULL;
    const struct hk_order_rec **recs = NULL;
    memset(&local, 0, sizeof local);
    if (!n)
        return 0;
    int rc = importer_new(ctx, shop, "api", false, &imp, err);
    if (rc < 0)
        return rc;
    if ((rc = localise_times(imp, orders, n, &copies, err)) < 0)
        goto done;
    if (copies) {
        if (!(recs = malloc(n * sizeof(*recs)))) {
            rc = oom(err);
            goto done;
        }
        for (size_t i = 0; i < n; i++)
            recs[i] = &copies[i];
    }
    struct batch_io io = {outcomes, errors, res ? res : &local, 0, NULL};
    rc = run_batch(imp, recs ? recs : orders, n, &io, err);
done:
    free(recs);
    free(copies);
    importer_free(imp);
    return rc;
}

/* ---- files -------------------------------------------------------------------------------- */

/* An automatic initial load needs files of at least this size, and a store holding at most one
   order per LOAD_BYTES_PER_ORDER bytes of them: a generic export takes about 370 bytes an
   order, so about a quarter of the files' orders. Building the indexes again sorts every row,
   old and new: 1M lines into an empty store saved about 4 s of CPU for 1 s of building, but a
   re-import of the same file into the store it made (nothing to insert) would only pay for the
   rebuild, and importing a file as large as the store gains little. */
#define LOAD_MIN_BYTES       ((int64_t)8 << 20)
#define LOAD_BYTES_PER_ORDER 1600

/* Chooses the load mode, and drops the load indexes for an initial load or builds those a
   killed load left missing. */
static int begin_load(struct importer *imp, enum hk_load_mode mode, int64_t bytes, bool journal,
                      bool *initial, struct hk_err *err)
{
    int64_t stored = 0;
    int rc;
    *initial = mode == HK_LOAD_INITIAL;
    if (mode == HK_LOAD_AUTO && bytes >= LOAD_MIN_BYTES) {
        if ((rc = hk_irepo_orders_max_id(imp->db, &stored, err)) < 0)
            return rc;
        *initial = stored <= bytes / LOAD_BYTES_PER_ORDER;
    }
    if (!*initial)
        return hk_irepo_load_indexes_restore(imp->db, NULL, err);
    bool owned = false, locked = false;
    /* the load lock before any drop: a migrate meanwhile (hk_store_migrate builds missing load
       indexes unless a load holds it) would build them again under the load */
    if ((rc = hk_db_load_lock(imp->db, &locked, err)) < 0 ||
        (journal && (rc = hk_db_load_journal(imp->db, true, &imp->rollback_journal, err)) < 0) ||
        (rc = hk_irepo_load_indexes_drop(imp->db, err)) < 0 ||
        (rc = hk_irepo_identities_key_drop(imp->db, &owned, err)) < 0)
        return rc;
    /* Only the load that dropped identities_key may skip look-ups of keys (identity.h): it is
       the only writer adding identities while nothing refuses a key twice, and any other's
       first rows build the index again (ingest_repo.h). */
    hk_resolver_set_keys_owned(imp->resolver, owned);
    hk_resolver_set_complete(imp->resolver, owned);
    return 0;
}

/* An initial load sizes its filter of order numbers at one per KNOWN_BYTES_PER_ORDER bytes of
   its files (a generic export takes ~370 bytes an order), at most KNOWN_MAX_ORDERS (24 MiB):
   past that, false "maybe"s grow and cost look-ups, never correctness. */
#define KNOWN_BYTES_PER_ORDER 256
#define KNOWN_MAX_ORDERS      ((size_t)4 << 20)

/* The resolver's filter of keys its cache dropped (hk_resolver_set_limits) is sized at one key
   per FILTER_BYTES_PER_KEY bytes of the files (a generic export takes ~360 bytes a key). */
#define FILTER_BYTES_PER_KEY 256

static int known_add(void *arg, const char *no, size_t len)
{
    hk_bloom_add(arg, no, len);
    return 0;
}

/* Starts the filter of order numbers that may be stored: those stored now, and (create_order)
   every order the load creates. */
static int known_orders(struct importer *imp, int64_t bytes, struct hk_err *err)
{
    size_t want = (size_t)(bytes / KNOWN_BYTES_PER_ORDER);
    if (hk_bloom_init(&imp->known, want < KNOWN_MAX_ORDERS ? want : KNOWN_MAX_ORDERS) < 0)
        return oom(err);
    return hk_irepo_order_numbers(imp->db, known_add, &imp->known, err);
}

/* Builds the indexes an initial load dropped; rc is the import's outcome so far, returned
   unless it was 0 and the build failed. */
static int end_load(struct importer *imp, int rc, struct hk_err *err)
{
    struct hk_err later;
    hk_err_clear(&later);
    hk_db_rollback(imp->db); /* a no-op unless a failure left a transaction open */
    int rc2 = hk_irepo_load_indexes_restore(imp->db, NULL, rc < 0 ? &later : err);
    /* identities_key is back (or, after a failure, missing for any writer or load to build):
       another load may drop it again */
    /* Back to WAL. What the load committed stands either way, so a failure is not the
       import's: hk_db_release then does not pool the connection, and the next connection to
       open the file asks for WAL. */
    struct hk_err ignored;
    hk_err_clear(&ignored);
    (void)hk_db_load_journal(imp->db, false, NULL, &ignored);
    hk_db_load_unlock(imp->db);
    return rc < 0 ? rc : rc2;
}

/* Moves the reader's new row errors into res. */
static int collect_row_errors(struct hk_reader *rd, struct hk_import_result *res, size_t max,
                              const char *file)
{
    size_t n = 0;
    const struct hk_row_error *e = hk_reader_errors(rd, &n);
    for (size_t i = 0; i < n; i++) {
        res->rejected++;
        if (res->nerrors < max) {
            res->errors[res->nerrors] = e[i];
            res->errors[res->nerrors].file = file;
            res->nerrors++;
        }
    }
    if (n)
        hk_reader_take_errors(rd);
    return 0;
}

/* ---- pipelined file batches ---------------------------------------------------------------- */

/*
 * A file import writes through hk_db_pipeline: batch n is queued (BEGIN, the bulk loads,
 * COMMIT) and the writer thread runs it while this thread reads, resolves and queues the
 * batches after it; batch n is confirmed once batch n+PIPE_DEPTH is queued. Up to
 * PIPE_DEPTH + 1 batches are unconfirmed at a time, so the reader keeps that many generations
 * of records (hk_reader_rotate) and each batch keeps its own errors and counts (part) until it
 * is confirmed, when they join the result in file order. When a queued batch fails, the
 * pipeline is turned off (which rolls back what is open), the caches forgotten, and the
 * unconfirmed batches are redone by run_batch one after the other, oldest first — its
 * per-order fallback included — as without a pipeline; then the pipeline goes on again. With
 * opts->no_pipeline the same loop writes each batch at once (write_batch_now), so both ways
 * share reading, counting and progress.
 *
 * Why two batches queued and not one (session 13): with one, this thread waited for batch n
 * as soon as it had queued n+1, so a batch that took the writer longer than the next took this
 * thread made it wait, and one that took this thread longer left the writer idle, even when
 * the two were even over a few batches (10M lines: this thread waited 2.5 s and the writer
 * 3.9 s, besides 2.7 s in fdatasync, of a 29 s pipelined phase, half the batches each way).
 * A second queued batch absorbs such swings; it costs a generation of records and copies.
 */
#define PIPE_DEPTH   HK_READER_KEPT
#define PIPE_BATCHES (PIPE_DEPTH + 1)
struct pbatch {
    const struct hk_order_rec **recs;
    size_t n;
    enum hk_apply_outcome *outc;
    struct hk_import_result part; /* rows rejected and counts, until confirmed */
    size_t reader_nerrors;        /* part after the reader's errors, before applying */
    int64_t reader_rejected;
    int64_t rows, done_bytes; /* the file's records and bytes read up to this batch's end */
    struct counts cnt;        /* imp->cnt after applying */
    uint64_t mark;            /* the pipeline mark after its COMMIT; 0 = nothing queued */
};

/* Batches queued and not yet confirmed, oldest first (at most PIPE_DEPTH). */
struct inflight {
    struct pbatch *b[PIPE_DEPTH];
    size_t n;
};

static void part_reset(struct pbatch *b)
{
    struct hk_row_error *e = b->part.errors;
    memset(&b->part, 0, sizeof b->part);
    b->part.errors = e;
    b->n = 0;
    b->mark = 0;
    memset(&b->cnt, 0, sizeof b->cnt);
}

/* Adds a confirmed batch's errors and counts to res (errors beyond max are only counted). */
static void part_merge(struct hk_import_result *res, const struct pbatch *b, size_t max)
{
    const struct hk_import_result *p = &b->part;
    res->rejected += p->rejected;
    for (size_t i = 0; i < p->nerrors && res->nerrors < max; i++)
        res->errors[res->nerrors++] = p->errors[i];
    res->orders_created += p->orders_created;
    res->orders_updated += p->orders_updated;
    res->orders_unchanged += p->orders_unchanged;
    res->items_created += p->items_created;
    res->items_staged += p->items_staged;
    res->customers_created += p->customers_created;
}

/* Between two batches of a file import: lets the writers that wait for the database go first
   (hk_db_load_poll), which also ends SQLite's rollback journal of an initial load when another
   connection waits to open the file. The journal also ends once the load has merged customers.
   A merge builds identities_customer and orders_customer again (load indexes, hk_irepo_merge),
   and from then on every batch changes pages all over both, each journalled and synced at
   every commit: past a few million lines that costs more than WAL (session 8, 10M lines with
   both indexes kept: 93 s against 75 s in WAL). A failure here costs speed only. */
static void load_check(struct importer *imp)
{
    struct hk_err ignored;
    hk_err_clear(&ignored);
    if (imp->rollback_journal) {
        struct hk_resolver_stats st;
        hk_resolver_stats(imp->resolver, &st);
        if (st.merges > 0)
            (void)hk_db_load_journal(imp->db, false, NULL, &ignored);
    }
    (void)hk_db_load_poll(imp->db, NULL, &ignored); /* a no-op unless in bulk mode */
}

/* Applies b and queues its transaction; 0 when its COMMIT is queued. */
static int queue_batch(struct importer *imp, struct pbatch *b, const struct batch_io *io,
                       struct hk_err *err)
{
    int rc;
    memset(&imp->cnt, 0, sizeof imp->cnt);
    for (size_t i = 0; i < b->n; i++)
        b->outc[i] = 0;
    load_check(imp);
    if ((rc = begin_batch(imp, err)) < 0)
        return rc;
    rc = apply_set(imp, b->recs, b->n, io, 0, err);
    if (rc == 0)
        rc = hk_db_commit(imp->db, err);
    if (rc < 0) {
        hk_db_rollback(imp->db);
        return rc;
    }
    b->cnt = imp->cnt;
    b->mark = hk_db_pipeline_mark(imp->db);
    return 0;
}

/* Waits for b's commit (none when it has nothing to write); on success its counts join
   b->part. Only for a batch that was queued. */
static int confirm_batch(struct importer *imp, struct pbatch *b, struct hk_err *err)
{
    if (b->n && !b->mark) /* a wait for mark 0 would succeed at once */
        return hk_err_set(err, HK_E(INTERNAL), "import: a batch confirmed before it was queued");
    int rc = b->n ? hk_db_pipeline_wait(imp->db, b->mark, err) : 0;
    if (rc < 0)
        return rc;
    count_outcomes(&b->cnt, b->outc, b->n);
    add_counts(&b->part, &b->cnt);
    imp->cnt = b->cnt;
    bulk_grown(imp);
    b->mark = 0;
    return 0;
}

/* Writes b at once, without the pipeline (run_batch, with its per-order fallback): a batch
   without the pipeline, or one redone after the pipeline failed. */
static int write_batch_now(struct importer *imp, struct pbatch *b, const struct batch_io *io,
                           struct hk_err *err)
{
    b->part.nerrors = b->reader_nerrors;
    b->part.rejected = b->reader_rejected;
    b->part.orders_created = b->part.orders_updated = b->part.orders_unchanged = 0;
    b->part.items_created = b->part.items_staged = b->part.customers_created = 0;
    b->mark = 0;
    struct batch_io bio = *io;
    bio.outcomes = b->outc;
    bio.res = &b->part;
    load_check(imp);
    return b->n ? run_batch(imp, b->recs, b->n, &bio, err) : 0;
}

/* One file of a pipelined import. */
struct file_run {
    struct importer *imp;
    struct hk_reader *rd;
    const char *file;
    size_t batch_n, max_errors;
    const struct hk_import_opts *o;
    struct hk_import_result *res;
    int64_t rows_before, finished_bytes, total_bytes;
};

/* A batch is committed: its errors and counts join the result, progress is reported. */
static void batch_done(const struct file_run *fr, struct pbatch *b)
{
    part_merge(fr->res, b, fr->max_errors);
    fr->res->rows = fr->rows_before + b->rows;
    if (fr->o->progress)
        fr->o->progress(fr->o->progress_arg, fr->finished_bytes + b->done_bytes, fr->total_bytes,
                        fr->res->rows);
    part_reset(b);
}

/* Redoes the unconfirmed batches redo[0..n) in that order without the pipeline, each joining
   the result once committed, then turns the pipeline on again. */
static int recover(const struct file_run *fr, struct pbatch *const *redo, size_t n,
                   const struct batch_io *io, struct hk_err *err)
{
    struct importer *imp = fr->imp;
    struct hk_err ignored;
    hk_err_clear(&ignored);
    hk_db_rollback(imp->db);
    (void)hk_db_pipeline(imp->db, false, &ignored); /* rolls back, forgets the failure */
    forget_caches(imp);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        fr->res->pipeline_redos += redo[i]->n > 0; /* an empty batch writes nothing */
        if ((rc = write_batch_now(imp, redo[i], io, err)) < 0)
            return rc;
        batch_done(fr, redo[i]);
    }
    return hk_db_pipeline(imp->db, true, err);
}

/* Confirms the batches of q in order, each joining the result, until one fails; redoes that
   one, the rest and then extra (a batch that could not be queued, or NULL) without the
   pipeline (recover). q ends empty. */
static int confirm_all(const struct file_run *fr, struct inflight *q, struct pbatch *extra,
                       const struct batch_io *io, struct hk_err *err)
{
    struct hk_err ignored;
    struct pbatch *redo[PIPE_DEPTH + 1];
    size_t i = 0, n = 0;
    for (; i < q->n; i++) {
        hk_err_clear(&ignored);
        if (confirm_batch(fr->imp, q->b[i], &ignored) < 0)
            break;
        batch_done(fr, q->b[i]);
    }
    for (; i < q->n; i++)
        redo[n++] = q->b[i];
    if (extra)
        redo[n++] = extra;
    q->n = 0;
    return n ? recover(fr, redo, n, io, err) : 0;
}

/* Queues cur after the batches of q and confirms the oldest of them when PIPE_DEPTH are
   queued; when any of them fails, every unconfirmed one is redone, in order, without the
   pipeline. A batch with nothing to write (the reader's errors only) goes through q too, so
   that the result takes errors and counts in file order. */
static int queue_or_recover(const struct file_run *fr, struct inflight *q, struct pbatch *cur,
                            const struct batch_io *io, struct hk_err *err)
{
    struct importer *imp = fr->imp;
    struct hk_err ignored;
    struct batch_io cio = *io;
    cio.outcomes = cur->outc;
    cio.res = &cur->part;
    hk_err_clear(&ignored);
    if (cur->n && queue_batch(imp, cur, &cio, &ignored) < 0)
        return confirm_all(fr, q, cur, io, err);
    if (q->n == PIPE_DEPTH) {
        hk_err_clear(&ignored);
        if (confirm_batch(imp, q->b[0], &ignored) < 0) /* confirm_all meets it again */
            return confirm_all(fr, q, cur, io, err);
        batch_done(fr, q->b[0]);
        memmove(&q->b[0], &q->b[1], (PIPE_DEPTH - 1) * sizeof(q->b[0]));
        q->n--;
    }
    q->b[q->n++] = cur;
    return 0;
}

/*
 * Reads, applies and writes one file, with the pipeline (see struct pbatch) unless
 * fr->o->no_pipeline; B: PIPE_BATCHES batches' buffers. Returns 0, or a negative HK_E code (batches
 * committed before it stay in res).
 */
static int import_file(const struct file_run *fr, struct pbatch *B, struct hk_err *err)
{
    struct importer *imp = fr->imp;
    const struct batch_io io = {NULL, NULL, NULL, fr->max_errors, fr->file};
    struct inflight q = {{NULL}, 0};
    int ci = 0, rc, rrc = 0;
    bool eof = false;
    struct hk_err ignored;

    bool piped = !fr->o->no_pipeline;
    if (piped && (rc = hk_db_pipeline(imp->db, true, err)) < 0)
        return rc;
    while (!eof) {
        struct pbatch *cur = &B[ci];
        part_reset(cur);
        hk_reader_rotate(fr->rd); /* frees the records of the batch before q's: confirmed */
        while (cur->n < fr->batch_n) {
            const struct hk_order_rec *rec;
            rrc = hk_reader_next(fr->rd, &rec, err);
            collect_row_errors(fr->rd, &cur->part, fr->max_errors, fr->file);
            if (rrc <= 0)
                break;
            cur->recs[cur->n++] = rec;
        }
        eof = rrc <= 0;
        cur->reader_nerrors = cur->part.nerrors;
        cur->reader_rejected = cur->part.rejected;
        cur->rows = hk_reader_records(fr->rd);
        cur->done_bytes = hk_reader_bytes_done(fr->rd);

        if (!piped) {
            if ((rc = write_batch_now(imp, cur, &io, err)) < 0)
                goto done;
            batch_done(fr, cur);
        } else if ((rc = queue_or_recover(fr, &q, cur, &io, err)) < 0) {
            goto done;
        }
        ci = (ci + 1) % PIPE_BATCHES;
        if (rrc < 0 || (fr->o->cancel && *fr->o->cancel)) {
            if (rrc >= 0)
                fr->res->cancelled = true;
            break;
        }
    }
    if ((rc = confirm_all(fr, &q, NULL, &io, err)) < 0)
        goto done;
    if (rrc < 0)
        rc = rrc;
done:
    hk_err_clear(&ignored);
    hk_db_rollback(imp->db);
    (void)hk_db_pipeline(imp->db, false, &ignored);
    return rc;
}

int hk_import_files(const struct hk_ingest_ctx *ctx, const char *const *paths,
                    const char *const *display_names, size_t n, const struct hk_import_opts *opts,
                    struct hk_import_result *res, struct hk_err *err)
{
    struct hk_import_opts o = {0};
    struct hk_reader **rd = NULL;
    size_t *order = NULL;
    struct importer *imp = NULL;
    struct pbatch pb[PIPE_BATCHES];
    memset(pb, 0, sizeof pb);
    int64_t total_bytes = 0, finished_bytes = 0, rows_before = res->rows;
    int rc = 0;

    if (opts)
        o = *opts;
    size_t batch_n = o.batch_orders > 0 ? (size_t)o.batch_orders : DEFAULT_BATCH;
    size_t max_errors = o.max_errors_kept ? o.max_errors_kept : DEFAULT_MAX_ERRORS;

    if (!res->errors) {
        res->errors = calloc(max_errors, sizeof(*res->errors));
        if (!res->errors)
            return oom(err);
        res->nerrors = 0;
    }
    rd = calloc(n ? n : 1, sizeof(*rd));
    order = calloc(n ? n : 1, sizeof(*order));
    char **files = realloc(res->files, (res->nfiles + n) * sizeof(*files));
    if (files)
        res->files = files;
    if (!rd || !order || !files) {
        rc = oom(err);
        goto done;
    }
    size_t file0 = res->nfiles;
    for (size_t i = 0; i < n; i++) {
        const char *name = display_names && display_names[i] ? display_names[i] : paths[i];
        res->files[res->nfiles] = hk_strdup(name);
        if (!res->files[res->nfiles]) {
            rc = oom(err);
            goto done;
        }
        res->nfiles++;
    }

    /* Open every file first: a file that cannot be read or lacks a column stops the import
       before anything is written. */
    for (size_t i = 0; i < n; i++) {
        if ((rc = hk_reader_open(paths[i], res->files[file0 + i], o.format, ctx->tz, &rd[i], err)) <
            0)
            goto done;
        total_bytes += hk_reader_bytes_total(rd[i]);
    }
    size_t no = 0; /* Taobao detail lists first, then the rest, each in the order given */
    for (size_t i = 0; i < n; i++)
        if (hk_reader_format(rd[i]) == HK_FMT_TAOBAO_DETAILS)
            order[no++] = i;
    for (size_t i = 0; i < n; i++)
        if (hk_reader_format(rd[i]) != HK_FMT_TAOBAO_DETAILS)
            order[no++] = i;

    if ((rc = importer_new(ctx, o.shop, NULL, true, &imp, err)) < 0)
        goto done;
    for (int b = 0; b < PIPE_BATCHES; b++) {
        pb[b].recs = calloc(batch_n, sizeof(*pb[b].recs));
        pb[b].outc = calloc(batch_n, sizeof(*pb[b].outc));
        pb[b].part.errors = calloc(max_errors, sizeof(*pb[b].part.errors));
        if (!pb[b].recs || !pb[b].outc || !pb[b].part.errors) {
            rc = oom(err);
            goto done;
        }
    }
    rc = begin_load(imp, o.load, total_bytes, o.load_journal, &res->initial_load, err);
    res->rollback_journal = imp->rollback_journal;
    imp->initial = res->initial_load;
    if (rc < 0)
        goto done;
    if (res->initial_load && (rc = known_orders(imp, total_bytes, err)) < 0)
        goto done;
    hk_resolver_set_limits(imp->resolver, o.identity_cache_keys,
                           (size_t)(total_bytes / FILTER_BYTES_PER_KEY));

    for (size_t f = 0; f < n && !res->cancelled; f++) {
        size_t i = order[f];
        const struct file_run fr = {imp, rd[i], res->files[file0 + i], batch_n,        max_errors,
                                    &o,  res,   rows_before,           finished_bytes, total_bytes};
        if ((rc = import_file(&fr, pb, err)) < 0)
            goto done;
        rows_before += hk_reader_records(rd[i]);
        finished_bytes += hk_reader_bytes_total(rd[i]);
    }
    rc = 0;
done:
    if (imp && res->initial_load)
        rc = end_load(imp, rc, err);
    if (imp && imp->bulk) {
        /* here, not in hk_db_release: the end of the bulk mode makes the import durable on
           PostgreSQL (synchronous_commit), and its failure is the import's */
        struct hk_err later;
        hk_err_clear(&later);
        hk_db_rollback(imp->db); /* a no-op unless a failure left a transaction open */
        int rc2 = hk_db_bulk(imp->db, false, rc < 0 ? &later : err);
        if (rc == 0)
            rc = rc2;
    }
    if (imp) {
        struct hk_resolver_stats st;
        hk_resolver_stats(imp->resolver, &st);
        res->identity_lookups += st.keys_looked_up;
        res->identity_found += st.keys_found;
        res->identity_restarts += st.restarts;
    }
    importer_free(imp);
    for (int b = 0; b < PIPE_BATCHES; b++) {
        free(pb[b].recs);
        free(pb[b].outc);
        free(pb[b].part.errors);
    }
    for (size_t i = 0; rd && i < n; i++)
        hk_reader_close(rd[i]);
    free(rd);
    free(order);
    return rc;
}
