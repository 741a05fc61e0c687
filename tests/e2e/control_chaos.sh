#!/usr/bin/env bash
# control_chaos.sh: faults set at run time with `carom chaos` reach running processes that
# have chaos enabled, within about a second, and only those. A python3 loop with
# CAROM_CHAOS=1 and one without both connect to a live server; `carom chaos ENDPOINT
# connect_refuse=1` makes the first one's connects fail within 1.2 s while the second's go
# on succeeding; `--list` shows the rule; `--clear` heals them within 1.2 s. Every
# injection is a chaos event. Bad values are refused with the key named.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
CAROM=$CAROM_ROOT/$BUILD/carom
SHM=
trap '[ -z "$SHM" ] || rm -f "$SHM"; _cleanup' EXIT
start_scoreboard
port=$(free_port)
SERVER_LIFETIME=60 server "$port" echo

# retries = 0 and cushion = off: this test times the fault's arrival and departure by each
# connect's outcome; a retry would hide a refusal and the breaker would add its break to
# the healing (both have tests of their own).
write_config <<EOF2
[defaults]
retries = 0
cushion = off
[chaos]
seed = 7
; $TEST_NAME $port $$
EOF2
SHM=$("$CAROM" cushions -c "$CFG" --path)
EP=127.0.0.1:$port

LOOP='
import socket, sys, time, os
port, stop = int(sys.argv[1]), sys.argv[2]
while not os.path.exists(stop):
    s = socket.socket()
    t0 = time.time()
    try:
        s.connect(("127.0.0.1", port)); r = "ok"
    except OSError as e:
        r = "fail"
    print(int(t0 * 1000), r, flush=True)
    s.close()
    time.sleep(0.05)'
CAROM_CHAOS=1 shim "$PYTHON" -c "$LOOP" "$port" "$T/stop" >"$T/chaos.out" 2>"$T/chaos.err" &
_PIDS+=("$!"); a=$!
shim "$PYTHON" -c "$LOOP" "$port" "$T/stop" >"$T/prod.out" 2>"$T/prod.err" &
_PIDS+=("$!"); b=$!
sleep 1

run_plain "$CAROM" chaos -c "$CFG" "$EP" connect_refuse=lots
assert_eq "$RC" 1 "a bad value is refused"
assert_contains "$ERR" "chaos.connect_refuse" "the key is named"
run_plain "$CAROM" chaos -c "$CFG" "$EP" no_such_fault=1
assert_eq "$RC" 1 "an unknown key is refused"
run_plain "$CAROM" chaos -c "$CFG"
assert_eq "$RC" 2 "no endpoint and no faults: a usage error"

t_on=$(ms_now)
run_plain "$CAROM" chaos -c "$CFG" "$EP" connect_refuse=1
assert_ok "carom chaos sets the fault"
run_plain "$CAROM" chaos -c "$CFG" --list
assert_contains "$OUT" "$EP connect_refuse=1" "--list shows it"
sleep 2
t_off=$(ms_now)
run_plain "$CAROM" chaos -c "$CFG" --clear
assert_ok "carom chaos --clear"
assert_contains "$OUT" "1 endpoint cleared" "--clear says what it removed"
sleep 2
: >"$T/stop"
wait "$a" "$b"

"$PYTHON" - "$T/chaos.out" "$T/prod.out" "$t_on" "$t_off" <<'PY' || fail "runtime chaos"
import sys
def rows(f): return [(int(t), r) for t, r in (l.split() for l in open(f) if l.strip())]
a, b = rows(sys.argv[1]), rows(sys.argv[2])
on, off = int(sys.argv[3]), int(sys.argv[4])
assert all(r == "ok" for t, r in a if t < on), "failures before the fault was set"
first_fail = min((t for t, r in a if t >= on and r == "fail"), default=None)
assert first_fail is not None, "the fault never arrived"
assert first_fail - on <= 1200, "the fault arrived after %d ms" % (first_fail - on)
assert all(r == "fail" for t, r in a if first_fail <= t < off), "a connect got through while refused"
healed = min((t for t, r in a if t >= off and r == "ok"), default=None)
assert healed is not None and healed - off <= 1200, "not healed within 1.2 s"
assert all(r == "ok" for t, r in a if t >= healed), "failures after healing"
assert b and all(r == "ok" for t, r in b), "the process without chaos enabled was touched"
print("arrived after %d ms, healed after %d ms" % (first_fail - on, healed - off), file=sys.stderr)
PY
grep -q "\"event\":\"chaos\".*\"endpoint\":\"$EP\"" "$EV" || fail "no chaos events"
pass "runtime fault on within 1.2 s, off within 1.2 s, only where chaos is enabled"
