/*
 * money.c — yuan text <-> int64 fen (see money.h).
 *
 * The parser reads in three steps so that its error names the first real problem:
 *   1. strip surrounding white space (ASCII, U+00A0, U+3000), then a sign and a currency sign
 *      ("¥"/"￥") in either order ("-¥3.00", "¥-3.00"), with spaces allowed after the symbol;
 *   2. check every remaining byte is a digit, ',' or '.' ("unexpected 'x'");
 *   3. check the shape: one decimal point at most, at most 2 decimals, thousands separators only
 *      between groups of exactly 3 digits ("1,234.50" yes, "12,5" and "1,23,456" no), a limit
 *      of ±9e15 fen.
 * "-0.00" is zero, not a negative amount. Values are accumulated in fen with an overflow check
 * before each step, so no input can overflow int64.
 *
 * Threading: pure functions.
 */
#include "core/money.h"
#include "core/err.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define HK_MONEY_LIMIT_FEN 9000000000000000LL /* 9e15 fen = 90 trillion yuan */
#define QUOTE_MAX          64                 /* bytes of the input repeated in a message */

/* Length of the white space at s (ASCII space/tab/CR/LF, U+00A0, U+3000), 0 if none. */
static size_t space_len(const unsigned char *s, size_t n)
{
    if (n >= 1 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\r' || s[0] == '\n'))
        return 1;
    if (n >= 2 && s[0] == 0xC2 && s[1] == 0xA0)
        return 2;
    if (n >= 3 && s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80)
        return 3;
    return 0;
}

/* Length of white space ending at s[n-1], 0 if none. */
static size_t space_len_back(const unsigned char *s, size_t n)
{
    if (n >= 1 && space_len(s + n - 1, 1) == 1)
        return 1;
    if (n >= 2 && space_len(s + n - 2, 2) == 2)
        return 2;
    if (n >= 3 && space_len(s + n - 3, 3) == 3)
        return 3;
    return 0;
}

/* Length of a currency sign at s ("¥" U+00A5, "￥" U+FFE5), 0 if none. */
static size_t currency_len(const unsigned char *s, size_t n)
{
    if (n >= 2 && s[0] == 0xC2 && s[1] == 0xA5)
        return 2;
    if (n >= 3 && s[0] == 0xEF && s[1] == 0xBF && s[2] == 0xA5)
        return 3;
    return 0;
}

/* Bytes in the UTF-8 character starting at s (1 for invalid bytes). */
static size_t utf8_char_len(const unsigned char *s, size_t n)
{
    size_t want = s[0] < 0x80         ? 1
                  : (s[0] >> 5) == 6  ? 2
                  : (s[0] >> 4) == 14 ? 3
                  : (s[0] >> 3) == 30 ? 4
                                      : 1;
    if (want > n)
        return 1;
    for (size_t i = 1; i < want; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 1;
    return want;
}

/* How many bytes of s (n) to quote in a message: at most QUOTE_MAX, on a character boundary. */
static int quote_len(const char *s, size_t n)
{
    if (n <= QUOTE_MAX)
        return (int)n;
    size_t k = 0;
    while (k < n) {
        size_t c = utf8_char_len((const unsigned char *)s + k, n - k);
        if (k + c > QUOTE_MAX)
            break;
        k += c;
    }
    return (int)k;
}

static int reject(struct hk_err *err, const char *s, size_t len, const char *reason)
{
    int q = quote_len(s, len);
    return hk_err_set(err, HK_E(INVAL), "'%.*s%s' is not an amount: %s", q, s,
                      (size_t)q < len ? "…" : "", reason);
}

int hk_money_parse(const char *s, size_t len, int flags, int64_t *out_fen, struct hk_err *err)
{
    if (!s) {
        s = "";
        len = 0;
    }
    const unsigned char *u = (const unsigned char *)s;
    size_t b = 0, e = len, k;
    char reason[96];

    /* Fast path: plain digits with at most two decimals ("1244.03", "3", "0.5"), the shape of
       nearly every amount in a file (three a line on an import's critical path). At most 13
       integer digits stay below HK_MONEY_LIMIT_FEN; any other shape takes the full parse
       below, which gives these the same value. */
    if (len >= 1 && len <= 16) {
        size_t i = 0;
        int64_t v = 0;
        while (i < len && u[i] >= '0' && u[i] <= '9')
            v = v * 10 + (u[i++] - '0');
        if (i >= 1 && i <= 13) {
            if (i == len) {
                *out_fen = v * 100;
                return 0;
            }
            size_t frac = len - i - 1; /* digits after a '.' at i */
            if (u[i] == '.' && (frac == 1 || frac == 2) && u[i + 1] >= '0' && u[i + 1] <= '9' &&
                (frac == 1 || (u[i + 2] >= '0' && u[i + 2] <= '9'))) {
                *out_fen = v * 100 + 10 * (u[i + 1] - '0') + (frac == 2 ? u[i + 2] - '0' : 0);
                return 0;
            }
        }
    }

    while (b < e && (k = space_len(u + b, e - b)) > 0)
        b += k;
    while (e > b && (k = space_len_back(u + b, e - b)) > 0)
        e -= k;
    if (b == e) {
        if (flags & HK_MONEY_REQUIRED)
            return reject(err, s, len, "an amount is required");
        return 1;
    }

    /* Sign and currency sign, in either order. */
    bool neg = false, have_sign = false, have_currency = false;
    for (;;) {
        if (!have_sign && (u[b] == '-' || u[b] == '+')) {
            neg = u[b] == '-';
            have_sign = true;
            b++;
        } else if (!have_currency && (k = currency_len(u + b, e - b)) > 0) {
            have_currency = true;
            b += k;
            while (b < e && (k = space_len(u + b, e - b)) > 0)
                b += k;
        } else {
            break;
        }
        if (b == e)
            return reject(err, s, len, "no digits");
    }

    /* Every byte must be a digit, a thousands separator or the decimal point. */
    for (size_t i = b; i < e;) {
        if ((u[i] >= '0' && u[i] <= '9') || u[i] == ',' || u[i] == '.') {
            i++;
            continue;
        }
        size_t c = utf8_char_len(u + i, e - i);
        snprintf(reason, sizeof(reason), "unexpected '%.*s'", (int)c, s + i);
        return reject(err, s, len, reason);
    }

    /* Shape: [int part with optional groups][.frac] */
    size_t dot = e;
    for (size_t i = b; i < e; i++) {
        if (u[i] != '.')
            continue;
        if (dot != e)
            return reject(err, s, len, "more than one decimal point");
        dot = i;
    }
    for (size_t i = dot; i < e; i++)
        if (u[i] == ',')
            return reject(err, s, len, "a thousands separator after the decimal point");
    size_t frac_digits = dot < e ? e - dot - 1 : 0;
    if (frac_digits > 2)
        return reject(err, s, len, "more than 2 decimals");
    if (dot - b == 0 && frac_digits == 0)
        return reject(err, s, len, "no digits");

    /* Thousands separators: the first group 1-3 digits, every later group exactly 3. */
    bool grouped = memchr(s + b, ',', dot - b) != NULL;
    if (grouped) {
        size_t group = 0, groups = 0;
        for (size_t i = b; i <= dot; i++) {
            if (i < dot && u[i] != ',') {
                group++;
                continue;
            }
            bool ok = groups == 0 ? group >= 1 && group <= 3 : group == 3;
            if (!ok)
                return reject(err, s, len,
                              "thousands separators must stand between groups of 3 digits");
            groups++;
            group = 0;
        }
    }

    int64_t fen = 0;
    for (size_t i = b; i < dot; i++) {
        if (u[i] == ',')
            continue;
        if (fen > (HK_MONEY_LIMIT_FEN / 100 - (u[i] - '0')) / 10)
            goto too_large;
        fen = fen * 10 + (u[i] - '0');
    }
    fen *= 100;
    if (frac_digits >= 1)
        fen += (int64_t)10 * (u[dot + 1] - '0');
    if (frac_digits == 2)
        fen += u[dot + 2] - '0';
    if (fen > HK_MONEY_LIMIT_FEN)
        goto too_large;

    if (neg && fen != 0) {
        if (!(flags & HK_MONEY_ALLOW_NEGATIVE))
            return reject(err, s, len, "a negative amount is not allowed here");
        fen = -fen;
    }
    *out_fen = fen;
    return 0;

too_large:
    return reject(err, s, len, "beyond the largest amount (90000000000000.00)");
}

size_t hk_money_format(int64_t fen, char *buf, size_t size)
{
    /* Magnitude as unsigned so INT64_MIN formats without overflow. */
    uint64_t mag = fen < 0 ? (uint64_t)0 - (uint64_t)fen : (uint64_t)fen;
    int n = snprintf(buf, size, "%s%llu.%02llu", fen < 0 ? "-" : "",
                     (unsigned long long)(mag / 100), (unsigned long long)(mag % 100));
    if (n < 0 || size == 0)
        return 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}
