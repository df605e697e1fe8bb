/*
 * bench_preview_http.c — segment and RFM preview latency over HTTP on a real store. Not a test:
 *
 *   bench_preview_http HUIKE DB [N]
 *
 * starts `HUIKE --db DB --now 2025-01-01T00:00:00Z --port 0 serve` (stdout to a file under
 * /tmp, the administrator's password from HUIKE_ADMIN_PASSWORD, default bench-admin-pass-1),
 * reports the time until it listens (process start + migrate check + engine cold start), signs
 * in, then sends N `POST /api/v1/segments/preview` per expression and N/4 `POST
 * /api/v1/rfm/preview` on one keep-alive connection (libcurl), and prints p50 / p95 / max of
 * the wall time per request as the client sees it. Stops the server with SIGTERM.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t server; /* the huike serve started here, stopped on every way out */

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct buf {
    char *p;
    size_t n;
};

static size_t on_data(char *d, size_t sz, size_t nm, void *ctx)
{
    struct buf *b = ctx;
    size_t k = sz * nm;
    char *q = realloc(b->p, b->n + k + 1);
    if (!q)
        return 0;
    memcpy(q + b->n, d, k);
    b->n += k;
    q[b->n] = '\0';
    b->p = q;
    return k;
}

/* POSTs body to base + path; returns the status (body in *out, reset first). */
static long post(CURL *c, const char *base, const char *path, const char *body, struct buf *out)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, path);
    out->n = 0;
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (curl_easy_perform(c) != CURLE_OK)
        return -1;
    long st = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    return st;
}

static void measure(CURL *c, const char *base, const char *path, const char *body, int n,
                    const char *label)
{
    struct buf out = {NULL, 0};
    double *t = malloc(sizeof(double) * (size_t)n);
    long st = 0;
    for (int i = 0; i < n; i++) {
        double t0 = now_ms();
        st = post(c, base, path, body, &out);
        t[i] = now_ms() - t0;
        if (st != 200) {
            fprintf(stderr, "%s: status %ld %s\n", label, st, out.p ? out.p : "");
            kill(server, SIGTERM);
            waitpid(server, NULL, 0);
            exit(1);
        }
    }
    qsort(t, (size_t)n, sizeof(double), cmp_d);
    char head[96] = "";
    if (out.p)
        snprintf(head, sizeof head, "%.80s", out.p);
    printf("%-70s p50 %6.2f ms  p95 %6.2f ms  max %6.2f ms  (%d requests)  %s...\n", label,
           t[n / 2], t[(n * 95) / 100], t[n - 1], n, head);
    printf("RESULT huike-http %s p50 %.6f\n", label, t[n / 2] / 1e3);
    free(t);
    free(out.p);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s HUIKE DB [N]\n", argv[0]);
        return 2;
    }
    int n = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 200;
    if (n < 1)
        n = 1;
    const char *pw = getenv("HUIKE_ADMIN_PASSWORD");
    if (!pw) {
        pw = "bench-admin-pass-1";
        setenv("HUIKE_ADMIN_PASSWORD", pw, 1);
    }
    char log[64];
    snprintf(log, sizeof log, "/tmp/hk-bench-serve-%d.log", (int)getpid());
    double t0 = now_ms();
    pid_t pid = fork();
    server = pid;
    if (pid == 0) {
        if (!freopen(log, "w", stdout))
            _exit(127);
        execl(argv[1], argv[1], "--db", argv[2], "--now", "2025-01-01T00:00:00Z", "--listen",
              "127.0.0.1", "--port", "0", "--log-level", "warn", "serve", (char *)NULL);
        _exit(127);
    }
    int port = 0;
    while (!port && now_ms() - t0 < 300000) {
        int ws;
        if (waitpid(pid, &ws, WNOHANG) == pid) {
            fprintf(stderr, "huike serve exited early; see %s\n", log);
            return 1;
        }
        FILE *f = fopen(log, "r");
        char line[512];
        while (f && fgets(line, sizeof line, f)) {
            const char *m = strstr(line, "listening on http://");
            if (m)
                port = (int)strtol(strrchr(m, ':') + 1, NULL, 10);
        }
        if (f)
            fclose(f);
        if (!port)
            usleep(20000);
    }
    if (!port) {
        fprintf(stderr, "huike serve did not listen; see %s\n", log);
        kill(pid, SIGTERM);
        return 1;
    }
    printf("huike serve: listening %.2f s after exec (includes the engine cold start)\n",
           (now_ms() - t0) / 1e3);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    struct buf out = {NULL, 0};
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_COOKIEFILE, "");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    char login[256];
    snprintf(login, sizeof login, "{\"login\": \"admin\", \"password\": \"%s\"}", pw);
    long st = post(c, base, "/api/v1/auth/login", login, &out);
    if (st != 200) {
        fprintf(stderr, "login: %ld %s\n", st, out.p ? out.p : "");
        kill(pid, SIGTERM);
        return 1;
    }
    static const char *const exprs[] = {
        "{\"expression\": \"recency_days > 90 and aov > 500\"}",
        "{\"expression\": \"bought(category=\\\"phones\\\", within=31d) and not "
        "bought(category=\\\"phone_accessories\\\")\"}",
        "{\"expression\": \"bought(category=\\\"phones\\\", min_count=2) and r_score >= 4\"}",
        "{\"expression\": \"rfm_segment = \\\"重要挽留客户\\\" and channel in (\\\"taobao\\\", "
        "\\\"douyin\\\")\"}",
        "{\"expression\": \"frequency >= 1\"}",
    };
    for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++)
        measure(c, base, "/api/v1/segments/preview", exprs[i], n, exprs[i] + 16);
    measure(c, base, "/api/v1/rfm/preview",
            "{\"mode\": \"thresholds\", \"thresholds\": {\"r_days\": [30, 90, 180, 365], \"f\": "
            "[2, 3, 5, 8], \"m_yuan\": [200, 500, 1000, 3000]}}",
            n / 4 > 0 ? n / 4 : 1, "rfm/preview thresholds");
    measure(c, base, "/api/v1/rfm/preview", "{\"mode\": \"quintile\"}", n / 4 > 0 ? n / 4 : 1,
            "rfm/preview quintiles");
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(out.p);
    kill(pid, SIGTERM);
    int ws;
    waitpid(pid, &ws, 0);
    unlink(log);
    return 0;
}
