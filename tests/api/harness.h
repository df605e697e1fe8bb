/*
 * harness.h — API test harness: starts `huike serve` on a free port with a fresh database,
 * talks HTTP to it with libcurl, and stops it.
 *
 * Backend: HUIKE_TEST_BACKEND=sqlite (default) gives each server a fresh SQLite file in a fresh
 * temporary directory; HUIKE_TEST_BACKEND=postgres creates a fresh database in the throw-away
 * cluster whose URL is in HUIKE_TEST_PG_URL (or the file named by HUIKE_TEST_PG_URL_FILE), and
 * drops it on stop. ctest runs every API test once per backend.
 *
 * The huike binary is found through HUIKE_BIN (set by ctest).
 */
#ifndef HK_TEST_API_HARNESS_H
#define HK_TEST_API_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct ht_server {
    pid_t pid;
    int port;
    char base_url[64];  /* "http://127.0.0.1:PORT" */
    char dir[256];      /* temporary directory (data_dir, SQLite file, logs) */
    char db_url[512];   /* the --db value */
    char pg_dbname[64]; /* PostgreSQL database to drop on stop, "" for SQLite */
    char log_path[300]; /* the server's stderr (access log etc.) */
};

/**
 * Prepares a fresh database (migrated, with an admin "admin" / "admin-pass-1") and users
 * "manager1", "operator1", "agent1", "associate1" with role names as given and password
 * "<login>-pass", then starts `huike serve --port 0` and waits until it prints its URL.
 * extra_env: NULL or a NULL-terminated list of "KEY=VALUE" for the server's environment
 * (e.g. "HUIKE_SESSION_TTL=2"). Returns 0 or -1 (with a message on stderr).
 */
int ht_server_start(struct ht_server *s, const char *const *extra_env);
/** Sends SIGTERM, waits for exit, returns the exit status (or -1); cleans up the database. */
int ht_server_stop(struct ht_server *s);
/**
 * Sends sig to the server (SIGKILL: a crash; SIGTERM: a graceful stop) and waits for it to exit,
 * keeping its database and directory for ht_server_restart. Returns the exit status, 128+signal
 * when a signal ended it, or -1.
 */
int ht_server_signal(struct ht_server *s, int sig);
/** Starts `huike serve` again on the same database and directory after ht_server_signal. */
int ht_server_restart(struct ht_server *s, const char *const *extra_env);
/** Runs the huike CLI against the server's database: argv after "huike --db URL". Exit status. */
int ht_cli(struct ht_server *s, const char *const *args, char *out, size_t out_size);

struct ht_resp {
    long status;
    char *body; /* NUL-terminated (new; freed by ht_resp_free) */
    size_t body_len;
    json_t *json;  /* body parsed, or NULL */
    char *headers; /* raw response headers */
};

/**
 * One request. path is appended to base_url. body may be NULL. headers: NULL or a
 * NULL-terminated list of "Name: value". cookie: NULL or a "name=value" cookie to send.
 * Returns 0 when a response came back (whatever its status), -1 on transport failure.
 */
int ht_request(struct ht_server *s, const char *method, const char *path, const char *body,
               const char *const *headers, const char *cookie, struct ht_resp *out);
/** The value of response header name (case-insensitive) copied into buf, or NULL. */
const char *ht_resp_header(const struct ht_resp *r, const char *name, char *buf, size_t size);
void ht_resp_free(struct ht_resp *r);

/** Signs in; on success writes "huike_session=..." into cookie and returns 0. */
int ht_login(struct ht_server *s, const char *login, const char *password, char *cookie,
             size_t size);
/** error.code of a JSON error reply, or "" */
const char *ht_error_code(const struct ht_resp *r);

#endif
