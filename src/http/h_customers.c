/*
 * h_customers.c — customer search, the 360 profile and its timeline (every staff role; the
 * router checks authentication and the role, services/customers.c masks PII by role).
 *
 *   GET /api/v1/customers?q=&by=&sort=&order=&cursor=&limit=&expr=
 *       (expr: a segment expression the customers must also match, services/customer_filter.h;
 *       a bad one is a 400 invalid_expression with line and column, as a segment preview)
 *       -> {items: [summary], next_cursor, sort, order, by, pii_masked[, expr_count]}
 *   GET /api/v1/customers/{id}?timeline_limit=
 *       -> profile (with the first timeline page under "timeline")
 *   GET /api/v1/customers/{id}/timeline?cursor=&limit=
 *       -> {customer_id, merged_from, items: [entry], next_cursor}
 *
 * Shapes (docs/openapi.yaml has them in full)
 *   Times are ISO 8601 UTC strings or null; where a calendar day matters there is also a
 *   shop-local "YYYY-MM-DD" beside it (*_date, local_date). Money is integer fen (*_fen) with a
 *   yuan string with 2 decimals beside the amounts people read (net_spend: "158.00").
 *   Unknown text is null, not "". A merged-away id answers with the survivor (200, "id" is the
 *   survivor, "merged_from" the id asked for) — the UI can show "merged into #id" without a
 *   second round trip, and links to old ids keep working.
 *
 * json_t stays in this file; the service hands over C structs.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/money.h"
#include "core/util.h"
#include "http/accounts_json.h"
#include "http/expr_json.h"
#include "http/handlers.h"
#include "services/customers.h"
#include "services/segment_svc.h"

/* ---- JSON helpers ------------------------------------------------------------------------ */

/* A string, or null for "" / NULL or text that is not valid UTF-8 (new reference). */
static json_t *opt_str(const char *s)
{
    json_t *j = s && *s ? json_string(s) : NULL;
    return j ? j : json_null();
}

/* A string that is always present ("" allowed; null only if not valid UTF-8). */
static json_t *str(const char *s)
{
    json_t *j = json_string(s ? s : "");
    return j ? j : json_null();
}

static json_t *yuan(int64_t fen)
{
    char buf[32];
    hk_money_format(fen, buf, sizeof buf);
    return json_string(buf);
}

static json_t *int_or_null(int64_t v)
{
    return v ? json_integer((json_int_t)v) : json_null();
}

/* Sets key to v (taken) in o; accumulates failure in *bad. */
static void set(json_t *o, const char *key, json_t *v, int *bad)
{
    if (!v || json_object_set_new(o, key, v) != 0)
        *bad = 1;
}

static json_t *shop_json(int64_t id, const char *name, const char *channel)
{
    if (!id)
        return json_null();
    json_t *o = json_object();
    int bad = !o;
    if (o) {
        set(o, "id", json_integer((json_int_t)id), &bad);
        set(o, "name", str(name), &bad);
        set(o, "channel", str(channel), &bad);
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *item_json(const struct hk_customer_item *it)
{
    json_t *o = json_object();
    int bad = !o;
    if (!o)
        return NULL;
    set(o, "line_no", json_integer(it->line_no), &bad);
    set(o, "product_id", opt_str(it->product_id), &bad);
    set(o, "title", str(it->title), &bad);
    set(o, "sku", opt_str(it->sku), &bad);
    set(o, "variant", opt_str(it->variant), &bad);
    set(o, "category", opt_str(it->category), &bad);
    set(o, "quantity", json_integer((json_int_t)it->quantity), &bad);
    set(o, "unit_price_fen", json_integer((json_int_t)it->unit_price_fen), &bad);
    set(o, "paid_fen", json_integer((json_int_t)it->paid_fen), &bad);
    set(o, "refund_fen", json_integer((json_int_t)it->refund_fen), &bad);
    set(o, "placeholder", json_boolean(it->placeholder), &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *order_json(const struct hk_timeline_entry *e)
{
    json_t *o = json_object(), *items = json_array();
    int bad = !o || !items;
    if (bad) {
        json_decref(o);
        json_decref(items);
        return NULL;
    }
    set(o, "order_no", str(e->order_no), &bad);
    set(o, "status", str(e->status), &bad);
    set(o, "counted", json_boolean(e->counted), &bad);
    set(o, "total_fen", json_integer((json_int_t)e->total_fen), &bad);
    set(o, "discount_fen", json_integer((json_int_t)e->discount_fen), &bad);
    set(o, "postage_fen", json_integer((json_int_t)e->postage_fen), &bad);
    set(o, "paid_fen", json_integer((json_int_t)e->paid_fen), &bad);
    set(o, "paid", yuan(e->paid_fen), &bad);
    set(o, "refund_fen", json_integer((json_int_t)e->refund_fen), &bad);
    set(o, "refund", yuan(e->refund_fen), &bad);
    set(o, "coupon_code", opt_str(e->coupon_code), &bad);
    set(o, "paid_at", hk_http_acct_time(e->paid_at), &bad);
    set(o, "shipped_at", hk_http_acct_time(e->shipped_at), &bad);
    set(o, "received_at", hk_http_acct_time(e->received_at), &bad);
    set(o, "refunded_at", hk_http_acct_time(e->refunded_at), &bad);
    set(o, "cancelled_at", hk_http_acct_time(e->cancelled_at), &bad);
    for (size_t i = 0; i < e->nitems && !bad; i++) {
        json_t *it = item_json(&e->items[i]);
        if (!it || json_array_append_new(items, it) != 0)
            bad = 1;
    }
    set(o, "items", items, &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *event_json(const struct hk_timeline_entry *e)
{
    json_t *o = json_object();
    int bad = !o;
    if (!o)
        return NULL;
    set(o, "type", str(e->event_type), &bad);
    /* stored as JSON text by ingest; anything else (never expected) shows as an empty object */
    json_t *props = e->properties ? json_loads(e->properties, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (props && !json_is_object(props)) {
        json_decref(props);
        props = NULL;
    }
    set(o, "properties", props ? props : json_object(), &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *entry_json(const struct hk_timeline_entry *e)
{
    json_t *o = json_object();
    int bad = !o;
    if (!o)
        return NULL;
    bool is_order = e->kind == HK_TIMELINE_ORDER;
    set(o, "type", json_string(is_order ? "order" : "event"), &bad);
    set(o, "id", json_integer((json_int_t)e->id), &bad);
    set(o, "at", hk_http_acct_time(e->at), &bad);
    set(o, "local_date", str(e->local_date), &bad);
    set(o, "local_time", str(e->local_time), &bad);
    set(o, "shop", shop_json(e->shop_id, e->shop_name, e->shop_channel), &bad);
    set(o, is_order ? "order" : "event", is_order ? order_json(e) : event_json(e), &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* {items: [...], next_cursor} of a timeline page (new; NULL on OOM). */
static json_t *page_json(const struct hk_timeline_page *p)
{
    json_t *o = json_object(), *items = json_array();
    int bad = !o || !items;
    if (bad) {
        json_decref(o);
        json_decref(items);
        return NULL;
    }
    for (size_t i = 0; i < p->n && !bad; i++) {
        json_t *e = entry_json(&p->entries[i]);
        if (!e || json_array_append_new(items, e) != 0)
            bad = 1;
    }
    set(o, "items", items, &bad);
    set(o, "next_cursor", opt_str(p->next_cursor), &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* {"taobao": [{kind, value, created_at}], "any": [...]}: identities grouped by channel. */
static json_t *identities_json(const struct hk_customer_profile *p)
{
    json_t *o = json_object();
    int bad = !o;
    for (size_t i = 0; o && i < p->n_identities && !bad; i++) {
        const struct hk_customer_identity *id = &p->identities[i];
        json_t *list = json_object_get(o, id->channel);
        if (!list) {
            list = json_array();
            set(o, id->channel, list, &bad);
            if (bad)
                break;
        }
        json_t *e = json_object();
        if (!e) {
            bad = 1;
            break;
        }
        set(e, "kind", str(id->kind), &bad);
        set(e, "value", opt_str(id->value), &bad);
        set(e, "created_at", hk_http_acct_time(id->created_at), &bad);
        if (json_array_append_new(list, e) != 0)
            bad = 1;
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *tags_json(const struct hk_customer_profile *p)
{
    json_t *a = json_array();
    int bad = !a;
    for (size_t i = 0; a && i < p->n_tags && !bad; i++) {
        const struct hk_customer_tag *t = &p->tags[i];
        json_t *o = json_object();
        if (!o) {
            bad = 1;
            break;
        }
        set(o, "id", json_integer((json_int_t)t->id), &bad);
        set(o, "name", str(t->name), &bad);
        set(o, "kind", str(t->kind), &bad);
        set(o, "source", str(t->source), &bad);
        set(o, "color", opt_str(t->color), &bad);
        set(o, "tagged_at", hk_http_acct_time(t->created_at), &bad);
        if (json_array_append_new(a, o) != 0)
            bad = 1;
    }
    if (bad) {
        json_decref(a);
        return NULL;
    }
    return a;
}

static json_t *region_json(const char *province, const char *city)
{
    return json_pack("{s:o, s:o}", "province", opt_str(province), "city", opt_str(city));
}

/* {"segment", "tier", "r", "f", "m", "channels", "shops"}; null when the engine does not know
 * the customer; segment and tier null for a non-buyer. The plain fields are all shops (shop 0);
 * "shops" has one entry per shop the customer bought in, scored among that shop's buyers. */
static json_t *rfm_json(const struct hk_customer_profile *p)
{
    if (!p->has_engine)
        return json_null();
    json_t *channels = json_array();
    char buf[sizeof p->channels];
    hk_strlcpy(buf, p->channels, sizeof buf);
    for (char *save = NULL, *c = strtok_r(buf, ",", &save); c && channels;
         c = strtok_r(NULL, ",", &save))
        if (json_array_append_new(channels, json_string(c)) != 0) {
            json_decref(channels);
            channels = NULL;
        }
    json_t *shops = json_array();
    for (size_t i = 0; shops && i < p->n_shops; i++) {
        const struct hk_customer_shop_rfm *sh = &p->shops[i];
        char spend[32];
        int64_t a = sh->monetary_fen < 0 ? -sh->monetary_fen : sh->monetary_fen;
        snprintf(spend, sizeof spend, "%s%lld.%02lld", sh->monetary_fen < 0 ? "-" : "",
                 (long long)(a / 100), (long long)(a % 100));
        json_t *o =
            json_pack("{s:I, s:s, s:s, s:o, s:o, s:i, s:i, s:i, s:i, s:I, s:s}", "shop_id",
                      (json_int_t)sh->shop_id, "channel", sh->channel, "name", sh->name, "segment",
                      opt_str(sh->rfm_segment), "tier", opt_str(sh->rfm_tier), "r", sh->r_score,
                      "f", sh->f_score, "m", sh->m_score, "recency_days", sh->recency_days,
                      "frequency", (json_int_t)sh->frequency, "monetary", spend);
        if (!o || json_array_append_new(shops, o) != 0) {
            json_decref(shops);
            shops = NULL;
        }
    }
    return json_pack("{s:o, s:o, s:i, s:i, s:i, s:o*, s:o*}", "segment", opt_str(p->rfm_segment),
                     "tier", opt_str(p->rfm_tier), "r", p->r_score, "f", p->f_score, "m",
                     p->m_score, "channels", channels, "shops", shops);
}

static json_t *profile_json(const struct hk_customer_profile *p)
{
    json_t *o = json_object(), *merged = json_array();
    int bad = !o || !merged;
    if (bad) {
        json_decref(o);
        json_decref(merged);
        return NULL;
    }
    for (size_t i = 0; i < p->n_merged; i++)
        if (json_array_append_new(merged, json_integer((json_int_t)p->merged_ids[i])) != 0)
            bad = 1;
    set(o, "id", json_integer((json_int_t)p->id), &bad);
    set(o, "merged_from", int_or_null(p->merged_from), &bad);
    set(o, "merged_ids", merged, &bad);
    set(o, "pii_masked", json_boolean(p->pii_masked), &bad);
    set(o, "nick", str(p->nick), &bad);
    set(o, "name", opt_str(p->name), &bad);
    set(o, "phone", opt_str(p->phone), &bad);
    set(o, "email", opt_str(p->email), &bad);
    set(o, "address", opt_str(p->address), &bad);
    set(o, "region", region_json(p->province, p->city), &bad);
    set(o, "birthday", opt_str(p->birthday), &bad);
    set(o, "gender", opt_str(p->gender), &bad);
    set(o, "created_at", hk_http_acct_time(p->created_at), &bad);
    set(o, "updated_at", hk_http_acct_time(p->updated_at), &bad);
    set(o, "identities", identities_json(p), &bad);
    set(o, "first_purchase_at", hk_http_acct_time(p->first_purchase_at), &bad);
    set(o, "first_purchase_date", opt_str(p->first_purchase_date), &bad);
    set(o, "last_purchase_at", hk_http_acct_time(p->last_purchase_at), &bad);
    set(o, "last_purchase_date", opt_str(p->last_purchase_date), &bad);
    set(o, "order_count", json_integer((json_int_t)p->order_count), &bad);
    set(o, "net_spend_fen", json_integer((json_int_t)p->net_spend_fen), &bad);
    set(o, "net_spend", yuan(p->net_spend_fen), &bad);
    set(o, "aov_fen", json_integer((json_int_t)p->aov_fen), &bad);
    set(o, "aov", yuan(p->aov_fen), &bad);
    set(o, "main_category", opt_str(p->main_category), &bad);
    set(o, "coupon_orders", json_integer((json_int_t)p->coupon_orders), &bad);
    set(o, "coupon_use_rate", json_real(p->coupon_use_rate), &bad);
    set(o, "refund_count", json_integer((json_int_t)p->refund_count), &bad);
    set(o, "tags", tags_json(p), &bad);
    set(o, "rfm", rfm_json(p), &bad);
    set(o, "recency_days", p->has_recency ? json_integer(p->recency_days) : json_null(), &bad);
    set(o, "first_order_days", p->has_recency ? json_integer(p->first_order_days) : json_null(),
        &bad);
    set(o, "timeline", page_json(&p->timeline), &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *summary_json(const struct hk_customer_summary *s)
{
    json_t *o = json_object();
    int bad = !o;
    if (!o)
        return NULL;
    set(o, "id", json_integer((json_int_t)s->id), &bad);
    set(o, "nick", str(s->nick), &bad);
    set(o, "name", opt_str(s->name), &bad);
    set(o, "phone", opt_str(s->phone), &bad);
    set(o, "region", region_json(s->province, s->city), &bad);
    set(o, "gender", opt_str(s->gender), &bad);
    set(o, "created_at", hk_http_acct_time(s->created_at), &bad);
    set(o, "order_count", json_integer((json_int_t)s->order_count), &bad);
    set(o, "net_spend_fen", json_integer((json_int_t)s->net_spend_fen), &bad);
    set(o, "net_spend", yuan(s->net_spend_fen), &bad);
    set(o, "last_purchase_at", hk_http_acct_time(s->last_purchase_at), &bad);
    set(o, "last_purchase_date", opt_str(s->last_purchase_date), &bad);
    json_t *tags = json_array();
    for (size_t i = 0; tags && i < s->n_tags; i++)
        if (json_array_append_new(tags, json_string(s->tags[i])) != 0)
            bad = 1;
    set(o, "tags", tags, &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ?name= as a page size: absent -> 0 (the service's default); HK_E(INVAL) when not 1-500. */
static int query_limit(struct hk_req *req, const char *name, int *out, struct hk_err *err)
{
    const char *l = hk_req_query(req, name);
    int64_t v = 0;
    if (l && *l && (hk_parse_int64(l, strlen(l), &v) != 0 || v < 1 || v > HK_CUSTOMER_PAGE_MAX))
        return hk_err_setf(err, HK_E(INVAL), name, "%s: a number from 1 to %d", name,
                           HK_CUSTOMER_PAGE_MAX);
    *out = (int)v;
    return 0;
}

static int nomem(struct hk_err *err)
{
    return hk_err_set(err, HK_E(NOMEM), "out of memory");
}

/* ---- handlers ---------------------------------------------------------------------------- */

int h_customers_list(struct hk_req *req, struct hk_err *err)
{
    struct hk_customer_search in = {
        .q = hk_req_query(req, "q"),
        .by = hk_req_query(req, "by"),
        .sort = hk_req_query(req, "sort"),
        .order = hk_req_query(req, "order"),
        .cursor = hk_req_query(req, "cursor"),
        .expr = hk_req_query(req, "expr"),
    };
    struct hk_segment_error where;
    memset(&where, 0, sizeof where);
    in.expr_error = &where;
    int rc = query_limit(req, "limit", &in.limit, err);
    if (rc != 0)
        return rc;
    struct hk_customer_list list;
    if ((rc = hk_customers_search(hk_req_app(req), hk_req_principal(req), &in, &list, err)) != 0) {
        if (rc == HK_E(INVAL) && where.line) /* a bad ?expr=: where it failed, as a preview */
            return hk_http_expr_error(req, &where, false, err);
        return rc;
    }
    json_t *reply = json_object(), *items = json_array();
    int bad = !reply || !items;
    for (size_t i = 0; !bad && i < list.n; i++) {
        json_t *s = summary_json(&list.items[i]);
        if (!s || json_array_append_new(items, s) != 0)
            bad = 1;
    }
    if (reply) {
        set(reply, "items", items, &bad);
        items = NULL;
        set(reply, "next_cursor", opt_str(list.next_cursor), &bad);
        set(reply, "sort", json_string(list.sort), &bad);
        set(reply, "order", json_string(list.order), &bad);
        set(reply, "by", json_string(list.by), &bad);
        set(reply, "pii_masked", json_boolean(list.pii_masked), &bad);
        if (list.filtered)
            set(reply, "expr_count", json_integer((json_int_t)list.expr_count), &bad);
    }
    json_decref(items);
    hk_customer_list_release(&list);
    if (bad) {
        json_decref(reply);
        return nomem(err);
    }
    return hk_reply_json(req, 200, reply);
}

int h_customers_get(struct hk_req *req, struct hk_err *err)
{
    int64_t id;
    int tl_limit = 0;
    int rc = hk_req_param_id(req, "id", &id, err);
    if (rc != 0 || (rc = query_limit(req, "timeline_limit", &tl_limit, err)) != 0)
        return rc;
    struct hk_customer_profile p;
    if ((rc = hk_customers_get(hk_req_app(req), hk_req_principal(req), id, tl_limit, &p, err)) != 0)
        return rc;
    json_t *reply = profile_json(&p);
    hk_customer_profile_release(&p);
    if (!reply)
        return nomem(err);
    return hk_reply_json(req, 200, reply);
}

int h_customers_timeline(struct hk_req *req, struct hk_err *err)
{
    int64_t id, resolved = 0;
    int limit = 0;
    int rc = hk_req_param_id(req, "id", &id, err);
    if (rc != 0 || (rc = query_limit(req, "limit", &limit, err)) != 0)
        return rc;
    struct hk_timeline_page page;
    if ((rc = hk_customers_timeline(hk_req_app(req), hk_req_principal(req), id,
                                    hk_req_query(req, "cursor"), limit, &page, &resolved, err)) !=
        0)
        return rc;
    json_t *reply = page_json(&page);
    hk_timeline_page_release(&page);
    int bad = !reply;
    if (reply) {
        set(reply, "customer_id", json_integer((json_int_t)resolved), &bad);
        set(reply, "merged_from", int_or_null(resolved != id ? id : 0), &bad);
    }
    if (bad) {
        json_decref(reply);
        return nomem(err);
    }
    return hk_reply_json(req, 200, reply);
}
