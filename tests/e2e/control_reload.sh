#!/usr/bin/env bash
# control_reload.sh: a running program picks up a changed carom.ini within about a second.
# A python3 loop connects to a dead port with retries = 0 (each connect fails at once);
# the file is renamed over with retries = 2, and the loop's connects take their backoff
# within 1.2 s. The file is then replaced with a broken one: the loop keeps the last good
# policy (still retrying), and its stderr has the one diagnostic line. Under 16 threads and
# 100 rewrites in 10 s nothing crashes and every connect ends with a real errno.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
dead=$(free_port)

# cushion = off: this test sees retries through each connect's duration, and the breaker
# would (rightly) open on a dead port and fail the connects fast; the breaker has tests
# of its own (shared_circuit.sh, herd_late.sh). jitter = none makes the delays 100 + 200 ms.
conf() {
    printf '%s\n' '[defaults]' "retries = $1" 'jitter = none' 'cushion = off' \
        "; $TEST_NAME $dead $$ $2" >"$T/next.ini"
    mv -f "$T/next.ini" "$CFG"
}
conf 0 a

# One line per connect: its start (wall-clock ms) and how long it took.
LOOP='
import socket, sys, time
port, stop = int(sys.argv[1]), sys.argv[2]
import os
while not os.path.exists(stop):
    s = socket.socket()
    t0 = time.time()
    try:
        s.connect(("127.0.0.1", port))
        r = "ok"
    except OSError as e:
        r = e.errno
    print(int(t0 * 1000), int((time.time() - t0) * 1000), r, flush=True)
    s.close()
    time.sleep(0.05)'
shim "$PYTHON" -c "$LOOP" "$dead" "$T/stop" >"$T/loop.out" 2>"$T/loop.err" &
loop=$!
_PIDS+=("$loop")
sleep 1.5
t_change=$(ms_now)
conf 2 b
sleep 2.5
t_bad=$(ms_now)
printf '[defaults]\nretries = lots\n; %s\n' "$$" >"$T/next.ini"
mv -f "$T/next.ini" "$CFG"
sleep 2.5
: >"$T/stop"
wait "$loop"

"$PYTHON" - "$T/loop.out" "$t_change" "$t_bad" <<'PY' || fail "reload: $(tail -n 5 "$T/loop.out")"
import sys
rows = [tuple(map(int, l.split()[:2])) for l in open(sys.argv[1]) if l.strip()]
t_change, t_bad = int(sys.argv[2]), int(sys.argv[3])
before = [d for t, d in rows if t < t_change]
assert before and max(before) < 100, "retries = 0 should fail at once: %s" % before
slow = [t for t, d in rows if t >= t_change and d >= 250]
assert slow, "no connect took its backoff after the change"
lag = slow[0] - t_change
print("retries began %d ms after the rename" % lag, file=sys.stderr)
assert lag <= 1200, "the change took %d ms to apply" % lag
after_bad = [d for t, d in rows if t >= t_bad + 1500]
assert after_bad and min(after_bad) >= 250, "a broken file must keep the last good policy: %s" % after_bad
PY
grep -q "^carom: $CFG:2: retries" "$T/loop.err" || fail "no diagnostic for the broken file: $(cat "$T/loop.err")"
assert_eq "$(grep -c "^carom: $CFG:2: retries" "$T/loop.err")" 1 "the diagnostic is printed once"

# Under load: 16 threads connect for 10 s while the file is rewritten 100 times.
conf 1 c
HERD='
import socket, sys, threading, time, errno
port, secs = int(sys.argv[1]), float(sys.argv[2])
bad = []
def work():
    end = time.time() + secs
    while time.time() < end:
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port))
        except OSError as e:
            if e.errno not in (errno.ECONNREFUSED,):
                bad.append(e.errno)
        s.close()
ts = [threading.Thread(target=work) for _ in range(16)]
[t.start() for t in ts]; [t.join() for t in ts]
print("bad", len(bad), bad[:5])'
shim "$PYTHON" -c "$HERD" "$dead" 10 >"$T/herd.out" 2>"$T/herd.err" &
herd=$!
_PIDS+=("$herd")
for i in $(seq 100); do conf $((i % 3)) "r$i"; sleep 0.1; done
wait "$herd" || fail "the threaded program failed: $(tail -n 5 "$T/herd.err")"
assert_eq "$(cat "$T/herd.out")" "bad 0 []" "every connect ended with the real errno"
pass "reload within 1.2 s, the last good policy kept, 100 rewrites under 16 threads"
