/*
 * test_config.c — one option table feeding defaults, the config file, HUIKE_* variables and
 * flags, with later sources winning: default < file < environment < flag.
 */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/config.h"
#include "core/err.h"

struct fixture {
    char dir[64];
    char path[128];
    struct hk_config cfg;
    struct hk_err err;
};

static void clear_env(void)
{
    int n;
    const struct hk_config_option *opts = hk_config_options(&n);
    for (int i = 0; i < n; i++)
        unsetenv(opts[i].env);
    unsetenv("HUIKE_CONFIG");
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/hk-test-config-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/huike.conf", f->dir);
    hk_err_clear(&f->err);
    clear_env();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    clear_env();
    free(f);
    return 0;
}

static void write_file(const struct fixture *f, const char *text)
{
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void config_options__derive_env_and_flag_spellings(void **state)
{
    (void)state;
    int n = 0;
    const struct hk_config_option *opts = hk_config_options(&n);
    assert_true(n >= 10);
    int found = 0;
    for (int i = 0; i < n; i++) {
        assert_non_null(opts[i].help);
        if (strcmp(opts[i].name, "body_limit") == 0) {
            assert_string_equal(opts[i].env, "HUIKE_BODY_LIMIT");
            assert_string_equal(opts[i].flag, "--body-limit");
            assert_int_equal(opts[i].type, HK_CONFIG_INT);
            assert_string_equal(opts[i].def, "1048576");
            found++;
        }
        if (strcmp(opts[i].name, "login_max_fail_ip") == 0) {
            assert_string_equal(opts[i].env, "HUIKE_LOGIN_MAX_FAIL_IP");
            assert_string_equal(opts[i].flag, "--login-max-fail-ip");
            found++;
        }
    }
    assert_int_equal(found, 2);
}

static void config_defaults__come_from_the_table(void **state)
{
    struct fixture *f = *state;
    hk_config_defaults(&f->cfg);
    assert_string_equal(f->cfg.db, "data/huike.db");
    assert_int_equal(f->cfg.port, 8080);
    assert_int_equal(f->cfg.upload_limit, 2147483648LL);
    assert_string_equal(f->cfg.timezone, "Asia/Shanghai");
    assert_string_equal(f->cfg.now, "");
}

static void config_set__rejects_unknown_names_and_bad_integers(void **state)
{
    struct fixture *f = *state;
    hk_config_defaults(&f->cfg);
    assert_int_equal(hk_config_set(&f->cfg, "port", "9090", &f->err), 0);
    assert_int_equal(f->cfg.port, 9090);
    assert_int_equal(hk_config_set(&f->cfg, "prot", "1", &f->err), HK_E(INVAL));
    assert_contains(f->err.msg, "unknown option 'prot'");
    const char *bad[] = {"",   "80 80", " 8080", "8080 ",
                         "8k", "0x50",  "1e3",   "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(hk_config_set(&f->cfg, "port", bad[i], &f->err), HK_E(INVAL));
        assert_contains(f->err.msg, "is not an integer");
        assert_string_equal(f->err.field, "port");
    }
    assert_int_equal(f->cfg.port, 9090);
    char longv[HK_CONFIG_STR_MAX + 10];
    memset(longv, 'x', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    assert_int_equal(hk_config_set(&f->cfg, "db", longv, &f->err), HK_E(INVAL));
    assert_contains(f->err.msg, "longer than 511 bytes");
}

static void config_set__db_accepts_sqlite_urls_and_refuses_other_schemes(void **state)
{
    struct fixture *f = *state;
    hk_config_defaults(&f->cfg);
    assert_int_equal(hk_config_set(&f->cfg, "db", "sqlite:///tmp/a.db", &f->err), 0);
    assert_string_equal(f->cfg.db, "/tmp/a.db");
    assert_int_equal(hk_config_set(&f->cfg, "db", "sqlite:data/b.db", &f->err), 0);
    assert_string_equal(f->cfg.db, "data/b.db");
    assert_int_equal(hk_config_set(&f->cfg, "db", "postgresql://u@h/d", &f->err), 0);
    assert_string_equal(f->cfg.db, "postgresql://u@h/d");
    assert_int_equal(hk_config_set(&f->cfg, "db", "shop.db", &f->err), 0);
    assert_string_equal(f->cfg.db, "shop.db");
    assert_int_equal(hk_config_set(&f->cfg, "db", "mysql://u@h/d", &f->err), HK_E(INVAL));
    assert_contains(f->err.msg, "neither a file path nor a postgresql:// URL");
    assert_int_equal(hk_config_set(&f->cfg, "db", "sqlite:", &f->err), HK_E(INVAL));
    assert_string_equal(f->cfg.db, "shop.db");
}

static void config_set__import_settings_are_checked(void **state)
{
    struct fixture *f = *state;
    hk_config_defaults(&f->cfg);
    assert_int_equal(f->cfg.import_batch, 20000);
    assert_string_equal(f->cfg.import_pipeline, "on");
    assert_int_equal(hk_config_set(&f->cfg, "import_batch", "2000", &f->err), 0);
    assert_int_equal(f->cfg.import_batch, 2000);
    const char *bad[] = {"0", "-5", "1000001"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(hk_config_set(&f->cfg, "import_batch", bad[i], &f->err), HK_E(INVAL));
        assert_contains(f->err.msg, "1 to 1000000");
    }
    assert_int_equal(f->cfg.import_batch, 2000);
    assert_int_equal(hk_config_set(&f->cfg, "import_pipeline", "off", &f->err), 0);
    assert_string_equal(f->cfg.import_pipeline, "off");
    assert_int_equal(hk_config_set(&f->cfg, "import_pipeline", "false", &f->err), HK_E(INVAL));
    assert_contains(f->err.msg, "neither on nor off");
    assert_string_equal(f->cfg.import_pipeline, "off");
}

static void config_file__reads_keys_comments_and_quotes(void **state)
{
    struct fixture *f = *state;
    write_file(f, "\xEF\xBB\xBF# huike settings\n"
                  "\n"
                  "port = 9000\r\n"
                  "  db=/srv/huike.db   # the store\n"
                  "body-limit = 2048\n"
                  "listen = \"0.0.0.0 # not a comment\"\n"
                  "web_root = \"with \\\"quote\\\"\"\n");
    hk_config_defaults(&f->cfg);
    assert_int_equal(hk_config_load_file(&f->cfg, f->path, &f->err), 0);
    assert_int_equal(f->cfg.port, 9000);
    assert_string_equal(f->cfg.db, "/srv/huike.db");
    assert_int_equal(f->cfg.body_limit, 2048);
    assert_string_equal(f->cfg.listen, "0.0.0.0 # not a comment");
    assert_string_equal(f->cfg.web_root, "with \"quote\"");
}

static void config_file__errors_name_the_file_and_line(void **state)
{
    struct fixture *f = *state;
    char want[256];

    write_file(f, "port = 9000\n# fine\nport = eighty\n");
    hk_config_defaults(&f->cfg);
    assert_int_equal(hk_config_load_file(&f->cfg, f->path, &f->err), HK_E(INVAL));
    snprintf(want, sizeof(want), "%s:3: port: 'eighty' is not an integer", f->path);
    assert_contains(f->err.msg, want);

    write_file(f, "\n\nprot = 1\n");
    assert_int_equal(hk_config_load_file(&f->cfg, f->path, &f->err), HK_E(INVAL));
    snprintf(want, sizeof(want), "%s:3: unknown option 'prot'", f->path);
    assert_contains(f->err.msg, want);

    write_file(f, "just words\n");
    assert_int_equal(hk_config_load_file(&f->cfg, f->path, &f->err), HK_E(INVAL));
    snprintf(want, sizeof(want), "%s:1: expected 'key = value'", f->path);
    assert_contains(f->err.msg, want);

    write_file(f, "db = \"unterminated\n");
    assert_int_equal(hk_config_load_file(&f->cfg, f->path, &f->err), HK_E(INVAL));
    assert_contains(f->err.msg, ":1: db: unterminated");

    assert_int_equal(hk_config_load_file(&f->cfg, "/nonexistent/huike.conf", &f->err), HK_E(INVAL));
    assert_contains(f->err.msg, "cannot read config file /nonexistent/huike.conf");
}

static void config_env__applies_huike_variables(void **state)
{
    struct fixture *f = *state;
    setenv("HUIKE_PORT", "7000", 1);
    setenv("HUIKE_LOG_LEVEL", "debug", 1);
    setenv("HUIKE_THREADS", "", 1); /* empty: unset */
    setenv("HUIKE_TEST_SOMETHING_ELSE", "ignored", 1);
    hk_config_defaults(&f->cfg);
    assert_int_equal(hk_config_load_env(&f->cfg, &f->err), 0);
    assert_int_equal(f->cfg.port, 7000);
    assert_string_equal(f->cfg.log_level, "debug");
    assert_int_equal(f->cfg.threads, 8);
    unsetenv("HUIKE_TEST_SOMETHING_ELSE");

    setenv("HUIKE_SESSION_TTL", "12h", 1);
    assert_int_equal(hk_config_load_env(&f->cfg, &f->err), HK_E(INVAL));
    assert_contains(f->err.msg, "HUIKE_SESSION_TTL: '12h' is not an integer");
}

static void config_load__layers_default_file_env_flag(void **state)
{
    struct fixture *f = *state;
    write_file(f, "port = 1111\nthreads = 3\ndb = file.db\nlisten = file-host\n");
    setenv("HUIKE_PORT", "2222", 1);
    setenv("HUIKE_DB", "env.db", 1);
    char path_arg[160];
    snprintf(path_arg, sizeof(path_arg), "%s", f->path);
    char *argv[] = {"huike", "--db", "flag.db", "serve", "--config", path_arg, "--verbose", NULL};
    int argc = 7;
    assert_int_equal(hk_config_load(&f->cfg, &argc, argv, &f->err), 0);
    assert_string_equal(f->cfg.db, "flag.db"); /* flag beats env and file */
    assert_int_equal(f->cfg.port, 2222);       /* env beats file */
    assert_int_equal(f->cfg.threads, 3);       /* file beats default */
    assert_string_equal(f->cfg.listen, "file-host");
    assert_string_equal(f->cfg.timezone, "Asia/Shanghai"); /* default */
    assert_int_equal(argc, 3);
    assert_string_equal(argv[0], "huike");
    assert_string_equal(argv[1], "serve");
    assert_string_equal(argv[2], "--verbose");
    assert_null(argv[3]);
}

static void config_load__reads_the_file_named_by_huike_config(void **state)
{
    struct fixture *f = *state;
    write_file(f, "session_ttl = 60\n");
    setenv("HUIKE_CONFIG", f->path, 1);
    char *argv[] = {"huike", "version", NULL};
    int argc = 2;
    assert_int_equal(hk_config_load(&f->cfg, &argc, argv, &f->err), 0);
    assert_int_equal(f->cfg.session_ttl, 60);
    assert_int_equal(argc, 2);
}

static void config_load__accepts_both_flag_forms_anywhere_until_double_dash(void **state)
{
    struct fixture *f = *state;
    char *argv[] = {"huike",  "user", "--port=9999", "add",    "--timezone", "UTC",
                    "--name", "bob",  "--",          "--port", "1",          NULL};
    int argc = 11;
    assert_int_equal(hk_config_load(&f->cfg, &argc, argv, &f->err), 0);
    assert_int_equal(f->cfg.port, 9999);
    assert_string_equal(f->cfg.timezone, "UTC");
    const char *want[] = {"huike", "user", "add", "--name", "bob", "--", "--port", "1"};
    assert_int_equal(argc, 8);
    for (int i = 0; i < argc; i++)
        assert_string_equal(argv[i], want[i]);
}

static void config_load__reports_bad_and_missing_flag_values(void **state)
{
    struct fixture *f = *state;
    char *argv1[] = {"huike", "serve", "--port", "http", NULL};
    int argc = 4;
    assert_int_equal(hk_config_load(&f->cfg, &argc, argv1, &f->err), HK_E(INVAL));
    assert_contains(f->err.msg, "--port: 'http' is not an integer");

    char *argv2[] = {"huike", "serve", "--port", NULL};
    argc = 3;
    assert_int_equal(hk_config_load(&f->cfg, &argc, argv2, &f->err), HK_E(INVAL));
    assert_contains(f->err.msg, "--port needs a value");

    char *argv3[] = {"huike", "serve", "--config", NULL};
    argc = 3;
    assert_int_equal(hk_config_load(&f->cfg, &argc, argv3, &f->err), HK_E(INVAL));
    assert_contains(f->err.msg, "--config needs a file path");

    char *argv4[] = {"huike", "--config=/nonexistent/x.conf", "serve", NULL};
    argc = 3;
    assert_int_equal(hk_config_load(&f->cfg, &argc, argv4, &f->err), HK_E(INVAL));
    assert_contains(f->err.msg, "/nonexistent/x.conf");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_options__derive_env_and_flag_spellings),
        cmocka_unit_test_setup_teardown(config_defaults__come_from_the_table, setup, teardown),
        cmocka_unit_test_setup_teardown(config_set__import_settings_are_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(config_set__rejects_unknown_names_and_bad_integers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            config_set__db_accepts_sqlite_urls_and_refuses_other_schemes, setup, teardown),
        cmocka_unit_test_setup_teardown(config_file__reads_keys_comments_and_quotes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(config_file__errors_name_the_file_and_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(config_env__applies_huike_variables, setup, teardown),
        cmocka_unit_test_setup_teardown(config_load__layers_default_file_env_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(config_load__reads_the_file_named_by_huike_config, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            config_load__accepts_both_flag_forms_anywhere_until_double_dash, setup, teardown),
        cmocka_unit_test_setup_teardown(config_load__reports_bad_and_missing_flag_values, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
