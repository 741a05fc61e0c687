#!/usr/bin/env bash
# bench/startup.sh: what the shim adds to the start of a process: one that does nothing
# (/bin/true: loading the shim, reading and validating a realistic carom.ini, the
# repository's, state = shared), and one that makes a single connection (the same, plus
# attaching to shared memory, which the shim does at the first endpoint look-up); as
# instructions (callgrind) and as wall time (median of interleaved spawns), each against
# the same program without the shim in the same run. Prints `name value unit` lines; it
# must never report a figure it did not measure.
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
need_valgrind
TRUE=$(command -v true | grep / || echo /bin/true)
[ -x "$TRUE" ] || TRUE=/bin/true
rc=0

# The repository's carom.ini as a user would deploy it, plus a marker line: its bytes name
# the shared-memory segment, so the copy gets a segment of its own, removed afterwards,
# and the benchmark's endpoints never land in the circuits of whoever uses the original.
{ echo "; carom bench: startup"; cat carom.ini; } >"$tmp/carom.ini"
export CAROM_CONFIG=$tmp/carom.ini
check_config "$CAROM_CONFIG" || exit 1
grep -Eq '^state *= *shared' "$CAROM_CONFIG" || say "note: carom.ini does not say state = shared"
shm_config "$CAROM_CONFIG"

# figure NAME PROGRAM ARGS...: instructions and wall time the shim adds to one run.
figure() {
  local name=$1 plain=() shim=() i p s pw dw d9 pc dc
  shift
  # The loader's work and libc's start-up vary by a few hundred instructions with the
  # environment and address layout, so each side is the median of three runs.
  for ((i = 1; i <= $(reps 3); i++)); do
    plain+=("$(ir "$@")") && shim+=("$(ir shim "$@")") || return 1
  done
  p=$(printf '%s\n' "${plain[@]}" | median) s=$(printf '%s\n' "${shim[@]}" | median)
  echo "${name}_base_instr $p instructions"
  echo "${name}_extra_instr $((s - p)) instructions"
  # Wall and CPU time: spawn to reaped exit, plain and preloaded runs interleaved; the
  # differences are per pair, then the median (p90 for wall time).
  "$BPROG/spawn" "$(iters 400)" "$SHIM" "$@" >"$tmp/spawn.out" || return 1
  read -r pw dw d9 pc dc <"$tmp/spawn.out" && [ -n "${dc:-}" ] || return 1
  echo "${name}_base_us $(calc "$pw / 1000" 1) us"
  echo "${name}_extra_us $(calc "$dw / 1000" 1) us"
  echo "${name}_extra_p90_us $(calc "$d9 / 1000" 1) us"
  echo "${name}_base_cpu_us $(calc "$pc / 1000" 1) us"
  echo "${name}_extra_cpu_us $(calc "$dc / 1000" 1) us"
}

figure startup "$TRUE" >"$tmp/figures" || rc=1
cat "$tmp/figures"

# The same start-up against other preload libraries from Debian (`make deps` installs
# them), in the same run and measured the same way: /bin/true under each, loaded as a user
# would with its minimal configuration (socket_wrapper without SOCKET_WRAPPER_DIR, which
# leaves it loaded but idle; libfaketime without FAKETIME; proxychains with a one-line
# proxy list on 127.0.0.1 that /bin/true never uses). A ratio, not a verdict: each does
# different work. A library that is missing is an error, not a silent gap.
printf 'strict_chain\nquiet_mode\n[ProxyList]\nsocks5 127.0.0.1 9\n' >"$tmp/proxychains.conf"
# libpath PACKAGE FILE-NAME: where the package put that library.
libpath() { dpkg -L "$1" 2>/dev/null | grep -m 1 "/$2\$"; }
carom_extra=$(awk '$1 == "startup_extra_instr" { print $2 }' "$tmp/figures" 2>/dev/null)
for spec in "socket_wrapper libsocket-wrapper libsocket_wrapper.so" \
  "libfaketime libfaketime libfaketime.so.1" "proxychains libproxychains4 libproxychains.so.4"; do
  read -r name pkg file <<<"$spec"
  lib=$(libpath "$pkg" "$file")
  if [ -z "$lib" ] || [ ! -e "$lib" ]; then
    say "$pkg is not installed (make deps installs it): no $name comparison"
    rc=1
    continue
  fi
  p=() s=()
  for ((i = 1; i <= $(reps 3); i++)); do
    p+=("$(ir "$TRUE")") && s+=("$(PROXYCHAINS_CONF_FILE=$tmp/proxychains.conf PROXYCHAINS_QUIET_MODE=1 ir "preload=$lib" "$TRUE")") || { rc=1; continue 2; }
  done
  pm=$(printf '%s\n' "${p[@]}" | median) sm=$(printf '%s\n' "${s[@]}" | median)
  echo "startup_preload_${name}_extra_instr $((sm - pm)) instructions"
  # carom's start-up over theirs: below 1, carom adds less.
  [ -n "$carom_extra" ] && echo "startup_preload_${name}_carom_ratio $(calc "$carom_extra / ($sm - $pm)" 3) x"
done
attached=0
[ -e "$(shm_path "$CAROM_CONFIG")" ] && attached=1
# /bin/true opens no connection, so by design it never attaches (shim/shm.c attaches at
# the first endpoint look-up, sparing the many processes of a script that never connect).
echo "startup_shm_attached $attached bool"
# One connection to a listener of its own (io_loop connect 1): start-up, the attach to
# the segment (which the first run created; later runs attach to it, as most processes
# do) and one connect.
figure startup_connect "$BPROG/io_loop" connect 1 || rc=1
attached=0
[ -e "$(shm_path "$CAROM_CONFIG")" ] && attached=1
echo "startup_connect_shm_attached $attached bool"
exit "$rc"
