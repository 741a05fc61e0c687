/* curl_easy.c: the curl_easy_* hooks: setopt, perform (the whole shot, sleeping between
 * attempts), reset, duphandle, cleanup and getinfo. It must never link libcurl (every real
 * call goes through carom__curl), and never act on a handle when a piece of libcurl is
 * missing: then every call passes through. */
#include "curl_int.h"

#include <stdlib.h>
#include <string.h>

static CURLcode carom_curl_easy_setopt(CURL *h, CURLoption opt, union carom__curl_arg a)
{
    carom__curl_bind_now();
    if (!carom__curl.easy_setopt) return CURLE_FAILED_INIT;
    if (carom__curl_inside || !carom__curl_tracked_opt(opt) || !carom__curl_can_guard())
        return carom__curl_fwd_setopt(h, opt, a); /* setopt never calls back into libcurl's API */
    struct carom__curl_rec *r = carom__curl_rec_get(h);
    if (!r) return carom__curl_fwd_setopt(h, opt, a);
    if (r->in_shot && carom__curl_overridden(r, opt)) {
        carom__curl_record(&r->p, opt, a);
        return CURLE_OK;
    }
    CURLcode rc = carom__curl_fwd_setopt(h, opt, a);
    if (rc == CURLE_OK) carom__curl_record(&r->p, opt, a);
    return rc;
}

/* The one variadic argument is read by its option's type range, then forwarded as such. */
CAROM_EXPORT CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
    va_list ap;
    va_start(ap, opt);
    union carom__curl_arg a = carom__curl_take_arg(opt, &ap);
    va_end(ap);
    return carom_curl_easy_setopt(h, opt, a);
}

static CURLcode real_perform(CURL *h)
{
    carom__curl_inside++;
    CURLcode rc = carom__curl.easy_perform(h);
    carom__curl_inside--;
    return rc;
}

static CURLcode carom_curl_easy_perform(CURL *h)
{
    if (carom__curl_inside) return carom__curl.easy_perform(h);
    carom__curl_bind_now();
    if (!carom__curl.easy_perform) return CURLE_FAILED_INIT;
    struct carom__curl_rec *r = carom__curl_can_guard() ? carom__curl_rec_find(h) : NULL;
    if (!r || r->in_shot || !carom__curl_shot_begin(r)) return real_perform(h);
    CURLcode rc = CURLE_OK;
    for (;;) {
        if (carom__curl_attempt_start(r, &rc) == ACT_DONE) break;
        CURLcode got;
        if (!carom__curl_chaos_http(r, &got)) { /* the real-call boundary: chaos answers instead */
            carom__curl_depth++;
            got = real_perform(h);
            carom__curl_depth--;
        }
        uint32_t delay;
        int act = carom__curl_attempt_end(r, got, &rc, &delay);
        if (act == ACT_DONE) break;
        if (act == ACT_RETRY && delay) carom__sleep_ms(delay);
    }
    carom__curl_shot_end(r, rc);
    return rc;
}

CAROM_EXPORT CURLcode curl_easy_perform(CURL *h)
{
    return carom_curl_easy_perform(h);
}

static void carom_curl_easy_reset(CURL *h)
{
    if (carom__curl_inside) {
        carom__curl.easy_reset(h);
        return;
    }
    carom__curl_bind_now();
    if (!carom__curl.easy_reset) return;
    carom__curl_inside++;
    carom__curl.easy_reset(h);
    carom__curl_inside--;
    struct carom__curl_rec *r = carom__curl_rec_find(h);
    if (r && !r->in_shot) {
        carom__curl_prog_free(&r->p);
        carom__curl_set_canned(r, 0);
    }
}

CAROM_EXPORT void curl_easy_reset(CURL *h)
{
    carom_curl_easy_reset(h);
}

static CURL *carom_curl_easy_duphandle(CURL *h)
{
    if (carom__curl_inside) return carom__curl.easy_duphandle(h);
    carom__curl_bind_now();
    if (!carom__curl.easy_duphandle) return NULL;
    carom__curl_inside++;
    CURL *nh = carom__curl.easy_duphandle(h);
    carom__curl_inside--;
    struct carom__curl_rec *r = nh ? carom__curl_rec_find(h) : NULL;
    if (!r) return nh;
    struct carom__curl_rec *nr = carom__curl_rec_get(nh);
    if (!nr) return nh;
    carom__curl_prog_free(&nr->p);
    carom__curl_set_canned(nr, 0);
    nr->p = r->p;
    nr->p.url = carom__curl_dup_str(r->p.url);
    nr->p.custom = carom__curl_dup_str(r->p.custom);
    if (r->in_shot) { /* the copy got our trampolines and per-attempt values */
        struct carom__curl_rec tmp = *r;
        tmp.h = nh;
        tmp.pocket_url = NULL;
        tmp.log.buf = NULL;
        tmp.log.cap = tmp.log.n = 0;
        carom__curl_shot_restore(&tmp);
    }
    return nh;
}

CAROM_EXPORT CURL *curl_easy_duphandle(CURL *h)
{
    return carom_curl_easy_duphandle(h);
}

static void carom_curl_easy_cleanup(CURL *h)
{
    /* The record goes whoever calls: a later handle at the same address must not inherit
     * this one's callbacks. */
    struct carom__curl_rec *r = carom__curl_rec_take(h);
    if (CAROM_LIKELY(!r) && carom__curl_inside) {
        carom__curl.easy_cleanup(h);
        return;
    }
    carom__curl_bind_now();
    if (!carom__curl.easy_cleanup) return;
    if (r && r->m) {
        carom__curl_unschedule(r->m, r);
        carom__curl_drop_msgs(r->m, h);
        if (r->in_shot) r->m->nguard--;
    }
    carom__curl_inside++;
    carom__curl.easy_cleanup(h);
    carom__curl_inside--;
    if (r) {
        carom__curl_set_canned(r, 0);
        carom__curl_prog_free(&r->p);
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
    carom__curl_bind_now();
    if (!carom__curl.easy_getinfo) return CURLE_FAILED_INIT;
    if (CAROM_LIKELY(!atomic_load_explicit(&carom__curl_n_canned, memory_order_relaxed)) ||
        info != CURLINFO_RESPONSE_CODE || !arg)
        return carom__curl.easy_getinfo(h, info, arg);
    struct carom__curl_rec *r = carom__curl_rec_find(h);
    if (!r || !r->canned_status) return carom__curl.easy_getinfo(h, info, arg);
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
