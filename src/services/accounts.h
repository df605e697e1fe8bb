/*
 * accounts.h — staff accounts, roles, sign-in sessions, API tokens, login throttling and the
 * audit trail of all of these.
 *
 * Roles are a bitmask so a route can name the set it allows. PII (phone, address, real name) is
 * shown unmasked only to roles for which hk_role_may_read_pii() is true.
 *
 * Secrets: passwords are stored as argon2id hashes (libsodium crypto_pwhash_str); session ids
 * and API tokens are random 256-bit values given to the client once and stored only as their
 * BLAKE2b hash. None of them is ever logged.
 *
 * Every function takes `now` from app->clock; none reads the system time.
 */
#ifndef HK_SERVICES_ACCOUNTS_H
#define HK_SERVICES_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_app;
struct hk_err;

enum hk_role {
    HK_ROLE_ADMIN = 1 << 0,     /* everything, including users and tokens */
    HK_ROLE_MANAGER = 1 << 1,   /* shop owner/manager: dashboards, all customer data */
    HK_ROLE_OPERATOR = 1 << 2,  /* segments, campaigns, coupons, points */
    HK_ROLE_AGENT = 1 << 3,     /* customer service: tickets, chats, knowledge base */
    HK_ROLE_ASSOCIATE = 1 << 4, /* sales associate (导购): own customers, tasks */
};
#define HK_ROLES_PUBLIC 0 /* a route open without authentication */
#define HK_ROLES_ALL                                                                               \
    (HK_ROLE_ADMIN | HK_ROLE_MANAGER | HK_ROLE_OPERATOR | HK_ROLE_AGENT | HK_ROLE_ASSOCIATE)

/** "admin", "manager", ... for a single role bit; "" otherwise. */
const char *hk_role_name(int role);
/** Parses a role name; returns 0 and the bit, or HK_E(INVAL) naming the accepted roles. */
int hk_role_parse(const char *name, int *out, struct hk_err *err);
/** Whether the role may read unmasked PII (admin and manager). */
bool hk_role_may_read_pii(int role);

#define HK_LOGIN_MAX  64
#define HK_NAME_MAX   128
#define HK_SECRET_MAX 96 /* session ids and API tokens as given to clients, with NUL */

struct hk_user {
    int64_t id;
    char login[HK_LOGIN_MAX];
    char display_name[HK_NAME_MAX];
    int role; /* one HK_ROLE_* bit */
    bool disabled;
    int64_t created_at, updated_at, last_login_at; /* 0 when never */
};

enum hk_auth_via { HK_AUTH_NONE = 0, HK_AUTH_SESSION, HK_AUTH_TOKEN, HK_AUTH_CLI };

/** Who is acting: the authenticated caller of a request, or the CLI operator. */
struct hk_principal {
    enum hk_auth_via via;
    int64_t user_id; /* 0 for the CLI */
    char login[HK_LOGIN_MAX];
    int role;           /* one HK_ROLE_* bit (the CLI acts as admin) */
    int64_t session_id; /* when via == HK_AUTH_SESSION */
    int64_t token_id;   /* when via == HK_AUTH_TOKEN */
};

/** Where an action came from, for the audit log. Any field may be NULL. */
struct hk_actor {
    const struct hk_principal *who; /* NULL: the system itself */
    const char *ip;
    const char *req_id;
};

/**
 * Resolves a session cookie value to its principal. HK_E(UNAUTHENTICATED) when the session is
 * unknown, expired, revoked or its user disabled. Updates nothing on the hot path except the
 * session's last-seen time at most once a minute.
 */
int hk_auth_session(struct hk_app *app, const char *session, struct hk_principal *out,
                    struct hk_err *err);
/** Resolves a bearer API token to its principal; HK_E(UNAUTHENTICATED) when unknown or revoked. */
int hk_auth_token(struct hk_app *app, const char *token, struct hk_principal *out,
                  struct hk_err *err);

/* ---- sign-in ---------------------------------------------------------------------------- */

#define HK_SESSION_COOKIE "huike_session" /* the cookie that carries a session id */
#define HK_PASSWORD_MIN   8               /* characters (UTF-8 code points) */
#define HK_PASSWORD_MAX   1024            /* bytes */

/** What a successful sign-in yields. session is a secret: give it to the client, never log it. */
struct hk_login_result {
    struct hk_user user;
    char session[HK_SECRET_MAX];
    int64_t session_id;
    int64_t expires_at;
};

/**
 * Signs in with login and password. Throttling is checked first: when the login has had
 * cfg.login_max_fail failures within cfg.login_window, or the address (actor->ip)
 * cfg.login_max_fail_ip, returns HK_E(THROTTLED) without looking at the password, and writes the
 * seconds until a retry may succeed to *retry_after_s (may be NULL). Wrong login or password:
 * HK_E(UNAUTHENTICATED) "wrong login or password" (a failure is recorded; an unknown login costs
 * the same time as a known one). The right password of a disabled account: UNAUTHENTICATED
 * "this account is disabled" (audited, not counted as a failure).
 * On success clears the login's failures, creates a session that expires cfg.session_ttl from
 * now and fills *out. Every outcome is audited (auth.login / auth.login_failed). user_agent may
 * be NULL. Slow on purpose (argon2id); thread-safe.
 */
int hk_accounts_login(struct hk_app *app, const char *login, const char *password,
                      const char *user_agent, const struct hk_actor *actor,
                      struct hk_login_result *out, int64_t *retry_after_s, struct hk_err *err);

/**
 * Signs out: revokes the session actor->who signed in with (a no-op for API tokens and the CLI)
 * and audits auth.logout.
 */
int hk_accounts_logout(struct hk_app *app, const struct hk_actor *actor, struct hk_err *err);

/* ---- users ------------------------------------------------------------------------------ */

/** A new account. display_name NULL or "": the login. */
struct hk_user_new {
    const char *login; /* 1-63 bytes, no spaces or control characters; ASCII is lower-cased */
    const char *display_name;
    int role;             /* one HK_ROLE_* bit */
    const char *password; /* at least HK_PASSWORD_MIN characters */
};

/** Changes to an account: each has_* says whether that field changes. */
struct hk_user_patch {
    bool has_display_name, has_role, has_disabled;
    const char *display_name;
    int role;
    bool disabled;
    const char *password; /* NULL: unchanged */
};

/**
 * Creates a user; *out (may be NULL) receives it. HK_E(CONFLICT) when the login is taken,
 * HK_E(INVAL) naming the field for a bad login, role, name or password. Audited (user.create).
 */
int hk_accounts_user_create(struct hk_app *app, const struct hk_user_new *in,
                            const struct hk_actor *actor, struct hk_user *out, struct hk_err *err);
/** The user with id (HK_E(NOTFOUND) otherwise). */
int hk_accounts_user_get(struct hk_app *app, int64_t id, struct hk_user *out, struct hk_err *err);
/** The user with login (normalised as on create; HK_E(NOTFOUND) otherwise). */
int hk_accounts_user_get_by_login(struct hk_app *app, const char *login, struct hk_user *out,
                                  struct hk_err *err);
/**
 * Users in id order with id > cursor (0: from the first), at most limit (1-500; other values
 * become 50). *out is a new array (caller frees; NULL when *n is 0); *next_cursor is the cursor
 * of the next page, or 0 when this is the last.
 */
int hk_accounts_user_list(struct hk_app *app, int64_t cursor, int limit, struct hk_user **out,
                          size_t *n, int64_t *next_cursor, struct hk_err *err);
/**
 * Applies patch to user id; *out (may be NULL) receives the result. Disabling a user or changing
 * their password revokes their sessions (except the actor's own). HK_E(CONFLICT) when the change
 * would leave no active admin. Audited (user.update, naming the fields changed).
 */
int hk_accounts_user_update(struct hk_app *app, int64_t id, const struct hk_user_patch *patch,
                            const struct hk_actor *actor, struct hk_user *out, struct hk_err *err);

/* ---- API tokens ------------------------------------------------------------------------- */

#define HK_TOKEN_PREFIX_LEN 10 /* "hk_" and 7 characters, kept for display */

struct hk_api_token {
    int64_t id, user_id;
    char user_login[HK_LOGIN_MAX];
    char name[HK_NAME_MAX];
    char prefix[HK_TOKEN_PREFIX_LEN + 1];
    int64_t created_at, last_used_at, revoked_at; /* 0 when never */
};

/**
 * Creates an API token acting as user_id (0: the actor's own user; HK_E(INVAL) when the actor has
 * none, e.g. the CLI). The token ("hk_" + 43 characters) is written to secret (size >=
 * HK_SECRET_MAX) and is never retrievable again; only its hash and prefix are stored. *out (may
 * be NULL) receives the record. Audited (token.create).
 */
int hk_accounts_token_create(struct hk_app *app, int64_t user_id, const char *name,
                             const struct hk_actor *actor, struct hk_api_token *out, char *secret,
                             size_t size, struct hk_err *err);
/** Tokens (revoked ones too) in id order; paging as hk_accounts_user_list. *out new. */
int hk_accounts_token_list(struct hk_app *app, int64_t cursor, int limit, struct hk_api_token **out,
                           size_t *n, int64_t *next_cursor, struct hk_err *err);
/** Revokes token id (idempotent; HK_E(NOTFOUND) when there is none). Audited (token.revoke). */
int hk_accounts_token_revoke(struct hk_app *app, int64_t id, const struct hk_actor *actor,
                             struct hk_err *err);

/* ---- audit log -------------------------------------------------------------------------- */

struct hk_audit_entry {
    int64_t id, at;
    int64_t actor_id;         /* 0: the system or the CLI */
    char actor[HK_LOGIN_MAX]; /* login, "cli", "system" or "anonymous" */
    char action[64];          /* "auth.login", "user.update", ... */
    char target[128];         /* "user:12", "token:3", or "" */
    char ip[64];
    char request_id[64];
    char details[1024]; /* a JSON object, never secrets */
};

/**
 * Appends an entry for action on target (may be NULL) by actor; details_json NULL or a JSON
 * object text without secrets or PII. For other services' audit records.
 */
int hk_accounts_audit_record(struct hk_app *app, const struct hk_actor *actor, const char *action,
                             const char *target, const char *details_json, struct hk_err *err);
/**
 * Entries newest first with id < cursor (0: from the newest), only `action` when non-NULL and
 * non-empty, at most limit (1-500; other values become 50). *out new (caller frees);
 * *next_cursor for the next (older) page, or 0 when this is the last.
 */
int hk_accounts_audit_list(struct hk_app *app, int64_t cursor, int limit, const char *action,
                           struct hk_audit_entry **out, size_t *n, int64_t *next_cursor,
                           struct hk_err *err);

/**
 * First start: when the database has no user at all, creates the admin account "admin" with
 * password (when non-NULL and non-empty, e.g. from HUIKE_ADMIN_PASSWORD) or a random one, which
 * is written to pw_out (size >= 32) so the caller can print it once. Returns 1 when the account
 * was created, 0 when users already existed (pw_out untouched), or a negative HK_E code.
 */
int hk_accounts_bootstrap_admin(struct hk_app *app, const char *password, char *pw_out, size_t size,
                                struct hk_err *err);

#endif
