#!/usr/bin/env bash
# config_disable.sh: CAROM_DISABLE=1 makes the preloaded shim a pure pass-through: with a
# retry policy in force a server 600 ms late is still refused, as without the shim, while
# an ordinary connection works. It must never pass unless the same policy without
# CAROM_DISABLE does get through.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog

retry_config 'io_timeout_ms = 500'

port=$(free_port)
server "$port" echo 600
run_shim CAROM_DISABLE=1 "$CPROG" connect 127.0.0.1 "$port"
wait_ready "$READY"
assert_failed "with CAROM_DISABLE=1 the late server should be refused, as without the shim"
assert_contains "$ERR" ECONNREFUSED "with CAROM_DISABLE=1: expected ECONNREFUSED"

# Pass-through still passes: a server that is up answers normally.
run_shim CAROM_DISABLE=1 "$CPROG" connect 127.0.0.1 "$port"
assert_ok "with CAROM_DISABLE=1 an ordinary connection should work"
assert_match "$OUT" '^connect: ping$' "with CAROM_DISABLE=1: unexpected output"

# ... and so does the io_timeout it would otherwise apply: the recv blocks.
bport=$(free_port)
server "$bport" blackhole
RUN_TIMEOUT=2 run_shim CAROM_DISABLE=1 "$CPROG" recv 127.0.0.1 "$bport"
assert_timed_out "with CAROM_DISABLE=1 io_timeout_ms should not apply"

# Control: the same policy, not disabled, gets through the late server.
port=$(free_port)
server "$port" echo 600
run_shim "$CPROG" connect 127.0.0.1 "$port"
assert_ok "without CAROM_DISABLE the same policy should reach the late server (control)"
pass
