/*
 * names.c — completion names for the segment editor (names.h). Matching walks the dictionary
 * once (a few hundred thousand names at most: products), collecting borrowed pointers, then sorts
 * and copies the first `limit` before the read lock is released.
 */
#include "services/names.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "engine/engine.h"
#include "services/app.h"
#include "services/engine_svc.h"
#include "services/segments.h"

static const struct {
    const char *name;
    enum hk_dict_kind kind;
} kinds[] = {
    {"category", HK_DICT_CATEGORY},     {"product", HK_DICT_PRODUCT},   {"tag", HK_DICT_TAG},
    {"event_type", HK_DICT_EVENT_TYPE}, {"province", HK_DICT_PROVINCE}, {"city", HK_DICT_CITY},
    {"channel", HK_DICT_CHANNEL},
};

void hk_names_free(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

struct match {
    const char *s;
    bool prefix;
};

static int by_rank(const void *a, const void *b)
{
    const struct match *x = a, *y = b;
    if (x->prefix != y->prefix)
        return x->prefix ? -1 : 1;
    return strcmp(x->s, y->s);
}

/* True when hay contains needle (ASCII case-insensitively) somewhere after its start. */
static bool contains_later(const char *hay, const char *needle, size_t nlen)
{
    for (const char *p = hay + 1; *p; p++)
        if (strncasecmp(p, needle, nlen) == 0)
            return true;
    return false;
}

/* Copies the first limit candidates, in their order, into *out. */
static int copy_first(const struct match *m, size_t nm, size_t limit, char ***out, size_t *n,
                      struct hk_err *err)
{
    size_t k = nm < limit ? nm : limit;
    char **names = calloc(k ? k : 1, sizeof *names);
    if (!names)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    for (size_t i = 0; i < k; i++)
        if (!(names[i] = strdup(m[i].s))) {
            hk_names_free(names, i);
            return hk_err_set(err, HK_E(NOMEM), "out of memory");
        }
    *out = names;
    *n = k;
    return 0;
}

/* Ranks the candidates and copies the first limit into *out. */
static int pick(struct match *m, size_t nm, size_t limit, char ***out, size_t *n,
                struct hk_err *err)
{
    qsort(m, nm, sizeof *m, by_rank);
    return copy_first(m, nm, limit, out, n, err);
}

/* Appends s to m when it matches q; *nm counts. */
static void consider(struct match *m, size_t *nm, const char *s, const char *q, size_t qlen)
{
    if (!s || !*s)
        return;
    if (qlen == 0 || strncasecmp(s, q, qlen) == 0)
        m[(*nm)++] = (struct match){s, true};
    else if (contains_later(s, q, qlen))
        m[(*nm)++] = (struct match){s, false};
}

int hk_names_list(struct hk_app *app, const char *kind, const char *q, size_t limit, char ***out,
                  size_t *n, struct hk_err *err)
{
    if (limit == 0 || limit > HK_NAMES_LIMIT_MAX)
        limit = limit ? HK_NAMES_LIMIT_MAX : 20;
    if (!q)
        q = "";
    size_t qlen = strlen(q);
    if (kind && strcmp(kind, "segment") == 0) {
        struct hk_segment_row *rows = NULL;
        size_t nr = 0;
        int rc = hk_segments_list(app, &rows, &nr, err);
        if (rc)
            return rc;
        struct match *m = calloc(nr ? nr : 1, sizeof *m);
        if (!m) {
            hk_segment_rows_free(rows, nr);
            return hk_err_set(err, HK_E(NOMEM), "out of memory");
        }
        size_t nm = 0;
        for (size_t i = 0; i < nr; i++)
            consider(m, &nm, rows[i].name, q, qlen);
        rc = pick(m, nm, limit, out, n, err);
        free(m);
        hk_segment_rows_free(rows, nr);
        return rc;
    }
    if (kind && (strcmp(kind, "rfm_tier") == 0 || strcmp(kind, "rfm_segment") == 0)) {
        if (!app->engine)
            return hk_err_set(err, HK_E(UNAVAILABLE), "the customer engine is not running");
        /* the configured tiers (then the tier of the rest), or the eight classic segments */
        struct match m[HK_RFM_MAX_TIERS + HK_RFM_SEGMENTS + 1];
        size_t nm = 0;
        const struct hk_engine *e = hk_engine_svc_read(app->engine);
        if (kind[4] == 't') {
            const struct hk_rfm_config *c = hk_engine_rfm_config(e);
            for (size_t i = 0; i < c->n_tiers; i++)
                consider(m, &nm, c->tiers[i].name, q, qlen);
            consider(m, &nm, c->other_tier, q, qlen);
        } else {
            for (int i = 1; i <= HK_RFM_SEGMENTS; i++)
                consider(m, &nm, hk_rfm_segment_name(i), q, qlen);
        }
        /* in their own order (the tiers' rules, the segments' ids), not sorted */
        int rc = copy_first(m, nm, limit, out, n, err);
        hk_engine_svc_read_end(app->engine);
        return rc;
    }
    if (kind && strcmp(kind, "shop") == 0) {
        /* shops by name, as r_score(shop="...") takes them: a name two channels share is
         * offered as "channel:name" for each (the plain name is ambiguous) */
        if (!app->engine)
            return hk_err_set(err, HK_E(UNAVAILABLE), "the customer engine is not running");
        const struct hk_engine *e = hk_engine_svc_read(app->engine);
        size_t ns = hk_engine_shop_count(e);
        struct match *m = calloc(ns ? ns : 1, sizeof *m);
        char **forms = calloc(ns ? ns : 1, sizeof *forms);
        int rc = m && forms ? 0 : hk_err_set(err, HK_E(NOMEM), "out of memory");
        size_t nm = 0;
        for (size_t i = 0; !rc && i < ns; i++) {
            struct hk_engine_shop sh;
            hk_engine_shop_at(e, i, &sh);
            if (!sh.name)
                continue;
            bool shared = false;
            for (size_t j = 0; j < ns && !shared; j++) {
                struct hk_engine_shop o;
                hk_engine_shop_at(e, j, &o);
                shared = j != i && o.name && strcmp(o.name, sh.name) == 0;
            }
            const char *name = sh.name;
            if (shared) {
                size_t len = strlen(sh.channel ? sh.channel : "") + strlen(sh.name) + 2;
                if (!(forms[i] = malloc(len))) {
                    rc = hk_err_set(err, HK_E(NOMEM), "out of memory");
                    break;
                }
                snprintf(forms[i], len, "%s:%s", sh.channel ? sh.channel : "", sh.name);
                name = forms[i];
            }
            consider(m, &nm, name, q, qlen);
        }
        if (!rc)
            rc = pick(m, nm, limit, out, n, err);
        hk_engine_svc_read_end(app->engine);
        for (size_t i = 0; forms && i < ns; i++)
            free(forms[i]);
        free(forms);
        free(m);
        return rc;
    }
    size_t k = 0;
    while (k < sizeof kinds / sizeof kinds[0] && !(kind && strcmp(kind, kinds[k].name) == 0))
        k++;
    if (k == sizeof kinds / sizeof kinds[0])
        return hk_err_setf(err, HK_E(INVAL), "kind",
                           "kind: expected category, product, tag, event_type, province, city, "
                           "channel, shop, segment, rfm_tier or rfm_segment");
    if (!app->engine)
        return hk_err_set(err, HK_E(UNAVAILABLE), "the customer engine is not running");
    const struct hk_engine *e = hk_engine_svc_read(app->engine);
    uint32_t size = hk_engine_dict_size(e, kinds[k].kind);
    struct match *m = calloc(size ? size : 1, sizeof *m);
    int rc;
    if (!m) {
        rc = hk_err_set(err, HK_E(NOMEM), "out of memory");
    } else {
        size_t nm = 0;
        for (uint32_t i = 0; i < size; i++) {
            const char *name = hk_engine_dict_name(e, kinds[k].kind, i);
            /* "any" holds the phone and e-mail identities: not a channel (docs/segments.md) */
            if (kinds[k].kind == HK_DICT_CHANNEL && name && strcmp(name, "any") == 0)
                continue;
            consider(m, &nm, name, q, qlen);
        }
        rc = pick(m, nm, limit, out, n, err);
    }
    hk_engine_svc_read_end(app->engine);
    free(m);
    return rc;
}
