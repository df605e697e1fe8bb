/*
 * import.h — bringing orders into the store: from files (readers, reader.h) and from the REST
 * ingest API, through one path that resolves identities and upserts orders.
 *
 * Invariants (the reasons this module exists):
 *   - No lost order, no duplicated order: an order's natural key is (shop, order number);
 *     importing the same data again changes nothing (orders_unchanged).
 *   - An order is all-or-nothing: its row, its items and its customer's identities are written
 *     in one transaction (a batch of orders shares one; a failure inside an order rolls back to
 *     a savepoint taken before it, so the rest of the batch survives).
 *   - A crash or kill -9 loses at most the uncommitted batch; running the same import again
 *     completes it exactly, because every write is an upsert by natural key.
 *   - A later export where an order changed status, amounts or refunds updates it and records
 *     each change in order_history.
 *   - Line items are matched by an item key (product id / sku / title / variant), so items of
 *     one order arriving in separate groups of rows, or again, are merged, never duplicated.
 *   - Taobao ExportOrderList and ExportOrderDetailList may come together or separately, in any
 *     order: detail rows for orders not yet known wait in staged_items.
 *   - Identity resolution: see identity.h.
 *
 * Threads: an importer uses one hk_db at a time; several imports may run concurrently (the
 * store serialises writers).
 */
#ifndef HK_INGEST_IMPORT_H
#define HK_INGEST_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/record.h"

struct hk_err;
struct hk_store;
struct hk_keyring;
struct hk_tz;

/** What an import needs from the application. All borrowed. */
struct hk_ingest_ctx {
    struct hk_store *store;
    const struct hk_keyring *keys; /* PII encryption and look-up hashes */
    const struct hk_tz *tz;        /* default shop time zone */
    int64_t now;                   /* the clock's now, for created_at/updated_at/history */
};

/*
 * Load modes of a file import. An initial load drops the secondary indexes no import look-up
 * reads (ingest_repo.h, "initial loads") before the first batch and builds them again, by
 * sorting, after the last: for a store that is empty or small beside the files, much cheaper
 * than inserting their random keys row by row. Nothing else changes (the same batches,
 * transactions, look-ups and results); other readers of the store find those indexes missing
 * while it runs (customer search by phone or name, merges, order histories and, on PostgreSQL,
 * the dashboard are slower, never wrong), and a load that is killed leaves them to the next
 * file import or hk_store_migrate, which build them again.
 */
enum hk_load_mode {
    HK_LOAD_AUTO = 0, /* initial when the files are >= 8 MiB and the store holds at most about
                         a quarter as many orders (one per 1600 bytes of file) */
    HK_LOAD_NORMAL,   /* keep every index */
    HK_LOAD_INITIAL,  /* drop and rebuild the load indexes whatever the sizes */
};

struct hk_import_opts {
    enum hk_import_format format; /* HK_FMT_AUTO to recognise each file */
    enum hk_load_mode load;       /* HK_LOAD_AUTO by default */
    const char *shop;             /* --shop: the shop for records that name none; NULL = default */
    int batch_orders;             /* orders per transaction; 0 = default (2000) */
    size_t max_errors_kept;       /* row errors kept in the result; 0 = default (1000) */
    /* progress: called after each committed batch (may be NULL) */
    void (*progress)(void *arg, int64_t bytes_done, int64_t bytes_total, int64_t rows);
    void *progress_arg;
    /* set non-zero by another thread to stop after the current batch */
    const volatile int *cancel;
    /* write each batch before reading the next, instead of pipelining (hk_db_pipeline: the
       database writes batch n while the batches after it are read and resolved, up to two
       queued behind it); the results are the same */
    bool no_pipeline;
    /* tests: the identity cache's cap in keys (hk_resolver_set_limits; 0: the default) */
    size_t identity_cache_keys;
    /* an initial load may write with SQLite's rollback journal while no other connection has
       the file open (hk_db_load_journal). Only for a caller that opens no other connection to
       the store while the import runs (the CLI): one opened by the importing thread itself,
       e.g. from the progress callback, would wait for the load to give the file back. */
    bool load_journal;
};

struct hk_import_result {
    int64_t rows; /* data records read, all files */
    int64_t orders_created, orders_updated, orders_unchanged;
    int64_t items_created;
    int64_t customers_created;
    int64_t items_staged;        /* detail lines kept for orders not yet imported */
    int64_t rejected;            /* rows rejected */
    bool cancelled;              /* stopped early by opts->cancel (what was committed stays) */
    bool initial_load;           /* ran as an initial load (hk_load_mode) */
    bool rollback_journal;       /* SQLite: it began with a rollback journal, not WAL
                                    (hk_import_opts.load_journal) */
    int64_t pipeline_redos;      /* batches written again without the pipeline after a queued
                                    write failed (e.g. another writer took an id): same data */
    int64_t identity_lookups;    /* identity keys looked up in the store (hk_resolver_stats) */
    int64_t identity_found;      /* of those, keys the store held */
    int64_t identity_restarts;   /* times the identity cache started over at its cap */
    struct hk_row_error *errors; /* the first max_errors_kept rejected rows (new; see _release) */
    size_t nerrors;
    char **files; /* display names the errors' file fields point into (owned) */
    size_t nfiles;
};

void hk_import_result_release(struct hk_import_result *res);

/**
 * Imports files (paths; display_names may be NULL or name each file as errors should call it).
 * Taobao detail files are processed before order files. Returns 0 when the import ran (check
 * res->rejected for bad rows), or a negative HK_E code when it could not run at all (unreadable
 * file, missing required column: err names the file and column); orders committed before a
 * failure stay committed, and res says how far it got.
 */
int hk_import_files(const struct hk_ingest_ctx *ctx, const char *const *paths,
                    const char *const *display_names, size_t n, const struct hk_import_opts *opts,
                    struct hk_import_result *res, struct hk_err *err);

/** Outcome of applying one order. */
enum hk_apply_outcome { HK_APPLY_CREATED = 1, HK_APPLY_UPDATED, HK_APPLY_UNCHANGED };

/**
 * Applies a batch of orders (e.g. one REST request of up to 1000) in one transaction, each
 * under its own savepoint: outcomes[i] is set for each order, or errors[i] filled (code != 0)
 * for an order that was rejected (the others still commit). shop: default shop name for
 * records that name none. Updates res counters. Returns 0, or a negative HK_E code when the
 * transaction itself failed (nothing committed).
 */
/*
 * Times without an offset in orders given to hk_ingest_orders are read in the shop's time zone
 * when the record marks them in local_times (record.h): the store is asked for the zone of
 * each record's shop (the default zone for a shop it does not hold yet) before the batch.
 */
int hk_ingest_orders(const struct hk_ingest_ctx *ctx, const struct hk_order_rec *const *orders,
                     size_t n, const char *shop, enum hk_apply_outcome *outcomes,
                     struct hk_err *errors, struct hk_import_result *res, struct hk_err *err);

/**
 * Parses a time as hk_time_parse does, for a writer that cannot know the shop's zone yet (REST
 * ingest): with an offset ("...+08:00", "...Z") *out is the instant and *local false; without
 * one *out is the wall-clock time read as UTC and *local true (set the record's HK_LOCAL_* bit
 * so that hk_ingest_orders re-reads it in the shop's zone). Returns 0, 1 for an empty or blank
 * s (outputs untouched), or HK_E(INVAL) with the reason.
 */
int hk_ingest_time_parse(const char *s, size_t len, int64_t *out, bool *local, struct hk_err *err);
/** Whether a time as hk_time_parse reads it carries an offset (a trailing Z, or a sign after
 * the time of day). */
bool hk_time_has_offset(const char *s, size_t len);

#endif
