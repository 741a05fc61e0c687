#!/usr/bin/env bash
# curl_pocket.sh: the libcurl pockets. When every attempt at an endpoint failed, pocket_url
# sends the same request (path and query kept) to another scheme://host:port, and
# pocket_response delivers a canned answer (CURLINFO_RESPONSE_CODE included). The scoreboard
# events name "host:port" only: never a path, a query string or userinfo. It must never pass
# unless curl alone fails against the dead endpoint.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cmd curl
need_sanitizer_ok curl --version

dead=$(free_port) # nothing listens there
dead2=$(free_port)
good=$(free_port)
server "$good" http 0 --body $'from the pocket\n'
good_count=$COUNT
printf 'canned answer\n' >"$T/canned"

write_config <<EOF2
[defaults]
state = process
retries = 1
base_delay_ms = 50
max_delay_ms = 200

[127.0.0.1:$dead]
pocket_url = http://127.0.0.1:$good

[127.0.0.1:$dead2]
pocket_response = 200 $T/canned
EOF2

# The scoreboard, listening.
"$PYTHON" -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
open(sys.argv[2], "w").close()
with open(sys.argv[3], "ab", buffering=0) as f:
    while True:
        f.write(s.recv(1024) + b"\n")' "$CAROM_SCOREBOARD" "$T/sb.ready" "$T/events" &
_PIDS+=($!)
wait_ready "$T/sb.ready"

run_plain curl -sS "http://127.0.0.1:$dead/some/path?token=s3cret"
assert_eq "$RC" 7 "without the shim curl cannot connect"

run_shim curl -sS "http://user:pw@127.0.0.1:$dead/some/path?token=s3cret"
assert_ok "curl under the shim, pocket_url"
assert_eq "$OUT" "from the pocket" "the pocket's answer"
assert_eq "$(count_lines "$good_count" '^req GET /some/path\?token=s3cret 200$')" 1 \
    "the pocket got the request with its path and query"

run_shim curl -sS -w '\n%{http_code}' "http://127.0.0.1:$dead2/x?token=s3cret"
assert_ok "curl under the shim, pocket_response"
assert_eq "$OUT" $'canned answer\n\n200' "the canned body and its status"

sleep 0.2 # datagrams are asynchronous
events=$(cat "$T/events")
printf '%s\n' "$events" | sed 's/^/# event: /' >&2
assert_match "$events" "\"event\":\"pocket\".*\"endpoint\":\"127.0.0.1:$dead\".*\"detail\":\"127.0.0.1:$good\"" \
    "a pocket event for pocket_url"
assert_match "$events" "\"event\":\"pocket\".*\"endpoint\":\"127.0.0.1:$dead2\".*\"detail\":\"response\"" \
    "a pocket event for pocket_response"
assert_match "$events" "\"event\":\"retry\".*\"call\":\"curl\".*\"error\":\"CURLE_COULDNT_CONNECT\"" \
    "a retry event"
if grep -Eq 's3cret|some/path|user|pw@' <<<"$events"; then
    fail "an event carries a path, a query string or userinfo"
fi
pass
