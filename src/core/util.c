/*
 * util.c — bounded strings, strict integer parsing, hex, and the libsodium-backed random and
 * hashing helpers (see util.h).
 *
 * Nothing here keeps state: libsodium's own initialisation is idempotent and thread-safe
 * (sodium_init may be called from several threads at once), and randombytes_buf draws from the
 * kernel's CSPRNG. Tokens are base64url without padding so they are safe in URLs, headers and
 * cookies unescaped.
 */
#include "core/util.h"
#include "core/err.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

size_t hk_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = strlen(src);
    if (size > 0) {
        size_t k = n < size - 1 ? n : size - 1;
        memcpy(dst, src, k);
        dst[k] = '\0';
    }
    return n;
}

size_t hk_utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    size_t k = max; /* s[k] exists (k < n): the first byte left out */
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    return k;
}

char *hk_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *hk_strdup(const char *s)
{
    return s ? hk_strndup(s, strlen(s)) : NULL;
}

bool hk_streq_n(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && (n == 0 || memcmp(s, lit, n) == 0);
}

int hk_parse_int64(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (!s || len == 0)
        return HK_E(INVAL);
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == len)
        return HK_E(INVAL);
    /* Accumulate the magnitude as unsigned so INT64_MIN is representable. */
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return HK_E(INVAL);
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10)
            return HK_E(INVAL);
        v = v * 10 + d;
    }
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return 0;
}

void hk_hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * n] = '\0';
}

int hk_crypto_init(void)
{
    return sodium_init() < 0 ? HK_E(INTERNAL) : 0;
}

void hk_random_bytes(void *buf, size_t n)
{
    randombytes_buf(buf, n);
}

void hk_random_token(const char *prefix, char *out, size_t size)
{
    unsigned char raw[32];
    size_t plen = strlen(prefix);
    size_t b64len =
        sodium_base64_ENCODED_LEN(sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    assert(size >= plen + b64len); /* b64len counts the NUL: 44 */
    if (size < plen + b64len) {
        if (size > 0)
            out[0] = '\0'; /* never hand out a shortened, weaker token */
        return;
    }
    memcpy(out, prefix, plen);
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(out + plen, size - plen, raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof(raw));
}

void hk_request_id(char *out, size_t size)
{
    unsigned char raw[8];
    char hex[2 * sizeof(raw) + 1];
    randombytes_buf(raw, sizeof(raw));
    hk_hex_encode(raw, sizeof(raw), hex);
    if (size > 0)
        hk_strlcpy(out, hex, size);
}

void hk_token_hash(const char *s, size_t len, char *out)
{
    unsigned char h[32];
    crypto_generichash(h, sizeof(h), (const unsigned char *)s, len, NULL, 0);
    hk_hex_encode(h, sizeof(h), out);
}

bool hk_consttime_eq(const void *a, const void *b, size_t n)
{
    if (n == 0)
        return true;
    return sodium_memcmp(a, b, n) == 0;
}
