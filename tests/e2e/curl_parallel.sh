#!/usr/bin/env bash
# curl_parallel.sh: the multi interface. `curl -Z URL1 URL2` (curl_multi_perform and
# curl_multi_poll) succeeds against two servers that answer 503, 503, then 200, each body
# printed once; so does the libcurl program, with curl_multi_perform and with an event loop
# on curl_multi_socket_action, checking every byte. Retries wait in the program's own loop,
# never in a sleep. It must never pass unless the same runs fail without the shim.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_curl

curl_config

# two_servers [ARGS...]: two fresh 503, 503, 200 servers; sets P1 P2 C1 C2.
two_servers() {
    P1=$(free_port)
    server "$P1" http 0 --http-status 503,503,200 --body $'one\n' "$@"
    C1=$COUNT
    P2=$(free_port)
    server "$P2" http 0 --http-status 503,503,200 --body $'two\n' "$@"
    C2=$COUNT
}

two_servers
run_plain curl -sf -Z "http://127.0.0.1:$P1/" "http://127.0.0.1:$P2/"
assert_failed "curl -Z against 503s (control)"

two_servers
run_shim curl -sf -Z "http://127.0.0.1:$P1/" "http://127.0.0.1:$P2/"
assert_ok "curl -sf -Z under the shim"
assert_eq "$(sort <<<"$OUT" | tr '\n' ' ')" "one two " "each body once"
assert_eq "$(count_lines "$C1" '^req ')" 3 "server 1 requests"
assert_eq "$(count_lines "$C2" '^req ')" 3 "server 2 requests"
log "curl -Z: $MS ms"

# The libcurl program: 200 KB bodies, every byte checked, over both multi styles.
size=200000
for mode in multi msock; do
    two_servers --body-size "$size"
    run_plain "$CURLPROG" "$mode" "$size" "http://127.0.0.1:$P1/" "http://127.0.0.1:$P2/"
    assert_failed "curlprog $mode against 503s (control)"

    two_servers --body-size "$size"
    run_shim "$CURLPROG" "$mode" "$size" "http://127.0.0.1:$P1/" "http://127.0.0.1:$P2/"
    assert_ok "curlprog $mode under the shim"
    assert_eq "$(grep -c "^rc=0 status=200 bytes=$size blocks=1 check=ok" <<<"$OUT")" 2 \
        "curlprog $mode: both bodies complete and byte-identical, one response each"
    assert_eq "$(count_lines "$C1" '^req ')" 3 "curlprog $mode: server 1 requests"
    assert_eq "$(count_lines "$C2" '^req ')" 3 "curlprog $mode: server 2 requests"
    log "curlprog $mode: $MS ms"
done
pass
