/*
 * segment_svc.c — count and preview of segment expressions (see segment_svc.h). The engine is
 * read-locked for compile + evaluate + reading the first page's aggregates; the nicks and masked
 * phones of that page come from the store afterwards, without the lock.
 */
#include "services/segment_svc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/util.h"
#include "engine/engine.h"
#include "engine/segment.h"
#include "services/app.h"
#include "services/engine_svc.h"
#include "services/segments.h"
#include "store/customers_repo.h"
#include "store/store.h"

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void hk_segment_error_parse(const char *msg, struct hk_segment_error *w)
{
    if (!w)
        return;
    memset(w, 0, sizeof *w);
    const char *m = msg;
    if (strncmp(m, "in segment \"", 12) == 0) { /* an error inside a used saved segment */
        const char *colon = strstr(m, "\": ");
        if (colon)
            m = colon + 3;
    }
    if (sscanf(m, "line %d, column %d", &w->line, &w->column) != 2)
        w->line = w->column = 0;
    const char *e = strstr(m, "expected ");
    if (e) {
        e += 9;
        size_t len = strcspn(e, "\n");
        const char *f = strstr(e, ", found");
        if (f && (size_t)(f - e) < len)
            len = (size_t)(f - e);
        if (len >= sizeof w->expected)
            len = sizeof w->expected - 1;
        memcpy(w->expected, e, len);
    }
    const char *d = strstr(m, "did you mean '");
    if (d) {
        d += 14;
        size_t len = strcspn(d, "'");
        if (len >= sizeof w->suggestion)
            len = sizeof w->suggestion - 1;
        memcpy(w->suggestion, d, len);
    }
}

int hk_segment_svc_count(struct hk_engine_svc *s, const struct hk_segment_resolver *resolver,
                         const char *expr, int64_t now, size_t *count,
                         struct hk_segment_error *where, struct hk_err *err)
{
    const struct hk_engine *e = hk_engine_svc_read(s);
    int rc = hk_segment_count(e, expr, resolver, now, count, err);
    hk_engine_svc_read_end(s);
    if (rc == HK_E(INVAL))
        hk_segment_error_parse(hk_err_message(err), where);
    return rc;
}

int hk_segment_svc_preview(struct hk_app *app, const char *expr, size_t limit,
                           struct hk_segment_preview *out, struct hk_segment_error *where,
                           struct hk_err *err)
{
    if (!app->engine)
        return hk_err_set(err, HK_E(UNAVAILABLE), "the customer engine is not running");
    if (limit == 0 || limit > HK_SEGMENT_PAGE_MAX)
        limit = limit ? HK_SEGMENT_PAGE_MAX : 20;
    int64_t now = hk_clock_now(&app->clock);
    int64_t t0 = now_us();
    memset(out, 0, offsetof(struct hk_segment_preview, members));

    struct hk_saved_segments *saved = NULL;
    int rc = hk_saved_segments_load(app, &saved, err);
    if (rc)
        return rc;
    const struct hk_engine *e = hk_engine_svc_read(app->engine);
    struct hk_segment *seg = NULL;
    uint64_t *bits = NULL;
    rc = hk_segment_compile(e, expr, hk_saved_segments_resolver(saved), &seg, err);
    if (!rc) {
        bits = malloc((hk_segment_words(e) + 1) * sizeof(*bits));
        if (!bits)
            rc = hk_err_set(err, HK_E(NOMEM), "out of memory evaluating a segment");
    }
    if (!rc)
        rc = hk_segment_eval(e, seg, now, bits, &out->count, err);
    size_t words = rc ? 0 : hk_segment_words(e);
    for (size_t w = 0; w < words && out->n < limit; w++) {
        uint64_t b = bits[w];
        while (b && out->n < limit) {
            size_t row = w * 64 + (size_t)__builtin_ctzll(b);
            b &= b - 1;
            struct hk_segment_member *m = &out->members[out->n];
            memset(m, 0, sizeof *m);
            m->id = hk_engine_row_id(e, row);
            struct hk_engine_aggregates a;
            struct hk_err ignore;
            if (hk_engine_customer_get(e, m->id, now, &a, &ignore) == 0) {
                m->has_recency = a.has_recency;
                m->recency_days = a.recency_days;
                m->frequency = a.frequency;
                m->monetary_fen = a.monetary_fen;
                snprintf(m->rfm_segment, sizeof m->rfm_segment, "%s",
                         a.rfm_segment ? a.rfm_segment : "");
                snprintf(m->rfm_tier, sizeof m->rfm_tier, "%s", a.rfm_tier ? a.rfm_tier : "");
            }
            out->n++;
        }
    }
    hk_engine_svc_read_end(app->engine);
    hk_segment_free(seg);
    hk_saved_segments_free(saved);
    free(bits);
    out->eval_us = now_us() - t0;
    if (rc) {
        if (rc == HK_E(INVAL))
            hk_segment_error_parse(hk_err_message(err), where);
        return rc;
    }
    if (out->n == 0)
        return 0;

    struct hk_db *db;
    if ((rc = hk_db_acquire(app->store, &db, err)) != 0)
        return rc;
    struct hk_cust_row *row = malloc(sizeof(*row));
    if (!row) {
        hk_db_release(db);
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    }
    for (size_t i = 0; i < out->n && rc == 0; i++) {
        struct hk_err e2;
        if (hk_cust_get(db, out->members[i].id, row, &e2) == 0) {
            snprintf(out->members[i].nick, sizeof out->members[i].nick, "%s", row->nick);
            snprintf(out->members[i].phone_masked, sizeof out->members[i].phone_masked, "%s",
                     row->phone_masked);
            hk_cust_row_release(row);
        }
    }
    free(row);
    hk_db_release(db);
    return rc;
}
