/*
 * shops.c — shops and their time zones (shops.h).
 */
#include "services/shops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/jsontext.h"
#include "core/strbuf.h"
#include "core/tz.h"
#include "core/util.h"
#include "services/accounts.h"
#include "services/app.h"
#include "services/engine_svc.h"
#include "store/store.h"

struct collect {
    struct hk_shop_row *rows;
    size_t n, cap;
};

static int collect(void *ctx, const struct hk_shop_row *r, struct hk_err *err)
{
    struct collect *c = ctx;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        struct hk_shop_row *p = realloc(c->rows, nc * sizeof *p);
        if (!p)
            return hk_err_set(err, HK_E(NOMEM), "out of memory");
        c->rows = p;
        c->cap = nc;
    }
    c->rows[c->n++] = *r;
    return 0;
}

int hk_shops_list(struct hk_app *app, struct hk_shop_row **out, size_t *n, struct hk_err *err)
{
    struct hk_db *db;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc)
        return rc;
    struct collect c = {0};
    rc = hk_shops_repo_list(db, collect, &c, err);
    hk_db_release(db);
    if (rc) {
        free(c.rows);
        return rc;
    }
    *out = c.rows;
    *n = c.n;
    return 0;
}

int hk_shops_set_timezone(struct hk_app *app, const struct hk_actor *actor, int64_t id,
                          const char *timezone, struct hk_shop_row *out, struct hk_err *err)
{
    if (!timezone || !*timezone || strlen(timezone) >= HK_SHOP_ZONE_MAX)
        return hk_err_setf(err, HK_E(INVAL), "timezone",
                           "timezone: expected an IANA zone name such as Asia/Shanghai");
    struct hk_tz *tz = NULL;
    struct hk_err tzerr;
    if (hk_tz_load(timezone, &tz, &tzerr) != 0)
        return hk_err_setf(err, HK_E(INVAL), "timezone",
                           "timezone: '%s' is not a time zone this server knows (an IANA name "
                           "such as Asia/Shanghai)",
                           timezone);
    char name[HK_SHOP_ZONE_MAX];
    hk_strlcpy(name, hk_tz_name(tz), sizeof name); /* as the tz database spells it */
    hk_tz_free(tz);

    struct hk_db *db;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc)
        return rc;
    struct hk_shop_row before, after;
    memset(&after, 0, sizeof after);
    bool changed = false;
    if ((rc = hk_db_begin(db, HK_TX_WRITE, err)) != 0)
        goto out;
    if ((rc = hk_shops_repo_get(db, id, &before, err)) != 0)
        goto out;
    if (strcmp(before.timezone, name) != 0) {
        int64_t now = hk_clock_now(&app->clock);
        if ((rc = hk_shops_repo_set_timezone(db, id, name, now, err)) != 0)
            goto out;
        changed = true;
    }
    if ((rc = hk_db_commit(db, err)) != 0)
        goto out;
    after = before;
    hk_strlcpy(after.timezone, name, sizeof after.timezone);
out:
    if (rc)
        hk_db_rollback(db);
    hk_db_release(db);
    if (rc)
        return rc;
    if (changed) {
        if (app->engine)
            hk_engine_svc_nudge(app->engine);
        char target[64];
        snprintf(target, sizeof target, "shop:%lld", (long long)id);
        struct hk_strbuf sb;
        hk_strbuf_init(&sb, 0);
        int b = hk_strbuf_adds(&sb, "{\"field\":\"timezone\",\"from\":");
        b |= hk_json_text_string(&sb, before.timezone, strlen(before.timezone));
        b |= hk_strbuf_adds(&sb, ",\"to\":");
        b |= hk_json_text_string(&sb, name, strlen(name));
        b |= hk_strbuf_adds(&sb, "}");
        struct hk_err aerr;
        if (!b)
            hk_accounts_audit_record(app, actor, "shop.update", target, sb.buf, &aerr);
        hk_strbuf_release(&sb);
    }
    if (out)
        *out = after;
    return 0;
}
