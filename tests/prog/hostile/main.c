/* main.c: the hostile host programs of the hardening tests (tests/e2e/hostile_*.sh), one
 * subcommand per way a real program breaks the shim's assumptions: closing every
 * descriptor behind its back, dup2() over carom's own socket, signals and siglongjmp in a
 * backoff sleep, fork storms, vfork and posix_spawn, forks while other threads are inside
 * the shim, connect floods, descriptors above the first RLIMIT_NOFILE, closes from
 * another thread or a signal handler. Each prints summary lines the test parses. It must
 * never retry, time out or recover on its own where the shim is under test (a success
 * has to be the shim's doing), never talk to anything but loopback, and never wait
 * without a deadline. The subcommands live one file per family (fds.c, signals.c, fork.c,
 * load.c); this file holds the few basic ones and the dispatch table. */
#include "hostile.h"

/* ---- connect: one connect + echo (what exec'd children run) -------------------------------- */

static int cmd_connect(int port)
{
    return dial_echo("connect", port);
}

/* ---- mapped: is the shim in this process? ---------------------------------------------------- */

static int cmd_mapped(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[4096];
    bool found = false;
    while (f && fgets(line, sizeof line, f))
        found |= strstr(line, "libcarom_shim") != NULL;
    if (f) fclose(f);
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
    struct addrinfo hints = {.ai_family = AF_INET,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_CANONNAME},
                    *res = NULL;
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

/* ---- the subcommands ------------------------------------------------------------------------ */

static int run_connect(char **a)
{
    return cmd_connect(port_arg(a[0]));
}
static int run_daemon(char **a)
{
    return cmd_daemon(a[0], a[1], port_arg(a[2]), port_arg(a[3]));
}
static int run_sbdup2(char **a)
{
    return cmd_sbdup2(port_arg(a[0]), atoi(a[1]), a[2]);
}
static int run_sigsleep(char **a)
{
    return cmd_sigsleep(port_arg(a[0]), port_arg(a[1]), port_arg(a[2]));
}
static int run_dnsjump(char **a)
{
    return cmd_dnsjump(a[0], port_arg(a[1]));
}
static int run_sigfast(char **a)
{
    return cmd_sigfast(atol(a[0]), port_arg(a[1]), a[2] ? atol(a[2]) : 50);
}

static int run_sigclose(char **a)
{
    return cmd_sigclose(atol(a[0]));
}
static int run_closerace(char **a)
{
    return cmd_closerace(port_arg(a[0]), a[1]);
}
static int run_storm(char **a)
{
    return cmd_storm(atoi(a[0]), atoi(a[1]), port_arg(a[2]));
}
static int run_spawn(char **a)
{
    struct sigaction sa = {.sa_handler = on_alarm_quiet};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL); /* alarm() only interrupts the bounded recv */
    return cmd_spawn(a[0], "/proc/self/exe", port_arg(a[1]), port_arg(a[2]));
}
static int run_vforkfds(char **a)
{
    return cmd_vforkfds(port_arg(a[0]), atoi(a[1]));
}
static int run_forklock(char **a)
{
    return cmd_forklock(atoi(a[0]), atoi(a[1]), atoi(a[2]) != 0);
}
static int run_flakyserver(char **a)
{
    return cmd_flakyserver(port_arg(a[0]), atoi(a[1]), atoi(a[2]), atoi(a[3]), a[4], a[5]);
}
static int run_flood(char **a)
{
    return cmd_flood(atoi(a[0]), atoi(a[1]), port_arg(a[2]));
}
static int run_highfd(char **a)
{
    return cmd_highfd(atoi(a[0]), port_arg(a[1]), a[2] ? atol(a[2]) : 0);
}
static int run_mapped(char **a)
{
    (void)a;
    return cmd_mapped();
}
static int run_canon(char **a)
{
    return cmd_canon(a[0], port_arg(a[1]), atoi(a[2]));
}

/* Each subcommand with the number of arguments it takes (min..max) and its family. */
static const struct {
    const char *name;
    int min, max;
    int (*run)(char **args); /* args: argv after the name, NULL-terminated */
} commands[] = {
    {"connect", 1, 1, run_connect},         /* main.c */
    {"mapped", 0, 0, run_mapped},           /* main.c */
    {"canon", 3, 3, run_canon},             /* main.c */
    {"daemon", 4, 4, run_daemon},           /* fds.c */
    {"sbdup2", 3, 3, run_sbdup2},           /* fds.c */
    {"closerace", 2, 2, run_closerace},     /* fds.c */
    {"highfd", 2, 3, run_highfd},           /* fds.c */
    {"sigsleep", 3, 3, run_sigsleep},       /* signals.c */
    {"dnsjump", 2, 2, run_dnsjump},         /* signals.c */
    {"sigclose", 1, 1, run_sigclose},       /* signals.c */
    {"sigfast", 2, 3, run_sigfast},         /* signals.c */
    {"storm", 3, 3, run_storm},             /* fork.c */
    {"spawn", 3, 3, run_spawn},             /* fork.c */
    {"vforkfds", 2, 2, run_vforkfds},       /* fork.c */
    {"forklock", 3, 3, run_forklock},       /* fork.c */
    {"flakyserver", 6, 6, run_flakyserver}, /* load.c */
    {"flood", 3, 3, run_flood},             /* load.c */
};

static void usage(void)
{
    fprintf(stderr, "usage: hostile SUBCOMMAND ARGS... (see tests/e2e/hostile_*.sh)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) usage();
    int nargs = argc - 2;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0 && nargs >= commands[i].min &&
            nargs <= commands[i].max)
            return commands[i].run(argv + 2);
    usage();
}
