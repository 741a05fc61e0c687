#!/usr/bin/env bash
# cli_usage.sh: the carom command's usage contract: `carom --version` prints the version of
# debian/changelog; `carom help [CMD]`, `carom --help` and `carom CMD --help` exit 0 with
# the usage on stdout for every subcommand; a usage error (no command, an unknown command
# or option, a missing argument) exits 2 with the usage on stderr and nothing on stdout.
# Also: the bash completion offers the subcommands and their options, and `make install`
# with a PREFIX and DESTDIR gives a carom that finds its shim, as does the Debian layout
# (/usr/lib/<multiarch>/carom). It must never pass on an empty usage text.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
CAROM=$CAROM_ROOT/$BUILD/carom
[ -x "$CAROM" ] || fail "$CAROM is missing: run make"

VERSION=$(sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' "$CAROM_ROOT/debian/changelog")
[ -n "$VERSION" ] || fail "no version in debian/changelog"
run_plain "$CAROM" --version
assert_ok "carom --version"
assert_eq "$OUT" "carom $VERSION" "carom --version"

for how in --help -h help; do
    run_plain "$CAROM" "$how"
    assert_ok "carom $how"
    assert_match "$OUT" '^usage: carom run' "carom $how prints the usage"
    assert_eq "$ERR" "" "carom $how writes nothing on stderr"
done

for cmd in run check explain scoreboard cushions chaos; do
    run_plain "$CAROM" "$cmd" --help
    assert_ok "carom $cmd --help"
    assert_match "$OUT" "^usage: carom $cmd" "carom $cmd --help prints its usage"
    assert_eq "$ERR" "" "carom $cmd --help writes nothing on stderr"
    help=$OUT
    run_plain "$CAROM" help "$cmd"
    assert_ok "carom help $cmd"
    assert_eq "$OUT" "$help" "carom help $cmd is carom $cmd --help"
    run_plain "$CAROM" "$cmd" --no-such-option
    assert_eq "$RC" 2 "carom $cmd --no-such-option exits 2"
    assert_eq "$OUT" "" "a usage error prints nothing on stdout ($cmd)"
    assert_contains "$ERR" "usage: carom $cmd" "carom $cmd --no-such-option: usage on stderr"
done

# Other usage errors, each with the usage on stderr.
for args in "" "no-such-command" "help no-such-command" "--version extra" "run" "run -c" \
    "run --chaos" "explain" "explain a:1 b c" "check a b" "scoreboard --interval 1" \
    "scoreboard --prometheus" "cushions -c" "cushions --open" "chaos" "chaos a:1" "chaos --list a:1"; do
    # shellcheck disable=SC2086  # word splitting is the point
    run_plain "$CAROM" $args
    assert_eq "$RC" 2 "carom $args exits 2"
    assert_eq "$OUT" "" "carom $args prints nothing on stdout"
    assert_contains "$ERR" "usage: carom" "carom $args: usage on stderr"
done

# Bash completion, as installed by the package.
comp() {
    bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _carom
        printf "%s\n" "${COMPREPLY[@]}"' _ "$CAROM_ROOT/tools/carom.bash" "$@"
}
assert_eq "$(comp carom sc)" "scoreboard" "completion of 'carom sc'"
assert_eq "$(comp carom help cu)" "cushions" "completion of 'carom help cu'"
assert_contains "$(comp carom scoreboard --)" "--prometheus" "completion of scoreboard options"
assert_contains "$(comp carom run --)" "--chaos" "completion of run options"

# `carom run` finds the shim in both installed layouts, from any directory. The program
# shows the LD_PRELOAD it got.
show='printf %s "$LD_PRELOAD"'
need_cmd make
# A plain build of its own (a sanitizer build's shim cannot load into sh without its
# runtime), with nothing of the caller's make settings.
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$CAROM_ROOT" -j2 SANITIZER= BUILD="$T/build" \
    PREFIX=/opt/carom DESTDIR="$T/root" install >"$T/make.log" 2>&1 ||
    fail "make install: $(tail -n 10 "$T/make.log")"
for f in bin/carom lib/carom/libcarom_shim.so share/man/man1/carom.1 share/man/man5/carom.ini.5 \
    share/doc/carom/examples/carom.ini share/bash-completion/completions/carom; do
    [ -e "$T/root/opt/carom/$f" ] || fail "make install did not install $f"
done
cd "$T" || fail "cd"
run_plain "$T/root/opt/carom/bin/carom" run -- sh -c "$show"
assert_ok "carom run from PREFIX/bin"
assert_eq "$OUT" "$T/root/opt/carom/lib/carom/libcarom_shim.so" "the shim make install put in PREFIX/lib/carom"
MA=$("${CC:-cc}" -print-multiarch)
mkdir -p "$T/deb/usr/bin" "$T/deb/usr/lib/$MA/carom"
cp "$T/build/carom" "$T/deb/usr/bin/carom"
cp "$T/build/libcarom_shim.so" "$T/deb/usr/lib/$MA/carom/libcarom_shim.so"
run_plain "$T/deb/usr/bin/carom" run -- sh -c "$show"
assert_ok "carom run from the Debian layout"
assert_eq "$OUT" "$T/deb/usr/lib/$MA/carom/libcarom_shim.so" "the shim under lib/<multiarch>/carom"
cd "$CAROM_ROOT" || fail "cd"
pass "usage, exit statuses, completion and both install layouts"
