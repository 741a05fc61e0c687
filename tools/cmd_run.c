/* cmd_run.c: `carom run`, which starts a program with the shim preloaded. It must never
 * change the program's arguments or environment beyond LD_PRELOAD and CAROM_*, and never
 * let a user believe a program is protected when the loader will ignore the shim. */
#include "carom_tools.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Where `make install` (LIBDIR) or the Debian package (/usr/lib/<multiarch>/carom) put the
 * shim; the Makefile passes both. */
#ifndef CAROM_LIBDIR
#define CAROM_LIBDIR "/usr/local/lib/carom"
#endif
#ifndef CAROM_MULTIARCH
#define CAROM_MULTIARCH ""
#endif

static const char usage[] =
    "usage: carom run [-c FILE] [--chaos] [--] PROGRAM [ARGS...]\n"
    "Runs PROGRAM with the carom shim preloaded (LD_PRELOAD).\n"
    "  -c FILE    the policy file (sets CAROM_CONFIG to its absolute path)\n"
    "  --chaos    inject the file's chaos faults even if [chaos] enabled = off\n"
    "  -h, --help show this help\n";

/* The shim beside this binary (a build tree), then the installed layouts relative to it
 * (PREFIX/bin -> PREFIX/lib/carom or PREFIX/lib/<multiarch>/carom), then CAROM_LIBDIR. */
static int find_shim(char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            const char *rel[] = {
                "/libcarom_shim.so", "/../lib/carom/libcarom_shim.so",
                CAROM_MULTIARCH[0] ? "/../lib/" CAROM_MULTIARCH "/carom/libcarom_shim.so" : NULL};
            for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
                if (!rel[i]) continue;
                if ((size_t)snprintf(out, len, "%s%s", exe, rel[i]) >= len) continue;
                char real[PATH_MAX];
                if (access(out, R_OK) == 0 && realpath(out, real)) {
                    snprintf(out, len, "%s", real);
                    return 0;
                }
            }
        }
    }
    snprintf(out, len, "%s/libcarom_shim.so", CAROM_LIBDIR);
    return access(out, R_OK) == 0 ? 0 : -1;
}

/* Resolves PROGRAM the way execvp will. */
static int which(const char *prog, char *out, size_t len)
{
    if (strchr(prog, '/')) {
        snprintf(out, len, "%s", prog);
        return access(out, X_OK);
    }
    const char *path = getenv("PATH");
    if (!path) path = "/usr/bin:/bin";
    while (*path) {
        const char *c = strchr(path, ':');
        size_t l = c ? (size_t)(c - path) : strlen(path);
        snprintf(out, len, "%.*s/%s", (int)l, l ? path : ".", prog);
        if (access(out, X_OK) == 0) return 0;
        path += l + (c ? 1 : 0);
    }
    return -1;
}

/* Says why the loader would not run the shim in this program, or NULL. */
static const char *unreachable(const char *path)
{
    static char why[PATH_MAX + 256];
    struct stat st;
    if (stat(path, &st) != 0) return NULL;
    if ((st.st_mode & (S_ISUID | S_ISGID)) && (st.st_uid != getuid() || (st.st_mode & S_ISGID))) {
        snprintf(why, sizeof why,
                 "%s is setuid/setgid: the dynamic loader ignores LD_PRELOAD for it, so carom "
                 "cannot protect it",
                 path);
        return why;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    const char *res = NULL;
    if (st.st_size >= (off_t)sizeof(Elf64_Ehdr)) {
        unsigned char *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
            const Elf64_Ehdr *eh = (const Elf64_Ehdr *)m;
            if (memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64 &&
                eh->e_phoff + (size_t)eh->e_phnum * sizeof(Elf64_Phdr) <= (size_t)st.st_size) {
                bool interp = false;
                const Elf64_Phdr *ph = (const Elf64_Phdr *)(m + eh->e_phoff);
                for (int i = 0; i < eh->e_phnum; i++)
                    interp |= ph[i].p_type == PT_INTERP;
                static const char go_magic[] = "\xff Go buildinf:";
                bool go = memmem(m, (size_t)st.st_size, go_magic, sizeof go_magic - 1) != NULL;
                if (!interp) {
                    snprintf(why, sizeof why,
                             "%s is statically linked: there is no dynamic loader to preload "
                             "the shim, so carom cannot protect it",
                             path);
                    res = why;
                } else if (go) {
                    snprintf(why, sizeof why,
                             "%s is a Go program: Go makes its network system calls directly, "
                             "not through the C library, so carom cannot see them",
                             path);
                    res = why;
                }
            }
            munmap(m, (size_t)st.st_size);
        }
    }
    close(fd);
    return res;
}

int carom__cmd_run(int argc, char **argv)
{
    const char *config = NULL;
    bool chaos = false;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return fflush(stdout) == 0 ? 0 : 1;
        } else if (strcmp(argv[i], "-c") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "carom run: -c needs a FILE\n%s", usage);
                return 2;
            }
            config = argv[++i];
        } else if (strcmp(argv[i], "--chaos") == 0) {
            chaos = true;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "carom run: unknown option %s\n%s", argv[i], usage);
            return 2;
        } else {
            break;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "carom run: no PROGRAM\n%s", usage);
        return 2;
    }
    char shim[PATH_MAX];
    if (find_shim(shim, sizeof shim) != 0) {
        fprintf(stderr, "carom run: cannot find libcarom_shim.so beside %s or in %s\n", argv[0],
                CAROM_LIBDIR);
        return 127;
    }
    char prog[PATH_MAX];
    if (which(argv[i], prog, sizeof prog) == 0) {
        const char *why = unreachable(prog);
        if (why) fprintf(stderr, "carom run: warning: %s\n", why);
    }
    if (config) {
        char abs[PATH_MAX];
        if (!realpath(config, abs)) {
            fprintf(stderr, "carom run: %s: %s\n", config, strerror(errno));
            return 2;
        }
        setenv("CAROM_CONFIG", abs, 1);
    }
    if (chaos) setenv("CAROM_CHAOS", "1", 1);
    const char *old = getenv("LD_PRELOAD");
    size_t n = strlen(shim) + (old ? strlen(old) + 1 : 0) + 1;
    char *pre = malloc(n);
    if (!pre) return 127;
    /* After whatever is preloaded already: a sanitizer runtime must stay first, and an
     * interposer the user chose keeps its place in front of ours. */
    snprintf(pre, n, "%s%s%s", old ? old : "", old && *old ? " " : "", shim);
    setenv("LD_PRELOAD", pre, 1);
    execvp(argv[i], &argv[i]);
    fprintf(stderr, "carom run: %s: %s\n", argv[i], strerror(errno));
    return errno == ENOENT ? 127 : 126;
}
