/* expr_json.c — see expr_json.h. */
#include "http/expr_json.h"

#include <jansson.h>

#include "core/err.h"
#include "http/handler.h"
#include "services/segment_svc.h"

int hk_http_expr_error(struct hk_req *req, const struct hk_segment_error *w, bool inline_,
                       struct hk_err *err)
{
    json_t *e = json_pack("{s:s, s:s, s:i, s:i, s:s, s:s}", "code", "invalid_expression", "message",
                          hk_err_message(err), "line", w->line, "column", w->column, "expected",
                          w->expected, "suggestion", w->suggestion);
    json_t *j = !e        ? NULL
                : inline_ ? json_pack("{s:n, s:[], s:o}", "count", "members", "error", e)
                          : json_pack("{s:o}", "error", e);
    return j ? hk_reply_json(req, inline_ ? 200 : 400, j)
             : hk_err_set(err, HK_E(NOMEM), "out of memory");
}
