#!/usr/bin/env bash
# policy_by_name.sh: a policy keyed by name, [localhost:PORT], governs a connect to
# 127.0.0.1:PORT once the program has resolved "localhost", while [defaults] (retries = 0)
# governs the same address when no name was resolved. It must never pass unless the
# resolving program fails without the shim and the non-resolving one fails with it.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog

# localhost may resolve to ::1 first on some hosts: listen on both families when this one
# has IPv6 loopback, so "connect to the first address" is never a wrong-family failure.
hosts=(--host 127.0.0.1)
if "$PYTHON" -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
    hosts+=(--host ::1)
fi

# named_config PORT: retries only for the name, none for anything else.
named_config() {
    write_config <<EOF2
[defaults]
state = process
retries = 0

[localhost:$1]
retries = 10
base_delay_ms = 100
max_delay_ms = 400
jitter = none
retry_budget_min_per_s = 100
EOF2
}

late_run() { # late_run shim|plain CMD... ({PORT} replaced)
    local how=$1 port a args=(); shift
    port=$(free_port)
    named_config "$port"
    for a in "$@"; do args+=("${a//\{PORT\}/$port}"); done
    server "$port" echo 600 "${hosts[@]}"
    "run_$how" "${args[@]}" </dev/null
    wait_ready "$READY"
    log "$CMD: exit $RC after $MS ms"
}

# getaddrinfo(localhost, AF_INET), then a blocking connect to 127.0.0.1:PORT.
late_run shim "$CPROG" resolve localhost '{PORT}' 4
assert_ok "after resolving localhost, [localhost:PORT] should retry the connect to 127.0.0.1"
assert_match "$OUT" '^resolve: ping$' "resolve: unexpected output"

# The first address of an unrestricted lookup, whichever family that is.
late_run shim "$CPROG" resolve localhost '{PORT}' any
assert_ok "after resolving localhost (any family), [localhost:PORT] should retry the connect"

# Python tries each address of the name in turn, with blocking connects.
late_run shim "$PYTHON" -c 'import socket, sys
s = socket.create_connection(("localhost", int(sys.argv[1])))
s.sendall(b"ping\n"); print(s.recv(64).decode().strip())' '{PORT}'
assert_ok "python create_connection(('localhost', PORT)) should get through under the shim"
assert_match "$OUT" '^ping$' "python: unexpected output"

# Control 1: the same resolving program without the shim.
late_run plain "$CPROG" resolve localhost '{PORT}' 4
assert_failed "without the shim the resolving program should fail (control)"
assert_contains "$ERR" ECONNREFUSED "without the shim: expected ECONNREFUSED"

# Control 2: no name resolved, so [defaults] (retries = 0) governs 127.0.0.1:PORT.
late_run shim "$CPROG" connect 127.0.0.1 '{PORT}'
assert_failed "with no name resolved, [defaults] retries = 0 should govern 127.0.0.1:PORT"
assert_contains "$ERR" ECONNREFUSED "with no name resolved: expected ECONNREFUSED"
pass
