/* chaos.c: decides when to inject a fault, reproducibly. Each decision is a hash of the
 * seed, the fault kind, the endpoint and how many times this process has asked about that
 * fault for that endpoint, so a seeded run replays exactly, whatever other threads do to
 * other endpoints. It must never inject anything itself (callers do, at the real-call
 * boundary) and never decide differently for the same seed, endpoint and count. */
#include "carom_shim.h"

#include <stdio.h>
#include <string.h>

#define COUNTERS 4096
static _Atomic uint64_t counters[COUNTERS];

static const char *const fault_names[CAROM_F__N] = {
    [CAROM_F_CONNECT_REFUSE] = "connect_refuse", [CAROM_F_CONNECT_TIMEOUT] = "connect_timeout",
    [CAROM_F_DNS_FAIL] = "dns_fail",             [CAROM_F_RESET] = "reset",
    [CAROM_F_LATENCY] = "latency",               [CAROM_F_SHORT_WRITE] = "short_write",
    [CAROM_F_HTTP_STATUS] = "http_status",
};

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t str_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

uint64_t carom__chaos_draw(enum carom_fault kind, const char *endpoint)
{
    uint64_t key = mix(str_hash(endpoint) ^ ((uint64_t)kind << 56));
    uint64_t n = atomic_fetch_add_explicit(&counters[key % COUNTERS], 1, memory_order_relaxed);
    return mix(carom__g.chaos_seed ^ key ^ mix(n + 1));
}

bool carom__chaos(const carom_policy *p, enum carom_fault kind, double prob, const char *endpoint,
                  const char *call, uint64_t *draw)
{
    if (!(prob > 0) || !carom__g.chaos_on)
        return false;
    uint64_t d = carom__chaos_draw(kind, endpoint);
    /* The top 53 bits as a fraction in [0, 1). */
    bool hit = (double)(d >> 11) * 0x1.0p-53 < prob;
    if (draw)
        *draw = mix(d);
    if (hit) {
        char detail[80];
        snprintf(detail, sizeof detail, "%s seed=%llu", fault_names[kind],
                 (unsigned long long)carom__g.chaos_seed);
        struct carom_event ev = {.event = "chaos", .policy = p->name, .endpoint = endpoint,
                                 .call = call, .delay_ms = -1, .elapsed_ms = -1,
                                 .error = fault_names[kind], .detail = detail};
        carom__emit(&ev);
    }
    return hit;
}

bool carom__chaos_io(const carom_policy *p)
{
    return carom__g.chaos_on &&
           (p->chaos.reset > 0 || (p->chaos.latency > 0 && p->chaos.latency_ms) ||
            p->chaos.short_write > 0);
}

void carom__chaos_latency(const carom_policy *p, const char *endpoint, const char *call)
{
    if (p->chaos.latency_ms && carom__chaos(p, CAROM_F_LATENCY, p->chaos.latency, endpoint, call, NULL))
        carom__sleep_ms(p->chaos.latency_ms);
}
