/*
 * store/ingest_repo.c — SQL for imports and identity resolution (see ingest_repo.h).
 *
 * Statement names start with "irepo_". Multi-key look-ups are generated once per chunk size
 * (the text depends only on the size), so each size is one prepared statement per connection:
 * "irepo_ident_find_128". The SQL text is rebuilt on each call (a few KiB of formatting,
 * negligible against executing it) because hk_db_stmt wants it every time and this file keeps
 * no state.
 *
 * New rows of the bulk tables (customers, identities, orders, order_items, order_history) are
 * streamed with the store's bulk loader (hk_db_copy_*: COPY on PostgreSQL, a single-row INSERT
 * bound without copies on SQLite); their ids are reserved first with hk_db_next_ids and written
 * with the row, so no RETURNING is needed and callers get the ids in row order by construction.
 *
 * Portability notes (SQLite 3.40 and PostgreSQL 15, one text): parameters whose type the
 * PostgreSQL parser cannot infer from a column are written CAST($n AS BIGINT|TEXT), which
 * SQLite reads as the same affinity; RETURNING is common to both; the
 * never-merge group check uses WITH RECURSIVE, also common.
 *
 * Threads: stateless; a db is used by one thread at a time (store.h).
 */
#include "store/ingest_repo.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "store/repo_util.h"
#include "store/store.h"
#include "store/store_int.h"

/* Keys per look-up, largest first. */
static const size_t FIND_CHUNKS[] = {128, 16, 1};

/* ---- helpers ------------------------------------------------------------------------------ */

/* The smallest look-up chunk that holds remaining keys (padding fills the rest), capped. */
static size_t pick_find_chunk(size_t remaining)
{
    size_t best = FIND_CHUNKS[0];
    for (size_t i = 0; i < sizeof FIND_CHUNKS / sizeof FIND_CHUNKS[0]; i++)
        if (FIND_CHUNKS[i] >= remaining)
            best = FIND_CHUNKS[i];
    return best;
}

/* Appends "$first, $first+1, ..." (n parameters). */
static int add_params(struct hk_strbuf *sb, int first, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char num[16];
        size_t len = 0;
        for (int v = first + (int)i; v; v /= 10)
            num[len++] = (char)('0' + v % 10);
        char tok[24];
        size_t t = 0;
        if (i) {
            tok[t++] = ',';
            tok[t++] = ' ';
        }
        tok[t++] = '$';
        while (len)
            tok[t++] = num[--len];
        rc = hk_strbuf_add(sb, tok, t);
    }
    return rc;
}

/* Prepared statement "<base>_<k>" whose SQL the caller has built into sb. */
static int chunk_stmt(struct hk_db *db, const char *base, size_t k, const struct hk_strbuf *sb,
                      struct hk_stmt **st, struct hk_err *err)
{
    char name[64];
    snprintf(name, sizeof name, "%s_%zu", base, k);
    return hk_db_stmt(db, name, sb->buf, st, err);
}

/*
 * The generic multi-key look-up: SQL is head + "$first, ..." + tail, where the first
 * nfixed parameters are bound by bind_fixed and key i by bind_key(st, param, i, arg); each
 * result row goes to on_row.
 */
struct find_spec {
    const char *name;
    const char *head; /* "SELECT ... WHERE x = $1 AND y IN (" */
    int nfixed;       /* parameters before the keys */
    const char *tail; /* ")" plus anything after */
    int (*bind_fixed)(struct hk_stmt *st, const void *arg);
    int (*bind_key)(struct hk_stmt *st, int idx, size_t i, const void *arg);
    int (*on_row)(struct hk_stmt *st, const void *arg);
};

static int find_keys(struct hk_db *db, const struct find_spec *spec, size_t n, const void *arg,
                     struct hk_err *err)
{
    enum { NSIZES = sizeof FIND_CHUNKS / sizeof FIND_CHUNKS[0] };
    struct hk_strbuf sb[NSIZES]; /* each size's SQL, built once per call */
    int rc = 0;

    for (size_t i = 0; i < NSIZES; i++)
        hk_strbuf_init(&sb[i], 0);
    for (size_t done = 0; done < n;) {
        size_t k = pick_find_chunk(n - done), c = 0;
        while (FIND_CHUNKS[c] != k)
            c++;
        size_t real = n - done < k ? n - done : k;
        struct hk_stmt *st;
        if (!sb[c].len && (hk_strbuf_adds(&sb[c], spec->head) < 0 ||
                           add_params(&sb[c], spec->nfixed + 1, k) < 0 ||
                           hk_strbuf_adds(&sb[c], spec->tail) < 0)) {
            rc = hk_err_set(err, HK_E(NOMEM), "%s: out of memory", spec->name);
            goto fail;
        }
        if ((rc = chunk_stmt(db, spec->name, k, &sb[c], &st, err)) < 0)
            goto fail;
        int b = spec->bind_fixed ? spec->bind_fixed(st, arg) : 0;
        for (size_t j = 0; j < k && b >= 0; j++) /* pad by repeating the last real key */
            b = spec->bind_key(st, spec->nfixed + 1 + (int)j, done + (j < real ? j : real - 1),
                               arg);
        if (b < 0) {
            rc = hk_stmt_bind_failed(st, spec->name, err);
            goto fail;
        }
        while ((rc = hk_stmt_step(st, err)) == HK_ROW) {
            if ((rc = spec->on_row(st, arg)) < 0) {
                hk_stmt_reset(st);
                goto fail;
            }
        }
        hk_stmt_reset(st);
        if (rc < 0)
            goto fail;
        done += real;
    }
    rc = 0;
fail:
    for (size_t i = 0; i < NSIZES; i++)
        hk_strbuf_release(&sb[i]);
    return rc;
}

/*
 * The generic bulk insert: n rows streamed with hk_db_copy_* (COPY on PostgreSQL). With ids !=
 * NULL the table's id column comes first and ids[i] is reserved for row i beforehand
 * (hk_db_next_ids), so no RETURNING is needed; put_row writes the other columns.
 */
struct copy_spec {
    const char *table;
    const char *columns; /* "id, ..." when ids are given */
    int ncols;           /* including id */
    int (*put_row)(struct hk_copy *c, size_t i, const void *arg);
    /* optional: asks the caches for row i's strings (see copy_rows) */
    void (*prefetch_row)(size_t i, const void *arg);
};

/* Rows whose strings copy_rows asks for ahead of writing them. */
#define COPY_PREFETCH_AHEAD 8

static int copy_rows(struct hk_db *db, const struct copy_spec *spec, size_t n, const void *arg,
                     int64_t *ids, struct hk_err *err)
{
    struct hk_copy *c;
    int rc;
    if (!n)
        return 0;
    if (ids && (rc = hk_db_next_ids(db, spec->table, n, ids, err)) < 0)
        return rc;
    if ((rc = hk_db_copy_begin(db, spec->table, spec->columns, spec->ncols, &c, err)) < 0)
        return rc;
    /* The rows' strings were written by the reader a batch of records ago and are mostly out of
       the caches: the first touch (put_text's strlen) waited on memory for about a seventh
       of the importing thread's time. Asking for row i + AHEAD's strings while row i is written
       overlaps those misses. */
    for (size_t i = 0; spec->prefetch_row && i < n && i < COPY_PREFETCH_AHEAD; i++)
        spec->prefetch_row(i, arg);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (spec->prefetch_row && i + COPY_PREFETCH_AHEAD < n)
            spec->prefetch_row(i + COPY_PREFETCH_AHEAD, arg);
        if ((ids && hk_copy_int64(c, ids[i]) < 0) || spec->put_row(c, i, arg) < 0)
            rc = hk_err_set(err, HK_E(STORE), "copy into %s: a value cannot be written",
                            spec->table);
        else
            rc = hk_copy_row(c, err);
    }
    if (rc < 0) {
        struct hk_err ignored;
        hk_err_clear(&ignored);
        (void)hk_db_copy_end(c, &ignored);
        return rc;
    }
    return hk_db_copy_end(c, err);
}

static int put_text(struct hk_copy *c, const char *s)
{
    s = s ? s : "";
    return hk_copy_cstr(c, s);
}

static int put_opt_text(struct hk_copy *c, const char *s)
{
    return s && *s ? hk_copy_cstr(c, s) : hk_copy_null(c);
}

static void prefetch_text(const char *s)
{
    if (s)
        __builtin_prefetch(s);
}

static int put_opt_int64(struct hk_copy *c, int64_t v)
{
    return v ? hk_copy_int64(c, v) : hk_copy_null(c);
}

static int put_opt_blob(struct hk_copy *c, const void *p, size_t len)
{
    return p && len ? hk_copy_blob(c, p, len) : hk_copy_null(c);
}

/* ---- shops and products ------------------------------------------------------------------ */

int hk_irepo_shop_ensure(struct hk_db *db, const char *channel, const char *name,
                         const char *tz_name, int64_t now, int64_t *id, struct hk_err *err)
{
    struct hk_stmt *st;
    int64_t v = 0;
    bool found = false;
    int rc;

    for (int attempt = 0; attempt < 2; attempt++) {
        rc = hk_db_stmt(db, "irepo_shop_get",
                        "SELECT id FROM shops WHERE channel = $1 AND name = $2", &st, err);
        if (rc < 0)
            return rc;
        if (hk_stmt_bind_text_or_empty(st, 1, channel) < 0 ||
            hk_stmt_bind_text_or_empty(st, 2, name) < 0)
            return hk_stmt_bind_failed(st, "irepo_shop_get", err);
        if ((rc = hk_stmt_find_int64(st, &v, &found, err)) < 0)
            return rc;
        if (found) {
            *id = v;
            return 0;
        }
        rc = hk_db_stmt(db, "irepo_shop_ins",
                        "INSERT INTO shops (channel, name, timezone, created_at)"
                        " VALUES ($1, $2, $3, $4) ON CONFLICT (channel, name) DO NOTHING"
                        " RETURNING id",
                        &st, err);
        if (rc < 0)
            return rc;
        if (hk_stmt_bind_text_or_empty(st, 1, channel) < 0 ||
            hk_stmt_bind_text_or_empty(st, 2, name) < 0 ||
            hk_stmt_bind_text_or_empty(st, 3, tz_name && *tz_name ? tz_name : "Asia/Shanghai") <
                0 ||
            hk_stmt_bind_int64(st, 4, now) < 0)
            return hk_stmt_bind_failed(st, "irepo_shop_ins", err);
        if ((rc = hk_stmt_find_int64(st, &v, &found, err)) < 0)
            return rc;
        if (found) {
            *id = v;
            return 0;
        }
        /* another writer made it between the two statements: read it again */
    }
    return hk_err_set(err, HK_E(STORE), "irepo_shop_ins: the shop could not be created");
}

int hk_irepo_shop_timezone(struct hk_db *db, const char *channel, const char *name, char *buf,
                           size_t size, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "irepo_shop_tz",
                        "SELECT timezone FROM shops WHERE channel = $1 AND name = $2", &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_text_or_empty(st, 1, channel) < 0 ||
        hk_stmt_bind_text_or_empty(st, 2, name) < 0)
        return hk_stmt_bind_failed(st, "irepo_shop_tz", err);
    if (size)
        buf[0] = '\0';
    if ((rc = hk_stmt_step(st, err)) == HK_ROW)
        hk_stmt_text_copy(st, 0, buf, size);
    hk_stmt_reset(st);
    return rc < 0 ? rc : 0;
}

struct products_arg {
    const struct hk_irepo_product *rows;
    int64_t now;
};

/*
 * Touches every customer with a line of the product: the engine copies products.category into
 * each line when it applies a customer, so a changed category must re-apply all its buyers
 * (lines written earlier in this transaction, by the bulk loader too, are already visible).
 */
static int touch_product_buyers(struct hk_db *db, int64_t product_id, struct hk_err *err)
{
    /* the transaction logs one 'all' change (an initial load's batch): nothing to name, and
       the query reads all of order_items (no index on product_id, 0005) */
    if (db->touch_all)
        return 0;
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "irepo_product_buyers",
                        "SELECT DISTINCT o.customer_id FROM order_items i"
                        " JOIN orders o ON o.id = i.order_id WHERE i.product_id = $1",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, product_id) < 0)
        return hk_stmt_bind_failed(st, "irepo_product_buyers", err);
    while ((rc = hk_stmt_step(st, err)) == HK_ROW)
        hk_db_touch_customer(db, hk_stmt_int64(st, 0)); /* change log: the lines' category */
    hk_stmt_reset(st);
    return rc < 0 ? rc : 0;
}

int hk_irepo_product_fill(struct hk_db *db, int64_t id, const char *title, const char *category,
                          struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "irepo_product_fill",
                        "UPDATE products SET"
                        " title = CASE WHEN title = '' THEN $2 ELSE title END,"
                        " category = CASE WHEN category = '' THEN $3 ELSE category END"
                        " WHERE id = $1",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, id) < 0 || hk_stmt_bind_text_or_empty(st, 2, title) < 0 ||
        hk_stmt_bind_text_or_empty(st, 3, category) < 0)
        return hk_stmt_bind_failed(st, "irepo_product_fill", err);
    if ((rc = hk_stmt_exec(st, err)) < 0)
        return rc;
    return category && *category ? touch_product_buyers(db, id, err) : 0;
}

int hk_irepo_products_of_shop(struct hk_db *db, int64_t shop_id, hk_irepo_product_cb cb, void *arg,
                              struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "irepo_products_of_shop",
                        "SELECT id, external_id, title = '', category = '' FROM products"
                        " WHERE shop_id = $1",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, shop_id) < 0)
        return hk_stmt_bind_failed(st, "irepo_products_of_shop", err);
    while ((rc = hk_stmt_step(st, err)) == HK_ROW) {
        if ((rc = cb(arg, hk_stmt_int64(st, 0), hk_stmt_text_or_empty(st, 1),
                     hk_stmt_int64(st, 2) != 0, hk_stmt_int64(st, 3) != 0)) < 0)
            break;
    }
    hk_stmt_reset(st);
    return rc < 0 ? rc : 0;
}

static int put_product(struct hk_copy *c, size_t i, const void *arg)
{
    const struct products_arg *a = arg;
    const struct hk_irepo_product *r = &a->rows[i];
    int rc = 0;
    rc |= hk_copy_int64(c, r->id);
    rc |= hk_copy_int64(c, r->shop_id);
    rc |= put_text(c, r->external_id);
    rc |= put_text(c, r->title);
    rc |= put_text(c, r->category);
    rc |= hk_copy_int64(c, a->now);
    return rc ? -1 : 0;
}

int hk_irepo_products_insert(struct hk_db *db, const struct hk_irepo_product *rows, size_t n,
                             int64_t now, struct hk_err *err)
{
    static const struct copy_spec spec = {
        "products", "id, shop_id, external_id, title, category, created_at", 6, put_product, NULL,
    };
    struct products_arg a = {rows, now};
    return copy_rows(db, &spec, n, &a, NULL, err);
}

int hk_irepo_product_ensure(struct hk_db *db, int64_t shop_id, const char *external_id,
                            const char *title, const char *category, int64_t now, int64_t *id,
                            struct hk_err *err)
{
    struct hk_stmt *st;
    int rc;

    for (int attempt = 0; attempt < 2; attempt++) {
        rc = hk_db_stmt(db, "irepo_product_get",
                        "SELECT id, title, category FROM products"
                        " WHERE shop_id = $1 AND external_id = $2",
                        &st, err);
        if (rc < 0)
            return rc;
        if (hk_stmt_bind_int64(st, 1, shop_id) < 0 ||
            hk_stmt_bind_text_or_empty(st, 2, external_id) < 0)
            return hk_stmt_bind_failed(st, "irepo_product_get", err);
        rc = hk_stmt_step(st, err);
        if (rc == HK_ROW) {
            int64_t v = hk_stmt_int64(st, 0);
            bool fill_cat = !*hk_stmt_text_or_empty(st, 2) && category && *category;
            bool fill = (!*hk_stmt_text_or_empty(st, 1) && title && *title) || fill_cat;
            hk_stmt_reset(st);
            if (fill &&
                (rc = hk_irepo_product_fill(db, v, title, fill_cat ? category : NULL, err)) < 0)
                return rc;
            *id = v;
            return 0;
        }
        hk_stmt_reset(st);
        if (rc < 0)
            return rc;

        rc = hk_db_stmt(db, "irepo_product_ins",
                        "INSERT INTO products (shop_id, external_id, title, category, created_at)"
                        " VALUES ($1, $2, $3, $4, $5)"
                        " ON CONFLICT (shop_id, external_id) DO NOTHING RETURNING id",
                        &st, err);
        if (rc < 0)
            return rc;
        if (hk_stmt_bind_int64(st, 1, shop_id) < 0 ||
            hk_stmt_bind_text_or_empty(st, 2, external_id) < 0 ||
            hk_stmt_bind_text_or_empty(st, 3, title) < 0 ||
            hk_stmt_bind_text_or_empty(st, 4, category) < 0 || hk_stmt_bind_int64(st, 5, now) < 0)
            return hk_stmt_bind_failed(st, "irepo_product_ins", err);
        int64_t v = 0;
        bool found = false;
        if ((rc = hk_stmt_find_int64(st, &v, &found, err)) < 0)
            return rc;
        if (found) {
            *id = v;
            return 0;
        }
    }
    return hk_err_set(err, HK_E(STORE), "irepo_product_ins: the product could not be created");
}

/* ---- customers --------------------------------------------------------------------------- */

/* The hk_irepo_missing bits of a customer row, as SQL (prefix: the table alias and a dot). */
#define MISSING_EXPR(p)                                                                            \
    "(CASE WHEN " p "nick = '' THEN 1 ELSE 0 END"                                                  \
    " + CASE WHEN " p "name_hash IS NULL THEN 2 ELSE 0 END"                                        \
    " + CASE WHEN " p "phone_enc IS NULL THEN 4 ELSE 0 END"                                        \
    " + CASE WHEN " p "phone_masked IS NULL OR " p "phone_masked = '' THEN 8 ELSE 0 END"           \
    " + CASE WHEN " p "email IS NULL OR " p "email = '' THEN 16 ELSE 0 END"                        \
    " + CASE WHEN " p "province = '' THEN 32 ELSE 0 END"                                           \
    " + CASE WHEN " p "city = '' THEN 64 ELSE 0 END"                                               \
    " + CASE WHEN " p "address_enc IS NULL THEN 128 ELSE 0 END"                                    \
    " + CASE WHEN " p "name_enc IS NULL THEN 256 ELSE 0 END)"

struct customers_arg {
    const struct hk_irepo_customer *rows;
    int64_t now;
};

static void prefetch_customer(size_t i, const void *arg)
{
    const struct hk_irepo_customer *r = &((const struct customers_arg *)arg)->rows[i];
    prefetch_text(r->nick);
    prefetch_text(r->phone_hash);
    prefetch_text(r->name_hash);
    prefetch_text(r->phone_masked);
}

static int put_customer(struct hk_copy *c, size_t i, const void *arg)
{
    const struct customers_arg *a = arg;
    const struct hk_irepo_customer *r = &a->rows[i];
    int rc = 0;
    rc |= put_text(c, r->nick);
    rc |= put_opt_blob(c, r->name_enc, r->name_enc_len);
    rc |= put_opt_blob(c, r->phone_enc, r->phone_enc_len);
    rc |= put_opt_text(c, r->phone_hash);
    rc |= put_opt_text(c, r->name_hash);
    rc |= put_opt_text(c, r->phone_masked);
    rc |= put_opt_text(c, r->email);
    rc |= put_text(c, r->province);
    rc |= put_text(c, r->city);
    rc |= put_opt_blob(c, r->address_enc, r->address_enc_len);
    rc |= hk_copy_int64(c, a->now);
    rc |= hk_copy_int64(c, a->now);
    return rc ? -1 : 0;
}

int hk_irepo_customers_insert(struct hk_db *db, const struct hk_irepo_customer *rows, size_t n,
                              int64_t now, int64_t *ids, struct hk_err *err)
{
    static const struct copy_spec spec = {
        "customers",
        "id, nick, name_enc, phone_enc, phone_hash, name_hash, phone_masked, email, province,"
        " city, address_enc, created_at, updated_at",
        13,
        put_customer,
        prefetch_customer,
    };
    struct customers_arg a = {rows, now};
    int rc = copy_rows(db, &spec, n, &a, ids, err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        hk_db_touch_customer(db, ids[i]); /* change log: a new customer row */
    return rc;
}

int hk_irepo_customer_fill(struct hk_db *db, int64_t id, const struct hk_irepo_customer *c,
                           int64_t now, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(
        db, "irepo_customer_fill",
        "UPDATE customers SET"
        " nick = CASE WHEN nick = '' THEN COALESCE($2, '') ELSE nick END,"
        " name_hash = COALESCE(name_hash, $4),"
        " name_enc = CASE WHEN name_hash IS NOT NULL OR $4 IS NULL THEN COALESCE(name_enc, $3)"
        " ELSE $3 END,"
        " phone_hash = CASE WHEN phone_enc IS NULL THEN COALESCE($6, phone_hash)"
        " ELSE phone_hash END,"
        " phone_masked = CASE WHEN phone_enc IS NULL THEN COALESCE($7, phone_masked)"
        " ELSE COALESCE(phone_masked, $7) END,"
        " phone_enc = COALESCE(phone_enc, $5),"
        " email = COALESCE(NULLIF(email, ''), $8),"
        " province = CASE WHEN province = '' THEN COALESCE($9, '') ELSE province END,"
        " city = CASE WHEN city = '' THEN COALESCE($10, '') ELSE city END,"
        " address_enc = COALESCE(address_enc, $11),"
        " updated_at = $12"
        " WHERE id = $1",
        &st, err);
    if (rc < 0)
        return rc;
    rc = 0;
    rc |= hk_stmt_bind_int64(st, 1, id);
    rc |= hk_stmt_bind_opt_text(st, 2, c->nick);
    rc |= hk_stmt_bind_opt_blob(st, 3, c->name_enc, c->name_enc_len);
    rc |= hk_stmt_bind_opt_text(st, 4, c->name_hash);
    rc |= hk_stmt_bind_opt_blob(st, 5, c->phone_enc, c->phone_enc_len);
    rc |= hk_stmt_bind_opt_text(st, 6, c->phone_hash);
    rc |= hk_stmt_bind_opt_text(st, 7, c->phone_masked);
    rc |= hk_stmt_bind_opt_text(st, 8, c->email);
    rc |= hk_stmt_bind_opt_text(st, 9, c->province);
    rc |= hk_stmt_bind_opt_text(st, 10, c->city);
    rc |= hk_stmt_bind_opt_blob(st, 11, c->address_enc, c->address_enc_len);
    rc |= hk_stmt_bind_int64(st, 12, now);
    if (rc)
        return hk_stmt_bind_failed(st, "irepo_customer_fill", err);
    hk_db_touch_customer(db, id); /* change log: province, city */
    return hk_stmt_exec(st, err);
}

struct state_arg {
    const int64_t *ids;
    hk_irepo_customer_cb cb;
    void *arg;
};

static int state_bind_key(struct hk_stmt *st, int idx, size_t i, const void *arg)
{
    const struct state_arg *a = arg;
    return hk_stmt_bind_int64(st, idx, a->ids[i]);
}

static int state_row(struct hk_stmt *st, const void *arg)
{
    const struct state_arg *a = arg;
    struct hk_irepo_customer_state c = {
        .id = hk_stmt_int64(st, 0),
        .merged_into = hk_stmt_int64(st, 1),
        .missing = (unsigned)hk_stmt_int64(st, 2),
    };
    return a->cb(a->arg, &c);
}

int hk_irepo_customers_state(struct hk_db *db, const int64_t *ids, size_t n,
                             hk_irepo_customer_cb cb, void *arg, struct hk_err *err)
{
    static const struct find_spec spec = {
        "irepo_customer_state",
        "SELECT id, merged_into, " MISSING_EXPR("") " FROM customers WHERE id IN (",
        0,
        ")",
        NULL,
        state_bind_key,
        state_row,
    };
    struct state_arg a = {ids, cb, arg};
    return find_keys(db, &spec, n, &a, err);
}

int hk_irepo_customer_root(struct hk_db *db, int64_t id, int64_t *root, struct hk_err *err)
{
    int64_t cur = id;
    for (int hops = 0; hops < 256; hops++) {
        struct hk_stmt *st;
        int rc =
            hk_db_stmt(db, "irepo_customer_parent",
                       "SELECT COALESCE(merged_into, 0) FROM customers WHERE id = $1", &st, err);
        if (rc < 0)
            return rc;
        if (hk_stmt_bind_int64(st, 1, cur) < 0)
            return hk_stmt_bind_failed(st, "irepo_customer_parent", err);
        int64_t parent = 0;
        bool found = false;
        if ((rc = hk_stmt_find_int64(st, &parent, &found, err)) < 0)
            return rc;
        if (!found)
            return hk_err_set(err, HK_E(NOTFOUND), "customer %lld not found", (long long)cur);
        if (parent == 0) {
            *root = cur;
            return 0;
        }
        cur = parent;
    }
    return hk_err_set(err, HK_E(INTERNAL), "customer %lld: merged_into forms a cycle",
                      (long long)id);
}

/* ---- identities -------------------------------------------------------------------------- */

struct ident_find_arg {
    const char *channel, *kind;
    const char *const *values;
    hk_irepo_identity_cb cb;
    void *arg;
};

static int ident_bind_fixed(struct hk_stmt *st, const void *arg)
{
    const struct ident_find_arg *a = arg;
    return (hk_stmt_bind_text_or_empty(st, 1, a->channel) |
            hk_stmt_bind_text_or_empty(st, 2, a->kind))
               ? -1
               : 0;
}

static int ident_bind_key(struct hk_stmt *st, int idx, size_t i, const void *arg)
{
    const struct ident_find_arg *a = arg;
    return hk_stmt_bind_text_or_empty(st, idx, a->values[i]);
}

static int ident_row(struct hk_stmt *st, const void *arg)
{
    const struct ident_find_arg *a = arg;
    struct hk_irepo_identity r = {
        .id = hk_stmt_int64(st, 0),
        .customer_id = hk_stmt_int64(st, 1),
        .channel = hk_stmt_text_or_empty(st, 2),
        .kind = hk_stmt_text_or_empty(st, 3),
        .value = hk_stmt_text_or_empty(st, 4),
        .merged_into = hk_stmt_int64(st, 5),
        .missing = (unsigned)hk_stmt_int64(st, 6),
    };
    return a->cb(a->arg, &r);
}

int hk_irepo_identities_find(struct hk_db *db, const char *channel, const char *kind,
                             const char *const *values, size_t n, hk_irepo_identity_cb cb,
                             void *arg, struct hk_err *err)
{
    static const struct find_spec spec = {
        "irepo_ident_find",
        "SELECT i.id, i.customer_id, i.channel, i.kind, i.value, c.merged_into, " MISSING_EXPR(
            "c.") " FROM identities i JOIN customers c ON c.id = i.customer_id"
                  " WHERE i.channel = $1 AND i.kind = $2 AND i.value IN (",
        2,
        ")",
        ident_bind_fixed,
        ident_bind_key,
        ident_row,
    };
    struct ident_find_arg a = {channel, kind, values, cb, arg};
    return find_keys(db, &spec, n, &a, err);
}

struct ident_ins_arg {
    const struct hk_irepo_identity *rows;
    int64_t now;
};

static void prefetch_identity(size_t i, const void *arg)
{
    prefetch_text(((const struct ident_ins_arg *)arg)->rows[i].value);
}

static int put_identity(struct hk_copy *c, size_t i, const void *arg)
{
    const struct ident_ins_arg *a = arg;
    const struct hk_irepo_identity *r = &a->rows[i];
    int rc = 0;
    rc |= hk_copy_int64(c, r->customer_id);
    rc |= put_text(c, r->channel);
    rc |= put_text(c, r->kind);
    rc |= put_text(c, r->value);
    rc |= hk_copy_int64(c, a->now);
    return rc ? -1 : 0;
}

int hk_irepo_identities_insert(struct hk_db *db, const struct hk_irepo_identity *rows, size_t n,
                               int64_t now, int64_t *ids, struct hk_err *err)
{
    static const struct copy_spec spec = {
        "identities",      "id, customer_id, channel, kind, value, created_at", 6, put_identity,
        prefetch_identity,
    };
    struct ident_ins_arg a = {rows, now};
    for (size_t i = 0; i < n; i++)
        hk_db_touch_customer(db, rows[i].customer_id); /* change log: channels */
    return copy_rows(db, &spec, n, &a, ids, err);
}

/* ---- orders ------------------------------------------------------------------------------ */

#define ORDER_COLS                                                                                 \
    "id, shop_id, external_no, customer_id, identity_id, status, total_fen, discount_fen,"         \
    " postage_fen, paid_fen, refund_fen, coupon_code, created_at, paid_at, shipped_at,"            \
    " received_at, refunded_at, cancelled_at, buyer_note, seller_note, source, updated_at"
#define ORDER_COLS_O                                                                               \
    "o.id, o.shop_id, o.external_no, o.customer_id, o.identity_id, o.status, o.total_fen,"         \
    " o.discount_fen, o.postage_fen, o.paid_fen, o.refund_fen, o.coupon_code, o.created_at,"       \
    " o.paid_at, o.shipped_at, o.received_at, o.refunded_at, o.cancelled_at, o.buyer_note,"        \
    " o.seller_note, o.source, o.updated_at"

static void read_order(struct hk_stmt *st, struct hk_irepo_order *o)
{
    o->id = hk_stmt_int64(st, 0);
    o->shop_id = hk_stmt_int64(st, 1);
    o->external_no = hk_stmt_text_or_empty(st, 2);
    o->customer_id = hk_stmt_int64(st, 3);
    o->identity_id = hk_stmt_int64(st, 4);
    o->status = hk_stmt_text_or_empty(st, 5);
    o->total_fen = hk_stmt_int64(st, 6);
    o->discount_fen = hk_stmt_int64(st, 7);
    o->postage_fen = hk_stmt_int64(st, 8);
    o->paid_fen = hk_stmt_int64(st, 9);
    o->refund_fen = hk_stmt_int64(st, 10);
    o->coupon_code = hk_stmt_text_or_empty(st, 11);
    o->created_at = hk_stmt_int64(st, 12);
    o->paid_at = hk_stmt_int64(st, 13);
    o->shipped_at = hk_stmt_int64(st, 14);
    o->received_at = hk_stmt_int64(st, 15);
    o->refunded_at = hk_stmt_int64(st, 16);
    o->cancelled_at = hk_stmt_int64(st, 17);
    o->buyer_note = hk_stmt_text_or_empty(st, 18);
    o->seller_note = hk_stmt_text_or_empty(st, 19);
    o->source = hk_stmt_text_or_empty(st, 20);
    o->updated_at = hk_stmt_int64(st, 21);
}

struct order_find_arg {
    int64_t shop_id;
    const char *channel;
    const char *const *nos;
    hk_irepo_order_cb cb;
    void *arg;
};

static int order_bind_shop(struct hk_stmt *st, const void *arg)
{
    const struct order_find_arg *a = arg;
    return hk_stmt_bind_int64(st, 1, a->shop_id);
}

static int order_bind_channel(struct hk_stmt *st, const void *arg)
{
    const struct order_find_arg *a = arg;
    return hk_stmt_bind_text_or_empty(st, 1, a->channel);
}

static int order_bind_key(struct hk_stmt *st, int idx, size_t i, const void *arg)
{
    const struct order_find_arg *a = arg;
    return hk_stmt_bind_text_or_empty(st, idx, a->nos[i]);
}

static int order_row(struct hk_stmt *st, const void *arg)
{
    const struct order_find_arg *a = arg;
    struct hk_irepo_order o;
    read_order(st, &o);
    return a->cb(a->arg, &o);
}

int hk_irepo_orders_find(struct hk_db *db, int64_t shop_id, const char *const *nos, size_t n,
                         hk_irepo_order_cb cb, void *arg, struct hk_err *err)
{
    static const struct find_spec spec = {
        "irepo_orders_find",
        "SELECT " ORDER_COLS " FROM orders WHERE shop_id = $1 AND external_no IN (",
        1,
        ")",
        order_bind_shop,
        order_bind_key,
        order_row,
    };
    struct order_find_arg a = {shop_id, NULL, nos, cb, arg};
    return find_keys(db, &spec, n, &a, err);
}

int hk_irepo_orders_find_in_channel(struct hk_db *db, const char *channel, const char *const *nos,
                                    size_t n, hk_irepo_order_cb cb, void *arg, struct hk_err *err)
{
    static const struct find_spec spec = {
        "irepo_orders_find_ch",
        "SELECT " ORDER_COLS_O " FROM orders o"
        " WHERE o.shop_id IN (SELECT id FROM shops WHERE channel = $1) AND o.external_no IN (",
        1,
        ") ORDER BY o.id",
        order_bind_channel,
        order_bind_key,
        order_row,
    };
    struct order_find_arg a = {0, channel, nos, cb, arg};
    return find_keys(db, &spec, n, &a, err);
}

static int bind_order_values(struct hk_stmt *st, int p, const struct hk_irepo_order *o)
{
    /* status .. updated_at: the columns both insert and update write, in this order */
    int rc = 0;
    rc |= hk_stmt_bind_text_or_empty(st, p + 0, o->status);
    rc |= hk_stmt_bind_int64(st, p + 1, o->total_fen);
    rc |= hk_stmt_bind_int64(st, p + 2, o->discount_fen);
    rc |= hk_stmt_bind_int64(st, p + 3, o->postage_fen);
    rc |= hk_stmt_bind_int64(st, p + 4, o->paid_fen);
    rc |= hk_stmt_bind_int64(st, p + 5, o->refund_fen);
    rc |= hk_stmt_bind_opt_text(st, p + 6, o->coupon_code);
    rc |= hk_stmt_bind_int64(st, p + 7, o->created_at);
    rc |= hk_stmt_bind_opt_int64(st, p + 8, o->paid_at);
    rc |= hk_stmt_bind_opt_int64(st, p + 9, o->shipped_at);
    rc |= hk_stmt_bind_opt_int64(st, p + 10, o->received_at);
    rc |= hk_stmt_bind_opt_int64(st, p + 11, o->refunded_at);
    rc |= hk_stmt_bind_opt_int64(st, p + 12, o->cancelled_at);
    rc |= hk_stmt_bind_text_or_empty(st, p + 13, o->buyer_note);
    rc |= hk_stmt_bind_text_or_empty(st, p + 14, o->seller_note);
    rc |= hk_stmt_bind_text_or_empty(st, p + 15, o->source);
    rc |= hk_stmt_bind_int64(st, p + 16, o->updated_at);
    return rc ? -1 : 0;
}

static void prefetch_order(size_t i, const void *arg)
{
    const struct hk_irepo_order *o = &((const struct hk_irepo_order *)arg)[i];
    prefetch_text(o->external_no);
    prefetch_text(o->coupon_code);
    prefetch_text(o->buyer_note);
    prefetch_text(o->seller_note);
}

static int put_order(struct hk_copy *c, size_t i, const void *arg)
{
    const struct hk_irepo_order *o = &((const struct hk_irepo_order *)arg)[i];
    int rc = 0;
    rc |= hk_copy_int64(c, o->shop_id);
    rc |= put_text(c, o->external_no);
    rc |= hk_copy_int64(c, o->customer_id);
    rc |= put_opt_int64(c, o->identity_id);
    rc |= put_text(c, o->status);
    rc |= hk_copy_int64(c, o->total_fen);
    rc |= hk_copy_int64(c, o->discount_fen);
    rc |= hk_copy_int64(c, o->postage_fen);
    rc |= hk_copy_int64(c, o->paid_fen);
    rc |= hk_copy_int64(c, o->refund_fen);
    rc |= put_opt_text(c, o->coupon_code);
    rc |= hk_copy_int64(c, o->created_at);
    rc |= put_opt_int64(c, o->paid_at);
    rc |= put_opt_int64(c, o->shipped_at);
    rc |= put_opt_int64(c, o->received_at);
    rc |= put_opt_int64(c, o->refunded_at);
    rc |= put_opt_int64(c, o->cancelled_at);
    rc |= put_text(c, o->buyer_note);
    rc |= put_text(c, o->seller_note);
    rc |= put_text(c, o->source);
    rc |= hk_copy_int64(c, o->updated_at);
    return rc ? -1 : 0;
}

int hk_irepo_orders_insert(struct hk_db *db, const struct hk_irepo_order *rows, size_t n,
                           int64_t *ids, struct hk_err *err)
{
    static const struct copy_spec spec = {
        "orders",
        "id, shop_id, external_no, customer_id, identity_id, status, total_fen, discount_fen,"
        " postage_fen, paid_fen, refund_fen, coupon_code, created_at, paid_at, shipped_at,"
        " received_at, refunded_at, cancelled_at, buyer_note, seller_note, source, updated_at",
        22,
        put_order,
        prefetch_order,
    };
    for (size_t i = 0; i < n; i++)
        hk_db_touch_customer(db, rows[i].customer_id); /* change log */
    return copy_rows(db, &spec, n, rows, ids, err);
}

int hk_irepo_order_update(struct hk_db *db, const struct hk_irepo_order *row, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "irepo_order_update",
                        "UPDATE orders SET status = $2, total_fen = $3, discount_fen = $4,"
                        " postage_fen = $5, paid_fen = $6, refund_fen = $7, coupon_code = $8,"
                        " created_at = $9, paid_at = $10, shipped_at = $11, received_at = $12,"
                        " refunded_at = $13, cancelled_at = $14, buyer_note = $15,"
                        " seller_note = $16, source = $17, updated_at = $18 WHERE id = $1",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, row->id) < 0 || bind_order_values(st, 2, row) < 0)
        return hk_stmt_bind_failed(st, "irepo_order_update", err);
    hk_db_touch_order(db, row->id); /* change log */
    return hk_stmt_exec(st, err);
}

/* ---- items ------------------------------------------------------------------------------- */

#define ITEM_COLS                                                                                  \
    "order_id, line_no, item_key, placeholder, product_id, title, sku, quantity,"                  \
    " unit_price_fen, paid_fen, refund_fen, variant, category"

struct items_find_arg {
    const int64_t *ids;
    hk_irepo_item_cb cb;
    void *arg;
};

static int items_bind_key(struct hk_stmt *st, int idx, size_t i, const void *arg)
{
    const struct items_find_arg *a = arg;
    return hk_stmt_bind_int64(st, idx, a->ids[i]);
}

static int items_row(struct hk_stmt *st, const void *arg)
{
    const struct items_find_arg *a = arg;
    struct hk_irepo_item it = {
        .order_id = hk_stmt_int64(st, 0),
        .line_no = (int32_t)hk_stmt_int64(st, 1),
        .item_key = hk_stmt_text_or_empty(st, 2),
        .placeholder = hk_stmt_int64(st, 3) != 0,
        .product_id = hk_stmt_int64(st, 4),
        .title = hk_stmt_text_or_empty(st, 5),
        .sku = hk_stmt_text_or_empty(st, 6),
        .quantity = (int32_t)hk_stmt_int64(st, 7),
        .unit_price_fen = hk_stmt_int64(st, 8),
        .paid_fen = hk_stmt_int64(st, 9),
        .refund_fen = hk_stmt_int64(st, 10),
        .variant = hk_stmt_text_or_empty(st, 11),
        .category = hk_stmt_text_or_empty(st, 12),
    };
    return a->cb(a->arg, &it);
}

int hk_irepo_items_find(struct hk_db *db, const int64_t *order_ids, size_t n, hk_irepo_item_cb cb,
                        void *arg, struct hk_err *err)
{
    static const struct find_spec spec = {
        "irepo_items_find",
        "SELECT " ITEM_COLS " FROM order_items WHERE order_id IN (",
        0,
        ") ORDER BY order_id, line_no",
        NULL,
        items_bind_key,
        items_row,
    };
    struct items_find_arg a = {order_ids, cb, arg};
    return find_keys(db, &spec, n, &a, err);
}

static void prefetch_item(size_t i, const void *arg)
{
    const struct hk_irepo_item *it = &((const struct hk_irepo_item *)arg)[i];
    prefetch_text(it->item_key);
    prefetch_text(it->title);
    prefetch_text(it->sku);
    prefetch_text(it->variant);
    prefetch_text(it->category);
}

static int put_item(struct hk_copy *c, size_t i, const void *arg)
{
    const struct hk_irepo_item *it = &((const struct hk_irepo_item *)arg)[i];
    int rc = 0;
    rc |= hk_copy_int64(c, it->order_id);
    rc |= hk_copy_int64(c, it->line_no);
    rc |= put_text(c, it->item_key);
    rc |= hk_copy_int64(c, it->placeholder ? 1 : 0);
    rc |= put_opt_int64(c, it->product_id);
    rc |= put_text(c, it->title);
    rc |= put_text(c, it->sku);
    rc |= hk_copy_int64(c, it->quantity);
    rc |= hk_copy_int64(c, it->unit_price_fen);
    rc |= hk_copy_int64(c, it->paid_fen);
    rc |= hk_copy_int64(c, it->refund_fen);
    rc |= put_text(c, it->variant);
    rc |= put_text(c, it->category);
    return rc ? -1 : 0;
}

int hk_irepo_items_insert(struct hk_db *db, const struct hk_irepo_item *rows, size_t n,
                          struct hk_err *err)
{
    static const struct copy_spec spec = {"order_items", ITEM_COLS, 13, put_item, prefetch_item};
    static const struct copy_spec spec_ids = {"order_items", "id, " ITEM_COLS, 14, put_item,
                                              prefetch_item};
    for (size_t i = 0; i < n; i++) { /* change log */
        if (rows[i].customer_id)
            hk_db_touch_customer(db, rows[i].customer_id);
        else
            hk_db_touch_order(db, rows[i].order_id);
    }
    /* PostgreSQL with the pipeline: the ids come from its pool, taken on another connection,
       instead of the column's default, a nextval per row on the writer's connection (0.3 s of
       its ~9 s per 1M lines; the writer is what an import waits for). Without the pipeline
       the default is as cheap and needs no extra round trip. */
    if (n == 0 || hk_db_backend(db) != HK_STORE_POSTGRES || !db->pipe)
        return copy_rows(db, &spec, n, rows, NULL, err);
    int64_t *ids = malloc(n * sizeof(*ids));
    if (!ids)
        return hk_err_set(err, HK_E(NOMEM), "order items: out of memory");
    int rc = copy_rows(db, &spec_ids, n, rows, ids, err);
    free(ids);
    return rc;
}

int hk_irepo_item_update(struct hk_db *db, const struct hk_irepo_item *row, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "irepo_item_update",
                        "UPDATE order_items SET placeholder = $3, product_id = $4, title = $5,"
                        " sku = $6, quantity = $7, unit_price_fen = $8, paid_fen = $9,"
                        " refund_fen = $10, variant = $11, category = $12"
                        " WHERE order_id = $1 AND item_key = $2",
                        &st, err);
    if (rc < 0)
        return rc;
    rc = 0;
    rc |= hk_stmt_bind_int64(st, 1, row->order_id);
    rc |= hk_stmt_bind_text_or_empty(st, 2, row->item_key);
    rc |= hk_stmt_bind_int64(st, 3, row->placeholder ? 1 : 0);
    rc |= hk_stmt_bind_opt_int64(st, 4, row->product_id);
    rc |= hk_stmt_bind_text_or_empty(st, 5, row->title);
    rc |= hk_stmt_bind_text_or_empty(st, 6, row->sku);
    rc |= hk_stmt_bind_int64(st, 7, row->quantity);
    rc |= hk_stmt_bind_int64(st, 8, row->unit_price_fen);
    rc |= hk_stmt_bind_int64(st, 9, row->paid_fen);
    rc |= hk_stmt_bind_int64(st, 10, row->refund_fen);
    rc |= hk_stmt_bind_text_or_empty(st, 11, row->variant);
    rc |= hk_stmt_bind_text_or_empty(st, 12, row->category);
    if (rc)
        return hk_stmt_bind_failed(st, "irepo_item_update", err);
    hk_db_touch_order(db, row->order_id); /* change log */
    return hk_stmt_exec(st, err);
}

int hk_irepo_items_delete_placeholders(struct hk_db *db, int64_t order_id, int64_t *deleted,
                                       struct hk_err *err)
{
    struct hk_stmt *st;
    int rc =
        hk_db_stmt(db, "irepo_items_del_placeholders",
                   "DELETE FROM order_items WHERE order_id = $1 AND placeholder = 1", &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, order_id) < 0)
        return hk_stmt_bind_failed(st, "irepo_items_del_placeholders", err);
    hk_db_touch_order(db, order_id); /* change log */
    if ((rc = hk_stmt_exec(st, err)) < 0)
        return rc;
    if (deleted)
        *deleted = hk_stmt_changes(st);
    return 0;
}

/* ---- history ----------------------------------------------------------------------------- */

static void prefetch_history(size_t i, const void *arg)
{
    const struct hk_irepo_history *h = &((const struct hk_irepo_history *)arg)[i];
    prefetch_text(h->old_value);
    prefetch_text(h->new_value);
}

static int put_history(struct hk_copy *c, size_t i, const void *arg)
{
    const struct hk_irepo_history *h = &((const struct hk_irepo_history *)arg)[i];
    int rc = 0;
    rc |= hk_copy_int64(c, h->order_id);
    rc |= hk_copy_int64(c, h->at);
    rc |= put_text(c, h->change);
    rc |= put_text(c, h->old_value);
    rc |= put_text(c, h->new_value);
    rc |= put_text(c, h->source);
    return rc ? -1 : 0;
}

int hk_irepo_history_insert(struct hk_db *db, const struct hk_irepo_history *rows, size_t n,
                            struct hk_err *err)
{
    static const struct copy_spec spec = {
        "order_history",  "order_id, at, change, old_value, new_value, source", 6, put_history,
        prefetch_history,
    };
    return copy_rows(db, &spec, n, rows, NULL, err);
}

/* ---- staged items ------------------------------------------------------------------------ */

#define STAGED_COLS                                                                                \
    "channel, order_no, item_key, product_ext_id, sku, title, variant, category, quantity,"        \
    " unit_price_fen, paid_fen, refund_fen, status"

int hk_irepo_staged_put(struct hk_db *db, const struct hk_irepo_staged *row, int64_t now,
                        bool *changed, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(
        db, "irepo_staged_put",
        "INSERT INTO staged_items (" STAGED_COLS ", created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        " ON CONFLICT (channel, order_no, item_key) DO UPDATE SET"
        " product_ext_id = excluded.product_ext_id, sku = excluded.sku, title = excluded.title,"
        " variant = excluded.variant, category = excluded.category,"
        " quantity = excluded.quantity, unit_price_fen = excluded.unit_price_fen,"
        " paid_fen = excluded.paid_fen, refund_fen = excluded.refund_fen,"
        " status = excluded.status"
        " WHERE staged_items.product_ext_id <> excluded.product_ext_id"
        " OR staged_items.sku <> excluded.sku OR staged_items.title <> excluded.title"
        " OR staged_items.variant <> excluded.variant"
        " OR staged_items.category <> excluded.category"
        " OR staged_items.quantity <> excluded.quantity"
        " OR staged_items.unit_price_fen <> excluded.unit_price_fen"
        " OR staged_items.paid_fen <> excluded.paid_fen"
        " OR staged_items.refund_fen <> excluded.refund_fen"
        " OR staged_items.status <> excluded.status",
        &st, err);
    if (rc < 0)
        return rc;
    rc = 0;
    rc |= hk_stmt_bind_text_or_empty(st, 1, row->channel);
    rc |= hk_stmt_bind_text_or_empty(st, 2, row->order_no);
    rc |= hk_stmt_bind_text_or_empty(st, 3, row->item_key);
    rc |= hk_stmt_bind_text_or_empty(st, 4, row->product_ext_id);
    rc |= hk_stmt_bind_text_or_empty(st, 5, row->sku);
    rc |= hk_stmt_bind_text_or_empty(st, 6, row->title);
    rc |= hk_stmt_bind_text_or_empty(st, 7, row->variant);
    rc |= hk_stmt_bind_text_or_empty(st, 8, row->category);
    rc |= hk_stmt_bind_int64(st, 9, row->quantity);
    rc |= hk_stmt_bind_int64(st, 10, row->unit_price_fen);
    rc |= hk_stmt_bind_int64(st, 11, row->paid_fen);
    rc |= hk_stmt_bind_int64(st, 12, row->refund_fen);
    rc |= hk_stmt_bind_text_or_empty(st, 13, row->status);
    rc |= hk_stmt_bind_int64(st, 14, now);
    if (rc)
        return hk_stmt_bind_failed(st, "irepo_staged_put", err);
    if ((rc = hk_stmt_exec(st, err)) < 0)
        return rc;
    if (changed)
        *changed = hk_stmt_changes(st) > 0;
    return 0;
}

int hk_irepo_staged_any(struct hk_db *db, bool *out, struct hk_err *err)
{
    struct hk_stmt *st;
    int64_t v = 0;
    bool found = false;
    int rc = hk_db_stmt(db, "irepo_staged_any", "SELECT 1 FROM staged_items LIMIT 1", &st, err);
    if (rc < 0)
        return rc;
    if ((rc = hk_stmt_find_int64(st, &v, &found, err)) < 0)
        return rc;
    *out = found;
    return 0;
}

int hk_irepo_staged_take(struct hk_db *db, const char *channel, const char *order_no,
                         hk_irepo_staged_cb cb, void *arg, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "irepo_staged_get",
                        "SELECT " STAGED_COLS " FROM staged_items"
                        " WHERE channel = $1 AND order_no = $2 ORDER BY id",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_text_or_empty(st, 1, channel) < 0 ||
        hk_stmt_bind_text_or_empty(st, 2, order_no) < 0)
        return hk_stmt_bind_failed(st, "irepo_staged_get", err);
    bool any = false;
    while ((rc = hk_stmt_step(st, err)) == HK_ROW) {
        struct hk_irepo_staged s = {
            .channel = hk_stmt_text_or_empty(st, 0),
            .order_no = hk_stmt_text_or_empty(st, 1),
            .item_key = hk_stmt_text_or_empty(st, 2),
            .product_ext_id = hk_stmt_text_or_empty(st, 3),
            .sku = hk_stmt_text_or_empty(st, 4),
            .title = hk_stmt_text_or_empty(st, 5),
            .variant = hk_stmt_text_or_empty(st, 6),
            .category = hk_stmt_text_or_empty(st, 7),
            .quantity = (int32_t)hk_stmt_int64(st, 8),
            .unit_price_fen = hk_stmt_int64(st, 9),
            .paid_fen = hk_stmt_int64(st, 10),
            .refund_fen = hk_stmt_int64(st, 11),
            .status = hk_stmt_text_or_empty(st, 12),
        };
        any = true;
        if ((rc = cb(arg, &s)) < 0)
            break;
    }
    hk_stmt_reset(st);
    if (rc < 0)
        return rc;
    if (!any)
        return 0;
    rc = hk_db_stmt(db, "irepo_staged_del",
                    "DELETE FROM staged_items WHERE channel = $1 AND order_no = $2", &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_text_or_empty(st, 1, channel) < 0 ||
        hk_stmt_bind_text_or_empty(st, 2, order_no) < 0)
        return hk_stmt_bind_failed(st, "irepo_staged_del", err);
    return hk_stmt_exec(st, err);
}

/* ---- merges ------------------------------------------------------------------------------ */

static int merge_indexes_ensure(struct hk_db *db, struct hk_err *err);

/* Runs a statement whose parameters are all BIGINT (ids and times). */
static int exec_ints(struct hk_db *db, const char *name, const char *sql, const int64_t *v, int n,
                     int64_t *changes, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name, sql, &st, err);
    if (rc < 0)
        return rc;
    for (int i = 0; i < n; i++)
        if (hk_stmt_bind_int64(st, i + 1, v[i]) < 0)
            return hk_stmt_bind_failed(st, name, err);
    if ((rc = hk_stmt_exec(st, err)) < 0)
        return rc;
    if (changes)
        *changes = hk_stmt_changes(st);
    return 0;
}

int hk_irepo_merge(struct hk_db *db, int64_t winner, int64_t loser, const char *reason, int64_t now,
                   int64_t *merge_id, struct hk_err *err)
{
    struct hk_stmt *st;
    int64_t mid = 0, changed = 0;
    bool found = false;
    int rc;

    if (winner == loser || winner <= 0 || loser <= 0)
        return hk_err_set(err, HK_E(INVAL), "merge: two different customers are needed");
    if ((rc = merge_indexes_ensure(db, err)) < 0)
        return rc;
    rc = hk_db_stmt(db, "irepo_merge_ins",
                    "INSERT INTO customer_merges (winner_id, loser_id, reason, at)"
                    " VALUES ($1, $2, $3, $4) RETURNING id",
                    &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, winner) < 0 || hk_stmt_bind_int64(st, 2, loser) < 0 ||
        hk_stmt_bind_text_or_empty(st, 3, reason) < 0 || hk_stmt_bind_int64(st, 4, now) < 0)
        return hk_stmt_bind_failed(st, "irepo_merge_ins", err);
    if ((rc = hk_stmt_find_int64(st, &mid, &found, err)) < 0)
        return rc;
    if (!found)
        return hk_err_set(err, HK_E(STORE), "irepo_merge_ins: no id returned");
    hk_db_touch_customer(db, winner); /* change log: history moves between the two */
    hk_db_touch_customer(db, loser);

    /* Record what moves, then move it: [merge, loser] / [winner, loser, now]. */
    const int64_t ml[] = {mid, loser};
    const int64_t wln[] = {winner, loser, now};
    if ((rc = exec_ints(db, "irepo_merge_rec_ident",
                        "INSERT INTO merge_moves (merge_id, kind, row_id)"
                        " SELECT CAST($1 AS BIGINT), 'identity', id FROM identities"
                        " WHERE customer_id = $2",
                        ml, 2, NULL, err)) < 0 ||
        (rc = exec_ints(db, "irepo_merge_mv_ident",
                        "UPDATE identities SET customer_id = $1 WHERE customer_id = $2", wln, 2,
                        NULL, err)) < 0 ||
        (rc = exec_ints(db, "irepo_merge_rec_order",
                        "INSERT INTO merge_moves (merge_id, kind, row_id)"
                        " SELECT CAST($1 AS BIGINT), 'order', id FROM orders"
                        " WHERE customer_id = $2",
                        ml, 2, NULL, err)) < 0 ||
        (rc = exec_ints(db, "irepo_merge_mv_order",
                        "UPDATE orders SET customer_id = $1, updated_at = $3"
                        " WHERE customer_id = $2",
                        wln, 3, NULL, err)) < 0 ||
        (rc = exec_ints(db, "irepo_merge_rec_event",
                        "INSERT INTO merge_moves (merge_id, kind, row_id)"
                        " SELECT CAST($1 AS BIGINT), 'event', id FROM events"
                        " WHERE customer_id = $2",
                        ml, 2, NULL, err)) < 0 ||
        (rc = exec_ints(db, "irepo_merge_mv_event",
                        "UPDATE events SET customer_id = $1 WHERE customer_id = $2", wln, 2, NULL,
                        err)) < 0)
        return rc;

    const int64_t mlw[] = {mid, loser, winner};
    const int64_t wlm[] = {winner, loser, mid};
    if ((rc = exec_ints(db, "irepo_merge_rec_tag",
                        "INSERT INTO merge_moves (merge_id, kind, row_id)"
                        " SELECT CAST($1 AS BIGINT), 'tag', t.tag_id FROM customer_tags t"
                        " WHERE t.customer_id = $2 AND NOT EXISTS (SELECT 1 FROM customer_tags w"
                        " WHERE w.customer_id = $3 AND w.tag_id = t.tag_id)",
                        mlw, 3, NULL, err)) < 0 ||
        (rc = exec_ints(db, "irepo_merge_mv_tag",
                        "UPDATE customer_tags SET customer_id = $1 WHERE customer_id = $2"
                        " AND tag_id IN (SELECT row_id FROM merge_moves WHERE merge_id = $3"
                        " AND kind = 'tag')",
                        wlm, 3, NULL, err)) < 0)
        return rc;

    if ((rc = exec_ints(db, "irepo_merge_mark",
                        "UPDATE customers SET merged_into = $1, updated_at = $3"
                        " WHERE id = $2 AND merged_into IS NULL",
                        wln, 3, &changed, err)) < 0)
        return rc;
    if (changed != 1)
        return hk_err_set(err, HK_E(CONFLICT), "customer %lld is merged already or missing",
                          (long long)loser);
    if (merge_id)
        *merge_id = mid;
    return 0;
}

static int read_merge(struct hk_stmt *st, struct hk_irepo_merge_row *out, struct hk_err *err)
{
    int rc = hk_stmt_one_row(st, "merge", err);
    if (rc != HK_ROW)
        return rc;
    out->id = hk_stmt_int64(st, 0);
    out->winner_id = hk_stmt_int64(st, 1);
    out->loser_id = hk_stmt_int64(st, 2);
    hk_stmt_text_copy(st, 3, out->reason, sizeof out->reason);
    out->at = hk_stmt_int64(st, 4);
    out->undone_at = hk_stmt_int64(st, 5);
    hk_stmt_reset(st);
    return 0;
}

int hk_irepo_merge_active_for_loser(struct hk_db *db, int64_t loser_id,
                                    struct hk_irepo_merge_row *out, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "irepo_merge_active",
                        "SELECT id, winner_id, loser_id, reason, at, undone_at"
                        " FROM customer_merges WHERE loser_id = $1 AND undone_at IS NULL"
                        " ORDER BY id DESC LIMIT 1",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, loser_id) < 0)
        return hk_stmt_bind_failed(st, "irepo_merge_active", err);
    return read_merge(st, out, err);
}

int hk_irepo_merge_latest_for_winner(struct hk_db *db, int64_t winner_id,
                                     struct hk_irepo_merge_row *out, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "irepo_merge_latest_won",
                        "SELECT id, winner_id, loser_id, reason, at, undone_at"
                        " FROM customer_merges WHERE winner_id = $1 AND undone_at IS NULL"
                        " ORDER BY id DESC LIMIT 1",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, winner_id) < 0)
        return hk_stmt_bind_failed(st, "irepo_merge_latest_won", err);
    return read_merge(st, out, err);
}

int hk_irepo_merge_get(struct hk_db *db, int64_t id, struct hk_irepo_merge_row *out,
                       struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "irepo_merge_get",
                        "SELECT id, winner_id, loser_id, reason, at, undone_at"
                        " FROM customer_merges WHERE id = $1",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, id) < 0)
        return hk_stmt_bind_failed(st, "irepo_merge_get", err);
    return read_merge(st, out, err);
}

int hk_irepo_unmerge(struct hk_db *db, int64_t merge_id, const char *by, int64_t now,
                     struct hk_err *err)
{
    struct hk_irepo_merge_row m;
    struct hk_stmt *st;
    int64_t parent = 0;
    bool found = false;
    int rc;

    if ((rc = hk_irepo_merge_get(db, merge_id, &m, err)) < 0)
        return rc;
    if (m.undone_at)
        return hk_err_set(err, HK_E(CONFLICT), "merge %lld was undone already",
                          (long long)merge_id);
    rc = hk_db_stmt(db, "irepo_customer_parent",
                    "SELECT COALESCE(merged_into, 0) FROM customers WHERE id = $1", &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, m.winner_id) < 0)
        return hk_stmt_bind_failed(st, "irepo_customer_parent", err);
    if ((rc = hk_stmt_find_int64(st, &parent, &found, err)) < 0)
        return rc;
    if (found && parent != 0)
        return hk_err_set(err, HK_E(CONFLICT),
                          "customer %lld was merged into customer %lld after this merge; "
                          "undo that merge first",
                          (long long)m.winner_id, (long long)parent);

    if ((rc = merge_indexes_ensure(db, err)) < 0)
        return rc;
    hk_db_touch_customer(db, m.winner_id); /* change log */
    hk_db_touch_customer(db, m.loser_id);
    /* [loser, winner, merge, now] */
    const int64_t lwm[] = {m.loser_id, m.winner_id, merge_id, now};
    if ((rc = exec_ints(db, "irepo_unmerge_ident",
                        "UPDATE identities SET customer_id = $1 WHERE customer_id = $2"
                        " AND id IN (SELECT row_id FROM merge_moves WHERE merge_id = $3"
                        " AND kind = 'identity')",
                        lwm, 3, NULL, err)) < 0 ||
        (rc = exec_ints(db, "irepo_unmerge_order",
                        "UPDATE orders SET customer_id = $1, updated_at = $4"
                        " WHERE customer_id = $2 AND (id IN (SELECT row_id FROM merge_moves"
                        " WHERE merge_id = $3 AND kind = 'order') OR identity_id IN"
                        " (SELECT row_id FROM merge_moves WHERE merge_id = $3"
                        " AND kind = 'identity'))",
                        lwm, 4, NULL, err)) < 0 ||
        (rc = exec_ints(db, "irepo_unmerge_event",
                        "UPDATE events SET customer_id = $1"
                        " WHERE customer_id = $2 AND (id IN (SELECT row_id FROM merge_moves"
                        " WHERE merge_id = $3 AND kind = 'event') OR identity_id IN"
                        " (SELECT row_id FROM merge_moves WHERE merge_id = $3"
                        " AND kind = 'identity'))",
                        lwm, 3, NULL, err)) < 0 ||
        (rc = exec_ints(db, "irepo_unmerge_tag",
                        "UPDATE customer_tags SET customer_id = $1 WHERE customer_id = $2"
                        " AND tag_id IN (SELECT row_id FROM merge_moves WHERE merge_id = $3"
                        " AND kind = 'tag')",
                        lwm, 3, NULL, err)) < 0)
        return rc;

    const int64_t ln[] = {m.loser_id, now};
    if ((rc = exec_ints(db, "irepo_unmerge_mark",
                        "UPDATE customers SET merged_into = NULL, updated_at = $2 WHERE id = $1",
                        ln, 2, NULL, err)) < 0)
        return rc;
    rc = hk_db_stmt(db, "irepo_unmerge_done",
                    "UPDATE customer_merges SET undone_at = $2, undone_by = $3 WHERE id = $1", &st,
                    err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, merge_id) < 0 || hk_stmt_bind_int64(st, 2, now) < 0 ||
        hk_stmt_bind_text_or_empty(st, 3, by) < 0)
        return hk_stmt_bind_failed(st, "irepo_unmerge_done", err);
    if ((rc = hk_stmt_exec(st, err)) < 0)
        return rc;
    return hk_irepo_never_merge_add(db, m.winner_id, m.loser_id, "unmerge", now, err);
}

int hk_irepo_never_merge_add(struct hk_db *db, int64_t a, int64_t b, const char *reason,
                             int64_t now, struct hk_err *err)
{
    struct hk_stmt *st;
    if (a == b || a <= 0 || b <= 0)
        return hk_err_set(err, HK_E(INVAL), "never-merge: two different customers are needed");
    int rc = hk_db_stmt(db, "irepo_never_merge_add",
                        "INSERT INTO never_merge (customer_a, customer_b, reason, created_at)"
                        " VALUES ($1, $2, $3, $4) ON CONFLICT (customer_a, customer_b) DO NOTHING",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, a < b ? a : b) < 0 ||
        hk_stmt_bind_int64(st, 2, a < b ? b : a) < 0 ||
        hk_stmt_bind_text_or_empty(st, 3, reason) < 0 || hk_stmt_bind_int64(st, 4, now) < 0)
        return hk_stmt_bind_failed(st, "irepo_never_merge_add", err);
    return hk_stmt_exec(st, err);
}

int hk_irepo_never_merge_blocked(struct hk_db *db, int64_t a, int64_t b, bool *blocked,
                                 struct hk_err *err)
{
    struct hk_stmt *st;
    int64_t n = 0;
    bool found = false;
    int rc = hk_db_stmt(
        db, "irepo_never_merge_blocked",
        "WITH RECURSIVE"
        " ga(id) AS (SELECT CAST($1 AS BIGINT) UNION"
        "  SELECT c.id FROM customers c JOIN ga ON c.merged_into = ga.id),"
        " gb(id) AS (SELECT CAST($2 AS BIGINT) UNION"
        "  SELECT c.id FROM customers c JOIN gb ON c.merged_into = gb.id)"
        " SELECT count(*) FROM never_merge n"
        " WHERE (n.customer_a IN (SELECT id FROM ga) AND n.customer_b IN (SELECT id FROM gb))"
        " OR (n.customer_a IN (SELECT id FROM gb) AND n.customer_b IN (SELECT id FROM ga))",
        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, a) < 0 || hk_stmt_bind_int64(st, 2, b) < 0)
        return hk_stmt_bind_failed(st, "irepo_never_merge_blocked", err);
    if ((rc = hk_stmt_find_int64(st, &n, &found, err)) < 0)
        return rc;
    *blocked = found && n > 0;
    return 0;
}

/* ---- initial loads ----------------------------------------------------------------------- */

/* identities_key as 0011_identities_key makes it; IF NOT EXISTS: other writers may build it at
   any time (hk_irepo_identities_key_ensure). On PostgreSQL its builds hold KEYS_BUILD_LOCK, so
   two never run at once (the second would fail on the name). */
#define KEY_INDEX_SQL                                                                              \
    "CREATE UNIQUE INDEX IF NOT EXISTS identities_key ON identities(value, kind, channel)"
#define KEYS_BUILD_LOCK "SELECT pg_advisory_xact_lock(448646441831)"

/* As the latest migrations define them (0011_identities_key, 0004_sales_index, 0005_import,
   0001_init), largest build first (restore_pg's lanes then finish together). Those marked pg are
   dropped only on PostgreSQL. identities_customer and orders_customer (merge): keeping them row by
   row was a fifth of an initial load's server time on PostgreSQL (orders_customer 2 µs an order:
   customer ids come back in random order), and on SQLite past a few million lines their pages
   leave the page cache (session 8, 10M lines: 75 → 57 s); merges read them, so
   merge_indexes_ensure builds them again before a merge, on both backends.
   order_items_pkey (session 5, pg): order_items' primary key, which nothing reads (items are found
   by order_id and item_key, through the unique index that stays) and no foreign key refers to;
   its ids come from the table's sequence (hk_db_next_ids, column defaults), so none repeats
   while it is away. Kept row by row it cost ~0.7 s of the server's CPU per 1M lines (a B-tree
   insert and a WAL record per item, on the writer's connection), built at the end 0.35 s.
   Dropped as a constraint (drop); built as a unique index and then attached as the primary key
   in one script, so the table has both or neither (a constraint added USING INDEX needs no
   scan: id is NOT NULL).
   orders_sales (session 10, pg): SQLite keeps it row by row. Its key starts with paid_at, and
   exports come in time order (newest or oldest first), so each batch's entries land at one edge
   of the index, on pages the cache holds: kept, it costs the writer an insert an order; built
   at the end it was a scan of the whole orders table and a sort, serial after the load (10M
   lines: ~3.5 s of ~45). Five alternating pairs of 10M-line loads: 46.3 → 41.9 s on average,
   faster in four. PostgreSQL still drops it: there each entry is also a WAL record on the
   writer's connection, which is what its loads wait for.
   identities_key (0011): see hk_irepo_identities_key_drop. */
static const struct {
    const char *name, *create;
    bool pg;          /* dropped only on PostgreSQL */
    bool merge;       /* read by merges (merge_indexes_ensure) */
    const char *drop; /* NULL: DROP INDEX IF EXISTS name */
    bool keys;        /* identities_key: dropped by hk_irepo_identities_key_drop only */
    bool pg_only;     /* no such index on SQLite (order_items_pkey: the rowid is the key) */
} LOAD_INDEXES[] = {
    {"identities_key", KEY_INDEX_SQL, false, false, NULL, true, false},
    {"orders_sales",
     "CREATE INDEX orders_sales ON orders(paid_at, status, shop_id, paid_fen,"
     " refund_fen, created_at)",
     true, false, NULL, false, false},
    {"order_items_pkey",
     "CREATE UNIQUE INDEX order_items_pkey ON order_items(id);"
     " ALTER TABLE order_items ADD CONSTRAINT order_items_pkey PRIMARY KEY"
     " USING INDEX order_items_pkey",
     true, false, "ALTER TABLE order_items DROP CONSTRAINT IF EXISTS order_items_pkey", false,
     true},
    {"orders_customer", "CREATE INDEX orders_customer ON orders(customer_id)", false, true, NULL,
     false, false},
    {"customers_phone_hash",
     "CREATE INDEX customers_phone_hash ON customers(phone_hash) WHERE phone_hash IS NOT NULL",
     false, false, NULL, false, false},
    {"identities_customer", "CREATE INDEX identities_customer ON identities(customer_id)", false,
     true, NULL, false, false},
    {"customers_name_hash",
     "CREATE INDEX customers_name_hash ON customers(name_hash) WHERE name_hash IS NOT NULL", false,
     false, NULL, false, false},
    {"order_history_order", "CREATE INDEX order_history_order ON order_history(order_id)", false,
     false, NULL, false, false},
};

/* The script that builds load index i. identities_key's on PostgreSQL takes KEYS_BUILD_LOCK
   first: one script is one transaction, which holds it until the build is committed. */
static const char *load_index_create(struct hk_db *db, size_t i)
{
    if (LOAD_INDEXES[i].keys && hk_db_backend(db) == HK_STORE_POSTGRES)
        return KEYS_BUILD_LOCK "; " KEY_INDEX_SQL;
    return LOAD_INDEXES[i].create;
}

/* Whether this backend drops load index i in an initial load. */
static bool load_index_dropped(struct hk_db *db, size_t i)
{
    return !LOAD_INDEXES[i].pg || hk_db_backend(db) == HK_STORE_POSTGRES;
}

/* Whether load index i exists on this backend: restore builds it when it is missing, also where
   this backend's loads keep it (orders_sales on SQLite since session 10: a load killed under an
   older huike left it dropped). */
static bool load_index_here(struct hk_db *db, size_t i)
{
    return !LOAD_INDEXES[i].pg_only || hk_db_backend(db) == HK_STORE_POSTGRES;
}

static int index_exists(struct hk_db *db, const char *name, bool *out, struct hk_err *err)
{
    struct hk_stmt *st;
    int64_t v = 0;
    bool found = false;
    int rc = hk_db_backend(db) == HK_STORE_SQLITE
                 ? hk_db_stmt(db, "irepo_index_exists_sq",
                              "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                              " AND name = $1",
                              &st, err)
                 : hk_db_stmt(db, "irepo_index_exists_pg",
                              "SELECT count(*) FROM pg_catalog.pg_indexes"
                              " WHERE schemaname = current_schema() AND indexname = $1",
                              &st, err);
    if (rc < 0)
        return rc;
    hk_stmt_bind_text(st, 1, name, (size_t)-1);
    if ((rc = hk_stmt_find_int64(st, &v, &found, err)) < 0)
        return rc;
    *out = found && v > 0;
    return 0;
}

int hk_irepo_load_indexes_drop(struct hk_db *db, struct hk_err *err)
{
    for (size_t i = 0; i < HK_ARRAY_LEN(LOAD_INDEXES); i++) {
        char sql[128];
        if (!load_index_dropped(db, i) || LOAD_INDEXES[i].keys)
            continue;
        snprintf(sql, sizeof sql, "DROP INDEX IF EXISTS %s", LOAD_INDEXES[i].name);
        int rc = hk_db_exec_script(db, "drop load index",
                                   LOAD_INDEXES[i].drop ? LOAD_INDEXES[i].drop : sql, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* SQLite sorts an index being built in temporary storage, which the bulk mode keeps in
   memory (temp_store = MEMORY): for the millions of rows of a large load that grows with the
   table, so the builds run with temporary files (temp_store = 1, FILE) and one sorter helper
   thread (threads = 1: the sorter sorts its spilled runs on the other CPU, which has nothing else
   to do at the end of a load; 10M lines: orders_sales and identities_key 9.2 s → 7.6 s, +65 MiB;
   a second helper added nothing on 2 CPUs). The sorter cuts its input into sorted runs of the
   page cache's size, so a 4 MiB cache (cache_size = -4000, KiB) makes runs that sort within the
   CPU's caches, the helper thread gets work at 1M lines too, and the merge of the runs is cheap
   (session 8: identities_key, orders_sales and customers_phone_hash at 1M 1.01 → 0.70 s, and
   identities_key, orders_sales and orders_customer at 10M 13.2 → 9.8 s, against the bulk
   mode's 64 MiB). The settings are put back afterwards. */
static const struct {
    const char *name, *stmt, *get;
    int64_t build;
} SQ_BUILD_PRAGMAS[] = {{"temp_store", "irepo_temp_store_get", "PRAGMA temp_store", 1},
                        {"threads", "irepo_threads_get", "PRAGMA threads", 1},
                        {"cache_size", "irepo_cache_size_get", "PRAGMA cache_size", -4000}};

/* Reads SQ_BUILD_PRAGMAS[i] into *old (*read: it was) and sets it to set. */
static int sq_pragma_swap(struct hk_db *db, size_t i, int64_t *old, bool *read, int64_t set,
                          struct hk_err *err)
{
    struct hk_stmt *st;
    bool found = false;
    char sql[64];
    int rc = hk_db_stmt(db, SQ_BUILD_PRAGMAS[i].stmt, SQ_BUILD_PRAGMAS[i].get, &st, err);
    if (rc < 0 || (rc = hk_stmt_find_int64(st, old, &found, err)) < 0)
        return rc;
    if (!found)
        return hk_err_set(err, HK_E(INTERNAL), "PRAGMA %s has no value", SQ_BUILD_PRAGMAS[i].name);
    *read = true;
    snprintf(sql, sizeof sql, "PRAGMA %s = %lld", SQ_BUILD_PRAGMAS[i].name, (long long)set);
    return hk_db_exec_script(db, "build pragma", sql, err);
}

/* PostgreSQL builds the missing load indexes on two connections at once when the pool has a
   free one: a build is one backend's CPU most of the time (a parallel worker helps only in its
   scan), and at the end of an initial load the importer has nothing else for the other CPU
   (1M lines: 3.4-4.5 s serially, 2.5-3.0 s in two lanes). Builds on one table do not block
   each other (CREATE INDEX takes a SHARE lock). Each lane takes the next missing index, in
   LOAD_INDEXES' order (largest first), until none is left or a lane failed. */
struct restore_lanes {
    pthread_mutex_t mu;
    const size_t *todo; /* LOAD_INDEXES entries to build */
    size_t ntodo, next;
    bool failed;
};

struct restore_lane {
    struct restore_lanes *all;
    struct hk_db *db;
    int created, rc;
    struct hk_err err;
};

static void *restore_lane_run(void *arg)
{
    struct restore_lane *l = arg;
    struct restore_lanes *all = l->all;
    for (;;) {
        pthread_mutex_lock(&all->mu);
        size_t k = all->failed ? all->ntodo : all->next;
        if (k < all->ntodo)
            all->next++;
        pthread_mutex_unlock(&all->mu);
        if (k >= all->ntodo)
            break;
        l->rc = hk_db_exec_script(l->db, "create load index",
                                  load_index_create(l->db, all->todo[k]), &l->err);
        if (l->rc < 0) {
            pthread_mutex_lock(&all->mu);
            all->failed = true;
            pthread_mutex_unlock(&all->mu);
            break;
        }
        l->created++;
    }
    return NULL;
}

static int restore_pg(struct hk_db *db, const size_t *todo, size_t ntodo, int *created,
                      struct hk_err *err)
{
    struct restore_lanes all = {.todo = todo, .ntodo = ntodo};
    struct restore_lane lane[2] = {{.all = &all, .db = db}, {.all = &all}};
    pthread_t tid;
    bool threaded = false;
    hk_err_clear(&lane[0].err);
    hk_err_clear(&lane[1].err);
    pthread_mutex_init(&all.mu, NULL);
    /* not inside a transaction of db: the other lane's build could wait on its locks */
    if (ntodo > 1 && !db->in_tx && hk_db_acquire_free(db->store, &lane[1].db, NULL) == 0) {
        threaded = pthread_create(&tid, NULL, restore_lane_run, &lane[1]) == 0;
        if (!threaded)
            hk_db_release(lane[1].db);
    }
    restore_lane_run(&lane[0]);
    if (threaded) {
        pthread_join(tid, NULL);
        hk_db_release(lane[1].db);
    }
    pthread_mutex_destroy(&all.mu);
    *created = lane[0].created + lane[1].created;
    for (int i = 0; i < 2; i++)
        if (lane[i].rc < 0) {
            *err = lane[i].err;
            return lane[i].rc;
        }
    return 0;
}

int hk_irepo_load_indexes_restore(struct hk_db *db, int *created, struct hk_err *err)
{
    size_t todo[HK_ARRAY_LEN(LOAD_INDEXES)], ntodo = 0;
    int n = 0, rc = 0;
    int64_t old[HK_ARRAY_LEN(SQ_BUILD_PRAGMAS)], ignored = 0;
    bool read[HK_ARRAY_LEN(SQ_BUILD_PRAGMAS)] = {false};
    size_t nswapped = 0;
    for (size_t i = 0; i < HK_ARRAY_LEN(LOAD_INDEXES); i++) {
        bool there = false;
        if (!load_index_here(db, i))
            continue; /* order_items_pkey is no index on SQLite */
        if ((rc = index_exists(db, LOAD_INDEXES[i].name, &there, err)) < 0)
            return rc;
        if (!there)
            todo[ntodo++] = i;
    }
    if (!ntodo) {
        if (created)
            *created = 0;
        return 0;
    }
    if (hk_db_backend(db) == HK_STORE_POSTGRES) {
        rc = restore_pg(db, todo, ntodo, &n, err);
    } else {
        for (; nswapped < HK_ARRAY_LEN(SQ_BUILD_PRAGMAS) && rc == 0; nswapped++)
            rc = sq_pragma_swap(db, nswapped, &old[nswapped], &read[nswapped],
                                SQ_BUILD_PRAGMAS[nswapped].build, err);
        for (size_t k = 0; k < ntodo && rc == 0; k++) {
            /* a load lets waiting connections in between its builds too (hk_db_load_poll; a
               failure only costs the wait: the next build polls again) */
            struct hk_err later;
            hk_err_clear(&later);
            (void)hk_db_load_poll(db, NULL, &later);
            n++;
            rc = hk_db_exec_script(db, "create load index", load_index_create(db, todo[k]), err);
        }
    }
    while (nswapped-- > 0) { /* put back every setting that was read */
        struct hk_err e2;
        hk_err_clear(&e2);
        if (!read[nswapped])
            continue;
        int rc2 = sq_pragma_swap(db, nswapped, &ignored, &read[nswapped], old[nswapped],
                                 rc < 0 ? &e2 : err);
        if (rc == 0)
            rc = rc2;
    }
    if (rc == 0 && created)
        *created = n;
    return rc;
}

/*
 * Merges and unmerges move rows by customer (identities_customer, orders_customer). A running
 * initial load has dropped both; the first merge builds them again, inside its
 * transaction (a rollback drops them with it, so the next merge builds them), and the rest of
 * the load keeps them up to date. One catalog query per merge otherwise.
 */
static int merge_indexes_ensure(struct hk_db *db, struct hk_err *err)
{
    struct hk_stmt *st;
    int64_t n = 0;
    bool found = false;
    int rc = hk_db_backend(db) == HK_STORE_SQLITE
                 ? hk_db_stmt(db, "irepo_merge_indexes_sq",
                              "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                              " AND name IN ('identities_customer', 'orders_customer')",
                              &st, err)
                 : hk_db_stmt(db, "irepo_merge_indexes",
                              "SELECT count(*) FROM pg_catalog.pg_indexes"
                              " WHERE schemaname = current_schema()"
                              " AND indexname IN ('identities_customer', 'orders_customer')",
                              &st, err);
    if (rc < 0 || (rc = hk_stmt_find_int64(st, &n, &found, err)) < 0)
        return rc;
    for (size_t i = 0; n < 2 && i < HK_ARRAY_LEN(LOAD_INDEXES); i++) {
        bool there = true;
        if (!LOAD_INDEXES[i].merge)
            continue;
        if ((rc = index_exists(db, LOAD_INDEXES[i].name, &there, err)) < 0)
            return rc;
        if (!there &&
            (rc = hk_db_exec_script(db, "create merge index", LOAD_INDEXES[i].create, err)) < 0)
            return rc;
    }
    return 0;
}

int hk_irepo_load_indexes_present(struct hk_db *db, int *present, struct hk_err *err)
{
    int n = 0;
    for (size_t i = 0; i < HK_ARRAY_LEN(LOAD_INDEXES); i++) {
        bool there = false;
        if (!load_index_dropped(db, i))
            continue;
        int rc = index_exists(db, LOAD_INDEXES[i].name, &there, err);
        if (rc < 0)
            return rc;
        n += there;
    }
    *present = n;
    return 0;
}

int hk_irepo_orders_max_id(struct hk_db *db, int64_t *out, struct hk_err *err)
{
    struct hk_stmt *st;
    int64_t v = 0;
    bool found = false;
    int rc =
        hk_db_stmt(db, "irepo_orders_max_id", "SELECT COALESCE(max(id), 0) FROM orders", &st, err);
    if (rc < 0)
        return rc;
    if ((rc = hk_stmt_find_int64(st, &v, &found, err)) < 0)
        return rc;
    *out = v;
    return 0;
}

int hk_irepo_order_numbers(struct hk_db *db, int (*cb)(void *arg, const char *no, size_t len),
                           void *arg, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "irepo_order_numbers", "SELECT external_no FROM orders", &st, err);
    if (rc < 0)
        return rc;
    while ((rc = hk_stmt_step(st, err)) == HK_ROW) {
        size_t len = 0;
        const char *no = hk_stmt_text(st, 0, &len);
        if ((rc = cb(arg, no ? no : "", len)) != 0)
            break;
    }
    hk_stmt_reset(st);
    return rc == HK_DONE ? 0 : rc;
}

/* ---- identities_key (ingest_repo.h) --------------------------------------------------------- */

/* PostgreSQL advisory locks: writers of identities hold KEYS_LOCK shared in their transaction
   while they check for identities_key (hk_irepo_identities_key_ensure), a dropper holds it
   exclusively, so a drop never slips between another writer's check and its rows; every build
   takes KEYS_BUILD_LOCK (above), so two never run at once (the second finds the first's). The
   keys are "huike" in ASCII (the migration lock, postgres.c) plus 1 and 2; the load lock's
   (hk_db_load_lock) plus 3. */
#define KEYS_LOCK_SHARED "SELECT pg_advisory_xact_lock_shared(448646441830)"
#define KEYS_LOCK        "SELECT pg_advisory_xact_lock(448646441830)"

int hk_irepo_identities_key_present(struct hk_db *db, bool *out, struct hk_err *err)
{
    return index_exists(db, "identities_key", out, err);
}

/* Builds identities_key in db's transaction (IF NOT EXISTS: after the build lock, a build
   another writer committed meanwhile makes it a no-op). */
static int build_key_index(struct hk_db *db, struct hk_err *err)
{
    int rc = 0;
    if (hk_db_backend(db) == HK_STORE_POSTGRES)
        rc = hk_db_exec_script(db, "identities key lock", KEYS_BUILD_LOCK, err);
    return rc < 0 ? rc : hk_db_exec_script(db, "create identities key", KEY_INDEX_SQL, err);
}

int hk_irepo_identities_key_ensure(struct hk_db *db, struct hk_err *err)
{
    bool there = false;
    int rc;
    if (db->keys_ensured)
        return 0;
    if (hk_db_backend(db) == HK_STORE_POSTGRES &&
        (rc = hk_db_exec_script(db, "identities key lock", KEYS_LOCK_SHARED, err)) < 0)
        return rc;
    if ((rc = index_exists(db, "identities_key", &there, err)) < 0 ||
        (!there && (rc = build_key_index(db, err)) < 0))
        return rc;
    db->keys_ensured = db->in_tx;
    return 0;
}

int hk_irepo_identities_key_drop(struct hk_db *db, bool *dropped, struct hk_err *err)
{
    bool pg = hk_db_backend(db) == HK_STORE_POSTGRES, locked = false, there = false, any = true;
    int rc;
    *dropped = false;
    /* Another load that dropped it holds the load lock until it is back: never drop it twice
       (that load skips look-ups; an index built meanwhile is what its rows then meet). */
    if ((rc = hk_db_load_lock(db, &locked, err)) < 0)
        return rc;
    if ((rc = hk_db_begin(db, HK_TX_WRITE, err)) < 0)
        goto out;
    if (pg)
        rc = hk_db_exec_script(db, "identities key lock", KEYS_LOCK, err);
    if (rc == 0)
        rc = index_exists(db, "identities_key", &there, err);
    if (rc == 0)
        rc = hk_irepo_identities_any(db, &any, err);
    if (rc == 0 && locked && there && !any) {
        rc = hk_db_exec_script(db, "drop identities key", "DROP INDEX identities_key", err);
        *dropped = rc == 0;
    } else if (rc == 0 && !there) { /* a killed load's, or another's running: not ours */
        rc = build_key_index(db, err);
    }
    if (rc == 0)
        rc = hk_db_commit(db, err);
    if (rc < 0) {
        hk_db_rollback(db);
        *dropped = false;
    }
out:
    if (!*dropped)
        hk_db_load_unlock(db); /* the owner keeps it until the index is back (end of its load) */
    return rc;
}

int hk_irepo_identities_any(struct hk_db *db, bool *out, struct hk_err *err)
{
    struct hk_stmt *st;
    int64_t v = 0;
    bool found = false;
    int rc = hk_db_stmt(db, "irepo_identities_any", "SELECT 1 FROM identities LIMIT 1", &st, err);
    if (rc < 0)
        return rc;
    if ((rc = hk_stmt_find_int64(st, &v, &found, err)) < 0)
        return rc;
    *out = found;
    return 0;
}
