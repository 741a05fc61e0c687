#!/usr/bin/env bash
# fleet_shim.sh: Redis stays out of the program. The shim links no Redis client and names
# no Redis symbol (ldd, nm), while the carom command links hiredis; a plain C connect
# (not libcurl) to a fleet-open endpoint gets open_errno without any connect at all, as
# for a local open.
. "$(dirname "$0")/fleet_lib.inc"
need_cprog
need_strace
need_cmd nm
need_cmd ldd
assert_eq "$(ldd "$SHIM_SO" | grep -c hiredis)" 0 "the shim links no hiredis"
assert_eq "$(nm -D "$SHIM_SO" | grep -ci redis)" 0 "the shim names no Redis symbol"
assert_eq "$(nm "$CAROM_ROOT/$BUILD/libcarom_shim.so" 2>/dev/null | grep -ci redis)" 0 "not even a local one"
ldd "$CAROM" | grep -q hiredis || fail "carom links hiredis (for carom fleet)"

port=$(free_port)
server "$port" http
dead=$(free_port)
start_redis
for h in a b; do
    host_config "$h" 1
    as_host "$h" curl -sf "http://127.0.0.1:$port/"
    start_fleet "$h"
done
open_locally a "$dead"
wait_state b "127.0.0.1:$dead" fleet-open 2
run_plain strace -f -qq -e trace=connect -o "$T/strace" \
    env LD_PRELOAD="$SHIM_PRELOAD" CAROM_CONFIG="$T/b.ini" "$CPROG" errno 127.0.0.1 "$dead"
assert_eq "$(head -c 12 <<<"$OUT")" "ECONNREFUSED" "a plain connect gets open_errno"
assert_eq "$(connects_to "$dead")" 0 "without a connect to the endpoint"
assert_eq "$(connects_to "$RPORT")" 0 "nor to Redis"
pass "no Redis in the shim; a fleet-open endpoint refuses a plain connect at once"
