/* curl_real.c: binds the real libcurl, the one the program uses, by dlsym at the first
 * libcurl call a hook sees. It must never link or load libcurl (a process without one never
 * gets past carom__curl_can_guard), and never bind before a hook runs. */
#include "curl_int.h"

#include <dlfcn.h>

struct carom__curl_syms carom__curl;
pthread_once_t carom__curl_bind_once = PTHREAD_ONCE_INIT;
__thread int carom__curl_inside;
__thread int carom__curl_depth;

void carom__curl_bind(void)
{
    /* The libcurl the program uses is normally next in the global search order. One that
     * was dlopen()ed with RTLD_LOCAL (a PHP or Python extension) is not: find it by its
     * soname, without loading anything. */
    void *lib = RTLD_NEXT;
    if (!dlsym(RTLD_NEXT, "curl_easy_perform")) {
        static const char *const names[] = {"libcurl.so.4", "libcurl-gnutls.so.4",
                                            "libcurl-nss.so.4", "libcurl.so.3"};
        lib = NULL;
        for (size_t i = 0; i < sizeof names / sizeof names[0] && !lib; i++)
            lib = dlopen(names[i], RTLD_LAZY | RTLD_NOLOAD);
        if (!lib) return;
    }
#define L(field, name) *(void **)&carom__curl.field = dlsym(lib, name)
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

bool carom__curl_can_guard(void)
{
    carom__init();
    return carom__g.active && carom__curl.easy_setopt && carom__curl.easy_perform &&
           carom__curl.easy_getinfo && carom__curl.multi_add_handle &&
           carom__curl.multi_remove_handle && carom__curl.multi_info_read;
}
