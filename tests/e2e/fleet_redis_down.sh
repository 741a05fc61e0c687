#!/usr/bin/env bash
# fleet_redis_down.sh: a dead Redis changes nothing for the program. Hosts a and b share
# circuits through one redis-server, which is then killed (SIGKILL): b's curl to a live
# server still succeeds at once, no connect from curl ever goes to Redis, and a's own
# circuit still opens on its own failures. Each daemon logs the loss once, however many
# times it retries with backoff, and reconnects when Redis returns on the same port; the
# fleet then works again (a's open circuit marks b).
. "$(dirname "$0")/fleet_lib.inc"
need_strace
port=$(free_port)
server "$port" http
dead=$(free_port)
EP=127.0.0.1:$dead
start_redis
for h in a b; do
    host_config "$h" 1
    as_host "$h" curl -sf "http://127.0.0.1:$port/"
    assert_ok "$h: a first curl"
    start_fleet "$h"
done
as_host b curl -sf "http://127.0.0.1:$port/"
before=$MS

{ kill -KILL "$REDIS_PID"; wait "$REDIS_PID"; } 2>/dev/null # no job notice
for h in a b; do
    for _ in $(seq 100); do grep -q "redis 127.0.0.1:$RPORT lost\|unreachable" "$T/$h.fleet.log" && break; sleep 0.05; done
    grep -q "lost\|unreachable" "$T/$h.fleet.log" || fail "$h: no word of the lost Redis: $(cat "$T/$h.fleet.log")"
done
traced_as b -sf "http://127.0.0.1:$port/"
assert_ok "b's curl to the live server succeeds with Redis dead"
assert_eq "$OUT" hello "the body"
assert_eq "$(connects_to "$RPORT")" 0 "curl never connects to Redis"
as_host b curl -sf "http://127.0.0.1:$port/"
assert_ok "and again, not traced"
log "b's curl: ${before} ms with Redis up, ${MS} ms with Redis dead"
open_locally a "$dead" # local circuits work as before
sleep 3                # several reconnect attempts with backoff
for h in a b; do
    n=$(grep -c "unreachable\|lost" "$T/$h.fleet.log")
    assert_eq "$n" 1 "$h logs the outage once, not once per retry"
done

start_redis "$RPORT"
for h in a b; do
    for _ in $(seq 300); do [ "$(grep -c "connected to redis" "$T/$h.fleet.log")" -ge 2 ] && break; sleep 0.05; done
    assert_eq "$(grep -c "connected to redis" "$T/$h.fleet.log")" 2 "$h reconnected when Redis returned"
done
wait_state b "$EP" fleet-open 5
log "after the reconnect, b fleet-open: $(grep -c . "$T/b.fleet.log") log lines"
pass "Redis killed: b's curl unaffected, outage logged once, daemons reconnect and share again"
