#!/usr/bin/env bash
# hostile_vfork_scoreboard.sh: a program that vforks 40 children, each closing every
# descriptor from 3 to 1023 before _exit (careful spawners do), with an event between
# children while a listener runs. A vfork child's close() runs in the parent's memory
# but closes only the child's copy: the parent's scoreboard socket must stay carom's, so
# the parent ends holding one such socket, not one leaked per child. Needs
# carom__emit_fd_closed (shim/events.c) to ignore closes made in a vfork child
# (carom__vfork_child(), shim/proc.c). It must never leave the listener running.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_hostile
start_scoreboard

write_config <<'EOF2'
[defaults]
state = process
retries = 0
EOF2
dead=$(free_port)
run_shim "$HOSTILE" vforkfds "$dead" 40
log "$OUT"
assert_ok "vforkfds under the shim"
sleep 0.3
assert_ge "$(grep -c . "$EV")" 41 "events the listener received (one per round and one after)"
assert_match "$OUT" "rounds=40 unix_sockets=1$" "carom's sockets in the parent after 40 vfork children"
pass
