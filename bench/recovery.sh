#!/usr/bin/env bash
# bench/recovery.sh: time to first success against a server that refuses connections for
# its first 500 ms (tests/servers/flaky.py --late 500 --mode http) and then answers, for
# curl under carom's default policy (retries = 3, 100 ms decorrelated jitter), for curl's
# own --retry 3 --retry-connrefused, and for curl with no retry. Each run starts a fresh
# server on a fresh port; the clock starts when the server is launched. Prints `name value
# unit` lines (a run that never succeeds counts as inf in the median). It must never leave
# a server running and never talk to anything but 127.0.0.1.
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || { say "curl missing (make deps installs it)"; exit 1; }
RUNS=${RECOVERY_RUNS:-$(reps 7)}
LATE=500
PYTHON=$(python3 -c 'import sys; print(sys.executable)') # the real one, not a wrapper script

# carom's default policy: an empty [defaults] (shared state, as by default). The segment is
# emptied before each run: a circuit fed by the previous run's refusals would open and
# measure the cushion, not the recovery.
printf '; carom bench: recovery\n[defaults]\n' >"$tmp/carom.ini"
check_config "$tmp/carom.ini" || exit 1
shm_config "$tmp/carom.ini"

free_port() {
  "$PYTHON" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# one HOW I: prints "MS_TO_SUCCESS SERVER_UP_MS MS_AFTER_UP" ("inf" when the client gave up).
one() {
  local how=$1 i=$2 port t0 t1 ok=1 up
  port=$(free_port) || return 1
  local url=http://127.0.0.1:$port/ ready=$tmp/ready.$how.$i
  shm_forget "$tmp/carom.ini"
  t0=$(date +%s%N)
  bg "$PYTHON" tests/servers/flaky.py --port "$port" --late "$LATE" --mode http --ready "$ready" --lifetime 15
  local srv=$BG_PID
  case $how in
  carom) CAROM_CONFIG=$tmp/carom.ini LD_PRELOAD=$SHIM timeout 12 curl -sS -o /dev/null "$url" 2>/dev/null || ok=0 ;;
  curl_retry) timeout 12 curl -sS -o /dev/null --retry 3 --retry-connrefused "$url" 2>/dev/null || ok=0 ;;
  no_retry) timeout 12 curl -sS -o /dev/null "$url" 2>/dev/null || ok=0 ;;
  esac
  t1=$(date +%s%N)
  # When the server came up (its ready file), for reference: the floor any client has.
  wait_file "$ready" 30 -e || { stop "$srv"; return 1; }
  up=$(stat -c %.9Y "$ready" | awk -v t0="$t0" '{ printf "%.0f", ($1 * 1e9 - t0) / 1e6 }')
  stop "$srv"
  if [ "$ok" = 1 ]; then echo "$(((t1 - t0) / 1000000)) $up $(((t1 - t0) / 1000000 - up))"
  else echo "inf $up inf"; fi
}

rc=0
for ((i = 0; i < RUNS; i++)); do
  for how in carom curl_retry no_retry; do
    one "$how" "$i" >>"$tmp/$how.runs" || { say "$how run $i failed to start"; rc=1; }
  done
done
for how in carom curl_retry no_retry; do
  [ -s "$tmp/$how.runs" ] || continue
  # sort -g puts inf after every number, so a median with failures in it is honest.
  echo "recovery_${how}_first_success_ms $(awk '{ print $1 }' "$tmp/$how.runs" | median) ms"
  # How long after the server came up: the price of the backoff schedule itself.
  echo "recovery_${how}_after_up_ms $(awk '{ print $3 }' "$tmp/$how.runs" | median) ms"
  echo "recovery_${how}_succeeded $(awk '$1 != "inf"' "$tmp/$how.runs" | wc -l) of_${RUNS}"
done
echo "recovery_server_up_ms $(awk '{ print $2 }' "$tmp"/*.runs | median) ms"
exit "$rc"
