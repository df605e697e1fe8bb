/*
 * static.c — serves the built web console from cfg.web_root.
 *
 * Resolution of a request path P (already percent-decoded, without the query):
 *   1. P with a segment starting with '.' (".", "..", dot-files) or a backslash: 404. Nothing
 *      outside web_root is reachable: the candidate is resolved with realpath() and must lie
 *      under realpath(web_root) + "/" (symlinks pointing out are refused the same way).
 *   2. "/" and directories mean their index.html.
 *   3. A missing file whose last segment has an extension ("/assets/x.js"): JSON 404. One without
 *      ("/customers/12"): index.html, so the single-page app's router shows the page.
 *   4. web_root missing, or without index.html: JSON 404 saying the console is not built and
 *      how to build it (404 rather than 503: the server itself is healthy, and an unknown path
 *      with no console to fall back to stays the 404 it always was).
 *
 * Replies: Content-Type by extension; hashed build output under /assets/ is cached for a year
 * (immutable), everything else (index.html first) is "no-cache" so a new build shows at once.
 * When the client accepts gzip and "<file>.gz" exists (written by web/scripts/compress.mjs), that
 * is sent with Content-Encoding: gzip. Every file reply carries Vary: Accept-Encoding. The body
 * is sent from the open file descriptor by libmicrohttpd (request.c), never read into memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "http/request_int.h"
#include "http/static.h"
#include "services/app.h"

#define NOT_BUILT_HINT                                                                             \
    "the web console is not built: run `make run` (or `cd web && npm ci && npm run build`)"

struct mime {
    const char *ext;
    const char *type;
};

static const struct mime mimes[] = {
    {"html", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"woff2", "font/woff2"},
    {"woff", "font/woff"},
    {"ttf", "font/ttf"},
    {"json", "application/json; charset=utf-8"},
    {"webmanifest", "application/manifest+json"},
    {"ico", "image/x-icon"},
    {"map", "application/json; charset=utf-8"},
    {"txt", "text/plain; charset=utf-8"},
    {"wasm", "application/wasm"},
};

/* The extension of the last path segment (without the dot), or NULL when it has none. */
static const char *extension(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *last = slash ? slash + 1 : path;
    const char *dot = strrchr(last, '.');
    return dot && dot[1] ? dot + 1 : NULL;
}

static const char *content_type(const char *path)
{
    const char *ext = extension(path);
    if (ext)
        for (size_t i = 0; i < sizeof mimes / sizeof mimes[0]; i++)
            if (strcasecmp(ext, mimes[i].ext) == 0)
                return mimes[i].type;
    return "application/octet-stream";
}

bool hk_static_wants(const struct hk_req *req)
{
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
        return false;
    const char *p = req->path;
    return !(strncmp(p, "/api", 4) == 0 && (p[4] == '\0' || p[4] == '/'));
}

/* Whether path is "/" followed by segments none of which starts with '.', without backslashes. */
static bool path_is_clean(const char *path)
{
    if (path[0] != '/' || strchr(path, '\\'))
        return false;
    for (const char *s = path; (s = strchr(s, '/')) != NULL; s++)
        if (s[1] == '.')
            return false;
    return true;
}

/* Whether the Accept-Encoding header lists gzip without q=0. */
static bool accepts_gzip(const char *ae)
{
    if (!ae)
        return false;
    for (const char *s = ae; *s;) {
        while (*s == ' ' || *s == ',')
            s++;
        size_t n = strcspn(s, ",");
        size_t tok = strcspn(s, ";,");
        while (tok > 0 && s[tok - 1] == ' ')
            tok--;
        if ((tok == 4 && strncasecmp(s, "gzip", 4) == 0) || (tok == 1 && s[0] == '*')) {
            const char *q = memchr(s, ';', n);
            if (!q)
                return true;
            q++;
            while (*q == ' ')
                q++;
            /* "q=0", "q=0.0", "q=0.000": refused; anything else accepts */
            if (!(strncasecmp(q, "q=0", 3) == 0 && strspn(q + 3, ".0") == strcspn(q + 3, ", ")))
                return true;
        }
        s += n;
    }
    return false;
}

static void reply_json_error(struct hk_req *req, int status, const char *code, const char *message)
{
    json_t *body = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
    if (!body || hk_reply_json(req, status, body) != 0)
        hk_req_reply_error(req, HK_E(NOMEM), NULL);
}

static void not_found(struct hk_req *req)
{
    char msg[320];
    snprintf(msg, sizeof msg, "no such file: %.256s", req->path);
    reply_json_error(req, 404, "not_found", msg);
}

/* Whether resolved lies inside root (both from realpath; root without a trailing slash). */
static bool inside(const char *root, const char *resolved)
{
    size_t n = strlen(root);
    if (n == 1 && root[0] == '/')
        return resolved[0] == '/';
    return strncmp(resolved, root, n) == 0 && resolved[n] == '/';
}

/* Opens a regular file; -1 when it is missing, not regular or unreadable. */
static int open_regular(const char *path, off_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -1;
    }
    *size = st.st_size;
    return fd;
}

/* Queues the file at resolved (inside root) as the reply, or its .gz twin when accepted. */
static int reply_file(struct hk_req *req, const char *resolved, bool immutable)
{
    off_t size = 0;
    int fd = -1;
    bool gz = false;
    if (accepts_gzip(hk_req_header(req, "Accept-Encoding"))) {
        char gzpath[PATH_MAX + 4];
        int w = snprintf(gzpath, sizeof gzpath, "%s.gz", resolved);
        if (w > 0 && (size_t)w < sizeof gzpath && (fd = open_regular(gzpath, &size)) >= 0)
            gz = true;
    }
    if (fd < 0 && (fd = open_regular(resolved, &size)) < 0)
        return -1;
    req->file_fd = fd;
    req->file_size = (uint64_t)size;
    req->has_file = true;
    req->file_type = content_type(resolved);
    hk_reply_status(req, 200);
    hk_reply_header(req, "Vary", "Accept-Encoding");
    if (gz)
        hk_reply_header(req, "Content-Encoding", "gzip");
    hk_reply_header(req, "Cache-Control",
                    immutable ? "public, max-age=31536000, immutable" : "no-cache");
    if (strcmp(extension(resolved) ? extension(resolved) : "", "html") == 0)
        hk_reply_header(req, "Content-Security-Policy",
                        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                        "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
                        "object-src 'none'; base-uri 'self'; form-action 'self'; "
                        "frame-ancestors 'none'");
    return 0;
}

void hk_static_serve(struct hk_req *req)
{
    const char *web_root = req->app->cfg.web_root;
    char root[PATH_MAX], index[PATH_MAX + 16], cand[PATH_MAX * 2], resolved[PATH_MAX];

    if (!web_root || !*web_root || !realpath(web_root, root)) {
        reply_json_error(req, 404, "not_found", NOT_BUILT_HINT);
        return;
    }
    int w = snprintf(index, sizeof index, "%s/index.html", root);
    struct stat st;
    if (w < 0 || (size_t)w >= sizeof index || stat(index, &st) != 0 || !S_ISREG(st.st_mode)) {
        reply_json_error(req, 404, "not_found", NOT_BUILT_HINT);
        return;
    }
    const char *path = req->path;
    if (!path_is_clean(path)) {
        not_found(req);
        return;
    }

    w = snprintf(cand, sizeof cand, "%s%s", root, path);
    bool found = w > 0 && (size_t)w < sizeof cand && realpath(cand, resolved) != NULL &&
                 inside(root, resolved) && stat(resolved, &st) == 0;
    if (found && S_ISDIR(st.st_mode)) {
        /* a directory: its index.html (the root's is the console itself) */
        size_t n = strlen(resolved);
        found = n + sizeof "/index.html" <= sizeof resolved;
        if (found) {
            memcpy(resolved + n, "/index.html", sizeof "/index.html");
            found = stat(resolved, &st) == 0 && S_ISREG(st.st_mode);
        }
    }
    if (found) {
        bool immutable = strncmp(path, "/assets/", 8) == 0;
        if (reply_file(req, resolved, immutable) == 0)
            return;
    } else if (extension(path) == NULL) {
        /* a route of the single-page app: the app itself */
        if (reply_file(req, index, false) == 0)
            return;
    }
    not_found(req);
}
