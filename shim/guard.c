/* guard.c: the shim's per-thread state: the recursion guard (with the signal mask it holds
 * while set), the monotonic clock, the per-thread PRNG and the sleep between retries. It
 * must never call a wrapped function, never block while the guard holds, and never let a
 * child process replay its parent's random stream. */
#include "carom_shim.h"

#include <errno.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

/* ---- guard ------------------------------------------------------------------------------- */

__thread void *carom__guard_frame;
static __thread sigset_t guard_mask; /* the program's signal mask, while the guard holds */

/* While the guard is held no asynchronous signal reaches this thread: a handler that
 * siglongjmp()s (wget -T, any alarm()-based timeout) can then never leave the shim with the
 * guard set, which would make every later call from a deeper frame look like recursion
 * and pass straight through for the rest of the thread's life (hostile_sigsleep.sh). The
 * guarded stretches never block (suspend below drops the guard and restores the mask
 * around every call that can), so a signal waits microseconds at most. Faults stay
 * deliverable: a crash must still reach its handler. The mask costs two system calls per
 * guard, so the fast paths of connect and getaddrinfo run without the guard at all and
 * take it only where they leave the fast path (docs/performance.md, "The recursion guard,
 * off the fast path"). */
static sigset_t async_set;
static bool async_ready;

void carom__async_signals_prepare(void)
{
    carom__async_signals(&async_set);
    async_ready = true;
}

void carom__async_signals(sigset_t *all)
{
    /* Made once, at load (carom__async_signals_prepare, before the program can have a
     * second thread): building it costs seven libc calls, and every guarded call needs
     * it. A wrapper that runs before load builds its own. */
    if (CAROM_LIKELY(async_ready)) {
        *all = async_set;
        return;
    }
    sigfillset(all);
    sigdelset(all, SIGSEGV);
    sigdelset(all, SIGBUS);
    sigdelset(all, SIGFPE);
    sigdelset(all, SIGILL);
    sigdelset(all, SIGTRAP);
    sigdelset(all, SIGABRT);
}

static void block_signals(void)
{
    sigset_t all;
    carom__async_signals(&all);
    pthread_sigmask(SIG_BLOCK, &all, &guard_mask);
}

bool carom__enter(void *frame)
{
    /* The stack grows down: a call made from inside the shim has a deeper (lower) frame.
     * A guard set by a frame below the caller's was abandoned. */
    if (carom__guard_frame && (uintptr_t)frame < (uintptr_t)carom__guard_frame) return false;
    if (!carom__guard_frame) block_signals();
    carom__guard_frame = frame;
    return true;
}

void carom__leave(void)
{
    if (!carom__guard_frame) return;
    carom__guard_frame = NULL;
    pthread_sigmask(SIG_SETMASK, &guard_mask, NULL);
}

/* No guard is held across anything that can block: it is dropped (and the program's
 * signals let through) around each such call and taken back after. */
void *carom__guard_suspend(void)
{
    void *saved = carom__guard_frame;
    carom__leave();
    return saved;
}

void carom__guard_resume(void *saved)
{
    if (!saved) return;
    block_signals();
    carom__guard_frame = saved;
}

/* ---- time, randomness, sleep ---------------------------------------------------------------- */

uint64_t carom__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static __thread carom_rng tls_rng;
static __thread bool tls_rng_seeded;
static _Atomic uint64_t rng_stream;

/* In a child after fork: the next draw seeds a fresh stream (the atfork list, init.c). */
void carom__rng_atfork(int phase)
{
    if (phase == CAROM_ATFORK_CHILD) tls_rng_seeded = false;
}

carom_rng *carom__rng(void)
{
    if (CAROM_UNLIKELY(!tls_rng_seeded)) {
        /* Distinct per thread and per process without a syscall: the clock, the pid the
         * kernel gave us, and a process-wide counter. */
        uint64_t s = carom__now_ns() ^ ((uint64_t)getpid() << 32) ^
                     (atomic_fetch_add(&rng_stream, 1) * 0x9e3779b97f4a7c15ull);
        carom_rng_seed(&tls_rng, s);
        tls_rng_seeded = true;
    }
    return &tls_rng;
}

void carom__sleep_ms(uint32_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    /* An absolute deadline: after a handler runs we sleep only the remainder. */
    void *g = carom__guard_suspend();
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
        ;
    carom__guard_resume(g);
}
