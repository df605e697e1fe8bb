/*
 * tz.c — IANA time zones from TZif files, civil-date arithmetic and time parsing (see tz.h).
 *
 * Design
 *   A zone is read by our own TZif parser (RFC 8536): versions 1, 2 and 3. For version 2+
 *   files the version 1 block is skipped and the 64-bit block is used, followed by the footer, a
 *   POSIX TZ string ("EST5EDT,M3.2.0,M11.1.0") that gives the rule for instants after the last
 *   transition in the table. The footer parser accepts the version 3 extensions (rule times from
 *   -167 to 167 hours, as in "<-02>2<-01>,M3.5.0/-1,M10.5.0/0"), quoted names, Jn / n / Mm.w.d
 *   dates and "negative DST" zones such as Europe/Dublin. "UTC" and "Etc/UTC" are built in, so
 *   they work even where tzdata is missing.
 *
 *   Instant -> offset: binary search over the transitions; before the first transition the
 *   first time type applies (RFC 8536 §3.2); at or after the last one, the footer rule when
 *   there is one, else the last type.
 *
 *   Local -> instant: every offset the zone can ever have is known (its time types plus the
 *   footer's two), so the instants a local time L can stand for are exactly the t = L - o, for
 *   o in that set, whose own offset is o. Several: an overlap, take the earliest. None: L falls
 *   in a gap; a binary search finds the transition T and the result is L read with the offset
 *   in force before T, i.e. moved forward by the gap (02:30 on a spring-forward night becomes
 *   03:30). hk_tz_day_start returns T itself when midnight is skipped.
 *
 * Invariants
 *   Transition times are strictly increasing and every type index is < the number of types
 *   (checked on load). Instants are clamped to years 1..9999 before civil conversion, so no
 *   input can overflow; civil inputs outside 1..9999 are rejected.
 *
 * Threading
 *   A loaded zone is immutable; all functions are pure. No TZ environment variable, tzset or
 *   localtime is involved, and there is no cache: each hk_tz_load reads the file again.
 */
#include "core/tz.h"
#include "core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HK_ZONEINFO_DIR "/usr/share/zoneinfo"
#define TZ_NAME_MAX     255
#define TZIF_MAX_BYTES  (1 << 20) /* the largest real TZif file is under 4 KiB */
#define RULE_HOURS_MAX  167       /* TZif v3: rule times within ±167 hours */
#define SECS_PER_DAY    86400

/* Instants are clamped to 0001-01-02T00:00:00Z .. 9999-12-30T23:59:59Z before civil conversion,
 * so the local civil time (offset within ±26 h) always has a year in 1..9999. */
#define T_MIN (-62135510400LL)
#define T_MAX (253402214399LL)

struct tz_rule_date {
    char kind;    /* 'J': Jn (1..365, Feb 29 never counted); 'D': n (0..365); 'M': Mm.w.d */
    int n;        /* for J and D */
    int m, w, d;  /* for M: month 1..12, week 1..5 (5 = last), weekday 0..6 (0 = Sunday) */
    int32_t time; /* seconds after local midnight the change happens (may be < 0 or > 24 h) */
};

struct tz_rule {
    int32_t std_off; /* seconds east of UTC */
    int32_t dst_off;
    bool has_dst;
    struct tz_rule_date start, end; /* start of DST (local standard time), end (local DST) */
};

struct hk_tz {
    char *name;
    size_t ntrans;
    int64_t *trans;      /* ntrans transition instants, increasing */
    uint8_t *trans_type; /* ntrans indices into type_off */
    size_t ntypes;
    int32_t *type_off; /* ntypes UTC offsets */
    bool has_rule;
    struct tz_rule rule; /* for instants at or after the last transition */
    size_t noffs;
    int32_t *offs; /* every distinct offset the zone can have (types + rule) */
    int32_t off_min, off_max;
};

/* ---- civil calendar (Howard Hinnant's algorithms, proleptic Gregorian) ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t days_from_civil64(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int32_t hk_days_from_civil(int year, int month, int day)
{
    return (int32_t)days_from_civil64(year, month, day);
}

static void civil_from_days64(int64_t z, int *year, int *month, int *day)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = (int)(y + (m <= 2));
    *month = m;
    *day = d;
}

void hk_civil_from_days(int32_t day, int *year, int *month, int *day_of_month)
{
    civil_from_days64(day, year, month, day_of_month);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

static const char *month_name(int m)
{
    static const char *const names[12] = {"January",   "February", "March",    "April",
                                          "May",       "June",     "July",     "August",
                                          "September", "October",  "November", "December"};
    return names[m - 1];
}

static int64_t clamp_t(int64_t t)
{
    return t < T_MIN ? T_MIN : t > T_MAX ? T_MAX : t;
}

/* ---- POSIX TZ rule (the TZif footer) ---- */

/* The day number (days since the epoch) on which date falls in year y. */
static int64_t rule_day(const struct tz_rule_date *r, int64_t y)
{
    int64_t jan1 = days_from_civil64(y, 1, 1);
    switch (r->kind) {
    case 'J':
        return jan1 + r->n - 1 + (is_leap(y) && r->n >= 60 ? 1 : 0);
    case 'D':
        return jan1 + r->n;
    default: {
        int64_t first = days_from_civil64(y, r->m, 1);
        int wd_first = (int)(((first % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday (4) */
        int mday = 1 + (r->d - wd_first + 7) % 7 + 7 * (r->w - 1);
        while (mday > days_in_month(y, r->m))
            mday -= 7;
        return first + mday - 1;
    }
    }
}

static int32_t rule_offset(const struct tz_rule *r, int64_t t)
{
    if (!r->has_dst)
        return r->std_off;
    int y, m, d;
    t = clamp_t(t);
    civil_from_days64(floor_div(t + r->std_off, SECS_PER_DAY), &y, &m, &d);
    int64_t start = rule_day(&r->start, y) * SECS_PER_DAY + r->start.time - r->std_off;
    int64_t end = rule_day(&r->end, y) * SECS_PER_DAY + r->end.time - r->dst_off;
    bool dst;
    if (start < end)
        dst = start <= t && t < end; /* northern: DST within the year */
    else
        dst = !(end <= t && t < start); /* southern or negative DST: DST spans the new year */
    return dst ? r->dst_off : r->std_off;
}

static const char *parse_tz_name(const char *p)
{
    if (*p == '<') {
        const char *q = ++p;
        while (*q && *q != '>') {
            if (!(*q == '+' || *q == '-' || (*q >= '0' && *q <= '9') || (*q >= 'A' && *q <= 'Z') ||
                  (*q >= 'a' && *q <= 'z')))
                return NULL;
            q++;
        }
        return *q == '>' && q > p ? q + 1 : NULL;
    }
    const char *q = p;
    while ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z'))
        q++;
    return q - p >= 3 ? q : NULL;
}

/* [+-]hh[:mm[:ss]] with hh <= max_hours; returns the end or NULL. */
static const char *parse_hms(const char *p, int max_hours, int32_t *out)
{
    int sign = 1;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (!(*p >= '0' && *p <= '9'))
        return NULL;
    int h = 0, nd = 0;
    while (*p >= '0' && *p <= '9' && nd < 3) {
        h = h * 10 + (*p++ - '0');
        nd++;
    }
    if (h > max_hours || (*p >= '0' && *p <= '9'))
        return NULL;
    int32_t secs = h * 3600;
    for (int part = 0; part < 2 && *p == ':'; part++) {
        if (!(p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9'))
            return NULL;
        int v = (p[1] - '0') * 10 + (p[2] - '0');
        if (v > 59)
            return NULL;
        secs += part == 0 ? v * 60 : v;
        p += 3;
    }
    *out = sign * secs;
    return p;
}

static const char *parse_int_range(const char *p, int lo, int hi, int *out)
{
    if (!(*p >= '0' && *p <= '9'))
        return NULL;
    int v = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p++ - '0');
        if (v > hi)
            return NULL;
    }
    if (v < lo)
        return NULL;
    *out = v;
    return p;
}

static const char *parse_rule_date(const char *p, struct tz_rule_date *r)
{
    if (*p == 'J') {
        r->kind = 'J';
        p = parse_int_range(p + 1, 1, 365, &r->n);
    } else if (*p == 'M') {
        r->kind = 'M';
        p = parse_int_range(p + 1, 1, 12, &r->m);
        if (p && *p == '.')
            p = parse_int_range(p + 1, 1, 5, &r->w);
        else
            p = NULL;
        if (p && *p == '.')
            p = parse_int_range(p + 1, 0, 6, &r->d);
        else
            p = NULL;
    } else {
        r->kind = 'D';
        p = parse_int_range(p, 0, 365, &r->n);
    }
    if (!p)
        return NULL;
    r->time = 2 * 3600;
    if (*p == '/')
        p = parse_hms(p + 1, RULE_HOURS_MAX, &r->time);
    return p;
}

/* Parses a POSIX TZ string as found in TZif footers. Returns 0 or -1. */
static int parse_posix_tz(const char *s, struct tz_rule *r)
{
    int32_t v;
    memset(r, 0, sizeof(*r));
    const char *p = parse_tz_name(s);
    if (!p || !(p = parse_hms(p, 24, &v)))
        return -1;
    r->std_off = -v; /* POSIX offsets count west of Greenwich */
    if (!*p)
        return 0;
    if (!(p = parse_tz_name(p)))
        return -1;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*p && *p != ',') {
        if (!(p = parse_hms(p, 24, &v)))
            return -1;
        r->dst_off = -v;
    }
    if (!*p) {
        /* No rule given: POSIX leaves it to the implementation; tzcode uses the US rule. */
        r->start = (struct tz_rule_date){'M', 0, 3, 2, 0, 7200};
        r->end = (struct tz_rule_date){'M', 0, 11, 1, 0, 7200};
        return 0;
    }
    if (*p != ',' || !(p = parse_rule_date(p + 1, &r->start)))
        return -1;
    if (*p != ',' || !(p = parse_rule_date(p + 1, &r->end)))
        return -1;
    return *p ? -1 : 0;
}

/* ---- TZif ---- */

struct tzif_header {
    char version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static int read_header(const unsigned char *p, size_t n, struct tzif_header *h)
{
    if (n < 44 || memcmp(p, "TZif", 4) != 0)
        return -1;
    h->version = (char)p[4];
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    /* Bounds keep the size arithmetic below far from overflow. */
    if (h->typecnt == 0 || h->typecnt > 256 || h->timecnt > TZIF_MAX_BYTES ||
        h->leapcnt > TZIF_MAX_BYTES || h->charcnt > TZIF_MAX_BYTES ||
        (h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
        (h->isstdcnt != 0 && h->isstdcnt != h->typecnt))
        return -1;
    return 0;
}

static size_t block_size(const struct tzif_header *h, size_t tsize)
{
    return (size_t)h->timecnt * (tsize + 1) + (size_t)h->typecnt * 6 + h->charcnt +
           (size_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

static void tz_release(struct hk_tz *tz)
{
    free(tz->name);
    free(tz->trans);
    free(tz->trans_type);
    free(tz->type_off);
    free(tz->offs);
    free(tz);
}

static void add_offset(struct hk_tz *tz, int32_t off)
{
    for (size_t i = 0; i < tz->noffs; i++)
        if (tz->offs[i] == off)
            return;
    tz->offs[tz->noffs++] = off;
    if (tz->noffs == 1 || off < tz->off_min)
        tz->off_min = off;
    if (tz->noffs == 1 || off > tz->off_max)
        tz->off_max = off;
}

static int tzif_fail(struct hk_err *err, const char *name, const char *why)
{
    return hk_err_set(err, HK_E(INVAL), "time zone %s: the zone file is not valid TZif (%s)", name,
                      why);
}

int hk_tz_parse_tzif(const char *name, const unsigned char *data, size_t len, struct hk_tz **out,
                     struct hk_err *err)
{
    struct tzif_header h;
    const unsigned char *p = data, *end = data + len;
    size_t tsize = 4;

    if (read_header(p, len, &h) != 0)
        return tzif_fail(err, name, "bad header");
    if (h.version >= '2') {
        size_t skip = 44 + block_size(&h, 4);
        if (skip > len || read_header(p + skip, len - skip, &h) != 0)
            return tzif_fail(err, name, "bad version 2 header");
        p += skip;
        tsize = 8;
    }
    if (h.leapcnt != 0)
        return tzif_fail(err, name, "leap-second zones are not supported");
    p += 44;
    if (block_size(&h, tsize) > (size_t)(end - p))
        return tzif_fail(err, name, "truncated");

    struct hk_tz *tz = calloc(1, sizeof(*tz));
    if (!tz)
        return hk_err_set(err, HK_E(NOMEM), "out of memory loading time zone %s", name);
    tz->name = malloc(strlen(name) + 1);
    tz->ntrans = h.timecnt;
    tz->ntypes = h.typecnt;
    tz->trans = malloc(sizeof(int64_t) * (h.timecnt ? h.timecnt : 1));
    tz->trans_type = malloc(h.timecnt ? h.timecnt : 1);
    tz->type_off = malloc(sizeof(int32_t) * h.typecnt);
    tz->offs = malloc(sizeof(int32_t) * (h.typecnt + 2));
    if (!tz->name || !tz->trans || !tz->trans_type || !tz->type_off || !tz->offs) {
        tz_release(tz);
        return hk_err_set(err, HK_E(NOMEM), "out of memory loading time zone %s", name);
    }
    memcpy(tz->name, name, strlen(name) + 1);

    const char *why = NULL;
    for (size_t i = 0; i < h.timecnt; i++, p += tsize) {
        tz->trans[i] = tsize == 8 ? be64(p) : (int64_t)(int32_t)be32(p);
        if (i > 0 && tz->trans[i] <= tz->trans[i - 1])
            why = "transitions out of order";
    }
    for (size_t i = 0; i < h.timecnt; i++, p++) {
        tz->trans_type[i] = *p;
        if (*p >= h.typecnt)
            why = "transition to an unknown type";
    }
    for (size_t i = 0; i < h.typecnt; i++, p += 6) {
        int32_t off = (int32_t)be32(p);
        if (off < -89999 || off > 93599)
            why = "UTC offset out of range";
        tz->type_off[i] = off;
        add_offset(tz, off);
    }
    p += h.charcnt + (size_t)h.leapcnt * (tsize + 4) + h.isstdcnt + h.isutcnt;

    if (!why && tsize == 8) {
        /* Footer: "\n" TZ-string "\n". An empty string means no rule. */
        if (p >= end || *p != '\n') {
            why = "missing footer";
        } else {
            const unsigned char *nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
            size_t flen = nl ? (size_t)(nl - p - 1) : 0;
            char footer[128];
            if (!nl || flen >= sizeof(footer)) {
                why = "bad footer";
            } else if (flen > 0) {
                memcpy(footer, p + 1, flen);
                footer[flen] = '\0';
                if (parse_posix_tz(footer, &tz->rule) != 0) {
                    why = "unsupported footer rule";
                } else {
                    tz->has_rule = true;
                    add_offset(tz, tz->rule.std_off);
                    if (tz->rule.has_dst)
                        add_offset(tz, tz->rule.dst_off);
                }
            }
        }
    }
    if (why) {
        tz_release(tz);
        return tzif_fail(err, name, why);
    }
    *out = tz;
    return 0;
}

/* ---- loading ---- */

static bool valid_zone_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > TZ_NAME_MAX || name[0] == '/' || name[n - 1] == '/' || strstr(name, "..") ||
        strstr(name, "//"))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '/' || c == '_' || c == '-' || c == '+' || c == '.';
        if (!ok)
            return false;
        if (c == '.' && (i == 0 || name[i - 1] == '/'))
            return false; /* no hidden files, no "./" */
    }
    return true;
}

static int load_utc(const char *name, struct hk_tz **out, struct hk_err *err)
{
    /* A minimal version 1 file: no transitions, one type of offset 0 named "UTC". */
    unsigned char f[44 + 6 + 4] = {'T', 'Z', 'i', 'f', 0};
    f[39] = 1; /* typecnt */
    f[43] = 4; /* charcnt */
    memcpy(f + 50, "UTC", 4);
    return hk_tz_parse_tzif(name, f, sizeof(f), out, err);
}

static int read_zone_file(const char *path, unsigned char **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    unsigned char *buf = NULL;
    if (fstat(fd, &st) != 0)
        goto fail;
    if (!S_ISREG(st.st_mode) || st.st_size > TZIF_MAX_BYTES) {
        errno = S_ISREG(st.st_mode) ? EFBIG : ENOENT; /* a directory is not a zone */
        goto fail;
    }
    size_t n = (size_t)st.st_size, got = 0;
    buf = malloc(n ? n : 1);
    if (!buf)
        goto fail;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            goto fail;
        got += (size_t)r;
    }
    close(fd);
    *data = buf;
    *len = n;
    return 0;
fail : {
    int saved = errno;
    free(buf);
    close(fd);
    errno = saved;
    return -1;
}
}

int hk_tz_load(const char *name, struct hk_tz **out, struct hk_err *err)
{
    if (!name || !valid_zone_name(name))
        return hk_err_set(err, HK_E(INVAL),
                          "'%s' is not a time zone name (expected an IANA name such as "
                          "Asia/Shanghai)",
                          name ? name : "");
    if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0)
        return load_utc(name, out, err);

    char path[sizeof(HK_ZONEINFO_DIR) + TZ_NAME_MAX + 2];
    snprintf(path, sizeof(path), "%s/%s", HK_ZONEINFO_DIR, name);
    unsigned char *data;
    size_t len;
    if (read_zone_file(path, &data, &len) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return hk_err_set(err, HK_E(INVAL),
                              "'%s' is not a known time zone (expected an IANA name such as "
                              "Asia/Shanghai)",
                              name);
        return hk_err_set(err, HK_E(INVAL), "time zone %s: cannot read %s: %s", name, path,
                          strerror(errno));
    }
    int rc = hk_tz_parse_tzif(name, data, len, out, err);
    free(data);
    return rc;
}

void hk_tz_free(struct hk_tz *tz)
{
    if (tz)
        tz_release(tz);
}

const char *hk_tz_name(const struct hk_tz *tz)
{
    return tz ? tz->name : "UTC";
}

/* ---- conversions ---- */

int32_t hk_tz_offset_at(const struct hk_tz *tz, int64_t t)
{
    if (!tz)
        return 0;
    if (tz->ntrans == 0)
        return tz->has_rule ? rule_offset(&tz->rule, t) : tz->type_off[0];
    if (t < tz->trans[0])
        return tz->type_off[0];
    if (t >= tz->trans[tz->ntrans - 1]) {
        if (tz->has_rule)
            return rule_offset(&tz->rule, t);
        return tz->type_off[tz->trans_type[tz->ntrans - 1]];
    }
    /* Last transition <= t: trans[lo] <= t < trans[hi]. */
    size_t lo = 0, hi = tz->ntrans - 1;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->type_off[tz->trans_type[lo]];
}

void hk_tz_to_local(const struct hk_tz *tz, int64_t t, struct hk_civil *out)
{
    t = clamp_t(t);
    int64_t l = t + hk_tz_offset_at(tz, t);
    int64_t days = floor_div(l, SECS_PER_DAY);
    int64_t secs = l - days * SECS_PER_DAY;
    civil_from_days64(days, &out->year, &out->month, &out->day);
    out->hour = (int)(secs / 3600);
    out->minute = (int)(secs / 60 % 60);
    out->second = (int)(secs % 60);
}

/*
 * Local seconds (civil time read as if UTC) -> instant. *gap_start is set to the transition
 * instant when local falls in a gap (else to the result).
 */
static int64_t local_to_instant(const struct hk_tz *tz, int64_t local, int64_t *gap_start)
{
    if (!tz) {
        *gap_start = local;
        return local;
    }
    bool found = false;
    int64_t best = 0;
    for (size_t i = 0; i < tz->noffs; i++) {
        int64_t t = local - tz->offs[i];
        if (hk_tz_offset_at(tz, t) == tz->offs[i] && (!found || t < best)) {
            best = t;
            found = true;
        }
    }
    if (found) {
        *gap_start = best;
        return best;
    }
    /* In a gap: f(t) = t + offset(t) - local is < 0 at lo and > 0 at hi, never 0. */
    int64_t lo = local - tz->off_max - 1, hi = local - tz->off_min + 1;
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (mid + hk_tz_offset_at(tz, mid) < local)
            lo = mid;
        else
            hi = mid;
    }
    *gap_start = hi;
    return local - hk_tz_offset_at(tz, lo);
}

static int check_civil(const struct hk_civil *c, const char *quoted, size_t qlen,
                       struct hk_err *err)
{
    char what[80];
    if (quoted)
        snprintf(what, sizeof(what), "'%.*s'", (int)(qlen > 64 ? 64 : qlen), quoted);
    else
        snprintf(what, sizeof(what), "%04d-%02d-%02d", c->year, c->month, c->day);
    if (c->year < 1 || c->year > 9999)
        return hk_err_set(err, HK_E(INVAL), "%s is not a date: year %d is out of range (1-9999)",
                          what, c->year);
    if (c->month < 1 || c->month > 12)
        return hk_err_set(err, HK_E(INVAL), "%s is not a date: there is no month %d", what,
                          c->month);
    int dim = days_in_month(c->year, c->month);
    if (c->day < 1 || c->day > dim)
        return hk_err_set(err, HK_E(INVAL), "%s is not a date: %s %d has %d days", what,
                          month_name(c->month), c->year, dim);
    if (!quoted)
        snprintf(what, sizeof(what), "%04d-%02d-%02d %02d:%02d:%02d", c->year, c->month, c->day,
                 c->hour, c->minute, c->second);
    if (c->hour < 0 || c->hour > 23)
        return hk_err_set(err, HK_E(INVAL), "%s is not a time: hour %d is out of range (0-23)",
                          what, c->hour);
    if (c->minute < 0 || c->minute > 59)
        return hk_err_set(err, HK_E(INVAL), "%s is not a time: minute %d is out of range (0-59)",
                          what, c->minute);
    if (c->second < 0 || c->second > 59)
        return hk_err_set(err, HK_E(INVAL), "%s is not a time: second %d is out of range (0-59)",
                          what, c->second);
    return 0;
}

static int64_t civil_local_seconds(const struct hk_civil *c)
{
    return days_from_civil64(c->year, c->month, c->day) * SECS_PER_DAY + c->hour * 3600 +
           c->minute * 60 + c->second;
}

int hk_tz_from_local(const struct hk_tz *tz, const struct hk_civil *c, int64_t *out,
                     struct hk_err *err)
{
    int rc = check_civil(c, NULL, 0, err);
    if (rc)
        return rc;
    int64_t gap_start;
    *out = local_to_instant(tz, civil_local_seconds(c), &gap_start);
    return 0;
}

int32_t hk_tz_local_day(const struct hk_tz *tz, int64_t t)
{
    t = clamp_t(t);
    return (int32_t)floor_div(t + hk_tz_offset_at(tz, t), SECS_PER_DAY);
}

int64_t hk_tz_day_start(const struct hk_tz *tz, int32_t day)
{
    int64_t gap_start;
    local_to_instant(tz, (int64_t)day * SECS_PER_DAY, &gap_start);
    return gap_start;
}

/* ---- parsing ---- */

struct scan {
    const char *s;
    size_t i, n;
};

static bool at_digit(const struct scan *sc)
{
    return sc->i < sc->n && sc->s[sc->i] >= '0' && sc->s[sc->i] <= '9';
}

/* Reads between min and max digits; returns false when fewer than min are there. */
static bool digits(struct scan *sc, int min, int max, int *out)
{
    int v = 0, k = 0;
    while (k < max && at_digit(sc)) {
        v = v * 10 + (sc->s[sc->i++] - '0');
        k++;
    }
    if (k < min || at_digit(sc))
        return false;
    *out = v;
    return true;
}

/* Exactly two digits, whatever follows ("+0800" is read as 08 then 00). */
static bool two_digits(struct scan *sc, int *out)
{
    if (sc->i + 2 > sc->n || !at_digit(sc) || sc->s[sc->i + 1] < '0' || sc->s[sc->i + 1] > '9')
        return false;
    *out = (sc->s[sc->i] - '0') * 10 + (sc->s[sc->i + 1] - '0');
    sc->i += 2;
    return true;
}

static bool accept(struct scan *sc, char c)
{
    if (sc->i < sc->n && sc->s[sc->i] == c) {
        sc->i++;
        return true;
    }
    return false;
}

static int time_syntax_error(struct hk_err *err, const char *s, size_t len, const char *what)
{
    int q = (int)(len > 64 ? 64 : len);
    return hk_err_set(err, HK_E(INVAL),
                      "'%.*s' is not a time: %s (expected e.g. 2026-03-01, 2026-03-01 08:00:00 "
                      "or 2026-03-01T08:00:00+08:00)",
                      q, s, what);
}

int hk_time_parse(const char *s, size_t len, const struct hk_tz *tz, int64_t *out,
                  struct hk_err *err)
{
    if (!s) {
        s = "";
        len = 0;
    }
    size_t b = 0, e = len;
    while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r' || s[b] == '\n'))
        b++;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r' || s[e - 1] == '\n'))
        e--;
    if (b == e)
        return 1;
    s += b;
    len = e - b;

    struct scan sc = {s, 0, len};
    struct hk_civil c = {0, 0, 0, 0, 0, 0};
    if (!digits(&sc, 4, 4, &c.year))
        return time_syntax_error(err, s, len, "expected a 4-digit year");
    char sep = sc.i < len ? s[sc.i] : 0;
    if (!(sep == '-' || sep == '/') || !accept(&sc, sep))
        return time_syntax_error(err, s, len, "expected '-' or '/' after the year");
    if (!digits(&sc, 1, 2, &c.month))
        return time_syntax_error(err, s, len, "expected a month after the year");
    if (!accept(&sc, sep))
        return time_syntax_error(err, s, len, "expected the same separator after the month");
    if (!digits(&sc, 1, 2, &c.day))
        return time_syntax_error(err, s, len, "expected a day after the month");

    bool has_offset = false;
    int32_t offset = 0;
    if (sc.i < len) {
        if (!(accept(&sc, ' ') || accept(&sc, 'T') || accept(&sc, 't')))
            return time_syntax_error(err, s, len, "expected a space or 'T' after the date");
        if (!digits(&sc, 1, 2, &c.hour))
            return time_syntax_error(err, s, len, "expected an hour after the date");
        if (!accept(&sc, ':') || !digits(&sc, 2, 2, &c.minute))
            return time_syntax_error(err, s, len, "expected ':MM' minutes after the hour");
        if (accept(&sc, ':')) {
            if (!digits(&sc, 2, 2, &c.second))
                return time_syntax_error(err, s, len, "expected 2-digit seconds");
            if (accept(&sc, '.') || accept(&sc, ',')) {
                if (!at_digit(&sc))
                    return time_syntax_error(err, s, len, "expected digits after the decimal mark");
                while (at_digit(&sc))
                    sc.i++; /* fractions of a second are dropped */
            }
        }
        accept(&sc, ' ');
        if (accept(&sc, 'Z') || accept(&sc, 'z')) {
            has_offset = true;
        } else if (sc.i < len && (s[sc.i] == '+' || s[sc.i] == '-')) {
            int sign = s[sc.i++] == '-' ? -1 : 1, oh = 0, om = 0, os = 0;
            if (!two_digits(&sc, &oh))
                return time_syntax_error(err, s, len, "expected 2-digit offset hours");
            bool colon = accept(&sc, ':');
            if ((colon || at_digit(&sc)) && !two_digits(&sc, &om))
                return time_syntax_error(err, s, len, "expected 2-digit offset minutes");
            if (colon && accept(&sc, ':') && !two_digits(&sc, &os))
                return time_syntax_error(err, s, len, "expected 2-digit offset seconds");
            if (oh > 23 || om > 59 || os > 59)
                return time_syntax_error(err, s, len, "the offset is out of range");
            has_offset = true;
            offset = sign * (oh * 3600 + om * 60 + os);
        }
        if (sc.i < len)
            return time_syntax_error(err, s, len, "unexpected text after the time");
    }

    int rc = check_civil(&c, s, len, err);
    if (rc)
        return rc;
    int64_t local = civil_local_seconds(&c), gap_start;
    *out = has_offset ? local - offset : local_to_instant(tz, local, &gap_start);
    return 0;
}

/* ---- formatting ---- */

static size_t clamp_len(int n, size_t size)
{
    if (n < 0 || size == 0)
        return 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}

size_t hk_time_format_iso(const struct hk_tz *tz, int64_t t, char *buf, size_t size)
{
    struct hk_civil c;
    t = clamp_t(t);
    int32_t off = hk_tz_offset_at(tz, t);
    hk_tz_to_local(tz, t, &c);
    int32_t a = off < 0 ? -off : off;
    char secs[8] = "";
    if (a % 60)
        snprintf(secs, sizeof(secs), ":%02d", (int)(a % 60));
    int n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d%s", c.year, c.month,
                     c.day, c.hour, c.minute, c.second, off < 0 ? '-' : '+', (int)(a / 3600),
                     (int)(a / 60 % 60), secs);
    return clamp_len(n, size);
}

size_t hk_time_format_utc(int64_t t, char *buf, size_t size)
{
    struct hk_civil c;
    hk_tz_to_local(NULL, t, &c);
    int n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", c.year, c.month, c.day, c.hour,
                     c.minute, c.second);
    return clamp_len(n, size);
}

size_t hk_time_format_local(const struct hk_tz *tz, int64_t t, char *buf, size_t size)
{
    struct hk_civil c;
    hk_tz_to_local(tz, t, &c);
    int n = snprintf(buf, size, "%04d-%02d-%02d %02d:%02d:%02d", c.year, c.month, c.day, c.hour,
                     c.minute, c.second);
    return clamp_len(n, size);
}
