/*
 * handlers.h — prototypes of every route handler (and streaming route sink), generated from
 * routes.def.
 */
#ifndef HK_HTTP_HANDLERS_H
#define HK_HTTP_HANDLERS_H

#include "http/handler.h"

#define HK_ROUTE(method, pattern, handler, roles)                                                  \
    int handler(struct hk_req *req, struct hk_err *err);
#define HK_STREAM_ROUTE(method, pattern, sink, handler, roles)                                     \
    int sink(struct hk_req *req, const char *data, size_t len, struct hk_err *err);                \
    int handler(struct hk_req *req, struct hk_err *err);
#include "http/routes.def"
#undef HK_STREAM_ROUTE
#undef HK_ROUTE

#endif
