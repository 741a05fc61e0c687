/* carom_shim.h: the shim's internal contract: the real symbols, the per-fd table, the
 * per-endpoint state slots and the shared helpers every wrapper file uses. Nothing here
 * is exported from the .so (-fvisibility=hidden plus the version script); it must never
 * be included by core/, policy/ or tools/. */
#ifndef CAROM_SHIM_H
#define CAROM_SHIM_H

#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#if !defined(__x86_64__)
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "../core/carom_core.h"
#include "../policy/carom_policy.h"

#define CAROM_EXPORT __attribute__((visibility("default")))
#define CAROM_LIKELY(x) __builtin_expect(!!(x), 1)
#define CAROM_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Declarations are grouped by the file that defines them (a section names its file). */

/* ---- real.c: real symbols ------------------------------------------------------------ */

/* Every pointer starts at a boot trampoline that binds all symbols (pthread_once) and then
 * forwards, so a wrapper called before the constructor (from another library's
 * constructor) still works and the hot path never tests for NULL. */
struct carom__real_calls {
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
    int (*bind)(int, const struct sockaddr *, socklen_t);
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
    int (*gethostbyname_r)(const char *, struct hostent *, char *, size_t, struct hostent **,
                           int *);
    int (*gethostbyname2_r)(const char *, int, struct hostent *, char *, size_t, struct hostent **,
                            int *);
};
extern struct carom__real_calls carom__real;
void carom__bind(void);

/* ---- init.c: process state, the config reader, init ------------------------------------ */

/* Set once by carom__init (under pthread_once) and never changed after: readers need no
 * lock. `active` is false when CAROM_DISABLE=1, when the config was bad, or before init. */
struct carom__global {
    bool active;
    /* The policy table in force: replaced whole by a reload (control.c), never freed, so a
     * call keeps the policy it started with. */
    _Atomic(const carom_table *) table;
    carom_names *names;
    uint64_t chaos_seed;
    bool chaos_on;
    /* Chaos asked for explicitly (CAROM_CHAOS=1, or [chaos] enabled = on written in the
     * file): only then do faults set at run time apply (control.c). */
    bool chaos_asked;
};
extern struct carom__global carom__g;

/* The config reader every load and reload goes through (init.c): only a regular file
 * another user cannot have planted or edited. 0 with the text (malloc'd) and its stat, or
 * -1 with *why (NULL: errno says). */
int carom__read_config(const char *path, char **out, size_t *len, const char **why,
                       struct stat *st);
/* One diagnostic line: to stderr with a raw write, and as a config_error event. */
void carom__diag_line(void *ud, const char *line);
/* Runs the one-time initialisation if it has not run; one inline load afterwards. Safe
 * from any wrapper, including one called while init itself runs (it then returns at
 * once). */
extern _Atomic bool carom__init_done; /* carom__g is set (or will never be) */
void carom__init_slow(void);
static inline void carom__init(void)
{
    if (CAROM_LIKELY(atomic_load_explicit(&carom__init_done, memory_order_acquire))) return;
    carom__init_slow();
}

/* ---- control.c: live control ----------------------------------------------------------- */

/* At most once a second, at the next call that needs a policy (never on the I/O path): is
 * the config file changed (then reload it), and, with chaos enabled, has `carom chaos`
 * changed the runtime faults? One load and a compare otherwise. */
extern _Atomic uint64_t carom__control_next_ms;
void carom__control_check_slow(uint64_t now_ms);
static inline void carom__control_check(uint64_t now_ms)
{
    if (__builtin_expect(
            now_ms >= atomic_load_explicit(&carom__control_next_ms, memory_order_relaxed), 0))
        carom__control_check_slow(now_ms);
}
/* Called once by init with the file it loaded (NULL: none, nothing to watch). */
void carom__control_start(const char *path, const struct stat *st);
/* p, or p with the runtime faults `carom chaos` set for this endpoint (chaos enabled only):
 * a copy made once per (policy, rule), never freed. Inline while no runtime fault is set. */
extern _Atomic(const carom_table *) carom__control_overlay;
const carom_policy *carom__control_policy_slow(const carom_policy *p, const char *host,
                                               const struct sockaddr *addr, uint16_t port);
static inline const carom_policy *carom__control_policy(const carom_policy *p, const char *host,
                                                        const struct sockaddr *addr, uint16_t port)
{
    if (CAROM_LIKELY(!carom__g.chaos_asked) ||
        !atomic_load_explicit(&carom__control_overlay, memory_order_acquire))
        return p;
    return carom__control_policy_slow(p, host, addr, port);
}

/* ---- curl_real.c: the libcurl layer (the rest is in curl_int.h) ---------------------- */

/* Non-zero while this thread is inside a libcurl hook that guards the transfer (curl_*.c):
 * sockets created meanwhile are marked curl_guarded, so the socket layer does not retry
 * what the libcurl layer already retries. */
extern __thread int carom__curl_depth;

/* ---- fork: init.c keeps the one atfork list; each file below gives it a handler ---------- */

/* Each file with a lock gives the atfork list one handler: PREPARE takes the lock, PARENT
 * and CHILD release it (CHILD may also reset per-process state). */
enum { CAROM_ATFORK_PREPARE = 0, CAROM_ATFORK_PARENT = 1, CAROM_ATFORK_CHILD = 2 };
void carom__curl_atfork(int phase); /* curl_rec.c */
void carom__dns_atfork(int phase);  /* dns.c */
void carom__rng_atfork(int phase);  /* guard.c */

/* A raw system call of up to two arguments, inline: the kernel's answer (-errno on a
 * failure), errno left alone. For the two the fast paths make (connect's F_GETFL, the
 * vfork check's getpid in close), where libc's syscall() is an out-of-line variadic call
 * that costs more than the call itself (docs/performance.md). */
static inline long carom__sys2(long nr, long a, long b)
{
#if defined(__x86_64__)
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "0"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
    return r;
#else
    int saved = errno;
    long r = syscall(nr, a, b);
    if (r == -1) {
        r = -errno;
        errno = saved;
    }
    return r;
#endif
}

/* The same with three arguments. */
static inline long carom__sys3(long nr, long a, long b, long c)
{
#if defined(__x86_64__)
    long r;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "0"(nr), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return r;
#else
    int saved = errno;
    long r = syscall(nr, a, b, c);
    if (r == -1) {
        r = -errno;
        errno = saved;
    }
    return r;
#endif
}

/* ---- guard.c: the clock, the PRNG, sleeping, the recursion guard ------------------------- */

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
/* True when carom__enter(frame) would refuse: a live guard above frame (no mask taken, no
 * change). Lets a call run its fast path unguarded (connect.c, docs/performance.md). */
extern __thread void *carom__guard_frame; /* the frame that holds the guard (guard.c) */
static inline bool carom__guard_nested(void *frame)
{
    return carom__guard_frame && (uintptr_t)frame < (uintptr_t)carom__guard_frame;
}
/* The asynchronous signals: every one but the faults a crash raises. */
/* Builds the set carom__async_signals hands out, once, at load. */
void carom__async_signals_prepare(void);
void carom__async_signals(sigset_t *all);
void *carom__guard_suspend(void);
void carom__guard_resume(void *saved);
#define CAROM_ENTER() carom__enter(__builtin_frame_address(0))

/* ---- shm.c: endpoint slots, a cushion and a budget per (policy, endpoint) -------------- */

/* The slot itself is core's carom_slot (its layout is shared with `carom cushions`). */
#define CAROM_EP_KEY_MAX CAROM_SLOT_KEY_MAX

/* The slot for policy p and endpoint key (created on first use). NULL only when the table
 * is full of recently used slots; callers then act without a cushion. */
struct carom_slot *carom__slot_find(const carom_policy *p, const char *key);
/* The same, first trying the slot hint remembers (one load and a compare when it still
 * holds): hint is the caller's, updated on a miss. Callers keep one per endpoint. */
struct carom__slot_hint {
    const void *tab; /* the slot table it was found in */
    const carom_policy *pol;
    struct carom_slot *slot;
    uint64_t h; /* carom_slot_hash(pol->index, key) */
};
struct carom_slot *carom__slot_find_hinted_slow(const carom_policy *p, const char *key,
                                                struct carom__slot_hint *hint, uint64_t now_ms);
/* The slot table in force (NULL until the first look-up attaches it): shm.c. */
struct slot_table;
extern _Atomic(struct slot_table *) carom__slot_tab;
/* The slot for key under p, through hint (what this caller found last time). The hit is
 * inline: the table, the policy and the slot's own hash word unchanged, and the slot
 * touched less than a second ago (core/slots.c touches it at most once a second, so
 * nothing is skipped); anything else goes to shm.c, which looks up and touches. */
static inline struct carom_slot *carom__slot_find_hinted(const carom_policy *p, const char *key,
                                                         struct carom__slot_hint *hint,
                                                         uint64_t now_ms)
{
    struct carom_slot *s = hint->slot;
    if (CAROM_LIKELY(s && hint->pol == p &&
                     hint->tab == atomic_load_explicit(&carom__slot_tab, memory_order_acquire) &&
                     atomic_load_explicit(&s->key_hash, memory_order_acquire) == hint->h)) {
        uint64_t last = atomic_load_explicit(&s->last_used_ms, memory_order_relaxed);
        if (CAROM_LIKELY(last <= now_ms && now_ms - last < 1000)) return s;
    }
    return carom__slot_find_hinted_slow(p, key, hint, now_ms);
}
/* The slots now follow table t (a reload with a new config): its shared table, or this
 * process's own. Slots handed out before stay valid. */
void carom__slots_switch(const carom_table *t);
/* The shared table's header words (enum carom_shm_word), NULL with per-process state or
 * before the first endpoint look-up. */
_Atomic uint64_t *carom__slots_header(void);
/* Maps (or creates) the shared table for t: its slots, their count and its header words.
 * Returns 0, or -1 with a reason in why. */
int carom__shm_attach(const carom_table *t, struct carom_slot **slots, unsigned *n,
                      _Atomic uint64_t **header, char *why, size_t whylen);
/* The runtime chaos rules of a shared table whose header is h. */
carom_chaos_rule *carom__shm_rules(_Atomic uint64_t *h, unsigned *n);

/* ---- fd.c: the per-fd table (the look-up is inline here) -------------------------------- */

enum carom__fd_state {
    CAROM_FD_FRESH = 0,  /* a TCP socket nobody has connected yet */
    CAROM_FD_CONNECTING, /* non-blocking connect in progress: outcome not yet seen */
    CAROM_FD_CONNECTED,
    CAROM_FD_FAILED,
};

#define CAROM_OPTS_MAX 12

/* A connection's stream faults (chaos.c): decided once per connection, at its first I/O
 * call, so the per-call cost is a few loads. Only looked at while carom__fd_rec.chaos_io. The
 * counters of a direction belong to the thread doing that direction's I/O (a stream has
 * one reader and one writer at a time); the bits are atomic since both directions set
 * them. */
struct carom__fd_chaos {
    _Atomic uint8_t on;  /* CAROM_CX_* bits */
    uint64_t bytes[2];   /* moved so far: [0] down (received), [1] up (sent) */
    uint64_t next_ns[2]; /* chaos.bandwidth_kbps: the earliest next call, per direction */
    uint64_t since_ms;   /* chaos.blackhole: when a non-blocking read first found nothing */
};
struct carom__opt {
    int level, name;
    socklen_t len;
    unsigned char val[32];
};

struct carom__fd_rec {
    /* The pool's own words (fd.c): never cleared or copied with the rest. */
    _Atomic uint32_t pool_next; /* index of the next free record (0: none) */
    uint32_t pool_idx;          /* this record's index (>= 1) */
    /* From here to `cx`, everything starts zeroed (carom__fd_track). */
    int domain, type, protocol;
    bool nonblock;      /* as far as socket()/fcntl() told us */
    bool curl_guarded;  /* a libcurl hook retries this transfer: no socket retries */
    bool chaos_io;      /* the policy injects I/O faults: the I/O path asks chaos.c */
    bool chaos_connect; /* the policy injects connect faults (connect.c) */
    uint8_t state;      /* enum carom__fd_state */
    bool ticket_open;   /* `shot` is in flight: its outcome is still owed */
    unsigned nopts;
    const carom_policy *pol;
    struct carom_slot *slot;
    int pending_err;       /* a settled connect's errno, owed to the next SO_ERROR query */
    socklen_t peerlen;     /* 0: no peer yet */
    socklen_t boundlen;    /* 0: the program made no bind() of its own (connect.c) */
    _Atomic int replacing; /* a retry is putting a fresh socket in place (connect.c) */
    /* limit.c: the connection slot this socket holds (index + 1; 0: none), in which
     * slot's leases and as which holder. Never copied by dup (the original holds it). */
    uint16_t lease;
    uint32_t lease_holder;
    carom_leases *lease_in;
    struct carom__fd_chaos cx; /* reset whenever the policy is bound (connect.c), read only
                                * under chaos_io */
    /* Below: read only as far as the fields above say (nopts, ticket_open, peerlen,
     * boundlen, pol), so a fresh record leaves them as they were. */
    struct carom__opt opts[CAROM_OPTS_MAX];
    carom_shot shot; /* a non-blocking connect's shot, carried until its outcome surfaces */
    struct sockaddr_storage peer;
    struct sockaddr_storage bound; /* the program's own bind(), as it asked for it */
    char ep[CAROM_EP_KEY_MAX];     /* set with pol */
};

/* Indexed by fd, sized from RLIMIT_NOFILE at init; NULL entries are untracked fds. Reads
 * are one relaxed load, so the pass-through costs one bounds check and one load. */
extern _Atomic(struct carom__fd_rec *) *carom__fds;
extern unsigned carom__nfds;

static inline struct carom__fd_rec *carom__fd(int fd)
{
    if (CAROM_LIKELY((unsigned)fd >= carom__nfds)) return NULL;
    return atomic_load_explicit(&carom__fds[fd], memory_order_acquire);
}
struct carom__fd_rec *carom__fd_track(int fd, int domain, int type, int protocol);
void carom__fd_untrack(int fd);
void carom__fd_copy(int from, int to); /* dup: `to` tracks what `from` tracked */
/* fd no longer holds the socket f describes (closed where no wrapper saw it, the number
 * reused). A few system calls: only before acting on the descriptor. */
bool carom__fd_stale(int fd, const struct carom__fd_rec *f);
/* True in a vfork child (it runs in its parent's memory, so it must not change the
 * parent's fd table). One getpid: only on paths that change the table. */
/* ---- proc.c: which process this is ------------------------------------------------------ */

bool carom__vfork_child(void);
/* Records records the calling process as the owner of this memory (at load, and in every
 * fork child); whether that has happened yet. */
void carom__proc_owner_set(void);
bool carom__proc_owner_known(void);

/* ---- attempt.c: one connect attempt, and a retry's fresh socket -------------------------- */
/* Connect faults for f's policy, below the retry engine: 0 or the errno injected. */
int carom__attempt_chaos(struct carom__fd_rec *f, uint32_t timeout_ms);
/* One attempt that finishes within timeout_ms (0: the system's own) whatever the socket's
 * mode; owner is f for the program's descriptor, NULL for a private socket. 0 or an errno. */
int carom__attempt(int fd, const struct carom__fd_rec *owner, struct carom__fd_rec *f,
                   const struct sockaddr *a, socklen_t l, uint32_t timeout_ms, int fl);
/* Puts a fresh socket like fd's in its place: 0 or an errno (EBADF: fd closed meanwhile). */
int carom__replace(int fd, struct carom__fd_rec *f, int family);
/* One retry on a fresh socket: its return and *err as attempt.c says. */
int carom__retry_once(int fd, struct carom__fd_rec *f, const struct sockaddr *a, socklen_t l,
                      uint32_t tmo, int *err);
/* connect.c: whether p's connect faults can do anything (chaos on, a fault set). */
bool carom__connect_chaos(const carom_policy *p);

/* ---- connect.c, dns.c: the engine, applied ---------------------------------------------- */

/* Binds policy and slot for the fd's peer; returns the policy. */
const carom_policy *carom__fd_bind_policy(struct carom__fd_rec *f, const struct sockaddr *addr,
                                          socklen_t len);
/* The same at now, the config check left to the caller (carom__control_check). */
const carom_policy *carom__fd_bind_policy_at(struct carom__fd_rec *f, const struct sockaddr *addr,
                                             socklen_t len, uint64_t now);
/* Set once any name has been learned (dns.c): until then a connect skips the names table. */
extern _Atomic bool carom__names_used;
/* Feeds an I/O error on a connected socket to its endpoint's cushion. */
void carom__io_failed(struct carom__fd_rec *f, int err);
/* A non-blocking connect's failure surfaced (SO_ERROR, second connect, first I/O): retry it
 * on the spot when the policy allows. Returns 0 when the socket is now connected, else
 * the errno the program should see. */
int carom__nb_surface(int fd, struct carom__fd_rec *f, int err);
/* Outcome of a non-blocking connect seen as success. */
void carom__nb_success(struct carom__fd_rec *f);
/* How many non-blocking connects await their outcome: poll() looks at its results only
 * while this is non-zero. A hint, kept by carom__nb_open/carom__nb_close. */
extern _Atomic int carom__nb_pending;
void carom__nb_open(struct carom__fd_rec *f);
void carom__nb_close(struct carom__fd_rec *f);

bool carom__retryable(const carom_policy *p, int err);

/* ---- herd.c: the shot engine, applied ------------------------------------------------- */

/* Starts s at now_ms for policy p on slot (NULL: no shared state), with attempt_ms the
 * longest one attempt may hold the herd's lease. */
void carom__shot_start(carom_shot *s, const carom_policy *p, struct carom_slot *slot,
                       uint32_t attempt_ms, uint64_t now_ms);
/* The same shot's configuration and shared state, for the engine's fast first attempt
 * (carom_shot_fast_begin) and carom_shot_resume. */
void carom__shot_prepare(carom_shot_cfg *cfg, carom_shot_env *env, const carom_policy *p,
                         struct carom_slot *slot, uint32_t attempt_ms);
/* Names the caller in s's herd (the thread id): call once the first attempt has failed,
 * before the engine is asked for a retry. */
void carom__shot_retrying(carom_shot *s);
/* Carries out a WAIT step: blocks on the herd's word (a futex on the shared mapping) for at
 * most st->ms, returning early on a wake-up or a signal (whose handler runs); the caller
 * then asks the engine again. No guard is held while it blocks. A lease holder found dead
 * afterwards loses its lease. */
void carom__shot_wait(carom_shot *s, const carom_shot_step *st);
/* Wakes every caller waiting on the herd h (after a published success). */
void carom__herd_wake(carom_herd *h);
/* The calling thread's id, as the herd's lease names it. */
uint32_t carom__self(void);

/* ---- limit.c: rate limits and bulkheads ------------------------------------------------ */

/* Before a connect attempt of f (the record of fd), the first and every retry (retries
 * take tokens too): a connection slot when the policy sets max_connections (once per
 * socket, kept until it closes), then a token when it sets rate_limit. Waits for either
 * on the shared word for at most limit_wait_ms and never past clk's deadline. Returns 0,
 * ETIMEDOUT when the wait ran out (docs/configuration.md, "Rate limits and bulkheads"),
 * or EBADF when fd was closed during the wait (then f may be someone else's record: the
 * caller touches nothing of it). Costs one load and a branch when both limits are off. */
int carom__limit_wait(int fd, struct carom__fd_rec *f, const carom_shot_clock *clk, bool token);
static inline int carom__limit_connect(int fd, struct carom__fd_rec *f, const carom_shot_clock *clk)
{
    if (CAROM_LIKELY(!(f->pol->rate_limit | f->pol->max_connections))) /* pol is bound */
        return 0;
    return carom__limit_wait(fd, f, clk, true);
}
/* Whether any policy of the table sets a limit (computed once): lets paths that would
 * otherwise not bind a policy skip it. */
extern _Atomic int carom__limit_known; /* 0: not yet known, 1: no policy limits, 2: some do */
bool carom__limit_any_slow(void);
void carom__limit_forget(void); /* after a reload installs a new table */
static inline bool carom__limit_any(void)
{
    int a = atomic_load_explicit(&carom__limit_known, memory_order_relaxed);
    if (CAROM_LIKELY(a)) return a == 2;
    return carom__limit_any_slow();
}
/* Only the connection slot, for a socket whose transfer libcurl's layer already paid a
 * token for. Same returns. */
static inline int carom__limit_slot(int fd, struct carom__fd_rec *f, const carom_shot_clock *clk)
{
    if (CAROM_LIKELY(!f->pol->max_connections)) /* pol is bound */
        return 0;
    return carom__limit_wait(fd, f, clk, false);
}
/* Gives back f's connection slot, if it holds one (close, final failure, fd reuse).
 * Async-signal-safe; keeps errno. */
/* The same in two steps, for close(): detach takes the slot off f (f may be NULL), drop
 * gives it back once the descriptor is really closed. */
struct carom__lease_hold {
    uint16_t lease;
    uint32_t holder;
    carom_leases *in;
};
void carom__limit_detach_slow(struct carom__fd_rec *f, struct carom__lease_hold *h);
void carom__limit_drop_slow(const struct carom__lease_hold *h);
static inline void carom__limit_detach(struct carom__fd_rec *f, struct carom__lease_hold *h)
{
    h->lease = 0;
    if (CAROM_UNLIKELY(f && f->lease)) carom__limit_detach_slow(f, h);
}
static inline void carom__limit_drop(const struct carom__lease_hold *h)
{
    if (CAROM_UNLIKELY(h->lease)) carom__limit_drop_slow(h);
}
static inline void carom__limit_release(struct carom__fd_rec *f)
{
    if (CAROM_UNLIKELY(f->lease)) {
        struct carom__lease_hold h;
        carom__limit_detach_slow(f, &h);
        carom__limit_drop(&h);
    }
}
/* Before a libcurl transfer attempt: a token when p sets rate_limit, as above. On
 * ETIMEDOUT it writes a readable reason into errbuf (when not NULL). */
int carom__limit_curl(const carom_policy *p, struct carom_slot *s, const char *ep,
                      const carom_shot_clock *clk, char *errbuf, size_t errlen);
/* The same for a libcurl multi transfer, without waiting: the token is reserved and due
 * after *wait_ms (0: now), when the caller starts the attempt from the program's own loop.
 * ETIMEDOUT (with errbuf filled) when none can be had within limit_wait_ms. */
int carom__limit_curl_reserve(const carom_policy *p, struct carom_slot *s, const char *ep,
                              const carom_shot_clock *clk, char *errbuf, size_t errlen,
                              uint32_t *wait_ms);

/* ---- chaos.c: chaos ------------------------------------------------------------------- */

enum carom__fault {
    CAROM_F_CONNECT_REFUSE,
    CAROM_F_CONNECT_TIMEOUT,
    CAROM_F_DNS_FAIL,
    CAROM_F_RESET,
    CAROM_F_LATENCY,
    CAROM_F_SHORT_WRITE,
    CAROM_F_HTTP_STATUS,
    CAROM_F_CONNECT_LATENCY,
    CAROM_F_BLACKHOLE,
    CAROM_F_BANDWIDTH,
    CAROM_F_LIMIT_DATA,
    CAROM_F_SLICE,
    CAROM_F_SLOW_CLOSE,
    CAROM_F__N
};
/* True when fault `kind`, with probability prob, strikes this call to endpoint; emits the
 * `chaos` event then. *draw (if not NULL) gets further deterministic random bits, e.g. for
 * a short write's length. Always false while chaos is off or prob is 0. */
bool carom__chaos(const carom_policy *p, enum carom__fault kind, double prob, const char *endpoint,
                  const char *call, uint64_t *draw);
uint64_t carom__chaos_draw(enum carom__fault kind, const char *endpoint);
/* Whether any I/O fault is configured for p (so the I/O path can skip chaos cheaply). */
bool carom__chaos_io(const carom_policy *p);
/* Sleeps chaos.latency_ms with probability chaos.latency (a `chaos` event when it does). */
void carom__chaos_latency(const carom_policy *p, const char *endpoint, const char *call);
/* Sleeps chaos.connect_latency_ms with probability chaos.connect_latency, before a connect. */
void carom__chaos_connect_latency(const carom_policy *p, const char *endpoint);
/* The errno a getaddrinfo (gai) or gethostbyname (!gai) failure injected by chaos.dns_fail
 * returns: EAI_AGAIN / TRY_AGAIN, or EAI_NONAME / HOST_NOT_FOUND (chaos.dns_fail_error). */
int carom__chaos_dns_error(const carom_policy *p, bool gai);

/* The I/O faults, at the real-call boundary of a tracked socket whose chaos_io is set.
 * dir is 0 for a receive, 1 for a send; *n (NULL when unknown) is what the call asks to
 * move and may be lowered (a short read or write, always legal on a stream socket).
 * Returns true when the call is answered here without the real call: *ret is its result
 * (-1 with errno set, 0 for an end of stream, n for a write a black hole swallowed). */
bool carom__chaos_io_before(int fd, struct carom__fd_rec *f, int dir, int flags, size_t *n,
                            ssize_t *ret);
/* After a real call on such a socket moved r >= 0 bytes: counts them, paces the next (a
 * MSG_PEEK consumed nothing and counts for nothing). */
void carom__chaos_io_after(struct carom__fd_rec *f, int dir, int flags, ssize_t r);
/* Before close() of such a socket: chaos.slow_close_ms. */
void carom__chaos_close(struct carom__fd_rec *f);

/* ---- http.c: HTTP header lines ---------------------------------------------------------- */

/* The status of a "HTTP/x yyy ..." line, 0 when buf is not one. */
long carom__http_status(const char *buf, size_t len);
/* An "Accept-Ranges: bytes" line. */
bool carom__http_accept_ranges(const char *buf, size_t len);
/* The first byte of a "Content-Range: bytes N-M/T" line, -1 when there is none. */
int64_t carom__http_content_range_start(const char *buf, size_t len);

/* ---- events.c: the scoreboard hook -------------------------------------------------------- */

struct carom__event {
    const char *event; /* "shot", "retry", "open", ... */
    const char *policy;
    const char *endpoint;
    const char *call;   /* "connect", "getaddrinfo", "recv", "curl" */
    int attempt;        /* 0: not applicable */
    int64_t delay_ms;   /* -1: not applicable */
    int64_t elapsed_ms; /* -1: not applicable */
    const char *error;  /* NULL: ok / not applicable */
    const char *detail; /* free text without payload: chaos fault name, ... */
};
/* Never blocks, never fails visibly. */
void carom__emit(const struct carom__event *ev);
/* With no listener the emitter rests (drops every event) until this moment, in
 * milliseconds of the monotonic clock; events.c sets it. */
extern _Atomic uint64_t carom__sb_quiet_until_ms;
extern _Atomic uint64_t carom__sb_drops;
/* True (and the event counted as dropped) when an event made at now_ms (carom__now_ms)
 * would only be dropped: a hot path that has the time already asks this before building
 * the event, and so pays one load instead of a clock read (docs/performance.md). */
static inline bool carom__emit_quiet(uint64_t now_ms)
{
    if (CAROM_LIKELY(now_ms >=
                     atomic_load_explicit(&carom__sb_quiet_until_ms, memory_order_relaxed)))
        return false;
    atomic_fetch_add_explicit(&carom__sb_drops, 1, memory_order_relaxed);
    return true;
}
/* The event as one JSON line (with the dropped count when non-zero) into out; its length,
 * 0 when it does not fit. Used by the emitter and by bench/bench_events.c. */
size_t carom__event_encode(const struct carom__event *ev, uint64_t dropped, char *out, size_t cap);

/* The program closes or replaces descriptors lo..hi. The check is inline, so a close or
 * dup2 of any other descriptor costs one load; only when the scoreboard's own socket is
 * among them does carom__emit_fd_closed forget it (events.c). */
extern _Atomic int carom__sb_fd;
void carom__emit_fd_closed(int lo, int hi);
static inline void carom__emit_fd_closing(int lo, int hi)
{
    int fd = atomic_load_explicit(&carom__sb_fd, memory_order_relaxed);
    if (CAROM_UNLIKELY(fd >= 0 && fd >= lo && fd <= hi)) carom__emit_fd_closed(lo, hi);
}

/* ---- io.c: glibc declares these _FORTIFY_SOURCE twins only inside its fortify headers --- */
ssize_t __read_chk(int fd, void *buf, size_t n, size_t bl);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t bl, int fl);
ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t bl, int fl, struct sockaddr *a,
                       socklen_t *l);

#endif
