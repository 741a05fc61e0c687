#!/usr/bin/env bash
# fleet_acl.sh: the Redis ACL of docs/fleet.md is enough, and password_file works. Each
# host gets its own Redis user (read every report, write only its own key, the one
# channel, the listed commands and nothing else) and reads its password from a mode 600
# file. Host a's open circuit still marks b (quorum = 1); b's credentials cannot write
# a's key, nor run any other command; a command the ACL refuses is logged once; a
# password file others can read is refused.
. "$(dirname "$0")/fleet_lib.inc"
port=$(free_port)
server "$port" http
dead=$(free_port)
start_redis
acl() { # USER PASSWORD KEY-SUFFIX
    rcli ACL SETUSER "$1" on ">$2" resetkeys '%R~carom:report:*' "%W~carom:report:$3" \
        resetchannels '&carom:reports' -@all +auth +set +del +getrange +pttl +scan +publish \
        +subscribe >/dev/null
}
for h in a b; do
    acl "carom-$h" "secret-$h" "$h"
    printf 'carom-%s secret-%s\n' "$h" "$h" >"$T/$h.pass"
    chmod 600 "$T/$h.pass"
    host_config "$h" 1 "password_file = $T/$h.pass"
    as_host "$h" curl -sf "http://127.0.0.1:$port/"
    start_fleet "$h"
done
rcli CONFIG SET requirepass admin-only >/dev/null 2>&1 # the default user is no way in either
open_locally a "$dead"
wait_state b "127.0.0.1:$dead" fleet-open 2
log "b fleet-open ${WAITED_MS} ms after a opened, each host with its own ACL user"
assert_eq "$(grep -c "refused\|lost\|unreachable" "$T/a.fleet.log" "$T/b.fleet.log" | awk -F: '{s+=$2} END {print s}')" 0 \
    "no command of the daemons was refused"

bcli() { timeout 5 redis-cli --no-auth-warning -h 127.0.0.1 -p "$RPORT" --user carom-b --pass secret-b "$@"; }
assert_contains "$(bcli SET carom:report:a x 2>&1)" "NOPERM" "b cannot write a's report"
assert_contains "$(bcli FLUSHALL 2>&1)" "NOPERM" "nor run other commands"

# A user without PUBLISH: the daemon says so once, however often it publishes.
rcli --user default --pass admin-only --no-auth-warning ACL SETUSER carom-c on '>secret-c' resetkeys \
    '%R~carom:report:*' '%W~carom:report:c' resetchannels '&carom:reports' -@all +auth +set \
    +del +getrange +pttl +scan +subscribe >/dev/null
printf 'carom-c secret-c\n' >"$T/c.pass"
chmod 600 "$T/c.pass"
host_config c 1 "password_file = $T/c.pass" 'report_ttl_ms = 1000'
as_host c curl -sf "http://127.0.0.1:$port/"
start_fleet c
sleep 1.5 # several publishes (every report_ttl_ms / 3)
assert_eq "$(grep -c "redis refused PUBLISH: NOPERM" "$T/c.fleet.log")" 1 "a refused command is logged once"

chmod 644 "$T/b.pass"
run_plain "$CAROM" cushions -c "$T/b.ini" --fleet
assert_eq "$RC" 1 "a password file others can read is refused"
assert_contains "$ERR" "no one else can read" "and says why"
chmod 600 "$T/b.pass"
run_plain "$CAROM" cushions -c "$T/b.ini" --fleet
assert_ok "cushions --fleet with b's user"
assert_match "$OUT" "^127\.0\.0\.1:$dead +a \(open\)$" "it reads a's report"
pass "per-host ACL users suffice; a host cannot write another's report; password_file checked"
