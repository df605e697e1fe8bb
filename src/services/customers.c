/*
 * services/customers.c — the customer 360 profile, timeline and search (the policy: PII
 * decryption and masking by role, merge resolution, cursors, derived values; the SQL is in
 * store/customers_repo.c).
 *
 * Design
 *   A request reads everything it shows inside one read transaction on one connection (a
 *   consistent snapshot on SQLite), then releases the connection and does the CPU work —
 *   decrypting, masking, formatting dates — without holding it.
 *   PII leaves this module only in the form the caller's role may see: masking is applied to
 *   the decrypted value here, never in the HTTP layer, so no handler can forget it.
 *
 * Cursors (opaque to clients, validated here)
 *   search:   "<sort>.<order>.<key>.<id>"  e.g. "spend.desc.15800.42" — the sort and direction
 *             are part of it, so a cursor cannot silently continue a different ordering;
 *   timeline: "<at>.<kind>.<id>"           the last entry of the previous page.
 *
 * Invariants
 *   - A merged-away customer is never shown as itself: reads follow merged_into to the
 *     survivor (at most MERGE_HOPS_MAX links; a longer chain is corrupt data -> internal error).
 *   - Nothing decrypted is logged; an undecryptable value is logged by customer id and field.
 *
 * Threads: stateless; each call takes its own connection from the pool.
 */
#include "services/customers.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/pii.h"
#include "core/tz.h"
#include "core/util.h"
#include "services/accounts.h"
#include "services/app.h"
#include "services/customer_filter.h"
#include "services/engine_svc.h"
#include "engine/engine.h"
#include "services/tags.h"
#include "store/customers_repo.h"
#include "store/store.h"

_Static_assert(HK_CUSTOMER_TEXT_MAX == HK_CUST_TEXT_MAX, "text sizes agree");
_Static_assert(HK_CUSTOMER_SHORT_MAX == HK_CUST_SHORT_MAX, "short text sizes agree");
_Static_assert(HK_CUSTOMER_TITLE_MAX == HK_CUST_TITLE_MAX, "title sizes agree");
_Static_assert(HK_CUST_HASH_MAX > HK_PII_HASH_HEX, "a stored look-up hash fits a row's buffer");

#define MERGE_HOPS_MAX         16
#define SEARCH_LIMIT_DEFAULT   50
#define TIMELINE_LIMIT_DEFAULT 20
#define TZ_CACHE_MAX           8
#define SEARCH_TEXT_MAX        200 /* bytes of q */

/* ---- small helpers -------------------------------------------------------------------- */

/* Copies src into dst (size > 0), truncated at a UTF-8 character boundary. */
static void copy_utf8(char *dst, size_t size, const char *src)
{
    size_t len = hk_utf8_cut(src, strlen(src), size - 1);
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* Bytes of the UTF-8 character starting at s (1 for a stray byte; never past the NUL). */
static size_t utf8_char_len(const char *s)
{
    unsigned char c = (unsigned char)s[0];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
    for (size_t i = 1; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            return i;
    return n;
}

static bool may_read_pii(const struct hk_principal *who)
{
    return who && hk_role_may_read_pii(who->role);
}

static void log_unreadable(struct hk_app *app, int64_t customer_id, const char *field)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, customer_id);
    hk_log_kv(&app->log, HK_LOG_WARN, "customer.pii_unreadable", NULL, "customer", id, "field",
              field, (const char *)NULL);
}

/*
 * Decrypts a sealed value into out (truncated at a character boundary); false (out "") when
 * there is none or it cannot be opened (logged by customer id and field).
 */
static bool unseal(struct hk_app *app, int64_t customer_id, const char *field,
                   const unsigned char *sealed, size_t len, char *out, size_t size)
{
    out[0] = '\0';
    if (len == 0)
        return false;
    char *plain = malloc(len + 1);
    if (!plain)
        return false;
    struct hk_err e;
    hk_err_clear(&e);
    bool ok = hk_pii_open(&app->keys, sealed, len, plain, len + 1, &e) == 0;
    if (ok)
        copy_utf8(out, size, plain);
    else
        log_unreadable(app, customer_id, field);
    sodium_memzero(plain, len + 1);
    free(plain);
    return ok && out[0];
}

/* "张三丰" -> "张*"; a one-character name -> "*". */
static void mask_name(const char *name, char *out, size_t size)
{
    if (!name[0]) {
        out[0] = '\0';
        return;
    }
    size_t first = utf8_char_len(name);
    if (!name[first]) {
        hk_strlcpy(out, "*", size);
        return;
    }
    snprintf(out, size, "%.*s*", (int)first, name);
}

/* "alice@qq.com" -> "a***@qq.com"; without '@' -> "***". */
static void mask_email(const char *email, char *out, size_t size)
{
    const char *at = strchr(email, '@');
    if (!email[0]) {
        out[0] = '\0';
    } else if (!at || at == email) {
        hk_strlcpy(out, "***", size);
    } else {
        size_t first = utf8_char_len(email);
        snprintf(out, size, "%.*s***%s", (int)first, email, at);
    }
}

/* The phone as who may see it: clear (+86 form) or masked; "" when unknown. */
static void phone_for(struct hk_app *app, bool clear, int64_t customer_id,
                      const unsigned char *sealed, size_t sealed_len, const char *stored_mask,
                      char *out, size_t size)
{
    char plain[HK_CUST_SEALED_MAX];
    out[0] = '\0';
    if (clear) {
        if (unseal(app, customer_id, "phone", sealed, sealed_len, plain, sizeof plain))
            copy_utf8(out, size, plain);
        else
            copy_utf8(out, size, stored_mask); /* masked at the source: all there is */
    } else if (stored_mask[0]) {
        copy_utf8(out, size, stored_mask);
    } else if (unseal(app, customer_id, "phone", sealed, sealed_len, plain, sizeof plain)) {
        hk_phone_mask(plain, out, size);
    }
    sodium_memzero(plain, sizeof plain);
}

/* The real name as who may see it; "" when unknown. */
static void name_for(struct hk_app *app, bool clear, int64_t customer_id,
                     const unsigned char *sealed, size_t sealed_len, char *out, size_t size)
{
    char plain[HK_CUST_SEALED_MAX];
    out[0] = '\0';
    if (unseal(app, customer_id, "name", sealed, sealed_len, plain, sizeof plain)) {
        if (clear)
            copy_utf8(out, size, plain);
        else
            mask_name(plain, out, size);
    }
    sodium_memzero(plain, sizeof plain);
}

static int page_limit(int limit, int dflt)
{
    return limit >= 1 && limit <= HK_CUSTOMER_PAGE_MAX ? limit : dflt;
}

/* Splits s at '.' into exactly n int64 fields. */
static int parse_int_fields(const char *s, int64_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strcspn(s, ".");
        if (hk_parse_int64(s, len, &out[i]) != 0)
            return -1;
        s += len;
        if (i + 1 < n) {
            if (*s != '.')
                return -1;
            s++;
        }
    }
    return *s ? -1 : 0;
}

static int bad_cursor(struct hk_err *err)
{
    return hk_err_setf(err, HK_E(INVAL), "cursor",
                       "cursor: not a cursor of this list (pass next_cursor of the previous "
                       "page, with the same sort and order)");
}

/* ---- time zones ----------------------------------------------------------------------- */

/* Zones loaded for one request (shops in other zones than the default are rare). */
struct tz_cache {
    struct hk_app *app;
    char names[TZ_CACHE_MAX][HK_CUST_SHORT_MAX];
    struct hk_tz *zones[TZ_CACHE_MAX];
    size_t n;
};

static const struct hk_tz *tz_for(struct tz_cache *c, const char *name)
{
    if (!name[0] || !c->app->tz || strcmp(name, hk_tz_name(c->app->tz)) == 0)
        return c->app->tz;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->names[i], name) == 0)
            return c->zones[i] ? c->zones[i] : c->app->tz;
    struct hk_tz *z = NULL;
    struct hk_err e;
    if (hk_tz_load(name, &z, &e) != 0)
        z = NULL;
    if (c->n < TZ_CACHE_MAX) {
        hk_strlcpy(c->names[c->n], name, sizeof c->names[c->n]);
        c->zones[c->n++] = z;
    } else {
        hk_tz_free(z);
        z = NULL;
    }
    return z ? z : c->app->tz;
}

static void tz_cache_free(struct tz_cache *c)
{
    for (size_t i = 0; i < c->n; i++)
        hk_tz_free(c->zones[i]);
    c->n = 0;
}

static void local_date(const struct hk_tz *tz, int64_t t, char *date, size_t dsize)
{
    char buf[40];
    hk_time_format_local(tz, t, buf, sizeof buf);
    snprintf(date, dsize, "%.10s", buf);
}

/* ---- merge resolution ----------------------------------------------------------------- */

/* Reads customer id, following merges to the survivor; *merged_from = id when it moved. */
static int resolve(struct hk_db *db, int64_t id, struct hk_cust_row *row, int64_t *merged_from,
                   struct hk_err *err)
{
    int rc = hk_cust_get(db, id, row, err);
    if (rc != 0)
        return rc;
    for (int hops = 0; row->merged_into != 0; hops++) {
        if (hops == MERGE_HOPS_MAX) {
            hk_cust_row_release(row);
            return hk_err_set(err, HK_E(INTERNAL),
                              "customer %" PRId64 " has a chain of more than %d merges", id,
                              MERGE_HOPS_MAX);
        }
        int64_t next = row->merged_into;
        hk_cust_row_release(row);
        if ((rc = hk_cust_get(db, next, row, err)) != 0)
            return rc;
    }
    *merged_from = row->id != id ? id : 0;
    return 0;
}

/* ---- timeline ------------------------------------------------------------------------- */

void hk_timeline_page_release(struct hk_timeline_page *p)
{
    if (!p)
        return;
    for (size_t i = 0; p->properties_ && i < p->n; i++)
        free(p->properties_[i]);
    free(p->properties_);
    free(p->items_);
    free(p->entries);
    memset(p, 0, sizeof *p);
}

static bool status_counted(const char *s)
{
    return strcmp(s, "paid") == 0 || strcmp(s, "shipped") == 0 || strcmp(s, "completed") == 0;
}

/* Index of the first item of order_id in items (sorted by order id), or n. */
static size_t first_item_of(const struct hk_cust_item_row *items, size_t n, int64_t order_id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (items[mid].order_id < order_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*
 * Reads one timeline page of customer id after `after` into *out (at most limit entries; the
 * next cursor when there are more), on db.
 */
static int read_timeline(struct hk_app *app, struct hk_db *db, int64_t id,
                         const struct hk_cust_tl_cursor *after, int limit,
                         struct hk_timeline_page *out, struct hk_err *err)
{
    struct hk_cust_tl_row *rows = NULL;
    struct hk_cust_item_row *items = NULL;
    size_t fetched = 0, nrows = 0, nitems = 0;
    struct hk_timeline_page page;
    memset(&page, 0, sizeof page);
    struct tz_cache tzc = {.app = app};
    int rc = hk_cust_timeline(db, id, after, (size_t)limit + 1, &rows, &fetched, err);
    if (rc != 0)
        return rc;
    nrows = fetched;
    if (nrows > (size_t)limit) {
        nrows = (size_t)limit;
        const struct hk_cust_tl_row *last = &rows[nrows - 1];
        snprintf(page.next_cursor, sizeof page.next_cursor, "%" PRId64 ".%d.%" PRId64, last->at,
                 (int)last->kind, last->id);
    }

    /* The items of the page's orders, in one query over the page's time span. */
    int64_t from = INT64_MAX, to = INT64_MIN;
    for (size_t i = 0; i < nrows; i++) {
        if (rows[i].kind != HK_CUST_TL_ORDER)
            continue;
        from = rows[i].at < from ? rows[i].at : from;
        to = rows[i].at > to ? rows[i].at : to;
    }
    if (from <= to && (rc = hk_cust_order_items(db, id, from, to, &items, &nitems, err)) != 0)
        goto fail;

    size_t total_items = 0;
    for (size_t i = 0; i < nrows; i++) {
        if (rows[i].kind != HK_CUST_TL_ORDER)
            continue;
        for (size_t k = first_item_of(items, nitems, rows[i].id);
             k < nitems && items[k].order_id == rows[i].id; k++)
            total_items++;
    }
    if (nrows) {
        page.entries = calloc(nrows, sizeof *page.entries);
        page.properties_ = calloc(nrows, sizeof *page.properties_);
        if (!page.entries || !page.properties_)
            goto nomem;
    }
    if (total_items && !(page.items_ = calloc(total_items, sizeof *page.items_)))
        goto nomem;

    for (size_t i = 0; i < nrows; i++) {
        struct hk_cust_tl_row *r = &rows[i];
        struct hk_timeline_entry *e = &page.entries[i];
        e->kind = r->kind == HK_CUST_TL_ORDER ? HK_TIMELINE_ORDER : HK_TIMELINE_EVENT;
        e->id = r->id;
        e->at = r->at;
        const struct hk_tz *tz = tz_for(&tzc, r->shop_timezone);
        hk_time_format_local(tz, r->at, e->local_time, sizeof e->local_time);
        local_date(tz, r->at, e->local_date, sizeof e->local_date);
        e->shop_id = r->shop_id;
        hk_strlcpy(e->shop_name, r->shop_name, sizeof e->shop_name);
        hk_strlcpy(e->shop_channel, r->shop_channel, sizeof e->shop_channel);
        if (r->kind == HK_CUST_TL_ORDER) {
            hk_strlcpy(e->order_no, r->order_no, sizeof e->order_no);
            hk_strlcpy(e->status, r->status, sizeof e->status);
            e->counted = status_counted(r->status);
            e->total_fen = r->total_fen;
            e->discount_fen = r->discount_fen;
            e->postage_fen = r->postage_fen;
            e->paid_fen = r->paid_fen;
            e->refund_fen = r->refund_fen;
            hk_strlcpy(e->coupon_code, r->coupon_code, sizeof e->coupon_code);
            e->paid_at = r->paid_at;
            e->shipped_at = r->shipped_at;
            e->received_at = r->received_at;
            e->refunded_at = r->refunded_at;
            e->cancelled_at = r->cancelled_at;
            size_t k = first_item_of(items, nitems, r->id);
            e->items = page.items_ ? page.items_ + page.nitems_ : NULL;
            for (; page.items_ && k < nitems && items[k].order_id == r->id; k++) {
                const struct hk_cust_item_row *src = &items[k];
                struct hk_customer_item *it = &page.items_[page.nitems_++];
                it->line_no = src->line_no;
                hk_strlcpy(it->product_id, src->product_ext_id, sizeof it->product_id);
                hk_strlcpy(it->category, src->category, sizeof it->category);
                hk_strlcpy(it->title, src->title, sizeof it->title);
                hk_strlcpy(it->sku, src->sku, sizeof it->sku);
                hk_strlcpy(it->variant, src->variant, sizeof it->variant);
                it->quantity = src->quantity;
                it->unit_price_fen = src->unit_price_fen;
                it->paid_fen = src->paid_fen;
                it->refund_fen = src->refund_fen;
                it->placeholder = src->placeholder;
                e->nitems++;
            }
        } else {
            hk_strlcpy(e->event_type, r->event_type, sizeof e->event_type);
            page.properties_[i] = r->properties; /* taken */
            r->properties = NULL;
            e->properties = page.properties_[i];
        }
    }
    page.n = nrows;
    hk_cust_tl_rows_free(rows, fetched);
    free(items);
    tz_cache_free(&tzc);
    *out = page;
    return 0;

nomem:
    rc = hk_err_set(err, HK_E(NOMEM), "out of memory");
fail:
    page.n = nrows;
    hk_timeline_page_release(&page);
    hk_cust_tl_rows_free(rows, fetched);
    free(items);
    tz_cache_free(&tzc);
    return rc;
}

int hk_customers_timeline(struct hk_app *app, const struct hk_principal *who, int64_t id,
                          const char *cursor, int limit, struct hk_timeline_page *out,
                          int64_t *resolved_id, struct hk_err *err)
{
    (void)who; /* every staff role sees every timeline; event properties are shown as ingested */
    struct hk_cust_tl_cursor after = hk_cust_tl_cursor_first();
    if (cursor && *cursor) {
        int64_t f[3];
        if (parse_int_fields(cursor, f, 3) != 0 ||
            (f[1] != HK_CUST_TL_ORDER && f[1] != HK_CUST_TL_EVENT))
            return bad_cursor(err);
        after.at = f[0];
        after.kind = (int)f[1];
        after.id = f[2];
    }
    limit = page_limit(limit, TIMELINE_LIMIT_DEFAULT);
    struct hk_db *db = NULL;
    struct hk_cust_row row;
    memset(&row, 0, sizeof row);
    int64_t merged_from = 0;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc != 0)
        return rc;
    if ((rc = hk_db_begin(db, HK_TX_READ, err)) != 0)
        goto done;
    if ((rc = resolve(db, id, &row, &merged_from, err)) != 0)
        goto done;
    if ((rc = read_timeline(app, db, row.id, &after, limit, out, err)) != 0)
        goto done;
    if (resolved_id)
        *resolved_id = row.id;
done:
    hk_cust_row_release(&row);
    hk_db_rollback(db);
    hk_db_release(db);
    return rc;
}

/* ---- profile -------------------------------------------------------------------------- */

void hk_customer_profile_release(struct hk_customer_profile *p)
{
    if (!p)
        return;
    free(p->address);
    free(p->identities);
    free(p->tags);
    free(p->shops);
    hk_timeline_page_release(&p->timeline);
    memset(p, 0, sizeof *p);
}

/* Rounds num / den to the nearest integer, halves away from zero (den > 0). */
static int64_t div_round(int64_t num, int64_t den)
{
    int64_t q = num / den, r = num % den;
    if (r < 0)
        r = -r;
    if (2 * r >= den)
        q += num < 0 ? -1 : 1;
    return q;
}

/* Fills the PII and plain fields of p from row, as who may see them. */
static int fill_person(struct hk_app *app, bool clear, const struct hk_cust_row *row,
                       struct hk_customer_profile *p, struct hk_err *err)
{
    p->id = row->id;
    p->pii_masked = !clear;
    hk_strlcpy(p->nick, row->nick, sizeof p->nick);
    name_for(app, clear, row->id, row->name_enc, row->name_enc_len, p->name, sizeof p->name);
    phone_for(app, clear, row->id, row->phone_enc, row->phone_enc_len, row->phone_masked, p->phone,
              sizeof p->phone);
    if (clear)
        hk_strlcpy(p->email, row->email, sizeof p->email);
    else
        mask_email(row->email, p->email, sizeof p->email);
    hk_strlcpy(p->province, row->province, sizeof p->province);
    hk_strlcpy(p->city, row->city, sizeof p->city);
    hk_strlcpy(p->birthday, row->birthday, sizeof p->birthday);
    hk_strlcpy(p->gender, row->gender, sizeof p->gender);
    p->created_at = row->created_at;
    p->updated_at = row->updated_at;

    if (row->address_enc_len > 0) {
        char *plain = malloc(row->address_enc_len + 1);
        if (!plain)
            return hk_err_set(err, HK_E(NOMEM), "out of memory");
        struct hk_err e;
        hk_err_clear(&e);
        if (hk_pii_open(&app->keys, row->address_enc, row->address_enc_len, plain,
                        row->address_enc_len + 1, &e) != 0) {
            log_unreadable(app, row->id, "address");
        } else if (clear) {
            p->address = hk_strdup(plain);
        } else {
            /* masked: the region only */
            size_t n = strlen(row->province) + strlen(row->city) + 1;
            p->address = malloc(n);
            if (p->address)
                snprintf(p->address, n, "%s%s", row->province, row->city);
        }
        sodium_memzero(plain, row->address_enc_len + 1);
        free(plain); /* p->address stays NULL (unknown) when opening failed or memory ran out */
    }
    return 0;
}

/* Identities as who may see them: phone hashes become the customer's phone, e-mails masked. */
static int fill_identities(bool clear, const struct hk_cust_row *row,
                           const struct hk_cust_identity_row *ids, size_t n,
                           struct hk_customer_profile *p, struct hk_err *err)
{
    if (n == 0)
        return 0;
    p->identities = calloc(n, sizeof *p->identities);
    if (!p->identities)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    for (size_t i = 0; i < n; i++) {
        struct hk_customer_identity *d = &p->identities[i];
        hk_strlcpy(d->channel, ids[i].channel, sizeof d->channel);
        hk_strlcpy(d->kind, ids[i].kind, sizeof d->kind);
        d->created_at = ids[i].created_at;
        if (strcmp(ids[i].kind, "phone") == 0) {
            /* stored as the keyed hash: show the number only when it is this customer's */
            if (row->phone_hash[0] && strcmp(ids[i].value, row->phone_hash) == 0)
                hk_strlcpy(d->value, p->phone, sizeof d->value);
        } else if (strcmp(ids[i].kind, "recipient") == 0) {
            /* a keyed hash of masked recipient details: nothing to show */
        } else if (strcmp(ids[i].kind, "email") == 0 && !clear) {
            mask_email(ids[i].value, d->value, sizeof d->value);
        } else {
            hk_strlcpy(d->value, ids[i].value, sizeof d->value);
        }
    }
    p->n_identities = n;
    return 0;
}

/* The engine's view of a customer (RFM, recency, channels) as of now, when this process runs an
 * engine that knows it; the rest of the profile comes from the store. */
static void engine_view(struct hk_app *app, int64_t id, struct hk_customer_profile *p)
{
    if (!app->engine)
        return;
    const struct hk_engine *e = hk_engine_svc_read(app->engine);
    struct hk_engine_aggregates a;
    struct hk_err ignore;
    hk_err_clear(&ignore);
    int64_t now = hk_engine_svc_now(app->engine);
    if (hk_engine_customer_get(e, id, now, &a, &ignore) == 0 && a.live) {
        p->has_engine = true;
        p->has_recency = a.has_recency;
        p->recency_days = a.recency_days;
        p->first_order_days = a.first_order_days;
        p->r_score = a.r_score;
        p->f_score = a.f_score;
        p->m_score = a.m_score;
        hk_strlcpy(p->rfm_segment, a.rfm_segment ? a.rfm_segment : "", sizeof p->rfm_segment);
        hk_strlcpy(p->rfm_tier, a.rfm_tier ? a.rfm_tier : "", sizeof p->rfm_tier);
        /* every shop's entry: a chain's buyer may have bought in many of its stores */
        size_t ns = hk_engine_customer_shops(e, id, now, NULL, 0);
        struct hk_engine_shop_rfm *sr = ns ? calloc(ns, sizeof *sr) : NULL;
        p->shops = ns ? calloc(ns, sizeof *p->shops) : NULL;
        if (!sr || !p->shops) { /* out of memory: the card shows no shops */
            free(p->shops);
            p->shops = NULL;
            ns = 0;
        } else {
            ns = hk_engine_customer_shops(e, id, now, sr, ns);
        }
        p->n_shops = ns;
        for (size_t i = 0; i < p->n_shops; i++) {
            struct hk_customer_shop_rfm *o = &p->shops[i];
            memset(o, 0, sizeof(*o));
            o->shop_id = sr[i].shop_id;
            for (size_t k = 0; k < hk_engine_shop_count(e); k++) {
                struct hk_engine_shop sh;
                hk_engine_shop_at(e, k, &sh);
                if (sh.id == sr[i].shop_id) {
                    hk_strlcpy(o->channel, sh.channel ? sh.channel : "", sizeof o->channel);
                    hk_strlcpy(o->name, sh.name ? sh.name : "", sizeof o->name);
                    break;
                }
            }
            o->recency_days = sr[i].recency_days;
            o->frequency = sr[i].frequency;
            o->monetary_fen = sr[i].monetary_fen;
            o->r_score = sr[i].r_score;
            o->f_score = sr[i].f_score;
            o->m_score = sr[i].m_score;
            hk_strlcpy(o->rfm_segment, sr[i].rfm_segment ? sr[i].rfm_segment : "",
                       sizeof o->rfm_segment);
            hk_strlcpy(o->rfm_tier, sr[i].rfm_tier ? sr[i].rfm_tier : "", sizeof o->rfm_tier);
        }
        free(sr);
        size_t len = 0;
        for (uint32_t i = 0; i < 32 && len + 1 < sizeof p->channels; i++) {
            if (!(a.channels & (1u << i)))
                continue;
            const char *name = hk_engine_dict_name(e, HK_DICT_CHANNEL, i);
            if (!name)
                continue;
            int w =
                snprintf(p->channels + len, sizeof p->channels - len, "%s%s", len ? "," : "", name);
            if (w < 0 || (size_t)w >= sizeof p->channels - len) {
                p->channels[len] = '\0'; /* drop a name that does not fit whole */
                break;
            }
            len += (size_t)w;
        }
    }
    hk_engine_svc_read_end(app->engine);
}

int hk_customers_get(struct hk_app *app, const struct hk_principal *who, int64_t id,
                     int timeline_limit, struct hk_customer_profile *out, struct hk_err *err)
{
    bool clear = may_read_pii(who);
    struct hk_customer_profile *p = calloc(1, sizeof *p);
    if (!p)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    struct hk_cust_row row;
    memset(&row, 0, sizeof row);
    struct hk_cust_identity_row *ids = NULL;
    struct hk_cust_tag_row *tags = NULL;
    size_t nids = 0, ntags = 0;
    struct hk_cust_aggregates agg;
    struct hk_db *db = NULL;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc != 0)
        goto fail;
    if ((rc = hk_db_begin(db, HK_TX_READ, err)) != 0)
        goto fail;
    if ((rc = resolve(db, id, &row, &p->merged_from, err)) != 0)
        goto fail;
    if ((rc = hk_cust_merged_ids(db, row.id, HK_CUSTOMER_MERGED_MAX, p->merged_ids, &p->n_merged,
                                 err)) != 0 ||
        (rc = hk_cust_identities(db, row.id, &ids, &nids, err)) != 0 ||
        (rc = hk_cust_tags(db, row.id, &tags, &ntags, err)) != 0 ||
        (rc = hk_cust_aggregates_get(db, row.id, &agg, err)) != 0)
        goto fail;
    struct hk_cust_tl_cursor first = hk_cust_tl_cursor_first();
    if ((rc = read_timeline(app, db, row.id, &first,
                            page_limit(timeline_limit, TIMELINE_LIMIT_DEFAULT), &p->timeline,
                            err)) != 0)
        goto fail;
    hk_db_rollback(db); /* read only */
    hk_db_release(db);
    db = NULL;

    if ((rc = fill_person(app, clear, &row, p, err)) != 0 ||
        (rc = fill_identities(clear, &row, ids, nids, p, err)) != 0)
        goto fail;
    if (ntags) {
        p->tags = calloc(ntags, sizeof *p->tags);
        if (!p->tags) {
            rc = hk_err_set(err, HK_E(NOMEM), "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < ntags; i++) {
            struct hk_customer_tag *t = &p->tags[i];
            t->id = tags[i].id;
            hk_strlcpy(t->name, tags[i].name, sizeof t->name);
            hk_strlcpy(t->kind, tags[i].kind, sizeof t->kind);
            hk_strlcpy(t->source, tags[i].source, sizeof t->source);
            hk_strlcpy(t->color, tags[i].color, sizeof t->color);
            t->created_at = tags[i].created_at;
        }
        p->n_tags = ntags;
    }
    if ((rc = hk_tags_add_rule_tags(app, row.id, &p->tags, &p->n_tags, err)) != 0)
        goto fail; /* rule tags live in the engine only */
    engine_view(app, row.id, p);

    p->order_count = agg.order_count;
    p->first_purchase_at = agg.first_purchase_at;
    p->last_purchase_at = agg.last_purchase_at;
    if (agg.order_count > 0) {
        local_date(app->tz, agg.first_purchase_at, p->first_purchase_date,
                   sizeof p->first_purchase_date);
        local_date(app->tz, agg.last_purchase_at, p->last_purchase_date,
                   sizeof p->last_purchase_date);
        p->aov_fen = div_round(agg.net_spend_fen, agg.order_count);
        p->coupon_use_rate =
            (double)div_round(agg.coupon_orders * 10000, agg.order_count) / 10000.0;
    }
    p->net_spend_fen = agg.net_spend_fen;
    hk_strlcpy(p->main_category, agg.main_category, sizeof p->main_category);
    p->coupon_orders = agg.coupon_orders;
    p->refund_count = agg.refund_count;

    hk_cust_row_release(&row);
    free(ids);
    free(tags);
    *out = *p;
    free(p);
    return 0;

fail:
    if (db) {
        hk_db_rollback(db);
        hk_db_release(db);
    }
    hk_cust_row_release(&row);
    free(ids);
    free(tags);
    hk_customer_profile_release(p);
    free(p);
    return rc;
}

/* ---- search --------------------------------------------------------------------------- */

void hk_customer_list_release(struct hk_customer_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; l->items && i < l->n; i++)
        hk_tags_names_free(l->items[i].tags, l->items[i].n_tags);
    free(l->items);
    memset(l, 0, sizeof *l);
}

struct name_map {
    const char *name;
    int value;
};

static const struct name_map match_map[] = {
    {"any", HK_CUST_MATCH_ANY},     {"nick", HK_CUST_MATCH_NICK},   {"name", HK_CUST_MATCH_NAME},
    {"phone", HK_CUST_MATCH_PHONE}, {"order", HK_CUST_MATCH_ORDER}, {NULL, 0}};
static const struct name_map sort_map[] = {{"id", HK_CUST_SORT_ID},
                                           {"created_at", HK_CUST_SORT_CREATED},
                                           {"last_order", HK_CUST_SORT_LAST_ORDER},
                                           {"spend", HK_CUST_SORT_SPEND},
                                           {NULL, 0}};
static const struct name_map order_map[] = {{"desc", 1}, {"asc", 0}, {NULL, 0}};

/* Looks s up in map (NULL or "": the first entry); HK_E(INVAL) naming field otherwise. */
static int map_lookup(const struct name_map *map, const char *field, const char *s, int *value,
                      const char **name, struct hk_err *err)
{
    if (!s || !*s) {
        *value = map[0].value;
        *name = map[0].name;
        return 0;
    }
    for (const struct name_map *m = map; m->name; m++) {
        if (strcmp(m->name, s) == 0) {
            *value = m->value;
            *name = m->name;
            return 0;
        }
    }
    char list[128] = "";
    size_t len = 0;
    for (const struct name_map *m = map; m->name; m++) {
        int k = snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", m->name);
        if (k < 0 || (size_t)k >= sizeof list - len)
            break;
        len += (size_t)k;
    }
    return hk_err_setf(err, HK_E(INVAL), field, "%s: '%s' is not one of %s", field, s, list);
}

/* q without surrounding ASCII white space, into buf. */
static int trim_query(const char *q, char *buf, size_t size, struct hk_err *err)
{
    if (!q)
        q = "";
    while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')
        q++;
    size_t len = strlen(q);
    while (len > 0 &&
           (q[len - 1] == ' ' || q[len - 1] == '\t' || q[len - 1] == '\r' || q[len - 1] == '\n'))
        len--;
    if (len >= size)
        return hk_err_setf(err, HK_E(INVAL), "q", "q: at most %zu bytes", size - 1);
    memcpy(buf, q, len);
    buf[len] = '\0';
    return 0;
}

/* Each summary's tag names (services/tags.h); on failure none is left set. */
static int summary_tags(struct hk_app *app, struct hk_customer_summary *items, size_t n,
                        struct hk_err *err)
{
    int64_t *ids = malloc((n ? n : 1) * sizeof *ids);
    char ***lists = calloc(n ? n : 1, sizeof *lists);
    size_t *counts = calloc(n ? n : 1, sizeof *counts);
    int rc = ids && lists && counts ? 0 : hk_err_set(err, HK_E(NOMEM), "out of memory");
    for (size_t i = 0; !rc && i < n; i++)
        ids[i] = items[i].id;
    if (!rc)
        rc = hk_tags_names_of(app, ids, n, lists, counts, err);
    for (size_t i = 0; !rc && i < n; i++) {
        items[i].tags = lists[i];
        items[i].n_tags = counts[i];
    }
    free(ids);
    free(lists);
    free(counts);
    return rc;
}

int hk_customers_search(struct hk_app *app, const struct hk_principal *who,
                        const struct hk_customer_search *in, struct hk_customer_list *out,
                        struct hk_err *err)
{
    bool clear = may_read_pii(who);
    struct hk_cust_query q;
    memset(&q, 0, sizeof q);
    struct hk_customer_list list;
    memset(&list, 0, sizeof list);
    int match = 0, sort = 0, desc = 1;
    char text[SEARCH_TEXT_MAX + 1] = "";
    int rc;
    if ((rc = map_lookup(match_map, "by", in->by, &match, &list.by, err)) != 0 ||
        (rc = map_lookup(sort_map, "sort", in->sort, &sort, &list.sort, err)) != 0 ||
        (rc = map_lookup(order_map, "order", in->order, &desc, &list.order, err)) != 0 ||
        (rc = trim_query(in->q, text, sizeof text, err)) != 0)
        return rc;
    q.sort = (enum hk_cust_sort)sort;
    q.descending = desc != 0;
    q.match = text[0] ? (enum hk_cust_match)match : HK_CUST_MATCH_ALL;

    /* The look-up forms of q: the keyed hashes of the name and of the normalised phone. */
    char name_hash[HK_PII_HASH_HEX + 1], phone_hash[HK_PII_HASH_HEX + 1], phone[HK_PHONE_MAX];
    if (q.match != HK_CUST_MATCH_ALL) {
        hk_pii_hash(&app->keys, text, strlen(text), name_hash);
        hk_phone_normalize(text, strlen(text), phone, sizeof phone);
        hk_pii_hash(&app->keys, phone, strlen(phone), phone_hash);
        q.nick_prefix = text;
        q.name_hash = name_hash;
        q.phone_hash = phone_hash;
        q.order_no = text;
    }

    if (in->cursor && *in->cursor) {
        /* "<sort>.<order>.<key>.<id>" */
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%s.%s.", list.sort, list.order);
        size_t plen = strlen(prefix);
        int64_t f[2];
        if (strncmp(in->cursor, prefix, plen) != 0 || parse_int_fields(in->cursor + plen, f, 2))
            return bad_cursor(err);
        q.has_after = true;
        q.after_key = f[0];
        q.after_id = f[1];
    }

    int limit = page_limit(in->limit, SEARCH_LIMIT_DEFAULT);
    size_t cap = (size_t)limit + 1, n = 0;
    struct hk_cust_list_row *rows = calloc(cap, sizeof *rows);
    if (!rows)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    /* filtered by a segment expression: the engine's answer, then the same search kept to it */
    struct hk_id_set only = {0};
    bool more = false;
    int64_t more_key = 0, more_id = 0;
    if (in->expr && *in->expr &&
        (rc = hk_customer_filter_eval(app, in->expr, &only, in->expr_error, err)) != 0)
        goto done;
    struct hk_db *db = NULL;
    if ((rc = hk_db_acquire(app->store, &db, err)) != 0)
        goto done;
    if (in->expr && *in->expr)
        rc = hk_customer_filter_search(db, &only, &q, cap, rows, &n, &more, &more_key, &more_id,
                                       err);
    else
        rc = hk_cust_search(db, &q, cap, rows, &n, err);
    hk_db_release(db);
    if (rc != 0)
        goto done;
    if (n > (size_t)limit) {
        n = (size_t)limit;
        snprintf(list.next_cursor, sizeof list.next_cursor, "%s.%s.%" PRId64 ".%" PRId64, list.sort,
                 list.order, rows[n - 1].sort_key, rows[n - 1].id);
    } else if (more) {
        snprintf(list.next_cursor, sizeof list.next_cursor, "%s.%s.%" PRId64 ".%" PRId64, list.sort,
                 list.order, more_key, more_id);
    }
    if (n && !(list.items = calloc(n, sizeof *list.items))) {
        rc = hk_err_set(err, HK_E(NOMEM), "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const struct hk_cust_list_row *r = &rows[i];
        struct hk_customer_summary *s = &list.items[i];
        s->id = r->id;
        hk_strlcpy(s->nick, r->nick, sizeof s->nick);
        name_for(app, clear, r->id, r->name_enc, r->name_enc_len, s->name, sizeof s->name);
        phone_for(app, clear, r->id, r->phone_enc, r->phone_enc_len, r->phone_masked, s->phone,
                  sizeof s->phone);
        hk_strlcpy(s->province, r->province, sizeof s->province);
        hk_strlcpy(s->city, r->city, sizeof s->city);
        hk_strlcpy(s->gender, r->gender, sizeof s->gender);
        s->created_at = r->created_at;
        s->order_count = r->order_count;
        s->net_spend_fen = r->net_spend_fen;
        s->last_purchase_at = r->last_purchase_at;
        if (r->last_purchase_at)
            local_date(app->tz, r->last_purchase_at, s->last_purchase_date,
                       sizeof s->last_purchase_date);
    }
    if ((rc = summary_tags(app, list.items, n, err)) != 0)
        goto done;
    list.n = n;
    list.pii_masked = !clear;
    list.filtered = in->expr && *in->expr;
    list.expr_count = only.n;
    *out = list;
    list.items = NULL;
done:
    hk_id_set_release(&only);
    free(list.items);
    free(rows);
    return rc;
}

/* ---- contact details for lists and exports ------------------------------------------------- */

int hk_customers_contacts(struct hk_app *app, bool clear, struct hk_customer_contact *items,
                          size_t n, struct hk_err *err)
{
    if (n == 0)
        return 0;
    struct hk_db *db;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc)
        return rc;
    struct hk_cust_row *row = malloc(sizeof(*row));
    if (!row) {
        hk_db_release(db);
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct hk_customer_contact *c = &items[i];
        c->found = false;
        c->nick[0] = c->phone[0] = c->province[0] = c->city[0] = '\0';
        int r = hk_cust_get(db, c->id, row, err);
        if (r == HK_E(NOTFOUND))
            continue;
        if (r) {
            rc = r;
            break;
        }
        c->found = true;
        copy_utf8(c->nick, sizeof c->nick, row->nick);
        copy_utf8(c->province, sizeof c->province, row->province);
        copy_utf8(c->city, sizeof c->city, row->city);
        phone_for(app, clear, row->id, row->phone_enc, row->phone_enc_len, row->phone_masked,
                  c->phone, sizeof c->phone);
        hk_cust_row_release(row);
    }
    sodium_memzero(row, sizeof *row);
    free(row);
    hk_db_release(db);
    return rc;
}
