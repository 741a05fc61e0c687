/* names.c: the learned address -> host name table, so that a connect() to an address is
 * governed by the policy of the name the program resolved. Many threads read and write it
 * at once; it must never take a lock (a fork in the middle of a write would leave a child
 * that never gets it back), never allocate after carom_names_new, and never block. */
#include "policy_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Set-associative: an address hashes to one set and may live in any of its ways, the
 * oldest being replaced. Lookups scan WAYS entries and nothing else. */
#define WAYS 8
#define SETS (CAROM_NAMES_SLOTS / WAYS)
#define NAME_WORDS (CAROM_HOST_MAX / 8)
#define READ_TRIES 4
#define WRITE_TRIES 4

/* One seqlock per entry: even = stable, odd = a writer owns it. Every field is an atomic
 * word read with relaxed loads: a reader may race a writer, and only the sequence check
 * decides whether what it copied is whole. Plain fields here would be a data race. */
typedef struct entry {
    _Atomic uint64_t seq;
    _Atomic uint64_t when;    /* now_ms at learn time */
    _Atomic uint64_t addr[3]; /* family, then 16 address bytes; all 0 = empty */
    _Atomic uint64_t name[NAME_WORDS];
} entry;

struct carom_names {
    entry e[SETS][WAYS];
};

carom_names *carom_names_new(void)
{
    /* All-zero bytes are every entry's empty state (sequence 0, address 0), and the
     * atomics here are plain lock-free words, so calloc's zeroed memory is the initial
     * table as it stands. At 300 KiB calloc maps fresh pages the kernel zeroes on first
     * touch: no loop over the table, and a process that never learns a name never touches
     * them (storing zeros entry by entry cost 156,000 instructions at start-up). */
    _Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "entries must be plain lock-free words");
    return calloc(1, sizeof(carom_names));
}

void carom_names_free(carom_names *n)
{
    free(n);
}

static bool addr_words(const struct sockaddr *sa, uint64_t w[3])
{
    carom__ip ip;
    if (!carom__ip_from_sockaddr(sa, &ip)) return false;
    w[0] = ip.family;
    memcpy(&w[1], ip.b, 8);
    memcpy(&w[2], ip.b + 8, 8);
    return true;
}

static size_t set_of(const uint64_t w[3])
{
    uint64_t h = (w[0] * 0x9e3779b97f4a7c15ull) ^ w[1];
    h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ull ^ w[2];
    h = (h ^ (h >> 32)) * 0x94d049bb133111ebull;
    return (size_t)((h >> 40) % SETS);
}

static bool same_addr(entry *e, const uint64_t w[3])
{
    return atomic_load_explicit(&e->addr[0], memory_order_relaxed) == w[0] &&
           atomic_load_explicit(&e->addr[1], memory_order_relaxed) == w[1] &&
           atomic_load_explicit(&e->addr[2], memory_order_relaxed) == w[2];
}

void carom_names_learn(carom_names *n, const char *host, const struct sockaddr *addr,
                       uint64_t now_ms)
{
    uint64_t w[3], words[NAME_WORDS];
    if (!n || !host || !addr_words(addr, w)) return;
    size_t len = strnlen(host, CAROM_HOST_MAX);
    /* A truncated name could match another policy: better no name than a wrong one. */
    if (len == 0 || len >= CAROM_HOST_MAX) return;
    memset(words, 0, sizeof words);
    memcpy(words, host, len);
    entry *set = n->e[set_of(w)];

    for (int attempt = 0; attempt < WRITE_TRIES; attempt++) {
        /* Choose a victim from a racy snapshot; the claim below is what makes it safe. */
        entry *victim = NULL;
        uint64_t oldest = UINT64_MAX;
        for (int i = 0; i < WAYS; i++) {
            entry *e = &set[i];
            if (atomic_load_explicit(&e->seq, memory_order_relaxed) & 1) continue;
            if (same_addr(e, w)) {
                victim = e;
                break;
            }
            uint64_t when = atomic_load_explicit(&e->addr[0], memory_order_relaxed) == 0
                                ? 0
                                : atomic_load_explicit(&e->when, memory_order_relaxed) + 1;
            if (when < oldest) {
                oldest = when;
                victim = e;
            }
        }
        if (!victim) continue;
        uint64_t s = atomic_load_explicit(&victim->seq, memory_order_relaxed);
        if ((s & 1) || !atomic_compare_exchange_strong_explicit(
                           &victim->seq, &s, s + 1, memory_order_acquire, memory_order_relaxed))
            continue;
        /* Orders the odd sequence before the data stores: a reader that sees any new word
         * then sees a changed sequence on its re-check. */
        atomic_thread_fence(memory_order_release);
        for (int i = 0; i < 3; i++)
            atomic_store_explicit(&victim->addr[i], w[i], memory_order_relaxed);
        for (int i = 0; i < NAME_WORDS; i++)
            atomic_store_explicit(&victim->name[i], words[i], memory_order_relaxed);
        atomic_store_explicit(&victim->when, now_ms, memory_order_relaxed);
        atomic_store_explicit(&victim->seq, s + 2, memory_order_release);
        return;
    }
    /* Every candidate was being written: learning is best effort, the next answer will
     * teach the name again. */
}

bool carom_names_lookup(carom_names *n, const struct sockaddr *addr, uint64_t now_ms,
                        uint64_t max_age_ms, char *buf, size_t len)
{
    uint64_t w[3], words[NAME_WORDS];
    if (!n || !buf || len == 0 || !addr_words(addr, w)) return false;
    entry *set = n->e[set_of(w)];

    for (int attempt = 0; attempt < READ_TRIES; attempt++) {
        bool torn = false, found = false;
        uint64_t best = 0;
        for (int i = 0; i < WAYS; i++) {
            entry *e = &set[i];
            uint64_t s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
            if (s1 & 1) {
                torn = true;
                continue;
            }
            if (!same_addr(e, w)) continue;
            uint64_t tmp[NAME_WORDS];
            for (int k = 0; k < NAME_WORDS; k++)
                tmp[k] = atomic_load_explicit(&e->name[k], memory_order_relaxed);
            uint64_t when = atomic_load_explicit(&e->when, memory_order_relaxed);
            atomic_thread_fence(memory_order_acquire);
            if (atomic_load_explicit(&e->seq, memory_order_relaxed) != s1) {
                torn = true;
                continue;
            }
            /* Two racing writers can leave one address in two ways: the newer wins. */
            if (!found || when > best) {
                found = true;
                best = when;
                memcpy(words, tmp, sizeof words);
            }
        }
        if (found) {
            if (now_ms > best && now_ms - best > max_age_ms) return false;
            const char *name = (const char *)words;
            size_t nl = strnlen(name, sizeof words);
            if (nl >= sizeof words || nl + 1 > len) return false;
            memcpy(buf, name, nl + 1);
            return true;
        }
        if (!torn) return false;
    }
    return false;
}
