/*
 * cmd_demo.c — `huike demo --customers N [--seed S] [--force] [--json]`: fill an empty database
 * with a believable demo shop (services/demo.h) through the same import path as real files.
 *
 * The history ends at the clock's now, so `huike --now 2026-11-01T00:00:00+08:00 demo ...`
 * builds a shop whose last orders are from that morning. The same N, seed and now give the same
 * data. Refuses a database that already has orders unless --force (a second run with the same
 * arguments then changes nothing: the import is idempotent).
 *
 * Output: three summary lines on stdout (what was generated, what the import did, what the
 * event ingest did, and how long each took), or with --json one object:
 *   {"customers", "cross_channel", "orders", "lines", "refunded", "cancelled", "with_coupon",
 *    "channels", "shops", "first_order_at", "last_order_at", "import": {"rows",
 *    "orders_created", "orders_updated", "orders_unchanged", "items_created",
 *    "customers_created", "rejected"}, "browsers", "events", "event_types": {"browse", "cart",
 *    …}, "events_applied": {"created", "unchanged", "rejected"}, "generate_ms", "import_ms",
 *    "events_ms"}
 * Exit: 0 done, 1 failed (including "the database already has orders"), 2 usage error,
 * 3 when the import rejected rows or the ingest rejected events (a bug in the generator or the
 * importer).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/tz.h"
#include "core/util.h"
#include "services/app.h"
#include "services/demo.h"

static const char usage_text[] =
    "usage: huike demo --customers N [--seed S] [--force] [--json]\n"
    "  fills an empty database with a demo shop: two years of orders ending at now (--now)\n";

static int usage(const char *why)
{
    return hk_cli_usage("demo", usage_text, why);
}

/* Prints import progress on stderr when it is a terminal: one line, rewritten. */
static void on_progress(void *arg, int64_t bytes_done, int64_t bytes_total, int64_t rows)
{
    (void)arg;
    int pct = bytes_total > 0 ? (int)(bytes_done * 100 / bytes_total) : 0;
    fprintf(stderr, "\rhuike demo: importing … %3d%% (%lld rows)", pct, (long long)rows);
    fflush(stderr);
}

static int parse_count(const char *s, int64_t *out)
{
    int64_t v;
    if (hk_parse_int64(s, strlen(s), &v) != 0 || v < 1 || v > HK_DEMO_CUSTOMERS_MAX)
        return -1;
    *out = v;
    return 0;
}

static int parse_seed(const char *s, uint64_t *out)
{
    int64_t v;
    if (hk_parse_int64(s, strlen(s), &v) != 0 || v < 0)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

static void print_json(const struct hk_demo_result *r)
{
    char first[40], last[40];
    hk_time_format_utc(r->gen.first_at, first, sizeof first);
    hk_time_format_utc(r->gen.last_at, last, sizeof last);
    const struct hk_import_counts *c = &r->imported;
    printf("{\"customers\":%" PRId64 ",\"cross_channel\":%" PRId64 ",\"orders\":%" PRId64
           ",\"lines\":%" PRId64 ",\"refunded\":%" PRId64 ",\"cancelled\":%" PRId64
           ",\"with_coupon\":%" PRId64 ",\"channels\":%" PRId64 ",\"shops\":%" PRId64
           ",\"first_order_at\":\"%s\",\"last_order_at\":\"%s\",\"import\":{\"rows\":%" PRId64
           ",\"orders_created\":%" PRId64 ",\"orders_updated\":%" PRId64
           ",\"orders_unchanged\":%" PRId64 ",\"items_created\":%" PRId64
           ",\"customers_created\":%" PRId64 ",\"rejected\":%" PRId64 "},\"browsers\":%" PRId64
           ",\"events\":%" PRId64 ",\"event_types\":{",
           r->gen.people, r->gen.cross_channel, r->gen.orders, r->gen.lines, r->gen.refunded,
           r->gen.cancelled, r->gen.with_coupon, r->gen.channels, r->gen.shops, first, last,
           c->rows, c->orders_created, c->orders_updated, c->orders_unchanged, c->items_created,
           c->customers_created, c->rejected, r->gen.browsers, r->gen.events);
    for (int i = 0; i < HK_DEMO_EVENT_TYPES; i++)
        printf("%s\"%s\":%" PRId64, i ? "," : "", hk_demo_event_types[i], r->gen.event_types[i]);
    printf("},\"events_applied\":{\"created\":%" PRId64 ",\"unchanged\":%" PRId64
           ",\"rejected\":%" PRId64 "},\"generate_ms\":%" PRId64 ",\"import_ms\":%" PRId64
           ",\"events_ms\":%" PRId64 "}\n",
           r->events_created, r->events_unchanged, r->events_rejected, r->generate_ms, r->import_ms,
           r->events_ms);
}

static void print_summary(struct hk_app *app, const struct hk_demo_result *r)
{
    char first[40], last[40];
    hk_time_format_local(app->tz, r->gen.first_at, first, sizeof first);
    hk_time_format_local(app->tz, r->gen.last_at, last, sizeof last);
    first[10] = last[10] = '\0'; /* the dates */
    printf("huike demo: generated %lld customers (%lld buying on two channels), %lld orders "
           "(%lld lines, %lld refunded, %lld cancelled, %lld with a coupon) in %lld shops on "
           "%lld channels, %s to %s, in %.1f s\n",
           (long long)r->gen.people, (long long)r->gen.cross_channel, (long long)r->gen.orders,
           (long long)r->gen.lines, (long long)r->gen.refunded, (long long)r->gen.cancelled,
           (long long)r->gen.with_coupon, (long long)r->gen.shops, (long long)r->gen.channels,
           first, last, (double)r->generate_ms / 1000.0);
    const struct hk_import_counts *c = &r->imported;
    printf("huike demo: imported %lld rows: %lld orders created, %lld customers after identity "
           "resolution, %lld rejected, in %.1f s\n",
           (long long)c->rows, (long long)c->orders_created, (long long)c->customers_created,
           (long long)c->rejected, (double)r->import_ms / 1000.0);
    printf("huike demo: applied %lld events (", (long long)r->gen.events);
    for (int i = 0; i < HK_DEMO_EVENT_TYPES; i++)
        printf("%s%s %lld", i ? ", " : "", hk_demo_event_types[i],
               (long long)r->gen.event_types[i]);
    printf("; %lld of them from %lld people who never ordered): %lld created, %lld unchanged, "
           "%lld rejected, in %.1f s\n",
           (long long)r->gen.browser_events, (long long)r->gen.browsers,
           (long long)r->events_created, (long long)r->events_unchanged,
           (long long)r->events_rejected, (double)r->events_ms / 1000.0);
}

int cmd_demo(struct hk_app *app, int argc, char **argv)
{
    struct hk_demo_opts opts = {.customers = 0, .seed = 1};
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--customers") == 0 || strcmp(a, "--seed") == 0) {
            if (i + 1 >= argc)
                return usage("an option needs a value");
            const char *v = argv[++i];
            if (a[2] == 'c' && parse_count(v, &opts.customers) != 0)
                return usage("--customers takes a number from 1 to 10000000");
            if (a[2] == 's' && parse_seed(v, &opts.seed) != 0)
                return usage("--seed takes a non-negative whole number");
        } else if (strcmp(a, "--force") == 0) {
            opts.force = true;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else {
            fprintf(stderr, "huike demo: unknown argument '%s'\n", a);
            return usage(NULL);
        }
    }
    if (opts.customers == 0)
        return usage("--customers N is required");
    if (!app->store)
        return HK_CLI_ARGS_OK; /* arguments checked (cli.h) */
    bool tty = isatty(STDERR_FILENO) == 1;
    if (tty && !json)
        opts.progress = on_progress;

    struct hk_err err;
    hk_err_clear(&err);
    struct hk_demo_result res;
    int rc = hk_demo_run(app, &opts, &res, &err);
    if (opts.progress)
        fputs("\r\033[K", stderr);
    if (rc != 0) {
        fprintf(stderr, "huike demo: %s\n", hk_err_message(&err));
        return HK_EXIT_FAIL;
    }
    if (json)
        print_json(&res);
    else
        print_summary(app, &res);
    return res.imported.rejected > 0 || res.events_rejected > 0 ? HK_EXIT_PARTIAL : HK_EXIT_OK;
}
