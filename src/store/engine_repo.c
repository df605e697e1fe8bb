/*
 * engine_repo.c — the SQL behind engine_repo.h. Plain SELECTs inside read transactions.
 *
 * The bulk load (hk_engine_repo_load) reads orders and their lines as two plain scans, orders
 * by id and lines by order id, and merges them here — cheaper than a join, which probes the
 * lines' index once per order. With a store to take a second connection from, the orders are
 * read on it by a thread of their own (decoding rows is most of the load's cost) and handed over
 * in chunks through a small bounded queue, while the calling thread reads customers, channels
 * and the lines, merges, and feeds the sink. The two connections see different snapshots; the
 * engine's caller reads the change cursor before the load and applies every change after it
 * again (engine_svc.c), so a write committed between the snapshots is repaired like any other.
 * The thread takes its connection from the pool itself (a busy pool makes it wait, as any
 * request would).
 * One customer (hk_engine_repo_load_customer) is read with a join ordered by order and line.
 *
 * Note: on PostgreSQL the store fetches a result whole, so a very large orders table is held in
 * libpq memory once during the load; a streaming (cursor) mode in the store is the next step.
 */
#include "store/engine_repo.h"

#include "core/err.h"
#include "store/repo_util.h"
#include "store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs sql (binding $1 = param when param > 0) and calls row(ctx, st, err) for each row. */
static int each_row_p(struct hk_db *db, const char *name, const char *sql, int64_t param,
                      int (*row)(const struct hk_engine_repo_sink *, struct hk_stmt *,
                                 struct hk_err *),
                      const struct hk_engine_repo_sink *sink, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name, sql, &st, err);
    if (rc)
        return rc;
    if (param > 0 && hk_stmt_bind_int64(st, 1, param))
        return hk_err_set(err, HK_E(INTERNAL), "%s: bind failed", name);
    while ((rc = hk_stmt_step(st, err)) == HK_ROW) {
        rc = row(sink, st, err);
        if (rc)
            break;
    }
    hk_stmt_reset(st);
    return rc < 0 ? rc : (rc == HK_DONE ? 0 : rc);
}

static int each_row(struct hk_db *db, const char *name, const char *sql,
                    int (*row)(const struct hk_engine_repo_sink *, struct hk_stmt *,
                               struct hk_err *),
                    const struct hk_engine_repo_sink *sink, struct hk_err *err)
{
    return each_row_p(db, name, sql, 0, row, sink, err);
}

static int shop_row(const struct hk_engine_repo_sink *s, struct hk_stmt *st, struct hk_err *err)
{
    int rc = s->shop ? s->shop(s->ctx, hk_stmt_int64(st, 0), hk_stmt_text_or_empty(st, 1), err) : 0;
    if (!rc && s->shop_name)
        rc = s->shop_name(s->ctx, hk_stmt_int64(st, 0), hk_stmt_text_or_empty(st, 2),
                          hk_stmt_text_or_empty(st, 3), err);
    return rc;
}

static int product_row(const struct hk_engine_repo_sink *s, struct hk_stmt *st, struct hk_err *err)
{
    return s->product ? s->product(s->ctx, hk_stmt_int64(st, 0), hk_stmt_text_or_empty(st, 1),
                                   hk_stmt_text_or_empty(st, 2), err)
                      : 0;
}

static int customer_row(const struct hk_engine_repo_sink *s, struct hk_stmt *st, struct hk_err *err)
{
    return s->customer ? s->customer(s->ctx, hk_stmt_int64(st, 0), hk_stmt_text_or_empty(st, 1),
                                     hk_stmt_text_or_empty(st, 2), hk_stmt_int64(st, 3), err)
                       : 0;
}

static int channel_row(const struct hk_engine_repo_sink *s, struct hk_stmt *st, struct hk_err *err)
{
    return s->channel ? s->channel(s->ctx, hk_stmt_int64(st, 0), hk_stmt_text_or_empty(st, 1), err)
                      : 0;
}

static int tag_row(const struct hk_engine_repo_sink *s, struct hk_stmt *st, struct hk_err *err)
{
    return s->tag ? s->tag(s->ctx, hk_stmt_text_or_empty(st, 0), err) : 0;
}

static int customer_tag_row(const struct hk_engine_repo_sink *s, struct hk_stmt *st,
                            struct hk_err *err)
{
    return s->customer_tag
               ? s->customer_tag(s->ctx, hk_stmt_int64(st, 0), hk_stmt_text_or_empty(st, 1), err)
               : 0;
}

static int event_row(const struct hk_engine_repo_sink *s, struct hk_stmt *st, struct hk_err *err)
{
    return s->event ? s->event(s->ctx, hk_stmt_int64(st, 0), hk_stmt_int64(st, 1),
                               hk_stmt_text_or_empty(st, 2), hk_stmt_int64(st, 3), err)
                    : 0;
}

#define ORDERS_SELECT                                                                              \
    "SELECT o.id, o.customer_id, o.shop_id, o.status, o.paid_at, o.paid_fen, o.refund_fen,"        \
    " CASE WHEN o.coupon_code IS NULL OR o.coupon_code = '' THEN 0 ELSE 1 END,"                    \
    " i.id, i.product_id, i.paid_fen - i.refund_fen"                                               \
    " FROM orders o LEFT JOIN order_items i ON i.order_id = o.id"

static const char ORDERS_ONE_SQL[] = ORDERS_SELECT " WHERE o.customer_id = $1"
                                                   " ORDER BY o.id, i.line_no";

/* One customer's orders, grouped with their lines (ordered by order and line number). */
static int load_orders(struct hk_db *db, int64_t customer_id, const struct hk_engine_repo_sink *s,
                       struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "engine_orders_one", ORDERS_ONE_SQL, &st, err);
    if (rc)
        return rc;
    if (hk_stmt_bind_int64(st, 1, customer_id))
        return hk_err_set(err, HK_E(INTERNAL), "engine_orders_one: bind failed");
    struct hk_engine_repo_line *lines = NULL;
    size_t nl = 0, cap = 0;
    struct hk_engine_repo_order o;
    memset(&o, 0, sizeof(o));
    char status[32] = "";
    bool have = false;
    for (;;) {
        rc = hk_stmt_step(st, err);
        if (rc < 0)
            break;
        int64_t id = rc == HK_ROW ? hk_stmt_int64(st, 0) : 0;
        if (have && (rc != HK_ROW || id != o.id)) {
            o.lines = lines;
            o.n_lines = nl;
            o.status = status;
            int crc = s->order ? s->order(s->ctx, &o, err) : 0;
            if (crc) {
                rc = crc;
                break;
            }
            have = false;
        }
        if (rc != HK_ROW) {
            rc = 0;
            break;
        }
        if (!have) {
            memset(&o, 0, sizeof(o));
            o.id = id;
            o.customer_id = hk_stmt_int64(st, 1);
            o.shop_id = hk_stmt_int64(st, 2);
            hk_stmt_text_copy(st, 3, status, sizeof(status));
            o.has_paid_at = !hk_stmt_is_null(st, 4);
            o.paid_at = hk_stmt_int64(st, 4);
            o.paid_fen = hk_stmt_int64(st, 5);
            o.refund_fen = hk_stmt_int64(st, 6);
            o.coupon = hk_stmt_int64(st, 7) != 0;
            nl = 0;
            have = true;
        }
        if (!hk_stmt_is_null(st, 8)) { /* a line (LEFT JOIN: NULL when the order has none) */
            if (nl == cap) {
                size_t nc = cap ? cap * 2 : 16;
                struct hk_engine_repo_line *p = realloc(lines, nc * sizeof(*p));
                if (!p) {
                    rc = hk_err_set(err, HK_E(NOMEM), "out of memory loading orders");
                    break;
                }
                lines = p;
                cap = nc;
            }
            lines[nl].product_id = hk_stmt_int64(st, 9);
            lines[nl].amount_fen = hk_stmt_int64(st, 10);
            nl++;
        }
    }
    hk_stmt_reset(st);
    free(lines);
    return rc;
}

/* ---- the bulk read of orders and lines ----------------------------------------------------- */

#define BULK_CHUNK 4096 /* rows per chunk */
#define BULK_QUEUE 8    /* chunks in flight per feed */

static const char BULK_ORDERS_SQL[] =
    "SELECT id, customer_id, shop_id, status, paid_at, paid_fen, refund_fen,"
    " CASE WHEN coupon_code IS NULL OR coupon_code = '' THEN 0 ELSE 1 END"
    " FROM orders ORDER BY id";
static const char BULK_ITEMS_SQL[] =
    "SELECT order_id, product_id, paid_fen - refund_fen FROM order_items ORDER BY order_id";

struct bulk_order {
    int64_t id, customer_id, shop_id, paid_at, paid_fen, refund_fen;
    bool has_paid_at, coupon;
    char status[24];
};

struct bulk_item {
    int64_t order_id, product_id, amount_fen;
};

static void order_of_row(struct hk_stmt *st, void *rec)
{
    struct bulk_order *o = rec;
    o->id = hk_stmt_int64(st, 0);
    o->customer_id = hk_stmt_int64(st, 1);
    o->shop_id = hk_stmt_int64(st, 2);
    hk_stmt_text_copy(st, 3, o->status, sizeof(o->status));
    o->has_paid_at = !hk_stmt_is_null(st, 4);
    o->paid_at = hk_stmt_int64(st, 4);
    o->paid_fen = hk_stmt_int64(st, 5);
    o->refund_fen = hk_stmt_int64(st, 6);
    o->coupon = hk_stmt_int64(st, 7) != 0;
}

static void item_of_row(struct hk_stmt *st, void *rec)
{
    struct bulk_item *i = rec;
    i->order_id = hk_stmt_int64(st, 0);
    i->product_id = hk_stmt_int64(st, 1);
    i->amount_fen = hk_stmt_int64(st, 2);
}

struct bulk_chunk {
    size_t n;
    unsigned char rows[]; /* n records of the feed's size */
};

/*
 * The rows of one query, in its order: read by a thread on its own connection and handed over
 * in chunks, or (no store, or no thread) stepped on the caller's db.
 */
struct feed {
    const char *name, *sql;
    size_t size; /* of a record */
    void (*fill)(struct hk_stmt *, void *);
    struct hk_store *store; /* threaded when non-NULL */
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct bulk_chunk *q[BULK_QUEUE];
    size_t head, count;
    bool done, cancel;
    int rc;
    struct hk_err err;
    struct bulk_chunk *cur; /* consumer: the chunk being read, and where */
    size_t pos;
    struct hk_stmt *st; /* unthreaded */
};

/* Hands chunk c to the consumer (waits while the queue is full). False when cancelled. */
static bool feed_push(struct feed *f, struct bulk_chunk *c)
{
    pthread_mutex_lock(&f->mu);
    while (f->count == BULK_QUEUE && !f->cancel)
        pthread_cond_wait(&f->cv, &f->mu);
    bool ok = !f->cancel;
    if (ok) {
        f->q[(f->head + f->count) % BULK_QUEUE] = c;
        f->count++;
        pthread_cond_broadcast(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
    return ok;
}

static void *feed_main(void *arg)
{
    struct feed *f = arg;
    struct hk_err err;
    hk_err_clear(&err);
    struct hk_db *db = NULL;
    struct hk_stmt *st = NULL;
    struct bulk_chunk *c = NULL;
    int rc = hk_db_acquire(f->store, &db, &err);
    if (!rc)
        rc = hk_db_begin(db, HK_TX_READ, &err);
    if (!rc)
        rc = hk_db_stmt(db, f->name, f->sql, &st, &err);
    while (!rc) {
        if (!c && !(c = malloc(sizeof(*c) + BULK_CHUNK * f->size))) {
            rc = hk_err_set(&err, HK_E(NOMEM), "out of memory loading the engine");
            break;
        }
        c->n = 0;
        while (c->n < BULK_CHUNK && (rc = hk_stmt_step(st, &err)) == HK_ROW)
            f->fill(st, c->rows + c->n++ * f->size);
        if (rc < 0)
            break;
        bool last = rc == HK_DONE;
        rc = 0;
        if (c->n) {
            if (!feed_push(f, c))
                break; /* cancelled */
            c = NULL;
        }
        if (last)
            break;
    }
    free(c);
    if (st)
        hk_stmt_reset(st);
    if (db) {
        hk_db_rollback(db);
        hk_db_release(db);
    }
    pthread_mutex_lock(&f->mu);
    f->done = true;
    f->rc = rc;
    f->err = err;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

static int feed_start(struct feed *f, const char *name, const char *sql, size_t size,
                      void (*fill)(struct hk_stmt *, void *), struct hk_db *db,
                      struct hk_store *store, struct hk_err *err)
{
    memset(f, 0, sizeof(*f));
    f->name = name;
    f->sql = sql;
    f->size = size;
    f->fill = fill;
    if (store) {
        f->store = store;
        pthread_mutex_init(&f->mu, NULL);
        pthread_cond_init(&f->cv, NULL);
        if (pthread_create(&f->tid, NULL, feed_main, f) == 0)
            return 0;
        pthread_cond_destroy(&f->cv);
        pthread_mutex_destroy(&f->mu);
        f->store = NULL; /* no thread: read them here */
    }
    return hk_db_stmt(db, name, sql, &f->st, err);
}

/* The next row: a pointer to its record (valid until the next call), or NULL at the end or on
 * an error (*rc: 0 or the error). */
static const void *feed_next(struct feed *f, int *rc, struct hk_err *err)
{
    *rc = 0;
    if (!f->store) {
        if (!f->cur && !(f->cur = malloc(sizeof(*f->cur) + f->size))) {
            *rc = hk_err_set(err, HK_E(NOMEM), "out of memory loading the engine");
            return NULL;
        }
        int s = hk_stmt_step(f->st, err);
        if (s != HK_ROW) {
            *rc = s == HK_DONE ? 0 : s;
            return NULL;
        }
        f->fill(f->st, f->cur->rows);
        return f->cur->rows;
    }
    if (f->cur && f->pos == f->cur->n) {
        free(f->cur);
        f->cur = NULL;
    }
    if (!f->cur) {
        pthread_mutex_lock(&f->mu);
        while (f->count == 0 && !f->done)
            pthread_cond_wait(&f->cv, &f->mu);
        if (f->count) {
            f->cur = f->q[f->head];
            f->head = (f->head + 1) % BULK_QUEUE;
            f->count--;
            f->pos = 0;
            pthread_cond_broadcast(&f->cv);
        } else if (f->rc) {
            *rc = f->rc;
            if (err)
                *err = f->err;
        }
        pthread_mutex_unlock(&f->mu);
        if (!f->cur)
            return NULL;
    }
    return f->cur->rows + f->pos++ * f->size;
}

static void feed_stop(struct feed *f)
{
    if (!f->store) {
        if (f->st)
            hk_stmt_reset(f->st);
        free(f->cur);
        return;
    }
    pthread_mutex_lock(&f->mu);
    f->cancel = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->tid, NULL);
    free(f->cur);
    for (size_t i = 0; i < f->count; i++)
        free(f->q[(f->head + i) % BULK_QUEUE]);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
}

/*
 * Every order with its lines: the orders (by id) merged with the lines (by order id). With a
 * store the orders are read by a thread on a connection of its own; the lines are stepped here.
 * (A third thread for the lines was measured at 10M orders on the shared 2-core machine: no
 * faster, 5 % more CPU — the feed mechanism takes either.)
 */
static int load_orders_bulk(struct hk_db *db, struct hk_store *store,
                            const struct hk_engine_repo_sink *s, struct hk_err *err)
{
    struct feed fo, fi;
    int rc = feed_start(&fo, "engine_bulk_orders", BULK_ORDERS_SQL, sizeof(struct bulk_order),
                        order_of_row, db, store, err);
    if (rc)
        return rc;
    if ((rc = feed_start(&fi, "engine_bulk_items", BULK_ITEMS_SQL, sizeof(struct bulk_item),
                         item_of_row, db, NULL, err)) != 0) {
        feed_stop(&fo);
        return rc;
    }
    struct hk_engine_repo_line *lines = NULL;
    size_t cap = 0;
    int irc = 0;
    const struct bulk_item *it = feed_next(&fi, &irc, err); /* the first line not yet used */
    for (;;) {
        const struct bulk_order *bo = feed_next(&fo, &rc, err);
        if (!bo || irc)
            break;
        size_t nl = 0;
        for (; it && it->order_id <= bo->id; it = feed_next(&fi, &irc, err)) {
            if (it->order_id < bo->id)
                continue; /* a line of an unknown order */
            if (nl == cap) {
                size_t nc = cap ? cap * 2 : 16;
                struct hk_engine_repo_line *p = realloc(lines, nc * sizeof(*p));
                if (!p) {
                    irc = hk_err_set(err, HK_E(NOMEM), "out of memory loading orders");
                    break;
                }
                lines = p;
                cap = nc;
            }
            lines[nl].product_id = it->product_id;
            lines[nl].amount_fen = it->amount_fen;
            nl++;
        }
        if (irc)
            break;
        struct hk_engine_repo_order o = {
            bo->id,      bo->customer_id, bo->shop_id,    bo->status, bo->has_paid_at,
            bo->paid_at, bo->paid_fen,    bo->refund_fen, bo->coupon, lines,
            nl};
        rc = s->order ? s->order(s->ctx, &o, err) : 0;
        if (rc)
            break;
    }
    if (!rc)
        rc = irc;
    feed_stop(&fo);
    feed_stop(&fi);
    free(lines);
    return rc;
}

int hk_engine_repo_load(struct hk_db *db, struct hk_store *store,
                        const struct hk_engine_repo_sink *sink, struct hk_err *err)
{
    int rc = hk_db_begin(db, HK_TX_READ, err);
    if (rc)
        return rc;
    rc = hk_engine_repo_load_shops(db, sink, err);
    if (!rc)
        rc = each_row(db, "engine_products",
                      "SELECT id, external_id, category FROM products ORDER BY id", product_row,
                      sink, err);
    if (!rc)
        rc = each_row(db, "engine_customers",
                      "SELECT id, province, city, merged_into FROM customers ORDER BY id",
                      customer_row, sink, err);
    if (!rc)
        rc = each_row(db, "engine_channels",
                      "SELECT customer_id, channel FROM identities"
                      " WHERE channel NOT IN ('any', '*')",
                      channel_row, sink, err); /* a channel bit is set once however often */
    if (!rc)
        rc = each_row(db, "engine_tags", "SELECT name FROM tags ORDER BY id", tag_row, sink, err);
    if (!rc)
        rc = each_row(db, "engine_customer_tags",
                      "SELECT ct.customer_id, t.name FROM customer_tags ct"
                      " JOIN tags t ON t.id = ct.tag_id",
                      customer_tag_row, sink, err);
    if (!rc)
        rc = load_orders_bulk(db, store, sink, err);
    if (!rc)
        rc = each_row(db, "engine_events",
                      "SELECT customer_id, COALESCE(shop_id, 0), type, at FROM events ORDER BY id",
                      event_row, sink, err);
    if (rc) {
        hk_db_rollback(db);
        return rc;
    }
    return hk_db_commit(db, err);
}

int hk_engine_repo_load_customer(struct hk_db *db, int64_t customer_id,
                                 const struct hk_engine_repo_sink *sink, struct hk_err *err)
{
    int64_t c = customer_id;
    int rc = each_row_p(db, "engine_one_shops",
                        "SELECT id, timezone, channel, name FROM shops WHERE id IN"
                        " (SELECT shop_id FROM orders WHERE customer_id = $1"
                        " UNION SELECT shop_id FROM events WHERE customer_id = $1"
                        " AND shop_id IS NOT NULL)",
                        c, shop_row, sink, err);
    if (!rc)
        rc = each_row_p(db, "engine_one_products",
                        "SELECT id, external_id, category FROM products WHERE id IN"
                        " (SELECT i.product_id FROM order_items i JOIN orders o"
                        " ON o.id = i.order_id WHERE o.customer_id = $1)",
                        c, product_row, sink, err);
    if (!rc)
        rc = each_row_p(db, "engine_one_customer",
                        "SELECT id, province, city, merged_into FROM customers WHERE id = $1", c,
                        customer_row, sink, err);
    if (!rc)
        rc = each_row_p(db, "engine_one_channels",
                        "SELECT DISTINCT customer_id, channel FROM identities"
                        " WHERE customer_id = $1",
                        c, channel_row, sink, err);
    if (!rc)
        rc = each_row_p(db, "engine_one_tags",
                        "SELECT ct.customer_id, t.name FROM customer_tags ct"
                        " JOIN tags t ON t.id = ct.tag_id WHERE ct.customer_id = $1",
                        c, customer_tag_row, sink, err);
    if (!rc)
        rc = load_orders(db, c, sink, err);
    if (!rc)
        rc = each_row_p(db, "engine_one_events",
                        "SELECT customer_id, COALESCE(shop_id, 0), type, at FROM events"
                        " WHERE customer_id = $1 ORDER BY id",
                        c, event_row, sink, err);
    return rc;
}

int hk_engine_repo_load_shops(struct hk_db *db, const struct hk_engine_repo_sink *sink,
                              struct hk_err *err)
{
    return each_row(db, "engine_shops", "SELECT id, timezone, channel, name FROM shops ORDER BY id",
                    shop_row, sink, err);
}

static int store_id_read(struct hk_db *db, char *buf, size_t size, struct hk_err *err)
{
    struct hk_stmt *st;
    buf[0] = '\0';
    int rc = hk_db_stmt(db, "engine_store_id",
                        "SELECT value FROM store_meta WHERE key = 'store_id'", &st, err);
    if (rc < 0)
        return rc;
    rc = hk_stmt_step(st, err);
    if (rc == HK_ROW) {
        snprintf(buf, size, "%s", hk_stmt_text_or_empty(st, 0));
        rc = 0;
    }
    hk_stmt_reset(st);
    return rc < 0 ? rc : 0;
}

int hk_engine_repo_store_id(struct hk_db *db, const char *create, int64_t now, char *buf,
                            size_t size, struct hk_err *err)
{
    int rc = store_id_read(db, buf, size, err);
    if (rc || buf[0] || !create)
        return rc;
    if ((rc = hk_db_begin(db, HK_TX_WRITE, err)) != 0)
        return rc;
    struct hk_stmt *st;
    rc = hk_db_stmt(db, "engine_store_id_put",
                    "INSERT INTO store_meta (key, value, created_at)"
                    " SELECT 'store_id', $1, $2 WHERE NOT EXISTS"
                    " (SELECT 1 FROM store_meta WHERE key = 'store_id')",
                    &st, err);
    if (rc >= 0 && (hk_stmt_bind_text(st, 1, create, (size_t)-1) || hk_stmt_bind_int64(st, 2, now)))
        rc = hk_stmt_bind_failed(st, "engine_store_id_put", err);
    if (rc >= 0)
        rc = hk_stmt_exec(st, err);
    if (rc < 0) {
        hk_db_rollback(db);
        return rc;
    }
    if ((rc = hk_db_commit(db, err)) != 0)
        return rc;
    return store_id_read(db, buf, size, err);
}
