/*
 * test_errors.c — the one error table: every code has a status, a stable API string and a
 * message, and struct hk_err carries the detail.
 */
#include "unit.h"

#include "core/err.h"

static void error_table__every_code_has_status_api_string_and_message(void **state)
{
    (void)state;
    for (int i = 1; i < HK_ERROR_COUNT_PLUS_ONE; i++) {
        int code = -i;
        int status = hk_error_http_status(code);
        assert_true(status >= 400 && status <= 599);
        const char *api = hk_error_api_name(code);
        assert_non_null(api);
        assert_true(strlen(api) > 0);
        for (const char *p = api; *p; p++)
            assert_true((*p >= 'a' && *p <= 'z') || *p == '_');
        assert_true(strlen(hk_error_default_message(code)) > 0);
        /* API strings are unique: clients match on them. */
        for (int j = 1; j < i; j++)
            assert_string_not_equal(api, hk_error_api_name(-j));
    }
}

static void error_table__notfound_maps_to_404_not_found(void **state)
{
    (void)state;
    assert_int_equal(hk_error_http_status(HK_E(NOTFOUND)), 404);
    assert_string_equal(hk_error_api_name(HK_E(NOTFOUND)), "not_found");
    assert_int_equal(hk_error_http_status(HK_E(INVAL)), 400);
    assert_string_equal(hk_error_api_name(HK_E(INVAL)), "invalid_argument");
    assert_int_equal(hk_error_http_status(HK_E(TOOLARGE)), 413);
    assert_int_equal(hk_error_http_status(HK_E(THROTTLED)), 429);
    assert_int_equal(hk_error_http_status(HK_E(UNAVAILABLE)), 503);
}

static void error_table__unknown_codes_are_internal(void **state)
{
    (void)state;
    assert_int_equal(hk_error_http_status(-9999), 500);
    assert_string_equal(hk_error_api_name(-9999), "internal");
    assert_int_equal(hk_error_http_status(12), 500);
    assert_int_equal(hk_error_http_status(0), 200);
}

static void err_set__records_code_and_message_and_returns_code(void **state)
{
    (void)state;
    struct hk_err err;
    hk_err_clear(&err);
    assert_int_equal(err.code, 0);
    int rc = hk_err_set(&err, HK_E(INVAL), "line %d: column %s: '%s' is not an amount", 1043,
                        "实付金额", "12,5");
    assert_int_equal(rc, HK_E(INVAL));
    assert_int_equal(err.code, HK_E(INVAL));
    assert_string_equal(hk_err_message(&err),
                        "line 1043: column 实付金额: '12,5' is not an amount");
    assert_string_equal(err.field, "");
}

static void err_setf__names_the_field(void **state)
{
    (void)state;
    struct hk_err err;
    assert_int_equal(hk_err_setf(&err, HK_E(CONFLICT), "email", "already taken"), HK_E(CONFLICT));
    assert_string_equal(err.field, "email");
    assert_string_equal(err.msg, "already taken");
}

static void err_message__falls_back_to_the_default(void **state)
{
    (void)state;
    struct hk_err err;
    hk_err_clear(&err);
    err.code = HK_E(NOTFOUND);
    assert_string_equal(hk_err_message(&err), "not found");
}

static void err_set__accepts_null_and_truncates_long_messages(void **state)
{
    (void)state;
    assert_int_equal(hk_err_set(NULL, HK_E(IO), "x"), HK_E(IO));
    hk_err_clear(NULL);
    struct hk_err err;
    char long_text[2000];
    memset(long_text, 'a', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    hk_err_set(&err, HK_E(INVAL), "%s", long_text);
    assert_int_equal(strlen(err.msg), HK_ERR_MSG_MAX - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(error_table__every_code_has_status_api_string_and_message),
        cmocka_unit_test(error_table__notfound_maps_to_404_not_found),
        cmocka_unit_test(error_table__unknown_codes_are_internal),
        cmocka_unit_test(err_set__records_code_and_message_and_returns_code),
        cmocka_unit_test(err_setf__names_the_field),
        cmocka_unit_test(err_message__falls_back_to_the_default),
        cmocka_unit_test(err_set__accepts_null_and_truncates_long_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
