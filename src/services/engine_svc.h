/*
 * engine_svc.h — the customer engine inside the application: one engine per process, loaded
 * from the store at start and kept current by following the store's change log, behind a
 * readers-writer lock. HTTP handlers and CLI commands reach the engine only through this module
 * (and json_t never comes here: results are C structs).
 *
 * Keeping current (docs/architecture.md, "Engine in the application")
 *   Every committed write that can change a customer's derived values also writes change-log
 *   rows in its transaction (store.h, hk_db_touch_*). A sync thread follows the log by a cursor
 *   (the last change id applied, plus ids skipped over that may still commit — PostgreSQL
 *   assigns ids before commit): it wakes when a local commit nudges it (the store's change hook)
 *   and at least every 500 ms otherwise, so writes by other processes on the same database are
 *   seen within a second. Applying a change re-reads the customer's whole history from the store
 *   (without holding the engine lock) and replaces it in the engine (under the write lock), so
 *   applying twice is harmless and merges, unmerges and order moves need no special case. RFM
 *   scores are relative to all buyers, so after changes the thread rescores, at most every
 *   200 ms, and at least once a minute (now moves on).
 *
 * Threading: every function is thread-safe. Readers (hk_engine_svc_read) run concurrently;
 * the sync thread takes the lock exclusively for short applies, rescoring and swaps. The lock
 * prefers writers, so a stream of previews cannot starve the sync.
 */
#ifndef HK_SERVICES_ENGINE_SVC_H
#define HK_SERVICES_ENGINE_SVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_app;
struct hk_engine;
struct hk_err;
struct hk_engine_svc;

struct hk_engine_svc_opts {
    bool follow;           /* run the sync thread (serve); false: a one-shot engine (CLI) */
    int poll_ms;           /* follow: longest wait between polls; 0 = 500 */
    int rescore_min_ms;    /* follow: shortest interval between rescores; 0 = 200 */
    int64_t prune_after_s; /* follow: delete change rows older than this; 0 = 1 day */
    /* The engine snapshot (app->cfg.engine_snapshot, engine_snapshot_minutes): read at start
     * when valid; with follow also written every snapshot_every_ms while the history changes
     * and at stop. */
    int64_t snapshot_every_ms; /* follow: 0 = from the configuration; < 0 = only at stop */
};

/**
 * Loads the engine from app->store as of the clock's now (applying the stored RFM
 * configuration), and with opts->follow starts the sync thread and registers the store's change
 * hook. opts may be NULL (= follow). Returns 0 and a new service in *out (hk_engine_svc_stop).
 *
 * With a valid snapshot of this store (same store id, its change-log position still in the log,
 * not too many changes since, same default and shop time zones) the history comes from the
 * file, the changes since are applied as the sync applies them, then aggregates, the bought()
 * index, RFM and rule tags are derived — the same engine a full load gives. Otherwise (one log
 * line says why) the full load.
 */
int hk_engine_svc_start(struct hk_app *app, const struct hk_engine_svc_opts *opts,
                        struct hk_engine_svc **out, struct hk_err *err);
/**
 * Stops the sync thread, removes the store hook and frees everything. With follow, first writes
 * the snapshot when the history changed since the last one. s may be NULL.
 */
void hk_engine_svc_stop(struct hk_engine_svc *s);

/** Wakes the sync thread now (called by the store after a commit that logged changes). */
void hk_engine_svc_nudge(struct hk_engine_svc *s);
/**
 * Applies every change committed so far, on the calling thread (the CLI and tests; the server's
 * thread does this on its own). Rescores when anything changed.
 */
int hk_engine_svc_sync(struct hk_engine_svc *s, struct hk_err *err);

/**
 * Read access: returns the engine (borrowed) with the read lock held; release it with
 * hk_engine_svc_read_end as soon as possible. Never call a writer function of engine.h on it.
 */
const struct hk_engine *hk_engine_svc_read(struct hk_engine_svc *s);
void hk_engine_svc_read_end(struct hk_engine_svc *s);

/**
 * Writes the engine snapshot now (when the service has a snapshot path): the periodic writer's
 * and the shutdown's step, for tests and tools. Readers are not blocked; the sync waits while
 * the columns are written. HK_E(NOTFOUND) when snapshots are off.
 */
int hk_engine_svc_snapshot(struct hk_engine_svc *s, struct hk_err *err);

/** Counters for logs, health and tests. */
struct hk_engine_svc_stats {
    int64_t load_ms;          /* the last full load */
    size_t bytes;             /* engine memory */
    size_t customers, live;   /* rows, live customers */
    size_t orders, events;    /* live history rows */
    int64_t cursor;           /* last change id applied */
    uint64_t changes_applied; /* change rows applied since start */
    uint64_t customers_reloaded;
    uint64_t full_reloads;
    uint64_t rescores;
    uint64_t version;     /* bumped on every applied change set, rescore or swap */
    uint64_t tag_derives; /* rule-tag evaluations (services/tag_rules.h) */
    int64_t tags_us;      /* the last one, microseconds (write lock held throughout) */
    size_t rule_tags;     /* rule tags it evaluated */
    /* engine snapshot (docs/architecture.md, "Engine snapshot") */
    bool from_snapshot;         /* the engine started from the snapshot file */
    char snapshot_skipped[160]; /* else why not ("" when snapshots are off) */
    uint64_t snapshot_catchup;  /* changed customers re-read at that start */
    uint64_t snapshots_written; /* by this process */
    int64_t snapshot_write_ms;  /* the last write, wall ms (the sync waited for part of it) */
    int64_t snapshot_hold_ms;   /* of which the sync thread was held */
    uint64_t snapshot_bytes;    /* the last file's size */
};
void hk_engine_svc_stats(struct hk_engine_svc *s, struct hk_engine_svc_stats *out);

/**
 * Runs fn(ctx, engine) with the write lock held (configuration changes: RFM thresholds), then
 * rescores as of now. fn's return is passed through.
 */
int hk_engine_svc_write(struct hk_engine_svc *s,
                        int (*fn)(void *ctx, struct hk_engine *e, struct hk_err *err), void *ctx,
                        struct hk_err *err);
/**
 * As hk_engine_svc_write, for an fn that rescores what it changed itself (one shop's RFM
 * configuration: services/rfm_svc.c): no full rescore after it; rule tags are derived again
 * and listeners notified.
 */
int hk_engine_svc_write_rescored(struct hk_engine_svc *s,
                                 int (*fn)(void *ctx, struct hk_engine *e, struct hk_err *err),
                                 void *ctx, struct hk_err *err);

/**
 * Adds a listener: fn(ctx) is called on the sync thread (without the engine lock held) after
 * each applied change set, rescore or swap, and after hk_engine_svc_rules_reload — saved-segment
 * counts and the tags service use it. At most 8 listeners (HK_E(NOMEM) past that). Listeners
 * run one after the other, in the order added; fn must not call back into the sync.
 */
int hk_engine_svc_on_change(struct hk_engine_svc *s, void (*fn)(void *ctx), void *ctx);
/** Removes the listener (fn, ctx); a call already in flight may still finish. */
void hk_engine_svc_off_change(struct hk_engine_svc *s, void (*fn)(void *ctx), void *ctx);

/**
 * Rule tags (services/tag_rules.h) are derived into the engine's tag bitmaps after the load
 * (before the engine is shared), after every applied change set, after every rescore (scores
 * and `now` moved) and on a swap: evaluated under the read lock (readers go on), installed under
 * the write lock (microseconds), evaluated again if a writer came in between. A customer being
 * replayed keeps the rule tags it had until then, so readers never see it bare. This function
 * re-reads the tags and saved segments from the store and derives them now, on the calling
 * thread — the tags service calls it after its own writes so they show at once; the sync thread
 * does the same when the log announces a tag or segment change (other processes). Then
 * notifies.
 */
int hk_engine_svc_rules_reload(struct hk_engine_svc *s, struct hk_err *err);

/** The process's clock now (app->clock). */
int64_t hk_engine_svc_now(struct hk_engine_svc *s);

#endif
