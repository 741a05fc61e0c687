/* rr_client.c: the client of the sidecar benchmark: `rr_client echo|http PORT ROUNDS
 * THREADS MS` makes ROUNDS timed round trips on one connection to 127.0.0.1:PORT (a 1-byte
 * echo, or a keep-alive HTTP GET), then THREADS connections make round trips for MS ms,
 * and prints "P50_NS P99_NS ROUNDTRIPS_PER_S". Plain blocking sockets, as the unmodified
 * programs carom is for. It must never connect beyond loopback, never time its own
 * bookkeeping (only the send-to-answer span), and never run unbounded. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 500

static bool http;
static unsigned short port;

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct conn {
    int fd;
    size_t have;
    char buf[8192];
};

static void die(const char *what)
{
    fprintf(stderr, "rr_client: %s\n", what);
    exit(1);
}

static void open_conn(struct conn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    c->have = 0;
    int one = 1;
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa))
        die("connect failed");
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            die("send failed");
        p += w;
        n -= (size_t)w;
    }
}

/* One keep-alive GET and its whole answer (headers and Content-Length body). */
static void http_round(struct conn *c)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: carom-bench\r\n\r\n";
    send_all(c->fd, req, sizeof req - 1);
    size_t need = 0;
    for (;;) {
        if (!need) {
            c->buf[c->have] = 0;
            char *end = strstr(c->buf, "\r\n\r\n");
            if (end) {
                if (strncmp(c->buf, "HTTP/1.1 200 ", 13) != 0)
                    die("answer was not 200");
                const char *cl = strcasestr(c->buf, "\r\nContent-Length:");
                if (!cl || cl > end)
                    die("answer without Content-Length");
                need = (size_t)(end + 4 - c->buf) + (size_t)strtoul(cl + 17, NULL, 10);
            }
        }
        if (need && c->have >= need)
            break;
        if (c->have >= sizeof c->buf - 1)
            die("answer too large");
        ssize_t r = recv(c->fd, c->buf + c->have, sizeof c->buf - 1 - c->have, 0);
        if (r <= 0)
            die("connection closed");
        c->have += (size_t)r;
    }
    memmove(c->buf, c->buf + need, c->have - need);
    c->have -= need;
}

static void echo_round(struct conn *c)
{
    char b = 'x';
    if (send(c->fd, &b, 1, 0) != 1 || recv(c->fd, &b, 1, 0) != 1)
        die("echo failed");
}

static void round_trip(struct conn *c)
{
    if (http)
        http_round(c);
    else
        echo_round(c);
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static long long until_ns;

static void *loader(void *arg)
{
    long *count = arg;
    struct conn *c = malloc(sizeof *c);
    if (!c)
        die("out of memory");
    open_conn(c);
    while (now_ns() < until_ns) {
        for (int i = 0; i < 16; i++) /* the clock read is amortised */
            round_trip(c);
        *count += 16;
    }
    close(c->fd);
    free(c);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 6 || (strcmp(argv[1], "echo") && strcmp(argv[1], "http")))
        return 2;
    http = strcmp(argv[1], "http") == 0;
    port = (unsigned short)atoi(argv[2]);
    long rounds = atol(argv[3]);
    int threads = atoi(argv[4]);
    long ms = atol(argv[5]);
    if (!port || rounds < 100 || threads < 1 || threads > 64 || ms < 1 || ms > 60000)
        return 2;
    alarm((unsigned)(ms / 1000 + 120)); /* never a hung benchmark */

    long long *lat = malloc((size_t)rounds * sizeof *lat);
    struct conn *c = malloc(sizeof *c);
    if (!lat || !c)
        die("out of memory");
    open_conn(c);
    for (int i = 0; i < WARMUP; i++)
        round_trip(c);
    for (long i = 0; i < rounds; i++) {
        long long t = now_ns();
        round_trip(c);
        lat[i] = now_ns() - t;
    }
    close(c->fd);
    qsort(lat, (size_t)rounds, sizeof *lat, cmp_ll);

    pthread_t tid[64];
    long count[64] = {0};
    long long t0 = now_ns();
    until_ns = t0 + ms * 1000000LL;
    for (int i = 0; i < threads; i++)
        if (pthread_create(&tid[i], NULL, loader, &count[i]))
            die("pthread_create failed");
    long total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        total += count[i];
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    printf("%lld %lld %.0f\n", lat[rounds / 2], lat[rounds * 99 / 100], (double)total / secs);
    return 0;
}
