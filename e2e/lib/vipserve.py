#!/usr/bin/env python3
"""Traffic to VIPs for the e2e tests, demo and benchmark (stdlib only).

  serve NAME ADDR PORT LOG   HTTP/1.1 server on ADDR:PORT (keep-alive, threaded);
                             answers "NAME\\n"; one line "req PEER" per request in LOG
  dns ADDR LOG               DNS on ADDR port 53, UDP and TCP: every A query of a
                             name gets ADDR; one line "udp|tcp NAME" per query in LOG
  dnsq ADDR NAME udp|tcp     one A query; prints the answer's address
  burst URL N                N requests, each on a new connection (new source
                             port); prints JSON {body: count, "error": count}
  hold URL SECONDS           one keep-alive connection, a request every 50 ms for
                             SECONDS; prints {"first": BODY} after the first answer,
                             then JSON {ok, failed, bodies}; exit 1 on
                             any failure
  loop URL OUT               a new connection every 20 ms (timeout 0.2 s) until
                             killed; one line "T_NS ok BODY" or "T_NS fail" per try
                             (T_NS: wall clock at the try's start, epoch ns)
  addrs                      every address of this namespace as JSON, read over
                             rtnetlink (iproute2 before 6.3 cannot show IFA_PROTO):
                             [{ifname, local, prefixlen, proto, noprefixroute, nodad}]
  first URL TIMEOUT          retries every 10 ms until one request succeeds; prints
                             the seconds it took and the wall clock then (epoch s);
                             exit 1 on timeout
"""
import http.client
import http.server
import json
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse


def serve(name, addr, port, log):
    out = open(log, "a", buffering=1)
    lock = threading.Lock()

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = (name + "\n").encode()
            with lock:
                out.write("req %s\n" % self.client_address[0])
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET

    class S(http.server.ThreadingHTTPServer):
        address_family = fam
        daemon_threads = True
        request_queue_size = 512

    S((addr, int(port)), H).serve_forever()


def _dns_answer(q, addr):
    """RFC 1035 §4.1: header, the question echoed, one A (or AAAA) answer."""
    qid, _flags, qd = struct.unpack("!HHH", q[:6])
    i = 12
    labels = []
    while q[i] != 0:
        n = q[i]
        labels.append(q[i + 1:i + 1 + n].decode())
        i += 1 + n
    qtype = struct.unpack("!H", q[i + 1:i + 3])[0]
    question = q[12:i + 5]
    name = ".".join(labels)
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    rdata = socket.inet_pton(fam, addr)
    rtype = 28 if fam == socket.AF_INET6 else 1
    if qtype != rtype:
        return name, struct.pack("!HHHHHH", qid, 0x8180, 1, 0, 0, 0) + question
    hdr = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0)
    # Answer: a pointer to the question's name (offset 12), type, class IN, TTL 30.
    ans = struct.pack("!HHHIH", 0xC00C, rtype, 1, 30, len(rdata)) + rdata
    return name, hdr + question + ans


def dns(addr, log):
    out = open(log, "a", buffering=1)
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET

    def udp():
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.bind((addr, 53))
        while True:
            q, peer = s.recvfrom(512)
            name, a = _dns_answer(q, addr)
            out.write("udp %s\n" % name)
            s.sendto(a, peer)

    def tcp_one(c):
        with c:
            n = struct.unpack("!H", c.recv(2))[0]
            q = b""
            while len(q) < n:
                q += c.recv(n - len(q))
            name, a = _dns_answer(q, addr)
            out.write("tcp %s\n" % name)
            c.sendall(struct.pack("!H", len(a)) + a)

    t = threading.Thread(target=udp, daemon=True)
    t.start()
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 53))
    s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=tcp_one, args=(c,), daemon=True).start()


def dnsq(addr, name, proto):
    q = struct.pack("!HHHHHH", 0x4f58, 0x0100, 1, 0, 0, 0)
    for l in name.split("."):
        q += bytes([len(l)]) + l.encode()
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    q += b"\x00" + struct.pack("!HH", 28 if fam == socket.AF_INET6 else 1, 1)
    if proto == "udp":
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.settimeout(3)
        s.sendto(q, (addr, 53))
        a = s.recv(512)
    else:
        s = socket.create_connection((addr, 53), timeout=3)
        s.sendall(struct.pack("!H", len(q)) + q)
        n = struct.unpack("!H", s.recv(2))[0]
        a = b""
        while len(a) < n:
            a += s.recv(n - len(a))
    if struct.unpack("!H", a[6:8])[0] < 1:
        sys.exit("dnsq: no answer")
    rd = a[-16:] if fam == socket.AF_INET6 else a[-4:]
    print(socket.inet_ntop(fam, rd))


def _get(url, timeout):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    try:
        c.request("GET", u.path or "/")
        r = c.getresponse()
        body = r.read().decode().strip()
        if r.status != 200:
            raise OSError("status %d" % r.status)
        return body
    finally:
        c.close()


def burst(url, n):
    counts = {}
    for _ in range(int(n)):
        try:
            b = _get(url, 2)
        except OSError:
            b = "error"
        counts[b] = counts.get(b, 0) + 1
    print(json.dumps(counts, sort_keys=True))


def hold(url, seconds):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=2)
    ok = failed = 0
    bodies = set()
    end = time.monotonic() + float(seconds)
    while time.monotonic() < end:
        try:
            c.request("GET", "/")
            r = c.getresponse()
            b = r.read().decode().strip()
            if not bodies:
                print(json.dumps({"first": b}), flush=True)
            bodies.add(b)
            ok += 1
        except OSError:
            failed += 1
            break
        time.sleep(0.05)
    print(json.dumps({"ok": ok, "failed": failed, "bodies": sorted(bodies)}), flush=True)
    sys.exit(1 if failed else 0)


def loop(url, out):
    f = open(out, "a", buffering=1)
    while True:
        t = time.time_ns()
        try:
            b = _get(url, 0.2)
            f.write("%d ok %s\n" % (t, b))
        except OSError:
            f.write("%d fail\n" % t)
        time.sleep(0.02)


def first(url, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < float(timeout):
        try:
            _get(url, 0.2)
            print("%.4f %.6f" % (time.monotonic() - t0, time.time()))
            return
        except OSError:
            time.sleep(0.01)
    sys.exit("first: no answer from %s within %s s" % (url, timeout))


def addrs():
    """RTM_GETADDR dump (rtnetlink(7)); IFA_PROTO (11) is the mark oxlb sets."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)  # NETLINK_ROUTE
    s.bind((0, 0))
    # nlmsghdr: len, type RTM_GETADDR (22), flags REQUEST|DUMP, seq, pid; ifaddrmsg family 0
    req = struct.pack("=IHHII", 16 + 8, 22, 0x1 | 0x300, 1, 0) + struct.pack("=BBBBI", 0, 0, 0, 0, 0)
    s.send(req)
    out = []
    done = False
    while not done:
        data = s.recv(1 << 16)
        off = 0
        while off + 16 <= len(data):
            ln, typ, _fl, _seq, _pid = struct.unpack_from("=IHHII", data, off)
            if typ == 3:  # NLMSG_DONE
                done = True
                break
            if typ == 2:  # NLMSG_ERROR
                sys.exit("addrs: netlink error")
            fam, plen, hflags, _scope, idx = struct.unpack_from("=BBBBI", data, off + 16)
            a = off + 24
            attrs = {}
            while a + 4 <= off + ln:
                alen, atyp = struct.unpack_from("=HH", data, a)
                if alen < 4:
                    break
                attrs[atyp] = data[a + 4:a + alen]
                a += (alen + 3) & ~3
            raw = attrs.get(2) or attrs.get(1)
            if raw:
                flags = struct.unpack("=I", attrs[8])[0] if 8 in attrs else hflags
                out.append({
                    "ifname": socket.if_indextoname(idx),
                    "local": socket.inet_ntop(socket.AF_INET6 if fam == 10 else socket.AF_INET, raw),
                    "prefixlen": plen,
                    "proto": attrs[11][0] if 11 in attrs else 0,
                    "noprefixroute": bool(flags & 0x200),
                    "nodad": bool(flags & 0x02),
                })
            off += (ln + 3) & ~3
    print(json.dumps(out))


if __name__ == "__main__":
    cmds = {"serve": serve, "dns": dns, "dnsq": dnsq, "burst": burst, "hold": hold,
            "loop": loop, "first": first, "addrs": addrs}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])
