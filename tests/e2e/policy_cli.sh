#!/usr/bin/env bash
# policy_cli.sh: `carom check` and `carom explain` as a user runs them: exit statuses, the
# diagnostic lines on stderr, the -v table, explain's first line and its full key list,
# file discovery and usage errors. It must never read the developer's own carom.ini:
# every run points at a file this script wrote, or at none, with HOME and XDG moved.
. "$(dirname "$0")/../lib.sh"

CAROM=$CAROM_ROOT/$BUILD/carom
[ -x "$CAROM" ] || fail "$CAROM is missing: run make"

# Discovery must see only what this script puts there; the test file is not named
# carom.ini, so that running in $T does not find it by accident.
CFG=$T/policy.ini
export HOME=$T/home XDG_CONFIG_HOME=$T/xdg
mkdir -p "$HOME" "$XDG_CONFIG_HOME"
cd "$T" || fail "cannot cd to $T"

# ---- the shipped example passes ---------------------------------------------------------
run_plain "$CAROM" check "$CAROM_ROOT/carom.ini"
assert_ok "the example carom.ini must pass carom check"
assert_eq "$(grep -c '^carom: .*:[0-9]*: ' <<<"$ERR")" 0 "no diagnostics for the example"

# ---- a bad file: one line per problem, exit 1 -----------------------------------------
write_config <<'EOF'
[defaults]
retries = lots
retrys = 5

[payments]
match = api.example.com:70000
max_delay_ms = 50
base_delay_ms = 60
EOF
run_plain "$CAROM" check "$CFG"
assert_eq "$RC" 1 "a bad file exits 1"
assert_eq "$OUT" "" "diagnostics go to stderr, not stdout"
want="carom: $CFG:2: retries: expected a whole number 0..100, got \"lots\"
carom: $CFG:3: retrys: unknown key (did you mean \"retries\"?), got \"5\"
carom: $CFG:6: match: port must be 1..65535 or *, got \"api.example.com:70000\"
carom: $CFG:8: base_delay_ms: must be at most max_delay_ms (50), got \"60\""
assert_eq "$ERR" "$want" "check's diagnostic lines"

# ---- a missing file: one clear line, exit 1 ---------------------------------------------
run_plain "$CAROM" check "$T/nope.ini"
assert_eq "$RC" 1 "a missing file exits 1"
assert_eq "$ERR" "carom: $T/nope.ini:0: cannot read: No such file or directory" "missing file"

# ---- a good file; -v prints the effective table, which is itself valid -------------------
write_config <<'EOF'
[payments]
match = api.pay.example.com:443, *.pay.example.com:443, 10.1.0.0/16:8443
retries = 5

[defaults]
io_timeout_ms = 700

[localhost:6379]
io_timeout_ms = 2000
EOF
run_plain "$CAROM" check "$CFG"
assert_ok "a valid file exits 0"
assert_eq "$OUT" "" "without -v nothing on stdout"
run_plain "$CAROM" check -v "$CFG"
assert_ok "check -v exits 0"
assert_contains "$OUT" $'[payments]\nmatch = api.pay.example.com:443, *.pay.example.com:443, 10.1.0.0/16:8443\nretries = 5' "-v shows the policy and its patterns"
assert_contains "$OUT" $'[localhost:6379]\nmatch = localhost:6379' "-v shows a pattern-named section"
assert_eq "$(grep -c '^io_timeout_ms = 700$' <<<"$OUT")" 2 "payments inherits io_timeout_ms from [defaults] below it"
printf '%s\n' "$OUT" >"$T/dump.ini"
run_plain "$CAROM" check "$T/dump.ini"
assert_ok "the -v output must itself pass carom check"

# ---- explain ----------------------------------------------------------------------------
keys="retries base_delay_ms max_delay_ms jitter retry_on connect_timeout_ms retry_nonblocking
io_timeout_ms deadline_ms retry_budget retry_budget_min_per_s cushion cushion_failures
cushion_window cushion_half_open_ms cushion_first_break_ms cushion_probes open_errno pocket dns_stale_ms
http_retry_status http_retry_methods retry_after_max_ms pocket_url pocket_response state
rate_limit rate_burst max_connections limit_wait_ms
chaos.connect_refuse chaos.connect_timeout chaos.dns_fail chaos.reset chaos.latency
chaos.latency_ms chaos.short_write chaos.http_status chaos.connect_latency
chaos.connect_latency_ms chaos.dns_fail_error chaos.blackhole chaos.bandwidth_kbps
chaos.limit_data chaos.limit_data_mode chaos.slice chaos.slow_close_ms chaos.direction
chaos.first"
explain_is() { # ENDPOINT POLICY
    run_plain "$CAROM" explain "$1" "$CFG"
    assert_ok "explain $1"
    assert_eq "$(head -n1 <<<"$OUT")" "policy $2" "explain $1: first line"
}
explain_is a.pay.example.com:443 payments
explain_is api.pay.example.com:443 payments
explain_is 10.1.200.3:8443 payments
explain_is LOCALHOST.:6379 localhost:6379
explain_is pay.example.com:443 defaults
explain_is '[::1]:6379' defaults
explain_is 10.1.200.3:80 defaults
# one key = value line per setting, inherited ones too, in the order of docs/configuration.md ("Every key")
got=$(tail -n +2 <<<"$OUT" | sed 's/ =.*//' | tr '\n' ' ')
assert_eq "$got" "$(tr '\n' ' ' <<<"$keys")" "explain lists every key in the documented order"
run_plain "$CAROM" explain api.pay.example.com:443 "$CFG"
assert_contains "$OUT" $'\nretries = 5\n' "explain shows the policy's own value"
assert_contains "$OUT" $'\nio_timeout_ms = 700\n' "explain shows an inherited value"

# ---- discovery: ./carom.ini, then built-in defaults --------------------------------------
run_plain "$CAROM" explain x.example.com:80
assert_ok "explain without any file uses the built-in defaults"
assert_eq "$(head -n1 <<<"$OUT")" "policy defaults" "built-in defaults"
assert_contains "$ERR" "built-in defaults apply" "a note says no file was found"
assert_contains "$OUT" $'\nretries = 3\n' "built-in retries"
run_plain "$CAROM" check
assert_ok "check without any file passes (built-in defaults)"
cp "$CFG" "$T/carom.ini"
run_plain "$CAROM" explain api.pay.example.com:443
assert_eq "$(head -n1 <<<"$OUT")" "policy payments" "./carom.ini is found"
rm -f "$T/carom.ini"
run_plain env CAROM_CONFIG="$CFG" "$CAROM" explain api.pay.example.com:443
assert_eq "$(head -n1 <<<"$OUT")" "policy payments" "\$CAROM_CONFIG is found"

# ---- usage errors exit 2 -----------------------------------------------------------------
for args in "explain" "explain nohostport" "explain host:0" "explain ::1:80" \
    "explain host:80 $CFG extra" "check -x" "check a b" "frobnicate"; do
    # shellcheck disable=SC2086
    run_plain "$CAROM" $args
    assert_eq "$RC" 2 "carom $args: usage error"
done
pass
