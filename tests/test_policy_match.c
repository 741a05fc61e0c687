/* test_policy_match.c: which policy governs an endpoint: every pattern form, the
 * precedence and its ties (docs/configuration.md, "Patterns and precedence"), names before
 * addresses, IPv6 and mapped addresses, and a table of 1,000 policies. It must never resolve a name: matching is pure table look-up. */
#include <criterion/criterion.h>

#include "../policy/carom_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static carom_table *load(const char *text)
{
    carom_table *t = carom_policy_parse(text, strlen(text), "m.ini", NULL, NULL);
    cr_assert_not_null(t, "config did not load");
    return t;
}

static struct sockaddr_storage sa_of(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        cr_assert_eq(inet_pton(AF_INET6, ip, &a->sin6_addr), 1, "%s", ip);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        cr_assert_eq(inet_pton(AF_INET, ip, &a->sin_addr), 1, "%s", ip);
    }
    return ss;
}

/* The policy name for (host, ip, port); host or ip may be NULL. */
static const char *who(const carom_table *t, const char *host, const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    if (ip) ss = sa_of(ip);
    return carom_policy_match(t, host, ip ? (struct sockaddr *)&ss : NULL, port)->name;
}

Test(policy_match, precedence_ladder)
{
    carom_table *t = load("[hp]\nmatch = api.example.com:443\n"
                          "[h]\nmatch = api.example.com\n"
                          "[w2]\nmatch = *.api.example.com\n"
                          "[w1]\nmatch = *.example.com:443\n"
                          "[c16]\nmatch = 10.1.0.0/16\n"
                          "[c8]\nmatch = 10.0.0.0/8:443\n"
                          "[port]\nmatch = *:443\n");
    cr_assert_str_eq(who(t, "api.example.com", "10.1.2.3", 443), "hp");
    cr_assert_str_eq(who(t, "api.example.com", "10.1.2.3", 80), "h");
    cr_assert_str_eq(who(t, "x.api.example.com", "10.1.2.3", 443), "w2");
    cr_assert_str_eq(who(t, "other.example.com", "10.1.2.3", 443), "w1");
    cr_assert_str_eq(who(t, "other.example.org", "10.1.2.3", 443), "c16");
    cr_assert_str_eq(who(t, "other.example.org", "10.2.2.3", 443), "c8");
    cr_assert_str_eq(who(t, "other.example.org", "192.0.2.1", 443), "port");
    cr_assert_str_eq(who(t, "other.example.org", "192.0.2.1", 80), "defaults");
    cr_assert_str_eq(who(t, NULL, NULL, 80), "defaults");
    carom_policy_free(t);
}

Test(policy_match, exact_host_and_port_beats_exact_host)
{
    carom_table *t = load("[any]\nmatch = db.example.com\n[one]\nmatch = db.example.com:5432\n");
    cr_assert_str_eq(who(t, "db.example.com", NULL, 5432), "one");
    cr_assert_str_eq(who(t, "db.example.com", NULL, 5433), "any");
    carom_policy_free(t);
}

Test(policy_match, host_star_port_is_any_port)
{
    carom_table *t = load("[a]\nmatch = db.example.com:*\n");
    cr_assert_str_eq(who(t, "db.example.com", NULL, 1), "a");
    cr_assert_str_eq(who(t, "db.example.com", NULL, 65535), "a");
    carom_policy_free(t);
}

Test(policy_match, wildcard_needs_a_label_before_the_domain)
{
    carom_table *t = load("[w]\nmatch = *.pay.example.com:443\n");
    cr_assert_str_eq(who(t, "a.pay.example.com", NULL, 443), "w");
    cr_assert_str_eq(who(t, "x.y.pay.example.com", NULL, 443), "w");
    cr_assert_str_eq(who(t, "pay.example.com", NULL, 443), "defaults");
    cr_assert_str_eq(who(t, "xpay.example.com", NULL, 443), "defaults");
    cr_assert_str_eq(who(t, "a.pay.example.com", NULL, 80), "defaults");
    carom_policy_free(t);
}

Test(policy_match, longest_wildcard_wins_then_port_specific_at_equal_length)
{
    carom_table *t = load("[short_port]\nmatch = *.example.com:443\n"
                          "[long_any]\nmatch = *.pay.example.com\n"
                          "[long_port]\nmatch = *.pay.example.com:8443\n");
    /* longer domain beats port-specific shorter one */
    cr_assert_str_eq(who(t, "a.pay.example.com", NULL, 443), "long_any");
    /* equal length: port-specific first */
    cr_assert_str_eq(who(t, "a.pay.example.com", NULL, 8443), "long_port");
    cr_assert_str_eq(who(t, "a.shop.example.com", NULL, 443), "short_port");
    carom_policy_free(t);
}

Test(policy_match, wildcard_beats_cidr_and_cidr_beats_star_port)
{
    carom_table *t = load("[w]\nmatch = *.example.com\n[c]\nmatch = 10.0.0.0/8\n"
                          "[p]\nmatch = *:80\n");
    cr_assert_str_eq(who(t, "a.example.com", "10.0.0.1", 80), "w");
    cr_assert_str_eq(who(t, "a.example.net", "10.0.0.1", 80), "c");
    cr_assert_str_eq(who(t, "a.example.net", "11.0.0.1", 80), "p");
    carom_policy_free(t);
}

Test(policy_match, longest_cidr_prefix_then_port_specific)
{
    carom_table *t = load("[c8]\nmatch = 10.0.0.0/8:8443\n"
                          "[c16any]\nmatch = 10.1.0.0/16\n"
                          "[c16port]\nmatch = 10.1.0.0/16:8443\n"
                          "[c24]\nmatch = 10.1.2.0/24:9000\n"
                          "[all]\nmatch = 0.0.0.0/0:7\n");
    cr_assert_str_eq(who(t, NULL, "10.1.2.3", 9000), "c24");
    cr_assert_str_eq(who(t, NULL, "10.1.2.3", 8443), "c16port");
    cr_assert_str_eq(who(t, NULL, "10.1.9.9", 80), "c16any");
    cr_assert_str_eq(who(t, NULL, "10.9.9.9", 8443), "c8");
    cr_assert_str_eq(who(t, NULL, "10.9.9.9", 80), "defaults");
    cr_assert_str_eq(who(t, NULL, "192.0.2.1", 7), "all");
    carom_policy_free(t);
}

Test(policy_match, ipv6_cidr_and_literals)
{
    carom_table *t = load("[v6net]\nmatch = [fd00::/8]:443\n"
                          "[v6host]\nmatch = [fd00::1]:443\n"
                          "[loop]\nmatch = [::1]\n"
                          "[bare]\nmatch = 2001:db8::/32\n");
    cr_assert_str_eq(who(t, NULL, "fd12::5", 443), "v6net");
    cr_assert_str_eq(who(t, NULL, "fd00::1", 443), "v6host");
    cr_assert_str_eq(who(t, NULL, "fd00::1", 80), "defaults");
    cr_assert_str_eq(who(t, NULL, "::1", 6379), "loop");
    cr_assert_str_eq(who(t, "[::1]", NULL, 6379), "loop"); /* bracketed text */
    cr_assert_str_eq(who(t, "::1", NULL, 6379), "loop");
    cr_assert_str_eq(who(t, NULL, "2001:db8:1::1", 1), "bare");
    carom_policy_free(t);
}

Test(policy_match, ipv4_mapped_ipv6_is_the_ipv4_address)
{
    carom_table *t = load("[v4]\nmatch = 192.0.2.10:80\n[net]\nmatch = 198.51.100.0/24\n");
    cr_assert_str_eq(who(t, NULL, "::ffff:192.0.2.10", 80), "v4");
    cr_assert_str_eq(who(t, NULL, "::ffff:198.51.100.7", 1), "net");
    carom_policy_free(t);
}

Test(policy_match, name_before_address_at_each_exact_level)
{
    carom_table *t = load("[byname]\nmatch = svc.local:80\n[byaddr]\nmatch = 127.0.0.1:80\n"
                          "[nameany]\nmatch = other.local\n");
    cr_assert_str_eq(who(t, "svc.local", "127.0.0.1", 80), "byname");
    cr_assert_str_eq(who(t, "unknown.local", "127.0.0.1", 80), "byaddr");
    /* level 1 (address with port) beats level 2 (name, any port) */
    cr_assert_str_eq(who(t, "other.local", "127.0.0.1", 80), "byaddr");
    cr_assert_str_eq(who(t, "other.local", "127.0.0.1", 81), "nameany");
    carom_policy_free(t);
}

Test(policy_match, ip_text_counts_as_exact_host)
{
    carom_table *t = load("[a]\nmatch = 10.0.0.5:80\n[b]\nmatch = 10.0.0.6\n");
    cr_assert_str_eq(who(t, "10.0.0.5", NULL, 80), "a");
    cr_assert_str_eq(who(t, NULL, "10.0.0.5", 80), "a");
    cr_assert_str_eq(who(t, "10.0.0.6", NULL, 1234), "b");
    carom_policy_free(t);
}

Test(policy_match, names_ignore_case_and_one_trailing_dot)
{
    carom_table *t = load("[a]\nmatch = API.Example.COM.:443\n[w]\nmatch = *.Shop.example.com\n");
    cr_assert_str_eq(who(t, "api.example.com", NULL, 443), "a");
    cr_assert_str_eq(who(t, "API.EXAMPLE.COM.", NULL, 443), "a");
    cr_assert_str_eq(who(t, "X.SHOP.EXAMPLE.COM.", NULL, 1), "w");
    cr_assert_str_eq(who(t, "api.example.com..", NULL, 443), "defaults");
    carom_policy_free(t);
}

Test(policy_match, section_named_like_a_pattern_matches_itself)
{
    carom_table *t = load("[localhost:6379]\nio_timeout_ms = 2000\n"
                          "[*.example.com:443]\nretries = 1\n"
                          "[10.0.0.0/8:*]\nretries = 2\n"
                          "[[fd00::/8]:443]\nretries = 4\n"
                          "[redis]\nretries = 9\n");
    cr_assert_str_eq(who(t, "localhost", NULL, 6379), "localhost:6379");
    cr_assert_eq(carom_policy_match(t, "localhost", NULL, 6379)->io_timeout_ms, 2000);
    cr_assert_str_eq(who(t, "a.example.com", NULL, 443), "*.example.com:443");
    cr_assert_str_eq(who(t, NULL, "10.9.8.7", 5), "10.0.0.0/8:*");
    cr_assert_str_eq(who(t, NULL, "fd00::9", 443), "[fd00::/8]:443");
    cr_assert_str_eq(who(t, "redis", NULL, 6379), "redis");
    carom_policy_free(t);
}

Test(policy_match, named_policy_name_is_not_a_pattern)
{
    carom_table *t = load("[payments]\nmatch = api.pay.example.com:443\n");
    cr_assert_str_eq(who(t, "payments", NULL, 443), "defaults");
    carom_policy_free(t);
}

Test(policy_match, star_port)
{
    carom_table *t = load("[memcache]\nmatch = *:11211\n");
    cr_assert_str_eq(who(t, "anything.example", "192.0.2.1", 11211), "memcache");
    cr_assert_str_eq(who(t, NULL, NULL, 11211), "memcache");
    cr_assert_str_eq(who(t, NULL, NULL, 11212), "defaults");
    carom_policy_free(t);
}

Test(policy_match, port_zero_sees_only_any_port_patterns)
{
    carom_table *t = load("[hp]\nmatch = a.example.com:53\n[h]\nmatch = b.example.com\n"
                          "[p]\nmatch = *:53\n");
    cr_assert_str_eq(who(t, "a.example.com", NULL, 0), "defaults");
    cr_assert_str_eq(who(t, "b.example.com", NULL, 0), "h");
    carom_policy_free(t);
}

Test(policy_match, null_table_gives_builtin_defaults)
{
    const carom_policy *p = carom_policy_match(NULL, "x", NULL, 1);
    cr_assert_not_null(p);
    cr_assert_str_eq(p->name, "defaults");
    cr_assert_eq(p->retries, 3);
}

Test(policy_match, a_thousand_policies_each_find_their_own)
{
    size_t cap = 1 << 20, o = 0;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    for (int i = 0; i < 1000; i++) {
        switch (i % 5) {
        case 0:
            o += (size_t)snprintf(text + o, cap - o, "[p%d]\nmatch = h%d.example.com:%d\n", i, i,
                                  1000 + i);
            break;
        case 1:
            o += (size_t)snprintf(text + o, cap - o, "[p%d]\nmatch = h%d.example.net\n", i, i);
            break;
        case 2:
            o +=
                (size_t)snprintf(text + o, cap - o, "[p%d]\nmatch = *.z%d.example.org:443\n", i, i);
            break;
        case 3:
            o += (size_t)snprintf(text + o, cap - o, "[p%d]\nmatch = 10.%d.%d.0/24:80\n", i,
                                  i / 256, i % 256);
            break;
        default:
            o += (size_t)snprintf(text + o, cap - o, "[p%d]\nmatch = 172.16.%d.%d:5432\n", i,
                                  i / 256, i % 256);
        }
    }
    carom_table *t = carom_policy_parse(text, o, "big.ini", NULL, NULL);
    cr_assert_not_null(t);
    cr_assert_eq(carom_policy_count(t), 1001);
    char host[64], ip[32], want[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(want, sizeof want, "p%d", i);
        switch (i % 5) {
        case 0:
            snprintf(host, sizeof host, "h%d.example.com", i);
            cr_assert_str_eq(who(t, host, NULL, (uint16_t)(1000 + i)), want);
            break;
        case 1:
            snprintf(host, sizeof host, "h%d.example.net", i);
            cr_assert_str_eq(who(t, host, NULL, 7), want);
            break;
        case 2:
            snprintf(host, sizeof host, "a.b.z%d.example.org", i);
            cr_assert_str_eq(who(t, host, NULL, 443), want);
            break;
        case 3:
            snprintf(ip, sizeof ip, "10.%d.%d.77", i / 256, i % 256);
            cr_assert_str_eq(who(t, NULL, ip, 80), want);
            break;
        default:
            snprintf(ip, sizeof ip, "172.16.%d.%d", i / 256, i % 256);
            cr_assert_str_eq(who(t, NULL, ip, 5432), want);
        }
    }
    cr_assert_str_eq(who(t, "nobody.example.com", "192.0.2.1", 443), "defaults");
    carom_policy_free(t);
    free(text);
}
