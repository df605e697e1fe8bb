/*
 * h_tags.c — tags (services/tags.h).
 *
 *   GET    /api/v1/tags                          -> {items: [tag]}
 *   POST   /api/v1/tags                          {name, kind?, expression?, color?, description?}
 *                                                -> 201 tag
 *   GET    /api/v1/tags/{id}                     -> tag
 *   PATCH  /api/v1/tags/{id}                     {name?, expression?, color?, description?} -> tag
 *   DELETE /api/v1/tags/{id}                     -> 204
 *   POST   /api/v1/tags/{id}/apply               {segment_id} | {expression}
 *                                                -> {applied, added} (manual tags only)
 *   POST   /api/v1/customers/{id}/tags           {tag: name} -> {customer_id, tags: [ctag]}
 *   DELETE /api/v1/customers/{id}/tags/{tag_id}  -> {customer_id, tags: [ctag]}
 *
 *   tag  = {id, name, kind, expression (null unless rule), color, description, preset (bool),
 *           preset_key, count (null when unknown), error (null unless a rule that does not
 *           compile now), created_at, updated_at}
 *   ctag = {id, name, kind, source, color, tagged_at} (as on the customer profile)
 *
 * Expression errors are 400 {"error": {code: "invalid_expression", message, line, column,
 * expected, suggestion}}, as the preview's. Roles: every role reads; admin, manager and operator
 * write (routes.def).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "http/accounts_json.h"
#include "http/expr_json.h"
#include "http/handlers.h"
#include "services/app.h"
#include "services/tags.h"

static int nomem(struct hk_err *err)
{
    return hk_err_set(err, HK_E(NOMEM), "out of memory");
}

static json_t *str_or_null(const char *s)
{
    return s && s[0] ? json_string(s) : json_null();
}

static json_t *tag_json(const struct hk_tag *t)
{
    const struct hk_tag_row *r = &t->row;
    bool rule = strcmp(r->kind, "rule") == 0;
    return json_pack("{s:I, s:s, s:s, s:o, s:s, s:s, s:b, s:o, s:o, s:o, s:I, s:I}", "id",
                     (json_int_t)r->id, "name", r->name, "kind", r->kind, "expression",
                     rule ? json_string(r->expression) : json_null(), "color", r->color,
                     "description", r->description, "preset", r->preset[0] != '\0', "preset_key",
                     str_or_null(r->preset), "count",
                     t->has_count ? json_integer((json_int_t)t->count) : json_null(), "error",
                     str_or_null(t->error), "created_at", (json_int_t)r->created_at, "updated_at",
                     (json_int_t)r->updated_at);
}

static int reply_tag(struct hk_req *req, int status, struct hk_tag *t, struct hk_err *err)
{
    json_t *j = tag_json(t);
    hk_tag_release(t);
    return j ? hk_reply_json(req, status, j) : nomem(err);
}

int h_tags_list(struct hk_req *req, struct hk_err *err)
{
    struct hk_tag *tags = NULL;
    size_t n = 0;
    int rc = hk_tags_list(hk_req_app(req), &tags, &n, err);
    if (rc)
        return rc;
    json_t *items = json_array();
    for (size_t i = 0; items && i < n; i++)
        if (json_array_append_new(items, tag_json(&tags[i]))) {
            json_decref(items);
            items = NULL;
        }
    hk_tags_free(tags, n);
    json_t *j = items ? json_pack("{s:o}", "items", items) : NULL;
    return j ? hk_reply_json(req, 200, j) : nomem(err);
}

/* An optional string field: absent or null -> NULL; not a string -> INVAL. */
static int opt_string(json_t *body, const char *key, const char **out, struct hk_err *err)
{
    json_t *v = json_object_get(body, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return hk_err_setf(err, HK_E(INVAL), key, "%s: expected a string", key);
    *out = json_string_value(v);
    return 0;
}

static int tag_input(struct hk_req *req, const char *const *allowed, const char *names,
                     struct hk_tag_input *in, struct hk_err *err)
{
    json_t *body;
    int rc = hk_req_json(req, &body, err);
    if (rc)
        return rc;
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], key) != 0)
            i++;
        if (!allowed[i])
            return hk_err_setf(err, HK_E(INVAL), key, "unknown field \"%s\" (expected %s)", key,
                               names);
    }
    memset(in, 0, sizeof *in);
    if ((rc = opt_string(body, "name", &in->name, err)) ||
        (rc = opt_string(body, "kind", &in->kind, err)) ||
        (rc = opt_string(body, "expression", &in->expression, err)) ||
        (rc = opt_string(body, "color", &in->color, err)) ||
        (rc = opt_string(body, "description", &in->description, err)))
        return rc;
    return 0;
}

int h_tags_create(struct hk_req *req, struct hk_err *err)
{
    static const char *const allowed[] = {"name",  "kind",        "expression",
                                          "color", "description", NULL};
    struct hk_tag_input in;
    int rc = tag_input(req, allowed, "name, kind, expression, color, description", &in, err);
    if (rc)
        return rc;
    struct hk_actor actor = hk_req_actor(req);
    struct hk_segment_error where;
    struct hk_tag t;
    if ((rc = hk_tags_create(hk_req_app(req), &actor, &in, &where, &t, err)) != 0)
        return rc == HK_E(INVAL) && where.line ? hk_http_expr_error(req, &where, false, err) : rc;
    char loc[64];
    snprintf(loc, sizeof loc, "/api/v1/tags/%lld", (long long)t.row.id);
    hk_reply_header(req, "Location", loc);
    return reply_tag(req, 201, &t, err);
}

int h_tags_get(struct hk_req *req, struct hk_err *err)
{
    int64_t id;
    int rc = hk_req_param_id(req, "id", &id, err);
    if (rc)
        return rc;
    struct hk_tag t;
    if ((rc = hk_tags_get(hk_req_app(req), id, &t, err)) != 0)
        return rc;
    return reply_tag(req, 200, &t, err);
}

int h_tags_update(struct hk_req *req, struct hk_err *err)
{
    static const char *const allowed[] = {"name", "expression", "color", "description", NULL};
    int64_t id;
    int rc = hk_req_param_id(req, "id", &id, err);
    if (rc)
        return rc;
    struct hk_tag_input in;
    if ((rc = tag_input(req, allowed, "name, expression, color, description", &in, err)) != 0)
        return rc;
    struct hk_actor actor = hk_req_actor(req);
    struct hk_segment_error where;
    struct hk_tag t;
    if ((rc = hk_tags_update(hk_req_app(req), &actor, id, &in, &where, &t, err)) != 0)
        return rc == HK_E(INVAL) && where.line ? hk_http_expr_error(req, &where, false, err) : rc;
    return reply_tag(req, 200, &t, err);
}

int h_tags_delete(struct hk_req *req, struct hk_err *err)
{
    int64_t id;
    int rc = hk_req_param_id(req, "id", &id, err);
    if (rc)
        return rc;
    struct hk_actor actor = hk_req_actor(req);
    if ((rc = hk_tags_delete(hk_req_app(req), &actor, id, err)) != 0)
        return rc;
    return hk_reply_status(req, 204);
}

int h_tags_apply(struct hk_req *req, struct hk_err *err)
{
    static const char *const allowed[] = {"segment_id", "expression", NULL};
    int64_t id, segment_id = 0;
    int rc = hk_req_param_id(req, "id", &id, err);
    if (rc)
        return rc;
    json_t *body;
    if ((rc = hk_req_json(req, &body, err)) != 0 ||
        (rc = hk_http_acct_only_keys(body, allowed, err)) != 0)
        return rc;
    json_t *sid = json_object_get(body, "segment_id");
    if (sid && !json_is_null(sid)) {
        if (!json_is_integer(sid) || json_integer_value(sid) <= 0)
            return hk_err_setf(err, HK_E(INVAL), "segment_id", "segment_id: expected a segment id");
        segment_id = (int64_t)json_integer_value(sid);
    }
    const char *expr = NULL;
    if ((rc = opt_string(body, "expression", &expr, err)) != 0)
        return rc;
    struct hk_actor actor = hk_req_actor(req);
    struct hk_segment_error where;
    size_t applied = 0, added = 0;
    rc =
        hk_tags_apply(hk_req_app(req), &actor, id, segment_id, expr, &where, &applied, &added, err);
    if (rc)
        return rc == HK_E(INVAL) && where.line ? hk_http_expr_error(req, &where, false, err) : rc;
    json_t *j = json_pack("{s:I, s:I}", "applied", (json_int_t)applied, "added", (json_int_t)added);
    return j ? hk_reply_json(req, 200, j) : nomem(err);
}

/* {customer_id, tags: [...]} for customer id. */
static int reply_customer_tags(struct hk_req *req, int64_t id, struct hk_err *err)
{
    struct hk_customer_tag *tags = NULL;
    size_t n = 0;
    int rc = hk_tags_of_customer(hk_req_app(req), id, &tags, &n, err);
    if (rc)
        return rc;
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        const struct hk_customer_tag *t = &tags[i];
        json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:o, s:o}", "id", (json_int_t)t->id, "name",
                              t->name, "kind", t->kind, "source", t->source, "color",
                              str_or_null(t->color), "tagged_at", hk_http_acct_time(t->created_at));
        if (!o || json_array_append_new(a, o)) {
            json_decref(a);
            a = NULL;
        }
    }
    free(tags);
    json_t *j = a ? json_pack("{s:I, s:o}", "customer_id", (json_int_t)id, "tags", a) : NULL;
    return j ? hk_reply_json(req, 200, j) : nomem(err);
}

int h_customer_tags_add(struct hk_req *req, struct hk_err *err)
{
    static const char *const allowed[] = {"tag", NULL};
    int64_t id, cid = 0;
    int rc = hk_req_param_id(req, "id", &id, err);
    if (rc)
        return rc;
    json_t *body;
    const char *name = NULL;
    if ((rc = hk_req_json(req, &body, err)) != 0 ||
        (rc = hk_http_acct_only_keys(body, allowed, err)) != 0 ||
        (rc = hk_http_acct_string(body, "tag", true, &name, err)) != 0)
        return rc;
    struct hk_actor actor = hk_req_actor(req);
    if ((rc = hk_tags_customer_add(hk_req_app(req), &actor, id, name, &cid, err)) != 0)
        return rc;
    return reply_customer_tags(req, cid, err);
}

int h_customer_tags_remove(struct hk_req *req, struct hk_err *err)
{
    int64_t id, tag_id, cid = 0;
    int rc = hk_req_param_id(req, "id", &id, err);
    if (rc || (rc = hk_req_param_id(req, "tag_id", &tag_id, err)) != 0)
        return rc;
    struct hk_actor actor = hk_req_actor(req);
    if ((rc = hk_tags_customer_remove(hk_req_app(req), &actor, id, tag_id, &cid, err)) != 0)
        return rc;
    return reply_customer_tags(req, cid, err);
}
