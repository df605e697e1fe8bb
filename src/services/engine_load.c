/*
 * engine_load.c — store -> engine glue for the cold start (see engine_load.h). Each callback of
 * the repository's sink is one engine call; strings are interned by the engine, so nothing here
 * outlives a callback.
 */
#include "services/engine_load.h"

#include "core/err.h"
#include "engine/engine.h"
#include "store/engine_repo.h"
#include "core/tz.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

static int on_shop(void *ctx, int64_t id, const char *timezone, struct hk_err *err)
{
    return hk_engine_add_shop(ctx, id, timezone, err);
}

static int on_shop_name(void *ctx, int64_t id, const char *channel, const char *name,
                        struct hk_err *err)
{
    return hk_engine_shop_describe(ctx, id, channel, name, err);
}

static int on_product(void *ctx, int64_t id, const char *external_id, const char *category,
                      struct hk_err *err)
{
    return hk_engine_add_product(ctx, id, external_id, category, err);
}

static int on_customer(void *ctx, int64_t id, const char *province, const char *city,
                       int64_t merged_into, struct hk_err *err)
{
    struct hk_engine_customer c = {id, province, city, merged_into};
    return hk_engine_upsert_customer(ctx, &c, err);
}

static int on_channel(void *ctx, int64_t customer_id, const char *channel, struct hk_err *err)
{
    if (strcmp(channel, "any") == 0 || strcmp(channel, "*") == 0)
        return 0; /* phone / e-mail identities: not a sales channel */
    return hk_engine_add_channel(ctx, customer_id, channel, err);
}

static int on_tag(void *ctx, const char *name, struct hk_err *err)
{
    return hk_engine_tag_define(ctx, name, err);
}

static int on_customer_tag(void *ctx, int64_t customer_id, const char *tag, struct hk_err *err)
{
    return hk_engine_tag_set(ctx, customer_id, tag, true, err);
}

static int on_order(void *ctx, const struct hk_engine_repo_order *o, struct hk_err *err)
{
    enum hk_order_status st;
    if (hk_engine_status_parse(o->status, &st))
        return hk_err_set(err, HK_E(INVAL), "order %lld has an unknown status '%s'",
                          (long long)o->id, o->status);
    struct hk_engine_line stack[16];
    struct hk_engine_line *lines = o->n_lines <= 16 ? stack : malloc(o->n_lines * sizeof(*lines));
    if (!lines)
        return hk_err_set(err, HK_E(NOMEM), "out of memory loading order %lld", (long long)o->id);
    for (size_t i = 0; i < o->n_lines; i++) {
        lines[i].product_id = o->lines[i].product_id;
        lines[i].amount_fen = o->lines[i].amount_fen;
    }
    struct hk_engine_order eo = {o->id,          o->customer_id, o->shop_id,  st,
                                 o->has_paid_at, o->paid_at,     o->paid_fen, o->refund_fen,
                                 o->coupon,      lines,          o->n_lines};
    int rc = hk_engine_apply_order(ctx, &eo, err);
    if (lines != stack)
        free(lines);
    return rc;
}

static int on_event(void *ctx, int64_t customer_id, int64_t shop_id, const char *type, int64_t at,
                    struct hk_err *err)
{
    return hk_engine_add_event(ctx, customer_id, shop_id, type, at, err);
}

int hk_engine_load_from_store(struct hk_store *store, const struct hk_engine_opts *opts,
                              int64_t now, struct hk_engine **out, struct hk_err *err)
{
    struct hk_engine *e;
    int rc = hk_engine_new(opts, &e, err);
    if (rc)
        return rc;
    struct hk_db *db;
    rc = hk_db_acquire(store, &db, err);
    if (rc) {
        hk_engine_free(e);
        return rc;
    }
    struct hk_engine_repo_sink sink = {e,          on_shop,     on_product,      on_customer,
                                       on_channel, on_tag,      on_customer_tag, on_order,
                                       on_event,   on_shop_name};
    rc = hk_engine_repo_load(db, store, &sink, err); /* orders on a second connection */
    hk_db_release(db);
    if (!rc)
        rc = hk_engine_load_finish(e, err);
    if (!rc)
        rc = hk_engine_rescore(e, now, err);
    if (rc) {
        hk_engine_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

struct shop_check {
    struct hk_engine *e;
    bool moved;
};

static int on_shop_check(void *ctx, int64_t id, const char *timezone, struct hk_err *err)
{
    struct shop_check *c = ctx;
    const char *want = timezone && *timezone ? timezone : HK_TZ_DEFAULT;
    size_t n = hk_engine_shop_count(c->e);
    for (size_t i = 0; i < n; i++) {
        struct hk_engine_shop sh;
        hk_engine_shop_at(c->e, i, &sh);
        if (sh.id == id && strcmp(sh.timezone, want) != 0)
            c->moved = true;
    }
    return on_shop(c->e, id, timezone, err);
}

int hk_engine_load_shops(struct hk_db *db, struct hk_engine *e, bool *moved, struct hk_err *err)
{
    struct shop_check c = {e, false};
    struct hk_engine_repo_sink sink = {.ctx = &c, .shop = on_shop_check};
    int rc = hk_engine_repo_load_shops(db, &sink, err);
    *moved = c.moved;
    return rc;
}
