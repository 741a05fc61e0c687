#!/usr/bin/env bash
# fleet_quorum.sh: circuits shared across hosts through Redis. Hosts a, b and c are three
# policy files (three shared tables), each with its own `carom fleet`, all on one
# redis-server. With quorum = 1: a's circuit for a dead port opens after its own failed
# runs, and within 2 s host b's next curl to that port fails fast with "carom: circuit
# open", without a connect to it (strace) and without any connect to Redis from curl;
# b's table shows fleet-open, the scoreboard an open event naming the fleet, and
# `carom cushions --fleet` who reports it. With quorum = 2: b still connects while only a
# reports it open; once b's own failures join, host c fails fast too. quorum = 50% of
# three hosts seen is two: the same.
. "$(dirname "$0")/fleet_lib.inc"
need_strace
start_scoreboard
port=$(free_port)
server "$port" http # a live server: each host's first curl makes its table
dead=$(free_port)   # nothing listens there
EP=127.0.0.1:$dead

for quorum in 1 2 50%; do
    q=${quorum/\%/pct} # host ids allow no %
    start_redis
    for h in a b c; do
        host_config "$h$q" "$quorum"
        as_host "$h$q" curl -sf "http://127.0.0.1:$port/"
        assert_ok "$h$q: a first curl to the live server"
        start_fleet "$h$q"
    done
    a=a$q b=b$q c=c$q

    open_locally "$a" "$dead"
    if [ "$quorum" = 1 ]; then
        wait_state "$b" "$EP" fleet-open 2
        log "quorum 1: b fleet-open ${WAITED_MS} ms after a's circuit opened"
        traced_as "$b" -sS "http://$EP/"
        assert_eq "$RC" 7 "b's curl fails"
        assert_contains "$ERR" "carom: circuit open for $EP" "b fails fast as for a local open"
        assert_contains "$ERR" "fleet-open" "curl's error says it is the fleet's"
        assert_eq "$(connects_to "$dead")" 0 "b made no connect to the dead port"
        traced_as "$b" -sf "http://127.0.0.1:$port/"
        assert_ok "b's curl to the live server"
        assert_eq "$(connects_to "$RPORT")" 0 "curl never talks to Redis"
        for _ in $(seq 40); do grep -q '"event":"open".*"detail":"fleet: ' "$EV" && break; sleep 0.05; done
        grep -q "\"event\":\"open\".*\"endpoint\":\"$EP\".*\"detail\":\"fleet: 1 of 3 hosts report it open ($a)\"" "$EV" ||
            fail "no open event naming the fleet: $(grep fleet "$EV")"
        run_plain "$CAROM" cushions -c "$T/$b.ini" --fleet
        assert_ok "cushions --fleet"
        assert_match "$OUT" "^$EP +$a \(open\)$" "--fleet names the host reporting it open"
        run_plain "$CAROM" cushions -c "$T/$b.ini" --fleet --json
        assert_contains "$OUT" "{\"endpoint\":\"$EP\",\"hosts\":[{\"host\":\"$a\",\"state\":\"open\"}]}" "--fleet --json"
        # b publishes its table's change on its next tick: wait for it, bounded.
        for _ in $(seq 40); do rcli GET "carom:report:$b" | grep -q "^fleet $EP$" && break; sleep 0.05; done
        assert_contains "$(rcli GET "carom:report:$b")" "fleet $EP" "b reports its mark as the fleet's"
        # b's own mark is never its own report of an open circuit: a stays the only one.
        assert_eq "$(rcli GET "carom:report:$b" | grep -c "^open ")" 0 "b reports no open of its own"
    else
        sleep 1.5 # a's report has long reached b and c (they mark within 2 s, above)
        assert_eq "$(state_of "$b" "$EP")" "" "quorum $quorum: one host's report does not mark b"
        traced_as "$b" -sS "http://$EP/"
        assert_eq "$RC" 7 "b's curl fails"
        assert_ge "$(connects_to "$dead")" 1 "b connects itself while only a reports it open"
        open_locally "$b" "$dead"
        wait_state "$c" "$EP" fleet-open 2
        log "quorum $quorum: c fleet-open ${WAITED_MS} ms after b's circuit opened"
        traced_as "$c" -sS "http://$EP/"
        assert_contains "$ERR" "carom: circuit open for $EP" "c fails fast once a and b agree"
        assert_eq "$(connects_to "$dead")" 0 "c made no connect to the dead port"
        run_plain "$CAROM" cushions -c "$T/$c.ini" --fleet
        assert_match "$OUT" "^$EP +$a \(open\), $b \(open\)$|^$EP +$b \(open\), $a \(open\)$" "--fleet names both"
    fi
    kill "$REDIS_PID" 2>/dev/null
done
pass "quorum 1: fleet-open on b within 2 s, no connect; quorum 2 and 50% of 3: only once two hosts agree"
