#!/usr/bin/env bash
# curl_upload.sh: uploads are retried only when they can be rewound. A PUT with read and seek
# callbacks (the libcurl program) and `curl -T FILE` get through 503, 503, 200, the server
# receiving the whole body, byte-identical, each time; the same PUT without a seek callback,
# and `curl -T -` reading a pipe, are sent once and get the 503, as without the shim. It must
# never pass unless the plain runs get the 503.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_curl

curl_config

size=300000
"$PYTHON" -c 'import sys; sys.path.insert(0, sys.argv[1]); import flaky
sys.stdout.buffer.write(flaky.pattern(int(sys.argv[2])))' "$CAROM_ROOT/tests/servers" "$size" \
    >"$T/body" || fail "cannot write the upload"
md5=$(md5sum <"$T/body" | cut -c1-12)
whole="len=$size md5=$md5"

# The program: read + seek callbacks.
port=$(free_port)
server "$port" http 0 --http-status 503,503,200
run_plain "$CURLPROG" upload "http://127.0.0.1:$port/up" "$size"
assert_failed "curlprog upload against a 503 (control)"

port=$(free_port)
server "$port" http 0 --http-status 503,503,200
run_shim "$CURLPROG" upload "http://127.0.0.1:$port/up" "$size"
assert_ok "curlprog upload under the shim"
assert_match "$OUT" "^rc=0 status=200 .* up_read=$((3 * size)) seeks=2" "curlprog: rewound twice"
assert_eq "$(count_lines "$COUNT" "^req PUT /up [0-9]+ $whole\$")" 3 "each PUT carried the whole body"

# Without a seek callback it cannot be rewound: one PUT, the 503, as without the shim.
port=$(free_port)
server "$port" http 0 --http-status 503,503,200
run_shim "$CURLPROG" upload "http://127.0.0.1:$port/up" "$size" --no-seek
assert_match "$OUT" "^rc=0 status=503 " "curlprog without seek: the 503"
assert_eq "$(count_lines "$COUNT" '^req ')" 1 "curlprog without seek: requests"

# curl -T FILE: curl's own read and seek callbacks.
port=$(free_port)
server "$port" http 0 --http-status 503,503,200
run_plain curl -sf -T "$T/body" "http://127.0.0.1:$port/up"
assert_eq "$RC" 22 "curl -T against a 503 (control)"

port=$(free_port)
server "$port" http 0 --http-status 503,503,200
run_shim curl -sf -T "$T/body" "http://127.0.0.1:$port/up"
assert_ok "curl -T under the shim"
assert_eq "$OUT" "hello" "curl -T: the final answer"
assert_eq "$(count_lines "$COUNT" "^req PUT /up [0-9]+ $whole\$")" 3 "curl -T: each PUT carried the whole body"

# curl -T - from a pipe: nothing can rewind it once read.
port=$(free_port)
server "$port" http 0 --http-status 503,503,200
run_shim curl -sf -T - "http://127.0.0.1:$port/up" < <(cat "$T/body")
assert_eq "$RC" 22 "curl -T - from a pipe under the shim gets the 503"
assert_eq "$(count_lines "$COUNT" '^req ')" 1 "curl -T - from a pipe: requests"
assert_eq "$(count_lines "$COUNT" "^req PUT /up 503 $whole\$")" 1 "curl -T - from a pipe: the body, once"
pass
