/* build.c: the parser's sections into the immutable table: inheritance from [defaults],
 * the checks between keys, one name per policy, one policy per pattern, and the entry
 * points carom_policy_parse, carom_policy_builtin and carom_policy_free. It must never
 * hand out a table when any problem was reported, and never print (diag.c collects). */
#include "policy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* Every key a section sets replaces the inherited value (its whole field span). */
static void overlay(carom_policy *dst, const carom_policy *src, const carom__keyset *set)
{
    for (size_t w = 0; w < sizeof set->w / sizeof set->w[0]; w++)
        for (uint64_t bits = set->w[w]; bits; bits &= bits - 1) {
            const carom__key *key = &carom__keys[w * 64 + (size_t)__builtin_ctzll(bits)];
            if (key->scope == CAROM__SCOPE_POLICY)
                memcpy((char *)dst + key->off, (const char *)src + key->off, key->size);
        }
}

static bool has(const carom__section *s, int k)
{
    return carom__has(&s->set, k);
}

static bool bad(const carom__section *s, int k)
{
    return carom__has(&s->bad, k);
}

/* Checks between keys, on the effective values (inheritance applied), reported at the line
 * of whichever of the two keys this section sets later. A conflict wholly inherited from
 * [defaults] was reported there and is not repeated for every policy. */
static void pair_check(carom__parser *p, const carom__section *s, int ka, int kb, bool conflict,
                       unsigned va, unsigned vb, const char *why_a, const char *why_b)
{
    if (!conflict || !(has(s, ka) || has(s, kb)) || bad(s, ka) || bad(s, kb)) return;
    bool b_later = has(s, kb) && (!has(s, ka) || s->kline[kb] > s->kline[ka]);
    char v[24];
    if (b_later) {
        snprintf(v, sizeof v, "%u", vb);
        carom__report(p, s->kline[kb], carom__keys[kb].name, v, why_b, carom__keys[ka].name, va);
    } else {
        snprintf(v, sizeof v, "%u", va);
        carom__report(p, s->kline[ka], carom__keys[ka].name, v, why_a, carom__keys[kb].name, vb);
    }
}

/* Latency needs both halves (chaos.latency with chaos.latency_ms, chaos.connect_latency
 * with chaos.connect_latency_ms). Setting one of them to 0 here is how a policy turns
 * inherited latency off, so only a non-zero half set here can be the mistake. */
static void latency_check(carom__parser *p, const carom__section *s, int kp, int km, double prob,
                          uint32_t ms)
{
    const char *np = carom__keys[kp].name, *nm = carom__keys[km].name;
    if (bad(s, kp) || bad(s, km)) return;
    char v[32];
    if (has(s, km) && ms > 0 && prob == 0 && (!has(s, kp) || s->kline[km] > s->kline[kp])) {
        snprintf(v, sizeof v, "%u", ms);
        carom__report(
            p, s->kline[km], nm, v,
            "has no effect while %s is 0 (set the share of calls to delay, such as %s = 1)", np,
            np);
    } else if (has(s, kp) && prob > 0 && ms == 0) {
        snprintf(v, sizeof v, "%.15g", prob);
        carom__report(p, s->kline[kp], np, v, "has no effect while %s is 0 (set the delay too)",
                      nm);
    } else if (has(s, km) && has(s, kp) && ms > 0 && prob == 0) {
        snprintf(v, sizeof v, "%.15g", prob);
        carom__report(p, s->kline[kp], np, v, "is 0, so %s (%u) has no effect", nm, ms);
    }
}

static void cross_checks(carom__parser *p, const carom__section *s, const carom_policy *e)
{
    pair_check(p, s, CAROM__K_BASE_DELAY_MS, CAROM__K_MAX_DELAY_MS,
               e->bounce.cap_ms < e->bounce.base_ms, e->bounce.base_ms, e->bounce.cap_ms,
               "must be at most %s (%u)", "must be at least %s (%u)");
    pair_check(p, s, CAROM__K_CUSHION_FAILURES, CAROM__K_CUSHION_WINDOW,
               e->cushion.failures > e->cushion.window, e->cushion.failures, e->cushion.window,
               "must be at most %s (%u): the circuit could never open",
               "must be at least %s (%u): the circuit could never open");
    /* A burst without a rate: rate_limit = 0 here is how a policy turns an inherited
     * limit off, so only a burst set here is the mistake. */
    if (has(s, CAROM__K_RATE_BURST) && !bad(s, CAROM__K_RATE_LIMIT) &&
        !bad(s, CAROM__K_RATE_BURST) && e->rate_burst > 0 && e->rate_limit == 0) {
        char bv[24];
        snprintf(bv, sizeof bv, "%u", e->rate_burst);
        carom__report(p, s->kline[CAROM__K_RATE_BURST], "rate_burst", bv,
                      "has no effect while rate_limit is 0 (set the rate too)");
    }
    latency_check(p, s, CAROM__K_CHAOS_LATENCY, CAROM__K_CHAOS_LATENCY_MS, e->chaos.latency,
                  e->chaos.latency_ms);
    latency_check(p, s, CAROM__K_CHAOS_CONNECT_LATENCY, CAROM__K_CHAOS_CONNECT_LATENCY_MS,
                  e->chaos.connect_latency, e->chaos.connect_latency_ms);
}

static int cmp_name(const void *a, const void *b, void *secs)
{
    const carom__section *s = secs;
    int i = *(const int *)a, j = *(const int *)b;
    int c = carom__icmp(s[i].name, s[j].name);
    return c ? c : (i > j) - (i < j);
}

/* One allocation holds the table and its per-policy arrays; only what a build reads before
 * writing is cleared (g, chaos_enabled_set and hash are written once it is done). */
static carom_table *table_new(size_t n)
{
    size_t per =
        sizeof(carom_policy) + sizeof(carom__pattern *) + sizeof(size_t) + sizeof(_Atomic(char *));
    _Static_assert(sizeof(carom_table) % _Alignof(carom_policy) == 0, "pol follows the table");
    carom_table *t = malloc(sizeof *t + n * per);
    if (!t) return NULL;
    memset(t, 0, offsetof(carom_table, g));
    t->pol = (carom_policy *)(void *)(t + 1);
    t->pats = (carom__pattern **)(void *)(t->pol + n);
    t->npats = (size_t *)(void *)(t->pats + n);
    t->match_text = (_Atomic(char *) *)(void *)(t->npats + n);
    for (size_t i = 0; i < n; i++) {
        t->pats[i] = NULL;
        t->npats[i] = 0;
        atomic_init(&t->match_text[i], NULL);
    }
    t->n = n;
    return t;
}

void carom_policy_free(carom_table *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) {
        free(atomic_load_explicit(&t->match_text[i], memory_order_acquire));
        free(t->pats[i]);
    }
    free(t->slots);
    free(t->keys);
    free(t);
}

/* The line where section o claims pat. */
static unsigned claim_line(const carom__section *o, const carom__pattern *pat)
{
    uint8_t want[CAROM__KEY_MAX], have[CAROM__KEY_MAX];
    size_t wl = carom__pattern_key(pat, want);
    for (size_t j = 0; j < o->npats; j++)
        if (carom__pattern_key(&o->pats[j], have) == wl && memcmp(have, want, wl) == 0)
            return o->patline[j];
    return o->line;
}

/* A policy name is its service key in every event: two sections may not share one. */
static bool unique_names(carom__parser *p)
{
    int small[64]; /* the usual few sections need no allocation */
    int *order = p->nsecs < 64 ? small : malloc((p->nsecs + 1) * sizeof *order);
    if (!order) return p->oom = true, false;
    size_t np = 0;
    for (size_t i = 0; i < p->nsecs; i++)
        if (p->secs[i].kind == CAROM__SEC_POLICY && !p->secs[i].discard) order[np++] = (int)i;
    if (np > 32) {
        qsort_r(order, np, sizeof *order, cmp_name, p->secs);
    } else { /* the usual few: an insertion sort, by the same order */
        for (size_t i = 1; i < np; i++)
            for (size_t j = i; j > 0 && cmp_name(&order[j - 1], &order[j], p->secs) > 0; j--) {
                int x = order[j];
                order[j] = order[j - 1];
                order[j - 1] = x;
            }
    }
    for (size_t i = 1; i < np; i++) {
        carom__section *a = &p->secs[order[i - 1]], *b = &p->secs[order[i]];
        if (carom__icmp(a->name, b->name) == 0) {
            char key[CAROM__LINE_MAX + 4];
            snprintf(key, sizeof key, "[%s]", b->name);
            carom__report(p, b->line, key, b->name, "section repeated (first at line %u)", a->line);
            b->discard = true;
            order[i] = order[i - 1]; /* a third copy still names the first */
        }
    }
    if (order != small) free(order);
    return true;
}

/* A section without "match =" is matched by its own name, which must then be a pattern. */
static bool name_pattern(carom__parser *p, carom__section *s)
{
    carom__pattern pat;
    char why[160], key[CAROM__LINE_MAX + 4];
    if (carom__pattern_parse(s->name, strlen(s->name), &pat, why, sizeof why) != 0) {
        snprintf(key, sizeof key, "[%s]", s->name);
        carom__report(p, s->line, key, s->name,
                      "no \"match =\" in this section, and its name is not a pattern: %s", why);
        return true;
    }
    carom__pattern *one = malloc(sizeof *one);
    unsigned *line = malloc(sizeof *line);
    if (!one || !line) {
        free(one);
        free(line);
        return p->oom = true, false;
    }
    *one = pat;
    *line = s->line;
    s->pats = one;
    s->patline = line;
    s->npats = s->cappats = 1;
    return true;
}

/* Puts section s's patterns into the hash as policy at; a pattern another policy (or this
 * one) already claims is a problem. */
static void insert_patterns(carom__parser *p, carom_table *t, const size_t *sec_of,
                            const carom__section *s, size_t at)
{
    bool from_match = has(s, CAROM__K_MATCH);
    for (size_t j = 0; j < s->npats; j++) {
        uint32_t other = carom__table_insert(t, &s->pats[j], (uint32_t)at);
        if (other == UINT32_MAX) continue;
        if (other == UINT32_MAX - 1) {
            p->oom = true;
            return;
        }
        char txt[CAROM_HOST_MAX + 64], key[CAROM__LINE_MAX + 4];
        carom__pattern_format(&s->pats[j], txt, sizeof txt);
        snprintf(key, sizeof key, "[%s]", s->name);
        if (other == at) {
            carom__report(p, s->patline[j], from_match ? "match" : key, txt,
                          "pattern listed twice");
            continue;
        }
        unsigned oline = claim_line(&p->secs[sec_of[other]], &s->pats[j]);
        carom__report(p, s->patline[j], from_match ? "match" : key, txt,
                      "pattern already claimed by [%s] (line %u)", t->pol[other].name, oline);
    }
}

static carom_table *build(carom__parser *p)
{
    if (!unique_names(p)) return NULL;
    /* [defaults] started as the built-in policy and its keys wrote only their own fields, so
     * its values are already the built-in policy with its keys overlaid. */
    const carom_policy *def = &carom__builtin_policy;
    if (p->idx[CAROM__SEC_DEFAULTS] >= 0) {
        carom__section *d = &p->secs[p->idx[CAROM__SEC_DEFAULTS]];
        def = &d->v;
        cross_checks(p, d, def);
    }
    size_t n = 1, npat = 0;
    for (size_t i = 0; i < p->nsecs; i++) {
        carom__section *s = &p->secs[i];
        if (s->kind != CAROM__SEC_POLICY || s->discard) continue;
        n++;
        if (!has(s, CAROM__K_MATCH) && !name_pattern(p, s)) return NULL;
        npat += s->npats;
    }
    carom_table *t = table_new(n);
    /* policy index -> its section; the usual few need no allocation */
    size_t small[64], *sec_of = n <= 64 ? small : malloc(n * sizeof *sec_of);
    if (!t || !sec_of || !carom__table_reserve(t, npat)) {
        carom_policy_free(t);
        if (sec_of != small) free(sec_of);
        return p->oom = true, NULL;
    }
    t->pol[0] = *def;
    size_t at = 1;
    for (size_t i = 0; i < p->nsecs && !p->oom; i++) {
        carom__section *s = &p->secs[i];
        if (s->kind != CAROM__SEC_POLICY || s->discard) continue;
        carom_policy *e = &t->pol[at];
        sec_of[at] = i;
        *e = *def;
        overlay(e, &s->v, &s->set);
        memcpy(e->name, s->name, strlen(s->name) + 1); /* shorter than CAROM_NAME_MAX */
        e->index = (uint32_t)at;
        cross_checks(p, s, e);
        insert_patterns(p, t, sec_of, s, at);
        at++;
    }
    /* The table keeps the patterns: carom_policy_match_text spells them when asked. */
    for (size_t i = 1; i < at; i++) {
        carom__section *s = &p->secs[sec_of[i]];
        t->pats[i] = s->pats;
        t->npats[i] = s->npats;
        s->pats = NULL;
        s->npats = s->cappats = 0;
    }
    if (sec_of != small) free(sec_of);
    /* A [fleet] section is a request to share circuits: without redis it can do nothing. */
    int fl = p->idx[CAROM__SEC_FLEET], ch = p->idx[CAROM__SEC_CHAOS];
    if (fl < 0)
        p->g.fleet = carom__builtin_globals.fleet;
    else if (!has(&p->secs[fl], CAROM__K_REDIS))
        carom__report(p, p->secs[fl].line, "[fleet]", p->secs[fl].name, "needs redis = HOST:PORT");
    t->g = p->g;
    t->chaos_enabled_set = p->g.chaos_enabled && ch >= 0 && has(&p->secs[ch], CAROM__K_ENABLED);
    t->hash = carom__hash(p->text, p->len);
    return t;
}

carom_table *carom_policy_parse(const char *text, size_t len, const char *file, carom_diag_fn diag,
                                void *ud)
{
    carom__parser p;
    memset(&p, 0, offsetof(carom__parser, g)); /* g is set below */
    p.file = file ? file : "carom.ini";
    p.text = text ? text : "";
    p.len = text ? len : 0;
    p.cur = -1;
    for (int i = 0; i < 5; i++)
        p.idx[i] = -1;
    p.g = carom__builtin_globals;

    carom__read(&p);
    carom_table *t = p.oom ? NULL : build(&p);
    carom__diag_flush(&p, diag, ud);
    if (t && (p.ndiags || p.oom)) {
        carom_policy_free(t);
        t = NULL;
    }
    for (size_t i = 0; i < p.nsecs; i++) {
        if (p.secs[i].pats) free(p.secs[i].pats); /* most were handed to the table */
        if (p.secs[i].patline) free(p.secs[i].patline);
    }
    free(p.secs);
    return t;
}

carom_table *carom_policy_builtin(void)
{
    return carom_policy_parse("", 0, "(built-in)", NULL, NULL);
}
