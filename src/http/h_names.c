/*
 * h_names.c — names for the segment editor's autocomplete (services/names.h).
 *
 *   GET /api/v1/segments/names?kind=category|product|tag|event_type|province|city|channel|shop|
 *       segment|rfm_tier|rfm_segment
 *       &q=prefix&limit=20   -> {kind, items: ["name", ...]}
 */
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "http/handlers.h"
#include "services/names.h"

int h_segments_names(struct hk_req *req, struct hk_err *err)
{
    const char *kind = hk_req_query(req, "kind");
    const char *l = hk_req_query(req, "limit");
    int64_t limit = 20;
    if (l && *l &&
        (hk_parse_int64(l, strlen(l), &limit) != 0 || limit < 1 || limit > HK_NAMES_LIMIT_MAX))
        return hk_err_setf(err, HK_E(INVAL), "limit", "limit: a number from 1 to %d",
                           HK_NAMES_LIMIT_MAX);
    char **names = NULL;
    size_t n = 0;
    int rc = hk_names_list(hk_req_app(req), kind, hk_req_query(req, "q"), (size_t)limit, &names, &n,
                           err);
    if (rc)
        return rc;
    json_t *items = json_array();
    int bad = !items;
    for (size_t i = 0; !bad && i < n; i++) {
        json_t *s = json_string(names[i]); /* NULL: not UTF-8, skipped */
        bad = s && json_array_append_new(items, s) != 0;
    }
    hk_names_free(names, n);
    json_t *j = bad ? NULL : json_pack("{s:s, s:o}", "kind", kind, "items", items);
    if (bad)
        json_decref(items);
    return j ? hk_reply_json(req, 200, j) : hk_err_set(err, HK_E(NOMEM), "out of memory");
}
