/* scoreboard_table.c: the live per-policy table `carom scoreboard` draws. It must never
 * let an event's text reach the terminal unescaped (no control characters). */
#include "scoreboard_int.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Shows text from an event on a terminal: control bytes become '?', so a crafted
 * datagram cannot move the cursor or retitle the window. */
static void safe_text(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    for (; *src && n + 1 < cap; src++)
        dst[n++] = ((unsigned char)*src < 0x20 || *src == 0x7f) ? '?' : *src;
    dst[n] = 0;
}

static void fmt_ms(char *buf, size_t len, double ms)
{
    if (ms < 0)
        snprintf(buf, len, "-");
    else if (ms < 10000)
        snprintf(buf, len, "%.0fms", ms);
    else
        snprintf(buf, len, "%.1fs", ms / 1000.0);
}

void carom__sb_print_table(FILE *out, const char *path, bool tty)
{
    if (tty)
        fputs("\033[H\033[J", out);
    else
        fputs("\n", out);
    fprintf(out, "carom scoreboard  %s  events %llu  dropped by senders %llu  invalid %llu\n", path,
            (unsigned long long)carom__sb_total_events, (unsigned long long)carom__sb_total_dropped,
            (unsigned long long)carom__sb_total_invalid);
    fprintf(out, "%-20s %8s %8s %8s %8s  %-14s %8s %8s  %s\n", "POLICY", "CALLS", "RETRIES",
            "FAILURES", "LIMITED", "CIRCUIT", "P50", "P99", "LAST ERROR");
    uint64_t now = carom__mono_ms();
    for (unsigned i = 0; i < carom__sb_nrows; i++) {
        struct carom__sb_policy_row *r = &carom__sb_rows[i];
        unsigned open = 0, half = 0, forced = 0, known = 0;
        for (unsigned j = 0; j < carom__sb_nseries; j++) {
            if (strcmp(carom__sb_series[j].policy, r->name) != 0) continue;
            uint64_t transitions = carom__sb_series[j].events[2] + carom__sb_series[j].events[3] +
                                   carom__sb_series[j].events[4];
            if (!transitions && !carom__sb_series[j].events[0]) continue;
            known++;
            open += carom__sb_series[j].circuit == 1;
            half += carom__sb_series[j].circuit == 2;
            forced += carom__sb_series[j].circuit == 3;
        }
        char circuit[32];
        if (forced)
            snprintf(circuit, sizeof circuit, "forced-open %u/%u", forced, known);
        else if (open)
            snprintf(circuit, sizeof circuit, "open %u/%u", open, known);
        else if (half)
            snprintf(circuit, sizeof circuit, "half-open %u/%u", half, known);
        else
            snprintf(circuit, sizeof circuit, known ? "closed" : "-");
        char p50[16], p99[16];
        if (r->nlat) {
            uint32_t tmp[RING];
            memcpy(tmp, r->lat, r->nlat * sizeof tmp[0]);
            qsort(tmp, r->nlat, sizeof tmp[0], cmp_u32);
            fmt_ms(p50, sizeof p50, tmp[(r->nlat - 1) * 50 / 100]);
            fmt_ms(p99, sizeof p99, tmp[(r->nlat - 1) * 99 / 100]);
        } else {
            fmt_ms(p50, sizeof p50, -1);
            fmt_ms(p99, sizeof p99, -1);
        }
        char name[CAROM_NAME_MAX], err[48], ep[192], last[320];
        safe_text(name, sizeof name, r->name);
        safe_text(err, sizeof err, r->last_error);
        safe_text(ep, sizeof ep, r->last_ep);
        if (r->last_error[0])
            snprintf(last, sizeof last, "%s %s (%llus ago)", err, ep,
                     (unsigned long long)((now - r->last_error_at) / 1000));
        else
            snprintf(last, sizeof last, "-");
        fprintf(out, "%-20s %8llu %8llu %8llu %8llu  %-14s %8s %8s  %s\n", name,
                (unsigned long long)r->calls, (unsigned long long)r->retries,
                (unsigned long long)r->failures, (unsigned long long)r->limited, circuit, p50, p99,
                last);
    }
    if (!carom__sb_nrows)
        fprintf(out, "(no events yet: run a program with the shim, e.g. carom run -- curl ...)\n");
    fflush(out);
}
