/*
 * customer_filter.c — the customer search filtered by a segment expression (customer_filter.h).
 */
#include "services/customer_filter.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "engine/engine.h"
#include "engine/segment.h"
#include "services/app.h"
#include "services/engine_svc.h"
#include "services/segment_svc.h"
#include "services/segments.h"
#include "store/customers_repo.h"

void hk_id_set_release(struct hk_id_set *s)
{
    if (!s)
        return;
    free(s->bits);
    memset(s, 0, sizeof *s);
}

/* The engine rows in bits as customer ids: a pass for the largest id, a pass to set them (no
   sort: at 10M members this is two linear walks, not an n log n sort). */
static int ids_of_rows(const struct hk_engine *e, const uint64_t *bits, size_t words,
                       struct hk_id_set *out, struct hk_err *err)
{
    int64_t max = 0;
    size_t n = 0;
    for (size_t w = 0; w < words; w++)
        for (uint64_t b = bits[w]; b; b &= b - 1) {
            int64_t id = hk_engine_row_id(e, w * 64 + (size_t)__builtin_ctzll(b));
            if (id > max)
                max = id;
            n++;
        }
    uint64_t *set = calloc((size_t)(max / 64) + 1, sizeof *set);
    if (!set)
        return hk_err_set(err, HK_E(NOMEM), "out of memory evaluating a segment");
    for (size_t w = 0; w < words; w++)
        for (uint64_t b = bits[w]; b; b &= b - 1) {
            int64_t id = hk_engine_row_id(e, w * 64 + (size_t)__builtin_ctzll(b));
            if (id > 0)
                set[id / 64] |= 1ULL << (id % 64);
        }
    out->bits = set;
    out->max_id = max;
    out->n = n;
    return 0;
}

int hk_customer_filter_eval(struct hk_app *app, const char *expr, struct hk_id_set *out,
                            struct hk_segment_error *where, struct hk_err *err)
{
    if (!app->engine)
        return hk_err_set(err, HK_E(UNAVAILABLE), "the customer engine is not running");
    int64_t now = hk_clock_now(&app->clock);
    struct hk_saved_segments *saved = NULL;
    int rc = hk_saved_segments_load(app, &saved, err);
    if (rc)
        return rc;
    const struct hk_engine *e = hk_engine_svc_read(app->engine);
    struct hk_segment *seg = NULL;
    uint64_t *bits = NULL;
    size_t count = 0;
    rc = hk_segment_compile(e, expr, hk_saved_segments_resolver(saved), &seg, err);
    size_t words = rc ? 0 : hk_segment_words(e);
    if (!rc && !(bits = malloc((words + 1) * sizeof *bits)))
        rc = hk_err_set(err, HK_E(NOMEM), "out of memory evaluating a segment");
    if (!rc)
        rc = hk_segment_eval(e, seg, now, bits, &count, err);
    if (!rc)
        rc = ids_of_rows(e, bits, words, out, err);
    hk_engine_svc_read_end(app->engine);
    hk_segment_free(seg);
    hk_saved_segments_free(saved);
    free(bits);
    if (rc == HK_E(INVAL))
        hk_segment_error_parse(hk_err_message(err), where);
    return rc;
}

static bool has(const struct hk_id_set *s, int64_t id)
{
    return id > 0 && id <= s->max_id && (s->bits[id / 64] >> (id % 64)) & 1;
}

/* The smallest id of the set > after, or 0. */
static int64_t next_after(const struct hk_id_set *s, int64_t after)
{
    int64_t id = after < 0 ? 0 : after + 1;
    if (id > s->max_id)
        return 0;
    size_t w = (size_t)(id / 64);
    uint64_t b = s->bits[w] & (~0ULL << (id % 64));
    size_t last = (size_t)(s->max_id / 64);
    while (!b && w < last)
        b = s->bits[++w];
    return b ? (int64_t)(w * 64 + (size_t)__builtin_ctzll(b)) : 0;
}

/* The largest id of the set < before, or 0. */
static int64_t prev_before(const struct hk_id_set *s, int64_t before)
{
    int64_t id = before > s->max_id ? s->max_id : before - 1;
    if (id <= 0)
        return 0;
    size_t w = (size_t)(id / 64);
    int sh = 63 - (int)(id % 64);
    uint64_t b = s->bits[w] & (~0ULL >> sh);
    while (!b && w > 0)
        b = s->bits[--w];
    return b ? (int64_t)(w * 64 + 63 - (size_t)__builtin_clzll(b)) : 0;
}

int hk_customer_filter_search(struct hk_db *db, const struct hk_id_set *set,
                              const struct hk_cust_query *q, size_t cap,
                              struct hk_cust_list_row *rows, size_t *n, bool *more,
                              int64_t *last_key, int64_t *last_id, struct hk_err *err)
{
    *n = 0;
    *more = false;
    if (set->n == 0 || cap == 0)
        return 0;
    /* Sorts that aggregate every customer's orders per statement read larger pages. */
    bool joined = q->sort == HK_CUST_SORT_SPEND || q->sort == HK_CUST_SORT_LAST_ORDER;
    size_t page = joined ? 2000 : (cap * 4 < 64 ? 64 : cap * 4 > 500 ? 500 : cap * 4);
    struct hk_cust_list_row *buf = calloc(page, sizeof *buf);
    if (!buf)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    struct hk_cust_query cur = *q;
    size_t kept = 0, scanned = 0;
    int rc = 0;
    for (;;) {
        if (cur.sort == HK_CUST_SORT_ID) {
            /* jump to the next id of the set in the direction of the sort */
            int64_t after = cur.has_after ? cur.after_id : (cur.descending ? INT64_MAX : 0);
            int64_t next = cur.descending ? prev_before(set, after) : next_after(set, after);
            if (!next)
                break;
            cur.after_id = cur.descending ? next + 1 : next - 1;
            cur.has_after = true;
        }
        size_t got = 0;
        if ((rc = hk_cust_search(db, &cur, page, buf, &got, err)) != 0)
            break;
        for (size_t i = 0; i < got && kept < cap; i++) {
            scanned++;
            if (has(set, buf[i].id))
                rows[kept++] = buf[i];
            cur.has_after = true;
            cur.after_key = buf[i].sort_key;
            cur.after_id = buf[i].id;
        }
        if (kept == cap || got < page)
            break;
        if (scanned >= HK_FILTER_SCAN_MAX) {
            *more = true;
            *last_key = cur.after_key;
            *last_id = cur.after_id;
            break;
        }
    }
    free(buf);
    if (rc)
        return rc;
    *n = kept;
    return 0;
}
