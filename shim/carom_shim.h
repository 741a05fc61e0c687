/* carom_shim.h: the shim's internal contract: the real symbols, the per-fd table, the
 * per-endpoint state slots and the shared helpers every wrapper file uses. Nothing here
 * is exported from the .so (-fvisibility=hidden plus the version script); it must never
 * be included by core/, policy/ or tools/. */
#ifndef CAROM_SHIM_H
#define CAROM_SHIM_H

#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "../core/carom_core.h"
#include "../policy/carom_policy.h"

#define CAROM_EXPORT __attribute__((visibility("default")))
#define CAROM_LIKELY(x) __builtin_expect(!!(x), 1)
#define CAROM_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- real symbols ------------------------------------------------------------------- */

/* Every pointer starts at a boot trampoline that binds all symbols (pthread_once) and then
 * forwards, so a wrapper called before the constructor (from another library's
 * constructor) still works and the hot path never tests for NULL. */
struct carom_real {
    int (*socket)(int, int, int);
    int (*connect)(int, const struct sockaddr *, socklen_t);
    int (*close)(int);
    int (*close_range)(unsigned, unsigned, int);
    void (*closefrom)(int);
    int (*dup)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    int (*fcntl)(int, int, ...);
    int (*setsockopt)(int, int, int, const void *, socklen_t);
    int (*getsockopt)(int, int, int, void *, socklen_t *);
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*readv)(int, const struct iovec *, int);
    ssize_t (*writev)(int, const struct iovec *, int);
    ssize_t (*send)(int, const void *, size_t, int);
    ssize_t (*recv)(int, void *, size_t, int);
    ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
    ssize_t (*sendmsg)(int, const struct msghdr *, int);
    ssize_t (*recvmsg)(int, struct msghdr *, int);
    ssize_t (*read_chk)(int, void *, size_t, size_t);
    ssize_t (*recv_chk)(int, void *, size_t, size_t, int);
    ssize_t (*recvfrom_chk)(int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *);
    int (*poll)(struct pollfd *, nfds_t, int);
    int (*getaddrinfo)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
    void (*freeaddrinfo)(struct addrinfo *);
    struct hostent *(*gethostbyname)(const char *);
    struct hostent *(*gethostbyname2)(const char *, int);
    int (*gethostbyname_r)(const char *, struct hostent *, char *, size_t, struct hostent **, int *);
    int (*gethostbyname2_r)(const char *, int, struct hostent *, char *, size_t, struct hostent **,
                            int *);
};
extern struct carom_real carom__real;
void carom__bind(void);

/* ---- process state ------------------------------------------------------------------ */

/* Set once by carom__init (under pthread_once) and never changed after: readers need no
 * lock. `active` is false when CAROM_DISABLE=1, when the config was bad, or before init. */
struct carom_global {
    bool active;
    const carom_table *table;
    carom_names *names;
    uint64_t chaos_seed;
    bool chaos_on;
};
extern struct carom_global carom__g;

/* Runs the one-time initialisation if it has not run; cheap afterwards. Safe from any
 * wrapper, including one called while init itself runs (it then returns at once). */
void carom__init(void);

/* Monotonic milliseconds: the clock every core call gets. */
static inline uint64_t carom__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
uint64_t carom__now_ns(void);

/* The calling thread's PRNG, seeded on first use. */
carom_rng *carom__rng(void);

/* Sleeps ms on the monotonic clock; a signal handler runs and the sleep resumes, so the
 * delay is neither cut short nor the signal lost. */
void carom__sleep_ms(uint32_t ms);

/* The recursion guard. carom__enter returns false when this thread is already inside the
 * shim (then the caller passes straight through). It remembers the stack frame that
 * entered, so a guard abandoned by a jump is taken over by a later call from a shallower
 * frame. It is never held across a call that can block or a sleep: suspend drops it
 * (returning what to resume), so a siglongjmp out of a blocking call leaves it clear. */
bool carom__enter(void *frame);
void carom__leave(void);
void *carom__guard_suspend(void);
void carom__guard_resume(void *saved);
#define CAROM_ENTER() carom__enter(__builtin_frame_address(0))

/* ---- endpoint slots: a cushion and a budget per (policy, endpoint) ------------------- */

#define CAROM_EP_KEY_MAX 96
struct carom_slot {
    _Atomic uint64_t key_hash; /* 0: free */
    _Atomic uint64_t last_used_ms;
    uint32_t policy_index;
    char key[CAROM_EP_KEY_MAX]; /* "host:port", as events show it */
    carom_cushion cushion;
    carom_budget budget;
    /* limit.c: the endpoint's rate limit and its connection slots, host-wide. */
    carom_bucket bucket;
    carom_leases leases;
};

/* The slot for policy p and endpoint key (created on first use). NULL only when the
 * table is full of recently used slots; callers then act without a cushion. */
struct carom_slot *carom__slot(const carom_policy *p, const char *key);

/* ---- per-fd table --------------------------------------------------------------------- */

enum carom_fd_state {
    CAROM_FD_FRESH = 0,   /* a TCP socket nobody has connected yet */
    CAROM_FD_CONNECTING,  /* non-blocking connect in progress: outcome not yet seen */
    CAROM_FD_CONNECTED,
    CAROM_FD_FAILED,
};

#define CAROM_OPTS_MAX 12
struct carom_opt {
    int level, name;
    socklen_t len;
    unsigned char val[32];
};

struct carom_fd {
    struct carom_fd *next_free;
    int domain, type, protocol;
    bool nonblock;       /* as far as socket()/fcntl() told us */
    bool curl_guarded;   /* a libcurl hook retries this transfer: no socket retries */
    bool chaos_io;       /* the policy injects I/O faults: the I/O path asks chaos.c */
    uint8_t state;       /* enum carom_fd_state */
    unsigned nopts;
    struct carom_opt opts[CAROM_OPTS_MAX];
    const carom_policy *pol;
    struct carom_slot *slot;
    carom_ticket ticket;
    bool ticket_open; /* a connect outcome still owed to the cushion */
    int pending_err;  /* a settled connect's errno, owed to the next SO_ERROR query */
    struct sockaddr_storage peer;
    socklen_t peerlen;
    struct sockaddr_storage bound; /* the program's own bind(), seen before connecting */
    socklen_t boundlen;            /* 0: it made none */
    char ep[CAROM_EP_KEY_MAX];
    _Atomic int replacing; /* a retry is putting a fresh socket in place (connect.c) */
    /* limit.c: the connection slot this socket holds (index + 1; 0: none), in which
     * slot's leases and as which holder. Never copied by dup (the original holds it). */
    uint16_t lease;
    uint32_t lease_holder;
    carom_leases *lease_in;
};

/* Indexed by fd, sized from RLIMIT_NOFILE at init; NULL entries are untracked fds. Reads
 * are one relaxed load, so the pass-through costs one bounds check and one load. */
extern _Atomic(struct carom_fd *) *carom__fds;
extern unsigned carom__nfds;

static inline struct carom_fd *carom__fd(int fd)
{
    if (CAROM_LIKELY((unsigned)fd >= carom__nfds))
        return NULL;
    return atomic_load_explicit(&carom__fds[fd], memory_order_acquire);
}
struct carom_fd *carom__fd_track(int fd, int domain, int type, int protocol);
void carom__fd_untrack(int fd);
void carom__fd_copy(int from, int to); /* dup: `to` tracks what `from` tracked */
/* fd no longer holds the socket f describes (closed where no wrapper saw it, the number
 * reused). A few system calls: only before acting on the descriptor. */
bool carom__fd_stale(int fd, const struct carom_fd *f);
/* True in a vfork child (it runs in its parent's memory, so it must not change the
 * parent's fd table). One getpid: only on paths that change the table. */
bool carom__vfork_child(void);

/* ---- the engine, applied (connect.c, io.c, dns.c) ------------------------------------- */

/* Binds policy and slot for the fd's peer; returns the policy. */
const carom_policy *carom__fd_bind_policy(struct carom_fd *f, const struct sockaddr *addr,
                                          socklen_t len);
/* Feeds an I/O error on a connected socket to its endpoint's cushion. */
void carom__io_failed(struct carom_fd *f, int err);
/* A non-blocking connect's failure surfaced (SO_ERROR, second connect, first I/O): retry it
 * on the spot when the policy allows. Returns 0 when the socket is now connected, else
 * the errno the program should see. */
int carom__nb_surface(int fd, struct carom_fd *f, int err);
/* Outcome of a non-blocking connect seen as success. */
void carom__nb_success(struct carom_fd *f);
/* How many non-blocking connects await their outcome: poll() looks at its results only
 * while this is non-zero. A hint, kept by carom__nb_open/carom__nb_close. */
extern _Atomic int carom__nb_pending;
void carom__nb_open(struct carom_fd *f);
void carom__nb_close(struct carom_fd *f);

bool carom__retryable(const carom_policy *p, int err);

/* Non-zero while this thread is inside a libcurl hook that guards the transfer (curl.c):
 * sockets created meanwhile are marked curl_guarded, so the socket layer does not retry
 * what the libcurl layer already retries. */
extern __thread int carom__curl_depth;

/* ---- rate limits and bulkheads (limit.c) ------------------------------------------------ */

/* Before a connect attempt of f (the record of fd), the first and every retry (retries
 * take tokens too): a connection slot when the policy sets max_connections (once per
 * socket, kept until it closes), then a token when it sets rate_limit. Waits for either
 * on the shared word for at most limit_wait_ms and never past clk's deadline. Returns 0,
 * ETIMEDOUT when the wait ran out (docs/configuration.md, "Rate limits and bulkheads"),
 * or EBADF when fd was closed during the wait (then f may be someone else's record: the
 * caller touches nothing of it). Costs one load and a branch when both limits are off. */
int carom__limit_wait(int fd, struct carom_fd *f, const carom_shot_clock *clk, bool token);
static inline int carom__limit_connect(int fd, struct carom_fd *f, const carom_shot_clock *clk)
{
    if (CAROM_LIKELY(!(f->pol->rate_limit | f->pol->max_connections))) /* pol is bound */
        return 0;
    return carom__limit_wait(fd, f, clk, true);
}
/* Whether any policy of the table sets a limit (computed once): lets paths that would
 * otherwise not bind a policy skip it. */
bool carom__limit_any(void);
/* Only the connection slot, for a socket whose transfer libcurl's layer already paid a
 * token for. Same returns. */
static inline int carom__limit_slot(int fd, struct carom_fd *f, const carom_shot_clock *clk)
{
    if (CAROM_LIKELY(!f->pol->max_connections)) /* pol is bound */
        return 0;
    return carom__limit_wait(fd, f, clk, false);
}
/* Gives back f's connection slot, if it holds one (close, final failure, fd reuse).
 * Async-signal-safe; keeps errno. */
/* The same in two steps, for close(): detach takes the slot off f (f may be NULL), drop
 * gives it back once the descriptor is really closed. */
struct carom_lease_hold {
    uint16_t lease;
    uint32_t holder;
    carom_leases *in;
};
void carom__limit_detach_slow(struct carom_fd *f, struct carom_lease_hold *h);
void carom__limit_drop_slow(const struct carom_lease_hold *h);
static inline void carom__limit_detach(struct carom_fd *f, struct carom_lease_hold *h)
{
    h->lease = 0;
    if (CAROM_UNLIKELY(f && f->lease))
        carom__limit_detach_slow(f, h);
}
static inline void carom__limit_drop(const struct carom_lease_hold *h)
{
    if (CAROM_UNLIKELY(h->lease))
        carom__limit_drop_slow(h);
}
static inline void carom__limit_release(struct carom_fd *f)
{
    if (CAROM_UNLIKELY(f->lease)) {
        struct carom_lease_hold h;
        carom__limit_detach_slow(f, &h);
        carom__limit_drop(&h);
    }
}
/* Before a libcurl transfer attempt: a token when p sets rate_limit, as above. On
 * ETIMEDOUT it writes a readable reason into errbuf (when not NULL). */
int carom__limit_curl(const carom_policy *p, struct carom_slot *s, const char *ep,
                      const carom_shot_clock *clk, char *errbuf, size_t errlen);

/* ---- chaos (chaos.c) ------------------------------------------------------------------- */

enum carom_fault {
    CAROM_F_CONNECT_REFUSE,
    CAROM_F_CONNECT_TIMEOUT,
    CAROM_F_DNS_FAIL,
    CAROM_F_RESET,
    CAROM_F_LATENCY,
    CAROM_F_SHORT_WRITE,
    CAROM_F_HTTP_STATUS,
    CAROM_F__N
};
/* True when fault `kind`, with probability prob, strikes this call to endpoint; emits the
 * `chaos` event then. *draw (if not NULL) gets further deterministic random bits, e.g. for
 * a short write's length. Always false while chaos is off or prob is 0. */
bool carom__chaos(const carom_policy *p, enum carom_fault kind, double prob, const char *endpoint,
                  const char *call, uint64_t *draw);
uint64_t carom__chaos_draw(enum carom_fault kind, const char *endpoint);
/* Whether any I/O fault is configured for p (so the I/O path can skip chaos cheaply). */
bool carom__chaos_io(const carom_policy *p);
/* Sleeps chaos.latency_ms with probability chaos.latency (a `chaos` event when it does). */
void carom__chaos_latency(const carom_policy *p, const char *endpoint, const char *call);

/* ---- HTTP header lines (http.c) ----------------------------------------------------------- */

/* The status of a "HTTP/x yyy ..." line, 0 when buf is not one. */
long carom__http_status(const char *buf, size_t len);
/* An "Accept-Ranges: bytes" line. */
bool carom__http_accept_ranges(const char *buf, size_t len);
/* The first byte of a "Content-Range: bytes N-M/T" line, -1 when there is none. */
int64_t carom__http_content_range_start(const char *buf, size_t len);

/* ---- scoreboard hook ------------------------------------------------------------------- */

struct carom_event {
    const char *event;    /* "shot", "retry", "open", ... */
    const char *policy;
    const char *endpoint;
    const char *call;     /* "connect", "getaddrinfo", "recv", "curl" */
    int attempt;          /* 0: not applicable */
    int64_t delay_ms;     /* -1: not applicable */
    int64_t elapsed_ms;   /* -1: not applicable */
    const char *error;    /* NULL: ok / not applicable */
    const char *detail;   /* free text without payload: chaos fault name, ... */
};
/* Never blocks, never fails visibly. */
void carom__emit(const struct carom_event *ev);

/* The program closes or replaces descriptors lo..hi. The check is inline, so a close or
 * dup2 of any other descriptor costs one load; only when the scoreboard's own socket is
 * among them does carom__emit_fd_closed forget it (events.c). */
extern _Atomic int carom__sb_fd;
void carom__emit_fd_closed(int lo, int hi);
static inline void carom__emit_fd_closing(int lo, int hi)
{
    int fd = atomic_load_explicit(&carom__sb_fd, memory_order_relaxed);
    if (CAROM_UNLIKELY(fd >= 0 && fd >= lo && fd <= hi))
        carom__emit_fd_closed(lo, hi);
}

#endif
