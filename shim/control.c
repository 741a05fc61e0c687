/* control.c: what a running process picks up from outside, at most once a second, at the
 * next call that needs a policy: a changed config file (reload) and, with chaos enabled,
 * the faults `carom chaos` set in the shared table (docs/configuration.md, "Live
 * control"). It must never run on the I/O path, never free a table or policy a thread may
 * still read, never print a diagnostic twice for the same file, and never let a bad file
 * replace a good one. */
#include "carom_shim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CHECK_EVERY_MS 1000u

_Atomic uint64_t carom__control_next_ms;

/* Set once at init, read after. */
static char *watch_path;

/* The file as last read (good or bad): a change is a new inode, size or mtime, so both an
 * in-place write and a rename over it are caught, and a bad file is reported once. */
struct ident {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};
static struct ident seen;
static bool same(const struct ident *a, const struct stat *st)
{
    return a->dev == st->st_dev && a->ino == st->st_ino && a->size == st->st_size &&
           a->mtime.tv_sec == st->st_mtim.tv_sec && a->mtime.tv_nsec == st->st_mtim.tv_nsec;
}
static void remember(const struct stat *st)
{
    seen = (struct ident){st->st_dev, st->st_ino, st->st_size, st->st_mtim};
}

void carom__control_start(const char *path, const struct stat *st)
{
    if (path && st) {
        watch_path = strdup(path);
        remember(st);
    }
    /* Nothing to watch and no chaos to obey: never check again. */
    if (!watch_path && !carom__g.chaos_asked)
        atomic_store_explicit(&carom__control_next_ms, UINT64_MAX, memory_order_relaxed);
}

/* ---- reload ------------------------------------------------------------------------------ */

static void reload(void)
{
    struct stat st;
    if (stat(watch_path, &st) != 0 || same(&seen, &st))
        return; /* gone (an editor's rename in progress) or unchanged: keep what we have */
    char *text = NULL;
    size_t len = 0;
    const char *why = NULL;
    struct stat rst;
    if (carom__read_config(watch_path, &text, &len, &why, &rst) != 0) {
        remember(&st);
        char line[4200];
        snprintf(line, sizeof line, "carom: %s:0: %s%s; keeping the last good policy", watch_path,
                 why ? "not trusted: " : "cannot read: ", why ? why : strerror(errno));
        carom__diag_line(NULL, line);
        return;
    }
    remember(&rst);
    /* Each diagnostic is printed and sent as a config_error event, once for this file. */
    carom_table *t = carom_policy_parse(text, len, watch_path, carom__diag_line, NULL);
    free(text);
    if (!t) {
        char line[4200];
        snprintf(line, sizeof line, "carom: %s:0: keeping the last good policy", watch_path);
        carom__diag_line(NULL, line);
        return;
    }
    /* A new content is a new identity: its own shared table, as a process started now
     * would have (the old circuits stay in the old table, for processes still on it). */
    const carom_table *old = carom__g.table;
    if (carom_policy_hash(t) == carom_policy_hash(old)) {
        carom_policy_free(t); /* touched, not changed */
        return;
    }
    carom__slots_switch(t);
    atomic_store(&carom__g.table, t);
    carom__limit_forget(); /* the new table may add limits or drop them */
}

/* ---- runtime chaos ------------------------------------------------------------------------ */

/* The faults `carom chaos` set, as a policy table of their own (one section per endpoint),
 * parsed from the shared table's rules whenever their generation changes. */
_Atomic(const carom_table *) carom__control_overlay;
static uint64_t overlay_gen = UINT64_MAX;
static _Atomic uint64_t *overlay_hdr;

static void chaos_rules(void)
{
    _Atomic uint64_t *h = carom__slots_header();
    if (!h) return; /* no shared table yet (or per-process state): nothing set from outside */
    uint64_t gen = atomic_load_explicit(&h[CAROM_SHM_H_CHAOS_GEN], memory_order_acquire);
    if (h == overlay_hdr && gen == overlay_gen) return;
    overlay_hdr = h;
    overlay_gen = gen;
    unsigned n;
    carom_chaos_rule *rules = carom__shm_rules(h, &n);
    size_t cap = 64 + (size_t)n * (CAROM_SLOT_KEY_MAX + 2 * CAROM_CHAOS_TEXT_MAX + 64), used = 0;
    char *ini = malloc(cap);
    if (!ini) return;
    used += (size_t)snprintf(ini, cap, "[defaults]\n");
    unsigned nset = 0;
    for (unsigned i = 0; i < n; i++) {
        carom_chaos_rule r;
        if (!carom_chaos_rule_read(&rules[i], &r) || !r.endpoint[0]) continue;
        used += (size_t)snprintf(ini + used, cap - used, "[%s]\n", r.endpoint);
        /* KEY=VALUE words, each a chaos key without its prefix (checked by the command). */
        char *save = NULL;
        for (char *w = strtok_r(r.text, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
            char *eq = strchr(w, '=');
            if (!eq) continue;
            used += (size_t)snprintf(ini + used, cap - used, "chaos.%.*s = %s\n", (int)(eq - w), w,
                                     eq + 1);
        }
        nset++;
    }
    /* Rules written by something other than `carom chaos` may not parse: then none apply. */
    carom_table *t =
        nset && used < cap ? carom_policy_parse(ini, used, "carom chaos", NULL, NULL) : NULL;
    free(ini);
    atomic_store(&carom__control_overlay,
                 t); /* the old one is kept: a call may still be reading it */
}

/* Copies of (policy, rule) pairs made so far; a fixed array claimed by CAS, so readers
 * take no lock. Full, a pair goes without its runtime faults. */
#define MERGED_MAX 128
static struct {
    const carom_policy *base, *rule;
    _Atomic(const carom_policy *) merged;
} merged[MERGED_MAX];
static _Atomic unsigned nmerged;

const carom_policy *carom__control_policy_slow(const carom_policy *p, const char *host,
                                               const struct sockaddr *addr, uint16_t port)
{
    const carom_table *ov = atomic_load_explicit(&carom__control_overlay, memory_order_acquire);
    if (!ov || !carom__g.chaos_asked) return p;
    const carom_policy *rule = carom_policy_match(ov, host, addr, port);
    if (rule == carom_policy_defaults(ov)) return p;
    unsigned n = atomic_load_explicit(&nmerged, memory_order_acquire);
    for (unsigned i = 0; i < n && i < MERGED_MAX; i++) {
        const carom_policy *m = atomic_load_explicit(&merged[i].merged, memory_order_acquire);
        if (m && merged[i].base == p && merged[i].rule == rule) return m;
    }
    /* The endpoint's runtime faults replace its file faults; everything else is p's. */
    carom_policy *m = malloc(sizeof *m);
    if (!m) return p;
    *m = *p;
    m->chaos = rule->chaos;
    unsigned i = atomic_fetch_add_explicit(&nmerged, 1, memory_order_acq_rel);
    if (i >= MERGED_MAX) {
        free(m);
        return p;
    }
    merged[i].base = p;
    merged[i].rule = rule;
    atomic_store_explicit(&merged[i].merged, m, memory_order_release);
    return m;
}

/* ---- the check ------------------------------------------------------------------------------ */

static _Atomic bool checking;

void carom__control_check_slow(uint64_t now_ms)
{
    uint64_t next = atomic_load_explicit(&carom__control_next_ms, memory_order_relaxed);
    /* One thread checks, and only one at a time (a slow parse may outlast a second); the
     * others go on with what they have. */
    if (now_ms < next ||
        !atomic_compare_exchange_strong_explicit(&carom__control_next_ms, &next,
                                                 now_ms + CHECK_EVERY_MS, memory_order_acq_rel,
                                                 memory_order_relaxed) ||
        atomic_exchange_explicit(&checking, true, memory_order_acquire))
        return;
    if (watch_path) reload();
    if (carom__g.chaos_asked) chaos_rules();
    atomic_store_explicit(&checking, false, memory_order_release);
}
