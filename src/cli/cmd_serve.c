/*
 * cmd_serve.c — `huike serve [--port N] [--listen ADDR]`: run the HTTP server until SIGTERM or
 * SIGINT.
 *
 * main has already consumed --port/--listen (they are configuration options) and opened the
 * app with the store migrated. On the first start of an empty database the administrator
 * "admin" is created, with the password from HUIKE_ADMIN_PASSWORD or a random one printed once.
 *
 * Output contract (tests and scripts parse it): exactly one line
 *   huike: listening on http://ADDR:PORT
 * on stdout, flushed, once the server accepts connections, followed by a sign-in hint.
 *
 * Signals: SIGTERM and SIGINT are blocked before the server's threads exist, so every thread
 * inherits the mask and only this thread receives them, synchronously, with sigwait. SIGPIPE is
 * blocked too (a peer closing early must not kill the process; writes see EPIPE instead). The
 * mask is kept until exit, so a repeated signal during the graceful stop is harmless.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/log.h"
#include "http/server.h"
#include "services/accounts.h"
#include "services/app.h"
#include "services/engine_svc.h"
#include "services/segments.h"
#include "services/tags.h"

static int bootstrap_admin(struct hk_app *app)
{
    struct hk_err err;
    hk_err_clear(&err);
    const char *env_pw = getenv("HUIKE_ADMIN_PASSWORD");
    char pw[128] = "";
    int rc = hk_accounts_bootstrap_admin(app, env_pw, pw, sizeof pw, &err);
    if (rc < 0) {
        fprintf(stderr, "huike: cannot create the first administrator: %s\n", hk_err_message(&err));
        return rc;
    }
    if (rc == 1) {
        if (env_pw && *env_pw)
            printf("huike: created the administrator account: login \"admin\", password from "
                   "HUIKE_ADMIN_PASSWORD\n");
        else
            printf("huike: created the administrator account: login \"admin\", password \"%s\"\n"
                   "huike: this password is shown only once; change it after signing in\n",
                   pw);
        fflush(stdout);
    }
    memset(pw, 0, sizeof pw);
    return 0;
}

/* "http://127.0.0.1:8080" or "http://[::1]:8080". */
static void server_url(const char *listen, int port, char *out, size_t size)
{
    if (strchr(listen, ':'))
        snprintf(out, size, "http://[%s]:%d", listen, port);
    else
        snprintf(out, size, "http://%s:%d", listen, port);
}

int cmd_serve(struct hk_app *app, int argc, char **argv)
{
    struct hk_err err;
    hk_err_clear(&err);
    struct hk_server *server = NULL;
    sigset_t stop_set, old_set;
    int sig = 0;

    if (argc > 1) {
        fprintf(stderr,
                "huike serve: unexpected argument '%s'\nusage: huike serve [--port N] "
                "[--listen ADDR]\n",
                argv[1]);
        return HK_EXIT_USAGE;
    }
    if (!app->store)
        return HK_CLI_ARGS_OK; /* arguments checked (cli.h) */
    if (bootstrap_admin(app) != 0)
        return HK_EXIT_FAIL;

    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGPIPE);
    if (pthread_sigmask(SIG_BLOCK, &stop_set, &old_set) != 0) {
        fprintf(stderr, "huike: cannot block signals\n");
        return HK_EXIT_FAIL;
    }
    sigdelset(&stop_set, SIGPIPE); /* wait for these two only */

    /* The customer engine: loaded before the first request, following the change log. */
    if (hk_engine_svc_start(app, NULL, &app->engine, &err) != 0) {
        fprintf(stderr, "huike: cannot load the customer engine: %s\n", hk_err_message(&err));
        pthread_sigmask(SIG_SETMASK, &old_set, NULL);
        return HK_EXIT_FAIL;
    }
    struct hk_engine_svc_stats es;
    hk_engine_svc_stats(app->engine, &es);
    char ms[24], mib[24], live[24];
    snprintf(ms, sizeof ms, "%lld", (long long)es.load_ms);
    snprintf(mib, sizeof mib, "%.1f", (double)es.bytes / (1024.0 * 1024.0));
    snprintf(live, sizeof live, "%zu", es.live);
    hk_log_kv(&app->log, HK_LOG_INFO, "engine.loaded", NULL, "ms", ms, "mib", mib, "customers",
              live, NULL);
    /* Tags: presets made once; new main categories get theirs as they appear. */
    struct hk_tags_watch *tags_watch = NULL;
    if (hk_tags_presets_ensure(app, NULL, &err) != 0 ||
        hk_tags_watch_start(app, &tags_watch, &err) != 0)
        hk_log_kv(&app->log, HK_LOG_WARN, "tags.presets_failed", NULL, "error",
                  hk_err_message(&err), NULL);
    /* Saved segments' counts, recounted after the engine applies changes. */
    struct hk_segments_counter *counter = NULL;
    if (hk_segments_counter_start(app, &counter, &err) != 0)
        hk_log_kv(&app->log, HK_LOG_WARN, "segments.counter_failed", NULL, "error",
                  hk_err_message(&err), NULL);

    if (hk_server_start(app, &server, &err) != 0) {
        fprintf(stderr, "huike: %s\n", hk_err_message(&err));
        hk_segments_counter_stop(counter);
        hk_tags_watch_stop(tags_watch);
        hk_engine_svc_stop(app->engine);
        hk_segments_counter_free(counter);
        hk_tags_watch_free(tags_watch);
        app->engine = NULL;
        pthread_sigmask(SIG_SETMASK, &old_set, NULL);
        return HK_EXIT_FAIL;
    }
    char url[HK_CONFIG_STR_MAX + 32];
    server_url(app->cfg.listen, hk_server_port(server), url, sizeof url);
    printf("huike: listening on %s\n", url);
    printf("huike: open %s/ in a browser and sign in; stop with Ctrl-C\n", url);
    fflush(stdout);
    char port[16];
    snprintf(port, sizeof port, "%d", hk_server_port(server));
    hk_log_kv(&app->log, HK_LOG_INFO, "server.started", NULL, "listen", app->cfg.listen, "port",
              port, NULL);

    while (sigwait(&stop_set, &sig) != 0)
        ;
    hk_log_kv(&app->log, HK_LOG_INFO, "server.stopping", NULL, "signal",
              sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
    hk_server_stop(server);
    hk_segments_counter_stop(counter);
    hk_tags_watch_stop(tags_watch);
    hk_engine_svc_stop(app->engine);
    hk_segments_counter_free(counter);
    hk_tags_watch_free(tags_watch);
    app->engine = NULL;
    /* The mask stays: a second SIGTERM sent while stopping must not kill us on the way out. */
    return HK_EXIT_OK;
}
