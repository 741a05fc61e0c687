/* carom_policy.h: the public contract of the policy layer: carom.ini -> an immutable,
 * validated policy table, endpoint matching, and the learned name -> address table.
 * It must never interpose a symbol, look up the next definition of one, or know that a
 * shim exists. */
#ifndef CAROM_POLICY_H
#define CAROM_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../core/carom_core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAROM_NAME_MAX 64   /* a policy's name (its service key), NUL included */
#define CAROM_HOST_MAX 256  /* a host name, NUL included */
#define CAROM_POCKETS_MAX 4 /* fallback endpoints per policy */
#define CAROM_PATH_MAX 512  /* pocket_url, pocket_response body path */

typedef struct carom_hostport {
    char host[CAROM_HOST_MAX];
    uint16_t port;
} carom_hostport;

/* HTTP methods as bits of carom_policy.http_retry_methods. */
enum {
    CAROM_M_GET = 1u << 0,
    CAROM_M_HEAD = 1u << 1,
    CAROM_M_PUT = 1u << 2,
    CAROM_M_DELETE = 1u << 3,
    CAROM_M_OPTIONS = 1u << 4,
    CAROM_M_POST = 1u << 5,
    CAROM_M_PATCH = 1u << 6,
    CAROM_M_TRACE = 1u << 7,
    CAROM_M_CONNECT = 1u << 8,
};

typedef struct carom_chaos {
    double connect_refuse; /* probabilities 0..1 */
    double connect_timeout;
    double dns_fail;
    double reset;
    double latency; /* chance that latency_ms is added before a real call */
    uint32_t latency_ms;
    double short_write;
    uint16_t http_status;   /* 0: none; else answered with this status ... */
    double http_status_p;   /* ... with this probability */
    double connect_latency; /* chance that connect_latency_ms is added before a connect */
    uint32_t connect_latency_ms;
    bool dns_fail_noname;    /* dns_fail answers EAI_NONAME (HOST_NOT_FOUND), not EAI_AGAIN */
    double blackhole;        /* chance that a connection delivers nothing, either way */
    uint32_t bandwidth_kbps; /* 0: unpaced; else KiB per second, per socket and direction */
    uint64_t limit_data;     /* 0: none; else a direction ends after this many bytes ... */
    bool limit_data_reset;   /* ... with ECONNRESET rather than EOF */
    uint32_t slice;          /* 0: none; else one call moves at most this many bytes */
    uint32_t slow_close_ms;  /* close() of the endpoint's socket waits this long */
    uint8_t direction;       /* CAROM_CHAOS_BOTH/UP/DOWN: which way the stream faults act */
    uint32_t first;          /* 0: every call; else only the first N calls per fault */
} carom_chaos;

/* carom_chaos.direction: up is what the program sends, down what it receives. */
enum { CAROM_CHAOS_BOTH = 0, CAROM_CHAOS_UP = 1, CAROM_CHAOS_DOWN = 2 };

/* One effective policy: [defaults] with a section's own keys laid over it. Immutable
 * once loaded; the shim reads it from any thread without locks. */
typedef struct carom_policy {
    char name[CAROM_NAME_MAX]; /* "defaults" for the default policy */
    uint32_t index;            /* position in the table, 0 = defaults */

    uint32_t retries;        /* 0..100 */
    carom_bounce_cfg bounce; /* base_delay_ms, max_delay_ms, jitter */
    uint64_t retry_on[4];    /* bitmap of errno values 0..255 to retry on */
    bool retry_on_eai_again; /* EAI_AGAIN listed in retry_on */
    uint32_t connect_timeout_ms;
    bool retry_nonblocking;
    uint32_t io_timeout_ms;
    uint32_t deadline_ms;
    carom_budget_cfg budget; /* retry_budget, retry_budget_min_per_s */
    bool cushion_on;
    carom_cushion_cfg cushion; /* cushion_failures/_window/_half_open_ms/_probes */
    int open_errno;
    unsigned npockets;
    carom_hostport pocket[CAROM_POCKETS_MAX];
    uint32_t dns_stale_ms;
    uint64_t http_retry_status[10]; /* bitmap of statuses 0..639 */
    uint32_t http_retry_methods;    /* CAROM_M_* bits */
    uint32_t retry_after_max_ms;
    char pocket_url[CAROM_PATH_MAX]; /* "" when unset */
    uint16_t pocket_response_status; /* 0 when unset */
    char pocket_response_body[CAROM_PATH_MAX];
    carom_chaos chaos;
    /* Rate limit and bulkhead (docs/configuration.md, "Rate limits and bulkheads"). */
    uint32_t rate_limit;      /* 0: off; tokens per second, host-wide per endpoint */
    uint32_t rate_burst;      /* 0: the same as rate_limit (one second's worth) */
    uint32_t max_connections; /* 0: off; 1..CAROM_LEASES_MAX */
    uint32_t limit_wait_ms;   /* the longest wait for a token or a slot */
} carom_policy;

typedef enum carom_state_mode { CAROM_STATE_SHARED = 0, CAROM_STATE_PROCESS = 1 } carom_state_mode;

typedef struct carom_table carom_table; /* opaque, immutable after load */

/* Receives one diagnostic line, already formatted as
 *   carom: FILE:LINE: key: what is wrong, got "value"
 * with no trailing newline. Called once per problem, in file order. */
typedef void (*carom_diag_fn)(void *ud, const char *line);

/* Parses an INI text of len bytes (need not be NUL-terminated); `file` names it in
 * diagnostics. Returns the table, or NULL when there was any problem (each reported
 * through diag, which may be NULL) or memory ran out. Never prints. */
carom_table *carom_policy_parse(const char *text, size_t len, const char *file, carom_diag_fn diag,
                                void *ud);

/* The table every endpoint gets when no file exists: the built-in [defaults]. */
carom_table *carom_policy_builtin(void);

/* Whether a file exists at path: the caller's own check (access(2), say), since the policy
 * layer does no file I/O. */
typedef bool (*carom_exists_fn)(const char *path);

/* Finds the file docs/configuration.md names: $CAROM_CONFIG, ./carom.ini,
 * $XDG_CONFIG_HOME/carom/carom.ini (else ~/.config/carom/carom.ini), /etc/carom.ini.
 * Copies the path into buf and returns buf, or returns NULL when none exists (the
 * built-in defaults then apply). $CAROM_CONFIG is returned even when it does not exist,
 * so that the caller reports it. Uses secure_getenv. The caller reads the file and hands
 * its bytes to carom_policy_parse. */
const char *carom_policy_find(char *buf, size_t len, carom_exists_fn exists);

void carom_policy_free(carom_table *t);

/* The policy governing an endpoint. host may be NULL (no name known); addr may be NULL
 * (no address known, e.g. for a URL). port in host byte order. Precedence: exact
 * host:port, exact host, longest *.domain, longest CIDR prefix, *:port, [defaults]; the
 * host name is tried before the address literal at each of the first two levels. Host
 * names compare case-insensitively, ignoring one trailing dot. Never NULL, never
 * allocates, O(labels + distinct prefix lengths). */
const carom_policy *carom_policy_match(const carom_table *t, const char *host,
                                       const struct sockaddr *addr, uint16_t port);

const carom_policy *carom_policy_defaults(const carom_table *t);
size_t carom_policy_count(const carom_table *t);                     /* including defaults */
const carom_policy *carom_policy_at(const carom_table *t, size_t i); /* NULL past the end */

/* Table-wide settings from [defaults], [scoreboard] and [chaos]. */
/* [scoreboard] socket when the file names none (docs/scoreboard.md): the one copy. */
#define CAROM_SCOREBOARD_DEFAULT "/tmp/carom-scoreboard.sock"
carom_state_mode carom_policy_state_mode(const carom_table *t);
const char *carom_policy_scoreboard(const carom_table *t); /* socket path, never NULL */
uint64_t carom_policy_chaos_seed(const carom_table *t);    /* 0: random */
bool carom_policy_chaos_enabled(const carom_table *t);     /* [chaos] enabled, default on */
/* [chaos] enabled = on written in the file itself: with CAROM_CHAOS=1 (carom run --chaos),
 * what lets faults set at run time (`carom chaos`) reach a process. */
bool carom_policy_chaos_asked(const carom_table *t);
uint64_t carom_policy_hash(const carom_table *t); /* of the file's content: names shm */

/* [fleet]: what `carom fleet` needs to share this host's circuits through Redis
 * (docs/fleet.md). Only the daemon reads it; the shim never talks to Redis. */
#define CAROM_FLEET_HOST_MAX 64
#define CAROM_FLEET_PREFIX_MAX 32
typedef struct carom_fleet_cfg {
    char redis[CAROM_HOST_MAX + 8];  /* "HOST:PORT" as written; "" when [fleet] is absent */
    char password_file[256];         /* absolute path, "" for none */
    char host[CAROM_FLEET_HOST_MAX]; /* this host's id; "" means the hostname */
    uint32_t quorum;                 /* hosts, or a percentage when quorum_percent */
    bool quorum_percent;
    char prefix[CAROM_FLEET_PREFIX_MAX]; /* Redis key and channel prefix, default "carom" */
    uint32_t report_ttl_ms;              /* a report lives this long unless refreshed */
} carom_fleet_cfg;
/* Never NULL; redis[0] == 0 when the file has no [fleet] section. */
const carom_fleet_cfg *carom_policy_fleet(const carom_table *t);
/* The [fleet] section as carom.ini lines (nothing when there is none): the tail of
 * carom_policy_dump, and what `carom explain` adds after a policy. */
void carom_policy_describe_fleet(const carom_table *t, carom_diag_fn emit, void *ud);

/* Writes one "key = value" line per effective setting of p, in policy/keys.def's order,
 * through emit (one call per line, no newline). Used by `carom explain` and `carom check -v`. */
void carom_policy_describe(const carom_policy *p, carom_diag_fn emit, void *ud);

/* The patterns that select p (a policy of t), canonical and comma-separated, as
 * `carom check -v` prints them after "match ="; "" for [defaults]. */
const char *carom_policy_match_text(const carom_table *t, const carom_policy *p);

/* The socket to send events to: $CAROM_SCOREBOARD when set and non-empty (secure_getenv),
 * else carom_policy_scoreboard(t). The table itself holds only the file's value. */
const char *carom_policy_scoreboard_path(const carom_table *t);

/* carom_policy_describe's lines plus the table-wide `state` in its keys.def place: what
 * `carom explain` prints after its "policy NAME" line. */
void carom_policy_explain(const carom_table *t, const carom_policy *p, carom_diag_fn emit,
                          void *ud);

/* The whole effective table as carom.ini text, one line per emit call ("" for a blank
 * line): [defaults], then every policy with its "match =" line, then [scoreboard] and
 * [chaos]. What `carom check -v` prints; the output is itself a valid carom.ini. */
void carom_policy_dump(const carom_table *t, carom_diag_fn emit, void *ud);

/* Names for errno / EAI values as carom.ini spells them ("ECONNREFUSED"); NULL if unknown. */
const char *carom_errno_name(int err);
int carom_errno_value(const char *name); /* -1 if unknown (so EAI_BADFLAGS, -1, has no name) */

/* ---- learned names: address -> the host name the program resolved ----------------- */

/* Bounded (CAROM_NAMES_SLOTS entries, oldest replaced), thread-safe, no lock on the read
 * path (a per-entry sequence counter; readers retry a bounded number of times and treat a
 * torn entry as a miss). Fork-safe: holds no lock a child could inherit held. */
#define CAROM_NAMES_SLOTS 1024
typedef struct carom_names carom_names;

/* Statically sized storage; returns NULL only if allocation fails. */
carom_names *carom_names_new(void);
void carom_names_free(carom_names *n);
/* Records that `host` resolved to addr (AF_INET / AF_INET6; the port is ignored). */
void carom_names_learn(carom_names *n, const char *host, const struct sockaddr *addr,
                       uint64_t now_ms);
/* Copies the most recently learned name for addr into buf (len >= CAROM_HOST_MAX is
 * always enough) and returns true; false when unknown or older than max_age_ms. */
bool carom_names_lookup(carom_names *n, const struct sockaddr *addr, uint64_t now_ms,
                        uint64_t max_age_ms, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
