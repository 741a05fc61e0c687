/* attempt.c: one connect attempt and the fresh socket a retry puts in the program's place
 * (connect.c's shot calls these). It must never touch a descriptor number the program may
 * have closed and reused meanwhile, never leave the program's socket in a mode it did not
 * set, and never hold the recursion guard across a wait that can block. */
#include "carom_shim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <poll.h>

/* ---- one attempt ------------------------------------------------------------------------------
 */

static int wait_connected(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    uint64_t until = timeout_ms > 0 ? carom__now_ms() + (uint64_t)timeout_ms : 0;
    for (;;) {
        int left = -1;
        if (until) {
            uint64_t now = carom__now_ms();
            left = now >= until ? 0 : (int)(until - now);
        }
        int r = carom__real.poll(&p, 1, left);
        if (r > 0) break;
        if (r == 0) return ETIMEDOUT;
        if (errno != EINTR) return errno;
    }
    int err = 0;
    socklen_t l = sizeof err;
    if (carom__real.getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0) return errno;
    return err;
}

/* Connect faults, injected below the retry engine: a refusal sends no packet at all; a
 * timeout waits out the attempt's timeout (1 s when none is set). Returns 0 or the errno
 * the real connect would have failed with. */
int carom__attempt_chaos(struct carom__fd_rec *f, uint32_t timeout_ms)
{
    const carom_policy *p = f->pol;
    if (!p || !f->chaos_connect) return 0; /* carom__connect_chaos(p), asked when p was bound */
    carom__chaos_latency(p, f->ep, "connect");
    carom__chaos_connect_latency(p, f->ep);
    if (carom__chaos(p, CAROM_F_CONNECT_REFUSE, p->chaos.connect_refuse, f->ep, "connect", NULL))
        return ECONNREFUSED;
    if (carom__chaos(p, CAROM_F_CONNECT_TIMEOUT, p->chaos.connect_timeout, f->ep, "connect",
                     NULL)) {
        carom__sleep_ms(timeout_ms ? timeout_ms : 1000);
        return ETIMEDOUT;
    }
    return 0;
}

/* One connect attempt that finishes within timeout_ms (0: the system's own), whatever
 * the socket's blocking mode; the mode is left as it was. `owner` is f when fd is the
 * program's descriptor (NULL for a private socket of a retry): if another thread closed
 * it during the wait, the number may be someone else's socket by then, whose flags must
 * not be touched. Returns 0 or an errno. */
int carom__attempt(int fd, const struct carom__fd_rec *owner, struct carom__fd_rec *f,
                   const struct sockaddr *a, socklen_t l, uint32_t timeout_ms, int fl)
{
    int chaos = carom__attempt_chaos(f, timeout_ms);
    if (chaos) return chaos;
    if (fl < 0) fl = carom__real.fcntl(fd, F_GETFL); /* fl: the caller's fresh answer, or -1 */
    if (fl < 0) return errno;
    /* Both waits below can block for long: a handler may siglongjmp out of them, so the
     * guard is not held across them (hostile_sigsleep.sh, phase 3). */
    if (!(fl & O_NONBLOCK) && timeout_ms == 0) {
        void *g = carom__guard_suspend();
        int r = carom__real.connect(fd, a, l);
        int e = errno;
        carom__guard_resume(g);
        return r == 0 ? 0 : e;
    }
    if (!(fl & O_NONBLOCK)) carom__real.fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    int err = 0;
    if (carom__real.connect(fd, a, l) != 0) {
        err = errno;
        if (err == EINPROGRESS || err == EINTR) {
            void *g = carom__guard_suspend();
            err = wait_connected(fd, (int)timeout_ms);
            carom__guard_resume(g);
        }
    }
    if (!(fl & O_NONBLOCK) && (!owner || atomic_load(&carom__fds[fd]) == owner))
        carom__real.fcntl(fd, F_SETFL, fl);
    return err;
}

/* A fresh socket made like fd: same type, protocol and status flags, the options the
 * program set, and its bind() if it made one. Private to the shim until install() puts
 * it in fd's place, so a retry's connect never touches a number the program may have
 * closed and reused meanwhile. Returns the socket, or -1 with *err. */
static int fresh(int fd, const struct carom__fd_rec *f, int family, int *err)
{
    int fl = carom__real.fcntl(fd, F_GETFL);
    int nfd = carom__real.socket(family, f->type | SOCK_CLOEXEC, f->protocol);
    if (nfd < 0) {
        *err = errno;
        return -1;
    }
    for (unsigned i = 0; i < f->nopts; i++)
        carom__real.setsockopt(nfd, f->opts[i].level, f->opts[i].name, f->opts[i].val,
                               f->opts[i].len);
    if (f->boundlen && f->bound.ss_family == family &&
        carom__real.bind(nfd, (struct sockaddr *)&f->bound, f->boundlen) != 0) {
        *err = errno;
        carom__real.close(nfd);
        return -1;
    }
    if (fl >= 0) carom__real.fcntl(nfd, F_SETFL, fl);
    return nfd;
}

/* Puts nfd in fd's place (keeping fd's close-on-exec flag) and closes nfd. Another
 * thread (or a signal handler) may have closed fd meanwhile, and the number may hold its
 * file by now: dup3 would put a socket in its place (hostile_closerace.sh). close()
 * forgets the record first and then waits while `replacing` is set (fd.c); both sides
 * use sequentially consistent atomics, so either we see the record gone or close() waits
 * for this dup3. Returns 0, EBADF when fd was closed meanwhile, or an errno. */
static int install(int fd, struct carom__fd_rec *f, int nfd, int family)
{
    int fdfl = carom__real.fcntl(fd, F_GETFD);
    atomic_store(&f->replacing, 1);
    int r = -1, e = EBADF;
    if (atomic_load(&carom__fds[fd]) == f) {
        r = carom__real.dup3(nfd, fd, (fdfl >= 0 && (fdfl & FD_CLOEXEC)) ? O_CLOEXEC : 0);
        e = errno;
    }
    atomic_store(&f->replacing, 0);
    carom__real.close(nfd);
    if (r < 0) return e;
    f->domain = family;
    return 0;
}

/* A fresh, unconnected socket in fd's place. Returns 0 or an errno (EBADF: fd closed). */
int carom__replace(int fd, struct carom__fd_rec *f, int family)
{
    int e;
    int nfd = fresh(fd, f, family, &e);
    return nfd < 0 ? e : install(fd, f, nfd, family);
}

/* One retry on a private socket (fresh), put in fd's place only once connected.
 * Returns 0 (fd connected), the attempt's errno, or -1 when fd was closed meanwhile
 * (nothing of fd's may be touched any more) or no socket could be made (*err says). */
int carom__retry_once(int fd, struct carom__fd_rec *f, const struct sockaddr *a, socklen_t l,
                      uint32_t tmo, int *err)
{
    int nfd = fresh(fd, f, a->sa_family, err);
    if (nfd < 0) return -1;
    int e = carom__attempt(nfd, NULL, f, a, l, tmo, -1);
    if (e) {
        carom__real.close(nfd);
        return e;
    }
    e = install(fd, f, nfd, a->sa_family);
    if (e) {
        *err = e;
        return -1;
    }
    if (l > sizeof f->peer) /* a pocket's address: the stale check compares the peer */
        l = sizeof f->peer;
    memmove(&f->peer, a, l); /* a may be &f->peer itself (a non-blocking retry) */
    f->peerlen = l;
    return 0;
}
