/* test_policy_validate.c: every class of bad input gets its own diagnostic, in the exact
 * `carom: FILE:LINE: key: what is wrong, got "value"` form, at the right line, and no
 * table. It must never accept a test that only checks "some error happened": each case
 * names the line and the key. */
#include <criterion/criterion.h>

#include "../policy/carom_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct lines {
    char text[64][512];
    int n;
} lines;

static void collect(void *ud, const char *line)
{
    lines *l = ud;
    if (l->n < 64) snprintf(l->text[l->n], sizeof l->text[0], "%s", line);
    l->n++;
}

static lines d;

static void bad_len(const char *text, size_t len, int want)
{
    memset(&d, 0, sizeof d);
    carom_table *t = carom_policy_parse(text, len, "v.ini", collect, &d);
    cr_assert_null(t, "a bad file must give no table");
    if (d.n != want)
        for (int i = 0; i < d.n && i < 64; i++)
            fprintf(stderr, "  got: %s\n", d.text[i]);
    cr_assert_eq(d.n, want, "want %d diagnostics, got %d", want, d.n);
}

static void bad(const char *text, int want)
{
    bad_len(text, strlen(text), want);
}

/* Diagnostic i is at LINE for KEY and contains WHAT. */
static void is(int i, unsigned line, const char *key, const char *what)
{
    char prefix[256];
    snprintf(prefix, sizeof prefix, "carom: v.ini:%u: %s: ", line, key);
    cr_assert(strncmp(d.text[i], prefix, strlen(prefix)) == 0, "diag %d: %s\n  want prefix: %s", i,
              d.text[i], prefix);
    cr_assert(strstr(d.text[i], what), "diag %d: %s\n  want: %s", i, d.text[i], what);
    cr_assert(strstr(d.text[i], ", got \""), "diag %d lacks got: %s", i, d.text[i]);
}

Test(policy_validate, spec_example_line)
{
    bad("[defaults]\n\n\n\n\n\n\n\n\n\n\nretries = lots\n", 1);
    cr_assert_str_eq(d.text[0],
                     "carom: v.ini:12: retries: expected a whole number 0..100, got \"lots\"");
}

Test(policy_validate, numbers_out_of_range_or_overflowing)
{
    bad("[defaults]\n"
        "retries = 101\n"
        "base_delay_ms = 18446744073709551616\n"
        "io_timeout_ms = 86400001\n"
        "cushion_probes = 0\n"
        "cushion_probes = 256\n"
        "cushion_window = 0\n"
        "[p]\nmatch = a:1\n"
        "cushion_window = 65\n"
        "retry_budget_min_per_s = -1\n"
        "deadline_ms = 1e3\n",
        9);
    is(0, 2, "retries", "0..100");
    is(1, 3, "base_delay_ms", "0..86400000");
    is(2, 4, "io_timeout_ms", "milliseconds");
    is(3, 5, "cushion_probes", "1..255");
    is(4, 6, "cushion_probes", "set twice");
    is(5, 7, "cushion_window", "1..64");
    is(6, 10, "cushion_window", "1..64");
    is(7, 11, "retry_budget_min_per_s", "whole number");
    is(8, 12, "deadline_ms", "milliseconds");
}

Test(policy_validate, max_below_base_at_the_later_line_with_inherited_values)
{
    bad("[defaults]\nmax_delay_ms = 200\n[p]\nmatch = a:1\nbase_delay_ms = 500\n", 1);
    is(0, 5, "base_delay_ms", "must be at most max_delay_ms (200)");
    bad("[defaults]\nbase_delay_ms = 500\nmax_delay_ms = 200\n", 1);
    is(0, 3, "max_delay_ms", "must be at least base_delay_ms (500)");
    bad("[defaults]\nmax_delay_ms = 200\nbase_delay_ms = 500\n", 1);
    is(0, 3, "base_delay_ms", "at most max_delay_ms (200)");
    /* the policy comes first in the file and [defaults] after: still the policy's line */
    bad("[p]\nmatch = a:1\nmax_delay_ms = 50\n[defaults]\n", 1);
    is(0, 3, "max_delay_ms", "at least base_delay_ms (100)");
}

Test(policy_validate, failures_over_window)
{
    bad("[defaults]\ncushion_failures = 2\ncushion_window = 4\n[p]\nmatch = a:1\n"
        "cushion_failures = 6\n",
        1);
    is(0, 6, "cushion_failures", "at most cushion_window (4)");
    bad("[defaults]\ncushion_failures = 8\ncushion_window = 6\n", 1);
    is(0, 3, "cushion_window", "at least cushion_failures (8)");
}

Test(policy_validate, an_inherited_conflict_is_reported_once)
{
    bad("[defaults]\nbase_delay_ms = 500\nmax_delay_ms = 200\n[a]\nmatch = a:1\n"
        "[b]\nmatch = b:1\n",
        1);
    is(0, 3, "max_delay_ms", "at least");
}

Test(policy_validate, unknown_keys_suggest_the_closest)
{
    bad("[defaults]\nretrys = 5\nRetries = 5\nbase_delay = 9\nfrobnicate = 1\n"
        "[scoreboard]\nsockt = /x\n[chaos]\nsede = 1\nconnect_refuse = 0.1\n",
        7);
    is(0, 2, "retrys", "unknown key (did you mean \"retries\"?)");
    is(1, 3, "Retries", "did you mean \"retries\"?");
    is(2, 4, "base_delay", "did you mean \"base_delay_ms\"?");
    is(3, 5, "frobnicate", "unknown key");
    cr_assert(!strstr(d.text[3], "did you mean"));
    is(4, 7, "sockt", "did you mean \"socket\"?");
    is(5, 9, "sede", "did you mean \"seed\"?");
    is(6, 10, "connect_refuse", "\"chaos.connect_refuse\"");
}

Test(policy_validate, keys_in_the_wrong_section)
{
    bad("[defaults]\nsocket = /x\nseed = 1\nmatch = a:1\n[p]\nmatch = b:1\nstate = process\n"
        "[scoreboard]\nretries = 1\n[chaos]\nchaos.reset = 0.1\n",
        6);
    is(0, 2, "socket", "[scoreboard]");
    is(1, 3, "seed", "[chaos]");
    is(2, 4, "match", "not allowed in [defaults]");
    is(3, 7, "state", "[defaults]");
    is(4, 9, "retries", "not allowed in [scoreboard]");
    is(5, 11, "chaos.reset", "not allowed in [chaos]");
}

Test(policy_validate, unknown_errno_and_eai_names)
{
    bad("[defaults]\nretry_on = ECONREFUSED, EAI_NONAME, EWHAT\nopen_errno = ETIMEOUT\n"
        "[p]\nmatch = a:1\nopen_errno = EBADF\n[q]\nmatch = b:1\nopen_errno = EAI_AGAIN\n",
        6);
    is(0, 2, "retry_on", "did you mean \"ECONNREFUSED\"?");
    is(1, 2, "retry_on", "EAI_NONAME cannot be retried");
    is(2, 2, "retry_on", "unknown errno name");
    is(3, 3, "open_errno", "did you mean \"ETIMEDOUT\"?");
    is(4, 6, "open_errno", "EBADF is not a network failure");
    is(5, 9, "open_errno", "not an EAI_ code");
}

Test(policy_validate, bad_patterns)
{
    bad("[p]\nmatch = a.example.com:65536, 10.0.0.0/33:1, [fd00::/129]:443, "
        "10.1.2.3/16:80, a.*.com:1\n"
        "[q]\nmatch = *, *:*, host:, :80, [::1:80, 1.2.3.999:5, bad_host!:1\n"
        "[r]\nmatch =\n"
        "[s]\nmatch = ,x:1\n",
        14);
    is(0, 2, "match", "port must be 1..65535");
    is(1, 2, "match", "prefix length must be 0..32");
    is(2, 2, "match", "prefix length must be 0..128");
    is(3, 2, "match", "did you mean 10.1.0.0/16?");
    is(4, 2, "match", "whole first label");
    is(5, 4, "match", "matches every endpoint");
    is(6, 4, "match", "matches every endpoint");
    is(7, 4, "match", "port must be");
    is(8, 4, "match", "missing host");
    is(9, 4, "match", "without \"]\"");
    is(10, 4, "match", "not a valid IPv4 address");
    is(11, 4, "match", "not a host name");
    is(12, 6, "match", "empty");
    is(13, 8, "match", "empty item");
}

Test(policy_validate, section_name_that_is_not_a_pattern)
{
    bad("[defaults]\n[my-service!]\nretries = 1\n", 1);
    is(0, 2, "[my-service!]", "no \"match =\"");
    bad("[localhost:99999]\n", 1);
    is(0, 1, "[localhost:99999]", "port must be 1..65535");
}

Test(policy_validate, identical_pattern_in_two_sections)
{
    bad("[localhost:6379]\n\n[redis]\nmatch = LOCALHOST.:6379\n[again]\nmatch = x:1, x:1\n", 2);
    is(0, 4, "match", "already claimed by [localhost:6379] (line 1)");
    is(1, 6, "match", "listed twice");
    bad("[a]\nmatch = 10.0.0.0/8\n[10.0.0.0/8:*]\n", 1);
    is(0, 3, "[10.0.0.0/8:*]", "already claimed by [a] (line 2)");
}

Test(policy_validate, chaos_probabilities_and_http_status)
{
    bad("[defaults]\nchaos.connect_refuse = 1.01\nchaos.dns_fail = -0.1\nchaos.reset = nan\n"
        "chaos.short_write = 0.5.5\nchaos.http_status = 503\nchaos.http_status = 99@0.1\n"
        "[p]\nmatch = a:1\nchaos.http_status = 503@1.5\nchaos.latency = 0.0000000001\n",
        8);
    is(0, 2, "chaos.connect_refuse", "probability 0..1");
    is(1, 3, "chaos.dns_fail", "probability");
    is(2, 4, "chaos.reset", "probability");
    is(3, 5, "chaos.short_write", "probability");
    is(4, 6, "chaos.http_status", "STATUS@PROBABILITY");
    is(5, 7, "chaos.http_status", "set twice");
    is(6, 10, "chaos.http_status", "STATUS@PROBABILITY");
    is(7, 11, "chaos.latency", "at most 9 decimals");
}

Test(policy_validate, chaos_latency_needs_both_halves)
{
    bad("[p]\nmatch = a:1\nchaos.latency_ms = 200\n", 1);
    is(0, 3, "chaos.latency_ms", "no effect while chaos.latency is 0");
    bad("[p]\nmatch = a:1\nchaos.latency = 0.5\n", 1);
    is(0, 3, "chaos.latency", "no effect while chaos.latency_ms is 0");
    /* turning inherited latency off with one half is fine */
    const char *ok = "[defaults]\nchaos.latency = 0.5\nchaos.latency_ms = 100\n[p]\n"
                     "match = a:1\nchaos.latency = 0\n";
    carom_table *t = carom_policy_parse(ok, strlen(ok), "v.ini", NULL, NULL);
    cr_assert_not_null(t);
    carom_policy_free(t);
}

Test(policy_validate, chaos_stream_and_connect_faults)
{
    bad("[defaults]\nchaos.bandwidth_kbps = fast\nchaos.bandwidth_kbps = 10000001\n"
        "chaos.limit_data = -1\nchaos.limit_data_mode = rst\nchaos.slice = 16777217\n"
        "chaos.slow_close_ms = 86400001\nchaos.blackhole = 1.5\n"
        "chaos.dns_fail_error = EAI_FAIL\nchaos.direction = sideways\n"
        "chaos.first = 1000000001\nchaos.connect_latency_ms = x\n",
        11);
    is(0, 2, "chaos.bandwidth_kbps", "whole number 0..10000000");
    is(1, 3, "chaos.bandwidth_kbps", "set twice");
    is(2, 4, "chaos.limit_data", "whole number 0..");
    is(3, 5, "chaos.limit_data_mode", "eof or reset");
    is(4, 6, "chaos.slice", "whole number 0..16777216");
    is(5, 7, "chaos.slow_close_ms", "milliseconds");
    is(6, 8, "chaos.blackhole", "probability 0..1");
    is(7, 9, "chaos.dns_fail_error", "EAI_AGAIN or EAI_NONAME");
    is(8, 10, "chaos.direction", "up (what the program sends), down");
    is(9, 11, "chaos.first", "whole number 0..1000000000");
    is(10, 12, "chaos.connect_latency_ms", "milliseconds");
}

Test(policy_validate, chaos_connect_latency_needs_both_halves)
{
    bad("[p]\nmatch = a:1\nchaos.connect_latency_ms = 200\n", 1);
    is(0, 3, "chaos.connect_latency_ms", "no effect while chaos.connect_latency is 0");
    bad("[p]\nmatch = a:1\nchaos.connect_latency = 0.5\n", 1);
    is(0, 3, "chaos.connect_latency", "no effect while chaos.connect_latency_ms is 0");
    const char *ok = "[defaults]\nchaos.connect_latency = 0.5\nchaos.connect_latency_ms = 100\n"
                     "chaos.dns_fail_error = eai_noname\nchaos.direction = UP\n"
                     "chaos.limit_data = 50000\nchaos.limit_data_mode = Reset\n[p]\n"
                     "match = a:1\nchaos.connect_latency = 0\nchaos.first = 2\n";
    carom_table *t = carom_policy_parse(ok, strlen(ok), "v.ini", NULL, NULL);
    cr_assert_not_null(t);
    const carom_policy *p = carom_policy_at(t, 1);
    cr_assert(p->chaos.dns_fail_noname && p->chaos.direction == CAROM_CHAOS_UP);
    cr_assert(p->chaos.limit_data == 50000 && p->chaos.limit_data_reset);
    cr_assert(p->chaos.connect_latency == 0 && p->chaos.connect_latency_ms == 100);
    cr_assert_eq(p->chaos.first, 2);
    cr_assert_eq(carom_policy_defaults(t)->chaos.first, 0);
    carom_policy_free(t);
}

Test(policy_validate, budgets_statuses_methods_jitter_onoff_state)
{
    bad("[defaults]\nretry_budget = 101%\nhttp_retry_status = 99, 600, abc\n"
        "http_retry_methods = GET, FETCH\njitter = random\ncushion = yes\n"
        "retry_nonblocking = 1\nstate = global\n[p]\nmatch = a:1\nretry_budget = 12.55%\n",
        10);
    is(0, 2, "retry_budget", "0..100%");
    is(1, 3, "http_retry_status", "100..599");
    is(2, 3, "http_retry_status", "100..599");
    is(3, 3, "http_retry_status", "100..599");
    is(4, 4, "http_retry_methods", "unknown HTTP method");
    is(5, 5, "jitter", "decorrelated, full, equal or none");
    is(6, 6, "cushion", "on or off");
    is(7, 7, "retry_nonblocking", "on or off");
    is(8, 8, "state", "shared or process");
    is(9, 11, "retry_budget", "steps of 0.1%");
}

Test(policy_validate, pockets_urls_responses_sockets_seeds)
{
    bad("[defaults]\npocket = a:1, b:2, c:3, d:4, e:5\npocket = x\n"
        "pocket_url = https://h:1/path\npocket_response = 200 relative/body\n"
        "[p]\nmatch = a:1\npocket = host:0, [::1]\npocket_url = nohost\n"
        "[scoreboard]\nsocket = relative.sock\n[chaos]\nseed = 18446744073709551616\n"
        "enabled = maybe\n",
        10);
    is(0, 2, "pocket", "at most 4");
    is(1, 3, "pocket", "set twice");
    is(2, 4, "pocket_url", "scheme://host[:port]");
    is(3, 5, "pocket_response", "STATUS /absolute/path");
    is(4, 8, "pocket", "host:port");
    is(5, 8, "pocket", "host:port");
    is(6, 9, "pocket_url", "scheme://");
    is(7, 11, "socket", "absolute path");
    is(8, 13, "seed", "whole number");
    is(9, 14, "enabled", "on or off");
}

Test(policy_validate, syntax_errors_are_all_reported)
{
    bad("retries = 1\n"     /* 1: outside any section */
        "[defaults\n"       /* 2: unclosed */
        "[defaults] junk\n" /* 3: text after ] */
        "[]\n"              /* 4: empty name */
        "just some words\n" /* 5: not key = value */
        "= 5\n"             /* 6: no key */
        "[defaults]\n"      /* 7 */
        "retries 3 ; = 4\n" /* 8: comment before any '=' */
        "[defaults]\n",     /* 9: repeated */
        8);
    is(0, 1, "retries", "outside any section");
    is(1, 2, "section", "not closed");
    is(2, 3, "section", "unexpected text after");
    is(3, 4, "section", "empty section name");
    is(4, 5, "line", "expected \"key = value\"");
    is(5, 6, "line", "missing key");
    is(6, 8, "line", "expected \"key = value\"");
    is(7, 9, "[defaults]", "repeated (first at line 7)");
}

Test(policy_validate, names_of_sections)
{
    bad("[my service]\nmatch = a:1\n[p]\nmatch = b:1\n[P]\nmatch = c:1\n"
        "[abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd]\nmatch = d:1\n",
        3);
    is(0, 1, "[my service]", "printable ASCII");
    is(1, 5, "[P]", "repeated (first at line 3)");
    is(2, 7, "section", "longer than 63");
}

Test(policy_validate, binary_garbage_reports_the_line)
{
    static const char text[] = "[defaults]\n"
                               "retries = 3\x00 oops\n"
                               "x\x01y = 2\n"
                               "jitter = \xc3\x28\n"
                               "base_delay_ms = 10\n"
                               "\xff\xfe\xfd\n"
                               "max_delay_ms = 5\r9\n";
    bad_len(text, sizeof text - 1, 5);
    is(0, 2, "line", "NUL byte at column 12");
    is(1, 3, "line", "control character 0x01");
    is(2, 4, "line", "invalid UTF-8");
    is(3, 6, "line", "invalid UTF-8 at column 1");
    is(4, 7, "line", "control character 0x0d");
    /* the echoed value never carries the raw bytes */
    for (int i = 0; i < d.n; i++)
        for (const char *c = d.text[i]; *c; c++)
            cr_assert((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f, "raw byte in %s",
                      d.text[i]);
}

Test(policy_validate, tabs_in_keys_and_names_are_escaped)
{
    bad("[defaults]\nre\ttries = 1\n[a\tb]\nmatch = x:1\n", 2);
    cr_assert_str_eq(d.text[0], "carom: v.ini:2: re\\x09tries: unknown key (did you mean "
                                "\"retries\"?), got \"1\"");
    is(1, 3, "[a\\x09b]", "printable ASCII");
}

Test(policy_validate, overlong_lines_are_errors_not_truncations)
{
    char text[1024];
    int n = snprintf(text, sizeof text, "[defaults]\nretries = 3%-250s\n", "");
    bad_len(text, (size_t)n, 1);
    is(0, 2, "line", "too long (261 characters, at most 197)");
    /* exactly at the limit is fine */
    n = snprintf(text, sizeof text, "[defaults]\nretries = 3 ;%-184s\n", "");
    carom_table *t = carom_policy_parse(text, (size_t)n, "v.ini", NULL, NULL);
    cr_assert_not_null(t);
    carom_policy_free(t);
}

Test(policy_validate, problems_come_in_file_order)
{
    /* the cross-key check (found after parsing) still sorts before later lines */
    bad("[defaults]\nbase_delay_ms = 500\nmax_delay_ms = 200\nretries = x\n", 2);
    is(0, 3, "max_delay_ms", "at least");
    is(1, 4, "retries", "whole number");
}

Test(policy_validate, null_callback_and_null_text)
{
    cr_assert_null(carom_policy_parse("[defaults]\nretries = x\n", 23, "v.ini", NULL, NULL));
    carom_table *t = carom_policy_parse(NULL, 0, NULL, NULL, NULL);
    cr_assert_not_null(t);
    carom_policy_free(t);
}

Test(policy_validate, rate_limits_and_bulkheads)
{
    bad("[defaults]\nrate_limit = -1\nrate_burst = 65536\nmax_connections = 65\n"
        "limit_wait_ms = 86400001\n[q]\nmatch = b:1\nrate_limit = 1000001\n"
        "max_connections = lots\n",
        6);
    is(0, 2, "rate_limit", "expected a whole number 0..1000000");
    is(1, 3, "rate_burst", "expected a whole number 0..65535");
    is(2, 4, "max_connections", "expected a whole number 0..64");
    is(3, 5, "limit_wait_ms", "milliseconds 0..86400000");
    is(4, 8, "rate_limit", "0..1000000");
    is(5, 9, "max_connections", "0..64");
    /* A burst with no rate does nothing: said once, where the burst is set. */
    bad("[p]\nmatch = a:1\nrate_burst = 5\n", 1);
    is(0, 3, "rate_burst", "no effect while rate_limit is 0");

    const char *ok = "[defaults]\nrate_limit = 10\nrate_burst = 5\nmax_connections = 2\n"
                     "limit_wait_ms = 0\n[p]\nmatch = a:1\nrate_limit = 0\n";
    carom_table *t = carom_policy_parse(ok, strlen(ok), "v.ini", NULL, NULL);
    cr_assert_not_null(t, "turning an inherited rate off leaves its burst harmless");
    const carom_policy *def = carom_policy_defaults(t);
    cr_assert_eq(def->rate_limit, 10);
    cr_assert_eq(def->rate_burst, 5);
    cr_assert_eq(def->max_connections, 2);
    cr_assert_eq(def->limit_wait_ms, 0);
    carom_policy_free(t);

    carom_table *b = carom_policy_builtin();
    def = carom_policy_defaults(b);
    cr_assert_eq(def->rate_limit, 0, "off by default");
    cr_assert_eq(def->rate_burst, 0);
    cr_assert_eq(def->max_connections, 0, "off by default");
    cr_assert_eq(def->limit_wait_ms, 1000);
    carom_policy_free(b);
}

Test(policy_validate, fleet_keys)
{
    bad("[fleet]\nredis = host:0\nhost = a b\nquorum = 101%\nprefix = x*\nreport_ttl_ms = 999\n"
        "password_file = pw\n[defaults]\nquorum = 1\n",
        7);
    is(0, 2, "redis", "HOST:PORT");
    is(1, 3, "host", "A-Z");
    is(2, 4, "quorum", "percentage");
    is(3, 5, "prefix", "A-Z");
    is(4, 6, "report_ttl_ms", "1000..3600000");
    is(5, 7, "password_file", "absolute path");
    is(6, 9, "quorum", "it goes in [fleet]");
    bad("[fleet]\nhost = a\n", 1);
    is(0, 1, "[fleet]", "needs redis");

    const char *ok = "[fleet]\nredis = [::1]:6380\nquorum = 3\n";
    carom_table *t = carom_policy_parse(ok, strlen(ok), "v.ini", NULL, NULL);
    cr_assert_not_null(t);
    const carom_fleet_cfg *f = carom_policy_fleet(t);
    cr_assert_str_eq(f->redis, "[::1]:6380");
    cr_assert_eq(f->quorum, 3);
    cr_assert(!f->quorum_percent);
    cr_assert_str_eq(f->prefix, "carom", "the default prefix");
    cr_assert_eq(f->report_ttl_ms, 10000, "the default TTL");
    cr_assert_str_eq(f->host, "", "empty: the daemon uses the hostname");
    carom_policy_free(t);

    carom_table *b = carom_policy_builtin();
    cr_assert_str_eq(carom_policy_fleet(b)->redis, "", "no fleet by default");
    cr_assert(carom_policy_fleet(b)->quorum_percent && carom_policy_fleet(b)->quorum == 50);
    carom_policy_free(b);
}
