/* sockets.c: socket() tracking, the remembered socket options, SO_ERROR and poll(), which
 * is where a non-blocking connect's outcome surfaces for curl and nc (connect.c owns the
 * shot itself). It must never change what the real call returns but for a settled
 * connect's errno, and never track a descriptor that is not a TCP socket. */
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

/* ---- socket(), setsockopt(), getsockopt(SO_ERROR)
 * ------------------------------------------------- */

/* Flattened: the record from the pool (shim/fd.c) inlines here, on every TCP socket's
 * way (docs/performance.md). */
__attribute__((flatten)) static int carom_socket(int domain, int type, int protocol)
{
    int fd = carom__real.socket(domain, type, protocol);
    if (fd < 0 || (domain != AF_INET && domain != AF_INET6) ||
        (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != SOCK_STREAM) {
        /* A number closed where no wrapper saw it (fclose, a raw system call) may still
         * carry a TCP record: a UDP or UNIX socket there must not inherit it. */
        if (CAROM_UNLIKELY(carom__fd(fd) != NULL)) carom__fd_untrack(fd);
        return fd;
    }
    carom__init();
    if (carom__g.active) {
        struct carom__fd_rec *f = carom__fd_track(fd, domain, type, protocol);
        if (f && carom__curl_depth) f->curl_guarded = true;
    }
    return fd;
}

CAROM_EXPORT int socket(int domain, int type, int protocol)
{
    return carom_socket(domain, type, protocol);
}

static int carom_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    struct carom__fd_rec *f = carom__fd(fd);
    int r = carom__real.setsockopt(fd, level, name, val, len);
    if (!f || r != 0 || len > sizeof f->opts[0].val || !val) return r;
    unsigned i;
    for (i = 0; i < f->nopts; i++)
        if (f->opts[i].level == level && f->opts[i].name == name) break;
    if (i == CAROM_OPTS_MAX) return r;
    f->opts[i].level = level;
    f->opts[i].name = name;
    f->opts[i].len = len;
    memcpy(f->opts[i].val, val, len);
    if (i == f->nopts) f->nopts++;
    return r;
}

CAROM_EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    return carom_setsockopt(fd, level, name, val, len);
}

static int carom_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    struct carom__fd_rec *f = carom__fd(fd);
    if (!f || level != SOL_SOCKET || name != SO_ERROR)
        return carom__real.getsockopt(fd, level, name, val, len);
    if (f->pending_err && val && len && *len >= sizeof(int)) {
        /* poll() settled this connect and consumed the kernel's error: hand it over once,
         * as the kernel would have. */
        memcpy(val, &f->pending_err, sizeof(int));
        *len = sizeof(int);
        f->pending_err = 0;
        return 0;
    }
    if (f->state != CAROM_FD_CONNECTING) return carom__real.getsockopt(fd, level, name, val, len);
    int r = carom__real.getsockopt(fd, level, name, val, len);
    if (r != 0 || !val || !len || *len < sizeof(int) || !CAROM_ENTER()) return r;
    int err;
    memcpy(&err, val, sizeof err);
    if (err == 0) {
        /* SO_ERROR is 0 both while the connect is still under way and once it is done;
         * only a connected socket has a peer. */
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) carom__nb_success(f);
    } else {
        err = carom__nb_surface(fd, f, err);
        memcpy(val, &err, sizeof err);
    }
    carom__leave();
    return r;
}

CAROM_EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    return carom_getsockopt(fd, level, name, val, len);
}

/* ---- poll(): where curl and nc see a non-blocking connect's outcome ------------------------- */

/* A connecting socket that poll reports in error is settled here, before the program
 * reads revents: curl gives up on POLLERR without looking further. On success the
 * program sees a writable socket; on failure the same revents, and SO_ERROR keeps the
 * last attempt's errno. */
static void settle_polled(struct pollfd *fds, nfds_t n)
{
    for (nfds_t i = 0; i < n; i++) {
        if (!(fds[i].revents & (POLLERR | POLLHUP))) continue;
        struct carom__fd_rec *f = carom__fd(fds[i].fd);
        if (!f || f->state != CAROM_FD_CONNECTING || !f->ticket_open || !CAROM_ENTER()) continue;
        int err = 0;
        socklen_t l = sizeof err;
        if (carom__real.getsockopt(fds[i].fd, SOL_SOCKET, SO_ERROR, &err, &l) == 0 && err) {
            int e = carom__nb_surface(fds[i].fd, f, err);
            if (e == 0)
                fds[i].revents = (short)(fds[i].events & (POLLOUT | POLLWRNORM));
            else if (carom__fd(fds[i].fd) == f)
                f->pending_err = e;
        }
        carom__leave();
    }
}

static int carom_poll(struct pollfd *fds, nfds_t n, int timeout)
{
    int r = carom__real.poll(fds, n, timeout);
    if (CAROM_LIKELY(r <= 0 || !atomic_load_explicit(&carom__nb_pending, memory_order_relaxed)))
        return r;
    settle_polled(fds, n);
    int ready = 0;
    for (nfds_t i = 0; i < n; i++)
        ready += fds[i].revents != 0;
    return ready;
}

CAROM_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    return carom_poll(fds, n, timeout);
}
