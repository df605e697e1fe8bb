/*
 * rfm_repo.h — the stored RFM configuration (table rfm_config, sql/0002_changes.sql): one text
 * document per shop, shop 0 being the global default. The text format belongs to
 * services/rfm_svc.c; the store only keeps it.
 *
 * Threading: functions use the one hk_db they are given (borrowed; one thread at a time).
 */
#ifndef HK_STORE_RFM_REPO_H
#define HK_STORE_RFM_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_db;
struct hk_err;

/**
 * Copies shop_id's configuration text into buf (NUL-terminated; HK_E(TOOLARGE) when it does
 * not fit) and sets *found; *found = false when none is stored.
 */
int hk_rfm_repo_get(struct hk_db *db, int64_t shop_id, char *buf, size_t size, bool *found,
                    struct hk_err *err);
/**
 * Inserts or replaces shop_id's configuration text and announces it in the change log: an 'rfm'
 * row whose customer_id column carries the shop id (0 = all shops), so followers re-read and
 * rescore just that shop.
 */
int hk_rfm_repo_put(struct hk_db *db, int64_t shop_id, const char *text, int64_t user_id,
                    int64_t now, struct hk_err *err);
/** Deletes shop_id's configuration (it inherits shop 0's again) and announces it as put does;
 * *found = false (nothing written) when there was none. */
int hk_rfm_repo_delete(struct hk_db *db, int64_t shop_id, bool *found, struct hk_err *err);
/** Called per stored configuration, in shop id order; non-zero stops the read. */
typedef int (*hk_rfm_repo_cb)(void *ctx, int64_t shop_id, const char *text, struct hk_err *err);
/** Every stored configuration (shop 0's included). */
int hk_rfm_repo_list(struct hk_db *db, hk_rfm_repo_cb cb, void *ctx, struct hk_err *err);

#endif
