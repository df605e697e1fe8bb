/*
 * clock.h — the one source of "now".
 *
 * Logic never calls time(): it takes `now` (int64 seconds since the Unix epoch, UTC) as a
 * parameter. The server owns one clock; tests and the CLI (`--now`) fix it to a given instant,
 * and may advance it, so that "wait 15 days" is testable in milliseconds.
 *
 * Thread safety: hk_clock_now / set / advance may be called from any thread (atomic).
 */
#ifndef HK_CORE_CLOCK_H
#define HK_CORE_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

struct hk_clock {
    _Atomic int64_t fixed_s;  /* the fixed instant when is_fixed */
    _Atomic int64_t offset_s; /* added to the system time when not fixed */
    _Atomic bool is_fixed;
};

/** A clock that follows the system time. */
void hk_clock_init_system(struct hk_clock *c);
/** A clock fixed at now_s until set or advanced. */
void hk_clock_init_fixed(struct hk_clock *c, int64_t now_s);
/** Current time in seconds since the epoch, UTC. */
int64_t hk_clock_now(struct hk_clock *c);
/** Current time in milliseconds (system clocks: real milliseconds; fixed clocks: now_s*1000). */
int64_t hk_clock_now_ms(struct hk_clock *c);
/** Fixes the clock at now_s. */
void hk_clock_set(struct hk_clock *c, int64_t now_s);
/** Moves the clock forward (or back, if negative) by delta_s, fixed or not. */
void hk_clock_advance(struct hk_clock *c, int64_t delta_s);

/** Monotonic milliseconds for measuring durations (not a wall time; never stored). */
int64_t hk_monotonic_ms(void);

#endif
