/*
 * rfm.c — RFM scores, the eight classic segments, the tiers and the report.
 *
 * Scores (1..5) are given to buyers only (live customers with a counted order); everybody else
 * keeps 0, which the segment language reads as "missing".
 *   - quintiles: score = 1 + floor(5 * w / n), n = number of buyers, w = number of buyers
 *     strictly worse (R: more recency days; F: fewer orders; M: less money). Ties share a score.
 *     Implemented by one LSD radix sort per dimension (11-bit digits over value - min), then a
 *     walk over runs of equal keys: w is the run's start position.
 *   - thresholds: the seller's four cut points per dimension (engine.h).
 * Segments: high/low per dimension against the mean over buyers (or thresholds); id =
 * 1 + 4*(M low) + 2*(R low) + (F low), so 1 = 重要价值客户 ... 8 = 一般挽留客户.
 * Tiers: the first rule whose score ranges all hold; else the "other" tier (id n_tiers + 1).
 *
 * Threading: hk_engine_rescore writes the score columns and needs exclusive access.
 */
#include "engine/engine_int.h"

#include "core/err.h"
#include "core/util.h"

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

/* ---- quintiles ---------------------------------------------------------------------------- */

/*
 * Scores n values (larger key = better) into out[idx[i]]: 1 + floor(5 * strictly-worse / n).
 * keys/idx are permuted; tk/ti are scratch of n elements.
 */
static void quintiles(uint64_t *keys, uint32_t *idx, uint64_t *tk, uint32_t *ti, size_t n,
                      uint8_t *out)
{
    uint64_t maxk = 0;
    for (size_t i = 0; i < n; i++)
        if (keys[i] > maxk)
            maxk = keys[i];
    enum { BITS = 11, RADIX = 1 << BITS };
    static const size_t zero_counts[RADIX];
    size_t counts[RADIX];
    for (unsigned shift = 0; shift < 64 && (maxk >> shift) != 0; shift += BITS) {
        memcpy(counts, zero_counts, sizeof(counts));
        for (size_t i = 0; i < n; i++)
            counts[(keys[i] >> shift) & (RADIX - 1)]++;
        size_t sum = 0;
        for (size_t d = 0; d < RADIX; d++) {
            size_t c = counts[d];
            counts[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) {
            size_t p = counts[(keys[i] >> shift) & (RADIX - 1)]++;
            tk[p] = keys[i];
            ti[p] = idx[i];
        }
        uint64_t *sk = keys;
        keys = tk;
        tk = sk;
        uint32_t *si = idx;
        idx = ti;
        ti = si;
    }
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && keys[j] == keys[i])
            j++;
        uint8_t s = (uint8_t)(1 + (5 * (uint64_t)i) / n);
        for (size_t k = i; k < j; k++)
            out[idx[k]] = s;
        i = j;
    }
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

int hk_engine_rescore(struct hk_engine *e, int64_t now, struct hk_err *err)
{
    int32_t today[HK_MAX_ZONES];
    hk_engine_today(e, now, today);
    size_t nb = 0;
    for (size_t r = 0; r < e->nc; r++) {
        e->c_r[r] = e->c_f[r] = e->c_m[r] = e->c_seg[r] = e->c_tier[r] = 0;
        e->mean_recency_days = 0;
        nb += e->c_freq[r] > 0 && hk_bit_get(e->live, r);
    }
    if (nb == 0)
        return 0;
    uint32_t *rows = malloc(nb * sizeof(uint32_t));
    int32_t *rec = malloc(nb * sizeof(int32_t));
    uint64_t *keys = malloc(nb * sizeof(uint64_t)), *tk = malloc(nb * sizeof(uint64_t));
    uint32_t *idx = malloc(nb * sizeof(uint32_t)), *ti = malloc(nb * sizeof(uint32_t));
    uint8_t *sc = malloc(nb);
    if (!rows || !rec || !keys || !tk || !idx || !ti || !sc) {
        free(rows);
        free(rec);
        free(keys);
        free(tk);
        free(idx);
        free(ti);
        free(sc);
        return hk_err_set(err, HK_E(NOMEM), "out of memory scoring RFM");
    }
    size_t k = 0;
    long double sum_r = 0, sum_f = 0, sum_m = 0;
    int64_t min_m = INT64_MAX;
    for (size_t r = 0; r < e->nc; r++) {
        if (!(e->c_freq[r] > 0 && hk_bit_get(e->live, r)))
            continue;
        rows[k] = (uint32_t)r;
        rec[k] = today[e->c_last_zone[r]] - e->c_last_day[r];
        sum_r += rec[k];
        sum_f += e->c_freq[r];
        sum_m += e->c_monetary[r];
        if (e->c_monetary[r] < min_m)
            min_m = e->c_monetary[r];
        k++;
    }
    double mean_r = (double)(sum_r / nb), mean_f = (double)(sum_f / nb),
           mean_m = (double)(sum_m / nb);
    const struct hk_rfm_config *c = &e->rfm;
    if (c->score_mode == HK_RFM_QUINTILES) {
        int32_t max_r = INT32_MIN;
        for (size_t i = 0; i < nb; i++)
            max_r = rec[i] > max_r ? rec[i] : max_r;
        /* R: fewer days is better, so the key is max - days */
        for (size_t i = 0; i < nb; i++) {
            keys[i] = (uint64_t)((int64_t)max_r - rec[i]);
            idx[i] = (uint32_t)i;
        }
        quintiles(keys, idx, tk, ti, nb, sc);
        for (size_t i = 0; i < nb; i++)
            e->c_r[rows[i]] = sc[i];
        for (size_t i = 0; i < nb; i++) {
            keys[i] = e->c_freq[rows[i]];
            idx[i] = (uint32_t)i;
        }
        quintiles(keys, idx, tk, ti, nb, sc);
        for (size_t i = 0; i < nb; i++)
            e->c_f[rows[i]] = sc[i];
        for (size_t i = 0; i < nb; i++) {
            keys[i] = (uint64_t)e->c_monetary[rows[i]] - (uint64_t)min_m;
            idx[i] = (uint32_t)i;
        }
        quintiles(keys, idx, tk, ti, nb, sc);
        for (size_t i = 0; i < nb; i++)
            e->c_m[rows[i]] = sc[i];
    } else {
        for (size_t i = 0; i < nb; i++) {
            uint32_t r = rows[i];
            uint8_t s = 1;
            for (int j = 3; j >= 0; j--)
                if (rec[i] <= c->r_cuts_days[j])
                    s = (uint8_t)(5 - j);
            e->c_r[r] = s;
            e->c_f[r] = score_up(e->c_freq[r], c->f_cuts);
            e->c_m[r] = score_up(e->c_monetary[r], c->m_cuts_fen);
        }
    }
    for (size_t i = 0; i < nb; i++) {
        uint32_t r = rows[i];
        bool rh, fh, mh;
        if (c->high_mode == HK_RFM_HIGH_MEAN) {
            rh = rec[i] <= mean_r;
            fh = e->c_freq[r] >= mean_f;
            mh = (double)e->c_monetary[r] >= mean_m;
        } else {
            rh = rec[i] <= c->r_high_max_days;
            fh = e->c_freq[r] >= c->f_high_min;
            mh = e->c_monetary[r] >= c->m_high_min_fen;
        }
        e->c_seg[r] = (uint8_t)(1 + (mh ? 0 : 4) + (rh ? 0 : 2) + (fh ? 0 : 1));
        uint8_t tier = (uint8_t)(c->n_tiers + 1);
        for (size_t t = 0; t < c->n_tiers; t++) {
            const struct hk_rfm_tier_rule *ru = &c->tiers[t];
            if (in_range(e->c_r[r], ru->r_min, ru->r_max) &&
                in_range(e->c_f[r], ru->f_min, ru->f_max) &&
                in_range(e->c_m[r], ru->m_min, ru->m_max)) {
                tier = (uint8_t)(t + 1);
                break;
            }
        }
        e->c_tier[r] = tier;
    }
    e->mean_recency_days = mean_r;
    free(rows);
    free(rec);
    free(keys);
    free(tk);
    free(idx);
    free(ti);
    free(sc);
    return 0;
}

/* ---- report ------------------------------------------------------------------------------- */

static void finish_group(struct hk_rfm_group *g, uint64_t buyers, int64_t spend)
{
    g->share = buyers ? (double)g->customers / (double)buyers : 0;
    g->spend_share = spend ? (double)g->spend_fen / (double)spend : 0;
    g->aov_fen = g->orders ? (double)g->spend_fen / (double)g->orders : 0;
}

void hk_engine_rfm_report(const struct hk_engine *e, struct hk_rfm_report *out)
{
    memset(out, 0, sizeof(*out));
    const struct hk_rfm_config *c = &e->rfm;
    for (int s = 0; s < HK_RFM_SEGMENTS; s++)
        hk_strlcpy(out->segments[s].name, segment_names[s], HK_RFM_NAME_MAX);
    for (size_t t = 0; t < c->n_tiers; t++)
        hk_strlcpy(out->tiers[t].name, c->tiers[t].name, HK_RFM_NAME_MAX);
    hk_strlcpy(out->tiers[c->n_tiers].name, c->other_tier, HK_RFM_NAME_MAX);
    out->n_tiers = c->n_tiers + 1;
    long double sum_f = 0, sum_m = 0;
    for (size_t r = 0; r < e->nc; r++) {
        if (!hk_bit_get(e->live, r))
            continue;
        out->customers++;
        if (!e->c_freq[r])
            continue;
        out->buyers++;
        out->spend_fen += e->c_monetary[r];
        sum_f += e->c_freq[r];
        sum_m += e->c_monetary[r];
        if (e->c_r[r] && e->c_f[r])
            out->grid[e->c_r[r] - 1][e->c_f[r] - 1]++;
        struct hk_rfm_group *g[2] = {NULL, NULL};
        if (e->c_seg[r])
            g[0] = &out->segments[e->c_seg[r] - 1];
        if (e->c_tier[r] && e->c_tier[r] <= out->n_tiers)
            g[1] = &out->tiers[e->c_tier[r] - 1];
        for (int i = 0; i < 2; i++) {
            if (!g[i])
                continue;
            g[i]->customers++;
            g[i]->spend_fen += e->c_monetary[r];
            g[i]->orders += e->c_freq[r];
        }
    }
    if (out->buyers) {
        out->mean_recency_days = e->mean_recency_days;
        out->mean_frequency = (double)(sum_f / out->buyers);
        out->mean_monetary_fen = (double)(sum_m / out->buyers);
    }
    for (int s = 0; s < HK_RFM_SEGMENTS; s++)
        finish_group(&out->segments[s], out->buyers, out->spend_fen);
    for (size_t t = 0; t < out->n_tiers; t++)
        finish_group(&out->tiers[t], out->buyers, out->spend_fen);
}
