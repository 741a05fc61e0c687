/* test_policy_load.c: carom.ini parsing, built-in defaults, inheritance from [defaults],
 * value forms, file discovery and loading. It must never depend on the machine's own
 * carom.ini or environment: every file it reads it writes itself, under a temp dir. */
#include <criterion/criterion.h>

#include "../policy/carom_policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static carom_table *parse(const char *text, lines *diags)
{
    memset(diags, 0, sizeof *diags);
    return carom_policy_parse(text, strlen(text), "t.ini", collect, diags);
}

static carom_table *parse_ok(const char *text)
{
    lines d;
    carom_table *t = parse(text, &d);
    cr_assert_not_null(t, "expected a valid file, first problem: %s", d.n ? d.text[0] : "-");
    cr_assert_eq(d.n, 0);
    return t;
}

static const carom_policy *by_name(const carom_table *t, const char *name)
{
    for (size_t i = 0; i < carom_policy_count(t); i++)
        if (strcmp(carom_policy_at(t, i)->name, name) == 0) return carom_policy_at(t, i);
    cr_assert_fail("no policy %s", name);
    return NULL;
}

static bool errno_set(const carom_policy *p, int e)
{
    return p->retry_on[e / 64] & (1ull << (e % 64));
}

static bool status_set(const carom_policy *p, unsigned st)
{
    return p->http_retry_status[st / 64] & (1ull << (st % 64));
}

Test(policy_load, builtin_defaults_match_spec)
{
    carom_table *t = carom_policy_builtin();
    cr_assert_not_null(t);
    const carom_policy *p = carom_policy_defaults(t);
    cr_assert_str_eq(p->name, "defaults");
    cr_assert_eq(p->index, 0);
    cr_assert_eq(p->retries, 3);
    cr_assert_eq(p->bounce.base_ms, 100);
    cr_assert_eq(p->bounce.cap_ms, 30000);
    cr_assert_eq(p->bounce.jitter, CAROM_JITTER_DECORRELATED);
    cr_assert(errno_set(p, ECONNREFUSED) && errno_set(p, ETIMEDOUT) && errno_set(p, EHOSTUNREACH) &&
              errno_set(p, ENETUNREACH));
    cr_assert(!errno_set(p, ECONNRESET));
    cr_assert(p->retry_on_eai_again);
    cr_assert_eq(p->connect_timeout_ms, 0);
    cr_assert(p->retry_nonblocking);
    cr_assert_eq(p->io_timeout_ms, 0);
    cr_assert_eq(p->deadline_ms, 0);
    cr_assert_eq(p->budget.permille, 200);
    cr_assert_eq(p->budget.min_per_s, 10);
    cr_assert(p->cushion_on);
    cr_assert_eq(p->cushion.failures, 5);
    cr_assert_eq(p->cushion.window, 10);
    cr_assert_eq(p->cushion.half_open_ms, 30000);
    cr_assert_eq(p->cushion.probes, 1);
    cr_assert_eq(p->open_errno, ECONNREFUSED);
    cr_assert_eq(p->npockets, 0);
    cr_assert_eq(p->dns_stale_ms, 300000);
    for (unsigned st = 100; st < 600; st++)
        cr_assert_eq(status_set(p, st),
                     st == 408 || st == 429 || st == 502 || st == 503 || st == 504, "%u", st);
    cr_assert_eq(p->http_retry_methods,
                 CAROM_M_GET | CAROM_M_HEAD | CAROM_M_PUT | CAROM_M_DELETE | CAROM_M_OPTIONS);
    cr_assert_eq(p->retry_after_max_ms, 60000);
    cr_assert_str_eq(p->pocket_url, "");
    cr_assert_eq(p->pocket_response_status, 0);
    cr_assert_eq(p->chaos.connect_refuse, 0);
    cr_assert_eq(p->chaos.http_status, 0);
    cr_assert_eq(carom_policy_state_mode(t), CAROM_STATE_SHARED);
    cr_assert_str_eq(carom_policy_scoreboard(t), "/tmp/carom-scoreboard.sock");
    cr_assert_eq(carom_policy_chaos_seed(t), 0);
    cr_assert(carom_policy_chaos_enabled(t));
    cr_assert_eq(carom_policy_count(t), 1);
    carom_policy_free(t);
}

Test(policy_load, empty_file_is_the_builtin_table)
{
    carom_table *t = parse_ok("");
    carom_table *b = carom_policy_builtin();
    cr_assert_eq(memcmp(carom_policy_defaults(t), carom_policy_defaults(b), sizeof(carom_policy)),
                 0);
    carom_policy_free(t);
    carom_policy_free(b);
}

Test(policy_load, every_key_parses)
{
    carom_table *t = parse_ok("[defaults]\n"
                              "retries = 7\n"
                              "base_delay_ms = 50\n"
                              "max_delay_ms = 5000\n"
                              "jitter = equal\n"
                              "retry_on = ECONNRESET, EAI_AGAIN\n"
                              "connect_timeout_ms = 1500\n"
                              "retry_nonblocking = off\n"
                              "io_timeout_ms = 2000\n"
                              "deadline_ms = 9000\n"
                              "retry_budget = 12.5%\n"
                              "retry_budget_min_per_s = 3\n"
                              "cushion = off\n"
                              "cushion_failures = 3\n"
                              "cushion_window = 64\n"
                              "cushion_half_open_ms = 1000\n"
                              "cushion_probes = 255\n"
                              "open_errno = ETIMEDOUT\n"
                              "pocket = b1.example.com:443, 10.0.0.9:80, [fd00::1]:8443\n"
                              "dns_stale_ms = 0\n"
                              "http_retry_status = 500, 503\n"
                              "http_retry_methods = get, POST\n"
                              "retry_after_max_ms = 1234\n"
                              "pocket_url = https://backup.example.com:8443\n"
                              "pocket_response = 503 /srv/down.json\n"
                              "state = process\n"
                              "chaos.connect_refuse = 0.25\n"
                              "chaos.connect_timeout = 0.5\n"
                              "chaos.dns_fail = 1\n"
                              "chaos.reset = .125\n"
                              "chaos.latency = 0.9\n"
                              "chaos.latency_ms = 250\n"
                              "chaos.short_write = 0.000000001\n"
                              "chaos.http_status = 503@0.3\n"
                              "[scoreboard]\nsocket = /run/carom.sock\n"
                              "[chaos]\nseed = 18446744073709551615\nenabled = off\n");
    const carom_policy *p = carom_policy_defaults(t);
    cr_assert_eq(p->retries, 7);
    cr_assert_eq(p->bounce.base_ms, 50);
    cr_assert_eq(p->bounce.cap_ms, 5000);
    cr_assert_eq(p->bounce.jitter, CAROM_JITTER_EQUAL);
    cr_assert(errno_set(p, ECONNRESET) && !errno_set(p, ECONNREFUSED) && p->retry_on_eai_again);
    cr_assert_eq(p->connect_timeout_ms, 1500);
    cr_assert(!p->retry_nonblocking);
    cr_assert_eq(p->io_timeout_ms, 2000);
    cr_assert_eq(p->deadline_ms, 9000);
    cr_assert_eq(p->budget.permille, 125);
    cr_assert_eq(p->budget.min_per_s, 3);
    cr_assert(!p->cushion_on);
    cr_assert_eq(p->cushion.failures, 3);
    cr_assert_eq(p->cushion.window, 64);
    cr_assert_eq(p->cushion.half_open_ms, 1000);
    cr_assert_eq(p->cushion.probes, 255);
    cr_assert_eq(p->open_errno, ETIMEDOUT);
    cr_assert_eq(p->npockets, 3);
    cr_assert_str_eq(p->pocket[0].host, "b1.example.com");
    cr_assert_eq(p->pocket[0].port, 443);
    cr_assert_str_eq(p->pocket[1].host, "10.0.0.9");
    cr_assert_str_eq(p->pocket[2].host, "fd00::1");
    cr_assert_eq(p->pocket[2].port, 8443);
    cr_assert_eq(p->dns_stale_ms, 0);
    cr_assert(status_set(p, 500) && status_set(p, 503) && !status_set(p, 408));
    cr_assert_eq(p->http_retry_methods, CAROM_M_GET | CAROM_M_POST);
    cr_assert_eq(p->retry_after_max_ms, 1234);
    cr_assert_str_eq(p->pocket_url, "https://backup.example.com:8443");
    cr_assert_eq(p->pocket_response_status, 503);
    cr_assert_str_eq(p->pocket_response_body, "/srv/down.json");
    cr_assert_eq(p->chaos.connect_refuse, 0.25);
    cr_assert_eq(p->chaos.connect_timeout, 0.5);
    cr_assert_eq(p->chaos.dns_fail, 1.0);
    cr_assert_eq(p->chaos.reset, 0.125);
    cr_assert_eq(p->chaos.latency, 0.9);
    cr_assert_eq(p->chaos.latency_ms, 250);
    cr_assert_eq(p->chaos.short_write, 1e-9);
    cr_assert_eq(p->chaos.http_status, 503);
    cr_assert_eq(p->chaos.http_status_p, 0.3);
    cr_assert_eq(carom_policy_state_mode(t), CAROM_STATE_PROCESS);
    cr_assert_str_eq(carom_policy_scoreboard(t), "/run/carom.sock");
    cr_assert_eq(carom_policy_chaos_seed(t), UINT64_MAX);
    cr_assert(!carom_policy_chaos_enabled(t));
    carom_policy_free(t);
}

Test(policy_load, budget_forms)
{
    static const struct {
        const char *v;
        unsigned permille;
    } cases[] = {{"20%", 200},   {"20", 200}, {"12.5%", 125}, {"0%", 0},
                 {"100%", 1000}, {"0.1%", 1}, {"12.50%", 125}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "[defaults]\nretry_budget = %s\n", cases[i].v);
        carom_table *t = parse_ok(text);
        cr_assert_eq(carom_policy_defaults(t)->budget.permille, cases[i].permille, "%s",
                     cases[i].v);
        carom_policy_free(t);
    }
}

Test(policy_load, policy_inherits_from_defaults_after_it)
{
    /* [defaults] comes last: the policy still inherits from it. */
    carom_table *t = parse_ok("[payments]\nmatch = api.pay.example.com:443\nretries = 5\n"
                              "[defaults]\nretries = 2\nio_timeout_ms = 700\njitter = none\n");
    const carom_policy *p = by_name(t, "payments");
    cr_assert_eq(p->retries, 5);
    cr_assert_eq(p->io_timeout_ms, 700);
    cr_assert_eq(p->bounce.jitter, CAROM_JITTER_NONE);
    cr_assert_eq(p->bounce.cap_ms, 30000); /* neither sets it: built-in */
    cr_assert_eq(carom_policy_defaults(t)->retries, 2);
    carom_policy_free(t);
}

Test(policy_load, empty_list_value_overrides_inherited_list)
{
    carom_table *t = parse_ok("[defaults]\npocket = a.example.com:1\n"
                              "[p]\nmatch = x:1\npocket =\nretry_on =\nhttp_retry_status =\n");
    const carom_policy *p = by_name(t, "p");
    cr_assert_eq(p->npockets, 0);
    cr_assert(!errno_set(p, ECONNREFUSED) && !p->retry_on_eai_again);
    cr_assert(!status_set(p, 503));
    cr_assert_eq(carom_policy_defaults(t)->npockets, 1);
    carom_policy_free(t);
}

Test(policy_load, table_order_and_indexes)
{
    carom_table *t = parse_ok("[a]\nmatch = a:1\n[defaults]\n[b:2]\n[c]\nmatch = c:3\n");
    cr_assert_eq(carom_policy_count(t), 4);
    cr_assert_str_eq(carom_policy_at(t, 0)->name, "defaults");
    cr_assert_str_eq(carom_policy_at(t, 1)->name, "a");
    cr_assert_str_eq(carom_policy_at(t, 2)->name, "b:2");
    cr_assert_str_eq(carom_policy_at(t, 3)->name, "c");
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(carom_policy_at(t, i)->index, i);
    cr_assert_null(carom_policy_at(t, 4));
    cr_assert_str_eq(carom_policy_match_text(t, carom_policy_at(t, 0)), "");
    cr_assert_str_eq(carom_policy_match_text(t, carom_policy_at(t, 2)), "b:2");
    carom_policy_free(t);
}

Test(policy_load, syntax_conveniences)
{
    /* CRLF, a BOM, indentation, inline comments, "key: value" and quoted values. */
    const char text[] = "\xef\xbb\xbf; comment\r\n# another\r\n[defaults]\r\n"
                        "   retries = 4 ; four\r\n"
                        "\tjitter: full\r\n"
                        "pocket_response = \"200 /srv/a b.json\"\r\n";
    carom_table *t = parse_ok(text);
    const carom_policy *p = carom_policy_defaults(t);
    cr_assert_eq(p->retries, 4);
    cr_assert_eq(p->bounce.jitter, CAROM_JITTER_FULL);
    cr_assert_eq(p->pocket_response_status, 200);
    cr_assert_str_eq(p->pocket_response_body, "/srv/a b.json");
    carom_policy_free(t);
}

Test(policy_load, match_lines_add_up)
{
    carom_table *t = parse_ok("[p]\nmatch = a.example.com:1, b.example.com:2\n"
                              "match = c.example.com:3\n");
    cr_assert_str_eq(carom_policy_match_text(t, by_name(t, "p")),
                     "a.example.com:1, b.example.com:2, c.example.com:3");
    cr_assert_str_eq(carom_policy_match(t, "c.example.com", NULL, 3)->name, "p");
    carom_policy_free(t);
}

Test(policy_load, not_nul_terminated_input)
{
    char buf[64];
    memset(buf, 'X', sizeof buf);
    const char *text = "[defaults]\nretries = 9";
    memcpy(buf, text, strlen(text));
    lines d = {0};
    carom_table *t = carom_policy_parse(buf, strlen(text), "t.ini", collect, &d);
    cr_assert_not_null(t);
    cr_assert_eq(carom_policy_defaults(t)->retries, 9);
    carom_policy_free(t);
}

Test(policy_load, hash_follows_content)
{
    carom_table *a = parse_ok("[defaults]\nretries = 1\n");
    carom_table *b = parse_ok("[defaults]\nretries = 1\n");
    carom_table *c = parse_ok("[defaults]\nretries = 2\n");
    cr_assert_eq(carom_policy_hash(a), carom_policy_hash(b));
    cr_assert_neq(carom_policy_hash(a), carom_policy_hash(c));
    carom_policy_free(a);
    carom_policy_free(b);
    carom_policy_free(c);
}

static void append_line(void *u, const char *line)
{
    strcat(u, line);
    strcat(u, "\n");
}

Test(policy_load, describe_round_trips_through_the_parser)
{
    /* check -v output is itself a carom.ini that loads to the same table. */
    carom_table *t = parse_ok("[defaults]\nretry_budget = 12.5%\nchaos.http_status = 503@0.3\n"
                              "[payments]\nmatch = api.pay.example.com:443, *.pay.example.com, "
                              "10.1.0.0/16:8443, [fd00::/8]:443, [::1], *:9\n"
                              "pocket = [::1]:80\npocket_response = 200\n[chaos]\nseed = 42\n");
    static char out[65536];
    out[0] = '\0';
    carom_policy_dump(t, append_line, out);
    lines d = {0};
    carom_table *u = carom_policy_parse(out, strlen(out), "dump.ini", collect, &d);
    cr_assert_not_null(u, "%s", d.n ? d.text[0] : "");
    cr_assert_eq(carom_policy_count(u), carom_policy_count(t));
    for (size_t i = 0; i < carom_policy_count(t); i++)
        cr_assert_eq(memcmp(carom_policy_at(t, i), carom_policy_at(u, i), sizeof(carom_policy)), 0,
                     "policy %zu differs", i);
    cr_assert_eq(carom_policy_chaos_seed(u), 42);
    carom_policy_free(t);
    carom_policy_free(u);
}

Test(policy_load, explain_lists_every_setting_in_spec_order)
{
    static const char *const keys[] = {"retries",
                                       "base_delay_ms",
                                       "max_delay_ms",
                                       "jitter",
                                       "retry_on",
                                       "connect_timeout_ms",
                                       "retry_nonblocking",
                                       "io_timeout_ms",
                                       "deadline_ms",
                                       "retry_budget",
                                       "retry_budget_min_per_s",
                                       "cushion",
                                       "cushion_failures",
                                       "cushion_window",
                                       "cushion_half_open_ms",
                                       "cushion_first_break_ms",
                                       "cushion_probes",
                                       "open_errno",
                                       "pocket",
                                       "dns_stale_ms",
                                       "http_retry_status",
                                       "http_retry_methods",
                                       "retry_after_max_ms",
                                       "pocket_url",
                                       "pocket_response",
                                       "state",
                                       "rate_limit",
                                       "rate_burst",
                                       "max_connections",
                                       "limit_wait_ms",
                                       "chaos.connect_refuse",
                                       "chaos.connect_timeout",
                                       "chaos.dns_fail",
                                       "chaos.reset",
                                       "chaos.latency",
                                       "chaos.latency_ms",
                                       "chaos.short_write",
                                       "chaos.http_status",
                                       "chaos.connect_latency",
                                       "chaos.connect_latency_ms",
                                       "chaos.dns_fail_error",
                                       "chaos.blackhole",
                                       "chaos.bandwidth_kbps",
                                       "chaos.limit_data",
                                       "chaos.limit_data_mode",
                                       "chaos.slice",
                                       "chaos.slow_close_ms",
                                       "chaos.direction",
                                       "chaos.first"};
    carom_table *t = carom_policy_builtin();
    lines l = {0};
    carom_policy_explain(t, carom_policy_defaults(t), collect, &l);
    cr_assert_eq(l.n, (int)(sizeof keys / sizeof keys[0]));
    for (int i = 0; i < l.n; i++) {
        size_t kl = strlen(keys[i]);
        cr_assert(strncmp(l.text[i], keys[i], kl) == 0 &&
                      (l.text[i][kl] == ' ' || l.text[i][kl] == '\0'),
                  "line %d: %s, want key %s", i, l.text[i], keys[i]);
    }
    cr_assert_str_eq(l.text[4],
                     "retry_on = ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH, EAI_AGAIN");
    cr_assert_str_eq(l.text[9], "retry_budget = 20%");
    cr_assert_str_eq(l.text[18], "pocket =");
    carom_policy_free(t);
}

Test(policy_load, errno_names)
{
    cr_assert_str_eq(carom_errno_name(ECONNREFUSED), "ECONNREFUSED");
    cr_assert_str_eq(carom_errno_name(EAGAIN), "EAGAIN"); /* not the alias EWOULDBLOCK */
    cr_assert_eq(carom_errno_value("ETIMEDOUT"), ETIMEDOUT);
    cr_assert_eq(carom_errno_value("EWOULDBLOCK"), EAGAIN);
    cr_assert_eq(carom_errno_value("econnreset"), ECONNRESET);
    cr_assert_str_eq(carom_errno_name(carom_errno_value("EAI_AGAIN")), "EAI_AGAIN");
    cr_assert_eq(carom_errno_value("ENOPE"), -1);
    cr_assert_null(carom_errno_name(100000));
}

static char tmpdir[256];

static void make_tmp(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/carom-policy-test.XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

/* The policy layer takes bytes; reading the file is the caller's (the shim's own trusted
 * reader, tools/policy_file.c for the command). The tests read theirs here. */
static carom_table *load_file(const char *path, carom_diag_fn diag, void *ud)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    cr_assert(n < sizeof buf, "%s is larger than the test reads", path);
    fclose(f);
    return carom_policy_parse(buf, n, path, diag, ud);
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

Test(policy_load, parse_names_the_file_in_diagnostics)
{
    make_tmp();
    char path[512];
    snprintf(path, sizeof path, "%s/carom.ini", tmpdir);
    write_file(path, "[defaults]\nretries = 6\n");
    lines d = {0};
    carom_table *t = load_file(path, collect, &d);
    cr_assert_not_null(t);
    cr_assert_eq(carom_policy_defaults(t)->retries, 6);
    carom_policy_free(t);

    write_file(path, "[defaults]\n\nretries = lots\n");
    memset(&d, 0, sizeof d);
    cr_assert_null(load_file(path, collect, &d));
    cr_assert_eq(d.n, 1);
    char want[1024];
    snprintf(want, sizeof want,
             "carom: %s:3: retries: expected a whole number 0..100, got \"lots\"", path);
    cr_assert_str_eq(d.text[0], want);
    unlink(path);
    rmdir(tmpdir);
}

/* Some runners (the TSan stand-in) run every test in one process: put the environment
 * back as it was. */
static void restore_env(const char *name, const char *saved)
{
    if (saved)
        setenv(name, saved, 1);
    else
        unsetenv(name);
}

Test(policy_load, find_follows_the_spec_order)
{
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    char *old_xdg = getenv("XDG_CONFIG_HOME") ? strdup(getenv("XDG_CONFIG_HOME")) : NULL;
    char *old_cfg = getenv("CAROM_CONFIG") ? strdup(getenv("CAROM_CONFIG")) : NULL;
    make_tmp();
    char xdg[512], home[512], path[600], buf[1024], cwd[1024];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    cr_assert_eq(chdir(tmpdir), 0);
    snprintf(xdg, sizeof xdg, "%s/xdg", tmpdir);
    snprintf(home, sizeof home, "%s/home", tmpdir);
    unsetenv("CAROM_CONFIG");
    setenv("XDG_CONFIG_HOME", xdg, 1);
    setenv("HOME", home, 1);
    /* nothing anywhere (unless this machine has /etc/carom.ini) */
    const char *f = carom_policy_find(buf, sizeof buf, exists);
    if (access("/etc/carom.ini", F_OK) == 0)
        cr_assert_str_eq(f, "/etc/carom.ini");
    else
        cr_assert_null(f);
    /* ~/.config is used only when XDG_CONFIG_HOME is unset */
    snprintf(path, sizeof path, "%s/.config", home);
    mkdir(home, 0700);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/.config/carom", home);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/.config/carom/carom.ini", home);
    write_file(path, "");
    unsetenv("XDG_CONFIG_HOME");
    cr_assert_str_eq(carom_policy_find(buf, sizeof buf, exists), path);
    setenv("XDG_CONFIG_HOME", xdg, 1);
    mkdir(xdg, 0700);
    snprintf(path, sizeof path, "%s/carom", xdg);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/carom/carom.ini", xdg);
    write_file(path, "");
    cr_assert_str_eq(carom_policy_find(buf, sizeof buf, exists), path);
    /* ./carom.ini beats XDG */
    write_file("carom.ini", "");
    cr_assert_str_eq(carom_policy_find(buf, sizeof buf, exists), "carom.ini");
    /* $CAROM_CONFIG beats everything, even when it does not exist */
    setenv("CAROM_CONFIG", "/nonexistent/x.ini", 1);
    cr_assert_str_eq(carom_policy_find(buf, sizeof buf, exists), "/nonexistent/x.ini");
    cr_assert_eq(chdir(cwd), 0);
    restore_env("CAROM_CONFIG", old_cfg);
    restore_env("XDG_CONFIG_HOME", old_xdg);
    restore_env("HOME", old_home);
    free(old_cfg);
    free(old_xdg);
    free(old_home);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

Test(policy_load, scoreboard_env_override)
{
    carom_table *t = parse_ok("[scoreboard]\nsocket = /run/a.sock\n");
    char *old = getenv("CAROM_SCOREBOARD") ? strdup(getenv("CAROM_SCOREBOARD")) : NULL;
    unsetenv("CAROM_SCOREBOARD");
    cr_assert_str_eq(carom_policy_scoreboard_path(t), "/run/a.sock");
    setenv("CAROM_SCOREBOARD", "/run/b.sock", 1);
    cr_assert_str_eq(carom_policy_scoreboard_path(t), "/run/b.sock");
    cr_assert_str_eq(carom_policy_scoreboard(t), "/run/a.sock");
    restore_env("CAROM_SCOREBOARD", old);
    free(old);
    carom_policy_free(t);
}

static const char *root(void)
{
    const char *r = getenv("CAROM_ROOT");
    return r && *r ? r : ".";
}

Test(policy_load, the_example_carom_ini_is_valid)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/carom.ini", root());
    lines d = {0};
    carom_table *t = load_file(path, collect, &d);
    cr_assert_not_null(t, "%s", d.n ? d.text[0] : "");
    const carom_policy *p = carom_policy_match(t, "api.pay.example.com", NULL, 443);
    cr_assert_str_eq(p->name, "payments");
    cr_assert_eq(p->retries, 5);
    cr_assert_eq(carom_policy_match(t, "localhost", NULL, 6379)->io_timeout_ms, 2000);
    /* safe as shipped: no chaos anywhere */
    for (size_t i = 0; i < carom_policy_count(t); i++) {
        const carom_chaos *c = &carom_policy_at(t, i)->chaos;
        cr_assert(c->connect_refuse == 0 && c->connect_timeout == 0 && c->dns_fail == 0 &&
                  c->reset == 0 && c->latency == 0 && c->short_write == 0 && c->http_status == 0);
    }
    carom_policy_free(t);
}
