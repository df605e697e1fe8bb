/*
 * rfm_repo.c — the SQL behind rfm_repo.h. A put or delete runs inside the caller's write
 * transaction and announces the change in the change log (an 'rfm' row naming the shop in
 * customer_id), so every process re-reads that shop's configuration.
 */
#include "store/rfm_repo.h"

#include <string.h>
#include <time.h>

#include "core/err.h"
#include "store/changes_repo.h"
#include "store/store.h"

int hk_rfm_repo_get(struct hk_db *db, int64_t shop_id, char *buf, size_t size, bool *found,
                    struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "rfm_config_get", "SELECT config FROM rfm_config WHERE shop_id = $1",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, shop_id))
        return hk_err_set(err, HK_E(INTERNAL), "rfm_config_get: bind failed");
    rc = hk_stmt_step(st, err);
    if (rc == HK_ROW) {
        size_t len = 0;
        const char *t = hk_stmt_text(st, 0, &len);
        if (len + 1 > size) {
            hk_stmt_reset(st);
            return hk_err_set(err, HK_E(TOOLARGE), "stored RFM configuration is too long");
        }
        memcpy(buf, t ? t : "", len);
        buf[len] = '\0';
        *found = true;
        rc = 0;
    } else if (rc == HK_DONE) {
        *found = false;
        rc = 0;
    }
    hk_stmt_reset(st);
    return rc;
}

/* The change row of a configuration change: kind 'rfm', the shop in customer_id. `at` is wall
 * clock, only for pruning old rows (as in changes_repo.c). */
static int announce(struct hk_db *db, int64_t shop_id, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc =
        hk_db_stmt(db, "rfm_config_announce",
                   "INSERT INTO changes (customer_id, kind, at) VALUES ($1, 'rfm', $2)", &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, shop_id) || hk_stmt_bind_int64(st, 2, (int64_t)time(NULL)))
        return hk_err_set(err, HK_E(INTERNAL), "rfm_config_announce: bind failed");
    rc = hk_stmt_exec(st, err);
    return rc < 0 ? rc : 0;
}

int hk_rfm_repo_put(struct hk_db *db, int64_t shop_id, const char *text, int64_t user_id,
                    int64_t now, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "rfm_config_put",
                        "INSERT INTO rfm_config (shop_id, config, updated_at, updated_by)"
                        " VALUES ($1, $2, $3, $4) ON CONFLICT (shop_id) DO UPDATE SET"
                        " config = excluded.config, updated_at = excluded.updated_at,"
                        " updated_by = excluded.updated_by",
                        &st, err);
    if (rc < 0)
        return rc;
    int b = hk_stmt_bind_int64(st, 1, shop_id) | hk_stmt_bind_text(st, 2, text, strlen(text)) |
            hk_stmt_bind_int64(st, 3, now);
    b |= user_id > 0 ? hk_stmt_bind_int64(st, 4, user_id) : hk_stmt_bind_null(st, 4);
    if (b)
        return hk_err_set(err, HK_E(INTERNAL), "rfm_config_put: bind failed");
    if ((rc = hk_stmt_exec(st, err)) < 0)
        return rc;
    return announce(db, shop_id, err);
}

int hk_rfm_repo_delete(struct hk_db *db, int64_t shop_id, bool *found, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "rfm_config_delete",
                        "DELETE FROM rfm_config WHERE shop_id = $1 RETURNING shop_id", &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, shop_id))
        return hk_err_set(err, HK_E(INTERNAL), "rfm_config_delete: bind failed");
    rc = hk_stmt_step(st, err);
    bool hit = rc == HK_ROW;
    hk_stmt_reset(st);
    if (rc < 0)
        return rc;
    *found = hit;
    return hit ? announce(db, shop_id, err) : 0;
}

int hk_rfm_repo_list(struct hk_db *db, hk_rfm_repo_cb cb, void *ctx, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "rfm_config_list",
                        "SELECT shop_id, config FROM rfm_config ORDER BY shop_id", &st, err);
    if (rc < 0)
        return rc;
    while ((rc = hk_stmt_step(st, err)) == HK_ROW) {
        size_t len = 0;
        const char *t = hk_stmt_text(st, 1, &len);
        char buf[4096];
        if (len + 1 > sizeof buf) {
            rc = hk_err_set(err, HK_E(TOOLARGE), "stored RFM configuration is too long");
            break;
        }
        memcpy(buf, t ? t : "", len);
        buf[len] = '\0';
        if ((rc = cb(ctx, hk_stmt_int64(st, 0), buf, err)) != 0)
            break;
    }
    hk_stmt_reset(st);
    return rc == HK_DONE ? 0 : rc;
}
