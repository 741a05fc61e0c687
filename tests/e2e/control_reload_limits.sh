#!/usr/bin/env bash
# control_reload_limits.sh: a reload that adds a rate limit reaches a running program's
# connects. With no limit in its first table, connect takes a fast path that skips the
# limit code; the reload must make it look again (shim/limit.c, carom__limit_forget). A
# python3 loop connects to a live echo server every 50 ms; the file is renamed over with
# rate_limit = 1: `rate_limited` events must follow. Then the limit is taken out again and
# the events stop. It must never pass with a loop that made no connects.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
start_scoreboard
port=$(free_port)
server "$port" echo

# rate_limit = 1 with a burst of 1: the scenario (a limit added by a reload); everything
# else is the default.
conf() {
    { echo '[defaults]'; [ -z "$1" ] || printf 'rate_limit = %s\nrate_burst = 1\n' "$1"
      echo "; $TEST_NAME $port $$ $2"; } >"$T/next.ini"
    mv -f "$T/next.ini" "$CFG"
}
conf "" a

LOOP='
import os, socket, sys
port, stop = int(sys.argv[1]), sys.argv[2]
import time
while not os.path.exists(stop):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
        print("ok", flush=True)
    except OSError as e:
        print(e.errno, flush=True)
    s.close()
    time.sleep(0.05)'
shim "$PYTHON" -c "$LOOP" "$port" "$T/stop" >"$T/loop.out" 2>"$T/loop.err" &
loop=$!
_PIDS+=("$loop")
limited() { grep -c '"event":"rate_limited"' "$EV"; }
wait_for() { # wait_for N: until at least N connects were made, at most 10 s
    for _ in $(seq 200); do [ "$(grep -c '^ok$' "$T/loop.out")" -ge "$1" ] && return 0; sleep 0.05; done
    fail "the loop made fewer than $1 connects: $(tail -n 3 "$T/loop.out" "$T/loop.err")"
}
wait_for 10
assert_eq "$(limited)" 0 "rate_limited events before any limit"
conf 1 b
for _ in $(seq 100); do [ "$(limited)" -ge 2 ] && break; sleep 0.05; done
assert_ge "$(limited)" 2 "rate_limited events after the reload added rate_limit = 1"
conf "" c
sleep 1.5 # the reload is seen at the first call after a second (docs/configuration.md, Reload)
before=$(limited) n0=$(grep -c '^ok$' "$T/loop.out")
wait_for $((n0 + 10))
sleep 0.3
assert_eq "$(limited)" "$before" "rate_limited events after the limit was taken out"
touch "$T/stop"
wait "$loop"
assert_eq "$(grep -vc '^ok$' "$T/loop.out")" 0 "connects that failed (a limit waits; it never fails here)"
pass "$(grep -c '^ok$' "$T/loop.out") connects; the limit came and went with the file"
