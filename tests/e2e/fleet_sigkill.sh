#!/usr/bin/env bash
# fleet_sigkill.sh: a host dies without a word. Host a's circuit is open and host b has
# marked it fleet-open (quorum = 1); a's daemon is then killed with SIGKILL, so nothing
# withdraws its report: the report expires in Redis after report_ttl_ms, b notices, clears
# its mark (an event names the fleet) and the local half-open logic takes over, so b's
# next curl probes the endpoint itself. A daemon stopped with SIGTERM instead withdraws
# its report and its own marks at once; a marking daemon killed with SIGKILL leaves marks
# that lapse after their lease (report_ttl_ms).
. "$(dirname "$0")/fleet_lib.inc"
need_strace
start_scoreboard
port=$(free_port)
server "$port" http
dead=$(free_port)
EP=127.0.0.1:$dead
start_redis
# report_ttl_ms = 2000 instead of the default 10 s: the test waits for the expiry.
for h in a b; do
    host_config "$h" 1 'report_ttl_ms = 2000'
    as_host "$h" curl -sf "http://127.0.0.1:$port/"
    start_fleet "$h"
    eval "PID_$h=\$FLEET_PID"
done
open_locally a "$dead"
wait_state b "$EP" fleet-open 2
[ -n "$(rcli GET carom:report:a)" ] || fail "a's report is in Redis"

t0=$(ms_now)
{ kill -KILL "$PID_a"; wait "$PID_a"; } 2>/dev/null # no job notice
wait_state b "$EP" half_open 6
gone=$(( $(ms_now) - t0 ))
log "b's mark cleared ${gone} ms after a's daemon was killed (TTL 2000 ms)"
assert_ge "$gone" 500 "not before the report could expire (ms)"
assert_eq "$(rcli EXISTS carom:report:a)" 0 "a's report expired in Redis"
grep -q "\"event\":\"half_open\".*\"endpoint\":\"$EP\".*\"detail\":\"fleet: the reports closed or expired" "$EV" ||
    fail "no event for the cleared mark: $(grep fleet "$EV")"
as_host b curl -sS "http://$EP/"
assert_eq "$RC" 7 "b's probe to the dead port fails"
assert_eq "$(state_of b "$EP")" open "b's own probe decided: open again, locally"

# A clean stop: SIGTERM withdraws the report at once and clears the daemon's own marks.
start_fleet a
open2=$(free_port)
open_locally b "$open2"
wait_state a "127.0.0.1:$open2" fleet-open 2
kill -TERM "$FLEET_PID"
wait "$FLEET_PID"
assert_eq "$?" 0 "carom fleet exits 0 on SIGTERM"
assert_eq "$(state_of a "127.0.0.1:$open2")" half_open "a's mark went with its daemon"
assert_eq "$(rcli EXISTS carom:report:a)" 0 "a's report withdrawn at once"
# The marking daemon itself killed: its marks are leased for report_ttl_ms and lapse,
# so b's programs probe again instead of failing fast for ever.
start_fleet a
open3=$(free_port) # a's circuit for open2 is half-open now: a fresh endpoint to mark
open_locally b "$open3"
wait_state a "127.0.0.1:$open3" fleet-open 2
{ kill -KILL "$FLEET_PID"; wait "$FLEET_PID"; } 2>/dev/null # no job notice
sleep 2.5 # past the 2 s lease
run_plain strace -f -qq -e trace=connect -o "$T/strace" \
    env LD_PRELOAD="$SHIM_PRELOAD" CAROM_CONFIG="$T/a.ini" curl -sS "http://127.0.0.1:$open3/"
assert_eq "$RC" 7 "a's curl to the dead port fails"
assert_ge "$(connects_to "$open3")" 1 "but probes it itself: the dead daemon's mark lapsed"
pass "SIGKILL: the report expired after its TTL and b's mark cleared; SIGTERM withdraws at once; a killed daemon's marks lapse"
