/*
 * demo.h — a believable demo shop for a first start: `huike demo --customers N` (and `make run`
 * on a fresh database) fills an empty database with two years of orders from a seeded random
 * generator, through the same import path as a seller's own files.
 *
 * The shop ("暖阳", a home-and-lifestyle brand) sells on taobao, tmall, jd, pdd, douyin, a WeChat
 * mini-shop and two stores with a till (pos), eight shops in all. What makes it look like a real
 * shop rather than noise:
 *   - heavy-tailed repeat buying: about two in three customers buy once, a few dozen buy
 *     tens of times (a Pareto tail; fewer repeats on pdd, more in the members' channels);
 *   - seasonality: growth over the two years, weekends, the 618 and 双11 (11.11) peaks with
 *     their warm-up days, 双12, 3.8, the pre-New-Year rush and the Spring Festival lull;
 *     evening hours, and the midnight rush of 11.11 and 6.18;
 *   - realistic goods: categories (女装/连衣裙, 美妆/面霜, 母婴/纸尿裤, 食品/坚果, 数码/耳机 …)
 *     with their price levels; customers keep to a main category; consumables come by the
 *     several;
 *   - about 4% refunds, a few partial refunds, about 2.5% orders cancelled before payment,
 *     recent orders still paid/shipped, coupons on about a quarter of orders (more in the
 *     peaks);
 *   - regions weighted as online shoppers are (广东, 浙江, 江苏 … down to 西藏); store
 *     customers live near their store;
 *   - some customers buy on two channels with the same phone number, so identity resolution
 *     merges them into one customer; some marketplace phones arrive masked.
 * The history ends at `now` (the clock; `--now` works) and spans 730 days. Everything is a
 * pure function of (customers, seed, now): the same arguments write the same file, byte for
 * byte, so runs are reproducible and a second run into the same database changes nothing.
 *
 * Events (browsing, cart, favourites, coupon claims) are not generated yet: they wait for the
 * event ingest (ingest/events.h hk_ingest_events) to be implemented.
 *
 * Threads: hk_demo_write_csv is pure; hk_demo_run uses the store like any importer.
 */
#ifndef HK_SERVICES_DEMO_H
#define HK_SERVICES_DEMO_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "store/imports_repo.h"

struct hk_app;
struct hk_err;

#define HK_DEMO_CUSTOMERS_MAX 10000000
#define HK_DEMO_DAYS          730

/** What the generator wrote. */
struct hk_demo_stats {
    int64_t people;        /* customers generated (people, before identity resolution) */
    int64_t cross_channel; /* of them, buying on two channels with one phone number */
    int64_t orders, lines;
    int64_t refunded, cancelled, with_coupon;
    int64_t channels, shops;
    int64_t first_at, last_at; /* first and last order creation time */
};

/**
 * Writes the demo shop in the generic import format (header and one row per line item) to out
 * (borrowed, open for writing). customers: 1..HK_DEMO_CUSTOMERS_MAX. *stats filled on success.
 * Returns 0, HK_E(INVAL) for a bad count, HK_E(IO) when writing fails.
 */
int hk_demo_write_csv(FILE *out, int64_t customers, uint64_t seed, int64_t now,
                      struct hk_demo_stats *stats, struct hk_err *err);

struct hk_demo_opts {
    int64_t customers;
    uint64_t seed;
    bool force; /* run even when the database already has orders */
    /* import progress, after each committed batch (may be NULL) */
    void (*progress)(void *arg, int64_t bytes_done, int64_t bytes_total, int64_t rows);
    void *progress_arg;
};

struct hk_demo_result {
    struct hk_demo_stats gen;
    struct hk_import_counts imported; /* what the importer reported */
    int64_t generate_ms, import_ms;
};

/**
 * Fills app's database with the demo shop as of the clock's now: refuses with HK_E(CONFLICT)
 * when the database already has orders (unless opts->force); writes the CSV to a temporary file
 * in cfg.data_dir, imports it with hk_import_files (format generic), and removes the file.
 * Returns 0 with *out filled, or a negative HK_E code (orders committed before a failure stay).
 */
int hk_demo_run(struct hk_app *app, const struct hk_demo_opts *opts, struct hk_demo_result *out,
                struct hk_err *err);

#endif
