/*
 * test_auth.c — accounts and authentication over HTTP: sign-in per role, role checks, bad
 * credentials, throttling by account and by address, session expiry, logout, API tokens, user
 * administration, the audit trail, and the `huike user` / `huike token` CLI.
 *
 * One server (group setup) serves most tests, in order; tests that need other settings start
 * their own. argon2id makes each sign-in cost tens of milliseconds (more under ASan), so the
 * tests sign in only as often as the behaviour needs. Run by ctest on SQLite and PostgreSQL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

struct fixture {
    struct ht_server srv;
    char admin_cookie[256];
};

static const char *const main_env[] = {"HUIKE_LOGIN_MAX_FAIL=5", "HUIKE_LOGIN_MAX_FAIL_IP=1000",
                                       NULL};

/* ---- helpers ---------------------------------------------------------------------------- */

static long req(struct ht_server *s, const char *method, const char *path, const char *body,
                const char *cookie, const char *bearer, struct ht_resp *out)
{
    char authz[256];
    const char *headers[3] = {NULL, NULL, NULL};
    size_t n = 0;
    if (bearer) {
        snprintf(authz, sizeof authz, "Authorization: Bearer %s", bearer);
        headers[n++] = authz;
    }
    if (body)
        headers[n++] = "Content-Type: application/json";
    assert_int_equal(ht_request(s, method, path, body, headers, cookie, out), 0);
    return out->status;
}

/* Status of a request whose body does not matter. */
static long status_of(struct ht_server *s, const char *method, const char *path, const char *body,
                      const char *cookie, const char *bearer)
{
    struct ht_resp r;
    long st = req(s, method, path, body, cookie, bearer, &r);
    ht_resp_free(&r);
    return st;
}

static long login_status(struct ht_server *s, const char *login, const char *password,
                         struct ht_resp *out)
{
    char body[256];
    snprintf(body, sizeof body, "{\"login\":\"%s\",\"password\":\"%s\"}", login, password);
    return req(s, "POST", "/api/v1/auth/login", body, NULL, NULL, out);
}

static void login_ok(struct ht_server *s, const char *login, const char *password, char *cookie,
                     size_t size)
{
    assert_int_equal(ht_login(s, login, password, cookie, size), 0);
}

/* Whether the audit log holds an entry with action (and, if non-NULL, this actor). */
static bool audit_has(struct fixture *f, const char *action, const char *actor)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/audit?limit=500&action=%s", action);
    struct ht_resp r;
    assert_int_equal(req(&f->srv, "GET", path, NULL, f->admin_cookie, NULL, &r), 200);
    json_t *items = json_object_get(r.json, "items");
    assert_true(json_is_array(items));
    bool found = false;
    size_t i;
    json_t *e;
    json_array_foreach(items, i, e)
    {
        const char *a = json_string_value(json_object_get(e, "action"));
        const char *who = json_string_value(json_object_get(e, "actor"));
        assert_non_null(a);
        assert_string_equal(a, action);
        /* every record carries the request id it came from (the CLI has none) */
        const char *rid = json_string_value(json_object_get(e, "request_id"));
        assert_non_null(rid);
        assert_true(json_is_object(json_object_get(e, "details")));
        if (!actor || (who && strcmp(who, actor) == 0))
            found = true;
    }
    ht_resp_free(&r);
    return found;
}

/* ---- setup ------------------------------------------------------------------------------ */

static int group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    if (ht_server_start(&f->srv, main_env) != 0) {
        free(f);
        return -1;
    }
    if (ht_login(&f->srv, "admin", "admin-pass-1", f->admin_cookie, sizeof f->admin_cookie) != 0) {
        ht_server_stop(&f->srv);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;
    int st = ht_server_stop(&f->srv);
    free(f);
    return st == 0 ? 0 : -1;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void auth__each_role_signs_in_and_only_admin_lists_users(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *login, *password, *role;
        long users_status;
        bool pii;
    } roles[] = {
        {"admin", "admin-pass-1", "admin", 200, true},
        {"manager1", "manager1-pass", "manager", 403, true},
        {"operator1", "operator1-pass", "operator", 403, false},
        {"agent1", "agent1-pass", "agent", 403, false},
        {"associate1", "associate1-pass", "associate", 403, false},
    };
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        char cookie[256];
        struct ht_resp r;
        assert_int_equal(login_status(&f->srv, roles[i].login, roles[i].password, &r), 200);
        json_t *user = json_object_get(r.json, "user");
        assert_string_equal(json_string_value(json_object_get(user, "login")), roles[i].login);
        assert_string_equal(json_string_value(json_object_get(user, "role")), roles[i].role);
        assert_null(json_object_get(user, "password_hash"));
        assert_null(json_object_get(user, "password"));
        assert_true(json_is_string(json_object_get(r.json, "expires_at")));
        char sc[512];
        assert_non_null(ht_resp_header(&r, "Set-Cookie", sc, sizeof sc));
        assert_non_null(strstr(sc, "huike_session="));
        assert_non_null(strstr(sc, "HttpOnly"));
        assert_non_null(strstr(sc, "SameSite=Strict"));
        assert_non_null(strstr(sc, "Path=/"));
        assert_non_null(strstr(sc, "Max-Age="));
        sc[strcspn(sc, ";")] = '\0';
        assert_true(strlen(sc) < sizeof cookie);
        memcpy(cookie, sc, strlen(sc) + 1);
        ht_resp_free(&r);

        assert_int_equal(status_of(&f->srv, "GET", "/api/v1/users", NULL, cookie, NULL),
                         roles[i].users_status);
        assert_int_equal(req(&f->srv, "GET", "/api/v1/auth/me", NULL, cookie, NULL, &r), 200);
        assert_string_equal(json_string_value(json_object_get(r.json, "role")), roles[i].role);
        assert_int_equal(json_is_true(json_object_get(r.json, "pii_access")), roles[i].pii);
        assert_string_equal(json_string_value(json_object_get(r.json, "via")), "session");
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(r.json, "user"), "login")),
            roles[i].login);
        ht_resp_free(&r);
    }
}

static void auth__rejects_missing_and_bad_credentials(void **state)
{
    struct fixture *f = *state;
    struct ht_resp r;
    assert_int_equal(req(&f->srv, "GET", "/api/v1/auth/me", NULL, NULL, NULL, &r), 401);
    assert_string_equal(ht_error_code(&r), "unauthenticated");
    ht_resp_free(&r);
    assert_int_equal(status_of(&f->srv, "GET", "/api/v1/auth/me", NULL,
                               "huike_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL),
                     401);
    assert_int_equal(status_of(&f->srv, "GET", "/api/v1/auth/me", NULL, "huike_session=junk", NULL),
                     401);
    assert_int_equal(status_of(&f->srv, "GET", "/api/v1/auth/me", NULL, NULL,
                               "hk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                     401);
    assert_int_equal(status_of(&f->srv, "GET", "/api/v1/users", NULL, NULL, "not-a-token"), 401);

    /* wrong password and unknown login look the same */
    assert_int_equal(login_status(&f->srv, "agent1", "wrong-password", &r), 401);
    assert_string_equal(ht_error_code(&r), "unauthenticated");
    assert_non_null(strstr(r.body, "wrong login or password"));
    ht_resp_free(&r);
    assert_int_equal(login_status(&f->srv, "nobody-here", "whatever-pass", &r), 401);
    assert_non_null(strstr(r.body, "wrong login or password"));
    ht_resp_free(&r);

    /* missing fields name the field */
    assert_int_equal(
        req(&f->srv, "POST", "/api/v1/auth/login", "{\"login\":\"admin\"}", NULL, NULL, &r), 400);
    assert_string_equal(ht_error_code(&r), "invalid_argument");
    assert_non_null(strstr(r.body, "password"));
    ht_resp_free(&r);
    assert_int_equal(
        req(&f->srv, "POST", "/api/v1/auth/login", "{\"password\":\"x\"}", NULL, NULL, &r), 400);
    assert_non_null(strstr(r.body, "login"));
    ht_resp_free(&r);
}

static void auth__throttles_an_account_after_max_failures(void **state)
{
    struct fixture *f = *state;
    struct ht_resp r;
    assert_int_equal(req(&f->srv, "POST", "/api/v1/users",
                         "{\"login\":\"victim\",\"role\":\"agent\",\"password\":\"victim-pass\"}",
                         f->admin_cookie, NULL, &r),
                     201);
    ht_resp_free(&r);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(login_status(&f->srv, "victim", "not-the-password", &r), 401);
        ht_resp_free(&r);
    }
    /* the 6th attempt is refused before the password is looked at, even when it is right */
    assert_int_equal(login_status(&f->srv, "victim", "victim-pass", &r), 429);
    assert_string_equal(ht_error_code(&r), "too_many_requests");
    assert_non_null(strstr(r.body, "try again in"));
    char ra[32];
    assert_non_null(ht_resp_header(&r, "Retry-After", ra, sizeof ra));
    long secs = strtol(ra, NULL, 10);
    assert_true(secs > 0 && secs <= 900);
    ht_resp_free(&r);

    /* another account from the same address is not affected (below the address limit) */
    char cookie[256];
    login_ok(&f->srv, "operator1", "operator1-pass", cookie, sizeof cookie);
}

static void auth__logout_ends_the_session(void **state)
{
    struct fixture *f = *state;
    char cookie[256];
    login_ok(&f->srv, "manager1", "manager1-pass", cookie, sizeof cookie);
    assert_int_equal(status_of(&f->srv, "GET", "/api/v1/auth/me", NULL, cookie, NULL), 200);
    struct ht_resp r;
    assert_int_equal(req(&f->srv, "POST", "/api/v1/auth/logout", NULL, cookie, NULL, &r), 204);
    char sc[256];
    assert_non_null(ht_resp_header(&r, "Set-Cookie", sc, sizeof sc));
    assert_non_null(strstr(sc, "huike_session=;"));
    assert_non_null(strstr(sc, "Max-Age=0"));
    ht_resp_free(&r);
    assert_int_equal(status_of(&f->srv, "GET", "/api/v1/auth/me", NULL, cookie, NULL), 401);
    assert_int_equal(status_of(&f->srv, "POST", "/api/v1/auth/logout", NULL, cookie, NULL), 401);
}

static void auth__api_token_works_until_revoked(void **state)
{
    struct fixture *f = *state;
    struct ht_resp r;
    assert_int_equal(req(&f->srv, "POST", "/api/v1/tokens", "{\"name\":\"shop sync\"}",
                         f->admin_cookie, NULL, &r),
                     201);
    const char *tok = json_string_value(json_object_get(r.json, "token"));
    const char *prefix = json_string_value(json_object_get(r.json, "prefix"));
    assert_non_null(tok);
    assert_non_null(prefix);
    assert_int_equal(strncmp(tok, "hk_", 3), 0);
    assert_int_equal(strncmp(tok, prefix, strlen(prefix)), 0);
    assert_true(json_is_string(json_object_get(r.json, "created_at")));
    json_int_t id = json_integer_value(json_object_get(r.json, "id"));
    assert_true(id > 0);
    char token[128];
    snprintf(token, sizeof token, "%s", tok);
    ht_resp_free(&r);

    assert_int_equal(req(&f->srv, "GET", "/api/v1/auth/me", NULL, NULL, token, &r), 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "via")), "token");
    assert_string_equal(json_string_value(json_object_get(r.json, "role")), "admin");
    ht_resp_free(&r);
    assert_int_equal(status_of(&f->srv, "GET", "/api/v1/users", NULL, NULL, token), 200);

    /* the list never shows the secret */
    assert_int_equal(req(&f->srv, "GET", "/api/v1/tokens", NULL, f->admin_cookie, NULL, &r), 200);
    assert_null(strstr(r.body, token));
    assert_non_null(strstr(r.body, "shop sync"));
    ht_resp_free(&r);

    /* a token acts with its user's role */
    assert_int_equal(
        req(&f->srv, "GET", "/api/v1/users?limit=500", NULL, f->admin_cookie, NULL, &r), 200);
    json_int_t agent_id = 0;
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(r.json, "items"), i, u)
    {
        if (strcmp(json_string_value(json_object_get(u, "login")), "agent1") == 0)
            agent_id = json_integer_value(json_object_get(u, "id"));
    }
    ht_resp_free(&r);
    assert_true(agent_id > 0);
    char body[128];
    snprintf(body, sizeof body, "{\"name\":\"agent bot\",\"user_id\":%lld}", (long long)agent_id);
    assert_int_equal(req(&f->srv, "POST", "/api/v1/tokens", body, f->admin_cookie, NULL, &r), 201);
    char agent_token[128];
    snprintf(agent_token, sizeof agent_token, "%s",
             json_string_value(json_object_get(r.json, "token")));
    ht_resp_free(&r);
    assert_int_equal(status_of(&f->srv, "GET", "/api/v1/users", NULL, NULL, agent_token), 403);
    assert_int_equal(status_of(&f->srv, "GET", "/api/v1/auth/me", NULL, NULL, agent_token), 200);

    char path[64];
    snprintf(path, sizeof path, "/api/v1/tokens/%lld", (long long)id);
    assert_int_equal(status_of(&f->srv, "DELETE", path, NULL, f->admin_cookie, NULL), 204);
    assert_int_equal(status_of(&f->srv, "GET", "/api/v1/auth/me", NULL, NULL, token), 401);
    assert_int_equal(
        status_of(&f->srv, "DELETE", "/api/v1/tokens/999999", NULL, f->admin_cookie, NULL), 404);
    assert_int_equal(status_of(&f->srv, "POST", "/api/v1/tokens", "{}", f->admin_cookie, NULL),
                     400);
}

static void users__create_update_disable_and_conflicts(void **state)
{
    struct fixture *f = *state;
    struct ht_resp r;
    assert_int_equal(req(&f->srv, "POST", "/api/v1/users",
                         "{\"login\":\"clerk\",\"display_name\":\"小李\",\"role\":\"associate\","
                         "\"password\":\"clerk-pass-1\"}",
                         f->admin_cookie, NULL, &r),
                     201);
    json_int_t id = json_integer_value(json_object_get(r.json, "id"));
    assert_true(id > 0);
    assert_string_equal(json_string_value(json_object_get(r.json, "display_name")), "小李");
    assert_string_equal(json_string_value(json_object_get(r.json, "role")), "associate");
    assert_false(json_is_true(json_object_get(r.json, "disabled")));
    assert_null(json_object_get(r.json, "password_hash"));
    ht_resp_free(&r);

    /* duplicate login (case-insensitively) */
    assert_int_equal(req(&f->srv, "POST", "/api/v1/users",
                         "{\"login\":\"Clerk\",\"role\":\"agent\",\"password\":\"another-pass\"}",
                         f->admin_cookie, NULL, &r),
                     409);
    assert_string_equal(ht_error_code(&r), "conflict");
    assert_non_null(strstr(r.body, "clerk"));
    ht_resp_free(&r);

    /* validation names the field */
    assert_int_equal(req(&f->srv, "POST", "/api/v1/users",
                         "{\"login\":\"shorty\",\"role\":\"agent\",\"password\":\"short\"}",
                         f->admin_cookie, NULL, &r),
                     400);
    assert_non_null(strstr(r.body, "at least 8 characters"));
    ht_resp_free(&r);
    assert_int_equal(req(&f->srv, "POST", "/api/v1/users",
                         "{\"login\":\"x1\",\"role\":\"boss\",\"password\":\"long-enough\"}",
                         f->admin_cookie, NULL, &r),
                     400);
    assert_non_null(strstr(r.body, "role"));
    ht_resp_free(&r);

    char path[64];
    snprintf(path, sizeof path, "/api/v1/users/%lld", (long long)id);
    assert_int_equal(status_of(&f->srv, "GET", path, NULL, f->admin_cookie, NULL), 200);
    assert_int_equal(status_of(&f->srv, "GET", "/api/v1/users/999999", NULL, f->admin_cookie, NULL),
                     404);
    assert_int_equal(req(&f->srv, "PATCH", path,
                         "{\"display_name\":\"Li Clerk\",\"role\":\"operator\"}", f->admin_cookie,
                         NULL, &r),
                     200);
    assert_string_equal(json_string_value(json_object_get(r.json, "display_name")), "Li Clerk");
    assert_string_equal(json_string_value(json_object_get(r.json, "role")), "operator");
    ht_resp_free(&r);
    assert_int_equal(status_of(&f->srv, "PATCH", path, "{\"disable\":true}", f->admin_cookie, NULL),
                     400);

    /* disabling ends the user's session and refuses new sign-ins */
    char cookie[256];
    login_ok(&f->srv, "clerk", "clerk-pass-1", cookie, sizeof cookie);
    assert_int_equal(status_of(&f->srv, "GET", "/api/v1/auth/me", NULL, cookie, NULL), 200);
    assert_int_equal(req(&f->srv, "PATCH", path, "{\"disabled\":true}", f->admin_cookie, NULL, &r),
                     200);
    assert_true(json_is_true(json_object_get(r.json, "disabled")));
    ht_resp_free(&r);
    assert_int_equal(status_of(&f->srv, "GET", "/api/v1/auth/me", NULL, cookie, NULL), 401);
    assert_int_equal(login_status(&f->srv, "clerk", "clerk-pass-1", &r), 401);
    ht_resp_free(&r);

    /* the last active admin cannot demote or disable themselves */
    assert_int_equal(req(&f->srv, "GET", "/api/v1/auth/me", NULL, f->admin_cookie, NULL, &r), 200);
    json_int_t admin_id =
        json_integer_value(json_object_get(json_object_get(r.json, "user"), "id"));
    ht_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/users/%lld", (long long)admin_id);
    assert_int_equal(
        req(&f->srv, "PATCH", path, "{\"role\":\"manager\"}", f->admin_cookie, NULL, &r), 409);
    assert_non_null(strstr(r.body, "last active admin"));
    ht_resp_free(&r);
    assert_int_equal(
        status_of(&f->srv, "PATCH", path, "{\"disabled\":true}", f->admin_cookie, NULL), 409);
    assert_int_equal(status_of(&f->srv, "GET", "/api/v1/users", NULL, f->admin_cookie, NULL), 200);
}

static void audit__records_sign_ins_and_changes(void **state)
{
    struct fixture *f = *state;
    assert_true(audit_has(f, "auth.login", "admin"));
    assert_true(audit_has(f, "auth.login_failed", NULL));
    assert_true(audit_has(f, "auth.logout", "manager1"));
    assert_true(audit_has(f, "user.create", "cli"));   /* the harness's accounts */
    assert_true(audit_has(f, "user.create", "admin")); /* over HTTP */
    assert_true(audit_has(f, "user.update", "admin"));
    assert_true(audit_has(f, "token.create", "admin"));
    assert_true(audit_has(f, "token.revoke", "admin"));

    /* no passwords in the trail, right or wrong ones */
    struct ht_resp r;
    assert_int_equal(
        req(&f->srv, "GET", "/api/v1/audit?limit=500", NULL, f->admin_cookie, NULL, &r), 200);
    static const char *const secrets[] = {"admin-pass-1",   "victim-pass",  "not-the-password",
                                          "wrong-password", "clerk-pass-1", "whatever-pass",
                                          "operator1-pass", "manager1-pass"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        assert_null(strstr(r.body, secrets[i]));
    ht_resp_free(&r);

    /* paging goes from newest to older */
    assert_int_equal(req(&f->srv, "GET", "/api/v1/audit?limit=2", NULL, f->admin_cookie, NULL, &r),
                     200);
    json_t *items = json_object_get(r.json, "items");
    assert_int_equal(json_array_size(items), 2);
    json_int_t first = json_integer_value(json_object_get(json_array_get(items, 0), "id"));
    json_int_t second = json_integer_value(json_object_get(json_array_get(items, 1), "id"));
    assert_true(first > second);
    const char *next = json_string_value(json_object_get(r.json, "next_cursor"));
    assert_non_null(next);
    char path[96];
    snprintf(path, sizeof path, "/api/v1/audit?limit=2&cursor=%s", next);
    ht_resp_free(&r);
    assert_int_equal(req(&f->srv, "GET", path, NULL, f->admin_cookie, NULL, &r), 200);
    json_int_t third = json_integer_value(
        json_object_get(json_array_get(json_object_get(r.json, "items"), 0), "id"));
    assert_true(third < second);
    ht_resp_free(&r);

    /* records made over HTTP carry the address and the request id */
    assert_int_equal(req(&f->srv, "GET", "/api/v1/audit?action=token.create&limit=500", NULL,
                         f->admin_cookie, NULL, &r),
                     200);
    size_t i, seen = 0;
    json_t *e;
    json_array_foreach(json_object_get(r.json, "items"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "actor")), "admin") != 0)
            continue;
        assert_string_equal(json_string_value(json_object_get(e, "ip")), "127.0.0.1");
        assert_true(strlen(json_string_value(json_object_get(e, "request_id"))) > 0);
        assert_true(json_integer_value(json_object_get(e, "actor_id")) > 0);
        assert_int_equal(strncmp(json_string_value(json_object_get(e, "target")), "token:", 6), 0);
        seen++;
    }
    assert_true(seen >= 2);
    ht_resp_free(&r);

    assert_int_equal(
        status_of(&f->srv, "GET", "/api/v1/audit?cursor=abc", NULL, f->admin_cookie, NULL), 400);
}

static void cli__user_and_token_commands(void **state)
{
    struct fixture *f = *state;
    char out[4096];

    /* user add without --password-stdin prints a generated password once */
    const char *add[] = {"user", "add", "cli-made", "--role", "agent", "--name", "CLI Made", NULL};
    assert_int_equal(ht_cli(&f->srv, add, out, sizeof out), 0);
    char *pw = strstr(out, "password: ");
    assert_non_null(pw);
    pw += strlen("password: ");
    pw[strcspn(pw, "\n")] = '\0';
    assert_true(strlen(pw) >= 8);
    char cookie[256];
    login_ok(&f->srv, "cli-made", pw, cookie, sizeof cookie);

    const char *list[] = {"user", "list", NULL};
    assert_int_equal(ht_cli(&f->srv, list, out, sizeof out), 0);
    assert_non_null(strstr(out, "LOGIN"));
    assert_non_null(strstr(out, "cli-made"));
    assert_non_null(strstr(out, "associate1"));

    const char *dup[] = {"user", "add", "cli-made", "--role", "agent", NULL};
    assert_int_equal(ht_cli(&f->srv, dup, out, sizeof out), 1);
    const char *bad_role[] = {"user", "add", "someone", "--role", "king", NULL};
    assert_int_equal(ht_cli(&f->srv, bad_role, out, sizeof out), 2);
    const char *no_role[] = {"user", "add", "someone", NULL};
    assert_int_equal(ht_cli(&f->srv, no_role, out, sizeof out), 2);
    const char *bad_sub[] = {"user", "frobnicate", NULL};
    assert_int_equal(ht_cli(&f->srv, bad_sub, out, sizeof out), 2);

    /* disable ends their session; enable lets them back in */
    const char *dis[] = {"user", "disable", "cli-made", NULL};
    assert_int_equal(ht_cli(&f->srv, dis, out, sizeof out), 0);
    assert_int_equal(status_of(&f->srv, "GET", "/api/v1/auth/me", NULL, cookie, NULL), 401);
    const char *en[] = {"user", "enable", "cli-made", NULL};
    assert_int_equal(ht_cli(&f->srv, en, out, sizeof out), 0);
    const char *nobody[] = {"user", "disable", "nobody-at-all", NULL};
    assert_int_equal(ht_cli(&f->srv, nobody, out, sizeof out), 1);

    /* passwd: a new generated password works, the old one not */
    const char *passwd[] = {"user", "passwd", "cli-made", NULL};
    assert_int_equal(ht_cli(&f->srv, passwd, out, sizeof out), 0);
    char *npw = strstr(out, "password: ");
    assert_non_null(npw);
    npw += strlen("password: ");
    npw[strcspn(npw, "\n")] = '\0';
    login_ok(&f->srv, "cli-made", npw, cookie, sizeof cookie);

    /* token create prints the token alone on stdout; revoke ends it */
    const char *tc[] = {"token", "create", "erp", "--user", "manager1", NULL};
    assert_int_equal(ht_cli(&f->srv, tc, out, sizeof out), 0);
    out[strcspn(out, "\n")] = '\0';
    assert_int_equal(strncmp(out, "hk_", 3), 0);
    char token[128];
    assert_true(strlen(out) < sizeof token);
    memcpy(token, out, strlen(out) + 1);
    struct ht_resp r;
    assert_int_equal(req(&f->srv, "GET", "/api/v1/auth/me", NULL, NULL, token, &r), 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "role")), "manager");
    ht_resp_free(&r);

    const char *tl[] = {"token", "list", NULL};
    assert_int_equal(ht_cli(&f->srv, tl, out, sizeof out), 0);
    assert_non_null(strstr(out, "erp"));
    assert_null(strstr(out, token));
    /* the id of "erp" is the first column of its line */
    char *line = strstr(out, "erp");
    while (line > out && line[-1] != '\n')
        line--;
    char id[24];
    snprintf(id, sizeof id, "%lld", strtoll(line, NULL, 10));
    const char *tr[] = {"token", "revoke", id, NULL};
    assert_int_equal(ht_cli(&f->srv, tr, out, sizeof out), 0);
    assert_int_equal(status_of(&f->srv, "GET", "/api/v1/auth/me", NULL, NULL, token), 401);
    const char *tr_bad[] = {"token", "revoke", "x", NULL};
    assert_int_equal(ht_cli(&f->srv, tr_bad, out, sizeof out), 2);
    const char *tr_none[] = {"token", "revoke", "999999", NULL};
    assert_int_equal(ht_cli(&f->srv, tr_none, out, sizeof out), 1);

    /* a token made without --user acts as an admin */
    const char *tc2[] = {"token", "create", "backup", NULL};
    assert_int_equal(ht_cli(&f->srv, tc2, out, sizeof out), 0);
    out[strcspn(out, "\n")] = '\0';
    assert_int_equal(status_of(&f->srv, "GET", "/api/v1/users", NULL, NULL, out), 200);
}

/* Own server: short sessions, and a low per-address limit. */
static void auth__session_expires_and_address_is_throttled(void **state)
{
    (void)state;
    static const char *const env[] = {"HUIKE_SESSION_TTL=2", "HUIKE_LOGIN_MAX_FAIL=5",
                                      "HUIKE_LOGIN_MAX_FAIL_IP=3", NULL};
    struct ht_server s;
    assert_int_equal(ht_server_start(&s, env), 0);

    char cookie[256];
    login_ok(&s, "agent1", "agent1-pass", cookie, sizeof cookie);
    assert_int_equal(status_of(&s, "GET", "/api/v1/auth/me", NULL, cookie, NULL), 200);
    sleep(3);
    struct ht_resp r;
    assert_int_equal(req(&s, "GET", "/api/v1/auth/me", NULL, cookie, NULL, &r), 401);
    assert_non_null(strstr(r.body, "expired"));
    ht_resp_free(&r);

    /* three failures on different accounts from one address: the address is throttled */
    const char *logins[] = {"ghost-a", "ghost-b", "operator1"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(login_status(&s, logins[i], "wrong-password", &r), 401);
        ht_resp_free(&r);
    }
    assert_int_equal(login_status(&s, "manager1", "manager1-pass", &r), 429);
    assert_non_null(strstr(r.body, "address"));
    char ra[32];
    assert_non_null(ht_resp_header(&r, "Retry-After", ra, sizeof ra));
    ht_resp_free(&r);

    assert_int_equal(ht_server_stop(&s), 0);
}

int main(void)
{
    const struct CMUnitTest shared[] = {
        cmocka_unit_test(auth__each_role_signs_in_and_only_admin_lists_users),
        cmocka_unit_test(auth__rejects_missing_and_bad_credentials),
        cmocka_unit_test(auth__throttles_an_account_after_max_failures),
        cmocka_unit_test(auth__logout_ends_the_session),
        cmocka_unit_test(auth__api_token_works_until_revoked),
        cmocka_unit_test(users__create_update_disable_and_conflicts),
        cmocka_unit_test(cli__user_and_token_commands),
        cmocka_unit_test(audit__records_sign_ins_and_changes),
    };
    const struct CMUnitTest own[] = {
        cmocka_unit_test(auth__session_expires_and_address_is_throttled),
    };
    int failed = cmocka_run_group_tests_name("auth", shared, group_setup, group_teardown);
    failed += cmocka_run_group_tests_name("auth_own_server", own, NULL, NULL);
    return failed;
}
