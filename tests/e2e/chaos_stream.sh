#!/usr/bin/env bash
# chaos_stream.sh: the stream and connection faults at probability 1, each for what it does,
# on real programs (curl, python3) against flaky.py, each beside a control run:
# bandwidth_kbps (curl: 200 KB at 100 KB/s takes >= 1.5 s, and the body is whole),
# limit_data (curl exits 18 with a short file; python: an upload cut with EPIPE, a reset
# mode with ECONNRESET), slice (short reads), slow_close_ms, blackhole (a read waits out
# io_timeout_ms, a write is swallowed), direction (a fault set for one way leaves the other
# alone) and chaos switched off ([chaos] enabled = off, then CAROM_CHAOS=1). It must never
# pass on a run where the fault was not really seen.
. "$(dirname "$0")/../lib.sh"
need_shim
need_cmd curl
RUN_TIMEOUT=30

hport=$(free_port)
SERVER_LIFETIME=120 server "$hport" http 0 --body-size 204800
hcount=$COUNT
# curl may not live with a sanitizer runtime preloaded even without the shim (lib.sh's
# need_sanitizer_ok): then its parts are skipped and the python3 parts still run.
CURL_OK=1
if [ -n "${SANITIZER:-}" ] && ! timeout -k 2 5 env LD_PRELOAD="$(sanitizer_runtimes)" \
    curl -s -o /dev/null "http://127.0.0.1:$hport/" </dev/null >/dev/null 2>&1; then
    CURL_OK=0
    log "curl does not run with the $SANITIZER runtime: its parts are skipped"
fi
eport=$(free_port)
SERVER_LIFETIME=120 server "$eport" echo 0

# cfg PORT KEY=VALUE...: per-process state, no retries at the socket layer unless a test
# says so, and the keys for 127.0.0.1:PORT.
cfg() {
    local port=$1; shift
    { printf '%s\n' '[defaults]' 'state = process' '[chaos]' 'seed = 5' "[127.0.0.1:$port]"
      printf '%s\n' "$@"; } >"$CFG"
}
get() { run_shim curl -sS -o "$T/body" -w '%{http_code}\n' "http://127.0.0.1:$hport/"; }
size() { wc -c <"$T/body" | tr -d ' '; }

if [ "$CURL_OK" = 1 ]; then
# ---- bandwidth_kbps --------------------------------------------------------------------
cfg "$hport"
get
assert_ok "control download"
assert_eq "$(size)" 204800 "control: the whole body"
control_ms=$MS
log "control download: $control_ms ms"

cfg "$hport" 'chaos.bandwidth_kbps = 100'
get
assert_ok "paced download"
assert_eq "$(size)" 204800 "paced: the whole body, nothing dropped"
log "200 KB at bandwidth_kbps = 100: $MS ms"
assert_ge "$MS" 1500 "200 KB at 100 KB/s takes at least 1.5 s"

# The same key for the other direction only: the download is not paced.
cfg "$hport" 'chaos.bandwidth_kbps = 100' 'chaos.direction = up'
get
assert_ok "download with only the upload paced"
assert_eq "$(size)" 204800 "direction = up: the whole body"
assert_le "$MS" 1400 "direction = up leaves the download unpaced (ms)"

# ---- limit_data: curl ------------------------------------------------------------------
cfg "$hport" 'chaos.limit_data = 50000'
get
assert_eq "$RC" 18 "curl exits 18 (CURLE_PARTIAL_FILE) on a body cut by limit_data"
got=$(size)
log "limit_data = 50000: curl kept $got bytes"
assert_ge "$got" 40000 "the body up to the cut arrived"
assert_le "$got" 50000 "nothing past the limit arrived"

# ---- libcurl's sockets get the socket faults too, per direction ----------------------
# chaos.reset on the way down only: every request reaches the server (up is untouched)
# and every answer is cut; the libcurl layer's retries (3 by default) see the same.
cfg "$hport" 'chaos.reset = 1' 'chaos.direction = down'
before=$(count_lines "$hcount" '^req ')
get
assert_eq "$RC" 56 "curl: a reset on the way down is a receive failure (CURLE_RECV_ERROR)"
assert_eq "$(( $(count_lines "$hcount" '^req ') - before ))" 4 \
    "direction = down: each of the 4 attempts' requests reached the server"

fi

# ---- limit_data, slice, reset mode, slow_close, blackhole: python ----------------------
PY='
import socket, sys, time, errno
port = int(sys.argv[1]); what = sys.argv[2]
def name(e): return errno.errorcode.get(e.errno, str(e.errno))
s = socket.create_connection(("127.0.0.1", port))
t = time.monotonic()
if what == "upload":
    try:
        s.sendall(b"u" * 100000); print("SENT all")
    except OSError as e:
        print("SEND", name(e))
    back = 0
    while True:
        d = s.recv(65536)
        if not d: break
        back += len(d)
    print("BACK", back)
elif what == "download":
    s.sendall(b"d" * 100000)
    got = 0; reads = 0; biggest = 0
    try:
        while got < 100000:
            d = s.recv(65536)
            if not d: print("EOF"); break
            got += len(d); reads += 1; biggest = max(biggest, len(d))
    except OSError as e:
        print("RECV", name(e))
    print("GOT", got, "READS", reads, "BIGGEST", biggest)
elif what == "close":
    s.sendall(b"x\n"); s.recv(16)
    t = time.monotonic(); s.close()
    print("CLOSE_MS", int(1000 * (time.monotonic() - t)))
elif what == "hole":
    n = s.send(b"ping\n")
    print("SENT", n)
    try:
        d = s.recv(64); print("GOT %r" % d)
    except OSError as e:
        print("RECV", name(e))
print("MS", int(1000 * (time.monotonic() - t)))
'
py() { run_shim "$PYTHON" -c "$PY" "$eport" "$@"; }
val() { sed -n "s/^$1 //p" <<<"$OUT"; }

cfg "$eport"
py download
assert_eq "$(val GOT | awk '{print $1}')" 100000 "control: the echo comes back whole"
py upload
assert_eq "$(val SENT)" all "control: the upload goes through"

# Up, EOF mode: the write side is shut at the limit, so sendall fails with EPIPE and the
# server, having seen a FIN, echoes exactly the bytes before the limit.
cfg "$eport" 'chaos.limit_data = 30000' 'chaos.direction = up'
py upload
assert_eq "$(val SEND)" EPIPE "an upload past limit_data fails with EPIPE"
assert_eq "$(val BACK)" 30000 "the peer got exactly limit_data bytes"

# Down, reset mode: the stream dies with ECONNRESET at the limit.
cfg "$eport" 'chaos.limit_data = 20000' 'chaos.limit_data_mode = reset' 'chaos.direction = down'
py download
assert_eq "$(val RECV)" ECONNRESET "limit_data_mode = reset: the read at the limit gets ECONNRESET"
assert_eq "$(val GOT | awk '{print $1}')" 20000 "reset mode: exactly limit_data bytes before the reset"

# Down, EOF mode: an orderly end of stream at the limit.
cfg "$eport" 'chaos.limit_data = 20000' 'chaos.direction = down'
py download
assert_contains "$OUT" EOF "limit_data (eof): the program sees the end of the stream"
assert_eq "$(val GOT | awk '{print $1}')" 20000 "eof mode: exactly limit_data bytes"

# slice: no read moves more than 1000 bytes, and nothing is lost.
cfg "$eport" 'chaos.slice = 1000'
py download
assert_eq "$(val GOT | awk '{print $1}')" 100000 "slice: the echo still comes back whole"
assert_le "$(val GOT | awk '{print $5}')" 1000 "slice = 1000: the biggest read"
assert_ge "$(val GOT | awk '{print $3}')" 100 "slice = 1000: 100 KB took at least 100 reads"

# slow_close_ms: close() of the socket takes the delay; without it, it is quick.
cfg "$eport"
py close
assert_le "$(val CLOSE_MS)" 150 "control: close is quick"
cfg "$eport" 'chaos.slow_close_ms = 400'
py close
assert_ge "$(val CLOSE_MS)" 400 "slow_close_ms = 400 delays close (ms)"

# blackhole: the connect succeeds, the write is swallowed, the read waits out
# io_timeout_ms and fails with ETIMEDOUT; the server never sees the bytes.
cfg "$eport"
py hole
assert_eq "$(val GOT)" "b'ping\\n'" "control: the echo"
cfg "$eport" 'io_timeout_ms = 300' 'chaos.blackhole = 1'
py hole
assert_eq "$(val SENT)" 5 "a black hole takes the write"
assert_eq "$(val RECV)" ETIMEDOUT "a black hole: the read times out"
assert_ge "$(val MS)" 300 "the read waited io_timeout_ms (ms)"

if [ "$CURL_OK" = 1 ]; then
# ---- chaos off: the same file is harmless until chaos is switched on -------------------
write_config <<EOF2
[defaults]
state = process
[chaos]
enabled = off
[127.0.0.1:$hport]
chaos.limit_data = 50000
EOF2
get
assert_ok "[chaos] enabled = off: no cut"
assert_eq "$(size)" 204800 "chaos off: the whole body"
run_shim env CAROM_CHAOS=1 curl -sS -o "$T/body" "http://127.0.0.1:$hport/"
assert_eq "$RC" 18 "CAROM_CHAOS=1 turns the file's faults on"
fi
pass
