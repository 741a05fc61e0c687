/* describe.c: a loaded policy back as carom.ini text (`carom explain`, `carom check -v`),
 * every setting in keys.def's order and in the spelling the parser accepts, so that the
 * output is itself a valid carom.ini. It must never print: lines go to the caller's
 * callback. */
#include "policy_int.h"

#include <stdio.h>
#include <stdlib.h>

static void emit_kv(carom_diag_fn emit, void *ud, const char *key, const char *value)
{
    char line[CAROM__KEY_MAX + 2 * CAROM_PATH_MAX];
    if (value[0])
        snprintf(line, sizeof line, "%s = %s", key, value);
    else
        snprintf(line, sizeof line, "%s =", key);
    emit(ud, line);
}

/* Every key of scope sc, from obj (a carom_policy or the table's globals). */
static void keys_of(int sc, const void *obj, carom_diag_fn emit, void *ud)
{
    char v[2 * CAROM_PATH_MAX];
    for (int k = 0; k < CAROM__K_COUNT; k++)
        if (carom__keys[k].scope == sc && carom__value_format(k, obj, v, sizeof v))
            emit_kv(emit, ud, carom__keys[k].name, v);
}

/* The policy settings; given the globals, the table-wide [defaults] keys (state) too, in
 * their keys.def place among them. */
static void settings(const carom_policy *p, const carom__globals *g, carom_diag_fn emit, void *ud)
{
    char v[2 * CAROM_PATH_MAX];
    for (int k = 0; k < CAROM__K_COUNT; k++) {
        int sc = carom__keys[k].scope;
        const void *obj = sc == CAROM__SCOPE_POLICY     ? (const void *)p
                          : sc == CAROM__SCOPE_DEFAULTS ? (const void *)g
                                                        : NULL;
        if (obj && carom__value_format(k, obj, v, sizeof v))
            emit_kv(emit, ud, carom__keys[k].name, v);
    }
}

void carom_policy_describe(const carom_policy *p, carom_diag_fn emit, void *ud)
{
    if (p && emit) settings(p, NULL, emit, ud);
}

void carom_policy_explain(const carom_table *t, const carom_policy *p, carom_diag_fn emit, void *ud)
{
    if (p && emit) settings(p, t ? &t->g : &carom__builtin_globals, emit, ud);
}

void carom_policy_dump(const carom_table *t, carom_diag_fn emit, void *ud)
{
    char line[CAROM__KEY_MAX + 2 * CAROM_PATH_MAX];
    if (!emit) return;
    const carom__globals *g = t ? &t->g : &carom__builtin_globals;
    size_t n = carom_policy_count(t);
    for (size_t i = 0; i < n; i++) {
        const carom_policy *p = carom_policy_at(t, i);
        if (i) emit(ud, "");
        snprintf(line, sizeof line, "[%s]", p->name);
        emit(ud, line);
        if (i) {
            /* One line holds at most 197 characters, so a long list is spread over several
             * "match =" lines, which the parser adds up. */
            const char *m = carom_policy_match_text(t, p);
            const size_t room = (size_t)CAROM__LINE_MAX - (sizeof "match = " - 1);
            while (*m) {
                size_t take = 0;
                for (const char *tok = m;;) {
                    const char *c = strstr(tok, ", ");
                    size_t end = c ? (size_t)(c - m) : strlen(m);
                    if (take && end > room) break;
                    take = end;
                    if (!c) break;
                    tok = c + 2;
                }
                snprintf(line, sizeof line, "match = %.*s", (int)take, m);
                emit(ud, line);
                m += take;
                if (*m == ',') m += 2;
            }
        }
        settings(p, i == 0 ? g : NULL, emit, ud);
    }
    emit(ud, "");
    emit(ud, "[scoreboard]");
    keys_of(CAROM__SCOPE_SCOREBOARD, g, emit, ud);
    emit(ud, "");
    emit(ud, "[chaos]");
    keys_of(CAROM__SCOPE_CHAOS, g, emit, ud);
    if (g->fleet.redis[0]) {
        emit(ud, "");
        carom_policy_describe_fleet(t, emit, ud);
    }
}

/* [fleet] only when the file has one: a file without it shares nothing. host is printed
 * as written; left out, it means this machine's name, which the daemon looks up. */
void carom_policy_describe_fleet(const carom_table *t, carom_diag_fn emit, void *ud)
{
    const carom__globals *g = t ? &t->g : &carom__builtin_globals;
    if (!g->fleet.redis[0] || !emit) return;
    emit(ud, "[fleet]");
    keys_of(CAROM__SCOPE_FLEET, g, emit, ud);
}

const char *carom_policy_scoreboard_path(const carom_table *t)
{
    const char *env = secure_getenv("CAROM_SCOREBOARD");
    return env && *env ? env : carom_policy_scoreboard(t);
}
