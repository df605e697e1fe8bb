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
 * Threading: hk_engine_rescore writes the score columns and needs exclusive access.
 */
#include "engine/engine_int.h"

#include "core/err.h"
#include "core/util.h"

#include <pthread.h>
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
 * A buyer's quintile score is 1 + floor(5 w / n), w = buyers with a strictly smaller key (worse).
 * floor(5 w / n) >= k <=> w >= c_k = ceil(k n / 5) <=> the c_k-th smallest key a[c_k - 1] < key.
 * So the score is 1 + the number of the four cut keys a[c_k - 1] (k = 1..4) below the key: four
 * order statistics per dimension (radix select, no sort) and one comparison pass.
 */

/*
 * out[j] = the ranks[j]-th smallest of keys[0..n) (0-based, ascending; m <= 4 ranks < n).
 * Counting when the keys are small, else a 16-bit histogram of the top bits and the same again
 * over the keys of each bucket that holds a rank. -1 on OOM.
 */
static int select_ranks(const uint64_t *keys, size_t n, const size_t *ranks, int m, uint64_t *out)
{
    uint64_t maxk = 0;
    for (size_t i = 0; i < n; i++)
        maxk = keys[i] > maxk ? keys[i] : maxk;
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
    size_t *cnt = calloc((size_t)1 << 16, sizeof(size_t));
    if (!cnt)
        return -1;
    for (size_t i = 0; i < n; i++)
        cnt[keys[i] >> shift]++;
    size_t below = 0; /* keys in the buckets before b */
    int j = 0, rc = 0;
    for (uint64_t b = 0; b < ((uint64_t)1 << 16) && j < m && !rc; b++) {
        size_t c = cnt[b];
        if (ranks[j] < below + c) { /* ranks inside bucket b: select among its low bits */
            size_t sub_ranks[4];
            int sm = 0;
            while (j + sm < m && ranks[j + sm] < below + c) {
                sub_ranks[sm] = ranks[j + sm] - below;
                sm++;
            }
            uint64_t *sub = malloc(c * sizeof(uint64_t)), low = (UINT64_C(1) << shift) - 1;
            if (!sub) {
                rc = -1;
                break;
            }
            size_t k = 0;
            for (size_t i = 0; i < n; i++)
                if ((keys[i] >> shift) == b)
                    sub[k++] = keys[i] & low;
            rc = select_ranks(sub, k, sub_ranks, sm, out + j);
            free(sub);
            for (int q = 0; q < sm; q++)
                out[j + q] += b << shift;
            j += sm;
        }
        below += c;
    }
    free(cnt);
    return rc;
}

/* The four cut keys of keys[0..n) (see above); n > 0. */
static int quintile_cuts(const uint64_t *keys, size_t n, uint64_t cuts[4])
{
    size_t ranks[4];
    for (size_t k = 1; k <= 4; k++)
        ranks[k - 1] = (k * n + 4) / 5 - 1; /* ceil(k n / 5) - 1 */
    return select_ranks(keys, n, ranks, 4, cuts);
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
};

/* What the scoring pass over the rows needs. */
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
};

static inline bool is_buyer(const struct hk_engine *e, size_t r)
{
    return e->c_freq[r] > 0 && hk_bit_get(e->live, r);
}

static void score_rows(void *arg, size_t lo, size_t hi)
{
    const struct score_pass *p = arg;
    const struct hk_engine *e = p->e;
    const struct hk_rfm_config *c = p->c;
    struct scores *sc = p->sc;
    bool quint = c->score_mode == HK_RFM_QUINTILES, mean = c->high_mode == HK_RFM_HIGH_MEAN;
    for (size_t r = lo; r < hi; r++) {
        if (!is_buyer(e, r)) {
            sc->r[r] = sc->f[r] = sc->m[r] = sc->seg[r] = sc->tier[r] = 0;
            continue;
        }
        uint32_t freq = e->c_freq[r];
        int32_t rec = p->today[e->c_last_zone[r]] - e->c_last_day[r];
        int64_t mon = e->c_monetary[r];
        uint8_t sr, sf, sm;
        if (quint) {
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
        if (mean) {
            rh = rec <= p->mean_r;
            fh = freq >= p->mean_f;
            mh = (double)mon >= p->mean_m;
        } else {
            rh = rec <= c->r_high_max_days;
            fh = freq >= c->f_high_min;
            mh = mon >= c->m_high_min_fen;
        }
        sc->r[r] = sr;
        sc->f[r] = sf;
        sc->m[r] = sm;
        sc->seg[r] = (uint8_t)(1 + (mh ? 0 : 4) + (rh ? 0 : 2) + (fh ? 0 : 1));
        sc->tier[r] = p->tier_of[sr - 1][sf - 1][sm - 1];
    }
}

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
    return quintile_cuts(keys, nb, d == 0 ? p->cut_r : d == 1 ? p->cut_f : p->cut_m);
}

struct cuts_job {
    struct score_pass *p;
    size_t nb;
    int rc;
};

/* M's cut keys on a thread of their own (the widest keys: the radix path). */
static void *money_cuts_main(void *arg)
{
    struct cuts_job *j = arg;
    uint64_t *keys = malloc(j->nb * sizeof(uint64_t));
    j->rc = keys ? dimension_cuts(j->p, 2, keys, j->nb) : -1;
    free(keys);
    return NULL;
}

/*
 * Scores every live buyer of e under configuration c as of now into sc (rows of non-buyers get
 * 0). Reads the engine only, so a preview may run under the read lock. A pass for the means,
 * for quintiles one radix select per dimension over the buyers' keys, then the scoring pass on
 * the engine's threads.
 */
static int score_all(const struct hk_engine *e, const struct hk_rfm_config *c, int64_t now,
                     struct scores *sc, struct hk_err *err)
{
    struct score_pass *p = calloc(1, sizeof(*p));
    if (!p)
        return hk_err_set(err, HK_E(NOMEM), "out of memory scoring RFM");
    p->e = e;
    p->c = c;
    p->sc = sc;
    hk_engine_today(e, now, p->today);
    size_t nb = 0;
    int64_t sum_r = 0;
    uint64_t sum_f = 0;
    long double sum_m = 0;
    p->max_rec = INT32_MIN;
    p->min_m = INT64_MAX;
    for (size_t r = 0; r < e->nc; r++) {
        if (!is_buyer(e, r))
            continue;
        int32_t rec = p->today[e->c_last_zone[r]] - e->c_last_day[r];
        nb++;
        sum_r += rec;
        sum_f += e->c_freq[r];
        sum_m += e->c_monetary[r];
        p->max_rec = rec > p->max_rec ? rec : p->max_rec;
        p->min_m = e->c_monetary[r] < p->min_m ? e->c_monetary[r] : p->min_m;
    }
    if (nb) {
        p->mean_r = (double)sum_r / (double)nb;
        p->mean_f = (double)sum_f / (double)nb;
        p->mean_m = (double)(sum_m / nb);
    }
    if (nb && c->score_mode == HK_RFM_QUINTILES) {
        /* M on a second thread while this one does R and F (each writes its own cuts) */
        struct cuts_job mj = {p, nb, 0};
        pthread_t tid;
        bool threaded =
            e->threads > 1 && nb >= 65536 && pthread_create(&tid, NULL, money_cuts_main, &mj) == 0;
        uint64_t *keys = malloc(nb * sizeof(uint64_t));
        int bad = !keys;
        for (int d = 0; d < (threaded ? 2 : 3) && !bad; d++)
            bad = dimension_cuts(p, d, keys, nb);
        free(keys);
        if (threaded) {
            pthread_join(tid, NULL);
            bad = bad || mj.rc;
        }
        if (bad) {
            free(p);
            return hk_err_set(err, HK_E(NOMEM), "out of memory scoring RFM");
        }
    }
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
    hk_engine_parallel(e, e->nc, score_rows, p);
    sc->mean_r = p->mean_r;
    free(p);
    return 0;
}

int hk_engine_rescore(struct hk_engine *e, int64_t now, struct hk_err *err)
{
    struct scores sc = {e->c_r, e->c_f, e->c_m, e->c_seg, e->c_tier, 0};
    int rc = score_all(e, &e->rfm, now, &sc, err);
    e->mean_recency_days = rc ? 0 : sc.mean_r;
    return rc;
}

/* ---- report ------------------------------------------------------------------------------- */

static void finish_group(struct hk_rfm_group *g, uint64_t buyers, int64_t spend)
{
    g->share = buyers ? (double)g->customers / (double)buyers : 0;
    g->spend_share = spend ? (double)g->spend_fen / (double)spend : 0;
    g->aov_fen = g->orders ? (double)g->spend_fen / (double)g->orders : 0;
}

/* The report of scores sc made under configuration c. */
static void report_of(const struct hk_engine *e, const struct hk_rfm_config *c,
                      const struct scores *sc, struct hk_rfm_report *out)
{
    memset(out, 0, sizeof(*out));
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
        if (sc->r[r] && sc->f[r])
            out->grid[sc->r[r] - 1][sc->f[r] - 1]++;
        struct hk_rfm_group *g[2] = {NULL, NULL};
        if (sc->seg[r])
            g[0] = &out->segments[sc->seg[r] - 1];
        if (sc->tier[r] && sc->tier[r] <= out->n_tiers)
            g[1] = &out->tiers[sc->tier[r] - 1];
        for (int i = 0; i < 2; i++) {
            if (!g[i])
                continue;
            g[i]->customers++;
            g[i]->spend_fen += e->c_monetary[r];
            g[i]->orders += e->c_freq[r];
        }
    }
    if (out->buyers) {
        out->mean_recency_days = sc->mean_r;
        out->mean_frequency = (double)(sum_f / out->buyers);
        out->mean_monetary_fen = (double)(sum_m / out->buyers);
    }
    for (int s = 0; s < HK_RFM_SEGMENTS; s++)
        finish_group(&out->segments[s], out->buyers, out->spend_fen);
    for (size_t t = 0; t < out->n_tiers; t++)
        finish_group(&out->tiers[t], out->buyers, out->spend_fen);
}

void hk_engine_rfm_report(const struct hk_engine *e, struct hk_rfm_report *out)
{
    struct scores sc = {e->c_r, e->c_f, e->c_m, e->c_seg, e->c_tier, e->mean_recency_days};
    report_of(e, &e->rfm, &sc, out);
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
    struct scores sc = {cols, cols + e->nc, cols + 2 * e->nc, cols + 3 * e->nc, cols + 4 * e->nc,
                        0};
    rc = score_all(e, c, now, &sc, err);
    if (!rc)
        report_of(e, c, &sc, out);
    free(cols);
    return rc;
}
