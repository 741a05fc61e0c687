#!/usr/bin/env bash
# chaos_faults.sh: every socket and DNS fault kind on a real program (python3), each
# against a control run without chaos: connect_timeout, dns_fail (the program's own error
# path with retries = 0, healed with retries, and served stale), reset, latency and
# short_write. It must never pass on a run where the fault was not really seen.
. "$(dirname "$0")/../lib.sh"
need_shim

port=$(free_port)
server "$port" echo 0 --lifetime 60

# A python round trip that reports what happened, one word: OK or the errno/gai name.
PY_ROUND='
import socket, sys, time, errno
port = int(sys.argv[1]); what = sys.argv[2]
t = time.monotonic()
try:
    if what == "dns":
        socket.getaddrinfo("localhost", port, socket.AF_INET, socket.SOCK_STREAM)
        print("OK")
    elif what == "send":
        s = socket.create_connection(("127.0.0.1", port))
        n = s.send(b"x" * 4000)
        print("SENT", n)
    else:
        s = socket.create_connection(("127.0.0.1", port), timeout=None if what != "nb" else 5)
        s.sendall(b"ping\n"); d = s.recv(64)
        print("OK" if d == b"ping\n" else "BAD %r" % d)
except socket.gaierror as e:
    print("GAI", e.errno)
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
print("MS", int(1000 * (time.monotonic() - t)))
'
round() { run_shim "$PYTHON" -c "$PY_ROUND" "$port" "$@"; }
cfg() {
    { printf '%s\n' '[defaults]' 'state = process' 'base_delay_ms = 10' \
        'max_delay_ms = 20' "retries = $1"; shift
      printf '%s\n' '[chaos]' 'seed = 11' "[127.0.0.1:$port]" "$@"; } >"$CFG"
}

# Controls: without chaos keys everything works through the shim.
cfg 0
round echo; assert_eq "$(head -1 <<<"$OUT")" OK "control round trip"
round dns; assert_eq "$(head -1 <<<"$OUT")" OK "control resolution"

# connect_timeout: ETIMEDOUT after the connect timeout, no retries.
cfg 0 'connect_timeout_ms = 300' 'chaos.connect_timeout = 1'
round echo
assert_eq "$(head -1 <<<"$OUT")" ETIMEDOUT "chaos.connect_timeout"
ms=$(sed -n 's/^MS //p' <<<"$OUT"); assert_ge "$ms" 250 "waited the connect timeout (ms)"

# reset: the first I/O gets ECONNRESET.
cfg 0 'chaos.reset = 1'
round echo; assert_eq "$(head -1 <<<"$OUT")" ECONNRESET "chaos.reset"

# latency: 300 ms before each real call.
cfg 0 'chaos.latency = 1' 'chaos.latency_ms = 300'
round echo
assert_eq "$(head -1 <<<"$OUT")" OK "latency is slow, not broken"
ms=$(sed -n 's/^MS //p' <<<"$OUT"); assert_ge "$ms" 300 "chaos.latency added (ms)"

# short_write: send() moves fewer bytes than asked; sendall() still gets everything there.
cfg 0 'chaos.short_write = 1'
round send
sent=$(sed -n 's/^SENT //p' <<<"$OUT"); assert_le "$sent" 3999 "chaos.short_write: bytes one send() moved"
assert_ge "$sent" 1 "a short write still moves a byte"
round echo; assert_eq "$(head -1 <<<"$OUT")" OK "sendall copes with short writes"

# dns_fail: the program's own error path with retries = 0 (EAI_AGAIN is -3) ...
write_config <<EOF2
[defaults]
state = process
retries = 0
dns_stale_ms = 0
[chaos]
seed = 11
[localhost]
chaos.dns_fail = 1
EOF2
round dns; assert_eq "$(head -1 <<<"$OUT")" "GAI -3" "chaos.dns_fail reaches the program as EAI_AGAIN"
# ... healed by retries: 20 resolutions with half of all queries failing.
write_config <<EOF2
[defaults]
state = process
retries = 8
base_delay_ms = 1
max_delay_ms = 4
retry_budget_min_per_s = 1000
[chaos]
seed = 11
[localhost]
chaos.dns_fail = 0.5
EOF2
run_shim "$PYTHON" -c '
import socket
ok = 0
for i in range(20):
    try:
        socket.getaddrinfo("localhost", 80, socket.AF_INET, socket.SOCK_STREAM); ok += 1
    except socket.gaierror as e:
        print("fail", e)
print("ok", ok)'
assert_eq "$(tail -1 <<<"$OUT")" "ok 20" "retries heal dns_fail = 0.5"
# ... and served stale: no retries, but the last good answer stands in for failures.
sed -i 's/^retries = 8/retries = 0/' "$CFG"
printf 'dns_stale_ms = 300000\n' >>"$CFG"
run_shim "$PYTHON" -c '
import socket
ok = fail = 0; first = None
for i in range(30):
    try:
        socket.getaddrinfo("localhost", 80, socket.AF_INET, socket.SOCK_STREAM); ok += 1
        first = i if first is None else first
    except socket.gaierror:
        fail += 1
        if first is not None: print("failed after a good answer at", i)
print("ok", ok, "fail", fail, "first", first)'
assert_match "$OUT" '^ok [0-9]+ fail [0-9]+ first [0-9]+$' "some resolution succeeded"
if grep -q 'failed after a good answer' <<<"$OUT"; then fail "stale answers not served: $OUT"; fi
sed -i 's/^dns_stale_ms = 300000/dns_stale_ms = 0/' "$CFG"
run_shim "$PYTHON" -c '
import socket
fail = 0
for i in range(30):
    try: socket.getaddrinfo("localhost", 80, socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror: fail += 1
print("fail", fail)'
assert_ge "$(sed -n 's/^fail //p' <<<"$OUT")" 5 "control: without stale answers dns_fail = 0.5 shows"
pass
