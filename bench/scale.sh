#!/usr/bin/env bash
# bench/scale.sh: shows that the shim's per-call cost does not grow with what it holds:
# tracked send/recv with 10 vs 10,000 open tracked sockets, connect and getaddrinfo with
# 10 vs 1,000 policies, connect with 10 vs 1,000 cushions in shared memory. Instructions by
# callgrind, start-up and set-up cancelled by two iteration counts (lib.sh per_call).
# Prints `name value unit` lines; it must never report a figure it did not measure.
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
need_valgrind
PROG=$BPROG/io_loop
rc=0

# ---- open tracked sockets ------------------------------------------------------------------
# Every socket(AF_INET, SOCK_STREAM) is tracked from its creation, connected or not, so
# io_loop opens K of them (raising RLIMIT_NOFILE) before the measured pair; the measured
# client socket then has the highest descriptor, past all K.
printf '; carom bench: scale sockets\n[defaults]\n' >"$tmp/sockets.ini"
check_config "$tmp/sockets.ini" || exit 1
shm_config "$tmp/sockets.ini"
export CAROM_CONFIG=$tmp/sockets.ini
ulimit -n "$(ulimit -Hn)" 2>/dev/null # valgrind lets the program use only what it got
untracked=
read -r untracked _ < <(per_call 2 2000 12000 "$PROG" pipe) || rc=1
for k in 10 10000; do
  if [ -n "$untracked" ] && read -r extra _ < <(EXTRA_ARGS=$k per_call 4 2000 12000 "$PROG" socket); then
    echo "scale_tracked_socket_${k}_sockets_extra_instr $(calc "2 * $extra - $untracked") instructions"
  else rc=1; fi
done

# ---- policies --------------------------------------------------------------------------------
# N policies of every pattern kind a look-up walks (exact host:port, *.domain, CIDR of two
# prefix lengths, *:port); the measured endpoints (127.0.0.1:ephemeral, "localhost") match
# none, so each look-up takes the longest path, down to [defaults].
policies() {
  local n=$1 i
  echo "; carom bench: scale, $n policies"
  echo "[defaults]"
  for ((i = 0; i < n; i++)); do
    case $((i % 4)) in
    0) echo "[svc-$i.example.com:443]" ;;
    1) echo "[*.d$i.example.com:443]" ;;
    2) if ((i % 8 == 2)); then echo "[11.$((i / 256 % 256)).$((i % 256)).0/24:8443]"
       else echo "[10.$((i / 8 % 256)).0.0/16:8443]"; fi ;;
    3) echo "[*:$((20000 + i))]" ;;
    esac
    echo "retries = $((i % 7))"
  done
}
for n in 10 1000; do
  policies "$n" >"$tmp/p$n.ini"
  check_config "$tmp/p$n.ini" || { rc=1; continue; }
  shm_config "$tmp/p$n.ini"
  export CAROM_CONFIG=$tmp/p$n.ini
  if read -r extra _ < <(per_call 1 200 1200 "$PROG" connect); then
    echo "scale_connect_${n}_policies_extra_instr $extra instructions"
  else rc=1; fi
  if read -r extra _ < <(per_call 1 200 1200 "$PROG" getaddrinfo); then
    echo "scale_getaddrinfo_${n}_policies_extra_instr $extra instructions"
  else rc=1; fi
done

# ---- cushions ----------------------------------------------------------------------------------
# io_loop first connects once to K distinct endpoints (a listener each), so shared memory
# holds K cushions, then measures connects to one more. The segment is emptied before each
# run, so every run holds exactly K, not what earlier runs left.
printf '; carom bench: scale cushions\n[defaults]\nstate = shared\n' >"$tmp/cushions.ini"
check_config "$tmp/cushions.ini" || exit 1
shm_config "$tmp/cushions.ini"
export CAROM_CONFIG=$tmp/cushions.ini
for k in 10 1000; do
  if read -r extra _ < <(PRE_IR='shm_forget "$CAROM_CONFIG"' EXTRA_ARGS=$k per_call 1 200 1200 "$PROG" connect); then
    echo "scale_connect_${k}_cushions_extra_instr $extra instructions"
  else rc=1; fi
done
exit "$rc"
