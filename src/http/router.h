/*
 * router.h — internal to src/http/: maps a request to its route in routes.def, authenticates
 * the caller, checks the route's roles and runs the handler.
 *
 * Threads: the route table is constant data; dispatch runs on the request's worker thread.
 */
#ifndef HK_HTTP_ROUTER_H
#define HK_HTTP_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

struct hk_req;

/**
 * Called when req's headers are complete. When its route is a streaming route, picks it,
 * records the path parameters and authenticates the caller (setting an error reply on failure:
 * the caller sends it at once) and returns true; otherwise does nothing and returns false.
 */
bool hk_router_begin(struct hk_req *req);
/** Starts the sink of a streaming route admitted by hk_router_begin; an error reply on failure. */
void hk_router_stream_open(struct hk_req *req);
/**
 * Hands a piece of body to the sink, counting it against cfg.upload_limit. After the first
 * failure (the sink's, or the limit) the data is discarded; hk_router_dispatch replies the error.
 */
void hk_router_stream_data(struct hk_req *req, const char *data, size_t len);

/**
 * Routes req (borrowed) once its body is complete (a streaming route: runs its handler, or
 * replies the sink's error) and always leaves a reply set on it: the handler's, or an error
 * (404 not_found, 405 method_not_allowed with Allow, 401 unauthenticated, 403 forbidden, or
 * whatever the handler failed with).
 */
void hk_router_dispatch(struct hk_req *req);

#endif
