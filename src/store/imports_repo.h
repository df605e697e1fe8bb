/*
 * store/imports_repo.h — the imports repository: every SQL statement on the imports table (file
 * import jobs; schema in sql/0001_init.sql), and the one question the demo generator asks of
 * orders (is the database empty?).
 *
 * Design
 *   A job's life is a few status changes, each one statement whose WHERE clause names the
 *   status it expects, so two processes (or a late request) can never move a job twice:
 *     uploading --queue--> queued --claim--> running --finish--> done | failed
 *         |                   ^                 |
 *         +--delete/fail      +----requeue------+   (shutdown, or a crash found at start)
 *   `claim` is a single UPDATE ... WHERE id = (oldest queued) AND status = 'queued' RETURNING,
 *   safe on both backends with several workers: a worker that loses the race gets no row.
 *   `files` and `errors` are JSON text built by the service; this layer stores them as given.
 *
 * Invariants: out-parameters are written only on success; statements are reset before
 * returning; times are epoch seconds (NULL reads as 0).
 *
 * Errors: 0 or a negative HK_E code with err filled; HK_E(NOTFOUND) when the asked-for job does
 * not exist.
 *
 * Threads: stateless; a db is used by one thread at a time (store.h).
 */
#ifndef HK_STORE_IMPORTS_REPO_H
#define HK_STORE_IMPORTS_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_db;
struct hk_err;

#define HK_IMPORT_STATUS_MAX 16
#define HK_IMPORT_FORMAT_MAX 16
#define HK_IMPORT_SHOP_MAX   128
#define HK_IMPORT_MSG_MAX    512

/** What an import produced (the columns of the same names; rows is rows_total). */
struct hk_import_counts {
    int64_t rows;
    int64_t orders_created, orders_updated, orders_unchanged;
    int64_t items_created, customers_created;
    int64_t rejected;
    int64_t items_waiting; /* Taobao detail lines kept for orders not imported yet */
};

/** One imports row. */
struct hk_import_job {
    int64_t id;
    char status[HK_IMPORT_STATUS_MAX]; /* uploading, queued, running, done, failed */
    char format[HK_IMPORT_FORMAT_MAX]; /* auto, generic, taobao, douyin, pdd, jd */
    char shop[HK_IMPORT_SHOP_MAX];     /* "" = the files name their shops (or the default) */
    char *files;                       /* JSON text [{"name","size"}] (owned) */
    char *errors;                      /* JSON text [{file,record,line,column,message}] (owned);
                                          NULL in list results */
    int64_t bytes_total, bytes_done;
    struct hk_import_counts counts;
    char message[HK_IMPORT_MSG_MAX]; /* why it failed or was re-queued; "" otherwise */
    int64_t created_by;              /* users.id, 0 = none */
    int64_t created_at, started_at, finished_at;
};

/** Frees what job owns (files, errors) and leaves them NULL. job may be NULL. */
void hk_import_job_release(struct hk_import_job *job);

/** Inserts a job in status 'uploading' (created_by 0 = NULL); its id in *id. */
int hk_imports_repo_insert(struct hk_db *db, int64_t created_by, int64_t now, int64_t *id,
                           struct hk_err *err);

/**
 * uploading -> queued with its format, shop, files (JSON text) and bytes_total. *changed is
 * false when the job was not uploading (nothing written).
 */
int hk_imports_repo_queue(struct hk_db *db, int64_t id, const char *format, const char *shop,
                          const char *files_json, int64_t bytes_total, bool *changed,
                          struct hk_err *err);

/** Deletes a job that is still uploading (an abandoned upload); no-op otherwise. */
int hk_imports_repo_delete_uploading(struct hk_db *db, int64_t id, struct hk_err *err);

/** The job id, with its errors when with_errors. *out owns new text: hk_import_job_release. */
int hk_imports_repo_get(struct hk_db *db, int64_t id, bool with_errors, struct hk_import_job *out,
                        struct hk_err *err);

/**
 * Jobs with id < before_id (0: from the newest), newest first, at most cap, into rows (caller's
 * array of cap; each filled row owns text: release each). errors is NULL in these rows.
 */
int hk_imports_repo_list(struct hk_db *db, int64_t before_id, size_t cap,
                         struct hk_import_job *rows, size_t *n, struct hk_err *err);

/**
 * Claims the oldest queued job: queued -> running, started_at = now, message cleared. *found is
 * false when there is none (or another worker took it first); else *out is the job (without
 * errors; release it).
 */
int hk_imports_repo_claim(struct hk_db *db, int64_t now, bool *found, struct hk_import_job *out,
                          struct hk_err *err);

/** Progress of a running job. */
int hk_imports_repo_progress(struct hk_db *db, int64_t id, int64_t bytes_done, int64_t rows,
                             struct hk_err *err);

/**
 * running -> status (done or failed) with the counts, errors (JSON text), message, bytes_done
 * and finished_at.
 */
int hk_imports_repo_finish(struct hk_db *db, int64_t id, const char *status,
                           const struct hk_import_counts *c, const char *errors_json,
                           const char *message, int64_t bytes_done, int64_t finished_at,
                           struct hk_err *err);

/** running -> queued with a message (a run interrupted by shutdown; runs again later). */
int hk_imports_repo_requeue(struct hk_db *db, int64_t id, const char *message, struct hk_err *err);

/** Every running job -> queued with message (after a crash); how many in *n. */
int hk_imports_repo_requeue_running(struct hk_db *db, const char *message, int64_t *n,
                                    struct hk_err *err);

/**
 * Ids of jobs still 'uploading' (at most cap, oldest first) into ids; *n how many. At start
 * they are uploads a crash interrupted.
 */
int hk_imports_repo_list_uploading(struct hk_db *db, int64_t *ids, size_t cap, size_t *n,
                                   struct hk_err *err);

/** uploading -> failed with message and finished_at. */
int hk_imports_repo_fail_uploading(struct hk_db *db, int64_t id, const char *message, int64_t now,
                                   struct hk_err *err);

/** Whether the database holds any order (the demo fills empty databases only). */
int hk_imports_repo_orders_exist(struct hk_db *db, bool *out, struct hk_err *err);

#endif
