/*
 * rfm_repo.c — the SQL behind rfm_repo.h. A put runs inside the caller's write transaction and
 * announces the change in the change log, so every process re-reads the configuration.
 */
#include "store/rfm_repo.h"

#include <string.h>

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
    hk_changes_announce(db, HK_CHANGE_RFM);
    return 0;
}
