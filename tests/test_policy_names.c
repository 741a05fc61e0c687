/* test_policy_names.c: the learned address -> name table: basic learning, ageing, the
 * bound, and many writers and readers at once with no torn name ever read. It must never
 * pass on luck: the threaded test checks every single read against what was written. */
#include <criterion/criterion.h>

#include "../policy/carom_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static struct sockaddr_in v4(uint32_t a)
{
    struct sockaddr_in s;
    memset(&s, 0, sizeof s);
    s.sin_family = AF_INET;
    s.sin_addr.s_addr = htonl(a);
    s.sin_port = htons(443);
    return s;
}

Test(policy_names, learn_and_look_up)
{
    carom_names *n = carom_names_new();
    cr_assert_not_null(n);
    struct sockaddr_in a = v4(0x0a000001), b = v4(0x0a000002);
    char buf[CAROM_HOST_MAX];
    cr_assert(!carom_names_lookup(n, (struct sockaddr *)&a, 0, 1000, buf, sizeof buf));
    carom_names_learn(n, "api.example.com", (struct sockaddr *)&a, 100);
    cr_assert(carom_names_lookup(n, (struct sockaddr *)&a, 100, 1000, buf, sizeof buf));
    cr_assert_str_eq(buf, "api.example.com");
    cr_assert(!carom_names_lookup(n, (struct sockaddr *)&b, 100, 1000, buf, sizeof buf));
    /* the port is ignored */
    a.sin_port = htons(80);
    cr_assert(carom_names_lookup(n, (struct sockaddr *)&a, 100, 1000, buf, sizeof buf));
    /* the most recent name wins */
    carom_names_learn(n, "other.example.com", (struct sockaddr *)&a, 200);
    cr_assert(carom_names_lookup(n, (struct sockaddr *)&a, 200, 1000, buf, sizeof buf));
    cr_assert_str_eq(buf, "other.example.com");
    carom_names_free(n);
}

Test(policy_names, entries_age_out)
{
    carom_names *n = carom_names_new();
    struct sockaddr_in a = v4(0x0a000001);
    char buf[CAROM_HOST_MAX];
    carom_names_learn(n, "old.example.com", (struct sockaddr *)&a, 1000);
    cr_assert(carom_names_lookup(n, (struct sockaddr *)&a, 1500, 500, buf, sizeof buf));
    cr_assert(!carom_names_lookup(n, (struct sockaddr *)&a, 1501, 500, buf, sizeof buf));
    carom_names_free(n);
}

Test(policy_names, ipv6_and_mapped_ipv4)
{
    carom_names *n = carom_names_new();
    struct sockaddr_in6 a6, m6;
    memset(&a6, 0, sizeof a6);
    a6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "fd00::7", &a6.sin6_addr);
    m6 = a6;
    inet_pton(AF_INET6, "::ffff:10.0.0.9", &m6.sin6_addr);
    struct sockaddr_in a4 = v4(0x0a000009);
    char buf[CAROM_HOST_MAX];
    carom_names_learn(n, "six.example.com", (struct sockaddr *)&a6, 1);
    carom_names_learn(n, "four.example.com", (struct sockaddr *)&m6, 1);
    cr_assert(carom_names_lookup(n, (struct sockaddr *)&a6, 1, 10, buf, sizeof buf));
    cr_assert_str_eq(buf, "six.example.com");
    /* learned through a mapped address, found through the plain IPv4 one */
    cr_assert(carom_names_lookup(n, (struct sockaddr *)&a4, 1, 10, buf, sizeof buf));
    cr_assert_str_eq(buf, "four.example.com");
    carom_names_free(n);
}

Test(policy_names, refuses_what_it_cannot_hold_whole)
{
    carom_names *n = carom_names_new();
    struct sockaddr_in a = v4(0x0a000001);
    char big[CAROM_HOST_MAX + 10], buf[8];
    memset(big, 'a', sizeof big);
    big[sizeof big - 1] = '\0';
    carom_names_learn(n, big, (struct sockaddr *)&a, 1);
    cr_assert(!carom_names_lookup(n, (struct sockaddr *)&a, 1, 10, buf, sizeof buf));
    carom_names_learn(n, "longer.than.eight", (struct sockaddr *)&a, 1);
    cr_assert(!carom_names_lookup(n, (struct sockaddr *)&a, 1, 10, buf, sizeof buf));
    carom_names_learn(n, "short", (struct sockaddr *)&a, 1);
    cr_assert(carom_names_lookup(n, (struct sockaddr *)&a, 1, 10, buf, sizeof buf));
    cr_assert_str_eq(buf, "short");
    struct sockaddr unix_sa = {.sa_family = AF_UNIX};
    carom_names_learn(n, "x", &unix_sa, 1); /* ignored, no crash */
    cr_assert(!carom_names_lookup(n, &unix_sa, 1, 10, buf, sizeof buf));
    carom_names_free(n);
}

Test(policy_names, bounded_with_the_oldest_replaced)
{
    carom_names *n = carom_names_new();
    char buf[CAROM_HOST_MAX], name[64];
    for (uint32_t i = 0; i < 4 * CAROM_NAMES_SLOTS; i++) {
        struct sockaddr_in a = v4(0x0a000000 + i);
        snprintf(name, sizeof name, "h%u.example.com", i);
        carom_names_learn(n, name, (struct sockaddr *)&a, i);
    }
    unsigned found = 0, newest_found = 0;
    for (uint32_t i = 0; i < 4 * CAROM_NAMES_SLOTS; i++) {
        struct sockaddr_in a = v4(0x0a000000 + i);
        if (carom_names_lookup(n, (struct sockaddr *)&a, i, UINT64_MAX, buf, sizeof buf)) {
            snprintf(name, sizeof name, "h%u.example.com", i);
            cr_assert_str_eq(buf, name);
            found++;
            if (i >= 3 * CAROM_NAMES_SLOTS) newest_found++;
        }
    }
    cr_assert_leq(found, CAROM_NAMES_SLOTS);
    /* the recent ones survive far better than the old ones */
    cr_assert_geq(newest_found, CAROM_NAMES_SLOTS / 2, "newest kept: %u", newest_found);
    carom_names_free(n);
}

/* ---- many threads ------------------------------------------------------------------- */

/* Three quarters of the traffic go to 8 hot addresses, so readers and writers meet on the same
 * entries all the time (a tear needs that); the rest spreads over twice as many addresses
 * as there are slots, so writers also keep evicting each other. */
#define ADDRS 2048
#define HOT 8
#define WRITERS 4
#define READERS 4
#define ROUNDS 150000

static carom_names *shared;
static atomic_bool stop;
static atomic_long reads_ok, reads_torn;

/* A name that proves its own integrity: address, writer, then filler from the writer, then
 * a checksum over everything before it. A torn copy mixes two writes and fails. */
static void make_name(char *out, uint32_t addr, unsigned writer, unsigned round)
{
    int n = snprintf(out, 200, "a%u-w%u-r%u-", addr, writer, round);
    for (int i = n; i < 180; i++)
        out[i] = (char)('a' + writer);
    unsigned sum = 0;
    for (int i = 0; i < 180; i++)
        sum = sum * 31 + (unsigned char)out[i];
    snprintf(out + 180, 20, ".%08x", sum);
}

static bool name_ok(const char *s, uint32_t addr)
{
    char want[16];
    snprintf(want, sizeof want, "a%u-", addr);
    if (strncmp(s, want, strlen(want)) != 0 || strlen(s) != 189) return false;
    unsigned w, r;
    if (sscanf(s + strlen(want), "w%u-r%u-", &w, &r) != 2 || w >= WRITERS) return false;
    char again[200];
    make_name(again, addr, w, r);
    return strcmp(again, s) == 0;
}

static void *writer(void *arg)
{
    unsigned w = (unsigned)(uintptr_t)arg;
    char name[200];
    uint32_t x = 12345u + w;
    for (unsigned r = 0; r < ROUNDS; r++) {
        x = x * 1103515245u + 12345u;
        uint32_t addr = (x >> 8) % ((x >> 30) ? HOT : ADDRS);
        struct sockaddr_in a = v4(0x0a000000 + addr);
        make_name(name, addr, w, r);
        carom_names_learn(shared, name, (struct sockaddr *)&a, r);
    }
    return NULL;
}

static void *reader(void *arg)
{
    uint32_t x = 777u + (uint32_t)(uintptr_t)arg;
    char buf[CAROM_HOST_MAX];
    while (!atomic_load(&stop)) {
        x = x * 1103515245u + 12345u;
        uint32_t addr = (x >> 8) % ((x >> 30) ? HOT : ADDRS);
        struct sockaddr_in a = v4(0x0a000000 + addr);
        if (carom_names_lookup(shared, (struct sockaddr *)&a, 0, UINT64_MAX, buf, sizeof buf)) {
            if (name_ok(buf, addr))
                atomic_fetch_add(&reads_ok, 1);
            else
                atomic_fetch_add(&reads_torn, 1);
        }
    }
    return NULL;
}

Test(policy_names, writers_and_readers_never_see_a_torn_name, .timeout = 120)
{
    shared = carom_names_new();
    cr_assert_not_null(shared);
    pthread_t w[WRITERS], r[READERS];
    for (unsigned i = 0; i < READERS; i++)
        cr_assert_eq(pthread_create(&r[i], NULL, reader, (void *)(uintptr_t)i), 0);
    for (unsigned i = 0; i < WRITERS; i++)
        cr_assert_eq(pthread_create(&w[i], NULL, writer, (void *)(uintptr_t)i), 0);
    for (unsigned i = 0; i < WRITERS; i++)
        pthread_join(w[i], NULL);
    atomic_store(&stop, true);
    for (unsigned i = 0; i < READERS; i++)
        pthread_join(r[i], NULL);
    cr_assert_eq(atomic_load(&reads_torn), 0, "torn names read: %ld",
                 (long)atomic_load(&reads_torn));
    cr_assert_gt(atomic_load(&reads_ok), 0, "readers never found a name");
    /* after the storm every entry still holds a whole name for its own address */
    char buf[CAROM_HOST_MAX];
    for (uint32_t i = 0; i < ADDRS; i++) {
        struct sockaddr_in a = v4(0x0a000000 + i);
        if (carom_names_lookup(shared, (struct sockaddr *)&a, 0, UINT64_MAX, buf, sizeof buf))
            cr_assert(name_ok(buf, i), "addr %u: %s", i, buf);
    }
    carom_names_free(shared);
}
