/* hostile.h: what the files of the hostile test program (tests/prog/hostile/) share:
 * the helpers in util.c and one cmd_* function per subcommand, grouped by family. It is a
 * test program's header, never included by carom itself. */
#ifndef HOSTILE_H
#define HOSTILE_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- util.c: clocks, loopback dialling, descriptor counts */
long long ms_now(void);
void sleep_ms(long ms);
const char *ename(int e);
struct sockaddr_in loopback(int port);
int port_arg(const char *s); /* a port number argument, or exit 2 */
int dial(int port);
int echo(int fd, const char *msg, char *out, size_t cap);
int dial_echo(const char *who, int port);
int carom_socket_fd(int limit);
int count_tcp_fds(void);

/* A thread that writes msg to fd after ms (writer): a late writer for a pipe. */
struct delayed_write {
    int fd;
    long ms;
    const char *msg;
};
void *writer(void *arg);
/* Set to stop the helper threads of a subcommand. */
extern atomic_bool stop_flag;

/* ---- fds.c: the program closes or replaces descriptors behind the shim's back */
int cmd_daemon(const char *how, const char *what, int port1, int port2);
int cmd_sbdup2(int dead, int iters, const char *how);
int cmd_closerace(int port, const char *path);
int cmd_highfd(int target, int port, long hard);

/* ---- signals.c: signals and siglongjmp inside the shim */
int cmd_sigsleep(int dead, int late, int late2);
int cmd_dnsjump(const char *name, int late);
int cmd_sigclose(long ms);
int cmd_sigfast(long ms, int late, long tick_us);

/* ---- fork.c: fork storms, vfork, posix_spawn, forks during the shim's locks */
int cmd_storm(int n, int k, int dead);
int cmd_spawn(const char *mode, const char *self, int blackhole, int late);
int cmd_vforkfds(int dead, int rounds);
int cmd_forklock(int nthreads, int forks, bool dns);
void on_alarm_quiet(int sig); /* a SIGALRM that only interrupts a blocking call */

/* ---- load.c: a flapping server and a connect flood */
int cmd_flakyserver(int port, int up, int down, int life, const char *countfile, const char *ready);
int cmd_flood(int nthreads, int per, int port);

#endif
