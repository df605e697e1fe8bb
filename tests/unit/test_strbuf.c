/*
 * test_strbuf.c — the growable buffer: always NUL-terminated, never NULL, and capped.
 */
#include "unit.h"

#include <stdlib.h>

#include "core/err.h"
#include "core/strbuf.h"

static void strbuf_init__is_an_empty_string_not_null(void **state)
{
    (void)state;
    struct hk_strbuf sb;
    hk_strbuf_init(&sb, 0);
    assert_non_null(sb.buf);
    assert_string_equal(sb.buf, "");
    assert_int_equal(sb.len, 0);
    assert_int_equal(sb.max, HK_STRBUF_DEFAULT_MAX);
    hk_strbuf_release(&sb);
    assert_non_null(sb.buf);
}

static void strbuf_add__appends_and_keeps_the_nul(void **state)
{
    (void)state;
    struct hk_strbuf sb;
    hk_strbuf_init(&sb, 0);
    assert_int_equal(hk_strbuf_adds(&sb, "回客"), 0);
    assert_int_equal(hk_strbuf_addch(&sb, ' '), 0);
    assert_int_equal(hk_strbuf_add(&sb, "abcdef", 3), 0);
    assert_int_equal(hk_strbuf_addf(&sb, " %d-%s", 42, "x"), 0);
    assert_string_equal(sb.buf, "回客 abc 42-x");
    assert_int_equal(sb.len, strlen("回客 abc 42-x"));
    assert_int_equal(hk_strbuf_add(&sb, NULL, 0), 0);
    hk_strbuf_release(&sb);
}

static void strbuf_addf__grows_for_long_output(void **state)
{
    (void)state;
    struct hk_strbuf sb;
    hk_strbuf_init(&sb, 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(hk_strbuf_addf(&sb, "%04d,", i), 0);
    assert_int_equal(sb.len, 5000);
    assert_int_equal(sb.buf[sb.len], '\0');
    assert_memory_equal(sb.buf + 4995, "0999,", 5);
    char big[3000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(hk_strbuf_addf(&sb, "<%s>", big), 0);
    assert_int_equal(sb.len, 5000 + 3001);
    assert_int_equal(sb.buf[sb.len - 1], '>');
    hk_strbuf_release(&sb);
}

static void strbuf_add__past_the_cap_fails_with_toolarge_and_keeps_the_content(void **state)
{
    (void)state;
    struct hk_strbuf sb;
    hk_strbuf_init(&sb, 10);
    assert_int_equal(hk_strbuf_adds(&sb, "0123456789"), 0);
    assert_int_equal(hk_strbuf_addch(&sb, 'x'), HK_E(TOOLARGE));
    assert_string_equal(sb.buf, "0123456789");
    hk_strbuf_reset(&sb);
    assert_int_equal(hk_strbuf_adds(&sb, "01234"), 0);
    assert_int_equal(hk_strbuf_addf(&sb, "%s", "abcdef"), HK_E(TOOLARGE));
    assert_string_equal(sb.buf, "01234");
    assert_int_equal(sb.len, 5);
    assert_int_equal(hk_strbuf_add(&sb, "x", SIZE_MAX), HK_E(TOOLARGE));
    hk_strbuf_release(&sb);
}

static void strbuf_reset__empties_but_keeps_memory(void **state)
{
    (void)state;
    struct hk_strbuf sb;
    hk_strbuf_init(&sb, 0);
    hk_strbuf_adds(&sb, "hello");
    size_t cap = sb.cap;
    hk_strbuf_reset(&sb);
    assert_string_equal(sb.buf, "");
    assert_int_equal(sb.len, 0);
    assert_int_equal(sb.cap, cap);
    hk_strbuf_release(&sb);
}

static void strbuf_detach__hands_over_a_string_and_leaves_sb_empty(void **state)
{
    (void)state;
    struct hk_strbuf sb;
    hk_strbuf_init(&sb, 0);
    hk_strbuf_adds(&sb, "taken");
    size_t len = 0;
    char *s = hk_strbuf_detach(&sb, &len);
    assert_string_equal(s, "taken");
    assert_int_equal(len, 5);
    assert_string_equal(sb.buf, "");
    assert_int_equal(sb.len, 0);
    free(s);
    /* Detaching a never-grown buffer still gives a string the caller can free. */
    s = hk_strbuf_detach(&sb, NULL);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
    hk_strbuf_release(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strbuf_init__is_an_empty_string_not_null),
        cmocka_unit_test(strbuf_add__appends_and_keeps_the_nul),
        cmocka_unit_test(strbuf_addf__grows_for_long_output),
        cmocka_unit_test(strbuf_add__past_the_cap_fails_with_toolarge_and_keeps_the_content),
        cmocka_unit_test(strbuf_reset__empties_but_keeps_memory),
        cmocka_unit_test(strbuf_detach__hands_over_a_string_and_leaves_sb_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
