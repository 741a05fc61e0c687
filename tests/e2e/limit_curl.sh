#!/usr/bin/env bash
# limit_curl.sh: rate_limit applies to libcurl transfers. One curl command fetching 20 URLs
# one after another (curl_easy_perform each) under rate_limit = 5 (burst 0: one second's
# worth, 5) takes at least 3 s, and each body arrives once; the server sees 20 requests.
# With limit_wait_ms = 0 and the bucket emptied, the transfer fails at once with
# CURLE_COULDNT_CONNECT (curl exit 7) and a readable reason, and the server sees nothing.
# Multi transfers (curl_multi_perform and curl_multi_socket_action) are paced the same way
# without blocking the program's loop. It must never pass unless the unlimited control is
# fast.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_curl

urls=()
for i in $(seq 20); do urls+=("http://127.0.0.1:$port/$i"); done

# Control: the same without a limit.
curl_config
run_shim curl -s "${urls[@]}"
assert_ok "20 transfers, no limit"
assert_le "$MS" 2500 "20 transfers with the limits off (ms)"
: >"$COUNT"

# The key under test: rate_limit (everything else as curl_config sets).
curl_config "rate_limit = 5"
RUN_TIMEOUT=40 run_shim curl -s "${urls[@]}"
assert_ok "20 rate-limited transfers: $ERR"
assert_ge "$MS" 3000 "20 transfers at 5/s after a burst of 5 (ms)"
assert_eq "$(grep -c '^hello$' <<<"$OUT")" 20 "bodies the program got (each once)"
assert_eq "$(count_lines "$COUNT" '^req GET /')" 20 "requests the server saw"
limited=$MS

# metrics_until PORT ERE: scrapes the scoreboard's /metrics until ERE matches (bounded).
metrics_until() {
    for _ in $(seq 50); do
        curl -sS -o "$T/metrics" "http://127.0.0.1:$1/metrics" 2>/dev/null || true
        grep -Eq -- "$2" "$T/metrics" 2>/dev/null && return 0
        sleep 0.1
    done
    fail "no /metrics line matches /$2/: $(grep carom_events_total "$T/metrics" 2>/dev/null)"
}
start_prometheus() {
    mport=$(free_port)
    "$CAROM" scoreboard --prometheus "127.0.0.1:$mport" >"$T/sb.out" 2>"$T/sb.err" &
    _PIDS+=("$!")
    for _ in $(seq 100); do grep -q serving "$T/sb.err" 2>/dev/null && break; sleep 0.05; done
    grep -q serving "$T/sb.err" || fail "carom scoreboard --prometheus did not start: $(cat "$T/sb.err")"
}

# No wait allowed: after a burst of 1 (state = process: a fresh bucket per curl run), the
# second transfer of a run is refused at once.
: >"$COUNT"
curl_config "rate_limit = 1" "rate_burst = 1" "limit_wait_ms = 0"
CAROM=$CAROM_ROOT/$BUILD/carom
start_prometheus
run_shim curl -sS "http://127.0.0.1:$port/a" "http://127.0.0.1:$port/b"
assert_eq "$RC" 7 "curl's exit for a refused transfer (CURLE_COULDNT_CONNECT)"
assert_contains "$ERR" "rate limit for 127.0.0.1:$port" "curl's error text"
assert_eq "$(grep -c '^hello$' <<<"$OUT")" 1 "the first transfer's body"
assert_eq "$(count_lines "$COUNT" '^req GET /')" 1 "requests the server saw"
assert_le "$MS" 1500 "a refused transfer fails at once (ms)"
metrics_until "$mport" "carom_events_total\\{policy=\"defaults\",endpoint=\"127\\.0\\.0\\.1:$port\",event=\"rate_limited\"\\} 1\$"
# The multi interface, both styles: 10 transfers at once under rate_limit = 5 start as their
# reserved tokens come due, from the program's own loop (nothing in the shim waits), so
# the last starts at least a second after the first five; each body arrives once.
mport2=$(free_port)
server "$mport2" http 0 --body-size 1000
curl_config "rate_limit = 5"
murls=()
for i in $(seq 10); do murls+=("http://127.0.0.1:$mport2/m$i"); done
for mode in multi msock; do
    RUN_TIMEOUT=40 run_shim "$CURLPROG" "$mode" 1000 "${murls[@]}"
    assert_ok "curlprog $mode, 10 rate-limited transfers: $ERR"
    assert_eq "$(grep -c '^rc=0 status=200 bytes=1000 blocks=1 check=ok' <<<"$OUT")" 10 \
        "curlprog $mode: every body once, byte-identical"
    assert_ge "$MS" 900 "curlprog $mode: 10 transfers at 5/s after a burst of 5 (ms)"
    log "curlprog $mode: $MS ms"
done
assert_eq "$(count_lines "$COUNT" '^req GET /m')" 20 "requests the server saw (10 per style)"
pass "20 transfers at 5/s: ${limited} ms, each body once; refusal: exit 7; multi paced"
