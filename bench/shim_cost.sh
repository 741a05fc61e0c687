#!/usr/bin/env bash
# bench/shim_cost.sh: the shim's extra cost per wrapped call, as instructions counted by
# callgrind (stable on a noisy machine) and as a wall-clock ratio, each against the same
# program without the shim in the same run. Prints `name value unit` lines; it must never
# report a figure it did not measure (a failed run prints nothing for that figure).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SHIM=$PWD/$BUILD/libcarom_shim.so
PROG=$PWD/$BUILD/bench-prog/io_loop
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf '[defaults]\nstate = process\n' >"$tmp/carom.ini"
export CAROM_CONFIG=$tmp/carom.ini CAROM_SCOREBOARD=$tmp/none.sock

# Instructions of one run: callgrind's total "Ir" (the program, libc and the shim).
ir() {
  local out=$tmp/cg.$RANDOM pre=
  if [ "$1" = shim ]; then pre=$SHIM; shift; fi
  # valgrind hands LD_PRELOAD on to the program it runs.
  env ${pre:+LD_PRELOAD=$pre} valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >/dev/null 2>&1 || return 1
  awk '/^summary:|^totals:/ {print $2; exit}' "$out"
}

# per_call MODE CALLS_PER_ROUND N1 N2: start-up cancels out between N1 and N2 rounds.
per_call() {
  local mode=$1 k=$2 n1=$3 n2=$4 a b c d
  a=$(ir "$PROG" "$mode" "$n1") && b=$(ir "$PROG" "$mode" "$n2") &&
  c=$(ir shim "$PROG" "$mode" "$n1") && d=$(ir shim "$PROG" "$mode" "$n2") || return 1
  awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" -v n=$((n2 - n1)) -v k="$k" \
    'BEGIN { printf "%.1f %.1f\n", ((d - c) - (b - a)) / (n * k), (b - a) / (n * k) }'
}

# Wall clock: median of 5 runs each way, as a ratio.
wall_ratio() {
  local mode=$1 n=$2 i p=() s=()
  for i in 1 2 3 4 5; do
    p+=("$( { /usr/bin/time -f %e "$PROG" "$mode" "$n" >/dev/null; } 2>&1 )")
    s+=("$( { LD_PRELOAD=$SHIM /usr/bin/time -f %e "$PROG" "$mode" "$n" >/dev/null; } 2>&1 )")
  done
  local mp ms
  mp=$(printf '%s\n' "${p[@]}" | sort -n | sed -n 3p); ms=$(printf '%s\n' "${s[@]}" | sort -n | sed -n 3p)
  awk -v p="$mp" -v s="$ms" 'BEGIN { if (p > 0) printf "%.3f\n", s / p; else print "nan" }'
}

if ! command -v valgrind >/dev/null; then echo "shim_cost: valgrind missing (make deps)" >&2; exit 1; fi
untracked=
read -r extra base < <(per_call pipe 2 2000 12000) && { untracked=$extra
  echo "shim_untracked_fd_extra_instr $extra instructions"; echo "shim_untracked_fd_base_instr $base instructions"; }
# A socket round is send+recv on the tracked client end and recv+send on the accepted end,
# which the shim does not track: the tracked call's own cost is 2 * mean - untracked.
read -r extra base < <(per_call socket 4 2000 12000) && [ -n "$untracked" ] && {
  echo "shim_tracked_socket_extra_instr $(awk -v m="$extra" -v u="$untracked" 'BEGIN{printf "%.1f", 2*m-u}') instructions"
  echo "shim_tracked_socket_base_instr $base instructions"; }
read -r extra base < <(per_call connect 1 200 1200) && {
  echo "shim_connect_extra_instr $extra instructions"; echo "shim_connect_base_instr $base instructions"; }
read -r extra base < <(per_call getaddrinfo 1 200 1200) && {
  echo "shim_getaddrinfo_extra_instr $extra instructions"; echo "shim_getaddrinfo_base_instr $base instructions"; }
echo "shim_untracked_fd_wall_ratio $(wall_ratio pipe 2000000) x"
echo "shim_tracked_socket_wall_ratio $(wall_ratio socket 200000) x"
