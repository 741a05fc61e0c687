#!/usr/bin/env bash
# scoreboard_events.sh: every event kind of docs/scoreboard.md ("Kinds"), received by `carom scoreboard
# --json` from real programs under the shim, checked for schema (one JSON object of at most
# 511 bytes, known fields of the right types) and content (policy, endpoint, call, attempt,
# delay, error): retry + shot + open from one retried connect, fail-fast in the next process
# (shared state), half_open + close when the port heals, budget_exhausted, pocket, timeout,
# chaos, stale_dns and config_error; and that no userinfo, query string, header or payload
# of a curl request ever appears. It must never pass on an empty or partial event stream:
# each kind is looked for by its own endpoint.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog
need_cmd curl

CAROM=$CAROM_ROOT/$BUILD/carom
[ -x "$CAROM" ] || fail "$CAROM is missing: run make"
EV=$T/events.jsonl
SHM=

trap '[ -z "$SHM" ] || rm -f "$SHM"; _cleanup' EXIT

# listen FILE ARGS...: carom scoreboard in the background until the test ends.
listen() {
    local out=$1 i=0; shift
    "$CAROM" scoreboard "$@" >"$out" 2>"$out.err" &
    _PIDS+=("$!")
    while [ ! -S "$CAROM_SCOREBOARD" ]; do
        i=$((i + 1)); [ "$i" -le 100 ] || fail "carom scoreboard did not create its socket"
        sleep 0.05
    done
}
# wait_events N ERE: until the stream holds N lines matching ERE (bounded: 5 s).
wait_events() {
    local i=0
    while [ "$(grep -Ec -- "$2" "$EV" 2>/dev/null || true)" -lt "$1" ]; do
        i=$((i + 1))
        if [ "$i" -gt 50 ]; then
            sed 's/^/  event: /' "$EV" | tail -n 30 >&2
            fail "expected $1 events matching /$2/"
        fi
        sleep 0.1
    done
}
# ev_count ERE: how many events match.
ev_count() { grep -Ec -- "$1" "$EV" || true; }

dead=$(free_port); dead2=$(free_port); dead3=$(free_port); dead5=$(free_port)
live=$(free_port); bh=$(free_port); dnsport=$(free_port); http=$(free_port)
server "$live" echo
server "$bh" blackhole
server "$http" http 0 --lifetime 60
http_count=$COUNT

write_config <<EOF2
[defaults]
state = shared
retries = 0
retry_budget_min_per_s = 100

[chaos]
seed = 7

[deadpol]
match = 127.0.0.1:$dead
retries = 2
base_delay_ms = 20
max_delay_ms = 1000
jitter = none
cushion = on
; One failed shot opens it here, so a single run shows retry, shot and open together.
cushion_failures = 1
cushion_window = 5
cushion_half_open_ms = 400

[budgetpol]
match = 127.0.0.1:$dead2
retries = 3
base_delay_ms = 10
retry_budget = 0%
retry_budget_min_per_s = 0

[pocketpol]
match = 127.0.0.1:$dead3
pocket = 127.0.0.1:$live

[slowpol]
match = 127.0.0.1:$bh
io_timeout_ms = 200

[chaospol]
match = 127.0.0.1:$dead5
chaos.connect_refuse = 1

[localhost:$dnsport]
chaos.dns_fail = 0.5
dns_stale_ms = 300000
EOF2
SHM=$(CAROM_CONFIG=$CFG "$CAROM" cushions --path) || fail "carom cushions --path"
listen "$EV" --json

# Control: without the shim nothing reaches the scoreboard.
run_plain "$CPROG" errno 127.0.0.1 "$dead"
assert_eq "$(head -c 12 <<<"$OUT")" "ECONNREFUSED" "control: the dead port refuses"

# 1. A retried connect: retry events for attempts 2 and 3 (delays 20 and 40 ms, jitter
#    none), one shot with attempt 3 and the error, and the circuit opening: the shot's
#    one outcome (its three attempts count once).
run_shim "$CPROG" errno 127.0.0.1 "$dead"
assert_eq "$(head -c 12 <<<"$OUT")" "ECONNREFUSED" "the program still sees the real errno"
EP="\"endpoint\":\"127.0.0.1:$dead\""
wait_events 1 "\"event\":\"open\".*$EP"
assert_eq "$(sleep 0.2; ev_count "\"event\":\"retry\".*$EP")" 2 "retry events for one retried connect"
assert_eq "$(ev_count "\"event\":\"shot\".*$EP")" 1 "shot events for one retried connect"
assert_eq "$(ev_count "\"event\":\"open\".*$EP")" 1 "open events"

# 2. The next process fails fast on the shared open circuit: a shot with no attempt made.
run_shim "$CPROG" errno 127.0.0.1 "$dead"
read -r name ms <<<"$OUT"
assert_eq "$name" ECONNREFUSED "open circuit: open_errno"
assert_le "$ms" 100 "open circuit: the next process fails at once (ms)"
wait_events 2 "\"event\":\"shot\".*$EP"

# 3. The port heals; after cushion_half_open_ms the next call is a probe that closes it.
server "$dead" echo
sleep 0.5
run_shim "$CPROG" connect 127.0.0.1 "$dead"
assert_ok "the probe connects to the healed port"
wait_events 1 "\"event\":\"close\".*$EP"
wait_events 1 "\"event\":\"half_open\".*$EP"

# 4. budget_exhausted: a 0% budget with no floor denies the first retry.
run_shim "$CPROG" errno 127.0.0.1 "$dead2"
wait_events 1 "\"event\":\"budget_exhausted\".*\"endpoint\":\"127.0.0.1:$dead2\""

# 5. pocket: the dead endpoint falls back to the live one.
run_shim "$CPROG" connect 127.0.0.1 "$dead3"
assert_ok "pocket fallback"
wait_events 1 "\"event\":\"pocket\".*\"endpoint\":\"127.0.0.1:$dead3\""

# 6. timeout: a blocking recv from a server that never answers.
RUN_TIMEOUT=8 run_shim "$CPROG" recv 127.0.0.1 "$bh"
assert_failed "recv from the black hole times out"
wait_events 1 "\"event\":\"timeout\".*\"endpoint\":\"127.0.0.1:$bh\""

# 7. chaos: an injected refusal.
run_shim "$CPROG" errno 127.0.0.1 "$dead5"
wait_events 1 "\"event\":\"chaos\".*\"endpoint\":\"127.0.0.1:$dead5\""

# 8. stale_dns: half of all resolutions of localhost fail (chaos); after a good answer the
#    failures are served the stale one.
run_shim "$PYTHON" -c '
import socket, sys
for i in range(30):
    try:
        socket.getaddrinfo("localhost", int(sys.argv[1]), socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror:
        pass' "$dnsport"
wait_events 1 "\"event\":\"stale_dns\".*\"endpoint\":\"localhost:$dnsport\""

# 9. config_error: a bad file, reported once on stderr and once as an event.
printf '[defaults]\nretries = lots\n' >"$T/bad.ini"
run_shim CAROM_CONFIG="$T/bad.ini" "$CPROG" errno 127.0.0.1 "$dead2"
assert_contains "$ERR" "retries" "the config error is printed"
wait_events 1 '"event":"config_error".*retries.*lots'

# 10. No secret from a request ever appears: userinfo, query, fragment, header, payload,
#     on a live HTTP server (the request is made) and on a dead port (it is retried).
#     (curl hangs with some sanitizer runtimes preloaded even without the shim: then this
#     part is left out, said aloud.)
if [ -n "${SANITIZER:-}" ] && ! timeout -k 2 5 env LD_PRELOAD="$(sanitizer_runtimes)" curl --version >/dev/null 2>&1; then
    log "curl does not run with the $SANITIZER runtime preloaded: secrets part skipped"
else
run_shim curl -sS -m 5 -H 'X-Api-Key: HDRSECRET' --data 'PAYLOADSECRET' \
    "http://alice:PWSECRET@127.0.0.1:$http/path?token=QSECRET#FRAGSECRET"
assert_ok "curl to the live server"
assert_ge "$(count_lines "$http_count" '^req')" 1 "the server saw the request"
run_shim curl -sS -m 5 "http://alice:PWSECRET@127.0.0.1:$dead2/p?token=QSECRET"
assert_failed "curl to the dead port"
wait_events 1 "\"event\":\"shot\".*\"endpoint\":\"127.0.0.1:$http\""
wait_events 2 "\"event\":\"shot\".*\"endpoint\":\"127.0.0.1:$dead2\""
if grep -E 'SECRET|alice|token' "$EV"; then fail "a secret reached the scoreboard"; fi
fi

# Schema and content of every event received.
"$PYTHON" - "$EV" "$dead" "$dead2" "$dead3" "$bh" "$dead5" "$dnsport" <<'PY' || fail "event schema/content"
import json, sys, time
path, dead, dead2, dead3, bh, dead5, dnsport = sys.argv[1:]
KINDS = {"shot", "retry", "open", "half_open", "close", "timeout", "pocket", "stale_dns",
         "budget_exhausted", "chaos", "config_error"}
STR = {"event", "policy", "endpoint", "call", "error", "detail"}
INT = {"ts", "pid", "attempt", "delay_ms", "elapsed_ms", "dropped"}
NEED = {"shot": {"policy", "endpoint", "call"},
        "retry": {"policy", "endpoint", "call", "attempt", "delay_ms", "error"},
        "open": {"policy", "endpoint", "call"}, "half_open": {"policy", "endpoint", "call"},
        "close": {"policy", "endpoint", "call"},
        "timeout": {"policy", "endpoint", "call", "elapsed_ms", "error"},
        "pocket": {"policy", "endpoint", "call", "detail"},
        "stale_dns": {"policy", "endpoint", "call", "elapsed_ms", "error"},
        "budget_exhausted": {"policy", "endpoint", "call", "attempt", "error"},
        "chaos": {"policy", "endpoint", "call", "error", "detail"},
        "config_error": {"detail"}}
bad = []
evs = []
now = time.time_ns()
for n, raw in enumerate(open(path, "rb"), 1):
    raw = raw.rstrip(b"\n")
    if len(raw) > 511:
        bad.append("line %d: %d bytes" % (n, len(raw)))
    try:
        e = json.loads(raw.decode("utf-8"))
    except ValueError as x:
        bad.append("line %d: not JSON: %s" % (n, x)); continue
    if not isinstance(e, dict):
        bad.append("line %d: not an object" % n); continue
    for k, v in e.items():
        if k in STR and not isinstance(v, str): bad.append("line %d: %s not a string" % (n, k))
        elif k in INT and (not isinstance(v, int) or v < 0): bad.append("line %d: %s not a count" % (n, k))
        elif k not in STR | INT: bad.append("line %d: unknown field %s" % (n, k))
    if e.get("event") not in KINDS: bad.append("line %d: unknown event %r" % (n, e.get("event"))); continue
    miss = ({"ts", "pid"} | NEED[e["event"]]) - set(e)
    if miss: bad.append("line %d: %s lacks %s" % (n, e["event"], sorted(miss)))
    if abs(e.get("ts", 0) - now) > 600e9: bad.append("line %d: ts is not now" % n)
    evs.append(e)
seen = {e["event"] for e in evs}
if KINDS - seen: bad.append("kinds never seen: %s" % sorted(KINDS - seen))

def of(kind, port):
    return [e for e in evs if e["event"] == kind and e.get("endpoint") == "127.0.0.1:" + port]
r = of("retry", dead)
want = [("deadpol", "connect", 2, 20, "ECONNREFUSED"), ("deadpol", "connect", 3, 40, "ECONNREFUSED")]
got = [(e["policy"], e["call"], e["attempt"], e["delay_ms"], e["error"]) for e in r]
if got != want: bad.append("retry events: %s, want %s" % (got, want))
s = of("shot", dead)
if not s or (s[0]["policy"], s[0]["call"], s[0].get("attempt"), s[0].get("error")) != ("deadpol", "connect", 3, "ECONNREFUSED"):
    bad.append("first shot: %s" % s[:1])
elif s[0].get("elapsed_ms", 0) < 55: bad.append("shot elapsed_ms %s < the 60 ms of delays" % s[0].get("elapsed_ms"))
if len(s) < 3 or "attempt" in s[1] or s[1].get("error") != "ECONNREFUSED": bad.append("fail-fast shot: %s" % s[1:2])
if len(s) < 3 or "error" in s[2]: bad.append("the healed port's shot should be ok: %s" % s[2:3])
if [e["pid"] for e in of("open", dead)] != [s[0]["pid"]]: bad.append("open came from another process")
b = of("budget_exhausted", dead2)
if not b or (b[0]["policy"], b[0]["attempt"], b[0]["error"]) != ("budgetpol", 2, "ECONNREFUSED"): bad.append("budget_exhausted: %s" % b)
p = of("pocket", dead3)
if not p or p[0]["policy"] != "pocketpol" or p[0]["detail"] != "127.0.0.1": bad.append("pocket: %s" % p)
t = of("timeout", bh)
if not t or (t[0]["policy"], t[0]["call"], t[0]["error"], t[0]["elapsed_ms"]) != ("slowpol", "recv", "ETIMEDOUT", 200): bad.append("timeout: %s" % t)
c = of("chaos", dead5)
if not c or (c[0]["policy"], c[0]["call"], c[0]["error"]) != ("chaospol", "connect", "connect_refuse") or "seed=7" not in c[0]["detail"]: bad.append("chaos: %s" % c)
d = [e for e in evs if e["event"] == "stale_dns"]
if not d or d[0]["endpoint"] != "localhost:" + dnsport or d[0]["call"] != "getaddrinfo": bad.append("stale_dns: %s" % d[:1])
for line in bad: print(line)
print("%d events, %d kinds" % (len(evs), len(seen)), file=sys.stderr)
sys.exit(1 if bad else 0)
PY
pass "$(wc -l <"$EV") events, all 11 kinds"
