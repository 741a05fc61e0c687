/* pattern.c: the endpoint patterns of carom.ini (host:port, *.domain:port, cidr:port, ...)
 * read into one canonical form, so that equal patterns compare equal and the matcher can
 * build the same lookup key from a live endpoint. It must never allocate: the matcher
 * calls the address helpers on the shim's hot path. */
#include "policy_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static void fail(char *why, size_t wl, const char *msg)
{
    if (wl) snprintf(why, wl, "%s", msg);
}

/* IPv4-mapped IPv6 (::ffff:a.b.c.d) is the same peer as a.b.c.d: folding it here means a
 * dual-stack socket and an IPv4 socket get the same policy. */
static void fold_mapped(carom__ip *ip)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (ip->family == 6 && memcmp(ip->b, prefix, 12) == 0) {
        memmove(ip->b, ip->b + 12, 4);
        memset(ip->b + 4, 0, 12);
        ip->family = 4;
    }
}

static bool ip_parse_fam(const char *s, size_t len, int af, carom__ip *ip)
{
    char buf[INET6_ADDRSTRLEN + 1];
    if (len == 0 || len >= sizeof buf) return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(ip, 0, sizeof *ip);
    if (inet_pton(af, buf, ip->b) != 1) return false;
    ip->family = af == AF_INET ? 4 : 6;
    return true;
}

bool carom__ip_parse(const char *s, size_t len, carom__ip *ip)
{
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        if (!ip_parse_fam(s + 1, len - 2, AF_INET6, ip)) return false;
    } else if (memchr(s, ':', len)) {
        if (!ip_parse_fam(s, len, AF_INET6, ip)) return false;
    } else if (!ip_parse_fam(s, len, AF_INET, ip)) {
        return false;
    }
    fold_mapped(ip);
    return true;
}

bool carom__ip_from_sockaddr(const struct sockaddr *sa, carom__ip *ip)
{
    memset(ip, 0, sizeof *ip);
    if (!sa) return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        memcpy(ip->b, &in->sin_addr, 4);
        ip->family = 4;
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        memcpy(ip->b, &in6->sin6_addr, 16);
        ip->family = 6;
        fold_mapped(ip);
        return true;
    }
    return false;
}

void carom__ip_format(const carom__ip *ip, bool brackets, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN];
    if (!inet_ntop(ip->family == 4 ? AF_INET : AF_INET6, ip->b, a, sizeof a)) a[0] = '\0';
    if (ip->family == 6 && brackets)
        snprintf(buf, len, "[%s]", a);
    else
        snprintf(buf, len, "%s", a);
}

/* Host name bytes: 1 a letter, "-" or "_", 2 a digit, 3 the dot, 0 anything else. */
static const uint8_t host_byte[256] = {
    ['-'] = 1, ['_'] = 1, ['.'] = 3, ['0' ... '9'] = 2, ['a' ... 'z'] = 1, ['A' ... 'Z'] = 1,
};

bool carom__host_valid(const char *s, size_t len)
{
    if (len == 0 || len > 253) return false;
    size_t label = 0;
    bool digits_only = true;
    for (size_t i = 0; i < len; i++) {
        unsigned cl = host_byte[(unsigned char)s[i]];
        if (cl == 3) {
            if (label == 0) return false;
            label = 0;
            digits_only = true;
            continue;
        }
        if (cl == 0) return false;
        if (cl == 1) digits_only = false;
        if (++label > 63) return false;
    }
    /* "10.1.0.300" is a mistyped address, never a name: no top-level domain is numeric. */
    return label > 0 && !digits_only;
}

/* Copies a host name lower-cased without its one optional trailing dot; false if invalid. */
static bool host_copy(const char *s, size_t len, char *out)
{
    if (len > 1 && s[len - 1] == '.') len--;
    if (!carom__host_valid(s, len)) return false;
    for (size_t i = 0; i < len; i++) /* ASCII only (host_valid said so) */
        out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + ('a' - 'A') : s[i]);
    out[len] = '\0';
    return true;
}

static bool parse_port(const char *s, size_t len, uint16_t *port)
{
    if (len == 1 && s[0] == '*') {
        *port = 0;
        return true;
    }
    if (len == 0 || len > 5) return false;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v < 1 || v > 65535) return false;
    *port = (uint16_t)v;
    return true;
}

static int parse_cidr(const char *s, size_t len, int af, carom__pattern *p, char *why, size_t wl)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = (size_t)(slash - s), plen_len = len - alen - 1;
    unsigned maxp = af == AF_INET ? 32 : 128, plen = 0;
    carom__ip ip;
    if (!ip_parse_fam(s, alen, af, &ip)) {
        fail(why, wl,
             af == AF_INET ? "not an IPv4 address before \"/\""
                           : "not an IPv6 address before \"/\"");
        return -1;
    }
    if (plen_len == 0 || plen_len > 3) goto badlen;
    for (size_t i = 0; i < plen_len; i++) {
        char c = slash[1 + i];
        if (c < '0' || c > '9') goto badlen;
        plen = plen * 10 + (unsigned)(c - '0');
    }
    if (plen > maxp) goto badlen;
    unsigned bytes = maxp / 8;
    for (unsigned i = 0; i < bytes; i++) {
        unsigned keep = plen >= (i + 1) * 8 ? 8 : plen > i * 8 ? plen - i * 8 : 0;
        uint8_t m = (uint8_t)(keep == 0 ? 0 : 0xffu << (8 - keep));
        if (ip.b[i] & (uint8_t)~m) {
            char want[INET6_ADDRSTRLEN], msg[160];
            carom__ip masked = ip;
            for (unsigned j = i; j < bytes; j++) {
                unsigned k = plen >= (j + 1) * 8 ? 8 : plen > j * 8 ? plen - j * 8 : 0;
                masked.b[j] &= (uint8_t)(k == 0 ? 0 : 0xffu << (8 - k));
            }
            carom__ip_format(&masked, false, want, sizeof want);
            snprintf(msg, sizeof msg,
                     "address has bits set past the /%u prefix (did you mean %s/%u?)", plen, want,
                     plen);
            fail(why, wl, msg);
            return -1;
        }
    }
    /* ::ffff:0:0/96 and longer is IPv4 in disguise; matching folds addresses the same way. */
    if (ip.family == 6 && plen >= 96) {
        carom__ip f = ip;
        fold_mapped(&f);
        if (f.family == 4) {
            ip = f;
            plen -= 96;
        }
    }
    p->kind = CAROM__P_CIDR;
    p->ip = ip;
    p->plen = (uint8_t)plen;
    return 0;
badlen:
    fail(why, wl, af == AF_INET ? "prefix length must be 0..32" : "prefix length must be 0..128");
    return -1;
}

static int parse_v6_part(const char *s, size_t len, carom__pattern *p, char *why, size_t wl)
{
    if (memchr(s, '/', len)) return parse_cidr(s, len, AF_INET6, p, why, wl);
    if (!ip_parse_fam(s, len, AF_INET6, &p->ip)) {
        fail(why, wl, "not an IPv6 address");
        return -1;
    }
    fold_mapped(&p->ip);
    p->kind = CAROM__P_ADDR;
    return 0;
}

/* An IPv4 literal is digits and dots (host has no ":" here, so it can be nothing else the
 * address parser takes); anything else skips the library call. */
static bool digits_dots(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) return false;
    return true;
}

/* isspace in the C locale, without the locale look-up. */
static bool is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

int carom__pattern_parse(const char *s, size_t len, carom__pattern *p, char *why, size_t wl)
{
    memset(p, 0, sizeof *p);
    while (len && is_space((unsigned char)*s))
        s++, len--;
    while (len && is_space((unsigned char)s[len - 1]))
        len--;
    if (len == 0) {
        fail(why, wl, "empty pattern");
        return -1;
    }
    const char *host = s, *port = NULL;
    size_t hlen = len, plen = 0;
    if (s[0] == '[') {
        const char *rb = memchr(s, ']', len);
        if (!rb) {
            fail(why, wl, "\"[\" without \"]\"");
            return -1;
        }
        size_t rest = len - (size_t)(rb + 1 - s);
        if (rest > 0) {
            if (rb[1] != ':') {
                fail(why, wl, "expected \":PORT\" after \"]\"");
                return -1;
            }
            port = rb + 2;
            plen = rest - 1;
        }
        if (port && !parse_port(port, plen, &p->port)) goto badport;
        if (parse_v6_part(s + 1, (size_t)(rb - s - 1), p, why, wl) != 0) return -1;
        return 0;
    }
    const char *c1 = memchr(s, ':', len);
    if (c1 && memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - s))) {
        /* Two colons: a bare IPv6 address or prefix, which cannot carry a port. */
        if (parse_v6_part(s, len, p, why, wl) != 0) {
            if (wl && strcmp(why, "not an IPv6 address") == 0)
                fail(why, wl, "not an IPv6 address (write [ADDRESS]:PORT for a port)");
            return -1;
        }
        return 0;
    }
    if (c1) {
        hlen = (size_t)(c1 - s);
        port = c1 + 1;
        plen = len - hlen - 1;
        if (!parse_port(port, plen, &p->port)) goto badport;
    }
    if (hlen == 1 && host[0] == '*') {
        if (p->port == 0) {
            fail(why, wl, "matches every endpoint (put these keys in [defaults])");
            return -1;
        }
        p->kind = CAROM__P_PORT;
        return 0;
    }
    if (hlen >= 2 && host[0] == '*' && host[1] == '.') {
        carom__ip ip;
        if ((digits_dots(host + 2, hlen - 2) && carom__ip_parse(host + 2, hlen - 2, &ip)) ||
            !host_copy(host + 2, hlen - 2, p->host)) {
            fail(why, wl, "\"*.\" must be followed by a domain name");
            return -1;
        }
        p->kind = CAROM__P_WILD;
        return 0;
    }
    if (memchr(host, '*', hlen)) {
        fail(why, wl, "a wildcard must be the whole first label, as in *.example.com");
        return -1;
    }
    if (hlen == 0) {
        fail(why, wl, "missing host before \":\"");
        return -1;
    }
    if (memchr(host, '/', hlen)) return parse_cidr(host, hlen, AF_INET, p, why, wl);
    if (digits_dots(host, hlen) && ip_parse_fam(host, hlen, AF_INET, &p->ip)) {
        p->kind = CAROM__P_ADDR;
        return 0;
    }
    if (!host_copy(host, hlen, p->host)) {
        bool numeric = true;
        for (size_t i = 0; i < hlen; i++)
            if (!isdigit((unsigned char)host[i]) && host[i] != '.') numeric = false;
        fail(why, wl,
             numeric ? "not a valid IPv4 address" : "not a host name, IP address or CIDR prefix");
        return -1;
    }
    p->kind = CAROM__P_NAME;
    return 0;
badport:
    fail(why, wl, "port must be 1..65535 or *");
    return -1;
}

void carom__pattern_format(const carom__pattern *p, char *buf, size_t len)
{
    char h[CAROM_HOST_MAX + 8], port[8] = "";
    if (p->port) snprintf(port, sizeof port, ":%u", (unsigned)p->port);
    switch (p->kind) {
    case CAROM__P_NAME:
        snprintf(buf, len, "%s%s", p->host, port);
        break;
    case CAROM__P_WILD:
        snprintf(buf, len, "*.%s%s", p->host, port);
        break;
    case CAROM__P_ADDR:
        carom__ip_format(&p->ip, p->port != 0 || p->ip.family == 6, h, sizeof h);
        snprintf(buf, len, "%s%s", h, port);
        break;
    case CAROM__P_CIDR:
        carom__ip_format(&p->ip, false, h, sizeof h);
        if (p->ip.family == 6)
            snprintf(buf, len, "[%s/%u]%s", h, (unsigned)p->plen, port);
        else
            snprintf(buf, len, "%s/%u%s", h, (unsigned)p->plen, port);
        break;
    case CAROM__P_PORT:
        snprintf(buf, len, "*%s", port);
        break;
    default:
        snprintf(buf, len, "?");
    }
}
