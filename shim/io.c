/* io.c: stream I/O: send/recv/read/write and friends (with their _FORTIFY_SOURCE _chk
 * twins) on tracked sockets; the descriptor lifecycle calls are in fd.c. On an untracked fd each
 * wrapper costs one table look-up and then the real call; it must never allocate, lock or make an
 * extra syscall there, and never re-send or replay a byte. */
#include "carom_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

enum { IO_IN = 0, IO_OUT = 1 };

/* The tracked path lives out of line so the pass-through path needs no stack frame. */
#define CAROM_NOINLINE __attribute__((noinline))

/* I/O faults at the real-call boundary (chaos.c does the work): latency, a reset that
 * really shuts the socket down, a short write or read, pacing, a cut stream, a black hole.
 * True when chaos answered the call itself (*r, errno set when -1). Only reached when the
 * fd's chaos_io flag is set, so a policy without faults pays one load. */
static CAROM_NOINLINE bool io_chaos(int fd, struct carom__fd_rec *f, int dir, int flags, size_t *n,
                                    ssize_t *r)
{
    return carom__chaos_io_before(fd, f, dir, flags, n, r);
}

/* Slow path for a tracked socket, before the real call: a non-blocking connect whose
 * outcome nobody asked about yet, or io_timeout_ms on a blocking socket. Returns 0 to go
 * on with the real call, an errno to fail with, or -1 when fd turned out not to be the
 * socket f described (then only the bare real call is made). */
static int io_before(int fd, struct carom__fd_rec *f, int dir, int flags, size_t *n)
{
    (void)n;
    if (!f->pol || !f->pol->io_timeout_ms || (flags & MSG_DONTWAIT) ||
        f->state != CAROM_FD_CONNECTED)
        return 0;
    /* ioctl(FIONBIO) is not wrapped, so ask the kernel rather than trust our flag. */
    int fl = carom__real.fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_NONBLOCK)) return 0;
    struct pollfd p = {.fd = fd, .events = dir == IO_IN ? POLLIN : POLLOUT};
    uint64_t until = carom__now_ms() + f->pol->io_timeout_ms;
    for (;;) {
        uint64_t now = carom__now_ms();
        int r = carom__real.poll(&p, 1, now >= until ? 0 : (int)(until - now));
        if (r > 0) return 0;
        if (r == 0) {
            /* A descriptor closed behind our back and reused (a pipe, another
             * connection) is not ours to time out: forget it, make the real call. */
            if (carom__fd_stale(fd, f)) {
                if (!carom__vfork_child()) carom__fd_untrack(fd);
                return -1; /* the record may be reused from here on: don't touch it */
            }
            struct carom__event ev = {.event = "timeout",
                                      .policy = f->pol->name,
                                      .endpoint = f->ep,
                                      .call = dir == IO_IN ? "recv" : "send",
                                      .delay_ms = -1,
                                      .elapsed_ms = f->pol->io_timeout_ms,
                                      .error = "ETIMEDOUT"};
            carom__emit(&ev);
            carom__io_failed(f, ETIMEDOUT);
            return ETIMEDOUT;
        }
        if (errno != EINTR) return 0; /* let the real call report whatever is wrong */
    }
}

/* After the real call failed on a tracked socket: settle a pending non-blocking connect
 * (retrying it if the policy says so) or feed the cushion. Returns true when the caller
 * should make the real call once more (the connect was retried and succeeded; nothing
 * was sent on the failed socket, so nothing is repeated). */
static bool io_after(int fd, struct carom__fd_rec *f, int err)
{
    if (err == EAGAIN || err == EINTR) return false;
    if (f->state == CAROM_FD_CONNECTING && f->ticket_open) {
        if (!CAROM_ENTER()) return false;
        int e = carom__nb_surface(fd, f, err);
        carom__leave();
        if (e == 0) return true;
        errno = e;
        return false;
    }
    /* Only errors that feed the cushion (core's carom_cushion_io_errno) are worth the
     * check: one that a pipe or UNIX socket on a reused number gave is not the old
     * endpoint's, and must not open its circuit (hostile_daemon.sh). */
    if (carom_cushion_io_errno(err)) {
        if (f->slot && carom__fd_stale(fd, f)) {
            if (!carom__vfork_child()) carom__fd_untrack(fd);
        } else {
            carom__io_failed(f, err);
        }
    }
    errno = err;
    return false;
}

static inline void io_ok(struct carom__fd_rec *f)
{
    if (CAROM_UNLIKELY(f->state == CAROM_FD_CONNECTING)) carom__nb_success(f);
}

/* The shape every tracked-socket call takes. CALL is the real call; `flags` the MSG_*
 * flags (0 for read/write). */
#define IO_BODY(fd, dir, flags, len, CALL)                                                         \
    do {                                                                                           \
        ssize_t r_;                                                                                \
        if (CAROM_UNLIKELY(f->chaos_io) && io_chaos(fd, f, dir, flags, len, &r_)) return r_;       \
        int e_ = io_before(fd, f, dir, flags, len);                                                \
        if (e_ < 0) return CALL;                                                                   \
        if (e_) {                                                                                  \
            errno = e_;                                                                            \
            return -1;                                                                             \
        }                                                                                          \
        for (int again_ = 0; again_ < 2; again_++) {                                               \
            r_ = CALL;                                                                             \
            if (r_ >= 0) {                                                                         \
                io_ok(f);                                                                          \
                if (CAROM_UNLIKELY(f->chaos_io)) carom__chaos_io_after(f, dir, flags, r_);         \
                return r_;                                                                         \
            }                                                                                      \
            if (!io_after(fd, f, errno)) return r_;                                                \
        }                                                                                          \
        return r_;                                                                                 \
    } while (0)

/* The common case of a tracked socket: connected, no I/O fault to inject, no
 * io_timeout_ms. Then nothing happens before the real call, and after it only a failure
 * is looked at (io_after: the cushion, a descriptor reused behind our back); kept apart
 * from IO_BODY so this path saves two registers, not six, and stays under the target of
 * 80 instructions per call that bench/shim_cost.sh measures. */
static inline bool io_plain(const struct carom__fd_rec *f)
{
    return f->state == CAROM_FD_CONNECTED && !f->chaos_io && !(f->pol && f->pol->io_timeout_ms);
}
#define IO_FAST(fd, f, CALL, SLOW)                                                                 \
    do {                                                                                           \
        if (CAROM_UNLIKELY(!io_plain(f))) return SLOW;                                             \
        ssize_t r_ = CALL;                                                                         \
        if (CAROM_UNLIKELY(r_ < 0))                                                                \
            io_after(fd, f, errno); /* connected: never asks for a retry; keeps errno */           \
        return r_;                                                                                 \
    } while (0)

/* ---- vector calls under chaos: the same faults, on a shortened copy of the vector ------------ */

#define CHAOS_IOV 64 /* entries kept when a vector is shortened: fewer bytes is always legal */

static size_t iov_len(const struct iovec *v, size_t n)
{
    size_t t = 0;
    for (size_t i = 0; i < n; i++)
        t += v[i].iov_len;
    return t;
}

/* v (n entries) cut to len bytes in out; returns the entry count. */
static size_t iov_cut(const struct iovec *v, size_t n, size_t len, struct iovec *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k < CHAOS_IOV && len; i++) {
        out[k] = v[i];
        if (out[k].iov_len > len) out[k].iov_len = len;
        len -= out[k].iov_len;
        k++;
    }
    return k;
}

static ssize_t readv_cut(int fd, const struct iovec *v, int n, size_t len, size_t whole)
{
    if (len >= whole) return carom__real.readv(fd, v, n);
    struct iovec tv[CHAOS_IOV];
    return carom__real.readv(fd, tv, (int)iov_cut(v, (size_t)n, len, tv));
}

static ssize_t writev_cut(int fd, const struct iovec *v, int n, size_t len, size_t whole)
{
    if (len >= whole) return carom__real.writev(fd, v, n);
    struct iovec tv[CHAOS_IOV];
    return carom__real.writev(fd, tv, (int)iov_cut(v, (size_t)n, len, tv));
}

static ssize_t sendmsg_cut(int fd, const struct msghdr *m, int fl, size_t len, size_t whole)
{
    if (len >= whole) return carom__real.sendmsg(fd, m, fl);
    struct iovec tv[CHAOS_IOV];
    struct msghdr c = *m;
    c.msg_iov = tv;
    c.msg_iovlen = iov_cut(m->msg_iov, m->msg_iovlen, len, tv);
    return carom__real.sendmsg(fd, &c, fl);
}

static ssize_t recvmsg_cut(int fd, struct msghdr *m, int fl, size_t len, size_t whole)
{
    if (len >= whole) return carom__real.recvmsg(fd, m, fl);
    struct iovec tv[CHAOS_IOV];
    struct msghdr c = *m;
    c.msg_iov = tv;
    c.msg_iovlen = iov_cut(m->msg_iov, m->msg_iovlen, len, tv);
    ssize_t r = carom__real.recvmsg(fd, &c, fl);
    int e = errno;
    m->msg_namelen = c.msg_namelen; /* what the kernel reports back goes to the program's */
    m->msg_controllen = c.msg_controllen;
    m->msg_flags = c.msg_flags;
    errno = e;
    return r;
}

static CAROM_NOINLINE ssize_t readv_chaos(int fd, struct carom__fd_rec *f, const struct iovec *v,
                                          int n)
{
    size_t whole = n > 0 ? iov_len(v, (size_t)n) : 0, len = whole;
    IO_BODY(fd, IO_IN, 0, &len, readv_cut(fd, v, n, len, whole));
}

static CAROM_NOINLINE ssize_t writev_chaos(int fd, struct carom__fd_rec *f, const struct iovec *v,
                                           int n)
{
    size_t whole = n > 0 ? iov_len(v, (size_t)n) : 0, len = whole;
    IO_BODY(fd, IO_OUT, 0, &len, writev_cut(fd, v, n, len, whole));
}

static CAROM_NOINLINE ssize_t sendmsg_chaos(int fd, struct carom__fd_rec *f, const struct msghdr *m,
                                            int fl)
{
    size_t whole = m ? iov_len(m->msg_iov, m->msg_iovlen) : 0, len = whole;
    IO_BODY(fd, IO_OUT, fl, &len, sendmsg_cut(fd, m, fl, len, whole));
}

static CAROM_NOINLINE ssize_t recvmsg_chaos(int fd, struct carom__fd_rec *f, struct msghdr *m,
                                            int fl)
{
    size_t whole = m ? iov_len(m->msg_iov, m->msg_iovlen) : 0, len = whole;
    IO_BODY(fd, IO_IN, fl, &len, recvmsg_cut(fd, m, fl, len, whole));
}

static CAROM_NOINLINE ssize_t read_slow(int fd, struct carom__fd_rec *f, void *buf, size_t n)
{
    IO_BODY(fd, IO_IN, 0, &n, carom__real.read(fd, buf, n));
}

static CAROM_NOINLINE ssize_t read_tracked(int fd, struct carom__fd_rec *f, void *buf, size_t n)
{
    IO_FAST(fd, f, carom__real.read(fd, buf, n), read_slow(fd, f, buf, n));
}
static inline ssize_t carom_read(int fd, void *buf, size_t n)
{
    struct carom__fd_rec *f = carom__fd(fd);
    if (CAROM_LIKELY(!f)) return carom__real.read(fd, buf, n);
    return read_tracked(fd, f, buf, n);
}
CAROM_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
    return carom_read(fd, buf, n);
}

static CAROM_NOINLINE ssize_t write_slow(int fd, struct carom__fd_rec *f, const void *buf, size_t n)
{
    IO_BODY(fd, IO_OUT, 0, &n, carom__real.write(fd, buf, n));
}

static CAROM_NOINLINE ssize_t write_tracked(int fd, struct carom__fd_rec *f, const void *buf,
                                            size_t n)
{
    IO_FAST(fd, f, carom__real.write(fd, buf, n), write_slow(fd, f, buf, n));
}
static inline ssize_t carom_write(int fd, const void *buf, size_t n)
{
    struct carom__fd_rec *f = carom__fd(fd);
    if (CAROM_LIKELY(!f)) return carom__real.write(fd, buf, n);
    return write_tracked(fd, f, buf, n);
}
CAROM_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
    return carom_write(fd, buf, n);
}

static CAROM_NOINLINE ssize_t readv_slow(int fd, struct carom__fd_rec *f, const struct iovec *v,
                                         int n)
{
    if (CAROM_UNLIKELY(f->chaos_io)) return readv_chaos(fd, f, v, n);
    IO_BODY(fd, IO_IN, 0, NULL, carom__real.readv(fd, v, n));
}

static CAROM_NOINLINE ssize_t readv_tracked(int fd, struct carom__fd_rec *f, const struct iovec *v,
                                            int n)
{
    IO_FAST(fd, f, carom__real.readv(fd, v, n), readv_slow(fd, f, v, n));
}
static inline ssize_t carom_readv(int fd, const struct iovec *v, int n)
{
    struct carom__fd_rec *f = carom__fd(fd);
    if (CAROM_LIKELY(!f)) return carom__real.readv(fd, v, n);
    return readv_tracked(fd, f, v, n);
}
CAROM_EXPORT ssize_t readv(int fd, const struct iovec *v, int n)
{
    return carom_readv(fd, v, n);
}

static CAROM_NOINLINE ssize_t writev_slow(int fd, struct carom__fd_rec *f, const struct iovec *v,
                                          int n)
{
    if (CAROM_UNLIKELY(f->chaos_io)) return writev_chaos(fd, f, v, n);
    IO_BODY(fd, IO_OUT, 0, NULL, carom__real.writev(fd, v, n));
}

static CAROM_NOINLINE ssize_t writev_tracked(int fd, struct carom__fd_rec *f, const struct iovec *v,
                                             int n)
{
    IO_FAST(fd, f, carom__real.writev(fd, v, n), writev_slow(fd, f, v, n));
}
static inline ssize_t carom_writev(int fd, const struct iovec *v, int n)
{
    struct carom__fd_rec *f = carom__fd(fd);
    if (CAROM_LIKELY(!f)) return carom__real.writev(fd, v, n);
    return writev_tracked(fd, f, v, n);
}
CAROM_EXPORT ssize_t writev(int fd, const struct iovec *v, int n)
{
    return carom_writev(fd, v, n);
}

static CAROM_NOINLINE ssize_t send_slow(int fd, struct carom__fd_rec *f, const void *buf, size_t n,
                                        int fl)
{
    IO_BODY(fd, IO_OUT, fl, &n, carom__real.send(fd, buf, n, fl));
}

static CAROM_NOINLINE ssize_t send_tracked(int fd, struct carom__fd_rec *f, const void *buf,
                                           size_t n, int fl)
{
    IO_FAST(fd, f, carom__real.send(fd, buf, n, fl), send_slow(fd, f, buf, n, fl));
}
static inline ssize_t carom_send(int fd, const void *buf, size_t n, int fl)
{
    struct carom__fd_rec *f = carom__fd(fd);
    if (CAROM_LIKELY(!f)) return carom__real.send(fd, buf, n, fl);
    return send_tracked(fd, f, buf, n, fl);
}
CAROM_EXPORT ssize_t send(int fd, const void *buf, size_t n, int fl)
{
    return carom_send(fd, buf, n, fl);
}

static CAROM_NOINLINE ssize_t recv_slow(int fd, struct carom__fd_rec *f, void *buf, size_t n,
                                        int fl)
{
    IO_BODY(fd, IO_IN, fl, &n, carom__real.recv(fd, buf, n, fl));
}

static CAROM_NOINLINE ssize_t recv_tracked(int fd, struct carom__fd_rec *f, void *buf, size_t n,
                                           int fl)
{
    IO_FAST(fd, f, carom__real.recv(fd, buf, n, fl), recv_slow(fd, f, buf, n, fl));
}
static inline ssize_t carom_recv(int fd, void *buf, size_t n, int fl)
{
    struct carom__fd_rec *f = carom__fd(fd);
    if (CAROM_LIKELY(!f)) return carom__real.recv(fd, buf, n, fl);
    return recv_tracked(fd, f, buf, n, fl);
}
CAROM_EXPORT ssize_t recv(int fd, void *buf, size_t n, int fl)
{
    return carom_recv(fd, buf, n, fl);
}

static CAROM_NOINLINE ssize_t sendto_slow(int fd, struct carom__fd_rec *f, const void *buf,
                                          size_t n, int fl, const struct sockaddr *a, socklen_t l)
{
    IO_BODY(fd, IO_OUT, fl, &n, carom__real.sendto(fd, buf, n, fl, a, l));
}

static CAROM_NOINLINE ssize_t sendto_tracked(int fd, struct carom__fd_rec *f, const void *buf,
                                             size_t n, int fl, const struct sockaddr *a,
                                             socklen_t l)
{
    IO_FAST(fd, f, carom__real.sendto(fd, buf, n, fl, a, l), sendto_slow(fd, f, buf, n, fl, a, l));
}
static inline ssize_t carom_sendto(int fd, const void *buf, size_t n, int fl,
                                   const struct sockaddr *a, socklen_t l)
{
    struct carom__fd_rec *f = carom__fd(fd);
    if (CAROM_LIKELY(!f)) return carom__real.sendto(fd, buf, n, fl, a, l);
    return sendto_tracked(fd, f, buf, n, fl, a, l);
}
CAROM_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int fl, const struct sockaddr *a,
                            socklen_t l)
{
    return carom_sendto(fd, buf, n, fl, a, l);
}

static CAROM_NOINLINE ssize_t recvfrom_slow(int fd, struct carom__fd_rec *f, void *buf, size_t n,
                                            int fl, struct sockaddr *a, socklen_t *l)
{
    IO_BODY(fd, IO_IN, fl, &n, carom__real.recvfrom(fd, buf, n, fl, a, l));
}

static CAROM_NOINLINE ssize_t recvfrom_tracked(int fd, struct carom__fd_rec *f, void *buf, size_t n,
                                               int fl, struct sockaddr *a, socklen_t *l)
{
    IO_FAST(fd, f, carom__real.recvfrom(fd, buf, n, fl, a, l),
            recvfrom_slow(fd, f, buf, n, fl, a, l));
}
static inline ssize_t carom_recvfrom(int fd, void *buf, size_t n, int fl, struct sockaddr *a,
                                     socklen_t *l)
{
    struct carom__fd_rec *f = carom__fd(fd);
    if (CAROM_LIKELY(!f)) return carom__real.recvfrom(fd, buf, n, fl, a, l);
    return recvfrom_tracked(fd, f, buf, n, fl, a, l);
}
CAROM_EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int fl, struct sockaddr *a, socklen_t *l)
{
    return carom_recvfrom(fd, buf, n, fl, a, l);
}

static CAROM_NOINLINE ssize_t sendmsg_slow(int fd, struct carom__fd_rec *f, const struct msghdr *m,
                                           int fl)
{
    if (CAROM_UNLIKELY(f->chaos_io)) return sendmsg_chaos(fd, f, m, fl);
    IO_BODY(fd, IO_OUT, fl, NULL, carom__real.sendmsg(fd, m, fl));
}

static CAROM_NOINLINE ssize_t sendmsg_tracked(int fd, struct carom__fd_rec *f,
                                              const struct msghdr *m, int fl)
{
    IO_FAST(fd, f, carom__real.sendmsg(fd, m, fl), sendmsg_slow(fd, f, m, fl));
}
static inline ssize_t carom_sendmsg(int fd, const struct msghdr *m, int fl)
{
    struct carom__fd_rec *f = carom__fd(fd);
    if (CAROM_LIKELY(!f)) return carom__real.sendmsg(fd, m, fl);
    return sendmsg_tracked(fd, f, m, fl);
}
CAROM_EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int fl)
{
    return carom_sendmsg(fd, m, fl);
}

static CAROM_NOINLINE ssize_t recvmsg_slow(int fd, struct carom__fd_rec *f, struct msghdr *m,
                                           int fl)
{
    if (CAROM_UNLIKELY(f->chaos_io)) return recvmsg_chaos(fd, f, m, fl);
    IO_BODY(fd, IO_IN, fl, NULL, carom__real.recvmsg(fd, m, fl));
}

static CAROM_NOINLINE ssize_t recvmsg_tracked(int fd, struct carom__fd_rec *f, struct msghdr *m,
                                              int fl)
{
    IO_FAST(fd, f, carom__real.recvmsg(fd, m, fl), recvmsg_slow(fd, f, m, fl));
}
static inline ssize_t carom_recvmsg(int fd, struct msghdr *m, int fl)
{
    struct carom__fd_rec *f = carom__fd(fd);
    if (CAROM_LIKELY(!f)) return carom__real.recvmsg(fd, m, fl);
    return recvmsg_tracked(fd, f, m, fl);
}
CAROM_EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int fl)
{
    return carom_recvmsg(fd, m, fl);
}

/* The _chk twins keep their buffer-size check by calling the real _chk function. */
static CAROM_NOINLINE ssize_t read_chk_slow(int fd, struct carom__fd_rec *f, void *buf, size_t n,
                                            size_t bl)
{
    IO_BODY(fd, IO_IN, 0, &n, carom__real.read_chk(fd, buf, n, bl));
}

static CAROM_NOINLINE ssize_t read_chk_tracked(int fd, struct carom__fd_rec *f, void *buf, size_t n,
                                               size_t bl)
{
    IO_FAST(fd, f, carom__real.read_chk(fd, buf, n, bl), read_chk_slow(fd, f, buf, n, bl));
}
static inline ssize_t carom_read_chk(int fd, void *buf, size_t n, size_t bl)
{
    struct carom__fd_rec *f = carom__fd(fd);
    if (CAROM_LIKELY(!f)) return carom__real.read_chk(fd, buf, n, bl);
    return read_chk_tracked(fd, f, buf, n, bl);
}
CAROM_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t bl)
{
    return carom_read_chk(fd, buf, n, bl);
}

static CAROM_NOINLINE ssize_t recv_chk_slow(int fd, struct carom__fd_rec *f, void *buf, size_t n,
                                            size_t bl, int fl)
{
    IO_BODY(fd, IO_IN, fl, &n, carom__real.recv_chk(fd, buf, n, bl, fl));
}

static CAROM_NOINLINE ssize_t recv_chk_tracked(int fd, struct carom__fd_rec *f, void *buf, size_t n,
                                               size_t bl, int fl)
{
    IO_FAST(fd, f, carom__real.recv_chk(fd, buf, n, bl, fl), recv_chk_slow(fd, f, buf, n, bl, fl));
}
static inline ssize_t carom_recv_chk(int fd, void *buf, size_t n, size_t bl, int fl)
{
    struct carom__fd_rec *f = carom__fd(fd);
    if (CAROM_LIKELY(!f)) return carom__real.recv_chk(fd, buf, n, bl, fl);
    return recv_chk_tracked(fd, f, buf, n, bl, fl);
}
CAROM_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t bl, int fl)
{
    return carom_recv_chk(fd, buf, n, bl, fl);
}

static CAROM_NOINLINE ssize_t recvfrom_chk_slow(int fd, struct carom__fd_rec *f, void *buf,
                                                size_t n, size_t bl, int fl, struct sockaddr *a,
                                                socklen_t *l)
{
    IO_BODY(fd, IO_IN, fl, &n, carom__real.recvfrom_chk(fd, buf, n, bl, fl, a, l));
}

static CAROM_NOINLINE ssize_t recvfrom_chk_tracked(int fd, struct carom__fd_rec *f, void *buf,
                                                   size_t n, size_t bl, int fl, struct sockaddr *a,
                                                   socklen_t *l)
{
    IO_FAST(fd, f, carom__real.recvfrom_chk(fd, buf, n, bl, fl, a, l),
            recvfrom_chk_slow(fd, f, buf, n, bl, fl, a, l));
}
static inline ssize_t carom_recvfrom_chk(int fd, void *buf, size_t n, size_t bl, int fl,
                                         struct sockaddr *a, socklen_t *l)
{
    struct carom__fd_rec *f = carom__fd(fd);
    if (CAROM_LIKELY(!f)) return carom__real.recvfrom_chk(fd, buf, n, bl, fl, a, l);
    return recvfrom_chk_tracked(fd, f, buf, n, bl, fl, a, l);
}
CAROM_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t bl, int fl,
                                    struct sockaddr *a, socklen_t *l)
{
    return carom_recvfrom_chk(fd, buf, n, bl, fl, a, l);
}
