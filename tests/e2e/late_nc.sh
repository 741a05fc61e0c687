#!/usr/bin/env bash
# late_nc.sh: netcat-openbsd reaches an echo server that listens 600 ms late only
# through the shim. nc always connects non-blocking (SOCK_NONBLOCK, select, then
# getsockopt SO_ERROR), with or without -w, so this is the SO_ERROR path of a foreign
# program. It must never pass unless nc fails without the shim.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cmd nc
# Other netcats lack -N or connect differently; this test is about the OpenBSD one.
nc -h 2>&1 | grep -q OpenBSD || skip "nc is not netcat-openbsd (make deps installs it)"

retry_config
STDIN=hi
# -N: shut down the write side at EOF so the echo server finishes; -w 5 bounds nc itself.
expect_late echo 600 '^hi$' nc -N 127.0.0.1 '{PORT}'
expect_late echo 600 '^hi$' nc -N -w 5 127.0.0.1 '{PORT}'
assert_eq "$SHIM_CONNS" 1 "nc: connections the server saw"
pass
