/* clock.c: the shot clock, deadline arithmetic in milliseconds. It must never read a clock
 * or sleep: the caller passes now_ms, so every answer is reproducible in tests. */
#include "carom_core.h"

void carom_clock_start(carom_shot_clock *c, uint64_t now_ms, uint32_t deadline_ms)
{
    c->start_ms = now_ms;
    if (deadline_ms == 0) {
        c->deadline_at_ms = 0;
        return;
    }
    uint64_t at = now_ms + deadline_ms;
    /* 0 means "no deadline", so a sum that wraps must not land there. */
    c->deadline_at_ms = at < now_ms ? UINT64_MAX : at;
}

uint64_t carom_clock_left(const carom_shot_clock *c, uint64_t now_ms)
{
    if (c->deadline_at_ms == 0) return UINT64_MAX;
    return now_ms >= c->deadline_at_ms ? 0 : c->deadline_at_ms - now_ms;
}

bool carom_clock_fits(const carom_shot_clock *c, uint64_t now_ms, uint32_t delay_ms)
{
    if (c->deadline_at_ms == 0) return true;
    /* Strict: waking exactly at the deadline leaves no time for the retry itself. */
    return delay_ms < carom_clock_left(c, now_ms);
}

uint32_t carom_clock_attempt_ms(const carom_shot_clock *c, uint64_t now_ms, uint32_t attempt_ms)
{
    if (c->deadline_at_ms == 0) return attempt_ms;
    uint64_t left = carom_clock_left(c, now_ms);
    if (left == 0) return 1; /* 0 would read as "unbounded" */
    if (left > UINT32_MAX) left = UINT32_MAX;
    if (attempt_ms == 0 || attempt_ms > left) return (uint32_t)left;
    return attempt_ms;
}

uint64_t carom_clock_elapsed(const carom_shot_clock *c, uint64_t now_ms)
{
    /* Another thread's earlier clock reading must not become a huge elapsed time. */
    return now_ms > c->start_ms ? now_ms - c->start_ms : 0;
}
