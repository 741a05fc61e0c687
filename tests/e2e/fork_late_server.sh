#!/usr/bin/env bash
# fork_late_server.sh: after fork, parent and child each connect to a server that listens 600 ms
# late, and both get through under the shim (the child inherits a working shim). It must
# never pass unless the same program fails without the shim.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog

retry_config
expect_late echo 600 '^fork: parent ok, child ok$' "$CPROG" fork 127.0.0.1 '{PORT}'
assert_contains "$OUT" "fork: parent failed, child failed" "without the shim both sides should fail"
assert_eq "$SHIM_CONNS" 2 "fork: connections the server saw"
pass
