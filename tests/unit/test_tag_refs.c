/*
 * test_tag_refs.c — finding the tags an expression names through has_tag() (services/tag_rules.c),
 * which orders rule tags and finds the users of a tag: both quote styles with escapes, white
 * space and newlines before the argument, and no false hits inside strings or longer names.
 */
#include "unit.h"

#include "services/tag_rules.h"

struct seen {
    char names[8][64];
    int n;
};

static void collect(void *ctx, const char *name, size_t len)
{
    struct seen *s = ctx;
    if (s->n < 8 && len < 64) {
        memcpy(s->names[s->n], name, len);
        s->names[s->n][len] = '\0';
        s->n++;
    }
}

static void tag_refs__finds_every_has_tag_argument_with_escapes(void **state)
{
    (void)state;
    struct seen s = {0};
    hk_tag_refs("has_tag(\"高客单价\") and not has_tag ( 'it\\'s' ) or\n"
                "has_tag(\n\"a\\\\b\") and frequency > 2",
                collect, &s);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.names[0], "高客单价");
    assert_string_equal(s.names[1], "it's");
    assert_string_equal(s.names[2], "a\\b");
}

static void tag_refs__ignores_strings_and_other_names(void **state)
{
    (void)state;
    struct seen s = {0};
    hk_tag_refs("main_category = \"has_tag('x')\" and my_has_tag(\"y\") and has_tags(\"z\") and "
                "in_segment('has_tag(\"w\")') and has_tag(x)",
                collect, &s);
    assert_int_equal(s.n, 0);
    assert_true(hk_tag_refs_has("recency_days > 90 or has_tag('沉睡客户')", "沉睡客户"));
    assert_false(hk_tag_refs_has("recency_days > 90 or has_tag('沉睡客户')", "沉睡"));
    assert_false(hk_tag_refs_has("has_tag(\"unterminated", "unterminated x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tag_refs__finds_every_has_tag_argument_with_escapes),
        cmocka_unit_test(tag_refs__ignores_strings_and_other_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
