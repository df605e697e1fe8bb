/*
 * shops_repo.h — shops (table shops, sql/0001_init.sql): a channel, a name and the IANA time zone
 * in which the shop's days begin and end. Shops are created by imports (store/ingest_repo.c);
 * here they are listed and their zone changed.
 *
 * A zone change moves every order and event of the shop to other local days, so it is announced
 * to every process's engine as an 'all' change row in the same transaction (the engines reload
 * everything, shops with their new zones included).
 *
 * Threading: functions use the one hk_db they are given (borrowed; one thread at a time).
 */
#ifndef HK_STORE_SHOPS_REPO_H
#define HK_STORE_SHOPS_REPO_H

#include <stdint.h>

struct hk_db;
struct hk_err;

#define HK_SHOP_TEXT_MAX 256
#define HK_SHOP_ZONE_MAX 64

struct hk_shop_row {
    int64_t id;
    char channel[64];
    char name[HK_SHOP_TEXT_MAX];
    char timezone[HK_SHOP_ZONE_MAX];
    int64_t created_at;
};

/** Called per shop in id order; non-zero stops the read. */
typedef int (*hk_shop_cb)(void *ctx, const struct hk_shop_row *s, struct hk_err *err);

/** Every shop in id order. */
int hk_shops_repo_list(struct hk_db *db, hk_shop_cb cb, void *ctx, struct hk_err *err);
/** One shop. HK_E(NOTFOUND) when there is none. */
int hk_shops_repo_get(struct hk_db *db, int64_t id, struct hk_shop_row *out, struct hk_err *err);
/**
 * Sets the shop's zone (not validated here) inside the caller's write transaction and logs an
 * 'all' change row at `now` with it. HK_E(NOTFOUND) when there is no such shop.
 */
int hk_shops_repo_set_timezone(struct hk_db *db, int64_t id, const char *timezone, int64_t now,
                               struct hk_err *err);

#endif
