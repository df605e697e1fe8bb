/*
 * changes_repo.h — reading the change log (table changes, sql/0002_changes.sql) and announcing
 * configuration changes through it. Writing the per-customer rows is automatic: repositories
 * touch customers (store.h, hk_db_touch_*) and hk_db_commit logs them in the same transaction.
 *
 * Readers follow the log by id. On PostgreSQL ids are taken from a sequence when a row is
 * inserted, not when its transaction commits, so a row with a smaller id can become visible
 * after a larger one: a follower must remember the ids it skipped over (gaps) for a while and
 * look them up again (hk_changes_by_ids). Applying a change twice must be harmless.
 *
 * Threading: functions use the one hk_db they are given (borrowed; one thread at a time).
 */
#ifndef HK_STORE_CHANGES_REPO_H
#define HK_STORE_CHANGES_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_db;
struct hk_err;

/** Configuration changes announced to every process (customer_id 0 rows). */
enum hk_change_announce {
    HK_CHANGE_RFM = 1,     /* kind 'rfm': the RFM configuration changed */
    HK_CHANGE_SEGMENT = 2, /* kind 'segment': saved segments or tags changed */
};

struct hk_change {
    int64_t id;
    int64_t customer_id; /* 0 for 'all', 'rfm', 'segment' */
    char kind[16];       /* customer, order, all, rfm, segment */
};

/** Callback per change row; non-zero stops the read with that code. */
typedef int (*hk_change_cb)(void *ctx, const struct hk_change *c, struct hk_err *err);

/** The largest change id (0 when the log is empty). */
int hk_changes_max_id(struct hk_db *db, int64_t *out, struct hk_err *err);
/** Rows with id > after_id in id order, at most limit of them. */
int hk_changes_after(struct hk_db *db, int64_t after_id, size_t limit, hk_change_cb cb, void *ctx,
                     struct hk_err *err);
/** The rows among ids (any order, n <= 64) that exist now. */
int hk_changes_by_ids(struct hk_db *db, const int64_t *ids, size_t n, hk_change_cb cb, void *ctx,
                      struct hk_err *err);
/**
 * Logs a configuration change of kind what (a bit set of enum hk_change_announce) with the open
 * write transaction; written at commit like touched customers.
 */
void hk_changes_announce(struct hk_db *db, unsigned what);
/** The open transaction writes too many customers to name (a batch of an initial load): it
    logs one 'all' row at commit, and followers reload everything. Outside a transaction: no-op. */
void hk_changes_touch_all(struct hk_db *db);
/** The smallest change id (0 when the log is empty). */
int hk_changes_min_id(struct hk_db *db, int64_t *out, struct hk_err *err);
/** Number of change rows with id > after_id. */
int hk_changes_count_after(struct hk_db *db, int64_t after_id, int64_t *out, struct hk_err *err);
/** A change row's identity: its id, time and customer (engine snapshots, engine_svc.c). */
struct hk_change_mark {
    int64_t id, at, customer_id;
};
/** The last row with id <= upto into *out (*found false, out zeroed, when there is none). */
int hk_changes_last_upto(struct hk_db *db, int64_t upto, struct hk_change_mark *out, bool *found,
                         struct hk_err *err);
/** Deletes change rows older than before_at (seconds), keeping the newest row. */
int hk_changes_prune(struct hk_db *db, int64_t before_at, struct hk_err *err);

#endif
