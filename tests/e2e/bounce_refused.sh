#!/usr/bin/env bash
# bounce_refused.sh: with retries = 2 against a port nobody listens on, the program still
# gets ECONNREFUSED (the real call's errno), but only after the backoff delays (jitter none,
# base 200 ms: 200 + 400 = 600 ms). It must never pass unless the same call without the
# shim fails at once.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog

write_config <<'EOF2'
[defaults]
state = process
retries = 2
base_delay_ms = 200
max_delay_ms = 1000
jitter = none
EOF2
port=$(free_port)

run_shim "$CPROG" errno 127.0.0.1 "$port"
assert_ok "cprog errno always exits 0"
read -r name ms <<<"$OUT"
assert_eq "$name" ECONNREFUSED "with the shim, the program should still see ECONNREFUSED"
# The two delays sum to 600 ms; sleeps never end early, so only ms rounding is allowed for.
assert_ge "$ms" 590 "with the shim, connect should return after both backoff delays (ms)"
assert_le "$ms" 3000 "with the shim, connect took far longer than 2 retries should (ms)"
log "shim: $name after $ms ms"

run_plain "$CPROG" errno 127.0.0.1 "$port"
read -r name ms <<<"$OUT"
assert_eq "$name" ECONNREFUSED "without the shim (control)"
assert_le "$ms" 300 "without the shim a refused connect should fail at once (ms)"
log "plain: $name after $ms ms"
pass
