/* real.c: finds the next definition of every wrapped symbol (dlsym RTLD_NEXT), lazily: each
 * at its first call, all of them at init. It must never call a wrapped function itself:
 * while binding, the boot trampolines fall back to raw system calls. */
#include "carom_shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_once_t bind_once = PTHREAD_ONCE_INIT;
/* Set while dlsym runs on this thread: dlsym may itself read or close files, and those
 * calls must not wait on the pthread_once they are inside of. */
static __thread bool binding;
static _Atomic bool bound; /* bind_all has published carom__real */

/* Binds the one symbol a trampoline stands for: a process that only ever reads and writes
 * (grep, sed) pays for those look-ups (about 900 instructions each), not for all of them.
 * Two threads may look the same symbol up at once; both store the same pointer. A symbol
 * libc lacks sends us to bind everything once, after which it stays its trampoline. */
static void bind_one(void **slot, void *boot, const char *field)
{
    if (atomic_load_explicit(&bound, memory_order_acquire) ||
        __atomic_load_n(slot, __ATOMIC_ACQUIRE) != boot)
        return;
    static const char *const chk[][2] = {
        {"read_chk", "__read_chk"}, {"recv_chk", "__recv_chk"}, {"recvfrom_chk", "__recvfrom_chk"}};
    const char *sym = field;
    for (size_t i = 0; i < sizeof chk / sizeof chk[0]; i++)
        if (strcmp(field, chk[i][0]) == 0) sym = chk[i][1];
    binding = true;
    void *p = dlsym(RTLD_NEXT, sym);
    binding = false;
    if (p)
        __atomic_store_n(slot, p, __ATOMIC_RELEASE);
    else
        carom__bind();
}
#define BIND_ONE(name) bind_one((void **)&carom__real.name, (void *)boot_##name, #name)

#define BOOT(ret, name, params, args, raw)                                                         \
    static ret boot_##name params                                                                  \
    {                                                                                              \
        if (!binding) BIND_ONE(name);                                                              \
        /* Still ours while binding, or when libc lacks the symbol: the raw call. */               \
        if (binding || carom__real.name == boot_##name) return raw;                                \
        return carom__real.name args;                                                              \
    }

/* Only the calls dlsym could conceivably make get a raw-syscall fallback; the rest cannot
 * be reached while binding and fail with ENOSYS if they somehow are. */
#define NOSYS(ret) (errno = ENOSYS, (ret)-1)

BOOT(int, socket, (int d, int t, int p), (d, t, p), (int)syscall(SYS_socket, d, t, p))
BOOT(int, connect, (int fd, const struct sockaddr *a, socklen_t l), (fd, a, l),
     (int)syscall(SYS_connect, fd, a, l))
BOOT(int, close, (int fd), (fd), (int)syscall(SYS_close, fd))
BOOT(int, close_range, (unsigned a, unsigned b, int f), (a, b, f),
     (int)syscall(SYS_close_range, a, b, f))
/* closefrom (glibc 2.34) closes through an internal close_range that no wrapper sees. */
static void boot_closefrom(int lo)
{
    if (!binding) {
        BIND_ONE(closefrom);
        if (carom__real.closefrom != boot_closefrom) {
            carom__real.closefrom(lo);
            return;
        }
    }
    syscall(SYS_close_range, lo < 0 ? 0 : lo, ~0U, 0);
}
BOOT(int, dup, (int fd), (fd), (int)syscall(SYS_dup, fd))
BOOT(int, dup2, (int a, int b), (a, b), (int)syscall(SYS_dup2, a, b))
BOOT(int, dup3, (int a, int b, int f), (a, b, f), (int)syscall(SYS_dup3, a, b, f))
static int boot_fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (!binding) BIND_ONE(fcntl);
    if (binding || carom__real.fcntl == boot_fcntl) return (int)syscall(SYS_fcntl, fd, cmd, arg);
    return carom__real.fcntl(fd, cmd, arg);
}
BOOT(int, setsockopt, (int fd, int l, int n, const void *v, socklen_t s), (fd, l, n, v, s),
     (int)syscall(SYS_setsockopt, fd, l, n, v, s))
BOOT(int, getsockopt, (int fd, int l, int n, void *v, socklen_t *s), (fd, l, n, v, s),
     (int)syscall(SYS_getsockopt, fd, l, n, v, s))
BOOT(int, bind, (int fd, const struct sockaddr *a, socklen_t l), (fd, a, l),
     (int)syscall(SYS_bind, fd, a, l))
BOOT(ssize_t, read, (int fd, void *b, size_t n), (fd, b, n), syscall(SYS_read, fd, b, n))
BOOT(ssize_t, write, (int fd, const void *b, size_t n), (fd, b, n), syscall(SYS_write, fd, b, n))
BOOT(ssize_t, readv, (int fd, const struct iovec *v, int n), (fd, v, n),
     syscall(SYS_readv, fd, v, n))
BOOT(ssize_t, writev, (int fd, const struct iovec *v, int n), (fd, v, n),
     syscall(SYS_writev, fd, v, n))
BOOT(ssize_t, send, (int fd, const void *b, size_t n, int f), (fd, b, n, f),
     syscall(SYS_sendto, fd, b, n, f, NULL, 0))
BOOT(ssize_t, recv, (int fd, void *b, size_t n, int f), (fd, b, n, f),
     syscall(SYS_recvfrom, fd, b, n, f, NULL, NULL))
BOOT(ssize_t, sendto,
     (int fd, const void *b, size_t n, int f, const struct sockaddr *a, socklen_t l),
     (fd, b, n, f, a, l), syscall(SYS_sendto, fd, b, n, f, a, l))
BOOT(ssize_t, recvfrom, (int fd, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l),
     (fd, b, n, f, a, l), syscall(SYS_recvfrom, fd, b, n, f, a, l))
BOOT(ssize_t, sendmsg, (int fd, const struct msghdr *m, int f), (fd, m, f),
     syscall(SYS_sendmsg, fd, m, f))
BOOT(ssize_t, recvmsg, (int fd, struct msghdr *m, int f), (fd, m, f),
     syscall(SYS_recvmsg, fd, m, f))
BOOT(ssize_t, read_chk, (int fd, void *b, size_t n, size_t bl), (fd, b, n, bl),
     syscall(SYS_read, fd, b, n))
BOOT(ssize_t, recv_chk, (int fd, void *b, size_t n, size_t bl, int f), (fd, b, n, bl, f),
     syscall(SYS_recvfrom, fd, b, n, f, NULL, NULL))
BOOT(ssize_t, recvfrom_chk,
     (int fd, void *b, size_t n, size_t bl, int f, struct sockaddr *a, socklen_t *l),
     (fd, b, n, bl, f, a, l), syscall(SYS_recvfrom, fd, b, n, f, a, l))
BOOT(int, poll, (struct pollfd * f, nfds_t n, int t), (f, n, t), (int)syscall(SYS_poll, f, n, t))
BOOT(int, getaddrinfo,
     (const char *n, const char *s, const struct addrinfo *h, struct addrinfo **r), (n, s, h, r),
     EAI_SYSTEM)
static void boot_freeaddrinfo(struct addrinfo *ai)
{
    if (!binding) BIND_ONE(freeaddrinfo);
    if (binding || carom__real.freeaddrinfo == boot_freeaddrinfo)
        return; /* leaks rather than calls into a half-bound libc */
    carom__real.freeaddrinfo(ai);
}
BOOT(struct hostent *, gethostbyname, (const char *n), (n), NULL)
BOOT(struct hostent *, gethostbyname2, (const char *n, int af), (n, af), NULL)
BOOT(int, gethostbyname_r,
     (const char *n, struct hostent *h, char *b, size_t l, struct hostent **r, int *e),
     (n, h, b, l, r, e), ERANGE)
BOOT(int, gethostbyname2_r,
     (const char *n, int af, struct hostent *h, char *b, size_t l, struct hostent **r, int *e),
     (n, af, h, b, l, r, e), ERANGE)

struct carom__real_calls carom__real = {
#define B(n) .n = boot_##n
    B(socket),
    B(connect),
    B(close),
    B(close_range),
    B(closefrom),
    B(dup),
    B(dup2),
    B(dup3),
    B(fcntl),
    B(setsockopt),
    B(getsockopt),
    B(bind),
    B(read),
    B(write),
    B(readv),
    B(writev),
    B(send),
    B(recv),
    B(sendto),
    B(recvfrom),
    B(sendmsg),
    B(recvmsg),
    B(read_chk),
    B(recv_chk),
    B(recvfrom_chk),
    B(poll),
    B(getaddrinfo),
    B(freeaddrinfo),
    B(gethostbyname),
    B(gethostbyname2),
    B(gethostbyname_r),
    B(gethostbyname2_r),
#undef B
};

static void *next(const char *name, void *boot)
{
    void *p = dlsym(RTLD_NEXT, name);
    /* A symbol missing below us (close_range on an old libc) keeps its trampoline's raw
     * syscall path rather than a NULL pointer. */
    return p ? p : boot;
}

static void bind_all(void)
{
    struct carom__real_calls r;
#define L(n, sym) *(void **)&r.n = next(sym, (void *)carom__real.n)
    L(socket, "socket");
    L(connect, "connect");
    L(close, "close");
    L(close_range, "close_range");
    L(closefrom, "closefrom");
    L(dup, "dup");
    L(dup2, "dup2");
    L(dup3, "dup3");
    L(fcntl, "fcntl");
    L(setsockopt, "setsockopt");
    L(getsockopt, "getsockopt");
    L(bind, "bind");
    L(read, "read");
    L(write, "write");
    L(readv, "readv");
    L(writev, "writev");
    L(send, "send");
    L(recv, "recv");
    L(sendto, "sendto");
    L(recvfrom, "recvfrom");
    L(sendmsg, "sendmsg");
    L(recvmsg, "recvmsg");
    L(read_chk, "__read_chk");
    L(recv_chk, "__recv_chk");
    L(recvfrom_chk, "__recvfrom_chk");
    L(poll, "poll");
    L(getaddrinfo, "getaddrinfo");
    L(freeaddrinfo, "freeaddrinfo");
    L(gethostbyname, "gethostbyname");
    L(gethostbyname2, "gethostbyname2");
    L(gethostbyname_r, "gethostbyname_r");
    L(gethostbyname2_r, "gethostbyname2_r");
#undef L
    /* Publish every pointer only after all are found, each in one store: binding is lazy,
     * so another thread may be calling through carom__real right now, and must read
     * either its trampoline (which waits in pthread_once, then calls the real one) or the
     * real function, never half of a pointer. */
    void **dst = (void **)&carom__real;
    void *const *src = (void *const *)&r;
    for (size_t i = 0; i < sizeof r / sizeof *dst; i++)
        __atomic_store_n(&dst[i], src[i], __ATOMIC_RELAXED);
    atomic_store_explicit(&bound, true, memory_order_release);
}

/* At the first wrapped call, not at load: a process pays for the look-ups only once it
 * calls something (docs/performance.md). `binding` is set before pthread_once, so a
 * signal handler that lands anywhere in here on this thread, even before bind_all starts,
 * takes the raw-syscall path instead of waiting on a once its own thread holds. */
void carom__bind(void)
{
    if (CAROM_LIKELY(atomic_load_explicit(&bound, memory_order_acquire)) || binding) return;
    binding = true;
    pthread_once(&bind_once, bind_all);
    binding = false;
}
