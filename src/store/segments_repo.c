/*
 * segments_repo.c — the SQL behind segments_repo.h. Plain SQL that both backends run alike
 * (INSERT ... RETURNING needs SQLite 3.35, which the store already relies on).
 */
#include "store/segments_repo.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "store/changes_repo.h"
#include "store/repo_util.h"
#include "store/store.h"

#define SEG_COLUMNS                                                                                \
    "id, name, expression, description, cached_count, counted_at, created_by, created_at,"         \
    " updated_at"

void hk_segment_row_release(struct hk_segment_row *r)
{
    if (!r)
        return;
    free(r->name);
    free(r->expression);
    free(r->description);
    memset(r, 0, sizeof *r);
}

void hk_segment_rows_free(struct hk_segment_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        hk_segment_row_release(&rows[i]);
    free(rows);
}

/* Reads the current row of a SEG_COLUMNS select into *r. */
static int read_row(struct hk_stmt *st, struct hk_segment_row *r, struct hk_err *err)
{
    memset(r, 0, sizeof *r);
    r->id = hk_stmt_int64(st, 0);
    r->name = hk_stmt_text_dup(st, 1);
    r->expression = hk_stmt_text_dup(st, 2);
    r->description = hk_stmt_text_dup(st, 3);
    r->has_count = !hk_stmt_is_null(st, 4);
    r->cached_count = r->has_count ? hk_stmt_int64(st, 4) : 0;
    r->counted_at = hk_stmt_is_null(st, 5) ? 0 : hk_stmt_int64(st, 5);
    r->created_by = hk_stmt_is_null(st, 6) ? 0 : hk_stmt_int64(st, 6);
    r->created_at = hk_stmt_int64(st, 7);
    r->updated_at = hk_stmt_int64(st, 8);
    if (!r->name || !r->expression || !r->description) {
        hk_segment_row_release(r);
        return hk_err_set(err, HK_E(NOMEM), "out of memory reading segments");
    }
    return 0;
}

int hk_segments_repo_list(struct hk_db *db, struct hk_segment_row **out, size_t *n,
                          struct hk_err *err)
{
    *out = NULL;
    *n = 0;
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "segments_list", "SELECT " SEG_COLUMNS " FROM segments ORDER BY name",
                        &st, err);
    if (rc < 0)
        return rc;
    struct hk_segment_row *rows = NULL;
    size_t cap = 0, cnt = 0;
    while ((rc = hk_stmt_step(st, err)) == HK_ROW) {
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct hk_segment_row *p = realloc(rows, nc * sizeof(*p));
            if (!p) {
                rc = hk_err_set(err, HK_E(NOMEM), "out of memory listing segments");
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
        hk_segment_rows_free(rows, cnt);
        return rc;
    }
    *out = rows;
    *n = cnt;
    return 0;
}

int hk_segments_repo_get(struct hk_db *db, int64_t id, struct hk_segment_row *out,
                         struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "segments_get", "SELECT " SEG_COLUMNS " FROM segments WHERE id = $1",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, id))
        return hk_err_set(err, HK_E(INTERNAL), "segments_get: bind failed");
    rc = hk_stmt_step(st, err);
    if (rc == HK_ROW)
        rc = read_row(st, out, err);
    else if (rc == HK_DONE)
        rc = hk_err_set(err, HK_E(NOTFOUND), "no segment %lld", (long long)id);
    hk_stmt_reset(st);
    return rc;
}

static int name_taken(struct hk_err *err, const char *name)
{
    return hk_err_setf(err, HK_E(CONFLICT), "name", "a segment named \"%s\" already exists", name);
}

int hk_segments_repo_insert(struct hk_db *db, const char *name, const char *expression,
                            const char *description, int64_t user_id, int64_t now, int64_t *id,
                            struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "segments_insert",
                        "INSERT INTO segments (name, expression, description, created_by,"
                        " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
                        &st, err);
    if (rc < 0)
        return rc;
    int b = hk_stmt_bind_text(st, 1, name, strlen(name)) |
            hk_stmt_bind_text(st, 2, expression, strlen(expression)) |
            hk_stmt_bind_text(st, 3, description, strlen(description)) |
            hk_stmt_bind_int64(st, 5, now);
    b |= user_id > 0 ? hk_stmt_bind_int64(st, 4, user_id) : hk_stmt_bind_null(st, 4);
    if (b)
        return hk_err_set(err, HK_E(INTERNAL), "segments_insert: bind failed");
    rc = hk_stmt_step(st, err);
    if (rc == HK_ROW) {
        *id = hk_stmt_int64(st, 0);
        rc = 0;
    } else if (rc == HK_DONE) {
        rc = hk_err_set(err, HK_E(INTERNAL), "segments_insert: no id returned");
    }
    hk_stmt_reset(st);
    if (rc == HK_E(CONFLICT))
        return name_taken(err, name);
    if (rc == 0)
        hk_changes_announce(db, HK_CHANGE_SEGMENT);
    return rc;
}

int hk_segments_repo_update(struct hk_db *db, int64_t id, const char *name, const char *expression,
                            const char *description, int64_t now, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "segments_update",
                        "UPDATE segments SET name = $2, expression = $3, description = $4,"
                        " updated_at = $5 WHERE id = $1",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, id) | hk_stmt_bind_text(st, 2, name, strlen(name)) |
        hk_stmt_bind_text(st, 3, expression, strlen(expression)) |
        hk_stmt_bind_text(st, 4, description, strlen(description)) | hk_stmt_bind_int64(st, 5, now))
        return hk_err_set(err, HK_E(INTERNAL), "segments_update: bind failed");
    rc = hk_stmt_exec(st, err);
    if (rc == HK_E(CONFLICT))
        return name_taken(err, name);
    if (rc < 0)
        return rc;
    if (hk_stmt_changes(st) == 0)
        return hk_err_set(err, HK_E(NOTFOUND), "no segment %lld", (long long)id);
    hk_changes_announce(db, HK_CHANGE_SEGMENT);
    return 0;
}

int hk_segments_repo_delete(struct hk_db *db, int64_t id, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "segments_delete", "DELETE FROM segments WHERE id = $1", &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, id))
        return hk_err_set(err, HK_E(INTERNAL), "segments_delete: bind failed");
    if ((rc = hk_stmt_exec(st, err)) < 0)
        return rc;
    if (hk_stmt_changes(st) == 0)
        return hk_err_set(err, HK_E(NOTFOUND), "no segment %lld", (long long)id);
    hk_changes_announce(db, HK_CHANGE_SEGMENT);
    return 0;
}

int hk_segments_repo_set_count(struct hk_db *db, int64_t id, int64_t count, int64_t at,
                               struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "segments_set_count",
                        "UPDATE segments SET cached_count = $2, counted_at = $3 WHERE id = $1", &st,
                        err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, id) | hk_stmt_bind_int64(st, 2, count) |
        hk_stmt_bind_int64(st, 3, at))
        return hk_err_set(err, HK_E(INTERNAL), "segments_set_count: bind failed");
    rc = hk_stmt_exec(st, err);
    return rc < 0 ? rc : 0;
}
