/*
 * engine_load.h — builds the customer engine from the store (cold start): reads every input row
 * through store/engine_repo and feeds it to engine/engine. The one place that knows both sides.
 *
 * Threading: uses one pooled connection for the duration of the load; the engine it returns is
 * new and unshared.
 */
#ifndef HK_SERVICES_ENGINE_LOAD_H
#define HK_SERVICES_ENGINE_LOAD_H

#include <stdbool.h>
#include <stdint.h>

struct hk_engine;
struct hk_engine_opts;
struct hk_err;
struct hk_store;

/**
 * Loads a new engine (caller frees with hk_engine_free) from the store, computes aggregates and
 * scores RFM as of now. opts may be NULL. Identities on channel "any" (phone, e-mail) are not
 * sales channels and are left out of the channel column.
 */
int hk_engine_load_from_store(struct hk_store *store, const struct hk_engine_opts *opts,
                              int64_t now, struct hk_engine **out, struct hk_err *err);

struct hk_db;
/**
 * Registers the store's shops in e as the full load does (the snapshot start, engine_svc.c:
 * shops made since the snapshot). *moved: a shop e knew is in another time zone now (its
 * history's day numbers are stale: the caller must load from the store instead).
 */
int hk_engine_load_shops(struct hk_db *db, struct hk_engine *e, bool *moved, struct hk_err *err);

#endif
