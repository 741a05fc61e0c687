#!/usr/bin/env bash
# hostile_flood.sh: 16 threads x 10,000 blocking connects (HOSTILE_FLOOD_PER scales the
# 10,000) against a flapping server: it listens 200 ms, then closes its listening socket
# for 60 ms (connects refused, queued ones reset), over and over; each accepted connection
# gets the client's 8-byte tag echoed. Three floods: without the shim (the control), under
# the shim with the circuit breaker off (every refusal is retried on a fresh socket put in
# place with dup3, from 16 threads at once), and with it on (circuits open, half-open and
# close under the same load). Nothing may deadlock (bounded), and the books must balance:
# every attempt ends as a verified echo, a refusal or a reset, never another errno; no
# tag comes back wrong (a descriptor swapped under another thread would show); the server
# echoed exactly as many tags as the clients verified; no TCP socket is left open. With
# retries and no breaker, at most 1% of the connects may end refused.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_hostile

PER=${HOSTILE_FLOOD_PER:-10000}
THREADS=16
# flood_config CUSHION...: the retry policy, with the [defaults] cushion lines given.
flood_config() {
    {
        printf '%s\n' '[defaults]' 'state = process' 'retries = 20' 'base_delay_ms = 5' \
            'max_delay_ms = 40' 'jitter = full' 'retry_budget = 100%' \
            'retry_budget_min_per_s = 5000' "$@"
    } >"$CFG"
}

# flood HOW: one run against a fresh flapping server; sets OUT and SERVED.
NFLOOD=0
flood() {
    local port ready count pid
    NFLOOD=$((NFLOOD + 1))
    port=$(free_port); ready=$T/flood.ready.$NFLOOD; count=$T/flood.count.$NFLOOD
    "$HOSTILE" flakyserver "$port" 200 60 120 "$count" "$ready" >"$T/flood.server.$NFLOOD" 2>&1 &
    pid=$!; _PIDS+=("$pid")
    wait_ready "$ready"
    RUN_TIMEOUT=150 "run_$1" "$HOSTILE" flood "$THREADS" "$PER" "$port"
    kill -TERM "$pid"
    for _ in $(seq 50); do [ -s "$count" ] && break; sleep 0.1; done
    SERVED=$(cat "$count" 2>/dev/null)
    log "$1: $OUT; server echoed ${SERVED:-?} ($MS ms)"
}

check() {
    assert_ok "flood ($1)"
    local v
    for v in attempts ok refused reset other badtag tcp_fds_before tcp_fds_after; do
        eval "$v=\$(sed -nE 's/.* $v=([0-9]+).*/\\1/p' <<<\"\$OUT\")"
        _num "${!v}" "flood ($1): $v"
    done
    assert_eq "$attempts" $((THREADS * PER)) "flood ($1): attempts"
    assert_eq "$((ok + refused + reset + other))" "$attempts" "flood ($1): outcomes add up"
    assert_eq "$other" 0 "flood ($1): outcomes other than an echo, a refusal or a reset"
    assert_eq "$badtag" 0 "flood ($1): echoes carrying another connection's tag"
    assert_eq "$SERVED" "$ok" "flood ($1): the server's echoes against the clients' verified ones"
    assert_eq "$tcp_fds_after" "$tcp_fds_before" "flood ($1): TCP sockets left open"
    assert_ge "$ok" 1 "flood ($1): some connects got through"
}

flood plain
check plain
# The first pass is retries alone, the second the breaker with them: off here is one side of
# that comparison, not a way to green.
flood_config 'cushion = off'
flood shim
check shim
assert_le "$((refused * 100))" "$attempts" "retries without a breaker: connects that still ended refused (x100)"
flood_config 'cushion = on' 'cushion_failures = 64' 'cushion_window = 64' \
    'cushion_half_open_ms = 10' 'cushion_probes = 4'
flood shim
check "shim, breaker on"
pass
