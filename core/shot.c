/* shot.c: the one decision engine every guarded call runs (connect, name lookups, libcurl
 * transfers): retry after a delay, wait for the herd's attempt or the half-open moment, or
 * stop, composed as docs/configuration.md "How retries, cushion and budget compose" says:
 * the cushion wraps the whole shot, so a shot is one outcome in its window. Also the herd's
 * lease. It must never sleep, wait, read a clock, allocate or lock: the caller passes time
 * and randomness in and does the waiting itself. */
#include "carom_core.h"

/* The longest a lease may be taken for: a hold longer than this is a scribbled word, not a
 * holder, and is taken over. */
#define HOLD_MAX_MS 600000u

/* The fast begin and end are connect's every call: the cushion's and the budget's own
 * work is inlined into them (with link-time optimisation, across files). */
#if defined(__GNUC__)
#define CAROM__FLATTEN __attribute__((flatten))
#else
#define CAROM__FLATTEN
#endif

enum phase {
    PH_BEGIN = 0, /* ask the cushion, then the first attempt */
    PH_OPEN_WAIT, /* the circuit was open: waiting for its half-open moment or the herd */
    PH_ATTEMPT,   /* an attempt is being made; its result is owed */
    PH_FAILED,    /* the last attempt failed with a retryable error */
    PH_WAIT,      /* someone else holds the lease: waiting within this step */
    PH_DONE,
};

/* ---- herd ---------------------------------------------------------------------------- */

static inline uint32_t lease_holder(uint64_t l)
{
    return (uint32_t)(l >> 32);
}

/* A lease counts until its expiry, compared by signed distance so the 32-bit clock may
 * wrap; an expiry implausibly far ahead is foreign bytes and counts as expired. */
static inline bool lease_live(uint64_t l, uint64_t now_ms)
{
    if (lease_holder(l) == 0) return false;
    int32_t left = (int32_t)((uint32_t)l - (uint32_t)now_ms);
    return left > 0 && (uint32_t)left <= HOLD_MAX_MS + 1000u;
}

void carom_herd_init(carom_herd *h)
{
    atomic_store_explicit(&h->lease, 0, memory_order_relaxed);
    atomic_store_explicit(&h->fail_ms, 0, memory_order_relaxed);
    atomic_store_explicit(&h->word, 0, memory_order_relaxed);
    h->reserved = 0;
}

bool carom_herd_lead(carom_herd *h, uint32_t self, uint64_t now_ms, uint32_t hold_ms,
                     uint32_t *holder)
{
    if (hold_ms > HOLD_MAX_MS) hold_ms = HOLD_MAX_MS;
    if (hold_ms == 0) hold_ms = 1;
    uint64_t want = ((uint64_t)self << 32) | (uint32_t)(now_ms + hold_ms);
    uint64_t l = atomic_load_explicit(&h->lease, memory_order_acquire);
    for (;;) {
        if (lease_live(l, now_ms) && lease_holder(l) != self) {
            *holder = lease_holder(l);
            return false;
        }
        if (atomic_compare_exchange_weak_explicit(&h->lease, &l, want, memory_order_acq_rel,
                                                  memory_order_acquire))
            return true;
    }
}

void carom_herd_release(carom_herd *h, uint32_t self)
{
    uint64_t l = atomic_load_explicit(&h->lease, memory_order_acquire);
    while (lease_holder(l) == self && l != 0)
        if (atomic_compare_exchange_weak_explicit(&h->lease, &l, 0, memory_order_acq_rel,
                                                  memory_order_acquire))
            return;
}

void carom_herd_expire(carom_herd *h, uint32_t holder)
{
    uint64_t l = atomic_load_explicit(&h->lease, memory_order_acquire);
    while (holder != 0 && lease_holder(l) == holder)
        if (atomic_compare_exchange_weak_explicit(&h->lease, &l, 0, memory_order_acq_rel,
                                                  memory_order_acquire))
            return;
}

void carom_herd_failed(carom_herd *h, uint64_t now_ms)
{
    /* A stamp per millisecond at most: a herd's refusals all land on this line. */
    if (atomic_load_explicit(&h->fail_ms, memory_order_relaxed) != (now_ms | 1))
        atomic_store_explicit(&h->fail_ms, now_ms | 1, memory_order_release);
}

/* carom_herd_succeeded's first test, for the healthy path to make without a call. */
static inline bool herd_failing(carom_herd *h)
{
    return atomic_load_explicit(&h->fail_ms, memory_order_relaxed) != 0;
}

bool carom_herd_succeeded(carom_herd *h)
{
    /* The healthy path: one load. Only the success that ends a failing spell publishes. */
    uint64_t f = atomic_load_explicit(&h->fail_ms, memory_order_acquire);
    if (f == 0) return false;
    if (!atomic_compare_exchange_strong_explicit(&h->fail_ms, &f, 0, memory_order_acq_rel,
                                                 memory_order_acquire))
        return false; /* another success published it first */
    uint32_t w = atomic_load_explicit(&h->word, memory_order_relaxed);
    for (;;) {
        uint32_t nw = ((w >> 1) + 1) << 1 | 1u;
        if (atomic_compare_exchange_weak_explicit(&h->word, &w, nw, memory_order_release,
                                                  memory_order_relaxed))
            return true;
    }
}

uint32_t carom_herd_word(const carom_herd *h)
{
    carom_herd *m = (carom_herd *)h; /* loads never write; see carom_cushion_peek */
    return atomic_load_explicit(&m->word, memory_order_acquire);
}

/* ---- shot ------------------------------------------------------------------------------ */

uint64_t carom_shot_reach(const carom_bounce_cfg *b, uint32_t n)
{
    uint64_t sum = 0, d = b->base_ms;
    for (uint32_t i = 0; i < n; i++) {
        sum += d < b->cap_ms ? d : b->cap_ms;
        if (d < b->cap_ms) d *= 2;
    }
    return sum;
}

const char *carom_shot_why_name(carom_shot_why why)
{
    switch (why) {
    case CAROM_SHOT_OK:
        return "ok";
    case CAROM_SHOT_FATAL:
        return "not retryable";
    case CAROM_SHOT_RETRIES:
        return "retries spent";
    case CAROM_SHOT_DEADLINE:
        return "deadline";
    case CAROM_SHOT_BUDGET:
        return "budget";
    case CAROM_SHOT_OPEN:
        return "circuit open";
    }
    return "?";
}

void carom_shot_begin(carom_shot *s, const carom_shot_cfg *cfg, const carom_shot_env *env,
                      uint64_t now_ms)
{
    s->cfg = *cfg;
    if (s->cfg.attempt_ms == 0) s->cfg.attempt_ms = 1;
    s->env = *env;
    carom_clock_start(&s->clk, now_ms, cfg->deadline_ms);
    carom_bounce_init(&s->b, cfg->bounce);
    s->ticket = 0;
    s->due_ms = s->reach_ms = 0;
    s->steps = s->attempts = s->seen = s->hint_ms = 0;
    s->phase = PH_BEGIN;
    s->ticketed = s->leader = s->probe = s->last_ok = s->failed_once = false;
}

static carom_shot_step stop(carom_shot *s, carom_shot_why why)
{
    if (s->leader && s->env.herd) carom_herd_release(s->env.herd, s->env.self);
    s->leader = false;
    s->phase = PH_DONE;
    s->last_ok = why == CAROM_SHOT_OK;
    carom_shot_step st = {.act = CAROM_SHOT_STOP, .why = why};
    return st;
}

static carom_shot_step go(carom_shot *s, uint32_t ms, bool retry, bool joined)
{
    s->phase = PH_ATTEMPT;
    s->attempts++;
    carom_shot_step st = {.act = CAROM_SHOT_GO,
                          .ms = ms,
                          .attempt = s->attempts,
                          .retry = retry,
                          .probe = !retry && s->probe,
                          .joined = joined};
    return st;
}

static carom_shot_step wait(carom_shot *s, uint64_t ms, uint32_t holder)
{
    carom_shot_step st = {.act = CAROM_SHOT_WAIT,
                          .ms = ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms,
                          .holder = holder,
                          .seen = s->seen};
    return st;
}

/* The first attempt, once the cushion lets the shot through; or a wait for its half-open
 * moment when that comes within the shot's reach. */
static carom_shot_step begin(carom_shot *s, uint64_t now_ms)
{
    carom_verdict v = CAROM_ALLOW;
    if (s->cfg.cushion && s->env.cushion)
        v = carom_cushion_allow(s->env.cushion, s->cfg.cushion, now_ms, &s->ticket);
    if (v != CAROM_REJECT) {
        s->ticketed = s->cfg.cushion && s->env.cushion;
        s->probe = v == CAROM_PROBE;
        if (s->env.budget) carom_budget_first(s->env.budget, now_ms);
        return go(s, 0, false, false);
    }
    /* Open. A shot that would still be retrying at the half-open moment waits for it, and
     * then probes or joins the probe's outcome; one that would have given up first fails
     * now, as fast as ever. The reach is measured once, from the shot's start. */
    if (s->reach_ms == 0) {
        uint64_t reach = carom_shot_reach(s->cfg.bounce, s->cfg.retries);
        uint64_t left = carom_clock_left(&s->clk, now_ms);
        s->reach_ms = now_ms + (reach < left ? reach : left);
    }
    carom_cushion_view cv;
    carom_cushion_peek(s->env.cushion, s->cfg.cushion, now_ms, &cv);
    /* Open by hand or across the fleet: nothing here to wait for. */
    if (cv.mode == CAROM_CUSHION_FORCED_OPEN || cv.mode == CAROM_CUSHION_FLEET_OPEN)
        return stop(s, CAROM_SHOT_OPEN);
    /* Half-open with every probe slot taken: wait for the probe's outcome (bounded by one
     * attempt's hold, after which the cushion re-admits probes if it never came). */
    uint64_t ms = cv.ms_until_half_open ? cv.ms_until_half_open : s->cfg.attempt_ms;
    if (now_ms >= s->reach_ms || (cv.ms_until_half_open && now_ms + ms > s->reach_ms))
        return stop(s, CAROM_SHOT_OPEN);
    if (now_ms + ms > s->reach_ms) ms = s->reach_ms - now_ms;
    s->phase = PH_OPEN_WAIT;
    if (s->env.herd) s->seen = carom_herd_word(s->env.herd);
    return wait(s, ms, 0);
}

/* An attempt now, if this caller may make it: it takes (or keeps) the herd's lease for
 * the delay plus one attempt, and asks the budget. Someone else's lease means a wait
 * within this step instead: no attempt, no budget spent. */
static carom_shot_step try_lead(carom_shot *s, uint64_t now_ms, uint32_t delay)
{
    if (s->env.herd && s->env.self) {
        uint32_t holder = 0;
        s->seen = carom_herd_word(s->env.herd); /* before the lease: no success is missed */
        if (!carom_herd_lead(s->env.herd, s->env.self, now_ms, delay + s->cfg.attempt_ms,
                             &holder)) {
            s->leader = false;
            s->phase = PH_WAIT;
            return wait(s, s->due_ms > now_ms ? s->due_ms - now_ms : 0, holder);
        }
        s->leader = true;
    }
    if (s->env.budget && s->cfg.budget &&
        !carom_budget_try_retry(s->env.budget, s->cfg.budget, now_ms))
        return stop(s, CAROM_SHOT_BUDGET);
    return go(s, delay, true, false);
}

/* The next step of the schedule: a drawn delay, within retries and the deadline. */
static carom_shot_step next_step(carom_shot *s, uint64_t now_ms, carom_rng *r)
{
    if (s->steps >= s->cfg.retries) return stop(s, CAROM_SHOT_RETRIES);
    uint32_t d = s->hint_ms ? carom_bounce_retry_after(&s->b, s->hint_ms, UINT32_MAX)
                            : carom_bounce_next(&s->b, s->cfg.bounce, r);
    s->hint_ms = 0;
    if (!carom_clock_fits(&s->clk, now_ms, d)) return stop(s, CAROM_SHOT_DEADLINE);
    s->steps++;
    s->due_ms = now_ms + d;
    return try_lead(s, now_ms, d);
}

carom_shot_step carom_shot_next(carom_shot *s, uint64_t now_ms, carom_rng *r)
{
    switch (s->phase) {
    case PH_BEGIN:
        return begin(s, now_ms);
    case PH_OPEN_WAIT:
        return begin(s, now_ms); /* the half-open moment, the herd's news, or time's up */
    case PH_FAILED:
        return next_step(s, now_ms, r);
    case PH_WAIT:
        if (s->env.herd && carom_herd_ok_since(s->seen, carom_herd_word(s->env.herd))) {
            /* The herd's attempt got through: go now, spread a little. The endpoint has
             * just answered, so this attempt asks no budget. */
            uint32_t j = (uint32_t)carom_rng_range(r, 0, s->cfg.jitter_ms);
            return go(s, j, true, true);
        }
        if (now_ms < s->due_ms) {
            uint32_t holder = 0;
            uint64_t l = atomic_load_explicit(&s->env.herd->lease, memory_order_acquire);
            if (lease_live(l, now_ms)) holder = lease_holder(l);
            return wait(s, s->due_ms - now_ms, holder);
        }
        /* The step is over without news: this caller's attempt is due, if the lease is
         * free by now (its holder gave up, died or hung); else the next step waits on. */
        {
            uint32_t holder = 0;
            s->seen = carom_herd_word(s->env.herd);
            if (carom_herd_lead(s->env.herd, s->env.self, now_ms, s->cfg.attempt_ms, &holder)) {
                s->leader = true;
                if (s->env.budget && s->cfg.budget &&
                    !carom_budget_try_retry(s->env.budget, s->cfg.budget, now_ms))
                    return stop(s, CAROM_SHOT_BUDGET);
                return go(s, 0, true, false);
            }
        }
        return next_step(s, now_ms, r);
    case PH_ATTEMPT: /* next() before the attempt's result: a caller bug; stop safely */
        return stop(s, CAROM_SHOT_FATAL);
    default:
        return stop(s, s->last_ok ? CAROM_SHOT_OK : CAROM_SHOT_FATAL);
    }
}

void carom_shot_report(carom_shot *s, uint64_t now_ms, carom_shot_result r)
{
    if (s->phase != PH_ATTEMPT) return;
    if (r == CAROM_RESULT_OK) {
        stop(s, CAROM_SHOT_OK);
        return;
    }
    s->failed_once = true;
    if (r == CAROM_RESULT_FATAL) {
        stop(s, CAROM_SHOT_FATAL);
        return;
    }
    if (s->env.herd) carom_herd_failed(s->env.herd, now_ms);
    s->phase = PH_FAILED;
}

void carom_shot_delay_hint(carom_shot *s, uint32_t ms)
{
    s->hint_ms = ms ? ms : 1;
}

void carom_shot_abandon(carom_shot *s)
{
    if (s->leader && s->env.herd) carom_herd_release(s->env.herd, s->env.self);
    s->leader = s->ticketed = false;
    s->phase = PH_DONE;
}

void carom_shot_holder_gone(carom_shot *s, uint32_t holder)
{
    if (s->env.herd) carom_herd_expire(s->env.herd, holder);
}

/* The one outcome of a shot into its cushion (when it was let through), then the herd's
 * news: carom_shot_end and carom_shot_fast_end. */
static inline int finish(const carom_shot_cfg *cfg, const carom_shot_env *env, bool ticketed,
                         carom_ticket ticket, uint64_t now_ms, bool ok, bool *wake)
{
    int tr = -1;
    if (ticketed) tr = carom_cushion_record(env->cushion, cfg->cushion, now_ms, ticket, ok);
    /* (Not when the ticket's period is still the cushion's own: nothing moved on.) */
    if (tr == -1 && ok && ticketed && carom_cushion_current(env->cushion) != ticket) {
        /* The circuit moved on while this shot was under way (others' shots opened it).
         * Its success is news: once half-open, it answers as a probe would. */
        carom_ticket t;
        if (carom_cushion_allow(env->cushion, cfg->cushion, now_ms, &t) == CAROM_PROBE)
            tr = carom_cushion_record(env->cushion, cfg->cushion, now_ms, t, true);
    }
    /* Published after the cushion has heard it, so a woken waiter finds the circuit
     * closed, not a half-open one whose probe slot is still taken. */
    *wake = ok && env->herd && herd_failing(env->herd) && carom_herd_succeeded(env->herd);
    return tr;
}

int carom_shot_end(carom_shot *s, uint64_t now_ms, bool ok, bool *wake)
{
    if (s->leader && s->env.herd) carom_herd_release(s->env.herd, s->env.self);
    s->leader = false;
    s->phase = PH_DONE;
    bool ticketed = s->ticketed;
    s->ticketed = false;
    return finish(&s->cfg, &s->env, ticketed, s->ticket, now_ms, ok, wake);
}

/* ---- the first attempt, without the engine's state ------------------------------------- */

CAROM__FLATTEN bool carom_shot_fast_begin(carom_shot_fast *q, const carom_shot_cfg *cfg,
                                          const carom_shot_env *env, uint64_t now_ms)
{
    /* begin(), for a verdict other than REJECT; a rejection changes nothing, so the
     * engine may then start over. */
    carom_verdict v = CAROM_ALLOW;
    q->ticket = 0;
    q->ticketed = cfg->cushion && env->cushion;
    if (q->ticketed) v = carom_cushion_allow(env->cushion, cfg->cushion, now_ms, &q->ticket);
    if (v == CAROM_REJECT) return false;
    q->probe = v == CAROM_PROBE;
    if (env->budget) carom_budget_first(env->budget, now_ms);
    return true;
}

CAROM__FLATTEN int carom_shot_fast_end(const carom_shot_fast *q, const carom_shot_cfg *cfg,
                                       const carom_shot_env *env, uint64_t now_ms, bool *wake)
{
    return finish(cfg, env, q->ticketed, q->ticket, now_ms, true, wake);
}

void carom_shot_resume(carom_shot *s, const carom_shot_cfg *cfg, const carom_shot_env *env,
                       const carom_shot_fast *q, uint64_t start_ms)
{
    carom_shot_begin(s, cfg, env, start_ms);
    s->ticket = q->ticket;
    s->ticketed = q->ticketed;
    s->probe = q->probe;
    (void)go(s, 0, false, false);
}
