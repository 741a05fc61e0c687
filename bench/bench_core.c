/* bench_core.c: measures the engine's hot paths (closed allow, open reject, record, bounce,
 * budget, token bucket, PRNG) and prints one `name value unit` line per figure for bench/run.sh. It must
 * never report a figure that includes loop overhead it could have subtracted, or let the
 * compiler delete the work it claims to time. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../core/carom_core.h"

#define REPS 5

/* Makes x observable without a store: the compiler must compute it, and the empty
 * "memory" clobber keeps it from hoisting loads of the structures out of the loop. */
#define KEEP(x) __asm__ __volatile__("" : : "r"(x) : "memory")

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v)
{
    qsort(v, REPS, sizeof *v, cmp_double);
    return v[REPS / 2];
}

static carom_cushion closed_c, open_c, record_c;
static carom_budget budget;
static const carom_cushion_cfg ccfg = {
    .failures = 5, .window = 10, .probes = 1, .half_open_ms = 30000};
static const carom_bounce_cfg bcfg = {.base_ms = 100, .cap_ms = 30000};
static const carom_budget_cfg gcfg = {.permille = 200, .min_per_s = 1000000};
static const uint64_t T0 = 1000000000; /* a monotonic ms reading, 11.5 days after boot */

static double run_baseline(long n)
{
    double t = now_ns();
    for (long i = 0; i < n; i++)
        KEEP(i);
    return (now_ns() - t) / (double)n;
}

static double run_allow_closed(long n)
{
    carom_ticket tk;
    double t = now_ns();
    for (long i = 0; i < n; i++) {
        carom_verdict v = carom_cushion_allow(&closed_c, &ccfg, T0, &tk);
        KEEP(v);
        KEEP(tk);
    }
    return (now_ns() - t) / (double)n;
}

static double run_reject_open(long n)
{
    carom_ticket tk;
    double t = now_ns();
    for (long i = 0; i < n; i++) {
        carom_verdict v = carom_cushion_allow(&open_c, &ccfg, T0 + 1, &tk);
        KEEP(v);
        KEEP(tk);
    }
    return (now_ns() - t) / (double)n;
}

static double run_record(long n)
{
    carom_ticket tk;
    carom_cushion_allow(&record_c, &ccfg, T0, &tk);
    double t = now_ns();
    for (long i = 0; i < n; i++) {
        /* A busy endpoint: about a thousand outcomes per millisecond, all successes. */
        int r = carom_cushion_record(&record_c, &ccfg, T0 + (uint64_t)(i >> 10), tk, true);
        KEEP(r);
    }
    return (now_ns() - t) / (double)n;
}

/* A whole shot that succeeds at its first attempt, as every healthy connect runs it:
 * begin, the cushion's word, the budget's deposit, the report and the one outcome. */
static carom_cushion shot_c;
static carom_budget shot_b;
static carom_herd shot_h;
static double run_shot(long n)
{
    carom_rng r;
    carom_rng_seed(&r, 1);
    const carom_shot_cfg cfg = {.bounce = &bcfg, .cushion = &ccfg, .budget = &gcfg, .retries = 3,
                                .attempt_ms = 2000, .jitter_ms = 50};
    const carom_shot_env env = {.cushion = &shot_c, .budget = &shot_b, .herd = &shot_h};
    double t = now_ns();
    for (long i = 0; i < n; i++) {
        carom_shot s;
        uint64_t now = T0 + (uint64_t)(i >> 10);
        carom_shot_begin(&s, &cfg, &env, now);
        carom_shot_step st = carom_shot_next(&s, now, &r);
        carom_shot_report(&s, now, CAROM_RESULT_OK);
        bool wake;
        int tr = carom_shot_end(&s, now, true, &wake);
        KEEP(st.act);
        KEEP(tr);
    }
    return (now_ns() - t) / (double)n;
}

static double run_bounce(long n)
{
    carom_rng r;
    carom_rng_seed(&r, 1);
    carom_bounce b;
    carom_bounce_init(&b, &bcfg);
    double t = now_ns();
    for (long i = 0; i < n; i++) {
        uint32_t d = carom_bounce_next(&b, &bcfg, &r);
        KEEP(d);
    }
    return (now_ns() - t) / (double)n;
}

static double run_budget(long n)
{
    carom_budget_init(&budget);
    double t = now_ns();
    for (long i = 0; i < n; i++) {
        bool ok = carom_budget_try_retry(&budget, &gcfg, T0 + (uint64_t)(i >> 10));
        KEEP(ok);
    }
    return (now_ns() - t) / (double)n;
}

/* A take that succeeds each time: 1000 tokens a ms refill faster than the loop drains
 * (time advances 1 ms per 512 takes), so every call does a refill and a CAS. */
static carom_bucket bucket;
static const carom_bucket_cfg kcfg = {.rate_per_s = 1000000, .burst = 65535, .max_wait_ms = 1000};

static double run_bucket(long n)
{
    carom_bucket_init(&bucket);
    double t = now_ns();
    for (long i = 0; i < n; i++) {
        uint32_t wait;
        bool ok = carom_bucket_take(&bucket, &kcfg, T0 + (uint64_t)(i >> 9), 0, &wait);
        if (!ok) abort(); /* the figure would be of refusals, not takes */
        KEEP(ok);
    }
    return (now_ns() - t) / (double)n;
}

/* A lease taken and given back: the bulkhead's cost per connection. */
static carom_leases leases;

static double run_leases(long n)
{
    carom_leases_init(&leases);
    const uint32_t me = carom_lease_holder(4242, 7);
    double t = now_ns();
    for (long i = 0; i < n; i++) {
        int idx = carom_leases_take(&leases, 8, me, NULL, NULL);
        bool ok = carom_leases_release(&leases, idx, me);
        KEEP(ok);
    }
    return (now_ns() - t) / (double)n;
}

static double run_rng(long n)
{
    carom_rng r;
    carom_rng_seed(&r, 1);
    double t = now_ns();
    for (long i = 0; i < n; i++) {
        uint64_t x = carom_rng_next(&r);
        KEEP(x);
    }
    return (now_ns() - t) / (double)n;
}

static double med(double (*fn)(long), long n)
{
    double v[REPS];
    fn(n / 10); /* warm caches, branch predictors and the CPU's clock */
    for (int i = 0; i < REPS; i++)
        v[i] = fn(n);
    return median(v);
}

static void put(const char *name, double ns, double base)
{
    double net = ns - base;
    printf("%s %.2f ns\n", name, net > 0 ? net : 0.0);
}

int main(void)
{
    const long n = 20000000;
    carom_cushion_init(&closed_c);
    carom_cushion_init(&open_c);
    carom_cushion_init(&record_c);
    for (int i = 0; i < 10; i++) {
        carom_ticket tk;
        carom_cushion_allow(&open_c, &ccfg, T0, &tk);
        carom_cushion_record(&open_c, &ccfg, T0, tk, false);
    }
    carom_cushion_view view;
    carom_cushion_peek(&open_c, &ccfg, T0 + 1, &view);
    if (view.mode != CAROM_CUSHION_OPEN) {
        fprintf(stderr, "bench_core: the open cushion did not open\n");
        return 1;
    }

    double base = med(run_baseline, n);
    printf("loop_baseline_ns %.2f ns\n", base);
    put("cushion_allow_closed_ns", med(run_allow_closed, n), base);
    put("cushion_reject_open_ns", med(run_reject_open, n), base);
    put("cushion_record_ns", med(run_record, n / 2), base);
    put("shot_first_attempt_ok_ns", med(run_shot, n / 4), base);
    put("bounce_next_delay_ns", med(run_bounce, n / 2), base);
    put("budget_try_retry_ns", med(run_budget, n / 2), base);
    put("bucket_take_ns", med(run_bucket, n / 2), base);
    put("lease_take_release_ns", med(run_leases, n / 4), base);
    put("rng_next_ns", med(run_rng, n), base);
    return 0;
}
