#!/usr/bin/env bash
# tools/demo.sh: the README's demo. Real programs (curl, python3) through the real shim
# against a local server that comes up late, with the scoreboard's events printed. It must
# never touch anything but 127.0.0.1 and temp files, and always stop what it started.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CAROM=$PWD/$BUILD/carom
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
export CAROM_SCOREBOARD=$tmp/scoreboard.sock
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

cat >"$tmp/carom.ini" <<INI
[defaults]
state = process          ; this demo keeps its circuits to itself
retries = 8
base_delay_ms = 100
max_delay_ms = 400
cushion_failures = 9
cushion_window = 10

[127.0.0.1:*]
retries = 8
INI
"$CAROM" check "$tmp/carom.ini" || exit 1

"$CAROM" scoreboard --json >"$tmp/events" 2>/dev/null & pids+=($!)
sleep 0.3

P=$(port)
say "a web server on 127.0.0.1:$P that starts listening 1.2 s late"
python3 tests/servers/flaky.py --port "$P" --late 1200 --mode http --body "hello from a late server" --lifetime 20 & pids+=($!)
sleep 0.1
say "curl without carom"
( set -x; curl -sS "http://127.0.0.1:$P/" ) ; echo "curl exit status: $?"

P=$(port)
python3 tests/servers/flaky.py --port "$P" --late 1200 --mode http --body "hello from a late server" --lifetime 20 & pids+=($!)
sleep 0.1
say "the same curl through carom (a fresh server, again 1.2 s late)"
( set -x; "$CAROM" run -c "$tmp/carom.ini" -- curl -sS "http://127.0.0.1:$P/" ); echo "curl exit status: $?"

P=$(port)
python3 tests/servers/flaky.py --port "$P" --late 1200 --mode http --lifetime 20 & pids+=($!)
sleep 0.1
say "python3 urllib through carom, with a timeout (a non-blocking connect)"
( set -x; "$CAROM" run -c "$tmp/carom.ini" -- python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$P/', timeout=5).read().decode().strip())" ); echo "python3 exit status: $?"

D=$(port)
say "the cushion: 8 connects to a dead port 127.0.0.1:$D; the circuit opens after 3 failures"
cat >"$tmp/dead.ini" <<INI
[defaults]
state = process
retries = 0
cushion_failures = 3
cushion_window = 5
INI
"$CAROM" run -c "$tmp/dead.ini" -- python3 - "$D" <<'PY'
import socket, sys, time
for i in range(8):
    t = time.monotonic()
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    except OSError as e:
        print(f"connect {i+1}: {e.strerror} after {1000*(time.monotonic()-t):.2f} ms")
PY

sleep 0.5
say "what the scoreboard heard (carom scoreboard --json)"
cat "$tmp/events"
