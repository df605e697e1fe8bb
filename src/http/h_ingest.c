/*
 * h_ingest.c — live ingest for integrations (admin and manager; API tokens act with their
 * owner's role; the router checks authentication and the role).
 *
 *   POST /api/v1/orders     {"orders": [order, ...]}        upsert by (shop, order_no)
 *   POST /api/v1/events     {"events": [event, ...]}        idempotent by (type, external_id)
 *   POST /api/v1/customers  {"customers": [customer, ...]}  upsert by identity
 *
 * Every reply is 200 {"results": [...], "created", "updated", "unchanged", "rejected"}, one
 * result per item in request order: {"index", "outcome": "created|updated|unchanged", ...} or
 * {"index", "error": {"code", "message", "field"}}, field being the full JSON path of the field
 * at fault ("orders[0].items[1].quantity"). One bad item never rejects the good ones;
 * only a malformed body (not JSON, no array, more than HK_INGEST_MAX items: 413) or a failed
 * transaction fails the whole request. An order whose buyer has no identity (no usable buyer_id,
 * nick, phone, email, union_id or open_id) is refused: nothing could ever find that customer.
 *
 * Money: the primary form is integer fen in *_fen fields ("paid_fen": 1250); a yuan string
 * without the suffix is accepted too ("paid": "12.50"); both given must agree. Times: ISO 8601;
 * without an offset they are local time in the default shop time zone (cfg.timezone).
 *
 * Memory: the records built here borrow strings from the parsed body (owned by the request);
 * arrays are allocated per request and freed before returning. json_t stays in this file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/money.h"
#include "core/tz.h"
#include "http/handlers.h"
#include "ingest/events.h"
#include "ingest/identity.h"
#include "ingest/import.h"
#include "ingest/ingest_api.h"
#include "services/app.h"

#define HK_INGEST_MAX 1000 /* items per request */

/* ---- the batch array ---------------------------------------------------------------------- */

static int batch_array(struct hk_req *req, const char *key, json_t **out, struct hk_err *err)
{
    json_t *body;
    int rc = hk_req_json(req, &body, err);
    if (rc != 0)
        return rc;
    json_t *arr = json_object_get(body, key);
    if (!json_is_array(arr))
        return hk_err_setf(err, HK_E(INVAL), key, "%s: the body must be {\"%s\": [...]}", key, key);
    size_t n = json_array_size(arr);
    if (n == 0)
        return hk_err_setf(err, HK_E(INVAL), key, "%s: the array is empty", key);
    if (n > HK_INGEST_MAX)
        return hk_err_setf(err, HK_E(TOOLARGE), key,
                           "%s: at most %d per request; this one has %zu — split it into "
                           "several requests",
                           key, HK_INGEST_MAX, n);
    *out = arr;
    return 0;
}

/* ---- field readers: each names the field (with its path) in the error -------------------- */

/*
 * The field at fault as its path inside the item ("items[0].quantity"); error_json puts the
 * item's own place in front ("orders[2].items[0].quantity"), so `field` is the full JSON path.
 */
#define FIELD(path, key) field_path((char[64]){0}, (path), (key))
static const char *field_path(char buf[64], const char *path, const char *key)
{
    snprintf(buf, 64, "%s%s", path, key);
    return buf;
}

/* A string field; absent or null leaves *out NULL. */
static int get_str(json_t *obj, const char *path, const char *key, size_t max, const char **out,
                   struct hk_err *err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return hk_err_setf(err, HK_E(INVAL), FIELD(path, key), "%s%s: must be a string", path, key);
    if (json_string_length(v) > max)
        return hk_err_setf(err, HK_E(INVAL), FIELD(path, key), "%s%s: at most %zu bytes", path, key,
                           max);
    if (memchr(json_string_value(v), 0, json_string_length(v)))
        return hk_err_setf(err, HK_E(INVAL), FIELD(path, key), "%s%s: contains a NUL character",
                           path, key);
    *out = json_string_value(v);
    return 0;
}

/*
 * A time field (ISO 8601); absent, null or "" leaves 0. Without an offset the time is the
 * shop's local time: it is read as UTC here and `bit` is set in *local, so that the importer
 * re-reads it in the shop's zone (shops.timezone), which only the store knows.
 */
static int get_time(json_t *obj, const char *path, const char *key, unsigned bit, int64_t *out,
                    unsigned *local, struct hk_err *err)
{
    const char *s;
    int rc = get_str(obj, path, key, 64, &s, err);
    *out = 0;
    if (rc != 0 || !s)
        return rc;
    struct hk_err e;
    bool is_local = false;
    hk_err_clear(&e);
    rc = hk_ingest_time_parse(s, strlen(s), out, &is_local, &e);
    if (rc < 0)
        return hk_err_setf(err, HK_E(INVAL), FIELD(path, key),
                           "%s%s: %s (write ISO 8601, e.g. "
                           "\"2026-03-01T08:00:00+08:00\")",
                           path, key, hk_err_message(&e));
    if (rc == 1)
        *out = 0;
    else if (is_local)
        *local |= bit;
    return 0;
}

/*
 * An amount given as "<key>_fen" (integer fen) or "<key>" (yuan string). *present says whether
 * either was given. Negative amounts are refused.
 */
static int get_money(json_t *obj, const char *path, const char *key, int64_t *out, bool *present,
                     struct hk_err *err)
{
    char fen_key[48];
    snprintf(fen_key, sizeof fen_key, "%s_fen", key);
    json_t *f = json_object_get(obj, fen_key), *y = json_object_get(obj, key);
    bool has_f = f && !json_is_null(f), has_y = y && !json_is_null(y);
    int64_t vf = 0, vy = 0;
    *out = 0;
    if (present)
        *present = has_f || has_y;
    if (has_f) {
        if (!json_is_integer(f) || json_integer_value(f) < 0)
            return hk_err_setf(err, HK_E(INVAL), FIELD(path, fen_key),
                               "%s%s: must be a non-negative integer number of fen", path, fen_key);
        vf = (int64_t)json_integer_value(f);
        if (vf > 900000000000000LL)
            return hk_err_setf(err, HK_E(INVAL), FIELD(path, fen_key), "%s%s: too large", path,
                               fen_key);
    }
    if (has_y) {
        if (!json_is_string(y))
            return hk_err_setf(err, HK_E(INVAL), FIELD(path, key),
                               "%s%s: must be a yuan string such as \"12.50\" (or give %s as "
                               "integer fen)",
                               path, key, fen_key);
        struct hk_err e;
        hk_err_clear(&e);
        const char *s = json_string_value(y);
        if (hk_money_parse(s, strlen(s), HK_MONEY_REQUIRED, &vy, &e) != 0)
            return hk_err_setf(err, HK_E(INVAL), FIELD(path, key), "%s%s: %s", path, key,
                               hk_err_message(&e));
    }
    if (has_f && has_y && vf != vy)
        return hk_err_setf(err, HK_E(INVAL), FIELD(path, key), "%s%s and %s disagree", path, key,
                           fen_key);
    *out = has_f ? vf : vy;
    return 0;
}

/* A boolean field: -1 when absent or null. */
static int get_flag(json_t *obj, const char *path, const char *key, int *out, struct hk_err *err)
{
    json_t *v = json_object_get(obj, key);
    *out = -1;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return hk_err_setf(err, HK_E(INVAL), FIELD(path, key), "%s%s: must be true or false", path,
                           key);
    *out = json_is_true(v) ? 1 : 0;
    return 0;
}

/* Refuses keys not in allowed (a typo should not be silently ignored). */
static int only_keys(json_t *obj, const char *path, const char *const *allowed, struct hk_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok)
            return hk_err_setf(err, HK_E(INVAL), FIELD(path, key), "%s%.64s: unknown field", path,
                               key);
    }
    return 0;
}

/* identities: [{channel, kind, value}] into ids (capacity HK_IDENTITY_KEYS_MAX = 8). */
#define IDS_MAX 8
static int get_identities(json_t *obj, struct hk_identity_in *ids, size_t *n, struct hk_err *err)
{
    static const char *const keys[] = {"channel", "kind", "value", NULL};
    json_t *arr = json_object_get(obj, "identities");
    *n = 0;
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return hk_err_setf(err, HK_E(INVAL), "identities",
                           "identities: must be an array of {channel, kind, value}");
    if (json_array_size(arr) > IDS_MAX)
        return hk_err_setf(err, HK_E(INVAL), "identities", "identities: at most %d", IDS_MAX);
    size_t i;
    json_t *it;
    json_array_foreach(arr, i, it)
    {
        char path[48], at[48];
        snprintf(path, sizeof path, "identities[%zu].", i);
        snprintf(at, sizeof at, "identities[%zu]", i);
        if (!json_is_object(it))
            return hk_err_setf(err, HK_E(INVAL), at,
                               "identities[%zu]: must be an object {channel, kind, value}", i);
        int rc;
        struct hk_identity_in *d = &ids[i];
        if ((rc = only_keys(it, path, keys, err)) != 0 ||
            (rc = get_str(it, path, "channel", 32, &d->channel, err)) != 0 ||
            (rc = get_str(it, path, "kind", 32, &d->kind, err)) != 0 ||
            (rc = get_str(it, path, "value", 255, &d->value, err)) != 0)
            return rc;
        if (!d->kind || !d->value || !*d->value)
            return hk_err_setf(err, HK_E(INVAL), at, "identities[%zu]: kind and value are required",
                               i);
        if (!d->channel)
            d->channel = "";
    }
    *n = json_array_size(arr);
    return 0;
}

/* ---- replies ------------------------------------------------------------------------------ */

static const char *outcome_name(enum hk_apply_outcome o)
{
    switch (o) {
    case HK_APPLY_CREATED:
        return "created";
    case HK_APPLY_UPDATED:
        return "updated";
    case HK_APPLY_UNCHANGED:
        return "unchanged";
    }
    return "";
}

/*
 * An item's error. `field` is the full JSON path of the field at fault: the item's place
 * (arr[index]) and the path inside it; a field equal to arr names the item itself.
 */
static json_t *error_json(const struct hk_err *e, const char *arr, size_t index)
{
    int code = e->code ? e->code : HK_E(INTERNAL);
    json_t *o =
        json_pack("{s:s, s:s}", "code", hk_error_api_name(code), "message", hk_err_message(e));
    if (o && e->field[0]) {
        char field[160];
        if (!strcmp(e->field, arr))
            snprintf(field, sizeof field, "%s[%zu]", arr, index);
        else
            snprintf(field, sizeof field, "%s[%zu].%s", arr, index, e->field);
        json_object_set_new(o, "field", json_string(field));
    }
    return o;
}

struct tally {
    json_int_t created, updated, unchanged, rejected;
};

/*
 * A result: {"index", [order_no,] "outcome", [customer_id, event_id]} or {"index", "error"};
 * arr: the body's array ("orders"), for the error's field.
 */
static json_t *result_json(const char *arr, size_t index, const char *order_no,
                           enum hk_apply_outcome outcome, const struct hk_err *e,
                           int64_t customer_id, const char *id_key, int64_t id, struct tally *t)
{
    json_t *o = json_pack("{s:I}", "index", (json_int_t)index);
    if (!o)
        return NULL;
    if (order_no)
        json_object_set_new(o, "order_no", json_string(order_no));
    if (!outcome) {
        t->rejected++;
        json_object_set_new(o, "error", error_json(e, arr, index));
        return o;
    }
    t->created += outcome == HK_APPLY_CREATED;
    t->updated += outcome == HK_APPLY_UPDATED;
    t->unchanged += outcome == HK_APPLY_UNCHANGED;
    json_object_set_new(o, "outcome", json_string(outcome_name(outcome)));
    if (customer_id > 0)
        json_object_set_new(o, "customer_id", json_integer((json_int_t)customer_id));
    if (id_key && id > 0)
        json_object_set_new(o, id_key, json_integer((json_int_t)id));
    return o;
}

static int reply_results(struct hk_req *req, json_t *results, const struct tally *t,
                         struct hk_err *err)
{
    json_t *reply =
        json_pack("{s:o, s:I, s:I, s:I, s:I}", "results", results, "created", t->created, "updated",
                  t->updated, "unchanged", t->unchanged, "rejected", t->rejected);
    if (!reply)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    return hk_reply_json(req, 200, reply);
}

static struct hk_ingest_ctx ingest_ctx(struct hk_app *app)
{
    struct hk_ingest_ctx ctx = {app->store, &app->keys, app->tz, hk_clock_now(&app->clock)};
    return ctx;
}

/* ---- POST /api/v1/orders ------------------------------------------------------------------ */

struct order_in {
    struct hk_order_rec rec;
    struct hk_item_rec *items; /* new */
    const char *union_id, *open_id;
    struct hk_err error; /* validation error (code != 0: not applied) */
};

static int parse_items(json_t *arr, struct order_in *o, struct hk_err *err)
{
    static const char *const keys[] = {
        "product_id",     "sku",  "title",    "variant", "category",   "quantity", "unit_price",
        "unit_price_fen", "paid", "paid_fen", "refund",  "refund_fen", NULL};
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return hk_err_setf(err, HK_E(INVAL), "items", "items: must be an array");
    if (json_array_size(arr) > 500)
        return hk_err_setf(err, HK_E(INVAL), "items", "items: at most 500 lines per order");
    size_t n = json_array_size(arr);
    if (!n)
        return 0;
    o->items = calloc(n, sizeof(*o->items));
    if (!o->items)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    size_t i;
    json_t *it;
    json_array_foreach(arr, i, it)
    {
        char path[48], at[48];
        snprintf(path, sizeof path, "items[%zu].", i);
        snprintf(at, sizeof at, "items[%zu]", i);
        struct hk_item_rec *d = &o->items[i];
        if (!json_is_object(it))
            return hk_err_setf(err, HK_E(INVAL), at, "items[%zu]: must be an object", i);
        int rc;
        if ((rc = only_keys(it, path, keys, err)) != 0 ||
            (rc = get_str(it, path, "product_id", 128, &d->product_id, err)) != 0 ||
            (rc = get_str(it, path, "sku", 128, &d->sku, err)) != 0 ||
            (rc = get_str(it, path, "title", 512, &d->title, err)) != 0 ||
            (rc = get_str(it, path, "variant", 512, &d->variant, err)) != 0 ||
            (rc = get_str(it, path, "category", 128, &d->category, err)) != 0 ||
            (rc = get_money(it, path, "unit_price", &d->unit_price_fen, NULL, err)) != 0 ||
            (rc = get_money(it, path, "paid", &d->paid_fen, NULL, err)) != 0 ||
            (rc = get_money(it, path, "refund", &d->refund_fen, NULL, err)) != 0)
            return rc;
        json_t *q = json_object_get(it, "quantity");
        d->quantity = 1;
        if (q && !json_is_null(q)) {
            if (!json_is_integer(q) || json_integer_value(q) < 0 || json_integer_value(q) > 1000000)
                return hk_err_setf(err, HK_E(INVAL), FIELD(path, "quantity"),
                                   "%squantity: must be an integer from 0 to 1000000", path);
            d->quantity = (int32_t)json_integer_value(q);
        }
        if (!d->product_id && !d->sku && !d->title)
            return hk_err_setf(err, HK_E(INVAL), at, "items[%zu]: give product_id, sku or title",
                               i);
        const char **strs[] = {&d->product_id, &d->sku, &d->title, &d->variant, &d->category};
        for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++)
            if (!*strs[k])
                *strs[k] = "";
    }
    o->rec.items = o->items;
    o->rec.nitems = n;
    return 0;
}

static int parse_order(json_t *it, const struct hk_keyring *kr, struct order_in *o,
                       struct hk_err *err)
{
    static const char *const keys[] = {
        "shop",        "channel",     "order_no",    "status",       "created_at", "paid_at",
        "shipped_at",  "received_at", "refunded_at", "cancelled_at", "total",      "total_fen",
        "postage",     "postage_fen", "discount",    "discount_fen", "paid",       "paid_fen",
        "refund",      "refund_fen",  "coupon_code", "buyer",        "items",      "buyer_note",
        "seller_note", NULL};
    static const char *const buyer_keys[] = {"buyer_id", "nick",     "phone", "email",
                                             "name",     "province", "city",  "address",
                                             "union_id", "open_id",  NULL};
    static const char *const channels[] = {"taobao", "tmall",  "jd",  "pdd",
                                           "douyin", "wechat", "pos", "other"};
    struct hk_order_rec *r = &o->rec;
    const char *status = NULL;
    int rc;
    if (!json_is_object(it))
        return hk_err_setf(err, HK_E(INVAL), "orders", "must be an object");
    r->format = HK_FMT_GENERIC;
    r->first_record = r->last_record = r->first_line = r->last_line = 0;
    if ((rc = get_str(it, "", "order_no", 128, &r->order_no, err)) != 0)
        return rc;
    if ((rc = only_keys(it, "", keys, err)) != 0 ||
        (rc = get_str(it, "", "shop", 128, &r->shop, err)) != 0 ||
        (rc = get_str(it, "", "channel", 32, &r->channel, err)) != 0 ||
        (rc = get_str(it, "", "status", 32, &status, err)) != 0 ||
        (rc = get_str(it, "", "coupon_code", 128, &r->coupon_code, err)) != 0 ||
        (rc = get_str(it, "", "buyer_note", 1000, &r->buyer_note, err)) != 0 ||
        (rc = get_str(it, "", "seller_note", 1000, &r->seller_note, err)) != 0)
        return rc;
    if (!r->order_no || !*r->order_no)
        return hk_err_setf(err, HK_E(INVAL), "order_no", "order_no: required");
    if (!r->channel || !*r->channel)
        return hk_err_setf(err, HK_E(INVAL), "channel",
                           "channel: required (taobao, tmall, jd, pdd, douyin, wechat, pos, "
                           "other)");
    bool known = false;
    for (size_t i = 0; i < sizeof channels / sizeof channels[0] && !known; i++)
        known = strcmp(r->channel, channels[i]) == 0;
    if (!known)
        return hk_err_setf(err, HK_E(INVAL), "channel",
                           "channel: must be one of taobao, tmall, jd, pdd, douyin, wechat, pos, "
                           "other");
    r->status = status ? hk_order_status_parse(status) : HK_ORDER_UNKNOWN;
    if (r->status == HK_ORDER_UNKNOWN)
        return hk_err_setf(err, HK_E(INVAL), "status",
                           "status: must be one of created, paid, shipped, completed, refunded, "
                           "cancelled");
    r->status_text = status;
    r->local_times = 0;
    if ((rc = get_time(it, "", "created_at", HK_LOCAL_CREATED, &r->created_at, &r->local_times,
                       err)) != 0 ||
        (rc = get_time(it, "", "paid_at", HK_LOCAL_PAID, &r->paid_at, &r->local_times, err)) != 0 ||
        (rc = get_time(it, "", "shipped_at", HK_LOCAL_SHIPPED, &r->shipped_at, &r->local_times,
                       err)) != 0 ||
        (rc = get_time(it, "", "received_at", HK_LOCAL_RECEIVED, &r->received_at, &r->local_times,
                       err)) != 0 ||
        (rc = get_time(it, "", "refunded_at", HK_LOCAL_REFUNDED, &r->refunded_at, &r->local_times,
                       err)) != 0 ||
        (rc = get_time(it, "", "cancelled_at", HK_LOCAL_CANCELLED, &r->cancelled_at,
                       &r->local_times, err)) != 0)
        return rc;
    if (!r->created_at)
        return hk_err_setf(err, HK_E(INVAL), "created_at", "created_at: required");
    if ((rc = get_money(it, "", "total", &r->total_fen, NULL, err)) != 0 ||
        (rc = get_money(it, "", "postage", &r->postage_fen, NULL, err)) != 0 ||
        (rc = get_money(it, "", "discount", &r->discount_fen, NULL, err)) != 0 ||
        (rc = get_money(it, "", "paid", &r->paid_fen, &r->has_paid_fen, err)) != 0 ||
        (rc = get_money(it, "", "refund", &r->refund_fen, NULL, err)) != 0)
        return rc;

    json_t *b = json_object_get(it, "buyer");
    if (b && !json_is_null(b)) {
        if (!json_is_object(b))
            return hk_err_setf(err, HK_E(INVAL), "buyer", "buyer: must be an object");
        if ((rc = only_keys(b, "buyer.", buyer_keys, err)) != 0 ||
            (rc = get_str(b, "buyer.", "buyer_id", 255, &r->buyer_id, err)) != 0 ||
            (rc = get_str(b, "buyer.", "nick", 255, &r->buyer_nick, err)) != 0 ||
            (rc = get_str(b, "buyer.", "phone", 32, &r->phone, err)) != 0 ||
            (rc = get_str(b, "buyer.", "email", 255, &r->email, err)) != 0 ||
            (rc = get_str(b, "buyer.", "name", 255, &r->name, err)) != 0 ||
            (rc = get_str(b, "buyer.", "province", 63, &r->province, err)) != 0 ||
            (rc = get_str(b, "buyer.", "city", 63, &r->city, err)) != 0 ||
            (rc = get_str(b, "buyer.", "address", 1000, &r->address, err)) != 0 ||
            (rc = get_str(b, "buyer.", "union_id", 255, &o->union_id, err)) != 0 ||
            (rc = get_str(b, "buyer.", "open_id", 255, &o->open_id, err)) != 0)
            return rc;
    }
    const char **strs[] = {&r->shop,     &r->coupon_code, &r->buyer_note, &r->seller_note,
                           &r->buyer_id, &r->buyer_nick,  &r->phone,      &r->email,
                           &r->name,     &r->province,    &r->city,       &r->address,
                           &r->alipay};
    for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++)
        if (!*strs[k])
            *strs[k] = "";
    r->phone_masked = *r->phone && hk_pii_is_masked(r->phone, strlen(r->phone));
    r->name_masked = *r->name && hk_pii_is_masked(r->name, strlen(r->name));
    r->address_masked = *r->address && hk_pii_is_masked(r->address, strlen(r->address));
    /* A buyer known by nothing would become a customer no later order or event can find. */
    struct hk_identity_keys idk;
    hk_identity_keys_from_order(kr, r, &idk);
    if (idk.n == 0 && !(o->union_id && *o->union_id) && !(o->open_id && *o->open_id))
        return hk_err_setf(
            err, HK_E(INVAL), "buyer",
            "buyer: no identity; give buyer_id, nick, phone (a mainland mobile "
            "number), email, union_id or open_id (a masked phone alone does not count)");
    return parse_items(json_object_get(it, "items"), o, err);
}

/*
 * WeChat union/open ids of a buyer are not order-record identities: after the orders are
 * stored, they join the buyer's customer through a customer upsert naming the buyer's account
 * too (a union id is a strong key, so this may merge per the identity rules).
 */
static void attach_wechat_ids(const struct hk_ingest_ctx *ctx, struct order_in *orders,
                              const size_t *good, const enum hk_apply_outcome *outc, size_t ng)
{
    struct hk_customer_in *cs = calloc(ng ? ng : 1, sizeof(*cs));
    struct hk_identity_in(*ids)[4] = calloc(ng ? ng : 1, sizeof(*ids));
    struct hk_ingest_item_result *res = calloc(ng ? ng : 1, sizeof(*res));
    struct hk_err *errs = calloc(ng ? ng : 1, sizeof(*errs));
    size_t nc = 0;
    if (!cs || !ids || !res || !errs)
        goto done;
    for (size_t g = 0; g < ng; g++) {
        struct order_in *o = &orders[good[g]];
        if (!outc[g] || (!o->union_id && !o->open_id))
            continue;
        size_t k = 0;
        const struct hk_order_rec *r = &o->rec;
        if (*r->buyer_id)
            ids[nc][k++] = (struct hk_identity_in){r->channel, "buyer_id", r->buyer_id};
        else if (*r->buyer_nick)
            ids[nc][k++] = (struct hk_identity_in){r->channel, "nick", r->buyer_nick};
        if (o->union_id && *o->union_id)
            ids[nc][k++] = (struct hk_identity_in){"wechat", "union_id", o->union_id};
        if (o->open_id && *o->open_id)
            ids[nc][k++] = (struct hk_identity_in){"wechat", "open_id", o->open_id};
        cs[nc] = (struct hk_customer_in){.ids = ids[nc],
                                         .nids = k,
                                         .consent_sms = -1,
                                         .consent_email = -1,
                                         .consent_wechat = -1};
        nc++;
    }
    if (nc) {
        struct hk_err err;
        hk_err_clear(&err);
        /* best effort: the orders are stored; an identity that cannot be attached (bad value)
           leaves the order's customer as resolved from the record */
        (void)hk_ingest_customers(ctx, cs, nc, res, errs, &err);
    }
done:
    free(cs);
    free(ids);
    free(res);
    free(errs);
}

int h_ingest_orders(struct hk_req *req, struct hk_err *err)
{
    struct hk_app *app = hk_req_app(req);
    json_t *arr;
    int rc = batch_array(req, "orders", &arr, err);
    if (rc != 0)
        return rc;
    size_t n = json_array_size(arr), ng = 0;
    struct order_in *orders = calloc(n, sizeof(*orders));
    const struct hk_order_rec **good = calloc(n, sizeof(*good));
    size_t *good_idx = calloc(n, sizeof(*good_idx));
    enum hk_apply_outcome *outc = calloc(n, sizeof(*outc));
    struct hk_err *errs = calloc(n, sizeof(*errs));
    int64_t *cust = calloc(n, sizeof(*cust));
    json_t *results = NULL;
    if (!orders || !good || !good_idx || !outc || !errs || !cust) {
        rc = hk_err_set(err, HK_E(NOMEM), "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        hk_err_clear(&orders[i].error);
        if (parse_order(json_array_get(arr, i), &app->keys, &orders[i], &orders[i].error) != 0) {
            if (orders[i].error.code == HK_E(NOMEM)) {
                rc = hk_err_set(err, HK_E(NOMEM), "out of memory");
                goto done;
            }
            continue;
        }
        good[ng] = &orders[i].rec;
        good_idx[ng++] = i;
    }
    struct hk_ingest_ctx ctx = ingest_ctx(app);
    if (ng) {
        if ((rc = hk_ingest_orders(&ctx, good, ng, NULL, outc, errs, NULL, err)) != 0)
            goto done;
        attach_wechat_ids(&ctx, orders, good_idx, outc, ng);
        if ((rc = hk_ingest_order_customers(app->store, good, ng, NULL, cust, err)) != 0)
            goto done;
        for (size_t g = 0; g < ng; g++) {
            struct order_in *o = &orders[good_idx[g]];
            if (!outc[g]) {
                o->error = errs[g];
                if (!o->error.code)
                    o->error.code = HK_E(INTERNAL);
            }
        }
    }
    results = json_array();
    struct tally t = {0};
    size_t g = 0;
    for (size_t i = 0; results && i < n; i++) {
        struct order_in *o = &orders[i];
        enum hk_apply_outcome oc = 0;
        int64_t cid = 0;
        if (g < ng && good_idx[g] == i) {
            oc = outc[g];
            cid = cust[g];
            g++;
        }
        json_t *one = result_json("orders", i, o->rec.order_no, oc, &o->error, cid, NULL, 0, &t);
        if (!one || json_array_append_new(results, one) != 0) {
            json_decref(results);
            results = NULL;
        }
    }
    if (!results) {
        rc = hk_err_set(err, HK_E(NOMEM), "out of memory");
        goto done;
    }
    rc = reply_results(req, results, &t, err);
done:
    if (orders)
        for (size_t i = 0; i < n; i++)
            free(orders[i].items);
    free(orders);
    free(good);
    free(good_idx);
    free(outc);
    free(errs);
    free(cust);
    return rc;
}

/* ---- POST /api/v1/events ------------------------------------------------------------------ */

struct event_in {
    struct hk_event_in ev;
    struct hk_identity_in ids[IDS_MAX];
    char *properties; /* new */
    struct hk_err error;
};

static int parse_event(json_t *it, struct event_in *e, struct hk_err *err)
{
    static const char *const keys[] = {"type",        "at",         "shop",       "channel",
                                       "external_id", "properties", "identities", NULL};
    int rc;
    if (!json_is_object(it))
        return hk_err_setf(err, HK_E(INVAL), "events", "must be an object");
    if ((rc = only_keys(it, "", keys, err)) != 0 ||
        (rc = get_str(it, "", "type", 32, &e->ev.type, err)) != 0 ||
        (rc = get_str(it, "", "shop", 128, &e->ev.shop, err)) != 0 ||
        (rc = get_str(it, "", "channel", 32, &e->ev.channel, err)) != 0 ||
        (rc = get_str(it, "", "external_id", 128, &e->ev.external_id, err)) != 0)
        return rc;
    if (!e->ev.type || !hk_event_type_valid(e->ev.type))
        return hk_err_setf(err, HK_E(INVAL), "type", "type: must be one of " HK_EVENT_TYPES);
    unsigned local = 0;
    if ((rc = get_time(it, "", "at", 1, &e->ev.at, &local, err)) != 0)
        return rc;
    e->ev.at_local = local != 0;
    if (!e->ev.at)
        return hk_err_setf(err, HK_E(INVAL), "at", "at: required (ISO 8601)");
    json_t *p = json_object_get(it, "properties");
    if (p && !json_is_null(p)) {
        if (!json_is_object(p))
            return hk_err_setf(err, HK_E(INVAL), "properties", "properties: must be an object");
        e->properties = json_dumps(p, JSON_COMPACT);
        if (!e->properties)
            return hk_err_set(err, HK_E(NOMEM), "out of memory");
        if (strlen(e->properties) > 16384)
            return hk_err_setf(err, HK_E(INVAL), "properties",
                               "properties: at most 16384 bytes as JSON");
    }
    e->ev.properties_json = e->properties ? e->properties : "{}";
    if ((rc = get_identities(it, e->ids, &e->ev.nids, err)) != 0)
        return rc;
    if (!e->ev.nids)
        return hk_err_setf(err, HK_E(INVAL), "identities",
                           "identities: at least one {channel, kind, value} names the customer");
    e->ev.ids = e->ids;
    return 0;
}

int h_ingest_events(struct hk_req *req, struct hk_err *err)
{
    struct hk_app *app = hk_req_app(req);
    json_t *arr;
    int rc = batch_array(req, "events", &arr, err);
    if (rc != 0)
        return rc;
    size_t n = json_array_size(arr), ng = 0;
    struct event_in *evs = calloc(n, sizeof(*evs));
    struct hk_event_in *good = calloc(n, sizeof(*good));
    size_t *good_idx = calloc(n, sizeof(*good_idx));
    struct hk_ingest_item_result *res = calloc(n, sizeof(*res));
    struct hk_err *errs = calloc(n, sizeof(*errs));
    json_t *results = NULL;
    if (!evs || !good || !good_idx || !res || !errs) {
        rc = hk_err_set(err, HK_E(NOMEM), "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (parse_event(json_array_get(arr, i), &evs[i], &evs[i].error) != 0)
            continue;
        good[ng] = evs[i].ev;
        good_idx[ng++] = i;
    }
    struct hk_ingest_ctx ctx = ingest_ctx(app);
    if (ng && (rc = hk_ingest_events(&ctx, good, ng, res, errs, err)) != 0)
        goto done;
    results = json_array();
    struct tally t = {0};
    size_t g = 0;
    for (size_t i = 0; results && i < n; i++) {
        struct hk_ingest_item_result r = {0};
        const struct hk_err *e = &evs[i].error;
        if (g < ng && good_idx[g] == i) {
            r = res[g];
            e = &errs[g];
            g++;
        }
        json_t *one =
            result_json("events", i, NULL, r.outcome, e, r.customer_id, "event_id", r.id, &t);
        if (!one || json_array_append_new(results, one) != 0) {
            json_decref(results);
            results = NULL;
        }
    }
    if (!results) {
        rc = hk_err_set(err, HK_E(NOMEM), "out of memory");
        goto done;
    }
    rc = reply_results(req, results, &t, err);
done:
    if (evs)
        for (size_t i = 0; i < n; i++)
            free(evs[i].properties);
    free(evs);
    free(good);
    free(good_idx);
    free(res);
    free(errs);
    return rc;
}

/* ---- POST /api/v1/customers --------------------------------------------------------------- */

struct customer_in {
    struct hk_customer_in c;
    struct hk_identity_in ids[IDS_MAX];
    struct hk_err error;
};

static int parse_customer(json_t *it, struct customer_in *ci, struct hk_err *err)
{
    static const char *const keys[] = {"identities", "nick",     "name",    "phone",
                                       "email",      "province", "city",    "address",
                                       "birthday",   "gender",   "consent", NULL};
    static const char *const consent_keys[] = {"sms", "email", "wechat", NULL};
    struct hk_customer_in *c = &ci->c;
    int rc;
    c->consent_sms = c->consent_email = c->consent_wechat = -1;
    if (!json_is_object(it))
        return hk_err_setf(err, HK_E(INVAL), "customers", "must be an object");
    if ((rc = only_keys(it, "", keys, err)) != 0 ||
        (rc = get_str(it, "", "nick", 255, &c->nick, err)) != 0 ||
        (rc = get_str(it, "", "name", 255, &c->name, err)) != 0 ||
        (rc = get_str(it, "", "phone", 32, &c->phone, err)) != 0 ||
        (rc = get_str(it, "", "email", 255, &c->email, err)) != 0 ||
        (rc = get_str(it, "", "province", 63, &c->province, err)) != 0 ||
        (rc = get_str(it, "", "city", 63, &c->city, err)) != 0 ||
        (rc = get_str(it, "", "address", 1000, &c->address, err)) != 0 ||
        (rc = get_str(it, "", "birthday", 10, &c->birthday, err)) != 0 ||
        (rc = get_str(it, "", "gender", 1, &c->gender, err)) != 0)
        return rc;
    json_t *cons = json_object_get(it, "consent");
    if (cons && !json_is_null(cons)) {
        if (!json_is_object(cons))
            return hk_err_setf(err, HK_E(INVAL), "consent",
                               "consent: must be an object {sms, email, wechat}");
        if ((rc = only_keys(cons, "consent.", consent_keys, err)) != 0 ||
            (rc = get_flag(cons, "consent.", "sms", &c->consent_sms, err)) != 0 ||
            (rc = get_flag(cons, "consent.", "email", &c->consent_email, err)) != 0 ||
            (rc = get_flag(cons, "consent.", "wechat", &c->consent_wechat, err)) != 0)
            return rc;
    }
    if ((rc = get_identities(it, ci->ids, &c->nids, err)) != 0)
        return rc;
    c->ids = ci->ids;
    return 0;
}

int h_ingest_customers(struct hk_req *req, struct hk_err *err)
{
    struct hk_app *app = hk_req_app(req);
    json_t *arr;
    int rc = batch_array(req, "customers", &arr, err);
    if (rc != 0)
        return rc;
    size_t n = json_array_size(arr), ng = 0;
    struct customer_in *cs = calloc(n, sizeof(*cs));
    struct hk_customer_in *good = calloc(n, sizeof(*good));
    size_t *good_idx = calloc(n, sizeof(*good_idx));
    struct hk_ingest_item_result *res = calloc(n, sizeof(*res));
    struct hk_err *errs = calloc(n, sizeof(*errs));
    json_t *results = NULL;
    if (!cs || !good || !good_idx || !res || !errs) {
        rc = hk_err_set(err, HK_E(NOMEM), "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (parse_customer(json_array_get(arr, i), &cs[i], &cs[i].error) != 0)
            continue;
        good[ng] = cs[i].c;
        good_idx[ng++] = i;
    }
    struct hk_ingest_ctx ctx = ingest_ctx(app);
    if (ng && (rc = hk_ingest_customers(&ctx, good, ng, res, errs, err)) != 0)
        goto done;
    results = json_array();
    struct tally t = {0};
    size_t g = 0;
    for (size_t i = 0; results && i < n; i++) {
        struct hk_ingest_item_result r = {0};
        const struct hk_err *e = &cs[i].error;
        if (g < ng && good_idx[g] == i) {
            r = res[g];
            e = &errs[g];
            g++;
        }
        json_t *one = result_json("customers", i, NULL, r.outcome, e, r.customer_id, NULL, 0, &t);
        if (!one || json_array_append_new(results, one) != 0) {
            json_decref(results);
            results = NULL;
        }
    }
    if (!results) {
        rc = hk_err_set(err, HK_E(NOMEM), "out of memory");
        goto done;
    }
    rc = reply_results(req, results, &t, err);
done:
    free(cs);
    free(good);
    free(good_idx);
    free(res);
    free(errs);
    return rc;
}
