/*
 * cli.h — the huike command line: one table of commands (main.c), each a function taking the
 * application context and its own arguments (argv[0] is the command name; global options such as
 * --db and --now have already been consumed by hk_config_load).
 *
 * Exit statuses: 0 success, 1 failure, 2 usage error (3 is reserved for "partly done", e.g. an
 * import with rejected rows). Commands print results on stdout and errors on stderr; only cli/
 * may exit().
 */
#ifndef HK_CLI_CLI_H
#define HK_CLI_CLI_H

struct hk_app;
struct hk_err;
struct hk_principal;

#define HK_EXIT_OK      0
#define HK_EXIT_FAIL    1
#define HK_EXIT_USAGE   2
#define HK_EXIT_PARTIAL 3

enum hk_cli_needs {
    HK_NEEDS_NOTHING = 0,   /* clock, logger and time zone only */
    HK_NEEDS_STORE = 1,     /* the store, opened and migrated to the latest schema */
    HK_NEEDS_RAW_STORE = 2, /* the store, opened but not migrated (for `huike migrate`) */
};

/**
 * Opens what a command needs: clock (fixed by --now when given), logger, time zone, and the
 * store as `needs` says. Prints the error on stderr and returns non-zero on failure.
 */
int hk_cli_app_open(struct hk_app *app, enum hk_cli_needs needs);
/**
 * The store part of hk_cli_app_open, for an app opened with HK_NEEDS_NOTHING: main checks a
 * command's arguments first (hk_cli_check_*), so a usage error never creates or migrates a
 * database. Prints the error and closes the app on failure.
 */
int hk_cli_app_open_store(struct hk_app *app, enum hk_cli_needs needs);
void hk_cli_app_close(struct hk_app *app);

/** Fills p as the CLI acts: an admin named "cli" (its audit rows say so). */
void hk_cli_principal(struct hk_principal *p);
/**
 * Matches "--name VALUE" or "--name=VALUE" at argv[*i]; advances *i past the value. Returns 1 on
 * a match (value in *out), 0 when argv[*i] is another argument, -1 when the value is missing.
 */
int hk_cli_opt_value(int argc, char **argv, int *i, const char *name, const char **out);
/** Prints "huike CMD: WHY" (when why is not NULL) and the usage text on stderr; HK_EXIT_USAGE. */
int hk_cli_usage(const char *cmd, const char *usage_text, const char *why);
/** Prints "huike CMD: <the error's message>" on stderr; HK_EXIT_FAIL. */
int hk_cli_fail(const char *cmd, const struct hk_err *err);

/*
 * Arguments are checked before the database is opened, so that a usage error never creates or
 * migrates one: main first calls a command that needs the store with app->store NULL (clock, log
 * and time zone are open). The command parses its arguments as always and, once they are good,
 * returns HK_CLI_ARGS_OK instead of going on; any other value is its exit status (a usage error
 * after printing the usage, or 0 after printing help). main then opens the store and calls it
 * again. What needs the database (a login that exists, a segment's expression) is checked then.
 */
#define HK_CLI_ARGS_OK (-1)

/** rfm and segment count live in cmd_rfm.c; these check their arguments, then call them. */
int cmd_rfm_checked(struct hk_app *app, int argc, char **argv);
int cmd_segment_checked(struct hk_app *app, int argc, char **argv);

/* Commands (one file each: cmd_<name>.c). */
int cmd_serve(struct hk_app *app, int argc, char **argv);
int cmd_migrate(struct hk_app *app, int argc, char **argv);
int cmd_user(struct hk_app *app, int argc, char **argv);
int cmd_token(struct hk_app *app, int argc, char **argv);
int cmd_import(struct hk_app *app, int argc, char **argv);
int cmd_demo(struct hk_app *app, int argc, char **argv);
int cmd_rfm(struct hk_app *app, int argc, char **argv);
int cmd_segment(struct hk_app *app, int argc, char **argv);
/** `huike segment export ...` (cmd_segment.c), reached through cmd_segment. */
int cmd_segment_export(struct hk_app *app, int argc, char **argv);
int cmd_tag(struct hk_app *app, int argc, char **argv);
int cmd_version(struct hk_app *app, int argc, char **argv);
int cmd_help(struct hk_app *app, int argc, char **argv);

#endif
