/* cmd_cushions.c: `carom cushions`: lists the circuits in the shared-memory table of the
 * current user and config (endpoint, policy, state, failures in window, time until
 * half-open), as a table or --json, once or --watch. It maps the table read-only and must
 * never write to it, create it, or trust a file that is not the user's own carom table;
 * the slot layout comes from the table's self-describing header, not from shim headers. */
#include "carom_tools.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../core/carom_core.h"
#include "../policy/carom_policy.h"

/* The table's header words are enum carom_shm_word (core/carom_core.h), as the shim
 * writes them (docs/scoreboard.md, "Shared state"); tools/ctl_table.c maps and checks it. */

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void to_stderr(void *ud, const char *line)
{
    (void)ud;
    fprintf(stderr, "%s\n", line);
}

struct row {
    unsigned slot;
    char endpoint[256], policy[CAROM_NAME_MAX];
    carom_cushion_view v;
    unsigned window;
    uint64_t idle_ms;
    /* Rate limit and bulkhead (0 limit: off, or a table without them). */
    unsigned rate_limit, rate_burst, tokens, max_connections, connections;
};

static int cmp_row(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    /* Open first, then half-open, then closed: what needs attention on top. */
    static const int rank[] = {[CAROM_CUSHION_CLOSED] = 3,
                               [CAROM_CUSHION_OPEN] = 1,
                               [CAROM_CUSHION_HALF_OPEN] = 2,
                               [CAROM_CUSHION_FORCED_OPEN] = 0,
                               [CAROM_CUSHION_FLEET_OPEN] = 0};
    if (rank[x->v.mode] != rank[y->v.mode]) return rank[x->v.mode] - rank[y->v.mode];
    int c = strcmp(x->endpoint, y->endpoint);
    return c ? c : strcmp(x->policy, y->policy);
}

/* Reads every published slot; a slot changing under us (claimed, evicted) is skipped. */
static size_t collect(const struct carom__shm *tb, const carom_table *t, struct row *rows)
{
    const uint64_t *h = tb->h;
    size_t n = 0;
    uint64_t now = carom__mono_ms();
    for (uint64_t i = 0; i < h[CAROM_SHM_H_NSLOTS]; i++) {
        const unsigned char *s = tb->base + h[CAROM_SHM_H_SLOTS_OFF] + i * h[CAROM_SHM_H_SLOT_SIZE];
        const _Atomic uint64_t *kh = (const _Atomic uint64_t *)(s + h[CAROM_SHM_H_OFF_KEY_HASH]);
        uint64_t k = atomic_load_explicit(kh, memory_order_acquire);
        if (k == 0 || (k & CAROM_SHM_RESERVED)) continue;
        struct row *r = &rows[n];
        memset(r, 0, sizeof *r);
        r->slot = (unsigned)i;
        size_t km = h[CAROM_SHM_H_KEY_MAX] < sizeof r->endpoint ? h[CAROM_SHM_H_KEY_MAX]
                                                                : sizeof r->endpoint;
        memcpy(r->endpoint, s + h[CAROM_SHM_H_OFF_KEY], km);
        r->endpoint[km - 1] = 0;
        uint32_t pol;
        memcpy(&pol, s + h[CAROM_SHM_H_OFF_POLICY], sizeof pol);
        uint64_t used = atomic_load_explicit(
            (const _Atomic uint64_t *)(s + h[CAROM_SHM_H_OFF_LAST_USED]), memory_order_relaxed);
        r->idle_ms = now > used ? now - used : 0;
        const carom_policy *p = carom_policy_at(t, pol);
        if (!p) continue; /* not this config's policy: cannot interpret its cushion */
        snprintf(r->policy, sizeof r->policy, "%s", p->name);
        r->window = p->cushion.window;
        carom_cushion_peek((const carom_cushion *)(s + h[CAROM_SHM_H_OFF_CUSHION]), &p->cushion,
                           now, &r->v);
        /* Limits: offsets 0 mean a table made before them (a slot's first field is the key). */
        if (p->rate_limit && h[CAROM_SHM_H_OFF_BUCKET]) {
            unsigned burst = p->rate_burst                            ? p->rate_burst
                             : p->rate_limit < CAROM_BUCKET_BURST_MAX ? p->rate_limit
                                                                      : CAROM_BUCKET_BURST_MAX;
            const carom_bucket_cfg bc = {
                .rate_per_s = p->rate_limit, .burst = burst, .max_wait_ms = p->limit_wait_ms};
            r->rate_limit = p->rate_limit;
            r->rate_burst = burst;
            r->tokens = carom_bucket_tokens((const carom_bucket *)(s + h[CAROM_SHM_H_OFF_BUCKET]),
                                            &bc, now);
        }
        if (p->max_connections && h[CAROM_SHM_H_OFF_LEASES]) {
            r->max_connections = p->max_connections;
            r->connections = carom_leases_count(
                (const carom_leases *)(s + h[CAROM_SHM_H_OFF_LEASES]), p->max_connections);
        }
        if (atomic_load_explicit(kh, memory_order_acquire) != k) continue;
        n++;
    }
    qsort(rows, n, sizeof *rows, cmp_row);
    return n;
}

static const char *mode_name(carom_cushion_mode m)
{
    return m == CAROM_CUSHION_OPEN          ? "open"
           : m == CAROM_CUSHION_HALF_OPEN   ? "half_open"
           : m == CAROM_CUSHION_FORCED_OPEN ? "forced-open"
           : m == CAROM_CUSHION_FLEET_OPEN  ? "fleet-open"
                                            : "closed";
}

static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c == 0x7f || c >= 0x80)
            fprintf(out, "\\u%04x", c); /* keys are ASCII host:port; anything else, escaped */
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void print_json(FILE *out, const struct row *rows, size_t n)
{
    fputs("[", out);
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        fputs(i ? ",\n " : "", out);
        fputs("{\"endpoint\":", out);
        json_str(out, r->endpoint);
        fputs(",\"policy\":", out);
        json_str(out, r->policy);
        fprintf(out,
                ",\"state\":\"%s\",\"failures\":%u,\"window\":%u,\"half_open_in_ms\":%llu,"
                "\"probes\":%u,\"idle_ms\":%llu,\"slot\":%u,\"rate_limit\":%u,\"rate_burst\":%u,"
                "\"tokens\":%u,\"max_connections\":%u,\"connections\":%u}",
                mode_name(r->v.mode), r->v.failures_in_window, r->window,
                (unsigned long long)r->v.ms_until_half_open, r->v.probes_admitted,
                (unsigned long long)r->idle_ms, r->slot, r->rate_limit, r->rate_burst, r->tokens,
                r->max_connections, r->connections);
    }
    fputs("]\n", out);
}

static void safe(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    for (; *src && n + 1 < cap; src++)
        dst[n++] = ((unsigned char)*src < 0x20 || *src == 0x7f) ? '?' : *src;
    dst[n] = 0;
}

static void print_text(FILE *out, const struct row *rows, size_t n, const char *name)
{
    fprintf(out, "%-40s %-20s %-11s %8s  %-22s %7s %5s\n", "ENDPOINT", "POLICY", "STATE",
            "FAILURES", "HALF-OPEN IN", "TOKENS", "CONNS");
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        char ep[256], pol[CAROM_NAME_MAX], fails[24], in[24];
        safe(ep, sizeof ep, r->endpoint);
        safe(pol, sizeof pol, r->policy);
        snprintf(fails, sizeof fails, "%u/%u", r->v.failures_in_window, r->window);
        if (r->v.mode == CAROM_CUSHION_OPEN)
            snprintf(in, sizeof in, r->v.ms_until_half_open ? "%.1fs" : "now (next call probes)",
                     (double)r->v.ms_until_half_open / 1000.0);
        else if (r->v.mode == CAROM_CUSHION_FORCED_OPEN)
            snprintf(in, sizeof in, "until closed by hand");
        else if (r->v.mode == CAROM_CUSHION_FLEET_OPEN)
            snprintf(in, sizeof in, "while the fleet says");
        else
            snprintf(in, sizeof in, "-");
        char tok[24] = "-", conns[24] = "-"; /* limit: tokens now, open connections */
        if (r->rate_limit) snprintf(tok, sizeof tok, "%u/%u", r->tokens, r->rate_burst);
        if (r->max_connections)
            snprintf(conns, sizeof conns, "%u/%u", r->connections, r->max_connections);
        fprintf(out, "%-40s %-20s %-11s %8s  %-22s %7s %5s\n", ep, pol, mode_name(r->v.mode), fails,
                in, tok, conns);
    }
    if (!n) fprintf(out, "(no circuits in %s yet)\n", name);
}

static const char usage[] =
    "usage: carom cushions [-c FILE] [--json] [--watch] [--path]\n"
    "       carom cushions [-c FILE] --open ENDPOINT | --close ENDPOINT | --reset [ENDPOINT]\n"
    "       carom cushions [-c FILE] --fleet [--json]\n"
    "Lists the circuits in the shared-memory table of this user and policy file, or steers\n"
    "them by hand for every program sharing it (ENDPOINT is HOST:PORT as listed).\n"
    "  -c FILE      the policy file (its content names the table)\n"
    "  --json       print a JSON array instead of a table\n"
    "  -w, --watch  redraw every second until interrupted\n"
    "  --path       print the table's file name and exit\n"
    "  --open EP    open EP's circuit until it is closed by hand (forced-open)\n"
    "  --close EP   close EP's circuit, with an empty window\n"
    "  --reset [EP] close and forget EP's circuit, budget and herd (every endpoint's without EP)\n"
    "  --fleet      which hosts of the fleet report each endpoint open ([fleet] in FILE)\n"
    "  -h, --help   show this help\n";

int carom__cmd_cushions(int argc, char **argv)
{
    bool json = false, watch = false, only_path = false, fleet = false;
    const char *file = NULL, *action = NULL, *ep = NULL;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "--open") == 0 || strcmp(argv[i], "--close") == 0) && i + 1 < argc &&
            !action) {
            action = argv[i] + 2;
            ep = argv[++i];
        } else if (strcmp(argv[i], "--reset") == 0 && !action) {
            action = "reset";
            if (i + 1 < argc && argv[i + 1][0] != '-') ep = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--fleet") == 0) {
            fleet = true;
        } else if (strcmp(argv[i], "--path") == 0) {
            only_path = true;
        } else if (strcmp(argv[i], "-w") == 0 || strcmp(argv[i], "--watch") == 0) {
            watch = true;
        } else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            file = argv[++i];
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (fleet) {
        if (action || watch || only_path) {
            fputs(usage, stderr);
            return 2;
        }
        return carom__fleet_show(file, json);
    }
    if (action) {
        if (json || watch || only_path) {
            fputs(usage, stderr);
            return 2;
        }
        return carom__cushions_control(action, ep, file);
    }
    /* The same search as the shim ($CAROM_CONFIG, ./carom.ini, ...): the table's name
     * hashes the file's content, so only the same file finds the same table. */
    char buf[4096];
    const char *path = file ? file : carom__config_find(buf, sizeof buf);
    carom_table *t = path ? carom__config_load(path, to_stderr, NULL) : carom_policy_builtin();
    if (!t) return 1;
    const char *shown = path ? path : "(built-in defaults)";
    char name[CAROM_SHM_NAME_MAX];
    carom_shm_name(name, sizeof name, (unsigned)geteuid(), carom_policy_hash(t));
    if (only_path) { /* where the table of this config lives, whether it exists or not */
        printf("%s\n", name);
        carom_policy_free(t);
        return 0;
    }
    if (carom_policy_state_mode(t) == CAROM_STATE_PROCESS) {
        fprintf(stderr, "carom cushions: %s says state = process: circuits live in each process\n",
                shown);
        if (json) fputs("[]\n", stdout);
        carom_policy_free(t);
        return 0;
    }
    struct carom__shm tb;
    int m = carom__shm_map(name, "carom cushions", 0, &tb);
    if (m != 0) {
        if (m > 0) {
            fprintf(stderr, "carom cushions: no shared state for %s yet (%s)\n", shown, name);
            if (json) fputs("[]\n", stdout);
        }
        carom_policy_free(t);
        return m > 0 ? 0 : 1;
    }
    struct row *rows = calloc(tb.h[CAROM_SHM_H_NSLOTS], sizeof *rows);
    if (!rows) {
        fprintf(stderr, "carom cushions: out of memory\n");
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    bool tty = isatty(STDOUT_FILENO);
    do {
        size_t n = collect(&tb, t, rows);
        if (watch && tty && !json) fputs("\033[H\033[J", stdout);
        if (json)
            print_json(stdout, rows, n);
        else
            print_text(stdout, rows, n, name);
        fflush(stdout);
        if (watch)
            for (int i = 0; i < 10 && !stop; i++)
                usleep(100000);
    } while (watch && !stop);
    free(rows);
    carom__shm_unmap(&tb);
    carom_policy_free(t);
    return 0;
}
