/*
 * money.h — money as int64 fen (分). Never floating point.
 *
 * The parser accepts what sellers' files contain: "12", "12.5", "12.50", "-3.00" (when allowed),
 * "1,234.50" (thousands separators in the right places), a leading "¥"/"￥" and surrounding
 * spaces. It rejects, with a reason: "12,5x", "1.234" (more than 2 decimals), "", "abc",
 * negative amounts where not allowed, and values beyond ±9e15 fen.
 */
#ifndef HK_CORE_MONEY_H
#define HK_CORE_MONEY_H

#include <stddef.h>
#include <stdint.h>

struct hk_err;

enum hk_money_flags {
    HK_MONEY_REQUIRED = 1 << 0,       /* empty input is an error (else it parses as 0 / absent) */
    HK_MONEY_ALLOW_NEGATIVE = 1 << 1, /* "-3.50" is accepted */
};

/**
 * Parses a yuan amount (s, len bytes; need not be NUL-terminated) into fen.
 * Returns 0 and writes *out_fen; 1 when the input is empty and not required (*out_fen untouched);
 * HK_E(INVAL) with a reason in err ("'12,5x' is not an amount: unexpected 'x'") otherwise.
 */
int hk_money_parse(const char *s, size_t len, int flags, int64_t *out_fen, struct hk_err *err);

/**
 * Formats fen as yuan with exactly 2 decimals ("1234.50", "-0.05") into buf (size >= 24 always
 * suffices). Returns the number of bytes written, excluding the NUL.
 */
size_t hk_money_format(int64_t fen, char *buf, size_t size);

#endif
