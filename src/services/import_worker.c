/*
 * import_worker.c — the import job runner: one thread that takes queued jobs from the imports
 * table, one at a time, and runs them through hk_import_files (see imports.h for the life of a
 * job).
 *
 * Design
 *   The thread loops: claim the oldest queued job (an atomic UPDATE, so several processes on one
 *   PostgreSQL never run a job twice), run it, repeat; with nothing queued it sleeps on a
 *   condition variable until woken by an upload (hk_import_worker_wake) or HK_IMPORT_POLL_MS
 *   pass (jobs queued by another process). One job at a time: imports write in large
 *   transactions, and a second concurrent one would only queue behind the first in the store.
 *
 *   Progress: the importer calls back after each committed batch; at most every
 *   HK_IMPORT_PROGRESS_MS the callback writes bytes_done and rows into the job's row, on a
 *   connection of its own taken for the whole run (the importer holds another; the pool is
 *   sized for the HTTP threads plus two, store.h). A failed progress write is logged once and
 *   otherwise ignored: progress is a courtesy, the result is what counts.
 *
 *   Stopping: hk_import_worker_stop sets `cancel`, which the importer reads between batches, so a
 *   running job ends after its current batch (committed) and goes back to queued with its files
 *   kept; the next start runs it again, completing it exactly (imports are idempotent).
 *
 * Invariants: a job this worker claimed ends done, failed or queued again before the thread
 * takes another; a job's files are removed only after its row says done or failed. Row errors
 * and file contents are never logged (they may hold personal data): the log says how many.
 *
 * Threads: the worker thread runs jobs; wake and stop are for any other thread. `lock` guards
 * wake and stopping; `cancel` is written by stop and read by the importer (the importer's
 * contract takes a volatile int).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/jsontext.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "ingest/import.h"
#include "ingest/reader.h"
#include "services/app.h"
#include "services/imports.h"
#include "services/imports_int.h"
#include "store/store.h"

struct hk_import_worker {
    struct hk_app *app; /* borrowed */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    bool wake;           /* under lock: a job was queued */
    bool stopping;       /* under lock */
    volatile int cancel; /* stop: the importer ends after its current batch */
};

struct progress {
    struct hk_import_worker *w;
    struct hk_db *db; /* NULL: progress is not written */
    int64_t id;
    int64_t last_ms;
    int64_t bytes_done;
    bool warned;
};

/* The files of a job: names (as errors call them) and paths, in name order. */
struct job_files {
    size_t n;
    char **names; /* owned */
    char **paths; /* owned */
};

static void log_job(struct hk_app *app, enum hk_log_level level, const char *event, int64_t id,
                    const char *k1, const char *v1, const char *k2, const char *v2)
{
    char sid[24];
    snprintf(sid, sizeof sid, "%lld", (long long)id);
    hk_log_kv(&app->log, level, event, NULL, "import", sid, k1, v1, k2, v2, NULL);
}

/* ---- a job's files ---------------------------------------------------------------------- */

static void files_release(struct job_files *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->names[i]);
        free(f->paths[i]);
    }
    free(f->names);
    free(f->paths);
    memset(f, 0, sizeof *f);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_files(const char *dir, struct job_files *out, struct hk_err *err)
{
    struct job_files f = {0};
    size_t cap = 0;
    int rc = 0;
    DIR *d = opendir(dir);
    if (!d)
        return hk_err_set(err, HK_E(IO), "the uploaded files are gone (%s: %s)", dir,
                          strerror(errno));
    struct dirent *e;
    char path[HK_IMPORT_PATH_MAX + 256 + 2];
    while (rc == 0 && (e = readdir(d)) != NULL) {
        struct stat st;
        int n = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (n < 0 || (size_t)n >= sizeof path || lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue; /* ".", "..", and anything the upload did not write */
        if (f.n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            char **nn = realloc(f.names, ncap * sizeof *nn);
            if (nn)
                f.names = nn;
            if (!nn) {
                rc = hk_err_set(err, HK_E(NOMEM), "out of memory listing upload files");
                break;
            }
            cap = ncap;
        }
        if (!(f.names[f.n] = hk_strdup(e->d_name)))
            rc = hk_err_set(err, HK_E(NOMEM), "out of memory listing upload files");
        else
            f.n++;
    }
    closedir(d);
    if (rc == 0 && f.n == 0)
        rc = hk_err_set(err, HK_E(IO), "the uploaded files are gone");
    if (rc == 0) {
        qsort(f.names, f.n, sizeof *f.names, cmp_names);
        if (!(f.paths = calloc(f.n, sizeof *f.paths)))
            rc = hk_err_set(err, HK_E(NOMEM), "out of memory listing upload files");
    }
    for (size_t i = 0; rc == 0 && i < f.n; i++) {
        int n = snprintf(path, sizeof path, "%s/%s", dir, f.names[i]);
        if (n < 0 || (size_t)n >= sizeof path || !(f.paths[i] = hk_strdup(path)))
            rc = hk_err_set(err, HK_E(NOMEM), "out of memory listing upload files");
    }
    if (rc != 0) {
        files_release(&f);
        return rc;
    }
    *out = f;
    return 0;
}

/* ---- running one job -------------------------------------------------------------------- */

static void on_progress(void *arg, int64_t bytes_done, int64_t bytes_total, int64_t rows)
{
    struct progress *p = arg;
    (void)bytes_total;
    p->bytes_done = bytes_done;
    int64_t now = hk_monotonic_ms();
    if (!p->db || now - p->last_ms < HK_IMPORT_PROGRESS_MS)
        return;
    p->last_ms = now;
    struct hk_err err;
    hk_err_clear(&err);
    if (hk_imports_repo_progress(p->db, p->id, bytes_done, rows, &err) != 0 && !p->warned) {
        p->warned = true;
        log_job(p->w->app, HK_LOG_WARN, "import.progress_failed", p->id, "error",
                hk_err_message(&err), NULL, NULL);
    }
}

/* The first row errors as JSON text (new; caller frees); NULL when out of memory. */
static char *errors_json(const struct hk_import_result *res)
{
    struct hk_strbuf sb;
    hk_strbuf_init(&sb, 0);
    int rc = hk_strbuf_addch(&sb, '[');
    size_t n = res->nerrors < HK_IMPORT_ERRORS_KEPT ? res->nerrors : HK_IMPORT_ERRORS_KEPT;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct hk_row_error *e = &res->errors[i];
        rc = hk_strbuf_adds(&sb, i ? ",{" : "{");
        if (rc == 0 && (rc = hk_json_text_key(&sb, "file")) == 0)
            rc = hk_json_text_string(&sb, e->file ? e->file : "", (size_t)-1);
        if (rc == 0 && (rc = hk_strbuf_addch(&sb, ',')) == 0 &&
            (rc = hk_json_text_key(&sb, "record")) == 0)
            rc = hk_json_text_int(&sb, e->record);
        if (rc == 0 && (rc = hk_strbuf_addch(&sb, ',')) == 0 &&
            (rc = hk_json_text_key(&sb, "line")) == 0)
            rc = hk_json_text_int(&sb, e->line);
        if (rc == 0 && (rc = hk_strbuf_addch(&sb, ',')) == 0 &&
            (rc = hk_json_text_key(&sb, "column")) == 0)
            rc = e->column[0]
                     ? hk_json_text_string(&sb, e->column, strnlen(e->column, sizeof e->column))
                     : hk_strbuf_adds(&sb, "null");
        if (rc == 0 && (rc = hk_strbuf_addch(&sb, ',')) == 0 &&
            (rc = hk_json_text_key(&sb, "message")) == 0)
            rc = hk_json_text_string(&sb, e->message, strnlen(e->message, sizeof e->message));
        if (rc == 0)
            rc = hk_strbuf_addch(&sb, '}');
    }
    if (rc == 0)
        rc = hk_strbuf_addch(&sb, ']');
    if (rc != 0) {
        hk_strbuf_release(&sb);
        return NULL;
    }
    return hk_strbuf_detach(&sb, NULL);
}

/* Writes the job's end: done/failed with what res says. 0, or the store's error (logged). */
static int finish(struct hk_import_worker *w, const struct hk_import_job *job, const char *status,
                  const struct hk_import_result *res, const char *message, int64_t bytes_done)
{
    struct hk_app *app = w->app;
    struct hk_import_counts c = {0};
    char *errors = NULL;
    if (res) {
        c.rows = res->rows;
        c.orders_created = res->orders_created;
        c.orders_updated = res->orders_updated;
        c.orders_unchanged = res->orders_unchanged;
        c.items_created = res->items_created;
        c.customers_created = res->customers_created;
        c.rejected = res->rejected;
        c.items_waiting = res->items_staged;
        errors = errors_json(res); /* NULL (out of memory): stored as [] */
    }
    struct hk_err err;
    hk_err_clear(&err);
    struct hk_db *db = NULL;
    int rc = hk_db_acquire(app->store, &db, &err);
    if (rc == 0)
        rc = hk_imports_repo_finish(db, job->id, status, &c, errors, message, bytes_done,
                                    hk_clock_now(&app->clock), &err);
    hk_db_release(db);
    free(errors);
    if (rc != 0)
        log_job(app, HK_LOG_ERROR, "import.finish_failed", job->id, "error", hk_err_message(&err),
                NULL, NULL);
    return rc;
}

static void requeue(struct hk_import_worker *w, const struct hk_import_job *job, int64_t rows)
{
    struct hk_app *app = w->app;
    char msg[160];
    snprintf(msg, sizeof msg,
             "stopped by a server shutdown after %lld rows; it runs again when the server starts",
             (long long)rows);
    struct hk_err err;
    hk_err_clear(&err);
    struct hk_db *db = NULL;
    int rc = hk_db_acquire(app->store, &db, &err);
    if (rc == 0)
        rc = hk_imports_repo_requeue(db, job->id, msg, &err);
    hk_db_release(db);
    /* On failure the row stays running; the next start re-queues it all the same. */
    log_job(app, rc == 0 ? HK_LOG_INFO : HK_LOG_WARN, "import.requeued", job->id, "error",
            rc == 0 ? NULL : hk_err_message(&err), NULL, NULL);
}

static void run_job(struct hk_import_worker *w, const struct hk_import_job *job)
{
    struct hk_app *app = w->app;
    struct hk_err err;
    hk_err_clear(&err);
    struct job_files files = {0};
    struct hk_import_result res;
    memset(&res, 0, sizeof res);
    int64_t t0 = hk_monotonic_ms();
    char dir[HK_IMPORT_PATH_MAX];
    enum hk_import_format fmt = HK_FMT_AUTO;

    int rc = hk_imports_dir(app, job->id, false, dir, sizeof dir, &err);
    if (rc == 0)
        rc = list_files(dir, &files, &err);
    if (rc == 0)
        rc = hk_import_format_parse(job->format[0] ? job->format : "auto", &fmt, &err);
    if (rc != 0) {
        if (finish(w, job, "failed", NULL, hk_err_message(&err), 0) == 0)
            hk_imports_remove_dir(app, dir);
        log_job(app, HK_LOG_WARN, "import.failed", job->id, "error", hk_err_message(&err), NULL,
                NULL);
        return;
    }
    char nfiles[16];
    snprintf(nfiles, sizeof nfiles, "%zu", files.n);
    log_job(app, HK_LOG_INFO, "import.started", job->id, "files", nfiles, "format", job->format);

    /* last_ms 0: the first batch is reported at once, then at most every HK_IMPORT_PROGRESS_MS */
    struct progress prog = {.w = w, .id = job->id, .last_ms = 0};
    struct hk_err perr;
    if (hk_db_acquire(app->store, &prog.db, &perr) != 0)
        prog.db = NULL; /* no progress reports, the import itself still runs */
    const struct hk_ingest_ctx ctx = {
        .store = app->store, .keys = &app->keys, .tz = app->tz, .now = hk_clock_now(&app->clock)};
    const struct hk_import_opts opts = {
        .format = fmt,
        .shop = job->shop[0] ? job->shop : NULL,
        .max_errors_kept = HK_IMPORT_ERRORS_KEPT,
        .batch_orders = app->cfg.import_batch > 0 ? (int)app->cfg.import_batch : 0,
        .progress = on_progress,
        .progress_arg = &prog,
        .cancel = &w->cancel,
        .no_pipeline = strcmp(app->cfg.import_pipeline, "off") == 0,
    };
    rc = hk_import_files(&ctx, (const char *const *)files.paths, (const char *const *)files.names,
                         files.n, &opts, &res, &err);
    hk_db_release(prog.db);

    /* Cancelled by a shutdown, unless the last batch was already in. */
    if (w->cancel && !(rc == 0 && prog.bytes_done >= job->bytes_total)) {
        requeue(w, job, res.rows);
    } else {
        bool ok = rc == 0;
        if (finish(w, job, ok ? "done" : "failed", &res, ok ? "" : hk_err_message(&err),
                   ok ? job->bytes_total : prog.bytes_done) == 0)
            hk_imports_remove_dir(app, dir);
        char rows[24], rejected[24], ms[24];
        snprintf(rows, sizeof rows, "%lld", (long long)res.rows);
        snprintf(rejected, sizeof rejected, "%lld", (long long)res.rejected);
        snprintf(ms, sizeof ms, "%lld", (long long)(hk_monotonic_ms() - t0));
        char sid[24];
        snprintf(sid, sizeof sid, "%lld", (long long)job->id);
        hk_log_kv(&app->log, ok ? HK_LOG_INFO : HK_LOG_WARN, ok ? "import.done" : "import.failed",
                  NULL, "import", sid, "rows", rows, "rejected", rejected, "ms", ms, "error",
                  ok ? NULL : hk_err_message(&err), NULL);
    }
    hk_import_result_release(&res);
    files_release(&files);
}

/* ---- the thread ------------------------------------------------------------------------- */

/* Claims and runs one job. 1 when one ran, 0 when none was queued, <0 on a store error. */
static int run_next(struct hk_import_worker *w)
{
    struct hk_app *app = w->app;
    struct hk_err err;
    hk_err_clear(&err);
    struct hk_import_job job;
    bool found = false;
    struct hk_db *db = NULL;
    int rc = hk_db_acquire(app->store, &db, &err);
    if (rc == 0)
        rc = hk_imports_repo_claim(db, hk_clock_now(&app->clock), &found, &job, &err);
    hk_db_release(db);
    if (rc != 0) {
        hk_log_kv(&app->log, HK_LOG_WARN, "import.claim_failed", NULL, "error",
                  hk_err_message(&err), NULL);
        return rc;
    }
    if (!found)
        return 0;
    run_job(w, &job);
    hk_import_job_release(&job);
    return 1;
}

static void *worker_main(void *arg)
{
    struct hk_import_worker *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        bool stop = w->stopping;
        w->wake = false;
        pthread_mutex_unlock(&w->lock);
        if (stop)
            break;
        if (run_next(w) == 1)
            continue;
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += HK_IMPORT_POLL_MS / 1000;
        deadline.tv_nsec += (long)(HK_IMPORT_POLL_MS % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&w->lock);
        while (!w->wake && !w->stopping)
            if (pthread_cond_timedwait(&w->cond, &w->lock, &deadline) == ETIMEDOUT)
                break;
        pthread_mutex_unlock(&w->lock);
    }
    return NULL;
}

/* Jobs a crash left behind: running ones go back to the queue, half uploads are removed. */
static int recover(struct hk_app *app, struct hk_err *err)
{
    struct hk_db *db = NULL;
    int64_t requeued = 0;
    int64_t ids[64];
    size_t n = 0;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc == 0)
        rc = hk_imports_repo_requeue_running(
            db, "re-queued: the server stopped while it ran; it runs again from the start",
            &requeued, err);
    int rounds = 0; /* bounded: a row another process holds must not keep us here */
    do {
        if (rc == 0)
            rc = hk_imports_repo_list_uploading(db, ids, HK_ARRAY_LEN(ids), &n, err);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            char dir[HK_IMPORT_PATH_MAX];
            rc = hk_imports_repo_fail_uploading(
                db, ids[i], "the upload was interrupted; upload the files again",
                hk_clock_now(&app->clock), err);
            if (rc == 0 && hk_imports_dir(app, ids[i], false, dir, sizeof dir, err) == 0)
                hk_imports_remove_dir(app, dir);
        }
    } while (rc == 0 && n == HK_ARRAY_LEN(ids) && ++rounds < 100);
    hk_db_release(db);
    if (rc == 0 && requeued > 0) {
        char sn[24];
        snprintf(sn, sizeof sn, "%lld", (long long)requeued);
        hk_log_kv(&app->log, HK_LOG_INFO, "import.recovered", NULL, "requeued", sn, NULL);
    }
    return rc;
}

int hk_import_worker_start(struct hk_app *app, struct hk_import_worker **out, struct hk_err *err)
{
    int rc = recover(app, err);
    if (rc != 0)
        return rc;
    struct hk_import_worker *w = calloc(1, sizeof *w);
    if (!w)
        return hk_err_set(err, HK_E(NOMEM), "out of memory starting the import worker");
    w->app = app;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_mutex_init(&w->lock, NULL) != 0 || pthread_cond_init(&w->cond, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        free(w);
        return hk_err_set(err, HK_E(INTERNAL), "cannot initialise the import worker's locks");
    }
    pthread_condattr_destroy(&ca);
    if ((rc = pthread_create(&w->thread, NULL, worker_main, w)) != 0) {
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return hk_err_set(err, HK_E(INTERNAL), "cannot start the import worker: %s", strerror(rc));
    }
    *out = w;
    return 0;
}

void hk_import_worker_wake(struct hk_import_worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->wake = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

void hk_import_worker_stop(struct hk_import_worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    w->cancel = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
