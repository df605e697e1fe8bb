/*
 * shops_repo.c — the SQL behind shops_repo.h.
 */
#include "store/shops_repo.h"

#include <string.h>

#include "core/err.h"
#include "store/repo_util.h"
#include "store/store.h"

#define SHOP_COLS "SELECT id, channel, name, timezone, created_at FROM shops"

static void read_row(struct hk_stmt *st, struct hk_shop_row *r)
{
    memset(r, 0, sizeof *r);
    r->id = hk_stmt_int64(st, 0);
    hk_stmt_text_copy(st, 1, r->channel, sizeof r->channel);
    hk_stmt_text_copy(st, 2, r->name, sizeof r->name);
    hk_stmt_text_copy(st, 3, r->timezone, sizeof r->timezone);
    r->created_at = hk_stmt_int64(st, 4);
}

int hk_shops_repo_list(struct hk_db *db, hk_shop_cb cb, void *ctx, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "shops_list", SHOP_COLS " ORDER BY id", &st, err);
    if (rc < 0)
        return rc;
    struct hk_shop_row r;
    while ((rc = hk_stmt_step(st, err)) == HK_ROW) {
        read_row(st, &r);
        if ((rc = cb(ctx, &r, err)) != 0)
            break;
    }
    hk_stmt_reset(st);
    return rc < 0 ? rc : 0;
}

int hk_shops_repo_get(struct hk_db *db, int64_t id, struct hk_shop_row *out, struct hk_err *err)
{
    static const char name[] = "shops_get";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name, SHOP_COLS " WHERE id = $1", &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, id))
        return hk_stmt_bind_failed(st, name, err);
    if ((rc = hk_stmt_one_row(st, "shop", err)) != HK_ROW)
        return rc;
    read_row(st, out);
    hk_stmt_reset(st);
    return 0;
}

int hk_shops_repo_set_timezone(struct hk_db *db, int64_t id, const char *timezone, int64_t now,
                               struct hk_err *err)
{
    static const char name[] = "shops_set_timezone";
    struct hk_stmt *st;
    int rc =
        hk_db_stmt(db, name, "UPDATE shops SET timezone = $2 WHERE id = $1 RETURNING id", &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, id) || hk_stmt_bind_text(st, 2, timezone, (size_t)-1))
        return hk_stmt_bind_failed(st, name, err);
    bool changed = false;
    if ((rc = hk_stmt_exec_returning(st, &changed, err)) != 0)
        return rc;
    if (!changed)
        return hk_err_set(err, HK_E(NOTFOUND), "shop not found");
    /* Every order and event of the shop may fall on another local day now: the engines reload
       everything (engine_svc.c treats an 'all' row as a full reload). */
    static const char log_name[] = "shops_log_all";
    if ((rc = hk_db_stmt(db, log_name,
                         "INSERT INTO changes (customer_id, kind, at) VALUES (0, 'all', $1)", &st,
                         err)) < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, now))
        return hk_stmt_bind_failed(st, log_name, err);
    return hk_stmt_exec(st, err);
}
