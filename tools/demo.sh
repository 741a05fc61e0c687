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
python3 tests/servers/flaky.py --port "$P" --late 1200 --mode http --body "hello from a late server"$'\n' --lifetime 20 & pids+=($!)
sleep 0.1
say "curl without carom"
( set -x; curl -sS "http://127.0.0.1:$P/" ) ; echo "curl exit status: $?"

P=$(port)
python3 tests/servers/flaky.py --port "$P" --late 1200 --mode http --body "hello from a late server"$'\n' --lifetime 20 & pids+=($!)
sleep 0.1
say "the same curl through carom (a fresh server, again 1.2 s late)"
( set -x; "$CAROM" run -c "$tmp/carom.ini" -- curl -sS "http://127.0.0.1:$P/" ); echo "curl exit status: $?"

P=$(port)
python3 tests/servers/flaky.py --port "$P" --late 1200 --mode http --lifetime 20 & pids+=($!)
sleep 0.1
say "python3 urllib through carom, with a timeout (a non-blocking connect)"
( set -x; "$CAROM" run -c "$tmp/carom.ini" -- python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$P/', timeout=5).read().decode().strip())" ); echo "python3 exit status: $?"

R=$(port)
say "the cushion, shared by separate processes: 8 curl runs against a server that resets every connection"
python3 tests/servers/flaky.py --port "$R" --mode reset --count "$tmp/seen" --lifetime 20 & pids+=($!)
sleep 0.3
cat >"$tmp/shared.ini" <<INI
[defaults]
state = shared           ; circuits live in /dev/shm, one view for every process
retries = 0
cushion_failures = 3
cushion_window = 5
INI
for i in 1 2 3 4 5 6 7 8; do
  printf 'run %d: ' "$i"
  "$CAROM" run -c "$tmp/shared.ini" -- curl -sS "http://127.0.0.1:$R/" 2>&1 | head -n 1
done
echo "the server saw $(grep -c conn "$tmp/seen") connections in 8 runs"
say "carom cushions: the circuit as every process sees it"
"$CAROM" cushions -c "$tmp/shared.ini"
shm=$("$CAROM" cushions -c "$tmp/shared.ini" --path 2>/dev/null) && rm -f "$shm"

sleep 0.5
say "what the scoreboard heard (carom scoreboard --json)"
cat "$tmp/events"
