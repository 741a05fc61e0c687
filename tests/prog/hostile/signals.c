/* signals.c: the hostile subcommands that raise signals inside the shim: sigsleep (signals
 * and a siglongjmp during a backoff sleep), dnsjump (a siglongjmp out of a hanging name
 * lookup) and sigclose (a handler that opens and closes sockets). It must never wait
 * without a deadline. */
#include "hostile.h"

/* ---- sigsleep: signals during a backoff sleep, and a siglongjmp out of it ------------------ */

static volatile sig_atomic_t ticks;
static sigjmp_buf jump_env;
static volatile sig_atomic_t jump_armed;

static void on_tick(int sig)
{
    (void)sig;
    ticks++;
}

static void on_jump(int sig)
{
    (void)sig;
    if (jump_armed) {
        jump_armed = 0;
        siglongjmp(jump_env, 1);
    }
}

static void set_timer(long first_us, long every_us)
{
    struct itimerval it = {{every_us / 1000000, every_us % 1000000},
                           {first_us / 1000000, first_us % 1000000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

/* Phase 1: SIGALRM every 20 ms (no SA_RESTART) while connect() backs off against a dead
 * port: the connect must take its full schedule (the sleeps are not cut short), end with
 * the real errno (not EINTR), and every tick must reach the handler meanwhile.
 * Phase 2: a handler siglongjmp()s out of a backoff sleep (wget -T does this); a later
 * connect to a late server must still be retried: no stale guard left behind.
 * Phase 3: the same out of a connect that blocks in the kernel (a listener whose accept
 * queue is full drops SYNs), then a connect to a second, later server. */
int cmd_sigsleep(int dead, int late, int late2)
{
    struct sigaction sa = {.sa_handler = on_tick};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    set_timer(20000, 20000);
    long long t0 = ms_now();
    int fd = dial(dead);
    int e = fd < 0 ? errno : 0;
    long long el = ms_now() - t0;
    set_timer(0, 0);
    printf("sigsleep: connect %s after %lld ms, %d signals handled\n", ename(e), el, (int)ticks);

    sa.sa_handler = on_jump;
    sigaction(SIGALRM, &sa, NULL);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loopback(dead);
    if (sigsetjmp(jump_env, 1) == 0) {
        jump_armed = 1;
        set_timer(150000, 0); /* inside the first backoff sleep */
        connect(s, (struct sockaddr *)&a, sizeof a);
        set_timer(0, 0);
        printf("sigsleep: jump: connect returned before the signal\n");
    } else {
        printf("sigsleep: jump: left connect by siglongjmp\n");
    }
    close(s);
    int rc = dial_echo("sigsleep: after jump", late) | (e == ECONNREFUSED ? 0 : 1);

    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in la = loopback(0);
    socklen_t ll = sizeof la;
    if (bind(l, (struct sockaddr *)&la, sizeof la) != 0 || listen(l, 0) != 0 ||
        getsockname(l, (struct sockaddr *)&la, &ll) != 0)
        return perror("listen"), 1;
    int queued = dial(ntohs(la.sin_port)); /* fills the accept queue of one */
    int s3 = socket(AF_INET, SOCK_STREAM, 0);
    if (sigsetjmp(jump_env, 1) == 0) {
        jump_armed = 1;
        set_timer(150000, 0);
        int c3 = connect(s3, (struct sockaddr *)&la, sizeof la);
        set_timer(0, 0);
        printf("sigsleep: jump2: connect returned %s before the signal\n", ename(c3 ? errno : 0));
    } else {
        printf("sigsleep: jump2: left a blocking connect by siglongjmp\n");
    }
    close(s3);
    if (queued >= 0) close(queued);
    close(l);
    return rc | dial_echo("sigsleep: after jump2", late2);
}

/* ---- dnsjump: siglongjmp out of a name lookup that hangs ------------------------------------- */

/* The classic resolver timeout (wget, curl's synchronous resolver): alarm(), sigsetjmp(),
 * getaddrinfo(); the handler jumps out when the lookup hangs. A later connect, made from a
 * deeper frame, to a late server must still be retried. */
int cmd_dnsjump(const char *name, int late)
{
    struct sigaction sa = {.sa_handler = on_jump};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    long long t0 = ms_now();
    if (sigsetjmp(jump_env, 1) == 0) {
        jump_armed = 1;
        set_timer(300000, 0);
        int r = getaddrinfo(name, "80", &hints, &res);
        set_timer(0, 0);
        printf("dnsjump: getaddrinfo returned %s before the signal\n", r ? gai_strerror(r) : "ok");
        if (r == 0) freeaddrinfo(res);
    } else {
        printf("dnsjump: left getaddrinfo by siglongjmp after %lld ms\n", ms_now() - t0);
    }
    return dial_echo("dnsjump: after jump", late);
}

/* ---- sigclose: a signal handler that opens and closes sockets while the thread it
 * interrupted is inside socket()/close() of tracked sockets ---------------------------------- */

static void on_sig_socket(int sig)
{
    (void)sig;
    int saved = errno;
    int fd = socket(AF_INET, SOCK_STREAM, 0); /* both async-signal-safe */
    if (fd >= 0) close(fd);
    ticks++;
    errno = saved;
}

int cmd_sigclose(long ms)
{
    struct sigaction sa = {.sa_handler = on_sig_socket, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    set_timer(100, 100);
    long long until = ms_now() + ms;
    long n = 0;
    while (ms_now() < until) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0) close(fd);
        n++;
    }
    set_timer(0, 0);
    printf("sigclose: %ld socket/close pairs, %d in signal handlers\n", n, (int)ticks);
    return 0;
}

/* ---- sigfast: signals inside connect's unguarded fast path ---------------------------------- */

/* A first attempt through a closed circuit runs without the shim's guard (no signal mask):
 * a handler may land anywhere in it, call connect() itself, or siglongjmp() out of it. For
 * ms milliseconds a SIGALRM every 50 us does one of those while the main loop connects to a
 * live listener from frames of varying depth (tick_us: the period, 50 us by default); then a connect, from a deeper frame still,
 * to a server that starts late must be retried (no guard left behind), and the listener
 * must still be reached (the endpoint cache was left usable). */
static int fast_port;
static volatile sig_atomic_t fast_jumps, fast_nested, fast_armed;
static sigjmp_buf fast_env;

static void on_fast(int sig)
{
    (void)sig;
    int saved = errno;
    if (fast_armed && (ticks++ & 1)) {
        fast_armed = 0;
        fast_jumps++;
        siglongjmp(fast_env, 1);
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0); /* socket, connect, close: async-signal-safe */
    struct sockaddr_in a = loopback(fast_port);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0) fast_nested++;
    if (fd >= 0) close(fd);
    errno = saved;
}

static void *fast_accept(void *arg)
{
    int l = *(int *)arg;
    while (!atomic_load(&stop_flag)) {
        struct pollfd p = {.fd = l, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) continue;
        int c = accept(l, NULL, NULL);
        if (c >= 0) close(c);
    }
    return NULL;
}

/* Connects at depth d (a frame per level), under a sigsetjmp. */
static int __attribute__((noinline)) fast_dial(int d, long *ok)
{
    volatile char pad[64];
    pad[0] = (char)d;
    if (d > 0) return fast_dial(d - 1, ok) + pad[0] - (char)d;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 1;
    struct sockaddr_in a = loopback(fast_port);
    if (sigsetjmp(fast_env, 1) == 0) {
        fast_armed = 1;
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) (*ok)++;
        fast_armed = 0;
    }
    close(fd);
    return 0;
}

static int __attribute__((noinline)) fast_deep(int d, int late)
{
    volatile char pad[256];
    pad[0] = 0;
    if (d > 0) return fast_deep(d - 1, late) + pad[0];
    return dial_echo("sigfast: after storm", late);
}

int cmd_sigfast(long ms, int late, long tick_us)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in la = loopback(0);
    socklen_t ll = sizeof la;
    if (bind(l, (struct sockaddr *)&la, sizeof la) != 0 || listen(l, 4096) != 0 ||
        getsockname(l, (struct sockaddr *)&la, &ll) != 0)
        return perror("listen"), 1;
    fast_port = ntohs(la.sin_port);
    /* The ticks are the main thread's: the accepting thread never takes them. */
    sigset_t alrm, old;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &alrm, &old);
    pthread_t th;
    pthread_create(&th, NULL, fast_accept, &l);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    struct sigaction sa = {.sa_handler = on_fast, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    set_timer(tick_us, tick_us);
    long long until = ms_now() + ms;
    long n = 0, ok = 0;
    while (ms_now() < until) fast_dial((int)(n++ % 7), &ok);
    set_timer(0, 0);
    fast_armed = 0;
    printf("sigfast: %ld connects (%ld connected), %d jumps, %d nested connects\n", n, ok,
           (int)fast_jumps, (int)fast_nested);
    int rc = fast_deep(12, late);
    long before = ok;
    fast_dial(0, &ok);
    printf("sigfast: listener after storm: %s\n", ok > before ? "connected" : "failed");
    atomic_store(&stop_flag, true);
    pthread_join(th, NULL);
    close(l);
    return rc | (ok > before ? 0 : 1);
}
