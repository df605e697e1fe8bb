/*
 * h_merges.c — undoing customer merges and keeping pairs apart (admin and manager; the router
 * checks the role).
 *
 *   POST /api/v1/customers/{id}/unmerge   {"merge_id"?}
 *        -> 200 {merge: merge, winner_id, loser_id}    both customers exist again, never-merge
 *   POST /api/v1/customers/never-merge    {"a", "b", "reason"?}
 *        -> 200 {a, b, reason}
 *   GET  /api/v1/customers/{id}/merges    -> 200 {customer_id, items: [merge]}
 *
 *   merge = {id, winner_id, loser_id, reason, at, undone_at, undone_by}   (times ISO 8601 UTC
 *   or null)
 *
 * Unmerge and never-merge are audited (customer.unmerge, customer.never_merge) with ids only,
 * never PII. json_t stays in this file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "http/accounts_json.h"
#include "http/handlers.h"
#include "ingest/merges.h"
#include "services/app.h"

#define MERGES_MAX 200

static json_t *merge_json(const struct hk_merge_info *m)
{
    return json_pack("{s:I, s:I, s:I, s:s, s:o, s:o, s:o}", "id", (json_int_t)m->id, "winner_id",
                     (json_int_t)m->winner_id, "loser_id", (json_int_t)m->loser_id, "reason",
                     m->reason, "at", hk_http_acct_time(m->at), "undone_at",
                     hk_http_acct_time(m->undone_at), "undone_by",
                     m->undone_by[0] ? json_string(m->undone_by) : json_null());
}

/* A positive integer id field; absent/null leaves *out 0 unless required. */
static int id_field(json_t *body, const char *key, bool required, int64_t *out, struct hk_err *err)
{
    json_t *v = json_object_get(body, key);
    *out = 0;
    if (!v || json_is_null(v)) {
        if (required)
            return hk_err_setf(err, HK_E(INVAL), key, "%s: a customer id is required", key);
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) <= 0)
        return hk_err_setf(err, HK_E(INVAL), key, "%s: must be a positive integer id", key);
    *out = (int64_t)json_integer_value(v);
    return 0;
}

static const char *actor_login(const struct hk_actor *a)
{
    return a->who && a->who->login[0] ? a->who->login : "system";
}

int h_customers_unmerge(struct hk_req *req, struct hk_err *err)
{
    static const char *const fields[] = {"merge_id", NULL};
    struct hk_app *app = hk_req_app(req);
    int64_t id, merge_id = 0;
    size_t len = 0;
    int rc = hk_req_param_id(req, "id", &id, err);
    if (rc != 0)
        return rc;
    hk_req_body(req, &len);
    if (len) { /* the body is optional */
        json_t *body;
        if ((rc = hk_req_json(req, &body, err)) != 0 ||
            (rc = hk_http_acct_only_keys(body, fields, err)) != 0 ||
            (rc = id_field(body, "merge_id", false, &merge_id, err)) != 0)
            return rc;
    }
    struct hk_actor actor = hk_req_actor(req);
    struct hk_merge_info m;
    rc = hk_merges_undo(app->store, id, merge_id, actor_login(&actor), hk_clock_now(&app->clock),
                        &m, err);
    if (rc != 0)
        return rc;
    char target[64], details[160];
    snprintf(target, sizeof target, "customer:%lld", (long long)id);
    snprintf(details, sizeof details, "{\"merge_id\":%lld,\"winner_id\":%lld,\"loser_id\":%lld}",
             (long long)m.id, (long long)m.winner_id, (long long)m.loser_id);
    struct hk_err aerr;
    hk_err_clear(&aerr);
    (void)hk_accounts_audit_record(app, &actor, "customer.unmerge", target, details, &aerr);
    json_t *reply = json_pack("{s:o, s:I, s:I}", "merge", merge_json(&m), "winner_id",
                              (json_int_t)m.winner_id, "loser_id", (json_int_t)m.loser_id);
    if (!reply)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    return hk_reply_json(req, 200, reply);
}

int h_customers_never_merge(struct hk_req *req, struct hk_err *err)
{
    static const char *const fields[] = {"a", "b", "reason", NULL};
    struct hk_app *app = hk_req_app(req);
    json_t *body;
    int64_t a, b;
    const char *reason = NULL;
    int rc = hk_req_json(req, &body, err);
    if (rc != 0)
        return rc;
    if ((rc = hk_http_acct_only_keys(body, fields, err)) != 0 ||
        (rc = id_field(body, "a", true, &a, err)) != 0 ||
        (rc = id_field(body, "b", true, &b, err)) != 0 ||
        (rc = hk_http_acct_string(body, "reason", false, &reason, err)) != 0)
        return rc;
    if (reason && strlen(reason) > 200)
        return hk_err_setf(err, HK_E(INVAL), "reason", "reason: at most 200 bytes");
    if ((rc = hk_merges_never(app->store, a, b, reason, hk_clock_now(&app->clock), err)) != 0)
        return rc;
    struct hk_actor actor = hk_req_actor(req);
    char target[64], details[96];
    snprintf(target, sizeof target, "customer:%lld", (long long)a);
    snprintf(details, sizeof details, "{\"a\":%lld,\"b\":%lld}", (long long)a, (long long)b);
    struct hk_err aerr;
    hk_err_clear(&aerr);
    (void)hk_accounts_audit_record(app, &actor, "customer.never_merge", target, details, &aerr);
    json_t *reply = json_pack("{s:I, s:I, s:s}", "a", (json_int_t)a, "b", (json_int_t)b, "reason",
                              reason && *reason ? reason : "manual");
    if (!reply)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    return hk_reply_json(req, 200, reply);
}

int h_customers_merges(struct hk_req *req, struct hk_err *err)
{
    struct hk_app *app = hk_req_app(req);
    int64_t id;
    struct hk_merge_info *v = NULL;
    size_t n = 0;
    int rc = hk_req_param_id(req, "id", &id, err);
    if (rc != 0)
        return rc;
    if ((rc = hk_merges_list(app->store, id, MERGES_MAX, &v, &n, err)) != 0)
        return rc;
    json_t *items = json_array();
    for (size_t i = 0; items && i < n; i++)
        if (json_array_append_new(items, merge_json(&v[i])) != 0) {
            json_decref(items);
            items = NULL;
        }
    free(v);
    json_t *reply = json_pack("{s:I, s:o}", "customer_id", (json_int_t)id, "items", items);
    if (!reply)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    return hk_reply_json(req, 200, reply);
}
