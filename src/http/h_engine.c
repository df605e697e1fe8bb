/*
 * h_engine.c — the customer engine's routes: RFM configuration, report and preview (dry run of
 * a configuration), segment preview.
 * JSON in and out here; everything else is services/rfm_svc.h and services/segment_svc.h.
 *
 * Money leaves as yuan strings with two decimals ("1234.50"), never as floats.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/money.h"
#include "core/util.h"
#include "engine/engine.h"
#include "http/expr_json.h"
#include "http/handlers.h"
#include "services/app.h"
#include "services/rfm_svc.h"
#include "services/segment_svc.h"

static int nomem(struct hk_err *err)
{
    return hk_err_set(err, HK_E(NOMEM), "out of memory");
}

static json_t *yuan(int64_t fen)
{
    char buf[32];
    int64_t a = fen < 0 ? -fen : fen;
    snprintf(buf, sizeof buf, "%s%lld.%02lld", fen < 0 ? "-" : "", (long long)(a / 100),
             (long long)(a % 100));
    return json_string(buf);
}

static json_t *yuan_d(double fen)
{
    return yuan((int64_t)(fen >= 0 ? fen + 0.5 : fen - 0.5));
}

/* ---- RFM configuration -------------------------------------------------------------------- */

static json_t *cuts_json(const int64_t *v)
{
    return json_pack("[IIII]", (json_int_t)v[0], (json_int_t)v[1], (json_int_t)v[2],
                     (json_int_t)v[3]);
}

static json_t *config_json(const struct hk_rfm_config *c)
{
    int64_t r[4] = {c->r_cuts_days[0], c->r_cuts_days[1], c->r_cuts_days[2], c->r_cuts_days[3]};
    json_t *m = json_array();
    for (int i = 0; m && i < 4; i++)
        json_array_append_new(m, yuan(c->m_cuts_fen[i]));
    json_t *tiers = json_array();
    for (size_t i = 0; tiers && i < c->n_tiers; i++) {
        const struct hk_rfm_tier_rule *t = &c->tiers[i];
        json_array_append_new(tiers, json_pack("{s:s, s:[ii], s:[ii], s:[ii]}", "name", t->name,
                                               "r", t->r_min, t->r_max, "f", t->f_min, t->f_max,
                                               "m", t->m_min, t->m_max));
    }
    return json_pack("{s:s, s:{s:o, s:o, s:o}, s:s, s:{s:i, s:I, s:o}, s:o, s:s}", "mode",
                     c->score_mode == HK_RFM_QUINTILES ? "quintile" : "thresholds", "thresholds",
                     "r_days", cuts_json(r), "f", cuts_json(c->f_cuts), "m_yuan", m, "high_low",
                     c->high_mode == HK_RFM_HIGH_MEAN ? "mean" : "thresholds", "high", "r_days_max",
                     c->r_high_max_days, "f_min", (json_int_t)c->f_high_min, "m_yuan_min",
                     yuan(c->m_high_min_fen), "tiers", tiers, "other_tier", c->other_tier);
}

/* `?shop=ID` (absent: 0, all shops). */
static int shop_of_query(struct hk_req *req, int64_t *out, struct hk_err *err)
{
    const char *v = hk_req_query(req, "shop");
    *out = 0;
    if (!v || !*v)
        return 0;
    if (*v == '+' || *v == '-' || hk_parse_int64(v, strlen(v), out) != 0) {
        *out = 0;
        return hk_err_setf(err, HK_E(INVAL), "shop",
                           "shop: expected a shop id (0 = all shops), got \"%.40s\"", v);
    }
    return 0;
}

/* Replies 200 with shop_id's effective configuration. */
static int reply_config(struct hk_req *req, int64_t shop_id, struct hk_err *err)
{
    struct hk_rfm_config c;
    bool inherited = false;
    int rc = hk_rfm_svc_config_get_shop(hk_req_app(req), shop_id, &c, &inherited, err);
    if (rc)
        return rc;
    json_t *j = config_json(&c);
    if (!j)
        return nomem(err);
    json_object_set_new(j, "shop_id", json_integer((json_int_t)shop_id));
    json_object_set_new(j, "inherited", json_boolean(inherited));
    return hk_reply_json(req, 200, j);
}

int h_rfm_config_get(struct hk_req *req, struct hk_err *err)
{
    int64_t shop;
    int rc = shop_of_query(req, &shop, err);
    return rc ? rc : reply_config(req, shop, err);
}

int h_rfm_config_delete(struct hk_req *req, struct hk_err *err)
{
    int64_t shop;
    int rc = shop_of_query(req, &shop, err);
    if (!rc && !hk_req_query(req, "shop"))
        rc = hk_err_setf(err, HK_E(INVAL), "shop",
                         "shop: name the shop (?shop=ID) to return to "
                         "the all-shops configuration");
    struct hk_actor actor = hk_req_actor(req);
    if (!rc)
        rc = hk_rfm_svc_config_delete(hk_req_app(req), &actor, shop, err);
    return rc ? rc : reply_config(req, shop, err);
}

/* A money value given as "12.50", 12.5 or 12 (yuan). */
static int money_of(json_t *v, const char *what, int64_t *out, struct hk_err *err)
{
    if (json_is_string(v)) {
        const char *t = json_string_value(v);
        if (hk_money_parse(t, strlen(t), HK_MONEY_REQUIRED, out, err) == 0)
            return 0;
    } else if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v) * 100;
        return 0;
    } else if (json_is_real(v)) {
        double d = json_real_value(v) * 100.0;
        *out = (int64_t)(d >= 0 ? d + 0.5 : d - 0.5);
        return 0;
    }
    return hk_err_set(err, HK_E(INVAL), "%s: expected an amount in yuan", what);
}

static int ints4(json_t *a, const char *what, int64_t *out, bool money, struct hk_err *err)
{
    if (!a)
        return 0;
    if (!json_is_array(a) || json_array_size(a) != 4)
        return hk_err_set(err, HK_E(INVAL), "%s: expected 4 ascending values", what);
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_array_get(a, i);
        if (money) {
            int rc = money_of(v, what, &out[i], err);
            if (rc)
                return rc;
        } else if (!json_is_integer(v)) {
            return hk_err_set(err, HK_E(INVAL), "%s: expected whole numbers", what);
        } else {
            out[i] = (int64_t)json_integer_value(v);
        }
    }
    return 0;
}

static int range_of(json_t *t, const char *key, uint8_t *lo, uint8_t *hi, struct hk_err *err)
{
    json_t *a = json_object_get(t, key);
    if (!a) {
        *lo = 1;
        *hi = 5;
        return 0;
    }
    if (!json_is_array(a) || json_array_size(a) != 2 || !json_is_integer(json_array_get(a, 0)) ||
        !json_is_integer(json_array_get(a, 1)))
        return hk_err_set(err, HK_E(INVAL), "tiers.%s: expected [min, max] scores 1..5", key);
    json_int_t x = json_integer_value(json_array_get(a, 0)),
               y = json_integer_value(json_array_get(a, 1));
    if (x < 1 || x > 5 || y < 1 || y > 5 || x > y)
        return hk_err_set(err, HK_E(INVAL), "tiers.%s: expected [min, max] scores 1..5", key);
    *lo = (uint8_t)x;
    *hi = (uint8_t)y;
    return 0;
}

/*
 * The configuration a PUT (or preview) body describes: the stored one with the body's fields
 * replaced. Shape checks only; hk_rfm_config_validate judges the values.
 */
static int config_of_body(struct hk_req *req, int64_t *shop, bool shop_in_body,
                          struct hk_rfm_config *out, struct hk_err *err)
{
    json_t *body;
    int rc = hk_req_json(req, &body, err);
    if (rc)
        return rc;
    struct hk_rfm_config c;
    const char *mode = NULL, *hl = NULL, *other = NULL;
    json_t *th = NULL, *high = NULL, *tiers = NULL, *shop_v = NULL;
    json_error_t je;
    if (json_unpack_ex(body, &je, JSON_STRICT, "{s?s, s?o, s?s, s?o, s?o, s?s, s?o}", "mode", &mode,
                       "thresholds", &th, "high_low", &hl, "high", &high, "tiers", &tiers,
                       "other_tier", &other, "shop", &shop_v)) {
        rc = hk_err_set(err, HK_E(INVAL), "%s", je.text);
        goto out;
    }
    if (shop_v && (!shop_in_body || !json_is_integer(shop_v) || json_integer_value(shop_v) < 0)) {
        rc = hk_err_setf(err, HK_E(INVAL), "shop",
                         shop_in_body ? "shop: expected a shop id (0 = all shops)"
                                      : "shop: name the shop in the query (?shop=ID)");
        goto out;
    }
    if (shop_v)
        *shop = (int64_t)json_integer_value(shop_v);
    if ((rc = hk_rfm_svc_config_get(hk_req_app(req), *shop, &c, err)) != 0)
        goto out;
    if (mode) {
        if (strcmp(mode, "quintile") == 0)
            c.score_mode = HK_RFM_QUINTILES;
        else if (strcmp(mode, "thresholds") == 0)
            c.score_mode = HK_RFM_SCORE_THRESHOLDS;
        else {
            rc = hk_err_set(err, HK_E(INVAL), "mode: expected \"quintile\" or \"thresholds\"");
            goto out;
        }
    }
    if (hl) {
        if (strcmp(hl, "mean") == 0)
            c.high_mode = HK_RFM_HIGH_MEAN;
        else if (strcmp(hl, "thresholds") == 0)
            c.high_mode = HK_RFM_HIGH_THRESHOLDS;
        else {
            rc = hk_err_set(err, HK_E(INVAL), "high_low: expected \"mean\" or \"thresholds\"");
            goto out;
        }
    }
    if (th) {
        int64_t r[4] = {c.r_cuts_days[0], c.r_cuts_days[1], c.r_cuts_days[2], c.r_cuts_days[3]};
        if ((rc = ints4(json_object_get(th, "r_days"), "thresholds.r_days", r, false, err)) ||
            (rc = ints4(json_object_get(th, "f"), "thresholds.f", c.f_cuts, false, err)) ||
            (rc = ints4(json_object_get(th, "m_yuan"), "thresholds.m_yuan", c.m_cuts_fen, true,
                        err)))
            goto out;
        for (int i = 0; i < 4; i++)
            c.r_cuts_days[i] = (int32_t)r[i];
    }
    if (high) {
        json_t *v;
        if ((v = json_object_get(high, "r_days_max")) && json_is_integer(v))
            c.r_high_max_days = (int32_t)json_integer_value(v);
        if ((v = json_object_get(high, "f_min")) && json_is_integer(v))
            c.f_high_min = (int64_t)json_integer_value(v);
        if ((v = json_object_get(high, "m_yuan_min")) &&
            (rc = money_of(v, "high.m_yuan_min", &c.m_high_min_fen, err)))
            goto out;
    }
    if (tiers) {
        if (!json_is_array(tiers) || json_array_size(tiers) > HK_RFM_MAX_TIERS) {
            rc = hk_err_set(err, HK_E(INVAL), "tiers: expected at most %d rules", HK_RFM_MAX_TIERS);
            goto out;
        }
        c.n_tiers = 0;
        size_t i;
        json_t *t;
        json_array_foreach(tiers, i, t)
        {
            struct hk_rfm_tier_rule *r = &c.tiers[c.n_tiers];
            memset(r, 0, sizeof *r);
            json_t *name = json_object_get(t, "name");
            if (!json_is_string(name) || !json_string_length(name) ||
                json_string_length(name) >= sizeof r->name) {
                rc = hk_err_set(err, HK_E(INVAL), "tiers[%zu].name: expected a name", i);
                goto out;
            }
            snprintf(r->name, sizeof r->name, "%s", json_string_value(name));
            if ((rc = range_of(t, "r", &r->r_min, &r->r_max, err)) ||
                (rc = range_of(t, "f", &r->f_min, &r->f_max, err)) ||
                (rc = range_of(t, "m", &r->m_min, &r->m_max, err)))
                goto out;
            c.n_tiers++;
        }
    }
    if (other)
        snprintf(c.other_tier, sizeof c.other_tier, "%s", other);
    *out = c;
out:
    return rc; /* body belongs to the request */
}

int h_rfm_config_put(struct hk_req *req, struct hk_err *err)
{
    struct hk_rfm_config c;
    int64_t shop;
    int rc = shop_of_query(req, &shop, err);
    if (!rc)
        rc = config_of_body(req, &shop, false, &c, err);
    struct hk_actor actor = hk_req_actor(req);
    if (!rc)
        rc = hk_rfm_svc_config_put(hk_req_app(req), &actor, shop, &c, err);
    return rc ? rc : reply_config(req, shop, err);
}

/* ---- RFM report --------------------------------------------------------------------------- */

static json_t *group_json(const struct hk_rfm_group *g)
{
    return json_pack("{s:s, s:I, s:f, s:o, s:f, s:I, s:o}", "name", g->name, "customers",
                     (json_int_t)g->customers, "share", g->share, "spend", yuan(g->spend_fen),
                     "spend_share", g->spend_share, "orders", (json_int_t)g->orders, "aov",
                     yuan_d(g->aov_fen));
}

/* Replies 200 with the report (GET /rfm/report and POST /rfm/preview share the shape). */
static int reply_report(struct hk_req *req, int64_t shop, const struct hk_rfm_report *r,
                        struct hk_err *err)
{
    json_t *grid = json_array(), *segs = json_array(), *tiers = json_array();
    for (int i = 0; grid && i < 5; i++) {
        json_t *row = json_array();
        for (int j = 0; row && j < 5; j++)
            json_array_append_new(row, json_integer((json_int_t)r->grid[i][j]));
        json_array_append_new(grid, row);
    }
    for (int i = 0; segs && i < HK_RFM_SEGMENTS; i++)
        json_array_append_new(segs, group_json(&r->segments[i]));
    for (size_t i = 0; tiers && i < r->n_tiers; i++)
        json_array_append_new(tiers, group_json(&r->tiers[i]));
    json_t *j = json_pack("{s:I, s:I, s:o, s:{s:f, s:f, s:o}, s:o, s:o, s:o}", "customers",
                          (json_int_t)r->customers, "buyers", (json_int_t)r->buyers, "spend",
                          yuan(r->spend_fen), "means", "recency_days", r->mean_recency_days,
                          "frequency", r->mean_frequency, "monetary", yuan_d(r->mean_monetary_fen),
                          "grid", grid, "segments", segs, "tiers", tiers);
    if (!j)
        return nomem(err);
    json_object_set_new(j, "shop_id", json_integer((json_int_t)shop));
    return hk_reply_json(req, 200, j);
}

int h_rfm_report(struct hk_req *req, struct hk_err *err)
{
    int64_t shop;
    int rc = shop_of_query(req, &shop, err);
    if (rc)
        return rc;
    struct hk_rfm_report *r = malloc(sizeof(*r));
    if (!r)
        return nomem(err);
    rc = hk_rfm_svc_report_shop(hk_req_app(req), shop, r, err);
    if (!rc)
        rc = reply_report(req, shop, r, err);
    free(r);
    return rc;
}

/* Dry run of a PUT /rfm/config body: the report as it would be, nothing saved. */
int h_rfm_preview(struct hk_req *req, struct hk_err *err)
{
    struct hk_rfm_config c;
    int64_t shop;
    int rc = shop_of_query(req, &shop, err);
    if (!rc)
        rc = config_of_body(req, &shop, true, &c, err);
    if (rc)
        return rc;
    struct hk_rfm_report *r = malloc(sizeof(*r));
    if (!r)
        return nomem(err);
    rc = hk_rfm_svc_preview(hk_req_app(req), shop, &c, r, err);
    if (!rc)
        rc = reply_report(req, shop, r, err);
    free(r);
    return rc;
}

/* ---- segment preview ---------------------------------------------------------------------- */

static json_t *member_json(const struct hk_segment_member *m)
{
    json_t *j = json_pack("{s:I, s:s, s:s, s:I, s:o}", "id", (json_int_t)m->id, "nick", m->nick,
                          "phone", m->phone_masked, "frequency", (json_int_t)m->frequency,
                          "monetary", yuan(m->monetary_fen));
    if (!j)
        return NULL;
    json_object_set_new(j, "recency_days",
                        m->has_recency ? json_integer(m->recency_days) : json_null());
    json_object_set_new(j, "rfm_segment",
                        m->rfm_segment[0] ? json_string(m->rfm_segment) : json_null());
    json_object_set_new(j, "rfm_tier", m->rfm_tier[0] ? json_string(m->rfm_tier) : json_null());
    return j;
}

int h_segments_preview(struct hk_req *req, struct hk_err *err)
{
    json_t *body;
    int rc = hk_req_json(req, &body, err);
    if (rc)
        return rc;
    const char *expr = NULL, *errors = NULL;
    int limit = 20;
    json_error_t je;
    if (json_unpack_ex(body, &je, 0, "{s:s, s?i, s?s}", "expression", &expr, "limit", &limit,
                       "errors", &errors))
        return hk_err_set(err, HK_E(INVAL), "%s", je.text);
    bool inline_ = errors && strcmp(errors, "inline") == 0;
    if (errors && !inline_ && strcmp(errors, "status") != 0)
        return hk_err_setf(err, HK_E(INVAL), "errors", "errors: expected \"status\" or \"inline\"");
    struct hk_segment_preview *p = malloc(sizeof(*p));
    if (!p)
        return nomem(err);
    struct hk_segment_error where;
    rc = hk_segment_svc_preview(hk_req_app(req), expr, limit > 0 ? (size_t)limit : 1, p, &where,
                                err);
    if (rc) {
        free(p);
        return rc == HK_E(INVAL) ? hk_http_expr_error(req, &where, inline_, err) : rc;
    }
    json_t *members = json_array();
    for (size_t i = 0; members && i < p->n; i++)
        json_array_append_new(members, member_json(&p->members[i]));
    json_t *j = json_pack("{s:I, s:o, s:I}", "count", (json_int_t)p->count, "members", members,
                          "took_us", (json_int_t)p->eval_us);
    free(p);
    return j ? hk_reply_json(req, 200, j) : nomem(err);
}
