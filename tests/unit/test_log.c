/*
 * test_log.c — key=value lines, quoting, levels, the line bound, and the redaction safety net.
 */
#include "unit.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"

struct sink {
    int fds[2];
    struct hk_log log;
    char out[16384];
};

static int sink_setup(void **state)
{
    struct sink *s = calloc(1, sizeof(*s));
    if (!s || pipe(s->fds) != 0)
        return -1;
    fcntl(s->fds[0], F_SETFL, O_NONBLOCK);
    hk_log_init(&s->log, s->fds[1], HK_LOG_DEBUG);
    *state = s;
    return 0;
}

static int sink_teardown(void **state)
{
    struct sink *s = *state;
    close(s->fds[0]);
    close(s->fds[1]);
    free(s);
    return 0;
}

/* Everything written so far (NUL-terminated, in s->out). */
static const char *drain(struct sink *s)
{
    size_t n = 0;
    ssize_t r;
    while (n < sizeof(s->out) - 1 && (r = read(s->fds[0], s->out + n, sizeof(s->out) - 1 - n)) > 0)
        n += (size_t)r;
    s->out[n] = '\0';
    return s->out;
}

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

static void log_kv__writes_one_key_value_line(void **state)
{
    struct sink *s = *state;
    hk_log_kv(&s->log, HK_LOG_INFO, "store.open", "7f3a00aa11bb22cc", "backend", "sqlite", "ms",
              "3", NULL);
    const char *line = drain(s);
    assert_int_equal(strncmp(line, "ts=", 3), 0);
    /* ts=YYYY-MM-DDTHH:MM:SS.mmmZ */
    assert_int_equal(line[3 + 4], '-');
    assert_int_equal(line[3 + 19], '.');
    assert_int_equal(line[3 + 23], 'Z');
    assert_contains(line,
                    " level=info event=store.open req=7f3a00aa11bb22cc backend=sqlite ms=3\n");
    assert_int_equal(count_char(line, '\n'), 1);
    assert_int_equal(line[strlen(line) - 1], '\n');
}

static void log_kv__quotes_values_with_spaces_quotes_and_equals(void **state)
{
    struct sink *s = *state;
    hk_log_kv(&s->log, HK_LOG_WARN, "import.row", NULL, "msg", "bad \"amount\" a=b", "path",
              "C:\\x", "empty", "", "none", NULL, "nl", "a\nb", NULL);
    const char *line = drain(s);
    assert_contains(line, "msg=\"bad \\\"amount\\\" a=b\"");
    assert_contains(line, "path=\"C:\\\\x\"");
    assert_contains(line, "empty=\"\"");
    assert_contains(line, "none=-");
    assert_contains(line, "nl=\"a\\nb\"");
    assert_not_contains(line, "req=");
    assert_int_equal(count_char(line, '\n'), 1);
}

static void log_kv__drops_lines_below_the_level(void **state)
{
    struct sink *s = *state;
    s->log.level = HK_LOG_WARN;
    hk_log_kv(&s->log, HK_LOG_INFO, "quiet", NULL, NULL);
    hk_log_kv(&s->log, HK_LOG_ERROR, "loud", NULL, NULL);
    const char *out = drain(s);
    assert_not_contains(out, "event=quiet");
    assert_contains(out, "level=error event=loud");
    s->log.level = HK_LOG_OFF;
    hk_log_kv(&s->log, HK_LOG_ERROR, "silenced", NULL, NULL);
    assert_string_equal(drain(s), "");
    hk_log_kv(NULL, HK_LOG_ERROR, "no logger", NULL, NULL); /* must not crash */
}

static void log_level_parse__knows_the_five_names(void **state)
{
    (void)state;
    enum hk_log_level l;
    assert_int_equal(hk_log_level_parse("debug", &l), 0);
    assert_int_equal(l, HK_LOG_DEBUG);
    assert_int_equal(hk_log_level_parse("warn", &l), 0);
    assert_int_equal(l, HK_LOG_WARN);
    assert_int_equal(hk_log_level_parse("off", &l), 0);
    assert_int_equal(l, HK_LOG_OFF);
    assert_int_equal(hk_log_level_parse("loud", &l), HK_E(INVAL));
    assert_int_equal(hk_log_level_parse("", &l), HK_E(INVAL));
}

static void log_kv__never_writes_phone_numbers_or_tokens(void **state)
{
    struct sink *s = *state;
    const char *token = "hk_Zx8vQ2mB7nK4pL9sT1wR5yU3eA6cD0fG2hJ4kM8";
    hk_log_kv(&s->log, HK_LOG_INFO, "auth.login", NULL, "phone", "13812345678", "intl",
              "+8613812345678", "auth", "Bearer hk_Zx8vQ2mB7nK4pL9sT1wR5yU3eA6cD0fG2hJ4kM8", "note",
              "call me at 13812345678 or mail buyer.li@example.com", NULL);
    const char *line = drain(s);
    assert_not_contains(line, "13812345678");
    assert_not_contains(line, "8613812345678");
    assert_not_contains(line, token);
    assert_not_contains(line, "Zx8vQ2mB7nK4");
    assert_not_contains(line, "buyer.li");
    assert_not_contains(line, "example.com");
    assert_contains(line, "phone=[redacted]");
    assert_contains(line, "intl=[redacted]");
    assert_contains(line, "auth=\"Bearer [redacted]\"");
    assert_contains(line, "note=\"call me at [redacted] or mail [redacted]\"");
}

static void log_kv__keeps_ordinary_numbers(void **state)
{
    struct sink *s = *state;
    hk_log_kv(&s->log, HK_LOG_INFO, "order.imported", NULL, "order", "245600000000009335", "shop",
              "12", "amount_fen", "1380000", "status", "200", "req_ms", "1381", "jd_order",
              "3013812345678", NULL);
    const char *line = drain(s);
    assert_contains(line, "order=245600000000009335");
    assert_contains(line, "jd_order=3013812345678"); /* ends in a phone-shaped run, but longer */
    assert_contains(line, "amount_fen=1380000");
    assert_contains(line, "req_ms=1381");
    assert_not_contains(line, "[redacted]");
}

static void log_redact__masks_mobile_numbers_in_their_common_shapes(void **state)
{
    (void)state;
    struct {
        const char *in, *out;
    } cases[] = {
        {"13812345678", "[redacted]"},
        {"+8613812345678", "[redacted]"},
        {"8613812345678", "[redacted]"},
        {"+86 13812345678", "[redacted]"},
        {"008615912345678", "[redacted]"},
        {"tel:19912345678;", "tel:[redacted];"},
        {"138-1234-5678 and 138 1234 5678", "[redacted] and [redacted]"},
        {"nick=li13812345678", "nick=li[redacted]"},
        /* Not mobile numbers: */
        {"12812345678", "12812345678"},     /* 1 then 2: no such mobile prefix */
        {"138123456789", "138123456789"},   /* 12 digits */
        {"1381234567", "1381234567"},       /* 10 digits */
        {"2138123456780", "2138123456780"}, /* inside a longer run */
        {"213812345678", "213812345678"},   /* ends a longer run */
        {"245600000000009335", "245600000000009335"},
        {"138-1234 5678", "138-1234 5678"}, /* mixed separators */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[128];
        snprintf(buf, sizeof(buf), "%s", cases[i].in);
        hk_log_redact(buf);
        if (strcmp(buf, cases[i].out) != 0)
            print_error("redact(\"%s\") = \"%s\", want \"%s\"\n", cases[i].in, buf, cases[i].out);
        assert_string_equal(buf, cases[i].out);
    }
}

static void log_redact__masks_tokens_and_emails(void **state)
{
    (void)state;
    struct {
        const char *in, *out;
    } cases[] = {
        {"token=hk_abcdefghij0123456789", "token=[redacted]"},
        {"token=hk_abcdefghij012345678", "token=hk_abcdefghij012345678"}, /* 19 chars: too short */
        {"sid=Zx8vQ2mB7nK4pL9sT1wR5yU3eA6cD0fG2hJ4kM8xY7", "sid=[redacted]"},
        {"user=li.lei+shop@mail.example.cn;", "user=[redacted];"},
        {"a@qq.com", "********"}, /* shorter than the marker: the line never grows */
        {"at @ home, me@localhost", "at @ home, me@localhost"},
        {"req=7f3a00aa11bb22cc", "req=7f3a00aa11bb22cc"},
        {"id=550e8400-e29b-41d4-a716-446655440000", "id=550e8400-e29b-41d4-a716-446655440000"},
        {"13812345678@qq.com", "[redacted]"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[128];
        snprintf(buf, sizeof(buf), "%s", cases[i].in);
        hk_log_redact(buf);
        if (strcmp(buf, cases[i].out) != 0)
            print_error("redact(\"%s\") = \"%s\", want \"%s\"\n", cases[i].in, buf, cases[i].out);
        assert_string_equal(buf, cases[i].out);
    }
}

static void fill_words(char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = "ab "[i % 3];
}

static void log_kv__bounds_the_line_and_marks_the_cut(void **state)
{
    struct sink *s = *state;
    char big[10000];
    fill_words(big, sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    hk_log_kv(&s->log, HK_LOG_INFO, "big", NULL, "v", big, "after", "x", NULL);
    const char *line = drain(s);
    assert_true(strlen(line) <= 4096);
    assert_true(strlen(line) > 4000);
    assert_int_equal(count_char(line, '\n'), 1);
    assert_contains(line, "…\n");
    assert_not_contains(line, "after=x");
}

static void log_kv__leaves_no_fragment_of_a_number_cut_before_redaction(void **state)
{
    struct sink *s = *state;
    /* 20 long e-mail addresses shrink to "[redacted]" each, so text from near the end of the
     * 8 KiB scratch buffer moves inside the 4 KiB line. A phone number straddles that end. */
    char big[9000];
    size_t k = 0;
    for (int i = 0; i < 20; i++) {
        memset(big + k, 'm', 237);
        memcpy(big + k + 237, "@example.com ", 13);
        k += 250;
    }
    fill_words(big + k, sizeof(big) - 1 - k);
    /* line prefix "ts=…Z level=info event=big v=\"" is 52 bytes; the scratch holds 8191 */
    size_t at = 8191 - 52 - 4;
    big[at - 1] = ' ';
    memcpy(big + at, "13812345678", 11);
    big[sizeof(big) - 1] = '\0';
    hk_log_kv(&s->log, HK_LOG_INFO, "big", NULL, "v", big, NULL);
    const char *line = drain(s);
    assert_true(strlen(line) < 4000); /* the redactions shrank it below the bound */
    assert_contains(line, "[redacted] [redacted]");
    assert_contains(line, "…\n");
    assert_not_contains(line, "example.com");
    assert_not_contains(line, "1381");
}

static void log_kv__redacts_across_a_long_line_before_cutting(void **state)
{
    struct sink *s = *state;
    char big[6000];
    fill_words(big, sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big + 4034, " 13812345678 ", 13); /* line bytes 4087..4097: across the bound */
    hk_log_kv(&s->log, HK_LOG_INFO, "big", NULL, "v", big, NULL);
    const char *line = drain(s);
    assert_true(strlen(line) <= 4096);
    assert_not_contains(line, "138");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(log_kv__writes_one_key_value_line, sink_setup,
                                        sink_teardown),
        cmocka_unit_test_setup_teardown(log_kv__quotes_values_with_spaces_quotes_and_equals,
                                        sink_setup, sink_teardown),
        cmocka_unit_test_setup_teardown(log_kv__drops_lines_below_the_level, sink_setup,
                                        sink_teardown),
        cmocka_unit_test(log_level_parse__knows_the_five_names),
        cmocka_unit_test_setup_teardown(log_kv__never_writes_phone_numbers_or_tokens, sink_setup,
                                        sink_teardown),
        cmocka_unit_test_setup_teardown(log_kv__keeps_ordinary_numbers, sink_setup, sink_teardown),
        cmocka_unit_test(log_redact__masks_mobile_numbers_in_their_common_shapes),
        cmocka_unit_test(log_redact__masks_tokens_and_emails),
        cmocka_unit_test_setup_teardown(log_kv__bounds_the_line_and_marks_the_cut, sink_setup,
                                        sink_teardown),
        cmocka_unit_test_setup_teardown(log_kv__leaves_no_fragment_of_a_number_cut_before_redaction,
                                        sink_setup, sink_teardown),
        cmocka_unit_test_setup_teardown(log_kv__redacts_across_a_long_line_before_cutting,
                                        sink_setup, sink_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
