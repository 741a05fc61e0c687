/* reader.c: carom.ini's text, line by line, into the parser's sections: the byte checks
 * (UTF-8 text only), the line rules (the ones inih applies: "key = value" or "key: value",
 * ";" and "#" comments, " ;" inline comments), section headers, and each key handed to its
 * value reader. Every diagnostic knows its line, and every problem is reported, not just
 * the first. It must never print, never read a file (the caller passes the bytes in), and
 * never let a line it did not understand change the table. */
#include "policy_int.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static const char *const kind_names[] = {"[defaults]", "a policy section", "[scoreboard]",
                                         "[chaos]", "[fleet]"};

/* ---- keys by name --------------------------------------------------------------------- */

/* A key by its name: a switch on the length, then the few keys of that length compared
 * whole, in code the compiler writes from keys.def (every include below expands to the keys
 * of one length, KEY_LEN: the other comparisons are constant false and compiled away). No
 * index is built per parse and a look-up is a jump and a word compare or two. */
#define KEY_LEN_MAX 24
#define KEY_IF(id, nm)                                                                             \
    if (sizeof nm - 1 == KEY_LEN && memcmp(s, nm, sizeof nm - 1) == 0) return CAROM__K_##id;
#define CAROM__UINT(id, nm, ...) KEY_IF(id, nm)
#define CAROM__MS(id, nm, ...) KEY_IF(id, nm)
#define CAROM__PROB(id, nm, ...) KEY_IF(id, nm)
#define CAROM__ONOFF(id, nm, ...) KEY_IF(id, nm)
#define CAROM__WORDS(id, nm, ...) KEY_IF(id, nm)
#define CAROM__CUSTOM(id, nm, ...) KEY_IF(id, nm)

static int find_key(const char *s, size_t len)
{
    switch (len) {
    case 1:
#define KEY_LEN 1
#include "keys.def"
#undef KEY_LEN
        break;
    case 2:
#define KEY_LEN 2
#include "keys.def"
#undef KEY_LEN
        break;
    case 3:
#define KEY_LEN 3
#include "keys.def"
#undef KEY_LEN
        break;
    case 4:
#define KEY_LEN 4
#include "keys.def"
#undef KEY_LEN
        break;
    case 5:
#define KEY_LEN 5
#include "keys.def"
#undef KEY_LEN
        break;
    case 6:
#define KEY_LEN 6
#include "keys.def"
#undef KEY_LEN
        break;
    case 7:
#define KEY_LEN 7
#include "keys.def"
#undef KEY_LEN
        break;
    case 8:
#define KEY_LEN 8
#include "keys.def"
#undef KEY_LEN
        break;
    case 9:
#define KEY_LEN 9
#include "keys.def"
#undef KEY_LEN
        break;
    case 10:
#define KEY_LEN 10
#include "keys.def"
#undef KEY_LEN
        break;
    case 11:
#define KEY_LEN 11
#include "keys.def"
#undef KEY_LEN
        break;
    case 12:
#define KEY_LEN 12
#include "keys.def"
#undef KEY_LEN
        break;
    case 13:
#define KEY_LEN 13
#include "keys.def"
#undef KEY_LEN
        break;
    case 14:
#define KEY_LEN 14
#include "keys.def"
#undef KEY_LEN
        break;
    case 15:
#define KEY_LEN 15
#include "keys.def"
#undef KEY_LEN
        break;
    case 16:
#define KEY_LEN 16
#include "keys.def"
#undef KEY_LEN
        break;
    case 17:
#define KEY_LEN 17
#include "keys.def"
#undef KEY_LEN
        break;
    case 18:
#define KEY_LEN 18
#include "keys.def"
#undef KEY_LEN
        break;
    case 19:
#define KEY_LEN 19
#include "keys.def"
#undef KEY_LEN
        break;
    case 20:
#define KEY_LEN 20
#include "keys.def"
#undef KEY_LEN
        break;
    case 21:
#define KEY_LEN 21
#include "keys.def"
#undef KEY_LEN
        break;
    case 22:
#define KEY_LEN 22
#include "keys.def"
#undef KEY_LEN
        break;
    case 23:
#define KEY_LEN 23
#include "keys.def"
#undef KEY_LEN
        break;
    case 24:
#define KEY_LEN 24
#include "keys.def"
#undef KEY_LEN
        break;
    default:
        break;
    }
    return -1;
}
#undef KEY_IF
#undef CAROM__UINT
#undef CAROM__MS
#undef CAROM__PROB
#undef CAROM__ONOFF
#undef CAROM__WORDS
#undef CAROM__CUSTOM

/* find_key's switch stops at KEY_LEN_MAX. */
#define KEY_FITS(id, nm, ...)                                                                      \
    _Static_assert(sizeof nm - 1 <= KEY_LEN_MAX, "key " nm " is longer than KEY_LEN_MAX");
#define CAROM__UINT KEY_FITS
#define CAROM__MS KEY_FITS
#define CAROM__PROB KEY_FITS
#define CAROM__ONOFF KEY_FITS
#define CAROM__WORDS KEY_FITS
#define CAROM__CUSTOM KEY_FITS
#include "keys.def"
#undef CAROM__UINT
#undef CAROM__MS
#undef CAROM__PROB
#undef CAROM__ONOFF
#undef CAROM__WORDS
#undef CAROM__CUSTOM
#undef KEY_FITS

/* The section kinds each scope's keys may be written in, one bit per kind. */
#define KIND_BIT(kind) (1u << CAROM__SEC_##kind)
static const uint8_t scope_kinds[] = {
    [CAROM__SCOPE_POLICY] = KIND_BIT(DEFAULTS) | KIND_BIT(POLICY),
    [CAROM__SCOPE_DEFAULTS] = KIND_BIT(DEFAULTS),
    [CAROM__SCOPE_NAMED] = KIND_BIT(POLICY),
    [CAROM__SCOPE_SCOREBOARD] = KIND_BIT(SCOREBOARD),
    [CAROM__SCOPE_CHAOS] = KIND_BIT(CHAOS),
    [CAROM__SCOPE_FLEET] = KIND_BIT(FLEET),
};
#undef KIND_BIT

static bool key_allowed(int k, int kind)
{
    return (scope_kinds[carom__keys[k].scope] >> kind) & 1u;
}

/* Why a known key is not allowed where it is written. */
static const char *misplaced(int k, int kind)
{
    switch (carom__keys[k].scope) {
    case CAROM__SCOPE_POLICY:
        return "policy settings go in [defaults] or a policy section";
    case CAROM__SCOPE_DEFAULTS:
        return "it applies to the whole table, so it goes in [defaults]";
    case CAROM__SCOPE_NAMED:
        return kind == CAROM__SEC_DEFAULTS ? "[defaults] governs every endpoint no policy matches"
                                           : "it goes in a policy section";
    case CAROM__SCOPE_SCOREBOARD:
        return "it goes in [scoreboard]";
    case CAROM__SCOPE_CHAOS:
        return "it goes in [chaos]";
    default:
        return "it goes in [fleet]";
    }
}

static void unknown_key(carom__parser *p, const carom__section *s, const char *name,
                        const char *value)
{
    int k = find_key(name, strlen(name));
    if (k >= 0) {
        carom__report(p, p->lineno, name, value, "not allowed in %s: %s", kind_names[s->kind],
                      misplaced(k, s->kind));
        return;
    }
    if (s->kind == CAROM__SEC_CHAOS || s->kind == CAROM__SEC_SCOREBOARD ||
        s->kind == CAROM__SEC_FLEET) {
        char alt[CAROM__LINE_MAX + 8];
        snprintf(alt, sizeof alt, "chaos.%s", name);
        int a = find_key(alt, strlen(alt));
        if (a >= 0 && carom__keys[a].scope == CAROM__SCOPE_POLICY) {
            carom__report(p, p->lineno, name, value,
                          "unknown key in %s (per-policy chaos keys go in [defaults] or a policy "
                          "section, as \"%s\")",
                          kind_names[s->kind], alt);
            return;
        }
    }
    /* The closest allowed key; on a tie the policy settings win, then keys.def's order. */
    const char *best = NULL;
    unsigned bd = 99;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < CAROM__K_COUNT; i++) {
            if ((carom__keys[i].scope == CAROM__SCOPE_POLICY) != (pass == 0)) continue;
            if (!key_allowed(i, s->kind)) continue;
            unsigned d = carom__edit_distance(name, carom__keys[i].name);
            if (d < bd) bd = d, best = carom__keys[i].name;
        }
    if (best && carom__close_enough(name, bd))
        carom__report(p, p->lineno, name, value, "unknown key (did you mean \"%s\"?)", best);
    else
        carom__report(p, p->lineno, name, value, "unknown key in %s", kind_names[s->kind]);
}

/* One "name = value" line of the current section, both already trimmed. */
static void key_line(carom__parser *p, const char *name, size_t nl, const char *value, size_t vl)
{
    carom__section *s = &p->secs[p->cur];
    char nbuf[CAROM__LINE_MAX + 1], vbuf[CAROM__LINE_MAX + 1];
    memcpy(vbuf, value, vl);
    vbuf[vl] = '\0';
    int k = find_key(name, nl);
    const carom__codec *c = k >= 0 ? carom__keys[k].codec : NULL;
    bool twice = k >= 0 && carom__has(&s->set, k) && !(c && c->adds_up);
    if (k < 0 || !key_allowed(k, s->kind) || twice) {
        memcpy(nbuf, name, nl);
        nbuf[nl] = '\0';
        if (k < 0 || !key_allowed(k, s->kind))
            unknown_key(p, s, nbuf, vbuf);
        else
            carom__report(p, p->lineno, nbuf, vbuf, "set twice in [%s] (first at line %u)", s->name,
                          s->kline[k]);
        return;
    }
    /* A value in double quotes means the text inside: paths and responses read naturally
     * that way, and no value of ours ever starts and ends with a quote. */
    char *v = vbuf;
    if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
        v[vl - 1] = '\0';
        v++;
        vl -= 2;
    }
    if (!carom__has(&s->set, k)) {
        s->kline[k] = p->lineno;
        const carom__key *key = &carom__keys[k];
        if (s->kind == CAROM__SEC_POLICY && key->scope == CAROM__SCOPE_POLICY)
            memcpy((char *)&s->v + key->off, (const char *)&carom__builtin_policy + key->off,
                   key->size);
    }
    carom__add(&s->set, k);
    if (!carom__value_parse(p, s, k, v, vl)) carom__add(&s->bad, k);
}

/* ---- sections ------------------------------------------------------------------------ */

static int kind_of(const char *name, size_t len)
{
    if (len == 8 && carom__ieq(name, "defaults", 8)) return CAROM__SEC_DEFAULTS;
    if (len == 10 && carom__ieq(name, "scoreboard", 10)) return CAROM__SEC_SCOREBOARD;
    if (len == 5 && carom__ieq(name, "chaos", 5)) return CAROM__SEC_CHAOS;
    if (len == 5 && carom__ieq(name, "fleet", 5)) return CAROM__SEC_FLEET;
    return CAROM__SEC_POLICY;
}

static void new_section(carom__parser *p, const char *name, size_t len, int kind, bool discard)
{
    if (p->nsecs == CAROM__MAX_SECTIONS) {
        if (!p->too_many)
            carom__report_n(p, p->lineno, "section", name, len, "more than %d sections",
                            CAROM__MAX_SECTIONS);
        p->too_many = true;
        p->cur = -2; /* the rest of the file is skipped: this problem is already reported */
        return;
    }
    if (p->nsecs == p->capsecs) {
        size_t cap = p->capsecs ? p->capsecs * 2 : 8;
        carom__section *ns = realloc(p->secs, cap * sizeof *ns);
        if (!ns) {
            p->oom = true;
            p->cur = -2;
            return;
        }
        p->secs = ns;
        p->capsecs = cap;
    }
    /* Only the header is cleared: kline is read only for keys in set. v is [defaults]'s
     * values, so it starts as the built-in policy; a policy section's v is read only in the
     * fields of the keys it sets, each started from the built-in one by key_line. */
    carom__section *s = &p->secs[p->nsecs];
    memset(s, 0, offsetof(carom__section, kline));
    s->pats = NULL;
    s->npats = s->cappats = 0;
    s->patline = NULL;
    for (size_t i = 0; i < len; i++) /* len < sizeof s->name: the header was one line */
        s->name[i] = name[i];
    s->name[len] = '\0';
    s->kind = kind;
    s->discard = discard;
    s->line = p->lineno;
    if (kind == CAROM__SEC_DEFAULTS) s->v = carom__builtin_policy;
    p->cur = (int)p->nsecs++;
    if (kind != CAROM__SEC_POLICY && !discard) {
        if (p->idx[kind] >= 0) {
            char key[16];
            snprintf(key, sizeof key, "[%s]",
                     kind == CAROM__SEC_DEFAULTS ? "defaults"
                     : kind == CAROM__SEC_CHAOS  ? "chaos"
                     : kind == CAROM__SEC_FLEET  ? "fleet"
                                                 : "scoreboard");
            carom__report_n(p, p->lineno, key, name, len, "section repeated (first at line %u)",
                            p->secs[p->idx[kind]].line);
            s->discard = true;
        } else {
            p->idx[kind] = p->cur;
        }
    }
}

static void section_header(carom__parser *p, const char *ln, size_t len)
{
    int depth = 0;
    size_t close = 0;
    for (size_t i = 0; i < len; i++) {
        if (ln[i] == '[') {
            depth++;
        } else if (ln[i] == ']' && --depth == 0) {
            close = i;
            break;
        }
    }
    if (!close) {
        /* Keys below still get checked, against the section this most likely meant. */
        const char *n = ln + 1;
        size_t nl = len - 1;
        for (size_t i = 0; i < nl; i++)
            if (n[i] == ';' || n[i] == '#') nl = i;
        carom__trim(&n, &nl);
        carom__report_n(p, p->lineno, "section", ln, len, "header not closed (missing \"]\")");
        new_section(p, n, nl, kind_of(n, nl), true);
        return;
    }
    const char *name = ln + 1, *rest = ln + close + 1;
    size_t nl = close - 1, rl = len - close - 1;
    carom__trim(&name, &nl);
    carom__trim(&rest, &rl);
    if (rl && rest[0] != ';' && rest[0] != '#') {
        carom__report_n(p, p->lineno, "section", ln, len, "unexpected text after \"]\"");
        new_section(p, name, nl, kind_of(name, nl), true);
        return;
    }
    if (nl == 0) {
        carom__report_n(p, p->lineno, "section", ln, len, "empty section name");
        new_section(p, "", 0, CAROM__SEC_POLICY, true);
        return;
    }
    int kind = kind_of(name, nl);
    bool bad = false;
    if (nl >= CAROM_NAME_MAX) {
        carom__report_n(p, p->lineno, "section", name, nl,
                        "name longer than %d characters (give the policy a short name and list "
                        "patterns with \"match =\")",
                        CAROM_NAME_MAX - 1);
        bad = true;
    } else if (kind == CAROM__SEC_POLICY) {
        for (size_t i = 0; i < nl; i++) {
            unsigned char c = (unsigned char)name[i];
            if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\') {
                char key[CAROM_NAME_MAX + 8];
                snprintf(key, sizeof key, "[%.*s]", (int)nl, name);
                carom__report_n(p, p->lineno, key, name, nl,
                                "policy names are printable ASCII without spaces, quotes or "
                                "backslashes");
                bad = true;
                break;
            }
        }
    }
    new_section(p, name, nl, kind, bad);
}

/* ---- lines ------------------------------------------------------------------------------ */

/* Returns the offset of the first byte that is not printable UTF-8 text (tabs allowed),
 * or len. */
static size_t first_bad_byte(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t') || c == 0x7f) return i;
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf)
            n = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3, cp = c & 0x07;
        else
            return i;
        if (i + n >= len) return i;
        for (size_t j = 1; j <= n; j++) {
            if (i + j >= len || (s[i + j] & 0xc0) != 0x80) return i;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
            return i;
        i += n + 1;
    }
    return len;
}

/* A line that is not printable ASCII (with tabs) is checked byte by byte and, when it is
 * not UTF-8 text either, reported: the file is not text. */
static bool binary_line(carom__parser *p, const char *ln, size_t len)
{
    size_t bad = first_bad_byte((const unsigned char *)ln, len);
    if (bad == len) return false;
    char what[64];
    unsigned char c = (unsigned char)ln[bad];
    if (c == 0)
        snprintf(what, sizeof what, "a NUL byte");
    else if (c < 0x20 || c == 0x7f)
        snprintf(what, sizeof what, "control character 0x%02x", c);
    else if (c == 0xc2 && bad + 1 < len && (unsigned char)ln[bad + 1] >= 0x80 &&
             (unsigned char)ln[bad + 1] <= 0x9f)
        snprintf(what, sizeof what, "control character U+%04X", (unsigned char)ln[bad + 1]);
    else
        snprintf(what, sizeof what, "invalid UTF-8");
    p->binary = true;
    carom__report_n(p, p->lineno, "line", ln, len, "binary data (%s at column %zu)", what, bad + 1);
    p->binary = false;
    return true;
}

/* The bytes that can end a key: "=", ":", and ";" (after a blank, a comment). */
static const bool stops_key[256] = {['='] = true, [':'] = true, [';'] = true};

/* The offset of the first "=", ":" or ";" among ln's len bytes, or len; end: where the
 * text ends (the vector reads may look past the line, never past the text). */
static size_t first_stop(const char *ln, size_t len, const char *end)
{
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i eq = _mm_set1_epi8('='), colon = _mm_set1_epi8(':'), semi = _mm_set1_epi8(';');
    while (i < len && end - (ln + i) >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(ln + i));
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, eq), _mm_cmpeq_epi8(v, colon)),
                                   _mm_cmpeq_epi8(v, semi));
        unsigned m = (unsigned)_mm_movemask_epi8(hit);
        if (m) {
            size_t j = i + (unsigned)__builtin_ctz(m);
            return j < len ? j : len;
        }
        i += 16;
    }
#endif
    while (i < len && !stops_key[(unsigned char)ln[i]])
        i++;
    return i < len ? i : len;
}

/* The offset of the first ";" among s's len bytes, or len (end as for first_stop). */
static size_t first_semi(const char *s, size_t len, const char *end)
{
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i semi = _mm_set1_epi8(';');
    while (i < len && end - (s + i) >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, semi));
        if (m) {
            size_t j = i + (unsigned)__builtin_ctz(m);
            return j < len ? j : len;
        }
        i += 16;
    }
#endif
    while (i < len && s[i] != ';')
        i++;
    return i < len ? i : len;
}

/* One line of len bytes (no "\n"); plain: every byte is printable ASCII or a tab, apart
 * from a last "\r". */
static void line(carom__parser *p, const char *ln, size_t len, bool plain)
{
    if (len && ln[len - 1] == '\r') len--;
    if (p->lineno == 1 && len >= 3 && memcmp(ln, "\xef\xbb\xbf", 3) == 0) ln += 3, len -= 3;
    if (!plain && binary_line(p, ln, len)) return;
    if (len > CAROM__LINE_MAX) {
        carom__report_n(p, p->lineno, "line", ln, len, "too long (%zu characters, at most %d)", len,
                        CAROM__LINE_MAX);
        return;
    }
    /* Leading blanks go: inih would read an indented line as a continuation of the previous
     * value, which would silently turn "  retries = 5" into part of another key. */
    while (len && (*ln == ' ' || *ln == '\t'))
        ln++, len--;
    if (len == 0 || *ln == ';' || *ln == '#') return;
    if (*ln == '[') {
        section_header(p, ln, len);
        return;
    }
    /* The first '=' or ':', unless a " ;" comment comes first. */
    const char *end = p->text + p->len;
    size_t i = first_stop(ln, len, end);
    while (i < len && ln[i] == ';' && !(i > 0 && (ln[i - 1] == ' ' || ln[i - 1] == '\t')))
        i += 1 + first_stop(ln + i + 1, len - i - 1, end);
    if (i == len || ln[i] == ';') {
        carom__report_n(p, p->lineno, "line", ln, len, "expected \"key = value\" or \"[section]\"");
        return;
    }
    const char *key = ln, *val = ln + i + 1;
    size_t kl = i, vl = len - i - 1;
    kl = carom__trim_end(key, kl); /* ln starts with no blank */
    if (kl == 0) {
        carom__report_n(p, p->lineno, "line", ln, len, "missing key before \"%c\"", ln[i]);
        return;
    }
    if (p->cur == -2) return;
    if (p->cur < 0) {
        carom__trim(&val, &vl);
        for (size_t j = 0; j + 1 < vl; j++)
            if ((val[j] == ' ' || val[j] == '\t') && val[j + 1] == ';') vl = j;
        carom__trim(&val, &vl);
        char k[64];
        snprintf(k, sizeof k, "%.*s", (int)(kl < 60 ? kl : 60), key);
        carom__report_n(p, p->lineno, k, val, vl,
                        "outside any section (put it under [defaults] or a policy section)");
        return;
    }
    /* The value ends at the first ";" after a blank (the blank may be the first byte after
     * the "="), as inih ends it. */
    for (size_t c = first_semi(val, vl, end); c < vl;
         c += 1 + first_semi(val + c + 1, vl - c - 1, end))
        if (c > 0 && (val[c - 1] == ' ' || val[c - 1] == '\t')) {
            vl = c;
            break;
        }
    carom__trim(&val, &vl);
    key_line(p, key, kl, val, vl);
}

/* The offset of the first byte at or after i that is not printable ASCII: 16 bytes at a
 * time, since nearly every byte of a carom.ini is (the comments most of all). */
static size_t skip_plain(const unsigned char *s, size_t i, size_t len)
{
#if defined(__SSE2__)
    /* A byte plus one, signed, is below 0x21 exactly for 0x00..0x1f (0x01..0x20) and
     * 0x7f..0xff (-128..0): one add and one compare a byte, 32 bytes a turn. */
    const __m128i one = _mm_set1_epi8(1), lim = _mm_set1_epi8(0x21);
#define ODD16(at)                                                                                  \
    _mm_cmpgt_epi8(lim, _mm_add_epi8(_mm_loadu_si128((const __m128i *)(const void *)(at)), one))
    while (i + 32 <= len) {
        __m128i a = ODD16(s + i), b = ODD16(s + i + 16);
        if (_mm_movemask_epi8(_mm_or_si128(a, b))) {
            unsigned m = (unsigned)_mm_movemask_epi8(a) | (unsigned)_mm_movemask_epi8(b) << 16;
            return i + (unsigned)__builtin_ctz(m);
        }
        i += 32;
    }
    if (i + 16 <= len) {
        unsigned m = (unsigned)_mm_movemask_epi8(ODD16(s + i));
        if (m) return i + (unsigned)__builtin_ctz(m);
        i += 16;
    }
#undef ODD16
#endif
    while (i < len && s[i] >= 0x20 && s[i] <= 0x7e)
        i++;
    return i;
}

void carom__read(carom__parser *p)
{
    const unsigned char *s = (const unsigned char *)p->text;
    size_t len = p->len, at = 0;
    while (at < len) {
        /* Find the line's end while checking that every byte is plain text. */
        size_t i = at;
        bool plain = true;
        for (;;) {
            i = skip_plain(s, i, len);
            if (i == len || s[i] == '\n') break;
            if (s[i] == '\t') {
                i++;
                continue;
            }
            if (s[i] == '\r' && (i + 1 == len || s[i + 1] == '\n')) {
                i++;
                continue;
            }
            plain = false;
            const unsigned char *nl = memchr(s + i, '\n', len - i);
            i = nl ? (size_t)(nl - s) : len;
            break;
        }
        p->lineno++;
        line(p, p->text + at, i - at, plain);
        at = i + 1;
    }
}
