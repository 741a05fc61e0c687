#!/usr/bin/env bash
# curl_large.sh: 503s on a large download. An 8 MB body behind two 503s reaches the curl
# command's stdout and the libcurl program's write callback byte-identical, once. It must
# never pass unless the plain runs deliver the 503 instead.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cmd cmp
need_curl

curl_config

size=$((8 << 20))
"$PYTHON" -c 'import sys; sys.path.insert(0, sys.argv[1]); import flaky
sys.stdout.buffer.write(flaky.pattern(int(sys.argv[2])))' "$CAROM_ROOT/tests/servers" "$size" \
    >"$T/want" || fail "cannot write the expected body"

# The server builds its body before it listens: give it time.
big_server() {
    port=$(free_port)
    READY=$T/ready.big.$port
    COUNT=$T/count.big.$port
    : >"$COUNT"
    start_server --port "$port" --mode http --ready "$READY" --count "$COUNT" --lifetime 60 \
        --http-status 503,503,200 --body-size "$size"
    wait_ready "$READY" 20
}

big_server
run_plain curl -s -o "$T/plain.out" "http://127.0.0.1:$port/"
assert_ok "curl -s (control)"
assert_eq "$(cat "$T/plain.out")" "status 503" "without the shim curl writes the 503's body"

big_server
run_shim curl -s -o "$T/shim.out" "http://127.0.0.1:$port/"
assert_ok "curl -s under the shim"
cmp -s "$T/want" "$T/shim.out" || fail "curl's output differs from the 8 MB body ($(stat -c %s "$T/shim.out") bytes)"
assert_eq "$(count_lines "$COUNT" '^req ')" 3 "curl: requests"
log "curl: 8 MB after two 503s in $MS ms"

big_server
run_plain "$CURLPROG" get "http://127.0.0.1:$port/" "$size"
assert_failed "curlprog (control)"

big_server
run_shim "$CURLPROG" get "http://127.0.0.1:$port/" "$size"
assert_ok "curlprog under the shim"
assert_match "$OUT" "^rc=0 status=200 bytes=$size blocks=1 check=ok" "curlprog: every byte, once"
assert_eq "$(count_lines "$COUNT" '^req ')" 3 "curlprog: requests"
log "curlprog: 8 MB after two 503s in $MS ms"
pass
