/*
 * engine_probe.c — see engine_probe.h.
 */
#include "engine_probe.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "engine/engine.h"
#include "engine/segment.h"
#include "services/engine_svc.h"
#include "services/rfm_svc.h"

void probe_ids_push(struct probe_ids *a, int64_t v)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 256;
        a->v = realloc(a->v, a->cap * sizeof(*a->v));
        assert_non_null(a->v);
    }
    a->v[a->n++] = v;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

void probe_ids_sort(struct probe_ids *a)
{
    if (a->n)
        qsort(a->v, a->n, sizeof(*a->v), cmp_i64);
}

int probe_members(struct hk_engine_svc *s, const char *expr, int64_t now, struct probe_ids *out,
                  struct hk_err *err)
{
    out->n = 0;
    const struct hk_engine *e = hk_engine_svc_read(s);
    struct hk_segment *sg = NULL;
    int rc = hk_segment_compile(e, expr, NULL, &sg, err);
    size_t count = 0;
    if (!rc) {
        size_t words = hk_segment_words(e);
        uint64_t *bits = calloc(words ? words : 1, sizeof(uint64_t));
        assert_non_null(bits);
        rc = hk_segment_eval(e, sg, now, bits, &count, err);
        for (size_t w = 0; !rc && w < words; w++)
            for (uint64_t x = bits[w]; x; x &= x - 1)
                probe_ids_push(out, hk_engine_row_id(e, w * 64 + (size_t)__builtin_ctzll(x)));
        free(bits);
        hk_segment_free(sg);
    }
    hk_engine_svc_read_end(s);
    if (!rc && count != out->n)
        fail_msg("%s: count %zu but %zu bits set", expr, count, out->n);
    probe_ids_sort(out);
    return rc;
}

static void copy(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

int probe_get(struct hk_engine_svc *s, int64_t id, int64_t now, struct probe_agg *out,
              struct hk_err *err)
{
    struct hk_engine_aggregates a;
    const struct hk_engine *e = hk_engine_svc_read(s);
    int rc = hk_engine_customer_get(e, id, now, &a, err);
    if (!rc) {
        memset(out, 0, sizeof(*out));
        out->live = a.live;
        out->has_recency = a.has_recency;
        out->frequency = a.frequency;
        out->refund_count = a.refund_count;
        out->orders = a.orders;
        out->lines = a.lines;
        out->events = a.events;
        out->channels = a.channels;
        out->monetary_fen = a.monetary_fen;
        out->recency_days = a.recency_days;
        out->first_order_days = a.first_order_days;
        out->coupon_use_rate = a.coupon_use_rate;
        out->aov_fen = a.aov_fen;
        out->r = a.r_score;
        out->f = a.f_score;
        out->m = a.m_score;
        /* the strings are borrowed from the engine: copy them while the lock is held */
        copy(out->main_category, sizeof out->main_category, a.main_category);
        copy(out->province, sizeof out->province, a.province);
        copy(out->city, sizeof out->city, a.city);
        copy(out->rfm_segment, sizeof out->rfm_segment, a.rfm_segment);
        copy(out->rfm_tier, sizeof out->rfm_tier, a.rfm_tier);
    }
    hk_engine_svc_read_end(s);
    return rc;
}

void probe_print(struct hk_engine_svc *s, int64_t id, int64_t now)
{
    struct hk_err err = {0};
    struct probe_agg a;
    if (probe_get(s, id, now, &a, &err) != 0) {
        fprintf(stderr, "    engine #%lld: %s\n", (long long)id, hk_err_message(&err));
        return;
    }
    fprintf(stderr,
            "    engine #%lld: live %d freq %u mon %lld refunds %u rec %d first %d cat %s "
            "rfm %d%d%d %s %s channels %#x orders %u lines %u events %u\n",
            (long long)id, a.live, a.frequency, (long long)a.monetary_fen, a.refund_count,
            a.has_recency ? a.recency_days : -999999, a.has_recency ? a.first_order_days : -999999,
            a.main_category[0] ? a.main_category : "-", a.r, a.f, a.m,
            a.rfm_segment[0] ? a.rfm_segment : "-", a.rfm_tier[0] ? a.rfm_tier : "-", a.channels,
            a.orders, a.lines, a.events);
}

int probe_rfm_put_thresholds(struct hk_app *app, struct hk_err *err)
{
    struct hk_rfm_config c;
    hk_rfm_config_default(&c);
    c.score_mode = HK_RFM_SCORE_THRESHOLDS;
    const int32_t r[4] = {7, 30, 90, 365};
    const int64_t f[4] = {2, 3, 4, 6};
    const int64_t m[4] = {50000, 100000, 200000, 500000};
    memcpy(c.r_cuts_days, r, sizeof r);
    memcpy(c.f_cuts, f, sizeof f);
    memcpy(c.m_cuts_fen, m, sizeof m);
    c.high_mode = HK_RFM_HIGH_THRESHOLDS;
    c.r_high_max_days = 60;
    c.f_high_min = 2;
    c.m_high_min_fen = 100000;
    c.tiers[0].r_min = 5;
    c.tiers[0].f_min = 3;
    return hk_rfm_svc_config_put(app, NULL, 0, &c, err);
}
