/*
 * dashboard.h — the numbers of the console's 工作台 (dashboard): the headline counts from the
 * engine and net sales per channel over time from the store.
 *
 * Definitions (docs/console.md has them for users):
 *   customers        live customers (not merged away), with or without an order;
 *   buyers           customers with at least one counted order (paid, shipped or completed);
 *   repeat buyers    buyers with two or more counted orders; repurchase rate = repeat / buyers;
 *   new this month   buyers whose first counted order falls in the current calendar month, in
 *                    the default shop zone (cfg.timezone; as of app->clock);
 *   tier shares      the RFM report's tiers (share of buyers), as of the last rescore;
 *   net sales        sum of paid - refund over counted orders, bucketed by the order's
 *                    purchase day (paid_at, else created_at) in its shop's own time zone, and by
 *                    the shop's channel. A refund lowers the bucket of the purchase, not the day
 *                    of the refund, so past buckets change when refunds arrive.
 *
 * Threading: thread-safe; the engine is read under its lock (services/engine_svc.h).
 */
#ifndef HK_SERVICES_DASHBOARD_H
#define HK_SERVICES_DASHBOARD_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

struct hk_app;
struct hk_err;

struct hk_dashboard_summary {
    uint64_t customers, buyers, repeat_buyers, new_buyers_this_month;
    double repurchase_rate; /* repeat_buyers / buyers; 0 without buyers */
    char month_start[11];   /* "YYYY-MM-01" of the current month, default zone */
    char today[11];
    struct hk_rfm_report report; /* tiers and segments as of the last rescore */
};

/** The headline numbers as of now. HK_E(UNAVAILABLE) when the engine is not running. */
int hk_dashboard_summary(struct hk_app *app, struct hk_dashboard_summary *out, struct hk_err *err);

enum hk_sales_granularity { HK_SALES_DAY = 0, HK_SALES_WEEK, HK_SALES_MONTH };

#define HK_SALES_MAX_DAYS    3660 /* longest range */
#define HK_SALES_MAX_BUCKETS 800

struct hk_sales_series {
    char channel[64];
    int64_t *net_fen; /* n_buckets values */
    int64_t total_fen;
    int64_t orders;
};

struct hk_sales_chart {
    char from[11], to[11]; /* the range as applied, inclusive, "YYYY-MM-DD" */
    enum hk_sales_granularity granularity;
    size_t n_buckets;
    char (*buckets)[11]; /* each bucket's first day (a Monday for weeks, the 1st for months) */
    size_t n_series;     /* channels with counted orders in the range, largest total first */
    struct hk_sales_series *series;
    int64_t total_fen, orders;
};

void hk_sales_chart_release(struct hk_sales_chart *c);

/**
 * Net sales per channel and bucket for local days from..to ("YYYY-MM-DD", inclusive; NULL or ""
 * = the 30 days ending today in the default zone, or from = to - 29 days). granularity: "day"
 * (default), "week" (Monday first) or "month". HK_E(INVAL) naming the parameter for a bad date,
 * from after to, a range longer than HK_SALES_MAX_DAYS or more than HK_SALES_MAX_BUCKETS buckets.
 * *out filled (release with hk_sales_chart_release) only on success.
 */
int hk_dashboard_sales(struct hk_app *app, const char *from, const char *to,
                       const char *granularity, struct hk_sales_chart *out, struct hk_err *err);

#endif
