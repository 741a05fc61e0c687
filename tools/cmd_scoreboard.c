/* cmd_scoreboard.c: `carom scoreboard` (listen to the shims' events) and `carom cushions`.
 * It must never write to the shared state it displays, and never leave a stale socket
 * file it created behind on a clean exit. */
#include "carom_tools.h"

#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../policy/carom_policy.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* The socket path the shims use: $CAROM_SCOREBOARD, else the config's [scoreboard]. */
static const char *socket_path(const char *config, char *buf, size_t len)
{
    const char *env = getenv("CAROM_SCOREBOARD");
    if (env && *env)
        return env;
    char pathbuf[4096];
    const char *path = config ? config : carom_policy_find(pathbuf, sizeof pathbuf);
    carom_table *t = path ? carom_policy_load(path, NULL, NULL) : NULL;
    snprintf(buf, len, "%s", t ? carom_policy_scoreboard(t) : "/tmp/carom-scoreboard.sock");
    if (t)
        carom_policy_free(t);
    return buf;
}

/* Binds the listening socket, replacing a stale socket file but never a live listener or
 * anything that is not a socket. */
static int listen_on(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        close(fd);
        return -1;
    }
    strcpy(sa.sun_path, path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        /* bound at the first try */
    } else if (errno == EADDRINUSE) {
        struct stat st;
        int probe = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        bool live = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0;
        if (probe >= 0)
            close(probe);
        if (live) {
            fprintf(stderr, "carom scoreboard: %s: another listener is running\n", path);
            close(fd);
            return -1;
        }
        if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode)) {
            fprintf(stderr, "carom scoreboard: %s exists and is not a socket\n", path);
            close(fd);
            return -1;
        }
        unlink(path);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            close(fd);
            return -1;
        }
    } else {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    chmod(path, 0600);
    int big = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    return fd;
}

int carom_cmd_scoreboard(int argc, char **argv)
{
    bool json = false;
    const char *config = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            config = argv[++i];
        else {
            fprintf(stderr, "usage: carom scoreboard [-c FILE] [--json]\n");
            return 2;
        }
    }
    char buf[4096];
    const char *path = socket_path(config, buf, sizeof buf);
    int fd = listen_on(path);
    if (fd < 0) {
        fprintf(stderr, "carom scoreboard: cannot listen on %s: %s\n", path, strerror(errno));
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (!json)
        fprintf(stderr, "carom scoreboard: listening on %s (the live table comes with --json "
                        "for now)\n",
                path);
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (!stop) {
        char msg[1024];
        ssize_t n = recv(fd, msg, sizeof msg - 1, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        msg[n] = 0;
        printf("%s\n", msg);
    }
    close(fd);
    unlink(path);
    return 0;
}

int carom_cmd_cushions(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "carom cushions: circuits are per process until shared state lands\n");
    return 2;
}
