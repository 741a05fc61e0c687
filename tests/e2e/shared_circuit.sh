#!/usr/bin/env bash
# shared_circuit.sh: the circuit breaker shared between processes (docs/scoreboard.md, "Shared state"). Ten
# sequential curl runs, then ten cprog runs, against a dead port with cushion_failures = 3,
# cushion_window = 5 and retries = 0: with state = shared at most 4 runs of each make a
# connect system call to that port (strace -f -e trace=connect), and `carom cushions`
# (text and --json) shows the circuit open. Controls: without the shim, and with the shim
# but state = process, every run reaches the port, so the sharing is what stops them.
# It must never leave its /dev/shm table behind.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog
need_cmd curl
need_cmd strace

CAROM=$CAROM_ROOT/$BUILD/carom
[ -x "$CAROM" ] || fail "$CAROM is missing: run make"
SHM=
trap '[ -z "$SHM" ] || rm -f "$SHM"; _cleanup' EXIT

# runs_reaching PORT MODE CMD...: runs CMD 10 times one after the other under strace (MODE
# shim: with the shim preloaded into CMD only; plain: without) and prints how many of the
# runs made a connect system call to 127.0.0.1:PORT.
runs_reaching() {
    local port=$1 mode=$2 i n=0 pre=(); shift 2
    [ "$mode" = plain ] || pre=(-E "LD_PRELOAD=$SHIM_PRELOAD" -E "CAROM_CONFIG=$CFG")
    for i in 1 2 3 4 5 6 7 8 9 10; do
        timeout -k 3 "$RUN_TIMEOUT" strace -f -qq -e trace=connect -o "$T/strace.$i" \
            "${pre[@]}" "$@" >/dev/null 2>"$T/err.$i"
        local rc=$?
        echo "$rc" >"$T/rc.$i"
        [ "$rc" -ne 0 ] || fail "run $i of $* succeeded against a dead port"
        [ "$rc" -lt 124 ] || fail "run $i of $* hung or crashed (exit $rc): $(tail -n 3 "$T/err.$i")"
        grep -q "htons($port)" "$T/strace.$i" && n=$((n + 1))
    done
    echo "$n"
}

# curl hangs with some sanitizer runtimes preloaded even without the shim: then only the
# cprog half runs, said aloud.
CURL_OK=1
if [ -n "${SANITIZER:-}" ] && ! timeout -k 2 5 env LD_PRELOAD="$(sanitizer_runtimes)" curl --version >/dev/null 2>&1; then
    CURL_OK=
    log "curl does not run with the $SANITIZER runtime preloaded: the curl runs are skipped"
fi

port=$(free_port)
port2=$(free_port)
shared_config() {
    write_config <<EOF2
[defaults]
state = $1
retries = 0
cushion = on
cushion_failures = 3
cushion_window = 5
cushion_half_open_ms = 60000
; This test is about sharing, not break length: the first break is as long as the longest,
; so the circuit stays open however slowly strace runs the remaining processes.
cushion_first_break_ms = 60000
; $TEST_NAME $port $$
EOF2
}

# Control: without the shim every run connects.
shared_config shared
SHM=$(CAROM_CONFIG=$CFG "$CAROM" cushions --path) || fail "carom cushions --path"
case $SHM in /dev/shm/carom-"$(id -u)"-[0-9a-f]*) ;; *) fail "unexpected table name $SHM" ;; esac
[ ! -e "$SHM" ] || fail "$SHM exists before any run"
if [ -n "$CURL_OK" ]; then
    n=$(runs_reaching "$port" plain curl -sS -m 5 "http://127.0.0.1:$port/")
    assert_eq "$n" 10 "without the shim, curl runs reaching the port"

    # Control: per-process state forgets the circuit with every process.
    shared_config process
    n=$(runs_reaching "$port" shim curl -sS -m 5 "http://127.0.0.1:$port/")
    assert_eq "$n" 10 "with state = process, curl runs reaching the port"

    # Shared: after three failures in five, the next processes fail fast without connecting.
    shared_config shared
    n=$(runs_reaching "$port" shim curl -sS -m 5 "http://127.0.0.1:$port/")
    log "curl: $n of 10 runs reached the dead port"
    assert_ge "$n" 3 "the circuit starts closed: the first three curl runs connect"
    assert_le "$n" 4 "with state = shared, curl runs reaching the port"
    # CURLE_COULDNT_CONNECT, whichever layer (socket or libcurl) failed it fast.
    assert_eq "$(cat "$T/rc.10")" 7 "the fast failure reaches curl as a connect error (exit)"
fi

# The same with a plain C program, and its control with state = process.
shared_config process
n=$(runs_reaching "$port2" shim "$CPROG" connect 127.0.0.1 "$port2")
assert_eq "$n" 10 "with state = process, cprog runs reaching the port"
shared_config shared
n=$(runs_reaching "$port2" shim "$CPROG" connect 127.0.0.1 "$port2")
log "cprog: $n of 10 runs reached the dead port"
assert_ge "$n" 3 "the first three cprog runs connect"
assert_le "$n" 4 "with state = shared, cprog runs reaching the port"
[ -f "$SHM" ] || fail "no shared table at $SHM"
perm=$(stat -c '%a %u' "$SHM")
assert_eq "$perm" "600 $(id -u)" "the table's mode and owner"

# carom cushions shows both circuits open, live from shared memory.
run_plain env CAROM_CONFIG="$CFG" "$CAROM" cushions
assert_ok "carom cushions"
printf '%s\n' "$OUT" | sed 's/^/# /' >&2
[ -z "$CURL_OK" ] || assert_match "$OUT" "^127\.0\.0\.1:$port +defaults +open +3/5 +[0-9.]+s" "curl's circuit in carom cushions"
assert_match "$OUT" "^127\.0\.0\.1:$port2 +defaults +open +3/5 " "cprog's circuit in carom cushions"
run_plain env CAROM_CONFIG="$CFG" "$CAROM" cushions --json
assert_ok "carom cushions --json"
"$PYTHON" -c '
import json, sys
rows = json.loads(sys.stdin.read())
want = {"127.0.0.1:" + p for p in sys.argv[1:]}
got = {r["endpoint"]: r for r in rows}
for ep in want:
    r = got.get(ep)
    assert r, "no row for %s in %s" % (ep, rows)
    assert r["state"] == "open" and r["policy"] == "defaults", r
    assert r["failures"] == 3 and r["window"] == 5, r
    assert 30000 < r["half_open_in_ms"] <= 60000, r
' ${CURL_OK:+"$port"} "$port2" <<<"$OUT" || fail "carom cushions --json: $OUT"
# -c FILE finds the same table as $CAROM_CONFIG.
run_plain "$CAROM" cushions -c "$CFG"
assert_match "$OUT" "^127\.0\.0\.1:$port2 +defaults +open" "carom cushions -c FILE"
pass "${CURL_OK:+curl and }cprog: at most 4 of 10 runs reached the dead port"
