/*
 * h_dashboard.c — the console's 工作台 numbers (services/dashboard.h has the definitions).
 *
 *   GET /api/v1/dashboard/summary
 *       -> {customers, buyers, repeat_buyers, repurchase_rate, new_buyers_this_month,
 *           month_start, today, tiers: [{name, customers, share, spend_share}]}
 *   GET /api/v1/dashboard/sales?from=YYYY-MM-DD&to=YYYY-MM-DD&granularity=day|week|month
 *       -> {from, to, granularity, buckets: ["YYYY-MM-DD", ...],
 *           channels: ["taobao", ...], series: [{channel, net_fen: [...], total_fen, orders}],
 *           total_fen, orders}
 *
 * Money is integer fen here (a chart's values), never floats.
 */
#include <string.h>

#include "core/err.h"
#include "http/handlers.h"
#include "services/dashboard.h"

static int nomem(struct hk_err *err)
{
    return hk_err_set(err, HK_E(NOMEM), "out of memory");
}

int h_dashboard_summary(struct hk_req *req, struct hk_err *err)
{
    struct hk_dashboard_summary s;
    int rc = hk_dashboard_summary(hk_req_app(req), &s, err);
    if (rc)
        return rc;
    json_t *tiers = json_array();
    for (size_t i = 0; tiers && i < s.report.n_tiers; i++) {
        const struct hk_rfm_group *g = &s.report.tiers[i];
        json_t *t =
            json_pack("{s:s, s:I, s:f, s:f}", "name", g->name, "customers",
                      (json_int_t)g->customers, "share", g->share, "spend_share", g->spend_share);
        if (!t || json_array_append_new(tiers, t)) {
            json_decref(tiers);
            return nomem(err);
        }
    }
    if (!tiers)
        return nomem(err);
    json_t *j = json_pack("{s:I, s:I, s:I, s:f, s:I, s:s, s:s, s:o}", "customers",
                          (json_int_t)s.customers, "buyers", (json_int_t)s.buyers, "repeat_buyers",
                          (json_int_t)s.repeat_buyers, "repurchase_rate", s.repurchase_rate,
                          "new_buyers_this_month", (json_int_t)s.new_buyers_this_month,
                          "month_start", s.month_start, "today", s.today, "tiers", tiers);
    return j ? hk_reply_json(req, 200, j) : nomem(err);
}

static const char *const gran_names[] = {"day", "week", "month"};

int h_dashboard_sales(struct hk_req *req, struct hk_err *err)
{
    struct hk_sales_chart c;
    int rc = hk_dashboard_sales(hk_req_app(req), hk_req_query(req, "from"), hk_req_query(req, "to"),
                                hk_req_query(req, "granularity"), &c, err);
    if (rc)
        return rc;
    json_t *buckets = json_array(), *channels = json_array(), *series = json_array();
    int bad = !buckets || !channels || !series;
    for (size_t i = 0; !bad && i < c.n_buckets; i++)
        bad = json_array_append_new(buckets, json_string(c.buckets[i])) != 0;
    for (size_t i = 0; !bad && i < c.n_series; i++) {
        const struct hk_sales_series *se = &c.series[i];
        json_t *vals = json_array();
        for (size_t b = 0; vals && b < c.n_buckets; b++)
            if (json_array_append_new(vals, json_integer((json_int_t)se->net_fen[b]))) {
                json_decref(vals);
                vals = NULL;
            }
        json_t *o = vals ? json_pack("{s:s, s:o, s:I, s:I}", "channel", se->channel, "net_fen",
                                     vals, "total_fen", (json_int_t)se->total_fen, "orders",
                                     (json_int_t)se->orders)
                         : NULL;
        bad = !o || json_array_append_new(series, o) != 0 ||
              json_array_append_new(channels, json_string(se->channel)) != 0;
    }
    json_t *j = NULL;
    if (!bad) {
        j = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:I, s:I}", "from", c.from, "to", c.to,
                      "granularity", gran_names[c.granularity], "buckets", buckets, "channels",
                      channels, "series", series, "total_fen", (json_int_t)c.total_fen, "orders",
                      (json_int_t)c.orders);
        buckets = channels = series = NULL; /* taken by json_pack, even on failure */
    }
    json_decref(buckets);
    json_decref(channels);
    json_decref(series);
    hk_sales_chart_release(&c);
    return j ? hk_reply_json(req, 200, j) : nomem(err);
}
