/* curl.c: the libcurl layer: retries whole HTTP transfers (curl_easy_perform and the multi
 * API) on transient CURLcodes and on retryable statuses, honours Retry-After, keeps a
 * cushion per "host:port", resumes or rewinds where that is safe, and falls back to the
 * pocket URL or a canned response. The program's callbacks see exactly one response, the
 * final one. It must never link libcurl (every symbol is looked up lazily with dlsym, so a
 * process without libcurl never reaches this code), never sleep inside the program's multi
 * loop, never deliver a byte twice, never retry a request it cannot replay (an upload it
 * cannot rewind, a non-idempotent method, a body the program already has part of unless it
 * can resume), and never put a URL's path, query string or userinfo in an event. */
#define CURL_DISABLE_DEPRECATION /* CURLOPT_PUT and CURLOPT_HTTPPOST still set a method */
#include "carom_shim.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* A response that will be retried is held in memory until the transfer ends; past this
 * size the decision is taken early (retry: drop it; no retry: hand it over). */
#define HOLD_MAX (1u << 20)
/* Header blocks are held until their status is known; a block larger than this is handed
 * over as it is (libcurl itself caps one header at 100 KiB). */
#define COLLECT_MAX (256u << 10)
#define CANNED_MAX (64u << 20)

/* ---- the real libcurl ----------------------------------------------------------------- */

struct curl_real {
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    void (*easy_reset)(CURL *);
    CURL *(*easy_duphandle)(CURL *);
    void (*easy_cleanup)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    CURLMcode (*multi_cleanup)(CURLM *);
    CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned, int, int *);
    CURLMcode (*multi_wait)(CURLM *, struct curl_waitfd *, unsigned, int, int *);
    CURLMcode (*multi_timeout)(CURLM *, long *);
    CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
};
static struct curl_real R;
static pthread_once_t bind_once = PTHREAD_ONCE_INIT;

/* Non-zero while this thread runs a real libcurl call made by a hook (or replays held data
 * to the program): libcurl calls its own public symbols through the PLT (curl_easy_perform
 * calls curl_multi_add_handle, curl_multi_perform, ...), and those must pass straight
 * through. */
static __thread int inside;

/* A call carom does not act on: straight to libcurl, with anything libcurl calls back in
 * the meantime passed through as well. */
#define PASS(type, expr)                                                                           \
    do {                                                                                           \
        inside++;                                                                                  \
        type r_ = (expr);                                                                          \
        inside--;                                                                                  \
        return r_;                                                                                 \
    } while (0)

static pthread_mutex_t tab_lock = PTHREAD_MUTEX_INITIALIZER;
static void fork_prepare(void)
{
    pthread_mutex_lock(&tab_lock);
}
static void fork_parent(void)
{
    pthread_mutex_unlock(&tab_lock);
}
static void fork_child(void)
{
    pthread_mutex_unlock(&tab_lock);
}

static void bind_curl(void)
{
    /* The libcurl the program uses is normally next in the global search order. One that
     * was dlopen()ed with RTLD_LOCAL (a PHP or Python extension) is not: find it by its
     * soname, without loading anything. */
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    void *lib = RTLD_NEXT;
    if (!dlsym(RTLD_NEXT, "curl_easy_perform")) {
        static const char *const names[] = {"libcurl.so.4", "libcurl-gnutls.so.4",
                                            "libcurl-nss.so.4", "libcurl.so.3"};
        lib = NULL;
        for (size_t i = 0; i < sizeof names / sizeof names[0] && !lib; i++)
            lib = dlopen(names[i], RTLD_LAZY | RTLD_NOLOAD);
        if (!lib) return;
    }
#define L(field, name) *(void **)&R.field = dlsym(lib, name)
    L(easy_setopt, "curl_easy_setopt");
    L(easy_perform, "curl_easy_perform");
    L(easy_reset, "curl_easy_reset");
    L(easy_duphandle, "curl_easy_duphandle");
    L(easy_cleanup, "curl_easy_cleanup");
    L(easy_getinfo, "curl_easy_getinfo");
    L(multi_add_handle, "curl_multi_add_handle");
    L(multi_remove_handle, "curl_multi_remove_handle");
    L(multi_perform, "curl_multi_perform");
    L(multi_socket_action, "curl_multi_socket_action");
    L(multi_info_read, "curl_multi_info_read");
    L(multi_cleanup, "curl_multi_cleanup");
    L(multi_poll, "curl_multi_poll");
    L(multi_wait, "curl_multi_wait");
    L(multi_timeout, "curl_multi_timeout");
    L(multi_setopt, "curl_multi_setopt");
#undef L
}

static inline void bind_now(void)
{
    pthread_once(&bind_once, bind_curl);
}

/* Guarding needs the whole set; with any piece missing every call passes through. */
static bool can_guard(void)
{
    carom__init();
    return carom__g.active && R.easy_setopt && R.easy_perform && R.easy_getinfo &&
           R.multi_add_handle && R.multi_remove_handle && R.multi_info_read;
}

/* ---- what the program set, per handle ------------------------------------------------ */

enum { REQ_GET = 0, REQ_POST, REQ_POST_FORM, REQ_POST_MIME, REQ_PUT, REQ_HEAD };

/* The options as libcurl sees them from the program, so that the trampolines can do what
 * libcurl would have done, and the method and the body's source are known. */
struct prog {
    curl_write_callback write_fn; /* NULL: fwrite */
    void *write_data;             /* default stdout */
    bool write_data_set;
    curl_write_callback header_fn;
    void *header_data;
    bool header_data_set;
    curl_read_callback read_fn; /* NULL: fread */
    void *read_data;            /* default stdin */
    bool read_data_set;
    curl_seek_callback seek_fn;
    void *seek_data;
    bool ioctl_set; /* CURLOPT_IOCTLFUNCTION: libcurl's old rewind path, left alone */
    char *errbuf;
    char *url;
    char *custom; /* CURLOPT_CUSTOMREQUEST */
    long port;    /* CURLOPT_PORT; 0: the URL's */
    int req;      /* REQ_*, as libcurl's set.method */
    bool postfields, upload, header, failonerror, follow, range, encoding, connect_only, curlu;
    curl_off_t resume;
    long timeout_ms, ctimeout_ms; /* 0: none / libcurl's default */
};

enum { ST_COLLECT = 0, ST_HOLD, ST_PASS, ST_DISCARD };
enum { ACT_DONE = 0, ACT_RETRY, ACT_POCKET };

struct hlog {
    unsigned char *buf;
    size_t n, cap;
};

struct mrec;

struct rec {
    CURL *h;
    struct rec *next; /* hash chain */
    struct prog p;

    /* ---- the shot: one program-visible transfer, all its attempts */
    bool in_shot;
    bool tramp_rw; /* read/seek trampolines installed */
    bool tramp_seek;
    struct mrec *m; /* the multi it runs under; NULL for curl_easy_perform */
    bool added;     /* really added to m->m */
    bool scheduled;
    uint64_t due_ms;
    struct rec *snext;
    const carom_policy *pol;
    struct carom_slot *slot;
    char ep[CAROM_EP_KEY_MAX];
    char scheme[8];
    char host[CAROM_HOST_MAX];
    bool v6;
    uint16_t port;
    carom_shot shot; /* the engine's decisions (core/shot.c): one outcome per transfer */
    unsigned n;      /* attempts started */
    bool gate_shut;  /* the circuit was open when the shot began: answer as it does */
    bool shot_ok;    /* the last attempt found the endpoint healthy (cushion terms) */
    bool ended_any;  /* an attempt has ended */
    bool committed;  /* the program has a response's headers */
    long committed_status;
    bool ranges_ok;        /* that response can be resumed: Accept-Ranges: bytes, or a 206 */
    curl_off_t delivered;  /* body bytes the program accepted */
    curl_off_t read_total; /* upload bytes read since the last rewind */
    curl_off_t resume_at;
    CURLcode first_fail; /* what a committed transfer reports if it cannot be completed */
    char first_err[CURL_ERROR_SIZE]; /* and the error text libcurl gave with it */
    bool url_tried, canned_tried;    /* the pockets, each at most once per shot */
    bool pocket_next, in_pocket;     /* the next / the current attempt goes to pocket_url */
    bool over_url, over_resume, over_timeout, over_ctimeout, over_port;
    char *pocket_url;
    const char *last_err; /* name of the last failure, for events */
    const char *stop;     /* why the last failure was not retried, for the shot event */
    char last_http[16];

    /* ---- the attempt */
    int st;
    long status;       /* of the final header block */
    long block_status; /* of the block being read */
    unsigned block_lines;
    bool block_location;
    bool block_ranges;
    curl_off_t cr_start; /* Content-Range start in the block, -1: none */
    uint32_t ra_ms;      /* Retry-After of the final block; 0: none */
    bool status_retry;   /* the final status is one to retry */
    bool mismatch;       /* a resumed attempt got another response than the one we resume */
    bool write_failed;   /* the program's callback refused held data */
    bool planned;
    int plan_act;
    uint32_t plan_delay;
    struct hlog log;
    size_t held;

    /* CURLINFO_RESPONSE_CODE as the program saw it: a pocket_response's status, or the first
     * response's when a resumed attempt (206) completed it. 0: libcurl's own. */
    long canned_status;
};

struct mrec {
    CURLM *m;
    struct mrec *next;
    CURLMsg *q; /* our copy of the message queue */
    size_t qhead, qn, qcap;
    CURLMsg cur;
    struct rec *sched;
    unsigned nsched;
    unsigned nguard;
    bool fresh; /* a message was queued outside perform: the next wait must not block */
    curl_multi_timer_callback timer_fn;
    void *timer_data;
    bool lib_due_set, told_set;
    uint64_t lib_due, told;
};

#define BUCKETS 256
static struct rec *recs[BUCKETS];
static struct mrec *mrecs[BUCKETS];
static _Atomic unsigned n_mrecs;
static _Atomic unsigned n_recs;
static _Atomic unsigned n_canned;

static unsigned bucket(const void *p)
{
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 17;
    x *= 0x9e3779b97f4a7c15ull;
    return (unsigned)(x >> 56) & (BUCKETS - 1);
}

static struct rec *rec_find(CURL *h)
{
    if (!atomic_load_explicit(&n_recs, memory_order_relaxed)) return NULL;
    pthread_mutex_lock(&tab_lock);
    struct rec *r = recs[bucket(h)];
    while (r && r->h != h)
        r = r->next;
    pthread_mutex_unlock(&tab_lock);
    return r;
}

static struct rec *rec_get(CURL *h)
{
    struct rec *r = rec_find(h);
    if (r) return r;
    r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->h = h;
    pthread_mutex_lock(&tab_lock);
    unsigned b = bucket(h);
    r->next = recs[b];
    recs[b] = r;
    atomic_fetch_add(&n_recs, 1);
    pthread_mutex_unlock(&tab_lock);
    return r;
}

static struct rec *rec_take(CURL *h)
{
    if (!atomic_load_explicit(&n_recs, memory_order_relaxed)) return NULL;
    pthread_mutex_lock(&tab_lock);
    struct rec **pp = &recs[bucket(h)];
    while (*pp && (*pp)->h != h)
        pp = &(*pp)->next;
    struct rec *r = *pp;
    if (r) {
        *pp = r->next;
        atomic_fetch_sub(&n_recs, 1);
    }
    pthread_mutex_unlock(&tab_lock);
    return r;
}

static struct mrec *mrec_find(CURLM *m)
{
    if (!atomic_load_explicit(&n_mrecs, memory_order_relaxed)) return NULL;
    pthread_mutex_lock(&tab_lock);
    struct mrec *x = mrecs[bucket(m)];
    while (x && x->m != m)
        x = x->next;
    pthread_mutex_unlock(&tab_lock);
    return x;
}

static struct mrec *mrec_get(CURLM *m)
{
    struct mrec *x = mrec_find(m);
    if (x) return x;
    x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->m = m;
    pthread_mutex_lock(&tab_lock);
    unsigned b = bucket(m);
    x->next = mrecs[b];
    mrecs[b] = x;
    atomic_fetch_add(&n_mrecs, 1);
    pthread_mutex_unlock(&tab_lock);
    return x;
}

static struct mrec *mrec_take(CURLM *m)
{
    if (!atomic_load_explicit(&n_mrecs, memory_order_relaxed)) return NULL;
    pthread_mutex_lock(&tab_lock);
    struct mrec **pp = &mrecs[bucket(m)];
    while (*pp && (*pp)->m != m)
        pp = &(*pp)->next;
    struct mrec *x = *pp;
    if (x) {
        *pp = x->next;
        atomic_fetch_sub(&n_mrecs, 1);
    }
    pthread_mutex_unlock(&tab_lock);
    return x;
}

static void prog_free(struct prog *p)
{
    free(p->url);
    free(p->custom);
    memset(p, 0, sizeof *p);
}

static char *dup_str(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void set_canned(struct rec *r, long status)
{
    if (!r->canned_status && status)
        atomic_fetch_add(&n_canned, 1);
    else if (r->canned_status && !status)
        atomic_fetch_sub(&n_canned, 1);
    r->canned_status = status;
}

/* ---- options --------------------------------------------------------------------------- */

union carom_arg {
    long l;
    void *p;
    void (*f)(void);
    curl_off_t o;
};

/* The one argument of a setopt, of the type the option's number range says. */
static union carom_arg take_arg(int opt, va_list *ap)
{
    union carom_arg a;
    memset(&a, 0, sizeof a);
    if (opt < CURLOPTTYPE_OBJECTPOINT)
        a.l = va_arg(*ap, long);
    else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
        a.p = va_arg(*ap, void *);
    else if (opt < CURLOPTTYPE_OFF_T)
        a.f = va_arg(*ap, void (*)(void));
    else if (opt < CURLOPTTYPE_BLOB)
        a.o = va_arg(*ap, curl_off_t);
    else
        a.p = va_arg(*ap, void *);
    return a;
}

static CURLcode fwd_setopt(CURL *h, int opt, union carom_arg a)
{
    if (opt < CURLOPTTYPE_OBJECTPOINT) return R.easy_setopt(h, (CURLoption)opt, a.l);
    if (opt < CURLOPTTYPE_FUNCTIONPOINT) return R.easy_setopt(h, (CURLoption)opt, a.p);
    if (opt < CURLOPTTYPE_OFF_T) return R.easy_setopt(h, (CURLoption)opt, a.f);
    if (opt < CURLOPTTYPE_BLOB) return R.easy_setopt(h, (CURLoption)opt, a.o);
    return R.easy_setopt(h, (CURLoption)opt, a.p);
}

/* Options libcurl must not see from the program while a shot runs: the trampolines and
 * the values carom sets per attempt stand in for them until the shot ends. */
static bool overridden(const struct rec *r, int opt)
{
    switch (opt) {
    case CURLOPT_WRITEFUNCTION:
    case CURLOPT_WRITEDATA:
    case CURLOPT_HEADERFUNCTION:
    case CURLOPT_HEADERDATA:
    case CURLOPT_HEADER:
        return true;
    case CURLOPT_READFUNCTION:
    case CURLOPT_READDATA:
        return r->tramp_rw;
    case CURLOPT_SEEKFUNCTION:
    case CURLOPT_SEEKDATA:
        return r->tramp_seek;
    case CURLOPT_RESUME_FROM:
    case CURLOPT_RESUME_FROM_LARGE:
        return r->over_resume;
    case CURLOPT_URL:
        return r->over_url;
    case CURLOPT_PORT:
        return r->over_port;
    case CURLOPT_TIMEOUT:
    case CURLOPT_TIMEOUT_MS:
        return r->over_timeout;
    case CURLOPT_CONNECTTIMEOUT:
    case CURLOPT_CONNECTTIMEOUT_MS:
        return r->over_ctimeout;
    default:
        return false;
    }
}

/* Mirrors what libcurl's setopt does with the options that matter here (lib/setopt.c). */
static void record(struct prog *p, int opt, union carom_arg a)
{
    switch (opt) {
    case CURLOPT_WRITEFUNCTION:
        p->write_fn = (curl_write_callback)a.f;
        break;
    case CURLOPT_WRITEDATA:
        p->write_data = a.p;
        p->write_data_set = true;
        break;
    case CURLOPT_HEADERFUNCTION:
        p->header_fn = (curl_write_callback)a.f;
        break;
    case CURLOPT_HEADERDATA:
        p->header_data = a.p;
        p->header_data_set = true;
        break;
    case CURLOPT_READFUNCTION:
        p->read_fn = (curl_read_callback)a.f;
        break;
    case CURLOPT_READDATA:
        p->read_data = a.p;
        p->read_data_set = true;
        break;
    case CURLOPT_SEEKFUNCTION:
        p->seek_fn = (curl_seek_callback)a.f;
        break;
    case CURLOPT_SEEKDATA:
        p->seek_data = a.p;
        break;
    case CURLOPT_IOCTLFUNCTION:
        p->ioctl_set = a.f != NULL;
        break;
    case CURLOPT_ERRORBUFFER:
        p->errbuf = a.p;
        break;
    case CURLOPT_URL:
        free(p->url);
        p->url = dup_str(a.p);
        break;
    case CURLOPT_CURLU:
        p->curlu = a.p != NULL;
        break;
    case CURLOPT_PORT:
        p->port = a.l;
        break;
    case CURLOPT_CUSTOMREQUEST:
        free(p->custom);
        p->custom = dup_str(a.p);
        break;
    case CURLOPT_POST:
        p->req = a.l ? REQ_POST : REQ_GET;
        break;
    case CURLOPT_POSTFIELDS:
    case CURLOPT_COPYPOSTFIELDS:
        p->postfields = a.p != NULL;
        p->req = REQ_POST;
        break;
    case CURLOPT_HTTPPOST:
        p->req = REQ_POST_FORM;
        break;
    case CURLOPT_MIMEPOST:
        p->req = REQ_POST_MIME;
        break;
    case CURLOPT_UPLOAD:
    case CURLOPT_PUT:
        p->upload = a.l != 0;
        p->req = a.l ? REQ_PUT : REQ_GET;
        break;
    case CURLOPT_HTTPGET:
        if (a.l) {
            p->req = REQ_GET;
            p->upload = false;
        }
        break;
    case CURLOPT_NOBODY:
        if (a.l)
            p->req = REQ_HEAD;
        else if (p->req == REQ_HEAD)
            p->req = REQ_GET;
        break;
    case CURLOPT_HEADER:
        p->header = a.l != 0;
        break;
    case CURLOPT_FAILONERROR:
        p->failonerror = a.l != 0;
        break;
    case CURLOPT_FOLLOWLOCATION:
        p->follow = a.l != 0;
        break;
    case CURLOPT_RANGE:
        p->range = a.p != NULL;
        break;
    case CURLOPT_ACCEPT_ENCODING:
        p->encoding = a.p != NULL;
        break;
    case CURLOPT_CONNECT_ONLY:
        p->connect_only = a.l != 0;
        break;
    case CURLOPT_RESUME_FROM:
        p->resume = a.l;
        break;
    case CURLOPT_RESUME_FROM_LARGE:
        p->resume = a.o;
        break;
    case CURLOPT_TIMEOUT:
        p->timeout_ms = a.l > 0 ? a.l * 1000 : 0;
        break;
    case CURLOPT_TIMEOUT_MS:
        p->timeout_ms = a.l > 0 ? a.l : 0;
        break;
    case CURLOPT_CONNECTTIMEOUT:
        p->ctimeout_ms = a.l > 0 ? a.l * 1000 : 0;
        break;
    case CURLOPT_CONNECTTIMEOUT_MS:
        p->ctimeout_ms = a.l > 0 ? a.l : 0;
        break;
    default:
        break;
    }
}

static bool tracked_opt(int opt)
{
    switch (opt) {
    case CURLOPT_WRITEFUNCTION:
    case CURLOPT_WRITEDATA:
    case CURLOPT_HEADERFUNCTION:
    case CURLOPT_HEADERDATA:
    case CURLOPT_READFUNCTION:
    case CURLOPT_READDATA:
    case CURLOPT_SEEKFUNCTION:
    case CURLOPT_SEEKDATA:
    case CURLOPT_IOCTLFUNCTION:
    case CURLOPT_ERRORBUFFER:
    case CURLOPT_URL:
    case CURLOPT_CURLU:
    case CURLOPT_PORT:
    case CURLOPT_CUSTOMREQUEST:
    case CURLOPT_POST:
    case CURLOPT_POSTFIELDS:
    case CURLOPT_COPYPOSTFIELDS:
    case CURLOPT_HTTPPOST:
    case CURLOPT_MIMEPOST:
    case CURLOPT_UPLOAD:
    case CURLOPT_PUT:
    case CURLOPT_HTTPGET:
    case CURLOPT_NOBODY:
    case CURLOPT_HEADER:
    case CURLOPT_FAILONERROR:
    case CURLOPT_FOLLOWLOCATION:
    case CURLOPT_RANGE:
    case CURLOPT_ACCEPT_ENCODING:
    case CURLOPT_CONNECT_ONLY:
    case CURLOPT_RESUME_FROM:
    case CURLOPT_RESUME_FROM_LARGE:
    case CURLOPT_TIMEOUT:
    case CURLOPT_TIMEOUT_MS:
    case CURLOPT_CONNECTTIMEOUT:
    case CURLOPT_CONNECTTIMEOUT_MS:
        return true;
    default:
        return false;
    }
}

/* ---- URLs -------------------------------------------------------------------------------- */

struct url {
    char scheme[8];
    const char *auth;     /* the authority, after "scheme://" */
    const char *user_end; /* the '@' ending userinfo, or NULL */
    char host[CAROM_HOST_MAX];
    bool v6;
    uint16_t port;
    const char *rest; /* path, query and fragment ("" when none) */
};

/* http and https only: the other schemes libcurl speaks have no statuses to retry on and
 * keep the socket layer's own retries. A URL without a scheme is http, as libcurl guesses,
 * unless its host names another protocol the way libcurl's guess looks for. */
static bool parse_url(const char *s, long port_opt, struct url *u)
{
    memset(u, 0, sizeof *u);
    const char *sep = strstr(s, "://");
    const char *a;
    if (sep) {
        size_t n = (size_t)(sep - s);
        if (n == 4 && strncasecmp(s, "http", 4) == 0)
            memcpy(u->scheme, "http", 5);
        else if (n == 5 && strncasecmp(s, "https", 5) == 0)
            memcpy(u->scheme, "https", 6);
        else
            return false;
        a = sep + 3;
    } else {
        static const char *const other[] = {"ftp.", "dict.", "ldap.", "imap.", "smtp.", "pop3."};
        for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
            if (strncasecmp(s, other[i], strlen(other[i])) == 0) return false;
        memcpy(u->scheme, "http", 5);
        a = s;
    }
    u->auth = a;
    const char *end = a + strcspn(a, "/?#");
    for (const char *q = a; q < end; q++)
        if (*q == '@') u->user_end = q;
    const char *h = u->user_end ? u->user_end + 1 : a;
    const char *q;
    size_t hl;
    if (*h == '[') {
        const char *close = memchr(h, ']', (size_t)(end - h));
        if (!close) return false;
        hl = (size_t)(close - h - 1);
        if (hl >= sizeof u->host) return false;
        memcpy(u->host, h + 1, hl);
        u->v6 = true;
        q = close + 1;
    } else {
        q = h;
        while (q < end && *q != ':')
            q++;
        hl = (size_t)(q - h);
        if (hl >= sizeof u->host) return false;
        memcpy(u->host, h, hl);
    }
    u->host[hl] = 0;
    if (!hl) return false;
    long port = u->scheme[4] == 's' ? 443 : 80;
    if (q < end && *q == ':' && q + 1 < end) {
        long v = 0;
        for (const char *d = q + 1; d < end; d++) {
            if (*d < '0' || *d > '9') return false;
            v = v * 10 + (*d - '0');
            if (v > 65535) return false;
        }
        port = v;
    } else if (q < end && *q != ':') {
        return false;
    }
    if (port_opt > 0 && port_opt <= 65535) port = port_opt;
    if (port <= 0) return false;
    u->port = (uint16_t)port;
    u->rest = end;
    return true;
}

static void ep_key(char *buf, size_t len, const char *host, bool v6, uint16_t port)
{
    if (v6)
        snprintf(buf, len, "[%.80s]:%u", host, port);
    else
        snprintf(buf, len, "%.80s:%u", host, port);
}

/* ---- events and the cushion ------------------------------------------------------------ */

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

static void emit(const struct rec *r, const char *what, int attempt, int64_t delay, int64_t elapsed,
                 const char *err, const char *detail)
{
    struct carom_event ev = {.event = what,
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

static bool cushion_on(const struct rec *r)
{
    return r->slot && r->pol->cushion_on;
}

/* Ends the engine's shot: one outcome for the whole transfer enters the cushion. A shot
 * whose attempt never ended (the program gave up on it) records nothing. */
static void shot_record(struct rec *r)
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
static bool shot_gate(struct rec *r)
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
static uint64_t open_for_ms(const struct rec *r)
{
    if (!cushion_on(r)) return 0;
    carom_cushion_view v;
    carom_cushion_peek(&r->slot->cushion, &r->pol->cushion, carom__now_ms(), &v);
    return v.mode == CAROM_CUSHION_OPEN ? (v.ms_until_half_open ? v.ms_until_half_open : 1) : 0;
}

/* ---- the program's callbacks, as libcurl would call them ------------------------------- */

static size_t to_write(struct rec *r, char *buf, size_t len)
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
static size_t to_header(struct rec *r, char *buf, size_t len)
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

enum { LOG_H = 'H', LOG_W = 'W' };

static bool log_add(struct hlog *l, int kind, const char *buf, size_t len)
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

static void log_clear(struct rec *r)
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
static bool flush(struct rec *r)
{
    bool ok = true;
    inside++;
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
    inside--;
    log_clear(r);
    if (!ok) r->write_failed = true;
    return ok;
}

/* The program gets this response: what was held, and everything after it. */
static bool commit(struct rec *r)
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

static uint32_t method_bit(const struct rec *r)
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

static bool method_ok(const struct rec *r)
{
    return (r->pol->http_retry_methods & method_bit(r)) != 0;
}

static bool status_retryable(const struct rec *r, long code)
{
    if (code < 100 || code >= 640) return false;
    return ((r->pol->http_retry_status[code >> 6] >> (code & 63)) & 1) && method_ok(r);
}

/* The body comes from the program's read function (or stdin), so a replay needs a rewind. */
static bool reads_body(const struct rec *r)
{
    return r->p.upload || (r->p.req == REQ_POST && !r->p.postfields);
}

/* A response block's last line arrived: the block is the final response unless libcurl
 * will read another one after it (1xx, a redirect it follows, a proxy's CONNECT answer). */
static void final_block(struct rec *r, long code);

static void block_end(struct rec *r)
{
    long code = r->block_status;
    long rc = 0;
    R.easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &rc);
    bool more = rc == 0 || (code >= 100 && code < 200) ||
                (r->p.follow && r->block_location &&
                 (code == 301 || code == 302 || code == 303 || code == 307 || code == 308));
    r->block_lines = 0;
    if (!more) final_block(r, code);
}

static void final_block(struct rec *r, long code)
{
    r->status = code;
    if (r->committed) {
        /* A resumed (or repeated) attempt: its headers never reach the program, which has
         * the first response's; its body continues that one's only if it is the same
         * resource from the right offset. */
        long want = r->resume_at > 0 ? 206 : r->committed_status;
        log_clear(r);
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
        if (R.easy_getinfo(r->h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
            r->ra_ms = ra > 86400 ? 86400000u : (uint32_t)ra * 1000u;
        r->st = ST_HOLD;
        return;
    }
    commit(r);
}

static int plan(struct rec *r, CURLcode rc, uint32_t *delay);

static size_t tr_header(char *buf, size_t size, size_t nitems, void *ud)
{
    struct rec *r = ud;
    size_t len = size * nitems;
    switch (r->st) {
    case ST_COLLECT:
        break;
    case ST_HOLD:
        return log_add(&r->log, LOG_H, buf, len) ? len : 0; /* trailers */
    case ST_DISCARD:
        return len;
    default: /* trailers */
        inside++;
        size_t w = to_header(r, buf, len);
        inside--;
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
    if (!log_add(&r->log, LOG_H, buf, len)) return 0;
    if ((len == 2 && buf[0] == '\r' && buf[1] == '\n') || (len == 1 && buf[0] == '\n'))
        block_end(r);
    else if (r->log.n > COLLECT_MAX)
        final_block(r, r->block_status);
    if (r->write_failed) return 0;
    return len;
}

static size_t tr_write(char *buf, size_t size, size_t nitems, void *ud)
{
    struct rec *r = ud;
    size_t len = size * nitems;
    if (r->st == ST_COLLECT) /* body bytes: the last block was the final response */
        final_block(r, r->block_status);
    if (r->write_failed) return 0;
    if (r->st == ST_HOLD) {
        if (r->held + len <= HOLD_MAX && log_add(&r->log, LOG_W, buf, len)) {
            r->held += len;
            return len;
        }
        /* Too much to hold: decide now whether this response will be retried. Not for an
         * upload, which libcurl may still be sending: a rewind now would corrupt it. */
        uint32_t delay;
        int act = reads_body(r) ? ACT_DONE : plan(r, CURLE_OK, &delay);
        if (act == ACT_DONE) {
            if (!commit(r)) return 0;
        } else {
            log_clear(r);
            r->st = ST_DISCARD;
        }
    }
    if (r->st == ST_DISCARD) return len;
    inside++;
    size_t w = to_write(r, buf, len);
    inside--;
    if (w == len) r->delivered += (curl_off_t)len;
    return w;
}

static size_t tr_read(char *buf, size_t size, size_t nitems, void *ud)
{
    struct rec *r = ud;
    inside++;
    size_t n = r->p.read_fn ? r->p.read_fn(buf, size, nitems, r->p.read_data)
                            : fread(buf, size, nitems, r->p.read_data_set ? r->p.read_data : stdin);
    inside--;
    if (n != CURL_READFUNC_ABORT && n != CURL_READFUNC_PAUSE && n <= size * nitems)
        r->read_total += (curl_off_t)n;
    return n;
}

static int tr_seek(void *ud, curl_off_t off, int origin)
{
    struct rec *r = ud;
    int rc;
    inside++;
    if (r->p.seek_fn)
        rc = r->p.seek_fn(r->p.seek_data, off, origin);
    else
        rc = fseeko(r->p.read_data_set ? r->p.read_data : stdin, (off_t)off, origin) == 0
                 ? CURL_SEEKFUNC_OK
                 : CURL_SEEKFUNC_CANTSEEK;
    inside--;
    if (rc == CURL_SEEKFUNC_OK) r->read_total = origin == SEEK_SET ? off : 1;
    return rc;
}

/* Puts the upload back at its start for another attempt, the way libcurl rewinds
 * (Curl_readrewind): the program's seek function, else fseek on the default reader's FILE. */
static bool rewind_upload(struct rec *r)
{
    if (!reads_body(r) || r->read_total == 0) return true;
    bool ok = false;
    inside++;
    if (r->p.seek_fn)
        ok = r->p.seek_fn(r->p.seek_data, 0, SEEK_SET) == CURL_SEEKFUNC_OK;
    else if (!r->p.read_fn)
        ok = fseeko(r->p.read_data_set ? r->p.read_data : stdin, 0, SEEK_SET) == 0;
    inside--;
    if (ok) r->read_total = 0;
    return ok;
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
static bool resumable(const struct rec *r)
{
    return r->p.req == REQ_GET && !r->p.custom && !r->p.range && !r->p.encoding && r->ranges_ok &&
           (r->committed_status == 200 || r->committed_status == 206);
}

/* Sets up a guarded transfer: resolves the policy and installs the trampolines. False
 * when the handle's URL is not one carom guards. */
static bool shot_begin(struct rec *r)
{
    if (!r->p.url || r->p.connect_only || r->p.curlu) return false;
    struct url u;
    if (!parse_url(r->p.url, r->p.port, &u)) return false;
    memcpy(r->scheme, u.scheme, sizeof r->scheme);
    memcpy(r->host, u.host, sizeof r->host);
    r->v6 = u.v6;
    r->port = u.port;
    ep_key(r->ep, sizeof r->ep, u.host, u.v6, u.port);
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
    r->slot = carom__slot(r->pol, r->ep);
    /* A transfer holds the herd's lease for its connect timeout, else this long. */
    carom__shot_start(&r->shot, r->pol, r->slot,
                      r->pol->connect_timeout_ms ? r->pol->connect_timeout_ms : 10000u,
                      carom__now_ms());
    r->n = 0;
    r->gate_shut = r->shot_ok = r->ended_any = false;
    r->committed = false;
    r->committed_status = 0;
    r->ranges_ok = false;
    r->delivered = 0;
    r->read_total = 0;
    r->first_fail = CURLE_OK;
    r->url_tried = r->canned_tried = r->pocket_next = r->in_pocket = false;
    r->last_err = r->stop = NULL;
    set_canned(r, 0);

    R.easy_setopt(r->h, CURLOPT_WRITEFUNCTION, tr_write);
    R.easy_setopt(r->h, CURLOPT_WRITEDATA, r);
    R.easy_setopt(r->h, CURLOPT_HEADERFUNCTION, tr_header);
    R.easy_setopt(r->h, CURLOPT_HEADERDATA, r);
    if (r->p.header) /* emulated: headers reach the write function through tr_header */
        R.easy_setopt(r->h, CURLOPT_HEADER, 0L);
    r->tramp_rw = reads_body(r);
    if (r->tramp_rw) {
        R.easy_setopt(r->h, CURLOPT_READFUNCTION, tr_read);
        R.easy_setopt(r->h, CURLOPT_READDATA, r);
        /* libcurl's own rewinds (a redirect, an auth round) must still reach the program's
         * seek function or the default reader's FILE; an IOCTLFUNCTION keeps its path. */
        r->tramp_seek = r->p.seek_fn || (!r->p.read_fn && !r->p.ioctl_set);
        if (r->tramp_seek) {
            R.easy_setopt(r->h, CURLOPT_SEEKFUNCTION, tr_seek);
            R.easy_setopt(r->h, CURLOPT_SEEKDATA, r);
        }
    }
    r->in_shot = true;
    return true;
}

/* Gives libcurl the program's own options back. */
static void shot_restore(struct rec *r)
{
    CURL *h = r->h;
    R.easy_setopt(h, CURLOPT_WRITEFUNCTION, r->p.write_fn);
    R.easy_setopt(h, CURLOPT_WRITEDATA, r->p.write_data_set ? r->p.write_data : (void *)stdout);
    R.easy_setopt(h, CURLOPT_HEADERFUNCTION, r->p.header_fn);
    R.easy_setopt(h, CURLOPT_HEADERDATA, r->p.header_data_set ? r->p.header_data : NULL);
    if (r->p.header) R.easy_setopt(h, CURLOPT_HEADER, 1L);
    if (r->tramp_rw) {
        R.easy_setopt(h, CURLOPT_READFUNCTION, r->p.read_fn);
        R.easy_setopt(h, CURLOPT_READDATA, r->p.read_data_set ? r->p.read_data : (void *)stdin);
    }
    if (r->tramp_seek) {
        R.easy_setopt(h, CURLOPT_SEEKFUNCTION, r->p.seek_fn);
        R.easy_setopt(h, CURLOPT_SEEKDATA, r->p.seek_data);
    }
    if (r->over_resume) R.easy_setopt(h, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)r->p.resume);
    if (r->over_url) R.easy_setopt(h, CURLOPT_URL, r->p.url);
    if (r->over_port) R.easy_setopt(h, CURLOPT_PORT, r->p.port);
    if (r->over_timeout) R.easy_setopt(h, CURLOPT_TIMEOUT_MS, r->p.timeout_ms);
    if (r->over_ctimeout) R.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, r->p.ctimeout_ms);
    r->tramp_rw = r->tramp_seek = false;
    r->over_resume = r->over_url = r->over_port = r->over_timeout = r->over_ctimeout = false;
    free(r->pocket_url);
    r->pocket_url = NULL;
    log_clear(r);
    r->in_shot = false;
}

static void shot_end(struct rec *r, CURLcode rc)
{
    shot_record(r);
    shot_restore(r);
    /* A retryable status handed over as the final answer is a failed shot, although libcurl
     * calls the transfer a success. */
    const char *err = rc != CURLE_OK ? (r->last_err ? r->last_err : code_name(rc))
                      : r->status_retry && !r->canned_status ? r->last_err
                                                             : NULL;
    emit(r, "shot", (int)r->n, -1, (int64_t)carom_clock_elapsed(&r->shot.clk, carom__now_ms()), err,
         err ? r->stop : NULL);
}

/* Per-attempt options: where to resume, the pocket's URL, what is left of the deadline. */
static void prep_attempt(struct rec *r)
{
    r->st = ST_COLLECT;
    r->status = r->block_status = 0;
    r->block_lines = 0;
    r->block_location = false;
    r->cr_start = -1;
    r->ra_ms = 0;
    r->status_retry = r->mismatch = r->write_failed = r->planned = false;
    log_clear(r);
    r->resume_at = 0;
    if (r->committed) {
        r->resume_at = r->p.resume + r->delivered;
        R.easy_setopt(r->h, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)r->resume_at);
        r->over_resume = true;
        set_canned(r, r->committed_status);
    }
    uint64_t now = carom__now_ms();
    if (r->pol->deadline_ms) {
        uint64_t left = carom_clock_left(&r->shot.clk, now);
        long t = left > 0x7fffffff ? 0x7fffffff : (long)(left ? left : 1);
        if (r->p.timeout_ms && r->p.timeout_ms < t) t = r->p.timeout_ms;
        R.easy_setopt(r->h, CURLOPT_TIMEOUT_MS, t);
        r->over_timeout = true;
    }
    if (r->pol->connect_timeout_ms &&
        (!r->p.ctimeout_ms || (uint32_t)r->p.ctimeout_ms > r->pol->connect_timeout_ms)) {
        R.easy_setopt(r->h, CURLOPT_CONNECTTIMEOUT_MS, (long)r->pol->connect_timeout_ms);
        r->over_ctimeout = true;
    }
}

static void circuit_message(struct rec *r, uint64_t ms)
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
static bool deliver_canned(struct rec *r, CURLcode *rc)
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
    log_clear(r);
    r->status = st;
    bool ok = true;
    for (int i = 0; i < 3 && ok; i++)
        ok = log_add(&r->log, LOG_H, lines[i], strlen(lines[i]));
    ok = ok && log_add(&r->log, LOG_H, "\r\n", 2);
    bool fail = r->p.failonerror && st >= 400;
    for (size_t off = 0; ok && !fail && body && off < blen; off += CURL_MAX_WRITE_SIZE) {
        size_t n = blen - off < CURL_MAX_WRITE_SIZE ? blen - off : CURL_MAX_WRITE_SIZE;
        ok = log_add(&r->log, LOG_W, body + off, n);
    }
    free(body);
    if (!ok) return false;
    set_canned(r, st);
    r->committed = false;
    ok = commit(r);
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
static bool pocket_url_ready(struct rec *r)
{
    struct url pu, u;
    if (!r->pol->pocket_url[0] || !parse_url(r->pol->pocket_url, 0, &pu) ||
        !parse_url(r->p.url, 0, &u))
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
    ep_key(detail, sizeof detail, pu.host, pu.v6, pu.port);
    emit(r, "pocket", (int)r->n + 1, -1, -1, NULL, detail);
    return true;
}

/* What comes after a failed attempt once no retry is left: the pocket URL, then the canned
 * response, each once. ACT_POCKET: the next attempt goes to pocket_url; ACT_DONE: *rc is
 * final (the canned response's when r->canned_status). Never for a response the program
 * already has part of, nor for a request that may have reached a server and must not be
 * repeated. */
static int pockets(struct rec *r, CURLcode *rc)
{
    if (r->committed || (!method_ok(r) && !before_request(*rc))) return ACT_DONE;
    if (!r->url_tried && r->pol->pocket_url[0]) {
        r->url_tried = true;
        if (rewind_upload(r) && pocket_url_ready(r)) {
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
static int plan(struct rec *r, CURLcode rc, uint32_t *delay)
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
        if (!before_request(rc) && !method_ok(r))
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
        } else if (!rewind_upload(r)) {
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
static int attempt_end(struct rec *r, CURLcode rc, CURLcode *out, uint32_t *delay)
{
    *delay = 0;
    *out = rc;
    if (r->st == ST_COLLECT && r->log.n && !transient(rc) && !r->committed) {
        /* The transfer ended inside a header block (or never had a final one): the
         * program gets what libcurl gave. */
        r->status = r->block_status;
        if (!commit(r) && rc == CURLE_OK) *out = rc = CURLE_WRITE_ERROR;
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
    int act = plan(r, rc, delay);
    if (act == ACT_POCKET) {
        act = pockets(r, out);
        if (act == ACT_POCKET) return act;
        if (r->canned_status) return ACT_DONE;
    }
    if (act == ACT_RETRY) return act;
    /* Final: the program gets this attempt's response, or the first failure when it already
     * has part of another one. */
    if ((r->st == ST_HOLD || (r->st == ST_COLLECT && !r->committed)) && !commit(r) &&
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
static int attempt_start(struct rec *r, CURLcode *rc)
{
    if (r->pocket_next) {
        r->pocket_next = false;
        r->in_pocket = true;
        R.easy_setopt(r->h, CURLOPT_URL, r->pocket_url);
        r->over_url = true;
        if (r->p.port) { /* CURLOPT_PORT would override the pocket's port */
            R.easy_setopt(r->h, CURLOPT_PORT, 0L);
            r->over_port = true;
        }
        prep_attempt(r);
        r->n++;
        return ACT_RETRY;
    }
    if (r->n == 0 && (r->gate_shut || !shot_gate(r))) {
        *rc = r->committed ? r->first_fail : CURLE_COULDNT_CONNECT;
        if (r->committed && r->p.errbuf && r->first_err[0])
            snprintf(r->p.errbuf, CURL_ERROR_SIZE, "%s", r->first_err);
        r->last_err = "circuit open";
        if (pockets(r, rc) == ACT_POCKET) return attempt_start(r, rc);
        if (!r->canned_status && !r->committed) {
            uint64_t ms = open_for_ms(r);
            circuit_message(r, ms ? ms : r->pol->cushion.half_open_ms);
        }
        return ACT_DONE;
    }
    /* limit: every transfer attempt takes a token, retries too (shim/limit.c). Only where
     * the program already blocks (curl_easy_perform): a wait inside a multi call would
     * stall the program's event loop, so multi transfers are not limited yet. */
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
    prep_attempt(r);
    r->n++;
    return ACT_RETRY;
}

/* chaos.http_status: this attempt is answered by a synthesized response with the policy's
 * status, and no request is sent. The response goes through the same collection as a real
 * one (held when its status is retried, delivered when final), so with retries = 0 the
 * program's own handling of the status is what runs. Returns true, with the result
 * libcurl would have given, when the fault strikes. */
static bool chaos_http(struct rec *r, CURLcode *got)
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
        ok = log_add(&r->log, LOG_H, lines[i], strlen(lines[i]));
    r->block_status = st;
    r->block_lines = 0;
    final_block(r, st);
    r->ra_ms = 0; /* no server spoke: nothing to honour */
    bool fail = r->p.failonerror && st >= 400;
    if (ok && !fail && !r->write_failed)
        ok = tr_write((char *)body, 1, sizeof body - 1, r) == sizeof body - 1;
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

/* ---- curl_easy_* ------------------------------------------------------------------------- */

static CURLcode carom_curl_easy_setopt(CURL *h, CURLoption opt, union carom_arg a)
{
    bind_now();
    if (!R.easy_setopt) return CURLE_FAILED_INIT;
    if (inside || !tracked_opt(opt) || !can_guard())
        return fwd_setopt(h, opt, a); /* setopt never calls back into libcurl's API */
    struct rec *r = rec_get(h);
    if (!r) return fwd_setopt(h, opt, a);
    if (r->in_shot && overridden(r, opt)) {
        record(&r->p, opt, a);
        return CURLE_OK;
    }
    CURLcode rc = fwd_setopt(h, opt, a);
    if (rc == CURLE_OK) record(&r->p, opt, a);
    return rc;
}

/* The one variadic argument is read by its option's type range, then forwarded as such. */
CAROM_EXPORT CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
    va_list ap;
    va_start(ap, opt);
    union carom_arg a = take_arg(opt, &ap);
    va_end(ap);
    return carom_curl_easy_setopt(h, opt, a);
}

static CURLcode real_perform(CURL *h)
{
    inside++;
    CURLcode rc = R.easy_perform(h);
    inside--;
    return rc;
}

static CURLcode carom_curl_easy_perform(CURL *h)
{
    if (inside) return R.easy_perform(h);
    bind_now();
    if (!R.easy_perform) return CURLE_FAILED_INIT;
    struct rec *r = can_guard() ? rec_find(h) : NULL;
    if (!r || r->in_shot || !shot_begin(r)) return real_perform(h);
    CURLcode rc = CURLE_OK;
    for (;;) {
        if (attempt_start(r, &rc) == ACT_DONE) break;
        CURLcode got;
        if (!chaos_http(r, &got)) { /* the real-call boundary: chaos answers instead */
            carom__curl_depth++;
            got = real_perform(h);
            carom__curl_depth--;
        }
        uint32_t delay;
        int act = attempt_end(r, got, &rc, &delay);
        if (act == ACT_DONE) break;
        if (act == ACT_RETRY && delay) carom__sleep_ms(delay);
    }
    shot_end(r, rc);
    return rc;
}

CAROM_EXPORT CURLcode curl_easy_perform(CURL *h)
{
    return carom_curl_easy_perform(h);
}

static void carom_curl_easy_reset(CURL *h)
{
    if (inside) {
        R.easy_reset(h);
        return;
    }
    bind_now();
    if (!R.easy_reset) return;
    inside++;
    R.easy_reset(h);
    inside--;
    struct rec *r = rec_find(h);
    if (r && !r->in_shot) {
        prog_free(&r->p);
        set_canned(r, 0);
    }
}

CAROM_EXPORT void curl_easy_reset(CURL *h)
{
    carom_curl_easy_reset(h);
}

static CURL *carom_curl_easy_duphandle(CURL *h)
{
    if (inside) return R.easy_duphandle(h);
    bind_now();
    if (!R.easy_duphandle) return NULL;
    inside++;
    CURL *nh = R.easy_duphandle(h);
    inside--;
    struct rec *r = nh ? rec_find(h) : NULL;
    if (!r) return nh;
    struct rec *nr = rec_get(nh);
    if (!nr) return nh;
    prog_free(&nr->p);
    set_canned(nr, 0);
    nr->p = r->p;
    nr->p.url = dup_str(r->p.url);
    nr->p.custom = dup_str(r->p.custom);
    if (r->in_shot) { /* the copy got our trampolines and per-attempt values */
        struct rec tmp = *r;
        tmp.h = nh;
        tmp.pocket_url = NULL;
        tmp.log.buf = NULL;
        tmp.log.cap = tmp.log.n = 0;
        shot_restore(&tmp);
    }
    return nh;
}

CAROM_EXPORT CURL *curl_easy_duphandle(CURL *h)
{
    return carom_curl_easy_duphandle(h);
}

static void unschedule(struct mrec *mr, struct rec *r)
{
    if (!r->scheduled) return;
    for (struct rec **pp = &mr->sched; *pp; pp = &(*pp)->snext) {
        if (*pp == r) {
            *pp = r->snext;
            break;
        }
    }
    r->scheduled = false;
    r->snext = NULL;
    mr->nsched--;
}

static void drop_msgs(struct mrec *mr, CURL *h)
{
    size_t w = mr->qhead;
    for (size_t i = mr->qhead; i < mr->qn; i++)
        if (mr->q[i].easy_handle != h) mr->q[w++] = mr->q[i];
    mr->qn = w;
}

static void carom_curl_easy_cleanup(CURL *h)
{
    /* The record goes whoever calls: a later handle at the same address must not inherit
     * this one's callbacks. */
    struct rec *r = rec_take(h);
    if (CAROM_LIKELY(!r) && inside) {
        R.easy_cleanup(h);
        return;
    }
    bind_now();
    if (!R.easy_cleanup) return;
    if (r && r->m) {
        unschedule(r->m, r);
        drop_msgs(r->m, h);
        if (r->in_shot) r->m->nguard--;
    }
    inside++;
    R.easy_cleanup(h);
    inside--;
    if (r) {
        set_canned(r, 0);
        prog_free(&r->p);
        free(r->pocket_url);
        free(r->log.buf);
        free(r);
    }
}

CAROM_EXPORT void curl_easy_cleanup(CURL *h)
{
    carom_curl_easy_cleanup(h);
}

static CURLcode carom_curl_easy_getinfo(CURL *h, CURLINFO info, void *arg)
{
    bind_now();
    if (!R.easy_getinfo) return CURLE_FAILED_INIT;
    if (CAROM_LIKELY(!atomic_load_explicit(&n_canned, memory_order_relaxed)) ||
        info != CURLINFO_RESPONSE_CODE || !arg)
        return R.easy_getinfo(h, info, arg);
    struct rec *r = rec_find(h);
    if (!r || !r->canned_status) return R.easy_getinfo(h, info, arg);
    *(long *)arg = r->canned_status;
    return CURLE_OK;
}

/* Every CURLINFO takes one pointer. */
CAROM_EXPORT CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
    va_list ap;
    va_start(ap, info);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return carom_curl_easy_getinfo(h, info, arg);
}

/* ---- curl_multi_* ------------------------------------------------------------------------ */

static void queue_msg(struct mrec *mr, CURL *h, CURLMSG what, CURLcode rc)
{
    if (mr->qhead == mr->qn) mr->qhead = mr->qn = 0;
    if (mr->qn == mr->qcap) {
        size_t cap = mr->qcap ? mr->qcap * 2 : 16;
        CURLMsg *nq = realloc(mr->q, cap * sizeof *nq);
        if (!nq) return;
        mr->q = nq;
        mr->qcap = cap;
    }
    CURLMsg *m = &mr->q[mr->qn++];
    memset(m, 0, sizeof *m);
    m->msg = what;
    m->easy_handle = h;
    m->data.result = rc;
}

/* The timeout the program should wait at most: libcurl's, or sooner when a retry is due. */
static long sched_wait_ms(struct mrec *mr, long lib_ms)
{
    if (mr->fresh) return 0;
    if (!mr->nsched) return lib_ms;
    uint64_t due = UINT64_MAX;
    for (struct rec *r = mr->sched; r; r = r->snext)
        if (r->due_ms < due) due = r->due_ms;
    uint64_t now = carom__now_ms();
    long d = due <= now ? 0 : (long)(due - now > 0x7fffffff ? 0x7fffffff : due - now);
    return lib_ms < 0 || d < lib_ms ? d : lib_ms;
}

/* Tells an event-driven program (CURLMOPT_TIMERFUNCTION) when to call
 * curl_multi_socket_action next: libcurl's own timer or carom's schedule, whichever is
 * sooner. forced: libcurl just set its timer, so the program must hear about it. */
static int tell_timer(struct mrec *mr, bool forced)
{
    if (!mr->timer_fn) return 0;
    uint64_t now = carom__now_ms();
    long lib = -1;
    if (mr->lib_due_set) lib = mr->lib_due <= now ? 0 : (long)(mr->lib_due - now);
    long ms = sched_wait_ms(mr, lib);
    uint64_t want = ms < 0 ? 0 : now + (uint64_t)ms;
    if (!forced && mr->told_set == (ms >= 0) && (ms < 0 || mr->told == want)) return 0;
    mr->told_set = ms >= 0;
    mr->told = want;
    return mr->timer_fn(mr->m, ms, mr->timer_data);
}

static int tr_timer(CURLM *m, long ms, void *ud)
{
    struct mrec *mr = ud;
    (void)m;
    mr->lib_due_set = ms >= 0;
    mr->lib_due = carom__now_ms() + (ms > 0 ? (uint64_t)ms : 0);
    return tell_timer(mr, true);
}

static void schedule(struct mrec *mr, struct rec *r, uint64_t due)
{
    r->due_ms = due;
    if (!r->scheduled) {
        r->scheduled = true;
        r->snext = mr->sched;
        mr->sched = r;
        mr->nsched++;
    }
}

/* The transfer is over for the program: its DONE message goes in our queue. */
static void finish(struct mrec *mr, struct rec *r, CURLcode rc)
{
    shot_end(r, rc);
    r->m = NULL;
    mr->nguard--;
    queue_msg(mr, r->h, CURLMSG_DONE, rc);
}

static void on_done(struct mrec *mr, struct rec *r, CURLcode got);

static CURLMcode real_add(struct mrec *mr, struct rec *r)
{
    CURLcode got;
    if (chaos_http(r, &got)) {
        /* Answered without a transfer: it ends (or is rescheduled) here, and the program
         * reads the outcome from its next info_read. */
        r->added = false;
        on_done(mr, r, got);
        mr->fresh = true;
        return CURLM_OK;
    }
    inside++;
    CURLMcode mc = R.multi_add_handle(mr->m, r->h);
    inside--;
    r->added = mc == CURLM_OK;
    return mc;
}

/* Starts the next attempt of every scheduled transfer that is due. */
static void readd_due(struct mrec *mr)
{
    if (!mr->nsched) return;
    uint64_t now = carom__now_ms();
    for (struct rec **pp = &mr->sched; *pp;) {
        struct rec *r = *pp;
        if (r->due_ms > now) {
            pp = &r->snext;
            continue;
        }
        *pp = r->snext;
        r->scheduled = false;
        r->snext = NULL;
        mr->nsched--;
        CURLcode rc = CURLE_OK;
        if (attempt_start(r, &rc) == ACT_DONE) {
            finish(mr, r, rc);
            mr->fresh = true;
        } else if (real_add(mr, r) != CURLM_OK) {
            finish(mr, r, CURLE_FAILED_INIT);
            mr->fresh = true;
        }
    }
}

/* A guarded transfer's attempt ended: retry it later, or let the program see it end. */
static void on_done(struct mrec *mr, struct rec *r, CURLcode got)
{
    CURLcode rc;
    uint32_t delay;
    int act = attempt_end(r, got, &rc, &delay);
    if (act == ACT_DONE) {
        finish(mr, r, rc);
        return;
    }
    if (r->added) {
        inside++;
        R.multi_remove_handle(mr->m, r->h);
        inside--;
        r->added = false;
    }
    schedule(mr, r, carom__now_ms() + delay);
}

static struct rec *guarded_in(struct mrec *mr, CURL *h)
{
    struct rec *r = rec_find(h);
    return r && r->in_shot && r->m == mr ? r : NULL;
}

/* Takes every message libcurl has, so that retried transfers' ends are never seen. */
static void drain(struct mrec *mr)
{
    for (;;) {
        int left = 0;
        inside++;
        CURLMsg *msg = R.multi_info_read(mr->m, &left);
        inside--;
        if (!msg) return;
        CURLMSG what = msg->msg;
        CURL *h = msg->easy_handle;
        CURLcode rc = msg->data.result;
        struct rec *r = what == CURLMSG_DONE ? guarded_in(mr, h) : NULL;
        if (r && r->added)
            on_done(mr, r, rc);
        else
            queue_msg(mr, h, what, rc);
    }
}

static CURLMcode carom_curl_multi_add_handle(CURLM *m, CURL *h)
{
    if (inside) return R.multi_add_handle(m, h);
    bind_now();
    if (!R.multi_add_handle) return CURLM_INTERNAL_ERROR;
    struct rec *r = can_guard() ? rec_find(h) : NULL;
    if (!r) PASS(CURLMcode, R.multi_add_handle(m, h));
    if (r->in_shot) return CURLM_ADDED_ALREADY;
    struct mrec *mr = mrec_get(m);
    if (!mr || !shot_begin(r)) PASS(CURLMcode, R.multi_add_handle(m, h));
    r->m = mr;
    r->shot.env.herd = NULL; /* a multi transfer never waits on the herd: it must not block */
    r->added = false;
    mr->nguard++;
    drop_msgs(mr, h);
    if (!shot_gate(r)) {
        /* The open circuit's answer is given where the program reads its messages. */
        schedule(mr, r, carom__now_ms());
        tell_timer(mr, false);
        return CURLM_OK;
    }
    prep_attempt(r);
    r->n++;
    CURLMcode mc = real_add(mr, r);
    if (mc != CURLM_OK) {
        carom_shot_abandon(&r->shot);
        shot_restore(r);
        r->m = NULL;
        mr->nguard--;
    }
    return mc;
}

CAROM_EXPORT CURLMcode curl_multi_add_handle(CURLM *m, CURL *h)
{
    return carom_curl_multi_add_handle(m, h);
}

static CURLMcode carom_curl_multi_remove_handle(CURLM *m, CURL *h)
{
    if (inside) return R.multi_remove_handle(m, h);
    bind_now();
    if (!R.multi_remove_handle) return CURLM_INTERNAL_ERROR;
    struct mrec *mr = mrec_find(m);
    if (!mr) PASS(CURLMcode, R.multi_remove_handle(m, h));
    drop_msgs(mr, h);
    struct rec *r = guarded_in(mr, h);
    if (!r) {
        inside++;
        CURLMcode mc = R.multi_remove_handle(m, h);
        inside--;
        return mc;
    }
    /* The program gives up on a transfer still under way (or waiting for its retry). */
    unschedule(mr, r);
    bool was_added = r->added;
    CURLMcode mc = CURLM_OK;
    if (was_added) {
        inside++;
        mc = R.multi_remove_handle(m, h);
        inside--;
    }
    r->ended_any = false; /* given up on: no outcome to record */
    shot_end(r, CURLE_ABORTED_BY_CALLBACK);
    r->m = NULL;
    r->added = false;
    mr->nguard--;
    return mc;
}

CAROM_EXPORT CURLMcode curl_multi_remove_handle(CURLM *m, CURL *h)
{
    return carom_curl_multi_remove_handle(m, h);
}

/* Runs one real multi call with the sockets it creates marked as guarded. */
#define MULTI_CALL(mr, expr)                                                                       \
    do {                                                                                           \
        bool g_ = (mr)->nguard > 0;                                                                \
        inside++;                                                                                  \
        if (g_) carom__curl_depth++;                                                               \
        expr;                                                                                      \
        if (g_) carom__curl_depth--;                                                               \
        inside--;                                                                                  \
    } while (0)

static CURLMcode carom_curl_multi_perform(CURLM *m, int *running)
{
    if (inside) return R.multi_perform(m, running);
    bind_now();
    if (!R.multi_perform) return CURLM_INTERNAL_ERROR;
    struct mrec *mr = mrec_find(m);
    if (!mr) PASS(CURLMcode, R.multi_perform(m, running));
    readd_due(mr);
    CURLMcode mc;
    int run = 0;
    MULTI_CALL(mr, mc = R.multi_perform(m, &run));
    if (mr->nguard) drain(mr);
    mr->fresh = false;
    if (running) *running = run + (int)mr->nsched;
    tell_timer(mr, false);
    return mc;
}

CAROM_EXPORT CURLMcode curl_multi_perform(CURLM *m, int *running)
{
    return carom_curl_multi_perform(m, running);
}

static CURLMcode carom_curl_multi_socket_action(CURLM *m, curl_socket_t s, int ev, int *running)
{
    if (inside) return R.multi_socket_action(m, s, ev, running);
    bind_now();
    if (!R.multi_socket_action) return CURLM_INTERNAL_ERROR;
    struct mrec *mr = mrec_find(m);
    if (!mr) PASS(CURLMcode, R.multi_socket_action(m, s, ev, running));
    if (s == CURL_SOCKET_TIMEOUT) mr->told_set = false; /* the program's timer fired */
    readd_due(mr);
    CURLMcode mc;
    int run = 0;
    MULTI_CALL(mr, mc = R.multi_socket_action(m, s, ev, &run));
    if (mr->nguard) drain(mr);
    mr->fresh = false;
    if (running) *running = run + (int)mr->nsched;
    tell_timer(mr, false);
    return mc;
}

CAROM_EXPORT CURLMcode curl_multi_socket_action(CURLM *m, curl_socket_t s, int ev, int *running)
{
    return carom_curl_multi_socket_action(m, s, ev, running);
}

static CURLMsg *carom_curl_multi_info_read(CURLM *m, int *left)
{
    if (inside) return R.multi_info_read(m, left);
    bind_now();
    if (!R.multi_info_read) return NULL;
    struct mrec *mr = mrec_find(m);
    if (!mr) PASS(CURLMsg *, R.multi_info_read(m, left));
    for (;;) {
        if (mr->qhead < mr->qn) {
            mr->cur = mr->q[mr->qhead++];
            if (left) *left = (int)(mr->qn - mr->qhead);
            return &mr->cur;
        }
        inside++;
        CURLMsg *msg = R.multi_info_read(m, left);
        inside--;
        if (!msg) return NULL;
        struct rec *r = msg->msg == CURLMSG_DONE ? guarded_in(mr, msg->easy_handle) : NULL;
        if (!r || !r->added) return msg;
        on_done(mr, r, msg->data.result);
    }
}

CAROM_EXPORT CURLMsg *curl_multi_info_read(CURLM *m, int *left)
{
    return carom_curl_multi_info_read(m, left);
}

static CURLMcode carom_curl_multi_cleanup(CURLM *m)
{
    if (inside) return R.multi_cleanup(m);
    bind_now();
    if (!R.multi_cleanup) return CURLM_INTERNAL_ERROR;
    struct mrec *mr = mrec_find(m);
    if (!mr) PASS(CURLMcode, R.multi_cleanup(m));
    inside++;
    CURLMcode mc = R.multi_cleanup(m);
    inside--;
    if (mc != CURLM_OK) return mc;
    mrec_take(m);
    /* Transfers still under way or waiting for a retry end with the multi. */
    pthread_mutex_lock(&tab_lock);
    struct rec *list = NULL;
    for (unsigned b = 0; b < BUCKETS; b++)
        for (struct rec *r = recs[b]; r; r = r->next)
            if (r->m == mr) {
                r->snext = list;
                list = r;
            }
    pthread_mutex_unlock(&tab_lock);
    while (list) {
        struct rec *r = list;
        list = r->snext;
        r->snext = NULL;
        r->scheduled = r->added = false;
        r->ended_any = false;
        if (r->in_shot) shot_end(r, CURLE_ABORTED_BY_CALLBACK);
        r->m = NULL;
    }
    free(mr->q);
    free(mr);
    return mc;
}

CAROM_EXPORT CURLMcode curl_multi_cleanup(CURLM *m)
{
    return carom_curl_multi_cleanup(m);
}

static CURLMcode carom_curl_multi_poll(CURLM *m, struct curl_waitfd *fds, unsigned n, int ms,
                                       int *ready)
{
    if (inside) return R.multi_poll(m, fds, n, ms, ready);
    bind_now();
    if (!R.multi_poll) return CURLM_INTERNAL_ERROR;
    struct mrec *mr = mrec_find(m);
    if (!mr) PASS(CURLMcode, R.multi_poll(m, fds, n, ms, ready));
    int t = (int)sched_wait_ms(mr, ms);
    inside++;
    CURLMcode mc = R.multi_poll(m, fds, n, t, ready);
    inside--;
    return mc;
}

CAROM_EXPORT CURLMcode curl_multi_poll(CURLM *m, struct curl_waitfd *fds, unsigned n, int ms,
                                       int *ready)
{
    return carom_curl_multi_poll(m, fds, n, ms, ready);
}

static CURLMcode carom_curl_multi_wait(CURLM *m, struct curl_waitfd *fds, unsigned n, int ms,
                                       int *ready)
{
    if (inside) return R.multi_wait(m, fds, n, ms, ready);
    bind_now();
    if (!R.multi_wait) return CURLM_INTERNAL_ERROR;
    struct mrec *mr = mrec_find(m);
    if (!mr) PASS(CURLMcode, R.multi_wait(m, fds, n, ms, ready));
    int t = (int)sched_wait_ms(mr, ms);
    inside++;
    CURLMcode mc = R.multi_wait(m, fds, n, t, ready);
    inside--;
    return mc;
}

CAROM_EXPORT CURLMcode curl_multi_wait(CURLM *m, struct curl_waitfd *fds, unsigned n, int ms,
                                       int *ready)
{
    return carom_curl_multi_wait(m, fds, n, ms, ready);
}

static CURLMcode carom_curl_multi_timeout(CURLM *m, long *ms)
{
    if (inside) return R.multi_timeout(m, ms);
    bind_now();
    if (!R.multi_timeout) return CURLM_INTERNAL_ERROR;
    struct mrec *mr = mrec_find(m);
    if (!mr) PASS(CURLMcode, R.multi_timeout(m, ms));
    inside++;
    CURLMcode mc = R.multi_timeout(m, ms);
    inside--;
    if (mc == CURLM_OK && ms) *ms = sched_wait_ms(mr, *ms);
    return mc;
}

CAROM_EXPORT CURLMcode curl_multi_timeout(CURLM *m, long *ms)
{
    return carom_curl_multi_timeout(m, ms);
}

static CURLMcode fwd_msetopt(CURLM *m, int opt, union carom_arg a)
{
    if (opt < CURLOPTTYPE_OBJECTPOINT) return R.multi_setopt(m, (CURLMoption)opt, a.l);
    if (opt < CURLOPTTYPE_FUNCTIONPOINT) return R.multi_setopt(m, (CURLMoption)opt, a.p);
    if (opt < CURLOPTTYPE_OFF_T) return R.multi_setopt(m, (CURLMoption)opt, a.f);
    return R.multi_setopt(m, (CURLMoption)opt, a.o);
}

/* The timer callback goes through a trampoline, so that an event-driven program hears of
 * a retry that is due as it hears of libcurl's own timeouts. */
static CURLMcode carom_curl_multi_setopt(CURLM *m, CURLMoption opt, union carom_arg a)
{
    bind_now();
    if (!R.multi_setopt) return CURLM_INTERNAL_ERROR;
    if (inside || (opt != CURLMOPT_TIMERFUNCTION && opt != CURLMOPT_TIMERDATA) || !can_guard())
        return fwd_msetopt(m, opt, a);
    struct mrec *mr = mrec_get(m);
    if (!mr) return fwd_msetopt(m, opt, a);
    if (opt == CURLMOPT_TIMERDATA) {
        mr->timer_data = a.p;
        return mr->timer_fn ? CURLM_OK : fwd_msetopt(m, opt, a);
    }
    mr->timer_fn = (curl_multi_timer_callback)a.f;
    if (!mr->timer_fn) {
        CURLMcode mc = R.multi_setopt(m, CURLMOPT_TIMERFUNCTION, (curl_multi_timer_callback)NULL);
        if (mc == CURLM_OK) mc = R.multi_setopt(m, CURLMOPT_TIMERDATA, mr->timer_data);
        return mc;
    }
    CURLMcode mc = R.multi_setopt(m, CURLMOPT_TIMERFUNCTION, tr_timer);
    if (mc == CURLM_OK) mc = R.multi_setopt(m, CURLMOPT_TIMERDATA, (void *)mr);
    return mc;
}

CAROM_EXPORT CURLMcode curl_multi_setopt(CURLM *m, CURLMoption opt, ...)
{
    va_list ap;
    va_start(ap, opt);
    union carom_arg a = take_arg(opt, &ap);
    va_end(ap);
    return carom_curl_multi_setopt(m, opt, a);
}
