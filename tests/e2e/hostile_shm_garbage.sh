#!/usr/bin/env bash
# hostile_shm_garbage.sh: the shared table (state = shared) is writable by every process
# of the user, any of which may be buggy or killed mid-write. With its slots overwritten
# (three random fills; all ones: every slot "reserved" with a timestamp from the far
# future; every slot freshly "reserved" now, as if as many processes had been killed
# while claiming; all zeros), a program's 20 connects to a dead port must each end soon
# with ECONNREFUSED (no crash, no unbounded wait on a slot that will never be published)
# and `carom cushions` must still print a table. With its header corrupted, the shim must
# refuse the table with one line and go on with private state. It must never leave its
# /dev/shm table behind.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog
CAROM=$CAROM_ROOT/$BUILD/carom
[ -x "$CAROM" ] || fail "$CAROM is missing: run make"
SHM=
trap '[ -z "$SHM" ] || rm -f "$SHM"; _cleanup' EXIT

write_config <<EOF2
[defaults]
state = shared
retries = 1
base_delay_ms = 10
jitter = none
cushion_failures = 50
cushion_window = 64
; $TEST_NAME $$ $(date +%s%N)
EOF2
SHM=$("$CAROM" cushions -c "$CFG" --path) || fail "carom cushions --path: $SHM"
dead=$(free_port)
run_shim "$CPROG" loop 2 127.0.0.1 "$dead"
[ -f "$SHM" ] || fail "no shared table at $SHM after a first run"

# scribble FILL: overwrites the table past its 256-byte header (FILL: random:SEED, ones,
# claims, zeros) or, with FILL header, one header word (the version). The slot layout
# comes from the table's own header (words 2, 5, 6, 7: slot count, size, offset, and the
# offset of key_hash in a slot).
scribble() {
    "$PYTHON" - "$SHM" "$1" <<'EOF2' || fail "cannot scribble over $SHM"
import mmap, os, random, struct, sys
fd = os.open(sys.argv[1], os.O_RDWR)
m = mmap.mmap(fd, 0)
how = sys.argv[2]
if how == "header":
    m[8:16] = struct.pack("<Q", 99)
elif how == "ones":
    m[256:] = b"\xff" * (len(m) - 256)
elif how == "claims":
    import time
    w = struct.unpack_from("<8Q", m, 0)
    nslots, size, off, key = w[2], w[5], w[6], w[7]
    stamp = (1 << 63) | int(time.monotonic() * 1000)
    for i in range(nslots):
        struct.pack_into("<Q", m, off + i * size + key, stamp)
elif how == "zeros":
    m[256:] = bytes(len(m) - 256)
else:
    random.seed(int(how.split(":")[1]))
    m[256:] = random.randbytes(len(m) - 256)
m.close()
EOF2
}

for fill in random:1 random:2 random:3 ones claims zeros; do
    scribble "$fill"
    run_shim "$CPROG" loop 20 127.0.0.1 "$dead"
    log "$fill: exit $RC after $MS ms, $(grep -c ECONNREFUSED <<<"$OUT") refusals, stderr: $ERR"
    assert_ok "$fill: the program over a scribbled table"
    assert_eq "$(grep -Ec '^[0-9]+ ECONNREFUSED ' <<<"$OUT")" 20 "$fill: connects that ended with ECONNREFUSED"
    assert_le "$MS" 8000 "$fill: 20 connects over a scribbled table took too long (ms)"
    timeout -k 3 10 "$CAROM" cushions -c "$CFG" >"$T/cushions" 2>&1
    rc=$?
    [ "$rc" -lt 2 ] || fail "$fill: carom cushions over a scribbled table exited $rc: $(tail -n 3 "$T/cushions")"
done

scribble header
run_shim "$CPROG" loop 3 127.0.0.1 "$dead"
assert_ok "the program over a table with a bad header"
assert_eq "$(grep -c '^carom: shared state unavailable' <<<"$ERR")" 1 "one line about the refused table"
assert_contains "$ERR" "$SHM" "the line names the table"
pass
