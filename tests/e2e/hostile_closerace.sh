#!/usr/bin/env bash
# hostile_closerace.sh: a watchdog thread aborts a blocking connect the classic way: it
# close()s the socket while connect() is in the shim's backoff sleep, and at once opens a
# file, which takes the same descriptor number. The server comes up during the sleep, so
# the shim's next attempt connects: it must not put that socket in the number's place
# (dup3). The file must still be the file and take a write (with the bug the write dies of
# SIGPIPE on a socket). It must never pass unless the same program keeps its file without
# the shim.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_hostile

write_config <<'EOF2'
[defaults]
state = process
retries = 3
base_delay_ms = 300
max_delay_ms = 400
jitter = none
retry_budget_min_per_s = 100
EOF2
for how in plain shim; do
    # Refused at 0 ms, closed and reused at 150 ms, listening from 200 ms, retried at 300 ms.
    port=$(free_port)
    server "$port" echo 200
    "run_$how" "$HOSTILE" closerace "$port" "$T/watchdog.$how"
    log "$how: $OUT (exit $RC, $MS ms)"
    assert_ok "closerace ($how): the watchdog's file must survive the aborted connect"
    assert_match "$OUT" "is the file; write ok$" "closerace ($how)"
    assert_eq "$(cat "$T/watchdog.$how")" "file-data" "closerace ($how): what reached the file"
    # The connect was refused first (else nothing was retried and the test proves nothing).
    assert_contains "$OUT" "closerace: connect ECONNREFUSED;" "closerace ($how): the connect's outcome"
done
pass
