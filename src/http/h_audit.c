/*
 * h_audit.c — the audit trail (admin only; the router checks the role).
 *
 *   GET /api/v1/audit?cursor=&limit=&action=  -> {items: [entry], next_cursor}
 *
 * Newest first; next_cursor pages towards older entries. An entry is {id, at, actor, actor_id,
 * action, target, ip, request_id, details}; details is the JSON object recorded with it.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "http/accounts_json.h"
#include "http/handlers.h"
#include "services/accounts.h"

static json_t *entry_json(const struct hk_audit_entry *e)
{
    json_t *details = json_loads(e->details, 0, NULL);
    if (!details || !json_is_object(details)) {
        json_decref(details);
        details = json_object(); /* a truncated or foreign record: show it empty, not fail */
    }
    return json_pack("{s:I, s:o, s:s, s:o, s:s, s:s, s:s, s:s, s:o}", "id", (json_int_t)e->id, "at",
                     hk_http_acct_time(e->at), "actor", e->actor, "actor_id",
                     e->actor_id > 0 ? json_integer((json_int_t)e->actor_id) : json_null(),
                     "action", e->action, "target", e->target, "ip", e->ip, "request_id",
                     e->request_id, "details", details);
}

int h_audit_list(struct hk_req *req, struct hk_err *err)
{
    int64_t cursor, next = 0;
    int limit;
    struct hk_audit_entry *entries = NULL;
    size_t n = 0;
    int rc = hk_http_acct_page(req, &cursor, &limit, err);
    if (rc != 0)
        return rc;
    const char *action = hk_req_query(req, "action");
    if (action && (strlen(action) >= sizeof entries->action ||
                   strspn(action, "abcdefghijklmnopqrstuvwxyz0123456789._") != strlen(action)))
        return hk_err_setf(err, HK_E(INVAL), "action",
                           "action: an audit action such as auth.login or user.update");
    rc = hk_accounts_audit_list(hk_req_app(req), cursor, limit, action, &entries, &n, &next, err);
    if (rc != 0)
        return rc;
    json_t *items = json_array();
    for (size_t i = 0; items && i < n; i++) {
        if (json_array_append_new(items, entry_json(&entries[i])) != 0) {
            json_decref(items);
            items = NULL;
        }
    }
    free(entries);
    json_t *reply =
        json_pack("{s:o, s:o}", "items", items, "next_cursor", hk_http_acct_cursor(next));
    if (!reply)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    return hk_reply_json(req, 200, reply);
}
