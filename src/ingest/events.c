/*
 * events.c — live ingest of events and customer upserts (see events.h for the contract).
 *
 * Design
 *   A batch runs in one write transaction on one db, with a savepoint per item. Each item is
 *   resolved to its customer by the same resolver as file imports (identity.h): keys from the
 *   identities the integrator sent, then hk_resolver_resolve, which joins keys to customers,
 *   creates a customer when no key is known and merges customers a strong key links (unless
 *   marked never-merge). The resolver's pending rows are flushed at once after each item, so
 *   every id an item reports is real and an item's rollback leaves nothing pending; after a
 *   rollback the resolver's caches are forgotten (they may name rows that no longer exist).
 *
 *   Events: an event with an external_id is first looked up by (type, external_id); when
 *   stored it is "unchanged" and nothing else happens (not even identity resolution), so a
 *   retried request changes nothing.
 *
 *   Customer upserts: the resolver is called without profile fields; this file then compares
 *   the stored profile with what the item gives and overwrites what differs (the integrator's
 *   latest profile wins, unlike file imports, which only fill what is empty). The outcome is
 *   "created" for a new customer, "updated" when a merge, a new identity or a profile change
 *   happened, else "unchanged". Real name, phone and address are sealed with the keyring, with
 *   keyed look-up hashes beside name and phone; masked values (138****5678) are never stored
 *   as a profile value from this path.
 *
 * Invariants
 *   - An item is all-or-nothing (savepoint); one bad item never rejects the others.
 *   - No PII in error messages: identities are named by index and kind, never by value.
 *
 * Threads: a call uses one db from ctx->store for its duration; calls may run concurrently.
 */
#include "ingest/events.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/pii.h"
#include "core/tz.h"
#include "core/util.h"
#include "ingest/identity.h"
#include "ingest/ingest_api.h"
#include "ingest/region.h"
#include "store/events_repo.h"
#include "store/ingest_repo.h"
#include "store/store.h"

#define ITEM_SAVEPOINT "hk_ingest_item"

static const char *const EVENT_TYPES[] = {
    "browse", "cart",     "favourite", "coupon_claim",     "coupon_use",
    "review", "check_in", "share",     "logistics_update", "chat_message",
};

bool hk_event_type_valid(const char *type)
{
    if (!type)
        return false;
    for (size_t i = 0; i < HK_ARRAY_LEN(EVENT_TYPES); i++)
        if (strcmp(type, EVENT_TYPES[i]) == 0)
            return true;
    return false;
}

static bool fatal(int rc)
{
    return rc == HK_E(NOMEM) || rc == HK_E(UNAVAILABLE) || rc == HK_E(IO);
}

struct batch {
    const struct hk_ingest_ctx *ctx;
    struct hk_db *db;
    struct hk_resolver *r;
};

/* Resolves keys to a customer (real ids: pending rows are flushed). *had_new: whether a new
   customer or identity was written. */
static int resolve(struct batch *b, const struct hk_identity_keys *keys, int64_t *customer,
                   int64_t *identity, bool *created, bool *changed, struct hk_err *err)
{
    struct hk_resolution res;
    int rc = hk_resolver_resolve(b->r, b->db, keys, 0, NULL, b->ctx->now, &res, err);
    if (rc < 0)
        return rc;
    bool pending = hk_resolver_pending(b->r);
    if ((rc = hk_resolver_flush(b->r, b->db, b->ctx->now, NULL, err)) < 0) {
        hk_resolver_flush_done(b->r);
        return rc;
    }
    *customer = hk_resolver_real_customer(b->r, res.customer_id);
    *identity = hk_resolver_real_identity(b->r, res.identity_id);
    hk_resolver_flush_done(b->r);
    if (*customer <= 0)
        return hk_err_set(err, HK_E(INTERNAL), "identity resolution left no customer");
    *created = res.customer_created;
    *changed = pending || res.merges > 0;
    return 0;
}

/*
 * Runs apply(b, i, &results[i], &errors[i]) for each item under a savepoint, in one
 * transaction. An item's non-fatal failure is its error; a fatal one or a failed commit fails
 * the whole call (results cleared).
 */
typedef int (*apply_fn)(struct batch *b, const void *items, size_t i,
                        struct hk_ingest_item_result *out, struct hk_err *err);

static int run_batch(const struct hk_ingest_ctx *ctx, const void *items, size_t n, apply_fn apply,
                     struct hk_ingest_item_result *results, struct hk_err *errors,
                     struct hk_err *err)
{
    struct batch b = {ctx, NULL, NULL};
    int rc;
    for (size_t i = 0; i < n; i++) {
        memset(&results[i], 0, sizeof results[i]);
        hk_err_clear(&errors[i]);
    }
    if (!n)
        return 0;
    b.r = hk_resolver_new(ctx->keys);
    if (!b.r)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    if ((rc = hk_db_acquire(ctx->store, &b.db, err)) < 0) {
        hk_resolver_free(b.r);
        return rc;
    }
    if ((rc = hk_db_begin(b.db, HK_TX_WRITE, err)) < 0)
        goto done;
    /* before the items' savepoints: a build under one would be undone by its item's failure
       (and done again by the next item) */
    if ((rc = hk_irepo_identities_key_ensure(b.db, err)) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        struct hk_err e;
        hk_err_clear(&e);
        if ((rc = hk_db_savepoint(b.db, ITEM_SAVEPOINT, err)) < 0)
            goto fail;
        rc = apply(&b, items, i, &results[i], &e);
        if (rc == 0) {
            if ((rc = hk_db_savepoint_release(b.db, ITEM_SAVEPOINT, err)) < 0)
                goto fail;
            continue;
        }
        if (fatal(rc)) {
            *err = e;
            goto fail;
        }
        int rc2 = hk_db_savepoint_rollback(b.db, ITEM_SAVEPOINT, err);
        if (rc2 == 0)
            rc2 = hk_db_savepoint_release(b.db, ITEM_SAVEPOINT, err);
        if (rc2 < 0) {
            rc = rc2;
            goto fail;
        }
        hk_resolver_forget(b.r);
        memset(&results[i], 0, sizeof results[i]);
        errors[i] = e;
        if (!errors[i].code)
            errors[i].code = rc;
    }
    rc = hk_db_commit(b.db, err);
    if (rc == 0)
        goto done;
fail:
    hk_db_rollback(b.db);
    for (size_t i = 0; i < n; i++)
        memset(&results[i], 0, sizeof results[i]);
done:
    hk_db_release(b.db);
    hk_resolver_free(b.r);
    return rc;
}

/* ---- events ------------------------------------------------------------------------------- */

static int apply_event(struct batch *b, const void *items, size_t i,
                       struct hk_ingest_item_result *out, struct hk_err *err)
{
    const struct hk_event_in *ev = &((const struct hk_event_in *)items)[i];
    struct hk_identity_keys keys;
    int rc;

    if (!hk_event_type_valid(ev->type))
        return hk_err_setf(err, HK_E(INVAL), "type", "type: must be one of " HK_EVENT_TYPES);
    if (ev->at <= 0)
        return hk_err_setf(err, HK_E(INVAL), "at", "at: the time the event happened is required");
    if (ev->external_id && *ev->external_id) {
        if (strlen(ev->external_id) > 128)
            return hk_err_setf(err, HK_E(INVAL), "external_id",
                               "external_id: at most 128 characters");
        int64_t id = 0, cust = 0;
        rc = hk_erepo_event_find(b->db, ev->type, ev->external_id, &id, &cust, err);
        if (rc == 0) {
            if ((rc = hk_irepo_customer_root(b->db, cust, &cust, err)) < 0)
                return rc;
            out->outcome = HK_APPLY_UNCHANGED;
            out->customer_id = cust;
            out->id = id;
            return 0;
        }
        if (rc != HK_E(NOTFOUND))
            return rc;
    }
    if (!ev->nids)
        return hk_err_setf(err, HK_E(INVAL), "identities",
                           "identities: at least one identity names the event's customer");
    if ((rc = hk_identity_keys_from_input(b->ctx->keys, ev->ids, ev->nids, &keys, err)) < 0)
        return rc;
    if (!keys.n)
        return hk_err_setf(err, HK_E(INVAL), "identities",
                           "identities: none of them can name a customer");

    int64_t shop_id = 0;
    if (ev->shop && *ev->shop) {
        const char *channel = ev->channel && *ev->channel ? ev->channel : "other";
        if ((rc = hk_irepo_shop_ensure(b->db, channel, ev->shop, hk_tz_name(b->ctx->tz),
                                       b->ctx->now, &shop_id, err)) < 0)
            return rc;
    }
    int64_t at = ev->at;
    if (ev->at_local) {
        const struct hk_tz *tz = b->ctx->tz;
        struct hk_tz *own = NULL;
        char tzname[128] = "";
        if (ev->shop && *ev->shop &&
            (rc = hk_irepo_shop_timezone(b->db, ev->channel && *ev->channel ? ev->channel : "other",
                                         ev->shop, tzname, sizeof tzname, err)) < 0)
            return rc;
        if (tzname[0] && (!tz || strcmp(tzname, hk_tz_name(tz)) != 0)) {
            struct hk_err e;
            hk_err_clear(&e);
            if (hk_tz_load(tzname, &own, &e) == 0)
                tz = own;
        }
        struct hk_civil c;
        struct hk_err e;
        hk_tz_to_local(NULL, ev->at, &c);
        if (hk_tz_from_local(tz, &c, &at, &e) != 0)
            at = ev->at;
        hk_tz_free(own);
    }
    int64_t customer = 0, identity = 0, id = 0;
    bool created = false, changed = false;
    if ((rc = resolve(b, &keys, &customer, &identity, &created, &changed, err)) < 0)
        return rc;
    struct hk_erepo_event row = {
        .customer_id = customer,
        .shop_id = shop_id,
        .identity_id = identity,
        .type = ev->type,
        .at = at,
        .properties = ev->properties_json && *ev->properties_json ? ev->properties_json : "{}",
        .external_id = ev->external_id,
    };
    if ((rc = hk_erepo_event_insert(b->db, &row, b->ctx->now, &id, err)) < 0)
        return rc;
    out->outcome = HK_APPLY_CREATED;
    out->customer_id = customer;
    out->id = id;
    return 0;
}

int hk_ingest_events(const struct hk_ingest_ctx *ctx, const struct hk_event_in *events, size_t n,
                     struct hk_ingest_item_result *results, struct hk_err *errors,
                     struct hk_err *err)
{
    return run_batch(ctx, events, n, apply_event, results, errors, err);
}

/* ---- customers ---------------------------------------------------------------------------- */

static bool given(const char *s)
{
    return s && *s;
}

/* A well-formed e-mail address lower-cased into out; false when it is not one. */
static bool email_norm(const char *s, char *out, size_t size)
{
    size_t len = strlen(s), at = 0, nat = 0;
    if (len < 3 || len >= size || hk_pii_is_masked(s, len))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7f)
            return false;
        if (c == '@') {
            at = i;
            nat++;
        }
        out[i] = (char)tolower(c);
    }
    out[len] = 0;
    return nat == 1 && at > 0 && at + 1 < len && strchr(s + at + 1, '.') != NULL;
}

static bool birthday_valid(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return false;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0');
    int d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 1900 || m < 1 || m > 12 || d < 1)
        return false;
    int yy, mm, dd;
    hk_civil_from_days(hk_days_from_civil(y, m, d), &yy, &mm, &dd);
    return yy == y && mm == m && dd == d;
}

/* Seals plain into a new buffer (caller frees). NULL on out of memory. */
static unsigned char *seal_new(const struct hk_keyring *kr, const char *plain, size_t *len)
{
    size_t n = strlen(plain);
    unsigned char *p = malloc(hk_pii_sealed_size(n));
    if (p)
        *len = hk_pii_seal(kr, plain, n, p);
    return p;
}

/* Checks the profile fields of an upsert that are not identities. */
static int check_customer(const struct hk_customer_in *c, char *email, size_t email_size,
                          char *phone, size_t phone_size, struct hk_err *err)
{
    email[0] = phone[0] = 0;
    if (given(c->phone) && hk_phone_normalize(c->phone, strlen(c->phone), phone, phone_size) != 0)
        return hk_err_setf(err, HK_E(INVAL), "phone",
                           "phone: not a mainland mobile number (e.g. 13812345678)");
    if (given(c->email) && !email_norm(c->email, email, email_size))
        return hk_err_setf(err, HK_E(INVAL), "email", "email: not an e-mail address");
    if (given(c->birthday) && !birthday_valid(c->birthday))
        return hk_err_setf(err, HK_E(INVAL), "birthday", "birthday: must be a date YYYY-MM-DD");
    if (given(c->gender) && strcmp(c->gender, "f") != 0 && strcmp(c->gender, "m") != 0)
        return hk_err_setf(err, HK_E(INVAL), "gender", "gender: must be \"f\" or \"m\"");
    static const struct {
        const char *name;
        size_t max;
    } lims[] = {{"nick", 255}, {"province", 63}, {"city", 63}, {"name", 255}, {"address", 1000}};
    const char *vals[] = {c->nick, c->province, c->city, c->name, c->address};
    for (size_t i = 0; i < HK_ARRAY_LEN(lims); i++)
        if (vals[i] && strlen(vals[i]) > lims[i].max)
            return hk_err_setf(err, HK_E(INVAL), lims[i].name, "%s: at most %zu bytes",
                               lims[i].name, lims[i].max);
    return 0;
}

/* Overwrites what differs between the stored profile and the upsert; *changed says if any. */
static int update_profile(struct batch *b, int64_t customer, const struct hk_customer_in *c,
                          const char *email, const char *phone, bool *changed, struct hk_err *err)
{
    const struct hk_keyring *kr = b->ctx->keys;
    struct hk_erepo_profile cur;
    struct hk_erepo_profile_set set;
    unsigned char *name_enc = NULL, *phone_enc = NULL, *addr_enc = NULL;
    char name_hash[HK_PII_HASH_HEX + 1], phone_hash[HK_PII_HASH_HEX + 1], phone_masked[40];
    bool any = false;
    int rc = hk_erepo_profile_get(b->db, customer, &cur, err);
    if (rc < 0)
        return rc;
    memset(&set, 0, sizeof set);
    set.consent_sms = set.consent_email = set.consent_wechat = -1;

#define TEXT_FIELD(field, value)                                                                   \
    do {                                                                                           \
        if (given(value) && strcmp(cur.field, (value)) != 0) {                                     \
            set.field = (value);                                                                   \
            any = true;                                                                            \
        }                                                                                          \
    } while (0)
    if (given(c->nick) && !hk_pii_is_masked(c->nick, strlen(c->nick)))
        TEXT_FIELD(nick, c->nick);
    TEXT_FIELD(email, email);
    TEXT_FIELD(province, hk_region_province_norm(c->province));
    TEXT_FIELD(city, c->city);
    TEXT_FIELD(birthday, c->birthday);
    TEXT_FIELD(gender, c->gender);
#undef TEXT_FIELD
    if (c->consent_sms >= 0 && (c->consent_sms != 0) != (cur.consent_sms != 0)) {
        set.consent_sms = c->consent_sms != 0;
        any = true;
    }
    if (c->consent_email >= 0 && (c->consent_email != 0) != (cur.consent_email != 0)) {
        set.consent_email = c->consent_email != 0;
        any = true;
    }
    if (c->consent_wechat >= 0 && (c->consent_wechat != 0) != (cur.consent_wechat != 0)) {
        set.consent_wechat = c->consent_wechat != 0;
        any = true;
    }
    if (given(c->name) && !hk_pii_is_masked(c->name, strlen(c->name))) {
        hk_pii_hash(kr, c->name, strlen(c->name), name_hash);
        if (strcmp(cur.name_hash, name_hash) != 0) {
            if (!(name_enc = seal_new(kr, c->name, &set.name_enc_len)))
                goto nomem;
            set.name_enc = name_enc;
            set.name_hash = name_hash;
            any = true;
        }
    }
    if (phone[0]) {
        hk_pii_hash(kr, phone, strlen(phone), phone_hash);
        if (strcmp(cur.phone_hash, phone_hash) != 0) {
            if (!(phone_enc = seal_new(kr, phone, &set.phone_enc_len)))
                goto nomem;
            hk_phone_mask(phone, phone_masked, sizeof phone_masked);
            set.phone_enc = phone_enc;
            set.phone_hash = phone_hash;
            set.phone_masked = phone_masked;
            any = true;
        }
    }
    if (given(c->address) && !hk_pii_is_masked(c->address, strlen(c->address))) {
        bool same = false;
        if (cur.address_enc_len > 0 && cur.address_enc_len != SIZE_MAX) {
            char *plain = malloc(cur.address_enc_len + 1);
            struct hk_err e;
            if (!plain)
                goto nomem;
            same = hk_pii_open(kr, cur.address_enc, cur.address_enc_len, plain,
                               cur.address_enc_len + 1, &e) == 0 &&
                   strcmp(plain, c->address) == 0;
            free(plain);
        }
        if (!same) {
            if (!(addr_enc = seal_new(kr, c->address, &set.address_enc_len)))
                goto nomem;
            set.address_enc = addr_enc;
            any = true;
        }
    }
    if (any)
        rc = hk_erepo_profile_set(b->db, customer, &set, b->ctx->now, err);
    free(name_enc);
    free(phone_enc);
    free(addr_enc);
    if (rc == 0)
        *changed = any;
    return rc;
nomem:
    free(name_enc);
    free(phone_enc);
    free(addr_enc);
    return hk_err_set(err, HK_E(NOMEM), "out of memory");
}

static int apply_customer(struct batch *b, const void *items, size_t i,
                          struct hk_ingest_item_result *out, struct hk_err *err)
{
    const struct hk_customer_in *c = &((const struct hk_customer_in *)items)[i];
    struct hk_identity_in ids[HK_IDENTITY_KEYS_MAX];
    struct hk_identity_keys keys;
    char email[256], phone[HK_PHONE_MAX + 8];
    int rc;

    if ((rc = check_customer(c, email, sizeof email, phone, sizeof phone, err)) < 0)
        return rc;
    /* the profile's phone and e-mail are identities too (strong keys) */
    size_t n = 0;
    if (c->nids > HK_IDENTITY_KEYS_MAX)
        return hk_err_setf(err, HK_E(INVAL), "identities", "identities: at most %d",
                           HK_IDENTITY_KEYS_MAX);
    for (size_t k = 0; k < c->nids; k++)
        ids[n++] = c->ids[k];
    if (phone[0] && n < HK_IDENTITY_KEYS_MAX)
        ids[n++] = (struct hk_identity_in){"", "phone", phone};
    if (email[0] && n < HK_IDENTITY_KEYS_MAX)
        ids[n++] = (struct hk_identity_in){"", "email", email};
    if (!n)
        return hk_err_setf(err, HK_E(INVAL), "identities",
                           "identities: give at least one identity, a phone or an email");
    if ((rc = hk_identity_keys_from_input(b->ctx->keys, ids, n, &keys, err)) < 0)
        return rc;
    if (!keys.n)
        return hk_err_setf(err, HK_E(INVAL), "identities",
                           "identities: none of them can name a customer");

    int64_t customer = 0, identity = 0;
    bool created = false, changed = false, profile_changed = false;
    if ((rc = resolve(b, &keys, &customer, &identity, &created, &changed, err)) < 0)
        return rc;
    if ((rc = update_profile(b, customer, c, email, phone, &profile_changed, err)) < 0)
        return rc;
    out->outcome = created                      ? HK_APPLY_CREATED
                   : changed || profile_changed ? HK_APPLY_UPDATED
                                                : HK_APPLY_UNCHANGED;
    out->customer_id = customer;
    out->id = customer;
    return 0;
}

int hk_ingest_customers(const struct hk_ingest_ctx *ctx, const struct hk_customer_in *customers,
                        size_t n, struct hk_ingest_item_result *results, struct hk_err *errors,
                        struct hk_err *err)
{
    return run_batch(ctx, customers, n, apply_customer, results, errors, err);
}

/* ---- orders: their customers -------------------------------------------------------------- */

int hk_ingest_order_customers(struct hk_store *store, const struct hk_order_rec *const *orders,
                              size_t n, const char *shop, int64_t *customer_ids, struct hk_err *err)
{
    struct hk_db *db;
    int rc = hk_db_acquire(store, &db, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct hk_order_rec *o = orders[i];
        const char *channel = given(o->channel) ? o->channel : "other";
        const char *s = given(o->shop) ? o->shop : shop;
        int64_t cust = 0;
        customer_ids[i] = 0;
        rc = hk_erepo_order_customer(db, channel, s, o->order_no, &cust, err);
        if (rc == 0)
            rc = hk_irepo_customer_root(db, cust, &cust, err);
        if (rc == 0)
            customer_ids[i] = cust;
        else if (rc == HK_E(NOTFOUND))
            rc = 0;
    }
    hk_db_release(db);
    return rc;
}
