/* cushion.c: the circuit breaker (closed, open, half-open) as lock-free state that may live
 * in shared memory between processes. It must never lock, allocate, store a pointer, read a
 * clock, or let a closed allow() cost more than one atomic load and a branch: that call sits
 * in front of every guarded connect of the host program. */
#include "carom_core.h"

/* A process in shared memory may be killed between any two instructions; only lock-free
 * (hence address-free) atomics leave the cushion usable by the survivors. */
_Static_assert(sizeof(long) == 8 ? ATOMIC_LONG_LOCK_FREE == 2 : ATOMIC_LLONG_LOCK_FREE == 2,
               "carom_cushion needs lock-free 64-bit atomics");
_Static_assert(sizeof(carom_cushion) == 32, "carom_cushion is shared memory layout");

#if defined(__GNUC__)
#define CAROM__LIKELY(x) __builtin_expect(!!(x), 1)
#define CAROM__NOINLINE __attribute__((noinline))
#else
#define CAROM__LIKELY(x) (x)
#define CAROM__NOINLINE
#endif

/* The state word, as documented in carom_core.h. */
#define MODE_MASK UINT64_C(0x3)
#define PROBES_SHIFT 2
#define PROBES_MASK 0xffu
#define LEVEL_SHIFT 10
#define LEVEL_MASK 0x1fu
#define GEN_SHIFT 15
#define GEN_MASK 0x1ffffu
#define TIME_SHIFT 32

/* Ticket bits beside the generation. A rejected call gets a ticket that can never count,
 * so a caller that records every outcome, rejected or not, cannot disturb the window. */
#define TICKET_PROBE (UINT64_C(1) << 32)
#define TICKET_REJECT (UINT64_C(1) << 33)

/* Threads read the clock before touching the cushion, so a reading may trail the time
 * another thread stamped into the word by a little. Unsigned differences that large are
 * such readings, not 49-day waits, and count as no time at all. */
#define BACKWARD_SLACK_MS 3600000u

static inline unsigned mode_of(uint64_t s)
{
    return (unsigned)(s & MODE_MASK);
}
static inline unsigned probes_of(uint64_t s)
{
    return (unsigned)(s >> PROBES_SHIFT) & PROBES_MASK;
}
static inline uint32_t gen_of(uint64_t s)
{
    return (uint32_t)(s >> GEN_SHIFT) & GEN_MASK;
}
static inline uint32_t time_of(uint64_t s)
{
    return (uint32_t)(s >> TIME_SHIFT);
}
static inline unsigned level_of(uint64_t s)
{
    return (unsigned)(s >> LEVEL_SHIFT) & LEVEL_MASK;
}

static inline uint64_t pack(unsigned mode, unsigned probes, unsigned level, uint32_t gen,
                            uint32_t t)
{
    return (uint64_t)mode | ((uint64_t)(probes & PROBES_MASK) << PROBES_SHIFT) |
           ((uint64_t)(level & LEVEL_MASK) << LEVEL_SHIFT) |
           ((uint64_t)(gen & GEN_MASK) << GEN_SHIFT) | ((uint64_t)t << TIME_SHIFT);
}

/* The adaptive break (docs/configuration.md, "How long a circuit stays open"): the first
 * opening lasts first_break_ms, each failed probe doubles it, half_open_ms caps it. A
 * first_break_ms of 0 means a fixed break of half_open_ms. */
static inline uint32_t break_ms(const carom_cushion_cfg *cfg, unsigned level)
{
    uint32_t cap = cfg->half_open_ms;
    uint32_t b = cfg->first_break_ms && cfg->first_break_ms < cap ? cfg->first_break_ms : cap;
    for (unsigned i = 0; i < level && b < cap; i++)
        b = b > cap / 2 ? cap : b * 2;
    return b;
}

/* The level after one more failed probe: it stops growing once the break reaches the cap,
 * so the five bits never overflow. */
static inline unsigned next_level(const carom_cushion_cfg *cfg, unsigned level)
{
    return (break_ms(cfg, level) >= cfg->half_open_ms || level >= LEVEL_MASK) ? level : level + 1;
}

static inline uint32_t since(uint64_t now_ms, uint32_t stamp)
{
    uint32_t d = (uint32_t)now_ms - stamp;
    return d > UINT32_MAX - BACKWARD_SLACK_MS ? 0 : d;
}

/* The time bits of a hand-opened circuit ("FORC"): mode 3 alone is what foreign bytes
 * produce, and those are repaired, never obeyed. */
#define FORCED_STAMP UINT32_C(0x464f5243)
static inline bool forced(uint64_t s)
{
    return mode_of(s) == CAROM_CUSHION_FORCED_OPEN && time_of(s) == FORCED_STAMP;
}

/* The time bits of a circuit marked open by `carom fleet` ("FLET"): the same mode as a
 * hand-opened one, told apart by the stamp (docs/fleet.md). */
#define FLEET_STAMP UINT32_C(0x464c4554)
static inline bool fleeted(uint64_t s)
{
    return mode_of(s) == CAROM_CUSHION_FORCED_OPEN && time_of(s) == FLEET_STAMP;
}

static inline unsigned popcount64(uint64_t x)
{
#if defined(__GNUC__)
    return (unsigned)__builtin_popcountll(x);
#else
    x = x - ((x >> 1) & UINT64_C(0x5555555555555555));
    x = (x & UINT64_C(0x3333333333333333)) + ((x >> 2) & UINT64_C(0x3333333333333333));
    x = (x + (x >> 4)) & UINT64_C(0x0f0f0f0f0f0f0f0f);
    return (unsigned)((x * UINT64_C(0x0101010101010101)) >> 56);
#endif
}

/* Config values out of range are the policy layer's to reject; here they only have to be
 * harmless, so they are pulled to the nearest meaningful value. */
static inline unsigned window_of(const carom_cushion_cfg *cfg)
{
    return cfg->window == 0 ? 1 : cfg->window > 64 ? 64 : cfg->window;
}

static inline uint64_t window_mask(unsigned window)
{
    return window >= 64 ? UINT64_MAX : (UINT64_C(1) << window) - 1;
}

static inline unsigned probes_cfg(const carom_cushion_cfg *cfg)
{
    return cfg->probes == 0 ? 1 : cfg->probes;
}

/* last_ms 0 is a cushion that never saw an outcome: nothing to forget, and the first
 * outcomes racing each other must not wipe one another's bits. */
static inline bool aged(uint64_t now_ms, uint64_t last_ms, const carom_cushion_cfg *cfg)
{
    return last_ms != 0 && now_ms > last_ms && now_ms - last_ms > cfg->half_open_ms;
}

void carom_cushion_init(carom_cushion *c)
{
    atomic_store_explicit(&c->state, 0, memory_order_relaxed);
    atomic_store_explicit(&c->hist, 0, memory_order_relaxed);
    atomic_store_explicit(&c->last_ms, 0, memory_order_relaxed);
    atomic_store_explicit(&c->fleet_until, 0, memory_order_relaxed);
}

static CAROM__NOINLINE carom_verdict allow_slow(carom_cushion *c, const carom_cushion_cfg *cfg,
                                                uint64_t now_ms, carom_ticket *ticket, uint64_t s)
{
    const unsigned probes = probes_cfg(cfg);
    for (;;) {
        uint64_t next;
        switch (mode_of(s)) {
        case CAROM_CUSHION_CLOSED:
            *ticket = gen_of(s);
            return CAROM_ALLOW;
        case CAROM_CUSHION_OPEN:
            if (since(now_ms, time_of(s)) < break_ms(cfg, level_of(s))) {
                *ticket = gen_of(s) | TICKET_REJECT;
                return CAROM_REJECT;
            }
            next = pack(CAROM_CUSHION_HALF_OPEN, 1, level_of(s), gen_of(s) + 1, (uint32_t)now_ms);
            break;
        case CAROM_CUSHION_HALF_OPEN:
            if (probes_of(s) < probes) {
                /* Same generation and time: every probe of this half-open answers for it. */
                next = s + (UINT64_C(1) << PROBES_SHIFT);
            } else if (since(now_ms, time_of(s)) >= break_ms(cfg, level_of(s))) {
                /* Every slot was taken and nobody reported for a whole period: the probes
                 * died with their process. A new generation lets fresh probes in and
                 * silences the old ones should they wake up. */
                next =
                    pack(CAROM_CUSHION_HALF_OPEN, 1, level_of(s), gen_of(s) + 1, (uint32_t)now_ms);
            } else {
                *ticket = gen_of(s) | TICKET_REJECT;
                return CAROM_REJECT;
            }
            break;
        default:
            if (fleeted(s) &&
                now_ms >= atomic_load_explicit(&c->fleet_until, memory_order_relaxed)) {
                /* The lease ran out: whoever marked it no longer says so. This caller
                 * probes, as after fleet_clear. */
                next = pack(CAROM_CUSHION_HALF_OPEN, 1, 0, gen_of(s) + 1, (uint32_t)now_ms);
                if (atomic_compare_exchange_strong_explicit(
                        &c->state, &s, next, memory_order_acq_rel, memory_order_acquire)) {
                    *ticket = gen_of(next) | TICKET_PROBE;
                    return CAROM_PROBE;
                }
                continue;
            }
            if (forced(s) || fleeted(s)) {
                *ticket = gen_of(s) | TICKET_REJECT;
                return CAROM_REJECT;
            }
            /* Mode 3 without the stamp is foreign bytes in shared memory. Repair to closed
             * rather than trust or trip on them. */
            next = pack(CAROM_CUSHION_CLOSED, 0, 0, gen_of(s) + 1, (uint32_t)now_ms);
            if (atomic_compare_exchange_strong_explicit(&c->state, &s, next, memory_order_acq_rel,
                                                        memory_order_acquire))
                s = next;
            continue;
        }
        if (atomic_compare_exchange_weak_explicit(&c->state, &s, next, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            *ticket = gen_of(next) | TICKET_PROBE;
            return CAROM_PROBE;
        }
    }
}

carom_verdict carom_cushion_allow(carom_cushion *c, const carom_cushion_cfg *cfg, uint64_t now_ms,
                                  carom_ticket *ticket)
{
    /* Relaxed is enough: the caller learns nothing from the cushion but this word, and on
     * x86 and ARMv8 it is a plain load either way. */
    uint64_t s = atomic_load_explicit(&c->state, memory_order_relaxed);
    if (CAROM__LIKELY(mode_of(s) == CAROM_CUSHION_CLOSED)) {
        *ticket = gen_of(s);
        return CAROM_ALLOW;
    }
    /* Failing fast is the other hot path: during an outage every call lands here. */
    if (mode_of(s) == CAROM_CUSHION_OPEN &&
        since(now_ms, time_of(s)) < break_ms(cfg, level_of(s))) {
        *ticket = gen_of(s) | TICKET_REJECT;
        return CAROM_REJECT;
    }
    return allow_slow(c, cfg, now_ms, ticket, s);
}

/* Adds one outcome to hist and returns the new history. hist and last_ms sit beside the
 * state word, not in it, so an outcome racing a transition may land in the neighbouring
 * period's history: that costs one outcome's weight, never a transition. Healthy traffic
 * writes nothing but last_ms, at most once per millisecond, so closed allow() on other
 * cores keeps its cache line. */
static uint64_t add_outcome(carom_cushion *c, const carom_cushion_cfg *cfg, uint64_t now_ms,
                            bool fail)
{
    bool forget = false;
    uint64_t last = atomic_load_explicit(&c->last_ms, memory_order_relaxed);
    while (now_ms > last) {
        /* Only the thread that moves last_ms across the gap forgets, so two racing
         * outcomes do not both wipe the history. */
        if (atomic_compare_exchange_weak_explicit(&c->last_ms, &last, now_ms, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            forget = aged(now_ms, last, cfg);
            break;
        }
    }
    uint64_t h = atomic_load_explicit(&c->hist, memory_order_relaxed);
    for (;;) {
        uint64_t nh = ((forget ? 0 : h) << 1) | (fail ? 1u : 0u);
        if (nh == h) return h;
        if (atomic_compare_exchange_weak_explicit(&c->hist, &h, nh, memory_order_relaxed,
                                                  memory_order_relaxed))
            return nh;
    }
}

int carom_cushion_record(carom_cushion *c, const carom_cushion_cfg *cfg, uint64_t now_ms,
                         carom_ticket ticket, bool ok)
{
    if (ticket & TICKET_REJECT) return -1;
    const uint32_t gen = (uint32_t)ticket & GEN_MASK;
    uint64_t s = atomic_load_explicit(&c->state, memory_order_acquire);
    if (gen_of(s) != gen) return -1; /* the call began in an earlier period: its news is stale */

    if (ticket & TICKET_PROBE) {
        /* A failed probe doubles the break; a good one closes and starts again from the
         * first break. */
        const uint64_t next = ok ? pack(CAROM_CUSHION_CLOSED, 0, 0, gen + 1, (uint32_t)now_ms)
                                 : pack(CAROM_CUSHION_OPEN, 0, next_level(cfg, level_of(s)),
                                        gen + 1, (uint32_t)now_ms);
        for (;;) {
            if (mode_of(s) != CAROM_CUSHION_HALF_OPEN || gen_of(s) != gen)
                return -1; /* another probe decided first */
            /* Admissions of sibling probes change the word without changing the period,
             * so a failed CAS is retried while the generation still matches. */
            if (atomic_compare_exchange_weak_explicit(&c->state, &s, next, memory_order_acq_rel,
                                                      memory_order_acquire))
                break;
        }
        if (!ok) return CAROM_CUSHION_OPEN;
        /* Failures from before the outage must not count against the recovered endpoint. */
        atomic_store_explicit(&c->hist, 0, memory_order_relaxed);
        return CAROM_CUSHION_CLOSED;
    }

    if (mode_of(s) != CAROM_CUSHION_CLOSED) return -1;
    const uint64_t h = add_outcome(c, cfg, now_ms, !ok);
    if (ok) return -1;
    const unsigned window = window_of(cfg);
    unsigned need = cfg->failures == 0 ? 1 : cfg->failures;
    if (need > window) need = window;
    if (popcount64(h & window_mask(window)) < need) return -1;

    const uint64_t next = pack(CAROM_CUSHION_OPEN, 0, 0, gen + 1, (uint32_t)now_ms);
    for (;;) {
        if (mode_of(s) != CAROM_CUSHION_CLOSED || gen_of(s) != gen)
            return -1; /* someone else opened it: they report the transition */
        if (atomic_compare_exchange_weak_explicit(&c->state, &s, next, memory_order_acq_rel,
                                                  memory_order_acquire))
            return CAROM_CUSHION_OPEN;
    }
}

carom_ticket carom_cushion_current(const carom_cushion *c)
{
    /* A plain generation ticket: counts in a closed window, and record() ignores it once
     * the period it names is over. */
    carom_cushion *m = (carom_cushion *)c;
    return gen_of(atomic_load_explicit(&m->state, memory_order_acquire));
}

void carom_cushion_peek(const carom_cushion *c, const carom_cushion_cfg *cfg, uint64_t now_ms,
                        carom_cushion_view *out)
{
    /* Loads never write; the cast only satisfies compilers that reject atomic loads
     * through a const pointer. */
    carom_cushion *m = (carom_cushion *)c;
    uint64_t s = atomic_load_explicit(&m->state, memory_order_acquire);
    uint64_t h = atomic_load_explicit(&m->hist, memory_order_relaxed);
    uint64_t last = atomic_load_explicit(&m->last_ms, memory_order_relaxed);
    unsigned mode = mode_of(s);

    out->mode = mode == CAROM_CUSHION_OPEN        ? CAROM_CUSHION_OPEN
                : mode == CAROM_CUSHION_HALF_OPEN ? CAROM_CUSHION_HALF_OPEN
                : forced(s)                       ? CAROM_CUSHION_FORCED_OPEN
                : fleeted(s)                      ? CAROM_CUSHION_FLEET_OPEN
                                                  : CAROM_CUSHION_CLOSED;
    /* Report what the next outcome would see: an aged history is as good as empty. */
    out->failures_in_window =
        aged(now_ms, last, cfg) ? 0 : popcount64(h & window_mask(window_of(cfg)));
    out->probes_admitted = mode == CAROM_CUSHION_HALF_OPEN ? probes_of(s) : 0;
    out->ms_until_half_open = 0;
    out->break_ms = mode == CAROM_CUSHION_OPEN || mode == CAROM_CUSHION_HALF_OPEN
                        ? break_ms(cfg, level_of(s))
                        : 0;
    if (mode == CAROM_CUSHION_OPEN) {
        uint32_t e = since(now_ms, time_of(s));
        out->ms_until_half_open = e >= out->break_ms ? 0 : out->break_ms - e;
    }
}

bool carom_cushion_force_open(carom_cushion *c)
{
    uint64_t s = atomic_load_explicit(&c->state, memory_order_acquire);
    for (;;) {
        if (forced(s)) return false;
        uint64_t next = pack(CAROM_CUSHION_FORCED_OPEN, 0, 0, gen_of(s) + 1, FORCED_STAMP);
        if (atomic_compare_exchange_weak_explicit(&c->state, &s, next, memory_order_acq_rel,
                                                  memory_order_acquire))
            return true;
    }
}

bool carom_cushion_force_close(carom_cushion *c, uint64_t now_ms)
{
    uint64_t s = atomic_load_explicit(&c->state, memory_order_acquire);
    bool was = mode_of(s) != CAROM_CUSHION_CLOSED ||
               atomic_load_explicit(&c->hist, memory_order_relaxed) != 0;
    for (;;) {
        uint64_t next = pack(CAROM_CUSHION_CLOSED, 0, 0, gen_of(s) + 1, (uint32_t)now_ms);
        if (atomic_compare_exchange_weak_explicit(&c->state, &s, next, memory_order_acq_rel,
                                                  memory_order_acquire))
            break;
    }
    atomic_store_explicit(&c->hist, 0, memory_order_relaxed);
    return was;
}

bool carom_cushion_fleet_open(carom_cushion *c, uint64_t until_ms)
{
    uint64_t s = atomic_load_explicit(&c->state, memory_order_acquire);
    for (;;) {
        if (mode_of(s) != CAROM_CUSHION_CLOSED) return false;
        /* The lease first: the release CAS below publishes it with the mark. */
        atomic_store_explicit(&c->fleet_until, until_ms, memory_order_relaxed);
        uint64_t next = pack(CAROM_CUSHION_FORCED_OPEN, 0, 0, gen_of(s) + 1, FLEET_STAMP);
        if (atomic_compare_exchange_weak_explicit(&c->state, &s, next, memory_order_acq_rel,
                                                  memory_order_acquire))
            return true;
    }
}

void carom_cushion_fleet_renew(carom_cushion *c, uint64_t until_ms)
{
    if (fleeted(atomic_load_explicit(&c->state, memory_order_acquire)))
        atomic_store_explicit(&c->fleet_until, until_ms, memory_order_relaxed);
}

bool carom_cushion_fleet_clear(carom_cushion *c, uint64_t now_ms)
{
    uint64_t s = atomic_load_explicit(&c->state, memory_order_acquire);
    for (;;) {
        if (!fleeted(s)) return false;
        /* Half-open with no probe admitted: the next call is the first probe. */
        uint64_t next = pack(CAROM_CUSHION_HALF_OPEN, 0, 0, gen_of(s) + 1, (uint32_t)now_ms);
        if (atomic_compare_exchange_weak_explicit(&c->state, &s, next, memory_order_acq_rel,
                                                  memory_order_acquire))
            return true;
    }
}
