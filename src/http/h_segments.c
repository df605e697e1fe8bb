/*
 * h_segments.c — saved segments: CRUD, members and export (services/segments.h).
 *
 *   GET    /api/v1/segments                 -> {items: [segment]}
 *   POST   /api/v1/segments                 {name, expression, description?} -> 201 segment
 *   GET    /api/v1/segments/{id}            -> segment
 *   PATCH  /api/v1/segments/{id}            {name?, expression?, description?} -> segment
 *   DELETE /api/v1/segments/{id}            -> 204
 *   GET    /api/v1/segments/{id}/members    ?sort=&order=&cursor=&limit=
 *                                           -> {items: [member], next_cursor, count}
 *   GET    /api/v1/segments/{id}/export     ?format=csv|xlsx&lang=zh-CN|en&columns=&sort=&order=
 *                                             -> the file (header row in lang)
 *
 *   segment = {id, name, expression, description, count, counted_at, created_by, created_at,
 *              updated_at} (count and counted_at null until counted)
 *   member  = {id, nick, phone, province, city, recency_days, frequency, monetary_fen,
 *              monetary, aov, rfm_segment, rfm_tier} (phone masked unless the role reads PII)
 *
 * Expression errors are 400 {"error": {code: "invalid_expression", message, line, column,
 * expected, suggestion}}, as the preview's. Roles: every role reads segments and members
 * (phones masked by role, as on customer pages); admin, manager and operator write and export.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/util.h"
#include "http/expr_json.h"
#include "http/handlers.h"
#include "services/accounts.h"
#include "services/app.h"
#include "services/segments.h"

static int nomem(struct hk_err *err)
{
    return hk_err_set(err, HK_E(NOMEM), "out of memory");
}

static json_t *yuan(int64_t fen)
{
    char buf[32];
    int64_t a = fen < 0 ? -fen : fen;
    snprintf(buf, sizeof buf, "%s%lld.%02lld", fen < 0 ? "-" : "", (long long)(a / 100),
             (long long)(a % 100));
    return json_string(buf);
}

static json_t *int_or_null(bool has, int64_t v)
{
    return has ? json_integer((json_int_t)v) : json_null();
}

static json_t *str_or_null(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

static json_t *segment_json(const struct hk_segment_row *r)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:o, s:o, s:o, s:I, s:I}", "id", (json_int_t)r->id,
                     "name", r->name, "expression", r->expression, "description", r->description,
                     "count", int_or_null(r->has_count, r->cached_count), "counted_at",
                     int_or_null(r->counted_at != 0, r->counted_at), "created_by",
                     int_or_null(r->created_by != 0, r->created_by), "created_at",
                     (json_int_t)r->created_at, "updated_at", (json_int_t)r->updated_at);
}

/* Replies with one segment (status 200 or 201); releases r. */
static int reply_segment(struct hk_req *req, int status, struct hk_segment_row *r,
                         struct hk_err *err)
{
    json_t *j = segment_json(r);
    hk_segment_row_release(r);
    return j ? hk_reply_json(req, status, j) : nomem(err);
}

int h_segments_list(struct hk_req *req, struct hk_err *err)
{
    struct hk_segment_row *rows = NULL;
    size_t n = 0;
    int rc = hk_segments_list(hk_req_app(req), &rows, &n, err);
    if (rc)
        return rc;
    json_t *items = json_array();
    for (size_t i = 0; items && i < n; i++)
        if (json_array_append_new(items, segment_json(&rows[i]))) {
            json_decref(items);
            items = NULL;
        }
    hk_segment_rows_free(rows, n);
    json_t *j = items ? json_pack("{s:o}", "items", items) : NULL;
    return j ? hk_reply_json(req, 200, j) : nomem(err);
}

/* Optional string fields of a body: absent -> NULL; present and not a string -> INVAL. */
static int opt_string(json_t *body, const char *key, const char **out, struct hk_err *err)
{
    json_t *v = json_object_get(body, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return hk_err_setf(err, HK_E(INVAL), key, "%s: expected a string", key);
    *out = json_string_value(v);
    return 0;
}

static int body_fields(struct hk_req *req, const char **name, const char **expr, const char **desc,
                       struct hk_err *err)
{
    json_t *body;
    int rc = hk_req_json(req, &body, err);
    if (rc)
        return rc;
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "name") && strcmp(key, "expression") && strcmp(key, "description"))
            return hk_err_setf(err, HK_E(INVAL), key,
                               "unknown field \"%s\" (expected name, expression, description)",
                               key);
    }
    if ((rc = opt_string(body, "name", name, err)) ||
        (rc = opt_string(body, "expression", expr, err)) ||
        (rc = opt_string(body, "description", desc, err)))
        return rc;
    return 0;
}

int h_segments_create(struct hk_req *req, struct hk_err *err)
{
    const char *name, *expr, *desc;
    int rc = body_fields(req, &name, &expr, &desc, err);
    if (rc)
        return rc;
    if (!name)
        return hk_err_setf(err, HK_E(INVAL), "name", "name: required");
    if (!expr)
        return hk_err_setf(err, HK_E(INVAL), "expression", "expression: required");
    struct hk_segment_error where;
    struct hk_segment_row r;
    rc = hk_segments_create(hk_req_app(req), hk_req_principal(req)->user_id, name, expr, desc,
                            &where, &r, err);
    if (rc)
        return rc == HK_E(INVAL) && where.line ? hk_http_expr_error(req, &where, false, err) : rc;
    char loc[64];
    snprintf(loc, sizeof loc, "/api/v1/segments/%lld", (long long)r.id);
    hk_reply_header(req, "Location", loc);
    return reply_segment(req, 201, &r, err);
}

int h_segments_get(struct hk_req *req, struct hk_err *err)
{
    int64_t id;
    int rc = hk_req_param_id(req, "id", &id, err);
    if (rc)
        return rc;
    struct hk_segment_row r;
    if ((rc = hk_segments_get(hk_req_app(req), id, &r, err)) != 0)
        return rc;
    return reply_segment(req, 200, &r, err);
}

int h_segments_update(struct hk_req *req, struct hk_err *err)
{
    int64_t id;
    int rc = hk_req_param_id(req, "id", &id, err);
    if (rc)
        return rc;
    const char *name, *expr, *desc;
    if ((rc = body_fields(req, &name, &expr, &desc, err)) != 0)
        return rc;
    struct hk_segment_error where;
    struct hk_segment_row r;
    rc = hk_segments_update(hk_req_app(req), id, name, expr, desc, &where, &r, err);
    if (rc)
        return rc == HK_E(INVAL) && where.line ? hk_http_expr_error(req, &where, false, err) : rc;
    return reply_segment(req, 200, &r, err);
}

int h_segments_delete(struct hk_req *req, struct hk_err *err)
{
    int64_t id;
    int rc = hk_req_param_id(req, "id", &id, err);
    if (rc)
        return rc;
    if ((rc = hk_segments_delete(hk_req_app(req), id, err)) != 0)
        return rc;
    return hk_reply_status(req, 204);
}

static json_t *member_json(const struct hk_member *m)
{
    json_t *j =
        json_pack("{s:I, s:s, s:o, s:o, s:o, s:o, s:I, s:I, s:o, s:o, s:o, s:o}", "id",
                  (json_int_t)m->c.id, "nick", m->c.nick, "phone", str_or_null(m->c.phone),
                  "province", str_or_null(m->c.province), "city", str_or_null(m->c.city),
                  "recency_days", int_or_null(m->has_recency, m->recency_days), "frequency",
                  (json_int_t)m->frequency, "monetary_fen", (json_int_t)m->monetary_fen, "monetary",
                  yuan(m->monetary_fen), "aov", m->has_recency ? yuan(m->aov_fen) : json_null(),
                  "rfm_segment", str_or_null(m->rfm_segment), "rfm_tier", str_or_null(m->rfm_tier));
    return j;
}

static int query_int(struct hk_req *req, const char *key, int dflt, int *out, struct hk_err *err)
{
    const char *v = hk_req_query(req, key);
    int64_t x;
    *out = dflt;
    if (!v || !v[0])
        return 0;
    if (hk_parse_int64(v, strlen(v), &x) || x < 1 || x > HK_MEMBERS_PAGE_MAX)
        return hk_err_setf(err, HK_E(INVAL), key, "%s: expected 1..%d", key, HK_MEMBERS_PAGE_MAX);
    *out = (int)x;
    return 0;
}

static bool clear_pii(struct hk_req *req)
{
    const struct hk_principal *p = hk_req_principal(req);
    return p && hk_role_may_read_pii(p->role);
}

int h_segments_members(struct hk_req *req, struct hk_err *err)
{
    int64_t id;
    int limit;
    enum hk_member_sort sort;
    bool desc;
    int rc = hk_req_param_id(req, "id", &id, err);
    if (rc || (rc = query_int(req, "limit", 50, &limit, err)) ||
        (rc = hk_member_sort_parse(hk_req_query(req, "sort"), hk_req_query(req, "order"), &sort,
                                   &desc, err)))
        return rc;
    struct hk_member_page p;
    rc = hk_segments_members(hk_req_app(req), id, sort, desc, hk_req_query(req, "cursor"), limit,
                             clear_pii(req), &p, err);
    if (rc)
        return rc;
    json_t *items = json_array();
    for (size_t i = 0; items && i < p.n; i++)
        if (json_array_append_new(items, member_json(&p.items[i]))) {
            json_decref(items);
            items = NULL;
        }
    json_t *j = items ? json_pack("{s:o, s:o, s:I}", "items", items, "next_cursor",
                                  str_or_null(p.next_cursor), "count", (json_int_t)p.count)
                      : NULL;
    hk_member_page_release(&p);
    return j ? hk_reply_json(req, 200, j) : nomem(err);
}

/* ---- export ---------------------------------------------------------------------------------- */

static int csv_pull(void *ctx, char *buf, size_t max, size_t *len)
{
    struct hk_err err;
    hk_err_clear(&err);
    return hk_export_csv_next(ctx, buf, max, len, &err);
}

static void export_release(void *ctx)
{
    hk_export_free(ctx);
}

/* attachment; filename="segment-12.csv"; filename*=UTF-8''<percent-encoded name>.csv */
static void disposition(int64_t id, const char *name, const char *ext, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    int n = snprintf(out, size, "attachment; filename=\"segment-%lld.%s\"; filename*=UTF-8''",
                     (long long)id, ext);
    size_t pos = n > 0 && (size_t)n < size ? (size_t)n : 0;
    for (const unsigned char *p = (const unsigned char *)name; *p && pos + 4 < size; p++) {
        bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                     (*p >= '0' && *p <= '9') || strchr("!#$&+-.^_`|~", *p);
        if (plain) {
            out[pos++] = (char)*p;
        } else {
            out[pos++] = '%';
            out[pos++] = hex[*p >> 4];
            out[pos++] = hex[*p & 15];
        }
    }
    snprintf(out + pos, size - pos, ".%s", ext);
}

/* Every export is audited (who took which customers, how many, and whether phones were in the
 * clear), before the first byte leaves; a failure to audit does not stop the export. */
static void audit_export(struct hk_req *req, const struct hk_export_opts *o, bool xlsx, size_t n)
{
    struct hk_app *app = hk_req_app(req);
    struct hk_actor actor = hk_req_actor(req);
    char target[64];
    snprintf(target, sizeof target, "segment:%lld", (long long)o->segment_id);
    json_t *d = json_pack("{s:s, s:I, s:b, s:s}", "format", xlsx ? "xlsx" : "csv", "count",
                          (json_int_t)n, "clear_pii", o->clear ? 1 : 0, "columns",
                          o->columns && o->columns[0] ? o->columns : "");
    char *details = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    struct hk_err aerr;
    hk_err_clear(&aerr);
    (void)hk_accounts_audit_record(app, &actor, "segment.export", target, details ? details : "{}",
                                   &aerr);
    free(details);
}

int h_segments_export(struct hk_req *req, struct hk_err *err)
{
    struct hk_export_opts o = {0};
    int rc = hk_req_param_id(req, "id", &o.segment_id, err);
    if (rc || (rc = hk_member_sort_parse(hk_req_query(req, "sort"), hk_req_query(req, "order"),
                                         &o.sort, &o.desc, err)))
        return rc;
    const char *format = hk_req_query(req, "format");
    bool xlsx = false;
    if (format && format[0]) {
        if (strcmp(format, "xlsx") == 0)
            xlsx = true;
        else if (strcmp(format, "csv") != 0)
            return hk_err_setf(err, HK_E(INVAL), "format", "format: expected csv or xlsx");
    }
    o.columns = hk_req_query(req, "columns");
    if ((rc = hk_export_lang_parse(hk_req_query(req, "lang"), &o.lang, err)) != 0)
        return rc;
    o.clear = clear_pii(req);
    struct hk_app *app = hk_req_app(req);
    struct hk_export *x;
    struct hk_segment_error where;
    if ((rc = hk_export_open(app, &o, &x, &where, err)) != 0)
        return rc == HK_E(INVAL) && where.line ? hk_http_expr_error(req, &where, false, err) : rc;
    audit_export(req, &o, xlsx, hk_export_count(x));
    char cd[1024];
    disposition(o.segment_id, hk_export_name(x), xlsx ? "xlsx" : "csv", cd, sizeof cd);
    char count[24];
    snprintf(count, sizeof count, "%zu", hk_export_count(x));
    if ((rc = hk_reply_header(req, "Content-Disposition", cd)) ||
        (rc = hk_reply_header(req, "X-Export-Count", count))) {
        hk_export_free(x);
        return hk_err_set(err, rc, "cannot set the reply's headers");
    }
    if (!xlsx)
        return hk_reply_stream(req, 200, "text/csv; charset=utf-8", csv_pull, x, export_release);

    /* libxlsxwriter writes a file: write it under data_dir, open it, unlink it, send it. */
    char path[HK_CONFIG_STR_MAX + 64], token[48];
    hk_random_token("", token, sizeof token);
    snprintf(path, sizeof path, "%s/export-%.24s.xlsx", app->cfg.data_dir, token);
    rc = hk_export_xlsx(x, path, err);
    hk_export_free(x);
    int fd = rc ? -1 : open(path, O_RDONLY | O_CLOEXEC);
    unlink(path);
    if (rc)
        return rc;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return hk_err_set(err, HK_E(IO), "cannot read the XLSX export back");
    }
    return hk_reply_fd(req, 200,
                       "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", fd,
                       (uint64_t)st.st_size);
}
