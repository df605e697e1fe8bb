/*
 * cmd_segment.c — `huike segment export EXPR|--id N [--format csv|xlsx] [--lang zh-CN|en]
 * [--columns C,...] [--sort S] [--order asc|desc] [--now T] [-o FILE]`: the members of an
 * expression or of a saved segment as CSV (to stdout or FILE) or XLSX (to FILE, default
 * segment.xlsx), through the same export as the API (services/segments.h). Headers in zh-CN
 * unless --lang en. The CLI acts as admin: PII in clear.
 *
 * Also the argument checks of `huike segment` (count and export) and `huike rfm`, whose running
 * code is in cmd_rfm.c: main calls them first without a store (cli.h, HK_CLI_ARGS_OK), so that
 * `huike segment` alone, or with a bad option, prints its usage and exits 2 without creating or
 * migrating a database. They accept exactly what cmd_rfm.c accepts (--json, --now T, and
 * for rfm --shop NAME|ID) plus the positional arguments each command takes; a new option there
 * must be added here too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/tz.h"
#include "core/util.h"
#include "services/app.h"
#include "services/engine_svc.h"
#include "services/segments.h"

static int usage(void)
{
    fputs("usage: huike segment export EXPR|--id N [--format csv|xlsx] [--lang zh-CN|en]\n"
          "                            [--columns C,...] [--sort S] [--order asc|desc] [--now T]\n"
          "                            [-o FILE]\n",
          stderr);
    return HK_EXIT_USAGE;
}

static int write_csv(struct hk_export *x, FILE *out, struct hk_err *err)
{
    char buf[64 * 1024];
    size_t len;
    int rc;
    while ((rc = hk_export_csv_next(x, buf, sizeof buf, &len, err)) == 0 && len > 0)
        if (fwrite(buf, 1, len, out) != len)
            return hk_err_set(err, HK_E(IO), "cannot write the export");
    return rc;
}

int cmd_segment_export(struct hk_app *app, int argc, char **argv)
{
    struct hk_export_opts o = {.clear = true};
    const char *format = "csv", *file = NULL, *sort = NULL, *order = NULL;
    struct hk_err err;
    hk_err_clear(&err);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-' || !a[1]) {
            if (o.expression)
                return usage();
            o.expression = a;
            continue;
        }
        if (!v)
            return usage();
        i++;
        if (strcmp(a, "--id") == 0) {
            if (hk_parse_int64(v, strlen(v), &o.segment_id) || o.segment_id <= 0)
                return usage();
        } else if (strcmp(a, "--format") == 0) {
            format = v;
        } else if (strcmp(a, "--lang") == 0) {
            if (hk_export_lang_parse(v, &o.lang, &err) != 0) {
                fprintf(stderr, "huike segment export: %s\n", hk_err_message(&err));
                return HK_EXIT_USAGE;
            }
        } else if (strcmp(a, "--columns") == 0) {
            o.columns = v;
        } else if (strcmp(a, "--sort") == 0) {
            sort = v;
        } else if (strcmp(a, "--order") == 0) {
            order = v;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            file = v;
        } else if (strcmp(a, "--now") == 0) {
            int64_t now;
            if (hk_time_parse(v, strlen(v), app->tz, &now, &err) != 0) {
                fprintf(stderr, "huike: --now: %s\n", hk_err_message(&err));
                return HK_EXIT_USAGE;
            }
            hk_clock_init_fixed(&app->clock, now);
        } else {
            fprintf(stderr, "huike segment export: unknown option '%s'\n", a);
            return usage();
        }
    }
    bool xlsx = strcmp(format, "xlsx") == 0;
    if ((!xlsx && strcmp(format, "csv") != 0) || (!o.expression == !o.segment_id))
        return usage();
    if (hk_member_sort_parse(sort, order, &o.sort, &o.desc, &err)) {
        fprintf(stderr, "huike segment export: %s\n", hk_err_message(&err));
        return HK_EXIT_USAGE;
    }
    if (!app->store)
        return HK_CLI_ARGS_OK; /* arguments checked (cli.h) */
    struct hk_engine_svc_opts eo = {.follow = false};
    if (hk_engine_svc_start(app, &eo, &app->engine, &err) != 0) {
        fprintf(stderr, "huike: cannot load the customer engine: %s\n", hk_err_message(&err));
        return HK_EXIT_FAIL;
    }
    struct hk_export *x = NULL;
    struct hk_segment_error where;
    int rc = hk_export_open(app, &o, &x, &where, &err);
    if (!rc && xlsx) {
        rc = hk_export_xlsx(x, file ? file : "segment.xlsx", &err);
    } else if (!rc) {
        FILE *out = file ? fopen(file, "wb") : stdout;
        if (!out)
            rc = hk_err_set(&err, HK_E(IO), "cannot open %s", file);
        else {
            rc = write_csv(x, out, &err);
            if ((file ? fclose(out) : fflush(out)) != 0 && !rc)
                rc = hk_err_set(&err, HK_E(IO), "cannot write the export");
        }
    }
    size_t n = x ? hk_export_count(x) : 0;
    hk_export_free(x);
    hk_engine_svc_stop(app->engine);
    app->engine = NULL;
    if (rc) {
        fprintf(stderr, "huike segment export: %s\n", hk_err_message(&err));
        return rc == HK_E(INVAL) || rc == HK_E(NOTFOUND) ? HK_EXIT_USAGE : HK_EXIT_FAIL;
    }
    if (file)
        fprintf(stderr, "huike: exported %zu customers to %s\n", n, file);
    return HK_EXIT_OK;
}

static const char segment_usage[] =
    "usage: huike segment count EXPR [--now T] [--json]\n"
    "       huike segment export EXPR|--id N [--format csv|xlsx] [--lang zh-CN|en]\n"
    "                            [--columns C,...] [--sort S] [--order asc|desc] [--now T]\n"
    "                            [-o FILE]\n";

/* rfm and segment count: --json, --now T, --shop V (rfm: with_shop), and exactly npos
   positional arguments. */
static int check_common(struct hk_app *app, int argc, char **argv, int npos, bool with_shop,
                        const char *usage_text)
{
    int pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0)
            continue;
        if (with_shop && strcmp(a, "--shop") == 0) {
            if (++i >= argc) {
                fprintf(stderr, "huike %s: --shop needs a shop's name or id\n", argv[0]);
                fputs(usage_text, stderr);
                return HK_EXIT_USAGE;
            }
            continue;
        }
        if (strcmp(a, "--now") == 0) {
            struct hk_err err;
            hk_err_clear(&err);
            int64_t now;
            if (i + 1 >= argc) {
                fprintf(stderr, "huike %s: --now needs a time\n", argv[0]);
                fputs(usage_text, stderr);
                return HK_EXIT_USAGE;
            }
            const char *t = argv[++i];
            if (hk_time_parse(t, strlen(t), app->tz, &now, &err) != 0) {
                fprintf(stderr, "huike: --now: %s\n", hk_err_message(&err));
                return HK_EXIT_USAGE;
            }
            continue;
        }
        if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "huike %s: unknown option '%s'\n", argv[0], a);
            fputs(usage_text, stderr);
            return HK_EXIT_USAGE;
        }
        if (++pos > npos) {
            fprintf(stderr, "huike %s: unexpected argument '%s'\n", argv[0], a);
            fputs(usage_text, stderr);
            return HK_EXIT_USAGE;
        }
    }
    if (pos < npos) {
        fputs(usage_text, stderr);
        return HK_EXIT_USAGE;
    }
    return HK_CLI_ARGS_OK;
}

int cmd_segment_checked(struct hk_app *app, int argc, char **argv)
{
    if (app->store)
        return cmd_segment(app, argc, argv);
    if (argc < 2) {
        fputs(segment_usage, stderr);
        return HK_EXIT_USAGE;
    }
    if (strcmp(argv[1], "export") == 0)
        return cmd_segment_export(app, argc - 1, argv + 1);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(segment_usage, stdout);
        return HK_EXIT_OK;
    }
    if (strcmp(argv[1], "count") != 0) {
        fprintf(stderr, "huike segment: unknown subcommand '%s'\n", argv[1]);
        fputs(segment_usage, stderr);
        return HK_EXIT_USAGE;
    }
    /* count EXPR: the subcommand is the first positional argument, as cmd_rfm.c reads it */
    return check_common(app, argc, argv, 2, false, segment_usage);
}

int cmd_rfm_checked(struct hk_app *app, int argc, char **argv)
{
    if (app->store)
        return cmd_rfm(app, argc, argv);
    return check_common(app, argc, argv, 0, true,
                        "usage: huike rfm [--shop NAME|ID] [--now T] [--json]\n");
}
