/*
 * expr_json.h — the one reply for an invalid segment expression, shared by every handler that
 * takes one (segment preview, saved segments, rule tags, the customer list's ?expr=). Internal to
 * src/http/.
 */
#ifndef HK_HTTP_EXPR_JSON_H
#define HK_HTTP_EXPR_JSON_H

#include <stdbool.h>

struct hk_req;
struct hk_err;
struct hk_segment_error;

/**
 * Replies 400 {"error": {code: "invalid_expression", message (err's), line, column, expected,
 * suggestion}}; with inline_, 200 {"count": null, "members": [], "error": {...}} (the console's
 * preview as the user types, where a 400 would be a failed request per keystroke).
 */
int hk_http_expr_error(struct hk_req *req, const struct hk_segment_error *w, bool inline_,
                       struct hk_err *err);

#endif
