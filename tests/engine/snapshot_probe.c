/*
 * snapshot_probe.c — the engine side of test_engine_snapshot.c (engine/engine.h cannot share a
 * file with the ingest headers there; see engine_probe.h): RFM reports compared, engines
 * written as snapshot files directly, and files read back.
 */
#include "snapshot_probe.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "engine/engine.h"
#include "engine/snapshot.h"
#include "services/engine_svc.h"

static bool near(double a, double b)
{
    return fabs(a - b) <= 1e-9 * (fabs(a) + fabs(b) + 1);
}

static bool group_same(const struct hk_rfm_group *a, const struct hk_rfm_group *b)
{
    return strcmp(a->name, b->name) == 0 && a->customers == b->customers &&
           a->spend_fen == b->spend_fen && a->orders == b->orders && near(a->share, b->share) &&
           near(a->spend_share, b->spend_share) && near(a->aov_fen, b->aov_fen);
}

bool sprobe_rfm_same(struct hk_engine_svc *a, struct hk_engine_svc *b, char *why, size_t size)
{
    struct hk_rfm_report ra, rb;
    memset(&ra, 0, sizeof ra);
    memset(&rb, 0, sizeof rb);
    hk_engine_rfm_report(hk_engine_svc_read(a), &ra);
    hk_engine_svc_read_end(a);
    hk_engine_rfm_report(hk_engine_svc_read(b), &rb);
    hk_engine_svc_read_end(b);
    if (ra.customers != rb.customers || ra.buyers != rb.buyers || ra.spend_fen != rb.spend_fen ||
        !near(ra.mean_recency_days, rb.mean_recency_days) ||
        !near(ra.mean_frequency, rb.mean_frequency) ||
        !near(ra.mean_monetary_fen, rb.mean_monetary_fen) ||
        memcmp(ra.grid, rb.grid, sizeof ra.grid) != 0 || ra.n_tiers != rb.n_tiers) {
        snprintf(why, size, "customers %llu/%llu buyers %llu/%llu spend %lld/%lld",
                 (unsigned long long)ra.customers, (unsigned long long)rb.customers,
                 (unsigned long long)ra.buyers, (unsigned long long)rb.buyers,
                 (long long)ra.spend_fen, (long long)rb.spend_fen);
        return false;
    }
    for (int i = 0; i < HK_RFM_SEGMENTS; i++)
        if (!group_same(&ra.segments[i], &rb.segments[i])) {
            snprintf(why, size, "segment %s differs", ra.segments[i].name);
            return false;
        }
    for (size_t i = 0; i < ra.n_tiers; i++)
        if (!group_same(&ra.tiers[i], &rb.tiers[i])) {
            snprintf(why, size, "tier %s differs", ra.tiers[i].name);
            return false;
        }
    return ra.buyers > 0 || (snprintf(why, size, "no buyers"), false);
}

size_t sprobe_rows(struct hk_engine_svc *s)
{
    size_t n = hk_engine_rows(hk_engine_svc_read(s));
    hk_engine_svc_read_end(s);
    return n;
}

int64_t sprobe_row_id(struct hk_engine_svc *s, size_t row)
{
    int64_t id = hk_engine_row_id(hk_engine_svc_read(s), row);
    hk_engine_svc_read_end(s);
    return id;
}

int sprobe_write_loop(struct hk_engine_svc *s, const char *path, int n)
{
    struct hk_err err = {0};
    const struct hk_engine *e = hk_engine_svc_read(s);
    for (int i = 0; i < n; i++) {
        struct hk_engine_snapshot_info info;
        memset(&info, 0, sizeof info);
        snprintf(info.store_id, sizeof info.store_id, "loop");
        info.cursor = i;
        struct hk_snapshot_pending p;
        if (hk_engine_snapshot_write(e, NULL, &info, path, &p, &err) != 0 ||
            hk_engine_snapshot_finish(&p, true, &err) != 0) {
            hk_engine_svc_read_end(s);
            return -1;
        }
    }
    hk_engine_svc_read_end(s);
    return 0;
}

int sprobe_read(const char *path, const char *zone, int64_t *cursor, size_t *rows, char *why,
                size_t size)
{
    struct hk_engine_opts o = {zone, 1};
    struct hk_engine_snapshot_info info;
    struct hk_engine *e = NULL;
    struct hk_err err = {0};
    int rc = hk_engine_snapshot_read(path, &o, &info, &e, &err);
    if (rc) {
        snprintf(why, size, "%s", hk_err_message(&err));
        return rc;
    }
    rc = hk_engine_load_finish(e, &err);
    if (rc)
        snprintf(why, size, "%s", hk_err_message(&err));
    *cursor = info.cursor;
    *rows = hk_engine_rows(e);
    hk_engine_free(e);
    return rc;
}
