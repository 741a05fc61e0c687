/* load.c: carom.ini -> the immutable, validated policy table. inih drives the parse, fed
 * line by line by our own reader so that every diagnostic knows its line and every syntax
 * error is reported, not just the first. It must never print, never use stdio streams
 * (the shim runs it inside programs that own their stdio), and never accept a value it
 * could not read: one diagnostic per problem, and then no table at all. */
#include "policy_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MS_MAX 86400000u     /* every *_ms key: at most 24 h */
#define CHAOS_KBPS_MAX 10000000u        /* chaos.bandwidth_kbps: about 10 GB/s */
#define CHAOS_BYTES_MAX (1ull << 50)    /* chaos.limit_data: a petabyte */
#define CHAOS_SLICE_MAX (16u << 20)     /* chaos.slice: 16 MiB */
#define CHAOS_FIRST_MAX 1000000000u     /* chaos.first */
#define MAX_SECTIONS 16384   /* bounds memory for a hostile or generated file */
#define MAX_FILE (16u << 20) /* carom_policy_load refuses larger files */

const char *const carom__key_names[CAROM__K_COUNT] = {
    [CAROM__K_RETRIES] = "retries",
    [CAROM__K_BASE_DELAY_MS] = "base_delay_ms",
    [CAROM__K_MAX_DELAY_MS] = "max_delay_ms",
    [CAROM__K_JITTER] = "jitter",
    [CAROM__K_RETRY_ON] = "retry_on",
    [CAROM__K_CONNECT_TIMEOUT_MS] = "connect_timeout_ms",
    [CAROM__K_RETRY_NONBLOCKING] = "retry_nonblocking",
    [CAROM__K_IO_TIMEOUT_MS] = "io_timeout_ms",
    [CAROM__K_DEADLINE_MS] = "deadline_ms",
    [CAROM__K_RETRY_BUDGET] = "retry_budget",
    [CAROM__K_RETRY_BUDGET_MIN_PER_S] = "retry_budget_min_per_s",
    [CAROM__K_CUSHION] = "cushion",
    [CAROM__K_CUSHION_FAILURES] = "cushion_failures",
    [CAROM__K_CUSHION_WINDOW] = "cushion_window",
    [CAROM__K_CUSHION_HALF_OPEN_MS] = "cushion_half_open_ms",
    [CAROM__K_CUSHION_FIRST_BREAK_MS] = "cushion_first_break_ms",
    [CAROM__K_CUSHION_PROBES] = "cushion_probes",
    [CAROM__K_OPEN_ERRNO] = "open_errno",
    [CAROM__K_POCKET] = "pocket",
    [CAROM__K_DNS_STALE_MS] = "dns_stale_ms",
    [CAROM__K_HTTP_RETRY_STATUS] = "http_retry_status",
    [CAROM__K_HTTP_RETRY_METHODS] = "http_retry_methods",
    [CAROM__K_RETRY_AFTER_MAX_MS] = "retry_after_max_ms",
    [CAROM__K_POCKET_URL] = "pocket_url",
    [CAROM__K_POCKET_RESPONSE] = "pocket_response",
    [CAROM__K_RATE_LIMIT] = "rate_limit",
    [CAROM__K_RATE_BURST] = "rate_burst",
    [CAROM__K_MAX_CONNECTIONS] = "max_connections",
    [CAROM__K_LIMIT_WAIT_MS] = "limit_wait_ms",
    [CAROM__K_CHAOS_CONNECT_REFUSE] = "chaos.connect_refuse",
    [CAROM__K_CHAOS_CONNECT_TIMEOUT] = "chaos.connect_timeout",
    [CAROM__K_CHAOS_DNS_FAIL] = "chaos.dns_fail",
    [CAROM__K_CHAOS_RESET] = "chaos.reset",
    [CAROM__K_CHAOS_LATENCY] = "chaos.latency",
    [CAROM__K_CHAOS_LATENCY_MS] = "chaos.latency_ms",
    [CAROM__K_CHAOS_SHORT_WRITE] = "chaos.short_write",
    [CAROM__K_CHAOS_HTTP_STATUS] = "chaos.http_status",
    [CAROM__K_CHAOS_CONNECT_LATENCY] = "chaos.connect_latency",
    [CAROM__K_CHAOS_CONNECT_LATENCY_MS] = "chaos.connect_latency_ms",
    [CAROM__K_CHAOS_DNS_FAIL_ERROR] = "chaos.dns_fail_error",
    [CAROM__K_CHAOS_BLACKHOLE] = "chaos.blackhole",
    [CAROM__K_CHAOS_BANDWIDTH_KBPS] = "chaos.bandwidth_kbps",
    [CAROM__K_CHAOS_LIMIT_DATA] = "chaos.limit_data",
    [CAROM__K_CHAOS_LIMIT_DATA_MODE] = "chaos.limit_data_mode",
    [CAROM__K_CHAOS_SLICE] = "chaos.slice",
    [CAROM__K_CHAOS_SLOW_CLOSE_MS] = "chaos.slow_close_ms",
    [CAROM__K_CHAOS_DIRECTION] = "chaos.direction",
    [CAROM__K_CHAOS_FIRST] = "chaos.first",
    [CAROM__K_STATE] = "state",
    [CAROM__K_MATCH] = "match",
    [CAROM__K_SOCKET] = "socket",
    [CAROM__K_SEED] = "seed",
    [CAROM__K_ENABLED] = "enabled",
    [CAROM__K_REDIS] = "redis",
    [CAROM__K_PASSWORD_FILE] = "password_file",
    [CAROM__K_HOST] = "host",
    [CAROM__K_QUORUM] = "quorum",
    [CAROM__K_PREFIX] = "prefix",
    [CAROM__K_REPORT_TTL_MS] = "report_ttl_ms",
};

/* ---- built-in defaults (SPEC section 3) ------------------------------------------------ */

#define BIT_IN(v, w) (((v) / 64 == (w)) ? 1ull << ((v) % 64) : 0ull)
#define RETRY_ON_W(w)                                                                              \
    (BIT_IN(ECONNREFUSED, w) | BIT_IN(ETIMEDOUT, w) | BIT_IN(EHOSTUNREACH, w) |                    \
     BIT_IN(ENETUNREACH, w))
#define STATUS_W(w)                                                                                \
    (BIT_IN(408, w) | BIT_IN(429, w) | BIT_IN(502, w) | BIT_IN(503, w) | BIT_IN(504, w))

const carom_policy carom__builtin_policy = {
    .name = "defaults",
    .index = 0,
    .retries = 3,
    .bounce = {.base_ms = 100, .cap_ms = 30000, .jitter = CAROM_JITTER_DECORRELATED},
    .retry_on = {RETRY_ON_W(0), RETRY_ON_W(1), RETRY_ON_W(2), RETRY_ON_W(3)},
    .retry_on_eai_again = true,
    .connect_timeout_ms = 0,
    .retry_nonblocking = true,
    .io_timeout_ms = 0,
    .deadline_ms = 0,
    .budget = {.permille = 200, .min_per_s = 10},
    .cushion_on = true,
    .cushion = {.failures = 5, .window = 10, .probes = 1, .half_open_ms = 30000, .first_break_ms = 1000},
    .open_errno = ECONNREFUSED,
    .npockets = 0,
    .dns_stale_ms = 300000,
    .http_retry_status = {STATUS_W(0), STATUS_W(1), STATUS_W(2), STATUS_W(3), STATUS_W(4),
                          STATUS_W(5), STATUS_W(6), STATUS_W(7), STATUS_W(8), STATUS_W(9)},
    .http_retry_methods =
        CAROM_M_GET | CAROM_M_HEAD | CAROM_M_PUT | CAROM_M_DELETE | CAROM_M_OPTIONS,
    .retry_after_max_ms = 60000,
    .rate_limit = 0,
    .rate_burst = 0,
    .max_connections = 0,
    .limit_wait_ms = 1000,
};

/* ---- parser state -------------------------------------------------------------------- */

enum sec_kind { SEC_DEFAULTS, SEC_POLICY, SEC_SCOREBOARD, SEC_CHAOS, SEC_FLEET };

typedef struct section {
    char *name;
    int kind;
    bool discard; /* a repeated or broken header: its keys are checked, then dropped */
    unsigned line;
    uint64_t set; /* keys given in this section */
    uint64_t bad; /* ... whose value was rejected */
    unsigned kline[CAROM__K_COUNT];
    carom_policy v; /* the values of the keys in `set` */
    carom__pattern *pats;
    unsigned *patline; /* the line each pattern came from */
    size_t npats;
} section;

typedef struct problem {
    unsigned line;
    size_t seq; /* keeps problems on one line in the order they were found */
    char *text;
} problem;

typedef struct parser {
    const char *file;
    const char *text;
    size_t len, pos;
    unsigned lineno;
    int cur; /* current section; -1 before the first header, -2 skipping the rest */
    section *secs;
    size_t nsecs, capsecs;
    bool too_many;
    int idx[5]; /* the one [defaults], [scoreboard], [chaos], [fleet] (-1: absent) */
    problem *diags;
    size_t ndiags, capdiags;
    bool oom;
    bool binary; /* the value being reported is not text: escape every non-ASCII byte */
    carom_state_mode state;
    char socket[108];
    uint64_t seed;
    bool enabled;
    bool enabled_set; /* [chaos] enabled written in the file */
    carom_fleet_cfg fleet;
} parser;

/* ---- diagnostics --------------------------------------------------------------------- */

/* Quotes a value for a diagnostic: a terminal must never receive the file's control bytes,
 * and a long value is cut so the line stays readable. */
static void quote(char *out, size_t outlen, const char *s, size_t len, bool escape_high)
{
    size_t o = 0, shown = len > 60 ? 57 : len;
    for (size_t i = 0; i < shown && o + 5 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f || (c >= 0x80 && escape_high)) {
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    if (shown < len && o + 4 < outlen) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

static void add_diag(parser *p, unsigned line, char *text)
{
    if (p->ndiags == p->capdiags) {
        size_t cap = p->capdiags ? p->capdiags * 2 : 16;
        problem *d = realloc(p->diags, cap * sizeof *d);
        if (!d) {
            free(text);
            p->oom = true;
            return;
        }
        p->diags = d;
        p->capdiags = cap;
    }
    p->diags[p->ndiags] = (problem){.line = line, .seq = p->ndiags, .text = text};
    p->ndiags++;
}

/* One problem: `carom: FILE:LINE: key: what is wrong, got "value"`. The key and the
 * message can carry text from the file too (a key with a tab in it, a section name), so
 * the finished line gets its control bytes escaped as well. */
__attribute__((format(printf, 6, 7))) static void report_n(parser *p, unsigned line,
                                                           const char *key, const char *val,
                                                           size_t vlen, const char *fmt, ...)
{
    char what[512], q[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    quote(q, sizeof q, val, vlen, p->binary);
    int n = snprintf(NULL, 0, "carom: %s:%u: %s: %s, got \"%s\"", p->file, line, key, what, q);
    size_t cap = n >= 0 ? (size_t)n * 4 + 1 : 0;
    char *text = cap ? malloc(cap) : NULL, *raw = cap ? malloc((size_t)n + 1) : NULL;
    if (!text || !raw) {
        free(text);
        free(raw);
        p->oom = true;
        return;
    }
    snprintf(raw, (size_t)n + 1, "carom: %s:%u: %s: %s, got \"%s\"", p->file, line, key, what, q);
    size_t o = 0;
    for (const unsigned char *c = (const unsigned char *)raw; *c; c++) {
        if (*c < 0x20 || *c == 0x7f)
            o += (size_t)snprintf(text + o, cap - o, "\\x%02x", *c);
        else
            text[o++] = (char)*c;
    }
    text[o] = '\0';
    free(raw);
    add_diag(p, line, text);
}

#define report(p, line, key, val, ...) report_n(p, line, key, val, strlen(val), __VA_ARGS__)

/* ---- small readers --------------------------------------------------------------------- */

static bool parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s) return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* "12", "12.5", ".5": mantissa and count of decimals, so that no binary rounding happens
 * before we know the value is in range. */
static bool parse_decimal(const char *s, size_t len, uint64_t *mant, unsigned *frac,
                          unsigned maxfrac)
{
    uint64_t m = 0;
    unsigned f = 0, digits = 0;
    bool dot = false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.' && !dot) {
            dot = true;
            continue;
        }
        if (s[i] < '0' || s[i] > '9') return false;
        if (++digits > 18) return false;
        m = m * 10 + (uint64_t)(s[i] - '0');
        if (dot && ++f > maxfrac) return false;
    }
    if (digits == 0 || (dot && f == 0 && s[len - 1] == '.')) return false;
    *mant = m;
    *frac = f;
    return true;
}

static uint64_t pow10u(unsigned n)
{
    uint64_t v = 1;
    while (n--)
        v *= 10;
    return v;
}

static bool parse_prob(const char *s, size_t len, double *out)
{
    uint64_t m;
    unsigned f;
    if (!parse_decimal(s, len, &m, &f, 9) || m > pow10u(f)) return false;
    /* Both operands are exact doubles, so the quotient rounds once, as strtod would. */
    *out = (double)m / (double)pow10u(f);
    return true;
}

static bool parse_onoff(const char *v, bool *out)
{
    if (strcasecmp(v, "on") == 0) return *out = true, true;
    if (strcasecmp(v, "off") == 0) return *out = false, true;
    return false;
}

static bool parse_status(const char *s, size_t len, unsigned *out)
{
    if (len != 3) return false;
    unsigned v = 0;
    for (size_t i = 0; i < 3; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v < 100 || v > 599) return false;
    *out = v;
    return true;
}

static void trim(const char **s, size_t *len)
{
    while (*len && isspace((unsigned char)**s))
        (*s)++, (*len)--;
    while (*len && isspace((unsigned char)(*s)[*len - 1]))
        (*len)--;
}

/* Walks a comma-separated list: calls item() for every trimmed element. An empty value is
 * an empty list; an empty element ("a,,b", "a,") is a problem of its own. */
typedef bool (*item_fn)(parser *p, const char *key, const char *item, size_t len, void *ctx);

static bool each_item(parser *p, const char *key, const char *v, item_fn fn, void *ctx)
{
    bool ok = true;
    if (!*v) return true;
    const char *s = v;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        const char *it = s;
        trim(&it, &len);
        if (len == 0) {
            report(p, p->lineno, key, v, "empty item in the list");
            ok = false;
        } else if (!fn(p, key, it, len, ctx)) {
            ok = false;
        }
        if (!comma) break;
        s = comma + 1;
    }
    return ok;
}

/* Optimal string alignment distance, case-insensitive, for "did you mean". */
static unsigned edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40) return 99;
    unsigned d[41][41];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (unsigned)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            unsigned cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            unsigned v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 &&
                tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == tolower((unsigned char)b[j - 1]) &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

static bool close_enough(const char *got, unsigned dist)
{
    size_t n = strlen(got);
    return dist <= (n <= 4 ? 1u : n <= 8 ? 2u : 3u);
}

static const char *suggest_errno(const char *name, bool eai)
{
    const char *best = NULL;
    unsigned bd = 99;
    for (size_t i = 0; i < carom__nerrnames; i++) {
        const char *n = carom__errnames[i].name;
        if ((strncmp(n, "EAI_", 4) == 0) != eai) continue;
        unsigned d = edit_distance(name, n);
        if (d < bd) bd = d, best = n;
    }
    return best && close_enough(name, bd) ? best : NULL;
}

/* ---- values ------------------------------------------------------------------------- */

static bool get_uint(parser *p, const char *key, const char *v, uint64_t lo, uint64_t hi,
                     uint64_t *out)
{
    uint64_t x;
    if (parse_u64(v, &x) && x >= lo && x <= hi) {
        *out = x;
        return true;
    }
    report(p, p->lineno, key, v, "expected a whole number %llu..%llu", (unsigned long long)lo,
           (unsigned long long)hi);
    return false;
}

static bool get_ms(parser *p, const char *key, const char *v, uint32_t *out)
{
    uint64_t x;
    if (parse_u64(v, &x) && x <= MS_MAX) {
        *out = (uint32_t)x;
        return true;
    }
    report(p, p->lineno, key, v, "expected a whole number of milliseconds 0..%u (24 h)", MS_MAX);
    return false;
}

static bool errno_item(parser *p, const char *key, const char *it, size_t len, void *ctx)
{
    carom_policy *pv = ctx;
    char name[48];
    if (len >= sizeof name) goto unknown;
    memcpy(name, it, len);
    name[len] = '\0';
    int v = carom_errno_value(name);
    bool eai = strncasecmp(name, "EAI_", 4) == 0;
    if (v == -1 && !(eai && strcasecmp(name, "EAI_BADFLAGS") == 0)) goto unknown;
    if (eai) {
        if (v != EAI_AGAIN) {
            report_n(p, p->lineno, key, it, len,
                     "%s cannot be retried (the only transient EAI_ code is EAI_AGAIN)", name);
            return false;
        }
        pv->retry_on_eai_again = true;
        return true;
    }
    if (v < 0 || v > 255) goto unknown;
    pv->retry_on[v / 64] |= 1ull << (v % 64);
    return true;
unknown:;
    char tmp[48];
    snprintf(tmp, sizeof tmp, "%.*s", (int)(len < 40 ? len : 40), it);
    const char *s = suggest_errno(tmp, strncasecmp(tmp, "EAI_", 4) == 0);
    if (s)
        report_n(p, p->lineno, key, it, len, "unknown errno name (did you mean \"%s\"?)", s);
    else
        report_n(p, p->lineno, key, it, len, "unknown errno name");
    return false;
}

/* What connect() itself can report for a network failure: a fast-failing circuit must
 * answer something the real call could have said. */
static const int connect_errnos[] = {ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH,
                                     ENETDOWN,     EHOSTDOWN, ECONNRESET,   ECONNABORTED,
                                     EAGAIN,       EACCES,    EPERM,        EADDRNOTAVAIL};

static bool get_open_errno(parser *p, const char *key, const char *v, int *out)
{
    int e = carom_errno_value(v);
    if (e == -1 || strncasecmp(v, "EAI_", 4) == 0) {
        if (strncasecmp(v, "EAI_", 4) == 0) {
            report(p, p->lineno, key, v, "expected an errno name, not an EAI_ code");
            return false;
        }
        const char *s = strlen(v) < 40 ? suggest_errno(v, false) : NULL;
        if (s)
            report(p, p->lineno, key, v, "unknown errno name (did you mean \"%s\"?)", s);
        else
            report(p, p->lineno, key, v, "unknown errno name");
        return false;
    }
    for (size_t i = 0; i < sizeof connect_errnos / sizeof connect_errnos[0]; i++)
        if (connect_errnos[i] == e) {
            *out = e;
            return true;
        }
    report(p, p->lineno, key, v,
           "%s is not a network failure connect() reports (use ECONNREFUSED, ETIMEDOUT, "
           "EHOSTUNREACH, ENETUNREACH, ENETDOWN, EHOSTDOWN, ECONNRESET, ECONNABORTED, EAGAIN, "
           "EACCES, EPERM or EADDRNOTAVAIL)",
           carom_errno_name(e));
    return false;
}

/* host:port with a port 1..65535: a name, an IPv4 address or [IPv6]. */
static bool parse_endpoint(const char *s, size_t len, carom_hostport *hp)
{
    const char *host = s, *port;
    size_t hl, pl;
    memset(hp, 0, sizeof *hp);
    if (len && s[0] == '[') {
        const char *rb = memchr(s, ']', len);
        if (!rb || (size_t)(rb + 1 - s) >= len || rb[1] != ':') return false;
        host = s + 1;
        hl = (size_t)(rb - s - 1);
        port = rb + 2;
        pl = len - (size_t)(port - s);
        carom__ip ip;
        if (!carom__ip_parse(host - 1, hl + 2, &ip)) return false;
    } else {
        const char *c = memchr(s, ':', len);
        if (!c || memchr(c + 1, ':', len - (size_t)(c + 1 - s))) return false;
        hl = (size_t)(c - s);
        port = c + 1;
        pl = len - hl - 1;
        carom__ip ip;
        size_t h2 = hl > 1 && host[hl - 1] == '.' ? hl - 1 : hl;
        if (!carom__ip_parse(host, hl, &ip) && !carom__host_valid(host, h2)) return false;
    }
    if (hl == 0 || hl >= CAROM_HOST_MAX || pl == 0 || pl > 5) return false;
    unsigned v = 0;
    for (size_t i = 0; i < pl; i++) {
        if (port[i] < '0' || port[i] > '9') return false;
        v = v * 10 + (unsigned)(port[i] - '0');
    }
    if (v < 1 || v > 65535) return false;
    memcpy(hp->host, host, hl);
    hp->port = (uint16_t)v;
    return true;
}

static bool pocket_item(parser *p, const char *key, const char *it, size_t len, void *ctx)
{
    carom_policy *pv = ctx;
    carom_hostport hp;
    if (!parse_endpoint(it, len, &hp)) {
        report_n(p, p->lineno, key, it, len,
                 "expected host:port (a name, an IPv4 address or [IPv6]) with a port 1..65535");
        return false;
    }
    if (pv->npockets == CAROM_POCKETS_MAX) {
        report_n(p, p->lineno, key, it, len, "at most %d fallback endpoints", CAROM_POCKETS_MAX);
        return false;
    }
    pv->pocket[pv->npockets++] = hp;
    return true;
}

static bool status_item(parser *p, const char *key, const char *it, size_t len, void *ctx)
{
    carom_policy *pv = ctx;
    unsigned st;
    if (!parse_status(it, len, &st)) {
        report_n(p, p->lineno, key, it, len, "expected an HTTP status 100..599");
        return false;
    }
    pv->http_retry_status[st / 64] |= 1ull << (st % 64);
    return true;
}

static const char *const method_names[] = {"GET",  "HEAD",  "PUT",   "DELETE", "OPTIONS",
                                           "POST", "PATCH", "TRACE", "CONNECT"};

static bool method_item(parser *p, const char *key, const char *it, size_t len, void *ctx)
{
    carom_policy *pv = ctx;
    for (unsigned i = 0; i < sizeof method_names / sizeof method_names[0]; i++)
        if (strlen(method_names[i]) == len && strncasecmp(method_names[i], it, len) == 0) {
            pv->http_retry_methods |= 1u << i;
            return true;
        }
    report_n(p, p->lineno, key, it, len,
             "unknown HTTP method (expected GET, HEAD, PUT, DELETE, OPTIONS, POST, PATCH, TRACE "
             "or CONNECT)");
    return false;
}

static bool get_budget(parser *p, const char *key, const char *v, uint16_t *out)
{
    size_t len = strlen(v);
    uint64_t m;
    unsigned f;
    if (len && v[len - 1] == '%') len--;
    if (parse_decimal(v, len, &m, &f, 6)) {
        uint64_t scale = pow10u(f);
        if ((m * 10) % scale == 0 && (m * 10) / scale <= 1000) {
            *out = (uint16_t)((m * 10) / scale);
            return true;
        }
    }
    report(p, p->lineno, key, v,
           "expected a share 0..100%% in steps of 0.1%% (such as 20%%, 20 or 12.5%%)");
    return false;
}

static bool get_url(parser *p, const char *key, const char *v, char *out)
{
    size_t len = strlen(v);
    const char *sep = strstr(v, "://");
    bool ok = sep && sep > v && isalpha((unsigned char)v[0]) && len < CAROM_PATH_MAX;
    for (const char *c = v; ok && c < sep; c++)
        if (!isalnum((unsigned char)*c) && *c != '+' && *c != '-' && *c != '.') ok = false;
    if (ok) {
        const char *a = sep + 3;
        size_t alen = strlen(a);
        if (alen && a[alen - 1] == '/') alen--;
        ok = alen > 0 && !memchr(a, '/', alen) && !memchr(a, '@', alen) && !memchr(a, '?', alen);
        if (ok) {
            carom_hostport hp;
            carom__ip ip;
            size_t hl = alen;
            if (a[0] == '[') {
                ok = parse_endpoint(a, alen, &hp) ||
                     (a[alen - 1] == ']' && carom__ip_parse(a, alen, &ip));
            } else if (memchr(a, ':', alen)) {
                ok = parse_endpoint(a, alen, &hp);
            } else {
                size_t h2 = hl > 1 && a[hl - 1] == '.' ? hl - 1 : hl;
                ok = carom__ip_parse(a, hl, &ip) ? ip.family == 4 : carom__host_valid(a, h2);
            }
        }
    }
    if (!ok) {
        report(p, p->lineno, key, v,
               "expected scheme://host[:port] (no path, user or query: the request keeps its "
               "own)");
        return false;
    }
    memcpy(out, v, len + 1);
    return true;
}

static bool get_response(parser *p, const char *key, const char *v, carom_policy *pv)
{
    size_t len = strlen(v);
    unsigned st;
    const char *sp = v;
    while (*sp && !isspace((unsigned char)*sp))
        sp++;
    const char *path = sp;
    while (*path && isspace((unsigned char)*path))
        path++;
    size_t plen = len - (size_t)(path - v);
    if (parse_status(v, (size_t)(sp - v), &st) && (plen == 0 || path[0] == '/') &&
        plen < CAROM_PATH_MAX) {
        pv->pocket_response_status = (uint16_t)st;
        memcpy(pv->pocket_response_body, path, plen);
        pv->pocket_response_body[plen] = '\0';
        return true;
    }
    report(p, p->lineno, key, v,
           "expected \"STATUS /absolute/path/to/body\" (or just STATUS) with STATUS 100..599");
    return false;
}

static bool get_http_chaos(parser *p, const char *key, const char *v, carom_chaos *c)
{
    const char *at = strchr(v, '@');
    unsigned st;
    double pr;
    if (at && parse_status(v, (size_t)(at - v), &st) && parse_prob(at + 1, strlen(at + 1), &pr)) {
        c->http_status = (uint16_t)st;
        c->http_status_p = pr;
        return true;
    }
    report(p, p->lineno, key, v,
           "expected STATUS@PROBABILITY (such as 503@0.3) with STATUS 100..599 and "
           "PROBABILITY 0..1");
    return false;
}

static bool get_prob(parser *p, const char *key, const char *v, double *out)
{
    if (parse_prob(v, strlen(v), out)) return true;
    report(p, p->lineno, key, v, "expected a probability 0..1 (such as 0.2), at most 9 decimals");
    return false;
}

static bool get_patterns(parser *p, section *s, const char *key, const char *v);
static bool fleet_value(parser *p, int k, const char *key, const char *v);

/* Parses one value into s->v (or the table-wide fields). False: already reported. */
static bool parse_value(parser *p, section *s, int k, const char *v)
{
    carom_policy *pv = &s->v;
    const char *key = carom__key_names[k];
    uint64_t u;
    bool b;
    switch (k) {
    case CAROM__K_RETRIES:
        if (!get_uint(p, key, v, 0, 100, &u)) return false;
        pv->retries = (uint32_t)u;
        return true;
    case CAROM__K_BASE_DELAY_MS:
        return get_ms(p, key, v, &pv->bounce.base_ms);
    case CAROM__K_MAX_DELAY_MS:
        return get_ms(p, key, v, &pv->bounce.cap_ms);
    case CAROM__K_JITTER: {
        static const char *const names[] = {"decorrelated", "full", "equal", "none"};
        for (int i = 0; i < 4; i++)
            if (strcasecmp(v, names[i]) == 0) {
                pv->bounce.jitter = (carom_jitter)i;
                return true;
            }
        report(p, p->lineno, key, v, "expected decorrelated, full, equal or none");
        return false;
    }
    case CAROM__K_RETRY_ON:
        memset(pv->retry_on, 0, sizeof pv->retry_on);
        pv->retry_on_eai_again = false;
        return each_item(p, key, v, errno_item, pv);
    case CAROM__K_CONNECT_TIMEOUT_MS:
        return get_ms(p, key, v, &pv->connect_timeout_ms);
    case CAROM__K_RETRY_NONBLOCKING:
    case CAROM__K_CUSHION:
    case CAROM__K_ENABLED:
        if (!parse_onoff(v, &b)) {
            report(p, p->lineno, key, v, "expected on or off");
            return false;
        }
        if (k == CAROM__K_RETRY_NONBLOCKING) pv->retry_nonblocking = b;
        if (k == CAROM__K_CUSHION) pv->cushion_on = b;
        if (k == CAROM__K_ENABLED) {
            p->enabled = b;
            p->enabled_set = true;
        }
        return true;
    case CAROM__K_IO_TIMEOUT_MS:
        return get_ms(p, key, v, &pv->io_timeout_ms);
    case CAROM__K_DEADLINE_MS:
        return get_ms(p, key, v, &pv->deadline_ms);
    case CAROM__K_RETRY_BUDGET:
        return get_budget(p, key, v, &pv->budget.permille);
    case CAROM__K_RETRY_BUDGET_MIN_PER_S:
        if (!get_uint(p, key, v, 0, 100000, &u)) return false;
        pv->budget.min_per_s = (uint32_t)u;
        return true;
    case CAROM__K_CUSHION_FAILURES:
        if (!get_uint(p, key, v, 1, 64, &u)) return false;
        pv->cushion.failures = (uint8_t)u;
        return true;
    case CAROM__K_CUSHION_WINDOW:
        if (!get_uint(p, key, v, 1, 64, &u)) return false;
        pv->cushion.window = (uint8_t)u;
        return true;
    case CAROM__K_CUSHION_HALF_OPEN_MS:
        return get_ms(p, key, v, &pv->cushion.half_open_ms);
    case CAROM__K_CUSHION_FIRST_BREAK_MS:
        if (!get_uint(p, key, v, 1, MS_MAX, &u)) return false;
        pv->cushion.first_break_ms = (uint32_t)u;
        return true;
    case CAROM__K_CUSHION_PROBES:
        if (!get_uint(p, key, v, 1, 255, &u)) return false;
        pv->cushion.probes = (uint8_t)u;
        return true;
    case CAROM__K_OPEN_ERRNO:
        return get_open_errno(p, key, v, &pv->open_errno);
    case CAROM__K_POCKET:
        pv->npockets = 0;
        return each_item(p, key, v, pocket_item, pv);
    case CAROM__K_DNS_STALE_MS:
        return get_ms(p, key, v, &pv->dns_stale_ms);
    case CAROM__K_HTTP_RETRY_STATUS:
        memset(pv->http_retry_status, 0, sizeof pv->http_retry_status);
        return each_item(p, key, v, status_item, pv);
    case CAROM__K_HTTP_RETRY_METHODS:
        pv->http_retry_methods = 0;
        return each_item(p, key, v, method_item, pv);
    case CAROM__K_RETRY_AFTER_MAX_MS:
        return get_ms(p, key, v, &pv->retry_after_max_ms);
    case CAROM__K_POCKET_URL:
        if (!*v) return pv->pocket_url[0] = '\0', true;
        return get_url(p, key, v, pv->pocket_url);
    case CAROM__K_POCKET_RESPONSE:
        if (!*v) {
            pv->pocket_response_status = 0;
            pv->pocket_response_body[0] = '\0';
            return true;
        }
        return get_response(p, key, v, pv);
    case CAROM__K_RATE_LIMIT:
        if (!get_uint(p, key, v, 0, CAROM_BUCKET_RATE_MAX, &u)) return false;
        pv->rate_limit = (uint32_t)u;
        return true;
    case CAROM__K_RATE_BURST:
        if (!get_uint(p, key, v, 0, CAROM_BUCKET_BURST_MAX, &u)) return false;
        pv->rate_burst = (uint32_t)u;
        return true;
    case CAROM__K_MAX_CONNECTIONS:
        if (!get_uint(p, key, v, 0, CAROM_LEASES_MAX, &u)) return false;
        pv->max_connections = (uint32_t)u;
        return true;
    case CAROM__K_LIMIT_WAIT_MS:
        return get_ms(p, key, v, &pv->limit_wait_ms);
    case CAROM__K_CHAOS_CONNECT_REFUSE:
        return get_prob(p, key, v, &pv->chaos.connect_refuse);
    case CAROM__K_CHAOS_CONNECT_TIMEOUT:
        return get_prob(p, key, v, &pv->chaos.connect_timeout);
    case CAROM__K_CHAOS_DNS_FAIL:
        return get_prob(p, key, v, &pv->chaos.dns_fail);
    case CAROM__K_CHAOS_RESET:
        return get_prob(p, key, v, &pv->chaos.reset);
    case CAROM__K_CHAOS_LATENCY:
        return get_prob(p, key, v, &pv->chaos.latency);
    case CAROM__K_CHAOS_LATENCY_MS:
        return get_ms(p, key, v, &pv->chaos.latency_ms);
    case CAROM__K_CHAOS_SHORT_WRITE:
        return get_prob(p, key, v, &pv->chaos.short_write);
    case CAROM__K_CHAOS_HTTP_STATUS:
        if (!*v) {
            pv->chaos.http_status = 0;
            pv->chaos.http_status_p = 0;
            return true;
        }
        return get_http_chaos(p, key, v, &pv->chaos);
    case CAROM__K_CHAOS_CONNECT_LATENCY:
        return get_prob(p, key, v, &pv->chaos.connect_latency);
    case CAROM__K_CHAOS_CONNECT_LATENCY_MS:
        return get_ms(p, key, v, &pv->chaos.connect_latency_ms);
    case CAROM__K_CHAOS_DNS_FAIL_ERROR:
        if (strcasecmp(v, "EAI_AGAIN") == 0) return pv->chaos.dns_fail_noname = false, true;
        if (strcasecmp(v, "EAI_NONAME") == 0) return pv->chaos.dns_fail_noname = true, true;
        report(p, p->lineno, key, v, "expected EAI_AGAIN or EAI_NONAME");
        return false;
    case CAROM__K_CHAOS_BLACKHOLE:
        return get_prob(p, key, v, &pv->chaos.blackhole);
    case CAROM__K_CHAOS_BANDWIDTH_KBPS:
        if (!get_uint(p, key, v, 0, CHAOS_KBPS_MAX, &u)) return false;
        pv->chaos.bandwidth_kbps = (uint32_t)u;
        return true;
    case CAROM__K_CHAOS_LIMIT_DATA:
        return get_uint(p, key, v, 0, CHAOS_BYTES_MAX, &pv->chaos.limit_data);
    case CAROM__K_CHAOS_LIMIT_DATA_MODE:
        if (strcasecmp(v, "eof") == 0) return pv->chaos.limit_data_reset = false, true;
        if (strcasecmp(v, "reset") == 0) return pv->chaos.limit_data_reset = true, true;
        report(p, p->lineno, key, v, "expected eof or reset");
        return false;
    case CAROM__K_CHAOS_SLICE:
        if (!get_uint(p, key, v, 0, CHAOS_SLICE_MAX, &u)) return false;
        pv->chaos.slice = (uint32_t)u;
        return true;
    case CAROM__K_CHAOS_SLOW_CLOSE_MS:
        return get_ms(p, key, v, &pv->chaos.slow_close_ms);
    case CAROM__K_CHAOS_DIRECTION:
        if (strcasecmp(v, "both") == 0) return pv->chaos.direction = CAROM_CHAOS_BOTH, true;
        if (strcasecmp(v, "up") == 0) return pv->chaos.direction = CAROM_CHAOS_UP, true;
        if (strcasecmp(v, "down") == 0) return pv->chaos.direction = CAROM_CHAOS_DOWN, true;
        report(p, p->lineno, key, v,
               "expected up (what the program sends), down (what it receives) or both");
        return false;
    case CAROM__K_CHAOS_FIRST:
        if (!get_uint(p, key, v, 0, CHAOS_FIRST_MAX, &u)) return false;
        pv->chaos.first = (uint32_t)u;
        return true;
    case CAROM__K_STATE:
        if (strcasecmp(v, "shared") == 0) return p->state = CAROM_STATE_SHARED, true;
        if (strcasecmp(v, "process") == 0) return p->state = CAROM_STATE_PROCESS, true;
        report(p, p->lineno, key, v, "expected shared or process");
        return false;
    case CAROM__K_MATCH:
        return get_patterns(p, s, key, v);
    case CAROM__K_SOCKET:
        if (v[0] == '/' && strlen(v) < sizeof p->socket) {
            memcpy(p->socket, v, strlen(v) + 1);
            return true;
        }
        report(p, p->lineno, key, v, "expected an absolute path shorter than %zu bytes",
               sizeof p->socket);
        return false;
    case CAROM__K_SEED:
        if (parse_u64(v, &p->seed)) return true;
        report(p, p->lineno, key, v, "expected a whole number 0..%llu (0: random)",
               (unsigned long long)UINT64_MAX);
        return false;
    case CAROM__K_REDIS:
    case CAROM__K_PASSWORD_FILE:
    case CAROM__K_HOST:
    case CAROM__K_QUORUM:
    case CAROM__K_PREFIX:
    case CAROM__K_REPORT_TTL_MS:
        return fleet_value(p, k, key, v);
    }
    return false;
}

/* ---- [fleet]: the daemon's settings (docs/fleet.md) ----------------------------------- */

/* The defaults of every [fleet] key but redis: a file without the section has no fleet. */
static void fleet_defaults(carom_fleet_cfg *f)
{
    memset(f, 0, sizeof *f);
    f->quorum = 50;
    f->quorum_percent = true;
    memcpy(f->prefix, "carom", sizeof "carom");
    f->report_ttl_ms = 10000;
}

/* Host ids and prefixes become parts of Redis key names: a small safe alphabet keeps them
 * from ever spelling a pattern, a separator or a control byte. */
static bool fleet_word(const char *v, size_t max)
{
    size_t n = strlen(v);
    if (n == 0 || n >= max) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static bool fleet_redis(const char *v)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v || strlen(v) >= CAROM_HOST_MAX + 8) return false;
    uint64_t port;
    if (!parse_u64(colon + 1, &port) || port == 0 || port > 65535) return false;
    size_t hl = (size_t)(colon - v);
    carom__ip ip;
    if (v[0] == '[') return hl > 2 && v[hl - 1] == ']' && carom__ip_parse(v, hl, &ip) && ip.family == 6;
    return carom__ip_parse(v, hl, &ip) || carom__host_valid(v, hl);
}

static bool fleet_value(parser *p, int k, const char *key, const char *v)
{
    carom_fleet_cfg *f = &p->fleet;
    uint64_t x;
    switch (k) {
    case CAROM__K_REDIS:
        if (fleet_redis(v)) {
            snprintf(f->redis, sizeof f->redis, "%s", v);
            return true;
        }
        report(p, p->lineno, key, v, "expected HOST:PORT (a host name or address, port 1..65535)");
        return false;
    case CAROM__K_PASSWORD_FILE:
        if (v[0] == '/' && strlen(v) < sizeof f->password_file) {
            snprintf(f->password_file, sizeof f->password_file, "%s", v);
            return true;
        }
        report(p, p->lineno, key, v,
               "expected an absolute path shorter than %zu bytes (the password itself never "
               "goes in carom.ini)",
               sizeof f->password_file);
        return false;
    case CAROM__K_HOST:
        if (fleet_word(v, sizeof f->host)) {
            snprintf(f->host, sizeof f->host, "%s", v);
            return true;
        }
        report(p, p->lineno, key, v, "expected 1..%zu of A-Z a-z 0-9 . _ -", sizeof f->host - 1);
        return false;
    case CAROM__K_QUORUM: {
        size_t n = strlen(v);
        bool pct = n > 1 && v[n - 1] == '%';
        char num[24];
        if (n - pct < sizeof num) {
            memcpy(num, v, n - pct);
            num[n - pct] = 0;
            if (parse_u64(num, &x) && x >= 1 && x <= (pct ? 100u : 10000u)) {
                f->quorum = (uint32_t)x;
                f->quorum_percent = pct;
                return true;
            }
        }
        report(p, p->lineno, key, v,
               "expected a number of hosts 1..10000, or a percentage 1%%..100%% of the hosts "
               "seen");
        return false;
    }
    case CAROM__K_PREFIX:
        if (fleet_word(v, sizeof f->prefix)) {
            snprintf(f->prefix, sizeof f->prefix, "%s", v);
            return true;
        }
        report(p, p->lineno, key, v, "expected 1..%zu of A-Z a-z 0-9 . _ -", sizeof f->prefix - 1);
        return false;
    case CAROM__K_REPORT_TTL_MS:
        if (parse_u64(v, &x) && x >= 1000 && x <= 3600000) {
            f->report_ttl_ms = (uint32_t)x;
            return true;
        }
        report(p, p->lineno, key, v, "expected milliseconds 1000..3600000 (1 s to 1 h)");
        return false;
    }
    return false;
}

/* A [fleet] section is a request to share circuits: without redis it can do nothing. */
static void fleet_finish(parser *p)
{
    if (p->idx[SEC_FLEET] < 0) {
        fleet_defaults(&p->fleet);
        return;
    }
    const section *s = &p->secs[p->idx[SEC_FLEET]];
    if (!(s->set & (1ull << CAROM__K_REDIS)))
        report(p, s->line, "[fleet]", s->name, "needs redis = HOST:PORT");
}

static bool pattern_item(parser *p, const char *key, const char *it, size_t len, void *ctx)
{
    section *s = ctx;
    carom__pattern pat;
    char why[160];
    if (carom__pattern_parse(it, len, &pat, why, sizeof why) != 0) {
        report_n(p, p->lineno, key, it, len, "%s", why);
        return false;
    }
    carom__pattern *np = realloc(s->pats, (s->npats + 1) * sizeof *np);
    if (np) s->pats = np;
    unsigned *nl = np ? realloc(s->patline, (s->npats + 1) * sizeof *nl) : NULL;
    if (!nl) {
        p->oom = true;
        return false;
    }
    s->patline = nl;
    s->patline[s->npats] = p->lineno;
    s->pats[s->npats++] = pat;
    return true;
}

static bool get_patterns(parser *p, section *s, const char *key, const char *v)
{
    if (!*v) {
        report(p, p->lineno, key, v,
               "empty (list patterns, or drop the line so the section name is the pattern)");
        return false;
    }
    return each_item(p, key, v, pattern_item, s);
}

/* ---- sections and keys ------------------------------------------------------------------ */

static bool key_allowed(int k, int kind)
{
    if (k < CAROM__K_SETTINGS_END) return kind == SEC_DEFAULTS || kind == SEC_POLICY;
    switch (k) {
    case CAROM__K_STATE:
        return kind == SEC_DEFAULTS;
    case CAROM__K_MATCH:
        return kind == SEC_POLICY;
    case CAROM__K_SOCKET:
        return kind == SEC_SCOREBOARD;
    case CAROM__K_SEED:
    case CAROM__K_ENABLED:
        return kind == SEC_CHAOS;
    default:
        return kind == SEC_FLEET;
    }
}

static const char *const kind_names[] = {"[defaults]", "a policy section", "[scoreboard]",
                                         "[chaos]", "[fleet]"};

static void unknown_key(parser *p, const section *s, const char *name, const char *value)
{
    int k = -1;
    for (int i = 0; i < CAROM__K_COUNT; i++)
        if (strcmp(carom__key_names[i], name) == 0) k = i;
    if (k >= 0) {
        const char *why =
            k < CAROM__K_SETTINGS_END ? "policy settings go in [defaults] or a policy section"
            : k == CAROM__K_STATE     ? "it applies to the whole table, so it goes in [defaults]"
            : k == CAROM__K_MATCH && s->kind == SEC_DEFAULTS
                ? "[defaults] governs every endpoint no policy matches"
            : k == CAROM__K_MATCH  ? "it goes in a policy section"
            : k == CAROM__K_SOCKET ? "it goes in [scoreboard]"
            : k >= CAROM__K_REDIS  ? "it goes in [fleet]"
                                   : "it goes in [chaos]";
        report(p, p->lineno, name, value, "not allowed in %s: %s", kind_names[s->kind], why);
        return;
    }
    if (s->kind == SEC_CHAOS || s->kind == SEC_SCOREBOARD || s->kind == SEC_FLEET) {
        char alt[64];
        snprintf(alt, sizeof alt, "chaos.%s", name);
        for (int i = 0; i < CAROM__K_SETTINGS_END; i++)
            if (strcmp(carom__key_names[i], alt) == 0) {
                report(p, p->lineno, name, value,
                       "unknown key in %s (per-policy chaos keys go in [defaults] or a policy "
                       "section, as \"%s\")",
                       kind_names[s->kind], alt);
                return;
            }
    }
    const char *best = NULL;
    unsigned bd = 99;
    for (int i = 0; i < CAROM__K_COUNT; i++) {
        if (!key_allowed(i, s->kind)) continue;
        unsigned d = edit_distance(name, carom__key_names[i]);
        if (d < bd) bd = d, best = carom__key_names[i];
    }
    if (best && close_enough(name, bd))
        report(p, p->lineno, name, value, "unknown key (did you mean \"%s\"?)", best);
    else
        report(p, p->lineno, name, value, "unknown key in %s", kind_names[s->kind]);
}

static int handler(void *user, const char *section_unused, const char *name, const char *value)
{
    parser *p = user;
    (void)section_unused; /* inih cuts names at 50 bytes and splits "[[::1]:443]" at the first
                             "]": the reader tracks sections itself */
    if (p->cur < 0) return 1;
    section *s = &p->secs[p->cur];
    int k = -1;
    for (int i = 0; i < CAROM__K_COUNT; i++)
        if (strcmp(carom__key_names[i], name) == 0) {
            k = i; /* names are unique: the first match is the only one */
            break;
        }
    if (k < 0 || !key_allowed(k, s->kind)) {
        unknown_key(p, s, name, value);
        return 1;
    }
    /* match alone may repeat, and adds up: one line holds at most 197 characters. */
    if ((s->set & (1ull << k)) && k != CAROM__K_MATCH) {
        report(p, p->lineno, name, value, "set twice in [%s] (first at line %u)", s->name,
               s->kline[k]);
        return 1;
    }
    /* A value in double quotes means the text inside: paths and responses read naturally
     * that way, and no value of ours ever starts and ends with a quote. */
    char buf[512];
    size_t vl = strlen(value);
    if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"' && vl - 2 < sizeof buf) {
        memcpy(buf, value + 1, vl - 2);
        buf[vl - 2] = '\0';
        value = buf;
    }
    if (!(s->set & (1ull << k))) s->kline[k] = p->lineno;
    s->set |= 1ull << k;
    if (!parse_value(p, s, k, value)) s->bad |= 1ull << k;
    return 1;
}

static int kind_of(const char *name, size_t len)
{
    if (len == 8 && strncasecmp(name, "defaults", 8) == 0) return SEC_DEFAULTS;
    if (len == 10 && strncasecmp(name, "scoreboard", 10) == 0) return SEC_SCOREBOARD;
    if (len == 5 && strncasecmp(name, "chaos", 5) == 0) return SEC_CHAOS;
    if (len == 5 && strncasecmp(name, "fleet", 5) == 0) return SEC_FLEET;
    return SEC_POLICY;
}

static void new_section(parser *p, const char *name, size_t len, int kind, bool discard)
{
    if (p->nsecs == MAX_SECTIONS) {
        if (!p->too_many)
            report_n(p, p->lineno, "section", name, len, "more than %d sections", MAX_SECTIONS);
        p->too_many = true;
        p->cur = -2; /* the rest of the file is skipped: this problem is already reported */
        return;
    }
    if (p->nsecs == p->capsecs) {
        size_t cap = p->capsecs ? p->capsecs * 2 : 8;
        section *ns = realloc(p->secs, cap * sizeof *ns);
        if (!ns) {
            p->oom = true;
            p->cur = -2;
            return;
        }
        p->secs = ns;
        p->capsecs = cap;
    }
    section *s = &p->secs[p->nsecs];
    memset(s, 0, sizeof *s);
    s->name = malloc(len + 1);
    if (!s->name) {
        p->oom = true;
        p->cur = -2;
        return;
    }
    memcpy(s->name, name, len);
    s->name[len] = '\0';
    s->kind = kind;
    s->discard = discard;
    s->line = p->lineno;
    s->v = carom__builtin_policy;
    p->cur = (int)p->nsecs++;
    if (kind != SEC_POLICY && !discard) {
        if (p->idx[kind] >= 0) {
            char key[16];
            snprintf(key, sizeof key, "[%s]",
                     kind == SEC_DEFAULTS ? "defaults"
                     : kind == SEC_CHAOS  ? "chaos"
                     : kind == SEC_FLEET  ? "fleet"
                                          : "scoreboard");
            report_n(p, p->lineno, key, name, len, "section repeated (first at line %u)",
                     p->secs[p->idx[kind]].line);
            s->discard = true;
        } else {
            p->idx[kind] = p->cur;
        }
    }
}

static void section_header(parser *p, const char *ln, size_t len)
{
    int depth = 0;
    size_t close = 0;
    for (size_t i = 0; i < len && !close; i++) {
        if (ln[i] == '[') depth++;
        if (ln[i] == ']' && --depth == 0) close = i;
    }
    if (!close) {
        /* Keys below still get checked, against the section this most likely meant. */
        const char *n = ln + 1;
        size_t nl = len - 1;
        for (size_t i = 0; i < nl; i++)
            if (n[i] == ';' || n[i] == '#') nl = i;
        trim(&n, &nl);
        report_n(p, p->lineno, "section", ln, len, "header not closed (missing \"]\")");
        new_section(p, n, nl, kind_of(n, nl), true);
        return;
    }
    const char *name = ln + 1, *rest = ln + close + 1;
    size_t nl = close - 1, rl = len - close - 1;
    trim(&name, &nl);
    trim(&rest, &rl);
    if (rl && rest[0] != ';' && rest[0] != '#') {
        report_n(p, p->lineno, "section", ln, len, "unexpected text after \"]\"");
        new_section(p, name, nl, kind_of(name, nl), true);
        return;
    }
    if (nl == 0) {
        report_n(p, p->lineno, "section", ln, len, "empty section name");
        new_section(p, "", 0, SEC_POLICY, true);
        return;
    }
    int kind = kind_of(name, nl);
    bool bad = false;
    char key[CAROM_NAME_MAX + 8];
    snprintf(key, sizeof key, "[%.*s]", (int)(nl < CAROM_NAME_MAX ? nl : CAROM_NAME_MAX - 1), name);
    if (nl >= CAROM_NAME_MAX) {
        report_n(p, p->lineno, "section", name, nl,
                 "name longer than %d characters (give the policy a short name and list "
                 "patterns with \"match =\")",
                 CAROM_NAME_MAX - 1);
        bad = true;
    } else if (kind == SEC_POLICY) {
        for (size_t i = 0; i < nl; i++) {
            unsigned char c = (unsigned char)name[i];
            if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\') {
                report_n(p, p->lineno, key, name, nl,
                         "policy names are printable ASCII without spaces, quotes or "
                         "backslashes");
                bad = true;
                break;
            }
        }
    }
    new_section(p, name, nl, kind, bad);
}

/* ---- the reader inih pulls lines from ------------------------------------------------ */

int carom__line_max(void)
{
    return ini_max_line - 3;
}

/* Returns the offset of the first byte that is not printable UTF-8 text (tabs allowed),
 * or len. */
static size_t first_bad_byte(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t') || c == 0x7f) return i;
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf)
            n = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3, cp = c & 0x07;
        else
            return i;
        if (i + n >= len) return i;
        for (size_t j = 1; j <= n; j++) {
            if (i + j >= len || (s[i + j] & 0xc0) != 0x80) return i;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
            return i;
        i += n + 1;
    }
    return len;
}

static void classify(parser *p, const char *ln, size_t len, char *out, int num)
{
    if (len && ln[len - 1] == '\r') len--;
    if (p->lineno == 1 && len >= 3 && memcmp(ln, "\xef\xbb\xbf", 3) == 0) ln += 3, len -= 3;
    size_t bad = first_bad_byte((const unsigned char *)ln, len);
    if (bad < len) {
        char what[64];
        unsigned char c = (unsigned char)ln[bad];
        if (c == 0)
            snprintf(what, sizeof what, "a NUL byte");
        else if (c < 0x20 || c == 0x7f)
            snprintf(what, sizeof what, "control character 0x%02x", c);
        else if (c == 0xc2 && bad + 1 < len && (unsigned char)ln[bad + 1] >= 0x80 &&
                 (unsigned char)ln[bad + 1] <= 0x9f)
            snprintf(what, sizeof what, "control character U+%04X", (unsigned char)ln[bad + 1]);
        else
            snprintf(what, sizeof what, "invalid UTF-8");
        p->binary = true;
        report_n(p, p->lineno, "line", ln, len, "binary data (%s at column %zu)", what, bad + 1);
        p->binary = false;
        return;
    }
    /* inih's own limit: it needs room for "\r\n\0" and would silently cut a longer line. */
    if (num < 4 || len > (size_t)num - 3) {
        report_n(p, p->lineno, "line", ln, len, "too long (%zu characters, at most %d)", len,
                 num - 3);
        return;
    }
    /* Leading blanks go: inih would read an indented line as a continuation of the previous
     * value, which would silently turn "  retries = 5" into part of another key. */
    while (len && (*ln == ' ' || *ln == '\t'))
        ln++, len--;
    if (len == 0 || *ln == ';' || *ln == '#') return;
    if (*ln == '[') {
        section_header(p, ln, len);
        return;
    }
    /* The same rule inih applies: the first '=' or ':', unless a " ;" comment comes first. */
    size_t i;
    bool was_space = false;
    for (i = 0; i < len; i++) {
        if (ln[i] == '=' || ln[i] == ':') break;
        if (was_space && ln[i] == ';') break;
        was_space = isspace((unsigned char)ln[i]);
    }
    if (i == len || ln[i] == ';') {
        report_n(p, p->lineno, "line", ln, len, "expected \"key = value\" or \"[section]\"");
        return;
    }
    const char *key = ln, *val = ln + i + 1;
    size_t kl = i, vl = len - i - 1;
    trim(&key, &kl);
    trim(&val, &vl);
    for (size_t j = 0; j + 1 < vl; j++)
        if (isspace((unsigned char)val[j]) && val[j + 1] == ';') vl = j;
    trim(&val, &vl);
    if (kl == 0) {
        report_n(p, p->lineno, "line", ln, len, "missing key before \"%c\"", ln[i]);
        return;
    }
    if (p->cur == -2) return;
    if (p->cur < 0) {
        char k[64];
        snprintf(k, sizeof k, "%.*s", (int)(kl < 60 ? kl : 60), key);
        report_n(p, p->lineno, k, val, vl,
                 "outside any section (put it under [defaults] or a policy section)");
        return;
    }
    memcpy(out, ln, len);
    out[len] = '\0';
}

static char *reader(char *str, int num, void *stream)
{
    parser *p = stream;
    if (p->pos >= p->len || num < 1) return NULL;
    const char *ln = p->text + p->pos;
    const char *nl = memchr(ln, '\n', p->len - p->pos);
    size_t len = nl ? (size_t)(nl - ln) : p->len - p->pos;
    p->pos += len + (nl ? 1 : 0);
    p->lineno++;
    /* Lines that are comments, headers or problems reach inih as empty lines, so its line
     * count stays ours and it never sees a line it would reject. */
    str[0] = '\0';
    classify(p, ln, len, str, num);
    return str;
}

/* ---- building the table -------------------------------------------------------------- */

static void overlay(carom_policy *dst, const carom_policy *src, uint64_t set)
{
#define TAKE(k, field)                                                                             \
    if (set & (1ull << (k))) memcpy(&dst->field, &src->field, sizeof dst->field)
    TAKE(CAROM__K_RETRIES, retries);
    TAKE(CAROM__K_BASE_DELAY_MS, bounce.base_ms);
    TAKE(CAROM__K_MAX_DELAY_MS, bounce.cap_ms);
    TAKE(CAROM__K_JITTER, bounce.jitter);
    TAKE(CAROM__K_RETRY_ON, retry_on);
    TAKE(CAROM__K_RETRY_ON, retry_on_eai_again);
    TAKE(CAROM__K_CONNECT_TIMEOUT_MS, connect_timeout_ms);
    TAKE(CAROM__K_RETRY_NONBLOCKING, retry_nonblocking);
    TAKE(CAROM__K_IO_TIMEOUT_MS, io_timeout_ms);
    TAKE(CAROM__K_DEADLINE_MS, deadline_ms);
    TAKE(CAROM__K_RETRY_BUDGET, budget.permille);
    TAKE(CAROM__K_RETRY_BUDGET_MIN_PER_S, budget.min_per_s);
    TAKE(CAROM__K_CUSHION, cushion_on);
    TAKE(CAROM__K_CUSHION_FAILURES, cushion.failures);
    TAKE(CAROM__K_CUSHION_WINDOW, cushion.window);
    TAKE(CAROM__K_CUSHION_HALF_OPEN_MS, cushion.half_open_ms);
    TAKE(CAROM__K_CUSHION_FIRST_BREAK_MS, cushion.first_break_ms);
    TAKE(CAROM__K_CUSHION_PROBES, cushion.probes);
    TAKE(CAROM__K_OPEN_ERRNO, open_errno);
    TAKE(CAROM__K_POCKET, npockets);
    TAKE(CAROM__K_POCKET, pocket);
    TAKE(CAROM__K_DNS_STALE_MS, dns_stale_ms);
    TAKE(CAROM__K_HTTP_RETRY_STATUS, http_retry_status);
    TAKE(CAROM__K_HTTP_RETRY_METHODS, http_retry_methods);
    TAKE(CAROM__K_RETRY_AFTER_MAX_MS, retry_after_max_ms);
    TAKE(CAROM__K_POCKET_URL, pocket_url);
    TAKE(CAROM__K_POCKET_RESPONSE, pocket_response_status);
    TAKE(CAROM__K_POCKET_RESPONSE, pocket_response_body);
    TAKE(CAROM__K_RATE_LIMIT, rate_limit);
    TAKE(CAROM__K_RATE_BURST, rate_burst);
    TAKE(CAROM__K_MAX_CONNECTIONS, max_connections);
    TAKE(CAROM__K_LIMIT_WAIT_MS, limit_wait_ms);
    TAKE(CAROM__K_CHAOS_CONNECT_REFUSE, chaos.connect_refuse);
    TAKE(CAROM__K_CHAOS_CONNECT_TIMEOUT, chaos.connect_timeout);
    TAKE(CAROM__K_CHAOS_DNS_FAIL, chaos.dns_fail);
    TAKE(CAROM__K_CHAOS_RESET, chaos.reset);
    TAKE(CAROM__K_CHAOS_LATENCY, chaos.latency);
    TAKE(CAROM__K_CHAOS_LATENCY_MS, chaos.latency_ms);
    TAKE(CAROM__K_CHAOS_SHORT_WRITE, chaos.short_write);
    TAKE(CAROM__K_CHAOS_HTTP_STATUS, chaos.http_status);
    TAKE(CAROM__K_CHAOS_HTTP_STATUS, chaos.http_status_p);
    TAKE(CAROM__K_CHAOS_CONNECT_LATENCY, chaos.connect_latency);
    TAKE(CAROM__K_CHAOS_CONNECT_LATENCY_MS, chaos.connect_latency_ms);
    TAKE(CAROM__K_CHAOS_DNS_FAIL_ERROR, chaos.dns_fail_noname);
    TAKE(CAROM__K_CHAOS_BLACKHOLE, chaos.blackhole);
    TAKE(CAROM__K_CHAOS_BANDWIDTH_KBPS, chaos.bandwidth_kbps);
    TAKE(CAROM__K_CHAOS_LIMIT_DATA, chaos.limit_data);
    TAKE(CAROM__K_CHAOS_LIMIT_DATA_MODE, chaos.limit_data_reset);
    TAKE(CAROM__K_CHAOS_SLICE, chaos.slice);
    TAKE(CAROM__K_CHAOS_SLOW_CLOSE_MS, chaos.slow_close_ms);
    TAKE(CAROM__K_CHAOS_DIRECTION, chaos.direction);
    TAKE(CAROM__K_CHAOS_FIRST, chaos.first);
#undef TAKE
}

/* Checks between keys, on the effective values (inheritance applied), reported at the line
 * of whichever of the two keys this section sets later. A conflict wholly inherited from
 * [defaults] was reported there and is not repeated for every policy. */
static void pair_check(parser *p, const section *s, int ka, int kb, bool conflict, unsigned va,
                       unsigned vb, const char *why_a, const char *why_b)
{
    uint64_t ma = 1ull << ka, mb = 1ull << kb;
    if (!conflict || !(s->set & (ma | mb)) || (s->bad & (ma | mb))) return;
    bool b_later = (s->set & mb) && (!(s->set & ma) || s->kline[kb] > s->kline[ka]);
    char v[24];
    if (b_later) {
        snprintf(v, sizeof v, "%u", vb);
        report(p, s->kline[kb], carom__key_names[kb], v, why_b, carom__key_names[ka], va);
    } else {
        snprintf(v, sizeof v, "%u", va);
        report(p, s->kline[ka], carom__key_names[ka], v, why_a, carom__key_names[kb], vb);
    }
}

/* Latency needs both halves (chaos.latency with chaos.latency_ms, chaos.connect_latency
 * with chaos.connect_latency_ms). Setting one of them to 0 here is how a policy turns
 * inherited latency off, so only a non-zero half set here can be the mistake. */
static void latency_check(parser *p, const section *s, int kp, int km, double prob, uint32_t ms)
{
    uint64_t mp = 1ull << kp, mm = 1ull << km;
    const char *np = carom__key_names[kp], *nm = carom__key_names[km];
    if (s->bad & (mp | mm)) return;
    char v[32];
    if ((s->set & mm) && ms > 0 && prob == 0 && (!(s->set & mp) || s->kline[km] > s->kline[kp])) {
        snprintf(v, sizeof v, "%u", ms);
        report(p, s->kline[km], nm, v,
               "has no effect while %s is 0 (set the share of calls to delay, such as %s = 1)",
               np, np);
    } else if ((s->set & mp) && prob > 0 && ms == 0) {
        snprintf(v, sizeof v, "%.15g", prob);
        report(p, s->kline[kp], np, v, "has no effect while %s is 0 (set the delay too)", nm);
    } else if ((s->set & mm) && (s->set & mp) && ms > 0 && prob == 0) {
        snprintf(v, sizeof v, "%.15g", prob);
        report(p, s->kline[kp], np, v, "is 0, so %s (%u) has no effect", nm, ms);
    }
}

static void cross_checks(parser *p, const section *s, const carom_policy *e)
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
    uint64_t mr = 1ull << CAROM__K_RATE_LIMIT, mb = 1ull << CAROM__K_RATE_BURST;
    if ((s->set & mb) && !(s->bad & (mr | mb)) && e->rate_burst > 0 && e->rate_limit == 0) {
        char bv[24];
        snprintf(bv, sizeof bv, "%u", e->rate_burst);
        report(p, s->kline[CAROM__K_RATE_BURST], "rate_burst", bv,
               "has no effect while rate_limit is 0 (set the rate too)");
    }
    latency_check(p, s, CAROM__K_CHAOS_LATENCY, CAROM__K_CHAOS_LATENCY_MS, e->chaos.latency,
                  e->chaos.latency_ms);
    latency_check(p, s, CAROM__K_CHAOS_CONNECT_LATENCY, CAROM__K_CHAOS_CONNECT_LATENCY_MS,
                  e->chaos.connect_latency, e->chaos.connect_latency_ms);
}

static int cmp_diag(const void *a, const void *b)
{
    const problem *x = a, *y = b;
    if (x->line != y->line) return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_name(const void *a, const void *b, void *secs)
{
    const section *s = secs;
    int i = *(const int *)a, j = *(const int *)b;
    int c = strcasecmp(s[i].name, s[j].name);
    return c ? c : (i > j) - (i < j);
}

static carom_table *table_new(size_t n)
{
    carom_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->pol = calloc(n, sizeof *t->pol);
    t->match_text = calloc(n, sizeof *t->match_text);
    if (!t->pol || !t->match_text) {
        free(t->pol);
        free(t->match_text);
        free(t);
        return NULL;
    }
    t->n = n;
    t->state = CAROM_STATE_SHARED;
    memcpy(t->scoreboard, CAROM_SCOREBOARD_DEFAULT, sizeof CAROM_SCOREBOARD_DEFAULT);
    t->chaos_enabled = true;
    fleet_defaults(&t->fleet);
    return t;
}

void carom_policy_free(carom_table *t)
{
    if (!t) return;
    if (t->match_text)
        for (size_t i = 0; i < t->n; i++)
            free(t->match_text[i]);
    free(t->match_text);
    free(t->pol);
    free(t->slots);
    free(t->keys);
    free(t);
}

static char *join_patterns(const carom__pattern *pats, size_t n)
{
    size_t cap = 1;
    char one[CAROM_HOST_MAX + 64];
    for (size_t i = 0; i < n; i++) {
        carom__pattern_format(&pats[i], one, sizeof one);
        cap += strlen(one) + 2;
    }
    char *s = malloc(cap);
    if (!s) return NULL;
    s[0] = '\0';
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        carom__pattern_format(&pats[i], one, sizeof one);
        o += (size_t)snprintf(s + o, cap - o, "%s%s", i ? ", " : "", one);
    }
    return s;
}

/* The line where section o claims pat. */
static unsigned claim_line(const section *o, const carom__pattern *pat)
{
    uint8_t want[CAROM__KEY_MAX], have[CAROM__KEY_MAX];
    size_t wl = carom__pattern_key(pat, want);
    for (size_t j = 0; j < o->npats; j++)
        if (carom__pattern_key(&o->pats[j], have) == wl && memcmp(have, want, wl) == 0)
            return o->patline[j];
    return o->line;
}

static carom_table *build(parser *p)
{
    /* A policy name is its service key in every event: two sections may not share one. */
    int *order = malloc((p->nsecs + 1) * sizeof *order);
    if (!order) return p->oom = true, NULL;
    size_t np = 0;
    for (size_t i = 0; i < p->nsecs; i++)
        if (p->secs[i].kind == SEC_POLICY && !p->secs[i].discard) order[np++] = (int)i;
    qsort_r(order, np, sizeof *order, cmp_name, p->secs);
    for (size_t i = 1; i < np; i++) {
        section *a = &p->secs[order[i - 1]], *b = &p->secs[order[i]];
        if (strcasecmp(a->name, b->name) == 0) {
            char key[CAROM_NAME_MAX + 4];
            snprintf(key, sizeof key, "[%s]", b->name);
            report(p, b->line, key, b->name, "section repeated (first at line %u)", a->line);
            b->discard = true;
            order[i] = order[i - 1]; /* a third copy still names the first */
        }
    }
    free(order);

    carom_policy def = carom__builtin_policy;
    if (p->idx[SEC_DEFAULTS] >= 0) {
        section *d = &p->secs[p->idx[SEC_DEFAULTS]];
        overlay(&def, &d->v, d->set);
        cross_checks(p, d, &def);
    }
    size_t n = 1, npat = 0;
    for (size_t i = 0; i < p->nsecs; i++) {
        section *s = &p->secs[i];
        if (s->kind != SEC_POLICY || s->discard) continue;
        n++;
        if (!(s->set & (1ull << CAROM__K_MATCH))) {
            carom__pattern pat;
            char why[160], key[CAROM_NAME_MAX + 4];
            if (carom__pattern_parse(s->name, strlen(s->name), &pat, why, sizeof why) == 0) {
                carom__pattern *one = malloc(sizeof *one);
                unsigned *line = malloc(sizeof *line);
                if (!one || !line) {
                    free(one);
                    free(line);
                    return p->oom = true, NULL;
                }
                *one = pat;
                *line = s->line;
                s->pats = one;
                s->patline = line;
                s->npats = 1;
            } else {
                snprintf(key, sizeof key, "[%s]", s->name);
                report(p, s->line, key, s->name,
                       "no \"match =\" in this section, and its name is not a pattern: %s", why);
            }
        }
        npat += s->npats;
    }
    carom_table *t = table_new(n);
    size_t *sec_of = malloc(n * sizeof *sec_of); /* policy index -> its section */
    if (!t || !sec_of || !carom__table_reserve(t, npat)) {
        carom_policy_free(t);
        free(sec_of);
        return p->oom = true, NULL;
    }
    t->pol[0] = def;
    memcpy(t->pol[0].name, "defaults", sizeof "defaults");
    t->pol[0].index = 0;
    t->match_text[0] = calloc(1, 1);
    if (!t->match_text[0]) p->oom = true;
    size_t at = 1;
    for (size_t i = 0; i < p->nsecs && !p->oom; i++) {
        section *s = &p->secs[i];
        if (s->kind != SEC_POLICY || s->discard) continue;
        carom_policy *e = &t->pol[at];
        sec_of[at] = i;
        *e = def;
        overlay(e, &s->v, s->set);
        snprintf(e->name, sizeof e->name, "%s", s->name);
        e->index = (uint32_t)at;
        cross_checks(p, s, e);
        t->match_text[at] = join_patterns(s->pats, s->npats);
        if (!t->match_text[at]) p->oom = true;
        bool from_match = s->set & (1ull << CAROM__K_MATCH);
        for (size_t j = 0; j < s->npats; j++) {
            unsigned line = s->patline[j];
            uint32_t other = carom__table_insert(t, &s->pats[j], (uint32_t)at);
            if (other == UINT32_MAX) continue;
            if (other == UINT32_MAX - 1) {
                p->oom = true;
                break;
            }
            char txt[CAROM_HOST_MAX + 64], key[CAROM_NAME_MAX + 4];
            carom__pattern_format(&s->pats[j], txt, sizeof txt);
            snprintf(key, sizeof key, "[%s]", s->name);
            if (other == at) {
                report(p, line, from_match ? "match" : key, txt, "pattern listed twice");
                continue;
            }
            unsigned oline = claim_line(&p->secs[sec_of[other]], &s->pats[j]);
            report(p, line, from_match ? "match" : key, txt,
                   "pattern already claimed by [%s] (line %u)", t->pol[other].name, oline);
        }
        at++;
    }
    free(sec_of);
    t->state = p->state;
    memcpy(t->scoreboard, p->socket, sizeof t->scoreboard);
    t->seed = p->seed;
    t->chaos_enabled = p->enabled;
    t->chaos_enabled_set = p->enabled_set && p->enabled;
    fleet_finish(p);
    t->fleet = p->fleet;
    t->hash = carom_fnv1a(CAROM_FNV1A_INIT, p->text, p->len);
    return t;
}

carom_table *carom_policy_parse(const char *text, size_t len, const char *file, carom_diag_fn diag,
                                void *ud)
{
    parser p;
    memset(&p, 0, sizeof p);
    p.file = file ? file : "carom.ini";
    p.text = text ? text : "";
    p.len = text ? len : 0;
    p.cur = -1;
    for (int i = 0; i < 5; i++)
        p.idx[i] = -1;
    p.state = CAROM_STATE_SHARED;
    memcpy(p.socket, CAROM_SCOREBOARD_DEFAULT, sizeof CAROM_SCOREBOARD_DEFAULT);
    p.enabled = true;
    fleet_defaults(&p.fleet);

    int rc = ini_parse_stream(reader, &p, handler, &p);
    if (rc == -2) p.oom = true;
    if (rc > 0) {
        /* Our reader hands inih only lines it accepts; if it still objects, say so rather
         * than trust a parse we do not understand. */
        bool known = false;
        for (size_t i = 0; i < p.ndiags; i++)
            if (p.diags[i].line == (unsigned)rc) known = true;
        if (!known) {
            p.lineno = (unsigned)rc;
            report(&p, (unsigned)rc, "line", "", "inih could not parse this line");
        }
    }
    carom_table *t = p.oom ? NULL : build(&p);

    if (p.ndiags) qsort(p.diags, p.ndiags, sizeof *p.diags, cmp_diag);
    for (size_t i = 0; i < p.ndiags; i++) {
        if (diag) diag(ud, p.diags[i].text);
        free(p.diags[i].text);
    }
    if (p.oom && diag) {
        char line[256];
        snprintf(line, sizeof line, "carom: %s:0: memory: out of memory while loading, got \"\"",
                 p.file);
        diag(ud, line);
    }
    if (t && (p.ndiags || p.oom)) {
        carom_policy_free(t);
        t = NULL;
    }
    for (size_t i = 0; i < p.nsecs; i++) {
        free(p.secs[i].name);
        free(p.secs[i].pats);
        free(p.secs[i].patline);
    }
    free(p.secs);
    free(p.diags);
    return t;
}

carom_table *carom_policy_builtin(void)
{
    return carom_policy_parse("", 0, "(built-in)", NULL, NULL);
}

/* open/read, not stdio: the shim loads this inside programs whose stdio we must not touch. */
carom_table *carom_policy_load(const char *path, carom_diag_fn diag, void *ud)
{
    char line[CAROM_PATH_MAX + 128], ebuf[128];
    int err = 0;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0) {
        err = path ? errno : ENOENT;
    } else {
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) err = EISDIR;
        while (!err) {
            if (len == cap) {
                cap = cap ? cap * 2 : 8192;
                char *nb = cap <= MAX_FILE + 1 ? realloc(buf, cap) : NULL;
                if (!nb) {
                    err = cap > MAX_FILE + 1 ? EFBIG : ENOMEM;
                    break;
                }
                buf = nb;
            }
            ssize_t r = read(fd, buf + len, cap - len);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) err = errno;
            if (r <= 0) break;
            len += (size_t)r;
        }
        close(fd);
    }
    if (err) {
        free(buf);
        if (diag) {
            const char *msg =
                err == EFBIG ? "larger than 16 MiB" : strerror_r(err, ebuf, sizeof ebuf);
            snprintf(line, sizeof line, "carom: %s:0: cannot read: %s", path ? path : "(null)",
                     msg);
            diag(ud, line);
        }
        return NULL;
    }
    carom_table *t = carom_policy_parse(buf ? buf : "", len, path, diag, ud);
    free(buf);
    return t;
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static const char *put(char *buf, size_t len, const char *a, const char *b)
{
    int n = snprintf(buf, len, "%s%s", a, b);
    return n >= 0 && (size_t)n < len ? buf : NULL;
}

const char *carom_policy_find(char *buf, size_t len)
{
    if (!buf || len == 0) return NULL;
    const char *env = secure_getenv("CAROM_CONFIG");
    if (env && *env) return put(buf, len, env, "");
    if (exists("carom.ini")) return put(buf, len, "carom.ini", "");
    /* XDG: a relative $XDG_CONFIG_HOME is invalid and ignored, as the spec says. */
    const char *xdg = secure_getenv("XDG_CONFIG_HOME");
    const char *home = secure_getenv("HOME");
    const char *found = NULL;
    if (xdg && xdg[0] == '/')
        found = put(buf, len, xdg, "/carom/carom.ini");
    else if (home && home[0] == '/')
        found = put(buf, len, home, "/.config/carom/carom.ini");
    if (found && exists(found)) return found;
    if (exists("/etc/carom.ini")) return put(buf, len, "/etc/carom.ini", "");
    return NULL;
}
