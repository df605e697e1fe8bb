/*
 * main.c — the huike command: global options, then one command from a table.
 *
 *   huike [--db URL] [--now TIME] [--config FILE] [other options] COMMAND [ARGS...]
 *
 * Global options are the configuration table (core/config.def): each is also a HUIKE_* variable
 * and a config-file key. main only dispatches: each command is one line in `commands` plus its
 * function in cmd_<name>.c.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "core/config.h"
#include "core/err.h"
#include "core/util.h"
#include "services/app.h"
#include "store/store.h"

struct hk_cmd {
    const char *name;
    int (*fn)(struct hk_app *app, int argc, char **argv);
    enum hk_cli_needs needs;
    const char *usage;
    const char *summary;
};

static const struct hk_cmd commands[] = {
    {"serve", cmd_serve, HK_NEEDS_STORE, "serve [--port N] [--listen ADDR]",
     "serve the web console and the API (creates the first admin on first start)"},
    {"migrate", cmd_migrate, HK_NEEDS_RAW_STORE, "migrate", "bring the database schema up to date"},
    {"user", cmd_user, HK_NEEDS_STORE, "user add|list|passwd|disable|enable ...",
     "manage staff accounts"},
    {"token", cmd_token, HK_NEEDS_STORE, "token create|list|revoke ...",
     "manage API tokens for integrations"},
    {"import", cmd_import, HK_NEEDS_STORE, "import [--format F] [--shop NAME] [--json] FILE...",
     "import order exports (generic, taobao, douyin, pdd, jd)"},
    {"demo", cmd_demo, HK_NEEDS_STORE, "demo --customers N [--seed S] [--force] [--json]",
     "fill an empty database with a believable demo shop (two years up to --now)"},
    {"rfm", cmd_rfm_checked, HK_NEEDS_STORE, "rfm [--shop NAME|ID] [--now T] [--json]",
     "RFM summary: buyers, the eight segments and the tiers, as of now"},
    {"segment", cmd_segment_checked, HK_NEEDS_STORE,
     "segment count EXPR [--now T] [--json] | export EXPR|--id N [--format csv|xlsx] [-o F]",
     "count a segment expression's customers, or export them as CSV or XLSX"},
    {"tag", cmd_tag, HK_NEEDS_STORE, "tag list|create|add|remove|apply ...",
     "customer tags: list, create (manual or --rule EXPR), put on or take off customers"},
    {"version", cmd_version, HK_NEEDS_NOTHING, "version", "print the version"},
    {"help", cmd_help, HK_NEEDS_NOTHING, "help [COMMAND]", "show this help"},
};

int cmd_version(struct hk_app *app, int argc, char **argv)
{
    (void)app;
    (void)argc;
    (void)argv;
    printf("huike %s (%s)\n", HK_VERSION, HK_GIT_REV);
    return HK_EXIT_OK;
}

static void print_usage(FILE *out)
{
    fprintf(out, "huike %s — 回客, customer operations for online sellers\n\n", HK_VERSION);
    fprintf(out, "usage: huike [OPTIONS] COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < HK_ARRAY_LEN(commands); i++)
        fprintf(out, "  %-44s %s\n", commands[i].usage, commands[i].summary);
    fprintf(out, "\noptions (each also settable as HUIKE_<NAME> or in the --config file):\n");
    int n = 0;
    const struct hk_config_option *opts = hk_config_options(&n);
    for (int i = 0; i < n; i++) {
        char flag[64];
        snprintf(flag, sizeof flag, "%s %s", opts[i].flag,
                 opts[i].type == HK_CONFIG_INT ? "N" : "VALUE");
        fprintf(out, "  %-24s %s", flag, opts[i].help);
        if (opts[i].def[0])
            fprintf(out, " (default %s)", opts[i].def);
        fputc('\n', out);
    }
    fprintf(out, "  %-24s %s\n", "--config FILE", "read options from FILE (key = value lines)");
}

static const struct hk_cmd *find_command(const char *name)
{
    for (size_t i = 0; i < HK_ARRAY_LEN(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int cmd_help(struct hk_app *app, int argc, char **argv)
{
    (void)app;
    if (argc > 1) {
        const struct hk_cmd *c = find_command(argv[1]);
        if (!c) {
            fprintf(stderr, "huike: no command '%s'\n", argv[1]);
            return HK_EXIT_USAGE;
        }
        printf("usage: huike %s\n  %s\n", c->usage, c->summary);
        return HK_EXIT_OK;
    }
    print_usage(stdout);
    return HK_EXIT_OK;
}

int main(int argc, char **argv)
{
    /* Everything huike writes (database, key file, uploads, exports) may hold customer data:
       readable by its owner only, unless an administrator loosens it on purpose. */
    umask(077);
    static struct hk_app app; /* large (config strings); static storage, not a shared global */
    struct hk_err err;
    hk_err_clear(&err);
    hk_config_defaults(&app.cfg);
    if (hk_config_load(&app.cfg, &argc, argv, &err) != 0) {
        fprintf(stderr, "huike: %s\n", hk_err_message(&err));
        return HK_EXIT_USAGE;
    }
    if (argc < 2) {
        print_usage(stderr);
        return HK_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
        name = "help";
    if (strcmp(name, "--version") == 0)
        name = "version";
    const struct hk_cmd *cmd = find_command(name);
    if (!cmd) {
        fprintf(stderr, "huike: unknown command '%s' (see `huike help`)\n", argv[1]);
        return HK_EXIT_USAGE;
    }
    /* Arguments first, without a store (cli.h, HK_CLI_ARGS_OK): a usage error must not create or
       migrate a database. */
    int rc = hk_cli_app_open(&app, HK_NEEDS_NOTHING);
    if (rc != 0)
        return rc;
    if (cmd->needs != HK_NEEDS_NOTHING) {
        rc = cmd->fn(&app, argc - 1, argv + 1);
        if (rc != HK_CLI_ARGS_OK) {
            hk_cli_app_close(&app);
            return rc;
        }
        if ((rc = hk_cli_app_open_store(&app, cmd->needs)) != 0)
            return rc;
    }
    rc = cmd->fn(&app, argc - 1, argv + 1);
    hk_cli_app_close(&app);
    return rc;
}
