/* fuzz_pattern.c: libFuzzer target for the endpoint pattern matcher. The input's first
 * line is a pattern (a section name), the rest host:port probes; a pattern that loads
 * must then answer every probe, by name and by address, with a policy of the table and
 * without allocating per look-up. It must never write files or print. */
#include "../../policy/carom_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void probe(const carom_table *t, const char *s)
{
    char host[CAROM_HOST_MAX];
    size_t n = strcspn(s, " ");
    if (n >= sizeof host)
        return;
    memcpy(host, s, n);
    host[n] = 0;
    unsigned long port = strtoul(s + n, NULL, 10) & 0xffff;
    const carom_policy *byname = carom_policy_match(t, host, NULL, (uint16_t)port);
    if (!byname)
        abort();
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
    struct sockaddr_in a4 = {.sin_family = AF_INET};
    const struct sockaddr *sa = NULL;
    if (inet_pton(AF_INET, host, &a4.sin_addr) == 1)
        sa = (const struct sockaddr *)&a4;
    else if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1)
        sa = (const struct sockaddr *)&a6;
    const carom_policy *byaddr = carom_policy_match(t, NULL, sa, (uint16_t)port);
    if (!byaddr)
        abort();
    /* Every answer is one of the table's own policies. */
    size_t count = carom_policy_count(t);
    if (byname->index >= count || carom_policy_at(t, byname->index) != byname)
        abort();
    if (byaddr->index >= count || carom_policy_at(t, byaddr->index) != byaddr)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = 0;
    char ini[512];
    int len = snprintf(ini, sizeof ini, "[defaults]\nretries = 1\n[%s]\nretries = 2\n", buf);
    carom_table *t = NULL;
    if (len > 0 && (size_t)len < sizeof ini)
        t = carom_policy_parse(ini, (size_t)len, "fuzz.ini", NULL, NULL);
    if (t) {
        for (char *line = nl ? nl + 1 : NULL; line && *line;) {
            char *next = strchr(line, '\n');
            if (next)
                *next++ = 0;
            probe(t, line);
            line = next;
        }
        probe(t, buf); /* the pattern's own text, as a host */
        carom_policy_free(t);
    }
    free(buf);
    return 0;
}
