#!/usr/bin/env bash
# hostile_config_trust.sh: carom.ini steers every connection a program makes (pockets
# redirect it, chaos breaks it), so the shim reads only a config no other user can have
# planted or edited. Each of these must be refused with one `carom: FILE:0: not trusted:
# ...` line, after which every call passes through untouched (a late server is then not
# reached): a FIFO named by CAROM_CONFIG (reading it would hang the program at start-up:
# it must start at once), a ./carom.ini owned by another user in the working directory
# (no CAROM_CONFIG), and a file of our own that every user may write. Control: the same
# file with mode 0644 is used and the late server reached. Needs root to give a file away.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog

retry_config
chmod 0644 "$CFG"
# attempt [VAR=VALUE...]: runs cprog against a fresh server 600 ms late from directory $T/wd,
# with the shim and the environment given (CAROM_CONFIG=... or nothing).
mkdir -p "$T/wd"
attempt() {
    local port; port=$(free_port)
    server "$port" echo 600
    CMD="(cd wd; $* cprog connect 127.0.0.1 $port)"
    local t0; t0=$(ms_now)
    (cd "$T/wd" && timeout -k 3 "$RUN_TIMEOUT" env -u CAROM_CONFIG HOME="$T/wd" XDG_CONFIG_HOME="$T/wd" \
        LD_PRELOAD="$SHIM_PRELOAD" "$@" "$CPROG" connect 127.0.0.1 "$port") >"$T/out" 2>"$T/err"
    RC=$?; MS=$(( $(ms_now) - t0 )); OUT=$(cat "$T/out"); ERR=$(cat "$T/err")
    log "$CMD: exit $RC after $MS ms: $(tr '\n' ' ' <<<"$ERR")"
}
refused() { # refused WHAT FILE: one line naming FILE, and no retries
    assert_failed "$1: calls pass through, so the late server is not reached"
    assert_eq "$(grep -c '^carom: ' <<<"$ERR")" 1 "$1: lines from carom"
    assert_contains "$ERR" "carom: $2:0: not trusted: " "$1"
}

attempt CAROM_CONFIG="$CFG"
assert_ok "control: our own 0644 config is used and the late server reached"
assert_eq "$OUT" "connect: ping" "control"

mkfifo "$T/fifo.ini"
attempt CAROM_CONFIG="$T/fifo.ini"
refused "a FIFO as the config" "$T/fifo.ini"
assert_contains "$ERR" "not a regular file" "a FIFO as the config"
assert_le "$MS" 500 "a FIFO as the config: the program must not wait for a writer (ms)"

cp "$CFG" "$T/wd/carom.ini"
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
    chown nobody "$T/wd/carom.ini"
    attempt
    refused "./carom.ini owned by another user" "carom.ini"
    assert_contains "$ERR" "owned by another user" "./carom.ini owned by another user"
    chown 0 "$T/wd/carom.ini"
    attempt
    assert_ok "./carom.ini of our own in the working directory is used"
else
    log "not root: the foreign-owner case is not run"
fi

chmod 0666 "$CFG"
attempt CAROM_CONFIG="$CFG"
refused "a config every user may write" "$CFG"
assert_contains "$ERR" "writable by every user" "a config every user may write"
pass
