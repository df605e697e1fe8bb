/*
 * h_users.c — staff accounts (admin only; the router checks the role).
 *
 *   GET   /api/v1/users?cursor=&limit=   -> {items: [user], next_cursor}
 *   POST  /api/v1/users                  {login, display_name?, role, password} -> 201 user
 *   GET   /api/v1/users/{id}             -> user
 *   PATCH /api/v1/users/{id}             {display_name?, role?, disabled?, password?} -> user
 *
 * A user object never carries a password or its hash. Unknown fields are refused (400) so a
 * misspelt "disable" does not silently do nothing.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/err.h"
#include "http/accounts_json.h"
#include "http/handlers.h"
#include "services/accounts.h"

static int reply_user(struct hk_req *req, int status, const struct hk_user *u, struct hk_err *err)
{
    json_t *j = hk_http_acct_user(u);
    if (!j)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    return hk_reply_json(req, status, j);
}

int h_users_list(struct hk_req *req, struct hk_err *err)
{
    int64_t cursor, next = 0;
    int limit;
    struct hk_user *users = NULL;
    size_t n = 0;
    int rc = hk_http_acct_page(req, &cursor, &limit, err);
    if (rc != 0)
        return rc;
    if ((rc = hk_accounts_user_list(hk_req_app(req), cursor, limit, &users, &n, &next, err)) != 0)
        return rc;
    json_t *items = json_array();
    for (size_t i = 0; items && i < n; i++) {
        if (json_array_append_new(items, hk_http_acct_user(&users[i])) != 0) {
            json_decref(items);
            items = NULL;
        }
    }
    free(users);
    json_t *reply =
        json_pack("{s:o, s:o}", "items", items, "next_cursor", hk_http_acct_cursor(next));
    if (!reply)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    return hk_reply_json(req, 200, reply);
}

int h_users_create(struct hk_req *req, struct hk_err *err)
{
    static const char *const fields[] = {"login", "display_name", "role", "password", NULL};
    json_t *body;
    const char *login, *display_name, *role_name, *password;
    int role;
    int rc = hk_req_json(req, &body, err);
    if (rc != 0)
        return rc;
    if ((rc = hk_http_acct_only_keys(body, fields, err)) != 0 ||
        (rc = hk_http_acct_string(body, "login", true, &login, err)) != 0 ||
        (rc = hk_http_acct_string(body, "display_name", false, &display_name, err)) != 0 ||
        (rc = hk_http_acct_string(body, "role", true, &role_name, err)) != 0 ||
        (rc = hk_http_acct_string(body, "password", true, &password, err)) != 0 ||
        (rc = hk_role_parse(role_name, &role, err)) != 0)
        return rc;
    struct hk_user_new in = {
        .login = login, .display_name = display_name, .role = role, .password = password};
    struct hk_actor actor = hk_req_actor(req);
    struct hk_user u;
    if ((rc = hk_accounts_user_create(hk_req_app(req), &in, &actor, &u, err)) != 0)
        return rc;
    char loc[64];
    snprintf(loc, sizeof loc, "/api/v1/users/%lld", (long long)u.id);
    hk_reply_header(req, "Location", loc);
    return reply_user(req, 201, &u, err);
}

int h_users_get(struct hk_req *req, struct hk_err *err)
{
    int64_t id;
    struct hk_user u;
    int rc = hk_req_param_id(req, "id", &id, err);
    if (rc != 0)
        return rc;
    if ((rc = hk_accounts_user_get(hk_req_app(req), id, &u, err)) != 0)
        return rc;
    return reply_user(req, 200, &u, err);
}

int h_users_update(struct hk_req *req, struct hk_err *err)
{
    static const char *const fields[] = {"display_name", "role", "disabled", "password", NULL};
    int64_t id;
    json_t *body;
    const char *display_name = NULL, *role_name = NULL, *password = NULL;
    struct hk_user_patch p = {0};
    int rc = hk_req_param_id(req, "id", &id, err);
    if (rc != 0)
        return rc;
    if ((rc = hk_req_json(req, &body, err)) != 0)
        return rc;
    if ((rc = hk_http_acct_only_keys(body, fields, err)) != 0 ||
        (rc = hk_http_acct_string(body, "display_name", false, &display_name, err)) != 0 ||
        (rc = hk_http_acct_string(body, "role", false, &role_name, err)) != 0 ||
        (rc = hk_http_acct_string(body, "password", false, &password, err)) != 0)
        return rc;
    if (display_name) {
        p.has_display_name = true;
        p.display_name = display_name;
    }
    if (role_name) {
        if ((rc = hk_role_parse(role_name, &p.role, err)) != 0)
            return rc;
        p.has_role = true;
    }
    json_t *dis = json_object_get(body, "disabled");
    if (dis && !json_is_null(dis)) {
        if (!json_is_boolean(dis))
            return hk_err_setf(err, HK_E(INVAL), "disabled", "disabled: must be true or false");
        p.has_disabled = true;
        p.disabled = json_is_true(dis);
    }
    p.password = password;
    struct hk_actor actor = hk_req_actor(req);
    struct hk_user u;
    if ((rc = hk_accounts_user_update(hk_req_app(req), id, &p, &actor, &u, err)) != 0)
        return rc;
    return reply_user(req, 200, &u, err);
}
