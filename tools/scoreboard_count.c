/* scoreboard_count.c: the counters `carom scoreboard` keeps, per (policy, endpoint) series
 * and per policy. It must stay bounded: the command allocates MAX_SERIES series (plus one
 * "other" series per policy, where later endpoints are counted) and MAX_POLICIES rows once,
 * and nothing here allocates. */
#include "scoreboard_int.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

const double carom__sb_buckets[NB] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                      1,     2.5,  5,     10,   30,  60};
const char *const carom__sb_kinds[NKINDS] = {
    "shot",         "retry",        "open",         "half_open",        "close",
    "timeout",      "pocket",       "stale_dns",    "budget_exhausted", "chaos",
    "config_error", "rate_limited", "bulkhead_full"};
_Static_assert(sizeof carom__sb_kinds / sizeof carom__sb_kinds[0] == NKINDS, "NKINDS");

struct carom__sb_series *carom__sb_series;
unsigned carom__sb_nseries;
int32_t *carom__sb_index_of;
struct carom__sb_policy_row *carom__sb_rows;
unsigned carom__sb_nrows;
uint64_t carom__sb_total_events, carom__sb_total_invalid, carom__sb_total_dropped;

static uint64_t str_hash(const char *a, const char *b)
{
    /* 0xff never occurs in UTF-8 text: ("ab","c") and ("a","bc") hash apart. */
    static const unsigned char sep = 0xff;
    uint64_t h = carom_fnv1a(CAROM_FNV1A_INIT, a, strlen(a));
    h = carom_fnv1a(h, &sep, 1);
    return carom_fnv1a(h, b, strlen(b));
}

static struct carom__sb_series *find_or_add(const char *policy, const char *endpoint,
                                            unsigned limit)
{
    uint64_t h = str_hash(policy, endpoint);
    for (unsigned i = 0; i < HASH_SLOTS; i++) {
        int32_t *slot = &carom__sb_index_of[(h + i) % HASH_SLOTS];
        if (*slot < 0) {
            if (carom__sb_nseries >= limit) return NULL;
            struct carom__sb_series *s = &carom__sb_series[carom__sb_nseries];
            memset(s, 0, sizeof *s);
            snprintf(s->policy, sizeof s->policy, "%s", policy);
            snprintf(s->endpoint, sizeof s->endpoint, "%s", endpoint);
            *slot = (int32_t)carom__sb_nseries++;
            return s;
        }
        struct carom__sb_series *s = &carom__sb_series[*slot];
        if (strcmp(s->policy, policy) == 0 && strcmp(s->endpoint, endpoint) == 0) return s;
    }
    return NULL;
}

/* Past MAX_SERIES, a policy's further endpoints share one series, endpoint "other" (room
 * for one per policy is kept). */
static struct carom__sb_series *series_for(const char *policy, const char *endpoint)
{
    struct carom__sb_series *s = find_or_add(policy, endpoint, MAX_SERIES);
    return s ? s : find_or_add(policy, "other", MAX_SERIES + MAX_POLICIES);
}

static struct carom__sb_policy_row *row_for(const char *policy)
{
    for (unsigned i = 0; i < carom__sb_nrows; i++)
        if (strcmp(carom__sb_rows[i].name, policy) == 0) return &carom__sb_rows[i];
    if (carom__sb_nrows >= MAX_POLICIES) return NULL;
    struct carom__sb_policy_row *r = &carom__sb_rows[carom__sb_nrows++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", policy);
    return r;
}

static void count_named(struct carom__sb_named_count *v, unsigned max, const char *name)
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

static void observe(struct carom__sb_hist *h, double seconds)
{
    unsigned i = 0;
    while (i < NB && seconds > carom__sb_buckets[i])
        i++;
    if (i < NB) h->b[i]++;
    h->count++;
    h->sum += seconds;
}

void carom__sb_account(const struct carom__sb_event *e)
{
    carom__sb_total_events++;
    if (e->dropped > 0) carom__sb_total_dropped += (uint64_t)e->dropped;
    const char *policy = e->policy[0] ? e->policy : "-";
    const char *endpoint = e->endpoint[0] ? e->endpoint : "-";
    struct carom__sb_series *s = series_for(policy, endpoint);
    struct carom__sb_policy_row *r = row_for(policy);
    unsigned k = 0;
    while (k < NKINDS && strcmp(carom__sb_kinds[k], e->event) != 0)
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
        r->last_error_at = carom__mono_ms();
    }
}
