/*
 * cmd_user.c — `huike user`: staff accounts from the command line.
 *
 *   huike user add LOGIN --role ROLE [--name DISPLAY] [--password-stdin]
 *   huike user list
 *   huike user passwd LOGIN [--password-stdin]
 *   huike user disable LOGIN
 *   huike user enable LOGIN
 *
 * Without --password-stdin, add and passwd generate a random password and print it once on
 * stdout; with it, the first line of stdin is the password (nothing is echoed or logged).
 * Changes are made as the principal "cli" (role admin) and land in the audit log like any other.
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

#define GENERATED_LEN 20

static const char usage_text[] =
    "usage: huike user add LOGIN --role ROLE [--name DISPLAY] [--password-stdin]\n"
    "       huike user list\n"
    "       huike user passwd LOGIN [--password-stdin]\n"
    "       huike user disable LOGIN\n"
    "       huike user enable LOGIN\n"
    "roles: admin, manager, operator, agent, associate\n";

static int usage(const char *why)
{
    return hk_cli_usage("user", usage_text, why);
}

static int fail(const struct hk_err *err)
{
    return hk_cli_fail("user", err);
}

/* The first line of stdin, without its line ending, into buf. */
static int read_password_stdin(char *buf, size_t size, struct hk_err *err)
{
    if (!fgets(buf, (int)size, stdin))
        return hk_err_set(err, HK_E(INVAL), "--password-stdin: no password on standard input");
    size_t len = strlen(buf);
    if (len > 0 && buf[len - 1] != '\n' && !feof(stdin))
        return hk_err_set(err, HK_E(INVAL), "--password-stdin: the password is too long");
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    if (len == 0)
        return hk_err_set(err, HK_E(INVAL), "--password-stdin: the password is empty");
    return 0;
}

static void generate_password(char *buf, size_t size)
{
    char tok[HK_SECRET_MAX];
    hk_random_token("", tok, sizeof tok);
    tok[GENERATED_LEN] = '\0';
    hk_strlcpy(buf, tok, size);
    sodium_memzero(tok, sizeof tok);
}

static int user_add(struct hk_app *app, int argc, char **argv)
{
    const char *login = NULL, *role_name = NULL, *name = NULL;
    bool from_stdin = false;
    for (int i = 2; i < argc; i++) {
        int m;
        if ((m = hk_cli_opt_value(argc, argv, &i, "--role", &role_name)) != 0 ||
            (m = hk_cli_opt_value(argc, argv, &i, "--name", &name)) != 0) {
            if (m < 0)
                return usage("an option needs a value");
        } else if (strcmp(argv[i], "--password-stdin") == 0) {
            from_stdin = true;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "huike user add: unknown option '%s'\n", argv[i]);
            return usage(NULL);
        } else if (!login) {
            login = argv[i];
        } else {
            return usage("add takes one LOGIN");
        }
    }
    if (!login)
        return usage("add needs a LOGIN");
    if (!role_name)
        return usage("add needs --role ROLE");

    struct hk_err err;
    hk_err_clear(&err);
    int role;
    if (hk_role_parse(role_name, &role, &err) != 0)
        return usage(hk_err_message(&err));
    if (!app->store)
        return HK_CLI_ARGS_OK; /* arguments checked (cli.h) */
    char pw[HK_PASSWORD_MAX + 2];
    if (from_stdin) {
        if (read_password_stdin(pw, sizeof pw, &err) != 0)
            return fail(&err);
    } else {
        generate_password(pw, sizeof pw);
    }
    struct hk_principal who;
    hk_cli_principal(&who);
    struct hk_actor actor = {.who = &who};
    struct hk_user_new in = {.login = login, .display_name = name, .role = role, .password = pw};
    struct hk_user u;
    int rc = hk_accounts_user_create(app, &in, &actor, &u, &err);
    if (rc != 0) {
        sodium_memzero(pw, sizeof pw);
        return fail(&err);
    }
    printf("created user %lld '%s' (%s)\n", (long long)u.id, u.login, hk_role_name(u.role));
    if (!from_stdin)
        printf("password: %s\n(shown only this once)\n", pw);
    sodium_memzero(pw, sizeof pw);
    return HK_EXIT_OK;
}

static int user_list(struct hk_app *app, int argc, char **argv)
{
    (void)argv;
    if (argc != 2)
        return usage("list takes no arguments");
    if (!app->store)
        return HK_CLI_ARGS_OK; /* arguments checked (cli.h) */
    struct hk_err err;
    hk_err_clear(&err);
    int64_t cursor = 0;
    printf("%-6s  %-24s  %-10s  %-8s  %s\n", "ID", "LOGIN", "ROLE", "DISABLED", "LAST LOGIN");
    do {
        struct hk_user *users = NULL;
        size_t n = 0;
        int64_t next = 0;
        if (hk_accounts_user_list(app, cursor, 500, &users, &n, &next, &err) != 0)
            return fail(&err);
        for (size_t i = 0; i < n; i++) {
            char last[40] = "never";
            if (users[i].last_login_at)
                hk_time_format_local(app->tz, users[i].last_login_at, last, sizeof last);
            printf("%-6lld  %-24s  %-10s  %-8s  %s\n", (long long)users[i].id, users[i].login,
                   hk_role_name(users[i].role), users[i].disabled ? "yes" : "no", last);
        }
        free(users);
        cursor = next;
    } while (cursor > 0);
    return HK_EXIT_OK;
}

static int user_passwd(struct hk_app *app, int argc, char **argv)
{
    const char *login = NULL;
    bool from_stdin = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--password-stdin") == 0)
            from_stdin = true;
        else if (argv[i][0] == '-' && argv[i][1] != '\0')
            return usage("passwd: unknown option");
        else if (!login)
            login = argv[i];
        else
            return usage("passwd takes one LOGIN");
    }
    if (!login)
        return usage("passwd needs a LOGIN");
    if (!app->store)
        return HK_CLI_ARGS_OK; /* arguments checked (cli.h) */

    struct hk_err err;
    hk_err_clear(&err);
    struct hk_user u;
    if (hk_accounts_user_get_by_login(app, login, &u, &err) != 0)
        return fail(&err);
    char pw[HK_PASSWORD_MAX + 2];
    if (from_stdin) {
        if (read_password_stdin(pw, sizeof pw, &err) != 0)
            return fail(&err);
    } else {
        generate_password(pw, sizeof pw);
    }
    struct hk_principal who;
    hk_cli_principal(&who);
    struct hk_actor actor = {.who = &who};
    struct hk_user_patch p = {.password = pw};
    int rc = hk_accounts_user_update(app, u.id, &p, &actor, NULL, &err);
    if (rc != 0) {
        sodium_memzero(pw, sizeof pw);
        return fail(&err);
    }
    printf("password of '%s' changed; their sessions were ended\n", u.login);
    if (!from_stdin)
        printf("password: %s\n(shown only this once)\n", pw);
    sodium_memzero(pw, sizeof pw);
    return HK_EXIT_OK;
}

static int user_set_disabled(struct hk_app *app, int argc, char **argv, bool disabled)
{
    if (argc != 3 || argv[2][0] == '-')
        return usage(disabled ? "disable takes one LOGIN" : "enable takes one LOGIN");
    if (!app->store)
        return HK_CLI_ARGS_OK; /* arguments checked (cli.h) */
    struct hk_err err;
    hk_err_clear(&err);
    struct hk_user u;
    if (hk_accounts_user_get_by_login(app, argv[2], &u, &err) != 0)
        return fail(&err);
    struct hk_principal who;
    hk_cli_principal(&who);
    struct hk_actor actor = {.who = &who};
    struct hk_user_patch p = {.has_disabled = true, .disabled = disabled};
    if (hk_accounts_user_update(app, u.id, &p, &actor, NULL, &err) != 0)
        return fail(&err);
    printf("user '%s' %s\n", u.login, disabled ? "disabled; their sessions were ended" : "enabled");
    return HK_EXIT_OK;
}

int cmd_user(struct hk_app *app, int argc, char **argv)
{
    if (argc < 2)
        return usage(NULL);
    const char *sub = argv[1];
    if (strcmp(sub, "add") == 0)
        return user_add(app, argc, argv);
    if (strcmp(sub, "list") == 0)
        return user_list(app, argc, argv);
    if (strcmp(sub, "passwd") == 0)
        return user_passwd(app, argc, argv);
    if (strcmp(sub, "disable") == 0)
        return user_set_disabled(app, argc, argv, true);
    if (strcmp(sub, "enable") == 0)
        return user_set_disabled(app, argc, argv, false);
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        fputs(usage_text, stdout);
        return HK_EXIT_OK;
    }
    fprintf(stderr, "huike user: unknown subcommand '%s'\n", sub);
    return usage(NULL);
}
