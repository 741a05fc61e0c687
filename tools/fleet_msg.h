/* fleet_msg.h: one host's report of its circuits, as `carom fleet` sends it through Redis
 * (docs/fleet.md, "The report"). It must stay pure (never any I/O, allocation or global):
 * the decoder takes any bytes from any peer and either fills a report or says why not. */
#ifndef CAROM_FLEET_MSG_H
#define CAROM_FLEET_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "../core/carom_core.h"

#define CAROM_FLEET_MSG_MAX 65536 /* longer reports are refused unread */
#define CAROM_FLEET_EPS_MAX 512   /* endpoints per report */
#define CAROM_FLEET_ID_MAX 64     /* host id, NUL included (as [fleet] host) */
#define CAROM_FLEET_TTL_MIN 1000u
#define CAROM_FLEET_TTL_MAX 3600000u

/* What a host says of one endpoint. Only OPEN and HALF_OPEN count towards a quorum:
 * FORCED (opened by hand there) and MARKED (that host's own fleet mark) never do, so
 * an operator's test on one host and the fleet's own marks never echo back. */
typedef enum carom__fleet_state {
    CAROM_FLEET_CLOSED = 0,
    CAROM_FLEET_OPEN,
    CAROM_FLEET_HALF_OPEN,
    CAROM_FLEET_FORCED,
    CAROM_FLEET_MARKED,
    CAROM_FLEET__NSTATES
} carom__fleet_state;

typedef struct carom__fleet_ep {
    char ep[CAROM_SLOT_KEY_MAX]; /* "host:port" or "[v6]:port", as the shim keys it */
    uint8_t state;               /* carom__fleet_state */
} carom__fleet_ep;

typedef struct carom__fleet_report {
    char host[CAROM_FLEET_ID_MAX];
    uint64_t seq;    /* the sender's count of reports sent */
    uint32_t ttl_ms; /* how long the sender keeps it alive without a refresh */
    unsigned n;
    carom__fleet_ep ep[CAROM_FLEET_EPS_MAX];
} carom__fleet_report;

/* True when it counts towards a quorum. */
static inline int carom__fleet_counts(uint8_t state)
{
    return state == CAROM_FLEET_OPEN || state == CAROM_FLEET_HALF_OPEN;
}
const char *carom__fleet_state_name(uint8_t state);

/* A host id or key prefix: 1..max-1 bytes of A-Z a-z 0-9 . _ - (nothing a Redis pattern
 * or a key separator could read as syntax). */
int carom__fleet_id_ok(const char *s, size_t len, size_t max);
/* An endpoint as the shim spells it: HOST:PORT, port 1..65535, HOST of letters, digits and
 * . - _ or an IPv6 literal in brackets; shorter than CAROM_SLOT_KEY_MAX. */
int carom__fleet_ep_ok(const char *s, size_t len);

/* Writes r as text into buf (cap bytes, NUL-terminated); returns the length, or -1 when it
 * does not fit or r holds something the decoder would refuse. */
int carom__fleet_encode(const carom__fleet_report *r, char *buf, size_t cap);
/* Reads len bytes (any bytes) into *out. NULL when the report is good, else why it is
 * refused (a static string); *out is then unspecified. Never reads past len. */
const char *carom__fleet_decode(const char *buf, size_t len, carom__fleet_report *out);

#endif
