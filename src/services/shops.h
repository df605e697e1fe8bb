/*
 * shops.h — the shops huike knows (made by imports) and their time zones.
 *
 * A shop's zone decides where its days begin and end: "within 30 days", the dashboard's days,
 * the timeline's local dates. Changing it is for admins (the route checks the role), validated
 * against the system's tz database (core/tz.h), audited (shop.update), and makes every engine
 * reload (an 'all' change row, store/shops_repo.h), so segment answers use the new days within a
 * second or so (the reload time of the engine).
 *
 * Threading: thread-safe.
 */
#ifndef HK_SERVICES_SHOPS_H
#define HK_SERVICES_SHOPS_H

#include <stddef.h>
#include <stdint.h>

#include "store/shops_repo.h"

struct hk_app;
struct hk_err;
struct hk_actor;

/** Every shop in id order (*out new: free(); NULL when *n is 0). */
int hk_shops_list(struct hk_app *app, struct hk_shop_row **out, size_t *n, struct hk_err *err);

/**
 * Sets shop id's zone to an IANA name the system knows ("Asia/Shanghai"). HK_E(INVAL) naming
 * "timezone" for an unknown zone, HK_E(NOTFOUND) for an unknown shop. A change to the same zone
 * writes nothing. *out (may be NULL) gets the shop as stored afterwards.
 */
int hk_shops_set_timezone(struct hk_app *app, const struct hk_actor *actor, int64_t id,
                          const char *timezone, struct hk_shop_row *out, struct hk_err *err);

#endif
