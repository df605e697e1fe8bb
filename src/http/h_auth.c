/*
 * h_auth.c — sign-in, sign-out and "who am I".
 *
 *   POST /api/v1/auth/login   {login, password} -> 200 {user, expires_at} + Set-Cookie
 *   POST /api/v1/auth/logout  revokes the current session, clears the cookie -> 204
 *   GET  /api/v1/auth/me      -> {user, role, pii_access, via}
 *
 * The session id travels only in the huike_session cookie (HttpOnly, SameSite=Strict, so page
 * scripts cannot read it and other sites cannot send it); it is never in a body or a log line.
 * A throttled sign-in answers 429 with Retry-After in seconds.
 *
 * Threads: handlers run on worker threads; they keep no state.
 */
#include <sodium.h>
#include <stdio.h>

#include "core/err.h"
#include "http/accounts_json.h"
#include "http/handlers.h"
#include "services/accounts.h"
#include "services/app.h"

static const char *via_name(enum hk_auth_via via)
{
    switch (via) {
    case HK_AUTH_SESSION:
        return "session";
    case HK_AUTH_TOKEN:
        return "token";
    case HK_AUTH_CLI:
        return "cli";
    default:
        return "none";
    }
}

int h_auth_login(struct hk_req *req, struct hk_err *err)
{
    struct hk_app *app = hk_req_app(req);
    json_t *body;
    const char *login, *password;
    int rc = hk_req_json(req, &body, err);
    if (rc != 0)
        return rc;
    if ((rc = hk_http_acct_string(body, "login", true, &login, err)) != 0 ||
        (rc = hk_http_acct_string(body, "password", true, &password, err)) != 0)
        return rc;

    struct hk_actor actor = hk_req_actor(req);
    struct hk_login_result res;
    int64_t retry = 0;
    rc = hk_accounts_login(app, login, password, hk_req_header(req, "User-Agent"), &actor, &res,
                           &retry, err);
    if (rc == HK_E(THROTTLED)) {
        char buf[24];
        snprintf(buf, sizeof buf, "%lld", (long long)(retry > 0 ? retry : 1));
        hk_reply_header(req, "Retry-After", buf);
        return rc;
    }
    if (rc != 0)
        return rc;

    int64_t max_age = res.expires_at - hk_clock_now(&app->clock);
    char cookie[HK_SECRET_MAX + 128];
    snprintf(cookie, sizeof cookie, "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld",
             HK_SESSION_COOKIE, res.session, (long long)(max_age > 0 ? max_age : 0));
    rc = hk_reply_header(req, "Set-Cookie", cookie);
    sodium_memzero(cookie, sizeof cookie);
    sodium_memzero(res.session, sizeof res.session);
    if (rc != 0)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");

    json_t *reply = json_pack("{s:o, s:o}", "user", hk_http_acct_user(&res.user), "expires_at",
                              hk_http_acct_time(res.expires_at));
    if (!reply)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    return hk_reply_json(req, 200, reply);
}

int h_auth_logout(struct hk_req *req, struct hk_err *err)
{
    struct hk_actor actor = hk_req_actor(req);
    int rc = hk_accounts_logout(hk_req_app(req), &actor, err);
    if (rc != 0)
        return rc;
    hk_reply_header(req, "Set-Cookie",
                    HK_SESSION_COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    return hk_reply_status(req, 204);
}

int h_auth_me(struct hk_req *req, struct hk_err *err)
{
    const struct hk_principal *who = hk_req_principal(req);
    if (!who)
        return hk_err_set(err, HK_E(UNAUTHENTICATED), "sign in or send an API token");
    struct hk_user u;
    int rc = hk_accounts_user_get(hk_req_app(req), who->user_id, &u, err);
    if (rc == HK_E(NOTFOUND))
        return hk_err_set(err, HK_E(UNAUTHENTICATED), "the account no longer exists");
    if (rc != 0)
        return rc;
    json_t *reply = json_pack("{s:o, s:s, s:b, s:s}", "user", hk_http_acct_user(&u), "role",
                              hk_role_name(who->role), "pii_access",
                              hk_role_may_read_pii(who->role) ? 1 : 0, "via", via_name(who->via));
    if (!reply)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    return hk_reply_json(req, 200, reply);
}
