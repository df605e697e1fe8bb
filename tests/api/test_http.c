/*
 * test_http.c — the HTTP layer end to end against a real `huike serve`: health, request ids,
 * JSON errors (404, 405 + Allow, 413, malformed JSON), authentication and roles in the router,
 * the CSRF origin check, graceful shutdown with a request in flight, and the access log.
 *
 * Most tests share one server (group setup); those that need their own configuration or stop
 * the server start their own.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

/* ---- helpers ------------------------------------------------------------------------------- */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *expected_backend(void)
{
    const char *b = getenv("HUIKE_TEST_BACKEND");
    return b && strcmp(b, "postgres") == 0 ? "postgresql" : "sqlite";
}

static void assert_json_error(const struct ht_resp *r, long status, const char *code)
{
    if (r->status != status || strcmp(ht_error_code(r), code) != 0)
        fprintf(stderr, "expected %ld %s, got %ld: %s\n", status, code, r->status,
                r->body ? r->body : "");
    assert_int_equal(r->status, status);
    assert_string_equal(ht_error_code(r), code);
    json_t *msg = json_object_get(json_object_get(r->json, "error"), "message");
    assert_true(json_is_string(msg));
    assert_true(strlen(json_string_value(msg)) > 0);
    char ct[128];
    assert_non_null(ht_resp_header(r, "Content-Type", ct, sizeof ct));
    assert_string_equal(ct, "application/json; charset=utf-8");
}

static int connect_tcp(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

/* Reads one HTTP response (headers and Content-Length body, or until EOF) within timeout_ms. */
static size_t read_response(int fd, char *buf, size_t size, int timeout_ms)
{
    size_t len = 0;
    int waited = 0;
    while (len < size - 1 && waited < timeout_ms) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, 100);
        if (pr == 0) {
            waited += 100;
            continue;
        }
        ssize_t r = recv(fd, buf + len, size - 1 - len, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = '\0';
        const char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strstr(buf, "Content-Length:");
        if (!cl)
            cl = strstr(buf, "content-length:");
        if (end && cl && cl < end && len >= (size_t)(end + 4 - buf) + strtoul(cl + 15, NULL, 10))
            break;
    }
    buf[len] = '\0';
    return len;
}

static int count_lines_with(const char *path, const char *needle, char *all, size_t all_size)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(all, 1, all_size - 1, f);
    all[n] = '\0';
    fclose(f);
    int count = 0;
    for (const char *line = all; *line;) {
        size_t len = strcspn(line, "\n");
        const char *hit = strstr(line, needle);
        if (hit && hit < line + len)
            count++;
        line += len;
        if (*line == '\n')
            line++;
    }
    return count;
}

/* ---- shared server ------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    struct ht_server *s = calloc(1, sizeof *s);
    if (!s || ht_server_start(s, NULL) != 0) {
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int group_teardown(void **state)
{
    struct ht_server *s = *state;
    int rc = ht_server_stop(s);
    free(s);
    return rc == 0 ? 0 : -1;
}

static void health__reports_ok_with_schema_version_and_backend(void **state)
{
    struct ht_server *s = *state;
    struct ht_resp r;
    assert_int_equal(ht_request(s, "GET", "/api/v1/health", NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(r.json);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "ok");
    json_t *store = json_object_get(r.json, "store");
    assert_string_equal(json_string_value(json_object_get(store, "backend")), expected_backend());
    assert_true(json_is_true(json_object_get(store, "reachable")));
    json_int_t v = json_integer_value(json_object_get(store, "schema_version"));
    assert_true(v >= 1);
    assert_int_equal(v, json_integer_value(json_object_get(store, "latest_version")));
    assert_true(json_is_string(json_object_get(r.json, "version")));
    assert_true(json_is_string(json_object_get(r.json, "revision")));
    assert_true(json_is_string(json_object_get(r.json, "time")));

    char h[256];
    assert_non_null(ht_resp_header(&r, "Content-Type", h, sizeof h));
    assert_string_equal(h, "application/json; charset=utf-8");
    assert_non_null(ht_resp_header(&r, "Cache-Control", h, sizeof h));
    assert_string_equal(h, "no-store");
    assert_non_null(ht_resp_header(&r, "X-Content-Type-Options", h, sizeof h));
    assert_string_equal(h, "nosniff");
    assert_non_null(ht_resp_header(&r, "X-Frame-Options", h, sizeof h));
    assert_string_equal(h, "DENY");
    ht_resp_free(&r);

    /* HEAD is answered by the GET route, without a body. */
    assert_int_equal(ht_request(s, "HEAD", "/api/v1/health", NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    ht_resp_free(&r);
}

static void request_id__generated_when_absent_and_echoed_when_sane(void **state)
{
    struct ht_server *s = *state;
    struct ht_resp r;
    char id[128], id2[128];

    assert_int_equal(ht_request(s, "GET", "/api/v1/health", NULL, NULL, NULL, &r), 0);
    assert_non_null(ht_resp_header(&r, "X-Request-Id", id, sizeof id));
    assert_true(strlen(id) >= 8);
    ht_resp_free(&r);
    assert_int_equal(ht_request(s, "GET", "/api/v1/health", NULL, NULL, NULL, &r), 0);
    assert_non_null(ht_resp_header(&r, "X-Request-Id", id2, sizeof id2));
    assert_string_not_equal(id, id2);
    ht_resp_free(&r);

    const char *sane[] = {"X-Request-Id: trace-42_abc", NULL};
    assert_int_equal(ht_request(s, "GET", "/api/v1/nope", NULL, sane, NULL, &r), 0);
    assert_non_null(ht_resp_header(&r, "X-Request-Id", id, sizeof id));
    assert_string_equal(id, "trace-42_abc");
    ht_resp_free(&r);

    const char *insane[] = {"X-Request-Id: has spaces; and=stuff", NULL};
    assert_int_equal(ht_request(s, "GET", "/api/v1/health", NULL, insane, NULL, &r), 0);
    assert_non_null(ht_resp_header(&r, "X-Request-Id", id, sizeof id));
    assert_null(strchr(id, ' '));
    assert_true(strlen(id) >= 8);
    ht_resp_free(&r);
}

static void unknown_path__is_404_json_error(void **state)
{
    struct ht_server *s = *state;
    struct ht_resp r;
    assert_int_equal(ht_request(s, "GET", "/api/v1/no-such-thing?x=1", NULL, NULL, NULL, &r), 0);
    assert_json_error(&r, 404, "not_found");
    ht_resp_free(&r);
    assert_int_equal(ht_request(s, "GET", "/api/v1/health/", NULL, NULL, NULL, &r), 0);
    assert_json_error(&r, 404, "not_found");
    ht_resp_free(&r);
}

static void known_path_wrong_method__is_405_with_allow(void **state)
{
    struct ht_server *s = *state;
    struct ht_resp r;
    char allow[128];
    assert_int_equal(ht_request(s, "GET", "/api/v1/auth/login", NULL, NULL, NULL, &r), 0);
    assert_json_error(&r, 405, "method_not_allowed");
    assert_non_null(ht_resp_header(&r, "Allow", allow, sizeof allow));
    assert_string_equal(allow, "POST");
    ht_resp_free(&r);

    assert_int_equal(ht_request(s, "DELETE", "/api/v1/users", NULL, NULL, NULL, &r), 0);
    assert_json_error(&r, 405, "method_not_allowed");
    assert_non_null(ht_resp_header(&r, "Allow", allow, sizeof allow));
    assert_non_null(strstr(allow, "GET"));
    assert_non_null(strstr(allow, "POST"));
    ht_resp_free(&r);

    /* The method is checked before authentication: no 401 for a route that does not exist. */
    assert_int_equal(ht_request(s, "PUT", "/api/v1/users/7", "{}", NULL, NULL, &r), 0);
    assert_json_error(&r, 405, "method_not_allowed");
    assert_non_null(ht_resp_header(&r, "Allow", allow, sizeof allow));
    assert_non_null(strstr(allow, "PATCH"));
    ht_resp_free(&r);
}

static void malformed_json__is_400_naming_line_and_column(void **state)
{
    struct ht_server *s = *state;
    struct ht_resp r;
    const char *bad = "{\"login\": \"admin\",\n \"password\": }";
    assert_int_equal(ht_request(s, "POST", "/api/v1/auth/login", bad, NULL, NULL, &r), 0);
    assert_json_error(&r, 400, "malformed_json");
    const char *msg =
        json_string_value(json_object_get(json_object_get(r.json, "error"), "message"));
    assert_non_null(strstr(msg, "line 2"));
    assert_non_null(strstr(msg, "column"));
    ht_resp_free(&r);
}

static void protected_route_without_credentials__is_401(void **state)
{
    struct ht_server *s = *state;
    struct ht_resp r;
    assert_int_equal(ht_request(s, "GET", "/api/v1/users", NULL, NULL, NULL, &r), 0);
    assert_json_error(&r, 401, "unauthenticated");
    ht_resp_free(&r);

    const char *bearer[] = {"Authorization: Bearer hk_not-a-real-token", NULL};
    assert_int_equal(ht_request(s, "GET", "/api/v1/users", NULL, bearer, NULL, &r), 0);
    assert_json_error(&r, 401, "unauthenticated");
    ht_resp_free(&r);

    const char *basic[] = {"Authorization: Basic YWRtaW46YWRtaW4=", NULL};
    assert_int_equal(ht_request(s, "GET", "/api/v1/auth/me", NULL, basic, NULL, &r), 0);
    assert_json_error(&r, 401, "unauthenticated");
    ht_resp_free(&r);

    assert_int_equal(
        ht_request(s, "GET", "/api/v1/auth/me", NULL, NULL, "huike_session=not-a-session", &r), 0);
    assert_json_error(&r, 401, "unauthenticated");
    ht_resp_free(&r);
}

static void role_outside_route_mask__is_403(void **state)
{
    struct ht_server *s = *state;
    char cookie[512];
    struct ht_resp r;
    assert_int_equal(ht_login(s, "operator1", "operator1-pass", cookie, sizeof cookie), 0);
    assert_int_equal(ht_request(s, "GET", "/api/v1/auth/me", NULL, NULL, cookie, &r), 0);
    assert_int_equal(r.status, 200);
    ht_resp_free(&r);
    assert_int_equal(ht_request(s, "GET", "/api/v1/users", NULL, NULL, cookie, &r), 0);
    assert_json_error(&r, 403, "forbidden");
    ht_resp_free(&r);
}

static void cookie_request_from_other_origin__is_403(void **state)
{
    struct ht_server *s = *state;
    char cookie[512], host[128], origin[160];
    struct ht_resp r;
    assert_int_equal(ht_login(s, "admin", "admin-pass-1", cookie, sizeof cookie), 0);

    const char *evil[] = {"Origin: https://evil.example", NULL};
    assert_int_equal(ht_request(s, "POST", "/api/v1/auth/logout", "{}", evil, cookie, &r), 0);
    assert_json_error(&r, 403, "forbidden");
    ht_resp_free(&r);

    /* A safe method from elsewhere is not refused by the origin check. */
    assert_int_equal(ht_request(s, "GET", "/api/v1/auth/me", NULL, evil, cookie, &r), 0);
    assert_int_equal(r.status, 200);
    ht_resp_free(&r);

    /* The same origin passes (and the session is then signed out). */
    snprintf(host, sizeof host, "127.0.0.1:%d", s->port);
    snprintf(origin, sizeof origin, "Origin: http://%s", host);
    const char *same[] = {origin, NULL};
    assert_int_equal(ht_request(s, "POST", "/api/v1/auth/logout", "{}", same, cookie, &r), 0);
    assert_true(r.status == 200 || r.status == 204);
    ht_resp_free(&r);
}

/* ---- tests with their own server ----------------------------------------------------------- */

static void body_over_limit__is_413_payload_too_large(void **state)
{
    (void)state;
    struct ht_server s;
    const char *env[] = {"HUIKE_BODY_LIMIT=1024", NULL};
    assert_int_equal(ht_server_start(&s, env), 0);

    char *big = malloc(5121);
    assert_non_null(big);
    memset(big, 'x', 5120);
    memcpy(big, "{\"login\":\"", 10);
    memcpy(big + 5118, "\"}", 2);
    big[5120] = '\0';
    struct ht_resp r;
    /* With Content-Length: refused up front. */
    assert_int_equal(ht_request(&s, "POST", "/api/v1/auth/login", big, NULL, NULL, &r), 0);
    assert_json_error(&r, 413, "payload_too_large");
    ht_resp_free(&r);

    /* Chunked, without Content-Length: refused once the limit is crossed. */
    const char *chunked[] = {"Transfer-Encoding: chunked", NULL};
    assert_int_equal(ht_request(&s, "POST", "/api/v1/auth/login", big, chunked, NULL, &r), 0);
    assert_json_error(&r, 413, "payload_too_large");
    ht_resp_free(&r);
    free(big);

    /* A body within the limit gets through to the handler. */
    const char *small = "{\"login\":\"admin\",\"password\":\"wrong-password\"}";
    assert_int_equal(ht_request(&s, "POST", "/api/v1/auth/login", small, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 401);
    ht_resp_free(&r);

    assert_int_equal(ht_server_stop(&s), 0);
}

static void graceful_shutdown__answers_request_in_flight(void **state)
{
    (void)state;
    struct ht_server s;
    assert_int_equal(ht_server_start(&s, NULL), 0);

    const char *body = "{\"login\":\"admin\",\"password\":\"not-the-password\"}";
    size_t blen = strlen(body), half = blen / 2;
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                      s.port, blen);
    int fd = connect_tcp(s.port);
    assert_true(fd >= 0);
    send_all(fd, head, (size_t)hn);
    send_all(fd, body, half);
    sleep_ms(300); /* the server has the headers and half the body */

    assert_int_equal(kill(s.pid, SIGTERM), 0);
    /* It stops accepting: new connections are refused soon. */
    bool refused = false;
    for (int i = 0; i < 60 && !refused; i++) {
        int probe = connect_tcp(s.port);
        if (probe < 0)
            refused = true;
        else
            close(probe);
        if (!refused)
            sleep_ms(50);
    }
    assert_true(refused);

    /* The request in flight is still answered. */
    send_all(fd, body + half, blen - half);
    char resp[8192];
    size_t n = read_response(fd, resp, sizeof resp, 15000);
    close(fd);
    if (n < 12 || strncmp(resp, "HTTP/1.1 4", 10) != 0)
        fprintf(stderr, "response: %s\n", resp);
    assert_true(n > 12);
    assert_true(strncmp(resp, "HTTP/1.1 401", 12) == 0 || strncmp(resp, "HTTP/1.1 400", 12) == 0);
    assert_non_null(strstr(resp, "\r\n\r\n{\"error\""));

    assert_int_equal(ht_server_stop(&s), 0); /* exited 0 */
}

static void access_log__one_line_per_request_without_secrets(void **state)
{
    (void)state;
    struct ht_server s;
    assert_int_equal(ht_server_start(&s, NULL), 0);
    struct ht_resp r;
    int requests = 0;

    assert_int_equal(
        ht_request(&s, "GET", "/api/v1/health?probe=querysecret-4711", NULL, NULL, NULL, &r), 0);
    ht_resp_free(&r);
    requests++;
    const char *wrong = "{\"login\":\"admin\",\"password\":\"Sup3r-secret-pw-0815\"}";
    assert_int_equal(ht_request(&s, "POST", "/api/v1/auth/login", wrong, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 401);
    ht_resp_free(&r);
    requests++;
    assert_int_equal(ht_request(&s, "GET", "/api/v1/users", NULL, NULL,
                                "huike_session=cookiesecret-abc-987", &r),
                     0);
    ht_resp_free(&r);
    requests++;
    const char *bearer[] = {"Authorization: Bearer bearersecret-xyz-555", NULL};
    assert_int_equal(ht_request(&s, "GET", "/api/v1/users", NULL, bearer, NULL, &r), 0);
    ht_resp_free(&r);
    requests++;
    assert_int_equal(ht_request(&s, "GET", "/nope", NULL, NULL, NULL, &r), 0);
    ht_resp_free(&r);
    requests++;
    char cookie[512];
    assert_int_equal(ht_login(&s, "admin", "admin-pass-1", cookie, sizeof cookie), 0);
    requests++;
    assert_int_equal(ht_request(&s, "GET", "/api/v1/auth/me", NULL, NULL, cookie, &r), 0);
    assert_int_equal(r.status, 200);
    ht_resp_free(&r);
    requests++;

    /* The line is written when the reply has been sent, so give the last one a moment. */
    static char logtext[1 << 20];
    int lines = 0;
    for (int i = 0; i < 100; i++) {
        lines = count_lines_with(s.log_path, "event=http.request", logtext, sizeof logtext);
        if (lines >= requests)
            break;
        sleep_ms(20);
    }
    sleep_ms(100);
    lines = count_lines_with(s.log_path, "event=http.request", logtext, sizeof logtext);
    if (lines != requests)
        fprintf(stderr, "server log:\n%s\n", logtext);
    assert_int_equal(lines, requests);

    assert_non_null(strstr(logtext, "path=/api/v1/health "));
    assert_non_null(strstr(logtext, "status=404"));
    assert_non_null(strstr(logtext, "method=POST"));
    assert_non_null(strstr(logtext, "ms="));
    assert_non_null(strstr(logtext, "bytes="));
    const char *secrets[] = {"querysecret",  "Sup3r-secret", "cookiesecret",
                             "bearersecret", "admin-pass-1", cookie + strlen("huike_session=")};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        if (strstr(logtext, secrets[i]))
            fprintf(stderr, "the log contains '%s':\n%s\n", secrets[i], logtext);
        assert_null(strstr(logtext, secrets[i]));
    }
    assert_int_equal(ht_server_stop(&s), 0);
}

int main(void)
{
    const struct CMUnitTest shared[] = {
        cmocka_unit_test(health__reports_ok_with_schema_version_and_backend),
        cmocka_unit_test(request_id__generated_when_absent_and_echoed_when_sane),
        cmocka_unit_test(unknown_path__is_404_json_error),
        cmocka_unit_test(known_path_wrong_method__is_405_with_allow),
        cmocka_unit_test(malformed_json__is_400_naming_line_and_column),
        cmocka_unit_test(protected_route_without_credentials__is_401),
        cmocka_unit_test(role_outside_route_mask__is_403),
        cmocka_unit_test(cookie_request_from_other_origin__is_403),
    };
    const struct CMUnitTest own[] = {
        cmocka_unit_test(body_over_limit__is_413_payload_too_large),
        cmocka_unit_test(graceful_shutdown__answers_request_in_flight),
        cmocka_unit_test(access_log__one_line_per_request_without_secrets),
    };
    int failed =
        cmocka_run_group_tests_name("http_shared_server", shared, group_setup, group_teardown);
    failed += cmocka_run_group_tests_name("http_own_server", own, NULL, NULL);
    return failed ? 1 : 0;
}
