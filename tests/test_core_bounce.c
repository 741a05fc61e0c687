/* test_core_bounce.c: Criterion tests of the backoff schedule: exact values where the
 * schedule is exact, bounds and medians with fixed seeds where it is random, saturation and
 * the Retry-After override. Tolerances are wide enough that a fixed seed is not luck. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>

#include "../core/carom_core.h"

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static uint32_t median(uint32_t *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_u32);
    return v[n / 2];
}

/* The n-th retry's delay (1-based) from a fresh schedule, drawn `count` times. */
static void draws_at(const carom_bounce_cfg *cfg, uint32_t n, uint32_t *out, size_t count,
                     uint64_t seed)
{
    carom_rng r;
    carom_rng_seed(&r, seed);
    for (size_t i = 0; i < count; i++) {
        carom_bounce b;
        carom_bounce_init(&b, cfg);
        b.attempt = n - 1;
        out[i] = carom_bounce_next(&b, cfg, &r);
        cr_assert_eq(b.attempt, n);
    }
}

#define DRAWS 20001

Test(core_bounce, none_doubles_exactly_up_to_the_cap)
{
    const carom_bounce_cfg cfg = {.base_ms = 100, .cap_ms = 30000, .jitter = CAROM_JITTER_NONE};
    const uint32_t want[] = {100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000};
    carom_rng r;
    carom_rng_seed(&r, 1);
    carom_bounce b;
    carom_bounce_init(&b, &cfg);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert_eq(carom_bounce_next(&b, &cfg, &r), want[i], "retry %zu", i + 1);
    cr_assert_eq(b.attempt, 11);
}

Test(core_bounce, cap_below_first_delay_wins_for_every_jitter)
{
    carom_rng r;
    carom_rng_seed(&r, 2);
    for (int j = CAROM_JITTER_DECORRELATED; j <= CAROM_JITTER_NONE; j++) {
        const carom_bounce_cfg cfg = {.base_ms = 500, .cap_ms = 80, .jitter = (carom_jitter)j};
        carom_bounce b;
        carom_bounce_init(&b, &cfg);
        for (int i = 0; i < 200; i++)
            cr_assert_leq(carom_bounce_next(&b, &cfg, &r), 80, "jitter %d", j);
    }
    const carom_bounce_cfg none = {.base_ms = 500, .cap_ms = 80, .jitter = CAROM_JITTER_NONE};
    carom_bounce b = {0};
    cr_assert_eq(carom_bounce_next(&b, &none, &r), 80);
}

Test(core_bounce, full_is_bounded_with_median_at_half)
{
    const carom_bounce_cfg cfg = {.base_ms = 100, .cap_ms = 1000, .jitter = CAROM_JITTER_FULL};
    static uint32_t v[DRAWS];
    const uint32_t ceil_at[] = {0, 100, 200, 400, 800, 1000, 1000};
    for (uint32_t n = 1; n <= 6; n++) {
        draws_at(&cfg, n, v, DRAWS, 100 + n);
        uint32_t lo = UINT32_MAX, hi = 0;
        for (size_t i = 0; i < DRAWS; i++) {
            lo = v[i] < lo ? v[i] : lo;
            hi = v[i] > hi ? v[i] : hi;
        }
        cr_assert_leq(hi, ceil_at[n]);
        cr_assert_leq(lo, ceil_at[n] / 50, "full jitter reaches down to 0");
        cr_assert_geq(hi, ceil_at[n] - ceil_at[n] / 50, "and up to its ceiling");
        uint32_t m = median(v, DRAWS);
        cr_assert(m >= ceil_at[n] * 47 / 100 && m <= ceil_at[n] * 53 / 100, "n=%u median %u", n, m);
    }
}

Test(core_bounce, equal_is_half_plus_uniform_half)
{
    const carom_bounce_cfg cfg = {.base_ms = 100, .cap_ms = 1000, .jitter = CAROM_JITTER_EQUAL};
    static uint32_t v[DRAWS];
    const uint32_t ceil_at[] = {0, 100, 200, 400, 800, 1000, 1000};
    for (uint32_t n = 1; n <= 6; n++) {
        draws_at(&cfg, n, v, DRAWS, 200 + n);
        uint32_t h = ceil_at[n] / 2;
        for (size_t i = 0; i < DRAWS; i++)
            cr_assert(v[i] >= h && v[i] <= 2 * h, "n=%u got %u", n, v[i]);
        uint32_t m = median(v, DRAWS);
        cr_assert(m >= h * 3 / 2 - h / 20 && m <= h * 3 / 2 + h / 20, "n=%u median %u", n, m);
    }
    /* Odd ceilings round the half down and never exceed the ceiling. */
    const carom_bounce_cfg odd = {.base_ms = 1, .cap_ms = 1, .jitter = CAROM_JITTER_EQUAL};
    draws_at(&odd, 1, v, 100, 9);
    for (size_t i = 0; i < 100; i++)
        cr_assert_eq(v[i], 0);
}

Test(core_bounce, decorrelated_first_draw_is_uniform_base_to_3_base)
{
    const carom_bounce_cfg cfg = {.base_ms = 100, .cap_ms = 30000};
    static uint32_t v[DRAWS];
    draws_at(&cfg, 1, v, DRAWS, 300);
    for (size_t i = 0; i < DRAWS; i++)
        cr_assert(v[i] >= 100 && v[i] <= 300, "got %u", v[i]);
    uint32_t m = median(v, DRAWS);
    cr_assert(m >= 192 && m <= 208, "median %u, want about 200", m);
    /* A zeroed schedule is a fresh one: d(0) = base even though prev_ms is 0. */
    carom_rng r;
    carom_rng_seed(&r, 5);
    for (int i = 0; i < 1000; i++) {
        carom_bounce b = {0};
        uint32_t d = carom_bounce_next(&b, &cfg, &r);
        cr_assert(d >= 100 && d <= 300);
    }
}

Test(core_bounce, decorrelated_stays_in_base_cap_and_grows_from_prev)
{
    const carom_bounce_cfg cfg = {.base_ms = 50, .cap_ms = 5000};
    carom_rng r;
    carom_rng_seed(&r, 301);
    for (int s = 0; s < 2000; s++) {
        carom_bounce b;
        carom_bounce_init(&b, &cfg);
        uint32_t prev = cfg.base_ms;
        for (int n = 0; n < 20; n++) {
            uint32_t d = carom_bounce_next(&b, &cfg, &r);
            uint32_t hi = 3 * prev < cfg.cap_ms ? 3 * prev : cfg.cap_ms;
            cr_assert(d >= cfg.base_ms && d <= hi, "d=%u prev=%u", d, prev);
            cr_assert_eq(b.prev_ms, d);
            prev = d;
        }
    }
}

Test(core_bounce, decorrelated_does_not_pile_up_at_the_cap)
{
    const carom_bounce_cfg cfg = {.base_ms = 100, .cap_ms = 1000};
    carom_rng r;
    carom_rng_seed(&r, 302);
    static uint32_t late[1000 * 20];
    size_t nlate = 0, at_cap = 0, total = 0;
    for (int s = 0; s < 1000; s++) {
        carom_bounce b;
        carom_bounce_init(&b, &cfg);
        for (int n = 0; n < 30; n++) {
            uint32_t d = carom_bounce_next(&b, &cfg, &r);
            at_cap += d == cfg.cap_ms;
            total++;
            if (n >= 10) late[nlate++] = d;
        }
    }
    /* Clamping after the draw would put well over half the late draws on the cap; bounding
     * the range first gives about 1 in (cap - base + 1). */
    cr_assert_lt(at_cap * 100, total, "%zu of %zu draws at the cap", at_cap, total);
    uint32_t m = median(late, nlate);
    cr_assert(m > 300 && m < 800, "late median %u", m);
}

Test(core_bounce, exponent_saturates_without_overflow)
{
    const uint32_t attempts[] = {31, 32, 33, 63, 64, 65, 1000, UINT32_MAX - 1, UINT32_MAX};
    carom_rng r;
    carom_rng_seed(&r, 4);
    for (size_t i = 0; i < sizeof attempts / sizeof attempts[0]; i++) {
        carom_bounce_cfg cfg = {
            .base_ms = UINT32_MAX, .cap_ms = UINT32_MAX, .jitter = CAROM_JITTER_NONE};
        carom_bounce b = {.attempt = attempts[i], .prev_ms = UINT32_MAX};
        cr_assert_eq(carom_bounce_next(&b, &cfg, &r), UINT32_MAX);
        cfg = (carom_bounce_cfg){.base_ms = 3, .cap_ms = 60000, .jitter = CAROM_JITTER_NONE};
        b = (carom_bounce){.attempt = attempts[i]};
        cr_assert_eq(carom_bounce_next(&b, &cfg, &r), 60000, "attempt %u", attempts[i]);
        cr_assert_eq(b.attempt, attempts[i] == UINT32_MAX ? UINT32_MAX : attempts[i] + 1);
        for (int j = CAROM_JITTER_DECORRELATED; j <= CAROM_JITTER_EQUAL; j++) {
            cfg.jitter = (carom_jitter)j;
            b = (carom_bounce){.attempt = attempts[i], .prev_ms = UINT32_MAX};
            cr_assert_leq(carom_bounce_next(&b, &cfg, &r), 60000);
        }
    }
    /* 2^(n-1) just below the 32-bit boundary: base * 2^31 still fits 64 bits, exactly. */
    const carom_bounce_cfg big = {.base_ms = 1, .cap_ms = UINT32_MAX, .jitter = CAROM_JITTER_NONE};
    carom_bounce b = {.attempt = 31};
    cr_assert_eq(carom_bounce_next(&b, &big, &r), UINT32_C(1) << 31);
    cr_assert_eq(carom_bounce_next(&b, &big, &r), UINT32_MAX);
}

Test(core_bounce, zero_base_gives_zero_delays_where_the_formula_says_so)
{
    carom_rng r;
    carom_rng_seed(&r, 6);
    for (int j = CAROM_JITTER_DECORRELATED; j <= CAROM_JITTER_NONE; j++) {
        const carom_bounce_cfg cfg = {.base_ms = 0, .cap_ms = 1000, .jitter = (carom_jitter)j};
        carom_bounce b;
        carom_bounce_init(&b, &cfg);
        for (int i = 0; i < 50; i++)
            cr_assert_eq(carom_bounce_next(&b, &cfg, &r), 0, "jitter %d", j);
    }
}

Test(core_bounce, retry_after_overrides_and_the_schedule_continues)
{
    const carom_bounce_cfg cfg = {.base_ms = 100, .cap_ms = 30000};
    carom_rng r;
    carom_rng_seed(&r, 7);
    carom_bounce b;
    carom_bounce_init(&b, &cfg);
    carom_bounce_next(&b, &cfg, &r);
    cr_assert_eq(carom_bounce_retry_after(&b, 2000, 60000), 2000);
    cr_assert_eq(b.attempt, 2);
    cr_assert_eq(carom_bounce_retry_after(&b, 120000, 60000), 60000, "clamped to max");
    cr_assert_eq(b.attempt, 3);
    cr_assert_eq(carom_bounce_retry_after(&b, 2000, 60000), 2000);
    /* Decorrelated continues from the server's pace: uniform(base, min(cap, 3 * 2000)). */
    uint32_t hi = 0;
    for (int i = 0; i < 2000; i++) {
        carom_bounce c = b;
        uint32_t d = carom_bounce_next(&c, &cfg, &r);
        cr_assert(d >= 100 && d <= 6000, "got %u", d);
        hi = d > hi ? d : hi;
        cr_assert_eq(c.attempt, 5);
    }
    cr_assert_gt(hi, 5000);
    /* A Retry-After of 0 is honoured, and the next decorrelated draw is still >= base. */
    cr_assert_eq(carom_bounce_retry_after(&b, 0, 60000), 0);
    uint32_t d = carom_bounce_next(&b, &cfg, &r);
    cr_assert_eq(d, 100);
    /* The exponential schedules count the override as a retry. */
    const carom_bounce_cfg none = {.base_ms = 100, .cap_ms = 30000, .jitter = CAROM_JITTER_NONE};
    carom_bounce e;
    carom_bounce_init(&e, &none);
    carom_bounce_retry_after(&e, 5, 10);
    carom_bounce_retry_after(&e, 5, 10);
    cr_assert_eq(carom_bounce_next(&e, &none, &r), 400);
    /* The attempt counter saturates rather than wrapping to a fresh schedule. */
    e.attempt = UINT32_MAX;
    carom_bounce_retry_after(&e, 1, 10);
    cr_assert_eq(e.attempt, UINT32_MAX);
}

Test(core_bounce, same_seed_same_schedule)
{
    const carom_bounce_cfg cfg = {.base_ms = 100, .cap_ms = 30000};
    carom_rng r1, r2;
    carom_rng_seed(&r1, 99);
    carom_rng_seed(&r2, 99);
    carom_bounce a, b;
    carom_bounce_init(&a, &cfg);
    carom_bounce_init(&b, &cfg);
    for (int i = 0; i < 50; i++)
        cr_assert_eq(carom_bounce_next(&a, &cfg, &r1), carom_bounce_next(&b, &cfg, &r2));
}
