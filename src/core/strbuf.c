/*
 * strbuf.c — growable, capped byte buffer (see strbuf.h).
 *
 * Invariants (git's): buf is never NULL and buf[len] == '\0' at all times. An empty, never-grown
 * strbuf points buf at a shared one-byte empty string (cap == 0) that is never written; the
 * first append allocates. len <= max always: an append that would pass max fails with
 * HK_E(TOOLARGE) and leaves the buffer as it was, as does a failed allocation (HK_E(NOMEM)).
 *
 * Threading: a strbuf belongs to one thread at a time.
 */
#include "core/strbuf.h"
#include "core/err.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Never written: every write happens after the first allocation (cap > 0). */
static const char hk_strbuf_empty[1] = "";

#define EMPTY_BUF ((char *)hk_strbuf_empty)

void hk_strbuf_init(struct hk_strbuf *sb, size_t max)
{
    sb->buf = EMPTY_BUF;
    sb->len = 0;
    sb->cap = 0;
    sb->max = max ? max : HK_STRBUF_DEFAULT_MAX;
}

void hk_strbuf_release(struct hk_strbuf *sb)
{
    if (sb->cap)
        free(sb->buf);
    sb->buf = EMPTY_BUF;
    sb->len = 0;
    sb->cap = 0;
}

void hk_strbuf_reset(struct hk_strbuf *sb)
{
    sb->len = 0;
    if (sb->cap)
        sb->buf[0] = '\0';
}

/* Makes room for extra more bytes plus the NUL. */
static int grow(struct hk_strbuf *sb, size_t extra)
{
    if (extra > sb->max || sb->len > sb->max - extra)
        return HK_E(TOOLARGE);
    size_t need = sb->len + extra + 1;
    if (need <= sb->cap)
        return 0;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > sb->max + 1)
        cap = sb->max + 1;
    char *p = realloc(sb->cap ? sb->buf : NULL, cap);
    if (!p)
        return HK_E(NOMEM);
    if (!sb->cap)
        p[0] = '\0';
    sb->buf = p;
    sb->cap = cap;
    return 0;
}

int hk_strbuf_add(struct hk_strbuf *sb, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    int rc = grow(sb, len);
    if (rc)
        return rc;
    memcpy(sb->buf + sb->len, data, len);
    sb->len += len;
    sb->buf[sb->len] = '\0';
    return 0;
}

int hk_strbuf_adds(struct hk_strbuf *sb, const char *s)
{
    return hk_strbuf_add(sb, s, strlen(s));
}

int hk_strbuf_addch(struct hk_strbuf *sb, char c)
{
    return hk_strbuf_add(sb, &c, 1);
}

int hk_strbuf_vaddf(struct hk_strbuf *sb, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    size_t room = sb->cap ? sb->cap - sb->len : 0;
    int n = vsnprintf(room ? sb->buf + sb->len : NULL, room, fmt, cp);
    va_end(cp);
    if (n < 0)
        goto bad_format;
    if ((size_t)n >= room) {
        /* Did not fit (or nothing allocated yet): grow and format again. */
        int rc = grow(sb, (size_t)n);
        if (rc) {
            if (sb->cap)
                sb->buf[sb->len] = '\0';
            return rc;
        }
        va_copy(cp, ap);
        n = vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, cp);
        va_end(cp);
        if (n < 0)
            goto bad_format;
    }
    sb->len += (size_t)n;
    return 0;

bad_format:
    if (sb->cap)
        sb->buf[sb->len] = '\0';
    return HK_E(INTERNAL);
}

int hk_strbuf_addf(struct hk_strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = hk_strbuf_vaddf(sb, fmt, ap);
    va_end(ap);
    return rc;
}

char *hk_strbuf_detach(struct hk_strbuf *sb, size_t *len)
{
    char *p = sb->buf;
    if (len)
        *len = sb->len;
    if (!sb->cap) {
        p = malloc(1);
        if (!p)
            abort(); /* "never NULL" is the contract; one byte is not available: give up */
        p[0] = '\0';
    }
    sb->buf = EMPTY_BUF;
    sb->len = 0;
    sb->cap = 0;
    return p;
}
