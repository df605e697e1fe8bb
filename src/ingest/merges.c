/*
 * merges.c — undo a merge, mark a pair never-merge, list a customer's merges (see merges.h).
 *
 * Design: thin transactions over ingest_repo.h (what a merge moves and how an undo puts it
 * back lives there) and events_repo.h (reading the history). Which merge an unmerge undoes is
 * decided here: the one asked for, else the one that merged the customer away, else the latest
 * one it won — the same rule as hk_identity_unmerge, plus the explicit merge id.
 *
 * Threads: each call acquires its own db; thread-safe.
 */
#include "ingest/merges.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "store/events_repo.h"
#include "store/ingest_repo.h"
#include "store/store.h"

static int begin(struct hk_store *store, struct hk_db **db, struct hk_err *err)
{
    int rc = hk_db_acquire(store, db, err);
    if (rc < 0)
        return rc;
    if ((rc = hk_db_begin(*db, HK_TX_WRITE, err)) < 0) {
        hk_db_release(*db);
        *db = NULL;
    }
    return rc;
}

static int finish(struct hk_db *db, int rc, struct hk_err *err)
{
    if (rc == 0)
        rc = hk_db_commit(db, err);
    else
        hk_db_rollback(db);
    hk_db_release(db);
    return rc;
}

static void to_info(const struct hk_erepo_merge *m, struct hk_merge_info *out)
{
    memset(out, 0, sizeof *out);
    out->id = m->id;
    out->winner_id = m->winner_id;
    out->loser_id = m->loser_id;
    out->at = m->at;
    out->undone_at = m->undone_at;
    hk_strlcpy(out->reason, m->reason, sizeof out->reason);
    hk_strlcpy(out->undone_by, m->undone_by, sizeof out->undone_by);
}

/* Which merge to undo for customer_id (merge_id 0: the rule in merges.h). */
static int pick_merge(struct hk_db *db, int64_t customer_id, int64_t merge_id, int64_t *out,
                      struct hk_err *err)
{
    int64_t root;
    int rc = hk_irepo_customer_root(db, customer_id, &root, err);
    if (rc < 0)
        return rc;
    if (merge_id) {
        struct hk_erepo_merge m;
        if ((rc = hk_erepo_merge_get(db, merge_id, &m, err)) < 0)
            return rc;
        if (m.winner_id != customer_id && m.loser_id != customer_id)
            return hk_err_setf(err, HK_E(NOTFOUND), "merge_id",
                               "merge %lld did not merge customer %lld", (long long)merge_id,
                               (long long)customer_id);
        if (m.undone_at)
            return hk_err_setf(err, HK_E(CONFLICT), "merge_id", "merge %lld was undone already",
                               (long long)merge_id);
        *out = merge_id;
        return 0;
    }
    struct hk_irepo_merge_row row;
    rc = hk_irepo_merge_active_for_loser(db, customer_id, &row, err);
    if (rc == HK_E(NOTFOUND))
        rc = hk_irepo_merge_latest_for_winner(db, customer_id, &row, err);
    if (rc == HK_E(NOTFOUND))
        return hk_err_set(err, HK_E(NOTFOUND), "customer %lld has no merge to undo",
                          (long long)customer_id);
    if (rc == 0)
        *out = row.id;
    return rc;
}

int hk_merges_undo(struct hk_store *store, int64_t customer_id, int64_t merge_id, const char *by,
                   int64_t now, struct hk_merge_info *out, struct hk_err *err)
{
    struct hk_db *db;
    struct hk_erepo_merge m;
    int64_t id = 0;
    int rc = begin(store, &db, err);
    if (rc < 0)
        return rc;
    rc = pick_merge(db, customer_id, merge_id, &id, err);
    if (rc == 0)
        rc = hk_irepo_unmerge(db, id, by && *by ? by : "system", now, err);
    if (rc == 0)
        rc = hk_erepo_merge_get(db, id, &m, err);
    rc = finish(db, rc, err);
    if (rc == 0 && out)
        to_info(&m, out);
    return rc;
}

int hk_merges_never(struct hk_store *store, int64_t a, int64_t b, const char *reason, int64_t now,
                    struct hk_err *err)
{
    struct hk_db *db;
    int64_t ra = 0, rb = 0;
    if (a == b)
        return hk_err_setf(err, HK_E(INVAL), "b", "a and b must be two different customers");
    int rc = begin(store, &db, err);
    if (rc < 0)
        return rc;
    if ((rc = hk_irepo_customer_root(db, a, &ra, err)) < 0 ||
        (rc = hk_irepo_customer_root(db, b, &rb, err)) < 0)
        return finish(db, rc, err);
    if (ra == rb)
        return finish(db,
                      hk_err_set(err, HK_E(CONFLICT),
                                 "customers %lld and %lld are merged now; unmerge them first",
                                 (long long)a, (long long)b),
                      err);
    rc = hk_irepo_never_merge_add(db, a, b, reason && *reason ? reason : "manual", now, err);
    return finish(db, rc, err);
}

int hk_merges_list(struct hk_store *store, int64_t customer_id, size_t max,
                   struct hk_merge_info **out, size_t *n, struct hk_err *err)
{
    struct hk_db *db;
    struct hk_erepo_merge *rows = NULL;
    size_t nrows = 0;
    int64_t root;
    int rc = hk_db_acquire(store, &db, err);
    if (rc < 0)
        return rc;
    rc = hk_irepo_customer_root(db, customer_id, &root, err);
    if (rc == 0)
        rc = hk_erepo_merges_of(db, customer_id, max, &rows, &nrows, err);
    hk_db_release(db);
    if (rc < 0)
        return rc;
    struct hk_merge_info *v = NULL;
    if (nrows) {
        v = calloc(nrows, sizeof(*v));
        if (!v) {
            free(rows);
            return hk_err_set(err, HK_E(NOMEM), "out of memory");
        }
        for (size_t i = 0; i < nrows; i++)
            to_info(&rows[i], &v[i]);
    }
    free(rows);
    *out = v;
    *n = nrows;
    return 0;
}
