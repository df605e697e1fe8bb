/*
 * ingest_api.h — what the REST ingest endpoints need beyond import.h and events.h: the
 * customer each just-applied order belongs to (for the reply of POST /api/v1/orders).
 *
 * Threads: thread-safe; each call uses one db from the store for its duration.
 */
#ifndef HK_INGEST_INGEST_API_H
#define HK_INGEST_INGEST_API_H

#include <stddef.h>
#include <stdint.h>

struct hk_err;
struct hk_order_rec;
struct hk_store;

/**
 * Writes to customer_ids[i] the customer (followed through merges) of each stored order
 * orders[i] — found by (channel, shop, order number); a record without a shop matches the order
 * number in any shop of its channel (shop: the default shop name, or NULL) — or 0 when it is
 * not stored. Read-only. Returns 0 or a negative HK_E code.
 */
int hk_ingest_order_customers(struct hk_store *store, const struct hk_order_rec *const *orders,
                              size_t n, const char *shop, int64_t *customer_ids,
                              struct hk_err *err);

#endif
