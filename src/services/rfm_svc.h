/*
 * rfm_svc.h — RFM configuration and reports for the API and the CLI. The configuration is kept
 * in the store (store/rfm_repo) as text; putting one announces it through the change log, so the
 * engines of every process switch to it (engine_svc.c) and rescore.
 *
 * Scope: one configuration, the global one (shop_id 0); per-shop configurations are stored by
 * shop id but the engine scores all buyers together with the global one for now.
 *
 * Threading: thread-safe (store connections are pooled; the engine is read under its lock).
 */
#ifndef HK_SERVICES_RFM_SVC_H
#define HK_SERVICES_RFM_SVC_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

struct hk_app;
struct hk_err;

/** The stored configuration of shop_id (0 = global), or the default when none is stored. */
int hk_rfm_svc_config_get(struct hk_app *app, int64_t shop_id, struct hk_rfm_config *out,
                          struct hk_err *err);
/**
 * Validates and stores cfg for shop_id (0 = global) and applies it to the local engine at once
 * (other processes follow through the change log). HK_E(INVAL) with the reason.
 */
int hk_rfm_svc_config_put(struct hk_app *app, int64_t shop_id, const struct hk_rfm_config *cfg,
                          int64_t user_id, struct hk_err *err);

/** The report as of the last rescore (app->engine must be running). */
int hk_rfm_svc_report(struct hk_app *app, struct hk_rfm_report *out, struct hk_err *err);

/**
 * Dry run of cfg: the report the engine would give with cfg as of now, computed under the read
 * lock into temporary scores — nothing is stored and the live scores stay. HK_E(INVAL) for an
 * invalid cfg (the errors of hk_rfm_svc_config_put).
 */
int hk_rfm_svc_preview(struct hk_app *app, const struct hk_rfm_config *cfg,
                       struct hk_rfm_report *out, struct hk_err *err);

/** Text form of a configuration (the stored format; also used by tests). */
int hk_rfm_config_to_text(const struct hk_rfm_config *c, char *buf, size_t size);
int hk_rfm_config_from_text(const char *text, struct hk_rfm_config *out, struct hk_err *err);

#endif
