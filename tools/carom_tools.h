/* carom_tools.h: the subcommands of the `carom` command, one function each, so that
 * tools/carom.c only dispatches. Tools use the public layer headers only; they must never
 * include anything from shim/. Each returns the process exit status (0 ok, 1 failure, 2 usage
 * error with the usage on stderr) and answers -h/--help with its usage on stdout, exit 0:
 * `carom help CMD` calls it with "--help". */
#ifndef CAROM_TOOLS_H
#define CAROM_TOOLS_H

int carom__cmd_check(int argc,
                     char **argv); /* carom check [-v] [FILE]          (tools/cmd_check.c) */
int carom__cmd_explain(int argc,
                       char **argv); /* carom explain HOST:PORT [FILE]   (tools/cmd_check.c) */
int carom__cmd_run(
    int argc, char **argv); /* carom run [-c FILE] [--chaos] -- PROGRAM ... (tools/cmd_run.c) */
int carom__cmd_scoreboard(int argc,
                          char **argv); /* carom scoreboard [-c FILE] [--json | --prometheus
                                           HOST:PORT] (tools/cmd_scoreboard.c) */
int carom__cmd_cushions(
    int argc,
    char **argv); /* carom cushions [-c FILE] [--json] [--watch] [--path] (tools/cmd_cushions.c) */
int carom__cmd_chaos(int argc, char **argv); /* carom chaos [-c FILE] ENDPOINT KEY=VALUE... | --list
                                                | --clear [EP] (tools/cmd_control.c) */
/* carom cushions --open|--close ENDPOINT, --reset [ENDPOINT] (action "open", "close",
 * "reset"; ep NULL: every circuit, for reset only) (tools/cmd_control.c). */
int carom__cushions_control(const char *action, const char *ep, const char *file);
int carom__cmd_fleet(int argc,
                     char **argv); /* carom fleet [-c FILE] [--once] (tools/cmd_fleet.c) */
/* carom cushions --fleet: which hosts report each endpoint open (tools/cmd_fleet.c). */
int carom__fleet_show(const char *file, int json);

/* ---- shared by the tools that read or steer running programs (tools/ctl_table.c) -------- */
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/carom_core.h"
#include "../policy/carom_policy.h"

/* The shared table as a tool maps it (carom__shm_map). h is its header as read when it
 * was mapped. slots and rules are set only for a writable map, whose layout is exactly
 * this build's; a read-only map (`carom cushions`) may be of another layout that
 * describes itself, and is read through h's offsets. */
struct carom__shm {
    unsigned char *base;
    size_t size;
    _Atomic uint64_t *w;
    uint64_t h[CAROM_SHM_H__N];
    carom_slot *slots;
    unsigned n;
    carom_chaos_rule *rules;
    unsigned nrules;
};
/* Milliseconds of CLOCK_MONOTONIC, as the shim stamps the table: every tool's one clock. */
uint64_t carom__mono_ms(void);
/* The policy file (the shim's search when file is NULL) and its table's name; NULL, with a
 * message naming `who`, when it does not load or keeps no shared table. */
carom_table *carom__ctl_config(const char *file, const char *who, char *name, size_t len);
/* Maps the table named name: a regular file of the user's own, mode 0600, with a header
 * this build can read. CAROM__SHM_WRITE maps it read-write, and only when its layout is
 * exactly this build's; CAROM__SHM_QUIET prints nothing. Returns 0, 1 when there is no
 * table (yet; never a message: the caller knows what that means), -1 on a file refused,
 * with one message naming `who`. */
enum { CAROM__SHM_WRITE = 1, CAROM__SHM_QUIET = 2 };
int carom__shm_map(const char *name, const char *who, unsigned flags, struct carom__shm *tb);
void carom__shm_unmap(struct carom__shm *tb);
/* "host:port" or "[v6]:port", as `carom cushions` prints it: the policy governing it, or
 * NULL when it is not spelled so. */
const carom_policy *carom__ctl_endpoint_policy(const carom_table *t, const char *ep);
/* The slot is published and holds ep. */
bool carom__ctl_slot_has(carom_slot *s, const char *ep);
/* One event on the scoreboard, as the shim sends them (docs/scoreboard.md). */
void carom__ctl_announce(const carom_table *t, const char *event, const char *policy,
                         const char *ep, const char *detail);

/* ---- carom.ini from the file system (tools/policy_file.c) -------------------------------- */
/* The file the shim would use (carom_policy_find with access(2)), or NULL: built-in defaults. */
const char *carom__config_find(char *buf, size_t len);
/* Reads path whole and parses it. A missing or unreadable file is one diagnostic
 * ("carom: PATH:0: cannot read: No such file or directory") and NULL. */
carom_table *carom__config_load(const char *path, carom_diag_fn diag, void *ud);

#endif
