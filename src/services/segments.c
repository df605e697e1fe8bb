/*
 * segments.c — saved segments, their members, exports and kept-current counts (segments.h).
 * SQL lives in store/segments_repo.c; the engine is reached through services/engine_svc.h.
 *
 * Member order is computed per request over the evaluated bitmap: one (missing, key, id) tuple
 * per member (keys read from the engine's aggregates), filtered after the cursor and sorted.
 * Tuples are stored with their key and id negated for descending order, so one ascending
 * comparison serves both directions and missing values stay last.
 */
#include "services/segments.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <xlsxwriter.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "engine/engine.h"
#include "engine/segment.h"
#include "services/app.h"
#include "services/engine_svc.h"
#include "store/store.h"

/* ---- resolving in_segment ------------------------------------------------------------------ */

struct resolve {
    const struct hk_segment_row *rows;
    size_t n;
    int64_t skip_id;       /* the stored version of the segment being changed, or 0 */
    const char *self_name; /* its new name and expression, or NULL */
    const char *self_expr;
    const char *watch; /* a name whose use is being looked for, or NULL */
    bool hit;
    const char **names; /* owned */
    struct hk_segment_resolver r;
};

static const char *lookup(void *ctx, const char *name)
{
    struct resolve *rs = ctx;
    if (rs->watch && strcmp(rs->watch, name) == 0)
        rs->hit = true;
    if (rs->self_name && strcmp(rs->self_name, name) == 0)
        return rs->self_expr;
    for (size_t i = 0; i < rs->n; i++)
        if (rs->rows[i].id != rs->skip_id && strcmp(rs->rows[i].name, name) == 0)
            return rs->rows[i].expression;
    return NULL;
}

static int resolve_init(struct resolve *rs, const struct hk_segment_row *rows, size_t n,
                        struct hk_err *err)
{
    memset(rs, 0, sizeof *rs);
    rs->rows = rows;
    rs->n = n;
    rs->names = malloc((n + 1) * sizeof(*rs->names));
    if (!rs->names)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    for (size_t i = 0; i < n; i++)
        rs->names[i] = rows[i].name;
    rs->r.lookup = lookup;
    rs->r.ctx = rs;
    rs->r.names = rs->names;
    rs->r.n_names = n;
    return 0;
}

static void resolve_free(struct resolve *rs)
{
    free(rs->names);
    rs->names = NULL;
}

struct hk_saved_segments {
    struct hk_segment_row *rows;
    size_t n;
    struct resolve rs; /* rs.r.ctx points here: the struct never moves once allocated */
};

static int list_rows(struct hk_app *app, struct hk_segment_row **rows, size_t *n,
                     struct hk_err *err);

int hk_saved_segments_load(struct hk_app *app, struct hk_saved_segments **out, struct hk_err *err)
{
    struct hk_saved_segments *s = calloc(1, sizeof(*s));
    if (!s)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    int rc = list_rows(app, &s->rows, &s->n, err);
    if (!rc)
        rc = resolve_init(&s->rs, s->rows, s->n, err);
    if (rc) {
        hk_saved_segments_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

const struct hk_segment_resolver *hk_saved_segments_resolver(const struct hk_saved_segments *s)
{
    return &s->rs.r;
}

void hk_saved_segments_free(struct hk_saved_segments *s)
{
    if (!s)
        return;
    resolve_free(&s->rs);
    hk_segment_rows_free(s->rows, s->n);
    free(s);
}

/* Compiles expr with rs on an engine the caller has read-locked; counts it when count != NULL. */
static int count_locked(const struct hk_engine *e, struct resolve *rs, const char *expr,
                        int64_t now, size_t *count, struct hk_err *err)
{
    struct hk_segment *seg = NULL;
    int rc = hk_segment_compile(e, expr, &rs->r, &seg, err);
    if (rc || !count) {
        hk_segment_free(seg);
        return rc;
    }
    uint64_t *bits = malloc((hk_segment_words(e) + 1) * sizeof(*bits));
    if (!bits)
        rc = hk_err_set(err, HK_E(NOMEM), "out of memory evaluating a segment");
    else
        rc = hk_segment_eval(e, seg, now, bits, count, err);
    free(bits);
    hk_segment_free(seg);
    return rc;
}

static int list_rows(struct hk_app *app, struct hk_segment_row **rows, size_t *n,
                     struct hk_err *err)
{
    struct hk_db *db;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc)
        return rc;
    rc = hk_segments_repo_list(db, rows, n, err);
    hk_db_release(db);
    return rc;
}

static int no_engine(struct hk_err *err)
{
    return hk_err_set(err, HK_E(UNAVAILABLE), "the customer engine is not running");
}

/* ---- CRUD ------------------------------------------------------------------------------------ */

int hk_segments_list(struct hk_app *app, struct hk_segment_row **out, size_t *n, struct hk_err *err)
{
    return list_rows(app, out, n, err);
}

int hk_segments_get(struct hk_app *app, int64_t id, struct hk_segment_row *out, struct hk_err *err)
{
    struct hk_db *db;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc)
        return rc;
    rc = hk_segments_repo_get(db, id, out, err);
    hk_db_release(db);
    return rc;
}

static int check_fields(const char *name, const char *expr, const char *desc, struct hk_err *err)
{
    if (name) {
        size_t len = strlen(name);
        if (len == 0 || len > HK_SEGMENT_NAME_MAX)
            return hk_err_setf(err, HK_E(INVAL), "name", "name: 1 to %d bytes",
                               HK_SEGMENT_NAME_MAX);
        if (name[0] == ' ' || name[len - 1] == ' ')
            return hk_err_setf(err, HK_E(INVAL), "name", "name: no spaces at the start or the end");
        for (const char *p = name; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return hk_err_setf(err, HK_E(INVAL), "name", "name: no control characters");
    }
    if (expr && (!expr[0] || strlen(expr) > HK_SEGMENT_MAX_LEN))
        return hk_err_setf(err, HK_E(INVAL), "expression", "expression: 1 byte to 64 KiB");
    if (desc && strlen(desc) > HK_SEGMENT_DESC_MAX)
        return hk_err_setf(err, HK_E(INVAL), "description", "description: at most %d bytes",
                           HK_SEGMENT_DESC_MAX);
    return 0;
}

static const struct hk_segment_row *find_name(const struct hk_segment_row *rows, size_t n,
                                              const char *name, int64_t except_id)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i].id != except_id && strcmp(rows[i].name, name) == 0)
            return &rows[i];
    return NULL;
}

/* The first other segment whose expression reaches segment `name`, or NULL (engine locked). */
static const struct hk_segment_row *user_of(const struct hk_engine *e,
                                            const struct hk_segment_row *rows, size_t n, int64_t id,
                                            const char *name, struct resolve *rs)
{
    for (size_t i = 0; i < n; i++) {
        if (rows[i].id == id)
            continue;
        struct hk_err ignore;
        rs->watch = name;
        rs->hit = false;
        (void)count_locked(e, rs, rows[i].expression, 0, NULL, &ignore);
        rs->watch = NULL;
        if (rs->hit)
            return &rows[i];
    }
    return NULL;
}

/* Writes a segment (insert when id is 0) with its count in one transaction. */
static int store_segment(struct hk_app *app, int64_t *id, int64_t user_id, const char *name,
                         const char *expr, const char *desc, size_t count, struct hk_err *err)
{
    struct hk_db *db;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc)
        return rc;
    int64_t now = hk_clock_now(&app->clock);
    if ((rc = hk_db_begin(db, HK_TX_WRITE, err)) == 0) {
        if (*id == 0)
            rc = hk_segments_repo_insert(db, name, expr, desc, user_id, now, id, err);
        else
            rc = hk_segments_repo_update(db, *id, name, expr, desc, now, err);
        if (!rc)
            rc = hk_segments_repo_set_count(db, *id, (int64_t)count, now, err);
        if (!rc)
            rc = hk_db_commit(db, err);
        else
            hk_db_rollback(db);
    }
    hk_db_release(db);
    return rc;
}

int hk_segments_create(struct hk_app *app, int64_t user_id, const char *name,
                       const char *expression, const char *description,
                       struct hk_segment_error *where, struct hk_segment_row *out,
                       struct hk_err *err)
{
    if (where)
        memset(where, 0, sizeof *where);
    if (!description)
        description = "";
    int rc = check_fields(name, expression, description, err);
    if (rc)
        return rc;
    if (!app->engine)
        return no_engine(err);
    struct hk_segment_row *rows = NULL;
    size_t n = 0;
    if ((rc = list_rows(app, &rows, &n, err)) != 0)
        return rc;
    struct resolve rs;
    size_t count = 0;
    if (find_name(rows, n, name, 0))
        rc =
            hk_err_setf(err, HK_E(CONFLICT), "name", "a segment named \"%s\" already exists", name);
    else if ((rc = resolve_init(&rs, rows, n, err)) == 0) {
        rs.self_name = name;
        rs.self_expr = expression;
        const struct hk_engine *e = hk_engine_svc_read(app->engine);
        rc = count_locked(e, &rs, expression, hk_clock_now(&app->clock), &count, err);
        hk_engine_svc_read_end(app->engine);
        resolve_free(&rs);
        if (rc == HK_E(INVAL))
            hk_segment_error_parse(hk_err_message(err), where);
    }
    hk_segment_rows_free(rows, n);
    int64_t id = 0;
    if (!rc)
        rc = store_segment(app, &id, user_id, name, expression, description, count, err);
    return rc ? rc : hk_segments_get(app, id, out, err);
}

int hk_segments_update(struct hk_app *app, int64_t id, const char *name, const char *expression,
                       const char *description, struct hk_segment_error *where,
                       struct hk_segment_row *out, struct hk_err *err)
{
    if (where)
        memset(where, 0, sizeof *where);
    int rc = check_fields(name, expression, description, err);
    if (rc)
        return rc;
    if (!app->engine)
        return no_engine(err);
    struct hk_segment_row *rows = NULL;
    size_t n = 0;
    if ((rc = list_rows(app, &rows, &n, err)) != 0)
        return rc;
    const struct hk_segment_row *cur = NULL;
    for (size_t i = 0; i < n; i++)
        if (rows[i].id == id)
            cur = &rows[i];
    struct resolve rs;
    size_t count = 0;
    const char *new_name = name ? name : cur ? cur->name : "";
    const char *new_expr = expression ? expression : cur ? cur->expression : "";
    const char *new_desc = description ? description : cur ? cur->description : "";
    if (!cur) {
        rc = hk_err_set(err, HK_E(NOTFOUND), "no segment %lld", (long long)id);
    } else if (find_name(rows, n, new_name, id)) {
        rc = hk_err_setf(err, HK_E(CONFLICT), "name", "a segment named \"%s\" already exists",
                         new_name);
    } else if ((rc = resolve_init(&rs, rows, n, err)) == 0) {
        const struct hk_engine *e = hk_engine_svc_read(app->engine);
        const struct hk_segment_row *user =
            strcmp(new_name, cur->name) ? user_of(e, rows, n, id, cur->name, &rs) : NULL;
        if (user) {
            rc = hk_err_setf(err, HK_E(CONFLICT), "name",
                             "segment \"%s\" uses this one through in_segment(\"%s\"); change it "
                             "before renaming",
                             user->name, cur->name);
        } else {
            rs.skip_id = id;
            rs.self_name = new_name;
            rs.self_expr = new_expr;
            rc = count_locked(e, &rs, new_expr, hk_clock_now(&app->clock), &count, err);
            if (rc == HK_E(INVAL))
                hk_segment_error_parse(hk_err_message(err), where);
        }
        hk_engine_svc_read_end(app->engine);
        resolve_free(&rs);
    }
    int64_t sid = id;
    if (!rc)
        rc = store_segment(app, &sid, 0, new_name, new_expr, new_desc, count, err);
    hk_segment_rows_free(rows, n);
    return rc ? rc : hk_segments_get(app, id, out, err);
}

int hk_segments_delete(struct hk_app *app, int64_t id, struct hk_err *err)
{
    struct hk_segment_row *rows = NULL;
    size_t n = 0;
    int rc = list_rows(app, &rows, &n, err);
    if (rc)
        return rc;
    const struct hk_segment_row *cur = NULL;
    for (size_t i = 0; i < n; i++)
        if (rows[i].id == id)
            cur = &rows[i];
    struct resolve rs;
    if (!cur) {
        rc = hk_err_set(err, HK_E(NOTFOUND), "no segment %lld", (long long)id);
    } else if (app->engine && (rc = resolve_init(&rs, rows, n, err)) == 0) {
        const struct hk_engine *e = hk_engine_svc_read(app->engine);
        const struct hk_segment_row *user = user_of(e, rows, n, id, cur->name, &rs);
        hk_engine_svc_read_end(app->engine);
        resolve_free(&rs);
        if (user)
            rc = hk_err_set(err, HK_E(CONFLICT),
                            "segment \"%s\" uses this one through in_segment(\"%s\"); change "
                            "it first",
                            user->name, cur->name);
    }
    if (!rc) {
        struct hk_db *db;
        if ((rc = hk_db_acquire(app->store, &db, err)) == 0) {
            if ((rc = hk_db_begin(db, HK_TX_WRITE, err)) == 0) {
                rc = hk_segments_repo_delete(db, id, err);
                if (!rc)
                    rc = hk_db_commit(db, err);
                else
                    hk_db_rollback(db);
            }
            hk_db_release(db);
        }
    }
    hk_segment_rows_free(rows, n);
    return rc;
}

int hk_segments_recount(struct hk_app *app, struct hk_err *err)
{
    if (!app->engine)
        return no_engine(err);
    struct hk_segment_row *rows = NULL;
    size_t n = 0;
    int rc = list_rows(app, &rows, &n, err);
    if (rc || n == 0)
        return rc;
    int64_t *counts = malloc(n * sizeof(*counts));
    struct resolve rs;
    if (!counts)
        rc = hk_err_set(err, HK_E(NOMEM), "out of memory");
    else if ((rc = resolve_init(&rs, rows, n, err)) == 0) {
        int64_t now = hk_clock_now(&app->clock);
        const struct hk_engine *e = hk_engine_svc_read(app->engine);
        for (size_t i = 0; i < n; i++) {
            size_t c = 0;
            struct hk_err ignore;
            /* a segment that no longer compiles (a category gone) keeps no count */
            counts[i] =
                count_locked(e, &rs, rows[i].expression, now, &c, &ignore) ? -1 : (int64_t)c;
        }
        hk_engine_svc_read_end(app->engine);
        resolve_free(&rs);
    }
    struct hk_db *db;
    if (!rc && (rc = hk_db_acquire(app->store, &db, err)) == 0) {
        int64_t now = hk_clock_now(&app->clock);
        if ((rc = hk_db_begin(db, HK_TX_WRITE, err)) == 0) {
            for (size_t i = 0; i < n && !rc; i++)
                if (counts[i] >= 0 && (!rows[i].has_count || rows[i].cached_count != counts[i] ||
                                       rows[i].counted_at != now))
                    rc = hk_segments_repo_set_count(db, rows[i].id, counts[i], now, err);
            if (!rc)
                rc = hk_db_commit(db, err);
            else
                hk_db_rollback(db);
        }
        hk_db_release(db);
    }
    free(counts);
    hk_segment_rows_free(rows, n);
    return rc;
}

/* ---- members --------------------------------------------------------------------------------- */

int hk_member_sort_parse(const char *sort, const char *order, enum hk_member_sort *s, bool *desc,
                         struct hk_err *err)
{
    static const char *const names[] = {"id", "recency_days", "frequency", "monetary", "aov"};
    *s = HK_MSORT_ID;
    if (sort && sort[0]) {
        size_t i = 0;
        while (i < HK_ARRAY_LEN(names) && strcmp(names[i], sort) != 0)
            i++;
        if (i == HK_ARRAY_LEN(names))
            return hk_err_setf(err, HK_E(INVAL), "sort",
                               "sort: expected id, recency_days, frequency, monetary or aov");
        *s = (enum hk_member_sort)i;
    }
    *desc = false;
    if (order && order[0]) {
        if (strcmp(order, "desc") == 0)
            *desc = true;
        else if (strcmp(order, "asc") != 0)
            return hk_err_setf(err, HK_E(INVAL), "order", "order: expected asc or desc");
    }
    return 0;
}

struct mkey {
    int missing; /* 1: the sort value is missing (sorted last) */
    int64_t key; /* negated for descending order */
    int64_t id;  /* idem */
};

static int mkey_cmp(const struct mkey *a, const struct mkey *b)
{
    if (a->missing != b->missing)
        return a->missing < b->missing ? -1 : 1;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static int mkey_qcmp(const void *a, const void *b)
{
    return mkey_cmp(a, b);
}

static int64_t aov_fen(const struct hk_engine_aggregates *a)
{
    return (int64_t)llround(a->aov_fen);
}

static void key_of(const struct hk_engine *e, int64_t id, int64_t now, enum hk_member_sort sort,
                   bool desc, struct mkey *k)
{
    k->missing = 0;
    k->key = 0;
    if (sort != HK_MSORT_ID) {
        struct hk_engine_aggregates a;
        struct hk_err ignore;
        if (hk_engine_customer_get(e, id, now, &a, &ignore) != 0) {
            k->missing = 1;
        } else if (sort == HK_MSORT_FREQUENCY) {
            k->key = a.frequency;
        } else if (sort == HK_MSORT_MONETARY) {
            k->key = a.monetary_fen;
        } else if (!a.has_recency) {
            k->missing = 1;
        } else {
            k->key = sort == HK_MSORT_RECENCY ? a.recency_days : aov_fen(&a);
        }
    }
    k->key = desc ? -k->key : k->key;
    k->id = desc ? -id : id;
}

/*
 * The members of a saved segment (id) or an expression, after `after` (NULL = from the start),
 * sorted: *out new (caller frees), *n entries, *count the segment's size.
 */
static int ordered_members(struct hk_app *app, int64_t id, const char *expr,
                           enum hk_member_sort sort, bool desc, const struct mkey *after,
                           struct mkey **out, size_t *n, size_t *count, char *name, size_t nsize,
                           struct hk_segment_error *where, struct hk_err *err)
{
    *out = NULL;
    *n = *count = 0;
    if (!app->engine)
        return no_engine(err);
    struct hk_segment_row *rows = NULL;
    size_t nrows = 0;
    int rc = list_rows(app, &rows, &nrows, err);
    if (rc)
        return rc;
    if (id) {
        expr = NULL;
        for (size_t i = 0; i < nrows; i++)
            if (rows[i].id == id) {
                expr = rows[i].expression;
                if (name)
                    hk_strlcpy(name, rows[i].name, nsize);
            }
        if (!expr) {
            hk_segment_rows_free(rows, nrows);
            return hk_err_set(err, HK_E(NOTFOUND), "no segment %lld", (long long)id);
        }
    }
    struct resolve rs;
    if ((rc = resolve_init(&rs, rows, nrows, err)) != 0) {
        hk_segment_rows_free(rows, nrows);
        return rc;
    }
    int64_t now = hk_clock_now(&app->clock);
    const struct hk_engine *e = hk_engine_svc_read(app->engine);
    struct hk_segment *seg = NULL;
    uint64_t *bits = NULL;
    struct mkey *keys = NULL;
    size_t nk = 0;
    rc = hk_segment_compile(e, expr, &rs.r, &seg, err);
    if (rc == HK_E(INVAL))
        hk_segment_error_parse(hk_err_message(err), where);
    if (!rc && !(bits = malloc((hk_segment_words(e) + 1) * sizeof(*bits))))
        rc = hk_err_set(err, HK_E(NOMEM), "out of memory evaluating a segment");
    if (!rc)
        rc = hk_segment_eval(e, seg, now, bits, count, err);
    if (!rc && !(keys = malloc((*count + 1) * sizeof(*keys))))
        rc = hk_err_set(err, HK_E(NOMEM), "out of memory ordering members");
    size_t words = rc ? 0 : hk_segment_words(e);
    for (size_t w = 0; w < words; w++) {
        uint64_t b = bits[w];
        while (b && nk < *count) {
            size_t row = w * 64 + (size_t)__builtin_ctzll(b);
            b &= b - 1;
            struct mkey k;
            key_of(e, hk_engine_row_id(e, row), now, sort, desc, &k);
            if (!after || mkey_cmp(&k, after) > 0)
                keys[nk++] = k;
        }
    }
    hk_engine_svc_read_end(app->engine);
    hk_segment_free(seg);
    free(bits);
    resolve_free(&rs);
    hk_segment_rows_free(rows, nrows);
    if (rc) {
        free(keys);
        return rc;
    }
    qsort(keys, nk, sizeof *keys, mkey_qcmp);
    *out = keys;
    *n = nk;
    return 0;
}

/* Fills members from the engine (aggregates) and the store (contact details). */
static int fill_members(struct hk_app *app, const struct mkey *keys, size_t n, bool desc,
                        bool clear, struct hk_member *out, struct hk_err *err)
{
    int64_t now = hk_clock_now(&app->clock);
    const struct hk_engine *e = hk_engine_svc_read(app->engine);
    for (size_t i = 0; i < n; i++) {
        struct hk_member *m = &out[i];
        memset(m, 0, sizeof *m);
        m->c.id = desc ? -keys[i].id : keys[i].id;
        struct hk_engine_aggregates a;
        struct hk_err ignore;
        if (hk_engine_customer_get(e, m->c.id, now, &a, &ignore) == 0) {
            m->has_recency = a.has_recency;
            m->recency_days = a.recency_days;
            m->frequency = a.frequency;
            m->monetary_fen = a.monetary_fen;
            m->aov_fen = a.has_recency ? aov_fen(&a) : 0;
            hk_strlcpy(m->rfm_segment, a.rfm_segment ? a.rfm_segment : "", sizeof m->rfm_segment);
            hk_strlcpy(m->rfm_tier, a.rfm_tier ? a.rfm_tier : "", sizeof m->rfm_tier);
        }
    }
    hk_engine_svc_read_end(app->engine);
    struct hk_customer_contact *c = malloc((n + 1) * sizeof(*c));
    if (!c)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    for (size_t i = 0; i < n; i++)
        c[i].id = out[i].c.id;
    int rc = hk_customers_contacts(app, clear, c, n, err);
    for (size_t i = 0; i < n && !rc; i++)
        out[i].c = c[i];
    memset(c, 0, (n + 1) * sizeof(*c));
    free(c);
    return rc;
}

void hk_member_page_release(struct hk_member_page *p)
{
    if (!p)
        return;
    if (p->items)
        memset(p->items, 0, p->n * sizeof(*p->items));
    free(p->items);
    memset(p, 0, sizeof *p);
}

static void cursor_make(const struct mkey *k, enum hk_member_sort sort, bool desc, char *out,
                        size_t size)
{
    snprintf(out, size, "%d.%d.%d.%lld.%lld", (int)sort, desc ? 1 : 0, k->missing,
             (long long)k->key, (long long)k->id);
}

static int cursor_parse(const char *s, enum hk_member_sort sort, bool desc, struct mkey *k,
                        struct hk_err *err)
{
    int so = -1, de = -1, mi = -1, used = 0;
    long long key = 0, id = 0;
    if (sscanf(s, "%d.%d.%d.%lld.%lld%n", &so, &de, &mi, &key, &id, &used) != 5 ||
        (size_t)used != strlen(s) || so != (int)sort || de != (desc ? 1 : 0) || mi < 0 || mi > 1)
        return hk_err_setf(err, HK_E(INVAL), "cursor",
                           "cursor: not a cursor of this sort and order (pass next_cursor back)");
    k->missing = mi;
    k->key = key;
    k->id = id;
    return 0;
}

int hk_segments_members(struct hk_app *app, int64_t id, enum hk_member_sort sort, bool desc,
                        const char *cursor, int limit, bool clear, struct hk_member_page *out,
                        struct hk_err *err)
{
    memset(out, 0, sizeof *out);
    if (limit < 1 || limit > HK_MEMBERS_PAGE_MAX)
        limit = 50;
    struct mkey after;
    int rc;
    if (cursor && cursor[0] && (rc = cursor_parse(cursor, sort, desc, &after, err)) != 0)
        return rc;
    struct mkey *keys = NULL;
    size_t n = 0, count = 0;
    rc = ordered_members(app, id, NULL, sort, desc, cursor && cursor[0] ? &after : NULL, &keys, &n,
                         &count, NULL, 0, NULL, err);
    if (rc)
        return rc;
    size_t take = n < (size_t)limit ? n : (size_t)limit;
    out->count = count;
    out->items = malloc((take + 1) * sizeof(*out->items));
    if (!out->items) {
        free(keys);
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    }
    if ((rc = fill_members(app, keys, take, desc, clear, out->items, err)) == 0) {
        out->n = take;
        if (n > take)
            cursor_make(&keys[take - 1], sort, desc, out->next_cursor, sizeof out->next_cursor);
    }
    free(keys);
    if (rc)
        hk_member_page_release(out);
    return rc;
}

/* ---- export ---------------------------------------------------------------------------------- */

enum col {
    COL_ID = 0,
    COL_NICK,
    COL_PHONE,
    COL_PROVINCE,
    COL_CITY,
    COL_RECENCY,
    COL_FREQUENCY,
    COL_MONETARY,
    COL_AOV,
    COL_RFM_SEGMENT,
    COL_RFM_TIER,
    COL_COUNT_
};

/* Each column's stable API key (what columns= accepts), its header in each language and its
 * width in an XLSX sheet (in characters; CJK characters count about two). The zh-CN headers use
 * the console's words (web/src/locales/zh-CN.js, segments.fields and customers.col). */
static const struct {
    const char *key, *zh, *en;
    double width;
} cols_meta[COL_COUNT_] = {
    [COL_ID] = {"id", "客户ID", "Customer ID", 12},
    [COL_NICK] = {"nick", "昵称", "Nick", 22},
    [COL_PHONE] = {"phone", "手机号", "Phone", 16},
    [COL_PROVINCE] = {"province", "省份", "Province", 12},
    [COL_CITY] = {"city", "城市", "City", 12},
    [COL_RECENCY] = {"recency_days", "距上次购买天数", "Days since last order", 16},
    [COL_FREQUENCY] = {"frequency", "购买次数", "Orders", 10},
    [COL_MONETARY] = {"monetary", "累计消费（元）", "Net spend (CNY)", 16},
    [COL_AOV] = {"aov", "客单价（元）", "AOV (CNY)", 14},
    [COL_RFM_SEGMENT] = {"rfm_segment", "RFM 分类", "RFM segment", 16},
    [COL_RFM_TIER] = {"rfm_tier", "RFM 层级", "RFM tier", 12},
};

static const char *col_header(enum col c, enum hk_export_lang lang)
{
    return lang == HK_EXPORT_EN ? cols_meta[c].en : cols_meta[c].zh;
}

int hk_export_lang_parse(const char *s, enum hk_export_lang *out, struct hk_err *err)
{
    if (!s || !s[0] || strcasecmp(s, "zh-CN") == 0 || strcasecmp(s, "zh") == 0)
        *out = HK_EXPORT_ZH_CN;
    else if (strcasecmp(s, "en") == 0)
        *out = HK_EXPORT_EN;
    else
        return hk_err_setf(err, HK_E(INVAL), "lang", "lang: expected zh-CN or en");
    return 0;
}

#define EXPORT_CHUNK 500

struct hk_export {
    struct hk_app *app;
    bool clear, desc;
    char name[HK_SEGMENT_NAME_MAX + 1];
    enum hk_export_lang lang;
    enum col cols[COL_COUNT_ * 2];
    size_t ncols;
    struct mkey *keys;
    size_t n, pos;
    bool header_done;
    struct hk_strbuf pending;
    size_t pending_off;
    struct hk_member *chunk;
};

static int parse_columns(const char *s, struct hk_export *x, struct hk_err *err)
{
    x->ncols = 0;
    if (!s || !s[0]) {
        for (int i = 0; i < COL_COUNT_; i++)
            x->cols[x->ncols++] = (enum col)i;
        return 0;
    }
    while (*s) {
        size_t len = strcspn(s, ",");
        while (len && s[0] == ' ') {
            s++;
            len--;
        }
        size_t l = len;
        while (l && s[l - 1] == ' ')
            l--;
        int found = -1;
        for (int i = 0; i < COL_COUNT_ && found < 0; i++)
            if (hk_streq_n(s, l, cols_meta[i].key))
                found = i;
        if (found < 0)
            return hk_err_setf(err, HK_E(INVAL), "columns",
                               "columns: unknown column \"%.*s\" (known: id, nick, phone, "
                               "province, city, recency_days, frequency, monetary, aov, "
                               "rfm_segment, rfm_tier)",
                               (int)(l > 64 ? 64 : l), s);
        if (x->ncols == HK_ARRAY_LEN(x->cols))
            return hk_err_setf(err, HK_E(INVAL), "columns", "columns: too many columns");
        x->cols[x->ncols++] = (enum col)found;
        s += len;
        if (*s == ',')
            s++;
    }
    if (x->ncols == 0)
        return hk_err_setf(err, HK_E(INVAL), "columns", "columns: name at least one column");
    return 0;
}

int hk_export_open(struct hk_app *app, const struct hk_export_opts *o, struct hk_export **out,
                   struct hk_segment_error *where, struct hk_err *err)
{
    *out = NULL;
    if (where)
        memset(where, 0, sizeof *where);
    struct hk_export *x = calloc(1, sizeof *x);
    if (!x)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    x->app = app;
    x->clear = o->clear;
    x->desc = o->desc;
    x->lang = o->lang;
    hk_strlcpy(x->name, "segment", sizeof x->name);
    hk_strbuf_init(&x->pending, 0);
    int rc = parse_columns(o->columns, x, err);
    size_t count = 0;
    if (!rc && !o->segment_id && (!o->expression || !o->expression[0]))
        rc = hk_err_setf(err, HK_E(INVAL), "expression", "name a segment or an expression");
    if (!rc)
        rc = ordered_members(app, o->segment_id, o->expression, o->sort, o->desc, NULL, &x->keys,
                             &x->n, &count, x->name, sizeof x->name, where, err);
    if (!rc && !(x->chunk = malloc(EXPORT_CHUNK * sizeof(*x->chunk))))
        rc = hk_err_set(err, HK_E(NOMEM), "out of memory");
    if (rc) {
        hk_export_free(x);
        return rc;
    }
    *out = x;
    return 0;
}

void hk_export_free(struct hk_export *x)
{
    if (!x)
        return;
    free(x->keys);
    if (x->chunk)
        memset(x->chunk, 0, EXPORT_CHUNK * sizeof(*x->chunk)); /* clear phones */
    free(x->chunk);
    hk_strbuf_release(&x->pending);
    free(x);
}

size_t hk_export_count(const struct hk_export *x)
{
    return x->n;
}

const char *hk_export_name(const struct hk_export *x)
{
    return x->name;
}

static void yuan_text(int64_t fen, char *buf, size_t size)
{
    int64_t a = fen < 0 ? -fen : fen;
    snprintf(buf, size, "%s%lld.%02lld", fen < 0 ? "-" : "", (long long)(a / 100),
             (long long)(a % 100));
}

/* A phone as a seller writes it: a mainland mobile (+86 and 11 digits starting with 1) as its 11
 * digits; masked phones and other countries' numbers (+CC form) as they are. */
static void phone_text(const char *phone, char *buf, size_t size)
{
    const char *d = phone + 3;
    bool mainland = strncmp(phone, "+86", 3) == 0 && strlen(d) == 11 && d[0] == '1' &&
                    strspn(d, "0123456789") == 11;
    hk_strlcpy(buf, mainland ? d : phone, size);
}

/* A cell as text ("" when missing); *number set for numeric cells. */
static void cell_text(const struct hk_member *m, enum col c, char *buf, size_t size, bool *number,
                      double *value)
{
    *number = false;
    buf[0] = '\0';
    switch (c) {
    case COL_ID:
        snprintf(buf, size, "%lld", (long long)m->c.id);
        *number = true;
        *value = (double)m->c.id;
        break;
    case COL_NICK:
        hk_strlcpy(buf, m->c.nick, size);
        break;
    case COL_PHONE:
        phone_text(m->c.phone, buf, size);
        break;
    case COL_PROVINCE:
        hk_strlcpy(buf, m->c.province, size);
        break;
    case COL_CITY:
        hk_strlcpy(buf, m->c.city, size);
        break;
    case COL_RECENCY:
        if (m->has_recency) {
            snprintf(buf, size, "%d", (int)m->recency_days);
            *number = true;
            *value = m->recency_days;
        }
        break;
    case COL_FREQUENCY:
        snprintf(buf, size, "%u", (unsigned)m->frequency);
        *number = true;
        *value = m->frequency;
        break;
    case COL_MONETARY:
        yuan_text(m->monetary_fen, buf, size);
        *number = true;
        *value = (double)m->monetary_fen / 100.0;
        break;
    case COL_AOV:
        if (m->has_recency) {
            yuan_text(m->aov_fen, buf, size);
            *number = true;
            *value = (double)m->aov_fen / 100.0;
        }
        break;
    case COL_RFM_SEGMENT:
        hk_strlcpy(buf, m->rfm_segment, size);
        break;
    case COL_RFM_TIER:
        hk_strlcpy(buf, m->rfm_tier, size);
        break;
    case COL_COUNT_:
        break;
    }
}

/* Appends a CSV field: quoted when needed; text that a spreadsheet would run as a formula
 * (starting with = + - @) gets a leading apostrophe. */
static int csv_field(struct hk_strbuf *sb, const char *s, bool guard)
{
    bool formula = guard && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@');
    bool quote = formula || strpbrk(s, ",\"\r\n") != NULL;
    int rc = 0;
    if (quote)
        rc |= hk_strbuf_addch(sb, '"');
    if (formula)
        rc |= hk_strbuf_addch(sb, '\'');
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            rc |= hk_strbuf_addch(sb, '"');
        rc |= hk_strbuf_addch(sb, *p);
    }
    if (quote)
        rc |= hk_strbuf_addch(sb, '"');
    return rc;
}

/* Reads the next chunk of members into x->chunk; their number into *n (0 at the end). */
static int next_chunk(struct hk_export *x, size_t *n, struct hk_err *err)
{
    *n = x->n - x->pos < EXPORT_CHUNK ? x->n - x->pos : EXPORT_CHUNK;
    if (*n == 0)
        return 0;
    int rc = fill_members(x->app, x->keys + x->pos, *n, x->desc, x->clear, x->chunk, err);
    x->pos += *n;
    return rc;
}

static int csv_produce(struct hk_export *x, struct hk_err *err)
{
    hk_strbuf_reset(&x->pending);
    x->pending_off = 0;
    int rc = 0;
    if (!x->header_done) {
        x->header_done = true;
        rc |= hk_strbuf_adds(&x->pending, "\xEF\xBB\xBF"); /* BOM: Excel reads UTF-8 */
        for (size_t i = 0; i < x->ncols; i++) {
            if (i)
                rc |= hk_strbuf_addch(&x->pending, ',');
            rc |= hk_strbuf_adds(&x->pending, col_header(x->cols[i], x->lang));
        }
        rc |= hk_strbuf_adds(&x->pending, "\r\n");
        return rc ? hk_err_set(err, HK_E(NOMEM), "out of memory") : 0;
    }
    size_t n;
    if ((rc = next_chunk(x, &n, err)) != 0)
        return rc;
    char cell[512];
    for (size_t r = 0; r < n; r++) {
        for (size_t i = 0; i < x->ncols; i++) {
            bool num;
            double v;
            cell_text(&x->chunk[r], x->cols[i], cell, sizeof cell, &num, &v);
            if (i)
                rc |= hk_strbuf_addch(&x->pending, ',');
            rc |= csv_field(&x->pending, cell, x->cols[i] != COL_PHONE && !num);
        }
        rc |= hk_strbuf_adds(&x->pending, "\r\n");
    }
    memset(cell, 0, sizeof cell);
    return rc ? hk_err_set(err, HK_E(NOMEM), "out of memory") : 0;
}

int hk_export_csv_next(struct hk_export *x, char *buf, size_t max, size_t *len, struct hk_err *err)
{
    *len = 0;
    while (*len < max) {
        if (x->pending_off >= x->pending.len) {
            if (x->header_done && x->pos >= x->n)
                break;
            int rc = csv_produce(x, err);
            if (rc)
                return rc;
            if (x->pending.len == 0)
                break;
        }
        size_t take = x->pending.len - x->pending_off;
        if (take > max - *len)
            take = max - *len;
        memcpy(buf + *len, x->pending.buf + x->pending_off, take);
        x->pending_off += take;
        *len += take;
    }
    return 0;
}

/* A spreadsheet keeps 15 significant digits: longer ids would come back rounded, so they are
 * written as text. */
static bool exact_in_sheet(int64_t v)
{
    return v > -1000000000000000LL && v < 1000000000000000LL;
}

/* Approximate width in spreadsheet characters: ASCII counts one, anything wider (CJK) two. */
static double display_width(const char *s)
{
    double w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x80)
            w += 1;
        else if ((*p & 0xC0) != 0x80)
            w += 2;
    return w;
}

static int xlsx_fail(struct hk_err *err, lxw_error e)
{
    return hk_err_set(err, HK_E(IO), "writing the XLSX file: %s", lxw_strerror(e));
}

int hk_export_xlsx(struct hk_export *x, const char *path, struct hk_err *err)
{
    lxw_workbook_options opt = {.constant_memory = LXW_TRUE,
                                .tmpdir = (char *)x->app->cfg.data_dir};
    lxw_workbook *wb = workbook_new_opt(path, &opt);
    if (!wb)
        return hk_err_set(err, HK_E(IO), "cannot create the XLSX file %s", path);
    lxw_worksheet *ws = workbook_add_worksheet(wb, NULL);
    lxw_format *money = workbook_add_format(wb);
    lxw_format *bold = workbook_add_format(wb);
    int rc = 0;
    if (!ws || !money || !bold) {
        rc = hk_err_set(err, HK_E(NOMEM), "out of memory writing the XLSX file");
    } else {
        format_set_num_format(money, "0.00");
        format_set_bold(bold);
        /* widths first: constant_memory mode writes rows as they come */
        for (size_t i = 0; i < x->ncols && !rc; i++) {
            const char *h = col_header(x->cols[i], x->lang);
            double w = display_width(h) + 2;
            if (w < cols_meta[x->cols[i]].width)
                w = cols_meta[x->cols[i]].width;
            lxw_error e = worksheet_set_column(ws, (lxw_col_t)i, (lxw_col_t)i, w, NULL);
            if (!e)
                e = worksheet_write_string(ws, 0, (lxw_col_t)i, h, bold);
            if (e)
                rc = xlsx_fail(err, e);
        }
        if (!rc) {
            worksheet_freeze_panes(ws, 1, 0);
            lxw_error e =
                worksheet_autofilter(ws, 0, 0, (lxw_row_t)x->n, (lxw_col_t)(x->ncols - 1));
            if (e)
                rc = xlsx_fail(err, e);
        }
    }
    lxw_row_t row = 1;
    char cell[512];
    size_t n = 0;
    while (!rc && (rc = next_chunk(x, &n, err)) == 0 && n > 0) {
        for (size_t r = 0; r < n && !rc; r++, row++) {
            for (size_t i = 0; i < x->ncols && !rc; i++) {
                bool num;
                double v;
                cell_text(&x->chunk[r], x->cols[i], cell, sizeof cell, &num, &v);
                lxw_error e = LXW_NO_ERROR;
                bool is_money = x->cols[i] == COL_MONETARY || x->cols[i] == COL_AOV;
                if (num && x->cols[i] == COL_ID && !exact_in_sheet(x->chunk[r].c.id))
                    e = worksheet_write_string(ws, row, (lxw_col_t)i, cell, NULL);
                else if (num)
                    e = worksheet_write_number(ws, row, (lxw_col_t)i, v, is_money ? money : NULL);
                else if (cell[0])
                    e = worksheet_write_string(ws, row, (lxw_col_t)i, cell, NULL);
                if (e)
                    rc = xlsx_fail(err, e);
            }
        }
    }
    memset(cell, 0, sizeof cell);
    lxw_error e = workbook_close(wb);
    if (!rc && e)
        rc = xlsx_fail(err, e);
    return rc;
}

/* ---- the counter ----------------------------------------------------------------------------- */

#define HK_RECOUNT_DEBOUNCE_MS 250

struct hk_segments_counter {
    struct hk_app *app;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool pending, stop;
    bool stopped; /* joined */
};

static void on_change(void *ctx)
{
    struct hk_segments_counter *c = ctx;
    pthread_mutex_lock(&c->mu);
    c->pending = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void *counter_main(void *arg)
{
    struct hk_segments_counter *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->pending && !c->stop)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->stop)
            break;
        pthread_mutex_unlock(&c->mu);
        struct timespec ts = {0, HK_RECOUNT_DEBOUNCE_MS * 1000000L};
        nanosleep(&ts, NULL); /* let a burst of changes settle */
        pthread_mutex_lock(&c->mu);
        c->pending = false;
        if (c->stop)
            break;
        pthread_mutex_unlock(&c->mu);
        struct hk_err err;
        hk_err_clear(&err);
        if (hk_segments_recount(c->app, &err))
            hk_log_kv(&c->app->log, HK_LOG_WARN, "segments.recount_failed", NULL, "error",
                      hk_err_message(&err), (const char *)NULL);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int hk_segments_counter_start(struct hk_app *app, struct hk_segments_counter **out,
                              struct hk_err *err)
{
    *out = NULL;
    if (!app->engine)
        return no_engine(err);
    struct hk_segments_counter *c = calloc(1, sizeof *c);
    if (!c)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    c->app = app;
    c->pending = true; /* count once at start */
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&c->thread, NULL, counter_main, c) != 0) {
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return hk_err_set(err, HK_E(INTERNAL), "cannot start the segment counter");
    }
    (void)hk_engine_svc_on_change(app->engine, on_change, c);
    *out = c;
    return 0;
}

void hk_segments_counter_stop(struct hk_segments_counter *c)
{
    if (!c || c->stopped)
        return;
    hk_engine_svc_off_change(c->app->engine, on_change, c);
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    c->stopped = true;
}

void hk_segments_counter_free(struct hk_segments_counter *c)
{
    if (!c)
        return;
    hk_segments_counter_stop(c);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
