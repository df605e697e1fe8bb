/*
 * dashboard_repo.h — the one SQL aggregate behind the dashboard's sales chart: net sales of
 * counted orders per shop and per 15-minute slot of purchase time.
 *
 * Why slots and not days: a day boundary depends on the shop's time zone (and its daylight saving
 * rules), which SQL cannot apply the same way on both backends. Every time zone in use today is
 * offset from UTC by a multiple of 15 minutes, so no 15-minute slot (aligned to the epoch) ever
 * straddles a local midnight: the service maps each slot to its shop-local day with core/tz.h and
 * adds it into its bucket. When all shops keep one fixed offset over the range (the usual case:
 * every shop in Asia/Shanghai), the statement groups by local day directly. Either way it returns
 * at most (shops x slots in the range) rows, never one per order.
 *
 * Definitions (the same as the customer profile's, services/customers.h): an order is counted
 * when its status is paid, shipped or completed; its net amount is paid_fen - refund_fen; its
 * purchase time is paid_at, or created_at when it has none.
 *
 * Threading: uses the one hk_db it is given (borrowed; one thread at a time).
 */
#ifndef HK_STORE_DASHBOARD_REPO_H
#define HK_STORE_DASHBOARD_REPO_H

#include <stdint.h>

struct hk_db;
struct hk_err;

#define HK_SALES_SLOT_S 900 /* seconds per slot in any zone */

/** Called once per (shop, slot) with the sum of net amounts; non-zero stops the read. */
typedef int (*hk_sales_slot_cb)(void *ctx, int64_t shop_id, int64_t slot, int64_t net_fen,
                                int64_t orders, struct hk_err *err);

/**
 * Net sales of counted orders whose purchase time t is in [from, to) (seconds since the epoch,
 * from >= 0), grouped by shop and slot = (t + offset_s) / slot_s, in no particular order.
 * (0, HK_SALES_SLOT_S) works for every zone; when every shop's zone keeps one UTC offset over the
 * range (Asia/Shanghai), (that offset, 86400) makes the slot the local day number itself and
 * groups about a hundred times fewer rows.
 * Reads only the covering index orders_sales, and only the range of it.
 */
int hk_dashboard_sales_slots(struct hk_db *db, int64_t from, int64_t to, int64_t offset_s,
                             int64_t slot_s, hk_sales_slot_cb cb, void *ctx, struct hk_err *err);

#endif
