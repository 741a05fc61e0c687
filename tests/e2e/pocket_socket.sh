#!/usr/bin/env bash
# pocket_socket.sh: when every attempt on an endpoint fails, the shim connects the program's
# socket to the policy's pocket (fallback) endpoint instead, blocking and non-blocking.
# It must never pass unless the program fails against the dead port without the shim.
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog

echo_port=$(free_port)
server "$echo_port" echo
dead=$(free_port)
write_config <<EOF2
[defaults]
state = process
retries = 1
base_delay_ms = 10
[127.0.0.1:$dead]
pocket = 127.0.0.1:$echo_port
EOF2
run_plain "$CPROG" connect 127.0.0.1 "$dead"
assert_failed "control: the dead port refuses without the shim"
run_shim "$CPROG" connect 127.0.0.1 "$dead"
assert_ok "blocking connect falls back to the pocket"
assert_contains "$OUT" "ping" "the pocket's echo answered"
run_shim "$CPROG" nbconnect 127.0.0.1 "$dead"
assert_ok "non-blocking connect falls back to the pocket"
assert_eq "$(count_lines "$COUNT" '^conn$')" 2 "the pocket saw both programs"
pass
