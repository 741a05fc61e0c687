#!/usr/bin/env bash
# control_cushions.sh: circuits steered by hand for every process sharing the table.
# `carom cushions --open 127.0.0.1:PORT` makes the next curl to that live server fail fast
# with "carom: circuit open" (no request reaches it) and a plain C connect get open_errno;
# the circuit shows as forced-open in `carom cushions` and on the scoreboard (an open event
# whose detail says it was manual), and stays open past any break. `--close` heals it for
# the next process; `--reset` forgets every circuit. Usage errors exit 2.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_curl
need_cprog
CAROM=$CAROM_ROOT/$BUILD/carom
SHM=
trap '[ -z "$SHM" ] || rm -f "$SHM"; _cleanup' EXIT
start_scoreboard

# Every key is the default (state shared, cushion on, a 1 s first break).
write_config <<EOF2
[defaults]
; $TEST_NAME $port $$
EOF2
SHM=$("$CAROM" cushions -c "$CFG" --path)
EP=127.0.0.1:$port

run_plain "$CAROM" cushions -c "$CFG" --open "$EP"
assert_eq "$RC" 1 "no table yet: nothing to open"
assert_contains "$ERR" "no shared table yet" "says why"

run_shim curl -sf "http://$EP/"
assert_ok "a first curl through the shim makes the table"
before=$(count_lines "$COUNT" '^GET')

run_plain "$CAROM" cushions -c "$CFG" --open "$EP"
assert_ok "carom cushions --open"
assert_contains "$OUT" "forced-open" "--open says what it did"
sleep 1.2 # longer than the first break: a hand-opened circuit does not half-open
run_shim curl -sS "http://$EP/"
assert_eq "$RC" 7 "curl fails fast with CURLE_COULDNT_CONNECT"
assert_contains "$ERR" "carom: circuit open for $EP" "curl's error names the open circuit"
run_shim "$CPROG" errno 127.0.0.1 "$port"
assert_eq "$(head -c 12 <<<"$OUT")" "ECONNREFUSED" "a plain connect gets open_errno"
assert_eq "$(count_lines "$COUNT" '^GET')" "$before" "no request reached the server while forced open"

run_plain "$CAROM" cushions -c "$CFG"
assert_match "$OUT" "^127\.0\.0\.1:$port +defaults +forced-open " "carom cushions shows it forced-open"
run_plain "$CAROM" cushions -c "$CFG" --json
assert_contains "$OUT" '"state":"forced-open"' "--json too"
for _ in $(seq 50); do grep -q '"event":"open".*"detail":"manual' "$EV" && break; sleep 0.1; done
grep -q "\"event\":\"open\".*\"endpoint\":\"$EP\".*\"detail\":\"manual" "$EV" || fail "no manual open event: $(cat "$EV")"

run_plain "$CAROM" cushions -c "$CFG" --close "$EP"
assert_ok "carom cushions --close"
run_shim curl -sf "http://$EP/"
assert_ok "after --close, curl gets through"
assert_eq "$OUT" hello "the body"
grep -q "\"event\":\"close\".*\"endpoint\":\"$EP\".*\"detail\":\"manual" "$EV" || fail "no manual close event"

run_plain "$CAROM" cushions -c "$CFG" --open "$EP"
run_plain "$CAROM" cushions -c "$CFG" --reset
assert_ok "carom cushions --reset"
run_shim curl -sf "http://$EP/"
assert_ok "after --reset, curl gets through"

run_plain "$CAROM" cushions -c "$CFG" --close 127.0.0.1:1
assert_eq "$RC" 1 "closing an endpoint with no circuit fails"
run_plain "$CAROM" cushions -c "$CFG" --open nonsense
assert_eq "$RC" 2 "a malformed endpoint is a usage error"
run_plain "$CAROM" cushions -c "$CFG" --open
assert_eq "$RC" 2 "--open needs an endpoint"
pass "forced open, fast failures across processes, closed and reset by hand"
