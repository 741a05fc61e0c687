/* init.c: the shim's process set-up and its one-time init: the set-up at load (the
 * descriptor table's mapping, the atfork list that takes every shim lock around fork in one
 * stated order), the trusted read of carom.ini, and the lazy init that builds the tables.
 * It must never call a wrapped function (only carom__real.*), never use stdio, never hold
 * a lock across a call that can block, and never do at load what a process that never
 * touches the network does not need (docs/performance.md). */
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

struct carom__global carom__g;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static __thread bool initialising;
_Atomic bool carom__init_done;

/* ---- diagnostics (raw write, never stdio) ---------------------------------------------------- */

void carom__diag_line(void *ud, const char *line)
{
    (void)ud;
    size_t n = strlen(line);
    carom__real.write(2, line, n);
    carom__real.write(2, "\n", 1);
    struct carom__event ev = {
        .event = "config_error", .delay_ms = -1, .elapsed_ms = -1, .detail = line};
    carom__emit(&ev);
}

/* ---- init
 * ------------------------------------------------------------------------------------------- */

/* Held while init runs. Init is lazy, so another thread may be in the middle of it (in
 * malloc, in dlsym) when the program forks: the fork waits for it to finish, and the child
 * starts with init either done or not begun, never a copy of it half-way
 * (hostile_forklock.sh). */
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static void init_atfork(int phase)
{
    if (phase == CAROM_ATFORK_PREPARE)
        pthread_mutex_lock(&init_lock);
    else
        pthread_mutex_unlock(&init_lock);
}

/* The one atfork list: every lock the shim takes, in the order fork takes them (prepare
 * walks it forwards, parent and child backwards). None of these locks is held while
 * another is taken, so the order only has to be one order; it is the order the separate
 * registrations ran in before they were one list. A new lock gets a line here. */
static void (*const atfork_list[])(int phase) = {
    carom__curl_atfork, /* libcurl records (curl_rec.c) */
    init_atfork,        /* init in progress */
    carom__dns_atfork,  /* stale DNS answers (dns.c) */
    carom__rng_atfork,  /* child only: a fresh random stream (guard.c) */
};
#define NATFORK (sizeof atfork_list / sizeof atfork_list[0])

static void atfork_prepare(void)
{
    for (size_t i = 0; i < NATFORK; i++)
        atfork_list[i](CAROM_ATFORK_PREPARE);
}
static void atfork_parent(void)
{
    for (size_t i = NATFORK; i-- > 0;)
        atfork_list[i](CAROM_ATFORK_PARENT);
}
static void atfork_child(void)
{
    carom__proc_owner_set();
    for (size_t i = NATFORK; i-- > 0;)
        atfork_list[i](CAROM_ATFORK_CHILD);
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
    carom__async_signals_prepare();
    if (!carom__proc_owner_known()) carom__proc_owner_set();
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    fd_table_map();
}

/* The config search asks whether a candidate exists (policy/ does no file I/O). */
static bool config_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static void init_body(void);
static void init_once_fn(void)
{
    process_setup();
    pthread_mutex_lock(&init_lock);
    init_body();
    atomic_store_explicit(&carom__init_done, true, memory_order_release);
    pthread_mutex_unlock(&init_lock);
}

static void init_body(void)
{
    /* No carom__bind(): each real call binds its own symbol at first use (shim/real.c). */

    const char *dis = secure_getenv("CAROM_DISABLE");
    if (dis && *dis && strcmp(dis, "0") != 0) return;

    char pathbuf[4096];
    const char *path = carom_policy_find(pathbuf, sizeof pathbuf, config_exists);
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
    /* The endpoint slots are attached on first use: carom__slot_find (shm.c). */
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
void carom__init_slow(void)
{
    if (atomic_load_explicit(&carom__init_done, memory_order_acquire)) return;
    if (initialising) return;
    initialising = true;
    sigset_t all, old;
    carom__async_signals(&all);
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
