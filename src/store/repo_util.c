/*
 * store/repo_util.c — helpers shared by the repository files (see repo_util.h).
 */
#include "store/repo_util.h"

#include "core/err.h"
#include "core/util.h"
#include "store/store.h"

int hk_stmt_bind_failed(struct hk_stmt *st, const char *name, struct hk_err *err)
{
    if (st)
        hk_stmt_reset(st);
    return hk_err_set(err, HK_E(STORE), "%s: cannot bind parameters", name);
}

int hk_stmt_one_row(struct hk_stmt *st, const char *what, struct hk_err *err)
{
    int rc = hk_stmt_step(st, err);
    if (rc == HK_DONE) {
        hk_stmt_reset(st);
        return hk_err_set(err, HK_E(NOTFOUND), "%s not found", what);
    }
    if (rc < 0)
        hk_stmt_reset(st);
    return rc;
}

int hk_stmt_one_int64(struct hk_stmt *st, int64_t *out, struct hk_err *err)
{
    int rc = hk_stmt_step(st, err);
    if (rc == HK_ROW) {
        *out = hk_stmt_int64(st, 0);
        rc = 0;
    } else if (rc == HK_DONE) {
        rc = hk_err_set(err, HK_E(STORE), "a statement returned no row");
    }
    hk_stmt_reset(st);
    return rc;
}

int hk_stmt_find_int64(struct hk_stmt *st, int64_t *out, bool *found, struct hk_err *err)
{
    int rc = hk_stmt_step(st, err);
    if (rc == HK_ROW) {
        *out = hk_stmt_int64(st, 0);
        *found = true;
        rc = 0;
    } else if (rc == HK_DONE) {
        *found = false;
        rc = 0;
    }
    hk_stmt_reset(st);
    return rc;
}

int hk_stmt_exec_returning(struct hk_stmt *st, bool *changed, struct hk_err *err)
{
    int rc = hk_stmt_step(st, err);
    hk_stmt_reset(st);
    if (rc < 0)
        return rc;
    if (changed)
        *changed = rc == HK_ROW;
    return 0;
}

int hk_stmt_bind_opt_text(struct hk_stmt *st, int idx, const char *s)
{
    if (!s || !*s)
        return hk_stmt_bind_null(st, idx);
    return hk_stmt_bind_text(st, idx, s, (size_t)-1);
}

int hk_stmt_bind_text_or_empty(struct hk_stmt *st, int idx, const char *s)
{
    return hk_stmt_bind_text(st, idx, s ? s : "", (size_t)-1);
}

int hk_stmt_bind_opt_int64(struct hk_stmt *st, int idx, int64_t v)
{
    if (v == 0)
        return hk_stmt_bind_null(st, idx);
    return hk_stmt_bind_int64(st, idx, v);
}

int hk_stmt_bind_opt_blob(struct hk_stmt *st, int idx, const void *p, size_t len)
{
    if (!p || !len)
        return hk_stmt_bind_null(st, idx);
    return hk_stmt_bind_blob(st, idx, p, len);
}

const char *hk_stmt_text_or_empty(struct hk_stmt *st, int col)
{
    const char *s = hk_stmt_text(st, col, NULL);
    return s ? s : "";
}

char *hk_stmt_text_dup(struct hk_stmt *st, int col)
{
    size_t len = 0;
    const char *s = hk_stmt_text(st, col, &len);
    return s ? hk_strndup(s, len) : hk_strdup("");
}
