/*
 * services/accounts.c — staff accounts, roles, sign-in, sessions, API tokens, throttling and the
 * audit trail (the policy; the SQL is in store/accounts.c).
 *
 * Secrets
 *   Passwords: argon2id (crypto_pwhash_str_alg, ALG_ARGON2ID13) at the cost cfg.pwhash names;
 *   a hash made with another cost is upgraded at the next successful sign-in. Session ids and
 *   API tokens: 256 random bits (hk_random_token), handed out once, stored as hk_token_hash.
 *   None of these, nor a password, is ever logged or put into an audit record.
 *
 * Sign-in (hk_accounts_login), in this order:
 *   1. throttle: the nth newest failure (n = limit) for the login, and for the address, still
 *      inside cfg.login_window means "throttled until it leaves the window" — answered before the
 *      password is looked at, so guessing cannot continue while throttled, and throttled
 *      attempts are not themselves counted (the lock cannot be extended indefinitely);
 *   2. verify outside any transaction and without holding a connection (argon2id is slow on
 *      purpose). An unknown login hashes the given password anyway, so the time taken does not
 *      tell which logins exist;
 *   3. record: a failure row + auth.login_failed, or clear the failures + new session +
 *      auth.login, each in one write transaction.
 *   Logins are compared after ASCII lower-casing, so "Admin" and "admin" are one account.
 *
 * Invariants
 *   - Every user, token and session change is written in the same transaction as its audit row.
 *   - There is always at least one active admin once one exists: an update that would disable or
 *     demote the last one is refused (checked inside the write transaction).
 *   - Roles are read from the users row on every authentication, so a role change or a disable
 *     takes effect on the next request; disabling also revokes the sessions.
 *   - `now` comes from app->clock only.
 *
 * Threads: every function is safe to call concurrently; each takes its own connection.
 */
#include "services/accounts.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/jsontext.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "services/app.h"
#include "store/accounts.h"
#include "store/store.h"

_Static_assert(HK_LOGIN_MAX == HK_ACCT_LOGIN_MAX, "login sizes agree");
_Static_assert(HK_NAME_MAX == HK_ACCT_NAME_MAX, "name sizes agree");
_Static_assert(crypto_pwhash_STRBYTES <= HK_ACCT_HASH_MAX, "a password hash fits");
_Static_assert(HK_TOKEN_PREFIX_LEN < HK_ACCT_PREFIX_MAX, "a token prefix fits");
_Static_assert(sizeof(((struct hk_audit_entry *)0)->details) == HK_ACCT_DETAILS_MAX,
               "audit details sizes agree");

#define TOKEN_RANDOM_LEN       43 /* base64url characters of hk_random_token */
#define API_TOKEN_PREFIX       "hk_"
#define TOUCH_INTERVAL_S       60
#define PAGE_DEFAULT           50
#define PAGE_MAX               500
#define GENERATED_PASSWORD_LEN 20

/* ---- roles ---------------------------------------------------------------------------- */

static const struct {
    const char *name;
    int bit;
    bool pii;
} roles[] = {
    {"admin", HK_ROLE_ADMIN, true},          {"manager", HK_ROLE_MANAGER, true},
    {"operator", HK_ROLE_OPERATOR, false},   {"agent", HK_ROLE_AGENT, false},
    {"associate", HK_ROLE_ASSOCIATE, false},
};

const char *hk_role_name(int role)
{
    for (size_t i = 0; i < HK_ARRAY_LEN(roles); i++)
        if (roles[i].bit == role)
            return roles[i].name;
    return "";
}

int hk_role_parse(const char *name, int *out, struct hk_err *err)
{
    for (size_t i = 0; name && i < HK_ARRAY_LEN(roles); i++) {
        if (strcmp(roles[i].name, name) == 0) {
            *out = roles[i].bit;
            return 0;
        }
    }
    return hk_err_setf(err, HK_E(INVAL), "role",
                       "role '%s' is not one of admin, manager, operator, agent, associate",
                       name ? name : "");
}

bool hk_role_may_read_pii(int role)
{
    for (size_t i = 0; i < HK_ARRAY_LEN(roles); i++)
        if (roles[i].bit == role)
            return roles[i].pii;
    return false;
}

static bool role_valid(int role)
{
    return hk_role_name(role)[0] != '\0';
}

/* ---- small helpers -------------------------------------------------------------------- */

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* Whether s is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static bool utf8_valid(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned char c = *s;
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            s++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (size_t i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        s += n + 1;
    }
    return true;
}

/* Control characters or malformed UTF-8: not acceptable in names shown to people. */
static bool has_control_chars(const char *s)
{
    if (!utf8_valid(s))
        return true;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/*
 * Copies client-supplied header text (User-Agent) as printable ASCII, '?' for anything else and
 * truncated: it is stored as TEXT, which PostgreSQL refuses when it is not UTF-8.
 */
static void printable_copy(const char *in, char *out, size_t size)
{
    size_t i = 0;
    for (; in && in[i] && i + 1 < size; i++) {
        unsigned char c = (unsigned char)in[i];
        out[i] = in[i];
        if (c < 0x20 || c >= 0x7f)
            out[i] = '?';
    }
    out[i] = '\0';
}

/* Lower-cases ASCII letters of a login into out, truncating; used for look-ups and throttling. */
static void login_key(const char *login, char *out, size_t size)
{
    size_t i = 0;
    for (; login[i] && i + 1 < size; i++) {
        char c = login[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c | 0x20);
        out[i] = c;
    }
    if (login[i]) /* truncated: do not leave half a UTF-8 character behind */
        while (i > 0 && ((unsigned char)login[i] & 0xC0) == 0x80)
            i--;
    out[i] = '\0';
}

/* Validates and normalises a login for a new account. */
static int login_normalise(const char *login, char *out, size_t size, struct hk_err *err)
{
    if (!login || !*login)
        return hk_err_setf(err, HK_E(INVAL), "login", "login: required");
    size_t len = strlen(login);
    if (len >= size)
        return hk_err_setf(err, HK_E(INVAL), "login", "login: at most %zu bytes (got %zu)",
                           size - 1, len);
    for (const char *p = login; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return hk_err_setf(err, HK_E(INVAL), "login",
                               "login: '%s' may not contain spaces or control characters", login);
    if (login[0] == '-')
        return hk_err_setf(err, HK_E(INVAL), "login", "login: may not start with '-'");
    if (!utf8_valid(login))
        return hk_err_setf(err, HK_E(INVAL), "login", "login: not valid UTF-8");
    login_key(login, out, size);
    return 0;
}

static int password_check(const char *pw, struct hk_err *err)
{
    if (!pw || !*pw)
        return hk_err_setf(err, HK_E(INVAL), "password", "password: required");
    size_t len = strlen(pw);
    if (len > HK_PASSWORD_MAX)
        return hk_err_setf(err, HK_E(INVAL), "password", "password: at most %d bytes",
                           HK_PASSWORD_MAX);
    size_t chars = utf8_chars(pw);
    if (chars < HK_PASSWORD_MIN)
        return hk_err_setf(err, HK_E(INVAL), "password",
                           "password: must be at least %d characters long (got %zu)",
                           HK_PASSWORD_MIN, chars);
    return 0;
}

static int display_name_check(const char *name, struct hk_err *err)
{
    if (strlen(name) >= HK_NAME_MAX)
        return hk_err_setf(err, HK_E(INVAL), "display_name", "display_name: at most %d bytes",
                           HK_NAME_MAX - 1);
    if (has_control_chars(name))
        return hk_err_setf(err, HK_E(INVAL), "display_name",
                           "display_name: must be UTF-8 without control characters");
    return 0;
}

static int pwhash_cost(const struct hk_app *app, unsigned long long *ops, size_t *mem,
                       struct hk_err *err)
{
    const char *c = app->cfg.pwhash;
    if (strcmp(c, "interactive") == 0 || c[0] == '\0') {
        *ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
        *mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
    } else if (strcmp(c, "moderate") == 0) {
        *ops = crypto_pwhash_OPSLIMIT_MODERATE;
        *mem = crypto_pwhash_MEMLIMIT_MODERATE;
    } else if (strcmp(c, "sensitive") == 0) {
        *ops = crypto_pwhash_OPSLIMIT_SENSITIVE;
        *mem = crypto_pwhash_MEMLIMIT_SENSITIVE;
    } else {
        return hk_err_setf(err, HK_E(INVAL), "pwhash",
                           "pwhash '%s' is not one of interactive, moderate, sensitive", c);
    }
    return 0;
}

/* argon2id hash of pw into out (size HK_ACCT_HASH_MAX). */
static int password_hash(const struct hk_app *app, const char *pw, char *out, struct hk_err *err)
{
    unsigned long long ops = 0;
    size_t mem = 0;
    int rc = pwhash_cost(app, &ops, &mem, err);
    if (rc != 0)
        return rc;
    if (crypto_pwhash_str_alg(out, pw, strlen(pw), ops, mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
        return hk_err_set(err, HK_E(NOMEM), "cannot hash the password: out of memory");
    return 0;
}

static int row_to_user(const struct hk_acct_user_row *r, struct hk_user *u, struct hk_err *err)
{
    int role;
    if (hk_role_parse(r->role, &role, err) != 0)
        return hk_err_set(err, HK_E(INTERNAL), "user %lld has an unknown role", (long long)r->id);
    memset(u, 0, sizeof *u);
    u->id = r->id;
    hk_strlcpy(u->login, r->login, sizeof u->login);
    hk_strlcpy(u->display_name, r->display_name, sizeof u->display_name);
    u->role = role;
    u->disabled = r->disabled;
    u->created_at = r->created_at;
    u->updated_at = r->updated_at;
    u->last_login_at = r->last_login_at;
    return 0;
}

static bool token_shaped(const char *s, size_t len)
{
    if (strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

static int page_limit(int limit)
{
    return (limit < 1 || limit > PAGE_MAX) ? PAGE_DEFAULT : limit;
}

/*
 * One page of a list (users, tokens, the audit log): fetches limit + 1 rows after the cursor
 * into a row array, converts the first limit of them into items, and sets the next cursor to the
 * last item's id when there was one more row. The row array is wiped before it is freed when the
 * kind says its rows hold secrets.
 */
struct page_kind {
    const char *what; /* for the out-of-memory message */
    size_t row_size, item_size;
    bool wipe_rows;
    int (*fetch)(struct hk_db *db, const void *arg, int64_t cursor, size_t cap, void *rows,
                 size_t *n, struct hk_err *err);
    int64_t (*row_id)(const void *row);
    int (*convert)(const void *row, void *item, struct hk_err *err);
};

static int list_page(struct hk_app *app, const struct page_kind *k, const void *arg, int64_t cursor,
                     int limit, void **out, size_t *n, int64_t *next_cursor, struct hk_err *err)
{
    size_t cap = (size_t)page_limit(limit) + 1;
    unsigned char *rows = calloc(cap, k->row_size);
    unsigned char *items = NULL;
    struct hk_db *db = NULL;
    size_t count = 0;
    int64_t next = 0;
    int rc;
    if (!rows) {
        rc = hk_err_set(err, HK_E(NOMEM), "out of memory listing %s", k->what);
        goto done;
    }
    if ((rc = hk_db_acquire(app->store, &db, err)) != 0 ||
        (rc = k->fetch(db, arg, cursor, cap, rows, &count, err)) != 0)
        goto done;
    hk_db_release(db);
    db = NULL;
    if (count == cap) {
        count--;
        next = k->row_id(rows + (count - 1) * k->row_size);
    }
    if (count > 0 && !(items = calloc(count, k->item_size))) {
        rc = hk_err_set(err, HK_E(NOMEM), "out of memory listing %s", k->what);
        goto done;
    }
    for (size_t i = 0; i < count && rc == 0; i++)
        rc = k->convert(rows + i * k->row_size, items + i * k->item_size, err);
done:
    hk_db_release(db);
    if (rows && k->wipe_rows)
        sodium_memzero(rows, cap * k->row_size);
    free(rows);
    if (rc != 0) {
        free(items);
        return rc;
    }
    *out = items;
    *n = count;
    *next_cursor = next;
    return 0;
}

/* ---- audit details: a tiny JSON object writer (no jansson below http/) ----------------- */

struct details {
    char buf[HK_ACCT_DETAILS_MAX];
    size_t len;
    bool overflow;
};

static void det_raw(struct details *d, const char *s, size_t n)
{
    /* keep room for the closing brace and the NUL */
    if (d->overflow || d->len + n + 2 > sizeof d->buf) {
        d->overflow = true;
        return;
    }
    memcpy(d->buf + d->len, s, n);
    d->len += n;
    d->buf[d->len] = '\0';
}

static void det_init(struct details *d)
{
    d->len = 0;
    d->overflow = false;
    det_raw(d, "{", 1);
}

/* The JSON escaping is core/jsontext's (control characters escaped, bad UTF-8 replaced). */
static void det_string(struct details *d, const char *s)
{
    struct hk_strbuf sb;
    hk_strbuf_init(&sb, sizeof d->buf);
    if (hk_json_text_string(&sb, s, (size_t)-1) != 0)
        d->overflow = true;
    else
        det_raw(d, sb.buf, sb.len);
    hk_strbuf_release(&sb);
}

static void det_key(struct details *d, const char *key)
{
    if (d->len > 1)
        det_raw(d, ",", 1);
    det_string(d, key);
    det_raw(d, ":", 1);
}

static void det_str(struct details *d, const char *key, const char *val)
{
    det_key(d, key);
    det_string(d, val);
}

static void det_int(struct details *d, const char *key, int64_t v)
{
    char num[32];
    int n = snprintf(num, sizeof num, "%lld", (long long)v);
    det_key(d, key);
    det_raw(d, num, (size_t)n);
}

static void det_bool(struct details *d, const char *key, bool v)
{
    det_key(d, key);
    det_raw(d, v ? "true" : "false", v ? 4 : 5);
}

static const char *det_end(struct details *d)
{
    if (d->overflow)
        return "{\"truncated\":true}";
    d->buf[d->len++] = '}';
    d->buf[d->len] = '\0';
    return d->buf;
}

/* ---- audit ---------------------------------------------------------------------------- */

/*
 * Appends an audit row on db (inside the caller's transaction, if any). The acting principal
 * comes from actor, unless as_login is given (sign-in events, whose principal does not exist
 * yet): then the row names as_login / as_id.
 */
static int audit(struct hk_db *db, int64_t now, const struct hk_actor *actor, const char *as_login,
                 int64_t as_id, const char *action, const char *target, const char *details,
                 struct hk_err *err)
{
    struct hk_acct_audit_row r;
    memset(&r, 0, sizeof r);
    r.at = now;
    const struct hk_principal *who = actor ? actor->who : NULL;
    if (as_login) {
        r.actor_id = as_id;
        hk_strlcpy(r.actor, as_login, sizeof r.actor);
    } else if (!who) {
        hk_strlcpy(r.actor, "system", sizeof r.actor);
    } else if (who->via == HK_AUTH_CLI) {
        hk_strlcpy(r.actor, who->login[0] ? who->login : "cli", sizeof r.actor);
        r.actor_id = who->user_id;
    } else {
        r.actor_id = who->user_id;
        hk_strlcpy(r.actor, who->login, sizeof r.actor);
    }
    hk_strlcpy(r.action, action, sizeof r.action);
    hk_strlcpy(r.target, target ? target : "", sizeof r.target);
    hk_strlcpy(r.ip, actor && actor->ip ? actor->ip : "", sizeof r.ip);
    hk_strlcpy(r.request_id, actor && actor->req_id ? actor->req_id : "", sizeof r.request_id);
    hk_strlcpy(r.details, details ? details : "{}", sizeof r.details);
    return hk_acct_audit_insert(db, &r, err);
}

static void target_of(char *buf, size_t size, const char *kind, int64_t id)
{
    snprintf(buf, size, "%s:%lld", kind, (long long)id);
}

int hk_accounts_audit_record(struct hk_app *app, const struct hk_actor *actor, const char *action,
                             const char *target, const char *details_json, struct hk_err *err)
{
    if (!action || !*action)
        return hk_err_setf(err, HK_E(INVAL), "action", "audit: action required");
    struct hk_db *db = NULL;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc != 0)
        return rc;
    rc = audit(db, hk_clock_now(&app->clock), actor, NULL, 0, action, target, details_json, err);
    hk_db_release(db);
    return rc;
}

static int audit_fetch(struct hk_db *db, const void *arg, int64_t cursor, size_t cap, void *rows,
                       size_t *n, struct hk_err *err)
{
    return hk_acct_audit_list(db, cursor, arg, cap, rows, n, err);
}

static int64_t audit_row_id(const void *row)
{
    return ((const struct hk_acct_audit_row *)row)->id;
}

static int audit_from_row(const void *row, void *item, struct hk_err *err)
{
    (void)err;
    const struct hk_acct_audit_row *r = row;
    struct hk_audit_entry *e = item;
    e->id = r->id;
    e->at = r->at;
    e->actor_id = r->actor_id;
    hk_strlcpy(e->actor, r->actor, sizeof e->actor);
    hk_strlcpy(e->action, r->action, sizeof e->action);
    hk_strlcpy(e->target, r->target, sizeof e->target);
    hk_strlcpy(e->ip, r->ip, sizeof e->ip);
    hk_strlcpy(e->request_id, r->request_id, sizeof e->request_id);
    hk_strlcpy(e->details, r->details, sizeof e->details);
    return 0;
}

int hk_accounts_audit_list(struct hk_app *app, int64_t cursor, int limit, const char *action,
                           struct hk_audit_entry **out, size_t *n, int64_t *next_cursor,
                           struct hk_err *err)
{
    static const struct page_kind kind = {"the audit log",
                                          sizeof(struct hk_acct_audit_row),
                                          sizeof(struct hk_audit_entry),
                                          false,
                                          audit_fetch,
                                          audit_row_id,
                                          audit_from_row};
    void *items;
    int rc = list_page(app, &kind, action, cursor, limit, &items, n, next_cursor, err);
    *out = rc == 0 ? items : NULL;
    return rc;
}

/* ---- sign-in -------------------------------------------------------------------------- */

/*
 * Seconds until a sign-in for key from ip may be tried again (0: not throttled), by the nth
 * newest failure inside the window. A limit <= 0 turns that check off.
 */
static int throttle_wait(struct hk_app *app, struct hk_db *db, const char *key, const char *ip,
                         int64_t now, int64_t *wait_s, bool *by_ip, struct hk_err *err)
{
    int64_t window = app->cfg.login_window > 0 ? app->cfg.login_window : 900;
    int64_t since = now - window;
    int64_t at = 0, w_login = 0, w_ip = 0;
    int rc;
    if (app->cfg.login_max_fail > 0) {
        rc = hk_acct_login_failure_nth(db, false, key, since, app->cfg.login_max_fail, &at, err);
        if (rc != 0)
            return rc;
        if (at > 0)
            w_login = at + window - now;
    }
    if (app->cfg.login_max_fail_ip > 0 && ip[0]) {
        at = 0;
        rc = hk_acct_login_failure_nth(db, true, ip, since, app->cfg.login_max_fail_ip, &at, err);
        if (rc != 0)
            return rc;
        if (at > 0)
            w_ip = at + window - now;
    }
    if (w_login > 0 && w_login >= w_ip) {
        *wait_s = w_login;
        *by_ip = false;
    } else if (w_ip > 0) {
        *wait_s = w_ip;
        *by_ip = true;
    } else {
        *wait_s = 0;
        *by_ip = false;
    }
    return 0;
}

/* Records a failed sign-in: a throttling row (unless counted is false) and the audit entry. */
static int record_failure(struct hk_app *app, const char *key, const struct hk_actor *actor,
                          int64_t user_id, const char *reason, bool counted, struct hk_err *err)
{
    int64_t now = hk_clock_now(&app->clock);
    int64_t window = app->cfg.login_window > 0 ? app->cfg.login_window : 900;
    const char *ip = actor && actor->ip ? actor->ip : "";
    struct hk_db *db = NULL;
    struct details d;
    char target[48] = "";
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc != 0)
        return rc;
    if ((rc = hk_db_begin(db, HK_TX_WRITE, err)) != 0)
        goto fail;
    if (counted) {
        if ((rc = hk_acct_login_failure_insert(db, key, ip, now, err)) != 0)
            goto fail;
        if ((rc = hk_acct_login_failures_prune(db, key, now - window, err)) != 0)
            goto fail;
    }
    det_init(&d);
    det_str(&d, "login", key);
    det_str(&d, "reason", reason);
    if (user_id > 0)
        target_of(target, sizeof target, "user", user_id);
    rc = audit(db, now, actor, "anonymous", 0, "auth.login_failed", target, det_end(&d), err);
    if (rc != 0)
        goto fail;
    rc = hk_db_commit(db, err);
fail:
    if (rc != 0)
        hk_db_rollback(db);
    hk_db_release(db);
    return rc;
}

int hk_accounts_login(struct hk_app *app, const char *login, const char *password,
                      const char *user_agent, const struct hk_actor *actor,
                      struct hk_login_result *out, int64_t *retry_after_s, struct hk_err *err)
{
    if (!login || !*login)
        return hk_err_setf(err, HK_E(INVAL), "login", "login: required");
    if (!password || !*password)
        return hk_err_setf(err, HK_E(INVAL), "password", "password: required");
    if (!utf8_valid(login))
        return hk_err_setf(err, HK_E(INVAL), "login", "login: not valid UTF-8");

    char key[HK_LOGIN_MAX];
    char ua[256];
    printable_copy(user_agent, ua, sizeof ua);
    login_key(login, key, sizeof key);
    const char *ip = actor && actor->ip ? actor->ip : "";
    int64_t now = hk_clock_now(&app->clock);
    struct hk_acct_user_row u;
    struct hk_login_result res;
    struct hk_db *db = NULL;
    bool found = false;
    int rc;
    memset(&u, 0, sizeof u);
    memset(&res, 0, sizeof res);

    /* 1. throttling and the account, then let the connection go before hashing */
    if ((rc = hk_db_acquire(app->store, &db, err)) != 0)
        return rc;
    int64_t wait_s = 0;
    bool by_ip = false;
    if ((rc = throttle_wait(app, db, key, ip, now, &wait_s, &by_ip, err)) != 0)
        goto fail;
    if (wait_s == 0) {
        rc = hk_acct_user_by_login(db, key, &u, err);
        if (rc == 0)
            found = true;
        else if (rc != HK_E(NOTFOUND))
            goto fail;
        hk_err_clear(err);
    }
    hk_db_release(db);
    db = NULL;

    if (wait_s > 0) {
        struct hk_err ignored;
        hk_err_clear(&ignored);
        if (record_failure(app, key, actor, 0, by_ip ? "throttled_ip" : "throttled", false,
                           &ignored) != 0)
            hk_log_kv(&app->log, HK_LOG_WARN, "auth.audit_failed", actor ? actor->req_id : NULL,
                      "error", hk_err_message(&ignored), (const char *)NULL);
        if (retry_after_s)
            *retry_after_s = wait_s;
        return hk_err_set(err, HK_E(THROTTLED),
                          "too many failed sign-ins %s; try again in %lld seconds",
                          by_ip ? "from your address" : "for this account", (long long)wait_s);
    }

    /* 2. verify (slow), or spend the same time on an unknown login */
    size_t pwlen = strlen(password);
    bool ok = false;
    if (found) {
        ok = crypto_pwhash_str_verify(u.password_hash, password, pwlen) == 0;
    } else {
        char dummy[HK_ACCT_HASH_MAX];
        struct hk_err ignored;
        (void)password_hash(app, password, dummy, &ignored);
        sodium_memzero(dummy, sizeof dummy);
    }
    if (!ok || u.disabled) {
        const char *reason = !found ? "unknown_login" : !ok ? "wrong_password" : "disabled";
        /* a disabled account with the right password is not a guess: not counted */
        rc = record_failure(app, key, actor, found ? u.id : 0, reason, !ok, err);
        if (rc != 0)
            return rc;
        if (ok)
            return hk_err_set(err, HK_E(UNAUTHENTICATED),
                              "this account is disabled; ask an administrator");
        return hk_err_set(err, HK_E(UNAUTHENTICATED), "wrong login or password");
    }

    /* upgrade a hash made with another cost while we hold the password */
    char rehash[HK_ACCT_HASH_MAX] = "";
    unsigned long long ops = 0;
    size_t mem = 0;
    if (pwhash_cost(app, &ops, &mem, err) == 0 &&
        crypto_pwhash_str_needs_rehash(u.password_hash, ops, mem) != 0) {
        if (password_hash(app, password, rehash, err) != 0)
            rehash[0] = '\0';
    }
    hk_err_clear(err);

    /* 3. the session */
    if ((rc = row_to_user(&u, &res.user, err)) != 0)
        return rc;
    hk_random_token("", res.session, sizeof res.session);
    char hash[65];
    hk_token_hash(res.session, strlen(res.session), hash);
    now = hk_clock_now(&app->clock);
    int64_t ttl = app->cfg.session_ttl > 0 ? app->cfg.session_ttl : 43200;
    res.expires_at = now + ttl;
    char target[48];
    target_of(target, sizeof target, "user", u.id);
    struct details d;
    det_init(&d);
    det_str(&d, "login", u.login);

    if ((rc = hk_db_acquire(app->store, &db, err)) != 0)
        goto fail;
    if ((rc = hk_db_begin(db, HK_TX_WRITE, err)) != 0)
        goto fail;
    if ((rc = hk_acct_login_failures_clear(db, key, err)) != 0)
        goto fail;
    if ((rc = hk_acct_sessions_prune_user(db, u.id, now - 86400, err)) != 0)
        goto fail;
    if ((rc = hk_acct_session_insert(db, hash, u.id, now, res.expires_at, ip, ua, &res.session_id,
                                     err)) != 0)
        goto fail;
    if ((rc = hk_acct_user_set_last_login(db, u.id, now, err)) != 0)
        goto fail;
    if (rehash[0] && (rc = hk_acct_user_set_password_hash(db, u.id, rehash, err)) != 0)
        goto fail;
    det_int(&d, "session_id", res.session_id);
    if ((rc = audit(db, now, actor, u.login, u.id, "auth.login", target, det_end(&d), err)) != 0)
        goto fail;
    if ((rc = hk_db_commit(db, err)) != 0)
        goto fail;
    hk_db_release(db);
    res.user.last_login_at = now;
    *out = res;
    sodium_memzero(&res, sizeof res);
    return 0;

fail:
    if (db)
        hk_db_rollback(db);
    hk_db_release(db);
    sodium_memzero(&res, sizeof res);
    return rc;
}

int hk_accounts_logout(struct hk_app *app, const struct hk_actor *actor, struct hk_err *err)
{
    const struct hk_principal *who = actor ? actor->who : NULL;
    if (!who || who->via != HK_AUTH_SESSION || who->session_id <= 0)
        return 0;
    int64_t now = hk_clock_now(&app->clock);
    struct hk_db *db = NULL;
    bool changed = false;
    char target[48];
    target_of(target, sizeof target, "user", who->user_id);
    struct details d;
    det_init(&d);
    det_int(&d, "session_id", who->session_id);
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc != 0)
        return rc;
    if ((rc = hk_db_begin(db, HK_TX_WRITE, err)) != 0)
        goto fail;
    if ((rc = hk_acct_session_revoke(db, who->session_id, now, &changed, err)) != 0)
        goto fail;
    if (changed &&
        (rc = audit(db, now, actor, NULL, 0, "auth.logout", target, det_end(&d), err)) != 0)
        goto fail;
    rc = hk_db_commit(db, err);
fail:
    if (rc != 0)
        hk_db_rollback(db);
    hk_db_release(db);
    return rc;
}

int hk_auth_session(struct hk_app *app, const char *session, struct hk_principal *out,
                    struct hk_err *err)
{
    if (!session || !token_shaped(session, TOKEN_RANDOM_LEN))
        return hk_err_set(err, HK_E(UNAUTHENTICATED), "the session is not valid; sign in again");
    char hash[65];
    hk_token_hash(session, strlen(session), hash);
    int64_t now = hk_clock_now(&app->clock);
    struct hk_acct_session_row s;
    struct hk_db *db = NULL;
    int role = 0;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc != 0)
        return rc;
    rc = hk_acct_session_lookup(db, hash, &s, err);
    if (rc == HK_E(NOTFOUND)) {
        rc = hk_err_set(err, HK_E(UNAUTHENTICATED), "the session is not valid; sign in again");
        goto fail;
    }
    if (rc != 0)
        goto fail;
    if (s.revoked_at > 0) {
        rc = hk_err_set(err, HK_E(UNAUTHENTICATED), "the session was ended; sign in again");
        goto fail;
    }
    if (s.expires_at <= now) {
        rc = hk_err_set(err, HK_E(UNAUTHENTICATED), "the session has expired; sign in again");
        goto fail;
    }
    if (s.user_disabled) {
        rc = hk_err_set(err, HK_E(UNAUTHENTICATED), "this account is disabled");
        goto fail;
    }
    if (hk_role_parse(s.role, &role, err) != 0) {
        rc = hk_err_set(err, HK_E(UNAUTHENTICATED), "the account has no valid role");
        goto fail;
    }
    if (now - s.last_seen_at >= TOUCH_INTERVAL_S) {
        /* best effort: a failed touch must not turn a valid session away */
        struct hk_err ignored;
        (void)hk_acct_session_touch(db, s.id, now, &ignored);
    }
    hk_db_release(db);
    memset(out, 0, sizeof *out);
    out->via = HK_AUTH_SESSION;
    out->user_id = s.user_id;
    hk_strlcpy(out->login, s.login, sizeof out->login);
    out->role = role;
    out->session_id = s.id;
    return 0;
fail:
    hk_db_release(db);
    return rc;
}

int hk_auth_token(struct hk_app *app, const char *token, struct hk_principal *out,
                  struct hk_err *err)
{
    size_t plen = strlen(API_TOKEN_PREFIX);
    if (!token || strncmp(token, API_TOKEN_PREFIX, plen) != 0 ||
        !token_shaped(token + plen, TOKEN_RANDOM_LEN))
        return hk_err_set(err, HK_E(UNAUTHENTICATED), "the API token is not valid");
    char hash[65];
    hk_token_hash(token, strlen(token), hash);
    int64_t now = hk_clock_now(&app->clock);
    struct hk_acct_token_row t;
    struct hk_db *db = NULL;
    int role = 0;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc != 0)
        return rc;
    rc = hk_acct_token_lookup(db, hash, &t, err);
    if (rc == HK_E(NOTFOUND)) {
        rc = hk_err_set(err, HK_E(UNAUTHENTICATED), "the API token is not valid");
        goto fail;
    }
    if (rc != 0)
        goto fail;
    if (t.revoked_at > 0) {
        rc = hk_err_set(err, HK_E(UNAUTHENTICATED), "the API token was revoked");
        goto fail;
    }
    if (t.user_disabled) {
        rc = hk_err_set(err, HK_E(UNAUTHENTICATED), "the API token's user is disabled");
        goto fail;
    }
    if (hk_role_parse(t.user_role, &role, err) != 0) {
        rc = hk_err_set(err, HK_E(UNAUTHENTICATED), "the API token's user has no valid role");
        goto fail;
    }
    if (now - t.last_used_at >= TOUCH_INTERVAL_S) {
        struct hk_err ignored;
        (void)hk_acct_token_touch(db, t.id, now, &ignored);
    }
    hk_db_release(db);
    memset(out, 0, sizeof *out);
    out->via = HK_AUTH_TOKEN;
    out->user_id = t.user_id;
    hk_strlcpy(out->login, t.user_login, sizeof out->login);
    out->role = role;
    out->token_id = t.id;
    return 0;
fail:
    hk_db_release(db);
    return rc;
}

/* ---- users ---------------------------------------------------------------------------- */

int hk_accounts_user_create(struct hk_app *app, const struct hk_user_new *in,
                            const struct hk_actor *actor, struct hk_user *out, struct hk_err *err)
{
    struct hk_acct_user_row r;
    struct hk_db *db = NULL;
    int rc;
    memset(&r, 0, sizeof r);
    if ((rc = login_normalise(in->login, r.login, sizeof r.login, err)) != 0)
        return rc;
    const char *dn = in->display_name && in->display_name[0] ? in->display_name : r.login;
    if ((rc = display_name_check(dn, err)) != 0)
        return rc;
    hk_strlcpy(r.display_name, dn, sizeof r.display_name);
    if (!role_valid(in->role))
        return hk_err_setf(err, HK_E(INVAL), "role",
                           "role: one of admin, manager, operator, agent, associate");
    hk_strlcpy(r.role, hk_role_name(in->role), sizeof r.role);
    if ((rc = password_check(in->password, err)) != 0)
        return rc;
    if ((rc = password_hash(app, in->password, r.password_hash, err)) != 0)
        return rc;

    int64_t now = hk_clock_now(&app->clock);
    r.created_at = r.updated_at = now;
    if ((rc = hk_db_acquire(app->store, &db, err)) != 0)
        goto fail;
    if ((rc = hk_db_begin(db, HK_TX_WRITE, err)) != 0)
        goto fail;
    rc = hk_acct_user_insert(db, &r, &r.id, err);
    if (rc == HK_E(CONFLICT)) {
        rc = hk_err_setf(err, HK_E(CONFLICT), "login", "login '%s' is already taken", r.login);
        goto fail;
    }
    if (rc != 0)
        goto fail;
    char target[48];
    target_of(target, sizeof target, "user", r.id);
    struct details d;
    det_init(&d);
    det_str(&d, "login", r.login);
    det_str(&d, "role", r.role);
    if ((rc = audit(db, now, actor, NULL, 0, "user.create", target, det_end(&d), err)) != 0)
        goto fail;
    if ((rc = hk_db_commit(db, err)) != 0)
        goto fail;
    hk_db_release(db);
    db = NULL;
    if (out && (rc = row_to_user(&r, out, err)) != 0)
        goto fail;
    sodium_memzero(r.password_hash, sizeof r.password_hash);
    return 0;
fail:
    if (db)
        hk_db_rollback(db);
    hk_db_release(db);
    sodium_memzero(r.password_hash, sizeof r.password_hash);
    return rc;
}

static int user_get(struct hk_app *app, int64_t id, const char *login, struct hk_user *out,
                    struct hk_err *err)
{
    struct hk_acct_user_row r;
    struct hk_db *db = NULL;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc != 0)
        return rc;
    rc = login ? hk_acct_user_by_login(db, login, &r, err) : hk_acct_user_by_id(db, id, &r, err);
    hk_db_release(db);
    if (rc == HK_E(NOTFOUND)) {
        if (login)
            return hk_err_set(err, rc, "no user with login '%s'", login);
        return hk_err_set(err, rc, "no user with id %lld", (long long)id);
    }
    if (rc != 0)
        return rc;
    rc = row_to_user(&r, out, err);
    sodium_memzero(r.password_hash, sizeof r.password_hash);
    return rc;
}

int hk_accounts_user_get(struct hk_app *app, int64_t id, struct hk_user *out, struct hk_err *err)
{
    return user_get(app, id, NULL, out, err);
}

int hk_accounts_user_get_by_login(struct hk_app *app, const char *login, struct hk_user *out,
                                  struct hk_err *err)
{
    if (!login || !*login)
        return hk_err_setf(err, HK_E(INVAL), "login", "login: required");
    if (!utf8_valid(login))
        return hk_err_set(err, HK_E(NOTFOUND), "no user with that login (not valid UTF-8)");
    char key[HK_LOGIN_MAX];
    login_key(login, key, sizeof key);
    return user_get(app, 0, key, out, err);
}

static int user_fetch(struct hk_db *db, const void *arg, int64_t cursor, size_t cap, void *rows,
                      size_t *n, struct hk_err *err)
{
    (void)arg;
    return hk_acct_user_list(db, cursor > 0 ? cursor : 0, cap, rows, n, err);
}

static int64_t user_row_id(const void *row)
{
    return ((const struct hk_acct_user_row *)row)->id;
}

static int user_from_row(const void *row, void *item, struct hk_err *err)
{
    return row_to_user(row, item, err);
}

int hk_accounts_user_list(struct hk_app *app, int64_t cursor, int limit, struct hk_user **out,
                          size_t *n, int64_t *next_cursor, struct hk_err *err)
{
    /* rows carry password hashes: wiped before they are freed */
    static const struct page_kind kind = {"users",
                                          sizeof(struct hk_acct_user_row),
                                          sizeof(struct hk_user),
                                          true,
                                          user_fetch,
                                          user_row_id,
                                          user_from_row};
    void *items;
    int rc = list_page(app, &kind, NULL, cursor, limit, &items, n, next_cursor, err);
    *out = rc == 0 ? items : NULL;
    return rc;
}

int hk_accounts_user_update(struct hk_app *app, int64_t id, const struct hk_user_patch *p,
                            const struct hk_actor *actor, struct hk_user *out, struct hk_err *err)
{
    struct hk_acct_user_row r;
    char new_hash[HK_ACCT_HASH_MAX] = "";
    struct hk_db *db = NULL;
    int rc;
    memset(&r, 0, sizeof r);

    if (!p->has_display_name && !p->has_role && !p->has_disabled && !p->password)
        return hk_err_set(err, HK_E(INVAL),
                          "nothing to change: give display_name, role, disabled or password");
    if (p->has_display_name &&
        (rc = display_name_check(p->display_name ? p->display_name : "", err)) != 0)
        return rc;
    if (p->has_role && !role_valid(p->role))
        return hk_err_setf(err, HK_E(INVAL), "role",
                           "role: one of admin, manager, operator, agent, associate");
    if (p->password) {
        if ((rc = password_check(p->password, err)) != 0)
            return rc;
        if ((rc = password_hash(app, p->password, new_hash, err)) != 0)
            return rc;
    }

    int64_t now = hk_clock_now(&app->clock);
    if ((rc = hk_db_acquire(app->store, &db, err)) != 0)
        goto fail;
    if ((rc = hk_db_begin(db, HK_TX_WRITE, err)) != 0)
        goto fail;
    rc = hk_acct_user_by_id(db, id, &r, err);
    if (rc == HK_E(NOTFOUND)) {
        rc = hk_err_set(err, rc, "no user with id %lld", (long long)id);
        goto fail;
    }
    if (rc != 0)
        goto fail;

    bool was_admin = strcmp(r.role, "admin") == 0 && !r.disabled;
    struct details d;
    det_init(&d);
    det_str(&d, "login", r.login);
    bool any = false, revoke = false;
    if (p->has_display_name) {
        const char *dn = p->display_name && p->display_name[0] ? p->display_name : r.login;
        if (strcmp(dn, r.display_name) != 0) {
            hk_strlcpy(r.display_name, dn, sizeof r.display_name);
            det_bool(&d, "display_name", true);
            any = true;
        }
    }
    if (p->has_role && strcmp(hk_role_name(p->role), r.role) != 0) {
        det_str(&d, "role_from", r.role);
        hk_strlcpy(r.role, hk_role_name(p->role), sizeof r.role);
        det_str(&d, "role", r.role);
        any = true;
    }
    if (p->has_disabled && p->disabled != r.disabled) {
        r.disabled = p->disabled;
        det_bool(&d, "disabled", r.disabled);
        revoke = revoke || r.disabled;
        any = true;
    }
    if (new_hash[0]) {
        hk_strlcpy(r.password_hash, new_hash, sizeof r.password_hash);
        det_bool(&d, "password", true);
        revoke = true;
        any = true;
    }
    bool is_admin = strcmp(r.role, "admin") == 0 && !r.disabled;
    if (was_admin && !is_admin) {
        int64_t admins = 0;
        if ((rc = hk_acct_admin_active_count(db, &admins, err)) != 0)
            goto fail;
        if (admins <= 1) {
            rc =
                hk_err_set(err, HK_E(CONFLICT),
                           "'%s' is the last active admin; make another user admin first", r.login);
            goto fail;
        }
    }
    if (any) {
        r.updated_at = now;
        if ((rc = hk_acct_user_update(db, &r, err)) != 0)
            goto fail;
        if (revoke) {
            const struct hk_principal *who = actor ? actor->who : NULL;
            int64_t keep = who && who->via == HK_AUTH_SESSION ? who->session_id : 0;
            if ((rc = hk_acct_sessions_revoke_user(db, r.id, keep, now, err)) != 0)
                goto fail;
        }
        char target[48];
        target_of(target, sizeof target, "user", r.id);
        if ((rc = audit(db, now, actor, NULL, 0, "user.update", target, det_end(&d), err)) != 0)
            goto fail;
    }
    if ((rc = hk_db_commit(db, err)) != 0)
        goto fail;
    hk_db_release(db);
    db = NULL;
    if (out && (rc = row_to_user(&r, out, err)) != 0)
        goto fail;
    sodium_memzero(&r, sizeof r);
    sodium_memzero(new_hash, sizeof new_hash);
    return 0;
fail:
    if (db)
        hk_db_rollback(db);
    hk_db_release(db);
    sodium_memzero(&r, sizeof r);
    sodium_memzero(new_hash, sizeof new_hash);
    return rc;
}

/* ---- API tokens ----------------------------------------------------------------------- */

static void token_from_row(const struct hk_acct_token_row *r, struct hk_api_token *t)
{
    memset(t, 0, sizeof *t);
    t->id = r->id;
    t->user_id = r->user_id;
    hk_strlcpy(t->user_login, r->user_login, sizeof t->user_login);
    hk_strlcpy(t->name, r->name, sizeof t->name);
    hk_strlcpy(t->prefix, r->prefix, sizeof t->prefix);
    t->created_at = r->created_at;
    t->last_used_at = r->last_used_at;
    t->revoked_at = r->revoked_at;
}

int hk_accounts_token_create(struct hk_app *app, int64_t user_id, const char *name,
                             const struct hk_actor *actor, struct hk_api_token *out, char *secret,
                             size_t size, struct hk_err *err)
{
    if (!name || !*name)
        return hk_err_setf(err, HK_E(INVAL), "name", "name: required");
    if (strlen(name) >= HK_NAME_MAX || has_control_chars(name))
        return hk_err_setf(err, HK_E(INVAL), "name",
                           "name: at most %d bytes of UTF-8, without control characters",
                           HK_NAME_MAX - 1);
    if (size < HK_SECRET_MAX)
        return hk_err_set(err, HK_E(INTERNAL), "token buffer too small");
    const struct hk_principal *who = actor ? actor->who : NULL;
    if (user_id <= 0)
        user_id = who ? who->user_id : 0;
    if (user_id <= 0)
        return hk_err_setf(err, HK_E(INVAL), "user_id", "user_id: name the user the token acts as");

    char tok[HK_SECRET_MAX];
    char hash[65];
    char prefix[HK_TOKEN_PREFIX_LEN + 1];
    hk_random_token(API_TOKEN_PREFIX, tok, sizeof tok);
    hk_token_hash(tok, strlen(tok), hash);
    hk_strlcpy(prefix, tok, sizeof prefix);

    int64_t now = hk_clock_now(&app->clock);
    struct hk_acct_user_row u;
    struct hk_acct_token_row t;
    struct hk_db *db = NULL;
    int rc;
    memset(&u, 0, sizeof u);
    if ((rc = hk_db_acquire(app->store, &db, err)) != 0)
        goto fail;
    if ((rc = hk_db_begin(db, HK_TX_WRITE, err)) != 0)
        goto fail;
    rc = hk_acct_user_by_id(db, user_id, &u, err);
    if (rc == HK_E(NOTFOUND)) {
        rc = hk_err_setf(err, HK_E(INVAL), "user_id", "user_id: no user with id %lld",
                         (long long)user_id);
        goto fail;
    }
    if (rc != 0)
        goto fail;
    if (u.disabled) {
        rc = hk_err_setf(err, HK_E(INVAL), "user_id", "user_id: user '%s' is disabled", u.login);
        goto fail;
    }
    memset(&t, 0, sizeof t);
    if ((rc = hk_acct_token_insert(db, user_id, name, hash, prefix, now, &t.id, err)) != 0)
        goto fail;
    char target[48];
    target_of(target, sizeof target, "token", t.id);
    struct details d;
    det_init(&d);
    det_str(&d, "name", name);
    det_str(&d, "user", u.login);
    det_int(&d, "user_id", u.id);
    det_str(&d, "prefix", prefix);
    if ((rc = audit(db, now, actor, NULL, 0, "token.create", target, det_end(&d), err)) != 0)
        goto fail;
    if ((rc = hk_db_commit(db, err)) != 0)
        goto fail;
    hk_db_release(db);
    if (out) {
        t.user_id = user_id;
        hk_strlcpy(t.user_login, u.login, sizeof t.user_login);
        hk_strlcpy(t.name, name, sizeof t.name);
        hk_strlcpy(t.prefix, prefix, sizeof t.prefix);
        t.created_at = now;
        token_from_row(&t, out);
    }
    hk_strlcpy(secret, tok, size);
    sodium_memzero(tok, sizeof tok);
    sodium_memzero(&u, sizeof u);
    return 0;
fail:
    if (db)
        hk_db_rollback(db);
    hk_db_release(db);
    sodium_memzero(tok, sizeof tok);
    sodium_memzero(&u, sizeof u);
    return rc;
}

static int token_fetch(struct hk_db *db, const void *arg, int64_t cursor, size_t cap, void *rows,
                       size_t *n, struct hk_err *err)
{
    (void)arg;
    return hk_acct_token_list(db, cursor > 0 ? cursor : 0, cap, rows, n, err);
}

static int64_t token_row_id(const void *row)
{
    return ((const struct hk_acct_token_row *)row)->id;
}

static int token_item_from_row(const void *row, void *item, struct hk_err *err)
{
    (void)err;
    token_from_row(row, item);
    return 0;
}

int hk_accounts_token_list(struct hk_app *app, int64_t cursor, int limit, struct hk_api_token **out,
                           size_t *n, int64_t *next_cursor, struct hk_err *err)
{
    static const struct page_kind kind = {"API tokens",
                                          sizeof(struct hk_acct_token_row),
                                          sizeof(struct hk_api_token),
                                          false,
                                          token_fetch,
                                          token_row_id,
                                          token_item_from_row};
    void *items;
    int rc = list_page(app, &kind, NULL, cursor, limit, &items, n, next_cursor, err);
    *out = rc == 0 ? items : NULL;
    return rc;
}

int hk_accounts_token_revoke(struct hk_app *app, int64_t id, const struct hk_actor *actor,
                             struct hk_err *err)
{
    int64_t now = hk_clock_now(&app->clock);
    struct hk_acct_token_row t;
    struct hk_db *db = NULL;
    bool changed = false;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc != 0)
        return rc;
    if ((rc = hk_db_begin(db, HK_TX_WRITE, err)) != 0)
        goto fail;
    rc = hk_acct_token_by_id(db, id, &t, err);
    if (rc == HK_E(NOTFOUND)) {
        rc = hk_err_set(err, rc, "no API token with id %lld", (long long)id);
        goto fail;
    }
    if (rc != 0)
        goto fail;
    if ((rc = hk_acct_token_revoke(db, id, now, &changed, err)) != 0)
        goto fail;
    if (changed) {
        char target[48];
        target_of(target, sizeof target, "token", id);
        struct details d;
        det_init(&d);
        det_str(&d, "name", t.name);
        det_str(&d, "user", t.user_login);
        det_str(&d, "prefix", t.prefix);
        if ((rc = audit(db, now, actor, NULL, 0, "token.revoke", target, det_end(&d), err)) != 0)
            goto fail;
    }
    rc = hk_db_commit(db, err);
fail:
    if (rc != 0)
        hk_db_rollback(db);
    hk_db_release(db);
    return rc;
}

/* ---- first start ---------------------------------------------------------------------- */

int hk_accounts_bootstrap_admin(struct hk_app *app, const char *password, char *pw_out, size_t size,
                                struct hk_err *err)
{
    struct hk_db *db = NULL;
    int64_t users = 0;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc != 0)
        return rc;
    rc = hk_acct_user_count(db, &users, err);
    hk_db_release(db);
    if (rc != 0)
        return rc;
    if (users > 0)
        return 0;

    char generated[64] = "";
    bool given = password && password[0];
    if (!given) {
        if (size < GENERATED_PASSWORD_LEN + 1)
            return hk_err_set(err, HK_E(INTERNAL), "password buffer too small");
        hk_random_token("", generated, sizeof generated);
        generated[GENERATED_PASSWORD_LEN] = '\0';
    }
    struct hk_user_new nu = {
        .login = "admin",
        .display_name = "Administrator",
        .role = HK_ROLE_ADMIN,
        .password = given ? password : generated,
    };
    struct hk_actor system = {0};
    rc = hk_accounts_user_create(app, &nu, &system, NULL, err);
    if (rc == HK_E(CONFLICT)) { /* another process created it first */
        hk_err_clear(err);
        sodium_memzero(generated, sizeof generated);
        return 0;
    }
    if (rc != 0) {
        sodium_memzero(generated, sizeof generated);
        return rc;
    }
    if (size > 0)
        hk_strlcpy(pw_out, given ? "" : generated, size);
    sodium_memzero(generated, sizeof generated);
    return 1;
}
