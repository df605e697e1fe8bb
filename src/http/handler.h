/*
 * handler.h — what a route handler sees: the request, its matched path parameters, its parsed
 * JSON body and its authenticated principal; and how it replies.
 *
 * A handler returns 0 after setting a reply with hk_reply_json (or hk_reply_status), or a
 * negative HK_E code with err filled; the server turns the latter into
 *   {"error": {"code": "<api string>", "message": "<err message>"}} with the table's status.
 *
 * Memory: everything reachable from hk_req is owned by the request and freed when it ends.
 * json_t stays inside src/http/: handlers unpack it into C values and call services.
 *
 * Streaming routes (HK_STREAM_ROUTE in routes.def, for uploads) get their body as it arrives
 * instead of buffered: once the headers are in and the caller is authenticated, the route's sink
 * is called once with (NULL, 0) to start, then once per piece of the body, in order; the handler
 * runs when the body is complete, as on any route. A sink that returns a negative code ends the
 * request: the rest of the body is discarded, that error is the reply and the handler does not
 * run. A streaming route's body is capped by cfg.upload_limit instead of cfg.body_limit, and
 * hk_req_body() is empty on it. The sink keeps what it builds in the request's state
 * (hk_req_set_state), whose release function runs when the request ends however it ends — and,
 * when the sink or the handler failed, before the error reply is sent, so what the release
 * undoes (a half upload) is gone by the time the client hears of the failure.
 *
 * Threads: a handler runs on one of the server's worker threads; it may block (database). A
 * request's sink and handler run on one thread, one call at a time.
 */
#ifndef HK_HTTP_HANDLER_H
#define HK_HTTP_HANDLER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "services/accounts.h"

struct hk_app;
struct hk_err;
struct hk_req; /* opaque */

typedef int (*hk_handler_fn)(struct hk_req *req, struct hk_err *err);
/** A streaming route's body sink: data NULL and len 0 first, then each piece of the body. */
typedef int (*hk_sink_fn)(struct hk_req *req, const char *data, size_t len, struct hk_err *err);

/* ---- reading the request ---------------------------------------------------------------- */

struct hk_app *hk_req_app(struct hk_req *req);
const char *hk_req_method(struct hk_req *req);
/** The path without the query string, percent-decoded ("/api/v1/users/12"). */
const char *hk_req_path(struct hk_req *req);
/** The request id (also sent back as X-Request-Id). */
const char *hk_req_id(struct hk_req *req);
/** The client's address as text ("127.0.0.1"). */
const char *hk_req_ip(struct hk_req *req);
/** The authenticated caller; NULL on public routes. */
const struct hk_principal *hk_req_principal(struct hk_req *req);
/** An actor for audit records: principal, ip and request id of this request. */
struct hk_actor hk_req_actor(struct hk_req *req);

/** A path parameter by its name in the route pattern ("/api/v1/users/{id}" -> "id"), or NULL. */
const char *hk_req_param(struct hk_req *req, const char *name);
/** A path parameter as a positive int64; HK_E(NOTFOUND) when absent or not a number. */
int hk_req_param_id(struct hk_req *req, const char *name, int64_t *out, struct hk_err *err);
/** A query-string argument, or NULL. */
const char *hk_req_query(struct hk_req *req, const char *key);
/** A request header (case-insensitive name), or NULL. */
const char *hk_req_header(struct hk_req *req, const char *name);
/** A cookie's value, or NULL. */
const char *hk_req_cookie(struct hk_req *req, const char *name);
/** The raw body (may be empty). */
const char *hk_req_body(struct hk_req *req, size_t *len);
/**
 * The body parsed as a JSON object (borrowed). HK_E(BADJSON) with line/column when it is not
 * JSON, HK_E(INVAL) when it is JSON but not an object or when the body is empty, and
 * HK_E(MEDIATYPE) when a Content-Type other than JSON was sent (a missing one is accepted).
 */
int hk_req_json(struct hk_req *req, json_t **out, struct hk_err *err);

/** The state set with hk_req_set_state (borrowed), or NULL. */
void *hk_req_state(struct hk_req *req);
/**
 * Attaches state to the request (taken): release(state) runs exactly once when the request is
 * freed — after its reply was sent, or when the connection failed or the server stopped before
 * the reply. release may be NULL. Setting state again first releases the previous one.
 */
void hk_req_set_state(struct hk_req *req, void *state, void (*release)(void *state));

/* ---- multipart/form-data, streamed (for streaming routes) ------------------------------ */

struct hk_form; /* opaque: a multipart/form-data parser fed as the body arrives */

/**
 * Called for each piece of each part of a form, in body order. name: the part's field name;
 * filename: the client's file name for a file part, else NULL (both borrowed for the call);
 * first: true for the first piece of a part (which may be empty: an empty part comes as one
 * call with len 0). Return 0 to go on, or a negative HK_E code with err filled to stop.
 */
typedef int (*hk_form_part_fn)(void *arg, const char *name, const char *filename, bool first,
                               const char *data, size_t len, struct hk_err *err);

/** True when the request's Content-Type is multipart/form-data. */
bool hk_req_is_multipart(struct hk_req *req);
/**
 * A parser for the request's multipart/form-data body that calls fn(arg, ...) (new; free with
 * hk_form_free). HK_E(INVAL) when the Content-Type names no boundary.
 */
int hk_form_new(struct hk_req *req, hk_form_part_fn fn, void *arg, struct hk_form **out,
                struct hk_err *err);
/** Feeds body bytes: 0, the callback's error, or HK_E(INVAL) for a malformed body. */
int hk_form_feed(struct hk_form *f, const char *data, size_t len, struct hk_err *err);
/** At the end of the body: 0, or HK_E(INVAL) when the body stopped before its closing boundary. */
int hk_form_finish(struct hk_form *f, struct hk_err *err);
/** Frees f (may be NULL). */
void hk_form_free(struct hk_form *f);

/* ---- replying --------------------------------------------------------------------------- */

/** Replies with status and body (taken: the reply owns it). */
int hk_reply_json(struct hk_req *req, int status, json_t *body);
/** Replies with status and no body (204, or a bare 200). */
int hk_reply_status(struct hk_req *req, int status);
/**
 * Pulls the next piece of a streamed reply body: at most max bytes into buf, their number into
 * *len; *len 0 at the end of the body. A negative return aborts the response (the client sees a
 * truncated body: the status line has been sent).
 */
typedef int (*hk_stream_fn)(void *ctx, char *buf, size_t max, size_t *len);
/**
 * Replies with status and a body produced by fn(ctx, ...) as the client reads it (chunked
 * transfer encoding), with Content-Type type (copied). ctx is taken: release(ctx) runs exactly
 * once, when the response is done or the request ends without it. A later hk_reply_json or error
 * replaces the stream.
 */
int hk_reply_stream(struct hk_req *req, int status, const char *type, hk_stream_fn fn, void *ctx,
                    void (*release)(void *ctx));
/**
 * Replies with status and the whole of the open file fd (taken: closed when sent or when the
 * request ends) as Content-Type type (copied). The file may already be unlinked.
 */
int hk_reply_fd(struct hk_req *req, int status, const char *type, int fd, uint64_t size);

/** Adds a response header; may be called before the reply is set. Values are copied. */
int hk_reply_header(struct hk_req *req, const char *name, const char *value);

#endif
