/* proc.c: which process the shim's memory belongs to, so that a vfork child (which runs
 * in its parent's memory) never changes the parent's tables. Its own file so that the
 * scoreboard emitter links without the rest of the shim (bench/bench_events.c). It must
 * never call a wrapped function, allocate or take a lock: it runs in vfork children and
 * signal handlers. */
#include "carom_shim.h"

#include <sys/syscall.h>
#include <unistd.h>

/* The process this memory belongs to: set at load (shim/init.c carom_ctor), and in every
 * fork child. 0 until then. */
static pid_t owner_pid;

void carom__proc_owner_set(void)
{
    owner_pid = (pid_t)syscall(SYS_getpid);
}

bool carom__proc_owner_known(void)
{
    return owner_pid != 0;
}

bool carom__vfork_child(void)
{
    pid_t me = (pid_t)carom__sys2(SYS_getpid, 0, 0); /* getpid cannot fail */
    if (CAROM_LIKELY(me == owner_pid)) return false;
    /* Another process runs in our memory (vfork, or clone with CLONE_VM), or a fork whose
     * atfork handlers did not run (_Fork, a raw clone). kcmp tells the two apart. */
    long same = syscall(SYS_kcmp, me, owner_pid, 1 /* KCMP_VM */, 0, 0);
    if (same > 0) {
        owner_pid = me; /* our own copy of memory: this process owns it now */
        return false;
    }
    return true; /* shares the parent's memory, or cannot tell: leave the table alone */
}
