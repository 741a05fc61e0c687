#!/usr/bin/env bash
# chaos_run_flag.sh: `carom run --chaos` turns chaos on for one run of a file that says
# `[chaos] enabled = off`, and a seed replays: CAROM_CHAOS_SEED overrides the file's.
# It must never pass if the file's switch were ignored either way.
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog
CAROM=$CAROM_ROOT/$BUILD/carom
# carom run appends the shim to LD_PRELOAD: a sanitizer runtime, when there is one, first.
rt=$(sanitizer_runtimes)
[ -z "$rt" ] || export LD_PRELOAD=$rt

port=$(free_port)
server "$port" echo 0
write_config <<EOF2
[defaults]
state = process
retries = 0
[chaos]
enabled = off
seed = 3
[127.0.0.1:$port]
chaos.connect_refuse = 0.5
EOF2
off=$(timeout 30 "$CAROM" run -c "$CFG" -- "$CPROG" loop 40 127.0.0.1 "$port" 2>&1)
assert_eq "$(grep -c ' OK OK ' <<<"$off")" 40 "enabled = off: no faults"
on=$(timeout 30 "$CAROM" run -c "$CFG" --chaos -- "$CPROG" loop 40 127.0.0.1 "$port")
n=$(grep -c ECONNREFUSED <<<"$on"); assert_ge "$n" 5 "--chaos: faults injected"
again=$(timeout 30 "$CAROM" run -c "$CFG" --chaos -- "$CPROG" loop 40 127.0.0.1 "$port")
assert_eq "$(grep -v ' OK OK ' <<<"$again" | awk '{print $1}')" "$(grep -v ' OK OK ' <<<"$on" | awk '{print $1}')" "seed 3 replays"
other=$(CAROM_CHAOS_SEED=4 timeout 30 "$CAROM" run -c "$CFG" --chaos -- "$CPROG" loop 40 127.0.0.1 "$port")
assert_ne "$(grep -v ' OK OK ' <<<"$other" | awk '{print $1}')" "$(grep -v ' OK OK ' <<<"$on" | awk '{print $1}')" "another seed, another sequence"
pass
