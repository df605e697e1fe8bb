/*
 * request.c — struct hk_req: what a handler reads (path parameters, query, headers, cookies,
 * body, the body as JSON) and how it replies (JSON body, status, extra headers).
 *
 * Memory: each request has an arena, a chain of blocks freed at once by hk_req_free, for the
 * small strings it collects (method, path, parameters, reply headers). The body is a capped
 * strbuf; json_t values (parsed body, reply) are owned by the request and released with it, as
 * is a streaming handler's state (hk_req_set_state). Header, cookie and query values are MHD's
 * own strings, valid for the whole request.
 *
 * Invariants: a request carries at most one reply (setting another replaces it); the reply is
 * serialised only in hk_req_send, once. Error replies always have the shape
 *   {"error": {"code": "<api string>", "message": "<text>"}}
 * with the status from the error table.
 *
 * Threads: a request belongs to the one worker thread that runs it; nothing here locks.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "http/request_int.h"
#include "services/app.h"

#define ARENA_BLOCK 4096

struct hk_req_chunk {
    struct hk_req_chunk *next;
    size_t used, size;
    alignas(max_align_t) unsigned char data[];
};

struct hk_reply_hdr {
    struct hk_reply_hdr *next;
    const char *name, *value; /* arena */
};

/* ---- arena --------------------------------------------------------------------------------- */

void *hk_req_alloc(struct hk_req *req, size_t n)
{
    const size_t align = alignof(max_align_t);
    n = (n + align - 1) & ~(align - 1);
    if (n == 0)
        n = align;
    struct hk_req_chunk *c = req->arena;
    if (c && c->size - c->used >= n) {
        void *p = c->data + c->used;
        c->used += n;
        return p;
    }
    size_t size = n > ARENA_BLOCK / 2 ? n : ARENA_BLOCK;
    if (size > SIZE_MAX - sizeof *c)
        return NULL;
    struct hk_req_chunk *nc = malloc(sizeof *nc + size);
    if (!nc)
        return NULL;
    nc->size = size;
    nc->used = n;
    if (c && size != ARENA_BLOCK) {
        /* A large block: keep the current block in front so its free space stays usable. */
        nc->next = c->next;
        c->next = nc;
    } else {
        nc->next = c;
        req->arena = nc;
    }
    return nc->data;
}

char *hk_req_strndup(struct hk_req *req, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *p = hk_req_alloc(req, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

/* A client-supplied request id is honoured when it cannot smuggle anything into logs. */
static bool request_id_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= HK_REQ_ID_MAX - 1)
            return false;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return n > 0;
}

static void client_ip(struct MHD_Connection *conn, char *out, size_t size)
{
    hk_strlcpy(out, "-", size);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &in4->sin_addr, out, (socklen_t)size);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, out, (socklen_t)size);
    }
}

struct hk_req *hk_req_new(struct hk_app *app, struct MHD_Connection *conn, const char *method,
                          const char *url)
{
    struct hk_req *req = calloc(1, sizeof *req);
    if (!req)
        return NULL;
    req->app = app;
    req->conn = conn;
    req->start_ms = hk_monotonic_ms();
    hk_strbuf_init(&req->body, (size_t)app->cfg.body_limit);
    req->method = hk_req_strndup(req, method, strlen(method));
    req->path = hk_req_strndup(req, url, strlen(url));
    if (!req->method || !req->path)
        goto fail;
    const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    if (rid && request_id_ok(rid))
        hk_strlcpy(req->id, rid, sizeof req->id);
    else
        hk_request_id(req->id, sizeof req->id);
    client_ip(conn, req->ip, sizeof req->ip);
    return req;

fail:
    hk_req_free(req);
    return NULL;
}

void hk_req_free(struct hk_req *req)
{
    if (!req)
        return;
    if (req->state_release)
        req->state_release(req->state);
    if (req->has_file)
        close(req->file_fd);
    if (req->stream_fn && req->stream_release)
        req->stream_release(req->stream_ctx);
    json_decref(req->json);
    json_decref(req->reply_body);
    hk_strbuf_release(&req->body);
    struct hk_req_chunk *c = req->arena;
    while (c) {
        struct hk_req_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(req);
}

int hk_req_body_append(struct hk_req *req, const char *data, size_t len)
{
    if (req->body_too_large)
        return HK_E(TOOLARGE);
    size_t limit = (size_t)req->app->cfg.body_limit;
    if (len > limit || req->body.len > limit - len) {
        req->body_too_large = true;
        hk_strbuf_release(&req->body);
        return HK_E(TOOLARGE);
    }
    return hk_strbuf_add(&req->body, data, len);
}

int hk_req_add_param(struct hk_req *req, const char *name, size_t name_len, const char *value,
                     size_t value_len)
{
    if (req->nparams >= HK_REQ_PARAMS_MAX)
        return HK_E(INTERNAL);
    const char *n = hk_req_strndup(req, name, name_len);
    const char *v = hk_req_strndup(req, value, value_len);
    if (!n || !v)
        return HK_E(NOMEM);
    req->param_names[req->nparams] = n;
    req->param_values[req->nparams] = v;
    req->nparams++;
    return 0;
}

void *hk_req_state(struct hk_req *req)
{
    return req->state;
}

void hk_req_set_state(struct hk_req *req, void *state, void (*release)(void *state))
{
    if (req->state_release)
        req->state_release(req->state);
    req->state = state;
    req->state_release = release;
}

/* ---- reading ------------------------------------------------------------------------------- */

struct hk_app *hk_req_app(struct hk_req *req)
{
    return req->app;
}

const char *hk_req_method(struct hk_req *req)
{
    return req->method;
}

const char *hk_req_path(struct hk_req *req)
{
    return req->path;
}

const char *hk_req_id(struct hk_req *req)
{
    return req->id;
}

const char *hk_req_ip(struct hk_req *req)
{
    return req->ip;
}

const struct hk_principal *hk_req_principal(struct hk_req *req)
{
    return req->authenticated ? &req->principal : NULL;
}

struct hk_actor hk_req_actor(struct hk_req *req)
{
    struct hk_actor a = {.who = hk_req_principal(req), .ip = req->ip, .req_id = req->id};
    return a;
}

const char *hk_req_param(struct hk_req *req, const char *name)
{
    for (int i = 0; i < req->nparams; i++)
        if (strcmp(req->param_names[i], name) == 0)
            return req->param_values[i];
    return NULL;
}

int hk_req_param_id(struct hk_req *req, const char *name, int64_t *out, struct hk_err *err)
{
    const char *v = hk_req_param(req, name);
    if (!v)
        return hk_err_set(err, HK_E(NOTFOUND), "no %s in the path", name);
    int64_t id = 0;
    size_t n = strlen(v);
    /* Digits only: "+5", "-1" and " 5" are not ids. */
    bool digits = n > 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            digits = false;
    if (!digits || hk_parse_int64(v, n, &id) != 0 || id <= 0)
        return hk_err_set(err, HK_E(NOTFOUND), "'%.40s' is not a valid %s", v, name);
    *out = id;
    return 0;
}

const char *hk_req_query(struct hk_req *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *hk_req_header(struct hk_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *hk_req_cookie(struct hk_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name);
}

const char *hk_req_body(struct hk_req *req, size_t *len)
{
    if (len)
        *len = req->body.len;
    return req->body.buf;
}

/* application/json or any application/<x>+json, parameters (charset) ignored. */
static bool is_json_media_type(const char *ct)
{
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    while (n > 0 && (*ct == ' ' || *ct == '\t')) {
        ct++;
        n--;
    }
    if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
        return true;
    return n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
           strncasecmp(ct + n - 5, "+json", 5) == 0;
}

int hk_req_json(struct hk_req *req, json_t **out, struct hk_err *err)
{
    if (req->json) {
        *out = req->json;
        return 0;
    }
    /* A missing Content-Type is tolerated (minimal clients); a different one is not: HTML
     * forms cannot send application/json, so this also blocks form-based CSRF. (curl -d sends
     * a form type: use -H 'Content-Type: application/json'.) */
    const char *ct = hk_req_header(req, "Content-Type");
    if (ct && !is_json_media_type(ct))
        return hk_err_set(err, HK_E(MEDIATYPE), "send the body as application/json, not %.60s", ct);
    if (req->body.len == 0)
        return hk_err_set(err, HK_E(INVAL), "the request body is empty; send a JSON object");
    json_error_t jerr;
    json_t *j = json_loadb(req->body.buf, req->body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return hk_err_set(err, HK_E(BADJSON), "malformed JSON at line %d column %d: %s", jerr.line,
                          jerr.column, jerr.text);
    if (!json_is_object(j)) {
        json_decref(j);
        return hk_err_set(err, HK_E(INVAL), "the request body must be a JSON object");
    }
    req->json = j;
    *out = j;
    return 0;
}

/* ---- multipart/form-data ------------------------------------------------------------------ */

/*
 * A thin layer over MHD's post processor, so handlers never see MHD. MHD calls its iterator for
 * each piece of each part with the piece's offset in the part; a part starts at offset 0, but
 * MHD may first report it with an empty piece and then report its first data at offset 0 again.
 * So a piece at offset 0 starts a new part unless the previous call was that empty start of a
 * part with the same name and file name (an empty part followed by an identical one is then
 * seen as one part, which loses nothing).
 */
#define FORM_BUFFER (64 * 1024) /* the post processor's buffer: the largest piece handed over */

struct hk_form {
    struct MHD_PostProcessor *pp;
    hk_form_part_fn fn;
    void *arg;
    int error; /* the callback's failure, 0 while it accepts */
    struct hk_err err;
    bool last_was_empty_start;
    char last_name[128];
    char last_filename[256];
};

static enum MHD_Result form_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *filename, const char *content_type,
                                 const char *transfer_encoding, const char *data, uint64_t off,
                                 size_t size)
{
    struct hk_form *f = cls;
    (void)kind;
    (void)content_type;
    (void)transfer_encoding;
    const char *name = key ? key : "";
    bool first = off == 0;
    if (first && f->last_was_empty_start && strncmp(f->last_name, name, sizeof f->last_name) == 0 &&
        strncmp(f->last_filename, filename ? filename : "", sizeof f->last_filename) == 0)
        first = false;
    f->last_was_empty_start = off == 0 && size == 0;
    if (first) {
        hk_strlcpy(f->last_name, name, sizeof f->last_name);
        hk_strlcpy(f->last_filename, filename ? filename : "", sizeof f->last_filename);
    }
    hk_err_clear(&f->err);
    int rc = f->fn(f->arg, name, filename, first, data, size, &f->err);
    if (rc != 0) {
        f->error = rc;
        return MHD_NO;
    }
    return MHD_YES;
}

bool hk_req_is_multipart(struct hk_req *req)
{
    const char *ct = hk_req_header(req, "Content-Type");
    while (ct && (*ct == ' ' || *ct == '\t'))
        ct++;
    return ct && strncasecmp(ct, "multipart/form-data", 19) == 0;
}

int hk_form_new(struct hk_req *req, hk_form_part_fn fn, void *arg, struct hk_form **out,
                struct hk_err *err)
{
    struct hk_form *f = calloc(1, sizeof *f);
    if (!f)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    f->fn = fn;
    f->arg = arg;
    f->pp = MHD_create_post_processor(req->conn, FORM_BUFFER, form_iter, f);
    if (!f->pp) {
        free(f);
        return hk_err_set(err, HK_E(INVAL),
                          "Content-Type multipart/form-data needs a boundary parameter");
    }
    *out = f;
    return 0;
}

static int form_failed(struct hk_form *f, struct hk_err *err, const char *what)
{
    if (f->error) {
        if (err)
            *err = f->err;
        return f->error;
    }
    return hk_err_set(err, HK_E(INVAL), "%s", what);
}

int hk_form_feed(struct hk_form *f, const char *data, size_t len, struct hk_err *err)
{
    if (f->error || !f->pp)
        return form_failed(f, err, "the multipart/form-data body is malformed");
    if (MHD_post_process(f->pp, data, len) != MHD_YES)
        return form_failed(f, err, "the multipart/form-data body is malformed");
    return 0;
}

int hk_form_finish(struct hk_form *f, struct hk_err *err)
{
    if (f->error || !f->pp)
        return form_failed(f, err, "the multipart/form-data body is malformed");
    enum MHD_Result r = MHD_destroy_post_processor(f->pp);
    f->pp = NULL;
    if (r != MHD_YES || f->error)
        return form_failed(f, err,
                           "the multipart/form-data body ended before its closing boundary");
    return 0;
}

void hk_form_free(struct hk_form *f)
{
    if (!f)
        return;
    if (f->pp)
        MHD_destroy_post_processor(f->pp);
    free(f);
}

/* ---- replying ------------------------------------------------------------------------------ */

int hk_reply_json(struct hk_req *req, int status, json_t *body)
{
    if (!body)
        return HK_E(NOMEM); /* a json_pack that failed; nothing to take */
    if (status < 100 || status > 599) {
        json_decref(body);
        return HK_E(INTERNAL);
    }
    json_decref(req->reply_body);
    req->reply_body = body;
    req->status = status;
    return 0;
}

int hk_reply_status(struct hk_req *req, int status)
{
    if (status < 100 || status > 599)
        return HK_E(INTERNAL);
    json_decref(req->reply_body);
    req->reply_body = NULL;
    req->status = status;
    return 0;
}

/* What MHD runs when the reply needs more body: the handler's producer. */
struct stream_box {
    hk_stream_fn fn;
    void *ctx;
    void (*release)(void *ctx);
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct stream_box *b = cls;
    size_t len = 0;
    if (b->fn(b->ctx, buf, max, &len) < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    return len == 0 ? MHD_CONTENT_READER_END_OF_STREAM : (ssize_t)len;
}

static void stream_free(void *cls)
{
    struct stream_box *b = cls;
    if (b->release)
        b->release(b->ctx);
    free(b);
}

static void drop_stream(struct hk_req *req)
{
    if (req->stream_fn && req->stream_release)
        req->stream_release(req->stream_ctx);
    req->stream_fn = NULL;
    req->stream_ctx = NULL;
    req->stream_release = NULL;
}

int hk_reply_stream(struct hk_req *req, int status, const char *type, hk_stream_fn fn, void *ctx,
                    void (*release)(void *ctx))
{
    drop_stream(req);
    req->stream_fn = fn;
    req->stream_ctx = ctx;
    req->stream_release = release;
    if (status < 100 || status > 599 || !fn)
        return HK_E(INTERNAL);
    req->file_type = hk_req_strndup(req, type, strlen(type));
    if (!req->file_type)
        return HK_E(NOMEM);
    json_decref(req->reply_body);
    req->reply_body = NULL;
    req->status = status;
    return 0;
}

int hk_reply_fd(struct hk_req *req, int status, const char *type, int fd, uint64_t size)
{
    if (req->has_file)
        close(req->file_fd);
    req->has_file = true;
    req->file_fd = fd;
    req->file_size = size;
    if (status < 100 || status > 599)
        return HK_E(INTERNAL);
    req->file_type = hk_req_strndup(req, type, strlen(type));
    if (!req->file_type)
        return HK_E(NOMEM);
    json_decref(req->reply_body);
    req->reply_body = NULL;
    req->status = status;
    return 0;
}

static bool header_text_ok(const char *s, bool is_name)
{
    if (!*s && is_name)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\r' || c == '\n' || c == '\0' || (is_name && (c <= ' ' || c == ':')))
            return false;
    }
    return true;
}

int hk_reply_header(struct hk_req *req, const char *name, const char *value)
{
    if (!header_text_ok(name, true) || !header_text_ok(value, false))
        return HK_E(INVAL);
    struct hk_reply_hdr *h = hk_req_alloc(req, sizeof *h);
    if (!h)
        return HK_E(NOMEM);
    h->next = NULL;
    h->name = hk_req_strndup(req, name, strlen(name));
    h->value = hk_req_strndup(req, value, strlen(value));
    if (!h->name || !h->value)
        return HK_E(NOMEM);
    if (req->hdrs_tail)
        req->hdrs_tail->next = h;
    else
        req->hdrs = h;
    req->hdrs_tail = h;
    return 0;
}

void hk_req_reply_error(struct hk_req *req, int code, const struct hk_err *err)
{
    if (code >= 0)
        code = HK_E(INTERNAL);
    int status = hk_error_http_status(code);
    const char *api = hk_error_api_name(code);
    const char *detail =
        err && err->code == code && err->msg[0] ? err->msg : hk_error_default_message(code);
    char msg[HK_ERR_MSG_MAX + 96];
    if (status >= 500 && status != 503) {
        /* The detail (a database's reason, an errno) is for the operator, not the client. */
        hk_log_kv(&req->app->log, HK_LOG_ERROR, "http.error", req->id, "method", req->method,
                  "path", req->path, "code", api, "detail", detail, NULL);
        snprintf(msg, sizeof msg, "%s (request %s; see the server log)",
                 hk_error_default_message(code), req->id);
    } else {
        hk_strlcpy(msg, detail, sizeof msg);
    }
    json_t *body = json_pack("{s:{s:s, s:s}}", "error", "code", api, "message", msg);
    json_decref(req->reply_body);
    req->reply_body = body; /* NULL when out of memory: sent without a body */
    req->status = status;
}

static void add_header(struct MHD_Response *resp, const char *name, const char *value)
{
    /* MHD refuses only headers it manages itself (Content-Length ...); nothing to do then. */
    (void)MHD_add_response_header(resp, name, value);
}

int hk_req_send(struct hk_req *req, bool closing)
{
    struct MHD_Response *resp = NULL;
    if (req->status == 0)
        hk_req_reply_error(req, HK_E(INTERNAL), NULL);

    char *text = NULL;
    size_t len = 0;
    if (req->reply_body && !(text = json_dumps(req->reply_body, JSON_COMPACT))) {
        hk_req_reply_error(req, HK_E(NOMEM), NULL);
        if (req->reply_body)
            text = json_dumps(req->reply_body, JSON_COMPACT);
    }
    if (req->stream_fn && !req->reply_body) {
        struct stream_box *b = malloc(sizeof *b);
        if (b) {
            b->fn = req->stream_fn;
            b->ctx = req->stream_ctx;
            b->release = req->stream_release;
            /* MHD owns the box from here on, even when creating the response fails */
            req->stream_fn = NULL;
            req->stream_release = NULL;
            resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_read, b,
                                                     stream_free);
            if (!resp)
                stream_free(b);
        }
    } else if (req->has_file && !req->reply_body) {
        /* MHD owns the descriptor from here on (it closes it with the response) */
        resp = MHD_create_response_from_fd64(req->file_size, req->file_fd);
        if (resp) {
            req->has_file = false;
            len = (size_t)req->file_size;
        }
    } else if (text) {
        len = strlen(text);
        resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    } else {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!resp) {
        free(text);
        return -1;
    }
    if (text)
        add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
    else if (req->file_type)
        add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, req->file_type);
    add_header(resp, "X-Request-Id", req->id);
    add_header(resp, "X-Content-Type-Options", "nosniff");
    add_header(resp, "X-Frame-Options", "DENY");
    add_header(resp, "Referrer-Policy", "no-referrer");
    if (strncmp(req->path, "/api/", 5) == 0) {
        add_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        add_header(resp, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
    }
    for (const struct hk_reply_hdr *h = req->hdrs; h; h = h->next)
        add_header(resp, h->name, h->value);
    if (closing)
        add_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");

    enum MHD_Result r = MHD_queue_response(req->conn, (unsigned int)req->status, resp);
    MHD_destroy_response(resp);
    if (r != MHD_YES)
        return -1;
    req->queued = true;
    req->bytes = strcmp(req->method, "HEAD") == 0 ? 0 : len; /* MHD sends no body for HEAD */
    return 0;
}
