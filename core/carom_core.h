/* carom_core.h: the public contract of the pure resilience engine (bounce, cushion,
 * retry budget, shot clock, PRNG). It must never depend on sockets, files, the
 * environment, stdio, allocation or any clock: callers pass time and randomness in. */
#ifndef CAROM_CORE_H
#define CAROM_CORE_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every time argument is a monotonic millisecond count (CLOCK_MONOTONIC in the shim):
 * one clock for every process on the machine, so state in shared memory agrees. Cushion
 * and budget keep only its low 32 bits and compare by unsigned difference, which is
 * correct for intervals under 49 days. */

/* ---- PRNG ------------------------------------------------------------------------ */

/* splitmix64: one add and three multiply-xor rounds per draw. One per thread (the shim
 * keeps it _Thread_local); never shared, so no atomics. Not cryptographic. */
typedef struct carom_rng {
    uint64_t s;
} carom_rng;

/* Seeds the generator; every seed, including 0, gives a valid stream. */
void carom_rng_seed(carom_rng *r, uint64_t seed);
/* Next 64 random bits. */
uint64_t carom_rng_next(carom_rng *r);
/* Uniform integer in [lo, hi] inclusive; returns lo when hi <= lo. */
uint64_t carom_rng_range(carom_rng *r, uint64_t lo, uint64_t hi);
/* Uniform double in [0, 1). */
double carom_rng_unit(carom_rng *r);
/* True with probability p (p <= 0: never; p >= 1: always). */
bool carom_rng_chance(carom_rng *r, double p);

/* ---- bounce: the backoff schedule -------------------------------------------------- */

typedef enum carom_jitter {
    CAROM_JITTER_DECORRELATED = 0, /* the default */
    CAROM_JITTER_FULL,
    CAROM_JITTER_EQUAL,
    CAROM_JITTER_NONE,
} carom_jitter;

typedef struct carom_bounce_cfg {
    uint32_t base_ms; /* b */
    uint32_t cap_ms;  /* c: no single delay exceeds it; callers keep cap >= base */
    carom_jitter jitter;
} carom_bounce_cfg;

/* Per-shot schedule state; zero-initialise it or call carom_bounce_init. */
typedef struct carom_bounce {
    uint32_t attempt; /* retries scheduled so far */
    uint32_t prev_ms; /* d(n-1) for decorrelated */
} carom_bounce;

void carom_bounce_init(carom_bounce *b, const carom_bounce_cfg *cfg);

/* The delay before the next retry (retry n = b->attempt + 1), per docs/configuration.md:
 *   decorrelated: uniform(base, min(cap, 3 * d(n-1))), d(0) = base
 *   full:         uniform(0, min(cap, base * 2^(n-1)))
 *   equal:        h + uniform(0, h), h = min(cap, base * 2^(n-1)) / 2
 *   none:         min(cap, base * 2^(n-1))
 * Never fails; the result is always <= cap (and >= base for decorrelated, when cap >= base).
 * Exponents saturate, so a large n cannot overflow. */
uint32_t carom_bounce_next(carom_bounce *b, const carom_bounce_cfg *cfg, carom_rng *r);

/* A server's Retry-After replaces the computed delay: returns min(retry_after_ms, max_ms)
 * and counts the retry in b, so the schedule continues from there. */
uint32_t carom_bounce_retry_after(carom_bounce *b, uint32_t retry_after_ms, uint32_t max_ms);

/* ---- shot clock: deadlines ------------------------------------------------------------ */

typedef struct carom_shot_clock {
    uint64_t start_ms;
    uint64_t deadline_at_ms; /* 0: no deadline */
} carom_shot_clock;

/* Starts a shot at now_ms; deadline_ms 0 means none. */
void carom_clock_start(carom_shot_clock *c, uint64_t now_ms, uint32_t deadline_ms);
/* Milliseconds left: UINT64_MAX with no deadline, 0 once it has passed. */
uint64_t carom_clock_left(const carom_shot_clock *c, uint64_t now_ms);
/* True when sleeping delay_ms from now ends strictly before the deadline (a retry after
 * it would have no time at all). Always true with no deadline. */
bool carom_clock_fits(const carom_shot_clock *c, uint64_t now_ms, uint32_t delay_ms);
/* How long the next attempt may take: min(attempt_ms, time left), where attempt_ms 0
 * means "no per-attempt bound". Returns 0 for "unbounded" only when both are unbounded;
 * with a deadline that has passed it returns 1 (the caller checks carom_clock_left first). */
uint32_t carom_clock_attempt_ms(const carom_shot_clock *c, uint64_t now_ms, uint32_t attempt_ms);
/* Elapsed milliseconds since the shot started. */
uint64_t carom_clock_elapsed(const carom_shot_clock *c, uint64_t now_ms);

/* ---- cushion: the circuit breaker --------------------------------------------------- */

typedef enum carom_cushion_mode {
    CAROM_CUSHION_CLOSED = 0,
    CAROM_CUSHION_OPEN = 1,
    CAROM_CUSHION_HALF_OPEN = 2,
    CAROM_CUSHION_FORCED_OPEN = 3, /* opened by hand: open until closed by hand */
    CAROM_CUSHION_FLEET_OPEN = 4,  /* marked by `carom fleet`: a quorum of hosts report it
                                      open (docs/fleet.md); a view value, stored as mode 3 */
} carom_cushion_mode;

typedef struct carom_cushion_cfg {
    uint8_t failures;        /* open after this many failures ... (1..window) */
    uint8_t window;          /* ... among the last this many outcomes (1..64) */
    uint8_t probes;          /* calls admitted while half-open (>= 1) */
    uint32_t half_open_ms;   /* the longest break: open lasts at most this before half-open */
    uint32_t first_break_ms; /* the first break; doubles per failed probe up to half_open_ms.
                                0: every break is half_open_ms */
} carom_cushion_cfg;

/* Plain data: no pointers, only address-free lock-free 64-bit atomics, so it may live in
 * shared memory and a process killed between two stores leaves it usable. All-zero bytes
 * are a valid closed cushion. Every transition is one CAS on `state`:
 *   bits 0-1 mode, 2-9 probes admitted, 10-14 break level, 15-31 generation, 32-63 time (ms)
 * The break level counts failed probes since the circuit last closed: an open circuit
 * becomes half-open after min(half_open_ms, first_break_ms * 2^level).
 * The generation changes on every transition; an outcome recorded with a ticket from an
 * older generation is ignored, so calls that started before the circuit opened cannot
 * close it again.
 *
 * Ageing (the header's promised choice): `hist` holds the last 64 outcomes, one bit each
 * (1 = failure). When the newest recorded outcome is older than half_open_ms, the history
 * is forgotten before the next outcome is added, so failures from long ago never keep a
 * now-healthy endpoint tripped. A half-open circuit whose probes never reported (the
 * process died) re-admits probes after another half_open_ms. */
typedef struct carom_cushion {
    _Atomic uint64_t state;
    _Atomic uint64_t hist;
    _Atomic uint64_t last_ms;     /* time of the newest outcome in hist */
    _Atomic uint64_t fleet_until; /* a fleet mark's lease (ms); read only while marked */
} carom_cushion;

/* What allow() says. A ticket carries the generation and whether the call is a probe;
 * pass it back to carom_cushion_record. */
typedef enum carom_verdict {
    CAROM_ALLOW = 0, /* go ahead (closed) */
    CAROM_PROBE = 1, /* go ahead as a half-open probe */
    CAROM_REJECT = 2 /* fail fast: open, or half-open with every probe slot taken */
} carom_verdict;

typedef uint64_t carom_ticket;

/* Makes c a closed, empty cushion. Not atomic with respect to other users. */
void carom_cushion_init(carom_cushion *c);

/* "May I call?" Lock-free; a closed cushion costs one atomic load. An open cushion whose
 * half_open_ms has passed moves to half-open and the caller becomes its first probe;
 * racing callers are admitted as probes until exactly cfg->probes have been. *ticket is
 * always written. */
carom_verdict carom_cushion_allow(carom_cushion *c, const carom_cushion_cfg *cfg, uint64_t now_ms,
                                  carom_ticket *ticket);

/* Records one outcome of a call admitted with ticket. Closed: the outcome enters the
 * window and the circuit opens when failures-in-window >= cfg->failures. Half-open: a
 * probe success closes it (window cleared), a probe failure reopens it for another
 * half_open_ms. Returns the transition it caused, so the caller can emit an event:
 * CAROM_CUSHION_OPEN (just opened), CAROM_CUSHION_CLOSED (just closed), or -1 (none). */
int carom_cushion_record(carom_cushion *c, const carom_cushion_cfg *cfg, uint64_t now_ms,
                         carom_ticket ticket, bool ok);

/* The errnos that an established connection's I/O fails with by its endpoint's fault (a
 * reset, a broken pipe, a timeout, an unreachable route), and so count as a failure in
 * the endpoint's cushion; any other (EAGAIN, EINTR, EBADF, EINVAL, ...) is the program's
 * own and is not recorded. The one list, for every I/O path (docs/configuration.md, "How
 * retries, cushion and budget compose"). */
static inline bool carom_cushion_io_errno(int err)
{
    switch (err) {
    case ECONNRESET:
    case EPIPE:
    case ETIMEDOUT:
    case ECONNABORTED:
    case ENETRESET:
    case EHOSTUNREACH:
    case ENETUNREACH:
        return true;
    default:
        return false;
    }
}

/* A ticket for the current generation that is not a probe: for outcomes observed outside
 * an admitted call (an I/O error on a connection established earlier). Recording a
 * failure with it counts in a closed window and is ignored while open or half-open. */
carom_ticket carom_cushion_current(const carom_cushion *c);

/* Manual control (`carom cushions --open/--close/--reset`). A hand-opened circuit refuses
 * every call and ignores every outcome until it is closed by hand; it is mode 3 with a
 * fixed stamp in the time bits, so foreign bytes with mode 3 are still repaired to closed.
 * force_open returns false when it was already forced open; force_close closes the circuit
 * from any state with an empty window, and returns false when it was already closed and
 * empty. Both are one CAS loop, safe against every other user. */
bool carom_cushion_force_open(carom_cushion *c);
bool carom_cushion_force_close(carom_cushion *c, uint64_t now_ms);

/* The fleet mark (`carom fleet`, docs/fleet.md): mode 3 with its own stamp in the time
 * bits, so a closed circuit still costs one load and a marked one fails fast like a
 * hand-opened one, ignoring every outcome, until its lease ends. fleet_open marks only a closed
 * circuit (one that is open or half-open here already decides for itself) and returns false when it
 * did not mark. fleet_clear turns a marked circuit half-open with no probe admitted yet,
 * so the next call probes and the local logic decides from there; false when the circuit
 * was not (or no longer) marked. Both are one CAS, safe against every other user. */
bool carom_cushion_fleet_open(carom_cushion *c, uint64_t until_ms);
bool carom_cushion_fleet_clear(carom_cushion *c, uint64_t now_ms);
/* A mark is leased: from until_ms on, the next allow() turns it half-open and admits the
 * caller as the probe, as fleet_clear would, so the marks of a daemon that died do not
 * outlive it. The daemon renews the lease of the marks it keeps (no-op when unmarked). */
void carom_cushion_fleet_renew(carom_cushion *c, uint64_t until_ms);

/* A consistent-enough view for tools; never changes the cushion. */
typedef struct carom_cushion_view {
    carom_cushion_mode mode;
    unsigned failures_in_window;
    unsigned probes_admitted;
    uint64_t ms_until_half_open; /* 0 unless open */
    uint32_t break_ms;           /* the current break (open or half-open), else 0 */
} carom_cushion_view;
void carom_cushion_peek(const carom_cushion *c, const carom_cushion_cfg *cfg, uint64_t now_ms,
                        carom_cushion_view *out);

/* ---- retry budget ---------------------------------------------------------------------- */

#define CAROM_BUDGET_BUCKETS 10 /* one per second: the sliding period is 10 s */

typedef struct carom_budget_cfg {
    uint16_t permille;  /* retries may add this many per 1000 first attempts (200 = 20%) */
    uint32_t min_per_s; /* ... but this many retries per second are always allowed */
} carom_budget_cfg;

/* Plain data, lock-free, shm-safe, all-zero valid. Each bucket packs
 * [second:20][first attempts:22][retries:22] into one word updated by CAS. */
typedef struct carom_budget {
    _Atomic uint64_t bucket[CAROM_BUDGET_BUCKETS];
} carom_budget;

void carom_budget_init(carom_budget *b);
/* Counts one first attempt (a deposit). */
void carom_budget_first(carom_budget *b, uint64_t now_ms);
/* Asks to spend one retry. True (and the retry is counted) when, over the last 10 s,
 * retries + 1 <= min_per_s * 10 + permille * firsts / 1000. Concurrent callers may
 * overshoot by at most one retry each. */
bool carom_budget_try_retry(carom_budget *b, const carom_budget_cfg *cfg, uint64_t now_ms);

/* ---- herd: one attempt at a time while an endpoint is failing ----------------------- */

/* Plain data, shm-safe, all-zero valid (healthy, no lease). While the endpoint is failing
 * (fail_ms != 0: the newest attempt failed), one caller at a time holds the lease and
 * makes the attempts for everyone; the others wait on `word`, which counts published
 * outcomes (bits 1-31) and says whether the newest was a success (bit 0). The lease packs
 * [holder id:32][expiry ms:32]: a holder that dies or hangs loses it at the expiry.
 * docs/configuration.md, "A herd through a restart", tells the whole story. */
typedef struct carom_herd {
    _Atomic uint64_t lease;
    _Atomic uint64_t fail_ms;
    _Atomic uint32_t word; /* a futex word in the shim */
    uint32_t reserved;
} carom_herd;

void carom_herd_init(carom_herd *h);
/* Takes the lease (free, expired, or already ours) until now_ms + hold_ms. False, with the
 * holder's id in *holder, when someone else holds it. self must not be 0. */
bool carom_herd_lead(carom_herd *h, uint32_t self, uint64_t now_ms, uint32_t hold_ms,
                     uint32_t *holder);
/* Gives the lease back if self holds it. */
void carom_herd_release(carom_herd *h, uint32_t self);
/* The holder is known dead: frees the lease if holder still holds it. */
void carom_herd_expire(carom_herd *h, uint32_t holder);
/* An attempt on the endpoint failed at now_ms (a retryable error). */
void carom_herd_failed(carom_herd *h, uint64_t now_ms);
/* An attempt succeeded. True when the endpoint had been failing: the success was
 * published (the word changed) and the caller must wake the waiters. A healthy endpoint
 * costs one load and no store. */
bool carom_herd_succeeded(carom_herd *h);
/* The word to wait on, and what a success published after `seen` looks like. */
uint32_t carom_herd_word(const carom_herd *h);
static inline bool carom_herd_ok_since(uint32_t seen, uint32_t now_word)
{
    return now_word != seen && (now_word & 1u);
}

/* ---- shot: the decisions of one guarded call ----------------------------------------- */

/* One connect, name lookup or libcurl transfer with all its retries. The caller loops:
 * ask carom_shot_next what to do, do it, report each attempt's result, and end the shot
 * once. The engine reads and writes only the cushion, budget and herd it is given and the
 * time and randomness passed in; it never sleeps or waits itself. */
typedef struct carom_shot_cfg {
    const carom_bounce_cfg *bounce;
    const carom_cushion_cfg *cushion; /* NULL: no circuit breaker */
    const carom_budget_cfg *budget;
    uint32_t retries;     /* steps after the first attempt: retries and waits together */
    uint32_t deadline_ms; /* 0: none */
    uint32_t attempt_ms;  /* the longest one attempt holds the herd's lease (> 0) */
    uint32_t jitter_ms;   /* waiters go within this after the herd's success */
} carom_shot_cfg;

/* The endpoint's shared state; any pointer may be NULL (no slot: no cushion, budget or
 * herd). self identifies this caller in the herd's lease (a thread id). It may be 0 at
 * begin and filled in (s->env.self) before the first retry is asked for; a caller whose
 * self is still 0 then retries alone, without the lease. */
typedef struct carom_shot_env {
    carom_cushion *cushion;
    carom_budget *budget;
    carom_herd *herd;
    uint32_t self;
} carom_shot_env;

typedef enum carom_shot_act {
    CAROM_SHOT_GO = 0, /* sleep step.ms, then make an attempt */
    CAROM_SHOT_WAIT,   /* wait at most step.ms for the herd's word to change, then ask again */
    CAROM_SHOT_STOP,   /* the shot is over; step.why says why */
} carom_shot_act;

typedef enum carom_shot_why {
    CAROM_SHOT_OK = 0,   /* an attempt succeeded */
    CAROM_SHOT_FATAL,    /* the error is not one to retry */
    CAROM_SHOT_RETRIES,  /* retries (steps) spent */
    CAROM_SHOT_DEADLINE, /* the next step would end past deadline_ms */
    CAROM_SHOT_BUDGET,   /* the retry budget said no */
    CAROM_SHOT_OPEN,     /* the circuit is open beyond this shot's reach */
} carom_shot_why;

typedef enum carom_shot_result {
    CAROM_RESULT_OK = 0,
    CAROM_RESULT_RETRY, /* failed with an error the policy retries */
    CAROM_RESULT_FATAL, /* failed with any other error */
} carom_shot_result;

typedef struct carom_shot_step {
    carom_shot_act act;
    carom_shot_why why; /* STOP */
    uint32_t ms;        /* GO: sleep first; WAIT: the longest wait */
    uint32_t attempt;   /* GO: the attempt's number, 1-based */
    bool retry;         /* GO: a retry (the shim emits `retry`) */
    bool probe;         /* GO: a half-open probe (the shim emits `half_open`) */
    bool joined;        /* GO: follows the herd's success (no budget asked) */
    uint32_t holder;    /* WAIT: the lease holder the caller waits for (0: none) */
    uint32_t seen;      /* WAIT: the herd word to wait on */
} carom_shot_step;

typedef struct carom_shot {
    carom_shot_cfg cfg;
    carom_shot_env env;
    carom_shot_clock clk;
    carom_bounce b;
    carom_ticket ticket;
    uint64_t due_ms;   /* the end of the current step */
    uint64_t reach_ms; /* the last moment an open-circuit wait may end */
    uint32_t steps;    /* schedule steps used */
    uint32_t attempts; /* attempts made */
    uint32_t seen;     /* herd word when the current wait began */
    uint32_t hint_ms;  /* the next delay, when the server named one (Retry-After) */
    uint8_t phase;     /* internal */
    bool ticketed, leader, probe, last_ok, failed_once;
} carom_shot;

/* Starts a shot at now_ms. */
void carom_shot_begin(carom_shot *s, const carom_shot_cfg *cfg, const carom_shot_env *env,
                      uint64_t now_ms);
/* What to do now. Spends a retry from the budget when it says GO for a retry that does not
 * follow the herd's success. */
carom_shot_step carom_shot_next(carom_shot *s, uint64_t now_ms, carom_rng *r);
/* The attempt just made ended with r. */
void carom_shot_report(carom_shot *s, uint64_t now_ms, carom_shot_result r);
/* The next retry's delay is ms (a server's Retry-After, already capped) instead of a draw;
 * the schedule continues from there. Give it before the carom_shot_next that plans the
 * retry. */
void carom_shot_delay_hint(carom_shot *s, uint32_t ms);
/* The program took the call away mid-shot (it closed the socket): gives the lease back and
 * records nothing. */
void carom_shot_abandon(carom_shot *s);
/* The lease holder the caller waited for is gone (its process died): frees its lease. */
void carom_shot_holder_gone(carom_shot *s, uint32_t holder);
/* Ends the shot: its one outcome (ok: any attempt succeeded) enters the cushion, and the
 * lease is given back. Returns the cushion transition it caused, as carom_cushion_record
 * does (CAROM_CUSHION_OPEN, CAROM_CUSHION_CLOSED or -1). *wake is set when a success ended
 * the endpoint's failing spell: the caller must then wake the herd's waiters. Call once;
 * a shot stopped while the circuit was open (never admitted) records nothing. */
int carom_shot_end(carom_shot *s, uint64_t now_ms, bool ok, bool *wake);
/* The first attempt without the engine's state, for the common case (a call that mostly
 * succeeds at once): carom_shot_fast_begin does what carom_shot_begin and the first
 * carom_shot_next do when the cushion lets the call through (the ticket, the first
 * attempt counted in the budget) and returns true; false (the circuit is open, nothing
 * changed) means: run the engine from carom_shot_begin. A success then ends the shot with
 * carom_shot_fast_end (as carom_shot_report OK and carom_shot_end would); anything else
 * first makes the full shot with carom_shot_resume, exactly as the engine would stand
 * after saying GO for this attempt, and goes on with it. The fast calls read only
 * cfg->cushion and env (a caller may leave the rest of cfg unset until it resumes). */
typedef struct carom_shot_fast {
    carom_ticket ticket;
    bool ticketed, probe; /* probe: the attempt is the half-open probe */
} carom_shot_fast;
bool carom_shot_fast_begin(carom_shot_fast *q, const carom_shot_cfg *cfg, const carom_shot_env *env,
                           uint64_t now_ms);
int carom_shot_fast_end(const carom_shot_fast *q, const carom_shot_cfg *cfg,
                        const carom_shot_env *env, uint64_t now_ms, bool *wake);
void carom_shot_resume(carom_shot *s, const carom_shot_cfg *cfg, const carom_shot_env *env,
                       const carom_shot_fast *q, uint64_t start_ms);
/* The nominal length of n retries' delays (jitter = none), the reach an open circuit's
 * wait is measured against. */
uint64_t carom_shot_reach(const carom_bounce_cfg *b, uint32_t n);
/* The name of a stop reason, for events ("retries spent", "deadline", ...). */
const char *carom_shot_why_name(carom_shot_why why);

/* ---- the shared table's layout --------------------------------------------------------- */

/* The shim keeps cushions and budgets in one shared-memory table per user and config;
 * `carom cushions` reads it. Both sides agree on this header: an array of 64-bit words,
 * the magic stored last (release order) once the rest is written. The slot field offsets
 * it records make the slot layout self-describing (docs/scoreboard.md). */
enum carom_shm_word {
    CAROM_SHM_H_MAGIC,
    CAROM_SHM_H_VERSION,
    CAROM_SHM_H_NSLOTS,
    CAROM_SHM_H_SIZE,
    CAROM_SHM_H_UID,
    CAROM_SHM_H_SLOT_SIZE,
    CAROM_SHM_H_SLOTS_OFF,
    CAROM_SHM_H_OFF_KEY_HASH,
    CAROM_SHM_H_OFF_LAST_USED,
    CAROM_SHM_H_OFF_POLICY,
    CAROM_SHM_H_OFF_KEY,
    CAROM_SHM_H_KEY_MAX,
    CAROM_SHM_H_OFF_CUSHION,
    CAROM_SHM_H_CONFIG_HASH,
    CAROM_SHM_H_EVICTIONS,
    CAROM_SHM_H_OFF_BUCKET, /* carom_bucket in a slot (0 in tables made before limits) */
    CAROM_SHM_H_OFF_LEASES, /* carom_leases in a slot (likewise) */
    CAROM_SHM_H_CHAOS_OFF,  /* the runtime chaos rules (carom_chaos_rule[]) */
    CAROM_SHM_H_CHAOS_N,
    CAROM_SHM_H_CHAOS_GEN, /* bumped by `carom chaos` on every change */
    CAROM_SHM_H__N
};
#define CAROM_SHM_MAGIC 0x31766d6873726163ull /* "carshmv1" little-endian */
#define CAROM_SHM_VERSION 3u
/* A slot's key_hash with this bit set is being claimed (since the ms in the low bits). */
#define CAROM_SHM_RESERVED (1ull << 63)

/* The table's file name, /dev/shm/carom-<uid>-<config hash as 16 hex digits>
 * (docs/scoreboard.md, "Shared state"): the one place it is spelled, for the shim that
 * makes the table and the tools that open it. False (buf emptied when len > 0) when len
 * is below CAROM_SHM_NAME_MAX and the name does not fit. */
#define CAROM_SHM_NAME_MAX 48
bool carom_shm_name(char *buf, size_t len, unsigned uid, uint64_t cfg_hash);

/* ---- token bucket and connection leases: rate limits and bulkheads ------------------- */

/* A rate limit as a token bucket (docs/configuration.md, "Rate limits and bulkheads"). */
typedef struct carom_bucket_cfg {
    uint32_t rate_per_s;  /* tokens added per second, 1..CAROM_BUCKET_RATE_MAX */
    uint32_t burst;       /* bucket size, 1..CAROM_BUCKET_BURST_MAX (callers resolve 0) */
    uint32_t max_wait_ms; /* the longest any caller may reserve ahead (limit_wait_ms) */
} carom_bucket_cfg;
#define CAROM_BUCKET_RATE_MAX 1000000u
#define CAROM_BUCKET_BURST_MAX 65535u

/* Plain data: one lock-free 64-bit word, shm-safe, all-zero valid (a full bucket). It
 * packs [time (ms, low 32 bits):32][deficit:32], the deficit being the tokens missing
 * from a full bucket in 1/1024ths; beyond the burst it counts tokens reserved ahead by
 * waiting callers. Every change is one CAS, so a process killed between two
 * instructions leaves either the old or the new word. A scribbled word heals on the next
 * take: a deficit beyond burst + rate * max_wait_ms (more than any caller could have
 * reserved) is cut to that, and a time stamp up to CAROM_BUCKET_SLACK_MS ahead of the
 * reader only delays refill by that much (further ahead reads as long ago). */
typedef struct carom_bucket {
    _Atomic uint64_t word;
} carom_bucket;
#define CAROM_BUCKET_SLACK_MS 10000u

void carom_bucket_init(carom_bucket *b);
/* Takes one token at now_ms, reserving it ahead when the bucket is empty: true when the
 * token is the caller's, to be used after *wait_ms (0: now; at most max_wait_ms, itself
 * cut to cfg->max_wait_ms). False when no token can be had within max_wait_ms; *wait_ms
 * is then how long until one could be had at once (>= 1). Reservations queue callers in
 * the order they asked, so concurrent waiters never race for the same token. Refill is
 * continuous, rate_per_s per second, at most burst in the bucket; it only ever rounds
 * down, so the rate is never exceeded. wait_ms may be NULL. */
bool carom_bucket_take(carom_bucket *b, const carom_bucket_cfg *cfg, uint64_t now_ms,
                       uint32_t max_wait_ms, uint32_t *wait_ms);
/* Whole tokens in the bucket at now_ms, for tools; never changes the bucket. */
uint32_t carom_bucket_tokens(const carom_bucket *b, const carom_bucket_cfg *cfg, uint64_t now_ms);

/* A bulkhead: at most `max` concurrently held leases out of a fixed array, each lease one
 * 32-bit record naming its holder, so leases of a process that died can be found and
 * taken over. A holder is [pid:22][tag:10] (carom_lease_holder); 0 is a free record.
 * Core never decides whether a holder lives: the caller passes that test in.
 * Plain data, lock-free, shm-safe, all-zero valid (no leases held). `seq` changes on
 * every release, so a waiter can block on it until a lease may be free. */
#define CAROM_LEASES_MAX 64u
typedef struct carom_leases {
    _Atomic uint32_t seq;
    uint32_t reserved;
    _Atomic uint32_t holder[CAROM_LEASES_MAX];
} carom_leases;

/* The holder word for a process: pid (1..2^22-1) and the low 10 bits of a value that
 * tells apart processes that reuse one pid (its start time). Never 0. */
uint32_t carom_lease_holder(uint32_t pid, uint64_t start_time);
static inline uint32_t carom_lease_pid(uint32_t holder)
{
    return holder >> 10;
}
/* True when the holder may still hold its leases; false lets a take reclaim them. */
typedef bool (*carom_lease_alive_fn)(uint32_t holder, void *ctx);

void carom_leases_init(carom_leases *l);
/* Takes a lease among the first `max` records (max is clamped to 1..CAROM_LEASES_MAX):
 * a free record, else (alive not NULL) one whose holder other than `me` is not alive.
 * Returns its index, or -1 when all `max` are held by live holders. Only records below
 * max count, so lowering max takes effect as leases above it are released. */
int carom_leases_take(carom_leases *l, unsigned max, uint32_t me, carom_lease_alive_fn alive,
                      void *ctx);
/* Gives back the lease at index if `me` still holds it (true), and bumps seq. */
bool carom_leases_release(carom_leases *l, int index, uint32_t me);
/* Records held among the first max, for tools. */
unsigned carom_leases_count(const carom_leases *l, unsigned max);
/* The release counter, read before deciding to wait on it. */
static inline uint32_t carom_leases_seq(const carom_leases *l)
{
    return atomic_load_explicit(&((carom_leases *)l)->seq, memory_order_acquire);
}

/* ---- the endpoint slot table ----------------------------------------------------------- */

/* One endpoint's shared state: its cushion, budget, herd, rate bucket and leases, keyed by
 * (policy index, "host:port"). The shim keeps an array of these in shared memory (or in
 * its own memory with state = process); `carom cushions` reads them through the table's
 * self-describing header and, for manual control, through this very layout. */
#define CAROM_SLOT_KEY_MAX 96
typedef struct carom_slot {
    _Atomic uint64_t key_hash; /* 0: free; CAROM_SHM_RESERVED set: being claimed */
    _Atomic uint64_t last_used_ms;
    uint32_t policy_index;
    char key[CAROM_SLOT_KEY_MAX]; /* "host:port", as events show it */
    carom_cushion cushion;
    carom_budget budget;
    carom_herd herd;
    carom_bucket bucket; /* rate_limit */
    carom_leases leases; /* max_connections */
} carom_slot;

/* What the slot table needs from its caller: the clock (a claim in progress is waited
 * for a moment, bounded), a way to let another thread run meanwhile (may be NULL), and
 * the shared eviction counter (may be NULL). */
typedef struct carom_slots_env {
    uint64_t (*now_ms)(void);
    void (*yield)(void);
    _Atomic uint64_t *evictions;
} carom_slots_env;

/* 64-bit FNV-1a over n bytes, continuing from h (start with CAROM_FNV1A_INIT): the project's
 * one copy. Every table keyed by text (slots, policy content hash, chaos draws, the
 * scoreboard's series) hashes with it, so a key hashes the same in every layer. */
#define CAROM_FNV1A_INIT 0xcbf29ce484222325ull
static inline uint64_t carom_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* FNV-1a over the policy index and the key; 63 bits, never 0 (docs/scoreboard.md names it
 * so tools and tests can find a key's home slot). */
uint64_t carom_slot_hash(uint32_t pol, const char *key);
/* The slot for (pol, key) among the n slots at base (n a power of two), claimed when it
 * is new (docs/scoreboard.md, "Shared state", gives the probing and eviction rule). NULL
 * only when its run is full of recently used slots. Lock-free: a process killed at any
 * instruction leaves the table usable. */
carom_slot *carom_slots_find(carom_slot *base, unsigned n, uint32_t pol, const char *key,
                             uint64_t now_ms, const carom_slots_env *env);
/* The same without claiming: NULL when the key has no slot. */
carom_slot *carom_slots_lookup(carom_slot *base, unsigned n, uint32_t pol, const char *key);
/* Whether slot s still holds the key whose carom_slot_hash is h (a caller's remembered
 * answer of carom_slots_find): true, and s counts as used now, unless it was evicted or is
 * being claimed since. The hash covers the policy index, so h alone says whose it is. */
bool carom_slots_still(carom_slot *s, uint64_t h, uint64_t now_ms);

/* ---- runtime chaos rules ---------------------------------------------------------------- */

/* Faults set at run time by `carom chaos` for one endpoint: its text is the command's
 * KEY=VALUE words ("connect_refuse=1 latency_ms=200"). Written under a seqlock: `seq` is
 * odd while a writer fills the rule, and changes with every write, so a reader copies
 * the rule and keeps the copy only when seq was even and unchanged across it. All-zero is
 * a free rule. */
#define CAROM_CHAOS_RULES 32
#define CAROM_CHAOS_TEXT_MAX 256
typedef struct carom_chaos_rule {
    _Atomic uint64_t seq;
    char endpoint[CAROM_SLOT_KEY_MAX];
    char text[CAROM_CHAOS_TEXT_MAX];
} carom_chaos_rule;

/* Copies r into *out (NUL-terminated strings); false when a writer was busy with it
 * throughout a few tries. */
bool carom_chaos_rule_read(const carom_chaos_rule *r, carom_chaos_rule *out);

#ifdef __cplusplus
}
#endif
#endif
