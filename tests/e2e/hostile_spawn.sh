#!/usr/bin/env bash
# hostile_spawn.sh: vfork and posix_spawn children. The parent holds a tracked socket to
# a server that never answers (io_timeout_ms = 300) and reads its stdin from a pipe fed
# 700 ms late. The child is handed the socket as its stdin the inetd way (dup2 to 0, then
# close) and execs this program to connect to a server 600 ms late. A vfork child runs
# those dup2/close calls in the parent's memory: they must not touch the parent's fd
# table. So: the child's connect is retried (it inherited the shim), the parent's recv
# still times out after about 300 ms (its record survived the child's close), and the
# parent's stdin read returns its data (the child's dup2 did not make fd 0 "a socket").
# It must never pass unless the same recv blocks without the shim.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_hostile

retry_config 'io_timeout_ms = 300'
silent=$(free_port)
server "$silent" blackhole
for mode in vfork posix_spawn; do
    late=$(free_port)
    server "$late" echo 600
    run_shim "$HOSTILE" spawn "$mode" "$silent" "$late"
    log "$mode: $(tr '\n' ';' <<<"$OUT") ($MS ms)"
    assert_ok "$mode under the shim"
    assert_contains "$OUT" "connect: ping" "$mode: the child's connect to a late server"
    assert_contains "$OUT" "spawn: child ok" "$mode: the child's exit status"
    assert_match "$OUT" "spawn: parent recv ETIMEDOUT after [0-9]+ ms" "$mode: the parent's socket keeps io_timeout_ms"
    ms=$(sed -nE 's/.*parent recv ETIMEDOUT after ([0-9]+) ms.*/\1/p' <<<"$OUT")
    assert_le "$ms" 1500 "$mode: the parent's recv timed out too late (ms)"
    assert_contains "$OUT" "spawn: parent stdin stdin-data" "$mode: the parent's stdin read"
done

# Control: without the shim the child cannot reach the late server and the parent's recv
# blocks until the program's own 3 s alarm.
late=$(free_port)
server "$late" echo 600
run_plain "$HOSTILE" spawn vfork "$silent" "$late"
log "control: $(tr '\n' ';' <<<"$OUT")"
assert_contains "$OUT" "spawn: child failed" "control: the child without the shim"
assert_contains "$OUT" "spawn: parent recv EINTR after" "control: the recv blocks without the shim"
pass
