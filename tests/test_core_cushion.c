/* test_core_cushion.c: Criterion tests of the circuit breaker: every transition, the window
 * edges, stale tickets, ageing, dead probes, the 32-bit time wrap, and multi-threaded races.
 * Helper threads never call cr_assert (Criterion asserts belong to the test's own thread);
 * they count what they saw and the test asserts on the counts. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "../core/carom_core.h"

/* The state word's layout is part of the public header; tests decode it to check that
 * every transition moved the generation exactly once. */
static unsigned mode_of(const carom_cushion *c)
{
    return (unsigned)(c->state & 3);
}
static uint32_t gen_of(const carom_cushion *c)
{
    return (uint32_t)(c->state >> 15) & 0x1ffff;
}

static const carom_cushion_cfg defcfg = {
    .failures = 5, .window = 10, .probes = 1, .half_open_ms = 30000};

/* Records failures through allowed calls until the cushion opens; returns the count. */
static int trip(carom_cushion *c, const carom_cushion_cfg *cfg, uint64_t now)
{
    for (int n = 1; n <= 64; n++) {
        carom_ticket t;
        cr_assert_eq(carom_cushion_allow(c, cfg, now, &t), CAROM_ALLOW);
        int r = carom_cushion_record(c, cfg, now, t, false);
        if (r == CAROM_CUSHION_OPEN) return n;
        cr_assert_eq(r, -1);
    }
    cr_assert_fail("cushion never opened");
    return -1;
}

static int outcome(carom_cushion *c, const carom_cushion_cfg *cfg, uint64_t now, bool ok)
{
    carom_ticket t;
    cr_assert_eq(carom_cushion_allow(c, cfg, now, &t), CAROM_ALLOW);
    return carom_cushion_record(c, cfg, now, t, ok);
}

Test(core_cushion, zeroed_memory_is_a_closed_cushion)
{
    carom_cushion c;
    memset(&c, 0, sizeof c);
    carom_ticket t = 12345;
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 1000, &t), CAROM_ALLOW);
    cr_assert_neq(t, 12345, "the ticket is always written");
    cr_assert_eq(carom_cushion_record(&c, &defcfg, 1000, t, true), -1);
    carom_cushion_view v;
    carom_cushion_peek(&c, &defcfg, 1000, &v);
    cr_assert_eq(v.mode, CAROM_CUSHION_CLOSED);
    cr_assert_eq(v.failures_in_window, 0);
    cr_assert_eq(v.ms_until_half_open, 0);

    memset(&c, 0xa5, sizeof c);
    carom_cushion_init(&c);
    cr_assert_eq(c.state, 0);
    cr_assert_eq(c.hist, 0);
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 1000, &t), CAROM_ALLOW);
}

Test(core_cushion, opens_on_the_nth_failure_and_then_fails_fast)
{
    carom_cushion c = {0};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(outcome(&c, &defcfg, 1000 + i, false), -1);
    carom_cushion_view v;
    carom_cushion_peek(&c, &defcfg, 1004, &v);
    cr_assert_eq(v.failures_in_window, 4);
    cr_assert_eq(v.mode, CAROM_CUSHION_CLOSED);
    cr_assert_eq(outcome(&c, &defcfg, 1004, false), CAROM_CUSHION_OPEN);
    cr_assert_eq(mode_of(&c), CAROM_CUSHION_OPEN);
    cr_assert_eq(gen_of(&c), 1);

    carom_ticket t;
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(carom_cushion_allow(&c, &defcfg, 2000 + i, &t), CAROM_REJECT);
        /* Recording a rejected call's ticket, either way, changes nothing. */
        cr_assert_eq(carom_cushion_record(&c, &defcfg, 2000 + i, t, i & 1), -1);
    }
    cr_assert_eq(mode_of(&c), CAROM_CUSHION_OPEN);
    cr_assert_eq(gen_of(&c), 1);
    carom_cushion_peek(&c, &defcfg, 11004, &v);
    cr_assert_eq(v.mode, CAROM_CUSHION_OPEN);
    cr_assert_eq(v.ms_until_half_open, 20000);
}

Test(core_cushion, successes_push_failures_out_of_the_window)
{
    const carom_cushion_cfg cfg = {.failures = 2, .window = 3, .probes = 1, .half_open_ms = 1000};
    carom_cushion c = {0};
    /* F S S F S S F: never two failures among the last three outcomes. */
    const bool seq[] = {false, true, true, false, true, true, false};
    for (size_t i = 0; i < sizeof seq; i++)
        cr_assert_eq(outcome(&c, &cfg, 10 + i, seq[i]), -1, "outcome %zu", i);
    carom_cushion_view v;
    carom_cushion_peek(&c, &cfg, 20, &v);
    cr_assert_eq(v.failures_in_window, 1);
    cr_assert_eq(outcome(&c, &cfg, 20, true), -1);
    cr_assert_eq(outcome(&c, &cfg, 21, true), -1);
    cr_assert_eq(outcome(&c, &cfg, 22, false), -1);                 /* S S F */
    cr_assert_eq(outcome(&c, &cfg, 23, false), CAROM_CUSHION_OPEN); /* S F F */
}

Test(core_cushion, window_of_one)
{
    const carom_cushion_cfg cfg = {.failures = 1, .window = 1, .probes = 1, .half_open_ms = 100};
    carom_cushion c = {0};
    for (int i = 0; i < 10; i++)
        cr_assert_eq(outcome(&c, &cfg, 5, true), -1);
    cr_assert_eq(outcome(&c, &cfg, 5, false), CAROM_CUSHION_OPEN);
    /* A failures count above the window is pulled down to it, so it can still trip. */
    const carom_cushion_cfg big = {.failures = 9, .window = 1, .probes = 1, .half_open_ms = 100};
    carom_cushion d = {0};
    cr_assert_eq(outcome(&d, &big, 5, false), CAROM_CUSHION_OPEN);
}

Test(core_cushion, failures_equal_to_window)
{
    const carom_cushion_cfg cfg = {.failures = 4, .window = 4, .probes = 1, .half_open_ms = 100};
    carom_cushion c = {0};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(outcome(&c, &cfg, 5, false), -1);
    cr_assert_eq(outcome(&c, &cfg, 5, true), -1);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(outcome(&c, &cfg, 5, false), -1, "the success still sits in the window");
    cr_assert_eq(outcome(&c, &cfg, 5, false), CAROM_CUSHION_OPEN);
}

Test(core_cushion, full_64_outcome_window)
{
    const carom_cushion_cfg cfg = {.failures = 64, .window = 64, .probes = 1, .half_open_ms = 100};
    carom_cushion c = {0};
    cr_assert_eq(outcome(&c, &cfg, 5, true), -1);
    for (int i = 0; i < 63; i++)
        cr_assert_eq(outcome(&c, &cfg, 5, false), -1);
    carom_cushion_view v;
    carom_cushion_peek(&c, &cfg, 5, &v);
    cr_assert_eq(v.failures_in_window, 63);
    cr_assert_eq(outcome(&c, &cfg, 5, false), CAROM_CUSHION_OPEN, "64th failure pushes out S");

    const carom_cushion_cfg w63 = {.failures = 63, .window = 63, .probes = 1, .half_open_ms = 100};
    carom_cushion d = {0};
    cr_assert_eq(trip(&d, &w63, 5), 63);
}

Test(core_cushion, open_becomes_half_open_exactly_after_half_open_ms)
{
    carom_cushion c = {0};
    trip(&c, &defcfg, 1000);
    carom_ticket t;
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 1000 + 29999, &t), CAROM_REJECT);
    carom_cushion_view v;
    carom_cushion_peek(&c, &defcfg, 1000 + 29999, &v);
    cr_assert_eq(v.ms_until_half_open, 1);
    carom_cushion_peek(&c, &defcfg, 1000 + 30000, &v);
    cr_assert_eq(v.ms_until_half_open, 0);
    cr_assert_eq(v.mode, CAROM_CUSHION_OPEN, "peek never moves the circuit");

    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 1000 + 30000, &t), CAROM_PROBE);
    cr_assert_eq(mode_of(&c), CAROM_CUSHION_HALF_OPEN);
    cr_assert_eq(gen_of(&c), 2);
    carom_cushion_peek(&c, &defcfg, 31000, &v);
    cr_assert_eq(v.mode, CAROM_CUSHION_HALF_OPEN);
    cr_assert_eq(v.probes_admitted, 1);
    carom_ticket t2;
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 31001, &t2), CAROM_REJECT, "one probe only");
}

Test(core_cushion, probe_success_closes_and_forgets_the_outage)
{
    carom_cushion c = {0};
    trip(&c, &defcfg, 1000);
    carom_ticket t;
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 31000, &t), CAROM_PROBE);
    cr_assert_eq(carom_cushion_record(&c, &defcfg, 31050, t, true), CAROM_CUSHION_CLOSED);
    cr_assert_eq(mode_of(&c), CAROM_CUSHION_CLOSED);
    cr_assert_eq(gen_of(&c), 3);
    carom_cushion_view v;
    carom_cushion_peek(&c, &defcfg, 31050, &v);
    cr_assert_eq(v.failures_in_window, 0);
    /* A fresh run of five failures is needed to open again, not one. */
    cr_assert_eq(trip(&c, &defcfg, 31100), 5);
}

Test(core_cushion, probe_failure_reopens_for_another_period)
{
    carom_cushion c = {0};
    trip(&c, &defcfg, 1000);
    carom_ticket t;
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 31000, &t), CAROM_PROBE);
    cr_assert_eq(carom_cushion_record(&c, &defcfg, 31500, t, false), CAROM_CUSHION_OPEN);
    cr_assert_eq(mode_of(&c), CAROM_CUSHION_OPEN);
    cr_assert_eq(gen_of(&c), 3);
    /* The new period counts from the probe's failure, not from the first opening. */
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 31500 + 29999, &t), CAROM_REJECT);
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 31500 + 30000, &t), CAROM_PROBE);
    cr_assert_eq(carom_cushion_record(&c, &defcfg, 61600, t, true), CAROM_CUSHION_CLOSED);
}

Test(core_cushion, several_probes_first_verdict_wins)
{
    const carom_cushion_cfg cfg = {.failures = 2, .window = 4, .probes = 3, .half_open_ms = 100};
    carom_cushion c = {0};
    trip(&c, &cfg, 0);
    carom_ticket p[3], t;
    for (int i = 0; i < 3; i++)
        cr_assert_eq(carom_cushion_allow(&c, &cfg, 100 + i, &p[i]), CAROM_PROBE, "probe %d", i);
    carom_cushion_view v;
    carom_cushion_peek(&c, &cfg, 103, &v);
    cr_assert_eq(v.probes_admitted, 3);
    cr_assert_eq(carom_cushion_allow(&c, &cfg, 103, &t), CAROM_REJECT);
    cr_assert_eq(carom_cushion_record(&c, &cfg, 110, p[1], true), CAROM_CUSHION_CLOSED);
    /* The other probes' news belongs to a period that is over. */
    cr_assert_eq(carom_cushion_record(&c, &cfg, 111, p[0], false), -1);
    cr_assert_eq(carom_cushion_record(&c, &cfg, 112, p[2], false), -1);
    cr_assert_eq(mode_of(&c), CAROM_CUSHION_CLOSED);
    carom_cushion_peek(&c, &cfg, 112, &v);
    cr_assert_eq(v.failures_in_window, 0);

    /* And a probe failure reopens even while siblings are still out. */
    trip(&c, &cfg, 200);
    cr_assert_eq(carom_cushion_allow(&c, &cfg, 300, &p[0]), CAROM_PROBE);
    cr_assert_eq(carom_cushion_allow(&c, &cfg, 300, &p[1]), CAROM_PROBE);
    cr_assert_eq(carom_cushion_record(&c, &cfg, 301, p[1], false), CAROM_CUSHION_OPEN);
    cr_assert_eq(carom_cushion_record(&c, &cfg, 302, p[0], true), -1);
    cr_assert_eq(mode_of(&c), CAROM_CUSHION_OPEN);
}

Test(core_cushion, zero_probes_means_one)
{
    const carom_cushion_cfg cfg = {.failures = 1, .window = 1, .probes = 0, .half_open_ms = 10};
    carom_cushion c = {0};
    trip(&c, &cfg, 0);
    carom_ticket t;
    cr_assert_eq(carom_cushion_allow(&c, &cfg, 10, &t), CAROM_PROBE);
    cr_assert_eq(carom_cushion_allow(&c, &cfg, 11, &t), CAROM_REJECT);
}

Test(core_cushion, stale_tickets_are_ignored)
{
    carom_cushion c = {0};
    carom_ticket old;
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 1000, &old), CAROM_ALLOW);
    trip(&c, &defcfg, 1001);
    /* A call that began before the outage cannot close the circuit by succeeding. */
    cr_assert_eq(carom_cushion_record(&c, &defcfg, 1002, old, true), -1);
    cr_assert_eq(mode_of(&c), CAROM_CUSHION_OPEN);

    carom_ticket probe;
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 31001, &probe), CAROM_PROBE);
    cr_assert_eq(carom_cushion_record(&c, &defcfg, 31002, old, true), -1);
    cr_assert_eq(mode_of(&c), CAROM_CUSHION_HALF_OPEN, "only the probe decides");
    cr_assert_eq(carom_cushion_record(&c, &defcfg, 31003, probe, true), CAROM_CUSHION_CLOSED);

    /* Nor can its failure, or the finished probe's, count in the new closed period. */
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(carom_cushion_record(&c, &defcfg, 31004, old, false), -1);
        cr_assert_eq(carom_cushion_record(&c, &defcfg, 31004, probe, false), -1);
    }
    carom_cushion_view v;
    carom_cushion_peek(&c, &defcfg, 31004, &v);
    cr_assert_eq(v.mode, CAROM_CUSHION_CLOSED);
    cr_assert_eq(v.failures_in_window, 0);
    cr_assert_eq(gen_of(&c), 3);
}

Test(core_cushion, old_failures_age_out)
{
    carom_cushion c = {0};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(outcome(&c, &defcfg, 1000 + i, false), -1);
    carom_cushion_view v;
    carom_cushion_peek(&c, &defcfg, 1003 + 30001, &v);
    cr_assert_eq(v.failures_in_window, 0, "an aged history reads as empty");
    /* Newest outcome 30001 ms old: forgotten, so this failure is the first of a new run. */
    cr_assert_eq(outcome(&c, &defcfg, 1003 + 30001, false), -1);
    carom_cushion_peek(&c, &defcfg, 1003 + 30001, &v);
    cr_assert_eq(v.failures_in_window, 1);
    cr_assert_eq(v.mode, CAROM_CUSHION_CLOSED);

    /* Exactly half_open_ms old is not "older than": the run continues and trips. */
    carom_cushion d = {0};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(outcome(&d, &defcfg, 1000 + i, false), -1);
    cr_assert_eq(outcome(&d, &defcfg, 1003 + 30000, false), CAROM_CUSHION_OPEN);

    /* Successes keep the clock fresh: a slow trickle of failures between them still counts. */
    carom_cushion e = {0};
    uint64_t now = 1000;
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(outcome(&e, &defcfg, now += 20000, false), -1);
        cr_assert_eq(outcome(&e, &defcfg, now += 1, true), -1);
    }
    cr_assert_eq(outcome(&e, &defcfg, now += 20000, false), CAROM_CUSHION_OPEN);
}

Test(core_cushion, dead_probe_is_replaced_after_another_period)
{
    carom_cushion c = {0};
    trip(&c, &defcfg, 1000);
    carom_ticket dead, t;
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 31000, &dead), CAROM_PROBE);
    /* The probe's process dies; nobody reports. Until a whole period passes, wait. */
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 31000 + 29999, &t), CAROM_REJECT);
    cr_assert_eq(mode_of(&c), CAROM_CUSHION_HALF_OPEN);
    carom_cushion_view v;
    carom_cushion_peek(&c, &defcfg, 61000, &v);
    cr_assert_eq(v.mode, CAROM_CUSHION_HALF_OPEN);
    cr_assert_eq(v.ms_until_half_open, 0);
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 31000 + 30000, &t), CAROM_PROBE);
    cr_assert_eq(gen_of(&c), 3);
    carom_ticket other;
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 61001, &other), CAROM_REJECT);
    cr_assert_eq(carom_cushion_record(&c, &defcfg, 61002, t, true), CAROM_CUSHION_CLOSED);
}

Test(core_cushion, late_report_of_a_replaced_probe_is_stale)
{
    carom_cushion c = {0};
    trip(&c, &defcfg, 1000);
    carom_ticket slow, fresh;
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 31000, &slow), CAROM_PROBE);
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 61000, &fresh), CAROM_PROBE);
    cr_assert_eq(carom_cushion_record(&c, &defcfg, 61500, slow, false), -1);
    cr_assert_eq(mode_of(&c), CAROM_CUSHION_HALF_OPEN);
    cr_assert_eq(carom_cushion_record(&c, &defcfg, 61600, fresh, false), CAROM_CUSHION_OPEN);
}

Test(core_cushion, the_32_bit_time_field_wraps)
{
    const carom_cushion_cfg cfg = {.failures = 1, .window = 1, .probes = 1, .half_open_ms = 100};
    const uint64_t wrap = UINT64_C(5) << 32; /* the low 32 bits roll over here */
    carom_cushion c = {0};
    trip(&c, &cfg, wrap - 10);
    carom_ticket t;
    carom_cushion_view v;
    carom_cushion_peek(&c, &cfg, wrap + 50, &v);
    cr_assert_eq(v.ms_until_half_open, 40);
    cr_assert_eq(carom_cushion_allow(&c, &cfg, wrap + 89, &t), CAROM_REJECT);
    cr_assert_eq(carom_cushion_allow(&c, &cfg, wrap + 90, &t), CAROM_PROBE);
    /* The dead-probe timer wraps too. */
    cr_assert_eq(carom_cushion_allow(&c, &cfg, wrap + 189, &t), CAROM_REJECT);
    cr_assert_eq(carom_cushion_allow(&c, &cfg, wrap + 190, &t), CAROM_PROBE);
    cr_assert_eq(carom_cushion_record(&c, &cfg, wrap + 191, t, true), CAROM_CUSHION_CLOSED);
    /* Ageing across the wrap uses the full 64-bit time of the newest outcome. */
    const carom_cushion_cfg two = {.failures = 2, .window = 4, .probes = 1, .half_open_ms = 100};
    carom_cushion d = {0};
    cr_assert_eq(outcome(&d, &two, wrap - 5, false), -1);
    cr_assert_eq(outcome(&d, &two, wrap + 5, false), CAROM_CUSHION_OPEN);
}

Test(core_cushion, a_clock_reading_from_just_before_the_opening_waits)
{
    /* Thread A read its clock at 9990; thread B opened the circuit at 10000. A must not
     * take the 32-bit difference (about 2^32) for a long wait and go half-open. */
    carom_cushion c = {0};
    trip(&c, &defcfg, 10000);
    carom_ticket t;
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 9990, &t), CAROM_REJECT);
    carom_cushion_view v;
    carom_cushion_peek(&c, &defcfg, 9990, &v);
    cr_assert_eq(v.ms_until_half_open, 30000);
    /* Same for an outcome timed before the newest one: it is not "aged". */
    carom_cushion d = {0};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(outcome(&d, &defcfg, 50000, false), -1);
    cr_assert_eq(outcome(&d, &defcfg, 49000, false), CAROM_CUSHION_OPEN);
}

Test(core_cushion, peek_changes_nothing)
{
    carom_cushion c = {0};
    trip(&c, &defcfg, 1000);
    carom_cushion before;
    memcpy(&before, &c, sizeof c);
    carom_cushion_view v;
    for (uint64_t now = 0; now < 200000; now += 997)
        carom_cushion_peek(&c, &defcfg, now, &v);
    cr_assert_eq(memcmp(&before, &c, sizeof c), 0);
}

Test(core_cushion, foreign_mode_bits_are_repaired_to_closed)
{
    carom_cushion c = {0};
    c.state = 3 | (UINT64_C(7) << 15);
    carom_ticket t;
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 1000, &t), CAROM_ALLOW);
    cr_assert_eq(mode_of(&c), CAROM_CUSHION_CLOSED);
    cr_assert_eq(gen_of(&c), 8);
    cr_assert_eq(trip(&c, &defcfg, 1001), 5);
}

/* ---- races ----------------------------------------------------------------------------- */

#define THREADS 8

struct race {
    carom_cushion c;
    carom_cushion_cfg cfg;
    pthread_barrier_t go;
    _Atomic uint64_t clock; /* shared fake time: every operation advances it */
    _Atomic long probes, opens, closes, allowed, bad;
    _Atomic int seeded;
    int rounds;
    bool hammer;
};

static uint64_t tick(struct race *r)
{
    return 1000000 + atomic_fetch_add(&r->clock, 1) / THREADS;
}

static void check_word(struct race *r)
{
    carom_cushion_view v;
    carom_cushion_peek(&r->c, &r->cfg, tick(r), &v);
    uint64_t s = atomic_load(&r->c.state);
    if ((s & 3) == 3 || v.probes_admitted > r->cfg.probes ||
        (v.mode != CAROM_CUSHION_HALF_OPEN && v.probes_admitted != 0))
        atomic_fetch_add(&r->bad, 1);
}

static void *hammer_thread(void *arg)
{
    struct race *r = arg;
    carom_rng rng;
    carom_rng_seed(&rng, 1 + (uint64_t)atomic_fetch_add(&r->seeded, 1));
    pthread_barrier_wait(&r->go);
    for (int i = 0; i < r->rounds; i++) {
        carom_ticket t;
        carom_verdict v = carom_cushion_allow(&r->c, &r->cfg, tick(r), &t);
        if (i % 32 == 0) check_word(r);
        if (v == CAROM_REJECT) {
            if (carom_cushion_record(&r->c, &r->cfg, tick(r), t, false) != -1)
                atomic_fetch_add(&r->bad, 1);
            continue;
        }
        if (v == CAROM_PROBE)
            atomic_fetch_add(&r->probes, 1);
        else if (v == CAROM_ALLOW)
            atomic_fetch_add(&r->allowed, 1);
        else
            atomic_fetch_add(&r->bad, 1);
        if (carom_rng_chance(&rng, 0.02)) continue; /* the caller died: its outcome never arrives */
        bool ok = carom_rng_chance(&rng, v == CAROM_PROBE ? 0.5 : 0.45);
        int tr = carom_cushion_record(&r->c, &r->cfg, tick(r), t, ok);
        if (tr == CAROM_CUSHION_OPEN && !ok)
            atomic_fetch_add(&r->opens, 1);
        else if (tr == CAROM_CUSHION_CLOSED && ok && v == CAROM_PROBE)
            atomic_fetch_add(&r->closes, 1);
        else if (tr != -1)
            atomic_fetch_add(&r->bad, 1);
    }
    return NULL;
}

static void run_threads(struct race *r, void *(*fn)(void *))
{
    pthread_t th[THREADS];
    pthread_barrier_init(&r->go, NULL, THREADS);
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, fn, r), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&r->go);
}

Test(core_cushion, hammer_no_lost_or_doubled_transitions, .timeout = 120)
{
    static struct race r;
    memset(&r, 0, sizeof r);
    r.cfg = (carom_cushion_cfg){.failures = 3, .window = 8, .probes = 1, .half_open_ms = 20};
    r.rounds = 100000;
    run_threads(&r, hammer_thread);
    cr_assert_eq(r.bad, 0, "%ld invariant violations", (long)r.bad);
    cr_assert_gt(r.opens, 10, "the hammer must actually trip the circuit");
    cr_assert_gt(r.closes, 10);
    /* With one probe per period every generation step is one reported event: an open or a
     * close from record(), or a probe admission (the half-open entry or a re-admission). */
    uint64_t events = (uint64_t)(r.opens + r.closes + r.probes);
    cr_assert_eq(gen_of(&r.c), events & 0x3fffff, "gen %u, events %llu", gen_of(&r.c),
                 (unsigned long long)events);
    cr_assert_lt(mode_of(&r.c), 3);
}

Test(core_cushion, hammer_with_three_probes_keeps_the_word_valid, .timeout = 120)
{
    static struct race r;
    memset(&r, 0, sizeof r);
    r.cfg = (carom_cushion_cfg){.failures = 2, .window = 4, .probes = 3, .half_open_ms = 10};
    r.rounds = 100000;
    run_threads(&r, hammer_thread);
    cr_assert_eq(r.bad, 0, "%ld invariant violations", (long)r.bad);
    cr_assert_gt(r.opens, 10);
    cr_assert_gt(r.closes, 10);
    /* Every period admits 1..3 probes and ends in at most one report, so the generation
     * count lies between the reported events plus probes/3 and plus all probes. */
    uint64_t g = gen_of(&r.c), oc = (uint64_t)(r.opens + r.closes);
    cr_assert_geq(g, oc + (uint64_t)r.probes / 3);
    cr_assert_leq(g, oc + (uint64_t)r.probes);
}

static void *probe_racer(void *arg)
{
    struct race *r = arg;
    for (int round = 0; round < r->rounds; round++) {
        pthread_barrier_wait(&r->go); /* the main thread has opened the cushion */
        pthread_barrier_wait(&r->go);
        carom_ticket t;
        carom_verdict v = carom_cushion_allow(&r->c, &r->cfg, 5000, &t);
        if (v == CAROM_PROBE)
            atomic_fetch_add(&r->probes, 1);
        else if (v != CAROM_REJECT)
            atomic_fetch_add(&r->bad, 1);
        pthread_barrier_wait(&r->go);
    }
    return NULL;
}

Test(core_cushion, racing_threads_admit_exactly_probes, .timeout = 120)
{
    static struct race r;
    memset(&r, 0, sizeof r);
    r.cfg = (carom_cushion_cfg){.failures = 1, .window = 1, .probes = 3, .half_open_ms = 1000};
    r.rounds = 300;
    pthread_t th[THREADS - 1];
    pthread_barrier_init(&r.go, NULL, THREADS);
    for (int i = 0; i < THREADS - 1; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, probe_racer, &r), 0);
    for (int round = 0; round < r.rounds; round++) {
        carom_cushion_init(&r.c);
        trip(&r.c, &r.cfg, 4000);
        atomic_store(&r.probes, 0);
        pthread_barrier_wait(&r.go);
        pthread_barrier_wait(&r.go); /* everyone, this thread too, calls allow() at once */
        carom_ticket t;
        if (carom_cushion_allow(&r.c, &r.cfg, 5000, &t) == CAROM_PROBE)
            atomic_fetch_add(&r.probes, 1);
        pthread_barrier_wait(&r.go);
        cr_assert_eq(r.probes, 3, "round %d admitted %ld probes", round, (long)r.probes);
        carom_cushion_view v;
        carom_cushion_peek(&r.c, &r.cfg, 5000, &v);
        cr_assert_eq(v.probes_admitted, 3);
        cr_assert_eq(gen_of(&r.c), 2, "one half-open entry, whoever won it");
    }
    for (int i = 0; i < THREADS - 1; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&r.go);
    cr_assert_eq(r.bad, 0);
}

static void *failer(void *arg)
{
    struct race *r = arg;
    for (int round = 0; round < r->rounds; round++) {
        carom_ticket t;
        pthread_barrier_wait(&r->go);
        carom_cushion_allow(&r->c, &r->cfg, 7000, &t);
        pthread_barrier_wait(&r->go);
        int tr = carom_cushion_record(&r->c, &r->cfg, 7000, t, false);
        if (tr == CAROM_CUSHION_OPEN)
            atomic_fetch_add(&r->opens, 1);
        else if (tr != -1)
            atomic_fetch_add(&r->bad, 1);
        pthread_barrier_wait(&r->go);
    }
    return NULL;
}

Test(core_cushion, simultaneous_failures_report_one_opening, .timeout = 120)
{
    static struct race r;
    memset(&r, 0, sizeof r);
    r.cfg = (carom_cushion_cfg){.failures = 3, .window = 10, .probes = 1, .half_open_ms = 1000};
    r.rounds = 300;
    pthread_t th[THREADS];
    pthread_barrier_init(&r.go, NULL, THREADS + 1);
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, failer, &r), 0);
    for (int round = 0; round < r.rounds; round++) {
        carom_cushion_init(&r.c);
        atomic_store(&r.opens, 0);
        pthread_barrier_wait(&r.go); /* all take a ticket in the closed period */
        pthread_barrier_wait(&r.go); /* all report a failure at once */
        pthread_barrier_wait(&r.go);
        cr_assert_eq(r.opens, 1, "round %d: %ld openings reported", round, (long)r.opens);
        cr_assert_eq(mode_of(&r.c), CAROM_CUSHION_OPEN);
        cr_assert_eq(gen_of(&r.c), 1);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&r.go);
    cr_assert_eq(r.bad, 0);
}

/* I/O errors on connections established earlier are recorded with the current
 * generation: they count while closed and can open the circuit, but once it is open they
 * cannot extend or disturb the outage. */
Test(core_cushion, current_ticket_counts_while_closed_only)
{
    carom_cushion c;
    carom_cushion_init(&c);
    const carom_cushion_cfg cfg = {.failures = 2, .window = 4, .probes = 1, .half_open_ms = 1000};
    cr_assert_eq(carom_cushion_record(&c, &cfg, 10, carom_cushion_current(&c), false), -1);
    cr_assert_eq(carom_cushion_record(&c, &cfg, 11, carom_cushion_current(&c), false),
                 CAROM_CUSHION_OPEN);
    carom_ticket stale = carom_cushion_current(&c);
    cr_assert_eq(carom_cushion_record(&c, &cfg, 12, stale, false), -1, "open: ignored");
    cr_assert_eq(carom_cushion_record(&c, &cfg, 13, stale, true), -1, "cannot close it either");
    carom_cushion_view v;
    carom_cushion_peek(&c, &cfg, 14, &v);
    cr_assert_eq(v.mode, CAROM_CUSHION_OPEN);
}

Test(core_cushion, fleet_mark_fails_fast_then_hands_over_to_a_probe)
{
    carom_cushion c;
    carom_cushion_init(&c);
    carom_ticket t;
    cr_assert(carom_cushion_fleet_open(&c, UINT64_MAX), "a closed circuit takes the mark");
    cr_assert(!carom_cushion_fleet_open(&c, UINT64_MAX), "marked already");
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 1000, &t), CAROM_REJECT);
    cr_assert_eq(carom_cushion_record(&c, &defcfg, 1000, carom_cushion_current(&c), false), -1,
                 "outcomes are ignored while marked");
    carom_cushion_view v;
    carom_cushion_peek(&c, &defcfg, 1000, &v);
    cr_assert_eq(v.mode, CAROM_CUSHION_FLEET_OPEN);
    /* Long after any break: still marked, the fleet decides. */
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 10000000, &t), CAROM_REJECT);
    cr_assert(carom_cushion_fleet_clear(&c, 2000));
    cr_assert(!carom_cushion_fleet_clear(&c, 2000), "cleared already");
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 2001, &t), CAROM_PROBE, "the next call probes");
    cr_assert_eq(carom_cushion_record(&c, &defcfg, 2002, t, true), CAROM_CUSHION_CLOSED);
}

Test(core_cushion, fleet_mark_never_overrides_local_state)
{
    carom_cushion c;
    carom_cushion_init(&c);
    trip(&c, &defcfg, 100);
    cr_assert_eq(mode_of(&c), CAROM_CUSHION_OPEN);
    cr_assert(!carom_cushion_fleet_open(&c, UINT64_MAX), "open here already");
    cr_assert(!carom_cushion_fleet_clear(&c, 200), "a local open is not the fleet's to clear");
    cr_assert_eq(mode_of(&c), CAROM_CUSHION_OPEN);
    carom_cushion_force_open(&c);
    cr_assert(!carom_cushion_fleet_open(&c, UINT64_MAX));
    cr_assert(!carom_cushion_fleet_clear(&c, 300), "a hand-opened circuit stays open");
    carom_cushion_view v;
    carom_cushion_peek(&c, &defcfg, 300, &v);
    cr_assert_eq(v.mode, CAROM_CUSHION_FORCED_OPEN);
    /* Closing by hand clears a mark too. */
    carom_cushion_force_close(&c, 400);
    cr_assert(carom_cushion_fleet_open(&c, UINT64_MAX));
    cr_assert(carom_cushion_force_close(&c, 500));
    cr_assert_eq(mode_of(&c), CAROM_CUSHION_CLOSED);
}

Test(core_cushion, a_fleet_mark_lapses_at_the_end_of_its_lease)
{
    carom_cushion c;
    carom_cushion_init(&c);
    carom_ticket t;
    cr_assert(carom_cushion_fleet_open(&c, 5000));
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 4999, &t), CAROM_REJECT);
    carom_cushion_fleet_renew(&c, 8000);
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 7999, &t), CAROM_REJECT, "renewed");
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 8000, &t), CAROM_PROBE,
                 "a lapsed mark turns half-open and the caller probes");
    carom_ticket t2;
    cr_assert_eq(carom_cushion_allow(&c, &defcfg, 8001, &t2), CAROM_REJECT, "one probe at a time");
    cr_assert_eq(carom_cushion_record(&c, &defcfg, 8002, t, false), CAROM_CUSHION_OPEN,
                 "the probe's failure opens it locally");
    carom_cushion_fleet_renew(&c, UINT64_MAX); /* not marked: no-op */
    cr_assert_eq(mode_of(&c), CAROM_CUSHION_OPEN);
}
