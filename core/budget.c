/* budget.c: the retry budget, a 10-second sliding window of first attempts and retries in
 * ten one-second buckets, shared lock-free between threads and processes. It must never
 * lock, allocate, read a clock, or let a counter wrap: a wrapped count would turn an
 * exhausted budget into a full one in the middle of an outage. */
#include "carom_core.h"

_Static_assert(sizeof(long) == 8 ? ATOMIC_LONG_LOCK_FREE == 2 : ATOMIC_LLONG_LOCK_FREE == 2,
               "carom_budget needs lock-free 64-bit atomics");

/* One bucket word: [second:20][firsts:22][retries:22], high bits first. */
#define SEC_SHIFT 44
#define SEC_MASK UINT64_C(0xfffff)
#define FIRSTS_SHIFT 22
#define COUNT_MASK UINT64_C(0x3fffff)

static inline uint64_t sec_of(uint64_t w)
{
    return w >> SEC_SHIFT;
}
static inline uint64_t firsts_of(uint64_t w)
{
    return (w >> FIRSTS_SHIFT) & COUNT_MASK;
}
static inline uint64_t retries_of(uint64_t w)
{
    return w & COUNT_MASK;
}

static inline uint64_t pack(uint64_t sec, uint64_t firsts, uint64_t retries)
{
    return ((sec & SEC_MASK) << SEC_SHIFT) | (firsts << FIRSTS_SHIFT) | retries;
}

/* Seconds are kept mod 2^20 (12 days), so ages are differences in that ring. */
static inline bool live(uint64_t w, uint64_t sec)
{
    return ((sec - sec_of(w)) & SEC_MASK) < CAROM_BUDGET_BUCKETS;
}

/* True when the slot already holds counts for a second shortly after ours: our reading
 * trails another thread's by a whole window, so our event is one that window has left. */
static inline bool overtaken(uint64_t w, uint64_t sec)
{
    uint64_t ahead = (sec_of(w) - sec) & SEC_MASK;
    return ahead != 0 && ahead <= 2 * CAROM_BUDGET_BUCKETS && (w & ~(SEC_MASK << SEC_SHIFT));
}

void carom_budget_init(carom_budget *b)
{
    for (int i = 0; i < CAROM_BUDGET_BUCKETS; i++)
        atomic_store_explicit(&b->bucket[i], 0, memory_order_relaxed);
}

/* Adds to this second's bucket, first reclaiming it when it still holds an older second
 * (the ring index is shared by seconds 10 apart). */
static void bump(carom_budget *b, uint64_t now_ms, bool retry)
{
    const uint64_t full_sec = now_ms / 1000;
    const uint64_t sec = full_sec & SEC_MASK;
    _Atomic uint64_t *slot = &b->bucket[full_sec % CAROM_BUDGET_BUCKETS];
    uint64_t w = atomic_load_explicit(slot, memory_order_relaxed);
    for (;;) {
        uint64_t firsts = 0, retries = 0;
        if (sec_of(w) == sec) {
            firsts = firsts_of(w);
            retries = retries_of(w);
        } else if (overtaken(w, sec)) {
            return; /* wiping the newer second would lose live counts */
        }
        if (retry)
            retries += retries < COUNT_MASK;
        else
            firsts += firsts < COUNT_MASK;
        uint64_t nw = pack(sec, firsts, retries);
        if (nw == w) return; /* saturated: nothing left to write */
        if (atomic_compare_exchange_weak_explicit(slot, &w, nw, memory_order_relaxed,
                                                  memory_order_relaxed))
            return;
    }
}

void carom_budget_first(carom_budget *b, uint64_t now_ms)
{
    bump(b, now_ms, false);
}

bool carom_budget_try_retry(carom_budget *b, const carom_budget_cfg *cfg, uint64_t now_ms)
{
    const uint64_t sec = (now_ms / 1000) & SEC_MASK;
    uint64_t firsts = 0, retries = 0;
    for (int i = 0; i < CAROM_BUDGET_BUCKETS; i++) {
        uint64_t w = atomic_load_explicit(&b->bucket[i], memory_order_relaxed);
        if (live(w, sec)) {
            firsts += firsts_of(w);
            retries += retries_of(w);
        }
    }
    /* Sums of ten 22-bit counters times a 16-bit permille, and a 32-bit floor times ten,
     * all fit in 64 bits. The check and the count are not one atomic step: concurrent
     * callers may each pass on the same snapshot, as the header allows. */
    uint64_t allowed =
        (uint64_t)cfg->min_per_s * CAROM_BUDGET_BUCKETS + (uint64_t)cfg->permille * firsts / 1000;
    if (retries + 1 > allowed) return false;
    bump(b, now_ms, true);
    return true;
}
