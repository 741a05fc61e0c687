#!/usr/bin/env bash
# late_wget.sh: `wget --tries=1` (a blocking connect) reaches a server that listens
# 600 ms late only through the shim. It must never pass unless wget fails without it.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cmd wget

port=$(free_port)
server "$port" http
need_sanitizer_ok wget --no-config --tries=1 -q -O - "http://127.0.0.1:$port/"

retry_config
expect_late http 600 '^hello$' wget --no-config --tries=1 -q -O - 'http://127.0.0.1:{PORT}/'
assert_eq "$SHIM_CONNS" 1 "wget: connections the server saw"
pass
