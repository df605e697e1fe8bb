/*
 * test_util.c — bounded copies, strict integers, hex, random tokens and token hashes.
 */
#include "unit.h"

#include <stdlib.h>

#include "core/err.h"
#include "core/util.h"

static int setup(void **state)
{
    (void)state;
    return hk_crypto_init();
}

static void strlcpy__truncates_and_reports_the_source_length(void **state)
{
    (void)state;
    char buf[4];
    assert_int_equal(hk_strlcpy(buf, "abcdef", sizeof(buf)), 6);
    assert_string_equal(buf, "abc");
    assert_int_equal(hk_strlcpy(buf, "ab", sizeof(buf)), 2);
    assert_string_equal(buf, "ab");
    assert_int_equal(hk_strlcpy(buf, "zz", 0), 2);
    assert_string_equal(buf, "ab");
}

static void utf8_cut__never_splits_a_character(void **state)
{
    (void)state;
    const char *s = "a码𠀀b"; /* 1 + 3 + 4 + 1 bytes */
    size_t n = strlen(s);
    assert_int_equal(n, 9);
    assert_int_equal(hk_utf8_cut(s, n, 9), 9); /* fits: all of it */
    assert_int_equal(hk_utf8_cut(s, n, 20), 9);
    assert_int_equal(hk_utf8_cut(s, n, 8), 8); /* before b */
    for (size_t max = 4; max < 8; max++)       /* inside 𠀀: before it */
        assert_int_equal(hk_utf8_cut(s, n, max), 4);
    for (size_t max = 1; max < 4; max++) /* inside 码: before it */
        assert_int_equal(hk_utf8_cut(s, n, max), 1);
    assert_int_equal(hk_utf8_cut(s, n, 0), 0);
    assert_int_equal(hk_utf8_cut("码", 3, 2), 0); /* no whole character fits */
}

static void strndup__copies_exactly_n_bytes(void **state)
{
    (void)state;
    char *s = hk_strndup("hello world", 5);
    assert_string_equal(s, "hello");
    free(s);
    assert_null(hk_strdup(NULL));
    s = hk_strdup("x");
    assert_string_equal(s, "x");
    free(s);
}

static void streq_n__compares_length_and_bytes(void **state)
{
    (void)state;
    assert_true(hk_streq_n("serve now", 5, "serve"));
    assert_false(hk_streq_n("serve", 5, "server"));
    assert_false(hk_streq_n("serve", 4, "serve"));
    assert_true(hk_streq_n("", 0, ""));
}

static void parse_int64__accepts_whole_numbers_only(void **state)
{
    (void)state;
    int64_t v = 0;
    assert_int_equal(hk_parse_int64("8080", 4, &v), 0);
    assert_int_equal(v, 8080);
    assert_int_equal(hk_parse_int64("-42", 3, &v), 0);
    assert_int_equal(v, -42);
    assert_int_equal(hk_parse_int64("+7", 2, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(hk_parse_int64("9223372036854775807", 19, &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(hk_parse_int64("-9223372036854775808", 20, &v), 0);
    assert_true(v == INT64_MIN);
    v = 99;
    const char *bad[] = {"",
                         "-",
                         "+",
                         " 1",
                         "1 ",
                         "1.0",
                         "0x10",
                         "12a",
                         "9223372036854775808",
                         "-9223372036854775809",
                         "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(hk_parse_int64(bad[i], strlen(bad[i]), &v), HK_E(INVAL));
    assert_int_equal(v, 99);
    assert_int_equal(hk_parse_int64("123", 2, &v), 0); /* only len bytes */
    assert_int_equal(v, 12);
}

static void hex_encode__writes_lowercase_pairs(void **state)
{
    (void)state;
    const unsigned char in[] = {0x00, 0x7f, 0xab, 0xff};
    char out[9];
    hk_hex_encode(in, sizeof(in), out);
    assert_string_equal(out, "007fabff");
}

static void random_token__is_prefix_and_43_base64url_chars_and_unique(void **state)
{
    (void)state;
    char a[64], b[64];
    hk_random_token("hk_", a, sizeof(a));
    hk_random_token("hk_", b, sizeof(b));
    assert_int_equal(strlen(a), 3 + 43);
    assert_memory_equal(a, "hk_", 3);
    for (const char *p = a + 3; *p; p++)
        assert_true((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_');
    assert_string_not_equal(a, b);
    char exact[3 + 44];
    hk_random_token("hk_", exact, sizeof(exact));
    assert_int_equal(strlen(exact), 46);
}

static void request_id__is_16_hex_digits(void **state)
{
    (void)state;
    char id[17], id2[17];
    hk_request_id(id, sizeof(id));
    hk_request_id(id2, sizeof(id2));
    assert_int_equal(strlen(id), 16);
    for (const char *p = id; *p; p++)
        assert_true((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
    assert_string_not_equal(id, id2);
}

static void token_hash__is_blake2b_256_hex(void **state)
{
    (void)state;
    char out[65];
    /* BLAKE2b-256 of "abc" (RFC 7693 test vectors are for 512 bits; this one from b2sum -l 256). */
    hk_token_hash("abc", 3, out);
    assert_string_equal(out, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
    char out2[65];
    hk_token_hash("abd", 3, out2);
    assert_string_not_equal(out, out2);
}

static void consttime_eq__compares_bytes(void **state)
{
    (void)state;
    assert_true(hk_consttime_eq("secret", "secret", 6));
    assert_false(hk_consttime_eq("secret", "secreT", 6));
    assert_true(hk_consttime_eq("a", "b", 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strlcpy__truncates_and_reports_the_source_length),
        cmocka_unit_test(utf8_cut__never_splits_a_character),
        cmocka_unit_test(strndup__copies_exactly_n_bytes),
        cmocka_unit_test(streq_n__compares_length_and_bytes),
        cmocka_unit_test(parse_int64__accepts_whole_numbers_only),
        cmocka_unit_test(hex_encode__writes_lowercase_pairs),
        cmocka_unit_test(random_token__is_prefix_and_43_base64url_chars_and_unique),
        cmocka_unit_test(request_id__is_16_hex_digits),
        cmocka_unit_test(token_hash__is_blake2b_256_hex),
        cmocka_unit_test(consttime_eq__compares_bytes),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
