/* scoreboard_prom.c: the counters in Prometheus text format, and the /metrics server (one
 * poll loop, non-blocking clients). It must never block on one HTTP client, and never let
 * an event's text break a label (every label value is escaped). */
#include "scoreboard_int.h"

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

struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if ((size_t)n < b->cap - b->n) {
            b->n += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* A label value as the text format wants it: backslash, quote and newline escaped. */
static const char *label(const char *s, char *buf, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 3 < cap; s++) {
        if (*s == '\\' || *s == '"') {
            buf[n++] = '\\';
            buf[n++] = *s;
        } else if (*s == '\n') {
            buf[n++] = '\\';
            buf[n++] = 'n';
        } else {
            buf[n++] = *s;
        }
    }
    buf[n] = 0;
    return buf;
}

static void labels(const struct carom__sb_series *s, char *buf, size_t cap)
{
    char p[2 * CAROM_NAME_MAX + 8], e[2 * 192 + 8];
    snprintf(buf, cap, "policy=\"%s\",endpoint=\"%s\"", label(s->policy, p, sizeof p),
             label(s->endpoint, e, sizeof e));
}

static void prom_hist(struct sbuf *b, const char *name, const char *help, size_t off)
{
    sb_add(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (unsigned i = 0; i < carom__sb_nseries; i++) {
        const struct carom__sb_hist *h =
            (const struct carom__sb_hist *)((const char *)&carom__sb_series[i] + off);
        if (!h->count) continue;
        char l[1024];
        labels(&carom__sb_series[i], l, sizeof l);
        uint64_t cum = 0;
        for (unsigned j = 0; j < NB; j++) {
            cum += h->b[j];
            sb_add(b, "%s_bucket{%s,le=\"%g\"} %llu\n", name, l, carom__sb_buckets[j],
                   (unsigned long long)cum);
        }
        sb_add(b, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, l, (unsigned long long)h->count);
        sb_add(b, "%s_sum{%s} %.3f\n", name, l, h->sum); /* whole ms: exact */
        sb_add(b, "%s_count{%s} %llu\n", name, l, (unsigned long long)h->count);
    }
}

static char *prometheus_text(size_t *len)
{
    struct sbuf b = {malloc(65536), 0, 65536, false};
    if (!b.p) return NULL;
    char l[1024], x[128];

    sb_add(&b, "# HELP carom_shots_total Guarded calls finished, by outcome (ok or the error).\n"
               "# TYPE carom_shots_total counter\n");
    for (unsigned i = 0; i < carom__sb_nseries; i++) {
        labels(&carom__sb_series[i], l, sizeof l);
        for (unsigned j = 0; j < MAX_OUTCOMES && carom__sb_series[i].outcomes[j].name[0]; j++)
            sb_add(&b, "carom_shots_total{%s,outcome=\"%s\"} %llu\n", l,
                   label(carom__sb_series[i].outcomes[j].name, x, sizeof x),
                   (unsigned long long)carom__sb_series[i].outcomes[j].n);
    }
    sb_add(&b, "# HELP carom_retry_attempts_total Retries carom made (retry events).\n"
               "# TYPE carom_retry_attempts_total counter\n");
    for (unsigned i = 0; i < carom__sb_nseries; i++) {
        if (!carom__sb_series[i].events[1]) continue;
        labels(&carom__sb_series[i], l, sizeof l);
        sb_add(&b, "carom_retry_attempts_total{%s} %llu\n", l,
               (unsigned long long)carom__sb_series[i].retries);
    }
    sb_add(&b, "# HELP carom_circuit_state Circuit state as last reported: 0 closed, 1 open, "
               "2 half-open, 3 forced open by hand.\n# TYPE carom_circuit_state gauge\n");
    for (unsigned i = 0; i < carom__sb_nseries; i++) {
        const struct carom__sb_series *s = &carom__sb_series[i];
        if (!s->events[0] && !s->events[2] && !s->events[3] && !s->events[4]) continue;
        labels(s, l, sizeof l);
        sb_add(&b, "carom_circuit_state{%s} %d\n", l, s->circuit);
    }
    prom_hist(&b, "carom_retry_delay_seconds", "Backoff delay before each retry.",
              offsetof(struct carom__sb_series, delay));
    prom_hist(&b, "carom_shot_duration_seconds", "Time a guarded call took, retries included.",
              offsetof(struct carom__sb_series, duration));
    sb_add(&b, "# HELP carom_chaos_injections_total Faults injected on purpose, by fault.\n"
               "# TYPE carom_chaos_injections_total counter\n");
    for (unsigned i = 0; i < carom__sb_nseries; i++) {
        labels(&carom__sb_series[i], l, sizeof l);
        for (unsigned j = 0; j < MAX_FAULTS && carom__sb_series[i].faults[j].name[0]; j++)
            sb_add(&b, "carom_chaos_injections_total{%s,fault=\"%s\"} %llu\n", l,
                   label(carom__sb_series[i].faults[j].name, x, sizeof x),
                   (unsigned long long)carom__sb_series[i].faults[j].n);
    }
    sb_add(&b, "# HELP carom_events_total Scoreboard events received, by kind.\n"
               "# TYPE carom_events_total counter\n");
    for (unsigned i = 0; i < carom__sb_nseries; i++) {
        labels(&carom__sb_series[i], l, sizeof l);
        for (unsigned k = 0; k <= NKINDS; k++)
            if (carom__sb_series[i].events[k])
                sb_add(&b, "carom_events_total{%s,event=\"%s\"} %llu\n", l,
                       k < NKINDS ? carom__sb_kinds[k] : "other",
                       (unsigned long long)carom__sb_series[i].events[k]);
    }
    sb_add(&b,
           "# HELP carom_events_dropped_total Events the shims dropped (no listener, full "
           "buffer), as they reported them.\n# TYPE carom_events_dropped_total counter\n"
           "carom_events_dropped_total %llu\n",
           (unsigned long long)carom__sb_total_dropped);
    sb_add(&b,
           "# HELP carom_scoreboard_invalid_total Datagrams that were not carom events.\n"
           "# TYPE carom_scoreboard_invalid_total counter\ncarom_scoreboard_invalid_total %llu\n",
           (unsigned long long)carom__sb_total_invalid);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.n;
    return b.p;
}

struct carom__sb_client carom__sb_clients[MAX_CLIENTS];

int carom__sb_http_listen(const char *hostport)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || !colon[1] || (size_t)(colon - hostport) >= sizeof host) {
        fprintf(stderr, "carom scoreboard: --prometheus wants HOST:PORT, got \"%s\"\n", hostport);
        return -1;
    }
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = 0;
    char *h = host;
    if (*h == '[' && h[strlen(h) - 1] == ']') {
        h[strlen(h) - 1] = 0;
        h++;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    int r = getaddrinfo(*h ? h : NULL, colon + 1, &hints, &res);
    if (r != 0) {
        fprintf(stderr, "carom scoreboard: %s: %s\n", hostport, gai_strerror(r));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0) {
            err = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        fprintf(stderr, "carom scoreboard: cannot serve on %s: %s\n", hostport, strerror(err));
    return fd;
}

void carom__sb_client_close(struct carom__sb_client *c)
{
    close(c->fd);
    free(c->out);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

static void client_respond(struct carom__sb_client *c)
{
    char method[8] = "", target[256] = "";
    sscanf(c->in, "%7s %255s", method, target);
    bool head = strcmp(method, "HEAD") == 0;
    const char *status = "200 OK", *type = "text/plain; version=0.0.4; charset=utf-8";
    char *body = NULL;
    size_t blen = 0;
    char *q = strchr(target, '?');
    if (q) *q = 0;
    if (strcmp(method, "GET") != 0 && !head) {
        status = "405 Method Not Allowed";
        type = "text/plain";
    } else if (strcmp(target, "/metrics") == 0) {
        body = prometheus_text(&blen);
        if (!body) status = "500 Internal Server Error";
    } else if (strcmp(target, "/") == 0) {
        type = "text/html";
        body = strdup("<html><body><a href=\"/metrics\">carom metrics</a></body></html>\n");
        blen = body ? strlen(body) : 0;
    } else {
        status = "404 Not Found";
        type = "text/plain";
    }
    if (!body) {
        body = strdup(status);
        blen = body ? strlen(body) : 0;
    }
    char hdr[256];
    int hn = snprintf(hdr, sizeof hdr,
                      "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      status, type, blen);
    size_t total = (size_t)hn + (head ? 0 : blen);
    c->out = malloc(total);
    if (!c->out) {
        free(body);
        carom__sb_client_close(c);
        return;
    }
    memcpy(c->out, hdr, (size_t)hn);
    if (!head && body) memcpy(c->out + hn, body, blen);
    free(body);
    c->nout = total;
    c->sent = 0;
}

void carom__sb_client_io(struct carom__sb_client *c, short revents)
{
    if (!c->out && (revents & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = recv(c->fd, c->in + c->nin, sizeof c->in - 1 - c->nin, 0);
        if (n <= 0) {
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
            carom__sb_client_close(c);
            return;
        }
        c->nin += (size_t)n;
        c->in[c->nin] = 0;
        if (strstr(c->in, "\r\n\r\n") || strstr(c->in, "\n\n"))
            client_respond(c);
        else if (c->nin >= sizeof c->in - 1)
            carom__sb_client_close(c); /* a request this large is not a scrape */
        return;
    }
    if (c->out && (revents & (POLLOUT | POLLHUP | POLLERR))) {
        ssize_t n = send(c->fd, c->out + c->sent, c->nout - c->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) carom__sb_client_close(c);
            return;
        }
        c->sent += (size_t)n;
        if (c->sent == c->nout) carom__sb_client_close(c);
    }
}

void carom__sb_http_accept(int hfd)
{
    for (;;) {
        int fd = accept4(hfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) return;
        struct carom__sb_client *c = NULL;
        for (unsigned i = 0; i < MAX_CLIENTS && !c; i++)
            if (carom__sb_clients[i].fd < 0) c = &carom__sb_clients[i];
        if (!c) {
            close(fd); /* busy: the scraper retries next interval */
            continue;
        }
        c->fd = fd;
        c->nin = 0;
        c->since = carom__mono_ms();
    }
}
