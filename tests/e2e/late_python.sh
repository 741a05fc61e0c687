#!/usr/bin/env bash
# late_python.sh: python3's urllib reaches a server that listens 600 ms late only
# through the shim, both without a timeout (blocking connect) and with timeout=5
# (non-blocking connect, SO_ERROR). It must never pass unless the same runs fail without
# the shim.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim

retry_config
# Python sets the socket non-blocking with ioctl(FIONBIO) when a timeout is given, and
# leaves it blocking without one: the two connect paths of the shim.
get='import sys, urllib.request
kw = {} if sys.argv[2] == "none" else {"timeout": float(sys.argv[2])}
print(urllib.request.urlopen(sys.argv[1], **kw).read().decode(), end="")'

expect_late http 600 '^hello$' "$PYTHON" -c "$get" 'http://127.0.0.1:{PORT}/' none
assert_eq "$SHIM_CONNS" 1 "urlopen (blocking): connections the server saw"
expect_late http 600 '^hello$' "$PYTHON" -c "$get" 'http://127.0.0.1:{PORT}/' 5
assert_eq "$SHIM_CONNS" 1 "urlopen (timeout=5): connections the server saw"
pass
