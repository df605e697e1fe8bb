/*
 * hashtab.c — open-addressing maps for the importer (see hashtab.h).
 *
 * Linear probing over power-of-two tables, grown (doubled and rehashed) before the load passes
 * 70 %. Deletion in hk_i64tab shifts later members of the probe run back, so there are no
 * tombstones and look-ups stay short after many deletions.
 *
 * Threads: a table belongs to one thread.
 */
#include "ingest/hashtab.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/util.h"

struct hk_h128 hk_h128_of(const unsigned char key[16], const char *const *parts, size_t n)
{
    unsigned char out[crypto_shorthash_siphashx24_BYTES];
    unsigned char stack[1024];
    stack[0] = 0; /* quiets -Wmaybe-uninitialized for n == 0 */
    size_t total = 0, lens[8];
    for (size_t i = 0; i < n; i++) {
        size_t len = parts[i] ? strlen(parts[i]) : 0;
        if (i < HK_ARRAY_LEN(lens))
            lens[i] = len; /* measured once: the parts are often cold in the caches */
        total += len + 1;
    }

    unsigned char *buf = total <= sizeof stack ? stack : malloc(total);
    if (!buf) {
        /* Out of memory for a very long key: hash the parts' digests instead (still exact
           enough: a collision needs a SipHash collision). */
        struct hk_h128 acc = {0x9e3779b97f4a7c15ULL, 0};
        for (size_t i = 0; i < n; i++) {
            const char *p = parts[i] ? parts[i] : "";
            crypto_shorthash_siphashx24(out, (const unsigned char *)p, strlen(p), key);
            uint64_t x, y;
            memcpy(&x, out, 8);
            memcpy(&y, out + 8, 8);
            acc.a = (acc.a ^ x) * 0x100000001b3ULL + (uint64_t)i;
            acc.b = (acc.b ^ y) * 0xc2b2ae3d27d4eb4fULL + (uint64_t)i;
        }
        if (!acc.a && !acc.b)
            acc.a = 1;
        return acc;
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = i < HK_ARRAY_LEN(lens) ? lens[i] : parts[i] ? strlen(parts[i]) : 0;
        if (len)
            memcpy(buf + off, parts[i], len);
        off += len;
        buf[off++] = 0x1f;
    }
    crypto_shorthash_siphashx24(out, buf, off, key);
    if (buf != stack)
        free(buf);
    struct hk_h128 h;
    memcpy(&h.a, out, 8);
    memcpy(&h.b, out + 8, 8);
    if (!h.a && !h.b)
        h.a = 1; /* the zero digest marks empty slots */
    return h;
}

struct hk_h128 hk_h128_of_id(const unsigned char key[16], int64_t id, const char *s)
{
    /* The id is 8 fixed bytes before the string, so no separator is needed. */
    unsigned char out[crypto_shorthash_siphashx24_BYTES];
    unsigned char stack[512];
    size_t len = s ? strlen(s) : 0;
    unsigned char *buf = len + sizeof id <= sizeof stack ? stack : malloc(len + sizeof id);
    if (!buf) {
        const char *parts[] = {s};
        struct hk_h128 h = hk_h128_of(key, parts, 1);
        h.a ^= (uint64_t)id * 0x9e3779b97f4a7c15ULL;
        h.b ^= (uint64_t)id;
        if (!h.a && !h.b)
            h.a = 1;
        return h;
    }
    memcpy(buf, &id, sizeof id);
    if (len)
        memcpy(buf + sizeof id, s, len);
    crypto_shorthash_siphashx24(out, buf, sizeof id + len, key);
    if (buf != stack)
        free(buf);
    struct hk_h128 h;
    memcpy(&h.a, out, 8);
    memcpy(&h.b, out + 8, 8);
    if (!h.a && !h.b)
        h.a = 1;
    return h;
}

/* ---- large zeroed blocks ------------------------------------------------------------------- */

/* Blocks from HK_BIG_MAPPED_MIN up are mapped on their own and offered to the kernel for
   transparent huge pages: a large table is probed at random, one cache miss per probe, and with
   4 KiB pages each miss was also a TLB miss and each first touch a page fault (10M lines into
   SQLite: the identity cache's 256 MiB table, ~20 % of the importing thread). Smaller ones stay
   on the heap: at 1M lines (a 32 MiB table) huge pages had measured a loss (session 5: faulting
   in zeroed 2 MiB pages at each growth). Whether a block is mapped follows from its size alone,
   so hk_big_free needs no record of it. */

void *hk_big_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    size_t bytes = n * size;
    if (bytes < HK_BIG_MAPPED_MIN)
        return calloc(n, size);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, bytes, MADV_HUGEPAGE); /* a hint: without THP the pages stay small */
#endif
    return p;
}

void hk_big_free(void *p, size_t n, size_t size)
{
    if (!p)
        return;
    if (n * size < HK_BIG_MAPPED_MIN)
        free(p);
    else
        munmap(p, n * size);
}

/* ---- hk_h128tab ---------------------------------------------------------------------------- */

void hk_h128tab_init(struct hk_h128tab *t)
{
    t->slots = NULL;
    t->cap = t->n = 0;
}

void hk_h128tab_release(struct hk_h128tab *t)
{
    hk_big_free(t->slots, t->cap, sizeof(*t->slots));
    hk_h128tab_init(t);
}

void hk_h128tab_clear(struct hk_h128tab *t)
{
    if (t->slots)
        memset(t->slots, 0, t->cap * sizeof(*t->slots));
    t->n = 0;
}

static size_t slot_of(struct hk_h128 k, size_t cap)
{
    return (size_t)(k.a ^ (k.b >> 7)) & (cap - 1);
}

struct hk_h128_slot *hk_h128tab_get(const struct hk_h128tab *t, struct hk_h128 key)
{
    if (!t->cap)
        return NULL;
    for (size_t i = slot_of(key, t->cap);; i = (i + 1) & (t->cap - 1)) {
        struct hk_h128_slot *s = &t->slots[i];
        if (!s->a && !s->b)
            return NULL;
        if (s->a == key.a && s->b == key.b)
            return s;
    }
}

void hk_h128tab_prefetch(const struct hk_h128tab *t, struct hk_h128 key)
{
    if (t->cap)
        __builtin_prefetch(&t->slots[slot_of(key, t->cap)], 1);
}

static int h128_grow(struct hk_h128tab *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1024;
    struct hk_h128_slot *slots = hk_big_calloc(cap, sizeof(*slots));
    if (!slots)
        return -1;
    for (size_t j = 0; j < t->cap; j++) {
        const struct hk_h128_slot *s = &t->slots[j];
        if (!s->a && !s->b)
            continue;
        size_t i = slot_of((struct hk_h128){s->a, s->b}, cap);
        while (slots[i].a || slots[i].b)
            i = (i + 1) & (cap - 1);
        slots[i] = *s;
    }
    hk_big_free(t->slots, t->cap, sizeof(*t->slots));
    t->slots = slots;
    t->cap = cap;
    return 0;
}

struct hk_h128_slot *hk_h128tab_put(struct hk_h128tab *t, struct hk_h128 key, int64_t v1,
                                    int64_t v2, bool *added)
{
    if ((t->n + 1) * 10 >= t->cap * 7 && h128_grow(t) < 0)
        return NULL;
    for (size_t i = slot_of(key, t->cap);; i = (i + 1) & (t->cap - 1)) {
        struct hk_h128_slot *s = &t->slots[i];
        if (s->a == key.a && s->b == key.b) {
            if (added)
                *added = false;
            return s;
        }
        if (!s->a && !s->b) {
            s->a = key.a;
            s->b = key.b;
            s->v1 = v1;
            s->v2 = v2;
            t->n++;
            if (added)
                *added = true;
            return s;
        }
    }
}

/* ---- hk_i64tab ----------------------------------------------------------------------------- */

void hk_i64tab_init(struct hk_i64tab *t)
{
    t->keys = t->vals = NULL;
    t->cap = t->n = 0;
}

void hk_i64tab_release(struct hk_i64tab *t)
{
    hk_big_free(t->keys, t->cap, sizeof(*t->keys));
    hk_big_free(t->vals, t->cap, sizeof(*t->vals));
    hk_i64tab_init(t);
}

void hk_i64tab_clear(struct hk_i64tab *t)
{
    if (t->keys)
        memset(t->keys, 0, t->cap * sizeof(*t->keys));
    t->n = 0;
}

static size_t i64_slot(int64_t key, size_t cap)
{
    uint64_t x = (uint64_t)key * 0x9e3779b97f4a7c15ULL;
    return (size_t)(x >> 17) & (cap - 1);
}

bool hk_i64tab_get(const struct hk_i64tab *t, int64_t key, int64_t *val)
{
    if (!t->cap || key == 0)
        return false;
    for (size_t i = i64_slot(key, t->cap);; i = (i + 1) & (t->cap - 1)) {
        if (t->keys[i] == 0)
            return false;
        if (t->keys[i] == key) {
            *val = t->vals[i];
            return true;
        }
    }
}

static int i64_grow(struct hk_i64tab *t)
{
    size_t cap = t->cap ? t->cap * 2 : 256;
    int64_t *keys = hk_big_calloc(cap, sizeof(*keys));
    int64_t *vals = hk_big_calloc(cap, sizeof(*vals));
    if (!keys || !vals) {
        hk_big_free(keys, cap, sizeof(*keys));
        hk_big_free(vals, cap, sizeof(*vals));
        return -1;
    }
    for (size_t j = 0; j < t->cap; j++) {
        if (!t->keys[j])
            continue;
        size_t i = i64_slot(t->keys[j], cap);
        while (keys[i])
            i = (i + 1) & (cap - 1);
        keys[i] = t->keys[j];
        vals[i] = t->vals[j];
    }
    hk_big_free(t->keys, t->cap, sizeof(*t->keys));
    hk_big_free(t->vals, t->cap, sizeof(*t->vals));
    t->keys = keys;
    t->vals = vals;
    t->cap = cap;
    return 0;
}

int hk_i64tab_set(struct hk_i64tab *t, int64_t key, int64_t val)
{
    if (key == 0)
        return -1;
    if ((t->n + 1) * 10 >= t->cap * 7 && i64_grow(t) < 0)
        return -1;
    for (size_t i = i64_slot(key, t->cap);; i = (i + 1) & (t->cap - 1)) {
        if (t->keys[i] == key) {
            t->vals[i] = val;
            return 0;
        }
        if (t->keys[i] == 0) {
            t->keys[i] = key;
            t->vals[i] = val;
            t->n++;
            return 0;
        }
    }
}

void hk_i64tab_del(struct hk_i64tab *t, int64_t key)
{
    if (!t->cap || key == 0)
        return;
    size_t mask = t->cap - 1, i = i64_slot(key, t->cap);
    while (t->keys[i] != key) {
        if (t->keys[i] == 0)
            return;
        i = (i + 1) & mask;
    }
    /* Backward-shift: move later members of the run into the hole when their home allows. */
    size_t hole = i;
    for (size_t j = (hole + 1) & mask; t->keys[j]; j = (j + 1) & mask) {
        size_t home = i64_slot(t->keys[j], t->cap);
        /* j may move to hole when home is not in the cyclic interval (hole, j]. */
        bool in_between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!in_between) {
            t->keys[hole] = t->keys[j];
            t->vals[hole] = t->vals[j];
            hole = j;
        }
    }
    t->keys[hole] = 0;
    t->n--;
}
