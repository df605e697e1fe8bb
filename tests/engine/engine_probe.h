/*
 * engine_probe.h — the engine as test_engine_sql.c sees it. engine/engine.h and
 * ingest/record.h both name an `enum hk_order_status` (with different values), so the test's
 * ingest side and its engine side live in separate files; this one reads the engine through
 * the service (hk_engine_svc_read) and hands back plain values.
 */
#ifndef HK_TESTS_ENGINE_PROBE_H
#define HK_TESTS_ENGINE_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_engine_svc;
struct hk_err;

/** A sorted list of customer ids (v is new; free it). */
struct probe_ids {
    int64_t *v;
    size_t n, cap;
};
void probe_ids_push(struct probe_ids *a, int64_t v);
void probe_ids_sort(struct probe_ids *a);

/**
 * The live customers matching expr as of now, sorted into out (reset first). Returns 0, or the
 * compile/eval error code with err filled. Fails the test when the count disagrees with the bits.
 */
int probe_members(struct hk_engine_svc *s, const char *expr, int64_t now, struct probe_ids *out,
                  struct hk_err *err);

/** A customer's engine aggregates as plain values (strings copied; "" when missing). */
struct probe_agg {
    bool live, has_recency;
    uint32_t frequency, refund_count, orders, lines, events, channels;
    int64_t monetary_fen;
    int32_t recency_days, first_order_days;
    double coupon_use_rate, aov_fen;
    int r, f, m;
    char main_category[64], province[64], city[64], rfm_segment[64], rfm_tier[64];
};
/** Fills *out; returns 0 or the engine's error (HK_E(NOTFOUND) for an unknown customer). */
int probe_get(struct hk_engine_svc *s, int64_t id, int64_t now, struct probe_agg *out,
              struct hk_err *err);
/** Prints a customer's engine values to stderr (for mismatch reports). */
void probe_print(struct hk_engine_svc *s, int64_t id, int64_t now);

struct hk_app;
/**
 * Stores (hk_rfm_svc_config_put) the seller's-thresholds RFM configuration the SQL side of
 * test_engine_sql.c mirrors: R cuts 7/30/90/365 days, F cuts 2/3/4/6 orders, M cuts
 * 500/1000/2000/5000 yuan; high/low by thresholds (R <= 60 days, F >= 2, M >= 1000 yuan); the
 * default tiers with 高价值客户 narrowed to R 5, F 3-5, M 4-5. Returns 0 or the error.
 */
int probe_rfm_put_thresholds(struct hk_app *app, struct hk_err *err);

#endif
