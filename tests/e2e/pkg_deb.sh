#!/usr/bin/env bash
# pkg_deb.sh: the Debian package, end to end. From a scratch copy of the tree,
# `dpkg-buildpackage -us -uc -b` builds carom_<version>_<arch>.deb and lintian finds no
# error in it; `dpkg -i` installs it; the installed /usr/bin/carom, run from another
# directory, finds the shim under /usr/lib/<multiarch>/carom and retries a 503 so that
# curl -sf prints the body (control: curl alone fails with 22); `carom --version` prints
# the changelog's version; the man pages resolve; `dpkg -r` leaves none of its files
# behind. It must never touch the work tree (the build runs in a copy) nor leave the
# package installed, and it skips only where it cannot install packages (not root).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_cmd curl
[ "$(id -u)" = 0 ] || skip "installing a package needs root (run as root, as CI does)"
for c in dpkg-buildpackage dh lintian man; do need_cmd "$c"; done

VERSION=$(sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' "$CAROM_ROOT/debian/changelog")
ARCH=$(dpkg --print-architecture)
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
[ -n "$VERSION" ] || fail "no version in debian/changelog"

# Whatever happens, the package does not stay installed.
INSTALLED=0
_pkg_cleanup() {
    [ "$INSTALLED" = 0 ] || dpkg -r carom >/dev/null 2>&1
    _cleanup
}
trap _pkg_cleanup EXIT

# A scratch copy of the tree as it is (uncommitted edits included), without build output.
SRC=$T/src/carom-$VERSION
mkdir -p "$SRC"
(cd "$CAROM_ROOT" && tar -cf - --exclude=./.git --exclude='./build*' --exclude=./debian/carom \
    --exclude=./debian/.debhelper .) | tar -xf - -C "$SRC" || fail "copying the tree"
tree_state() { (cd "$CAROM_ROOT" && find . -path ./.git -prune -o -path './build*' -prune -o -print | sort); }
tree_state >"$T/tree.before"
log "building the package in $SRC"
# As on a clean machine: nothing of this test run's make or sanitizer settings leaks in.
(cd "$SRC" && timeout 240 env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u BUILD -u SANITIZER \
    -u CAROM_ROOT dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1 ||
    { tail -n 30 "$T/build.log" >&2; fail "dpkg-buildpackage -us -uc -b failed"; }
DEB=$T/src/carom_${VERSION}_${ARCH}.deb
[ -f "$DEB" ] || fail "no $DEB after the build: $(ls "$T/src")"
tree_state >"$T/tree.after"
cmp -s "$T/tree.before" "$T/tree.after" ||
    fail "the build changed the work tree: $(diff "$T/tree.before" "$T/tree.after" | head -n 5)"

lintian "$DEB" >"$T/lintian.log" 2>&1
if grep -q '^E:' "$T/lintian.log"; then
    fail "lintian errors: $(grep '^E:' "$T/lintian.log" | head -n 10)"
fi
log "lintian: $(grep -c '^[EW]:' "$T/lintian.log") warnings, no errors"

# What the package holds.
dpkg-deb -c "$DEB" | awk '{print $NF}' | sed 's|^\./|/|' >"$T/contents"
for f in /usr/bin/carom "/usr/lib/$MA/carom/libcarom_shim.so" /usr/share/man/man1/carom.1.gz \
    /usr/share/man/man5/carom.ini.5.gz /usr/share/doc/carom/examples/carom.ini \
    /usr/share/bash-completion/completions/carom /usr/share/doc/carom/copyright; do
    grep -qxF "$f" "$T/contents" || fail "the package lacks $f"
done

# Two runs of this test on one machine take turns; a package someone installed is never
# replaced; dpkg busy with another install (apt-get) is waited for, bounded.
exec 9>"${TMPDIR:-/tmp}/carom-pkg_deb.lock"
flock -w 240 9 || fail "another pkg_deb run held its lock for 240 s"
if dpkg-query -W -f='${Status}' carom 2>/dev/null | grep -q 'install ok installed'; then
    skip "a carom package is already installed here; this test will not replace it"
fi
# dpkg_try LOG CMD...: CMD, again while dpkg says its lock is held (2 minutes at most).
dpkg_try() {
    local log=$1 _i
    shift
    for _i in $(seq 60); do
        "$@" >"$log" 2>&1 && return 0
        grep -qi 'lock' "$log" || return 1
        sleep 2
    done
    return 1
}
INSTALLED=1 # from here on, whatever happens, the exit removes it
dpkg_try "$T/install.log" dpkg -i "$DEB" || fail "dpkg -i: $(tail -n 5 "$T/install.log")"
dpkg -L carom | sort >"$T/files"
SHIM=/usr/lib/$MA/carom/libcarom_shim.so
[ -f "$SHIM" ] || fail "$SHIM is not installed"

run_plain /usr/bin/carom --version
assert_ok "carom --version"
assert_eq "$OUT" "carom $VERSION" "carom --version"

# From another directory, with a config the test writes: the shim is found where the
# package put it, and a 503 then 200 is retried.
mkdir -p "$T/elsewhere"
cat >"$T/elsewhere/policy.ini" <<'EOF2'
; one retry soon after the 503, per-process state so nothing is shared with other tests
[defaults]
state = process
base_delay_ms = 50
max_delay_ms = 200
EOF2
port=$(free_port)
server "$port" http 0 --http-status 503,200
(cd "$T/elsewhere" && run_plain curl -sf "http://127.0.0.1:$port/"; echo "$RC" >"$T/rc")
assert_eq "$(cat "$T/rc")" 22 "without carom curl -sf fails on the 503 (control)"
port=$(free_port)
server "$port" http 0 --http-status 503,200
cd "$T/elsewhere" || fail "cd"
run_plain /usr/bin/carom run -c policy.ini -- curl -sf "http://127.0.0.1:$port/"
cd "$CAROM_ROOT" || fail "cd"
assert_ok "/usr/bin/carom run -- curl -sf against a 503 then 200"
assert_eq "$OUT" "hello" "curl prints the body of the retried request"
assert_eq "$(count_lines "$COUNT" '^req GET / ')" 2 "requests the server saw"

# The man pages resolve (unless this system's dpkg drops them on purpose).
if grep -qs 'path-exclude=*/usr/share/man' /etc/dpkg/dpkg.cfg.d/*; then
    log "dpkg here excludes /usr/share/man: man pages not checked"
else
    for m in carom carom.ini; do
        w=$(man -w "$m" 2>&1) || fail "man -w $m: $w"
        assert_contains "$w" /usr/share/man "man -w $m"
        LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings "$m" >"$T/man.$m" 2>"$T/man.$m.err" ||
            fail "man $m: $(cat "$T/man.$m.err")"
        [ ! -s "$T/man.$m.err" ] || fail "man --warnings $m: $(head -n 5 "$T/man.$m.err")"
    done
    assert_contains "$(cat "$T/man.carom")" "EXIT STATUS" "carom(1)"
    assert_contains "$(cat "$T/man.carom.ini")" "retry_budget_min_per_s" "carom.ini(5)"
fi

# dpkg -r removes every file the package installed, and its own directories.
dpkg_try "$T/remove.log" dpkg -r carom || fail "dpkg -r carom: $(tail -n 5 "$T/remove.log")"
INSTALLED=0
left=()
while IFS= read -r f; do
    [ -d "$f" ] && [ ! -L "$f" ] && continue # shared directories (/usr/bin) stay
    [ -e "$f" ] || [ -L "$f" ] && left+=("$f")
done <"$T/files"
for d in "/usr/lib/$MA/carom" /usr/share/doc/carom; do [ ! -e "$d" ] || left+=("$d"); done
[ "${#left[@]}" = 0 ] || fail "left after dpkg -r: ${left[*]}"
pass "carom_${VERSION}_${ARCH}.deb built, installed, retried a 503, removed ($(wc -l <"$T/files") paths)"
