#!/usr/bin/env bash
# fleet_hostile.sh: what a hostile or broken peer on the same Redis can send. Host b's
# daemon (quorum = 1) gets, on the channel and in report keys: text that is no report,
# random bytes, a 1 MiB string, reports with an unknown state, endpoints that are paths,
# out-of-range ports or control bytes, a key of the wrong type, a report whose host id is
# not its key's, and a report without a TTL. Each is ignored with a counted warning (or,
# without a TTL, ignored outright); the daemon stays up, marks nothing and claims no slot.
# A well-formed report afterwards still marks its endpoint: the daemon kept working.
. "$(dirname "$0")/fleet_lib.inc"
port=$(free_port)
server "$port" http
dead=$(free_port)
start_redis
host_config b 1
as_host b curl -sf "http://127.0.0.1:$port/"
start_fleet b
B=$FLEET_PID
pub() { rcli -x PUBLISH carom:reports >/dev/null; } # the message on stdin, byte for byte
report() { printf 'carom-fleet 1\nhost %s\nseq 1\nttl_ms 5000\n%s' "$1" "$2"; }

echo hello | pub
head -c 4096 /dev/urandom >"$T/junk"
pub <"$T/junk"
head -c 1048576 /dev/zero | tr '\0' 'x' >"$T/huge"
pub <"$T/huge"
report m1 "exploded 127.0.0.1:$dead
" | pub
report m2 "open /etc/passwd
" | pub
report m3 "open 127.0.0.1:99999
" | pub
report m4 "open 127.0.0.1:$dead
open 127.0.0.1:$dead
" | pub
printf 'carom-fleet 1\nhost a\033[2J\nseq 1\nttl_ms 5000\n' | pub
rcli HSET carom:report:evil f v >/dev/null # a key of the wrong type
report evil "" | pub
report alice "open 127.0.0.1:$dead
" | rcli -x SET carom:report:mallory >/dev/null
rcli PEXPIRE carom:report:mallory 60000 >/dev/null
report mallory "" | pub # the key says mallory, the report says alice
report nottl "open 127.0.0.1:$dead
" | rcli -x SET carom:report:nottl >/dev/null
report nottl "" | pub # well-formed, but it would never expire: not counted
sleep 1.5

kill -0 "$B" 2>/dev/null || fail "the daemon died: $(cat "$T/b.fleet.log")"
assert_eq "$(state_of b "127.0.0.1:$dead")" "" "nothing marked, no slot claimed"
run_plain "$CAROM" cushions -c "$T/b.ini"
assert_eq "$(grep -c "^127" <<<"$OUT")" 1 "b's table holds only its own endpoint"
grep -q "ignored a report" "$T/b.fleet.log" || fail "no warning: $(cat "$T/b.fleet.log")"

# Still at work: a well-formed, expiring report from one host marks at quorum 1.
report good "open 127.0.0.1:$dead
" | rcli -x SET carom:report:good >/dev/null
rcli PEXPIRE carom:report:good 5000 >/dev/null
report good "" | pub
wait_state b "127.0.0.1:$dead" fleet-open 2

kill -TERM "$B"
wait "$B"
assert_eq "$?" 0 "a clean exit after all that"
n=$(sed -n 's/.*stopped (\([0-9]*\) reports ignored).*/\1/p' "$T/b.fleet.log")
assert_ge "${n:-0}" 10 "every hostile report counted"
log "$n reports ignored; first warning: $(grep -m1 'ignored a report' "$T/b.fleet.log")"
pass "hostile channel and keys: ignored and counted, no crash, no slot; a good report still works"
