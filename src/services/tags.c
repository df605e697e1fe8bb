/*
 * tags.c — tags: CRUD, manual tagging (one customer, or a segment's members in bulk), the tags
 * a customer carries, and the presets (tags.h). SQL lives in store/tags_repo.c; rule-tag
 * evaluation in services/tag_rules.c (run by the engine service).
 *
 * Who carries a tag: manual tags are customer_tags rows (the store is the truth; the engine
 * loads them); rule tags live only in the engine's bitmaps. So a customer's tags are the stored
 * rows plus the rule tags whose bit the engine sets, and a tag's count is the engine's (live
 * customers only, exactly what has_tag() counts in a preview).
 */
#include "services/tags.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/jsontext.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "engine/engine.h"
#include "engine/segment.h"
#include "services/accounts.h"
#include "services/app.h"
#include "services/engine_svc.h"
#include "services/segments.h"
#include "services/tag_rules.h"
#include "store/segments_repo.h"
#include "store/store.h"

#define PRESET_CATEGORIES_MAX 50

static int no_engine(struct hk_err *err)
{
    return hk_err_set(err, HK_E(UNAVAILABLE), "the customer engine is not running");
}

static int nomem(struct hk_err *err)
{
    return hk_err_set(err, HK_E(NOMEM), "out of memory");
}

void hk_tag_release(struct hk_tag *t)
{
    if (!t)
        return;
    hk_tag_row_release(&t->row);
    memset(t, 0, sizeof *t);
}

void hk_tags_free(struct hk_tag *tags, size_t n)
{
    for (size_t i = 0; tags && i < n; i++)
        hk_tag_release(&tags[i]);
    free(tags);
}

static int list_rows(struct hk_app *app, struct hk_tag_row **rows, size_t *n, struct hk_err *err)
{
    struct hk_db *db;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc)
        return rc;
    rc = hk_tags_repo_list(db, rows, n, err);
    hk_db_release(db);
    return rc;
}

/* Reloads the rules in this process's engine so a write shows at once (logged, not returned:
 * the write has committed, and the sync thread reloads them again from the log). */
static void engine_follow(struct hk_app *app)
{
    if (!app->engine)
        return;
    struct hk_err err;
    hk_err_clear(&err);
    if (hk_engine_svc_rules_reload(app->engine, &err))
        hk_log_kv(&app->log, HK_LOG_WARN, "tags.reload_failed", NULL, "error", hk_err_message(&err),
                  (const char *)NULL);
}

/* ---- audit ---------------------------------------------------------------------------------- */

/* Audits action on target with details {"name": name, key: value...} (int pairs). */
static void audit(struct hk_app *app, const struct hk_actor *actor, const char *action,
                  const char *target, const char *name, const char *k1, int64_t v1, const char *k2,
                  int64_t v2)
{
    if (!actor)
        return;
    struct hk_strbuf sb;
    hk_strbuf_init(&sb, 4096);
    int rc = hk_strbuf_addch(&sb, '{');
    if (name)
        rc |= hk_json_text_key(&sb, "name") | hk_json_text_string(&sb, name, (size_t)-1);
    if (k1)
        rc |= hk_strbuf_adds(&sb, name ? "," : "") | hk_json_text_key(&sb, k1) |
              hk_json_text_int(&sb, v1);
    if (k2)
        rc |= hk_strbuf_addch(&sb, ',') | hk_json_text_key(&sb, k2) | hk_json_text_int(&sb, v2);
    rc |= hk_strbuf_addch(&sb, '}');
    struct hk_err aerr;
    hk_err_clear(&aerr);
    (void)hk_accounts_audit_record(app, actor, action, target, rc ? "{}" : sb.buf, &aerr);
    hk_strbuf_release(&sb);
}

/* ---- reading -------------------------------------------------------------------------------- */

/* Counts and rule errors for tags[0..n) from the engine (read lock held by the caller). */
static void fill_from_engine(const struct hk_engine *e, struct hk_saved_segments *saved,
                             struct hk_tag *tags, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct hk_tag *t = &tags[i];
        uint32_t id = hk_engine_dict_find(e, HK_DICT_TAG, t->row.name, strlen(t->row.name));
        t->has_count = true;
        t->count = id == HK_ENGINE_NONE ? 0 : (int64_t)hk_engine_tag_count(e, id);
        if (strcmp(t->row.kind, "rule") == 0) {
            struct hk_segment *seg = NULL;
            struct hk_err cerr;
            hk_err_clear(&cerr);
            if (hk_segment_compile(e, t->row.expression,
                                   saved ? hk_saved_segments_resolver(saved) : NULL, &seg, &cerr))
                hk_strlcpy(t->error, hk_err_message(&cerr), sizeof t->error);
            hk_segment_free(seg);
        }
    }
}

struct count_ctx {
    struct hk_tag *tags;
    size_t n;
};

static void count_cb(void *ctx, int64_t tag_id, int64_t n)
{
    struct count_ctx *c = ctx;
    for (size_t i = 0; i < c->n; i++)
        if (c->tags[i].row.id == tag_id)
            c->tags[i].count = n;
}

/* Wraps rows (taken) as tags with counts. */
static int decorate(struct hk_app *app, struct hk_tag_row *rows, size_t n, struct hk_tag **out,
                    struct hk_err *err)
{
    struct hk_tag *tags = calloc(n ? n : 1, sizeof *tags);
    if (!tags) {
        hk_tag_rows_free(rows, n);
        return nomem(err);
    }
    for (size_t i = 0; i < n; i++)
        tags[i].row = rows[i];
    free(rows);
    int rc = 0;
    if (app->engine) {
        struct hk_saved_segments *saved = NULL;
        if ((rc = hk_saved_segments_load(app, &saved, err)) == 0) {
            const struct hk_engine *e = hk_engine_svc_read(app->engine);
            fill_from_engine(e, saved, tags, n);
            hk_engine_svc_read_end(app->engine);
        }
        hk_saved_segments_free(saved);
    } else { /* stored memberships only: manual tags are counted, rule tags are not */
        for (size_t i = 0; i < n; i++)
            tags[i].has_count = strcmp(tags[i].row.kind, "rule") != 0;
        struct count_ctx c = {tags, n};
        struct hk_db *db;
        if ((rc = hk_db_acquire(app->store, &db, err)) == 0) {
            rc = hk_tags_repo_counts(db, count_cb, &c, err);
            hk_db_release(db);
        }
    }
    if (rc) {
        hk_tags_free(tags, n);
        return rc;
    }
    *out = tags;
    return 0;
}

int hk_tags_list(struct hk_app *app, struct hk_tag **out, size_t *n, struct hk_err *err)
{
    struct hk_tag_row *rows = NULL;
    size_t cnt = 0;
    int rc = list_rows(app, &rows, &cnt, err);
    if (rc)
        return rc;
    if ((rc = decorate(app, rows, cnt, out, err)) != 0)
        return rc;
    *n = cnt;
    return 0;
}

int hk_tags_get(struct hk_app *app, int64_t id, struct hk_tag *out, struct hk_err *err)
{
    struct hk_tag_row *row = calloc(1, sizeof *row);
    if (!row)
        return nomem(err);
    struct hk_db *db;
    int rc = hk_db_acquire(app->store, &db, err);
    if (!rc) {
        rc = hk_tags_repo_get(db, id, row, err);
        hk_db_release(db);
    }
    if (rc) {
        free(row);
        return rc;
    }
    struct hk_tag *t;
    if ((rc = decorate(app, row, 1, &t, err)) != 0)
        return rc;
    *out = *t;
    free(t);
    return 0;
}

/* ---- validation ----------------------------------------------------------------------------- */

static int check_name(const char *name, struct hk_err *err)
{
    size_t len = strlen(name);
    if (len == 0 || len > HK_TAG_NAME_MAX)
        return hk_err_setf(err, HK_E(INVAL), "name", "name: 1 to %d bytes", HK_TAG_NAME_MAX);
    if (name[0] == ' ' || name[len - 1] == ' ')
        return hk_err_setf(err, HK_E(INVAL), "name", "name: no spaces at the start or the end");
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return hk_err_setf(err, HK_E(INVAL), "name", "name: no control characters");
    return 0;
}

static int check_fields(const struct hk_tag_input *in, struct hk_err *err)
{
    int rc;
    if (in->name && (rc = check_name(in->name, err)) != 0)
        return rc;
    if (in->expression && strlen(in->expression) > HK_SEGMENT_MAX_LEN)
        return hk_err_setf(err, HK_E(INVAL), "expression", "expression: at most 64 KiB");
    if (in->color) {
        if (strlen(in->color) > HK_TAG_COLOR_MAX)
            return hk_err_setf(err, HK_E(INVAL), "color", "color: at most %d bytes",
                               HK_TAG_COLOR_MAX);
        for (const char *p = in->color; *p; p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
                  (*p >= 'A' && *p <= 'Z') || *p == '#' || *p == '-'))
                return hk_err_setf(err, HK_E(INVAL), "color",
                                   "color: a CSS colour such as #409eff or a name (letters, "
                                   "digits, '#', '-')");
    }
    if (in->description && strlen(in->description) > HK_TAG_DESC_MAX)
        return hk_err_setf(err, HK_E(INVAL), "description", "description: at most %d bytes",
                           HK_TAG_DESC_MAX);
    return 0;
}

/* Does a rule named `name` with expression expr reach itself through has_tag of rule tags? */
struct cycle {
    const struct hk_tag_row *rows;
    size_t n;
    int64_t self_id;
    const char *self_name, *self_expr;
    unsigned char *seen;
    bool hit;
};

static void cycle_walk(struct cycle *c, const char *expr);

static void cycle_cb(void *ctx, const char *name, size_t len)
{
    struct cycle *c = ctx;
    if (c->hit)
        return;
    if (strlen(c->self_name) == len && memcmp(c->self_name, name, len) == 0) {
        c->hit = true;
        return;
    }
    for (size_t i = 0; i < c->n; i++)
        if (c->rows[i].id != c->self_id && !c->seen[i] && strcmp(c->rows[i].kind, "rule") == 0 &&
            strlen(c->rows[i].name) == len && memcmp(c->rows[i].name, name, len) == 0) {
            c->seen[i] = 1;
            cycle_walk(c, c->rows[i].expression);
        }
}

static void cycle_walk(struct cycle *c, const char *expr)
{
    hk_tag_refs(expr, cycle_cb, c);
}

static int check_cycle(const struct hk_tag_row *rows, size_t n, int64_t id, const char *name,
                       const char *expr, struct hk_err *err)
{
    struct cycle c = {rows, n, id, name, expr, calloc(n ? n : 1, 1), false};
    if (!c.seen)
        return nomem(err);
    cycle_walk(&c, expr);
    free(c.seen);
    if (c.hit)
        return hk_err_setf(err, HK_E(INVAL), "expression",
                           "rule tag \"%s\" reaches itself through has_tag", name);
    return 0;
}

/* Compiles (and counts when count != NULL) a rule expression against the engine. */
static int compile_rule(struct hk_app *app, const char *expr, size_t *count,
                        struct hk_segment_error *where, struct hk_err *err)
{
    struct hk_saved_segments *saved = NULL;
    int rc = hk_saved_segments_load(app, &saved, err);
    if (rc)
        return rc;
    int64_t now = hk_clock_now(&app->clock);
    const struct hk_engine *e = hk_engine_svc_read(app->engine);
    size_t c = 0;
    rc = hk_segment_count(e, expr, hk_saved_segments_resolver(saved), now, &c, err);
    hk_engine_svc_read_end(app->engine);
    hk_saved_segments_free(saved);
    if (rc == HK_E(INVAL))
        hk_segment_error_parse(hk_err_message(err), where);
    if (!rc && count)
        *count = c;
    return rc;
}

/* The first rule tag (not except_id) or saved segment naming tag `name` through has_tag. */
static int find_user(struct hk_app *app, const struct hk_tag_row *rows, size_t n, int64_t except_id,
                     const char *name, char *user, size_t size, struct hk_err *err)
{
    user[0] = '\0';
    for (size_t i = 0; i < n; i++)
        if (rows[i].id != except_id && strcmp(rows[i].kind, "rule") == 0 &&
            hk_tag_refs_has(rows[i].expression, name)) {
            snprintf(user, size, "rule tag \"%s\"", rows[i].name);
            return 0;
        }
    struct hk_segment_row *segs = NULL;
    size_t ns = 0;
    int rc = hk_segments_list(app, &segs, &ns, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < ns && !user[0]; i++)
        if (hk_tag_refs_has(segs[i].expression, name))
            snprintf(user, size, "segment \"%s\"", segs[i].name);
    hk_segment_rows_free(segs, ns);
    return 0;
}

/* ---- writes --------------------------------------------------------------------------------- */

/* Runs fn in one write transaction. */
static int in_tx(struct hk_app *app, int (*fn)(struct hk_db *db, void *ctx, struct hk_err *err),
                 void *ctx, struct hk_err *err)
{
    struct hk_db *db;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc)
        return rc;
    if ((rc = hk_db_begin(db, HK_TX_WRITE, err)) == 0) {
        rc = fn(db, ctx, err);
        if (!rc)
            rc = hk_db_commit(db, err);
        else
            hk_db_rollback(db);
    }
    hk_db_release(db);
    return rc;
}

struct insert_ctx {
    const struct hk_tag_row *row;
    int64_t now, id;
};

static int do_insert(struct hk_db *db, void *ctx, struct hk_err *err)
{
    struct insert_ctx *c = ctx;
    return hk_tags_repo_insert(db, c->row, c->now, &c->id, err);
}

int hk_tags_create(struct hk_app *app, const struct hk_actor *actor, const struct hk_tag_input *in,
                   struct hk_segment_error *where, struct hk_tag *out, struct hk_err *err)
{
    if (where)
        memset(where, 0, sizeof *where);
    const char *kind = in->kind && in->kind[0] ? in->kind : "manual";
    bool rule = strcmp(kind, "rule") == 0;
    int rc = check_fields(in, err);
    if (rc)
        return rc;
    if (!in->name)
        return hk_err_setf(err, HK_E(INVAL), "name", "name: required");
    if (!rule && strcmp(kind, "manual") != 0)
        return hk_err_setf(err, HK_E(INVAL), "kind", "kind: expected manual or rule");
    if (rule && (!in->expression || !in->expression[0]))
        return hk_err_setf(err, HK_E(INVAL), "expression", "expression: required for a rule tag");
    if (!rule && in->expression && in->expression[0])
        return hk_err_setf(err, HK_E(INVAL), "expression",
                           "expression: only rule tags have one (a manual tag is put on customers "
                           "by hand)");
    struct hk_tag_row *rows = NULL;
    size_t n = 0;
    if ((rc = list_rows(app, &rows, &n, err)) != 0)
        return rc;
    for (size_t i = 0; i < n && !rc; i++)
        if (strcmp(rows[i].name, in->name) == 0)
            rc = hk_err_setf(err, HK_E(CONFLICT), "name", "a tag named \"%s\" already exists",
                             in->name);
    if (!rc && rule)
        rc = check_cycle(rows, n, 0, in->name, in->expression, err);
    if (!rc && rule)
        rc = app->engine ? compile_rule(app, in->expression, NULL, where, err) : no_engine(err);
    hk_tag_rows_free(rows, n);
    if (rc)
        return rc;
    struct hk_tag_row row = {0,
                             (char *)in->name,
                             (char *)kind,
                             rule ? (char *)in->expression : NULL,
                             (char *)(in->color ? in->color : ""),
                             (char *)(in->description ? in->description : ""),
                             NULL,
                             0,
                             0};
    struct insert_ctx c = {&row, hk_clock_now(&app->clock), 0};
    if ((rc = in_tx(app, do_insert, &c, err)) != 0)
        return rc;
    engine_follow(app);
    char target[48];
    snprintf(target, sizeof target, "tag:%lld", (long long)c.id);
    audit(app, actor, "tag.create", target, in->name, NULL, 0, NULL, 0);
    return hk_tags_get(app, c.id, out, err);
}

struct update_ctx {
    struct hk_tag_row *row;
    bool renamed;
    int64_t now;
};

static int do_update(struct hk_db *db, void *ctx, struct hk_err *err)
{
    struct update_ctx *c = ctx;
    int rc = hk_tags_repo_update(db, c->row, c->now, err);
    if (!rc && c->renamed && strcmp(c->row->kind, "manual") == 0)
        rc = hk_tags_repo_touch_members(db, c->row->id, err); /* engines key tags by name */
    return rc;
}

int hk_tags_update(struct hk_app *app, const struct hk_actor *actor, int64_t id,
                   const struct hk_tag_input *in, struct hk_segment_error *where,
                   struct hk_tag *out, struct hk_err *err)
{
    if (where)
        memset(where, 0, sizeof *where);
    int rc = check_fields(in, err);
    if (rc)
        return rc;
    if (in->kind)
        return hk_err_setf(err, HK_E(INVAL), "kind", "kind: cannot be changed (make a new tag)");
    struct hk_tag_row *rows = NULL;
    size_t n = 0;
    if ((rc = list_rows(app, &rows, &n, err)) != 0)
        return rc;
    struct hk_tag_row *cur = NULL;
    for (size_t i = 0; i < n; i++)
        if (rows[i].id == id)
            cur = &rows[i];
    bool rule = cur && strcmp(cur->kind, "rule") == 0;
    const char *name = in->name ? in->name : cur ? cur->name : "";
    const char *expr = in->expression ? in->expression : cur ? cur->expression : "";
    bool renamed = cur && strcmp(name, cur->name) != 0;
    char user[HK_TAG_NAME_MAX + 32];
    if (!cur)
        rc = hk_err_set(err, HK_E(NOTFOUND), "no tag %lld", (long long)id);
    else if (!rule && in->expression && in->expression[0])
        rc = hk_err_setf(err, HK_E(INVAL), "expression",
                         "expression: only rule tags have one (this one is %s)", cur->kind);
    else if (rule && !expr[0])
        rc = hk_err_setf(err, HK_E(INVAL), "expression", "expression: required for a rule tag");
    for (size_t i = 0; !rc && i < n; i++)
        if (rows[i].id != id && strcmp(rows[i].name, name) == 0)
            rc =
                hk_err_setf(err, HK_E(CONFLICT), "name", "a tag named \"%s\" already exists", name);
    if (!rc && renamed &&
        (rc = find_user(app, rows, n, id, cur->name, user, sizeof user, err)) == 0 && user[0])
        rc = hk_err_setf(err, HK_E(CONFLICT), "name",
                         "%s uses this tag through has_tag(\"%s\"); change it before renaming",
                         user, cur->name);
    if (!rc && rule)
        rc = check_cycle(rows, n, id, name, expr, err);
    if (!rc && rule && in->expression)
        rc = app->engine ? compile_rule(app, expr, NULL, where, err) : no_engine(err);
    if (!rc) {
        struct hk_tag_row row = *cur;
        row.name = (char *)name;
        row.expression = rule ? (char *)expr : NULL;
        if (in->color)
            row.color = (char *)in->color;
        if (in->description)
            row.description = (char *)in->description;
        struct update_ctx c = {&row, renamed, hk_clock_now(&app->clock)};
        rc = in_tx(app, do_update, &c, err);
    }
    if (!rc) {
        engine_follow(app);
        char target[48];
        snprintf(target, sizeof target, "tag:%lld", (long long)id);
        audit(app, actor, "tag.update", target, name, NULL, 0, NULL, 0);
    }
    hk_tag_rows_free(rows, n);
    return rc ? rc : hk_tags_get(app, id, out, err);
}

struct delete_ctx {
    int64_t id;
    size_t untagged;
};

static int do_delete(struct hk_db *db, void *ctx, struct hk_err *err)
{
    struct delete_ctx *c = ctx;
    return hk_tags_repo_delete(db, c->id, &c->untagged, err);
}

int hk_tags_delete(struct hk_app *app, const struct hk_actor *actor, int64_t id, struct hk_err *err)
{
    struct hk_tag_row *rows = NULL;
    size_t n = 0;
    int rc = list_rows(app, &rows, &n, err);
    if (rc)
        return rc;
    const struct hk_tag_row *cur = NULL;
    for (size_t i = 0; i < n; i++)
        if (rows[i].id == id)
            cur = &rows[i];
    char user[HK_TAG_NAME_MAX + 32];
    char name[HK_TAG_NAME_MAX + 1] = "";
    if (!cur)
        rc = hk_err_set(err, HK_E(NOTFOUND), "no tag %lld", (long long)id);
    else if ((rc = find_user(app, rows, n, id, cur->name, user, sizeof user, err)) == 0 && user[0])
        rc = hk_err_setf(err, HK_E(CONFLICT), "name",
                         "%s uses this tag through has_tag(\"%s\"); change it first", user,
                         cur->name);
    if (cur)
        hk_strlcpy(name, cur->name, sizeof name);
    hk_tag_rows_free(rows, n);
    struct delete_ctx c = {id, 0};
    if (!rc)
        rc = in_tx(app, do_delete, &c, err);
    if (rc)
        return rc;
    engine_follow(app);
    char target[48];
    snprintf(target, sizeof target, "tag:%lld", (long long)id);
    audit(app, actor, "tag.delete", target, name, "untagged", (int64_t)c.untagged, NULL, 0);
    return 0;
}

/* ---- manual tagging ------------------------------------------------------------------------- */

/* The live members of an expression (saved-segment resolver), ids into *ids (new). */
static int members_of(struct hk_app *app, const char *expr, int64_t **ids, size_t *n,
                      struct hk_segment_error *where, struct hk_err *err)
{
    struct hk_saved_segments *saved = NULL;
    int rc = hk_saved_segments_load(app, &saved, err);
    if (rc)
        return rc;
    int64_t now = hk_clock_now(&app->clock);
    const struct hk_engine *e = hk_engine_svc_read(app->engine);
    struct hk_segment *seg = NULL;
    uint64_t *bits = NULL;
    int64_t *out = NULL;
    size_t count = 0, k = 0;
    rc = hk_segment_compile(e, expr, hk_saved_segments_resolver(saved), &seg, err);
    if (rc == HK_E(INVAL))
        hk_segment_error_parse(hk_err_message(err), where);
    size_t words = hk_segment_words(e);
    if (!rc && !(bits = malloc(words * sizeof(*bits))))
        rc = nomem(err);
    if (!rc)
        rc = hk_segment_eval(e, seg, now, bits, &count, err);
    if (!rc && !(out = malloc((count ? count : 1) * sizeof(*out))))
        rc = nomem(err);
    for (size_t w = 0; !rc && w < words; w++)
        for (uint64_t b = bits[w]; b && k < count; b &= b - 1)
            out[k++] = hk_engine_row_id(e, w * 64 + (size_t)__builtin_ctzll(b));
    hk_engine_svc_read_end(app->engine);
    hk_segment_free(seg);
    hk_saved_segments_free(saved);
    free(bits);
    if (rc) {
        free(out);
        return rc;
    }
    *ids = out;
    *n = k;
    return 0;
}

struct apply_ctx {
    int64_t tag_id;
    const int64_t *ids;
    size_t n, added;
    int64_t now;
};

static int do_apply(struct hk_db *db, void *ctx, struct hk_err *err)
{
    struct apply_ctx *c = ctx;
    return hk_tags_repo_add_many(db, c->tag_id, c->ids, c->n, c->now, &c->added, err);
}

static int manual_only(const struct hk_tag_row *t, struct hk_err *err)
{
    if (strcmp(t->kind, "manual") == 0)
        return 0;
    return hk_err_setf(err, HK_E(CONFLICT), "tag",
                       "\"%s\" is a %s tag: its customers follow from its expression, not by hand",
                       t->name, t->kind);
}

int hk_tags_apply(struct hk_app *app, const struct hk_actor *actor, int64_t id, int64_t segment_id,
                  const char *expression, struct hk_segment_error *where, size_t *applied,
                  size_t *added, struct hk_err *err)
{
    if (where)
        memset(where, 0, sizeof *where);
    if (!app->engine)
        return no_engine(err);
    if ((segment_id > 0) == (expression && expression[0]))
        return hk_err_setf(err, HK_E(INVAL), "segment_id", "give either segment_id or expression");
    struct hk_tag_row t;
    struct hk_db *db;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc)
        return rc;
    rc = hk_tags_repo_get(db, id, &t, err);
    hk_db_release(db);
    if (rc)
        return rc;
    struct hk_segment_row seg = {0};
    if ((rc = manual_only(&t, err)) == 0 && segment_id > 0 &&
        (rc = hk_segments_get(app, segment_id, &seg, err)) == 0)
        expression = seg.expression;
    int64_t *ids = NULL;
    size_t n = 0;
    if (!rc)
        rc = members_of(app, expression, &ids, &n, where, err);
    struct apply_ctx c = {id, ids, n, 0, hk_clock_now(&app->clock)};
    if (!rc)
        rc = in_tx(app, do_apply, &c, err);
    if (!rc) {
        char target[48];
        snprintf(target, sizeof target, "tag:%lld", (long long)id);
        audit(app, actor, "tag.apply", target, t.name, segment_id > 0 ? "segment_id" : "applied",
              segment_id > 0 ? segment_id : (int64_t)n, segment_id > 0 ? "applied" : "added",
              segment_id > 0 ? (int64_t)n : (int64_t)c.added);
        *applied = n;
        *added = c.added;
    }
    free(ids);
    hk_segment_row_release(&seg);
    hk_tag_row_release(&t);
    return rc;
}

struct cust_ctx {
    int64_t id;       /* in: asked; out: survivor */
    const char *name; /* add: by name */
    int64_t tag_id;   /* remove: by id; add: out */
    int64_t now;
    bool created, changed;
    char kind[16];
};

static int do_customer_add(struct hk_db *db, void *ctx, struct hk_err *err)
{
    struct cust_ctx *c = ctx;
    int rc = hk_tags_repo_survivor(db, c->id, &c->id, err);
    if (rc)
        return rc;
    struct hk_tag_row t;
    rc = hk_tags_repo_find(db, c->name, &t, err);
    if (rc == HK_E(NOTFOUND)) {
        struct hk_tag_row row = {0, (char *)c->name, "manual", NULL, "", "", NULL, 0, 0};
        if ((rc = hk_tags_repo_insert(db, &row, c->now, &c->tag_id, err)) != 0)
            return rc;
        c->created = true;
    } else if (rc) {
        return rc;
    } else {
        c->tag_id = t.id;
        rc = manual_only(&t, err);
        hk_tag_row_release(&t);
        if (rc)
            return rc;
    }
    return hk_tags_repo_add(db, c->id, c->tag_id, c->now, &c->changed, err);
}

int hk_tags_customer_add(struct hk_app *app, const struct hk_actor *actor, int64_t id,
                         const char *name, int64_t *customer_id, struct hk_err *err)
{
    int rc = check_name(name, err);
    if (rc)
        return rc;
    struct cust_ctx c = {.id = id, .name = name, .now = hk_clock_now(&app->clock)};
    if ((rc = in_tx(app, do_customer_add, &c, err)) != 0)
        return rc;
    if (c.created)
        engine_follow(app); /* the new name, for has_tag, at once */
    char target[48];
    snprintf(target, sizeof target, "customer:%lld", (long long)c.id);
    audit(app, actor, "customer.tag_add", target, name, "tag_id", c.tag_id, "created", c.created);
    *customer_id = c.id;
    return 0;
}

static int do_customer_remove(struct hk_db *db, void *ctx, struct hk_err *err)
{
    struct cust_ctx *c = ctx;
    int rc = hk_tags_repo_survivor(db, c->id, &c->id, err);
    if (rc)
        return rc;
    struct hk_tag_row t;
    if ((rc = hk_tags_repo_get(db, c->tag_id, &t, err)) != 0)
        return rc;
    rc = manual_only(&t, err);
    hk_tag_row_release(&t);
    return rc ? rc : hk_tags_repo_remove(db, c->id, c->tag_id, &c->changed, err);
}

int hk_tags_customer_remove(struct hk_app *app, const struct hk_actor *actor, int64_t id,
                            int64_t tag_id, int64_t *customer_id, struct hk_err *err)
{
    struct cust_ctx c = {.id = id, .tag_id = tag_id, .now = hk_clock_now(&app->clock)};
    int rc = in_tx(app, do_customer_remove, &c, err);
    if (rc)
        return rc;
    char target[48];
    snprintf(target, sizeof target, "customer:%lld", (long long)c.id);
    audit(app, actor, "customer.tag_remove", target, NULL, "tag_id", tag_id, "removed", c.changed);
    *customer_id = c.id;
    return 0;
}

/* ---- a customer's tags ---------------------------------------------------------------------- */

static int cmp_tag_name(const void *a, const void *b)
{
    const struct hk_customer_tag *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->id > y->id) - (x->id < y->id);
}

/* Rule tags (id, name, color) from the store, for matching against the engine. */
static int rule_rows(struct hk_app *app, struct hk_tag_row **rows, size_t *n, struct hk_err *err)
{
    struct hk_tag_row *all = NULL;
    size_t na = 0, k = 0;
    int rc = list_rows(app, &all, &na, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < na; i++) {
        if (strcmp(all[i].kind, "rule") == 0)
            all[k++] = all[i];
        else
            hk_tag_row_release(&all[i]);
    }
    *rows = all;
    *n = k;
    return 0;
}

int hk_tags_add_rule_tags(struct hk_app *app, int64_t id, struct hk_customer_tag **tags, size_t *n,
                          struct hk_err *err)
{
    if (!app->engine)
        return 0;
    struct hk_tag_row *rules = NULL;
    size_t nr = 0;
    int rc = rule_rows(app, &rules, &nr, err);
    if (rc)
        return rc;
    struct hk_customer_tag *v = realloc(*tags, (*n + nr + 1) * sizeof(*v));
    if (!v) {
        hk_tag_rows_free(rules, nr);
        return nomem(err);
    }
    size_t k = *n;
    const struct hk_engine *e = hk_engine_svc_read(app->engine);
    for (size_t i = 0; i < nr; i++) {
        uint32_t t = hk_engine_dict_find(e, HK_DICT_TAG, rules[i].name, strlen(rules[i].name));
        if (t == HK_ENGINE_NONE || !hk_engine_tag_has(e, t, id))
            continue;
        struct hk_customer_tag *ct = &v[k++];
        memset(ct, 0, sizeof *ct);
        ct->id = rules[i].id;
        hk_strlcpy(ct->name, rules[i].name, sizeof ct->name);
        hk_strlcpy(ct->kind, "rule", sizeof ct->kind);
        hk_strlcpy(ct->source, "rule", sizeof ct->source);
        hk_strlcpy(ct->color, rules[i].color, sizeof ct->color);
    }
    hk_engine_svc_read_end(app->engine);
    hk_tag_rows_free(rules, nr);
    qsort(v, k, sizeof *v, cmp_tag_name);
    *tags = v;
    *n = k;
    return 0;
}

struct of_ctx {
    struct hk_customer_tag *v;
    size_t n, cap;
};

static int of_cb(void *ctx, const struct hk_tag_of *t, struct hk_err *err)
{
    struct of_ctx *c = ctx;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 8;
        struct hk_customer_tag *p = realloc(c->v, nc * sizeof(*p));
        if (!p)
            return nomem(err);
        c->v = p;
        c->cap = nc;
    }
    struct hk_customer_tag *ct = &c->v[c->n++];
    memset(ct, 0, sizeof *ct);
    ct->id = t->tag_id;
    hk_strlcpy(ct->name, t->name, sizeof ct->name);
    hk_strlcpy(ct->kind, t->kind, sizeof ct->kind);
    hk_strlcpy(ct->source, t->source, sizeof ct->source);
    hk_strlcpy(ct->color, t->color, sizeof ct->color);
    ct->created_at = t->tagged_at;
    return 0;
}

int hk_tags_of_customer(struct hk_app *app, int64_t id, struct hk_customer_tag **out, size_t *n,
                        struct hk_err *err)
{
    struct of_ctx c = {0};
    struct hk_db *db;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc)
        return rc;
    rc = hk_tags_repo_of_customers(db, &id, 1, of_cb, &c, err);
    hk_db_release(db);
    if (!rc)
        rc = hk_tags_add_rule_tags(app, id, &c.v, &c.n, err);
    if (rc) {
        free(c.v);
        return rc;
    }
    *out = c.v;
    *n = c.n;
    return 0;
}

void hk_tags_names_free(char **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        free(list[i]);
    free(list);
}

struct names_ctx {
    const int64_t *ids;
    size_t n;
    char ***lists;
    size_t *counts;
};

static int push_name(char ***list, size_t *count, const char *name, struct hk_err *err)
{
    char **p = realloc(*list, (*count + 1) * sizeof(*p));
    if (!p)
        return nomem(err);
    *list = p;
    if (!(p[*count] = strdup(name)))
        return nomem(err);
    (*count)++;
    return 0;
}

static int names_cb(void *ctx, const struct hk_tag_of *t, struct hk_err *err)
{
    struct names_ctx *c = ctx;
    for (size_t i = 0; i < c->n; i++)
        if (c->ids[i] == t->customer_id) {
            int rc = push_name(&c->lists[i], &c->counts[i], t->name, err);
            if (rc)
                return rc;
        }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int hk_tags_names_of(struct hk_app *app, const int64_t *ids, size_t n, char ***lists,
                     size_t *counts, struct hk_err *err)
{
    for (size_t i = 0; i < n; i++) {
        lists[i] = NULL;
        counts[i] = 0;
    }
    if (n == 0)
        return 0;
    struct names_ctx c = {ids, n, lists, counts};
    struct hk_db *db;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc)
        return rc;
    rc = hk_tags_repo_of_customers(db, ids, n, names_cb, &c, err);
    hk_db_release(db);
    struct hk_tag_row *rules = NULL;
    size_t nr = 0;
    if (!rc && app->engine && (rc = rule_rows(app, &rules, &nr, err)) == 0 && nr) {
        const struct hk_engine *e = hk_engine_svc_read(app->engine);
        for (size_t r = 0; r < nr && !rc; r++) {
            uint32_t t = hk_engine_dict_find(e, HK_DICT_TAG, rules[r].name, strlen(rules[r].name));
            for (size_t i = 0; t != HK_ENGINE_NONE && i < n && !rc; i++)
                if (hk_engine_tag_has(e, t, ids[i]))
                    rc = push_name(&lists[i], &counts[i], rules[r].name, err);
        }
        hk_engine_svc_read_end(app->engine);
    }
    hk_tag_rows_free(rules, nr);
    for (size_t i = 0; i < n; i++) {
        if (rc) {
            hk_tags_names_free(lists[i], counts[i]);
            lists[i] = NULL;
            counts[i] = 0;
        } else if (counts[i] > 1) {
            qsort(lists[i], counts[i], sizeof(char *), cmp_str);
        }
    }
    return rc;
}

/* ---- presets -------------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* 高客单价's threshold in yuan: the 80th percentile of the buyers' AOV, rounded down to two
 * significant figures, when there are at least 50 buyers; else 500 yuan. */
static int64_t high_aov_yuan(struct hk_app *app)
{
    if (!app->engine)
        return 500;
    int64_t now = hk_clock_now(&app->clock);
    const struct hk_engine *e = hk_engine_svc_read(app->engine);
    size_t rows = hk_engine_rows(e), n = 0;
    double *v = malloc((rows ? rows : 1) * sizeof(*v));
    for (size_t r = 0; v && r < rows; r++) {
        struct hk_engine_aggregates a;
        struct hk_err ignore;
        if (hk_engine_customer_get(e, hk_engine_row_id(e, r), now, &a, &ignore) == 0 && a.live &&
            a.has_recency)
            v[n++] = a.aov_fen / 100.0;
    }
    hk_engine_svc_read_end(app->engine);
    int64_t yuan = 500;
    if (v && n >= 50) {
        qsort(v, n, sizeof *v, cmp_double);
        double p80 = v[(size_t)((double)n * 0.8)];
        double scale = 1;
        while (p80 / scale >= 100)
            scale *= 10;
        yuan = (int64_t)(floor(p80 / scale) * scale);
        if (yuan < 1)
            yuan = 1;
    }
    free(v);
    return yuan;
}

/* Claims key and creates the tag (a name already taken keeps the claim: no tag is made). */
struct preset_ctx {
    const char *key;
    struct hk_tag_row row;
    int64_t now;
    bool made;
};

static int do_preset(struct hk_db *db, void *ctx, struct hk_err *err)
{
    struct preset_ctx *c = ctx;
    bool claimed = false;
    int rc = hk_tags_repo_preset_claim(db, c->key, c->now, &claimed, err);
    if (rc || !claimed)
        return rc;
    int64_t id = 0;
    if ((rc = hk_db_savepoint(db, "preset_tag", err)) != 0)
        return rc;
    rc = hk_tags_repo_insert(db, &c->row, c->now, &id, err);
    if (rc == HK_E(CONFLICT)) { /* staff made a tag of that name: theirs stays */
        if ((rc = hk_db_savepoint_rollback(db, "preset_tag", err)) != 0)
            return rc;
    } else if (rc) {
        return rc;
    } else {
        c->made = true;
    }
    return hk_db_savepoint_release(db, "preset_tag", err);
}

static int make_preset(struct hk_app *app, const char *key, const char *name, const char *expr,
                       const char *color, const char *desc, size_t *made, struct hk_err *err)
{
    bool seen = false;
    struct hk_db *db;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc)
        return rc;
    rc = hk_tags_repo_preset_seen(db, key, &seen, err); /* the common case: no write at all */
    hk_db_release(db);
    if (rc || seen)
        return rc;
    struct preset_ctx c = {
        key,
        {0, (char *)name, "rule", (char *)expr, (char *)color, (char *)desc, (char *)key, 0, 0},
        hk_clock_now(&app->clock),
        false};
    if ((rc = in_tx(app, do_preset, &c, err)) != 0)
        return rc;
    *made += c.made;
    return 0;
}

/* Appends s as a segment-language string literal (double quotes, \ and " escaped). */
static void quote(char *out, size_t size, const char *s)
{
    size_t k = 0;
    if (size < 3)
        return;
    out[k++] = '"';
    for (; *s && k + 3 < size; s++) {
        if (*s == '"' || *s == '\\')
            out[k++] = '\\';
        out[k++] = *s;
    }
    out[k++] = '"';
    out[k] = '\0';
}

/* The part of a category after its last '/' ("女装/连衣裙" -> "连衣裙"). */
static const char *leaf(const char *cat)
{
    const char *p = strrchr(cat, '/');
    return p && p[1] ? p + 1 : cat;
}

struct cat_count {
    char *name;
    uint64_t buyers;
};

static int cmp_cat(const void *a, const void *b)
{
    const struct cat_count *x = a, *y = b;
    if (x->buyers != y->buyers)
        return x->buyers > y->buyers ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int category_presets(struct hk_app *app, size_t *made, struct hk_err *err)
{
    const struct hk_engine *e = hk_engine_svc_read(app->engine);
    uint32_t nc = hk_engine_dict_size(e, HK_DICT_CATEGORY);
    uint64_t *counts = calloc(nc ? nc : 1, sizeof *counts);
    struct cat_count *cats = calloc(nc ? nc : 1, sizeof *cats);
    size_t k = 0;
    int rc = counts && cats ? 0 : nomem(err);
    if (!rc)
        hk_engine_main_category_counts(e, counts, nc);
    for (uint32_t c = 0; !rc && c < nc; c++) {
        if (!counts[c])
            continue;
        cats[k].buyers = counts[c];
        if (!(cats[k++].name = strdup(hk_engine_dict_name(e, HK_DICT_CATEGORY, c))))
            rc = nomem(err);
    }
    hk_engine_svc_read_end(app->engine);
    free(counts);
    if (!rc)
        qsort(cats, k, sizeof *cats, cmp_cat);
    size_t use = k < PRESET_CATEGORIES_MAX ? k : PRESET_CATEGORIES_MAX;
    for (size_t i = 0; !rc && i < use; i++) {
        const char *base = leaf(cats[i].name);
        for (size_t j = 0; j < use; j++) /* two categories with one leaf: use the full names */
            if (j != i && strcmp(leaf(cats[j].name), base) == 0)
                base = cats[i].name;
        char key[HK_TAG_NAME_MAX + 32], name[HK_TAG_NAME_MAX + 32], expr[2 * HK_TAG_NAME_MAX + 64],
            lit[2 * HK_TAG_NAME_MAX + 8], desc[HK_TAG_NAME_MAX + 128];
        if (strlen(cats[i].name) > HK_TAG_NAME_MAX - 16)
            continue; /* its name would not fit */
        snprintf(key, sizeof key, "category:%s", cats[i].name);
        snprintf(name, sizeof name, "%s爱好者", base);
        quote(lit, sizeof lit, cats[i].name);
        snprintf(expr, sizeof expr, "main_category = %s", lit);
        snprintf(desc, sizeof desc, "花钱最多的品类是「%s」的买家", cats[i].name);
        rc = make_preset(app, key, name, expr, "#409eff", desc, made, err);
    }
    for (size_t i = 0; i < k; i++)
        free(cats[i].name);
    free(cats);
    return rc;
}

int hk_tags_presets_ensure(struct hk_app *app, size_t *created, struct hk_err *err)
{
    size_t made = 0;
    char aov[64], aov_desc[256];
    int64_t yuan = high_aov_yuan(app);
    snprintf(aov, sizeof aov, "aov >= %lld", (long long)yuan);
    snprintf(aov_desc, sizeof aov_desc,
             "客单价（每单平均实付）不低于 %lld 元的买家（建立时买家客单价的第 80 百分位）",
             (long long)yuan);
    const struct {
        const char *key, *name, *expr, *color, *desc;
    } fixed[] = {
        {"high_aov", "高客单价", aov, "#e6a23c", aov_desc},
        {"frequent", "高频复购", "frequency >= 3", "#67c23a", "至少 3 笔计入订单的买家"},
        {"coupon", "优惠券敏感", "coupon_use_rate >= 0.5 and frequency >= 2", "#f56c6c",
         "活动敏感型：至少 2 笔订单，且一半以上用了优惠券"},
        {"sleeping", "沉睡客户", "recency_days >= 180", "#909399",
         "买过，但最近 180 天（店铺时区的日历日）没有计入订单"},
        {"new", "新客", "first_order_days < 30", "#67c23a", "第一笔计入订单在最近 30 天内"},
    };
    int rc = 0;
    for (size_t i = 0; i < HK_ARRAY_LEN(fixed) && !rc; i++)
        rc = make_preset(app, fixed[i].key, fixed[i].name, fixed[i].expr, fixed[i].color,
                         fixed[i].desc, &made, err);
    if (!rc && app->engine)
        rc = category_presets(app, &made, err);
    if (!rc && made)
        engine_follow(app);
    if (created)
        *created = made;
    return rc;
}

/* ---- watching for new main categories ------------------------------------------------------- */

struct hk_tags_watch {
    struct hk_app *app;
    pthread_mutex_t mu;
    uint8_t *checked; /* per category id: its preset was looked at since it had buyers */
    uint32_t ncat;    /* entries in checked */
    bool busy, stopped;
};

/* A category that has become some buyer's main category since the last look? (read lock) */
static bool new_main_category(struct hk_tags_watch *w, const struct hk_engine *e)
{
    uint32_t nc = hk_engine_dict_size(e, HK_DICT_CATEGORY);
    uint64_t *counts = calloc(nc ? nc : 1, sizeof *counts);
    if (!counts)
        return false;
    hk_engine_main_category_counts(e, counts, nc);
    bool fresh = false;
    for (uint32_t c = 0; c < nc && !fresh; c++)
        fresh = counts[c] && (c >= w->ncat || !w->checked[c]);
    if (fresh) { /* category_presets looks at every one of them now */
        uint8_t *p = realloc(w->checked, nc ? nc : 1);
        if (p) {
            for (uint32_t c = 0; c < nc; c++)
                p[c] = counts[c] > 0 || (c < w->ncat && p[c]);
            w->checked = p;
            w->ncat = nc;
        }
    }
    free(counts);
    return fresh;
}

/* After engine changes: one pass over the main-category column (about 1 ms per million
 * customers, under the read lock), so a category gets its preset with its first main buyer. */
static void watch_cb(void *ctx)
{
    struct hk_tags_watch *w = ctx;
    pthread_mutex_lock(&w->mu);
    bool look = !w->busy;
    w->busy = true;
    pthread_mutex_unlock(&w->mu);
    if (!look)
        return;
    const struct hk_engine *e = hk_engine_svc_read(w->app->engine);
    bool run = new_main_category(w, e);
    hk_engine_svc_read_end(w->app->engine);
    if (run) {
        struct hk_err err;
        hk_err_clear(&err);
        size_t made = 0;
        if (category_presets(w->app, &made, &err) != 0)
            hk_log_kv(&w->app->log, HK_LOG_WARN, "tags.presets_failed", NULL, "error",
                      hk_err_message(&err), (const char *)NULL);
        else if (made)
            engine_follow(w->app);
    }
    pthread_mutex_lock(&w->mu);
    w->busy = false;
    pthread_mutex_unlock(&w->mu);
}

int hk_tags_watch_start(struct hk_app *app, struct hk_tags_watch **out, struct hk_err *err)
{
    *out = NULL;
    if (!app->engine)
        return no_engine(err);
    struct hk_tags_watch *w = calloc(1, sizeof *w);
    if (!w)
        return nomem(err);
    w->app = app;
    pthread_mutex_init(&w->mu, NULL);
    const struct hk_engine *e = hk_engine_svc_read(app->engine);
    (void)new_main_category(w, e); /* hk_tags_presets_ensure has just looked at these */
    hk_engine_svc_read_end(app->engine);
    if (hk_engine_svc_on_change(app->engine, watch_cb, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        free(w);
        return hk_err_set(err, HK_E(NOMEM), "too many engine listeners");
    }
    *out = w;
    return 0;
}

void hk_tags_watch_stop(struct hk_tags_watch *w)
{
    if (!w || w->stopped)
        return;
    hk_engine_svc_off_change(w->app->engine, watch_cb, w);
    w->stopped = true;
}

void hk_tags_watch_free(struct hk_tags_watch *w)
{
    if (!w)
        return;
    hk_tags_watch_stop(w);
    pthread_mutex_destroy(&w->mu);
    free(w->checked);
    free(w);
}
