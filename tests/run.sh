#!/usr/bin/env bash
# tests/run.sh: runs the tests (the Criterion unit binary, then each end-to-end script under
# tests/e2e/) and ends with one line "N passed, N failed[, N skipped]". It must never report
# a pass for a test that did not run: a missing binary, an empty suite or a pattern that
# matches no test is a failure.
#
#   tests/run.sh [--e2e-only] [PATTERN...]   PATTERN: a shell glob on e2e names, e.g. 'curl_*'
#   tests/run.sh --list [PATTERN...]         print the matching e2e names and their timeouts
#
# A PATTERN selects e2e tests by name (without .sh; a pattern with no glob character matches
# as a substring). The unit tests run too unless --e2e-only is given. Each e2e test gets 300 s
# unless a line "# timeout: N" in its first 20 lines says otherwise.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
export CAROM_ROOT=$PWD
DEFAULT_TIMEOUT=300
pass=0; fail=0; skip=0; failed=()
e2e_only=0; list=0; patterns=()

for a in "$@"; do
  case $a in
    --e2e-only) e2e_only=1;;
    --list) list=1;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
    -*) echo "tests/run.sh: unknown option $a" >&2; exit 2;;
    *) patterns+=("$a");;
  esac
done

# The name matches when there is no pattern, or any pattern matches it.
matches() {
  local name=$1 p
  [ ${#patterns[@]} -eq 0 ] && return 0
  for p in "${patterns[@]}"; do
    case $p in
      *[*?[]*) [[ $name == $p ]] && return 0;;
      *) [[ $name == *"$p"* ]] && return 0;;
    esac
  done
  return 1
}

# A test's own timeout: "# timeout: N" near its top, else the default.
timeout_of() {
  local n
  n=$(head -n 20 "$1" | sed -nE 's/^# *timeout: *([0-9]+)([^0-9].*)?$/\1/p' | head -n1)
  echo "${n:-$DEFAULT_TIMEOUT}"
}

selected=()
for t in tests/e2e/*.sh; do
  [ -e "$t" ] || continue
  name=$(basename "$t" .sh)
  matches "$name" && selected+=("$t")
done

if [ "$list" = 1 ]; then
  for t in "${selected[@]+"${selected[@]}"}"; do
    printf '%s %ss\n' "$(basename "$t" .sh)" "$(timeout_of "$t")"
  done
  [ ${#selected[@]} -gt 0 ] || { echo "tests/run.sh: no e2e test matches ${patterns[*]-}" >&2; exit 1; }
  exit 0
fi

if [ "$e2e_only" = 0 ]; then
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

# A pattern that selects nothing is a failure, never an empty pass.
if [ ${#patterns[@]} -gt 0 ] && [ ${#selected[@]} -eq 0 ]; then
  fail=$((fail+1)); failed+=("no e2e test matches: ${patterns[*]}")
fi

# Each e2e script is one test: exit 0 passes, 77 skips (said aloud), anything else fails.
for t in "${selected[@]+"${selected[@]}"}"; do
  name=$(basename "$t" .sh)
  limit=$(timeout_of "$t")
  start=$(date +%s.%N)
  out=$(timeout "$limit" bash "$t" 2>&1); rc=$?
  dur=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')
  case $rc in
    0)  pass=$((pass+1)); echo "PASS e2e/$name (${dur}s)";;
    77) skip=$((skip+1)); echo "SKIP e2e/$name: $(printf '%s\n' "$out" | tail -n1)";;
    124) fail=$((fail+1)); failed+=("e2e/$name (timed out after ${limit}s)")
        echo "FAIL e2e/$name (timed out after ${limit}s)"
        printf '%s\n' "$out" | tail -n 25 | sed 's/^/    /';;
    *)  fail=$((fail+1)); failed+=("e2e/$name"); echo "FAIL e2e/$name (rc=$rc, ${dur}s)"
        printf '%s\n' "$out" | tail -n 25 | sed 's/^/    /';;
  esac
done

for f in "${failed[@]+"${failed[@]}"}"; do echo "failed: $f"; done
if [ "$skip" -gt 0 ]; then echo "$pass passed, $fail failed, $skip skipped"; else echo "$pass passed, $fail failed"; fi
[ "$fail" -eq 0 ]
