/*
 * jsontext.c — JSON text output (see jsontext.h).
 *
 * Strings are copied run by run: bytes that need no escaping are appended in one call, so the
 * common case (plain text) costs one strbuf append per string. UTF-8 is validated as it goes
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF); each byte that does
 * not start a valid sequence becomes U+FFFD.
 *
 * Threads: stateless.
 */
#include "core/jsontext.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/strbuf.h"

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0 when invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t min, cp;
    if ((c & 0xE0) == 0xC0) {
        len = 2;
        min = 0x80;
        cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        min = 0x800;
        cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        min = 0x10000;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

int hk_json_text_string(struct hk_strbuf *sb, const char *s, size_t len)
{
    if (len == (size_t)-1)
        len = strlen(s);
    const unsigned char *p = (const unsigned char *)s;
    int rc = hk_strbuf_addch(sb, '"');
    size_t run = 0; /* start of the bytes not yet appended */
    size_t i = 0;
    while (rc == 0 && i < len) {
        unsigned char c = p[i];
        size_t seq = c >= 0x20 && c != '"' && c != '\\' ? utf8_seq_len(p + i, len - i) : 0;
        if (seq > 0) {
            i += seq;
            continue;
        }
        /* Flush the plain run, then write this byte's replacement. */
        if (i > run)
            rc = hk_strbuf_add(sb, p + run, i - run);
        if (rc != 0)
            break;
        char esc[8];
        switch (c) {
        case '"':
            rc = hk_strbuf_adds(sb, "\\\"");
            break;
        case '\\':
            rc = hk_strbuf_adds(sb, "\\\\");
            break;
        case '\n':
            rc = hk_strbuf_adds(sb, "\\n");
            break;
        case '\r':
            rc = hk_strbuf_adds(sb, "\\r");
            break;
        case '\t':
            rc = hk_strbuf_adds(sb, "\\t");
            break;
        default:
            if (c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", (unsigned)c);
                rc = hk_strbuf_adds(sb, esc);
            } else {
                rc = hk_strbuf_adds(sb, "\xEF\xBF\xBD"); /* U+FFFD for an invalid byte */
            }
            break;
        }
        i++;
        run = i;
    }
    if (rc == 0 && i > run)
        rc = hk_strbuf_add(sb, p + run, i - run);
    if (rc == 0)
        rc = hk_strbuf_addch(sb, '"');
    return rc;
}

int hk_json_text_key(struct hk_strbuf *sb, const char *key)
{
    int rc = hk_json_text_string(sb, key, (size_t)-1);
    return rc == 0 ? hk_strbuf_addch(sb, ':') : rc;
}

int hk_json_text_int(struct hk_strbuf *sb, int64_t v)
{
    return hk_strbuf_addf(sb, "%" PRId64, v);
}
