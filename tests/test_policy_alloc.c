/* test_policy_alloc.c: carom_policy_match and carom_names_lookup/learn never allocate, so
 * the shim may call them anywhere (inside malloc-sensitive code, signal-heavy programs).
 * It counts through malloc/calloc/realloc/free defined here, which forward to glibc's own
 * entry points and count only while this thread asks; under a sanitizer, which owns the
 * allocator, it must never replace malloc, and the test then checks results only. */
#include <criterion/criterion.h>

#include "../policy/carom_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CAROM_NO_MALLOC_HOOK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define CAROM_NO_MALLOC_HOOK 1
#endif
#endif

/* volatile: the compiler assumes malloc reads no global of ours, and would otherwise drop
 * "counting = 1" as a dead store before the calls it is meant to cover. */
static _Thread_local volatile int counting;
static volatile long allocations;

#ifndef CAROM_NO_MALLOC_HOOK
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

void *malloc(size_t n)
{
    if (counting) allocations++;
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
    if (counting) allocations++;
    return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
    if (counting) allocations++;
    return __libc_realloc(p, n);
}

void free(void *p)
{
    if (counting && p) allocations++;
    __libc_free(p);
}
#endif

static const char cfg[] = "[hp]\nmatch = api.example.com:443\n"
                          "[h]\nmatch = db.example.com\n"
                          "[w]\nmatch = *.pay.example.com:443, *.example.org\n"
                          "[c]\nmatch = 10.1.0.0/16:8443, [fd00::/8]:443\n"
                          "[a]\nmatch = 192.0.2.7:80, [::1]:6379\n"
                          "[p]\nmatch = *:11211\n";

Test(policy_alloc, the_alloc_counter_works)
{
#ifndef CAROM_NO_MALLOC_HOOK /* else a sanitizer owns malloc: nothing to check here */
    counting = 1;
    void *volatile p = malloc(16);
    free(p);
    counting = 0;
    cr_assert_eq(allocations, 2, "the counting malloc is not in use");
    allocations = 0;
#endif
}

Test(policy_alloc, lookups_never_allocate)
{
    carom_table *t = carom_policy_parse(cfg, sizeof cfg - 1, "a.ini", NULL, NULL);
    cr_assert_not_null(t);
    carom_names *names = carom_names_new();
    cr_assert_not_null(names);
    struct sockaddr_in v4;
    memset(&v4, 0, sizeof v4);
    v4.sin_family = AF_INET;
    inet_pton(AF_INET, "10.1.3.4", &v4.sin_addr);
    struct sockaddr_in6 v6;
    memset(&v6, 0, sizeof v6);
    v6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "fd00::9", &v6.sin6_addr);
    static const char *const hosts[] = {
        "api.example.com", "db.example.com", "a.b.pay.example.com", "x.example.org",
        "10.1.2.3",        "[::1]",          "nobody.example",      NULL};
    const char *seen[8 * 3 * 2];
    int k = 0;
    char buf[CAROM_HOST_MAX];

    allocations = 0;
    counting = 1;
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 3; j++) {
            uint16_t port = j == 0 ? 443 : j == 1 ? 8443 : 11211;
            seen[k++] = carom_policy_match(t, hosts[i], (struct sockaddr *)&v4, port)->name;
            seen[k++] = carom_policy_match(t, hosts[i], (struct sockaddr *)&v6, port)->name;
        }
    carom_names_learn(names, "api.example.com", (struct sockaddr *)&v4, 1);
    bool found = carom_names_lookup(names, (struct sockaddr *)&v4, 1, 10, buf, sizeof buf);
    counting = 0;

    cr_assert_eq(allocations, 0, "lookups allocated %ld times", (long)allocations);
    cr_assert(found);
    /* seen[] is indexed host * 6 + port * 2 + (v6 ? 1 : 0) */
    cr_assert_str_eq(seen[0], "hp");
    cr_assert_str_eq(seen[2 * 6 + 0 * 2 + 1], "w");
    cr_assert_str_eq(seen[4 * 6 + 1 * 2 + 0], "c");
    cr_assert_str_eq(seen[6 * 6 + 2 * 2 + 0], "p");
    carom_names_free(names);
    carom_policy_free(t);
}
