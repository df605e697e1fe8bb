/*
 * csv.c — streaming CSV tokenizer (see csv.h for what it accepts).
 *
 * Design
 *   Bytes flow file -> [raw: GB18030 only] -> data -> rec:
 *     raw   a 256 KiB block of undecoded GB18030 bytes, converted by iconv(3) into data. A
 *           character cut at the block's end (iconv EINVAL) waits at the front of raw for the
 *           next read; an unconvertible byte (EILSEQ) is replaced by 0xFF, which can never
 *           appear in UTF-8, so the record holding it fails validation and becomes a row error
 *           while the rest of the file goes on.
 *     data  UTF-8 text: 1 MiB block + HK_CSV_MAX_RECORD. `pos` is the start of the next record,
 *           `end` the end of the text; data[end] always holds a '\n' sentinel, so the inner
 *           loops test one lookup table per byte and never a bounds check.
 *     rec   the current record, unquoted, each field NUL-terminated. Writing never outruns
 *           reading (a field's NUL stands where its delimiter was), so rec needs no more room
 *           than the record's raw length + 1 and no bounds checks either. Unquoted text is copied
 *           16 bytes a step (SSE2; 8 elsewhere), which may store up to 15 bytes past a field's
 *           end (overwritten by its NUL and the next field); those stores too stay behind the
 *           bytes just read.
 *   A record is scanned in one pass from `pos`. When the text ends before the record does, the
 *   record is moved to the front of data, the block refilled and the record scanned again from
 *   its start; that happens once per block, so its cost vanishes. Scanning never modifies data.
 *
 * Invariants
 *   pos <= end <= cap; data[end] == '\n'; a record never exceeds HK_CSV_MAX_RECORD bytes unless
 *   it is reported as HK_CSV_TOO_LONG; `line` is the physical line on which data[pos] lies
 *   (1-based), counting CRLF, LF and lone CR each as one line end.
 *
 * Threads: none of this is shared.
 */
#include "ingest/csv.h"
#include "core/err.h"

#include <errno.h>
#include <iconv.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define BLOCK      ((size_t)1 << 20)
#define RAW_BLOCK  ((size_t)256 << 10)
#define SNIFF      ((size_t)64 << 10)
#define BAD_MARKER 0xFF /* stands for bytes iconv could not convert */

struct hk_csv {
    int fd;
    enum hk_csv_encoding enc;
    bool src_eof;  /* read() has returned 0 */
    bool data_eof; /* nothing more will arrive in data */
    iconv_t cd;    /* GB18030 -> UTF-8, or (iconv_t)-1 */

    unsigned char *raw; /* GB18030 only: undecoded bytes raw[raw_off .. raw_off+raw_len) */
    size_t raw_off, raw_len, raw_cap;

    unsigned char *data; /* cap + 1 bytes (sentinel) */
    size_t cap, pos, end;

    char *rec; /* cap + 2 bytes */
    size_t *fstart;
    struct hk_csv_field *fields;
    size_t fcap;

    int64_t line;
    int64_t bytes_read;
    bool resync; /* skip to the end of the current physical line first */
};

/* Bytes that stop the scan of an unquoted field / of a quoted field. */
static const unsigned char U_STOP[256] = {[','] = 1, ['\r'] = 1, ['\n'] = 1, ['\0'] = 1};
static const unsigned char Q_STOP[256] = {['"'] = 1, ['\r'] = 1, ['\n'] = 1, ['\0'] = 1};
static const unsigned char EOL_STOP[256] = {['\r'] = 1, ['\n'] = 1};

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s (n bytes available): >0 valid, 0 invalid, -k when
   the n bytes are a valid but incomplete start of a k-byte sequence. */
static int utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    int k;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0) {
        k = 2;
    } else if (c < 0xF0) {
        k = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlongs */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c < 0xF5) {
        k = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    for (int i = 1; i < k; i++) {
        if ((size_t)i >= n)
            return -k;
        unsigned b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80)
            return 0;
    }
    return k;
}

/* The number of ASCII bytes at the start of s (n bytes). */
static inline size_t ascii_run(const unsigned char *s, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    while (i + 16 <= n) {
        unsigned m =
            (unsigned)_mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(const void *)(s + i)));
        if (m)
            return i + (size_t)__builtin_ctz(m);
        i += 16;
    }
#endif
    while (i + 8 <= n) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080ULL)
            break;
        i += 8;
    }
    while (i < n && s[i] < 0x80)
        i++;
    return i;
}

int hk_utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    for (;;) {
        i += ascii_run(s + i, n - i);
        if (i >= n)
            return 1;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /* Fast path for CJK text, a 4-byte load per character: three-byte characters
           E1..EC / EE..EF 80..BF 80..BF (E0 and ED, whose second byte has a narrower range, go
           the long way). Byte 0 is the lowest of the little-endian word. */
        for (; i + 4 <= n; i += 3) {
            uint32_t w;
            memcpy(&w, s + i, 4);
            if ((w & 0xC0C0F0u) != 0x8080E0u || (w & 0xFFu) == 0xE0u || (w & 0xFFu) == 0xEDu)
                break;
        }
#endif
        /* The same a byte at a time: the last character (3 bytes left) and big-endian builds. */
        while (i + 3 <= n && s[i] >= 0xE1 && s[i] <= 0xEF && s[i] != 0xED &&
               (s[i + 1] & 0xC0) == 0x80 && (s[i + 2] & 0xC0) == 0x80)
            i += 3;
        if (i >= n)
            return 1;
        if (s[i] < 0x80)
            continue;
        int k = utf8_seq(s + i, n - i);
        if (k <= 0)
            return 0;
        i += (size_t)k;
    }
}

size_t hk_utf8_valid_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0;
    for (;;) {
        i += ascii_run(s + i, n - i);
        if (i >= n)
            return n;
        int k = utf8_seq(s + i, n - i);
        if (k < 0)
            return n; /* cut in the middle of a character */
        if (k == 0)
            return i;
        i += (size_t)k;
    }
}

/* ---- reading ---- */

static int read_some(struct hk_csv *c, unsigned char *buf, size_t room, size_t *got,
                     struct hk_err *err)
{
    for (;;) {
        ssize_t n = read(c->fd, buf, room);
        if (n >= 0) {
            *got = (size_t)n;
            if (n == 0)
                c->src_eof = true;
            c->bytes_read += n;
            return 0;
        }
        if (errno != EINTR)
            return hk_err_set(err, HK_E(IO), "cannot read the file: %s", strerror(errno));
    }
}

/* Converts raw into data until data is full or the file is exhausted. */
static int fill_gb(struct hk_csv *c, struct hk_err *err)
{
    bool incomplete = false; /* raw holds only the start of a character */
    while (c->end < c->cap) {
        if (c->raw_len == 0 || incomplete) {
            if (c->src_eof) {
                if (c->raw_len > 0) { /* the file ends in the middle of a character */
                    c->data[c->end++] = BAD_MARKER;
                    c->raw_len = 0;
                }
                c->data_eof = true;
                break;
            }
            memmove(c->raw, c->raw + c->raw_off, c->raw_len);
            c->raw_off = 0;
            size_t got = 0;
            int rc = read_some(c, c->raw + c->raw_len, c->raw_cap - c->raw_len, &got, err);
            if (rc)
                return rc;
            c->raw_len += got;
            incomplete = false;
            continue;
        }
        char *in = (char *)c->raw + c->raw_off, *out = (char *)c->data + c->end;
        size_t inleft = c->raw_len, outleft = c->cap - c->end;
        size_t r = iconv(c->cd, &in, &inleft, &out, &outleft);
        int e = errno;
        c->end = (size_t)((unsigned char *)out - c->data);
        c->raw_off = (size_t)((unsigned char *)in - c->raw);
        c->raw_len = inleft;
        if (r != (size_t)-1)
            continue;
        if (e == E2BIG)
            break;
        if (e == EILSEQ) {
            if (c->end >= c->cap)
                break;
            c->data[c->end++] = BAD_MARKER;
            c->raw_off++;
            c->raw_len--;
        } else if (e == EINVAL) {
            incomplete = true;
        } else {
            return hk_err_set(err, HK_E(IO), "cannot convert the file from GB18030: %s",
                              strerror(e));
        }
    }
    return 0;
}

/* Moves the unread text to the front of data and reads more after it. */
static int refill(struct hk_csv *c, struct hk_err *err)
{
    if (c->pos > 0) {
        memmove(c->data, c->data + c->pos, c->end - c->pos);
        c->end -= c->pos;
        c->pos = 0;
    }
    int rc = 0;
    if (c->enc == HK_CSV_GB18030) {
        rc = fill_gb(c, err);
    } else if (!c->src_eof && c->end < c->cap) {
        size_t got = 0;
        rc = read_some(c, c->data + c->end, c->cap - c->end, &got, err);
        if (rc == 0) {
            c->end += got;
            c->data_eof = c->src_eof;
        }
    } else {
        c->data_eof = c->src_eof;
    }
    c->data[c->end] = '\n';
    return rc;
}

/* ---- open / close ---- */

/* UTF-16: a byte-order mark, or (without one) NUL bytes in every other place, as the ASCII
   commas, digits and line ends of a UTF-16 file have: at least a quarter of the first 4 KiB's
   pairs with a NUL on one side and none on the other. */
static bool looks_utf16(const unsigned char *b, size_t n)
{
    if (n >= 2 && ((b[0] == 0xFF && b[1] == 0xFE) || (b[0] == 0xFE && b[1] == 0xFF)))
        return true;
    size_t m = n < 4096 ? n : 4096, even = 0, odd = 0;
    for (size_t i = 0; i + 1 < m; i += 2) {
        even += b[i] == 0 && b[i + 1] != 0;
        odd += b[i] != 0 && b[i + 1] == 0;
    }
    size_t pairs = m / 2;
    return pairs >= 2 && ((even * 4 >= pairs && odd == 0) || (odd * 4 >= pairs && even == 0));
}

int hk_csv_open(int fd, struct hk_csv **out, struct hk_err *err)
{
    struct hk_csv *c = calloc(1, sizeof(*c));
    if (!c)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    c->fd = fd;
    c->cd = (iconv_t)-1;
    c->line = 1;
    c->cap = BLOCK + HK_CSV_MAX_RECORD;
    c->raw_cap = RAW_BLOCK;
    c->fcap = 64;
    c->data = malloc(c->cap + 1);
    c->rec = malloc(c->cap + 2);
    c->raw = malloc(c->raw_cap);
    c->fstart = malloc(c->fcap * sizeof(*c->fstart));
    c->fields = malloc(c->fcap * sizeof(*c->fields));
    int rc;
    if (!c->data || !c->rec || !c->raw || !c->fstart || !c->fields) {
        rc = hk_err_set(err, HK_E(NOMEM), "out of memory");
        goto fail;
    }

    /* Sniff: read up to 64 KiB (several reads if the source gives less, e.g. a pipe). */
    size_t n = 0;
    while (n < SNIFF && !c->src_eof) {
        size_t got = 0;
        rc = read_some(c, c->raw + n, SNIFF - n, &got, err);
        if (rc)
            goto fail;
        n += got;
    }
    const unsigned char *b = c->raw;
    size_t skip = 0;
    if ((n >= 4 && memcmp(b, "PK\x03\x04", 4) == 0) ||
        (n >= 4 && memcmp(b, "\xD0\xCF\x11\xE0", 4) == 0)) {
        rc = hk_err_set(err, HK_E(INVAL),
                        "this is an Excel workbook: save it as CSV (CSV UTF-8 or the "
                        "marketplace's own CSV) and import that");
        goto fail;
    }
    if (looks_utf16(b, n)) {
        rc = hk_err_set(err, HK_E(INVAL), "UTF-16 text: save as UTF-8 or GBK CSV");
        goto fail;
    }
    if (n >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF) {
        c->enc = HK_CSV_UTF8_BOM;
        skip = 3;
    } else if (c->src_eof ? hk_utf8_valid(b, n) : hk_utf8_valid_prefix(b, n) == n) {
        c->enc = HK_CSV_UTF8;
    } else {
        c->enc = HK_CSV_GB18030;
    }

    if (c->enc == HK_CSV_GB18030) {
        c->cd = iconv_open("UTF-8", "GB18030");
        if (c->cd == (iconv_t)-1) {
            rc = hk_err_set(err, HK_E(INTERNAL), "iconv cannot convert GB18030: %s",
                            strerror(errno));
            goto fail;
        }
        c->raw_off = 0;
        c->raw_len = n;
        rc = fill_gb(c, err);
        if (rc)
            goto fail;
    } else {
        memcpy(c->data, b + skip, n - skip);
        c->end = n - skip;
        c->data_eof = c->src_eof;
        free(c->raw); /* not needed for UTF-8 */
        c->raw = NULL;
        c->raw_cap = 0;
    }
    c->data[c->end] = '\n';
    *out = c;
    return 0;
fail:
    hk_csv_free(c);
    return rc;
}

void hk_csv_free(struct hk_csv *c)
{
    if (!c)
        return;
    if (c->cd != (iconv_t)-1)
        iconv_close(c->cd);
    free(c->raw);
    free(c->data);
    free(c->rec);
    free(c->fstart);
    free(c->fields);
    free(c);
}

enum hk_csv_encoding hk_csv_encoding(const struct hk_csv *c)
{
    return c->enc;
}

const char *hk_csv_encoding_name(enum hk_csv_encoding e)
{
    switch (e) {
    case HK_CSV_UTF8:
        return "UTF-8";
    case HK_CSV_UTF8_BOM:
        return "UTF-8 with BOM";
    case HK_CSV_GB18030:
        return "GB18030";
    }
    return "?";
}

int64_t hk_csv_bytes_done(const struct hk_csv *c)
{
    int64_t pending = (int64_t)(c->enc == HK_CSV_GB18030 ? c->raw_len : c->end - c->pos);
    int64_t done = c->bytes_read - pending;
    return done < 0 ? 0 : done;
}

/* ---- scanning ---- */

enum scan_result { SCAN_DONE, SCAN_MORE, SCAN_UNCLOSED, SCAN_NOMEM };

static int grow_fields(struct hk_csv *c)
{
    size_t n = c->fcap ? c->fcap * 2 : 64;
    size_t *fs = realloc(c->fstart, n * sizeof(*fs));
    if (!fs)
        return -1;
    c->fstart = fs;
    struct hk_csv_field *f = realloc(c->fields, n * sizeof(*f));
    if (!f)
        return -1;
    c->fields = f;
    c->fcap = n;
    return 0;
}

struct scan_out {
    size_t nfields;
    size_t rec_len; /* bytes in rec, NULs included */
    size_t raw_len; /* bytes of data consumed */
    int64_t lines;  /* line ends consumed (the record's own included) */
    bool nul;
};

/* Bytes of w that are 0 have their high bit set (the lowest such byte exactly; higher ones may
   be false positives after a zero byte, which the callers never look at). */
static uint64_t zero_bytes(uint64_t w)
{
    return (w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL;
}

/*
 * Copies unquoted text from *pq to *pw up to the first byte that ends it (U_STOP: , CR LF NUL),
 * sixteen bytes a step (SSE2, every x86-64 has it) or eight (elsewhere) while they lie before e,
 * then byte by byte up to the sentinel at e, and leaves both pointers there. Unquoted cells are
 * most of a file's bytes: the byte loop alone was a third of reading, a memcpy call per cell ~4 %
 * of it, and eight-byte words ~25 instructions a step (callgrind). Each step stores all the
 * bytes it read, the end of the cell and what follows it too: the write position never passes
 * the read position (w - rec <= q - data at pos), and q + step <= e, so that fits in rec.
 */
static void unquoted_copy(const unsigned char **pq, const unsigned char *e, char **pw)
{
    const unsigned char *q = *pq;
    char *w = *pw;
#if defined(__SSE2__)
    const __m128i comma = _mm_set1_epi8(','), cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n'),
                  zero = _mm_setzero_si128();
    while (e - q >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)q);
        _mm_storeu_si128((__m128i *)(void *)w, x);
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, comma), _mm_cmpeq_epi8(x, cr)),
                                   _mm_or_si128(_mm_cmpeq_epi8(x, lf), _mm_cmpeq_epi8(x, zero)));
        unsigned m = (unsigned)_mm_movemask_epi8(hit);
        if (m) {
            size_t k = (size_t)__builtin_ctz(m);
            *pq = q + k;
            *pw = w + k;
            return;
        }
        q += 16;
        w += 16;
    }
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ULL;
    while (e - q >= 8) {
        uint64_t x;
        memcpy(&x, q, 8);
        memcpy(w, &x, 8);
        uint64_t m = zero_bytes(x ^ (ones * ',')) | zero_bytes(x ^ (ones * '\r')) |
                     zero_bytes(x ^ (ones * '\n')) | zero_bytes(x);
        if (m) {
            size_t k = (size_t)__builtin_ctzll(m) >> 3;
            *pq = q + k;
            *pw = w + k;
            return;
        }
        q += 8;
        w += 8;
    }
#endif
    while (!U_STOP[*q])
        *w++ = (char)*q++;
    *pq = q;
    *pw = w;
}

/* Scans one record starting at data[pos]. Does not move pos. */
static enum scan_result scan(struct hk_csv *c, struct scan_out *o)
{
    const unsigned char *const start = c->data + c->pos, *const e = c->data + c->end;
    const unsigned char *p = start;
    char *w = c->rec;
    const bool eof = c->data_eof;
    size_t nf = 0;
    int64_t lines = 0;
    bool nul = false;

    for (;;) {
        if (nf == c->fcap && grow_fields(c))
            return SCAN_NOMEM;
        c->fstart[nf++] = (size_t)(w - c->rec);
        if (*p == '"') { /* never the sentinel, so p < e */
            p++;
            for (;;) {
                const unsigned char *q = p;
                while (!Q_STOP[*q])
                    q++;
                memcpy(w, p, (size_t)(q - p));
                w += q - p;
                p = q;
                if (p == e)
                    return eof ? SCAN_UNCLOSED : SCAN_MORE;
                if (*p == '"') {
                    if (p + 1 == e && !eof)
                        return SCAN_MORE;
                    if (p + 1 < e && p[1] == '"') {
                        *w++ = '"';
                        p += 2;
                        continue;
                    }
                    p++; /* the closing quote */
                    break;
                }
                if (*p == '\0') {
                    nul = true;
                    *w++ = (char)*p++;
                    continue;
                }
                /* a line break inside quotes is data */
                if (*p == '\r') {
                    if (p + 1 == e && !eof)
                        return SCAN_MORE;
                    *w++ = (char)*p++;
                    if (p < e && *p == '\n')
                        *w++ = (char)*p++;
                } else {
                    *w++ = (char)*p++;
                }
                lines++;
            }
        }
        /* unquoted text (or text after a closing quote, kept as spreadsheets do) */
        for (;;) {
            unquoted_copy(&p, e, &w);
            if (*p != '\0')
                break;
            nul = true;
            *w++ = (char)*p++;
        }
        if (p == e) {
            if (!eof)
                return SCAN_MORE;
            *w++ = '\0'; /* the last record has no line end */
            break;
        }
        *w++ = '\0';
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '\r') {
            if (p + 1 == e && !eof)
                return SCAN_MORE;
            p++;
            if (p < e && *p == '\n')
                p++;
        } else {
            p++;
        }
        lines++;
        break;
    }
    o->nfields = nf;
    o->rec_len = (size_t)(w - c->rec);
    o->raw_len = (size_t)(p - start);
    o->lines = lines;
    o->nul = nul;
    return SCAN_DONE;
}

/* Consumes text up to and including the end of the current physical line. */
static int skip_line(struct hk_csv *c, struct hk_err *err)
{
    for (;;) {
        const unsigned char *p = c->data + c->pos, *e = c->data + c->end, *q = p;
        while (!EOL_STOP[*q])
            q++;
        if (q < e) {
            if (*q == '\r' && q + 1 == e && !c->data_eof) {
                c->pos = (size_t)(q - c->data);
                int rc = refill(c, err);
                if (rc)
                    return rc;
                continue;
            }
            if (*q == '\r' && q + 1 < e && q[1] == '\n')
                q++;
            c->pos = (size_t)(q + 1 - c->data);
            c->line++;
            return 0;
        }
        c->pos = c->end;
        if (c->data_eof)
            return 0;
        int rc = refill(c, err);
        if (rc)
            return rc;
    }
}

int hk_csv_next(struct hk_csv *c, struct hk_csv_row *row, struct hk_err *err)
{
    int rc;
    if (c->resync) {
        c->resync = false;
        if ((rc = skip_line(c, err)))
            return rc;
    }
    for (;;) {
        if (c->pos == c->end) {
            if (c->data_eof)
                return 0;
            if ((rc = refill(c, err)))
                return rc;
            continue;
        }
        struct scan_out o;
        enum scan_result r = scan(c, &o);
        if (r == SCAN_NOMEM)
            return hk_err_set(err, HK_E(NOMEM), "out of memory");
        if (r == SCAN_MORE && c->end - c->pos <= HK_CSV_MAX_RECORD) {
            if ((rc = refill(c, err)))
                return rc;
            continue;
        }
        row->line = c->line;
        row->fields = c->fields;
        row->nfields = 0;
        if (r != SCAN_DONE || o.raw_len > HK_CSV_MAX_RECORD) {
            /* Too long or never closed: report it, then go on at the line after its start. */
            row->problem = r == SCAN_UNCLOSED ? HK_CSV_UNCLOSED_QUOTE : HK_CSV_TOO_LONG;
            row->nlines = 1;
            c->resync = true;
            return 1;
        }
        c->pos += o.raw_len;
        c->line += o.lines;
        row->nlines = o.lines > 0 ? o.lines : 1;
        if (o.nfields == 1 && o.rec_len == 1)
            continue; /* a blank line */
        for (size_t i = 0; i < o.nfields; i++) {
            size_t s = c->fstart[i];
            size_t next = i + 1 < o.nfields ? c->fstart[i + 1] : o.rec_len;
            c->fields[i].s = c->rec + s;
            c->fields[i].len = next - s - 1;
        }
        row->nfields = o.nfields;
        if (o.nul)
            row->problem = HK_CSV_NUL;
        else if (!hk_utf8_valid((const unsigned char *)c->rec, o.rec_len))
            row->problem = HK_CSV_BAD_ENCODING;
        else
            row->problem = HK_CSV_OK;
        return 1;
    }
}
