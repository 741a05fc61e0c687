#!/usr/bin/env bash
# late_redis.sh: `redis-cli ping` reaches a RESP server that listens 600 ms late only
# through the shim. hiredis connects non-blocking and learns the outcome from a second
# connect() after poll, the third place README.md's table of wrapped calls names. It must
# never pass unless redis-cli fails without the shim.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cmd redis-cli

retry_config
expect_late redis 600 '^PONG$' redis-cli -h 127.0.0.1 -p '{PORT}' ping
assert_eq "$SHIM_CONNS" 1 "redis-cli: connections the server saw"
pass
