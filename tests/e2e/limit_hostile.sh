#!/usr/bin/env bash
# limit_hostile.sh: the rate limit's bucket word and the connection slots live in the
# shared table, writable by every process of the user. With them scribbled over in every
# slot (random fills, all ones, all zeros), a python3 program's 30 connects under
# rate_limit = 100, rate_burst = 10, max_connections = 4, limit_wait_ms = 300 each end
# within the wait (plus scheduling slack) with success or ETIMEDOUT, never a hang, and the
# limits work again at once: the last connects all succeed. `carom cushions` still prints
# its table. It must never leave its /dev/shm table behind.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
CAROM=$CAROM_ROOT/$BUILD/carom
[ -x "$CAROM" ] || fail "$CAROM is missing: run make"
SHM=
trap '[ -z "$SHM" ] || rm -f "$SHM"; _cleanup' EXIT

port=$(free_port)
SERVER_LIFETIME=60 server "$port" echo
# The keys under test: both limits on, a short wait so a hang would stand out.
write_config <<EOF2
[defaults]
state = shared
rate_limit = 100
rate_burst = 10
max_connections = 4
limit_wait_ms = 300
; $TEST_NAME $$ $(date +%s%N)
EOF2
SHM=$("$CAROM" cushions -c "$CFG" --path) || fail "carom cushions --path: $SHM"

CONNECTS='
import errno, socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    t = time.monotonic(); s = socket.socket()
    try:
        s.connect(("127.0.0.1", port)); what = "ok"
    except OSError as e:
        what = errno.errorcode.get(e.errno, str(e.errno))
    s.close()
    print(what, int((time.monotonic() - t) * 1000), flush=True)
'
run_shim "$PYTHON" -c "$CONNECTS" "$port" 3
assert_ok "first run"
[ -f "$SHM" ] || fail "no shared table at $SHM after a first run"

# scribble FILL: overwrites the bucket and the leases of every slot (offsets from the
# table's own header: words 2, 5, 6 are slot count, size and offset; 15 and 16 the bucket's
# and the leases' offsets in a slot).
scribble() {
    "$PYTHON" - "$SHM" "$1" <<'PY' || fail "cannot scribble over $SHM"
import mmap, os, random, struct, sys
m = mmap.mmap(os.open(sys.argv[1], os.O_RDWR), 0)
w = struct.unpack_from("<17Q", m, 0)
nslots, size, off, ob, ol = w[2], w[5], w[6], w[15], w[16]
assert ob and ol, "a table without limit fields"
how = sys.argv[2]
if how.startswith("random"):
    random.seed(int(how.split(":")[1]))
for i in range(nslots):
    base = off + i * size
    for o, n in ((ob, 8), (ol, 8 + 4 * 64)):
        if how == "ones":
            m[base + o:base + o + n] = b"\xff" * n
        elif how == "zeros":
            m[base + o:base + o + n] = bytes(n)
        else:
            m[base + o:base + o + n] = random.randbytes(n)
PY
}

for fill in random:1 random:2 ones zeros random:3; do
    scribble "$fill"
    RUN_TIMEOUT=30 run_shim "$PYTHON" -c "$CONNECTS" "$port" 30
    assert_ok "$fill: the program over scribbled limits: $ERR"
    bad=$(awk '$1 != "ok" && $1 != "ETIMEDOUT"' <<<"$OUT")
    [ -z "$bad" ] || fail "$fill: outcomes other than ok and ETIMEDOUT: $bad"
    worst=$(awk '{print $2}' <<<"$OUT" | sort -n | tail -1)
    assert_le "$worst" 800 "$fill: the slowest connect over scribbled limits (ms)"
    assert_eq "$(tail -n 10 <<<"$OUT" | grep -c '^ok ')" 10 "$fill: the last 10 connects, limits healed"
    log "$fill: $(grep -c '^ok' <<<"$OUT") ok, $(grep -c ETIMEDOUT <<<"$OUT") refused, slowest $worst ms"
    timeout -k 3 10 "$CAROM" cushions -c "$CFG" >"$T/cushions" 2>&1
    rc=$?
    [ "$rc" -lt 2 ] || fail "$fill: carom cushions over scribbled limits exited $rc: $(tail -n 3 "$T/cushions")"
done
pass "5 scribbles of the limit fields; every connect bounded, limits healed"
