/*
 * test_engine_sql.c — the customer engine against SQL over the store, on the backend named by
 * HUIKE_TEST_BACKEND (sqlite or postgres; harness of tests/importdb).
 *
 * Data goes into the store only through the real write paths: REST-ingest orders
 * (hk_ingest_orders), a generic CSV file import (hk_import_files), events (hk_ingest_events),
 * customer upserts (hk_ingest_customers), merges made by identity resolution (a phone shared by
 * two accounts, on orders or in a profile upsert) and undone through hk_merges_undo, status and
 * refund updates by sending an order again, the seller's RFM thresholds
 * (hk_rfm_svc_config_put). The engine is then loaded from the store (hk_engine_svc_start,
 * follow=false) and, separately, followed: a second service started on the empty database and
 * brought up to date by hk_engine_svc_sync after each round of writes (the change-log path the
 * server uses).
 *
 * The differential test generates random segment expressions as small trees, rendered twice:
 * as segment text for the engine, and as SQL over the store's tables for the database. The
 * SQL answers each question from docs/segments.md's definitions:
 *   - t_days: each zone's local days as [start, end) instants, computed by glibc's mktime
 *     with TZ set to the shop's zone name read from `shops` (not by core/tz, the engine's own
 *     reader), for Asia/Shanghai shops, an America/New_York shop (DST) and zone 0 (the default
 *     zone, for events without a shop); t_now: the local day of `now` per zone;
 *   - t_co: counted orders (paid/shipped/completed with a payment time) with their days_ago;
 *     t_ev: events with days_ago; t_cat: spend per (customer, category) over counted lines;
 *   - t_agg: one row per live customer with frequency, monetary, coupons, refund_count,
 *     recency/first-order days (NULL for non-buyers), main category (most spend, ties to the
 *     smaller name in byte order), province/city (NULL when empty), quintile R/F/M scores, the
 *     eight segments (mean split) and the default tiers;
 *   - every leaf is "c.id IN (subquery)", which is never NULL, so NOT is the plain complement
 *     and a missing value (NULL) compares false, as in the engine; ratios (aov,
 *     coupon_use_rate) and fractional literals compare by cross-multiplication in integers.
 * Every expression's member set is compared (not only the count); a mismatch prints the
 * expression, the SQL, both counts and the first differing customers with both sides' values.
 *
 * The edge tests assert exact values on small hand-made data: shop-local midnight (Shanghai
 * and New York), refunds (partial, full, refunded status, refund sent later), merges and
 * unmerges moving history, an empty database and shop, a customer with only cancelled orders;
 * and the import fixtures of every file format compared with SQL.
 *
 * HUIKE_DIFF_SEED (default 1; the second test uses seed + 1) and HUIKE_DIFF_EXPRS (default 400
 * per now) change the run; HUIKE_TEST_KNOWN_BUGS=1 adds the cases of known, unfixed bugs.
 */
#include "../importdb/harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "core/tz.h"
#include "engine_probe.h"
#include "ingest/events.h"
#include "ingest/import.h"
#include "ingest/merges.h"
#include "services/app.h"
#include "services/engine_svc.h"
#include "store/store.h"

/* 2027-01-01T12:00:00+08:00: New York is still on 31 December (the engine's scan path). */
#define NOW1 1798776000
/* 2027-01-20T20:00:00+08:00 = 07:00 in New York: one local date everywhere (index path). */
#define NOW2 1800446400

/* ---- random numbers (splitmix64) ------------------------------------------------------------ */

struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static int64_t rnd(struct rng *r, int64_t n)
{
    return n <= 0 ? 0 : (int64_t)(rng_next(r) % (uint64_t)n);
}

static bool chance(struct rng *r, int percent)
{
    return rnd(r, 100) < percent;
}

/* ---- growable text ------------------------------------------------------------------------ */

struct buf {
    char *p;
    size_t len, cap;
};

static void ap(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ap(struct buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list va;
        va_start(va, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, va);
        va_end(va);
        assert_true(n >= 0);
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t nc = b->cap ? b->cap * 2 : 1024;
        while (nc < b->len + (size_t)n + 1)
            nc *= 2;
        b->p = realloc(b->p, nc);
        assert_non_null(b->p);
        b->cap = nc;
        b->p[b->len] = '\0';
    }
}

static void buf_clear(struct buf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

static void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ---- SQL helpers ---------------------------------------------------------------------------- */

static void stmt_name(const char *sql, char *name, size_t size)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = sql; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ULL;
    }
    snprintf(name, size, "esql_%016llx", (unsigned long long)h);
}

/* Runs a statement (DDL or DML) on one connection. */
static void sql_exec(struct hk_store *s, const char *sql)
{
    struct hk_err err = {0};
    struct hk_db *db;
    struct hk_stmt *st;
    char name[40];
    stmt_name(sql, name, sizeof name);
    if (hk_db_acquire(s, &db, &err) != 0)
        fail_msg("acquire: %s", err.msg);
    if (hk_db_stmt(db, name, sql, &st, &err) != 0 || hk_stmt_exec(st, &err) != 0) {
        hk_db_release(db);
        fail_msg("%s: %s", sql, err.msg);
    }
    hk_db_release(db);
}

/* The first column of every row of a query, sorted. */
static void sql_ids(struct hk_store *s, const char *sql, struct probe_ids *out)
{
    struct hk_err err = {0};
    struct hk_db *db;
    struct hk_stmt *st;
    char name[40];
    stmt_name(sql, name, sizeof name);
    out->n = 0;
    if (hk_db_acquire(s, &db, &err) != 0)
        fail_msg("acquire: %s", err.msg);
    if (hk_db_stmt(db, name, sql, &st, &err) != 0) {
        hk_db_release(db);
        fail_msg("%s: %s", sql, err.msg);
    }
    int rc;
    while ((rc = hk_stmt_step(st, &err)) == HK_ROW)
        probe_ids_push(out, hk_stmt_int64(st, 0));
    hk_stmt_reset(st);
    hk_db_release(db);
    if (rc < 0)
        fail_msg("%s: %s", sql, err.msg);
    probe_ids_sort(out);
}

/* ---- local days by glibc (independent of core/tz) ------------------------------------------ */

#define ZD_FIRST_Y 2025
#define ZD_FIRST_M 6
#define ZD_DAYS    640 /* 2025-06-01 .. 2027-03-02 */

struct zdays {
    int64_t day0;               /* day number (days since 1970-01-01) of the first date */
    int64_t start[ZD_DAYS + 1]; /* local midnight instants */
};

/* Fills z for an IANA zone name with mktime under TZ=name; restores TZ afterwards. */
static void zone_days(const char *zone, struct zdays *z)
{
    const char *old = getenv("TZ");
    char saved[128] = "";
    if (old)
        snprintf(saved, sizeof saved, "%s", old);
    setenv("TZ", zone, 1);
    tzset();
    struct tm base = {0};
    base.tm_year = ZD_FIRST_Y - 1900;
    base.tm_mon = ZD_FIRST_M - 1;
    base.tm_mday = 1;
    z->day0 = (int64_t)timegm(&base) / 86400;
    for (int d = 0; d <= ZD_DAYS; d++) {
        struct tm tm = {0};
        tm.tm_year = ZD_FIRST_Y - 1900;
        tm.tm_mon = ZD_FIRST_M - 1;
        tm.tm_mday = 1 + d;
        tm.tm_isdst = -1;
        time_t t = mktime(&tm);
        assert_true(t != (time_t)-1);
        assert_int_equal(tm.tm_hour, 0); /* no zone used here skips midnight */
        z->start[d] = (int64_t)t;
    }
    if (old)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
}

/* Index of the local day holding instant t. */
static int zd_index(const struct zdays *z, int64_t t)
{
    int lo = 0, hi = ZD_DAYS;
    assert_true(t >= z->start[0] && t < z->start[ZD_DAYS]);
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (z->start[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* ---- the application around a test database ----------------------------------------------- */

struct env {
    struct tdb *t;
    struct hk_app app;
    struct hk_tz *ny;
    struct hk_ingest_ctx ctx_ny; /* ingest context whose new shops get America/New_York */
    bool pg;
};

static void env_init(struct env *v, struct tdb *t, int64_t now)
{
    struct hk_err err = {0};
    memset(v, 0, sizeof(*v));
    v->t = t;
    v->pg = t->pg;
    hk_config_defaults(&v->app.cfg);
    hk_clock_init_fixed(&v->app.clock, now);
    hk_log_init(&v->app.log, 2, HK_LOG_WARN);
    v->app.store = t->store;
    v->app.tz = t->tz;
    v->app.keys = t->keys;
    if (hk_tz_load("America/New_York", &v->ny, &err) != 0)
        fail_msg("tz: %s", err.msg);
    v->ctx_ny = t->ctx;
    v->ctx_ny.tz = v->ny;
}

static void env_release(struct env *v)
{
    hk_tz_free(v->ny);
}

static struct hk_engine_svc *svc_start(struct env *v)
{
    struct hk_err err = {0};
    struct hk_engine_svc_opts o = {0};
    o.follow = false;
    struct hk_engine_svc *s = NULL;
    if (hk_engine_svc_start(&v->app, &o, &s, &err) != 0)
        fail_msg("engine start: %s", err.msg);
    return s;
}

static void svc_sync(struct hk_engine_svc *s)
{
    struct hk_err err = {0};
    if (hk_engine_svc_sync(s, &err) != 0)
        fail_msg("engine sync: %s", err.msg);
}

static int noop_write(void *ctx, struct hk_engine *e, struct hk_err *err)
{
    (void)ctx;
    (void)e;
    (void)err;
    return 0;
}

/* Rescores a followed engine as of the clock's now. */
static void svc_rescore(struct hk_engine_svc *s)
{
    struct hk_err err = {0};
    if (hk_engine_svc_write(s, noop_write, NULL, &err) != 0)
        fail_msg("rescore: %s", err.msg);
}

/* ---- writing through the ingest paths ------------------------------------------------------- */

#define NSHOPS 4
static const struct {
    const char *channel, *name;
    bool ny;
} shops[NSHOPS] = {
    {"taobao", "淘宝旗舰店", false},
    {"jd", "京东纽约店", true},
    {"pdd", "拼多多店", false},
    {"douyin", "抖店", false},
};

struct gline {
    const char *pid, *sku, *title, *cat;
    int64_t paid, refund;
};

struct gorder {
    int person, shop;
    char no[40];
    enum hk_order_status st;
    int64_t created_at, paid_at;
    int64_t paid, refund;
    const char *coupon;
    bool phone; /* the order carries the person's phone (a strong key) */
    struct gline lines[3];
    int nl;
};

struct person {
    bool acct[NSHOPS];
    char buyer[NSHOPS][40];
    char phone[16]; /* "" = none */
    const char *province, *city;
};

static void rec_init(struct hk_order_rec *r)
{
    memset(r, 0, sizeof(*r));
    r->format = HK_FMT_GENERIC;
    r->channel = r->shop = r->order_no = r->buyer_id = r->buyer_nick = r->alipay = "";
    r->phone = r->name = r->address = r->province = r->city = r->email = "";
    r->coupon_code = r->buyer_note = r->seller_note = r->status_text = "";
}

static void item_init(struct hk_item_rec *it)
{
    memset(it, 0, sizeof(*it));
    it->product_id = it->sku = it->title = it->variant = it->category = "";
    it->quantity = 1;
}

/* Sends orders (all of one zone class) through hk_ingest_orders; every one must apply. */
static void ingest_orders(const struct hk_ingest_ctx *ctx, const struct person *people,
                          const struct gorder *const *os, size_t n)
{
    if (!n)
        return;
    struct hk_order_rec *recs = calloc(n, sizeof(*recs));
    struct hk_item_rec *items = calloc(n * 3, sizeof(*items));
    const struct hk_order_rec **ptrs = calloc(n, sizeof(*ptrs));
    enum hk_apply_outcome *outc = calloc(n, sizeof(*outc));
    struct hk_err *errs = calloc(n, sizeof(*errs));
    assert_true(recs && items && ptrs && outc && errs);
    for (size_t i = 0; i < n; i++) {
        const struct gorder *o = os[i];
        const struct person *p = &people[o->person];
        struct hk_order_rec *r = &recs[i];
        rec_init(r);
        r->channel = shops[o->shop].channel;
        r->shop = shops[o->shop].name;
        r->order_no = o->no;
        r->buyer_id = p->buyer[o->shop];
        if (o->phone && p->phone[0])
            r->phone = p->phone;
        r->province = p->province;
        r->city = p->city;
        r->status = o->st;
        r->status_text = hk_order_status_name(o->st);
        r->created_at = o->created_at;
        r->paid_at = o->paid_at;
        r->paid_fen = o->paid;
        r->has_paid_fen = true;
        r->total_fen = o->paid;
        r->refund_fen = o->refund;
        r->coupon_code = o->coupon ? o->coupon : "";
        for (int k = 0; k < o->nl; k++) {
            struct hk_item_rec *it = &items[i * 3 + (size_t)k];
            item_init(it);
            it->product_id = o->lines[k].pid;
            it->sku = o->lines[k].sku;
            it->title = o->lines[k].title;
            it->category = o->lines[k].cat;
            it->unit_price_fen = o->lines[k].paid;
            it->paid_fen = o->lines[k].paid;
            it->refund_fen = o->lines[k].refund;
        }
        r->items = o->nl ? &items[i * 3] : NULL;
        r->nitems = (size_t)o->nl;
        ptrs[i] = r;
    }
    struct hk_err err = {0};
    if (hk_ingest_orders(ctx, ptrs, n, NULL, outc, errs, NULL, &err) != 0)
        fail_msg("ingest orders: %s", err.msg);
    for (size_t i = 0; i < n; i++)
        if (!outc[i])
            fail_msg("order %s rejected: %s", os[i]->no, errs[i].msg);
    free(recs);
    free(items);
    free(ptrs);
    free(outc);
    free(errs);
}

/* Sends every order, New York shop orders through the New York context. */
static void ingest_all(struct env *v, const struct person *people, struct gorder *os, size_t n)
{
    const struct gorder **sh = calloc(n ? n : 1, sizeof(*sh)),
                        **ny = calloc(n ? n : 1, sizeof(*ny));
    assert_true(sh && ny);
    size_t ns = 0, nn = 0;
    for (size_t i = 0; i < n; i++) {
        if (shops[os[i].shop].ny)
            ny[nn++] = &os[i];
        else
            sh[ns++] = &os[i];
    }
    for (size_t i = 0; i < ns; i += 200)
        ingest_orders(&v->t->ctx, people, sh + i, ns - i < 200 ? ns - i : 200);
    for (size_t i = 0; i < nn; i += 200)
        ingest_orders(&v->ctx_ny, people, ny + i, nn - i < 200 ? nn - i : 200);
    free(sh);
    free(ny);
}

static void ingest_event(struct env *v, const struct person *p, int acct_shop, int at_shop,
                         const char *type, int64_t at)
{
    struct hk_identity_in id = {shops[acct_shop].channel, "buyer_id", p->buyer[acct_shop]};
    struct hk_event_in ev = {0};
    ev.type = type;
    ev.at = at;
    if (at_shop >= 0) {
        ev.shop = shops[at_shop].name;
        ev.channel = shops[at_shop].channel;
    }
    ev.properties_json = "{}";
    ev.ids = &id;
    ev.nids = 1;
    struct hk_ingest_item_result res = {0};
    struct hk_err ierr = {0}, err = {0};
    const struct hk_ingest_ctx *ctx = at_shop >= 0 && shops[at_shop].ny ? &v->ctx_ny : &v->t->ctx;
    if (hk_ingest_events(ctx, &ev, 1, &res, &ierr, &err) != 0)
        fail_msg("ingest event: %s", err.msg);
    if (ierr.code)
        fail_msg("event rejected: %s", ierr.msg);
}

static void ingest_customer(struct env *v, const struct person *p, int acct_shop)
{
    struct hk_identity_in id = {shops[acct_shop].channel, "buyer_id", p->buyer[acct_shop]};
    struct hk_customer_in c = {0};
    c.ids = &id;
    c.nids = 1;
    c.province = p->province;
    c.city = p->city;
    c.consent_sms = c.consent_email = c.consent_wechat = -1;
    struct hk_ingest_item_result res = {0};
    struct hk_err ierr = {0}, err = {0};
    if (hk_ingest_customers(&v->t->ctx, &c, 1, &res, &ierr, &err) != 0)
        fail_msg("ingest customer: %s", err.msg);
    if (ierr.code)
        fail_msg("customer rejected: %s", ierr.msg);
}

/* A profile upsert naming every account of the person and its phone: a strong key linking
 * accounts, so identity resolution merges their customers (unless a pair is never-merge). */
static void ingest_customer_linking(struct env *v, const struct person *p)
{
    struct hk_identity_in ids[NSHOPS];
    size_t n = 0;
    for (int s = 0; s < NSHOPS; s++)
        if (p->acct[s])
            ids[n++] = (struct hk_identity_in){shops[s].channel, "buyer_id", p->buyer[s]};
    struct hk_customer_in c = {0};
    c.ids = ids;
    c.nids = n;
    c.phone = p->phone;
    c.city = p->city;
    c.consent_sms = c.consent_email = c.consent_wechat = -1;
    struct hk_ingest_item_result res = {0};
    struct hk_err ierr = {0}, err = {0};
    if (hk_ingest_customers(&v->t->ctx, &c, 1, &res, &ierr, &err) != 0)
        fail_msg("ingest customer: %s", err.msg);
    if (ierr.code)
        fail_msg("customer rejected: %s", ierr.msg);
}

/* ---- the SQL side --------------------------------------------------------------------------- */

static void sql_create_tables(struct hk_store *s)
{
    static const char *const ddl[] = {
        "CREATE TABLE t_days (zone_id BIGINT NOT NULL, day BIGINT NOT NULL, start_s BIGINT NOT "
        "NULL, end_s BIGINT NOT NULL, PRIMARY KEY (zone_id, start_s))",
        "CREATE TABLE t_now (zone_id BIGINT PRIMARY KEY, day BIGINT NOT NULL)",
        "CREATE TABLE t_co (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, paid_at BIGINT "
        "NOT NULL, net BIGINT NOT NULL, coupon BIGINT NOT NULL, days_ago BIGINT NOT NULL, "
        "shop_id BIGINT NOT NULL)",
        "CREATE INDEX t_co_customer ON t_co (customer_id)",
        "CREATE TABLE t_ev (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, type TEXT NOT "
        "NULL, days_ago BIGINT NOT NULL)",
        "CREATE TABLE t_cat (customer_id BIGINT NOT NULL, category TEXT NOT NULL, spend BIGINT "
        "NOT NULL)",
        "CREATE TABLE t_agg (customer_id BIGINT PRIMARY KEY, frequency BIGINT NOT NULL, monetary "
        "BIGINT NOT NULL, coupons BIGINT NOT NULL, refunds BIGINT NOT NULL, recency_days BIGINT, "
        "first_days BIGINT, main_category TEXT, province TEXT, city TEXT, r BIGINT, f BIGINT, m "
        "BIGINT, segc BIGINT, seg TEXT, tier TEXT)",
        /* per (customer, shop): RFM per shop */
        "CREATE TABLE t_sagg (customer_id BIGINT NOT NULL, shop_id BIGINT NOT NULL, frequency "
        "BIGINT NOT NULL, monetary BIGINT NOT NULL, recency_days BIGINT, r BIGINT, f BIGINT, m "
        "BIGINT, segc BIGINT, seg TEXT, tier TEXT, PRIMARY KEY (customer_id, shop_id))",
    };
    for (size_t i = 0; i < sizeof ddl / sizeof ddl[0]; i++)
        sql_exec(s, ddl[i]);
}

/* t_days for every shop (its zone read from the store) and zone 0 (the default zone). */
static void sql_fill_days(struct hk_store *s)
{
    struct hk_err err = {0};
    struct hk_db *db;
    struct hk_stmt *st;
    int64_t ids[64];
    char zones[64][64];
    int n = 0;
    ids[n] = 0;
    snprintf(zones[n++], sizeof zones[0], "%s", HK_TZ_DEFAULT);
    if (hk_db_acquire(s, &db, &err) != 0 ||
        hk_db_stmt(db, "esql_shops", "SELECT id, timezone FROM shops ORDER BY id", &st, &err))
        fail_msg("shops: %s", err.msg);
    while (hk_stmt_step(st, &err) == HK_ROW && n < 64) {
        ids[n] = hk_stmt_int64(st, 0);
        hk_stmt_text_copy(st, 1, zones[n], sizeof zones[0]);
        n++;
    }
    hk_stmt_reset(st);
    hk_db_release(db);
    sql_exec(s, "DELETE FROM t_days");
    struct zdays *z = malloc(sizeof(*z));
    assert_non_null(z);
    struct buf b = {0};
    for (int i = 0; i < n; i++) {
        zone_days(zones[i], z);
        for (int d = 0; d < ZD_DAYS; d += 200) {
            buf_clear(&b);
            ap(&b, "INSERT INTO t_days (zone_id, day, start_s, end_s) VALUES ");
            for (int k = d; k < d + 200 && k < ZD_DAYS; k++)
                ap(&b, "%s(%lld, %lld, %lld, %lld)", k > d ? ", " : "", (long long)ids[i],
                   (long long)(z->day0 + k), (long long)z->start[k], (long long)z->start[k + 1]);
            sql_exec(s, b.p);
        }
    }
    buf_free(&b);
    free(z);
}

/* Recomputes the t_ tables as of now. coll: the dialect's byte-order collation. */
static void sql_as_of(struct hk_store *s, int64_t now)
{
    char sql[1024];
    sql_exec(s, "DELETE FROM t_now");
    snprintf(sql, sizeof sql,
             "INSERT INTO t_now (zone_id, day) SELECT zone_id, day FROM t_days"
             " WHERE start_s <= %lld AND end_s > %lld",
             (long long)now, (long long)now);
    sql_exec(s, sql);
    const char *coll = hk_store_backend(s) == HK_STORE_POSTGRES ? "\"C\"" : "BINARY";
    static const char *const fill[] = {
        "DELETE FROM t_co",
        "INSERT INTO t_co (id, customer_id, paid_at, net, coupon, days_ago, shop_id)"
        " SELECT o.id, o.customer_id, o.paid_at, o.paid_fen - o.refund_fen,"
        " CASE WHEN o.coupon_code IS NULL OR o.coupon_code = '' THEN 0 ELSE 1 END,"
        " n.day - d.day, o.shop_id FROM orders o"
        " JOIN t_days d ON d.zone_id = o.shop_id AND o.paid_at >= d.start_s"
        " AND o.paid_at < d.end_s"
        " JOIN t_now n ON n.zone_id = o.shop_id"
        " WHERE o.status IN ('paid', 'shipped', 'completed') AND o.paid_at IS NOT NULL",
        "DELETE FROM t_ev",
        "INSERT INTO t_ev (id, customer_id, type, days_ago)"
        " SELECT e.id, e.customer_id, e.type, n.day - d.day FROM events e"
        " JOIN t_days d ON d.zone_id = COALESCE(e.shop_id, 0) AND e.at >= d.start_s"
        " AND e.at < d.end_s"
        " JOIN t_now n ON n.zone_id = COALESCE(e.shop_id, 0)",
        "DELETE FROM t_cat",
        "INSERT INTO t_cat (customer_id, category, spend)"
        " SELECT x.customer_id, p.category, SUM(i.paid_fen - i.refund_fen) FROM t_co x"
        " JOIN order_items i ON i.order_id = x.id JOIN products p ON p.id = i.product_id"
        " WHERE p.category <> '' GROUP BY x.customer_id, p.category",
        "DELETE FROM t_agg",
        "INSERT INTO t_agg (customer_id, frequency, monetary, coupons, refunds, province, city)"
        " SELECT c.id,"
        " (SELECT COUNT(*) FROM t_co x WHERE x.customer_id = c.id),"
        " (SELECT COALESCE(SUM(x.net), 0) FROM t_co x WHERE x.customer_id = c.id),"
        " (SELECT COALESCE(SUM(x.coupon), 0) FROM t_co x WHERE x.customer_id = c.id),"
        " (SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id"
        " AND (o.status = 'refunded' OR o.refund_fen > 0)),"
        " NULLIF(c.province, ''), NULLIF(c.city, '')"
        " FROM customers c WHERE c.merged_into IS NULL",
        "UPDATE t_agg SET"
        " recency_days = (SELECT x.days_ago FROM t_co x WHERE x.customer_id = t_agg.customer_id"
        " ORDER BY x.paid_at DESC, x.id LIMIT 1),"
        " first_days = (SELECT x.days_ago FROM t_co x WHERE x.customer_id = t_agg.customer_id"
        " ORDER BY x.paid_at, x.id LIMIT 1)",
        NULL, /* main category: needs the collation */
        "UPDATE t_agg SET"
        " r = 1 + 5 * (SELECT COUNT(*) FROM t_agg b WHERE b.frequency > 0"
        " AND b.recency_days > t_agg.recency_days)"
        " / (SELECT COUNT(*) FROM t_agg b WHERE b.frequency > 0),"
        " f = 1 + 5 * (SELECT COUNT(*) FROM t_agg b WHERE b.frequency > 0"
        " AND b.frequency < t_agg.frequency)"
        " / (SELECT COUNT(*) FROM t_agg b WHERE b.frequency > 0),"
        " m = 1 + 5 * (SELECT COUNT(*) FROM t_agg b WHERE b.frequency > 0"
        " AND b.monetary < t_agg.monetary)"
        " / (SELECT COUNT(*) FROM t_agg b WHERE b.frequency > 0)"
        " WHERE frequency > 0",
        "UPDATE t_agg SET segc ="
        " (CASE WHEN monetary * (SELECT COUNT(*) FROM t_agg b WHERE b.frequency > 0)"
        " >= (SELECT SUM(b.monetary) FROM t_agg b WHERE b.frequency > 0) THEN 0 ELSE 4 END)"
        " + (CASE WHEN recency_days * (SELECT COUNT(*) FROM t_agg b WHERE b.frequency > 0)"
        " <= (SELECT SUM(b.recency_days) FROM t_agg b WHERE b.frequency > 0) THEN 0 ELSE 2 END)"
        " + (CASE WHEN frequency * (SELECT COUNT(*) FROM t_agg b WHERE b.frequency > 0)"
        " >= (SELECT SUM(b.frequency) FROM t_agg b WHERE b.frequency > 0) THEN 0 ELSE 1 END)"
        " WHERE frequency > 0",
        "UPDATE t_agg SET seg = CASE segc WHEN 0 THEN '重要价值客户' WHEN 1 THEN '重要发展客户'"
        " WHEN 2 THEN '重要保持客户' WHEN 3 THEN '重要挽留客户' WHEN 4 THEN '一般价值客户'"
        " WHEN 5 THEN '一般发展客户' WHEN 6 THEN '一般保持客户' ELSE '一般挽留客户' END,"
        " tier = CASE WHEN r >= 4 AND f >= 4 AND m >= 4 THEN '高价值客户'"
        " WHEN r >= 4 AND f <= 2 AND m >= 3 THEN '潜力客户'"
        " WHEN r <= 2 AND f >= 3 AND m >= 3 THEN '待唤醒客户'"
        " WHEN r <= 2 AND f <= 2 AND m <= 2 THEN '一般挽留客户' ELSE '其他' END"
        " WHERE frequency > 0",
        /* per shop: the live customers' counted orders of that shop only, days in its zone
         * (t_co has them), scored against that shop's buyers (every shop inherits shop 0's
         * default configuration here) */
        "DELETE FROM t_sagg",
        "INSERT INTO t_sagg (customer_id, shop_id, frequency, monetary)"
        " SELECT x.customer_id, x.shop_id, COUNT(*), SUM(x.net) FROM t_co x"
        " JOIN customers c ON c.id = x.customer_id WHERE c.merged_into IS NULL"
        " GROUP BY x.customer_id, x.shop_id",
        "UPDATE t_sagg SET recency_days = (SELECT x.days_ago FROM t_co x"
        " WHERE x.customer_id = t_sagg.customer_id AND x.shop_id = t_sagg.shop_id"
        " ORDER BY x.paid_at DESC, x.id LIMIT 1)",
        "UPDATE t_sagg SET"
        " r = 1 + 5 * (SELECT COUNT(*) FROM t_sagg b WHERE b.shop_id = t_sagg.shop_id"
        " AND b.recency_days > t_sagg.recency_days)"
        " / (SELECT COUNT(*) FROM t_sagg b WHERE b.shop_id = t_sagg.shop_id),"
        " f = 1 + 5 * (SELECT COUNT(*) FROM t_sagg b WHERE b.shop_id = t_sagg.shop_id"
        " AND b.frequency < t_sagg.frequency)"
        " / (SELECT COUNT(*) FROM t_sagg b WHERE b.shop_id = t_sagg.shop_id),"
        " m = 1 + 5 * (SELECT COUNT(*) FROM t_sagg b WHERE b.shop_id = t_sagg.shop_id"
        " AND b.monetary < t_sagg.monetary)"
        " / (SELECT COUNT(*) FROM t_sagg b WHERE b.shop_id = t_sagg.shop_id)",
        "UPDATE t_sagg SET segc ="
        " (CASE WHEN monetary * (SELECT COUNT(*) FROM t_sagg b WHERE b.shop_id = t_sagg.shop_id)"
        " >= (SELECT SUM(b.monetary) FROM t_sagg b WHERE b.shop_id = t_sagg.shop_id)"
        " THEN 0 ELSE 4 END)"
        " + (CASE WHEN recency_days * (SELECT COUNT(*) FROM t_sagg b"
        " WHERE b.shop_id = t_sagg.shop_id) <= (SELECT SUM(b.recency_days) FROM t_sagg b"
        " WHERE b.shop_id = t_sagg.shop_id) THEN 0 ELSE 2 END)"
        " + (CASE WHEN frequency * (SELECT COUNT(*) FROM t_sagg b"
        " WHERE b.shop_id = t_sagg.shop_id) >= (SELECT SUM(b.frequency) FROM t_sagg b"
        " WHERE b.shop_id = t_sagg.shop_id) THEN 0 ELSE 1 END)",
        "UPDATE t_sagg SET seg = CASE segc WHEN 0 THEN '重要价值客户' WHEN 1 THEN '重要发展客户'"
        " WHEN 2 THEN '重要保持客户' WHEN 3 THEN '重要挽留客户' WHEN 4 THEN '一般价值客户'"
        " WHEN 5 THEN '一般发展客户' WHEN 6 THEN '一般保持客户' ELSE '一般挽留客户' END,"
        " tier = CASE WHEN r >= 4 AND f >= 4 AND m >= 4 THEN '高价值客户'"
        " WHEN r >= 4 AND f <= 2 AND m >= 3 THEN '潜力客户'"
        " WHEN r <= 2 AND f >= 3 AND m >= 3 THEN '待唤醒客户'"
        " WHEN r <= 2 AND f <= 2 AND m <= 2 THEN '一般挽留客户' ELSE '其他' END",
    };
    for (size_t i = 0; i < sizeof fill / sizeof fill[0]; i++) {
        if (fill[i]) {
            sql_exec(s, fill[i]);
            continue;
        }
        snprintf(sql, sizeof sql,
                 "UPDATE t_agg SET main_category = (SELECT k.category FROM t_cat k"
                 " WHERE k.customer_id = t_agg.customer_id"
                 " ORDER BY k.spend DESC, k.category COLLATE %s LIMIT 1)",
                 coll);
        sql_exec(s, sql);
    }
}

/* The scores, segments and tiers of probe_rfm_put_thresholds (engine_probe.h), after sql_as_of. */
static void sql_rfm_thresholds(struct hk_store *s)
{
    for (int t = 0; t < 2; t++) { /* t_agg (all shops), then t_sagg: every shop inherits */
        const char *tab = t ? "t_sagg" : "t_agg";
        char sql[2048];
        snprintf(sql, sizeof sql,
                 "UPDATE %s SET"
                 " r = CASE WHEN recency_days <= 7 THEN 5 WHEN recency_days <= 30 THEN 4"
                 " WHEN recency_days <= 90 THEN 3 WHEN recency_days <= 365 THEN 2 ELSE 1 END,"
                 " f = 1 + (CASE WHEN frequency >= 2 THEN 1 ELSE 0 END)"
                 " + (CASE WHEN frequency >= 3 THEN 1 ELSE 0 END)"
                 " + (CASE WHEN frequency >= 4 THEN 1 ELSE 0 END)"
                 " + (CASE WHEN frequency >= 6 THEN 1 ELSE 0 END),"
                 " m = 1 + (CASE WHEN monetary >= 50000 THEN 1 ELSE 0 END)"
                 " + (CASE WHEN monetary >= 100000 THEN 1 ELSE 0 END)"
                 " + (CASE WHEN monetary >= 200000 THEN 1 ELSE 0 END)"
                 " + (CASE WHEN monetary >= 500000 THEN 1 ELSE 0 END),"
                 " segc = (CASE WHEN monetary >= 100000 THEN 0 ELSE 4 END)"
                 " + (CASE WHEN recency_days <= 60 THEN 0 ELSE 2 END)"
                 " + (CASE WHEN frequency >= 2 THEN 0 ELSE 1 END)"
                 " WHERE frequency > 0",
                 tab);
        sql_exec(s, sql);
        snprintf(sql, sizeof sql,
                 "UPDATE %s SET seg = CASE segc WHEN 0 THEN '重要价值客户' WHEN 1 THEN "
                 "'重要发展客户'"
                 " WHEN 2 THEN '重要保持客户' WHEN 3 THEN '重要挽留客户' WHEN 4 THEN "
                 "'一般价值客户'"
                 " WHEN 5 THEN '一般发展客户' WHEN 6 THEN '一般保持客户' ELSE '一般挽留客户' END,"
                 " tier = CASE WHEN r >= 5 AND f >= 3 AND m >= 4 THEN '高价值客户'"
                 " WHEN r >= 4 AND f <= 2 AND m >= 3 THEN '潜力客户'"
                 " WHEN r <= 2 AND f >= 3 AND m >= 3 THEN '待唤醒客户'"
                 " WHEN r <= 2 AND f <= 2 AND m <= 2 THEN '一般挽留客户' ELSE '其他' END"
                 " WHERE frequency > 0",
                 tab);
        sql_exec(s, sql);
    }
}

/* ---- random expressions: one tree, two renderings ------------------------------------------ */

enum fkind { K_DAYS, K_COUNT, K_MONEY, K_AOV, K_RATE, K_SCORE, K_STR, K_CHAN };

static const struct {
    const char *name;
    enum fkind k;
    const char *col; /* t_agg column */
} fields[] = {
    {"recency_days", K_DAYS, "recency_days"},
    {"first_order_days", K_DAYS, "first_days"},
    {"frequency", K_COUNT, "frequency"},
    {"refund_count", K_COUNT, "refunds"},
    {"monetary", K_MONEY, "monetary"},
    {"aov", K_AOV, "monetary"},
    {"coupon_use_rate", K_RATE, "coupons"},
    {"r_score", K_SCORE, "r"},
    {"f_score", K_SCORE, "f"},
    {"m_score", K_SCORE, "m"},
    {"main_category", K_STR, "main_category"},
    {"province", K_STR, "province"},
    {"city", K_STR, "city"},
    {"rfm_segment", K_STR, "seg"},
    {"rfm_tier", K_STR, "tier"},
    {"channel", K_CHAN, NULL},
};
#define NFIELDS (sizeof fields / sizeof fields[0])

static const char *const categories[] = {"连衣裙", "phones", "phone_accessories", "零食", "美妆"};
static const char *const provinces[] = {"浙江省", "广东省", "江苏省",
                                        "北京市", "四川省", "西藏自治区"};
static const char *const cities[] = {"杭州", "深圳", "南京", "北京", "成都", "拉萨"};
static const char *const segments[] = {"重要价值客户", "重要发展客户", "重要保持客户",
                                       "重要挽留客户", "一般价值客户", "一般发展客户",
                                       "一般保持客户", "一般挽留客户"};
static const char *const tiers[] = {"高价值客户", "潜力客户", "待唤醒客户", "一般挽留客户", "其他"};
static const char *const channels[] = {"taobao", "jd", "pdd", "douyin", "wechat"};
static const char *const event_types[] = {"browse", "cart", "favourite", "coupon_claim"};
static const char *const products[] = {"P100", "P101", "P102", "P103", "P104",   "P105", "P106",
                                       "P107", "P108", "P109", "P110", "sku:K9", "P113"};

#define PICK(r, a) (a)[rnd((r), (int64_t)(sizeof(a) / sizeof((a)[0])))]

/* A literal: its text and its exact value num/den in the field's unit (days, count, fen). */
struct lit {
    char text[40];
    int64_t num, den;
};

static void lit_gen(struct rng *r, enum fkind k, struct lit *l)
{
    static const int days[] = {0, 1, 2, 3, 6, 7, 8, 14, 20, 29, 30, 31, 60, 90, 180, 365};
    l->den = 1;
    switch (k) {
    case K_DAYS: {
        int x = chance(r, 70) ? days[rnd(r, 16)] : (int)rnd(r, 500) - 5;
        int form = (int)rnd(r, 10);
        if (form < 6 || x < 0) {
            l->num = x;
            snprintf(l->text, sizeof l->text, "%d", x);
        } else if (form < 8) {
            l->num = x < 1 ? 1 : x;
            snprintf(l->text, sizeof l->text, "%lldd", (long long)l->num);
        } else {
            l->num = 1 + rnd(r, 24 * 60);
            l->den = 24;
            snprintf(l->text, sizeof l->text, "%lldh", (long long)l->num);
        }
        break;
    }
    case K_COUNT:
    case K_SCORE:
        if (chance(r, 85)) {
            l->num = rnd(r, k == K_SCORE ? 7 : 6);
            snprintf(l->text, sizeof l->text, "%lld", (long long)l->num);
        } else {
            l->num = 2 * rnd(r, 5) + 1;
            l->den = 2;
            snprintf(l->text, sizeof l->text, "%lld.5", (long long)(l->num / 2));
        }
        break;
    case K_MONEY:
    case K_AOV: {
        int64_t fen = chance(r, 50) ? rnd(r, 200000) : rnd(r, 20) * 10000;
        if (chance(r, 5))
            fen = -rnd(r, 1000);
        l->num = fen;
        int64_t a = fen < 0 ? -fen : fen;
        const char *sign = fen < 0 ? "-" : "";
        if (a % 100 == 0)
            snprintf(l->text, sizeof l->text, "%s%lld", sign, (long long)(a / 100));
        else if (a % 10 == 0)
            snprintf(l->text, sizeof l->text, "%s%lld.%lld", sign, (long long)(a / 100),
                     (long long)(a % 100 / 10));
        else
            snprintf(l->text, sizeof l->text, "%s%lld.%02lld", sign, (long long)(a / 100),
                     (long long)(a % 100));
        break;
    }
    case K_RATE: {
        static const char *const t[] = {"0",   "1",    "0.5",  "0.25", "0.333333",
                                        "0.2", "0.75", "0.66", "0.1"};
        static const int64_t num[] = {0, 1, 1, 1, 333333, 1, 3, 33, 1};
        static const int64_t den[] = {1, 1, 2, 4, 1000000, 5, 4, 50, 10};
        int i = (int)rnd(r, 9);
        snprintf(l->text, sizeof l->text, "%s", t[i]);
        l->num = num[i];
        l->den = den[i];
        break;
    }
    default:
        fail();
    }
}

static const char *const ops[] = {"=", "!=", ">", ">=", "<", "<="};
static const char *const sql_ops[] = {"=", "<>", ">", ">=", "<", "<="};

/* SQL condition on t_agg for "field op lit": integers only (cross-multiplied). */
static void sql_num_cond(struct buf *q, int f, const char *sop, const struct lit *l)
{
    switch (fields[f].k) {
    case K_AOV: /* monetary / frequency op num/den */
        ap(q, "frequency > 0 AND monetary * %lld %s %lld * frequency", (long long)l->den, sop,
           (long long)l->num);
        break;
    case K_RATE:
        ap(q, "frequency > 0 AND coupons * %lld %s %lld * frequency", (long long)l->den, sop,
           (long long)l->num);
        break;
    default:
        ap(q, "%s IS NOT NULL AND %s * %lld %s %lld", fields[f].col, fields[f].col,
           (long long)l->den, sop, (long long)l->num);
    }
}

static void gen_leaf(struct rng *r, struct buf *x, struct buf *q)
{
    int kind = (int)rnd(r, 100);
    if (kind < 22) { /* bought(...) */
        const char *prod = chance(r, 40) ? PICK(r, products) : NULL;
        const char *cat = chance(r, prod ? 15 : 45) ? PICK(r, categories) : NULL;
        int within = 0, hours = 0, min = 0;
        if (chance(r, 55)) {
            static const int w[] = {1, 2, 3, 7, 8, 30, 31, 90, 365};
            within = chance(r, 75) ? w[rnd(r, 9)] : 1 + (int)rnd(r, 400);
            if (chance(r, 15))
                hours = 1 + (int)rnd(r, 24 * 40);
        }
        if (chance(r, 30))
            min = 1 + (int)rnd(r, 3);
        ap(x, "bought(");
        const char *sep = "";
        if (prod) {
            ap(x, "product=\"%s\"", prod);
            sep = ", ";
        }
        if (cat) {
            ap(x, "%scategory=\"%s\"", sep, cat);
            sep = ", ";
        }
        if (hours) {
            ap(x, "%swithin=%dh", sep, hours);
            sep = ", ";
        } else if (within) {
            ap(x, "%swithin=%dd", sep, within);
            sep = ", ";
        }
        if (min)
            ap(x, "%smin_count=%d", sep, min);
        ap(x, ")");
        ap(q, "c.id IN (SELECT x.customer_id FROM t_co x WHERE 1 = 1");
        if (hours)
            ap(q, " AND x.days_ago * 24 < %d", hours);
        else if (within)
            ap(q, " AND x.days_ago < %d", within);
        if (prod || cat) {
            ap(q, " AND EXISTS (SELECT 1 FROM order_items i JOIN products p ON p.id = i.product_id"
                  " WHERE i.order_id = x.id");
            if (prod)
                ap(q, " AND p.external_id = '%s'", prod);
            if (cat)
                ap(q, " AND p.category = '%s'", cat);
            ap(q, ")");
        }
        ap(q, " GROUP BY x.customer_id HAVING COUNT(*) >= %d)", min ? min : 1);
        return;
    }
    if (kind < 32) { /* event(...) */
        const char *type = chance(r, 70) ? PICK(r, event_types) : NULL;
        int within = chance(r, 60) ? 1 + (int)rnd(r, 120) : 0;
        int hours = within && chance(r, 15) ? 1 + (int)rnd(r, 24 * 20) : 0;
        int min = chance(r, 30) ? 1 + (int)rnd(r, 3) : 0;
        ap(x, "event(");
        const char *sep = "";
        if (type) {
            ap(x, "type=\"%s\"", type);
            sep = ", ";
        }
        if (hours) {
            ap(x, "%swithin=%dh", sep, hours);
            sep = ", ";
        } else if (within) {
            ap(x, "%swithin=%dd", sep, within);
            sep = ", ";
        }
        if (min)
            ap(x, "%smin_count=%d", sep, min);
        ap(x, ")");
        ap(q, "c.id IN (SELECT v.customer_id FROM t_ev v WHERE 1 = 1");
        if (type)
            ap(q, " AND v.type = '%s'", type);
        if (hours)
            ap(q, " AND v.days_ago * 24 < %d", hours);
        else if (within)
            ap(q, " AND v.days_ago < %d", within);
        ap(q, " GROUP BY v.customer_id HAVING COUNT(*) >= %d)", min ? min : 1);
        return;
    }
    int f = (int)rnd(r, NFIELDS);
    enum fkind k = fields[f].k;
    if (k == K_CHAN) {
        int op = (int)rnd(r, 3);
        if (op == 0) {
            const char *c = PICK(r, channels);
            ap(x, "channel = \"%s\"", c);
            ap(q, "c.id IN (SELECT customer_id FROM identities WHERE channel = '%s')", c);
        } else if (op == 1) {
            const char *c = PICK(r, channels);
            ap(x, "channel != \"%s\"", c);
            ap(q,
               "(c.id IN (SELECT customer_id FROM identities WHERE channel NOT IN ('*', 'any'))"
               " AND c.id NOT IN (SELECT customer_id FROM identities WHERE channel = '%s'))",
               c);
        } else {
            const char *a = PICK(r, channels), *b = PICK(r, channels);
            ap(x, "channel in (\"%s\", \"%s\")", a, b);
            ap(q, "c.id IN (SELECT customer_id FROM identities WHERE channel IN ('%s', '%s'))", a,
               b);
        }
        return;
    }
    /* the RFM fields, often of one shop: scored among that shop's buyers (t_sagg) */
    char fname[160];
    snprintf(fname, sizeof fname, "%s", fields[f].name);
    bool rfm_field = k == K_SCORE || strcmp(fields[f].name, "rfm_segment") == 0 ||
                     strcmp(fields[f].name, "rfm_tier") == 0;
    if (rfm_field && chance(r, 40)) {
        int sh = (int)rnd(r, NSHOPS);
        if (chance(r, 50))
            snprintf(fname, sizeof fname, "%s(shop=\"%s\")", fields[f].name, shops[sh].name);
        else
            snprintf(fname, sizeof fname, "%s(shop=\"%s:%s\")", fields[f].name, shops[sh].channel,
                     shops[sh].name);
        /* that shop's rows, under t_agg's name, so the condition reads as for all shops */
        ap(q,
           "c.id IN (SELECT customer_id FROM (SELECT * FROM t_sagg WHERE shop_id = (SELECT id"
           " FROM shops WHERE channel = '%s' AND name = '%s')) t_agg WHERE ",
           shops[sh].channel, shops[sh].name);
    } else {
        ap(q, "c.id IN (SELECT customer_id FROM t_agg WHERE ");
    }
    if (k == K_STR) {
        const char *const *vals;
        size_t nv;
        if (strcmp(fields[f].name, "main_category") == 0)
            vals = categories, nv = sizeof categories / sizeof categories[0];
        else if (strcmp(fields[f].name, "province") == 0)
            vals = provinces, nv = sizeof provinces / sizeof provinces[0];
        else if (strcmp(fields[f].name, "city") == 0)
            vals = cities, nv = sizeof cities / sizeof cities[0];
        else if (strcmp(fields[f].name, "rfm_segment") == 0)
            vals = segments, nv = sizeof segments / sizeof segments[0];
        else
            vals = tiers, nv = sizeof tiers / sizeof tiers[0];
        int op = (int)rnd(r, 3);
        const char *a = vals[rnd(r, (int64_t)nv)], *b = vals[rnd(r, (int64_t)nv)];
        if (op == 0) {
            ap(x, "%s = \"%s\"", fname, a);
            ap(q, "%s = '%s')", fields[f].col, a);
        } else if (op == 1) {
            ap(x, "%s != \"%s\"", fname, a);
            ap(q, "%s <> '%s')", fields[f].col, a);
        } else {
            ap(x, "%s in (\"%s\", \"%s\")", fname, a, b);
            ap(q, "%s IN ('%s', '%s'))", fields[f].col, a, b);
        }
        return;
    }
    int form = (int)rnd(r, 10);
    if (form < 7) {
        int op = (int)rnd(r, 6);
        struct lit l;
        lit_gen(r, k, &l);
        ap(x, "%s %s %s", fname, ops[op], l.text);
        sql_num_cond(q, f, sql_ops[op], &l);
    } else if (form < 9) {
        struct lit lo, hi;
        lit_gen(r, k, &lo);
        lit_gen(r, k, &hi);
        if (chance(r, 85) && lo.num * hi.den > hi.num * lo.den) {
            struct lit t = lo;
            lo = hi;
            hi = t;
        }
        ap(x, "%s between %s and %s", fname, lo.text, hi.text);
        ap(q, "(");
        sql_num_cond(q, f, ">=", &lo);
        ap(q, ") AND (");
        sql_num_cond(q, f, "<=", &hi);
        ap(q, ")");
    } else {
        struct lit a, b;
        lit_gen(r, k, &a);
        lit_gen(r, k, &b);
        ap(x, "%s in (%s, %s)", fname, a.text, b.text);
        ap(q, "(");
        sql_num_cond(q, f, "=", &a);
        ap(q, ") OR (");
        sql_num_cond(q, f, "=", &b);
        ap(q, ")");
    }
    ap(q, ")");
}

static void gen_expr(struct rng *r, int depth, struct buf *x, struct buf *q)
{
    int c = (int)rnd(r, 100);
    if (depth <= 0 || c < 40) {
        gen_leaf(r, x, q);
        return;
    }
    if (c < 55) {
        ap(x, "not ");
        bool paren = chance(r, 50);
        ap(x, paren ? "(" : "");
        ap(q, "NOT (");
        if (paren)
            gen_expr(r, depth - 1, x, q);
        else
            gen_leaf(r, x, q); /* `not` binds tightest: "not a and b" is "(not a) and b" */
        ap(x, paren ? ")" : "");
        ap(q, ")");
        return;
    }
    bool and = c < 80;
    ap(x, "(");
    ap(q, "(");
    gen_expr(r, depth - 1, x, q);
    ap(x, and? " and " : " or ");
    ap(q, and? " AND " : " OR ");
    gen_expr(r, depth - 1, x, q);
    ap(x, ")");
    ap(q, ")");
}

/* ---- comparing ------------------------------------------------------------------------------ */

struct diff_stats {
    bool few_names; /* not every product and category exists: those compile errors are expected */
    int exprs, mismatches, compile_errors, unknown_names;
    size_t nonempty, nonfull;
};

static void print_sql_row(struct hk_store *s, int64_t id)
{
    char sql[600];
    snprintf(sql, sizeof sql,
             "SELECT frequency, monetary, coupons, refunds, COALESCE(recency_days, -999999),"
             " COALESCE(first_days, -999999), COALESCE(main_category, '-'), COALESCE(r, 0),"
             " COALESCE(f, 0), COALESCE(m, 0), COALESCE(seg, '-'), COALESCE(tier, '-')"
             " FROM t_agg WHERE customer_id = %lld",
             (long long)id);
    struct hk_err err = {0};
    struct hk_db *db;
    struct hk_stmt *st;
    char name[40];
    stmt_name(sql, name, sizeof name);
    if (hk_db_acquire(s, &db, &err) != 0)
        return;
    if (hk_db_stmt(db, name, sql, &st, &err) == 0 && hk_stmt_step(st, &err) == HK_ROW) {
        char cat[64], seg[64], tier[64];
        hk_stmt_text_copy(st, 6, cat, sizeof cat);
        hk_stmt_text_copy(st, 10, seg, sizeof seg);
        hk_stmt_text_copy(st, 11, tier, sizeof tier);
        fprintf(stderr,
                "    sql    #%lld: freq %lld mon %lld coupons %lld refunds %lld rec %lld first "
                "%lld cat %s rfm %lld%lld%lld %s %s\n",
                (long long)id, (long long)hk_stmt_int64(st, 0), (long long)hk_stmt_int64(st, 1),
                (long long)hk_stmt_int64(st, 2), (long long)hk_stmt_int64(st, 3),
                (long long)hk_stmt_int64(st, 4), (long long)hk_stmt_int64(st, 5), cat,
                (long long)hk_stmt_int64(st, 7), (long long)hk_stmt_int64(st, 8),
                (long long)hk_stmt_int64(st, 9), seg, tier);
        hk_stmt_reset(st);
    } else {
        fprintf(stderr, "    sql    #%lld: no t_agg row (merged away or unknown)\n", (long long)id);
    }
    hk_db_release(db);
}

/* Compares one engine's answer with SQL's; prints the details of a mismatch. */
static bool compare(struct hk_store *store, struct hk_engine_svc *s, const char *which,
                    const char *expr, const char *sql, const struct probe_ids *want, int64_t now,
                    struct diff_stats *ds)
{
    struct hk_err err = {0};
    struct probe_ids got = {0};
    if (probe_members(s, expr, now, &got, &err) != 0) {
        if (ds->few_names && (strstr(hk_err_message(&err), "unknown product") ||
                              strstr(hk_err_message(&err), "unknown category") ||
                              strstr(hk_err_message(&err), "unknown shop"))) {
            ds->unknown_names++;
            free(got.v);
            return true;
        }
        fprintf(stderr, "[%s] %s\n  does not compile: %s\n", which, expr, hk_err_message(&err));
        ds->compile_errors++;
        free(got.v);
        return false;
    }
    bool same = got.n == want->n && (got.n == 0 || !memcmp(got.v, want->v, got.n * 8));
    if (!same) {
        ds->mismatches++;
        if (ds->mismatches <= 12) {
            fprintf(stderr,
                    "MISMATCH [%s] now=%lld\n  expr: %s\n  sql:  %s\n  engine %zu, sql %zu\n",
                    which, (long long)now, expr, sql, got.n, want->n);
            size_t i = 0, j = 0;
            int shown = 0;
            while ((i < got.n || j < want->n) && shown < 4) {
                int64_t id;
                const char *side;
                if (j >= want->n || (i < got.n && got.v[i] < want->v[j])) {
                    id = got.v[i++];
                    side = "engine only";
                } else if (i >= got.n || want->v[j] < got.v[i]) {
                    id = want->v[j++];
                    side = "sql only";
                } else {
                    i++;
                    j++;
                    continue;
                }
                fprintf(stderr, "  customer %lld: %s\n", (long long)id, side);
                probe_print(s, id, now);
                print_sql_row(store, id);
                shown++;
            }
        }
    }
    free(got.v);
    return same;
}

/* Runs n random expressions against SQL and every engine given. */
static void diff_run(struct hk_store *store, struct hk_engine_svc *const *engines,
                     const char *const *names, size_t ne, struct rng *r, int n, int64_t now,
                     struct diff_stats *ds)
{
    struct buf x = {0}, q = {0}, sql = {0};
    struct probe_ids want = {0}, live = {0};
    sql_ids(store, "SELECT id FROM customers WHERE merged_into IS NULL", &live);
    for (int i = 0; i < n; i++) {
        buf_clear(&x);
        buf_clear(&q);
        buf_clear(&sql);
        gen_expr(r, 1 + (int)rnd(r, 3), &x, &q);
        ap(&sql, "SELECT c.id FROM customers c WHERE c.merged_into IS NULL AND (%s)", q.p);
        sql_ids(store, sql.p, &want);
        ds->exprs++;
        ds->nonempty += want.n > 0;
        ds->nonfull += want.n < live.n;
        for (size_t k = 0; k < ne; k++)
            compare(store, engines[k], names[k], x.p, sql.p, &want, now, ds);
    }
    buf_free(&x);
    buf_free(&q);
    buf_free(&sql);
    free(want.v);
    free(live.v);
}

/* ---- generating a shop's data --------------------------------------------------------------- */

#define NPEOPLE 400

struct world {
    bool late_category; /* P113 first sent without its category, filled in later */
    struct person people[NPEOPLE];
    struct gorder *orders;
    size_t norders, cap;
    struct zdays *sh, *ny;
};

/* An instant: near now (the last 45 days before NOW2), anywhere in 500 days, a few after NOW2,
 * or within seconds of a local midnight of the zone. */
static int64_t gen_instant(struct rng *r, const struct zdays *z)
{
    int c = (int)rnd(r, 100);
    if (c < 25) {
        int last = zd_index(z, NOW2);
        int d = chance(r, 60) ? last - (int)rnd(r, 40) : last - (int)rnd(r, 500);
        static const int off[] = {-1, 0, 1, -2, 59, -60, 3599};
        return z->start[d] + off[rnd(r, 7)];
    }
    if (c < 60)
        return NOW2 - rnd(r, 45 * 86400);
    if (c < 97)
        return NOW2 - rnd(r, 500 * 86400);
    return NOW2 + rnd(r, 3 * 86400);
}

static struct gorder *new_order(struct world *w)
{
    if (w->norders == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 512;
        w->orders = realloc(w->orders, w->cap * sizeof(*w->orders));
        assert_non_null(w->orders);
    }
    struct gorder *o = &w->orders[w->norders++];
    memset(o, 0, sizeof(*o));
    return o;
}

static const struct {
    const char *pid, *sku, *title, *cat;
} catalogue[] = {
    {"P100", "", "连衣裙 A", "连衣裙"},
    {"P101", "", "连衣裙 B", "连衣裙"},
    {"P102", "", "phone X", "phones"},
    {"P103", "", "phone Y", "phones"},
    {"P104", "", "case", "phone_accessories"},
    {"P105", "", "charger", "phone_accessories"},
    {"P106", "", "零食 A", "零食"},
    {"P107", "", "零食 B", "零食"},
    {"P108", "", "口红", "美妆"},
    {"P109", "", "面霜", "美妆"},
    {"P110", "", "gift card", ""},  /* a product without a category */
    {"", "K9", "眼影", "美妆"},     /* sku only: product "sku:K9" */
    {"", "", "free sample", ""},    /* title only: no product at all */
    {"P113", "", "零食 C", "零食"}, /* first sent without its category (round 1) */
};
#define NCAT (sizeof catalogue / sizeof catalogue[0])

static void gen_lines(struct rng *r, struct gorder *o, int round, int first_product, bool late)
{
    o->nl = (int)rnd(r, 4);
    if (first_product >= 0 && o->nl == 0)
        o->nl = 1;
    int64_t sum = 0;
    int used[3];
    for (int k = 0; k < o->nl; k++) {
        /* distinct products: the same one twice would be one line (the item key) */
        int p = k == 0 && first_product >= 0 ? first_product : (int)rnd(r, NCAT);
        for (int j = 0; j < k; j++)
            if (used[j] == p) {
                p = (int)rnd(r, NCAT);
                j = -1;
            }
        used[k] = p;
        struct gline *l = &o->lines[k];
        l->pid = catalogue[p].pid;
        l->sku = catalogue[p].sku;
        l->title = catalogue[p].title;
        l->cat = p == 13 && round == 1 && late ? "" : catalogue[p].cat;
        l->paid = 100 + rnd(r, 150000);
        int c = (int)rnd(r, 100);
        l->refund = c < 10 ? rnd(r, l->paid) : c < 14 ? l->paid : 0;
        sum += l->paid;
    }
    o->paid = o->nl ? sum + (chance(r, 30) ? 1000 : 0) : 100 + rnd(r, 300000);
}

/* A new order of person pi: on shop (or a random one of its accounts when shop < 0), carrying
 * its phone when it has one and force_phone or by chance. */
static void gen_order(struct rng *r, struct world *w, uint64_t seed, int pi, int j, int round,
                      bool only_cancelled, int first_product, int shop, bool force_phone)
{
    struct person *p = &w->people[pi];
    struct gorder *o = new_order(w);
    o->person = pi;
    int s = shop;
    while (s < 0 || !p->acct[s])
        s = (int)rnd(r, NSHOPS);
    o->shop = s;
    snprintf(o->no, sizeof o->no, "S%llu-R%d-%d-%d", (unsigned long long)seed, round, pi, j);
    const struct zdays *z = shops[s].ny ? w->ny : w->sh;
    int c = (int)rnd(r, 100);
    o->st = only_cancelled ? (c < 70 ? HK_ORDER_CANCELLED : HK_ORDER_CREATED)
            : c < 20       ? HK_ORDER_PAID
            : c < 35       ? HK_ORDER_SHIPPED
            : c < 70       ? HK_ORDER_COMPLETED
            : c < 77       ? HK_ORDER_CREATED
            : c < 87       ? HK_ORDER_CANCELLED
                           : HK_ORDER_REFUNDED;
    bool counted =
        o->st == HK_ORDER_PAID || o->st == HK_ORDER_SHIPPED || o->st == HK_ORDER_COMPLETED;
    int64_t t = gen_instant(r, z);
    if (counted || o->st == HK_ORDER_REFUNDED)
        o->paid_at = chance(r, 97) ? t : 0;
    else if (o->st == HK_ORDER_CANCELLED && chance(r, 30))
        o->paid_at = t;
    o->created_at = t - rnd(r, 7200);
    gen_lines(r, o, round, first_product, w->late_category);
    int rc = (int)rnd(r, 100);
    if (o->st == HK_ORDER_REFUNDED)
        o->refund = rc < 85 ? o->paid : rnd(r, o->paid);
    else if (counted)
        o->refund = rc < 12 ? rnd(r, o->paid) : rc < 16 ? o->paid : 0;
    static const char *const coupons[] = {"CPN-A", "CPN-B", "满200减20"};
    o->coupon = chance(r, 25) ? PICK(r, coupons) : NULL;
    o->phone = p->phone[0] && (force_phone || chance(r, 60));
}

static void gen_world(struct rng *r, struct world *w, uint64_t seed)
{
    for (int i = 0; i < NPEOPLE; i++) {
        struct person *p = &w->people[i];
        memset(p, 0, sizeof(*p));
        int nacct = chance(r, 55) ? 1 : chance(r, 65) ? 2 : 3;
        for (int k = 0; k < nacct; k++)
            p->acct[rnd(r, NSHOPS)] = true;
        for (int s = 0; s < NSHOPS; s++)
            snprintf(p->buyer[s], sizeof p->buyer[s], "b%llu-%d-%s", (unsigned long long)seed, i,
                     shops[s].channel);
        if (chance(r, 60))
            snprintf(p->phone, sizeof p->phone, "139%08d", (int)(seed % 1000) * 10000 + i);
        p->province = chance(r, 80) ? provinces[rnd(r, 5)] : "";
        p->city = chance(r, 75) ? cities[rnd(r, 5)] : "";
    }
}

static void iso_utc(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Writes the orders marked in by_file as a generic export (one row per line) and imports it
 * with hk_import_files. The file's amounts are the lines' (the order's are their sums). */
static void import_csv(struct env *v, struct world *w, const bool *by_file)
{
    struct buf b = {0};
    ap(&b, "order_no,buyer_id,phone,province,city,channel,shop,status,created_at,paid_at,"
           "product_id,sku,product_title,category,quantity,unit_price,paid_amount,"
           "refund_amount,coupon_code\n");
    int64_t rows = 0;
    for (size_t i = 0; i < w->norders; i++) {
        if (!by_file[i])
            continue;
        struct gorder *o = &w->orders[i];
        const struct person *p = &w->people[o->person];
        char created[32], paid[32] = "";
        iso_utc(o->created_at, created, sizeof created);
        if (o->paid_at)
            iso_utc(o->paid_at, paid, sizeof paid);
        o->paid = o->refund = 0;
        for (int k = 0; k < o->nl; k++) {
            const struct gline *l = &o->lines[k];
            ap(&b, "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,1,%lld.%02lld,%lld.%02lld,", o->no,
               p->buyer[o->shop], o->phone ? p->phone : "", p->province, p->city,
               shops[o->shop].channel, shops[o->shop].name, hk_order_status_name(o->st), created,
               paid, l->pid, l->sku, l->title, l->cat, (long long)(l->paid / 100),
               (long long)(l->paid % 100), (long long)(l->paid / 100), (long long)(l->paid % 100));
            if (l->refund)
                ap(&b, "%lld.%02lld", (long long)(l->refund / 100), (long long)(l->refund % 100));
            ap(&b, ",%s\n", o->coupon ? o->coupon : "");
            o->paid += l->paid;
            o->refund += l->refund;
            rows++;
        }
    }
    const char *path = tdb_write(v->t, "orders.csv", b.p);
    buf_free(&b);
    struct hk_import_result res;
    tdb_import(v->t, &path, 1, NULL, &res);
    if (res.rejected || res.rows != rows)
        fail_msg("csv import: %lld rows read of %lld, %lld rejected (%s)", (long long)res.rows,
                 (long long)rows, (long long)res.rejected,
                 res.nerrors ? res.errors[0].message : "");
    hk_import_result_release(&res);
}

/* Round 1: orders (every product at least once), events, profiles. */
static void gen_round1(struct rng *r, struct world *w, uint64_t seed, struct env *v)
{
    int next_product = 0;
    for (int i = 0; i < NPEOPLE; i++) {
        int c = (int)rnd(r, 100);
        int n = c < 15 ? 0 : c < 40 ? 1 : c < 70 ? 2 + (int)rnd(r, 2) : 4 + (int)rnd(r, 5);
        bool only_cancelled = chance(r, 6);
        for (int j = 0; j < n; j++) {
            int fp = !only_cancelled && next_product < (int)NCAT ? next_product++ : -1;
            gen_order(r, w, seed, i, j, 1, only_cancelled, fp, -1, false);
        }
        /* some people use their phone on every account: identity resolution merges them */
        if (w->people[i].phone[0] && chance(r, 40))
            for (int s = 0; s < NSHOPS; s++)
                if (w->people[i].acct[s])
                    gen_order(r, w, seed, i, 50 + s, 1, only_cancelled, -1, s, true);
    }
    /* about a third of the orders with lines go through a generic CSV file import, the rest
       through REST ingest (first, so that the New York shop is created with its zone) */
    struct gorder *rest = calloc(w->norders, sizeof(*rest));
    bool *by_file = calloc(w->norders, sizeof(*by_file));
    assert_true(rest && by_file);
    size_t nrest = 0;
    for (size_t i = 0; i < w->norders; i++) {
        by_file[i] = w->orders[i].nl > 0 && chance(r, 35);
        if (!by_file[i])
            rest[nrest++] = w->orders[i];
    }
    ingest_all(v, w->people, rest, nrest);
    import_csv(v, w, by_file);
    free(rest);
    free(by_file);
    for (int i = 0; i < NPEOPLE; i++) {
        struct person *p = &w->people[i];
        int a = 0;
        while (!p->acct[a])
            a++;
        int ne = chance(r, 50) ? (int)rnd(r, 5) : 0;
        for (int k = 0; k < ne; k++) {
            int at_shop = chance(r, 35) ? -1 : (int)rnd(r, NSHOPS);
            const struct zdays *z = at_shop >= 0 && shops[at_shop].ny ? w->ny : w->sh;
            ingest_event(v, p, a, at_shop, PICK(r, event_types), gen_instant(r, z));
        }
        if (chance(r, 15)) { /* a profile upsert; fills a province the orders did not give */
            struct person q = *p;
            if (!q.province[0])
                q.province = provinces[rnd(r, 6)];
            ingest_customer(v, &q, a);
        }
    }
}

/* Undoes about half of the merges identity resolution made (through the merge service). */
static int undo_merges(struct env *v, struct rng *r)
{
    struct probe_ids losers = {0};
    sql_ids(v->t->store, "SELECT id FROM customers WHERE merged_into IS NOT NULL", &losers);
    int undone = 0;
    for (size_t i = 0; i < losers.n; i++) {
        if (!chance(r, 50))
            continue;
        struct hk_err err = {0};
        int rc = hk_merges_undo(v->t->store, losers.v[i], 0, "test", TEST_NOW, NULL, &err);
        if (rc == 0)
            undone++;
        else if (rc != HK_E(CONFLICT))
            fail_msg("undo merge of %lld: %s", (long long)losers.v[i], err.msg);
    }
    free(losers.v);
    return undone;
}

/* Round 2: status moves and refunds on stored orders, and new orders (P113 with its category). */
static void gen_round2(struct rng *r, struct world *w, uint64_t seed, struct env *v)
{
    size_t n1 = w->norders;
    struct gorder *changed = calloc(n1 ? n1 : 1, sizeof(*changed));
    assert_non_null(changed);
    size_t nc = 0;
    for (size_t i = 0; i < n1; i++) {
        if (!chance(r, 25))
            continue;
        struct gorder o = w->orders[i];
        switch (o.st) {
        case HK_ORDER_CREATED:
            o.st = HK_ORDER_PAID;
            o.paid_at = o.created_at + 60;
            break;
        case HK_ORDER_PAID:
            o.st = chance(r, 50) ? HK_ORDER_SHIPPED : HK_ORDER_REFUNDED;
            if (o.st == HK_ORDER_REFUNDED)
                o.refund = o.paid;
            break;
        case HK_ORDER_SHIPPED:
            o.st = HK_ORDER_COMPLETED;
            break;
        case HK_ORDER_COMPLETED:
            if (chance(r, 50)) {
                o.st = HK_ORDER_REFUNDED;
                o.refund = o.paid;
            } else {
                o.refund = o.refund + rnd(r, o.paid - o.refund + 1); /* a (further) refund */
            }
            break;
        default:
            continue;
        }
        changed[nc++] = o;
    }
    ingest_all(v, w->people, changed, nc);
    for (size_t i = 0; i < nc; i++)
        for (size_t j = 0; j < n1; j++)
            if (strcmp(w->orders[j].no, changed[i].no) == 0)
                w->orders[j] = changed[i];
    free(changed);
    size_t before = w->norders;
    for (int i = 0; i < NPEOPLE; i++)
        if (chance(r, 12))
            gen_order(r, w, seed, i, 100, 2, false, 13, -1, false);
    ingest_all(v, w->people, w->orders + before, w->norders - before);
    /* events after the merges and unmerges, and profile upserts that link accounts */
    for (int i = 0; i < NPEOPLE; i++) {
        struct person *p = &w->people[i];
        int nacct = 0, a = -1;
        for (int s = 0; s < NSHOPS; s++)
            if (p->acct[s]) {
                nacct++;
                if (a < 0 || chance(r, 50))
                    a = s;
            }
        if (chance(r, 20)) {
            int at_shop = chance(r, 35) ? -1 : (int)rnd(r, NSHOPS);
            const struct zdays *z = at_shop >= 0 && shops[at_shop].ny ? w->ny : w->sh;
            ingest_event(v, p, a, at_shop, PICK(r, event_types), gen_instant(r, z));
        }
        if (p->phone[0] && nacct >= 2 && chance(r, 35))
            ingest_customer_linking(v, p);
    }
}

/* ---- the differential test ------------------------------------------------------------------ */

static uint64_t seed_of(uint64_t dflt)
{
    const char *s = getenv("HUIKE_DIFF_SEED");
    return s && *s ? strtoull(s, NULL, 10) : dflt;
}

static int exprs_per_now(void)
{
    const char *s = getenv("HUIKE_DIFF_EXPRS");
    return s && *s ? (int)strtol(s, NULL, 10) : 400;
}

static void differential(void **state, uint64_t seed)
{
    struct tdb *t = *state;
    struct env v;
    env_init(&v, t, NOW1);
    struct rng r = {seed * 7919 + 1};
    struct world w;
    memset(&w, 0, sizeof w);
    w.late_category = true; /* a category filled in later reaches following engines */
    w.sh = malloc(sizeof(*w.sh));
    w.ny = malloc(sizeof(*w.ny));
    assert_true(w.sh && w.ny);
    zone_days("Asia/Shanghai", w.sh);
    zone_days("America/New_York", w.ny);
    sql_create_tables(t->store);
    int64_t t0 = hk_monotonic_ms();

    /* the followed engine starts on the empty database: everything is 0 there */
    struct hk_engine_svc *followed = svc_start(&v);
    struct diff_stats ds = {0};
    sql_fill_days(t->store);
    sql_as_of(t->store, NOW1);
    struct hk_engine_svc *empty = svc_start(&v);
    struct hk_engine_svc *pair[2] = {empty, followed};
    const char *pnames[2] = {"loaded empty", "followed"};
    ds.few_names = true;
    diff_run(t->store, pair, pnames, 2, &r, 40, NOW1, &ds);
    hk_engine_svc_stop(empty);
    assert_int_equal(ds.nonempty, 0);
    assert_int_equal(ds.compile_errors, 0);
    assert_int_equal(ds.mismatches, 0);
    assert_true(ds.unknown_names > 0);
    ds = (struct diff_stats){0};

    gen_world(&r, &w, seed);
    gen_round1(&r, &w, seed, &v);
    svc_sync(followed);
    int undone = undo_merges(&v, &r);
    svc_sync(followed);
    gen_round2(&r, &w, seed, &v);
    svc_sync(followed);
    sql_fill_days(t->store);
    int64_t t1 = hk_monotonic_ms();

    int64_t merged =
        q_int(t->store, "SELECT COUNT(*) FROM customers WHERE merged_into IS NOT NULL");
    int64_t live = q_int(t->store, "SELECT COUNT(*) FROM customers WHERE merged_into IS NULL");
    int64_t norders = q_int(t->store, "SELECT COUNT(*) FROM orders");
    int64_t nevents = q_int(t->store, "SELECT COUNT(*) FROM events");
    int64_t never = q_int(t->store, "SELECT COUNT(*) FROM never_merge");

    const int64_t nows[2] = {NOW1, NOW2};
    int n = exprs_per_now();
    for (int k = 0; k < 2; k++) {
        hk_clock_set(&v.app.clock, nows[k]);
        struct hk_engine_svc *fresh = svc_start(&v);
        svc_rescore(followed);
        sql_as_of(t->store, nows[k]);
        struct hk_engine_svc *both[2] = {fresh, followed};
        const char *names[2] = {"loaded", "followed"};
        diff_run(t->store, both, names, 2, &r, n, nows[k], &ds);
        hk_engine_svc_stop(fresh);
    }
    /* the seller's own RFM thresholds, stored through the service: both engines take them */
    {
        struct hk_err err = {0};
        if (probe_rfm_put_thresholds(&v.app, &err) != 0)
            fail_msg("rfm config: %s", hk_err_message(&err));
        svc_sync(followed);
        struct hk_engine_svc *fresh = svc_start(&v);
        sql_as_of(t->store, NOW2);
        sql_rfm_thresholds(t->store);
        struct hk_engine_svc *both[2] = {fresh, followed};
        const char *names[2] = {"loaded, thresholds", "followed, thresholds"};
        diff_run(t->store, both, names, 2, &r, n / 2, NOW2, &ds);
        hk_engine_svc_stop(fresh);
    }
    int64_t t2 = hk_monotonic_ms();
    fprintf(stderr,
            "seed %llu on %s: %lld live customers (%lld merged away, %d merges undone, %lld "
            "never-merge pairs), %lld orders, %lld events; %d expressions (%zu non-empty, %zu "
            "not everybody), %d mismatches, %d compile errors; data %lld ms, compare %lld ms\n",
            (unsigned long long)seed, hk_store_backend_name(t->store), (long long)live,
            (long long)merged, undone, (long long)never, (long long)norders, (long long)nevents,
            ds.exprs, ds.nonempty, ds.nonfull, ds.mismatches, ds.compile_errors,
            (long long)(t1 - t0), (long long)(t2 - t1));
    hk_engine_svc_stop(followed);
    free(w.orders);
    free(w.sh);
    free(w.ny);
    env_release(&v);
    /* the data must be rich enough for the comparison to mean something */
    assert_true(merged > 0);
    assert_true(undone > 0);
    assert_true(ds.nonempty > (size_t)ds.exprs / 2);
    assert_true(ds.nonfull > (size_t)ds.exprs / 2);
    assert_int_equal(ds.compile_errors, 0);
    assert_int_equal(ds.mismatches, 0);
}

static void engine_sql__random_expressions_match_sql_seed_1(void **state)
{
    differential(state, seed_of(1));
}

static void engine_sql__random_expressions_match_sql_seed_2(void **state)
{
    differential(state, seed_of(1) + 1);
}

/* ---- edge cases ----------------------------------------------------------------------------- */

/* A test database with the SQL tables, and an engine that followed it from empty. */
struct edge {
    struct tdb *t;
    struct env v;
    struct person people[8];
    struct hk_engine_svc *followed;
    struct zdays *sh;
};

static void edge_init(struct edge *g, void **state, int64_t now)
{
    memset(g, 0, sizeof(*g));
    g->t = *state;
    env_init(&g->v, g->t, now);
    sql_create_tables(g->t->store);
    g->followed = svc_start(&g->v);
    for (int i = 0; i < 8; i++) {
        struct person *p = &g->people[i];
        p->acct[0] = p->acct[1] = true;
        for (int s = 0; s < NSHOPS; s++)
            snprintf(p->buyer[s], sizeof p->buyer[s], "edge-%d-%s", i, shops[s].channel);
        p->province = p->city = "";
    }
    g->sh = malloc(sizeof(*g->sh));
    assert_non_null(g->sh);
    zone_days("Asia/Shanghai", g->sh);
}

static void edge_release(struct edge *g)
{
    hk_engine_svc_stop(g->followed);
    env_release(&g->v);
    free(g->sh);
}

/* An order of person pi on shop s with one line of catalogue product cp (-1: no line). */
static struct gorder mk_order(const char *no, int pi, int s, enum hk_order_status st,
                              int64_t paid_at, int64_t paid, int64_t refund, int cp)
{
    struct gorder o;
    memset(&o, 0, sizeof o);
    snprintf(o.no, sizeof o.no, "%s", no);
    o.person = pi;
    o.shop = s;
    o.st = st;
    o.paid_at = paid_at;
    o.created_at = paid_at ? paid_at - 30 : NOW1 - 86400 * 3;
    o.paid = paid;
    o.refund = refund;
    if (cp >= 0) {
        o.nl = 1;
        o.lines[0].pid = catalogue[cp].pid;
        o.lines[0].sku = catalogue[cp].sku;
        o.lines[0].title = catalogue[cp].title;
        o.lines[0].cat = catalogue[cp].cat;
        o.lines[0].paid = paid;
        o.lines[0].refund = refund;
    }
    return o;
}

static void edge_send(struct edge *g, struct gorder *os, size_t n)
{
    ingest_all(&g->v, g->people, os, n);
    svc_sync(g->followed);
}

static int64_t customer_of(struct edge *g, const char *order_no)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT customer_id FROM orders WHERE external_no = '%s'", order_no);
    int64_t id = q_int(g->t->store, sql);
    assert_true(id > 0);
    return id;
}

/* Asserts the member count of expr as of now on every engine given. */
static void expect_count(struct hk_engine_svc *const *es, size_t ne, const char *expr, int64_t now,
                         size_t want)
{
    for (size_t i = 0; i < ne; i++) {
        struct hk_err err = {0};
        struct probe_ids got = {0};
        if (probe_members(es[i], expr, now, &got, &err) != 0)
            fail_msg("%s: %s", expr, hk_err_message(&err));
        if (got.n != want)
            fail_msg("%s: engine %zu has %zu members, want %zu", expr, i, got.n, want);
        free(got.v);
    }
}

#define NOREC INT32_MIN /* "no recency_days" (a non-buyer) */

/* Asserts a customer's recency (NOREC: none), frequency, monetary and refund count. */
static void expect_customer(struct hk_engine_svc *const *es, size_t ne, int64_t id, int64_t now,
                            bool live, int recency, uint32_t freq, int64_t monetary,
                            uint32_t refunds)
{
    for (size_t i = 0; i < ne; i++) {
        struct hk_err err = {0};
        struct probe_agg a;
        if (probe_get(es[i], id, now, &a, &err) != 0)
            fail_msg("customer %lld: %s", (long long)id, hk_err_message(&err));
        if (a.live != live || a.has_recency != (recency != NOREC) ||
            (a.has_recency && a.recency_days != recency) || a.frequency != freq ||
            a.monetary_fen != monetary || a.refund_count != refunds)
            fail_msg("engine %zu, customer %lld: live %d recency %d (has %d) frequency %u "
                     "monetary %lld refunds %u; want live %d recency %d frequency %u monetary "
                     "%lld refunds %u",
                     i, (long long)id, a.live, a.recency_days, a.has_recency, a.frequency,
                     (long long)a.monetary_fen, a.refund_count, live, recency, freq,
                     (long long)monetary, refunds);
    }
}

/* The random comparison with SQL on the edge test's data, as of now. */
static void edge_diff(struct edge *g, struct hk_engine_svc *fresh, int64_t now, int n)
{
    struct rng r = {(uint64_t)now};
    struct diff_stats ds = {0};
    ds.few_names = true;
    sql_fill_days(g->t->store);
    sql_as_of(g->t->store, now);
    struct hk_engine_svc *both[2] = {fresh, g->followed};
    const char *names[2] = {"loaded", "followed"};
    diff_run(g->t->store, both, names, 2, &r, n, now, &ds);
    assert_int_equal(ds.compile_errors, 0);
    assert_int_equal(ds.mismatches, 0);
}

/* 00:00:00 and 23:59:59 shop time: days_ago, recency_days and within= at the boundaries, in
 * Shanghai (+8) and New York (DST, the 25-hour day of 1 November 2026). */
static void engine_sql__days_ago_follows_the_shop_local_midnight(void **state)
{
    const int64_t now_mid = 1798732801; /* 2027-01-01 00:00:01 +08 = 2026-12-31 11:00:01 NY */
    const int64_t now_eve = 1798732799; /* 2026-12-31 23:59:59 +08 */
    const int64_t now_dst = 1793638800; /* 2026-11-02 12:00 New York (EST) */
    struct edge g;
    edge_init(&g, state, now_mid);
    struct gorder os[] = {
        mk_order("MID-A", 0, 0, HK_ORDER_COMPLETED, 1798732799, 10000, 0,
                 0), /* 12-31 23:59:59 +08 */
        mk_order("MID-B", 1, 0, HK_ORDER_COMPLETED, 1798732800, 10000, 0,
                 2),                                                        /* 01-01 00:00:00 +08 */
        mk_order("MID-C", 2, 1, HK_ORDER_PAID, 1798693199, 10000, 0, 0),    /* 12-30 23:59:59 NY */
        mk_order("MID-D", 3, 1, HK_ORDER_PAID, 1798693200, 10000, 0, 2),    /* 12-31 00:00:00 NY */
        mk_order("DST-1", 4, 1, HK_ORDER_SHIPPED, 1793507400, 10000, 0, 4), /* 11-01 00:30 EDT */
        mk_order("DST-2", 5, 1, HK_ORDER_SHIPPED, 1793593800, 10000, 0, 4), /* 11-01 23:30 EST */
    };
    edge_send(&g, os, sizeof os / sizeof os[0]);
    /* one customer paid twice at the same instant, 2026-12-31T10:00Z: in Shanghai (sent first,
       the smaller order id; 31 December there) and New York (31 December there too, which is
       "today" in New York at now_mid); merged through the phone both orders carry */
    snprintf(g.people[6].phone, sizeof g.people[6].phone, "13900006666");
    struct gorder tie[] = {
        mk_order("TIE-SH", 6, 0, HK_ORDER_COMPLETED, 1798711200, 10000, 0, 0),
        mk_order("TIE-NY", 6, 1, HK_ORDER_COMPLETED, 1798711200, 10000, 0, 0),
    };
    tie[0].phone = tie[1].phone = true;
    edge_send(&g, tie, 2);
    int64_t ti = customer_of(&g, "TIE-SH");
    assert_int_equal(customer_of(&g, "TIE-NY"), ti);
    int64_t a = customer_of(&g, "MID-A"), b = customer_of(&g, "MID-B");
    int64_t c = customer_of(&g, "MID-C"), d = customer_of(&g, "MID-D");
    int64_t e1 = customer_of(&g, "DST-1"), e2 = customer_of(&g, "DST-2");

    hk_clock_set(&g.v.app.clock, now_mid);
    svc_rescore(g.followed);
    struct hk_engine_svc *fresh = svc_start(&g.v);
    struct hk_engine_svc *es[2] = {fresh, g.followed};
    expect_customer(es, 2, a, now_mid, true, 1, 1, 10000, 0);
    expect_customer(es, 2, b, now_mid, true, 0, 1, 10000, 0);
    expect_customer(es, 2, c, now_mid, true, 1, 1, 10000, 0);
    expect_customer(es, 2, d, now_mid, true, 0, 1, 10000, 0);
    expect_customer(es, 2, ti, now_mid, true, 1, 2, 20000, 0); /* Shanghai's order: smaller id */
    expect_count(es, 2, "recency_days = 0", now_mid, 2);
    expect_count(es, 2, "recency_days = 0 and (channel = \"taobao\" or channel = \"jd\")", now_mid,
                 2);
    expect_count(es, 2, "bought(within=1d)", now_mid, 3); /* B, D and New York's TIE */
    expect_count(es, 2, "bought(within=24h)", now_mid, 3);
    expect_count(es, 2, "bought(within=25h)", now_mid, 5);
    expect_count(es, 2, "bought(within=2d) and not bought(within=1d)", now_mid, 2);
    expect_count(es, 2, "bought(category=\"phones\", within=1d)", now_mid, 2);
    expect_count(es, 2, "bought(category=\"连衣裙\", within=1d)", now_mid, 1);
    expect_count(es, 2, "first_order_days between 1 and 1", now_mid, 3);
    expect_count(es, 2, "recency_days > 12h", now_mid, 5); /* A, C, TIE, the November orders */
    edge_diff(&g, fresh, now_mid, 80);
    hk_engine_svc_stop(fresh);

    /* one second before midnight: A was paid "now" (0 days), B in the future (-1) */
    hk_clock_set(&g.v.app.clock, now_eve);
    svc_rescore(g.followed);
    fresh = svc_start(&g.v);
    es[0] = fresh;
    expect_customer(es, 2, a, now_eve, true, 0, 1, 10000, 0);
    expect_customer(es, 2, b, now_eve, true, -1, 1, 10000, 0);
    expect_count(es, 2, "recency_days = 0", now_eve, 3); /* A, D and TIE */
    expect_count(es, 2, "recency_days < 0", now_eve, 1); /* B */
    expect_count(es, 2, "bought(within=1d)", now_eve, 4);
    edge_diff(&g, fresh, now_eve, 60);
    hk_engine_svc_stop(fresh);

    /* New York's 25-hour 1 November: both orders are one day ago on 2 November */
    hk_clock_set(&g.v.app.clock, now_dst);
    svc_rescore(g.followed);
    fresh = svc_start(&g.v);
    es[0] = fresh;
    expect_customer(es, 2, e1, now_dst, true, 1, 1, 10000, 0);
    expect_customer(es, 2, e2, now_dst, true, 1, 1, 10000, 0);
    expect_count(es, 2, "recency_days = 1", now_dst, 2);
    expect_count(es, 2, "bought(product=\"P104\", within=1d)", now_dst, 0);
    expect_count(es, 2, "bought(product=\"P104\", within=2d)", now_dst, 2);
    edge_diff(&g, fresh, now_dst, 60);
    hk_engine_svc_stop(fresh);
    edge_release(&g);
}

/* Refunds: partial and full amounts on counted orders, the refunded status, refunds sent later. */
static void engine_sql__refunds_count_by_amount_and_status(void **state)
{
    struct edge g;
    edge_init(&g, state, NOW1);
    const int64_t day = 86400;
    struct gorder os[] = {
        /* customer 0: 100.00 with 30.00 back, and 50.00 all back but still completed */
        mk_order("RF-1", 0, 0, HK_ORDER_COMPLETED, NOW1 - 10 * day, 10000, 3000, 0),
        mk_order("RF-2", 0, 0, HK_ORDER_COMPLETED, NOW1 - 5 * day, 5000, 5000, 2),
        /* customer 1: refunded (status) */
        mk_order("RF-3", 1, 0, HK_ORDER_REFUNDED, NOW1 - 5 * day, 8000, 8000, 2),
        /* customer 2: paid, refunded later; customer 3: completed, partly refunded later */
        mk_order("RF-4", 2, 0, HK_ORDER_PAID, NOW1 - 3 * day, 20000, 0, 4),
        mk_order("RF-5", 3, 0, HK_ORDER_COMPLETED, NOW1 - 3 * day, 12000, 0, 4),
    };
    edge_send(&g, os, sizeof os / sizeof os[0]);
    int64_t c0 = customer_of(&g, "RF-1"), c1 = customer_of(&g, "RF-3");
    int64_t c2 = customer_of(&g, "RF-4"), c3 = customer_of(&g, "RF-5");
    struct hk_engine_svc *es[2] = {g.followed, NULL};
    expect_customer(es, 1, c2, NOW1, true, 3, 1, 20000, 0);
    expect_customer(es, 1, c3, NOW1, true, 3, 1, 12000, 0);
    expect_count(es, 1, "monetary > 0", NOW1, 3);

    struct gorder later[] = {
        mk_order("RF-4", 2, 0, HK_ORDER_REFUNDED, NOW1 - 3 * day, 20000, 20000, 4),
        mk_order("RF-5", 3, 0, HK_ORDER_COMPLETED, NOW1 - 3 * day, 12000, 2000, 4),
    };
    edge_send(&g, later, 2);
    es[1] = svc_start(&g.v);
    expect_customer(es, 2, c0, NOW1, true, 5, 2, 7000, 2);
    expect_customer(es, 2, c1, NOW1, true, NOREC, 0, 0, 1);
    expect_customer(es, 2, c2, NOW1, true, NOREC, 0, 0, 1);
    expect_customer(es, 2, c3, NOW1, true, 3, 1, 10000, 1);
    expect_count(es, 2, "refund_count >= 1", NOW1, 4);
    expect_count(es, 2, "refund_count = 2", NOW1, 1);
    expect_count(es, 2, "monetary = 70", NOW1, 1);
    expect_count(es, 2, "aov = 35", NOW1, 1);
    expect_count(es, 2, "aov > 34.99 and aov < 35.01", NOW1, 1);
    expect_count(es, 2, "frequency = 0", NOW1, 2);
    expect_count(es, 2, "bought()", NOW1, 2);
    expect_count(es, 2, "monetary > 0", NOW1, 2);
    expect_count(es, 2, "not monetary > 0", NOW1, 2);
    expect_count(es, 2, "bought(product=\"P104\")", NOW1, 1);    /* RF-5 only: RF-4 refunded */
    expect_count(es, 2, "bought(category=\"phones\")", NOW1, 1); /* RF-2 (net 0) counts */
    expect_count(es, 2, "main_category = \"连衣裙\"", NOW1, 1);  /* 70.00 against 0.00 */
    expect_count(es, 2, "recency_days = 5", NOW1, 1);
    expect_count(es, 2, "not recency_days <= 5", NOW1, 2);
    edge_diff(&g, es[1], NOW1, 80);
    hk_engine_svc_stop(es[1]);
    edge_release(&g);
}

/* A phone shared by two accounts merges their customers (history moves to the winner); undoing
 * the merge moves it back, and the pair then stays apart. */
static void engine_sql__merges_and_unmerges_move_history(void **state)
{
    struct edge g;
    edge_init(&g, state, NOW1);
    const int64_t day = 86400;
    snprintf(g.people[0].phone, sizeof g.people[0].phone, "13912345678");
    snprintf(g.people[1].phone, sizeof g.people[1].phone, "13912345678");
    g.people[0].acct[1] = false; /* person 0 buys on taobao, person 1 (the same phone) on jd */
    g.people[1].acct[0] = false;
    struct gorder first[] = {
        mk_order("MG-1", 0, 0, HK_ORDER_COMPLETED, NOW1 - 40 * day, 10000, 0, 0),
        mk_order("MG-2", 0, 0, HK_ORDER_COMPLETED, NOW1 - 20 * day, 10000, 0, 0),
        mk_order("MG-3", 1, 1, HK_ORDER_PAID, NOW1 - 2 * day, 30000, 0, 2),
    };
    first[0].phone = true; /* the jd orders come without the phone for now */
    edge_send(&g, first, 3);
    ingest_event(&g.v, &g.people[1], 1, 1, "browse", NOW1 - day);
    svc_sync(g.followed);
    int64_t w = customer_of(&g, "MG-1"), l = customer_of(&g, "MG-3");
    assert_true(w < l);
    struct hk_engine_svc *es[2] = {g.followed, NULL};
    expect_count(es, 1, "frequency >= 1", NOW1, 2);
    expect_count(es, 1, "channel = \"jd\" and channel = \"taobao\"", NOW1, 0);

    /* a jd order with the phone: identity resolution merges jd's customer into taobao's */
    struct gorder link[] = {mk_order("MG-4", 1, 1, HK_ORDER_SHIPPED, NOW1 - day, 5000, 0, 4)};
    link[0].phone = true;
    edge_send(&g, link, 1);
    assert_int_equal(customer_of(&g, "MG-3"), w);
    es[1] = svc_start(&g.v);
    expect_customer(es, 2, w, NOW1, true, 1, 4, 55000, 0);
    expect_customer(es, 2, l, NOW1, false, NOREC, 0, 0, 0);
    expect_count(es, 2, "frequency >= 1", NOW1, 1);
    expect_count(es, 2, "channel = \"jd\" and channel = \"taobao\"", NOW1, 1);
    expect_count(es, 2, "bought(category=\"phones\") and bought(category=\"连衣裙\")", NOW1, 1);
    expect_count(es, 2, "event(type=\"browse\", within=2d) and first_order_days = 40", NOW1, 1);
    expect_count(es, 2, "not frequency = 4", NOW1, 0);
    edge_diff(&g, es[1], NOW1, 60);
    hk_engine_svc_stop(es[1]);

    /* undo: the jd orders (MG-4 came through jd's identity too) and the event go back */
    struct hk_err err = {0};
    if (hk_merges_undo(g.t->store, l, 0, "test", NOW1, NULL, &err) != 0)
        fail_msg("undo: %s", err.msg);
    svc_sync(g.followed);
    es[1] = svc_start(&g.v);
    expect_customer(es, 2, w, NOW1, true, 20, 2, 20000, 0);
    expect_customer(es, 2, l, NOW1, true, 1, 2, 35000, 0);
    expect_count(es, 2, "frequency >= 1", NOW1, 2);
    expect_count(es, 2, "channel = \"jd\" and channel = \"taobao\"", NOW1, 0);
    expect_count(es, 2, "event(type=\"browse\") and channel = \"jd\"", NOW1, 1);
    hk_engine_svc_stop(es[1]);

    /* the phone again on jd: never-merge keeps them apart, the order stays with jd's customer */
    struct gorder again[] = {mk_order("MG-5", 1, 1, HK_ORDER_PAID, NOW1 - day, 1000, 0, 4)};
    again[0].phone = true;
    edge_send(&g, again, 1);
    assert_int_equal(customer_of(&g, "MG-5"), l);
    es[1] = svc_start(&g.v);
    expect_customer(es, 2, l, NOW1, true, 1, 3, 36000, 0);
    expect_count(es, 2, "frequency >= 1", NOW1, 2);
    edge_diff(&g, es[1], NOW1, 60);
    hk_engine_svc_stop(es[1]);
    edge_release(&g);
}

/* An empty database answers 0 to everything (the complement of nobody is nobody); a shop with
 * no orders and customers without orders: non-buyers everywhere, missing values compare false. */
static void engine_sql__empty_database_and_empty_shop(void **state)
{
    struct edge g;
    edge_init(&g, state, NOW1);
    struct hk_engine_svc *es[2] = {g.followed, svc_start(&g.v)};
    static const char *const none[] = {
        "frequency = 0", "not frequency = 0",        "not bought()",
        "bought()",      "not recency_days > 90",    "recency_days <= 90 or not aov > 0",
        "monetary = 0",  "not channel = \"taobao\"", "not event()"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
        expect_count(es, 2, none[i], NOW1, 0);
    struct hk_err err = {0};
    struct probe_ids got = {0};
    assert_int_equal(probe_members(es[1], "bought(category=\"phones\")", NOW1, &got, &err),
                     HK_E(INVAL));
    hk_engine_svc_stop(es[1]);

    /* three customers, one event in a shop that has no orders */
    for (int i = 0; i < 3; i++) {
        g.people[i].province = i ? "浙江省" : "";
        ingest_customer(&g.v, &g.people[i], 0);
    }
    ingest_event(&g.v, &g.people[0], 0, 2, "browse", NOW1 - 3600);
    svc_sync(g.followed);
    assert_int_equal(q_int(g.t->store, "SELECT COUNT(*) FROM shops"), 1);
    assert_int_equal(q_int(g.t->store, "SELECT COUNT(*) FROM orders"), 0);
    es[1] = svc_start(&g.v);
    expect_count(es, 2, "frequency = 0", NOW1, 3);
    expect_count(es, 2, "monetary = 0 and refund_count = 0", NOW1, 3);
    expect_count(es, 2, "not recency_days > 90", NOW1, 3);
    expect_count(es, 2, "recency_days <= 90", NOW1, 0);
    expect_count(es, 2, "recency_days > 90", NOW1, 0);
    expect_count(es, 2, "aov >= 0 or coupon_use_rate >= 0 or first_order_days >= 0", NOW1, 0);
    expect_count(es, 2, "not aov >= 0", NOW1, 3);
    expect_count(es, 2, "r_score >= 1 or rfm_tier = \"其他\"", NOW1, 0);
    expect_count(es, 2, "bought() or bought(within=30d)", NOW1, 0);
    expect_count(es, 2, "not bought()", NOW1, 3);
    expect_count(es, 2, "event(type=\"browse\", within=1d)", NOW1, 1);
    expect_count(es, 2, "province = \"浙江省\"", NOW1, 2);
    expect_count(es, 2, "province != \"浙江省\"", NOW1, 0); /* the third has no province */
    expect_count(es, 2, "province != \"江苏\"", NOW1, 2);
    expect_count(es, 2, "channel = \"taobao\"", NOW1, 3);
    expect_count(es, 2, "channel != \"taobao\"", NOW1, 0);
    expect_count(es, 2, "channel != \"jd\"", NOW1, 3);
    edge_diff(&g, es[1], NOW1, 80);
    hk_engine_svc_stop(es[1]);
    edge_release(&g);
}

/* A customer whose orders are all cancelled or unpaid: frequency 0, no recency (so
 * `not recency_days > 90` includes them and `recency_days <= 90` does not), no scores. */
static void engine_sql__only_cancelled_orders_make_no_buyer(void **state)
{
    struct edge g;
    edge_init(&g, state, NOW1);
    const int64_t day = 86400;
    struct gorder os[] = {
        mk_order("CX-1", 0, 0, HK_ORDER_CANCELLED, NOW1 - 2 * day, 9000, 0, 0), /* paid_at set */
        mk_order("CX-2", 0, 0, HK_ORDER_CANCELLED, 0, 3000, 0, 2),
        mk_order("CX-3", 0, 0, HK_ORDER_CREATED, 0, 5000, 0, 4),
        mk_order("CY-1", 1, 0, HK_ORDER_COMPLETED, 1790128800, 20000, 0, 0), /* 100 days ago */
    };
    edge_send(&g, os, sizeof os / sizeof os[0]);
    int64_t x = customer_of(&g, "CX-1"), y = customer_of(&g, "CY-1");
    struct hk_engine_svc *es[2] = {g.followed, svc_start(&g.v)};
    expect_customer(es, 2, x, NOW1, true, NOREC, 0, 0, 0);
    expect_customer(es, 2, y, NOW1, true, 100, 1, 20000, 0);
    for (size_t i = 0; i < 2; i++) {
        struct hk_err err = {0};
        struct probe_agg a;
        assert_int_equal(probe_get(es[i], x, NOW1, &a, &err), 0);
        assert_int_equal(a.orders, 3);
        assert_int_equal(a.r, 0);
        assert_string_equal(a.main_category, "");
        assert_string_equal(a.rfm_segment, "");
    }
    expect_count(es, 2, "not recency_days > 90", NOW1, 1); /* x */
    expect_count(es, 2, "recency_days <= 90", NOW1, 0);
    expect_count(es, 2, "recency_days > 90", NOW1, 1); /* y */
    expect_count(es, 2, "recency_days = 100 and first_order_days = 100", NOW1, 1);
    expect_count(es, 2, "frequency = 0", NOW1, 1);
    expect_count(es, 2, "bought()", NOW1, 1);
    expect_count(es, 2, "bought(within=1000d)", NOW1, 1);
    expect_count(es, 2, "not bought(within=3d)", NOW1, 2);
    expect_count(es, 2, "bought(category=\"phones\")", NOW1, 0);
    expect_count(es, 2, "not r_score >= 1", NOW1, 1);
    expect_count(es, 2, "main_category = \"连衣裙\"", NOW1, 1);
    expect_count(es, 2, "not main_category = \"连衣裙\"", NOW1, 1);
    expect_count(es, 2, "aov = 200 and not aov != 200", NOW1, 1);
    edge_diff(&g, es[1], NOW1, 80);
    hk_engine_svc_stop(es[1]);
    edge_release(&g);
}

/* The import fixtures of every format through hk_import_files: Taobao's order list first (its
 * lines are placeholders), the other formats, then Taobao's detail list, which replaces the
 * placeholder lines; the followed engine syncs after each file. */
static void engine_sql__file_imports_of_every_format_match_sql(void **state)
{
    struct edge g;
    edge_init(&g, state, NOW1);
    static const char *const files[] = {"ExportOrderList202603.csv",
                                        "generic-orders.csv",
                                        "jd-orders.csv",
                                        "pdd-orders.csv",
                                        "douyin-orders.csv",
                                        "ExportOrderDetailList202603.csv"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        struct hk_import_result res;
        tdb_import1(g.t, fixture(files[i]), &res);
        assert_int_equal(res.rejected, 0);
        hk_import_result_release(&res);
        svc_sync(g.followed);
    }
    assert_true(q_int(g.t->store, "SELECT COUNT(*) FROM order_items WHERE placeholder = 0") > 0);
    struct hk_engine_svc *fresh = svc_start(&g.v);
    struct hk_engine_svc *es[2] = {fresh, g.followed};
    size_t buyers =
        (size_t)q_int(g.t->store, "SELECT COUNT(DISTINCT c.id) FROM customers c JOIN orders o ON"
                                  " o.customer_id = c.id WHERE c.merged_into IS NULL AND o.status"
                                  " IN ('paid', 'shipped', 'completed') AND o.paid_at IS NOT NULL");
    assert_true(buyers > 3);
    expect_count(es, 2, "frequency >= 1", NOW1, buyers);
    expect_count(es, 2, "bought()", NOW1, buyers);
    edge_diff(&g, fresh, NOW1, 150);
    hk_engine_svc_stop(fresh);
    edge_release(&g);
}

/*
 * A product whose category is first unknown and filled by a later order (the importer fills
 * products.category where empty). A freshly loaded engine sees the category on every line of
 * the product; an engine following the change log keeps it missing on the lines of customers
 * the later write did not touch, unless filling the category touches every buyer of the product.
 */
static void engine_sql__product_category_filled_later_reaches_followed_engine(void **state)
{
    struct edge g;
    edge_init(&g, state, NOW1);
    struct gorder a = mk_order("PC-1", 0, 0, HK_ORDER_COMPLETED, NOW1 - 86400, 10000, 0, 13);
    a.lines[0].cat = ""; /* P113 without its category */
    edge_send(&g, &a, 1);
    struct gorder b = mk_order("PC-2", 1, 0, HK_ORDER_COMPLETED, NOW1 - 86400, 10000, 0, 13);
    edge_send(&g, &b, 1); /* P113 with 零食: products.category is filled */
    struct hk_engine_svc *es[2] = {svc_start(&g.v), g.followed};
    expect_count(es, 2, "bought(category=\"零食\")", NOW1, 2);
    expect_count(es, 2, "main_category = \"零食\"", NOW1, 2);
    hk_engine_svc_stop(es[0]);
    edge_release(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(engine_sql__random_expressions_match_sql_seed_1, tdb_setup,
                                        tdb_teardown),
        cmocka_unit_test_setup_teardown(engine_sql__random_expressions_match_sql_seed_2, tdb_setup,
                                        tdb_teardown),
        cmocka_unit_test_setup_teardown(engine_sql__days_ago_follows_the_shop_local_midnight,
                                        tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(engine_sql__refunds_count_by_amount_and_status, tdb_setup,
                                        tdb_teardown),
        cmocka_unit_test_setup_teardown(engine_sql__merges_and_unmerges_move_history, tdb_setup,
                                        tdb_teardown),
        cmocka_unit_test_setup_teardown(engine_sql__empty_database_and_empty_shop, tdb_setup,
                                        tdb_teardown),
        cmocka_unit_test_setup_teardown(engine_sql__only_cancelled_orders_make_no_buyer, tdb_setup,
                                        tdb_teardown),
        cmocka_unit_test_setup_teardown(engine_sql__file_imports_of_every_format_match_sql,
                                        tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(
            engine_sql__product_category_filled_later_reaches_followed_engine, tdb_setup,
            tdb_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
