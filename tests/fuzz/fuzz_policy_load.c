/* fuzz_policy_load.c: libFuzzer target for carom_policy_parse: any bytes must give either a
 * table or diagnostics in the documented form, never a crash, a leak or a hang; a table
 * must then answer look-ups and describe itself. It must never write files or print. */
#include "../../policy/carom_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_line(void *ud, const char *line)
{
    (void)ud;
    /* every diagnostic names the file and a line, and never carries a raw control byte */
    if (strncmp(line, "carom: fuzz.ini:", 16) != 0) abort();
    for (const char *c = line; *c; c++)
        if ((unsigned char)*c < 0x20) abort();
}

static void sink(void *ud, const char *line)
{
    (void)ud;
    (void)line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    carom_table *t = carom_policy_parse((const char *)data, size, "fuzz.ini", check_line, NULL);
    if (!t) return 0;
    struct sockaddr_in a4;
    memset(&a4, 0, sizeof a4);
    a4.sin_family = AF_INET;
    a4.sin_addr.s_addr = htonl(0x0a010203);
    struct sockaddr_in6 a6;
    memset(&a6, 0, sizeof a6);
    a6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "fd00::1", &a6.sin6_addr);
    static const char *const hosts[] = {
        "api.pay.example.com", "localhost", "x.y.example.com", "10.1.2.3", "[::1]", NULL};
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        const carom_policy *p = carom_policy_match(t, hosts[i], (struct sockaddr *)&a4, 443);
        if (!p || p->index >= carom_policy_count(t)) abort();
        p = carom_policy_match(t, hosts[i], (struct sockaddr *)&a6, 6379);
        if (!p || p->index >= carom_policy_count(t)) abort();
    }
    carom_policy_dump(t, sink, NULL);
    carom_policy_free(t);
    return 0;
}
