#!/usr/bin/env bash
# scoreboard_prometheus.sh: `carom scoreboard --prometheus HOST:PORT` serves /metrics that
# Debian's python3-prometheus-client text parser accepts, with the carom_* families
# docs/scoreboard.md ("Prometheus metrics") names (shots by outcome, retry attempts,
# circuit state, retry delay histogram, chaos injections) holding the values real programs under the shim
# produced; hostile label text (quotes, backslashes, newlines) round-trips escaped, and
# garbage datagrams are counted, not served. Control: the same parser rejects a
# malformed exposition, so "accepted" means something. It must never pass on an empty
# exposition.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog
need_cmd curl

CAROM=$CAROM_ROOT/$BUILD/carom
[ -x "$CAROM" ] || fail "$CAROM is missing: run make"
# Debian's parser (make deps installs python3-prometheus-client), whichever python has it.
PROMPY=
for p in "$PYTHON" /usr/bin/python3; do
    if "$p" -c 'import prometheus_client.parser' 2>/dev/null; then PROMPY=$p; break; fi
done
[ -n "$PROMPY" ] || skip "python3-prometheus-client is not installed (make deps installs it)"

dead=$(free_port); live=$(free_port); chaosport=$(free_port); mport=$(free_port)
server "$live" echo
write_config <<EOF2
[defaults]
state = process
retries = 0
[deadpol]
match = 127.0.0.1:$dead
retries = 2
base_delay_ms = 20
jitter = none
cushion = on
; The run's one failed shot opens the circuit, so the exposition shows it open.
cushion_failures = 1
cushion_window = 5
[chaospol]
match = 127.0.0.1:$chaosport
chaos.connect_refuse = 1
EOF2

"$CAROM" scoreboard --prometheus "127.0.0.1:$mport" >"$T/sb.out" 2>"$T/sb.err" &
_PIDS+=("$!")
for _ in $(seq 100); do grep -q serving "$T/sb.err" 2>/dev/null && break; sleep 0.05; done
grep -q serving "$T/sb.err" || fail "carom scoreboard --prometheus did not start: $(cat "$T/sb.err")"

run_shim "$CPROG" errno 127.0.0.1 "$dead"
run_shim "$CPROG" connect 127.0.0.1 "$live"
assert_ok "connect to the live server"
run_shim "$CPROG" connect 127.0.0.1 "$live"
run_shim "$CPROG" errno 127.0.0.1 "$chaosport"
# Hostile text straight into the socket, and garbage.
"$PYTHON" - "$CAROM_SCOREBOARD" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
ev = {"ts": 1, "pid": 1, "event": "shot", "policy": 'we"ird\\pol\nicy', "endpoint": "x:1",
      "call": "connect", "attempt": 1, "elapsed_ms": 5}
s.sendto(json.dumps(ev).encode(), sys.argv[1])
s.sendto(b"not json at all", sys.argv[1])
s.sendto(b'{"event":"shot","nested":{"a":1}}', sys.argv[1])
PY

# Scrape until the last event is in (bounded), then parse what was served.
for _ in $(seq 50); do
    curl -sS -o "$T/metrics" "http://127.0.0.1:$mport/metrics" || true
    grep -q 'carom_scoreboard_invalid_total 2' "$T/metrics" 2>/dev/null && break
    sleep 0.1
done
[ -s "$T/metrics" ] || fail "nothing served at /metrics"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/nope")
assert_eq "$code" 404 "an unknown path"

"$PROMPY" - "$T/metrics" "$dead" "$live" "$chaosport" <<'PY' || fail "the exposition: $(head -c 3000 "$T/metrics")"
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
dead, live, chaos = ("127.0.0.1:" + p for p in sys.argv[2:5])

# Control: the parser is strict enough to reject a broken exposition.
try:
    list(text_string_to_metric_families('carom_x{policy="a} 1\n'))
    sys.exit("control: the parser accepted a malformed line")
except ValueError:
    pass

fams = {f.name: f for f in text_string_to_metric_families(text)}
want = {"carom_shots": "counter", "carom_retry_attempts": "counter",
        "carom_circuit_state": "gauge", "carom_retry_delay_seconds": "histogram",
        "carom_shot_duration_seconds": "histogram", "carom_chaos_injections": "counter",
        "carom_events": "counter", "carom_events_dropped": "counter"}
for name, typ in want.items():
    assert name in fams, "family %s missing: %s" % (name, sorted(fams))
    assert fams[name].type == typ, "%s is a %s" % (name, fams[name].type)
for name in fams:
    assert name.startswith("carom_"), name

def value(sample_name, **labels):
    for f in fams.values():
        for s in f.samples:
            if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    raise AssertionError("no sample %s%s" % (sample_name, labels))

assert value("carom_shots_total", policy="deadpol", endpoint=dead, outcome="ECONNREFUSED") == 1
assert value("carom_shots_total", policy="defaults", endpoint=live, outcome="ok") == 2
assert value("carom_retry_attempts_total", policy="deadpol", endpoint=dead) == 2
assert value("carom_circuit_state", policy="deadpol", endpoint=dead) == 1
assert value("carom_retry_delay_seconds_count", policy="deadpol", endpoint=dead) == 2
assert abs(value("carom_retry_delay_seconds_sum", policy="deadpol", endpoint=dead) - 0.06) < 1e-9
assert value("carom_retry_delay_seconds_bucket", policy="deadpol", endpoint=dead, le="0.025") == 1
assert value("carom_retry_delay_seconds_bucket", policy="deadpol", endpoint=dead, le="0.05") == 2
assert value("carom_retry_delay_seconds_bucket", policy="deadpol", endpoint=dead, le="+Inf") == 2
assert value("carom_chaos_injections_total", policy="chaospol", endpoint=chaos, fault="connect_refuse") == 1
assert value("carom_events_total", policy="deadpol", endpoint=dead, event="open") == 1
assert value("carom_shots_total", policy='we"ird\\pol\nicy', endpoint="x:1", outcome="ok") == 1
assert value("carom_scoreboard_invalid_total") == 2
print("%d families, %d samples" % (len(fams), sum(len(f.samples) for f in fams.values())), file=sys.stderr)
PY
pass "$(grep -vc '^#' "$T/metrics") samples parsed"
