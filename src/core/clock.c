/*
 * clock.c — the one source of "now" (see clock.h).
 *
 * A clock is either fixed (is_fixed: now is fixed_s) or follows the system's real-time clock
 * shifted by offset_s. Each field is atomic, so readers on other threads always see a whole
 * value; a reader racing hk_clock_set may see the old or the new instant, never a torn one.
 * hk_clock_set stores fixed_s before raising is_fixed, so a reader that sees is_fixed also sees
 * the instant it was fixed at (sequentially consistent atomics).
 */
#include "core/clock.h"

#include <stdatomic.h>
#include <time.h>

static int64_t realtime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void hk_clock_init_system(struct hk_clock *c)
{
    atomic_init(&c->fixed_s, 0);
    atomic_init(&c->offset_s, 0);
    atomic_init(&c->is_fixed, false);
}

void hk_clock_init_fixed(struct hk_clock *c, int64_t now_s)
{
    atomic_init(&c->fixed_s, now_s);
    atomic_init(&c->offset_s, 0);
    atomic_init(&c->is_fixed, true);
}

int64_t hk_clock_now(struct hk_clock *c)
{
    if (atomic_load(&c->is_fixed))
        return atomic_load(&c->fixed_s);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec + atomic_load(&c->offset_s);
}

int64_t hk_clock_now_ms(struct hk_clock *c)
{
    if (atomic_load(&c->is_fixed))
        return atomic_load(&c->fixed_s) * 1000;
    return realtime_ms() + atomic_load(&c->offset_s) * 1000;
}

void hk_clock_set(struct hk_clock *c, int64_t now_s)
{
    atomic_store(&c->fixed_s, now_s);
    atomic_store(&c->is_fixed, true);
}

void hk_clock_advance(struct hk_clock *c, int64_t delta_s)
{
    if (atomic_load(&c->is_fixed))
        atomic_fetch_add(&c->fixed_s, delta_s);
    else
        atomic_fetch_add(&c->offset_s, delta_s);
}

int64_t hk_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
