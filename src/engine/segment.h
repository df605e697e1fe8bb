/*
 * segment.h — the segment language (docs/segments.md): one expression language for the UI, the
 * API, the CLI and automation, compiled against an engine and evaluated into a bitmap with one
 * bit per engine row.
 *
 *   recency_days > 90 and aov >= 500
 *   bought(category="phones", within=30d) and not bought(category="phone_accessories")
 *
 * Compilation resolves every name (field, product, category, tag, channel, event type, RFM
 * segment or tier, saved segment) once; unknown names are errors that suggest the nearest known
 * one, and syntax errors give line, column and what was expected. A compiled segment keeps
 * dictionary ids only, which never change, so it stays valid while the engine takes new data.
 *
 * Threading: compile and eval only read the engine (see engine.h for the locking rule); a
 * compiled segment is immutable and may be evaluated by several threads at once.
 */
#ifndef HK_ENGINE_SEGMENT_H
#define HK_ENGINE_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

struct hk_err;
struct hk_engine;
struct hk_segment;

/** How in_segment("name") finds a saved segment's expression. */
struct hk_segment_resolver {
    /** The expression of saved segment `name` (borrowed until compile returns), or NULL. */
    const char *(*lookup)(void *ctx, const char *name);
    void *ctx;
    const char *const *names; /* every saved segment's name, for suggestions (may be NULL) */
    size_t n_names;
};

/** Longest expression accepted, in bytes. */
#define HK_SEGMENT_MAX_LEN (64 * 1024)

/**
 * Compiles expr (NUL-terminated UTF-8) against e. res may be NULL (then in_segment is an
 * error). Returns 0 and a new compiled segment in *out (free with hk_segment_free), or
 * HK_E(INVAL) with "line L, column C: ..." in err.
 */
int hk_segment_compile(const struct hk_engine *e, const char *expr,
                       const struct hk_segment_resolver *res, struct hk_segment **out,
                       struct hk_err *err);
void hk_segment_free(struct hk_segment *s);

/** Number of 64-bit words in a result bitmap for e (one bit per row). */
size_t hk_segment_words(const struct hk_engine *e);

/**
 * Evaluates s as of now into bits (caller-allocated, hk_segment_words(e) words; bit i = row i,
 * only live customers are ever set) and writes the member count to *count when not NULL.
 */
int hk_segment_eval(const struct hk_engine *e, const struct hk_segment *s, int64_t now,
                    uint64_t *bits, size_t *count, struct hk_err *err);

/** Compile + eval + free: the number of live customers matching expr as of now. */
int hk_segment_count(const struct hk_engine *e, const char *expr,
                     const struct hk_segment_resolver *res, int64_t now, size_t *count,
                     struct hk_err *err);

#endif
