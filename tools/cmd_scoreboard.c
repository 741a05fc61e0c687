/* cmd_scoreboard.c: `carom scoreboard`: listens on the shims' event socket and shows a
 * live per-policy table, prints the raw JSON lines (--json), or serves the counters in
 * Prometheus text format (--prometheus HOST:PORT). It is a viewer and an exporter, not an
 * aggregator: it keeps only bounded in-memory counters. It must never replace a live
 * listener or anything but a stale socket, never leave behind a socket file it created on
 * a clean exit, never block on one HTTP client, and never let an event's text break the
 * output it is copied into (terminal, JSON, Prometheus labels). */
#include "carom_tools.h"
#include "scoreboard_int.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../policy/carom_policy.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static const char usage[] =
    "usage: carom scoreboard [-c FILE] [--json] [--prometheus HOST:PORT] [--interval MS]\n"
    "Listens on the shims' event socket ($CAROM_SCOREBOARD, else [scoreboard] socket).\n"
    "  -c FILE                the policy file whose [scoreboard] socket to use\n"
    "  --json                 print each event as one JSON line\n"
    "  --prometheus HOST:PORT serve the counters at http://HOST:PORT/metrics\n"
    "  --interval MS          redraw the table every MS ms (50..3600000, default 1000)\n"
    "  -h, --help             show this help\n";

int carom__cmd_scoreboard(int argc, char **argv)
{
    bool json = false;
    const char *config = NULL, *prom = NULL;
    long interval = 1000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--prometheus") == 0 && i + 1 < argc) {
            prom = argv[++i];
        } else if (strncmp(argv[i], "--prometheus=", 13) == 0) {
            prom = argv[i] + 13;
        } else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--interval") == 0 && i + 1 < argc) {
            interval = strtol(argv[++i], NULL, 10);
            if (interval < 50 || interval > 3600000) {
                fputs(usage, stderr);
                return 2;
            }
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else {
            fputs(usage, stderr);
            return 2;
        }
    }
    bool table = !json && !prom;
    carom__sb_series = calloc(MAX_SERIES + MAX_POLICIES, sizeof *carom__sb_series);
    carom__sb_index_of = malloc(HASH_SLOTS * sizeof *carom__sb_index_of);
    carom__sb_rows = calloc(MAX_POLICIES, sizeof *carom__sb_rows);
    if (!carom__sb_series || !carom__sb_index_of || !carom__sb_rows) {
        fprintf(stderr, "carom scoreboard: out of memory\n");
        return 1;
    }
    memset(carom__sb_index_of, 0xff, HASH_SLOTS * sizeof *carom__sb_index_of);
    for (unsigned i = 0; i < MAX_CLIENTS; i++)
        carom__sb_clients[i].fd = -1;

    char buf[4096];
    const char *path = carom__sb_socket_path(config, buf, sizeof buf);
    int fd = carom__sb_listen_on(path);
    if (fd < 0) {
        fprintf(stderr, "carom scoreboard: cannot listen on %s: %s\n", path, strerror(errno));
        return 1;
    }
    int hfd = -1;
    if (prom && (hfd = carom__sb_http_listen(prom)) < 0) {
        close(fd);
        carom__sb_unlink_ours(path);
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a reader (jq) that goes away ends us through EPIPE */
    bool tty = isatty(STDOUT_FILENO);
    if (prom)
        fprintf(stderr, "carom scoreboard: listening on %s, serving http://%s/metrics\n", path,
                prom);
    else if (json)
        fprintf(stderr, "carom scoreboard: listening on %s\n", path);
    if (table) carom__sb_print_table(stdout, path, tty);

    bool dirty = false, broken = false;
    uint64_t next_draw = carom__mono_ms() + (uint64_t)interval;
    while (!stop && !broken) {
        struct pollfd p[2 + MAX_CLIENTS];
        struct carom__sb_client *who[2 + MAX_CLIENTS];
        nfds_t n = 0;
        p[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
        if (hfd >= 0) p[n++] = (struct pollfd){.fd = hfd, .events = POLLIN};
        uint64_t now = carom__mono_ms();
        for (unsigned i = 0; i < MAX_CLIENTS; i++) {
            if (carom__sb_clients[i].fd < 0) continue;
            if (now - carom__sb_clients[i].since > CLIENT_MS) {
                carom__sb_client_close(&carom__sb_clients[i]);
                continue;
            }
            who[n] = &carom__sb_clients[i];
            p[n++] = (struct pollfd){.fd = carom__sb_clients[i].fd,
                                     .events = carom__sb_clients[i].out ? POLLOUT : POLLIN};
        }
        int timeout = table ? (int)(next_draw > now ? next_draw - now : 0) : 1000;
        int r = poll(p, n, timeout);
        if (r < 0 && errno != EINTR) break;
        if (r > 0 && (p[0].revents & POLLIN)) {
            /* Drain what is queued, bounded so HTTP clients and the table still get turns. */
            for (int k = 0; k < 4096; k++) {
                char msg[2048];
                ssize_t m = recv(fd, msg, sizeof msg - 1, MSG_DONTWAIT);
                if (m < 0) break;
                msg[m] = 0;
                /* --json passes each event on raw, one per line, as the shim sent it;
                 * what is not a carom event (a stray datagram) would only break the
                 * reader (jq), so it is counted and left out. */
                struct carom__sb_event e;
                if ((size_t)m == strlen(msg) && !memchr(msg, '\n', (size_t)m) &&
                    carom__sb_parse_event(msg, &e)) {
                    carom__sb_account(&e);
                    dirty = true;
                    if (json) {
                        fwrite(msg, 1, (size_t)m, stdout);
                        fputc('\n', stdout);
                    }
                } else {
                    carom__sb_total_invalid++;
                }
            }
            if (json && (fflush(stdout) != 0 || ferror(stdout))) broken = true;
        }
        for (nfds_t i = 1; r > 0 && i < n; i++) {
            if (!p[i].revents) continue;
            if (p[i].fd == hfd)
                carom__sb_http_accept(hfd);
            else
                carom__sb_client_io(who[i], p[i].revents);
        }
        if (table && carom__mono_ms() >= next_draw) {
            if (dirty || tty) carom__sb_print_table(stdout, path, tty);
            dirty = false;
            next_draw = carom__mono_ms() + (uint64_t)interval;
        }
    }
    if (table) carom__sb_print_table(stdout, path, false);
    for (unsigned i = 0; i < MAX_CLIENTS; i++)
        if (carom__sb_clients[i].fd >= 0) carom__sb_client_close(&carom__sb_clients[i]);
    if (hfd >= 0) close(hfd);
    close(fd);
    carom__sb_unlink_ours(path);
    return 0;
}
