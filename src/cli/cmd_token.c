/*
 * cmd_token.c — `huike token`: API tokens for integrations.
 *
 *   huike token create NAME [--user LOGIN]   prints the token once, alone on stdout
 *   huike token list
 *   huike token revoke ID
 *
 * A token acts as its user, with that user's role. Without --user, create uses the oldest active
 * admin. The token value exists only in create's output (the store keeps its hash), so
 * `TOKEN=$(huike token create shop-sync)` is the way to capture it; the note about it goes to
 * stderr. Changes are made as the principal "cli" and are audited.
 * Exit: 0 done, 1 failed (message on stderr), 2 usage error.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/tz.h"
#include "core/util.h"
#include "services/accounts.h"
#include "services/app.h"

static const char usage_text[] = "usage: huike token create NAME [--user LOGIN]\n"
                                 "       huike token list\n"
                                 "       huike token revoke ID\n";

static int usage(const char *why)
{
    return hk_cli_usage("token", usage_text, why);
}

static int fail(const struct hk_err *err)
{
    return hk_cli_fail("token", err);
}

/* The oldest active admin, the default user of a token made from the CLI. */
static int default_user(struct hk_app *app, struct hk_user *out, struct hk_err *err)
{
    int64_t cursor = 0;
    do {
        struct hk_user *users = NULL;
        size_t n = 0;
        int64_t next = 0;
        int rc = hk_accounts_user_list(app, cursor, 500, &users, &n, &next, err);
        if (rc != 0)
            return rc;
        for (size_t i = 0; i < n; i++) {
            if (users[i].role == HK_ROLE_ADMIN && !users[i].disabled) {
                *out = users[i];
                free(users);
                return 0;
            }
        }
        free(users);
        cursor = next;
    } while (cursor > 0);
    return hk_err_set(err, HK_E(NOTFOUND), "there is no active admin; name the user with --user");
}

static int token_create(struct hk_app *app, int argc, char **argv)
{
    const char *name = NULL, *login = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int m = hk_cli_opt_value(argc, argv, &i, "--user", &login);
        if (m < 0)
            return usage("--user needs a LOGIN");
        if (m > 0)
            continue;
        if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "huike token create: unknown option '%s'\n", a);
            return usage(NULL);
        } else if (!name) {
            name = a;
        } else {
            return usage("create takes one NAME (quote it if it has spaces)");
        }
    }
    if (!name)
        return usage("create needs a NAME");
    if (!app->store)
        return HK_CLI_ARGS_OK; /* arguments checked (cli.h) */

    struct hk_err err;
    hk_err_clear(&err);
    struct hk_user u;
    memset(&u, 0, sizeof u);
    int rc =
        login ? hk_accounts_user_get_by_login(app, login, &u, &err) : default_user(app, &u, &err);
    if (rc != 0)
        return fail(&err);
    struct hk_principal who;
    hk_cli_principal(&who);
    struct hk_actor actor = {.who = &who};
    struct hk_api_token t;
    char secret[HK_SECRET_MAX];
    if (hk_accounts_token_create(app, u.id, name, &actor, &t, secret, sizeof secret, &err) != 0)
        return fail(&err);
    printf("%s\n", secret);
    sodium_memzero(secret, sizeof secret);
    fprintf(stderr,
            "created API token %lld '%s' acting as '%s' (%s); the token above is shown only "
            "this once\n",
            (long long)t.id, t.name, t.user_login, hk_role_name(u.role));
    return HK_EXIT_OK;
}

static int token_list(struct hk_app *app, int argc, char **argv)
{
    (void)argv;
    if (argc != 2)
        return usage("list takes no arguments");
    if (!app->store)
        return HK_CLI_ARGS_OK; /* arguments checked (cli.h) */
    struct hk_err err;
    hk_err_clear(&err);
    int64_t cursor = 0;
    printf("%-6s  %-24s  %-16s  %-10s  %-19s  %-19s  %s\n", "ID", "NAME", "USER", "PREFIX",
           "CREATED", "LAST USED", "STATUS");
    do {
        struct hk_api_token *tokens = NULL;
        size_t n = 0;
        int64_t next = 0;
        if (hk_accounts_token_list(app, cursor, 500, &tokens, &n, &next, &err) != 0)
            return fail(&err);
        for (size_t i = 0; i < n; i++) {
            const struct hk_api_token *t = &tokens[i];
            char created[40], used[40] = "never";
            hk_time_format_local(app->tz, t->created_at, created, sizeof created);
            if (t->last_used_at)
                hk_time_format_local(app->tz, t->last_used_at, used, sizeof used);
            printf("%-6lld  %-24s  %-16s  %-10s  %-19s  %-19s  %s\n", (long long)t->id, t->name,
                   t->user_login, t->prefix, created, used, t->revoked_at ? "revoked" : "active");
        }
        free(tokens);
        cursor = next;
    } while (cursor > 0);
    return HK_EXIT_OK;
}

static int token_revoke(struct hk_app *app, int argc, char **argv)
{
    int64_t id;
    if (argc != 3)
        return usage("revoke takes one ID");
    if (hk_parse_int64(argv[2], strlen(argv[2]), &id) != 0 || id <= 0)
        return usage("revoke: ID is a token's number (see `huike token list`)");
    if (!app->store)
        return HK_CLI_ARGS_OK; /* arguments checked (cli.h) */
    struct hk_err err;
    hk_err_clear(&err);
    struct hk_principal who;
    hk_cli_principal(&who);
    struct hk_actor actor = {.who = &who};
    if (hk_accounts_token_revoke(app, id, &actor, &err) != 0)
        return fail(&err);
    printf("revoked API token %lld\n", (long long)id);
    return HK_EXIT_OK;
}

int cmd_token(struct hk_app *app, int argc, char **argv)
{
    if (argc < 2)
        return usage(NULL);
    const char *sub = argv[1];
    if (strcmp(sub, "create") == 0)
        return token_create(app, argc, argv);
    if (strcmp(sub, "list") == 0)
        return token_list(app, argc, argv);
    if (strcmp(sub, "revoke") == 0)
        return token_revoke(app, argc, argv);
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        fputs(usage_text, stdout);
        return HK_EXIT_OK;
    }
    fprintf(stderr, "huike token: unknown subcommand '%s'\n", sub);
    return usage(NULL);
}
