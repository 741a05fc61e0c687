# bench/lib.sh: helpers the benchmark scripts source: paths, a private temp dir, counting
# instructions with callgrind, the two-iteration-count per-call method, medians, and
# background processes that are always killed. It must never leave a process, a temp file
# or a benchmark's shared-memory segment behind, and never talk to anything but 127.0.0.1.
# shellcheck shell=bash

set -u
set -o pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
BUILD=${BUILD:-build}
ROOT=$PWD
SHIM=$ROOT/$BUILD/libcarom_shim.so
BPROG=$ROOT/$BUILD/bench-prog
BENCH_NAME=$(basename "${0:-bench}" .sh)
# BENCH_QUICK=1 (`make bench BENCH_QUICK=1`, CI): every benchmark runs, briefly: a tenth
# of the iterations, one run where a figure is otherwise a median of several, no
# wall-clock ratios. Its figures prove the benchmark still builds and runs; they are
# noisier and not written to bench/RESULTS.md.
QUICK=${BENCH_QUICK:-0}
[ "$QUICK" = 0 ] || QUICK=1
# reps N: how many runs a median is taken over (1 when quick).
reps() { if [ "$QUICK" = 1 ]; then echo 1; else echo "$1"; fi; }
# iters N: an iteration count, a tenth of it when quick (at least 10).
iters() { if [ "$QUICK" = 1 ]; then echo $(($1 / 10 > 10 ? $1 / 10 : 10)); else echo "$1"; fi; }

# Nothing from the caller's environment may steer the shim or a client (a proxy would
# turn a refusal into a proxy error); each benchmark says what it wants.
unset CAROM_CONFIG CAROM_DISABLE CAROM_CHAOS CAROM_CHAOS_SEED LD_PRELOAD http_proxy \
    https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

tmp=$(mktemp -d "${TMPDIR:-/tmp}/carom-bench.XXXXXX")
# Events go to a socket nobody listens on: the shim drops them, as in production without
# a scoreboard, and no developer's live scoreboard sees benchmark traffic.
export CAROM_SCOREBOARD=$tmp/scoreboard.sock
_pids=()
_shm_cfgs=()

# shm_path CONFIG: the segment a config's shared state lives in,
# /dev/shm/carom-EUID-HASH, HASH being the table hash of the file's bytes
# (carom_policy_hash: policy/match.c carom__hash, little-endian words; shim/shm.c
# carom__shm_name).
shm_path() {
  python3 -c 'import os, sys
M = 2**64 - 1
b = open(sys.argv[1], "rb").read()
n = len(b)
h = 0x9e3779b97f4a7c15 ^ ((n * 0xff51afd7ed558ccd) & M)
w = lambda i: int.from_bytes(b[i:i + 8], "little")
i = 0
while n - i >= 16:
    h = (((h ^ w(i)) * 0xc4ceb9fe1a85ec53) & M) ^ w(i + 8)
    h = ((h ^ (h >> 31)) * 0x9e3779b97f4a7c15) & M
    i += 16
while n - i >= 8:
    h = ((h ^ w(i)) * 0xc4ceb9fe1a85ec53) & M
    h ^= h >> 31
    i += 8
h = ((h ^ int.from_bytes(b[i:], "little")) * 0xff51afd7ed558ccd) & M
h ^= h >> 33
h = (h * 0xc4ceb9fe1a85ec53) & M
h ^= h >> 29
print("/dev/shm/carom-%d-%016x" % (os.geteuid(), h))' "$1"
}

# shm_forget CONFIG: removes that segment. Benchmark configs carry a marker line of their
# own, so this touches nobody else's circuits.
shm_forget() {
  local p
  p=$(shm_path "$1") && rm -f "$p"
}

# A benchmark config with shared state: its segment is removed now (no state from an
# earlier run) and again on exit.
shm_config() { _shm_cfgs+=("$1"); shm_forget "$1"; }

# check_config FILE: a config the shim would reject makes it a pass-through, and the
# figure would silently measure nothing: refuse to go on.
check_config() {
  "$ROOT/$BUILD/carom" check "$1" >/dev/null 2>"$tmp/check.err" && return 0
  say "benchmark config $1 is invalid: $(head -n 1 "$tmp/check.err")"
  return 1
}

_cleanup() {
  local p i c
  for p in "${_pids[@]+"${_pids[@]}"}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${_pids[@]+"${_pids[@]}"}"; do
    # Bounded: whatever ignores TERM for a second gets KILL.
    for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  for c in "${_shm_cfgs[@]+"${_shm_cfgs[@]}"}"; do shm_forget "$c"; done
  rm -rf "$tmp"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# bg COMMAND...: runs COMMAND in the background, killed on exit; sets BG_PID.
bg() { "$@" </dev/null & BG_PID=$!; _pids+=("$BG_PID"); }

# stop PID: ends one background process now (TERM, then KILL after a second).
stop() {
  local i
  kill -TERM "$1" 2>/dev/null
  for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
  return 0
}

# wait_file FILE [TENTHS] [TEST]: waits until `test TEST FILE` holds (default -s: exists and
# is not empty), bounded (default 5 s).
wait_file() {
  local i
  for ((i = 0; i < ${2:-50}; i++)); do
    if [ "${3:--s}" = -e ]; then [ -e "$1" ] && return 0; else [ -s "$1" ] && return 0; fi
    sleep 0.1
  done
  echo "$BENCH_NAME: timed out waiting for $1" >&2
  return 1
}

say() { echo "$BENCH_NAME: $*" >&2; }

# median: the median of the numbers on stdin, one per line (the lower middle for an even
# count, so the value is one that was measured).
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }

# calc EXPR: awk arithmetic, printed with %.Nf (N = $2, default 1).
calc() { awk "BEGIN { printf \"%.${2:-1}f\n\", $1 }"; }

# ---- instructions ---------------------------------------------------------------------------

# ir [shim | preload=LIB] PROGRAM ARGS...: user-space instructions of one run,
# callgrind's total "Ir" (the program, libc and the preloaded library; the kernel is not
# counted). Stable to a few instructions on a noisy machine, which is why the per-call
# figures use it.
ir() {
  local out=$tmp/cg.$RANDOM$RANDOM pre=
  if [ "$1" = shim ]; then pre=$SHIM; shift
  elif [ "${1#preload=}" != "$1" ]; then pre=${1#preload=}; shift; fi
  # A benchmark whose set-up must start from empty shared state says how (PRE_IR).
  [ -z "${PRE_IR:-}" ] || eval "$PRE_IR"
  # valgrind hands LD_PRELOAD on to the program it runs.
  env ${pre:+LD_PRELOAD=$pre} valgrind --tool=callgrind --callgrind-out-file="$out" "$@" \
    >/dev/null 2>"$out.err" || { say "callgrind failed: $* ($(tail -n 1 "$out.err"))"; return 1; }
  awk '/^summary:|^totals:/ { print $2; exit }' "$out"
  rm -f "$out" "$out.err"
}

# per_call CALLS_PER_ROUND N1 N2 PROGRAM ARGS...: runs PROGRAM ARGS N (with N = N1 and N2
# appended, then EXTRA_ARGS if set) with and without the shim, and prints "EXTRA BASE":
# the shim's extra instructions per call and the plain program's instructions per call.
# Start-up and set-up are the same at both counts, so they cancel in the difference.
per_call() {
  local k=$1 n1 n2 a b c d
  n1=$(iters "$2") n2=$(iters "$3")
  shift 3
  a=$(ir "$@" "$n1" ${EXTRA_ARGS:-}) && b=$(ir "$@" "$n2" ${EXTRA_ARGS:-}) &&
    c=$(ir shim "$@" "$n1" ${EXTRA_ARGS:-}) && d=$(ir shim "$@" "$n2" ${EXTRA_ARGS:-}) || return 1
  awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" -v n=$((n2 - n1)) -v k="$k" \
    'BEGIN { printf "%.1f %.1f\n", ((d - c) - (b - a)) / (n * k), (b - a) / (n * k) }'
}

need_valgrind() {
  command -v valgrind >/dev/null || { say "valgrind missing (make deps installs it)"; exit 1; }
}
