/* carom.c: the `carom` command's entry point: --version, help [CMD], and dispatch to the
 * subcommands of carom_tools.h. It must never hold any subcommand's logic or touch the
 * policy table; each subcommand prints its own usage (`carom help CMD` asks it to). */
#include "carom_tools.h"

#include <stdio.h>
#include <string.h>

#ifndef CAROM_VERSION
#define CAROM_VERSION "unknown"
#endif

static const char usage[] =
    "usage: carom run [-c FILE] [--chaos] -- PROGRAM [ARGS...]   run with the shim preloaded\n"
    "       carom check [-v] [FILE]                              validate a policy file\n"
    "       carom explain HOST:PORT [FILE]                       which policy governs an endpoint\n"
    "       carom scoreboard [-c FILE] [--json | --prometheus HOST:PORT]  listen to events\n"
    "       carom cushions [-c FILE] [--json] [--watch] [--path] circuits in shared memory, live\n"
    "       carom cushions [-c FILE] --open|--close ENDPOINT | --reset [ENDPOINT]  steer them\n"
    "       carom cushions [-c FILE] --fleet [--json]            which hosts report circuits open\n"
    "       carom chaos [-c FILE] ENDPOINT KEY=VALUE... | --list | --clear [ENDPOINT]\n"
    "                                                            faults for running programs\n"
    "       carom fleet [-c FILE]                                share circuits across hosts "
    "(Redis)\n"
    "       carom --version | help [CMD] | CMD --help\n"
    "\n"
    "Exit status: 0 ok, 1 failure, 2 usage error. See carom(1) and carom.ini(5).\n";

static const struct {
    const char *name;
    int (*fn)(int, char **);
} cmds[] = {
    {"run", carom__cmd_run},           {"check", carom__cmd_check},
    {"explain", carom__cmd_explain},   {"scoreboard", carom__cmd_scoreboard},
    {"cushions", carom__cmd_cushions}, {"chaos", carom__cmd_chaos},
    {"fleet", carom__cmd_fleet},
};

static int (*find(const char *name))(int, char **)
{
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(name, cmds[i].name) == 0) return cmds[i].fn;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *a = argv[1];
    if (strcmp(a, "--version") == 0) {
        if (argc > 2) {
            fputs(usage, stderr);
            return 2;
        }
        printf("carom %s\n", CAROM_VERSION);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 || strcmp(a, "help") == 0) {
        if (argc == 2) {
            fputs(usage, stdout);
            return fflush(stdout) == 0 ? 0 : 1;
        }
        int (*fn)(int, char **) = argc == 3 ? find(argv[2]) : NULL;
        if (!fn) {
            if (argc == 3) fprintf(stderr, "carom: unknown command \"%s\"\n", argv[2]);
            fputs(usage, stderr);
            return 2;
        }
        /* Each subcommand owns its usage text: ask it, as `carom CMD --help` would. */
        char help[] = "--help";
        char *sub[] = {argv[2], help, NULL};
        return fn(2, sub);
    }
    /* Each subcommand gets its own name as argv[0], as if it were a program of its own. */
    int (*fn)(int, char **) = find(a);
    if (fn) return fn(argc - 1, argv + 1);
    fprintf(stderr, "carom: unknown command \"%s\"\n", a);
    fputs(usage, stderr);
    return 2;
}
