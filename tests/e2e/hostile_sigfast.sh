#!/usr/bin/env bash
# hostile_sigfast.sh: signals inside connect's fast path, which runs without the shim's
# recursion guard and its signal mask (docs/performance.md). For 1.5 s a SIGALRM every
# 200 us lands in the middle of connects to a live listener: every other one siglongjmp()s
# out of the connect, the rest call connect() themselves from the handler. Afterwards a
# connect from a deeper frame to a server that starts listening 1 s later must still be
# retried (no guard left behind by a jump), and the listener must still be reached (the
# per-thread endpoint cache was left usable). Where each signal lands is chance: this is
# a storm that must leave the shim working, not a proof for every instruction (the design
# argument is in docs/performance.md). It must never pass unless the same program fails
# without the shim (the control: nothing retries the late server).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_hostile

late=$(free_port)
# Retries that outlast the late server's second (100 + 200 + 400 + 400 + ... ms).
write_config <<EOF2
[defaults]
state = process
retries = 10
base_delay_ms = 100
max_delay_ms = 400
retry_budget_min_per_s = 100
EOF2
RUN_TIMEOUT=20
# A tick every 200 us leaves the main loop room (a handler connects, which takes tens of
# microseconds); under ThreadSanitizer, every 1 ms.
tick=200
case ${SANITIZER:-} in *thread*) tick=1000 ;; esac
server "$late" echo 2500
run_shim "$HOSTILE" sigfast 1500 "$late" "$tick"
log "$(tr '\n' ';' <<<"$OUT") ($MS ms)"
assert_ok "sigfast under the shim"
read -r _ n _ _ _ jumps _ nested _ <<<"$(sed -n 1p <<<"$OUT")"
assert_ge "$n" 10 "connects made during the storm"
assert_ge "$jumps" 1 "handlers that jumped out of a connect"
assert_ge "$nested" 1 "connects made from a handler"
assert_contains "$OUT" "sigfast: after storm: ping" "the late server was reached by retries after the jumps"
assert_contains "$OUT" "sigfast: listener after storm: connected" "the listener after the storm"

# Control: without the shim the late server is not up when the program dials it.
late=$(free_port)
server "$late" echo 2500
run_plain "$HOSTILE" sigfast 1500 "$late" "$tick"
assert_failed "without the shim (control)"
assert_contains "$OUT" "sigfast: after storm: connect ECONNREFUSED" "control: the late server is not reached"
pass
