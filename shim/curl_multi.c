/* curl_multi.c: the curl_multi_* hooks: a transfer under a multi handle is retried by
 * removing it and adding it again when its delay is due, with the program's own loop (its
 * perform, socket_action, poll or wait and its timer callback) doing the waiting; the
 * program reads one message per transfer, its final one. It must never sleep inside the
 * program's multi loop, and never hand the program a message for an attempt it retries. */
#include "curl_int.h"

#include <stdlib.h>
#include <string.h>

void carom__curl_unschedule(struct carom__curl_mrec *mr, struct carom__curl_rec *r)
{
    if (!r->scheduled) return;
    for (struct carom__curl_rec **pp = &mr->sched; *pp; pp = &(*pp)->snext) {
        if (*pp == r) {
            *pp = r->snext;
            break;
        }
    }
    r->scheduled = false;
    r->snext = NULL;
    mr->nsched--;
}

void carom__curl_drop_msgs(struct carom__curl_mrec *mr, CURL *h)
{
    size_t w = mr->qhead;
    for (size_t i = mr->qhead; i < mr->qn; i++)
        if (mr->q[i].easy_handle != h) mr->q[w++] = mr->q[i];
    mr->qn = w;
}

/* ---- curl_multi_* ------------------------------------------------------------------------ */

static void queue_msg(struct carom__curl_mrec *mr, CURL *h, CURLMSG what, CURLcode rc)
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
static long sched_wait_ms(struct carom__curl_mrec *mr, long lib_ms)
{
    if (mr->fresh) return 0;
    if (!mr->nsched) return lib_ms;
    uint64_t due = UINT64_MAX;
    for (struct carom__curl_rec *r = mr->sched; r; r = r->snext)
        if (r->due_ms < due) due = r->due_ms;
    uint64_t now = carom__now_ms();
    long d = due <= now ? 0 : (long)(due - now > 0x7fffffff ? 0x7fffffff : due - now);
    return lib_ms < 0 || d < lib_ms ? d : lib_ms;
}

/* Tells an event-driven program (CURLMOPT_TIMERFUNCTION) when to call
 * curl_multi_socket_action next: libcurl's own timer or carom's schedule, whichever is
 * sooner. forced: libcurl just set its timer, so the program must hear about it. */
static int tell_timer(struct carom__curl_mrec *mr, bool forced)
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
    struct carom__curl_mrec *mr = ud;
    (void)m;
    mr->lib_due_set = ms >= 0;
    mr->lib_due = carom__now_ms() + (ms > 0 ? (uint64_t)ms : 0);
    return tell_timer(mr, true);
}

static void schedule(struct carom__curl_mrec *mr, struct carom__curl_rec *r, uint64_t due)
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
static void finish(struct carom__curl_mrec *mr, struct carom__curl_rec *r, CURLcode rc)
{
    carom__curl_shot_end(r, rc);
    r->m = NULL;
    mr->nguard--;
    queue_msg(mr, r->h, CURLMSG_DONE, rc);
}

static void on_done(struct carom__curl_mrec *mr, struct carom__curl_rec *r, CURLcode got);

static CURLMcode real_add(struct carom__curl_mrec *mr, struct carom__curl_rec *r)
{
    CURLcode got;
    if (carom__curl_chaos_http(r, &got)) {
        /* Answered without a transfer: it ends (or is rescheduled) here, and the program
         * reads the outcome from its next info_read. */
        r->added = false;
        on_done(mr, r, got);
        mr->fresh = true;
        return CURLM_OK;
    }
    carom__curl_inside++;
    CURLMcode mc = carom__curl.multi_add_handle(mr->m, r->h);
    carom__curl_inside--;
    r->added = mc == CURLM_OK;
    return mc;
}

/* limit: a multi transfer's attempt, prepared, takes its token without waiting: when the
 * token is due later the attempt is scheduled for then; when none can be had the transfer
 * ends as a refused one does in the easy interface. True when it may start now. */
static bool limit_multi(struct carom__curl_mrec *mr, struct carom__curl_rec *r)
{
    uint32_t wait = 0;
    if (carom__limit_curl_reserve(r->pol, r->slot, r->ep, &r->shot.clk, r->p.errbuf,
                                  CURL_ERROR_SIZE, &wait) != 0) {
        r->limit_state = 2;
        schedule(mr, r, carom__now_ms());
        return false;
    }
    if (wait) {
        r->limit_state = 1;
        schedule(mr, r, carom__now_ms() + wait);
        return false;
    }
    return true;
}

/* Starts the next attempt of every scheduled transfer that is due. */
static void readd_due(struct carom__curl_mrec *mr)
{
    if (!mr->nsched) return;
    uint64_t now = carom__now_ms();
    for (struct carom__curl_rec **pp = &mr->sched; *pp;) {
        struct carom__curl_rec *r = *pp;
        if (r->due_ms > now) {
            pp = &r->snext;
            continue;
        }
        *pp = r->snext;
        r->scheduled = false;
        r->snext = NULL;
        mr->nsched--;
        CURLcode rc = CURLE_OK;
        if (r->limit_state == 2) { /* limit: refused; never sent, no outcome to record */
            r->limit_state = 0;
            if (r->n <= 1) r->ended_any = false;
            r->last_err = "rate limited";
            finish(mr, r, r->committed ? r->first_fail : CURLE_COULDNT_CONNECT);
            mr->fresh = true;
            continue;
        }
        if (r->limit_state == 1) { /* limit: its token is due now */
            r->limit_state = 0;
        } else if (carom__curl_attempt_start(r, &rc) == ACT_DONE) {
            finish(mr, r, rc);
            mr->fresh = true;
            continue;
        } else if (!limit_multi(mr, r)) {
            continue;
        }
        if (real_add(mr, r) != CURLM_OK) {
            finish(mr, r, CURLE_FAILED_INIT);
            mr->fresh = true;
        }
    }
}

/* A guarded transfer's attempt ended: retry it later, or let the program see it end. */
static void on_done(struct carom__curl_mrec *mr, struct carom__curl_rec *r, CURLcode got)
{
    CURLcode rc;
    uint32_t delay;
    int act = carom__curl_attempt_end(r, got, &rc, &delay);
    if (act == ACT_DONE) {
        finish(mr, r, rc);
        return;
    }
    if (r->added) {
        carom__curl_inside++;
        carom__curl.multi_remove_handle(mr->m, r->h);
        carom__curl_inside--;
        r->added = false;
    }
    schedule(mr, r, carom__now_ms() + delay);
}

static struct carom__curl_rec *guarded_in(struct carom__curl_mrec *mr, CURL *h)
{
    struct carom__curl_rec *r = carom__curl_rec_find(h);
    return r && r->in_shot && r->m == mr ? r : NULL;
}

/* Takes every message libcurl has, so that retried transfers' ends are never seen. */
static void drain(struct carom__curl_mrec *mr)
{
    for (;;) {
        int left = 0;
        carom__curl_inside++;
        CURLMsg *msg = carom__curl.multi_info_read(mr->m, &left);
        carom__curl_inside--;
        if (!msg) return;
        CURLMSG what = msg->msg;
        CURL *h = msg->easy_handle;
        CURLcode rc = msg->data.result;
        struct carom__curl_rec *r = what == CURLMSG_DONE ? guarded_in(mr, h) : NULL;
        if (r && r->added)
            on_done(mr, r, rc);
        else
            queue_msg(mr, h, what, rc);
    }
}

static CURLMcode carom_curl_multi_add_handle(CURLM *m, CURL *h)
{
    if (carom__curl_inside) return carom__curl.multi_add_handle(m, h);
    carom__curl_bind_now();
    if (!carom__curl.multi_add_handle) return CURLM_INTERNAL_ERROR;
    struct carom__curl_rec *r = carom__curl_can_guard() ? carom__curl_rec_find(h) : NULL;
    if (!r) PASS(CURLMcode, carom__curl.multi_add_handle(m, h));
    if (r->in_shot) return CURLM_ADDED_ALREADY;
    struct carom__curl_mrec *mr = carom__curl_mrec_get(m);
    if (!mr || !carom__curl_shot_begin(r)) PASS(CURLMcode, carom__curl.multi_add_handle(m, h));
    r->m = mr;
    r->shot.env.herd = NULL; /* a multi transfer never waits on the herd: it must not block */
    r->added = false;
    mr->nguard++;
    carom__curl_drop_msgs(mr, h);
    if (!carom__curl_shot_gate(r)) {
        /* The open circuit's answer is given where the program reads its messages. */
        schedule(mr, r, carom__now_ms());
        tell_timer(mr, false);
        return CURLM_OK;
    }
    carom__curl_prep_attempt(r);
    r->n++;
    r->limit_state = 0;
    if (!limit_multi(mr, r)) { /* limit: started (or refused) from the program's loop */
        tell_timer(mr, false);
        return CURLM_OK;
    }
    CURLMcode mc = real_add(mr, r);
    if (mc != CURLM_OK) {
        carom_shot_abandon(&r->shot);
        carom__curl_shot_restore(r);
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
    if (carom__curl_inside) return carom__curl.multi_remove_handle(m, h);
    carom__curl_bind_now();
    if (!carom__curl.multi_remove_handle) return CURLM_INTERNAL_ERROR;
    struct carom__curl_mrec *mr = carom__curl_mrec_find(m);
    if (!mr) PASS(CURLMcode, carom__curl.multi_remove_handle(m, h));
    carom__curl_drop_msgs(mr, h);
    struct carom__curl_rec *r = guarded_in(mr, h);
    if (!r) {
        carom__curl_inside++;
        CURLMcode mc = carom__curl.multi_remove_handle(m, h);
        carom__curl_inside--;
        return mc;
    }
    /* The program gives up on a transfer still under way (or waiting for its retry). */
    carom__curl_unschedule(mr, r);
    bool was_added = r->added;
    CURLMcode mc = CURLM_OK;
    if (was_added) {
        carom__curl_inside++;
        mc = carom__curl.multi_remove_handle(m, h);
        carom__curl_inside--;
    }
    r->ended_any = false; /* given up on: no outcome to record */
    carom__curl_shot_end(r, CURLE_ABORTED_BY_CALLBACK);
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
        carom__curl_inside++;                                                                      \
        if (g_) carom__curl_depth++;                                                               \
        expr;                                                                                      \
        if (g_) carom__curl_depth--;                                                               \
        carom__curl_inside--;                                                                      \
    } while (0)

static CURLMcode carom_curl_multi_perform(CURLM *m, int *running)
{
    if (carom__curl_inside) return carom__curl.multi_perform(m, running);
    carom__curl_bind_now();
    if (!carom__curl.multi_perform) return CURLM_INTERNAL_ERROR;
    struct carom__curl_mrec *mr = carom__curl_mrec_find(m);
    if (!mr) PASS(CURLMcode, carom__curl.multi_perform(m, running));
    readd_due(mr);
    CURLMcode mc;
    int run = 0;
    MULTI_CALL(mr, mc = carom__curl.multi_perform(m, &run));
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
    if (carom__curl_inside) return carom__curl.multi_socket_action(m, s, ev, running);
    carom__curl_bind_now();
    if (!carom__curl.multi_socket_action) return CURLM_INTERNAL_ERROR;
    struct carom__curl_mrec *mr = carom__curl_mrec_find(m);
    if (!mr) PASS(CURLMcode, carom__curl.multi_socket_action(m, s, ev, running));
    if (s == CURL_SOCKET_TIMEOUT) mr->told_set = false; /* the program's timer fired */
    readd_due(mr);
    CURLMcode mc;
    int run = 0;
    MULTI_CALL(mr, mc = carom__curl.multi_socket_action(m, s, ev, &run));
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
    if (carom__curl_inside) return carom__curl.multi_info_read(m, left);
    carom__curl_bind_now();
    if (!carom__curl.multi_info_read) return NULL;
    struct carom__curl_mrec *mr = carom__curl_mrec_find(m);
    if (!mr) PASS(CURLMsg *, carom__curl.multi_info_read(m, left));
    for (;;) {
        if (mr->qhead < mr->qn) {
            mr->cur = mr->q[mr->qhead++];
            if (left) *left = (int)(mr->qn - mr->qhead);
            return &mr->cur;
        }
        carom__curl_inside++;
        CURLMsg *msg = carom__curl.multi_info_read(m, left);
        carom__curl_inside--;
        if (!msg) return NULL;
        struct carom__curl_rec *r =
            msg->msg == CURLMSG_DONE ? guarded_in(mr, msg->easy_handle) : NULL;
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
    if (carom__curl_inside) return carom__curl.multi_cleanup(m);
    carom__curl_bind_now();
    if (!carom__curl.multi_cleanup) return CURLM_INTERNAL_ERROR;
    struct carom__curl_mrec *mr = carom__curl_mrec_find(m);
    if (!mr) PASS(CURLMcode, carom__curl.multi_cleanup(m));
    carom__curl_inside++;
    CURLMcode mc = carom__curl.multi_cleanup(m);
    carom__curl_inside--;
    if (mc != CURLM_OK) return mc;
    carom__curl_mrec_take(m);
    /* Transfers still under way or waiting for a retry end with the multi. */
    struct carom__curl_rec *list = carom__curl_rec_under(mr);
    while (list) {
        struct carom__curl_rec *r = list;
        list = r->snext;
        r->snext = NULL;
        r->scheduled = r->added = false;
        r->ended_any = false;
        if (r->in_shot) carom__curl_shot_end(r, CURLE_ABORTED_BY_CALLBACK);
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
    if (carom__curl_inside) return carom__curl.multi_poll(m, fds, n, ms, ready);
    carom__curl_bind_now();
    if (!carom__curl.multi_poll) return CURLM_INTERNAL_ERROR;
    struct carom__curl_mrec *mr = carom__curl_mrec_find(m);
    if (!mr) PASS(CURLMcode, carom__curl.multi_poll(m, fds, n, ms, ready));
    int t = (int)sched_wait_ms(mr, ms);
    carom__curl_inside++;
    CURLMcode mc = carom__curl.multi_poll(m, fds, n, t, ready);
    carom__curl_inside--;
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
    if (carom__curl_inside) return carom__curl.multi_wait(m, fds, n, ms, ready);
    carom__curl_bind_now();
    if (!carom__curl.multi_wait) return CURLM_INTERNAL_ERROR;
    struct carom__curl_mrec *mr = carom__curl_mrec_find(m);
    if (!mr) PASS(CURLMcode, carom__curl.multi_wait(m, fds, n, ms, ready));
    int t = (int)sched_wait_ms(mr, ms);
    carom__curl_inside++;
    CURLMcode mc = carom__curl.multi_wait(m, fds, n, t, ready);
    carom__curl_inside--;
    return mc;
}

CAROM_EXPORT CURLMcode curl_multi_wait(CURLM *m, struct curl_waitfd *fds, unsigned n, int ms,
                                       int *ready)
{
    return carom_curl_multi_wait(m, fds, n, ms, ready);
}

static CURLMcode carom_curl_multi_timeout(CURLM *m, long *ms)
{
    if (carom__curl_inside) return carom__curl.multi_timeout(m, ms);
    carom__curl_bind_now();
    if (!carom__curl.multi_timeout) return CURLM_INTERNAL_ERROR;
    struct carom__curl_mrec *mr = carom__curl_mrec_find(m);
    if (!mr) PASS(CURLMcode, carom__curl.multi_timeout(m, ms));
    carom__curl_inside++;
    CURLMcode mc = carom__curl.multi_timeout(m, ms);
    carom__curl_inside--;
    if (mc == CURLM_OK && ms) *ms = sched_wait_ms(mr, *ms);
    return mc;
}

CAROM_EXPORT CURLMcode curl_multi_timeout(CURLM *m, long *ms)
{
    return carom_curl_multi_timeout(m, ms);
}

static CURLMcode fwd_msetopt(CURLM *m, int opt, union carom__curl_arg a)
{
    if (opt < CURLOPTTYPE_OBJECTPOINT) return carom__curl.multi_setopt(m, (CURLMoption)opt, a.l);
    if (opt < CURLOPTTYPE_FUNCTIONPOINT) return carom__curl.multi_setopt(m, (CURLMoption)opt, a.p);
    if (opt < CURLOPTTYPE_OFF_T) return carom__curl.multi_setopt(m, (CURLMoption)opt, a.f);
    return carom__curl.multi_setopt(m, (CURLMoption)opt, a.o);
}

/* The timer callback goes through a trampoline, so that an event-driven program hears of
 * a retry that is due as it hears of libcurl's own timeouts. */
static CURLMcode carom_curl_multi_setopt(CURLM *m, CURLMoption opt, union carom__curl_arg a)
{
    carom__curl_bind_now();
    if (!carom__curl.multi_setopt) return CURLM_INTERNAL_ERROR;
    if (carom__curl_inside || (opt != CURLMOPT_TIMERFUNCTION && opt != CURLMOPT_TIMERDATA) ||
        !carom__curl_can_guard())
        return fwd_msetopt(m, opt, a);
    struct carom__curl_mrec *mr = carom__curl_mrec_get(m);
    if (!mr) return fwd_msetopt(m, opt, a);
    if (opt == CURLMOPT_TIMERDATA) {
        mr->timer_data = a.p;
        return mr->timer_fn ? CURLM_OK : fwd_msetopt(m, opt, a);
    }
    mr->timer_fn = (curl_multi_timer_callback)a.f;
    if (!mr->timer_fn) {
        CURLMcode mc =
            carom__curl.multi_setopt(m, CURLMOPT_TIMERFUNCTION, (curl_multi_timer_callback)NULL);
        if (mc == CURLM_OK) mc = carom__curl.multi_setopt(m, CURLMOPT_TIMERDATA, mr->timer_data);
        return mc;
    }
    CURLMcode mc = carom__curl.multi_setopt(m, CURLMOPT_TIMERFUNCTION, tr_timer);
    if (mc == CURLM_OK) mc = carom__curl.multi_setopt(m, CURLMOPT_TIMERDATA, (void *)mr);
    return mc;
}

CAROM_EXPORT CURLMcode curl_multi_setopt(CURLM *m, CURLMoption opt, ...)
{
    va_list ap;
    va_start(ap, opt);
    union carom__curl_arg a = carom__curl_take_arg(opt, &ap);
    va_end(ap);
    return carom_curl_multi_setopt(m, opt, a);
}
