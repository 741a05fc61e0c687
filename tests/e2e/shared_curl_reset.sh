#!/usr/bin/env bash
# shared_curl_reset.sh: a curl transfer whose connection is reset counts once against the
# shared circuit, not once in the libcurl layer and again in the socket layer. With
# cushion_failures = 3, separate curl runs against a resetting server reach it exactly 3
# times. It must never pass unless every run reaches the server without the shim.
. "$(dirname "$0")/../lib.sh"
need_shim
need_cmd curl
need_sanitizer_ok curl --version
CAROM=$CAROM_ROOT/$BUILD/carom

port=$(free_port)
server "$port" reset
for i in 1 2 3 4 5 6; do plain curl -s -o /dev/null "http://127.0.0.1:$port/"; done
assert_eq "$(count_lines "$COUNT" '^conn$')" 6 "control: every run reaches the server"

port=$(free_port)
server "$port" reset
write_config <<EOF2
; a config of its own: its hash names a shared table no other test uses ($T)
[defaults]
state = shared
retries = 0
cushion_failures = 3
cushion_window = 5
EOF2
shm=$("$CAROM" cushions -c "$CFG" --path)
trap 'rm -f "$shm"; _cleanup' EXIT
for i in 1 2 3 4 5 6; do shim curl -s -o /dev/null "http://127.0.0.1:$port/"; done
assert_eq "$(count_lines "$COUNT" '^conn$')" 3 "runs that reached the server before the circuit opened"
pass
