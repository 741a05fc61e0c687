/* events.c: the scoreboard emitter: one JSON object per datagram (at most 512 bytes) sent
 * to a UNIX socket without ever blocking. With no listener it backs off for a second and
 * only counts drops, so an event then costs a clock read and an increment. It must never
 * block, never use stdio, never put payload bytes, query strings, userinfo or headers in
 * an event, and never write into a descriptor the program has taken over. */
#include "carom_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#define EVENT_MAX 512

static _Atomic int sb_fd = -1;
static _Atomic uint64_t sb_quiet_until_ms; /* no listener: don't try before this */
static _Atomic uint64_t sb_drops;
static _Atomic uint64_t sb_serial;
static struct sockaddr_un sb_self; /* our abstract name: proves the fd is still ours */
static socklen_t sb_self_len;
static pthread_once_t sb_once = PTHREAD_ONCE_INIT;
static struct sockaddr_un sb_to;
static socklen_t sb_to_len;

static void sb_resolve_path(void)
{
    const char *p = secure_getenv("CAROM_SCOREBOARD");
    if (!p || !*p)
        p = carom__g.table ? carom_policy_scoreboard(carom__g.table) : "/tmp/carom-scoreboard.sock";
    sb_to.sun_family = AF_UNIX;
    size_t n = strlen(p);
    if (n >= sizeof sb_to.sun_path)
        n = sizeof sb_to.sun_path - 1;
    memcpy(sb_to.sun_path, p, n);
    sb_to_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
}

void carom__emit_fd_closed(int lo, int hi);
void carom__emit_fd_closed(int lo, int hi)
{
    int fd = atomic_load_explicit(&sb_fd, memory_order_relaxed);
    if (CAROM_UNLIKELY(fd >= 0 && fd >= lo && fd <= hi)) {
        /* The program closes or replaces it: forget it, never close what it now owns. */
        int expect = fd;
        atomic_compare_exchange_strong(&sb_fd, &expect, -1);
    }
}

static int sb_open(void)
{
    int fd = carom__real.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un me = {.sun_family = AF_UNIX};
    int n = snprintf(me.sun_path + 1, sizeof me.sun_path - 1, "carom-sb-%d-%llu", (int)getpid(),
                     (unsigned long long)atomic_fetch_add(&sb_serial, 1));
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    if (bind(fd, (struct sockaddr *)&me, len) != 0) {
        carom__real.close(fd);
        return -1;
    }
    int expect = -1;
    if (!atomic_compare_exchange_strong(&sb_fd, &expect, fd)) {
        carom__real.close(fd);
        return expect;
    }
    sb_self = me;
    sb_self_len = len;
    return fd;
}

/* True when fd is still the socket we bound: a daemon may have closed every descriptor
 * with a raw close_range and reused the number. */
static bool sb_still_ours(int fd)
{
    struct sockaddr_un got;
    socklen_t len = sizeof got;
    if (getsockname(fd, (struct sockaddr *)&got, &len) != 0 || len != sb_self_len)
        return false;
    return memcmp(&got, &sb_self, len) == 0;
}

/* ---- JSON ------------------------------------------------------------------------------------ */

struct jbuf {
    char *p;
    size_t n, cap;
};

static void put(struct jbuf *b, const char *s, size_t n)
{
    if (b->n + n >= b->cap)
        n = b->cap - 1 - b->n;
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void put_str(struct jbuf *b, const char *key, const char *v, size_t max)
{
    char tmp[EVENT_MAX];
    size_t t = 0;
    t += (size_t)snprintf(tmp, sizeof tmp, ",\"%s\":\"", key);
    for (const unsigned char *s = (const unsigned char *)v; *s && max; s++, max--) {
        if (t + 8 >= sizeof tmp)
            break;
        if (*s == '"' || *s == '\\') {
            tmp[t++] = '\\';
            tmp[t++] = (char)*s;
        } else if (*s < 0x20 || *s >= 0x7f) {
            /* Non-ASCII is escaped byte by byte so the datagram is always valid JSON. */
            t += (size_t)snprintf(tmp + t, sizeof tmp - t, "\\u%04x", *s);
        } else {
            tmp[t++] = (char)*s;
        }
    }
    tmp[t++] = '"';
    put(b, tmp, t);
}

static void put_int(struct jbuf *b, const char *key, long long v)
{
    char tmp[48];
    int n = snprintf(tmp, sizeof tmp, ",\"%s\":%lld", key, v);
    put(b, tmp, (size_t)n);
}

/* Formats ev into out (cap >= EVENT_MAX); the result is valid JSON of at most 511 bytes
 * because every field is bounded before it is written. Returns the length. */
size_t carom__event_encode(const struct carom_event *ev, uint64_t dropped, char *out, size_t cap);
size_t carom__event_encode(const struct carom_event *ev, uint64_t dropped, char *out, size_t cap)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct jbuf b = {out, 0, cap};
    char head[64];
    int n = snprintf(head, sizeof head, "{\"ts\":%llu",
                     (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec);
    put(&b, head, (size_t)n);
    put_int(&b, "pid", (long long)getpid());
    put_str(&b, "event", ev->event ? ev->event : "?", 24);
    if (ev->policy)
        put_str(&b, "policy", ev->policy, 63);
    if (ev->endpoint)
        put_str(&b, "endpoint", ev->endpoint, 95);
    if (ev->call)
        put_str(&b, "call", ev->call, 24);
    if (ev->attempt)
        put_int(&b, "attempt", ev->attempt);
    if (ev->delay_ms >= 0)
        put_int(&b, "delay_ms", ev->delay_ms);
    if (ev->elapsed_ms >= 0)
        put_int(&b, "elapsed_ms", ev->elapsed_ms);
    if (ev->error)
        put_str(&b, "error", ev->error, 32);
    if (ev->detail)
        put_str(&b, "detail", ev->detail, 120);
    if (dropped)
        put_int(&b, "dropped", (long long)dropped);
    put(&b, "}", 1);
    /* put() stops one short of cap, so the closing brace always fits. */
    out[b.n] = 0;
    return b.n;
}

void carom__emit(const struct carom_event *ev)
{
    uint64_t now = carom__now_ms();
    if (now < atomic_load_explicit(&sb_quiet_until_ms, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&sb_drops, 1, memory_order_relaxed);
        return;
    }
    pthread_once(&sb_once, sb_resolve_path);
    int fd = atomic_load(&sb_fd);
    if (fd >= 0 && !sb_still_ours(fd)) {
        int expect = fd;
        atomic_compare_exchange_strong(&sb_fd, &expect, -1);
        fd = -1;
    }
    if (fd < 0 && (fd = sb_open()) < 0) {
        atomic_fetch_add_explicit(&sb_drops, 1, memory_order_relaxed);
        return;
    }
    char buf[EVENT_MAX];
    uint64_t dropped = atomic_exchange(&sb_drops, 0);
    size_t len = carom__event_encode(ev, dropped, buf, sizeof buf);
    ssize_t r = carom__real.sendto(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL,
                                   (struct sockaddr *)&sb_to, sb_to_len);
    if (r < 0) {
        atomic_fetch_add_explicit(&sb_drops, dropped + 1, memory_order_relaxed);
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            atomic_store_explicit(&sb_quiet_until_ms, now + 1000, memory_order_relaxed);
    }
}
