/*
 * segment_svc.h — segment expressions for the API and the CLI: count and preview over the
 * application's engine (services/engine_svc.h), with parse errors taken apart into line,
 * column, what was expected and the suggested name, for the UI to underline as the user types.
 *
 * Threading: thread-safe; each call holds the engine's read lock only while it evaluates.
 */
#ifndef HK_SERVICES_SEGMENT_SVC_H
#define HK_SERVICES_SEGMENT_SVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_app;
struct hk_err;
struct hk_engine_svc;

/** Where and why an expression failed (filled on HK_E(INVAL); 0 / "" when not known). */
struct hk_segment_error {
    int line, column;
    char expected[128];
    char suggestion[128];
};

#define HK_SEGMENT_PAGE_MAX 200

struct hk_segment_member {
    int64_t id;
    char nick[256];
    char phone_masked[64];
    bool has_recency;
    int32_t recency_days;
    uint32_t frequency;
    int64_t monetary_fen;
    char rfm_segment[64]; /* "" for non-buyers */
    char rfm_tier[64];
};

struct hk_segment_preview {
    size_t count;
    size_t n; /* members filled, at most the limit asked */
    struct hk_segment_member members[HK_SEGMENT_PAGE_MAX];
    int64_t eval_us; /* compile + evaluate, microseconds */
};

struct hk_segment_resolver;

/**
 * Fills w (line, column, expected, suggestion) from an engine compile error message ("line L,
 * column C: expected X, found Y (did you mean 'Z'?)", possibly prefixed by 'in segment "N": ').
 * Fields the message lacks are left zero/empty. w may be NULL.
 */
void hk_segment_error_parse(const char *msg, struct hk_segment_error *w);

/**
 * Number of live customers matching expr as of now. resolver: how in_segment("name") finds
 * saved segments (hk_saved_segments_resolver), or NULL when none may be used.
 */
int hk_segment_svc_count(struct hk_engine_svc *s, const struct hk_segment_resolver *resolver,
                         const char *expr, int64_t now, size_t *count,
                         struct hk_segment_error *where, struct hk_err *err);
/**
 * Count and the first limit (1..HK_SEGMENT_PAGE_MAX) members in customer-id order, with their
 * nick and stored masked phone from the store. *out is large: allocate it (caller owns).
 */
int hk_segment_svc_preview(struct hk_app *app, const char *expr, size_t limit,
                           struct hk_segment_preview *out, struct hk_segment_error *where,
                           struct hk_err *err);

#endif
