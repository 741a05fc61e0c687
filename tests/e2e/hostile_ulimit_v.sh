#!/usr/bin/env bash
# hostile_ulimit_v.sh: the shim under a tight `ulimit -v`. The test finds the smallest
# address-space limit the plain program runs in (50 KB steps), then runs it under the shim
# (state = shared, a config of its own) at every 50 KB step from there to 2.5 MB above,
# against a steady server: wherever the shim cannot get its memory (config buffer, fd
# table, name table, shared table, fd records) it must say so at most once and pass the
# calls through, so every run connects; the only other outcome allowed is the loader
# failing to map a library (or its TLS) before the program starts. At least one step must exercise
# such a fallback, so the ladder cannot pass by being too generous. Above it, the shim must
# retry against a late server, which the plain program then fails. It must never leave
# its /dev/shm table behind.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog
case ${SANITIZER:-} in *address*|*thread*|*leak*)
    skip "the $SANITIZER runtime reserves terabytes of address space: ulimit -v cannot apply" ;;
esac
CAROM=$CAROM_ROOT/$BUILD/carom
[ -x "$CAROM" ] || fail "$CAROM is missing: run make"
SHM=
trap '[ -z "$SHM" ] || rm -f "$SHM"; _cleanup' EXIT

write_config <<EOF2
[defaults]
state = shared
retries = 10
base_delay_ms = 100
max_delay_ms = 400
jitter = none
retry_budget_min_per_s = 100
; $TEST_NAME $$ $(date +%s%N)
EOF2
SHM=$("$CAROM" cushions -c "$CFG" --path) || fail "carom cushions --path: $SHM"

port=$(free_port)
server "$port" echo 0

# limited KB shim|plain ARGS...: runs cprog ARGS under `ulimit -v KB` (set in a shell that
# then execs the program, so nothing else runs under the limit or the shim).
limited() {
    local kb=$1 how=$2; shift 2
    local pre=()
    [ "$how" = plain ] || pre=(LD_PRELOAD="$SHIM_PRELOAD" CAROM_CONFIG="$CFG")
    timeout -k 3 "$RUN_TIMEOUT" bash -c 'ulimit -v "$1" || exit 99; shift; exec env "$@"' sh \
        "$kb" "${pre[@]}" "$CPROG" "$@" >"$T/out" 2>"$T/err"
    RC=$?; OUT=$(cat "$T/out"); ERR=$(cat "$T/err")
    CMD="ulimit -v $kb; $how cprog $*"
}

min=
for kb in $(seq 1500 50 8000); do
    limited "$kb" plain connect 127.0.0.1 "$port"
    [ "$RC" = 99 ] && fail "cannot set ulimit -v $kb here"
    if [ "$RC" = 0 ]; then min=$kb; break; fi
done
[ -n "$min" ] || fail "the plain program does not run under any limit up to 8000 KB"
log "the plain program runs from ulimit -v $min"

fallbacks=0 ran=0 unloaded=0
for kb in $(seq "$min" 50 $((min + 2500))); do
    limited "$kb" shim connect 127.0.0.1 "$port"
    # The loader itself failing (mapping the shim, or the initial thread's TLS once the
    # shim is mapped) is before any of the shim's code runs.
    if [ "$RC" = 127 ] && grep -Eq 'error while loading shared libraries|cannot allocate TLS data structures' <<<"$ERR"; then
        unloaded=$((unloaded + 1)); continue
    fi
    assert_ok "ulimit -v $kb: under the shim the program must still connect"
    assert_eq "$OUT" "connect: ping" "ulimit -v $kb: the program's output"
    ran=$((ran + 1))
    if grep -q '^carom: ' <<<"$ERR"; then
        fallbacks=$((fallbacks + 1))
        assert_le "$(grep -c '^carom: ' <<<"$ERR")" 1 "ulimit -v $kb: one line about the missing memory"
        log "ulimit -v $kb: $ERR"
    fi
done
log "steps: $ran ran, $fallbacks of them with a fallback, $unloaded not loaded by the loader"
assert_ge "$fallbacks" 1 "steps where the shim fell back for want of memory"
assert_ge "$ran" 10 "steps where the program ran under the shim"

# Enough room above the ladder: the shim works under the limit, and the control fails.
top=$((min + 4000))
for how in shim plain; do
    late=$(free_port)
    server "$late" echo 600
    limited "$top" "$how" connect 127.0.0.1 "$late"
    log "ulimit -v $top, $how, late server: exit $RC: $OUT $ERR"
    if [ "$how" = shim ]; then
        assert_ok "ulimit -v $top: the shim retries against a late server"
        assert_eq "$ERR" "" "ulimit -v $top: nothing to say"
    else
        assert_failed "ulimit -v $top without the shim against a late server (control)"
    fi
done
pass
