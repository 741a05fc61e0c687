#!/usr/bin/env bash
# hostile_daemon.sh: a daemon connects (the shim tracks the socket; io_timeout_ms = 300,
# a circuit breaker of 5 failures in 10), then closes every descriptor above stderr in one
# of four ways no close() wrapper sees by number: closefrom(3), close_range(3, ~0U), a raw
# close_range system call, and fclose() of an fdopen()ed socket. The freed number is then
# reused: (pipe) for a pipe whose data arrives after 700 ms: the read must return it (a
# stale socket record would fail it with ETIMEDOUT, an errno no pipe read can give), and a
# second connect to a late server must still be retried; (peer) for a UNIX socket whose
# peer has gone: five writes fail with EPIPE, which are not the old server's failures, so
# reconnecting to that server must work (a stale record would have opened its circuit).
# It must never pass unless the program fails without the shim.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_hostile

write_config <<'EOF2'
[defaults]
state = process
retries = 10
base_delay_ms = 100
max_delay_ms = 400
jitter = none
retry_budget_min_per_s = 100
io_timeout_ms = 300
cushion = on
cushion_failures = 5
cushion_window = 10
cushion_half_open_ms = 60000
EOF2

for how in closefrom close_range syscall fclose; do
    p1=$(free_port); p2=$(free_port)
    server "$p1" echo 300
    server "$p2" echo 1500
    run_shim "$HOSTILE" daemon "$how" pipe "$p1" "$p2"
    log "$how, pipe: $(tr '\n' ';' <<<"$OUT") ($MS ms)"
    assert_ok "$how, pipe: the daemon under the shim"
    assert_contains "$OUT" "pipe read end is fd 3" "$how: the pipe should reuse the socket's number"
    assert_contains "$OUT" "daemon: pipe read pipe-data" "$how: the pipe read after closing every fd"
    assert_contains "$OUT" "daemon: second: ping" "$how: the second connect (server 1.5 s late)"

    p1=$(free_port)
    server "$p1" echo 300
    run_shim "$HOSTILE" daemon "$how" peer "$p1" "$p1"
    log "$how, peer: $(tr '\n' ';' <<<"$OUT") ($MS ms)"
    assert_ok "$how, peer: the daemon under the shim"
    assert_contains "$OUT" "unix socket is fd 3" "$how: the UNIX socket should reuse the socket's number"
    assert_contains "$OUT" "daemon: 5 of 5 writes to the gone peer failed with EPIPE" "$how: the writes"
    assert_contains "$OUT" "daemon: again: ping" "$how: reconnecting to the same server (its circuit must be closed)"
done

# Control: without the shim the daemon's first connect to a late server fails.
p1=$(free_port); p2=$(free_port)
server "$p1" echo 600
server "$p2" echo 600
run_plain "$HOSTILE" daemon closefrom pipe "$p1" "$p2"
assert_failed "without the shim the daemon's first connect should fail (control)"
assert_contains "$OUT" "daemon: first connect ECONNREFUSED" "control"
pass
