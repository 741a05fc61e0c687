/* test_core_clock.c: Criterion tests of the shot clock's deadline arithmetic, edges
 * included. Times are passed in, so no test may sleep or read a clock. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "../core/carom_core.h"

Test(core_clock, no_deadline_is_unbounded)
{
    carom_shot_clock c;
    carom_clock_start(&c, 1000, 0);
    cr_assert_eq(carom_clock_left(&c, 1000), UINT64_MAX);
    cr_assert_eq(carom_clock_left(&c, UINT64_MAX), UINT64_MAX);
    cr_assert(carom_clock_fits(&c, 5000000, UINT32_MAX));
    cr_assert_eq(carom_clock_attempt_ms(&c, 2000, 0), 0);
    cr_assert_eq(carom_clock_attempt_ms(&c, 2000, 500), 500);
    cr_assert_eq(carom_clock_elapsed(&c, 1250), 250);
}

Test(core_clock, left_counts_down_to_zero_and_stays_there)
{
    carom_shot_clock c;
    carom_clock_start(&c, 1000, 300);
    cr_assert_eq(carom_clock_left(&c, 1000), 300);
    cr_assert_eq(carom_clock_left(&c, 1299), 1);
    cr_assert_eq(carom_clock_left(&c, 1300), 0);
    cr_assert_eq(carom_clock_left(&c, 99999), 0);
    /* A reading from before the start (another thread's clock) sees the whole budget. */
    cr_assert_eq(carom_clock_left(&c, 900), 400);
}

Test(core_clock, fits_is_strict)
{
    carom_shot_clock c;
    carom_clock_start(&c, 0, 1000); /* now 0 is a legal monotonic reading */
    cr_assert(carom_clock_fits(&c, 0, 999));
    cr_assert(!carom_clock_fits(&c, 0, 1000)); /* waking at the deadline leaves no time */
    cr_assert(carom_clock_fits(&c, 500, 499));
    cr_assert(!carom_clock_fits(&c, 500, 500));
    cr_assert(!carom_clock_fits(&c, 1000, 0));
    cr_assert(!carom_clock_fits(&c, 2000, 0));
}

Test(core_clock, attempt_ms_is_min_of_bound_and_time_left)
{
    carom_shot_clock c;
    carom_clock_start(&c, 10000, 5000);
    cr_assert_eq(carom_clock_attempt_ms(&c, 10000, 0), 5000);
    cr_assert_eq(carom_clock_attempt_ms(&c, 10000, 2000), 2000);
    cr_assert_eq(carom_clock_attempt_ms(&c, 14000, 2000), 1000);
    cr_assert_eq(carom_clock_attempt_ms(&c, 14999, 0), 1);
    /* Past the deadline it never says 0, which would mean "unbounded". */
    cr_assert_eq(carom_clock_attempt_ms(&c, 15000, 0), 1);
    cr_assert_eq(carom_clock_attempt_ms(&c, 20000, 2000), 1);
}

Test(core_clock, elapsed_and_extremes)
{
    carom_shot_clock c;
    carom_clock_start(&c, 5000, 10);
    cr_assert_eq(carom_clock_elapsed(&c, 5000), 0);
    cr_assert_eq(carom_clock_elapsed(&c, 7500), 2500);
    cr_assert_eq(carom_clock_elapsed(&c, 4000), 0);
    /* A deadline past the end of time saturates instead of wrapping to "none". */
    carom_clock_start(&c, UINT64_MAX - 5, 100);
    cr_assert_eq(c.deadline_at_ms, UINT64_MAX);
    cr_assert_eq(carom_clock_left(&c, UINT64_MAX - 5), 5);
    cr_assert_eq(carom_clock_attempt_ms(&c, UINT64_MAX - 5, 0), 5);
    /* Time left beyond 32 bits (a reading long before the start) clamps. */
    carom_clock_start(&c, UINT64_C(1) << 40, UINT32_MAX);
    cr_assert_eq(carom_clock_attempt_ms(&c, 0, 0), UINT32_MAX);
}
