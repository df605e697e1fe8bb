/*
 * dashboard.c — the dashboard's numbers (dashboard.h).
 *
 * Sales: the store sums counted orders per (shop, slot) over the range padded by a day on each
 * side (store/dashboard_repo.h). When every shop's zone keeps one UTC offset over the range (no
 * daylight saving in it: all of China), a slot is the local day itself; otherwise it is 15
 * minutes, mapped here to its shop-local day with the shop's zone. Days outside the range are
 * dropped and the rest added into their channel's bucket. The work is one grouped statement plus
 * a loop over at most shops x 96 slots per day, so it does not grow with the number of orders
 * beyond the statement itself.
 */
#include "services/dashboard.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/tz.h"
#include "core/util.h"
#include "services/app.h"
#include "services/engine_svc.h"
#include "services/rfm_svc.h"
#include "services/segment_svc.h"
#include "store/dashboard_repo.h"
#include "store/shops_repo.h"
#include "store/store.h"

static void day_text(int32_t day, char out[11])
{
    int y, m, d;
    hk_civil_from_days(day, &y, &m, &d);
    char buf[48];
    snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
    hk_strlcpy(out, buf, 11);
}

/* ---- summary -------------------------------------------------------------------------------- */

int hk_dashboard_summary(struct hk_app *app, struct hk_dashboard_summary *out, struct hk_err *err)
{
    if (!app->engine)
        return hk_err_set(err, HK_E(UNAVAILABLE), "the customer engine is not running");
    memset(out, 0, sizeof *out);
    int rc = hk_rfm_svc_report(app, &out->report, err);
    if (rc)
        return rc;
    out->customers = out->report.customers;
    out->buyers = out->report.buyers;

    int64_t now = hk_clock_now(&app->clock);
    int32_t today = hk_tz_local_day(app->tz, now);
    int y, m, d;
    hk_civil_from_days(today, &y, &m, &d);
    day_text(today, out->today);
    day_text(today - (d - 1), out->month_start);

    /* first_order_days counts days since the first counted order (0 = today), so the first order
       fell in this month exactly when first_order_days < day of month. */
    char expr[64];
    snprintf(expr, sizeof expr, "first_order_days < %d", d);
    size_t n = 0;
    if ((rc = hk_segment_svc_count(app->engine, NULL, "frequency >= 2", now, &n, NULL, err)) != 0)
        return rc;
    out->repeat_buyers = n;
    if ((rc = hk_segment_svc_count(app->engine, NULL, expr, now, &n, NULL, err)) != 0)
        return rc;
    out->new_buyers_this_month = n;
    out->repurchase_rate = out->buyers ? (double)out->repeat_buyers / (double)out->buyers : 0.0;
    return 0;
}

/* ---- sales ---------------------------------------------------------------------------------- */

void hk_sales_chart_release(struct hk_sales_chart *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_series; i++)
        free(c->series[i].net_fen);
    free(c->series);
    free(c->buckets);
    memset(c, 0, sizeof *c);
}

static int parse_day(const char *s, const char *what, int32_t *out, struct hk_err *err)
{
    int y, m, d;
    char tail;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || y < 1970 ||
        y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
        return hk_err_setf(err, HK_E(INVAL), what, "%s: expected a date as YYYY-MM-DD", what);
    int32_t day = hk_days_from_civil(y, m, d);
    int y2, m2, d2;
    hk_civil_from_days(day, &y2, &m2, &d2);
    if (y2 != y || m2 != m || d2 != d)
        return hk_err_setf(err, HK_E(INVAL), what, "%s: %s is not a date", what, s);
    *out = day;
    return 0;
}

/* Monday on or before day (1970-01-01 was a Thursday). */
static int32_t week_start(int32_t day)
{
    return day - (((day + 3) % 7) + 7) % 7;
}

static int32_t month_index(int32_t day)
{
    int y, m, d;
    hk_civil_from_days(day, &y, &m, &d);
    return y * 12 + (m - 1);
}

struct zone {
    char name[HK_SHOP_ZONE_MAX];
    struct hk_tz *tz; /* owned */
};

struct shop {
    int64_t id;
    const struct hk_tz *tz; /* borrowed from the zones */
    int series;             /* index into the chart's series, -1 until it sold something */
    char channel[64];
};

struct sales {
    struct hk_app *app;
    struct zone *zones;
    size_t n_zones;
    struct shop *shops; /* by id, ascending */
    size_t n_shops, cap_shops;
    struct hk_sales_chart *c;
    int32_t from, to;
    int32_t first_bucket; /* day, week start or month index of bucket 0 */
    bool by_day;          /* slots are local day numbers (every zone one fixed offset) */
};

static int add_shop(void *ctx, const struct hk_shop_row *r, struct hk_err *err)
{
    struct sales *s = ctx;
    if (s->n_shops == s->cap_shops) {
        size_t nc = s->cap_shops ? s->cap_shops * 2 : 16;
        struct shop *p = realloc(s->shops, nc * sizeof *p);
        if (!p)
            return hk_err_set(err, HK_E(NOMEM), "out of memory");
        s->shops = p;
        s->cap_shops = nc;
    }
    struct shop *sh = &s->shops[s->n_shops++];
    sh->id = r->id;
    sh->series = -1;
    hk_strlcpy(sh->channel, r->channel, sizeof sh->channel);
    sh->tz = s->app->tz;
    for (size_t i = 0; i < s->n_zones; i++)
        if (strcmp(s->zones[i].name, r->timezone) == 0) {
            sh->tz = s->zones[i].tz;
            return 0;
        }
    struct hk_tz *tz = NULL;
    struct hk_err ignore;
    if (hk_tz_load(r->timezone, &tz, &ignore) != 0)
        return 0; /* a zone this machine does not know: the default zone */
    struct zone *z = realloc(s->zones, (s->n_zones + 1) * sizeof *z);
    if (!z) {
        hk_tz_free(tz);
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    }
    s->zones = z;
    hk_strlcpy(z[s->n_zones].name, r->timezone, sizeof z[s->n_zones].name);
    z[s->n_zones].tz = tz;
    s->n_zones++;
    sh->tz = tz;
    return 0;
}

static struct shop *find_shop(struct sales *s, int64_t id)
{
    size_t lo = 0, hi = s->n_shops;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->shops[mid].id < id)
            lo = mid + 1;
        else if (s->shops[mid].id > id)
            hi = mid;
        else
            return &s->shops[mid];
    }
    return NULL;
}

static int series_for(struct sales *s, const char *channel, struct hk_err *err)
{
    struct hk_sales_chart *c = s->c;
    for (size_t i = 0; i < c->n_series; i++)
        if (strcmp(c->series[i].channel, channel) == 0)
            return (int)i;
    struct hk_sales_series *p = realloc(c->series, (c->n_series + 1) * sizeof *p);
    if (!p)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    c->series = p;
    struct hk_sales_series *ns = &p[c->n_series];
    memset(ns, 0, sizeof *ns);
    hk_strlcpy(ns->channel, channel, sizeof ns->channel);
    if (!(ns->net_fen = calloc(c->n_buckets ? c->n_buckets : 1, sizeof *ns->net_fen)))
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    return (int)c->n_series++;
}

static int add_slot(void *ctx, int64_t shop_id, int64_t slot, int64_t net_fen, int64_t orders,
                    struct hk_err *err)
{
    struct sales *s = ctx;
    struct shop *sh = find_shop(s, shop_id);
    const struct hk_tz *tz = sh ? sh->tz : s->app->tz;
    int32_t day = s->by_day ? (int32_t)slot : hk_tz_local_day(tz, slot * HK_SALES_SLOT_S);
    if (day < s->from || day > s->to)
        return 0;
    int32_t b;
    switch (s->c->granularity) {
    case HK_SALES_WEEK:
        b = (week_start(day) - s->first_bucket) / 7;
        break;
    case HK_SALES_MONTH:
        b = month_index(day) - s->first_bucket;
        break;
    case HK_SALES_DAY:
    default:
        b = day - s->first_bucket;
        break;
    }
    if (b < 0 || (size_t)b >= s->c->n_buckets)
        return 0;
    int idx;
    if (sh && sh->series >= 0)
        idx = sh->series;
    else if ((idx = series_for(s, sh ? sh->channel : "other", err)) < 0)
        return idx;
    else if (sh)
        sh->series = idx;
    struct hk_sales_series *se = &s->c->series[idx];
    se->net_fen[b] += net_fen;
    se->total_fen += net_fen;
    se->orders += orders;
    s->c->total_fen += net_fen;
    s->c->orders += orders;
    return 0;
}

/*
 * The one UTC offset every shop's zone (and the default zone) keeps at every local midnight of
 * days from..to, into *off; false when zones differ or one changes (daylight saving) within the
 * range. Offsets change only at transitions, which real zones never put inside one day twice, so
 * a sample per day boundary suffices.
 */
static bool common_offset(const struct sales *s, int32_t from, int32_t to, int32_t *off)
{
    const struct hk_tz *zones[64];
    size_t nz = 0;
    zones[nz++] = s->app->tz;
    for (size_t i = 0; i < s->n_zones; i++) {
        if (nz == sizeof zones / sizeof zones[0])
            return false;
        zones[nz++] = s->zones[i].tz;
    }
    int32_t want = hk_tz_offset_at(zones[0], (int64_t)from * 86400);
    for (size_t z = 0; z < nz; z++)
        for (int32_t d = from; d <= to + 1; d++)
            if (hk_tz_offset_at(zones[z], (int64_t)d * 86400 - want) != want)
                return false;
    *off = want;
    return true;
}

static int by_total_desc(const void *a, const void *b)
{
    const struct hk_sales_series *x = a, *y = b;
    if (x->total_fen != y->total_fen)
        return x->total_fen > y->total_fen ? -1 : 1;
    return strcmp(x->channel, y->channel);
}

int hk_dashboard_sales(struct hk_app *app, const char *from, const char *to,
                       const char *granularity, struct hk_sales_chart *out, struct hk_err *err)
{
    struct hk_sales_chart c;
    memset(&c, 0, sizeof c);
    if (!granularity || !*granularity || strcmp(granularity, "day") == 0)
        c.granularity = HK_SALES_DAY;
    else if (strcmp(granularity, "week") == 0)
        c.granularity = HK_SALES_WEEK;
    else if (strcmp(granularity, "month") == 0)
        c.granularity = HK_SALES_MONTH;
    else
        return hk_err_setf(err, HK_E(INVAL), "granularity",
                           "granularity: expected day, week or month");
    int32_t d_to, d_from;
    int rc;
    if (to && *to) {
        if ((rc = parse_day(to, "to", &d_to, err)) != 0)
            return rc;
    } else {
        d_to = hk_tz_local_day(app->tz, hk_clock_now(&app->clock));
    }
    if (from && *from) {
        if ((rc = parse_day(from, "from", &d_from, err)) != 0)
            return rc;
    } else {
        d_from = d_to - 29;
    }
    if (d_from > d_to)
        return hk_err_setf(err, HK_E(INVAL), "from", "from: %s is after to", from);
    if (d_to - d_from + 1 > HK_SALES_MAX_DAYS)
        return hk_err_setf(err, HK_E(INVAL), "from", "the range is longer than %d days",
                           HK_SALES_MAX_DAYS);

    struct sales s = {.app = app, .c = &c, .from = d_from, .to = d_to};
    int32_t last;
    switch (c.granularity) {
    case HK_SALES_WEEK:
        s.first_bucket = week_start(d_from);
        last = week_start(d_to);
        c.n_buckets = (size_t)((last - s.first_bucket) / 7 + 1);
        break;
    case HK_SALES_MONTH:
        s.first_bucket = month_index(d_from);
        last = month_index(d_to);
        c.n_buckets = (size_t)(last - s.first_bucket + 1);
        break;
    case HK_SALES_DAY:
    default:
        s.first_bucket = d_from;
        c.n_buckets = (size_t)(d_to - d_from + 1);
        break;
    }
    if (c.n_buckets > HK_SALES_MAX_BUCKETS)
        return hk_err_setf(err, HK_E(INVAL), "granularity",
                           "%zu buckets: at most %d (choose a coarser granularity)", c.n_buckets,
                           HK_SALES_MAX_BUCKETS);
    day_text(d_from, c.from);
    day_text(d_to, c.to);
    if (!(c.buckets = calloc(c.n_buckets, sizeof *c.buckets)))
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    for (size_t i = 0; i < c.n_buckets; i++) {
        int32_t day;
        if (c.granularity == HK_SALES_WEEK) {
            day = s.first_bucket + (int32_t)i * 7;
        } else if (c.granularity == HK_SALES_MONTH) {
            int32_t mi = s.first_bucket + (int32_t)i;
            day = hk_days_from_civil(mi / 12, mi % 12 + 1, 1);
        } else {
            day = s.first_bucket + (int32_t)i;
        }
        day_text(day, c.buckets[i]);
    }

    struct hk_db *db = NULL;
    if ((rc = hk_db_acquire(app->store, &db, err)) != 0)
        goto done;
    if ((rc = hk_db_begin(db, HK_TX_READ, err)) == 0) {
        rc = hk_shops_repo_list(db, add_shop, &s, err);
        int32_t off = 0;
        s.by_day = !rc && common_offset(&s, d_from - 1, d_to + 1, &off);
        /* local day d spans UTC [d * 86400 - 14 h, (d + 1) * 86400 + 12 h]: a day of padding
           on each side holds every zone (days outside from..to are dropped in add_slot) */
        if (!rc)
            rc = hk_dashboard_sales_slots(db, ((int64_t)d_from - 1) * 86400,
                                          ((int64_t)d_to + 2) * 86400, s.by_day ? off : 0,
                                          s.by_day ? 86400 : HK_SALES_SLOT_S, add_slot, &s, err);
        hk_db_rollback(db);
    }
    hk_db_release(db);
    if (!rc && c.n_series > 1)
        qsort(c.series, c.n_series, sizeof *c.series, by_total_desc);
done:
    for (size_t i = 0; i < s.n_zones; i++)
        hk_tz_free(s.zones[i].tz);
    free(s.zones);
    free(s.shops);
    if (rc) {
        hk_sales_chart_release(&c);
        return rc;
    }
    *out = c;
    return 0;
}
