/*
 * cmd_migrate.c — `huike migrate`: brings the database schema up to the newest version compiled
 * into this binary. Safe to run any number of times and from several processes at once.
 */
#include <stdio.h>

#include "cli/cli.h"
#include "core/err.h"
#include "services/app.h"
#include "store/store.h"

int cmd_migrate(struct hk_app *app, int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "usage: huike migrate\n");
        return HK_EXIT_USAGE;
    }
    if (!app->store)
        return HK_CLI_ARGS_OK; /* arguments checked (cli.h) */
    struct hk_err err;
    hk_err_clear(&err);
    int from = 0, to = 0;
    if (hk_store_migrate(app->store, hk_clock_now(&app->clock), &from, &to, &err) != 0) {
        fprintf(stderr, "huike: migrate: %s\n", hk_err_message(&err));
        return HK_EXIT_FAIL;
    }
    if (from == to)
        printf("schema is up to date (version %d, %s)\n", to, hk_store_backend_name(app->store));
    else
        printf("migrated schema from version %d to %d (%s)\n", from, to,
               hk_store_backend_name(app->store));
    return HK_EXIT_OK;
}
