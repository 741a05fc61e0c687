/* values.c: the key table and the built-in defaults (both instantiated from keys.def), the
 * small readers every value uses, and one value of a plain form (whole number,
 * milliseconds, probability, on/off, one word) read into its field and written back as
 * carom.ini spells it; the other forms are codecs.c's. It must never accept a value it
 * could not read whole (each problem is reported once, through diag.c), and never keep
 * state between calls. */
#include "policy_int.h"

#include <ctype.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* ---- small readers --------------------------------------------------------------------- */

bool carom__parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s) return false;
    for (unsigned n = 0; *s; s++, n++) {
        if (*s < '0' || *s > '9') return false;
        unsigned d = (unsigned)(*s - '0');
        /* v * 10 + d <= UINT64_MAX: 19 digits always fit, only longer ones are checked */
        if (n >= 19 && (v > UINT64_MAX / 10 || (v == UINT64_MAX / 10 && d > UINT64_MAX % 10)))
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* "12", "12.5", ".5": mantissa and count of decimals, so that no binary rounding happens
 * before we know the value is in range. */
bool carom__parse_decimal(const char *s, size_t len, uint64_t *mant, unsigned *frac,
                          unsigned maxfrac)
{
    uint64_t m = 0;
    unsigned f = 0, digits = 0;
    bool dot = false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.' && !dot) {
            dot = true;
            continue;
        }
        if (s[i] < '0' || s[i] > '9') return false;
        if (++digits > 18) return false;
        m = m * 10 + (uint64_t)(s[i] - '0');
        if (dot && ++f > maxfrac) return false;
    }
    if (digits == 0 || (dot && f == 0 && s[len - 1] == '.')) return false;
    *mant = m;
    *frac = f;
    return true;
}

uint64_t carom__pow10(unsigned n)
{
    uint64_t v = 1;
    while (n--)
        v *= 10;
    return v;
}

bool carom__parse_prob(const char *s, size_t len, double *out)
{
    uint64_t m;
    unsigned f;
    if (len == 1 && s[0] == '0') { /* how most chaos keys are written: off */
        *out = 0;
        return true;
    }
    if (!carom__parse_decimal(s, len, &m, &f, 9) || m > carom__pow10(f)) return false;
    /* Both operands are exact doubles, so the quotient rounds once, as strtod would. */
    *out = (double)m / (double)carom__pow10(f);
    return true;
}

bool carom__parse_status(const char *s, size_t len, unsigned *out)
{
    if (len != 3) return false;
    unsigned v = 0;
    for (size_t i = 0; i < 3; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v < 100 || v > 599) return false;
    *out = v;
    return true;
}

/* Walks a comma-separated list: calls item() for every trimmed element. An empty value is
 * an empty list; an empty element ("a,,b", "a,") is a problem of its own. */

bool carom__each_item(carom__parser *p, const char *key, const char *v, size_t vl,
                      carom__item_fn fn, void *ctx)
{
    bool ok = true;
    if (!*v) return true;
    const char *s = v, *end = v + vl;
    for (;;) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        size_t len = comma ? (size_t)(comma - s) : (size_t)(end - s);
        const char *it = s;
        carom__trim(&it, &len);
        if (len == 0) {
            carom__report(p, p->lineno, key, v, "empty item in the list");
            ok = false;
        } else if (!fn(p, key, it, len, ctx)) {
            ok = false;
        }
        if (!comma) break;
        s = comma + 1;
    }
    return ok;
}

/* Probabilities are parsed from at most 9 decimals, so 15 significant digits always give
 * back the text the user wrote (minus trailing zeros). */
void carom__fmt_prob(char *buf, size_t len, double p)
{
    snprintf(buf, len, "%.15g", p);
}

/* ---- the table, from keys.def ------------------------------------------------------------ */

/* The object each scope's fields live in. */
#define OBJ_POLICY carom_policy
#define OBJ_DEFAULTS carom__globals
#define OBJ_NAMED carom__section
#define OBJ_SCOREBOARD carom__globals
#define OBJ_CHAOS carom__globals
#define OBJ_FLEET carom__globals
#define SPAN(sc, first, last)                                                                      \
    .off = offsetof(OBJ_##sc, first),                                                              \
    .size = offsetof(OBJ_##sc, last) + sizeof(((OBJ_##sc *)0)->last) - offsetof(OBJ_##sc, first)
#define HEAD(id, nm, sc, ty)                                                                       \
    [CAROM__K_##                                                                                   \
        id] = {.name = nm, .len = sizeof nm - 1, .scope = CAROM__SCOPE_##sc, .type = CAROM__T_##ty
#define CAROM__UINT(id, nm, sc, f, l, h, w, d)                                                     \
    HEAD(id, nm, sc, UINT), SPAN(sc, f, f), .lo = l, .hi = h, .what = w                            \
    }                                                                                              \
    ,
#define CAROM__MS(id, nm, sc, f, d)                                                                \
    HEAD(id, nm, sc, UINT), SPAN(sc, f, f),                                                        \
        .lo = 0, .hi = CAROM__MS_MAX,                                                              \
        .what = "expected a whole number of milliseconds %llu..%llu (24 h)"                        \
    }                                                                                              \
    ,
#define CAROM__PROB(id, nm, sc, f, d)                                                              \
    HEAD(id, nm, sc, PROB), SPAN(sc, f, f)                                                         \
    }                                                                                              \
    ,
#define CAROM__ONOFF(id, nm, sc, f, d)                                                             \
    HEAD(id, nm, sc, ONOFF), SPAN(sc, f, f)                                                        \
    }                                                                                              \
    ,
#define CAROM__WORDS(id, nm, sc, f, ws, w, d)                                                      \
    HEAD(id, nm, sc, WORDS), SPAN(sc, f, f), .words = ws, .what = w                                \
    }                                                                                              \
    ,
#define CAROM__CUSTOM(id, nm, sc, first, last, c, ...)                                             \
    HEAD(id, nm, sc, CUSTOM), SPAN(sc, first, last), .codec = &carom__codec_##c                    \
    }                                                                                              \
    ,
const carom__key carom__keys[CAROM__K_COUNT] = {
#include "keys.def"
};
#undef CAROM__UINT
#undef CAROM__MS
#undef CAROM__PROB
#undef CAROM__ONOFF
#undef CAROM__WORDS
#undef CAROM__CUSTOM

/* The built-in defaults: each key's last argument, into the object of its scope. */
#define IN_POLICY_POLICY(...) __VA_ARGS__
#define IN_POLICY_DEFAULTS(...)
#define IN_POLICY_NAMED(...)
#define IN_POLICY_SCOREBOARD(...)
#define IN_POLICY_CHAOS(...)
#define IN_POLICY_FLEET(...)
#define IN_GLOBALS_POLICY(...)
#define IN_GLOBALS_DEFAULTS(...) __VA_ARGS__
#define IN_GLOBALS_NAMED(...)
#define IN_GLOBALS_SCOREBOARD(...) __VA_ARGS__
#define IN_GLOBALS_CHAOS(...) __VA_ARGS__
#define IN_GLOBALS_FLEET(...) __VA_ARGS__
#define CAROM__UINT(id, nm, sc, f, l, h, w, d) IN(sc)(.f = d, )
#define CAROM__MS(id, nm, sc, f, d) IN(sc)(.f = d, )
#define CAROM__PROB(id, nm, sc, f, d) IN(sc)(.f = d, )
#define CAROM__ONOFF(id, nm, sc, f, d) IN(sc)(.f = d, )
#define CAROM__WORDS(id, nm, sc, f, ws, w, d) IN(sc)(.f = d, )
#define CAROM__CUSTOM(id, nm, sc, first, last, c, ...) IN(sc)(__VA_ARGS__, )

#define IN(sc) IN_POLICY_##sc
const carom_policy carom__builtin_policy = {
    .name = "defaults",
    .index = 0,
#include "keys.def"
};
#undef IN
#define IN(sc) IN_GLOBALS_##sc
const carom__globals carom__builtin_globals = {
#include "keys.def"
};
#undef IN
#undef CAROM__UINT
#undef CAROM__MS
#undef CAROM__PROB
#undef CAROM__ONOFF
#undef CAROM__WORDS
#undef CAROM__CUSTOM

/* ---- one value, by type ------------------------------------------------------------------ */

static void *object_of(carom__parser *p, carom__section *s, const carom__key *key)
{
    if (key->scope == CAROM__SCOPE_POLICY) return &s->v;
    if (key->scope == CAROM__SCOPE_NAMED) return s;
    return &p->g;
}

static void put_uint(void *f, size_t size, uint64_t x)
{
    uint8_t u8 = (uint8_t)x;
    uint16_t u16 = (uint16_t)x;
    uint32_t u32 = (uint32_t)x;
    if (size == 1) memcpy(f, &u8, 1);
    if (size == 2) memcpy(f, &u16, 2);
    if (size == 4) memcpy(f, &u32, 4);
    if (size == 8) memcpy(f, &x, 8);
}

static uint64_t get_uint_field(const void *f, size_t size)
{
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64 = 0;
    if (size == 1) memcpy(&u8, f, 1), u64 = u8;
    if (size == 2) memcpy(&u16, f, 2), u64 = u16;
    if (size == 4) memcpy(&u32, f, 4), u64 = u32;
    if (size == 8) memcpy(&u64, f, 8);
    return u64;
}

/* The index of v among "a|b|c" (case-insensitive), or -1. */
static int word_index(const char *words, const char *v, size_t vl)
{
    for (int i = 0;; i++) {
        size_t wl = 0;
        while (words[wl] && words[wl] != '|')
            wl++;
        if (wl == vl && carom__ieq(words, v, vl)) return i;
        if (!words[wl]) return -1;
        words += wl + 1;
    }
}

bool carom__value_parse(carom__parser *p, carom__section *s, int k, const char *v, size_t vl)
{
    const carom__key *key = &carom__keys[k];
    void *obj = object_of(p, s, key);
    char *f = (char *)obj + key->off;
    uint64_t x;
    double d;
    int i;
    switch (key->type) {
    case CAROM__T_UINT:
        if (carom__parse_u64(v, &x) && x >= key->lo && x <= key->hi) {
            put_uint(f, key->size, x);
            return true;
        }
        carom__report(p, p->lineno, key->name, v,
                      key->what ? key->what : "expected a whole number %llu..%llu",
                      (unsigned long long)key->lo, (unsigned long long)key->hi);
        return false;
    case CAROM__T_PROB:
        if (carom__parse_prob(v, vl, &d)) {
            memcpy(f, &d, sizeof d);
            return true;
        }
        carom__report(p, p->lineno, key->name, v,
                      "expected a probability 0..1 (such as 0.2), at most 9 decimals");
        return false;
    case CAROM__T_ONOFF:
        i = vl == 2 && carom__ieq(v, "on", 2) ? 1 : vl == 3 && carom__ieq(v, "off", 3) ? 0 : -1;
        if (i >= 0) {
            *(bool *)f = i == 1;
            return true;
        }
        carom__report(p, p->lineno, key->name, v, "expected on or off");
        return false;
    case CAROM__T_WORDS:
        i = word_index(key->words, v, vl);
        if (i >= 0) {
            put_uint(f, key->size, (uint64_t)i);
            return true;
        }
        carom__report(p, p->lineno, key->name, v, "%s", key->what);
        return false;
    default:
        return key->codec->parse(p, key, v, vl, obj);
    }
}

bool carom__value_format(int k, const void *obj, char *out, size_t len)
{
    const carom__key *key = &carom__keys[k];
    const char *f = (const char *)obj + key->off;
    double d;
    out[0] = '\0';
    switch (key->type) {
    case CAROM__T_UINT:
        snprintf(out, len, "%llu", (unsigned long long)get_uint_field(f, key->size));
        return true;
    case CAROM__T_PROB:
        memcpy(&d, f, sizeof d);
        carom__fmt_prob(out, len, d);
        return true;
    case CAROM__T_ONOFF:
        snprintf(out, len, "%s", *(const bool *)f ? "on" : "off");
        return true;
    case CAROM__T_WORDS: {
        uint64_t i = get_uint_field(f, key->size);
        const char *w = key->words;
        for (; i && w; i--) {
            w = strchr(w, '|');
            if (w) w++;
        }
        if (!w) w = "?";
        snprintf(out, len, "%.*s", (int)strcspn(w, "|"), w);
        return true;
    }
    default:
        return key->codec->format && key->codec->format(obj, out, len);
    }
}
