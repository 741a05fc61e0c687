/* bench_policy.c: measures carom_policy_match, the look-up the shim makes for every
 * connect, with 1,000 policies of every pattern form and with 10, so that flatness shows.
 * Prints `name value unit` lines for bench/run.sh. It must never allocate inside the timed
 * loop, and never report loop overhead it could have subtracted. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../policy/carom_policy.h"

#define REPS 7
#define QUERIES 64

/* Makes x observable: the compiler must compute it and cannot hoist loads past it. */
#define KEEP(x) __asm__ __volatile__("" : : "r"(x) : "memory")

typedef struct query {
    const char *host; /* NULL: address only, as for a connect() to an unnamed peer */
    struct sockaddr_storage addr;
    bool has_addr;
    uint16_t port;
} query;

static char hosts[QUERIES][96];
static query q[QUERIES];

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

/* The five pattern forms in turn: exact host:port, host (any port), *.domain:port,
 * cidr:port (as a /24) and ip:port. */
static char *make_config(int n, size_t *len)
{
    size_t cap = (size_t)n * 96 + 64, o = 0;
    char *t = malloc(cap);
    if (!t) exit(1);
    for (int i = 0; i < n; i++) {
        const char *fmt[] = {
            "[p%d]\nmatch = h%d.example.com:%d\n", "[p%d]\nmatch = h%d.example.net\n",
            "[p%d]\nmatch = *.z%d.example.org:443\n", "[p%d]\nmatch = 10.%d.%d.0/24:80\n",
            "[p%d]\nmatch = 172.16.%d.%d:5432\n"};
        switch (i % 5) {
        case 0:
            o += (size_t)snprintf(t + o, cap - o, fmt[0], i, i, 1000 + i);
            break;
        case 1:
        case 2:
            o += (size_t)snprintf(t + o, cap - o, fmt[i % 5], i, i);
            break;
        default:
            o += (size_t)snprintf(t + o, cap - o, fmt[i % 5], i, i / 256, i % 256);
        }
    }
    *len = o;
    return t;
}

static void set_v4(query *x, const char *ip)
{
    struct sockaddr_in *a = (struct sockaddr_in *)&x->addr;
    memset(&x->addr, 0, sizeof x->addr);
    a->sin_family = AF_INET;
    inet_pton(AF_INET, ip, &a->sin_addr);
    x->has_addr = true;
}

/* A realistic mix for a table of n: hits at every level (names come with their address,
 * as the shim passes both), and misses that walk every level down to [defaults]. */
static void make_queries(int n)
{
    char ip[32];
    for (int k = 0; k < QUERIES; k++) {
        query *x = &q[k];
        memset(x, 0, sizeof *x);
        int i = (k * 7919) % n;
        switch (k % 6) {
        case 0:
            snprintf(hosts[k], sizeof hosts[k], "h%d.example.com", i - i % 5);
            x->port = (uint16_t)(1000 + i - i % 5);
            set_v4(x, "192.0.2.10");
            break;
        case 1:
            snprintf(hosts[k], sizeof hosts[k], "h%d.example.net", i - i % 5 + 1);
            x->port = 443;
            set_v4(x, "192.0.2.11");
            break;
        case 2:
            snprintf(hosts[k], sizeof hosts[k], "api.eu.z%d.example.org", i - i % 5 + 2);
            x->port = 443;
            set_v4(x, "192.0.2.12");
            break;
        case 3: {
            int j = i - i % 5 + 3;
            if (j >= n) j = 3;
            snprintf(ip, sizeof ip, "10.%d.%d.77", j / 256, j % 256);
            set_v4(x, ip);
            x->port = 80;
            break;
        }
        case 4: {
            int j = i - i % 5 + 4;
            if (j >= n) j = 4;
            snprintf(ip, sizeof ip, "172.16.%d.%d", j / 256, j % 256);
            set_v4(x, ip);
            x->port = 5432;
            break;
        }
        default:
            snprintf(hosts[k], sizeof hosts[k], "www.nobody%d.example.info", k);
            set_v4(x, "198.51.100.7");
            x->port = 8080;
        }
        x->host = hosts[k][0] ? hosts[k] : NULL;
    }
}

static double run_baseline(long n)
{
    double t = now_ns();
    for (long i = 0; i < n; i++) {
        const query *x = &q[i & (QUERIES - 1)];
        KEEP(x->host);
        KEEP(x->port);
    }
    return (now_ns() - t) / (double)n;
}

static double run_match(const carom_table *t, long n)
{
    double s = now_ns();
    for (long i = 0; i < n; i++) {
        const query *x = &q[i & (QUERIES - 1)];
        const carom_policy *p = carom_policy_match(
            t, x->host, x->has_addr ? (const struct sockaddr *)&x->addr : NULL, x->port);
        KEEP(p);
    }
    return (now_ns() - s) / (double)n;
}

static double measure(int npolicies)
{
    size_t len;
    char *text = make_config(npolicies, &len);
    carom_table *t = carom_policy_parse(text, len, "bench.ini", NULL, NULL);
    free(text);
    if (!t || carom_policy_count(t) != (size_t)npolicies + 1) {
        fprintf(stderr, "bench_policy: the %d-policy table did not load\n", npolicies);
        exit(1);
    }
    make_queries(npolicies);
    /* every query must land where it should, or the figure measures the wrong path */
    for (int k = 0; k < QUERIES; k++) {
        const carom_policy *p = carom_policy_match(
            t, q[k].host, q[k].has_addr ? (const struct sockaddr *)&q[k].addr : NULL, q[k].port);
        if ((k % 6 == 5) != (p->index == 0)) {
            fprintf(stderr, "bench_policy: query %d (%s) matched %s\n", k,
                    q[k].host ? q[k].host : "(addr)", p->name);
            exit(1);
        }
    }
    const long n = 2000000;
    double net[REPS];
    run_match(t, n / 10); /* warm caches and branch predictors */
    for (int r = 0; r < REPS; r++) {
        double base = run_baseline(n);
        net[r] = run_match(t, n) - base;
    }
    qsort(net, REPS, sizeof net[0], cmp_double);
    carom_policy_free(t);
    return net[REPS / 2] > 0 ? net[REPS / 2] : 0.0;
}

int main(void)
{
    double big = measure(1000), small = measure(10);
    printf("policy_lookup_ns %.1f ns\n", big);
    printf("policy_lookup_10_ns %.1f ns\n", small);
    return 0;
}
