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
 * Threads: a handler runs on one of the server's worker threads; it may block (database).
 */
#ifndef HK_HTTP_HANDLER_H
#define HK_HTTP_HANDLER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "services/accounts.h"

struct hk_app;
struct hk_err;
struct hk_req; /* opaque */

typedef int (*hk_handler_fn)(struct hk_req *req, struct hk_err *err);

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

/* ---- replying --------------------------------------------------------------------------- */

/** Replies with status and body (taken: the reply owns it). */
int hk_reply_json(struct hk_req *req, int status, json_t *body);
/** Replies with status and no body (204, or a bare 200). */
int hk_reply_status(struct hk_req *req, int status);
/** Adds a response header; may be called before the reply is set. Values are copied. */
int hk_reply_header(struct hk_req *req, const char *name, const char *value);

#endif
