/* cmd_check.c: `carom check` (validate a policy file) and `carom explain` (which policy
 * governs an endpoint). Both only read: they must never resolve names, connect, or touch
 * shared memory, so that they answer the same on a laptop as on the server. */
#include "carom_tools.h"

#include "../policy/carom_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const char check_usage[] =
    "usage: carom check [-v] [FILE]\n"
    "Validates FILE (default: the carom.ini the shim would find); exit 1 on problems.\n"
    "  -v, --verbose  print the effective policy table on stdout\n"
    "  -h, --help     show this help\n";
static const char explain_usage[] =
    "usage: carom explain HOST:PORT [FILE]\n"
    "Prints which policy governs HOST:PORT, then every effective key = value.\n"
    "       HOST is a name, an IPv4 address or [IPv6]\n"
    "  -h, --help     show this help\n";

static void to_stderr(void *ud, const char *line)
{
    (void)ud;
    fprintf(stderr, "%s\n", line);
}

static void to_stdout(void *ud, const char *line)
{
    (void)ud;
    fprintf(stdout, "%s\n", line);
}

/* FILE if given, else the file found as docs/configuration.md says ("Where the file is
 * found"), else the built-in defaults. Returns NULL after printing the file's problems. */
static carom_table *load(const char *file, const char **shown)
{
    char buf[4096];
    const char *path = file ? file : carom__config_find(buf, sizeof buf);
    if (!path) {
        fprintf(stderr, "carom: no carom.ini found ($CAROM_CONFIG, ./carom.ini, "
                        "$XDG_CONFIG_HOME/carom/carom.ini or ~/.config/carom/carom.ini, "
                        "/etc/carom.ini): the built-in defaults apply\n");
        *shown = "(built-in defaults)";
        carom_table *t = carom_policy_builtin();
        if (!t) fprintf(stderr, "carom: out of memory\n");
        return t;
    }
    static char keep[4096];
    snprintf(keep, sizeof keep, "%s", path);
    *shown = keep;
    return carom__config_load(keep, to_stderr, NULL);
}

int carom__cmd_check(int argc, char **argv)
{
    bool verbose = false, opts = true;
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opts && strcmp(a, "--") == 0) {
            opts = false;
        } else if (opts && (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0)) {
            verbose = true;
        } else if (opts && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
            fputs(check_usage, stdout);
            return 0;
        } else if (opts && a[0] == '-' && a[1]) {
            fprintf(stderr, "carom check: unknown option \"%s\"\n%s", a, check_usage);
            return 2;
        } else if (!file) {
            file = a;
        } else {
            fprintf(stderr, "carom check: one FILE at most\n%s", check_usage);
            return 2;
        }
    }
    const char *shown = NULL;
    carom_table *t = load(file, &shown);
    if (!t) return 1;
    if (verbose) carom_policy_dump(t, to_stdout, NULL);
    size_t n = carom_policy_count(t) - 1;
    fprintf(stderr, "carom: %s: ok (%zu %s besides [defaults])\n", shown, n,
            n == 1 ? "policy" : "policies");
    carom_policy_free(t);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* HOST:PORT, with HOST a name, an IPv4 address or [IPv6]. */
static bool parse_endpoint(const char *s, char *host, size_t hlen, struct sockaddr_storage *ss,
                           bool *is_ip, uint16_t *port)
{
    const char *h = s, *p;
    size_t hl;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':') return false;
        h = s + 1;
        hl = (size_t)(rb - h);
        p = rb + 2;
    } else {
        const char *c = strrchr(s, ':');
        if (!c || memchr(s, ':', (size_t)(c - s))) return false; /* bare IPv6 needs [ ] */
        hl = (size_t)(c - s);
        p = c + 1;
    }
    if (hl == 0 || hl >= hlen || !*p || strlen(p) > 5) return false;
    unsigned v = 0;
    for (const char *c = p; *c; c++) {
        if (*c < '0' || *c > '9') return false;
        v = v * 10 + (unsigned)(*c - '0');
    }
    if (v < 1 || v > 65535) return false;
    *port = (uint16_t)v;
    memcpy(host, h, hl);
    host[hl] = '\0';
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    *is_ip = true;
    if (s[0] == '[') {
        if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1) return false;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(*port);
    } else if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(*port);
    } else {
        *is_ip = false;
    }
    return true;
}

int carom__cmd_explain(int argc, char **argv)
{
    const char *ep = NULL, *file = NULL;
    bool opts = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opts && strcmp(a, "--") == 0) {
            opts = false;
        } else if (opts && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
            fputs(explain_usage, stdout);
            return 0;
        } else if (opts && a[0] == '-' && a[1]) {
            fprintf(stderr, "carom explain: unknown option \"%s\"\n%s", a, explain_usage);
            return 2;
        } else if (!ep) {
            ep = a;
        } else if (!file) {
            file = a;
        } else {
            fprintf(stderr, "carom explain: too many arguments\n%s", explain_usage);
            return 2;
        }
    }
    if (!ep) {
        fputs(explain_usage, stderr);
        return 2;
    }
    char host[CAROM_HOST_MAX];
    struct sockaddr_storage ss;
    bool is_ip = false;
    uint16_t port = 0;
    if (!parse_endpoint(ep, host, sizeof host, &ss, &is_ip, &port)) {
        fprintf(stderr, "carom explain: expected HOST:PORT with a port 1..65535, got \"%s\"\n%s",
                ep, explain_usage);
        return 2;
    }
    const char *shown = NULL;
    carom_table *t = load(file, &shown);
    if (!t) return 1;
    /* An address goes in as the shim passes a connect()'s peer; a name as a learned name.
     * Nothing is resolved: explain answers for exactly what it was given. */
    const carom_policy *p = is_ip ? carom_policy_match(t, NULL, (struct sockaddr *)&ss, port)
                                  : carom_policy_match(t, host, NULL, port);
    printf("policy %s\n", p->name);
    carom_policy_explain(t, p, to_stdout, NULL);
    if (carom_policy_fleet(t)->redis[0]) { /* shared across hosts too (docs/fleet.md) */
        printf("\n");
        carom_policy_describe_fleet(t, to_stdout, NULL);
    }
    carom_policy_free(t);
    return fflush(stdout) == 0 ? 0 : 1;
}
