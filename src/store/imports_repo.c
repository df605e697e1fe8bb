/*
 * store/imports_repo.c — SQL for import jobs (see imports_repo.h).
 *
 * Statements are named "imp_<what>", portable SQL with $N parameters, prepared once per
 * connection. Each function gets its statement, binds, steps, copies the row out and resets
 * before returning (an unfinished SELECT would keep an SQLite read snapshot open). The two text
 * columns that can be long (files, errors) are copied to the heap; the rest fit fixed buffers.
 *
 * Threads: stateless; a db is used by one thread at a time (store.h).
 */
#include "store/imports_repo.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "store/repo_util.h"
#include "store/store.h"

#define JOB_COLUMNS                                                                                \
    "id, status, format, shop, files, bytes_total, bytes_done, rows_total, orders_created, "       \
    "orders_updated, orders_unchanged, items_created, customers_created, rejected, message, "      \
    "created_by, created_at, started_at, finished_at, items_waiting"
#define JOB_NCOLUMNS 20 /* the errors column, when read, comes after these */

static int out_of_memory(struct hk_err *err)
{
    return hk_err_set(err, HK_E(NOMEM), "out of memory reading an import job");
}

/* Reads the current row (JOB_COLUMNS, then errors when with_errors) into job. */
static int read_job(struct hk_stmt *st, bool with_errors, struct hk_import_job *job,
                    struct hk_err *err)
{
    memset(job, 0, sizeof *job);
    job->id = hk_stmt_int64(st, 0);
    hk_stmt_text_copy(st, 1, job->status, sizeof job->status);
    hk_stmt_text_copy(st, 2, job->format, sizeof job->format);
    hk_stmt_text_copy(st, 3, job->shop, sizeof job->shop);
    job->files = hk_stmt_text_dup(st, 4);
    job->bytes_total = hk_stmt_int64(st, 5);
    job->bytes_done = hk_stmt_int64(st, 6);
    job->counts.rows = hk_stmt_int64(st, 7);
    job->counts.orders_created = hk_stmt_int64(st, 8);
    job->counts.orders_updated = hk_stmt_int64(st, 9);
    job->counts.orders_unchanged = hk_stmt_int64(st, 10);
    job->counts.items_created = hk_stmt_int64(st, 11);
    job->counts.customers_created = hk_stmt_int64(st, 12);
    job->counts.rejected = hk_stmt_int64(st, 13);
    hk_stmt_text_copy(st, 14, job->message, sizeof job->message);
    job->created_by = hk_stmt_int64(st, 15);
    job->created_at = hk_stmt_int64(st, 16);
    job->started_at = hk_stmt_int64(st, 17);
    job->finished_at = hk_stmt_int64(st, 18);
    job->counts.items_waiting = hk_stmt_int64(st, 19);
    if (with_errors)
        job->errors = hk_stmt_text_dup(st, JOB_NCOLUMNS);
    if (!job->files || (with_errors && !job->errors)) {
        hk_import_job_release(job);
        return out_of_memory(err);
    }
    return 0;
}

void hk_import_job_release(struct hk_import_job *job)
{
    if (!job)
        return;
    free(job->files);
    free(job->errors);
    job->files = NULL;
    job->errors = NULL;
}

int hk_imports_repo_insert(struct hk_db *db, int64_t created_by, int64_t now, int64_t *id,
                           struct hk_err *err)
{
    static const char name[] = "imp_insert";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name,
                        "INSERT INTO imports (status, created_by, created_at) "
                        "VALUES ('uploading', $1, $2) RETURNING id",
                        &st, err);
    if (rc != 0)
        return rc;
    int b = created_by > 0 ? hk_stmt_bind_int64(st, 1, created_by) : hk_stmt_bind_null(st, 1);
    b |= hk_stmt_bind_int64(st, 2, now);
    if (b != 0)
        return hk_stmt_bind_failed(st, name, err);
    bool found = false;
    if ((rc = hk_stmt_find_int64(st, id, &found, err)) == 0 && !found)
        rc = hk_err_set(err, HK_E(STORE), "%s returned no id", name);
    return rc;
}

int hk_imports_repo_queue(struct hk_db *db, int64_t id, const char *format, const char *shop,
                          const char *files_json, int64_t bytes_total, bool *changed,
                          struct hk_err *err)
{
    static const char name[] = "imp_queue";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name,
                        "UPDATE imports SET status = 'queued', format = $2, shop = $3, files = $4, "
                        "bytes_total = $5 WHERE id = $1 AND status = 'uploading' RETURNING id",
                        &st, err);
    if (rc != 0)
        return rc;
    int b = hk_stmt_bind_int64(st, 1, id);
    b |= hk_stmt_bind_text(st, 2, format, (size_t)-1);
    b |= hk_stmt_bind_text(st, 3, shop, (size_t)-1);
    b |= hk_stmt_bind_text(st, 4, files_json, (size_t)-1);
    b |= hk_stmt_bind_int64(st, 5, bytes_total);
    if (b != 0)
        return hk_stmt_bind_failed(st, name, err);
    return hk_stmt_exec_returning(st, changed, err);
}

int hk_imports_repo_delete_uploading(struct hk_db *db, int64_t id, struct hk_err *err)
{
    static const char name[] = "imp_delete_uploading";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name, "DELETE FROM imports WHERE id = $1 AND status = 'uploading'", &st,
                        err);
    if (rc != 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, id) != 0)
        return hk_stmt_bind_failed(st, name, err);
    return hk_stmt_exec(st, err);
}

int hk_imports_repo_get(struct hk_db *db, int64_t id, bool with_errors, struct hk_import_job *out,
                        struct hk_err *err)
{
    const char *name = with_errors ? "imp_get_errors" : "imp_get";
    const char *sql = with_errors ? "SELECT " JOB_COLUMNS ", errors FROM imports WHERE id = $1"
                                  : "SELECT " JOB_COLUMNS " FROM imports WHERE id = $1";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name, sql, &st, err);
    if (rc != 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, id) != 0)
        return hk_stmt_bind_failed(st, name, err);
    rc = hk_stmt_step(st, err);
    if (rc == HK_ROW) {
        struct hk_import_job job;
        rc = read_job(st, with_errors, &job, err);
        if (rc == 0)
            *out = job;
    } else if (rc == HK_DONE) {
        rc = hk_err_set(err, HK_E(NOTFOUND), "import %lld not found", (long long)id);
    }
    hk_stmt_reset(st);
    return rc;
}

int hk_imports_repo_list(struct hk_db *db, int64_t before_id, size_t cap,
                         struct hk_import_job *rows, size_t *n, struct hk_err *err)
{
    static const char name[] = "imp_list";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name,
                        "SELECT " JOB_COLUMNS " FROM imports "
                        "WHERE (CAST($1 AS BIGINT) = 0 OR id < $1) ORDER BY id DESC LIMIT $2",
                        &st, err);
    if (rc != 0)
        return rc;
    int b = hk_stmt_bind_int64(st, 1, before_id > 0 ? before_id : 0);
    b |= hk_stmt_bind_int64(st, 2, (int64_t)cap);
    if (b != 0)
        return hk_stmt_bind_failed(st, name, err);
    size_t count = 0;
    while (count < cap && (rc = hk_stmt_step(st, err)) == HK_ROW) {
        if ((rc = read_job(st, false, &rows[count], err)) != 0)
            break;
        count++;
    }
    hk_stmt_reset(st);
    if (rc < 0) {
        for (size_t i = 0; i < count; i++)
            hk_import_job_release(&rows[i]);
        return rc;
    }
    *n = count;
    return 0;
}

int hk_imports_repo_claim(struct hk_db *db, int64_t now, bool *found, struct hk_import_job *out,
                          struct hk_err *err)
{
    static const char name[] = "imp_claim";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name,
                        "UPDATE imports SET status = 'running', started_at = $1, message = '' "
                        "WHERE id = (SELECT MIN(id) FROM imports WHERE status = 'queued') "
                        "AND status = 'queued' RETURNING id",
                        &st, err);
    if (rc != 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, now) != 0)
        return hk_stmt_bind_failed(st, name, err);
    rc = hk_stmt_step(st, err);
    int64_t id = rc == HK_ROW ? hk_stmt_int64(st, 0) : 0;
    hk_stmt_reset(st);
    if (rc < 0)
        return rc;
    if (id == 0) {
        *found = false;
        return 0;
    }
    if ((rc = hk_imports_repo_get(db, id, false, out, err)) != 0)
        return rc;
    *found = true;
    return 0;
}

int hk_imports_repo_progress(struct hk_db *db, int64_t id, int64_t bytes_done, int64_t rows,
                             struct hk_err *err)
{
    static const char name[] = "imp_progress";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name,
                        "UPDATE imports SET bytes_done = $2, rows_total = $3 "
                        "WHERE id = $1 AND status = 'running'",
                        &st, err);
    if (rc != 0)
        return rc;
    int b = hk_stmt_bind_int64(st, 1, id);
    b |= hk_stmt_bind_int64(st, 2, bytes_done);
    b |= hk_stmt_bind_int64(st, 3, rows);
    if (b != 0)
        return hk_stmt_bind_failed(st, name, err);
    return hk_stmt_exec(st, err);
}

int hk_imports_repo_finish(struct hk_db *db, int64_t id, const char *status,
                           const struct hk_import_counts *c, const char *errors_json,
                           const char *message, int64_t bytes_done, int64_t finished_at,
                           struct hk_err *err)
{
    static const char name[] = "imp_finish";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name,
                        "UPDATE imports SET status = $2, rows_total = $3, orders_created = $4, "
                        "orders_updated = $5, orders_unchanged = $6, items_created = $7, "
                        "customers_created = $8, rejected = $9, errors = $10, message = $11, "
                        "bytes_done = $12, finished_at = $13, items_waiting = $14 "
                        "WHERE id = $1 AND status = 'running'",
                        &st, err);
    if (rc != 0)
        return rc;
    int b = hk_stmt_bind_int64(st, 1, id);
    b |= hk_stmt_bind_text(st, 2, status, (size_t)-1);
    b |= hk_stmt_bind_int64(st, 3, c->rows);
    b |= hk_stmt_bind_int64(st, 4, c->orders_created);
    b |= hk_stmt_bind_int64(st, 5, c->orders_updated);
    b |= hk_stmt_bind_int64(st, 6, c->orders_unchanged);
    b |= hk_stmt_bind_int64(st, 7, c->items_created);
    b |= hk_stmt_bind_int64(st, 8, c->customers_created);
    b |= hk_stmt_bind_int64(st, 9, c->rejected);
    b |= hk_stmt_bind_text(st, 10, errors_json ? errors_json : "[]", (size_t)-1);
    b |= hk_stmt_bind_text(st, 11, message ? message : "", (size_t)-1);
    b |= hk_stmt_bind_int64(st, 12, bytes_done);
    b |= hk_stmt_bind_int64(st, 13, finished_at);
    b |= hk_stmt_bind_int64(st, 14, c->items_waiting);
    if (b != 0)
        return hk_stmt_bind_failed(st, name, err);
    return hk_stmt_exec(st, err);
}

int hk_imports_repo_requeue(struct hk_db *db, int64_t id, const char *message, struct hk_err *err)
{
    static const char name[] = "imp_requeue";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name,
                        "UPDATE imports SET status = 'queued', message = $2 "
                        "WHERE id = $1 AND status = 'running'",
                        &st, err);
    if (rc != 0)
        return rc;
    int b = hk_stmt_bind_int64(st, 1, id);
    b |= hk_stmt_bind_text(st, 2, message, (size_t)-1);
    if (b != 0)
        return hk_stmt_bind_failed(st, name, err);
    return hk_stmt_exec(st, err);
}

int hk_imports_repo_requeue_running(struct hk_db *db, const char *message, int64_t *n,
                                    struct hk_err *err)
{
    static const char name[] = "imp_requeue_running";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name,
                        "UPDATE imports SET status = 'queued', message = $1 "
                        "WHERE status = 'running'",
                        &st, err);
    if (rc != 0)
        return rc;
    if (hk_stmt_bind_text(st, 1, message, (size_t)-1) != 0)
        return hk_stmt_bind_failed(st, name, err);
    if ((rc = hk_stmt_exec(st, err)) != 0)
        return rc;
    *n = hk_stmt_changes(st);
    return 0;
}

int hk_imports_repo_list_uploading(struct hk_db *db, int64_t *ids, size_t cap, size_t *n,
                                   struct hk_err *err)
{
    static const char name[] = "imp_list_uploading";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name,
                        "SELECT id FROM imports WHERE status = 'uploading' ORDER BY id LIMIT $1",
                        &st, err);
    if (rc != 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, (int64_t)cap) != 0)
        return hk_stmt_bind_failed(st, name, err);
    size_t count = 0;
    while (count < cap && (rc = hk_stmt_step(st, err)) == HK_ROW)
        ids[count++] = hk_stmt_int64(st, 0);
    hk_stmt_reset(st);
    if (rc < 0)
        return rc;
    *n = count;
    return 0;
}

int hk_imports_repo_fail_uploading(struct hk_db *db, int64_t id, const char *message, int64_t now,
                                   struct hk_err *err)
{
    static const char name[] = "imp_fail_uploading";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name,
                        "UPDATE imports SET status = 'failed', message = $2, finished_at = $3 "
                        "WHERE id = $1 AND status = 'uploading'",
                        &st, err);
    if (rc != 0)
        return rc;
    int b = hk_stmt_bind_int64(st, 1, id);
    b |= hk_stmt_bind_text(st, 2, message, (size_t)-1);
    b |= hk_stmt_bind_int64(st, 3, now);
    if (b != 0)
        return hk_stmt_bind_failed(st, name, err);
    return hk_stmt_exec(st, err);
}

int hk_imports_repo_orders_exist(struct hk_db *db, bool *out, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "imp_orders_exist", "SELECT id FROM orders LIMIT 1", &st, err);
    if (rc != 0)
        return rc;
    rc = hk_stmt_step(st, err);
    hk_stmt_reset(st);
    if (rc < 0)
        return rc;
    *out = rc == HK_ROW;
    return 0;
}
