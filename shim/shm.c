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
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The bound and the eviction rule (docs/scoreboard.md, "Shared state"):
 * - 4096 slots; a key lives in the first usable slot of a run of 32 starting at
 *   hash % 4096 (linear probing; keys are never deleted back to 0, only replaced, so a
 *   free slot ends every run).
 * - A key found nowhere in its run takes the first slot of the run stuck "being
 *   initialised" for CLAIM_STALE_MS (its claimer died), else the first free slot, else the
 *   first slot idle for IDLE_MS, else the least recently used slot of the run if it has
 *   been idle for LRU_MIN_IDLE_MS. Otherwise the caller gets NULL and acts without a
 *   cushion. */
#define SHM_SLOTS 4096u
#define PROBE 32u
#define IDLE_MS (10ull * 60 * 1000)
#define LRU_MIN_IDLE_MS (60ull * 1000)
#define CLAIM_STALE_MS 5000ull
#define PUBLISH_WAIT_MS 2ull
#define TOUCH_EVERY_MS 1000ull

/* key_hash values: 0 free; CAROM_SHM_RESERVED set: being claimed since the time (ms) in
 * the low 63 bits; anything else: the published hash of (policy index, key). The header
 * words are core/carom_core.h's enum carom_shm_word, shared with `carom cushions`. */
#define SLOTS_OFF 256u
_Static_assert(CAROM_SHM_H__N * 8 <= SLOTS_OFF, "header fits before the slots");

uint64_t carom__slot_hash(uint32_t pol, const char *key);
struct carom_slot *carom__slots_find(struct carom_slot *base, unsigned n, uint32_t pol,
                                     const char *key, uint64_t now);
int carom__shm_attach(const carom_table *t, struct carom_slot **slots, unsigned *n, char *why,
                      size_t whylen);

/* FNV-1a over the policy index and the key; 63 bits, never 0 (docs name it so tools and
 * tests can find a key's home slot). */
uint64_t carom__slot_hash(uint32_t pol, const char *key)
{
    uint64_t h = 0xcbf29ce484222325ull ^ pol;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    h &= ~CAROM_SHM_RESERVED;
    return h ? h : 1;
}

/* ---- the table ------------------------------------------------------------------------------ */

static _Atomic uint64_t *evictions; /* in the shared header, when there is one */

static bool slot_is(struct carom_slot *s, uint64_t h, uint32_t pol, const char *key)
{
    if (s->policy_index != pol || strncmp(s->key, key, sizeof s->key - 1) != 0) return false;
    /* The key was read after an acquire of h; if the slot was evicted meanwhile the hash
     * has changed, and what we compared may be torn. */
    return atomic_load_explicit(&s->key_hash, memory_order_acquire) == h;
}

static void touch(struct carom_slot *s, uint64_t now)
{
    /* One store per second at most: every process writes this shared line otherwise. */
    uint64_t last = atomic_load_explicit(&s->last_used_ms, memory_order_relaxed);
    if (now - last >= TOUCH_EVERY_MS || last > now)
        atomic_store_explicit(&s->last_used_ms, now, memory_order_relaxed);
}

/* Fills a slot this caller holds reserved, then publishes it. */
static struct carom_slot *fill(struct carom_slot *s, uint64_t h, uint32_t pol, const char *key,
                               uint64_t now)
{
    atomic_store_explicit(&s->last_used_ms, now, memory_order_relaxed);
    s->policy_index = pol;
    size_t n = strlen(key);
    if (n >= sizeof s->key) n = sizeof s->key - 1;
    memcpy(s->key, key, n);
    memset(s->key + n, 0, sizeof s->key - n);
    carom_cushion_init(&s->cushion);
    carom_budget_init(&s->budget);
    carom_herd_init(&s->herd);
    carom_bucket_init(&s->bucket); /* limit: */
    carom_leases_init(&s->leases);
    atomic_store_explicit(&s->key_hash, h, memory_order_release);
    return s;
}

/* Takes slot s from the value we saw (free, stale reservation or evictable key). */
static struct carom_slot *take(struct carom_slot *s, uint64_t seen, uint64_t h, uint32_t pol,
                               const char *key, uint64_t now)
{
    if (!atomic_compare_exchange_strong_explicit(&s->key_hash, &seen, CAROM_SHM_RESERVED | now,
                                                 memory_order_acq_rel, memory_order_acquire))
        return NULL;
    if (seen != 0 && !(seen & CAROM_SHM_RESERVED) && evictions)
        atomic_fetch_add_explicit(evictions, 1, memory_order_relaxed);
    return fill(s, h, pol, key, now);
}

/* A fresh reservation is published within microseconds unless its claimer was
 * descheduled or killed: wait a little (bounded), so that two processes creating the same
 * endpoint at once end up sharing one slot rather than taking two. */
static uint64_t await_publish(struct carom_slot *s, uint64_t cur)
{
    uint64_t until = carom__now_ms() + PUBLISH_WAIT_MS;
    while ((cur & CAROM_SHM_RESERVED) && carom__now_ms() <= until) {
        sched_yield();
        cur = atomic_load_explicit(&s->key_hash, memory_order_acquire);
    }
    return cur;
}

struct carom_slot *carom__slots_find(struct carom_slot *base, unsigned n, uint32_t pol,
                                     const char *key, uint64_t now)
{
    uint64_t h = carom__slot_hash(pol, key);
    struct carom_slot *stale = NULL, *idle = NULL, *lru = NULL;
    uint64_t stale_v = 0, idle_v = 0, lru_v = 0, lru_at = UINT64_MAX;
    unsigned probe = n < PROBE ? n : PROBE;
    for (unsigned i = 0, again = 0; i < probe; i++) {
        struct carom_slot *s = &base[(h + i) & (n - 1)];
        uint64_t cur = atomic_load_explicit(&s->key_hash, memory_order_acquire);
        if (cur & CAROM_SHM_RESERVED) {
            /* Either way: a claim stamped far in the future is no live claimer's. */
            uint64_t since = cur & ~CAROM_SHM_RESERVED;
            if ((now > since ? now - since : since - now) >= CLAIM_STALE_MS) {
                if (!stale) {
                    stale = s;
                    stale_v = cur;
                }
                continue;
            }
            cur = await_publish(s, cur);
            if (cur & CAROM_SHM_RESERVED) continue; /* still being set up: treat as someone else's */
        }
        if (cur == 0) {
            /* The end of the run: the key is nowhere. A claim its claimer never finished
             * (often for this very key) is put to use before a free slot is spent. */
            if (stale) {
                struct carom_slot *got = take(stale, stale_v, h, pol, key, now);
                if (got) return got;
                /* Someone else took it, maybe for this key: look before taking another. */
                uint64_t c = await_publish(
                    stale, atomic_load_explicit(&stale->key_hash, memory_order_acquire));
                if (c == h && slot_is(stale, h, pol, key)) {
                    touch(stale, now);
                    return stale;
                }
                stale = NULL;
            }
            struct carom_slot *got = take(s, 0, h, pol, key, now);
            if (got) return got;
            if (again++ < 4) i--; /* lost the race for it: look at what the winner put there */
            continue;
        }
        if (cur == h && slot_is(s, h, pol, key)) {
            touch(s, now);
            return s;
        }
        uint64_t used = atomic_load_explicit(&s->last_used_ms, memory_order_relaxed);
        uint64_t idle_for = now > used ? now - used : 0;
        if (!idle && idle_for >= IDLE_MS) {
            idle = s;
            idle_v = cur;
        }
        if (used < lru_at) {
            lru = s;
            lru_v = cur;
            lru_at = used;
        }
    }
    struct carom_slot *got = NULL;
    if (stale) got = take(stale, stale_v, h, pol, key, now);
    if (!got && idle) got = take(idle, idle_v, h, pol, key, now);
    if (!got && lru && now > lru_at && now - lru_at >= LRU_MIN_IDLE_MS)
        got = take(lru, lru_v, h, pol, key, now);
    return got;
}

/* ---- the shared backing ------------------------------------------------------------------------
 */

static size_t table_size(void)
{
    return SLOTS_OFF + (size_t)SHM_SLOTS * sizeof(struct carom_slot);
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
    uint64_t want[CAROM_SHM_H__N] = {
        [CAROM_SHM_H_VERSION] = CAROM_SHM_VERSION,
        [CAROM_SHM_H_NSLOTS] = SHM_SLOTS,
        [CAROM_SHM_H_SIZE] = table_size(),
        [CAROM_SHM_H_UID] = geteuid(),
        [CAROM_SHM_H_SLOT_SIZE] = sizeof(struct carom_slot),
        [CAROM_SHM_H_SLOTS_OFF] = SLOTS_OFF,
        [CAROM_SHM_H_OFF_KEY_HASH] = offsetof(struct carom_slot, key_hash),
        [CAROM_SHM_H_OFF_LAST_USED] = offsetof(struct carom_slot, last_used_ms),
        [CAROM_SHM_H_OFF_POLICY] = offsetof(struct carom_slot, policy_index),
        [CAROM_SHM_H_OFF_KEY] = offsetof(struct carom_slot, key),
        [CAROM_SHM_H_KEY_MAX] = CAROM_EP_KEY_MAX,
        [CAROM_SHM_H_OFF_CUSHION] = offsetof(struct carom_slot, cushion),
        [CAROM_SHM_H_CONFIG_HASH] = cfg_hash,
        [CAROM_SHM_H_OFF_BUCKET] = offsetof(struct carom_slot, bucket), /* limit: */
        [CAROM_SHM_H_OFF_LEASES] = offsetof(struct carom_slot, leases),
    };
    for (unsigned i = CAROM_SHM_H_VERSION; i < CAROM_SHM_H__N; i++) {
        if (i == CAROM_SHM_H_EVICTIONS) continue;
        if (atomic_load_explicit(&w[i], memory_order_relaxed) != want[i]) {
            say(why, len, "made by another carom version (layout differs); remove it", 0);
            return false;
        }
    }
    return true;
}

static void write_header(_Atomic uint64_t *w, uint64_t cfg_hash)
{
    atomic_store_explicit(&w[CAROM_SHM_H_VERSION], CAROM_SHM_VERSION, memory_order_relaxed);
    atomic_store_explicit(&w[CAROM_SHM_H_NSLOTS], SHM_SLOTS, memory_order_relaxed);
    atomic_store_explicit(&w[CAROM_SHM_H_SIZE], table_size(), memory_order_relaxed);
    atomic_store_explicit(&w[CAROM_SHM_H_UID], geteuid(), memory_order_relaxed);
    atomic_store_explicit(&w[CAROM_SHM_H_SLOT_SIZE], sizeof(struct carom_slot), memory_order_relaxed);
    atomic_store_explicit(&w[CAROM_SHM_H_SLOTS_OFF], SLOTS_OFF, memory_order_relaxed);
    atomic_store_explicit(&w[CAROM_SHM_H_OFF_KEY_HASH], offsetof(struct carom_slot, key_hash),
                          memory_order_relaxed);
    atomic_store_explicit(&w[CAROM_SHM_H_OFF_LAST_USED], offsetof(struct carom_slot, last_used_ms),
                          memory_order_relaxed);
    atomic_store_explicit(&w[CAROM_SHM_H_OFF_POLICY], offsetof(struct carom_slot, policy_index),
                          memory_order_relaxed);
    atomic_store_explicit(&w[CAROM_SHM_H_OFF_KEY], offsetof(struct carom_slot, key), memory_order_relaxed);
    atomic_store_explicit(&w[CAROM_SHM_H_KEY_MAX], CAROM_EP_KEY_MAX, memory_order_relaxed);
    atomic_store_explicit(&w[CAROM_SHM_H_OFF_CUSHION], offsetof(struct carom_slot, cushion),
                          memory_order_relaxed);
    atomic_store_explicit(&w[CAROM_SHM_H_CONFIG_HASH], cfg_hash, memory_order_relaxed);
    atomic_store_explicit(&w[CAROM_SHM_H_EVICTIONS], 0, memory_order_relaxed);
    atomic_store_explicit(&w[CAROM_SHM_H_OFF_BUCKET], offsetof(struct carom_slot, bucket), /* limit: */
                          memory_order_relaxed);
    atomic_store_explicit(&w[CAROM_SHM_H_OFF_LEASES], offsetof(struct carom_slot, leases),
                          memory_order_relaxed);
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

void carom__shm_name(const carom_table *t, char *buf, size_t len);
void carom__shm_name(const carom_table *t, char *buf, size_t len)
{
    snprintf(buf, len, "/dev/shm/carom-%u-%016llx", (unsigned)geteuid(),
             (unsigned long long)carom_policy_hash(t));
}

int carom__shm_attach(const carom_table *t, struct carom_slot **slots, unsigned *n, char *why,
                      size_t whylen)
{
    char name[96];
    carom__shm_name(t, name, sizeof name);
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
    evictions = &((_Atomic uint64_t *)m)[CAROM_SHM_H_EVICTIONS];
    *slots = (struct carom_slot *)((char *)m + SLOTS_OFF);
    *n = SHM_SLOTS;
    return 0;
}
