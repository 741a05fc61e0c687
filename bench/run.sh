#!/usr/bin/env bash
# bench/run.sh: runs every benchmark executable in $BUILD/bench/ (BUILD defaults to build)
# and prints their `name value unit` lines. It must never build anything or hide a failing
# benchmark: a benchmark that exits non-zero makes this script exit non-zero.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}

rc=0
for b in "$BUILD"/bench/*; do
  [ -f "$b" ] && [ -x "$b" ] || continue
  "$b" || { echo "bench/run.sh: $b exited with $?" >&2; rc=1; }
done
exit "$rc"
