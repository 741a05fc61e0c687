/* cmd_scoreboard.c: `carom scoreboard`: listens on the shims' event socket and shows a
 * live per-policy table, prints the raw JSON lines (--json), or serves the counters in
 * Prometheus text format (--prometheus HOST:PORT). It is a viewer and an exporter, not an
 * aggregator: it keeps only bounded in-memory counters. It must never replace a live
 * listener or anything but a stale socket, never leave behind a socket file it created on
 * a clean exit, never block on one HTTP client, and never let an event's text break the
 * output it is copied into (terminal, JSON, Prometheus labels). */
#include "carom_tools.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../policy/carom_policy.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The socket path the shims use: $CAROM_SCOREBOARD, else the config's [scoreboard]. */
static const char *socket_path(const char *config, char *buf, size_t len)
{
    const char *env = getenv("CAROM_SCOREBOARD");
    if (env && *env) return env;
    char pathbuf[4096];
    const char *path = config ? config : carom_policy_find(pathbuf, sizeof pathbuf);
    carom_table *t = path ? carom_policy_load(path, NULL, NULL) : NULL;
    snprintf(buf, len, "%s", t ? carom_policy_scoreboard(t) : "/tmp/carom-scoreboard.sock");
    if (t) carom_policy_free(t);
    return buf;
}

/* ---- the listening socket ------------------------------------------------------------------- */

static struct stat bound_st; /* the socket file we created: unlinked at exit only if still it */

/* Binds the listening socket, replacing a stale socket file but never a live listener or
 * anything that is not a socket. The file is created 0600: events are per user, like the
 * shared state. */
static int listen_on(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path || !*path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    mode_t old = umask(077);
    int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    if (r != 0 && errno == EADDRINUSE) {
        struct stat st;
        int probe = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        bool live = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0;
        if (probe >= 0) close(probe);
        if (live) {
            fprintf(stderr, "carom scoreboard: %s: another listener is running\n", path);
            errno = EADDRINUSE;
        } else if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode)) {
            fprintf(stderr, "carom scoreboard: %s exists and is not a socket\n", path);
            errno = EEXIST;
        } else {
            unlink(path); /* a stale socket: its listener died without cleaning up */
            r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
        }
    }
    int e = errno;
    umask(old);
    if (r != 0) {
        close(fd);
        errno = e;
        return -1;
    }
    lstat(path, &bound_st);
    int big = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    return fd;
}

static void unlink_ours(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0 && st.st_ino == bound_st.st_ino && st.st_dev == bound_st.st_dev)
        unlink(path);
}

/* ---- one event ------------------------------------------------------------------------------- */

struct ev {
    char event[32], policy[CAROM_NAME_MAX], endpoint[192], call[32], error[48], detail[512];
    long long pid, attempt, delay_ms, elapsed_ms, dropped;
};

/* Reads a JSON string at *p (after its opening quote) into out (UTF-8, NUL-terminated,
 * cut to fit); false on malformed input. */
static bool json_string(const char **p, char *out, size_t cap)
{
    const char *s = *p;
    size_t n = 0;
    for (;;) {
        unsigned c = (unsigned char)*s++;
        if (c == 0 || c < 0x20) return false;
        if (c == '"') break;
        char tmp[4];
        size_t k = 1;
        tmp[0] = (char)c;
        if (c == '\\') {
            c = (unsigned char)*s++;
            switch (c) {
            case '"':
            case '\\':
            case '/':
                tmp[0] = (char)c;
                break;
            case 'b':
                tmp[0] = '\b';
                break;
            case 'f':
                tmp[0] = '\f';
                break;
            case 'n':
                tmp[0] = '\n';
                break;
            case 'r':
                tmp[0] = '\r';
                break;
            case 't':
                tmp[0] = '\t';
                break;
            case 'u': {
                unsigned cp = 0;
                for (int i = 0; i < 4; i++) {
                    char h = *s++;
                    cp <<= 4;
                    if (h >= '0' && h <= '9')
                        cp |= (unsigned)(h - '0');
                    else if (h >= 'a' && h <= 'f')
                        cp |= (unsigned)(h - 'a' + 10);
                    else if (h >= 'A' && h <= 'F')
                        cp |= (unsigned)(h - 'A' + 10);
                    else
                        return false;
                }
                if (cp >= 0xd800 && cp <= 0xdfff)
                    cp = 0xfffd; /* surrogates: carom never sends them; show a placeholder */
                if (cp < 0x80) {
                    tmp[0] = (char)cp;
                } else if (cp < 0x800) {
                    tmp[0] = (char)(0xc0 | (cp >> 6));
                    tmp[1] = (char)(0x80 | (cp & 0x3f));
                    k = 2;
                } else {
                    tmp[0] = (char)(0xe0 | (cp >> 12));
                    tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
                    tmp[2] = (char)(0x80 | (cp & 0x3f));
                    k = 3;
                }
                break;
            }
            default:
                return false;
            }
        }
        if (n + k < cap) {
            memcpy(out + n, tmp, k);
            n += k;
        }
    }
    out[n] = 0;
    *p = s;
    return true;
}

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    return s;
}

/* Parses one flat JSON object as the shims send it. Unknown keys are skipped (a newer
 * shim may add fields); nested values make the datagram invalid. */
static bool parse_event(const char *s, struct ev *e)
{
    memset(e, 0, sizeof *e);
    e->delay_ms = e->elapsed_ms = -1;
    s = skip_ws(s);
    if (*s++ != '{') return false;
    s = skip_ws(s);
    if (*s == '}') return false;
    for (;;) {
        char key[32], sval[512];
        if (*s++ != '"' || !json_string(&s, key, sizeof key)) return false;
        s = skip_ws(s);
        if (*s++ != ':') return false;
        s = skip_ws(s);
        if (*s == '"') {
            s++;
            if (!json_string(&s, sval, sizeof sval)) return false;
            struct {
                const char *k;
                char *dst;
                size_t cap;
            } f[] = {{"event", e->event, sizeof e->event},
                     {"policy", e->policy, sizeof e->policy},
                     {"endpoint", e->endpoint, sizeof e->endpoint},
                     {"call", e->call, sizeof e->call},
                     {"error", e->error, sizeof e->error},
                     {"detail", e->detail, sizeof e->detail}};
            for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
                if (strcmp(key, f[i].k) == 0) snprintf(f[i].dst, f[i].cap, "%s", sval);
        } else if (*s == '-' || (*s >= '0' && *s <= '9')) {
            char *end;
            errno = 0;
            long long v = strtoll(s, &end, 10);
            if (end == s || errno) v = 0;
            if (*end == '.' || *end == 'e' || *end == 'E')
                (void)strtod(s, &end); /* not ours, but valid JSON */
            s = end;
            if (strcmp(key, "pid") == 0)
                e->pid = v;
            else if (strcmp(key, "attempt") == 0)
                e->attempt = v;
            else if (strcmp(key, "delay_ms") == 0)
                e->delay_ms = v;
            else if (strcmp(key, "elapsed_ms") == 0)
                e->elapsed_ms = v;
            else if (strcmp(key, "dropped") == 0)
                e->dropped = v;
        } else if (strncmp(s, "true", 4) == 0 || strncmp(s, "null", 4) == 0) {
            s += 4;
        } else if (strncmp(s, "false", 5) == 0) {
            s += 5;
        } else {
            return false;
        }
        s = skip_ws(s);
        if (*s == '}') break;
        if (*s++ != ',') return false;
        s = skip_ws(s);
    }
    s = skip_ws(s + 1);
    return *s == 0 && e->event[0];
}

/* ---- counters ----------------------------------------------------------------------------------
 */

/* Bounded memory: at most MAX_SERIES (policy, endpoint) pairs (later endpoints are counted
 * under endpoint "other"), MAX_OUTCOMES distinct errors and MAX_FAULTS chaos faults each. */
#define MAX_SERIES 4096
#define HASH_SLOTS 8192
#define MAX_POLICIES 256
#define MAX_OUTCOMES 12
#define MAX_FAULTS 8
#define RING 1024

static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
#define NB (sizeof buckets / sizeof buckets[0])

static const char *const kinds[] = {
    "shot",         "retry",        "open",         "half_open",        "close",
    "timeout",      "pocket",       "stale_dns",    "budget_exhausted", "chaos",
    "config_error", "rate_limited", "bulkhead_full"};
#define NKINDS (sizeof kinds / sizeof kinds[0])

struct hist {
    uint64_t b[NB]; /* non-cumulative; made cumulative when printed */
    uint64_t count;
    double sum;
};

struct named_count {
    char name[48];
    uint64_t n;
};

struct series {
    char policy[CAROM_NAME_MAX], endpoint[192];
    uint64_t events[NKINDS + 1];               /* the last: kinds this version does not know */
    struct named_count outcomes[MAX_OUTCOMES]; /* shots: "ok" or the error */
    struct named_count faults[MAX_FAULTS];     /* chaos injections by fault */
    uint64_t retries;
    struct hist delay, duration;
    int circuit; /* 0 closed, 1 open, 2 half-open, 3 forced open (by hand) */
};

struct policy_row {
    char name[CAROM_NAME_MAX];
    uint64_t calls, failures, retries;
    uint64_t limited;   /* rate_limited and bulkhead_full: calls held back or refused */
    uint32_t lat[RING]; /* the latest shot durations (ms) */
    unsigned nlat, lat_next;
    char last_error[48], last_ep[192];
    uint64_t last_error_at;
};

static struct series *series;
static unsigned nseries;
static int32_t *index_of; /* HASH_SLOTS entries, -1 empty */
static struct policy_row *rows;
static unsigned nrows;
static uint64_t total_events, total_invalid, total_dropped;

static uint64_t str_hash(const char *a, const char *b)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *a; a++)
        h = (h ^ (unsigned char)*a) * 0x100000001b3ull;
    h = (h ^ 0xff) * 0x100000001b3ull;
    for (; *b; b++)
        h = (h ^ (unsigned char)*b) * 0x100000001b3ull;
    return h;
}

static struct series *find_or_add(const char *policy, const char *endpoint, unsigned limit)
{
    uint64_t h = str_hash(policy, endpoint);
    for (unsigned i = 0; i < HASH_SLOTS; i++) {
        int32_t *slot = &index_of[(h + i) % HASH_SLOTS];
        if (*slot < 0) {
            if (nseries >= limit) return NULL;
            struct series *s = &series[nseries];
            memset(s, 0, sizeof *s);
            snprintf(s->policy, sizeof s->policy, "%s", policy);
            snprintf(s->endpoint, sizeof s->endpoint, "%s", endpoint);
            *slot = (int32_t)nseries++;
            return s;
        }
        struct series *s = &series[*slot];
        if (strcmp(s->policy, policy) == 0 && strcmp(s->endpoint, endpoint) == 0) return s;
    }
    return NULL;
}

/* Past MAX_SERIES, a policy's further endpoints share one series, endpoint "other" (room
 * for one per policy is kept). */
static struct series *series_for(const char *policy, const char *endpoint)
{
    struct series *s = find_or_add(policy, endpoint, MAX_SERIES);
    return s ? s : find_or_add(policy, "other", MAX_SERIES + MAX_POLICIES);
}

static struct policy_row *row_for(const char *policy)
{
    for (unsigned i = 0; i < nrows; i++)
        if (strcmp(rows[i].name, policy) == 0) return &rows[i];
    if (nrows >= MAX_POLICIES) return NULL;
    struct policy_row *r = &rows[nrows++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", policy);
    return r;
}

static void count_named(struct named_count *v, unsigned max, const char *name)
{
    for (unsigned i = 0; i < max; i++) {
        if (!v[i].name[0]) {
            snprintf(v[i].name, sizeof v[i].name, "%s", name);
            v[i].n = 1;
            return;
        }
        if (strcmp(v[i].name, name) == 0) {
            v[i].n++;
            return;
        }
    }
    /* Full: the last entry becomes "other". */
    snprintf(v[max - 1].name, sizeof v[max - 1].name, "other");
    v[max - 1].n++;
}

static void observe(struct hist *h, double seconds)
{
    unsigned i = 0;
    while (i < NB && seconds > buckets[i])
        i++;
    if (i < NB) h->b[i]++;
    h->count++;
    h->sum += seconds;
}

static void account(const struct ev *e)
{
    total_events++;
    if (e->dropped > 0) total_dropped += (uint64_t)e->dropped;
    const char *policy = e->policy[0] ? e->policy : "-";
    const char *endpoint = e->endpoint[0] ? e->endpoint : "-";
    struct series *s = series_for(policy, endpoint);
    struct policy_row *r = row_for(policy);
    unsigned k = 0;
    while (k < NKINDS && strcmp(kinds[k], e->event) != 0)
        k++;
    if (s) s->events[k]++;
    if (strcmp(e->event, "shot") == 0) {
        bool ok = !e->error[0];
        if (s) {
            count_named(s->outcomes, MAX_OUTCOMES, ok ? "ok" : e->error);
            if (e->elapsed_ms >= 0) observe(&s->duration, (double)e->elapsed_ms / 1000.0);
        }
        if (r) {
            r->calls++;
            if (!ok) r->failures++;
            if (e->elapsed_ms >= 0) {
                r->lat[r->lat_next] =
                    (uint32_t)(e->elapsed_ms > UINT32_MAX ? UINT32_MAX : e->elapsed_ms);
                r->lat_next = (r->lat_next + 1) % RING;
                if (r->nlat < RING) r->nlat++;
            }
        }
    } else if (strcmp(e->event, "retry") == 0) {
        if (s) {
            s->retries++;
            if (e->delay_ms >= 0) observe(&s->delay, (double)e->delay_ms / 1000.0);
        }
        if (r) r->retries++;
    } else if (strcmp(e->event, "open") == 0) {
        /* Opened by hand (`carom cushions --open`): open until closed by hand. */
        if (s) s->circuit = strncmp(e->detail, "manual", 6) == 0 ? 3 : 1;
    } else if (strcmp(e->event, "half_open") == 0) {
        if (s) s->circuit = 2;
    } else if (strcmp(e->event, "close") == 0) {
        if (s) s->circuit = 0;
    } else if (strcmp(e->event, "chaos") == 0) {
        if (s) count_named(s->faults, MAX_FAULTS, e->error[0] ? e->error : "unknown");
    } else if (strcmp(e->event, "rate_limited") == 0 || strcmp(e->event, "bulkhead_full") == 0) {
        if (r) r->limited++;
    }
    if (r && e->error[0] && strcmp(e->event, "chaos") != 0) {
        snprintf(r->last_error, sizeof r->last_error, "%s", e->error);
        snprintf(r->last_ep, sizeof r->last_ep, "%s", endpoint);
        r->last_error_at = mono_ms();
    }
}

/* ---- the live table
 * ------------------------------------------------------------------------------ */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Shows text from an event on a terminal: control bytes become '?', so a crafted
 * datagram cannot move the cursor or retitle the window. */
static void safe_text(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    for (; *src && n + 1 < cap; src++)
        dst[n++] = ((unsigned char)*src < 0x20 || *src == 0x7f) ? '?' : *src;
    dst[n] = 0;
}

static void fmt_ms(char *buf, size_t len, double ms)
{
    if (ms < 0)
        snprintf(buf, len, "-");
    else if (ms < 10000)
        snprintf(buf, len, "%.0fms", ms);
    else
        snprintf(buf, len, "%.1fs", ms / 1000.0);
}

static void print_table(FILE *out, const char *path, bool tty)
{
    if (tty)
        fputs("\033[H\033[J", out);
    else
        fputs("\n", out);
    fprintf(out, "carom scoreboard  %s  events %llu  dropped by senders %llu  invalid %llu\n", path,
            (unsigned long long)total_events, (unsigned long long)total_dropped,
            (unsigned long long)total_invalid);
    fprintf(out, "%-20s %8s %8s %8s %8s  %-14s %8s %8s  %s\n", "POLICY", "CALLS", "RETRIES",
            "FAILURES", "LIMITED", "CIRCUIT", "P50", "P99", "LAST ERROR");
    uint64_t now = mono_ms();
    for (unsigned i = 0; i < nrows; i++) {
        struct policy_row *r = &rows[i];
        unsigned open = 0, half = 0, forced = 0, known = 0;
        for (unsigned j = 0; j < nseries; j++) {
            if (strcmp(series[j].policy, r->name) != 0) continue;
            uint64_t transitions = series[j].events[2] + series[j].events[3] + series[j].events[4];
            if (!transitions && !series[j].events[0]) continue;
            known++;
            open += series[j].circuit == 1;
            half += series[j].circuit == 2;
            forced += series[j].circuit == 3;
        }
        char circuit[32];
        if (forced)
            snprintf(circuit, sizeof circuit, "forced-open %u/%u", forced, known);
        else if (open)
            snprintf(circuit, sizeof circuit, "open %u/%u", open, known);
        else if (half)
            snprintf(circuit, sizeof circuit, "half-open %u/%u", half, known);
        else
            snprintf(circuit, sizeof circuit, known ? "closed" : "-");
        char p50[16], p99[16];
        if (r->nlat) {
            uint32_t tmp[RING];
            memcpy(tmp, r->lat, r->nlat * sizeof tmp[0]);
            qsort(tmp, r->nlat, sizeof tmp[0], cmp_u32);
            fmt_ms(p50, sizeof p50, tmp[(r->nlat - 1) * 50 / 100]);
            fmt_ms(p99, sizeof p99, tmp[(r->nlat - 1) * 99 / 100]);
        } else {
            fmt_ms(p50, sizeof p50, -1);
            fmt_ms(p99, sizeof p99, -1);
        }
        char name[CAROM_NAME_MAX], err[48], ep[192], last[320];
        safe_text(name, sizeof name, r->name);
        safe_text(err, sizeof err, r->last_error);
        safe_text(ep, sizeof ep, r->last_ep);
        if (r->last_error[0])
            snprintf(last, sizeof last, "%s %s (%llus ago)", err, ep,
                     (unsigned long long)((now - r->last_error_at) / 1000));
        else
            snprintf(last, sizeof last, "-");
        fprintf(out, "%-20s %8llu %8llu %8llu %8llu  %-14s %8s %8s  %s\n", name,
                (unsigned long long)r->calls, (unsigned long long)r->retries,
                (unsigned long long)r->failures, (unsigned long long)r->limited, circuit, p50, p99,
                last);
    }
    if (!nrows)
        fprintf(out, "(no events yet: run a program with the shim, e.g. carom run -- curl ...)\n");
    fflush(out);
}

/* ---- Prometheus text format
 * ------------------------------------------------------------------------ */

struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if ((size_t)n < b->cap - b->n) {
            b->n += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* A label value as the text format wants it: backslash, quote and newline escaped. */
static const char *label(const char *s, char *buf, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 3 < cap; s++) {
        if (*s == '\\' || *s == '"') {
            buf[n++] = '\\';
            buf[n++] = *s;
        } else if (*s == '\n') {
            buf[n++] = '\\';
            buf[n++] = 'n';
        } else {
            buf[n++] = *s;
        }
    }
    buf[n] = 0;
    return buf;
}

static void labels(const struct series *s, char *buf, size_t cap)
{
    char p[2 * CAROM_NAME_MAX + 8], e[2 * 192 + 8];
    snprintf(buf, cap, "policy=\"%s\",endpoint=\"%s\"", label(s->policy, p, sizeof p),
             label(s->endpoint, e, sizeof e));
}

static void prom_hist(struct sbuf *b, const char *name, const char *help, size_t off)
{
    sb_add(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (unsigned i = 0; i < nseries; i++) {
        const struct hist *h = (const struct hist *)((const char *)&series[i] + off);
        if (!h->count) continue;
        char l[1024];
        labels(&series[i], l, sizeof l);
        uint64_t cum = 0;
        for (unsigned j = 0; j < NB; j++) {
            cum += h->b[j];
            sb_add(b, "%s_bucket{%s,le=\"%g\"} %llu\n", name, l, buckets[j],
                   (unsigned long long)cum);
        }
        sb_add(b, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, l, (unsigned long long)h->count);
        sb_add(b, "%s_sum{%s} %.3f\n", name, l, h->sum); /* whole ms: exact */
        sb_add(b, "%s_count{%s} %llu\n", name, l, (unsigned long long)h->count);
    }
}

static char *prometheus_text(size_t *len)
{
    struct sbuf b = {malloc(65536), 0, 65536, false};
    if (!b.p) return NULL;
    char l[1024], x[128];

    sb_add(&b, "# HELP carom_shots_total Guarded calls finished, by outcome (ok or the error).\n"
               "# TYPE carom_shots_total counter\n");
    for (unsigned i = 0; i < nseries; i++) {
        labels(&series[i], l, sizeof l);
        for (unsigned j = 0; j < MAX_OUTCOMES && series[i].outcomes[j].name[0]; j++)
            sb_add(&b, "carom_shots_total{%s,outcome=\"%s\"} %llu\n", l,
                   label(series[i].outcomes[j].name, x, sizeof x),
                   (unsigned long long)series[i].outcomes[j].n);
    }
    sb_add(&b, "# HELP carom_retry_attempts_total Retries carom made (retry events).\n"
               "# TYPE carom_retry_attempts_total counter\n");
    for (unsigned i = 0; i < nseries; i++) {
        if (!series[i].events[1]) continue;
        labels(&series[i], l, sizeof l);
        sb_add(&b, "carom_retry_attempts_total{%s} %llu\n", l,
               (unsigned long long)series[i].retries);
    }
    sb_add(&b, "# HELP carom_circuit_state Circuit state as last reported: 0 closed, 1 open, "
               "2 half-open, 3 forced open by hand.\n# TYPE carom_circuit_state gauge\n");
    for (unsigned i = 0; i < nseries; i++) {
        const struct series *s = &series[i];
        if (!s->events[0] && !s->events[2] && !s->events[3] && !s->events[4]) continue;
        labels(s, l, sizeof l);
        sb_add(&b, "carom_circuit_state{%s} %d\n", l, s->circuit);
    }
    prom_hist(&b, "carom_retry_delay_seconds", "Backoff delay before each retry.",
              offsetof(struct series, delay));
    prom_hist(&b, "carom_shot_duration_seconds", "Time a guarded call took, retries included.",
              offsetof(struct series, duration));
    sb_add(&b, "# HELP carom_chaos_injections_total Faults injected on purpose, by fault.\n"
               "# TYPE carom_chaos_injections_total counter\n");
    for (unsigned i = 0; i < nseries; i++) {
        labels(&series[i], l, sizeof l);
        for (unsigned j = 0; j < MAX_FAULTS && series[i].faults[j].name[0]; j++)
            sb_add(&b, "carom_chaos_injections_total{%s,fault=\"%s\"} %llu\n", l,
                   label(series[i].faults[j].name, x, sizeof x),
                   (unsigned long long)series[i].faults[j].n);
    }
    sb_add(&b, "# HELP carom_events_total Scoreboard events received, by kind.\n"
               "# TYPE carom_events_total counter\n");
    for (unsigned i = 0; i < nseries; i++) {
        labels(&series[i], l, sizeof l);
        for (unsigned k = 0; k <= NKINDS; k++)
            if (series[i].events[k])
                sb_add(&b, "carom_events_total{%s,event=\"%s\"} %llu\n", l,
                       k < NKINDS ? kinds[k] : "other", (unsigned long long)series[i].events[k]);
    }
    sb_add(&b,
           "# HELP carom_events_dropped_total Events the shims dropped (no listener, full "
           "buffer), as they reported them.\n# TYPE carom_events_dropped_total counter\n"
           "carom_events_dropped_total %llu\n",
           (unsigned long long)total_dropped);
    sb_add(&b,
           "# HELP carom_scoreboard_invalid_total Datagrams that were not carom events.\n"
           "# TYPE carom_scoreboard_invalid_total counter\ncarom_scoreboard_invalid_total %llu\n",
           (unsigned long long)total_invalid);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.n;
    return b.p;
}

/* ---- the /metrics server: one poll loop, non-blocking clients
 * ---------------------------------------- */

#define MAX_CLIENTS 16
#define CLIENT_MS 5000

struct client {
    int fd;
    char in[2048];
    size_t nin;
    char *out;
    size_t nout, sent;
    uint64_t since;
};
static struct client clients[MAX_CLIENTS];

static int http_listen(const char *hostport)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || !colon[1] || (size_t)(colon - hostport) >= sizeof host) {
        fprintf(stderr, "carom scoreboard: --prometheus wants HOST:PORT, got \"%s\"\n", hostport);
        return -1;
    }
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = 0;
    char *h = host;
    if (*h == '[' && h[strlen(h) - 1] == ']') {
        h[strlen(h) - 1] = 0;
        h++;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    int r = getaddrinfo(*h ? h : NULL, colon + 1, &hints, &res);
    if (r != 0) {
        fprintf(stderr, "carom scoreboard: %s: %s\n", hostport, gai_strerror(r));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0) {
            err = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        fprintf(stderr, "carom scoreboard: cannot serve on %s: %s\n", hostport, strerror(err));
    return fd;
}

static void client_close(struct client *c)
{
    close(c->fd);
    free(c->out);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

static void client_respond(struct client *c)
{
    char method[8] = "", target[256] = "";
    sscanf(c->in, "%7s %255s", method, target);
    bool head = strcmp(method, "HEAD") == 0;
    const char *status = "200 OK", *type = "text/plain; version=0.0.4; charset=utf-8";
    char *body = NULL;
    size_t blen = 0;
    char *q = strchr(target, '?');
    if (q) *q = 0;
    if (strcmp(method, "GET") != 0 && !head) {
        status = "405 Method Not Allowed";
        type = "text/plain";
    } else if (strcmp(target, "/metrics") == 0) {
        body = prometheus_text(&blen);
        if (!body) status = "500 Internal Server Error";
    } else if (strcmp(target, "/") == 0) {
        type = "text/html";
        body = strdup("<html><body><a href=\"/metrics\">carom metrics</a></body></html>\n");
        blen = body ? strlen(body) : 0;
    } else {
        status = "404 Not Found";
        type = "text/plain";
    }
    if (!body) {
        body = strdup(status);
        blen = body ? strlen(body) : 0;
    }
    char hdr[256];
    int hn = snprintf(hdr, sizeof hdr,
                      "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      status, type, blen);
    size_t total = (size_t)hn + (head ? 0 : blen);
    c->out = malloc(total);
    if (!c->out) {
        free(body);
        client_close(c);
        return;
    }
    memcpy(c->out, hdr, (size_t)hn);
    if (!head && body) memcpy(c->out + hn, body, blen);
    free(body);
    c->nout = total;
    c->sent = 0;
}

static void client_io(struct client *c, short revents)
{
    if (!c->out && (revents & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = recv(c->fd, c->in + c->nin, sizeof c->in - 1 - c->nin, 0);
        if (n <= 0) {
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
            client_close(c);
            return;
        }
        c->nin += (size_t)n;
        c->in[c->nin] = 0;
        if (strstr(c->in, "\r\n\r\n") || strstr(c->in, "\n\n"))
            client_respond(c);
        else if (c->nin >= sizeof c->in - 1)
            client_close(c); /* a request this large is not a scrape */
        return;
    }
    if (c->out && (revents & (POLLOUT | POLLHUP | POLLERR))) {
        ssize_t n = send(c->fd, c->out + c->sent, c->nout - c->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) client_close(c);
            return;
        }
        c->sent += (size_t)n;
        if (c->sent == c->nout) client_close(c);
    }
}

static void http_accept(int hfd)
{
    for (;;) {
        int fd = accept4(hfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) return;
        struct client *c = NULL;
        for (unsigned i = 0; i < MAX_CLIENTS && !c; i++)
            if (clients[i].fd < 0) c = &clients[i];
        if (!c) {
            close(fd); /* busy: the scraper retries next interval */
            continue;
        }
        c->fd = fd;
        c->nin = 0;
        c->since = mono_ms();
    }
}

/* ---- the command
 * ------------------------------------------------------------------------------------- */

static const char usage[] =
    "usage: carom scoreboard [-c FILE] [--json] [--prometheus HOST:PORT] [--interval MS]\n"
    "Listens on the shims' event socket ($CAROM_SCOREBOARD, else [scoreboard] socket).\n"
    "  -c FILE                the policy file whose [scoreboard] socket to use\n"
    "  --json                 print each event as one JSON line\n"
    "  --prometheus HOST:PORT serve the counters at http://HOST:PORT/metrics\n"
    "  --interval MS          redraw the table every MS ms (50..3600000, default 1000)\n"
    "  -h, --help             show this help\n";

int carom_cmd_scoreboard(int argc, char **argv)
{
    bool json = false;
    const char *config = NULL, *prom = NULL;
    long interval = 1000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--prometheus") == 0 && i + 1 < argc) {
            prom = argv[++i];
        } else if (strncmp(argv[i], "--prometheus=", 13) == 0) {
            prom = argv[i] + 13;
        } else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--interval") == 0 && i + 1 < argc) {
            interval = strtol(argv[++i], NULL, 10);
            if (interval < 50 || interval > 3600000) {
                fputs(usage, stderr);
                return 2;
            }
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else {
            fputs(usage, stderr);
            return 2;
        }
    }
    bool table = !json && !prom;
    series = calloc(MAX_SERIES + MAX_POLICIES, sizeof *series);
    index_of = malloc(HASH_SLOTS * sizeof *index_of);
    rows = calloc(MAX_POLICIES, sizeof *rows);
    if (!series || !index_of || !rows) {
        fprintf(stderr, "carom scoreboard: out of memory\n");
        return 1;
    }
    memset(index_of, 0xff, HASH_SLOTS * sizeof *index_of);
    for (unsigned i = 0; i < MAX_CLIENTS; i++)
        clients[i].fd = -1;

    char buf[4096];
    const char *path = socket_path(config, buf, sizeof buf);
    int fd = listen_on(path);
    if (fd < 0) {
        fprintf(stderr, "carom scoreboard: cannot listen on %s: %s\n", path, strerror(errno));
        return 1;
    }
    int hfd = -1;
    if (prom && (hfd = http_listen(prom)) < 0) {
        close(fd);
        unlink_ours(path);
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a reader (jq) that goes away ends us through EPIPE */
    bool tty = isatty(STDOUT_FILENO);
    if (prom)
        fprintf(stderr, "carom scoreboard: listening on %s, serving http://%s/metrics\n", path,
                prom);
    else if (json)
        fprintf(stderr, "carom scoreboard: listening on %s\n", path);
    if (table) print_table(stdout, path, tty);

    bool dirty = false, broken = false;
    uint64_t next_draw = mono_ms() + (uint64_t)interval;
    while (!stop && !broken) {
        struct pollfd p[2 + MAX_CLIENTS];
        struct client *who[2 + MAX_CLIENTS];
        nfds_t n = 0;
        p[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
        if (hfd >= 0) p[n++] = (struct pollfd){.fd = hfd, .events = POLLIN};
        uint64_t now = mono_ms();
        for (unsigned i = 0; i < MAX_CLIENTS; i++) {
            if (clients[i].fd < 0) continue;
            if (now - clients[i].since > CLIENT_MS) {
                client_close(&clients[i]);
                continue;
            }
            who[n] = &clients[i];
            p[n++] =
                (struct pollfd){.fd = clients[i].fd, .events = clients[i].out ? POLLOUT : POLLIN};
        }
        int timeout = table ? (int)(next_draw > now ? next_draw - now : 0) : 1000;
        int r = poll(p, n, timeout);
        if (r < 0 && errno != EINTR) break;
        if (r > 0 && (p[0].revents & POLLIN)) {
            /* Drain what is queued, bounded so HTTP clients and the table still get turns. */
            for (int k = 0; k < 4096; k++) {
                char msg[2048];
                ssize_t m = recv(fd, msg, sizeof msg - 1, MSG_DONTWAIT);
                if (m < 0) break;
                msg[m] = 0;
                /* --json passes each event on raw, one per line, as the shim sent it;
                 * what is not a carom event (a stray datagram) would only break the
                 * reader (jq), so it is counted and left out. */
                struct ev e;
                if ((size_t)m == strlen(msg) && !memchr(msg, '\n', (size_t)m) &&
                    parse_event(msg, &e)) {
                    account(&e);
                    dirty = true;
                    if (json) {
                        fwrite(msg, 1, (size_t)m, stdout);
                        fputc('\n', stdout);
                    }
                } else {
                    total_invalid++;
                }
            }
            if (json && (fflush(stdout) != 0 || ferror(stdout))) broken = true;
        }
        for (nfds_t i = 1; r > 0 && i < n; i++) {
            if (!p[i].revents) continue;
            if (p[i].fd == hfd)
                http_accept(hfd);
            else
                client_io(who[i], p[i].revents);
        }
        if (table && mono_ms() >= next_draw) {
            if (dirty || tty) print_table(stdout, path, tty);
            dirty = false;
            next_draw = mono_ms() + (uint64_t)interval;
        }
    }
    if (table) print_table(stdout, path, false);
    for (unsigned i = 0; i < MAX_CLIENTS; i++)
        if (clients[i].fd >= 0) client_close(&clients[i]);
    if (hfd >= 0) close(hfd);
    close(fd);
    unlink_ours(path);
    return 0;
}
