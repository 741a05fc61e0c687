/* curl_int.h: what the files of the libcurl layer (shim/curl_*.c) share: the records of
 * easy and multi handles, the real libcurl, and every function one file calls in another,
 * declared here grouped by the file that defines it (docs/curl.md says what the layer does).
 * It must never be included outside shim/curl_*.c, and nothing here is ever exported from
 * the shim. */
#ifndef CAROM_CURL_INT_H
#define CAROM_CURL_INT_H

#define CURL_DISABLE_DEPRECATION /* CURLOPT_PUT and CURLOPT_HTTPPOST still set a method */
#include "carom_shim.h"

#include <curl/curl.h>
#include <stdarg.h>

/* A response that will be retried is held in memory until the transfer ends; past this
 * size the decision is taken early (retry: drop it; no retry: hand it over). */
#define HOLD_MAX (1u << 20)
/* Header blocks are held until their status is known; a block larger than this is handed
 * over as it is (libcurl itself caps one header at 100 KiB). */
#define COLLECT_MAX (256u << 10)
#define CANNED_MAX (64u << 20)

/* A record's link in the records table (curl_rec.c): the handle's address and the chain. */
struct carom__curl_node {
    void *key;
    struct carom__curl_node *next;
};

/* ---- what the program set, per handle ------------------------------------------------ */

enum { REQ_GET = 0, REQ_POST, REQ_POST_FORM, REQ_POST_MIME, REQ_PUT, REQ_HEAD };

/* The options as libcurl sees them from the program, so that the trampolines can do what
 * libcurl would have done, and the method and the body's source are known. */
struct carom__curl_prog {
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

struct carom__curl_hlog {
    unsigned char *buf;
    size_t n, cap;
};

struct carom__curl_mrec;

struct carom__curl_rec {
    union { /* first: the records table (curl_rec.c) finds the record by its node */
        struct carom__curl_node node;
        CURL *h;
    };
    struct carom__curl_prog p;

    /* ---- the shot: one program-visible transfer, all its attempts */
    bool in_shot;
    bool tramp_rw; /* read/seek trampolines installed */
    bool tramp_seek;
    struct carom__curl_mrec *m; /* the multi it runs under; NULL for curl_easy_perform */
    bool added;                 /* really added to m->m */
    bool scheduled;
    uint64_t due_ms;
    struct carom__curl_rec *snext;
    const carom_policy *pol;
    struct carom_slot *slot;
    char ep[CAROM_EP_KEY_MAX];
    char scheme[8];
    char host[CAROM_HOST_MAX];
    bool v6;
    uint16_t port;
    carom_shot shot;     /* the engine's decisions (core/shot.c): one outcome per transfer */
    unsigned n;          /* attempts started */
    bool gate_shut;      /* the circuit was open when the shot began: answer as it does */
    uint8_t limit_state; /* multi: 1 an attempt waits for its reserved token, 2 refused */
    bool shot_ok;        /* the last attempt found the endpoint healthy (cushion terms) */
    bool ended_any;      /* an attempt has ended */
    bool committed;      /* the program has a response's headers */
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
    struct carom__curl_hlog log;
    size_t held;

    /* CURLINFO_RESPONSE_CODE as the program saw it: a pocket_response's status, or the first
     * response's when a resumed attempt (206) completed it. 0: libcurl's own. */
    long canned_status;
};

struct carom__curl_mrec {
    union { /* first, as in carom__curl_rec */
        struct carom__curl_node node;
        CURLM *m;
    };
    CURLMsg *q; /* our copy of the message queue */
    size_t qhead, qn, qcap;
    CURLMsg cur;
    struct carom__curl_rec *sched;
    unsigned nsched;
    unsigned nguard;
    bool fresh; /* a message was queued outside perform: the next wait must not block */
    curl_multi_timer_callback timer_fn;
    void *timer_data;
    bool lib_due_set, told_set;
    uint64_t lib_due, told;
};

/* The one argument of a setopt, whichever its type (curl_opt.c). */
union carom__curl_arg {
    long l;
    void *p;
    void (*f)(void);
    curl_off_t o;
};

/* The kinds of entry in a held-back log (curl_body.c): header or body bytes. */
enum { LOG_H = 'H', LOG_W = 'W' };

/* A URL as carom reads it (curl_url.c). */
struct carom__curl_url {
    char scheme[8];
    const char *auth;     /* the authority, after "scheme://" */
    const char *user_end; /* the '@' ending userinfo, or NULL */
    char host[CAROM_HOST_MAX];
    bool v6;
    uint16_t port;
    const char *rest; /* path, query and fragment ("" when none) */
};

/* ---- curl_real.c: binding the real libcurl */
struct carom__curl_syms {
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
/* The real libcurl; a NULL member is a symbol the libcurl in use lacks (or no libcurl). */
extern struct carom__curl_syms carom__curl;
extern pthread_once_t carom__curl_bind_once;
void carom__curl_bind(void);
static inline void carom__curl_bind_now(void)
{
    pthread_once(&carom__curl_bind_once, carom__curl_bind);
}

/* Non-zero while this thread runs a real libcurl call made by a hook (or replays held data
 * to the program): libcurl calls its own public symbols through the PLT (curl_easy_perform
 * calls curl_multi_add_handle, curl_multi_perform, ...), and those must pass straight
 * through. */
extern __thread int carom__curl_inside;

/* A call carom does not act on: straight to libcurl, with anything libcurl calls back in
 * the meantime passed through as well. */
#define PASS(type, expr)                                                                           \
    do {                                                                                           \
        carom__curl_inside++;                                                                      \
        type r_ = (expr);                                                                          \
        carom__curl_inside--;                                                                      \
        return r_;                                                                                 \
    } while (0)

/* Guarding needs the whole set; with any piece missing every call passes through. */
bool carom__curl_can_guard(void);

/* ---- curl_rec.c: the records of easy and multi handles */
extern _Atomic unsigned carom__curl_n_canned; /* records answering with a canned status */
struct carom__curl_rec *carom__curl_rec_find(CURL *h);
struct carom__curl_rec *carom__curl_rec_get(CURL *h);  /* made zeroed when there is none */
struct carom__curl_rec *carom__curl_rec_take(CURL *h); /* unlinked: the caller frees it */
struct carom__curl_mrec *carom__curl_mrec_find(CURLM *m);
struct carom__curl_mrec *carom__curl_mrec_get(CURLM *m);
struct carom__curl_mrec *carom__curl_mrec_take(CURLM *m);
/* The records of the transfers under mr, chained through snext. */
struct carom__curl_rec *carom__curl_rec_under(const struct carom__curl_mrec *mr);
void carom__curl_prog_free(struct carom__curl_prog *p);
char *carom__curl_dup_str(const char *s);
void carom__curl_set_canned(struct carom__curl_rec *r, long status);

/* ---- curl_opt.c: what the program set: option capture */
union carom__curl_arg carom__curl_take_arg(int opt, va_list *ap);
CURLcode carom__curl_fwd_setopt(CURL *h, int opt, union carom__curl_arg a);
bool carom__curl_overridden(const struct carom__curl_rec *r, int opt);
void carom__curl_record(struct carom__curl_prog *p, int opt, union carom__curl_arg a);
bool carom__curl_tracked_opt(int opt);

/* ---- curl_url.c: URL handling (pure: no libcurl call, no state) */
bool carom__curl_parse_url(const char *s, long port_opt, struct carom__curl_url *u);
void carom__curl_ep_key(char *buf, size_t len, const char *host, bool v6, uint16_t port);

/* ---- curl_body.c: the body hold-back and the trampolines libcurl calls */
bool carom__curl_log_add(struct carom__curl_hlog *l, int kind, const char *buf, size_t len);
void carom__curl_log_clear(struct carom__curl_rec *r);
bool carom__curl_commit(struct carom__curl_rec *r);
bool carom__curl_method_ok(const struct carom__curl_rec *r);
bool carom__curl_reads_body(const struct carom__curl_rec *r);
void carom__curl_final_block(struct carom__curl_rec *r, long code);
size_t carom__curl_tr_header(char *buf, size_t size, size_t nitems, void *ud);
size_t carom__curl_tr_write(char *buf, size_t size, size_t nitems, void *ud);
size_t carom__curl_tr_read(char *buf, size_t size, size_t nitems, void *ud);
int carom__curl_tr_seek(void *ud, curl_off_t off, int origin);
bool carom__curl_rewind_upload(struct carom__curl_rec *r);

/* ---- curl_shot.c: the shot: one program-visible transfer and all its attempts */
bool carom__curl_shot_gate(struct carom__curl_rec *r);
bool carom__curl_shot_begin(struct carom__curl_rec *r);
void carom__curl_shot_restore(struct carom__curl_rec *r);
void carom__curl_shot_end(struct carom__curl_rec *r, CURLcode rc);
void carom__curl_prep_attempt(struct carom__curl_rec *r);
int carom__curl_plan(struct carom__curl_rec *r, CURLcode rc, uint32_t *delay);
int carom__curl_attempt_end(struct carom__curl_rec *r, CURLcode rc, CURLcode *out, uint32_t *delay);
int carom__curl_attempt_start(struct carom__curl_rec *r, CURLcode *rc);
bool carom__curl_chaos_http(struct carom__curl_rec *r, CURLcode *got);

/* ---- curl_multi.c: the curl_multi_* hooks and the retry schedule */
void carom__curl_unschedule(struct carom__curl_mrec *mr, struct carom__curl_rec *r);
void carom__curl_drop_msgs(struct carom__curl_mrec *mr, CURL *h);

#endif
