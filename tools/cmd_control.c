/* cmd_control.c: steering running programs through the shared table they read: `carom
 * cushions --open/--close/--reset` (circuits by hand) and `carom chaos` (faults set at run
 * time). It writes only through core's lock-free operations on a table that is the user's
 * own and laid out exactly as this build lays it out, never creates the table, and never
 * blocks on anything but its own terminal. Every circuit changed by hand is announced on
 * the scoreboard; faults are announced by the shim as it injects them. */
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

#include "../core/carom_core.h"
#include "../policy/carom_policy.h"

static uint64_t mono_ms(void)
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

/* ---- the table, read-write -------------------------------------------------------------- */

struct rw {
    unsigned char *base;
    size_t size;
    carom_slot *slots;
    unsigned n;
    carom_chaos_rule *rules;
    unsigned nrules;
    _Atomic uint64_t *w;
};

/* The policy file (the same search as the shim) and the name of its table. */
static carom_table *load_config(const char *file, const char *who, char *name, size_t len)
{
    char buf[4096];
    const char *path = file ? file : carom_policy_find(buf, sizeof buf);
    carom_table *t = path ? carom_policy_load(path, to_stderr, NULL) : carom_policy_builtin();
    if (!t) return NULL;
    if (carom_policy_state_mode(t) == CAROM_STATE_PROCESS) {
        fprintf(stderr, "%s: %s says state = process: there is no shared table to change\n", who,
                path ? path : "(built-in defaults)");
        carom_policy_free(t);
        return NULL;
    }
    snprintf(name, len, "/dev/shm/carom-%u-%016llx", (unsigned)geteuid(),
             (unsigned long long)carom_policy_hash(t));
    return t;
}

/* Maps the table for writing: ours, mode 0600, and laid out exactly as this build lays it
 * out (a table of another version is only ever read, by `carom cushions`). */
static int map_rw(const char *name, const char *who, struct rw *tb)
{
    int fd = open(name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            fprintf(stderr, "%s: no shared table yet (%s): no program has run with this policy file\n",
                    who, name);
        else
            fprintf(stderr, "%s: %s: %s\n", who, name, strerror(errno));
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
    else if ((size_t)st.st_size < 256)
        bad = "too small";
    void *m = MAP_FAILED;
    if (!bad && (m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) ==
                    MAP_FAILED)
        bad = strerror(errno);
    close(fd);
    if (bad) {
        fprintf(stderr, "%s: %s: %s\n", who, name, bad);
        return -1;
    }
    _Atomic uint64_t *w = m;
    uint64_t h[CAROM_SHM_H__N];
    for (unsigned i = 0; i < CAROM_SHM_H__N; i++)
        h[i] = atomic_load_explicit(&w[i], i == CAROM_SHM_H_MAGIC ? memory_order_acquire
                                                                  : memory_order_relaxed);
    size_t size = (size_t)st.st_size;
    bool ok = h[CAROM_SHM_H_MAGIC] == CAROM_SHM_MAGIC && h[CAROM_SHM_H_VERSION] == CAROM_SHM_VERSION &&
              h[CAROM_SHM_H_SIZE] == size && h[CAROM_SHM_H_UID] == geteuid() &&
              h[CAROM_SHM_H_SLOT_SIZE] == sizeof(carom_slot) &&
              h[CAROM_SHM_H_OFF_KEY_HASH] == offsetof(carom_slot, key_hash) &&
              h[CAROM_SHM_H_OFF_KEY] == offsetof(carom_slot, key) &&
              h[CAROM_SHM_H_OFF_CUSHION] == offsetof(carom_slot, cushion) &&
              h[CAROM_SHM_H_NSLOTS] > 0 && (h[CAROM_SHM_H_NSLOTS] & (h[CAROM_SHM_H_NSLOTS] - 1)) == 0 &&
              h[CAROM_SHM_H_SLOTS_OFF] % 8 == 0 &&
              h[CAROM_SHM_H_SLOTS_OFF] + h[CAROM_SHM_H_NSLOTS] * sizeof(carom_slot) <= size &&
              h[CAROM_SHM_H_CHAOS_N] <= 1024 && h[CAROM_SHM_H_CHAOS_OFF] % 8 == 0 &&
              h[CAROM_SHM_H_CHAOS_OFF] + h[CAROM_SHM_H_CHAOS_N] * sizeof(carom_chaos_rule) <= size;
    if (!ok) {
        fprintf(stderr, "%s: %s: made by another carom version: only `carom cushions` can read it\n",
                who, name);
        munmap(m, size);
        return -1;
    }
    tb->base = m;
    tb->size = size;
    tb->w = w;
    tb->slots = (carom_slot *)(tb->base + h[CAROM_SHM_H_SLOTS_OFF]);
    tb->n = (unsigned)h[CAROM_SHM_H_NSLOTS];
    tb->rules = (carom_chaos_rule *)(tb->base + h[CAROM_SHM_H_CHAOS_OFF]);
    tb->nrules = (unsigned)h[CAROM_SHM_H_CHAOS_N];
    return 0;
}

/* ---- endpoints -------------------------------------------------------------------------- */

/* "host:port" or "[v6]:port", as `carom cushions` prints it; the policy that governs it. */
static const carom_policy *endpoint_policy(const carom_table *t, const char *ep)
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

static bool slot_has(carom_slot *s, const char *ep)
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
static void announce(const carom_table *t, const char *event, const char *policy, const char *ep,
                     const char *detail)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char buf[512];
    size_t n = (size_t)snprintf(buf, sizeof buf, "{\"ts\":%llu,\"pid\":%d,\"event\":\"%s\",\"policy\":\"",
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

/* ---- carom cushions --open / --close / --reset ------------------------------------------ */

int carom_cushions_control(const char *action, const char *ep, const char *file)
{
    const char *who = "carom cushions";
    char name[96];
    carom_table *t = load_config(file, who, name, sizeof name);
    if (!t) return 1;
    if (ep && !endpoint_policy(t, ep)) {
        fprintf(stderr, "%s: %s: expected HOST:PORT as carom cushions prints it\n", who, ep);
        carom_policy_free(t);
        return 2;
    }
    struct rw tb;
    if (map_rw(name, who, &tb) != 0) {
        carom_policy_free(t);
        return 1;
    }
    uint64_t now = mono_ms();
    int rc = 0;
    unsigned changed = 0;
    if (strcmp(action, "open") == 0) {
        /* An endpoint nobody has used yet gets its slot now, so the very first call finds
         * it open. */
        const carom_policy *p = endpoint_policy(t, ep);
        carom_slot *s = carom_slots_find(tb.slots, tb.n, p->index, ep, now, NULL);
        if (!s) {
            fprintf(stderr, "%s: no room in the table for %s\n", who, ep);
            rc = 1;
        } else if (carom_cushion_force_open(&s->cushion)) {
            announce(t, "open", p->name, ep, "manual: carom cushions --open");
            changed++;
        }
        if (s) printf("%s: forced-open\n", ep);
    } else {
        bool reset = strcmp(action, "reset") == 0;
        for (unsigned i = 0; i < tb.n; i++) {
            carom_slot *s = &tb.slots[i];
            uint64_t k = atomic_load_explicit(&s->key_hash, memory_order_acquire);
            if (k == 0 || (k & CAROM_SHM_RESERVED)) continue;
            if (ep ? !slot_has(s, ep) : !reset) continue;
            const carom_policy *p = carom_policy_at(t, s->policy_index);
            char key[CAROM_SLOT_KEY_MAX];
            memcpy(key, s->key, sizeof key);
            key[sizeof key - 1] = 0;
            carom_cushion_view v;
            carom_cushion_peek(&s->cushion, p ? &p->cushion : &(carom_cushion_cfg){0}, now, &v);
            bool was_closed = v.mode == CAROM_CUSHION_CLOSED;
            carom_cushion_force_close(&s->cushion, now);
            if (reset) { /* a fresh start: no retry budget spent, no herd waiting */
                carom_budget_init(&s->budget);
                atomic_store_explicit(&s->herd.fail_ms, 0, memory_order_relaxed);
                atomic_store_explicit(&s->herd.lease, 0, memory_order_relaxed);
            }
            if (!was_closed)
                announce(t, "close", p ? p->name : "?", key,
                         reset ? "manual: carom cushions --reset" : "manual: carom cushions --close");
            changed++;
        }
        if (ep && !changed) {
            fprintf(stderr, "%s: %s has no circuit in %s\n", who, ep, name);
            rc = 1;
        } else {
            printf("%s: %s\n", ep ? ep : "every circuit", reset ? "reset" : "closed");
        }
    }
    munmap(tb.base, tb.size);
    carom_policy_free(t);
    return rc;
}

/* ---- carom chaos ------------------------------------------------------------------------- */

static const char chaos_usage[] =
    "usage: carom chaos [-c FILE] ENDPOINT KEY=VALUE...\n"
    "       carom chaos [-c FILE] --list\n"
    "       carom chaos [-c FILE] --clear [ENDPOINT]\n"
    "Sets faults for an endpoint in the shared table that running programs read; only\n"
    "programs with chaos enabled (carom run --chaos, CAROM_CHAOS=1, [chaos] enabled = on)\n"
    "obey, within about a second. KEY is any chaos key without its chaos. prefix\n"
    "(connect_refuse=0.5, latency_ms=200, ...); the faults replace the file's for that\n"
    "endpoint until cleared. ENDPOINT is HOST:PORT as carom cushions prints it.\n"
    "  -c FILE      the policy file (its content names the table)\n"
    "  --list       show the faults set\n"
    "  --clear      remove them (every endpoint's, or one's)\n"
    "  -h, --help   show this help\n"
    "Exit status: 0 done, 1 failure (no table, a bad value), 2 usage error.\n";

/* Writes a rule under the seqlock: odd while being written, so a reader never takes half. */
static bool rule_write(carom_chaos_rule *r, const char *ep, const char *text)
{
    uint64_t s = atomic_load_explicit(&r->seq, memory_order_acquire);
    if ((s & 1) ||
        !atomic_compare_exchange_strong_explicit(&r->seq, &s, s + 1, memory_order_acq_rel,
                                                 memory_order_acquire))
        return false;
    memset(r->endpoint, 0, sizeof r->endpoint);
    memset(r->text, 0, sizeof r->text);
    if (ep) {
        snprintf(r->endpoint, sizeof r->endpoint, "%s", ep);
        snprintf(r->text, sizeof r->text, "%s", text);
    }
    atomic_store_explicit(&r->seq, s + 2, memory_order_release);
    return true;
}

static void bump(struct rw *tb)
{
    atomic_fetch_add_explicit(&tb->w[CAROM_SHM_H_CHAOS_GEN], 1, memory_order_acq_rel);
}

static void diag_collect(void *ud, const char *line)
{
    (void)ud;
    /* The synthetic file's name and line say nothing to the user: the key and value do. */
    const char *p = strstr(line, ": ");
    p = p ? strstr(p + 2, ": ") : NULL;
    fprintf(stderr, "carom chaos: %s\n", p ? p + 2 : line);
}

int carom_cmd_chaos(int argc, char **argv)
{
    const char *file = NULL, *ep = NULL;
    bool list = false, clear = false;
    int first_kv = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(chaos_usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            file = argv[++i];
        } else if (strcmp(argv[i], "--list") == 0) {
            list = true;
        } else if (strcmp(argv[i], "--clear") == 0) {
            clear = true;
        } else if (argv[i][0] == '-') {
            fputs(chaos_usage, stderr);
            return 2;
        } else if (!ep) {
            ep = argv[i];
        } else {
            if (first_kv < 0) first_kv = i;
            if (!strchr(argv[i], '=')) {
                fputs(chaos_usage, stderr);
                return 2;
            }
        }
    }
    if ((list && (clear || ep)) || (clear && first_kv >= 0) || (!list && !clear && (!ep || first_kv < 0))) {
        fputs(chaos_usage, stderr);
        return 2;
    }
    const char *who = "carom chaos";
    char name[96];
    carom_table *t = load_config(file, who, name, sizeof name);
    if (!t) return 1;
    if (ep && !endpoint_policy(t, ep)) {
        fprintf(stderr, "%s: %s: expected HOST:PORT as carom cushions prints it\n", who, ep);
        carom_policy_free(t);
        return 2;
    }
    /* The faults are checked the way the shim will read them: as a section of their own. */
    char text[CAROM_CHAOS_TEXT_MAX] = "";
    if (first_kv >= 0) {
        char ini[4096];
        size_t n = (size_t)snprintf(ini, sizeof ini, "[defaults]\n[%s]\n", ep);
        size_t tn = 0;
        for (int i = first_kv; i < argc && n < sizeof ini; i++) {
            const char *eq = strchr(argv[i], '=');
            n += (size_t)snprintf(ini + n, sizeof ini - n, "chaos.%.*s = %s\n", (int)(eq - argv[i]),
                                  argv[i], eq + 1);
            int w = snprintf(text + tn, sizeof text - tn, "%s%s", tn ? " " : "", argv[i]);
            if (w < 0 || (size_t)w >= sizeof text - tn) {
                fprintf(stderr, "%s: the faults are longer than %zu bytes\n", who, sizeof text - 1);
                carom_policy_free(t);
                return 1;
            }
            tn += (size_t)w;
        }
        carom_table *check = n < sizeof ini ? carom_policy_parse(ini, n, "chaos", diag_collect, NULL) : NULL;
        if (!check) {
            carom_policy_free(t);
            return 1;
        }
        carom_policy_free(check);
    }
    struct rw tb;
    if (map_rw(name, who, &tb) != 0) {
        carom_policy_free(t);
        return 1;
    }
    int rc = 0;
    if (list) {
        unsigned shown = 0;
        for (unsigned i = 0; i < tb.nrules; i++) {
            carom_chaos_rule r;
            if (!carom_chaos_rule_read(&tb.rules[i], &r) || !r.endpoint[0]) continue;
            printf("%s %s\n", r.endpoint, r.text);
            shown++;
        }
        if (!shown) printf("(no faults set in %s)\n", name);
    } else if (clear) {
        unsigned cleared = 0;
        for (unsigned i = 0; i < tb.nrules; i++) {
            carom_chaos_rule r;
            if (!carom_chaos_rule_read(&tb.rules[i], &r) || !r.endpoint[0]) continue;
            if (ep && strcmp(r.endpoint, ep) != 0) continue;
            if (rule_write(&tb.rules[i], NULL, NULL)) cleared++;
        }
        if (cleared) bump(&tb);
        printf("%u endpoint%s cleared\n", cleared, cleared == 1 ? "" : "s");
    } else {
        /* The endpoint's own rule if it has one, else a free one. */
        int at = -1;
        for (unsigned i = 0; i < tb.nrules && at < 0; i++) {
            carom_chaos_rule r;
            if (carom_chaos_rule_read(&tb.rules[i], &r) && strcmp(r.endpoint, ep) == 0) at = (int)i;
        }
        for (unsigned i = 0; i < tb.nrules && at < 0; i++) {
            carom_chaos_rule r;
            if (carom_chaos_rule_read(&tb.rules[i], &r) && !r.endpoint[0]) at = (int)i;
        }
        if (at < 0 || !rule_write(&tb.rules[at], ep, text)) {
            fprintf(stderr, "%s: no room for another endpoint's faults (at most %u): clear some\n",
                    who, tb.nrules);
            rc = 1;
        } else {
            bump(&tb);
            printf("%s %s\n", ep, text);
        }
    }
    munmap(tb.base, tb.size);
    carom_policy_free(t);
    return rc;
}
