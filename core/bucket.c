/* bucket.c: the rate limit (a token bucket in one packed word) and the bulkhead (a fixed
 * array of lease records naming their holders), both shared lock-free between threads
 * and processes. It must never lock, allocate, read a clock, decide by itself whether a
 * process lives, or let a scribbled word hold an endpoint back longer than the longest
 * queue a caller could have made (max_wait_ms) plus the clock slack in carom_core.h. */
#include "carom_core.h"

_Static_assert(sizeof(long) == 8 ? ATOMIC_LONG_LOCK_FREE == 2 : ATOMIC_LLONG_LOCK_FREE == 2,
               "carom_bucket needs lock-free 64-bit atomics");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "carom_leases needs lock-free 32-bit atomics");
_Static_assert(sizeof(carom_bucket) == 8, "carom_bucket is shared memory layout");
_Static_assert(sizeof(carom_leases) == 8 + 4 * CAROM_LEASES_MAX, "carom_leases is shm layout");

/* ---- token bucket ------------------------------------------------------------------------ */

/* The word keeps the deficit (tokens missing from a full bucket), not the tokens, so
 * all-zero memory is a full bucket whatever the clock says. One token is ONE units. */
#define ONE UINT64_C(1024)
#define TIME_SHIFT 32
#define DEFICIT_MAX UINT64_C(0xffffffff)

struct bstate {
    uint32_t stamp;   /* the time to store back */
    uint64_t deficit; /* after refill, in units */
    uint32_t behind;  /* ms the reader trails the stored stamp by (refill starts later) */
};

static inline uint32_t clamp_u32(uint32_t v, uint32_t lo, uint32_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

struct bcfg {
    uint64_t per_s; /* units per second, < 2^30 */
    uint64_t cap;   /* the burst, in units */
    uint64_t limit; /* the largest deficit anyone can have made: cap plus reservations */
    uint32_t max_wait;
};

static struct bcfg resolve(const carom_bucket_cfg *cfg)
{
    struct bcfg c;
    c.per_s = (uint64_t)clamp_u32(cfg->rate_per_s, 1, CAROM_BUCKET_RATE_MAX) * ONE;
    c.cap = (uint64_t)clamp_u32(cfg->burst, 1, CAROM_BUCKET_BURST_MAX) * ONE;
    /* Reservations reach max_wait_ms ahead (plus the token that ends there). */
    uint64_t ahead = (uint64_t)cfg->max_wait_ms * c.per_s / 1000 + ONE;
    c.limit = c.cap + ahead > DEFICIT_MAX ? DEFICIT_MAX : c.cap + ahead;
    c.max_wait = cfg->max_wait_ms;
    return c;
}

/* Refills the deficit in w for the time since its stamp. (d < 2^32) * (per_s < 2^30)
 * fits 64 bits. */
static struct bstate refill(uint64_t w, const struct bcfg *c, uint64_t now_ms)
{
    struct bstate st;
    uint32_t t = (uint32_t)(w >> TIME_SHIFT);
    uint64_t def = (uint32_t)w;
    if (def > c->limit) def = c->limit; /* scribbled: no worse than the longest queue */
    uint32_t d = (uint32_t)now_ms - t;
    st.behind = 0;
    if (def == 0) {
        /* A full bucket does not depend on time: stamp ours, so a zero word read near a
         * wrap of the 32-bit time cannot look like a reading from the past. */
        st.stamp = (uint32_t)now_ms;
        st.deficit = 0;
        return st;
    }
    if (d > UINT32_MAX - CAROM_BUCKET_SLACK_MS) {
        /* Another thread stamped a slightly later reading: no time has passed for us. */
        st.stamp = t;
        st.behind = UINT32_MAX - d + 1;
        st.deficit = def;
        return st;
    }
    st.stamp = (uint32_t)now_ms;
    uint64_t add = (uint64_t)d * c->per_s / 1000; /* rounded down: never above the rate */
    st.deficit = add >= def ? 0 : def - add;
    return st;
}

/* ms until a deficit of `def` units has refilled down to `to` units, rounded up. */
static inline uint64_t ms_until(uint64_t def, uint64_t to, uint64_t per_s)
{
    return def <= to ? 0 : ((def - to) * 1000 + per_s - 1) / per_s;
}

void carom_bucket_init(carom_bucket *b)
{
    atomic_store_explicit(&b->word, 0, memory_order_relaxed);
}

bool carom_bucket_take(carom_bucket *b, const carom_bucket_cfg *cfg, uint64_t now_ms,
                       uint32_t max_wait_ms, uint32_t *wait_ms)
{
    const struct bcfg c = resolve(cfg);
    if (max_wait_ms > c.max_wait) max_wait_ms = c.max_wait;
    uint64_t w = atomic_load_explicit(&b->word, memory_order_relaxed);
    for (;;) {
        struct bstate st = refill(w, &c, now_ms);
        uint64_t after = st.deficit + ONE;
        /* The token is usable once the deficit is back down to the burst. */
        uint64_t wait = ms_until(after, c.cap, c.per_s) + (after > c.cap ? st.behind : 0);
        if (wait > max_wait_ms || after > DEFICIT_MAX) {
            /* Nothing is written (a caller that gives up costs the bucket nothing). */
            if (wait_ms) {
                uint64_t ms = ms_until(after, c.cap, c.per_s) + st.behind;
                *wait_ms = ms == 0 ? 1 : ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
            }
            return false;
        }
        uint64_t nw = ((uint64_t)st.stamp << TIME_SHIFT) | after;
        if (atomic_compare_exchange_weak_explicit(&b->word, &w, nw, memory_order_acq_rel,
                                                  memory_order_relaxed)) {
            if (wait_ms) *wait_ms = (uint32_t)wait;
            return true;
        }
    }
}

uint32_t carom_bucket_tokens(const carom_bucket *b, const carom_bucket_cfg *cfg, uint64_t now_ms)
{
    const struct bcfg c = resolve(cfg);
    uint64_t w = atomic_load_explicit(&((carom_bucket *)b)->word, memory_order_relaxed);
    struct bstate st = refill(w, &c, now_ms);
    return st.deficit >= c.cap ? 0 : (uint32_t)((c.cap - st.deficit) / ONE);
}

/* ---- leases ------------------------------------------------------------------------------ */

#define PID_MASK 0x3fffffu
#define TAG_MASK 0x3ffu

uint32_t carom_lease_holder(uint32_t pid, uint64_t start_time)
{
    uint32_t h = ((pid & PID_MASK) << 10) | (uint32_t)(start_time & TAG_MASK);
    return h ? h : 1;
}

void carom_leases_init(carom_leases *l)
{
    atomic_store_explicit(&l->seq, 0, memory_order_relaxed);
    l->reserved = 0;
    for (unsigned i = 0; i < CAROM_LEASES_MAX; i++)
        atomic_store_explicit(&l->holder[i], 0, memory_order_relaxed);
}

static inline unsigned clamp_max(unsigned max)
{
    return max < 1 ? 1 : max > CAROM_LEASES_MAX ? CAROM_LEASES_MAX : max;
}

int carom_leases_take(carom_leases *l, unsigned max, uint32_t me, carom_lease_alive_fn alive,
                      void *ctx)
{
    max = clamp_max(max);
    /* Start where this holder's hash points, so processes racing for leases mostly try
     * different records first instead of all failing the CAS on record 0. */
    const unsigned first = (unsigned)((me * UINT32_C(2654435761)) >> 16) % max;
    for (unsigned i = 0; i < max; i++) {
        unsigned idx = (first + i) % max;
        uint32_t h = atomic_load_explicit(&l->holder[idx], memory_order_relaxed);
        if (h == 0 && atomic_compare_exchange_strong_explicit(
                          &l->holder[idx], &h, me, memory_order_acq_rel, memory_order_relaxed))
            return (int)idx;
    }
    if (!alive) return -1;
    /* Full: take over a record whose holder is gone. The CAS from that exact holder word
     * makes the takeover one step; a racing taker of the same record loses cleanly. */
    for (unsigned i = 0; i < max; i++) {
        unsigned idx = (first + i) % max;
        uint32_t h = atomic_load_explicit(&l->holder[idx], memory_order_relaxed);
        if (h == 0) {
            if (atomic_compare_exchange_strong_explicit(&l->holder[idx], &h, me,
                                                        memory_order_acq_rel, memory_order_relaxed))
                return (int)idx;
            continue;
        }
        if (h == me || alive(h, ctx)) continue;
        if (atomic_compare_exchange_strong_explicit(&l->holder[idx], &h, me, memory_order_acq_rel,
                                                    memory_order_relaxed))
            return (int)idx;
    }
    return -1;
}

bool carom_leases_release(carom_leases *l, int index, uint32_t me)
{
    if (index < 0 || (unsigned)index >= CAROM_LEASES_MAX) return false;
    uint32_t h = me;
    if (!atomic_compare_exchange_strong_explicit(&l->holder[index], &h, 0, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return false; /* reclaimed meanwhile (we looked dead?) or never ours */
    atomic_fetch_add_explicit(&l->seq, 1, memory_order_acq_rel);
    return true;
}

unsigned carom_leases_count(const carom_leases *l, unsigned max)
{
    max = clamp_max(max);
    unsigned n = 0;
    for (unsigned i = 0; i < max; i++)
        n += atomic_load_explicit(&((carom_leases *)l)->holder[i], memory_order_relaxed) != 0;
    return n;
}
