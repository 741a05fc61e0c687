/* describe.c: a loaded policy back as carom.ini text (`carom explain`, `carom check -v`),
 * every setting in SPEC order and in the spelling the parser accepts, so that the output
 * is itself a valid carom.ini. It must never print: lines go to the caller's callback. */
#include "policy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void emit_kv(carom_diag_fn emit, void *ud, const char *key, const char *value)
{
    char line[CAROM__KEY_MAX + 2 * CAROM_PATH_MAX];
    if (value[0])
        snprintf(line, sizeof line, "%s = %s", key, value);
    else
        snprintf(line, sizeof line, "%s =", key);
    emit(ud, line);
}

/* Appends to a fixed buffer; the largest value (four IPv6 pockets) fits with room. */
static void add(char *buf, size_t len, const char *fmt, const char *s)
{
    size_t o = strlen(buf);
    if (o < len) snprintf(buf + o, len - o, fmt, s);
}

static void fmt_prob(char *buf, size_t len, double p)
{
    /* Probabilities are parsed from at most 9 decimals, so 15 significant digits always
     * give back the text the user wrote (minus trailing zeros). */
    snprintf(buf, len, "%.15g", p);
}

static void fmt_value(const carom_policy *p, int k, char *v, size_t len)
{
    static const char *const jitter[] = {"decorrelated", "full", "equal", "none"};
    static const char *const methods[] = {"GET",  "HEAD",  "PUT",   "DELETE", "OPTIONS",
                                          "POST", "PATCH", "TRACE", "CONNECT"};
    char one[CAROM_HOST_MAX + 16];
    v[0] = '\0';
    switch (k) {
    case CAROM__K_RETRIES:
        snprintf(v, len, "%u", p->retries);
        break;
    case CAROM__K_BASE_DELAY_MS:
        snprintf(v, len, "%u", p->bounce.base_ms);
        break;
    case CAROM__K_MAX_DELAY_MS:
        snprintf(v, len, "%u", p->bounce.cap_ms);
        break;
    case CAROM__K_JITTER:
        snprintf(v, len, "%s", (unsigned)p->bounce.jitter < 4 ? jitter[p->bounce.jitter] : "?");
        break;
    case CAROM__K_RETRY_ON: {
        uint64_t done[4] = {0};
        for (size_t i = 0; i < carom__nerrnames; i++) {
            int e = carom__errnames[i].value;
            if (e < 0 || e > 255 || !(p->retry_on[e / 64] & (1ull << (e % 64)))) continue;
            if (done[e / 64] & (1ull << (e % 64))) continue; /* an alias of one printed */
            done[e / 64] |= 1ull << (e % 64);
            add(v, len, v[0] ? ", %s" : "%s", carom__errnames[i].name);
        }
        if (p->retry_on_eai_again) add(v, len, v[0] ? ", %s" : "%s", "EAI_AGAIN");
        break;
    }
    case CAROM__K_CONNECT_TIMEOUT_MS:
        snprintf(v, len, "%u", p->connect_timeout_ms);
        break;
    case CAROM__K_RETRY_NONBLOCKING:
        snprintf(v, len, "%s", p->retry_nonblocking ? "on" : "off");
        break;
    case CAROM__K_IO_TIMEOUT_MS:
        snprintf(v, len, "%u", p->io_timeout_ms);
        break;
    case CAROM__K_DEADLINE_MS:
        snprintf(v, len, "%u", p->deadline_ms);
        break;
    case CAROM__K_RETRY_BUDGET:
        if (p->budget.permille % 10)
            snprintf(v, len, "%u.%u%%", p->budget.permille / 10u, p->budget.permille % 10u);
        else
            snprintf(v, len, "%u%%", p->budget.permille / 10u);
        break;
    case CAROM__K_RETRY_BUDGET_MIN_PER_S:
        snprintf(v, len, "%u", p->budget.min_per_s);
        break;
    case CAROM__K_CUSHION:
        snprintf(v, len, "%s", p->cushion_on ? "on" : "off");
        break;
    case CAROM__K_CUSHION_FAILURES:
        snprintf(v, len, "%u", p->cushion.failures);
        break;
    case CAROM__K_CUSHION_WINDOW:
        snprintf(v, len, "%u", p->cushion.window);
        break;
    case CAROM__K_CUSHION_HALF_OPEN_MS:
        snprintf(v, len, "%u", p->cushion.half_open_ms);
        break;
    case CAROM__K_CUSHION_FIRST_BREAK_MS:
        snprintf(v, len, "%u", p->cushion.first_break_ms);
        break;
    case CAROM__K_CUSHION_PROBES:
        snprintf(v, len, "%u", p->cushion.probes);
        break;
    case CAROM__K_OPEN_ERRNO: {
        const char *n = carom_errno_name(p->open_errno);
        if (n)
            snprintf(v, len, "%s", n);
        else
            snprintf(v, len, "%d", p->open_errno);
        break;
    }
    case CAROM__K_POCKET:
        for (unsigned i = 0; i < p->npockets && i < CAROM_POCKETS_MAX; i++) {
            bool v6 = strchr(p->pocket[i].host, ':') != NULL;
            snprintf(one, sizeof one, v6 ? "[%s]:%u" : "%s:%u", p->pocket[i].host,
                     (unsigned)p->pocket[i].port);
            add(v, len, v[0] ? ", %s" : "%s", one);
        }
        break;
    case CAROM__K_DNS_STALE_MS:
        snprintf(v, len, "%u", p->dns_stale_ms);
        break;
    case CAROM__K_HTTP_RETRY_STATUS:
        for (unsigned st = 100; st < 600; st++)
            if (p->http_retry_status[st / 64] & (1ull << (st % 64))) {
                snprintf(one, sizeof one, "%u", st);
                add(v, len, v[0] ? ", %s" : "%s", one);
            }
        break;
    case CAROM__K_HTTP_RETRY_METHODS:
        for (unsigned i = 0; i < sizeof methods / sizeof methods[0]; i++)
            if (p->http_retry_methods & (1u << i)) add(v, len, v[0] ? ", %s" : "%s", methods[i]);
        break;
    case CAROM__K_RETRY_AFTER_MAX_MS:
        snprintf(v, len, "%u", p->retry_after_max_ms);
        break;
    case CAROM__K_POCKET_URL:
        snprintf(v, len, "%s", p->pocket_url);
        break;
    case CAROM__K_POCKET_RESPONSE:
        if (p->pocket_response_status && p->pocket_response_body[0])
            snprintf(v, len, "%u %s", (unsigned)p->pocket_response_status, p->pocket_response_body);
        else if (p->pocket_response_status)
            snprintf(v, len, "%u", (unsigned)p->pocket_response_status);
        break;
    case CAROM__K_RATE_LIMIT:
        snprintf(v, len, "%u", p->rate_limit);
        break;
    case CAROM__K_RATE_BURST:
        snprintf(v, len, "%u", p->rate_burst);
        break;
    case CAROM__K_MAX_CONNECTIONS:
        snprintf(v, len, "%u", p->max_connections);
        break;
    case CAROM__K_LIMIT_WAIT_MS:
        snprintf(v, len, "%u", p->limit_wait_ms);
        break;
    case CAROM__K_CHAOS_CONNECT_REFUSE:
        fmt_prob(v, len, p->chaos.connect_refuse);
        break;
    case CAROM__K_CHAOS_CONNECT_TIMEOUT:
        fmt_prob(v, len, p->chaos.connect_timeout);
        break;
    case CAROM__K_CHAOS_DNS_FAIL:
        fmt_prob(v, len, p->chaos.dns_fail);
        break;
    case CAROM__K_CHAOS_RESET:
        fmt_prob(v, len, p->chaos.reset);
        break;
    case CAROM__K_CHAOS_LATENCY:
        fmt_prob(v, len, p->chaos.latency);
        break;
    case CAROM__K_CHAOS_LATENCY_MS:
        snprintf(v, len, "%u", p->chaos.latency_ms);
        break;
    case CAROM__K_CHAOS_SHORT_WRITE:
        fmt_prob(v, len, p->chaos.short_write);
        break;
    case CAROM__K_CHAOS_HTTP_STATUS:
        if (p->chaos.http_status) {
            fmt_prob(one, sizeof one, p->chaos.http_status_p);
            snprintf(v, len, "%u@%s", (unsigned)p->chaos.http_status, one);
        }
        break;
    case CAROM__K_CHAOS_CONNECT_LATENCY:
        fmt_prob(v, len, p->chaos.connect_latency);
        break;
    case CAROM__K_CHAOS_CONNECT_LATENCY_MS:
        snprintf(v, len, "%u", p->chaos.connect_latency_ms);
        break;
    case CAROM__K_CHAOS_DNS_FAIL_ERROR:
        snprintf(v, len, "%s", p->chaos.dns_fail_noname ? "EAI_NONAME" : "EAI_AGAIN");
        break;
    case CAROM__K_CHAOS_BLACKHOLE:
        fmt_prob(v, len, p->chaos.blackhole);
        break;
    case CAROM__K_CHAOS_BANDWIDTH_KBPS:
        snprintf(v, len, "%u", p->chaos.bandwidth_kbps);
        break;
    case CAROM__K_CHAOS_LIMIT_DATA:
        snprintf(v, len, "%llu", (unsigned long long)p->chaos.limit_data);
        break;
    case CAROM__K_CHAOS_LIMIT_DATA_MODE:
        snprintf(v, len, "%s", p->chaos.limit_data_reset ? "reset" : "eof");
        break;
    case CAROM__K_CHAOS_SLICE:
        snprintf(v, len, "%u", p->chaos.slice);
        break;
    case CAROM__K_CHAOS_SLOW_CLOSE_MS:
        snprintf(v, len, "%u", p->chaos.slow_close_ms);
        break;
    case CAROM__K_CHAOS_DIRECTION:
        snprintf(v, len, "%s", p->chaos.direction == CAROM_CHAOS_UP     ? "up"
                               : p->chaos.direction == CAROM_CHAOS_DOWN ? "down"
                                                                        : "both");
        break;
    case CAROM__K_CHAOS_FIRST:
        snprintf(v, len, "%u", p->chaos.first);
        break;
    }
}

/* state sits between pocket_response and the rate limit keys, where SPEC section 3 lists
 * it. */
static void settings(const carom_policy *p, const char *state, carom_diag_fn emit, void *ud)
{
    char v[2 * CAROM_PATH_MAX];
    for (int k = 0; k < CAROM__K_SETTINGS_END; k++) {
        if (k == CAROM__K_RATE_LIMIT && state) emit_kv(emit, ud, "state", state);
        fmt_value(p, k, v, sizeof v);
        emit_kv(emit, ud, carom__key_names[k], v);
    }
}

static const char *state_name(const carom_table *t)
{
    return carom_policy_state_mode(t) == CAROM_STATE_PROCESS ? "process" : "shared";
}

void carom_policy_describe(const carom_policy *p, carom_diag_fn emit, void *ud)
{
    if (p && emit) settings(p, NULL, emit, ud);
}

void carom_policy_explain(const carom_table *t, const carom_policy *p, carom_diag_fn emit, void *ud)
{
    if (p && emit) settings(p, state_name(t), emit, ud);
}

void carom_policy_dump(const carom_table *t, carom_diag_fn emit, void *ud)
{
    char line[CAROM__KEY_MAX + 2 * CAROM_PATH_MAX];
    if (!emit) return;
    size_t n = carom_policy_count(t);
    for (size_t i = 0; i < n; i++) {
        const carom_policy *p = carom_policy_at(t, i);
        if (i) emit(ud, "");
        snprintf(line, sizeof line, "[%s]", p->name);
        emit(ud, line);
        if (i) {
            /* One line holds at most 197 characters (inih's limit), so a long list is
             * spread over several "match =" lines, which the parser adds up. */
            const char *m = carom_policy_match_text(t, p);
            const size_t room = (size_t)carom__line_max() - (sizeof "match = " - 1);
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
        settings(p, i == 0 ? state_name(t) : NULL, emit, ud);
    }
    emit(ud, "");
    emit(ud, "[scoreboard]");
    emit_kv(emit, ud, "socket", carom_policy_scoreboard(t));
    emit(ud, "");
    emit(ud, "[chaos]");
    snprintf(line, sizeof line, "seed = %llu", (unsigned long long)carom_policy_chaos_seed(t));
    emit(ud, line);
    emit_kv(emit, ud, "enabled", carom_policy_chaos_enabled(t) ? "on" : "off");
    if (carom_policy_fleet(t)->redis[0]) {
        emit(ud, "");
        carom_policy_describe_fleet(t, emit, ud);
    }
}

/* [fleet] only when the file has one: a file without it shares nothing. host is printed
 * as written; left out, it means this machine's name, which the daemon looks up. */
void carom_policy_describe_fleet(const carom_table *t, carom_diag_fn emit, void *ud)
{
    const carom_fleet_cfg *f = carom_policy_fleet(t);
    char v[32];
    if (!f->redis[0] || !emit) return;
    emit(ud, "[fleet]");
    emit_kv(emit, ud, "redis", f->redis);
    if (f->password_file[0]) emit_kv(emit, ud, "password_file", f->password_file);
    if (f->host[0]) emit_kv(emit, ud, "host", f->host);
    snprintf(v, sizeof v, "%u%s", f->quorum, f->quorum_percent ? "%" : "");
    emit_kv(emit, ud, "quorum", v);
    emit_kv(emit, ud, "prefix", f->prefix);
    snprintf(v, sizeof v, "%u", f->report_ttl_ms);
    emit_kv(emit, ud, "report_ttl_ms", v);
}

const char *carom_policy_scoreboard_path(const carom_table *t)
{
    const char *env = secure_getenv("CAROM_SCOREBOARD");
    return env && *env ? env : carom_policy_scoreboard(t);
}
