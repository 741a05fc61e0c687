#!/usr/bin/env bash
# connect_nonblocking.sh: a non-blocking connect (EINPROGRESS, poll, getsockopt SO_ERROR, then
# blocking send/recv) reaches a server 600 ms late under the shim with the default
# retry_nonblocking = on. It must never pass unless the program fails without the shim.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog

retry_config
expect_late echo 600 '^nbconnect: ping$' "$CPROG" nbconnect 127.0.0.1 '{PORT}'
assert_eq "$SHIM_CONNS" 1 "nbconnect: connections the server saw"
pass
