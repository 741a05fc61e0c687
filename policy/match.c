/* match.c: finds the policy that governs an endpoint, in the precedence order
 * docs/configuration.md gives, with one immutable hash table over every pattern. It must never
 * allocate, lock or print on the lookup path: the shim calls carom_policy_match for every connect.
 */
#include "policy_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Word-at-a-time multiply-xorshift: a few multiplies where byte-wise FNV would cost one
 * per byte. Words are read little-endian, so a file hashes the same on every host (the
 * table's hash names its shared memory; docs/configuration.md, "Table hash"). Not meant to
 * resist chosen collisions: the pattern table holds only the config's own keys, so a
 * hostile lookup can at worst walk the longest cluster the config itself produced. */
static uint64_t load_le64(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

uint64_t carom__hash(const void *data, size_t n)
{
    const uint8_t *p = data;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)n * 0xff51afd7ed558ccdull);
    /* Two words a round for long input (a whole carom.ini): half the multiplies; two rounds
     * a turn of the loop, the same rounds in the same order. */
    while (n >= 32) {
        h = ((h ^ load_le64(p)) * 0xc4ceb9fe1a85ec53ull) ^ load_le64(p + 8);
        h = (h ^ (h >> 31)) * 0x9e3779b97f4a7c15ull;
        h = ((h ^ load_le64(p + 16)) * 0xc4ceb9fe1a85ec53ull) ^ load_le64(p + 24);
        h = (h ^ (h >> 31)) * 0x9e3779b97f4a7c15ull;
        p += 32;
        n -= 32;
    }
    if (n >= 16) {
        h = ((h ^ load_le64(p)) * 0xc4ceb9fe1a85ec53ull) ^ load_le64(p + 8);
        h = (h ^ (h >> 31)) * 0x9e3779b97f4a7c15ull;
        p += 16;
        n -= 16;
    }
    while (n >= 8) {
        h = (h ^ load_le64(p)) * 0xc4ceb9fe1a85ec53ull;
        h ^= h >> 31;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)p[i] << (8 * i);
#else
    memcpy(&w, p, n);
#endif
    h = (h ^ w) * 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return h;
}

static size_t key_head(uint8_t *key, int kind, uint16_t port)
{
    key[0] = (uint8_t)kind;
    key[1] = (uint8_t)(port & 0xff);
    key[2] = (uint8_t)(port >> 8);
    return 3;
}

static size_t key_name(uint8_t *key, int kind, uint16_t port, const char *name, size_t len)
{
    size_t n = key_head(key, kind, port);
    memcpy(key + n, name, len);
    return n + len;
}

static size_t key_ip(uint8_t *key, int kind, uint16_t port, const carom__ip *ip, unsigned plen)
{
    size_t n = key_head(key, kind, port);
    key[n++] = ip->family;
    key[n++] = (uint8_t)plen;
    size_t bytes = ip->family == 4 ? 4 : 16;
    memcpy(key + n, ip->b, bytes);
    return n + bytes;
}

size_t carom__pattern_key(const carom__pattern *p, uint8_t *key)
{
    switch (p->kind) {
    case CAROM__P_NAME:
    case CAROM__P_WILD:
        return key_name(key, p->kind, p->port, p->host, strlen(p->host));
    case CAROM__P_ADDR:
        return key_ip(key, p->kind, p->port, &p->ip, 0);
    case CAROM__P_CIDR:
        return key_ip(key, p->kind, p->port, &p->ip, p->plen);
    default:
        return key_head(key, p->kind, p->port);
    }
}

bool carom__table_reserve(carom_table *t, size_t npatterns)
{
    size_t cap = 16;
    while (cap < npatterns * 2)
        cap *= 2;
    t->slots = malloc(cap * sizeof *t->slots);
    if (!t->slots) return false;
    for (size_t i = 0; i < cap; i++)
        t->slots[i].policy = UINT32_MAX;
    t->mask = cap - 1;
    return true;
}

static void add_plen(uint8_t *list, uint8_t *n, uint8_t plen)
{
    unsigned i = 0;
    while (i < *n && list[i] > plen)
        i++;
    if (i < *n && list[i] == plen) return;
    for (unsigned j = *n; j > i; j--) /* a few bytes: no library call */
        list[j] = list[j - 1];
    list[i] = plen;
    (*n)++;
}

uint32_t carom__table_insert(carom_table *t, const carom__pattern *p, uint32_t pol)
{
    uint8_t key[CAROM__KEY_MAX];
    size_t len = carom__pattern_key(p, key);
    uint64_t h = carom__hash(key, len);
    size_t i = h & t->mask;
    for (;; i = (i + 1) & t->mask) {
        carom__slot *s = &t->slots[i];
        if (s->policy == UINT32_MAX) break;
        if (s->hash == h && s->key_len == len && memcmp(t->keys + s->key_off, key, len) == 0)
            return s->policy;
    }
    if (t->keys_len + len > t->keys_cap) {
        size_t cap = t->keys_cap ? t->keys_cap * 2 : 4096;
        while (cap < t->keys_len + len)
            cap *= 2;
        uint8_t *k = realloc(t->keys, cap);
        if (!k) return UINT32_MAX - 1;
        t->keys = k;
        t->keys_cap = cap;
    }
    memcpy(t->keys + t->keys_len, key, len);
    t->slots[i] = (carom__slot){
        .hash = h, .key_off = (uint32_t)t->keys_len, .key_len = (uint16_t)len, .policy = pol};
    t->keys_len += len;
    t->nkind[p->kind]++;
    if (p->port == 0) t->nany[p->kind]++;
    if (p->kind == CAROM__P_WILD) {
        unsigned labels = 1;
        for (const char *c = p->host; *c; c++)
            labels += *c == '.';
        t->wild_labels |= 1ull << (labels > 63 ? 63 : labels);
    } else if (p->kind == CAROM__P_CIDR) {
        if (p->ip.family == 4)
            add_plen(t->v4_plens, &t->n_v4, p->plen);
        else
            add_plen(t->v6_plens, &t->n_v6, p->plen);
    }
    return UINT32_MAX;
}

static uint32_t find(const carom_table *t, const uint8_t *key, size_t len)
{
    uint64_t h = carom__hash(key, len);
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        const carom__slot *s = &t->slots[i];
        if (s->policy == UINT32_MAX) return UINT32_MAX;
        if (s->hash == h && s->key_len == len && memcmp(t->keys + s->key_off, key, len) == 0)
            return s->policy;
    }
}

static uint32_t find_name(const carom_table *t, int kind, uint16_t port, const char *name,
                          size_t len)
{
    uint8_t key[CAROM__KEY_MAX];
    return find(t, key, key_name(key, kind, port, name, len));
}

static uint32_t find_ip(const carom_table *t, int kind, uint16_t port, const carom__ip *ip,
                        unsigned plen)
{
    uint8_t key[CAROM__KEY_MAX];
    return find(t, key, key_ip(key, kind, port, ip, plen));
}

static void mask_ip(carom__ip *out, const carom__ip *in, unsigned plen)
{
    size_t bytes = in->family == 4 ? 4 : 16;
    out->family = in->family;
    memset(out->b, 0, sizeof out->b);
    for (size_t i = 0; i < bytes && plen > 0; i++) {
        unsigned keep = plen >= 8 ? 8 : plen;
        out->b[i] = (uint8_t)(in->b[i] & (0xffu << (8 - keep)));
        plen -= keep;
    }
}

const carom_policy *carom_policy_match(const carom_table *t, const char *host,
                                       const struct sockaddr *addr, uint16_t port)
{
    /* Only reached when a caller ignored a failed load: answering the built-in defaults
     * beats crashing the host program. */
    if (!t) return &carom__builtin_policy;
    if (t->n <= 1 || !t->slots) return &t->pol[0];

    char name[CAROM_HOST_MAX];
    size_t nlen = 0;
    carom__ip ips[2];
    int nip = 0;
    if (host && *host) {
        size_t hl = strnlen(host, CAROM_HOST_MAX);
        if (hl < CAROM_HOST_MAX && carom__ip_parse(host, hl, &ips[0])) {
            nip = 1;
        } else if (hl < CAROM_HOST_MAX) {
            if (hl > 1 && host[hl - 1] == '.') hl--;
            for (size_t i = 0; i < hl; i++)
                name[i] = (char)tolower((unsigned char)host[i]);
            nlen = hl;
        }
    }
    if (addr && carom__ip_from_sockaddr(addr, &ips[nip])) {
        if (!(nip == 1 && memcmp(&ips[0], &ips[1], sizeof ips[0]) == 0)) nip++;
    }

    /* Which probes can hit at all: a kind with no port-specific (or no any-port) pattern
     * is never looked up that way. */
    bool nport = port && t->nkind[CAROM__P_NAME] > t->nany[CAROM__P_NAME];
    bool nany = t->nany[CAROM__P_NAME] > 0;
    bool aport = port && t->nkind[CAROM__P_ADDR] > t->nany[CAROM__P_ADDR];
    bool aany = t->nany[CAROM__P_ADDR] > 0;
    bool wport = port && t->nkind[CAROM__P_WILD] > t->nany[CAROM__P_WILD];
    bool wany = t->nany[CAROM__P_WILD] > 0;
    bool cport = port && t->nkind[CAROM__P_CIDR] > t->nany[CAROM__P_CIDR];
    bool cany = t->nany[CAROM__P_CIDR] > 0;
    uint32_t hit;
    /* 1. exact host and port, the name before the address literal */
    if (nlen && nport && (hit = find_name(t, CAROM__P_NAME, port, name, nlen)) != UINT32_MAX)
        return &t->pol[hit];
    if (aport)
        for (int i = 0; i < nip; i++)
            if ((hit = find_ip(t, CAROM__P_ADDR, port, &ips[i], 0)) != UINT32_MAX)
                return &t->pol[hit];
    /* 2. exact host, any port */
    if (nlen && nany && (hit = find_name(t, CAROM__P_NAME, 0, name, nlen)) != UINT32_MAX)
        return &t->pol[hit];
    if (aany)
        for (int i = 0; i < nip; i++)
            if ((hit = find_ip(t, CAROM__P_ADDR, 0, &ips[i], 0)) != UINT32_MAX) return &t->pol[hit];
    /* 3. longest *.domain: the suffix after each dot, longest first; never the name itself */
    if (nlen && (wport || wany)) {
        unsigned labels = 1;
        for (size_t i = 0; i < nlen; i++)
            labels += name[i] == '.';
        for (size_t i = 0; i < nlen; i++) {
            if (name[i] != '.') continue;
            labels--;
            if (!(t->wild_labels & (1ull << (labels > 63 ? 63 : labels)))) continue;
            const char *suffix = name + i + 1;
            size_t sl = nlen - i - 1;
            if (wport && (hit = find_name(t, CAROM__P_WILD, port, suffix, sl)) != UINT32_MAX)
                return &t->pol[hit];
            if (wany && (hit = find_name(t, CAROM__P_WILD, 0, suffix, sl)) != UINT32_MAX)
                return &t->pol[hit];
        }
    }
    /* 4. longest CIDR prefix */
    if (cport || cany) {
        for (int i = 0; i < nip; i++) {
            const uint8_t *pl = ips[i].family == 4 ? t->v4_plens : t->v6_plens;
            unsigned np = ips[i].family == 4 ? t->n_v4 : t->n_v6;
            for (unsigned j = 0; j < np; j++) {
                carom__ip m;
                mask_ip(&m, &ips[i], pl[j]);
                if (cport && (hit = find_ip(t, CAROM__P_CIDR, port, &m, pl[j])) != UINT32_MAX)
                    return &t->pol[hit];
                if (cany && (hit = find_ip(t, CAROM__P_CIDR, 0, &m, pl[j])) != UINT32_MAX)
                    return &t->pol[hit];
            }
        }
    }
    /* 5. *:port */
    if (port && t->nkind[CAROM__P_PORT]) {
        uint8_t key[CAROM__KEY_MAX];
        if ((hit = find(t, key, key_head(key, CAROM__P_PORT, port))) != UINT32_MAX)
            return &t->pol[hit];
    }
    return &t->pol[0];
}

const carom_policy *carom_policy_defaults(const carom_table *t)
{
    return carom_policy_match(t, NULL, NULL, 0);
}

size_t carom_policy_count(const carom_table *t)
{
    return t ? t->n : 0;
}

const carom_policy *carom_policy_at(const carom_table *t, size_t i)
{
    return t && i < t->n ? &t->pol[i] : NULL;
}

/* The patterns joined with ", ": made at the first call (only `carom check -v` and the
 * tests ask), so that loading never formats what nobody reads. Two threads asking at once
 * both make it and one copy wins; the table stays immutable as far as any caller sees. */
const char *carom_policy_match_text(const carom_table *t, const carom_policy *p)
{
    if (!t || !p || p->index >= t->n || &t->pol[p->index] != p) return "";
    size_t i = p->index;
    char *s = atomic_load_explicit(&t->match_text[i], memory_order_acquire);
    if (s || t->npats[i] == 0) return s ? s : "";
    char one[CAROM_HOST_MAX + 64];
    size_t cap = 1;
    for (size_t j = 0; j < t->npats[i]; j++) {
        carom__pattern_format(&t->pats[i][j], one, sizeof one);
        cap += strlen(one) + 2;
    }
    s = malloc(cap);
    if (!s) return "";
    size_t o = 0;
    for (size_t j = 0; j < t->npats[i]; j++) {
        carom__pattern_format(&t->pats[i][j], one, sizeof one);
        size_t l = strlen(one);
        if (j) memcpy(s + o, ", ", 2), o += 2;
        memcpy(s + o, one, l);
        o += l;
    }
    s[o] = '\0';
    char *none = NULL;
    if (!atomic_compare_exchange_strong_explicit(&t->match_text[i], &none, s, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        free(s);
        return none;
    }
    return s;
}

carom_state_mode carom_policy_state_mode(const carom_table *t)
{
    return t ? t->g.state : CAROM_STATE_SHARED;
}

const char *carom_policy_scoreboard(const carom_table *t)
{
    return t ? t->g.scoreboard : CAROM_SCOREBOARD_DEFAULT;
}

uint64_t carom_policy_chaos_seed(const carom_table *t)
{
    return t ? t->g.seed : 0;
}

bool carom_policy_chaos_asked(const carom_table *t)
{
    return t && t->chaos_enabled_set;
}

bool carom_policy_chaos_enabled(const carom_table *t)
{
    return t ? t->g.chaos_enabled : true;
}

const carom_fleet_cfg *carom_policy_fleet(const carom_table *t)
{
    return t ? &t->g.fleet : &carom__builtin_globals.fleet;
}

uint64_t carom_policy_hash(const carom_table *t)
{
    return t ? t->hash : 0;
}
