/*
 * pipe.c — pipelined writes on one connection (hk_db_pipeline, store.h).
 *
 * Design
 *   A writer thread runs, in order, the operations the owning thread queues on the connection:
 *   BEGIN, bulk loads (hk_db_copy_*: the values are recorded into the operation's buffer on the
 *   owning thread and replayed through the backend's copy ops here) and COMMIT. Everything else
 *   the owning thread does on the connection (statements, savepoints, rollback, scripts) first
 *   waits until the writer is idle (hk_pipe_sync), so the connection is only ever used by one
 *   thread at a time and each side sees what the other did (the mutex orders them). An import
 *   thus parses, resolves and builds the next batches while the database writes batch n (the
 *   queue's length is the caller's: import.c keeps up to two batches queued behind n).
 *
 *   Ids: a bulk load names its rows' ids (hk_db_next_ids). With the pipeline on they come from a
 *   pool per table kept here: on SQLite (ids are max(id) + 1) the first request asks the database
 *   and later ones continue in memory; on PostgreSQL (a sequence, which hands out values outside
 *   transactions) the pool takes PIPE_ID_BLOCK values at a time on another connection of the
 *   store's pool (on db's own, after the writer drained, when none is free). Either way the
 *   owning thread seldom waits for the writer. Another writer taking
 * an id the pool handed out makes a queued insert fail on the primary key; that is a failure like
 * any other (below), and the caller redoes the work without the pipeline.
 *
 *   Failures: the first queued operation that fails rolls its transaction back; every operation
 *   queued after it is dropped, and every call on the db returns the failure (HK_E code of the
 *   failure, "an earlier pipelined write failed: ...") until the pipeline is turned off.
 *   hk_pipe_wait tells the caller which of its commits made it.
 *
 * Threads: the owning thread calls everything here except writer(); p->mu guards the queue,
 * the counters and the failure; the connection belongs to whichever side the protocol says.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "store/store_int.h"

#define PIPE_ID_BLOCK 65536
#define PIPE_POOLS    8
/* Copy buffers kept for the next copies: a batch's copies (one per table) while the next
   batch's are recorded. */
#define PIPE_SPARES 8

enum pop_kind { POP_BEGIN, POP_COPY, POP_COMMIT };

/* One queued operation. A copy's values are in the encoding of HK_PIPE_V_* (store_int.h). */

struct pop {
    struct pop *next;
    enum pop_kind kind;
    uint64_t seq;
    enum hk_tx_mode mode; /* BEGIN */
    bool hook;            /* COMMIT: call the store's change hook after it */
    char *table, *columns;
    int ncols;
    struct hk_pipe_buf out; /* a copy's values and rows (store.c appends to it in place) */
};

struct id_pool {
    char table[32];
    int64_t *ids; /* PostgreSQL: values taken from the sequence, not yet handed out */
    size_t pos, n;
    int64_t last; /* SQLite: the largest id handed out */
};

struct hk_pipe {
    struct hk_db *db;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work, idle;
    struct pop *head, *tail;
    uint64_t queued, ran; /* seq of the last operation queued / finished (run or dropped) */
    bool stop;
    int failed; /* 0 or the HK_E code of the first failure */
    uint64_t failed_seq;
    struct hk_err ferr;
    bool real_tx; /* writer side: a transaction is open on the connection */
    struct id_pool pools[PIPE_POOLS];
    size_t npools;
    /* Buffers of copies that ran, for the next ones (under mu): a copy of a few MB grew by
       realloc from 64 KiB each time, copying itself and faulting in new pages (1M lines:
       ~1 % of the importing thread's instructions). A copy takes the buffer last used for its
       table, else the largest. */
    struct spare {
        unsigned char *buf;
        size_t cap;
        char table[32]; /* the table it was used for (cut: only compared) */
    } spares[PIPE_SPARES];
    size_t nspares;
};

/* ---- the writer ---------------------------------------------------------------------------- */

static int replay_copy(struct hk_db *db, const struct pop *op, struct hk_err *err)
{
    const struct hk_store_ops *ops = db->store->ops;
    if (ops->copy_encoded)
        return ops->copy_encoded(db->conn, op->table, op->columns, op->ncols, op->out.buf,
                                 op->out.len, op->out.rows, err);
    void *impl = NULL;
    int rc = ops->copy_begin(db->conn, op->table, op->columns, op->ncols, &impl, err);
    if (rc < 0)
        return rc;
    size_t at = 0;
    struct hk_pipe_value v = {0};
    while (rc == 0 && at < op->out.len) {
        if (!hk_pipe_value_next(op->out.buf, op->out.len, &at, &v)) {
            rc = hk_store_fail(err, HK_FAULT_OTHER, "copy", "a recorded row is malformed");
            break;
        }
        switch (v.tag) {
        case HK_PIPE_V_INT:
            rc = ops->copy_int64(impl, v.i);
            break;
        case HK_PIPE_V_TEXT:
            rc = ops->copy_text(impl, (const char *)v.p, v.n);
            break;
        case HK_PIPE_V_BLOB:
            rc = ops->copy_blob(impl, v.p, v.n);
            break;
        case HK_PIPE_V_NULL:
            rc = ops->copy_null(impl);
            break;
        default:
            rc = ops->copy_row(impl, err);
            break;
        }
        if (rc < 0 && v.tag != HK_PIPE_V_ROW)
            rc = hk_store_fail(err, HK_FAULT_OTHER, "copy", "a value could not be written");
    }
    struct hk_err ignored;
    hk_err_clear(&ignored);
    int rc2 = ops->copy_end(impl, rc == 0, rc == 0 ? err : &ignored);
    return rc < 0 ? rc : rc2;
}

static int run_op(struct hk_pipe *p, const struct pop *op, struct hk_err *err)
{
    struct hk_db *db = p->db;
    const struct hk_store_ops *ops = db->store->ops;
    int rc;
    switch (op->kind) {
    case POP_BEGIN:
        rc = ops->begin(db->conn, op->mode, err);
        p->real_tx = rc == 0;
        return rc;
    case POP_COPY:
        return replay_copy(db, op, err);
    case POP_COMMIT:
        rc = ops->commit(db->conn, err);
        /* A failed COMMIT leaves SQLite's transaction open (PostgreSQL ends it): the writer
           rolls it back, as hk_db_commit does without the pipeline. */
        if (rc == 0)
            p->real_tx = false;
        if (rc == 0 && op->hook)
            hk_store_fire_change_hook(db->store);
        return rc;
    }
    return 0;
}

static void pop_free(struct pop *op)
{
    if (!op)
        return;
    free(op->table);
    free(op->columns);
    free(op->out.buf);
    free(op);
}

/* Frees op, keeping its buffer for a later copy if there is room (p->mu held). */
static void pop_recycle(struct hk_pipe *p, struct pop *op)
{
    if (op->out.buf && p->nspares < PIPE_SPARES) {
        struct spare *sp = &p->spares[p->nspares++];
        sp->buf = op->out.buf;
        sp->cap = op->out.cap;
        hk_strlcpy(sp->table, op->table ? op->table : "", sizeof sp->table);
        op->out.buf = NULL;
    }
    pop_free(op);
}

static void *writer(void *arg)
{
    struct hk_pipe *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stop)
            pthread_cond_wait(&p->work, &p->mu);
        if (!p->head)
            break;
        struct pop *op = p->head;
        p->head = op->next;
        if (!p->head)
            p->tail = NULL;
        bool drop = p->failed != 0;
        pthread_mutex_unlock(&p->mu);

        struct hk_err err;
        hk_err_clear(&err);
        int rc = drop ? 0 : run_op(p, op, &err);
        if (rc < 0 && p->real_tx) {
            p->db->store->ops->rollback(p->db->conn);
            p->real_tx = false;
        }

        pthread_mutex_lock(&p->mu);
        if (rc < 0) {
            p->failed = rc;
            p->failed_seq = op->seq;
            p->ferr = err;
        }
        p->ran = op->seq;
        pop_recycle(p, op);
        pthread_cond_broadcast(&p->idle); /* hk_pipe_wait waits for a given op */
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---- the owning thread ----------------------------------------------------------------------- */

int hk_pipe_start(struct hk_db *db, struct hk_pipe **out, struct hk_err *err)
{
    struct hk_pipe *p = calloc(1, sizeof(*p));
    if (!p)
        return hk_err_set(err, HK_E(NOMEM), "pipeline: out of memory");
    p->db = db;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->idle, NULL);
    if (pthread_create(&p->thread, NULL, writer, p) != 0) {
        pthread_cond_destroy(&p->idle);
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return hk_err_set(err, HK_E(NOMEM), "pipeline: cannot start the writer thread");
    }
    *out = p;
    return 0;
}

/* Waits until every queued operation has finished; returns the failure, if any. */
static int wait_idle(struct hk_pipe *p, struct hk_err *err)
{
    pthread_mutex_lock(&p->mu);
    while (p->ran != p->queued)
        pthread_cond_wait(&p->idle, &p->mu);
    int rc = p->failed;
    if (rc && err)
        hk_err_set(err, rc, "an earlier pipelined write failed: %s", hk_err_message(&p->ferr));
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int hk_pipe_sync(struct hk_pipe *p, struct hk_err *err)
{
    return wait_idle(p, err);
}

static void pools_reset(struct hk_pipe *p)
{
    for (size_t i = 0; i < p->npools; i++)
        free(p->pools[i].ids);
    memset(p->pools, 0, sizeof p->pools);
    p->npools = 0;
}

void hk_pipe_clear(struct hk_pipe *p)
{
    wait_idle(p, NULL);
    if (p->real_tx) {
        p->db->store->ops->rollback(p->db->conn);
        p->real_tx = false;
    }
    pthread_mutex_lock(&p->mu);
    p->failed = 0;
    p->failed_seq = 0;
    hk_err_clear(&p->ferr);
    pthread_mutex_unlock(&p->mu);
    pools_reset(p);
}

void hk_pipe_stop(struct hk_pipe *p)
{
    if (!p)
        return;
    hk_pipe_clear(p);
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    for (size_t i = 0; i < p->nspares; i++)
        free(p->spares[i].buf);
    pthread_cond_destroy(&p->idle);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void hk_pipe_real_rollback(struct hk_pipe *p)
{
    wait_idle(p, NULL);
    if (p->real_tx) {
        p->db->store->ops->rollback(p->db->conn);
        p->real_tx = false;
    }
}

/* Queues op (taking it) unless the pipeline has failed. */
static int enqueue(struct hk_pipe *p, struct pop *op, struct hk_err *err)
{
    pthread_mutex_lock(&p->mu);
    int rc = p->failed;
    if (rc) {
        hk_err_set(err, rc, "an earlier pipelined write failed: %s", hk_err_message(&p->ferr));
        pthread_mutex_unlock(&p->mu);
        pop_free(op);
        return rc;
    }
    op->seq = ++p->queued;
    if (p->tail)
        p->tail->next = op;
    else
        p->head = op;
    p->tail = op;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

int hk_pipe_begin(struct hk_pipe *p, enum hk_tx_mode mode, struct hk_err *err)
{
    struct pop *op = calloc(1, sizeof(*op));
    if (!op)
        return hk_err_set(err, HK_E(NOMEM), "begin: out of memory");
    op->kind = POP_BEGIN;
    op->mode = mode;
    return enqueue(p, op, err);
}

int hk_pipe_commit(struct hk_pipe *p, bool hook, struct hk_err *err)
{
    struct pop *op = calloc(1, sizeof(*op));
    if (!op)
        return hk_err_set(err, HK_E(NOMEM), "commit: out of memory");
    op->kind = POP_COMMIT;
    op->hook = hook;
    return enqueue(p, op, err);
}

uint64_t hk_pipe_mark(struct hk_pipe *p)
{
    pthread_mutex_lock(&p->mu);
    uint64_t m = p->queued;
    pthread_mutex_unlock(&p->mu);
    return m;
}

int hk_pipe_wait(struct hk_pipe *p, uint64_t mark, struct hk_err *err)
{
    pthread_mutex_lock(&p->mu);
    while (p->ran < mark && !(p->failed && p->failed_seq <= mark))
        pthread_cond_wait(&p->idle, &p->mu);
    int rc = p->failed && p->failed_seq <= mark ? p->failed : 0;
    if (rc)
        hk_err_set(err, rc, "%s", hk_err_message(&p->ferr));
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* ---- recorded copies ------------------------------------------------------------------------ */

int hk_pipe_copy_begin(struct hk_pipe *p, const char *table, const char *columns, int ncols,
                       void **rec, struct hk_err *err)
{
    struct pop *op = calloc(1, sizeof(*op));
    if (op) {
        pthread_mutex_lock(&p->mu);
        size_t pick = p->nspares;
        for (size_t i = 0; i < p->nspares; i++) {
            if (strncmp(p->spares[i].table, table, sizeof p->spares[i].table - 1) == 0) {
                pick = i;
                break;
            }
            if (pick == p->nspares || p->spares[i].cap > p->spares[pick].cap)
                pick = i;
        }
        if (pick < p->nspares) {
            op->out.buf = p->spares[pick].buf;
            op->out.cap = p->spares[pick].cap;
            p->spares[pick] = p->spares[--p->nspares];
        }
        pthread_mutex_unlock(&p->mu);
        op->kind = POP_COPY;
        op->ncols = ncols;
        op->table = hk_strdup(table);
        op->columns = hk_strdup(columns);
    }
    if (!op || !op->table || !op->columns) {
        pop_free(op);
        return hk_err_set(err, HK_E(NOMEM), "copy: out of memory");
    }
    *rec = op;
    return 0;
}

struct hk_pipe_buf *hk_pipe_copy_buf(void *rec)
{
    return &((struct pop *)rec)->out;
}

int hk_pipe_buf_grow(struct hk_pipe_buf *b, size_t n)
{
    if (n > SIZE_MAX / 2 - b->len)
        return HK_E(NOMEM);
    size_t need = b->len + n, cap = b->cap ? b->cap : 64 * 1024;
    while (cap < need)
        cap *= 2;
    unsigned char *q = realloc(b->buf, cap);
    if (!q)
        return HK_E(NOMEM);
    b->buf = q;
    b->cap = cap;
    return 0;
}

int hk_pipe_copy_end(struct hk_pipe *p, void *rec, bool ok, struct hk_err *err)
{
    struct pop *op = rec;
    if (!ok || !op->out.len) {
        pop_free(op);
        return 0;
    }
    return enqueue(p, op, err);
}

/* ---- ids --------------------------------------------------------------------------------------
 */

int hk_pipe_next_ids(struct hk_pipe *p, const char *table, size_t n, int64_t *ids,
                     struct hk_err *err)
{
    struct id_pool *pool = NULL;
    for (size_t i = 0; i < p->npools && !pool; i++)
        if (strcmp(p->pools[i].table, table) == 0)
            pool = &p->pools[i];
    if (!pool) {
        if (p->npools == PIPE_POOLS)
            return hk_err_set(err, HK_E(INTERNAL), "next ids: too many tables in a pipeline");
        pool = &p->pools[p->npools++];
        hk_strlcpy(pool->table, table, sizeof pool->table);
    }
    const struct hk_store_ops *ops = p->db->store->ops;
    int rc;
    if (ops->ids_are_max_plus_one) {
        if (!pool->last) { /* the first request asks the database */
            if ((rc = wait_idle(p, err)) < 0)
                return rc;
            if ((rc = ops->next_ids(p->db->conn, table, n, 0, ids, err)) < 0)
                return rc;
        } else {
            for (size_t i = 0; i < n; i++)
                ids[i] = pool->last + 1 + (int64_t)i;
        }
        pool->last = ids[n - 1];
        return 0;
    }
    if (pool->n - pool->pos < n) {
        size_t want = n > PIPE_ID_BLOCK ? n : PIPE_ID_BLOCK;
        int64_t *v = realloc(pool->ids, want * sizeof(*v));
        if (!v)
            return hk_err_set(err, HK_E(NOMEM), "next ids: out of memory");
        pool->ids = v;
        pool->pos = pool->n = 0;
        /* A sequence hands out values outside transactions: ask on another connection of the
           pool rather than wait for the writer to drain. Only a free one: waiting for a slot
           inside a transaction could wait on a holder that waits on this transaction's locks
           (until the pool's timeout); without one, wait for the writer and ask on ours. */
        struct hk_db *other;
        if (hk_db_acquire_free(p->db->store, &other, NULL) == 0) {
            rc = ops->next_ids(other->conn, table, want, 0, pool->ids, err);
            hk_db_release(other);
        } else if ((rc = wait_idle(p, err)) == 0) {
            rc = ops->next_ids(p->db->conn, table, want, 0, pool->ids, err);
        }
        if (rc < 0)
            return rc;
        pool->n = want;
    }
    memcpy(ids, pool->ids + pool->pos, n * sizeof(*ids));
    pool->pos += n;
    return 0;
}
