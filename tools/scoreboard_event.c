/* scoreboard_event.c: parses one scoreboard event (one JSON object on one line,
 * docs/scoreboard.md) into a struct carom__sb_event. It must never read past the string's
 * end, and never let a field overflow: each is cut to fit; malformed input is refused, not
 * guessed at. */
#include "scoreboard_int.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Reads a JSON string at *p (after its opening quote) into out (UTF-8, NUL-terminated,
 * cut to fit); false on malformed input. */
static bool json_string(const char **p, char *out, size_t cap)
{
    const char *s = *p;
    size_t n = 0;
    for (;;) {
        unsigned c = (unsigned char)*s++;
        if (c == 0 || c < 0x20) return false;
        if (c == '"') break;
        char tmp[4];
        size_t k = 1;
        tmp[0] = (char)c;
        if (c == '\\') {
            c = (unsigned char)*s++;
            switch (c) {
            case '"':
            case '\\':
            case '/':
                tmp[0] = (char)c;
                break;
            case 'b':
                tmp[0] = '\b';
                break;
            case 'f':
                tmp[0] = '\f';
                break;
            case 'n':
                tmp[0] = '\n';
                break;
            case 'r':
                tmp[0] = '\r';
                break;
            case 't':
                tmp[0] = '\t';
                break;
            case 'u': {
                unsigned cp = 0;
                for (int i = 0; i < 4; i++) {
                    char h = *s++;
                    cp <<= 4;
                    if (h >= '0' && h <= '9')
                        cp |= (unsigned)(h - '0');
                    else if (h >= 'a' && h <= 'f')
                        cp |= (unsigned)(h - 'a' + 10);
                    else if (h >= 'A' && h <= 'F')
                        cp |= (unsigned)(h - 'A' + 10);
                    else
                        return false;
                }
                if (cp >= 0xd800 && cp <= 0xdfff)
                    cp = 0xfffd; /* surrogates: carom never sends them; show a placeholder */
                if (cp < 0x80) {
                    tmp[0] = (char)cp;
                } else if (cp < 0x800) {
                    tmp[0] = (char)(0xc0 | (cp >> 6));
                    tmp[1] = (char)(0x80 | (cp & 0x3f));
                    k = 2;
                } else {
                    tmp[0] = (char)(0xe0 | (cp >> 12));
                    tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
                    tmp[2] = (char)(0x80 | (cp & 0x3f));
                    k = 3;
                }
                break;
            }
            default:
                return false;
            }
        }
        if (n + k < cap) {
            memcpy(out + n, tmp, k);
            n += k;
        }
    }
    out[n] = 0;
    *p = s;
    return true;
}

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    return s;
}

/* Parses one flat JSON object as the shims send it. Unknown keys are skipped (a newer
 * shim may add fields); nested values make the datagram invalid. */
bool carom__sb_parse_event(const char *s, struct carom__sb_event *e)
{
    memset(e, 0, sizeof *e);
    e->delay_ms = e->elapsed_ms = -1;
    s = skip_ws(s);
    if (*s++ != '{') return false;
    s = skip_ws(s);
    if (*s == '}') return false;
    for (;;) {
        char key[32], sval[512];
        if (*s++ != '"' || !json_string(&s, key, sizeof key)) return false;
        s = skip_ws(s);
        if (*s++ != ':') return false;
        s = skip_ws(s);
        if (*s == '"') {
            s++;
            if (!json_string(&s, sval, sizeof sval)) return false;
            struct {
                const char *k;
                char *dst;
                size_t cap;
            } f[] = {{"event", e->event, sizeof e->event},
                     {"policy", e->policy, sizeof e->policy},
                     {"endpoint", e->endpoint, sizeof e->endpoint},
                     {"call", e->call, sizeof e->call},
                     {"error", e->error, sizeof e->error},
                     {"detail", e->detail, sizeof e->detail}};
            for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
                if (strcmp(key, f[i].k) == 0) snprintf(f[i].dst, f[i].cap, "%s", sval);
        } else if (*s == '-' || (*s >= '0' && *s <= '9')) {
            char *end;
            errno = 0;
            long long v = strtoll(s, &end, 10);
            if (end == s || errno) v = 0;
            if (*end == '.' || *end == 'e' || *end == 'E')
                (void)strtod(s, &end); /* not ours, but valid JSON */
            s = end;
            if (strcmp(key, "pid") == 0)
                e->pid = v;
            else if (strcmp(key, "attempt") == 0)
                e->attempt = v;
            else if (strcmp(key, "delay_ms") == 0)
                e->delay_ms = v;
            else if (strcmp(key, "elapsed_ms") == 0)
                e->elapsed_ms = v;
            else if (strcmp(key, "dropped") == 0)
                e->dropped = v;
        } else if (strncmp(s, "true", 4) == 0 || strncmp(s, "null", 4) == 0) {
            s += 4;
        } else if (strncmp(s, "false", 5) == 0) {
            s += 5;
        } else {
            return false;
        }
        s = skip_ws(s);
        if (*s == '}') break;
        if (*s++ != ',') return false;
        s = skip_ws(s);
    }
    s = skip_ws(s + 1);
    return *s == 0 && e->event[0];
}
