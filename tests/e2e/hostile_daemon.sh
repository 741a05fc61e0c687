#!/usr/bin/env bash
# hostile_daemon.sh: a daemon connects (the shim tracks the socket, io_timeout_ms = 300),
# then closes every descriptor above stderr in one of four ways no close() wrapper sees
# by number: closefrom(3), close_range(3, ~0U), a raw close_range system call, and
# fclose() of an fdopen()ed socket. The freed number becomes a pipe whose data arrives
# after 700 ms: the read must return it (a stale socket record would time it out with
# ETIMEDOUT, an errno no pipe read can give), and a second connect to a late server must
# still be retried. It must never pass unless the program fails without the shim.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
HOSTILE=$CAROM_ROOT/$BUILD/tests/prog/hostile
[ -x "$HOSTILE" ] || fail "$HOSTILE is missing: run make $BUILD/tests/prog/hostile"

retry_config 'io_timeout_ms = 300'

for how in closefrom close_range syscall fclose; do
    p1=$(free_port); p2=$(free_port)
    server "$p1" echo 600
    server "$p2" echo 1500
    run_shim "$HOSTILE" daemon "$how" "$p1" "$p2"
    log "$how: $(tr '\n' ';' <<<"$OUT") ($MS ms)"
    assert_ok "$how: the daemon under the shim"
    assert_contains "$OUT" "pipe read end is fd 3" "$how: the pipe should reuse the socket's number"
    assert_contains "$OUT" "daemon: pipe read pipe-data" "$how: the pipe read after closing every fd"
    assert_contains "$OUT" "daemon: second: ping" "$how: the second connect (server 1.5 s late)"
done

# Control: without the shim the daemon's first connect to a late server fails.
p1=$(free_port); p2=$(free_port)
server "$p1" echo 600
server "$p2" echo 600
run_plain "$HOSTILE" daemon closefrom "$p1" "$p2"
assert_failed "without the shim the daemon's first connect should fail (control)"
assert_contains "$OUT" "daemon: first connect ECONNREFUSED" "control"
pass
