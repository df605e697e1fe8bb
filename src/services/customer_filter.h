/*
 * customer_filter.h — the customer list filtered by a segment expression (GET
 * /api/v1/customers?expr=...): the console's filters (channel, RFM tier and segment, tag,
 * province, bought within N days, ...) compile to one expression, the engine evaluates it into
 * the set of matching customer ids, and the usual SQL search (q, sort, keyset cursor) keeps only
 * the rows in that set.
 *
 * The search is read in pages and filtered here, so its order, its cursors and what a row shows
 * are exactly the unfiltered search's. A page scan stops after HK_FILTER_SCAN_MAX rows read:
 * the page may then hold fewer rows than asked while next_cursor still points on, so no request
 * runs unbounded on a selective filter. Sorting by id jumps straight to the next matching id, so
 * it reads about as many rows as it returns.
 *
 * Threading: thread-safe (the engine's read lock is held only while the expression is
 * evaluated).
 */
#ifndef HK_SERVICES_CUSTOMER_FILTER_H
#define HK_SERVICES_CUSTOMER_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_app;
struct hk_db;
struct hk_err;
struct hk_cust_query;
struct hk_cust_list_row;
struct hk_segment_error;

#define HK_FILTER_SCAN_MAX 20000

/** A set of customer ids: one bit per id up to the largest (ids are dense store ids). */
struct hk_id_set {
    uint64_t *bits; /* owned; bit i = id i */
    int64_t max_id; /* 0 when empty */
    size_t n;       /* ids in the set */
};
void hk_id_set_release(struct hk_id_set *s);

/**
 * The live customers matching expr as of now (in_segment resolves saved segments). HK_E(INVAL)
 * with *where filled (may be NULL) for a bad expression; HK_E(UNAVAILABLE) without an engine.
 */
int hk_customer_filter_eval(struct hk_app *app, const char *expr, struct hk_id_set *out,
                            struct hk_segment_error *where, struct hk_err *err);

/**
 * Runs the search q (store/customers_repo.h) keeping only rows whose id is in set, until cap
 * rows are kept, the search ends, or HK_FILTER_SCAN_MAX rows were read. *n = rows kept. When the
 * scan stopped at its limit with fewer than cap rows, *more is true and (*last_key, *last_id) is
 * the keyset of the last row read (for the next cursor); else *more is false.
 */
int hk_customer_filter_search(struct hk_db *db, const struct hk_id_set *set,
                              const struct hk_cust_query *q, size_t cap,
                              struct hk_cust_list_row *rows, size_t *n, bool *more,
                              int64_t *last_key, int64_t *last_id, struct hk_err *err);

#endif
