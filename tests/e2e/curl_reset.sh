#!/usr/bin/env bash
# curl_reset.sh: a connection reset in the middle of a body. When the server serves byte
# ranges (Accept-Ranges: bytes) the transfer resumes where it broke and curl's output is
# byte-identical to the body; when it does not, nothing is retried (the program already has
# part of the body) and curl fails as it does alone, after one request. It must never pass
# unless curl alone fails on the reset.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cmd cmp
need_curl

curl_config

size=2000000
cut=700000
"$PYTHON" -c 'import sys; sys.path.insert(0, sys.argv[1]); import flaky
sys.stdout.buffer.write(flaky.pattern(int(sys.argv[2])))' "$CAROM_ROOT/tests/servers" "$size" \
    >"$T/want" || fail "cannot write the expected body"

# Control: curl stops at the reset with what it had.
port=$(free_port)
server "$port" http 0 --body-size "$size" --ranges --reset-after "$cut"
run_plain curl -s -o "$T/plain.out" "http://127.0.0.1:$port/"
assert_eq "$RC" 56 "without the shim curl fails on the reset (CURLE_RECV_ERROR)"
assert_eq "$(stat -c %s "$T/plain.out")" "$cut" "without the shim curl has the bytes before the reset"

# Ranges served: resumed.
port=$(free_port)
server "$port" http 0 --body-size "$size" --ranges --reset-after "$cut"
run_shim curl -s -o "$T/shim.out" "http://127.0.0.1:$port/"
assert_ok "curl under the shim, reset mid-body, ranges served"
cmp -s "$T/want" "$T/shim.out" || fail "the resumed output differs from the body ($(stat -c %s "$T/shim.out") bytes)"
assert_eq "$(count_lines "$COUNT" '^req ')" 2 "requests"
assert_eq "$(count_lines "$COUNT" "^req GET / 206 range=$cut\$")" 1 "the second request resumes at the break"

port=$(free_port)
server "$port" http 0 --body-size "$size" --ranges --reset-after "$cut"
run_shim "$CURLPROG" get "http://127.0.0.1:$port/" "$size"
assert_ok "curlprog under the shim, reset mid-body, ranges served"
# One response as the program sees it: the first one's headers, its status, every byte once.
assert_match "$OUT" "^rc=0 status=200 bytes=$size blocks=1 check=ok" "curlprog: resumed body"

# No ranges: not retried, the same failure as without the shim.
port=$(free_port)
server "$port" http 0 --body-size "$size" --reset-after "$cut"
run_shim curl -s -o "$T/shim2.out" "http://127.0.0.1:$port/"
assert_eq "$RC" 56 "without ranges curl under the shim fails as it does alone"
assert_eq "$(count_lines "$COUNT" '^req ')" 1 "without ranges, requests"
assert_eq "$(stat -c %s "$T/shim2.out")" "$cut" "without ranges, the bytes before the reset"

port=$(free_port)
server "$port" http 0 --body-size "$size" --reset-after "$cut"
run_shim "$CURLPROG" get "http://127.0.0.1:$port/" "$size"
assert_match "$OUT" "^rc=56 status=200 bytes=$cut blocks=1 " "curlprog without ranges: not retried"
assert_eq "$(count_lines "$COUNT" '^req ')" 1 "curlprog without ranges, requests"
pass
