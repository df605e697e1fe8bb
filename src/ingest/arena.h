/*
 * arena.h — the reader's bump allocator (internal to ingest/).
 *
 * Records and their strings are allocated here and freed all at once (hk_arena_reset), the way
 * nginx frees a request's pool: no per-field malloc, no per-field free. A mark taken before an
 * order is built lets the reader drop a withheld order's memory again (hk_arena_rollback).
 *
 * Invariants: chunks form a singly linked list, newest first; `used <= size` in every chunk;
 * memory handed out stays valid until a reset or a rollback to a mark taken before it.
 * Threads: an arena belongs to one thread.
 */
#ifndef HK_INGEST_ARENA_H
#define HK_INGEST_ARENA_H

#include <stddef.h>

struct hk_arena_chunk;

struct hk_arena {
    struct hk_arena_chunk *head;  /* the chunk being filled; NULL before the first allocation */
    struct hk_arena_chunk *spare; /* unused chunks of the default size, kept for reuse */
    size_t spare_bytes;
    size_t chunk_size; /* default chunk payload size */
    size_t bytes;      /* payload bytes of the chunks in use (for tests and limits) */
};

struct hk_arena_mark {
    struct hk_arena_chunk *chunk;
    size_t used;
};

/** Sets up an empty arena; chunk_size 0 = 256 KiB. Allocates nothing yet. */
void hk_arena_init(struct hk_arena *a, size_t chunk_size);
/** Frees every chunk, spares included; the arena is empty and usable again. */
void hk_arena_release(struct hk_arena *a);
/** Forgets every allocation; chunks are kept (up to 8 MiB) for reuse. */
void hk_arena_reset(struct hk_arena *a);

/**
 * Returns n bytes aligned for any object (borrowed from the arena), or NULL when out of memory.
 * n may be 0.
 */
void *hk_arena_alloc(struct hk_arena *a, size_t n);

/** Copies n bytes of s and a NUL into the arena; NULL on OOM. n == 0 returns "" (static). */
const char *hk_arena_strndup(struct hk_arena *a, const char *s, size_t n);

/** Where the arena is now, to roll back to. */
struct hk_arena_mark hk_arena_mark(const struct hk_arena *a);
/** Frees everything allocated after m was taken (chunks added since are dropped). */
void hk_arena_rollback(struct hk_arena *a, struct hk_arena_mark m);

#endif
