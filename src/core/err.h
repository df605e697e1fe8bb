/*
 * err.h — huike's one error table and the error detail carried beside a status.
 *
 * Functions return int: 0 on success, a negative HK_E* code on failure (a few return a positive
 * value for "more data", documented where they do). The table in errors.def is the single list:
 * it yields the enum, the HTTP status, the stable API string and the default message.
 *
 * struct hk_err is a fixed buffer the caller allocates (usually on the stack). It holds the code
 * and a message a user can act on: what was wrong, where, and what would be accepted
 * ("line 1043: column 实付金额: '12,5' is not an amount"). A function that fails fills it once,
 * at the place that knows the detail; callers above pass it through unchanged.
 */
#ifndef HK_CORE_ERR_H
#define HK_CORE_ERR_H

#include <stddef.h>

enum hk_error_code {
    HK_OK = 0,
#define HK_ERROR(name, http, api, msg) HK_E##name,
#include "errors.def"
#undef HK_ERROR
    HK_ERROR_COUNT_PLUS_ONE
};

/* The codes themselves are negative: return -HK_EINVAL or use HK_E(INVAL). */
#define HK_E(name) (-(int)HK_E##name)

#define HK_ERR_MSG_MAX 512

struct hk_err {
    int code;                 /* 0 or a negative HK_E* code */
    char msg[HK_ERR_MSG_MAX]; /* "" when only the default message applies */
    char field[64];           /* optional: the field, column or parameter at fault */
};

/** Resets err to "no error". err may be NULL. */
void hk_err_clear(struct hk_err *err);

/**
 * Records code (negative HK_E*) and a printf-style message in err (which may be NULL) and
 * returns code, so callers write `return hk_err_set(err, HK_E(INVAL), "...", ...);`.
 */
int hk_err_set(struct hk_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** As hk_err_set, and also names the field at fault. */
int hk_err_setf(struct hk_err *err, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** The message to show: err->msg when set, else the table's default for err->code. */
const char *hk_err_message(const struct hk_err *err);

/** HTTP status for a code (negative HK_E* or 0); 500 for unknown codes. */
int hk_error_http_status(int code);
/** Stable API string for a code ("invalid_argument"); "internal" for unknown codes. */
const char *hk_error_api_name(int code);
/** Default message for a code. */
const char *hk_error_default_message(int code);

#endif
