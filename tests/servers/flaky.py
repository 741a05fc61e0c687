#!/usr/bin/env python3
# tests/servers/flaky.py: the one misbehaving TCP server the end-to-end tests run against
# (late listener, resets, black holes, slow or scripted HTTP/RESP answers). It must never
# listen anywhere but loopback, never need anything beyond the standard library, and never
# outlive its --lifetime: every test relies on it going away by itself.
import argparse
import email.utils
import hashlib
import os
import select
import signal
import socket
import struct
import sys
import threading
import time

LOOPBACK = {"127.0.0.1", "::1", "localhost"}

REASONS = {200: "OK", 204: "No Content", 404: "Not Found", 408: "Request Timeout",
           429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}


def parse_args():
    p = argparse.ArgumentParser(prog="flaky.py")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", action="append", default=[],
                   help="loopback address to listen on; repeat for both families "
                        "(default 127.0.0.1)")
    p.add_argument("--late", type=int, default=0, metavar="MS",
                   help="refuse connections (nothing listens) for MS ms after start")
    p.add_argument("--mode", default="echo",
                   choices=["echo", "http", "static", "redis", "reset", "blackhole", "slow",
                            "close"])
    p.add_argument("--http-status", default="200", metavar="LIST",
                   help="statuses for successive HTTP requests; the last one repeats")
    p.add_argument("--retry-after", type=int, default=None, metavar="S",
                   help="send Retry-After: S with every non-2xx HTTP answer")
    p.add_argument("--body", default="hello\n", help="HTTP 2xx body")
    # For the libcurl tests (tests/e2e/curl_*.sh): bodies whose every byte can be checked,
    # answers cut by a reset, byte ranges, Retry-After dates and a static file tree.
    p.add_argument("--body-size", type=int, default=None, metavar="N",
                   help="HTTP 2xx body: N bytes of the checkable pattern (see pattern())")
    p.add_argument("--ranges", action="store_true",
                   help="honour 'Range: bytes=S-[E]' on 2xx answers with 206")
    p.add_argument("--reset-after", type=int, default=None, metavar="N",
                   help="cut the first --reset-times 2xx answers after N body bytes with a "
                        "reset (RST)")
    p.add_argument("--reset-times", type=int, default=1, metavar="K")
    p.add_argument("--retry-after-date", action="store_true",
                   help="send --retry-after as an HTTP-date that many seconds ahead")
    p.add_argument("--root", metavar="DIR", help="static mode: serve the files under DIR")
    p.add_argument("--delay", type=int, default=None, metavar="MS",
                   help="wait this long before each answer (slow mode: default 1000)")
    p.add_argument("--count", metavar="FILE",
                   help="append 'conn' per accepted connection and 'req ...' per request")
    p.add_argument("--ready", metavar="FILE", help="created once the server listens")
    p.add_argument("--lifetime", type=float, default=30.0, metavar="S",
                   help="exit after S seconds from start, whatever happens (default 30)")
    a = p.parse_args()
    if not a.host:
        a.host = ["127.0.0.1"]
    for h in a.host:
        if h not in LOOPBACK and not h.startswith("127."):
            p.error("only loopback addresses are allowed, got %r" % h)
    if not 0 < a.lifetime <= 600:
        p.error("--lifetime must be in (0, 600]")
    if a.late < 0 or a.late / 1000.0 >= a.lifetime:
        p.error("--late must be >= 0 and shorter than --lifetime")
    try:
        a.statuses = [int(s) for s in a.http_status.split(",") if s.strip()]
    except ValueError:
        p.error("--http-status: expected a comma-separated list of numbers")
    if not a.statuses:
        p.error("--http-status: empty")
    if a.delay is None:
        a.delay = 1000 if a.mode == "slow" else 0
    if a.mode == "static" and not a.root:
        p.error("--mode static needs --root")
    if a.body_size is not None and not 0 <= a.body_size <= (64 << 20):
        p.error("--body-size must be in [0, 64 MiB]")
    return a


def pattern(n):
    """n bytes with b[i] = ((i ^ i>>8 ^ i>>16) * 157) & 0xff: a checker that knows the
    offset can verify every byte (tests/prog/curlprog.c computes the same)."""
    base = bytes((j ^ (j >> 8)) & 0xff for j in range(65536))
    out = bytearray()
    k = 0
    while len(out) < n:
        out += base.translate(bytes((((x ^ k) & 0xff) * 157) & 0xff for x in range(256)))
        k += 1
    return bytes(out[:n])


class Server:
    def __init__(self, args):
        self.a = args
        self.start = time.monotonic()
        self.deadline = self.start + args.lifetime
        self.lock = threading.Lock()
        self.requests = 0
        self.resets = 0
        self.body = (pattern(args.body_size) if args.body_size is not None
                     else args.body.encode())

    def remaining(self):
        return max(0.05, self.deadline - time.monotonic())

    def record(self, line):
        if not self.a.count:
            return
        # One open/append/close per line so a reader never sees a half-written count.
        with self.lock:
            with open(self.a.count, "a") as f:
                f.write(line + "\n")

    def pause(self):
        if self.a.delay:
            time.sleep(min(self.a.delay / 1000.0, self.remaining()))

    def handle(self, c):
        try:
            c.settimeout(self.remaining())
            getattr(self, "mode_" + self.a.mode)(c)
        except (OSError, ValueError):
            pass  # the client went away or misbehaved; that is what these tests provoke
        finally:
            try:
                c.close()
            except OSError:
                pass

    def mode_echo(self, c):
        while True:
            data = c.recv(65536)
            if not data:
                return
            self.pause()
            c.sendall(data)

    mode_slow = mode_echo

    def mode_reset(self, c):
        # SO_LINGER {on, 0}: close() sends RST instead of FIN, so the client sees ECONNRESET.
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def mode_close(self, c):
        pass  # an orderly FIN with no answer: the client reads EOF

    def mode_blackhole(self, c):
        # Drain what arrives so the client's writes never block; answer nothing, ever.
        while c.recv(65536):
            pass

    def read_request(self, c, buf):
        """One request from c: (method, path, headers dict, body, rest of buf), or None
        when the client went away. Answers 'Expect: 100-continue' and reads chunked
        bodies, so uploads of any kind arrive whole."""
        while b"\r\n\r\n" not in buf:
            if len(buf) > 65536:
                return None
            data = c.recv(65536)
            if not data:
                return None
            buf += data
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split()
        method = parts[0] if parts else "?"
        path = parts[1] if len(parts) > 1 else "?"
        hdrs = {}
        for h in lines[1:]:
            k, _, v = h.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if hdrs.get("expect", "").lower() == "100-continue":
            c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = b""
        if "chunked" in hdrs.get("transfer-encoding", "").lower():
            while True:
                while b"\r\n" not in buf:
                    data = c.recv(65536)
                    if not data:
                        return None
                    buf += data
                size_line, buf = buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0] or b"0", 16)
                while len(buf) < size + 2:
                    data = c.recv(65536)
                    if not data:
                        return None
                    buf += data
                body += buf[:size]
                buf = buf[size + 2:]
                if size == 0:
                    break
        else:
            clen = int(hdrs.get("content-length", "0") or 0)
            while len(buf) < clen:
                data = c.recv(65536)
                if not data:
                    return None
                buf += data
            body, buf = buf[:clen], buf[clen:]
        return method, path, hdrs, body, buf

    def static_file(self, path):
        """The bytes of the file under --root that path names, or None."""
        rel = path.split("?", 1)[0].lstrip("/")
        full = os.path.realpath(os.path.join(self.a.root, rel))
        root = os.path.realpath(self.a.root)
        if not (full == root or full.startswith(root + os.sep)) or not os.path.isfile(full):
            return None
        with open(full, "rb") as f:
            return f.read()

    def mode_http(self, c):
        buf = b""
        while True:
            req = self.read_request(c, buf)
            if req is None:
                return
            method, path, rhdrs, rbody, buf = req
            with self.lock:
                n = self.requests
                self.requests += 1
            status = self.a.statuses[min(n, len(self.a.statuses) - 1)]
            ok = 200 <= status < 300
            body = self.body if ok else ("status %d\n" % status).encode()
            if ok and self.a.mode == "static":
                body = self.static_file(path)
                if body is None:
                    status, ok, body = 404, False, b"not found\n"
            extra = []
            note = ""
            rng = rhdrs.get("range", "")
            if ok and self.a.ranges and rng.startswith("bytes="):
                first, _, last = rng[6:].partition("-")
                start = int(first or 0)
                end = int(last) if last else len(body) - 1
                note += " range=%d" % start
                if start >= len(body):
                    status, ok = 416, False
                    extra.append("Content-Range: bytes */%d" % len(body))
                    body = b""
                else:
                    extra.append("Content-Range: bytes %d-%d/%d" % (start, end, len(body)))
                    status, body = 206, body[start:end + 1]
            if rbody or "content-length" in rhdrs or "transfer-encoding" in rhdrs:
                note += " len=%d md5=%s" % (len(rbody), hashlib.md5(rbody).hexdigest()[:12])
            self.record("req %s %s %d%s" % (method, path, status, note))
            hdrs = ["HTTP/1.1 %d %s" % (status, REASONS.get(status, "Status")),
                    "Content-Type: text/plain",
                    "Content-Length: %d" % len(body),
                    "Connection: close"] + extra
            if self.a.ranges:
                hdrs.append("Accept-Ranges: bytes")
            if self.a.retry_after is not None and not ok:
                if self.a.retry_after_date:
                    when = email.utils.formatdate(time.time() + self.a.retry_after, usegmt=True)
                    hdrs.append("Retry-After: %s" % when)
                else:
                    hdrs.append("Retry-After: %d" % self.a.retry_after)
            self.pause()
            out = ("\r\n".join(hdrs) + "\r\n\r\n").encode()
            cut = None
            if ok and self.a.reset_after is not None and method != "HEAD":
                with self.lock:
                    if self.resets < self.a.reset_times:
                        self.resets += 1
                        cut = min(self.a.reset_after, len(body))
            if cut is not None:
                # Part of the body, a moment for the client to read it, then a reset.
                c.sendall(out + body[:cut])
                time.sleep(0.2)
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            c.sendall(out if method == "HEAD" else out + body)
            return  # Connection: close keeps one request per connection, easy to count

    mode_static = mode_http

    def mode_redis(self, c):
        f = c.makefile("rb")
        while True:
            cmd = read_resp_command(f)
            if cmd is None:
                return
            self.record("req " + " ".join(x.decode("latin-1") for x in cmd[:1]))
            name = cmd[0].upper() if cmd else b""
            self.pause()
            if name == b"PING":
                c.sendall(b"+PONG\r\n" if len(cmd) == 1 else resp_bulk(cmd[1]))
            elif name == b"ECHO" and len(cmd) == 2:
                c.sendall(resp_bulk(cmd[1]))
            elif name == b"QUIT":
                c.sendall(b"+OK\r\n")
                return
            else:
                c.sendall(b"-ERR unknown command\r\n")

    def bind_all(self):
        socks = []
        for h in self.a.host:
            fam = socket.AF_INET6 if ":" in h else socket.AF_INET
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((h, self.a.port))
            socks.append(s)
        return socks

    def serve(self):
        # Bind at once so a port clash shows now, not as a mysterious refusal after the
        # delay; bound but not listening, the port still refuses connects, as --late wants.
        socks = self.bind_all()
        if self.a.late:
            time.sleep(self.a.late / 1000.0)
        for s in socks:
            s.listen(128)
        if self.a.ready:
            open(self.a.ready, "w").close()
        while True:
            left = self.deadline - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select(socks, [], [], min(left, 0.5))
            for s in r:
                try:
                    c, _ = s.accept()
                except OSError:
                    continue
                self.record("conn")
                threading.Thread(target=self.handle, args=(c,), daemon=True).start()


def read_resp_command(f):
    line = f.readline(65536)
    if not line:
        return None
    line = line.rstrip(b"\r\n")
    if not line.startswith(b"*"):
        return line.split()  # inline command, e.g. "PING\r\n" typed into nc
    n = int(line[1:])
    out = []
    for _ in range(max(0, min(n, 1024))):
        hdr = f.readline(65536)
        if not hdr.startswith(b"$"):
            return None
        ln = int(hdr[1:].rstrip(b"\r\n"))
        data = f.read(ln + 2)
        if len(data) < ln + 2:
            return None
        out.append(data[:ln])
    return out


def resp_bulk(b):
    return b"$%d\r\n%s\r\n" % (len(b), b)


def main():
    a = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    # A hard stop independent of the accept loop: even a wedged handler cannot keep us alive.
    t = threading.Timer(a.lifetime + 1.0, lambda: os._exit(0))
    t.daemon = True
    t.start()
    srv = Server(a)
    try:
        srv.serve()
    except OSError as e:
        print("flaky.py: port %d: %s" % (a.port, e), file=sys.stderr)
        sys.stdout.flush()
        os._exit(2)
    # Daemon handler threads (black holes) die with us; os._exit skips joining them.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
