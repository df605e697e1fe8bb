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
 * Threading: assign is a writer (exclusive access); the rest only read (engine.h).
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
    if (t >= e->ntag_bits) {
        uint64_t **p = realloc(e->tag_bits, (t + 1) * sizeof(*p));
        if (!p)
            return nomem(err);
        for (size_t i = e->ntag_bits; i <= t; i++)
            p[i] = NULL;
        e->tag_bits = p;
        e->ntag_bits = t + 1;
    }
    if (!e->tag_bits[t] && !(e->tag_bits[t] = calloc(e->cc / 64 + 1, 8)))
        return nomem(err);
    uint64_t *b = e->tag_bits[t];
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
