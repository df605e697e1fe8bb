/*
 * tags.c — whole-bitmap tag operations for derived (rule) tags, and the reads the tags service
 * needs: membership of one customer, member counts, buyers per main category.
 *
 * Manual tags are set one customer at a time (hk_engine_tag_set, table.c) as the store's
 * customer_tags rows are loaded or replayed. Rule tags are computed: the caller evaluates a
 * segment expression into a bitmap and hands the whole bitmap over with hk_engine_tag_assign,
 * which replaces the tag's bitmap (only live rows kept). A tag's bitmap has the layout table.c
 * gives every tag bitmap (customer capacity / 64 + 1 words, grown with the customer columns), so
 * merges, clears and growth treat assigned tags like any other.
 *
 * Retired tags: dictionaries never shrink, so a tag deleted from the store (or renamed away)
 * keeps its id; retire marks the id, and hk_engine_dict_find / hk_engine_dict_name then treat it
 * as absent (has_tag() of it is an unknown tag, suggestions skip it) until the name is defined
 * or set on a customer again. Its bitmap is left alone: the store's delete touched its members
 * (their replay drops it) and the rule tags clear vanished rules themselves.
 *
 * Threading: assign and retire are writers (exclusive access); the rest only read (engine.h).
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "engine/engine_int.h"

static int nomem(struct hk_err *err)
{
    return hk_err_set(err, HK_E(NOMEM), "out of memory in the customer engine");
}

int hk_engine_tag_assign(struct hk_engine *e, const char *name, const uint64_t *bits, size_t words,
                         bool *changed, struct hk_err *err)
{
    if (changed)
        *changed = false;
    int rc = hk_engine_tag_define(e, name, err);
    if (rc)
        return rc;
    uint32_t t = hk_engine_dict_find(e, HK_DICT_TAG, name, strlen(name));
    if (t == HK_ENGINE_NONE)
        return nomem(err);
    size_t used = hk_engine_words(e);
    if (!bits || words == 0) { /* clear: nothing to allocate when nobody carries it */
        uint64_t *b = t < e->ntag_bits ? e->tag_bits[t] : NULL;
        for (size_t w = 0; b && w < used; w++) {
            if (b[w] && changed)
                *changed = true;
            b[w] = 0;
        }
        return 0;
    }
    uint64_t *b = hk_engine_tag_bitmap(e, t, true);
    if (!b)
        return nomem(err);
    for (size_t w = 0; w < used; w++) {
        uint64_t v = (w < words ? bits[w] : 0) & e->live[w];
        if (b[w] != v) {
            b[w] = v;
            if (changed)
                *changed = true;
        }
    }
    return 0;
}

bool hk_engine_tag_retired(const struct hk_engine *e, uint32_t tag)
{
    return tag < e->ntag_retired && e->tag_retired[tag];
}

void hk_engine_tag_revive(struct hk_engine *e, uint32_t tag)
{
    if (tag < e->ntag_retired)
        e->tag_retired[tag] = 0;
}

int hk_engine_tag_retire(struct hk_engine *e, const char *name, struct hk_err *err)
{
    uint32_t t = hk_engine_dict_find(e, HK_DICT_TAG, name, strlen(name));
    if (t == HK_ENGINE_NONE) /* never known, or retired already */
        return 0;
    if (t >= e->ntag_retired) {
        size_t n = (size_t)t + 1 > 2 * e->ntag_retired ? (size_t)t + 1 : 2 * e->ntag_retired;
        uint8_t *p = realloc(e->tag_retired, n);
        if (!p)
            return nomem(err);
        memset(p + e->ntag_retired, 0, n - e->ntag_retired);
        e->tag_retired = p;
        e->ntag_retired = n;
    }
    e->tag_retired[t] = 1;
    return 0;
}

bool hk_engine_tag_has(const struct hk_engine *e, uint32_t tag, int64_t customer_id)
{
    const uint64_t *b = hk_engine_tag_bits(e, tag);
    int64_t r = b ? hk_engine_row_of(e, customer_id) : -1;
    return r >= 0 && hk_bit_get(b, (size_t)r) && hk_bit_get(e->live, (size_t)r);
}

size_t hk_engine_tag_count(const struct hk_engine *e, uint32_t tag)
{
    const uint64_t *b = hk_engine_tag_bits(e, tag);
    size_t n = 0, words = hk_engine_words(e);
    for (size_t w = 0; b && w < words; w++)
        n += (size_t)__builtin_popcountll(b[w] & e->live[w]);
    return n;
}

void hk_engine_main_category_counts(const struct hk_engine *e, uint64_t *counts, size_t n)
{
    memset(counts, 0, n * sizeof(*counts));
    for (size_t r = 0; r < e->nc; r++) {
        uint16_t c = e->c_main_cat[r];
        if (c != HK_CAT_NONE && c < n && hk_bit_get(e->live, r))
            counts[c]++;
    }
}

struct main_cat_ctx {
    const struct hk_engine *e;
    const int32_t *slot; /* per category id: the bitmap it fills, or -1 */
    size_t nslot;
    uint64_t *const *bits;
};

static void main_cat_rows(void *ctx, size_t lo, size_t hi)
{
    const struct main_cat_ctx *c = ctx;
    const struct hk_engine *e = c->e;
    for (size_t r = lo; r < hi; r++) {
        uint16_t cat = e->c_main_cat[r];
        /* main_category is missing for non-buyers (segment.c, eval_str) */
        if (cat == HK_CAT_NONE || cat >= c->nslot || c->slot[cat] < 0 || !e->c_freq[r] ||
            !hk_bit_get(e->live, r))
            continue;
        c->bits[c->slot[cat]][r >> 6] |= (uint64_t)1 << (r & 63);
    }
}

int hk_engine_main_category_bitmaps(const struct hk_engine *e, const uint32_t *cats, size_t n,
                                    uint64_t *const *bits, size_t words, struct hk_err *err)
{
    size_t used = hk_engine_words(e);
    if (words < used)
        return hk_err_set(err, HK_E(INVAL), "main category bitmaps: too few words");
    size_t nslot = 0;
    for (size_t k = 0; k < n; k++) {
        memset(bits[k], 0, words * sizeof(uint64_t));
        if (cats[k] < HK_CAT_NONE && cats[k] + 1 > nslot)
            nslot = cats[k] + 1;
    }
    int32_t *slot = nslot ? malloc(nslot * sizeof(*slot)) : NULL;
    if (nslot && !slot)
        return nomem(err);
    for (size_t i = 0; i < nslot; i++)
        slot[i] = -1;
    for (size_t k = 0; k < n; k++)
        if (cats[k] < nslot && slot[cats[k]] < 0)
            slot[cats[k]] = (int32_t)k;
    struct main_cat_ctx c = {e, slot, nslot, bits};
    if (nslot)
        hk_engine_parallel(e, e->nc, main_cat_rows, &c);
    for (size_t k = 0; k < n; k++) /* a category named twice: the first one's rows */
        if (cats[k] < nslot && slot[cats[k]] != (int32_t)k)
            memcpy(bits[k], bits[slot[cats[k]]], words * sizeof(uint64_t));
    free(slot);
    return 0;
}
