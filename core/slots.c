/* slots.c: the endpoint slot table: finding a key's slot and claiming one for a new key,
 * over an array the caller provides (shared memory in the shim, a mapped table in
 * `carom cushions`); and reading the runtime chaos rules beside it. It must never lock, allocate,
 * wait unboundedly on another process or read a clock but through the caller's env: a process
 * killed at any instruction must leave the table usable. */
#include <string.h>

#include "carom_core.h"

/* The bound and the eviction rule (docs/scoreboard.md, "Shared state"):
 * - n slots (4096 in shared memory); a key lives in the first usable slot of a run of
 *   32 starting at hash % n (linear probing; keys are never deleted back to 0, only replaced, so a
 *   free slot ends every run).
 * - A key found nowhere in its run takes the first slot of the run stuck "being
 *   initialised" for CLAIM_STALE_MS (its claimer died), else the first free slot, else the
 *   first slot idle for IDLE_MS, else the least recently used slot of the run if it has
 *   been idle for LRU_MIN_IDLE_MS. Otherwise the caller gets NULL and acts without a
 *   cushion. */
#define PROBE 32u
#define IDLE_MS (10ull * 60 * 1000)
#define LRU_MIN_IDLE_MS (60ull * 1000)
#define CLAIM_STALE_MS 5000ull
#define PUBLISH_WAIT_MS 2ull
#define TOUCH_EVERY_MS 1000ull

/* key_hash values: 0 free; CAROM_SHM_RESERVED set: being claimed since the time (ms) in
 * the low 63 bits; anything else: the published hash of (policy index, key). */

uint64_t carom_slot_hash(uint32_t pol, const char *key)
{
    uint64_t h = carom_fnv1a(CAROM_FNV1A_INIT ^ pol, key, strlen(key)) & ~CAROM_SHM_RESERVED;
    return h ? h : 1;
}

static bool slot_is(carom_slot *s, uint64_t h, uint32_t pol, const char *key)
{
    if (s->policy_index != pol || strncmp(s->key, key, sizeof s->key - 1) != 0) return false;
    /* The key was read after an acquire of h; if the slot was evicted meanwhile the hash
     * has changed, and what we compared may be torn. */
    return atomic_load_explicit(&s->key_hash, memory_order_acquire) == h;
}

static void touch(carom_slot *s, uint64_t now)
{
    /* One store per second at most: every process writes this shared line otherwise. */
    uint64_t last = atomic_load_explicit(&s->last_used_ms, memory_order_relaxed);
    if (now - last >= TOUCH_EVERY_MS || last > now)
        atomic_store_explicit(&s->last_used_ms, now, memory_order_relaxed);
}

/* Fills a slot this caller holds reserved, then publishes it. */
static carom_slot *fill(carom_slot *s, uint64_t h, uint32_t pol, const char *key, uint64_t now)
{
    atomic_store_explicit(&s->last_used_ms, now, memory_order_relaxed);
    s->policy_index = pol;
    size_t n = strlen(key);
    if (n >= sizeof s->key) n = sizeof s->key - 1;
    memcpy(s->key, key, n);
    memset(s->key + n, 0, sizeof s->key - n);
    carom_cushion_init(&s->cushion);
    carom_budget_init(&s->budget);
    carom_herd_init(&s->herd);
    carom_bucket_init(&s->bucket); /* limit: */
    carom_leases_init(&s->leases);
    atomic_store_explicit(&s->key_hash, h, memory_order_release);
    return s;
}

/* Takes slot s from the value we saw (free, stale reservation or evictable key). */
static carom_slot *take(carom_slot *s, uint64_t seen, uint64_t h, uint32_t pol, const char *key,
                        uint64_t now, _Atomic uint64_t *evictions)
{
    if (!atomic_compare_exchange_strong_explicit(&s->key_hash, &seen, CAROM_SHM_RESERVED | now,
                                                 memory_order_acq_rel, memory_order_acquire))
        return NULL;
    if (seen != 0 && !(seen & CAROM_SHM_RESERVED) && evictions)
        atomic_fetch_add_explicit(evictions, 1, memory_order_relaxed);
    return fill(s, h, pol, key, now);
}

/* A fresh reservation is published within microseconds unless its claimer was
 * descheduled or killed: wait a little (bounded), so that two processes creating the same
 * endpoint at once end up sharing one slot rather than taking two. */
static uint64_t await_publish(carom_slot *s, uint64_t cur, const carom_slots_env *env)
{
    if (!env || !env->now_ms) return cur;
    uint64_t until = env->now_ms() + PUBLISH_WAIT_MS;
    while ((cur & CAROM_SHM_RESERVED) && env->now_ms() <= until) {
        if (env->yield) env->yield();
        cur = atomic_load_explicit(&s->key_hash, memory_order_acquire);
    }
    return cur;
}

carom_slot *carom_slots_find(carom_slot *base, unsigned n, uint32_t pol, const char *key,
                             uint64_t now, const carom_slots_env *env)
{
    _Atomic uint64_t *evictions = env ? env->evictions : 0;
    uint64_t h = carom_slot_hash(pol, key);
    carom_slot *stale = NULL, *idle = NULL, *lru = NULL;
    uint64_t stale_v = 0, idle_v = 0, lru_v = 0, lru_at = UINT64_MAX;
    unsigned probe = n < PROBE ? n : PROBE;
    for (unsigned i = 0, again = 0; i < probe; i++) {
        carom_slot *s = &base[(h + i) & (n - 1)];
        uint64_t cur = atomic_load_explicit(&s->key_hash, memory_order_acquire);
        if (cur & CAROM_SHM_RESERVED) {
            /* Either way: a claim stamped far in the future is no live claimer's. */
            uint64_t since = cur & ~CAROM_SHM_RESERVED;
            if ((now > since ? now - since : since - now) >= CLAIM_STALE_MS) {
                if (!stale) {
                    stale = s;
                    stale_v = cur;
                }
                continue;
            }
            cur = await_publish(s, cur, env);
            if (cur & CAROM_SHM_RESERVED)
                continue; /* still being set up: treat as someone else's */
        }
        if (cur == 0) {
            /* The end of the run: the key is nowhere. A claim its claimer never finished
             * (often for this very key) is put to use before a free slot is spent. */
            if (stale) {
                carom_slot *got = take(stale, stale_v, h, pol, key, now, evictions);
                if (got) return got;
                /* Someone else took it, maybe for this key: look before taking another. */
                uint64_t c = await_publish(
                    stale, atomic_load_explicit(&stale->key_hash, memory_order_acquire), env);
                if (c == h && slot_is(stale, h, pol, key)) {
                    touch(stale, now);
                    return stale;
                }
                stale = NULL;
            }
            carom_slot *got = take(s, 0, h, pol, key, now, evictions);
            if (got) return got;
            if (again++ < 4) i--; /* lost the race for it: look at what the winner put there */
            continue;
        }
        if (cur == h && slot_is(s, h, pol, key)) {
            touch(s, now);
            return s;
        }
        uint64_t used = atomic_load_explicit(&s->last_used_ms, memory_order_relaxed);
        uint64_t idle_for = now > used ? now - used : 0;
        if (!idle && idle_for >= IDLE_MS) {
            idle = s;
            idle_v = cur;
        }
        if (used < lru_at) {
            lru = s;
            lru_v = cur;
            lru_at = used;
        }
    }
    carom_slot *got = NULL;
    if (stale) got = take(stale, stale_v, h, pol, key, now, evictions);
    if (!got && idle) got = take(idle, idle_v, h, pol, key, now, evictions);
    if (!got && lru && now > lru_at && now - lru_at >= LRU_MIN_IDLE_MS)
        got = take(lru, lru_v, h, pol, key, now, evictions);
    return got;
}

bool carom_slots_still(carom_slot *s, uint64_t h, uint64_t now_ms)
{
    if (atomic_load_explicit(&s->key_hash, memory_order_acquire) != h) return false;
    touch(s, now_ms);
    return true;
}

carom_slot *carom_slots_lookup(carom_slot *base, unsigned n, uint32_t pol, const char *key)
{
    uint64_t h = carom_slot_hash(pol, key);
    unsigned probe = n < PROBE ? n : PROBE;
    for (unsigned i = 0; i < probe; i++) {
        carom_slot *s = &base[(h + i) & (n - 1)];
        uint64_t cur = atomic_load_explicit(&s->key_hash, memory_order_acquire);
        if (cur == 0) return NULL;
        if (cur == h && slot_is(s, h, pol, key)) return s;
    }
    return NULL;
}

bool carom_chaos_rule_read(const carom_chaos_rule *r, carom_chaos_rule *out)
{
    carom_chaos_rule *m = (carom_chaos_rule *)r; /* loads never write: see carom_cushion_peek */
    for (int tries = 0; tries < 64; tries++) {
        uint64_t s0 = atomic_load_explicit(&m->seq, memory_order_acquire);
        if (s0 & 1) continue;
        memcpy(out->endpoint, m->endpoint, sizeof out->endpoint);
        memcpy(out->text, m->text, sizeof out->text);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&m->seq, memory_order_relaxed) != s0) continue;
        out->endpoint[sizeof out->endpoint - 1] = 0;
        out->text[sizeof out->text - 1] = 0;
        atomic_store_explicit(&out->seq, s0, memory_order_relaxed);
        return true;
    }
    return false;
}
