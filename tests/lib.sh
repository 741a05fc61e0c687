# tests/lib.sh: helpers every end-to-end script sources (ports, servers, running a program
# with or without the shim, configs, assertions). It must never leave a process or a temp
# file behind, never talk to anything but loopback, and never turn a failure into a skip.
# shellcheck shell=bash

set -u
set -o pipefail

: "${CAROM_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${BUILD:=build}"
export CAROM_ROOT BUILD

SHIM_SO=$CAROM_ROOT/$BUILD/libcarom_shim.so
CPROG=$CAROM_ROOT/$BUILD/tests/prog/cprog
CPROG_FORTIFY=$CAROM_ROOT/$BUILD/tests/prog/cprog_fortify
FLAKY=$CAROM_ROOT/tests/servers/flaky.py
TEST_NAME=$(basename "${0:-e2e}" .sh)

# The real interpreter, not a pyenv/asdf wrapper script: a wrapper would run extra shells
# under the shim (each printing its own diagnostics) and add start-up time to late-server
# races.
PYTHON=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || PYTHON=
[ -n "$PYTHON" ] || { echo "FAIL $TEST_NAME: python3 is required" >&2; exit 1; }

# Every program run is bounded; a hang is a failure, never a stuck CI job.
: "${RUN_TIMEOUT:=20}"

T=$(mktemp -d "${TMPDIR:-/tmp}/carom-e2e.XXXXXX")
CFG=$T/carom.ini
_PIDS=()
_NSERVERS=0

# Nothing from the caller's environment may steer the shim or send a client elsewhere
# (a proxy would turn "refused" into a proxy error); each test says what it wants.
unset STDIN CAROM_CONFIG CAROM_DISABLE LD_PRELOAD http_proxy https_proxy HTTP_PROXY HTTPS_PROXY \
    all_proxy ALL_PROXY no_proxy NO_PROXY
# Events go to a socket no one listens on (the shim drops them), not to a developer's
# live scoreboard.
export CAROM_SCOREBOARD=$T/scoreboard.sock

_cleanup() {
    local p
    for p in "${_PIDS[@]+"${_PIDS[@]}"}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${_PIDS[@]+"${_PIDS[@]}"}"; do
        # Bounded: a server ignoring TERM gets KILL after about a second.
        local i
        for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    rm -rf "$T"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { echo "# $*" >&2; }

# ---- outcome ------------------------------------------------------------------------------

# Shows the last program run, so a failure message carries its own evidence.
_last_run() {
    [ -n "${CMD:-}" ] || return 0
    echo "  last command: $CMD" >&2
    echo "  exit status: ${RC:-?}, elapsed: ${MS:-?} ms" >&2
    [ -z "${OUT:-}" ] || printf '%s\n' "$OUT" | head -n 20 | sed 's/^/  stdout: /' >&2
    # The end of stderr holds the error (a traceback's last line, a sanitizer's summary).
    [ -z "${ERR:-}" ] || printf '%s\n' "$ERR" | tail -n 20 | sed 's/^/  stderr: /' >&2
}

fail() {
    echo "FAIL $TEST_NAME: $*" >&2
    _last_run
    exit 1
}

skip() {
    echo "SKIP $TEST_NAME: $*"
    exit 77
}

pass() {
    echo "PASS $TEST_NAME${1:+: $1}"
    exit 0
}

assert_eq() { [ "$1" = "$2" ] || fail "${3:-values differ}: got '$1', want '$2'"; }
assert_ne() { [ "$1" != "$2" ] || fail "${3:-values are equal}: both '$1'"; }
_num() { [[ $1 =~ ^-?[0-9]+$ ]] || fail "${2:-assertion}: '$1' is not a number"; }
assert_ge() { _num "$1" "${3:-}"; _num "$2"; [ "$1" -ge "$2" ] || fail "${3:-too small}: got $1, want >= $2"; }
assert_le() { _num "$1" "${3:-}"; _num "$2"; [ "$1" -le "$2" ] || fail "${3:-too large}: got $1, want <= $2"; }
assert_contains() {
    case $1 in *"$2"*) ;; *) fail "${3:-missing text}: '$2' not in output";; esac
}
assert_match() { grep -Eq -- "$2" <<<"$1" || fail "${3:-no match}: nothing matches /$2/"; }

# The last run succeeded.
assert_ok() { [ "${RC:-x}" = 0 ] || fail "${1:-command failed} (exit ${RC:-?})"; }
# The last run failed on its own: a non-zero exit that is not our time limit or a crash,
# so a hang or a segfault can never count as the expected failure of a control run.
assert_failed() {
    [ "${RC:-0}" != 0 ] || fail "${1:-command should have failed} (it succeeded)"
    if [ "$RC" = 124 ] || [ "$RC" = 137 ]; then
        fail "${1:-command should have failed} (it hung: killed by the ${RUN_TIMEOUT}s limit)"
    fi
    [ "$RC" -lt 128 ] || fail "${1:-command should have failed} (it crashed: exit $RC)"
}
# The last run was stopped by the time limit (it blocked).
assert_timed_out() {
    [ "${RC:-0}" = 124 ] || [ "${RC:-0}" = 137 ] || fail "${1:-command should have blocked until the time limit} (exit ${RC:-?})"
}

# ---- requirements -------------------------------------------------------------------------

# A missing tool the suite cannot provide is a skip; a missing build product is a failure.
need_cmd() { command -v "$1" >/dev/null 2>&1 || skip "$1 is not installed (make deps installs it)"; }
# need_curl: curl, the libcurl test program ($CURLPROG), and a sanitizer runtime they can
# both live with; leaves an HTTP server on $port (with COUNT and READY) for the test.
CURLPROG=$CAROM_ROOT/$BUILD/tests/prog/curlprog
need_curl() {
    need_cmd curl
    [ -x "$CURLPROG" ] || fail "$CURLPROG missing: run make $BUILD/tests/prog/curlprog"
    port=$(free_port)
    server "$port" http
    need_sanitizer_ok curl -s "http://127.0.0.1:$port/"
}
# curl_config [EXTRA...]: [defaults] for the libcurl tests (per-process state, 3 retries
# 50..200 ms apart); EXTRA lines are appended.
curl_config() {
    {
        printf '%s\n' '[defaults]' 'state = process' 'retries = 3' 'base_delay_ms = 50' \
            'max_delay_ms = 200'
        [ $# -eq 0 ] || printf '%s\n' "$@"
    } >"$CFG"
}
# need_hostile: the hostile-program binary ($HOSTILE).
HOSTILE=$CAROM_ROOT/$BUILD/tests/prog/hostile
need_hostile() { [ -x "$HOSTILE" ] || fail "$HOSTILE is missing: run make $BUILD/tests/prog/hostile"; }
# start_scoreboard: `carom scoreboard --json` listening on $CAROM_SCOREBOARD, its events in
# $EV; stopped on exit like every server.
start_scoreboard() {
    CAROM=$CAROM_ROOT/$BUILD/carom
    [ -x "$CAROM" ] || fail "$CAROM is missing: run make"
    EV=$T/events.jsonl
    "$CAROM" scoreboard --json >"$EV" 2>"$T/sb.err" &
    _PIDS+=("$!")
    for _ in $(seq 100); do [ -S "$CAROM_SCOREBOARD" ] && break; sleep 0.05; done
    [ -S "$CAROM_SCOREBOARD" ] || fail "carom scoreboard did not start: $(cat "$T/sb.err")"
}
need_shim() { [ -f "$SHIM_SO" ] || fail "$SHIM_SO is missing: run make"; }
need_cprog() {
    if [ ! -x "$CPROG" ] || [ ! -x "$CPROG_FORTIFY" ]; then
        fail "$CPROG(_fortify) missing: run make $BUILD/tests/prog/cprog $BUILD/tests/prog/cprog_fortify"
    fi
}

# ---- time and ports -----------------------------------------------------------------------

ms_now() { date +%s%3N; }

# A port that was free a moment ago. flaky.py binds at once (even when --late), so a race
# with another process shows up as the server failing, not as a silent refusal.
free_port() {
    "$PYTHON" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- servers ------------------------------------------------------------------------------

# start_server ARGS...: runs flaky.py in the background with ARGS (which must include
# --port); sets SERVER_PID and SERVER_LOG. Killed on exit whatever happens.
start_server() {
    _NSERVERS=$((_NSERVERS + 1))
    SERVER_LOG=$T/server.$_NSERVERS.log
    "$PYTHON" "$FLAKY" "$@" </dev/null >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    _PIDS+=("$SERVER_PID")
}

# wait_ready FILE [SECONDS]: waits for a server's --ready file, bounded.
wait_ready() {
    local f=$1 limit=$(( ${2:-10} * 10 )) i=0
    while [ ! -e "$f" ]; do
        i=$((i + 1))
        if [ "$i" -gt "$limit" ]; then
            [ -z "${SERVER_LOG:-}" ] || sed 's/^/  server: /' "$SERVER_LOG" >&2
            fail "server not listening after ${2:-10}s ($f)"
        fi
        sleep 0.1
    done
}

# server PORT MODE [LATE_MS] [ARGS...]: a fresh flaky.py on 127.0.0.1:PORT, with READY and
# COUNT naming its ready and count files. With LATE_MS 0 it waits until listening.
server() {
    local port=$1 mode=$2 late=${3:-0}
    shift 2; [ $# -gt 0 ] && shift
    READY=$T/ready.$((_NSERVERS + 1))
    COUNT=$T/count.$((_NSERVERS + 1))
    : >"$COUNT"
    start_server --port "$port" --mode "$mode" --late "$late" --ready "$READY" \
        --count "$COUNT" --lifetime "${SERVER_LIFETIME:-30}" "$@"
    [ "$late" != 0 ] || wait_ready "$READY"
}

# count_lines FILE [ERE]: how many lines of a --count file match (all by default).
count_lines() { grep -Ec -- "${2:-.}" "$1" 2>/dev/null || true; }

# ---- configuration ------------------------------------------------------------------------

# write_config [FILE] <<'EOF' ... EOF: the policy file for this test (default $CFG).
write_config() { cat >"${1:-$CFG}"; }

# retry_config [EXTRA...]: [defaults] for the late-server scenarios: enough retries to
# outlast a server 600 ms late (jitter none, 100 ms doubling to a 400 ms cap: attempts at
# about 0, 100, 300, 700, 1100 ms ...), per-process state so runs never share circuits, the
# cushion at its defaults (a shot is one outcome, so a caller's own retries never open it)
# and a generous budget floor so only the retry policy is under test.
# EXTRA lines are appended to [defaults].
retry_config() {
    {
        printf '%s\n' '[defaults]' 'state = process' 'retries = 10' 'base_delay_ms = 100' \
            'max_delay_ms = 400' 'jitter = none' 'retry_budget_min_per_s = 100'
        [ $# -eq 0 ] || printf '%s\n' "$@"
    } >"$CFG"
}

# ---- running programs ---------------------------------------------------------------------

# The sanitizer runtimes to preload, space-separated (empty without SANITIZER): the shim
# was built instrumented while the programs were not, so the runtime must come first.
sanitizer_runtimes() {
    local pre="" s lib f
    [ -n "${SANITIZER:-}" ] || return 0
    for s in ${SANITIZER//,/ }; do
        case $s in
            address) lib=libasan.so ;;
            undefined) lib=libubsan.so ;;
            thread) lib=libtsan.so ;;
            leak) lib=liblsan.so ;;
            *) fail "SANITIZER=$SANITIZER: don't know the runtime for '$s'" ;;
        esac
        f=$("${CC:-cc}" -print-file-name="$lib")
        if [ "$f" = "$lib" ] || [ ! -e "$f" ]; then
            fail "SANITIZER=$SANITIZER: ${CC:-cc} cannot find $lib"
        fi
        pre="$pre$f "
    done
    printf '%s' "${pre% }"
}
# The LD_PRELOAD value for shim runs.
shim_preload() {
    local pre; pre=$(sanitizer_runtimes) || exit 1
    printf '%s' "${pre:+$pre }$SHIM_SO"
}
# need_sanitizer_ok CMD...: with SANITIZER set, runs CMD (which must succeed) with only the
# sanitizer runtime preloaded, no shim; a foreign program that cannot live with it (wget
# hangs at exit under a preloaded libasan) is a skip, since the shim is not involved.
need_sanitizer_ok() {
    [ -n "${SANITIZER:-}" ] || return 0
    local pre; pre=$(sanitizer_runtimes) || exit 1
    timeout -k 2 5 env LD_PRELOAD="$pre" "$@" </dev/null >/dev/null 2>&1 ||
        skip "$1 does not run with the $SANITIZER runtime preloaded, even without the shim"
}
# Worked out once, so a bad SANITIZER fails the test here instead of silently running
# "shim" runs without the shim.
SHIM_PRELOAD=$(shim_preload) || exit 1
if [ -n "${SANITIZER:-}" ]; then
    # The programs under test (python, wget, ...) are not ours: their own leaks at exit
    # must not turn into failures, and the runtime is preloaded first on purpose.
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi

# shim [VAR=VALUE...] CMD...: runs CMD with the shim and $CFG, bounded, without capturing.
# env applies LD_PRELOAD only to CMD, so timeout and env themselves never load the shim.
shim() { timeout -k 3 "$RUN_TIMEOUT" env LD_PRELOAD="$SHIM_PRELOAD" CAROM_CONFIG="$CFG" "$@"; }
# plain [VAR=VALUE...] CMD...: the same without the shim: the control runs.
plain() { timeout -k 3 "$RUN_TIMEOUT" env -u LD_PRELOAD -u CAROM_CONFIG "$@"; }

# run_shim / run_plain [VAR=VALUE...] CMD...: run and capture: sets OUT, ERR, RC, MS (wall
# time) and CMD. Feed stdin with a redirection or here-string (run_shim nc ... <<<'hi'),
# not a pipe: a function in a pipeline runs in a subshell and its results would be lost.
_run() {
    local how=$1; shift
    CMD="$how ${*//$'\n'/ }"  # one line, even for python -c scripts
    local t0; t0=$(ms_now)
    "$how" "$@" >"$T/out" 2>"$T/err"
    RC=$?
    MS=$(( $(ms_now) - t0 ))
    OUT=$(cat "$T/out"); ERR=$(cat "$T/err")
}
run_shim() { _run shim "$@"; }
run_plain() { _run plain "$@"; }

# ---- the late-server pattern -------------------------------------------------------------

# expect_late MODE LATE_MS CHECK CMD...: runs CMD (with {PORT} replaced by the port) once
# under the shim and once without, each against a fresh server that listens LATE_MS late.
# The shim run must succeed and CHECK (an ERE, may be empty) must match its stdout; the
# plain run must fail on its own. Stdin for CMD comes from $STDIN when set. Afterwards
# SHIM_CONNS is how many connections the server saw during the shim run.
expect_late() {
    local mode=$1 late=$2 check=$3; shift 3
    local how port args a
    for how in shim plain; do
        port=$(free_port)
        args=()
        for a in "$@"; do args+=("${a//\{PORT\}/$port}"); done
        server "$port" "$mode" "$late"
        if [ -n "${STDIN+x}" ]; then "run_$how" "${args[@]}" <<<"$STDIN"
        else "run_$how" "${args[@]}" </dev/null; fi
        # The server must have come up, or a failure below would blame the wrong side.
        wait_ready "$READY"
        if [ "$how" = shim ]; then
            assert_ok "with the shim, ${args[0]} should reach a server that is ${late} ms late"
            [ -z "$check" ] || assert_match "$OUT" "$check" "with the shim, unexpected output"
            # shellcheck disable=SC2034  # read by the tests
            SHIM_CONNS=$(count_lines "$COUNT" '^conn$')
        else
            assert_failed "without the shim, ${args[0]} should fail against a server ${late} ms late (control)"
        fi
        log "$CMD: exit $RC after $MS ms"
    done
}
