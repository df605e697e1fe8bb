/*
 * hashtab.h — the importer's in-memory maps (internal to ingest/).
 *
 * Two open-addressing tables with linear probing, sized in powers of two and grown at 70 %
 * load, so a bulk import keeps one entry per identity key, product or order of a batch
 * without a malloc per entry:
 *
 *   hk_h128tab   128-bit key -> two int64 values. Keys are keyed SipHash-128 digests of the
 *                text they stand for (hk_h128_of), so a table holds no strings and its memory
 *                is 32 bytes per entry. A random hashing key per table owner makes collisions
 *                both improbable (2^-128 per pair) and impossible to provoke from input, so a
 *                digest is treated as the text itself.
 *   hk_i64tab    int64 key (never 0) -> int64 value, with deletion (backward shift).
 *
 * Invariants: the all-zero digest and the key 0 mark empty slots (hk_h128_of never returns the
 * zero digest); cap is 0 or a power of two and n < cap.
 *
 * Threads: a table belongs to one thread.
 */
#ifndef HK_INGEST_HASHTAB_H
#define HK_INGEST_HASHTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** The size from which hk_big_calloc maps a block of its own (64 MiB). */
#define HK_BIG_MAPPED_MIN ((size_t)64 << 20)
/**
 * n zeroed elements of size bytes, for tables probed at random: from HK_BIG_MAPPED_MIN up a
 * mapping of its own, advised to use transparent huge pages. NULL on overflow or out of memory.
 * Free with hk_big_free and the same n and size.
 */
void *hk_big_calloc(size_t n, size_t size);
void hk_big_free(void *p, size_t n, size_t size);

struct hk_h128 {
    uint64_t a, b;
};

/**
 * The keyed SipHash-128 digest of parts[0..n) joined by 0x1f (so ("ab","c") != ("a","bc")).
 * NULL parts count as "". key: 16 bytes.
 */
struct hk_h128 hk_h128_of(const unsigned char key[16], const char *const *parts, size_t n);

/** The keyed SipHash-128 digest of (id, s): an integer and a string, as one key. */
struct hk_h128 hk_h128_of_id(const unsigned char key[16], int64_t id, const char *s);

struct hk_h128_slot {
    uint64_t a, b;
    int64_t v1, v2;
};

struct hk_h128tab {
    struct hk_h128_slot *slots;
    size_t cap, n;
};

void hk_h128tab_init(struct hk_h128tab *t);
void hk_h128tab_release(struct hk_h128tab *t);
/** Forgets every entry, keeping the memory. */
void hk_h128tab_clear(struct hk_h128tab *t);
/** The slot of key, or NULL (borrowed until the next put). */
struct hk_h128_slot *hk_h128tab_get(const struct hk_h128tab *t, struct hk_h128 key);
/**
 * Asks the CPU to bring key's home slot into its caches, for a get or put a little later: a
 * large table's probes are cache misses, and a few in flight at once overlap their waits.
 */
void hk_h128tab_prefetch(const struct hk_h128tab *t, struct hk_h128 key);
/**
 * The slot of key, inserting it with values (v1, v2) when absent (*added says which). Returns
 * NULL on out of memory. The slot is borrowed until the next put.
 */
struct hk_h128_slot *hk_h128tab_put(struct hk_h128tab *t, struct hk_h128 key, int64_t v1,
                                    int64_t v2, bool *added);

struct hk_i64tab {
    int64_t *keys, *vals;
    size_t cap, n;
};

void hk_i64tab_init(struct hk_i64tab *t);
void hk_i64tab_release(struct hk_i64tab *t);
void hk_i64tab_clear(struct hk_i64tab *t);
/** True and *val when key is present. key != 0. */
bool hk_i64tab_get(const struct hk_i64tab *t, int64_t key, int64_t *val);
/** Sets key to val (inserting or replacing). key != 0. Returns 0 or -1 on out of memory. */
int hk_i64tab_set(struct hk_i64tab *t, int64_t key, int64_t val);
/** Removes key when present. */
void hk_i64tab_del(struct hk_i64tab *t, int64_t key);

#endif
