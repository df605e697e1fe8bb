/*
 * router.c — the route table (routes.def) as constant data, path matching, authentication and
 * role checks in front of every handler.
 *
 * Matching: a pattern is literal text with {name} placeholders, each matching one non-empty
 * path segment (no '/'). The table is small and scanned in order; the first route whose pattern
 * and method both match wins. HEAD is served by the GET route (MHD omits the body). A path that
 * matches only with other methods gets 405 and an Allow header listing them; no match is 404.
 *
 * Authentication (routes whose roles are not HK_ROLES_PUBLIC):
 *   - "Authorization: Bearer <token>" -> hk_auth_token. Any other Authorization scheme is 401.
 *   - else the session cookie huike_session -> hk_auth_session. For unsafe methods (anything but
 *     GET/HEAD/OPTIONS) an Origin header, when present, must name the same host as Host: a CSRF
 *     defence on top of the cookie's SameSite=Strict. Bearer tokens are not sent ambiently by
 *     browsers, so they need no such check.
 *   - no credentials: 401. A principal whose role bit is not in the route's mask: 403.
 *
 * Threads: the table is read-only; everything else is per request.
 */
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/util.h"
#include "http/handlers.h"
#include "http/request_int.h"
#include "http/router.h"
#include "services/accounts.h"

#define SESSION_COOKIE "huike_session"

struct hk_route {
    const char *method;
    const char *pattern;
    hk_handler_fn fn;
    int roles;
};

static const struct hk_route routes[] = {
#define HK_ROUTE(method, pattern, handler, roles) {#method, pattern, handler, roles},
#include "http/routes.def"
#undef HK_ROUTE
};

/*
 * Whether path matches pattern. When req is non-NULL, records the {name} segments as path
 * parameters (only call it so for the route finally chosen). Returns 1 on a match, 0 when not,
 * or a negative HK_E code when recording failed.
 */
static int match(const char *pattern, const char *path, struct hk_req *req)
{
    const char *p = pattern, *s = path;
    while (*p) {
        if (*p == '{') {
            const char *name = p + 1;
            const char *close = strchr(name, '}');
            if (!close)
                return 0; /* malformed pattern: never matches */
            size_t seg = strcspn(s, "/");
            if (seg == 0)
                return 0;
            if (req) {
                int rc = hk_req_add_param(req, name, (size_t)(close - name), s, seg);
                if (rc != 0)
                    return rc;
            }
            p = close + 1;
            s += seg;
            continue;
        }
        if (*p != *s)
            return 0;
        p++;
        s++;
    }
    return *s == '\0';
}

static bool method_is(const char *m, const char *want)
{
    return strcmp(m, want) == 0;
}

static bool method_matches(const struct hk_route *r, const char *method)
{
    return method_is(method, r->method) ||
           (method_is(method, "HEAD") && method_is(r->method, "GET"));
}

static bool is_safe_method(const char *m)
{
    return method_is(m, "GET") || method_is(m, "HEAD") || method_is(m, "OPTIONS");
}

/* "GET, HEAD, POST": the methods the path accepts, each once, in table order. */
static void allowed_methods(const char *path, char *out, size_t size)
{
    out[0] = '\0';
    size_t len = 0;
    for (size_t i = 0; i < HK_ARRAY_LEN(routes); i++) {
        if (match(routes[i].pattern, path, NULL) != 1)
            continue;
        const char *add[2] = {routes[i].method, method_is(routes[i].method, "GET") ? "HEAD" : NULL};
        for (int k = 0; k < 2 && add[k]; k++) {
            /* skip duplicates: compare against the comma-separated list so far */
            bool dup = false;
            for (const char *q = out; *q;) {
                size_t n = strcspn(q, ",");
                if (n == strlen(add[k]) && strncmp(q, add[k], n) == 0)
                    dup = true;
                q += n;
                while (*q == ',' || *q == ' ')
                    q++;
            }
            if (dup)
                continue;
            int w = snprintf(out + len, size - len, "%s%s", len ? ", " : "", add[k]);
            if (w < 0 || (size_t)w >= size - len)
                return;
            len += (size_t)w;
        }
    }
}

/* Whether Origin ("https://host:port") names the same host[:port] as the Host header. */
static bool origin_matches_host(const char *origin, const char *host)
{
    if (!host || !*host)
        return false;
    const char *o = NULL;
    if (strncasecmp(origin, "http://", 7) == 0)
        o = origin + 7;
    else if (strncasecmp(origin, "https://", 8) == 0)
        o = origin + 8;
    else
        return false; /* "null" (sandboxed pages, file:) and anything else */
    size_t n = strlen(o);
    if (n > 0 && o[n - 1] == '/')
        n--;
    return n == strlen(host) && strncasecmp(o, host, n) == 0;
}

static int authenticate(struct hk_req *req, const struct hk_route *route, struct hk_err *err)
{
    struct hk_principal p;
    memset(&p, 0, sizeof p);
    int rc;
    const char *authz = hk_req_header(req, "Authorization");
    if (authz) {
        if (strncasecmp(authz, "Bearer ", 7) != 0)
            return hk_err_set(err, HK_E(UNAUTHENTICATED),
                              "send an API token as 'Authorization: Bearer <token>'");
        const char *token = authz + 7;
        while (*token == ' ')
            token++;
        if (!*token)
            return hk_err_set(err, HK_E(UNAUTHENTICATED), "the bearer token is empty");
        if ((rc = hk_auth_token(req->app, token, &p, err)) != 0)
            return rc;
    } else {
        const char *session = hk_req_cookie(req, SESSION_COOKIE);
        if (!session || !*session)
            return hk_err_set(err, HK_E(UNAUTHENTICATED),
                              "sign in or send an API token (Authorization: Bearer <token>)");
        const char *origin = hk_req_header(req, "Origin");
        if (!is_safe_method(req->method) && origin &&
            !origin_matches_host(origin, hk_req_header(req, "Host")))
            return hk_err_set(err, HK_E(FORBIDDEN),
                              "cross-origin request refused: Origin does not match Host");
        if ((rc = hk_auth_session(req->app, session, &p, err)) != 0)
            return rc;
    }
    if (!(p.role & route->roles))
        return hk_err_set(err, HK_E(FORBIDDEN), "the role %s may not use %s %s",
                          hk_role_name(p.role), route->method, route->pattern);
    req->principal = p;
    req->authenticated = true;
    return 0;
}

void hk_router_dispatch(struct hk_req *req)
{
    struct hk_err err;
    hk_err_clear(&err);
    const struct hk_route *route = NULL;
    bool path_known = false;
    int rc;

    for (size_t i = 0; i < HK_ARRAY_LEN(routes) && !route; i++) {
        if (match(routes[i].pattern, req->path, NULL) != 1)
            continue;
        path_known = true;
        if (method_matches(&routes[i], req->method))
            route = &routes[i];
    }
    if (!route && path_known) {
        char allow[128];
        allowed_methods(req->path, allow, sizeof allow);
        hk_err_set(&err, HK_E(METHOD), "%.16s is not allowed on %.200s; allowed: %s", req->method,
                   req->path, allow);
        hk_req_reply_error(req, HK_E(METHOD), &err);
        hk_reply_header(req, "Allow", allow);
        return;
    }
    if (!route) {
        hk_err_set(&err, HK_E(NOTFOUND), "no such API route: %.200s", req->path);
        hk_req_reply_error(req, HK_E(NOTFOUND), &err);
        return;
    }
    if ((rc = match(route->pattern, req->path, req)) != 1) {
        hk_req_reply_error(req, rc < 0 ? rc : HK_E(INTERNAL), NULL);
        return;
    }
    if (route->roles != HK_ROLES_PUBLIC && (rc = authenticate(req, route, &err)) != 0) {
        hk_req_reply_error(req, rc, &err);
        if (rc == HK_E(UNAUTHENTICATED))
            hk_reply_header(req, "WWW-Authenticate", "Bearer realm=\"huike\"");
        return;
    }

    rc = route->fn(req, &err);
    if (rc != 0) {
        hk_req_reply_error(req, rc, &err);
    } else if (req->status == 0) {
        hk_err_set(&err, HK_E(INTERNAL), "handler for %s %s set no reply", route->method,
                   route->pattern);
        hk_req_reply_error(req, HK_E(INTERNAL), &err);
    }
}
