/* http.c: the few HTTP header lines the libcurl layer reads itself (the status line,
 * Accept-Ranges, Content-Range), as pure functions over libcurl's header buffers, which
 * are not NUL-terminated. They must never read past len, allocate, or trust a digit run
 * to fit. (Retry-After is libcurl's: CURLINFO_RETRY_AFTER parses both of its forms.) */
#include "carom_shim.h"

#include <string.h>
#include <strings.h>

static bool prefix(const char *buf, size_t len, const char *p, size_t n)
{
    return len >= n && strncasecmp(buf, p, n) == 0;
}

long carom__http_status(const char *buf, size_t len)
{
    if (len <= 5 || !prefix(buf, len, "HTTP/", 5)) return 0;
    const char *s = memchr(buf, ' ', len);
    if (!s || s + 4 > buf + len || s[1] < '1' || s[1] > '9' || s[2] < '0' || s[2] > '9' ||
        s[3] < '0' || s[3] > '9')
        return 0;
    return (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
}

bool carom__http_accept_ranges(const char *buf, size_t len)
{
    if (len <= 14 || !prefix(buf, len, "Accept-Ranges:", 14)) return false;
    const char *v = buf + 14, *end = buf + len;
    while (v < end && *v == ' ')
        v++;
    return end - v >= 5 && strncasecmp(v, "bytes", 5) == 0;
}

int64_t carom__http_content_range_start(const char *buf, size_t len)
{
    if (len <= 20 || !prefix(buf, len, "Content-Range:", 14)) return -1;
    const char *s = buf + 14, *end = buf + len;
    while (s < end && *s == ' ')
        s++;
    if (end - s <= 6 || strncasecmp(s, "bytes ", 6) != 0) return -1;
    int64_t v = 0;
    const char *d = s + 6;
    for (; d < end && *d >= '0' && *d <= '9'; d++) {
        if (v > (INT64_MAX - 9) / 10)
            return -1; /* more digits than any offset: not a range we can resume at */
        v = v * 10 + (*d - '0');
    }
    return d > s + 6 ? v : -1;
}
