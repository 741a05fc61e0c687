#!/usr/bin/env bash
# fortify_chk.sh: the test program built with -D_FORTIFY_SOURCE=2 -O2 (so its reads go
# through __read_chk and __recv_chk) gets through a server 600 ms late under the shim,
# blocking and non-blocking. It must never pass unless the same runs fail without the shim.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog

# Guard against a build that silently stopped fortifying: then this test proves nothing.
if command -v nm >/dev/null 2>&1; then
    syms=$(nm -D "$CPROG_FORTIFY")
    assert_contains "$syms" "__read_chk" "cprog_fortify should call __read_chk"
    assert_contains "$syms" "__recv_chk" "cprog_fortify should call __recv_chk"
fi

retry_config
expect_late echo 600 '^connect: ping$' "$CPROG_FORTIFY" connect 127.0.0.1 '{PORT}'
expect_late echo 600 '^nbconnect: ping$' "$CPROG_FORTIFY" nbconnect 127.0.0.1 '{PORT}'
pass
