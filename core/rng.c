/* rng.c: splitmix64, the engine's only source of randomness (jitter, chaos draws). It must
 * never call rand(), read a clock or the environment, or share a generator between threads:
 * callers own one carom_rng each and seed it themselves. */
#include "carom_core.h"

void carom_rng_seed(carom_rng *r, uint64_t seed)
{
    /* splitmix64 walks a Weyl sequence, so any state, 0 included, yields a full-period
     * stream; the seed needs no mixing. */
    r->s = seed;
}

uint64_t carom_rng_next(carom_rng *r)
{
    uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

uint64_t carom_rng_range(carom_rng *r, uint64_t lo, uint64_t hi)
{
    if (hi <= lo) return lo;
    uint64_t span = hi - lo + 1;
    if (span == 0) /* [0, UINT64_MAX]: every 64-bit value is already uniform */
        return carom_rng_next(r);
    if (span <= UINT32_MAX) {
        /* Lemire's multiply-shift: every delay and percentage fits 32 bits, and a
         * multiply costs a fraction of the 64-bit division below. */
        uint64_t m = (carom_rng_next(r) >> 32) * span;
        if ((uint32_t)m < span) {
            uint32_t threshold = (uint32_t)(0 - (uint32_t)span) % (uint32_t)span;
            while ((uint32_t)m < threshold)
                m = (carom_rng_next(r) >> 32) * span;
        }
        return lo + (m >> 32);
    }
    /* Rejecting the short tail below 2^64 mod span removes modulo bias; it is hit with
     * probability < span / 2^64, so the loop almost never repeats. */
    uint64_t threshold = (0 - span) % span;
    for (;;) {
        uint64_t x = carom_rng_next(r);
        if (x >= threshold) return lo + x % span;
    }
}

double carom_rng_unit(carom_rng *r)
{
    /* 53 random bits fill a double's mantissa exactly, so 1.0 is never returned. */
    return (double)(carom_rng_next(r) >> 11) * 0x1.0p-53;
}

bool carom_rng_chance(carom_rng *r, double p)
{
    if (!(p > 0.0)) /* also catches NaN: a malformed probability never fires */
        return false;
    if (p >= 1.0) return true;
    return carom_rng_unit(r) < p;
}
