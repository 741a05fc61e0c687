#!/usr/bin/env bash
# hostile_forklock.sh: four threads churn the shim's two locks (socket()/close() of TCP
# sockets take the fd-record pool lock; getaddrinfo takes the stale-DNS lock, both to look
# up and to store) while the main thread forks 400 times. Each child takes the same locks
# (socket, close, and getaddrinfo of a name whose policy fails DNS by chaos, so the C
# library's own resolver, whose lock is not fork-safe, is never called in the child) and
# exits. A lock copied into a child while another thread held it never opens: every child
# must exit within 3 s. It must never pass unless the same program runs without the shim
# (there without name resolution: the C library's resolver is not fork-safe by itself).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_hostile

write_config <<'EOF2'
[defaults]
state = process
retries = 0

[chaoshost]
chaos.dns_fail = 1
EOF2
RUN_TIMEOUT=60
run_plain "$HOSTILE" forklock 4 400 0
assert_ok "forklock without the shim (control): $OUT"
run_shim CAROM_CHAOS=1 "$HOSTILE" forklock 4 400 1
log "$OUT ($MS ms)"
assert_ok "forklock under the shim: a child hung on a lock copied while held"
assert_eq "$OUT" "forklock: forks=400 hung=0 failed=0" "forklock under the shim"
pass
