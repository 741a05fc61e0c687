#!/usr/bin/env bash
# limit_bulkhead.sh: max_connections caps the connections open to an endpoint across
# every process of the host. Eight forked python3 workers each connect and hold their
# connection 0.5 s under max_connections = 2: a server counting open connections never
# sees more than 2 at once, and all 8 finish within their wait. With limit_wait_ms = 0
# the extra workers fail at once with ETIMEDOUT (the documented errno), each one
# bulkhead_full event the scoreboard's live table counts as LIMITED. A holder killed
# with SIGKILL (left a zombie, then reaped) gives its slot back to the next caller that
# finds the endpoint full, while a live holder keeps it. A connect whose socket another
# thread closes during its wait stops at once with EBADF. It must never leave a process
# or its shared table behind.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim

CAROM=$CAROM_ROOT/$BUILD/carom
[ -x "$CAROM" ] || fail "$CAROM is missing: run make"
SHM=
trap '[ -z "$SHM" ] || rm -f "$SHM"; _cleanup' EXIT

# A server that counts connections open at once: in each round ends (EOF) are handled
# before one new connection is accepted, one only, so a connection closed before the next
# one opened is never counted together with it (a draining accept loop would take
# connections that arrived after the round's look, beside ends it has not seen yet).
cat >"$T/count_server.py" <<'PY'
import selectors, socket, sys, time
port, peak_file, ready = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port)); ls.listen(64); ls.setblocking(False)
sel = selectors.DefaultSelector(); sel.register(ls, selectors.EVENT_READ)
open(ready, "w").close()
live, peak, total, end = 0, 0, 0, time.monotonic() + 60
while time.monotonic() < end:
    events = sel.select(0.5)
    for key, _ in sorted(events, key=lambda e: e[0].fileobj is ls):
        if key.fileobj is ls:
            try:
                c, _ = ls.accept()
            except BlockingIOError:
                continue
            c.setblocking(False); sel.register(c, selectors.EVENT_READ)
            live += 1; total += 1; peak = max(peak, live)
        else:
            try:
                data = key.fileobj.recv(4096)
            except ConnectionError:
                data = b""
            if not data:
                sel.unregister(key.fileobj); key.fileobj.close(); live -= 1
    with open(peak_file + ".tmp", "w") as f:
        f.write("%d %d %d\n" % (peak, total, live))
    import os; os.replace(peak_file + ".tmp", peak_file)
PY
port=$(free_port)
"$PYTHON" "$T/count_server.py" "$port" "$T/peak" "$T/ready" >"$T/server.log" 2>&1 &
_PIDS+=("$!")
wait_ready "$T/ready"

# The key under test is max_connections; limit_wait_ms is raised from 1000 because the
# last pair of 8 workers sharing 2 slots waits about 1.5 s.
write_config <<EOF2
[defaults]
state = shared
; $TEST_NAME $port $$

[capped]
match = 127.0.0.1:$port
max_connections = 2
limit_wait_ms = 5000
EOF2
SHM=$(CAROM_CONFIG=$CFG "$CAROM" cushions --path) || fail "carom cushions --path"

WORKERS='
import errno, os, socket, sys, time
port, n, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
def say(line):  # one write per line: the workers share the pipe, print() may split it
    os.write(1, (line + "\n").encode())
t0 = time.monotonic()
kids = []
for i in range(n):
    pid = os.fork()
    if pid == 0:
        t = time.monotonic()
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port))
        except OSError as e:
            say("fail %s %d" % (errno.errorcode.get(e.errno, e.errno), (time.monotonic() - t) * 1000))
            os._exit(1)
        time.sleep(hold)
        s.close()
        say("ok %d" % ((time.monotonic() - t) * 1000))
        os._exit(0)
    kids.append(pid)
bad = sum(os.waitpid(p, 0)[1] != 0 for p in kids)
print("wall %d" % ((time.monotonic() - t0) * 1000), flush=True)
'

# 1. Eight workers, two slots: all connect in turn; the server sees at most 2 at once.
RUN_TIMEOUT=30 run_shim "$PYTHON" -c "$WORKERS" "$port" 8 0.5
assert_ok "eight workers under max_connections = 2: $ERR"
assert_eq "$(grep -c '^ok' <<<"$OUT")" 8 "workers that connected and finished ($OUT)"
sleep 0.7 # the server writes its counts every round
read -r peak total _ <"$T/peak"
assert_le "$peak" 2 "connections the server saw open at once"
assert_eq "$peak" 2 "the two slots were both used"
assert_ge "$total" 8 "connections the server accepted"
wall=$(sed -n 's/^wall //p' <<<"$OUT")
assert_ge "$wall" 1900 "8 workers x 0.5 s through 2 slots (ms)"



# 2. No wait: the two first workers connect, the six others fail at once with ETIMEDOUT,
#    each a bulkhead_full event that the scoreboard's live table counts as LIMITED.
sed -i 's/^limit_wait_ms = 5000/limit_wait_ms = 0/' "$CFG"
"$CAROM" scoreboard --interval 100 >"$T/table" 2>"$T/sb.err" &
sb=$!
_PIDS+=("$sb")
for _ in $(seq 100); do [ -S "$CAROM_SCOREBOARD" ] && break; sleep 0.05; done
[ -S "$CAROM_SCOREBOARD" ] || fail "carom scoreboard did not start: $(cat "$T/sb.err")"
RUN_TIMEOUT=30 run_shim "$PYTHON" -c "$WORKERS" "$port" 8 0.5
assert_eq "$(grep -c '^ok' <<<"$OUT")" 2 "workers that got one of the 2 slots ($OUT)"
assert_eq "$(grep -c '^fail ETIMEDOUT' <<<"$OUT")" 6 "workers refused with ETIMEDOUT ($OUT)"
slowest=$(sed -n 's/^fail ETIMEDOUT //p' <<<"$OUT" | sort -n | tail -1)
assert_le "$slowest" 300 "a refused worker fails at once (ms)"
for _ in $(seq 40); do grep -Eq '^capped +[0-9]+ +0 +[0-9]+ +6 ' "$T/table" && break; sleep 0.1; done
grep -Eq '^capped +[0-9]+ +0 +[0-9]+ +6 ' "$T/table" ||
    fail "the live table's LIMITED for capped: $(grep -E '^(POLICY|capped)' "$T/table" | tail -n 2)"
kill -TERM "$sb"; wait "$sb"

# 3. SIGKILLed holders: two children take both slots; one is killed with SIGKILL and left
#    a zombie, the other lives. A new process gets the dead one's slot at once (no wait
#    allowed), and then finds the endpoint full: the live holder keeps its slot.
HOLDERS='
import os, signal, socket, sys, time, subprocess
port, probe = int(sys.argv[1]), sys.argv[2:]
kids = []
for i in range(2):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        s = socket.socket(); s.connect(("127.0.0.1", port)); os.write(w, b"x"); time.sleep(30); os._exit(0)
    os.read(r, 1); kids.append(pid)
os.kill(kids[0], signal.SIGKILL)
time.sleep(0.2)  # killed, not reaped: a zombie
out = subprocess.run(probe, capture_output=True, text=True).stdout.split()
print("after_kill", *out, flush=True)
os.waitpid(kids[0], 0)
out = subprocess.run(probe, capture_output=True, text=True).stdout.split()
print("after_reap", *out, flush=True)
os.kill(kids[1], signal.SIGKILL); os.waitpid(kids[1], 0)
'
PROBE='
import errno, socket, sys, time
t = time.monotonic(); a = socket.socket(); b = socket.socket()
def one(s):
    try:
        s.connect(("127.0.0.1", int(sys.argv[1]))); return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
print(one(a), one(b), int((time.monotonic() - t) * 1000))
'
RUN_TIMEOUT=30 run_shim "$PYTHON" -c "$HOLDERS" "$port" "$PYTHON" -c "$PROBE" "$port"
assert_ok "SIGKILLed holder: $ERR"
assert_match "$OUT" "^after_kill ok ETIMEDOUT [0-9]+$" "the zombie's slot is reclaimed at once, the live holder's is not"
assert_match "$OUT" "after_reap ok ETIMEDOUT [0-9]+" "after the reap, still one slot free"
ms=$(sed -n 's/^after_kill ok ETIMEDOUT //p' <<<"$OUT")
assert_le "$ms" 300 "reclaiming a killed holder's slot (ms)"

# 4. A socket closed by another thread while its connect waits for a slot: the connect
#    stops waiting at once with EBADF (what connect(2) gives on a closed descriptor), and
#    the slot it never got is not leaked: a later connect gets one.
sed -i 's/^limit_wait_ms = 0/limit_wait_ms = 5000/' "$CFG"
CLOSER='
import errno, os, socket, sys, threading, time
port = int(sys.argv[1])
hold = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
s = socket.socket(); fd = s.fileno()
threading.Timer(0.3, lambda: os.close(fd)).start()
t = time.monotonic()
try:
    s.connect(("127.0.0.1", port)); what = "ok"
except OSError as e:
    what = errno.errorcode.get(e.errno, str(e.errno))
ms = int((time.monotonic() - t) * 1000)
s.detach()
for h in hold: h.close()
c = socket.create_connection(("127.0.0.1", port)); c.close()
print(what, ms)
'
RUN_TIMEOUT=30 run_shim "$PYTHON" -c "$CLOSER" "$port"
assert_ok "connect after the closed waiter: $ERR"
read -r what closed_ms <<<"$OUT"
assert_eq "$what" EBADF "a waiting connect whose socket was closed"
assert_le "$closed_ms" 1500 "it stopped waiting soon after the close (ms)"

run_plain env CAROM_CONFIG="$CFG" "$CAROM" cushions --json
"$PYTHON" -c '
import json, sys
r = [r for r in json.load(sys.stdin) if r["endpoint"] == "127.0.0.1:" + sys.argv[1]][0]
assert r["max_connections"] == 2 and r["connections"] == 0, r
' "$port" <<<"$OUT" || fail "cushions row: $OUT"
pass "8 workers through 2 slots in ${wall} ms, peak $peak; 6 refused at once; killed holder reclaimed in ${ms} ms; closed waiter out in ${closed_ms} ms"
