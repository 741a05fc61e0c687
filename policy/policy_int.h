/* policy_int.h: what the files of policy/ share with each other and with nobody else: the
 * key table (from keys.def), the parser's state, the table's layout and the pattern codec,
 * every function declared here grouped by the file that defines it. It must never be
 * included from outside policy/ (tools and the shim use carom_policy.h only). */
#ifndef CAROM_POLICY_INT_H
#define CAROM_POLICY_INT_H

#include "carom_policy.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

/* ---- limits ---------------------------------------------------------------------------- */

#define CAROM__MS_MAX 86400000u             /* every *_ms key: at most 24 h */
#define CAROM__CHAOS_KBPS_MAX 10000000u     /* chaos.bandwidth_kbps: about 10 GB/s */
#define CAROM__CHAOS_BYTES_MAX (1ull << 50) /* chaos.limit_data: a petabyte */
#define CAROM__CHAOS_SLICE_MAX (16u << 20)  /* chaos.slice: 16 MiB */
#define CAROM__CHAOS_FIRST_MAX 1000000000u  /* chaos.first */
#define CAROM__MAX_SECTIONS 16384           /* bounds memory for a hostile or generated file */
/* The longest line: 197 characters, inih's (a 200-byte buffer with room for "\r\n\0"),
 * which carom.ini has always had, so a file stays readable by any inih-based tool. */
#define CAROM__LINE_MAX 197

/* The built-in retry_on and http_retry_status bitmaps, word w (keys.def's defaults). */
#define CAROM__BIT_IN(v, w) (((v) / 64 == (w)) ? 1ull << ((v) % 64) : 0ull)
#define CAROM__RETRY_ON_W(w)                                                                       \
    (CAROM__BIT_IN(ECONNREFUSED, w) | CAROM__BIT_IN(ETIMEDOUT, w) |                                \
     CAROM__BIT_IN(EHOSTUNREACH, w) | CAROM__BIT_IN(ENETUNREACH, w))
#define CAROM__STATUS_W(w)                                                                         \
    (CAROM__BIT_IN(408, w) | CAROM__BIT_IN(429, w) | CAROM__BIT_IN(502, w) |                       \
     CAROM__BIT_IN(503, w) | CAROM__BIT_IN(504, w))

/* ---- the key table --------------------------------------------------------------------- */

/* CAROM__K_RETRIES, ...: one per line of keys.def, in its order. */
#define CAROM__UINT(id, ...) CAROM__K_##id,
#define CAROM__MS(id, ...) CAROM__K_##id,
#define CAROM__PROB(id, ...) CAROM__K_##id,
#define CAROM__ONOFF(id, ...) CAROM__K_##id,
#define CAROM__WORDS(id, ...) CAROM__K_##id,
#define CAROM__CUSTOM(id, ...) CAROM__K_##id,
enum carom__key_id {
#include "keys.def"
    CAROM__K_COUNT
};
#undef CAROM__UINT
#undef CAROM__MS
#undef CAROM__PROB
#undef CAROM__ONOFF
#undef CAROM__WORDS
#undef CAROM__CUSTOM

/* Where a key may be written (keys.def explains each). */
enum carom__scope {
    CAROM__SCOPE_POLICY,
    CAROM__SCOPE_DEFAULTS,
    CAROM__SCOPE_NAMED,
    CAROM__SCOPE_SCOREBOARD,
    CAROM__SCOPE_CHAOS,
    CAROM__SCOPE_FLEET,
};

enum carom__type {
    CAROM__T_UINT,
    CAROM__T_PROB,
    CAROM__T_ONOFF,
    CAROM__T_WORDS,
    CAROM__T_CUSTOM,
};

/* A set of keys, one bit each. */
typedef struct carom__keyset {
    uint64_t w[(CAROM__K_COUNT + 63) / 64];
} carom__keyset;

static inline bool carom__has(const carom__keyset *s, int k)
{
    return (s->w[k / 64] >> (k % 64)) & 1;
}
static inline void carom__add(carom__keyset *s, int k)
{
    s->w[k / 64] |= 1ull << (k % 64);
}

/* The table-wide settings: [defaults] state, [scoreboard], [chaos] and [fleet]. */
typedef struct carom__globals {
    carom_state_mode state;
    char scoreboard[108];
    uint64_t seed;
    bool chaos_enabled;
    carom_fleet_cfg fleet; /* fleet.redis[0] == 0: no section */
} carom__globals;

typedef struct carom__parser carom__parser;
typedef struct carom__key carom__key;

/* A key whose value no type fits reads and writes it with its own pair of functions. */
typedef struct carom__codec {
    /* Reads v (vl bytes, NUL-terminated) into obj (the key's object, see keys.def); false
     * once reported. */
    bool (*parse)(carom__parser *p, const carom__key *k, const char *v, size_t vl, void *obj);
    /* Writes the value as carom.ini spells it; false: print no line at all. */
    bool (*format)(const void *obj, char *out, size_t len);
    /* The key may be written again in one section, each line adding to the last (match:
     * one line holds at most 197 characters); any other key set twice is a problem. */
    bool adds_up;
} carom__codec;

struct carom__key {
    const char *name;
    uint8_t len;   /* strlen(name) */
    uint8_t scope; /* enum carom__scope */
    uint8_t type;  /* enum carom__type */
    uint16_t off;  /* the field (first..last for a codec) in the scope's object */
    uint16_t size;
    uint64_t lo, hi;   /* UINT */
    const char *words; /* WORDS: "a|b|c" */
    const char *what;  /* UINT and WORDS: the problem text */
    const carom__codec *codec;
};

/* ---- the parser's state ---------------------------------------------------------------- */

enum carom__sec_kind {
    CAROM__SEC_DEFAULTS,
    CAROM__SEC_POLICY,
    CAROM__SEC_SCOREBOARD,
    CAROM__SEC_CHAOS,
    CAROM__SEC_FLEET
};

typedef struct carom__pattern carom__pattern;

typedef struct carom__section {
    int kind;     /* enum carom__sec_kind */
    bool discard; /* a repeated or broken header: its keys are checked, then dropped */
    unsigned line;
    carom__keyset set; /* keys given in this section */
    carom__keyset bad; /* ... whose value was rejected */
    unsigned kline[CAROM__K_COUNT];
    char name[CAROM__LINE_MAX + 1]; /* as written (a header is one line) */
    carom_policy v; /* the values of the keys in `set`; [defaults] and policy sections only */
    carom__pattern *pats;
    size_t npats, cappats;
    unsigned *patline; /* the line each pattern came from */
} carom__section;

typedef struct carom__problem {
    unsigned line;
    size_t seq; /* keeps problems on one line in the order they were found */
    char *text;
} carom__problem;

struct carom__parser {
    const char *file;
    const char *text;
    size_t len;
    unsigned lineno;
    int cur; /* current section; -1 before the first header, -2 skipping the rest */
    carom__section *secs;
    size_t nsecs, capsecs;
    bool too_many;
    int idx[5]; /* the one [defaults], [scoreboard], [chaos], [fleet] (-1: absent) */
    carom__problem *diags;
    size_t ndiags, capdiags;
    bool oom;
    bool binary; /* the value being reported is not text: escape every non-ASCII byte */
    carom__globals g;
};

/* ---- patterns ------------------------------------------------------------------------ */

/* errno and EAI_* names (errnames.c): primary names first, then aliases. */
typedef struct carom__errname {
    const char *name;
    int value;
} carom__errname;

enum carom__pkind {
    CAROM__P_NAME = 'N', /* exact host name, port or any */
    CAROM__P_ADDR = 'A', /* exact address literal, port or any */
    CAROM__P_WILD = 'W', /* *.domain, port or any */
    CAROM__P_CIDR = 'C', /* address/prefix, port or any */
    CAROM__P_PORT = 'P', /* *:port */
};

/* An IP address in the form matching compares: IPv4-mapped IPv6 is folded to IPv4 so one
 * policy governs both spellings of the same peer. */
typedef struct carom__ip {
    uint8_t family; /* 4 or 6; 0 = none */
    uint8_t b[16];  /* IPv4 in the first 4 bytes, the rest zero */
} carom__ip;

struct carom__pattern {
    uint8_t kind;              /* enum carom__pkind */
    uint8_t plen;              /* CIDR prefix length */
    uint16_t port;             /* 0: any port */
    carom__ip ip;              /* ADDR, CIDR (masked) */
    char host[CAROM_HOST_MAX]; /* NAME and WILD (the domain after "*."): lower case, no
                                  trailing dot */
};

/* Longest lookup key: kind, port (2), family/prefix (2), then a host name. */
#define CAROM__KEY_MAX (5 + CAROM_HOST_MAX)

/* ---- the table ------------------------------------------------------------------------ */

typedef struct carom__slot {
    uint64_t hash;
    uint32_t key_off;
    uint16_t key_len;
    uint32_t policy; /* UINT32_MAX: empty */
} carom__slot;

struct carom_table {
    size_t n;                    /* policies, defaults included */
    carom_policy *pol;           /* pol[0] is [defaults] */
    carom__pattern **pats;       /* the patterns of each policy, in file order ... */
    size_t *npats;               /* ... and how many */
    _Atomic(char *) *match_text; /* their canonical text, made when first asked for */

    carom__slot *slots; /* open addressing, load factor <= 1/2 */
    size_t mask;
    uint8_t *keys; /* every key, back to back */
    size_t keys_len, keys_cap;
    unsigned nkind[128];        /* patterns per carom__pkind ... */
    unsigned nany[128];         /* ... of which match any port: lets a look-up skip probes that
                                   cannot hit */
    uint64_t wild_labels;       /* bit n: some *.domain has n labels (63: 63 or more) */
    uint8_t v4_plens[33], n_v4; /* distinct CIDR prefix lengths, longest first */
    uint8_t v6_plens[129], n_v6;

    carom__globals g;
    bool chaos_enabled_set; /* [chaos] enabled = on written in the file */
    uint64_t hash;
};

/* ---- functions, by the file that defines them ---------------------------------------- */

/* diag.c: the problem lines. */
/* One problem: `carom: FILE:LINE: key: what is wrong, got "value"` (vlen bytes of val). */
__attribute__((format(printf, 6, 7))) void carom__report_n(carom__parser *p, unsigned line,
                                                           const char *key, const char *val,
                                                           size_t vlen, const char *fmt, ...);
#define carom__report(p, line, key, val, ...)                                                      \
    carom__report_n(p, line, key, val, strlen(val), __VA_ARGS__)
/* Optimal string alignment distance, case-insensitive, for "did you mean". */
unsigned carom__edit_distance(const char *a, const char *b);
/* Whether a suggestion at distance dist from got is worth making. */
bool carom__close_enough(const char *got, unsigned dist);
/* The errno (eai: EAI_*) name closest to name, or NULL. */
const char *carom__suggest_errno(const char *name, bool eai);
/* Hands every problem to diag in line order, frees them; then the out-of-memory line. */
void carom__diag_flush(carom__parser *p, carom_diag_fn diag, void *ud);

/* values.c: the key table and the reading and writing of one value. */
extern const carom__key carom__keys[CAROM__K_COUNT];
/* The [defaults] policy when the file sets nothing (name "defaults", index 0). */
extern const carom_policy carom__builtin_policy;
extern const carom__globals carom__builtin_globals;
/* Reads v (vl bytes, NUL-terminated), the value of key k in section s, into its object.
 * False: already reported. */
bool carom__value_parse(carom__parser *p, carom__section *s, int k, const char *v, size_t vl);
/* Writes key k's value in obj (a carom_policy or carom__globals) as carom.ini spells it;
 * false when the key prints no line. */
bool carom__value_format(int k, const void *obj, char *out, size_t len);
/* Strict unsigned decimal, the whole string. */
bool carom__parse_u64(const char *s, uint64_t *out);
/* "12", "12.5", ".5" of len bytes: mantissa and count of decimals (at most maxfrac), so
 * that no binary rounding happens before the range is known. */
bool carom__parse_decimal(const char *s, size_t len, uint64_t *mant, unsigned *frac,
                          unsigned maxfrac);
uint64_t carom__pow10(unsigned n);
/* A probability 0..1 with at most 9 decimals; its shortest spelling back. */
bool carom__parse_prob(const char *s, size_t len, double *out);
void carom__fmt_prob(char *buf, size_t len, double p);
/* An HTTP status 100..599 of exactly three digits. */
bool carom__parse_status(const char *s, size_t len, unsigned *out);
/* Walks a comma-separated list (v, vl bytes), calling fn for every trimmed element; an empty value
 * is an empty list, an empty element ("a,,b") a problem of its own. False: something reported. */
typedef bool (*carom__item_fn)(carom__parser *p, const char *key, const char *item, size_t len,
                               void *ctx);
bool carom__each_item(carom__parser *p, const char *key, const char *v, size_t vl,
                      carom__item_fn fn, void *ctx);

/* codecs.c: one carom__codec_<codec> per CUSTOM line of keys.def. */
#define CAROM__UINT(...)
#define CAROM__MS(...)
#define CAROM__PROB(...)
#define CAROM__ONOFF(...)
#define CAROM__WORDS(...)
#define CAROM__CUSTOM(id, nm, sc, first, last, c, ...) extern const carom__codec carom__codec_##c;
#include "keys.def"
#undef CAROM__UINT
#undef CAROM__MS
#undef CAROM__PROB
#undef CAROM__ONOFF
#undef CAROM__WORDS
#undef CAROM__CUSTOM

/* n bytes equal but for ASCII case: strncasecmp's answer for the ASCII words carom.ini
 * knows, without a library call. */
static inline bool carom__ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x != y && ((x | 0x20u) != (y | 0x20u) || (x | 0x20u) < 'a' || (x | 0x20u) > 'z'))
            return false;
    }
    return true;
}

/* strcasecmp for ASCII text (what the C locale does), without a library call. */
static inline int carom__icmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned x = (unsigned char)*a, y = (unsigned char)*b;
        if (x == y) { /* the usual case, the same spelling: no folding */
            if (!x) return 0;
            continue;
        }
        if (x - 'A' < 26u) x += 'a' - 'A';
        if (y - 'A' < 26u) y += 'a' - 'A';
        if (x != y || !x) return (int)x - (int)y;
    }
}

/* Drops blanks at both ends. Blanks are spaces and tabs: the only ones a line may hold
 * (reader.c). */
static inline size_t carom__trim_end(const char *s, size_t len)
{
    /* Values are often padded to line their comments up: eight spaces at a time first. */
    uint64_t w;
    while (len >= 8 && (memcpy(&w, s + len - 8, 8), w == 0x2020202020202020ull))
        len -= 8;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    return len;
}
static inline void carom__trim(const char **s, size_t *len)
{
    while (*len && (**s == ' ' || **s == '\t'))
        (*s)++, (*len)--;
    *len = carom__trim_end(*s, *len);
}

/* reader.c: carom.ini's text, line by line, into p->secs and p->g. */
void carom__read(carom__parser *p);

/* build.c: the sections into the table; the entry points carom_policy_parse and free. */

/* match.c: the pattern hash table and the look-up. */
/* Word-at-a-time multiply-xorshift over n bytes, little-endian, the same on every host:
 * the pattern hash, and the table's content hash that names its shared memory. */
uint64_t carom__hash(const void *p, size_t n);
/* Adds one pattern for policy index pol. Returns UINT32_MAX on success, the index of the
 * policy that already claims the identical pattern, or UINT32_MAX - 1 when out of memory. */
uint32_t carom__table_insert(carom_table *t, const carom__pattern *p, uint32_t pol);
/* Sizes the hash for npatterns before inserting; false when out of memory. */
bool carom__table_reserve(carom_table *t, size_t npatterns);
/* The lookup key of p (at most CAROM__KEY_MAX bytes); equal patterns give equal keys. */
size_t carom__pattern_key(const carom__pattern *p, uint8_t *key);

/* pattern.c: endpoint patterns and addresses. */
/* Parses one pattern of len bytes. Returns 0, or -1 with a reason (no trailing period)
 * written into why. */
int carom__pattern_parse(const char *s, size_t len, carom__pattern *p, char *why, size_t whylen);
/* The canonical spelling, which parses back to the same pattern. */
void carom__pattern_format(const carom__pattern *p, char *buf, size_t len);
/* Strictly parses a whole IPv4 or IPv6 literal (IPv6 optionally in brackets). */
bool carom__ip_parse(const char *s, size_t len, carom__ip *ip);
bool carom__ip_from_sockaddr(const struct sockaddr *sa, carom__ip *ip);
void carom__ip_format(const carom__ip *ip, bool brackets, char *buf, size_t len);
/* A host name as carom.ini accepts it: labels of [A-Za-z0-9_-], 1..63 bytes each, 253 in
 * all, last label not all digits (that would be a mistyped IPv4 address). */
bool carom__host_valid(const char *s, size_t len);

/* errnames.c */
extern const carom__errname carom__errnames[];
extern const size_t carom__nerrnames;

#endif
