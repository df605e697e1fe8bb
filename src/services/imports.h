/*
 * imports.h — file imports as background jobs: uploads streamed to disk, a queue in the imports
 * table, and one worker thread that runs each job through the importer (ingest/import.h).
 *
 * Life of a job (status in the imports row, store/imports_repo.h):
 *   uploading  hk_upload_begin created the row and <data_dir>/uploads/<id>/; files are written
 *              there as the request body arrives (never held in memory);
 *   queued     hk_upload_commit checked the options, recorded the files and woke the worker;
 *   running    the worker claimed it and runs hk_import_files over the files, writing progress
 *              (bytes_done, rows) into the row at most every HK_IMPORT_PROGRESS_MS;
 *   done       the counters and the first HK_IMPORT_ERRORS_KEPT row errors are stored; or
 *   failed     the import could not run (unreadable file, missing column ...): message says why.
 * When a job ends (done or failed) its uploaded files are deleted: they hold personal data in
 * clear text, which huike otherwise keeps only encrypted.
 *
 * Crashes and shutdown: hk_import_worker_stop cancels a running job after its current batch and
 * puts it back to queued (files kept); at start, jobs left running by a crash are re-queued and
 * uploads left half-written are failed and their files removed. Running a job again is safe:
 * imports are idempotent (every order is an upsert by natural key), so a re-run completes what
 * the interrupted one started and its counters report the earlier part as unchanged.
 *
 * Files on disk are named by the sanitised upload name (unique within a job; "orders.csv",
 * "orders-2.csv"); that name is also how row errors and GET /imports/{id} call the file. The
 * worker imports a job's files in name order (the importer itself puts Taobao detail lists
 * before order lists).
 *
 * Several processes: the claim is atomic, so several huike processes on one PostgreSQL never run
 * a job twice; they must share data_dir (the files are there), and the start-up recovery assumes
 * one process runs jobs (it re-queues every running job).
 *
 * Threads: an hk_upload belongs to one thread at a time. The queries are thread-safe. The worker
 * has its own thread; start, wake and stop may be called from any thread, stop once.
 */
#ifndef HK_SERVICES_IMPORTS_H
#define HK_SERVICES_IMPORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/imports_repo.h"

struct hk_app;
struct hk_err;

#define HK_IMPORT_FILES_MAX   64   /* files in one upload */
#define HK_IMPORT_NAME_MAX    128  /* bytes of a sanitised file name, NUL included */
#define HK_IMPORT_ERRORS_KEPT 100  /* row errors stored with a job */
#define HK_IMPORT_PROGRESS_MS 500  /* progress written at most this often */
#define HK_IMPORT_POLL_MS     2000 /* the worker looks for queued jobs this often when idle */

/* ---- uploads ---------------------------------------------------------------------------- */

struct hk_upload; /* opaque: an upload in progress */

/**
 * Checks upload options before any data is read: format (NULL = "auto") must be one of auto,
 * generic, taobao, douyin, pdd, jd; shop (NULL = none) at most HK_IMPORT_SHOP_MAX-1 bytes of
 * UTF-8 text without control characters. HK_E(INVAL) naming the field otherwise.
 */
int hk_imports_check_options(const char *format, const char *shop, struct hk_err *err);

/**
 * Starts an upload for user_id (0 = none): creates its job (status uploading) and directory.
 * Returns 0 and a new upload in *out (end it with hk_upload_commit and/or hk_upload_free);
 * HK_E(IO) when the directory cannot be made, store errors.
 */
int hk_upload_begin(struct hk_app *app, int64_t user_id, struct hk_upload **out,
                    struct hk_err *err);

/** The job id of the upload. */
int64_t hk_upload_id(const struct hk_upload *u);

/**
 * Starts the next file, named after the client's name (borrowed; sanitised: directory parts,
 * control and reserved characters and invalid UTF-8 removed, made unique within the upload,
 * "upload.csv" when nothing is left). Closes the previous file. HK_E(INVAL) past
 * HK_IMPORT_FILES_MAX files, HK_E(IO) when the file cannot be created.
 */
int hk_upload_file(struct hk_upload *u, const char *client_name, struct hk_err *err);

/**
 * Appends data to the current file (written through to disk, not buffered beyond the kernel).
 * HK_E(TOOLARGE) when the upload's files together would pass cfg.upload_limit, HK_E(INVAL) when
 * no file was started, HK_E(IO) when the disk refuses (full ...).
 */
int hk_upload_write(struct hk_upload *u, const void *data, size_t len, struct hk_err *err);

/**
 * Finishes the upload: checks the options (as hk_imports_check_options; NULL format = auto,
 * NULL shop = none), that at least one file came, syncs the files to disk, and queues the job
 * (status queued) for the worker, which it wakes (app's worker, when one runs). On failure the
 * upload stays uncommitted and hk_upload_free removes it.
 */
int hk_upload_commit(struct hk_upload *u, const char *format, const char *shop, struct hk_err *err);

/**
 * Frees u (may be NULL). An upload not committed is removed entirely: its files, its directory
 * and its job row. Never fails (problems are logged).
 */
void hk_upload_free(struct hk_upload *u);

/* ---- queries ---------------------------------------------------------------------------- */

/** The job id with its errors (release with hk_import_job_release). HK_E(NOTFOUND). */
int hk_imports_get(struct hk_app *app, int64_t id, struct hk_import_job *out, struct hk_err *err);

/**
 * Jobs newest first with id < cursor (0: from the newest), at most limit (1-500; other values
 * become 50), without their errors. *out is a new array (free each with hk_import_job_release,
 * then the array; NULL when *n is 0); *next_cursor for the next page, 0 when this is the last.
 */
int hk_imports_list(struct hk_app *app, int64_t cursor, int limit, struct hk_import_job **out,
                    size_t *n, int64_t *next_cursor, struct hk_err *err);

/* ---- the worker ------------------------------------------------------------------------- */

struct hk_import_worker; /* opaque */

/**
 * Recovers from a crash (running jobs re-queued, interrupted uploads failed and removed), then
 * starts the worker thread. app is borrowed and must outlive the worker. Returns 0 and a new
 * worker in *out (stop it with hk_import_worker_stop).
 */
int hk_import_worker_start(struct hk_app *app, struct hk_import_worker **out, struct hk_err *err);

/** Tells the worker a job was queued (it also polls). w may be NULL. */
void hk_import_worker_wake(struct hk_import_worker *w);

/**
 * Stops the worker and frees it (w may be NULL): a running job is cancelled after its current
 * batch and re-queued, to run again at the next start. Waits for the thread to end.
 */
void hk_import_worker_stop(struct hk_import_worker *w);

#endif
