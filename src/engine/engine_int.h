/*
 * engine_int.h — the engine's own layout, shared by table.c, rfm.c and segment.c only.
 *
 * Customers: dense rows 0..nc-1 (a hash maps store ids to rows). Each column is one array.
 *
 * History lives in three families of flat arrays — orders (o_*), order lines (l_*) and events
 * (e_*). A customer's orders are the contiguous range [c_ostart, c_ostart + c_ocount), its lines
 * [c_lstart, +c_lcount) (grouped by order, in the order of its orders), its events likewise.
 * Changing a customer's history after the load moves its ranges to the tail of the arrays
 * (unless they are already there) and marks the old slots dead; regroup() compacts when dead
 * slots pass half the live ones. So per-customer walks and flat scans both work:
 *   - a dead line has l_day == HK_DAY_NONE and l_cust == HK_DEAD; a dead event likewise;
 *   - a line of an order that is not counted also has l_day == HK_DAY_NONE, so a flat scan
 *     "counted and within N days" is one comparison on l_day;
 *   - l_ord is the global index of the line's order, so lines of one order are consecutive.
 * Days are shop-local day numbers: an order's in its shop's zone, s_zone[o_shop[o]] (o_shop is an
 * index into the shop table, 2 bytes instead of a pointer-sized id); a line is in its order's
 * zone; an event's zone is e_zone (an index into zones[]).
 *
 * Per-shop RFM (rfm.c): a buyer's (customer, shop) pairs are a fourth history family, ps_*,
 * one entry per shop in which the customer has a counted order, with that shop's frequency,
 * monetary, last counted day (in the shop's zone) and the scores against that shop's buyers.
 * A customer's entries are the contiguous range [c_psstart, +c_pscount); entries are rewritten
 * in place when the customer's shop set does not grow, else moved to the tail (dead entries
 * have ps_row == HK_DEAD) and compacted by regroup() with the other families. Sparse: most
 * customers buy in one shop, so there are about as many entries as buyers.
 *
 * Invariants: every column has capacity >= its family's count; the bitmap `live` has a bit for
 * every row (1 = not merged away); tag bitmaps are sized to the customer capacity.
 */
/*
 * Note for engine/snapshot.c (helper B, session 3), from the per-shop RFM change (helper A):
 * columns changed here — o_zone (u8, per order) is now o_shop (u16, per order: shop index);
 * new per-customer columns c_psstart, c_pscount (u32); a new family ps_* (count nps, capacity
 * cps, dead ps_dead): ps_row (u32), ps_shop (u16), ps_freq (u32), ps_mon (i64), ps_last (i32),
 * ps_r, ps_f, ps_m, ps_seg, ps_tier (u8); the shop table (shops[], s_zone[], nshops, shop_map
 * replacing shop_zone) with names and per-shop RFM configurations; rfm_keys / rfm_keys_cap
 * are the rescores' scratch (nothing to save).
 */
#ifndef HK_ENGINE_ENGINE_INT_H
#define HK_ENGINE_ENGINE_INT_H

#include "engine/engine.h"

#include <stdint.h>

struct hk_tz;

#define HK_DAY_NONE     INT32_MIN
#define HK_DEAD         UINT32_MAX
#define HK_CAT_NONE     UINT16_MAX
#define HK_MAX_ZONES    64
#define HK_MAX_CATS     65535u
#define HK_MAX_CHANNELS 32u

enum { HK_OF_COUNTED = 1, HK_OF_COUPON = 2, HK_OF_REFUND = 4, HK_OF_PAID_AT = 8 };

struct hk_dict {
    char **names;
    uint32_t *lens;
    uint32_t n, cap;
    uint32_t *slots; /* open addressing: id + 1, 0 = empty */
    uint32_t nslots; /* power of two */
};

/** Frees a dictionary's names and slots and zeroes it (table.c). */
void hk_dict_free(struct hk_dict *d);

struct hk_i64map {
    int64_t *keys; /* INT64_MIN = empty */
    uint32_t *vals;
    size_t nslots; /* power of two or 0 */
    size_t n;
};

/* One key family of the bought() index, CSR: key k owns entries [off[k], off[k+1]), sorted by
 * row, one per (key, customer) with the customer's latest counted day of that key. */
#define HK_DELTA_ADD UINT32_MAX /* a delta entry that adds to a clean row's index entries */

struct hk_kindex {
    uint32_t nkeys;
    uint32_t *off; /* nkeys + 1 */
    uint32_t *row;
    uint16_t *day; /* day - ix_epoch */
    uint8_t *cnt;  /* distinct counted orders of the key, saturating at 255 */
    /* delta for dirty rows: entry i = (key, row, day) of batch d_batch[i]; only the row's
     * latest batch is current: d_batch[i] + 1 == d_cur[row] */
    struct hk_delta {
        uint32_t key, row, batch;
        int32_t day;
    } * d;
    size_t dn, dcap;
    uint32_t *d_cur; /* per row, d_cur_n entries; 0 = no batch */
    size_t d_cur_n;
    uint32_t *d_pos; /* per key < nkeys: the delta entry of key k last written, + 1 */
};

/* A shop. channel and name are NULL until described (hk_engine_shop_describe). */
struct hk_shop {
    int64_t id;
    char *channel, *name;
    struct hk_rfm_config *cfg; /* its own RFM configuration; NULL = inherits the engine's */
    double mean_recency_days;  /* over its buyers, at its last scoring */
};

#define HK_SHOP_NONE UINT16_MAX
#define HK_MAX_SHOPS 65535u

struct hk_engine {
    int threads;
    bool loaded;
    struct hk_dict dicts[HK_DICT_COUNT_];

    struct hk_tz *zones[HK_MAX_ZONES];
    uint32_t nzones;
    uint8_t default_zone;

    /* shops: store id -> shop index (shop_map); per index the zone (s_zone, the hot column of
     * scans) and the rest in shops[] */
    struct hk_i64map shop_map;
    struct hk_shop *shops;
    uint8_t *s_zone;
    uint32_t nshops, cshops;

    struct hk_i64map product_map; /* product id -> product slot */
    uint32_t *p_name;             /* HK_DICT_PRODUCT id */
    uint16_t *p_cat;              /* HK_DICT_CATEGORY id or HK_CAT_NONE */
    size_t np, cp;

    /* customers */
    /* customer id -> row: ids below cust_dense_n index cust_dense directly (store ids are
     * dense: one memory access, 4 bytes per id); any other id is in cust_map */
    struct hk_i64map cust_map;
    uint32_t *cust_dense; /* HK_ENGINE_NONE = no such customer */
    size_t cust_dense_n;
    size_t nc, cc;
    int64_t *c_id;
    uint32_t *c_ostart, *c_ocount, *c_lstart, *c_lcount, *c_estart, *c_ecount;
    int32_t *c_first_day, *c_last_day;
    uint8_t *c_first_zone, *c_last_zone;
    uint32_t *c_freq, *c_refunds, *c_coupon;
    int64_t *c_monetary;
    uint16_t *c_main_cat;
    uint32_t *c_province, *c_city, *c_channels;
    uint8_t *c_r, *c_f, *c_m, *c_seg, *c_tier;
    uint32_t *c_psstart, *c_pscount; /* the row's per-shop RFM entries (ps_*) */
    uint64_t *live;                  /* bitmap, cc/64 rounded up words */
    uint64_t **tag_bits;
    size_t ntag_bits;
    uint8_t *tag_retired; /* per tag id: 1 = gone from the store, unknown by name (tags.c) */
    size_t ntag_retired;

    /* orders */
    size_t no, co, o_dead;
    int64_t *o_id, *o_paid_at;
    /* amounts in fen: int32 columns while every amount fits ("narrow"); the first amount that
     * does not moves both families to the int64 columns for good (amounts_wide) */
    bool amounts_wide;
    int32_t *o_net;
    int64_t *o_net_w;
    int32_t *o_day;
    uint32_t *o_cust;
    uint8_t *o_flags;
    uint16_t *o_shop; /* shop index; the order's zone is s_zone[o_shop[o]] */

    /* lines */
    size_t nl, cl, l_dead;
    uint32_t *l_cust, *l_ord, *l_prod;
    int32_t *l_day;
    int32_t *l_fen; /* narrow, or l_fen_w when amounts_wide (see o_net) */
    int64_t *l_fen_w;
    uint16_t *l_cat; /* a line's zone is its order's: s_zone[o_shop[l_ord[l]]] */

    /* events */
    size_t ne, ce, e_dead;
    uint32_t *e_cust;
    uint16_t *e_type;
    int32_t *e_day;
    uint8_t *e_zone;

    /* per (customer, shop) RFM entries (see the top of this file) */
    size_t nps, cps, ps_dead;
    uint32_t *ps_row, *ps_freq;
    uint16_t *ps_shop;
    int64_t *ps_mon;
    int32_t *ps_last;
    uint8_t *ps_r, *ps_f, *ps_m, *ps_seg, *ps_tier;

    /* RFM */
    struct hk_rfm_config rfm; /* shop 0: all shops, and every shop without its own */
    double mean_recency_days; /* over buyers, at the last rescore */
    /* scratch of the rescores (write lock held): the buyers' money keys, kept between rescores
     * so a rescore touches no fresh pages; previews allocate their own */
    uint64_t *rfm_keys;
    size_t rfm_keys_cap;

    int64_t *scratch_cat; /* per-category sums for single-row derivation, HK_MAX_CATS + 1 */

    /* bought() index (index.c): per category and per product, the customers with a counted
     * line of it and their latest such day. Rows changed since the build are "dirty": their
     * CSR entries are ignored and their current (key, latest day) pairs live in a delta. */
    bool ix_valid;
    int32_t ix_epoch; /* day numbers are stored as day - ix_epoch (u16) */
    struct hk_kindex ix_cat, ix_prod;
    uint64_t *ix_dirty; /* bitmap, ix_dirty_words words (rows beyond are clean: no entries) */
    size_t ix_dirty_words;
    size_t ix_builds;      /* number of builds, for tests */
    size_t ix_delta_limit; /* rebuild past this many delta entries; 0 = max(65536, lines / 16) */

    /* aov as a comparable key: 2 * floor(monetary / frequency) + (remainder != 0), so for an
     * integer X: aov > X <=> key > 2X, aov = X <=> key = 2X, ... Stored as int32: INT32_MIN =
     * no counted order, INT32_MAX = does not fit (then aov_wide_rows > 0 and comparisons take
     * the exact path over monetary / frequency). */
    int32_t *c_aov_key;
    size_t aov_wide_rows;
};

/* table.c */
static inline int64_t hk_o_net(const struct hk_engine *e, size_t o)
{
    return e->amounts_wide ? e->o_net_w[o] : e->o_net[o];
}
static inline int64_t hk_l_fen(const struct hk_engine *e, size_t l)
{
    return e->amounts_wide ? e->l_fen_w[l] : e->l_fen[l];
}
static inline bool hk_bit_get(const uint64_t *b, size_t i)
{
    return (b[i >> 6] >> (i & 63)) & 1u;
}
size_t hk_engine_words(const struct hk_engine *e);
/** Today (local day of now) per zone, into today[HK_MAX_ZONES]. */
void hk_engine_today(const struct hk_engine *e, int64_t now, int32_t *today);
/** True when tag id was retired (hk_engine_tag_retire) and not defined or set since. */
bool hk_engine_tag_retired(const struct hk_engine *e, uint32_t tag);
/** The tag is known by name again (defined, or set on a customer). */
void hk_engine_tag_revive(struct hk_engine *e, uint32_t tag);
/** The tag bitmap of a tag dictionary id (NULL when nobody carries it). */
const uint64_t *hk_engine_tag_bits(const struct hk_engine *e, uint32_t tag);
/** Tag's bitmap; with create, grown and allocated (NULL: out of memory) (table.c). */
uint64_t *hk_engine_tag_bitmap(struct hk_engine *e, uint32_t tag, bool create);
/** Runs fn(ctx, lo, hi) over [0, n) split across the engine's threads. */
void hk_engine_parallel(const struct hk_engine *e, size_t n, void (*fn)(void *, size_t, size_t),
                        void *ctx);
/* index.c */
/** Builds the bought() index from the history (after the load). -1 on OOM (index left off). */
int hk_index_build(struct hk_engine *e);
/** Row r's history changed: its index entries are stale. Rebuilds when too many are. */
void hk_index_dirty(struct hk_engine *e, uint32_t r);
/** Row r gained lines [ls, le) (a new order, nothing else changed). */
void hk_index_added(struct hk_engine *e, uint32_t r, uint32_t ls, uint32_t le);
void hk_index_free(struct hk_engine *e);
/**
 * bought(category or product = key) with a counted line on a day > cut (INT32_MIN: any day),
 * one cut for every zone, into out (words words, overwritten). False when the index is off.
 */
bool hk_index_bought(const struct hk_engine *e, bool product, uint32_t key, int32_t cut,
                     uint64_t *out, size_t words);
/**
 * bought(key, day > cut) with min_count: rows certainly in (by the entries' order counts) into
 * sure, rows whose history must be walked to count (a window, a saturated count, a row changed
 * since the build) into maybe; every other row is out. -1 when the index is off.
 */
int hk_index_bought_count(const struct hk_engine *e, bool product, uint32_t key, int32_t cut,
                          uint32_t min_count, uint64_t *sure, uint64_t *maybe, size_t words);
/** Computes row r's aov key from c_monetary / c_freq. */
static inline int64_t hk_aov_key(int64_t mon, uint32_t freq)
{
    if (!freq)
        return INT64_MIN;
    int64_t q = mon / (int64_t)freq, rem = mon % (int64_t)freq;
    if (rem < 0) { /* floor */
        q--;
        rem += freq;
    }
    return 2 * q + (rem != 0);
}

/* rfm.c */
/** The configuration shop index s scores with (its own or the engine's). */
static inline const struct hk_rfm_config *hk_shop_cfg(const struct hk_engine *e, uint32_t s)
{
    return e->shops[s].cfg ? e->shops[s].cfg : &e->rfm;
}
/** The shop index of a store shop id, or HK_SHOP_NONE. */
uint32_t hk_engine_shop_index(const struct hk_engine *e, int64_t shop_id);

/** Codepoint edit distance, for suggestions. */
size_t hk_edit_distance(const char *a, size_t alen, const char *b, size_t blen);

#endif
