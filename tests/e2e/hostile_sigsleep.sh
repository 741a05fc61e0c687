#!/usr/bin/env bash
# hostile_sigsleep.sh: signals against the shim's backoff sleep. (1) SIGALRM every 20 ms
# (no SA_RESTART) while connect() backs off 200 + 400 + 800 ms against a dead port: the
# connect must take the whole schedule and end with ECONNREFUSED (not EINTR, not early),
# and the handler must run all along (no signal lost or held back). (2) A handler
# siglongjmp()s out of a backoff sleep, as alarm()-based timeouts do; the program's next
# connect, made from a deeper stack frame, must still be retried (no stale recursion
# guard). (3) The same out of a connect that blocks in the kernel (a listener with a full
# accept queue drops SYNs), then a connect to a server later still. Both with the
# Makefile's build and a _FORTIFY_SOURCE=2 build, whose longjmp is __longjmp_chk. (4) The
# ticking again while the backoff steps are waits on the herd (another process leads). It
# must never pass unless the same program fails without the shim.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_hostile
need_cprog

# The fortified twin: glibc turns siglongjmp into __longjmp_chk at -O2 with fortify.
FORT=$T/hostile_fortify
"${CC:-cc}" -D_GNU_SOURCE -std=c11 -O2 -D_FORTIFY_SOURCE=2 -pthread -o "$FORT" \
    "$CAROM_ROOT"/tests/prog/hostile/*.c 2>"$T/cc.err" || fail "cannot build $FORT: $(cat "$T/cc.err")"
nm -D "$FORT" | grep -q __longjmp_chk || fail "the fortified build does not call __longjmp_chk"

# sigsleep_config STATE: the schedule the phases are timed by (200 + 400 + 800 ms against
# the dead port; a longer one for the late servers), with state = STATE.
sigsleep_config() {
    write_config <<EOF2
[defaults]
state = $1
retries = 3
base_delay_ms = 200
max_delay_ms = 1000
jitter = none
retry_budget_min_per_s = 100

[127.0.0.1:$late]
retries = 10
base_delay_ms = 100
max_delay_ms = 400

[127.0.0.1:$late2]
retries = 10
base_delay_ms = 100
max_delay_ms = 400
EOF2
}

for prog in "$HOSTILE" "$FORT"; do
    name=$(basename "$prog")
    dead=$(free_port); late=$(free_port); late2=$(free_port)
    sigsleep_config process
    # Phase 1 takes 1.4 s and the jump 0.15 s: the first server comes up a second after
    # that; phase 3 starts once it is reached, and the second server comes up after it.
    server "$late" echo 2500
    server "$late2" echo 3600
    run_shim "$prog" sigsleep "$dead" "$late" "$late2"
    log "$name: $(tr '\n' ';' <<<"$OUT") ($MS ms)"
    assert_ok "$name: sigsleep under the shim"
    read -r _ _ err _ ms _ sigs _ <<<"$(sed -n 1p <<<"$OUT")"
    assert_eq "$err" ECONNREFUSED "$name: the connect's errno after its retries (never EINTR)"
    assert_ge "$ms" 1350 "$name: the backoff sleeps were cut short (ms)"
    assert_le "$ms" 4000 "$name: the backoff took too long (ms)"
    # One tick per 20 ms; half of them is a generous floor under load.
    # The ThreadSanitizer runtime holds asynchronous signals back during clock_nanosleep
    # even without the shim (a bare sleep under it sees 0 of 50 ticks), so the count only
    # means something without it; the jumps below are checked either way.
    case ${SANITIZER:-} in
        *thread*) log "$name: tick count not checked under ThreadSanitizer ($sigs ticks)" ;;
        *) assert_ge "$sigs" $((ms / 40)) "$name: SIGALRM ticks handled during the sleeps" ;;
    esac
    assert_contains "$OUT" "jump: left connect by siglongjmp" "$name: the handler jumped out of the sleep"
    assert_contains "$OUT" "sigsleep: after jump: ping" "$name: the connect after the jump was retried"
    assert_contains "$OUT" "jump2: left a blocking connect by siglongjmp" "$name: the handler jumped out of the connect"
    assert_contains "$OUT" "sigsleep: after jump2: ping" "$name: the connect after the second jump was retried"
done

# (4) The same ticking while the program's backoff steps are waits on the herd, not
# sleeps: another process, started first, leads the attempts on the dead port (shared
# state), so the program blocks on the slot's futex. It must behave exactly as in (1), and
# it must really have waited (fewer retries of its own than its three steps).
start_scoreboard
dead=$(free_port); late=$(free_port); late2=$(free_port)
sigsleep_config shared
server "$late" echo 2500
server "$late2" echo 3600
env LD_PRELOAD="$SHIM_PRELOAD" CAROM_CONFIG="$CFG" "$CPROG" connect 127.0.0.1 "$dead" >/dev/null 2>&1 &
leader=$!
_PIDS+=("$leader")
sleep 0.05
run_shim "$HOSTILE" sigsleep "$dead" "$late" "$late2"
log "herd waiter: $(tr '\n' ';' <<<"$OUT") ($MS ms)"
assert_ok "sigsleep as a herd waiter"
read -r _ _ err _ ms _ sigs _ <<<"$(sed -n 1p <<<"$OUT")"
assert_eq "$err" ECONNREFUSED "herd waiter: the connect's errno (never EINTR)"
assert_ge "$ms" 1350 "herd waiter: the waits were cut short (ms)"
case ${SANITIZER:-} in
    *thread*) ;;
    *) assert_ge "$sigs" $((ms / 40)) "herd waiter: SIGALRM ticks handled during the waits" ;;
esac
assert_contains "$OUT" "sigsleep: after jump: ping" "herd waiter: the connect after the jump was retried"
own=$(grep -c "\"event\":\"retry\".*\"endpoint\":\"127.0.0.1:$dead\"" "$EV" || true)
lead=$(grep -c "\"pid\":$leader,\"event\":\"retry\"" "$EV" || true)
log "retries on the dead port: $own in all, $lead of them the leader's"
assert_ge "$lead" 1 "the leader retried"
assert_le "$((own - lead))" 2 "the waiter's own retries (some of its steps were waits)"

# Control: without the shim the first connect fails at once and the last never connects.
dead=$(free_port); late=$(free_port); late2=$(free_port)
server "$late" echo 2500
server "$late2" echo 3600
run_plain "$HOSTILE" sigsleep "$dead" "$late" "$late2"
assert_failed "without the shim (control)"
read -r _ _ err _ ms _ <<<"$(sed -n 1p <<<"$OUT")"
assert_le "$ms" 300 "control: without the shim no backoff"
assert_contains "$OUT" "sigsleep: after jump: connect ECONNREFUSED" "control: the late server is not reached"
pass
