/*
 * app.h — the context passed explicitly to everything above the store: configuration, store,
 * clock, logger and default shop time zone. There are no mutable globals in huike; what would
 * be one lives here. One hk_app per process, created by the CLI (src/cli/app.c).
 *
 * Threads: every field is safe to share (the store pools connections, the clock is atomic, the
 * logger writes whole lines, cfg and tz are read-only after start).
 */
#ifndef HK_SERVICES_APP_H
#define HK_SERVICES_APP_H

#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "core/pii.h"

struct hk_store;
struct hk_tz;
struct hk_import_worker;
struct hk_engine_svc;

struct hk_app {
    struct hk_config cfg;
    struct hk_clock clock;
    struct hk_log log;
    struct hk_store *store; /* owned */
    struct hk_tz *tz;       /* owned; the default shop time zone (cfg.timezone) */
    struct hk_keyring keys; /* PII encryption keys (cfg.key_file or HUIKE_KEY) */
    /* the import job runner while the HTTP server runs (set by server.c before the first
       request and cleared after the last), so an upload can wake it; NULL otherwise */
    struct hk_import_worker *imports;
    /* the customer engine and its lock and sync (services/engine_svc.h): started by `huike
       serve` before the server and stopped after it, or by a CLI command for its run; NULL
       when not loaded. Reach the engine only through engine_svc.h (hk_engine_svc_read). */
    struct hk_engine_svc *engine;
};

#endif
