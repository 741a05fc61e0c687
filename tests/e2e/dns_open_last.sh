#!/usr/bin/env bash
# dns_open_last.sh: getaddrinfo lists addresses whose circuits are open last. A name
# with two addresses (a private /etc/hosts in a mount namespace) puts a dead address
# first; after its circuit opens the same program resolves the live one first. It must
# never pass unless the order without the shim stays as /etc/hosts gives it.
. "$(dirname "$0")/../lib.sh"
need_shim
need_cmd unshare
port=$(free_port)
server "$port" echo 0 --host 127.0.0.3
printf '127.0.0.1 localhost\n127.0.0.2 twohost\n127.0.0.3 twohost\n' >"$T/hosts"
unshare -m true 2>/dev/null || skip "no mount namespaces here (unshare -m needs root)"
write_config <<EOF2
[defaults]
state = process
retries = 0
cushion_failures = 3
cushion_window = 5
EOF2
PROG='
import socket, sys
port = int(sys.argv[1])
order = lambda: [a[4][0] for a in socket.getaddrinfo("twohost", port, socket.AF_INET, socket.SOCK_STREAM)]
print("before", *order())
for i in range(3):
    try: socket.create_connection(("127.0.0.2", port), timeout=2)
    except OSError as e: pass
print("after", *order())
'
ns() { timeout 20 unshare -m sh -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' sh "$T/hosts" "$@"; }
out=$(ns env -u LD_PRELOAD "$PYTHON" -c "$PROG" "$port")
assert_eq "$out" $'before 127.0.0.2 127.0.0.3\nafter 127.0.0.2 127.0.0.3' "control: the order without the shim"
out=$(ns env LD_PRELOAD="$SHIM_PRELOAD" CAROM_CONFIG="$CFG" "$PYTHON" -c "$PROG" "$port")
assert_eq "$out" $'before 127.0.0.2 127.0.0.3\nafter 127.0.0.3 127.0.0.2' "the open circuit's address goes last"
pass
