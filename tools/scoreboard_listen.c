/* scoreboard_listen.c: the event socket `carom scoreboard` listens on: finds its path
 * (as the shims do), binds it, and removes it at exit. It must never replace a live
 * listener or anything but a stale socket, and never unlink a socket file it did not
 * create. */
#include "scoreboard_int.h"
#include "carom_tools.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* The socket path the shims use, derived as they derive it (carom_policy_scoreboard_path:
 * $CAROM_SCOREBOARD, else the config's [scoreboard] socket, else the default). The config
 * is read only when the environment does not name the socket. */
const char *carom__sb_socket_path(const char *config, char *buf, size_t len)
{
    const char *env = secure_getenv("CAROM_SCOREBOARD");
    carom_table *t = NULL;
    if (!env || !*env) {
        char pathbuf[4096];
        const char *path = config ? config : carom__config_find(pathbuf, sizeof pathbuf);
        t = path ? carom__config_load(path, NULL, NULL) : NULL;
    }
    snprintf(buf, len, "%s", carom_policy_scoreboard_path(t));
    if (t) carom_policy_free(t);
    return buf;
}

/* ---- the listening socket ------------------------------------------------------------------- */

static struct stat bound_st; /* the socket file we created: unlinked at exit only if still it */

/* Binds the listening socket, replacing a stale socket file but never a live listener or
 * anything that is not a socket. The file is created 0600: events are per user, like the
 * shared state. */
int carom__sb_listen_on(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path || !*path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    mode_t old = umask(077);
    int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    if (r != 0 && errno == EADDRINUSE) {
        struct stat st;
        int probe = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        bool live = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0;
        if (probe >= 0) close(probe);
        if (live) {
            fprintf(stderr, "carom scoreboard: %s: another listener is running\n", path);
            errno = EADDRINUSE;
        } else if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode)) {
            fprintf(stderr, "carom scoreboard: %s exists and is not a socket\n", path);
            errno = EEXIST;
        } else {
            unlink(path); /* a stale socket: its listener died without cleaning up */
            r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
        }
    }
    int e = errno;
    umask(old);
    if (r != 0) {
        close(fd);
        errno = e;
        return -1;
    }
    lstat(path, &bound_st);
    int big = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    return fd;
}

void carom__sb_unlink_ours(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0 && st.st_ino == bound_st.st_ino && st.st_dev == bound_st.st_dev)
        unlink(path);
}
