#!/usr/bin/env bash
# scoreboard_listener.sh: a listener that goes away and comes back. One long-running
# program under the shim emits an event every 20 ms; the scoreboard is killed with SIGKILL
# (leaving a stale socket file) and a new one started on the same path: the new one
# replaces the stale socket, receives the same process's events again, and the first of
# them reports the events dropped meanwhile, so that received + dropped accounts for every
# event. A second listener on a live socket must refuse to start. It must never pass
# unless the program really emitted events while nobody listened.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim

CAROM=$CAROM_ROOT/$BUILD/carom
[ -x "$CAROM" ] || fail "$CAROM is missing: run make"

listen() {
    local out=$1 i=0; shift
    "$CAROM" scoreboard "$@" >"$out" 2>"$out.err" &
    LPID=$!
    _PIDS+=("$LPID")
    while ! grep -q listening "$out.err" 2>/dev/null; do
        i=$((i + 1)); [ "$i" -le 100 ] || fail "carom scoreboard did not start: $(cat "$out.err")"
        sleep 0.05
    done
}
lines() { grep -c . "$1" 2>/dev/null || true; }
wait_lines() {
    local i=0
    while [ "$(lines "$1")" -lt "$2" ]; do
        i=$((i + 1)); [ "$i" -le 100 ] || fail "$1: fewer than $2 events after 10 s"
        sleep 0.1
    done
}

dead=$(free_port)
write_config <<EOF2
[defaults]
state = process
retries = 0
; This test counts events one for one against the connects made: the breaker's own open,
; half_open and close events on this dead port would break that count, and it is tested
; elsewhere (shared_circuit.sh, herd_late.sh).
cushion = off
EOF2

# The program: one refused connect (one shot event) every 20 ms until told to stop.
PROG='
import os, socket, sys, time
port, stop = int(sys.argv[1]), sys.argv[2]
n = 0
while not os.path.exists(stop) and n < 1500:
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
    except OSError:
        pass
    s.close(); n += 1
    time.sleep(0.02)
print(n)'

listen "$T/a.jsonl" --json
shim "$PYTHON" -c "$PROG" "$dead" "$T/stop" >"$T/prog.out" 2>"$T/prog.err" &
prog=$!
_PIDS+=("$prog")
wait_lines "$T/a.jsonl" 10

# The listener dies without cleaning up: its socket file stays behind, stale.
kill -KILL "$LPID"; wait "$LPID" 2>/dev/null
[ -S "$CAROM_SCOREBOARD" ] || fail "a SIGKILLed listener should leave its socket file"
n_a=$(lines "$T/a.jsonl")
sleep 1.5 # about 75 events nobody receives

listen "$T/b.jsonl" --json
wait_lines "$T/b.jsonl" 10

# Only one listener per socket: a second one must not steal a live socket.
"$CAROM" scoreboard --json >"$T/c.out" 2>"$T/c.err" &
c=$!
_PIDS+=("$c")
for _ in $(seq 50); do kill -0 "$c" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$c" 2>/dev/null; then fail "a second listener started on a live socket"; fi
wait "$c"; rc=$?
assert_eq "$rc" 1 "a second listener exits 1"
assert_contains "$(cat "$T/c.err")" "another listener" "the second listener says why"

: >"$T/stop"
wait "$prog" || fail "the program failed: $(cat "$T/prog.err")"
sent=$(cat "$T/prog.out")
sleep 0.3
kill -TERM "$LPID"; wait "$LPID"
[ ! -e "$CAROM_SCOREBOARD" ] || fail "a listener that exits cleanly removes its socket"

"$PYTHON" - "$T/a.jsonl" "$T/b.jsonl" "$sent" <<'PY' || fail "accounting"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
sent = int(sys.argv[3])
pids = {e["pid"] for e in a} | {e["pid"] for e in b}
dropped = sum(e.get("dropped", 0) for e in a + b)
first_b = b[0].get("dropped", 0)
print("sent %d, received %d + %d, dropped %d (first event after the gap: %d)"
      % (sent, len(a), len(b), dropped, first_b), file=sys.stderr)
ok = True
if len(pids) != 1:
    print("events from more than one process: %s" % pids); ok = False
if first_b < 30:
    print("the first event after the gap should report the ~75 dropped, got %d" % first_b); ok = False
# A few events may die unread in the killed listener's buffer; none may be counted twice.
total = len(a) + len(b) + dropped
if not sent - 5 <= total <= sent:
    print("received + dropped = %d, sent %d" % (total, sent)); ok = False
sys.exit(0 if ok else 1)
PY
pass "$(lines "$T/a.jsonl") + $(lines "$T/b.jsonl") events received of $sent"
