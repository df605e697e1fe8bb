/*
 * test_hashtab.c — the importer's maps (ingest/hashtab.c): every key found with its values
 * through growth, absent keys not found, prefetch changing nothing, deletions leaving the rest
 * findable, and the large zeroed blocks (hk_big_calloc) on both sides of the size from which
 * they are mappings of their own, unmapped whole when freed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ingest/hashtab.h"

/* 300k entries: the tables double from their first size up to 512Ki slots. */
#define N 300000

static const unsigned char KEY[16] = "hashtab-test";

static struct hk_h128 digest(long i)
{
    char s[32];
    snprintf(s, sizeof s, "k%ld", i);
    const char *parts[] = {s};
    return hk_h128_of(KEY, parts, 1);
}

static void h128tab__finds_every_key_through_growth(void **state)
{
    (void)state;
    struct hk_h128tab t;
    hk_h128tab_init(&t);
    for (long i = 0; i < N; i++) {
        bool added = false;
        hk_h128tab_prefetch(&t, digest(i + 1)); /* a hint only, also on a slot not yet used */
        struct hk_h128_slot *s = hk_h128tab_put(&t, digest(i), i, -i, &added);
        assert_non_null(s);
        assert_true(added);
    }
    assert_int_equal(t.n, N);
    for (long i = 0; i < N; i++) {
        bool added = true;
        struct hk_h128_slot *s = hk_h128tab_put(&t, digest(i), 7, 7, &added);
        assert_non_null(s);
        assert_false(added);
        assert_int_equal(s->v1, i);
        assert_int_equal(s->v2, -i);
        hk_h128tab_prefetch(&t, digest(i));
        assert_ptr_equal(hk_h128tab_get(&t, digest(i)), s);
    }
    for (long i = N; i < N + 1000; i++)
        assert_null(hk_h128tab_get(&t, digest(i)));
    assert_int_equal(t.n, N);

    hk_h128tab_clear(&t); /* keeps the mapping, forgets every entry */
    assert_int_equal(t.n, 0);
    for (long i = 0; i < N; i += 997)
        assert_null(hk_h128tab_get(&t, digest(i)));
    assert_non_null(hk_h128tab_put(&t, digest(5), 1, 2, NULL));
    assert_int_equal(hk_h128tab_get(&t, digest(5))->v2, 2);
    hk_h128tab_release(&t);
    assert_int_equal(t.cap, 0);
    hk_h128tab_prefetch(&t, digest(1)); /* an empty table: nothing to ask for */
    assert_null(hk_h128tab_get(&t, digest(1)));
}

static void i64tab__deletions_leave_the_rest_findable(void **state)
{
    (void)state;
    struct hk_i64tab t;
    hk_i64tab_init(&t);
    for (int64_t i = 1; i <= N; i++)
        assert_int_equal(hk_i64tab_set(&t, i * 7919, i), 0);
    for (int64_t i = 1; i <= N; i += 2)
        hk_i64tab_del(&t, i * 7919);
    assert_int_equal(t.n, N / 2);
    for (int64_t i = 1; i <= N; i++) {
        int64_t v = 0;
        bool found = hk_i64tab_get(&t, i * 7919, &v);
        assert_int_equal(found, i % 2 == 0);
        if (found)
            assert_int_equal(v, i);
    }
    assert_int_equal(hk_i64tab_set(&t, 0, 1), -1); /* 0 marks empty slots */
    hk_i64tab_release(&t);
    assert_int_equal(t.cap, 0);
}

/* Whether any page of [p, p + bytes) is still mapped (mincore fails on unmapped ranges). */
static bool any_page_mapped(const void *p, size_t bytes)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char vec;
    uintptr_t first = (uintptr_t)p & ~(page - 1), last = ((uintptr_t)p + bytes - 1) & ~(page - 1);
    return mincore((void *)first, page, &vec) == 0 || mincore((void *)last, page, &vec) == 0;
}

static void big_calloc__zeroed_both_sides_of_the_threshold(void **state)
{
    (void)state;
    static const size_t counts[] = {1, 4096, HK_BIG_MAPPED_MIN / 8 - 1, HK_BIG_MAPPED_MIN / 8,
                                    HK_BIG_MAPPED_MIN / 8 * 3 + 5};
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        uint64_t *p = hk_big_calloc(counts[k], sizeof(*p));
        assert_non_null(p);
        uint64_t any = 0;
        for (size_t i = 0; i < counts[k]; i += 511)
            any |= p[i];
        any |= p[counts[k] - 1];
        assert_int_equal(any, 0);
        p[0] = p[counts[k] - 1] = 1; /* writable to its last element */
        hk_big_free(p, counts[k], sizeof(*p));
        if (counts[k] * sizeof(*p) >= HK_BIG_MAPPED_MIN) /* a mapping: gone, to its last page */
            assert_false(any_page_mapped(p, counts[k] * sizeof(*p)));
    }
    assert_null(hk_big_calloc(SIZE_MAX / 2, 4)); /* n * size overflows */
    hk_big_free(NULL, 1, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(h128tab__finds_every_key_through_growth),
        cmocka_unit_test(i64tab__deletions_leave_the_rest_findable),
        cmocka_unit_test(big_calloc__zeroed_both_sides_of_the_threshold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
