/* policy_int.h: what the files of policy/ share with each other and with nobody else: the
 * table's layout, the key list in SPEC order and the pattern codec. It must never be
 * included from outside policy/ (tools and the shim use carom_policy.h only). */
#ifndef CAROM_POLICY_INT_H
#define CAROM_POLICY_INT_H

#include "carom_policy.h"

/* Every key carom.ini knows, in SPEC section 3 order: describe and explain print them in
 * this order. CAROM__K_SETTINGS_END closes the per-policy settings; the rest belong to one
 * section each. The set masks are uint64_t, so there must stay fewer than 64. */
enum carom__key {
    CAROM__K_RETRIES,
    CAROM__K_BASE_DELAY_MS,
    CAROM__K_MAX_DELAY_MS,
    CAROM__K_JITTER,
    CAROM__K_RETRY_ON,
    CAROM__K_CONNECT_TIMEOUT_MS,
    CAROM__K_RETRY_NONBLOCKING,
    CAROM__K_IO_TIMEOUT_MS,
    CAROM__K_DEADLINE_MS,
    CAROM__K_RETRY_BUDGET,
    CAROM__K_RETRY_BUDGET_MIN_PER_S,
    CAROM__K_CUSHION,
    CAROM__K_CUSHION_FAILURES,
    CAROM__K_CUSHION_WINDOW,
    CAROM__K_CUSHION_HALF_OPEN_MS,
    CAROM__K_CUSHION_FIRST_BREAK_MS,
    CAROM__K_CUSHION_PROBES,
    CAROM__K_OPEN_ERRNO,
    CAROM__K_POCKET,
    CAROM__K_DNS_STALE_MS,
    CAROM__K_HTTP_RETRY_STATUS,
    CAROM__K_HTTP_RETRY_METHODS,
    CAROM__K_RETRY_AFTER_MAX_MS,
    CAROM__K_POCKET_URL,
    CAROM__K_POCKET_RESPONSE,
    CAROM__K_RATE_LIMIT,
    CAROM__K_RATE_BURST,
    CAROM__K_MAX_CONNECTIONS,
    CAROM__K_LIMIT_WAIT_MS,
    CAROM__K_CHAOS_CONNECT_REFUSE,
    CAROM__K_CHAOS_CONNECT_TIMEOUT,
    CAROM__K_CHAOS_DNS_FAIL,
    CAROM__K_CHAOS_RESET,
    CAROM__K_CHAOS_LATENCY,
    CAROM__K_CHAOS_LATENCY_MS,
    CAROM__K_CHAOS_SHORT_WRITE,
    CAROM__K_CHAOS_HTTP_STATUS,
    CAROM__K_CHAOS_CONNECT_LATENCY, /* the toxiproxy-grade faults (docs/chaos.md) */
    CAROM__K_CHAOS_CONNECT_LATENCY_MS,
    CAROM__K_CHAOS_DNS_FAIL_ERROR,
    CAROM__K_CHAOS_BLACKHOLE,
    CAROM__K_CHAOS_BANDWIDTH_KBPS,
    CAROM__K_CHAOS_LIMIT_DATA,
    CAROM__K_CHAOS_LIMIT_DATA_MODE,
    CAROM__K_CHAOS_SLICE,
    CAROM__K_CHAOS_SLOW_CLOSE_MS,
    CAROM__K_CHAOS_DIRECTION,
    CAROM__K_CHAOS_FIRST,
    CAROM__K_SETTINGS_END, /* ---- per-policy settings above, section-bound keys below */
    CAROM__K_STATE = CAROM__K_SETTINGS_END, /* [defaults] only */
    CAROM__K_MATCH,                         /* named policies only */
    CAROM__K_SOCKET,                        /* [scoreboard] */
    CAROM__K_SEED,                          /* [chaos] */
    CAROM__K_ENABLED,                       /* [chaos] */
    CAROM__K_REDIS,                         /* [fleet] (docs/fleet.md) */
    CAROM__K_PASSWORD_FILE,                 /* [fleet] */
    CAROM__K_HOST,                          /* [fleet] */
    CAROM__K_QUORUM,                        /* [fleet] */
    CAROM__K_PREFIX,                        /* [fleet] */
    CAROM__K_REPORT_TTL_MS,                 /* [fleet] */
    CAROM__K_COUNT
};

extern const char *const carom__key_names[CAROM__K_COUNT];

/* errno and EAI_* names (errnames.c): primary names first, then aliases. */
typedef struct carom__errname {
    const char *name;
    int value;
} carom__errname;
extern const carom__errname carom__errnames[];
extern const size_t carom__nerrnames;

/* ---- patterns ------------------------------------------------------------------------ */

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

typedef struct carom__pattern {
    uint8_t kind;              /* enum carom__pkind */
    uint8_t plen;              /* CIDR prefix length */
    uint16_t port;             /* 0: any port */
    carom__ip ip;              /* ADDR, CIDR (masked) */
    char host[CAROM_HOST_MAX]; /* NAME and WILD (the domain after "*."): lower case, no
                                  trailing dot */
} carom__pattern;

/* Longest lookup key: kind, port (2), family/prefix (2), then a host name. */
#define CAROM__KEY_MAX (5 + CAROM_HOST_MAX)

/* Parses one pattern of len bytes. Returns 0, or -1 with a reason (no trailing period)
 * written into why. */
int carom__pattern_parse(const char *s, size_t len, carom__pattern *p, char *why, size_t whylen);
/* The canonical spelling, which parses back to the same pattern. */
void carom__pattern_format(const carom__pattern *p, char *buf, size_t len);
/* The lookup key of p (at most CAROM__KEY_MAX bytes); equal patterns give equal keys. */
size_t carom__pattern_key(const carom__pattern *p, uint8_t *key);

/* Strictly parses a whole IPv4 or IPv6 literal (IPv6 optionally in brackets). */
bool carom__ip_parse(const char *s, size_t len, carom__ip *ip);
bool carom__ip_from_sockaddr(const struct sockaddr *sa, carom__ip *ip);
void carom__ip_format(const carom__ip *ip, bool brackets, char *buf, size_t len);
/* A host name as carom.ini accepts it: labels of [A-Za-z0-9_-], 1..63 bytes each, 253 in
 * all, last label not all digits (that would be a mistyped IPv4 address). */
bool carom__host_valid(const char *s, size_t len);

/* ---- the table ------------------------------------------------------------------------ */

typedef struct carom__slot {
    uint64_t hash;
    uint32_t key_off;
    uint16_t key_len;
    uint32_t policy; /* UINT32_MAX: empty */
} carom__slot;

struct carom_table {
    size_t n;          /* policies, defaults included */
    carom_policy *pol; /* pol[0] is [defaults] */
    char **match_text; /* canonical patterns per policy, "" for defaults */

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

    carom_state_mode state;
    char scoreboard[108];
    uint64_t seed;
    bool chaos_enabled;
    bool chaos_enabled_set; /* written as on in the file */
    carom_fleet_cfg fleet;  /* [fleet]; fleet.redis[0] == 0: no section */
    uint64_t hash;
};

/* Adds one pattern for policy index pol. Returns UINT32_MAX on success, the index of the
 * policy that already claims the identical pattern, or UINT32_MAX - 1 when out of memory. */
uint32_t carom__table_insert(carom_table *t, const carom__pattern *p, uint32_t pol);
/* Sizes the hash for npatterns before inserting; false when out of memory. */
bool carom__table_reserve(carom_table *t, size_t npatterns);

/* The longest line inih reads whole (its buffer keeps room for "\r\n\0"). */
int carom__line_max(void);

/* The [defaults] policy of SPEC section 3 (name "defaults", index 0). */
extern const carom_policy carom__builtin_policy;

#endif
