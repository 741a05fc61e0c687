#!/usr/bin/env bash
# valgrind_wget.sh: wget (a blocking connect, retried by the socket layer) through the
# shim under valgrind memcheck, against a server that listens 3 s late; the same report
# checks as valgrind_curl.sh (no invalid access, no error through the shim, no definite or
# indirect leak from the shim, and retry events from wget's process). It must never pass
# without parsing a complete valgrind report for the wget process.
# timeout: 600 (memcheck runs the programs many times slower)
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cmd valgrind
need_cmd wget
[ -z "${SANITIZER:-}" ] || skip "valgrind cannot run a sanitizer build of the shim"
CAROM=$CAROM_ROOT/$BUILD/carom
[ -x "$CAROM" ] || fail "$CAROM is missing: run make"
# shellcheck source=tests/e2e/valgrind_lib.inc
. "$(dirname "$0")/valgrind_lib.inc"

retry_config
port=$(free_port)
server "$port" http 3000
vg_listen
vg_run wget --no-config --tries=1 -q -O - "http://127.0.0.1:$port/"
assert_ok "wget under valgrind and the shim reaches a server 3 s late"
assert_eq "$OUT" "hello" "wget's output"
vg_check wget
pass
