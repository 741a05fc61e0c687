#!/usr/bin/env bash
# curl_post.sh: a POST is not idempotent, so a 503 to it is not retried: `curl -sf -d x`
# exits 22 after one request, as it does alone, and so does the libcurl test program. The
# same server is retried for a GET, and for the POST once a policy lists POST in
# http_retry_methods, so the test cannot pass because the shim did nothing.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_curl

curl_config

# Control: one request, exit 22.
port=$(free_port)
server "$port" http 0 --http-status 503,503,200
run_plain curl -sf -d x "http://127.0.0.1:$port/"
assert_eq "$RC" 22 "without the shim curl -sf -d exits 22"
assert_eq "$(count_lines "$COUNT" '^req ')" 1 "without the shim, requests"

# Under the shim: the same.
port=$(free_port)
server "$port" http 0 --http-status 503,503,200
run_shim curl -sf -d x "http://127.0.0.1:$port/"
assert_eq "$RC" 22 "under the shim curl -sf -d x against a 503 exits 22"
assert_eq "$(count_lines "$COUNT" '^req POST / 503')" 1 "under the shim, a POST is sent once"
assert_eq "$(count_lines "$COUNT" '^req ')" 1 "under the shim, requests"

# The libcurl program's POST (POSTFIELDS, FAILONERROR): one request, CURLE_HTTP_RETURNED_ERROR.
port=$(free_port)
server "$port" http 0 --http-status 503,503,200
run_shim "$CURLPROG" post "http://127.0.0.1:$port/" data -f
assert_match "$OUT" '^rc=22 status=503 ' "the program's POST gets the 503"
assert_eq "$(count_lines "$COUNT" '^req ')" 1 "the program's POST is sent once"

# The shim is at work: a GET to the same kind of server is retried ...
port=$(free_port)
server "$port" http 0 --http-status 503,503,200
run_shim curl -sf "http://127.0.0.1:$port/"
assert_ok "a GET under the shim"
assert_eq "$(count_lines "$COUNT" '^req ')" 3 "a GET is retried"

# ... and so is the POST when the policy says POST may be repeated.
cat >>"$CFG" <<'EOF2'
http_retry_methods = GET, HEAD, PUT, DELETE, OPTIONS, POST
EOF2
port=$(free_port)
server "$port" http 0 --http-status 503,503,200
run_shim curl -sf -d x "http://127.0.0.1:$port/"
assert_ok "a POST with POST in http_retry_methods"
assert_eq "$OUT" "hello" "the retried POST's final body"
assert_eq "$(count_lines "$COUNT" '^req POST / [0-9]+ len=1 ')" 3 "the POST and its body, three times"
pass
