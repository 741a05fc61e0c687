#!/usr/bin/env bash
# chaos_rates.sh: the new faults that take a probability, at 0.3 over 200 rounds with a
# fixed seed, each rate checked between both bounds (35..85 of 200, binomial mean 60, sd
# 6.5): blackhole (a C program's echo rounds time out; a second run fails at the same
# rounds), connect_latency (rounds that took the delay) and dns_fail with
# dns_fail_error = EAI_NONAME (python3 resolutions). Then chaos.first: a fault at
# probability 1 hits exactly the first N calls, for a connect fault and a per-connection
# one. It must never pass unless the same rounds all succeed, quickly, without chaos.
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog
RUN_TIMEOUT=60

port=$(free_port)
SERVER_LIFETIME=180 server "$port" echo 0

ok_rounds() { grep -c ' OK OK ' <<<"$OUT"; }
run_plain "$CPROG" loop 200 127.0.0.1 "$port"
assert_eq "$(ok_rounds)" 200 "control: every round succeeds without chaos"

# rates_config KEY=VALUE...: the keys for 127.0.0.1:PORT under seed 7.
rates_config() {
    { printf '%s\n' '[defaults]' 'state = process'
      # A black-holed round is an I/O timeout, which feeds the breaker: at 30% it rightly
      # opens and fails later connects fast (shared_circuit.sh tests that), which would
      # hide the injection rate this test measures.
      printf '%s\n' 'cushion = off'
      printf '%s\n' '[chaos]' 'seed = 7' "[127.0.0.1:$port]" "$@"; } >"$CFG"
}

# ---- blackhole = 0.3 ------------------------------------------------------------------
# io_timeout_ms is how long a black-holed read waits; 100 ms, so that a real echo delayed
# by a loaded machine is never taken for one (20 ms was, once in a while).
rates_config 'io_timeout_ms = 100' 'chaos.blackhole = 0.3'
run_shim "$CPROG" loop 200 127.0.0.1 "$port"
first=$(grep -v ' OK OK ' <<<"$OUT" | awk '{print $1" "$2" "$3}')
n=$(grep -c . <<<"$first")
log "blackhole = 0.3: $n of 200 rounds black-holed"
assert_ge "$n" 35 "black-holed rounds with blackhole = 0.3"
assert_le "$n" 85 "black-holed rounds with blackhole = 0.3"
assert_eq "$(awk '{print $2" "$3}' <<<"$first" | sort -u)" "OK ETIMEDOUT" \
    "a black hole connects, then its read times out"
run_shim "$CPROG" loop 200 127.0.0.1 "$port"
assert_eq "$(grep -v ' OK OK ' <<<"$OUT" | awk '{print $1" "$2" "$3}')" "$first" \
    "seed 7 replays the same black-holed rounds"

# ---- connect_latency = 0.3 --------------------------------------------------------------
slow_rounds() { awk -v t="$1" '$2 == "OK" && $3 == "OK" && $4 >= t' <<<"$OUT" | grep -c . || true; }
rates_config
run_shim "$CPROG" loop 200 127.0.0.1 "$port"
assert_eq "$(ok_rounds)" 200 "control: every round succeeds through the shim"
assert_le "$(slow_rounds 100)" 2 "control: rounds of 100 ms or more without connect_latency"
rates_config 'chaos.connect_latency = 0.3' 'chaos.connect_latency_ms = 100'
run_shim "$CPROG" loop 200 127.0.0.1 "$port"
assert_eq "$(ok_rounds)" 200 "connect_latency slows connects, never breaks them"
n=$(slow_rounds 100)
log "connect_latency = 0.3: $n of 200 rounds delayed"
assert_ge "$n" 35 "delayed rounds with connect_latency = 0.3"
assert_le "$n" 85 "delayed rounds with connect_latency = 0.3"

# ---- dns_fail = 0.3 with dns_fail_error = EAI_NONAME ------------------------------------
PY_DNS='
import socket, sys
counts = {}
for i in range(200):
    try:
        socket.getaddrinfo("localhost", 80, socket.AF_INET, socket.SOCK_STREAM); k = "OK"
    except socket.gaierror as e:
        k = str(e.errno)
    counts[k] = counts.get(k, 0) + 1
print(" ".join("%s=%d" % kv for kv in sorted(counts.items())))'
dns_config() {
    printf '%s\n' '[defaults]' 'state = process' '[chaos]' 'seed = 7' '[localhost]' "$@" >"$CFG"
}
dns_config
run_shim "$PYTHON" -c "$PY_DNS"
assert_eq "$OUT" "OK=200" "control: every resolution succeeds"
dns_config 'chaos.dns_fail = 0.3' 'chaos.dns_fail_error = EAI_NONAME'
run_shim "$PYTHON" -c "$PY_DNS"
log "dns_fail = 0.3 (EAI_NONAME): $OUT"
# EAI_NONAME is -2 in glibc. A name that does not exist is an answer, not an outage: it
# is neither retried nor served stale, so every injection reaches the program.
assert_match "$OUT" '^-2=[0-9]+ OK=[0-9]+$' "only EAI_NONAME failures"
n=$(sed 's/^-2=\([0-9]*\) .*/\1/' <<<"$OUT")
assert_ge "$n" 35 "EAI_NONAME failures with dns_fail = 0.3"
assert_le "$n" 85 "EAI_NONAME failures with dns_fail = 0.3"

# ---- chaos.first ------------------------------------------------------------------------
# A connect fault at probability 1 refuses exactly the first 3 connects (retries = 0: the
# program's own error path sees each).
printf '%s\n' '[defaults]' 'state = process' 'retries = 0' '[chaos]' 'seed = 7' \
    "[127.0.0.1:$port]" 'chaos.connect_refuse = 1' 'chaos.first = 3' >"$CFG"
run_shim "$CPROG" loop 20 127.0.0.1 "$port"
assert_eq "$(grep -v ' OK OK ' <<<"$OUT" | awk '{print $1" "$2}' | tr '\n' ' ')" \
    "1 ECONNREFUSED 2 ECONNREFUSED 3 ECONNREFUSED " "first = 3: the first three connects refused"
assert_eq "$(ok_rounds)" 17 "first = 3: every later round succeeds"
# A per-connection fault: the first 2 connections are black holes, then none.
printf '%s\n' '[defaults]' 'state = process' '[chaos]' 'seed = 7' "[127.0.0.1:$port]" \
    'io_timeout_ms = 50' 'chaos.blackhole = 1' 'chaos.first = 2' >"$CFG"
run_shim "$CPROG" loop 10 127.0.0.1 "$port"
assert_eq "$(grep -v ' OK OK ' <<<"$OUT" | awk '{print $1" "$3}' | tr '\n' ' ')" \
    "1 ETIMEDOUT 2 ETIMEDOUT " "first = 2: the first two connections black-holed"
assert_eq "$(ok_rounds)" 8 "first = 2: every later connection works"
pass
