#!/usr/bin/env bash
# hostile_lease_kill.sh: the herd's leader is killed with SIGKILL while it holds the
# lease. Four waiters against the same refusing server must take the lease over within its
# bound (the leader's delay plus one attempt's hold: at most max_delay_ms + 2 s here), make
# the attempts themselves, and all connect once the server is up. It must never pass on
# waiters that simply outlived the outage without ever leading.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog
start_scoreboard

# A schedule long enough to outlast the outage (the scenario); everything else default.
write_config <<EOF2
[defaults]
retries = 20
base_delay_ms = 100
max_delay_ms = 1000
; $TEST_NAME $$
EOF2
port=$(free_port)
server "$port" echo 5000
t_start=$(ms_now)

# The leader: the first to fail and retry takes the lease. Started through env alone
# (which execs the program), so $! is the program itself, the process to kill.
env LD_PRELOAD="$SHIM_PRELOAD" CAROM_CONFIG="$CFG" "$CPROG" connect 127.0.0.1 "$port" \
    >"$T/leader.out" 2>&1 &
leader=$!
_PIDS+=("$leader")
sleep 0.5
t_w=$(ms_now)
pids=()
for i in 1 2 3 4; do
    shim "$CPROG" connect 127.0.0.1 "$port" >"$T/w.$i" 2>&1 &
    pids+=("$!")
done
sleep 0.7
kill -0 "$leader" 2>/dev/null || fail "the leader ended before it was killed: $(cat "$T/leader.out")"
kill -KILL "$leader"
t_kill=$(ms_now)
wait "$leader" 2>/dev/null
ok=0
for p in "${pids[@]}"; do wait "$p" && ok=$((ok + 1)); done
wait_ready "$READY"
assert_eq "$ok" 4 "waiters that connected after their leader was killed"

# Before the kill only the leader retried (the waiters waited); after it, the waiters
# made real attempts (retry events without the herd's all-clear) before the server came up.
"$PYTHON" - "$EV" "$leader" "$t_kill" "$((t_start + 5000))" "$t_w" <<'PY' || fail "the waiters did not wait, or did not take over in time"
import json, sys
ev, leader, t_kill, t_up, t_w = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                 int(sys.argv[4]), int(sys.argv[5]))
events = list(map(json.loads, open(ev)))
before = [e for e in events if e.get("event") == "retry" and e.get("pid") != leader
          and e["ts"] // 1000000 < t_kill - 50]
assert not before, "waiters retried while the leader held the lease: %s" % before[:2]
assert any(e.get("event") == "retry" and e.get("pid") == leader for e in events), "the leader never retried"
led = [e for e in events if e.get("event") == "retry"
       and e.get("pid") != leader and "detail" not in e
       and t_kill < e["ts"] // 1000000 < t_up]
print("retries led by waiters after the kill: %d, first %d ms after it"
      % (len(led), (min(e["ts"] for e in led) // 1000000 - t_kill) if led else -1), file=sys.stderr)
assert led, "no waiter retried on its own after the kill"
first = min(e["ts"] for e in led) // 1000000 - t_kill
assert first <= 3000, "took %d ms, more than the lease bound" % first
PY
pass "4/4 waiters connected; the lease was taken over after the leader's SIGKILL"
