#!/usr/bin/env bash
# hostile_sigclose.sh: socket() and close() are async-signal-safe, so a program may call
# them from a signal handler. A SIGALRM every 100 us runs a handler that opens and closes a
# TCP socket while the main loop does the same for 3 s: under the shim both take its
# fd-record pool, and a handler that lands while the thread it interrupted holds the
# pool's lock must not wait for it (that wait never ends). The program must finish in
# time, having run thousands of handlers. It must never pass unless the same loop
# finishes without the shim (the control).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_hostile

write_config <<'EOF2'
[defaults]
state = process
retries = 0
EOF2
RUN_TIMEOUT=15
run_plain "$HOSTILE" sigclose 3000
assert_ok "sigclose without the shim (control)"
run_shim "$HOSTILE" sigclose 3000
log "$OUT ($MS ms)"
[ "$RC" != 124 ] && [ "$RC" != 137 ] || fail "the program deadlocked under the shim (a handler waited for a lock its own thread held)"
assert_ok "sigclose under the shim"
read -r _ pairs _ _ handlers _ <<<"$OUT"
assert_ge "$handlers" 1000 "socket/close pairs run in signal handlers"
assert_ge "$pairs" 1000 "socket/close pairs in the main loop"
pass
