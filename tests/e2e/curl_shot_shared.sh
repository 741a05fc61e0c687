#!/usr/bin/env bash
# curl_shot_shared.sh: libcurl transfers as shots under the default shared state and
# cushion. (1) A sustained outage still fails fast: 10 sequential curl runs with
# retries = 2 against a dead port; once the circuit has opened, the remaining runs make no
# connect attempt and no backoff sleep (strace), and answer "carom: circuit open for ...". (2) Injected 503s (chaos http_status = 503@0.5, retries = 8) never open the
# circuit on the caller's own retries: every run succeeds, or fails only after nine 503s.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_curl
need_cmd strace
CAROM=$CAROM_ROOT/$BUILD/carom
SHM=
trap '[ -z "$SHM" ] || rm -f "$SHM"; _cleanup' EXIT

# (1) retries = 2 is the scenario; everything else is the default.
dead=$(free_port)
write_config <<EOF2
[defaults]
retries = 2
; $TEST_NAME dead $dead $$
EOF2
SHM=$(CAROM_CONFIG=$CFG "$CAROM" cushions --path)
opened=0 fast=0
for i in 1 2 3 4 5 6 7 8 9 10; do
    t0=$(ms_now)
    timeout -k 3 "$RUN_TIMEOUT" strace -f -qq -e trace=connect,clock_nanosleep,nanosleep -o "$T/strace.$i" \
        -E "LD_PRELOAD=$SHIM_PRELOAD" -E "CAROM_CONFIG=$CFG" \
        curl -sS "http://127.0.0.1:$dead/" >/dev/null 2>"$T/err.$i"
    rc=$? ms=$(( $(ms_now) - t0 ))
    [ "$rc" -ne 0 ] || fail "run $i succeeded against a dead port"
    [ "$rc" -lt 124 ] || fail "run $i hung or crashed (exit $rc)"
    if grep -q "htons($dead)" "$T/strace.$i"; then
        [ "$opened" = 0 ] || fail "run $i connected to the dead port after the circuit opened"
    else
        [ "$opened" != 0 ] || opened=$i
        grep -q 'carom: circuit open for' "$T/err.$i" || fail "run $i: no circuit-open text: $(cat "$T/err.$i")"
        # Failing fast is a behaviour, checked as one: no backoff sleep at all (the time is
        # logged, not judged).
        grep -Eq 'nanosleep' "$T/strace.$i" || fast=$((fast + 1))
        log "run $i: failed fast in $ms ms"
    fi
done
[ "$opened" != 0 ] || fail "the circuit never opened in 10 failed runs"
assert_le "$opened" 6 "the run that first failed fast (5 failed shots open the circuit)"
assert_eq "$fast" $((11 - opened)) "runs after the opening that made no backoff sleep"
rm -f "$SHM"

# (2) chaos 503 on half the requests, retries = 8 (the scenario); shared state and the
# cushion are the defaults. Chaos must be switched on: it is off unless asked for.
port=$(free_port)
server "$port" http
write_config <<EOF2
[defaults]
retries = 8
base_delay_ms = 20
max_delay_ms = 100
chaos.http_status = 503@0.5
; $TEST_NAME chaos $port $$
EOF2
SHM=$(CAROM_CONFIG=$CFG "$CAROM" cushions --path)
start_scoreboard
ok=0
for i in 1 2 3 4 5 6 7 8 9 10; do
    CAROM_CHAOS=1 run_shim curl -sf "http://127.0.0.1:$port/"
    [ "$RC" = 0 ] && [ "$OUT" = hello ] && ok=$((ok + 1))
done
# Each run's draws are new (seed 0), so nine 503s in a row, every attempt the policy
# allows, come up once in 512 runs: about 2% of the test's runs would see one. Such a run
# is the scenario's own arithmetic, not the cushion, and its events prove it: a shot that
# failed after attempt 9 with HTTP 503. Anything else (a shot ended early, an `open`) is
# the defect this test exists for.
for _ in $(seq 100); do
    [ "$(grep -c "\"event\":\"shot\".*:$port\"" "$EV")" -ge 10 ] && break
    sleep 0.05
done
shots=$(grep "\"event\":\"shot\".*:$port\"" "$EV")
assert_eq "$(grep -c . <<<"$shots")" 10 "shot events, one per curl run"
assert_eq "$(grep -c '"event":"open"' "$EV")" 0 "circuits opened by injected 503s"
failed=$(grep -c '"error"' <<<"$shots")
exhausted=$(grep -c '"attempt":9,.*"error":"HTTP 503"' <<<"$shots")
assert_eq "$exhausted" "$failed" "failed runs that made all nine attempts, each a 503"
assert_le "$failed" 1 "runs that drew nine 503s in a row (two would be 1 in 20,000)"
assert_eq "$ok" $((10 - failed)) "curl runs that got the body through injected 503s"
injected=$(grep -c '"event":"chaos"' "$EV")
assert_ge "$injected" 1 "503s injected in the 10 runs (the scenario happened)"
pass "circuit opened at run $opened, then fast; $ok/10 through $injected injected 503s"
