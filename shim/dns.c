/* dns.c: getaddrinfo and the gethostbyname family under policy: EAI_AGAIN/TRY_AGAIN
 * retried, the last good answer served while resolution fails (up to dns_stale_ms), every
 * answer's name -> address mapping learned for policy look-up, and addresses whose
 * circuits are open listed last. It must never hold its lock across a resolution or a
 * sleep, and every list it returns must be freeable by the C library's freeaddrinfo. */
#include "carom_shim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the stale cache ---------------------------------------------------------------------- */

#define STALE_SLOTS 128
#define STALE_ADDRS 8

struct stale {
    char node[CAROM_HOST_MAX];
    char service[32];
    int family, socktype, protocol;
    uint64_t stamp_ms; /* 0: empty */
    int n;
    struct {
        int family, socktype, protocol;
        socklen_t len;
        struct sockaddr_storage addr;
    } a[STALE_ADDRS];
};

static pthread_mutex_t stale_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stale *stale_tab;
static unsigned stale_next;

void carom__dns_atfork(int phase)
{
    if (phase == 0)
        pthread_mutex_lock(&stale_lock);
    else
        pthread_mutex_unlock(&stale_lock);
}

static bool same_query(const struct stale *s, const char *node, const char *service,
                       const struct addrinfo *h)
{
    return s->stamp_ms && strcasecmp(s->node, node) == 0 &&
           strcmp(s->service, service ? service : "") == 0 && s->family == (h ? h->ai_family : 0) &&
           s->socktype == (h ? h->ai_socktype : 0) && s->protocol == (h ? h->ai_protocol : 0);
}

static void stale_store(const char *node, const char *service, const struct addrinfo *h,
                        const struct addrinfo *res)
{
    if (strlen(node) >= CAROM_HOST_MAX || (service && strlen(service) >= 32)) return;
    pthread_mutex_lock(&stale_lock);
    if (!stale_tab) stale_tab = calloc(STALE_SLOTS, sizeof *stale_tab);
    if (stale_tab) {
        struct stale *s = NULL;
        for (unsigned i = 0; i < STALE_SLOTS && !s; i++)
            if (same_query(&stale_tab[i], node, service, h)) s = &stale_tab[i];
        if (!s) s = &stale_tab[stale_next++ % STALE_SLOTS];
        memset(s, 0, sizeof *s);
        strcpy(s->node, node);
        strcpy(s->service, service ? service : "");
        s->family = h ? h->ai_family : 0;
        s->socktype = h ? h->ai_socktype : 0;
        s->protocol = h ? h->ai_protocol : 0;
        for (const struct addrinfo *ai = res; ai && s->n < STALE_ADDRS; ai = ai->ai_next) {
            if (ai->ai_addrlen > sizeof s->a[0].addr) continue;
            s->a[s->n].family = ai->ai_family;
            s->a[s->n].socktype = ai->ai_socktype;
            s->a[s->n].protocol = ai->ai_protocol;
            s->a[s->n].len = ai->ai_addrlen;
            memcpy(&s->a[s->n].addr, ai->ai_addr, ai->ai_addrlen);
            s->n++;
        }
        s->stamp_ms = carom__now_ms();
    }
    pthread_mutex_unlock(&stale_lock);
}

/* Builds a list the way glibc does (each node and its address in one allocation, the
 * canonical name separately), so the program's freeaddrinfo frees it. */
static struct addrinfo *stale_serve(const char *node, const char *service, const struct addrinfo *h,
                                    uint32_t max_age_ms, uint64_t *age_ms)
{
    struct stale copy;
    bool found = false;
    pthread_mutex_lock(&stale_lock);
    for (unsigned i = 0; stale_tab && i < STALE_SLOTS && !found; i++)
        if (same_query(&stale_tab[i], node, service, h)) {
            copy = stale_tab[i];
            found = true;
        }
    pthread_mutex_unlock(&stale_lock);
    if (!found || !max_age_ms) /* dns_stale_ms = 0: never serve stale answers */
        return NULL;
    *age_ms = carom__now_ms() - copy.stamp_ms;
    if (*age_ms > max_age_ms) return NULL;
    struct addrinfo *head = NULL, **tail = &head;
    for (int i = 0; i < copy.n; i++) {
        struct addrinfo *ai = calloc(1, sizeof *ai + copy.a[i].len);
        if (!ai) break;
        ai->ai_family = copy.a[i].family;
        ai->ai_socktype = copy.a[i].socktype;
        ai->ai_protocol = copy.a[i].protocol;
        ai->ai_addrlen = copy.a[i].len;
        ai->ai_addr = (struct sockaddr *)(ai + 1);
        memcpy(ai->ai_addr, &copy.a[i].addr, copy.a[i].len);
        if (i == 0 && h && (h->ai_flags & AI_CANONNAME)) ai->ai_canonname = strdup(node);
        *tail = ai;
        tail = &ai->ai_next;
    }
    return head;
}

/* ---- helpers -----------------------------------------------------------------------------------
 */

static bool numeric_host(const char *node)
{
    /* A character no address can hold ends it at once ("localhost" at its first 'l'). */
    for (const char *c = node; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f') || (*c >= 'A' && *c <= 'F') ||
              *c == '.' || *c == ':'))
            return false;
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, node, buf) == 1 || inet_pton(AF_INET6, node, buf) == 1;
}

static uint16_t service_port(const char *service)
{
    if (!service) return 0;
    /* Plain digits, the common case, without strtoul; anything else as strtoul reads it. */
    unsigned v0 = 0;
    const char *c = service;
    while (*c >= '0' && *c <= '9' && v0 <= 65535)
        v0 = v0 * 10 + (unsigned)(*c++ - '0');
    if (c != service && !*c) return v0 <= 65535 ? (uint16_t)v0 : 0;
    char *end;
    unsigned long v = strtoul(service, &end, 10);
    return (*service && !*end && v <= 65535) ? (uint16_t)v : 0;
}

static void dns_event(const char *what, const carom_policy *p, const char *node, uint16_t port,
                      int attempt, int64_t delay, int64_t elapsed, const char *err)
{
    char ep[CAROM_EP_KEY_MAX];
    snprintf(ep, sizeof ep, "%.80s:%u", node, port);
    struct carom__event ev = {.event = what,
                              .policy = p->name,
                              .endpoint = ep,
                              .call = "getaddrinfo",
                              .attempt = attempt,
                              .delay_ms = delay,
                              .elapsed_ms = elapsed,
                              .error = err};
    carom__emit(&ev);
}

/* Before the first name is learned: a connect looks names up only once one may exist. */
static void names_will_learn(void)
{
    if (!atomic_load_explicit(&carom__names_used, memory_order_relaxed))
        atomic_store_explicit(&carom__names_used, true, memory_order_relaxed);
}

/* Learns begun and learns finished, by any thread: while both are unchanged since an
 * answer was learned (and none was under way then), nothing can have evicted its names
 * (see answer_known). */
static _Atomic uint64_t learns_begun, learns_done;

static void learn(const char *node, const struct addrinfo *res)
{
    names_will_learn();
    atomic_fetch_add(&learns_begun, 1);
    uint64_t now = carom__now_ms();
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
        if (ai->ai_addr && (ai->ai_family == AF_INET || ai->ai_family == AF_INET6))
            carom_names_learn(carom__g.names, node, ai->ai_addr, now);
    atomic_fetch_add(&learns_done, 1);
}

/* ---- the answer just seen ----------------------------------------------------------------------
 */

/* A program that resolves the same name again and again gets the same answer: learning it
 * (a names-table write per address) and storing it as the stale answer (under the stale
 * cache's lock) each time was most of a lookup's cost. Each thread remembers its last few
 * answers, by a hash of the query and one of the answer; the same answer to the same query
 * within ANSWER_FRESH_MS, with no name learned by anyone since, is neither learned nor
 * stored again: the names are still in the table, and the stale answer's age lags by at
 * most that long. A per-thread seqlock like connect's endpoint cache (shim/connect.c): the
 * look-up runs without the guard. */
#define ANSWER_FRESH_MS 5000u
#define ANSWERS 2
struct answer_seen {
    _Atomic unsigned seq; /* 0: empty; odd: being written */
    uint64_t qhash, ahash;
    uint64_t learns; /* learns_begun when it was learned */
    uint64_t at_ms;
};
static __thread struct answer_seen answers[ANSWERS];
static __thread unsigned answer_next;

/* A word-at-a-time hash for these private memos (nothing outside this file sees it). */
static uint64_t mix(uint64_t h, uint64_t w)
{
    h = (h ^ w) * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t w;
    for (; n >= 8; n -= 8, b += 8) {
        memcpy(&w, b, 8);
        h = mix(h, w);
    }
    w = (uint64_t)n << 56;
    for (size_t i = 0; i < n; i++)
        w ^= (uint64_t)b[i] << (8 * i);
    return mix(h, w);
}

static uint64_t query_hash(const char *node, const char *service, const struct addrinfo *h)
{
    uint64_t x = hash_bytes(1, node, strlen(node));
    x = service ? hash_bytes(x, service, strlen(service)) : mix(x, 0xfeedull);
    uint64_t fam = h ? (uint32_t)h->ai_family : 0, st = h ? (uint32_t)h->ai_socktype : 0;
    return mix(mix(x, fam << 32 | st), h ? (uint32_t)h->ai_protocol : 0);
}

static uint64_t answer_hash(const struct addrinfo *res)
{
    uint64_t x = 2;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        x = mix(x, (uint64_t)(uint32_t)ai->ai_family << 32 | (uint32_t)ai->ai_socktype);
        x = mix(x, (uint64_t)(uint32_t)ai->ai_protocol << 32 | (uint32_t)ai->ai_addrlen);
        if (ai->ai_addr && ai->ai_addrlen <= sizeof(struct sockaddr_storage))
            x = hash_bytes(x, ai->ai_addr, ai->ai_addrlen);
    }
    return x;
}

static bool answer_known(uint64_t qh, uint64_t ah, uint64_t now)
{
    uint64_t begun = atomic_load(&learns_begun);
    for (unsigned i = 0; i < ANSWERS; i++) {
        struct answer_seen *e = &answers[i];
        unsigned s = atomic_load_explicit(&e->seq, memory_order_relaxed);
        if (s == 0 || (s & 1)) continue;
        atomic_signal_fence(memory_order_seq_cst);
        bool hit = e->qhash == qh && e->ahash == ah && e->learns == begun && now >= e->at_ms &&
                   now - e->at_ms < ANSWER_FRESH_MS;
        atomic_signal_fence(memory_order_seq_cst);
        if (hit && atomic_load_explicit(&e->seq, memory_order_relaxed) == s) return true;
    }
    return false;
}

/* After learning and storing an answer: remembered only if no other learn was under way
 * meanwhile (its write could land after ours and evict our names). */
static void answer_put(uint64_t qh, uint64_t ah, uint64_t now)
{
    uint64_t done = atomic_load(&learns_done);
    uint64_t begun = atomic_load(&learns_begun);
    if (begun != done) return;
    struct answer_seen *e = &answers[answer_next++ % ANSWERS];
    unsigned s = atomic_load_explicit(&e->seq, memory_order_relaxed);
    if ((s & 1) || !atomic_compare_exchange_strong_explicit(
                       &e->seq, &s, s + 1, memory_order_relaxed, memory_order_relaxed))
        return;
    atomic_signal_fence(memory_order_seq_cst);
    e->qhash = qh;
    e->ahash = ah;
    e->learns = begun;
    e->at_ms = now;
    atomic_signal_fence(memory_order_seq_cst);
    atomic_store_explicit(&e->seq, s + 2, memory_order_relaxed);
}

static bool circuit_open(const struct sockaddr *a, uint16_t port)
{
    char key[CAROM_EP_KEY_MAX], ip[INET6_ADDRSTRLEN];
    if (a->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, ip, sizeof ip);
        snprintf(key, sizeof key, "%s:%u", ip, port);
    } else {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, ip, sizeof ip);
        snprintf(key, sizeof key, "[%s]:%u", ip, port);
    }
    const carom_policy *p = carom_policy_match(carom__g.table, NULL, a, port);
    if (!p->cushion_on) return false;
    struct carom_slot *s = carom__slot_find(p, key);
    if (!s) return false;
    carom_cushion_view v;
    carom_cushion_peek(&s->cushion, &p->cushion, carom__now_ms(), &v);
    return v.mode == CAROM_CUSHION_OPEN;
}

/* Stable partition: addresses behind an open circuit go last, so a program that tries
 * them in order reaches a healthy one first. */
static struct addrinfo *open_last(struct addrinfo *res, uint16_t port)
{
    if (!port || !res || !res->ai_next) return res;
    struct addrinfo *good = NULL, **gt = &good, *bad = NULL, **bt = &bad;
    for (struct addrinfo *ai = res, *nx; ai; ai = nx) {
        nx = ai->ai_next;
        ai->ai_next = NULL;
        bool open = ai->ai_addr && (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
                    circuit_open(ai->ai_addr, port);
        if (open) {
            *bt = ai;
            bt = &ai->ai_next;
        } else {
            *gt = ai;
            gt = &ai->ai_next;
        }
    }
    *gt = bad;
    /* The C library hangs the canonical name (AI_CANONNAME) on the first entry only, and
     * programs read it there without a check: it moves with the head, or they would
     * dereference NULL (hostile_canonname.sh). Each node still frees its own. */
    if (good != res && res->ai_canonname && !good->ai_canonname) {
        good->ai_canonname = res->ai_canonname;
        res->ai_canonname = NULL;
    }
    return good;
}

/* ---- the shot of a name lookup
 * ------------------------------------------------------------------- */

/* A lookup holds its herd's lease this long: about a resolver's own timeout and retry. */
#define DNS_HOLD_MS 5000u

typedef int (*dns_once)(void *ctx); /* one attempt: 0, `again` (retry it), or another code */

/* Runs one lookup as a shot (core/shot.c): the same schedule, deadline and retry budget as
 * every other call. A lookup has no cushion of its own: the resolver serves every endpoint,
 * and its outage must not open a service's circuit (the stale answer is its pocket). The
 * engine and the slot ("NAME:PORT dns") are taken at the first failure only, so a healthy
 * lookup costs what it did before the engine. Returns the last attempt's code; *n gets the
 * attempt count. */
static int dns_shot(const carom_policy *p, const char *node, uint16_t port, const char *call,
                    dns_once once, void *ctx, int again, unsigned *n, void *frame, bool *guarded,
                    uint64_t t0)
{
    /* The endpoint's name is only needed by chaos (its events and draws): formatting it
     * was most of a healthy lookup's cost. */
    char ep[CAROM_EP_KEY_MAX];
    ep[0] = 0;
    bool chaos = carom__g.chaos_on && (p->chaos.dns_fail > 0 || p->chaos.latency > 0);
    if (chaos) snprintf(ep, sizeof ep, "%.80s:%u", node, port);
    carom_shot s;
    bool started = false; /* the engine is started at the first failure: see above */
    carom_shot_step st = {.act = CAROM_SHOT_GO, .attempt = 1};
    int r = again;
    while (st.act != CAROM_SHOT_STOP) {
        if (st.act == CAROM_SHOT_WAIT) {
            carom__shot_wait(&s, &st);
            st = carom_shot_next(&s, carom__now_ms(), carom__rng());
            continue;
        }
        if (st.retry) {
            dns_event("retry", p, node, port, (int)st.attempt, st.ms, -1, "EAI_AGAIN");
            if (st.ms) carom__sleep_ms(st.ms);
        }
        if (chaos) carom__chaos_latency(p, ep, call);
        if (chaos && carom__chaos(p, CAROM_F_DNS_FAIL, p->chaos.dns_fail, ep, call, NULL)) {
            /* injected below the retry loop: no query is sent */
            r = carom__chaos_dns_error(p, again == EAI_AGAIN);
        } else {
            /* A lookup can hang for seconds, and programs time it out with alarm() and a
             * siglongjmp out of it: no guard is held across it (hostile_dnsjump.sh). */
            void *g = carom__guard_suspend();
            r = once(ctx);
            carom__guard_resume(g);
        }
        bool retry = r == again && p->retry_on_eai_again;
        if (!started) {
            if (!retry) { /* the healthy path: no engine, no shared state */
                *n = 1;
                return r;
            }
            /* Retries sleep, wait and send events: under the guard (docs/performance.md). */
            if (!*guarded) {
                if (!carom__enter(frame)) { /* cannot happen: the caller checked */
                    *n = 1;
                    return r;
                }
                *guarded = true;
            }
            started = true;
            carom__shot_start(&s, p, NULL, DNS_HOLD_MS, t0);
            carom_shot_next(&s, t0, carom__rng()); /* the first attempt, just made */
            char key[CAROM_EP_KEY_MAX];
            snprintf(key, sizeof key, "%.80s:%u dns", node, port);
            struct carom_slot *slot = carom__slot_find(p, key);
            if (slot) {
                s.env.budget = &slot->budget;
                s.env.herd = &slot->herd;
                carom__shot_retrying(&s);
            }
        }
        carom_shot_report(&s, carom__now_ms(),
                          r == 0  ? CAROM_RESULT_OK
                          : retry ? CAROM_RESULT_RETRY
                                  : CAROM_RESULT_FATAL);
        st = carom_shot_next(&s, carom__now_ms(), carom__rng());
    }
    bool wake = false;
    carom_shot_end(&s, carom__now_ms(), r == 0, &wake);
    if (wake) carom__herd_wake(s.env.herd);
    *n = s.attempts;
    return r;
}

/* ---- getaddrinfo --------------------------------------------------------------------------------
 */

struct gai_ctx {
    const char *node, *service;
    const struct addrinfo *hints;
    struct addrinfo **res;
};

static int gai_once(void *vc)
{
    struct gai_ctx *c = vc;
    return carom__real.getaddrinfo(c->node, c->service, c->hints, c->res);
}

/* Whether the lookup's chaos can do anything (dns_shot). */
static bool dns_chaos(const carom_policy *p)
{
    return carom__g.chaos_on && (p->chaos.dns_fail > 0 || p->chaos.latency > 0);
}

static int carom_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                             struct addrinfo **res)
{
    if (!node || numeric_host(node)) return carom__real.getaddrinfo(node, service, hints, res);
    carom__init();
    if (!carom__g.active) return carom__real.getaddrinfo(node, service, hints, res);
    /* As connect (shim/connect.c): a lookup that succeeds at once with an answer this thread
     * has just learned runs without the guard and its signal mask; the guard is taken for
     * a config check, chaos, retries, learning a new answer and the stale answer. */
    void *frame = __builtin_frame_address(0);
    if (carom__guard_nested(frame)) return carom__real.getaddrinfo(node, service, hints, res);
    bool guarded = false;
    uint64_t t0 = carom__now_ms();
    if (CAROM_UNLIKELY(carom__g.chaos_asked ||
                       t0 >= atomic_load_explicit(&carom__control_next_ms, memory_order_relaxed))) {
        if (!carom__enter(frame)) return carom__real.getaddrinfo(node, service, hints, res);
        guarded = true;
        carom__control_check(t0);
    }
    uint16_t port = service_port(service);
    const carom_policy *p = carom__control_policy(
        carom_policy_match(carom__g.table, node, NULL, port), node, NULL, port);
    if (!guarded && dns_chaos(p)) {
        if (!carom__enter(frame)) return carom__real.getaddrinfo(node, service, hints, res);
        guarded = true;
    }
    struct gai_ctx c = {.node = node, .service = service, .hints = hints, .res = res};
    unsigned n = 0;
    int r =
        dns_shot(p, node, port, "getaddrinfo", gai_once, &c, EAI_AGAIN, &n, frame, &guarded, t0);
    /* A lookup that succeeded at once is timed by its start (the answer memo needs no
     * finer); one that retried or failed reads the clock again for its events. */
    uint64_t now = n > 1 || r != 0 ? carom__now_ms() : t0;
    int64_t elapsed = (int64_t)(now - t0);
    if (r != 0 && !guarded && carom__enter(frame)) guarded = true; /* the stale answer, events */
    if (r == 0) {
        uint64_t qh = query_hash(node, service, hints), ah = answer_hash(*res);
        if (!answer_known(qh, ah, now) && (guarded || (guarded = carom__enter(frame)))) {
            learn(node, *res);
            stale_store(node, service, hints, *res);
            answer_put(qh, ah, now);
        }
        *res = open_last(*res, port);
        if (n > 1) dns_event("shot", p, node, port, (int)n, -1, elapsed, NULL);
    } else if (r == EAI_AGAIN || r == EAI_FAIL || r == EAI_SYSTEM) {
        /* Only failures of the resolver itself: a name that does not exist (EAI_NONAME)
         * is an answer, not an outage. */
        uint64_t age = 0;
        struct addrinfo *old = stale_serve(node, service, hints, p->dns_stale_ms, &age);
        if (old) {
            *res = old;
            dns_event("stale_dns", p, node, port, (int)n, -1, (int64_t)age, "EAI_AGAIN");
            r = 0;
        } else {
            dns_event("shot", p, node, port, (int)n, -1, elapsed,
                      r == EAI_AGAIN ? "EAI_AGAIN" : "EAI_FAIL");
        }
    }
    if (guarded) carom__leave();
    return r;
}

CAROM_EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                             struct addrinfo **res)
{
    return carom_getaddrinfo(node, service, hints, res);
}

CAROM_EXPORT void freeaddrinfo(struct addrinfo *ai)
{
    carom__real.freeaddrinfo(ai);
}

/* ---- gethostbyname family
 * ------------------------------------------------------------------------ */

static void learn_hostent(const char *name, const struct hostent *h)
{
    if (!h || (h->h_addrtype != AF_INET && h->h_addrtype != AF_INET6)) return;
    names_will_learn();
    atomic_fetch_add(&learns_begun, 1);
    uint64_t now = carom__now_ms();
    for (char **a = h->h_addr_list; a && *a; a++) {
        struct sockaddr_storage ss = {0};
        if (h->h_addrtype == AF_INET) {
            struct sockaddr_in *s = (struct sockaddr_in *)&ss;
            s->sin_family = AF_INET;
            memcpy(&s->sin_addr, *a, sizeof s->sin_addr);
        } else {
            struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
            s->sin6_family = AF_INET6;
            memcpy(&s->sin6_addr, *a, sizeof s->sin6_addr);
        }
        carom_names_learn(carom__g.names, name, (struct sockaddr *)&ss, now);
    }
    atomic_fetch_add(&learns_done, 1);
}

/* Retries while the resolver says TRY_AGAIN; `call` makes one attempt and returns its
 * h_errno-style code (0 on success). */
typedef int (*hb_call)(void *ctx);

static int hb_retry(const char *name, hb_call call, void *ctx)
{
    carom__control_check(carom__now_ms());
    const carom_policy *p =
        carom__control_policy(carom_policy_match(carom__g.table, name, NULL, 0), name, NULL, 0);
    unsigned n = 0;
    bool guarded = true; /* the gethostbyname family holds the guard throughout */
    return dns_shot(p, name, 0, "gethostbyname", call, ctx, TRY_AGAIN, &n, NULL, &guarded,
                    carom__now_ms());
}

struct hb_ctx {
    const char *name;
    int af; /* 0: gethostbyname */
    struct hostent *ret;
    struct hostent *buf;
    char *mem;
    size_t len;
    struct hostent **result;
    int *h_errnop;
    int rc;
};

static int hb_plain(void *vc)
{
    struct hb_ctx *c = vc;
    c->ret =
        c->af ? carom__real.gethostbyname2(c->name, c->af) : carom__real.gethostbyname(c->name);
    return c->ret ? 0 : h_errno;
}

static int hb_reentrant(void *vc)
{
    struct hb_ctx *c = vc;
    c->rc = c->af ? carom__real.gethostbyname2_r(c->name, c->af, c->buf, c->mem, c->len, c->result,
                                                 c->h_errnop)
                  : carom__real.gethostbyname_r(c->name, c->buf, c->mem, c->len, c->result,
                                                c->h_errnop);
    if (c->rc == 0 && *c->result) return 0;
    return *c->h_errnop ? *c->h_errnop : HOST_NOT_FOUND;
}

static struct hostent *carom_gethostbyname2(const char *name, int af)
{
    carom__init();
    if (!name || !carom__g.active || numeric_host(name) || !CAROM_ENTER())
        return af ? carom__real.gethostbyname2(name, af) : carom__real.gethostbyname(name);
    struct hb_ctx c = {.name = name, .af = af};
    int herr = hb_retry(name, hb_plain, &c);
    if (!herr)
        learn_hostent(name, c.ret);
    else
        h_errno = herr;
    carom__leave();
    return c.ret;
}

CAROM_EXPORT struct hostent *gethostbyname(const char *name)
{
    return carom_gethostbyname2(name, 0);
}
CAROM_EXPORT struct hostent *gethostbyname2(const char *name, int af)
{
    return carom_gethostbyname2(name, af);
}

static int carom_gethostbyname2_r(const char *name, int af, struct hostent *buf, char *mem,
                                  size_t len, struct hostent **result, int *h_errnop)
{
    carom__init();
    if (!name || !carom__g.active || numeric_host(name) || !CAROM_ENTER())
        return af ? carom__real.gethostbyname2_r(name, af, buf, mem, len, result, h_errnop)
                  : carom__real.gethostbyname_r(name, buf, mem, len, result, h_errnop);
    struct hb_ctx c = {.name = name,
                       .af = af,
                       .buf = buf,
                       .mem = mem,
                       .len = len,
                       .result = result,
                       .h_errnop = h_errnop};
    int herr = hb_retry(name, hb_reentrant, &c);
    if (!herr) learn_hostent(name, *result);
    carom__leave();
    return c.rc;
}

CAROM_EXPORT int gethostbyname_r(const char *name, struct hostent *buf, char *mem, size_t len,
                                 struct hostent **result, int *h_errnop)
{
    return carom_gethostbyname2_r(name, 0, buf, mem, len, result, h_errnop);
}
CAROM_EXPORT int gethostbyname2_r(const char *name, int af, struct hostent *buf, char *mem,
                                  size_t len, struct hostent **result, int *h_errnop)
{
    return carom_gethostbyname2_r(name, af, buf, mem, len, result, h_errnop);
}
