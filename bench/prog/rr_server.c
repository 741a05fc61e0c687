/* rr_server.c: the backend of the sidecar benchmark: `rr_server echo|http LIFETIME_S`
 * listens on 127.0.0.1 (a port the kernel picks, printed as the first line of stdout),
 * echoes bytes (echo) or answers every keep-alive HTTP request with a 6-byte 200 (http),
 * one thread per connection. It must never listen beyond loopback, never do work the
 * clients do not ask for (so that every microsecond measured is the path's), and never
 * outlive LIFETIME_S. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static bool http;

static bool send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static void serve_echo(int fd)
{
    char buf[4096];
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r <= 0 || !send_all(fd, buf, (size_t)r))
            return;
    }
}

/* Keep-alive HTTP/1.1; an HTTP/1.0 request (haproxy's health check) or "Connection:
 * close" gets its answer and then the connection closes, as a real server would. */
static void serve_http(int fd)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             "Content-Length: 6\r\n\r\nhello\n";
    static const char ok_close[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                   "Content-Length: 6\r\nConnection: close\r\n\r\nhello\n";
    char buf[16384];
    size_t have = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + have, sizeof buf - 1 - have, 0);
        if (r <= 0)
            return;
        have += (size_t)r;
        buf[have] = 0;
        char *end;
        while ((end = strstr(buf, "\r\n\r\n")) != NULL) {
            size_t len = (size_t)(end + 4 - buf);
            char *eol = strstr(buf, "\r\n");
            bool v10 = eol && eol - buf >= 8 && memcmp(eol - 8, "HTTP/1.0", 8) == 0;
            end[2] = 0; /* headers only, for the search below */
            bool close_it = v10 || strcasestr(buf, "\nConnection: close") != NULL;
            if (close_it)
                return (void)send_all(fd, ok_close, sizeof ok_close - 1);
            if (!send_all(fd, ok, sizeof ok - 1))
                return;
            memmove(buf, buf + len, have - len);
            have -= len;
            buf[have] = 0;
        }
        if (have == sizeof buf - 1)
            return; /* a request larger than any client here sends */
    }
}

static void *conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (http)
        serve_http(fd);
    else
        serve_echo(fd);
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "echo") && strcmp(argv[1], "http")))
        return 2;
    http = strcmp(argv[1], "http") == 0;
    int lifetime = atoi(argv[2]);
    if (lifetime < 1 || lifetime > 3600)
        return 2;
    alarm((unsigned)lifetime); /* the default action ends the process, threads and all */

    int l = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) || listen(l, 1024) ||
        getsockname(l, (struct sockaddr *)&sa, &len)) {
        perror("rr_server");
        return 1;
    }
    printf("%u\n", ntohs(sa.sin_port));
    fflush(stdout);

    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, 256 * 1024);
    for (;;) {
        int fd = accept(l, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_t t;
        if (pthread_create(&t, &at, conn, (void *)(intptr_t)fd))
            close(fd);
    }
}
