/* test_core_shot.c: Criterion tests of the shot engine (core/shot.c), the herd's lease and
 * the adaptive break: every transition of carom_shot_next, with time and randomness passed
 * in. It must never sleep or read a clock: every moment is a number the test chooses. */
#include <criterion/criterion.h>
#include <string.h>

#include "../core/carom_core.h"

static const carom_bounce_cfg bounce = {.base_ms = 100, .cap_ms = 400, .jitter = CAROM_JITTER_NONE};
static const carom_cushion_cfg cushion = {
    .failures = 2, .window = 4, .probes = 1, .half_open_ms = 8000, .first_break_ms = 1000};
static const carom_budget_cfg budget = {.permille = 200, .min_per_s = 10};

struct ep {
    carom_cushion c;
    carom_budget b;
    carom_herd h;
};

static carom_shot_cfg cfg_of(uint32_t retries, uint32_t deadline)
{
    carom_shot_cfg c = {.bounce = &bounce,
                        .cushion = &cushion,
                        .budget = &budget,
                        .retries = retries,
                        .deadline_ms = deadline,
                        .attempt_ms = 500,
                        .jitter_ms = 10};
    return c;
}

static void ep_init(struct ep *e)
{
    memset(e, 0, sizeof *e);
    carom_cushion_init(&e->c);
    carom_budget_init(&e->b);
    carom_herd_init(&e->h);
}

static void start(carom_shot *s, struct ep *e, uint32_t self, uint32_t retries, uint64_t now)
{
    carom_shot_cfg c = cfg_of(retries, 0);
    carom_shot_env env = {.cushion = &e->c, .budget = &e->b, .herd = &e->h, .self = self};
    carom_shot_begin(s, &c, &env, now);
}

static carom_rng rng;

/* Two failed outcomes: the test cushion opens. */
static void open_it(carom_cushion *c, uint64_t now)
{
    carom_ticket t;
    for (int i = 0; i < 2; i++) {
        carom_cushion_allow(c, &cushion, now, &t);
        carom_cushion_record(c, &cushion, now, t, false);
    }
}


static carom_cushion_mode mode(struct ep *e, uint64_t now)
{
    carom_cushion_view v;
    carom_cushion_peek(&e->c, &cushion, now, &v);
    return v.mode;
}

Test(core_shot, first_attempt_goes_at_once_and_success_stops)
{
    struct ep e;
    ep_init(&e);
    carom_shot s;
    start(&s, &e, 1, 3, 1000);
    carom_shot_step st = carom_shot_next(&s, 1000, &rng);
    cr_assert_eq(st.act, CAROM_SHOT_GO);
    cr_assert_eq(st.ms, 0);
    cr_assert_eq(st.attempt, 1);
    cr_assert(!st.retry && !st.probe);
    carom_shot_report(&s, 1001, CAROM_RESULT_OK);
    st = carom_shot_next(&s, 1001, &rng);
    cr_assert_eq(st.act, CAROM_SHOT_STOP);
    cr_assert_eq(st.why, CAROM_SHOT_OK);
    bool wake = true;
    cr_assert_eq(carom_shot_end(&s, 1001, true, &wake), -1);
    cr_assert(!wake, "a healthy endpoint publishes nothing");
    cr_assert_eq(carom_herd_word(&e.h), 0);
}

Test(core_shot, retries_follow_the_schedule_then_stop)
{
    struct ep e;
    ep_init(&e);
    carom_shot s;
    start(&s, &e, 1, 3, 1000);
    uint64_t now = 1000;
    carom_shot_step st = carom_shot_next(&s, now, &rng);
    uint32_t want[] = {100, 200, 400};
    for (int i = 0; i < 3; i++) {
        carom_shot_report(&s, now, CAROM_RESULT_RETRY);
        st = carom_shot_next(&s, now, &rng);
        cr_assert_eq(st.act, CAROM_SHOT_GO, "retry %d", i + 1);
        cr_assert(st.retry);
        cr_assert_eq(st.ms, want[i]);
        cr_assert_eq(st.attempt, (uint32_t)i + 2);
        now += st.ms;
    }
    carom_shot_report(&s, now, CAROM_RESULT_RETRY);
    st = carom_shot_next(&s, now, &rng);
    cr_assert_eq(st.act, CAROM_SHOT_STOP);
    cr_assert_eq(st.why, CAROM_SHOT_RETRIES);
    cr_assert_str_eq(carom_shot_why_name(st.why), "retries spent");
}

Test(core_shot, a_fatal_error_stops_at_once)
{
    struct ep e;
    ep_init(&e);
    carom_shot s;
    start(&s, &e, 1, 3, 1000);
    carom_shot_next(&s, 1000, &rng);
    carom_shot_report(&s, 1000, CAROM_RESULT_FATAL);
    carom_shot_step st = carom_shot_next(&s, 1000, &rng);
    cr_assert_eq(st.act, CAROM_SHOT_STOP);
    cr_assert_eq(st.why, CAROM_SHOT_FATAL);
}

Test(core_shot, the_deadline_stops_a_delay_that_would_pass_it)
{
    struct ep e;
    ep_init(&e);
    carom_shot s;
    carom_shot_cfg c = cfg_of(10, 250);
    carom_shot_env env = {.cushion = &e.c, .budget = &e.b, .herd = &e.h, .self = 1};
    carom_shot_begin(&s, &c, &env, 1000);
    carom_shot_next(&s, 1000, &rng);
    carom_shot_report(&s, 1000, CAROM_RESULT_RETRY);
    carom_shot_step st = carom_shot_next(&s, 1000, &rng); /* 100 ms: fits */
    cr_assert_eq(st.act, CAROM_SHOT_GO);
    carom_shot_report(&s, 1100, CAROM_RESULT_RETRY);
    st = carom_shot_next(&s, 1100, &rng); /* 200 ms: would end at 1300 > 1250 */
    cr_assert_eq(st.act, CAROM_SHOT_STOP);
    cr_assert_eq(st.why, CAROM_SHOT_DEADLINE);
}

Test(core_shot, an_empty_budget_stops_the_retry)
{
    struct ep e;
    ep_init(&e);
    carom_budget_cfg none = {.permille = 0, .min_per_s = 0};
    carom_shot_cfg c = cfg_of(3, 0);
    c.budget = &none;
    carom_shot_env env = {.cushion = &e.c, .budget = &e.b, .herd = &e.h, .self = 1};
    carom_shot s;
    carom_shot_begin(&s, &c, &env, 1000);
    carom_shot_next(&s, 1000, &rng);
    carom_shot_report(&s, 1000, CAROM_RESULT_RETRY);
    carom_shot_step st = carom_shot_next(&s, 1000, &rng);
    cr_assert_eq(st.act, CAROM_SHOT_STOP);
    cr_assert_eq(st.why, CAROM_SHOT_BUDGET);
    /* The budget stop gave the lease back. */
    uint32_t holder = 0;
    cr_assert(carom_herd_lead(&e.h, 2, 1000, 100, &holder));
}

Test(core_shot, a_shot_is_one_outcome_however_many_attempts_fail)
{
    struct ep e;
    ep_init(&e);
    uint64_t now = 1000;
    /* One shot of 11 failed attempts: one failure in the window (2 are needed to open). */
    carom_shot s;
    start(&s, &e, 1, 10, now);
    carom_shot_step st = carom_shot_next(&s, now, &rng);
    while (st.act == CAROM_SHOT_GO) {
        now += st.ms;
        carom_shot_report(&s, now, CAROM_RESULT_RETRY);
        st = carom_shot_next(&s, now, &rng);
    }
    cr_assert_eq(st.why, CAROM_SHOT_RETRIES);
    cr_assert_eq(s.attempts, 11);
    bool wake;
    cr_assert_eq(carom_shot_end(&s, now, false, &wake), -1, "one failed shot does not open");
    cr_assert_eq(mode(&e, now), CAROM_CUSHION_CLOSED);
    /* A second failed shot does. */
    start(&s, &e, 1, 0, now);
    carom_shot_next(&s, now, &rng);
    carom_shot_report(&s, now, CAROM_RESULT_RETRY);
    cr_assert_eq(carom_shot_next(&s, now, &rng).why, CAROM_SHOT_RETRIES);
    cr_assert_eq(carom_shot_end(&s, now, false, &wake), CAROM_CUSHION_OPEN);
}

Test(core_shot, a_second_caller_waits_for_the_leader_and_goes_on_its_success)
{
    struct ep e;
    ep_init(&e);
    carom_shot a, b;
    start(&a, &e, 11, 5, 1000);
    start(&b, &e, 22, 5, 1000);
    carom_shot_next(&a, 1000, &rng);
    carom_shot_next(&b, 1000, &rng);
    carom_shot_report(&a, 1000, CAROM_RESULT_RETRY);
    carom_shot_report(&b, 1000, CAROM_RESULT_RETRY);
    carom_shot_step sa = carom_shot_next(&a, 1000, &rng);
    cr_assert_eq(sa.act, CAROM_SHOT_GO, "the first to ask leads");
    carom_shot_step sb = carom_shot_next(&b, 1000, &rng);
    cr_assert_eq(sb.act, CAROM_SHOT_WAIT, "the other waits: no attempt, no budget");
    cr_assert_eq(sb.holder, 11);
    cr_assert_eq(sb.ms, 100);
    /* The leader's retry succeeds; its end publishes, and b goes at once (jittered). */
    carom_shot_report(&a, 1100, CAROM_RESULT_OK);
    bool wake = false;
    carom_shot_end(&a, 1100, true, &wake);
    cr_assert(wake, "the success that ends a failing spell wakes the herd");
    cr_assert(carom_herd_ok_since(sb.seen, carom_herd_word(&e.h)));
    sb = carom_shot_next(&b, 1050, &rng);
    cr_assert_eq(sb.act, CAROM_SHOT_GO);
    cr_assert(sb.joined && sb.retry);
    cr_assert_leq(sb.ms, 10);
    cr_assert_eq(b.steps, 1, "the wait used one step of b's schedule");
}

Test(core_shot, a_waiter_leads_once_the_lease_is_free_at_its_step_end)
{
    struct ep e;
    ep_init(&e);
    carom_shot a, b;
    start(&a, &e, 11, 5, 1000);
    start(&b, &e, 22, 5, 1000);
    carom_shot_next(&a, 1000, &rng);
    carom_shot_next(&b, 1000, &rng);
    carom_shot_report(&a, 1000, CAROM_RESULT_RETRY);
    carom_shot_report(&b, 1000, CAROM_RESULT_RETRY);
    carom_shot_next(&a, 1000, &rng);
    cr_assert_eq(carom_shot_next(&b, 1000, &rng).act, CAROM_SHOT_WAIT);
    /* Still held at b's step end: b's next step waits too. */
    carom_shot_step sb = carom_shot_next(&b, 1100, &rng);
    cr_assert_eq(sb.act, CAROM_SHOT_WAIT);
    cr_assert_eq(b.steps, 2);
    /* The leader gives up (its shot ends): at b's next step end, b leads. */
    carom_shot_abandon(&a);
    sb = carom_shot_next(&b, 1300, &rng);
    cr_assert_eq(sb.act, CAROM_SHOT_GO);
    cr_assert(sb.retry && !sb.joined);
    cr_assert_eq(sb.ms, 0);
}

Test(core_shot, a_dead_or_hung_holder_loses_the_lease)
{
    carom_herd h;
    carom_herd_init(&h);
    uint32_t holder = 0;
    cr_assert(carom_herd_lead(&h, 7, 1000, 600, &holder));
    cr_assert(!carom_herd_lead(&h, 8, 1500, 600, &holder));
    cr_assert_eq(holder, 7);
    cr_assert(carom_herd_lead(&h, 8, 1601, 600, &holder), "expired at its bound");
    carom_herd_expire(&h, 8);
    cr_assert(carom_herd_lead(&h, 9, 1602, 600, &holder), "a holder known dead is replaced");
    /* A scribbled word (an expiry days ahead) counts as no lease. */
    atomic_store(&h.lease, ((uint64_t)5 << 32) | (uint32_t)(1700 + 3 * 86400000u));
    cr_assert(carom_herd_lead(&h, 9, 1700, 600, &holder));
}

Test(core_shot, an_open_circuit_beyond_reach_fails_fast)
{
    struct ep e;
    ep_init(&e);
    open_it(&e.c, 1000);
    cr_assert_eq(mode(&e, 1000), CAROM_CUSHION_OPEN);
    carom_shot s;
    start(&s, &e, 1, 2, 1100); /* reach 100 + 200 ms < 900 ms to half-open */
    carom_shot_step st = carom_shot_next(&s, 1100, &rng);
    cr_assert_eq(st.act, CAROM_SHOT_STOP);
    cr_assert_eq(st.why, CAROM_SHOT_OPEN);
    bool wake;
    cr_assert_eq(carom_shot_end(&s, 1100, false, &wake), -1, "a refused shot records nothing");
}

Test(core_shot, an_open_circuit_within_reach_is_waited_for_and_probed)
{
    struct ep e;
    ep_init(&e);
    open_it(&e.c, 1000);
    carom_shot s;
    start(&s, &e, 1, 5, 1500); /* reach 100+200+400+400+400 = 1500 ms >= 500 ms */
    carom_shot_step st = carom_shot_next(&s, 1500, &rng);
    cr_assert_eq(st.act, CAROM_SHOT_WAIT);
    cr_assert_eq(st.ms, 500);
    st = carom_shot_next(&s, 2000, &rng);
    cr_assert_eq(st.act, CAROM_SHOT_GO);
    cr_assert(st.probe);
    carom_shot_report(&s, 2001, CAROM_RESULT_OK);
    bool wake;
    cr_assert_eq(carom_shot_end(&s, 2001, true, &wake), CAROM_CUSHION_CLOSED);
}

Test(core_shot, a_retry_after_hint_replaces_the_draw)
{
    struct ep e;
    ep_init(&e);
    carom_shot s;
    start(&s, &e, 1, 3, 1000);
    carom_shot_next(&s, 1000, &rng);
    carom_shot_report(&s, 1000, CAROM_RESULT_RETRY);
    carom_shot_delay_hint(&s, 1234);
    carom_shot_step st = carom_shot_next(&s, 1000, &rng);
    cr_assert_eq(st.act, CAROM_SHOT_GO);
    cr_assert_eq(st.ms, 1234);
}

Test(core_shot, without_a_slot_the_shot_retries_alone)
{
    carom_shot_cfg c = cfg_of(2, 0);
    carom_shot_env env = {0};
    carom_shot s;
    carom_shot_begin(&s, &c, &env, 1000);
    cr_assert_eq(carom_shot_next(&s, 1000, &rng).act, CAROM_SHOT_GO);
    carom_shot_report(&s, 1000, CAROM_RESULT_RETRY);
    carom_shot_step st = carom_shot_next(&s, 1000, &rng);
    cr_assert_eq(st.act, CAROM_SHOT_GO);
    cr_assert_eq(st.ms, 100);
    bool wake = true;
    carom_shot_report(&s, 1100, CAROM_RESULT_OK);
    cr_assert_eq(carom_shot_end(&s, 1100, true, &wake), -1);
    cr_assert(!wake);
}

Test(core_shot, the_reach_is_the_nominal_schedule)
{
    cr_assert_eq(carom_shot_reach(&bounce, 0), 0);
    cr_assert_eq(carom_shot_reach(&bounce, 2), 300);
    cr_assert_eq(carom_shot_reach(&bounce, 5), 1500);
}

/* ---- the adaptive break ---------------------------------------------------------------- */

Test(core_shot, the_break_doubles_per_failed_probe_up_to_the_cap_and_resets_on_success)
{
    carom_cushion c;
    carom_cushion_init(&c);
    uint64_t now = 10000;
    open_it(&c, now);
    uint32_t want[] = {1000, 2000, 4000, 8000, 8000};
    for (int i = 0; i < 5; i++) {
        carom_cushion_view v;
        carom_cushion_peek(&c, &cushion, now, &v);
        cr_assert_eq(v.break_ms, want[i], "break %d", i);
        carom_ticket t;
        cr_assert_eq(carom_cushion_allow(&c, &cushion, now + want[i] - 1, &t), CAROM_REJECT);
        cr_assert_eq(carom_cushion_allow(&c, &cushion, now + want[i], &t), CAROM_PROBE);
        now += want[i];
        cr_assert_eq(carom_cushion_record(&c, &cushion, now, t, false), CAROM_CUSHION_OPEN);
    }
    carom_ticket t;
    now += 8000;
    cr_assert_eq(carom_cushion_allow(&c, &cushion, now, &t), CAROM_PROBE);
    cr_assert_eq(carom_cushion_record(&c, &cushion, now, t, true), CAROM_CUSHION_CLOSED);
    open_it(&c, now);
    carom_cushion_view v;
    carom_cushion_peek(&c, &cushion, now, &v);
    cr_assert_eq(v.break_ms, 1000, "a success starts again from the first break");
}

/* ---- manual control ------------------------------------------------------------------ */

Test(core_shot, a_hand_opened_circuit_refuses_everything_until_closed_by_hand)
{
    struct ep e;
    ep_init(&e);
    cr_assert(carom_cushion_force_open(&e.c));
    cr_assert(!carom_cushion_force_open(&e.c), "already forced open");
    cr_assert_eq(mode(&e, 1000), CAROM_CUSHION_FORCED_OPEN);
    carom_ticket t;
    /* No break ever ends it, and no outcome closes it. */
    cr_assert_eq(carom_cushion_allow(&e.c, &cushion, 1000 + 86400000u, &t), CAROM_REJECT);
    cr_assert_eq(carom_cushion_record(&e.c, &cushion, 1000, carom_cushion_current(&e.c), true), -1);
    cr_assert_eq(mode(&e, 5000), CAROM_CUSHION_FORCED_OPEN);
    /* A shot fails at once, whatever its reach. */
    carom_shot s;
    start(&s, &e, 1, 100, 2000);
    carom_shot_step st = carom_shot_next(&s, 2000, &rng);
    cr_assert_eq(st.act, CAROM_SHOT_STOP);
    cr_assert_eq(st.why, CAROM_SHOT_OPEN);
    cr_assert(carom_cushion_force_close(&e.c, 3000));
    cr_assert_eq(mode(&e, 3000), CAROM_CUSHION_CLOSED);
    cr_assert_eq(carom_cushion_allow(&e.c, &cushion, 3000, &t), CAROM_ALLOW);
    cr_assert(!carom_cushion_force_close(&e.c, 3001), "already closed and empty");
}

Test(core_shot, closing_by_hand_ends_a_real_opening_and_empties_the_window)
{
    struct ep e;
    ep_init(&e);
    open_it(&e.c, 1000);
    cr_assert_eq(mode(&e, 1000), CAROM_CUSHION_OPEN);
    cr_assert(carom_cushion_force_close(&e.c, 1001));
    carom_cushion_view v;
    carom_cushion_peek(&e.c, &cushion, 1001, &v);
    cr_assert_eq(v.mode, CAROM_CUSHION_CLOSED);
    cr_assert_eq(v.failures_in_window, 0);
}

Test(core_shot, a_fleet_open_circuit_fails_at_once_and_its_clearing_probes)
{
    struct ep e;
    ep_init(&e);
    cr_assert(carom_cushion_fleet_open(&e.c, UINT64_MAX));
    cr_assert_eq(mode(&e, 1000), CAROM_CUSHION_FLEET_OPEN);
    /* Whatever the shot's reach: there is no half-open moment to wait for here. */
    carom_shot s;
    start(&s, &e, 10, 100, 2000);
    carom_shot_step st = carom_shot_next(&s, 2000, &rng);
    cr_assert_eq(st.act, CAROM_SHOT_STOP);
    cr_assert_eq(st.why, CAROM_SHOT_OPEN);
    bool wake = false;
    cr_assert_eq(carom_shot_end(&s, 2000, false, &wake), -1, "a refused shot records nothing");
    cr_assert_eq(mode(&e, 2000), CAROM_CUSHION_FLEET_OPEN);
    /* The fleet lets go: the next shot is the probe, and its success closes. */
    cr_assert(carom_cushion_fleet_clear(&e.c, 3000));
    start(&s, &e, 1, 100, 3001);
    st = carom_shot_next(&s, 3001, &rng);
    cr_assert_eq(st.act, CAROM_SHOT_GO);
    cr_assert(st.probe, "the first call after the mark probes");
    carom_shot_report(&s, 3002, CAROM_RESULT_OK);
    cr_assert_eq(carom_shot_end(&s, 3002, true, &wake), CAROM_CUSHION_CLOSED);
}

/* ---- the fast first attempt ----------------------------------------------------------- */

static carom_shot_env env_of(struct ep *e, uint32_t self)
{
    carom_shot_env env = {.cushion = &e->c, .budget = &e->b, .herd = &e->h, .self = self};
    return env;
}

Test(core_shot, fast_first_attempt_through_a_closed_circuit_counts_in_the_budget)
{
    struct ep e;
    ep_init(&e);
    carom_shot_cfg c = cfg_of(3, 0);
    carom_shot_env env = env_of(&e, 1);
    carom_shot_fast q;
    cr_assert(carom_shot_fast_begin(&q, &c, &env, 1000));
    cr_assert(q.ticketed && !q.probe);
    bool wake = true;
    cr_assert_eq(carom_shot_fast_end(&q, &c, &env, 1001, &wake), -1);
    cr_assert(!wake, "no failing spell ended");
    cr_assert_eq(mode(&e, 1001), CAROM_CUSHION_CLOSED);
    /* The first attempt counted: the budget's retry allowance is the engine's. */
    carom_shot s;
    start(&s, &e, 1, 3, 1002);
    cr_assert_eq(carom_shot_next(&s, 1002, &rng).act, CAROM_SHOT_GO);
}

Test(core_shot, fast_begin_refuses_an_open_circuit_and_changes_nothing)
{
    struct ep e;
    ep_init(&e);
    open_it(&e.c, 1000);
    carom_shot_cfg c = cfg_of(0, 0);
    carom_shot_env env = env_of(&e, 1);
    carom_shot_fast q;
    carom_ticket before = carom_cushion_current(&e.c);
    cr_assert(!carom_shot_fast_begin(&q, &c, &env, 1100));
    cr_assert_eq(carom_cushion_current(&e.c), before);
    /* The engine then decides as it always did: beyond reach, it fails fast. */
    carom_shot s;
    carom_shot_begin(&s, &c, &env, 1100);
    carom_shot_step st = carom_shot_next(&s, 1100, &rng);
    cr_assert_eq(st.act, CAROM_SHOT_STOP);
    cr_assert_eq(st.why, CAROM_SHOT_OPEN);
}

Test(core_shot, fast_begin_at_the_half_open_moment_is_the_probe)
{
    struct ep e;
    ep_init(&e);
    open_it(&e.c, 1000);
    carom_shot_cfg c = cfg_of(0, 0);
    carom_shot_env env = env_of(&e, 1);
    carom_shot_fast q;
    cr_assert(carom_shot_fast_begin(&q, &c, &env, 2000)); /* first_break_ms = 1000 */
    cr_assert(q.probe);
    bool wake;
    cr_assert_eq(carom_shot_fast_end(&q, &c, &env, 2001, &wake), CAROM_CUSHION_CLOSED);
}

Test(core_shot, resume_stands_where_the_engine_stands_after_its_first_go)
{
    struct ep a, b;
    ep_init(&a);
    ep_init(&b);
    carom_shot_cfg c = cfg_of(2, 0);
    carom_shot_env ea = env_of(&a, 1), eb = env_of(&b, 1);
    /* The engine's own way, and the fast begin plus resume: the same retries, the same
     * outcome in the cushion. */
    carom_shot s1, s2;
    carom_shot_begin(&s1, &c, &ea, 1000);
    cr_assert_eq(carom_shot_next(&s1, 1000, &rng).act, CAROM_SHOT_GO);
    carom_shot_fast q;
    cr_assert(carom_shot_fast_begin(&q, &c, &eb, 1000));
    carom_shot_resume(&s2, &c, &eb, &q, 1000);
    cr_assert_eq(s2.attempts, s1.attempts);
    uint64_t now = 1000;
    carom_shot_step st1, st2;
    carom_shot_report(&s1, now, CAROM_RESULT_RETRY);
    carom_shot_report(&s2, now, CAROM_RESULT_RETRY);
    for (;;) {
        st1 = carom_shot_next(&s1, now, &rng);
        st2 = carom_shot_next(&s2, now, &rng);
        cr_assert_eq(st1.act, st2.act);
        cr_assert_eq(st1.ms, st2.ms);
        if (st1.act != CAROM_SHOT_GO) break;
        now += st1.ms;
        carom_shot_report(&s1, now, CAROM_RESULT_RETRY);
        carom_shot_report(&s2, now, CAROM_RESULT_RETRY);
    }
    cr_assert_eq(st1.why, CAROM_SHOT_RETRIES);
    cr_assert_eq(st2.why, CAROM_SHOT_RETRIES);
    cr_assert_eq(s2.attempts, 3);
    bool w1, w2;
    cr_assert_eq(carom_shot_end(&s1, now, false, &w1), carom_shot_end(&s2, now, false, &w2));
    cr_assert_eq(mode(&a, now), mode(&b, now));
}

Test(core_shot, fast_end_after_others_opened_and_half_opened_answers_as_a_probe)
{
    struct ep e;
    ep_init(&e);
    carom_shot_cfg c = cfg_of(0, 0);
    carom_shot_env env = env_of(&e, 1);
    carom_shot_fast q;
    cr_assert(carom_shot_fast_begin(&q, &c, &env, 1000));
    open_it(&e.c, 1000); /* others' shots open it meanwhile */
    bool wake;
    /* Past the break: the circuit is half-open, and this success closes it. */
    cr_assert_eq(carom_shot_fast_end(&q, &c, &env, 2500, &wake), CAROM_CUSHION_CLOSED);
    cr_assert_eq(mode(&e, 2500), CAROM_CUSHION_CLOSED);
}

Test(core_slots, a_remembered_slot_holds_until_evicted)
{
    static carom_slot tab[64];
    memset(tab, 0, sizeof tab);
    carom_slot *s = carom_slots_find(tab, 64, 3, "127.0.0.1:80", 1000, NULL);
    cr_assert_not_null(s);
    uint64_t h = carom_slot_hash(3, "127.0.0.1:80");
    cr_assert(carom_slots_still(s, h, 1001));
    cr_assert(!carom_slots_still(s, carom_slot_hash(4, "127.0.0.1:80"), 1001), "another policy");
    /* Evicted and taken by another key: the remembered answer no longer holds. */
    atomic_store(&s->key_hash, carom_slot_hash(3, "10.0.0.1:80"));
    cr_assert(!carom_slots_still(s, h, 1002));
}
