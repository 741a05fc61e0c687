/* ctl_table.c: what the tools that read or steer running programs share (`carom cushions`,
 * `carom chaos`, `carom fleet`): the policy file and its table's name, the one mapping of
 * the table (read-only, or read-write only when it is the user's own and laid out exactly
 * as this build lays it out), endpoint spellings, and events on the scoreboard. It must
 * never create a table, and never block on the scoreboard (events are dropped when nobody
 * listens). */
#include "carom_tools.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

uint64_t carom__mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void to_stderr(void *ud, const char *line)
{
    (void)ud;
    fprintf(stderr, "%s\n", line);
}

/* ---- the table -------------------------------------------------------------------------- */

/* The policy file (the same search as the shim) and the name of its table. */
carom_table *carom__ctl_config(const char *file, const char *who, char *name, size_t len)
{
    char buf[4096];
    const char *path = file ? file : carom__config_find(buf, sizeof buf);
    carom_table *t = path ? carom__config_load(path, to_stderr, NULL) : carom_policy_builtin();
    if (!t) return NULL;
    if (carom_policy_state_mode(t) == CAROM_STATE_PROCESS) {
        fprintf(stderr, "%s: %s says state = process: there is no shared table to change\n", who,
                path ? path : "(built-in defaults)");
        carom_policy_free(t);
        return NULL;
    }
    carom_shm_name(name, len, (unsigned)geteuid(), carom_policy_hash(t));
    return t;
}

/* What every reader needs: the header's own offsets keep every field it reads inside the
 * slot and the slots inside the file (docs/scoreboard.md, "Shared state"). */
static bool readable(const uint64_t *h, size_t size)
{
    uint64_t ss = h[CAROM_SHM_H_SLOT_SIZE];
    return h[CAROM_SHM_H_MAGIC] == CAROM_SHM_MAGIC && h[CAROM_SHM_H_VERSION] == CAROM_SHM_VERSION &&
           h[CAROM_SHM_H_SIZE] == size && h[CAROM_SHM_H_UID] == geteuid() &&
           h[CAROM_SHM_H_NSLOTS] > 0 && ss > 0 && ss % 8 == 0 &&
           h[CAROM_SHM_H_SLOTS_OFF] >= CAROM_SHM_H__N * 8 && h[CAROM_SHM_H_SLOTS_OFF] % 8 == 0 &&
           h[CAROM_SHM_H_NSLOTS] <= (size - h[CAROM_SHM_H_SLOTS_OFF]) / ss &&
           h[CAROM_SHM_H_OFF_KEY_HASH] + 8 <= ss && h[CAROM_SHM_H_OFF_KEY_HASH] % 8 == 0 &&
           h[CAROM_SHM_H_OFF_LAST_USED] + 8 <= ss && h[CAROM_SHM_H_OFF_LAST_USED] % 8 == 0 &&
           h[CAROM_SHM_H_OFF_POLICY] + 4 <= ss && h[CAROM_SHM_H_KEY_MAX] > 0 &&
           h[CAROM_SHM_H_OFF_KEY] + h[CAROM_SHM_H_KEY_MAX] <= ss &&
           h[CAROM_SHM_H_OFF_CUSHION] + sizeof(carom_cushion) <= ss &&
           h[CAROM_SHM_H_OFF_CUSHION] % 8 == 0 &&
           h[CAROM_SHM_H_OFF_BUCKET] + sizeof(carom_bucket) <= ss &&
           h[CAROM_SHM_H_OFF_BUCKET] % 8 == 0 &&
           h[CAROM_SHM_H_OFF_LEASES] + sizeof(carom_leases) <= ss &&
           h[CAROM_SHM_H_OFF_LEASES] % 8 == 0;
}

/* What a writer needs besides: this build's exact slot layout, so it may write through
 * carom_slot and carom_chaos_rule (a table of another layout is only ever read). */
static bool writable(const uint64_t *h, size_t size)
{
    return h[CAROM_SHM_H_SLOT_SIZE] == sizeof(carom_slot) &&
           h[CAROM_SHM_H_OFF_KEY_HASH] == offsetof(carom_slot, key_hash) &&
           h[CAROM_SHM_H_OFF_LAST_USED] == offsetof(carom_slot, last_used_ms) &&
           h[CAROM_SHM_H_OFF_POLICY] == offsetof(carom_slot, policy_index) &&
           h[CAROM_SHM_H_OFF_KEY] == offsetof(carom_slot, key) &&
           h[CAROM_SHM_H_OFF_CUSHION] == offsetof(carom_slot, cushion) &&
           h[CAROM_SHM_H_OFF_BUCKET] == offsetof(carom_slot, bucket) &&
           h[CAROM_SHM_H_OFF_LEASES] == offsetof(carom_slot, leases) &&
           (h[CAROM_SHM_H_NSLOTS] & (h[CAROM_SHM_H_NSLOTS] - 1)) == 0 &&
           h[CAROM_SHM_H_CHAOS_N] <= 1024 && h[CAROM_SHM_H_CHAOS_OFF] % 8 == 0 &&
           h[CAROM_SHM_H_CHAOS_OFF] >=
               h[CAROM_SHM_H_SLOTS_OFF] + h[CAROM_SHM_H_NSLOTS] * sizeof(carom_slot) &&
           h[CAROM_SHM_H_CHAOS_OFF] <= size &&
           h[CAROM_SHM_H_CHAOS_N] <= (size - h[CAROM_SHM_H_CHAOS_OFF]) / sizeof(carom_chaos_rule);
}

int carom__shm_map(const char *name, const char *who, unsigned flags, struct carom__shm *tb)
{
    bool write = flags & CAROM__SHM_WRITE, quiet = flags & CAROM__SHM_QUIET;
    memset(tb, 0, sizeof *tb);
    int fd = open(name, (write ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return 1;
        if (!quiet) fprintf(stderr, "%s: %s: %s\n", who, name, strerror(errno));
        return -1;
    }
    struct stat st;
    const char *bad = NULL;
    if (fstat(fd, &st) != 0)
        bad = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        bad = "not a regular file";
    else if (st.st_uid != geteuid())
        bad = "owned by another user";
    else if ((st.st_mode & 07777) != 0600)
        bad = "mode is not 0600";
    else if ((size_t)st.st_size < CAROM_SHM_H__N * 8)
        bad = "too small";
    void *m = MAP_FAILED;
    if (!bad && (m = mmap(NULL, (size_t)st.st_size, PROT_READ | (write ? PROT_WRITE : 0),
                          MAP_SHARED, fd, 0)) == MAP_FAILED)
        bad = strerror(errno);
    close(fd);
    size_t size = (size_t)st.st_size;
    if (!bad) {
        _Atomic uint64_t *w = m;
        for (unsigned i = 0; i < CAROM_SHM_H__N; i++)
            tb->h[i] = atomic_load_explicit(&w[i], i == CAROM_SHM_H_MAGIC ? memory_order_acquire
                                                                          : memory_order_relaxed);
        if (!readable(tb->h, size))
            bad = "not a carom table this version can read";
        else if (write && !writable(tb->h, size))
            bad = "made by another carom version: only `carom cushions` can read it";
        if (bad) munmap(m, size);
    }
    if (bad) {
        if (!quiet) fprintf(stderr, "%s: %s: %s\n", who, name, bad);
        return -1;
    }
    tb->base = m;
    tb->size = size;
    tb->w = m;
    if (write) {
        tb->slots = (carom_slot *)(tb->base + tb->h[CAROM_SHM_H_SLOTS_OFF]);
        tb->n = (unsigned)tb->h[CAROM_SHM_H_NSLOTS];
        tb->rules = (carom_chaos_rule *)(tb->base + tb->h[CAROM_SHM_H_CHAOS_OFF]);
        tb->nrules = (unsigned)tb->h[CAROM_SHM_H_CHAOS_N];
    }
    return 0;
}

/* ---- endpoints -------------------------------------------------------------------------- */

/* "host:port" or "[v6]:port", as `carom cushions` prints it; the policy that governs it. */
const carom_policy *carom__ctl_endpoint_policy(const carom_table *t, const char *ep)
{
    char host[CAROM_HOST_MAX];
    const char *colon = strrchr(ep, ':');
    if (!colon || colon == ep || !colon[1]) return NULL;
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end || port == 0 || port > 65535) return NULL;
    size_t hl = (size_t)(colon - ep);
    if (ep[0] == '[' && hl >= 2 && ep[hl - 1] == ']') {
        ep++;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof host) return NULL;
    memcpy(host, ep, hl);
    host[hl] = 0;
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a4.sin_addr) == 1)
        return carom_policy_match(t, NULL, (struct sockaddr *)&a4, (uint16_t)port);
    if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1)
        return carom_policy_match(t, NULL, (struct sockaddr *)&a6, (uint16_t)port);
    return carom_policy_match(t, host, NULL, (uint16_t)port);
}

bool carom__ctl_slot_has(carom_slot *s, const char *ep)
{
    uint64_t k = atomic_load_explicit(&s->key_hash, memory_order_acquire);
    return k != 0 && !(k & CAROM_SHM_RESERVED) && strncmp(s->key, ep, sizeof s->key) == 0;
}

/* ---- the scoreboard ----------------------------------------------------------------------- */

static void json_put(char *buf, size_t cap, size_t *n, const char *s)
{
    for (; *s && *n + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            *n += (size_t)snprintf(buf + *n, cap - *n, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            *n += (size_t)snprintf(buf + *n, cap - *n, "\\u%04x", c);
        else
            buf[(*n)++] = (char)c;
    }
    buf[*n] = 0;
}

/* One event, as the shim sends them (docs/scoreboard.md): dropped when nobody listens. */
void carom__ctl_announce(const carom_table *t, const char *event, const char *policy,
                         const char *ep, const char *detail)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char buf[512];
    size_t n = (size_t)snprintf(
        buf, sizeof buf, "{\"ts\":%llu,\"pid\":%d,\"event\":\"%s\",\"policy\":\"",
        (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec,
        (int)getpid(), event);
    json_put(buf, sizeof buf, &n, policy);
    n += (size_t)snprintf(buf + n, sizeof buf - n, "\",\"endpoint\":\"");
    json_put(buf, sizeof buf, &n, ep);
    n += (size_t)snprintf(buf + n, sizeof buf - n, "\",\"call\":\"carom\",\"detail\":\"");
    json_put(buf, sizeof buf, &n, detail);
    if (n + 3 >= sizeof buf) return;
    n += (size_t)snprintf(buf + n, sizeof buf - n, "\"}");
    const char *path = carom_policy_scoreboard_path(t);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof un.sun_path) return;
    memcpy(un.sun_path, path, strlen(path) + 1);
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0) return;
    sendto(s, buf, n, 0, (struct sockaddr *)&un, sizeof un);
    close(s);
}

void carom__shm_unmap(struct carom__shm *tb)
{
    if (tb->base) munmap(tb->base, tb->size);
    tb->base = NULL;
}
