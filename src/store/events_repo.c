/*
 * store/events_repo.c — SQL for live ingest: events, profile updates, order -> customer
 * look-ups and merge history (see events_repo.h).
 *
 * Statement names start with "erepo_". One statement per call: live ingest handles at most a
 * thousand items per request, so round trips matter less than for file imports.
 *
 * Portability (SQLite and PostgreSQL, one text): parameters whose type PostgreSQL cannot infer
 * from a column are written CAST($n AS ...); "leave as is" is COALESCE($n, column).
 *
 * Threads: stateless; a db is used by one thread at a time (store.h).
 */
#include "store/events_repo.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/repo_util.h"
#include "store/store.h"

/* ---- events ------------------------------------------------------------------------------ */

int hk_erepo_event_find(struct hk_db *db, const char *type, const char *external_id, int64_t *id,
                        int64_t *customer_id, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "erepo_event_find",
                        "SELECT id, customer_id FROM events WHERE type = $1 AND external_id = $2",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_text(st, 1, type, (size_t)-1) < 0 ||
        hk_stmt_bind_text(st, 2, external_id, (size_t)-1) < 0)
        return hk_stmt_bind_failed(st, "erepo_event_find", err);
    if ((rc = hk_stmt_one_row(st, "event", err)) != HK_ROW)
        return rc;
    if (id)
        *id = hk_stmt_int64(st, 0);
    if (customer_id)
        *customer_id = hk_stmt_int64(st, 1);
    hk_stmt_reset(st);
    return 0;
}

int hk_erepo_event_insert(struct hk_db *db, const struct hk_erepo_event *row, int64_t now,
                          int64_t *id, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "erepo_event_ins",
                        "INSERT INTO events (customer_id, shop_id, type, at, properties, "
                        "external_id, identity_id, created_at) "
                        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, row->customer_id) < 0 ||
        hk_stmt_bind_opt_int64(st, 2, row->shop_id) < 0 ||
        hk_stmt_bind_text(st, 3, row->type, (size_t)-1) < 0 ||
        hk_stmt_bind_int64(st, 4, row->at) < 0 ||
        hk_stmt_bind_text(st, 5, row->properties ? row->properties : "{}", (size_t)-1) < 0 ||
        hk_stmt_bind_opt_text(st, 6, row->external_id) < 0 ||
        hk_stmt_bind_opt_int64(st, 7, row->identity_id) < 0 || hk_stmt_bind_int64(st, 8, now) < 0)
        return hk_stmt_bind_failed(st, "erepo_event_ins", err);
    rc = hk_stmt_step(st, err);
    if (rc == HK_ROW) {
        if (id)
            *id = hk_stmt_int64(st, 0);
        /* the engine follows the change log: this customer's events changed */
        hk_db_touch_customer(db, row->customer_id);
        rc = 0;
    } else if (rc == HK_DONE) {
        rc = hk_err_set(err, HK_E(STORE), "erepo_event_ins: no id returned");
    }
    hk_stmt_reset(st);
    return rc;
}

/* ---- customer profiles ------------------------------------------------------------------- */

int hk_erepo_profile_get(struct hk_db *db, int64_t id, struct hk_erepo_profile *out,
                         struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "erepo_profile_get",
                        "SELECT nick, email, province, city, birthday, gender, name_hash, "
                        "phone_hash, address_enc, consent_sms, consent_email, consent_wechat "
                        "FROM customers WHERE id = $1",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, id) < 0)
        return hk_stmt_bind_failed(st, "erepo_profile_get", err);
    rc = hk_stmt_step(st, err);
    if (rc == HK_ROW) {
        struct hk_erepo_profile p;
        memset(&p, 0, sizeof p);
        hk_stmt_text_copy(st, 0, p.nick, sizeof p.nick);
        hk_stmt_text_copy(st, 1, p.email, sizeof p.email);
        hk_stmt_text_copy(st, 2, p.province, sizeof p.province);
        hk_stmt_text_copy(st, 3, p.city, sizeof p.city);
        hk_stmt_text_copy(st, 4, p.birthday, sizeof p.birthday);
        hk_stmt_text_copy(st, 5, p.gender, sizeof p.gender);
        hk_stmt_text_copy(st, 6, p.name_hash, sizeof p.name_hash);
        hk_stmt_text_copy(st, 7, p.phone_hash, sizeof p.phone_hash);
        size_t len = 0;
        const void *blob = hk_stmt_blob(st, 8, &len);
        if (blob && len <= sizeof p.address_enc) {
            memcpy(p.address_enc, blob, len);
            p.address_enc_len = len;
        } else if (blob) {
            p.address_enc_len = SIZE_MAX;
        }
        p.consent_sms = (int)hk_stmt_int64(st, 9);
        p.consent_email = (int)hk_stmt_int64(st, 10);
        p.consent_wechat = (int)hk_stmt_int64(st, 11);
        *out = p;
        rc = 0;
    } else if (rc == HK_DONE) {
        rc = hk_err_set(err, HK_E(NOTFOUND), "customer %lld not found", (long long)id);
    }
    hk_stmt_reset(st);
    return rc;
}

int hk_erepo_profile_set(struct hk_db *db, int64_t id, const struct hk_erepo_profile_set *p,
                         int64_t now, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(
        db, "erepo_profile_set",
        "UPDATE customers SET nick = COALESCE($2, nick), email = COALESCE($3, email), "
        "province = COALESCE($4, province), city = COALESCE($5, city), "
        "birthday = COALESCE($6, birthday), gender = COALESCE($7, gender), "
        "name_enc = COALESCE($8, name_enc), "
        "name_hash = CASE WHEN $8 IS NULL THEN name_hash ELSE $9 END, "
        "phone_enc = COALESCE($10, phone_enc), phone_hash = COALESCE($11, phone_hash), "
        "phone_masked = COALESCE($12, phone_masked), address_enc = COALESCE($13, address_enc), "
        "consent_sms = CASE WHEN CAST($14 AS INTEGER) < 0 THEN consent_sms ELSE "
        "CAST($14 AS INTEGER) END, "
        "consent_email = CASE WHEN CAST($15 AS INTEGER) < 0 THEN consent_email ELSE "
        "CAST($15 AS INTEGER) END, "
        "consent_wechat = CASE WHEN CAST($16 AS INTEGER) < 0 THEN consent_wechat ELSE "
        "CAST($16 AS INTEGER) END, "
        "updated_at = $17 WHERE id = $1",
        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, id) < 0 || hk_stmt_bind_text(st, 2, p->nick, (size_t)-1) < 0 ||
        hk_stmt_bind_text(st, 3, p->email, (size_t)-1) < 0 ||
        hk_stmt_bind_text(st, 4, p->province, (size_t)-1) < 0 ||
        hk_stmt_bind_text(st, 5, p->city, (size_t)-1) < 0 ||
        hk_stmt_bind_text(st, 6, p->birthday, (size_t)-1) < 0 ||
        hk_stmt_bind_text(st, 7, p->gender, (size_t)-1) < 0 ||
        hk_stmt_bind_blob(st, 8, p->name_enc, p->name_enc ? p->name_enc_len : 0) < 0 ||
        hk_stmt_bind_text(st, 9, p->name_hash, (size_t)-1) < 0 ||
        hk_stmt_bind_blob(st, 10, p->phone_enc, p->phone_enc ? p->phone_enc_len : 0) < 0 ||
        hk_stmt_bind_text(st, 11, p->phone_hash, (size_t)-1) < 0 ||
        hk_stmt_bind_text(st, 12, p->phone_masked, (size_t)-1) < 0 ||
        hk_stmt_bind_blob(st, 13, p->address_enc, p->address_enc ? p->address_enc_len : 0) < 0 ||
        hk_stmt_bind_int64(st, 14, p->consent_sms) < 0 ||
        hk_stmt_bind_int64(st, 15, p->consent_email) < 0 ||
        hk_stmt_bind_int64(st, 16, p->consent_wechat) < 0 || hk_stmt_bind_int64(st, 17, now) < 0)
        return hk_stmt_bind_failed(st, "erepo_profile_set", err);
    rc = hk_stmt_exec(st, err);
    if (rc == 0)
        hk_db_touch_customer(db, id); /* region fields feed the engine */
    return rc;
}

/* ---- orders ------------------------------------------------------------------------------ */

int hk_erepo_order_customer(struct hk_db *db, const char *channel, const char *shop,
                            const char *order_no, int64_t *customer_id, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "erepo_order_customer",
                        "SELECT o.customer_id FROM orders o JOIN shops s ON s.id = o.shop_id "
                        "WHERE o.external_no = $1 AND s.channel = $2 "
                        "AND (CAST($3 AS TEXT) = '' OR s.name = $3) ORDER BY o.id LIMIT 1",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_text(st, 1, order_no, (size_t)-1) < 0 ||
        hk_stmt_bind_text(st, 2, channel, (size_t)-1) < 0 ||
        hk_stmt_bind_text(st, 3, shop ? shop : "", (size_t)-1) < 0)
        return hk_stmt_bind_failed(st, "erepo_order_customer", err);
    if ((rc = hk_stmt_one_row(st, "order", err)) != HK_ROW)
        return rc;
    *customer_id = hk_stmt_int64(st, 0);
    hk_stmt_reset(st);
    return 0;
}

/* ---- merge history ----------------------------------------------------------------------- */

#define MERGE_COLS "id, winner_id, loser_id, at, COALESCE(undone_at, 0), reason, undone_by"

static void read_merge(struct hk_stmt *st, struct hk_erepo_merge *m)
{
    memset(m, 0, sizeof *m);
    m->id = hk_stmt_int64(st, 0);
    m->winner_id = hk_stmt_int64(st, 1);
    m->loser_id = hk_stmt_int64(st, 2);
    m->at = hk_stmt_int64(st, 3);
    m->undone_at = hk_stmt_int64(st, 4);
    hk_stmt_text_copy(st, 5, m->reason, sizeof m->reason);
    hk_stmt_text_copy(st, 6, m->undone_by, sizeof m->undone_by);
}

int hk_erepo_merges_of(struct hk_db *db, int64_t customer_id, size_t max,
                       struct hk_erepo_merge **out, size_t *n, struct hk_err *err)
{
    struct hk_stmt *st;
    struct hk_erepo_merge *v = NULL;
    size_t nv = 0;
    if (max < 1 || max > 1000)
        max = 1000;
    int rc = hk_db_stmt(db, "erepo_merges_of",
                        "SELECT " MERGE_COLS " FROM customer_merges "
                        "WHERE winner_id = $1 OR loser_id = $1 ORDER BY id DESC LIMIT $2",
                        &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, customer_id) < 0 || hk_stmt_bind_int64(st, 2, (int64_t)max) < 0)
        return hk_stmt_bind_failed(st, "erepo_merges_of", err);
    v = calloc(max, sizeof(*v));
    if (!v) {
        hk_stmt_reset(st);
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    }
    while ((rc = hk_stmt_step(st, err)) == HK_ROW && nv < max)
        read_merge(st, &v[nv++]);
    hk_stmt_reset(st);
    if (rc < 0) {
        free(v);
        return rc;
    }
    if (!nv) {
        free(v);
        v = NULL;
    }
    *out = v;
    *n = nv;
    return 0;
}

int hk_erepo_merge_get(struct hk_db *db, int64_t id, struct hk_erepo_merge *out, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, "erepo_merge_get",
                        "SELECT " MERGE_COLS " FROM customer_merges WHERE id = $1", &st, err);
    if (rc < 0)
        return rc;
    if (hk_stmt_bind_int64(st, 1, id) < 0)
        return hk_stmt_bind_failed(st, "erepo_merge_get", err);
    rc = hk_stmt_step(st, err);
    if (rc == HK_ROW) {
        read_merge(st, out);
        rc = 0;
    } else if (rc == HK_DONE) {
        rc = hk_err_set(err, HK_E(NOTFOUND), "merge %lld not found", (long long)id);
    }
    hk_stmt_reset(st);
    return rc;
}
