/*
 * dashboard_repo.c — the SQL behind dashboard_repo.h.
 *
 * The statement is two range scans on the covering index orders_sales (sql/0004_sales_index.sql)
 * joined by UNION ALL: orders paid within the range, and orders without a payment time (the index
 * holds NULLs too) created within it. Both read only the index, and only the range of it, so a
 * month's chart reads a month of orders whatever the table's size. Slots come from integer
 * division of non-negative integers, which both backends truncate alike.
 */
#include "store/dashboard_repo.h"

#include "core/err.h"
#include "store/repo_util.h"
#include "store/store.h"

#define COUNTED "o.status IN ('paid', 'shipped', 'completed')"

/* $1 from, $2 to, $3 offset, $4 slot size */
static const char sql_range[] =
    "SELECT shop_id, slot, SUM(net), COUNT(*) FROM ("
    "SELECT o.shop_id AS shop_id, (o.paid_at + $3) / $4 AS slot,"
    " o.paid_fen - o.refund_fen AS net FROM orders o"
    " WHERE o.paid_at >= $1 AND o.paid_at < $2 AND " COUNTED " UNION ALL "
    "SELECT o.shop_id, (o.created_at + $3) / $4, o.paid_fen - o.refund_fen"
    " FROM orders o WHERE o.paid_at IS NULL AND o.created_at >= $1"
    " AND o.created_at < $2 AND " COUNTED ") x GROUP BY shop_id, slot";

int hk_dashboard_sales_slots(struct hk_db *db, int64_t from, int64_t to, int64_t offset_s,
                             int64_t slot_s, hk_sales_slot_cb cb, void *ctx, struct hk_err *err)
{
    static const char name[] = "dashboard_sales";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name, sql_range, &st, err);
    if (rc < 0)
        return rc;
    if (from < 0)
        from = 0;
    if (hk_stmt_bind_int64(st, 1, from) || hk_stmt_bind_int64(st, 2, to) ||
        hk_stmt_bind_int64(st, 3, offset_s) || hk_stmt_bind_int64(st, 4, slot_s > 0 ? slot_s : 1))
        return hk_stmt_bind_failed(st, name, err);
    while ((rc = hk_stmt_step(st, err)) == HK_ROW) {
        rc = cb(ctx, hk_stmt_int64(st, 0), hk_stmt_int64(st, 1), hk_stmt_int64(st, 2),
                hk_stmt_int64(st, 3), err);
        if (rc)
            break;
    }
    hk_stmt_reset(st);
    return rc < 0 ? rc : 0;
}
