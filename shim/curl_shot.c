/* curl_shot.c: the shot, one program-visible transfer and all its attempts: starts and
 * ends attempts, asks core's shot engine (core/shot.c) whether to retry, honours the cushion
 * and Retry-After, resumes or rewinds where that is safe, and falls back to the pocket URL
 * or a canned response; it reports each decision as an event. It must never retry a request
 * it cannot replay (an upload it cannot rewind, a non-idempotent method, a body the program
 * already has part of unless it can resume), never sleep inside the program's multi loop,
 * and never put a URL's path, query string or userinfo in an event. */
#include "curl_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *code_name(CURLcode c)
{
    switch (c) {
    case CURLE_OK:
        return NULL;
    case CURLE_COULDNT_RESOLVE_PROXY:
        return "CURLE_COULDNT_RESOLVE_PROXY";
    case CURLE_COULDNT_RESOLVE_HOST:
        return "CURLE_COULDNT_RESOLVE_HOST";
    case CURLE_COULDNT_CONNECT:
        return "CURLE_COULDNT_CONNECT";
    case CURLE_PARTIAL_FILE:
        return "CURLE_PARTIAL_FILE";
    case CURLE_HTTP_RETURNED_ERROR:
        return "CURLE_HTTP_RETURNED_ERROR";
    case CURLE_WRITE_ERROR:
        return "CURLE_WRITE_ERROR";
    case CURLE_READ_ERROR:
        return "CURLE_READ_ERROR";
    case CURLE_OPERATION_TIMEDOUT:
        return "CURLE_OPERATION_TIMEDOUT";
    case CURLE_RANGE_ERROR:
        return "CURLE_RANGE_ERROR";
    case CURLE_ABORTED_BY_CALLBACK:
        return "CURLE_ABORTED_BY_CALLBACK";
    case CURLE_TOO_MANY_REDIRECTS:
        return "CURLE_TOO_MANY_REDIRECTS";
    case CURLE_GOT_NOTHING:
        return "CURLE_GOT_NOTHING";
    case CURLE_SSL_CONNECT_ERROR:
        return "CURLE_SSL_CONNECT_ERROR";
    case CURLE_SEND_ERROR:
        return "CURLE_SEND_ERROR";
    case CURLE_RECV_ERROR:
        return "CURLE_RECV_ERROR";
    case CURLE_SEND_FAIL_REWIND:
        return "CURLE_SEND_FAIL_REWIND";
    case CURLE_HTTP2:
        return "CURLE_HTTP2";
    case CURLE_HTTP2_STREAM:
        return "CURLE_HTTP2_STREAM";
    default:
        return "CURLE_OTHER";
    }
}

static void emit(const struct carom__curl_rec *r, const char *what, int attempt, int64_t delay,
                 int64_t elapsed, const char *err, const char *detail)
{
    struct carom__event ev = {.event = what,
                              .policy = r->pol ? r->pol->name : "defaults",
                              .endpoint = r->ep,
                              .call = "curl",
                              .attempt = attempt,
                              .delay_ms = delay,
                              .elapsed_ms = elapsed,
                              .error = err,
                              .detail = detail};
    carom__emit(&ev);
}

static bool cushion_on(const struct carom__curl_rec *r)
{
    return r->slot && r->pol->cushion_on;
}

/* Ends the engine's shot: one outcome for the whole transfer enters the cushion. A shot
 * whose attempt never ended (the program gave up on it) records nothing. */
static void shot_record(struct carom__curl_rec *r)
{
    if (!r->ended_any) {
        carom_shot_abandon(&r->shot);
        return;
    }
    bool wake = false;
    int tr = carom_shot_end(&r->shot, carom__now_ms(), r->shot_ok, &wake);
    if (wake) carom__herd_wake(r->shot.env.herd);
    if (tr == CAROM_CUSHION_OPEN)
        emit(r, "open", 0, -1, -1, NULL, NULL);
    else if (tr == CAROM_CUSHION_CLOSED)
        emit(r, "close", 0, -1, -1, NULL, NULL);
}

/* The first step of the shot: the cushion's word. An easy transfer waits for the half-open
 * moment when its schedule reaches it; a multi transfer never blocks the program's loop
 * and fails fast instead. False when the circuit turns it away. */
bool carom__curl_shot_gate(struct carom__curl_rec *r)
{
    carom_shot_step st = carom_shot_next(&r->shot, carom__now_ms(), carom__rng());
    while (st.act == CAROM_SHOT_WAIT && !r->m) {
        carom__shot_wait(&r->shot, &st);
        st = carom_shot_next(&r->shot, carom__now_ms(), carom__rng());
    }
    if (st.act != CAROM_SHOT_GO) {
        carom_shot_abandon(&r->shot);
        r->gate_shut = true;
        return false;
    }
    if (st.probe) emit(r, "half_open", 0, -1, -1, NULL, NULL);
    return true;
}

/* How long an open circuit stays open; 0 when it is not open. */
static uint64_t open_for_ms(const struct carom__curl_rec *r)
{
    if (!cushion_on(r)) return 0;
    carom_cushion_view v;
    carom_cushion_peek(&r->slot->cushion, &r->pol->cushion, carom__now_ms(), &v);
    return v.mode == CAROM_CUSHION_OPEN ? (v.ms_until_half_open ? v.ms_until_half_open : 1) : 0;
}

/* ---- the shot ------------------------------------------------------------------------------ */

static bool transient(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return true;
    default:
        return false;
    }
}

/* Nothing was sent when these happen, so any method may be tried again. */
static bool before_request(CURLcode c)
{
    return c == CURLE_COULDNT_CONNECT || c == CURLE_COULDNT_RESOLVE_HOST;
}

/* A GET the server said it serves in ranges, whose bytes the program got undecoded (a
 * Content-Encoding would make the offsets the decoder's, not the server's). */
static bool resumable(const struct carom__curl_rec *r)
{
    return r->p.req == REQ_GET && !r->p.custom && !r->p.range && !r->p.encoding && r->ranges_ok &&
           (r->committed_status == 200 || r->committed_status == 206);
}

/* Sets up a guarded transfer: resolves the policy and installs the trampolines. False
 * when the handle's URL is not one carom guards. */
bool carom__curl_shot_begin(struct carom__curl_rec *r)
{
    if (!r->p.url || r->p.connect_only || r->p.curlu) return false;
    struct carom__curl_url u;
    if (!carom__curl_parse_url(r->p.url, r->p.port, &u)) return false;
    memcpy(r->scheme, u.scheme, sizeof r->scheme);
    memcpy(r->host, u.host, sizeof r->host);
    r->v6 = u.v6;
    r->port = u.port;
    carom__curl_ep_key(r->ep, sizeof r->ep, u.host, u.v6, u.port);
    struct sockaddr_in6 sa6;
    struct sockaddr_in sa4;
    const struct sockaddr *sa = NULL;
    memset(&sa6, 0, sizeof sa6);
    memset(&sa4, 0, sizeof sa4);
    if (inet_pton(AF_INET, u.host, &sa4.sin_addr) == 1) {
        sa4.sin_family = AF_INET;
        sa4.sin_port = htons(u.port);
        sa = (const struct sockaddr *)&sa4;
    } else if (inet_pton(AF_INET6, u.host, &sa6.sin6_addr) == 1) {
        sa6.sin6_family = AF_INET6;
        sa6.sin6_port = htons(u.port);
        sa = (const struct sockaddr *)&sa6;
    }
    carom__control_check(carom__now_ms());
    r->pol = carom__control_policy(carom_policy_match(carom__g.table, u.host, sa, u.port), u.host,
                                   sa, u.port);
    r->slot = carom__slot_find(r->pol, r->ep);
    /* A transfer holds the herd's lease for its connect timeout, else this long. */
    carom__shot_start(&r->shot, r->pol, r->slot,
                      r->pol->connect_timeout_ms ? r->pol->connect_timeout_ms : 10000u,
                      carom__now_ms());
    r->n = 0;
    r->gate_shut = r->shot_ok = r->ended_any = false;
    r->limit_state = 0;
    r->committed = false;
    r->committed_status = 0;
    r->ranges_ok = false;
    r->delivered = 0;
    r->read_total = 0;
    r->first_fail = CURLE_OK;
    r->url_tried = r->canned_tried = r->pocket_next = r->in_pocket = false;
    r->last_err = r->stop = NULL;
    carom__curl_set_canned(r, 0);

    carom__curl.easy_setopt(r->h, CURLOPT_WRITEFUNCTION, carom__curl_tr_write);
    carom__curl.easy_setopt(r->h, CURLOPT_WRITEDATA, r);
    carom__curl.easy_setopt(r->h, CURLOPT_HEADERFUNCTION, carom__curl_tr_header);
    carom__curl.easy_setopt(r->h, CURLOPT_HEADERDATA, r);
    if (r->p.header) /* emulated: headers reach the write function through tr_header */
        carom__curl.easy_setopt(r->h, CURLOPT_HEADER, 0L);
    r->tramp_rw = carom__curl_reads_body(r);
    if (r->tramp_rw) {
        carom__curl.easy_setopt(r->h, CURLOPT_READFUNCTION, carom__curl_tr_read);
        carom__curl.easy_setopt(r->h, CURLOPT_READDATA, r);
        /* libcurl's own rewinds (a redirect, an auth round) must still reach the program's
         * seek function or the default reader's FILE; an IOCTLFUNCTION keeps its path. */
        r->tramp_seek = r->p.seek_fn || (!r->p.read_fn && !r->p.ioctl_set);
        if (r->tramp_seek) {
            carom__curl.easy_setopt(r->h, CURLOPT_SEEKFUNCTION, carom__curl_tr_seek);
            carom__curl.easy_setopt(r->h, CURLOPT_SEEKDATA, r);
        }
    }
    r->in_shot = true;
    return true;
}

/* Gives libcurl the program's own options back. */
void carom__curl_shot_restore(struct carom__curl_rec *r)
{
    CURL *h = r->h;
    carom__curl.easy_setopt(h, CURLOPT_WRITEFUNCTION, r->p.write_fn);
    carom__curl.easy_setopt(h, CURLOPT_WRITEDATA,
                            r->p.write_data_set ? r->p.write_data : (void *)stdout);
    carom__curl.easy_setopt(h, CURLOPT_HEADERFUNCTION, r->p.header_fn);
    carom__curl.easy_setopt(h, CURLOPT_HEADERDATA, r->p.header_data_set ? r->p.header_data : NULL);
    if (r->p.header) carom__curl.easy_setopt(h, CURLOPT_HEADER, 1L);
    if (r->tramp_rw) {
        carom__curl.easy_setopt(h, CURLOPT_READFUNCTION, r->p.read_fn);
        carom__curl.easy_setopt(h, CURLOPT_READDATA,
                                r->p.read_data_set ? r->p.read_data : (void *)stdin);
    }
    if (r->tramp_seek) {
        carom__curl.easy_setopt(h, CURLOPT_SEEKFUNCTION, r->p.seek_fn);
        carom__curl.easy_setopt(h, CURLOPT_SEEKDATA, r->p.seek_data);
    }
    if (r->over_resume)
        carom__curl.easy_setopt(h, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)r->p.resume);
    if (r->over_url) carom__curl.easy_setopt(h, CURLOPT_URL, r->p.url);
    if (r->over_port) carom__curl.easy_setopt(h, CURLOPT_PORT, r->p.port);
    if (r->over_timeout) carom__curl.easy_setopt(h, CURLOPT_TIMEOUT_MS, r->p.timeout_ms);
    if (r->over_ctimeout) carom__curl.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, r->p.ctimeout_ms);
    r->tramp_rw = r->tramp_seek = false;
    r->over_resume = r->over_url = r->over_port = r->over_timeout = r->over_ctimeout = false;
    free(r->pocket_url);
    r->pocket_url = NULL;
    carom__curl_log_clear(r);
    r->in_shot = false;
}

void carom__curl_shot_end(struct carom__curl_rec *r, CURLcode rc)
{
    shot_record(r);
    carom__curl_shot_restore(r);
    /* A retryable status handed over as the final answer is a failed shot, although libcurl
     * calls the transfer a success. */
    const char *err = rc != CURLE_OK ? (r->last_err ? r->last_err : code_name(rc))
                      : r->status_retry && !r->canned_status ? r->last_err
                                                             : NULL;
    emit(r, "shot", (int)r->n, -1, (int64_t)carom_clock_elapsed(&r->shot.clk, carom__now_ms()), err,
         err ? r->stop : NULL);
}

/* Per-attempt options: where to resume, the pocket's URL, what is left of the deadline. */
void carom__curl_prep_attempt(struct carom__curl_rec *r)
{
    r->st = ST_COLLECT;
    r->status = r->block_status = 0;
    r->block_lines = 0;
    r->block_location = false;
    r->cr_start = -1;
    r->ra_ms = 0;
    r->status_retry = r->mismatch = r->write_failed = r->planned = false;
    carom__curl_log_clear(r);
    r->resume_at = 0;
    if (r->committed) {
        r->resume_at = r->p.resume + r->delivered;
        carom__curl.easy_setopt(r->h, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)r->resume_at);
        r->over_resume = true;
        carom__curl_set_canned(r, r->committed_status);
    }
    uint64_t now = carom__now_ms();
    if (r->pol->deadline_ms) {
        uint64_t left = carom_clock_left(&r->shot.clk, now);
        long t = left > 0x7fffffff ? 0x7fffffff : (long)(left ? left : 1);
        if (r->p.timeout_ms && r->p.timeout_ms < t) t = r->p.timeout_ms;
        carom__curl.easy_setopt(r->h, CURLOPT_TIMEOUT_MS, t);
        r->over_timeout = true;
    }
    if (r->pol->connect_timeout_ms &&
        (!r->p.ctimeout_ms || (uint32_t)r->p.ctimeout_ms > r->pol->connect_timeout_ms)) {
        carom__curl.easy_setopt(r->h, CURLOPT_CONNECTTIMEOUT_MS, (long)r->pol->connect_timeout_ms);
        r->over_ctimeout = true;
    }
}

static void circuit_message(struct carom__curl_rec *r, uint64_t ms)
{
    if (!r->p.errbuf) return;
    if (cushion_on(r)) {
        carom_cushion_view v;
        carom_cushion_peek(&r->slot->cushion, &r->pol->cushion, carom__now_ms(), &v);
        if (v.mode == CAROM_CUSHION_FORCED_OPEN) {
            snprintf(r->p.errbuf, CURL_ERROR_SIZE,
                     "carom: circuit open for %s (forced open: carom cushions --close %s)", r->ep,
                     r->ep);
            return;
        }
        if (v.mode == CAROM_CUSHION_FLEET_OPEN) { /* docs/fleet.md */
            snprintf(r->p.errbuf, CURL_ERROR_SIZE,
                     "carom: circuit open for %s (fleet-open: a quorum of hosts report it)", r->ep);
            return;
        }
    }
    unsigned s = (unsigned)((ms + 999) / 1000);
    snprintf(r->p.errbuf, CURL_ERROR_SIZE, "carom: circuit open for %s (retry in %u s)", r->ep,
             s ? s : 1);
}

static bool read_file(const char *path, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    bool ok = buf != NULL;
    while (ok) {
        if (n == cap) {
            char *nb = cap < CANNED_MAX ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                ok = false;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t got = carom__real.read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) ok = false;
        if (got <= 0) break;
        n += (size_t)got;
    }
    carom__real.close(fd);
    if (!ok) {
        free(buf);
        return false;
    }
    *out = buf;
    *len = n;
    return true;
}

/* pocket_response: a canned answer, delivered through the program's callbacks as libcurl
 * would deliver a real one. False when the body file cannot be read. */
static bool deliver_canned(struct carom__curl_rec *r, CURLcode *rc)
{
    const carom_policy *p = r->pol;
    char *body = NULL;
    size_t blen = 0;
    if (!p->pocket_response_status) return false;
    if (p->pocket_response_body[0] && !read_file(p->pocket_response_body, &body, &blen))
        return false; /* an unreadable body: the real failure stands */
    emit(r, "pocket", (int)r->n, -1, -1, NULL, "response");
    long st = p->pocket_response_status;
    char lines[3][64];
    snprintf(lines[0], sizeof lines[0], "HTTP/1.1 %ld %s\r\n", st,
             st >= 200 && st < 300 ? "OK" : "Carom Pocket");
    snprintf(lines[1], sizeof lines[1], "Content-Length: %zu\r\n", blen);
    snprintf(lines[2], sizeof lines[2], "X-Carom-Pocket: response\r\n");
    carom__curl_log_clear(r);
    r->status = st;
    bool ok = true;
    for (int i = 0; i < 3 && ok; i++)
        ok = carom__curl_log_add(&r->log, LOG_H, lines[i], strlen(lines[i]));
    ok = ok && carom__curl_log_add(&r->log, LOG_H, "\r\n", 2);
    bool fail = r->p.failonerror && st >= 400;
    for (size_t off = 0; ok && !fail && body && off < blen; off += CURL_MAX_WRITE_SIZE) {
        size_t n = blen - off < CURL_MAX_WRITE_SIZE ? blen - off : CURL_MAX_WRITE_SIZE;
        ok = carom__curl_log_add(&r->log, LOG_W, body + off, n);
    }
    free(body);
    if (!ok) return false;
    carom__curl_set_canned(r, st);
    r->committed = false;
    ok = carom__curl_commit(r);
    if (!ok) {
        *rc = CURLE_WRITE_ERROR;
    } else if (fail) {
        *rc = CURLE_HTTP_RETURNED_ERROR;
        if (r->p.errbuf)
            snprintf(r->p.errbuf, CURL_ERROR_SIZE, "The requested URL returned error: %ld", st);
    } else {
        *rc = CURLE_OK;
    }
    return true;
}

/* The pocket_url attempt: the same request with scheme, host and port replaced. */
static bool pocket_url_ready(struct carom__curl_rec *r)
{
    struct carom__curl_url pu, u;
    if (!r->pol->pocket_url[0] || !carom__curl_parse_url(r->pol->pocket_url, 0, &pu) ||
        !carom__curl_parse_url(r->p.url, 0, &u))
        return false;
    size_t ulen = u.user_end ? (size_t)(u.user_end - u.auth) + 1 : 0;
    size_t need = strlen(pu.scheme) + 3 + ulen + strlen(pu.host) + 2 + 6 + strlen(u.rest) + 2;
    char *s = malloc(need);
    if (!s) return false;
    /* "?q" right after the authority still needs the path's slash */
    snprintf(s, need, "%s://%.*s%s%s%s:%u%s%s", pu.scheme, (int)ulen, u.auth, pu.v6 ? "[" : "",
             pu.host, pu.v6 ? "]" : "", pu.port, u.rest[0] == '/' ? "" : "/", u.rest);
    free(r->pocket_url);
    r->pocket_url = s;
    char detail[CAROM_EP_KEY_MAX];
    carom__curl_ep_key(detail, sizeof detail, pu.host, pu.v6, pu.port);
    emit(r, "pocket", (int)r->n + 1, -1, -1, NULL, detail);
    return true;
}

/* What comes after a failed attempt once no retry is left: the pocket URL, then the canned
 * response, each once. ACT_POCKET: the next attempt goes to pocket_url; ACT_DONE: *rc is
 * final (the canned response's when r->canned_status). Never for a response the program
 * already has part of, nor for a request that may have reached a server and must not be
 * repeated. */
static int pockets(struct carom__curl_rec *r, CURLcode *rc)
{
    if (r->committed || (!carom__curl_method_ok(r) && !before_request(*rc))) return ACT_DONE;
    if (!r->url_tried && r->pol->pocket_url[0]) {
        r->url_tried = true;
        if (carom__curl_rewind_upload(r) && pocket_url_ready(r)) {
            r->pocket_next = true;
            return ACT_POCKET;
        }
    }
    if (!r->canned_tried && r->pol->pocket_response_status) {
        r->canned_tried = true;
        deliver_canned(r, rc);
    }
    return ACT_DONE;
}

/* After an attempt that failed (or will be retried because of its status): whether and
 * when to go again. Called once per attempt; spends the retry budget when it says yes. */
int carom__curl_plan(struct carom__curl_rec *r, CURLcode rc, uint32_t *delay)
{
    if (r->planned) {
        *delay = r->plan_delay;
        return r->plan_act;
    }
    r->planned = true;
    r->plan_act = ACT_DONE;
    *delay = r->plan_delay = 0;
    /* Why not, for the shot event's detail: the first reason that holds. */
    const char *why = r->in_pocket             ? "pocket attempt"
                      : r->mismatch            ? "resume refused"
                      : r->write_failed        ? "write error"
                      : r->n > r->pol->retries ? "retries spent"
                                               : NULL;
    if (!why && !r->status_retry) {
        if (!before_request(rc) && !carom__curl_method_ok(r))
            why = "method";
        else if (r->committed && !resumable(r))
            why = "cannot resume";
    }
    carom_shot_step st = {.act = CAROM_SHOT_STOP};
    if (why) {
        carom_shot_report(&r->shot, carom__now_ms(), CAROM_RESULT_FATAL);
    } else {
        /* The engine decides the rest: delay, the herd's lease, deadline, budget. An easy
         * transfer waits here while another caller holds the lease; a multi transfer has
         * no herd (it never blocks), so it never gets a wait. */
        carom__shot_retrying(&r->shot);
        carom_shot_report(&r->shot, carom__now_ms(), CAROM_RESULT_RETRY);
        if (r->ra_ms)
            carom_shot_delay_hint(&r->shot, r->ra_ms < r->pol->retry_after_max_ms
                                                ? r->ra_ms
                                                : r->pol->retry_after_max_ms);
        for (;;) {
            st = carom_shot_next(&r->shot, carom__now_ms(), carom__rng());
            if (st.act != CAROM_SHOT_WAIT) break;
            carom__shot_wait(&r->shot, &st);
        }
        if (st.act == CAROM_SHOT_STOP) {
            why = st.why == CAROM_SHOT_BUDGET ? "budget" : carom_shot_why_name(st.why);
            if (st.why == CAROM_SHOT_BUDGET)
                emit(r, "budget_exhausted", (int)r->n + 1, -1, -1, r->last_err, NULL);
        } else if (!carom__curl_rewind_upload(r)) {
            why = "cannot rewind";
            carom_shot_report(&r->shot, carom__now_ms(), CAROM_RESULT_FATAL);
        }
    }
    uint32_t d = st.ms;
    r->stop = why;
    if (!why) {
        emit(r, "retry", (int)r->n + 1, d, -1, r->last_err, st.joined ? "herd recovered" : NULL);
        r->plan_act = ACT_RETRY;
        *delay = r->plan_delay = d;
        return ACT_RETRY;
    }
    if (!r->committed && ((!r->url_tried && r->pol->pocket_url[0]) ||
                          (!r->canned_tried && r->pol->pocket_response_status)))
        r->plan_act = ACT_POCKET;
    return r->plan_act;
}

/* The end of one attempt with libcurl's result rc. ACT_DONE: *out is what the program
 * gets; ACT_RETRY: go again after *delay; ACT_POCKET: go again at once, to the pocket. */
int carom__curl_attempt_end(struct carom__curl_rec *r, CURLcode rc, CURLcode *out, uint32_t *delay)
{
    *delay = 0;
    *out = rc;
    if (r->st == ST_COLLECT && r->log.n && !transient(rc) && !r->committed) {
        /* The transfer ended inside a header block (or never had a final one): the
         * program gets what libcurl gave. */
        r->status = r->block_status;
        if (!carom__curl_commit(r) && rc == CURLE_OK) *out = rc = CURLE_WRITE_ERROR;
    }
    bool fail_status = r->status_retry;
    bool fail_code = !fail_status && transient(rc) && !r->write_failed;
    r->ended_any = true;
    if (!r->in_pocket) r->shot_ok = !(fail_status || fail_code); /* a pocket is not this endpoint */
    if (!(fail_status || fail_code || r->mismatch))
        carom_shot_report(&r->shot, carom__now_ms(), CAROM_RESULT_OK);
    if (fail_status) snprintf(r->last_http, sizeof r->last_http, "HTTP %ld", r->status);
    r->last_err = fail_status ? r->last_http : code_name(rc);
    if (!(fail_status || fail_code || r->mismatch)) return ACT_DONE;
    if (r->first_fail == CURLE_OK) {
        r->first_fail = rc != CURLE_OK ? rc : CURLE_RECV_ERROR;
        r->first_err[0] = 0;
        if (r->p.errbuf) snprintf(r->first_err, sizeof r->first_err, "%s", r->p.errbuf);
    }
    int act = carom__curl_plan(r, rc, delay);
    if (act == ACT_POCKET) {
        act = pockets(r, out);
        if (act == ACT_POCKET) return act;
        if (r->canned_status) return ACT_DONE;
    }
    if (act == ACT_RETRY) return act;
    /* Final: the program gets this attempt's response, or the first failure when it already
     * has part of another one. */
    if ((r->st == ST_HOLD || (r->st == ST_COLLECT && !r->committed)) && !carom__curl_commit(r) &&
        *out == CURLE_OK)
        *out = CURLE_WRITE_ERROR;
    if (r->committed && (r->st == ST_DISCARD || *out == CURLE_RANGE_ERROR)) {
        *out = r->first_fail;
        if (r->p.errbuf && r->first_err[0])
            snprintf(r->p.errbuf, CURL_ERROR_SIZE, "%s", r->first_err);
    }
    return ACT_DONE;
}

/* Before an attempt: the cushion's word, the pocket's URL, the per-attempt options.
 * Returns ACT_RETRY to go ("another attempt"), or ACT_DONE with *rc final. */
int carom__curl_attempt_start(struct carom__curl_rec *r, CURLcode *rc)
{
    if (r->pocket_next) {
        r->pocket_next = false;
        r->in_pocket = true;
        carom__curl.easy_setopt(r->h, CURLOPT_URL, r->pocket_url);
        r->over_url = true;
        if (r->p.port) { /* CURLOPT_PORT would override the pocket's port */
            carom__curl.easy_setopt(r->h, CURLOPT_PORT, 0L);
            r->over_port = true;
        }
        carom__curl_prep_attempt(r);
        r->n++;
        return ACT_RETRY;
    }
    if (r->n == 0 && (r->gate_shut || !carom__curl_shot_gate(r))) {
        *rc = r->committed ? r->first_fail : CURLE_COULDNT_CONNECT;
        if (r->committed && r->p.errbuf && r->first_err[0])
            snprintf(r->p.errbuf, CURL_ERROR_SIZE, "%s", r->first_err);
        r->last_err = "circuit open";
        if (pockets(r, rc) == ACT_POCKET) return carom__curl_attempt_start(r, rc);
        if (!r->canned_status && !r->committed) {
            uint64_t ms = open_for_ms(r);
            circuit_message(r, ms ? ms : r->pol->cushion.half_open_ms);
        }
        return ACT_DONE;
    }
    /* limit: every transfer attempt takes a token, retries too (shim/limit.c). Where the
     * program already blocks (curl_easy_perform) it waits here; a multi transfer reserves
     * its token and is started when it is due (limit_multi), so the program's loop never
     * stalls. */
    if (!r->m && carom__limit_curl(r->pol, r->slot, r->ep, &r->shot.clk, r->p.errbuf,
                                   CURL_ERROR_SIZE) != 0) {
        if (r->n == 0) /* never sent: no outcome for the cushion */
            r->ended_any = false;
        *rc = r->committed ? r->first_fail : CURLE_COULDNT_CONNECT;
        if (r->committed && r->p.errbuf && r->first_err[0])
            snprintf(r->p.errbuf, CURL_ERROR_SIZE, "%s", r->first_err);
        r->last_err = "rate limited";
        return ACT_DONE;
    }
    carom__curl_prep_attempt(r);
    r->n++;
    return ACT_RETRY;
}

/* chaos.http_status: this attempt is answered by a synthesized response with the policy's
 * status, and no request is sent. The response goes through the same collection as a real
 * one (held when its status is retried, delivered when final), so with retries = 0 the
 * program's own handling of the status is what runs. Returns true, with the result
 * libcurl would have given, when the fault strikes. */
bool carom__curl_chaos_http(struct carom__curl_rec *r, CURLcode *got)
{
    const carom_policy *p = r->pol;
    if (!p->chaos.http_status ||
        !carom__chaos(p, CAROM_F_HTTP_STATUS, p->chaos.http_status_p, r->ep, "curl", NULL))
        return false;
    long st = p->chaos.http_status;
    static const char body[] = "carom chaos\n";
    char first[64], clen[48];
    snprintf(first, sizeof first, "HTTP/1.1 %ld Carom Chaos\r\n", st);
    snprintf(clen, sizeof clen, "Content-Length: %zu\r\n", sizeof body - 1);
    const char *lines[] = {first, clen, "X-Carom-Chaos: http_status\r\n", "\r\n"};
    bool ok = true;
    for (size_t i = 0; i < 4 && ok; i++)
        ok = carom__curl_log_add(&r->log, LOG_H, lines[i], strlen(lines[i]));
    r->block_status = st;
    r->block_lines = 0;
    carom__curl_final_block(r, st);
    r->ra_ms = 0; /* no server spoke: nothing to honour */
    bool fail = r->p.failonerror && st >= 400;
    if (ok && !fail && !r->write_failed)
        ok = carom__curl_tr_write((char *)body, 1, sizeof body - 1, r) == sizeof body - 1;
    if (!ok || r->write_failed) {
        *got = CURLE_WRITE_ERROR;
    } else if (fail) {
        *got = CURLE_HTTP_RETURNED_ERROR;
        if (r->p.errbuf)
            snprintf(r->p.errbuf, CURL_ERROR_SIZE, "The requested URL returned error: %ld", st);
    } else {
        *got = CURLE_OK;
    }
    return true;
}
