/*
 * engine_svc.c — the engine in the application (see engine_svc.h for the contract).
 *
 * Sync, step by step (sync_once):
 *   1. Read change rows after the cursor (at most HK_SYNC_BATCH) and look up again the ids
 *      remembered as gaps. A row whose id jumps past cursor + 1 leaves the ids in between as
 *      gaps: on PostgreSQL they may belong to transactions still running. A gap is dropped once
 *      found or after HK_GAP_TTL_MS (a rolled-back transaction's ids never appear).
 *   2. Collect the distinct customers; 'all' (or more than HK_RELOAD_OVER customers) means a
 *      full reload: a new engine is loaded beside the old one and swapped in under the lock.
 *   3. For each customer, read its history from the store into a list of engine calls (a read
 *      transaction, no engine lock held), then take the write lock and replay: clear the
 *      customer, upsert it, re-add channels, tags, orders and events. Shops and products its
 *      orders refer to are registered first (idempotent).
 *   4. Advance the cursor, mark scores stale; the thread rescores at most every
 *      rescore_min_ms.
 *
 * Locking: rwlock (writer-preferring) around the engine pointer and contents; a mutex + condvar
 * for the thread's wake-ups and flags; a second mutex (sync_mu) so the thread and
 * hk_engine_svc_sync never run step 1-4 at once (the cursor and gaps belong to whoever holds it).
 */
#include "services/engine_svc.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "engine/engine.h"
#include "engine/snapshot.h"
#include "services/app.h"
#include "services/engine_load.h"
#include "services/rfm_svc.h"
#include "services/tag_rules.h"
#include "store/changes_repo.h"
#include "store/engine_repo.h"
#include "store/store.h"

#define HK_SYNC_BATCH       20000
#define HK_RELOAD_OVER      20000
#define HK_APPLY_CHUNK      500
#define HK_GAPS_MAX         256
#define HK_GAP_TTL_MS       10000
#define HK_RESCORE_EVERY_MS 60000
#define HK_LISTENERS_MAX    8
/* A snapshot start re-reads the customers changed since the file; past this many change rows a
 * full load is faster (bench/RESULTS.md, "Engine snapshot": 10,000 customers took 4-8 s of
 * random reads at 10M orders with a cold page cache, the full load 13-20 s of CPU). */
#define HK_SNAP_CATCHUP_MAX 30000

struct listener {
    void (*fn)(void *ctx);
    void *ctx;
};

struct gap {
    int64_t id;
    int64_t until_ms;
};

struct hk_engine_svc {
    struct hk_app *app; /* borrowed */
    struct hk_engine_svc_opts opts;
    pthread_rwlock_t lock;
    struct hk_engine *engine;   /* owned; guarded by lock */
    struct hk_tag_rules *rules; /* owned; guarded by lock (derived into engine's tag bitmaps) */

    pthread_mutex_t sync_mu;   /* held while syncing: cursor, gaps */
    pthread_mutex_t rules_mu;  /* held while re-reading and installing the rule tags */
    pthread_mutex_t derive_mu; /* one rule-tag derive at a time (derive_shared) */
    uint64_t mutations; /* bumped by every write-lock section that changes the engine (lock) */
    int64_t cursor;
    struct gap gaps[HK_GAPS_MAX];
    size_t ngaps;

    pthread_mutex_t mu; /* guards the fields below */
    pthread_cond_t cv;
    bool nudged, stop, dirty, thread_started;
    bool tags_stale; /* customers were replayed since the last rule-tag derive */
    int64_t last_rescore_ms;
    struct hk_engine_svc_stats stats;
    struct listener listeners[HK_LISTENERS_MAX];
    size_t nlisteners;
    pthread_t thread;

    /* engine snapshot: path ("" = off); the history version (customers re-read + full reloads,
     * under mu) the file on disk reflects; the periodic writer thread waits on snap_cv (mu) */
    char snap_path[4096];
    uint64_t snap_version;
    bool snap_valid;         /* snap_version means something (a file of this history exists) */
    pthread_mutex_t snap_mu; /* one snapshot write at a time */
    pthread_cond_t snap_cv;
    pthread_t snap_thread;
    bool snap_thread_started;
};

/* ---- recorded engine calls ------------------------------------------------------------------ */

enum op_kind {
    OP_SHOP,
    OP_SHOP_NAME,
    OP_PRODUCT,
    OP_CUSTOMER,
    OP_CHANNEL,
    OP_TAG,
    OP_ORDER,
    OP_EVENT
};

struct op {
    enum op_kind kind;
    int64_t a, b, c; /* ids and times, by kind */
    char *s1, *s2;   /* owned */
    struct hk_engine_order order;
    struct hk_engine_line *lines; /* owned */
};

struct oplist {
    struct op *v;
    size_t n, cap;
};

static void oplist_clear(struct oplist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].s1);
        free(l->v[i].s2);
        free(l->v[i].lines);
    }
    l->n = 0;
}

static void oplist_free(struct oplist *l)
{
    oplist_clear(l);
    free(l->v);
    l->v = NULL;
    l->cap = 0;
}

static struct op *op_push(struct oplist *l, enum op_kind k, struct hk_err *err)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        struct op *p = realloc(l->v, nc * sizeof(*p));
        if (!p) {
            hk_err_set(err, HK_E(NOMEM), "out of memory syncing the engine");
            return NULL;
        }
        l->v = p;
        l->cap = nc;
    }
    struct op *o = &l->v[l->n++];
    memset(o, 0, sizeof(*o));
    o->kind = k;
    return o;
}

static int op_strs(struct op *o, const char *s1, const char *s2, struct hk_err *err)
{
    o->s1 = strdup(s1 ? s1 : "");
    o->s2 = strdup(s2 ? s2 : "");
    if (!o->s1 || !o->s2)
        return hk_err_set(err, HK_E(NOMEM), "out of memory syncing the engine");
    return 0;
}

static int rec_shop(void *ctx, int64_t id, const char *tz, struct hk_err *err)
{
    struct op *o = op_push(ctx, OP_SHOP, err);
    if (!o)
        return HK_E(NOMEM);
    o->a = id;
    return op_strs(o, tz, NULL, err);
}

static int rec_shop_name(void *ctx, int64_t id, const char *channel, const char *name,
                         struct hk_err *err)
{
    struct op *o = op_push(ctx, OP_SHOP_NAME, err);
    if (!o)
        return HK_E(NOMEM);
    o->a = id;
    return op_strs(o, channel, name, err);
}

static int rec_product(void *ctx, int64_t id, const char *ext, const char *cat, struct hk_err *err)
{
    struct op *o = op_push(ctx, OP_PRODUCT, err);
    if (!o)
        return HK_E(NOMEM);
    o->a = id;
    return op_strs(o, ext, cat, err);
}

static int rec_customer(void *ctx, int64_t id, const char *province, const char *city,
                        int64_t merged_into, struct hk_err *err)
{
    struct op *o = op_push(ctx, OP_CUSTOMER, err);
    if (!o)
        return HK_E(NOMEM);
    o->a = id;
    o->b = merged_into;
    return op_strs(o, province, city, err);
}

static int rec_channel(void *ctx, int64_t customer_id, const char *channel, struct hk_err *err)
{
    if (strcmp(channel, "any") == 0 || strcmp(channel, "*") == 0)
        return 0; /* phone / e-mail identities are not sales channels (engine_load.c) */
    struct op *o = op_push(ctx, OP_CHANNEL, err);
    if (!o)
        return HK_E(NOMEM);
    o->a = customer_id;
    return op_strs(o, channel, NULL, err);
}

static int rec_tag(void *ctx, int64_t customer_id, const char *tag, struct hk_err *err)
{
    struct op *o = op_push(ctx, OP_TAG, err);
    if (!o)
        return HK_E(NOMEM);
    o->a = customer_id;
    return op_strs(o, tag, NULL, err);
}

static int rec_order(void *ctx, const struct hk_engine_repo_order *ro, struct hk_err *err)
{
    enum hk_order_status st;
    if (hk_engine_status_parse(ro->status, &st))
        return hk_err_set(err, HK_E(INVAL), "order %lld has an unknown status '%s'",
                          (long long)ro->id, ro->status);
    struct op *o = op_push(ctx, OP_ORDER, err);
    if (!o)
        return HK_E(NOMEM);
    if (ro->n_lines) {
        o->lines = malloc(ro->n_lines * sizeof(*o->lines));
        if (!o->lines)
            return hk_err_set(err, HK_E(NOMEM), "out of memory syncing the engine");
        for (size_t i = 0; i < ro->n_lines; i++) {
            o->lines[i].product_id = ro->lines[i].product_id;
            o->lines[i].amount_fen = ro->lines[i].amount_fen;
        }
    }
    struct hk_engine_order eo = {ro->id,          ro->customer_id, ro->shop_id,  st,
                                 ro->has_paid_at, ro->paid_at,     ro->paid_fen, ro->refund_fen,
                                 ro->coupon,      o->lines,        ro->n_lines};
    o->order = eo;
    return 0;
}

static int rec_event(void *ctx, int64_t customer_id, int64_t shop_id, const char *type, int64_t at,
                     struct hk_err *err)
{
    struct op *o = op_push(ctx, OP_EVENT, err);
    if (!o)
        return HK_E(NOMEM);
    o->a = customer_id;
    o->b = shop_id;
    o->c = at;
    return op_strs(o, type, NULL, err);
}

/* Replays recorded calls on e (write lock held). */
static int replay(struct hk_engine *e, const struct oplist *l, struct hk_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < l->n && rc == 0; i++) {
        const struct op *o = &l->v[i];
        switch (o->kind) {
        case OP_SHOP:
            rc = hk_engine_add_shop(e, o->a, o->s1, err);
            break;
        case OP_SHOP_NAME:
            rc = hk_engine_shop_describe(e, o->a, o->s1, o->s2, err);
            break;
        case OP_PRODUCT:
            rc = hk_engine_add_product(e, o->a, o->s1, o->s2, err);
            break;
        case OP_CUSTOMER: {
            struct hk_engine_customer c = {o->a, o->s1, o->s2, o->b};
            rc = hk_engine_customer_clear(e, o->a, err);
            if (rc == 0)
                rc = hk_engine_upsert_customer(e, &c, err);
            break;
        }
        case OP_CHANNEL:
            rc = hk_engine_add_channel(e, o->a, o->s1, err);
            break;
        case OP_TAG:
            rc = hk_engine_tag_set(e, o->a, o->s1, true, err);
            break;
        case OP_ORDER:
            rc = hk_engine_apply_order(e, &o->order, err);
            break;
        case OP_EVENT:
            rc = hk_engine_add_event(e, o->a, o->b, o->s1, o->c, err);
            break;
        }
    }
    return rc;
}

/* ---- change collection ---------------------------------------------------------------------- */

struct collect {
    struct hk_engine_svc *s;
    int64_t *ids;
    size_t n, cap;
    bool all, rfm, segment;
    int64_t rfm_shops[16]; /* the shops of 'rfm' rows (customer_id carries the shop) */
    size_t nrfm;
    int64_t max_id; /* of rows read after the cursor */
    uint64_t rows;
    int64_t now_ms;
};

static void gap_remove(struct hk_engine_svc *s, int64_t id)
{
    for (size_t i = 0; i < s->ngaps; i++)
        if (s->gaps[i].id == id) {
            s->gaps[i] = s->gaps[--s->ngaps];
            return;
        }
}

static void gap_add(struct hk_engine_svc *s, int64_t id, int64_t until_ms)
{
    if (s->ngaps == HK_GAPS_MAX) { /* drop the oldest-expiring one */
        size_t k = 0;
        for (size_t i = 1; i < s->ngaps; i++)
            if (s->gaps[i].until_ms < s->gaps[k].until_ms)
                k = i;
        s->gaps[k] = s->gaps[--s->ngaps];
    }
    s->gaps[s->ngaps].id = id;
    s->gaps[s->ngaps].until_ms = until_ms;
    s->ngaps++;
}

static int collect_row(void *ctx, const struct hk_change *c, struct hk_err *err)
{
    struct collect *k = ctx;
    k->rows++;
    if (strcmp(c->kind, "all") == 0)
        k->all = true;
    else if (strcmp(c->kind, "rfm") == 0) {
        k->rfm = true;
        size_t i = 0;
        while (i < k->nrfm && k->rfm_shops[i] != c->customer_id)
            i++;
        if (i == k->nrfm && k->nrfm < 16)
            k->rfm_shops[k->nrfm++] = c->customer_id;
        else if (i == k->nrfm)
            k->all = true; /* configurations of many shops at once: reload everything */
    } else if (strcmp(c->kind, "segment") == 0)
        k->segment = true;
    else if (c->customer_id > 0 && !k->all) {
        if (k->n == k->cap) {
            size_t nc = k->cap ? k->cap * 2 : 256;
            int64_t *p = realloc(k->ids, nc * sizeof(*p));
            if (!p)
                return hk_err_set(err, HK_E(NOMEM), "out of memory syncing the engine");
            k->ids = p;
            k->cap = nc;
        }
        k->ids[k->n++] = c->customer_id;
    }
    return 0;
}

/* Rows after the cursor: also records the ids skipped over as gaps. */
static int collect_after(void *ctx, const struct hk_change *c, struct hk_err *err)
{
    struct collect *k = ctx;
    struct hk_engine_svc *s = k->s;
    int64_t expect = (k->max_id ? k->max_id : s->cursor) + 1;
    /* Only a bounded run of skipped ids can be a transaction still in flight. */
    for (int64_t id = expect; id < c->id && id < expect + HK_GAPS_MAX; id++)
        gap_add(s, id, k->now_ms + HK_GAP_TTL_MS);
    k->max_id = c->id;
    return collect_row(ctx, c, err);
}

static int collect_gap(void *ctx, const struct hk_change *c, struct hk_err *err)
{
    struct collect *k = ctx;
    gap_remove(k->s, c->id);
    return collect_row(ctx, c, err);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts ids[0..n) and drops the repeats; returns how many are left. */
static size_t sort_unique(int64_t *ids, size_t n)
{
    if (n > 1)
        qsort(ids, n, sizeof(*ids), cmp_i64);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || ids[m - 1] != ids[i])
            ids[m++] = ids[i];
    return m;
}

/* ---- loading and swapping ------------------------------------------------------------------- */

static void log_err(struct hk_engine_svc *s, const char *event, const struct hk_err *err)
{
    hk_log_kv(&s->app->log, HK_LOG_ERROR, event, NULL, "error", hk_err_message(err), NULL);
}

static void bump(struct hk_engine_svc *s)
{
    pthread_mutex_lock(&s->mu);
    s->stats.version++;
    pthread_mutex_unlock(&s->mu);
}

static void notify(struct hk_engine_svc *s)
{
    struct listener l[HK_LISTENERS_MAX];
    pthread_mutex_lock(&s->mu);
    size_t n = s->nlisteners;
    memcpy(l, s->listeners, n * sizeof(*l));
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < n; i++)
        l[i].fn(l[i].ctx);
}

static int rules_reload(struct hk_engine_svc *s, struct hk_err *err);

static void derive_done(struct hk_engine_svc *s, const struct hk_tag_rules_result *res)
{
    pthread_mutex_lock(&s->mu);
    s->stats.tag_derives++;
    s->stats.tags_us = res->us;
    s->stats.rule_tags = res->rules;
    pthread_mutex_unlock(&s->mu);
    char us[24], n[24], changed[24];
    snprintf(us, sizeof us, "%lld", (long long)res->us);
    snprintf(n, sizeof n, "%zu", res->rules);
    snprintf(changed, sizeof changed, "%zu", res->changed);
    hk_log_kv(&s->app->log, res->us > 200000 ? HK_LOG_WARN : HK_LOG_DEBUG, "engine.tags_derived",
              NULL, "us", us, "rules", n, "changed", changed, (const char *)NULL);
}

/* Derives the rule tags into e, which nobody else sees yet (a fresh load). */
static int derive_exclusive(struct hk_engine_svc *s, struct hk_engine *e,
                            struct hk_tag_rules *rules, struct hk_err *err)
{
    struct hk_tag_rules_result res;
    int rc = hk_tag_rules_derive(rules, NULL, e, hk_clock_now(&s->app->clock), &res, err);
    if (!rc)
        derive_done(s, &res);
    return rc;
}

/*
 * Derives the rule tags into the shared engine: evaluates under the read lock (readers go on),
 * installs under the write lock (microseconds). If any writer changed the engine in between
 * (mutations moved), the result is stale and is evaluated again; a few retries, then under the
 * write lock throughout. Rules naming rule tags take up to `levels` rounds. derive_mu makes one
 * derive at a time (the rules' result buffers are the rules').
 */
static int derive_shared(struct hk_engine_svc *s, struct hk_err *err)
{
    pthread_mutex_lock(&s->derive_mu);
    pthread_mutex_lock(&s->mu);
    s->tags_stale = false; /* what is replayed from here on marks it again */
    pthread_mutex_unlock(&s->mu);
    int64_t now = hk_clock_now(&s->app->clock);
    struct hk_tag_rules_result total = {0};
    int rc = 0, rounds = 0, retries = 0;
    for (;;) {
        struct hk_tag_rules_result one = {0};
        bool locked_through = retries >= 3;
        if (locked_through)
            pthread_rwlock_wrlock(&s->lock);
        else
            pthread_rwlock_rdlock(&s->lock);
        struct hk_tag_rules *r = s->rules;
        uint64_t m0 = s->mutations;
        int levels = hk_tag_rules_levels(r);
        if (hk_tag_rules_count(r) == 0) {
            pthread_rwlock_unlock(&s->lock);
            break;
        }
        rc = hk_tag_rules_eval(r, s->engine, now, &one, err);
        bool same = true;
        if (!locked_through) {
            pthread_rwlock_unlock(&s->lock);
            if (rc)
                break;
            pthread_rwlock_wrlock(&s->lock);
            same = s->mutations == m0 && s->rules == r;
        }
        if (!rc && same)
            rc = hk_tag_rules_assign(r, s->engine, &one, err);
        pthread_rwlock_unlock(&s->lock);
        total.rules = one.rules;
        total.failed = one.failed;
        total.us += one.us;
        total.changed += one.changed;
        if (rc)
            break;
        if (!same) {
            retries++;
            continue;
        }
        if (one.changed == 0 || ++rounds >= levels)
            break;
    }
    pthread_mutex_unlock(&s->derive_mu);
    if (!rc)
        derive_done(s, &total);
    return rc;
}

/* Derives the rule tags if customers were replayed since the last derive. */
static int tags_due(struct hk_engine_svc *s, struct hk_err *err)
{
    pthread_mutex_lock(&s->mu);
    bool stale = s->tags_stale;
    pthread_mutex_unlock(&s->mu);
    return stale ? derive_shared(s, err) : 0;
}

/* Loads a whole new engine as of now with the stored RFM configuration and rule tags (*rules
 * new: the rule tags it was derived with). */
static int load_full(struct hk_engine_svc *s, struct hk_engine **out, struct hk_tag_rules **rules,
                     int64_t *ms, struct hk_err *err)
{
    int64_t t0 = hk_monotonic_ms();
    struct hk_engine_opts eo = {s->app->cfg.timezone, 0};
    int64_t now = hk_clock_now(&s->app->clock);
    struct hk_engine *e = NULL;
    int rc = hk_engine_load_from_store(s->app->store, &eo, now, &e, err);
    if (rc)
        return rc;
    rc = hk_rfm_svc_engine_setup(s->app, e, err); /* shop names, every shop's configuration */
    if (!rc)
        rc = hk_engine_rescore(e, now, err);
    struct hk_tag_rules *r = NULL;
    if (!rc)
        rc = hk_tag_rules_load(s->app, &r, err);
    if (!rc)
        rc = derive_exclusive(s, e, r, err);
    if (rc) {
        hk_tag_rules_free(r);
        hk_engine_free(e);
        return rc;
    }
    *ms = hk_monotonic_ms() - t0;
    *out = e;
    *rules = r;
    return 0;
}

static void refresh_stats(struct hk_engine_svc *s)
{
    struct hk_engine_memory m;
    pthread_rwlock_rdlock(&s->lock);
    hk_engine_memory(s->engine, &m);
    size_t rows = hk_engine_rows(s->engine), live = hk_engine_live_customers(s->engine);
    pthread_rwlock_unlock(&s->lock);
    pthread_mutex_lock(&s->mu);
    s->stats.bytes = m.bytes_total;
    s->stats.customers = rows;
    s->stats.live = live;
    s->stats.orders = m.orders;
    s->stats.events = m.events;
    pthread_mutex_unlock(&s->mu);
}

static int full_reload(struct hk_engine_svc *s, struct hk_err *err)
{
    struct hk_engine *e = NULL;
    struct hk_tag_rules *rules = NULL;
    int64_t ms = 0;
    int rc = load_full(s, &e, &rules, &ms, err);
    if (rc)
        return rc;
    pthread_rwlock_wrlock(&s->lock);
    struct hk_engine *old = s->engine;
    struct hk_tag_rules *old_rules = s->rules;
    s->engine = e;
    s->rules = rules;
    s->mutations++;
    pthread_rwlock_unlock(&s->lock);
    hk_engine_free(old);
    hk_tag_rules_free(old_rules);
    pthread_mutex_lock(&s->mu);
    s->stats.full_reloads++;
    s->stats.load_ms = ms;
    s->stats.rescores++;
    s->dirty = false;
    s->last_rescore_ms = hk_monotonic_ms();
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static bool stopping(struct hk_engine_svc *s)
{
    pthread_mutex_lock(&s->mu);
    bool stop = s->stop;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

/* Which rule tags customers ids[0..k) carry (write lock held): new (free), NULL when none. */
static bool *rule_tags_keep(struct hk_engine_svc *s, const int64_t *ids, size_t k)
{
    size_t nr = hk_tag_rules_count(s->rules);
    bool *kept = nr ? calloc(nr * k, sizeof(*kept)) : NULL;
    for (size_t i = 0; kept && i < nr; i++) {
        const char *name = hk_tag_rules_name(s->rules, i);
        uint32_t t = hk_engine_dict_find(s->engine, HK_DICT_TAG, name, strlen(name));
        for (size_t j = 0; t != HK_ENGINE_NONE && j < k; j++)
            kept[i * k + j] = hk_engine_tag_has(s->engine, t, ids[j]);
    }
    return kept;
}

static int rule_tags_restore(struct hk_engine_svc *s, const int64_t *ids, size_t k,
                             const bool *kept, struct hk_err *err)
{
    size_t nr = hk_tag_rules_count(s->rules);
    int rc = 0;
    for (size_t i = 0; kept && i < nr && !rc; i++)
        for (size_t j = 0; j < k && !rc; j++)
            if (kept[i * k + j])
                rc =
                    hk_engine_tag_set(s->engine, ids[j], hk_tag_rules_name(s->rules, i), true, err);
    return rc;
}

/* Re-reads customers ids[0..n) and replaces them in the engine, in chunks. */
static int reload_customers(struct hk_engine_svc *s, const int64_t *ids, size_t n,
                            struct hk_err *err)
{
    struct oplist ops = {0};
    struct hk_engine_repo_sink sink = {&ops, rec_shop, rec_product, rec_customer, rec_channel,
                                       NULL, rec_tag,  rec_order,   rec_event,    rec_shop_name};
    int rc = 0;
    for (size_t done = 0; done < n && rc == 0; done += HK_APPLY_CHUNK) {
        if (stopping(s)) { /* shutting down: the cursor stays, nothing is lost */
            rc = hk_err_set(err, HK_E(UNAVAILABLE), "the engine is stopping");
            break;
        }
        size_t k = n - done < HK_APPLY_CHUNK ? n - done : HK_APPLY_CHUNK;
        struct hk_db *db;
        if ((rc = hk_db_acquire(s->app->store, &db, err)) != 0)
            break;
        rc = hk_db_begin(db, HK_TX_READ, err);
        for (size_t i = 0; i < k && rc == 0; i++)
            rc = (i % 64 == 63 && stopping(s))
                     ? hk_err_set(err, HK_E(UNAVAILABLE), "the engine is stopping")
                     : hk_engine_repo_load_customer(db, ids[done + i], &sink, err);
        if (rc == 0)
            rc = hk_db_commit(db, err);
        hk_db_release(db);
        if (rc)
            break;
        pthread_rwlock_wrlock(&s->lock);
        /* replaying clears these customers' rule tags: they keep the ones they had until the
         * derive below re-evaluates them, so readers never see them bare */
        bool *kept = rule_tags_keep(s, ids + done, k);
        rc = replay(s->engine, &ops, err);
        if (rc == 0)
            rc = rule_tags_restore(s, ids + done, k, kept, err);
        s->mutations++;
        pthread_rwlock_unlock(&s->lock);
        free(kept);
        oplist_clear(&ops);
    }
    oplist_free(&ops);
    if (rc == 0 && n) { /* derived once after this pass and any rescore (tags_due) */
        pthread_mutex_lock(&s->mu);
        s->tags_stale = true;
        pthread_mutex_unlock(&s->mu);
    }
    return rc;
}

static int rescore(struct hk_engine_svc *s, struct hk_err *err)
{
    int64_t now = hk_clock_now(&s->app->clock);
    pthread_rwlock_wrlock(&s->lock);
    int rc = hk_engine_rescore(s->engine, now, err);
    s->mutations++;
    pthread_rwlock_unlock(&s->lock);
    if (!rc) /* scores and now moved: rules on them (and on days) follow */
        rc = derive_shared(s, err);
    pthread_mutex_lock(&s->mu);
    s->last_rescore_ms = hk_monotonic_ms();
    if (!rc) {
        s->dirty = false;
        s->stats.rescores++;
        s->stats.version++;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* RFM configurations changed ('rfm' rows, one shop each): read them, then configure and
 * rescore just those shops under the write lock (rfm_svc.h); rule tags follow. */
static int apply_rfm_config(struct hk_engine_svc *s, const struct collect *k, struct hk_err *err)
{
    struct hk_rfm_changes *ch = NULL;
    int rc = hk_rfm_changes_read(s->app, k->rfm_shops, k->nrfm, &ch, err);
    if (rc)
        return rc;
    int64_t now = hk_clock_now(&s->app->clock);
    pthread_rwlock_wrlock(&s->lock);
    rc = hk_rfm_changes_apply(s->engine, ch, now, err);
    s->mutations++;
    pthread_rwlock_unlock(&s->lock);
    hk_rfm_changes_free(ch);
    pthread_mutex_lock(&s->mu);
    s->tags_stale = true;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* One pass over the log (sync_mu held). *changed: something was applied. */
static int sync_once(struct hk_engine_svc *s, bool *changed, struct hk_err *err)
{
    struct collect k;
    memset(&k, 0, sizeof k);
    k.s = s;
    k.now_ms = hk_monotonic_ms();
    *changed = false;

    for (size_t i = 0; i < s->ngaps;) /* forget gaps that never committed */
        if (s->gaps[i].until_ms < k.now_ms)
            s->gaps[i] = s->gaps[--s->ngaps];
        else
            i++;

    struct hk_db *db;
    int rc = hk_db_acquire(s->app->store, &db, err);
    if (rc)
        return rc;
    rc = hk_changes_after(db, s->cursor, HK_SYNC_BATCH, collect_after, &k, err);
    if (!rc && s->ngaps) {
        int64_t ids[HK_GAPS_MAX];
        size_t ng = s->ngaps;
        for (size_t i = 0; i < ng; i++)
            ids[i] = s->gaps[i].id;
        for (size_t i = 0; i < ng && !rc; i += 64)
            rc = hk_changes_by_ids(db, ids + i, ng - i < 64 ? ng - i : 64, collect_gap, &k, err);
    }
    hk_db_release(db);
    if (rc || k.rows == 0) {
        free(k.ids);
        return rc;
    }

    size_t n = sort_unique(k.ids, k.n);

    if (k.all || n > HK_RELOAD_OVER) {
        rc = full_reload(s, err);
    } else {
        if (k.rfm)
            rc = apply_rfm_config(s, &k, err);
        if (!rc && k.segment) /* tags or saved segments changed: the rules may have */
            rc = rules_reload(s, err);
        if (!rc && n)
            rc = reload_customers(s, k.ids, n, err);
    }
    free(k.ids);
    if (rc)
        return rc; /* the cursor stays: the next pass tries again */
    if (k.max_id > s->cursor)
        s->cursor = k.max_id;
    pthread_mutex_lock(&s->mu);
    s->stats.cursor = s->cursor;
    s->stats.changes_applied += k.rows;
    s->stats.customers_reloaded += n;
    s->stats.version++;
    if (!k.all && n <= HK_RELOAD_OVER)
        s->dirty = s->dirty || n > 0;
    pthread_mutex_unlock(&s->mu);
    *changed = true;
    return 0;
}

int hk_engine_svc_sync(struct hk_engine_svc *s, struct hk_err *err)
{
    bool changed = false;
    pthread_mutex_lock(&s->sync_mu);
    int rc;
    bool any = false;
    do { /* until the log is drained */
        rc = sync_once(s, &changed, err);
        any = any || changed;
    } while (rc == 0 && changed);
    changed = any;
    pthread_mutex_unlock(&s->sync_mu);
    if (rc)
        return rc;
    pthread_mutex_lock(&s->mu);
    bool dirty = s->dirty;
    pthread_mutex_unlock(&s->mu);
    if (dirty && (rc = rescore(s, err)) != 0)
        return rc;
    if ((rc = tags_due(s, err)) != 0)
        return rc;
    refresh_stats(s);
    if (changed)
        notify(s);
    return 0;
}

/* ---- the sync thread ------------------------------------------------------------------------ */

static void abs_deadline(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *sync_thread(void *arg)
{
    struct hk_engine_svc *s = arg;
    /* The first prune waits a period too: at start its DELETE (a scan of the whole log: 18M rows
     * after a 10M-order import) held SQLite's write lock for seconds while `huike serve` was
     * still starting, and the import worker's recovery waited on it (or failed, past the busy
     * timeout, with "database is locked"). */
    int64_t last_prune_ms = hk_monotonic_ms();
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        int64_t now_ms = hk_monotonic_ms();
        int64_t wait_ms = s->opts.poll_ms;
        if (s->dirty) { /* a rescore is due at last_rescore + rescore_min */
            int64_t due = s->last_rescore_ms + s->opts.rescore_min_ms - now_ms;
            if (due < wait_ms)
                wait_ms = due < 0 ? 0 : due;
        }
        if (!s->nudged && wait_ms > 0) {
            struct timespec ts;
            abs_deadline(&ts, wait_ms);
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        }
        if (s->stop)
            break;
        s->nudged = false;
        pthread_mutex_unlock(&s->mu);

        struct hk_err err;
        hk_err_clear(&err);
        bool changed = false;
        pthread_mutex_lock(&s->sync_mu);
        int rc = sync_once(s, &changed, &err);
        pthread_mutex_unlock(&s->sync_mu);
        if (rc)
            log_err(s, "engine.sync_failed", &err);

        now_ms = hk_monotonic_ms();
        pthread_mutex_lock(&s->mu);
        bool due = (s->dirty && now_ms - s->last_rescore_ms >= s->opts.rescore_min_ms) ||
                   now_ms - s->last_rescore_ms >= HK_RESCORE_EVERY_MS;
        pthread_mutex_unlock(&s->mu);
        if (due) {
            hk_err_clear(&err);
            if (rescore(s, &err))
                log_err(s, "engine.rescore_failed", &err);
            changed = true;
        }
        hk_err_clear(&err);
        if (tags_due(s, &err)) /* a rescore above derived them already */
            log_err(s, "engine.tags_failed", &err);
        if (changed) {
            refresh_stats(s);
            notify(s);
        }
        if (now_ms - last_prune_ms > 600000) { /* every 10 minutes */
            struct hk_db *db;
            hk_err_clear(&err);
            if (hk_db_acquire(s->app->store, &db, &err) == 0) {
                int64_t cut = (int64_t)time(NULL) - s->opts.prune_after_s;
                if (hk_changes_prune(db, cut, &err))
                    log_err(s, "engine.prune_failed", &err);
                hk_db_release(db);
            }
            last_prune_ms = now_ms;
        }
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void change_hook(void *ctx)
{
    hk_engine_svc_nudge(ctx);
}

/* ---- engine snapshot ------------------------------------------------------------------------ */

/* The snapshot file: engine_snapshot ("off", a path, or "" = <db file>.engine for SQLite,
 * <data_dir>/engine.snapshot for PostgreSQL, whose URL is no place for a file). */
static void snap_resolve_path(struct hk_engine_svc *s)
{
    const struct hk_config *c = &s->app->cfg;
    s->snap_path[0] = '\0';
    if (strcmp(c->engine_snapshot, "off") == 0)
        return;
    if (c->engine_snapshot[0])
        snprintf(s->snap_path, sizeof s->snap_path, "%s", c->engine_snapshot);
    else if (hk_store_backend(s->app->store) == HK_STORE_POSTGRES)
        snprintf(s->snap_path, sizeof s->snap_path, "%s/engine.snapshot", c->data_dir);
    else if (c->db[0] && strcmp(c->db, ":memory:") != 0)
        snprintf(s->snap_path, sizeof s->snap_path, "%s.engine", c->db);
}

/* What the snapshot captures changes only when customers are re-read or the engine reloaded
 * (mu held). */
static uint64_t history_version_locked(const struct hk_engine_svc *s)
{
    return s->stats.customers_reloaded + (s->stats.full_reloads << 40);
}

static uint64_t history_version(struct hk_engine_svc *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t v = history_version_locked(s);
    pthread_mutex_unlock(&s->mu);
    return v;
}

/* Rule tags are derived at every start: only manual tags go into the file. */
static bool keep_manual_tag(void *ctx, const char *name)
{
    const struct hk_tag_rules *r = ctx;
    for (size_t i = 0; i < hk_tag_rules_count(r); i++)
        if (strcmp(hk_tag_rules_name(r, i), name) == 0)
            return false;
    return true;
}

/*
 * Writes the snapshot. Consistency: the history columns, dictionaries, products and the cursor
 * change only on the sync path (sync_once, under sync_mu) — so holding sync_mu, the file is
 * written straight from the live engine with no engine lock: readers go on, the sync waits.
 * Tag bitmaps and the shop table also change outside the sync (rule tags, RFM configuration),
 * so they are copied first under the read lock (a few milliseconds). The cursor written is the
 * sync's, lowered below any gap still open (PostgreSQL ids that may yet commit): a start from
 * the file re-reads from there, and applying a change twice is harmless.
 */
int hk_engine_svc_snapshot(struct hk_engine_svc *s, struct hk_err *err)
{
    if (!s->snap_path[0])
        return hk_err_set(err, HK_E(NOTFOUND), "engine snapshots are off");
    pthread_mutex_lock(&s->snap_mu);
    int64_t t0 = hk_monotonic_ms();
    struct hk_engine_snapshot_info info;
    memset(&info, 0, sizeof info);
    info.written_at = hk_clock_now(&s->app->clock);
    unsigned char raw[16];
    char fresh[40];
    hk_random_bytes(raw, sizeof raw);
    hk_hex_encode(raw, sizeof raw, fresh);
    struct hk_db *db;
    int rc = hk_db_acquire(s->app->store, &db, err);
    if (!rc) {
        rc = hk_engine_repo_store_id(db, fresh, info.written_at, info.store_id,
                                     sizeof info.store_id, err);
        hk_db_release(db);
    }
    if (rc) {
        pthread_mutex_unlock(&s->snap_mu);
        return rc;
    }

    pthread_mutex_lock(&s->sync_mu);
    int64_t t1 = hk_monotonic_ms();
    info.cursor = s->cursor;
    for (size_t i = 0; i < s->ngaps; i++)
        if (s->gaps[i].id - 1 < info.cursor)
            info.cursor = s->gaps[i].id - 1;
    struct hk_change_mark mark = {0};
    bool found = false;
    rc = hk_db_acquire(s->app->store, &db, err);
    if (!rc) {
        rc = hk_changes_last_upto(db, info.cursor, &mark, &found, err);
        hk_db_release(db);
    }
    info.anchor_id = mark.id;
    info.anchor_at = mark.at;
    info.anchor_customer = mark.customer_id;
    uint64_t version = history_version(s);
    struct hk_snapshot_tags *tags = NULL;
    if (!rc) {
        pthread_rwlock_rdlock(&s->lock);
        rc = hk_engine_snapshot_tags(s->engine, keep_manual_tag, s->rules, &tags, err);
        pthread_rwlock_unlock(&s->lock);
    }
    struct hk_snapshot_pending pend = {.fd = -1};
    if (!rc)
        rc = hk_engine_snapshot_write(s->engine, tags, &info, s->snap_path, &pend, err);
    int64_t held = hk_monotonic_ms() - t1;
    pthread_mutex_unlock(&s->sync_mu);
    hk_engine_snapshot_tags_free(tags);
    if (!rc) /* durable and in place, without holding anything */
        rc = hk_engine_snapshot_finish(&pend, true, err);
    int64_t ms = hk_monotonic_ms() - t0;
    if (!rc) {
        pthread_mutex_lock(&s->mu);
        s->snap_version = version;
        s->snap_valid = true;
        s->stats.snapshots_written++;
        s->stats.snapshot_write_ms = ms;
        s->stats.snapshot_hold_ms = held;
        s->stats.snapshot_bytes = pend.bytes;
        pthread_mutex_unlock(&s->mu);
        char a[24], b[24], c[24], d[24];
        snprintf(a, sizeof a, "%lld", (long long)ms);
        snprintf(b, sizeof b, "%lld", (long long)held);
        snprintf(c, sizeof c, "%.1f", (double)pend.bytes / (1024.0 * 1024.0));
        snprintf(d, sizeof d, "%lld", (long long)info.cursor);
        hk_log_kv(&s->app->log, HK_LOG_INFO, "engine.snapshot_written", NULL, "ms", a,
                  "sync_held_ms", b, "mib", c, "cursor", d, (const char *)NULL);
    }
    pthread_mutex_unlock(&s->snap_mu);
    return rc;
}

/* Writes when the history changed since the file on disk. */
static void snapshot_if_changed(struct hk_engine_svc *s)
{
    pthread_mutex_lock(&s->mu);
    bool due = !s->snap_valid || s->snap_version != history_version_locked(s);
    pthread_mutex_unlock(&s->mu);
    struct hk_err err;
    hk_err_clear(&err);
    if (due && hk_engine_svc_snapshot(s, &err) != 0)
        log_err(s, "engine.snapshot_failed", &err);
}

static void *snap_thread_main(void *arg)
{
    struct hk_engine_svc *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        struct timespec ts;
        abs_deadline(&ts, s->opts.snapshot_every_ms);
        while (!s->stop && pthread_cond_timedwait(&s->snap_cv, &s->mu, &ts) != ETIMEDOUT)
            ;
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->mu);
        snapshot_if_changed(s);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* One slice of the start's catch-up: customers ids[0..n) read from the store into ops. */
struct prefetch {
    struct hk_engine_svc *s;
    const int64_t *ids;
    size_t n;
    struct oplist ops;
    int rc;
    struct hk_err err;
};

static void *prefetch_main(void *arg)
{
    struct prefetch *p = arg;
    struct hk_engine_repo_sink sink = {&p->ops, rec_shop, rec_product, rec_customer, rec_channel,
                                       NULL,    rec_tag,  rec_order,   rec_event,    rec_shop_name};
    struct hk_db *db;
    hk_err_clear(&p->err);
    p->rc = hk_db_acquire(p->s->app->store, &db, &p->err);
    if (p->rc)
        return NULL;
    for (size_t done = 0; done < p->n && !p->rc; done += HK_APPLY_CHUNK) {
        size_t k = p->n - done < HK_APPLY_CHUNK ? p->n - done : HK_APPLY_CHUNK;
        p->rc = hk_db_begin(db, HK_TX_READ, &p->err);
        for (size_t i = 0; i < k && !p->rc; i++)
            p->rc = hk_engine_repo_load_customer(db, p->ids[done + i], &sink, &p->err);
        if (!p->rc)
            p->rc = hk_db_commit(db, &p->err);
        else
            hk_db_rollback(db);
    }
    hk_db_release(db);
    return NULL;
}

#define HK_CATCHUP_THREADS 8

/*
 * The start's catch-up, in two halves around the snapshot read: the change rows after the
 * snapshot's cursor (gaps remembered as the sync does), then every changed customer re-read
 * from the store and replayed — the sync's own steps (hk_engine_repo_load_customer into recorded
 * calls, then replay). The reads start before the file is read and derived and run meanwhile,
 * on HK_CATCHUP_THREADS connections: they are random reads (a customer's rows are spread over the
 * database), mostly waiting on the disk when the page cache is cold, so several in flight and
 * the derive's CPU overlap them. 'rfm' and 'segment' rows need nothing (the start reads the
 * configuration and the rules afterwards); an 'all' row means a full load.
 */
struct catchup {
    struct collect k;
    size_t n; /* distinct customers */
    struct prefetch p[HK_CATCHUP_THREADS];
    pthread_t th[HK_CATCHUP_THREADS];
    bool started[HK_CATCHUP_THREADS];
};

/* Collects the changes and starts the reads. *all: an 'all' row (nothing started). */
static int catch_up_begin(struct hk_engine_svc *s, struct catchup *c, bool *all, struct hk_err *err)
{
    memset(c, 0, sizeof(*c));
    c->k.s = s;
    c->k.now_ms = hk_monotonic_ms();
    *all = false;
    int rc = 0;
    for (;;) { /* every row after the cursor */
        uint64_t before = c->k.rows;
        struct hk_db *db;
        if ((rc = hk_db_acquire(s->app->store, &db, err)) != 0)
            break;
        rc = hk_changes_after(db, c->k.max_id ? c->k.max_id : s->cursor, HK_SYNC_BATCH,
                              collect_after, &c->k, err);
        hk_db_release(db);
        if (rc || c->k.rows - before < HK_SYNC_BATCH || c->k.all)
            break;
    }
    if (rc || c->k.all) {
        *all = c->k.all;
        return rc;
    }
    int64_t *ids = c->k.ids;
    size_t n = sort_unique(ids, c->k.n);
    c->n = n;
    size_t per = (n + HK_CATCHUP_THREADS - 1) / HK_CATCHUP_THREADS;
    for (int i = 0; i < HK_CATCHUP_THREADS; i++) {
        c->p[i].s = s;
        size_t lo = (size_t)i * per < n ? (size_t)i * per : n;
        c->p[i].ids = ids + lo;
        c->p[i].n = lo + per < n ? per : n - lo;
        if (c->p[i].n)
            c->started[i] = pthread_create(&c->th[i], NULL, prefetch_main, &c->p[i]) == 0;
        if (c->p[i].n && !c->started[i])
            prefetch_main(&c->p[i]);
    }
    return 0;
}

/* Waits for the reads; with e (not NULL) replays them into it and advances the cursor. Frees
 * what begin made. *caught: customers re-read. */
static int catch_up_end(struct hk_engine_svc *s, struct catchup *c, struct hk_engine *e,
                        uint64_t *caught, struct hk_err *err)
{
    int rc = 0;
    for (int i = 0; i < HK_CATCHUP_THREADS; i++)
        if (c->started[i])
            pthread_join(c->th[i], NULL);
    for (int i = 0; i < HK_CATCHUP_THREADS; i++) {
        if (e && !rc && c->p[i].rc) {
            rc = c->p[i].rc;
            *err = c->p[i].err;
        }
        if (e && !rc)
            rc = replay(e, &c->p[i].ops, err);
        oplist_free(&c->p[i].ops);
    }
    free(c->k.ids);
    if (e && !rc && c->k.max_id > s->cursor)
        s->cursor = c->k.max_id;
    *caught = c->n;
    return rc;
}

/*
 * Starts from the snapshot: the file's header checked against this store, the catch-up's reads
 * started, the file read and derived (hk_engine_load_finish) meanwhile, the changed customers
 * replayed, then RFM and rule tags as after a full load. 0 when s->engine is in place;
 * HK_E(NOTFOUND) with *why when the file is not usable (the caller loads from the store); other
 * errors are the store's.
 */
static int start_from_snapshot(struct hk_engine_svc *s, char *why, size_t whysize,
                               struct hk_err *err)
{
    int64_t t0 = hk_monotonic_ms();
    struct hk_engine_opts eo = {s->app->cfg.timezone, 0};
    struct hk_engine_snapshot_info info, info2;
    struct hk_err serr;
    hk_err_clear(&serr);
    if (hk_engine_snapshot_peek(s->snap_path, &info, &serr) != 0) {
        snprintf(why, whysize, "%s", hk_err_message(&serr));
        return HK_E(NOTFOUND);
    }
    char sid[HK_SNAP_STORE_ID_MAX];
    struct hk_change_mark mark = {0};
    bool found = false;
    int64_t min_id = 0, max_id = 0, pending = 0;
    struct hk_db *db;
    int rc = hk_db_acquire(s->app->store, &db, err);
    if (!rc) {
        rc = hk_engine_repo_store_id(db, NULL, 0, sid, sizeof sid, err);
        if (!rc)
            rc = hk_changes_min_id(db, &min_id, err);
        if (!rc)
            rc = hk_changes_max_id(db, &max_id, err);
        if (!rc && info.anchor_id)
            rc = hk_changes_last_upto(db, info.anchor_id, &mark, &found, err);
        if (!rc)
            rc = hk_changes_count_after(db, info.cursor, &pending, err);
        hk_db_release(db);
    }
    if (rc)
        return rc;
    const char *bad = NULL;
    if (!sid[0] || strcmp(sid, info.store_id) != 0)
        bad = "written for another database";
    else if (info.anchor_id && (!found || mark.id != info.anchor_id || mark.at != info.anchor_at ||
                                mark.customer_id != info.anchor_customer))
        bad = "its position is not in this database's change log (restored from a backup, or "
              "pruned)";
    else if (!info.anchor_id && min_id > info.cursor + 1)
        bad = "the change log was pruned past it";
    else if (max_id < info.cursor)
        bad = "the database is behind it (restored from a backup?)";
    else if (pending > HK_SNAP_CATCHUP_MAX)
        bad = "too many changes since (a full load is faster)";
    if (bad) {
        snprintf(why, whysize, "%s", bad);
        return HK_E(NOTFOUND);
    }

    s->cursor = info.cursor;
    struct catchup *cu = malloc(sizeof(*cu));
    if (!cu)
        return hk_err_set(err, HK_E(NOMEM), "out of memory starting the engine");
    bool all = false;
    rc = catch_up_begin(s, cu, &all, err);
    if (rc || all) {
        uint64_t ignored;
        catch_up_end(s, cu, NULL, &ignored, err);
        free(cu);
        if (all)
            snprintf(why, whysize, "a change since needs a full reload");
        return rc ? rc : HK_E(NOTFOUND);
    }

    /* meanwhile: the file, the shops, the derive */
    int64_t t1 = hk_monotonic_ms();
    struct hk_engine *e = NULL;
    bool moved = false;
    rc = hk_engine_snapshot_read(s->snap_path, &eo, &info2, &e, &serr);
    if (rc) { /* the file is bad: a reason, not an error */
        snprintf(why, whysize, "%s", hk_err_message(&serr));
        rc = 0;
    } else if (info2.cursor != info.cursor || info2.written_at != info.written_at ||
               strcmp(info2.store_id, info.store_id) != 0)
        snprintf(why, whysize, "the file was replaced while it was read");
    int64_t t_read = hk_monotonic_ms() - t1;
    if (!rc && !why[0]) {
        rc = hk_db_acquire(s->app->store, &db, err);
        if (!rc) {
            rc = hk_engine_load_shops(db, e, &moved, err);
            hk_db_release(db);
        }
        if (!rc && moved)
            snprintf(why, whysize, "a shop's time zone changed since");
        if (!rc && !moved)
            rc = hk_engine_load_finish(e, err); /* aggregates and index, as a full load */
    }
    int64_t t_derive = hk_monotonic_ms() - t1 - t_read;
    bool usable = rc == 0 && !why[0];
    uint64_t caught = 0;
    int rc2 = catch_up_end(s, cu, usable ? e : NULL, &caught, err);
    free(cu);
    if (!usable || rc2) {
        hk_engine_free(e);
        return rc2 ? rc2 : why[0] ? HK_E(NOTFOUND) : rc;
    }
    s->engine = e;
    int64_t t_catch = hk_monotonic_ms() - t1 - t_read - t_derive;
    pthread_mutex_lock(&s->mu);
    s->stats.customers_reloaded += caught;
    s->stats.cursor = s->cursor;
    s->dirty = false;
    s->tags_stale = false;
    pthread_mutex_unlock(&s->mu);

    /* shops' names and RFM configurations, scores and rule tags, as load_full does */
    int64_t now = hk_clock_now(&s->app->clock);
    rc = hk_rfm_svc_engine_setup(s->app, s->engine, err);
    if (!rc)
        rc = hk_engine_rescore(s->engine, now, err);
    struct hk_tag_rules *r = NULL;
    if (!rc)
        rc = hk_tag_rules_load(s->app, &r, err);
    if (!rc)
        rc = derive_exclusive(s, s->engine, r, err);
    if (rc) {
        hk_tag_rules_free(r);
        return rc;
    }
    hk_tag_rules_free(s->rules);
    s->rules = r;
    pthread_mutex_lock(&s->mu);
    s->stats.from_snapshot = true;
    s->stats.snapshot_catchup = caught;
    s->stats.load_ms = hk_monotonic_ms() - t0;
    s->snap_version = history_version_locked(s);
    s->snap_valid = caught == 0; /* else the file is behind the engine */
    pthread_mutex_unlock(&s->mu);
    char a[24], b[24], c[24], d[24], f[24];
    snprintf(a, sizeof a, "%lld", (long long)t_read);
    snprintf(b, sizeof b, "%lld", (long long)t_derive);
    snprintf(c, sizeof c, "%lld", (long long)t_catch);
    snprintf(d, sizeof d, "%llu", (unsigned long long)caught);
    snprintf(f, sizeof f, "%lld", (long long)(hk_monotonic_ms() - t0));
    hk_log_kv(&s->app->log, HK_LOG_INFO, "engine.snapshot_loaded", NULL, "read_ms", a, "derive_ms",
              b, "catchup_wait_ms", c, "customers_caught_up", d, "ms", f, (const char *)NULL);
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

int hk_engine_svc_start(struct hk_app *app, const struct hk_engine_svc_opts *opts,
                        struct hk_engine_svc **out, struct hk_err *err)
{
    struct hk_engine_svc *s = calloc(1, sizeof(*s));
    if (!s)
        return hk_err_set(err, HK_E(NOMEM), "out of memory starting the engine");
    s->app = app;
    if (opts)
        s->opts = *opts;
    else
        s->opts.follow = true;
    if (s->opts.poll_ms <= 0)
        s->opts.poll_ms = 500;
    if (s->opts.rescore_min_ms <= 0)
        s->opts.rescore_min_ms = 200;
    if (s->opts.prune_after_s <= 0)
        s->opts.prune_after_s = 86400;

    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&s->lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->sync_mu, NULL);
    pthread_mutex_init(&s->rules_mu, NULL);
    pthread_mutex_init(&s->derive_mu, NULL);
    pthread_mutex_init(&s->snap_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_cond_init(&s->snap_cv, &ca);
    pthread_condattr_destroy(&ca);
    snap_resolve_path(s);
    if (s->opts.snapshot_every_ms == 0)
        s->opts.snapshot_every_ms =
            app->cfg.engine_snapshot_minutes > 0 ? app->cfg.engine_snapshot_minutes * 60000 : -1;

    int rc = 0;
    bool from_snap = false;
    if (s->snap_path[0]) {
        char why[512] = "";
        struct hk_err serr;
        hk_err_clear(&serr);
        rc = start_from_snapshot(s, why, sizeof why, &serr);
        if (rc == 0) {
            from_snap = true;
        } else { /* never a stale engine: back to the full load, saying why */
            if (rc != HK_E(NOTFOUND) || !why[0])
                snprintf(why, sizeof why, "%s", hk_err_message(&serr));
            hk_log_kv(&app->log, HK_LOG_INFO, "engine.snapshot_skipped", NULL, "path", s->snap_path,
                      "reason", why, (const char *)NULL);
            hk_engine_free(s->engine);
            hk_tag_rules_free(s->rules);
            s->engine = NULL;
            s->rules = NULL;
            s->cursor = 0;
            s->ngaps = 0;
            memset(&s->stats, 0, sizeof s->stats);
            size_t wl = strlen(why) < sizeof s->stats.snapshot_skipped
                            ? strlen(why)
                            : sizeof s->stats.snapshot_skipped - 1;
            memcpy(s->stats.snapshot_skipped, why, wl);
            s->stats.snapshot_skipped[wl] = '\0';
            s->dirty = s->tags_stale = false;
            rc = 0;
        }
    }
    int64_t ms = 0;
    if (!from_snap) {
        /* The cursor is read before the load: changes committed meanwhile are applied again
         * (harmless), and none is missed. */
        struct hk_db *db;
        rc = hk_db_acquire(app->store, &db, err);
        if (!rc) {
            rc = hk_changes_max_id(db, &s->cursor, err);
            hk_db_release(db);
        }
        if (!rc)
            rc = load_full(s, &s->engine, &s->rules, &ms, err);
    } else {
        ms = s->stats.load_ms;
    }
    if (rc) {
        hk_engine_svc_stop(s);
        return rc;
    }
    s->stats.load_ms = ms;
    s->stats.cursor = s->cursor;
    s->stats.rescores = 1;
    s->last_rescore_ms = hk_monotonic_ms();
    refresh_stats(s);
    if (s->opts.follow) {
        if (pthread_create(&s->thread, NULL, sync_thread, s) != 0) {
            hk_engine_svc_stop(s);
            return hk_err_set(err, HK_E(INTERNAL), "cannot start the engine sync thread");
        }
        s->thread_started = true;
        hk_store_set_change_hook(app->store, change_hook, s);
        if (s->snap_path[0] && s->opts.snapshot_every_ms > 0 &&
            pthread_create(&s->snap_thread, NULL, snap_thread_main, s) == 0)
            s->snap_thread_started = true;
    }
    *out = s;
    return 0;
}

void hk_engine_svc_stop(struct hk_engine_svc *s)
{
    if (!s)
        return;
    if (s->thread_started) {
        hk_store_set_change_hook(s->app->store, NULL, NULL);
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_signal(&s->cv);
        pthread_cond_signal(&s->snap_cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        if (s->snap_thread_started)
            pthread_join(s->snap_thread, NULL);
        if (s->snap_path[0] && s->engine) /* at clean shutdown: the next start reads it */
            snapshot_if_changed(s);
    }
    hk_engine_free(s->engine);
    hk_tag_rules_free(s->rules);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->sync_mu);
    pthread_mutex_destroy(&s->rules_mu);
    pthread_mutex_destroy(&s->derive_mu);
    pthread_mutex_destroy(&s->snap_mu);
    pthread_cond_destroy(&s->snap_cv);
    pthread_rwlock_destroy(&s->lock);
    free(s);
}

void hk_engine_svc_nudge(struct hk_engine_svc *s)
{
    pthread_mutex_lock(&s->mu);
    s->nudged = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

const struct hk_engine *hk_engine_svc_read(struct hk_engine_svc *s)
{
    pthread_rwlock_rdlock(&s->lock);
    return s->engine;
}

void hk_engine_svc_read_end(struct hk_engine_svc *s)
{
    pthread_rwlock_unlock(&s->lock);
}

void hk_engine_svc_stats(struct hk_engine_svc *s, struct hk_engine_svc_stats *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    pthread_mutex_unlock(&s->mu);
}

/* Runs fn under the write lock, then (on success) rescores everything or, when fn rescored
 * itself, just re-derives the rule tags on the moved scores, and notifies the listeners. */
static int write_then(struct hk_engine_svc *s,
                      int (*fn)(void *ctx, struct hk_engine *e, struct hk_err *err), void *ctx,
                      bool rescored, struct hk_err *err)
{
    pthread_rwlock_wrlock(&s->lock);
    int rc = fn(ctx, s->engine, err);
    s->mutations++;
    pthread_rwlock_unlock(&s->lock);
    if (rc)
        return rc;
    bump(s);
    rc = rescored ? derive_shared(s, err) : rescore(s, err);
    if (!rc)
        notify(s);
    return rc;
}

int hk_engine_svc_write(struct hk_engine_svc *s,
                        int (*fn)(void *ctx, struct hk_engine *e, struct hk_err *err), void *ctx,
                        struct hk_err *err)
{
    return write_then(s, fn, ctx, false, err);
}

int hk_engine_svc_write_rescored(struct hk_engine_svc *s,
                                 int (*fn)(void *ctx, struct hk_engine *e, struct hk_err *err),
                                 void *ctx, struct hk_err *err)
{
    return write_then(s, fn, ctx, true, err);
}

int hk_engine_svc_on_change(struct hk_engine_svc *s, void (*fn)(void *ctx), void *ctx)
{
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    if (s->nlisteners == HK_LISTENERS_MAX)
        rc = HK_E(NOMEM);
    else
        s->listeners[s->nlisteners++] = (struct listener){fn, ctx};
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void hk_engine_svc_off_change(struct hk_engine_svc *s, void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nlisteners; i++)
        if (s->listeners[i].fn == fn && s->listeners[i].ctx == ctx) {
            memmove(&s->listeners[i], &s->listeners[i + 1],
                    (s->nlisteners - i - 1) * sizeof(s->listeners[0]));
            s->nlisteners--;
            break;
        }
    pthread_mutex_unlock(&s->mu);
}

/* Re-reads the rule tags and derives them. rules_mu orders whole reloads, so the snapshot read
 * last is the one installed last. */
static int rules_reload(struct hk_engine_svc *s, struct hk_err *err)
{
    struct hk_tag_rules *rules = NULL;
    pthread_mutex_lock(&s->rules_mu);
    int rc = hk_tag_rules_load(s->app, &rules, err); /* store read: no engine lock held */
    if (rc) {
        pthread_mutex_unlock(&s->rules_mu);
        return rc;
    }
    pthread_rwlock_wrlock(&s->lock);
    struct hk_tag_rules *old = s->rules;
    rc = hk_tag_rules_prepare(rules, old, s->engine, NULL, err); /* names; vanished rules */
    if (rc == 0) {
        s->rules = rules;
        s->mutations++;
    }
    pthread_rwlock_unlock(&s->lock);
    pthread_mutex_unlock(&s->rules_mu);
    hk_tag_rules_free(rc == 0 ? old : rules);
    if (rc == 0)
        rc = derive_shared(s, err);
    if (rc == 0)
        bump(s);
    return rc;
}

int hk_engine_svc_rules_reload(struct hk_engine_svc *s, struct hk_err *err)
{
    int rc = rules_reload(s, err);
    if (rc == 0)
        notify(s);
    return rc;
}

int64_t hk_engine_svc_now(struct hk_engine_svc *s)
{
    return hk_clock_now(&s->app->clock);
}
