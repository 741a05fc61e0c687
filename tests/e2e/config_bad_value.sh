#!/usr/bin/env bash
# config_bad_value.sh: a carom.ini with an invalid value prints exactly one
# "carom: FILE:LINE: ..." line on stderr, and the program then runs unaffected: a late
# server is refused as without the shim. It must never pass unless the same file, made
# valid, does get through the late server.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog

bad_config() {
    write_config <<'EOF2'
[defaults]
state = process
retries = lots
base_delay_ms = 100
max_delay_ms = 400
jitter = none
EOF2
}
bad_config

# check_diag: stderr holds exactly one carom line, naming the file and line 3.
check_diag() {
    local lines
    lines=$(grep -c '^carom: ' <<<"$ERR")
    assert_eq "$lines" 1 "$1: lines starting with 'carom: ' on stderr"
    assert_match "$(grep '^carom: ' <<<"$ERR")" '^carom: (.*/)?carom\.ini:3: retries: .*lots' \
        "$1: the diagnostic should name the file, line 3, the key and the value"
}

# The program runs normally and says nothing else on stderr.
port=$(free_port)
server "$port" echo
run_shim "$CPROG" connect 127.0.0.1 "$port"
assert_ok "with a bad config the program should run unaffected"
assert_match "$OUT" '^connect: ping$' "with a bad config: unexpected output"
check_diag "cprog connect"
assert_eq "$(grep -c . <<<"$ERR")" 1 "stderr should hold the one diagnostic and nothing else"

# A program that does no networking at all still starts and runs.
# The config is read at the first call that needs it (socket, connect, getaddrinfo, a
# libcurl transfer), not at load (docs/performance.md): python says so once it opens a TCP
# socket, and a process that never touches the network is never told.
run_shim "$PYTHON" -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_STREAM).close(); print("ran")'
assert_ok "with a bad config python should run"
assert_eq "$OUT" ran "with a bad config python's output"
check_diag "python"
run_shim "$PYTHON" -c 'print("ran")'
assert_ok "with a bad config python without a socket should run"
assert_eq "$OUT" ran "with a bad config: python without a socket's output"
assert_eq "$ERR" "" "a process that never touches the network never reads the config"

# Pass-through: the late server is refused, as without the shim.
port=$(free_port)
server "$port" echo 600
run_shim "$CPROG" connect 127.0.0.1 "$port"
wait_ready "$READY"
assert_failed "with a bad config the shim should pass through: the late server should be refused"
assert_contains "$ERR" ECONNREFUSED "with a bad config: expected ECONNREFUSED"
check_diag "late server"

# Control: the same file with a valid value gets through.
sed -i 's/^retries = lots$/retries = 10/' "$CFG"
port=$(free_port)
server "$port" echo 600
run_shim "$CPROG" connect 127.0.0.1 "$port"
assert_ok "with retries = 10 the same policy should reach the late server (control)"
assert_eq "$(grep -c '^carom: ' <<<"$ERR")" 0 "a valid config should print no diagnostics"
pass
