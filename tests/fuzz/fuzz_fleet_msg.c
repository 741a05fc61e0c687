/* fuzz_fleet_msg.c: libFuzzer target for `carom fleet`'s report decoder, what any peer on
 * the same Redis can send. Any bytes must decode to a refusal or to a report whose every
 * field is well-formed, and a decoded report must encode back to the very same bytes. It
 * must never send, write files or print. */
#include "../../tools/fleet_msg.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static carom__fleet_report rep;
static char buf[CAROM_FLEET_MSG_MAX + 1];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly size bytes, so reading one past it is caught by ASan. */
    char *in = malloc(size ? size : 1);
    if (!in) return 0;
    memcpy(in, data, size);
    const char *why = carom__fleet_decode(in, size, &rep);
    if (!why) {
        if (!carom__fleet_id_ok(rep.host, strlen(rep.host), sizeof rep.host)) abort();
        if (rep.n > CAROM_FLEET_EPS_MAX) abort();
        for (unsigned i = 0; i < rep.n; i++) {
            if (rep.ep[i].state >= CAROM_FLEET__NSTATES) abort();
            if (!carom__fleet_ep_ok(rep.ep[i].ep, strlen(rep.ep[i].ep))) abort();
        }
        int n = carom__fleet_encode(&rep, buf, sizeof buf);
        if (n < 0 || (size_t)n != size || memcmp(buf, in, size) != 0) abort();
    }
    free(in);
    return 0;
}
