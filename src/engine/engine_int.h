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
 * Days are shop-local day numbers in the zone o_zone / l_zone / e_zone (an index into zones[]).
 *
 * Invariants: every column has capacity >= its family's count; the bitmap `live` has a bit for
 * every row (1 = not merged away); tag bitmaps are sized to the customer capacity.
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

struct hk_i64map {
    int64_t *keys; /* INT64_MIN = empty */
    uint32_t *vals;
    size_t nslots; /* power of two or 0 */
    size_t n;
};

struct hk_engine {
    int threads;
    bool loaded;
    struct hk_dict dicts[HK_DICT_COUNT_];

    struct hk_tz *zones[HK_MAX_ZONES];
    uint32_t nzones;
    uint8_t default_zone;
    struct hk_i64map shop_zone; /* shop id -> zone index */

    struct hk_i64map product_map; /* product id -> product slot */
    uint32_t *p_name;             /* HK_DICT_PRODUCT id */
    uint16_t *p_cat;              /* HK_DICT_CATEGORY id or HK_CAT_NONE */
    size_t np, cp;

    /* customers */
    struct hk_i64map cust_map;
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
    uint64_t *live; /* bitmap, cc/64 rounded up words */
    uint64_t **tag_bits;
    size_t ntag_bits;

    /* orders */
    size_t no, co, o_dead;
    int64_t *o_id, *o_paid_at, *o_net;
    int32_t *o_day;
    uint32_t *o_cust;
    uint8_t *o_flags, *o_zone;

    /* lines */
    size_t nl, cl, l_dead;
    uint32_t *l_cust, *l_ord, *l_prod;
    int32_t *l_day;
    int64_t *l_fen;
    uint16_t *l_cat;
    uint8_t *l_zone;

    /* events */
    size_t ne, ce, e_dead;
    uint32_t *e_cust;
    uint16_t *e_type;
    int32_t *e_day;
    uint8_t *e_zone;

    /* RFM */
    struct hk_rfm_config rfm;
    double mean_recency_days; /* over buyers, at the last rescore */

    int64_t *scratch_cat; /* per-category sums for single-row derivation, HK_MAX_CATS + 1 */
};

/* table.c */
static inline bool hk_bit_get(const uint64_t *b, size_t i)
{
    return (b[i >> 6] >> (i & 63)) & 1u;
}
size_t hk_engine_words(const struct hk_engine *e);
/** Today (local day of now) per zone, into today[HK_MAX_ZONES]. */
void hk_engine_today(const struct hk_engine *e, int64_t now, int32_t *today);
/** The tag bitmap of a tag dictionary id (NULL when nobody carries it). */
const uint64_t *hk_engine_tag_bits(const struct hk_engine *e, uint32_t tag);
/** Runs fn(ctx, lo, hi) over [0, n) split across the engine's threads. */
void hk_engine_parallel(const struct hk_engine *e, size_t n, void (*fn)(void *, size_t, size_t),
                        void *ctx);
/** Codepoint edit distance, for suggestions. */
size_t hk_edit_distance(const char *a, size_t alen, const char *b, size_t blen);

#endif
