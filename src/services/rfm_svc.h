/*
 * rfm_svc.h — RFM configuration and reports for the API and the CLI. The configuration is kept
 * in the store (store/rfm_repo) as text; putting one announces it through the change log, so the
 * engines of every process switch to it (engine_svc.c) and rescore.
 *
 * Scope: per shop. Shop 0 is "all shops" (every buyer against every buyer); every shop is also
 * scored on its own, with its own configuration or, when it has none stored, shop 0's
 * ("inherited"). engine.h has the meanings.
 *
 * Threading: thread-safe (store connections are pooled; the engine is read under its lock).
 */
#ifndef HK_SERVICES_RFM_SVC_H
#define HK_SERVICES_RFM_SVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

struct hk_actor;
struct hk_app;
struct hk_db;
struct hk_err;

/**
 * The configuration shop_id (0 = all shops) scores with: its stored one, else shop 0's, else
 * the default. HK_E(NOTFOUND) for a shop the store does not have.
 */
int hk_rfm_svc_config_get(struct hk_app *app, int64_t shop_id, struct hk_rfm_config *out,
                          struct hk_err *err);
/** As hk_rfm_svc_config_get, and *inherited: the shop has none of its own (false for 0). */
int hk_rfm_svc_config_get_shop(struct hk_app *app, int64_t shop_id, struct hk_rfm_config *out,
                               bool *inherited, struct hk_err *err);
/**
 * Validates and stores cfg for shop_id (0 = all shops), audits it (rfm.config, target
 * "shop:<id>"; actor NULL = the system or the CLI) and applies it to the local engine at once,
 * rescoring just what it decides (other processes follow through the change log).
 * HK_E(INVAL) with the reason, HK_E(NOTFOUND) for an unknown shop.
 */
int hk_rfm_svc_config_put(struct hk_app *app, const struct hk_actor *actor, int64_t shop_id,
                          const struct hk_rfm_config *cfg, struct hk_err *err);
/**
 * Returns shop_id to shop 0's configuration (audited rfm.config_delete). HK_E(INVAL) for
 * shop 0, HK_E(NOTFOUND) for an unknown shop; a shop already inheriting is not an error.
 */
int hk_rfm_svc_config_delete(struct hk_app *app, const struct hk_actor *actor, int64_t shop_id,
                             struct hk_err *err);

/** The report of all shops as of the last rescore (app->engine must be running). */
int hk_rfm_svc_report(struct hk_app *app, struct hk_rfm_report *out, struct hk_err *err);
/** The report of shop_id (0 = all shops). HK_E(NOTFOUND) for an unknown shop. */
int hk_rfm_svc_report_shop(struct hk_app *app, int64_t shop_id, struct hk_rfm_report *out,
                           struct hk_err *err);

/**
 * Dry run of cfg for shop_id: the report the engine would give with cfg as of now, computed
 * under the read lock into temporary scores — nothing is stored and the live scores stay.
 * HK_E(INVAL) for an invalid cfg (the errors of hk_rfm_svc_config_put), HK_E(NOTFOUND).
 */
int hk_rfm_svc_preview(struct hk_app *app, int64_t shop_id, const struct hk_rfm_config *cfg,
                       struct hk_rfm_report *out, struct hk_err *err);

/* ---- the engine's side (services/engine_svc.c) -------------------------------------------- */

/**
 * Gives a new engine (not shared yet) every shop's channel and name and every stored
 * configuration (shops without one inherit shop 0's). Reads the store; call after the load and
 * before the first rescore.
 */
int hk_rfm_svc_engine_setup(struct hk_app *app, struct hk_engine *e, struct hk_err *err);

/**
 * Configuration changes announced in the change log ('rfm' rows, one shop each), read from the
 * store beforehand so that applying them holds the engine's write lock for the configure and
 * the rescore only.
 */
struct hk_rfm_changes;
/** Reads the configurations of shops[0..n) (0 = all shops); *out new (hk_rfm_changes_free). */
int hk_rfm_changes_read(struct hk_app *app, const int64_t *shops, size_t n,
                        struct hk_rfm_changes **out, struct hk_err *err);
/**
 * Applies them to e (write lock held) and rescores what they decide as of now: shop 0 (and the
 * shops inheriting it) and each changed shop. Shops new to the engine are registered first.
 */
int hk_rfm_changes_apply(struct hk_engine *e, const struct hk_rfm_changes *c, int64_t now,
                         struct hk_err *err);
void hk_rfm_changes_free(struct hk_rfm_changes *c);

/** Text form of a configuration (the stored format; also used by tests). */
int hk_rfm_config_to_text(const struct hk_rfm_config *c, char *buf, size_t size);
int hk_rfm_config_from_text(const char *text, struct hk_rfm_config *out, struct hk_err *err);

#endif
