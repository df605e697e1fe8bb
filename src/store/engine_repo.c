/*
 * engine_repo.c — the SQL behind engine_repo.h. Plain SELECTs inside one read transaction;
 * orders are joined with their lines and grouped here (ordered by order id, line number), the
 * lines of the current order kept in a growable array reused across orders.
 *
 * Note: on PostgreSQL the store fetches a result whole, so a very large orders table is held in
 * libpq memory once during the load; a streaming (cursor) mode in the store is the next step.
 */
#include "store/engine_repo.h"

#include "core/err.h"
#include "store/repo_util.h"
#include "store/store.h"

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
    return s->shop ? s->shop(s->ctx, hk_stmt_int64(st, 0), hk_stmt_text_or_empty(st, 1), err) : 0;
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

static const char ORDERS_SQL[] = ORDERS_SELECT " ORDER BY o.id, i.line_no";
static const char ORDERS_ONE_SQL[] = ORDERS_SELECT " WHERE o.customer_id = $1"
                                                   " ORDER BY o.id, i.line_no";

/* Every order (customer_id 0) or one customer's, grouped with their lines. */
static int load_orders(struct hk_db *db, int64_t customer_id, const struct hk_engine_repo_sink *s,
                       struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = customer_id ? hk_db_stmt(db, "engine_orders_one", ORDERS_ONE_SQL, &st, err)
                         : hk_db_stmt(db, "engine_orders", ORDERS_SQL, &st, err);
    if (rc)
        return rc;
    if (customer_id && hk_stmt_bind_int64(st, 1, customer_id))
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

int hk_engine_repo_load(struct hk_db *db, const struct hk_engine_repo_sink *sink,
                        struct hk_err *err)
{
    int rc = hk_db_begin(db, HK_TX_READ, err);
    if (rc)
        return rc;
    rc = each_row(db, "engine_shops", "SELECT id, timezone FROM shops ORDER BY id", shop_row, sink,
                  err);
    if (!rc)
        rc = each_row(db, "engine_products",
                      "SELECT id, external_id, category FROM products ORDER BY id", product_row,
                      sink, err);
    if (!rc)
        rc = each_row(db, "engine_customers",
                      "SELECT id, province, city, merged_into FROM customers ORDER BY id",
                      customer_row, sink, err);
    if (!rc)
        rc = each_row(db, "engine_channels", "SELECT DISTINCT customer_id, channel FROM identities",
                      channel_row, sink, err);
    if (!rc)
        rc = each_row(db, "engine_tags", "SELECT name FROM tags ORDER BY id", tag_row, sink, err);
    if (!rc)
        rc = each_row(db, "engine_customer_tags",
                      "SELECT ct.customer_id, t.name FROM customer_tags ct"
                      " JOIN tags t ON t.id = ct.tag_id",
                      customer_tag_row, sink, err);
    if (!rc)
        rc = load_orders(db, 0, sink, err);
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
                        "SELECT id, timezone FROM shops WHERE id IN"
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
