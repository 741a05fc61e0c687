#!/usr/bin/env bash
# chaos_connect_refuse.sh: 200 connect+echo rounds with
# chaos.connect_refuse = 0.3 and seed 7: with retries = 0, 35 to 85 fail and a second run
# fails at exactly the same rounds; with retries = 10 none fail. It must never pass unless
# the same rounds all succeed without chaos.
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog
RUN_TIMEOUT=60

port=$(free_port)
server "$port" echo 0 --lifetime 120
run_plain "$CPROG" loop 200 127.0.0.1 "$port"
assert_eq "$(grep -c ' OK OK ' <<<"$OUT")" 200 "control: every round succeeds without chaos"

chaos_config() {
    write_config <<EOF2
[defaults]
state = process
retries = $1
base_delay_ms = 1
max_delay_ms = 5
; This test measures the injection rate: with retries = 0 every refusal is a failed shot,
; and at 30% the breaker rightly opens and fails the rest fast (shared_circuit.sh tests
; that), which would hide the rate.
cushion = off
retry_budget_min_per_s = 1000
[chaos]
seed = 7
[127.0.0.1:$port]
chaos.connect_refuse = 0.3
EOF2
}

chaos_config 0
run_shim "$CPROG" loop 200 127.0.0.1 "$port"
first=$(grep -v ' OK OK ' <<<"$OUT" | awk '{print $1" "$2}')
n=$(grep -c . <<<"$first")
log "retries = 0: $n of 200 rounds failed"
assert_ge "$n" 35 "failed rounds with connect_refuse = 0.3"
assert_le "$n" 85 "failed rounds with connect_refuse = 0.3"
assert_eq "$(awk '{print $2}' <<<"$first" | sort -u)" ECONNREFUSED "injected failures are refusals"

run_shim "$CPROG" loop 200 127.0.0.1 "$port"
second=$(grep -v ' OK OK ' <<<"$OUT" | awk '{print $1" "$2}')
assert_eq "$second" "$first" "seed 7 replays the same failing rounds"

# The draws depend on the endpoint (its port is a free one, so it changes from run to run):
# with 6 retries, seven refusals in a row somewhere in 200 rounds happen in about 4% of
# runs (0.3^7 x 200); with 10 retries in about 0.04%.
chaos_config 10
run_shim "$CPROG" loop 200 127.0.0.1 "$port"
assert_eq "$(grep -c ' OK OK ' <<<"$OUT")" 200 "retries = 10 heal every injected refusal"
pass
