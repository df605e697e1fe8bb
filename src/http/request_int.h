/*
 * request_int.h — the inside of struct hk_req, shared by server.c, router.c and request.c only.
 * Handlers see the opaque type through handler.h.
 *
 * Life of a request (all on one MHD worker thread, so nothing here is locked):
 *   server.c creates it when MHD reports the headers (hk_req_new), feeds the body to it
 *   (hk_req_body_append), lets the router pick a route, authenticate and run the handler
 *   (hk_router_dispatch), then queues the reply (hk_req_send). When MHD reports the request
 *   complete (response sent, or connection lost) server.c writes the access-log line and frees
 *   the request (hk_req_free) with everything it holds: the arena, the body, parsed JSON.
 *
 * Invariants
 *   - Everything a handler can reach through hk_req is owned by the request: strings live in the
 *     request's arena (freed at once at the end), json_t values are decref'd by hk_req_free.
 *   - At most one reply is queued; `status` is 0 until the reply is set.
 *   - `body` never grows past app->cfg.body_limit: beyond it the request is marked too large and
 *     further data is discarded, not stored.
 *   - On a streaming route (route_streams) the body is never stored: the router hands it to the
 *     route's sink (hk_router_stream_data), counting `streamed` against cfg.upload_limit. Once
 *     `stream_error` is set no more data reaches the sink and the handler does not run.
 *   - `state` is released (state_release) exactly once, by hk_req_free.
 */
#ifndef HK_HTTP_REQUEST_INT_H
#define HK_HTTP_REQUEST_INT_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/strbuf.h"
#include "http/handler.h"
#include "services/accounts.h"

#define HK_REQ_PARAMS_MAX 8
#define HK_REQ_ID_MAX     65 /* 64 characters and the NUL */

struct hk_req_chunk; /* arena block */
struct hk_reply_hdr; /* extra response header */
struct hk_route;     /* router.c */

struct hk_req {
    struct hk_app *app;          /* borrowed */
    struct MHD_Connection *conn; /* borrowed */
    const char *method;          /* arena */
    const char *path;            /* arena; percent-decoded, without the query */
    char id[HK_REQ_ID_MAX];
    char ip[48];
    int64_t start_ms; /* hk_monotonic_ms() when the headers arrived */

    struct hk_strbuf body;
    bool body_too_large;

    int nparams;
    const char *param_names[HK_REQ_PARAMS_MAX];  /* arena */
    const char *param_values[HK_REQ_PARAMS_MAX]; /* arena */

    bool authenticated;
    struct hk_principal principal;

    json_t *json; /* the parsed body (owned), NULL until hk_req_json succeeds */

    /* streaming routes: chosen and authenticated when the headers arrive (router.c) */
    const struct hk_route *route; /* the route picked early, or NULL */
    bool route_streams;           /* route is a streaming route */
    bool stream_open;             /* the sink accepted its start call */
    int stream_error;             /* first failure (negative HK_E), 0 while the body flows */
    struct hk_err stream_err;     /* its detail */
    int64_t streamed;             /* body bytes handed to the sink */
    void *state;                  /* hk_req_set_state (owned through state_release) */
    void (*state_release)(void *state);

    /* a file reply (static.c): sent from file_fd by MHD, which then owns and closes it */
    bool has_file;         /* file_fd is open and is the reply's body */
    int file_fd;           /* valid only when has_file */
    uint64_t file_size;    /* bytes to send from file_fd */
    const char *file_type; /* static string or arena: the Content-Type */

    /* a streamed reply (hk_reply_stream): MHD pulls the body from stream_fn, then releases */
    hk_stream_fn stream_fn; /* non-NULL while the request owns stream_ctx */
    void *stream_ctx;
    void (*stream_release)(void *ctx);

    int status;                /* 0 until a reply is set */
    json_t *reply_body;        /* owned; NULL for a reply without body */
    struct hk_reply_hdr *hdrs; /* arena; in the order added */
    struct hk_reply_hdr *hdrs_tail;
    bool queued;  /* handed to MHD */
    size_t bytes; /* body bytes of the queued reply */

    struct hk_req_chunk *arena;
};

/**
 * A new request for the connection whose headers just arrived (caller frees with hk_req_free).
 * method and url are copied. Picks the request id: the client's X-Request-Id when it is 1–64
 * characters of [A-Za-z0-9_-], else a fresh one. NULL when out of memory.
 */
struct hk_req *hk_req_new(struct hk_app *app, struct MHD_Connection *conn, const char *method,
                          const char *url);
/** Frees the request and everything it owns. req may be NULL. */
void hk_req_free(struct hk_req *req);

/** Memory owned by the request (freed by hk_req_free); NULL when out of memory. */
void *hk_req_alloc(struct hk_req *req, size_t n);
/** A NUL-terminated copy of n bytes of s in the request's arena; NULL when out of memory. */
char *hk_req_strndup(struct hk_req *req, const char *s, size_t n);

/**
 * Appends body data. Past cfg.body_limit the stored body is dropped, body_too_large set and
 * HK_E(TOOLARGE) returned; further calls discard their data and return the same.
 */
int hk_req_body_append(struct hk_req *req, const char *data, size_t len);

/** Records a path parameter (name and value are copied). HK_E(NOMEM) or HK_E(INTERNAL). */
int hk_req_add_param(struct hk_req *req, const char *name, size_t name_len, const char *value,
                     size_t value_len);

/**
 * Sets the reply to the JSON error for code (negative HK_E*) with err's message (or the table's
 * default), replacing any reply set before. Extra headers already added are kept. For 5xx codes
 * the detail is logged and the client gets the default message and the request id.
 */
void hk_req_reply_error(struct hk_req *req, int code, const struct hk_err *err);

/**
 * Builds the MHD response (JSON body or the file of a static reply, Content-Type, X-Request-Id,
 * Cache-Control and security headers, the handler's extra headers; "Connection: close" when
 * closing) and queues it. Returns 0, or -1 when MHD refused (the connection is then closed).
 */
int hk_req_send(struct hk_req *req, bool closing);

#endif
