/*
 * identity.c — identity keys, the resolver and merges (see identity.h for the rules).
 *
 * Design
 *   The resolver's cache maps the digest of (channel, kind, value) to (customer, identity):
 *     customer > 0   a stored customer;      customer < 0   a pending (provisional) one;
 *     customer == 0  known not to exist;     PENDING_LOOKUP queued for a look-up (identity:
 *                                            the number of the prefetch that queued it).
 *   Provisional ids are -(index + 1) into the pending arrays, valid until
 *   hk_resolver_flush_done. Customers merged during the import are followed through `redirect`
 *   (loser -> winner) instead of rewriting cache entries. `missing` maps a customer (stored or
 *   provisional) to the profile fields it lacks, so filling a profile costs a statement only
 *   when a record brings something new.
 *
 *   Pending customers and identities live in growable arrays; their strings and sealed PII in
 *   an arena reset at hk_resolver_flush_done, so a batch makes no malloc per row.
 *
 *   Past MAX_CACHED_KEYS the cache starts over. In a complete import (nothing stored but what
 *   this resolver stores) the keys it drops, and those a rollback makes it forget, go into
 *   `seen`, a Bloom filter: a key neither cached nor maybe-seen is certainly not stored and is
 *   not looked up, so only returning keys cost a look-up (identity.h, hk_resolver_set_limits).
 *
 * Invariants
 *   - Every cache entry with a provisional customer belongs to a pending identity, so a flush
 *     can make every provisional reference real.
 *   - A merge never involves a provisional customer: the resolver flushes first.
 *   - Nothing here logs or puts into an error message a phone, name, address or key value.
 *
 * Threads: a resolver belongs to one thread.
 */
#include "ingest/identity.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/pii.h"
#include "core/util.h"
#include "ingest/arena.h"
#include "ingest/bloom.h"
#include "ingest/events.h"
#include "ingest/hashtab.h"
#include "ingest/record.h"
#include "store/ingest_repo.h"
#include "store/store.h"

#define PENDING_LOOKUP INT64_MIN
/* The cache starts over before a batch would take it past this, so memory stays flat in file
   size: the table grows at 70 % load in powers of two, so 5.77M keys keep it at 8M slots of 32
   bytes (256 MiB; 384 MiB for the moment it grows from 4M slots, at 2.9M keys). The 1M-line
   benchmark file holds about 0.51M keys and the 10M-line one 5.1M, so a generic export passes
   the cap at about 11M lines. Keys dropped are looked up again in the store (in the batch's
   multi-key look-ups) when they come back — in a complete import only those the filter of
   dropped keys (`seen`) may hold, but those need identities_key, which the first such look-up
   builds in the middle of the load (10M lines into SQLite, same hour: 148 s under perf with a cap
   of 2M keys, 78 s with this one). */
#define MAX_CACHED_KEYS ((size_t)11 << 19)
/* A complete import goes on skipping look-ups after this many rollbacks, then looks keys up:
   each rollback may be another writer's key, and costs a batch written twice. */
#define MAX_FORGETS 8

/* Key sets ahead whose cache slots prefetch asks the CPU for (a set is an order's 1-4 keys). */
#define PREFETCH_AHEAD 2
/* New identities ahead whose cache slots a flush asks for while it stores their ids (one key
   each: about as many keys ahead as PREFETCH_AHEAD's sets hold, and a little more). */
#define FLUSH_PREFETCH_AHEAD 8

struct pend_customer {
    int64_t real_id; /* after hk_resolver_flush */
};

struct pend_identity {
    struct hk_h128 h;
    int64_t real_id;
};

struct lookup {
    const char *channel, *kind, *value;
    struct hk_h128 h; /* the key's digest */
};

struct hk_resolver {
    const struct hk_keyring *kr;
    unsigned char hkey[16];
    uint64_t tag; /* nonzero, random: marks digests computed with hkey (hk_resolver_digest_keys) */
    struct hk_h128tab ids;
    struct hk_i64tab missing;
    struct hk_i64tab redirect;
    struct hk_arena arena;
    struct hk_nonce_pool nonces; /* one random-source call per HK_NONCE_POOL sealed values */

    struct hk_irepo_customer *pc_rows; /* pending customers, as inserted */
    struct pend_customer *pc;
    size_t npc, cap_pc_rows, cap_pc;
    struct hk_irepo_identity *pi_rows; /* pending identities, as inserted */
    struct pend_identity *pi;
    size_t npi, cap_pi_rows, cap_pi;
    int64_t *ids_out;
    size_t capids;

    hk_resolver_flush_fn flush_fn;
    void *flush_arg;

    struct lookup *lk, *lk2; /* lk2: scratch for group_lookups */
    size_t nlk, caplk, caplk2;
    const char **vals;
    size_t capvals;
    int64_t *roots; /* customers found merged during a prefetch */
    size_t nroots, caproots;
    bool complete; /* every stored key is in ids or seen (hk_resolver_set_complete) */
    /* A complete import past a restart: the digests of every key the cache dropped that may be
       stored (those it created or found), so a key certainly not in it needs no look-up. Only
       ever over-approximates: it may hold keys whose rows were rolled back, never misses one
       this resolver stored (ids holds those since the last restart). */
    struct hk_bloom seen;
    size_t seen_n, seen_cap; /* keys added; keys it may take (twice what it was sized for) */
    size_t max_cached, filter_keys;
    bool recheck;    /* after a forget, until hk_resolver_committed: look every unknown key up */
    bool keys_owned; /* the caller dropped identities_key (hk_resolver_set_keys_owned) */
    int forgets;
    int64_t prefetches;
    struct hk_resolver_stats stats;
};

/* ---- keys --------------------------------------------------------------------------------- */

static bool usable_value(const char *s)
{
    if (!s || !*s)
        return false;
    size_t len = strlen(s);
    return len < HK_IDENTITY_VALUE_MAX && !hk_pii_is_masked(s, len);
}

static void add_key(struct hk_identity_keys *out, const char *channel, const char *kind,
                    const char *value, enum hk_key_class cls)
{
    if (out->n >= HK_IDENTITY_KEYS_MAX)
        return;
    for (size_t i = 0; i < out->n; i++) /* the same key twice is one key */
        if (strcmp(out->k[i].kind, kind) == 0 && strcmp(out->k[i].channel, channel) == 0 &&
            strcmp(out->k[i].value, value) == 0)
            return;
    out->k[out->n++] = (struct hk_identity_key){channel, kind, value, cls};
}

/* Copies s (len bytes) into the pool; NULL when it does not fit. */
static const char *pool_add(struct hk_identity_keys *out, const char *s, size_t len)
{
    if (out->pool_used + len + 1 > sizeof out->pool)
        return NULL;
    char *p = out->pool + out->pool_used;
    memcpy(p, s, len);
    p[len] = '\0';
    out->pool_used += len + 1;
    return p;
}

static void keys_init(struct hk_identity_keys *out)
{
    out->n = 0;
    out->phone_state = 0;
    out->phone_norm[0] = out->phone_hash[0] = out->phone_masked[0] = '\0';
    out->email = NULL;
    out->pool_used = 0;
    out->digest_tag = 0;
}

/* A plausible e-mail address: one '@' with text on both sides, a dot after it, no spaces. */
static bool email_ok(const char *s)
{
    const char *at = strchr(s, '@');
    if (!at || at == s || strchr(at + 1, '@') || !strchr(at + 1, '.') || !at[1])
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ')
            return false;
    return true;
}

/* Records the phone for the profile; returns the phone key's value (its hash) or NULL. */
static const char *take_phone(const struct hk_keyring *kr, const char *phone, bool masked,
                              struct hk_identity_keys *out)
{
    size_t len = strlen(phone);
    if (masked || hk_pii_is_masked(phone, len)) {
        if (!out->phone_state) {
            out->phone_state = 3;
            hk_strlcpy(out->phone_masked, phone, sizeof out->phone_masked);
        }
        return NULL;
    }
    char norm[HK_PHONE_MAX + 8];
    int rc = hk_phone_normalize(phone, len, norm, sizeof norm);
    if (!norm[0])
        return NULL;
    size_t nlen = strlen(norm);
    if (out->phone_state == 0 || out->phone_state == 3 || (rc == 0 && out->phone_state == 2)) {
        out->phone_state = rc == 0 ? 1 : 2;
        hk_strlcpy(out->phone_norm, norm, sizeof out->phone_norm);
        hk_pii_hash(kr, norm, nlen, out->phone_hash);
        hk_phone_mask(norm, out->phone_masked, sizeof out->phone_masked);
        if (rc == 0)
            return out->phone_hash; /* the hash just taken: hashing it again gave the same */
    }
    if (rc != 0)
        return NULL; /* landlines and foreign numbers are shared or unverifiable: no identity */
    /* The same number as the profile's phone has the same hash (the common case: one phone per
       record); only a different one needs hashing. */
    if (strcmp(norm, out->phone_norm) == 0)
        return out->phone_hash;
    char h[HK_PII_HASH_HEX + 1];
    hk_pii_hash(kr, norm, nlen, h);
    return strcmp(h, out->phone_hash) == 0 ? out->phone_hash : pool_add(out, h, HK_PII_HASH_HEX);
}

/* Lower-cases an e-mail into the pool; NULL when not usable. */
static const char *take_email(const char *email, struct hk_identity_keys *out)
{
    if (!usable_value(email) || !email_ok(email))
        return NULL;
    char low[HK_IDENTITY_VALUE_MAX];
    size_t len = strlen(email);
    for (size_t i = 0; i < len; i++)
        low[i] = (char)tolower((unsigned char)email[i]);
    const char *v = pool_add(out, low, len);
    if (v && !out->email)
        out->email = v;
    return v;
}

/* Visible digits of a masked phone ("138****5678" has 7). */
static int visible_digits(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s >= '0' && *s <= '9';
    return n;
}

void hk_identity_keys_from_order(const struct hk_keyring *kr, const struct hk_order_rec *rec,
                                 struct hk_identity_keys *out)
{
    keys_init(out);
    const char *channel = rec->channel && *rec->channel ? rec->channel : "other";

    if (usable_value(rec->buyer_id))
        add_key(out, channel, "buyer_id", rec->buyer_id, HK_KEY_ACCOUNT);
    else if (usable_value(rec->buyer_nick))
        add_key(out, channel, "nick", rec->buyer_nick, HK_KEY_ACCOUNT);

    if (rec->phone && *rec->phone) {
        const char *h = take_phone(kr, rec->phone, rec->phone_masked, out);
        if (h)
            add_key(out, "*", "phone", h, HK_KEY_STRONG);
    }
    if (rec->email && *rec->email) {
        const char *e = take_email(rec->email, out);
        if (e)
            add_key(out, "*", "email", e, HK_KEY_STRONG);
    }

    /* Nothing to know the buyer by: a weak key from what the marketplace left visible. */
    if (out->n == 0 && out->phone_state == 3 && visible_digits(out->phone_masked) >= 7 &&
        rec->name && *rec->name && rec->address && *rec->address) {
        const char *parts[] = {"recipient", out->phone_masked, rec->name, rec->address};
        char joined[1024];
        size_t off = 0;
        for (size_t i = 0; i < HK_ARRAY_LEN(parts); i++) {
            size_t len = strlen(parts[i]);
            if (off + len + 1 >= sizeof joined)
                return; /* too long to be a sensible key */
            memcpy(joined + off, parts[i], len);
            off += len;
            joined[off++] = 0x1f;
        }
        char h[HK_PII_HASH_HEX + 1];
        hk_pii_hash(kr, joined, off, h);
        const char *v = pool_add(out, h, HK_PII_HASH_HEX);
        if (v)
            add_key(out, channel, "recipient", v, HK_KEY_WEAK);
    }
}

int hk_identity_keys_from_input(const struct hk_keyring *kr, const struct hk_identity_in *ids,
                                size_t n, struct hk_identity_keys *out, struct hk_err *err)
{
    keys_init(out);
    if (n > HK_IDENTITY_KEYS_MAX)
        return hk_err_setf(err, HK_E(INVAL), "identities", "at most %d identities per item",
                           HK_IDENTITY_KEYS_MAX);
    /* Keys go in priority order: account kinds, then strong ones, then weak ones. */
    for (int pass = 0; pass < 3; pass++) {
        for (size_t i = 0; i < n; i++) {
            const char *kind = ids[i].kind ? ids[i].kind : "";
            const char *ch = ids[i].channel && *ids[i].channel ? ids[i].channel : NULL;
            const char *v = ids[i].value ? ids[i].value : "";
            bool account =
                !strcmp(kind, "buyer_id") || !strcmp(kind, "nick") || !strcmp(kind, "open_id");
            bool strong =
                !strcmp(kind, "union_id") || !strcmp(kind, "phone") || !strcmp(kind, "email");
            bool weak = !strcmp(kind, "device");
            if (!account && !strong && !weak)
                return hk_err_setf(err, HK_E(INVAL), "identities",
                                   "identity %zu: kind '%.32s' is not one of buyer_id, nick, "
                                   "open_id, union_id, phone, email, device",
                                   i, kind);
            if ((pass == 0 && !account) || (pass == 1 && !strong) || (pass == 2 && !weak))
                continue;
            if (!strcmp(kind, "phone")) {
                const char *h = v[0] ? take_phone(kr, v, false, out) : NULL;
                if (!h)
                    return hk_err_setf(err, HK_E(INVAL), "identities",
                                       "identity %zu (phone) is not a mainland mobile number", i);
                add_key(out, "*", "phone", h, HK_KEY_STRONG);
                continue;
            }
            if (!strcmp(kind, "email")) {
                const char *e = take_email(v, out);
                if (!e)
                    return hk_err_setf(err, HK_E(INVAL), "identities",
                                       "identity %zu (email) is not an e-mail address", i);
                add_key(out, "*", "email", e, HK_KEY_STRONG);
                continue;
            }
            if (!usable_value(v))
                return hk_err_setf(err, HK_E(INVAL), "identities",
                                   "identity %zu (%s) needs a value (unmasked, shorter than %d "
                                   "bytes)",
                                   i, kind, HK_IDENTITY_VALUE_MAX);
            if (!strcmp(kind, "union_id") || !strcmp(kind, "open_id"))
                ch = ch ? ch : "wechat";
            else if (!strcmp(kind, "device"))
                ch = ch ? ch : "*";
            else if (!ch)
                return hk_err_setf(err, HK_E(INVAL), "identities",
                                   "identity %zu (%s) needs a channel", i, kind);
            add_key(out, ch, kind, v,
                    account  ? HK_KEY_ACCOUNT
                    : strong ? HK_KEY_STRONG
                             : HK_KEY_WEAK);
        }
    }
    return 0;
}

/* ---- resolver: lifecycle ------------------------------------------------------------------ */

struct hk_resolver *hk_resolver_new(const struct hk_keyring *kr)
{
    struct hk_resolver *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->kr = kr;
    hk_random_bytes(r->hkey, sizeof r->hkey);
    memcpy(&r->tag, r->hkey, sizeof r->tag);
    r->tag |= 1;
    hk_h128tab_init(&r->ids);
    hk_i64tab_init(&r->missing);
    hk_i64tab_init(&r->redirect);
    hk_arena_init(&r->arena, 0);
    hk_nonce_pool_init(&r->nonces);
    r->max_cached = MAX_CACHED_KEYS;
    return r;
}

void hk_resolver_free(struct hk_resolver *r)
{
    if (!r)
        return;
    hk_h128tab_release(&r->ids);
    hk_i64tab_release(&r->missing);
    hk_i64tab_release(&r->redirect);
    hk_bloom_free(&r->seen);
    hk_arena_release(&r->arena);
    hk_nonce_pool_wipe(&r->nonces);
    free(r->pc_rows);
    free(r->pc);
    free(r->pi_rows);
    free(r->pi);
    free(r->ids_out);
    free(r->lk);
    free(r->lk2);
    free(r->vals);
    free(r->roots);
    free(r);
}

void hk_resolver_set_flush(struct hk_resolver *r, hk_resolver_flush_fn fn, void *arg)
{
    r->flush_fn = fn;
    r->flush_arg = arg;
}

void hk_resolver_set_complete(struct hk_resolver *r, bool complete)
{
    r->complete = complete && r->ids.n == 0;
}

void hk_resolver_set_limits(struct hk_resolver *r, size_t max_cached_keys, size_t filter_keys)
{
    r->max_cached = max_cached_keys ? max_cached_keys : MAX_CACHED_KEYS;
    r->filter_keys =
        filter_keys < HK_RESOLVER_FILTER_MAX_KEYS ? filter_keys : HK_RESOLVER_FILTER_MAX_KEYS;
}

void hk_resolver_committed(struct hk_resolver *r)
{
    r->recheck = false;
}

void hk_resolver_set_keys_owned(struct hk_resolver *r, bool owned)
{
    r->keys_owned = owned;
}

void hk_resolver_stats(const struct hk_resolver *r, struct hk_resolver_stats *out)
{
    *out = r->stats;
    out->filter_keys = (int64_t)r->seen_n;
}

/* The end of a complete import's skipping: every key the cache does not know is looked up. */
static void end_complete(struct hk_resolver *r)
{
    r->complete = false;
    hk_bloom_free(&r->seen);
    r->seen_n = r->seen_cap = 0;
}

static void keep_seen(struct hk_resolver *r);

void hk_resolver_forget(struct hk_resolver *r)
{
    /* The cache's keys join the filter (those rolled back too: harmless), so it still holds
       every key stored; a complete import goes on once the caller committed again. */
    if (r->complete && ++r->forgets <= MAX_FORGETS)
        keep_seen(r);
    else
        end_complete(r);
    r->recheck = r->complete;
    hk_h128tab_clear(&r->ids);
    hk_i64tab_clear(&r->missing);
    hk_i64tab_clear(&r->redirect);
    hk_arena_reset(&r->arena);
    r->npc = r->npi = 0;
}

bool hk_resolver_pending(const struct hk_resolver *r)
{
    return r->npc > 0 || r->npi > 0;
}

static struct hk_h128 key_digest(const struct hk_resolver *r, const char *channel, const char *kind,
                                 const char *value)
{
    const char *parts[] = {channel, kind, value};
    return hk_h128_of(r->hkey, parts, 3);
}

/* The digest of keys->k[j]: the one hk_resolver_digest_keys kept, else computed. */
static struct hk_h128 digest_at(const struct hk_resolver *r, const struct hk_identity_keys *keys,
                                size_t j)
{
    if (keys->digest_tag == r->tag)
        return (struct hk_h128){keys->digest[j][0], keys->digest[j][1]};
    const struct hk_identity_key *k = &keys->k[j];
    return key_digest(r, k->channel, k->kind, k->value);
}

void hk_resolver_digest_keys(const struct hk_resolver *r, struct hk_identity_keys *keys)
{
    for (size_t j = 0; j < keys->n; j++) {
        const struct hk_identity_key *k = &keys->k[j];
        struct hk_h128 h = key_digest(r, k->channel, k->kind, k->value);
        keys->digest[j][0] = h.a;
        keys->digest[j][1] = h.b;
    }
    keys->digest_tag = r->tag;
}

void hk_resolver_prefetch_keys(const struct hk_resolver *r, const struct hk_identity_keys *keys)
{
    for (size_t j = 0; keys && j < keys->n; j++)
        hk_h128tab_prefetch(&r->ids, digest_at(r, keys, j));
}

/* The customer a (stored) customer ends up as after the merges made during this import. */
static int64_t follow(const struct hk_resolver *r, int64_t c)
{
    int64_t next;
    for (int hops = 0; c > 0 && hops < 64 && hk_i64tab_get(&r->redirect, c, &next); hops++)
        c = next;
    return c;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

static int oom(struct hk_err *err)
{
    return hk_err_set(err, HK_E(NOMEM), "identity resolution: out of memory");
}

/* ---- resolver: look-ups ------------------------------------------------------------------- */

static int cmp_lookup(const void *a, const void *b)
{
    const struct lookup *x = a, *y = b;
    int c = strcmp(x->kind, y->kind);
    return c ? c : strcmp(x->channel, y->channel);
}

/*
 * Sorts lk by (kind, channel), keeping the order of keys within a group: what the stable sort
 * glibc's qsort (a merge sort) gave with cmp_lookup, at 4 % of a bulk import's own CPU in its
 * strcmp calls. A batch has a handful of groups, so each key's group is found (mostly by
 * pointer: kinds are literals) and the keys are moved once, group by group; with more groups
 * than MAX_GROUPS it falls back to qsort.
 */
#define MAX_GROUPS 32
struct lookup_group {
    const char *kind, *channel;
    size_t n, at;
};

static size_t find_group(const struct lookup_group *g, size_t ng, size_t last,
                         const struct lookup *x)
{
    if (last < ng && (g[last].kind == x->kind || !strcmp(g[last].kind, x->kind)) &&
        (g[last].channel == x->channel || !strcmp(g[last].channel, x->channel)))
        return last;
    for (size_t j = 0; j < ng; j++)
        if (!strcmp(g[j].kind, x->kind) && !strcmp(g[j].channel, x->channel))
            return j;
    return ng;
}

static int group_lookups(struct hk_resolver *r)
{
    struct lookup_group g[MAX_GROUPS];
    size_t ng = 0, j = 0;
    for (size_t i = 0; i < r->nlk; i++) {
        j = find_group(g, ng, j, &r->lk[i]);
        if (j == ng) {
            if (ng == MAX_GROUPS) {
                qsort(r->lk, r->nlk, sizeof(*r->lk), cmp_lookup);
                return 0;
            }
            g[ng++] = (struct lookup_group){r->lk[i].kind, r->lk[i].channel, 0, 0};
        }
        g[j].n++;
    }
    /* the groups in cmp_lookup order (insertion sort: they are few and distinct) */
    size_t order[MAX_GROUPS];
    for (size_t k = 0; k < ng; k++) {
        struct lookup gk = {.channel = g[k].channel, .kind = g[k].kind};
        size_t m = k;
        for (; m > 0; m--) {
            struct lookup prev = {.channel = g[order[m - 1]].channel, .kind = g[order[m - 1]].kind};
            if (cmp_lookup(&prev, &gk) < 0)
                break;
            order[m] = order[m - 1];
        }
        order[m] = k;
    }
    size_t at = 0;
    for (size_t k = 0; k < ng; k++) {
        g[order[k]].at = at;
        at += g[order[k]].n;
    }
    if (grow((void **)&r->lk2, &r->caplk2, r->nlk, sizeof(*r->lk2)) < 0)
        return -1;
    j = 0;
    for (size_t i = 0; i < r->nlk; i++) {
        j = find_group(g, ng, j, &r->lk[i]);
        r->lk2[g[j].at++] = r->lk[i];
    }
    struct lookup *t = r->lk;
    r->lk = r->lk2;
    r->lk2 = t;
    size_t c = r->caplk;
    r->caplk = r->caplk2;
    r->caplk2 = c;
    return 0;
}

static int on_identity(void *arg, const struct hk_irepo_identity *row)
{
    struct hk_resolver *r = arg;
    r->stats.keys_found++;
    struct hk_h128 h = key_digest(r, row->channel, row->kind, row->value);
    struct hk_h128_slot *s = hk_h128tab_put(&r->ids, h, row->customer_id, row->id, NULL);
    if (!s)
        return HK_E(NOMEM);
    s->v1 = row->customer_id;
    s->v2 = row->id;
    if (hk_i64tab_set(&r->missing, row->customer_id, (int64_t)row->missing) < 0)
        return HK_E(NOMEM);
    if (row->merged_into) { /* an identity left on a merged customer: follow it later */
        if (grow((void **)&r->roots, &r->caproots, r->nroots + 1, sizeof(*r->roots)) < 0)
            return HK_E(NOMEM);
        r->roots[r->nroots++] = row->customer_id;
    }
    return 0;
}

static int on_customer(void *arg, const struct hk_irepo_customer_state *c)
{
    struct hk_resolver *r = arg;
    if (hk_i64tab_set(&r->missing, c->id, (int64_t)c->missing) < 0)
        return HK_E(NOMEM);
    if (c->merged_into) {
        if (grow((void **)&r->roots, &r->caproots, r->nroots + 1, sizeof(*r->roots)) < 0)
            return HK_E(NOMEM);
        r->roots[r->nroots++] = c->id;
    }
    return 0;
}

/* Customers found merged in the store: redirect them to the customer they ended up as. */
static int resolve_roots(struct hk_resolver *r, struct hk_db *db, struct hk_err *err)
{
    for (size_t i = 0; i < r->nroots; i++) {
        int64_t root = 0;
        int rc = hk_irepo_customer_root(db, r->roots[i], &root, err);
        if (rc < 0)
            return rc;
        if (root != r->roots[i] && hk_i64tab_set(&r->redirect, r->roots[i], root) < 0)
            return oom(err);
    }
    r->nroots = 0;
    return 0;
}

/* A digest's hash for the filter: the digests are keyed hashes already, so half of one is as
   good as hashing its bytes again, and asking and adding then touch the block once. */
static uint64_t seen_hash(struct hk_h128 h)
{
    return h.a;
}

/* Whether a key may be stored by this resolver before the cache last started over. */
static bool maybe_seen(const struct hk_resolver *r, struct hk_h128 h)
{
    if (!r->seen.words)
        return false; /* no restart yet: the cache knows every key */
    return hk_bloom_maybe_h(&r->seen, seen_hash(h));
}

/*
 * Before the cache starts over (or is forgotten) in a complete import: every key it holds that
 * may be stored (a customer found or created; not the keys known absent) goes into `seen`,
 * made the first time for filter_keys keys (at least twice the cache's). When it cannot be made
 * or would take more than twice that, the import stops skipping look-ups (end_complete).
 */
static void keep_seen(struct hk_resolver *r)
{
    if (!r->seen.words) {
        size_t want = r->filter_keys > 2 * r->ids.n ? r->filter_keys : 2 * r->ids.n;
        if (want > HK_RESOLVER_FILTER_MAX_KEYS)
            want = HK_RESOLVER_FILTER_MAX_KEYS;
        if (hk_bloom_init(&r->seen, want) < 0) {
            end_complete(r);
            return;
        }
        r->seen_n = 0;
        r->seen_cap = 2 * (want > 1024 ? want : 1024); /* bloom.h: at least 1024 */
    }
    for (size_t i = 0; i < r->ids.cap; i++) {
        const struct hk_h128_slot *s = &r->ids.slots[i];
        if ((s->a == 0 && s->b == 0) || s->v1 == 0)
            continue; /* empty, or known not to be stored */
        if (hk_bloom_maybe_add(&r->seen, seen_hash((struct hk_h128){s->a, s->b})))
            continue; /* there already (a key found again): counted once */
        r->seen_n++;
    }
    if (r->seen_n > r->seen_cap)
        end_complete(r); /* too full to say "certainly not" often enough: ask the store */
}

/* Drops the cache (nothing is pending), keeping what a complete import needs in `seen`. */
static void start_over(struct hk_resolver *r)
{
    if (r->complete)
        keep_seen(r);
    hk_h128tab_clear(&r->ids);
    hk_i64tab_clear(&r->missing);
    r->stats.restarts++;
}

int hk_resolver_prefetch(struct hk_resolver *r, struct hk_db *db,
                         const struct hk_identity_keys *const *sets, size_t n,
                         const int64_t *customers, size_t ncust, struct hk_err *err)
{
    int rc;

    /* start over before the batch's keys would take the cache past its cap (so the table never
       outgrows what the cap was chosen for), unless there is nothing to drop */
    size_t incoming = 0;
    for (size_t i = 0; i < n; i++)
        incoming += sets[i] ? sets[i]->n : 0;
    if (r->ids.n && r->ids.n + incoming > r->max_cached && !hk_resolver_pending(r))
        start_over(r);
    int64_t gen = ++r->prefetches; /* marks the keys this prefetch queued (v2) */

    r->nlk = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n)
            hk_resolver_prefetch_keys(r, sets[i + PREFETCH_AHEAD]);
        for (size_t j = 0; sets[i] && j < sets[i]->n; j++) {
            const struct hk_identity_key *k = &sets[i]->k[j];
            bool added = false;
            struct hk_h128 h = digest_at(r, sets[i], j);
            struct hk_h128_slot *s = hk_h128tab_put(&r->ids, h, PENDING_LOOKUP, gen, &added);
            if (!s)
                return oom(err);
            if (!added && (s->v1 != PENDING_LOOKUP || s->v2 == gen))
                continue; /* known, or queued already (the lines of an order share keys) */
            s->v2 = gen;
            if (r->complete && !r->recheck && !maybe_seen(r, h)) {
                s->v1 = s->v2 = 0; /* certainly not stored: no need to ask */
                r->stats.keys_skipped++;
                continue;
            }
            if (grow((void **)&r->lk, &r->caplk, r->nlk + 1, sizeof(*r->lk)) < 0)
                return oom(err);
            r->lk[r->nlk++] = (struct lookup){k->channel, k->kind, k->value, h};
        }
    }
    r->stats.keys_looked_up += (int64_t)r->nlk;
    /* look-ups need the identities' key index (a load may have dropped it: ingest_repo.h) */
    if (r->nlk && (rc = hk_irepo_identities_key_ensure(db, err)) < 0)
        return rc;
    if (r->nlk > 1 && (rc = group_lookups(r)) < 0)
        return oom(err);
    if (grow((void **)&r->vals, &r->capvals, r->nlk, sizeof(*r->vals)) < 0)
        return oom(err);
    for (size_t i = 0; i < r->nlk;) {
        size_t j = i;
        while (j < r->nlk && cmp_lookup(&r->lk[i], &r->lk[j]) == 0) {
            r->vals[j - i] = r->lk[j].value;
            j++;
        }
        rc = hk_irepo_identities_find(db, r->lk[i].channel, r->lk[i].kind, r->vals, j - i,
                                      on_identity, r, err);
        if (rc < 0)
            return rc == HK_E(NOMEM) ? oom(err) : rc;
        i = j;
    }
    for (size_t i = 0; i < r->nlk; i++) {
        struct hk_h128_slot *s = hk_h128tab_get(&r->ids, r->lk[i].h);
        if (s && s->v1 == PENDING_LOOKUP)
            s->v1 = s->v2 = 0; /* not in the store */
    }

    /* Profile state of existing orders' customers not seen yet. */
    size_t nids = 0;
    if (grow((void **)&r->ids_out, &r->capids, ncust, sizeof(*r->ids_out)) < 0)
        return oom(err);
    for (size_t i = 0; i < ncust; i++) {
        int64_t v;
        if (customers[i] > 0 && !hk_i64tab_get(&r->missing, customers[i], &v))
            r->ids_out[nids++] = customers[i];
    }
    if (nids && (rc = hk_irepo_customers_state(db, r->ids_out, nids, on_customer, r, err)) < 0)
        return rc == HK_E(NOMEM) ? oom(err) : rc;
    return resolve_roots(r, db, err);
}

/* ---- resolver: pending rows --------------------------------------------------------------- */

static const char *arena_str(struct hk_resolver *r, const char *s)
{
    if (!s)
        return NULL;
    return hk_arena_strndup(&r->arena, s, strlen(s));
}

static const unsigned char *seal(struct hk_resolver *r, const char *plain, size_t *len)
{
    size_t n = strlen(plain);
    unsigned char *out = hk_arena_alloc(&r->arena, hk_pii_sealed_size(n));
    if (!out)
        return NULL;
    *len = hk_pii_seal_pooled(r->kr, &r->nonces, plain, n, out);
    return out;
}

/* The profile fields a record can give (hk_irepo_missing bits). */
static unsigned provided(const struct hk_identity_keys *k, const struct hk_profile_in *p)
{
    unsigned b = 0;
    if (p && p->nick && *p->nick)
        b |= HK_MISSING_NICK;
    if (p && p->name && *p->name)
        b |= HK_MISSING_NAME_ANY | (p->name_masked ? 0u : (unsigned)HK_MISSING_NAME);
    if (k->phone_state == 1 || k->phone_state == 2)
        b |= HK_MISSING_PHONE | HK_MISSING_PHONE_MASKED;
    else if (k->phone_state == 3)
        b |= HK_MISSING_PHONE_MASKED;
    if (k->email)
        b |= HK_MISSING_EMAIL;
    if (p && p->province && *p->province)
        b |= HK_MISSING_PROVINCE;
    if (p && p->city && *p->city)
        b |= HK_MISSING_CITY;
    if (p && p->address && *p->address)
        b |= HK_MISSING_ADDRESS;
    return b;
}

/*
 * Fills *c with the fields named by bits (sealing what is PII; memory from the arena). Fields
 * not named are left as they are. Returns 0 or HK_E(NOMEM).
 */
static int profile_fields(struct hk_resolver *r, const struct hk_identity_keys *k,
                          const struct hk_profile_in *p, unsigned bits, struct hk_irepo_customer *c)
{
    if (bits & HK_MISSING_NICK)
        c->nick = arena_str(r, p->nick);
    if (bits & (HK_MISSING_NAME | HK_MISSING_NAME_ANY)) {
        c->name_enc = seal(r, p->name, &c->name_enc_len);
        if (!c->name_enc)
            return HK_E(NOMEM);
        if (!p->name_masked) {
            char h[HK_PII_HASH_HEX + 1];
            hk_pii_hash(r->kr, p->name, strlen(p->name), h);
            c->name_hash = arena_str(r, h);
        } else {
            c->name_hash = NULL;
        }
    }
    if (bits & HK_MISSING_PHONE) {
        c->phone_enc = seal(r, k->phone_norm, &c->phone_enc_len);
        c->phone_hash = arena_str(r, k->phone_hash);
        if (!c->phone_enc)
            return HK_E(NOMEM);
    }
    if (bits & (HK_MISSING_PHONE | HK_MISSING_PHONE_MASKED))
        c->phone_masked = arena_str(r, k->phone_masked);
    if (bits & HK_MISSING_EMAIL)
        c->email = arena_str(r, k->email);
    if (bits & HK_MISSING_PROVINCE)
        c->province = arena_str(r, p->province);
    if (bits & HK_MISSING_CITY)
        c->city = arena_str(r, p->city);
    if (bits & HK_MISSING_ADDRESS) {
        c->address_enc = seal(r, p->address, &c->address_enc_len);
        if (!c->address_enc)
            return HK_E(NOMEM);
    }
    return 0;
}

/* What a customer still lacks after fields named by `filled` were written. */
static unsigned after_fill(unsigned missing, unsigned filled)
{
    missing &= ~filled;
    if (filled & HK_MISSING_PHONE)
        missing &= ~(unsigned)HK_MISSING_PHONE_MASKED;
    return missing;
}

static int new_customer(struct hk_resolver *r, const struct hk_identity_keys *k,
                        const struct hk_profile_in *p, int64_t *id, struct hk_err *err)
{
    if (grow((void **)&r->pc_rows, &r->cap_pc_rows, r->npc + 1, sizeof(*r->pc_rows)) < 0 ||
        grow((void **)&r->pc, &r->cap_pc, r->npc + 1, sizeof(*r->pc)) < 0)
        return oom(err);
    struct hk_irepo_customer *c = &r->pc_rows[r->npc];
    memset(c, 0, sizeof *c);
    unsigned bits = provided(k, p);
    if (profile_fields(r, k, p, bits, c) < 0)
        return oom(err);
    r->pc[r->npc].real_id = 0;
    int64_t pid = -(int64_t)(r->npc + 1);
    r->npc++;
    if (hk_i64tab_set(&r->missing, pid, (int64_t)after_fill(HK_MISSING_ALL, bits)) < 0)
        return oom(err);
    *id = pid;
    return 0;
}

static int new_identity(struct hk_resolver *r, const struct hk_identity_key *key, int64_t customer,
                        struct hk_h128 h, int64_t *id, struct hk_err *err)
{
    if (grow((void **)&r->pi_rows, &r->cap_pi_rows, r->npi + 1, sizeof(*r->pi_rows)) < 0 ||
        grow((void **)&r->pi, &r->cap_pi, r->npi + 1, sizeof(*r->pi)) < 0)
        return oom(err);
    struct hk_irepo_identity *row = &r->pi_rows[r->npi];
    memset(row, 0, sizeof *row);
    row->customer_id = customer;
    row->channel = arena_str(r, key->channel);
    row->kind = arena_str(r, key->kind);
    row->value = arena_str(r, key->value);
    if (!row->channel || !row->kind || !row->value)
        return oom(err);
    r->pi[r->npi].h = h;
    r->pi[r->npi].real_id = 0;
    r->npi++;
    *id = -(int64_t)r->npi;
    return 0;
}

/* Writes what the record adds to an existing or pending customer's profile. */
static int fill_profile(struct hk_resolver *r, struct hk_db *db, int64_t customer,
                        const struct hk_identity_keys *k, const struct hk_profile_in *p,
                        int64_t now, struct hk_err *err)
{
    int64_t m = 0;
    unsigned give = provided(k, p);
    if (!give)
        return 0;
    if (!hk_i64tab_get(&r->missing, customer, &m)) {
        if (customer < 0)
            return 0;
        int rc = hk_irepo_customers_state(db, &customer, 1, on_customer, r, err);
        if (rc < 0)
            return rc;
        if (!hk_i64tab_get(&r->missing, customer, &m))
            return hk_err_set(err, HK_E(NOTFOUND), "customer %lld not found", (long long)customer);
    }
    unsigned fill = (unsigned)m & give;
    if (!fill)
        return 0;
    if (customer < 0) {
        if (profile_fields(r, k, p, fill, &r->pc_rows[-customer - 1]) < 0)
            return oom(err);
    } else {
        struct hk_irepo_customer c;
        memset(&c, 0, sizeof c);
        if (profile_fields(r, k, p, fill, &c) < 0)
            return oom(err);
        int rc = hk_irepo_customer_fill(db, customer, &c, now, err);
        /* the arena holds the sealed values until the next flush_done; bounded by one per
           filled customer, like a new customer's */
        if (rc < 0)
            return rc;
    }
    if (hk_i64tab_set(&r->missing, customer, (int64_t)after_fill((unsigned)m, fill)) < 0)
        return oom(err);
    return 0;
}

/* ---- resolver: the rules ------------------------------------------------------------------ */

static int flush_everything(struct hk_resolver *r, struct hk_db *db, int64_t now,
                            struct hk_err *err)
{
    if (r->flush_fn)
        return r->flush_fn(r->flush_arg, db, err);
    int rc = hk_resolver_flush(r, db, now, NULL, err);
    hk_resolver_flush_done(r);
    return rc;
}

static bool contains(const int64_t *v, size_t n, int64_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return true;
    return false;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int hk_resolver_resolve(struct hk_resolver *r, struct hk_db *db,
                        const struct hk_identity_keys *keys, int64_t existing_customer,
                        const struct hk_profile_in *profile, int64_t now, struct hk_resolution *out,
                        struct hk_err *err)
{
    int64_t cust[HK_IDENTITY_KEYS_MAX], ident[HK_IDENTITY_KEYS_MAX];
    struct hk_h128 dig[HK_IDENTITY_KEYS_MAX];
    int64_t group[HK_IDENTITY_KEYS_MAX + 1];
    struct hk_resolution res = {0};
    int rc;

    for (int attempt = 0;; attempt++) {
        /* 1. look every key up */
        for (size_t i = 0; i < keys->n; i++) {
            dig[i] = digest_at(r, keys, i);
            struct hk_h128_slot *s = hk_h128tab_get(&r->ids, dig[i]);
            if (!s || s->v1 == PENDING_LOOKUP) {
                const struct hk_identity_keys *one = keys;
                if ((rc = hk_resolver_prefetch(r, db, &one, 1, NULL, 0, err)) < 0)
                    return rc;
                s = hk_h128tab_get(&r->ids, dig[i]);
                if (!s)
                    return oom(err);
            }
            cust[i] = follow(r, s->v1);
            ident[i] = s->v2;
        }
        int64_t existing = follow(r, existing_customer);

        /* 2. the primary customer and the group a strong key links */
        static const enum hk_key_class order[] = {HK_KEY_ACCOUNT, HK_KEY_STRONG, HK_KEY_WEAK};
        int64_t primary = existing;
        for (size_t c = 0; c < HK_ARRAY_LEN(order); c++)
            for (size_t i = 0; !primary && i < keys->n; i++)
                if (keys->k[i].cls == order[c] && cust[i])
                    primary = cust[i];
        size_t ng = 0;
        const char *reason = NULL;
        if (existing)
            group[ng++] = existing;
        for (size_t i = 0; i < keys->n; i++) {
            if (!cust[i] || keys->k[i].cls == HK_KEY_WEAK)
                continue;
            if (keys->k[i].cls == HK_KEY_STRONG && !reason)
                reason = keys->k[i].kind;
            if (!contains(group, ng, cust[i]))
                group[ng++] = cust[i];
        }

        /* 3. merge what a strong key links */
        if (reason && ng >= 2) {
            bool provisional = false;
            for (size_t i = 0; i < ng; i++)
                provisional |= group[i] < 0;
            if (provisional) {
                if (attempt > 0)
                    return hk_err_set(err, HK_E(INTERNAL),
                                      "identity resolution: a flush left provisional ids");
                if ((rc = flush_everything(r, db, now, err)) < 0)
                    return rc;
                continue; /* look the keys up again: every id is real now */
            }
            qsort(group, ng, sizeof group[0], cmp_i64);
            int64_t winner = group[0];
            for (size_t i = 1; i < ng; i++) {
                bool blocked = false;
                if ((rc = hk_irepo_never_merge_blocked(db, winner, group[i], &blocked, err)) < 0)
                    return rc;
                if (blocked)
                    continue;
                if ((rc = hk_irepo_merge(db, winner, group[i], reason, now, NULL, err)) < 0)
                    return rc;
                if (hk_i64tab_set(&r->redirect, group[i], winner) < 0)
                    return oom(err);
                /* the winner keeps its own profile; what it lacks is re-read when needed */
                hk_i64tab_del(&r->missing, winner);
                res.merges++;
                r->stats.merges++;
            }
            primary = follow(r, primary);
            for (size_t i = 0; i < keys->n; i++)
                cust[i] = follow(r, cust[i]);
        }

        /* 4. a new customer when nothing is known, and new keys join the primary one */
        if (!primary) {
            if ((rc = new_customer(r, keys, profile, &primary, err)) < 0)
                return rc;
            res.customer_created = true;
        }
        for (size_t i = 0; i < keys->n; i++) {
            if (cust[i])
                continue;
            int64_t iid = 0;
            if ((rc = new_identity(r, &keys->k[i], primary, dig[i], &iid, err)) < 0)
                return rc;
            struct hk_h128_slot *s = hk_h128tab_put(&r->ids, dig[i], primary, iid, NULL);
            if (!s)
                return oom(err);
            s->v1 = primary;
            s->v2 = iid;
            cust[i] = primary;
            ident[i] = iid;
        }

        /* 5. the order's identity; 6. the profile */
        for (size_t i = 0; i < keys->n && !res.identity_id; i++)
            if (cust[i] == primary)
                res.identity_id = ident[i];
        res.customer_id = primary;
        if (!res.customer_created && profile &&
            (rc = fill_profile(r, db, primary, keys, profile, now, err)) < 0)
            return rc;
        *out = res;
        return 0;
    }
}

/* ---- resolver: flushing ------------------------------------------------------------------- */

int hk_resolver_flush(struct hk_resolver *r, struct hk_db *db, int64_t now,
                      int64_t *customers_created, struct hk_err *err)
{
    int rc;
    size_t need = r->npc > r->npi ? r->npc : r->npi;
    if (grow((void **)&r->ids_out, &r->capids, need, sizeof(*r->ids_out)) < 0)
        return oom(err);

    if (r->npc) {
        if ((rc = hk_irepo_customers_insert(db, r->pc_rows, r->npc, now, r->ids_out, err)) < 0)
            return rc;
        for (size_t i = 0; i < r->npc; i++) {
            int64_t pid = -(int64_t)(i + 1), m = HK_MISSING_ALL;
            r->pc[i].real_id = r->ids_out[i];
            if (hk_i64tab_get(&r->missing, pid, &m))
                hk_i64tab_del(&r->missing, pid);
            if (hk_i64tab_set(&r->missing, r->ids_out[i], m) < 0)
                return oom(err);
        }
    }
    if (r->npi) {
        for (size_t j = 0; j < r->npi; j++)
            r->pi_rows[j].customer_id = hk_resolver_real_customer(r, r->pi_rows[j].customer_id);
        /* Only the load that dropped identities_key adds rows without it (ingest_repo.h). */
        if (!r->keys_owned && (rc = hk_irepo_identities_key_ensure(db, err)) < 0)
            return rc;
        if ((rc = hk_irepo_identities_insert(db, r->pi_rows, r->npi, now, r->ids_out, err)) < 0)
            return rc;
        for (size_t j = 0; j < r->npi; j++) {
            if (j + FLUSH_PREFETCH_AHEAD < r->npi)
                hk_h128tab_prefetch(&r->ids, r->pi[j + FLUSH_PREFETCH_AHEAD].h);
            r->pi[j].real_id = r->ids_out[j];
            struct hk_h128_slot *s = hk_h128tab_get(&r->ids, r->pi[j].h);
            if (s) {
                s->v1 = r->pi_rows[j].customer_id;
                s->v2 = r->ids_out[j];
            }
        }
    }
    if (customers_created)
        *customers_created = (int64_t)r->npc;
    return 0;
}

int64_t hk_resolver_real_customer(const struct hk_resolver *r, int64_t id)
{
    if (id >= 0)
        return id;
    size_t i = (size_t)(-id - 1);
    return i < r->npc ? r->pc[i].real_id : 0;
}

int64_t hk_resolver_real_identity(const struct hk_resolver *r, int64_t id)
{
    if (id >= 0)
        return id;
    size_t i = (size_t)(-id - 1);
    return i < r->npi ? r->pi[i].real_id : 0;
}

void hk_resolver_flush_done(struct hk_resolver *r)
{
    for (size_t i = 0; i < r->npc; i++) /* unflushed provisional entries (after a failure) */
        hk_i64tab_del(&r->missing, -(int64_t)(i + 1));
    r->npc = r->npi = 0;
    hk_arena_reset(&r->arena);
}

/* ---- service level ------------------------------------------------------------------------ */

static int in_write_tx(struct hk_store *store, struct hk_db **db, struct hk_err *err)
{
    int rc = hk_db_acquire(store, db, err);
    if (rc < 0)
        return rc;
    if ((rc = hk_db_begin(*db, HK_TX_WRITE, err)) < 0) {
        hk_db_release(*db);
        *db = NULL;
    }
    return rc;
}

static int end_tx(struct hk_db *db, int rc, struct hk_err *err)
{
    if (rc == 0)
        rc = hk_db_commit(db, err);
    else
        hk_db_rollback(db);
    hk_db_release(db);
    return rc;
}

int hk_identity_merge(struct hk_store *store, int64_t a, int64_t b, const char *reason, int64_t now,
                      int64_t *merge_id, struct hk_err *err)
{
    struct hk_db *db;
    int64_t ra = 0, rb = 0, mid = 0;
    bool blocked = false;
    int rc = in_write_tx(store, &db, err);
    if (rc < 0)
        return rc;
    if ((rc = hk_irepo_customer_root(db, a, &ra, err)) < 0 ||
        (rc = hk_irepo_customer_root(db, b, &rb, err)) < 0)
        return end_tx(db, rc, err);
    if (ra == rb)
        return end_tx(db,
                      hk_err_set(err, HK_E(INVAL), "customers %lld and %lld are one customer",
                                 (long long)a, (long long)b),
                      err);
    int64_t w = ra < rb ? ra : rb, l = ra < rb ? rb : ra;
    if ((rc = hk_irepo_never_merge_blocked(db, w, l, &blocked, err)) < 0)
        return end_tx(db, rc, err);
    if (blocked)
        return end_tx(db,
                      hk_err_set(err, HK_E(CONFLICT),
                                 "customers %lld and %lld are marked never to be merged",
                                 (long long)a, (long long)b),
                      err);
    rc = hk_irepo_merge(db, w, l, reason && *reason ? reason : "manual", now, &mid, err);
    rc = end_tx(db, rc, err);
    if (rc == 0 && merge_id)
        *merge_id = mid;
    return rc;
}

int hk_identity_unmerge(struct hk_store *store, int64_t customer_id, const char *by, int64_t now,
                        int64_t *merge_id, struct hk_err *err)
{
    struct hk_db *db;
    struct hk_irepo_merge_row m;
    int rc = in_write_tx(store, &db, err);
    if (rc < 0)
        return rc;
    rc = hk_irepo_merge_active_for_loser(db, customer_id, &m, err);
    if (rc == HK_E(NOTFOUND))
        rc = hk_irepo_merge_latest_for_winner(db, customer_id, &m, err);
    if (rc == HK_E(NOTFOUND))
        rc = hk_err_set(err, HK_E(NOTFOUND), "customer %lld has no merge to undo",
                        (long long)customer_id);
    if (rc == 0)
        rc = hk_irepo_unmerge(db, m.id, by && *by ? by : "system", now, err);
    rc = end_tx(db, rc, err);
    if (rc == 0 && merge_id)
        *merge_id = m.id;
    return rc;
}

int hk_identity_never_merge(struct hk_store *store, int64_t a, int64_t b, const char *reason,
                            int64_t now, struct hk_err *err)
{
    struct hk_db *db;
    int rc = in_write_tx(store, &db, err);
    if (rc < 0)
        return rc;
    rc = hk_irepo_never_merge_add(db, a, b, reason && *reason ? reason : "manual", now, err);
    return end_tx(db, rc, err);
}
