#!/usr/bin/env bash
# herd_late.sh: a herd against a server that listens 500 ms late, under the default shared
# state and cushion: 8 threads of one process and 64 forked workers all connect, and a
# non-blocking connect + poll + SO_ERROR client (the libpq way) outlasts a server 1.5 s late.
# A caller's own retries are one shot, so they never open its circuit. Controls: each fails
# without the shim.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog

# Enough retries to outlast the late servers (10, 100 ms doubling to 400 ms); every other
# key is the default, cushion and shared state included.
write_config <<EOF2
[defaults]
retries = 10
base_delay_ms = 100
max_delay_ms = 400
; $TEST_NAME $$
EOF2

expect_late echo 500 '^threads: 8/8 ok$' "$CPROG" threads 8 127.0.0.1 '{PORT}'
assert_eq "$SHIM_CONNS" 8 "threads: connections the server saw"
expect_late echo 500 '^herd: 64/64 ok$' "$CPROG" herd 64 127.0.0.1 '{PORT}'
assert_eq "$SHIM_CONNS" 64 "herd: connections the server saw"
expect_late echo 1500 '^nbconnect: ping$' "$CPROG" nbconnect 127.0.0.1 '{PORT}'
pass "8/8 threads, 64/64 workers, and a non-blocking client 1.5 s late"
