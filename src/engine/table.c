/*
 * table.c — the engine's columnar customer table: dictionaries, id maps, the history arrays,
 * bulk load, incremental changes (one order, merge, clear) and the aggregates.
 *
 * Layout and invariants are described in engine_int.h. In short: per-customer columns indexed
 * by a dense row; history in flat arrays where each customer owns one contiguous range per
 * family (orders, lines, events). The bulk load appends in whatever order rows arrive and
 * regroup() sorts once by customer (a stable counting sort, so lines stay grouped by order).
 * After the load, a change to a customer's history moves its ranges to the tail — an append
 * when they already end there, which is the common case for a customer ordering again — and
 * re-derives that customer's aggregates from its (short) history. Dead slots left behind are
 * reclaimed by regroup() once they outnumber half the live ones.
 *
 * Aggregates are stored as day numbers, never as "days ago", so they do not go stale as time
 * passes; days_ago = today (local day of now in the order's zone) - day.
 *
 * Threading: see engine.h. hk_engine_recompute and regroup's callers hold exclusive access;
 * the worker threads of hk_engine_parallel each write disjoint rows.
 */
#include "engine/engine_int.h"

#include "core/err.h"
#include "core/tz.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ------------------------------------------------------------------------ */

static int grow_col(void **p, size_t elsize, size_t newcap)
{
    void *n = realloc(*p, elsize * (newcap ? newcap : 1));
    if (!n)
        return -1;
    *p = n;
    return 0;
}

static size_t next_cap(size_t cap, size_t need)
{
    /* big columns grow by an eighth: realloc of large blocks remaps pages, so growth is
     * cheap and the slack stays small */
    size_t c = cap < 16 ? 16 : cap < ((size_t)1 << 20) ? cap + cap / 2 : cap + cap / 8;
    return c < need ? need : c;
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t hash_i64(int64_t k)
{
    uint64_t x = (uint64_t)k * 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29);
}

/* ---- dictionaries ------------------------------------------------------------------------- */

void hk_dict_free(struct hk_dict *d)
{
    for (uint32_t i = 0; i < d->n; i++)
        free(d->names[i]);
    free(d->names);
    free(d->lens);
    free(d->slots);
    memset(d, 0, sizeof(*d));
}

static uint32_t dict_find(const struct hk_dict *d, const char *s, size_t n)
{
    if (!d->nslots)
        return HK_ENGINE_NONE;
    uint32_t mask = d->nslots - 1;
    for (uint32_t i = (uint32_t)hash_bytes(s, n) & mask;; i = (i + 1) & mask) {
        uint32_t v = d->slots[i];
        if (!v)
            return HK_ENGINE_NONE;
        if (d->lens[v - 1] == n && memcmp(d->names[v - 1], s, n) == 0)
            return v - 1;
    }
}

static int dict_rehash(struct hk_dict *d, uint32_t nslots)
{
    uint32_t *slots = calloc(nslots, sizeof(*slots));
    if (!slots)
        return -1;
    for (uint32_t id = 0; id < d->n; id++) {
        uint32_t i = (uint32_t)hash_bytes(d->names[id], d->lens[id]) & (nslots - 1);
        while (slots[i])
            i = (i + 1) & (nslots - 1);
        slots[i] = id + 1;
    }
    free(d->slots);
    d->slots = slots;
    d->nslots = nslots;
    return 0;
}

/* Returns the id of s, adding it when new; HK_ENGINE_NONE on OOM. */
static uint32_t dict_intern(struct hk_dict *d, const char *s, size_t n)
{
    uint32_t id = dict_find(d, s, n);
    if (id != HK_ENGINE_NONE)
        return id;
    if (d->n >= UINT32_MAX - 2)
        return HK_ENGINE_NONE;
    if ((size_t)(d->n + 1) * 2 > d->nslots && dict_rehash(d, d->nslots ? d->nslots * 2 : 64))
        return HK_ENGINE_NONE;
    if (d->n == d->cap) {
        uint32_t cap = d->cap ? d->cap * 2 : 16;
        if (grow_col((void **)&d->names, sizeof(char *), cap) ||
            grow_col((void **)&d->lens, sizeof(uint32_t), cap))
            return HK_ENGINE_NONE;
        d->cap = cap;
    }
    char *copy = malloc(n + 1);
    if (!copy)
        return HK_ENGINE_NONE;
    memcpy(copy, s, n);
    copy[n] = '\0';
    id = d->n++;
    d->names[id] = copy;
    d->lens[id] = (uint32_t)n;
    uint32_t i = (uint32_t)hash_bytes(s, n) & (d->nslots - 1);
    while (d->slots[i])
        i = (i + 1) & (d->nslots - 1);
    d->slots[i] = id + 1;
    return id;
}

/* ---- int64 -> uint32 maps ----------------------------------------------------------------- */

static void map_free(struct hk_i64map *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

static uint32_t map_get(const struct hk_i64map *m, int64_t k)
{
    if (!m->nslots)
        return HK_ENGINE_NONE;
    size_t mask = m->nslots - 1;
    for (size_t i = hash_i64(k) & mask;; i = (i + 1) & mask) {
        if (m->keys[i] == k)
            return m->vals[i];
        if (m->keys[i] == INT64_MIN)
            return HK_ENGINE_NONE;
    }
}

static int map_put(struct hk_i64map *m, int64_t k, uint32_t v)
{
    if ((m->n + 1) * 2 > m->nslots) {
        size_t ns = m->nslots ? m->nslots * 2 : 1024;
        int64_t *keys = malloc(ns * sizeof(*keys));
        uint32_t *vals = malloc(ns * sizeof(*vals));
        if (!keys || !vals) {
            free(keys);
            free(vals);
            return -1;
        }
        for (size_t i = 0; i < ns; i++)
            keys[i] = INT64_MIN;
        for (size_t j = 0; j < m->nslots; j++) {
            if (m->keys[j] == INT64_MIN)
                continue;
            size_t i = hash_i64(m->keys[j]) & (ns - 1);
            while (keys[i] != INT64_MIN)
                i = (i + 1) & (ns - 1);
            keys[i] = m->keys[j];
            vals[i] = m->vals[j];
        }
        free(m->keys);
        free(m->vals);
        m->keys = keys;
        m->vals = vals;
        m->nslots = ns;
    }
    size_t mask = m->nslots - 1;
    size_t i = hash_i64(k) & mask;
    while (m->keys[i] != INT64_MIN && m->keys[i] != k)
        i = (i + 1) & mask;
    if (m->keys[i] == INT64_MIN)
        m->n++;
    m->keys[i] = k;
    m->vals[i] = v;
    return 0;
}

/* ---- statuses ----------------------------------------------------------------------------- */

static const char *const status_names[] = {"created",   "paid",     "shipped",
                                           "completed", "refunded", "cancelled"};

int hk_engine_status_parse(const char *s, enum hk_order_status *out)
{
    for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++) {
        if (s && strcmp(s, status_names[i]) == 0) {
            *out = (enum hk_order_status)i;
            return 0;
        }
    }
    return HK_E(INVAL);
}

bool hk_engine_status_counted(enum hk_order_status st)
{
    return st == HK_ORDER_PAID || st == HK_ORDER_SHIPPED || st == HK_ORDER_COMPLETED;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static const char *const preset_channels[] = {"taobao", "tmall", "jd",    "pdd", "douyin",
                                              "wechat", "pos",   "other", "any"};
static const char *const preset_event_types[] = {"browse",       "cart",       "favourite",
                                                 "coupon_claim", "coupon_use", "review",
                                                 "check_in",     "share",      "logistics"};

static int zone_index(struct hk_engine *e, const char *name, uint8_t *out, struct hk_err *err)
{
    for (uint32_t i = 0; i < e->nzones; i++) {
        if (strcmp(hk_tz_name(e->zones[i]), name) == 0) {
            *out = (uint8_t)i;
            return 0;
        }
    }
    if (e->nzones >= HK_MAX_ZONES)
        return hk_err_set(err, HK_E(INVAL), "too many distinct shop time zones (at most %d)",
                          HK_MAX_ZONES);
    struct hk_tz *tz;
    int rc = hk_tz_load(name, &tz, err);
    if (rc)
        return rc;
    e->zones[e->nzones] = tz;
    *out = (uint8_t)e->nzones++;
    return 0;
}

int hk_engine_new(const struct hk_engine_opts *opts, struct hk_engine **out, struct hk_err *err)
{
    struct hk_engine *e = calloc(1, sizeof(*e));
    if (!e)
        return hk_err_set(err, HK_E(NOMEM), "out of memory creating the engine");
    e->threads = opts && opts->threads > 0 ? opts->threads : 2;
    if (e->threads > 64)
        e->threads = 64;
    hk_rfm_config_default(&e->rfm);
    e->scratch_cat = calloc(HK_MAX_CATS + 1, sizeof(int64_t));
    int rc = e->scratch_cat ? 0 : HK_E(NOMEM);
    if (!rc)
        rc = zone_index(e, opts && opts->default_timezone ? opts->default_timezone : HK_TZ_DEFAULT,
                        &e->default_zone, err);
    for (size_t i = 0; !rc && i < sizeof(preset_channels) / sizeof(preset_channels[0]); i++)
        if (dict_intern(&e->dicts[HK_DICT_CHANNEL], preset_channels[i],
                        strlen(preset_channels[i])) == HK_ENGINE_NONE)
            rc = HK_E(NOMEM);
    for (size_t i = 0; !rc && i < sizeof(preset_event_types) / sizeof(preset_event_types[0]); i++)
        if (dict_intern(&e->dicts[HK_DICT_EVENT_TYPE], preset_event_types[i],
                        strlen(preset_event_types[i])) == HK_ENGINE_NONE)
            rc = HK_E(NOMEM);
    if (rc) {
        if (rc == HK_E(NOMEM))
            hk_err_set(err, rc, "out of memory creating the engine");
        hk_engine_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

void hk_engine_free(struct hk_engine *e)
{
    if (!e)
        return;
    for (int k = 0; k < HK_DICT_COUNT_; k++)
        hk_dict_free(&e->dicts[k]);
    for (uint32_t i = 0; i < e->nzones; i++)
        hk_tz_free(e->zones[i]);
    map_free(&e->shop_map);
    for (uint32_t i = 0; i < e->nshops; i++) {
        free(e->shops[i].channel);
        free(e->shops[i].name);
        free(e->shops[i].cfg);
    }
    free(e->shops);
    free(e->s_zone);
    map_free(&e->product_map);
    map_free(&e->cust_map);
    free(e->cust_dense);
    free(e->p_name);
    free(e->p_cat);
    void *cols[] = {
        e->c_id,       e->c_ostart,    e->c_ocount,   e->c_lstart,     e->c_lcount,    e->c_estart,
        e->c_ecount,   e->c_first_day, e->c_last_day, e->c_first_zone, e->c_last_zone, e->c_freq,
        e->c_refunds,  e->c_coupon,    e->c_monetary, e->c_main_cat,   e->c_province,  e->c_city,
        e->c_channels, e->c_r,         e->c_f,        e->c_m,          e->c_seg,       e->c_tier,
        e->live,       e->o_id,        e->o_paid_at,  e->o_net_w,      e->o_day,       e->o_cust,
        e->o_flags,    e->o_shop,      e->l_cust,     e->l_ord,        e->l_prod,      e->l_day,
        e->l_fen,      e->l_cat,       e->l_fen_w,    e->e_cust,       e->e_type,      e->e_day,
        e->e_zone,     e->scratch_cat, e->c_psstart,  e->c_pscount,    e->ps_row,      e->ps_freq,
        e->ps_shop,    e->ps_mon,      e->ps_last,    e->ps_r,         e->ps_f,        e->ps_m,
        e->ps_seg,     e->ps_tier};
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
        free(cols[i]);
    for (size_t i = 0; i < e->ntag_bits; i++)
        free(e->tag_bits[i]);
    free(e->tag_bits);
    free(e->tag_retired);
    free(e->c_aov_key);
    free(e->rfm_keys);
    free(e->o_net);
    hk_index_free(e);
    free(e);
}

/* ---- capacity ----------------------------------------------------------------------------- */

size_t hk_engine_words(const struct hk_engine *e)
{
    return (e->nc + 63) / 64;
}

static int nomem(struct hk_err *err)
{
    return hk_err_set(err, HK_E(NOMEM), "out of memory in the customer engine");
}

static int ensure_customers(struct hk_engine *e, size_t need)
{
    if (need <= e->cc)
        return 0;
    size_t cap = next_cap(e->cc, need);
    cap = (cap + 63) & ~(size_t)63;
    struct {
        void **p;
        size_t sz;
    } cols[] = {
        {(void **)&e->c_id, 8},         {(void **)&e->c_ostart, 4},    {(void **)&e->c_ocount, 4},
        {(void **)&e->c_lstart, 4},     {(void **)&e->c_lcount, 4},    {(void **)&e->c_estart, 4},
        {(void **)&e->c_ecount, 4},     {(void **)&e->c_first_day, 4}, {(void **)&e->c_last_day, 4},
        {(void **)&e->c_first_zone, 1}, {(void **)&e->c_last_zone, 1}, {(void **)&e->c_freq, 4},
        {(void **)&e->c_refunds, 4},    {(void **)&e->c_coupon, 4},    {(void **)&e->c_monetary, 8},
        {(void **)&e->c_main_cat, 2},   {(void **)&e->c_province, 4},  {(void **)&e->c_city, 4},
        {(void **)&e->c_channels, 4},   {(void **)&e->c_r, 1},         {(void **)&e->c_f, 1},
        {(void **)&e->c_m, 1},          {(void **)&e->c_seg, 1},       {(void **)&e->c_tier, 1},
        {(void **)&e->c_aov_key, 4},    {(void **)&e->c_psstart, 4},   {(void **)&e->c_pscount, 4},
    };
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
        if (grow_col(cols[i].p, cols[i].sz, cap))
            return -1;
    size_t oldw = e->cc / 64, neww = cap / 64;
    if (grow_col((void **)&e->live, 8, neww))
        return -1;
    memset(e->live + oldw, 0, (neww - oldw) * 8);
    for (size_t t = 0; t < e->ntag_bits; t++) {
        if (!e->tag_bits[t])
            continue;
        if (grow_col((void **)&e->tag_bits[t], 8, neww))
            return -1;
        memset(e->tag_bits[t] + oldw, 0, (neww - oldw) * 8);
    }
    e->cc = cap;
    return 0;
}

static int ensure_orders(struct hk_engine *e, size_t need)
{
    if (need <= e->co)
        return 0;
    size_t cap = next_cap(e->co, need);
    if (grow_col((void **)&e->o_id, 8, cap) || grow_col((void **)&e->o_paid_at, 8, cap) ||
        (e->amounts_wide ? grow_col((void **)&e->o_net_w, 8, cap)
                         : grow_col((void **)&e->o_net, 4, cap)) ||
        grow_col((void **)&e->o_day, 4, cap) || grow_col((void **)&e->o_cust, 4, cap) ||
        grow_col((void **)&e->o_flags, 1, cap) || grow_col((void **)&e->o_shop, 2, cap))
        return -1;
    e->co = cap;
    return 0;
}

static int ensure_lines(struct hk_engine *e, size_t need)
{
    if (need <= e->cl)
        return 0;
    size_t cap = next_cap(e->cl, need);
    if (grow_col((void **)&e->l_cust, 4, cap) || grow_col((void **)&e->l_ord, 4, cap) ||
        grow_col((void **)&e->l_prod, 4, cap) || grow_col((void **)&e->l_day, 4, cap) ||
        (e->amounts_wide ? grow_col((void **)&e->l_fen_w, 8, cap)
                         : grow_col((void **)&e->l_fen, 4, cap)) ||
        grow_col((void **)&e->l_cat, 2, cap))
        return -1;
    e->cl = cap;
    return 0;
}

static int ensure_ps(struct hk_engine *e, size_t need)
{
    if (need <= e->cps)
        return 0;
    size_t cap = next_cap(e->cps, need);
    if (grow_col((void **)&e->ps_row, 4, cap) || grow_col((void **)&e->ps_freq, 4, cap) ||
        grow_col((void **)&e->ps_shop, 2, cap) || grow_col((void **)&e->ps_mon, 8, cap) ||
        grow_col((void **)&e->ps_last, 4, cap) || grow_col((void **)&e->ps_r, 1, cap) ||
        grow_col((void **)&e->ps_f, 1, cap) || grow_col((void **)&e->ps_m, 1, cap) ||
        grow_col((void **)&e->ps_seg, 1, cap) || grow_col((void **)&e->ps_tier, 1, cap))
        return -1;
    e->cps = cap;
    return 0;
}

static int ensure_events(struct hk_engine *e, size_t need)
{
    if (need <= e->ce)
        return 0;
    size_t cap = next_cap(e->ce, need);
    if (grow_col((void **)&e->e_cust, 4, cap) || grow_col((void **)&e->e_type, 2, cap) ||
        grow_col((void **)&e->e_day, 4, cap) || grow_col((void **)&e->e_zone, 1, cap))
        return -1;
    e->ce = cap;
    return 0;
}

/* ---- customers ---------------------------------------------------------------------------- */

static void row_reset_aggregates(struct hk_engine *e, uint32_t r)
{
    e->c_first_day[r] = e->c_last_day[r] = HK_DAY_NONE;
    e->c_first_zone[r] = e->c_last_zone[r] = 0;
    e->c_freq[r] = e->c_refunds[r] = e->c_coupon[r] = 0;
    e->c_monetary[r] = 0;
    if (e->c_aov_key[r] == INT32_MAX)
        e->aov_wide_rows--;
    e->c_aov_key[r] = INT32_MIN;
    e->c_main_cat[r] = HK_CAT_NONE;
    e->c_r[r] = e->c_f[r] = e->c_m[r] = e->c_seg[r] = e->c_tier[r] = 0;
    for (uint32_t i = e->c_psstart[r]; i < e->c_psstart[r] + e->c_pscount[r]; i++)
        e->ps_row[i] = HK_DEAD;
    e->ps_dead += e->c_pscount[r];
    e->c_pscount[r] = 0;
}

/* The row of a customer id, or HK_ENGINE_NONE. */
static uint32_t cust_get(const struct hk_engine *e, int64_t id)
{
    if (id >= 0 && (uint64_t)id < e->cust_dense_n) {
        uint32_t r = e->cust_dense[id];
        if (r != HK_ENGINE_NONE || e->cust_map.n == 0)
            return r;
    } /* ids put in the map before the dense range grew over them stay there */
    return map_get(&e->cust_map, id);
}

/* Records customer id at row r: in the dense array while ids stay within a few times the rows
 * (growing it as needed), else in the map. -1 on OOM. */
static int cust_put(struct hk_engine *e, int64_t id, uint32_t r)
{
    size_t limit = 4 * (e->nc + 1) + 65536;
    if (id < 0 || (uint64_t)id >= limit)
        return map_put(&e->cust_map, id, r);
    if ((uint64_t)id >= e->cust_dense_n) {
        size_t n = next_cap(e->cust_dense_n, (size_t)id + 1);
        n = n > limit ? (size_t)id + 1 : n;
        uint32_t *d = realloc(e->cust_dense, n * sizeof(uint32_t));
        if (!d)
            return -1;
        memset(d + e->cust_dense_n, 0xff, (n - e->cust_dense_n) * sizeof(uint32_t));
        e->cust_dense = d;
        e->cust_dense_n = n;
    }
    e->cust_dense[id] = r;
    return 0;
}

/* The row of a customer id, created (empty, live) when new. HK_DEAD on OOM. */
static uint32_t customer_row(struct hk_engine *e, int64_t id)
{
    uint32_t r = cust_get(e, id);
    if (r != HK_ENGINE_NONE)
        return r;
    if (e->nc >= UINT32_MAX - 1 || ensure_customers(e, e->nc + 1))
        return HK_DEAD;
    r = (uint32_t)e->nc;
    if (cust_put(e, id, r))
        return HK_DEAD;
    e->nc++;
    e->c_id[r] = id;
    e->c_ostart[r] = (uint32_t)e->no;
    e->c_lstart[r] = (uint32_t)e->nl;
    e->c_estart[r] = (uint32_t)e->ne;
    e->c_ocount[r] = e->c_lcount[r] = e->c_ecount[r] = 0;
    e->c_province[r] = e->c_city[r] = HK_ENGINE_NONE;
    e->c_channels[r] = 0;
    e->c_aov_key[r] = INT32_MIN;
    e->c_psstart[r] = (uint32_t)e->nps;
    e->c_pscount[r] = 0;
    row_reset_aggregates(e, r);
    e->live[r >> 6] |= (uint64_t)1 << (r & 63);
    return r;
}

static uint32_t intern_opt(struct hk_engine *e, enum hk_dict_kind k, const char *s, bool *oom)
{
    if (!s || !*s)
        return HK_ENGINE_NONE;
    uint32_t id = dict_intern(&e->dicts[k], s, strlen(s));
    if (id == HK_ENGINE_NONE)
        *oom = true;
    return id;
}

int hk_engine_upsert_customer(struct hk_engine *e, const struct hk_engine_customer *c,
                              struct hk_err *err)
{
    uint32_t r = customer_row(e, c->id);
    if (r == HK_DEAD)
        return nomem(err);
    bool oom = false;
    e->c_province[r] = intern_opt(e, HK_DICT_PROVINCE, c->province, &oom);
    e->c_city[r] = intern_opt(e, HK_DICT_CITY, c->city, &oom);
    if (oom)
        return nomem(err);
    uint64_t bit = (uint64_t)1 << (r & 63);
    if (c->merged_into)
        e->live[r >> 6] &= ~bit;
    else
        e->live[r >> 6] |= bit;
    return 0;
}

int hk_engine_add_channel(struct hk_engine *e, int64_t customer_id, const char *channel,
                          struct hk_err *err)
{
    bool oom = false;
    uint32_t ch = intern_opt(e, HK_DICT_CHANNEL, channel, &oom);
    if (oom)
        return nomem(err);
    if (ch == HK_ENGINE_NONE)
        return 0;
    if (ch >= HK_MAX_CHANNELS)
        return hk_err_set(err, HK_E(INVAL), "too many distinct channels (at most %u)",
                          HK_MAX_CHANNELS);
    uint32_t r = customer_row(e, customer_id);
    if (r == HK_DEAD)
        return nomem(err);
    e->c_channels[r] |= (uint32_t)1 << ch;
    return 0;
}

uint64_t *hk_engine_tag_bitmap(struct hk_engine *e, uint32_t tag, bool create)
{
    if (tag >= e->ntag_bits) {
        if (!create)
            return NULL;
        size_t n = tag + 1;
        if (grow_col((void **)&e->tag_bits, sizeof(uint64_t *), n))
            return NULL;
        for (size_t i = e->ntag_bits; i < n; i++)
            e->tag_bits[i] = NULL;
        e->ntag_bits = n;
    }
    if (!e->tag_bits[tag] && create)
        e->tag_bits[tag] = calloc(e->cc / 64 + 1, 8);
    return e->tag_bits[tag];
}

const uint64_t *hk_engine_tag_bits(const struct hk_engine *e, uint32_t tag)
{
    return tag < e->ntag_bits ? e->tag_bits[tag] : NULL;
}

int hk_engine_tag_define(struct hk_engine *e, const char *name, struct hk_err *err)
{
    bool oom = false;
    if (!name || !*name)
        return hk_err_set(err, HK_E(INVAL), "a tag needs a name");
    uint32_t t = intern_opt(e, HK_DICT_TAG, name, &oom);
    if (!oom)
        hk_engine_tag_revive(e, t);
    return oom ? nomem(err) : 0;
}

int hk_engine_tag_set(struct hk_engine *e, int64_t customer_id, const char *name, bool on,
                      struct hk_err *err)
{
    bool oom = false;
    if (!name || !*name)
        return hk_err_set(err, HK_E(INVAL), "a tag needs a name");
    uint32_t t = intern_opt(e, HK_DICT_TAG, name, &oom);
    uint32_t r = oom ? HK_DEAD : customer_row(e, customer_id);
    if (r == HK_DEAD)
        return nomem(err);
    uint64_t *b = hk_engine_tag_bitmap(e, t, on);
    if (on && !b)
        return nomem(err);
    if (on) /* someone carries it: the store knows it (again) */
        hk_engine_tag_revive(e, t);
    if (b) {
        uint64_t bit = (uint64_t)1 << (r & 63);
        if (on)
            b[r >> 6] |= bit;
        else
            b[r >> 6] &= ~bit;
    }
    return 0;
}

/* ---- shops and products ------------------------------------------------------------------- */

int hk_engine_add_shop(struct hk_engine *e, int64_t shop_id, const char *timezone,
                       struct hk_err *err)
{
    uint8_t z;
    int rc = zone_index(e, timezone && *timezone ? timezone : HK_TZ_DEFAULT, &z, err);
    if (rc)
        return rc;
    if (shop_id <= 0)
        return hk_err_set(err, HK_E(INVAL), "shop ids are positive (0 means all shops)");
    uint32_t s = map_get(&e->shop_map, shop_id);
    if (s == HK_ENGINE_NONE) {
        if (e->nshops >= HK_MAX_SHOPS)
            return hk_err_set(err, HK_E(INVAL), "too many shops (at most %u)", HK_MAX_SHOPS);
        if (e->nshops == e->cshops) {
            uint32_t cap = e->cshops ? e->cshops * 2 : 16;
            cap = cap > HK_MAX_SHOPS ? HK_MAX_SHOPS : cap;
            if (grow_col((void **)&e->shops, sizeof(struct hk_shop), cap) ||
                grow_col((void **)&e->s_zone, 1, cap))
                return nomem(err);
            e->cshops = cap;
        }
        s = e->nshops;
        memset(&e->shops[s], 0, sizeof(e->shops[s]));
        e->shops[s].id = shop_id;
        if (map_put(&e->shop_map, shop_id, s))
            return nomem(err);
        e->nshops++;
    }
    e->s_zone[s] = z;
    return 0;
}

uint32_t hk_engine_shop_index(const struct hk_engine *e, int64_t shop_id)
{
    uint32_t s = map_get(&e->shop_map, shop_id);
    return s == HK_ENGINE_NONE ? HK_SHOP_NONE : s;
}

static int set_str(char **dst, const char *v)
{
    if (!v || !*v)
        return 0; /* an unnamed description keeps what is known */
    if (*dst && strcmp(*dst, v) == 0)
        return 0;
    size_t n = strlen(v);
    char *c = malloc(n + 1);
    if (!c)
        return -1;
    memcpy(c, v, n + 1);
    free(*dst);
    *dst = c;
    return 0;
}

int hk_engine_shop_describe(struct hk_engine *e, int64_t shop_id, const char *channel,
                            const char *name, struct hk_err *err)
{
    uint32_t s = hk_engine_shop_index(e, shop_id);
    if (s == HK_SHOP_NONE)
        return hk_err_set(err, HK_E(NOTFOUND), "unknown shop %lld", (long long)shop_id);
    if (set_str(&e->shops[s].channel, channel) || set_str(&e->shops[s].name, name))
        return nomem(err);
    return 0;
}

size_t hk_engine_shop_count(const struct hk_engine *e)
{
    return e->nshops;
}

void hk_engine_shop_at(const struct hk_engine *e, size_t i, struct hk_engine_shop *out)
{
    memset(out, 0, sizeof(*out));
    if (i >= e->nshops)
        return;
    const struct hk_shop *s = &e->shops[i];
    out->id = s->id;
    out->channel = s->channel;
    out->name = s->name;
    out->timezone = hk_tz_name(e->zones[e->s_zone[i]]);
    out->own_config = s->cfg != NULL;
}

bool hk_engine_shop_known(const struct hk_engine *e, int64_t shop_id)
{
    return hk_engine_shop_index(e, shop_id) != HK_SHOP_NONE;
}

int hk_engine_add_product(struct hk_engine *e, int64_t product_id, const char *external_id,
                          const char *category, struct hk_err *err)
{
    bool oom = false;
    uint32_t name = intern_opt(e, HK_DICT_PRODUCT, external_id ? external_id : "", &oom);
    uint32_t cat = intern_opt(e, HK_DICT_CATEGORY, category, &oom);
    if (oom)
        return nomem(err);
    if (cat != HK_ENGINE_NONE && cat >= HK_MAX_CATS)
        return hk_err_set(err, HK_E(INVAL), "too many distinct categories (at most %u)",
                          HK_MAX_CATS - 1);
    uint32_t slot = map_get(&e->product_map, product_id);
    if (slot == HK_ENGINE_NONE) {
        if (e->np == e->cp) {
            size_t cap = next_cap(e->cp, e->np + 1);
            if (grow_col((void **)&e->p_name, 4, cap) || grow_col((void **)&e->p_cat, 2, cap))
                return nomem(err);
            e->cp = cap;
        }
        slot = (uint32_t)e->np++;
        if (map_put(&e->product_map, product_id, slot))
            return nomem(err);
    }
    e->p_name[slot] = name;
    e->p_cat[slot] = cat == HK_ENGINE_NONE ? HK_CAT_NONE : (uint16_t)cat;
    return 0;
}

/* ---- deriving one customer's aggregates --------------------------------------------------- */

/* One (customer, shop) pair as derived from the orders, with the scores it carries over. */
struct ps_ent {
    uint16_t shop;
    uint32_t freq;
    int64_t mon;
    int64_t last_t;
    int32_t last;
    uint8_t sc[5];
};

static size_t row_shops(const struct hk_engine *e, uint32_t r, struct ps_ent *v, size_t cap);
static void put_ps(struct hk_engine *e, size_t i, uint32_t r, const struct ps_ent *v);

/*
 * Re-derives row r from its history. sums: HK_MAX_CATS+1 zeroed int64s, left zeroed.
 * entries: also writes the row's per-shop entries (scores 0) at [c_psstart, +c_pscount), whose
 * count the caller has already set (ps_count_row): the full recompute fills them here, while
 * the row's orders are in cache, instead of walking the orders again. -1 on OOM (a customer of
 * more than 8 shops).
 */
static int derive_row(struct hk_engine *e, uint32_t r, int64_t *sums, bool entries, uint8_t *slot)
{
    uint32_t freq = 0, coupon = 0, refunds = 0;
    int64_t mon = 0, first_t = INT64_MAX, last_t = INT64_MIN;
    uint32_t first_o = HK_DEAD, last_o = HK_DEAD;
    uint32_t nsh = entries ? e->c_pscount[r] : 0;
    bool multi = nsh > 1 && nsh <= 8; /* per-shop sums gathered in the walk */
    struct ps_ent v[8];
    uint32_t nv = 0;
    uint32_t os = e->c_ostart[r], oe = os + e->c_ocount[r];
    for (uint32_t o = os; o < oe; o++) {
        uint8_t f = e->o_flags[o];
        if (f & HK_OF_REFUND)
            refunds++;
        if (!(f & HK_OF_COUNTED))
            continue;
        int64_t net = hk_o_net(e, o), t = e->o_paid_at[o];
        freq++;
        mon += net;
        if (f & HK_OF_COUPON)
            coupon++;
        if (t < first_t) {
            first_t = t;
            first_o = o;
        }
        if (t > last_t || last_o == HK_DEAD) {
            last_t = t;
            last_o = o;
        }
        if (multi) { /* as row_shops: shops in order of first appearance */
            uint16_t sh = e->o_shop[o];
            uint32_t k;
            if (slot) {
                k = slot[sh];
            } else {
                k = 0;
                while (k < nv && v[k].shop != sh)
                    k++;
            }
            if (k >= nv) {
                if (nv == 8)
                    continue; /* cannot happen: nsh counted these orders' shops */
                k = nv++;
                memset(&v[k], 0, sizeof(v[k]));
                v[k].shop = sh;
                if (slot)
                    slot[sh] = (uint8_t)k;
            }
            if (++v[k].freq == 1 || t > v[k].last_t) {
                v[k].last_t = t;
                v[k].last = e->o_day[o];
            }
            v[k].mon += net;
        }
    }
    e->c_freq[r] = freq;
    e->c_monetary[r] = mon;
    int64_t key = hk_aov_key(mon, freq);
    int32_t k32 = key == INT64_MIN                     ? INT32_MIN
                  : key > INT32_MIN && key < INT32_MAX ? (int32_t)key
                                                       : INT32_MAX;
    if ((e->c_aov_key[r] == INT32_MAX) != (k32 == INT32_MAX)) {
        if (k32 == INT32_MAX)
            __atomic_add_fetch(&e->aov_wide_rows, 1, __ATOMIC_RELAXED);
        else
            __atomic_sub_fetch(&e->aov_wide_rows, 1, __ATOMIC_RELAXED);
    }
    e->c_aov_key[r] = k32;
    e->c_coupon[r] = coupon;
    e->c_refunds[r] = refunds;
    if (freq) {
        e->c_first_day[r] = e->o_day[first_o];
        e->c_first_zone[r] = e->s_zone[e->o_shop[first_o]];
        e->c_last_day[r] = e->o_day[last_o];
        e->c_last_zone[r] = e->s_zone[e->o_shop[last_o]];
    } else {
        e->c_first_day[r] = e->c_last_day[r] = HK_DAY_NONE;
        e->c_first_zone[r] = e->c_last_zone[r] = 0;
        e->c_r[r] = e->c_f[r] = e->c_m[r] = e->c_seg[r] = e->c_tier[r] = 0;
    }
    /* Main category: the most spend over counted orders; ties go to the smaller name. */
    uint32_t ls = e->c_lstart[r], le = ls + e->c_lcount[r];
    uint16_t best = HK_CAT_NONE;
    for (uint32_t l = ls; l < le; l++)
        if (e->l_day[l] != HK_DAY_NONE && e->l_cat[l] != HK_CAT_NONE)
            sums[e->l_cat[l]] += hk_l_fen(e, l);
    for (uint32_t l = ls; l < le; l++) {
        uint16_t c = e->l_cat[l];
        if (e->l_day[l] == HK_DAY_NONE || c == HK_CAT_NONE || c == best)
            continue;
        if (best == HK_CAT_NONE || sums[c] > sums[best] ||
            (sums[c] == sums[best] && strcmp(e->dicts[HK_DICT_CATEGORY].names[c],
                                             e->dicts[HK_DICT_CATEGORY].names[best]) < 0))
            best = c;
    }
    for (uint32_t l = ls; l < le; l++)
        if (e->l_cat[l] != HK_CAT_NONE)
            sums[e->l_cat[l]] = 0;
    e->c_main_cat[r] = best;
    if (!nsh)
        return 0;
    uint32_t at = e->c_psstart[r];
    if (nsh == 1) { /* the row's own aggregates, in its one shop */
        struct ps_ent one = {e->o_shop[last_o], freq, mon, last_t, e->c_last_day[r], {0}};
        put_ps(e, at, r, &one);
        return 0;
    }
    if (slot)
        for (uint32_t k = 0; k < nv; k++)
            slot[v[k].shop] = UINT8_MAX;
    struct ps_ent *w = v;
    if (!multi) { /* more than 8 shops: walk again */
        if (!(w = malloc(nsh * sizeof(*w))))
            return -1;
        nv = (uint32_t)row_shops(e, r, w, nsh);
    }
    for (uint32_t k = 0; k < nv; k++)
        put_ps(e, at + k, r, &w[k]);
    if (w != v)
        free(w);
    return 0;
}

/* The number of shops row r has counted orders in (the size of its per-shop entries). */
static uint32_t ps_count_row(const struct hk_engine *e, uint32_t r)
{
    uint32_t os = e->c_ostart[r], oe = os + e->c_ocount[r];
    if (e->nshops <= 1) { /* one shop: any counted order */
        for (uint32_t o = os; o < oe; o++)
            if (e->o_flags[o] & HK_OF_COUNTED)
                return 1;
        return 0;
    }
    if (e->nshops <= 64) { /* a bit per shop, no branches */
        uint64_t m = 0;
        for (uint32_t o = os; o < oe; o++)
            m |= (uint64_t)(e->o_flags[o] & HK_OF_COUNTED) << e->o_shop[o];
        return (uint32_t)__builtin_popcountll(m);
    }
    struct ps_ent none;
    return (uint32_t)row_shops(e, r, &none, 0);
}

/* ---- per-shop RFM entries ------------------------------------------------------------------ */

/*
 * Row r's (shop, frequency, monetary, last day) over its counted orders into v (cap entries;
 * more are counted but not written). Returns the number of distinct shops. Scores are zero.
 */
static size_t row_shops(const struct hk_engine *e, uint32_t r, struct ps_ent *v, size_t cap)
{
    size_t n = 0;
    uint32_t os = e->c_ostart[r], oe = os + e->c_ocount[r];
    for (uint32_t o = os; o < oe; o++) {
        if (!(e->o_flags[o] & HK_OF_COUNTED))
            continue;
        uint16_t sh = e->o_shop[o];
        size_t k = 0;
        while (k < n && k < cap && v[k].shop != sh)
            k++;
        if (k == n || k == cap) { /* a shop not seen (or beyond cap: counted by a rescan) */
            bool seen = false;
            if (k == cap)
                for (uint32_t q = os; q < o && !seen; q++)
                    seen = (e->o_flags[q] & HK_OF_COUNTED) && e->o_shop[q] == sh;
            if (seen)
                continue;
            if (n < cap) {
                memset(&v[n], 0, sizeof(v[n]));
                v[n].shop = sh;
                v[n].last_t = INT64_MIN;
            }
            k = n++;
            if (k >= cap)
                continue;
        }
        v[k].freq++;
        v[k].mon += hk_o_net(e, o);
        if (e->o_paid_at[o] > v[k].last_t || v[k].freq == 1) {
            v[k].last_t = e->o_paid_at[o];
            v[k].last = e->o_day[o];
        }
    }
    return n;
}

/* Scores of row r's current entry for shop sh into sc (zero when it has none). */
static void old_scores(const struct hk_engine *e, uint32_t start, uint32_t count, uint16_t sh,
                       uint8_t sc[5])
{
    for (uint32_t i = start; i < start + count; i++)
        if (e->ps_shop[i] == sh) {
            sc[0] = e->ps_r[i];
            sc[1] = e->ps_f[i];
            sc[2] = e->ps_m[i];
            sc[3] = e->ps_seg[i];
            sc[4] = e->ps_tier[i];
            return;
        }
    memset(sc, 0, 5);
}

static void put_ps(struct hk_engine *e, size_t i, uint32_t r, const struct ps_ent *v)
{
    e->ps_row[i] = r;
    e->ps_shop[i] = v->shop;
    e->ps_freq[i] = v->freq;
    e->ps_mon[i] = v->mon;
    e->ps_last[i] = v->last;
    e->ps_r[i] = v->sc[0];
    e->ps_f[i] = v->sc[1];
    e->ps_m[i] = v->sc[2];
    e->ps_seg[i] = v->sc[3];
    e->ps_tier[i] = v->sc[4];
}

/*
 * Re-derives row r's per-shop entries after a change to its history (single-threaded: it may
 * move them to the tail). Shops it still buys in keep their scores until the next rescore.
 */
static int derive_shops_row(struct hk_engine *e, uint32_t r)
{
    struct ps_ent stack[8], *v = stack;
    size_t n = row_shops(e, r, stack, 8);
    if (n > 8) {
        v = malloc(n * sizeof(*v));
        if (!v)
            return -1;
        row_shops(e, r, v, n);
    }
    uint32_t start = e->c_psstart[r], count = e->c_pscount[r];
    for (size_t k = 0; k < n; k++)
        old_scores(e, start, count, v[k].shop, v[k].sc);
    if (n > count) {
        bool at_tail = count == 0 || start + count == e->nps;
        if (ensure_ps(e, e->nps + n)) {
            if (v != stack)
                free(v);
            return -1;
        }
        if (!at_tail || count == 0) {
            for (uint32_t i = start; i < start + count; i++)
                e->ps_row[i] = HK_DEAD;
            e->ps_dead += count;
            start = (uint32_t)e->nps;
            e->nps += n;
        } else {
            e->nps += n - count;
        }
    } else {
        for (uint32_t i = start + (uint32_t)n; i < start + count; i++)
            e->ps_row[i] = HK_DEAD;
        e->ps_dead += count - n;
    }
    for (size_t k = 0; k < n; k++)
        put_ps(e, start + k, r, &v[k]);
    e->c_psstart[r] = n ? start : (uint32_t)e->nps;
    e->c_pscount[r] = (uint32_t)n;
    if (v != stack)
        free(v);
    return 0;
}

/* ---- parallel helper ---------------------------------------------------------------------- */

struct par_job {
    void (*fn)(void *, size_t, size_t);
    void *ctx;
    size_t lo, hi;
};

static void *par_main(void *arg)
{
    struct par_job *j = arg;
    j->fn(j->ctx, j->lo, j->hi);
    return NULL;
}

void hk_engine_parallel(const struct hk_engine *e, size_t n, void (*fn)(void *, size_t, size_t),
                        void *ctx)
{
    int t = e->threads;
    if (t <= 1 || n < 65536) {
        fn(ctx, 0, n);
        return;
    }
    struct par_job jobs[64];
    pthread_t tids[64];
    bool started[64] = {false};
    /* Split on 64-row boundaries so threads never share a bitmap word. */
    size_t chunk = ((n + (size_t)t - 1) / (size_t)t + 63) & ~(size_t)63;
    for (int i = 0; i < t; i++) {
        jobs[i].fn = fn;
        jobs[i].ctx = ctx;
        jobs[i].lo = (size_t)i * chunk < n ? (size_t)i * chunk : n;
        jobs[i].hi = jobs[i].lo + chunk < n ? jobs[i].lo + chunk : n;
    }
    for (int i = 1; i < t; i++)
        started[i] = pthread_create(&tids[i], NULL, par_main, &jobs[i]) == 0;
    fn(ctx, jobs[0].lo, jobs[0].hi);
    for (int i = 1; i < t; i++) {
        if (started[i])
            pthread_join(tids[i], NULL);
        else
            fn(ctx, jobs[i].lo, jobs[i].hi);
    }
}

/*
 * The full recompute: every row's aggregates and per-shop entries, in two parallel passes. The
 * first counts each row's shops (c_pscount; a bit per shop, reading two order columns), a
 * prefix sum lays the entries out by row (c_psstart; the columns are reused while their
 * capacity suffices, so a recompute touches no fresh pages), and the derive pass fills each
 * row's entries while it walks that row's orders for its aggregates. Scores start at 0: every
 * caller rescores next.
 */
struct derive_ctx {
    struct hk_engine *e;
    bool failed;
};

static void ps_count_range(void *arg, size_t lo, size_t hi)
{
    struct hk_engine *e = ((struct derive_ctx *)arg)->e;
    for (size_t r = lo; r < hi; r++)
        e->c_pscount[r] = ps_count_row(e, (uint32_t)r);
}

static void derive_range(void *arg, size_t lo, size_t hi)
{
    struct derive_ctx *c = arg;
    /* the first range borrows the engine's (zeroed) sums: no fresh pages */
    int64_t *sums = lo == 0 ? c->e->scratch_cat : calloc(HK_MAX_CATS + 1, sizeof(int64_t));
    if (!sums) {
        c->failed = true;
        return;
    }
    /* a shop's position among the row's entries, while the row is walked (UINT8_MAX: none) */
    uint8_t slot[256];
    memset(slot, UINT8_MAX, sizeof slot);
    bool failed = false;
    for (size_t r = lo; r < hi; r++)
        failed |= derive_row(c->e, (uint32_t)r, sums, true, c->e->nshops <= 256 ? slot : NULL) != 0;
    if (failed)
        c->failed = true;
    if (sums != c->e->scratch_cat)
        free(sums);
}

int hk_engine_recompute(struct hk_engine *e, struct hk_err *err)
{
    struct derive_ctx c = {e, false};
    hk_engine_parallel(e, e->nc, ps_count_range, &c);
    size_t total = 0;
    for (size_t r = 0; r < e->nc; r++) {
        e->c_psstart[r] = (uint32_t)total;
        total += e->c_pscount[r];
    }
    if (total >= UINT32_MAX / 2 || ensure_ps(e, total))
        return nomem(err);
    e->nps = total;
    e->ps_dead = 0;
    hk_engine_parallel(e, e->nc, derive_range, &c);
    return c.failed ? nomem(err) : 0;
}

/* ---- regrouping history by customer ------------------------------------------------------- */

/* Moves column *col (n elements of elsize) so element i lands at dst[i] (HK_DEAD: dropped). */
static int permute(void **col, size_t elsize, const uint32_t *dst, size_t n, size_t newcap)
{
    unsigned char *nw = malloc(elsize * (newcap ? newcap : 1));
    if (!nw)
        return -1;
    const unsigned char *old = *col;
    switch (elsize) {
    case 1:
        for (size_t i = 0; i < n; i++)
            if (dst[i] != HK_DEAD)
                nw[dst[i]] = old[i];
        break;
    case 2:
        for (size_t i = 0; i < n; i++)
            if (dst[i] != HK_DEAD)
                ((uint16_t *)(void *)nw)[dst[i]] = ((const uint16_t *)(const void *)old)[i];
        break;
    case 4:
        for (size_t i = 0; i < n; i++)
            if (dst[i] != HK_DEAD)
                ((uint32_t *)(void *)nw)[dst[i]] = ((const uint32_t *)(const void *)old)[i];
        break;
    default:
        for (size_t i = 0; i < n; i++)
            if (dst[i] != HK_DEAD)
                ((uint64_t *)(void *)nw)[dst[i]] = ((const uint64_t *)(const void *)old)[i];
        break;
    }
    free(*col);
    *col = nw;
    return 0;
}

/*
 * Sorts one history family by customer (stable), dropping dead slots. cust: the family's
 * customer column; counts: per-row live counts (c_ocount ...); starts receives the new ranges.
 * Returns the destination index of every old slot in *dst_out (new; caller frees).
 */
static int regroup_family(struct hk_engine *e, const uint32_t *cust, size_t n,
                          const uint32_t *counts, uint32_t *starts, uint32_t **dst_out)
{
    uint32_t *dst = malloc((n ? n : 1) * sizeof(uint32_t));
    uint32_t *cursor = malloc((e->nc ? e->nc : 1) * sizeof(uint32_t));
    if (!dst || !cursor) {
        free(dst);
        free(cursor);
        return -1;
    }
    uint32_t pos = 0;
    for (size_t r = 0; r < e->nc; r++) {
        starts[r] = pos;
        cursor[r] = pos;
        pos += counts[r];
    }
    for (size_t i = 0; i < n; i++)
        dst[i] = cust[i] == HK_DEAD ? HK_DEAD : cursor[cust[i]]++;
    free(cursor);
    *dst_out = dst;
    return 0;
}

/* Compacts and groups the history; slack: spare capacity as a fraction 1/slack (0: none). */
static int regroup(struct hk_engine *e, size_t slack)
{
    uint32_t *dst = NULL;
    size_t live_o = e->no - e->o_dead, live_l = e->nl - e->l_dead, live_e = e->ne - e->e_dead;
    /* orders */
    if (regroup_family(e, e->o_cust, e->no, e->c_ocount, e->c_ostart, &dst))
        return -1;
    size_t cap = live_o + (slack ? live_o / slack : 0) + 16;
    int bad = permute((void **)&e->o_id, 8, dst, e->no, cap) ||
              permute((void **)&e->o_paid_at, 8, dst, e->no, cap) ||
              (e->amounts_wide ? permute((void **)&e->o_net_w, 8, dst, e->no, cap)
                               : permute((void **)&e->o_net, 4, dst, e->no, cap)) ||
              permute((void **)&e->o_day, 4, dst, e->no, cap) ||
              permute((void **)&e->o_cust, 4, dst, e->no, cap) ||
              permute((void **)&e->o_flags, 1, dst, e->no, cap) ||
              permute((void **)&e->o_shop, 2, dst, e->no, cap);
    if (bad) {
        free(dst);
        return -1; /* the engine is unusable now; the caller rebuilds it */
    }
    /* lines point at orders: remap before moving them */
    for (size_t l = 0; l < e->nl; l++)
        if (e->l_cust[l] != HK_DEAD)
            e->l_ord[l] = dst[e->l_ord[l]];
    free(dst);
    e->no = live_o;
    e->co = cap;
    e->o_dead = 0;
    /* lines */
    if (regroup_family(e, e->l_cust, e->nl, e->c_lcount, e->c_lstart, &dst))
        return -1;
    cap = live_l + (slack ? live_l / slack : 0) + 16;
    bad = permute((void **)&e->l_cust, 4, dst, e->nl, cap) ||
          permute((void **)&e->l_ord, 4, dst, e->nl, cap) ||
          permute((void **)&e->l_prod, 4, dst, e->nl, cap) ||
          permute((void **)&e->l_day, 4, dst, e->nl, cap) ||
          (e->amounts_wide ? permute((void **)&e->l_fen_w, 8, dst, e->nl, cap)
                           : permute((void **)&e->l_fen, 4, dst, e->nl, cap)) ||
          permute((void **)&e->l_cat, 2, dst, e->nl, cap);
    free(dst);
    if (bad)
        return -1;
    e->nl = live_l;
    e->cl = cap;
    e->l_dead = 0;
    /* events */
    if (regroup_family(e, e->e_cust, e->ne, e->c_ecount, e->c_estart, &dst))
        return -1;
    cap = live_e + (slack ? live_e / slack : 0) + 16;
    bad = permute((void **)&e->e_cust, 4, dst, e->ne, cap) ||
          permute((void **)&e->e_type, 2, dst, e->ne, cap) ||
          permute((void **)&e->e_day, 4, dst, e->ne, cap) ||
          permute((void **)&e->e_zone, 1, dst, e->ne, cap);
    free(dst);
    if (bad)
        return -1;
    e->ne = live_e;
    e->ce = cap;
    e->e_dead = 0;
    /* per-shop RFM entries */
    if (!e->loaded)
        return 0; /* none before the load: hk_engine_recompute builds them */
    size_t live_ps = e->nps - e->ps_dead;
    if (regroup_family(e, e->ps_row, e->nps, e->c_pscount, e->c_psstart, &dst))
        return -1;
    cap = live_ps + (slack ? live_ps / slack : 0) + 16;
    bad = permute((void **)&e->ps_row, 4, dst, e->nps, cap) ||
          permute((void **)&e->ps_freq, 4, dst, e->nps, cap) ||
          permute((void **)&e->ps_shop, 2, dst, e->nps, cap) ||
          permute((void **)&e->ps_mon, 8, dst, e->nps, cap) ||
          permute((void **)&e->ps_last, 4, dst, e->nps, cap) ||
          permute((void **)&e->ps_r, 1, dst, e->nps, cap) ||
          permute((void **)&e->ps_f, 1, dst, e->nps, cap) ||
          permute((void **)&e->ps_m, 1, dst, e->nps, cap) ||
          permute((void **)&e->ps_seg, 1, dst, e->nps, cap) ||
          permute((void **)&e->ps_tier, 1, dst, e->nps, cap);
    free(dst);
    if (bad)
        return -1;
    e->nps = live_ps;
    e->cps = cap;
    e->ps_dead = 0;
    return 0;
}

static int maybe_compact(struct hk_engine *e, struct hk_err *err)
{
    size_t dead = e->o_dead + e->l_dead + e->e_dead + e->ps_dead;
    size_t total = e->no + e->nl + e->ne + e->nps;
    if (dead < 4096 || dead * 3 < total)
        return 0;
    return regroup(e, 8) ? nomem(err) : 0;
}

int hk_engine_load_finish(struct hk_engine *e, struct hk_err *err)
{
    if (e->loaded)
        return hk_err_set(err, HK_E(INVAL), "the engine is already loaded");
    if (regroup(e, 0)) /* shrink to fit: the load is the bulk of the history */
        return nomem(err);
    e->loaded = true;
    int rc = hk_engine_recompute(e, err);
    if (!rc && hk_index_build(e))
        hk_index_free(e); /* out of memory for the index: flat scans answer */
    return rc;
}

bool hk_engine_loaded(const struct hk_engine *e)
{
    return e->loaded;
}

/* ---- moving a customer's history to the tail ---------------------------------------------- */

/* Copies row r's orders and lines to the tail as belonging to `to`, skipping order index
 * `skip` (HK_DEAD: none) and its lines; kills the old slots. Capacity must be ensured. */
static void move_orders(struct hk_engine *e, uint32_t r, uint32_t to, uint32_t skip)
{
    uint32_t os = e->c_ostart[r], oc = e->c_ocount[r];
    uint32_t ls = e->c_lstart[r], lc = e->c_lcount[r];
    uint32_t nos = (uint32_t)e->no, nls = (uint32_t)e->nl;
    uint32_t kept_o = 0, kept_l = 0;
    for (uint32_t k = 0; k < oc; k++) {
        uint32_t o = os + k;
        if (o == skip) {
            e->o_cust[o] = HK_DEAD;
            e->o_flags[o] = 0;
            continue;
        }
        uint32_t d = nos + kept_o++;
        e->o_id[d] = e->o_id[o];
        e->o_paid_at[d] = e->o_paid_at[o];
        if (e->amounts_wide)
            e->o_net_w[d] = e->o_net_w[o];
        else
            e->o_net[d] = e->o_net[o];
        e->o_day[d] = e->o_day[o];
        e->o_cust[d] = to;
        e->o_flags[d] = e->o_flags[o];
        e->o_shop[d] = e->o_shop[o];
        e->o_cust[o] = HK_DEAD;
        e->o_flags[o] = 0;
    }
    for (uint32_t k = 0; k < lc; k++) {
        uint32_t l = ls + k;
        uint32_t ord = e->l_ord[l];
        if (ord != skip) {
            uint32_t d = nls + kept_l++;
            e->l_cust[d] = to;
            e->l_ord[d] = nos + (ord - os) - (skip != HK_DEAD && ord > skip ? 1 : 0);
            e->l_prod[d] = e->l_prod[l];
            e->l_day[d] = e->l_day[l];
            if (e->amounts_wide)
                e->l_fen_w[d] = e->l_fen_w[l];
            else
                e->l_fen[d] = e->l_fen[l];
            e->l_cat[d] = e->l_cat[l];
        }
        e->l_cust[l] = HK_DEAD;
        e->l_day[l] = HK_DAY_NONE;
    }
    e->no += kept_o;
    e->nl += kept_l;
    e->o_dead += oc;
    e->l_dead += lc;
    e->c_ocount[r] = 0;
    e->c_lcount[r] = 0;
}

/* Makes row r's order and line ranges end at the tails (dropping order `skip`). */
static int orders_to_tail(struct hk_engine *e, uint32_t r, uint32_t skip, size_t extra_o,
                          size_t extra_l)
{
    uint32_t oc = e->c_ocount[r], lc = e->c_lcount[r];
    if (ensure_orders(e, e->no + oc + extra_o) || ensure_lines(e, e->nl + lc + extra_l))
        return -1;
    bool at_tail =
        (oc == 0 || e->c_ostart[r] + oc == e->no) && (lc == 0 || e->c_lstart[r] + lc == e->nl);
    if (oc == 0)
        e->c_ostart[r] = (uint32_t)e->no;
    if (lc == 0)
        e->c_lstart[r] = (uint32_t)e->nl;
    if (at_tail && skip == HK_DEAD)
        return 0;
    uint32_t nos = (uint32_t)e->no, nls = (uint32_t)e->nl;
    uint32_t skipped_lines = 0;
    if (skip != HK_DEAD)
        for (uint32_t l = e->c_lstart[r]; l < e->c_lstart[r] + lc; l++)
            skipped_lines += e->l_ord[l] == skip;
    move_orders(e, r, r, skip);
    e->c_ostart[r] = nos;
    e->c_lstart[r] = nls;
    e->c_ocount[r] = oc - (skip != HK_DEAD);
    e->c_lcount[r] = lc - skipped_lines;
    return 0;
}

static void move_events(struct hk_engine *e, uint32_t r, uint32_t to)
{
    uint32_t es = e->c_estart[r], ec = e->c_ecount[r];
    uint32_t d = (uint32_t)e->ne;
    for (uint32_t k = 0; k < ec; k++, d++) {
        uint32_t i = es + k;
        e->e_cust[d] = to;
        e->e_type[d] = e->e_type[i];
        e->e_day[d] = e->e_day[i];
        e->e_zone[d] = e->e_zone[i];
        e->e_cust[i] = HK_DEAD;
        e->e_day[i] = HK_DAY_NONE;
    }
    e->ne += ec;
    e->e_dead += ec;
    e->c_ecount[r] = 0;
}

static int events_to_tail(struct hk_engine *e, uint32_t r, size_t extra)
{
    uint32_t ec = e->c_ecount[r];
    if (ensure_events(e, e->ne + ec + extra))
        return -1;
    if (ec == 0) {
        e->c_estart[r] = (uint32_t)e->ne;
        return 0;
    }
    if (e->c_estart[r] + ec == e->ne)
        return 0;
    uint32_t ns = (uint32_t)e->ne;
    move_events(e, r, r);
    e->c_estart[r] = ns;
    e->c_ecount[r] = ec;
    return 0;
}

/* ---- orders ------------------------------------------------------------------------------- */

static bool fits32(int64_t v)
{
    return v >= INT32_MIN && v <= INT32_MAX;
}

/* Moves the amount columns to int64 (an amount past +-21,474,836.47 yuan arrived). */
static int go_wide(struct hk_engine *e)
{
    int64_t *on = malloc((e->co ? e->co : 1) * 8), *lf = malloc((e->cl ? e->cl : 1) * 8);
    if (!on || !lf) {
        free(on);
        free(lf);
        return -1;
    }
    for (size_t i = 0; i < e->no; i++)
        on[i] = e->o_net[i];
    for (size_t i = 0; i < e->nl; i++)
        lf[i] = e->l_fen[i];
    free(e->o_net);
    free(e->l_fen);
    e->o_net = NULL;
    e->l_fen = NULL;
    e->o_net_w = on;
    e->l_fen_w = lf;
    e->amounts_wide = true;
    return 0;
}

/* The index of row r's order `id`, or HK_DEAD. Before the load ranges are not formed yet. */
static uint32_t find_order(const struct hk_engine *e, uint32_t r, int64_t id)
{
    if (!e->loaded) {
        for (size_t k = 0; k < e->no; k++)
            if (e->o_id[k] == id && e->o_cust[k] == r)
                return (uint32_t)k;
        return HK_DEAD;
    }
    for (uint32_t k = e->c_ostart[r]; k < e->c_ostart[r] + e->c_ocount[r]; k++)
        if (e->o_id[k] == id)
            return k;
    return HK_DEAD;
}

int hk_engine_apply_order(struct hk_engine *e, const struct hk_engine_order *o, struct hk_err *err)
{
    uint32_t shop = map_get(&e->shop_map, o->shop_id);
    if (shop == HK_ENGINE_NONE)
        return hk_err_set(err, HK_E(INVAL), "order %lld: unknown shop %lld", (long long)o->order_id,
                          (long long)o->shop_id);
    uint32_t zone = e->s_zone[shop];
    for (size_t i = 0; i < o->n_lines; i++)
        if (o->lines[i].product_id &&
            map_get(&e->product_map, o->lines[i].product_id) == HK_ENGINE_NONE)
            return hk_err_set(err, HK_E(INVAL), "order %lld: unknown product %lld",
                              (long long)o->order_id, (long long)o->lines[i].product_id);
    if (e->no + 1 >= UINT32_MAX / 2 || e->nl + o->n_lines >= UINT32_MAX / 2)
        return hk_err_set(err, HK_E(INVAL), "the engine holds at most 2^31 orders and lines");
    if (!e->amounts_wide) {
        bool fits = fits32(o->paid_fen - o->refund_fen);
        for (size_t i = 0; i < o->n_lines; i++)
            fits = fits && fits32(o->lines[i].amount_fen);
        if (!fits && go_wide(e))
            return nomem(err);
    }
    uint32_t r = customer_row(e, o->customer_id);
    if (r == HK_DEAD)
        return nomem(err);
    uint32_t skip = HK_DEAD;
    if (e->loaded) {
        skip = find_order(e, r, o->order_id);
        if (orders_to_tail(e, r, skip, 1, o->n_lines))
            return nomem(err);
    } else if (ensure_orders(e, e->no + 1) || ensure_lines(e, e->nl + o->n_lines)) {
        return nomem(err);
    }
    bool counted = hk_engine_status_counted(o->status) && o->has_paid_at;
    int32_t day = o->has_paid_at ? hk_tz_local_day(e->zones[zone], o->paid_at) : HK_DAY_NONE;
    uint32_t oi = (uint32_t)e->no++;
    e->o_id[oi] = o->order_id;
    e->o_paid_at[oi] = o->has_paid_at ? o->paid_at : 0;
    if (e->amounts_wide)
        e->o_net_w[oi] = o->paid_fen - o->refund_fen;
    else
        e->o_net[oi] = (int32_t)(o->paid_fen - o->refund_fen);
    e->o_day[oi] = day;
    e->o_cust[oi] = r;
    e->o_shop[oi] = (uint16_t)shop;
    e->o_flags[oi] =
        (uint8_t)((counted ? HK_OF_COUNTED : 0) | (o->coupon ? HK_OF_COUPON : 0) |
                  (o->status == HK_ORDER_REFUNDED || o->refund_fen > 0 ? HK_OF_REFUND : 0) |
                  (o->has_paid_at ? HK_OF_PAID_AT : 0));
    for (size_t i = 0; i < o->n_lines; i++) {
        uint32_t l = (uint32_t)e->nl++;
        uint32_t slot = o->lines[i].product_id ? map_get(&e->product_map, o->lines[i].product_id)
                                               : HK_ENGINE_NONE;
        e->l_cust[l] = r;
        e->l_ord[l] = oi;
        e->l_prod[l] = slot == HK_ENGINE_NONE ? HK_ENGINE_NONE : e->p_name[slot];
        e->l_cat[l] = slot == HK_ENGINE_NONE ? HK_CAT_NONE : e->p_cat[slot];
        e->l_day[l] = counted ? day : HK_DAY_NONE;
        if (e->amounts_wide)
            e->l_fen_w[l] = o->lines[i].amount_fen;
        else
            e->l_fen[l] = (int32_t)o->lines[i].amount_fen;
    }
    e->c_ocount[r]++;
    e->c_lcount[r] += (uint32_t)o->n_lines;
    if (!e->loaded)
        return 0;
    derive_row(e, r, e->scratch_cat, false, NULL);
    if (derive_shops_row(e, r))
        return nomem(err);
    if (skip == HK_DEAD) /* a new order only adds lines, the tail of the row's range */
        hk_index_added(e, r, (uint32_t)(e->nl - o->n_lines), (uint32_t)e->nl);
    else
        hk_index_dirty(e, r);
    return maybe_compact(e, err);
}

int hk_engine_remove_order(struct hk_engine *e, int64_t customer_id, int64_t order_id,
                           struct hk_err *err)
{
    uint32_t r = cust_get(e, customer_id);
    if (r == HK_ENGINE_NONE)
        return 0;
    uint32_t skip = find_order(e, r, order_id);
    if (skip == HK_DEAD)
        return 0;
    if (!e->loaded) { /* before the load: kill the slots in place */
        e->o_cust[skip] = HK_DEAD;
        e->o_flags[skip] = 0;
        e->o_dead++;
        e->c_ocount[r]--;
        for (size_t l = 0; l < e->nl; l++)
            if (e->l_ord[l] == skip && e->l_cust[l] == r) {
                e->l_cust[l] = HK_DEAD;
                e->l_day[l] = HK_DAY_NONE;
                e->l_dead++;
                e->c_lcount[r]--;
            }
        return 0;
    }
    if (orders_to_tail(e, r, skip, 0, 0))
        return nomem(err);
    derive_row(e, r, e->scratch_cat, false, NULL);
    if (derive_shops_row(e, r))
        return nomem(err);
    hk_index_dirty(e, r);
    return maybe_compact(e, err);
}

int hk_engine_add_event(struct hk_engine *e, int64_t customer_id, int64_t shop_id, const char *type,
                        int64_t at, struct hk_err *err)
{
    uint32_t zone = e->default_zone;
    if (shop_id) {
        uint32_t shop = map_get(&e->shop_map, shop_id);
        if (shop == HK_ENGINE_NONE)
            return hk_err_set(err, HK_E(INVAL), "event: unknown shop %lld", (long long)shop_id);
        zone = e->s_zone[shop];
    }
    bool oom = false;
    uint32_t t = intern_opt(e, HK_DICT_EVENT_TYPE, type, &oom);
    if (oom)
        return nomem(err);
    if (t == HK_ENGINE_NONE || t >= UINT16_MAX)
        return hk_err_set(err, HK_E(INVAL), "event: a type is required (at most 65534 types)");
    uint32_t r = customer_row(e, customer_id);
    if (r == HK_DEAD)
        return nomem(err);
    if (e->loaded ? events_to_tail(e, r, 1) : ensure_events(e, e->ne + 1))
        return nomem(err);
    uint32_t i = (uint32_t)e->ne++;
    e->e_cust[i] = r;
    e->e_type[i] = (uint16_t)t;
    e->e_day[i] = hk_tz_local_day(e->zones[zone], at);
    e->e_zone[i] = (uint8_t)zone;
    e->c_ecount[r]++;
    return e->loaded ? maybe_compact(e, err) : 0;
}

/* ---- merge and clear ---------------------------------------------------------------------- */

int hk_engine_merge(struct hk_engine *e, int64_t winner_id, int64_t loser_id, struct hk_err *err)
{
    if (!e->loaded)
        return hk_err_set(err, HK_E(INVAL), "merge before the engine is loaded");
    if (winner_id == loser_id)
        return hk_err_set(err, HK_E(INVAL), "cannot merge a customer into itself");
    uint32_t w = customer_row(e, winner_id), l = customer_row(e, loser_id);
    if (w == HK_DEAD || l == HK_DEAD)
        return nomem(err);
    if (orders_to_tail(e, w, HK_DEAD, e->c_ocount[l], e->c_lcount[l]) ||
        events_to_tail(e, w, e->c_ecount[l]))
        return nomem(err);
    uint32_t loc = e->c_ocount[l], llc = e->c_lcount[l], lec = e->c_ecount[l];
    move_orders(e, l, w, HK_DEAD);
    move_events(e, l, w);
    e->c_ocount[w] += loc;
    e->c_lcount[w] += llc;
    e->c_ecount[w] += lec;
    e->c_channels[w] |= e->c_channels[l];
    e->c_channels[l] = 0;
    uint64_t lbit = (uint64_t)1 << (l & 63), wbit = (uint64_t)1 << (w & 63);
    for (size_t t = 0; t < e->ntag_bits; t++) {
        uint64_t *b = e->tag_bits[t];
        if (b && (b[l >> 6] & lbit)) {
            b[l >> 6] &= ~lbit;
            b[w >> 6] |= wbit;
        }
    }
    e->live[l >> 6] &= ~lbit;
    derive_row(e, w, e->scratch_cat, false, NULL);
    derive_row(e, l, e->scratch_cat, false, NULL);
    if (derive_shops_row(e, w) || derive_shops_row(e, l))
        return nomem(err);
    hk_index_dirty(e, w);
    hk_index_dirty(e, l);
    return maybe_compact(e, err);
}

int hk_engine_customer_clear(struct hk_engine *e, int64_t customer_id, struct hk_err *err)
{
    uint32_t r = cust_get(e, customer_id);
    if (r == HK_ENGINE_NONE)
        return 0;
    if (!e->loaded)
        return hk_err_set(err, HK_E(INVAL), "clear before the engine is loaded");
    for (uint32_t o = e->c_ostart[r]; o < e->c_ostart[r] + e->c_ocount[r]; o++) {
        e->o_cust[o] = HK_DEAD;
        e->o_flags[o] = 0;
    }
    for (uint32_t l = e->c_lstart[r]; l < e->c_lstart[r] + e->c_lcount[r]; l++) {
        e->l_cust[l] = HK_DEAD;
        e->l_day[l] = HK_DAY_NONE;
    }
    for (uint32_t i = e->c_estart[r]; i < e->c_estart[r] + e->c_ecount[r]; i++) {
        e->e_cust[i] = HK_DEAD;
        e->e_day[i] = HK_DAY_NONE;
    }
    e->o_dead += e->c_ocount[r];
    e->l_dead += e->c_lcount[r];
    e->e_dead += e->c_ecount[r];
    e->c_ocount[r] = e->c_lcount[r] = e->c_ecount[r] = 0;
    e->c_ostart[r] = (uint32_t)e->no;
    e->c_lstart[r] = (uint32_t)e->nl;
    e->c_estart[r] = (uint32_t)e->ne;
    e->c_channels[r] = 0;
    uint64_t bit = (uint64_t)1 << (r & 63);
    for (size_t t = 0; t < e->ntag_bits; t++)
        if (e->tag_bits[t])
            e->tag_bits[t][r >> 6] &= ~bit;
    row_reset_aggregates(e, r);
    hk_index_dirty(e, r);
    return e->loaded ? maybe_compact(e, err) : 0;
}

/* ---- reading ------------------------------------------------------------------------------ */

void hk_engine_today(const struct hk_engine *e, int64_t now, int32_t *today)
{
    for (uint32_t z = 0; z < e->nzones; z++)
        today[z] = hk_tz_local_day(e->zones[z], now);
}

size_t hk_engine_rows(const struct hk_engine *e)
{
    return e->nc;
}

size_t hk_engine_live_customers(const struct hk_engine *e)
{
    size_t n = 0;
    for (size_t w = 0; w < hk_engine_words(e); w++)
        n += (size_t)__builtin_popcountll(e->live[w]);
    return n;
}

int64_t hk_engine_row_id(const struct hk_engine *e, size_t row)
{
    return row < e->nc ? e->c_id[row] : 0;
}

int64_t hk_engine_row_of(const struct hk_engine *e, int64_t customer_id)
{
    uint32_t r = cust_get(e, customer_id);
    return r == HK_ENGINE_NONE ? -1 : (int64_t)r;
}

uint32_t hk_engine_dict_find(const struct hk_engine *e, enum hk_dict_kind k, const char *name,
                             size_t len)
{
    uint32_t id = dict_find(&e->dicts[k], name, len);
    return k == HK_DICT_TAG && hk_engine_tag_retired(e, id) ? HK_ENGINE_NONE : id;
}

uint32_t hk_engine_dict_size(const struct hk_engine *e, enum hk_dict_kind k)
{
    return e->dicts[k].n;
}

const char *hk_engine_dict_name(const struct hk_engine *e, enum hk_dict_kind k, uint32_t id)
{
    if (k == HK_DICT_TAG && hk_engine_tag_retired(e, id))
        return NULL; /* a deleted tag: not offered as a name */
    return id < e->dicts[k].n ? e->dicts[k].names[id] : NULL;
}

int hk_engine_customer_get(const struct hk_engine *e, int64_t customer_id, int64_t now,
                           struct hk_engine_aggregates *out, struct hk_err *err)
{
    uint32_t r = cust_get(e, customer_id);
    if (r == HK_ENGINE_NONE)
        return hk_err_set(err, HK_E(NOTFOUND), "customer %lld is not in the engine",
                          (long long)customer_id);
    struct hk_engine_aggregates a;
    memset(&a, 0, sizeof(a));
    a.live = hk_bit_get(e->live, r);
    a.frequency = e->c_freq[r];
    a.monetary_fen = e->c_monetary[r];
    a.refund_count = e->c_refunds[r];
    a.has_recency = a.frequency > 0;
    if (a.has_recency) {
        a.recency_days = hk_tz_local_day(e->zones[e->c_last_zone[r]], now) - e->c_last_day[r];
        a.first_order_days = hk_tz_local_day(e->zones[e->c_first_zone[r]], now) - e->c_first_day[r];
        a.aov_fen = (double)a.monetary_fen / a.frequency;
        a.coupon_use_rate = (double)e->c_coupon[r] / a.frequency;
        a.r_score = e->c_r[r];
        a.f_score = e->c_f[r];
        a.m_score = e->c_m[r];
        a.rfm_segment = e->c_seg[r] ? hk_rfm_segment_name(e->c_seg[r]) : NULL;
        if (e->c_tier[r])
            a.rfm_tier = e->c_tier[r] <= e->rfm.n_tiers ? e->rfm.tiers[e->c_tier[r] - 1].name
                                                        : e->rfm.other_tier;
    }
    a.main_category =
        e->c_main_cat[r] == HK_CAT_NONE ? NULL : e->dicts[HK_DICT_CATEGORY].names[e->c_main_cat[r]];
    a.province = hk_engine_dict_name(e, HK_DICT_PROVINCE, e->c_province[r]);
    a.city = hk_engine_dict_name(e, HK_DICT_CITY, e->c_city[r]);
    a.channels = e->c_channels[r];
    a.orders = e->c_ocount[r];
    a.lines = e->c_lcount[r];
    a.events = e->c_ecount[r];
    *out = a;
    return 0;
}

void hk_engine_memory(const struct hk_engine *e, struct hk_engine_memory *out)
{
    memset(out, 0, sizeof(*out));
    out->customers = e->nc;
    out->orders = e->no - e->o_dead;
    out->lines = e->nl - e->l_dead;
    out->events = e->ne - e->e_dead;
    /* allocated bytes: capacities times element sizes, as ensure_customers / ensure_* allocate */
    size_t per_c = 8 + 6 * 4 + 2 * 4 + 2 + 3 * 4 + 8 + 2 + 3 * 4 + 5 + 4 + 2 * 4;
    size_t tags = 0;
    for (size_t t = 0; t < e->ntag_bits; t++)
        if (e->tag_bits[t])
            tags += (e->cc / 64 + 1) * 8;
    out->bytes_customers =
        e->cc * per_c + e->cc / 8 + tags + e->cust_map.nslots * 12 + e->cust_dense_n * 4;
    size_t amt = e->amounts_wide ? 8 : 4;
    out->bytes_history =
        e->co * (8 * 2 + amt + 4 * 2 + 1 + 2) + e->cl * (4 * 4 + amt + 2) + e->ce * (4 + 2 + 4 + 1);
    /* per-shop RFM entries: about one per buyer, so they count with the customers */
    out->bytes_customers += e->cps * (4 + 4 + 2 + 8 + 4 + 5);
    out->bytes_customers += e->rfm_keys_cap * 8; /* the rescores' scratch */
    const struct hk_kindex *xs[2] = {&e->ix_cat, &e->ix_prod};
    size_t ix_lines = 0, ix_cust = e->ix_dirty_words * 8;
    for (int i = 0; i < 2; i++) {
        const struct hk_kindex *x = xs[i];
        if (x->off)
            ix_lines += ((size_t)x->nkeys + 1) * 4 + (size_t)x->off[x->nkeys] * 7 +
                        x->dcap * sizeof(struct hk_delta);
        ix_cust += x->d_cur_n * 4;
    }
    out->bytes_index = ix_lines + ix_cust;
    out->bytes_history += ix_lines;  /* the index grows with lines ... */
    out->bytes_customers += ix_cust; /* ... and its per-row delta pointers with customers */
    size_t dicts = 0;
    for (int k = 0; k < HK_DICT_COUNT_; k++) {
        const struct hk_dict *d = &e->dicts[k];
        dicts += d->nslots * 4 + d->cap * (sizeof(char *) + 4);
        for (uint32_t i = 0; i < d->n; i++)
            dicts += d->lens[i] + 1;
    }
    out->bytes_total = out->bytes_customers + out->bytes_history + dicts +
                       e->product_map.nslots * 12 + e->cp * 6 + (HK_MAX_CATS + 1) * 8;
}

/* ---- suggestions -------------------------------------------------------------------------- */

static size_t utf8_decode(const char *s, size_t n, uint32_t *out, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k < max;) {
        unsigned char c = (unsigned char)s[i];
        int extra = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
        uint32_t cp = extra == 0 ? c : extra == 1 ? c & 0x1F : extra == 2 ? c & 0x0F : c & 0x07;
        i++;
        for (int j = 0; j < extra && i < n; j++, i++)
            cp = (cp << 6) | ((unsigned char)s[i] & 0x3F);
        out[k++] = cp;
    }
    return k;
}

size_t hk_edit_distance(const char *a, size_t alen, const char *b, size_t blen)
{
    uint32_t ca[128], cb[128];
    size_t na = utf8_decode(a, alen, ca, 128), nb = utf8_decode(b, blen, cb, 128);
    size_t prev[129], cur[129];
    for (size_t j = 0; j <= nb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= na; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t sub = prev[j - 1] + (ca[i - 1] != cb[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (nb + 1) * sizeof(size_t));
    }
    return prev[nb];
}
