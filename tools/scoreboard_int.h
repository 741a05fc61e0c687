/* scoreboard_int.h: what the files of `carom scoreboard` (tools/cmd_scoreboard.c and
 * tools/scoreboard_*.c) share, grouped by the file that defines it. Included by those files
 * only; like every tool, it uses the public layer headers and never anything from shim/. */
#ifndef CAROM_SCOREBOARD_INT_H
#define CAROM_SCOREBOARD_INT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../policy/carom_policy.h"
#include "carom_tools.h" /* carom__mono_ms */

/* ---- scoreboard_event.c: one event, as the shims send it (docs/scoreboard.md) */
struct carom__sb_event {
    char event[32], policy[CAROM_NAME_MAX], endpoint[192], call[32], error[48], detail[512];
    long long pid, attempt, delay_ms, elapsed_ms, dropped;
};

/* ---- scoreboard_count.c: the counters */

/* Bounded memory: at most MAX_SERIES (policy, endpoint) pairs (later endpoints are counted
 * under endpoint "other"), MAX_OUTCOMES distinct errors and MAX_FAULTS chaos faults each. */
#define MAX_SERIES 4096
#define HASH_SLOTS 8192
#define MAX_POLICIES 256
#define MAX_OUTCOMES 12
#define MAX_FAULTS 8
#define RING 1024

/* The latency histogram buckets (seconds), Prometheus style. */
#define NB 13
extern const double carom__sb_buckets[NB];

/* The event kinds counted by name; any other is counted as "other". */
#define NKINDS 13
extern const char *const carom__sb_kinds[NKINDS];

struct carom__sb_hist {
    uint64_t b[NB]; /* non-cumulative; made cumulative when printed */
    uint64_t count;
    double sum;
};

struct carom__sb_named_count {
    char name[48];
    uint64_t n;
};

struct carom__sb_series {
    char policy[CAROM_NAME_MAX], endpoint[192];
    uint64_t events[NKINDS + 1]; /* the last: kinds this version does not know */
    struct carom__sb_named_count outcomes[MAX_OUTCOMES]; /* shots: "ok" or the error */
    struct carom__sb_named_count faults[MAX_FAULTS];     /* chaos injections by fault */
    uint64_t retries;
    struct carom__sb_hist delay, duration;
    int circuit; /* 0 closed, 1 open, 2 half-open, 3 forced open (by hand) */
};

struct carom__sb_policy_row {
    char name[CAROM_NAME_MAX];
    uint64_t calls, failures, retries;
    uint64_t limited;   /* rate_limited and bulkhead_full: calls held back or refused */
    uint32_t lat[RING]; /* the latest shot durations (ms) */
    unsigned nlat, lat_next;
    char last_error[48], last_ep[192];
    uint64_t last_error_at;
};

/* ---- scoreboard_prom.c: the /metrics server's clients */

#define MAX_CLIENTS 16
#define CLIENT_MS 5000

struct carom__sb_client {
    int fd;
    char in[2048];
    size_t nin;
    char *out;
    size_t nout, sent;
    uint64_t since;
};

/* ---- scoreboard_listen.c: the shims' event socket */
const char *carom__sb_socket_path(const char *config, char *buf, size_t len);
int carom__sb_listen_on(const char *path);
void carom__sb_unlink_ours(const char *path);

/* ---- scoreboard_event.c: one event, parsed */
bool carom__sb_parse_event(const char *s, struct carom__sb_event *e);

/* ---- scoreboard_count.c: the counters */
extern struct carom__sb_series *carom__sb_series;
extern unsigned carom__sb_nseries;
extern int32_t *carom__sb_index_of; /* HASH_SLOTS entries, -1 empty */
extern struct carom__sb_policy_row *carom__sb_rows;
extern unsigned carom__sb_nrows;
extern uint64_t carom__sb_total_events, carom__sb_total_invalid, carom__sb_total_dropped;
void carom__sb_account(const struct carom__sb_event *e);

/* ---- scoreboard_table.c: the live table */
void carom__sb_print_table(FILE *out, const char *path, bool tty);

/* ---- scoreboard_prom.c: Prometheus text and the /metrics server */
extern struct carom__sb_client carom__sb_clients[MAX_CLIENTS];
int carom__sb_http_listen(const char *hostport);
void carom__sb_client_close(struct carom__sb_client *c);
void carom__sb_client_io(struct carom__sb_client *c, short revents);
void carom__sb_http_accept(int hfd);

#endif
