#!/usr/bin/env bash
# hostile_vfork_scoreboard.sh: a program that vforks 40 children, each closing every
# descriptor from 3 to 1023 before _exit (careful spawners do), with an event between
# children while a listener runs. A vfork child's close() runs in the parent's memory
# but closes only the child's copy: the parent's scoreboard socket must stay carom's, so
# the parent ends holding one such socket, not one leaked per child. Needs
# carom__emit_fd_closed (shim/events.c) to ignore closes made in a vfork child
# (carom__vfork_child(), shim/state.c). It must never leave the listener running.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
HOSTILE=$CAROM_ROOT/$BUILD/tests/prog/hostile
[ -x "$HOSTILE" ] || fail "$HOSTILE is missing: run make $BUILD/tests/prog/hostile"
CAROM=$CAROM_ROOT/$BUILD/carom
[ -x "$CAROM" ] || fail "$CAROM is missing: run make"

EV=$T/events.jsonl
"$CAROM" scoreboard --json >"$EV" 2>"$T/sb.err" &
_PIDS+=("$!")
for _ in $(seq 100); do [ -S "$CAROM_SCOREBOARD" ] && break; sleep 0.05; done
[ -S "$CAROM_SCOREBOARD" ] || fail "carom scoreboard did not start: $(cat "$T/sb.err")"

write_config <<'EOF2'
[defaults]
state = process
retries = 0
cushion = off
EOF2
dead=$(free_port)
run_shim "$HOSTILE" vforkfds "$dead" 40
log "$OUT"
assert_ok "vforkfds under the shim"
sleep 0.3
assert_ge "$(grep -c . "$EV")" 41 "events the listener received (one per round and one after)"
assert_match "$OUT" "rounds=40 unix_sockets=1$" "carom's sockets in the parent after 40 vfork children"
pass
