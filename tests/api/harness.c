/*
 * harness.c — starts `huike serve` on a free port with a fresh database, talks HTTP to it with
 * libcurl, and stops it (see harness.h).
 *
 * One server, start to stop:
 *   1. a fresh temporary directory (mkdtemp under $TMPDIR or /tmp) holding data/ (--data-dir),
 *      huike.db (SQLite), server.log (the server's stderr) and stdout.log (its stdout);
 *   2. the database: SQLite file in that directory, or on PostgreSQL a fresh database
 *      "hk_api_<pid>_<n>" created with libpq in the cluster named by HUIKE_TEST_PG_URL /
 *      HUIKE_TEST_PG_URL_FILE and dropped (WITH (FORCE)) on stop;
 *   3. the accounts, all with the CLI before the server starts (the first command also
 *      migrates the new database):
 *        huike --db URL --data-dir DIR/data user add LOGIN --role ROLE --password-stdin
 *      with the password on stdin, for admin/admin-pass-1 (role admin) and manager1, operator1,
 *      agent1, associate1 with "<login>-pass". Since users then exist, the server's first-start
 *      bootstrap (HUIKE_ADMIN_PASSWORD) creates nothing;
 *   4. `huike --db URL --data-dir DIR/data --listen 127.0.0.1 --port 0 serve`, environment
 *      HUIKE_LOG_LEVEL=info and HUIKE_THREADS=4 plus the test's extra_env (which wins); its
 *      stdout is a file that is polled (up to 20 s) for "huike: listening on http://ADDR:PORT".
 *   On stop: SIGTERM, wait (30 s, then SIGKILL), drop the database, remove the directory.
 *   ht_server_signal ends the server without cleaning up (a crash with SIGKILL, or a graceful
 *   stop with SIGTERM) and ht_server_restart starts step 4 again on the same database. When
 *   the server did not exit 0 (or HUIKE_TEST_KEEP is set) the directory is kept and the tail of
 *   server.log is copied to stderr, so sanitizer reports show in the ctest output.
 *
 * Child processes are started with posix_spawn and an explicit environment, so the test
 * process's own environment is never modified.
 */
#define _XOPEN_SOURCE 700 /* nftw */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libpq-fe.h>

#include "harness.h"

extern char **environ;

/* A sanitizer build starting on a busy 2-CPU machine after an interrupted import (engine
   snapshot catch-up on PostgreSQL) has taken over 20 s; a real hang still fails. */
#define START_TIMEOUT_MS 90000
#define STOP_TIMEOUT_MS  30000
#define MAX_ENV          512

static const struct {
    const char *login, *role, *password;
} test_users[] = {
    {"admin", "admin", "admin-pass-1"},
    {"manager1", "manager", "manager1-pass"},
    {"operator1", "operator", "operator1-pass"},
    {"agent1", "agent", "agent1-pass"},
    {"associate1", "associate", "associate1-pass"},
};

/* ---- small helpers ------------------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void copy(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src);
}

static const char *huike_bin(void)
{
    const char *b = getenv("HUIKE_BIN");
    return b && *b ? b : "huike";
}

static bool backend_is_postgres(void)
{
    const char *b = getenv("HUIKE_TEST_BACKEND");
    return b && (strcmp(b, "postgres") == 0 || strcmp(b, "postgresql") == 0);
}

/* A growable byte buffer for curl callbacks and child output. */
struct buf {
    char *p;
    size_t len, cap;
};

static int buf_add(struct buf *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* ---- environment and processes ------------------------------------------------------------- */

static bool env_key_eq(const char *a, const char *b)
{
    size_t na = strcspn(a, "="), nb = strcspn(b, "=");
    return na == nb && strncmp(a, b, na) == 0;
}

static bool env_has_key(const char *const *list, const char *entry)
{
    for (size_t i = 0; list && list[i]; i++)
        if (env_key_eq(list[i], entry))
            return true;
    return false;
}

/* environ, minus what defaults or extra set, plus defaults (unless in extra), plus extra. */
static void build_env(const char **out, const char *const *defaults, const char *const *extra)
{
    size_t n = 0;
    for (char **e = environ; *e && n < MAX_ENV - 64; e++)
        if (!env_has_key(defaults, *e) && !env_has_key(extra, *e))
            out[n++] = *e;
    for (size_t i = 0; defaults && defaults[i] && n < MAX_ENV - 33; i++)
        if (!env_has_key(extra, defaults[i]))
            out[n++] = defaults[i];
    for (size_t i = 0; extra && extra[i] && n < MAX_ENV - 1; i++)
        out[n++] = extra[i];
    out[n] = NULL;
}

/* Starts argv with the given fds as stdin/stdout/stderr (-1: inherit). Returns pid or -1. */
static pid_t spawn(const char *const *argv, const char *const *envp, int in_fd, int out_fd,
                   int err_fd)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (in_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, in_fd, STDIN_FILENO);
    if (out_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
    if (err_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, err_fd, STDERR_FILENO);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, (char *const *)envp);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "harness: cannot start %s: %s\n", argv[0], strerror(rc));
        return -1;
    }
    return pid;
}

static int exit_status(int wstatus)
{
    return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
}

static void db_flags(const struct ht_server *s, char *data_dir, size_t size)
{
    snprintf(data_dir, size, "%s/data", s->dir);
}

/*
 * Runs `huike --db URL --data-dir DIR/data ARGS...` with stdin_text on stdin (NULL: /dev/null),
 * collecting stdout into out (may be NULL). stderr goes to the test's stderr. Exit status or -1.
 */
static int run_cli(struct ht_server *s, const char *const *args, const char *stdin_text, char *out,
                   size_t out_size)
{
    char data_dir[300];
    db_flags(s, data_dir, sizeof data_dir);
    const char *argv[64];
    size_t n = 0;
    argv[n++] = huike_bin();
    argv[n++] = "--db";
    argv[n++] = s->db_url;
    argv[n++] = "--data-dir";
    argv[n++] = data_dir;
    for (size_t i = 0; args[i] && n < 62; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    const char *defaults[] = {"HUIKE_LOG_LEVEL=warn", NULL};
    const char *envp[MAX_ENV];
    build_env(envp, defaults, NULL);

    int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, in_fd = -1, status = -1;
    if (stdin_text) {
        if (pipe(in_pipe) != 0)
            return -1;
        size_t len = strlen(stdin_text);
        /* Small texts fit the pipe buffer, so writing before the child starts cannot block. */
        if (write(in_pipe[1], stdin_text, len) != (ssize_t)len || write(in_pipe[1], "\n", 1) != 1)
            goto done;
        close(in_pipe[1]);
        in_pipe[1] = -1;
        in_fd = in_pipe[0];
    } else {
        in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    if (pipe(out_pipe) != 0)
        goto done;
    pid_t pid = spawn(argv, envp, in_fd, out_pipe[1], -1);
    close(out_pipe[1]);
    out_pipe[1] = -1;
    if (pid < 0)
        goto done;
    size_t used = 0;
    char chunk[4096];
    ssize_t r;
    while ((r = read(out_pipe[0], chunk, sizeof chunk)) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (out && out_size > 0) {
            size_t take = (size_t)r;
            if (take > out_size - 1 - used)
                take = out_size - 1 - used;
            memcpy(out + used, chunk, take);
            used += take;
        }
    }
    if (out && out_size > 0)
        out[used] = '\0';
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    status = exit_status(ws);
done:
    if (in_fd >= 0 && in_fd != in_pipe[0])
        close(in_fd);
    for (int i = 0; i < 2; i++) {
        if (in_pipe[i] >= 0)
            close(in_pipe[i]);
        if (out_pipe[i] >= 0)
            close(out_pipe[i]);
    }
    return status;
}

int ht_cli(struct ht_server *s, const char *const *args, char *out, size_t out_size)
{
    return run_cli(s, args, NULL, out, out_size);
}

/* ---- PostgreSQL ---------------------------------------------------------------------------- */

static int pg_cluster_url(char *out, size_t size)
{
    const char *u = getenv("HUIKE_TEST_PG_URL");
    if (u && *u) {
        copy(out, size, u);
        return 0;
    }
    const char *file = getenv("HUIKE_TEST_PG_URL_FILE");
    if (!file || !*file) {
        fprintf(stderr, "harness: set HUIKE_TEST_PG_URL or HUIKE_TEST_PG_URL_FILE\n");
        return -1;
    }
    FILE *f = fopen(file, "r");
    if (!f) {
        fprintf(stderr, "harness: cannot read %s: %s\n", file, strerror(errno));
        return -1;
    }
    if (!fgets(out, (int)size, f)) {
        fclose(f);
        fprintf(stderr, "harness: %s is empty\n", file);
        return -1;
    }
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

/* url with its database name replaced by dbname (postgresql://auth/db?query). */
static int pg_url_with_db(const char *url, const char *dbname, char *out, size_t size)
{
    const char *auth = strstr(url, "://");
    if (!auth) {
        fprintf(stderr, "harness: '%s' is not a postgresql:// URL\n", url);
        return -1;
    }
    auth += 3;
    size_t auth_len = strcspn(auth, "/?");
    const char *rest = auth + auth_len;
    const char *query = strchr(rest, '?');
    int n = snprintf(out, size, "%.*s/%s%s", (int)(auth - url + auth_len), url, dbname,
                     query ? query : "");
    return n > 0 && (size_t)n < size ? 0 : -1;
}

static int pg_exec(const char *cluster_url, const char *sql)
{
    PGconn *c = PQconnectdb(cluster_url);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "harness: cannot connect to %s: %s", cluster_url, PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    PGresult *r = PQexec(c, sql);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc != 0)
        fprintf(stderr, "harness: %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return rc;
}

static int pg_create(struct ht_server *s)
{
    char cluster[512];
    if (pg_cluster_url(cluster, sizeof cluster) != 0)
        return -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(s->pg_dbname, sizeof s->pg_dbname, "hk_api_%d_%lx", (int)getpid(),
             (unsigned long)((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) &
                 0xffffffffffUL);
    char sql[160];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", s->pg_dbname);
    if (pg_exec(cluster, sql) != 0) {
        s->pg_dbname[0] = '\0';
        return -1;
    }
    return pg_url_with_db(cluster, s->pg_dbname, s->db_url, sizeof s->db_url);
}

static void pg_drop(struct ht_server *s)
{
    if (!s->pg_dbname[0])
        return;
    char cluster[512], sql[160];
    if (pg_cluster_url(cluster, sizeof cluster) == 0) {
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", s->pg_dbname);
        pg_exec(cluster, sql);
    }
    s->pg_dbname[0] = '\0';
}

/* ---- temporary directory ------------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(const char *dir)
{
    if (dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void print_log_tail(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long from = size > 8192 ? size - 8192 : 0;
    fseek(f, from, SEEK_SET);
    char chunk[1024];
    size_t n;
    fprintf(stderr, "---- tail of %s ----\n", path);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, stderr);
    fprintf(stderr, "---- end of server log ----\n");
    fclose(f);
}

/* ---- server -------------------------------------------------------------------------------- */

/* Polls stdout_path for the listening line; returns the port or -1. */
static int wait_listening(struct ht_server *s, const char *stdout_path)
{
    int64_t deadline = now_ms() + START_TIMEOUT_MS;
    while (now_ms() < deadline) {
        int ws = 0;
        if (waitpid(s->pid, &ws, WNOHANG) == s->pid) {
            fprintf(stderr, "harness: huike serve exited early (status %d)\n", exit_status(ws));
            s->pid = 0;
            return -1;
        }
        FILE *f = fopen(stdout_path, "r");
        char line[512];
        while (f && fgets(line, sizeof line, f)) {
            const char *m = strstr(line, "huike: listening on http://");
            if (!m)
                continue;
            const char *colon = strrchr(m, ':');
            long port = colon ? strtol(colon + 1, NULL, 10) : 0;
            fclose(f);
            return port > 0 && port < 65536 ? (int)port : -1;
        }
        if (f)
            fclose(f);
        sleep_ms(20);
    }
    fprintf(stderr, "harness: huike serve did not print its URL within %d s\n",
            START_TIMEOUT_MS / 1000);
    return -1;
}

static void kill_and_reap(struct ht_server *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGKILL);
    while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    s->pid = 0;
}

/* Step 4: `huike serve` on s's database and directory; waits for its URL. 0 or -1. */
static int spawn_serve(struct ht_server *s, const char *const *extra_env)
{
    char data_dir[300], stdout_path[300];
    db_flags(s, data_dir, sizeof data_dir);
    snprintf(stdout_path, sizeof stdout_path, "%s/stdout.log", s->dir);
    const char *argv[] = {huike_bin(), "--db",   s->db_url, "--data-dir", data_dir, "--listen",
                          "127.0.0.1", "--port", "0",       "serve",      NULL};
    const char *defaults[] = {"HUIKE_LOG_LEVEL=info", "HUIKE_THREADS=4", NULL};
    const char *envp[MAX_ENV];
    build_env(envp, defaults, extra_env);
    int out_fd = open(stdout_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int err_fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t pid = -1;
    if (out_fd >= 0 && err_fd >= 0 && in_fd >= 0)
        pid = spawn(argv, envp, in_fd, out_fd, err_fd);
    if (out_fd >= 0)
        close(out_fd);
    if (err_fd >= 0)
        close(err_fd);
    if (in_fd >= 0)
        close(in_fd);
    if (pid < 0)
        return -1;
    s->pid = pid;
    s->port = wait_listening(s, stdout_path);
    if (s->port < 0)
        return -1;
    snprintf(s->base_url, sizeof s->base_url, "http://127.0.0.1:%d", s->port);
    return 0;
}

int ht_server_signal(struct ht_server *s, int sig)
{
    if (s->pid <= 0)
        return -1;
    kill(s->pid, sig);
    int64_t deadline = now_ms() + STOP_TIMEOUT_MS;
    int ws = 0;
    pid_t r = 0;
    while ((r = waitpid(s->pid, &ws, WNOHANG)) == 0 && now_ms() < deadline)
        sleep_ms(10);
    if (r != s->pid) {
        fprintf(stderr, "harness: huike serve did not exit within %d s; killing it\n",
                STOP_TIMEOUT_MS / 1000);
        kill_and_reap(s);
        return -1;
    }
    s->pid = 0;
    return WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : exit_status(ws);
}

int ht_server_restart(struct ht_server *s, const char *const *extra_env)
{
    if (s->pid > 0) {
        fprintf(stderr, "harness: restart: the server is still running\n");
        return -1;
    }
    return spawn_serve(s, extra_env);
}

int ht_server_start(struct ht_server *s, const char *const *extra_env)
{
    memset(s, 0, sizeof *s);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *tmp = getenv("TMPDIR");
    snprintf(s->dir, sizeof s->dir, "%s/huike-api-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(s->dir)) {
        fprintf(stderr, "harness: mkdtemp %s: %s\n", s->dir, strerror(errno));
        s->dir[0] = '\0';
        goto fail;
    }
    char data_dir[300];
    db_flags(s, data_dir, sizeof data_dir);
    if (mkdir(data_dir, 0700) != 0) {
        fprintf(stderr, "harness: mkdir %s: %s\n", data_dir, strerror(errno));
        goto fail;
    }
    snprintf(s->log_path, sizeof s->log_path, "%s/server.log", s->dir);

    if (backend_is_postgres()) {
        if (pg_create(s) != 0)
            goto fail;
    } else {
        snprintf(s->db_url, sizeof s->db_url, "%s/huike.db", s->dir);
    }

    for (size_t i = 0; i < sizeof test_users / sizeof test_users[0]; i++) {
        const char *args[] = {
            "user", "add", test_users[i].login, "--role", test_users[i].role, "--password-stdin",
            NULL};
        int st = run_cli(s, args, test_users[i].password, NULL, 0);
        if (st != 0) {
            fprintf(stderr, "harness: `huike user add %s --role %s` exited %d\n",
                    test_users[i].login, test_users[i].role, st);
            goto fail;
        }
    }

    if (spawn_serve(s, extra_env) != 0)
        goto fail;
    return 0;

fail:
    kill_and_reap(s);
    if (s->log_path[0])
        print_log_tail(s->log_path);
    pg_drop(s);
    remove_tree(s->dir);
    curl_global_cleanup();
    s->port = 0;
    return -1;
}

int ht_server_stop(struct ht_server *s)
{
    int status = -1;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        int64_t deadline = now_ms() + STOP_TIMEOUT_MS;
        int ws = 0;
        pid_t r = 0;
        while ((r = waitpid(s->pid, &ws, WNOHANG)) == 0 && now_ms() < deadline)
            sleep_ms(10);
        if (r == s->pid) {
            status = exit_status(ws);
            s->pid = 0;
        } else {
            fprintf(stderr, "harness: huike serve did not stop within %d s; killing it\n",
                    STOP_TIMEOUT_MS / 1000);
            kill_and_reap(s);
        }
    }
    pg_drop(s);
    const char *keep = getenv("HUIKE_TEST_KEEP");
    if (status != 0 || (keep && *keep && strcmp(keep, "0") != 0)) {
        if (status != 0) {
            fprintf(stderr, "harness: huike serve exited with status %d\n", status);
            print_log_tail(s->log_path);
        }
        fprintf(stderr, "harness: kept %s\n", s->dir);
    } else {
        remove_tree(s->dir);
    }
    curl_global_cleanup();
    return status;
}

/* ---- HTTP ---------------------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
    return buf_add(userdata, data, size * n) == 0 ? size * n : 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *userdata)
{
    struct buf *b = userdata;
    /* Keep only the final response's headers (not those of a 100 Continue). */
    if (size * n >= 5 && strncmp(data, "HTTP/", 5) == 0)
        b->len = 0;
    return buf_add(b, data, size * n) == 0 ? size * n : 0;
}

static bool has_header(const char *const *headers, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; headers && headers[i]; i++)
        if (strncasecmp(headers[i], name, n) == 0 && headers[i][n] == ':')
            return true;
    return false;
}

int ht_request(struct ht_server *s, const char *method, const char *path, const char *body,
               const char *const *headers, const char *cookie, struct ht_resp *out)
{
    memset(out, 0, sizeof *out);
    struct buf rb = {0}, hb = {0};
    struct curl_slist *hl = NULL;
    int rc = -1;
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    char url[2048];
    snprintf(url, sizeof url, "%s%s", s->base_url, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
        if (!has_header(headers, "Content-Type"))
            hl = curl_slist_append(hl, "Content-Type: application/json");
    }
    hl = curl_slist_append(hl, "Expect:"); /* no 100-continue round trip */
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    if (cookie)
        curl_easy_setopt(c, CURLOPT_COOKIE, cookie);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &rb);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hb);

    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        fprintf(stderr, "harness: %s %s: %s\n", method, path, curl_easy_strerror(cc));
        goto done;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    if (!rb.p && buf_add(&rb, "", 0) != 0)
        goto done;
    if (!hb.p && buf_add(&hb, "", 0) != 0)
        goto done;
    out->body = rb.p;
    out->body_len = rb.len;
    out->headers = hb.p;
    rb.p = hb.p = NULL;
    out->json = out->body_len ? json_loadb(out->body, out->body_len, 0, NULL) : NULL;
    rc = 0;
done:
    free(rb.p);
    free(hb.p);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return rc;
}

/* The n-th (0-based) value of header name in raw headers, copied into buf; NULL if none. */
static const char *header_nth(const char *headers, const char *name, int nth, char *buf,
                              size_t size)
{
    size_t nl = strlen(name);
    for (const char *line = headers; line && *line;) {
        size_t len = strcspn(line, "\r\n");
        if (len > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':' && nth-- == 0) {
            const char *v = line + nl + 1;
            size_t vl = len - nl - 1;
            while (vl > 0 && (*v == ' ' || *v == '\t')) {
                v++;
                vl--;
            }
            while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                vl--;
            snprintf(buf, size, "%.*s", (int)vl, v);
            return buf;
        }
        line += len;
        while (*line == '\r' || *line == '\n')
            line++;
    }
    return NULL;
}

const char *ht_resp_header(const struct ht_resp *r, const char *name, char *buf, size_t size)
{
    return header_nth(r->headers, name, 0, buf, size);
}

void ht_resp_free(struct ht_resp *r)
{
    free(r->body);
    free(r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

int ht_login(struct ht_server *s, const char *login, const char *password, char *cookie,
             size_t size)
{
    json_t *j = json_pack("{s:s, s:s}", "login", login, "password", password);
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!body)
        return -1;
    struct ht_resp r;
    int rc = ht_request(s, "POST", "/api/v1/auth/login", body, NULL, NULL, &r);
    free(body);
    if (rc != 0)
        return -1;
    rc = -1;
    char v[1024];
    for (int i = 0; r.status == 200 && header_nth(r.headers, "Set-Cookie", i, v, sizeof v); i++) {
        if (strncmp(v, "huike_session=", 14) != 0)
            continue;
        v[strcspn(v, ";")] = '\0';
        if ((size_t)snprintf(cookie, size, "%s", v) < size)
            rc = 0;
        break;
    }
    if (rc != 0)
        fprintf(stderr, "harness: login as %s failed: status %ld %s\n", login, r.status,
                r.body ? r.body : "");
    ht_resp_free(&r);
    return rc;
}

const char *ht_error_code(const struct ht_resp *r)
{
    const char *code =
        json_string_value(json_object_get(json_object_get(r->json, "error"), "code"));
    return code ? code : "";
}
