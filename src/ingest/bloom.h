/*
 * bloom.h — a set of strings that answers "certainly not in it" or "maybe" (internal to ingest/).
 *
 * A blocked Bloom filter: each key sets 16 bits of one 64-byte block, so adding or asking touches
 * one cache line. Sized at 48 bits (6 bytes) a key for the number of keys given at creation,
 * about one "maybe" in 10^6 is false (test_bloom); beyond that many keys the false answers grow,
 * never the missed ones. An initial load keeps the order numbers it may have stored here, so it
 * asks the database only about numbers that may be there (import.c, "pipelined file batches").
 * The filter is megabytes, so a block is rarely in the caches when asked for: the importer
 * hashes a record's number once, asks for its block a few records ahead (hk_bloom_prefetch) and
 * asks and adds in one touch (hk_bloom_maybe_add).
 *
 * Threads: one thread at a time.
 */
#ifndef HK_INGEST_BLOOM_H
#define HK_INGEST_BLOOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_bloom {
    uint64_t *words; /* nblocks * 8 */
    size_t nblocks;  /* a power of two */
};

/** Sizes the filter for about `keys` keys (at least 1024). Returns 0 or HK_E(NOMEM). */
int hk_bloom_init(struct hk_bloom *b, size_t keys);
void hk_bloom_free(struct hk_bloom *b);
void hk_bloom_add(struct hk_bloom *b, const char *s, size_t len);
/** False: s was certainly never added. True: it may have been. */
bool hk_bloom_maybe(const struct hk_bloom *b, const char *s, size_t len);

/*
 * The same by a key's hash, taken once (hk_bloom_hash) for several uses: a caller that knows
 * its keys ahead asks for their blocks (hk_bloom_prefetch) a few keys before it needs them, and
 * asks-then-adds in one touch of the block (hk_bloom_maybe_add).
 */
uint64_t hk_bloom_hash(const char *s, size_t len);
/** hk_bloom_maybe by hash. */
bool hk_bloom_maybe_h(const struct hk_bloom *b, uint64_t h);
/** Asks the caches for the block of hash h (a hint: no effect on the answers). */
void hk_bloom_prefetch(const struct hk_bloom *b, uint64_t h);
/** hk_bloom_maybe, then adds: whether the key may have been added before this call. */
bool hk_bloom_maybe_add(struct hk_bloom *b, uint64_t h);

#endif
