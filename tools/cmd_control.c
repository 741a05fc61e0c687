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

/* The table, read-write; one message when there is none or it is refused. */
static int map_rw(const char *name, const char *who, struct carom__shm *tb)
{
    int rc = carom__shm_map(name, who, CAROM__SHM_WRITE, tb);
    if (rc > 0)
        fprintf(stderr, "%s: no shared table yet (%s): no program has run with this policy file\n",
                who, name);
    return rc;
}

/* ---- carom cushions --open / --close / --reset ------------------------------------------ */

int carom__cushions_control(const char *action, const char *ep, const char *file)
{
    const char *who = "carom cushions";
    char name[96];
    carom_table *t = carom__ctl_config(file, who, name, sizeof name);
    if (!t) return 1;
    if (ep && !carom__ctl_endpoint_policy(t, ep)) {
        fprintf(stderr, "%s: %s: expected HOST:PORT as carom cushions prints it\n", who, ep);
        carom_policy_free(t);
        return 2;
    }
    struct carom__shm tb;
    if (map_rw(name, who, &tb) != 0) {
        carom_policy_free(t);
        return 1;
    }
    uint64_t now = carom__mono_ms();
    int rc = 0;
    unsigned changed = 0;
    if (strcmp(action, "open") == 0) {
        /* An endpoint nobody has used yet gets its slot now, so the very first call finds
         * it open. */
        const carom_policy *p = carom__ctl_endpoint_policy(t, ep);
        carom_slot *s = carom_slots_find(tb.slots, tb.n, p->index, ep, now, NULL);
        if (!s) {
            fprintf(stderr, "%s: no room in the table for %s\n", who, ep);
            rc = 1;
        } else if (carom_cushion_force_open(&s->cushion)) {
            carom__ctl_announce(t, "open", p->name, ep, "manual: carom cushions --open");
            changed++;
        }
        if (s) printf("%s: forced-open\n", ep);
    } else {
        bool reset = strcmp(action, "reset") == 0;
        for (unsigned i = 0; i < tb.n; i++) {
            carom_slot *s = &tb.slots[i];
            uint64_t k = atomic_load_explicit(&s->key_hash, memory_order_acquire);
            if (k == 0 || (k & CAROM_SHM_RESERVED)) continue;
            if (ep ? !carom__ctl_slot_has(s, ep) : !reset) continue;
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
                carom__ctl_announce(t, "close", p ? p->name : "?", key,
                                    reset ? "manual: carom cushions --reset"
                                          : "manual: carom cushions --close");
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
    if ((s & 1) || !atomic_compare_exchange_strong_explicit(
                       &r->seq, &s, s + 1, memory_order_acq_rel, memory_order_acquire))
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

static void bump(struct carom__shm *tb)
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

int carom__cmd_chaos(int argc, char **argv)
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
    if ((list && (clear || ep)) || (clear && first_kv >= 0) ||
        (!list && !clear && (!ep || first_kv < 0))) {
        fputs(chaos_usage, stderr);
        return 2;
    }
    const char *who = "carom chaos";
    char name[96];
    carom_table *t = carom__ctl_config(file, who, name, sizeof name);
    if (!t) return 1;
    if (ep && !carom__ctl_endpoint_policy(t, ep)) {
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
        carom_table *check =
            n < sizeof ini ? carom_policy_parse(ini, n, "chaos", diag_collect, NULL) : NULL;
        if (!check) {
            carom_policy_free(t);
            return 1;
        }
        carom_policy_free(check);
    }
    struct carom__shm tb;
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
