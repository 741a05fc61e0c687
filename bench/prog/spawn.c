/* spawn.c: times the start-up of a program with and without the shim preloaded:
 * `spawn ROUNDS SHIM PROGRAM [ARGS...]` runs PROGRAM 2*ROUNDS times, alternating a plain
 * run and one with LD_PRELOAD=SHIM (which goes first alternates too, so drift and cache
 * warmth fall on both sides alike), and prints, in ns: the plain run's median wall time,
 * the median and p90 of the per-pair wall-time difference, the plain run's median CPU
 * time (user + system, from wait4) and the median per-pair CPU-time difference. CPU time
 * is what the shim costs; wall time is what a user waits, which on a busy machine also
 * holds the time spent waiting for a CPU. It must never time anything but spawn-to-exit,
 * and never let a child outlive it. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static long long at(long long *v, int n, int pct)
{
    qsort(v, (size_t)n, sizeof *v, cmp_ll);
    return v[(long)n * pct / 100 < n ? (long)n * pct / 100 : n - 1];
}

static posix_spawn_file_actions_t quiet; /* the program's stdout goes to /dev/null */

/* One run, spawn to reaped exit: wall and CPU time in ns; false when it failed. */
static int run(char **argv, char **envp, long long *wall, long long *cpu)
{
    pid_t pid;
    long long t = now_ns();
    if (posix_spawn(&pid, argv[0], &quiet, NULL, argv, envp))
        return 0;
    int st;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return 0;
    *wall = now_ns() - t;
    *cpu = ((long long)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
           ((long long)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    int rounds = atoi(argv[1]);
    if (rounds < 1 || rounds > 100000)
        return 2;
    /* The plain environment without any LD_PRELOAD; the shim's adds one. */
    size_t ne = 0;
    for (char **e = environ; *e; e++)
        ne++;
    char **plain = calloc(ne + 1, sizeof *plain), **pre = calloc(ne + 2, sizeof *pre);
    long long *pw = calloc((size_t)rounds, sizeof *pw), *dw = calloc((size_t)rounds, sizeof *dw);
    long long *pc = calloc((size_t)rounds, sizeof *pc), *dc = calloc((size_t)rounds, sizeof *dc);
    char *ld = malloc(strlen(argv[2]) + sizeof "LD_PRELOAD=");
    if (!plain || !pre || !pw || !dw || !pc || !dc || !ld)
        return 2;
    sprintf(ld, "LD_PRELOAD=%s", argv[2]);
    size_t k = 0;
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "LD_PRELOAD=", 11) != 0) {
            plain[k] = *e;
            pre[k] = *e;
            k++;
        }
    pre[k] = ld;
    char **prog = argv + 3;
    if (posix_spawn_file_actions_init(&quiet) ||
        posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0))
        return 2;
    for (int i = 0; i < rounds; i++) {
        long long aw, ac, bw, bc;
        int ok;
        if (i & 1)
            ok = run(prog, pre, &bw, &bc) && run(prog, plain, &aw, &ac);
        else
            ok = run(prog, plain, &aw, &ac) && run(prog, pre, &bw, &bc);
        if (!ok) {
            fprintf(stderr, "spawn: %s failed\n", prog[0]);
            return 1;
        }
        pw[i] = aw;
        pc[i] = ac;
        dw[i] = bw - aw;
        dc[i] = bc - ac;
    }
    long long p50w = at(pw, rounds, 50), p50c = at(pc, rounds, 50);
    long long d50c = at(dc, rounds, 50);
    long long d50w = at(dw, rounds, 50), d90w = at(dw, rounds, 90);
    printf("%lld %lld %lld %lld %lld\n", p50w, d50w, d90w, p50c, d50c);
    return 0;
}
