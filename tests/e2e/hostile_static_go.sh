#!/usr/bin/env bash
# hostile_static_go.sh: programs carom cannot reach, and `carom run` saying so. A C
# program linked with `gcc -static` has no dynamic loader to preload the shim; a Go
# program makes its system calls without the C library. No Go toolchain is installed by
# `make deps` (Debian's golang-go is some 330 MB), so the Go case uses an honest stand-in
# for the detector: a dynamically linked C program whose data carries Go's build-info
# magic "\xff Go buildinf:". Each must get its warning from `carom run`, and the static one,
# connecting to a server 600 ms late, must fail exactly as it does without carom: carom
# neither protects nor breaks it. Control: the ordinary dynamic build gets no warning and
# is protected. It must never pass unless both warnings name the program.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
CAROM=$CAROM_ROOT/$BUILD/carom
[ -x "$CAROM" ] || fail "$CAROM is missing: run make"
CC=${CC:-cc}
command -v "$CC" >/dev/null || skip "no C compiler ($CC)"
rt=$(sanitizer_runtimes)

cat >"$T/dial.c" <<'EOF2'
/* dial.c: connects to 127.0.0.1:PORT once and echoes a line; it must never retry. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef GO_STANDIN
/* What Go's linker puts in every binary (runtime/debug.BuildInfo); the detector's key. */
__attribute__((used)) static const char go_buildinfo[32] = "\xff Go buildinf:\x08\x02";
#endif
int main(int argc, char **argv)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[argc - 1]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char buf[64] = "";
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("connect");
        return 1;
    }
    if (write(fd, "ping\n", 5) != 5 || read(fd, buf, sizeof buf - 1) <= 0)
        return 1;
    buf[strcspn(buf, "\n")] = 0;
    printf("dial: %s\n", buf);
    return 0;
}
EOF2
"$CC" -std=c11 -D_GNU_SOURCE -O2 -o "$T/dial" "$T/dial.c" 2>"$T/cc.err" &&
    "$CC" -std=c11 -D_GNU_SOURCE -O2 -DGO_STANDIN -o "$T/dial-go" "$T/dial.c" 2>>"$T/cc.err" ||
    fail "cannot build the test programs: $(cat "$T/cc.err")"
"$CC" -std=c11 -D_GNU_SOURCE -O2 -static -o "$T/dial-static" "$T/dial.c" 2>>"$T/cc.err" ||
    skip "gcc -static needs the static C library (libc6-dev): $(tail -n 1 "$T/cc.err")"
grep -qa 'Go buildinf:' "$T/dial-go" || fail "the Go stand-in lacks the build-info magic"
interp=$(LC_ALL=C readelf -l "$T/dial-static" 2>/dev/null | grep -c INTERP)
assert_eq "$interp" 0 "the static build has no program interpreter"

retry_config
# carom_run NAME PORT: `carom run` the program against PORT; sets OUT, ERR, RC.
carom_run() {
    CMD="carom run -c CFG -- $1 $2"
    timeout -k 3 "$RUN_TIMEOUT" env ${rt:+LD_PRELOAD="$rt"} "$CAROM" run -c "$CFG" -- "$T/$1" "$2" \
        >"$T/out" 2>"$T/err"
    RC=$?; OUT=$(cat "$T/out"); ERR=$(cat "$T/err")
}

# Control: the ordinary build, no warning, and protected against a late server.
port=$(free_port)
server "$port" echo 600
carom_run dial "$port"
assert_ok "carom run of the ordinary build reaches a late server (control)"
assert_eq "$OUT" "dial: ping" "the ordinary build (control)"
assert_not_warned() { ! grep -q 'warning' <<<"$ERR" || fail "unexpected warning: $ERR"; }
assert_not_warned

port=$(free_port)
server "$port" echo 600
carom_run dial-static "$port"
log "static: exit $RC: $ERR"
assert_contains "$ERR" "carom run: warning: $T/dial-static is statically linked: there is no dynamic loader to preload the shim" \
    "carom run names the static program"
assert_failed "a static program is not protected: the late server is not reached"
run_plain "$T/dial-static" "$port"
assert_failed "the static program fails the same way without carom"

port=$(free_port)
server "$port" echo 0
carom_run dial-go "$port"
log "go stand-in: exit $RC: $ERR"
assert_contains "$ERR" "carom run: warning: $T/dial-go is a Go program: Go makes its network system calls directly" \
    "carom run names the Go program"
assert_ok "the Go stand-in still runs"
pass
