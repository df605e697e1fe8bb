/*
 * snapshot.c — writing and reading the engine's history file (see snapshot.h for the contract
 * and docs/architecture.md, "Engine snapshot", for the decision).
 *
 * Every per-row column of the engine is listed ONCE, in `cols` below: a history column is
 * written and read back; a derived one is only allocated and set to its empty value (what a new
 * row has before hk_engine_load_finish derives it). Changing a column in engine_int.h is a
 * one-line edit here; the table's hash is in the header, so files written with another table
 * are refused (the engine then loads from the store).
 *
 * The rest is written section by section in a fixed order: dictionaries (their names and hash
 * slots as they are in memory), the customer-id maps, zones, shops, products and tags. Maps and
 * tables whose lookups depend on table.c's hashing of integers are rebuilt through table.c's
 * own functions (shops, products); the dictionaries and the customer map are read as stored and
 * then checked by looking every entry up, so a change of a hash function shows as "inconsistent
 * contents" instead of a broken engine.
 *
 * I/O is plain write()/read() of whole columns into the engine's own arrays (malloc'd, so they
 * stay growable), hashed on the way with XXH3 (libxxhash); no mmap: the arrays must be ordinary
 * heap memory the engine can realloc, and a mapping would be copied anyway.
 */
#include "engine/snapshot.h"

#include "core/err.h"
#include "core/tz.h"
#include "engine/engine_int.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define HK_SNAP_MAGIC   "HKENGSNP"
#define HK_SNAP_VERSION 1u
#define HK_SNAP_BOM     0x01020304u

/* ---- the column table ----------------------------------------------------------------------- */

enum col_family { F_CUST, F_ORD, F_LINE, F_EVT };
enum col_kind { K_SAVE, K_DERIVED };
enum col_width { W_ANY, W_NARROW, W_WIDE }; /* amounts: present only in one of the two modes */

struct col {
    const char *name;
    size_t off;   /* offsetof the column pointer in struct hk_engine */
    uint8_t size; /* element size */
    uint8_t fam, kind, width;
    int64_t fill; /* K_DERIVED: the empty value */
};

#define COLX(f, fam, kind, width, fill)                                                            \
    {                                                                                              \
#f, offsetof(struct hk_engine, f), (uint8_t)sizeof(*((struct hk_engine *)0)->f), fam,      \
            kind, width, fill                                                                      \
    }
#define SAVE(f, fam)      COLX(f, fam, K_SAVE, W_ANY, 0)
#define DERIVED(f, fill)  COLX(f, F_CUST, K_DERIVED, W_ANY, fill)
#define AMOUNT(f, fam, w) COLX(f, fam, K_SAVE, w, 0)

static const struct col cols[] = {
    /* customers: history */
    SAVE(c_id, F_CUST),
    SAVE(c_ostart, F_CUST),
    SAVE(c_ocount, F_CUST),
    SAVE(c_lstart, F_CUST),
    SAVE(c_lcount, F_CUST),
    SAVE(c_estart, F_CUST),
    SAVE(c_ecount, F_CUST),
    SAVE(c_province, F_CUST),
    SAVE(c_city, F_CUST),
    SAVE(c_channels, F_CUST),
    /* customers: derived by hk_engine_load_finish / rescore */
    DERIVED(c_first_day, HK_DAY_NONE),
    DERIVED(c_last_day, HK_DAY_NONE),
    DERIVED(c_first_zone, 0),
    DERIVED(c_last_zone, 0),
    DERIVED(c_freq, 0),
    DERIVED(c_refunds, 0),
    DERIVED(c_coupon, 0),
    DERIVED(c_monetary, 0),
    DERIVED(c_main_cat, HK_CAT_NONE),
    DERIVED(c_r, 0),
    DERIVED(c_f, 0),
    DERIVED(c_m, 0),
    DERIVED(c_seg, 0),
    DERIVED(c_tier, 0),
    DERIVED(c_aov_key, INT32_MIN),
    DERIVED(c_psstart, 0), /* the per-shop family starts empty (nps = 0) */
    DERIVED(c_pscount, 0),
    /* orders */
    SAVE(o_id, F_ORD),
    SAVE(o_paid_at, F_ORD),
    AMOUNT(o_net, F_ORD, W_NARROW),
    AMOUNT(o_net_w, F_ORD, W_WIDE),
    SAVE(o_day, F_ORD),
    SAVE(o_cust, F_ORD),
    SAVE(o_flags, F_ORD),
    SAVE(o_shop, F_ORD),
    /* lines */
    SAVE(l_cust, F_LINE),
    SAVE(l_ord, F_LINE),
    SAVE(l_prod, F_LINE),
    SAVE(l_day, F_LINE),
    AMOUNT(l_fen, F_LINE, W_NARROW),
    AMOUNT(l_fen_w, F_LINE, W_WIDE),
    SAVE(l_cat, F_LINE),
    /* events */
    SAVE(e_cust, F_EVT),
    SAVE(e_type, F_EVT),
    SAVE(e_day, F_EVT),
    SAVE(e_zone, F_EVT),
};
#define NCOLS (sizeof(cols) / sizeof(cols[0]))

static void **col_ptr(const struct hk_engine *e, const struct col *c)
{
    return (void **)(void *)((char *)(uintptr_t)e + c->off);
}

static bool col_present(const struct hk_engine *e, const struct col *c)
{
    return c->width == W_ANY || (c->width == W_WIDE) == e->amounts_wide;
}

/* Hash of the table (and of the format version), recorded in the header. */
static uint64_t layout_hash(void)
{
    XXH3_state_t *h = XXH3_createState();
    if (!h)
        return 0;
    XXH3_64bits_reset(h);
    uint32_t v = HK_SNAP_VERSION;
    XXH3_64bits_update(h, &v, sizeof v);
    for (size_t i = 0; i < NCOLS; i++) {
        const struct col *c = &cols[i];
        XXH3_64bits_update(h, c->name, strlen(c->name) + 1);
        unsigned char k[4] = {c->size, c->fam, c->kind, c->width};
        XXH3_64bits_update(h, k, sizeof k);
    }
    uint64_t r = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return r;
}

/* ---- header --------------------------------------------------------------------------------- */

struct hk_snap_header {
    char magic[8];
    uint32_t version;
    uint32_t byte_order; /* HK_SNAP_BOM as the writer stored it */
    uint32_t word_size;  /* sizeof(size_t) */
    uint32_t header_size;
    uint64_t layout;
    int64_t cursor, anchor_id, anchor_at, anchor_customer, written_at;
    char store_id[HK_SNAP_STORE_ID_MAX];
    char default_zone[HK_SNAP_ZONE_MAX];
    uint64_t nc, no, nl, ne, o_dead, l_dead, e_dead, np, cust_dense_n, nzones, nshops, ntags;
    uint32_t amounts_wide, default_zone_idx;
};

/* ---- writing -------------------------------------------------------------------------------- */

struct wr {
    int fd;
    XXH3_state_t *h;
    uint64_t bytes;
    int err; /* errno of the first failure */
    size_t n;
    unsigned char buf[1 << 16];
};

static void wr_raw(struct wr *w, const void *p, size_t n)
{
    const char *s = p;
    while (n && !w->err) {
        ssize_t k = write(w->fd, s, n > ((size_t)1 << 30) ? (size_t)1 << 30 : n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            w->err = errno;
            return;
        }
        s += k;
        n -= (size_t)k;
    }
}

static void wr_flush(struct wr *w)
{
    wr_raw(w, w->buf, w->n);
    w->n = 0;
}

static void wr_bytes(struct wr *w, const void *p, size_t n)
{
    if (!n)
        return;
    XXH3_64bits_update(w->h, p, n);
    w->bytes += n;
    if (n > sizeof(w->buf) / 2) {
        wr_flush(w);
        wr_raw(w, p, n);
        return;
    }
    if (w->n + n > sizeof(w->buf))
        wr_flush(w);
    memcpy(w->buf + w->n, p, n);
    w->n += n;
}

/* A section's header: its elements follow (wr_bytes). */
static void wr_head(struct wr *w, uint32_t id, uint32_t size, uint64_t count)
{
    struct {
        uint32_t id, size;
        uint64_t count;
    } s = {id, size, count};
    wr_bytes(w, &s, sizeof s);
}

static void wr_section(struct wr *w, uint32_t id, uint32_t size, uint64_t count, const void *data)
{
    wr_head(w, id, size, count);
    if (count)
        wr_bytes(w, data, (size_t)count * size);
}

enum sec {
    S_COL = 0x100, /* + column index */
    S_LIVE = 1,
    S_DICT_LENS,
    S_DICT_NAMES,
    S_DICT_SLOTS,
    S_DENSE,
    S_CMAP_KEYS,
    S_CMAP_VALS,
    S_ZONES,
    S_SHOP_IDS,
    S_SHOP_ZONES,
    S_PROD_IDS,
    S_PROD_NAMES,
    S_PROD_CATS,
    S_TAG_NAME,
    S_TAG_BITS,
};

/* The dictionaries written (the tag dictionary is not: tags are written by name). */
static bool dict_saved(int k)
{
    return k != HK_DICT_TAG;
}

/* What may change outside the sync, copied under the read lock: tags, shops and zones. */
struct hk_snapshot_tags {
    size_t n;
    char **names;
    uint64_t **bits;
    size_t words;
    uint32_t nshops, nzones;
    int64_t *shop_ids;
    uint8_t *shop_zones;
    char *zones[HK_MAX_ZONES];
};

void hk_engine_snapshot_tags_free(struct hk_snapshot_tags *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->names[i]);
        free(t->bits[i]);
    }
    free(t->names);
    free(t->bits);
    free(t->shop_ids);
    free(t->shop_zones);
    for (uint32_t i = 0; i < t->nzones; i++)
        free(t->zones[i]);
    free(t);
}

int hk_engine_snapshot_tags(const struct hk_engine *e, bool (*keep)(void *ctx, const char *name),
                            void *ctx, struct hk_snapshot_tags **out, struct hk_err *err)
{
    struct hk_snapshot_tags *t = calloc(1, sizeof(*t));
    size_t nt = e->ntag_bits;
    if (t && nt) {
        t->names = calloc(nt, sizeof(*t->names));
        t->bits = calloc(nt, sizeof(*t->bits));
    }
    if (!t || (nt && (!t->names || !t->bits))) {
        hk_engine_snapshot_tags_free(t);
        return hk_err_set(err, HK_E(NOMEM), "out of memory copying tags for the snapshot");
    }
    t->words = hk_engine_words(e);
    t->shop_ids = malloc((e->nshops ? e->nshops : 1) * sizeof(*t->shop_ids));
    t->shop_zones = malloc(e->nshops ? e->nshops : 1);
    bool oom = !t->shop_ids || !t->shop_zones;
    for (uint32_t i = 0; !oom && i < e->nshops; i++) {
        t->shop_ids[i] = e->shops[i].id;
        t->shop_zones[i] = e->s_zone[i];
    }
    t->nshops = oom ? 0 : e->nshops;
    for (uint32_t i = 0; !oom && i < e->nzones; i++) {
        const char *z = hk_tz_name(e->zones[i]);
        size_t zl = strlen(z);
        if (!(t->zones[i] = malloc(zl + 1)))
            oom = true;
        else
            memcpy(t->zones[i], z, zl + 1);
        t->nzones = oom ? i : i + 1;
    }
    if (oom) {
        hk_engine_snapshot_tags_free(t);
        return hk_err_set(err, HK_E(NOMEM), "out of memory copying tags for the snapshot");
    }
    for (uint32_t id = 0; id < nt; id++) {
        const uint64_t *b = e->tag_bits[id];
        if (!b || id >= e->dicts[HK_DICT_TAG].n || hk_engine_tag_retired(e, id))
            continue;
        const char *name = e->dicts[HK_DICT_TAG].names[id];
        if (keep && !keep(ctx, name))
            continue;
        size_t len = strlen(name);
        t->names[t->n] = malloc(len + 1);
        t->bits[t->n] = malloc((t->words ? t->words : 1) * 8);
        if (!t->names[t->n] || !t->bits[t->n]) {
            free(t->names[t->n]);
            free(t->bits[t->n]);
            hk_engine_snapshot_tags_free(t);
            return hk_err_set(err, HK_E(NOMEM), "out of memory copying tags for the snapshot");
        }
        memcpy(t->names[t->n], name, len + 1);
        memcpy(t->bits[t->n], b, t->words * 8);
        t->n++;
    }
    *out = t;
    return 0;
}

static void write_body(struct wr *w, const struct hk_engine *e, const struct hk_snapshot_tags *tags,
                       int64_t *pids)
{
    size_t fam_n[4] = {e->nc, e->no, e->nl, e->ne};
    for (size_t i = 0; i < NCOLS; i++) {
        const struct col *c = &cols[i];
        if (c->kind != K_SAVE || !col_present(e, c))
            continue;
        wr_section(w, S_COL + (uint32_t)i, c->size, fam_n[c->fam], *col_ptr(e, c));
    }
    wr_section(w, S_LIVE, 8, (e->nc + 63) / 64, e->live);
    for (int k = 0; k < HK_DICT_COUNT_; k++) {
        if (!dict_saved(k))
            continue;
        const struct hk_dict *d = &e->dicts[k];
        wr_section(w, S_DICT_LENS, 4, d->n, d->lens);
        size_t total = 0;
        for (uint32_t i = 0; i < d->n; i++)
            total += d->lens[i];
        wr_head(w, S_DICT_NAMES, 1, total);
        for (uint32_t i = 0; i < d->n; i++)
            wr_bytes(w, d->names[i], d->lens[i]);
        wr_section(w, S_DICT_SLOTS, 4, d->nslots, d->slots);
    }
    wr_section(w, S_DENSE, 4, e->cust_dense_n, e->cust_dense);
    wr_section(w, S_CMAP_KEYS, 8, e->cust_map.nslots, e->cust_map.keys);
    wr_section(w, S_CMAP_VALS, 4, e->cust_map.nslots, e->cust_map.vals);
    /* zones and shops: as copied with the tags when given (they may change outside the sync) */
    uint32_t nz = tags ? tags->nzones : e->nzones, ns = tags ? tags->nshops : e->nshops;
    size_t zl = 0;
    for (uint32_t i = 0; i < nz; i++)
        zl += strlen(tags ? tags->zones[i] : hk_tz_name(e->zones[i])) + 1;
    wr_head(w, S_ZONES, 1, zl);
    for (uint32_t i = 0; i < nz; i++) {
        const char *z = tags ? tags->zones[i] : hk_tz_name(e->zones[i]);
        wr_bytes(w, z, strlen(z) + 1);
    }
    wr_head(w, S_SHOP_IDS, 8, ns);
    for (uint32_t i = 0; i < ns; i++)
        wr_bytes(w, tags ? &tags->shop_ids[i] : &e->shops[i].id, 8);
    wr_section(w, S_SHOP_ZONES, 1, ns, tags ? tags->shop_zones : e->s_zone);
    wr_section(w, S_PROD_IDS, 8, e->np, pids);
    wr_section(w, S_PROD_NAMES, 4, e->np, e->p_name);
    wr_section(w, S_PROD_CATS, 2, e->np, e->p_cat);
    for (size_t i = 0; tags && i < tags->n; i++) {
        wr_section(w, S_TAG_NAME, 1, strlen(tags->names[i]), tags->names[i]);
        wr_section(w, S_TAG_BITS, 8, tags->words, tags->bits[i]);
    }
}

/* Temporary files of writers killed mid-write (path.tmp.PID of a process that is gone). */
static void clean_stale(const char *path)
{
    char pat[4200];
    snprintf(pat, sizeof pat, "%s.tmp.*", path);
    glob_t g;
    if (glob(pat, GLOB_NOSORT | GLOB_NOESCAPE, NULL, &g) != 0)
        return;
    size_t plen = strlen(path) + 5;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        char *end;
        long pid = strtol(g.gl_pathv[i] + plen, &end, 10);
        if (*end == '\0' && pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            unlink(g.gl_pathv[i]);
    }
    globfree(&g);
}

int hk_engine_snapshot_write(const struct hk_engine *e, const struct hk_snapshot_tags *tags,
                             const struct hk_engine_snapshot_info *info, const char *path,
                             struct hk_snapshot_pending *out, struct hk_err *err)
{
    memset(out, 0, sizeof(*out));
    out->fd = -1;
    if (snprintf(out->path, sizeof out->path, "%s", path) >= (int)sizeof out->path ||
        snprintf(out->tmp, sizeof out->tmp, "%s.tmp.%ld", path, (long)getpid()) >=
            (int)sizeof out->tmp)
        return hk_err_set(err, HK_E(INVAL), "snapshot path too long");
    clean_stale(path);
    /* the product table is a map from store id to slot: invert it */
    int64_t *pids = malloc((e->np ? e->np : 1) * sizeof(*pids));
    struct wr *w = malloc(sizeof(*w));
    XXH3_state_t *h = XXH3_createState();
    if (!pids || !w || !h) {
        free(pids);
        free(w);
        XXH3_freeState(h);
        return hk_err_set(err, HK_E(NOMEM), "out of memory writing the engine snapshot");
    }
    for (size_t i = 0; i < e->product_map.nslots; i++)
        if (e->product_map.keys[i] != INT64_MIN && e->product_map.vals[i] < e->np)
            pids[e->product_map.vals[i]] = e->product_map.keys[i];

    int fd = open(out->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        free(pids);
        free(w);
        XXH3_freeState(h);
        return hk_err_set(err, HK_E(IO), "cannot create %s: %s", out->tmp, strerror(errno));
    }
    memset(w, 0, offsetof(struct wr, buf));
    w->fd = fd;
    w->h = h;
    XXH3_64bits_reset(h);

    struct hk_snap_header hd;
    memset(&hd, 0, sizeof hd);
    memcpy(hd.magic, HK_SNAP_MAGIC, 8);
    hd.version = HK_SNAP_VERSION;
    hd.byte_order = HK_SNAP_BOM;
    hd.word_size = (uint32_t)sizeof(size_t);
    hd.header_size = (uint32_t)sizeof hd;
    hd.layout = layout_hash();
    hd.cursor = info->cursor;
    hd.anchor_id = info->anchor_id;
    hd.anchor_at = info->anchor_at;
    hd.anchor_customer = info->anchor_customer;
    hd.written_at = info->written_at;
    snprintf(hd.store_id, sizeof hd.store_id, "%s", info->store_id);
    snprintf(hd.default_zone, sizeof hd.default_zone, "%s", hk_tz_name(e->zones[e->default_zone]));
    hd.nc = e->nc;
    hd.no = e->no;
    hd.nl = e->nl;
    hd.ne = e->ne;
    hd.o_dead = e->o_dead;
    hd.l_dead = e->l_dead;
    hd.e_dead = e->e_dead;
    hd.np = e->np;
    hd.cust_dense_n = e->cust_dense_n;
    hd.nzones = tags ? tags->nzones : e->nzones;
    hd.nshops = tags ? tags->nshops : e->nshops;
    hd.ntags = tags ? tags->n : 0;
    hd.amounts_wide = e->amounts_wide;
    hd.default_zone_idx = e->default_zone;
    wr_bytes(w, &hd, sizeof hd);
    write_body(w, e, tags, pids);
    uint64_t sum = XXH3_64bits_digest(h);
    wr_flush(w);
    wr_raw(w, &sum, sizeof sum);
    int werr = w->err;
    out->bytes = w->bytes + sizeof sum;
    free(pids);
    free(w);
    XXH3_freeState(h);
    out->fd = fd;
    if (werr) {
        hk_engine_snapshot_finish(out, false, NULL);
        return hk_err_set(err, HK_E(IO), "cannot write the engine snapshot: %s", strerror(werr));
    }
    return 0;
}

int hk_engine_snapshot_finish(struct hk_snapshot_pending *p, bool commit, struct hk_err *err)
{
    if (p->fd < 0)
        return 0;
    int rc = 0;
    if (commit && fsync(p->fd) != 0)
        rc = hk_err_set(err, HK_E(IO), "cannot sync %s: %s", p->tmp, strerror(errno));
    if (close(p->fd) != 0 && !rc && commit)
        rc = hk_err_set(err, HK_E(IO), "cannot close %s: %s", p->tmp, strerror(errno));
    p->fd = -1;
    if (!commit || rc) {
        unlink(p->tmp);
        return rc;
    }
    if (rename(p->tmp, p->path) != 0) {
        rc = hk_err_set(err, HK_E(IO), "cannot rename %s: %s", p->tmp, strerror(errno));
        unlink(p->tmp);
        return rc;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", p->path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0)
            rc = hk_err_set(err, HK_E(IO), "cannot sync the directory of %s: %s", p->path,
                            strerror(errno));
        close(dfd);
    }
    return rc;
}

/* ---- reading -------------------------------------------------------------------------------- */

struct rd {
    int fd;
    XXH3_state_t *h;
    uint64_t left;   /* bytes before the trailer not yet consumed */
    const char *bad; /* the first problem, for the message */
    size_t pos, len;
    unsigned char buf[1 << 16];
};

static bool rd_fill(int fd, void *dst, size_t n)
{
    char *d = dst;
    while (n) {
        ssize_t k = read(fd, d, n > ((size_t)1 << 30) ? (size_t)1 << 30 : n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        d += k;
        n -= (size_t)k;
    }
    return true;
}

/* Reads n bytes (hashed) into dst; false (r->bad set) when the file ends first. */
static bool rd_bytes(struct rd *r, void *dst, size_t n)
{
    if (r->bad)
        return false;
    if (n == 0)
        return true;
    if (n > r->left) {
        r->bad = "the file is truncated";
        return false;
    }
    unsigned char *d = dst;
    size_t from_buf = r->len - r->pos < n ? r->len - r->pos : n;
    memcpy(d, r->buf + r->pos, from_buf);
    r->pos += from_buf;
    size_t rest = n - from_buf;
    if (rest > sizeof(r->buf) / 2) {
        if (!rd_fill(r->fd, d + from_buf, rest)) {
            r->bad = "the file is truncated";
            return false;
        }
    } else if (rest) {
        uint64_t want = r->left - from_buf < sizeof r->buf ? r->left - from_buf : sizeof r->buf;
        if (!rd_fill(r->fd, r->buf, (size_t)want)) {
            r->bad = "the file is truncated";
            return false;
        }
        r->pos = 0;
        r->len = (size_t)want;
        memcpy(d + from_buf, r->buf, rest);
        r->pos = rest;
    }
    XXH3_64bits_update(r->h, d, n);
    r->left -= n;
    return true;
}

/* Reads a section header: it must be (id, size); the count must fit in the rest of the file. */
static bool rd_section(struct rd *r, uint32_t id, uint32_t size, uint64_t *count)
{
    struct {
        uint32_t id, size;
        uint64_t count;
    } s;
    if (!rd_bytes(r, &s, sizeof s))
        return false;
    if (s.id != id || s.size != size) {
        r->bad = "the file's sections are not as expected";
        return false;
    }
    if (size && s.count > r->left / size) {
        r->bad = "the file is truncated";
        return false;
    }
    *count = s.count;
    return true;
}

/* A section of exactly `want` elements into dst. */
static bool rd_exact(struct rd *r, uint32_t id, uint32_t size, uint64_t want, void *dst)
{
    uint64_t n;
    if (!rd_section(r, id, size, &n))
        return false;
    if (n != want) {
        r->bad = "the file's sections are not as expected";
        return false;
    }
    return rd_bytes(r, dst, (size_t)(n * size));
}

static void *alloc_col(size_t elsize, size_t cap)
{
    return malloc(elsize * (cap ? cap : 1));
}

static void fill_col(void *p, uint8_t size, size_t n, int64_t v)
{
    if (v == 0) {
        memset(p, 0, n * size);
        return;
    }
    for (size_t i = 0; i < n; i++)
        switch (size) {
        case 1:
            ((uint8_t *)p)[i] = (uint8_t)v;
            break;
        case 2:
            ((uint16_t *)p)[i] = (uint16_t)v;
            break;
        case 4:
            ((int32_t *)p)[i] = (int32_t)v;
            break;
        default:
            ((int64_t *)p)[i] = v;
            break;
        }
}

static bool read_dict(struct rd *r, struct hk_dict *d)
{
    hk_dict_free(d);
    uint64_t n, total, nslots;
    if (!rd_section(r, S_DICT_LENS, 4, &n))
        return false;
    if (n >= UINT32_MAX - 2)
        return r->bad = "a dictionary is too large", false;
    uint32_t cap = n < 16 ? 16 : (uint32_t)n;
    d->names = calloc(cap, sizeof(char *));
    d->lens = malloc(cap * sizeof(uint32_t));
    if (!d->names || !d->lens)
        return r->bad = "out of memory", false;
    d->cap = cap;
    if (!rd_bytes(r, d->lens, (size_t)n * 4) || !rd_section(r, S_DICT_NAMES, 1, &total))
        return false;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++)
        sum += d->lens[i];
    if (sum != total)
        return r->bad = "a dictionary is inconsistent", false;
    for (uint32_t i = 0; i < n; i++) {
        d->names[i] = malloc(d->lens[i] + 1);
        if (!d->names[i])
            return r->bad = "out of memory", false;
        d->n = i + 1; /* freed with the dictionary from here on */
        if (!rd_bytes(r, d->names[i], d->lens[i]))
            return false;
        d->names[i][d->lens[i]] = '\0';
    }
    d->n = (uint32_t)n;
    if (!rd_section(r, S_DICT_SLOTS, 4, &nslots))
        return false;
    if ((nslots & (nslots - 1)) != 0 || nslots > UINT32_MAX || (n && nslots < 2 * n))
        return r->bad = "a dictionary is inconsistent", false;
    d->nslots = (uint32_t)nslots;
    d->slots = alloc_col(4, (size_t)nslots);
    if (!d->slots)
        return r->bad = "out of memory", false;
    return rd_bytes(r, d->slots, (size_t)nslots * 4);
}

/* Allocates and reads the per-row columns (capacities with room to grow). */
static bool read_columns(struct rd *r, struct hk_engine *e, const struct hk_snap_header *hd)
{
    e->nc = hd->nc;
    e->no = hd->no;
    e->nl = hd->nl;
    e->ne = hd->ne;
    e->o_dead = hd->o_dead;
    e->l_dead = hd->l_dead;
    e->e_dead = hd->e_dead;
    e->amounts_wide = hd->amounts_wide != 0;
    e->cc = (e->nc + e->nc / 16 + 64 + 63) & ~(size_t)63;
    e->co = e->no + e->no / 16 + 16;
    e->cl = e->nl + e->nl / 16 + 16;
    e->ce = e->ne + e->ne / 16 + 16;
    size_t fam_n[4] = {e->nc, e->no, e->nl, e->ne}, fam_cap[4] = {e->cc, e->co, e->cl, e->ce};
    for (size_t i = 0; i < NCOLS; i++) {
        const struct col *c = &cols[i];
        if (!col_present(e, c))
            continue;
        void **p = col_ptr(e, c);
        free(*p);
        *p = alloc_col(c->size, fam_cap[c->fam]);
        if (!*p)
            return r->bad = "out of memory", false;
        if (c->kind == K_DERIVED)
            fill_col(*p, c->size, fam_n[c->fam], c->fill);
        else if (!rd_exact(r, S_COL + (uint32_t)i, c->size, fam_n[c->fam], *p))
            return false;
    }
    free(e->live);
    e->live = calloc(e->cc / 64, 8);
    if (!e->live)
        return r->bad = "out of memory", false;
    return rd_exact(r, S_LIVE, 8, (e->nc + 63) / 64, e->live);
}

static bool check(struct rd *r, bool ok)
{
    if (!ok && !r->bad)
        r->bad = "the file's contents are inconsistent";
    return ok;
}

/* Every history reference in range (a corrupt file that passed the checksum is not trusted
 * blindly: it was written by this code, but a bad index here would be a wild write later). */
static bool check_ranges(struct rd *r, const struct hk_engine *e)
{
    for (size_t i = 0; i < e->nc; i++) {
        if (!check(r,
                   (uint64_t)e->c_ostart[i] + e->c_ocount[i] <= e->no &&
                       (uint64_t)e->c_lstart[i] + e->c_lcount[i] <= e->nl &&
                       (uint64_t)e->c_estart[i] + e->c_ecount[i] <= e->ne &&
                       (e->c_province[i] == HK_ENGINE_NONE ||
                        e->c_province[i] < e->dicts[HK_DICT_PROVINCE].n) &&
                       (e->c_city[i] == HK_ENGINE_NONE || e->c_city[i] < e->dicts[HK_DICT_CITY].n)))
            return false;
    }
    for (size_t o = 0; o < e->no; o++)
        if (!check(r, (e->o_cust[o] == HK_DEAD || e->o_cust[o] < e->nc) &&
                          (e->o_cust[o] == HK_DEAD || e->o_shop[o] < e->nshops)))
            return false;
    for (size_t l = 0; l < e->nl; l++)
        if (!check(r, e->l_cust[l] == HK_DEAD || (e->l_cust[l] < e->nc && e->l_ord[l] < e->no &&
                                                  (e->l_prod[l] == HK_ENGINE_NONE ||
                                                   e->l_prod[l] < e->dicts[HK_DICT_PRODUCT].n) &&
                                                  (e->l_cat[l] == HK_CAT_NONE ||
                                                   e->l_cat[l] < e->dicts[HK_DICT_CATEGORY].n))))
            return false;
    for (size_t v = 0; v < e->ne; v++)
        if (!check(r,
                   e->e_cust[v] == HK_DEAD || (e->e_cust[v] < e->nc && e->e_zone[v] < e->nzones &&
                                               e->e_type[v] < e->dicts[HK_DICT_EVENT_TYPE].n)))
            return false;
    return true;
}

static bool read_rest(struct rd *r, struct hk_engine *e, const struct hk_snap_header *hd,
                      struct hk_err *err)
{
    for (int k = 0; k < HK_DICT_COUNT_; k++)
        if (dict_saved(k) && !read_dict(r, &e->dicts[k]))
            return false;
    /* customer id -> row */
    free(e->cust_dense);
    e->cust_dense_n = hd->cust_dense_n;
    e->cust_dense = alloc_col(4, e->cust_dense_n);
    uint64_t ns;
    if (!e->cust_dense)
        return r->bad = "out of memory", false;
    if (!rd_exact(r, S_DENSE, 4, e->cust_dense_n, e->cust_dense) ||
        !rd_section(r, S_CMAP_KEYS, 8, &ns))
        return false;
    if (!check(r, (ns & (ns - 1)) == 0))
        return false;
    e->cust_map.nslots = (size_t)ns;
    e->cust_map.keys = ns ? malloc((size_t)ns * 8) : NULL;
    e->cust_map.vals = ns ? malloc((size_t)ns * 4) : NULL;
    if (ns && (!e->cust_map.keys || !e->cust_map.vals))
        return r->bad = "out of memory", false;
    if (!rd_bytes(r, e->cust_map.keys, (size_t)ns * 8) ||
        !rd_exact(r, S_CMAP_VALS, 4, ns, e->cust_map.vals))
        return false;
    for (size_t i = 0; i < ns; i++)
        e->cust_map.n += e->cust_map.keys[i] != INT64_MIN;
    /* zones: the first is the default zone the engine was made with */
    uint64_t zl;
    if (!rd_section(r, S_ZONES, 1, &zl))
        return false;
    char *zn = malloc(zl + 1);
    if (!zn)
        return r->bad = "out of memory", false;
    bool ok = rd_bytes(r, zn, (size_t)zl);
    zn[zl] = '\0';
    const char *z = zn;
    for (uint64_t i = 0; ok && i < hd->nzones; i++) {
        if (z >= zn + zl || i >= HK_MAX_ZONES) {
            ok = check(r, false);
            break;
        }
        if (i < e->nzones) {
            if (strcmp(hk_tz_name(e->zones[i]), z) != 0)
                ok = check(r, false);
        } else {
            struct hk_tz *tz;
            if (hk_tz_load(z, &tz, err) != 0) {
                r->bad = "a time zone of the file is unknown here";
                ok = false;
            } else {
                e->zones[e->nzones++] = tz;
            }
        }
        z += strlen(z) + 1;
    }
    free(zn);
    if (!ok || !check(r, e->nzones == hd->nzones && hd->default_zone_idx == e->default_zone))
        return false;
    /* shops, through table.c (their map and per-shop state are its own) */
    int64_t *sid = malloc((hd->nshops ? hd->nshops : 1) * 8);
    uint8_t *sz = malloc(hd->nshops ? hd->nshops : 1);
    ok = sid && sz && hd->nshops <= HK_MAX_SHOPS;
    if (!sid || !sz)
        r->bad = "out of memory";
    if (ok && !rd_exact(r, S_SHOP_IDS, 8, hd->nshops, sid))
        ok = false;
    if (ok && !rd_exact(r, S_SHOP_ZONES, 1, hd->nshops, sz))
        ok = false;
    for (uint64_t i = 0; ok && i < hd->nshops; i++) {
        ok = check(r, sz[i] < e->nzones);
        if (ok && hk_engine_add_shop(e, sid[i], hk_tz_name(e->zones[sz[i]]), err) != 0) {
            r->bad = "a shop of the file cannot be added";
            ok = false;
        }
        ok = ok && check(r, hk_engine_shop_index(e, sid[i]) == i);
    }
    free(sid);
    free(sz);
    if (!ok)
        return false;
    /* products, through table.c in slot order (the dictionaries already hold their names) */
    int64_t *pid = malloc((hd->np ? hd->np : 1) * 8);
    uint32_t *pn = malloc((hd->np ? hd->np : 1) * 4);
    uint16_t *pc = malloc((hd->np ? hd->np : 1) * 2);
    ok = pid && pn && pc;
    if (!ok)
        r->bad = "out of memory";
    ok = ok && rd_exact(r, S_PROD_IDS, 8, hd->np, pid) &&
         rd_exact(r, S_PROD_NAMES, 4, hd->np, pn) && rd_exact(r, S_PROD_CATS, 2, hd->np, pc);
    const struct hk_dict *dp = &e->dicts[HK_DICT_PRODUCT], *dc = &e->dicts[HK_DICT_CATEGORY];
    for (uint64_t i = 0; ok && i < hd->np; i++) {
        ok = check(r, (pn[i] == HK_ENGINE_NONE || pn[i] < dp->n) &&
                          (pc[i] == HK_CAT_NONE || pc[i] < dc->n));
        if (ok && hk_engine_add_product(e, pid[i], pn[i] == HK_ENGINE_NONE ? "" : dp->names[pn[i]],
                                        pc[i] == HK_CAT_NONE ? "" : dc->names[pc[i]], err) != 0) {
            r->bad = "a product of the file cannot be added";
            ok = false;
        }
        ok = ok && check(r, e->np == i + 1 && e->dicts[HK_DICT_PRODUCT].n == dp->n &&
                                e->dicts[HK_DICT_CATEGORY].n == dc->n);
    }
    free(pid);
    free(pn);
    free(pc);
    if (!ok)
        return false;
    /* manual tags, by name */
    size_t words = (e->nc + 63) / 64;
    uint64_t *bits = malloc((words ? words : 1) * 8);
    if (!bits)
        return r->bad = "out of memory", false;
    for (uint64_t i = 0; ok && i < hd->ntags; i++) {
        uint64_t nl;
        char name[1024];
        ok = rd_section(r, S_TAG_NAME, 1, &nl) && check(r, nl > 0 && nl < sizeof name) &&
             rd_bytes(r, name, (size_t)nl);
        if (!ok)
            break;
        name[nl] = '\0';
        ok = rd_exact(r, S_TAG_BITS, 8, words, bits);
        if (ok && hk_engine_tag_assign(e, name, bits, words, NULL, err) != 0) {
            r->bad = "a tag of the file cannot be set";
            ok = false;
        }
    }
    free(bits);
    return ok;
}

/* The dictionaries and the customer map as read must answer every look-up (they were written
 * as slot arrays: a different hash function in this build would break them). */
static bool check_lookups(struct rd *r, const struct hk_engine *e)
{
    for (int k = 0; k < HK_DICT_COUNT_; k++) {
        if (!dict_saved(k))
            continue;
        const struct hk_dict *d = &e->dicts[k];
        for (uint32_t i = 0; i < d->n; i++)
            if (!check(r,
                       hk_engine_dict_find(e, (enum hk_dict_kind)k, d->names[i], d->lens[i]) == i))
                return false;
    }
    for (size_t i = 0; i < e->nc; i++)
        if (!check(r, hk_engine_row_of(e, e->c_id[i]) == (int64_t)i))
            return false;
    return true;
}

/* Opens path and reads and checks its header: the fd (>= 0) or a negative error. */
static int open_header(const char *path, struct hk_snap_header *hd, struct stat *st,
                       struct hk_engine_snapshot_info *info, struct hk_err *err)
{
    memset(info, 0, sizeof(*info));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT
                   ? hk_err_set(err, HK_E(NOTFOUND), "no snapshot at %s", path)
                   : hk_err_set(err, HK_E(IO), "cannot open %s: %s", path, strerror(errno));
    const char *why = NULL;
    if (fstat(fd, st) != 0)
        why = "cannot read the file's status";
    else if (!S_ISREG(st->st_mode))
        why = "not a regular file";
    else if ((uint64_t)st->st_size < sizeof *hd + 8)
        why = "the file is truncated";
    else if (!rd_fill(fd, hd, sizeof *hd))
        why = "the file is truncated";
    else if (memcmp(hd->magic, HK_SNAP_MAGIC, 8) != 0)
        why = "not an engine snapshot";
    else if (hd->byte_order != HK_SNAP_BOM || hd->word_size != sizeof(size_t))
        why = "written on a machine with another byte order or word size";
    else if (hd->version != HK_SNAP_VERSION || hd->header_size != sizeof *hd)
        why = "another snapshot format version";
    else if (hd->layout != layout_hash())
        why = "written by a build with other engine columns";
    if (why) {
        close(fd);
        return hk_err_set(err, HK_E(INVAL), "%s", why);
    }
    info->cursor = hd->cursor;
    info->anchor_id = hd->anchor_id;
    info->anchor_at = hd->anchor_at;
    info->anchor_customer = hd->anchor_customer;
    info->written_at = hd->written_at;
    hd->store_id[sizeof hd->store_id - 1] = '\0';
    hd->default_zone[sizeof hd->default_zone - 1] = '\0';
    memcpy(info->store_id, hd->store_id, sizeof info->store_id);
    memcpy(info->default_zone, hd->default_zone, sizeof info->default_zone);
    info->bytes = (uint64_t)st->st_size;
    return fd;
}

int hk_engine_snapshot_peek(const char *path, struct hk_engine_snapshot_info *info,
                            struct hk_err *err)
{
    struct hk_snap_header hd;
    struct stat st;
    int fd = open_header(path, &hd, &st, info, err);
    if (fd < 0)
        return fd;
    close(fd);
    return 0;
}

int hk_engine_snapshot_read(const char *path, const struct hk_engine_opts *opts,
                            struct hk_engine_snapshot_info *info, struct hk_engine **out,
                            struct hk_err *err)
{
    struct stat st;
    struct hk_snap_header hd;
    int fd = open_header(path, &hd, &st, info, err);
    if (fd < 0)
        return fd;
    const char *want_zone = opts && opts->default_timezone ? opts->default_timezone : HK_TZ_DEFAULT;
    if (strcmp(want_zone, hd.default_zone) != 0) {
        close(fd);
        return hk_err_set(err, HK_E(INVAL), "the default time zone changed (%s, now %s)",
                          hd.default_zone, want_zone);
    }
    if (hd.nc >= UINT32_MAX || hd.no >= UINT32_MAX || hd.nl >= UINT32_MAX || hd.ne >= UINT32_MAX ||
        hd.np >= UINT32_MAX || hd.nzones > HK_MAX_ZONES || hd.nc * 8 > (uint64_t)st.st_size ||
        hd.no > (uint64_t)st.st_size || hd.nl > (uint64_t)st.st_size ||
        hd.ne > (uint64_t)st.st_size) {
        close(fd);
        return hk_err_set(err, HK_E(INVAL), "the file's counts are inconsistent");
    }

    struct hk_engine *e = NULL;
    int rc = hk_engine_new(opts, &e, err);
    struct rd *r = rc ? NULL : malloc(sizeof(*r));
    XXH3_state_t *h = XXH3_createState();
    if (rc || !r || !h) {
        close(fd);
        free(r);
        XXH3_freeState(h);
        hk_engine_free(e);
        return rc ? rc : hk_err_set(err, HK_E(NOMEM), "out of memory reading the snapshot");
    }
    memset(r, 0, offsetof(struct rd, buf));
    r->fd = fd;
    r->h = h;
    XXH3_64bits_reset(h);
    XXH3_64bits_update(h, &hd, sizeof hd);
    r->left = (uint64_t)st.st_size - sizeof hd - 8;
    struct hk_err derr;
    hk_err_clear(&derr);
    bool ok = read_columns(r, e, &hd) && read_rest(r, e, &hd, &derr);
    uint64_t sum = 0;
    if (ok && r->left != 0)
        r->bad = "the file has trailing bytes";
    else if (ok) {
        /* the trailer: whatever is still buffered, else the file */
        size_t inbuf = r->len - r->pos;
        if (inbuf >= sizeof sum)
            memcpy(&sum, r->buf + r->pos, sizeof sum);
        else {
            memcpy(&sum, r->buf + r->pos, inbuf);
            if (!rd_fill(r->fd, (char *)&sum + inbuf, sizeof sum - inbuf))
                r->bad = "the file is truncated";
        }
        if (!r->bad && sum != XXH3_64bits_digest(h))
            r->bad = "checksum mismatch";
    }
    if (!r->bad && check_ranges(r, e))
        check_lookups(r, e);
    const char *bad = r->bad;
    close(fd);
    free(r);
    XXH3_freeState(h);
    if (bad) {
        hk_engine_free(e);
        return hk_err_set(err, HK_E(INVAL), "%s%s%s", bad, derr.msg[0] ? ": " : "", derr.msg);
    }
    *out = e;
    return 0;
}
