#!/usr/bin/env bash
# chaos_http.sh: issue 8's libcurl acceptance. `curl -sf` with chaos.http_status = 503@0.5:
# with retries = 14 every run succeeds; with retries = 0 and seed 0 roughly half of 20 runs
# fail with exit 22, and the server never sees the requests chaos answered. It must never
# pass unless the same runs all succeed without chaos.
. "$(dirname "$0")/../lib.sh"
need_shim
need_cmd curl
need_sanitizer_ok curl --version

port=$(free_port)
server "$port" http 0 --lifetime 120
url=http://127.0.0.1:$port/
cfg() {
    write_config <<EOF2
[defaults]
state = process
retries = $1
base_delay_ms = 1
max_delay_ms = 5
retry_budget_min_per_s = 1000
[chaos]
seed = 0
[127.0.0.1:$port]
chaos.http_status = 503@0.5
EOF2
}
runs() { # runs N [curl args]: prints the exit status of each run
    local n=$1 i; shift
    for ((i = 0; i < n; i++)); do shim curl -sf -o /dev/null "$@" "$url"; echo $?; done
}

ok=0; for i in $(seq 20); do plain curl -sf -o /dev/null "$url" && ok=$((ok + 1)); done
assert_eq "$ok" 20 "control: every run succeeds without chaos"
before=$(count_lines "$COUNT" '^req')

cfg 0
codes=$(runs 20)
fails=$(grep -c '^22$' <<<"$codes"); oks=$(grep -c '^0$' <<<"$codes")
log "retries = 0: $fails of 20 runs failed with exit 22"
assert_eq $((fails + oks)) 20 "every run exits 0 or 22"
assert_ge "$fails" 3 "runs answered 503 by chaos (about half of 20)"
assert_le "$fails" 17 "runs answered 503 by chaos (about half of 20)"
# chaos answers without a request: the server saw only the runs that succeeded
seen=$(( $(count_lines "$COUNT" '^req') - before ))
assert_eq "$seen" "$oks" "requests the server saw (no request for chaos's answers)"

# Seed 0 draws anew each run: with 8 retries, nine 503s in a row somewhere in 20 runs
# happen in about 4% of runs (0.5^9 x 20); with 14 retries in about 0.06%.
cfg 14
codes=$(runs 20)
assert_eq "$(grep -c '^0$' <<<"$codes")" 20 "retries = 14 heal every injected 503"
# the multi interface too: curl -Z with two transfers
out=$(shim curl -sf -Z "$url" "$url"); rc=$?
assert_eq "$rc" 0 "curl -Z under chaos with retries"
assert_eq "$(grep -c hello <<<"$out")" 2 "each parallel body delivered once"
pass
