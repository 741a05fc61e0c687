#!/usr/bin/env bash
# scoreboard_table.sh: `carom scoreboard` with no flag shows the live per-policy table:
# calls, retries, failures, circuit state, p50/p99 shot latency and the last error, one
# row per policy, refreshed while events arrive and printed once more on exit. Text from
# an event can never reach the terminal raw (an escape sequence in a policy name shows
# as '?'). It must never pass unless the rows hold the counts the programs produced.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog

CAROM=$CAROM_ROOT/$BUILD/carom
[ -x "$CAROM" ] || fail "$CAROM is missing: run make"

dead=$(free_port); live=$(free_port)
server "$live" echo
write_config <<EOF2
[defaults]
state = process
retries = 0
[deadpol]
match = 127.0.0.1:$dead
retries = 2
base_delay_ms = 20
jitter = none
cushion = on
; Each run's one failed shot opens its own (per-process) circuit, so the table shows it.
cushion_failures = 1
cushion_window = 5
[livepol]
match = 127.0.0.1:$live
EOF2

"$CAROM" scoreboard --interval 200 >"$T/table" 2>"$T/sb.err" &
sb=$!
_PIDS+=("$sb")
for _ in $(seq 100); do [ -S "$CAROM_SCOREBOARD" ] && break; sleep 0.05; done
[ -S "$CAROM_SCOREBOARD" ] || fail "carom scoreboard did not start"

run_shim "$CPROG" errno 127.0.0.1 "$dead"
run_shim "$CPROG" errno 127.0.0.1 "$dead"
for _ in 1 2 3; do
    run_shim "$CPROG" connect 127.0.0.1 "$live"
    assert_ok "connect to the live server"
done
"$PYTHON" - "$CAROM_SCOREBOARD" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(json.dumps({"ts": 1, "pid": 1, "event": "shot", "policy": "evil\x1b]0;pwned\x07",
                     "endpoint": "x:1", "error": "E\x1b[2J"}).encode(), sys.argv[1])
PY
sleep 0.6 # at least one refresh with everything in
grep -q 'deadpol' "$T/table" || fail "no live refresh showed the events: $(cat "$T/table")"
kill -TERM "$sb"; wait "$sb"
assert_eq "$?" 0 "carom scoreboard exits 0 on SIGTERM"

# The last table printed (on exit).
last=$(awk '/^carom scoreboard/ { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' "$T/table")
printf '%s\n' "$last" | sed 's/^/# /' >&2
assert_match "$last" '^POLICY +CALLS +RETRIES +FAILURES +LIMITED +CIRCUIT +P50 +P99 +LAST ERROR' "the header"
assert_match "$last" "^deadpol +2 +4 +2 +0 +open 1/1 +[0-9]+ms +[0-9]+ms +ECONNREFUSED 127\.0\.0\.1:$dead \(" "deadpol's row"
assert_match "$last" '^livepol +3 +0 +0 +0 +closed +[0-9]+ms +[0-9]+ms +-$' "livepol's row"
assert_match "$last" 'events 12 ' "events counted (2 x (2 retries, shot, open) + 3 shots + 1)"
if grep -q $'\x1b' "$T/table"; then fail "an escape sequence from an event reached the output"; fi
assert_match "$last" '^evil\?\]0;pwned\? ' "the hostile policy name, defused"
pass
