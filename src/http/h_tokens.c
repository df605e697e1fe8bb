/*
 * h_tokens.c — API tokens for integrations (admin only; the router checks the role).
 *
 *   GET    /api/v1/tokens?cursor=&limit=  -> {items: [token], next_cursor} (never the secret)
 *   POST   /api/v1/tokens  {name, user_id?} -> 201 {id, name, token, prefix, user_id,
 *                                                  user_login, created_at}
 *   DELETE /api/v1/tokens/{id}            -> 204 (idempotent for a revoked token)
 *
 * The token value appears exactly once, in the reply to POST; only its hash is stored. A token
 * acts with its user's role (user_id defaults to the caller).
 */
#include <sodium.h>
#include <stdlib.h>

#include "core/err.h"
#include "http/accounts_json.h"
#include "http/handlers.h"
#include "services/accounts.h"

static json_t *token_json(const struct hk_api_token *t)
{
    return json_pack("{s:I, s:s, s:s, s:I, s:s, s:o, s:o, s:o, s:b}", "id", (json_int_t)t->id,
                     "name", t->name, "prefix", t->prefix, "user_id", (json_int_t)t->user_id,
                     "user_login", t->user_login, "created_at", hk_http_acct_time(t->created_at),
                     "last_used_at", hk_http_acct_time(t->last_used_at), "revoked_at",
                     hk_http_acct_time(t->revoked_at), "revoked", t->revoked_at > 0 ? 1 : 0);
}

int h_tokens_list(struct hk_req *req, struct hk_err *err)
{
    int64_t cursor, next = 0;
    int limit;
    struct hk_api_token *tokens = NULL;
    size_t n = 0;
    int rc = hk_http_acct_page(req, &cursor, &limit, err);
    if (rc != 0)
        return rc;
    if ((rc = hk_accounts_token_list(hk_req_app(req), cursor, limit, &tokens, &n, &next, err)) != 0)
        return rc;
    json_t *items = json_array();
    for (size_t i = 0; items && i < n; i++) {
        if (json_array_append_new(items, token_json(&tokens[i])) != 0) {
            json_decref(items);
            items = NULL;
        }
    }
    free(tokens);
    json_t *reply =
        json_pack("{s:o, s:o}", "items", items, "next_cursor", hk_http_acct_cursor(next));
    if (!reply)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    return hk_reply_json(req, 200, reply);
}

int h_tokens_create(struct hk_req *req, struct hk_err *err)
{
    static const char *const fields[] = {"name", "user_id", NULL};
    json_t *body;
    const char *name;
    int64_t user_id = 0;
    int rc = hk_req_json(req, &body, err);
    if (rc != 0)
        return rc;
    if ((rc = hk_http_acct_only_keys(body, fields, err)) != 0 ||
        (rc = hk_http_acct_string(body, "name", true, &name, err)) != 0)
        return rc;
    json_t *uid = json_object_get(body, "user_id");
    if (uid && !json_is_null(uid)) {
        if (!json_is_integer(uid) || json_integer_value(uid) <= 0)
            return hk_err_setf(err, HK_E(INVAL), "user_id", "user_id: must be a user's id");
        user_id = (int64_t)json_integer_value(uid);
    }
    struct hk_actor actor = hk_req_actor(req);
    struct hk_api_token t;
    char secret[HK_SECRET_MAX];
    rc = hk_accounts_token_create(hk_req_app(req), user_id, name, &actor, &t, secret, sizeof secret,
                                  err);
    if (rc != 0)
        return rc;
    json_t *reply =
        json_pack("{s:I, s:s, s:s, s:s, s:I, s:s, s:o}", "id", (json_int_t)t.id, "name", t.name,
                  "token", secret, "prefix", t.prefix, "user_id", (json_int_t)t.user_id,
                  "user_login", t.user_login, "created_at", hk_http_acct_time(t.created_at));
    sodium_memzero(secret, sizeof secret);
    if (!reply)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    return hk_reply_json(req, 201, reply);
}

int h_tokens_revoke(struct hk_req *req, struct hk_err *err)
{
    int64_t id;
    int rc = hk_req_param_id(req, "id", &id, err);
    if (rc != 0)
        return rc;
    struct hk_actor actor = hk_req_actor(req);
    if ((rc = hk_accounts_token_revoke(hk_req_app(req), id, &actor, err)) != 0)
        return rc;
    return hk_reply_status(req, 204);
}
