/*
 * test_money.c — hk_money_parse / hk_money_format: what sellers' files contain is read exactly,
 * everything else is refused with a reason a seller can act on.
 */
#include "unit.h"

#include <stdio.h>

#include "core/err.h"
#include "core/money.h"

static int64_t parse_ok(const char *s, int flags)
{
    struct hk_err err;
    hk_err_clear(&err);
    int64_t fen = -777;
    int rc = hk_money_parse(s, strlen(s), flags, &fen, &err);
    if (rc != 0)
        print_error("parsing '%s': rc=%d %s\n", s, rc, hk_err_message(&err));
    assert_int_equal(rc, 0);
    return fen;
}

/* Parses s expecting a refusal; returns the message (static buffer). */
static const char *parse_fails(const char *s, int flags)
{
    static struct hk_err err;
    hk_err_clear(&err);
    int64_t fen = -777;
    int rc = hk_money_parse(s, strlen(s), flags, &fen, &err);
    assert_int_equal(rc, HK_E(INVAL));
    assert_int_equal(err.code, HK_E(INVAL));
    assert_int_equal(fen, -777); /* out-parameter untouched on failure */
    return err.msg;
}

static void money_parse__reads_plain_amounts(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("12", 0), 1200);
    assert_int_equal(parse_ok("12.5", 0), 1250);
    assert_int_equal(parse_ok("12.50", 0), 1250);
    assert_int_equal(parse_ok("0.05", 0), 5);
    assert_int_equal(parse_ok("0", 0), 0);
    assert_int_equal(parse_ok(".5", 0), 50);
    assert_int_equal(parse_ok("+3", 0), 300);
}

/* Plain amounts take a fast path; a leading space sends the same text through the full parse,
   which must agree on the value and on every refusal. */
static void money_parse__plain_digits_read_as_the_full_parse_reads_them(void **state)
{
    (void)state;
    static const char *const plain[] = {
        "0",
        "7",
        "0.5",
        "12.30",
        "00012.30",
        "1244.03",
        "460.75",
        "9.0",
        "1.",
        "3.456",
        "1..2",
        "1.2.3",
        "12a",
        "1.x",
        "1234567890123",
        "1234567890123.45",
        "9999999999999.99",
        "90000000000000",
        "90000000000000.00",
        "12345678901234.5",
        "123456789012345678",
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        char spaced[64];
        snprintf(spaced, sizeof spaced, " %s", plain[i]);
        struct hk_err e1, e2;
        hk_err_clear(&e1);
        hk_err_clear(&e2);
        int64_t f1 = -777, f2 = -777;
        int r1 = hk_money_parse(plain[i], strlen(plain[i]), 0, &f1, &e1);
        int r2 = hk_money_parse(spaced, strlen(spaced), 0, &f2, &e2);
        if (r1 != r2 || f1 != f2)
            print_error("'%s': %d %lld vs %d %lld\n", plain[i], r1, (long long)f1, r2,
                        (long long)f2);
        assert_int_equal(r1, r2);
        assert_int_equal(f1, f2);
    }
    assert_int_equal(parse_ok("9999999999999.99", 0), 999999999999999);
    assert_int_equal(parse_ok("1244.03", 0), 124403);
    assert_int_equal(parse_ok("1.", 0), 100);
}

static void money_parse__accepts_thousands_separators_in_groups_of_three(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1,234.50", 0), 123450);
    assert_int_equal(parse_ok("12,345,678", 0), 1234567800);
    assert_int_equal(parse_ok("999,999.99", 0), 99999999);
}

static void money_parse__accepts_currency_signs_and_spaces(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("¥12.50", 0), 1250);
    assert_int_equal(parse_ok("￥12.50", 0), 1250);
    assert_int_equal(parse_ok("  ¥ 1,234.50  ", 0), 123450);
    assert_int_equal(parse_ok("\t7\r\n", 0), 700);
    assert_int_equal(parse_ok("\xE3\x80\x80"
                              "8.80\xE3\x80\x80",
                              0),
                     880); /* ideographic spaces */
}

static void money_parse__reads_negatives_only_when_allowed(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("-3.50", HK_MONEY_ALLOW_NEGATIVE), -350);
    assert_int_equal(parse_ok("-¥3.50", HK_MONEY_ALLOW_NEGATIVE), -350);
    assert_int_equal(parse_ok("¥-3.50", HK_MONEY_ALLOW_NEGATIVE), -350);
    assert_int_equal(parse_ok("-0.05", HK_MONEY_ALLOW_NEGATIVE), -5);
    assert_contains(parse_fails("-3.50", 0), "'-3.50' is not an amount: a negative amount");
}

static void money_parse__treats_minus_zero_as_zero(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("-0.00", 0), 0);
}

static void money_parse__rejects_three_decimals(void **state)
{
    (void)state;
    assert_contains(parse_fails("1.234", 0), "'1.234' is not an amount: more than 2 decimals");
    assert_contains(parse_fails("12.500", 0), "more than 2 decimals");
}

static void money_parse__rejects_stray_characters_naming_them(void **state)
{
    (void)state;
    assert_string_equal(parse_fails("12,5x", 0), "'12,5x' is not an amount: unexpected 'x'");
    assert_contains(parse_fails("abc", 0), "unexpected 'a'");
    assert_contains(parse_fails("12元", 0), "unexpected '元'");
    assert_contains(parse_fails("1 000", 0), "unexpected ' '");
    assert_contains(parse_fails("12.50-", HK_MONEY_ALLOW_NEGATIVE), "unexpected '-'");
}

static void money_parse__rejects_misplaced_thousands_separators(void **state)
{
    (void)state;
    assert_contains(parse_fails("12,5", 0), "'12,5' is not an amount: thousands separators");
    assert_contains(parse_fails("1,23,456", 0), "groups of 3 digits");
    assert_contains(parse_fails("1234,567", 0), "groups of 3 digits");
    assert_contains(parse_fails(",123", 0), "groups of 3 digits");
    assert_contains(parse_fails("1,234,", 0), "groups of 3 digits");
    assert_contains(parse_fails("1.50,5", 0), "after the decimal point");
}

static void money_parse__rejects_two_decimal_points(void **state)
{
    (void)state;
    assert_contains(parse_fails("1.2.3", 0), "more than one decimal point");
}

static void money_parse__rejects_signs_and_symbols_without_digits(void **state)
{
    (void)state;
    assert_contains(parse_fails("¥", 0), "no digits");
    assert_contains(parse_fails("-", HK_MONEY_ALLOW_NEGATIVE), "no digits");
    assert_contains(parse_fails(".", 0), "no digits");
}

static void money_parse__empty_is_absent_unless_required(void **state)
{
    (void)state;
    struct hk_err err;
    hk_err_clear(&err);
    int64_t fen = 42;
    assert_int_equal(hk_money_parse("", 0, 0, &fen, &err), 1);
    assert_int_equal(hk_money_parse("   ", 3, 0, &fen, &err), 1);
    assert_int_equal(fen, 42);
    assert_int_equal(err.code, 0);
    assert_contains(parse_fails("", HK_MONEY_REQUIRED), "is not an amount: an amount is required");
    assert_contains(parse_fails("  ", HK_MONEY_REQUIRED), "an amount is required");
}

static void money_parse__rejects_values_beyond_nine_e15_fen(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("90000000000000.00", 0), 9000000000000000LL);
    assert_int_equal(parse_ok("-90,000,000,000,000", HK_MONEY_ALLOW_NEGATIVE), -9000000000000000LL);
    assert_contains(parse_fails("90000000000000.01", 0), "beyond the largest amount");
    assert_contains(parse_fails("99999999999999999999999999", 0), "beyond the largest amount");
    assert_contains(parse_fails("-90000000000001", HK_MONEY_ALLOW_NEGATIVE), "beyond");
}

static void money_parse__reads_only_len_bytes(void **state)
{
    (void)state;
    struct hk_err err;
    int64_t fen = 0;
    assert_int_equal(hk_money_parse("12.34junk", 5, 0, &fen, &err), 0);
    assert_int_equal(fen, 1234);
}

static void money_parse__quotes_long_input_shortened(void **state)
{
    (void)state;
    char big[200];
    memset(big, '7', sizeof(big) - 2);
    big[sizeof(big) - 2] = 'x';
    big[sizeof(big) - 1] = '\0';
    const char *msg = parse_fails(big, 0);
    assert_contains(msg, "…' is not an amount: unexpected 'x'");
    assert_true(strlen(msg) < 120);
}

static void money_format__writes_two_decimals(void **state)
{
    (void)state;
    char buf[32];
    assert_int_equal(hk_money_format(123450, buf, sizeof(buf)), 7);
    assert_string_equal(buf, "1234.50");
    hk_money_format(-5, buf, sizeof(buf));
    assert_string_equal(buf, "-0.05");
    hk_money_format(0, buf, sizeof(buf));
    assert_string_equal(buf, "0.00");
    hk_money_format(-123456, buf, sizeof(buf));
    assert_string_equal(buf, "-1234.56");
    hk_money_format(INT64_MIN, buf, 24);
    assert_string_equal(buf, "-92233720368547758.08");
    hk_money_format(INT64_MAX, buf, 24);
    assert_string_equal(buf, "92233720368547758.07");
}

static void money_format__truncates_to_the_buffer(void **state)
{
    (void)state;
    char buf[4];
    assert_int_equal(hk_money_format(123450, buf, sizeof(buf)), 3);
    assert_string_equal(buf, "123");
}

static void money__format_then_parse_round_trips(void **state)
{
    (void)state;
    const int64_t values[] = {0, 1, 99, 100, 12345, 9000000000000000LL, -1, -250};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char buf[32];
        hk_money_format(values[i], buf, sizeof(buf));
        assert_int_equal(parse_ok(buf, HK_MONEY_ALLOW_NEGATIVE), values[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(money_parse__reads_plain_amounts),
        cmocka_unit_test(money_parse__accepts_thousands_separators_in_groups_of_three),
        cmocka_unit_test(money_parse__accepts_currency_signs_and_spaces),
        cmocka_unit_test(money_parse__reads_negatives_only_when_allowed),
        cmocka_unit_test(money_parse__treats_minus_zero_as_zero),
        cmocka_unit_test(money_parse__rejects_three_decimals),
        cmocka_unit_test(money_parse__rejects_stray_characters_naming_them),
        cmocka_unit_test(money_parse__rejects_misplaced_thousands_separators),
        cmocka_unit_test(money_parse__rejects_two_decimal_points),
        cmocka_unit_test(money_parse__rejects_signs_and_symbols_without_digits),
        cmocka_unit_test(money_parse__empty_is_absent_unless_required),
        cmocka_unit_test(money_parse__rejects_values_beyond_nine_e15_fen),
        cmocka_unit_test(money_parse__reads_only_len_bytes),
        cmocka_unit_test(money_parse__quotes_long_input_shortened),
        cmocka_unit_test(money_parse__plain_digits_read_as_the_full_parse_reads_them),
        cmocka_unit_test(money_format__writes_two_decimals),
        cmocka_unit_test(money_format__truncates_to_the_buffer),
        cmocka_unit_test(money__format_then_parse_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
