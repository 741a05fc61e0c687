#!/usr/bin/env bash
# valgrind_hostile.sh: the shim's descriptor-lifecycle paths under valgrind memcheck,
# through three hostile programs that make it retry: a daemon that fclose()s its socket
# behind the shim's back and reuses the number for a pipe (stale-record checks), a signal
# handler that siglongjmp()s out of a backoff sleep and out of a blocking connect (the
# guard dropped around blocking calls), and a thread that closes a socket during a retry
# (the private retry socket and the install handshake). The same report checks as
# valgrind_curl.sh for each. It must never pass without a complete report per program.
# timeout: 600 (memcheck runs the programs many times slower)
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cmd valgrind
[ -z "${SANITIZER:-}" ] || skip "valgrind cannot run a sanitizer build of the shim"
need_hostile
CAROM=$CAROM_ROOT/$BUILD/carom
[ -x "$CAROM" ] || fail "$CAROM is missing: run make"
# shellcheck source=tests/e2e/valgrind_lib.inc
. "$(dirname "$0")/valgrind_lib.inc"
vg_listen

# Each program gets its own log directory, so vg_check finds its report.
fresh_logs() { mkdir -p "$T/old"; mv "$T"/vg.* "$T/old/" 2>/dev/null; true; }

retry_config 'io_timeout_ms = 300'
p1=$(free_port); p2=$(free_port)
server "$p1" echo 2000
server "$p2" echo 3000
vg_run "$HOSTILE" daemon fclose pipe "$p1" "$p2"
assert_ok "the daemon under valgrind"
assert_contains "$OUT" "daemon: pipe read pipe-data" "the daemon's pipe read"
assert_contains "$OUT" "daemon: second: ping" "the daemon's second connect"
vg_check "hostile daemon"

fresh_logs
dead=$(free_port); late=$(free_port); late2=$(free_port)
write_config <<EOF2
[defaults]
state = process
retries = 3
base_delay_ms = 200
max_delay_ms = 1000
jitter = none
retry_budget_min_per_s = 100

[127.0.0.1:$late]
retries = 20
base_delay_ms = 100
max_delay_ms = 400

[127.0.0.1:$late2]
retries = 30
base_delay_ms = 100
max_delay_ms = 400
EOF2
server "$late" echo 4000
server "$late2" echo 6000
vg_run "$HOSTILE" sigsleep "$dead" "$late" "$late2"
assert_ok "sigsleep under valgrind"
assert_contains "$OUT" "sigsleep: after jump: ping" "the connect after the jump"
assert_contains "$OUT" "sigsleep: after jump2: ping" "the connect after the jump out of a blocking connect"
vg_check "hostile sigsleep"

fresh_logs
write_config <<'EOF2'
[defaults]
state = process
retries = 3
base_delay_ms = 300
max_delay_ms = 400
jitter = none
retry_budget_min_per_s = 100
EOF2
vg_run "$HOSTILE" closerace "$dead" "$T/watchdog"
assert_ok "closerace under valgrind"
assert_match "$OUT" "is the file; write ok$" "the watchdog's file"
vg_check "hostile closerace"
pass
