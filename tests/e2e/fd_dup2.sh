#!/usr/bin/env bash
# fd_dup2.sh: a program that connects through a server 600 ms late, then dup2()s the
# socket to fd 100 and closes the original, keeps talking over fd 100 under the shim (the
# shim's socket tracking follows the descriptor). It must never pass unless the same
# program fails without the shim.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cprog

retry_config
expect_late echo 600 '^dup2: ping$' "$CPROG" dup2 127.0.0.1 '{PORT}'
pass
