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
 * Streaming routes (HK_STREAM_ROUTE: uploads) are picked and authenticated as soon as the
 * headers arrive (hk_router_begin), so an unauthenticated or unauthorised upload is refused
 * before its body is read; their body goes to the route's sink piece by piece
 * (hk_router_stream_open, hk_router_stream_data) and their handler runs at the end of the body
 * from hk_router_dispatch like any other. Other routes are routed once the body is complete.
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
#include "http/static.h"
#include "services/accounts.h"
#include "services/app.h"

#define SESSION_COOKIE "huike_session"

struct hk_route {
    const char *method;
    const char *pattern;
    hk_handler_fn fn;
    hk_sink_fn sink; /* streaming routes only, else NULL */
    int roles;
};

static const struct hk_route routes[] = {
#define HK_ROUTE(method, pattern, handler, roles) {#method, pattern, handler, NULL, roles},
#define HK_STREAM_ROUTE(method, pattern, sink, handler, roles)                                     \
    {#method, pattern, handler, sink, roles},
#include "http/routes.def"
#undef HK_STREAM_ROUTE
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

/* The first route matching req's path and method, or NULL; *path_known: whether any route has
   this path (with another method, when NULL is returned). */
static const struct hk_route *find_route(const struct hk_req *req, bool *path_known)
{
    const struct hk_route *route = NULL;
    *path_known = false;
    for (size_t i = 0; i < HK_ARRAY_LEN(routes) && !route; i++) {
        if (match(routes[i].pattern, req->path, NULL) != 1)
            continue;
        *path_known = true;
        if (method_matches(&routes[i], req->method))
            route = &routes[i];
    }
    return route;
}

/* Records the path parameters and authenticates for route; on failure sets the error reply. */
static int admit(struct hk_req *req, const struct hk_route *route)
{
    struct hk_err err;
    hk_err_clear(&err);
    int rc = match(route->pattern, req->path, req);
    if (rc != 1) {
        hk_req_reply_error(req, rc < 0 ? rc : HK_E(INTERNAL), NULL);
        return rc < 0 ? rc : HK_E(INTERNAL);
    }
    if (route->roles != HK_ROLES_PUBLIC && (rc = authenticate(req, route, &err)) != 0) {
        hk_req_reply_error(req, rc, &err);
        if (rc == HK_E(UNAUTHENTICATED))
            hk_reply_header(req, "WWW-Authenticate", "Bearer realm=\"huike\"");
        return rc;
    }
    return 0;
}

static void run_handler(struct hk_req *req, const struct hk_route *route)
{
    struct hk_err err;
    hk_err_clear(&err);
    int rc = route->fn(req, &err);
    if (rc != 0) {
        hk_req_reply_error(req, rc, &err);
    } else if (req->status == 0) {
        hk_err_set(&err, HK_E(INTERNAL), "handler for %s %s set no reply", route->method,
                   route->pattern);
        hk_req_reply_error(req, HK_E(INTERNAL), &err);
    }
}

bool hk_router_begin(struct hk_req *req)
{
    bool path_known;
    const struct hk_route *route = find_route(req, &path_known);
    if (!route || !route->sink)
        return false;
    req->route = route;
    req->route_streams = true;
    (void)admit(req, route); /* on failure the error reply is set: the caller sends it */
    return true;
}

/* A failed streaming request drops its state before the error reply is queued, so whatever the
   state's release undoes (a half upload) is gone by the time the client hears of the failure. */
static void stream_failed(struct hk_req *req, int code, const struct hk_err *err)
{
    hk_req_set_state(req, NULL, NULL);
    hk_req_reply_error(req, code, err);
}

void hk_router_stream_open(struct hk_req *req)
{
    struct hk_err err;
    hk_err_clear(&err);
    int rc = req->route->sink(req, NULL, 0, &err);
    if (rc != 0) {
        stream_failed(req, rc, &err);
        return;
    }
    req->stream_open = true;
}

void hk_router_stream_data(struct hk_req *req, const char *data, size_t len)
{
    if (req->stream_error || len == 0)
        return;
    int64_t limit = req->app->cfg.upload_limit;
    if ((uint64_t)len > (uint64_t)(limit - req->streamed)) {
        req->stream_error =
            hk_err_set(&req->stream_err, HK_E(TOOLARGE),
                       "the upload is larger than the limit of %lld bytes", (long long)limit);
        return;
    }
    req->streamed += (int64_t)len;
    hk_err_clear(&req->stream_err);
    int rc = req->route->sink(req, data, len, &req->stream_err);
    if (rc != 0)
        req->stream_error = rc;
}

void hk_router_dispatch(struct hk_req *req)
{
    struct hk_err err;
    hk_err_clear(&err);
    bool path_known = false;

    if (req->route_streams) {
        /* Admitted and fed when the headers arrived; a failure then was replied at once. */
        if (req->stream_error) {
            stream_failed(req, req->stream_error, &req->stream_err);
            return;
        }
        run_handler(req, req->route);
        if (req->status >= 400)
            hk_req_set_state(req, NULL, NULL);
        return;
    }
    if (hk_static_wants(req)) { /* GET/HEAD outside /api/: the web console's files */
        hk_static_serve(req);
        return;
    }
    const struct hk_route *route = find_route(req, &path_known);
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
    if (admit(req, route) != 0)
        return;
    run_handler(req, route);
}
