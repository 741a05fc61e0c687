#!/usr/bin/env bash
# io_timeout.sh: io_timeout_ms = 500 makes a blocking recv from a server that never
# answers fail with ETIMEDOUT after about half a second (plain recv and the fortified
# __recv_chk). It must never pass unless the same recv blocks without the setting and
# without the shim.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog

port=$(free_port)
server "$port" blackhole

retry_config 'io_timeout_ms = 500'
# A shim that ignores the setting should fail here in seconds, not at the 20 s default.
RUN_TIMEOUT=8
for prog in "$CPROG" "$CPROG_FORTIFY"; do
    run_shim "$prog" recv 127.0.0.1 "$port"
    assert_failed "$(basename "$prog") recv should fail with io_timeout_ms = 500"
    read -r what name ms _ <<<"$OUT"
    assert_eq "$what $name" "recv: ETIMEDOUT" "$(basename "$prog"): recv should time out"
    assert_ge "$ms" 400 "$(basename "$prog"): recv timed out too early (ms)"
    assert_le "$ms" 1500 "$(basename "$prog"): recv timed out too late (ms)"
    log "shim: $(basename "$prog"): $name after $ms ms"
done

# Controls: the same recv blocks until killed, under the shim with io_timeout_ms = 0 ...
RUN_TIMEOUT=2
retry_config 'io_timeout_ms = 0'
run_shim "$CPROG" recv 127.0.0.1 "$port"
assert_timed_out "with io_timeout_ms = 0 the recv should block"
# ... and without the shim.
run_plain "$CPROG" recv 127.0.0.1 "$port"
assert_timed_out "without the shim the recv should block"
pass
