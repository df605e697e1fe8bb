/*
 * segments.h — saved segments: create, list, update and delete named segment expressions,
 * keep their member counts current, page through their members and export them.
 *
 * Names and in_segment: every expression is compiled with a resolver over the saved segments, so
 * in_segment("name") means that segment's stored expression. Creating or changing a segment
 * validates its expression (HK_E(INVAL) with the place in *where, as a preview) including cycles
 * through in_segment; renaming or deleting a segment that another saved segment uses
 * (directly or through others) is HK_E(CONFLICT) naming the user.
 *
 * Counts: cached_count/counted_at are recomputed by the counter (hk_segments_counter_start) after
 * the engine applied changes (engine_svc's on-change hook), debounced to one recount per 250 ms,
 * and at once when a segment is created or changed.
 *
 * Members: ordered by id, recency_days, frequency, monetary or aov (then id), with customers
 * lacking the value (non-buyers for recency_days and aov) last in either direction. Pages are
 * keyset: the cursor holds the last (value, id), so each member appears once across pages while
 * the data does not change, and a page boundary stays put when it does.
 *
 * Threading: thread-safe; engine reads hold its read lock only while evaluating.
 */
#ifndef HK_SERVICES_SEGMENTS_H
#define HK_SERVICES_SEGMENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "services/customers.h"
#include "services/segment_svc.h"
#include "store/segments_repo.h"

struct hk_app;
struct hk_err;

#define HK_SEGMENT_NAME_MAX 128  /* bytes */
#define HK_SEGMENT_DESC_MAX 2000 /* bytes */

/** Every saved segment ordered by name (*out new: hk_segment_rows_free). */
int hk_segments_list(struct hk_app *app, struct hk_segment_row **out, size_t *n,
                     struct hk_err *err);
/** One saved segment (*out filled on success: hk_segment_row_release). HK_E(NOTFOUND). */
int hk_segments_get(struct hk_app *app, int64_t id, struct hk_segment_row *out, struct hk_err *err);
/**
 * Creates a segment (description may be NULL) after validating name and expression, counts it,
 * and returns it in *out. HK_E(INVAL) (expression errors fill *where), HK_E(CONFLICT).
 */
int hk_segments_create(struct hk_app *app, int64_t user_id, const char *name,
                       const char *expression, const char *description,
                       struct hk_segment_error *where, struct hk_segment_row *out,
                       struct hk_err *err);
/** Changes the fields that are not NULL; as create. HK_E(NOTFOUND), HK_E(CONFLICT). */
int hk_segments_update(struct hk_app *app, int64_t id, const char *name, const char *expression,
                       const char *description, struct hk_segment_error *where,
                       struct hk_segment_row *out, struct hk_err *err);
/** Deletes a segment no other segment uses. HK_E(NOTFOUND), HK_E(CONFLICT). */
int hk_segments_delete(struct hk_app *app, int64_t id, struct hk_err *err);

/** Recounts every saved segment now and stores the counts. */
int hk_segments_recount(struct hk_app *app, struct hk_err *err);

/* ---- members -------------------------------------------------------------------------------- */

enum hk_member_sort {
    HK_MSORT_ID = 0,
    HK_MSORT_RECENCY,
    HK_MSORT_FREQUENCY,
    HK_MSORT_MONETARY,
    HK_MSORT_AOV
};

/** Parses sort ("id", "recency_days", ...) and order ("asc", "desc"); NULL or "" = id / asc. */
int hk_member_sort_parse(const char *sort, const char *order, enum hk_member_sort *s, bool *desc,
                         struct hk_err *err);

#define HK_MEMBERS_PAGE_MAX 500
#define HK_MEMBERS_CURSOR   64

struct hk_member {
    struct hk_customer_contact c; /* id, nick, phone (by role), province, city */
    bool has_recency;             /* a buyer: recency_days and aov are set */
    int32_t recency_days;
    uint32_t frequency;
    int64_t monetary_fen;
    int64_t aov_fen;                    /* rounded to the fen */
    char rfm_segment[64], rfm_tier[64]; /* "" for non-buyers */
};

struct hk_member_page {
    struct hk_member *items; /* new (hk_member_page_release) */
    size_t n;
    size_t count;                        /* members in the segment */
    char next_cursor[HK_MEMBERS_CURSOR]; /* "" on the last page */
};
void hk_member_page_release(struct hk_member_page *p);

/**
 * A page of segment id's members after cursor (NULL or "" = the first) in the given order, at
 * most limit (1..HK_MEMBERS_PAGE_MAX; else 50). clear: phones in clear. HK_E(INVAL) naming
 * "cursor" for a cursor of another sort.
 */
int hk_segments_members(struct hk_app *app, int64_t id, enum hk_member_sort sort, bool desc,
                        const char *cursor, int limit, bool clear, struct hk_member_page *out,
                        struct hk_err *err);

/* ---- export --------------------------------------------------------------------------------- */

enum hk_export_format { HK_EXPORT_CSV = 0, HK_EXPORT_XLSX };
/* The header row's language; the columns= keys are the same in both. */
enum hk_export_lang { HK_EXPORT_ZH_CN = 0, HK_EXPORT_EN };

/** "zh-CN" (also "zh"; the default for NULL or "") or "en" into *out; HK_E(INVAL) naming "lang". */
int hk_export_lang_parse(const char *s, enum hk_export_lang *out, struct hk_err *err);

struct hk_export_opts {
    int64_t segment_id;     /* a saved segment, or 0 with expression */
    const char *expression; /* when segment_id is 0 */
    const char *columns;    /* comma-separated (docs/segments.md); NULL or "" = all */
    enum hk_member_sort sort;
    bool desc;
    bool clear;               /* PII in clear */
    enum hk_export_lang lang; /* header row: zh-CN (default) or en */
};

struct hk_export; /* opaque: a snapshot of the member ids and the chosen columns */

/**
 * Evaluates the segment and prepares an export (new; hk_export_free). HK_E(INVAL) for an unknown
 * column (naming it) or a bad expression (*where), HK_E(NOTFOUND) for an unknown segment.
 */
int hk_export_open(struct hk_app *app, const struct hk_export_opts *o, struct hk_export **out,
                   struct hk_segment_error *where, struct hk_err *err);
void hk_export_free(struct hk_export *x);
/** Members to export. */
size_t hk_export_count(const struct hk_export *x);
/** The segment's name ("segment" for a bare expression), for file names. */
const char *hk_export_name(const struct hk_export *x);
/**
 * The next piece of the CSV (UTF-8 with a BOM, CRLF lines, a header row): up to max bytes into
 * buf, their number into *len; *len 0 at the end. Reads 500 members at a time.
 */
int hk_export_csv_next(struct hk_export *x, char *buf, size_t max, size_t *len, struct hk_err *err);
/**
 * Writes the whole export as an XLSX workbook to path: one sheet, a bold frozen header row with
 * a filter, numbers as numbers (yuan as 0.00), phones and text as text, ids of 16 digits or more
 * as text.
 */
int hk_export_xlsx(struct hk_export *x, const char *path, struct hk_err *err);

/* ---- keeping counts current --------------------------------------------------------------- */

struct hk_segments_counter;
/**
 * Starts the recount thread and hooks it to app->engine's changes (new; stop with
 * hk_segments_counter_stop before the engine stops). Recounts once at start.
 */
int hk_segments_counter_start(struct hk_app *app, struct hk_segments_counter **out,
                              struct hk_err *err);
/**
 * Unhooks from the engine and joins the thread: call before hk_engine_svc_stop. c may be NULL.
 */
void hk_segments_counter_stop(struct hk_segments_counter *c);
/**
 * Frees the counter (stopping it first if needed): call after hk_engine_svc_stop, which ends any
 * call of the hook still in flight on the sync thread. c may be NULL.
 */
void hk_segments_counter_free(struct hk_segments_counter *c);

/* ---- in_segment everywhere --------------------------------------------------------------- */

struct hk_saved_segments; /* the saved segments, as a resolver for in_segment("name") */

/**
 * Loads the saved segments (new; free with hk_saved_segments_free), so that preview and
 * `huike segment count` resolve in_segment exactly as saved segments do. Read it before taking
 * the engine's read lock.
 */
int hk_saved_segments_load(struct hk_app *app, struct hk_saved_segments **out, struct hk_err *err);
/** The resolver to hand to hk_segment_compile / hk_segment_count (borrowed from s). */
const struct hk_segment_resolver *hk_saved_segments_resolver(const struct hk_saved_segments *s);
void hk_saved_segments_free(struct hk_saved_segments *s);

#endif
