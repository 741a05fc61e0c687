#!/usr/bin/env bash
# bench/report.sh: turns the `name value unit` lines of one `make bench` run (a file, $1)
# into bench/RESULTS.md's markdown on stdout: the machine, the targets of the benchmark
# issue with met or missed (by how much, and why), then every figure. $2 is the run's
# length in seconds, $3 the load average when it started. It must never invent or round
# away a figure: what was not measured shows as "not measured" and counts as a miss.
set -u
in=$1 secs=${2:-?} load=${3:-?}

declare -A val unit
while read -r n v u; do
  [ -n "${n:-}" ] && [ -n "${v:-}" ] || continue
  val[$n]=$v unit[$n]=${u:-}
done <"$in"

# name  kind  threshold-or-reference. The first six are the cost goals (instructions
# callgrind counts, the shim's extra over the plain program): per call on an untracked
# descriptor, per send/recv on a tracked socket, per socket+connect+close, per
# getaddrinfo+freeaddrinfo, start-up of /bin/true, start-up plus one connect.
TARGETS=(
  "shim_untracked_fd_extra_instr le 12"
  "shim_tracked_socket_extra_instr le 80"
  "shim_connect_extra_instr le 600"
  "shim_getaddrinfo_extra_instr le 800"
  "startup_extra_instr le 30000"
  "startup_connect_extra_instr le 150000"
  "startup_extra_us lt 1000"
  "startup_connect_extra_us lt 1000"
  "sidecar_echo_ratio_p50 ge 20"
  "sidecar_echo_ratio_p99 ge 20"
  "sidecar_http_ratio_p50 ge 20"
  "sidecar_http_ratio_p99 ge 20"
  "scale_tracked_socket_10000_sockets_extra_instr flat scale_tracked_socket_10_sockets_extra_instr"
  "scale_connect_1000_policies_extra_instr flat scale_connect_10_policies_extra_instr"
  "scale_getaddrinfo_1000_policies_extra_instr flat scale_getaddrinfo_10_policies_extra_instr"
  "scale_connect_1000_cushions_extra_instr flat scale_connect_10_cushions_extra_instr"
)

# Why a target can be missed, from what the code does; shown only for a miss.
declare -A WHY=(
  [shim_untracked_fd_extra_instr]="the pass-through on an untracked descriptor is meant to be one bounds check, one load of the fd table and the indirect call to libc; anything above that is new work on the path every pipe, file and terminal I/O call of the program takes (see shim/io.c carom_read and carom__fd in shim/carom_shim.h)."
  [shim_tracked_socket_extra_instr]="a tracked socket without io_timeout_ms takes the out-of-line path (io_before, the real call, io_ok); cost above the target means that path does more than check the policy and the connect state (shim/io.c IO_BODY)."
  [shim_connect_extra_instr]="a connect whose circuit is closed takes the unguarded fast path (docs/performance.md): the per-thread endpoint cache, the cushion's ticket and outcome, the budget's count and two clock reads; a miss of that cache (a new endpoint, a reload, an evicted slot) or a cushion that is not closed sends it to the full shot. callgrind_annotate --inclusive=yes on io_loop connect N under the shim shows which part grew."
  [shim_getaddrinfo_extra_instr]="the policy match on the name and, unless this thread learned the same answer under five seconds ago, learning every answer's addresses and storing the stale answer (shim/dns.c); callgrind_annotate on io_loop getaddrinfo N shows which part grew."
  [startup_extra_instr]="what remains at load is the loader mapping and relocating the shim (lazily bound: -z lazy) and its constructor (the owner pid and fork handlers, shim/init.c carom_ctor); callgrind_annotate on /bin/true under the shim shows which grew."
  [startup_connect_extra_instr]="the first socket() parses and validates carom.ini (carom_policy_parse, policy/reader.c and build.c: about 59,000 instructions for the repository's carom.ini, most of it the per-line checks and the values of its 57 keys), then binds each libc symbol it calls at its first call (dlsym, about 900 each, and lazy PLT binding) and attaches to shared memory; making the parse cheaper is the way down."
  [startup_extra_us]="wall time includes waiting for a CPU: on a busy machine (see the load average above) every microsecond of work takes several, so compare \`startup_extra_cpu_us\` (@startup_extra_cpu_us@ us), the CPU time the shim adds. The work itself is the loader mapping and relocating the shim (-z now), pthread_once init, parsing and validating carom.ini, the learned-names table and the fd table mapping (shim/init.c init_once_fn; the shared-memory attach is not part of it, it happens at the first endpoint look-up); callgrind_annotate on /bin/true under the shim shows which grew."
  [startup_connect_extra_us]="as for startup_extra_us, wall time on a busy machine includes waiting for a CPU (compare \`startup_connect_extra_cpu_us\`, @startup_connect_extra_cpu_us@ us); on top of plain start-up, the first endpoint look-up attaches to the shared-memory segment (open, fstat, mmap and validating the header, shim/shm.c carom__shm_attach); callgrind_annotate on io_loop connect 1 under the shim shows which part grew."
  [sidecar_echo_ratio_p50]="the ratio divides haproxy's added latency by carom's, and carom's counts as no less than the measurement noise (half the disagreement of two direct runs, at least 0.05 us): on a loaded machine the noise, not carom, bounds the ratio."
  [sidecar_echo_ratio_p99]="p99 of 20,000 round trips is the 200th slowest: scheduler and interrupt noise on a shared 2-core machine dominates it, and carom's added p99 counts as no less than that noise, which then bounds the ratio."
  [sidecar_http_ratio_p50]="as for echo: the ratio is bounded by the measurement noise floor that carom's added latency is held to."
  [sidecar_http_ratio_p99]="as for echo p99: the tail is dominated by scheduling noise, which bounds the ratio through the noise floor."
  [scale_tracked_socket_10000_sockets_extra_instr]="the fd table is an array indexed by descriptor, so the look-up itself cannot grow; growth here would come from work proportional to open sockets on the I/O path."
  [scale_connect_1000_policies_extra_instr]="policy matching is hash probes per pattern kind plus one probe per distinct CIDR prefix length (policy/match.c); growth means a look-up became proportional to the number of policies."
  [scale_getaddrinfo_1000_policies_extra_instr]="getaddrinfo matches the name once per label of the host name (policy/match.c); growth means the match became proportional to the number of policies."
  [scale_connect_1000_cushions_extra_instr]="the shared slot table (shim/shm.c) probes at most 32 slots from the key's hash; with 1,000 of 4,096 slots taken, longer probe runs (clustering) cost a few string compares more."
)

fmt_target() { # kind thr -> text
  case $1 in
  lt) echo "< $2" ;;
  le) echo "≤ $2" ;;
  ge) echo "≥ $2" ;;
  flat) echo "flat: within 10% (or 5 instructions) of ${val[$2]:-?} at the small scale" ;;
  esac
}

# verdict NAME KIND THR: prints "yes", "no|HOW MUCH" or "no|not measured".
verdict() {
  local v=${val[$1]:-}
  [ -n "$v" ] || { echo "no|not measured"; return; }
  case $2 in
  lt) awk -v v="$v" -v t="$3" 'BEGIN { if (v + 0 < t + 0) print "yes";
        else printf "no|%g over the target of %g (%.0f%% over)\n", v - t, t, (v - t) * 100 / t }' ;;
  le) awk -v v="$v" -v t="$3" 'BEGIN { if (v + 0 <= t + 0) print "yes";
        else printf "no|%g over the target of %g (%.0f%% over)\n", v - t, t, (v - t) * 100 / t }' ;;
  ge) awk -v v="$v" -v t="$3" 'BEGIN { if (v + 0 >= t + 0) print "yes";
        else printf "no|%gx short of the target of %gx (%.0f%% of it)\n", t - v, t, v * 100 / t }' ;;
  flat)
    local s=${val[$3]:-}
    [ -n "$s" ] || { echo "no|small-scale figure not measured"; return; }
    awk -v v="$v" -v s="$s" 'BEGIN { d = v - s; lim = s * 0.10; if (lim < 5) lim = 5;
        if (d <= lim) print "yes";
        else printf "no|grew by %g instructions (%.1f%%) from the small scale, allowed %g\n", d, d * 100 / s, lim }' ;;
  esac
}

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
os=$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-?}")
ver() { "$@" 2>&1 | head -n 1; }

cat <<EOF
# carom benchmark results

Written by \`make bench\` (bench/run.sh, then bench/report.sh); do not edit by hand, run it
again. Every figure is a ratio, or a difference against a baseline measured in the same
run. Instruction counts come from \`valgrind --tool=callgrind\` (user-space instructions:
the program, libc and the shim, not the kernel); wall-clock medians of repeated,
interleaved runs sit beside them.

| machine | |
|---|---|
| date | $(date -u '+%Y-%m-%d %H:%M UTC') |
| cores (nproc) | $(nproc) |
| CPU | ${cpu:-?} |
| memory | $mem |
| kernel | $(uname -sr) |
| system | $os |
| load average at start | $load |
| tools | $(ver valgrind --version), $(ver haproxy -v | cut -d' ' -f1-3), $(ver curl --version | cut -d' ' -f1-2) |
| bench/run.sh run time (after the build) | ${secs} s |

## Targets

| figure | value | unit | target | met? |
|---|---|---|---|---|
EOF

misses=()
for t in "${TARGETS[@]}"; do
  read -r n k thr <<<"$t"
  r=$(verdict "$n" "$k" "$thr")
  m=${r%%|*}
  [ "$m" = yes ] || misses+=("$n|${r#*|}")
  printf '| %s | %s | %s | %s | %s |\n' "$n" "${val[$n]:-—}" "${unit[$n]:-}" "$(fmt_target "$k" "$thr")" \
    "$([ "$m" = yes ] && echo yes || echo '**no**')"
done

echo
if [ ${#misses[@]} -eq 0 ]; then
  echo "Every target is met."
else
  echo "## Missed targets"
  echo
  for m in "${misses[@]}"; do
    n=${m%%|*} how=${m#*|}
    if [ "${how#not measured}" != "$how" ] || [ "${how%not measured}" != "$how" ]; then
      why="the benchmark that makes it failed or did not run; bench/run.sh's error output names it."
    else
      why=${WHY[$n]:-see the section of the figure below.}
      # @name@ in a reason stands for that figure's value in this run.
      while [[ $why =~ @([a-z0-9_]+)@ ]]; do
        why=${why//"${BASH_REMATCH[0]}"/${val[${BASH_REMATCH[1]}]:-not measured}}
      done
    fi
    echo "- **$n**: $how. Why: $why"
  done
fi

# Every figure, grouped by the script that made it.
section() { # title name-regex explanation [not]: figures matching (or, with "not", not matching)
  local rows
  rows=$(awk -v re="$2" -v neg="${4:-}" '(neg == "" && $1 ~ re) || (neg != "" && $1 !~ re) { print }' "$in")
  [ -n "$rows" ] || return 0
  printf '\n## %s\n\n%s\n\n| figure | value | unit | target | met? |\n|---|---|---|---|---|\n' "$1" "$3"
  while read -r n v u; do
    local tt="—" mm="—" t
    for t in "${TARGETS[@]}"; do
      read -r tn tk tthr <<<"$t"
      if [ "$tn" = "$n" ]; then
        tt=$(fmt_target "$tk" "$tthr")
        mm=$(verdict "$tn" "$tk" "$tthr"); mm=${mm%%|*}
        [ "$mm" = yes ] || mm='**no**'
      fi
    done
    printf '| %s | %s | %s | %s | %s |\n' "$n" "$v" "$u" "$tt" "$mm"
  done <<<"$rows"
}

section "Hot path: cost per wrapped call (bench/shim_cost.sh)" '^shim_' \
"\`*_extra_instr\`: instructions the shim adds per call, from two callgrind runs at two
iteration counts with and without the shim, so start-up cancels out; \`*_base_instr\`: the
plain program's own instructions per call (the kernel's work is not counted).
\`*_wall_ratio\`: the loop's wall time with the shim over without, timing only the
chunks of a plain and a shim run taking turns (a token passed round two FIFOs), median
of 3. Config: an empty \`[defaults]\` (state = shared, no io_timeout_ms), except for
\`*_io_timeout_*\` (io_timeout_ms = 1000: two more system calls per tracked call, which
callgrind does not count and the wall clock does)."

section "Start-up (bench/startup.sh)" '^startup_[^p]' \
"With the repository's carom.ini (state = shared; a copy with a marker line, so it has a
shared-memory segment of its own). \`startup_*\`: /bin/true, which never touches the
network, so the shim neither reads carom.ini nor binds libc's symbols nor attaches to
shared memory: all three happen at the first wrapped call that needs them (here
\`startup_connect_*\`'s first socket()). \`startup_connect_*\`: a process that makes one
connection (io_loop connect 1): start-up, reading and validating carom.ini, binding,
attaching to the segment and one connect. Instructions: median of 3 callgrind runs each;
wall time: spawn to reaped exit, 400 interleaved pairs, median and p90 of the per-pair
differences; \`*_cpu_us\`: the same for the child's CPU time (user + system, from wait4),
which waiting for a CPU on a busy machine does not inflate. \`*_shm_attached\`: whether
the config's segment existed after the runs."

# Start-up against other preload libraries: a ratio table, not a verdict.
if grep -q '^startup_preload_' "$in"; then
  printf '\n## Start-up against other preload libraries (bench/startup.sh)\n\n'
  cat <<'EOT'
/bin/true under each library, measured the same way and in the same run as
`startup_extra_instr` (callgrind, median of 3, the plain run subtracted), each loaded as a
user would with its minimal configuration: socket_wrapper (Debian `libsocket-wrapper`)
without SOCKET_WRAPPER_DIR, so loaded but idle; libfaketime without FAKETIME;
proxychains-ng (`libproxychains4`) with a one-line proxy list. `make deps` installs them.
Each does different work at load: a ratio, not a pass or fail.

EOT
  printf '| library | extra instructions at start-up | carom over it |\n|---|---|---|\n'
  printf '| carom | %s | 1 |\n' "${val[startup_extra_instr]:-not measured}"
  for lib in socket_wrapper libfaketime proxychains; do
    printf '| %s | %s | %s |\n' "$lib" "${val[startup_preload_${lib}_extra_instr]:-not measured}" \
      "${val[startup_preload_${lib}_carom_ratio]:-—}"
  done
fi

section "Engine and other benchmark programs (bench/*.c)" '^(shim|startup|sidecar|scale|recovery)_' \
"The \`core/\` and policy figures, in ns per operation with the empty loop's cost
subtracted (median of repetitions), from every benchmark program in bench/*.c." not

section "Against a sidecar (bench/sidecar.sh)" '^sidecar_' \
"bench/prog/rr_client against bench/prog/rr_server on loopback: 1-byte echo and keep-alive
HTTP GET; direct, direct with the shim and a retry policy (retries = 3), and through
haproxy (bench/haproxy.cfg: retries 3, redispatch, health checks, HTTP connection
reuse). Four clients (direct, carom, haproxy, direct again) run at once but take turns,
passing a token round a ring of FIFOs every 500 round trips, so load from elsewhere on
the machine falls on every way alike; client, server and haproxy share one CPU, so a
round trip is the work each path does rather than a cross-CPU wake-up. Per client and
round: 20,000 timed round trips on one connection (p50, p99), then 40 turns of 500 on
each of 2 connections at once (\`rps\`). \`added\` = a way's figure minus the mean of
the two direct clients', median over 6 rounds (the ring's order cycles so that no way
always follows haproxy's turn); \`noise\` = half the two direct clients' disagreement;
\`ratio\` = haproxy's added latency over carom's, carom's counted as no less than the
noise (and 0.05 us), so a difference lost in noise cannot flatter it."

section "Scale (bench/scale.sh)" '^scale_' \
"Extra instructions per call as in the hot-path section, with 10 vs 10,000 open tracked
TCP sockets (the measured one has the highest descriptor), 10 vs 1,000 policies of every
pattern kind (the measured endpoints match none, so look-ups take the longest path), and
10 vs 1,000 cushions in shared memory (a fresh segment per run)."

section "Recovery (bench/recovery.sh)" '^recovery_' \
"tests/servers/flaky.py refuses connections for its first 500 ms, then answers HTTP; the
clock starts when the server is launched (python's start-up included: the server is up
after \`recovery_server_up_ms\`). curl under carom's default policy (retries = 3, 100 ms
decorrelated jitter, state = shared with the segment emptied before each run), curl's own
\`--retry 3 --retry-connrefused\` (waits 1 s, then doubles), and curl alone, 7 runs each,
interleaved. Median over runs, a run that never succeeded counting as inf;
\`*_after_up_ms\`: how long after the server came up the client got its answer, the
price of the backoff schedule itself. carom's default can give up: its three delays
(d1 from 100-300 ms, each next from 100 ms to 3x the last) sum to less than the
server's ~590 ms in about 14% of runs (simulated), so about one run in seven fails; a
policy meant to outlast a restart sets retries or deadline_ms for it."
