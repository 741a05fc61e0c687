/* diag.c: the problem lines of a carom.ini, `carom: FILE:LINE: key: what is wrong, got
 * "value"`, collected while parsing and handed out in line order, and the "did you mean"
 * suggestions they carry. It must never print (lines go to the caller's callback) and
 * never let a control byte from the file reach the caller's terminal. */
#include "policy_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* Quotes a value for a diagnostic: a terminal must never receive the file's control bytes,
 * and a long value is cut so the line stays readable. */
static void quote(char *out, size_t outlen, const char *s, size_t len, bool escape_high)
{
    size_t o = 0, shown = len > 60 ? 57 : len;
    for (size_t i = 0; i < shown && o + 5 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f || (c >= 0x80 && escape_high)) {
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    if (shown < len && o + 4 < outlen) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

static void add_diag(carom__parser *p, unsigned line, char *text)
{
    if (p->ndiags == p->capdiags) {
        size_t cap = p->capdiags ? p->capdiags * 2 : 16;
        carom__problem *d = realloc(p->diags, cap * sizeof *d);
        if (!d) {
            free(text);
            p->oom = true;
            return;
        }
        p->diags = d;
        p->capdiags = cap;
    }
    p->diags[p->ndiags] = (carom__problem){.line = line, .seq = p->ndiags, .text = text};
    p->ndiags++;
}

/* The key and the message can carry text from the file too (a key with a tab in it, a
 * section name), so the finished line gets its control bytes escaped as well. */
void carom__report_n(carom__parser *p, unsigned line, const char *key, const char *val, size_t vlen,
                     const char *fmt, ...)
{
    char what[512], q[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    quote(q, sizeof q, val, vlen, p->binary);
    int n = snprintf(NULL, 0, "carom: %s:%u: %s: %s, got \"%s\"", p->file, line, key, what, q);
    size_t cap = n >= 0 ? (size_t)n * 4 + 1 : 0;
    char *text = cap ? malloc(cap) : NULL, *raw = cap ? malloc((size_t)n + 1) : NULL;
    if (!text || !raw) {
        free(text);
        free(raw);
        p->oom = true;
        return;
    }
    snprintf(raw, (size_t)n + 1, "carom: %s:%u: %s: %s, got \"%s\"", p->file, line, key, what, q);
    size_t o = 0;
    for (const unsigned char *c = (const unsigned char *)raw; *c; c++) {
        if (*c < 0x20 || *c == 0x7f)
            o += (size_t)snprintf(text + o, cap - o, "\\x%02x", *c);
        else
            text[o++] = (char)*c;
    }
    text[o] = '\0';
    free(raw);
    add_diag(p, line, text);
}

unsigned carom__edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40) return 99;
    unsigned d[41][41];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (unsigned)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            unsigned cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            unsigned v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 &&
                tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == tolower((unsigned char)b[j - 1]) &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

bool carom__close_enough(const char *got, unsigned dist)
{
    size_t n = strlen(got);
    return dist <= (n <= 4 ? 1u : n <= 8 ? 2u : 3u);
}

const char *carom__suggest_errno(const char *name, bool eai)
{
    const char *best = NULL;
    unsigned bd = 99;
    for (size_t i = 0; i < carom__nerrnames; i++) {
        const char *n = carom__errnames[i].name;
        if ((strncmp(n, "EAI_", 4) == 0) != eai) continue;
        unsigned d = carom__edit_distance(name, n);
        if (d < bd) bd = d, best = n;
    }
    return best && carom__close_enough(name, bd) ? best : NULL;
}

static int cmp_diag(const void *a, const void *b)
{
    const carom__problem *x = a, *y = b;
    if (x->line != y->line) return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void carom__diag_flush(carom__parser *p, carom_diag_fn diag, void *ud)
{
    if (p->ndiags) qsort(p->diags, p->ndiags, sizeof *p->diags, cmp_diag);
    for (size_t i = 0; i < p->ndiags; i++) {
        if (diag) diag(ud, p->diags[i].text);
        free(p->diags[i].text);
    }
    free(p->diags);
    p->diags = NULL;
    if (p->oom && diag) {
        char line[256];
        snprintf(line, sizeof line, "carom: %s:0: memory: out of memory while loading, got \"\"",
                 p->file);
        diag(ud, line);
    }
}
