/* codecs.c: the values no plain form of keys.def fits (errno lists, endpoints, HTTP
 * statuses and methods, the retry budget, pocket_url and pocket_response, chaos.http_status,
 * match patterns, the [scoreboard] socket and the [fleet] keys): each read from carom.ini's
 * text into its fields and written back as the parser reads it. It must never accept a value
 * it could not read whole, and never report a problem twice. */
#include "policy_int.h"

#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

static bool errno_item(carom__parser *p, const char *key, const char *it, size_t len, void *ctx)
{
    carom_policy *pv = ctx;
    char name[48];
    if (len == 9 && carom__ieq(it, "EAI_AGAIN", 9)) { /* the last name of the list: skip it */
        pv->retry_on_eai_again = true;
        return true;
    }
    if (len >= sizeof name) goto unknown;
    memcpy(name, it, len);
    name[len] = '\0';
    int v = carom_errno_value(name);
    bool eai = carom__ieq(name, "EAI_", 4);
    if (v == -1 && !(eai && carom__icmp(name, "EAI_BADFLAGS") == 0)) goto unknown;
    if (eai) {
        if (v != EAI_AGAIN) {
            carom__report_n(p, p->lineno, key, it, len,
                            "%s cannot be retried (the only transient EAI_ code is EAI_AGAIN)",
                            name);
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
    const char *s = carom__suggest_errno(tmp, carom__ieq(tmp, "EAI_", 4));
    if (s)
        carom__report_n(p, p->lineno, key, it, len, "unknown errno name (did you mean \"%s\"?)", s);
    else
        carom__report_n(p, p->lineno, key, it, len, "unknown errno name");
    return false;
}

/* What connect() itself can report for a network failure: a fast-failing circuit must
 * answer something the real call could have said. */
static const int connect_errnos[] = {ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH,
                                     ENETDOWN,     EHOSTDOWN, ECONNRESET,   ECONNABORTED,
                                     EAGAIN,       EACCES,    EPERM,        EADDRNOTAVAIL};

static bool get_open_errno(carom__parser *p, const char *key, const char *v, int *out)
{
    int e = carom_errno_value(v);
    if (e == -1 || carom__ieq(v, "EAI_", 4)) {
        if (carom__ieq(v, "EAI_", 4)) {
            carom__report(p, p->lineno, key, v, "expected an errno name, not an EAI_ code");
            return false;
        }
        const char *s = strlen(v) < 40 ? carom__suggest_errno(v, false) : NULL;
        if (s)
            carom__report(p, p->lineno, key, v, "unknown errno name (did you mean \"%s\"?)", s);
        else
            carom__report(p, p->lineno, key, v, "unknown errno name");
        return false;
    }
    for (size_t i = 0; i < sizeof connect_errnos / sizeof connect_errnos[0]; i++)
        if (connect_errnos[i] == e) {
            *out = e;
            return true;
        }
    carom__report(
        p, p->lineno, key, v,
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

static bool pocket_item(carom__parser *p, const char *key, const char *it, size_t len, void *ctx)
{
    carom_policy *pv = ctx;
    carom_hostport hp;
    if (!parse_endpoint(it, len, &hp)) {
        carom__report_n(
            p, p->lineno, key, it, len,
            "expected host:port (a name, an IPv4 address or [IPv6]) with a port 1..65535");
        return false;
    }
    if (pv->npockets == CAROM_POCKETS_MAX) {
        carom__report_n(p, p->lineno, key, it, len, "at most %d fallback endpoints",
                        CAROM_POCKETS_MAX);
        return false;
    }
    pv->pocket[pv->npockets++] = hp;
    return true;
}

static bool status_item(carom__parser *p, const char *key, const char *it, size_t len, void *ctx)
{
    carom_policy *pv = ctx;
    unsigned st;
    if (!carom__parse_status(it, len, &st)) {
        carom__report_n(p, p->lineno, key, it, len, "expected an HTTP status 100..599");
        return false;
    }
    pv->http_retry_status[st / 64] |= 1ull << (st % 64);
    return true;
}

static const char *const method_names[] = {"GET",  "HEAD",  "PUT",   "DELETE", "OPTIONS",
                                           "POST", "PATCH", "TRACE", "CONNECT"};

static bool method_item(carom__parser *p, const char *key, const char *it, size_t len, void *ctx)
{
    carom_policy *pv = ctx;
    static const uint8_t method_len[] = {3, 4, 3, 6, 7, 4, 5, 5, 7};
    _Static_assert(sizeof method_len == sizeof method_names / sizeof method_names[0],
                   "one length per method name");
    for (unsigned i = 0; i < sizeof method_names / sizeof method_names[0]; i++)
        if (method_len[i] == len && carom__ieq(method_names[i], it, len)) {
            pv->http_retry_methods |= 1u << i;
            return true;
        }
    carom__report_n(
        p, p->lineno, key, it, len,
        "unknown HTTP method (expected GET, HEAD, PUT, DELETE, OPTIONS, POST, PATCH, TRACE "
        "or CONNECT)");
    return false;
}

static bool get_budget(carom__parser *p, const char *key, const char *v, size_t len, uint16_t *out)
{
    uint64_t m;
    unsigned f;
    if (len && v[len - 1] == '%') len--;
    if (carom__parse_decimal(v, len, &m, &f, 6)) {
        uint64_t scale = carom__pow10(f);
        if ((m * 10) % scale == 0 && (m * 10) / scale <= 1000) {
            *out = (uint16_t)((m * 10) / scale);
            return true;
        }
    }
    carom__report(p, p->lineno, key, v,
                  "expected a share 0..100%% in steps of 0.1%% (such as 20%%, 20 or 12.5%%)");
    return false;
}

static bool get_url(carom__parser *p, const char *key, const char *v, char *out)
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
        carom__report(
            p, p->lineno, key, v,
            "expected scheme://host[:port] (no path, user or query: the request keeps its "
            "own)");
        return false;
    }
    memcpy(out, v, len + 1);
    return true;
}

/* isspace in the C locale, without the locale look-up. */
static bool is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool get_response(carom__parser *p, const char *key, const char *v, size_t len,
                         carom_policy *pv)
{
    unsigned st;
    const char *sp = v;
    while (*sp && !is_space((unsigned char)*sp))
        sp++;
    const char *path = sp;
    while (*path && is_space((unsigned char)*path))
        path++;
    size_t plen = len - (size_t)(path - v);
    if (carom__parse_status(v, (size_t)(sp - v), &st) && (plen == 0 || path[0] == '/') &&
        plen < CAROM_PATH_MAX) {
        pv->pocket_response_status = (uint16_t)st;
        memcpy(pv->pocket_response_body, path, plen);
        pv->pocket_response_body[plen] = '\0';
        return true;
    }
    carom__report(
        p, p->lineno, key, v,
        "expected \"STATUS /absolute/path/to/body\" (or just STATUS) with STATUS 100..599");
    return false;
}

static bool get_http_chaos(carom__parser *p, const char *key, const char *v, carom_chaos *c)
{
    const char *at = strchr(v, '@');
    unsigned st;
    double pr;
    if (at && carom__parse_status(v, (size_t)(at - v), &st) &&
        carom__parse_prob(at + 1, strlen(at + 1), &pr)) {
        c->http_status = (uint16_t)st;
        c->http_status_p = pr;
        return true;
    }
    carom__report(p, p->lineno, key, v,
                  "expected STATUS@PROBABILITY (such as 503@0.3) with STATUS 100..599 and "
                  "PROBABILITY 0..1");
    return false;
}

/* ---- [fleet]: the daemon's settings (docs/fleet.md) ----------------------------------- */

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

static bool fleet_server_ok(const char *v)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v || strlen(v) >= CAROM_HOST_MAX + 8) return false;
    uint64_t port;
    if (!carom__parse_u64(colon + 1, &port) || port == 0 || port > 65535) return false;
    size_t hl = (size_t)(colon - v);
    carom__ip ip;
    if (v[0] == '[')
        return hl > 2 && v[hl - 1] == ']' && carom__ip_parse(v, hl, &ip) && ip.family == 6;
    return carom__ip_parse(v, hl, &ip) || carom__host_valid(v, hl);
}

/* The [fleet] codecs: obj is the carom__globals. */
static bool parse_fleet_server(carom__parser *p, const carom__key *k, const char *v, size_t vl,
                               void *obj)
{
    (void)vl; /* read as a C string */
    carom_fleet_cfg *f = &((carom__globals *)obj)->fleet;
    if (fleet_server_ok(v)) {
        snprintf(f->redis, sizeof f->redis, "%s", v);
        return true;
    }
    carom__report(p, p->lineno, k->name, v,
                  "expected HOST:PORT (a host name or address, port 1..65535)");
    return false;
}

static bool parse_password_file(carom__parser *p, const carom__key *k, const char *v, size_t vl,
                                void *obj)
{
    (void)vl; /* read as a C string */
    carom_fleet_cfg *f = &((carom__globals *)obj)->fleet;
    if (v[0] == '/' && strlen(v) < sizeof f->password_file) {
        snprintf(f->password_file, sizeof f->password_file, "%s", v);
        return true;
    }
    carom__report(p, p->lineno, k->name, v,
                  "expected an absolute path shorter than %zu bytes (the password itself never "
                  "goes in carom.ini)",
                  sizeof f->password_file);
    return false;
}

/* host and prefix: a word of 1..size-1 bytes into the field. */
static bool parse_fleet_word(carom__parser *p, const carom__key *k, const char *v, size_t vl,
                             void *obj)
{
    (void)vl; /* read as a C string */
    char *field = (char *)obj + k->off;
    if (fleet_word(v, k->size)) {
        memcpy(field, v, strlen(v) + 1);
        return true;
    }
    carom__report(p, p->lineno, k->name, v, "expected 1..%zu of A-Z a-z 0-9 . _ -",
                  (size_t)k->size - 1);
    return false;
}

static bool parse_quorum(carom__parser *p, const carom__key *k, const char *v, size_t vl, void *obj)
{
    carom_fleet_cfg *f = &((carom__globals *)obj)->fleet;
    uint64_t x;
    size_t n = vl;
    bool pct = n > 1 && v[n - 1] == '%';
    char num[24];
    if (n - pct < sizeof num) {
        memcpy(num, v, n - pct);
        num[n - pct] = 0;
        if (carom__parse_u64(num, &x) && x >= 1 && x <= (pct ? 100u : 10000u)) {
            f->quorum = (uint32_t)x;
            f->quorum_percent = pct;
            return true;
        }
    }
    carom__report(p, p->lineno, k->name, v,
                  "expected a number of hosts 1..10000, or a percentage 1%%..100%% of the hosts "
                  "seen");
    return false;
}

static bool fmt_quorum(const void *obj, char *out, size_t len)
{
    const carom_fleet_cfg *f = &((const carom__globals *)obj)->fleet;
    snprintf(out, len, "%u%s", f->quorum, f->quorum_percent ? "%" : "");
    return true;
}

static bool pattern_item(carom__parser *p, const char *key, const char *it, size_t len, void *ctx)
{
    carom__section *s = ctx;
    char why[160];
    if (s->npats == s->cappats) {
        size_t cap = s->cappats ? s->cappats * 2 : 4;
        carom__pattern *np = realloc(s->pats, cap * sizeof *np);
        if (np) s->pats = np;
        unsigned *nl = np ? realloc(s->patline, cap * sizeof *nl) : NULL;
        if (!nl) {
            p->oom = true;
            return false;
        }
        s->patline = nl;
        s->cappats = cap;
    }
    /* Read in place: a pattern that fails is not counted. */
    if (carom__pattern_parse(it, len, &s->pats[s->npats], why, sizeof why) != 0) {
        carom__report_n(p, p->lineno, key, it, len, "%s", why);
        return false;
    }
    s->patline[s->npats++] = p->lineno;
    return true;
}

static bool get_patterns(carom__parser *p, carom__section *s, const char *key, const char *v,
                         size_t vl)
{
    if (!*v) {
        carom__report(p, p->lineno, key, v,
                      "empty (list patterns, or drop the line so the section name is the pattern)");
        return false;
    }
    return carom__each_item(p, key, v, vl, pattern_item, s);
}

/* ---- the codecs of keys.def's CUSTOM keys ----------------------------------------------- */

/* obj is the carom_policy for every POLICY key. */
static bool parse_retry_on(carom__parser *p, const carom__key *k, const char *v, size_t vl,
                           void *obj)
{
    carom_policy *pv = obj;
    memset(pv->retry_on, 0, sizeof pv->retry_on);
    pv->retry_on_eai_again = false;
    return carom__each_item(p, k->name, v, vl, errno_item, pv);
}

/* Appends ", s" (or s first) to a fixed buffer; the largest value (four IPv6 pockets) fits
 * with room. */
static void add(char *buf, size_t len, const char *s)
{
    size_t o = strlen(buf);
    if (o < len) snprintf(buf + o, len - o, o ? ", %s" : "%s", s);
}

static bool fmt_retry_on(const void *obj, char *v, size_t len)
{
    const carom_policy *p = obj;
    uint64_t done[4] = {0};
    for (size_t i = 0; i < carom__nerrnames; i++) {
        int e = carom__errnames[i].value;
        if (e < 0 || e > 255 || !(p->retry_on[e / 64] & (1ull << (e % 64)))) continue;
        if (done[e / 64] & (1ull << (e % 64))) continue; /* an alias of one printed */
        done[e / 64] |= 1ull << (e % 64);
        add(v, len, carom__errnames[i].name);
    }
    if (p->retry_on_eai_again) add(v, len, "EAI_AGAIN");
    return true;
}

static bool parse_budget(carom__parser *p, const carom__key *k, const char *v, size_t vl, void *obj)
{
    return get_budget(p, k->name, v, vl, &((carom_policy *)obj)->budget.permille);
}

static bool fmt_budget(const void *obj, char *v, size_t len)
{
    unsigned pm = ((const carom_policy *)obj)->budget.permille;
    if (pm % 10)
        snprintf(v, len, "%u.%u%%", pm / 10u, pm % 10u);
    else
        snprintf(v, len, "%u%%", pm / 10u);
    return true;
}

static bool parse_open_errno(carom__parser *p, const carom__key *k, const char *v, size_t vl,
                             void *obj)
{
    (void)vl; /* read as a C string */
    return get_open_errno(p, k->name, v, &((carom_policy *)obj)->open_errno);
}

static bool fmt_open_errno(const void *obj, char *v, size_t len)
{
    int e = ((const carom_policy *)obj)->open_errno;
    const char *n = carom_errno_name(e);
    if (n)
        snprintf(v, len, "%s", n);
    else
        snprintf(v, len, "%d", e);
    return true;
}

static bool parse_pocket(carom__parser *p, const carom__key *k, const char *v, size_t vl, void *obj)
{
    carom_policy *pv = obj;
    pv->npockets = 0;
    return carom__each_item(p, k->name, v, vl, pocket_item, pv);
}

static bool fmt_pocket(const void *obj, char *v, size_t len)
{
    const carom_policy *p = obj;
    char one[CAROM_HOST_MAX + 16];
    for (unsigned i = 0; i < p->npockets && i < CAROM_POCKETS_MAX; i++) {
        bool v6 = strchr(p->pocket[i].host, ':') != NULL;
        snprintf(one, sizeof one, v6 ? "[%s]:%u" : "%s:%u", p->pocket[i].host,
                 (unsigned)p->pocket[i].port);
        add(v, len, one);
    }
    return true;
}

static bool parse_status_list(carom__parser *p, const carom__key *k, const char *v, size_t vl,
                              void *obj)
{
    carom_policy *pv = obj;
    memset(pv->http_retry_status, 0, sizeof pv->http_retry_status);
    return carom__each_item(p, k->name, v, vl, status_item, pv);
}

static bool fmt_status_list(const void *obj, char *v, size_t len)
{
    const carom_policy *p = obj;
    char one[8];
    for (unsigned st = 100; st < 600; st++)
        if (p->http_retry_status[st / 64] & (1ull << (st % 64))) {
            snprintf(one, sizeof one, "%u", st);
            add(v, len, one);
        }
    return true;
}

static bool parse_methods(carom__parser *p, const carom__key *k, const char *v, size_t vl,
                          void *obj)
{
    carom_policy *pv = obj;
    pv->http_retry_methods = 0;
    return carom__each_item(p, k->name, v, vl, method_item, pv);
}

static bool fmt_methods(const void *obj, char *v, size_t len)
{
    const carom_policy *p = obj;
    for (unsigned i = 0; i < sizeof method_names / sizeof method_names[0]; i++)
        if (p->http_retry_methods & (1u << i)) add(v, len, method_names[i]);
    return true;
}

static bool parse_url(carom__parser *p, const carom__key *k, const char *v, size_t vl, void *obj)
{
    (void)vl; /* read as a C string */
    carom_policy *pv = obj;
    if (!*v) return pv->pocket_url[0] = '\0', true;
    return get_url(p, k->name, v, pv->pocket_url);
}

static bool parse_response(carom__parser *p, const carom__key *k, const char *v, size_t vl,
                           void *obj)
{
    carom_policy *pv = obj;
    if (!*v) {
        pv->pocket_response_status = 0;
        pv->pocket_response_body[0] = '\0';
        return true;
    }
    return get_response(p, k->name, v, vl, pv);
}

static bool fmt_response(const void *obj, char *v, size_t len)
{
    const carom_policy *p = obj;
    if (p->pocket_response_status && p->pocket_response_body[0])
        snprintf(v, len, "%u %s", (unsigned)p->pocket_response_status, p->pocket_response_body);
    else if (p->pocket_response_status)
        snprintf(v, len, "%u", (unsigned)p->pocket_response_status);
    return true;
}

static bool parse_http_chaos(carom__parser *p, const carom__key *k, const char *v, size_t vl,
                             void *obj)
{
    (void)vl; /* read as a C string */
    carom_policy *pv = obj;
    if (!*v) {
        pv->chaos.http_status = 0;
        pv->chaos.http_status_p = 0;
        return true;
    }
    return get_http_chaos(p, k->name, v, &pv->chaos);
}

static bool fmt_http_chaos(const void *obj, char *v, size_t len)
{
    const carom_policy *p = obj;
    char one[32];
    if (p->chaos.http_status) {
        carom__fmt_prob(one, sizeof one, p->chaos.http_status_p);
        snprintf(v, len, "%u@%s", (unsigned)p->chaos.http_status, one);
    }
    return true;
}

/* match: obj is the section, which collects the patterns of every "match =" line. */
static bool parse_match(carom__parser *p, const carom__key *k, const char *v, size_t vl, void *obj)
{
    return get_patterns(p, obj, k->name, v, vl);
}

static bool parse_socket(carom__parser *p, const carom__key *k, const char *v, size_t vl, void *obj)
{
    carom__globals *g = obj;
    if (v[0] == '/' && vl < sizeof g->scoreboard) {
        memcpy(g->scoreboard, v, vl + 1);
        return true;
    }
    carom__report(p, p->lineno, k->name, v, "expected an absolute path shorter than %zu bytes",
                  sizeof g->scoreboard);
    return false;
}

/* The string fields print as they are; host and password_file not at all when empty. */
static bool fmt_string(const void *obj, const carom__key *k, char *v, size_t len)
{
    snprintf(v, len, "%s", (const char *)obj + k->off);
    return true;
}

#define STR_FMT(name, id, omit_empty)                                                              \
    static bool name(const void *obj, char *v, size_t len)                                         \
    {                                                                                              \
        fmt_string(obj, &carom__keys[CAROM__K_##id], v, len);                                      \
        return !(omit_empty) || v[0];                                                              \
    }
STR_FMT(fmt_url, POCKET_URL, false)
STR_FMT(fmt_socket, SOCKET, false)
STR_FMT(fmt_fleet_server, REDIS, false)
STR_FMT(fmt_password_file, PASSWORD_FILE, true)
STR_FMT(fmt_fleet_host, HOST, true)
STR_FMT(fmt_fleet_prefix, PREFIX, false)
#undef STR_FMT

const carom__codec carom__codec_retry_on = {parse_retry_on, fmt_retry_on, false};
const carom__codec carom__codec_budget = {parse_budget, fmt_budget, false};
const carom__codec carom__codec_open_errno = {parse_open_errno, fmt_open_errno, false};
const carom__codec carom__codec_pocket = {parse_pocket, fmt_pocket, false};
const carom__codec carom__codec_status = {parse_status_list, fmt_status_list, false};
const carom__codec carom__codec_methods = {parse_methods, fmt_methods, false};
const carom__codec carom__codec_url = {parse_url, fmt_url, false};
const carom__codec carom__codec_response = {parse_response, fmt_response, false};
const carom__codec carom__codec_http_chaos = {parse_http_chaos, fmt_http_chaos, false};
const carom__codec carom__codec_match = {parse_match, NULL, true};
const carom__codec carom__codec_socket = {parse_socket, fmt_socket, false};
const carom__codec carom__codec_fleet_server = {parse_fleet_server, fmt_fleet_server, false};
const carom__codec carom__codec_password_file = {parse_password_file, fmt_password_file, false};
const carom__codec carom__codec_fleet_host = {parse_fleet_word, fmt_fleet_host, false};
const carom__codec carom__codec_quorum = {parse_quorum, fmt_quorum, false};
const carom__codec carom__codec_fleet_prefix = {parse_fleet_word, fmt_fleet_prefix, false};
