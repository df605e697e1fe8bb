/*
 * accounts_json.h — JSON shapes and request helpers shared by the account handlers (h_auth.c,
 * h_users.c, h_tokens.c, h_audit.c). Internal to src/http/.
 *
 * Conventions of these resources
 *   - Times are ISO 8601 UTC strings ("2026-03-01T00:00:00Z"), or null for "never".
 *   - Lists are {"items": [...], "next_cursor": "<opaque>" | null}; pass next_cursor back as
 *     ?cursor= for the next page; ?limit= is 1-500 (default 50).
 *   - A user object never carries a password or its hash.
 */
#ifndef HK_HTTP_ACCOUNTS_JSON_H
#define HK_HTTP_ACCOUNTS_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "services/accounts.h"

struct hk_req;
struct hk_err;

/** A time as an ISO 8601 UTC string, or JSON null when t is 0 (new reference). */
json_t *hk_http_acct_time(int64_t t);
/** {id, login, display_name, role, disabled, pii_access, created_at, updated_at,
 *  last_login_at} (new reference; NULL on OOM). */
json_t *hk_http_acct_user(const struct hk_user *u);
/** A cursor as JSON: a string, or null when 0 (new reference). */
json_t *hk_http_acct_cursor(int64_t cursor);

/**
 * Reads ?cursor= and ?limit= (both optional). HK_E(INVAL) naming the parameter when either is
 * not a number in range.
 */
int hk_http_acct_page(struct hk_req *req, int64_t *cursor, int *limit, struct hk_err *err);

/**
 * The string member key of obj into *out (borrowed from obj). Absent: HK_E(INVAL) "<key>:
 * required" when required, else *out = NULL. Present but not a string: HK_E(INVAL).
 */
int hk_http_acct_string(json_t *obj, const char *key, bool required, const char **out,
                        struct hk_err *err);

/**
 * HK_E(INVAL) naming the first member of obj not in allowed (a NULL-terminated list), so a typo
 * in a field name is reported instead of silently ignored.
 */
int hk_http_acct_only_keys(json_t *obj, const char *const *allowed, struct hk_err *err);

#endif
