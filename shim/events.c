/* events.c: the scoreboard emitter: one JSON object per datagram (at most 511 bytes) sent
 * without waiting to the UNIX socket named by $CAROM_SCOREBOARD or [scoreboard] socket.
 * With no listener it tries again at most once a second and otherwise only counts the
 * event as dropped (a clock read and an increment); drops are reported in the next event
 * that gets through. It must never block, never use stdio, never put payload bytes, URL
 * query strings, userinfo or headers in an event, and never send into a descriptor the
 * program has taken over (closed, reused or dup2()ed over). */
#include "carom_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define EVENT_MAX 512
#define QUIET_MS 1000 /* no listener: how long to drop before trying again */

_Atomic int carom__sb_fd = -1;             /* read inline by close/dup2 (carom_shim.h) */
_Atomic uint64_t carom__sb_quiet_until_ms; /* no listener: don't try before this */
_Atomic uint64_t carom__sb_drops;
static _Atomic int sb_opening;  /* one thread at a time creates the socket */
static _Atomic int sb_inflight; /* sends between loading carom__sb_fd and finishing with it */
static __thread int sb_sending; /* this thread is inside a send (a handler may interrupt it) */
static _Atomic uint64_t sb_owner_ok_until_ms; /* the socket file's owner was checked */
/* The kernel-assigned (autobind) abstract name of the socket in carom__sb_fd, written before the
 * fd is published: getsockname() proves a descriptor number still holds our socket. */
/* Our socket's identity: a hash of the abstract name the kernel gave it. One atomic word,
 * so a thread checking an old descriptor never reads a name another thread is rewriting. */
static _Atomic uint64_t sb_self_id;

static uint64_t name_id(const struct sockaddr_un *sa, socklen_t len)
{
    return carom_fnv1a(CAROM_FNV1A_INIT ^ len, sa, len) | 1; /* never 0, the "none yet" value */
}
static pthread_once_t sb_once = PTHREAD_ONCE_INIT;
static struct sockaddr_un sb_to;
static socklen_t sb_to_len; /* 0: no usable destination; every event is dropped */

static void sb_resolve_path(void)
{
    /* Before init has a table (a config error is being reported) only the environment
     * can name the socket; carom_policy_scoreboard_path gives $CAROM_SCOREBOARD first, and
     * the default when there is no table. */
    const char *p = carom_policy_scoreboard_path(carom__g.table);
    size_t n = strlen(p);
    if (n == 0 || n >= sizeof sb_to.sun_path)
        return; /* a truncated path would name some other socket: send nothing */
    sb_to.sun_family = AF_UNIX;
    memcpy(sb_to.sun_path, p, n);
    sb_to_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
}

/* The program closed or replaced descriptors lo..hi (close, close_range, dup2 onto one of
 * them). If ours was among them it is the program's now: forget it (never close it), and
 * wait for sends that already loaded it to finish, so none lands in the program's file
 * after the caller returns. Those sends are non-blocking, so the wait is short; it is
 * bounded anyway (a signal handler may interrupt a send on this very thread). */
void carom__emit_fd_closed(int lo, int hi)
{
    int fd = atomic_load_explicit(&carom__sb_fd, memory_order_relaxed);
    if (CAROM_LIKELY(fd < 0 || fd < lo || fd > hi)) return;
    /* A vfork child shares our memory but not our descriptors: what it closes is its own
     * copy, and forgetting ours would leak it in the parent (hostile_vfork_scoreboard). */
    if (carom__vfork_child()) return;
    int expect = fd;
    atomic_compare_exchange_strong(&carom__sb_fd, &expect, -1);
    /* Bounded by time, not by a count of yields: a sender preempted between its check and
     * its send may need a whole time slice (hostile_sbdup2). Only this thread's own
     * interrupted send could never finish while we wait; then we do not wait. */
    if (sb_sending) return;
    uint64_t until = carom__now_ms() + 200;
    while (atomic_load(&sb_inflight) > 0 && carom__now_ms() < until)
        sched_yield();
}

/* The listening socket must belong to us: a socket file another local user made (in
 * /tmp, say) must not receive our events (hostile_scoreboard_owner). Checked once a
 * second while events flow. */
static bool sb_owner_ok(uint64_t now)
{
    if (now < atomic_load_explicit(&sb_owner_ok_until_ms, memory_order_relaxed)) return true;
    struct stat st;
    if (lstat(sb_to.sun_path, &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_uid != geteuid())
        return false;
    atomic_store_explicit(&sb_owner_ok_until_ms, now + QUIET_MS, memory_order_relaxed);
    return true;
}

/* Creates, binds and publishes the sending socket; -1 when another thread is doing it or
 * it cannot be made. */
static int sb_open(void)
{
    if (carom__vfork_child()) return -1; /* it would be published in the parent's memory */
    int busy = 0;
    if (!atomic_compare_exchange_strong(&sb_opening, &busy, 1)) return -1;
    int fd = carom__real.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd >= 0) {
        /* Autobind: binding only the family makes the kernel pick a unique abstract name,
         * which no other socket in the system can have. */
        struct sockaddr_un me = {.sun_family = AF_UNIX};
        socklen_t len = sizeof me;
        if (bind(fd, (struct sockaddr *)&me, sizeof(sa_family_t)) != 0 ||
            getsockname(fd, (struct sockaddr *)&me, &len) != 0 || len > sizeof me) {
            carom__real.close(fd);
            fd = -1;
        } else {
            atomic_store(&sb_self_id, name_id(&me, len));
            atomic_store(&carom__sb_fd, fd);
        }
    }
    atomic_store(&sb_opening, 0);
    return fd;
}

/* True when fd is still the socket we bound: a daemon may have closed every descriptor
 * with a raw system call and reused the number, which no wrapper saw. */
static bool sb_still_ours(int fd)
{
    struct sockaddr_un got;
    socklen_t len = sizeof got;
    if (getsockname(fd, (struct sockaddr *)&got, &len) != 0 || len > sizeof got) return false;
    return name_id(&got, len) == atomic_load(&sb_self_id);
}

/* ---- JSON ------------------------------------------------------------------------------------ */

struct jbuf {
    char *p;
    size_t n, cap; /* cap counts the terminating NUL */
};

static void put(struct jbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap)
        n = b->cap - 1 - b->n; /* unreachable: every field is bounded below */
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

/* Length of the well-formed UTF-8 sequence at s (at most `left` bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
    size_t n;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4;
    else
        return 0;
    if (n > left) return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    /* Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8. */
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
        return 0;
    return n;
}

/* Copies src (at most `max` bytes of it) into dst without what must never leave the
 * process: in a URL ("scheme://"), the userinfo before '@' and everything from '?' or
 * '#' to the end of the URL; in an endpoint field, anything up to a '@' and anything from
 * a '/', '?' or '#'. Returns the
 * length; dst gets a NUL. */
static size_t scrub(const char *src, size_t max, bool endpoint, char *dst, size_t cap)
{
    size_t n = 0, i = 0;
    if (endpoint) {
        const char *at = NULL;
        for (size_t k = 0; k < max && src[k]; k++)
            if (src[k] == '@') at = src + k;
        if (at) {
            max -= (size_t)(at + 1 - src);
            src = at + 1;
        }
        /* An endpoint is host:port; a path, query or fragment that reached this field by
         * mistake is cut off whole (fuzz_event_encode). */
        for (size_t k = 0; k < max && src[k]; k++)
            if (src[k] == '/' || src[k] == '?' || src[k] == '#') {
                max = k;
                break;
            }
    }
    while (i < max && src[i] && n + 1 < cap) {
        if (src[i] == ':' && i + 2 < max && src[i + 1] == '/' && src[i + 2] == '/') {
            if (n + 4 > cap) break;
            memcpy(dst + n, "://", 3);
            n += 3;
            i += 3;
            /* The authority ends at '/', '?', '#' or the end of the URL; userinfo is the
             * part before its last '@'. */
            size_t end = i, at = (size_t)-1;
            while (end < max && src[end] && !strchr("/?#\"' <>\t\r\n", src[end])) {
                if (src[end] == '@') at = end;
                end++;
            }
            if (at != (size_t)-1) i = at + 1;
            /* Copy host and path; drop query and fragment. */
            while (i < max && src[i] && !strchr("\"' <>\t\r\n", src[i]) && n + 1 < cap) {
                if (src[i] == '?' || src[i] == '#') {
                    while (i < max && src[i] && !strchr("\"' <>\t\r\n", src[i]))
                        i++;
                    break;
                }
                dst[n++] = src[i++];
            }
            continue;
        }
        dst[n++] = src[i++];
    }
    dst[n] = 0;
    return n;
}

/* Writes ,"key":"value" using at most `budget` bytes for the value's JSON text (quotes
 * excluded); an escape sequence or UTF-8 character that would not fit is left out whole,
 * so the output is always valid JSON however the value is cut. */
static void put_str(struct jbuf *b, const char *key, const char *v, size_t max_in, size_t budget,
                    bool endpoint)
{
    char clean[EVENT_MAX];
    size_t len = scrub(v, max_in, endpoint, clean, sizeof clean);
    char tmp[EVENT_MAX + 32];
    size_t t = (size_t)snprintf(tmp, sizeof tmp, ",\"%s\":\"", key);
    size_t limit = t + budget;
    if (limit > sizeof tmp - 1) limit = sizeof tmp - 1;
    const unsigned char *s = (const unsigned char *)clean;
    for (size_t i = 0; i < len;) {
        char esc[8];
        const char *out = esc;
        size_t k, used = 1;
        if (s[i] == '"' || s[i] == '\\') {
            esc[0] = '\\';
            esc[1] = (char)s[i];
            k = 2;
        } else if (s[i] == '\n') {
            memcpy(esc, "\\n", k = 2);
        } else if (s[i] == '\t') {
            memcpy(esc, "\\t", k = 2);
        } else if (s[i] < 0x20 || s[i] == 0x7f) {
            k = (size_t)snprintf(esc, sizeof esc, "\\u%04x", s[i]);
        } else if (s[i] < 0x80) {
            esc[0] = (char)s[i];
            k = 1;
        } else if ((used = utf8_len(s + i, len - i)) != 0) {
            out = (const char *)s + i;
            k = used;
        } else {
            memcpy(esc, "\\ufffd", k = 6); /* a stray byte: still valid JSON text */
            used = 1;
        }
        if (t + k > limit) break;
        memcpy(tmp + t, out, k);
        t += k;
        i += used;
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

/* Output budgets (JSON text of each value, quotes excluded). With the fixed parts they
 * add up to at most 511 bytes; detail gets whatever the others left (at least 60). */
#define B_EVENT 16
#define B_POLICY 63
#define B_ENDPOINT 100
#define B_CALL 16
#define B_ERROR 24
#define TAIL_RESERVE (sizeof ",\"dropped\":" - 1 + 20 + 1) /* dropped and '}' */

/* Formats ev into out (cap >= EVENT_MAX) as one JSON object of at most 511 bytes plus a
 * NUL, whatever the strings hold. Returns the length (0 if cap is too small). */
size_t carom__event_encode(const struct carom__event *ev, uint64_t dropped, char *out, size_t cap)
{
    if (cap < EVENT_MAX) return 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct jbuf b = {out, 0, EVENT_MAX};
    char head[64];
    int n =
        snprintf(head, sizeof head, "{\"ts\":%llu",
                 (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec);
    put(&b, head, (size_t)n);
    put_int(&b, "pid", (long long)getpid());
    put_str(&b, "event", ev->event ? ev->event : "?", B_EVENT, B_EVENT, false);
    if (ev->policy) put_str(&b, "policy", ev->policy, CAROM_NAME_MAX, B_POLICY, false);
    if (ev->endpoint) put_str(&b, "endpoint", ev->endpoint, CAROM_HOST_MAX, B_ENDPOINT, true);
    if (ev->call) put_str(&b, "call", ev->call, B_CALL, B_CALL, false);
    if (ev->attempt) put_int(&b, "attempt", ev->attempt);
    if (ev->delay_ms >= 0) put_int(&b, "delay_ms", ev->delay_ms);
    if (ev->elapsed_ms >= 0) put_int(&b, "elapsed_ms", ev->elapsed_ms);
    if (ev->error) put_str(&b, "error", ev->error, B_ERROR, B_ERROR, false);
    if (ev->detail) {
        size_t fixed = sizeof ",\"detail\":\"\"" - 1;
        size_t room = EVENT_MAX - 1 - b.n;
        if (room > fixed + TAIL_RESERVE)
            put_str(&b, "detail", ev->detail, EVENT_MAX, room - fixed - TAIL_RESERVE, false);
    }
    if (dropped) put_int(&b, "dropped", (long long)dropped);
    put(&b, "}", 1);
    out[b.n] = 0;
    return b.n;
}

/* The coarse clock (the last tick, 1-4 ms resolution) costs a quarter of the precise one,
 * and a one-second quiet period needs no better. */
static uint64_t coarse_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void carom__emit(const struct carom__event *ev)
{
    /* The no-listener path: one coarse clock read, one load, one add. */
    uint64_t now = coarse_ms();
    if (now < atomic_load_explicit(&carom__sb_quiet_until_ms, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&carom__sb_drops, 1, memory_order_relaxed);
        return;
    }
    pthread_once(&sb_once, sb_resolve_path);
    if (!sb_to_len) {
        atomic_fetch_add_explicit(&carom__sb_drops, 1, memory_order_relaxed);
        atomic_store_explicit(&carom__sb_quiet_until_ms, UINT64_MAX, memory_order_relaxed);
        return;
    }
    int saved = errno;
    if (!sb_owner_ok(now)) {
        atomic_fetch_add_explicit(&carom__sb_drops, 1, memory_order_relaxed);
        atomic_store_explicit(&carom__sb_quiet_until_ms, now + QUIET_MS, memory_order_relaxed);
        errno = saved;
        return;
    }
    sb_sending++;
    atomic_fetch_add(&sb_inflight, 1);
    int fd = atomic_load(&carom__sb_fd);
    if (fd >= 0 && !sb_still_ours(fd)) {
        /* Not ours any more: never send into it. Forget it, unless this is a vfork child,
         * whose descriptors are not the parent's. */
        int expect = fd;
        if (!carom__vfork_child()) atomic_compare_exchange_strong(&carom__sb_fd, &expect, -1);
        fd = -1;
    }
    if (fd < 0) fd = sb_open();
    if (fd < 0) {
        atomic_fetch_add_explicit(&carom__sb_drops, 1, memory_order_relaxed);
        atomic_fetch_sub(&sb_inflight, 1);
        sb_sending--;
        errno = saved;
        return;
    }
    char buf[EVENT_MAX];
    uint64_t dropped = atomic_exchange(&carom__sb_drops, 0);
    size_t len = carom__event_encode(ev, dropped, buf, sizeof buf);
    ssize_t r = carom__real.sendto(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL,
                                   (struct sockaddr *)&sb_to, sb_to_len);
    int err = errno;
    atomic_fetch_sub(&sb_inflight, 1);
    sb_sending--;
    if (r < 0) {
        atomic_fetch_add_explicit(&carom__sb_drops, dropped + 1, memory_order_relaxed);
        /* A full listener (EAGAIN) is there and reading: keep trying. Anything else (no
         * socket file, nobody bound to it) means nobody listens: rest a while. */
        if (err != EAGAIN && err != EWOULDBLOCK && err != ENOBUFS && err != EINTR)
            atomic_store_explicit(&carom__sb_quiet_until_ms, now + QUIET_MS, memory_order_relaxed);
    }
    errno = saved;
}
