#!/usr/bin/env bash
# curl_retry_after.sh: a 429 or 503 with Retry-After is retried no sooner than the server
# asked, in both of the header's forms (seconds, HTTP-date), and no later than
# retry_after_max_ms allows. It must never pass unless curl alone fails on the first answer.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cmd curl

port=$(free_port)
server "$port" http
need_sanitizer_ok curl -s "http://127.0.0.1:$port/"

curl_config

# Control: curl -f fails on the 429 at once.
port=$(free_port)
server "$port" http 0 --http-status 429,200 --retry-after 1
run_plain curl -sf "http://127.0.0.1:$port/"
assert_eq "$RC" 22 "without the shim curl -sf fails on the 429"

# Retry-After: 1 (seconds): the retry waits at least a second, although the policy's own
# backoff is 50 ms.
port=$(free_port)
server "$port" http 0 --http-status 429,200 --retry-after 1
run_shim curl -sf "http://127.0.0.1:$port/"
assert_ok "curl -sf under the shim after a 429 with Retry-After: 1"
assert_eq "$OUT" "hello" "the final body"
assert_eq "$(count_lines "$COUNT" '^req ')" 2 "requests"
assert_ge "$MS" 1000 "Retry-After: 1 honoured (ms)"
assert_le "$MS" 4000 "Retry-After: 1 (ms, with slack)"
log "Retry-After: 1 -> $MS ms"

# Retry-After as an HTTP-date two seconds ahead (whole seconds: at least one is left).
port=$(free_port)
server "$port" http 0 --http-status 503,200 --retry-after 2 --retry-after-date
run_shim curl -sf "http://127.0.0.1:$port/"
assert_ok "curl -sf under the shim after a 503 with a Retry-After date"
assert_eq "$OUT" "hello" "the final body"
assert_ge "$MS" 1000 "Retry-After as an HTTP-date honoured (ms)"
assert_le "$MS" 6000 "Retry-After as an HTTP-date (ms, with slack)"
log "Retry-After: <date + 2 s> -> $MS ms"

# retry_after_max_ms caps what a server may ask for.
cat >>"$CFG" <<'EOF2'
retry_after_max_ms = 300
EOF2
port=$(free_port)
server "$port" http 0 --http-status 503,200 --retry-after 5
run_shim curl -sf "http://127.0.0.1:$port/"
assert_ok "curl -sf under the shim, Retry-After: 5 capped at 300 ms"
assert_ge "$MS" 300 "the capped wait (ms)"
assert_le "$MS" 2500 "Retry-After capped by retry_after_max_ms (ms)"
log "Retry-After: 5 with retry_after_max_ms = 300 -> $MS ms"
pass
