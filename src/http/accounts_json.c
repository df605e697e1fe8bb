/*
 * accounts_json.c — JSON shapes and request helpers shared by the account handlers.
 * Stateless; safe on any worker thread.
 */
#include "http/accounts_json.h"

#include <string.h>

#include "core/err.h"
#include "core/tz.h"
#include "core/util.h"
#include "http/handler.h"

#define PAGE_MAX 500

json_t *hk_http_acct_time(int64_t t)
{
    if (t == 0)
        return json_null();
    char buf[40];
    hk_time_format_utc(t, buf, sizeof buf);
    return json_string(buf);
}

json_t *hk_http_acct_user(const struct hk_user *u)
{
    return json_pack(
        "{s:I, s:s, s:s, s:s, s:b, s:b, s:o, s:o, s:o}", "id", (json_int_t)u->id, "login", u->login,
        "display_name", u->display_name, "role", hk_role_name(u->role), "disabled",
        u->disabled ? 1 : 0, "pii_access", hk_role_may_read_pii(u->role) ? 1 : 0, "created_at",
        hk_http_acct_time(u->created_at), "updated_at", hk_http_acct_time(u->updated_at),
        "last_login_at", hk_http_acct_time(u->last_login_at));
}

json_t *hk_http_acct_cursor(int64_t cursor)
{
    if (cursor <= 0)
        return json_null();
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", (long long)cursor);
    return json_string(buf);
}

int hk_http_acct_page(struct hk_req *req, int64_t *cursor, int *limit, struct hk_err *err)
{
    const char *c = hk_req_query(req, "cursor");
    const char *l = hk_req_query(req, "limit");
    int64_t cv = 0, lv = 50;
    if (c && *c && (hk_parse_int64(c, strlen(c), &cv) != 0 || cv < 0))
        return hk_err_setf(err, HK_E(INVAL), "cursor",
                           "cursor: '%s' is not a cursor (use next_cursor of the previous page)",
                           c);
    if (l && *l && (hk_parse_int64(l, strlen(l), &lv) != 0 || lv < 1 || lv > PAGE_MAX))
        return hk_err_setf(err, HK_E(INVAL), "limit", "limit: a number from 1 to %d", PAGE_MAX);
    *cursor = cv;
    *limit = (int)lv;
    return 0;
}

int hk_http_acct_string(json_t *obj, const char *key, bool required, const char **out,
                        struct hk_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required)
            return hk_err_setf(err, HK_E(INVAL), key, "%s: required", key);
        *out = NULL;
        return 0;
    }
    if (!json_is_string(v))
        return hk_err_setf(err, HK_E(INVAL), key, "%s: must be a string", key);
    *out = json_string_value(v);
    return 0;
}

int hk_http_acct_only_keys(json_t *obj, const char *const *allowed, struct hk_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok) {
            char list[256] = "";
            size_t len = 0;
            for (const char *const *a = allowed; *a; a++) {
                int n = snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", *a);
                if (n < 0 || (size_t)n >= sizeof list - len)
                    break;
                len += (size_t)n;
            }
            return hk_err_setf(err, HK_E(INVAL), key, "unknown field '%s'; accepted: %s", key,
                               list);
        }
    }
    return 0;
}
