/*
 * tags_repo.c — the SQL behind tags_repo.h. Plain SQL both backends run alike: INSERT ...
 * ON CONFLICT DO NOTHING RETURNING reports exactly the rows inserted on both, which is how bulk
 * tagging touches only the customers it changed. IN lists are padded to a fixed width (the last
 * id repeated) so one prepared statement serves every chunk.
 */
#include "store/tags_repo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "store/changes_repo.h"
#include "store/repo_util.h"
#include "store/store.h"

#define TAG_COLUMNS "id, name, kind, expression, color, description, preset, created_at, updated_at"
#define IN_WIDTH    64  /* ids per IN list */
#define BULK_WIDTH  256 /* rows per multi-row INSERT */

void hk_tag_row_release(struct hk_tag_row *r)
{
    if (!r)
        return;
    free(r->name);
    free(r->kind);
    free(r->expression);
    free(r->color);
    free(r->description);
    free(r->preset);
    memset(r, 0, sizeof *r);
}

void hk_tag_rows_free(struct hk_tag_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        hk_tag_row_release(&rows[i]);
    free(rows);
}

static int read_row(struct hk_stmt *st, struct hk_tag_row *r, struct hk_err *err)
{
    memset(r, 0, sizeof *r);
    r->id = hk_stmt_int64(st, 0);
    r->name = hk_stmt_text_dup(st, 1);
    r->kind = hk_stmt_text_dup(st, 2);
    r->expression = hk_stmt_text_dup(st, 3);
    r->color = hk_stmt_text_dup(st, 4);
    r->description = hk_stmt_text_dup(st, 5);
    r->preset = hk_stmt_text_dup(st, 6);
    r->created_at = hk_stmt_int64(st, 7);
    r->updated_at = hk_stmt_int64(st, 8);
    if (!r->name || !r->kind || !r->expression || !r->color || !r->description || !r->preset) {
        hk_tag_row_release(r);
        return hk_err_set(err, HK_E(NOMEM), "out of memory reading tags");
    }
    return 0;
}

int hk_tags_repo_list(struct hk_db *db, struct hk_tag_row **out, size_t *n, struct hk_err *err)
{
    *out = NULL;
    *n = 0;
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "tags_list", "SELECT " TAG_COLUMNS " FROM tags ORDER BY id", &st, err);
    if (rc < 0)
        return rc;
    struct hk_tag_row *rows = NULL;
    size_t cap = 0, cnt = 0;
    while ((rc = hk_stmt_step(st, err)) == HK_ROW) {
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct hk_tag_row *p = realloc(rows, nc * sizeof(*p));
            if (!p) {
                rc = hk_err_set(err, HK_E(NOMEM), "out of memory listing tags");
                break;
            }
            rows = p;
            cap = nc;
        }
        if ((rc = read_row(st, &rows[cnt], err)) != 0)
            break;
        cnt++;
    }
    hk_stmt_reset(st);
    if (rc < 0) {
        hk_tag_rows_free(rows, cnt);
        return rc;
    }
    *out = rows;
    *n = cnt;
    return 0;
}

static int get_one(struct hk_stmt *st, const char *what, struct hk_tag_row *out, struct hk_err *err)
{
    int rc = hk_stmt_one_row(st, what, err);
    if (rc == HK_ROW) {
        rc = read_row(st, out, err);
        hk_stmt_reset(st);
    }
    return rc;
}

int hk_tags_repo_get(struct hk_db *db, int64_t id, struct hk_tag_row *out, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "tags_get", "SELECT " TAG_COLUMNS " FROM tags WHERE id = $1", &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, id))
        return hk_stmt_bind_failed(st, "tags_get", err);
    rc = get_one(st, "tag", out, err);
    if (rc == HK_E(NOTFOUND))
        return hk_err_set(err, HK_E(NOTFOUND), "no tag %lld", (long long)id);
    return rc;
}

int hk_tags_repo_find(struct hk_db *db, const char *name, struct hk_tag_row *out,
                      struct hk_err *err)
{
    struct hk_stmt *st;
    int rc =
        hk_db_stmt(db, "tags_find", "SELECT " TAG_COLUMNS " FROM tags WHERE name = $1", &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_text(st, 1, name, (size_t)-1))
        return hk_stmt_bind_failed(st, "tags_find", err);
    rc = get_one(st, "tag", out, err);
    if (rc == HK_E(NOTFOUND))
        return hk_err_setf(err, HK_E(NOTFOUND), "tag", "no tag named \"%s\"", name);
    return rc;
}

static int name_taken(struct hk_err *err, const char *name)
{
    return hk_err_setf(err, HK_E(CONFLICT), "name", "a tag named \"%s\" already exists", name);
}

int hk_tags_repo_insert(struct hk_db *db, const struct hk_tag_row *r, int64_t now, int64_t *id,
                        struct hk_err *err)
{
    static const char name[] = "tags_insert";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name,
                        "INSERT INTO tags (name, kind, expression, color, description, preset,"
                        " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"
                        " RETURNING id",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_text(st, 1, r->name, (size_t)-1) ||
        hk_stmt_bind_text(st, 2, r->kind, (size_t)-1) ||
        hk_stmt_bind_opt_text(st, 3, r->expression) ||
        hk_stmt_bind_text_or_empty(st, 4, r->color) ||
        hk_stmt_bind_text_or_empty(st, 5, r->description) ||
        hk_stmt_bind_opt_text(st, 6, r->preset) || hk_stmt_bind_int64(st, 7, now))
        return hk_stmt_bind_failed(st, name, err);
    rc = hk_stmt_one_int64(st, id, err);
    if (rc == HK_E(CONFLICT))
        return name_taken(err, r->name);
    if (rc == 0)
        hk_changes_announce(db, HK_CHANGE_SEGMENT);
    return rc;
}

int hk_tags_repo_update(struct hk_db *db, const struct hk_tag_row *r, int64_t now,
                        struct hk_err *err)
{
    static const char name[] = "tags_update";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name,
                        "UPDATE tags SET name = $2, expression = $3, color = $4, description = $5,"
                        " updated_at = $6 WHERE id = $1",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, r->id) || hk_stmt_bind_text(st, 2, r->name, (size_t)-1) ||
        hk_stmt_bind_opt_text(st, 3, r->expression) ||
        hk_stmt_bind_text_or_empty(st, 4, r->color) ||
        hk_stmt_bind_text_or_empty(st, 5, r->description) || hk_stmt_bind_int64(st, 6, now))
        return hk_stmt_bind_failed(st, name, err);
    rc = hk_stmt_exec(st, err);
    if (rc == HK_E(CONFLICT))
        return name_taken(err, r->name);
    if (rc < 0)
        return rc;
    if (hk_stmt_changes(st) == 0)
        return hk_err_set(err, HK_E(NOTFOUND), "no tag %lld", (long long)r->id);
    hk_changes_announce(db, HK_CHANGE_SEGMENT);
    return 0;
}

int hk_tags_repo_delete(struct hk_db *db, int64_t id, size_t *untagged, struct hk_err *err)
{
    struct hk_stmt *st;
    size_t n = 0;
    int rc =
        hk_db_stmt(db, "tags_delete_members",
                   "DELETE FROM customer_tags WHERE tag_id = $1 RETURNING customer_id", &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, id))
        return hk_stmt_bind_failed(st, "tags_delete_members", err);
    while ((rc = hk_stmt_step(st, err)) == HK_ROW) {
        hk_db_touch_customer(db, hk_stmt_int64(st, 0));
        n++;
    }
    hk_stmt_reset(st);
    if (rc < 0)
        return rc;
    if ((rc = hk_db_stmt(db, "tags_delete", "DELETE FROM tags WHERE id = $1", &st, err)) < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, id))
        return hk_stmt_bind_failed(st, "tags_delete", err);
    if ((rc = hk_stmt_exec(st, err)) < 0)
        return rc;
    if (hk_stmt_changes(st) == 0)
        return hk_err_set(err, HK_E(NOTFOUND), "no tag %lld", (long long)id);
    hk_changes_announce(db, HK_CHANGE_SEGMENT);
    if (untagged)
        *untagged = n;
    return 0;
}

int hk_tags_repo_touch_members(struct hk_db *db, int64_t tag_id, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "tags_members",
                        "SELECT customer_id FROM customer_tags WHERE tag_id = $1", &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, tag_id))
        return hk_stmt_bind_failed(st, "tags_members", err);
    while ((rc = hk_stmt_step(st, err)) == HK_ROW)
        hk_db_touch_customer(db, hk_stmt_int64(st, 0));
    hk_stmt_reset(st);
    return rc < 0 ? rc : 0;
}

int hk_tags_repo_add(struct hk_db *db, int64_t customer_id, int64_t tag_id, int64_t now,
                     bool *added, struct hk_err *err)
{
    size_t n = 0;
    int rc = hk_tags_repo_add_many(db, tag_id, &customer_id, 1, now, &n, err);
    if (rc == 0 && added)
        *added = n > 0;
    return rc;
}

int hk_tags_repo_remove(struct hk_db *db, int64_t customer_id, int64_t tag_id, bool *removed,
                        struct hk_err *err)
{
    static const char name[] = "tags_remove";
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name,
                        "DELETE FROM customer_tags WHERE customer_id = $1 AND tag_id = $2"
                        " RETURNING customer_id",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, customer_id) || hk_stmt_bind_int64(st, 2, tag_id))
        return hk_stmt_bind_failed(st, name, err);
    bool gone = false;
    if ((rc = hk_stmt_exec_returning(st, &gone, err)) < 0)
        return rc;
    if (gone)
        hk_db_touch_customer(db, customer_id);
    if (removed)
        *removed = gone;
    return 0;
}

/* The multi-row INSERT for k rows: $1 tag, $2 now, $3.. the customers. */
static int bulk_stmt(struct hk_db *db, size_t k, struct hk_stmt **out, struct hk_err *err)
{
    char name[32];
    snprintf(name, sizeof name, "tags_add_%zu", k);
    size_t cap = 160 + k * 32;
    char *sql = malloc(cap);
    if (!sql)
        return hk_err_set(err, HK_E(NOMEM), "out of memory tagging customers");
    size_t len = (size_t)snprintf(sql, cap,
                                  "INSERT INTO customer_tags (customer_id, tag_id, source,"
                                  " created_at) VALUES ");
    for (size_t i = 0; i < k; i++)
        len += (size_t)snprintf(sql + len, cap - len, "%s($%zu, $1, 'manual', $2)", i ? ", " : "",
                                i + 3);
    snprintf(sql + len, cap - len,
             " ON CONFLICT (customer_id, tag_id) DO NOTHING RETURNING customer_id");
    int rc = hk_db_stmt(db, name, sql, out, err);
    free(sql);
    return rc < 0 ? rc : 0;
}

int hk_tags_repo_add_many(struct hk_db *db, int64_t tag_id, const int64_t *ids, size_t n,
                          int64_t now, size_t *added, struct hk_err *err)
{
    static const size_t widths[] = {BULK_WIDTH, 64, 16, 4, 1};
    size_t done = 0, count = 0;
    int rc = 0;
    while (done < n && rc == 0) {
        size_t k = 0;
        for (size_t i = 0; i < HK_ARRAY_LEN(widths) && !k; i++)
            if (n - done >= widths[i])
                k = widths[i];
        struct hk_stmt *st;
        if ((rc = bulk_stmt(db, k, &st, err)) != 0)
            break;
        int b = hk_stmt_bind_int64(st, 1, tag_id) | hk_stmt_bind_int64(st, 2, now);
        for (size_t i = 0; i < k; i++)
            b |= hk_stmt_bind_int64(st, (int)i + 3, ids[done + i]);
        if (b) {
            rc = hk_stmt_bind_failed(st, "tags_add", err);
            break;
        }
        while ((rc = hk_stmt_step(st, err)) == HK_ROW) {
            hk_db_touch_customer(db, hk_stmt_int64(st, 0));
            count++;
        }
        hk_stmt_reset(st);
        done += k;
    }
    if (rc < 0)
        return rc;
    if (added)
        *added = count;
    return 0;
}

int hk_tags_repo_of_customers(struct hk_db *db, const int64_t *ids, size_t n, hk_tag_of_cb cb,
                              void *ctx, struct hk_err *err)
{
    static const char name[] = "tags_of_customers";
    struct hk_stmt *st;
    char sql[1024];
    size_t len = (size_t)snprintf(sql, sizeof sql,
                                  "SELECT ct.customer_id, t.id, t.name, t.kind, t.color, ct.source,"
                                  " ct.created_at FROM customer_tags ct JOIN tags t"
                                  " ON t.id = ct.tag_id WHERE ct.customer_id IN (");
    for (int i = 1; i <= IN_WIDTH; i++)
        len += (size_t)snprintf(sql + len, sizeof sql - len, "%s$%d", i > 1 ? ", " : "", i);
    snprintf(sql + len, sizeof sql - len, ") ORDER BY ct.customer_id, t.name");
    int rc = hk_db_stmt(db, name, sql, &st, err);
    if (rc < 0)
        return rc;
    for (size_t done = 0; done < n && rc >= 0; done += IN_WIDTH) {
        int b = 0;
        for (size_t i = 0; i < IN_WIDTH; i++)
            b |= hk_stmt_bind_int64(st, (int)i + 1, ids[done + i < n ? done + i : n - 1]);
        if (b)
            return hk_stmt_bind_failed(st, name, err);
        while ((rc = hk_stmt_step(st, err)) == HK_ROW) {
            struct hk_tag_of t = {hk_stmt_int64(st, 0),         hk_stmt_int64(st, 1),
                                  hk_stmt_text_or_empty(st, 2), hk_stmt_text_or_empty(st, 3),
                                  hk_stmt_text_or_empty(st, 4), hk_stmt_text_or_empty(st, 5),
                                  hk_stmt_int64(st, 6)};
            if ((rc = cb(ctx, &t, err)) != 0)
                break;
        }
        hk_stmt_reset(st);
    }
    return rc < 0 ? rc : 0;
}

int hk_tags_repo_counts(struct hk_db *db, void (*cb)(void *ctx, int64_t tag_id, int64_t n),
                        void *ctx, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "tags_counts",
                        "SELECT ct.tag_id, COUNT(*) FROM customer_tags ct JOIN customers c"
                        " ON c.id = ct.customer_id WHERE c.merged_into IS NULL GROUP BY ct.tag_id",
                        &st, err);
    if (rc < 0)
        return rc;
    while ((rc = hk_stmt_step(st, err)) == HK_ROW)
        cb(ctx, hk_stmt_int64(st, 0), hk_stmt_int64(st, 1));
    hk_stmt_reset(st);
    return rc < 0 ? rc : 0;
}

int hk_tags_repo_survivor(struct hk_db *db, int64_t id, int64_t *out, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "tags_survivor", "SELECT merged_into FROM customers WHERE id = $1", &st,
                        err);
    if (rc < 0)
        return rc;
    int64_t cur = id;
    for (int hops = 0; hops < 64; hops++) { /* merge chains are short; 64 bounds a cycle */
        if (hk_stmt_bind_int64(st, 1, cur))
            return hk_stmt_bind_failed(st, "tags_survivor", err);
        rc = hk_stmt_step(st, err);
        int64_t next = rc == HK_ROW ? hk_stmt_int64(st, 0) : 0;
        hk_stmt_reset(st);
        if (rc == HK_DONE)
            return hk_err_set(err, HK_E(NOTFOUND), "no customer %lld", (long long)id);
        if (rc < 0)
            return rc;
        if (next == 0) {
            *out = cur;
            return 0;
        }
        cur = next;
    }
    return hk_err_set(err, HK_E(STORE), "customer %lld: merge chain too long", (long long)id);
}

int hk_tags_repo_preset_claim(struct hk_db *db, const char *key, int64_t now, bool *claimed,
                              struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "tags_preset_claim",
                        "INSERT INTO tag_presets (key, created_at) VALUES ($1, $2)"
                        " ON CONFLICT (key) DO NOTHING RETURNING key",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_text(st, 1, key, (size_t)-1) || hk_stmt_bind_int64(st, 2, now))
        return hk_stmt_bind_failed(st, "tags_preset_claim", err);
    return hk_stmt_exec_returning(st, claimed, err);
}

int hk_tags_repo_preset_seen(struct hk_db *db, const char *key, bool *seen, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc =
        hk_db_stmt(db, "tags_preset_seen", "SELECT 1 FROM tag_presets WHERE key = $1", &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_text(st, 1, key, (size_t)-1))
        return hk_stmt_bind_failed(st, "tags_preset_seen", err);
    int64_t one = 0;
    return hk_stmt_find_int64(st, &one, seen, err);
}
