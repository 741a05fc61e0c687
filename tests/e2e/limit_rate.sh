#!/usr/bin/env bash
# limit_rate.sh: rate_limit is one token bucket per endpoint for the whole host. A python3
# program making 50 sequential connects under rate_limit = 10, rate_burst = 5 takes at
# least 4 s (5 at once, then 10 a second), every connect succeeding; four such programs at
# once share the bucket, so together they take at least 4 x 4 s; and the shared table's
# `carom cushions` row shows the bucket. With the limits off (the defaults) the same 50
# connects take well under a second. Retries take tokens too: a retried connect to a dead
# port waits for a token before every attempt. The times are lower bounds of behaviour, not
# benchmarks. It must never leave a process or its shared table behind.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim

CAROM=$CAROM_ROOT/$BUILD/carom
[ -x "$CAROM" ] || fail "$CAROM is missing: run make"
SHM=
trap '[ -z "$SHM" ] || rm -f "$SHM"; _cleanup' EXIT

port=$(free_port)
SERVER_LIFETIME=90 server "$port" echo
# The keys under test differ from the defaults (off); limit_wait_ms is raised because four
# programs sharing 10 tokens a second queue for up to ~4 tokens ahead each.
write_config <<EOF2
[defaults]
state = shared
; $TEST_NAME $port $$

[limited]
match = 127.0.0.1:$port
rate_limit = 10
rate_burst = 5
limit_wait_ms = 5000
EOF2
SHM=$(CAROM_CONFIG=$CFG "$CAROM" cushions --path) || fail "carom cushions --path"

CONNECTS='
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
t = time.monotonic()
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.close()
print(int((time.monotonic() - t) * 1000))
'

# 1. One program: 5 at once, then 45 at 10/s: >= 4.5 s; at least the 4 s the issue asks.
RUN_TIMEOUT=60 run_shim "$PYTHON" -c "$CONNECTS" "$port" 50
assert_ok "50 rate-limited connects all succeed: $ERR"
assert_ge "$OUT" 4000 "50 connects at 10/s after a burst of 5 (ms)"
one=$OUT

# 2. Four at once share the bucket: 200 connects, 5 at once, then 10/s: >= 19.5 s.
RUN_TIMEOUT=60 # four programs share one bucket: about 20 s in all
t0=$(ms_now)
pids=()
for k in 1 2 3 4; do
    shim "$PYTHON" -c "$CONNECTS" "$port" 50 >"$T/p.$k" 2>"$T/e.$k" &
    pids+=("$!")
done
_PIDS+=("${pids[@]}")
for k in 1 2 3 4; do
    wait "${pids[$((k - 1))]}" || fail "program $k of 4 failed: $(cat "$T/e.$k")"
done
wall=$(( $(ms_now) - t0 ))
assert_ge "$wall" 16000 "four programs sharing one bucket, 200 connects in all (ms)"

# 2b. Threads of one program share it too: 4 threads x 10 connects, 5 at once, then 10/s.
THREADS='
import socket, sys, threading, time
port = int(sys.argv[1]); errs = []
def run():
    for i in range(10):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=10).close()
        except OSError as e:
            errs.append(e)
t = time.monotonic()
ts = [threading.Thread(target=run) for _ in range(4)]
for x in ts: x.start()
for x in ts: x.join()
print(len(errs), int((time.monotonic() - t) * 1000))
'
sleep 1 # let the bucket refill to its burst
RUN_TIMEOUT=60 run_shim "$PYTHON" -c "$THREADS" "$port"
assert_ok "4 threads under one rate limit: $ERR"
read -r errs threads_ms <<<"$OUT"
assert_eq "$errs" 0 "connects that failed in the threads"
assert_ge "$threads_ms" 3400 "40 connects from 4 threads at 10/s after a burst of 5 (ms)"

# 3. carom cushions shows the endpoint's bucket.
run_plain env CAROM_CONFIG="$CFG" "$CAROM" cushions --json
assert_ok "carom cushions --json"
"$PYTHON" -c '
import json, sys
rows = [r for r in json.load(sys.stdin) if r["endpoint"] == "127.0.0.1:" + sys.argv[1]]
assert rows, "no row for the endpoint"
r = rows[0]
assert r["policy"] == "limited", r
assert r["rate_limit"] == 10 and r["rate_burst"] == 5, r
assert 0 <= r["tokens"] <= 5, r
assert r["connections"] == 0, r
' "$port" <<<"$OUT" || fail "cushions row: $OUT"

# 4. Retries take tokens too: a connect to a dead port retried 5 times 1 ms apart makes 6
#    attempts; with 10 tokens a second and a burst of 1 they take >= 0.5 s, and without
#    the limit they take a few ms (the control). The retry keys differ from the defaults
#    so that the storm is fast and long.
need_cprog
dead=$(free_port)
write_config <<EOF2
[defaults]
state = process
retries = 5
base_delay_ms = 1
max_delay_ms = 1
jitter = none
[storm]
match = 127.0.0.1:$dead
rate_limit = 10
rate_burst = 1
EOF2
run_shim "$CPROG" errno 127.0.0.1 "$dead"
read -r name storm_ms <<<"$OUT"
assert_eq "$name" ECONNREFUSED "the retried connect's error"
assert_ge "$storm_ms" 450 "6 attempts at 10 tokens a second after a burst of 1 (ms)"
sed -i '/^rate_limit = 10$/d; /^rate_burst = 1$/d' "$CFG"
run_shim "$CPROG" errno 127.0.0.1 "$dead"
read -r name free_ms <<<"$OUT"
assert_eq "$name" ECONNREFUSED "the retried connect's error without a limit"
assert_le "$free_ms" 300 "6 attempts without a limit (ms)"

# 5. The control: the same program with the defaults (no limit) is not held back.
write_config <<EOF2
[defaults]
state = process
EOF2
run_shim "$PYTHON" -c "$CONNECTS" "$port" 50
assert_ok "50 connects without a limit"
assert_le "$OUT" 2000 "50 connects with the limits off (ms)"
pass "one program ${one} ms, four sharing the bucket ${wall} ms, 4 threads ${threads_ms} ms, unlimited ${OUT} ms; retry storm ${storm_ms} ms (unlimited ${free_ms} ms)"
