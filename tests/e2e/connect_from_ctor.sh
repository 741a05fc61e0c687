#!/usr/bin/env bash
# connect_from_ctor.sh: network calls made from a constructor, before main (getaddrinfo then a
# blocking connect), are already guarded: they reach a server 600 ms late under the shim.
# It must never pass unless the same program fails without the shim.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog

retry_config
expect_late echo 600 '^ctor: ping$' "$CPROG" ctor 127.0.0.1 '{PORT}'
pass
