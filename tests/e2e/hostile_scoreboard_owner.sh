#!/usr/bin/env bash
# hostile_scoreboard_owner.sh: another local user binds the scoreboard path before you
# do and makes the socket writable by everyone, to read your events (endpoints, policy
# names, pids, errors). The shim must send events only to a socket owned by its own
# effective user or root: the foreign listener (run as nobody) must receive nothing from a
# program that makes several shots. Control: the same listener run as the program's own
# user receives them. Needs root (to run the listener as nobody). Needs the emitter
# (shim/events.c) to check the socket's owner before sending. It must never leave a
# listener running.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog
need_cmd setpriv
[ "$(id -u)" = 0 ] || skip "needs root to run a listener as another user"
id nobody >/dev/null 2>&1 || skip "no user nobody"

write_config <<'EOF2'
[defaults]
state = process
retries = 0
EOF2
dead=$(free_port)
mkdir -p "$T/sb"
chmod 755 "$T"

LISTEN='
import os, socket, sys, time
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o777)  # anyone may send here: the trap
open(out + ".ready", "w").close()
s.settimeout(0.2)
n, until = 0, time.monotonic() + float(sys.argv[3])
while time.monotonic() < until:
    try:
        s.recv(4096); n += 1
    except socket.timeout:
        pass
open(out, "w").write("%d\n" % n)
'
# listen_as USER: a listener at $T/sb/sb.sock for 3 s; then three shots under the shim;
# sets GOT to the datagrams it received.
listen_as() {
    local who=$1 pre=()
    rm -f "$T/sb/sb.sock" "$T/sb/got" "$T/sb/got.ready"
    if [ "$who" = nobody ]; then
        chown nobody "$T/sb"
        pre=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups)
    else
        chown 0 "$T/sb"
    fi
    "${pre[@]}" "$PYTHON" -c "$LISTEN" "$T/sb/sb.sock" "$T/sb/got" 3 &
    _PIDS+=("$!")
    local i
    for i in $(seq 100); do [ -e "$T/sb/got.ready" ] && break; sleep 0.05; done
    [ -e "$T/sb/got.ready" ] || fail "the $who listener did not start"
    for i in 1 2 3; do
        shim CAROM_SCOREBOARD="$T/sb/sb.sock" "$CPROG" connect 127.0.0.1 "$dead" >/dev/null 2>&1
        sleep 0.3  # past the emitter's quiet second after an unanswered send
    done
    for i in $(seq 100); do [ -s "$T/sb/got" ] && break; sleep 0.05; done
    GOT=$(cat "$T/sb/got" 2>/dev/null)
    _num "$GOT" "datagrams the $who listener received"
    log "listener as $who received $GOT datagrams"
}

listen_as root
assert_ge "$GOT" 1 "control: our own listener receives the events"
listen_as nobody
assert_eq "$GOT" 0 "events received by another user's listener"
pass
