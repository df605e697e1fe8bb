/*
 * bloom.c — a blocked Bloom filter of strings (see bloom.h).
 *
 * The key's 64-bit FNV-1a hash, mixed (splitmix64 finaliser), picks the block; further mixes
 * give 16 bit positions of 9 bits each inside the block's 512 bits.
 */
#include "ingest/bloom.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "ingest/hashtab.h"

#define BLOOM_BITS_PER_KEY 48
#define BLOOM_PROBES       16

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t hk_bloom_hash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return mix(h);
}

int hk_bloom_init(struct hk_bloom *b, size_t keys)
{
    size_t want = (keys < 1024 ? 1024 : keys) * BLOOM_BITS_PER_KEY / 512, n = 1;
    while (n < want)
        n *= 2;
    b->words = hk_big_calloc(n * 8, sizeof(*b->words));
    b->nblocks = b->words ? n : 0;
    return b->words ? 0 : HK_E(NOMEM);
}

void hk_bloom_free(struct hk_bloom *b)
{
    hk_big_free(b->words, b->nblocks * 8, sizeof(*b->words));
    b->words = NULL;
    b->nblocks = 0;
}

/* The 512-bit mask of hash h's bits in its block, as 8 words. */
static void block_mask(uint64_t h, uint64_t m[8])
{
    memset(m, 0, 8 * sizeof(*m));
    uint64_t bits = mix(h);
    for (int i = 0; i < BLOOM_PROBES; i++) {
        if (i == 7 || i == 14) /* 7 positions of 9 bits per 64-bit mix */
            bits = mix(bits);
        unsigned pos = (unsigned)(bits & 511);
        bits >>= 9;
        m[pos >> 6] |= 1ULL << (pos & 63);
    }
}

static uint64_t *block_of(const struct hk_bloom *b, uint64_t h)
{
    return b->words + (h & (b->nblocks - 1)) * 8;
}

void hk_bloom_prefetch(const struct hk_bloom *b, uint64_t h)
{
    __builtin_prefetch(block_of(b, h), 1);
}

bool hk_bloom_maybe_add(struct hk_bloom *b, uint64_t h)
{
    uint64_t m[8], missing = 0;
    uint64_t *w = block_of(b, h);
    block_mask(h, m);
    for (int i = 0; i < 8; i++) {
        missing |= m[i] & ~w[i];
        w[i] |= m[i];
    }
    return !missing;
}

void hk_bloom_add(struct hk_bloom *b, const char *s, size_t len)
{
    (void)hk_bloom_maybe_add(b, hk_bloom_hash(s, len));
}

bool hk_bloom_maybe(const struct hk_bloom *b, const char *s, size_t len)
{
    return hk_bloom_maybe_h(b, hk_bloom_hash(s, len));
}

bool hk_bloom_maybe_h(const struct hk_bloom *b, uint64_t h)
{
    uint64_t m[8], missing = 0;
    const uint64_t *w = block_of(b, h);
    block_mask(h, m);
    for (int i = 0; i < 8; i++)
        missing |= m[i] & ~w[i];
    return !missing;
}
