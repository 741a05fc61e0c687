#!/usr/bin/env bash
# scoreboard_closefds.sh: the emitter's descriptor belongs to carom, never to the program.
# A python program under the shim emits one event per phase while it (1) checks that the
# scoreboard socket is O_CLOEXEC, (2) dup2()s a connected TCP socket over it, (3) does the
# same behind the shim's back with a raw dup3 system call, and (4) closes every descriptor
# like a daemon, then opens a file and a TCP connection. After each phase the next event
# must still reach the listener, on a fresh socket, and nothing carom sends may land in the
# program's streams (TCP ignores sendto's address: a stale descriptor would deliver there). It must never pass unless each phase's event was received.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim

CAROM=$CAROM_ROOT/$BUILD/carom
[ -x "$CAROM" ] || fail "$CAROM is missing: run make"
EV=$T/events.jsonl

"$CAROM" scoreboard --json >"$EV" 2>"$T/sb.err" &
_PIDS+=("$!")
for i in $(seq 100); do grep -q listening "$T/sb.err" 2>/dev/null && break; sleep 0.05; done
[ -S "$CAROM_SCOREBOARD" ] || fail "carom scoreboard did not start"

write_config <<EOF2
[defaults]
state = process
retries = 0
EOF2
p1=$(free_port); p2=$(free_port); p3=$(free_port); p4=$(free_port)

PROG='
import ctypes, os, platform, socket, sys, time
ports = [int(p) for p in sys.argv[1:5]]; out = sys.argv[5]

def shot(port):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
    except OSError:
        pass
    s.close()

def carom_fd():
    """The one socket this program did not open: the shim'"'"'s scoreboard socket."""
    socks = []
    for f in os.listdir("/proc/self/fd"):
        try:
            if os.readlink("/proc/self/fd/" + f).startswith("socket:"):
                socks.append(int(f))
        except OSError:
            pass  # the directory listing'"'"'s own descriptor, gone by now
    if len(socks) != 1:
        sys.exit("expected exactly one socket (carom'"'"'s), found %s" % socks)
    return socks[0]

def wait_received(port):
    for _ in range(100):
        if (":%d\"" % port) in open(os.environ["EV"]).read():
            return
        time.sleep(0.05)
    sys.exit("the event for port %d never reached the listener" % port)

# 1. An event opens the socket; it must not survive exec.
shot(ports[0]); wait_received(ports[0])
fd = carom_fd()
flags = int([l for l in open("/proc/self/fdinfo/%d" % fd) if l.startswith("flags:")][0].split()[1], 8)
if not flags & 0o2000000:
    sys.exit("the scoreboard socket is not O_CLOEXEC (flags %o)" % flags)
print("cloexec ok, fd", fd)

def tcp_pair():
    """A connected TCP pair: a stream that would carry anything sent into its client end,
    whatever address sendto() names (TCP ignores it)."""
    l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
    c = socket.create_connection(l.getsockname())
    s, _ = l.accept(); l.close()
    s.setblocking(False)
    return c, s

def nothing_leaked(s, what):
    try:
        leaked = s.recv(4096)
        sys.exit("carom sent into the program'"'"'s %s: %r" % (what, leaked))
    except BlockingIOError:
        pass

# 2. dup2() a TCP socket over it: the shim must forget its own and open a fresh socket.
c, s = tcp_pair()
os.dup2(c.fileno(), fd)
shot(ports[1]); wait_received(ports[1])
nothing_leaked(s, "stream dup2()ed over carom'"'"'s descriptor")
os.close(fd); c.close(); s.close()

# 3. Behind the shim'"'"'s back: a raw dup3 system call puts a TCP socket in its place.
fd = carom_fd()
c, s = tcp_pair()
nr = {"x86_64": 292, "aarch64": 24}.get(platform.machine())
if nr is None:
    print("raw dup3: unknown system call number here, phase skipped")
    shot(ports[2]); wait_received(ports[2])
else:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(nr, c.fileno(), fd, 0) != fd:
        sys.exit("raw dup3 failed: errno %d" % ctypes.get_errno())
    shot(ports[2]); wait_received(ports[2])
    nothing_leaked(s, "stream put in place by a raw dup3")
    os.close(fd)
c.close(); s.close()

# 4. A daemon closes every descriptor above stderr, then opens its own: a file and a
#    stream, which take the lowest numbers (carom'"'"'s old one among them).
os.closerange(3, 65536)
g = open(out + "/daemon.out", "wb")
c, s = tcp_pair()
shot(ports[3]); wait_received(ports[3])
nothing_leaked(s, "stream opened after closing every descriptor")
g.close()
print("done")
'
run_shim EV="$EV" "$PYTHON" -c "$PROG" "$p1" "$p2" "$p3" "$p4" "$T"
assert_ok "the program ran every phase"
assert_contains "$OUT" "cloexec ok" "the scoreboard socket is close-on-exec"
assert_contains "$OUT" "done" "the program finished"
[ ! -s "$T/daemon.out" ] || fail "carom wrote into the daemon's file: $(head -c 200 "$T/daemon.out")"
for p in "$p1" "$p2" "$p3" "$p4"; do
    assert_eq "$(grep -c "\"endpoint\":\"127.0.0.1:$p\"" "$EV")" 1 "events for port $p"
done
assert_eq "$(grep -o '"pid":[0-9]*' "$EV" | sort -u | wc -l)" 1 "all events came from the one program"
pass "$(grep -c . "$EV") events, every phase delivered"
