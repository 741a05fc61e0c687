/* find.c: where carom.ini is looked for, in the order docs/configuration.md gives ("Where
 * the file is found"), written once for the shim and the tools. It must never touch the
 * file system itself: the caller says whether a path exists, with its own call. */
#include "policy_int.h"

#include <stdio.h>
#include <stdlib.h>

static const char *put(char *buf, size_t len, const char *a, const char *b)
{
    int n = snprintf(buf, len, "%s%s", a, b);
    return n >= 0 && (size_t)n < len ? buf : NULL;
}

const char *carom_policy_find(char *buf, size_t len, carom_exists_fn exists)
{
    if (!buf || len == 0 || !exists) return NULL;
    const char *env = secure_getenv("CAROM_CONFIG");
    if (env && *env) return put(buf, len, env, "");
    if (exists("carom.ini")) return put(buf, len, "carom.ini", "");
    /* XDG: a relative $XDG_CONFIG_HOME is invalid and ignored, as the spec says. */
    const char *xdg = secure_getenv("XDG_CONFIG_HOME");
    const char *home = secure_getenv("HOME");
    const char *found = NULL;
    if (xdg && xdg[0] == '/')
        found = put(buf, len, xdg, "/carom/carom.ini");
    else if (home && home[0] == '/')
        found = put(buf, len, home, "/.config/carom/carom.ini");
    if (found && exists(found)) return found;
    if (exists("/etc/carom.ini")) return put(buf, len, "/etc/carom.ini", "");
    return NULL;
}
