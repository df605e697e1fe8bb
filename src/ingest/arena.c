/*
 * arena.c — chunked bump allocator (see arena.h).
 *
 * An allocation larger than the chunk size gets a chunk of its own. Alignment is that of
 * max_align_t. Rollback drops the chunks added after the mark (they sit in front of it in the
 * list) and rewinds the marked chunk. Dropped chunks of the default size wait in a spare list
 * (up to 8 MiB) for reuse: an importer resets after every batch, and handing the same chunks
 * back avoids a malloc/free (and, for chunks this large, an mmap/munmap) per chunk per batch.
 */
#include "ingest/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CHUNK ((size_t)256 << 10)
#define ALIGN         (alignof(max_align_t))
#define SPARE_MAX     ((size_t)8 << 20) /* default-size chunks kept for reuse after a reset */

struct hk_arena_chunk {
    struct hk_arena_chunk *next;
    size_t size, used;
    alignas(max_align_t) unsigned char data[];
};

void hk_arena_init(struct hk_arena *a, size_t chunk_size)
{
    a->head = NULL;
    a->spare = NULL;
    a->spare_bytes = 0;
    a->chunk_size = chunk_size ? chunk_size : DEFAULT_CHUNK;
    a->bytes = 0;
}

/* A chunk no longer in use: kept for reuse when it has the default size and the spares are
   below SPARE_MAX, else freed. */
static void drop_chunk(struct hk_arena *a, struct hk_arena_chunk *c)
{
    a->bytes -= c->size;
    if (c->size == a->chunk_size && a->spare_bytes + c->size <= SPARE_MAX) {
        c->next = a->spare;
        a->spare = c;
        a->spare_bytes += c->size;
    } else {
        free(c);
    }
}

static void drop_chunks_until(struct hk_arena *a, struct hk_arena_chunk *stop)
{
    while (a->head && a->head != stop) {
        struct hk_arena_chunk *c = a->head;
        a->head = c->next;
        drop_chunk(a, c);
    }
}

void hk_arena_release(struct hk_arena *a)
{
    drop_chunks_until(a, NULL);
    while (a->spare) {
        struct hk_arena_chunk *c = a->spare;
        a->spare = c->next;
        free(c);
    }
    a->spare_bytes = 0;
}

void hk_arena_reset(struct hk_arena *a)
{
    drop_chunks_until(a, NULL);
}

static struct hk_arena_chunk *new_chunk(struct hk_arena *a, size_t size)
{
    struct hk_arena_chunk *c;
    if (size == a->chunk_size && a->spare) {
        c = a->spare;
        a->spare = c->next;
        a->spare_bytes -= c->size;
    } else {
        if (size > SIZE_MAX - sizeof(struct hk_arena_chunk))
            return NULL;
        c = malloc(sizeof(*c) + size);
        if (!c)
            return NULL;
        c->size = size;
    }
    c->used = 0;
    a->bytes += size;
    return c;
}

/* n bytes at an offset that is a multiple of align (a power of two) */
static void *alloc_aligned(struct hk_arena *a, size_t n, size_t align)
{
    struct hk_arena_chunk *h = a->head;
    if (h) {
        size_t at = (h->used + align - 1) & ~(align - 1);
        if (at <= h->size && h->size - at >= n) {
            h->used = at + n;
            return h->data + at;
        }
    }
    size_t need = n;
    /* A block bigger than a chunk gets a chunk of its own; what is left in the current chunk
       is abandoned (at most one partly used chunk per oversized block, which are rare). */
    size_t size = need > a->chunk_size ? need : a->chunk_size;
    struct hk_arena_chunk *c = new_chunk(a, size);
    if (!c)
        return NULL;
    c->next = h;
    a->head = c;
    c->used = need;
    return c->data;
}

void *hk_arena_alloc(struct hk_arena *a, size_t n)
{
    return alloc_aligned(a, n, ALIGN);
}

const char *hk_arena_strndup(struct hk_arena *a, const char *s, size_t n)
{
    if (n == 0)
        return "";
    if (n == SIZE_MAX)
        return NULL;
    char *p = alloc_aligned(a, n + 1, 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

struct hk_arena_mark hk_arena_mark(const struct hk_arena *a)
{
    struct hk_arena_mark m = {a->head, a->head ? a->head->used : 0};
    return m;
}

void hk_arena_rollback(struct hk_arena *a, struct hk_arena_mark m)
{
    drop_chunks_until(a, m.chunk);
    if (a->head)
        a->head->used = m.used;
}
