#!/usr/bin/env bash
# bench/run.sh: the whole benchmark suite, as `make bench` runs it: every benchmark program
# in $BUILD/bench/ (BUILD defaults to build), then the shim's per-call cost, start-up,
# scale, the sidecar comparison and recovery; prints their `name value unit` lines and
# writes bench/RESULTS.md (bench/report.sh). With BENCH_QUICK=1 (CI) the same, each part
# briefly (bench/lib.sh), in under 2 minutes: the figures are printed, neither judged nor
# written. It must never build anything, never hide a failing benchmark (any failure, or
# a part that printed no figure, makes it exit non-zero, after writing what it has), and
# never leave a process behind (each script cleans up after itself; this one bounds each).
set -u
set -o pipefail
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
QUICK=${BENCH_QUICK:-0}
[ "$QUICK" = 0 ] || QUICK=1
export BUILD BENCH_QUICK=$QUICK

start=$(date +%s)
load=$(cut -d' ' -f1-3 /proc/loadavg)
out=$(mktemp "${TMPDIR:-/tmp}/carom-bench-results.XXXXXX")
rc=0

# step LIMIT_S NAME COMMAND...: one part, bounded in time, its lines printed and kept.
step() {
  local limit=$1 name=$2 t0 r
  shift 2
  t0=$(date +%s)
  timeout -k 5 "$limit" "$@" | tee "$out.part"
  r=$?
  cat "$out.part" >>"$out"
  echo "bench/run.sh: $name: $(($(date +%s) - t0)) s" >&2
  if [ "$r" != 0 ]; then echo "bench/run.sh: $name failed (exit $r)" >&2; rc=1; fi
  # A part that exits 0 having measured nothing is broken too.
  if ! grep -Eq '^[a-z0-9_]+ [-0-9.inf]+( |$)' "$out.part"; then
    echo "bench/run.sh: $name printed no figure" >&2; rc=1
  fi
}
trap 'rm -f "$out" "$out.part"' EXIT

# Every program bench/*.c makes must be there: one missing (it no longer builds) fails.
for src in bench/*.c; do
  b=$BUILD/bench/$(basename "$src" .c)
  if [ ! -x "$b" ]; then echo "bench/run.sh: $b is missing (make bench builds it)" >&2; rc=1; continue; fi
  step 120 "$(basename "$b")" "$b"
done
for src in bench/prog/*.c; do
  p=$BUILD/bench-prog/$(basename "$src" .c)
  [ -x "$p" ] || { echo "bench/run.sh: $p is missing (make bench builds it)" >&2; rc=1; }
done
step 150 shim_cost bench/shim_cost.sh
step 60 startup bench/startup.sh
step 150 scale bench/scale.sh
step 150 sidecar bench/sidecar.sh
step 120 recovery bench/recovery.sh

secs=$(($(date +%s) - start))
if [ "$QUICK" = 1 ]; then
  echo "bench/run.sh: quick pass ($secs s): figures printed above, bench/RESULTS.md left as it was" >&2
  exit "$rc"
fi
# Written beside and renamed, so a failed report never leaves a half-written RESULTS.md.
if bench/report.sh "$out" "$secs" "$load" >bench/RESULTS.md.tmp; then
  mv bench/RESULTS.md.tmp bench/RESULTS.md
else
  rm -f bench/RESULTS.md.tmp
  echo "bench/run.sh: could not write bench/RESULTS.md" >&2; rc=1
fi
echo "bench/run.sh: wrote bench/RESULTS.md ($secs s)" >&2
exit "$rc"
