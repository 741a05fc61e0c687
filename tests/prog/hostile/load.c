/* load.c: the hostile subcommands under load: flakyserver (a server that flaps up and down)
 * and flood (threads x connects against it). It must never talk to anything but loopback
 * and never run past the life it is given. */
#include "hostile.h"

/* ---- flood: THREADS x PER connects against a flapping server ------------------------------- */

/* The server side (run without the shim): listens for UP ms, then closes its listening
 * socket for DOWN ms (connects are refused, queued ones reset), over and over, for at most
 * LIFE seconds. Each accepted connection gets its 8-byte tag echoed back; the number of
 * completed echoes is written to COUNTFILE at the end. */
static atomic_long served;
static atomic_int listen_fd = -1;

static void *serve_conn_loop(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_flag)) {
        int l = atomic_load(&listen_fd);
        if (l < 0) {
            sleep_ms(1);
            continue;
        }
        struct pollfd pf = {.fd = l, .events = POLLIN};
        if (poll(&pf, 1, 10) <= 0) continue;
        int c = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c < 0) continue;
        char tag[8];
        size_t got = 0;
        struct pollfd cp = {.fd = c, .events = POLLIN};
        while (got < sizeof tag && poll(&cp, 1, 1000) > 0) {
            ssize_t r = recv(c, tag + got, sizeof tag - got, 0);
            if (r <= 0) break;
            got += (size_t)r;
        }
        if (got == sizeof tag && send(c, tag, sizeof tag, MSG_NOSIGNAL) == (ssize_t)sizeof tag)
            atomic_fetch_add(&served, 1);
        close(c);
    }
    return NULL;
}

static volatile sig_atomic_t server_stop;
static void on_server_stop(int sig)
{
    (void)sig;
    server_stop = 1;
}

int cmd_flakyserver(int port, int up, int down, int life, const char *countfile, const char *ready)
{
    struct sigaction sa = {.sa_handler = on_server_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, serve_conn_loop, NULL);
    long long end = ms_now() + life * 1000LL;
    bool first = true;
    while (ms_now() < end && !server_stop) {
        /* Non-blocking: two accept threads may both see it readable; the loser must not
         * block in accept() past the end of the run. */
        int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        int one = 1;
        setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in a = loopback(port);
        if (bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 128) != 0) {
            perror("flakyserver: bind");
            return 1;
        }
        atomic_store(&listen_fd, l);
        if (first) {
            first = false;
            close(open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
        }
        while (down == 0 && ms_now() < end && !server_stop)
            sleep_ms(up); /* steady: one listening socket for the whole run */
        sleep_ms(up);
        atomic_store(&listen_fd, -1);
        sleep_ms(15); /* let an accept in progress finish with it */
        close(l);
        sleep_ms(down);
    }
    atomic_store(&stop_flag, true);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    /* Stopped by SIGTERM or its lifetime: the count goes to COUNTFILE. */
    FILE *f = fopen(countfile, "w");
    if (!f) return 1;
    fprintf(f, "%ld\n", atomic_load(&served));
    fclose(f);
    return 0;
}

struct flood_stats {
    int id, per, port;
    long ok, refused, reset, other, badtag;
    int other_errno;
};

static void *flood_thread(void *arg)
{
    struct flood_stats *s = arg;
    for (int i = 0; i < s->per; i++) {
        int fd = dial(s->port);
        if (fd < 0) {
            if (errno == ECONNREFUSED || errno == EHOSTUNREACH)
                s->refused++;
            else {
                s->other++;
                s->other_errno = errno;
            }
            continue;
        }
        uint32_t tag[2] = {(uint32_t)s->id, (uint32_t)i}, back[2] = {0, 0};
        ssize_t w = write(fd, tag, sizeof tag);
        size_t got = 0;
        ssize_t r = 1;
        while (w == (ssize_t)sizeof tag && got < sizeof back &&
               (r = read(fd, (char *)back + got, sizeof back - got)) > 0)
            got += (size_t)r;
        if (w == (ssize_t)sizeof tag && got == sizeof back) {
            if (back[0] == tag[0] && back[1] == tag[1])
                s->ok++;
            else
                s->badtag++;
        } else if (errno == ECONNRESET || errno == EPIPE || r == 0) {
            s->reset++;
        } else {
            s->other++;
            s->other_errno = errno;
        }
        close(fd);
    }
    return NULL;
}

int cmd_flood(int nthreads, int per, int port)
{
    if (nthreads > 64) nthreads = 64;
    signal(SIGPIPE, SIG_IGN);
    int fds0 = count_tcp_fds();
    pthread_t t[64];
    struct flood_stats s[64];
    long long t0 = ms_now();
    for (int i = 0; i < nthreads; i++) {
        s[i] = (struct flood_stats){.id = i, .per = per, .port = port};
        pthread_create(&t[i], NULL, flood_thread, &s[i]);
    }
    struct flood_stats tot = {0};
    for (int i = 0; i < nthreads; i++) {
        pthread_join(t[i], NULL);
        tot.ok += s[i].ok;
        tot.refused += s[i].refused;
        tot.reset += s[i].reset;
        tot.other += s[i].other;
        tot.badtag += s[i].badtag;
        if (s[i].other) tot.other_errno = s[i].other_errno;
    }
    long long el = ms_now() - t0;
    int fds1 = count_tcp_fds();
    printf("flood: attempts=%ld ok=%ld refused=%ld reset=%ld other=%ld(%s) badtag=%ld "
           "tcp_fds_before=%d tcp_fds_after=%d ms=%lld\n",
           (long)nthreads * per, tot.ok, tot.refused, tot.reset, tot.other, ename(tot.other_errno),
           tot.badtag, fds0, fds1, el);
    return 0;
}
