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

# The server comes up only once curl has retried (its first retry event), so the run
# cannot pass without the shim's retries however slowly valgrind starts curl on a loaded
# machine (a fixed 3 s head start sometimes had the server up before curl's first try).
# 100 retries of at most 400 ms: a schedule of about 40 s, far more than the wait needs.
retry_config
sed -i 's/^retries = 10$/retries = 100/' "$CFG"
grep -q '^retries = 100$' "$CFG" || fail "the config does not say retries = 100"
port=$(free_port)
vg_listen
( vg_run curl -sS --max-time 60 "http://127.0.0.1:$port/"; echo "$RC" >"$T/vg.rc" ) &
vgp=$!
for _ in $(seq 600); do grep -q '"event":"retry"' "$VG_EV" && break; sleep 0.1; done
grep -q '"event":"retry"' "$VG_EV" || fail "curl under valgrind never retried: $(cat "$T/err")"
server "$port" http
wait "$vgp"
RC=$(cat "$T/vg.rc"); OUT=$(cat "$T/out"); ERR=$(cat "$T/err")
CMD="valgrind curl -sS --max-time 60 http://127.0.0.1:$port/"
assert_ok "curl under valgrind and the shim reaches a server that comes up after its first retry"
assert_eq "$OUT" "hello" "curl's output"
vg_check curl
pass
