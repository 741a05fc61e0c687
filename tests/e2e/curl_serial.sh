#!/usr/bin/env bash
# curl_serial.sh: the curl command in serial mode (curl_easy_perform). Against a server that
# answers 503, 503, then 200, `curl -s` prints only the final body, once, and the server sees
# three requests; `curl -sf` succeeds after two 502s. It must never pass unless curl alone
# prints the 503's body (and fails with -f).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cmd curl

port=$(free_port)
server "$port" http
need_sanitizer_ok curl -s "http://127.0.0.1:$port/"

curl_config

# 503, 503, 200 without -f: curl itself would print the first 503's body and stop.
port=$(free_port)
server "$port" http 0 --http-status 503,503,200
run_plain curl -s "http://127.0.0.1:$port/"
assert_ok "curl -s (control)"
assert_eq "$OUT" "status 503" "without the shim curl prints the first answer's body"
assert_eq "$(count_lines "$COUNT" '^req ')" 1 "without the shim, requests the server saw"

port=$(free_port)
server "$port" http 0 --http-status 503,503,200
run_shim curl -s "http://127.0.0.1:$port/"
assert_ok "curl -s under the shim"
assert_eq "$OUT" "hello" "under the shim curl prints only the final body, once"
assert_eq "$(count_lines "$COUNT" '^req GET / ')" 3 "under the shim, requests the server saw"
log "curl -s: 503, 503, 200 -> '$OUT' after $MS ms"

# 502, 502, 200 with -f: curl itself fails with 22 on the first 502.
port=$(free_port)
server "$port" http 0 --http-status 502,502,200
run_plain curl -sf "http://127.0.0.1:$port/"
assert_failed "curl -sf against a 502 (control)"
assert_eq "$RC" 22 "without the shim curl -f exits 22"

port=$(free_port)
server "$port" http 0 --http-status 502,502,200
run_shim curl -sf "http://127.0.0.1:$port/"
assert_ok "curl -sf under the shim after two 502s"
assert_eq "$OUT" "hello" "under the shim curl -sf prints the final body"
assert_eq "$(count_lines "$COUNT" '^req GET / ')" 3 "under the shim, requests the server saw"

# Headers too (-i, -D): only the final response's.
port=$(free_port)
server "$port" http 0 --http-status 503,503,200
run_shim curl -s -i -D "$T/headers" "http://127.0.0.1:$port/"
assert_ok "curl -si under the shim"
assert_eq "$(grep -c '^HTTP/' <<<"$OUT")" 1 "curl -i shows one status line"
assert_match "$OUT" '^HTTP/1.1 200 OK' "curl -i shows the final status"
assert_eq "$(grep -c '^HTTP/' "$T/headers")" 1 "curl -D writes one header block"
pass
