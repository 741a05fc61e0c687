/* fds.c: the hostile subcommands that close or replace descriptors behind the shim's back:
 * daemon (close every descriptor, then use the network), sbdup2 (dup2 over carom's
 * scoreboard socket), closerace (another thread closes the socket during a backoff) and
 * highfd (a socket above the first RLIMIT_NOFILE). It must never wait without a deadline. */
#include "hostile.h"

/* ---- daemon: close every descriptor, then use the network -------------------------------- */

/* The daemon connects (the shim tracks the socket, with io_timeout_ms and a circuit
 * breaker from the test's config) and closes every descriptor above stderr the way HOW
 * says; the freed number then takes WHAT:
 * - pipe: a pipe whose data arrives later than io_timeout_ms; the read must return it.
 *   Then a second connect, to PORT2 (late), must still be retried.
 * - peer: a UNIX socket pair whose peer has gone; five writes fail with EPIPE. Then a
 *   second connect to the same server (PORT1): those errors were not the server's, so
 *   its circuit must still be closed.
 * Whatever the shim remembered about the old socket must not act on the new occupant. */
int cmd_daemon(const char *how, const char *what, int port1, int port2)
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
        if (close_range(3, ~0U, 0) != 0) return perror("close_range"), 1;
    } else if (strcmp(how, "syscall") == 0) {
        if (syscall(SYS_close_range, 3, ~0U, 0) != 0) return perror("syscall close_range"), 1;
    } else if (strcmp(how, "fclose") == 0) {
        /* The classic line-oriented client: fdopen() the socket, fclose() it. glibc's
         * fclose closes the descriptor internally, past any interposed close(). */
        FILE *f = fdopen(fd, "r+");
        if (!f) return perror("fdopen"), 1;
        fclose(f);
    } else {
        fprintf(stderr, "daemon: unknown way %s\n", how);
        return 2;
    }
    if (strcmp(what, "peer") == 0) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return perror("socketpair"), 1;
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
    if (pipe(p) != 0) return perror("pipe"), 1;
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

static atomic_long emitted;

/* Every connect to a dead port is a finished shot: one event each. */
static void *event_pump(void *arg)
{
    int port = *(int *)arg;
    while (!atomic_load(&stop_flag)) {
        int fd = dial(port);
        if (fd >= 0) close(fd);
        atomic_fetch_add(&emitted, 1);
    }
    return NULL;
}

/* A connected TCP pair: cli is what the program dup2()s over carom's socket; anything
 * written into it (TCP ignores sendto's address) arrives at srv. The listener never takes
 * the dead port: both are ephemeral, and the pumps' refusals have opened that port's
 * circuit, so a connect to it would be refused by design (one CI run in ~50 drew it). */
static int tcp_pair(int avoid, int *cli, int *srv)
{
    int l;
    struct sockaddr_in a;
    for (;;) {
        l = socket(AF_INET, SOCK_STREAM, 0);
        a = loopback(0);
        socklen_t al = sizeof a;
        if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 1) != 0 ||
            getsockname(l, (struct sockaddr *)&a, &al) != 0)
            return -1;
        if (ntohs(a.sin_port) != avoid) break;
        close(l);
    }
    *cli = socket(AF_INET, SOCK_STREAM, 0);
    if (*cli < 0 || connect(*cli, (struct sockaddr *)&a, sizeof a) != 0) return -1;
    *srv = accept(l, NULL, NULL);
    close(l);
    return *srv < 0 ? -1 : 0;
}

int cmd_sbdup2(int dead, int iters, const char *how)
{
    int fd = dial(dead); /* the first event opens carom's socket */
    if (fd >= 0) close(fd);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, event_pump, &dead);
    long leaked = 0, replaced = 0, missing = 0;
    for (int i = 0; i < iters; i++) {
        int sb = -1;
        for (int k = 0; k < 200 && sb < 0; k++) {
            sb = carom_socket_fd(64);
            if (sb < 0) sleep_ms(1);
        }
        if (sb < 0) {
            missing++;
            continue;
        }
        int cli, srv;
        if (tcp_pair(dead, &cli, &srv) != 0) return perror("tcp pair"), 1;
        int r = strcmp(how, "dup3") == 0 ? dup3(cli, sb, O_CLOEXEC) : dup2(cli, sb);
        if (r != sb) return perror("dup2"), 1;
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

int cmd_closerace(int port, const char *path)
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
    printf("closerace: connect %s; fd %d (was the socket %d) is %s; write %s\n", ename(e), r.filefd,
           r.fd,
           S_ISREG(st.st_mode)    ? "the file"
           : S_ISSOCK(st.st_mode) ? "a socket"
                                  : "other",
           w == (ssize_t)strlen(msg) ? "ok" : ename(we));
    return S_ISREG(st.st_mode) && w == (ssize_t)strlen(msg) ? 0 : 1;
}

/* ---- highfd: a socket above the first RLIMIT_NOFILE ---------------------------------------- */

/* Raises the soft limit (to the hard one, or HARD when given: root may raise the hard
 * limit too), moves a fresh socket to fd FD and connects it to a late server. */
int cmd_highfd(int target, int port, long hard)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t first = rl.rlim_cur;
    if (hard > 0) rl.rlim_max = (rlim_t)hard;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) return perror("setrlimit"), 1;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || dup2(s, target) != target) return perror("dup2"), 1;
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
