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
 * Customer events, applied through the live event ingest (ingest/events.h) after the orders,
 * keyed by the same (channel, buyer_id) accounts the orders carry, so they attach to the same
 * customers:
 *   - browsing before buying: a few product views over the days before an order (the ordered
 *     product and others of its category), an add-to-cart before most orders, a favourite
 *     before some; more views than carts, more carts than orders;
 *   - abandoned carts: sessions of views (and sometimes a cart or a favourite) that lead to no
 *     order;
 *   - coupon claims before the orders that used a coupon, and claims of 618 / 双11 coupons in
 *     the warm-up days, used or not;
 *   - reviews a few days after some received orders, a logistics update (shipped, signed) on
 *     some deliveries, shares on douyin and WeChat, check-ins in the WeChat mini-shop and at
 *     the stores' tills;
 *   - browsers who never buy (one for every five buyers): a marketplace account that
 *     only views, carts, favourites and claims; they become customers with events only.
 * Properties are small JSON objects naming catalogue products ({"product_id", "title",
 * "price"}), coupon codes or order numbers. Every event has a deterministic external_id, so a
 * second run adds no event.
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
#define HK_DEMO_EVENT_TYPES   8 /* browse, cart, … (hk_demo_event_types) */

/** What the generator wrote. */
struct hk_demo_stats {
    int64_t people;        /* customers generated (people, before identity resolution) */
    int64_t cross_channel; /* of them, buying on two channels with one phone number */
    int64_t orders, lines;
    int64_t refunded, cancelled, with_coupon;
    int64_t channels, shops;
    int64_t first_at, last_at;                /* first and last order creation time */
    int64_t browsers;                         /* people with events only (never ordering) */
    int64_t browser_events;                   /* of the events, theirs */
    int64_t events;                           /* events written (0 when no event file was given) */
    int64_t event_types[HK_DEMO_EVENT_TYPES]; /* events by type (hk_demo_event_types order) */
};

/** The event types the demo writes, in the order of hk_demo_stats.event_types. */
extern const char *const hk_demo_event_types[HK_DEMO_EVENT_TYPES];

/**
 * Writes the demo shop in the generic import format (header and one row per line item) to out
 * (borrowed, open for writing). customers: 1..HK_DEMO_CUSTOMERS_MAX. *stats filled on success.
 * events (borrowed; NULL for none) gets the customer events, one a line, in the private form
 * hk_demo_run reads back (type, time, shop, buyer id, external id, properties; tab-separated).
 * The orders do not depend on whether events are written (events draw from their own random
 * stream). Returns 0, HK_E(INVAL) for a bad count, HK_E(IO) when writing fails.
 */
int hk_demo_write_csv(FILE *out, FILE *events, int64_t customers, uint64_t seed, int64_t now,
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
    /* what the event ingest reported, summed over its batches */
    int64_t events_created, events_unchanged, events_rejected;
    int64_t generate_ms, import_ms, events_ms;
};

/**
 * Fills app's database with the demo shop as of the clock's now: refuses with HK_E(CONFLICT)
 * when the database already has orders (unless opts->force); writes the CSV and the events to
 * temporary files in cfg.data_dir, imports the CSV with hk_import_files (format generic), then
 * applies the events with hk_ingest_events in batches of 1,000, and removes the files.
 * Returns 0 with *out filled, or a negative HK_E code (what was committed before a failure
 * stays).
 */
int hk_demo_run(struct hk_app *app, const struct hk_demo_opts *opts, struct hk_demo_result *out,
                struct hk_err *err);

#endif
