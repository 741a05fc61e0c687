#!/usr/bin/env bash
# shared_fallback.sh: when the shared table cannot be used, state falls back to per
# process with exactly one warning, and the file in the way is left alone. Squatters at
# the table's name: a file with mode 0644, a symlink to a file of ours, a file of the
# wrong size. Each time a program making six connects prints the warning once, its own
# circuit still opens after 3 of 5 failures (3 of its 6 connects reach the dead port),
# separate processes no longer share it (each reaches the port), and the squatter is
# unchanged. A program that makes no connection prints nothing, and state = process
# never creates a table. It must never leave a file behind in /dev/shm.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog
need_cmd strace

CAROM=$CAROM_ROOT/$BUILD/carom
[ -x "$CAROM" ] || fail "$CAROM is missing: run make"
SHM=
trap '[ -n "$SHM" ] && rm -f "$SHM"; _cleanup' EXIT

port=$(free_port)
write_config <<EOF2
[defaults]
state = shared
retries = 0
cushion = on
cushion_failures = 3
cushion_window = 5
cushion_half_open_ms = 60000
; $TEST_NAME $port $$
EOF2
SHM=$(CAROM_CONFIG=$CFG "$CAROM" cushions --path) || fail "carom cushions --path"
[ ! -e "$SHM" ] || fail "$SHM exists already"

SIX='
import socket, sys
for i in range(6):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        pass
    s.close()
print("done")'

# traced PROG...: runs it under the shim and strace; sets ERR and REACHED (connect calls
# to the dead port).
traced() {
    timeout -k 3 "$RUN_TIMEOUT" strace -f -qq -e trace=connect -o "$T/st" \
        -E "LD_PRELOAD=$SHIM_PRELOAD" -E "CAROM_CONFIG=$CFG" "$@" >"$T/out" 2>"$T/err"
    RC=$?
    ERR=$(cat "$T/err")
    REACHED=$(grep -c "htons($port)" "$T/st" || true)
}

# Control: with nothing in the way the table is created and shared, and nobody warns.
traced "$PYTHON" -c "$SIX" "$port"
assert_eq "$REACHED" 3 "one process, circuit 3 of 5: connects reaching the port"
assert_eq "$(grep -c 'shared state unavailable' <<<"$ERR")" 0 "warnings with a usable table"
[ -f "$SHM" ] || fail "the table was not created"
traced "$CPROG" errno 127.0.0.1 "$port"
assert_eq "$REACHED" 0 "a second process shares the open circuit (control)"
rm -f "$SHM"

check_refused() {
    local what=$1 before
    before=$(stat -c '%a %s %i %Y' "$SHM" 2>/dev/null; [ ! -L "$SHM" ] || readlink "$SHM")
    traced "$PYTHON" -c "$SIX" "$port"
    [ "$RC" = 0 ] || fail "$what: the program failed (exit $RC): $ERR"
    assert_eq "$(grep -c 'carom: shared state unavailable' <<<"$ERR")" 1 "$what: warning lines"
    assert_contains "$ERR" "$SHM" "$what: the warning names the table"
    assert_eq "$REACHED" 3 "$what: the process's own circuit still opens (connects reaching the port)"
    local i n=0
    for i in 1 2 3; do
        traced "$CPROG" errno 127.0.0.1 "$port"
        n=$((n + REACHED))
    done
    assert_eq "$n" 3 "$what: separate processes each reach the port (state is per process)"
    assert_eq "$(stat -c '%a %s %i %Y' "$SHM" 2>/dev/null; [ ! -L "$SHM" ] || readlink "$SHM")" \
        "$before" "$what: the file in the way is untouched"
    log "$what: refused with: $(grep 'shared state' <<<"$ERR")"
}

# A file with the wrong mode.
printf 'not carom' >"$SHM"; chmod 0644 "$SHM"
check_refused "mode 0644"
rm -f "$SHM"

# A symlink, even to a file of ours that looks right.
head -c 4096 /dev/zero >"$T/target"; chmod 0600 "$T/target"
ln -s "$T/target" "$SHM"
check_refused "symlink"
cmp -s "$T/target" <(head -c 4096 /dev/zero) || fail "the symlink's target was written to"
rm -f "$SHM"

# The wrong size.
head -c 100 /dev/zero >"$SHM"; chmod 0600 "$SHM"
check_refused "wrong size"

# A program that makes no connection never looks at shared state: no warning.
run_shim "$PYTHON" -c 'print("quiet")'
assert_eq "$ERR" "" "stderr of a program that makes no connection"
rm -f "$SHM"

# state = process never creates a table.
sed -i 's/^state = shared/state = process/' "$CFG"
SHM2=$(CAROM_CONFIG=$CFG "$CAROM" cushions --path)
traced "$PYTHON" -c "$SIX" "$port"
assert_eq "$REACHED" 3 "state = process: the process's circuit"
[ ! -e "$SHM" ] && [ ! -e "$SHM2" ] || fail "state = process created a shared table"
pass "three squatters refused with one warning each; per-process circuits"
