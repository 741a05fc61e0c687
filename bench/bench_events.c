/* bench_events.c: measures what a scoreboard event costs the host program, linked with
 * the shim's own emitter (build/shim/events.o): with nobody listening (the common case,
 * near zero in docs/scoreboard.md, "Delivery"), with a listener, and the JSON encoding
 * alone. Prints one `name value unit` line per figure for bench/run.sh. It must never send to a real
 * scoreboard (it points $CAROM_SCOREBOARD at a private path) or report a figure that
 * includes loop overhead it could have subtracted. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../shim/carom_shim.h"

/* What events.o needs from the rest of the shim: the real calls, and process state with
 * no table (so the socket path comes from $CAROM_SCOREBOARD). */
struct carom__real_calls carom__real = {.socket = socket, .close = close, .sendto = sendto};
struct carom__global carom__g;

#define REPS 5
#define KEEP(x) __asm__ __volatile__("" : : "r"(x) : "memory")

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static const struct carom__event ev = {.event = "retry",
                                      .policy = "payments",
                                      .endpoint = "api.pay.example.com:443",
                                      .call = "connect",
                                      .attempt = 2,
                                      .delay_ms = 183,
                                      .elapsed_ms = -1,
                                      .error = "ECONNREFUSED"};

static double per_call(void (*fn)(long), long n)
{
    double v[REPS];
    for (int r = 0; r < REPS; r++) {
        double t = now_ns();
        fn(n);
        v[r] = (now_ns() - t) / (double)n;
    }
    qsort(v, REPS, sizeof *v, cmp_double);
    return v[REPS / 2];
}

static void loop_baseline(long n)
{
    for (long i = 0; i < n; i++)
        KEEP(i);
}

static void loop_emit(long n)
{
    for (long i = 0; i < n; i++) {
        carom__emit(&ev);
        KEEP(i);
    }
}

static void loop_encode(long n)
{
    char buf[512];
    for (long i = 0; i < n; i++) {
        size_t len = carom__event_encode(&ev, 0, buf, sizeof buf);
        KEEP(len);
    }
}

int main(void)
{
    char dir[] = "/tmp/carom-bench.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("bench_events: mkdtemp");
        return 1;
    }
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/sb.sock", dir);
    setenv("CAROM_SCOREBOARD", path, 1);

    double base = per_call(loop_baseline, 10000000);
    /* Nobody listens: the first event finds that out, the rest are dropped until the
     * quiet second ends (a run here lasts well under a second per repetition). */
    carom__emit(&ev);
    double none = per_call(loop_emit, 2000000) - base;
    double enc = per_call(loop_encode, 200000) - base;

    /* A listener that never reads: the emitter keeps sending (EAGAIN once full is
     * still "someone listens"), which is the costly case. */
    int l = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    double with = -1;
    if (l >= 0 && bind(l, (struct sockaddr *)&sa, sizeof sa) == 0) {
        struct timespec ts = {1, 100000000}; /* let the quiet second run out */
        nanosleep(&ts, NULL);
        with = per_call(loop_emit, 20000) - base;
    }
    if (l >= 0) close(l);
    unlink(path);
    rmdir(dir);

    printf("scoreboard_emit_nolistener_ns %.1f ns\n", none);
    printf("scoreboard_encode_ns %.1f ns\n", enc);
    if (with >= 0) printf("scoreboard_emit_listener_ns %.1f ns\n", with);
    if (none >= 50) {
        fprintf(stderr, "bench_events: an event with no listener costs %.1f ns (limit 50)\n", none);
        return 1;
    }
    return 0;
}
