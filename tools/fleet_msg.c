/* fleet_msg.c: the encoder and decoder of `carom fleet`'s reports (docs/fleet.md, "The
 * report"). The decoder is the daemon's whole attack surface towards other peers on the
 * same Redis, so it is strict and total: any bytes in, a report or a reason out. It must
 * never allocate, do I/O, read past the length it is given, or accept a field it cannot
 * prove well-formed (a payload, a URL path or a control byte has no way in). */
#include "fleet_msg.h"

#include <stdio.h>
#include <string.h>

static const char *const state_names[CAROM_FLEET__NSTATES] = {
    [CAROM_FLEET_CLOSED] = "closed",       [CAROM_FLEET_OPEN] = "open",
    [CAROM_FLEET_HALF_OPEN] = "half_open", [CAROM_FLEET_FORCED] = "forced",
    [CAROM_FLEET_MARKED] = "fleet",
};

const char *carom__fleet_state_name(uint8_t state)
{
    return state < CAROM_FLEET__NSTATES ? state_names[state] : "?";
}

static int word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

int carom__fleet_id_ok(const char *s, size_t len, size_t max)
{
    if (len == 0 || len >= max) return 0;
    for (size_t i = 0; i < len; i++)
        if (!word_char((unsigned char)s[i])) return 0;
    return 1;
}

int carom__fleet_ep_ok(const char *s, size_t len)
{
    if (len < 3 || len >= CAROM_SLOT_KEY_MAX) return 0;
    size_t colon = len;
    while (colon > 0 && s[colon - 1] != ':')
        colon--;
    if (colon == 0) return 0;
    colon--; /* index of the last ':' */
    size_t pl = len - colon - 1;
    if (pl == 0 || pl > 5 || s[colon + 1] == '0') return 0;
    unsigned port = 0;
    for (size_t i = colon + 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        port = port * 10 + (unsigned)(s[i] - '0');
    }
    if (port == 0 || port > 65535) return 0;
    if (colon == 0) return 0;
    if (s[0] == '[') { /* [v6]:port: hex digits, ':' and '.' (a v4 tail) inside */
        if (colon < 3 || s[colon - 1] != ']') return 0;
        for (size_t i = 1; i + 1 < colon; i++) {
            unsigned char c = (unsigned char)s[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                  c == ':' || c == '.'))
                return 0;
        }
        return 1;
    }
    for (size_t i = 0; i < colon; i++)
        if (!word_char((unsigned char)s[i])) return 0;
    return 1;
}

int carom__fleet_encode(const carom__fleet_report *r, char *buf, size_t cap)
{
    if (!carom__fleet_id_ok(r->host, strnlen(r->host, sizeof r->host), sizeof r->host) ||
        r->ttl_ms < CAROM_FLEET_TTL_MIN || r->ttl_ms > CAROM_FLEET_TTL_MAX ||
        r->n > CAROM_FLEET_EPS_MAX || r->seq > INT64_MAX)
        return -1;
    size_t n = 0;
    int w = snprintf(buf, cap, "carom-fleet 1\nhost %s\nseq %llu\nttl_ms %u\n", r->host,
                     (unsigned long long)r->seq, r->ttl_ms);
    if (w < 0 || (size_t)w >= cap) return -1;
    n = (size_t)w;
    for (unsigned i = 0; i < r->n; i++) {
        const carom__fleet_ep *e = &r->ep[i];
        size_t el = strnlen(e->ep, sizeof e->ep);
        if (e->state >= CAROM_FLEET__NSTATES || !carom__fleet_ep_ok(e->ep, el)) return -1;
        w = snprintf(buf + n, cap - n, "%s %.*s\n", state_names[e->state], (int)el, e->ep);
        if (w < 0 || (size_t)w >= cap - n) return -1;
        n += (size_t)w;
    }
    if (n > CAROM_FLEET_MSG_MAX) return -1;
    return (int)n;
}

/* The next line, without its '\n'; NULL when there is no complete line left. */
static const char *line(const char **p, const char *end, size_t *len)
{
    const char *s = *p;
    const char *nl = s < end ? memchr(s, '\n', (size_t)(end - s)) : NULL;
    if (!nl) return NULL;
    *len = (size_t)(nl - s);
    *p = nl + 1;
    return s;
}

/* "NAME VALUE" with a decimal value of at most 19 digits. */
static int field_u64(const char *s, size_t len, const char *name, uint64_t *out)
{
    size_t nl = strlen(name);
    if (len <= nl + 1 || memcmp(s, name, nl) != 0 || s[nl] != ' ') return 0;
    s += nl + 1;
    len -= nl + 1;
    if (len == 0 || len > 19 || (len > 1 && s[0] == '0')) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 1;
}

const char *carom__fleet_decode(const char *buf, size_t len, carom__fleet_report *out)
{
    if (!buf || len == 0) return "empty";
    if (len > CAROM_FLEET_MSG_MAX) return "longer than 64 KiB";
    const char *p = buf, *end = buf + len, *s;
    size_t l;
    uint64_t v;
    memset(out->host, 0, sizeof out->host);
    out->n = 0;
    if (!(s = line(&p, end, &l)) || l != 13 || memcmp(s, "carom-fleet 1", 13) != 0)
        return "not a carom fleet report (version 1)";
    if (!(s = line(&p, end, &l)) || l < 6 || memcmp(s, "host ", 5) != 0 ||
        !carom__fleet_id_ok(s + 5, l - 5, sizeof out->host))
        return "bad host id";
    memcpy(out->host, s + 5, l - 5);
    if (!(s = line(&p, end, &l)) || !field_u64(s, l, "seq", &v) || v > INT64_MAX) return "bad seq";
    out->seq = v;
    if (!(s = line(&p, end, &l)) || !field_u64(s, l, "ttl_ms", &v) || v < CAROM_FLEET_TTL_MIN ||
        v > CAROM_FLEET_TTL_MAX)
        return "bad ttl_ms";
    out->ttl_ms = (uint32_t)v;
    while (p < end) {
        if (!(s = line(&p, end, &l))) return "unterminated line";
        const char *sp = memchr(s, ' ', l);
        if (!sp) return "bad endpoint line";
        size_t sl = (size_t)(sp - s), el = l - sl - 1;
        int st = -1;
        for (int i = 0; i < CAROM_FLEET__NSTATES; i++)
            if (strlen(state_names[i]) == sl && memcmp(s, state_names[i], sl) == 0) st = i;
        if (st < 0) return "unknown state";
        if (!carom__fleet_ep_ok(sp + 1, el)) return "bad endpoint";
        if (out->n >= CAROM_FLEET_EPS_MAX) return "too many endpoints";
        for (unsigned i = 0; i < out->n; i++)
            if (strlen(out->ep[i].ep) == el && memcmp(out->ep[i].ep, sp + 1, el) == 0)
                return "endpoint listed twice";
        carom__fleet_ep *e = &out->ep[out->n++];
        memcpy(e->ep, sp + 1, el);
        e->ep[el] = 0;
        e->state = (uint8_t)st;
    }
    return NULL;
}
