/*
 * log.c — key=value log lines with a redaction safety net (see log.h).
 *
 * A line is built on the stack in three steps:
 *   1. "ts=… level=… event=… [req=…] k=v …" into an 8 KiB scratch buffer. Values with spaces,
 *      quotes, '=', backslashes or control characters are double-quoted; '"', '\\', LF, CR and
 *      TAB are escaped, other control characters become '?'. If the scratch buffer fills up,
 *      the text is cut and the cut backs off over any trailing word characters, so a phone
 *      number or token is never left half-written where the redaction could no longer see it.
 *   2. hk_log_redact over the whole line.
 *   3. The line is bounded to HK_LOG_LINE_MAX bytes (cut on a UTF-8 boundary, "…" appended) and
 *      written with a single write(2), so lines from several threads never interleave.
 *
 * Redaction (in place, never growing). Matches, left to right:
 *   - e-mail addresses: local@domain.tld (tld of 2+ letters);
 *   - mainland mobile numbers: 1[3-9] and 9 more digits, optionally prefixed by +86, 86 or 0086
 *     (with an optional space or dash after the prefix), written together or as 3-4-4 groups
 *     separated by one kind of space or dash, and not part of a longer run of digits (order
 *     numbers such as 245600000000009335 stay);
 *   - huike tokens: "hk_" followed by 20 or more URL-safe characters;
 *   - any other run of 40 or more URL-safe characters mixing letters and digits (session ids,
 *     bearer secrets without the prefix; shorter ids such as 16-hex request ids and UUIDs stay).
 * A match becomes "[redacted]"; a match shorter than that marker (a short e-mail address such
 * as a@qq.com) becomes as many '*', which keeps the promise never to grow the line.
 *
 * Threading: the logger is read-only after hk_log_init; every call works on its own stack
 * buffer; the timestamp uses clock_gettime (log times are not logic, so not the hk_clock).
 */
#include "core/log.h"
#include "core/err.h"
#include "core/tz.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HK_LOG_LINE_MAX 4096 /* bytes written per line, newline included */
#define BUILD_MAX       8192 /* scratch space before redaction */

static const char REDACTED[] = "[redacted]";
static const char ELLIPSIS[] = "\xE2\x80\xA6"; /* … */

/* ---- redaction ---- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_urlsafe(char c)
{
    return is_digit(c) || is_alpha(c) || c == '_' || c == '-';
}

static bool is_email_local(char c)
{
    return is_digit(c) || is_alpha(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static bool is_domain(char c)
{
    return is_digit(c) || is_alpha(c) || c == '-' || c == '.';
}

static size_t digit_run(const char *s, size_t i, size_t n)
{
    size_t k = i;
    while (k < n && is_digit(s[k]))
        k++;
    return k - i;
}

/* A mobile number without prefix at s[j]; returns its end or 0. */
static size_t phone_core(const char *s, size_t j, size_t n)
{
    if (j + 1 >= n || s[j] != '1' || s[j + 1] < '3' || s[j + 1] > '9')
        return 0;
    size_t run = digit_run(s, j, n);
    if (run == 11)
        return j + 11;
    if (run != 3 || j + 3 >= n || (s[j + 3] != ' ' && s[j + 3] != '-'))
        return 0;
    char sep = s[j + 3];
    size_t k = j + 4;
    if (digit_run(s, k, n) != 4 || k + 4 >= n || s[k + 4] != sep)
        return 0;
    k += 5;
    if (digit_run(s, k, n) != 4)
        return 0;
    return k + 4;
}

/* A mobile number, with or without a country prefix, starting at s[i]; returns its end or 0. */
static size_t phone_at(const char *s, size_t i, size_t n)
{
    static const char *const prefixes[] = {"+86", "0086", "86"};
    for (size_t p = 0; p < sizeof(prefixes) / sizeof(prefixes[0]); p++) {
        size_t plen = strlen(prefixes[p]);
        if (n - i < plen || memcmp(s + i, prefixes[p], plen) != 0)
            continue;
        size_t j = i + plen;
        size_t end = phone_core(s, j, n);
        if (!end && j < n && (s[j] == ' ' || s[j] == '-'))
            end = phone_core(s, j + 1, n);
        if (end)
            return end;
    }
    return s[i] == '+' ? 0 : phone_core(s, i, n);
}

/* An e-mail address around the '@' at s[at], not reaching left of floor: [*start, end). */
static size_t email_at(const char *s, size_t at, size_t n, size_t floor, size_t *start)
{
    size_t a = at;
    while (a > floor && is_email_local(s[a - 1]))
        a--;
    if (a == at)
        return 0;
    size_t b = at + 1;
    while (b < n && is_domain(s[b]))
        b++;
    while (b > at + 1 && (s[b - 1] == '.' || s[b - 1] == '-'))
        b--;
    /* The domain needs a dot, no empty label at its start, and a final label of 2+ letters. */
    if (b <= at + 1 || s[at + 1] == '.' || s[at + 1] == '-')
        return 0;
    size_t last_dot = 0;
    for (size_t k = at + 1; k < b; k++)
        if (s[k] == '.')
            last_dot = k;
    if (!last_dot || b - last_dot - 1 < 2)
        return 0;
    for (size_t k = last_dot + 1; k < b; k++)
        if (!is_alpha(s[k]))
            return 0;
    *start = a;
    return b;
}

/* A token starting at s[i] (i is at a run boundary when at_boundary); returns its end or 0. */
static size_t token_at(const char *s, size_t i, size_t n, bool at_boundary)
{
    if (n - i >= 3 && memcmp(s + i, "hk_", 3) == 0) {
        size_t k = i + 3;
        while (k < n && is_urlsafe(s[k]))
            k++;
        if (k - i - 3 >= 20)
            return k;
    }
    if (!at_boundary || !is_urlsafe(s[i]))
        return 0;
    size_t k = i;
    bool letter = false, digit = false;
    while (k < n && is_urlsafe(s[k])) {
        letter |= is_alpha(s[k]);
        digit |= is_digit(s[k]);
        k++;
    }
    return k - i >= 40 && letter && digit ? k : 0;
}

struct redactor {
    char *s;
    size_t w;   /* bytes of output written at s[0..w) */
    size_t seg; /* start of the input not yet copied; w <= seg */
};

/* Copies the pending input before start, then the marker for [start, end). */
static void emit(struct redactor *r, size_t start, size_t end)
{
    size_t keep = start - r->seg;
    memmove(r->s + r->w, r->s + r->seg, keep);
    r->w += keep;
    size_t mlen = end - start;
    if (mlen >= sizeof(REDACTED) - 1) {
        memcpy(r->s + r->w, REDACTED, sizeof(REDACTED) - 1);
        r->w += sizeof(REDACTED) - 1;
    } else {
        memset(r->s + r->w, '*', mlen);
        r->w += mlen;
    }
    r->seg = end;
}

static size_t finish(struct redactor *r, size_t n)
{
    size_t keep = n - r->seg;
    memmove(r->s + r->w, r->s + r->seg, keep);
    r->w += keep;
    r->s[r->w] = '\0';
    return r->w;
}

static size_t redact_emails(char *s, size_t n)
{
    struct redactor r = {s, 0, 0};
    for (size_t i = 0; i < n; i++) {
        size_t start, end;
        if (s[i] == '@' && (end = email_at(s, i, n, r.seg, &start)) != 0) {
            emit(&r, start, end);
            i = end - 1;
        }
    }
    return finish(&r, n);
}

static size_t redact_numbers_and_tokens(char *s, size_t n)
{
    struct redactor r = {s, 0, 0};
    for (size_t i = 0; i < n; i++) {
        /* Input before seg may already be overwritten: treat seg as a boundary. */
        char prev = i > r.seg ? s[i - 1] : (char)'\0';
        size_t end = token_at(s, i, n, !is_urlsafe(prev));
        if (!end && (s[i] == '+' || is_digit(s[i])) && !is_digit(prev))
            end = phone_at(s, i, n);
        if (end) {
            emit(&r, i, end);
            i = end - 1;
        }
    }
    return finish(&r, n);
}

void hk_log_redact(char *line)
{
    size_t n = strlen(line);
    n = redact_emails(line, n);
    redact_numbers_and_tokens(line, n);
}

/* ---- line building ---- */

struct line {
    char buf[BUILD_MAX];
    size_t len;
    bool truncated;
};

static void put(struct line *l, const char *s, size_t n)
{
    size_t room = sizeof(l->buf) - 1 - l->len;
    if (n > room) {
        n = room;
        l->truncated = true;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void puts_(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

static void put_key(struct line *l, const char *k)
{
    for (; *k; k++) {
        char c = *k;
        if (!(is_urlsafe(c) || c == '.'))
            c = '_';
        put(l, &c, 1);
    }
    put(l, "=", 1);
}

static bool needs_quotes(const char *v)
{
    if (!*v)
        return true;
    for (; *v; v++) {
        unsigned char c = (unsigned char)*v;
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f)
            return true;
    }
    return false;
}

static void put_value(struct line *l, const char *v)
{
    if (!v) {
        put(l, "-", 1);
        return;
    }
    if (!needs_quotes(v)) {
        puts_(l, v);
        return;
    }
    put(l, "\"", 1);
    for (; *v; v++) {
        unsigned char c = (unsigned char)*v;
        switch (c) {
        case '"':
            put(l, "\\\"", 2);
            break;
        case '\\':
            put(l, "\\\\", 2);
            break;
        case '\n':
            put(l, "\\n", 2);
            break;
        case '\r':
            put(l, "\\r", 2);
            break;
        case '\t':
            put(l, "\\t", 2);
            break;
        default:
            put(l, c < ' ' || c == 0x7f ? "?" : (const char *)v, 1);
        }
    }
    put(l, "\"", 1);
}

static void put_timestamp(struct line *l)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char buf[40];
    size_t n = hk_time_format_utc((int64_t)ts.tv_sec, buf, sizeof(buf));
    if (n > 0 && buf[n - 1] == 'Z') {
        char ms[8];
        ms[0] = '.';
        long v = ts.tv_nsec / 1000000;
        ms[1] = (char)('0' + v / 100);
        ms[2] = (char)('0' + v / 10 % 10);
        ms[3] = (char)('0' + v % 10);
        ms[4] = 'Z';
        put(l, "ts=", 3);
        put(l, buf, n - 1);
        put(l, ms, 5);
    }
}

static const char *level_name(enum hk_log_level level)
{
    switch (level) {
    case HK_LOG_DEBUG:
        return "debug";
    case HK_LOG_INFO:
        return "info";
    case HK_LOG_WARN:
        return "warn";
    case HK_LOG_ERROR:
        return "error";
    default:
        return "off";
    }
}

void hk_log_init(struct hk_log *log, int fd, enum hk_log_level level)
{
    log->fd = fd;
    log->level = level;
}

int hk_log_level_parse(const char *s, enum hk_log_level *out)
{
    static const struct {
        const char *name;
        enum hk_log_level level;
    } names[] = {{"debug", HK_LOG_DEBUG},  {"info", HK_LOG_INFO},   {"warn", HK_LOG_WARN},
                 {"warning", HK_LOG_WARN}, {"error", HK_LOG_ERROR}, {"off", HK_LOG_OFF}};
    if (!s)
        return HK_E(INVAL);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return HK_E(INVAL);
}

/* Cuts l back to at most max bytes on a UTF-8 character boundary. */
static void cut_utf8(struct line *l, size_t max)
{
    if (l->len <= max)
        return;
    l->len = max;
    while (l->len > 0 && ((unsigned char)l->buf[l->len] & 0xC0) == 0x80)
        l->len--;
    l->truncated = true;
}

static void write_all_once(int fd, const char *buf, size_t len)
{
    ssize_t r;
    do {
        r = write(fd, buf, len);
    } while (r < 0 && errno == EINTR);
    (void)r; /* a logger has nowhere to report its own failure */
}

void hk_log_kv(struct hk_log *log, enum hk_log_level level, const char *event, const char *req_id,
               ...)
{
    if (!log || log->fd < 0 || level < log->level || level >= HK_LOG_OFF)
        return;
    struct line l;
    l.len = 0;
    l.truncated = false;

    put_timestamp(&l);
    puts_(&l, " level=");
    puts_(&l, level_name(level));
    puts_(&l, " event=");
    put_value(&l, event ? event : "-");
    if (req_id && *req_id) {
        puts_(&l, " req=");
        put_value(&l, req_id);
    }
    va_list ap;
    va_start(ap, req_id);
    for (const char *key; !l.truncated && (key = va_arg(ap, const char *)) != NULL;) {
        const char *value = va_arg(ap, const char *);
        put(&l, " ", 1);
        put_key(&l, key);
        put_value(&l, value);
    }
    va_end(ap);

    if (l.truncated) {
        /* Never leave a fragment of a number or token the redaction cannot recognise. */
        while (l.len > 0 && (is_urlsafe(l.buf[l.len - 1]) || is_email_local(l.buf[l.len - 1]) ||
                             l.buf[l.len - 1] == '@'))
            l.len--;
    }
    l.buf[l.len] = '\0';
    hk_log_redact(l.buf);
    l.len = strlen(l.buf);

    size_t tail = sizeof(ELLIPSIS) - 1 + 1; /* "…" and the newline */
    cut_utf8(&l, HK_LOG_LINE_MAX - tail);
    if (l.truncated) {
        memcpy(l.buf + l.len, ELLIPSIS, sizeof(ELLIPSIS) - 1);
        l.len += sizeof(ELLIPSIS) - 1;
    }
    l.buf[l.len++] = '\n';
    write_all_once(log->fd, l.buf, l.len);
}
