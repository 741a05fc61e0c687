/* policy_file.c: carom.ini from the file system for the `carom` command: finding it (the
 * shim's search) and reading it whole, then carom_policy_parse on the bytes. The policy
 * layer does no file I/O, so this is where the tools do theirs. It must never print: a
 * problem is one diagnostic line through the caller's callback. */
#include "carom_tools.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILE (16u << 20) /* larger files are refused */

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

const char *carom__config_find(char *buf, size_t len)
{
    return carom_policy_find(buf, len, exists);
}

carom_table *carom__config_load(const char *path, carom_diag_fn diag, void *ud)
{
    char line[CAROM_PATH_MAX + 128], ebuf[128];
    int err = 0;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0) {
        err = path ? errno : ENOENT;
    } else {
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) err = EISDIR;
        while (!err) {
            if (len == cap) {
                cap = cap ? cap * 2 : 8192;
                char *nb = cap <= MAX_FILE + 1 ? realloc(buf, cap) : NULL;
                if (!nb) {
                    err = cap > MAX_FILE + 1 ? EFBIG : ENOMEM;
                    break;
                }
                buf = nb;
            }
            ssize_t r = read(fd, buf + len, cap - len);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) err = errno;
            if (r <= 0) break;
            len += (size_t)r;
        }
        close(fd);
    }
    if (err) {
        free(buf);
        if (diag) {
            const char *msg =
                err == EFBIG ? "larger than 16 MiB" : strerror_r(err, ebuf, sizeof ebuf);
            snprintf(line, sizeof line, "carom: %s:0: cannot read: %s", path ? path : "(null)",
                     msg);
            diag(ud, line);
        }
        return NULL;
    }
    carom_table *t = carom_policy_parse(buf ? buf : "", len, path, diag, ud);
    free(buf);
    return t;
}
