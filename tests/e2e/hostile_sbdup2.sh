#!/usr/bin/env bash
# hostile_sbdup2.sh: a program dup2()s (and dup3()s) its own TCP stream over carom's
# scoreboard socket, 300 times each, while two other threads make the shim emit events
# as fast as they can (connects to a dead port). TCP ignores sendto's address, so any
# datagram carom sends into the descriptor after dup2 returns lands in the program's
# stream: its peer must receive nothing. A live listener counts the events that did get
# through, so the test cannot pass with an emitter that sends nothing. It must never leave
# the listener running.
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
for how in dup2 dup3; do
    before=$(grep -c . "$EV")
    run_shim "$HOSTILE" sbdup2 "$dead" 300 "$how"
    log "$how: $OUT"
    assert_ok "$how over carom's socket: nothing may leak into the program's stream"
    assert_match "$OUT" "iterations=300 replaced=300 " "$how: every round found carom's socket and replaced it"
    assert_match "$OUT" " leaked_bytes=0 " "$how: bytes carom sent into the program's stream"
    sleep 0.3
    got=$(( $(grep -c . "$EV") - before ))
    assert_ge "$got" 300 "$how: events the listener received meanwhile (the emitter was busy)"
done
pass
