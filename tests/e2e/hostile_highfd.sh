#!/usr/bin/env bash
# hostile_highfd.sh: a program started with a soft RLIMIT_NOFILE of 256 raises it to the
# hard limit, moves a fresh socket to a descriptor far above 256 and connects it to a
# server 600 ms late. The shim sized its fd table from the hard limit, so that descriptor
# is tracked and the connect retried. It must never pass unless the same program fails
# without the shim.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_hostile

hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
[ "$hard" -ge 1024 ] || skip "the hard RLIMIT_NOFILE is $hard: no room above a soft limit of 256"
target=$(( hard < 4096 ? hard - 8 : 4000 ))
ulimit -Sn 256 || fail "cannot lower the soft RLIMIT_NOFILE to 256"

retry_config
expect_late echo 600 "^highfd: ping\$" "$HOSTILE" highfd "$target" '{PORT}'
assert_contains "$OUT" "soft limit 256 -> $hard, socket on fd $target" "the program raised its limit"
assert_eq "$SHIM_CONNS" 1 "highfd: connections the server saw"
pass
