/*
 * rfm_svc.c — RFM configuration storage and reports (see rfm_svc.h).
 *
 * Stored text format, one setting per line (the engine's struct hk_rfm_config, nothing more):
 *   score_mode quintiles|thresholds
 *   r_cuts D0 D1 D2 D3          f_cuts N0 N1 N2 N3          m_cuts F0 F1 F2 F3   (fen)
 *   high_mode mean|thresholds
 *   r_high D   f_high N   m_high F                                             (fen)
 *   other NAME
 *   tier RMIN RMAX FMIN FMAX MMIN MMAX NAME          (in order; NAME is the rest of the line)
 * Plain text rather than JSON because JSON belongs to src/http/ only.
 */
#include "services/rfm_svc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "services/accounts.h"
#include "services/app.h"
#include "services/engine_svc.h"
#include "store/rfm_repo.h"
#include "store/shops_repo.h"
#include "store/store.h"

#define HK_RFM_TEXT_MAX 4096

int hk_rfm_config_to_text(const struct hk_rfm_config *c, char *buf, size_t size)
{
    size_t n = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int k_ = snprintf(buf + n, n < size ? size - n : 0, __VA_ARGS__);                          \
        if (k_ < 0)                                                                                \
            return HK_E(INTERNAL);                                                                 \
        n += (size_t)k_;                                                                           \
    } while (0)
    PUT("score_mode %s\n", c->score_mode == HK_RFM_QUINTILES ? "quintiles" : "thresholds");
    PUT("r_cuts %d %d %d %d\n", c->r_cuts_days[0], c->r_cuts_days[1], c->r_cuts_days[2],
        c->r_cuts_days[3]);
    PUT("f_cuts %lld %lld %lld %lld\n", (long long)c->f_cuts[0], (long long)c->f_cuts[1],
        (long long)c->f_cuts[2], (long long)c->f_cuts[3]);
    PUT("m_cuts %lld %lld %lld %lld\n", (long long)c->m_cuts_fen[0], (long long)c->m_cuts_fen[1],
        (long long)c->m_cuts_fen[2], (long long)c->m_cuts_fen[3]);
    PUT("high_mode %s\n", c->high_mode == HK_RFM_HIGH_MEAN ? "mean" : "thresholds");
    PUT("r_high %d\nf_high %lld\nm_high %lld\n", c->r_high_max_days, (long long)c->f_high_min,
        (long long)c->m_high_min_fen);
    PUT("other %s\n", c->other_tier);
    for (size_t i = 0; i < c->n_tiers; i++) {
        const struct hk_rfm_tier_rule *t = &c->tiers[i];
        PUT("tier %u %u %u %u %u %u %s\n", t->r_min, t->r_max, t->f_min, t->f_max, t->m_min,
            t->m_max, t->name);
    }
#undef PUT
    return n < size ? 0 : HK_E(TOOLARGE);
}

/* Parses n whitespace-separated integers from p into out. */
static int ints(const char *p, int64_t *out, int n)
{
    for (int i = 0; i < n; i++) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (!len || hk_parse_int64(p, len, &out[i]))
            return -1;
        p += len;
    }
    return 0;
}

int hk_rfm_config_from_text(const char *text, struct hk_rfm_config *out, struct hk_err *err)
{
    struct hk_rfm_config c;
    hk_rfm_config_default(&c);
    c.n_tiers = 0;
    bool tiers_seen = false;
    const char *p = text;
    int lineno = 0;
    while (*p) {
        lineno++;
        size_t len = strcspn(p, "\n");
        char line[256];
        if (len >= sizeof line)
            return hk_err_set(err, HK_E(INVAL), "RFM configuration line %d is too long", lineno);
        memcpy(line, p, len);
        line[len] = '\0';
        p += len + (p[len] == '\n');
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        const char *v = sp + 1;
        int64_t x[6];
        int bad = 0;
        if (strcmp(line, "score_mode") == 0)
            c.score_mode =
                strcmp(v, "thresholds") == 0 ? HK_RFM_SCORE_THRESHOLDS : HK_RFM_QUINTILES;
        else if (strcmp(line, "high_mode") == 0)
            c.high_mode = strcmp(v, "thresholds") == 0 ? HK_RFM_HIGH_THRESHOLDS : HK_RFM_HIGH_MEAN;
        else if (strcmp(line, "r_cuts") == 0 && !(bad = ints(v, x, 4)))
            for (int i = 0; i < 4; i++)
                c.r_cuts_days[i] = (int32_t)x[i];
        else if (strcmp(line, "f_cuts") == 0 && !(bad = ints(v, x, 4)))
            memcpy(c.f_cuts, x, sizeof c.f_cuts);
        else if (strcmp(line, "m_cuts") == 0 && !(bad = ints(v, x, 4)))
            memcpy(c.m_cuts_fen, x, sizeof c.m_cuts_fen);
        else if (strcmp(line, "r_high") == 0 && !(bad = ints(v, x, 1)))
            c.r_high_max_days = (int32_t)x[0];
        else if (strcmp(line, "f_high") == 0 && !(bad = ints(v, x, 1)))
            c.f_high_min = x[0];
        else if (strcmp(line, "m_high") == 0 && !(bad = ints(v, x, 1)))
            c.m_high_min_fen = x[0];
        else if (strcmp(line, "other") == 0)
            snprintf(c.other_tier, sizeof c.other_tier, "%s", v);
        else if (strcmp(line, "tier") == 0) {
            tiers_seen = true;
            const char *q = v;
            for (int i = 0; i < 6 && !bad; i++) {
                while (*q == ' ')
                    q++;
                size_t l = strcspn(q, " ");
                bad = !l || hk_parse_int64(q, l, &x[i]) || x[i] < 0 || x[i] > 5;
                q += l;
            }
            while (*q == ' ')
                q++;
            if (!bad && c.n_tiers < HK_RFM_MAX_TIERS) {
                struct hk_rfm_tier_rule *t = &c.tiers[c.n_tiers++];
                memset(t, 0, sizeof *t);
                snprintf(t->name, sizeof t->name, "%s", q);
                t->r_min = (uint8_t)x[0];
                t->r_max = (uint8_t)x[1];
                t->f_min = (uint8_t)x[2];
                t->f_max = (uint8_t)x[3];
                t->m_min = (uint8_t)x[4];
                t->m_max = (uint8_t)x[5];
            }
        }
        if (bad)
            return hk_err_set(err, HK_E(INVAL), "RFM configuration line %d: bad numbers", lineno);
    }
    if (!tiers_seen) {
        struct hk_rfm_config d;
        hk_rfm_config_default(&d);
        memcpy(c.tiers, d.tiers, sizeof c.tiers);
        c.n_tiers = d.n_tiers;
    }
    int rc = hk_rfm_config_validate(&c, err);
    if (rc)
        return rc;
    *out = c;
    return 0;
}

/* Checks that shop_id is 0 or a stored shop (row filled when non-NULL and shop_id > 0). */
static int check_shop(struct hk_db *db, int64_t shop_id, struct hk_shop_row *row,
                      struct hk_err *err)
{
    if (shop_id < 0)
        return hk_err_set(err, HK_E(NOTFOUND), "unknown shop %lld", (long long)shop_id);
    if (shop_id == 0)
        return 0;
    struct hk_shop_row r;
    int rc = hk_shops_repo_get(db, shop_id, &r, err);
    if (rc == HK_E(NOTFOUND))
        return hk_err_set(err, HK_E(NOTFOUND), "unknown shop %lld", (long long)shop_id);
    if (!rc && row)
        *row = r;
    return rc;
}

/* The stored configuration of shop_id, *found = whether there is one (db held). */
static int stored(struct hk_db *db, int64_t shop_id, struct hk_rfm_config *out, bool *found,
                  struct hk_err *err)
{
    char text[HK_RFM_TEXT_MAX];
    int rc = hk_rfm_repo_get(db, shop_id, text, sizeof text, found, err);
    if (rc || !*found)
        return rc;
    return hk_rfm_config_from_text(text, out, err);
}

/* shop_id's effective configuration (db held). */
static int effective(struct hk_db *db, int64_t shop_id, struct hk_rfm_config *out, bool *inherited,
                     struct hk_err *err)
{
    bool own = false, found = false;
    int rc = stored(db, shop_id, out, &own, err);
    found = own;
    if (!rc && !found && shop_id != 0)
        rc = stored(db, 0, out, &found, err);
    if (!rc && !found)
        hk_rfm_config_default(out);
    if (!rc && inherited)
        *inherited = shop_id != 0 && !own;
    return rc;
}

int hk_rfm_svc_config_get_shop(struct hk_app *app, int64_t shop_id, struct hk_rfm_config *out,
                               bool *inherited, struct hk_err *err)
{
    struct hk_db *db;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc)
        return rc;
    rc = check_shop(db, shop_id, NULL, err);
    if (!rc)
        rc = effective(db, shop_id, out, inherited, err);
    hk_db_release(db);
    return rc;
}

int hk_rfm_svc_config_get(struct hk_app *app, int64_t shop_id, struct hk_rfm_config *out,
                          struct hk_err *err)
{
    return hk_rfm_svc_config_get_shop(app, shop_id, out, NULL, err);
}

struct apply_one {
    int64_t shop_id;
    const struct hk_rfm_config *cfg; /* NULL: inherit */
    int64_t now;
};

/* Under the engine's write lock: configure and rescore what the change decides. */
static int apply_one(void *ctx, struct hk_engine *e, struct hk_err *err)
{
    const struct apply_one *a = ctx;
    if (a->shop_id && !hk_engine_shop_known(e, a->shop_id))
        return 0; /* no order of it loaded yet: it is configured when the sync registers it */
    int rc = hk_engine_rfm_configure_shop(e, a->shop_id, a->cfg, err);
    return rc ? rc : hk_engine_rescore_shop(e, a->shop_id, a->now, err);
}

static void audit(struct hk_app *app, const struct hk_actor *actor, const char *action,
                  int64_t shop_id)
{
    char target[48], details[64];
    snprintf(target, sizeof target, "shop:%lld", (long long)shop_id);
    snprintf(details, sizeof details, "{\"shop_id\":%lld}", (long long)shop_id);
    struct hk_actor system = {NULL, NULL, NULL};
    struct hk_err aerr;
    hk_accounts_audit_record(app, actor ? actor : &system, action, target, details, &aerr);
}

int hk_rfm_svc_config_put(struct hk_app *app, const struct hk_actor *actor, int64_t shop_id,
                          const struct hk_rfm_config *cfg, struct hk_err *err)
{
    int rc = hk_rfm_config_validate(cfg, err);
    if (rc)
        return rc;
    char text[HK_RFM_TEXT_MAX];
    if (hk_rfm_config_to_text(cfg, text, sizeof text))
        return hk_err_set(err, HK_E(INVAL), "RFM configuration too long");
    struct hk_db *db;
    if ((rc = hk_db_acquire(app->store, &db, err)) != 0)
        return rc;
    rc = hk_db_begin(db, HK_TX_WRITE, err);
    if (!rc) {
        int64_t user_id = actor && actor->who ? actor->who->user_id : 0;
        rc = check_shop(db, shop_id, NULL, err);
        if (!rc)
            rc = hk_rfm_repo_put(db, shop_id, text, user_id, hk_clock_now(&app->clock), err);
        rc = rc ? rc : hk_db_commit(db, err);
        if (rc)
            hk_db_rollback(db);
    }
    hk_db_release(db);
    if (rc)
        return rc;
    audit(app, actor, "rfm.config", shop_id);
    if (!app->engine)
        return 0;
    struct apply_one a = {shop_id, cfg, hk_clock_now(&app->clock)};
    return hk_engine_svc_write_rescored(app->engine, apply_one, &a, err);
}

int hk_rfm_svc_config_delete(struct hk_app *app, const struct hk_actor *actor, int64_t shop_id,
                             struct hk_err *err)
{
    if (shop_id == 0)
        return hk_err_set(err, HK_E(INVAL),
                          "shop 0 (all shops) cannot inherit; PUT its configuration instead");
    struct hk_db *db;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc)
        return rc;
    bool found = false;
    rc = hk_db_begin(db, HK_TX_WRITE, err);
    if (!rc) {
        rc = check_shop(db, shop_id, NULL, err);
        if (!rc)
            rc = hk_rfm_repo_delete(db, shop_id, &found, err);
        rc = rc ? rc : hk_db_commit(db, err);
        if (rc)
            hk_db_rollback(db);
    }
    hk_db_release(db);
    if (rc || !found)
        return rc;
    audit(app, actor, "rfm.config_delete", shop_id);
    if (!app->engine)
        return 0;
    struct apply_one a = {shop_id, NULL, hk_clock_now(&app->clock)};
    return hk_engine_svc_write_rescored(app->engine, apply_one, &a, err);
}

int hk_rfm_svc_report(struct hk_app *app, struct hk_rfm_report *out, struct hk_err *err)
{
    return hk_rfm_svc_report_shop(app, 0, out, err);
}

/* A shop the store has but the engine does not (no order loaded yet): an empty report. */
static int empty_report(struct hk_app *app, int64_t shop_id, struct hk_rfm_report *out,
                        struct hk_err *err)
{
    struct hk_rfm_config c;
    int rc = hk_rfm_svc_config_get(app, shop_id, &c, err);
    if (rc)
        return rc;
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < HK_RFM_SEGMENTS; i++)
        hk_strlcpy(out->segments[i].name, hk_rfm_segment_name(i + 1), HK_RFM_NAME_MAX);
    for (size_t t = 0; t < c.n_tiers; t++)
        hk_strlcpy(out->tiers[t].name, c.tiers[t].name, HK_RFM_NAME_MAX);
    hk_strlcpy(out->tiers[c.n_tiers].name, c.other_tier, HK_RFM_NAME_MAX);
    out->n_tiers = c.n_tiers + 1;
    return 0;
}

int hk_rfm_svc_report_shop(struct hk_app *app, int64_t shop_id, struct hk_rfm_report *out,
                           struct hk_err *err)
{
    if (!app->engine)
        return hk_err_set(err, HK_E(UNAVAILABLE), "the customer engine is not running");
    const struct hk_engine *e = hk_engine_svc_read(app->engine);
    bool known = shop_id == 0 || hk_engine_shop_known(e, shop_id);
    int rc = known ? hk_engine_rfm_report_shop(e, shop_id, out, err) : 0;
    hk_engine_svc_read_end(app->engine);
    return known ? rc : empty_report(app, shop_id, out, err);
}

int hk_rfm_svc_preview(struct hk_app *app, int64_t shop_id, const struct hk_rfm_config *cfg,
                       struct hk_rfm_report *out, struct hk_err *err)
{
    int rc = hk_rfm_config_validate(cfg, err);
    if (rc)
        return rc;
    if (!app->engine)
        return hk_err_set(err, HK_E(UNAVAILABLE), "the customer engine is not running");
    int64_t now = hk_clock_now(&app->clock);
    const struct hk_engine *e = hk_engine_svc_read(app->engine);
    bool known = shop_id == 0 || hk_engine_shop_known(e, shop_id);
    if (known)
        rc = hk_engine_rfm_preview_shop(e, shop_id, cfg, now, out, err);
    hk_engine_svc_read_end(app->engine);
    if (known)
        return rc;
    if ((rc = empty_report(app, shop_id, out, err)) != 0)
        return rc;
    /* the tiers are those of cfg */
    for (size_t t = 0; t < cfg->n_tiers; t++)
        hk_strlcpy(out->tiers[t].name, cfg->tiers[t].name, HK_RFM_NAME_MAX);
    hk_strlcpy(out->tiers[cfg->n_tiers].name, cfg->other_tier, HK_RFM_NAME_MAX);
    out->n_tiers = cfg->n_tiers + 1;
    return 0;
}

/* ---- the engine's side -------------------------------------------------------------------- */

static int describe_shop(void *ctx, const struct hk_shop_row *r, struct hk_err *err)
{
    struct hk_engine *e = ctx;
    if (!hk_engine_shop_known(e, r->id)) {
        int rc = hk_engine_add_shop(e, r->id, r->timezone, err);
        if (rc)
            return rc;
    }
    return hk_engine_shop_describe(e, r->id, r->channel, r->name, err);
}

static int configure_stored(void *ctx, int64_t shop_id, const char *text, struct hk_err *err)
{
    struct hk_engine *e = ctx;
    struct hk_rfm_config c;
    int rc = hk_rfm_config_from_text(text, &c, err);
    if (rc)
        return rc;
    if (shop_id && !hk_engine_shop_known(e, shop_id))
        return 0; /* a configuration left for a shop that is gone */
    return hk_engine_rfm_configure_shop(e, shop_id, &c, err);
}

int hk_rfm_svc_engine_setup(struct hk_app *app, struct hk_engine *e, struct hk_err *err)
{
    struct hk_db *db;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc)
        return rc;
    rc = hk_db_begin(db, HK_TX_READ, err);
    if (!rc) {
        rc = hk_shops_repo_list(db, describe_shop, e, err);
        /* every shop back to inheriting, then the stored ones */
        for (size_t i = 0; !rc && i < hk_engine_shop_count(e); i++) {
            struct hk_engine_shop sh;
            hk_engine_shop_at(e, i, &sh);
            rc = hk_engine_rfm_configure_shop(e, sh.id, NULL, err);
        }
        struct hk_rfm_config d;
        hk_rfm_config_default(&d);
        if (!rc)
            rc = hk_engine_rfm_configure(e, &d, err);
        if (!rc)
            rc = hk_rfm_repo_list(db, configure_stored, e, err);
        if (rc)
            hk_db_rollback(db);
        else
            rc = hk_db_commit(db, err);
    }
    hk_db_release(db);
    return rc;
}

struct hk_rfm_change {
    int64_t shop_id;
    bool own; /* false: inherits shop 0's (not for shop 0, which then has the default) */
    struct hk_rfm_config cfg;
    struct hk_shop_row row; /* shop_id > 0 */
    bool exists;            /* the store has the shop */
};

struct hk_rfm_changes {
    size_t n;
    struct hk_rfm_change v[];
};

int hk_rfm_changes_read(struct hk_app *app, const int64_t *shops, size_t n,
                        struct hk_rfm_changes **out, struct hk_err *err)
{
    struct hk_rfm_changes *c = calloc(1, sizeof(*c) + n * sizeof(c->v[0]));
    if (!c)
        return hk_err_set(err, HK_E(NOMEM), "out of memory reading RFM changes");
    struct hk_db *db;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc) {
        free(c);
        return rc;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        struct hk_rfm_change *ch = &c->v[c->n++];
        ch->shop_id = shops[i];
        ch->exists = true;
        if (shops[i]) {
            rc = hk_shops_repo_get(db, shops[i], &ch->row, err);
            if (rc == HK_E(NOTFOUND)) {
                ch->exists = false;
                rc = 0;
                continue;
            }
        }
        if (!rc)
            rc = stored(db, shops[i], &ch->cfg, &ch->own, err);
        if (!rc && !ch->own && shops[i] == 0) {
            hk_rfm_config_default(&ch->cfg);
            ch->own = true;
        }
    }
    hk_db_release(db);
    if (rc) {
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int hk_rfm_changes_apply(struct hk_engine *e, const struct hk_rfm_changes *c, int64_t now,
                         struct hk_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < c->n && !rc; i++) {
        const struct hk_rfm_change *ch = &c->v[i];
        if (!ch->exists)
            continue;
        if (ch->shop_id && !hk_engine_shop_known(e, ch->shop_id)) {
            rc = hk_engine_add_shop(e, ch->shop_id, ch->row.timezone, err);
            if (!rc)
                rc = hk_engine_shop_describe(e, ch->shop_id, ch->row.channel, ch->row.name, err);
        }
        if (!rc)
            rc = hk_engine_rfm_configure_shop(e, ch->shop_id, ch->own ? &ch->cfg : NULL, err);
        if (!rc)
            rc = hk_engine_rescore_shop(e, ch->shop_id, now, err);
    }
    return rc;
}

void hk_rfm_changes_free(struct hk_rfm_changes *c)
{
    free(c);
}
