#!/usr/bin/env bash
# scoreboard_prometheus_real.sh: a real Prometheus (Debian's `prometheus`, on loopback)
# scrapes `carom scoreboard --prometheus` every second. After curl under the shim retries
# a 503 into a 200, Prometheus's query API returns carom_retry_attempts_total > 0 for that
# endpoint. Controls: the target is up and the series is absent before the run, and curl
# alone gets the 503. It must never pass on a Prometheus that scraped nothing, and skips
# only where prometheus is not installed (make deps installs it).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cmd curl
PROM=$(command -v prometheus) || skip "prometheus is not installed (make deps installs the Debian package)"
CAROM=$CAROM_ROOT/$BUILD/carom
[ -x "$CAROM" ] || fail "$CAROM is missing: run make"

# Per-process state: circuits from other tests' runs must not decide this one's calls.
write_config <<'EOF2'
[defaults]
state = process
EOF2

mport=$(free_port)
"$CAROM" scoreboard --prometheus "127.0.0.1:$mport" >"$T/sb.out" 2>"$T/sb.err" &
_PIDS+=("$!")
for _ in $(seq 100); do grep -q serving "$T/sb.err" 2>/dev/null && break; sleep 0.05; done
grep -q serving "$T/sb.err" || fail "carom scoreboard --prometheus did not start: $(cat "$T/sb.err")"

pport=$(free_port)
cat >"$T/prometheus.yml" <<EOF2
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: carom
    scrape_interval: 1s
    scrape_timeout: 900ms
    static_configs:
      - targets: ['127.0.0.1:$mport']
EOF2
"$PROM" --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
    --web.listen-address="127.0.0.1:$pport" --log.level=warn >"$T/prom.log" 2>&1 &
_PIDS+=("$!")
PAPI=http://127.0.0.1:$pport/api/v1

# query EXPR: prints the value of the first sample of an instant query, or nothing.
query() {
    curl -sf --get --data-urlencode "query=$1" "$PAPI/query" 2>/dev/null | "$PYTHON" -c '
import json, sys
d = json.load(sys.stdin)
r = d["data"]["result"] if d.get("status") == "success" else []
print(r[0]["value"][1] if r else "")' 2>/dev/null
}

# Prometheus is up and has scraped carom at least once (bounded: 30 s).
up=
for _ in $(seq 150); do
    up=$(query 'up{job="carom"}')
    [ "$up" = 1 ] && break
    sleep 0.2
done
[ "$up" = 1 ] || { sed 's/^/  prometheus: /' "$T/prom.log" | tail -n 20 >&2; fail "Prometheus never scraped carom (up = '$up')"; }

# curl alone gets the 503 (control); under a sanitizer build, curl must live with its
# runtime preloaded first.
port=$(free_port)
server "$port" http 0 --http-status 503,200
need_sanitizer_ok curl -s "http://127.0.0.1:$port/"
port=$(free_port)
server "$port" http 0 --http-status 503,200
run_plain curl -s "http://127.0.0.1:$port/"
assert_eq "$OUT" "status 503" "curl alone prints the 503 (control)"

port=$(free_port)
ep="127.0.0.1:$port"
sel="carom_retry_attempts_total{policy=\"defaults\",endpoint=\"$ep\"}"
assert_eq "$(query "$sel")" "" "before the run, Prometheus has no retry series for $ep"
server "$port" http 0 --http-status 503,200
run_shim curl -sf "http://$ep/"
assert_ok "curl -sf under the shim against a 503 then 200"
assert_eq "$OUT" "hello" "under the shim curl prints the retried body"
assert_eq "$(count_lines "$COUNT" '^req GET / ')" 2 "requests the server saw"

# The next scrapes bring the retry in (bounded: 30 s).
v=
for _ in $(seq 150); do
    v=$(query "$sel")
    [ -n "$v" ] && awk -v v="$v" 'BEGIN{exit !(v > 0)}' && break
    sleep 0.2
done
[ -n "$v" ] || fail "Prometheus has no $sel after 30 s: $(curl -s "http://127.0.0.1:$mport/metrics" | grep retry_attempts)"
awk -v v="$v" 'BEGIN{exit !(v > 0)}' || fail "$sel = $v, want > 0"
# The transfer's one shot, ok, as Prometheus stored it (the shot event follows the retry's,
# so it may land one scrape later).
shots=
for _ in $(seq 50); do
    shots=$(query "carom_shots_total{policy=\"defaults\",endpoint=\"$ep\",outcome=\"ok\"}")
    [ -n "$shots" ] && break
    sleep 0.2
done
assert_eq "$shots" 1 "carom_shots_total for the run, as Prometheus stored it"
pass "Prometheus $("$PROM" --version 2>&1 | awk 'NR==1{print $3}') stored $sel = $v"
