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
#include "services/app.h"
#include "services/engine_svc.h"
#include "store/rfm_repo.h"
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

int hk_rfm_svc_config_get(struct hk_app *app, int64_t shop_id, struct hk_rfm_config *out,
                          struct hk_err *err)
{
    char text[HK_RFM_TEXT_MAX];
    bool found = false;
    struct hk_db *db;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc)
        return rc;
    rc = hk_rfm_repo_get(db, shop_id, text, sizeof text, &found, err);
    hk_db_release(db);
    if (rc)
        return rc;
    if (!found) {
        hk_rfm_config_default(out);
        return 0;
    }
    return hk_rfm_config_from_text(text, out, err);
}

static int configure(void *ctx, struct hk_engine *e, struct hk_err *err)
{
    return hk_engine_rfm_configure(e, ctx, err);
}

int hk_rfm_svc_config_put(struct hk_app *app, int64_t shop_id, const struct hk_rfm_config *cfg,
                          int64_t user_id, struct hk_err *err)
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
    if (!rc)
        rc = hk_rfm_repo_put(db, shop_id, text, user_id, hk_clock_now(&app->clock), err);
    if (!rc)
        rc = hk_db_commit(db, err);
    hk_db_release(db);
    if (rc || !app->engine || shop_id != 0)
        return rc;
    struct hk_rfm_config copy = *cfg;
    return hk_engine_svc_write(app->engine, configure, &copy, err);
}

int hk_rfm_svc_report(struct hk_app *app, struct hk_rfm_report *out, struct hk_err *err)
{
    if (!app->engine)
        return hk_err_set(err, HK_E(UNAVAILABLE), "the customer engine is not running");
    const struct hk_engine *e = hk_engine_svc_read(app->engine);
    hk_engine_rfm_report(e, out);
    hk_engine_svc_read_end(app->engine);
    return 0;
}

int hk_rfm_svc_preview(struct hk_app *app, const struct hk_rfm_config *cfg,
                       struct hk_rfm_report *out, struct hk_err *err)
{
    int rc = hk_rfm_config_validate(cfg, err);
    if (rc)
        return rc;
    if (!app->engine)
        return hk_err_set(err, HK_E(UNAVAILABLE), "the customer engine is not running");
    int64_t now = hk_clock_now(&app->clock);
    const struct hk_engine *e = hk_engine_svc_read(app->engine);
    rc = hk_engine_rfm_preview(e, cfg, now, out, err);
    hk_engine_svc_read_end(app->engine);
    return rc;
}
