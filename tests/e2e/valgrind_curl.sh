#!/usr/bin/env bash
# valgrind_curl.sh: curl through the shim under valgrind memcheck, against an HTTP server
# that listens 3 s late, so the shim retries (a live listener must see curl's `retry`
# events: the test cannot pass on a run where the shim did nothing). valgrind's report
# must show no invalid read, write or free anywhere, no error of any kind with a shim
# frame in its stack, and no "definitely lost" or "indirectly lost" block allocated from
# the shim (still-reachable memory is fine). It must never pass without parsing a
# complete valgrind report for the curl process.
# timeout: 600 (memcheck runs the programs many times slower)
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cmd valgrind
need_cmd curl
[ -z "${SANITIZER:-}" ] || skip "valgrind cannot run a sanitizer build of the shim"
CAROM=$CAROM_ROOT/$BUILD/carom
[ -x "$CAROM" ] || fail "$CAROM is missing: run make"
# shellcheck source=tests/e2e/valgrind_lib.inc
. "$(dirname "$0")/valgrind_lib.inc"

retry_config
port=$(free_port)
server "$port" http 3000
vg_listen
vg_run curl -sS --max-time 60 "http://127.0.0.1:$port/"
assert_ok "curl under valgrind and the shim reaches a server 3 s late"
assert_eq "$OUT" "hello" "curl's output"
vg_check curl
pass
