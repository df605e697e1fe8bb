/*
 * test_engine_tags.c — whole-bitmap tags (engine/tags.c): a segment result assigned to a tag is
 * what has_tag() then selects (merged-away rows never), re-assigning reports whether anything
 * changed, clearing empties it, membership and counts per customer, the bitmap survives the
 * customer table growing and a merge moves the loser's membership, and buyers per main category.
 */
#include "../unit/unit.h"

#include "core/err.h"
#include "core/tz.h"
#include "engine/engine.h"
#include "engine/segment.h"

#include <stdlib.h>

static int64_t at(const char *s)
{
    int64_t t = 0;
    struct hk_err err;
    assert_int_equal(hk_time_parse(s, strlen(s), NULL, &t, &err), 0);
    return t;
}

#define NOW at("2026-03-01T12:00:00+08:00")

/* Customers 1..n; customer i pays i × 10 yuan once, for product 101 (cat A) when i is even,
 * 102 (cat B) when odd. */
static struct hk_engine *engine_with(int n)
{
    struct hk_engine *e = NULL;
    struct hk_err err;
    assert_int_equal(hk_engine_new(NULL, &e, &err), 0);
    assert_int_equal(hk_engine_add_shop(e, 1, "Asia/Shanghai", &err), 0);
    assert_int_equal(hk_engine_add_product(e, 101, "P1", "A", &err), 0);
    assert_int_equal(hk_engine_add_product(e, 102, "P2", "B", &err), 0);
    for (int i = 1; i <= n; i++) {
        struct hk_engine_line line = {i % 2 ? 102 : 101, 1000 * i};
        struct hk_engine_order o = {i,        i, 1,     HK_ORDER_PAID, true, NOW - 86400,
                                    1000 * i, 0, false, &line,         1};
        assert_int_equal(hk_engine_apply_order(e, &o, &err), 0);
    }
    assert_int_equal(hk_engine_load_finish(e, &err), 0);
    assert_int_equal(hk_engine_rescore(e, NOW, &err), 0);
    return e;
}

static size_t count(struct hk_engine *e, const char *expr)
{
    size_t n = 0;
    struct hk_err err;
    int rc = hk_segment_count(e, expr, NULL, NOW, &n, &err);
    if (rc)
        print_error("%s: %s\n", expr, hk_err_message(&err));
    assert_int_equal(rc, 0);
    return n;
}

/* Evaluates expr and assigns it to tag name; returns whether anything changed. */
static bool assign(struct hk_engine *e, const char *name, const char *expr)
{
    struct hk_err err;
    struct hk_segment *seg = NULL;
    assert_int_equal(hk_segment_compile(e, expr, NULL, &seg, &err), 0);
    size_t words = hk_segment_words(e);
    uint64_t *bits = malloc(words * sizeof(*bits));
    assert_non_null(bits);
    assert_int_equal(hk_segment_eval(e, seg, NOW, bits, NULL, &err), 0);
    bool changed = false;
    assert_int_equal(hk_engine_tag_assign(e, name, bits, words, &changed, &err), 0);
    free(bits);
    hk_segment_free(seg);
    return changed;
}

static uint32_t tag_id(struct hk_engine *e, const char *name)
{
    return hk_engine_dict_find(e, HK_DICT_TAG, name, strlen(name));
}

static void tags__assigned_bitmap_is_what_has_tag_selects(void **state)
{
    (void)state;
    struct hk_engine *e = engine_with(200);
    assert_true(assign(e, "大额", "monetary >= 1000"));
    assert_int_equal(count(e, "has_tag(\"大额\")"), 101); /* 100..200 */
    assert_int_equal(count(e, "has_tag(\"大额\") and monetary < 1000"), 0);
    uint32_t t = tag_id(e, "大额");
    assert_int_not_equal(t, HK_ENGINE_NONE);
    assert_int_equal(hk_engine_tag_count(e, t), 101);
    assert_true(hk_engine_tag_has(e, t, 150));
    assert_false(hk_engine_tag_has(e, t, 99));
    assert_false(hk_engine_tag_has(e, t, 9999)); /* unknown customer */
    /* the same members again: nothing changed; others: changed */
    assert_false(assign(e, "大额", "monetary >= 1000"));
    assert_true(assign(e, "大额", "monetary >= 1500"));
    assert_int_equal(count(e, "has_tag(\"大额\")"), 51);
    /* cleared */
    bool changed = false;
    struct hk_err err;
    assert_int_equal(hk_engine_tag_assign(e, "大额", NULL, 0, &changed, &err), 0);
    assert_true(changed);
    assert_int_equal(count(e, "has_tag(\"大额\")"), 0);
    assert_int_equal(hk_engine_tag_count(e, t), 0);
    /* clearing a tag nobody ever carried defines it, allocates nothing */
    assert_int_equal(hk_engine_tag_assign(e, "空标签", NULL, 0, &changed, &err), 0);
    assert_false(changed);
    assert_int_equal(count(e, "has_tag(\"空标签\")"), 0);
    hk_engine_free(e);
}

static void tags__survive_growth_and_merges_and_skip_merged_rows(void **state)
{
    (void)state;
    struct hk_engine *e = engine_with(10);
    struct hk_err err;
    assert_true(assign(e, "偶数", "main_category = \"A\""));
    assert_int_equal(count(e, "has_tag(\"偶数\")"), 5);
    /* the table grows far past its capacity: the bitmap grows with it */
    for (int i = 11; i <= 5000; i++) {
        struct hk_engine_customer c = {i, "", "", 0};
        assert_int_equal(hk_engine_upsert_customer(e, &c, &err), 0);
    }
    assert_int_equal(count(e, "has_tag(\"偶数\")"), 5);
    assert_true(assign(e, "偶数", "main_category = \"A\" or frequency = 0"));
    assert_int_equal(count(e, "has_tag(\"偶数\")"), 5 + 4990);
    /* a merge moves a carrier's membership to the winner; the loser never counts */
    assert_true(assign(e, "偶数", "main_category = \"A\""));
    assert_int_equal(hk_engine_merge(e, 1, 2, &err), 0); /* 2 carried it, 1 did not */
    uint32_t t = tag_id(e, "偶数");
    assert_true(hk_engine_tag_has(e, t, 1));
    assert_false(hk_engine_tag_has(e, t, 2));
    assert_int_equal(hk_engine_tag_count(e, t), 5);
    /* assigning a bitmap with a merged row set keeps it out */
    size_t words = hk_segment_words(e);
    uint64_t *all = malloc(words * sizeof(*all));
    assert_non_null(all);
    memset(all, 0xff, words * sizeof(*all));
    assert_int_equal(hk_engine_tag_assign(e, "全部", all, words, NULL, &err), 0);
    free(all);
    assert_int_equal(hk_engine_tag_count(e, tag_id(e, "全部")), hk_engine_live_customers(e));
    assert_false(hk_engine_tag_has(e, tag_id(e, "全部"), 2));
    hk_engine_free(e);
}

static void tags__main_category_counts_live_buyers(void **state)
{
    (void)state;
    struct hk_engine *e = engine_with(9);
    uint32_t n = hk_engine_dict_size(e, HK_DICT_CATEGORY);
    uint64_t *c = calloc(n, sizeof *c);
    assert_non_null(c);
    hk_engine_main_category_counts(e, c, n);
    uint32_t a = hk_engine_dict_find(e, HK_DICT_CATEGORY, "A", 1);
    uint32_t b = hk_engine_dict_find(e, HK_DICT_CATEGORY, "B", 1);
    assert_int_equal(c[a], 4);
    assert_int_equal(c[b], 5);
    struct hk_err err;
    assert_int_equal(hk_engine_merge(e, 1, 3, &err), 0); /* two B buyers become one */
    hk_engine_main_category_counts(e, c, n);
    assert_int_equal(c[b], 4);
    free(c);
    hk_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tags__assigned_bitmap_is_what_has_tag_selects),
        cmocka_unit_test(tags__survive_growth_and_merges_and_skip_merged_rows),
        cmocka_unit_test(tags__main_category_counts_live_buyers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
