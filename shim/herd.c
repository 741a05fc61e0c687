/* herd.c: what the shot engine (core/shot.c) cannot do itself because it is pure: build a
 * shot from a policy and its slot, block on the herd's word with a futex on the shared
 * mapping, wake the waiters, and tell a dead lease holder from a live one. It must never
 * spin, never hold the recursion guard while it blocks, and never wait past the step the
 * engine gave it. */
#include "carom_shim.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Waiters go within this of the herd's success (docs/configuration.md, "A herd through a
 * restart"): enough to spread a herd's reconnects, too little for a person to notice. */
#define JOIN_JITTER_MS 50u

uint32_t carom__self(void)
{
    /* Asked only on a retry path, never on a first attempt: one system call there is
     * nothing, and a cached value would be wrong in a fork child. */
    return (uint32_t)syscall(SYS_gettid);
}

void carom__shot_prepare(carom_shot_cfg *cfg, carom_shot_env *env, const carom_policy *p,
                         struct carom_slot *slot, uint32_t attempt_ms)
{
    *cfg = (carom_shot_cfg){
        .bounce = &p->bounce,
        .cushion = p->cushion_on ? &p->cushion : NULL,
        .budget = &p->budget,
        .retries = p->retries,
        .deadline_ms = p->deadline_ms,
        .attempt_ms = attempt_ms,
        .jitter_ms = p->bounce.base_ms < JOIN_JITTER_MS ? p->bounce.base_ms : JOIN_JITTER_MS,
    };
    /* self (the thread id) is filled in by the first retry (carom__shot_retrying): a shot
     * that succeeds at once never needs it. */
    *env = (carom_shot_env){0};
    if (slot) {
        env->cushion = &slot->cushion;
        env->budget = &slot->budget;
        env->herd = &slot->herd;
    }
}

void carom__shot_start(carom_shot *s, const carom_policy *p, struct carom_slot *slot,
                       uint32_t attempt_ms, uint64_t now_ms)
{
    carom_shot_cfg cfg;
    carom_shot_env env;
    carom__shot_prepare(&cfg, &env, p, slot, attempt_ms);
    carom_shot_begin(s, &cfg, &env, now_ms);
}

void carom__shot_retrying(carom_shot *s)
{
    if (!s->env.self) s->env.self = carom__self();
}

static long futex(_Atomic uint32_t *w, int op, uint32_t val, const struct timespec *ts)
{
    return syscall(SYS_futex, (uint32_t *)w, op, val, ts, NULL, 0);
}

void carom__shot_wait(carom_shot *s, const carom_shot_step *st)
{
    if (st->ms == 0) return;
    if (!s->env.herd) {
        carom__sleep_ms(st->ms);
        return;
    }
    struct timespec ts = {.tv_sec = st->ms / 1000, .tv_nsec = (long)(st->ms % 1000) * 1000000L};
    /* Not FUTEX_PRIVATE_FLAG: the word is in a mapping other processes share. A signal ends
     * the wait early (EINTR) after its handler ran; the engine then gives the rest. */
    void *g = carom__guard_suspend();
    futex(&s->env.herd->word, FUTEX_WAIT, st->seen, &ts);
    carom__guard_resume(g);
    if (st->holder && st->holder != s->env.self) {
        int e = errno;
        if (kill((pid_t)st->holder, 0) != 0 && errno == ESRCH)
            carom_shot_holder_gone(s, st->holder);
        errno = e;
    }
}

void carom__herd_wake(carom_herd *h)
{
    if (h) futex(&h->word, FUTEX_WAKE, INT_MAX, NULL);
}
