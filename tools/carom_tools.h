/* carom_tools.h: the subcommands of the `carom` command, one function each, so that
 * tools/carom.c only dispatches. Tools use the public layer headers only; they must never
 * include anything from shim/. Each returns the process exit status. */
#ifndef CAROM_TOOLS_H
#define CAROM_TOOLS_H

int carom_cmd_check(int argc, char **argv);      /* carom check [-v] [FILE]          (tools/cmd_check.c) */
int carom_cmd_explain(int argc, char **argv);    /* carom explain HOST:PORT [FILE]   (tools/cmd_check.c) */
int carom_cmd_run(int argc, char **argv);        /* carom run [-c FILE] [--chaos] -- PROGRAM ... (tools/cmd_run.c) */
int carom_cmd_scoreboard(int argc, char **argv); /* carom scoreboard [-c FILE] [--json | --prometheus HOST:PORT] (tools/cmd_scoreboard.c) */
int carom_cmd_cushions(int argc, char **argv);   /* carom cushions [-c FILE] [--json] [--watch]  (tools/cmd_cushions.c) */

#endif
