/* fork.c: the hostile subcommands that fork: storm (a fork storm through one shared
 * cushion), spawn (vfork and posix_spawn children), vforkfds (vfork children that close
 * descriptors) and forklock (forks while other threads are inside the shim's locks). It
 * must never leave a child behind or wait for one without a deadline. */
#include "hostile.h"

/* ---- storm: a fork storm through one shared cushion ---------------------------------------- */

/* The parent connects once (the shim attaches its state), then forks N children that
 * wait on one pipe and are released together; each makes K connects to a dead port and
 * reports each outcome. Real refusals are ECONNREFUSED; the open circuit answers with the
 * test's open_errno (EHOSTUNREACH), so the two are told apart. */
int cmd_storm(int n, int k, int dead)
{
    int fd = dial(dead);
    printf("storm: parent first connect %s\n", ename(fd < 0 ? errno : 0));
    fflush(stdout);
    int gate[2], res[2];
    if (pipe(gate) != 0 || pipe(res) != 0) return perror("pipe"), 1;
    pid_t *pids = calloc((size_t)n, sizeof *pids);
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] < 0) return perror("fork"), 1;
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
                if (s >= 0) close(s);
            }
            line[len++] = '\n';
            /* One write below PIPE_BUF: lines from 64 children never interleave. */
            if (write(res[1], line, (size_t)len) != len) _exit(3);
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
int cmd_spawn(const char *mode, const char *self, int blackhole, int late)
{
    int sock = dial(blackhole);
    if (sock < 0) {
        printf("spawn: connect to the silent server %s\n", ename(errno));
        return 1;
    }
    int p[2];
    if (pipe(p) != 0 || dup2(p[0], 0) != 0) return perror("stdin pipe"), 1;
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
    if (pid < 0) return perror("vfork"), 1;
    int st = 0;
    long long until = ms_now() + 15000;
    pid_t w;
    while ((w = waitpid(pid, &st, WNOHANG)) == 0 && ms_now() < until)
        sleep_ms(10);
    if (w != pid) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    printf("spawn: child %s\n",
           w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "ok" : "failed");
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

int cmd_vforkfds(int dead, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        int fd = dial(dead);
        if (fd >= 0) close(fd);
        pid_t p = vfork_closer();
        if (p > 0) waitpid(p, NULL, 0);
    }
    int fd = dial(dead); /* one more event after the last child */
    if (fd >= 0) close(fd);
    printf("vforkfds: rounds=%d unix_sockets=%d\n", rounds, count_unix_fds());
    return 0;
}

void on_alarm_quiet(int sig)
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
    if (getaddrinfo(name, "80", &hints, &res) == 0) freeaddrinfo(res);
}

static bool forklock_dns;

static void *lock_churn(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_flag)) {
        int fd = socket(AF_INET, SOCK_STREAM, 0); /* the fd-record pool lock */
        if (fd >= 0) close(fd);                   /* ... and again */
        if (forklock_dns) {
            resolve("chaoshost"); /* the stale-DNS lock, looking up */
            resolve("localhost"); /* ... and storing an answer */
        }
    }
    return NULL;
}

/* DNS 0: no name resolution at all (without the shim "chaoshost" would go to the C
 * library's resolver, which a child of a threaded parent may hang in on its own). */
int cmd_forklock(int nthreads, int forks, bool dns)
{
    forklock_dns = dns;
    pthread_t t[16];
    if (nthreads > 16) nthreads = 16;
    for (int i = 0; i < nthreads; i++)
        pthread_create(&t[i], NULL, lock_churn, NULL);
    int hung = 0, bad = 0;
    for (int i = 0; i < forks; i++) {
        pid_t p = fork();
        if (p < 0) return perror("fork"), 1;
        if (p == 0) {
            /* The child takes the same locks; a lock copied while held never opens. */
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            if (fd >= 0) close(fd);
            if (dns) resolve("chaoshost");
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
