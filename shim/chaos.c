/* chaos.c: decides when to inject a fault, reproducibly, and carries out the stream
 * faults of a connection (pacing, cuts, slices, black holes) for io.c. Each decision is a
 * hash of the seed, the fault kind, the endpoint and how many times this process has asked
 * about that fault for that endpoint, so a seeded run replays exactly, whatever other
 * threads do to other endpoints. It must never decide differently for the same seed,
 * endpoint and count, never re-send or drop a byte the program wrote outside a black
 * hole, and never cost anything on a socket whose policy has no fault. */
#include "carom_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#define COUNTERS 4096
static _Atomic uint64_t counters[COUNTERS];

static const char *const fault_names[CAROM_F__N] = {
    [CAROM_F_CONNECT_REFUSE] = "connect_refuse",
    [CAROM_F_CONNECT_TIMEOUT] = "connect_timeout",
    [CAROM_F_DNS_FAIL] = "dns_fail",
    [CAROM_F_RESET] = "reset",
    [CAROM_F_LATENCY] = "latency",
    [CAROM_F_SHORT_WRITE] = "short_write",
    [CAROM_F_HTTP_STATUS] = "http_status",
    [CAROM_F_CONNECT_LATENCY] = "connect_latency",
    [CAROM_F_BLACKHOLE] = "blackhole",
    [CAROM_F_BANDWIDTH] = "bandwidth_kbps",
    [CAROM_F_LIMIT_DATA] = "limit_data",
    [CAROM_F_SLICE] = "slice",
    [CAROM_F_SLOW_CLOSE] = "slow_close_ms",
};

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t str_hash(const char *s)
{
    return carom_fnv1a(CAROM_FNV1A_INIT, s, strlen(s));
}

/* The draw for the next call, and how many calls came before it (n). */
static uint64_t draw_n(enum carom__fault kind, const char *endpoint, uint64_t *n)
{
    uint64_t key = mix(str_hash(endpoint) ^ ((uint64_t)kind << 56));
    *n = atomic_fetch_add_explicit(&counters[key % COUNTERS], 1, memory_order_relaxed);
    return mix(carom__g.chaos_seed ^ key ^ mix(*n + 1));
}

uint64_t carom__chaos_draw(enum carom__fault kind, const char *endpoint)
{
    uint64_t n;
    return draw_n(kind, endpoint, &n);
}

static void note(const carom_policy *p, enum carom__fault kind, const char *endpoint,
                 const char *call)
{
    char detail[80];
    snprintf(detail, sizeof detail, "%s seed=%llu", fault_names[kind],
             (unsigned long long)carom__g.chaos_seed);
    struct carom__event ev = {.event = "chaos",
                              .policy = p->name,
                              .endpoint = endpoint,
                              .call = call,
                              .delay_ms = -1,
                              .elapsed_ms = -1,
                              .error = fault_names[kind],
                              .detail = detail};
    carom__emit(&ev);
}

/* The decision; `announce` emits the `chaos` event on a hit (a fault whose effect comes
 * later, such as limit_data's cut, announces itself when it strikes). chaos.first makes
 * only the first N calls per fault and endpoint eligible: the count still advances after
 * that, so a replay stays aligned. */
static bool decide(const carom_policy *p, enum carom__fault kind, double prob, const char *endpoint,
                   const char *call, uint64_t *draw, bool announce)
{
    if (!(prob > 0) || !carom__g.chaos_on) return false;
    uint64_t n;
    uint64_t d = draw_n(kind, endpoint, &n);
    /* The top 53 bits as a fraction in [0, 1). */
    bool hit = (double)(d >> 11) * 0x1.0p-53 < prob;
    if (p->chaos.first && n >= p->chaos.first) hit = false;
    if (draw) *draw = mix(d);
    if (hit && announce) note(p, kind, endpoint, call);
    return hit;
}

bool carom__chaos(const carom_policy *p, enum carom__fault kind, double prob, const char *endpoint,
                  const char *call, uint64_t *draw)
{
    return decide(p, kind, prob, endpoint, call, draw, true);
}

bool carom__chaos_io(const carom_policy *p)
{
    const carom_chaos *c = &p->chaos;
    return carom__g.chaos_on &&
           (c->reset > 0 || (c->latency > 0 && c->latency_ms) || c->short_write > 0 ||
            c->blackhole > 0 || c->bandwidth_kbps || c->limit_data || c->slice || c->slow_close_ms);
}

void carom__chaos_latency(const carom_policy *p, const char *endpoint, const char *call)
{
    if (p->chaos.latency_ms &&
        carom__chaos(p, CAROM_F_LATENCY, p->chaos.latency, endpoint, call, NULL))
        carom__sleep_ms(p->chaos.latency_ms);
}

void carom__chaos_connect_latency(const carom_policy *p, const char *endpoint)
{
    if (p->chaos.connect_latency_ms &&
        carom__chaos(p, CAROM_F_CONNECT_LATENCY, p->chaos.connect_latency, endpoint, "connect",
                     NULL))
        carom__sleep_ms(p->chaos.connect_latency_ms);
}

int carom__chaos_dns_error(const carom_policy *p, bool gai)
{
    if (p->chaos.dns_fail_noname) return gai ? EAI_NONAME : HOST_NOT_FOUND;
    return gai ? EAI_AGAIN : TRY_AGAIN;
}

/* ---- stream faults: one connection's ------------------------------------------------------ */

enum {
    CAROM_CX_ARMED = 1 << 0,     /* the per-connection decisions below are made */
    CAROM_CX_BLACKHOLE = 1 << 1, /* nothing arrives, what is sent is swallowed */
    CAROM_CX_BANDWIDTH = 1 << 2,
    CAROM_CX_LIMIT = 1 << 3,
    CAROM_CX_SLICE = 1 << 4,
    CAROM_CX_CUT_IN = 1 << 5, /* limit_data reached: the stream has ended that way */
    CAROM_CX_CUT_OUT = 1 << 6,
};

/* A non-blocking read of a black hole sleeps this long before EAGAIN: a program that
 * polls and finds the socket readable (the peer did send) must not spin. */
#define BLACKHOLE_NB_MS 50u
/* Bandwidth is paced in slices of this much of a second, so that no single call takes
 * much longer than a slow link would (and a 200 KB body is not one burst then a sleep). */
#define PACE_SLICES_PER_S 20u

static uint8_t bits(const struct carom__fd_rec *f)
{
    return atomic_load_explicit(&f->cx.on, memory_order_relaxed);
}

static bool dir_on(const carom_policy *p, int dir)
{
    uint8_t d = p->chaos.direction;
    return d == CAROM_CHAOS_BOTH || (d == CAROM_CHAOS_UP) == (dir == 1);
}

/* The per-connection decisions, each drawn once: the first N of chaos.first counts
 * connections for these. */
static void arm(struct carom__fd_rec *f)
{
    const carom_policy *p = f->pol;
    const carom_chaos *c = &p->chaos;
    uint8_t on = CAROM_CX_ARMED;
    const char *call = "connect";
    if (c->blackhole > 0 && carom__chaos(p, CAROM_F_BLACKHOLE, c->blackhole, f->ep, call, NULL))
        on |= CAROM_CX_BLACKHOLE;
    if (c->bandwidth_kbps && carom__chaos(p, CAROM_F_BANDWIDTH, 1, f->ep, call, NULL))
        on |= CAROM_CX_BANDWIDTH;
    if (c->limit_data && decide(p, CAROM_F_LIMIT_DATA, 1, f->ep, call, NULL, false))
        on |= CAROM_CX_LIMIT;
    if (c->slice && carom__chaos(p, CAROM_F_SLICE, 1, f->ep, call, NULL)) on |= CAROM_CX_SLICE;
    /* Two threads making a connection's first calls at once both draw; one set wins. */
    uint8_t none = 0;
    atomic_compare_exchange_strong_explicit(&f->cx.on, &none, on, memory_order_relaxed,
                                            memory_order_relaxed);
}

static uint64_t rate_bps(const carom_policy *p)
{
    return (uint64_t)p->chaos.bandwidth_kbps * 1024u;
}

static void lower(size_t *n, uint64_t cap)
{
    if (n && *n > cap) *n = (size_t)cap;
}

static bool answer(ssize_t *ret, ssize_t v, int err)
{
    if (err) errno = err;
    *ret = v;
    return true;
}

/* A read of a black hole: nothing ever arrives. A blocking read waits io_timeout_ms and
 * fails with ETIMEDOUT, as a dead link does under that policy, else waits for as long as
 * the socket lives (a signal's handler runs and the wait resumes); a non-blocking read
 * says EAGAIN, and ETIMEDOUT once io_timeout_ms has passed since it first found nothing. */
static bool blackhole_read(int fd, struct carom__fd_rec *f, int flags, ssize_t *ret)
{
    uint32_t tmo = f->pol->io_timeout_ms;
    int fl = carom__real.fcntl(fd, F_GETFL);
    bool nb = (flags & MSG_DONTWAIT) || fl < 0 || (fl & O_NONBLOCK);
    uint64_t now = carom__now_ms();
    if (nb) {
        if (!f->cx.since_ms) f->cx.since_ms = now;
        uint64_t end = f->cx.since_ms + tmo;
        if (tmo && now >= end) return answer(ret, -1, ETIMEDOUT);
        uint64_t nap = tmo && end - now < BLACKHOLE_NB_MS ? end - now : BLACKHOLE_NB_MS;
        carom__sleep_ms((uint32_t)nap);
        return answer(ret, -1, EAGAIN);
    }
    /* No events asked: poll wakes only when the socket dies (POLLERR, POLLHUP). */
    struct pollfd pf = {.fd = fd, .events = 0};
    uint64_t until = now + tmo;
    void *g = carom__guard_suspend();
    for (;;) {
        int left = -1;
        if (tmo) {
            uint64_t t = carom__now_ms();
            left = t >= until ? 0 : (int)(until - t);
        }
        int r = carom__real.poll(&pf, 1, left);
        if (r > 0 || (r < 0 && errno != EINTR)) break; /* dead: the real call says how */
        if (r == 0) {
            carom__guard_resume(g);
            struct carom__event ev = {.event = "timeout",
                                      .policy = f->pol->name,
                                      .endpoint = f->ep,
                                      .call = "recv",
                                      .delay_ms = -1,
                                      .elapsed_ms = tmo,
                                      .error = "ETIMEDOUT",
                                      .detail = "blackhole"};
            carom__emit(&ev);
            carom__io_failed(f, ETIMEDOUT);
            return answer(ret, -1, ETIMEDOUT);
        }
    }
    carom__guard_resume(g);
    return false;
}

/* limit_data reached in direction dir. EOF mode: a receive sees the end of the stream
 * (the socket's read side is really shut, so poll reports it readable and no byte past
 * the limit is ever handed over); a send finds the write side shut and the real call
 * fails as the kernel makes it (EPIPE, and SIGPIPE unless the program asked for none),
 * while the peer sees a FIN. Reset mode: both ways die with ECONNRESET, as chaos.reset. */
static bool cut(int fd, struct carom__fd_rec *f, int dir, ssize_t *ret)
{
    const carom_policy *p = f->pol;
    uint8_t bit = dir ? CAROM_CX_CUT_OUT : CAROM_CX_CUT_IN;
    bool first = !(bits(f) & bit);
    if (p->chaos.limit_data_reset) {
        if (!first) return dir ? false : answer(ret, 0, 0);
        if (atomic_fetch_or_explicit(&f->cx.on, CAROM_CX_CUT_IN | CAROM_CX_CUT_OUT,
                                     memory_order_relaxed) &
            bit)
            return dir ? false : answer(ret, 0, 0); /* the other direction cut it first */
        note(p, CAROM_F_LIMIT_DATA, f->ep, dir ? "send" : "recv");
        shutdown(fd, SHUT_RDWR);
        carom__io_failed(f, ECONNRESET);
        return answer(ret, -1, ECONNRESET);
    }
    if (first) {
        atomic_fetch_or_explicit(&f->cx.on, bit, memory_order_relaxed);
        note(p, CAROM_F_LIMIT_DATA, f->ep, dir ? "send" : "recv");
        shutdown(fd, dir ? SHUT_WR : SHUT_RD);
    }
    return dir ? false : answer(ret, 0, 0);
}

/* Waits until the direction's pacing allows the next call. */
static void pace(struct carom__fd_rec *f, int dir)
{
    uint64_t now = carom__now_ns();
    uint64_t next = f->cx.next_ns[dir];
    if (next > now) carom__sleep_ms((uint32_t)((next - now + 999999u) / 1000000u));
}

bool carom__chaos_io_before(int fd, struct carom__fd_rec *f, int dir, int flags, size_t *n,
                            ssize_t *ret)
{
    if (f->state != CAROM_FD_CONNECTED || !f->pol) return false;
    const carom_policy *p = f->pol;
    const char *call = dir == 0 ? "recv" : "send";
    if (!(bits(f) & CAROM_CX_ARMED)) arm(f);
    uint8_t on_bits = bits(f);
    if (on_bits & CAROM_CX_BLACKHOLE) {
        if (dir)
            return answer(ret, n ? (ssize_t)*n : 0, 0); /* swallowed: nothing reaches the peer */
        return blackhole_read(fd, f, flags, ret);
    }
    bool on = dir_on(p, dir);
    if (on && (on_bits & CAROM_CX_LIMIT)) {
        uint64_t done = f->cx.bytes[dir];
        if ((on_bits & (dir ? CAROM_CX_CUT_OUT : CAROM_CX_CUT_IN)) || done >= p->chaos.limit_data) {
            if (cut(fd, f, dir, ret)) return true;
        } else {
            lower(n, p->chaos.limit_data - done);
        }
    }
    if (on) carom__chaos_latency(p, f->ep, call);
    if (on && carom__chaos(p, CAROM_F_RESET, p->chaos.reset, f->ep, call, NULL)) {
        shutdown(fd, SHUT_RDWR);
        carom__io_failed(f, ECONNRESET);
        return answer(ret, -1, ECONNRESET);
    }
    if (on && (on_bits & CAROM_CX_SLICE)) lower(n, p->chaos.slice);
    if (on && (on_bits & CAROM_CX_BANDWIDTH)) {
        uint64_t chunk = rate_bps(p) / PACE_SLICES_PER_S;
        lower(n, chunk ? chunk : 1);
        if (!(dir == 0 && (flags & MSG_PEEK))) /* a peek moves nothing along the link */
            pace(f, dir);
    }
    uint64_t d;
    if (dir == 1 && n && *n > 1 &&
        carom__chaos(p, CAROM_F_SHORT_WRITE, p->chaos.short_write, f->ep, call, &d))
        *n = 1 + (size_t)(d % (*n - 1));
    return false;
}

void carom__chaos_io_after(struct carom__fd_rec *f, int dir, int flags, ssize_t r)
{
    uint8_t on_bits = bits(f);
    if (r <= 0 || !(on_bits & CAROM_CX_ARMED) || (dir == 0 && (flags & MSG_PEEK))) return;
    f->cx.bytes[dir] += (uint64_t)r;
    if ((on_bits & CAROM_CX_BANDWIDTH) && dir_on(f->pol, dir)) {
        uint64_t now = carom__now_ns();
        uint64_t base = f->cx.next_ns[dir] > now ? f->cx.next_ns[dir] : now;
        f->cx.next_ns[dir] = base + (uint64_t)r * 1000000000ull / rate_bps(f->pol);
    }
}

void carom__chaos_close(struct carom__fd_rec *f)
{
    const carom_policy *p = f->pol;
    if (!p || !p->chaos.slow_close_ms || f->state != CAROM_FD_CONNECTED) return;
    if (carom__chaos(p, CAROM_F_SLOW_CLOSE, 1, f->ep, "close", NULL))
        carom__sleep_ms(p->chaos.slow_close_ms);
}
