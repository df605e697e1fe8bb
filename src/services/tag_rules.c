/*
 * tag_rules.c — rule tags evaluated into the engine's tag bitmaps (tag_rules.h).
 *
 * A hk_tag_rules is a snapshot of the tags table (every name; the rule tags with their
 * expressions, ordered so that a rule comes after the rule tags it names through has_tag) and of
 * the saved segments (in_segment resolves through them as everywhere else). Derive compiles each
 * rule against the engine, evaluates it into one scratch bitmap and hands the bitmap to the
 * engine (hk_engine_tag_assign). Compiling every time is cheap (microseconds) and keeps nothing
 * tied to one engine, so the same snapshot serves a freshly loaded engine before a swap.
 */
#include "services/tag_rules.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/util.h"
#include "engine/engine.h"
#include "engine/segment.h"
#include "services/app.h"
#include "services/segments.h"
#include "store/store.h"
#include "store/tags_repo.h"

struct rule {
    char *name, *expr; /* owned */
};

struct hk_tag_rules {
    struct rule *rules; /* evaluation order */
    size_t n;
    uint64_t *bits; /* eval's results: n bitmaps of words words each (reused) */
    size_t words;
    bool *ok;     /* per rule: compiled and evaluated */
    int levels;   /* the longest chain of rules naming rule tags (1: no rule names another) */
    char **names; /* every tag, manual ones included (owned) */
    size_t n_names;
    struct hk_saved_segments *saved;
};

/* ---- has_tag references ------------------------------------------------------------------- */

static bool ident_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c >= 0x80;
}

/* Skips a quoted string at p (p at the quote); copies its value into buf when buf != NULL. */
static const char *skip_string(const char *p, char *buf, size_t size, size_t *len)
{
    char quote = *p++;
    size_t n = 0;
    for (; *p && *p != quote && *p != '\n'; p++) {
        if (*p == '\\' && (p[1] == '\\' || p[1] == '"' || p[1] == '\''))
            p++;
        if (buf && n + 1 < size)
            buf[n++] = *p;
    }
    if (buf)
        buf[n] = '\0';
    if (len)
        *len = n;
    return *p == quote ? p + 1 : p;
}

static const char *skip_space(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

void hk_tag_refs(const char *expr, void (*fn)(void *ctx, const char *name, size_t len), void *ctx)
{
    char buf[1024];
    const char *p = expr;
    while (*p) {
        if (*p == '"' || *p == '\'') {
            p = skip_string(p, NULL, 0, NULL);
        } else if (ident_char((unsigned char)*p)) {
            const char *s = p;
            while (ident_char((unsigned char)*p))
                p++;
            if ((size_t)(p - s) != 7 || memcmp(s, "has_tag", 7) != 0)
                continue;
            const char *q = skip_space(p);
            if (*q != '(')
                continue;
            q = skip_space(q + 1);
            if (*q != '"' && *q != '\'')
                continue;
            size_t len = 0;
            p = skip_string(q, buf, sizeof buf, &len);
            fn(ctx, buf, len);
        } else {
            p++;
        }
    }
}

struct has_ctx {
    const char *name;
    size_t len;
    bool hit;
};

static void has_cb(void *ctx, const char *name, size_t len)
{
    struct has_ctx *h = ctx;
    if (len == h->len && memcmp(name, h->name, len) == 0)
        h->hit = true;
}

bool hk_tag_refs_has(const char *expr, const char *name)
{
    struct has_ctx h = {name, strlen(name), false};
    hk_tag_refs(expr, has_cb, &h);
    return h.hit;
}

/* ---- loading -------------------------------------------------------------------------------- */

void hk_tag_rules_free(struct hk_tag_rules *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->rules[i].name);
        free(r->rules[i].expr);
    }
    free(r->rules);
    free(r->bits);
    free(r->ok);
    for (size_t i = 0; i < r->n_names; i++)
        free(r->names[i]);
    free(r->names);
    hk_saved_segments_free(r->saved);
    free(r);
}

size_t hk_tag_rules_count(const struct hk_tag_rules *r)
{
    return r ? r->n : 0;
}

const char *hk_tag_rules_name(const struct hk_tag_rules *r, size_t i)
{
    return r->rules[i].name;
}

int hk_tag_rules_levels(const struct hk_tag_rules *r)
{
    return r ? r->levels : 0;
}

/* Orders rules so that each follows the rule tags it names (depth-first; a cycle, which saving
 * refuses, is broken where it is met). */
struct order {
    const struct hk_tag_row *rows;
    size_t n;
    unsigned char *state; /* 0 new, 1 visiting, 2 done */
    size_t *out;
    size_t nout;
    int *depth; /* per row: 1 + the deepest rule tag it names (0: not visited) */
    int acc;    /* while visiting: the deepest dependency seen */
};

static void visit(struct order *o, size_t i);

struct dep_ctx {
    struct order *o;
};

static void dep_cb(void *ctx, const char *name, size_t len)
{
    struct order *o = ((struct dep_ctx *)ctx)->o;
    for (size_t j = 0; j < o->n; j++)
        if (strcmp(o->rows[j].kind, "rule") == 0 && strlen(o->rows[j].name) == len &&
            memcmp(o->rows[j].name, name, len) == 0) {
            visit(o, j);
            if (o->depth[j] > o->acc)
                o->acc = o->depth[j];
        }
}

static void visit(struct order *o, size_t i)
{
    if (o->state[i])
        return;
    o->state[i] = 1;
    int saved = o->acc;
    o->acc = 0;
    struct dep_ctx d = {o};
    hk_tag_refs(o->rows[i].expression, dep_cb, &d);
    o->depth[i] = o->acc + 1;
    o->acc = saved;
    o->state[i] = 2;
    o->out[o->nout++] = i;
}

/* Fills r (names, rules in evaluation order) from the tags rows. */
static int build(struct hk_tag_rules *r, const struct hk_tag_row *rows, size_t n,
                 struct hk_err *err)
{
    int rc = 0;
    struct order o = {rows, n, NULL, NULL, 0, NULL, 0};
    if (n) {
        o.state = calloc(n, 1);
        o.out = calloc(n, sizeof *o.out);
        o.depth = calloc(n, sizeof *o.depth);
        r->names = calloc(n, sizeof *r->names);
        r->rules = calloc(n, sizeof *r->rules);
        if (!o.state || !o.out || !o.depth || !r->names || !r->rules)
            rc = hk_err_set(err, HK_E(NOMEM), "out of memory");
    }
    for (size_t i = 0; !rc && i < n; i++) {
        if (!(r->names[r->n_names] = strdup(rows[i].name)))
            rc = hk_err_set(err, HK_E(NOMEM), "out of memory");
        else
            r->n_names++;
        if (!rc && strcmp(rows[i].kind, "rule") == 0)
            visit(&o, i);
    }
    for (size_t k = 0; !rc && k < o.nout; k++) {
        const struct hk_tag_row *t = &rows[o.out[k]];
        struct rule *ru = &r->rules[r->n];
        ru->name = strdup(t->name);
        ru->expr = strdup(t->expression);
        r->n++;
        if (o.depth[o.out[k]] > r->levels)
            r->levels = o.depth[o.out[k]];
        if (!ru->name || !ru->expr)
            rc = hk_err_set(err, HK_E(NOMEM), "out of memory");
    }
    free(o.state);
    free(o.out);
    free(o.depth);
    return rc;
}

int hk_tag_rules_load(struct hk_app *app, struct hk_tag_rules **out, struct hk_err *err)
{
    struct hk_tag_rules *r = calloc(1, sizeof *r);
    if (!r)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    struct hk_tag_row *rows = NULL;
    size_t n = 0;
    struct hk_db *db;
    int rc = hk_db_acquire(app->store, &db, err);
    if (!rc) {
        rc = hk_tags_repo_list(db, &rows, &n, err);
        hk_db_release(db);
    }
    if (!rc)
        rc = hk_saved_segments_load(app, &r->saved, err);
    if (!rc)
        rc = build(r, rows, n, err);
    hk_tag_rows_free(rows, n);
    if (rc) {
        hk_tag_rules_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int hk_tag_rules_from_rows(const struct hk_tag_row *rows, size_t n, struct hk_tag_rules **out,
                           struct hk_err *err)
{
    struct hk_tag_rules *r = calloc(1, sizeof *r);
    if (!r)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    int rc = build(r, rows, n, err);
    if (rc) {
        hk_tag_rules_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* ---- deriving ------------------------------------------------------------------------------- */

static bool is_rule(const struct hk_tag_rules *r, const char *name)
{
    for (size_t i = 0; r && i < r->n; i++)
        if (strcmp(r->rules[i].name, name) == 0)
            return true;
    return false;
}

static bool is_tag(const struct hk_tag_rules *r, const char *name)
{
    for (size_t i = 0; i < r->n_names; i++)
        if (strcmp(r->names[i], name) == 0)
            return true;
    return false;
}

/* For a rule that is exactly `main_category = "c"` (c plain: no escapes), c's category id, which
 * lets eval fill every such rule's bitmap in one pass; HK_ENGINE_NONE for anything else (and for
 * a category the engine does not know, whose compile error the general path reports). */
static uint32_t main_category_rule(const struct hk_engine *e, const char *expr)
{
    static const char field[] = "main_category";
    const char *p = skip_space(expr);
    if (strncmp(p, field, sizeof field - 1) != 0)
        return HK_ENGINE_NONE;
    p = skip_space(p + sizeof field - 1);
    if (*p != '=')
        return HK_ENGINE_NONE;
    p = skip_space(p + (p[1] == '=' ? 2 : 1));
    char quote = *p;
    if (quote != '"' && quote != '\'')
        return HK_ENGINE_NONE;
    const char *s = ++p;
    while (*p && *p != quote && *p != '\\' && *p != '\n')
        p++;
    if (*p != quote || p - s >= 1024 || *skip_space(p + 1))
        return HK_ENGINE_NONE;
    return hk_engine_dict_find(e, HK_DICT_CATEGORY, s, (size_t)(p - s));
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int hk_tag_rules_prepare(const struct hk_tag_rules *r, const struct hk_tag_rules *prev,
                         struct hk_engine *e, size_t *changed, struct hk_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < r->n_names && !rc; i++)
        rc = hk_engine_tag_define(e, r->names[i], err);
    for (size_t i = 0; prev && i < prev->n && !rc; i++) { /* rule tags gone or renamed */
        const char *name = prev->rules[i].name;
        if (!is_rule(r, name) && !is_tag(r, name)) {
            bool ch = false;
            rc = hk_engine_tag_assign(e, name, NULL, 0, &ch, err);
            if (changed)
                *changed += ch;
        }
    }
    /* tags gone from the store (deleted, renamed away) become unknown names: dictionaries never
     * shrink, so the engine retires them (has_tag() of one fails, suggestions skip it) */
    uint32_t nt = rc ? 0 : hk_engine_dict_size(e, HK_DICT_TAG);
    bool *named = nt ? calloc(nt, sizeof(*named)) : NULL;
    if (nt && !named)
        rc = hk_err_set(err, HK_E(NOMEM), "out of memory");
    for (size_t i = 0; named && i < r->n_names; i++) {
        uint32_t t = hk_engine_dict_find(e, HK_DICT_TAG, r->names[i], strlen(r->names[i]));
        if (t < nt)
            named[t] = true;
    }
    for (uint32_t t = 0; named && t < nt && !rc; t++) {
        const char *name = hk_engine_dict_name(e, HK_DICT_TAG, t);
        if (!named[t] && name)
            rc = hk_engine_tag_retire(e, name, err);
    }
    free(named);
    return rc;
}

int hk_tag_rules_eval(struct hk_tag_rules *r, const struct hk_engine *e, int64_t now,
                      struct hk_tag_rules_result *res, struct hk_err *err)
{
    int64_t t0 = mono_us();
    size_t words = hk_segment_words(e);
    if (r->n && (words != r->words || !r->bits)) {
        uint64_t *b = realloc(r->bits, r->n * words * sizeof(*b));
        if (!b)
            return hk_err_set(err, HK_E(NOMEM), "out of memory evaluating rule tags");
        r->bits = b;
        r->words = words;
    }
    if (r->n && !r->ok && !(r->ok = calloc(r->n, sizeof(*r->ok))))
        return hk_err_set(err, HK_E(NOMEM), "out of memory evaluating rule tags");
    const struct hk_segment_resolver *saved =
        r->saved ? hk_saved_segments_resolver(r->saved) : NULL;
    struct hk_tag_rules_result out = {0};
    /* the `main_category = "c"` rules (a preset per category): one pass fills them all */
    uint32_t *cats = r->n ? malloc(r->n * sizeof(*cats)) : NULL;
    uint64_t **dst = r->n ? malloc(r->n * sizeof(*dst)) : NULL;
    bool *batched = r->n ? calloc(r->n, sizeof(*batched)) : NULL;
    size_t nb = 0;
    int rc = r->n && (!cats || !dst || !batched)
                 ? hk_err_set(err, HK_E(NOMEM), "out of memory evaluating rule tags")
                 : 0;
    for (size_t i = 0; !rc && i < r->n; i++) {
        uint32_t c = main_category_rule(e, r->rules[i].expr);
        if (c == HK_ENGINE_NONE)
            continue;
        batched[i] = true;
        cats[nb] = c;
        dst[nb++] = r->bits + i * words;
    }
    if (!rc && nb)
        rc = hk_engine_main_category_bitmaps(e, cats, nb, dst, words, err);
    free(cats);
    free(dst);
    if (rc) {
        free(batched);
        return rc;
    }
    for (size_t i = 0; i < r->n; i++) {
        if (batched[i]) {
            r->ok[i] = true;
            out.rules++;
            continue;
        }
        struct hk_segment *seg = NULL;
        struct hk_err cerr;
        hk_err_clear(&cerr);
        /* a rule naming an earlier rule tag sees that tag's bitmap as the engine has it now;
         * assign installs them in order, and the next evaluation sees the new ones */
        r->ok[i] = hk_segment_compile(e, r->rules[i].expr, saved, &seg, &cerr) == 0 &&
                   hk_segment_eval(e, seg, now, r->bits + i * words, NULL, &cerr) == 0;
        hk_segment_free(seg);
        out.rules++;
        out.failed += !r->ok[i];
    }
    free(batched);
    out.us = mono_us() - t0;
    if (res)
        *res = out;
    return 0;
}

int hk_tag_rules_assign(struct hk_tag_rules *r, struct hk_engine *e,
                        struct hk_tag_rules_result *res, struct hk_err *err)
{
    int64_t t0 = mono_us();
    int rc = 0;
    for (size_t i = 0; i < r->n && !rc; i++) {
        bool changed = false;
        rc = hk_engine_tag_assign(e, r->rules[i].name, r->ok[i] ? r->bits + i * r->words : NULL,
                                  r->ok[i] ? r->words : 0, &changed, err);
        if (res)
            res->changed += changed;
    }
    if (res)
        res->us += mono_us() - t0;
    return rc;
}

int hk_tag_rules_derive(struct hk_tag_rules *r, const struct hk_tag_rules *prev,
                        struct hk_engine *e, int64_t now, struct hk_tag_rules_result *res,
                        struct hk_err *err)
{
    struct hk_tag_rules_result out = {0};
    size_t changed = 0;
    int rc = hk_tag_rules_prepare(r, prev, e, &changed, err);
    /* evaluation reads the rule tags as installed, so a rule naming a rule tag sees its new
     * members one pass later: `levels` passes settle every chain (one when none nests) */
    for (int pass = 0; pass < (r->levels > 1 ? r->levels : 1) && !rc; pass++) {
        struct hk_tag_rules_result one = {0};
        rc = hk_tag_rules_eval(r, e, now, &one, err);
        if (!rc)
            rc = hk_tag_rules_assign(r, e, &one, err);
        out.rules = one.rules;
        out.failed = one.failed;
        out.us += one.us;
        out.changed += one.changed;
        if (!rc && one.changed == 0)
            break;
    }
    out.changed += changed;
    if (res)
        *res = out;
    return rc;
}
