/* hostile.c: the hostile host programs of the hardening tests (tests/e2e/hostile_*.sh), one
 * subcommand per way a real program breaks the shim's assumptions: closing every
 * descriptor behind its back, dup2() over carom's own socket, signals and siglongjmp in a
 * backoff sleep, fork storms, vfork and posix_spawn, forks while other threads are inside
 * the shim, connect floods, descriptors above the first RLIMIT_NOFILE, closes from
 * another thread or a signal handler. Each prints summary lines the test parses. It must
 * never retry, time out or recover on its own where the shim is under test (a success
 * has to be the shim's doing), never talk to anything but loopback, and never wait
 * without a deadline. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- helpers ---------------------------------------------------------------------------- */

static long long ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static const char *ename(int e)
{
    const char *n = e ? strerrorname_np(e) : "OK";
    return n ? n : "EUNKNOWN";
}

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int port_arg(const char *s)
{
    long p = strtol(s, NULL, 10);
    if (p <= 0 || p > 65535) {
        fprintf(stderr, "bad port %s\n", s);
        exit(2);
    }
    return (int)p;
}

/* A blocking connect on a fresh socket: the fd, or -1 with errno. */
static int dial(int port)
{
    struct sockaddr_in a = loopback(port);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Writes msg, reads one line back (the echo server's answer). 0 or an errno. */
static int echo(int fd, const char *msg, char *out, size_t cap)
{
    size_t n = strlen(msg);
    if (write(fd, msg, n) != (ssize_t)n)
        return errno ? errno : EIO;
    size_t got = 0;
    while (got + 1 < cap) {
        ssize_t r = read(fd, out + got, cap - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return errno;
        if (r == 0)
            break;
        got += (size_t)r;
        if (memchr(out, '\n', got))
            break;
    }
    out[got] = 0;
    out[strcspn(out, "\r\n")] = 0;
    return got ? 0 : EPROTO;
}

/* connect + one echo round; prints "WHO: REPLY" or "WHO: ERRNO". 0 on success. */
static int dial_echo(const char *who, int port)
{
    int fd = dial(port);
    if (fd < 0) {
        printf("%s: connect %s\n", who, ename(errno));
        return 1;
    }
    char buf[64];
    int e = echo(fd, "ping\n", buf, sizeof buf);
    close(fd);
    if (e) {
        printf("%s: echo %s\n", who, ename(e));
        return 1;
    }
    printf("%s: %s\n", who, buf);
    return 0;
}

/* The shim's scoreboard socket: the one AF_UNIX socket among fds 0..limit (the programs
 * here open none of their own). -1 when there is none. */
static int carom_socket_fd(int limit)
{
    for (int fd = 0; fd < limit; fd++) {
        struct sockaddr_storage ss;
        socklen_t l = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &l) == 0 && ss.ss_family == AF_UNIX)
            return fd;
    }
    return -1;
}

/* How many TCP sockets this process holds (carom's own scoreboard socket is AF_UNIX). */
static int count_tcp_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        struct sockaddr_storage ss;
        socklen_t l = sizeof ss;
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd != dirfd(d) &&
            getsockname(fd, (struct sockaddr *)&ss, &l) == 0 &&
            (ss.ss_family == AF_INET || ss.ss_family == AF_INET6))
            n++;
    }
    closedir(d);
    return n;
}

/* ---- connect: one connect + echo (what exec'd children run) -------------------------------- */

static int cmd_connect(int port)
{
    return dial_echo("connect", port);
}

/* ---- daemon: close every descriptor, then use the network -------------------------------- */

struct delayed_write {
    int fd;
    long ms;
    const char *msg;
};

static void *writer(void *arg)
{
    struct delayed_write *w = arg;
    sleep_ms(w->ms);
    if (write(w->fd, w->msg, strlen(w->msg)) < 0)
        perror("writer");
    return NULL;
}

/* The daemon connects (the shim tracks the socket, with io_timeout_ms and a circuit
 * breaker from the test's config) and closes every descriptor above stderr the way HOW
 * says; the freed number then takes WHAT:
 * - pipe: a pipe whose data arrives later than io_timeout_ms; the read must return it.
 *   Then a second connect, to PORT2 (late), must still be retried.
 * - peer: a UNIX socket pair whose peer has gone; five writes fail with EPIPE. Then a
 *   second connect to the same server (PORT1): those errors were not the server's, so
 *   its circuit must still be closed.
 * Whatever the shim remembered about the old socket must not act on the new occupant. */
static int cmd_daemon(const char *how, const char *what, int port1, int port2)
{
    int fd = dial(port1);
    if (fd < 0) {
        printf("daemon: first connect %s\n", ename(errno));
        return 1;
    }
    char buf[64];
    int e = echo(fd, "ping\n", buf, sizeof buf);
    if (e) {
        printf("daemon: first echo %s\n", ename(e));
        return 1;
    }
    /* Close without any wrapper seeing this fd by name. */
    if (strcmp(how, "closefrom") == 0) {
        closefrom(3);
    } else if (strcmp(how, "close_range") == 0) {
        if (close_range(3, ~0U, 0) != 0)
            return perror("close_range"), 1;
    } else if (strcmp(how, "syscall") == 0) {
        if (syscall(SYS_close_range, 3, ~0U, 0) != 0)
            return perror("syscall close_range"), 1;
    } else if (strcmp(how, "fclose") == 0) {
        /* The classic line-oriented client: fdopen() the socket, fclose() it. glibc's
         * fclose closes the descriptor internally, past any interposed close(). */
        FILE *f = fdopen(fd, "r+");
        if (!f)
            return perror("fdopen"), 1;
        fclose(f);
    } else {
        fprintf(stderr, "daemon: unknown way %s\n", how);
        return 2;
    }
    if (strcmp(what, "peer") == 0) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
            return perror("socketpair"), 1;
        printf("daemon: socket was fd %d, unix socket is fd %d\n", fd, sv[0]);
        close(sv[1]);
        signal(SIGPIPE, SIG_IGN);
        int epipe = 0;
        for (int i = 0; i < 5; i++)
            epipe += write(sv[0], "x", 1) < 0 && errno == EPIPE;
        printf("daemon: %d of 5 writes to the gone peer failed with EPIPE\n", epipe);
        close(sv[0]);
        return dial_echo("daemon: again", port1);
    }
    int p[2];
    if (pipe(p) != 0)
        return perror("pipe"), 1;
    printf("daemon: socket was fd %d, pipe read end is fd %d\n", fd, p[0]);
    struct delayed_write w = {p[1], 700, "pipe-data\n"};
    pthread_t t;
    pthread_create(&t, NULL, writer, &w);
    char got[32] = "";
    ssize_t r;
    while ((r = read(p[0], got, sizeof got - 1)) < 0 && errno == EINTR)
        ;
    int re = r < 0 ? errno : 0;
    pthread_join(t, NULL);
    if (r < 0) {
        printf("daemon: pipe read %s\n", ename(re));
        return 1;
    }
    got[r] = 0;
    got[strcspn(got, "\n")] = 0;
    printf("daemon: pipe read %s\n", got);
    close(p[0]);
    close(p[1]);
    return dial_echo("daemon: second", port2);
}

/* ---- sbdup2: dup2() over carom's scoreboard socket while events flow ------------------------ */

static atomic_bool stop_flag;
static atomic_long emitted;

/* Every connect to a dead port is a finished shot: one event each. */
static void *event_pump(void *arg)
{
    int port = *(int *)arg;
    while (!atomic_load(&stop_flag)) {
        int fd = dial(port);
        if (fd >= 0)
            close(fd);
        atomic_fetch_add(&emitted, 1);
    }
    return NULL;
}

/* A connected TCP pair: cli is what the program dup2()s over carom's socket; anything
 * written into it (TCP ignores sendto's address) arrives at srv. */
static int tcp_pair(int *cli, int *srv)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loopback(0);
    socklen_t al = sizeof a;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 1) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &al) != 0)
        return -1;
    *cli = socket(AF_INET, SOCK_STREAM, 0);
    if (*cli < 0 || connect(*cli, (struct sockaddr *)&a, sizeof a) != 0)
        return -1;
    *srv = accept(l, NULL, NULL);
    close(l);
    return *srv < 0 ? -1 : 0;
}

static int cmd_sbdup2(int dead, int iters, const char *how)
{
    int fd = dial(dead); /* the first event opens carom's socket */
    if (fd >= 0)
        close(fd);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, event_pump, &dead);
    long leaked = 0, replaced = 0, missing = 0;
    for (int i = 0; i < iters; i++) {
        int sb = -1;
        for (int k = 0; k < 200 && sb < 0; k++) {
            sb = carom_socket_fd(64);
            if (sb < 0)
                sleep_ms(1);
        }
        if (sb < 0) {
            missing++;
            continue;
        }
        int cli, srv;
        if (tcp_pair(&cli, &srv) != 0)
            return perror("tcp pair"), 1;
        int r = strcmp(how, "dup3") == 0 ? dup3(cli, sb, O_CLOEXEC) : dup2(cli, sb);
        if (r != sb)
            return perror("dup2"), 1;
        replaced++;
        /* Let events flow for a moment while the number is the program's. */
        sleep_ms(2);
        char buf[1024];
        ssize_t n = recv(srv, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            leaked += n;
            if (leaked == n)
                printf("sbdup2: leaked into the program's stream: %.*s\n", (int)n, buf);
        }
        close(sb);
        close(cli);
        close(srv);
    }
    atomic_store(&stop_flag, true);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    printf("sbdup2: iterations=%d replaced=%ld events=%ld leaked_bytes=%ld no_socket=%ld\n", iters,
           replaced, atomic_load(&emitted), leaked, missing);
    return leaked ? 1 : 0;
}

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
static int cmd_sigsleep(int dead, int late, int late2)
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
    if (queued >= 0)
        close(queued);
    close(l);
    return rc | dial_echo("sigsleep: after jump2", late2);
}

/* ---- dnsjump: siglongjmp out of a name lookup that hangs ------------------------------------- */

/* The classic resolver timeout (wget, curl's synchronous resolver): alarm(), sigsetjmp(),
 * getaddrinfo(); the handler jumps out when the lookup hangs. A later connect, made from a
 * deeper frame, to a late server must still be retried. */
static int cmd_dnsjump(const char *name, int late)
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
        if (r == 0)
            freeaddrinfo(res);
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
    if (fd >= 0)
        close(fd);
    ticks++;
    errno = saved;
}

static int cmd_sigclose(long ms)
{
    struct sigaction sa = {.sa_handler = on_sig_socket, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    set_timer(100, 100);
    long long until = ms_now() + ms;
    long n = 0;
    while (ms_now() < until) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0)
            close(fd);
        n++;
    }
    set_timer(0, 0);
    printf("sigclose: %ld socket/close pairs, %d in signal handlers\n", n, (int)ticks);
    return 0;
}

/* ---- closerace: another thread closes the socket during a backoff sleep and the number
 * is reused for a file; the server comes up meanwhile, so the shim's next attempt would
 * connect and put its socket in the number's place ------------------------------------------- */

struct race {
    int fd, filefd;
    const char *path;
};

static void *closer(void *arg)
{
    struct race *r = arg;
    sleep_ms(150); /* inside connect's first backoff sleep */
    close(r->fd);  /* abort the connect, the watchdog way */
    r->filefd = open(r->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    return NULL;
}

static int cmd_closerace(int port, const char *path)
{
    struct race r = {.path = path};
    r.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loopback(port);
    pthread_t t;
    pthread_create(&t, NULL, closer, &r);
    int c = connect(r.fd, (struct sockaddr *)&a, sizeof a);
    int e = c ? errno : 0;
    pthread_join(t, NULL);
    sleep_ms(100);
    struct stat st;
    if (r.filefd < 0 || fstat(r.filefd, &st) != 0) {
        printf("closerace: file descriptor lost: %s\n", strerror(errno));
        return 1;
    }
    const char *msg = "file-data\n";
    ssize_t w = write(r.filefd, msg, strlen(msg));
    int we = w < 0 ? errno : 0;
    printf("closerace: connect %s; fd %d (was the socket %d) is %s; write %s\n", ename(e),
           r.filefd, r.fd, S_ISREG(st.st_mode) ? "the file" : S_ISSOCK(st.st_mode) ? "a socket" : "other",
           w == (ssize_t)strlen(msg) ? "ok" : ename(we));
    return S_ISREG(st.st_mode) && w == (ssize_t)strlen(msg) ? 0 : 1;
}

/* ---- storm: a fork storm through one shared cushion ---------------------------------------- */

/* The parent connects once (the shim attaches its state), then forks N children that
 * wait on one pipe and are released together; each makes K connects to a dead port and
 * reports each outcome. Real refusals are ECONNREFUSED; the open circuit answers with the
 * test's open_errno (EHOSTUNREACH), so the two are told apart. */
static int cmd_storm(int n, int k, int dead)
{
    int fd = dial(dead);
    printf("storm: parent first connect %s\n", ename(fd < 0 ? errno : 0));
    fflush(stdout);
    int gate[2], res[2];
    if (pipe(gate) != 0 || pipe(res) != 0)
        return perror("pipe"), 1;
    pid_t *pids = calloc((size_t)n, sizeof *pids);
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] < 0)
            return perror("fork"), 1;
        if (pids[i] == 0) {
            close(gate[1]);
            close(res[0]);
            char c;
            while (read(gate[0], &c, 1) < 0 && errno == EINTR)
                ;
            char line[256];
            int len = snprintf(line, sizeof line, "child %d:", i);
            for (int j = 0; j < k; j++) {
                int s = dial(dead);
                len += snprintf(line + len, sizeof line - (size_t)len, " %s",
                                ename(s < 0 ? errno : 0));
                if (s >= 0)
                    close(s);
            }
            line[len++] = '\n';
            /* One write below PIPE_BUF: lines from 64 children never interleave. */
            if (write(res[1], line, (size_t)len) != len)
                _exit(3);
            _exit(0);
        }
    }
    close(gate[0]);
    close(res[1]);
    close(gate[1]); /* EOF releases every child at once */
    long long until = ms_now() + 30000;
    int done = 0, bad = 0, hung = 0;
    while (done < n && ms_now() < until) {
        int st;
        pid_t p = waitpid(-1, &st, WNOHANG);
        if (p > 0) {
            done++;
            bad += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        } else {
            sleep_ms(10);
        }
    }
    for (int i = 0; i < n; i++)
        if (kill(pids[i], 0) == 0 && waitpid(pids[i], NULL, WNOHANG) == 0) {
            hung++;
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
        }
    char buf[65536];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof buf - 1 && (r = read(res[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)r;
    buf[got] = 0;
    long real = 0, fast = 0, other = 0, lines = 0;
    for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
        lines++;
        for (char *w = strchr(l, ':'); w && *w; w++) {
            if (strncmp(w, " ECONNREFUSED", 13) == 0)
                real++;
            else if (strncmp(w, " EHOSTUNREACH", 13) == 0)
                fast++;
            else if (*w == ' ')
                other++;
        }
    }
    int pfd = dial(dead);
    printf("storm: children=%d reported=%ld exited_badly=%d hung=%d real=%ld fast=%ld other=%ld "
           "parent_after=%s\n",
           n, lines, bad, hung, real, fast, other, ename(pfd < 0 ? errno : 0));
    free(pids);
    return bad || hung || lines != n ? 1 : 0;
}

/* ---- spawn: vfork and posix_spawn children ------------------------------------------------- */

/* The parent holds a tracked socket to a server that never answers (io_timeout_ms applies)
 * and reads its own stdin from a pipe fed 700 ms late. A child is made with MODE, handed
 * the socket as its stdin (dup2 then close, the inetd way) and execs this program to
 * connect to a late server. Afterwards: the child's connect was guarded (it inherited the
 * shim); the parent's socket still times out (its record survived the child's close);
 * the parent's stdin read is untouched (the child's dup2 did not make fd 0 "a socket"). */
static int cmd_spawn(const char *mode, const char *self, int blackhole, int late)
{
    int sock = dial(blackhole);
    if (sock < 0) {
        printf("spawn: connect to the silent server %s\n", ename(errno));
        return 1;
    }
    int p[2];
    if (pipe(p) != 0 || dup2(p[0], 0) != 0)
        return perror("stdin pipe"), 1;
    close(p[0]);
    char port[16];
    snprintf(port, sizeof port, "%d", late);
    char *argv[] = {(char *)self, "connect", port, NULL};
    pid_t pid;
    if (strcmp(mode, "vfork") == 0) {
        pid = vfork();
        if (pid == 0) {
            /* Only what a vfork child may do: dup2, close, exec, _exit. */
            dup2(sock, 0);
            close(sock);
            execve(self, argv, environ);
            _exit(127);
        }
    } else {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, sock, 0);
        posix_spawn_file_actions_addclose(&fa, sock);
        int e = posix_spawn(&pid, self, &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (e) {
            printf("spawn: posix_spawn %s\n", ename(e));
            return 1;
        }
    }
    if (pid < 0)
        return perror("vfork"), 1;
    int st = 0;
    long long until = ms_now() + 15000;
    pid_t w;
    while ((w = waitpid(pid, &st, WNOHANG)) == 0 && ms_now() < until)
        sleep_ms(10);
    if (w != pid) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    printf("spawn: child %s\n", w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "ok" : "failed");
    fflush(stdout);

    /* The silent server: with the record intact the shim gives up after io_timeout_ms. */
    long long t0 = ms_now();
    char buf[64];
    struct pollfd pf = {.fd = sock, .events = POLLIN};
    ssize_t r = -1;
    int re = 0;
    /* Bounded without recovering: if the shim lets recv block, poll tells after 3 s. */
    if (poll(&pf, 1, 0) == 0) {
        alarm(3);
        r = recv(sock, buf, sizeof buf, 0);
        re = r < 0 ? errno : 0;
        alarm(0);
    }
    printf("spawn: parent recv %s after %lld ms\n", r < 0 ? ename(re) : "data", ms_now() - t0);

    struct delayed_write dw = {p[1], 700, "stdin-data\n"};
    pthread_t t;
    pthread_create(&t, NULL, writer, &dw);
    r = read(0, buf, sizeof buf - 1);
    re = r < 0 ? errno : 0;
    pthread_join(t, NULL);
    if (r > 0) {
        buf[r] = 0;
        buf[strcspn(buf, "\n")] = 0;
    }
    printf("spawn: parent stdin %s\n", r > 0 ? buf : ename(re));
    return 0;
}

/* vforkfds: N rounds of one event (a refused connect) and a vfork child that closes
 * every descriptor from 3 to 1023 before _exit, the way careful spawners do. The child's
 * closes are its own copies: carom's scoreboard socket in the parent stays carom's, so
 * the parent ends with one such socket, not one per child. */
static int count_unix_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++) {
        struct sockaddr_storage ss;
        socklen_t l = sizeof ss;
        n += getsockname(fd, (struct sockaddr *)&ss, &l) == 0 && ss.ss_family == AF_UNIX;
    }
    return n;
}

/* Its own frame, which the child never returns from: nothing of the caller's can be
 * clobbered. */
static __attribute__((noinline)) pid_t vfork_closer(void)
{
    pid_t p = vfork();
    if (p == 0) {
        for (int k = 3; k < 1024; k++)
            close(k);
        _exit(0);
    }
    return p;
}

static int cmd_vforkfds(int dead, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        int fd = dial(dead);
        if (fd >= 0)
            close(fd);
        pid_t p = vfork_closer();
        if (p > 0)
            waitpid(p, NULL, 0);
    }
    int fd = dial(dead); /* one more event after the last child */
    if (fd >= 0)
        close(fd);
    printf("vforkfds: rounds=%d unix_sockets=%d\n", rounds, count_unix_fds());
    return 0;
}

static void on_alarm_quiet(int sig)
{
    (void)sig; /* only interrupts a blocking call */
}

/* ---- forklock: forks while other threads are inside the shim's locks ------------------------ */

/* The test's config gives the name "chaoshost" chaos.dns_fail = 1: the shim answers
 * EAI_AGAIN without calling the C library's resolver and then looks for a stale answer
 * under its stale-DNS lock. The C library's own resolver lock is not fork-safe (a child
 * of a threaded parent can hang in it without any shim), so the child never calls it. */
static void resolve(const char *name)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(name, "80", &hints, &res) == 0)
        freeaddrinfo(res);
}

static bool forklock_dns;

static void *lock_churn(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_flag)) {
        int fd = socket(AF_INET, SOCK_STREAM, 0); /* the fd-record pool lock */
        if (fd >= 0)
            close(fd); /* ... and again */
        if (forklock_dns) {
            resolve("chaoshost"); /* the stale-DNS lock, looking up */
            resolve("localhost"); /* ... and storing an answer */
        }
    }
    return NULL;
}

/* DNS 0: no name resolution at all (without the shim "chaoshost" would go to the C
 * library's resolver, which a child of a threaded parent may hang in on its own). */
static int cmd_forklock(int nthreads, int forks, bool dns)
{
    forklock_dns = dns;
    pthread_t t[16];
    if (nthreads > 16)
        nthreads = 16;
    for (int i = 0; i < nthreads; i++)
        pthread_create(&t[i], NULL, lock_churn, NULL);
    int hung = 0, bad = 0;
    for (int i = 0; i < forks; i++) {
        pid_t p = fork();
        if (p < 0)
            return perror("fork"), 1;
        if (p == 0) {
            /* The child takes the same locks; a lock copied while held never opens. */
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            if (fd >= 0)
                close(fd);
            if (dns)
                resolve("chaoshost");
            _exit(0);
        }
        long long until = ms_now() + 3000;
        int st = 0;
        pid_t w;
        while ((w = waitpid(p, &st, WNOHANG)) == 0 && ms_now() < until)
            sleep_ms(1);
        if (w == 0) {
            hung++;
            kill(p, SIGKILL);
            waitpid(p, &st, 0);
            forks = i + 1; /* one hang proves the point: stop there */
            break;
        } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            bad++;
        }
    }
    atomic_store(&stop_flag, true);
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    printf("forklock: forks=%d hung=%d failed=%d\n", forks, hung, bad);
    return hung || bad ? 1 : 0;
}

/* ---- flood: THREADS x PER connects against a flapping server ------------------------------- */

/* The server side (run without the shim): listens for UP ms, then closes its listening
 * socket for DOWN ms (connects are refused, queued ones reset), over and over, for at most
 * LIFE seconds. Each accepted connection gets its 8-byte tag echoed back; the number of
 * completed echoes is written to COUNTFILE at the end. */
static atomic_long served;
static atomic_int listen_fd = -1;

static void *serve_conn_loop(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_flag)) {
        int l = atomic_load(&listen_fd);
        if (l < 0) {
            sleep_ms(1);
            continue;
        }
        struct pollfd pf = {.fd = l, .events = POLLIN};
        if (poll(&pf, 1, 10) <= 0)
            continue;
        int c = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c < 0)
            continue;
        char tag[8];
        size_t got = 0;
        struct pollfd cp = {.fd = c, .events = POLLIN};
        while (got < sizeof tag && poll(&cp, 1, 1000) > 0) {
            ssize_t r = recv(c, tag + got, sizeof tag - got, 0);
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        if (got == sizeof tag && send(c, tag, sizeof tag, MSG_NOSIGNAL) == (ssize_t)sizeof tag)
            atomic_fetch_add(&served, 1);
        close(c);
    }
    return NULL;
}

static volatile sig_atomic_t server_stop;
static void on_server_stop(int sig)
{
    (void)sig;
    server_stop = 1;
}

static int cmd_flakyserver(int port, int up, int down, int life, const char *countfile,
                           const char *ready)
{
    struct sigaction sa = {.sa_handler = on_server_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, serve_conn_loop, NULL);
    long long end = ms_now() + life * 1000LL;
    bool first = true;
    while (ms_now() < end && !server_stop) {
        /* Non-blocking: two accept threads may both see it readable; the loser must not
         * block in accept() past the end of the run. */
        int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        int one = 1;
        setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in a = loopback(port);
        if (bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 128) != 0) {
            perror("flakyserver: bind");
            return 1;
        }
        atomic_store(&listen_fd, l);
        if (first) {
            first = false;
            close(open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
        }
        while (down == 0 && ms_now() < end && !server_stop)
            sleep_ms(up); /* steady: one listening socket for the whole run */
        sleep_ms(up);
        atomic_store(&listen_fd, -1);
        sleep_ms(15); /* let an accept in progress finish with it */
        close(l);
        sleep_ms(down);
    }
    atomic_store(&stop_flag, true);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    /* Stopped by SIGTERM or its lifetime: the count goes to COUNTFILE. */
    FILE *f = fopen(countfile, "w");
    if (!f)
        return 1;
    fprintf(f, "%ld\n", atomic_load(&served));
    fclose(f);
    return 0;
}

struct flood_stats {
    int id, per, port;
    long ok, refused, reset, other, badtag;
    int other_errno;
};

static void *flood_thread(void *arg)
{
    struct flood_stats *s = arg;
    for (int i = 0; i < s->per; i++) {
        int fd = dial(s->port);
        if (fd < 0) {
            if (errno == ECONNREFUSED || errno == EHOSTUNREACH)
                s->refused++;
            else {
                s->other++;
                s->other_errno = errno;
            }
            continue;
        }
        uint32_t tag[2] = {(uint32_t)s->id, (uint32_t)i}, back[2] = {0, 0};
        ssize_t w = write(fd, tag, sizeof tag);
        size_t got = 0;
        ssize_t r = 1;
        while (w == (ssize_t)sizeof tag && got < sizeof back &&
               (r = read(fd, (char *)back + got, sizeof back - got)) > 0)
            got += (size_t)r;
        if (w == (ssize_t)sizeof tag && got == sizeof back) {
            if (back[0] == tag[0] && back[1] == tag[1])
                s->ok++;
            else
                s->badtag++;
        } else if (errno == ECONNRESET || errno == EPIPE || r == 0) {
            s->reset++;
        } else {
            s->other++;
            s->other_errno = errno;
        }
        close(fd);
    }
    return NULL;
}

static int cmd_flood(int nthreads, int per, int port)
{
    if (nthreads > 64)
        nthreads = 64;
    signal(SIGPIPE, SIG_IGN);
    int fds0 = count_tcp_fds();
    pthread_t t[64];
    struct flood_stats s[64];
    long long t0 = ms_now();
    for (int i = 0; i < nthreads; i++) {
        s[i] = (struct flood_stats){.id = i, .per = per, .port = port};
        pthread_create(&t[i], NULL, flood_thread, &s[i]);
    }
    struct flood_stats tot = {0};
    for (int i = 0; i < nthreads; i++) {
        pthread_join(t[i], NULL);
        tot.ok += s[i].ok;
        tot.refused += s[i].refused;
        tot.reset += s[i].reset;
        tot.other += s[i].other;
        tot.badtag += s[i].badtag;
        if (s[i].other)
            tot.other_errno = s[i].other_errno;
    }
    long long el = ms_now() - t0;
    int fds1 = count_tcp_fds();
    printf("flood: attempts=%ld ok=%ld refused=%ld reset=%ld other=%ld(%s) badtag=%ld "
           "tcp_fds_before=%d tcp_fds_after=%d ms=%lld\n",
           (long)nthreads * per, tot.ok, tot.refused, tot.reset, tot.other,
           ename(tot.other_errno), tot.badtag, fds0, fds1, el);
    return 0;
}

/* ---- highfd: a socket above the first RLIMIT_NOFILE ---------------------------------------- */

/* Raises the soft limit (to the hard one, or HARD when given: root may raise the hard
 * limit too), moves a fresh socket to fd FD and connects it to a late server. */
static int cmd_highfd(int target, int port, long hard)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t first = rl.rlim_cur;
    if (hard > 0)
        rl.rlim_max = (rlim_t)hard;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return perror("setrlimit"), 1;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || dup2(s, target) != target)
        return perror("dup2"), 1;
    close(s);
    printf("highfd: soft limit %llu -> %llu, socket on fd %d\n", (unsigned long long)first,
           (unsigned long long)rl.rlim_cur, target);
    struct sockaddr_in a = loopback(port);
    if (connect(target, (struct sockaddr *)&a, sizeof a) != 0) {
        printf("highfd: connect %s\n", ename(errno));
        return 1;
    }
    char buf[64];
    int e = echo(target, "ping\n", buf, sizeof buf);
    printf("highfd: %s\n", e ? ename(e) : buf);
    close(target);
    return e ? 1 : 0;
}

/* ---- mapped: is the shim in this process? ---------------------------------------------------- */

static int cmd_mapped(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[4096];
    bool found = false;
    while (f && fgets(line, sizeof line, f))
        found |= strstr(line, "libcarom_shim") != NULL;
    if (f)
        fclose(f);
    printf("mapped: shim %s (uid %d, euid %d)\n", found ? "loaded" : "absent", (int)getuid(),
           (int)geteuid());
    return 0;
}

/* ---- canon: AI_CANONNAME when the first address's circuit is open -------------------------- */

/* Opens the circuit of NAME's first address (connects to it until it refuses at once),
 * then resolves NAME with AI_CANONNAME: the first entry must carry the canonical name, as
 * POSIX says, whatever order the shim puts the addresses in. */
static int cmd_canon(const char *name, int port, int tries)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_CANONNAME}, *res = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(name, ps, &hints, &res) != 0)
        return printf("canon: cannot resolve %s\n", name), 1;
    char first[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, first, sizeof first);
    printf("canon: before: first %s canonname %s\n", first,
           res->ai_canonname ? res->ai_canonname : "(null)");
    for (int i = 0; i < tries; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        connect(fd, res->ai_addr, res->ai_addrlen);
        close(fd);
    }
    freeaddrinfo(res);
    res = NULL;
    if (getaddrinfo(name, ps, &hints, &res) != 0)
        return printf("canon: cannot resolve %s again\n", name), 1;
    inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, first, sizeof first);
    int n = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
        n += ai->ai_canonname != NULL;
    /* A program that trusts POSIX reads the first entry's name without a check. */
    fflush(stdout);
    printf("canon: after: first %s canonname %s, %zu bytes (entries with a name: %d)\n", first,
           res->ai_canonname, strlen(res->ai_canonname), n);
    freeaddrinfo(res);
    return 0;
}

/* ---- main ------------------------------------------------------------------------------------ */

static void usage(void)
{
    fprintf(stderr, "usage: hostile SUBCOMMAND ARGS... (see tests/e2e/hostile_*.sh)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sigaction sa = {.sa_handler = on_alarm_quiet};
    sigemptyset(&sa.sa_mask);
    if (argc < 2)
        usage();
    const char *c = argv[1];
    if (strcmp(c, "connect") == 0 && argc == 3)
        return cmd_connect(port_arg(argv[2]));
    if (strcmp(c, "daemon") == 0 && argc == 6)
        return cmd_daemon(argv[2], argv[3], port_arg(argv[4]), port_arg(argv[5]));
    if (strcmp(c, "sbdup2") == 0 && argc == 5)
        return cmd_sbdup2(port_arg(argv[2]), atoi(argv[3]), argv[4]);
    if (strcmp(c, "sigsleep") == 0 && argc == 5)
        return cmd_sigsleep(port_arg(argv[2]), port_arg(argv[3]), port_arg(argv[4]));
    if (strcmp(c, "dnsjump") == 0 && argc == 4)
        return cmd_dnsjump(argv[2], port_arg(argv[3]));
    if (strcmp(c, "sigclose") == 0 && argc == 3)
        return cmd_sigclose(atol(argv[2]));
    if (strcmp(c, "closerace") == 0 && argc == 4)
        return cmd_closerace(port_arg(argv[2]), argv[3]);
    if (strcmp(c, "storm") == 0 && argc == 5)
        return cmd_storm(atoi(argv[2]), atoi(argv[3]), port_arg(argv[4]));
    if (strcmp(c, "spawn") == 0 && argc == 5) {
        sigaction(SIGALRM, &sa, NULL); /* alarm() only interrupts the bounded recv */
        return cmd_spawn(argv[2], "/proc/self/exe", port_arg(argv[3]), port_arg(argv[4]));
    }
    if (strcmp(c, "vforkfds") == 0 && argc == 4)
        return cmd_vforkfds(port_arg(argv[2]), atoi(argv[3]));
    if (strcmp(c, "forklock") == 0 && argc == 5)
        return cmd_forklock(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]) != 0);
    if (strcmp(c, "flakyserver") == 0 && argc == 8)
        return cmd_flakyserver(port_arg(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]),
                               argv[6], argv[7]);
    if (strcmp(c, "flood") == 0 && argc == 5)
        return cmd_flood(atoi(argv[2]), atoi(argv[3]), port_arg(argv[4]));
    if (strcmp(c, "highfd") == 0 && (argc == 4 || argc == 5))
        return cmd_highfd(atoi(argv[2]), port_arg(argv[3]), argc == 5 ? atol(argv[4]) : 0);
    if (strcmp(c, "mapped") == 0 && argc == 2)
        return cmd_mapped();
    if (strcmp(c, "canon") == 0 && argc == 5)
        return cmd_canon(argv[2], port_arg(argv[3]), atoi(argv[4]));
    usage();
}
