/* connect.c: connect() under policy (blocking and non-blocking): the endpoint cache, the
 * shot and its events (one attempt is attempt.c; socket(), options and SO_ERROR are
 * sockets.c). It must never re-send a byte, never return an
 * errno the real call could not have given, and never retry a socket a libcurl hook
 * already guards. */
#include "carom_shim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NAME_MAX_AGE_MS (24ull * 3600 * 1000)

bool carom__retryable(const carom_policy *p, int err)
{
    if (err <= 0 || err >= 256) return false;
    return (p->retry_on[err >> 6] >> (err & 63)) & 1;
}

static uint16_t sa_port(const struct sockaddr *a)
{
    if (a->sa_family == AF_INET) return ntohs(((const struct sockaddr_in *)a)->sin_port);
    if (a->sa_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
    return 0;
}

/* "1.2.3.4:80" or "[::1]:80": the address a cushion is keyed by. */
static void sa_format(const struct sockaddr *a, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (a->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, ip, sizeof ip);
        snprintf(buf, len, "%s:%u", ip, sa_port(a));
    } else {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, ip, sizeof ip);
        snprintf(buf, len, "[%s]:%u", ip, sa_port(a));
    }
}

/* Whether chaos_connect can do anything for p (chaos on, a connect fault configured). */
bool carom__connect_chaos(const carom_policy *p)
{
    return carom__g.chaos_on && (p->chaos.latency > 0 || p->chaos.connect_latency > 0 ||
                                 p->chaos.connect_refuse > 0 || p->chaos.connect_timeout > 0);
}

/* Formatting the key is most of a connect's cost (inet_ntop and snprintf), and finding its
 * slot the next largest; programs connect to the same few endpoints again and again, so
 * each thread remembers its last few: the key and the slot it found (validated at every
 * use by the slot's own hash word, so an eviction or a reload is never missed).
 *
 * The fast path of connect() runs without the recursion guard (below), so a signal
 * handler that calls connect() may land in the middle of an update of this very cache on
 * the same thread, and one that siglongjmp()s may abandon it half-written. Each entry is
 * a per-thread seqlock: odd while written, claimed by a compare-and-swap (a nested writer
 * finds it odd and leaves it alone), and read only when its sequence was even and the
 * same before and after the copy. An abandoned write leaves its entry odd: unused, never
 * wrong. */
#define EP_CACHE 4
struct ep_cached {
    _Atomic unsigned seq;         /* 0: empty; odd: being written */
    uint64_t addr[3];             /* family and port (network order), then the address (sa_id) */
    bool chaos_io, chaos_connect; /* of hint.pol, asked once per policy */
    char key[INET6_ADDRSTRLEN + 10];
    struct carom__slot_hint hint;
    /* The file's policy for this address with no host name, in table `tab` (NULL: not
     * known): a table never changes and is never freed, so the match holds while it is
     * the one in force. */
    const carom_table *tab;
    const carom_policy *match;
};
static __thread struct ep_cached ep_cache[EP_CACHE];
static __thread unsigned ep_next;

/* An endpoint as three words: family and port, then the address (IPv4 in the first). */
static void sa_id(const struct sockaddr *a, uint64_t id[3])
{
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)a;
        id[0] = (uint64_t)AF_INET << 16 | s->sin_port;
        id[1] = s->sin_addr.s_addr;
        id[2] = 0;
    } else {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)a;
        id[0] = (uint64_t)AF_INET6 << 16 | s->sin6_port;
        memcpy(&id[1], &s->sin6_addr, 16);
    }
}

/* The cached entry for id: its key copied into key (room for ep_cached.key), the rest into
 * *out; its index, or -1 (key then holds nothing useful). */
static int ep_get(const uint64_t id[3], char *key, struct ep_cached *out)
{
    for (unsigned i = 0; i < EP_CACHE; i++) {
        struct ep_cached *e = &ep_cache[i];
        unsigned s = atomic_load_explicit(&e->seq, memory_order_relaxed);
        if (s == 0 || (s & 1)) continue;
        atomic_signal_fence(memory_order_seq_cst);
        if (e->addr[0] != id[0] || e->addr[1] != id[1] || e->addr[2] != id[2]) continue;
        memcpy(key, e->key, sizeof e->key);
        out->hint = e->hint;
        out->tab = e->tab;
        out->match = e->match;
        out->chaos_io = e->chaos_io;
        out->chaos_connect = e->chaos_connect;
        atomic_signal_fence(memory_order_seq_cst);
        if (atomic_load_explicit(&e->seq, memory_order_relaxed) != s) continue;
        return (int)i;
    }
    return -1;
}

/* Stores v (its key in key) for id in entry i (-1: the next in turn), unless that entry is
 * being written by a call this one interrupted. */
static void ep_put(int i, const uint64_t id[3], const char *key, const struct ep_cached *v)
{
    struct ep_cached *e = &ep_cache[i >= 0 ? (unsigned)i : ep_next++ % EP_CACHE];
    unsigned s = atomic_load_explicit(&e->seq, memory_order_relaxed);
    if ((s & 1) || !atomic_compare_exchange_strong_explicit(
                       &e->seq, &s, s + 1, memory_order_relaxed, memory_order_relaxed))
        return;
    atomic_signal_fence(memory_order_seq_cst);
    memcpy(e->addr, id, sizeof e->addr);
    memcpy(e->key, key, sizeof e->key);
    e->hint = v->hint;
    e->tab = v->tab;
    e->match = v->match;
    e->chaos_io = v->chaos_io;
    e->chaos_connect = v->chaos_connect;
    atomic_signal_fence(memory_order_seq_cst);
    atomic_store_explicit(&e->seq, s + 2, memory_order_relaxed);
}

/* Set by dns.c before it first learns a name: until then no address has one, and a
 * connect skips the look-up. */
_Atomic bool carom__names_used;

_Static_assert(sizeof((struct ep_cached *)0)->key <= CAROM_EP_KEY_MAX, "a key fits in f->ep");

/* The common case in one pass: id's entry is whole, its policy match is for the table in
 * force and its slot hint still holds (as carom__slot_find_hinted's inline hit), so
 * nothing would be written back. Binds f from it and returns true; false leaves f->pol
 * and f->slot alone (f->ep may hold a torn copy: the caller writes it again). Always
 * inline: as a call of its own, saving and restoring registers was a sixth of its cost. */
static inline __attribute__((always_inline)) bool ep_hit(struct carom__fd_rec *f,
                                                         const uint64_t id[3],
                                                         const struct sockaddr *addr, uint16_t port,
                                                         uint64_t now)
{
    for (unsigned i = 0; i < EP_CACHE; i++) {
        struct ep_cached *e = &ep_cache[i];
        unsigned s = atomic_load_explicit(&e->seq, memory_order_relaxed);
        if (s == 0 || (s & 1)) continue;
        atomic_signal_fence(memory_order_seq_cst);
        if (e->addr[0] != id[0] || e->addr[1] != id[1] || e->addr[2] != id[2]) continue;
        memcpy(f->ep, e->key, sizeof e->key);
        const carom_table *tab = e->tab;
        const carom_policy *m = e->match, *hp = e->hint.pol;
        const void *htab = e->hint.tab;
        struct carom_slot *slot = e->hint.slot;
        uint64_t h = e->hint.h;
        bool cio = e->chaos_io, cc = e->chaos_connect;
        atomic_signal_fence(memory_order_seq_cst);
        if (atomic_load_explicit(&e->seq, memory_order_relaxed) != s) return false;
        if (!tab || tab != atomic_load_explicit(&carom__g.table, memory_order_acquire))
            return false;
        const carom_policy *p = carom__control_policy(m, NULL, addr, port);
        if (!slot || hp != p ||
            htab != atomic_load_explicit(&carom__slot_tab, memory_order_acquire) ||
            atomic_load_explicit(&slot->key_hash, memory_order_acquire) != h)
            return false;
        uint64_t last = atomic_load_explicit(&slot->last_used_ms, memory_order_relaxed);
        if (!(last <= now && now - last < 1000)) return false;
        f->pol = p;
        f->slot = slot;
        f->chaos_io = cio;
        f->chaos_connect = cc;
        return true;
    }
    return false;
}

/* The peer f is now bound to (the rest of a bind, after its policy and slot). */
static inline void bind_peer(struct carom__fd_rec *f, const struct sockaddr *addr, socklen_t len)
{
    memset(&f->cx, 0, sizeof f->cx); /* a new connection: its stream faults are drawn anew */
    if (len > sizeof f->peer) len = sizeof f->peer;
    if (len == sizeof(struct sockaddr_in))
        memcpy(&f->peer, addr, sizeof(struct sockaddr_in));
    else
        memcpy(&f->peer, addr, len);
    f->peerlen = len;
}

const carom_policy *carom__fd_bind_policy_at(struct carom__fd_rec *f, const struct sockaddr *addr,
                                             socklen_t len, uint64_t now)
{
    char name[CAROM_HOST_MAX];
    bool named = atomic_load_explicit(&carom__names_used, memory_order_relaxed) &&
                 carom_names_lookup(carom__g.names, addr, now, NAME_MAX_AGE_MS, name, sizeof name);
    uint16_t port = sa_port(addr);
    uint64_t id[3];
    sa_id(addr, id);
    if (CAROM_LIKELY(!named) && ep_hit(f, id, addr, port, now)) goto bound;
    struct ep_cached c;
    /* The key goes straight to f->ep: it is the endpoint's name unless a host name is. */
    int at = ep_get(id, f->ep, &c);
    if (at < 0) {
        sa_format(addr, f->ep, sizeof c.key);
        memset(&c.hint, 0, sizeof c.hint);
        c.tab = NULL;
        c.match = NULL;
    }
    const carom_table *tab = atomic_load_explicit(&carom__g.table, memory_order_acquire);
    bool remember = false;
    const carom_policy *m;
    if (!named && at >= 0 && c.tab == tab && tab) {
        m = c.match;
    } else {
        m = carom_policy_match(tab, named ? name : NULL, addr, port);
        if (!named) {
            c.tab = tab;
            c.match = m;
            remember = true;
        }
    }
    f->pol = carom__control_policy(m, named ? name : NULL, addr, port);
    const carom_policy *was = c.hint.pol;
    struct carom_slot *had = c.hint.slot;
    f->slot = carom__slot_find_hinted(f->pol, f->ep, &c.hint, now);
    if (at < 0 || c.hint.pol != was) {
        c.chaos_io = carom__chaos_io(f->pol);
        c.chaos_connect = carom__connect_chaos(f->pol);
    }
    if (at < 0 || remember || c.hint.pol != was || c.hint.slot != had) ep_put(at, id, f->ep, &c);
    f->chaos_io = c.chaos_io;
    f->chaos_connect = c.chaos_connect;
    if (named) snprintf(f->ep, sizeof f->ep, "%.80s:%u", name, port);
bound:
    bind_peer(f, addr, len);
    return f->pol;
}

/* carom__fd_bind_policy_at for connect's fast path: an IPv4 endpoint this thread has
 * bound before, with no names learned, in a small frame; anything else goes the whole way. */
static inline const carom_policy *
bind_policy_fast(struct carom__fd_rec *f, const struct sockaddr *addr, socklen_t len, uint64_t now)
{
    if (CAROM_LIKELY(addr->sa_family == AF_INET && len == sizeof(struct sockaddr_in) &&
                     !atomic_load_explicit(&carom__names_used, memory_order_relaxed))) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)addr;
        const uint64_t id[3] = {(uint64_t)AF_INET << 16 | s->sin_port, s->sin_addr.s_addr, 0};
        if (CAROM_LIKELY(ep_hit(f, id, addr, ntohs(s->sin_port), now))) {
            bind_peer(f, addr, len);
            return f->pol;
        }
    }
    return carom__fd_bind_policy_at(f, addr, len, now);
}

const carom_policy *carom__fd_bind_policy(struct carom__fd_rec *f, const struct sockaddr *addr,
                                          socklen_t len)
{
    uint64_t now = carom__now_ms();
    carom__control_check(now);
    return carom__fd_bind_policy_at(f, addr, len, now);
}

/* ---- events -----------------------------------------------------------------------------------
 */

/* An event has been sent from connect (the emitter is set up): see carom_connect. */
static _Atomic bool emit_warm;

static void emit(const char *what, struct carom__fd_rec *f, int attempt, int64_t delay,
                 int64_t elapsed, int err)
{
    struct carom__event ev = {.event = what,
                              .policy = f->pol ? f->pol->name : "defaults",
                              .endpoint = f->ep,
                              .call = "connect",
                              .attempt = attempt,
                              .delay_ms = delay,
                              .elapsed_ms = elapsed,
                              .error = err ? carom_errno_name(err) : NULL};
    carom__emit(&ev);
    if (CAROM_UNLIKELY(!atomic_load_explicit(&emit_warm, memory_order_relaxed)))
        atomic_store_explicit(&emit_warm, true, memory_order_relaxed);
}

/* Reports the cushion transition a recorded outcome caused. */
static void transition(struct carom__fd_rec *f, int tr)
{
    if (tr == CAROM_CUSHION_OPEN)
        emit("open", f, 0, -1, -1, 0);
    else if (tr == CAROM_CUSHION_CLOSED)
        emit("close", f, 0, -1, -1, 0);
}

/* A connect attempt holds the herd's lease this long when the policy sets no
 * connect_timeout_ms: longer than a refusal or a loopback handshake, short enough that a
 * hung or killed holder is replaced within a couple of seconds (docs/configuration.md). */
#define CONNECT_HOLD_MS 2000u

/* The shot's one outcome enters the cushion; a success that ends a failing spell wakes the
 * herd. */
static void shot_end(struct carom__fd_rec *f, carom_shot *s, bool ok, uint64_t now)
{
    bool wake = false;
    int tr = carom_shot_end(s, now, ok, &wake);
    if (wake) carom__herd_wake(s->env.herd);
    transition(f, tr);
}

static carom_shot_result result_of(const carom_policy *p, int err)
{
    return err == 0                   ? CAROM_RESULT_OK
           : carom__retryable(p, err) ? CAROM_RESULT_RETRY
                                      : CAROM_RESULT_FATAL;
}

void carom__io_failed(struct carom__fd_rec *f, int err)
{
    if (!carom_cushion_io_errno(err)) return;
    /* A guarded transfer's outcome is the libcurl layer's to record, once. An error on an
     * established connection is an outcome of its own, outside any shot. */
    if (f->curl_guarded || !f->slot || !f->pol || !f->pol->cushion_on) return;
    transition(f, carom_cushion_record(&f->slot->cushion, &f->pol->cushion, carom__now_ms(),
                                       carom_cushion_current(&f->slot->cushion), false));
}

/* ---- the shot -----------------------------------------------------------------------------------
 */

static int try_pockets(int fd, struct carom__fd_rec *f, const carom_shot_clock *clk, int err)
{
    const carom_policy *p = f->pol;
    for (unsigned i = 0; i < p->npockets; i++) {
        if (carom_clock_left(clk, carom__now_ms()) == 0) break;
        char port[8];
        snprintf(port, sizeof port, "%u", p->pocket[i].port);
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
        void *g = carom__guard_suspend(); /* a resolution may block: see carom__attempt() */
        int r = carom__real.getaddrinfo(p->pocket[i].host, port, &hints, &res);
        carom__guard_resume(g);
        if (r != 0) continue;
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
            uint32_t tmo = carom_clock_attempt_ms(clk, carom__now_ms(), p->connect_timeout_ms);
            int why = 0;
            int e = carom__retry_once(fd, f, ai->ai_addr, ai->ai_addrlen, tmo, &why);
            if (e < 0 && why == EBADF) {
                carom__real.freeaddrinfo(res);
                return err; /* closed meanwhile: not ours to fill */
            }
            if (e < 0) continue;
            if (e == 0) {
                struct carom__event ev = {.event = "pocket",
                                          .policy = p->name,
                                          .endpoint = f->ep,
                                          .call = "connect",
                                          .delay_ms = -1,
                                          .elapsed_ms = -1,
                                          .detail = p->pocket[i].host};
                carom__emit(&ev);
                carom__real.freeaddrinfo(res);
                return 0;
            }
            err = e;
        }
        carom__real.freeaddrinfo(res);
    }
    return err;
}

/* After a failed first attempt (err), runs the rest of the shot s (core/shot.c decides:
 * retry on a fresh socket after a delay, wait for the herd's attempt, or stop); then the
 * pockets. s is the caller's copy: f may be closed and reused by another thread while this
 * sleeps. Returns 0 (fd connected) or the last attempt's errno. */
static int retry_loop(int fd, struct carom__fd_rec *f, const struct sockaddr *a, socklen_t l,
                      int err, carom_shot *s)
{
    const carom_policy *p = f->pol;
    carom__shot_retrying(s);
    carom_shot_report(s, carom__now_ms(), result_of(p, err));
    carom_shot_step st;
    for (;;) {
        st = carom_shot_next(s, carom__now_ms(), carom__rng());
        if (st.act == CAROM_SHOT_STOP) break;
        if (st.act == CAROM_SHOT_WAIT) {
            carom__shot_wait(s, &st);
        } else {
            struct carom__event ev = {.event = "retry",
                                      .policy = p->name,
                                      .endpoint = f->ep,
                                      .call = "connect",
                                      .attempt = (int)st.attempt,
                                      .delay_ms = st.ms,
                                      .elapsed_ms = -1,
                                      .error = carom_errno_name(err),
                                      .detail = st.joined ? "herd recovered" : NULL};
            carom__emit(&ev);
            if (st.ms) carom__sleep_ms(st.ms);
        }
        /* Closed by another thread or a handler meanwhile (a watchdog aborting the
         * connect): the record may be someone else's now; touch nothing of it. */
        if (atomic_load(&carom__fds[fd]) != f) {
            carom_shot_abandon(s);
            return err;
        }
        if (st.act == CAROM_SHOT_WAIT) continue;
        /* limit: retries take tokens too (shim/limit.c) */
        int lim = carom__limit_connect(fd, f, &s->clk);
        if (lim == EBADF) {
            carom_shot_abandon(s);
            return err; /* closed during the wait: touch nothing of it */
        }
        if (lim) { /* the wait for a token ran out: not the endpoint's failure */
            carom_shot_abandon(s);
            st.act = CAROM_SHOT_STOP;
            st.why = CAROM_SHOT_FATAL;
            err = lim;
            break;
        }
        uint32_t tmo = carom_clock_attempt_ms(&s->clk, carom__now_ms(), p->connect_timeout_ms);
        int why = 0;
        int e = carom__retry_once(fd, f, a, l, tmo, &why);
        if (e < 0 && why == EBADF) {
            carom_shot_abandon(s); /* closed during the attempt: its connection is thrown away */
            return err;
        }
        if (e < 0) { /* no socket could be made: nothing more to try */
            carom_shot_report(s, carom__now_ms(), CAROM_RESULT_FATAL);
            continue;
        }
        err = e;
        carom_shot_report(s, carom__now_ms(), result_of(p, err));
    }
    if (st.why == CAROM_SHOT_BUDGET) emit("budget_exhausted", f, (int)s->attempts + 1, -1, -1, err);
    shot_end(f, s, err == 0, carom__now_ms());
    int64_t elapsed = (int64_t)carom_clock_elapsed(&s->clk, carom__now_ms());
    if (err == 0) {
        emit("shot", f, (int)s->attempts, -1, elapsed, 0);
        return 0;
    }
    if (p->npockets && try_pockets(fd, f, &s->clk, err) == 0) return 0;
    if (err == ETIMEDOUT) /* leave no half-open attempt behind a failure */
        carom__replace(fd, f, a->sa_family);
    struct carom__event ev = {.event = "shot",
                              .policy = p->name,
                              .endpoint = f->ep,
                              .call = "connect",
                              .attempt = (int)s->attempts,
                              .delay_ms = -1,
                              .elapsed_ms = elapsed,
                              .error = carom_errno_name(err),
                              .detail = carom_shot_why_name(st.why)};
    carom__emit(&ev);
    return err;
}

/* Remembers a bind() the program made, for the fresh sockets of later attempts. Asked of
 * the kernel before the first attempt (bind() is not a wrapped call): after a failed
 * connect the kernel may or may not have kept its own automatic bind, and the two cannot
 * be told apart then. A wildcard address with port 0 is no bind at all. The raw system
 * call, inline, as for F_GETFL below. */
static void note_bind(int fd, struct carom__fd_rec *f)
{
    struct sockaddr_storage ss;
    socklen_t l = sizeof ss;
    const struct sockaddr *a = (const struct sockaddr *)&ss;
    bool own = false;
    if (carom__sys3(SYS_getsockname, fd, (long)&ss, (long)&l) != 0 || l > sizeof ss) {
        own = false;
    } else if (a->sa_family == AF_INET && l >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)a;
        own = s->sin_port != 0 || s->sin_addr.s_addr != htonl(INADDR_ANY);
    } else if (a->sa_family == AF_INET6 && l >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)a;
        own = s->sin6_port != 0 || !IN6_IS_ADDR_UNSPECIFIED(&s->sin6_addr);
    }
    f->boundlen = 0;
    if (own) {
        memcpy(&f->bound, a, l);
        f->boundlen = l;
    }
}

static struct carom__fd_rec *adopt(int fd, const struct sockaddr *a)
{
    if (a->sa_family != AF_INET && a->sa_family != AF_INET6) return NULL;
    int type = 0, proto = 0;
    socklen_t l = sizeof type;
    if (carom__real.getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) != 0 || type != SOCK_STREAM)
        return NULL;
    l = sizeof proto;
    carom__real.getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l);
    struct carom__fd_rec *f = carom__fd_track(fd, a->sa_family, type, proto);
    if (f) {
        int fl = carom__real.fcntl(fd, F_GETFL);
        f->nonblock = fl >= 0 && (fl & O_NONBLOCK);
    }
    return f;
}

static int fail(int err)
{
    errno = err;
    return -1;
}

_Atomic int carom__nb_pending;

void carom__nb_open(struct carom__fd_rec *f)
{
    if (!f->ticket_open) {
        f->ticket_open = true;
        atomic_fetch_add_explicit(&carom__nb_pending, 1, memory_order_relaxed);
    }
}

void carom__nb_close(struct carom__fd_rec *f)
{
    if (f->ticket_open) {
        f->ticket_open = false;
        atomic_fetch_sub_explicit(&carom__nb_pending, 1, memory_order_relaxed);
    }
}

/* The outcome of a non-blocking connect has surfaced as a failure. */
int carom__nb_surface(int fd, struct carom__fd_rec *f, int err)
{
    if (!f->ticket_open) return err;
    carom__nb_close(f);
    if (err == 0) {
        carom__nb_success(f);
        return 0;
    }
    if (carom__fd_stale(fd, f)) {
        /* Closed behind our back, the number reused: not ours to retry (a retry would
         * dup3 a socket over whatever the program holds there now). */
        carom_shot_abandon(&f->shot);
        if (!carom__vfork_child()) carom__fd_untrack(fd);
        return err;
    }
    carom_shot s = f->shot; /* a copy: see retry_loop */
    if (f->pol->retry_nonblocking && !f->curl_guarded && carom__retryable(f->pol, err)) {
        err = retry_loop(fd, f, (struct sockaddr *)&f->peer, f->peerlen, err, &s);
    } else {
        uint64_t now = carom__now_ms();
        carom_shot_report(&s, now, CAROM_RESULT_FATAL);
        shot_end(f, &s, false, now);
        emit("shot", f, 1, -1, -1, err);
    }
    if (atomic_load(&carom__fds[fd]) == f) {
        f->state = err ? CAROM_FD_FAILED : CAROM_FD_CONNECTED;
        if (err) carom__limit_release(f); /* limit: a failed socket holds no connection */
    }
    return err;
}

void carom__nb_success(struct carom__fd_rec *f)
{
    f->state = CAROM_FD_CONNECTED;
    if (f->ticket_open) {
        carom__nb_close(f);
        uint64_t now = carom__now_ms();
        carom_shot_report(&f->shot, now, CAROM_RESULT_OK);
        shot_end(f, &f->shot, true, now);
        emit("shot", f, 1, -1, -1, 0);
    }
}

/* A second connect() on a socket whose non-blocking connect is in flight: the redis-cli
 * way of asking how it went. */
static int second_connect(int fd, struct carom__fd_rec *f, const struct sockaddr *a, socklen_t l)
{
    if (carom__real.connect(fd, a, l) == 0) {
        carom__nb_success(f);
        return 0;
    }
    int err = errno;
    if (err == EISCONN) {
        carom__nb_success(f);
        return fail(err);
    }
    if (err == EALREADY || err == EINPROGRESS || err == EINTR) return fail(err);
    int e = carom__nb_surface(fd, f, err);
    return e ? fail(e) : 0;
}

static int carom_connect(int fd, const struct sockaddr *a, socklen_t l)
{
    struct carom__fd_rec *f = carom__fd(fd);
    if (!f) {
        if (!a || (a->sa_family != AF_INET && a->sa_family != AF_INET6))
            return carom__real.connect(fd, a, l);
        carom__init();
        if (!carom__g.active || !(f = adopt(fd, a))) return carom__real.connect(fd, a, l);
    }
    if (!a || a->sa_family != f->domain) return carom__real.connect(fd, a, l);
    if (f->curl_guarded) {
        /* libcurl's layer retries this transfer; chaos still applies at the real call. */
        if (carom__g.chaos_on && CAROM_ENTER()) {
            carom__fd_bind_policy(f, a, l);
            int e = carom__attempt_chaos(f, f->pol->connect_timeout_ms);
            carom__leave();
            if (e) return fail(e);
        }
        /* limit: the transfer paid its token in curl_shot.c; its socket takes a connection slot */
        if (carom__limit_any() && f->state == CAROM_FD_FRESH && CAROM_ENTER()) {
            carom__fd_bind_policy(f, a, l);
            int e = carom__limit_slot(fd, f, NULL);
            carom__leave();
            if (e) return fail(e);
        }
        int r = carom__real.connect(fd, a, l);
        if (f->chaos_io && (r == 0 || errno == EINPROGRESS))
            f->state = CAROM_FD_CONNECTED; /* the I/O faults apply to libcurl's sockets too */
        return r;
    }
    /* The recursion guard, and the signal mask it sets, are taken only off the fast path:
     * a first attempt through a closed circuit with no chaos, limit or config check due
     * runs unguarded, because everything it touches is safe to re-enter from a signal
     * handler on this thread and to abandon by a siglongjmp at any instruction (the
     * endpoint cache above, lock-free shared slots, no lock, no allocation). A nested call
     * from inside a guarded stretch still passes through (docs/performance.md). */
    void *frame = __builtin_frame_address(0);
    if (carom__guard_nested(frame)) return carom__real.connect(fd, a, l);
    bool guarded = false;
    int r;
    uint64_t t0 = carom__now_ms();
    if (CAROM_UNLIKELY(f->state == CAROM_FD_CONNECTING || carom__g.chaos_asked ||
                       carom__limit_any() ||
                       t0 >= atomic_load_explicit(&carom__control_next_ms, memory_order_relaxed))) {
        if (!carom__enter(frame)) return carom__real.connect(fd, a, l);
        guarded = true;
        carom__control_check(t0);
        if (f->state == CAROM_FD_CONNECTING) {
            r = second_connect(fd, f, a, l);
            goto out;
        }
    }
    const carom_policy *p = bind_policy_fast(f, a, l, t0);
    /* The raw system call, inline: libc's fcntl unpacks its variadic argument first
     * (F_GETFL takes none), and its syscall() is an out-of-line variadic call too. A
     * failure is negative, as fcntl's -1 was; errno is left as the program had it. */
    note_bind(fd, f);
    int fl = (int)carom__sys2(SYS_fcntl, fd, F_GETFL);
    bool nb = fl >= 0 && (fl & O_NONBLOCK);
    f->nonblock = nb;
    /* The shot. On the fast path (unguarded, no connect chaos, the circuit lets the call
     * through and it is no probe) its first attempt runs without the engine's state
     * (`quick`): s is made (carom_shot_resume) only if that attempt does not simply
     * succeed. */
    carom_shot s;
    carom_shot_cfg cfg;
    carom_shot_env env;
    carom_shot_fast q;
    /* The fast begin and end read only the cushion's configuration and the slot's state:
     * the rest of cfg is filled in (PREPARE) only when the full shot is made. */
    const uint32_t hold = p->connect_timeout_ms ? p->connect_timeout_ms : CONNECT_HOLD_MS;
#define PREPARE() carom__shot_prepare(&cfg, &env, p, f->slot, hold)
    cfg.cushion = p->cushion_on ? &p->cushion : NULL;
    env = (carom_shot_env){0};
    if (f->slot) {
        env.cushion = &f->slot->cushion;
        env.budget = &f->slot->budget;
        env.herd = &f->slot->herd;
    }
    bool quick = false;
    carom_shot_step st = {.act = CAROM_SHOT_GO, .attempt = 1};
    if (!guarded && !f->chaos_connect && carom_shot_fast_begin(&q, &cfg, &env, t0)) {
        quick = !q.probe;
        if (!quick) {
            PREPARE();
            carom_shot_resume(&s, &cfg, &env, &q, t0);
            st.probe = true;
        }
    } else {
        PREPARE();
        carom_shot_begin(&s, &cfg, &env, t0);
        st = carom_shot_next(&s, t0, carom__rng());
    }
    if (!guarded && !quick) {
        if (!carom__enter(frame)) { /* cannot happen: nothing above takes the guard */
            carom_shot_abandon(&s);
            return carom__real.connect(fd, a, l);
        }
        guarded = true;
    }
    /* An open circuit whose half-open moment this shot's schedule reaches: wait for it (an
     * event loop that must never block fails fast instead). */
    while (st.act == CAROM_SHOT_WAIT && !(nb && !p->retry_nonblocking)) {
        carom__shot_wait(&s, &st);
        if (atomic_load(&carom__fds[fd]) != f) { /* closed while we waited */
            r = fail(EBADF);
            goto out;
        }
        st = carom_shot_next(&s, carom__now_ms(), carom__rng());
    }
    if (st.act != CAROM_SHOT_GO) {
        carom_shot_abandon(&s);
        if (p->npockets && try_pockets(fd, f, &s.clk, p->open_errno) == 0) {
            f->state = CAROM_FD_CONNECTED;
            r = 0;
        } else {
            emit("shot", f, 0, -1, 0, p->open_errno);
            r = fail(p->open_errno);
        }
        goto out;
    }
    /* limit: a connection slot and a token before the first attempt (shim/limit.c). The
     * endpoint was never tried: no outcome for the cushion (the shot is abandoned). A
     * policy with limits is never quick (carom__limit_any, above). */
    int lim = quick ? 0 : carom__limit_connect(fd, f, &s.clk);
    if (lim) {
        carom_shot_abandon(&s);
        if (lim != EBADF) /* EBADF: closed during the wait, f may be another's by now */
            emit("shot", f, 0, -1, (int64_t)carom_clock_elapsed(&s.clk, carom__now_ms()), lim);
        r = fail(lim);
        goto out;
    }
    if (st.probe) emit("half_open", f, 0, -1, -1, 0);
    int err;
    if (nb) {
        if ((err = carom__attempt_chaos(f, p->connect_timeout_ms)) != 0) {
            /* an injected failure, handled as the real one would be */
        } else if (carom__real.connect(fd, a, l) == 0) {
            err = 0;
        } else {
            err = errno;
            if (err == EINPROGRESS) {
                /* The program owns the wait; the shot is settled where its outcome
                 * surfaces (SO_ERROR, poll, a second connect, the first I/O). */
                if (quick) {
                    PREPARE();
                    carom_shot_resume(&s, &cfg, &env, &q, t0);
                }
                f->state = CAROM_FD_CONNECTING;
                f->shot = s;
                f->pending_err = 0;
                carom__nb_open(f);
                r = fail(EINPROGRESS);
                goto out;
            }
            if (err == EINTR || err == EALREADY || err == EISCONN || err == EAGAIN) {
                if (!quick) carom_shot_abandon(&s); /* quick: nothing held to give back */
                r = fail(err);
                goto out;
            }
        }
    } else {
        uint32_t tmo = p->connect_timeout_ms;
        if (!quick) {
            tmo = carom_clock_attempt_ms(&s.clk, t0, p->connect_timeout_ms);
        } else if (p->deadline_ms) {
            carom_shot_clock clk;
            carom_clock_start(&clk, t0, p->deadline_ms);
            tmo = carom_clock_attempt_ms(&clk, t0, p->connect_timeout_ms);
        }
        if (quick && tmo == 0 &&
            fl >= 0) /* carom__attempt() with no chaos, no guard and no timeout */
            err = carom__real.connect(fd, a, l) == 0 ? 0 : errno;
        else
            err = carom__attempt(fd, f, f, a, l, tmo, fl);
        if (err == EINTR) { /* the program's signal: the kernel goes on connecting */
            if (!quick) carom_shot_abandon(&s);
            r = fail(err);
            goto out;
        }
    }
    if (err == 0) {
        uint64_t now = carom__now_ms();
        if (quick) {
            bool wake = false;
            int tr = carom_shot_fast_end(&q, &cfg, &env, now, &wake);
            if (wake) carom__herd_wake(env.herd);
            if (CAROM_UNLIKELY(tr != -1)) transition(f, tr);
        } else {
            carom_shot_report(&s, now, CAROM_RESULT_OK);
            shot_end(f, &s, true, now);
        }
        f->state = CAROM_FD_CONNECTED;
        /* With no listener the event is only counted (one load: the time is at hand).
         * The process's first event sets the emitter up (a pthread_once a handler must not
         * land in): under the guard, once. */
        if (!carom__emit_quiet(now)) {
            if (CAROM_UNLIKELY(!guarded &&
                               !atomic_load_explicit(&emit_warm, memory_order_relaxed)) &&
                carom__enter(frame))
                guarded = true;
            emit("shot", f, 1, -1, (int64_t)(now >= t0 ? now - t0 : 0), 0);
        }
        r = 0;
        goto out;
    }
    /* A failed first attempt: what follows may sleep, wait and retry, under the guard. */
    if (quick) {
        PREPARE();
        carom_shot_resume(&s, &cfg, &env, &q, t0);
    }
#undef PREPARE
    if (!guarded) {
        if (!carom__enter(frame)) { /* cannot happen, as above: settle the shot as failed */
            uint64_t now = carom__now_ms();
            carom_shot_report(&s, now, CAROM_RESULT_FATAL);
            shot_end(f, &s, false, now);
            f->state = CAROM_FD_FAILED;
            return fail(err);
        }
        guarded = true;
    }
    if (nb && !p->retry_nonblocking) {
        uint64_t now = carom__now_ms();
        carom_shot_report(&s, now, CAROM_RESULT_FATAL);
        shot_end(f, &s, false, now);
        carom__limit_release(f); /* limit: a failed socket holds no connection */
        f->state = CAROM_FD_FAILED;
        r = fail(err);
        goto out;
    }
    err = retry_loop(fd, f, a, l, err, &s);
    if (atomic_load(&carom__fds[fd]) == f) { /* else closed meanwhile: not ours to write */
        f->state = err ? CAROM_FD_FAILED : CAROM_FD_CONNECTED;
        if (err) carom__limit_release(f); /* limit: a failed socket holds no connection */
    }
    r = err ? fail(err) : 0;
out:
    if (guarded) carom__leave();
    return r;
}

CAROM_EXPORT int connect(int fd, const struct sockaddr *a, socklen_t l)
{
    return carom_connect(fd, a, l);
}
