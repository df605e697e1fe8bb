/*
 * handlers.h — prototypes of every route handler, generated from routes.def.
 */
#ifndef HK_HTTP_HANDLERS_H
#define HK_HTTP_HANDLERS_H

#include "http/handler.h"

#define HK_ROUTE(method, pattern, handler, roles)                                                  \
    int handler(struct hk_req *req, struct hk_err *err);
#include "http/routes.def"
#undef HK_ROUTE

#endif
