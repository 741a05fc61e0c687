/* io_loop.c: the program the shim benchmarks run, with and without the shim: N rounds of
 * one wrapped call pattern (pipe write+read, loopback send+recv, connect, getaddrinfo).
 * It must do nothing else per round, so that instruction differences are the shim's. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int listener(struct sockaddr_in *sa)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    socklen_t len = sizeof *sa;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(l, (struct sockaddr *)sa, sizeof *sa) || listen(l, 4096) ||
        getsockname(l, (struct sockaddr *)sa, &len))
        exit(2);
    return l;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    long n = atol(argv[2]);
    char c = 'x';
    if (strcmp(argv[1], "pipe") == 0) {
        int p[2];
        if (pipe(p))
            return 2;
        for (long i = 0; i < n; i++)
            if (write(p[1], &c, 1) != 1 || read(p[0], &c, 1) != 1)
                return 1;
    } else if (strcmp(argv[1], "socket") == 0) {
        struct sockaddr_in sa;
        int l = listener(&sa);
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(s, (struct sockaddr *)&sa, sizeof sa))
            return 1;
        int a = accept(l, NULL, NULL);
        /* The client socket is the tracked one: send on it, read the byte back from it. */
        for (long i = 0; i < n; i++)
            if (send(s, &c, 1, 0) != 1 || recv(a, &c, 1, 0) != 1 || send(a, &c, 1, 0) != 1 ||
                recv(s, &c, 1, 0) != 1)
                return 1;
    } else if (strcmp(argv[1], "connect") == 0) {
        struct sockaddr_in sa;
        int l = listener(&sa);
        for (long i = 0; i < n; i++) {
            int s = socket(AF_INET, SOCK_STREAM, 0);
            if (connect(s, (struct sockaddr *)&sa, sizeof sa))
                return 1;
            int a = accept(l, NULL, NULL);
            close(a);
            close(s);
        }
    } else if (strcmp(argv[1], "getaddrinfo") == 0) {
        for (long i = 0; i < n; i++) {
            struct addrinfo *res, hints = {.ai_socktype = SOCK_STREAM};
            if (getaddrinfo("localhost", "80", &hints, &res))
                return 1;
            freeaddrinfo(res);
        }
    } else {
        return 2;
    }
    return 0;
}
