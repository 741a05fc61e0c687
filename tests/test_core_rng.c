/* test_core_rng.c: Criterion tests of the splitmix64 generator and its range, unit and
 * chance helpers. Fixed seeds only: a test must never pass or fail by luck of the draw. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "../core/carom_core.h"

Test(core_rng, matches_reference_splitmix64)
{
    /* Vigna's splitmix64.c from state 0. */
    carom_rng r;
    carom_rng_seed(&r, 0);
    cr_assert_eq(carom_rng_next(&r), UINT64_C(0xe220a8397b1dcdaf));
    cr_assert_eq(carom_rng_next(&r), UINT64_C(0x6e789e6aa1b965f4));
    cr_assert_eq(carom_rng_next(&r), UINT64_C(0x06c45d188009454f));
}

Test(core_rng, same_seed_same_stream_other_seed_other_stream)
{
    carom_rng a, b, c;
    carom_rng_seed(&a, 42);
    carom_rng_seed(&b, 42);
    carom_rng_seed(&c, 43);
    int same_as_c = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = carom_rng_next(&a);
        cr_assert_eq(x, carom_rng_next(&b));
        same_as_c += x == carom_rng_next(&c);
    }
    cr_assert_eq(same_as_c, 0);
}

Test(core_rng, range_is_inclusive_and_degenerate_ranges_return_lo)
{
    carom_rng r;
    carom_rng_seed(&r, 7);
    int seen[5] = {0};
    for (int i = 0; i < 5000; i++) {
        uint64_t x = carom_rng_range(&r, 10, 14);
        cr_assert(x >= 10 && x <= 14, "got %llu", (unsigned long long)x);
        seen[x - 10]++;
    }
    for (int i = 0; i < 5; i++) /* expected 1000 each */
        cr_assert(seen[i] > 850 && seen[i] < 1150, "value %d seen %d times", i + 10, seen[i]);
    cr_assert_eq(carom_rng_range(&r, 9, 9), 9);
    cr_assert_eq(carom_rng_range(&r, 9, 3), 9);
    /* The full 64-bit range has span 2^64, which wraps to 0: it must still draw. */
    uint64_t x = carom_rng_range(&r, 0, UINT64_MAX), y = carom_rng_range(&r, 0, UINT64_MAX);
    cr_assert_neq(x, y);
    uint64_t top = carom_rng_range(&r, UINT64_MAX - 1, UINT64_MAX);
    cr_assert(top >= UINT64_MAX - 1);
}

Test(core_rng, unit_is_in_half_open_interval_with_mean_one_half)
{
    carom_rng r;
    carom_rng_seed(&r, 11);
    double sum = 0;
    int low = 0;
    for (int i = 0; i < 100000; i++) {
        double u = carom_rng_unit(&r);
        cr_assert(u >= 0.0 && u < 1.0);
        sum += u;
        low += u < 0.1;
    }
    cr_assert(sum / 100000 > 0.495 && sum / 100000 < 0.505, "mean %f", sum / 100000);
    cr_assert(low > 9500 && low < 10500, "%d below 0.1", low);
}

Test(core_rng, chance_edges_and_frequency)
{
    carom_rng r;
    carom_rng_seed(&r, 3);
    int hits = 0;
    for (int i = 0; i < 1000; i++) {
        cr_assert(!carom_rng_chance(&r, 0.0));
        cr_assert(!carom_rng_chance(&r, -1.0));
        cr_assert(!carom_rng_chance(&r, 0.0 / 0.0));
        cr_assert(carom_rng_chance(&r, 1.0));
        cr_assert(carom_rng_chance(&r, 7.5));
    }
    for (int i = 0; i < 100000; i++)
        hits += carom_rng_chance(&r, 0.3);
    cr_assert(hits > 29300 && hits < 30700, "%d hits for p=0.3", hits);
}
