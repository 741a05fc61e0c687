/* io_loop.c: the program the shim benchmarks run, with and without the shim:
 * `io_loop MODE N [EXTRA]` makes N rounds of one wrapped call pattern (pipe write+read,
 * loopback send+recv, connect, getaddrinfo), optionally after setting up scale (EXTRA open
 * tracked sockets, or EXTRA endpoints already connected to), and prints the rounds' own
 * wall time in ns. With BENCH_RING="TOKEN_IN TOKEN_OUT CHUNK" in the environment it makes
 * its rounds CHUNK at a time, each chunk while holding a token passed round a ring of
 * FIFOs, so that a run with the shim and one without alternate and share the machine's
 * noise (only the chunks are timed). It must do nothing else per round, so that
 * instruction differences between runs are the shim's, and talk only to 127.0.0.1. */
#include <arpa/inet.h>
#include <fcntl.h>
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

/* ---- the rounds: each function makes k of them on the state set up in main ------------- */

static int pfd[2];         /* pipe */
static int cs, as;         /* socket: the tracked client end, the accepted end */
static int ls;             /* connect: the listener */
static struct sockaddr_in lsa;

static int rounds_pipe(long k)
{
    char c = 'x';
    for (long i = 0; i < k; i++)
        if (write(pfd[1], &c, 1) != 1 || read(pfd[0], &c, 1) != 1)
            return 1;
    return 0;
}

static int rounds_socket(long k)
{
    char c = 'x';
    /* The client socket is the tracked one: send on it, read the byte back from it. */
    for (long i = 0; i < k; i++)
        if (send(cs, &c, 1, 0) != 1 || recv(as, &c, 1, 0) != 1 || send(as, &c, 1, 0) != 1 ||
            recv(cs, &c, 1, 0) != 1)
            return 1;
    return 0;
}

static int rounds_connect(long k)
{
    for (long i = 0; i < k; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(s, (struct sockaddr *)&lsa, sizeof lsa))
            return 1;
        int a = accept(ls, NULL, NULL);
        close(a);
        close(s);
    }
    return 0;
}

static int rounds_getaddrinfo(long k)
{
    for (long i = 0; i < k; i++) {
        struct addrinfo *res, hints = {.ai_socktype = SOCK_STREAM};
        if (getaddrinfo("localhost", "80", &hints, &res))
            return 1;
        freeaddrinfo(res);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4)
        return 2;
    long n = atol(argv[2]);
    long extra = argc == 4 ? atol(argv[3]) : 0;
    int (*rounds)(long);
    if (strcmp(argv[1], "pipe") == 0) {
        /* One TCP socket first, as a networking program has: the shim initialises at its
         * first socket(), and only then does an untracked descriptor cost it the table
         * look-up that this mode measures (before, the look-up stops at an empty table). */
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0 || close(s))
            return 2;
        if (pipe(pfd))
            return 2;
        rounds = rounds_pipe;
    } else if (strcmp(argv[1], "socket") == 0) {
        open_tracked(extra);
        int l = listener(&lsa);
        cs = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(cs, (struct sockaddr *)&lsa, sizeof lsa))
            return 1;
        as = accept(l, NULL, NULL);
        rounds = rounds_socket;
    } else if (strcmp(argv[1], "connect") == 0) {
        make_endpoints(extra);
        ls = listener(&lsa);
        rounds = rounds_connect;
    } else if (strcmp(argv[1], "getaddrinfo") == 0) {
        rounds = rounds_getaddrinfo;
    } else {
        return 2;
    }

    /* Without a ring: one chunk of all N rounds, one call, nothing else per round. */
    int tin = -1, tout = -1;
    long chunk = n;
    const char *ring = getenv("BENCH_RING");
    if (ring && *ring) {
        char in[4096], out[4096];
        if (sscanf(ring, "%4095s %4095s %ld", in, out, &chunk) != 3 || chunk < 1 ||
            (tin = open(in, O_RDWR)) < 0 || (tout = open(out, O_RDWR)) < 0)
            return 2;
    }
    long long spent = 0;
    char tok = 't';
    for (long done = 0; done < n; done += chunk) {
        long k = n - done < chunk ? n - done : chunk;
        if (tin >= 0 && read(tin, &tok, 1) != 1)
            return 2;
        long long t0 = now_ns();
        if (rounds(k))
            return 1;
        spent += now_ns() - t0;
        if (tout >= 0 && write(tout, &tok, 1) != 1)
            return 2;
    }
    printf("%lld\n", spent);
    return 0;
}
