#!/usr/bin/env bash
# hostile_ctor.sh: another library's constructor uses the network before the shim's own
# constructor has run: libhctor.so (built here) resolves "localhost" with getaddrinfo,
# connects to a server 600 ms late and echoes a line, all from its constructor; the test
# program is linked against it. The loader must run that constructor before the shim's
# (checked with LD_DEBUG, so the test cannot pass by running after init), and the connect
# must still be retried: the wrappers bind the real calls and initialise on first use. It
# must never pass unless the same program fails without the shim.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
need_shim
CC=${CC:-cc}
command -v "$CC" >/dev/null || skip "no C compiler ($CC) to build the constructor library"

cat >"$T/hctor.c" <<'EOF2'
/* hctor.c: a library whose constructor resolves and connects (port from $CTOR_PORT);
 * it must never retry on its own. */
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int hctor_result = -1;
char hctor_reply[64];
__attribute__((constructor)) static void hctor_early(void)
{
    const char *port = getenv("CTOR_PORT");
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (!port || getaddrinfo("localhost", port, &hints, &res) != 0)
        return;
    int fd = socket(res->ai_family, res->ai_socktype, 0);
    int c = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (c != 0) {
        hctor_result = 1;
        close(fd);
        return;
    }
    ssize_t n = write(fd, "ping\n", 5) == 5 ? read(fd, hctor_reply, sizeof hctor_reply - 1) : -1;
    if (n > 0) {
        hctor_reply[strcspn(hctor_reply, "\n")] = 0;
        hctor_result = 0;
    }
    close(fd);
}
EOF2
cat >"$T/hmain.c" <<'EOF2'
/* hmain.c: reports what libhctor's constructor got; it must never touch the network. */
#include <stdio.h>
extern int hctor_result;
extern char hctor_reply[];
int main(void)
{
    printf("ctor: %s\n", hctor_result == 0 ? hctor_reply : hctor_result < 0 ? "not run" : "failed");
    return hctor_result != 0;
}
EOF2
"$CC" -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -shared -fPIC -o "$T/libhctor.so" "$T/hctor.c" 2>"$T/cc.err" &&
    "$CC" -std=c11 -Wall -Wextra -Werror -o "$T/hmain" "$T/hmain.c" -L"$T" -lhctor -Wl,-rpath,"$T" 2>>"$T/cc.err" ||
    fail "cannot build the constructor library: $(cat "$T/cc.err")"

# The order the loader runs constructors in: libhctor's before the shim's.
order=$(LD_DEBUG=files env LD_PRELOAD="$SHIM_PRELOAD" CAROM_CONFIG=/dev/null "$T/hmain" 2>&1 >/dev/null |
    sed -nE 's/.*calling init: (.*)/\1/p' | grep -nE 'libhctor|libcarom_shim')
log "constructors: $(tr '\n' ' ' <<<"$order")"
assert_match "$(sed -n 1p <<<"$order")" 'libhctor\.so$' "libhctor's constructor must run before the shim's"
assert_match "$(sed -n 2p <<<"$order")" 'libcarom_shim\.so$' "the shim's constructor runs second"

retry_config
for how in shim plain; do
    port=$(free_port)
    server "$port" echo 600
    "run_$how" CTOR_PORT="$port" "$T/hmain"
    wait_ready "$READY"
    log "$how: $OUT (exit $RC, $MS ms)"
    if [ "$how" = shim ]; then
        assert_ok "the constructor's connect under the shim"
        assert_eq "$OUT" "ctor: ping" "the constructor's echo under the shim"
    else
        assert_failed "without the shim the constructor's connect should fail (control)"
        assert_eq "$OUT" "ctor: failed" "control"
    fi
done
pass
