/* curl_body.c: the body hold-back. The trampolines libcurl calls instead of the program's
 * callbacks hold each response's headers (and its body, up to HOLD_MAX) until its fate is
 * known, then hand the program exactly one response, the final one; the read and seek
 * trampolines count and rewind an upload. It must never deliver a byte twice, nor hand over
 * a response that will be retried. */
#include "curl_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static size_t to_write(struct carom__curl_rec *r, char *buf, size_t len)
{
    if (r->p.write_fn)
        return r->p.write_fn(buf, 1, len, r->p.write_data_set ? r->p.write_data : stdout);
    /* libcurl's default write function: fwrite to WRITEDATA, stdout unless set. This is the
     * program's own output, not the shim's. */
    FILE *f = r->p.write_data_set && r->p.write_data ? r->p.write_data : stdout;
    return fwrite(buf, 1, len, f);
}

/* One header line, where libcurl sends it: the write function too with CURLOPT_HEADER,
 * then the header function, or the write function when only HEADERDATA is set. */
static size_t to_header(struct carom__curl_rec *r, char *buf, size_t len)
{
    if (r->p.header) {
        size_t w = to_write(r, buf, len);
        if (w != len) return w;
    }
    if (r->p.header_fn) return r->p.header_fn(buf, 1, len, r->p.header_data);
    if (r->p.header_data) {
        if (r->p.write_fn) return r->p.write_fn(buf, 1, len, r->p.header_data);
        return fwrite(buf, 1, len, r->p.header_data);
    }
    return len;
}

bool carom__curl_log_add(struct carom__curl_hlog *l, int kind, const char *buf, size_t len)
{
    size_t need = l->n + 5 + len;
    if (need > l->cap) {
        size_t cap = l->cap ? l->cap : 4096;
        while (cap < need)
            cap *= 2;
        unsigned char *nb = realloc(l->buf, cap);
        if (!nb) return false;
        l->buf = nb;
        l->cap = cap;
    }
    uint32_t n32 = (uint32_t)len;
    l->buf[l->n] = (unsigned char)kind;
    memcpy(l->buf + l->n + 1, &n32, 4);
    memcpy(l->buf + l->n + 5, buf, len);
    l->n = need;
    return true;
}

void carom__curl_log_clear(struct carom__curl_rec *r)
{
    r->log.n = 0;
    r->held = 0;
    if (r->log.cap > (1u << 20)) {
        free(r->log.buf);
        r->log.buf = NULL;
        r->log.cap = 0;
    }
}

/* Hands the held callbacks to the program, in order. False when it refused one: libcurl
 * would have failed the transfer with CURLE_WRITE_ERROR there. */
static bool flush(struct carom__curl_rec *r)
{
    bool ok = true;
    carom__curl_inside++;
    for (size_t off = 0; off < r->log.n && ok;) {
        int kind = r->log.buf[off];
        uint32_t len;
        memcpy(&len, r->log.buf + off + 1, 4);
        char *data = (char *)r->log.buf + off + 5;
        off += 5 + len;
        if (kind == LOG_H) {
            ok = to_header(r, data, len) == len;
        } else {
            /* A pause cannot be honoured for data that libcurl no longer holds. */
            ok = to_write(r, data, len) == len;
            if (ok) r->delivered += len;
        }
    }
    carom__curl_inside--;
    carom__curl_log_clear(r);
    if (!ok) r->write_failed = true;
    return ok;
}

/* The program gets this response: what was held, and everything after it. */
bool carom__curl_commit(struct carom__curl_rec *r)
{
    r->st = ST_PASS;
    if (!r->committed) {
        r->committed = true;
        r->committed_status = r->status;
        r->ranges_ok = r->block_ranges || r->status == 206;
    }
    return flush(r);
}

/* ---- deciding about a response ---------------------------------------------------------- */

static uint32_t method_bit(const struct carom__curl_rec *r)
{
    if (r->p.custom) {
        static const struct {
            const char *name;
            uint32_t bit;
        } m[] = {
            {"GET", CAROM_M_GET},       {"HEAD", CAROM_M_HEAD},       {"PUT", CAROM_M_PUT},
            {"DELETE", CAROM_M_DELETE}, {"OPTIONS", CAROM_M_OPTIONS}, {"POST", CAROM_M_POST},
            {"PATCH", CAROM_M_PATCH},   {"TRACE", CAROM_M_TRACE},     {"CONNECT", CAROM_M_CONNECT}};
        for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
            if (strcasecmp(r->p.custom, m[i].name) == 0) return m[i].bit;
        return 0;
    }
    switch (r->p.req) {
    case REQ_HEAD:
        return CAROM_M_HEAD;
    case REQ_PUT:
        return CAROM_M_PUT;
    case REQ_POST:
    case REQ_POST_FORM:
    case REQ_POST_MIME:
        return CAROM_M_POST;
    default:
        return CAROM_M_GET;
    }
}

bool carom__curl_method_ok(const struct carom__curl_rec *r)
{
    return (r->pol->http_retry_methods & method_bit(r)) != 0;
}

static bool status_retryable(const struct carom__curl_rec *r, long code)
{
    if (code < 100 || code >= 640) return false;
    return ((r->pol->http_retry_status[code >> 6] >> (code & 63)) & 1) && carom__curl_method_ok(r);
}

/* The body comes from the program's read function (or stdin), so a replay needs a rewind. */
bool carom__curl_reads_body(const struct carom__curl_rec *r)
{
    return r->p.upload || (r->p.req == REQ_POST && !r->p.postfields);
}

/* A response block's last line arrived: the block is the final response unless libcurl
 * will read another one after it (1xx, a redirect it follows, a proxy's CONNECT answer). */

static void block_end(struct carom__curl_rec *r)
{
    long code = r->block_status;
    long rc = 0;
    carom__curl.easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &rc);
    bool more = rc == 0 || (code >= 100 && code < 200) ||
                (r->p.follow && r->block_location &&
                 (code == 301 || code == 302 || code == 303 || code == 307 || code == 308));
    r->block_lines = 0;
    if (!more) carom__curl_final_block(r, code);
}

void carom__curl_final_block(struct carom__curl_rec *r, long code)
{
    r->status = code;
    if (r->committed) {
        /* A resumed (or repeated) attempt: its headers never reach the program, which has
         * the first response's; its body continues that one's only if it is the same
         * resource from the right offset. */
        long want = r->resume_at > 0 ? 206 : r->committed_status;
        carom__curl_log_clear(r);
        if (code == want && (want != 206 || r->cr_start == r->resume_at)) {
            r->st = ST_PASS;
        } else if (status_retryable(r, code)) {
            r->status_retry = true;
            snprintf(r->last_http, sizeof r->last_http, "HTTP %ld", code);
            r->last_err = r->last_http;
            r->st = ST_DISCARD;
        } else {
            r->mismatch = true;
            r->st = ST_DISCARD;
        }
        return;
    }
    if (status_retryable(r, code)) {
        r->status_retry = true;
        snprintf(r->last_http, sizeof r->last_http, "HTTP %ld", code);
        r->last_err = r->last_http;
        curl_off_t ra = 0;
        if (carom__curl.easy_getinfo(r->h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
            r->ra_ms = ra > 86400 ? 86400000u : (uint32_t)ra * 1000u;
        r->st = ST_HOLD;
        return;
    }
    carom__curl_commit(r);
}

size_t carom__curl_tr_header(char *buf, size_t size, size_t nitems, void *ud)
{
    struct carom__curl_rec *r = ud;
    size_t len = size * nitems;
    switch (r->st) {
    case ST_COLLECT:
        break;
    case ST_HOLD:
        return carom__curl_log_add(&r->log, LOG_H, buf, len) ? len : 0; /* trailers */
    case ST_DISCARD:
        return len;
    default: /* trailers */
        carom__curl_inside++;
        size_t w = to_header(r, buf, len);
        carom__curl_inside--;
        return w;
    }
    if (r->block_lines++ == 0) {
        r->block_status = 0;
        r->block_location = r->block_ranges = false;
        r->cr_start = -1;
        r->block_status = carom__http_status(buf, len); /* libcurl's buffer has no NUL */
    } else if (len >= 9 && strncasecmp(buf, "Location:", 9) == 0) {
        r->block_location = true;
    } else if (len > 14 && strncasecmp(buf, "Accept-Ranges:", 14) == 0) {
        r->block_ranges = carom__http_accept_ranges(buf, len);
    } else if (len > 20 && strncasecmp(buf, "Content-Range:", 14) == 0) {
        r->cr_start = carom__http_content_range_start(buf, len);
    }
    if (!carom__curl_log_add(&r->log, LOG_H, buf, len)) return 0;
    if ((len == 2 && buf[0] == '\r' && buf[1] == '\n') || (len == 1 && buf[0] == '\n'))
        block_end(r);
    else if (r->log.n > COLLECT_MAX)
        carom__curl_final_block(r, r->block_status);
    if (r->write_failed) return 0;
    return len;
}

size_t carom__curl_tr_write(char *buf, size_t size, size_t nitems, void *ud)
{
    struct carom__curl_rec *r = ud;
    size_t len = size * nitems;
    if (r->st == ST_COLLECT) /* body bytes: the last block was the final response */
        carom__curl_final_block(r, r->block_status);
    if (r->write_failed) return 0;
    if (r->st == ST_HOLD) {
        if (r->held + len <= HOLD_MAX && carom__curl_log_add(&r->log, LOG_W, buf, len)) {
            r->held += len;
            return len;
        }
        /* Too much to hold: decide now whether this response will be retried. Not for an
         * upload, which libcurl may still be sending: a rewind now would corrupt it. */
        uint32_t delay;
        int act = carom__curl_reads_body(r) ? ACT_DONE : carom__curl_plan(r, CURLE_OK, &delay);
        if (act == ACT_DONE) {
            if (!carom__curl_commit(r)) return 0;
        } else {
            carom__curl_log_clear(r);
            r->st = ST_DISCARD;
        }
    }
    if (r->st == ST_DISCARD) return len;
    carom__curl_inside++;
    size_t w = to_write(r, buf, len);
    carom__curl_inside--;
    if (w == len) r->delivered += (curl_off_t)len;
    return w;
}

size_t carom__curl_tr_read(char *buf, size_t size, size_t nitems, void *ud)
{
    struct carom__curl_rec *r = ud;
    carom__curl_inside++;
    size_t n = r->p.read_fn ? r->p.read_fn(buf, size, nitems, r->p.read_data)
                            : fread(buf, size, nitems, r->p.read_data_set ? r->p.read_data : stdin);
    carom__curl_inside--;
    if (n != CURL_READFUNC_ABORT && n != CURL_READFUNC_PAUSE && n <= size * nitems)
        r->read_total += (curl_off_t)n;
    return n;
}

int carom__curl_tr_seek(void *ud, curl_off_t off, int origin)
{
    struct carom__curl_rec *r = ud;
    int rc;
    carom__curl_inside++;
    if (r->p.seek_fn)
        rc = r->p.seek_fn(r->p.seek_data, off, origin);
    else
        rc = fseeko(r->p.read_data_set ? r->p.read_data : stdin, (off_t)off, origin) == 0
                 ? CURL_SEEKFUNC_OK
                 : CURL_SEEKFUNC_CANTSEEK;
    carom__curl_inside--;
    if (rc == CURL_SEEKFUNC_OK) r->read_total = origin == SEEK_SET ? off : 1;
    return rc;
}

/* Puts the upload back at its start for another attempt, the way libcurl rewinds
 * (Curl_readrewind): the program's seek function, else fseek on the default reader's FILE. */
bool carom__curl_rewind_upload(struct carom__curl_rec *r)
{
    if (!carom__curl_reads_body(r) || r->read_total == 0) return true;
    bool ok = false;
    carom__curl_inside++;
    if (r->p.seek_fn)
        ok = r->p.seek_fn(r->p.seek_data, 0, SEEK_SET) == CURL_SEEKFUNC_OK;
    else if (!r->p.read_fn)
        ok = fseeko(r->p.read_data_set ? r->p.read_data : stdin, 0, SEEK_SET) == 0;
    carom__curl_inside--;
    if (ok) r->read_total = 0;
    return ok;
}
