#!/usr/bin/env bash
# threads_late_server.sh: eight threads of one process, each with its own blocking connect, all
# get through a server that listens 600 ms late under the shim. It must never pass unless
# the same program fails without the shim.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog

retry_config
expect_late echo 600 '^threads: 8/8 ok$' "$CPROG" threads 8 127.0.0.1 '{PORT}'
# Refused attempts never reach the server: exactly one connection per thread.
assert_eq "$SHIM_CONNS" 8 "threads: connections the server saw"
pass
