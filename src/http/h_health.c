/*
 * h_health.c — GET /api/v1/health: is this process up and can it reach its store?
 *
 * For load balancers and monitoring, so it is public and cheap: one ping and one schema-version
 * read on a pooled connection. 200 with status "ok" when the store answers; 503 with status
 * "unavailable" when it does not (the reason goes to the log, not to the anonymous caller).
 *
 *   {"status": "ok",
 *    "store": {"backend": "sqlite", "reachable": true, "schema_version": 3, "latest_version": 3},
 *    "version": "0.1.0", "revision": "abc1234", "time": "2026-03-01T00:00:00Z"}
 *
 * Threads: any worker thread; the store is shared safely.
 */
#include "core/err.h"
#include "core/log.h"
#include "core/tz.h"
#include "http/handlers.h"
#include "services/app.h"
#include "store/store.h"

int h_health(struct hk_req *req, struct hk_err *err)
{
    struct hk_app *app = hk_req_app(req);
    struct hk_err serr;
    hk_err_clear(&serr);
    int version = 0;
    bool reachable = hk_store_ping(app->store, &serr) == 0 &&
                     hk_store_schema_version(app->store, &version, &serr) == 0;
    if (!reachable)
        hk_log_kv(&app->log, HK_LOG_WARN, "health.store_unreachable", hk_req_id(req), "reason",
                  hk_err_message(&serr), NULL);

    char now[40];
    hk_time_format_utc(hk_clock_now(&app->clock), now, sizeof now);
    json_t *store =
        json_pack("{s:s, s:b, s:o, s:i}", "backend", hk_store_backend_name(app->store), "reachable",
                  reachable, "schema_version", reachable ? json_integer(version) : json_null(),
                  "latest_version", hk_store_latest_version());
    json_t *body =
        json_pack("{s:s, s:o, s:s, s:s, s:s}", "status", reachable ? "ok" : "unavailable", "store",
                  store, "version", HK_VERSION, "revision", HK_GIT_REV, "time", now);
    if (!body)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    return hk_reply_json(req, reachable ? 200 : 503, body);
}
