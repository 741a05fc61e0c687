#!/usr/bin/env bash
# hostile_canonname.sh: a program that asks getaddrinfo for AI_CANONNAME and reads the
# name from the first entry without a check, as POSIX allows. The name resolves to two
# addresses (a private /etc/hosts in a mount namespace); after the first address's circuit
# opens, the shim lists it last, and the canonical name must move with the head of the
# list: with the bug the program dereferences NULL and dies of SIGSEGV. Control: without
# the shim the order and the name stay put.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cmd unshare
need_hostile
unshare -m true 2>/dev/null || skip "no mount namespaces here (unshare -m needs root)"

printf '127.0.0.1 localhost\n127.0.0.2 twohost\n127.0.0.3 twohost\n' >"$T/hosts"
write_config <<'EOF2'
[defaults]
state = process
retries = 0
cushion_failures = 3
cushion_window = 5
EOF2
port=$(free_port)
ns() { timeout -k 3 "$RUN_TIMEOUT" unshare -m sh -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' sh "$T/hosts" "$@"; }

out=$(ns env -u LD_PRELOAD "$HOSTILE" canon twohost "$port" 3 2>&1); rc=$?
log "plain: $out"
assert_eq "$rc" 0 "control: the program without the shim"
assert_contains "$out" "canon: after: first 127.0.0.2 canonname twohost," "control: the order and name stay"

out=$(ns env LD_PRELOAD="$SHIM_PRELOAD" CAROM_CONFIG="$CFG" "$HOSTILE" canon twohost "$port" 3 2>&1); rc=$?
log "shim: $out"
[ "$rc" -lt 128 ] || fail "the program crashed under the shim (exit $rc): $out"
assert_eq "$rc" 0 "the program under the shim"
assert_contains "$out" "canon: after: first 127.0.0.3 canonname twohost," \
    "the open circuit's address goes last and the first entry keeps the canonical name"
pass
