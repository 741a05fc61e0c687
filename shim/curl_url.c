/* curl_url.c: URL handling for the libcurl layer: the scheme, host and port of a transfer's
 * URL, and the "host:port" key its cushion and events use. Pure: no libcurl call, no state,
 * no allocation, so it can be tested or fuzzed alone. It must never put a URL's path, query
 * string or userinfo in a key. */
#include "curl_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* http and https only: the other schemes libcurl speaks have no statuses to retry on and
 * keep the socket layer's own retries. A URL without a scheme is http, as libcurl guesses,
 * unless its host names another protocol the way libcurl's guess looks for. */
bool carom__curl_parse_url(const char *s, long port_opt, struct carom__curl_url *u)
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

void carom__curl_ep_key(char *buf, size_t len, const char *host, bool v6, uint16_t port)
{
    if (v6)
        snprintf(buf, len, "[%.80s]:%u", host, port);
    else
        snprintf(buf, len, "%.80s:%u", host, port);
}
