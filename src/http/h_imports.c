/*
 * h_imports.c — file imports as background jobs (roles admin, manager, operator; the router
 * checks them before the body is read).
 *
 *   POST /api/v1/imports                     (a streaming route: the body goes to disk as it
 *                                             arrives, never into memory; capped by upload_limit)
 *        multipart/form-data: one or more parts named "file" (each a file, with its file name),
 *        optional fields "format" (auto|generic|taobao|douyin|pdd|jd) and "shop"; or
 *        any other Content-Type: the body is the file itself, named by ?filename=, with
 *        ?format= and ?shop= (also accepted as defaults for a multipart upload)
 *        -> 202 {job}, Location: /api/v1/imports/{id}
 *   GET  /api/v1/imports?cursor=&limit=      -> {items: [job without errors], next_cursor}
 *   GET  /api/v1/imports/{id}                -> {job}
 *
 * A job: {id, status (queued|running|done|failed; uploading while its upload is in flight),
 * format, shop, files: [{name, size}], progress: {bytes_done, bytes_total, rows, percent},
 * result: {rows, orders_created, orders_updated, orders_unchanged, items_created,
 * customers_created, rejected, items_waiting} (null until the job ends; items_waiting: Taobao
 * detail lines kept for orders not imported yet, as `huike import --json` says), errors: [{file,
 * record, line, column, message}] (the first 100 rejected rows), created_at, started_at,
 * finished_at, message}.
 *
 * application/x-www-form-urlencoded is refused (415): it is what `curl -d @file` sends, which
 * strips the file's line breaks; send the file with --data-binary or -F file=@... instead.
 *
 * Memory: the upload's state (services/imports.h hk_upload, and the multipart parser) hangs on
 * the request (hk_req_set_state) and is released with it; an upload that did not reach the
 * handler's commit is removed then (files, directory, job row).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/util.h"
#include "http/accounts_json.h"
#include "http/handlers.h"
#include "services/imports.h"

enum part_kind { PART_NONE = 0, PART_FILE, PART_FORMAT, PART_SHOP };

#define FORMAT_MAX 32

struct upload_state {
    struct hk_upload *up; /* owned */
    struct hk_form *form; /* owned; multipart bodies only */
    enum part_kind part;  /* the part being received */
    char format[FORMAT_MAX];
    size_t format_len;
    bool has_format;
    char shop[HK_IMPORT_SHOP_MAX];
    size_t shop_len;
    bool has_shop;
};

static void upload_state_free(void *p)
{
    struct upload_state *st = p;
    if (!st)
        return;
    hk_form_free(st->form);
    hk_upload_free(st->up);
    free(st);
}

/* Appends a piece of a small text field, refusing more than size-1 bytes or a NUL byte. */
static int field_add(char *buf, size_t size, size_t *len, const char *name, const char *data,
                     size_t n, struct hk_err *err)
{
    if (n >= size - *len || memchr(data, '\0', n))
        return hk_err_setf(err, HK_E(INVAL), name, "%s: at most %zu bytes of text", name, size - 1);
    memcpy(buf + *len, data, n);
    *len += n;
    buf[*len] = '\0';
    return 0;
}

static int on_part(void *arg, const char *name, const char *filename, bool first, const char *data,
                   size_t len, struct hk_err *err)
{
    struct upload_state *st = arg;
    int rc;
    if (first) {
        if (strcmp(name, "file") == 0) {
            /* A "file" part without a file name (curl -F 'file=<x.csv') is still a file. */
            if ((rc = hk_upload_file(st->up, filename ? filename : "", err)) != 0)
                return rc;
            st->part = PART_FILE;
        } else if (strcmp(name, "format") == 0) {
            st->part = PART_FORMAT;
            st->format_len = 0;
            st->format[0] = '\0';
            st->has_format = true;
        } else if (strcmp(name, "shop") == 0) {
            st->part = PART_SHOP;
            st->shop_len = 0;
            st->shop[0] = '\0';
            st->has_shop = true;
        } else {
            return hk_err_setf(err, HK_E(INVAL), "form",
                               "unknown form field '%.64s': send parts named file, format and shop",
                               name);
        }
    }
    if (len == 0)
        return 0;
    switch (st->part) {
    case PART_FILE:
        return hk_upload_write(st->up, data, len, err);
    case PART_FORMAT:
        return field_add(st->format, sizeof st->format, &st->format_len, "format", data, len, err);
    case PART_SHOP:
        return field_add(st->shop, sizeof st->shop, &st->shop_len, "shop", data, len, err);
    case PART_NONE:
        break;
    }
    return hk_err_set(err, HK_E(INTERNAL), "form data outside a part");
}

static bool is_urlencoded(const char *ct)
{
    while (ct && (*ct == ' ' || *ct == '\t'))
        ct++;
    return ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
}

/* An empty option means "not given". */
static const char *option(const char *v)
{
    return v && *v ? v : NULL;
}

int h_imports_upload(struct hk_req *req, const char *data, size_t len, struct hk_err *err)
{
    struct upload_state *st = hk_req_state(req);
    if (data) {
        if (!st)
            return hk_err_set(err, HK_E(INTERNAL), "upload data before its start");
        return st->form ? hk_form_feed(st->form, data, len, err)
                        : hk_upload_write(st->up, data, len, err);
    }

    /* The start: everything that can be refused is refused before the body is read. */
    if (is_urlencoded(hk_req_header(req, "Content-Type")))
        return hk_err_set(err, HK_E(MEDIATYPE),
                          "send the file as multipart/form-data (curl -F file=@orders.csv) or as "
                          "the raw body (curl --data-binary @orders.csv), not as a url-encoded "
                          "form, which loses its line breaks");
    int rc = hk_imports_check_options(option(hk_req_query(req, "format")),
                                      option(hk_req_query(req, "shop")), err);
    if (rc != 0)
        return rc;
    st = calloc(1, sizeof *st);
    if (!st)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    hk_req_set_state(req, st, upload_state_free);
    bool multipart = hk_req_is_multipart(req);
    if (multipart && (rc = hk_form_new(req, on_part, st, &st->form, err)) != 0)
        return rc;
    const struct hk_principal *who = hk_req_principal(req);
    if ((rc = hk_upload_begin(hk_req_app(req), who ? who->user_id : 0, &st->up, err)) != 0)
        return rc;
    if (!multipart) {
        const char *name = option(hk_req_query(req, "filename"));
        if ((rc = hk_upload_file(st->up, name ? name : "upload.csv", err)) != 0)
            return rc;
    }
    return 0;
}

/* ---- JSON ------------------------------------------------------------------------------- */

/* Stored JSON text as a value of the expected type, or an empty array (new reference). */
static json_t *stored_array(const char *text)
{
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_array(v)) {
        json_decref(v); /* unreadable: shown empty rather than failing the request */
        v = json_array();
    }
    return v;
}

static json_t *job_json(const struct hk_import_job *j, bool with_errors)
{
    bool ended = strcmp(j->status, "done") == 0 || strcmp(j->status, "failed") == 0;
    int64_t percent = 0;
    if (strcmp(j->status, "done") == 0)
        percent = 100;
    else if (j->bytes_total > 0)
        percent = j->bytes_done * 100 / j->bytes_total;
    if (!ended && percent > 99)
        percent = 99;
    const struct hk_import_counts *c = &j->counts;
    json_t *result =
        ended ? json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "rows", (json_int_t)c->rows,
                          "orders_created", (json_int_t)c->orders_created, "orders_updated",
                          (json_int_t)c->orders_updated, "orders_unchanged",
                          (json_int_t)c->orders_unchanged, "items_created",
                          (json_int_t)c->items_created, "customers_created",
                          (json_int_t)c->customers_created, "rejected", (json_int_t)c->rejected,
                          "items_waiting", (json_int_t)c->items_waiting)
              : json_null();
    json_t *progress = json_pack("{s:I, s:I, s:I, s:I}", "bytes_done", (json_int_t)j->bytes_done,
                                 "bytes_total", (json_int_t)j->bytes_total, "rows",
                                 (json_int_t)c->rows, "percent", (json_int_t)percent);
    /* The message may quote a file's bytes: shown only when it is valid UTF-8. */
    json_t *message = json_string(j->message);
    if (!message)
        message = json_string("(the message is not valid UTF-8)");
    json_t *o = json_pack(
        "{s:I, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", (json_int_t)j->id,
        "status", j->status, "format", j->format[0] ? j->format : "auto", "shop",
        j->shop[0] ? json_string(j->shop) : json_null(), "files", stored_array(j->files),
        "progress", progress, "result", result, "created_at", hk_http_acct_time(j->created_at),
        "started_at", hk_http_acct_time(j->started_at), "finished_at",
        hk_http_acct_time(j->finished_at), "message", message);
    if (o && with_errors && json_object_set_new(o, "errors", stored_array(j->errors)) != 0) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* ---- handlers --------------------------------------------------------------------------- */

int h_imports_create(struct hk_req *req, struct hk_err *err)
{
    struct upload_state *st = hk_req_state(req);
    if (!st || !st->up)
        return hk_err_set(err, HK_E(INTERNAL), "upload state missing");
    int rc;
    if (st->form && (rc = hk_form_finish(st->form, err)) != 0)
        return rc;
    const char *format = st->has_format ? option(st->format) : option(hk_req_query(req, "format"));
    const char *shop = st->has_shop ? option(st->shop) : option(hk_req_query(req, "shop"));
    if ((rc = hk_upload_commit(st->up, format, shop, err)) != 0)
        return rc;

    int64_t id = hk_upload_id(st->up);
    char location[64];
    snprintf(location, sizeof location, "/api/v1/imports/%lld", (long long)id);
    hk_reply_header(req, "Location", location);
    struct hk_import_job job;
    struct hk_err gerr;
    hk_err_clear(&gerr);
    json_t *body;
    if (hk_imports_get(hk_req_app(req), id, &job, &gerr) == 0) {
        body = job_json(&job, true);
        hk_import_job_release(&job);
    } else {
        /* Queued all the same: say so rather than invite the client to upload again. */
        body = json_pack("{s:I, s:s}", "id", (json_int_t)id, "status", "queued");
    }
    if (!body)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    return hk_reply_json(req, 202, body);
}

int h_imports_get(struct hk_req *req, struct hk_err *err)
{
    int64_t id;
    int rc = hk_req_param_id(req, "id", &id, err);
    if (rc != 0)
        return rc;
    struct hk_import_job job;
    if ((rc = hk_imports_get(hk_req_app(req), id, &job, err)) != 0)
        return rc;
    json_t *body = job_json(&job, true);
    hk_import_job_release(&job);
    if (!body)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    return hk_reply_json(req, 200, body);
}

int h_imports_list(struct hk_req *req, struct hk_err *err)
{
    int64_t cursor, next = 0;
    int limit;
    struct hk_import_job *jobs = NULL;
    size_t n = 0;
    int rc = hk_http_acct_page(req, &cursor, &limit, err);
    if (rc != 0)
        return rc;
    if ((rc = hk_imports_list(hk_req_app(req), cursor, limit, &jobs, &n, &next, err)) != 0)
        return rc;
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++) {
        if (items && json_array_append_new(items, job_json(&jobs[i], false)) != 0) {
            json_decref(items);
            items = NULL;
        }
        hk_import_job_release(&jobs[i]);
    }
    free(jobs);
    json_t *reply =
        json_pack("{s:o, s:o}", "items", items, "next_cursor", hk_http_acct_cursor(next));
    if (!reply)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    return hk_reply_json(req, 200, reply);
}
