/* test_core_budget.c: Criterion tests of the retry budget: the per-second floor, the share
 * of first attempts, the 10-second slide, saturation and concurrent spending. Helper
 * threads only count; assertions stay on the test's own thread. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "../core/carom_core.h"

#define T0 UINT64_C(1000000) /* second 1000, bucket 0 */
#define MAX22 UINT64_C(0x3fffff)

/* Bucket words as documented in carom_core.h: [second:20][firsts:22][retries:22]. */
static uint64_t word(uint64_t sec, uint64_t firsts, uint64_t retries)
{
    return ((sec & 0xfffff) << 44) | (firsts << 22) | retries;
}

static int spend(carom_budget *b, const carom_budget_cfg *cfg, uint64_t now, int tries)
{
    int got = 0;
    for (int i = 0; i < tries; i++)
        got += carom_budget_try_retry(b, cfg, now);
    return got;
}

Test(core_budget, floor_allows_min_per_s_times_ten_with_no_traffic)
{
    const carom_budget_cfg cfg = {.permille = 200, .min_per_s = 10};
    carom_budget b;
    memset(&b, 0, sizeof b); /* all-zero memory is a valid, empty budget */
    cr_assert_eq(spend(&b, &cfg, T0, 100), 100);
    cr_assert(!carom_budget_try_retry(&b, &cfg, T0));
    cr_assert(!carom_budget_try_retry(&b, &cfg, T0 + 5000));

    memset(&b, 0x5a, sizeof b);
    carom_budget_init(&b);
    cr_assert_eq(spend(&b, &cfg, T0, 150), 100);

    const carom_budget_cfg none = {.permille = 200, .min_per_s = 0};
    carom_budget_init(&b);
    cr_assert(!carom_budget_try_retry(&b, &none, T0), "no floor, no firsts: no retries");
}

Test(core_budget, retries_may_add_a_share_of_first_attempts)
{
    const carom_budget_cfg cfg = {.permille = 200, .min_per_s = 0};
    carom_budget b = {0};
    for (int i = 0; i < 1000; i++)
        carom_budget_first(&b, T0 + (uint64_t)i); /* spread over one second */
    cr_assert_eq(spend(&b, &cfg, T0 + 1000, 500), 200);

    carom_budget c = {0};
    for (int i = 0; i < 999; i++)
        carom_budget_first(&c, T0);
    cr_assert_eq(spend(&c, &cfg, T0, 500), 199, "199.8 rounds down");

    /* Floor and share add up: 10 + 20% of 500. */
    const carom_budget_cfg both = {.permille = 200, .min_per_s = 1};
    carom_budget d = {0};
    for (int i = 0; i < 500; i++)
        carom_budget_first(&d, T0 + 3000);
    cr_assert_eq(spend(&d, &both, T0 + 4000, 500), 110);
}

Test(core_budget, spent_retries_expire_after_ten_seconds)
{
    const carom_budget_cfg cfg = {.permille = 200, .min_per_s = 10};
    carom_budget b = {0};
    cr_assert_eq(spend(&b, &cfg, T0 + 500, 100), 100);
    cr_assert(!carom_budget_try_retry(&b, &cfg, T0 + 9999), "second 1009 still sees 1000");
    cr_assert_eq(spend(&b, &cfg, T0 + 10000, 150), 100, "second 1010: a fresh window");
}

Test(core_budget, the_window_slides_one_second_at_a_time)
{
    const carom_budget_cfg cfg = {.permille = 0, .min_per_s = 10};
    carom_budget b = {0};
    for (int s = 0; s < 10; s++)
        cr_assert_eq(spend(&b, &cfg, T0 + 1000 * (uint64_t)s, 10), 10, "second %d", s);
    cr_assert(!carom_budget_try_retry(&b, &cfg, T0 + 9999));
    /* Second 10 drops second 0's ten retries, and only those. */
    cr_assert_eq(spend(&b, &cfg, T0 + 10000, 50), 10);
    cr_assert_eq(spend(&b, &cfg, T0 + 11000, 50), 10);
}

Test(core_budget, first_attempts_expire_too)
{
    const carom_budget_cfg cfg = {.permille = 200, .min_per_s = 0};
    carom_budget b = {0};
    for (int i = 0; i < 1000; i++)
        carom_budget_first(&b, T0);
    cr_assert_eq(spend(&b, &cfg, T0 + 5000, 50), 50);
    cr_assert_eq(spend(&b, &cfg, T0 + 10000, 50), 0, "the deposits left the window");

    /* A slot reused ten seconds later starts from zero, not from the old counts. */
    carom_budget c = {0};
    for (int i = 0; i < 1000; i++)
        carom_budget_first(&c, T0);
    carom_budget_first(&c, T0 + 10000);
    const carom_budget_cfg all = {.permille = 1000, .min_per_s = 0};
    cr_assert_eq(spend(&c, &all, T0 + 10000, 50), 1);
    cr_assert_eq(c.bucket[0] >> 44, 1010);
}

Test(core_budget, counters_saturate_instead_of_wrapping)
{
    carom_budget b = {0};
    b.bucket[0] = word(1000, MAX22 - 1, 0);
    for (int i = 0; i < 10; i++)
        carom_budget_first(&b, T0);
    cr_assert_eq(b.bucket[0], word(1000, MAX22, 0));

    const carom_budget_cfg lots = {.permille = 0, .min_per_s = UINT32_MAX};
    b.bucket[0] = word(1000, 7, MAX22 - 1);
    cr_assert(carom_budget_try_retry(&b, &lots, T0));
    cr_assert(carom_budget_try_retry(&b, &lots, T0));
    cr_assert_eq(b.bucket[0], word(1000, 7, MAX22), "retries stuck at the top, firsts intact");

    /* Ten saturated buckets times the largest permille still fit the arithmetic. */
    for (int i = 0; i < CAROM_BUDGET_BUCKETS; i++)
        b.bucket[i] = word(1000 + (uint64_t)i, MAX22, 0);
    const carom_budget_cfg wide = {.permille = UINT16_MAX, .min_per_s = UINT32_MAX};
    cr_assert(carom_budget_try_retry(&b, &wide, T0 + 9000));
    for (int i = 0; i < CAROM_BUDGET_BUCKETS; i++)
        b.bucket[i] = word(1000 + (uint64_t)i, 0, MAX22);
    const carom_budget_cfg tight = {.permille = 1000, .min_per_s = 1};
    cr_assert(!carom_budget_try_retry(&b, &tight, T0 + 9000));
}

Test(core_budget, the_20_bit_second_ring_wraps)
{
    const carom_budget_cfg cfg = {.permille = 0, .min_per_s = 10};
    const uint64_t s = (UINT64_C(1) << 20) - 6; /* six seconds before the ring wraps */
    carom_budget b = {0};
    cr_assert_eq(spend(&b, &cfg, s * 1000, 100), 100);
    cr_assert(!carom_budget_try_retry(&b, &cfg, (s + 9) * 1000 + 999));
    cr_assert_eq(spend(&b, &cfg, (s + 10) * 1000, 200), 100);
}

Test(core_budget, a_lagging_clock_never_wipes_newer_counts)
{
    /* A thread whose reading trails by ten seconds lands in the same slot as "now". Its
     * event is outside the newer window, so it is dropped rather than resetting the slot. */
    const carom_budget_cfg all = {.permille = 1000, .min_per_s = 0};
    carom_budget b = {0};
    for (int i = 0; i < 50; i++)
        carom_budget_first(&b, T0 + 10000);
    carom_budget_first(&b, T0);
    cr_assert_eq(b.bucket[0] >> 44, 1010);
    cr_assert_eq(spend(&b, &all, T0 + 10000, 100), 50);
    /* Near the ring's wrap an empty slot (second 0) is not mistaken for a newer one. */
    const uint64_t s = (UINT64_C(1) << 20) - 4;
    carom_budget c = {0};
    carom_budget_first(&c, s * 1000);
    cr_assert_eq(c.bucket[s % CAROM_BUDGET_BUCKETS] >> 44, s);
}

struct spenders {
    carom_budget b;
    carom_budget_cfg cfg;
    pthread_barrier_t go;
    _Atomic int granted;
};

static void *spender(void *arg)
{
    struct spenders *s = arg;
    pthread_barrier_wait(&s->go);
    int got = 0;
    for (int i = 0; i < 2000; i++)
        got += carom_budget_try_retry(&s->b, &s->cfg, T0 + 100);
    atomic_fetch_add(&s->granted, got);
    return NULL;
}

Test(core_budget, concurrent_spenders_overshoot_by_at_most_one_each, .timeout = 60)
{
    enum { N = 4 };
    for (int round = 0; round < 50; round++) {
        static struct spenders s;
        memset(&s, 0, sizeof s);
        s.cfg = (carom_budget_cfg){.permille = 0, .min_per_s = 10};
        pthread_barrier_init(&s.go, NULL, N);
        pthread_t th[N];
        for (int i = 0; i < N; i++)
            cr_assert_eq(pthread_create(&th[i], NULL, spender, &s), 0);
        for (int i = 0; i < N; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&s.go);
        cr_assert(s.granted >= 100 && s.granted <= 100 + N, "round %d granted %d", round,
                  (int)s.granted);
        cr_assert_eq(s.b.bucket[0] & MAX22, (uint64_t)s.granted, "every grant was counted");
    }
}
