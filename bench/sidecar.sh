#!/usr/bin/env bash
# bench/sidecar.sh: carom against the sidecar a user would pick instead. Small round trips
# on loopback (1-byte echo; keep-alive HTTP GET), made by bench/prog/rr_client against
# bench/prog/rr_server three ways: direct; direct with the shim and a retry policy; through
# a local haproxy (bench/haproxy.cfg: retries, redispatch, health checks). Prints the added
# latency per round trip (p50, p99) against direct, the throughput of each, and how many
# times more haproxy adds than carom. It must never leave haproxy or a server running,
# never bind beyond 127.0.0.1, and never report a figure it did not measure.
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
command -v haproxy >/dev/null || { say "haproxy missing (make deps installs it)"; exit 1; }

ROUNDS=${SIDECAR_ROUNDS:-$(reps 6)} # repetitions (two of each ring order); figures are medians
TURNS=$(iters 40) BATCH=500   # per client and round: 20,000 timed round trips, in turns
THREADS=2                     # then as many turns of this many connections at once
LIFE=300                      # no server or haproxy outlives this many seconds

# Everything on one CPU: a round trip is then a pair of context switches on one core,
# not a cross-CPU wake-up (which in a VM costs an inter-processor interrupt and varies
# ten-fold from run to run), so the figures compare the work each path does.
CPU=$(($(nproc) - 1))
pin=()
command -v taskset >/dev/null && pin=(taskset -c "$CPU")

free_port() {
  python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- backends and sidecar ------------------------------------------------------------------
bg "${pin[@]}" "$BPROG/rr_server" echo "$LIFE" >"$tmp/echo.port"
bg "${pin[@]}" "$BPROG/rr_server" http "$LIFE" >"$tmp/http.port"
wait_file "$tmp/echo.port" && wait_file "$tmp/http.port" || exit 1
echo_back=$(cat "$tmp/echo.port") http_back=$(cat "$tmp/http.port")
echo_front=$(free_port) http_front=$(free_port)
sed -e "s/@ECHO_FRONT@/$echo_front/; s/@ECHO_BACK@/$echo_back/" \
  -e "s/@HTTP_FRONT@/$http_front/; s/@HTTP_BACK@/$http_back/" bench/haproxy.cfg >"$tmp/haproxy.cfg"
haproxy -c -q -f "$tmp/haproxy.cfg" || { say "bench/haproxy.cfg is invalid"; exit 1; }
# -db: foreground, no daemon; timeout bounds it even if this script is killed with -9.
bg timeout "$LIFE" "${pin[@]}" haproxy -db -f "$tmp/haproxy.cfg" >"$tmp/haproxy.log" 2>&1
up=0
for ((i = 0; i < 50; i++)); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$echo_front") 2>/dev/null &&
    (exec 3<>"/dev/tcp/127.0.0.1/$http_front") 2>/dev/null; then up=1; break; fi
  sleep 0.1
done
[ "$up" = 1 ] || { say "haproxy did not come up: $(tail -n 3 "$tmp/haproxy.log")"; exit 1; }

# carom's side: the retry policy a user would give this backend, shared state as default.
printf '; carom bench: sidecar\n[defaults]\n\n[backend]\nmatch = 127.0.0.1\nretries = 3\nbase_delay_ms = 100\n' \
  >"$tmp/carom.ini"
check_config "$tmp/carom.ini" || exit 1
shm_config "$tmp/carom.ini"

# client PROTO HOW ARGS...: one rr_client run the HOW way (direct, carom, haproxy). It
# execs, so it must run in a subshell (bg does that): the pid bg records is then
# rr_client's own, and killing it on exit leaves nothing behind.
client() {
  local proto=$1 how=${2%2} port
  shift 2
  case $proto-$how in
  echo-haproxy) port=$echo_front ;; http-haproxy) port=$http_front ;;
  echo-*) port=$echo_back ;; http-*) port=$http_back ;;
  esac
  if [ "$how" = carom ]; then
    CAROM_CONFIG=$tmp/carom.ini LD_PRELOAD=$SHIM exec "${pin[@]}" "$BPROG/rr_client" "$proto" "$port" "$@"
  else
    exec "${pin[@]}" "$BPROG/rr_client" "$proto" "$port" "$@"
  fi
}

# ring PROTO HOW...: the clients, one per HOW, run at once but take turns: a token goes
# round a ring of FIFOs and only its holder makes round trips (BATCH per connection), so
# a burst of load from elsewhere on the machine hits every way alike instead of whichever
# ran at the time. Prints "P50_NS P99_NS RPS" per HOW, in the order given.
ring() {
  local proto=$1 n i pids=() fds=() fd ok=0
  shift
  n=$#
  local ways=("$@")
  rm -f "$tmp"/ring.*
  for ((i = 0; i < n; i++)); do
    mkfifo "$tmp/ring.$i"
    # Held open here too, so a token written after its reader finished never fails.
    exec {fd}<>"$tmp/ring.$i"
    fds+=("$fd")
  done
  for ((i = 0; i < n; i++)); do
    bg client "$proto" "${ways[i]}" "$THREADS" "$TURNS" "$BATCH" "$tmp/ring.$i" "$tmp/ring.$(((i + 1) % n))" \
      >"$tmp/ring.$i.out"
    pids+=("$BG_PID")
  done
  printf t >&"${fds[0]}"
  for ((i = 0; i < n; i++)); do wait "${pids[i]}" || ok=1; done
  for fd in "${fds[@]}"; do exec {fd}>&-; done
  [ "$ok" = 0 ] || { say "$proto: a client failed"; return 1; }
  for ((i = 0; i < n; i++)); do cat "$tmp/ring.$i.out"; done | tr '\n' ' '
  echo
}

rc=0
for proto in echo http; do
  : >"$tmp/$proto.runs"
  for ((r = 0; r < ROUNDS; r++)); do
    # Two direct clients: their disagreement is the noise of the measurement. The order in
    # the ring cycles so that direct, direct2 and carom each follow haproxy (whose work
    # can spill into the next turn) in one round of three: no way is favoured.
    # ring runs in this shell (not in a $(...) subshell), so the clients it starts are in
    # this shell's list of processes to kill on exit.
    case $((r % 3)) in
    0) ways=(direct carom haproxy direct2) ;;
    1) ways=(direct haproxy carom direct2) ;;
    2) ways=(direct carom direct2 haproxy) ;;
    esac
    ring "$proto" "${ways[@]}" >"$tmp/figures" || { rc=1; continue; }
    declare -A fig=()
    read -r -a nums <"$tmp/figures"
    for ((i = 0; i < 4; i++)); do fig[${ways[i]}]="${nums[*]:i*3:3}"; done
    read -r d1 d2 d3 <<<"${fig[direct]}"
    read -r e1 e2 e3 <<<"${fig[direct2]}"
    read -r c1 c2 c3 <<<"${fig[carom]}"
    read -r h1 h2 h3 <<<"${fig[haproxy]}"
    [ -n "${e3:-}" ] || { say "$proto: round $r gave no figures"; rc=1; continue; }
    echo "$d1 $d2 $d3 $e1 $e2 $e3 $c1 $c2 $c3 $h1 $h2 $h3" >>"$tmp/$proto.runs"
  done
  [ -s "$tmp/$proto.runs" ] || continue
  [ -z "${SIDECAR_DEBUG:-}" ] || cat "$tmp/$proto.runs" >&2
  # Columns: 1-3 direct, 4-6 direct again, 7-9 carom, 10-12 haproxy (p50 p99 rps each).
  # Each figure is the median over rounds of that round's value; latencies in us.
  col() { awk "{ print $1 }" "$tmp/$proto.runs" | median; }
  d50=$(col '($1 + $4) / 2000') d99=$(col '($2 + $5) / 2000')
  n50=$(col '($4 > $1 ? $4 - $1 : $1 - $4) / 2000') n99=$(col '($5 > $2 ? $5 - $2 : $2 - $5) / 2000')
  c50=$(col '($7 - ($1 + $4) / 2) / 1000') c99=$(col '($8 - ($2 + $5) / 2) / 1000')
  h50=$(col '($10 - ($1 + $4) / 2) / 1000') h99=$(col '($11 - ($2 + $5) / 2) / 1000')
  printf 'sidecar_%s_direct_p50_us %.2f us\n' "$proto" "$d50"
  printf 'sidecar_%s_direct_p99_us %.2f us\n' "$proto" "$d99"
  printf 'sidecar_%s_noise_p50_us %.2f us\n' "$proto" "$n50"
  printf 'sidecar_%s_noise_p99_us %.2f us\n' "$proto" "$n99"
  printf 'sidecar_%s_carom_added_p50_us %.2f us\n' "$proto" "$c50"
  printf 'sidecar_%s_carom_added_p99_us %.2f us\n' "$proto" "$c99"
  printf 'sidecar_%s_haproxy_added_p50_us %.2f us\n' "$proto" "$h50"
  printf 'sidecar_%s_haproxy_added_p99_us %.2f us\n' "$proto" "$h99"
  printf 'sidecar_%s_direct_rps %.0f roundtrips/s\n' "$proto" "$(col '($3 + $6) / 2')"
  printf 'sidecar_%s_carom_rps %.0f roundtrips/s\n' "$proto" "$(col '$9')"
  printf 'sidecar_%s_haproxy_rps %.0f roundtrips/s\n' "$proto" "$(col '$12')"
  # Throughput as a share of direct in the same round: steadier than the absolute figures,
  # which follow the machine's load from round to round.
  printf 'sidecar_%s_carom_rps_ratio %.3f x\n' "$proto" "$(col '$9 * 2 / ($3 + $6)')"
  printf 'sidecar_%s_haproxy_rps_ratio %.3f x\n' "$proto" "$(col '$12 * 2 / ($3 + $6)')"
  # How many times more latency haproxy adds than carom. carom's added latency counts as
  # no less than the measurement's own noise (half the two direct runs' disagreement, and
  # at least 0.05 us), so a difference lost in noise cannot flatter the ratio.
  ratio() { awk -v h="$1" -v c="$2" -v n="$3" 'BEGIN { if (c < n) c = n; if (c < 0.05) c = 0.05; printf "%.1f\n", h / c }'; }
  echo "sidecar_${proto}_ratio_p50 $(ratio "$h50" "$c50" "$n50") x"
  echo "sidecar_${proto}_ratio_p99 $(ratio "$h99" "$c99" "$n99") x"
done
exit "$rc"
