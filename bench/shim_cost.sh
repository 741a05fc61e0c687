#!/usr/bin/env bash
# bench/shim_cost.sh: the shim's extra cost per wrapped call (untracked fd, tracked socket,
# connect, getaddrinfo), as instructions counted by callgrind (stable on a noisy machine)
# and as a wall-clock ratio, each against the same program without the shim in the same
# run. Prints `name value unit` lines; it must never report a figure it did not measure (a
# failed run prints nothing for that figure, and the script then exits non-zero).
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

# Wall clock: io_loop times its own loop (start-up excluded). Runs alternate plain and
# shim, so a change in the machine's load falls on both; the figure is the median of the
# per-pair ratios.
wall_ratio() {
  local i p s r=()
  for i in 1 2 3 4 5 6 7; do
    p=$("$PROG" "$@") && s=$(LD_PRELOAD=$SHIM "$PROG" "$@") || return 1
    r+=("$(calc "$s / $p" 4)")
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
if read -r extra base < <(per_call 1 200 1200 "$PROG" connect); then
  echo "shim_connect_extra_instr $extra instructions"
  echo "shim_connect_base_instr $base instructions"
else rc=1; fi
if read -r extra base < <(per_call 1 200 1200 "$PROG" getaddrinfo); then
  echo "shim_getaddrinfo_extra_instr $extra instructions"
  echo "shim_getaddrinfo_base_instr $base instructions"
else rc=1; fi

for f in "untracked_fd pipe 1000000" "tracked_socket socket 100000" "connect connect 10000" \
  "getaddrinfo getaddrinfo 20000"; do
  set -- $f
  if r=$(wall_ratio "$2" "$3"); then echo "shim_$1_wall_ratio $r x"; else rc=1; fi
done
exit "$rc"
