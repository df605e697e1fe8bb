/*
 * cmd_tag.c — `huike tag ...`: customer tags from the command line, through the same service as
 * the API (services/tags.h), on a one-shot engine. The CLI acts as admin; writes are audited as
 * "cli".
 *
 *   huike tag list [--json]                         every tag: id, kind, members, name, rule
 *   huike tag create NAME [--rule EXPR] [--color C] [--description D]
 *   huike tag add CUSTOMER_ID NAME                  (makes the manual tag NAME when missing)
 *   huike tag remove CUSTOMER_ID NAME
 *   huike tag apply NAME (--segment ID | EXPR)      a manual tag on a segment's members
 *
 * Every command first makes the presets not made yet (hk_tags_presets_ensure), as `huike serve`
 * does at start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/jsontext.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "services/accounts.h"
#include "services/app.h"
#include "services/engine_svc.h"
#include "services/tags.h"

static int usage(void)
{
    fputs("usage: huike tag list [--json]\n"
          "       huike tag create NAME [--rule EXPR] [--color C] [--description D]\n"
          "       huike tag add CUSTOMER_ID NAME\n"
          "       huike tag remove CUSTOMER_ID NAME\n"
          "       huike tag apply NAME (--segment ID | EXPR)\n",
          stderr);
    return HK_EXIT_USAGE;
}

static int fail(const char *what, int rc, const struct hk_err *err)
{
    fprintf(stderr, "huike tag %s: %s\n", what, hk_err_message(err));
    return rc == HK_E(INVAL) || rc == HK_E(NOTFOUND) || rc == HK_E(CONFLICT) ? HK_EXIT_USAGE
                                                                             : HK_EXIT_FAIL;
}

static int print_list(struct hk_app *app, bool json)
{
    struct hk_err err;
    hk_err_clear(&err);
    struct hk_tag *tags = NULL;
    size_t n = 0;
    int rc = hk_tags_list(app, &tags, &n, &err);
    if (rc)
        return fail("list", rc, &err);
    struct hk_strbuf sb;
    hk_strbuf_init(&sb, 0);
    if (json)
        hk_strbuf_adds(&sb, "{\"items\": [");
    for (size_t i = 0; i < n; i++) {
        const struct hk_tag *t = &tags[i];
        if (json) {
            hk_strbuf_adds(&sb, i ? ", {" : "{");
            hk_json_text_key(&sb, "id");
            hk_json_text_int(&sb, t->row.id);
            hk_strbuf_addch(&sb, ',');
            hk_json_text_key(&sb, "name");
            hk_json_text_string(&sb, t->row.name, (size_t)-1);
            hk_strbuf_addch(&sb, ',');
            hk_json_text_key(&sb, "kind");
            hk_json_text_string(&sb, t->row.kind, (size_t)-1);
            hk_strbuf_addch(&sb, ',');
            hk_json_text_key(&sb, "expression");
            if (t->row.expression[0])
                hk_json_text_string(&sb, t->row.expression, (size_t)-1);
            else
                hk_strbuf_adds(&sb, "null");
            hk_strbuf_addch(&sb, ',');
            hk_json_text_key(&sb, "count");
            hk_json_text_int(&sb, t->count);
            hk_strbuf_addch(&sb, '}');
        } else {
            hk_strbuf_addf(&sb, "%6lld  %-6s  %8lld  %s%s%s\n", (long long)t->row.id, t->row.kind,
                           (long long)t->count, t->row.name, t->row.expression[0] ? "  = " : "",
                           t->row.expression);
        }
    }
    if (json)
        hk_strbuf_adds(&sb, "]}\n");
    fputs(sb.buf, stdout);
    hk_strbuf_release(&sb);
    hk_tags_free(tags, n);
    return HK_EXIT_OK;
}

static int find_tag(struct hk_app *app, const char *name, int64_t *id, struct hk_err *err)
{
    struct hk_tag *tags = NULL;
    size_t n = 0;
    int rc = hk_tags_list(app, &tags, &n, err);
    if (rc)
        return rc;
    *id = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(tags[i].row.name, name) == 0)
            *id = tags[i].row.id;
    hk_tags_free(tags, n);
    return *id ? 0 : hk_err_setf(err, HK_E(NOTFOUND), "tag", "no tag named \"%s\"", name);
}

static int run(struct hk_app *app, int argc, char **argv, const struct hk_actor *actor)
{
    const char *sub = argv[1];
    struct hk_err err;
    hk_err_clear(&err);
    int rc;
    if (strcmp(sub, "list") == 0) {
        bool json = argc == 3 && strcmp(argv[2], "--json") == 0;
        if (argc > 3 || (argc == 3 && !json))
            return usage();
        if (!app->store)
            return HK_CLI_ARGS_OK; /* arguments checked (cli.h) */
        return print_list(app, json);
    }
    if (strcmp(sub, "create") == 0) {
        struct hk_tag_input in = {0};
        for (int i = 2; i < argc; i++) {
            const char *v = NULL;
            if (hk_cli_opt_value(argc, argv, &i, "--rule", &v) == 1) {
                in.expression = v;
                in.kind = "rule";
            } else if (hk_cli_opt_value(argc, argv, &i, "--color", &v) == 1) {
                in.color = v;
            } else if (hk_cli_opt_value(argc, argv, &i, "--description", &v) == 1) {
                in.description = v;
            } else if (argv[i][0] != '-' && !in.name) {
                in.name = argv[i];
            } else {
                return usage();
            }
        }
        if (!in.name)
            return usage();
        if (!app->store)
            return HK_CLI_ARGS_OK; /* arguments checked (cli.h) */
        struct hk_segment_error where;
        struct hk_tag t;
        if ((rc = hk_tags_create(app, actor, &in, &where, &t, &err)) != 0)
            return fail("create", rc, &err);
        printf("%lld\t%s\t%lld\n", (long long)t.row.id, t.row.name, (long long)t.count);
        hk_tag_release(&t);
        return HK_EXIT_OK;
    }
    if (strcmp(sub, "add") == 0 || strcmp(sub, "remove") == 0) {
        int64_t cid, resolved = 0;
        if (argc != 4 || hk_parse_int64(argv[2], strlen(argv[2]), &cid) || cid <= 0)
            return usage();
        if (!app->store)
            return HK_CLI_ARGS_OK; /* arguments checked (cli.h) */
        if (sub[0] == 'a') {
            rc = hk_tags_customer_add(app, actor, cid, argv[3], &resolved, &err);
        } else {
            int64_t tag_id = 0;
            rc = find_tag(app, argv[3], &tag_id, &err);
            if (!rc)
                rc = hk_tags_customer_remove(app, actor, cid, tag_id, &resolved, &err);
        }
        if (rc)
            return fail(sub, rc, &err);
        printf("customer %lld\n", (long long)resolved);
        return HK_EXIT_OK;
    }
    if (strcmp(sub, "apply") == 0) {
        const char *name = NULL, *expr = NULL, *seg = NULL;
        for (int i = 2; i < argc; i++) {
            int m = hk_cli_opt_value(argc, argv, &i, "--segment", &seg);
            if (m < 0)
                return usage();
            if (m == 1)
                continue;
            if (!name)
                name = argv[i];
            else if (!expr)
                expr = argv[i];
            else
                return usage();
        }
        int64_t segment_id = 0, tag_id = 0;
        if (!name || (!expr == !seg) ||
            (seg && (hk_parse_int64(seg, strlen(seg), &segment_id) || segment_id <= 0)))
            return usage();
        if (!app->store)
            return HK_CLI_ARGS_OK; /* arguments checked (cli.h) */
        struct hk_segment_error where;
        size_t applied = 0, added = 0;
        if ((rc = find_tag(app, name, &tag_id, &err)) != 0 ||
            (rc = hk_tags_apply(app, actor, tag_id, segment_id, expr, &where, &applied, &added,
                                &err)) != 0)
            return fail("apply", rc, &err);
        printf("{\"applied\": %zu, \"added\": %zu}\n", applied, added);
        return HK_EXIT_OK;
    }
    return usage();
}

int cmd_tag(struct hk_app *app, int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (!app->store)
        return run(app, argc, argv, NULL); /* arguments only (cli.h) */
    struct hk_err err;
    hk_err_clear(&err);
    struct hk_engine_svc_opts eo = {.follow = false};
    if (hk_engine_svc_start(app, &eo, &app->engine, &err) != 0) {
        fprintf(stderr, "huike: cannot load the customer engine: %s\n", hk_err_message(&err));
        return HK_EXIT_FAIL;
    }
    int rc;
    if (hk_tags_presets_ensure(app, NULL, &err) != 0) {
        fprintf(stderr, "huike tag: presets: %s\n", hk_err_message(&err));
        rc = HK_EXIT_FAIL;
    } else {
        struct hk_principal who;
        hk_cli_principal(&who);
        struct hk_actor actor = {.who = &who};
        rc = run(app, argc, argv, &actor);
    }
    hk_engine_svc_stop(app->engine);
    app->engine = NULL;
    return rc;
}
