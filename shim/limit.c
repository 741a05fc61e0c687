/* limit.c: the shim side of rate limits and bulkheads: where a connect or a libcurl
 * transfer waits for a token of its endpoint's bucket and a socket for a connection slot,
 * both in the endpoint's shared slot, and how the slots of processes that died are found
 * (kill(pid, 0) and /proc/PID/stat). It must never spin, hold the recursion guard across
 * a wait, wait past limit_wait_ms or the shot's deadline, use stdio or allocate, and it
 * must cost a connect nothing but one load and a branch while both limits are off. */
#include "carom_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A call waiting for a connection slot looks again at least this often, so a slot whose
 * holder was killed (it never wakes anyone) is reclaimed within this bound by a caller
 * already waiting; a new caller that finds the endpoint full reclaims it at once. */
#define RECLAIM_POLL_MS 100u

/* ---- futexes on the shared mapping ---------------------------------------- */

/* Not FUTEX_PRIVATE: waiters and wakers are different processes sharing the mapping. A
 * handler interrupts the wait (EINTR) and the caller's loop resumes it with what is left. */
static void futex_wait(void *addr, uint32_t seen, uint32_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    void *g = carom__guard_suspend(); /* a blocking wait: see carom__guard_suspend */
    syscall(SYS_futex, addr, FUTEX_WAIT, seen, &ts, NULL, 0);
    carom__guard_resume(g);
}

static void futex_wake_all(void *addr)
{
    syscall(SYS_futex, addr, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* The half of the bucket word that changes on every take (the deficit): a waiter blocks
 * on it, so another caller's take wakes it to look again. */
static void *bucket_futex(carom_bucket *b)
{
    char *p = (char *)&b->word;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    p += 4;
#endif
    return p;
}

/* ---- who holds a slot ---------------------------------------- */

/* State and start time (clock ticks since boot) from /proc/PID/stat, with raw system
 * calls. False when it cannot be read. */
static bool read_stat(pid_t pid, char *state, uint64_t *start)
{
    char path[32], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t n = syscall(SYS_read, fd, buf, sizeof buf - 1);
    syscall(SYS_close, fd);
    if (n <= 0) return false;
    buf[n] = '\0';
    /* The command name may hold spaces and ')': fields start after the last ')'. */
    char *c = strrchr(buf, ')');
    if (!c) return false;
    c++;
    unsigned field = 2; /* the ')' ends field 2 */
    while (*c && field < 22) {
        while (*c == ' ')
            c++;
        field++;
        if (field == 3) *state = *c;
        if (field == 22) break;
        while (*c && *c != ' ')
            c++;
    }
    if (field != 22) return false;
    uint64_t v = 0;
    while (*c >= '0' && *c <= '9')
        v = v * 10 + (uint64_t)(*c++ - '0');
    *start = v;
    return true;
}

/* This process's holder word, [pid:22][start time:10] (core/bucket.c), computed once per
 * process: the cached pid tells a fork child its copy is its parent's. */
static _Atomic uint64_t me_cache; /* pid << 32 | holder */

static uint32_t holder_me(pid_t *pid_out)
{
    pid_t pid = (pid_t)syscall(SYS_getpid);
    *pid_out = pid;
    uint64_t c = atomic_load_explicit(&me_cache, memory_order_relaxed);
    if ((pid_t)(c >> 32) == pid && c) return (uint32_t)c;
    char st = 0;
    uint64_t start = 0;
    read_stat(pid, &st, &start);
    uint32_t h = carom_lease_holder((uint32_t)pid, start);
    atomic_store_explicit(&me_cache, ((uint64_t)(uint32_t)pid << 32) | h, memory_order_relaxed);
    return h;
}

/* Whether holder h may still hold its slot: false once its pid is gone (ESRCH), a zombie
 * (killed, not yet reaped), or a different process (the pid reused: another start time).
 * When it cannot tell (no /proc, another pid namespace's holder) it says alive: a slot is
 * never taken from a live process. */
static bool holder_alive(uint32_t h, void *ctx)
{
    pid_t self = *(pid_t *)ctx;
    pid_t pid = (pid_t)carom_lease_pid(h);
    if (pid <= 0) return false;
    if (pid == self) return false; /* our pid with another start time: a dead earlier owner */
    if (syscall(SYS_kill, pid, 0) != 0 && errno == ESRCH) return false;
    char st = 0;
    uint64_t start = 0;
    if (!read_stat(pid, &st, &start)) return true;
    if (st == 'Z' || st == 'X') return false;
    return carom_lease_holder((uint32_t)pid, start) == h;
}

/* ---- waiting ---------------------------------------- */

/* When the wait must end: limit_wait_ms from now, and never past the shot's deadline. */
static uint64_t wait_until(const carom_policy *p, const carom_shot_clock *clk, uint64_t now)
{
    uint64_t until = now + p->limit_wait_ms;
    if (clk) {
        uint64_t left = carom_clock_left(clk, now);
        if (left != UINT64_MAX && now + left < until) until = now + left;
    }
    return until;
}

static carom_bucket_cfg bucket_cfg(const carom_policy *p)
{
    /* rate_burst 0: one second's worth, within what the bucket word holds. */
    uint32_t burst = p->rate_burst;
    if (!burst)
        burst = p->rate_limit < CAROM_BUCKET_BURST_MAX ? p->rate_limit : CAROM_BUCKET_BURST_MAX;
    return (carom_bucket_cfg){
        .rate_per_s = p->rate_limit, .burst = burst, .max_wait_ms = p->limit_wait_ms};
}

/* fd still holds the record f: a handler or another thread may close it (and the record
 * be reused) while we wait with the guard down. */
static bool still_ours(int fd, const struct carom__fd_rec *f)
{
    return (unsigned)fd < carom__nfds && atomic_load(&carom__fds[fd]) == f;
}

/* A token by `until`. The bucket hands out reservations in the order callers ask
 * (core/bucket.c), so a caller learns at once when its token is due and sleeps until
 * then; no caller races another for a token and none waits in vain: when no token can be
 * had by `until` the call fails at once. The sleep blocks on the bucket word, which
 * other takes change, so it re-arms for what is left until the token's time; it stops
 * early when fd (f not NULL) is closed meanwhile, which the caller then sees. */
static bool take_token(int fd, const struct carom__fd_rec *f, struct carom_slot *s,
                       const carom_policy *p, uint64_t until, uint64_t start, uint64_t *waited,
                       bool *short_of)
{
    const carom_bucket_cfg cfg = bucket_cfg(p);
    uint64_t now = carom__now_ms();
    uint64_t room = until > now ? until - now : 0;
    uint32_t wait = 0;
    if (!carom_bucket_take(&s->bucket, &cfg, now, room > UINT32_MAX ? UINT32_MAX : (uint32_t)room,
                           &wait)) {
        *short_of = true;
        *waited = 0;
        return false;
    }
    if (wait == 0) {
        *waited = 0;
        return true;
    }
    *short_of = true;
    const uint64_t due = now + wait;
    while ((now = carom__now_ms()) < due && (!f || still_ours(fd, f))) {
        uint32_t seen = (uint32_t)atomic_load_explicit(&s->bucket.word, memory_order_relaxed);
        futex_wait(bucket_futex(&s->bucket), seen, (uint32_t)(due - now));
    }
    *waited = now - start;
    return true;
}

/* A connection slot by `until`; its index, -1 when none came, -2 when fd was closed
 * meanwhile (looked at after every wake, so a closed socket stops waiting at once). */
static int take_slot(int fd, const struct carom__fd_rec *f, struct carom_slot *s,
                     const carom_policy *p, uint32_t me, pid_t self, uint64_t until, uint64_t start,
                     uint64_t *waited, bool *short_of)
{
    for (;;) {
        if (*short_of && !still_ours(fd, f)) return -2;
        uint32_t seq = carom_leases_seq(&s->leases);
        int i = carom_leases_take(&s->leases, p->max_connections, me, holder_alive, &self);
        uint64_t now = carom__now_ms();
        if (i >= 0) {
            *waited = now - start;
            return i;
        }
        *short_of = true;
        if (now >= until) {
            *waited = now - start;
            return -1;
        }
        uint64_t ms = until - now;
        futex_wait(&s->leases.seq, seq, ms < RECLAIM_POLL_MS ? (uint32_t)ms : RECLAIM_POLL_MS);
    }
}

static void emit(const char *what, const carom_policy *p, const char *ep, const char *call,
                 uint64_t waited, bool refused)
{
    struct carom__event ev = {.event = what,
                              .policy = p->name,
                              .endpoint = ep,
                              .call = call,
                              .delay_ms = (int64_t)waited,
                              .elapsed_ms = -1,
                              .error = refused ? "ETIMEDOUT" : NULL};
    carom__emit(&ev);
}

/* ---- entry points ---------------------------------------- */

int carom__limit_wait(int fd, struct carom__fd_rec *f, const carom_shot_clock *clk, bool token)
{
    const carom_policy *p = f->pol;
    struct carom_slot *s = f->slot;
    if (CAROM_LIKELY(!p || (!p->max_connections && !(token && p->rate_limit))) || !s) return 0;
    int saved = errno;
    uint64_t start = carom__now_ms();
    uint64_t until = wait_until(p, clk, start);
    bool took_slot = false;
    if (p->max_connections && !f->lease) {
        pid_t self;
        uint32_t me = holder_me(&self);
        uint64_t waited = 0;
        bool full = false;
        int i = take_slot(fd, f, s, p, me, self, until, start, &waited, &full);
        if (i == -2 || (i >= 0 && !still_ours(fd, f))) {
            if (i >= 0 && carom_leases_release(&s->leases, i, me)) futex_wake_all(&s->leases.seq);
            errno = saved;
            return EBADF; /* closed meanwhile: f may be another's record now */
        }
        if (full) emit("bulkhead_full", p, f->ep, "connect", waited, i < 0);
        if (i < 0) {
            errno = saved;
            return ETIMEDOUT;
        }
        f->lease = (uint16_t)(i + 1);
        f->lease_holder = me;
        f->lease_in = &s->leases;
        took_slot = true;
    }
    if (token && p->rate_limit) {
        uint64_t waited = 0;
        bool empty = false;
        bool ok = take_token(fd, f, s, p, until, start, &waited, &empty);
        if (!still_ours(fd, f)) {
            /* Its close gave back the slot (if any) with the record. */
            errno = saved;
            return EBADF;
        }
        if (empty) emit("rate_limited", p, f->ep, "connect", waited, !ok);
        if (!ok) {
            if (took_slot) carom__limit_release(f);
            errno = saved;
            return ETIMEDOUT;
        }
    }
    errno = saved;
    return 0;
}

/* The inline halves in carom_shim.h test f->lease (and the policy's limits) first, so a
 * socket without a slot pays one load and a branch; these run only for one with a slot. */
void carom__limit_detach_slow(struct carom__fd_rec *f, struct carom__lease_hold *h)
{
    h->lease = 0;
    int saved = errno;
    /* A fork child's copy of the record names its parent's slot, and a vfork child runs
     * in its parent's memory: only the holder frees it, and only it clears the record. */
    if ((pid_t)carom_lease_pid(f->lease_holder) == ((pid_t)syscall(SYS_getpid) & 0x3fffff)) {
        h->lease = f->lease;
        h->holder = f->lease_holder;
        h->in = f->lease_in;
        f->lease = 0;
    }
    errno = saved;
}

void carom__limit_drop_slow(const struct carom__lease_hold *h)
{
    int saved = errno;
    if (h->in && carom_leases_release(h->in, h->lease - 1, h->holder)) futex_wake_all(&h->in->seq);
    errno = saved;
}

_Atomic int carom__limit_known;

bool carom__limit_any_slow(void)
{
    /* A reload installs a new table and then forgets the answer (carom__limit_forget). An
     * answer computed from the old table and stored after that is caught by the second
     * look at the table: both sides store and then look, so one of them sees the other. */
    if (!carom__g.active) return false;
    const carom_table *t = atomic_load(&carom__g.table);
    if (!t) return false;
    int a = 1;
    for (size_t i = 0; i < carom_policy_count(t); i++) {
        const carom_policy *p = carom_policy_at(t, i);
        if (p && (p->rate_limit || p->max_connections)) a = 2;
    }
    atomic_store(&carom__limit_known, a);
    if (atomic_load(&carom__g.table) != t) atomic_store(&carom__limit_known, 0);
    return a == 2;
}

void carom__limit_forget(void)
{
    atomic_store(&carom__limit_known, 0);
}

int carom__limit_curl(const carom_policy *p, struct carom_slot *s, const char *ep,
                      const carom_shot_clock *clk, char *errbuf, size_t errlen)
{
    if (CAROM_LIKELY(!p->rate_limit) || !s) return 0;
    int saved = errno;
    uint64_t start = carom__now_ms();
    uint64_t waited = 0;
    bool empty = false;
    bool ok = take_token(-1, NULL, s, p, wait_until(p, clk, start), start, &waited, &empty);
    if (empty) emit("rate_limited", p, ep, "curl", waited, !ok);
    if (!ok && errbuf && errlen)
        snprintf(errbuf, errlen,
                 "carom: rate limit for %s reached (%u per second, no token within %u ms)", ep,
                 p->rate_limit, p->limit_wait_ms);
    errno = saved;
    return ok ? 0 : ETIMEDOUT;
}

int carom__limit_curl_reserve(const carom_policy *p, struct carom_slot *s, const char *ep,
                              const carom_shot_clock *clk, char *errbuf, size_t errlen,
                              uint32_t *wait_ms)
{
    *wait_ms = 0;
    if (CAROM_LIKELY(!p->rate_limit) || !s) return 0;
    const carom_bucket_cfg cfg = bucket_cfg(p);
    uint64_t now = carom__now_ms();
    uint64_t until = wait_until(p, clk, now);
    uint64_t room = until > now ? until - now : 0;
    /* The token is the caller's from now on, due after *wait_ms: the transfer is started
     * then, from the program's own multi loop, so nothing here waits. */
    if (!carom_bucket_take(&s->bucket, &cfg, now, room > UINT32_MAX ? UINT32_MAX : (uint32_t)room,
                           wait_ms)) {
        emit("rate_limited", p, ep, "curl", 0, true);
        if (errbuf && errlen)
            snprintf(errbuf, errlen,
                     "carom: rate limit for %s reached (%u per second, no token within %u ms)", ep,
                     p->rate_limit, p->limit_wait_ms);
        *wait_ms = 0;
        return ETIMEDOUT;
    }
    if (*wait_ms) emit("rate_limited", p, ep, "curl", *wait_ms, false);
    return 0;
}
