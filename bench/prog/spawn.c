/* spawn.c: times the start-up of a program with and without the shim preloaded:
 * `spawn ROUNDS SHIM PROGRAM [ARGS...]` runs PROGRAM 2*ROUNDS times, alternating a plain
 * run and one with LD_PRELOAD=SHIM (which goes first alternates too, so drift and cache
 * warmth fall on both sides alike), and prints the median and p90 wall time of each side
 * in ns. It must never time anything but spawn-to-exit, and never let a child outlive it. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static posix_spawn_file_actions_t quiet; /* the program's stdout goes to /dev/null */

/* One run, spawn to reaped exit; -1 when the program could not run or failed. */
static long long run(char **argv, char **envp)
{
    pid_t pid;
    long long t = now_ns();
    if (posix_spawn(&pid, argv[0], &quiet, NULL, argv, envp))
        return -1;
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    return now_ns() - t;
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
    long long *a = calloc((size_t)rounds, sizeof *a), *b = calloc((size_t)rounds, sizeof *b);
    char *ld = malloc(strlen(argv[2]) + sizeof "LD_PRELOAD=");
    if (!plain || !pre || !a || !b || !ld)
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
        if (i & 1) {
            b[i] = run(prog, pre);
            a[i] = run(prog, plain);
        } else {
            a[i] = run(prog, plain);
            b[i] = run(prog, pre);
        }
        if (a[i] < 0 || b[i] < 0) {
            fprintf(stderr, "spawn: %s failed\n", prog[0]);
            return 1;
        }
    }
    qsort(a, (size_t)rounds, sizeof *a, cmp_ll);
    qsort(b, (size_t)rounds, sizeof *b, cmp_ll);
    int p90 = rounds * 9 / 10;
    printf("%lld %lld %lld %lld\n", a[rounds / 2], b[rounds / 2], a[p90], b[p90]);
    return 0;
}
