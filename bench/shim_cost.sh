#!/usr/bin/env bash
# bench/shim_cost.sh: the shim's extra cost per wrapped call (untracked fd, tracked socket,
# connect, getaddrinfo), as instructions counted by callgrind (stable on a noisy machine)
# and as a wall-clock ratio, each against the same program without the shim in the same
# run. Prints `name value unit` lines; it must never report a figure it did not measure (a
# failed run prints nothing for that figure, and the script then exits non-zero).
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
need_valgrind
PROG=$BPROG/io_loop

# The defaults every user gets, state = shared included: connect's cushion lives in
# shared memory, as it does in production. The marker line gives this file a segment of
# its own (see shm_config).
printf '; carom bench: shim_cost\n[defaults]\n' >"$tmp/carom.ini"
check_config "$tmp/carom.ini" || exit 1
shm_config "$tmp/carom.ini"
export CAROM_CONFIG=$tmp/carom.ini
rc=0

# Wall clock: a plain run and a shim run of io_loop go at once but take turns, CHUNK
# rounds at a time, passing a token round a ring of two FIFOs; each times only its own
# chunks. A burst of load from elsewhere then falls on both alike, which alternating whole
# runs cannot promise on a shared machine. Both share one CPU. The figure is the median
# of three such ratios.
CPU=$(($(nproc) - 1))
pin=()
command -v taskset >/dev/null && pin=(taskset -c "$CPU")
wall_ratio() {
  local mode=$1 n chunk=$3 i f0 f1 pp sp r=()
  n=$(iters "$2")
  for ((i = 1; i <= $(reps 3); i++)); do
    rm -f "$tmp"/wr.*
    mkfifo "$tmp/wr.0" "$tmp/wr.1"
    # Held open here too, so the last token passed never meets a closed FIFO.
    exec {f0}<>"$tmp/wr.0" {f1}<>"$tmp/wr.1"
    BENCH_RING="$tmp/wr.0 $tmp/wr.1 $chunk" bg "${pin[@]}" "$PROG" "$mode" "$n" >"$tmp/wr.plain"
    pp=$BG_PID
    BENCH_RING="$tmp/wr.1 $tmp/wr.0 $chunk" LD_PRELOAD=$SHIM bg "${pin[@]}" "$PROG" "$mode" "$n" >"$tmp/wr.shim"
    sp=$BG_PID
    # Who goes first alternates.
    if ((i % 2)); then printf t >&"$f0"; else printf t >&"$f1"; fi
    wait "$pp" && wait "$sp" || { exec {f0}>&- {f1}>&-; return 1; }
    exec {f0}>&- {f1}>&-
    r+=("$(calc "$(cat "$tmp/wr.shim") / $(cat "$tmp/wr.plain")" 4)")
  done
  printf '%s\n' "${r[@]}" | median | xargs printf '%.3f\n'
}

untracked=
if read -r extra base < <(per_call 2 2000 12000 "$PROG" pipe); then
  untracked=$extra
  echo "shim_untracked_fd_extra_instr $extra instructions"
  echo "shim_untracked_fd_base_instr $base instructions"
else rc=1; fi
# A socket round is send+recv on the tracked client end and recv+send on the accepted end,
# which the shim does not track: the tracked call's own cost is 2 * mean - untracked.
if [ -n "$untracked" ] && read -r extra base < <(per_call 4 2000 12000 "$PROG" socket); then
  echo "shim_tracked_socket_extra_instr $(calc "2 * $extra - $untracked") instructions"
  echo "shim_tracked_socket_base_instr $base instructions"
else rc=1; fi
# The same with io_timeout_ms set: each blocking call on a tracked socket then asks the
# kernel for the descriptor's flags and polls before the real call (shim/io.c io_before):
# two more system calls, which the instruction count does not see but the wall clock does.
printf '; carom bench: shim_cost io_timeout\n[defaults]\nio_timeout_ms = 1000\n' >"$tmp/timeout.ini"
check_config "$tmp/timeout.ini" || exit 1
shm_config "$tmp/timeout.ini"
if [ -n "$untracked" ] && read -r extra _ < <(CAROM_CONFIG=$tmp/timeout.ini per_call 4 2000 12000 "$PROG" socket); then
  echo "shim_tracked_socket_io_timeout_extra_instr $(calc "2 * $extra - $untracked") instructions"
else rc=1; fi

if read -r extra base < <(per_call 1 200 1200 "$PROG" connect); then
  echo "shim_connect_extra_instr $extra instructions"
  echo "shim_connect_base_instr $base instructions"
else rc=1; fi
if read -r extra base < <(per_call 1 200 1200 "$PROG" getaddrinfo); then
  echo "shim_getaddrinfo_extra_instr $extra instructions"
  echo "shim_getaddrinfo_base_instr $base instructions"
else rc=1; fi

# name mode rounds chunk: chunks of a millisecond or two.
for f in "untracked_fd pipe 600000 1000" "tracked_socket socket 100000 200" \
  "connect connect 10000 50" "getaddrinfo getaddrinfo 20000 200"; do
  set -- $f
  if ratio=$(wall_ratio "$2" "$3" "$4"); then echo "shim_$1_wall_ratio $ratio x"; else rc=1; fi
done
if ratio=$(CAROM_CONFIG=$tmp/timeout.ini wall_ratio socket 100000 200); then
  echo "shim_tracked_socket_io_timeout_wall_ratio $ratio x"
else rc=1; fi
exit "$rc"
