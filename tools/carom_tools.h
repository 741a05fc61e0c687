/* carom_tools.h: the subcommands of the `carom` command, one function each, so that
 * tools/carom.c only dispatches. Tools use the public layer headers only; they must never
 * include anything from shim/. Each returns the process exit status (0 ok, 1 failure, 2 usage
 * error with the usage on stderr) and answers -h/--help with its usage on stdout, exit 0:
 * `carom help CMD` calls it with "--help". */
#ifndef CAROM_TOOLS_H
#define CAROM_TOOLS_H

int carom_cmd_check(int argc, char **argv);      /* carom check [-v] [FILE]          (tools/cmd_check.c) */
int carom_cmd_explain(int argc, char **argv);    /* carom explain HOST:PORT [FILE]   (tools/cmd_check.c) */
int carom_cmd_run(int argc, char **argv);        /* carom run [-c FILE] [--chaos] -- PROGRAM ... (tools/cmd_run.c) */
int carom_cmd_scoreboard(int argc, char **argv); /* carom scoreboard [-c FILE] [--json | --prometheus HOST:PORT] (tools/cmd_scoreboard.c) */
int carom_cmd_cushions(int argc, char **argv);   /* carom cushions [-c FILE] [--json] [--watch] [--path] (tools/cmd_cushions.c) */
int carom_cmd_chaos(int argc, char **argv);      /* carom chaos [-c FILE] ENDPOINT KEY=VALUE... | --list | --clear [EP] (tools/cmd_control.c) */
/* carom cushions --open|--close ENDPOINT, --reset [ENDPOINT] (action "open", "close",
 * "reset"; ep NULL: every circuit, for reset only) (tools/cmd_control.c). */
int carom_cushions_control(const char *action, const char *ep, const char *file);

#endif
