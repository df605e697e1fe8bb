/*
 * cmd_rfm.c — `huike rfm [--shop NAME|ID] [--now T] [--json]`: loads the customer engine from
 * the store, scores RFM as of now with the stored configurations and prints the summary of all
 * shops, or of one shop (its name, "channel:name" or id; its buyers scored among themselves):
 *   {"buyers": N, "segments": {name: count, ...}, "tiers": {name: count, ...}}
 * (--json: exactly that object on one line, plus "shop_id" with --shop; otherwise a readable
 * table). Also
 * `huike segment count EXPR [--now T] [--json]` -> {"count": N}.
 *
 * --now may be given before the command (a global option) or after it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/jsontext.h"
#include "core/strbuf.h"
#include "core/tz.h"
#include "engine/engine.h"
#include "services/app.h"
#include "services/engine_svc.h"
#include "services/rfm_svc.h"
#include "services/segment_svc.h"
#include "services/segments.h"

/* Takes --now T and --json out of argv; the rest (after argv[0]) goes to rest[]. */
static int common_args(struct hk_app *app, int argc, char **argv, bool *json, char **rest,
                       int *nrest, int max_rest)
{
    *nrest = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            *json = true;
        } else if (strcmp(argv[i], "--now") == 0 && i + 1 < argc) {
            struct hk_err err;
            int64_t now;
            hk_err_clear(&err);
            const char *t = argv[++i];
            if (hk_time_parse(t, strlen(t), app->tz, &now, &err) != 0) {
                fprintf(stderr, "huike: --now: %s\n", hk_err_message(&err));
                return HK_EXIT_USAGE;
            }
            hk_clock_init_fixed(&app->clock, now);
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "huike %s: unknown option '%s'\n", argv[0], argv[i]);
            return HK_EXIT_USAGE;
        } else if (*nrest < max_rest) {
            rest[(*nrest)++] = argv[i];
        } else {
            fprintf(stderr, "huike %s: unexpected argument '%s'\n", argv[0], argv[i]);
            return HK_EXIT_USAGE;
        }
    }
    return 0;
}

static int load(struct hk_app *app, struct hk_engine_svc **out)
{
    struct hk_err err;
    hk_err_clear(&err);
    struct hk_engine_svc_opts o = {.follow = false};
    if (hk_engine_svc_start(app, &o, out, &err) != 0) {
        fprintf(stderr, "huike: cannot load the customer engine: %s\n", hk_err_message(&err));
        return HK_EXIT_FAIL;
    }
    return 0;
}

static void json_count_map(struct hk_strbuf *sb, const struct hk_rfm_group *g, size_t n)
{
    hk_strbuf_addch(sb, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            hk_strbuf_adds(sb, ", ");
        hk_json_text_key(sb, g[i].name);
        hk_json_text_int(sb, (int64_t)g[i].customers);
    }
    hk_strbuf_addch(sb, '}');
}

static int print_report(const struct hk_rfm_report *rp, int64_t shop, const char *label, bool json);

/* Terminal columns a UTF-8 string takes: CJK characters (3-byte sequences here) take two. */
static int display_width(const char *s)
{
    int w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xC0) == 0x80)
            continue; /* continuation byte */
        w += (*p >= 0xE0) ? 2 : 1;
    }
    return w;
}

/* One aligned line of the text report: name padded to 16 columns, count, share. */
static void print_row(const char *name, uint64_t customers, double share)
{
    int pad = 16 - display_width(name);
    printf("  %s%*s %8llu  %5.1f%%\n", name, pad > 0 ? pad : 0, "", (unsigned long long)customers,
           share * 100.0);
}

int cmd_rfm(struct hk_app *app, int argc, char **argv)
{
    bool json = false;
    char *rest[1];
    int nrest = 0;
    /* --shop is ours; the rest is common_args' */
    const char *shop_arg = NULL;
    char **args = malloc(((size_t)argc + 1) * sizeof(char *));
    if (!args)
        return HK_EXIT_FAIL;
    int nargs = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && strcmp(argv[i], "--shop") == 0 && i + 1 < argc)
            shop_arg = argv[++i];
        else if (i > 0 && strcmp(argv[i], "--shop") == 0) {
            fprintf(stderr, "huike rfm: --shop needs a shop's name or id\n");
            free(args);
            return HK_EXIT_USAGE;
        } else
            args[nargs++] = argv[i];
    }
    int rc = common_args(app, nargs, args, &json, rest, &nrest, 0);
    free(args);
    if (rc)
        return rc;
    struct hk_engine_svc *svc;
    if ((rc = load(app, &svc)) != 0)
        return rc;
    struct hk_rfm_report *rp = malloc(sizeof(*rp));
    struct hk_err err;
    hk_err_clear(&err);
    int64_t shop = 0;
    char label[256] = ""; /* the shop's name and channel, for the heading */
    if (shop_arg) {
        const struct hk_engine *e = hk_engine_svc_read(svc);
        rc = hk_engine_shop_resolve(e, shop_arg, &shop, &err);
        for (size_t i = 0; !rc && shop > 0 && i < hk_engine_shop_count(e); i++) {
            struct hk_engine_shop sh;
            hk_engine_shop_at(e, i, &sh);
            if (sh.id == shop && sh.name)
                snprintf(label, sizeof label, " %s (%s)", sh.name, sh.channel ? sh.channel : "");
        }
        hk_engine_svc_read_end(svc);
    }
    app->engine = svc;
    if (!rc)
        rc = rp ? hk_rfm_svc_report_shop(app, shop, rp, &err)
                : hk_err_set(&err, HK_E(NOMEM), "out of memory");
    app->engine = NULL;
    hk_engine_svc_stop(svc);
    if (rc) {
        fprintf(stderr, "huike rfm: %s\n", hk_err_message(&err));
        free(rp);
        return HK_EXIT_FAIL;
    }
    rc = print_report(rp, shop_arg ? shop : -1, label, json);
    free(rp);
    return rc;
}

/* shop: the shop reported (0 = all shops), or -1 when --shop was not given */
static int print_report(const struct hk_rfm_report *rp, int64_t shop, const char *label, bool json)
{
    const struct hk_rfm_report r = *rp;
    if (json) {
        struct hk_strbuf sb;
        hk_strbuf_init(&sb, 0);
        hk_strbuf_addf(&sb, "{\"buyers\": %llu, \"segments\": ", (unsigned long long)r.buyers);
        json_count_map(&sb, r.segments, HK_RFM_SEGMENTS);
        hk_strbuf_adds(&sb, ", \"tiers\": ");
        json_count_map(&sb, r.tiers, r.n_tiers);
        if (shop >= 0)
            hk_strbuf_addf(&sb, ", \"shop_id\": %lld", (long long)shop);
        hk_strbuf_addch(&sb, '}');
        size_t len = 0;
        char *s = hk_strbuf_detach(&sb, &len);
        printf("%s\n", s ? s : "");
        hk_strbuf_release(&sb);
        free(s);
        return HK_EXIT_OK;
    }
    if (shop > 0)
        printf("shop %lld%s\n", (long long)shop, label);
    printf("customers %llu, buyers %llu\n\nsegments\n", (unsigned long long)r.customers,
           (unsigned long long)r.buyers);
    for (int i = 0; i < HK_RFM_SEGMENTS; i++)
        print_row(r.segments[i].name, r.segments[i].customers, r.segments[i].share);
    printf("\ntiers\n");
    for (size_t i = 0; i < r.n_tiers; i++)
        print_row(r.tiers[i].name, r.tiers[i].customers, r.tiers[i].share);
    return HK_EXIT_OK;
}

int cmd_segment(struct hk_app *app, int argc, char **argv)
{
    static const char usage[] =
        "usage: huike segment count EXPR [--now T] [--json]\n"
        "       huike segment export EXPR|--id N [--format csv|xlsx] [--columns C,...]\n"
        "                            [--lang zh-CN|en] [-o FILE]\n";
    if (argc >= 2 && strcmp(argv[1], "export") == 0)
        return cmd_segment_export(app, argc - 1, argv + 1);
    bool json = false;
    char *rest[2];
    int nrest = 0;
    int rc = common_args(app, argc, argv, &json, rest, &nrest, 2);
    if (rc)
        return rc;
    if (nrest != 2 || strcmp(rest[0], "count") != 0) {
        fputs(usage, stderr);
        return HK_EXIT_USAGE;
    }
    struct hk_err err;
    hk_err_clear(&err);
    struct hk_saved_segments *saved = NULL;
    if (hk_saved_segments_load(app, &saved, &err) != 0) {
        fprintf(stderr, "huike segment: %s\n", hk_err_message(&err));
        return HK_EXIT_FAIL;
    }
    struct hk_engine_svc *svc;
    if ((rc = load(app, &svc)) != 0) {
        hk_saved_segments_free(saved);
        return rc;
    }
    struct hk_segment_error where;
    size_t count = 0;
    rc = hk_segment_svc_count(svc, hk_saved_segments_resolver(saved), rest[1],
                              hk_clock_now(&app->clock), &count, &where, &err);
    hk_engine_svc_stop(svc);
    hk_saved_segments_free(saved);
    if (rc) {
        fprintf(stderr, "huike segment: %s\n", hk_err_message(&err));
        return rc == HK_E(INVAL) ? HK_EXIT_USAGE : HK_EXIT_FAIL;
    }
    if (json)
        printf("{\"count\": %zu}\n", count);
    else
        printf("%zu\n", count);
    return HK_EXIT_OK;
}
