/* cprog.c: the C program the end-to-end tests run with and without the shim, one
 * subcommand per path through the shim (blocking and non-blocking connect, threads, fork,
 * dup2, constructors, name resolution, io timeouts). It must never retry, time out or
 * otherwise recover on its own: anything that succeeds against a flaky server has to be
 * the shim's doing, or the tests would pass vacuously. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Lengths go through this volatile so that they are unknown at compile time: with a
 * constant length glibc's fortify wrappers call plain read/recv, and the
 * cprog_fortify build must exercise __read_chk and __recv_chk. */
static volatile size_t io_cap = SIZE_MAX;

static size_t room(size_t have) { return have < io_cap ? have : io_cap; }

static long long ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *ename(int e)
{
    const char *n = e ? strerrorname_np(e) : "OK";
    return n ? n : "EUNKNOWN";
}

static void report(const char *what, int e)
{
    fprintf(stderr, "error: %s: %s (%s)\n", what, strerror(e), ename(e));
}

/* Numeric addresses only: a name lookup here would teach the shim a name, which
 * the name-keyed policy test must be able to rule out. */
static int parse_addr(const char *host, const char *port, struct sockaddr_storage *ss, socklen_t *len)
{
    char *end;
    long p = strtol(port, &end, 10);
    if (*end || p <= 0 || p > 65535)
        return -1;
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)p);
        *len = sizeof *in4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)p);
        *len = sizeof *in6;
        return 0;
    }
    return -1;
}

/* Blocking connect; returns the fd or -1 with errno set. */
static int connect_to(const struct sockaddr *sa, socklen_t len)
{
    int fd = socket(sa->sa_family, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, sa, len) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int connect_host(const char *host, const char *port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (parse_addr(host, port, &ss, &len) != 0) {
        errno = EINVAL;
        return -1;
    }
    return connect_to((struct sockaddr *)&ss, len);
}

/* Sends msg with write(), reads the answer up to a newline or EOF with read() into out.
 * Returns 0, or -1 with errno set (EPROTO for an early EOF). */
static int echo_round(int fd, const char *msg, char *out, size_t outlen)
{
    size_t n = strlen(msg), off = 0;
    while (off < n) {
        ssize_t w = write(fd, msg + off, n - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        off += (size_t)w;
    }
    char buf[256];
    size_t got = 0;
    while (got + 1 < outlen) {
        ssize_t r = read(fd, buf, room(sizeof buf));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            break;
        size_t take = (size_t)r < outlen - 1 - got ? (size_t)r : outlen - 1 - got;
        memcpy(out + got, buf, take);
        got += take;
        if (memchr(buf, '\n', (size_t)r))
            break;
    }
    out[got] = '\0';
    if (got == 0) {
        errno = EPROTO;
        return -1;
    }
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

/* connect + echo; prints the reply on success. */
static int connect_and_echo(const char *who, int fd)
{
    char reply[256];
    if (echo_round(fd, "ping\n", reply, sizeof reply) != 0) {
        int e = errno;
        close(fd);
        report(who, e);
        return 1;
    }
    close(fd);
    printf("%s: %s\n", who, reply);
    fflush(stdout);
    return 0;
}

static int cmd_connect(const char *host, const char *port)
{
    int fd = connect_host(host, port);
    if (fd < 0) {
        report("connect", errno);
        return 1;
    }
    return connect_and_echo("connect", fd);
}

static int cmd_nbconnect(const char *host, const char *port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (parse_addr(host, port, &ss, &len) != 0) {
        report("address", EINVAL);
        return 1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
        report("socket", errno);
        return 1;
    }
    if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
        if (errno != EINPROGRESS) {
            report("connect", errno);
            return 1;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int pr = poll(&p, 1, 10000);
        if (pr <= 0) {
            report("poll", pr == 0 ? ETIMEDOUT : errno);
            return 1;
        }
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0) {
            report("getsockopt", errno);
            return 1;
        }
        if (err) {
            report("connect (SO_ERROR)", err);
            return 1;
        }
    }
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
        report("fcntl", errno);
        return 1;
    }
    if (send(fd, "ping\n", 5, 0) != 5) {
        report("send", errno);
        return 1;
    }
    char buf[256];
    ssize_t r = recv(fd, buf, room(sizeof buf - 1), 0);
    if (r <= 0) {
        report("recv", r == 0 ? EPROTO : errno);
        return 1;
    }
    buf[r] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    close(fd);
    printf("nbconnect: %s\n", buf);
    return 0;
}

struct thread_arg {
    const char *host, *port;
    int index, ok;
};

static void *thread_main(void *p)
{
    struct thread_arg *a = p;
    char msg[64], reply[256];
    snprintf(msg, sizeof msg, "ping %d\n", a->index);
    int fd = connect_host(a->host, a->port);
    if (fd < 0) {
        fprintf(stderr, "thread %d: ", a->index);
        report("connect", errno);
        return NULL;
    }
    if (echo_round(fd, msg, reply, sizeof reply) != 0) {
        fprintf(stderr, "thread %d: ", a->index);
        report("echo", errno);
    } else {
        char want[64];
        snprintf(want, sizeof want, "ping %d", a->index);
        a->ok = strcmp(reply, want) == 0;
        if (!a->ok)
            fprintf(stderr, "thread %d: got \"%s\", want \"%s\"\n", a->index, reply, want);
    }
    close(fd);
    return NULL;
}

static int cmd_threads(const char *count, const char *host, const char *port)
{
    int n = atoi(count);
    if (n < 1 || n > 64) {
        fprintf(stderr, "error: threads: N must be 1..64\n");
        return 2;
    }
    pthread_t tid[64];
    struct thread_arg arg[64];
    for (int i = 0; i < n; i++) {
        arg[i] = (struct thread_arg){.host = host, .port = port, .index = i, .ok = 0};
        int e = pthread_create(&tid[i], NULL, thread_main, &arg[i]);
        if (e) {
            report("pthread_create", e);
            return 1;
        }
    }
    int ok = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(tid[i], NULL);
        ok += arg[i].ok;
    }
    printf("threads: %d/%d ok\n", ok, n);
    return ok == n ? 0 : 1;
}

static int cmd_fork(const char *host, const char *port)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        report("fork", errno);
        return 1;
    }
    int fd = connect_host(host, port);
    const char *who = pid == 0 ? "child" : "parent";
    int rc;
    if (fd < 0) {
        fprintf(stderr, "%s: ", who);
        report("connect", errno);
        rc = 1;
    } else {
        rc = connect_and_echo(who, fd);
    }
    if (pid == 0)
        _exit(rc);
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) {
        report("waitpid", errno);
        return 1;
    }
    int child_ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    printf("fork: parent %s, child %s\n", rc == 0 ? "ok" : "failed", child_ok ? "ok" : "failed");
    return rc == 0 && child_ok ? 0 : 1;
}

/* herd N: N worker processes forked at once, each with one blocking connect and an echo,
 * the way a pre-forked server's workers start against a dependency. Each successful worker
 * prints "ok MS" with the wall-clock millisecond it got its echo, so a test can compare it
 * with the moment the server came up. */
static int cmd_herd(const char *count, const char *host, const char *port)
{
    int n = atoi(count);
    if (n < 1 || n > 256) {
        fprintf(stderr, "error: herd: N must be 1..256\n");
        return 2;
    }
    fflush(stdout);
    pid_t pids[256];
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] < 0) {
            report("fork", errno);
            return 1;
        }
        if (pids[i] == 0) {
            int fd = connect_host(host, port);
            if (fd < 0) {
                report("connect", errno);
                _exit(1);
            }
            if (send(fd, "ping\n", 5, 0) != 5) _exit(1);
            char buf[64];
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r <= 0) _exit(1);
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            printf("ok %lld\n", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
            fflush(stdout);
            _exit(0);
        }
    }
    int ok = 0;
    for (int i = 0; i < n; i++) {
        int st = 0;
        if (waitpid(pids[i], &st, 0) == pids[i] && WIFEXITED(st) && WEXITSTATUS(st) == 0) ok++;
    }
    printf("herd: %d/%d ok\n", ok, n);
    return ok == n ? 0 : 1;
}

static int cmd_dup2(const char *host, const char *port)
{
    int fd = connect_host(host, port);
    if (fd < 0) {
        report("connect", errno);
        return 1;
    }
    if (dup2(fd, 100) != 100) {
        report("dup2", errno);
        return 1;
    }
    close(fd);
    return connect_and_echo("dup2", 100);
}

static int cmd_recv(const char *host, const char *port)
{
    int fd = connect_host(host, port);
    if (fd < 0) {
        report("connect", errno);
        return 1;
    }
    if (send(fd, "ping\n", 5, 0) != 5) {
        report("send", errno);
        return 1;
    }
    char buf[256];
    long long t0 = ms_now();
    ssize_t r = recv(fd, buf, room(sizeof buf - 1), 0);
    int e = errno;
    long long dt = ms_now() - t0;
    if (r < 0) {
        printf("recv: %s %lld ms\n", ename(e), dt);
        return 1;
    }
    if (r == 0) {
        printf("recv: EOF %lld ms\n", dt);
        return 1;
    }
    buf[r] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    printf("recv: %s %lld ms\n", buf, dt);
    return 0;
}

/* Connects to the first address NAME resolves to (family "4", "6" or "any"). */
static int cmd_resolve(const char *name, const char *port, const char *fam)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    hints.ai_family = !strcmp(fam, "4") ? AF_INET : !strcmp(fam, "6") ? AF_INET6 : AF_UNSPEC;
    int g = getaddrinfo(name, port, &hints, &res);
    if (g != 0) {
        fprintf(stderr, "error: getaddrinfo: %s\n", gai_strerror(g));
        return 1;
    }
    char addr[INET6_ADDRSTRLEN] = "?";
    const void *raw = res->ai_family == AF_INET
                          ? (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr
                          : (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
    inet_ntop(res->ai_family, raw, addr, sizeof addr);
    printf("resolve: %s -> %s\n", name, addr);
    int fd = connect_to(res->ai_addr, res->ai_addrlen);
    int e = errno;
    freeaddrinfo(res);
    if (fd < 0) {
        report("connect", e);
        return 1;
    }
    return connect_and_echo("resolve", fd);
}

static int cmd_errno(const char *host, const char *port)
{
    long long t0 = ms_now();
    int fd = connect_host(host, port);
    int e = fd < 0 ? errno : 0;
    long long dt = ms_now() - t0;
    if (fd >= 0)
        close(fd);
    printf("%s %lld\n", ename(e), dt);
    return 0;
}

/* N connect + send + recv attempts in one process, one line each: "i CONNECT IO MS",
 * where CONNECT is OK or an errno name and IO is OK, EOF, the errno name of the first
 * failing send/recv, or "-" when the connect failed. */
static int cmd_loop(const char *count, const char *host, const char *port)
{
    int n = atoi(count);
    if (n < 1 || n > 1000) {
        fprintf(stderr, "error: loop: N must be 1..1000\n");
        return 2;
    }
    for (int i = 1; i <= n; i++) {
        long long t0 = ms_now();
        int fd = connect_host(host, port);
        const char *c = "OK", *r = "-";
        if (fd < 0) {
            c = ename(errno);
        } else if (send(fd, "ping\n", 5, 0) < 0) {
            r = ename(errno); /* the reset may already be there */
            close(fd);
        } else {
            char buf[64];
            ssize_t got = recv(fd, buf, room(sizeof buf), 0);
            r = got < 0 ? ename(errno) : got == 0 ? "EOF" : "OK";
            close(fd);
        }
        printf("%d %s %s %lld\n", i, c, r, ms_now() - t0);
        fflush(stdout);
    }
    return 0;
}

/* ---- ctor: network I/O before main, as C++ static initialisers and plugins do ---- */

static int ctor_ran, ctor_rc = 1;
static char ctor_msg[256] = "not run";

/* glibc passes argc/argv/envp to initialisers; the work happens only for "ctor". */
__attribute__((constructor)) static void early_connect(int argc, char **argv, char **envp)
{
    (void)envp;
    if (argc != 4 || strcmp(argv[1], "ctor") != 0)
        return;
    signal(SIGPIPE, SIG_IGN);
    ctor_ran = 1;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int g = getaddrinfo(argv[2], argv[3], &hints, &res);
    if (g != 0) {
        snprintf(ctor_msg, sizeof ctor_msg, "getaddrinfo: %s", gai_strerror(g));
        return;
    }
    int fd = connect_to(res->ai_addr, res->ai_addrlen);
    int e = errno;
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(ctor_msg, sizeof ctor_msg, "connect: %s (%s)", strerror(e), ename(e));
        return;
    }
    char reply[200];
    if (echo_round(fd, "ping\n", reply, sizeof reply) != 0) {
        e = errno;
        snprintf(ctor_msg, sizeof ctor_msg, "echo: %s (%s)", strerror(e), ename(e));
    } else {
        snprintf(ctor_msg, sizeof ctor_msg, "%s", reply);
        ctor_rc = 0;
    }
    close(fd);
}

static int cmd_ctor(void)
{
    if (!ctor_ran) {
        fprintf(stderr, "error: ctor: the constructor did not run\n");
        return 1;
    }
    if (ctor_rc != 0) {
        fprintf(stderr, "error: ctor: %s\n", ctor_msg);
        return 1;
    }
    printf("ctor: %s\n", ctor_msg);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: cprog connect|nbconnect|dup2|recv|ctor|errno HOST PORT\n"
                    "       cprog threads N HOST PORT | herd N HOST PORT | fork HOST PORT | loop N HOST PORT\n"
                    "       cprog resolve NAME PORT [4|6|any]\n");
    return 2;
}

int main(int argc, char **argv)
{
    /* A peer's reset must come back as EPIPE/ECONNRESET, not kill the program. */
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2)
        return usage();
    const char *c = argv[1];
    if (argc == 4 && !strcmp(c, "connect"))
        return cmd_connect(argv[2], argv[3]);
    if (argc == 4 && !strcmp(c, "nbconnect"))
        return cmd_nbconnect(argv[2], argv[3]);
    if (argc == 5 && !strcmp(c, "threads"))
        return cmd_threads(argv[2], argv[3], argv[4]);
    if (argc == 4 && !strcmp(c, "fork"))
        return cmd_fork(argv[2], argv[3]);
    if (argc == 5 && !strcmp(c, "herd"))
        return cmd_herd(argv[2], argv[3], argv[4]);
    if (argc == 4 && !strcmp(c, "dup2"))
        return cmd_dup2(argv[2], argv[3]);
    if (argc == 4 && !strcmp(c, "recv"))
        return cmd_recv(argv[2], argv[3]);
    if (argc == 4 && !strcmp(c, "ctor"))
        return cmd_ctor();
    if ((argc == 4 || argc == 5) && !strcmp(c, "resolve"))
        return cmd_resolve(argv[2], argv[3], argc == 5 ? argv[4] : "any");
    if (argc == 4 && !strcmp(c, "errno"))
        return cmd_errno(argv[2], argv[3]);
    if (argc == 5 && !strcmp(c, "loop"))
        return cmd_loop(argv[2], argv[3], argv[4]);
    return usage();
}
