/*
 * test_jsontext.c — JSON text written without a JSON library: strings escaped, invalid UTF-8
 * replaced, so what is stored always parses.
 */
#include "unit.h"

#include <stdint.h>

#include "core/jsontext.h"
#include "core/strbuf.h"

static void json_text_string__passes_utf8_and_escapes_what_json_needs(void **state)
{
    (void)state;
    struct hk_strbuf sb;
    hk_strbuf_init(&sb, 0);
    assert_int_equal(hk_json_text_string(&sb, "订单 \"a\\b\"\n\r\t\x01", (size_t)-1), 0);
    assert_string_equal(sb.buf, "\"订单 \\\"a\\\\b\\\"\\n\\r\\t\\u0001\"");
    hk_strbuf_release(&sb);
}

static void json_text_string__replaces_invalid_utf8_with_fffd(void **state)
{
    (void)state;
    struct hk_strbuf sb;
    hk_strbuf_init(&sb, 0);
    /* a GBK byte pair, an overlong '/', a surrogate, a truncated sequence at the end */
    const char in[] = "a\xB6\xA9"
                      "b\xC0\xAF"
                      "c\xED\xA0\x80"
                      "d\xE8\xAE";
    assert_int_equal(hk_json_text_string(&sb, in, sizeof in - 1), 0);
    assert_string_equal(sb.buf, "\"a\xEF\xBF\xBD\xEF\xBF\xBD"
                                "b\xEF\xBF\xBD\xEF\xBF\xBD"
                                "c\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                                "d\xEF\xBF\xBD\xEF\xBF\xBD\"");
    hk_strbuf_release(&sb);
}

static void json_text_key_and_int__write_members(void **state)
{
    (void)state;
    struct hk_strbuf sb;
    hk_strbuf_init(&sb, 0);
    assert_int_equal(hk_strbuf_addch(&sb, '{'), 0);
    assert_int_equal(hk_json_text_key(&sb, "size"), 0);
    assert_int_equal(hk_json_text_int(&sb, INT64_MIN), 0);
    assert_int_equal(hk_strbuf_addch(&sb, '}'), 0);
    assert_string_equal(sb.buf, "{\"size\":-9223372036854775808}");
    hk_strbuf_release(&sb);
}

static void json_text_string__reports_the_cap(void **state)
{
    (void)state;
    struct hk_strbuf sb;
    hk_strbuf_init(&sb, 8);
    assert_true(hk_json_text_string(&sb, "0123456789", (size_t)-1) < 0);
    hk_strbuf_release(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_text_string__passes_utf8_and_escapes_what_json_needs),
        cmocka_unit_test(json_text_string__replaces_invalid_utf8_with_fffd),
        cmocka_unit_test(json_text_key_and_int__write_members),
        cmocka_unit_test(json_text_string__reports_the_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
