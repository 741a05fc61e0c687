/* curl_opt.c: option capture. Mirrors what libcurl's setopt does with the options that
 * matter to a retry (the callbacks, the method, the body's source, the URL, timeouts), so the
 * trampolines can do what libcurl would have done, and forwards each option by its type. It
 * must never call back into the program, and never keep an option from libcurl except one a
 * running shot stands in for (carom__curl_overridden), which libcurl gets when the shot ends. */
#include "curl_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The one argument of a setopt, of the type the option's number range says. */
union carom__curl_arg carom__curl_take_arg(int opt, va_list *ap)
{
    union carom__curl_arg a;
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

CURLcode carom__curl_fwd_setopt(CURL *h, int opt, union carom__curl_arg a)
{
    if (opt < CURLOPTTYPE_OBJECTPOINT) return carom__curl.easy_setopt(h, (CURLoption)opt, a.l);
    if (opt < CURLOPTTYPE_FUNCTIONPOINT) return carom__curl.easy_setopt(h, (CURLoption)opt, a.p);
    if (opt < CURLOPTTYPE_OFF_T) return carom__curl.easy_setopt(h, (CURLoption)opt, a.f);
    if (opt < CURLOPTTYPE_BLOB) return carom__curl.easy_setopt(h, (CURLoption)opt, a.o);
    return carom__curl.easy_setopt(h, (CURLoption)opt, a.p);
}

/* Options libcurl must not see from the program while a shot runs: the trampolines and
 * the values carom sets per attempt stand in for them until the shot ends. */
bool carom__curl_overridden(const struct carom__curl_rec *r, int opt)
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
void carom__curl_record(struct carom__curl_prog *p, int opt, union carom__curl_arg a)
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
        p->url = carom__curl_dup_str(a.p);
        break;
    case CURLOPT_CURLU:
        p->curlu = a.p != NULL;
        break;
    case CURLOPT_PORT:
        p->port = a.l;
        break;
    case CURLOPT_CUSTOMREQUEST:
        free(p->custom);
        p->custom = carom__curl_dup_str(a.p);
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

bool carom__curl_tracked_opt(int opt)
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
