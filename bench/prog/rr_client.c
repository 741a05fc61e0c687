/* rr_client.c: the client of the sidecar benchmark, round trips to 127.0.0.1:PORT (a 1-byte
 * echo, or a keep-alive HTTP GET) on plain blocking sockets, as the unmodified programs
 * carom is for:
 *   rr_client echo|http PORT THREADS TURNS BATCH TOKEN_IN TOKEN_OUT
 * It works only while holding a token passed round a ring of FIFOs, so that several
 * clients (direct, through the shim, through haproxy) alternate every few milliseconds and
 * the machine's noise falls on all of them alike. The first turn connects THREADS
 * connections and warms them up; the next TURNS turns time BATCH round trips each on one
 * connection (latency); the last TURNS turns have THREADS threads make BATCH round trips
 * each at once, timed as a whole (throughput). Prints "P50_NS P99_NS ROUNDTRIPS_PER_S".
 * It must never connect beyond loopback, never time its own bookkeeping (only
 * send-to-answer spans, and whole throughput turns), and never run unbounded. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 500
/* Untimed round trips at the start of each latency turn: the client that just passed the
 * token may still be finishing its write on this CPU, and that is not our latency. */
#define LEAD_IN 50
#define MAX_THREADS 16

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

/* ---- the token ring ------------------------------------------------------------------- */

static int tok_in, tok_out;

static void take(void)
{
    char t;
    if (read(tok_in, &t, 1) != 1)
        die("token lost");
}

static void pass(void)
{
    char t = 't';
    if (write(tok_out, &t, 1) != 1)
        die("token not passed");
}

/* ---- throughput workers: each owns a connection and runs when the main thread says ---- */

static struct conn conns[MAX_THREADS];
static long batch;
static pthread_barrier_t go, done;
static volatile bool stopping;

static void *worker(void *arg)
{
    struct conn *c = arg;
    for (;;) {
        pthread_barrier_wait(&go);
        if (stopping)
            return NULL;
        for (long i = 0; i < batch; i++)
            round_trip(c);
        pthread_barrier_wait(&done);
    }
}

int main(int argc, char **argv)
{
    if (argc != 8 || (strcmp(argv[1], "echo") && strcmp(argv[1], "http")))
        return 2;
    http = strcmp(argv[1], "http") == 0;
    port = (unsigned short)atoi(argv[2]);
    int threads = atoi(argv[3]);
    long turns = atol(argv[4]);
    batch = atol(argv[5]);
    if (!port || threads < 1 || threads > MAX_THREADS || turns < 1 || batch < 1 ||
        turns * batch < 100 || turns * batch > 10000000)
        return 2;
    alarm(120); /* never a hung benchmark */
    signal(SIGPIPE, SIG_IGN);
    /* O_RDWR: a FIFO opened so never blocks in open(), whatever order the ring starts. */
    tok_in = open(argv[6], O_RDWR);
    tok_out = open(argv[7], O_RDWR);
    long long *lat = malloc((size_t)(turns * batch) * sizeof *lat);
    if (tok_in < 0 || tok_out < 0 || !lat)
        die("set-up failed");

    take();
    for (int i = 0; i < threads; i++) {
        open_conn(&conns[i]);
        for (int k = 0; k < WARMUP; k++)
            round_trip(&conns[i]);
    }
    pthread_t tid[MAX_THREADS];
    if (pthread_barrier_init(&go, NULL, (unsigned)threads + 1) ||
        pthread_barrier_init(&done, NULL, (unsigned)threads + 1))
        die("barrier");
    for (int i = 0; i < threads; i++)
        if (pthread_create(&tid[i], NULL, worker, &conns[i]))
            die("pthread_create failed");
    pass();

    long k = 0;
    for (long t = 0; t < turns; t++) {
        take();
        for (int i = 0; i < LEAD_IN; i++)
            round_trip(&conns[0]);
        for (long i = 0; i < batch; i++) {
            long long t0 = now_ns();
            round_trip(&conns[0]);
            lat[k++] = now_ns() - t0;
        }
        pass();
    }

    long long busy = 0;
    for (long t = 0; t < turns; t++) {
        take();
        long long t0 = now_ns();
        pthread_barrier_wait(&go);
        pthread_barrier_wait(&done);
        busy += now_ns() - t0;
        if (t == turns - 1) { /* while still holding the token: nobody else is timing */
            stopping = true;
            pthread_barrier_wait(&go);
            for (int i = 0; i < threads; i++) {
                pthread_join(tid[i], NULL);
                close(conns[i].fd);
            }
        }
        pass();
    }

    qsort(lat, (size_t)k, sizeof *lat, cmp_ll);
    printf("%lld %lld %.0f\n", lat[k / 2], lat[k * 99 / 100],
           (double)threads * (double)batch * (double)turns / ((double)busy / 1e9));
    return 0;
}
