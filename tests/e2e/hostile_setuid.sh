#!/usr/bin/env bash
# hostile_setuid.sh: the dynamic loader ignores LD_PRELOAD for setuid and setgid programs
# (secure-execution mode), so carom cannot reach them, and `carom run` must say so. A copy
# of the test program owned by nobody with the setuid bit (and one with the setgid bit of
# nogroup) runs under `carom run`: the warning names it and the program reports the shim
# absent from its memory. Control: an ordinary copy gets no warning and has the shim. Needs
# root (chown) and a filesystem that honours setuid bits; it must never leave a setuid
# file behind.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_hostile
CAROM=$CAROM_ROOT/$BUILD/carom
[ -x "$CAROM" ] || fail "$CAROM is missing: run make"
[ "$(id -u)" = 0 ] || skip "needs root to give a file to another owner"
id nobody >/dev/null 2>&1 || skip "no user nobody"
# carom run appends the shim to LD_PRELOAD: a sanitizer runtime, when there is one, first.
rt=$(sanitizer_runtimes)

write_config <<'EOF2'
[defaults]
state = process
EOF2
cp "$HOSTILE" "$T/plain-copy"
cp "$HOSTILE" "$T/setuid-copy"
chown nobody "$T/setuid-copy" && chmod 4755 "$T/setuid-copy" || fail "cannot make a setuid copy"
cp "$HOSTILE" "$T/setgid-copy"
chgrp "$(id -gn nobody)" "$T/setgid-copy" && chmod 2755 "$T/setgid-copy" || fail "cannot make a setgid copy"
chmod 755 "$T"

# The bit must take effect here (a nosuid mount would make this test meaningless).
out=$("$T/setuid-copy" mapped) || fail "the setuid copy does not run: $out"
case $out in *"euid $(id -u nobody))"*) ;; *) skip "setuid bits are not honoured here ($out)";; esac

run_as() { # run_as NAME: `carom run` the copy; sets OUT, ERR, RC
    CMD="carom run -c CFG -- $1 mapped"
    timeout -k 3 "$RUN_TIMEOUT" env ${rt:+LD_PRELOAD="$rt"} "$CAROM" run -c "$CFG" -- "$T/$1" mapped \
        >"$T/out" 2>"$T/err"
    RC=$?; OUT=$(cat "$T/out"); ERR=$(cat "$T/err")
}

run_as plain-copy
assert_ok "carom run of an ordinary program"
assert_match "$OUT" "^mapped: shim loaded " "an ordinary program gets the shim (control)"
assert_eq "$ERR" "" "no warning for an ordinary program (control)"

for copy in setuid-copy setgid-copy; do
    run_as "$copy"
    log "$copy: $ERR | $OUT"
    assert_ok "carom run of the $copy still runs it"
    assert_contains "$ERR" "carom run: warning: $T/$copy is setuid/setgid: the dynamic loader ignores LD_PRELOAD" \
        "carom run warns about the $copy"
    assert_match "$OUT" "^mapped: shim absent " "the loader left the shim out of the $copy"
done
rm -f "$T/setuid-copy" "$T/setgid-copy"
pass
