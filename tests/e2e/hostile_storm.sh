#!/usr/bin/env bash
# hostile_storm.sh: a fork storm through one shared cushion (state = shared, a config of
# its own so it shares with no other test). The parent connects once to a dead port (the
# shim attaches its table), then forks 64 children released together, each making 3
# connects there, with cushion_failures = 5 and open_errno = EHOSTUNREACH so real refusals
# and the open circuit's answers are told apart. Every child must exit on its own and in
# time; fewer than half of the 192 connects may reach the port; the parent must find the
# circuit open afterwards, and `carom cushions` must show it. Control: the same storm with
# state = process reaches the port 192 times. It must never leave its /dev/shm table.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_hostile
CAROM=$CAROM_ROOT/$BUILD/carom
[ -x "$CAROM" ] || fail "$CAROM is missing: run make"
SHM=
trap '[ -z "$SHM" ] || rm -f "$SHM"; _cleanup' EXIT

dead=$(free_port)
storm_config() {
    write_config <<EOF2
[defaults]
state = $1
retries = 0
cushion = on
cushion_failures = 5
cushion_window = 10
cushion_half_open_ms = 60000
open_errno = EHOSTUNREACH
; $TEST_NAME $dead $$ $(date +%s%N)
EOF2
}

storm_config shared
SHM=$("$CAROM" cushions -c "$CFG" --path) || fail "carom cushions --path: $SHM"
[ ! -e "$SHM" ] || fail "$SHM exists before the test: the config is not unique"
run_shim "$HOSTILE" storm 64 3 "$dead"
log "shared: $(tr '\n' ';' <<<"$OUT") ($MS ms)"
assert_ok "the storm under the shim: every child exits on its own"
assert_match "$OUT" "children=64 reported=64 exited_badly=0 hung=0 " "every child reported"
read -r real fast other after <<<"$(sed -nE 's/.* real=([0-9]+) fast=([0-9]+) other=([0-9]+) parent_after=([A-Z]+).*/\1 \2 \3 \4/p' <<<"$OUT")"
assert_eq "$other" 0 "outcomes other than a refusal or the open circuit"
assert_eq "$((real + fast))" 192 "outcomes reported"
assert_ge "$real" 4 "connects that reached the dead port (the parent's made the fifth failure)"
assert_le "$real" 95 "connects that reached the dead port with one shared cushion"
assert_eq "$after" EHOSTUNREACH "the parent after the storm: the children's circuit, open"
[ -f "$SHM" ] || fail "no shared table at $SHM"
table=$("$CAROM" cushions -c "$CFG")
log "$table"
assert_match "$table" "127\.0\.0\.1:$dead .* open " "carom cushions shows the circuit open"

# Control: per-process state, the same storm: every connect reaches the port.
rm -f "$SHM"
storm_config process
run_shim "$HOSTILE" storm 64 3 "$dead"
log "process: $(tr '\n' ';' <<<"$OUT")"
assert_ok "the storm with state = process"
assert_match "$OUT" "children=64 reported=64 exited_badly=0 hung=0 real=192 fast=0 other=0 " \
    "with state = process every child's connects reach the port (control)"
pass
