/*
 * app.c — opening and closing the application context (struct hk_app) for a CLI command.
 *
 * The order matters and is the same for every command: libsodium, logger, time zone, clock
 * (--now is parsed in the default shop zone when it carries no offset), then the store, whose
 * schema is migrated before any command touches it. Everything opened here is released by
 * hk_cli_app_close, also after a partial open.
 */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/pii.h"
#include "core/tz.h"
#include "core/util.h"
#include "services/accounts.h"
#include "services/app.h"
#include "store/store.h"

static bool is_postgres_url(const char *url)
{
    return strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0;
}

/* Creates the directories leading to an SQLite file path (mkdir -p of its dirname). */
static int make_parent_dirs(const char *path, struct hk_err *err)
{
    char dir[HK_CONFIG_STR_MAX];
    hk_strlcpy(dir, path, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0750) != 0 && errno != EEXIST)
            return hk_err_set(err, HK_E(IO), "cannot create directory %s: %s", dir,
                              strerror(errno));
        *p = '/';
    }
    if (mkdir(dir, 0750) != 0 && errno != EEXIST)
        return hk_err_set(err, HK_E(IO), "cannot create directory %s: %s", dir, strerror(errno));
    return 0;
}

/* The key file lives beside the SQLite database (so data/ holds everything to back up together),
   or in data_dir for PostgreSQL. */
static void default_key_file(struct hk_app *app)
{
    char dir[HK_CONFIG_STR_MAX];
    if (is_postgres_url(app->cfg.db)) {
        hk_strlcpy(dir, app->cfg.data_dir, sizeof dir);
    } else {
        hk_strlcpy(dir, app->cfg.db, sizeof dir);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            hk_strlcpy(dir, ".", sizeof dir);
    }
    snprintf(app->cfg.key_file, sizeof app->cfg.key_file, "%.*s/huike.key",
             (int)(sizeof app->cfg.key_file - 11), dir);
}

static int open_store(struct hk_app *app, enum hk_cli_needs needs, struct hk_err *err)
{
    int rc;
    if (!is_postgres_url(app->cfg.db) && (rc = make_parent_dirs(app->cfg.db, err)) != 0)
        return rc;
    struct hk_store_opts opts = {.pool_size = (int)app->cfg.threads + 2};
    if ((rc = hk_store_open(app->cfg.db, &opts, &app->store, err)) != 0)
        return rc;
    if (needs == HK_NEEDS_STORE) {
        int from = 0, to = 0;
        rc = hk_store_migrate(app->store, hk_clock_now(&app->clock), &from, &to, err);
        if (rc != 0)
            return rc;
        if (from != to) {
            char sfrom[16], sto[16];
            snprintf(sfrom, sizeof sfrom, "%d", from);
            snprintf(sto, sizeof sto, "%d", to);
            hk_log_kv(&app->log, HK_LOG_INFO, "store.migrated", NULL, "from", sfrom, "to", sto,
                      NULL);
        }
    }
    return 0;
}

int hk_cli_app_open(struct hk_app *app, enum hk_cli_needs needs)
{
    struct hk_err err;
    hk_err_clear(&err);
    int rc;
    enum hk_log_level level;

    if (hk_crypto_init() != 0) {
        fprintf(stderr, "huike: cannot initialise libsodium\n");
        return HK_EXIT_FAIL;
    }
    if (hk_log_level_parse(app->cfg.log_level, &level) != 0) {
        fprintf(stderr, "huike: log_level '%s' is not one of debug, info, warn, error, off\n",
                app->cfg.log_level);
        return HK_EXIT_USAGE;
    }
    hk_log_init(&app->log, STDERR_FILENO, level);

    if ((rc = hk_tz_load(app->cfg.timezone, &app->tz, &err)) != 0)
        goto fail;

    if (app->cfg.now[0]) {
        int64_t now;
        rc = hk_time_parse(app->cfg.now, strlen(app->cfg.now), app->tz, &now, &err);
        if (rc == 1)
            rc = hk_err_set(&err, HK_E(INVAL), "--now is empty");
        if (rc != 0) {
            fprintf(stderr, "huike: --now: %s\n", hk_err_message(&err));
            hk_cli_app_close(app);
            return HK_EXIT_USAGE;
        }
        hk_clock_init_fixed(&app->clock, now);
    } else {
        hk_clock_init_system(&app->clock);
    }

    return hk_cli_app_open_store(app, needs);

fail:
    fprintf(stderr, "huike: %s\n", hk_err_message(&err));
    hk_cli_app_close(app);
    return HK_EXIT_FAIL;
}

int hk_cli_app_open_store(struct hk_app *app, enum hk_cli_needs needs)
{
    struct hk_err err;
    hk_err_clear(&err);
    int rc;
    if (needs != HK_NEEDS_NOTHING && (rc = open_store(app, needs, &err)) != 0)
        goto fail;
    if (needs == HK_NEEDS_STORE) {
        /* HUIKE_KEY is a secret, not a config option: it never appears in flags or files. */
        if (!app->cfg.key_file[0])
            default_key_file(app);
        if ((rc = make_parent_dirs(app->cfg.key_file, &err)) != 0)
            goto fail;
        if ((rc = hk_keyring_load(&app->keys, app->cfg.key_file, getenv("HUIKE_KEY"), &err)) != 0)
            goto fail;
    }
    return 0;

fail:
    fprintf(stderr, "huike: %s\n", hk_err_message(&err));
    hk_cli_app_close(app);
    return HK_EXIT_FAIL;
}

void hk_cli_app_close(struct hk_app *app)
{
    hk_store_close(app->store);
    app->store = NULL;
    hk_keyring_clear(&app->keys);
    hk_tz_free(app->tz);
    app->tz = NULL;
}

void hk_cli_principal(struct hk_principal *p)
{
    memset(p, 0, sizeof *p);
    p->via = HK_AUTH_CLI;
    hk_strlcpy(p->login, "cli", sizeof p->login);
    p->role = HK_ROLE_ADMIN;
}

int hk_cli_opt_value(int argc, char **argv, int *i, const char *name, const char **out)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *out = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *out = argv[++*i];
    return 1;
}

int hk_cli_usage(const char *cmd, const char *usage_text, const char *why)
{
    if (why)
        fprintf(stderr, "huike %s: %s\n", cmd, why);
    fputs(usage_text, stderr);
    return HK_EXIT_USAGE;
}

int hk_cli_fail(const char *cmd, const struct hk_err *err)
{
    fprintf(stderr, "huike %s: %s\n", cmd, hk_err_message(err));
    return HK_EXIT_FAIL;
}
