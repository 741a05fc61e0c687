/* state.c: the shim's process state: one-time init (config, tables), the recursion guard,
 * per-thread PRNG, the per-fd table and the endpoint slots. It must never call a wrapped
 * function (only carom__real.*), never use stdio, and never hold a lock across a call
 * that can block. */
#include "carom_shim.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct carom_global carom__g;
_Atomic(struct carom_fd *) *carom__fds;
unsigned carom__nfds;

__thread int carom__curl_depth;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static __thread bool initialising;
static _Atomic bool init_done; /* carom__g is set (or will never be) */

/* ---- guard ------------------------------------------------------------------------------- */

static __thread void *guard_frame;
static __thread sigset_t guard_mask; /* the program's signal mask, while the guard holds */

/* While the guard is held no asynchronous signal reaches this thread: a handler that
 * siglongjmp()s (wget -T, any alarm()-based timeout) can then never leave the shim with the
 * guard set, which would make every later call from a deeper frame look like recursion
 * and pass straight through for the rest of the thread's life (hostile_sigsleep.sh). The
 * guarded stretches never block (suspend below drops the guard and restores the mask
 * around every call that can), so a signal waits microseconds at most. Faults stay
 * deliverable: a crash must still reach its handler. */
static void async_signals(sigset_t *all)
{
    sigfillset(all);
    sigdelset(all, SIGSEGV);
    sigdelset(all, SIGBUS);
    sigdelset(all, SIGFPE);
    sigdelset(all, SIGILL);
    sigdelset(all, SIGTRAP);
    sigdelset(all, SIGABRT);
}

static void block_signals(void)
{
    sigset_t all;
    async_signals(&all);
    pthread_sigmask(SIG_BLOCK, &all, &guard_mask);
}

bool carom__enter(void *frame)
{
    /* The stack grows down: a call made from inside the shim has a deeper (lower) frame.
     * A guard set by a frame below the caller's was abandoned. */
    if (guard_frame && (uintptr_t)frame < (uintptr_t)guard_frame) return false;
    if (!guard_frame) block_signals();
    guard_frame = frame;
    return true;
}

void carom__leave(void)
{
    if (!guard_frame) return;
    guard_frame = NULL;
    pthread_sigmask(SIG_SETMASK, &guard_mask, NULL);
}

/* No guard is held across anything that can block: it is dropped (and the program's
 * signals let through) around each such call and taken back after. */
void *carom__guard_suspend(void)
{
    void *saved = guard_frame;
    carom__leave();
    return saved;
}

void carom__guard_resume(void *saved)
{
    if (!saved) return;
    block_signals();
    guard_frame = saved;
}

/* ---- time, randomness, sleep ---------------------------------------------------------------- */

uint64_t carom__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static __thread carom_rng tls_rng;
static __thread bool tls_rng_seeded;
static _Atomic uint64_t rng_stream;

carom_rng *carom__rng(void)
{
    if (CAROM_UNLIKELY(!tls_rng_seeded)) {
        /* Distinct per thread and per process without a syscall: the clock, the pid the
         * kernel gave us, and a process-wide counter. */
        uint64_t s = carom__now_ns() ^ ((uint64_t)getpid() << 32) ^
                     (atomic_fetch_add(&rng_stream, 1) * 0x9e3779b97f4a7c15ull);
        carom_rng_seed(&tls_rng, s);
        tls_rng_seeded = true;
    }
    return &tls_rng;
}

void carom__sleep_ms(uint32_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    /* An absolute deadline: after a handler runs we sleep only the remainder. */
    void *g = carom__guard_suspend();
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
        ;
    carom__guard_resume(g);
}

/* ---- diagnostics (raw write, never stdio) ---------------------------------------------------- */

void carom__diag_line(void *ud, const char *line)
{
    (void)ud;
    size_t n = strlen(line);
    carom__real.write(2, line, n);
    carom__real.write(2, "\n", 1);
    struct carom_event ev = {
        .event = "config_error", .delay_ms = -1, .elapsed_ms = -1, .detail = line};
    carom__emit(&ev);
}

/* ---- fd table -----------------------------------------------------------------------------------
 */

/* fd records come from a pool that is never returned to the system: a thread that races
 * a close() with I/O on the same fd (a program bug) reads a recycled record, not freed
 * memory. */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct carom_fd *pool_free;
/* Set while this thread wants or holds pool_lock. socket() and close() are
 * async-signal-safe, so a signal handler may call them while the thread it interrupted
 * holds the lock: waiting for it then never ends (hostile_sigclose.sh). Such a nested call
 * takes no record (the socket goes untracked) or leaks one (never freed memory anyway). */
static __thread volatile bool in_pool;

static struct carom_fd *pool_get(void)
{
    if (in_pool) return NULL;
    in_pool = true; /* before the lock: a handler may land while we wait for it */
    pthread_mutex_lock(&pool_lock);
    struct carom_fd *f = pool_free;
    if (f) {
        pool_free = f->next_free;
    } else {
        size_t n = 64;
        struct carom_fd *chunk = mmap(NULL, n * sizeof *chunk, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (chunk != MAP_FAILED) {
            for (size_t i = 1; i < n; i++) {
                chunk[i].next_free = pool_free;
                pool_free = &chunk[i];
            }
            f = &chunk[0];
        }
    }
    pthread_mutex_unlock(&pool_lock);
    in_pool = false;
    return f;
}

static void pool_put(struct carom_fd *f)
{
    if (in_pool) return;
    in_pool = true;
    pthread_mutex_lock(&pool_lock);
    f->next_free = pool_free;
    pool_free = f;
    pthread_mutex_unlock(&pool_lock);
    in_pool = false;
}

struct carom_fd *carom__fd_track(int fd, int domain, int type, int protocol)
{
    if ((unsigned)fd >= carom__nfds) return NULL;
    struct carom_fd *f = pool_get();
    if (!f) return NULL;
    memset(f, 0, sizeof *f);
    f->domain = domain;
    f->type = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    f->nonblock = (type & SOCK_NONBLOCK) != 0;
    f->protocol = protocol;
    struct carom_fd *old = atomic_exchange(&carom__fds[fd], f);
    if (old) {
        carom__limit_release(old); /* limit: a number reused unseen frees its slot */
        pool_put(old);
    }
    return f;
}

void carom__fd_untrack(int fd)
{
    if ((unsigned)fd >= carom__nfds) return;
    struct carom_fd *old = atomic_exchange(&carom__fds[fd], NULL);
    if (old) {
        /* A connect retry on another thread may be putting a fresh socket in place right
         * now (connect.c, replace): let it finish, so the caller's real close() closes
         * that socket rather than a number someone else opens next (hostile_closerace.sh).
         * Bounded: the thread may be the one this signal handler interrupted. */
        for (int i = 0; i < 10000 && atomic_load(&old->replacing); i++)
            sched_yield();
        carom__nb_close(old);      /* closed before its outcome was seen: no verdict */
        carom__limit_release(old); /* limit: its connection slot */
        pool_put(old);
    }
}

/* True when fd no longer holds the socket f describes: the program closed it where no
 * wrapper could see (fclose() of an fdopen()ed socket, a raw close_range system call)
 * and the number now holds a pipe, a file or another socket (hostile_daemon.sh). Costs
 * system calls: only for the rare decisions that act on the descriptor. */
bool carom__fd_stale(int fd, const struct carom_fd *f)
{
    int v = 0;
    socklen_t l = sizeof v;
    if (carom__real.getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l) != 0 || v != f->type) return true;
    l = sizeof v;
    if (carom__real.getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) == 0 && v != f->domain)
        return true;
    if (!f->peerlen) return false;
    struct sockaddr_storage ss;
    l = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &l) != 0)
        return false; /* not connected (yet, or any more): cannot tell, assume ours */
    if (ss.ss_family == AF_INET && f->peer.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        const struct sockaddr_in *b = (const struct sockaddr_in *)&f->peer;
        return a->sin_port != b->sin_port || a->sin_addr.s_addr != b->sin_addr.s_addr;
    }
    if (ss.ss_family == AF_INET6 && f->peer.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        const struct sockaddr_in6 *b = (const struct sockaddr_in6 *)&f->peer;
        return a->sin6_port != b->sin6_port ||
               memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) != 0;
    }
    return true;
}

void carom__fd_copy(int from, int to)
{
    struct carom_fd *src = carom__fd(from);
    if (!src) {
        carom__fd_untrack(to);
        return;
    }
    if ((unsigned)to >= carom__nfds) return;
    struct carom_fd *f = pool_get();
    if (!f) return;
    *f = *src;
    f->next_free = NULL;
    atomic_store(&f->replacing, 0);
    f->ticket_open = false; /* one outcome is owed once, by the original */
    f->lease = 0;           /* limit: and its connection slot is held by the original */
    struct carom_fd *old = atomic_exchange(&carom__fds[to], f);
    if (old) {
        carom__limit_release(old); /* limit: */
        pool_put(old);
    }
}

/* ---- endpoint slots: shared memory (state = shared) or this process's own ------------------- */

#define LOCAL_SLOTS 1024u /* per-process fallback: a power of two */

/* One table's slots: its shared memory (or this process's own) and the env core/slots.c
 * needs. A reload to another config publishes a new one; the old stays mapped, since
 * calls in flight may still hold its slots. */
struct slot_table {
    struct carom_slot *slots;
    unsigned n;
    _Atomic uint64_t *header; /* the shared table's header; NULL for per-process state */
    carom_slots_env env;
};
static _Atomic(struct slot_table *) slot_tab;
static pthread_once_t slots_once = PTHREAD_ONCE_INIT;

static uint64_t slots_now(void)
{
    return carom__now_ms();
}
static void slots_yield(void)
{
    sched_yield();
}

static struct slot_table *slots_make(const carom_table *t)
{
    struct slot_table *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->env.now_ms = slots_now;
    st->env.yield = slots_yield;
    if (carom_policy_state_mode(t) == CAROM_STATE_SHARED) {
        char why[256];
        if (carom__shm_attach(t, &st->slots, &st->n, &st->header, why, sizeof why) == 0) {
            st->env.evictions = &st->header[CAROM_SHM_H_EVICTIONS];
            return st;
        }
        /* One line, once per table, then the same behaviour with private state. */
        static const char pre[] = "carom: shared state unavailable (";
        static const char post[] = "); circuits and retry budgets are per process\n";
        carom__real.write(2, pre, sizeof pre - 1);
        carom__real.write(2, why, strlen(why));
        carom__real.write(2, post, sizeof post - 1);
    }
    void *m = mmap(NULL, LOCAL_SLOTS * sizeof *st->slots, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        free(st);
        return NULL;
    }
    st->slots = m;
    st->n = LOCAL_SLOTS;
    return st;
}

/* Attached on the first endpoint look-up, not at init: the many processes of a script
 * that never open a connection (sh, sleep, grep) neither touch /dev/shm nor warn. */
static void slots_attach(void)
{
    const carom_table *t = carom__g.table;
    if (t) atomic_store_explicit(&slot_tab, slots_make(t), memory_order_release);
}

void carom__slots_switch(const carom_table *t)
{
    /* Not attached yet: the first look-up attaches to whatever table is in force then. */
    if (!atomic_load_explicit(&slot_tab, memory_order_acquire)) return;
    struct slot_table *st = slots_make(t);
    if (st) atomic_store_explicit(&slot_tab, st, memory_order_release);
}

_Atomic uint64_t *carom__slots_header(void)
{
    struct slot_table *st = atomic_load_explicit(&slot_tab, memory_order_acquire);
    return st ? st->header : NULL;
}

struct carom_slot *carom__slot(const carom_policy *p, const char *key)
{
    pthread_once(&slots_once, slots_attach);
    struct slot_table *st = atomic_load_explicit(&slot_tab, memory_order_acquire);
    if (!st) return NULL;
    return carom_slots_find(st->slots, st->n, p->index, key, carom__now_ms(), &st->env);
}

/* ---- init
 * ------------------------------------------------------------------------------------------- */

static void atfork_prepare(void)
{
    pthread_mutex_lock(&pool_lock);
}
static void atfork_parent(void)
{
    pthread_mutex_unlock(&pool_lock);
}
static void atfork_child(void)
{
    carom__proc_owner_set();
    pthread_mutex_unlock(&pool_lock);
    tls_rng_seeded = false; /* a child must not replay its parent's jitter */
}

void carom__dns_atfork(int phase); /* dns.c */

/* Held while init runs. Init is lazy, so another thread may be in the middle of it (in
 * malloc, in dlsym) when the program forks: the fork waits for it to finish, and the child
 * starts with init either done or not begun, never a copy of it half-way
 * (hostile_forklock.sh). */
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

static void atfork_prepare_all(void)
{
    pthread_mutex_lock(&init_lock);
    carom__dns_atfork(0);
    atfork_prepare();
}
static void atfork_parent_all(void)
{
    atfork_parent();
    carom__dns_atfork(1);
    pthread_mutex_unlock(&init_lock);
}
static void atfork_child_all(void)
{
    atfork_child();
    carom__dns_atfork(2);
    pthread_mutex_unlock(&init_lock);
}

/* Reads the config file, which steers every connection the program makes, so only one
 * that another user cannot have planted or edited (hostile_config_trust.sh): a regular
 * file (a FIFO planted as ./carom.ini would hang every program started there; O_NONBLOCK
 * keeps even the open from waiting), owned by us or root, not writable by everyone.
 * Returns 0, or -1 with *why saying what is wrong (NULL: errno says). */
int carom__read_config(const char *path, char **out, size_t *len, const char **why,
                       struct stat *out_st)
{
    *why = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0)
        *why = "cannot stat";
    else if (!S_ISREG(st.st_mode))
        *why = "not a regular file";
    else if (st.st_uid != geteuid() && st.st_uid != 0)
        *why = "owned by another user";
    else if (st.st_mode & S_IWOTH)
        *why = "writable by every user";
    if (*why) {
        carom__real.close(fd);
        return -1;
    }
    if (out_st) *out_st = st;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        if (n == cap) {
            char *nb = cap < (1u << 24) ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = carom__real.read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    carom__real.close(fd);
    if (!buf) return -1;
    *out = buf;
    *len = n;
    return 0;
}

/* Out of memory at start-up (a tight `ulimit -v`): say so once, then pass every call
 * through rather than half-work (hostile_ulimit_v.sh). */
static void no_memory(const char *what)
{
    static const char pre[] = "carom: out of memory for ";
    static const char post[] = "; calls pass through unguarded\n";
    carom__real.write(2, pre, sizeof pre - 1);
    carom__real.write(2, what, strlen(what));
    carom__real.write(2, post, sizeof post - 1);
}

/* Once per process, at load (or at the first wrapped call, if another library's
 * constructor makes one before ours runs): who owns this memory, the fork handlers and
 * the (empty) descriptor table. All cheap, and needed before any fork or any second
 * thread, whether or not the program ever makes a network call. Not a pthread_once: it
 * runs before the program can have a second thread. */
static bool setup_done;

/* The descriptor table is mapped here, at load, though it stays empty until init: every
 * I/O wrapper reads carom__nfds and carom__fds without a barrier (carom__fd, one bounds
 * check and one load), which is sound only if both are set before the program can have a
 * second thread. Mapping is one system call, and the pages stay untouched (and cost
 * nothing) until a socket is tracked. */
static void fd_table_map(void)
{
    /* Raw system calls: at load every libc function the shim calls for the first time
     * costs a lazy symbol look-up (about 1,000 instructions), and syscall() is bound
     * already (proc.c). */
    struct rlimit rl;
    rlim_t want = 1024;
    if (syscall(SYS_getrlimit, (long)RLIMIT_NOFILE, &rl) == 0) {
        /* Sized by the hard limit (capped), so fds the program opens after raising its
         * soft limit are still tracked; the pages stay untouched until used. */
        want = rl.rlim_max == RLIM_INFINITY ? (1u << 20) : rl.rlim_max;
        if (want > (1u << 20)) want = 1u << 20;
        if (want < rl.rlim_cur && rl.rlim_cur <= (1u << 20)) want = rl.rlim_cur;
    }
    long tab =
        syscall(SYS_mmap, 0L, (long)(want * sizeof *carom__fds), (long)(PROT_READ | PROT_WRITE),
                (long)(MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE), -1L, 0L);
    if (tab == -1) return; /* init says so, if the program ever makes a network call */
    carom__fds = (void *)tab;
    carom__nfds = (unsigned)want;
}

static void process_setup(void)
{
    if (setup_done) return;
    setup_done = true;
    if (!carom__proc_owner_known()) carom__proc_owner_set();
    pthread_atfork(atfork_prepare_all, atfork_parent_all, atfork_child_all);
    fd_table_map();
}

static void init_body(void);
static void init_once_fn(void)
{
    process_setup();
    pthread_mutex_lock(&init_lock);
    init_body();
    atomic_store_explicit(&init_done, true, memory_order_release);
    pthread_mutex_unlock(&init_lock);
}

static void init_body(void)
{
    /* No carom__bind(): each real call binds its own symbol at first use (shim/real.c). */

    const char *dis = secure_getenv("CAROM_DISABLE");
    if (dis && *dis && strcmp(dis, "0") != 0) return;

    char pathbuf[4096];
    const char *path = carom_policy_find(pathbuf, sizeof pathbuf);
    carom_table *t = NULL;
    struct stat st;
    if (path) {
        char *text = NULL;
        size_t len = 0;
        const char *why;
        if (carom__read_config(path, &text, &len, &why, &st) == 0) {
            t = carom_policy_parse(text, len, path, carom__diag_line, NULL);
            free(text);
        } else {
            char line[4200];
            size_t n = 0;
            const char *parts[] = {"carom: ", path, why ? ":0: not trusted: " : ":0: cannot read: ",
                                   why ? why : strerror(errno)};
            for (size_t i = 0; i < 4; i++) {
                size_t l = strlen(parts[i]);
                if (n + l >= sizeof line) l = sizeof line - 1 - n;
                memcpy(line + n, parts[i], l);
                n += l;
            }
            line[n] = 0;
            carom__diag_line(NULL, line);
        }
        if (!t) return; /* a bad config: every call passes straight through */
    } else {
        t = carom_policy_builtin();
        if (!t) {
            no_memory("the built-in policy");
            return;
        }
    }

    if (!carom__nfds) {
        no_memory("the descriptor table"); /* process_setup could not map it */
        return;
    }
    /* The endpoint slots are attached on first use: carom__slot. */
    carom__g.names = carom_names_new();
    if (!carom__g.names) {
        no_memory("the name table"); /* the descriptor table stays empty: untracked */
        return;
    }
    carom__g.table = t;
    carom__g.chaos_seed = carom_policy_chaos_seed(t);
    carom__g.chaos_on = carom_policy_chaos_enabled(t);
    /* `carom run --chaos` sets CAROM_CHAOS=1 for one run; a replay sets CAROM_CHAOS_SEED. */
    const char *ce = secure_getenv("CAROM_CHAOS");
    carom__g.chaos_asked = carom_policy_chaos_asked(t);
    if (ce && *ce) carom__g.chaos_on = carom__g.chaos_asked = strcmp(ce, "0") != 0;
    const char *cs = secure_getenv("CAROM_CHAOS_SEED");
    if (cs && *cs) carom__g.chaos_seed = strtoull(cs, NULL, 0);
    if (!carom__g.chaos_seed) /* seed 0: every run differs; events name the seed drawn */
        carom__g.chaos_seed = (carom__now_ns() ^ ((uint64_t)getpid() << 40)) | 1;
    carom__control_start(path, path ? &st : NULL);
    carom__g.active = true;
}

/* Lazy: the first wrapped call that needs the config (socket, connect, getaddrinfo, a
 * libcurl transfer) runs it, so a process that never touches the network never parses
 * carom.ini (docs/performance.md). Asynchronous signals are held back while it runs: a
 * handler that makes a network call cannot land inside it, where it would find the
 * pthread_once in progress on its own thread and wait for ever. A call made from inside
 * init itself (or from a handler the kernel delivers anyway) returns at once, and its
 * caller passes through. */
void carom__init(void)
{
    if (CAROM_LIKELY(atomic_load_explicit(&init_done, memory_order_acquire))) return;
    if (initialising) return;
    initialising = true;
    sigset_t all, old;
    async_signals(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_once(&init_once, init_once_fn);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    initialising = false;
}

/* Nothing here parses, allocates or binds: see carom__init. */
__attribute__((constructor)) static void carom_ctor(void)
{
    process_setup();
#if defined(__SANITIZE_THREAD__)
    /* ThreadSanitizer counts a lazy bind on one thread against another thread's call
     * through carom__real as a race, though each pointer is stored whole (shim/real.c
     * bind_all) and either value works; its builds bind here, as before binding was lazy. */
    carom__bind();
#endif
}
