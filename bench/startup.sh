#!/usr/bin/env bash
# bench/startup.sh: what the shim adds to a process that does nothing (/bin/true): loading
# it, reading and validating a realistic carom.ini (the repository's, state = shared) and
# attaching to shared memory; as instructions (callgrind) and as wall time (median of
# interleaved spawns), each against /bin/true without the shim in the same run. Prints
# `name value unit` lines; it must never report a figure it did not measure.
. "$(dirname "$0")/lib.sh"
need_valgrind
TRUE=$(command -v true | grep / || echo /bin/true)
[ -x "$TRUE" ] || TRUE=/bin/true
rc=0

# The repository's carom.ini, as a user would deploy it. Its segment is the one every
# user of that file shares, so it is left in place: most processes attach to an existing
# segment rather than create one, and that is the case measured after the first run.
export CAROM_CONFIG=$ROOT/carom.ini
check_config "$CAROM_CONFIG" || exit 1

# Instructions: the loader's work and libc's start-up vary by a few hundred instructions
# with the environment and address layout, so each side is the median of three runs.
plain=() shim=()
for i in 1 2 3; do
  plain+=("$(ir "$TRUE")") && shim+=("$(ir shim "$TRUE")") || { rc=1; break; }
done
if [ "$rc" = 0 ]; then
  p=$(printf '%s\n' "${plain[@]}" | median); s=$(printf '%s\n' "${shim[@]}" | median)
  echo "startup_base_instr $p instructions"
  echo "startup_extra_instr $((s - p)) instructions"
fi

# Wall time: spawn-to-exit, plain and preloaded runs interleaved.
if read -r pm sm p9 s9 < <("$BPROG/spawn" 500 "$SHIM" "$TRUE"); then
  echo "startup_base_us $(calc "$pm / 1000" 1) us"
  echo "startup_extra_us $(calc "($sm - $pm) / 1000" 1) us"
  echo "startup_extra_p90_us $(calc "($s9 - $p9) / 1000" 1) us"
else rc=1; fi

# Whether start-up attached to shared memory at all (this config's segment exists): the
# figures above include the attach only if so.
if [ -e "$(shm_path "$CAROM_CONFIG")" ]; then echo "startup_shm_attached 1 bool"
else echo "startup_shm_attached 0 bool"; fi
exit "$rc"
