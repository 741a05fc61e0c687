/* fuzz_bucket.c: libFuzzer target for the token bucket and the lease array from any
 * starting word (a scribbled slot) under any config and any sequence of clock readings:
 * the bucket never holds more than its burst, a reservation never waits past the wait it
 * was given, a refusal's wait stays within the documented bound, reservations at one
 * instant queue in order, and leases never exceed max or free another holder's record.
 * It must never write files or print. */
#include "../../core/carom_core.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t take_bytes(const uint8_t **d, size_t *n, size_t k)
{
    uint64_t v = 0;
    for (size_t i = 0; i < k && *n; i++, (*d)++, (*n)--)
        v |= (uint64_t) * *d << (8 * i);
    return v;
}

static bool odd_alive(uint32_t h, void *ctx)
{
    (void)ctx;
    return carom_lease_pid(h) & 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    carom_bucket b;
    atomic_store(&b.word, take_bytes(&data, &size, 8));
    carom_bucket_cfg cfg = {.rate_per_s = (uint32_t)take_bytes(&data, &size, 3),
                            .burst = (uint32_t)take_bytes(&data, &size, 2),
                            .max_wait_ms = (uint32_t)take_bytes(&data, &size, 3)};
    uint32_t rate = cfg.rate_per_s < 1                       ? 1
                    : cfg.rate_per_s > CAROM_BUCKET_RATE_MAX ? CAROM_BUCKET_RATE_MAX
                                                             : cfg.rate_per_s;
    uint32_t burst = cfg.burst < 1                        ? 1
                     : cfg.burst > CAROM_BUCKET_BURST_MAX ? CAROM_BUCKET_BURST_MAX
                                                          : cfg.burst;
    uint64_t now = take_bytes(&data, &size, 8);
    uint64_t last_now = now + 1;
    uint32_t last_wait = 0;
    while (size >= 4) {
        now += take_bytes(&data, &size, 2) % 5000;
        uint32_t max_wait = (uint32_t)take_bytes(&data, &size, 2) * 16;
        uint32_t wait = 0;
        if (carom_bucket_tokens(&b, &cfg, now) > burst) abort();
        bool ok = carom_bucket_take(&b, &cfg, now, max_wait, &wait);
        uint32_t bound = max_wait < cfg.max_wait_ms ? max_wait : cfg.max_wait_ms;
        if (ok && wait > bound) abort();
        if (!ok && wait < 1) abort();
        if (!ok && (uint64_t)wait > CAROM_BUCKET_SLACK_MS + (uint64_t)cfg.max_wait_ms +
                                        2 * (1000 / rate + 1) + 1)
            abort();
        if (ok && now == last_now && wait < last_wait) abort(); /* the queue keeps order */
        if (ok) {
            last_now = now;
            last_wait = wait;
        }
    }

    /* Leases from the same input: a scribbled array, takes and releases. */
    carom_leases l;
    memset(&l, 0, sizeof l);
    for (unsigned i = 0; i < CAROM_LEASES_MAX && size >= 4; i++)
        atomic_store(&l.holder[i], (uint32_t)take_bytes(&data, &size, 4));
    unsigned max = 1 + (unsigned)(take_bytes(&data, &size, 1) % CAROM_LEASES_MAX);
    const uint32_t me = carom_lease_holder(2, 5); /* an even pid: "alive" says no to odd */
    int held[CAROM_LEASES_MAX];
    unsigned nheld = 0;
    for (unsigned k = 0; k < 2 * CAROM_LEASES_MAX; k++) {
        int i = carom_leases_take(&l, max, me, odd_alive, NULL);
        if (i >= 0) {
            if ((unsigned)i >= max || atomic_load(&l.holder[i]) != me) abort();
            held[nheld++] = i;
        }
        if (nheld > max) abort();
        if (carom_leases_count(&l, max) > max) abort();
    }
    for (unsigned k = 0; k < nheld; k++)
        if (!carom_leases_release(&l, held[k], me)) abort();
    for (unsigned i = 0; i < CAROM_LEASES_MAX; i++)
        if (atomic_load(&l.holder[i]) == me) abort();
    return 0;
}
