/*
 * index.c — the bought() index: for every category and every product, the customers that have
 * a counted line of it, each with the latest local day of such a line (CSR, sorted by row).
 *
 *   bought(category=A, within=30d)  -> the entries of A whose day is after the cut-off;
 *   bought(category=B)             -> every entry of B;
 * so a question touches only the customers of the keys it names, never the whole line array.
 *
 * Maintenance: built once at hk_engine_load_finish (the two key families on two threads).
 * A new order for a customer only adds: its (key, day) pairs go to a delta ("additive" entries,
 * valid while the row is clean, since bought() only grows with new lines).
 * Afterwards a change to a customer's history (apply, remove, merge, clear) marks its row dirty
 * (a bitmap and a list): evaluation ignores the index entries of dirty rows and walks their
 * (short) histories instead. When the dirty rows pass max(4096, rows / 128) the index is rebuilt
 * at that write, so the walk stays small and the rebuild cost is spread over many writes.
 * Regrouping the history arrays does not touch the index (it holds rows and days, not slots).
 *
 * Days are stored as u16 offsets from the earliest counted day; history spanning more than
 * 65535 days leaves the index off (flat scans answer). The index has no zone: it is used when
 * every zone has the same local date at `now` (the cut-off is then one day number).
 */
#include "engine/engine_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void kindex_free(struct hk_kindex *x)
{
    free(x->off);
    free(x->row);
    free(x->day);
    free(x->cnt);
    free(x->d);
    free(x->d_cur);
    free(x->d_pos);
    memset(x, 0, sizeof(*x));
}

void hk_index_free(struct hk_engine *e)
{
    kindex_free(&e->ix_cat);
    kindex_free(&e->ix_prod);
    free(e->ix_dirty);
    e->ix_dirty = NULL;
    e->ix_dirty_words = 0;
    e->ix_valid = false;
}

struct build_job {
    const struct hk_engine *e;
    bool product;
    int32_t epoch;
    struct hk_kindex x;
    int rc;
};

static inline uint32_t line_key(const struct hk_engine *e, bool product, uint32_t l)
{
    if (product)
        return e->l_prod[l];
    return e->l_cat[l] == HK_CAT_NONE ? HK_ENGINE_NONE : e->l_cat[l];
}

static void *build_main(void *arg)
{
    struct build_job *j = arg;
    const struct hk_engine *e = j->e;
    uint32_t nk = hk_engine_dict_size(e, j->product ? HK_DICT_PRODUCT : HK_DICT_CATEGORY);
    struct hk_kindex x;
    memset(&x, 0, sizeof(x));
    x.nkeys = nk;
    uint32_t *stamp = malloc(((size_t)nk + 1) * sizeof(uint32_t));
    uint32_t *cur = malloc(((size_t)nk + 1) * sizeof(uint32_t));
    uint32_t *lord = malloc(((size_t)nk + 1) * sizeof(uint32_t)); /* the entry's last order */
    x.off = calloc((size_t)nk + 1, sizeof(uint32_t));
    j->rc = -1;
    if (!stamp || !cur || !lord || !x.off)
        goto out;
    for (uint32_t k = 0; k < nk; k++)
        stamp[k] = HK_DEAD;
    /* pass 1: distinct (key, row) pairs per key */
    for (size_t r = 0; r < e->nc; r++) {
        uint32_t ls = e->c_lstart[r], le = ls + e->c_lcount[r];
        for (uint32_t l = ls; l < le; l++) {
            uint32_t k = line_key(e, j->product, l);
            if (e->l_day[l] == HK_DAY_NONE || k >= nk || stamp[k] == (uint32_t)r)
                continue;
            stamp[k] = (uint32_t)r;
            x.off[k + 1]++;
        }
    }
    for (uint32_t k = 0; k < nk; k++)
        x.off[k + 1] += x.off[k];
    size_t n = x.off[nk];
    x.row = malloc((n ? n : 1) * sizeof(uint32_t));
    x.day = malloc((n ? n : 1) * sizeof(uint16_t));
    x.cnt = malloc(n ? n : 1);
    if (!x.row || !x.day || !x.cnt)
        goto out;
    for (uint32_t k = 0; k < nk; k++) {
        stamp[k] = HK_DEAD;
        cur[k] = x.off[k];
    }
    /* pass 2: fill, keeping the latest day per pair (stamp = the pair's entry index) */
    for (size_t r = 0; r < e->nc; r++) {
        uint32_t ls = e->c_lstart[r], le = ls + e->c_lcount[r];
        for (uint32_t l = ls; l < le; l++) {
            uint32_t k = line_key(e, j->product, l);
            int32_t d = e->l_day[l];
            if (d == HK_DAY_NONE || k >= nk)
                continue;
            uint16_t rel = (uint16_t)(d - j->epoch);
            uint32_t at = stamp[k], ord = e->l_ord[l];
            if (at != HK_DEAD && x.row[at] == (uint32_t)r) {
                if (rel > x.day[at])
                    x.day[at] = rel;
                if (lord[k] != ord) { /* another order of the key (an order's lines are adjacent) */
                    lord[k] = ord;
                    x.cnt[at] += x.cnt[at] < UINT8_MAX;
                }
                continue;
            }
            at = cur[k]++;
            stamp[k] = at;
            lord[k] = ord;
            x.row[at] = (uint32_t)r;
            x.day[at] = rel;
            x.cnt[at] = 1;
        }
    }
    j->rc = 0;
out:
    free(stamp);
    free(cur);
    free(lord);
    if (j->rc)
        kindex_free(&x);
    j->x = x;
    return NULL;
}

int hk_index_build(struct hk_engine *e)
{
    kindex_free(&e->ix_cat);
    kindex_free(&e->ix_prod);
    e->ix_valid = false;
    if (e->ix_dirty)
        memset(e->ix_dirty, 0, e->ix_dirty_words * 8);
    /* the day range of counted lines */
    int32_t lo = INT32_MAX, hi = INT32_MIN;
    for (size_t l = 0; l < e->nl; l++) {
        int32_t d = e->l_day[l];
        if (d == HK_DAY_NONE)
            continue;
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    if (lo > hi)
        lo = hi = 0;
    if ((int64_t)hi - lo > 65535)
        return 0; /* off: flat scans answer */
    struct build_job jobs[2];
    memset(jobs, 0, sizeof(jobs));
    for (int i = 0; i < 2; i++) {
        jobs[i].e = e;
        jobs[i].product = i == 1;
        jobs[i].epoch = lo;
    }
    pthread_t tid;
    bool threaded =
        e->threads > 1 && e->nl >= 65536 && pthread_create(&tid, NULL, build_main, &jobs[1]) == 0;
    build_main(&jobs[0]);
    if (threaded)
        pthread_join(tid, NULL);
    else
        build_main(&jobs[1]);
    e->ix_builds++;
    if (jobs[0].rc || jobs[1].rc) {
        kindex_free(&jobs[0].x);
        kindex_free(&jobs[1].x);
        return -1;
    }
    e->ix_cat = jobs[0].x;
    e->ix_prod = jobs[1].x;
    e->ix_epoch = lo;
    e->ix_valid = true;
    return 0;
}

/* Appends the (key, latest day) pairs of lines [ls, le) of row r to x's delta: a new batch
 * that replaces the row's index entries (additive false), or entries that add to them. */
static int delta_add(struct hk_engine *e, struct hk_kindex *x, bool product, uint32_t r,
                     uint32_t ls, uint32_t le, bool additive)
{
    if (x->d_cur_n < e->cc) {
        uint32_t *p = realloc(x->d_cur, e->cc * sizeof(uint32_t));
        if (!p)
            return -1;
        memset(p + x->d_cur_n, 0, (e->cc - x->d_cur_n) * sizeof(uint32_t));
        x->d_cur = p;
        x->d_cur_n = e->cc;
    }
    if (!x->d_pos && !(x->d_pos = calloc((size_t)x->nkeys + 1, sizeof(uint32_t))))
        return -1;
    uint32_t batch = (uint32_t)x->dn;
    for (uint32_t l = ls; l < le; l++) {
        int32_t d = e->l_day[l];
        uint32_t k = line_key(e, product, l);
        if (d == HK_DAY_NONE || k == HK_ENGINE_NONE)
            continue;
        size_t i = x->dn;
        if (k < x->nkeys) { /* the entry of k in this batch, if any */
            size_t p = (size_t)x->d_pos[k];
            if (p > batch && p <= x->dn && x->d[p - 1].key == k)
                i = p - 1;
        } else { /* a key newer than the index: rare, a short search */
            for (i = batch; i < x->dn && x->d[i].key != k; i++)
                ;
        }
        if (i < x->dn) {
            if (d > x->d[i].day)
                x->d[i].day = d;
            continue;
        }
        if (x->dn == x->dcap) {
            size_t cap = x->dcap ? x->dcap * 2 : 4096;
            struct hk_delta *p = realloc(x->d, cap * sizeof(*p));
            if (!p)
                return -1;
            x->d = p;
            x->dcap = cap;
        }
        x->d[x->dn].key = k;
        x->d[x->dn].row = r;
        x->d[x->dn].batch = additive ? HK_DELTA_ADD : batch;
        x->d[x->dn].day = d;
        if (k < x->nkeys)
            x->d_pos[k] = (uint32_t)x->dn + 1;
        x->dn++;
    }
    if (!additive)
        x->d_cur[r] = batch + 1;
    return 0;
}

static bool row_dirty(const struct hk_engine *e, uint32_t r)
{
    return (size_t)(r >> 6) < e->ix_dirty_words && ((e->ix_dirty[r >> 6] >> (r & 63)) & 1);
}

void hk_index_dirty(struct hk_engine *e, uint32_t r)
{
    if (!e->ix_valid)
        return;
    size_t limit = e->nl / 16 > 262144 ? e->nl / 16 : 262144;
    if (e->ix_delta_limit)
        limit = e->ix_delta_limit;
    if (e->ix_cat.dn + e->ix_prod.dn >= limit) {
        if (hk_index_build(e))
            hk_index_free(e);
        return; /* the rebuilt index includes row r as it is now */
    }
    size_t w = r >> 6;
    if (w >= e->ix_dirty_words) {
        size_t nw = (e->cc + 63) / 64;
        nw = nw > w + 1 ? nw : w + 1;
        uint64_t *b = realloc(e->ix_dirty, nw * 8);
        if (!b) {
            hk_index_free(e); /* off: flat scans answer */
            return;
        }
        memset(b + e->ix_dirty_words, 0, (nw - e->ix_dirty_words) * 8);
        e->ix_dirty = b;
        e->ix_dirty_words = nw;
    }
    e->ix_dirty[w] |= (uint64_t)1 << (r & 63);
    uint32_t ls = e->c_lstart[r], le = ls + e->c_lcount[r];
    if (delta_add(e, &e->ix_cat, false, r, ls, le, false) ||
        delta_add(e, &e->ix_prod, true, r, ls, le, false))
        hk_index_free(e);
}

void hk_index_added(struct hk_engine *e, uint32_t r, uint32_t ls, uint32_t le)
{
    if (!e->ix_valid)
        return;
    if (row_dirty(e, r)) { /* its entries are a batch already: a fresh one */
        hk_index_dirty(e, r);
        return;
    }
    size_t limit = e->nl / 16 > 262144 ? e->nl / 16 : 262144;
    if (e->ix_delta_limit)
        limit = e->ix_delta_limit;
    if (e->ix_cat.dn + e->ix_prod.dn >= limit) {
        if (hk_index_build(e))
            hk_index_free(e);
        return;
    }
    if (delta_add(e, &e->ix_cat, false, r, ls, le, true) ||
        delta_add(e, &e->ix_prod, true, r, ls, le, true))
        hk_index_free(e);
}

bool hk_index_bought(const struct hk_engine *e, bool product, uint32_t key, int32_t cut,
                     uint64_t *out, size_t words)
{
    if (!e->ix_valid)
        return false;
    memset(out, 0, words * 8);
    const struct hk_kindex *x = product ? &e->ix_prod : &e->ix_cat;
    /* an entry qualifies when epoch + day > cut */
    int64_t t = (int64_t)cut - e->ix_epoch;
    if (cut == INT32_MIN || t < 0)
        t = -1;
    if (key < x->nkeys && t < 65535) {
        int32_t t32 = (int32_t)t;
        const uint32_t *row = x->row;
        const uint16_t *day = x->day;
        for (uint32_t i = x->off[key], end = x->off[key + 1]; i < end; i++) {
            uint32_t r = row[i];
            out[r >> 6] |= (uint64_t)((int32_t)day[i] > t32) << (r & 63);
        }
    }
    size_t dw = e->ix_dirty_words < words ? e->ix_dirty_words : words;
    for (size_t w = 0; w < dw; w++)
        out[w] &= ~e->ix_dirty[w];
    for (size_t i = 0; i < x->dn; i++) {
        const struct hk_delta *d = &x->d[i];
        if (d->key == key && d->day > cut &&
            (d->batch == HK_DELTA_ADD ? !row_dirty(e, d->row) : x->d_cur[d->row] == d->batch + 1))
            out[d->row >> 6] |= (uint64_t)1 << (d->row & 63);
    }
    return true;
}

int hk_index_bought_count(const struct hk_engine *e, bool product, uint32_t key, int32_t cut,
                          uint32_t min_count, uint64_t *sure, uint64_t *maybe, size_t words)
{
    if (!e->ix_valid)
        return -1;
    memset(sure, 0, words * 8);
    memset(maybe, 0, words * 8);
    const struct hk_kindex *x = product ? &e->ix_prod : &e->ix_cat;
    int64_t t = (int64_t)cut - e->ix_epoch;
    bool window = cut != INT32_MIN && t >= 0;
    if (key < x->nkeys && t < 65535) {
        int32_t t32 = window ? (int32_t)t : -1;
        /* a count below min_count rules the row out; at or above it (not saturated) and no
         * window, the row is in; else its history says */
        bool exact = !window && min_count < UINT8_MAX;
        uint8_t need = min_count < UINT8_MAX ? (uint8_t)min_count : UINT8_MAX;
        uint64_t *dst = exact ? sure : maybe;
        for (uint32_t i = x->off[key], end = x->off[key + 1]; i < end; i++) {
            uint32_t r = x->row[i];
            dst[r >> 6] |= (uint64_t)((int32_t)x->day[i] > t32 && x->cnt[i] >= need) << (r & 63);
        }
    }
    size_t dw = e->ix_dirty_words < words ? e->ix_dirty_words : words;
    for (size_t w = 0; w < dw; w++) {
        sure[w] &= ~e->ix_dirty[w];
        maybe[w] &= ~e->ix_dirty[w];
    }
    /* rows with delta entries of the key (new orders, or dirty rows' current pairs): walk */
    for (size_t i = 0; i < x->dn; i++) {
        const struct hk_delta *d = &x->d[i];
        if (d->key == key && d->day > cut &&
            (d->batch == HK_DELTA_ADD ? !row_dirty(e, d->row) : x->d_cur[d->row] == d->batch + 1)) {
            sure[d->row >> 6] &= ~((uint64_t)1 << (d->row & 63));
            maybe[d->row >> 6] |= (uint64_t)1 << (d->row & 63);
        }
    }
    return 0;
}
