/*
 * test_bloom.c — the order-number filter of initial loads (ingest/bloom.c): never a missed key,
 * false "maybe"s as rare as bloom.h says at the size asked for, and only more of them beyond.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "ingest/bloom.h"

static size_t key(char *buf, size_t size, const char *prefix, long i)
{
    return (size_t)snprintf(buf, size, "%s%09ld", prefix, i);
}

/* Adds n keys to a filter sized for sized_for, checks every one is "maybe", returns how many of
   n keys never added are "maybe" too. */
static long false_maybes(size_t sized_for, long n)
{
    struct hk_bloom b;
    char k[32];
    assert_int_equal(hk_bloom_init(&b, sized_for), 0);
    for (long i = 0; i < n; i++)
        hk_bloom_add(&b, k, key(k, sizeof k, "G", i));
    for (long i = 0; i < n; i++)
        assert_true(hk_bloom_maybe(&b, k, key(k, sizeof k, "G", i)));
    long fp = 0;
    for (long i = 0; i < n; i++)
        fp += hk_bloom_maybe(&b, k, key(k, sizeof k, "260517-", i));
    hk_bloom_free(&b);
    return fp;
}

static void bloom__empty_says_no(void **state)
{
    (void)state;
    struct hk_bloom b;
    assert_int_equal(hk_bloom_init(&b, 0), 0);
    assert_false(hk_bloom_maybe(&b, "245600000000009335", 18));
    assert_false(hk_bloom_maybe(&b, "", 0));
    hk_bloom_add(&b, "", 0);
    assert_true(hk_bloom_maybe(&b, "", 0));
    hk_bloom_free(&b);
}

/* The by-hash calls (one hash for a prefetch, an ask and an add) answer as the string calls and
   set the same bits. */
static void bloom__by_hash_answers_and_adds_as_by_string(void **state)
{
    (void)state;
    struct hk_bloom a, b;
    char k[32];
    assert_int_equal(hk_bloom_init(&a, 1000), 0);
    assert_int_equal(hk_bloom_init(&b, 1000), 0);
    for (long i = 0; i < 3000; i++) { /* overfilled, so some "maybe"s are false */
        size_t len = key(k, sizeof k, i % 3 ? "G" : "H", i % 2000);
        uint64_t h = hk_bloom_hash(k, len);
        bool before = hk_bloom_maybe(&a, k, len);
        assert_true(hk_bloom_maybe_h(&a, h) == before);
        hk_bloom_prefetch(&a, h);
        assert_true(hk_bloom_maybe_add(&a, h) == before);
        assert_true(hk_bloom_maybe(&a, k, len));
        hk_bloom_add(&b, k, len);
    }
    assert_int_equal(a.nblocks, b.nblocks);
    assert_memory_equal(a.words, b.words, a.nblocks * 8 * sizeof(*a.words));
    hk_bloom_free(&a);
    hk_bloom_free(&b);
}

static void bloom__sized_right_almost_never_says_maybe_wrongly(void **state)
{
    (void)state;
    long fp = false_maybes(1000000, 1000000);
    printf("false maybes at the size asked for: %ld in 1,000,000\n", fp);
    assert_true(fp <= 10); /* measured: 1 */
}

static void bloom__overfilled_misses_nothing(void **state)
{
    (void)state;
    long fp = false_maybes(1024, 200000); /* 195 times the keys it was sized for */
    printf("false maybes overfilled: %ld in 200,000\n", fp);
    assert_true(fp > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bloom__empty_says_no),
        cmocka_unit_test(bloom__by_hash_answers_and_adds_as_by_string),
        cmocka_unit_test(bloom__sized_right_almost_never_says_maybe_wrongly),
        cmocka_unit_test(bloom__overfilled_misses_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
