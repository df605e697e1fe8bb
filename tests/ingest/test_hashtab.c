/*
 * test_hashtab.c — the importer's maps (ingest/hashtab.c): every key found with its values
 * through growth past the size from which tables live in mappings of their own (hk_big_calloc,
 * 4 MiB), absent keys not found, prefetch changing nothing, deletions leaving the rest findable,
 * and the large zeroed blocks themselves.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "ingest/hashtab.h"

/* 300k entries: the h128 table doubles up to 512Ki slots (16 MiB), the i64 one to 512Ki (4 MiB
   each for keys and values), so both cross the 4 MiB threshold while growing. */
#define N 300000

static const unsigned char KEY[16] = "test-hashtab-key";

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
    assert_true(t.cap * sizeof(*t.slots) >= (size_t)4 << 20);
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
    assert_true(t.cap * sizeof(*t.keys) >= (size_t)4 << 20);
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

static void big_calloc__zeroed_both_sides_of_the_threshold(void **state)
{
    (void)state;
    static const size_t counts[] = {1, 4096, ((size_t)4 << 20) / 8 - 1, ((size_t)4 << 20) / 8,
                                    ((size_t)9 << 20) / 8};
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
