/* fuzz_event_encode.c: libFuzzer target for the scoreboard's event encoder. Any field
 * contents (bytes of any value, any length) must encode to valid JSON of at most 512
 * bytes, with no userinfo or query string from an endpoint. It must never send, write
 * files or print. */
#include "../../shim/events.c"

#include <stdlib.h>

/* The emitter's process state, which the encoder never touches. */
struct carom__real_calls carom__real;
struct carom__global carom__g;
bool carom__vfork_child(void)
{
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A small JSON checker: one object of "key": string | integer pairs, nothing after it. */
static const char *skip_str(const char *p, const char *end)
{
    if (p >= end || *p != '"')
        return NULL;
    for (p++; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return NULL;
        if (c == '\\') {
            if (++p >= end)
                return NULL;
            if (*p == 'u') {
                for (int i = 0; i < 4; i++)
                    if (++p >= end || !strchr("0123456789abcdefABCDEF", *p))
                        return NULL;
            } else if (!strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
    }
    return NULL;
}

static bool valid_json(const char *p, size_t n)
{
    const char *end = p + n;
    if (p >= end || *p++ != '{')
        return false;
    for (bool first = true;; first = false) {
        if (p < end && *p == '}')
            return !first || p + 1 == end ? p + 1 == end : false;
        if (!first && (p >= end || *p++ != ','))
            return false;
        if (!(p = skip_str(p, end)) || p >= end || *p++ != ':')
            return false;
        if (p < end && *p == '"') {
            if (!(p = skip_str(p, end)))
                return false;
        } else {
            const char *d = p;
            if (p < end && *p == '-')
                p++;
            while (p < end && *p >= '0' && *p <= '9')
                p++;
            if (p == d || (p == d + 1 && *d == '-'))
                return false;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Six NUL-separated strings, then numbers from whatever bytes are left. */
    char *copy = malloc(size + 7);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    memset(copy + size, 0, 7);
    const char *f[6];
    size_t off = 0;
    for (int i = 0; i < 6; i++) {
        f[i] = copy + (off <= size ? off : size);
        off += strlen(f[i]) + 1;
    }
    int64_t nums[3] = {0, -1, -1};
    for (int i = 0; i < 3 && off + 8 <= size; i++, off += 8)
        memcpy(&nums[i], data + off, 8);
    struct carom__event ev = {.event = f[0], .policy = f[1], .endpoint = f[2], .call = f[3],
                             .error = f[4][0] ? f[4] : NULL, .detail = f[5][0] ? f[5] : NULL,
                             .attempt = (int)nums[0], .delay_ms = nums[1], .elapsed_ms = nums[2]};
    char out[EVENT_MAX];
    size_t n = carom__event_encode(&ev, (uint64_t)nums[0], out, sizeof out);
    if (n >= EVENT_MAX || n != strlen(out) || !valid_json(out, n))
        abort();
    /* The endpoint field is host:port: no userinfo, path, query or fragment survives. */
    const char *e = strstr(out, "\"endpoint\":\"");
    if (e)
        for (e += 12; *e && *e != '"'; e++) {
            if (*e == '\\')
                e++;
            else if (*e == '@' || *e == '?' || *e == '/' || *e == '#')
                abort();
        }
    free(copy);
    return 0;
}
