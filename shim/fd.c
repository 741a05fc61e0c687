/* fd.c: the per-fd table (one record per tracked socket, from a pool never returned to the
 * system) and the descriptor lifecycle calls that keep it true: close, close_range,
 * closefrom, dup, dup2, dup3 and fcntl's F_DUPFD. On an untracked fd each wrapper costs one
 * table look-up and then the real call; it must never allocate, lock or make an extra
 * syscall there, never wait for anything in the record pool (a signal handler may close a
 * socket while its thread is half-way through the same), and never use stdio. */
#include "carom_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Mapped at load (init.c), empty until init: carom__fd is one bounds check and one load. */
_Atomic(struct carom__fd_rec *) *carom__fds;
unsigned carom__nfds;

/* fd records come from a pool that is never returned to the system: a thread that races
 * a close() with I/O on the same fd (a program bug) reads a recycled record, not freed
 * memory. The free list is a lock-free stack of record indexes with a generation tag in
 * the same word (no ABA): socket() and close() are async-signal-safe, so a signal handler
 * may take or give back a record while the thread it interrupted is half-way through
 * doing the same (hostile_sigclose.sh), and a fork may come at any moment; neither can
 * wait for anything here. A record's index finds it through the chunk directory. */
#define CHUNK 64u
#define CHUNKS_MAX (((1u << 20) + CHUNK - 1) / CHUNK * 2) /* twice the largest table */
static struct carom__fd_rec *_Atomic chunks[CHUNKS_MAX];
static _Atomic unsigned nchunks;
static _Atomic uint64_t pool_head; /* generation << 32 | index of the top record (0: empty) */

static struct carom__fd_rec *rec_of(uint32_t idx)
{
    struct carom__fd_rec *c =
        atomic_load_explicit(&chunks[(idx - 1) / CHUNK], memory_order_acquire);
    return &c[(idx - 1) % CHUNK];
}

/* Pushes the chain first..last (linked through pool_next) on the free stack. */
static void push_chain(struct carom__fd_rec *first, struct carom__fd_rec *last)
{
    uint64_t h = atomic_load_explicit(&pool_head, memory_order_relaxed);
    for (;;) {
        atomic_store_explicit(&last->pool_next, (uint32_t)h, memory_order_relaxed);
        uint64_t nh = ((h >> 32) + 1) << 32 | first->pool_idx;
        if (atomic_compare_exchange_weak_explicit(&pool_head, &h, nh, memory_order_release,
                                                  memory_order_relaxed))
            return;
    }
}

/* A new chunk: its first record for the caller, the rest on the free stack. */
static struct carom__fd_rec *grow(void)
{
    unsigned c = atomic_fetch_add_explicit(&nchunks, 1, memory_order_relaxed);
    if (c >= CHUNKS_MAX) return NULL;
    struct carom__fd_rec *chunk = mmap(NULL, CHUNK * sizeof *chunk, PROT_READ | PROT_WRITE,
                                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (chunk == MAP_FAILED) return NULL;
    for (uint32_t i = 0; i < CHUNK; i++) {
        chunk[i].pool_idx = c * CHUNK + i + 1;
        atomic_store_explicit(&chunk[i].pool_next, i + 1 < CHUNK ? c * CHUNK + i + 2 : 0,
                              memory_order_relaxed);
    }
    atomic_store_explicit(&chunks[c], chunk, memory_order_release);
    push_chain(&chunk[1], &chunk[CHUNK - 1]);
    return &chunk[0];
}

static struct carom__fd_rec *pool_get(void)
{
    uint64_t h = atomic_load_explicit(&pool_head, memory_order_acquire);
    while ((uint32_t)h) {
        struct carom__fd_rec *f = rec_of((uint32_t)h);
        uint64_t nh =
            ((h >> 32) + 1) << 32 | atomic_load_explicit(&f->pool_next, memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&pool_head, &h, nh, memory_order_acquire,
                                                  memory_order_acquire))
            return f;
    }
    return grow();
}

static void pool_put(struct carom__fd_rec *f)
{
    push_chain(f, f);
}

/* The part of a record below the pool's words. */
#define REC_BODY(f) ((char *)(f) + offsetof(struct carom__fd_rec, domain))
/* A fresh record zeroes only the words before `cx` (72 bytes: a few stores, where the
 * whole head was a string instruction); cx is reset when the policy is bound and read
 * only under chaos_io, which is set then too. */
#define REC_ZEROED (offsetof(struct carom__fd_rec, cx) - offsetof(struct carom__fd_rec, domain))
#define REC_BODY_LEN (sizeof(struct carom__fd_rec) - offsetof(struct carom__fd_rec, domain))

struct carom__fd_rec *carom__fd_track(int fd, int domain, int type, int protocol)
{
    if ((unsigned)fd >= carom__nfds) return NULL;
    struct carom__fd_rec *f = pool_get();
    if (!f) return NULL;
    memset(REC_BODY(f), 0, REC_ZEROED);
    f->ep[0] = 0;
    f->domain = domain;
    f->type = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    f->nonblock = (type & SOCK_NONBLOCK) != 0;
    f->protocol = protocol;
    struct carom__fd_rec *old = atomic_exchange(&carom__fds[fd], f);
    if (old) {
        carom__limit_release(old); /* limit: a number reused unseen frees its slot */
        pool_put(old);
    }
    return f;
}

/* carom__fd_untrack for an fd known to be in the table's range (close has looked). */
static inline void untrack_in_range(int fd)
{
    struct carom__fd_rec *old = atomic_exchange(&carom__fds[fd], NULL);
    if (old) {
        /* A connect retry on another thread may be putting a fresh socket in place right
         * now (connect.c, replace): let it finish, so the caller's real close() closes
         * that socket rather than a number someone else opens next (hostile_closerace.sh).
         * Bounded: the thread may be the one this signal handler interrupted. */
        for (int i = 0; i < 10000 && atomic_load(&old->replacing); i++)
            sched_yield();
        if (old->ticket_open) carom__nb_close(old); /* closed before its outcome was seen */
        carom__limit_release(old);                  /* limit: its connection slot */
        pool_put(old);
    }
}

void carom__fd_untrack(int fd)
{
    if ((unsigned)fd >= carom__nfds) return;
    untrack_in_range(fd);
}

/* True when fd no longer holds the socket f describes: the program closed it where no
 * wrapper could see (fclose() of an fdopen()ed socket, a raw close_range system call)
 * and the number now holds a pipe, a file or another socket (hostile_daemon.sh). Costs
 * system calls: only for the rare decisions that act on the descriptor. */
bool carom__fd_stale(int fd, const struct carom__fd_rec *f)
{
    int v = 0;
    socklen_t l = sizeof v;
    if (carom__real.getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l) != 0 || v != f->type) return true;
    l = sizeof v;
    if (carom__real.getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) == 0 && v != f->domain)
        return true;
    if (!f->peerlen) return false;
    struct sockaddr_storage ss;
    l = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &l) != 0)
        return false; /* not connected (yet, or any more): cannot tell, assume ours */
    if (ss.ss_family == AF_INET && f->peer.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        const struct sockaddr_in *b = (const struct sockaddr_in *)&f->peer;
        return a->sin_port != b->sin_port || a->sin_addr.s_addr != b->sin_addr.s_addr;
    }
    if (ss.ss_family == AF_INET6 && f->peer.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        const struct sockaddr_in6 *b = (const struct sockaddr_in6 *)&f->peer;
        return a->sin6_port != b->sin6_port ||
               memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) != 0;
    }
    return true;
}

void carom__fd_copy(int from, int to)
{
    struct carom__fd_rec *src = carom__fd(from);
    if (!src) {
        carom__fd_untrack(to);
        return;
    }
    if ((unsigned)to >= carom__nfds) return;
    struct carom__fd_rec *f = pool_get();
    if (!f) return;
    memcpy(REC_BODY(f), REC_BODY(src), REC_BODY_LEN);
    atomic_store(&f->replacing, 0);
    f->ticket_open = false; /* one outcome is owed once, by the original */
    f->lease = 0;           /* limit: and its connection slot is held by the original */
    struct carom__fd_rec *old = atomic_exchange(&carom__fds[to], f);
    if (old) {
        carom__limit_release(old); /* limit: */
        pool_put(old);
    }
}

/* ---- the lifecycle calls */

static int carom_close(int fd)
{
    struct carom__fd_rec *f = carom__fd(fd);
    if (CAROM_LIKELY(!f)) {
        carom__emit_fd_closing(fd, fd);
        return carom__real.close(fd);
    }
    if (CAROM_UNLIKELY(f->chaos_io))
        carom__chaos_close(f); /* chaos.slow_close_ms: before anything is forgotten */
    /* Forget first: once the number is free another thread's socket() may reuse it. A
     * vfork child closes its own copy of the descriptor, not the parent's, but runs in
     * the parent's memory: the parent's record must stay (hostile_spawn.sh). */
    if (!carom__vfork_child()) {
        /* limit: the connection slot goes back after the real close, so the server never
         * sees the next holder's connection before this one's end (shim/limit.c). */
        struct carom__lease_hold h;
        carom__limit_detach(f, &h);
        untrack_in_range(fd); /* in range: carom__fd found f */
        int r = carom__real.close(fd);
        carom__limit_drop(&h);
        return r;
    }
    return carom__real.close(fd);
}
CAROM_EXPORT int close(int fd)
{
    return carom_close(fd);
}

/* Forgets descriptors lo..hi before the program closes them all at once. */
static void forget_range(unsigned lo, unsigned hi)
{
    unsigned top = hi < carom__nfds ? hi : (carom__nfds ? carom__nfds - 1 : 0);
    int vforked = -1; /* asked once, and only when there is something to forget */
    for (unsigned fd = lo; carom__nfds && fd <= top; fd++) {
        if (!carom__fd((int)fd)) continue;
        if (vforked < 0) vforked = carom__vfork_child();
        if (vforked) break;
        carom__fd_untrack((int)fd);
    }
    carom__emit_fd_closing((int)lo, hi > INT32_MAX ? INT32_MAX : (int)hi);
}

static int carom_close_range(unsigned lo, unsigned hi, int flags)
{
    if (!(flags & CLOSE_RANGE_CLOEXEC)) forget_range(lo, hi);
    return carom__real.close_range(lo, hi, flags);
}
CAROM_EXPORT int close_range(unsigned lo, unsigned hi, int flags)
{
    return carom_close_range(lo, hi, flags);
}

/* The daemon's way to close everything: glibc's closefrom calls its own internal
 * close_range, past the wrapper above (hostile_daemon.sh). */
CAROM_EXPORT void closefrom(int lo)
{
    forget_range(lo < 0 ? 0u : (unsigned)lo, ~0U);
    carom__real.closefrom(lo);
}

static int carom_dup(int fd)
{
    int r = carom__real.dup(fd);
    if (r >= 0 && carom__fd(fd) && !carom__vfork_child()) carom__fd_copy(fd, r);
    return r;
}
CAROM_EXPORT int dup(int fd)
{
    return carom_dup(fd);
}

static int carom_dup3(int from, int to, int flags, bool is_dup2)
{
    /* Before the real call, as close() does: the moment dup2 returns, `to` is the
     * program's, and an event another thread sends into it then would land in the
     * program's stream (hostile_sbdup2.sh). If the call then fails, carom merely opens a
     * fresh scoreboard socket. */
    if (from != to) carom__emit_fd_closing(to, to);
    int r = is_dup2 ? carom__real.dup2(from, to) : carom__real.dup3(from, to, flags);
    if (r < 0 || from == to) return r;
    if ((carom__fd(from) || carom__fd(to)) && !carom__vfork_child()) carom__fd_copy(from, to);
    return r;
}
CAROM_EXPORT int dup2(int from, int to)
{
    return carom_dup3(from, to, 0, true);
}
CAROM_EXPORT int dup3(int from, int to, int flags)
{
    return carom_dup3(from, to, flags, false);
}

static int carom_fcntl(int fd, int cmd, void *arg)
{
    int r = carom__real.fcntl(fd, cmd, arg);
    if (r < 0) return r;
    switch (cmd) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
        if (carom__fd(fd) && !carom__vfork_child()) carom__fd_copy(fd, r);
        break;
    case F_SETFL: {
        struct carom__fd_rec *f = carom__fd(fd);
        if (f) f->nonblock = ((long)arg & O_NONBLOCK) != 0;
        break;
    }
    default:
        break;
    }
    return r;
}

/* fcntl is variadic; every command's third argument fits in a pointer-sized register
 * (an int, a long or a pointer), so forwarding it as void * is exact on the ABIs glibc
 * supports. */
CAROM_EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return carom_fcntl(fd, cmd, arg);
}
CAROM_EXPORT int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return carom_fcntl(fd, cmd, arg);
}
