#!/usr/bin/env bash
# connect_own_bind.sh: a program that bind()s its socket to 127.0.0.2 (port 0) before
# connecting to a server 600 ms late keeps that source address through the shim's
# retries, blocking and non-blocking: each retry's fresh socket is bound as the program
# asked (the bind() wrapper remembers it), to a port of its own. It must never pass
# unless the same runs fail without the shim.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
"$PYTHON" -c 'import socket; socket.socket().bind(("127.0.0.2", 0))' 2>/dev/null ||
    skip "cannot bind to 127.0.0.2"

retry_config
# Python connects blocking without a timeout, non-blocking (SO_ERROR) with one.
prog='import socket, sys
s = socket.socket()
s.bind(("127.0.0.2", 0))
if sys.argv[2] != "none": s.settimeout(float(sys.argv[2]))
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"hi\n")
print("from", s.getsockname()[0], "echo", s.recv(100).decode().strip())'

STDIN=
for tmo in none 5; do
    expect_late echo 600 '^from 127\.0\.0\.2 echo hi$' "$PYTHON" -c "$prog" '{PORT}' "$tmo"
    assert_eq "$SHIM_CONNS" 1 "timeout $tmo: connections the server saw"
done
pass
