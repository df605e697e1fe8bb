/*
 * rfm.c — RFM scores, the eight classic segments, the tiers and the report.
 *
 * Scores (1..5) are given to buyers only (live customers with a counted order); everybody else
 * keeps 0, which the segment language reads as "missing".
 *   - quintiles: score = 1 + floor(5 * w / n), n = number of buyers, w = number of buyers
 *     strictly worse (R: more recency days; F: fewer orders; M: less money). Ties share a score.
 *     Implemented without sorting: four order statistics per dimension (radix select) are the
 *     cut keys, and a buyer's score is 1 + the number of cut keys strictly below its key.
 *   - thresholds: the seller's four cut points per dimension (engine.h).
 * Segments: high/low per dimension against the mean over buyers (or thresholds); id =
 * 1 + 4*(M low) + 2*(R low) + (F low), so 1 = 重要价值客户 ... 8 = 一般挽留客户.
 * Tiers: the first rule whose score ranges all hold; else the "other" tier (id n_tiers + 1).
 *
 * Shops. Shop 0 is "all shops": the columns c_r ... c_tier score every buyer against every
 * buyer with the engine's configuration (e->rfm). Every shop is scored as well, on its own:
 * its buyers are the customers with a counted order in it (the ps_* entries, engine_int.h),
 * with recency, frequency and monetary over that shop's orders only, compared with that
 * shop's buyers under that shop's configuration (its own, or shop 0's when it has none). So a
 * shop-0 configuration change rescores shop 0 and the shops inheriting it; a shop's own change
 * rescores that shop only.
 *
 * Threading: hk_engine_rescore writes the score columns and needs exclusive access.
 */
#include "engine/engine_int.h"

#include "core/err.h"
#include "core/tz.h"
#include "core/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const segment_names[HK_RFM_SEGMENTS] = {
    "重要价值客户", "重要发展客户", "重要保持客户", "重要挽留客户",
    "一般价值客户", "一般发展客户", "一般保持客户", "一般挽留客户"};

const char *hk_rfm_segment_name(int id)
{
    return id >= 1 && id <= HK_RFM_SEGMENTS ? segment_names[id - 1] : NULL;
}

static void set_tier(struct hk_rfm_tier_rule *t, const char *name, int r0, int r1, int f0, int f1,
                     int m0, int m1)
{
    hk_strlcpy(t->name, name, sizeof(t->name));
    t->r_min = (uint8_t)r0;
    t->r_max = (uint8_t)r1;
    t->f_min = (uint8_t)f0;
    t->f_max = (uint8_t)f1;
    t->m_min = (uint8_t)m0;
    t->m_max = (uint8_t)m1;
}

void hk_rfm_config_default(struct hk_rfm_config *c)
{
    memset(c, 0, sizeof(*c));
    c->score_mode = HK_RFM_QUINTILES;
    c->high_mode = HK_RFM_HIGH_MEAN;
    const int32_t r[4] = {30, 90, 180, 365};
    const int64_t f[4] = {2, 3, 5, 10};
    const int64_t m[4] = {10000, 50000, 100000, 500000};
    memcpy(c->r_cuts_days, r, sizeof(r));
    memcpy(c->f_cuts, f, sizeof(f));
    memcpy(c->m_cuts_fen, m, sizeof(m));
    c->r_high_max_days = 90;
    c->f_high_min = 2;
    c->m_high_min_fen = 50000;
    set_tier(&c->tiers[0], "高价值客户", 4, 5, 4, 5, 4, 5);
    set_tier(&c->tiers[1], "潜力客户", 4, 5, 1, 2, 3, 5);
    set_tier(&c->tiers[2], "待唤醒客户", 1, 2, 3, 5, 3, 5);
    set_tier(&c->tiers[3], "一般挽留客户", 1, 2, 1, 2, 1, 2);
    c->n_tiers = 4;
    hk_strlcpy(c->other_tier, "其他", sizeof(c->other_tier));
}

int hk_rfm_config_validate(const struct hk_rfm_config *c, struct hk_err *err)
{
    if (c->score_mode != HK_RFM_QUINTILES && c->score_mode != HK_RFM_SCORE_THRESHOLDS)
        return hk_err_set(err, HK_E(INVAL), "score mode must be quintiles or thresholds");
    if (c->high_mode != HK_RFM_HIGH_MEAN && c->high_mode != HK_RFM_HIGH_THRESHOLDS)
        return hk_err_set(err, HK_E(INVAL), "high/low mode must be mean or thresholds");
    for (int i = 1; i < 4; i++) {
        if (c->r_cuts_days[i] <= c->r_cuts_days[i - 1])
            return hk_err_setf(err, HK_E(INVAL), "r_cuts_days",
                               "R thresholds must be strictly ascending days");
        if (c->f_cuts[i] <= c->f_cuts[i - 1])
            return hk_err_setf(err, HK_E(INVAL), "f_cuts",
                               "F thresholds must be strictly ascending order counts");
        if (c->m_cuts_fen[i] <= c->m_cuts_fen[i - 1])
            return hk_err_setf(err, HK_E(INVAL), "m_cuts",
                               "M thresholds must be strictly ascending amounts");
    }
    if (c->r_cuts_days[0] < 0)
        return hk_err_setf(err, HK_E(INVAL), "r_cuts_days", "R thresholds must be >= 0 days");
    if (c->n_tiers > HK_RFM_MAX_TIERS)
        return hk_err_set(err, HK_E(INVAL), "at most %d tier rules", HK_RFM_MAX_TIERS);
    if (!c->other_tier[0] || !memchr(c->other_tier, '\0', sizeof(c->other_tier)))
        return hk_err_set(err, HK_E(INVAL), "the other tier needs a name (under 64 bytes)");
    for (size_t i = 0; i < c->n_tiers; i++) {
        const struct hk_rfm_tier_rule *t = &c->tiers[i];
        if (!t->name[0] || !memchr(t->name, '\0', sizeof(t->name)))
            return hk_err_set(err, HK_E(INVAL), "tier %zu needs a name (under 64 bytes)", i + 1);
        if (t->r_min < 1 || t->r_max > 5 || t->r_min > t->r_max || t->f_min < 1 || t->f_max > 5 ||
            t->f_min > t->f_max || t->m_min < 1 || t->m_max > 5 || t->m_min > t->m_max)
            return hk_err_set(err, HK_E(INVAL),
                              "tier '%s': every score range must lie within 1..5 with min <= max",
                              t->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->tiers[j].name, t->name) == 0)
                return hk_err_set(err, HK_E(INVAL), "tier '%s' is named twice", t->name);
        if (strcmp(t->name, c->other_tier) == 0)
            return hk_err_set(err, HK_E(INVAL), "tier '%s' has the other tier's name", t->name);
    }
    return 0;
}

int hk_engine_rfm_configure(struct hk_engine *e, const struct hk_rfm_config *c, struct hk_err *err)
{
    int rc = hk_rfm_config_validate(c, err);
    if (rc)
        return rc;
    e->rfm = *c;
    return 0;
}

const struct hk_rfm_config *hk_engine_rfm_config(const struct hk_engine *e)
{
    return &e->rfm;
}

static int unknown_shop(struct hk_err *err, int64_t shop_id)
{
    return hk_err_set(err, HK_E(NOTFOUND), "unknown shop %lld", (long long)shop_id);
}

int hk_engine_rfm_configure_shop(struct hk_engine *e, int64_t shop_id,
                                 const struct hk_rfm_config *c, struct hk_err *err)
{
    if (shop_id == 0) {
        if (!c)
            return hk_err_set(err, HK_E(INVAL), "shop 0 (all shops) cannot inherit");
        return hk_engine_rfm_configure(e, c, err);
    }
    uint32_t s = hk_engine_shop_index(e, shop_id);
    if (s == HK_SHOP_NONE)
        return unknown_shop(err, shop_id);
    if (!c) {
        free(e->shops[s].cfg);
        e->shops[s].cfg = NULL;
        return 0;
    }
    int rc = hk_rfm_config_validate(c, err);
    if (rc)
        return rc;
    if (!e->shops[s].cfg && !(e->shops[s].cfg = malloc(sizeof(*c))))
        return hk_err_set(err, HK_E(NOMEM), "out of memory configuring RFM");
    *e->shops[s].cfg = *c;
    return 0;
}

const struct hk_rfm_config *hk_engine_rfm_config_shop(const struct hk_engine *e, int64_t shop_id,
                                                      bool *inherited)
{
    if (shop_id == 0) {
        if (inherited)
            *inherited = false;
        return &e->rfm;
    }
    uint32_t s = hk_engine_shop_index(e, shop_id);
    if (s == HK_SHOP_NONE)
        return NULL;
    if (inherited)
        *inherited = e->shops[s].cfg == NULL;
    return hk_shop_cfg(e, s);
}

/* ---- quintiles ---------------------------------------------------------------------------- */

/*
 * A buyer's quintile score is 1 + floor(5 w / n), w = buyers with a strictly smaller key (worse).
 * floor(5 w / n) >= k <=> w >= c_k = ceil(k n / 5) <=> the c_k-th smallest key a[c_k - 1] < key.
 * So the score is 1 + the number of the four cut keys a[c_k - 1] (k = 1..4) below the key: four
 * order statistics per dimension (radix select, no sort) and one comparison pass.
 */

/*
 * out[j] = the ranks[j]-th smallest of keys[0..n) (0-based, ascending; m <= 4 ranks < n), all
 * keys <= maxk. Counting when the keys are small, else a 16-bit histogram of the top bits, one
 * pass gathering the keys of the (at most four) buckets that hold a rank, and the same again
 * over each. -1 on OOM.
 */
static int select_ranks(const uint64_t *keys, size_t n, uint64_t maxk, const size_t *ranks, int m,
                        uint64_t *out)
{
    if (maxk < (1u << 20)) { /* counting */
        uint32_t *cnt = calloc(maxk + 1, sizeof(uint32_t));
        if (!cnt)
            return -1;
        for (size_t i = 0; i < n; i++)
            cnt[keys[i]]++;
        size_t seen = 0;
        int j = 0;
        for (uint64_t v = 0; v <= maxk && j < m; v++) {
            seen += cnt[v];
            while (j < m && ranks[j] < seen)
                out[j++] = v;
        }
        free(cnt);
        return 0;
    }
    unsigned shift = 64 - (unsigned)__builtin_clzll(maxk) - 16;
    uint32_t *cnt = calloc((size_t)1 << 16, sizeof(uint32_t)); /* n < 2^32: rows are u32 */
    if (!cnt)
        return -1;
    for (size_t i = 0; i < n; i++)
        cnt[keys[i] >> shift]++;
    /* the buckets holding ranks: nb distinct ones, bucket[q] with the ranks [first[q], +num[q])
     * and the keys below it */
    uint64_t bucket[4];
    size_t below_b[4];
    int first[4], num[4], nb = 0;
    size_t below = 0;
    int j = 0;
    for (uint64_t b = 0; b < ((uint64_t)1 << 16) && j < m; b++) {
        size_t c = cnt[b];
        if (ranks[j] < below + c) {
            bucket[nb] = b;
            below_b[nb] = below;
            first[nb] = j;
            num[nb] = 0;
            while (j < m && ranks[j] < below + c) {
                num[nb]++;
                j++;
            }
            nb++;
        }
        below += c;
    }
    uint64_t *sub[4] = {NULL, NULL, NULL, NULL}, low = (UINT64_C(1) << shift) - 1;
    size_t k[4] = {0, 0, 0, 0};
    int rc = 0;
    for (int q = 0; q < nb && !rc; q++)
        rc = (sub[q] = malloc((cnt[bucket[q]] ? cnt[bucket[q]] : 1) * sizeof(uint64_t))) ? 0 : -1;
    free(cnt);
    if (!rc) {
        for (size_t i = 0; i < n; i++) {
            uint64_t b = keys[i] >> shift;
            for (int q = 0; q < nb; q++)
                if (b == bucket[q])
                    sub[q][k[q]++] = keys[i] & low;
        }
        for (int q = 0; q < nb && !rc; q++) {
            size_t sub_ranks[4];
            for (int t = 0; t < num[q]; t++)
                sub_ranks[t] = ranks[first[q] + t] - below_b[q];
            rc = select_ranks(sub[q], k[q], low, sub_ranks, num[q], out + first[q]);
            for (int t = 0; t < num[q]; t++)
                out[first[q] + t] += bucket[q] << shift;
        }
    }
    for (int q = 0; q < nb; q++)
        free(sub[q]);
    return rc;
}

/* The four cut keys of keys[0..n) (see above; all <= maxk); n > 0. */
static int quintile_cuts(const uint64_t *keys, size_t n, uint64_t maxk, uint64_t cuts[4])
{
    size_t ranks[4];
    for (size_t k = 1; k <= 4; k++)
        ranks[k - 1] = (k * n + 4) / 5 - 1; /* ceil(k n / 5) - 1 */
    return select_ranks(keys, n, maxk, ranks, 4, cuts);
}

static inline uint8_t score_of_cuts(uint64_t key, const uint64_t cuts[4])
{
    return (uint8_t)(1 + (key > cuts[0]) + (key > cuts[1]) + (key > cuts[2]) + (key > cuts[3]));
}

static uint8_t score_up(int64_t v, const int64_t *cuts)
{
    uint8_t s = 1;
    for (int i = 0; i < 4; i++)
        s += v >= cuts[i];
    return s;
}

static bool in_range(uint8_t v, uint8_t lo, uint8_t hi)
{
    return v >= lo && v <= hi;
}

/* Score columns: the engine's own (rescore) or temporary ones (preview). */
struct scores {
    uint8_t *r, *f, *m, *seg, *tier;
    double mean_r;
    size_t n; /* the buyers scored */
};

/* What a scoring pass needs: over the rows (shop 0) or over one shop's entries. */
struct score_pass {
    const struct hk_engine *e;
    const struct hk_rfm_config *c;
    struct scores *sc;
    int32_t today[HK_MAX_ZONES];
    int32_t max_rec;
    int64_t min_m;
    uint64_t cut_r[4], cut_f[4], cut_m[4]; /* quintiles: cut keys, as the keys are made here */
    double mean_r, mean_f, mean_m;
    uint8_t tier_of[5][5][5]; /* [r - 1][f - 1][m - 1] -> tier id */
    /* one shop: its live buyers' entries idx[0..n) (NULL in the one-pass rescore of every
     * shop), its today */
    const uint32_t *idx;
    size_t n;
    int32_t shop_today;
    uint32_t shop;     /* its index */
    uint32_t *own_idx; /* idx built on demand (the fallback of a one-pass rescore), owned */
};

static inline bool is_buyer(const struct hk_engine *e, size_t r)
{
    return e->c_freq[r] > 0 && hk_bit_get(e->live, r);
}

/* Scores one buyer (recency days, frequency, monetary) into sc at index at. */
__attribute__((always_inline)) static inline void score_into(const struct score_pass *p,
                                                             int32_t rec, uint32_t freq,
                                                             int64_t mon, struct scores *sc,
                                                             size_t at)
{
    const struct hk_rfm_config *c = p->c;
    uint8_t sr, sf, sm;
    if (c->score_mode == HK_RFM_QUINTILES) {
        sr = score_of_cuts((uint64_t)((int64_t)p->max_rec - rec), p->cut_r);
        sf = score_of_cuts(freq, p->cut_f);
        sm = score_of_cuts((uint64_t)mon - (uint64_t)p->min_m, p->cut_m);
    } else {
        sr = (uint8_t)(1 + (rec <= c->r_cuts_days[3]) + (rec <= c->r_cuts_days[2]) +
                       (rec <= c->r_cuts_days[1]) + (rec <= c->r_cuts_days[0]));
        sf = score_up(freq, c->f_cuts);
        sm = score_up(mon, c->m_cuts_fen);
    }
    bool rh, fh, mh;
    if (c->high_mode == HK_RFM_HIGH_MEAN) {
        rh = rec <= p->mean_r;
        fh = freq >= p->mean_f;
        mh = (double)mon >= p->mean_m;
    } else {
        rh = rec <= c->r_high_max_days;
        fh = freq >= c->f_high_min;
        mh = mon >= c->m_high_min_fen;
    }
    sc->r[at] = sr;
    sc->f[at] = sf;
    sc->m[at] = sm;
    sc->seg[at] = (uint8_t)(1 + (mh ? 0 : 4) + (rh ? 0 : 2) + (fh ? 0 : 1));
    sc->tier[at] = p->tier_of[sr - 1][sf - 1][sm - 1];
}

static void score_rows(void *arg, size_t lo, size_t hi)
{
    const struct score_pass *p = arg;
    const struct hk_engine *e = p->e;
    struct scores *sc = p->sc;
    for (size_t r = lo; r < hi; r++) {
        if (!is_buyer(e, r)) {
            sc->r[r] = sc->f[r] = sc->m[r] = sc->seg[r] = sc->tier[r] = 0;
            continue;
        }
        score_into(p, p->today[e->c_last_zone[r]] - e->c_last_day[r], e->c_freq[r],
                   e->c_monetary[r], sc, r);
    }
}

/* The four cut keys of keys[0..n) (n > 0; keys may be reordered). maxk: a bound on the keys,
 * or UINT64_MAX when unknown. */
static int cuts_of(uint64_t *keys, size_t n, uint64_t maxk, uint64_t cuts[4]);

/* The quintile cut keys of dimension d (0 R, 1 F, 2 M) over the nb buyers into p. */
static int dimension_cuts(struct score_pass *p, int d, uint64_t *keys, size_t nb)
{
    const struct hk_engine *e = p->e;
    size_t k = 0;
    for (size_t r = 0; r < e->nc; r++) {
        if (!is_buyer(e, r))
            continue;
        if (d == 0) /* R: fewer days is better, so the key is max - days */
            keys[k++] =
                (uint64_t)((int64_t)p->max_rec - (p->today[e->c_last_zone[r]] - e->c_last_day[r]));
        else if (d == 1)
            keys[k++] = e->c_freq[r];
        else
            keys[k++] = (uint64_t)e->c_monetary[r] - (uint64_t)p->min_m;
    }
    return cuts_of(keys, nb, UINT64_MAX, d == 0 ? p->cut_r : d == 1 ? p->cut_f : p->cut_m);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int cuts_of(uint64_t *keys, size_t n, uint64_t maxk, uint64_t cuts[4])
{
    if (n > 4096) {
        if (maxk == UINT64_MAX) {
            maxk = 0;
            for (size_t i = 0; i < n; i++)
                maxk = keys[i] > maxk ? keys[i] : maxk;
        }
        return quintile_cuts(keys, n, maxk, cuts);
    }
    /* a small shop: sorting is cheaper than the counting or radix passes */
    qsort(keys, n, sizeof(uint64_t), cmp_u64);
    for (size_t k = 1; k <= 4; k++)
        cuts[k - 1] = keys[(k * n + 4) / 5 - 1];
    return 0;
}

/*
 * One pass over the buyers gathers what quintiles need: the sums for the means, the extremes,
 * histograms of recency days and of order counts (small integers: their cut keys come from
 * the counts, with no key array and no select) and the money values (the one wide dimension,
 * selected by radix). A value outside a histogram's window falls back to gathering that
 * dimension's keys and selecting (never in practice: recency within +-179 years, fewer than
 * 65536 orders).
 */
#define RH_LO (-65536)
#define RH_N  131072u
#define FH_N  65536u

struct acc {
    size_t n;
    int64_t sum_r;
    uint64_t sum_f;
    long double sum_m;
    int32_t max_rec;
    int64_t min_m;
    uint32_t *hr, *hf; /* histograms, or NULL (a small set: keys are sorted instead) */
    bool r_out, f_out; /* a value fell outside its histogram */
    uint64_t *km;      /* money of each buyer (as uint64), then minus min_m */
    bool km_borrowed;  /* km is the engine's scratch (not freed here) */
    int32_t *vr;       /* a small set: each buyer's recency days and order count */
    uint32_t *vf;
};

static inline void acc_add(struct acc *a, int32_t rec, uint32_t freq, int64_t mon)
{
    a->sum_r += rec;
    a->sum_f += freq;
    a->sum_m += mon;
    a->max_rec = rec > a->max_rec ? rec : a->max_rec;
    a->min_m = mon < a->min_m ? mon : a->min_m;
    if (a->hr) {
        int64_t k = (int64_t)rec - RH_LO;
        if (k >= 0 && k < (int64_t)RH_N)
            a->hr[k]++;
        else
            a->r_out = true;
        if (freq < FH_N)
            a->hf[freq]++;
        else
            a->f_out = true;
    }
    if (a->km)
        a->km[a->n] = (uint64_t)mon;
    if (a->vr) {
        a->vr[a->n] = rec;
        a->vf[a->n] = freq;
    }
    a->n++;
}

/* Sets up an accumulator for up to cap buyers; histograms only past 4096 of them. scratch:
 * cap keys to use for km, or NULL. */
static int acc_init(struct acc *a, size_t cap, bool quintiles, uint64_t *scratch)
{
    memset(a, 0, sizeof(*a));
    a->max_rec = INT32_MIN;
    a->min_m = INT64_MAX;
    if (!quintiles)
        return 0;
    a->km_borrowed = scratch != NULL;
    a->km = scratch ? scratch : malloc((cap ? cap : 1) * sizeof(uint64_t));
    if (cap > 4096) {
        a->hr = calloc(RH_N, sizeof(uint32_t));
        a->hf = calloc(FH_N, sizeof(uint32_t));
        return a->km && a->hr && a->hf ? 0 : -1;
    }
    a->vr = malloc((cap ? cap : 1) * sizeof(int32_t));
    a->vf = malloc((cap ? cap : 1) * sizeof(uint32_t));
    return a->km && a->vr && a->vf ? 0 : -1;
}

static void acc_free(struct acc *a)
{
    free(a->vr);
    free(a->vf);
    free(a->hr);
    free(a->hf);
    if (!a->km_borrowed)
        free(a->km);
}

/* The cut keys from a histogram: R (desc: keys ascend as recency days descend; key =
 * max_rec - days) or F (key = the order count). */
static void hist_cuts(const uint32_t *h, size_t nh, bool desc, int64_t max_rec, size_t n,
                      uint64_t cuts[4])
{
    size_t ranks[4];
    for (size_t k = 1; k <= 4; k++)
        ranks[k - 1] = (k * n + 4) / 5 - 1;
    size_t seen = 0;
    int j = 0;
    for (size_t q = 0; q < nh && j < 4; q++) {
        size_t i = desc ? nh - 1 - q : q;
        seen += h[i];
        while (j < 4 && ranks[j] < seen)
            cuts[j++] = desc ? (uint64_t)(max_rec - ((int64_t)i + RH_LO)) : (uint64_t)i;
    }
}

/*
 * The means and, for quintiles, the cut keys of a gathered accumulator into p. gather(ctx, d,
 * keys) re-gathers dimension d's keys for the small-set and fallback paths (keys: n scratch).
 */
static int acc_finish(struct acc *a, struct score_pass *p,
                      int (*gather)(struct score_pass *, int, uint64_t *))
{
    size_t n = a->n;
    p->max_rec = a->max_rec;
    p->min_m = a->min_m;
    if (!n)
        return 0;
    p->mean_r = (double)a->sum_r / (double)n;
    p->mean_f = (double)a->sum_f / (double)n;
    p->mean_m = (double)(a->sum_m / n);
    if (!a->km)
        return 0; /* thresholds: no cut keys */
    /* money first: km is free for the fallbacks afterwards */
    uint64_t maxk = 0;
    for (size_t i = 0; i < n; i++) {
        a->km[i] -= (uint64_t)a->min_m;
        maxk = a->km[i] > maxk ? a->km[i] : maxk;
    }
    int rc = cuts_of(a->km, n, maxk, p->cut_m);
    if (!rc && a->hr && !a->r_out) {
        hist_cuts(a->hr, RH_N, true, a->max_rec, n, p->cut_r);
    } else if (!rc && a->vr) {
        for (size_t i = 0; i < n; i++)
            a->km[i] = (uint64_t)((int64_t)a->max_rec - a->vr[i]);
        rc = cuts_of(a->km, n, UINT64_MAX, p->cut_r);
    } else if (!rc) {
        rc = gather(p, 0, a->km);
    }
    if (!rc && a->hf && !a->f_out) {
        hist_cuts(a->hf, FH_N, false, 0, n, p->cut_f);
    } else if (!rc && a->vf) {
        for (size_t i = 0; i < n; i++)
            a->km[i] = a->vf[i];
        rc = cuts_of(a->km, n, UINT64_MAX, p->cut_f);
    } else if (!rc) {
        rc = gather(p, 1, a->km);
    }
    return rc;
}

/* Re-gathers a dimension over the rows (the fallback of acc_finish). */
static int gather_rows(struct score_pass *p, int d, uint64_t *keys)
{
    size_t nb = 0;
    for (size_t r = 0; r < p->e->nc; r++)
        nb += is_buyer(p->e, r);
    return dimension_cuts(p, d, keys, nb);
}

/* The tier of every score triple under p->c. */
static void tier_table(struct score_pass *p)
{
    const struct hk_rfm_config *c = p->c;
    for (uint8_t r = 1; r <= 5; r++)
        for (uint8_t f = 1; f <= 5; f++)
            for (uint8_t m = 1; m <= 5; m++) {
                uint8_t tier = (uint8_t)(c->n_tiers + 1);
                for (size_t t = 0; t < c->n_tiers; t++) {
                    const struct hk_rfm_tier_rule *ru = &c->tiers[t];
                    if (in_range(r, ru->r_min, ru->r_max) && in_range(f, ru->f_min, ru->f_max) &&
                        in_range(m, ru->m_min, ru->m_max)) {
                        tier = (uint8_t)(t + 1);
                        break;
                    }
                }
                p->tier_of[r - 1][f - 1][m - 1] = tier;
            }
}

/*
 * Scores every live buyer of e under configuration c as of now into sc (rows of non-buyers get
 * 0). Reads the engine only, so a preview may run under the read lock. One pass gathers the
 * means and the quintile inputs (above), the cut keys follow, then the scoring pass on the
 * engine's threads.
 */
static int score_all(const struct hk_engine *e, const struct hk_rfm_config *c, int64_t now,
                     uint64_t *scratch, struct scores *sc, struct hk_err *err)
{
    struct score_pass *p = calloc(1, sizeof(*p));
    struct acc a;
    bool quint = c->score_mode == HK_RFM_QUINTILES;
    if (!p || acc_init(&a, e->nc, quint, scratch)) {
        if (p)
            acc_free(&a);
        free(p);
        return hk_err_set(err, HK_E(NOMEM), "out of memory scoring RFM");
    }
    p->e = e;
    p->c = c;
    p->sc = sc;
    hk_engine_today(e, now, p->today);
    for (size_t r = 0; r < e->nc; r++)
        if (is_buyer(e, r))
            acc_add(&a, p->today[e->c_last_zone[r]] - e->c_last_day[r], e->c_freq[r],
                    e->c_monetary[r]);
    int rc = acc_finish(&a, p, gather_rows);
    size_t nb = a.n;
    acc_free(&a);
    if (rc) {
        free(p);
        return hk_err_set(err, HK_E(NOMEM), "out of memory scoring RFM");
    }
    tier_table(p);
    hk_engine_parallel(e, e->nc, score_rows, p);
    sc->mean_r = p->mean_r;
    sc->n = nb;
    free(p);
    return 0;
}

/* ---- shops -------------------------------------------------------------------------------- */

static inline bool entry_live(const struct hk_engine *e, size_t i)
{
    return e->ps_row[i] != HK_DEAD && hk_bit_get(e->live, e->ps_row[i]);
}

/* The entries of shop s's live buyers (new array in *out, count in *n; NULL when none). */
static int shop_entries(const struct hk_engine *e, uint32_t s, uint32_t **out, size_t *n)
{
    size_t k = 0;
    for (size_t i = 0; i < e->nps; i++)
        k += e->ps_shop[i] == s && entry_live(e, i);
    *out = NULL;
    *n = k;
    if (!k)
        return 0;
    uint32_t *idx = malloc(k * sizeof(uint32_t));
    if (!idx)
        return -1;
    k = 0;
    for (size_t i = 0; i < e->nps; i++)
        if (e->ps_shop[i] == s && entry_live(e, i))
            idx[k++] = (uint32_t)i;
    *out = idx;
    return 0;
}

/* The quintile cut keys of dimension d over shop p's entries (keys: p->n scratch). */
static int shop_dimension_cuts(struct score_pass *p, int d, uint64_t *keys)
{
    const struct hk_engine *e = p->e;
    for (size_t j = 0; j < p->n; j++) {
        uint32_t i = p->idx[j];
        if (d == 0)
            keys[j] = (uint64_t)((int64_t)p->max_rec - (p->shop_today - e->ps_last[i]));
        else if (d == 1)
            keys[j] = e->ps_freq[i];
        else
            keys[j] = (uint64_t)e->ps_mon[i] - (uint64_t)p->min_m;
    }
    return cuts_of(keys, p->n, UINT64_MAX, d == 0 ? p->cut_r : d == 1 ? p->cut_f : p->cut_m);
}

/* Re-gathers a dimension over one shop's entries (the fallback of acc_finish). */
static int gather_entries(struct score_pass *p, int d, uint64_t *keys)
{
    if (!p->idx) { /* scored in one pass over all shops: list this shop's entries now */
        size_t n = 0;
        if (shop_entries(p->e, p->shop, &p->own_idx, &n) || n != p->n)
            return -1;
        p->idx = p->own_idx;
    }
    return shop_dimension_cuts(p, d, keys);
}

/*
 * Scores shop s's live buyers idx[0..n) under c as of today (the shop's local day) into sc, at
 * the entry index (by_entry: the ps_* columns) or at the position in idx; *mean_r gets the
 * shop's mean recency. Several shops may be scored at once (disjoint entries).
 */
static int score_shop(const struct hk_engine *e, const struct hk_rfm_config *c, int32_t today,
                      const uint32_t *idx, size_t n, bool by_entry, struct scores *sc,
                      double *mean_r)
{
    struct score_pass *p = calloc(1, sizeof(*p));
    struct acc a;
    if (!p || acc_init(&a, n, c->score_mode == HK_RFM_QUINTILES, NULL)) {
        if (p)
            acc_free(&a);
        free(p);
        return -1;
    }
    p->e = e;
    p->c = c;
    p->sc = sc;
    p->idx = idx;
    p->n = n;
    p->shop_today = today;
    for (size_t j = 0; j < n; j++) {
        uint32_t i = idx[j];
        acc_add(&a, today - e->ps_last[i], e->ps_freq[i], e->ps_mon[i]);
    }
    int rc = acc_finish(&a, p, gather_entries);
    acc_free(&a);
    if (!rc) {
        tier_table(p);
        for (size_t j = 0; j < n; j++) {
            uint32_t i = idx[j];
            score_into(p, today - e->ps_last[i], e->ps_freq[i], e->ps_mon[i], sc, by_entry ? i : j);
        }
        *mean_r = p->mean_r;
    }
    free(p);
    return rc;
}

/* The ps_* score columns as a struct scores. */
static struct scores entry_scores(struct hk_engine *e)
{
    struct scores sc = {e->ps_r, e->ps_f, e->ps_m, e->ps_seg, e->ps_tier, 0, 0};
    return sc;
}

/* Zeroes the scores of dead or merged-away entries (never read, but kept tidy). */
static void clear_dead_entries(struct hk_engine *e)
{
    for (size_t i = 0; i < e->nps; i++)
        if (!entry_live(e, i))
            e->ps_r[i] = e->ps_f[i] = e->ps_m[i] = e->ps_seg[i] = e->ps_tier[i] = 0;
}

/*
 * Every selected shop scored at once: one pass over the entries (in storage order) fills each
 * shop's accumulator, the cut keys follow per shop, and one scoring pass over the entries on
 * the engine's threads writes the scores, each entry with its shop's pass.
 */
struct shops_pass {
    struct hk_engine *e;
    struct score_pass **p; /* per shop index; NULL: not rescored */
};

static void shops_score_range(void *arg, size_t lo, size_t hi)
{
    const struct shops_pass *sp = arg;
    const struct hk_engine *e = sp->e;
    for (size_t i = lo; i < hi; i++) {
        const struct score_pass *p = sp->p[e->ps_shop[i]];
        if (!p || !entry_live(e, i))
            continue;
        score_into(p, p->shop_today - e->ps_last[i], e->ps_freq[i], e->ps_mon[i], p->sc, i);
    }
}

/* Two configurations that score alike (every field the scores and tiers depend on). */
static bool same_scoring(const struct hk_rfm_config *a, const struct hk_rfm_config *b)
{
    if (a == b)
        return true;
    if (a->score_mode != b->score_mode || a->high_mode != b->high_mode || a->n_tiers != b->n_tiers)
        return false;
    if (a->score_mode == HK_RFM_SCORE_THRESHOLDS &&
        (memcmp(a->r_cuts_days, b->r_cuts_days, sizeof(a->r_cuts_days)) ||
         memcmp(a->f_cuts, b->f_cuts, sizeof(a->f_cuts)) ||
         memcmp(a->m_cuts_fen, b->m_cuts_fen, sizeof(a->m_cuts_fen))))
        return false;
    if (a->high_mode == HK_RFM_HIGH_THRESHOLDS &&
        (a->r_high_max_days != b->r_high_max_days || a->f_high_min != b->f_high_min ||
         a->m_high_min_fen != b->m_high_min_fen))
        return false;
    for (size_t t = 0; t < a->n_tiers; t++) {
        const struct hk_rfm_tier_rule *x = &a->tiers[t], *y = &b->tiers[t];
        if (x->r_min != y->r_min || x->r_max != y->r_max || x->f_min != y->f_min ||
            x->f_max != y->f_max || x->m_min != y->m_min || x->m_max != y->m_max)
            return false;
    }
    return true;
}

static void copy_row_scores(void *arg, size_t lo, size_t hi)
{
    struct hk_engine *e = arg;
    for (size_t i = lo; i < hi; i++) {
        uint32_t r = e->ps_row[i];
        if (r == HK_DEAD || !hk_bit_get(e->live, r)) {
            e->ps_r[i] = e->ps_f[i] = e->ps_m[i] = e->ps_seg[i] = e->ps_tier[i] = 0;
            continue;
        }
        e->ps_r[i] = e->c_r[r];
        e->ps_f[i] = e->c_f[r];
        e->ps_m[i] = e->c_m[r];
        e->ps_seg[i] = e->c_seg[r];
        e->ps_tier[i] = e->c_tier[r];
    }
}

/*
 * Rescores every shop (inheriting_only: those scoring with shop 0's configuration). all: shop
 * 0's scores, just made. When every buyer bought in one shop only, and the same one (a seller
 * with one shop), that shop's buyers, their recency, frequency and monetary and (when it scores
 * like shop 0) its configuration are shop 0's, so its scores are shop 0's: copied, not made.
 */
static int rescore_shops(struct hk_engine *e, int64_t now, bool inheriting_only,
                         const struct scores *all, struct hk_err *err)
{
    if (!e->nshops || !e->nps)
        return 0;
    bool any = !inheriting_only;
    for (uint32_t s = 0; s < e->nshops && !any; s++)
        any = !e->shops[s].cfg;
    if (!any)
        return 0; /* every shop has its own configuration: nothing to rescore */
    int32_t today[HK_MAX_ZONES];
    hk_engine_today(e, now, today);
    struct score_pass **p = calloc(e->nshops, sizeof(*p));
    struct acc *a = calloc(e->nshops, sizeof(*a));
    size_t *cnt = calloc(e->nshops, sizeof(size_t));
    struct scores *sc = malloc(sizeof(*sc));
    int rc = p && a && cnt && sc ? 0 : -1;
    if (!rc) {
        *sc = entry_scores(e);
        for (size_t i = 0; i < e->nps; i++)
            if (entry_live(e, i))
                cnt[e->ps_shop[i]]++;
        uint32_t only = HK_SHOP_NONE, with = 0;
        for (uint32_t s = 0; s < e->nshops; s++)
            if (cnt[s]) {
                only = s;
                with++;
            }
        if (with == 1 && cnt[only] == all->n && same_scoring(hk_shop_cfg(e, only), &e->rfm)) {
            for (uint32_t s = 0; s < e->nshops; s++)
                if (!inheriting_only || !e->shops[s].cfg)
                    e->shops[s].mean_recency_days = s == only ? all->mean_r : 0;
            if (!inheriting_only || !e->shops[only].cfg)
                hk_engine_parallel(e, e->nps, copy_row_scores, e);
            free(p);
            free(a);
            free(cnt);
            free(sc);
            return 0;
        }
    }
    for (uint32_t s = 0; s < e->nshops && !rc; s++) {
        if (inheriting_only && e->shops[s].cfg)
            continue;
        const struct hk_rfm_config *c = hk_shop_cfg(e, s);
        if (!(p[s] = calloc(1, sizeof(*p[s]))) ||
            acc_init(&a[s], cnt[s], c->score_mode == HK_RFM_QUINTILES, NULL)) {
            rc = -1;
            break;
        }
        p[s]->e = e;
        p[s]->c = c;
        p[s]->sc = sc;
        p[s]->n = cnt[s];
        p[s]->shop = s;
        p[s]->shop_today = today[e->s_zone[s]];
    }
    if (!rc)
        for (size_t i = 0; i < e->nps; i++) {
            uint16_t s = e->ps_shop[i];
            if (p[s] && entry_live(e, i))
                acc_add(&a[s], p[s]->shop_today - e->ps_last[i], e->ps_freq[i], e->ps_mon[i]);
        }
    for (uint32_t s = 0; s < e->nshops && !rc; s++) {
        if (!p[s])
            continue;
        rc = acc_finish(&a[s], p[s], gather_entries);
        tier_table(p[s]);
        e->shops[s].mean_recency_days = cnt[s] ? p[s]->mean_r : 0;
    }
    if (!rc) {
        struct shops_pass sp = {e, p};
        hk_engine_parallel(e, e->nps, shops_score_range, &sp);
        if (!inheriting_only)
            clear_dead_entries(e);
    }
    for (uint32_t s = 0; a && p && s < e->nshops; s++) {
        if (p[s])
            free(p[s]->own_idx);
        free(p[s]);
        acc_free(&a[s]);
    }
    free(p);
    free(a);
    free(cnt);
    free(sc);
    return rc ? hk_err_set(err, HK_E(NOMEM), "out of memory scoring RFM") : 0;
}

static int rescore_one_shop(struct hk_engine *e, uint32_t s, int64_t now, struct hk_err *err)
{
    uint32_t *idx = NULL;
    size_t n = 0;
    if (shop_entries(e, s, &idx, &n))
        return hk_err_set(err, HK_E(NOMEM), "out of memory scoring RFM");
    struct scores sc = entry_scores(e);
    double mean = 0;
    int rc = score_shop(e, hk_shop_cfg(e, s), hk_tz_local_day(e->zones[e->s_zone[s]], now), idx, n,
                        true, &sc, &mean);
    e->shops[s].mean_recency_days = n ? mean : 0;
    free(idx);
    return rc ? hk_err_set(err, HK_E(NOMEM), "out of memory scoring RFM") : 0;
}

/* The rescores' money keys, one per row, kept in the engine (NULL when out of memory: then the
 * rescore allocates its own). */
static uint64_t *rfm_scratch(struct hk_engine *e)
{
    size_t need = e->nc ? e->nc : 1;
    if (e->rfm_keys_cap < need) {
        size_t cap = need + need / 8;
        uint64_t *k = realloc(e->rfm_keys, cap * sizeof(uint64_t));
        if (!k)
            return NULL;
        e->rfm_keys = k;
        e->rfm_keys_cap = cap;
    }
    return e->rfm_keys;
}

int hk_engine_rescore(struct hk_engine *e, int64_t now, struct hk_err *err)
{
    struct scores sc = {e->c_r, e->c_f, e->c_m, e->c_seg, e->c_tier, 0, 0};
    int rc = score_all(e, &e->rfm, now, rfm_scratch(e), &sc, err);
    e->mean_recency_days = rc ? 0 : sc.mean_r;
    if (!rc)
        rc = rescore_shops(e, now, false, &sc, err);
    return rc;
}

int hk_engine_rescore_shop(struct hk_engine *e, int64_t shop_id, int64_t now, struct hk_err *err)
{
    if (shop_id == 0) {
        struct scores sc = {e->c_r, e->c_f, e->c_m, e->c_seg, e->c_tier, 0, 0};
        int rc = score_all(e, &e->rfm, now, rfm_scratch(e), &sc, err);
        e->mean_recency_days = rc ? 0 : sc.mean_r;
        return rc ? rc : rescore_shops(e, now, true, &sc, err);
    }
    uint32_t s = hk_engine_shop_index(e, shop_id);
    if (s == HK_SHOP_NONE)
        return unknown_shop(err, shop_id);
    return rescore_one_shop(e, s, now, err);
}

/* ---- report ------------------------------------------------------------------------------- */

static void finish_group(struct hk_rfm_group *g, uint64_t buyers, int64_t spend)
{
    g->share = buyers ? (double)g->customers / (double)buyers : 0;
    g->spend_share = spend ? (double)g->spend_fen / (double)spend : 0;
    g->aov_fen = g->orders ? (double)g->spend_fen / (double)g->orders : 0;
}

static void report_start(const struct hk_rfm_config *c, struct hk_rfm_report *out)
{
    memset(out, 0, sizeof(*out));
    for (int s = 0; s < HK_RFM_SEGMENTS; s++)
        hk_strlcpy(out->segments[s].name, segment_names[s], HK_RFM_NAME_MAX);
    for (size_t t = 0; t < c->n_tiers; t++)
        hk_strlcpy(out->tiers[t].name, c->tiers[t].name, HK_RFM_NAME_MAX);
    hk_strlcpy(out->tiers[c->n_tiers].name, c->other_tier, HK_RFM_NAME_MAX);
    out->n_tiers = c->n_tiers + 1;
}

/* Counts one buyer with scores at sc[at] into the report. */
static void report_add(struct hk_rfm_report *out, const struct scores *sc, size_t at, uint32_t freq,
                       int64_t mon)
{
    out->buyers++;
    out->spend_fen += mon;
    if (sc->r[at] && sc->f[at])
        out->grid[sc->r[at] - 1][sc->f[at] - 1]++;
    struct hk_rfm_group *g[2] = {NULL, NULL};
    if (sc->seg[at])
        g[0] = &out->segments[sc->seg[at] - 1];
    if (sc->tier[at] && sc->tier[at] <= out->n_tiers)
        g[1] = &out->tiers[sc->tier[at] - 1];
    for (int i = 0; i < 2; i++) {
        if (!g[i])
            continue;
        g[i]->customers++;
        g[i]->spend_fen += mon;
        g[i]->orders += freq;
    }
}

static void report_finish(struct hk_rfm_report *out, double mean_r, long double sum_f,
                          long double sum_m)
{
    if (out->buyers) {
        out->mean_recency_days = mean_r;
        out->mean_frequency = (double)(sum_f / out->buyers);
        out->mean_monetary_fen = (double)(sum_m / out->buyers);
    }
    for (int s = 0; s < HK_RFM_SEGMENTS; s++)
        finish_group(&out->segments[s], out->buyers, out->spend_fen);
    for (size_t t = 0; t < out->n_tiers; t++)
        finish_group(&out->tiers[t], out->buyers, out->spend_fen);
}

/* The report of scores sc made under configuration c. */
static void report_of(const struct hk_engine *e, const struct hk_rfm_config *c,
                      const struct scores *sc, struct hk_rfm_report *out)
{
    report_start(c, out);
    long double sum_f = 0, sum_m = 0;
    for (size_t r = 0; r < e->nc; r++) {
        if (!hk_bit_get(e->live, r))
            continue;
        out->customers++;
        if (!e->c_freq[r])
            continue;
        sum_f += e->c_freq[r];
        sum_m += e->c_monetary[r];
        report_add(out, sc, r, e->c_freq[r], e->c_monetary[r]);
    }
    report_finish(out, sc->mean_r, sum_f, sum_m);
}

/* The report of one shop's buyers idx[0..n) with scores sc (at the entry or the position). */
static void report_of_shop(const struct hk_engine *e, const struct hk_rfm_config *c,
                           const uint32_t *idx, size_t n, bool by_entry, const struct scores *sc,
                           struct hk_rfm_report *out)
{
    report_start(c, out);
    long double sum_f = 0, sum_m = 0;
    for (size_t j = 0; j < n; j++) {
        uint32_t i = idx[j];
        sum_f += e->ps_freq[i];
        sum_m += e->ps_mon[i];
        report_add(out, sc, by_entry ? i : j, e->ps_freq[i], e->ps_mon[i]);
    }
    out->customers = out->buyers; /* a shop's customers are the ones who bought in it */
    report_finish(out, sc->mean_r, sum_f, sum_m);
}

void hk_engine_rfm_report(const struct hk_engine *e, struct hk_rfm_report *out)
{
    struct scores sc = {e->c_r, e->c_f, e->c_m, e->c_seg, e->c_tier, e->mean_recency_days, 0};
    report_of(e, &e->rfm, &sc, out);
}

int hk_engine_rfm_report_shop(const struct hk_engine *e, int64_t shop_id, struct hk_rfm_report *out,
                              struct hk_err *err)
{
    if (shop_id == 0) {
        hk_engine_rfm_report(e, out);
        return 0;
    }
    uint32_t s = hk_engine_shop_index(e, shop_id);
    if (s == HK_SHOP_NONE)
        return unknown_shop(err, shop_id);
    uint32_t *idx = NULL;
    size_t n = 0;
    if (shop_entries(e, s, &idx, &n))
        return hk_err_set(err, HK_E(NOMEM), "out of memory reporting RFM");
    struct scores sc = {
        e->ps_r, e->ps_f, e->ps_m, e->ps_seg, e->ps_tier, e->shops[s].mean_recency_days, 0};
    report_of_shop(e, hk_shop_cfg(e, s), idx, n, true, &sc, out);
    free(idx);
    return 0;
}

int hk_engine_rfm_preview(const struct hk_engine *e, const struct hk_rfm_config *c, int64_t now,
                          struct hk_rfm_report *out, struct hk_err *err)
{
    int rc = hk_rfm_config_validate(c, err);
    if (rc)
        return rc;
    uint8_t *cols = malloc(5 * (e->nc ? e->nc : 1));
    if (!cols)
        return hk_err_set(err, HK_E(NOMEM), "out of memory previewing RFM");
    struct scores sc = {cols, cols + e->nc, cols + 2 * e->nc, cols + 3 * e->nc, cols + 4 * e->nc, 0,
                        0};
    rc = score_all(e, c, now, NULL, &sc, err);
    if (!rc)
        report_of(e, c, &sc, out);
    free(cols);
    return rc;
}

int hk_engine_rfm_preview_shop(const struct hk_engine *e, int64_t shop_id,
                               const struct hk_rfm_config *c, int64_t now,
                               struct hk_rfm_report *out, struct hk_err *err)
{
    if (shop_id == 0)
        return hk_engine_rfm_preview(e, c, now, out, err);
    int rc = hk_rfm_config_validate(c, err);
    if (rc)
        return rc;
    uint32_t s = hk_engine_shop_index(e, shop_id);
    if (s == HK_SHOP_NONE)
        return unknown_shop(err, shop_id);
    uint32_t *idx = NULL;
    size_t n = 0;
    if (shop_entries(e, s, &idx, &n))
        return hk_err_set(err, HK_E(NOMEM), "out of memory previewing RFM");
    size_t m = n ? n : 1;
    uint8_t *cols = malloc(5 * m);
    struct scores sc = {cols, cols + m, cols + 2 * m, cols + 3 * m, cols + 4 * m, 0, 0};
    rc = cols ? score_shop(e, c, hk_tz_local_day(e->zones[e->s_zone[s]], now), idx, n, false, &sc,
                           &sc.mean_r)
              : -1;
    if (!rc)
        report_of_shop(e, c, idx, n, false, &sc, out);
    free(cols);
    free(idx);
    return rc ? hk_err_set(err, HK_E(NOMEM), "out of memory previewing RFM") : 0;
}

/* ---- per customer ------------------------------------------------------------------------- */

static const char *tier_name(const struct hk_rfm_config *c, uint8_t t)
{
    if (!t)
        return NULL;
    return t <= c->n_tiers ? c->tiers[t - 1].name : c->other_tier;
}

size_t hk_engine_customer_shops(const struct hk_engine *e, int64_t customer_id, int64_t now,
                                struct hk_engine_shop_rfm *out, size_t max)
{
    int64_t row = hk_engine_row_of(e, customer_id);
    if (row < 0)
        return 0;
    size_t r = (size_t)row, k = 0;
    for (uint32_t i = e->c_psstart[r]; i < e->c_psstart[r] + e->c_pscount[r]; i++, k++) {
        if (k >= max)
            continue;
        uint16_t s = e->ps_shop[i];
        struct hk_engine_shop_rfm *o = &out[k];
        memset(o, 0, sizeof(*o));
        o->shop_id = e->shops[s].id;
        o->frequency = e->ps_freq[i];
        o->monetary_fen = e->ps_mon[i];
        o->recency_days = hk_tz_local_day(e->zones[e->s_zone[s]], now) - e->ps_last[i];
        o->r_score = e->ps_r[i];
        o->f_score = e->ps_f[i];
        o->m_score = e->ps_m[i];
        o->rfm_segment = e->ps_seg[i] ? hk_rfm_segment_name(e->ps_seg[i]) : NULL;
        o->rfm_tier = tier_name(hk_shop_cfg(e, s), e->ps_tier[i]);
    }
    return k;
}

/* ---- naming a shop ------------------------------------------------------------------------ */

int hk_engine_shop_resolve(const struct hk_engine *e, const char *text, int64_t *shop_id,
                           struct hk_err *err)
{
    size_t len = strlen(text);
    bool digits = len > 0 && len < 19;
    for (size_t i = 0; i < len && digits; i++)
        digits = text[i] >= '0' && text[i] <= '9';
    if (digits) {
        int64_t id = 0;
        for (size_t i = 0; i < len; i++)
            id = id * 10 + (text[i] - '0');
        if (id == 0 || hk_engine_shop_known(e, id)) {
            *shop_id = id;
            return 0;
        }
    }
    const char *colon = strchr(text, ':');
    uint32_t found = HK_SHOP_NONE;
    size_t hits = 0;
    for (uint32_t s = 0; s < e->nshops; s++) {
        const struct hk_shop *sh = &e->shops[s];
        if (!sh->name)
            continue;
        bool m = strcmp(sh->name, text) == 0;
        if (!m && colon && sh->channel) {
            size_t cl = (size_t)(colon - text);
            m = strlen(sh->channel) == cl && memcmp(sh->channel, text, cl) == 0 &&
                strcmp(sh->name, colon + 1) == 0;
        }
        if (m) {
            hits++;
            found = s;
        }
    }
    if (hits == 1) {
        *shop_id = e->shops[found].id;
        return 0;
    }
    if (hits > 1) {
        char list[256] = "";
        size_t n = 0;
        for (uint32_t s = 0; s < e->nshops && n + 1 < sizeof list; s++) {
            const struct hk_shop *sh = &e->shops[s];
            if (sh->name && strcmp(sh->name, text) == 0)
                n += (size_t)snprintf(list + n, sizeof list - n, "%s\"%s:%s\"", n ? ", " : "",
                                      sh->channel ? sh->channel : "", sh->name);
        }
        return hk_err_set(err, HK_E(INVAL),
                          "shop name \"%s\" is ambiguous: write \"channel:name\" (%s) or the "
                          "shop's id",
                          text, list);
    }
    /* the nearest name, as for other unknown names, in the form the language takes: a name
     * two channels share is suggested as "channel:name" (its plain form would be ambiguous) */
    char best[512] = "";
    size_t best_d = SIZE_MAX;
    for (uint32_t s = 0; s < e->nshops; s++) {
        const char *nm = e->shops[s].name;
        if (!nm)
            continue;
        bool shared = false;
        for (uint32_t o = 0; o < e->nshops && !shared && e->shops[s].channel; o++)
            shared = o != s && e->shops[o].name && strcmp(e->shops[o].name, nm) == 0;
        char form[512];
        snprintf(form, sizeof form, "%s%s%s", shared ? e->shops[s].channel : "", shared ? ":" : "",
                 nm);
        size_t d = hk_edit_distance(text, len, form, strlen(form));
        if (shared && !colon) {
            size_t dn = hk_edit_distance(text, len, nm, strlen(nm));
            d = dn < d ? dn : d;
        }
        if (d < best_d) {
            best_d = d;
            snprintf(best, sizeof best, "%s", form);
        }
    }
    size_t limit = len / 2 > 3 ? len / 2 : 3;
    if (best[0] && best_d <= limit)
        return hk_err_set(err, HK_E(NOTFOUND), "unknown shop \"%s\" (did you mean '%s'?)", text,
                          best);
    return hk_err_set(err, HK_E(NOTFOUND), "unknown shop \"%s\"", text);
}
