/* shm.c: the endpoint slot table (look-up, claim, eviction over an array of struct
 * carom_slot) and its shared-memory backing, /dev/shm/carom-<uid>-<config hash>, which lets
 * every process of one user and one config share cushions and retry budgets. It must never
 * take a lock or wait unboundedly on another process (a process killed at any instruction
 * must leave the table usable), never follow a symlink or adopt a file that is not ours
 * and exactly as we would have made it, never unlink a file it did not create, and never
 * use stdio. */
#include "carom_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The table's size and place (docs/scoreboard.md, "Shared state"); the slot table itself is
 * core/slots.c. The header words are core/carom_core.h's enum carom_shm_word, shared with
 * `carom cushions`. */
#define SHM_SLOTS 4096u
#define SLOTS_OFF 256u
_Static_assert(CAROM_SHM_H__N * 8 <= SLOTS_OFF, "header fits before the slots");

/* ---- the shared backing ------------------------------------------------------------------------
 */

/* The runtime chaos rules (`carom chaos`) follow the slots. */
#define CHAOS_OFF (SLOTS_OFF + (size_t)SHM_SLOTS * sizeof(struct carom_slot))
_Static_assert(CHAOS_OFF % 8 == 0, "the rules are aligned");

static size_t table_size(void)
{
    return CHAOS_OFF + (size_t)CAROM_CHAOS_RULES * sizeof(carom_chaos_rule);
}

/* Every header word this build writes and expects, but the magic and the counters. */
static void layout(uint64_t w[CAROM_SHM_H__N], uint64_t cfg_hash)
{
    for (unsigned i = 0; i < CAROM_SHM_H__N; i++)
        w[i] = 0;
    w[CAROM_SHM_H_VERSION] = CAROM_SHM_VERSION;
    w[CAROM_SHM_H_NSLOTS] = SHM_SLOTS;
    w[CAROM_SHM_H_SIZE] = table_size();
    w[CAROM_SHM_H_UID] = geteuid();
    w[CAROM_SHM_H_SLOT_SIZE] = sizeof(struct carom_slot);
    w[CAROM_SHM_H_SLOTS_OFF] = SLOTS_OFF;
    w[CAROM_SHM_H_OFF_KEY_HASH] = offsetof(struct carom_slot, key_hash);
    w[CAROM_SHM_H_OFF_LAST_USED] = offsetof(struct carom_slot, last_used_ms);
    w[CAROM_SHM_H_OFF_POLICY] = offsetof(struct carom_slot, policy_index);
    w[CAROM_SHM_H_OFF_KEY] = offsetof(struct carom_slot, key);
    w[CAROM_SHM_H_KEY_MAX] = CAROM_EP_KEY_MAX;
    w[CAROM_SHM_H_OFF_CUSHION] = offsetof(struct carom_slot, cushion);
    w[CAROM_SHM_H_CONFIG_HASH] = cfg_hash;
    w[CAROM_SHM_H_OFF_BUCKET] = offsetof(struct carom_slot, bucket);
    w[CAROM_SHM_H_OFF_LEASES] = offsetof(struct carom_slot, leases);
    w[CAROM_SHM_H_CHAOS_OFF] = CHAOS_OFF;
    w[CAROM_SHM_H_CHAOS_N] = CAROM_CHAOS_RULES;
}

/* Words that change while the table is in use. */
static bool counter(unsigned i)
{
    return i == CAROM_SHM_H_MAGIC || i == CAROM_SHM_H_EVICTIONS || i == CAROM_SHM_H_CHAOS_GEN;
}

static void say(char *why, size_t len, const char *what, int err)
{
    if (why && len) snprintf(why, len, "%s%s%s", what, err ? ": " : "", err ? strerror(err) : "");
}

/* Checks a mapped header against what this build would have written. */
static bool header_ok(const _Atomic uint64_t *w, uint64_t cfg_hash, char *why, size_t len)
{
    /* The creator publishes the magic last; with link() the name only ever points at a
     * finished table, so this wait is for tables made some other way, and bounded. */
    uint64_t until = carom__now_ms() + 100;
    while (atomic_load_explicit(&w[CAROM_SHM_H_MAGIC], memory_order_acquire) != CAROM_SHM_MAGIC) {
        if (carom__now_ms() > until) {
            say(why, len, "not a carom table (bad magic)", 0);
            return false;
        }
        sched_yield();
    }
    uint64_t want[CAROM_SHM_H__N];
    layout(want, cfg_hash);
    for (unsigned i = 0; i < CAROM_SHM_H__N; i++) {
        if (counter(i)) continue;
        if (atomic_load_explicit(&w[i], memory_order_relaxed) != want[i]) {
            say(why, len, "made by another carom version (layout differs); remove it", 0);
            return false;
        }
    }
    return true;
}

static void write_header(_Atomic uint64_t *w, uint64_t cfg_hash)
{
    uint64_t v[CAROM_SHM_H__N];
    layout(v, cfg_hash);
    for (unsigned i = 0; i < CAROM_SHM_H__N; i++)
        if (i != CAROM_SHM_H_MAGIC) atomic_store_explicit(&w[i], v[i], memory_order_relaxed);
    atomic_store_explicit(&w[CAROM_SHM_H_MAGIC], CAROM_SHM_MAGIC, memory_order_release);
}

/* Opens an existing table: ours (owner, mode 0600, regular, right size, fully allocated so
 * a later store can never SIGBUS) and laid out as this build lays it out. Returns the
 * mapping or NULL with *err (0: refused, see why). */
static void *open_existing(const char *name, uint64_t cfg_hash, int *err, char *why, size_t len)
{
    int fd = open(name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        *err = errno;
        say(why, len, "cannot open", errno);
        return NULL;
    }
    *err = 0;
    struct stat st;
    void *m = MAP_FAILED;
    if (fstat(fd, &st) != 0)
        say(why, len, "cannot stat", errno);
    else if (!S_ISREG(st.st_mode))
        say(why, len, "not a regular file", 0);
    else if (st.st_uid != geteuid())
        say(why, len, "owned by another user", 0);
    else if ((st.st_mode & 07777) != 0600)
        say(why, len, "mode is not 0600", 0);
    else if ((uint64_t)st.st_size != table_size() ||
             (uint64_t)st.st_blocks * 512u < (uint64_t)table_size())
        say(why, len, "wrong size", 0);
    else if ((m = mmap(NULL, table_size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) ==
             MAP_FAILED)
        say(why, len, "cannot map", errno);
    carom__real.close(fd);
    if (m == MAP_FAILED) return NULL;
    if (!header_ok(m, cfg_hash, why, len)) {
        munmap(m, table_size());
        return NULL;
    }
    return m;
}

/* Creates the table under a private temporary name, fully initialised, then link()s it
 * to its real name: link fails with EEXIST if another process won, and the real name
 * never points at a half-made table, whoever is killed when. Returns the mapping, or
 * NULL with *err (EEXIST: someone else's table is there now). */
static void *create(const char *name, uint64_t cfg_hash, int *err, char *why, size_t len)
{
    static _Atomic unsigned serial;
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s.%d.%u.tmp", name, (int)getpid(), atomic_fetch_add(&serial, 1));
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        *err = errno;
        say(why, len, "cannot create", errno);
        return NULL;
    }
    void *m = MAP_FAILED;
    int e;
    /* fchmod: a umask such as 0277 must not leave it unreadable to ourselves. Allocating
     * every page now turns a full /dev/shm into an error here instead of a SIGBUS in the
     * host program later. */
    if (fchmod(fd, 0600) != 0) {
        e = errno;
        say(why, len, "cannot chmod", e);
    } else if ((e = posix_fallocate(fd, 0, (off_t)table_size())) != 0) {
        say(why, len, "cannot allocate", e);
    } else if ((m = mmap(NULL, table_size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) ==
               MAP_FAILED) {
        e = errno;
        say(why, len, "cannot map", e);
    } else {
        write_header(m, cfg_hash);
        e = link(tmp, name) == 0 ? 0 : errno;
        if (e) say(why, len, "cannot publish", e);
    }
    unlink(tmp);
    carom__real.close(fd);
    if (e) {
        if (m != MAP_FAILED) munmap(m, table_size());
        *err = e;
        return NULL;
    }
    return m;
}

static void shm_name(const carom_table *t, char *buf, size_t len)
{
    carom_shm_name(buf, len, (unsigned)geteuid(), carom_policy_hash(t));
}

int carom__shm_attach(const carom_table *t, struct carom_slot **slots, unsigned *n,
                      _Atomic uint64_t **header, char *why, size_t whylen)
{
    char name[96];
    shm_name(t, name, sizeof name);
    uint64_t cfg_hash = carom_policy_hash(t);
    size_t pre = strlen(name) + 2;
    char *reason = why + (why && whylen > pre ? pre : 0);
    size_t rlen = why && whylen > pre ? whylen - pre : 0;
    if (why && whylen > pre) snprintf(why, whylen, "%s: ", name);
    void *m = NULL;
    for (int round = 0; round < 3 && !m; round++) {
        int err = 0;
        m = open_existing(name, cfg_hash, &err, reason, rlen);
        if (m || err != ENOENT) break;
        m = create(name, cfg_hash, &err, reason, rlen);
        if (!m && err != EEXIST) break; /* EEXIST: another process published first; open theirs */
    }
    if (!m) return -1;
    *header = (_Atomic uint64_t *)m;
    *slots = (struct carom_slot *)((char *)m + SLOTS_OFF);
    *n = SHM_SLOTS;
    return 0;
}

carom_chaos_rule *carom__shm_rules(_Atomic uint64_t *h, unsigned *n)
{
    *n = CAROM_CHAOS_RULES;
    return (carom_chaos_rule *)((char *)h + CHAOS_OFF);
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
_Atomic(struct slot_table *) carom__slot_tab; /* read inline by carom__slot_find_hinted */
static pthread_once_t slots_once = PTHREAD_ONCE_INIT;

static uint64_t slots_now(void)
{
    return carom__now_ms();
}
static void slots_yield(void)
{
    sched_yield();
}

/* Fills st for table t. No allocation: the first attach may run in a fork child whose
 * parent forked in the middle of it (pthread_once then runs it again in the child), and a
 * malloc there can wait for ever on an allocator lock another parent thread held
 * (hostile_forklock.sh, under AddressSanitizer). */
static struct slot_table *slots_make(const carom_table *t, struct slot_table *st)
{
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
    if (m == MAP_FAILED) return NULL;
    st->slots = m;
    st->n = LOCAL_SLOTS;
    return st;
}

/* Attached on the first endpoint look-up, not at init: the many processes of a script
 * that never open a connection (sh, sleep, grep) neither touch /dev/shm nor warn. */
static void slots_attach(void)
{
    static struct slot_table first;
    const carom_table *t = carom__g.table;
    if (t) atomic_store_explicit(&carom__slot_tab, slots_make(t, &first), memory_order_release);
}

void carom__slots_switch(const carom_table *t)
{
    /* Not attached yet: the first look-up attaches to whatever table is in force then. */
    if (!atomic_load_explicit(&carom__slot_tab, memory_order_acquire)) return;
    /* A reload (control.c), never in a fork child's first call: a new record is fine. */
    struct slot_table *nt = calloc(1, sizeof *nt);
    struct slot_table *st = slots_make(t, nt);
    if (st)
        atomic_store_explicit(&carom__slot_tab, st, memory_order_release);
    else
        free(nt);
}

_Atomic uint64_t *carom__slots_header(void)
{
    struct slot_table *st = atomic_load_explicit(&carom__slot_tab, memory_order_acquire);
    return st ? st->header : NULL;
}

static struct slot_table *slots_current(void)
{
    struct slot_table *st = atomic_load_explicit(&carom__slot_tab, memory_order_acquire);
    if (CAROM_LIKELY(st != NULL)) return st;
    pthread_once(&slots_once, slots_attach);
    return atomic_load_explicit(&carom__slot_tab, memory_order_acquire);
}

struct carom_slot *carom__slot_find(const carom_policy *p, const char *key)
{
    struct slot_table *st = slots_current();
    if (!st) return NULL;
    return carom_slots_find(st->slots, st->n, p->index, key, carom__now_ms(), &st->env);
}

struct carom_slot *carom__slot_find_hinted_slow(const carom_policy *p, const char *key,
                                                struct carom__slot_hint *hint, uint64_t now_ms)
{
    struct slot_table *st = slots_current();
    if (!st) return NULL;
    /* The remembered slot, if it is still this key's in the table in force (a reload's
     * new table, a policy of a new table, an eviction or a claim all make it miss). */
    if (hint->tab == st && hint->pol == p && hint->slot &&
        carom_slots_still(hint->slot, hint->h, now_ms))
        return hint->slot;
    struct carom_slot *s = carom_slots_find(st->slots, st->n, p->index, key, now_ms, &st->env);
    hint->tab = st;
    hint->pol = p;
    hint->slot = s;
    hint->h = carom_slot_hash(p->index, key); /* never s's word: it may be another's by now */
    return s;
}
