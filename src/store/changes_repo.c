/*
 * changes_repo.c — the change log's SQL: collecting what a transaction touched (hk_db_touch_*),
 * writing it at commit (hk_changes_flush, called by store.c), and reading it back.
 *
 * Touched ids are kept per connection in plain arrays (duplicates allowed) and de-duplicated at
 * commit by the SQL itself: each row is written as INSERT ... SELECT over customers (or orders)
 * WHERE id IN (64 parameters), padded by repeating the last id, so one statement shape serves
 * every size and a customer appears once per statement. Past HK_TOUCH_MAX ids the transaction
 * logs one 'all' row instead (a bulk rewrite: followers reload everything).
 */
#include "store/changes_repo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "store/repo_util.h"
#include "store/store_int.h"

#define HK_TOUCH_MAX   (1u << 20)
#define HK_TOUCH_CHUNK 64

static void touch(struct hk_db *db, int64_t **arr, size_t *n, size_t *cap, int64_t id)
{
    if (!db->in_tx || db->touch_all || id <= 0)
        return;
    if (*n && (*arr)[*n - 1] == id)
        return; /* the common run of one customer's rows */
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        int64_t *p = nc <= HK_TOUCH_MAX ? realloc(*arr, nc * sizeof(*p)) : NULL;
        if (!p) {
            db->touch_all = true;
            return;
        }
        *arr = p;
        *cap = nc;
    }
    (*arr)[(*n)++] = id;
}

void hk_db_touch_customer(struct hk_db *db, int64_t customer_id)
{
    touch(db, &db->touched_customers, &db->ntc, &db->captc, customer_id);
}

void hk_db_touch_order(struct hk_db *db, int64_t order_id)
{
    touch(db, &db->touched_orders, &db->nto, &db->capto, order_id);
}

void hk_changes_announce(struct hk_db *db, unsigned what)
{
    if (db->in_tx)
        db->announce |= what;
}

void hk_changes_touch_all(struct hk_db *db)
{
    if (!db->in_tx)
        return;
    db->touch_all = true;
    db->ntc = db->nto = 0;
}

void hk_changes_forget(struct hk_db *db)
{
    db->ntc = db->nto = 0;
    db->touch_all = false;
    db->announce = 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static size_t sort_unique(int64_t *v, size_t n)
{
    if (n < 2)
        return n;
    qsort(v, n, sizeof(*v), cmp_i64);
    size_t k = 1;
    for (size_t i = 1; i < n; i++)
        if (v[i] != v[k - 1])
            v[k++] = v[i];
    return k;
}

/* "INSERT INTO changes ... SELECT <col>, '<kind>', $1 FROM <table> WHERE id IN ($2..$65)" */
static int flush_ids(struct hk_db *db, const char *name, const char *head, const int64_t *ids,
                     size_t n, int64_t at, struct hk_err *err)
{
    char sql[1024];
    size_t len = (size_t)snprintf(sql, sizeof sql, "%s", head);
    for (int i = 0; i < HK_TOUCH_CHUNK && len < sizeof sql; i++)
        len += (size_t)snprintf(sql + len, sizeof sql - len, "%s$%d", i ? ", " : "", i + 2);
    if (len + 2 >= sizeof sql)
        return hk_err_set(err, HK_E(INTERNAL), "%s: statement too long", name);
    memcpy(sql + len, ")", 2);
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name, sql, &st, err);
    if (rc < 0)
        return rc;
    for (size_t done = 0; done < n; done += HK_TOUCH_CHUNK) {
        int b = hk_stmt_bind_int64(st, 1, at);
        for (size_t i = 0; i < HK_TOUCH_CHUNK; i++) {
            size_t k = done + i < n ? done + i : n - 1;
            b |= hk_stmt_bind_int64(st, (int)i + 2, ids[k]);
        }
        if (b)
            return hk_err_set(err, HK_E(INTERNAL), "%s: bind failed", name);
        if ((rc = hk_stmt_exec(st, err)) < 0)
            return rc;
    }
    return 0;
}

/* Rows of one kind streamed with the bulk loader: many customers (a bulk import's batch), or
 * the one 'all' row of a pipelined batch. The ids are distinct, and each names a customer the
 * transaction wrote or read (or is 0), so the existence check of flush_ids is not needed. */
static int copy_rows(struct hk_db *db, const int64_t *ids, size_t n, const char *kind, int64_t at,
                     struct hk_err *err)
{
    struct hk_copy *c = NULL;
    int rc = hk_db_copy_begin(db, "changes", "customer_id, kind, at", 3, &c, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (hk_copy_int64(c, ids[i]) < 0 || hk_copy_text(c, kind, strlen(kind)) < 0 ||
            hk_copy_int64(c, at) < 0)
            rc = hk_err_set(err, HK_E(INTERNAL), "changes_copy: a value cannot be written");
        else
            rc = hk_copy_row(c, err);
    }
    if (rc < 0 && c) {
        struct hk_err ignored;
        hk_err_clear(&ignored);
        (void)hk_db_copy_end(c, &ignored);
        return rc;
    }
    return rc < 0 ? rc : hk_db_copy_end(c, err);
}

static int log_row(struct hk_db *db, const char *kind, int64_t at, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "changes_log_kind",
                        "INSERT INTO changes (customer_id, kind, at) VALUES (0, $1, $2)", &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_text(st, 1, kind, strlen(kind)) || hk_stmt_bind_int64(st, 2, at))
        return hk_err_set(err, HK_E(INTERNAL), "changes_log_kind: bind failed");
    return hk_stmt_exec(st, err);
}

int hk_changes_flush(struct hk_db *db, bool *wrote, struct hk_err *err)
{
    if (!db->ntc && !db->nto && !db->touch_all && !db->announce)
        return 0;
    /* Wall-clock time, only for pruning old rows: no logic depends on it. */
    int64_t at = (int64_t)time(NULL);
    int rc = 0;
    if (db->touch_all) {
        static const int64_t none = 0;
        /* a pipelined load's batch: through the bulk loader, which does not wait for the
           pipeline's writer as a statement does */
        rc = db->pipe ? copy_rows(db, &none, 1, "all", at, err) : log_row(db, "all", at, err);
    } else {
        size_t nc = sort_unique(db->touched_customers, db->ntc);
        size_t no = sort_unique(db->touched_orders, db->nto);
        if (nc > 4 * HK_TOUCH_CHUNK)
            rc = copy_rows(db, db->touched_customers, nc, "customer", at, err);
        else if (nc)
            rc =
                flush_ids(db, "changes_log_customers",
                          "INSERT INTO changes (customer_id, kind, at)"
                          " SELECT id, 'customer', CAST($1 AS BIGINT) FROM customers WHERE id IN (",
                          db->touched_customers, nc, at, err);
        if (!rc && no)
            rc = flush_ids(db, "changes_log_orders",
                           "INSERT INTO changes (customer_id, kind, at)"
                           " SELECT DISTINCT customer_id, 'order', CAST($1 AS BIGINT) FROM orders "
                           "WHERE id IN (",
                           db->touched_orders, no, at, err);
    }
    if (!rc && (db->announce & HK_CHANGE_RFM))
        rc = log_row(db, "rfm", at, err);
    if (!rc && (db->announce & HK_CHANGE_SEGMENT))
        rc = log_row(db, "segment", at, err);
    hk_changes_forget(db);
    if (!rc)
        *wrote = true;
    return rc;
}

static int read_rows(struct hk_stmt *st, hk_change_cb cb, void *ctx, struct hk_err *err)
{
    int rc;
    while ((rc = hk_stmt_step(st, err)) == HK_ROW) {
        struct hk_change c;
        memset(&c, 0, sizeof c);
        c.id = hk_stmt_int64(st, 0);
        c.customer_id = hk_stmt_int64(st, 1);
        hk_stmt_text_copy(st, 2, c.kind, sizeof c.kind);
        rc = cb(ctx, &c, err);
        if (rc)
            break;
    }
    hk_stmt_reset(st);
    return rc == HK_DONE ? 0 : rc;
}

int hk_changes_max_id(struct hk_db *db, int64_t *out, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "changes_max", "SELECT COALESCE(MAX(id), 0) FROM changes", &st, err);
    if (rc < 0)
        return rc;
    int64_t v = 0; /* no row reads as 0 */
    bool found = false;
    if ((rc = hk_stmt_find_int64(st, &v, &found, err)) == 0)
        *out = v;
    return rc;
}

int hk_changes_min_id(struct hk_db *db, int64_t *out, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "changes_min", "SELECT COALESCE(MIN(id), 0) FROM changes", &st, err);
    if (rc < 0)
        return rc;
    return hk_stmt_one_int64(st, out, err);
}

int hk_changes_count_after(struct hk_db *db, int64_t after_id, int64_t *out, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "changes_count_after", "SELECT COUNT(*) FROM changes WHERE id > $1",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, after_id))
        return hk_stmt_bind_failed(st, "changes_count_after", err);
    return hk_stmt_one_int64(st, out, err);
}

int hk_changes_last_upto(struct hk_db *db, int64_t upto, struct hk_change_mark *out, bool *found,
                         struct hk_err *err)
{
    memset(out, 0, sizeof(*out));
    *found = false;
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "changes_last_upto",
                        "SELECT id, at, customer_id FROM changes WHERE id <= $1"
                        " ORDER BY id DESC LIMIT 1",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, upto))
        return hk_stmt_bind_failed(st, "changes_last_upto", err);
    rc = hk_stmt_step(st, err);
    if (rc == HK_ROW) {
        out->id = hk_stmt_int64(st, 0);
        out->at = hk_stmt_int64(st, 1);
        out->customer_id = hk_stmt_int64(st, 2);
        *found = true;
        rc = 0;
    }
    hk_stmt_reset(st);
    return rc < 0 ? rc : 0;
}

int hk_changes_after(struct hk_db *db, int64_t after_id, size_t limit, hk_change_cb cb, void *ctx,
                     struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "changes_after",
                        "SELECT id, customer_id, kind FROM changes WHERE id > $1"
                        " ORDER BY id LIMIT $2",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, after_id) || hk_stmt_bind_int64(st, 2, (int64_t)limit))
        return hk_err_set(err, HK_E(INTERNAL), "changes_after: bind failed");
    return read_rows(st, cb, ctx, err);
}

int hk_changes_by_ids(struct hk_db *db, const int64_t *ids, size_t n, hk_change_cb cb, void *ctx,
                      struct hk_err *err)
{
    if (n == 0)
        return 0;
    if (n > HK_TOUCH_CHUNK)
        return hk_err_set(err, HK_E(INVAL), "changes_by_ids: at most %d ids", HK_TOUCH_CHUNK);
    char sql[1024];
    size_t len = (size_t)snprintf(sql, sizeof sql,
                                  "SELECT id, customer_id, kind FROM changes WHERE id IN (");
    for (int i = 0; i < HK_TOUCH_CHUNK && len < sizeof sql; i++)
        len += (size_t)snprintf(sql + len, sizeof sql - len, "%s$%d", i ? ", " : "", i + 1);
    if (len + 24 >= sizeof sql)
        return hk_err_set(err, HK_E(INTERNAL), "changes_by_ids: statement too long");
    memcpy(sql + len, ") ORDER BY id", 14);
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "changes_by_ids", sql, &st, err);
    if (rc < 0)
        return rc;
    int b = 0;
    for (size_t i = 0; i < HK_TOUCH_CHUNK; i++)
        b |= hk_stmt_bind_int64(st, (int)i + 1, ids[i < n ? i : n - 1]);
    if (b)
        return hk_err_set(err, HK_E(INTERNAL), "changes_by_ids: bind failed");
    return read_rows(st, cb, ctx, err);
}

int hk_changes_prune(struct hk_db *db, int64_t before_at, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "changes_prune",
                        "DELETE FROM changes WHERE at < $1"
                        " AND id < (SELECT COALESCE(MAX(id), 0) FROM changes)",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, before_at))
        return hk_err_set(err, HK_E(INTERNAL), "changes_prune: bind failed");
    return hk_stmt_exec(st, err);
}
