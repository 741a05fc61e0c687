#!/usr/bin/env bash
# curl_prog.sh: a C program linked with libcurl, whose write callback checks every byte of
# the body, gets the body byte-identical, as one response, in every retry scenario: 503s,
# 502s with CURLOPT_FAILONERROR, a server that listens late, a Retry-After, and a reset in the
# middle of the body (resumed from where it broke). Each scenario must fail without the shim.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
CURLPROG=$CAROM_ROOT/$BUILD/tests/prog/curlprog
[ -x "$CURLPROG" ] || fail "$CURLPROG missing: run make $BUILD/tests/prog/curlprog"

write_config <<'EOF2'
[defaults]
state = process
retries = 10
base_delay_ms = 50
max_delay_ms = 200
retry_budget_min_per_s = 100
; the late server refuses several attempts in a row: only the retry policy is under test
EOF2

# With a sanitizer runtime preloaded, a process whose libcurl saw a transport error can
# deadlock at exit in p11-kit's destructor, shim or no shim: the scenarios that make an
# attempt fail below the HTTP level are left out then (said aloud).
transport_ok=1
if [ -n "${SANITIZER:-}" ]; then
    timeout -k 2 5 env LD_PRELOAD="$(sanitizer_runtimes)" "$CURLPROG" get \
        "http://127.0.0.1:$(free_port)/" 1 </dev/null >/dev/null 2>&1
    case $? in 124 | 137) transport_ok=0 ;; esac
fi

size=500000
ok_line="^rc=0 status=200 bytes=$size blocks=1 check=ok"

# scenario NAME LATE_MS CURLPROG_ARGS -- SERVER_ARGS...: a fresh server per run; the plain
# run must fail, the shim run must deliver the whole body once. Sets REQS (shim run).
scenario() {
    local name=$1 late=$2 extra=$3 how port
    shift 4
    for how in plain shim; do
        port=$(free_port)
        server "$port" http "$late" --body-size "$size" "$@"
        # shellcheck disable=SC2086  # extra is a word list on purpose
        "run_$how" "$CURLPROG" get "http://127.0.0.1:$port/" "$size" $extra
        wait_ready "$READY"
        if [ "$how" = plain ]; then
            assert_failed "$name: curlprog without the shim (control)"
        else
            assert_ok "$name: curlprog under the shim"
            assert_match "$OUT" "$ok_line" "$name: the body, whole, byte-identical, one response"
            REQS=$(count_lines "$COUNT" '^req ')
            log "$name: $REQS requests, $MS ms"
        fi
    done
}

scenario "503, 503, 200" 0 "" -- --http-status 503,503,200
assert_eq "$REQS" 3 "503s: requests"

scenario "502, 502, 200 with FAILONERROR" 0 "-f" -- --http-status 502,502,200
assert_eq "$REQS" 3 "502s: requests"

scenario "429 with Retry-After: 1" 0 "" -- --http-status 429,200 --retry-after 1
assert_ge "$MS" 1000 "Retry-After: 1 honoured (ms)"

if [ "$transport_ok" = 0 ]; then
    pass "(late-server and reset scenarios left out: libcurl hangs at exit under $SANITIZER)"
fi

scenario "listening 300 ms late" 300 "" --
assert_eq "$REQS" 1 "late server: requests"

scenario "reset after 200000 bytes, ranges served" 0 "" -- --ranges --reset-after 200000
assert_eq "$REQS" 2 "reset: requests"
assert_eq "$(count_lines "$COUNT" '^req GET / 206 range=200000$')" 1 "reset: resumed at the break"
pass
