/*
 * err.c — the error table (errors.def) turned into lookup arrays, and struct hk_err helpers.
 *
 * Invariants: table index i holds the entry of code -i; index 0 is success. Codes outside the
 * table map to the "internal" entry so a stray value never indexes past the arrays.
 *
 * Threading: the tables are immutable; struct hk_err belongs to its caller.
 */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct hk_error_entry {
    int http_status;
    const char *api_name;
    const char *message;
};

static const struct hk_error_entry hk_error_table[] = {
    {200, "ok", "success"},
#define HK_ERROR(name, http, api, msg) {http, api, msg},
#include "core/errors.def"
#undef HK_ERROR
};

static const struct hk_error_entry *entry_for(int code)
{
    static const struct hk_error_entry unknown = {500, "internal", "internal error"};
    if (code > 0 || code <= -(int)(sizeof(hk_error_table) / sizeof(hk_error_table[0])))
        return &unknown;
    return &hk_error_table[-code];
}

void hk_err_clear(struct hk_err *err)
{
    if (!err)
        return;
    err->code = 0;
    err->msg[0] = '\0';
    err->field[0] = '\0';
}

static void err_vset(struct hk_err *err, int code, const char *field, const char *fmt, va_list ap)
{
    err->code = code;
    if (fmt)
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    else
        err->msg[0] = '\0';
    snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
}

int hk_err_set(struct hk_err *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, code, NULL, fmt, ap);
    va_end(ap);
    return code;
}

int hk_err_setf(struct hk_err *err, int code, const char *field, const char *fmt, ...)
{
    if (!err)
        return code;
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, code, field, fmt, ap);
    va_end(ap);
    return code;
}

const char *hk_err_message(const struct hk_err *err)
{
    if (!err)
        return hk_error_default_message(HK_E(INTERNAL));
    if (err->msg[0])
        return err->msg;
    return hk_error_default_message(err->code);
}

int hk_error_http_status(int code)
{
    return entry_for(code)->http_status;
}

const char *hk_error_api_name(int code)
{
    return entry_for(code)->api_name;
}

const char *hk_error_default_message(int code)
{
    return entry_for(code)->message;
}
