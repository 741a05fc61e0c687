/* curlprog.c: the libcurl program the curl_*.sh end-to-end tests run with and without the
 * shim: a GET whose write callback checks every byte of the body against the pattern
 * tests/servers/flaky.py sends (--body-size), an upload with read and seek callbacks, a
 * POST, and the multi interface (curl_multi_perform with curl_multi_poll, or an event loop
 * with curl_multi_socket_action). It prints one line per transfer. It must never retry,
 * resume or otherwise recover on its own: whatever survives a flaky server has to be the
 * shim's doing, or the tests would pass vacuously. */
#include <curl/curl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The byte at offset i of flaky.py's --body-size body. */
static unsigned char pattern(uint64_t i)
{
    return (unsigned char)((((i ^ (i >> 8) ^ (i >> 16)) & 0xff) * 157) & 0xff);
}

struct xfer {
    CURL *h;
    const char *url;
    long long want;    /* expected body length, -1: not checked */
    const char *text;  /* expected body text, or NULL */
    long long bytes;   /* body bytes received */
    long long bad_at;  /* first wrong byte, -1: none */
    int blocks;        /* final status lines the header callback saw */
    long long up_size; /* upload: bytes to send */
    long long up_pos;  /* upload: read position */
    long long up_read; /* upload: bytes handed to libcurl, over all attempts */
    int seeks;
    bool done;
    long status; /* CURLINFO_RESPONSE_CODE once the transfer is over */
    CURLcode rc;
    char err[CURL_ERROR_SIZE];
};

static size_t on_body(char *buf, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * n;
    for (size_t i = 0; i < len; i++) {
        long long at = x->bytes + (long long)i;
        unsigned char want;
        if (x->text)
            want = at < (long long)strlen(x->text) ? (unsigned char)x->text[at] : 0;
        else
            want = pattern((uint64_t)at);
        bool in_range = x->text ? at < (long long)strlen(x->text) : (x->want < 0 || at < x->want);
        if ((x->want >= 0 || x->text) && (!in_range || (unsigned char)buf[i] != want) &&
            x->bad_at < 0)
            x->bad_at = at;
    }
    x->bytes += (long long)len;
    return len;
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * n;
    /* Final responses only: a 100 Continue is part of the same exchange. */
    const char *sp = len >= 5 && memcmp(buf, "HTTP/", 5) == 0 ? memchr(buf, ' ', len) : NULL;
    if (sp && sp + 1 < buf + len && sp[1] != '1') x->blocks++;
    return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t room = size * n, k = 0;
    while (k < room && x->up_pos < x->up_size)
        buf[k++] = (char)pattern((uint64_t)x->up_pos++);
    x->up_read += (long long)k;
    return k;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
    struct xfer *x = ud;
    x->seeks++;
    if (origin != SEEK_SET || off < 0 || off > x->up_size) return CURL_SEEKFUNC_CANTSEEK;
    x->up_pos = off;
    return CURL_SEEKFUNC_OK;
}

static void report(struct xfer *x)
{
    long status = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    x->status = status;
    bool body_ok = x->bad_at < 0 && (x->want < 0 || x->bytes == x->want) &&
                   (!x->text || x->bytes == (long long)strlen(x->text));
    printf("rc=%d status=%ld bytes=%lld blocks=%d check=%s", (int)x->rc, status, x->bytes,
           x->blocks, body_ok ? "ok" : "BAD");
    if (x->bad_at >= 0) printf(" bad_at=%lld", x->bad_at);
    if (x->up_size >= 0) printf(" up_read=%lld seeks=%d", x->up_read, x->seeks);
    if (x->rc) printf(" err=\"%s\"", x->err[0] ? x->err : curl_easy_strerror(x->rc));
    printf("\n");
    fflush(stdout);
}

/* Reported first: a transfer is good when libcurl succeeded, the server said so (< 400)
 * and the body is exactly what was expected. */
static bool ok(const struct xfer *x)
{
    return x->rc == CURLE_OK && x->status < 400 && x->bad_at < 0 &&
           (x->want < 0 || x->bytes == x->want) &&
           (!x->text || x->bytes == (long long)strlen(x->text));
}

static void setup(struct xfer *x, const char *url, long long want, const char *text)
{
    memset(x, 0, sizeof *x);
    x->url = url;
    x->want = want;
    x->text = text;
    x->bad_at = -1;
    x->up_size = -1;
    x->h = curl_easy_init();
    if (!x->h) {
        fprintf(stderr, "curlprog: curl_easy_init failed\n");
        exit(2);
    }
    curl_easy_setopt(x->h, CURLOPT_URL, url);
    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(x->h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->err);
    curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->h, CURLOPT_TIMEOUT, 20L);
}

static int usage(void)
{
    fprintf(stderr, "usage: curlprog get URL (SIZE | -t TEXT) [-f]\n"
                    "       curlprog upload URL SIZE [--no-seek]\n"
                    "       curlprog post URL DATA [-f]\n"
                    "       curlprog multi SIZE URL...\n"
                    "       curlprog msock SIZE URL...\n");
    return 2;
}

/* ---- the event loop of curl_multi_socket_action ---------------------------------------- */

#define MAXFD 64
static struct pollfd pfds[MAXFD];
static int npfds;
static long long timer_at = -1; /* ms on the monotonic clock, -1: none */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int on_socket(CURL *h, curl_socket_t s, int what, void *ud, void *sp)
{
    (void)h;
    (void)ud;
    (void)sp;
    int i;
    for (i = 0; i < npfds && pfds[i].fd != s; i++)
        ;
    if (what == CURL_POLL_REMOVE) {
        if (i < npfds) pfds[i] = pfds[--npfds];
        return 0;
    }
    if (i == npfds) {
        if (npfds == MAXFD) return -1;
        npfds++;
    }
    pfds[i].fd = s;
    pfds[i].events =
        (short)(((what & CURL_POLL_IN) ? POLLIN : 0) | ((what & CURL_POLL_OUT) ? POLLOUT : 0));
    return 0;
}

static int on_timer(CURLM *m, long ms, void *ud)
{
    (void)m;
    (void)ud;
    timer_at = ms < 0 ? -1 : now_ms() + ms;
    return 0;
}

static void collect(CURLM *m, int *done)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        struct xfer *x = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        if (!x || x->done) {
            fprintf(stderr, "curlprog: a second DONE for one transfer\n");
            exit(3);
        }
        x->rc = msg->data.result;
        x->done = true;
        (*done)++;
    }
}

static int run_multi(int argc, char **argv, bool sockets)
{
    if (argc < 4) return usage();
    long long size = atoll(argv[2]);
    int n = argc - 3;
    struct xfer *xs = calloc((size_t)n, sizeof *xs);
    CURLM *m = curl_multi_init();
    if (!xs || !m) return 2;
    if (sockets) {
        curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_timer);
    }
    for (int i = 0; i < n; i++) {
        setup(&xs[i], argv[3 + i], size, NULL);
        curl_multi_add_handle(m, xs[i].h);
    }
    int done = 0, running = 1;
    long long give_up = now_ms() + 30000;
    while (done < n && now_ms() < give_up) {
        if (sockets) {
            long long t = timer_at < 0 ? 1000 : timer_at - now_ms();
            if (t < 0) t = 0;
            int r = poll(pfds, (nfds_t)npfds, (int)(t > 1000 ? 1000 : t));
            if (r > 0) {
                struct pollfd ready[MAXFD];
                int k = 0;
                for (int i = 0; i < npfds; i++)
                    if (pfds[i].revents) ready[k++] = pfds[i];
                for (int i = 0; i < k; i++) {
                    int ev = ((ready[i].revents & POLLIN) ? CURL_CSELECT_IN : 0) |
                             ((ready[i].revents & POLLOUT) ? CURL_CSELECT_OUT : 0) |
                             ((ready[i].revents & (POLLERR | POLLHUP)) ? CURL_CSELECT_ERR : 0);
                    curl_multi_socket_action(m, ready[i].fd, ev, &running);
                }
            }
            if (timer_at >= 0 && now_ms() >= timer_at) {
                timer_at = -1;
                curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running);
            }
        } else {
            curl_multi_perform(m, &running);
            collect(m, &done);
            if (done < n) curl_multi_poll(m, NULL, 0, 1000, NULL);
            continue;
        }
        collect(m, &done);
    }
    int bad = 0;
    for (int i = 0; i < n; i++) {
        if (!xs[i].done) {
            xs[i].rc = CURLE_OPERATION_TIMEDOUT;
            snprintf(xs[i].err, sizeof xs[i].err, "curlprog: no DONE message");
        }
        report(&xs[i]);
        bad += !ok(&xs[i]);
        curl_multi_remove_handle(m, xs[i].h);
        curl_easy_cleanup(xs[i].h);
    }
    curl_multi_cleanup(m);
    free(xs);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) return usage();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *mode = argv[1];
    struct xfer x;
    int rc;
    if (strcmp(mode, "get") == 0 && argc >= 4) {
        bool text = strcmp(argv[3], "-t") == 0 && argc >= 5;
        setup(&x, argv[2], text ? -1 : atoll(argv[3]), text ? argv[4] : NULL);
        for (int i = text ? 5 : 4; i < argc; i++)
            if (strcmp(argv[i], "-f") == 0) curl_easy_setopt(x.h, CURLOPT_FAILONERROR, 1L);
        x.rc = curl_easy_perform(x.h);
    } else if (strcmp(mode, "upload") == 0 && argc >= 4) {
        setup(&x, argv[2], -1, NULL);
        x.up_size = atoll(argv[3]);
        curl_easy_setopt(x.h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(x.h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(x.h, CURLOPT_READDATA, &x);
        curl_easy_setopt(x.h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x.up_size);
        if (!(argc >= 5 && strcmp(argv[4], "--no-seek") == 0)) {
            curl_easy_setopt(x.h, CURLOPT_SEEKFUNCTION, on_seek);
            curl_easy_setopt(x.h, CURLOPT_SEEKDATA, &x);
        }
        x.rc = curl_easy_perform(x.h);
    } else if (strcmp(mode, "post") == 0 && argc >= 4) {
        setup(&x, argv[2], -1, NULL);
        curl_easy_setopt(x.h, CURLOPT_POSTFIELDS, argv[3]);
        if (argc >= 5 && strcmp(argv[4], "-f") == 0) curl_easy_setopt(x.h, CURLOPT_FAILONERROR, 1L);
        x.rc = curl_easy_perform(x.h);
    } else if (strcmp(mode, "multi") == 0) {
        return run_multi(argc, argv, false);
    } else if (strcmp(mode, "msock") == 0) {
        return run_multi(argc, argv, true);
    } else {
        return usage();
    }
    report(&x);
    rc = ok(&x) ? 0 : 1;
    curl_easy_cleanup(x.h);
    curl_global_cleanup();
    return rc;
}
