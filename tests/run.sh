#!/usr/bin/env bash
# tests/run.sh: runs every test (the Criterion unit binary, then each end-to-end script
# under tests/e2e/) and ends with one line "N passed, N failed". It must never report a
# pass for a test that did not run: a missing binary or an empty suite is a failure.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
export CAROM_ROOT=$PWD
pass=0; fail=0; failed=()

if [ "${1:-}" != "--e2e-only" ]; then
  if [ -x "$BUILD/tests/unit" ]; then
    out=$("$BUILD/tests/unit" --jobs 2 2>&1); rc=$?
    printf '%s\n' "$out" | grep -vE '^\[----\]' | tail -n 40
    syn=$(printf '%s\n' "$out" | grep -E 'Synthesis: Tested' | tail -n1)
    t=$(sed -nE 's/.*Passing: ([0-9]+).*/\1/p' <<<"$syn"); f=$(sed -nE 's/.*Failing: ([0-9]+).*Crashing: ([0-9]+).*/\1+\2/p' <<<"$syn")
    if [ -z "$t" ]; then fail=$((fail+1)); failed+=("unit: no Criterion summary (rc=$rc)")
    else pass=$((pass+t)); fail=$((fail+$f)); [ "$rc" = 0 ] || failed+=("unit tests (rc=$rc)"); fi
  else
    fail=$((fail+1)); failed+=("unit: $BUILD/tests/unit missing")
  fi
fi

# Each e2e script is one test: exit 0 passes, 77 skips (said aloud), anything else fails.
skip=0
for t in tests/e2e/*.sh; do
  [ -e "$t" ] || continue
  name=$(basename "$t" .sh)
  start=$(date +%s.%N)
  out=$(timeout 300 bash "$t" 2>&1); rc=$?
  dur=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')
  case $rc in
    0)  pass=$((pass+1)); echo "PASS e2e/$name (${dur}s)";;
    77) skip=$((skip+1)); echo "SKIP e2e/$name: $(printf '%s\n' "$out" | tail -n1)";;
    *)  fail=$((fail+1)); failed+=("e2e/$name"); echo "FAIL e2e/$name (rc=$rc, ${dur}s)"
        printf '%s\n' "$out" | tail -n 25 | sed 's/^/    /';;
  esac
done

for f in "${failed[@]+"${failed[@]}"}"; do echo "failed: $f"; done
if [ "$skip" -gt 0 ]; then echo "$pass passed, $fail failed, $skip skipped"; else echo "$pass passed, $fail failed"; fi
[ "$fail" -eq 0 ]
