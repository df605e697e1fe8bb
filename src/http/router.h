/*
 * router.h — internal to src/http/: maps a request to its route in routes.def, authenticates
 * the caller, checks the route's roles and runs the handler.
 *
 * Threads: the route table is constant data; dispatch runs on the request's worker thread.
 */
#ifndef HK_HTTP_ROUTER_H
#define HK_HTTP_ROUTER_H

struct hk_req;

/**
 * Routes req (borrowed) and always leaves a reply set on it: the handler's, or an error
 * (404 not_found, 405 method_not_allowed with Allow, 401 unauthenticated, 403 forbidden, or
 * whatever the handler failed with).
 */
void hk_router_dispatch(struct hk_req *req);

#endif
