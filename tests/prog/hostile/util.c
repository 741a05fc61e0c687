/* util.c: the hostile program's helpers: clocks, loopback dialling and echo, and counts of
 * the descriptors the process holds. It must never dial anything but 127.0.0.1, and never
 * retry on its own (a success has to be the shim's doing). */
#include "hostile.h"

/* ---- helpers ---------------------------------------------------------------------------- */

long long ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

const char *ename(int e)
{
    const char *n = e ? strerrorname_np(e) : "OK";
    return n ? n : "EUNKNOWN";
}

struct sockaddr_in loopback(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

int port_arg(const char *s)
{
    long p = strtol(s, NULL, 10);
    if (p <= 0 || p > 65535) {
        fprintf(stderr, "bad port %s\n", s);
        exit(2);
    }
    return (int)p;
}

/* A blocking connect on a fresh socket: the fd, or -1 with errno. */
int dial(int port)
{
    struct sockaddr_in a = loopback(port);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Writes msg, reads one line back (the echo server's answer). 0 or an errno. */
int echo(int fd, const char *msg, char *out, size_t cap)
{
    size_t n = strlen(msg);
    if (write(fd, msg, n) != (ssize_t)n) return errno ? errno : EIO;
    size_t got = 0;
    while (got + 1 < cap) {
        ssize_t r = read(fd, out + got, cap - 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return errno;
        if (r == 0) break;
        got += (size_t)r;
        if (memchr(out, '\n', got)) break;
    }
    out[got] = 0;
    out[strcspn(out, "\r\n")] = 0;
    return got ? 0 : EPROTO;
}

/* connect + one echo round; prints "WHO: REPLY" or "WHO: ERRNO". 0 on success. */
int dial_echo(const char *who, int port)
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
int carom_socket_fd(int limit)
{
    for (int fd = 0; fd < limit; fd++) {
        struct sockaddr_storage ss;
        socklen_t l = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &l) == 0 && ss.ss_family == AF_UNIX) return fd;
    }
    return -1;
}

/* How many TCP sockets this process holds (carom's own scoreboard socket is AF_UNIX). */
int count_tcp_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
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

atomic_bool stop_flag;

void *writer(void *arg)
{
    struct delayed_write *w = arg;
    sleep_ms(w->ms);
    if (write(w->fd, w->msg, strlen(w->msg)) < 0) perror("writer");
    return NULL;
}
