/*
 * test_clock.c — the one source of "now": fixed, set, advanced, or following the system.
 */
#include "unit.h"

#include <pthread.h>
#include <time.h>

#include "core/clock.h"

static void clock_fixed__returns_the_fixed_instant(void **state)
{
    (void)state;
    struct hk_clock c;
    hk_clock_init_fixed(&c, 1772294400);
    assert_int_equal(hk_clock_now(&c), 1772294400);
    assert_int_equal(hk_clock_now(&c), 1772294400); /* does not move by itself */
    assert_int_equal(hk_clock_now_ms(&c), 1772294400000LL);
}

static void clock_set__fixes_the_clock(void **state)
{
    (void)state;
    struct hk_clock c;
    hk_clock_init_system(&c);
    hk_clock_set(&c, 1000);
    assert_int_equal(hk_clock_now(&c), 1000);
    hk_clock_set(&c, 2000);
    assert_int_equal(hk_clock_now(&c), 2000);
}

static void clock_advance__moves_a_fixed_clock_fifteen_days_at_once(void **state)
{
    (void)state;
    struct hk_clock c;
    hk_clock_init_fixed(&c, 1772294400);
    hk_clock_advance(&c, 15 * 86400);
    assert_int_equal(hk_clock_now(&c), 1772294400 + 15 * 86400);
    hk_clock_advance(&c, -86400);
    assert_int_equal(hk_clock_now(&c), 1772294400 + 14 * 86400);
}

static void clock_system__follows_the_real_time(void **state)
{
    (void)state;
    struct hk_clock c;
    hk_clock_init_system(&c);
    int64_t before = (int64_t)time(NULL);
    int64_t now = hk_clock_now(&c);
    int64_t after = (int64_t)time(NULL);
    assert_true(now >= before && now <= after);
    int64_t ms = hk_clock_now_ms(&c);
    assert_true(ms / 1000 >= before && ms / 1000 <= after + 1);
}

static void clock_advance__shifts_a_system_clock(void **state)
{
    (void)state;
    struct hk_clock c;
    hk_clock_init_system(&c);
    hk_clock_advance(&c, 86400);
    int64_t real = (int64_t)time(NULL);
    int64_t now = hk_clock_now(&c);
    assert_true(now >= real + 86400 - 1 && now <= real + 86400 + 1);
    int64_t ms = hk_clock_now_ms(&c);
    assert_true(ms >= (real + 86400 - 1) * 1000 && ms <= (real + 86402) * 1000);
}

static void monotonic__never_goes_back(void **state)
{
    (void)state;
    int64_t a = hk_monotonic_ms();
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    int64_t b = hk_monotonic_ms();
    assert_true(b - a >= 19);
}

static void *advance_many(void *arg)
{
    for (int i = 0; i < 10000; i++)
        hk_clock_advance(arg, 1);
    return NULL;
}

static void clock_advance__is_atomic_across_threads(void **state)
{
    (void)state;
    struct hk_clock c;
    hk_clock_init_fixed(&c, 0);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, advance_many, &c), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(hk_clock_now(&c), 40000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(clock_fixed__returns_the_fixed_instant),
        cmocka_unit_test(clock_set__fixes_the_clock),
        cmocka_unit_test(clock_advance__moves_a_fixed_clock_fifteen_days_at_once),
        cmocka_unit_test(clock_system__follows_the_real_time),
        cmocka_unit_test(clock_advance__shifts_a_system_clock),
        cmocka_unit_test(monotonic__never_goes_back),
        cmocka_unit_test(clock_advance__is_atomic_across_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
