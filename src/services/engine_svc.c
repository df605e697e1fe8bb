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

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "engine/engine.h"
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
};

/* ---- recorded engine calls ------------------------------------------------------------------ */

enum op_kind { OP_SHOP, OP_PRODUCT, OP_CUSTOMER, OP_CHANNEL, OP_TAG, OP_ORDER, OP_EVENT };

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
    else if (strcmp(c->kind, "rfm") == 0)
        k->rfm = true;
    else if (strcmp(c->kind, "segment") == 0)
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
    struct hk_rfm_config cfg;
    rc = hk_rfm_svc_config_get(s->app, 0, &cfg, err);
    if (!rc)
        rc = hk_engine_rfm_configure(e, &cfg, err);
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
                                       NULL, rec_tag,  rec_order,   rec_event};
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

static int apply_rfm_config(struct hk_engine_svc *s, struct hk_err *err)
{
    struct hk_rfm_config cfg;
    int rc = hk_rfm_svc_config_get(s->app, 0, &cfg, err);
    if (rc)
        return rc;
    pthread_rwlock_wrlock(&s->lock);
    rc = hk_engine_rfm_configure(s->engine, &cfg, err);
    s->mutations++;
    pthread_rwlock_unlock(&s->lock);
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

    if (k.n > 1)
        qsort(k.ids, k.n, sizeof(*k.ids), cmp_i64);
    size_t n = 0;
    for (size_t i = 0; i < k.n; i++)
        if (n == 0 || k.ids[n - 1] != k.ids[i])
            k.ids[n++] = k.ids[i];

    if (k.all || n > HK_RELOAD_OVER) {
        rc = full_reload(s, err);
    } else {
        if (k.rfm)
            rc = apply_rfm_config(s, err);
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
        s->dirty = s->dirty || n > 0 || k.rfm;
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
    int64_t last_prune_ms = 0;
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
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);

    /* The cursor is read before the load: changes committed meanwhile are applied again
     * (harmless), and none is missed. */
    struct hk_db *db;
    int rc = hk_db_acquire(app->store, &db, err);
    if (!rc) {
        rc = hk_changes_max_id(db, &s->cursor, err);
        hk_db_release(db);
    }
    int64_t ms = 0;
    if (!rc)
        rc = load_full(s, &s->engine, &s->rules, &ms, err);
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
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    hk_engine_free(s->engine);
    hk_tag_rules_free(s->rules);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->sync_mu);
    pthread_mutex_destroy(&s->rules_mu);
    pthread_mutex_destroy(&s->derive_mu);
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

int hk_engine_svc_write(struct hk_engine_svc *s,
                        int (*fn)(void *ctx, struct hk_engine *e, struct hk_err *err), void *ctx,
                        struct hk_err *err)
{
    pthread_rwlock_wrlock(&s->lock);
    int rc = fn(ctx, s->engine, err);
    s->mutations++;
    pthread_rwlock_unlock(&s->lock);
    if (rc)
        return rc;
    bump(s);
    rc = rescore(s, err);
    if (!rc)
        notify(s);
    return rc;
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
