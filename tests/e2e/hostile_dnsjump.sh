#!/usr/bin/env bash
# hostile_dnsjump.sh: the classic resolver timeout (wget -T, curl's synchronous resolver,
# many daemons): alarm(), sigsetjmp(), getaddrinfo(), and a handler that siglongjmp()s out
# when the lookup hangs. The name server here never answers (a private resolv.conf in a
# mount namespace names a loopback UDP server that swallows queries), so the jump leaves
# the shim's getaddrinfo mid-call. The program's next connect, made from a deeper stack
# frame, to a server 600 ms late must still be retried: the shim must not hold its
# recursion guard across the blocking lookup. It must never pass unless that connect fails
# without the shim.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cmd unshare
need_hostile
unshare -m true 2>/dev/null || skip "no mount namespaces here (unshare -m needs root)"

# A name server on 127.0.0.57:53 that reads every query and answers none.
"$PYTHON" -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.57", 53))
open(sys.argv[1], "w").close()
s.settimeout(0.5)
end = time.monotonic() + 60
while time.monotonic() < end:
    try:
        s.recv(4096)
    except socket.timeout:
        pass
' "$T/dns.ready" 2>"$T/dns.err" &
_PIDS+=("$!")
for _ in $(seq 100); do [ -e "$T/dns.ready" ] && break; sleep 0.05; done
[ -e "$T/dns.ready" ] || skip "cannot bind a name server on 127.0.0.57:53: $(cat "$T/dns.err")"
printf 'nameserver 127.0.0.57\noptions timeout:5 attempts:2\n' >"$T/resolv.conf"
# run_ns CMD...: CMD in a mount namespace where /etc/resolv.conf is $T/resolv.conf, bounded;
# sets OUT, ERR, RC, MS and CMD like run_shim.
run_ns() {
    CMD="(resolver that never answers) $*"
    local t0; t0=$(ms_now)
    timeout -k 3 "$RUN_TIMEOUT" unshare -m sh -c 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' \
        sh "$T/resolv.conf" "$@" >"$T/out" 2>"$T/err"
    RC=$?; MS=$(( $(ms_now) - t0 )); OUT=$(cat "$T/out"); ERR=$(cat "$T/err")
}

retry_config
for how in shim plain; do
    port=$(free_port)
    server "$port" echo 600
    if [ "$how" = shim ]; then
        run_ns env LD_PRELOAD="$SHIM_PRELOAD" CAROM_CONFIG="$CFG" "$HOSTILE" dnsjump hung.carom.invalid "$port"
    else
        run_ns env -u LD_PRELOAD -u CAROM_CONFIG "$HOSTILE" dnsjump hung.carom.invalid "$port"
    fi
    log "$how: $(tr '\n' ';' <<<"$OUT") (exit $RC, $MS ms)"
    assert_contains "$OUT" "dnsjump: left getaddrinfo by siglongjmp" "$how: the lookup hung and the handler jumped out"
    if [ "$how" = shim ]; then
        assert_ok "under the shim the connect after the jump reaches a server 600 ms late"
        assert_contains "$OUT" "dnsjump: after jump: ping" "the connect after the jump was retried"
    else
        assert_failed "without the shim the connect after the jump fails (control)"
    fi
done
pass
