/* test_policy_golden.c: drives the golden files under tests/policy/: each NAME.ini is
 * parsed as "NAME.ini" and every diagnostic line (or, for a valid file, the `carom check
 * -v` table) must equal NAME.expected line for line. It must never pass with no golden
 * files found: an empty run is a failure. */
#include <criterion/criterion.h>

#include "../policy/carom_policy.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct out {
    char *buf;
    size_t len, cap;
} out;

static void add_line(void *ud, const char *line)
{
    out *o = ud;
    size_t n = strlen(line);
    if (o->len + n + 2 > o->cap) {
        o->cap = (o->len + n + 2) * 2;
        o->buf = realloc(o->buf, o->cap);
        cr_assert_not_null(o->buf);
    }
    memcpy(o->buf + o->len, line, n);
    o->len += n;
    o->buf[o->len++] = '\n';
    o->buf[o->len] = '\0';
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    size_t r;
    while ((r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) b = realloc(b, (cap *= 2) + 1);
    }
    fclose(f);
    b[n] = '\0';
    *len = n;
    return b;
}

static const char *golden_dir(char *buf, size_t len)
{
    const char *root = getenv("CAROM_ROOT");
    snprintf(buf, len, "%s/tests/policy", root && *root ? root : ".");
    return buf;
}

/* Shows the first differing line, so a failure explains itself. */
static void compare(const char *name, const char *got, const char *want)
{
    (void)name; /* unused where cr_assert_fail ignores its message (the TSan stand-in) */
    if (strcmp(got, want) == 0) return;
    int line = 1;
    const char *g = got, *w = want;
    while (*g && *w) {
        const char *ge = strchr(g, '\n'), *we = strchr(w, '\n');
        size_t gl = ge ? (size_t)(ge - g) : strlen(g), wl = we ? (size_t)(we - w) : strlen(w);
        if (gl != wl || memcmp(g, w, gl) != 0)
            cr_assert_fail("%s line %d\n  got:  %.*s\n  want: %.*s", name, line, (int)gl, g,
                           (int)wl, w);
        g += gl + (ge ? 1 : 0);
        w += wl + (we ? 1 : 0);
        line++;
    }
    cr_assert_fail("%s: output %s at line %d\n  got:  %.80s\n  want: %.80s", name,
                   *g ? "has extra lines" : "ends early", line, g, w);
}

Test(policy_golden, every_ini_matches_its_expected_output)
{
    char dir[1024];
    golden_dir(dir, sizeof dir);
    DIR *dh = opendir(dir);
    cr_assert_not_null(dh, "cannot open %s (run from the repo root or set CAROM_ROOT)", dir);
    int seen = 0, bad_files = 0;
    struct dirent *e;
    while ((e = readdir(dh))) {
        size_t nl = strlen(e->d_name);
        if (nl < 5 || strcmp(e->d_name + nl - 4, ".ini") != 0) continue;
        char ini[2048], exp[2048];
        snprintf(ini, sizeof ini, "%s/%s", dir, e->d_name);
        snprintf(exp, sizeof exp, "%s/%.*s.expected", dir, (int)(nl - 4), e->d_name);
        size_t len = 0, elen = 0;
        char *text = slurp(ini, &len), *want = slurp(exp, &elen);
        cr_assert_not_null(text, "%s", ini);
        cr_assert_not_null(want, "%s has no .expected beside it", ini);
        out diags = {0}, table = {0};
        add_line(&diags, ""); /* allocate */
        diags.len = 0;
        diags.buf[0] = '\0';
        carom_table *t = carom_policy_parse(text, len, e->d_name, add_line, &diags);
        if (t) {
            cr_assert_eq(diags.len, 0, "%s: a table and diagnostics", e->d_name);
            add_line(&table, "");
            table.len = 0;
            table.buf[0] = '\0';
            carom_policy_dump(t, add_line, &table);
            compare(e->d_name, table.buf, want);
            carom_policy_free(t);
        } else {
            cr_assert_gt(diags.len, 0, "%s: no table and no diagnostic", e->d_name);
            compare(e->d_name, diags.buf, want);
            bad_files++;
        }
        free(diags.buf);
        free(table.buf);
        free(text);
        free(want);
        seen++;
    }
    closedir(dh);
    cr_assert_geq(seen, 8, "only %d golden files in %s", seen, dir);
    cr_assert_geq(bad_files, 5, "the golden set should hold invalid files too");
}
