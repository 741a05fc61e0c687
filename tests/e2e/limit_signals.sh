#!/usr/bin/env bash
# limit_signals.sh: a wait for a token or a connection slot behaves like a backoff sleep
# with signals. A C program with SIGALRM every 20 ms (no SA_RESTART) makes 6 connects
# under rate_limit = 2, rate_burst = 1: every connect succeeds (no EINTR surfaces), the
# waits are not cut short (>= 2.5 s in all), and the handler runs all along. Then the
# same against max_connections = 1 with the only slot held 1 s by a child: a connect
# waits it out through the ticks and succeeds. It must never pass unless the ticks really
# arrived during the waits.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim

PROG=$T/sigwait
cat >"$T/sigwait.c" <<'C'
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
static volatile sig_atomic_t ticks;
static void on_tick(int s) { (void)s; ticks++; }
static long long ms(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1000LL + t.tv_nsec / 1000000; }
static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        /* A tick can interrupt the kernel's own connect once the wait is over (on a loaded
         * machine loopback's handshake is finished by ksoftirqd, and the caller sleeps for
         * it): the connection goes on, as connect(2) says, and a careful program polls.
         * getpeername proves the connect was really made, not an early return. */
        int e = errno;
        if (e == EINTR) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            while (poll(&p, 1, 5000) < 0 && errno == EINTR)
                ;
            socklen_t l = sizeof e;
            struct sockaddr_in peer;
            socklen_t pl = sizeof peer;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) == 0 && e == 0 &&
                getpeername(fd, (struct sockaddr *)&peer, &pl) == 0)
                return fd;
            if (e == 0) e = ENOTCONN;
        }
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}
int main(int argc, char **argv)
{
    int port = atoi(argv[2]), n = atoi(argv[3]);
    struct sigaction sa = {.sa_handler = on_tick};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 20000}, {0, 20000}};
    setitimer(ITIMER_REAL, &it, NULL);
    if (strcmp(argv[1], "hold") == 0) {
        /* A child (no timer: itimers are not inherited) holds the only slot for 1 s. */
        int p[2];
        if (pipe(p) != 0) return 1;
        if (fork() == 0) {
            int fd = dial(port);
            char c = fd < 0 ? 'n' : 'y';
            if (write(p[1], &c, 1) != 1) _exit(1);
            struct timespec one = {1, 0};
            nanosleep(&one, NULL);
            close(fd);
            _exit(0);
        }
        char c = 0;
        while (read(p[0], &c, 1) < 0 && errno == EINTR)
            ;
        if (c != 'y') { printf("holder could not connect\n"); return 1; }
    }
    long long t0 = ms();
    int ok = 0;
    for (int i = 0; i < n; i++) {
        int fd = dial(port);
        if (fd < 0) { printf("connect %d: %s\n", i, strerror(errno)); continue; }
        ok++;
        close(fd);
    }
    printf("ok %d ms %lld ticks %d\n", ok, ms() - t0, (int)ticks);
    return 0;
}
C
"${CC:-cc}" -O2 -o "$PROG" "$T/sigwait.c" 2>"$T/cc.err" || fail "cannot build $PROG: $(cat "$T/cc.err")"

port=$(free_port)
server "$port" echo
# The keys under test: a slow rate, so each wait spans many ticks.
write_config <<EOF2
[defaults]
state = process
rate_limit = 2
rate_burst = 1
limit_wait_ms = 2000
EOF2
run_shim "$PROG" rate "$port" 6
assert_ok "six connects under a rate limit with SIGALRM every 20 ms"
read -r _ ok _ ms _ ticks <<<"$OUT"
assert_eq "$ok" 6 "connects that succeeded ($OUT)"
assert_ge "$ms" 2450 "5 waits of 500 ms, not cut short by the signals (ms)"
assert_ge "$ticks" 80 "handler runs during the waits"
rate_ms=$ms

# A connection slot: the only one is held 1 s by a child; the wait spans ~50 ticks.
write_config <<EOF2
[defaults]
state = shared
max_connections = 1
limit_wait_ms = 3000
; $TEST_NAME $port $$
EOF2
CAROM=$CAROM_ROOT/$BUILD/carom
SHM=$(CAROM_CONFIG=$CFG "$CAROM" cushions --path) || fail "carom cushions --path"
trap 'rm -f "$SHM"; _cleanup' EXIT
run_shim "$PROG" hold "$port" 1
assert_ok "a connect waiting for the only slot with SIGALRM every 20 ms"
read -r _ ok _ ms _ ticks <<<"$OUT"
assert_eq "$ok" 1 "the waiting connect succeeded ($OUT)"
assert_ge "$ms" 800 "it waited for the holder's close (ms)"
assert_le "$ms" 2500 "it got the slot once the holder closed (ms)"
assert_ge "$ticks" 30 "handler runs during the wait"
pass "rate: $rate_ms ms through the ticks; slot: waited $ms ms, $ticks ticks"
