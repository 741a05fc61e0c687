/* io_loop.c: the program the shim benchmarks run, with and without the shim: N rounds of
 * one wrapped call pattern (pipe write+read, loopback send+recv, connect, getaddrinfo),
 * optionally after setting up scale (many open tracked sockets, many endpoints), and then
 * prints the loop's own wall time in ns. It must do nothing else per round, so that
 * instruction differences between runs are the shim's, and talk only to 127.0.0.1. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int listener(struct sockaddr_in *sa)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    socklen_t len = sizeof *sa;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (l < 0 || bind(l, (struct sockaddr *)sa, sizeof *sa) || listen(l, 4096) ||
        getsockname(l, (struct sockaddr *)sa, &len))
        exit(2);
    return l;
}

/* Room for `want` more descriptors: the default soft limit (1024) is far below the
 * 10,000 sockets of the scale figure, and real servers raise it the same way. */
static void want_fds(long want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl))
        exit(2);
    rlim_t need = (rlim_t)want + 64;
    if (rl.rlim_cur < need) {
        rl.rlim_cur = need <= rl.rlim_max ? need : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* `k` TCP sockets left open: the shim tracks each from socket() on, connected or not. */
static void open_tracked(long k)
{
    want_fds(k);
    for (long i = 0; i < k; i++)
        if (socket(AF_INET, SOCK_STREAM, 0) < 0) {
            fprintf(stderr, "io_loop: only %ld of %ld sockets opened\n", i, k);
            exit(3);
        }
}

/* `k` distinct endpoints connected once each, so the shim holds `k` cushions; every
 * descriptor is closed again, the cushions stay. */
static void make_endpoints(long k)
{
    for (long i = 0; i < k; i++) {
        struct sockaddr_in sa;
        int l = listener(&sa);
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa))
            exit(3);
        int a = accept(l, NULL, NULL);
        close(a);
        close(s);
        close(l);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4)
        return 2;
    long n = atol(argv[2]);
    long extra = argc == 4 ? atol(argv[3]) : 0;
    char c = 'x';
    long long t0 = 0;
    if (strcmp(argv[1], "pipe") == 0) {
        int p[2];
        if (pipe(p))
            return 2;
        t0 = now_ns();
        for (long i = 0; i < n; i++)
            if (write(p[1], &c, 1) != 1 || read(p[0], &c, 1) != 1)
                return 1;
    } else if (strcmp(argv[1], "socket") == 0) {
        open_tracked(extra);
        struct sockaddr_in sa;
        int l = listener(&sa);
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(s, (struct sockaddr *)&sa, sizeof sa))
            return 1;
        int a = accept(l, NULL, NULL);
        t0 = now_ns();
        /* The client socket is the tracked one: send on it, read the byte back from it. */
        for (long i = 0; i < n; i++)
            if (send(s, &c, 1, 0) != 1 || recv(a, &c, 1, 0) != 1 || send(a, &c, 1, 0) != 1 ||
                recv(s, &c, 1, 0) != 1)
                return 1;
    } else if (strcmp(argv[1], "connect") == 0) {
        make_endpoints(extra);
        struct sockaddr_in sa;
        int l = listener(&sa);
        t0 = now_ns();
        for (long i = 0; i < n; i++) {
            int s = socket(AF_INET, SOCK_STREAM, 0);
            if (connect(s, (struct sockaddr *)&sa, sizeof sa))
                return 1;
            int a = accept(l, NULL, NULL);
            close(a);
            close(s);
        }
    } else if (strcmp(argv[1], "getaddrinfo") == 0) {
        t0 = now_ns();
        for (long i = 0; i < n; i++) {
            struct addrinfo *res, hints = {.ai_socktype = SOCK_STREAM};
            if (getaddrinfo("localhost", "80", &hints, &res))
                return 1;
            freeaddrinfo(res);
        }
    } else {
        return 2;
    }
    printf("%lld\n", now_ns() - t0);
    return 0;
}
