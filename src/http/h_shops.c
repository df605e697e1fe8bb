/*
 * h_shops.c — shops and their time zones (services/shops.h).
 *
 *   GET   /api/v1/shops        -> {items: [{id, channel, name, timezone, created_at}]}
 *   PATCH /api/v1/shops/{id}   {"timezone": "Asia/Shanghai"} -> the shop (admins; audited)
 */
#include <stdlib.h>

#include "core/err.h"
#include "http/accounts_json.h"
#include "http/handlers.h"
#include "services/shops.h"

static int nomem(struct hk_err *err)
{
    return hk_err_set(err, HK_E(NOMEM), "out of memory");
}

static json_t *shop_json(const struct hk_shop_row *s)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:o}", "id", (json_int_t)s->id, "channel", s->channel,
                     "name", s->name, "timezone", s->timezone, "created_at",
                     hk_http_acct_time(s->created_at));
}

int h_shops_list(struct hk_req *req, struct hk_err *err)
{
    struct hk_shop_row *rows = NULL;
    size_t n = 0;
    int rc = hk_shops_list(hk_req_app(req), &rows, &n, err);
    if (rc)
        return rc;
    json_t *items = json_array();
    int bad = !items;
    for (size_t i = 0; !bad && i < n; i++) {
        json_t *o = shop_json(&rows[i]);
        bad = !o || json_array_append_new(items, o) != 0;
    }
    free(rows);
    json_t *j = bad ? NULL : json_pack("{s:o}", "items", items);
    if (bad)
        json_decref(items);
    return j ? hk_reply_json(req, 200, j) : nomem(err);
}

int h_shops_update(struct hk_req *req, struct hk_err *err)
{
    int64_t id;
    json_t *body;
    int rc = hk_req_param_id(req, "id", &id, err);
    if (rc || (rc = hk_req_json(req, &body, err)) != 0)
        return rc;
    const char *tz = NULL;
    json_error_t je;
    if (json_unpack_ex(body, &je, JSON_STRICT, "{s:s}", "timezone", &tz))
        return hk_err_setf(err, HK_E(INVAL), "timezone",
                           "expected {\"timezone\": \"Area/City\"}: %s", je.text);
    struct hk_actor actor = hk_req_actor(req);
    struct hk_shop_row s;
    if ((rc = hk_shops_set_timezone(hk_req_app(req), &actor, id, tz, &s, err)) != 0)
        return rc;
    json_t *j = shop_json(&s);
    return j ? hk_reply_json(req, 200, j) : nomem(err);
}
