/* carom.c: the `carom` command's entry point. It only dispatches to the subcommands of
 * carom_tools.h; it must never hold any subcommand's logic or touch the policy table. */
#include "carom_tools.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: carom run [-c FILE] [--chaos] -- PROGRAM [ARGS...]   run with the shim preloaded\n"
    "       carom check [-v] [FILE]                              validate a policy file\n"
    "       carom explain HOST:PORT [FILE]                       which policy governs an endpoint\n"
    "       carom scoreboard [-c FILE] [--json | --prometheus HOST:PORT]  listen to events\n"
    "       carom cushions [-c FILE] [--json] [--watch]          circuits in shared memory, live\n";

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"run", carom_cmd_run},           {"check", carom_cmd_check},
        {"explain", carom_cmd_explain},   {"scoreboard", carom_cmd_scoreboard},
        {"cushions", carom_cmd_cushions},
    };
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
                      strcmp(argv[1], "help") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    /* Each subcommand gets its own name as argv[0], as if it were a program of its own. */
    for (size_t i = 0; argc >= 2 && i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(argv[1], cmds[i].name) == 0) return cmds[i].fn(argc - 1, argv + 1);
    if (argc >= 2) fprintf(stderr, "carom: unknown command \"%s\"\n", argv[1]);
    fputs(usage, stderr);
    return 2;
}
