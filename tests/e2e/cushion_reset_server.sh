#!/usr/bin/env bash
# cushion_reset_server.sh: the circuit breaker. Against a server that resets every connection,
# one process makes 12 connect+send+recv attempts with cushion_failures = 3 of a window of
# 6: the circuit opens and later connects fail at once with open_errno (ECONNREFUSED), so
# the server sees at most 6 of the 12. It must never pass unless all 12 reach the server
# without the shim.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog

write_config <<'EOF2'
[defaults]
state = process
retries = 0
cushion = on
cushion_failures = 3
cushion_window = 6
cushion_half_open_ms = 60000
open_errno = ECONNREFUSED
EOF2

# Control: every attempt connects and then sees the reset.
port=$(free_port)
server "$port" reset
run_plain "$CPROG" loop 12 127.0.0.1 "$port"
assert_ok "cprog loop (control)"
assert_eq "$(count_lines "$COUNT" '^conn$')" 12 "without the shim the server should see every attempt"
assert_eq "$(grep -Ec '^[0-9]+ OK (ECONNRESET|EPIPE) ' <<<"$OUT")" 12 "without the shim every attempt should connect and then be reset"

port=$(free_port)
server "$port" reset
run_shim "$CPROG" loop 12 127.0.0.1 "$port"
assert_ok "cprog loop under the shim"
seen=$(count_lines "$COUNT" '^conn$')
log "shim: the server saw $seen of 12 connections"
printf '%s\n' "$OUT" | sed 's/^/# /' >&2
assert_ge "$seen" 1 "the first attempts should reach the server (the circuit starts closed)"
assert_le "$seen" 6 "with the circuit open, connections the server saw"
assert_match "$(sed -n 1p <<<"$OUT")" '^1 OK (ECONNRESET|EPIPE) ' "the first attempt should connect and be reset"
# The last half must all have been refused by the open circuit, each at once.
tail=$(sed -n '7,12p' <<<"$OUT")
assert_eq "$(grep -Ec '^[0-9]+ ECONNREFUSED - ' <<<"$tail")" 6 "attempts 7..12 should fail at connect with open_errno ECONNREFUSED"
while read -r _ _ _ ms; do
    assert_le "$ms" 200 "with the circuit open a connect should fail at once (ms)"
done <<<"$tail"
pass
