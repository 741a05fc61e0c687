/* bounce.c: the backoff schedule of docs/configuration.md (decorrelated, full, equal, none) and
 * the Retry-After override. It must never sleep, read a clock or exceed the cap: it only
 * computes how long the caller should wait. */
#include "carom_core.h"

void carom_bounce_init(carom_bounce *b, const carom_bounce_cfg *cfg)
{
    b->attempt = 0;
    b->prev_ms = cfg->base_ms;
}

/* min(cap, base * 2^(n-1)) without overflow: base < 2^32 and a shift below 32 fits in 64
 * bits; anything past that is certainly over any 32-bit cap. */
static uint32_t exp_delay(const carom_bounce_cfg *cfg, uint32_t n)
{
    uint32_t shift = n - 1;
    if (cfg->base_ms == 0) return 0;
    if (shift >= 32) return cfg->cap_ms;
    uint64_t d = (uint64_t)cfg->base_ms << shift;
    return d < cfg->cap_ms ? (uint32_t)d : cfg->cap_ms;
}

uint32_t carom_bounce_next(carom_bounce *b, const carom_bounce_cfg *cfg, carom_rng *r)
{
    uint32_t n = b->attempt == UINT32_MAX ? UINT32_MAX : b->attempt + 1;
    uint32_t d;

    switch (cfg->jitter) {
    case CAROM_JITTER_FULL:
        d = (uint32_t)carom_rng_range(r, 0, exp_delay(cfg, n));
        break;
    case CAROM_JITTER_EQUAL: {
        uint32_t h = exp_delay(cfg, n) / 2;
        d = h + (uint32_t)carom_rng_range(r, 0, h);
        break;
    }
    case CAROM_JITTER_NONE:
        d = exp_delay(cfg, n);
        break;
    case CAROM_JITTER_DECORRELATED:
    default: {
        /* A zeroed struct has prev 0 and means "no retry yet", so d(0) = base. The cap
         * bounds the range before the draw: clamping after it would pile delays onto the
         * cap, and the herd would retry in lockstep again. */
        uint64_t prev = b->attempt == 0 ? cfg->base_ms : b->prev_ms;
        uint64_t lo = cfg->base_ms < cfg->cap_ms ? cfg->base_ms : cfg->cap_ms;
        uint64_t hi = 3 * prev;
        if (hi > cfg->cap_ms) hi = cfg->cap_ms;
        if (hi < lo) /* after a short Retry-After, 3 * prev may fall below base */
            hi = lo;
        d = (uint32_t)carom_rng_range(r, lo, hi);
        break;
    }
    }
    b->attempt = n;
    b->prev_ms = d;
    return d;
}

uint32_t carom_bounce_retry_after(carom_bounce *b, uint32_t retry_after_ms, uint32_t max_ms)
{
    uint32_t d = retry_after_ms < max_ms ? retry_after_ms : max_ms;
    if (b->attempt != UINT32_MAX) b->attempt++;
    /* The server's pace becomes d(n-1), so a decorrelated schedule continues from it. */
    b->prev_ms = d;
    return d;
}
