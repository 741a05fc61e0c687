#!/usr/bin/env bash
# curl_git.sh: `git clone http://...` (git-remote-http: libcurl's multi interface, through
# libcurl-gnutls) succeeds from a static server whose first two answers are 503. It must
# never pass unless the same clone fails without the shim.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
need_cmd git
[ -x "$(git --exec-path)/git-remote-http" ] || skip "git has no http transport (git-remote-http)"

# Nothing from the user's git configuration may take part; no prompts.
export HOME=$T GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 GIT_ASKPASS=/bin/false

# A bare repository served as plain files (the "dumb" HTTP protocol).
mkdir -p "$T/src" "$T/srv"
git -C "$T/src" init -q
for i in 1 2 3; do
    echo "line $i" >"$T/src/f$i"
    git -C "$T/src" add "f$i"
    git -C "$T/src" -c user.name=carom -c user.email=carom@localhost commit -qm "commit $i"
done
git clone -q --bare "$T/src" "$T/srv/repo.git" || fail "cannot make the bare repository"
git -C "$T/srv/repo.git" update-server-info || fail "git update-server-info failed"
want=$(git -C "$T/src" rev-parse HEAD)

# git-remote-http may not live with a sanitizer runtime (it hangs at exit in p11-kit's
# destructor, shim or no shim): that is a skip, not a failure.
port=$(free_port)
server "$port" static 0 --root "$T/srv"
need_sanitizer_ok git ls-remote "http://127.0.0.1:$port/repo.git"

curl_config

port=$(free_port)
server "$port" static 0 --root "$T/srv" --http-status 503,503,200
run_plain git clone -q "http://127.0.0.1:$port/repo.git" "$T/plain"
# git exits 128 on a fatal error (which assert_failed would take for a signal).
assert_eq "$RC" 128 "git clone from a server answering 503 (control) should fail"
assert_contains "$ERR" "503" "without the shim git reports the 503"

port=$(free_port)
server "$port" static 0 --root "$T/srv" --http-status 503,503,200
run_shim git clone -q "http://127.0.0.1:$port/repo.git" "$T/clone"
assert_ok "git clone under the shim"
assert_eq "$(git -C "$T/clone" rev-parse HEAD)" "$want" "the clone's HEAD"
assert_eq "$(cat "$T/clone/f3")" "line 3" "a file of the clone"
assert_eq "$(count_lines "$COUNT" '^req .* 503$')" 2 "the server's two 503s were seen"
log "git clone: $(count_lines "$COUNT" '^req ') requests, $MS ms"
pass
