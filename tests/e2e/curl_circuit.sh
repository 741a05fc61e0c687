#!/usr/bin/env bash
# curl_circuit.sh: an open circuit. One curl process fetches a URL on a port where nothing
# listens six times (serially, then through the multi interface with one transfer at a
# time): after cushion_failures = 3 refused transfers the circuit opens, and the rest fail at
# once with exit 7 and a message naming carom and the circuit, without a connect() to the
# endpoint (strace -f -e trace=connect counts them). Without the shim all six connect.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cmd curl
need_cmd strace
strace -f -o /dev/null true 2>/dev/null || skip "strace cannot trace here (ptrace restricted)"
need_sanitizer_ok curl --version

write_config <<'EOF2'
[defaults]
state = process
retries = 0
cushion = on
cushion_failures = 3
cushion_window = 6
cushion_half_open_ms = 60000
EOF2

port=$(free_port) # nothing listens there
url="http://127.0.0.1:$port/"
urls=("$url" "$url" "$url" "$url" "$url" "$url")
connects() { grep -Ec "connect\(.*htons\($port\)" "$T/strace" || true; }

# traced [shim|plain] CURL-ARGS...: curl under strace, the shim (or not) preloaded into curl
# only; sets OUT, ERR, RC, MS like run_plain.
traced() {
    local how=$1
    shift
    if [ "$how" = shim ]; then
        run_plain strace -f -qq -e trace=connect -o "$T/strace" \
            env LD_PRELOAD="$SHIM_PRELOAD" CAROM_CONFIG="$CFG" curl "$@"
    else
        run_plain strace -f -qq -e trace=connect -o "$T/strace" curl "$@"
    fi
}

traced plain -sS "${urls[@]}"
assert_eq "$RC" 7 "without the shim curl exits 7"
assert_eq "$(connects)" 6 "without the shim, connects to the port"
assert_eq "$(grep -c carom <<<"$ERR")" 0 "without the shim, no word of carom"

for mode in serial parallel; do
    if [ "$mode" = serial ]; then
        traced shim -sS "${urls[@]}"
    else
        traced shim -sS -Z --parallel-max 1 "${urls[@]}"
    fi
    assert_eq "$RC" 7 "$mode: with the circuit open curl exits 7"
    assert_eq "$(connects)" 3 "$mode: connects to the port (the rest failed fast)"
    assert_eq "$(grep -c "curl: (7) carom: circuit open for 127.0.0.1:$port (retry in [0-9]* s)" <<<"$ERR")" 3 \
        "$mode: curl names carom and the circuit for each transfer it refused"
    assert_le "$MS" 5000 "$mode: failing fast (ms)"
    log "$mode: $(connects) connects, $MS ms; $(grep carom <<<"$ERR" | head -n1)"
done
pass
