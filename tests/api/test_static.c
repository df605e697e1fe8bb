/*
 * test_static.c — the web console's files served by `huike serve` from web_root: content types,
 * cache headers, precompressed .gz variants, the single-page-app fallback, JSON 404s for missing
 * files, path traversal refused (dot segments, encoded dots, symlinks out of the root), HEAD,
 * the API untouched, and a clear JSON 404 when web_root holds no build.
 *
 * The web root is a temporary directory filled by the test; .gz files hold marker text (not
 * real gzip) so the test can tell which variant was sent (curl does not decode here).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

static char base[256]; /* temp dir: base/web is the web root, base/outside.txt is outside */
static char webroot[300];
static char env_root[340];
static struct ht_server srv;

static const char *const files[][2] = {
    {"index.html", "<!doctype html><title>huike console</title>"},
    {"index.html.gz", "GZ:index"},
    {"assets/app-4f3a9c.js", "console.log('app')"},
    {"assets/app-4f3a9c.js.gz", "GZ:app"},
    {"assets/mod-77aa.mjs", "export default 1"},
    {"assets/style-91bd.css", "body{color:red}"},
    {"assets/font-1.woff2", "wOF2"},
    {"assets/app-4f3a9c.js.map", "{}"},
    {"favicon.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>"},
    {"favicon.ico", "ico"},
    {"logo.png", "png"},
    {"photo.jpg", "jpg"},
    {"manifest.json", "{\"name\":\"huike\"}"},
    {"robots.txt", "User-agent: *"},
    {".secret", "do not serve"},
    {"docs/index.html", "<p>docs</p>"},
};

static void write_file(const char *dir, const char *rel, const char *text)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    char *slash = strrchr(path, '/');
    if (slash && slash != path) {
        *slash = '\0';
        (void)mkdir(path, 0700);
        *slash = '/';
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int group_setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(base, sizeof base, "%s/hk-static-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(base))
        return -1;
    snprintf(webroot, sizeof webroot, "%s/web", base);
    if (mkdir(webroot, 0700) != 0)
        return -1;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        write_file(webroot, files[i][0], files[i][1]);
    write_file(base, "outside.txt", "outside the web root");
    char link[400];
    snprintf(link, sizeof link, "%s/link.txt", webroot);
    if (symlink("../outside.txt", link) != 0)
        return -1;
    snprintf(env_root, sizeof env_root, "HUIKE_WEB_ROOT=%s", webroot);
    const char *env[] = {env_root, NULL};
    return ht_server_start(&srv, env);
}

static int group_teardown(void **state)
{
    (void)state;
    int rc = ht_server_stop(&srv);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", base);
    return rc == 0 ? 0 : -1;
}

static const char *header(const struct ht_resp *r, const char *name)
{
    static char buf[1024];
    return ht_resp_header(r, name, buf, sizeof buf);
}

static void get(const char *method, const char *path, const char *accept_encoding,
                struct ht_resp *r)
{
    char ae[128];
    snprintf(ae, sizeof ae, "Accept-Encoding: %s", accept_encoding ? accept_encoding : "identity");
    const char *hdrs[] = {ae, NULL};
    assert_int_equal(ht_request(&srv, method, path, NULL, hdrs, NULL, r), 0);
}

static void expect_file(const char *path, const char *ae, const char *type, const char *cache,
                        const char *body)
{
    struct ht_resp r;
    get("GET", path, ae, &r);
    if (r.status != 200)
        fprintf(stderr, "GET %s: %ld %s\n", path, r.status, r.body ? r.body : "");
    assert_int_equal(r.status, 200);
    assert_non_null(header(&r, "Content-Type"));
    assert_string_equal(header(&r, "Content-Type"), type);
    assert_non_null(header(&r, "Cache-Control"));
    assert_string_equal(header(&r, "Cache-Control"), cache);
    assert_non_null(header(&r, "Vary"));
    assert_string_equal(header(&r, "Vary"), "Accept-Encoding");
    assert_non_null(header(&r, "X-Content-Type-Options"));
    assert_string_equal(r.body, body);
    bool gz = strncmp(body, "GZ:", 3) == 0;
    if (gz) {
        assert_non_null(header(&r, "Content-Encoding"));
        assert_string_equal(header(&r, "Content-Encoding"), "gzip");
    } else {
        assert_null(header(&r, "Content-Encoding"));
    }
    ht_resp_free(&r);
}

static void expect_json_error(const char *method, const char *path, long status, const char *code)
{
    struct ht_resp r;
    get(method, path, NULL, &r);
    if (r.status != status)
        fprintf(stderr, "%s %s: %ld %s\n", method, path, r.status, r.body ? r.body : "");
    assert_int_equal(r.status, status);
    assert_string_equal(ht_error_code(&r), code);
    assert_string_equal(header(&r, "Content-Type"), "application/json; charset=utf-8");
    ht_resp_free(&r);
}

#define HTML      "text/html; charset=utf-8"
#define JS        "text/javascript; charset=utf-8"
#define IMMUTABLE "public, max-age=31536000, immutable"

static void test_index_and_spa_fallback(void **state)
{
    (void)state;
    const char *index = files[0][1];
    expect_file("/", NULL, HTML, "no-cache", index);
    expect_file("/index.html", NULL, HTML, "no-cache", index);
    /* routes of the single-page app: no file, no extension -> the app */
    expect_file("/customers", NULL, HTML, "no-cache", index);
    expect_file("/customers/12", NULL, HTML, "no-cache", index);
    expect_file("/dashboard?tab=1", NULL, HTML, "no-cache", index);
    expect_file("/docs", NULL, HTML, "no-cache", "<p>docs</p>"); /* a directory's index.html */

    struct ht_resp r;
    get("GET", "/", NULL, &r);
    const char *csp = header(&r, "Content-Security-Policy");
    assert_non_null(csp);
    assert_non_null(strstr(csp, "default-src 'self'"));
    assert_non_null(strstr(csp, "frame-ancestors 'none'"));
    ht_resp_free(&r);
}

static void test_content_types_and_cache(void **state)
{
    (void)state;
    expect_file("/assets/app-4f3a9c.js", NULL, JS, IMMUTABLE, "console.log('app')");
    expect_file("/assets/mod-77aa.mjs", NULL, JS, IMMUTABLE, "export default 1");
    expect_file("/assets/style-91bd.css", NULL, "text/css; charset=utf-8", IMMUTABLE,
                "body{color:red}");
    expect_file("/assets/font-1.woff2", NULL, "font/woff2", IMMUTABLE, "wOF2");
    expect_file("/assets/app-4f3a9c.js.map", NULL, "application/json; charset=utf-8", IMMUTABLE,
                "{}");
    expect_file("/favicon.svg", NULL, "image/svg+xml", "no-cache", files[8][1]);
    expect_file("/favicon.ico", NULL, "image/x-icon", "no-cache", "ico");
    expect_file("/logo.png", NULL, "image/png", "no-cache", "png");
    expect_file("/photo.jpg", NULL, "image/jpeg", "no-cache", "jpg");
    expect_file("/manifest.json", NULL, "application/json; charset=utf-8", "no-cache",
                "{\"name\":\"huike\"}");
    expect_file("/robots.txt", NULL, "text/plain; charset=utf-8", "no-cache", "User-agent: *");
}

static void test_precompressed(void **state)
{
    (void)state;
    expect_file("/", "gzip, deflate, br", HTML, "no-cache", "GZ:index");
    expect_file("/customers/7", "br;q=1.0, gzip;q=0.8", HTML, "no-cache", "GZ:index");
    expect_file("/assets/app-4f3a9c.js", "gzip", JS, IMMUTABLE, "GZ:app");
    expect_file("/assets/app-4f3a9c.js", "*", JS, IMMUTABLE, "GZ:app");
    /* refused or not offered: the plain file */
    expect_file("/assets/app-4f3a9c.js", "gzip;q=0", JS, IMMUTABLE, "console.log('app')");
    expect_file("/assets/app-4f3a9c.js", "br", JS, IMMUTABLE, "console.log('app')");
    expect_file("/assets/app-4f3a9c.js", NULL, JS, IMMUTABLE, "console.log('app')");
    /* no .gz twin: the plain file even when gzip is accepted */
    expect_file("/assets/style-91bd.css", "gzip", "text/css; charset=utf-8", IMMUTABLE,
                "body{color:red}");
}

static void test_missing_files_are_json_404(void **state)
{
    (void)state;
    expect_json_error("GET", "/assets/nope-123.js", 404, "not_found");
    expect_json_error("GET", "/nope.png", 404, "not_found");
    struct ht_resp r; /* HEAD: the status and type without the body */
    get("HEAD", "/assets/gone.css", NULL, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(header(&r, "Content-Type"), "application/json; charset=utf-8");
    ht_resp_free(&r);
}

static void test_traversal_refused(void **state)
{
    (void)state;
    /* percent-encoded so that curl sends them as they are; the server decodes them */
    expect_json_error("GET", "/%2e%2e/outside.txt", 404, "not_found");
    expect_json_error("GET", "/assets/%2e%2e/%2e%2e/outside.txt", 404, "not_found");
    expect_json_error("GET", "/..%2foutside.txt", 404, "not_found");
    expect_json_error("GET", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", 404, "not_found");
    expect_json_error("GET", "/%2e%2e", 404, "not_found");           /* no extension: no fallback */
    expect_json_error("GET", "/.secret", 404, "not_found");          /* dot-files are not served */
    expect_json_error("GET", "/link.txt", 404, "not_found");         /* a symlink out of the root */
    expect_json_error("GET", "/..%5coutside.txt", 404, "not_found"); /* backslash */
    struct ht_resp r;
    get("GET", "/%2e%2e/outside.txt", NULL, &r);
    assert_null(strstr(r.body, "outside the web root"));
    ht_resp_free(&r);
}

static void test_head(void **state)
{
    (void)state;
    struct ht_resp r;
    get("HEAD", "/assets/app-4f3a9c.js", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(header(&r, "Content-Type"), JS);
    assert_string_equal(header(&r, "Content-Length"), "18");
    assert_int_equal(r.body_len, 0);
    ht_resp_free(&r);
}

static void test_api_untouched(void **state)
{
    (void)state;
    expect_json_error("GET", "/api/v1/nope", 404, "not_found");
    expect_json_error("GET", "/api", 404, "not_found");
    expect_json_error("GET", "/api/", 404, "not_found");
    expect_json_error("GET", "/api/v1/customers", 401, "unauthenticated");
    /* other methods outside /api/ are not the static server's */
    expect_json_error("POST", "/customers", 404, "not_found");
    struct ht_resp r;
    get("GET", "/api/v1/health", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(header(&r, "Cache-Control"), "no-store");
    ht_resp_free(&r);
}

static void expect_not_built(const char *root)
{
    char env[400];
    snprintf(env, sizeof env, "HUIKE_WEB_ROOT=%s", root);
    const char *envp[] = {env, NULL};
    struct ht_server s;
    assert_int_equal(ht_server_start(&s, envp), 0);
    const char *paths[] = {"/", "/customers", "/assets/app.js"};
    for (size_t i = 0; i < 3; i++) {
        struct ht_resp r;
        assert_int_equal(ht_request(&s, "GET", paths[i], NULL, NULL, NULL, &r), 0);
        assert_int_equal(r.status, 404);
        assert_string_equal(ht_error_code(&r), "not_found");
        const char *msg =
            json_string_value(json_object_get(json_object_get(r.json, "error"), "message"));
        assert_non_null(msg);
        assert_non_null(strstr(msg, "not built"));
        assert_non_null(strstr(msg, "make run"));
        ht_resp_free(&r);
    }
    struct ht_resp r; /* the API still answers */
    assert_int_equal(ht_request(&s, "GET", "/api/v1/health", NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    ht_resp_free(&r);
    assert_int_equal(ht_server_stop(&s), 0);
}

static void test_not_built(void **state)
{
    (void)state;
    char missing[400], empty[400];
    snprintf(missing, sizeof missing, "%s/no-such-dir", base);
    snprintf(empty, sizeof empty, "%s/empty", base);
    assert_int_equal(mkdir(empty, 0700), 0);
    expect_not_built(missing);
    expect_not_built(empty); /* a directory without index.html */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_and_spa_fallback),
        cmocka_unit_test(test_content_types_and_cache),
        cmocka_unit_test(test_precompressed),
        cmocka_unit_test(test_missing_files_are_json_404),
        cmocka_unit_test(test_traversal_refused),
        cmocka_unit_test(test_head),
        cmocka_unit_test(test_api_untouched),
        cmocka_unit_test(test_not_built),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
