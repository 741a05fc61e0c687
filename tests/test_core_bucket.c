/* test_core_bucket.c: Criterion tests of the token bucket and the lease array: every
 * transition (full, take, empty with a wait, refill, cap), 32-bit time wrap, readings that
 * trail the stamp, scribbled words, and threads racing for tokens and leases. Helper
 * threads only count; assertions stay on the test's own thread. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/carom_core.h"

#define T0 UINT64_C(1000000000)

/* The word as documented in carom_core.h: [time:32][deficit in 1/1024 tokens:32]. */
#define ONE 1024u
static uint64_t word(uint32_t t, uint64_t deficit_units)
{
    return ((uint64_t)t << 32) | deficit_units;
}

/* Takes that succeed at once (no reservation ahead). */
static int drain(carom_bucket *b, const carom_bucket_cfg *c, uint64_t now, int tries)
{
    int got = 0;
    for (int i = 0; i < tries; i++)
        got += carom_bucket_take(b, c, now, 0, NULL);
    return got;
}

Test(core_bucket, zeroed_memory_is_a_full_bucket)
{
    const carom_bucket_cfg c = {.rate_per_s = 10, .burst = 5, .max_wait_ms = 1000};
    carom_bucket b;
    memset(&b, 0, sizeof b);
    cr_assert_eq(carom_bucket_tokens(&b, &c, T0), 5);
    cr_assert_eq(carom_bucket_tokens(&b, &c, 3), 5, "full whatever the clock says");
    cr_assert_eq(drain(&b, &c, T0, 100), 5);
    cr_assert_eq(carom_bucket_tokens(&b, &c, T0), 0);

    memset(&b, 0x5a, sizeof b);
    carom_bucket_init(&b);
    cr_assert_eq(drain(&b, &c, T0, 100), 5);
}

Test(core_bucket, an_empty_bucket_says_how_long_to_wait)
{
    const carom_bucket_cfg c = {.rate_per_s = 10, .burst = 5, .max_wait_ms = 1000};
    carom_bucket b = {0};
    uint32_t wait = 77;
    cr_assert(carom_bucket_take(&b, &c, T0, 0, &wait));
    cr_assert_eq(wait, 0, "a token now");
    cr_assert_eq(drain(&b, &c, T0, 4), 4);
    cr_assert(!carom_bucket_take(&b, &c, T0, 0, &wait));
    cr_assert_eq(wait, 100, "one token per 100 ms");
    /* Refill rounds down and waits round up: a wait may be one ms long, never short. */
    cr_assert(!carom_bucket_take(&b, &c, T0 + 60, 0, &wait));
    cr_assert(wait == 40 || wait == 41, "%u", wait);
    cr_assert(!carom_bucket_take(&b, &c, T0 + 99, 0, &wait));
    cr_assert(wait == 1 || wait == 2, "%u", wait);
    cr_assert(carom_bucket_take(&b, &c, T0 + 100, 0, &wait));
    cr_assert(!carom_bucket_take(&b, &c, T0 + 100, 0, &wait));
    cr_assert_eq(wait, 100);
    cr_assert(!carom_bucket_take(&b, &c, T0 + 100, 0, NULL), "wait_ms may be NULL");
}

Test(core_bucket, reservations_queue_callers_in_order)
{
    const carom_bucket_cfg c = {.rate_per_s = 10, .burst = 2, .max_wait_ms = 1000};
    carom_bucket b = {0};
    uint32_t wait;
    cr_assert_eq(drain(&b, &c, T0, 2), 2);
    for (uint32_t k = 1; k <= 10; k++) {
        cr_assert(carom_bucket_take(&b, &c, T0, 1000, &wait));
        cr_assert_eq(wait, 100 * k, "the k-th waiter's token is due after k * 100 ms");
    }
    cr_assert(!carom_bucket_take(&b, &c, T0, 1000, &wait), "beyond the longest wait");
    cr_assert_eq(wait, 1100, "refused: when a token could be had at once");
    cr_assert(!carom_bucket_take(&b, &c, T0, 5000, &wait), "max_wait_ms is cut to the cfg's");
    /* Time passes: the queue drains at the rate. */
    cr_assert(carom_bucket_take(&b, &c, T0 + 500, 1000, &wait));
    cr_assert_eq(wait, 600);
    cr_assert_eq(carom_bucket_tokens(&b, &c, T0 + 1100), 0);
    cr_assert_eq(carom_bucket_tokens(&b, &c, T0 + 1400), 2, "back to the burst");
}

Test(core_bucket, failed_takes_write_nothing)
{
    const carom_bucket_cfg c = {.rate_per_s = 1, .burst = 1};
    carom_bucket b = {0};
    cr_assert(carom_bucket_take(&b, &c, T0, 0, NULL));
    uint64_t w = atomic_load(&b.word);
    for (int i = 1; i < 1000; i++)
        cr_assert(!carom_bucket_take(&b, &c, T0 + (uint64_t)i, 0, NULL));
    cr_assert_eq(atomic_load(&b.word), w, "callers that give up cannot erode the refill");
    cr_assert(carom_bucket_take(&b, &c, T0 + 1000, 0, NULL), "exactly one second later");
}

Test(core_bucket, refill_is_continuous_and_capped_at_the_burst)
{
    const carom_bucket_cfg c = {.rate_per_s = 10, .burst = 5};
    carom_bucket b = {0};
    cr_assert_eq(drain(&b, &c, T0, 5), 5);
    cr_assert_eq(carom_bucket_tokens(&b, &c, T0 + 250), 2);
    cr_assert_eq(carom_bucket_tokens(&b, &c, T0 + 3600000), 5, "never above the burst");
    cr_assert_eq(drain(&b, &c, T0 + 3600000, 100), 5);
}

Test(core_bucket, the_rate_holds_over_a_long_run)
{
    /* 50 takes, each waiting as told, 10/s with a burst of 5: the last at >= 4.5 s. */
    const carom_bucket_cfg c = {.rate_per_s = 10, .burst = 5, .max_wait_ms = 1000};
    carom_bucket b = {0};
    uint64_t now = T0;
    for (int got = 0; got < 50; got++) {
        uint32_t wait;
        cr_assert(carom_bucket_take(&b, &c, now, 1000, &wait));
        now += wait;
    }
    cr_assert_geq(now - T0, 4500);
    cr_assert_leq(now - T0, 4510);

    /* The same without reserving: polling once per ms. */
    carom_bucket d = {0};
    now = T0;
    int got = 0;
    while (got < 50) {
        uint32_t wait;
        if (carom_bucket_take(&d, &c, now, 0, &wait))
            got++;
        else
            now += wait;
    }
    cr_assert_geq(now - T0, 4500);
    cr_assert_leq(now - T0, 4510);

    /* 3 per second: rounding is always down, so never faster than the rate. */
    const carom_bucket_cfg three = {.rate_per_s = 3, .burst = 1};
    carom_bucket e = {0};
    got = 0;
    for (uint64_t t = T0; t < T0 + 10000; t++)
        got += carom_bucket_take(&e, &three, t, 0, NULL);
    cr_assert_leq(got, 31);
    cr_assert_geq(got, 29);
}

Test(core_bucket, large_rates_bursts_and_waits_do_not_overflow)
{
    const carom_bucket_cfg c = {.rate_per_s = CAROM_BUCKET_RATE_MAX,
                                .burst = CAROM_BUCKET_BURST_MAX,
                                .max_wait_ms = 86400000};
    carom_bucket b = {0};
    cr_assert_eq(drain(&b, &c, T0, 70000), 65535);
    cr_assert_eq(drain(&b, &c, T0 + 1, 2000), 1000, "1000 per ms");
    cr_assert_eq(carom_bucket_tokens(&b, &c, T0 + 1000000), 65535);
    /* Reserving ahead stops where the deficit word is full, never wrapping it. */
    uint32_t wait = 0, last = 0;
    int n = 0;
    while (carom_bucket_take(&b, &c, T0 + 1000000, 86400000, &wait)) {
        cr_assert_geq(wait, last);
        last = wait;
        n++;
    }
    cr_assert_gt(n, 4000000);
    cr_assert_leq(last, 5000);

    const carom_bucket_cfg out = {.rate_per_s = UINT32_MAX, .burst = UINT32_MAX}; /* clamped */
    carom_bucket d = {0};
    cr_assert_eq(drain(&d, &out, T0, 70000), 65535);

    const carom_bucket_cfg zero = {.rate_per_s = 0, .burst = 0}; /* clamped to 1 and 1 */
    carom_bucket e = {0};
    cr_assert(carom_bucket_take(&e, &zero, T0, 0, &wait));
    cr_assert(!carom_bucket_take(&e, &zero, T0, 0, &wait));
    cr_assert_eq(wait, 1000);
}

Test(core_bucket, the_32_bit_time_wraps)
{
    const carom_bucket_cfg c = {.rate_per_s = 10, .burst = 2};
    carom_bucket b = {0};
    uint64_t before = (UINT64_C(7) << 32) - 50; /* 50 ms before the low 32 bits wrap */
    cr_assert_eq(drain(&b, &c, before, 5), 2);
    cr_assert(!carom_bucket_take(&b, &c, before + 99, 0, NULL));
    cr_assert(carom_bucket_take(&b, &c, before + 100, 0, NULL), "across the wrap");
    cr_assert_eq(carom_bucket_tokens(&b, &c, before + 300), 2);
}

Test(core_bucket, a_reading_behind_the_stamp_counts_no_time)
{
    const carom_bucket_cfg c = {.rate_per_s = 10, .burst = 1, .max_wait_ms = 1000};
    carom_bucket b = {0};
    cr_assert(carom_bucket_take(&b, &c, T0 + 500, 0, NULL));
    uint32_t wait;
    cr_assert(!carom_bucket_take(&b, &c, T0, 0, &wait), "not a 49-day refill");
    cr_assert_eq(wait, 600, "500 ms behind, then 100 ms");
    cr_assert_eq(carom_bucket_tokens(&b, &c, T0), 0);
    cr_assert(carom_bucket_take(&b, &c, T0, 1000, &wait));
    cr_assert_eq(wait, 600, "a reservation from behind waits for the stamp too");
}

Test(core_bucket, scribbled_words_heal)
{
    const carom_bucket_cfg c = {.rate_per_s = 10, .burst = 5, .max_wait_ms = 1000};
    carom_bucket b;
    /* A deficit beyond any queue reads as the longest queue: 1 s of waiters, then one. */
    atomic_store(&b.word, word((uint32_t)T0, UINT64_C(0xffffffff)));
    uint32_t wait;
    cr_assert(!carom_bucket_take(&b, &c, T0, 1000, &wait));
    cr_assert_leq(wait, 1200);
    cr_assert_eq(carom_bucket_tokens(&b, &c, T0 + 1600), 5);

    /* A stamp far ahead (beyond the slack) reads as long ago: the bucket refills. */
    atomic_store(&b.word, word((uint32_t)T0 + 3600000, 5 * ONE));
    cr_assert_eq(carom_bucket_tokens(&b, &c, T0), 5);

    /* A stamp just inside the slack delays refill by at most the slack. */
    atomic_store(&b.word, word((uint32_t)T0 + CAROM_BUCKET_SLACK_MS - 1, 5 * ONE));
    cr_assert(!carom_bucket_take(&b, &c, T0, 0, &wait));
    cr_assert_leq(wait, CAROM_BUCKET_SLACK_MS + 100);

    /* Every word yields a bounded wait, reserved or refused. */
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        atomic_store(&b.word, x);
        if (carom_bucket_take(&b, &c, T0, 1000, &wait))
            cr_assert_leq(wait, 1000);
        else
            cr_assert_leq(wait, CAROM_BUCKET_SLACK_MS + 1200);
        cr_assert_leq(carom_bucket_tokens(&b, &c, T0), 5);
    }
}

/* ---- threads ------------------------------------------------------------------------------ */

#define THREADS 8
struct race {
    carom_bucket b;
    carom_leases l;
    carom_bucket_cfg cfg;
    pthread_barrier_t go;
    _Atomic int got;
    _Atomic int inside, peak, bad;
};

static void *taker(void *arg)
{
    struct race *r = arg;
    pthread_barrier_wait(&r->go);
    int n = 0;
    for (uint64_t t = 0; t < 2000; t++)
        for (int k = 0; k < 10; k++)
            n += carom_bucket_take(&r->b, &r->cfg, T0 + t, 0, NULL);
    atomic_fetch_add(&r->got, n);
    return NULL;
}

static void run(struct race *r, void *(*fn)(void *))
{
    pthread_t th[THREADS];
    pthread_barrier_init(&r->go, NULL, THREADS);
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, fn, r), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&r->go);
}

Test(core_bucket, racing_threads_share_one_rate, .timeout = 120)
{
    static struct race r;
    memset(&r, 0, sizeof r);
    r.cfg = (carom_bucket_cfg){.rate_per_s = 1000, .burst = 50};
    run(&r, taker);
    /* Threads read times 0..1999 ms, each in its own order: at most the burst plus one
     * token per ms of the latest time, and the CAS loses none. */
    cr_assert_leq(atomic_load(&r.got), 50 + 2000);
    cr_assert_geq(atomic_load(&r.got), 1000);
}

/* Threads reserving ahead at one instant: every reservation gets its own due time, so
 * the k-th token handed out is due no sooner than the rate allows, and none is handed
 * out beyond the longest wait. */
struct reserve_race {
    carom_bucket b;
    carom_bucket_cfg cfg;
    pthread_barrier_t go;
    _Atomic int got;
    _Atomic uint32_t waits[4096];
};

static void *reserver(void *arg)
{
    struct reserve_race *r = arg;
    pthread_barrier_wait(&r->go);
    for (int k = 0; k < 200; k++) {
        uint32_t wait;
        if (carom_bucket_take(&r->b, &r->cfg, T0, 1000, &wait)) {
            int i = atomic_fetch_add(&r->got, 1);
            if (i < 4096) atomic_store(&r->waits[i], wait);
        }
    }
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

Test(core_bucket, racing_reservations_queue_without_double_booking, .timeout = 120)
{
    static struct reserve_race r;
    memset(&r, 0, sizeof r);
    r.cfg = (carom_bucket_cfg){.rate_per_s = 100, .burst = 10, .max_wait_ms = 1000};
    pthread_t th[THREADS];
    pthread_barrier_init(&r.go, NULL, THREADS);
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, reserver, &r), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&r.go);
    /* The burst now, then one per 10 ms up to 1000 ms ahead: 10 + 100 tokens. */
    int n = atomic_load(&r.got);
    cr_assert_eq(n, 110, "reserved: %d", n);
    uint32_t w[110];
    for (int i = 0; i < n; i++)
        w[i] = atomic_load(&r.waits[i]);
    qsort(w, (size_t)n, sizeof w[0], cmp_u32);
    for (int k = 0; k < n; k++) {
        uint32_t due = k < 10 ? 0 : (uint32_t)(k - 9) * 10; /* the k-th token's earliest time */
        cr_assert_geq(w[k], due, "token %d due at %u ms, before %u", k, w[k], due);
        cr_assert_leq(w[k], 1000);
    }
}

/* ---- leases ------------------------------------------------------------------------------- */

static bool all_alive(uint32_t h, void *ctx)
{
    (void)h, (void)ctx;
    return true;
}
static bool only_pid_lives(uint32_t h, void *ctx)
{
    return carom_lease_pid(h) == *(uint32_t *)ctx;
}

Test(core_leases, holder_words)
{
    cr_assert_eq(carom_lease_pid(carom_lease_holder(12345, 999)), 12345);
    cr_assert_neq(carom_lease_holder(12345, 1), carom_lease_holder(12345, 2));
    cr_assert_neq(carom_lease_holder(0, 0), 0, "never the free word");
    cr_assert_eq(carom_lease_pid(carom_lease_holder(4194303, 0)), 4194303);
}

Test(core_leases, take_up_to_max_then_release)
{
    carom_leases l;
    memset(&l, 0, sizeof l);
    const uint32_t me = carom_lease_holder(100, 7);
    int a = carom_leases_take(&l, 2, me, all_alive, NULL);
    int b = carom_leases_take(&l, 2, me, all_alive, NULL);
    cr_assert(a >= 0 && a < 2 && b >= 0 && b < 2 && a != b);
    cr_assert_eq(carom_leases_take(&l, 2, me, all_alive, NULL), -1, "own leases are live");
    cr_assert_eq(carom_leases_count(&l, 2), 2);
    uint32_t s = carom_leases_seq(&l);
    cr_assert(carom_leases_release(&l, a, me));
    cr_assert_neq(carom_leases_seq(&l), s, "a release wakes waiters");
    cr_assert(!carom_leases_release(&l, a, me), "twice: no");
    cr_assert(!carom_leases_release(&l, b, carom_lease_holder(101, 7)), "not the holder");
    cr_assert(!carom_leases_release(&l, -1, me));
    cr_assert(!carom_leases_release(&l, CAROM_LEASES_MAX, me));
    cr_assert_eq(carom_leases_count(&l, 2), 1);
    cr_assert_geq(carom_leases_take(&l, 2, me, NULL, NULL), 0);
    cr_assert_eq(carom_leases_take(&l, 2, me, NULL, NULL), -1, "no alive test: no reclaim");
}

Test(core_leases, max_is_clamped_and_lowering_it_counts_only_below)
{
    carom_leases l = {0};
    const uint32_t me = carom_lease_holder(5, 5);
    for (unsigned i = 0; i < CAROM_LEASES_MAX; i++)
        cr_assert_geq(carom_leases_take(&l, 1000, me, NULL, NULL), 0);
    cr_assert_eq(carom_leases_take(&l, 1000, me, NULL, NULL), -1);
    cr_assert_eq(carom_leases_count(&l, 1000), CAROM_LEASES_MAX);
    cr_assert_eq(carom_leases_count(&l, 3), 3);
    carom_leases z = {0};
    cr_assert_eq(carom_leases_take(&z, 0, me, NULL, NULL), 0, "max 0 means 1");
    cr_assert_eq(carom_leases_take(&z, 0, me, NULL, NULL), -1);
}

Test(core_leases, dead_holders_are_taken_over)
{
    carom_leases l = {0};
    uint32_t live_pid = 200;
    const uint32_t dead = carom_lease_holder(300, 1), live = carom_lease_holder(200, 1);
    cr_assert_geq(carom_leases_take(&l, 2, dead, NULL, NULL), 0);
    cr_assert_geq(carom_leases_take(&l, 2, live, NULL, NULL), 0);
    const uint32_t me = carom_lease_holder(400, 1);
    cr_assert_eq(carom_leases_take(&l, 2, me, all_alive, NULL), -1);
    /* Only pid 200 (and we) live. */
    uint32_t ctxpid = live_pid;
    int i = carom_leases_take(&l, 2, me, only_pid_lives, &ctxpid); /* everyone but 200 is dead */
    cr_assert_geq(i, 0);
    cr_assert_eq(atomic_load(&l.holder[i]), me);
    cr_assert(!carom_leases_release(&l, i, dead), "the dead holder's release is void");
    cr_assert_eq(carom_leases_take(&l, 2, me, only_pid_lives, &ctxpid), -1, "never our own");
}

Test(core_leases, scribbled_records_are_reclaimed)
{
    carom_leases l;
    memset(&l, 0xa7, sizeof l);
    const uint32_t me = carom_lease_holder(77, 3);
    uint32_t nobody = 0; /* no pid lives */
    cr_assert_eq(carom_leases_take(&l, 4, me, all_alive, NULL), -1);
    for (int k = 0; k < 4; k++)
        cr_assert_geq(carom_leases_take(&l, 4, me, only_pid_lives, &nobody), 0);
    cr_assert_eq(carom_leases_take(&l, 4, me, only_pid_lives, &nobody), -1);
}

static void *leaser(void *arg)
{
    struct race *r = arg;
    pthread_barrier_wait(&r->go);
    const uint32_t me = carom_lease_holder(1000, 1);
    for (int k = 0; k < 20000; k++) {
        int i = carom_leases_take(&r->l, 3, me, NULL, NULL);
        if (i < 0) continue;
        int now = atomic_fetch_add(&r->inside, 1) + 1;
        int p = atomic_load(&r->peak);
        while (now > p && !atomic_compare_exchange_weak(&r->peak, &p, now)) {
        }
        atomic_fetch_sub(&r->inside, 1);
        if (!carom_leases_release(&r->l, i, me)) atomic_fetch_add(&r->bad, 1);
        atomic_fetch_add(&r->got, 1);
    }
    return NULL;
}

Test(core_leases, racing_threads_never_exceed_max, .timeout = 120)
{
    static struct race r;
    memset(&r, 0, sizeof r);
    run(&r, leaser);
    cr_assert_leq(atomic_load(&r.peak), 3);
    cr_assert_geq(atomic_load(&r.peak), 1);
    cr_assert_eq(atomic_load(&r.bad), 0);
    cr_assert_gt(atomic_load(&r.got), 0);
    cr_assert_eq(carom_leases_count(&r.l, 3), 0, "every lease came back");
    cr_assert_eq(carom_leases_seq(&r.l), (uint32_t)atomic_load(&r.got));
}
