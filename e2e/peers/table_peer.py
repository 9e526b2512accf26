#!/usr/bin/env python3
"""A raw BGP peer for the bounded-buffer tests (e2e/tests/27-*.sh).

It listens on --listen ADDR:179, accepts the speaker's connection, completes
OPEN/KEEPALIVE (offering IPv4+IPv6 unicast, route refresh, enhanced route
refresh, 4-octet AS; --rcvbuf shrinks its TCP receive buffer), keeps a model
of the IPv4 table the speaker announced (prefix -> communities and large
communities, from decoding every UPDATE) and then runs one mode:

  stall    read the initial table (End-of-RIB and --initial routes), write DIR/synced, then
           stop reading (but keep sending KEEPALIVEs) until DIR/resume
           exists; then read until the model equals --expect (a routes file
           in oxlb-bgp's format) or --timeout passes.
  refresh  read the initial table, send --count ROUTE-REFRESH requests in
           one write, then read until the speaker has been quiet (only
           KEEPALIVEs) for 3 s; report how many refresh passes (EoRR) and
           announcements arrived, and compare the model with --expect.
  feed     read the initial table, then send a full table of --count IPv6
           /64s from 2001:db8::/32 packed into UPDATEs (MP_REACH_NLRI, 4096
           bytes each), --repeat times (re-announcements), then one
           KEEPALIVE.

  slowread read the initial table slowly (2 kB per 100 ms, so the speaker's
           writer is blocked in the middle of an UPDATE), write DIR/slow
           after a second, read everything once DIR/fast exists, until the
           speaker closes; passes if the last thing before the close was a
           Cease/Administrative Shutdown NOTIFICATION. No DIR/finish wait.

Except in slowread, then prints one "RESULT key=value ..." line, writes DIR/done, and stays on
the session (reading, answering) until DIR/finish exists. Exits 0 only if the
mode's checks passed (model equal to --expect where given) and the session
was never closed nor sent a NOTIFICATION.
Standard library only.
"""
import argparse
import ipaddress
import os
import socket
import struct
import sys
import time

MARKER = b"\xff" * 16
OPEN, UPDATE, NOTIFICATION, KEEPALIVE, ROUTE_REFRESH = 1, 2, 3, 4, 5


def msg(mtype, body=b""):
    return MARKER + struct.pack("!HB", 19 + len(body), mtype) + body


def attr(flags, code, value):
    if len(value) > 255:
        return struct.pack("!BBH", flags | 0x10, code, len(value)) + value
    return struct.pack("!BBB", flags, code, len(value)) + value


def parse_prefixes(data, afi_len):
    out, i = [], 0
    while i < len(data):
        plen = data[i]
        n = (plen + 7) // 8
        raw = data[i + 1:i + 1 + n] + b"\0" * (afi_len - n)
        if afi_len == 4:
            out.append(str(ipaddress.IPv4Network((raw, plen))))
        else:
            out.append(str(ipaddress.IPv6Network((raw, plen))))
        i += 1 + n
    return out


def expected_table(path):
    """oxlb-bgp routes file -> {prefix: (communities, large communities)}."""
    t = {}
    with open(path) as f:
        for line in f:
            line = line.split("#")[0].strip()
            if not line:
                continue
            parts = line.split()
            p = str(ipaddress.ip_network(parts[0], strict=False))
            comm, large = set(), set()
            for kv in parts[1:]:
                k, _, v = kv.partition("=")
                if k == "community":
                    comm.add(tuple(int(x) for x in v.split(":")))
                elif k == "large":
                    large.add(tuple(int(x) for x in v.split(":")))
            c0, l0 = t.get(p, (frozenset(), frozenset()))
            t[p] = (c0 | comm, l0 | large)
    return {p: (tuple(sorted(c)), tuple(sorted(l))) for p, (c, l) in t.items()}


class Peer:
    def __init__(self, a):
        self.a = a
        self.buf = b""
        self.off = 0
        self.table = {}
        self.announcements = 0
        self.withdrawals = 0
        self.eor = 0
        self.borr = 0
        self.eorr = 0
        self.updates = 0
        self.last_ka = time.time()
        self.notification = None
        self.closed = False
        self.reset = False

    def open_msg(self):
        caps = struct.pack("!BBHBB", 1, 4, 1, 0, 1)      # MP IPv4 unicast
        caps += struct.pack("!BBHBB", 1, 4, 2, 0, 1)     # MP IPv6 unicast
        caps += struct.pack("!BB", 2, 0)                 # route refresh
        caps += struct.pack("!BB", 70, 0)                # enhanced route refresh
        caps += struct.pack("!BBI", 65, 4, self.a.local_as)
        opt = struct.pack("!BB", 2, len(caps)) + caps
        rid = ipaddress.IPv4Address(self.a.router_id).packed
        return msg(OPEN, struct.pack("!BHH4sB", 4, self.a.local_as, self.a.hold, rid, len(opt)) + opt)

    def accept(self):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.a.rcvbuf:
            # Set before listen so the window is small from the start.
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.a.rcvbuf)
        ls.bind((self.a.listen, 179))
        ls.listen(1)
        ls.settimeout(self.a.timeout)
        s, _ = ls.accept()
        ls.close()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(0.2)
        self.sock = s

    def keepalive_tick(self):
        if self.a.hold and time.time() - self.last_ka >= 1.0:
            self.sock.sendall(msg(KEEPALIVE))
            self.last_ka = time.time()

    def recv_msg(self, deadline):
        """Next (type, body), None on close; raises TimeoutError at deadline."""
        while True:
            m = self.buffered()
            if m is not None:
                return m
            if time.time() >= deadline:
                raise TimeoutError()
            self.keepalive_tick()
            try:
                d = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            except ConnectionResetError:
                d = b""
            if not d:
                self.closed = True
                return None
            self.feed(d)

    def feed(self, d):
        self.buf = self.buf[self.off:] + d
        self.off = 0

    def buffered(self):
        """The next complete message in the buffer, else None."""
        b, o = self.buf, self.off
        if len(b) - o >= 19:
            length, mtype = struct.unpack_from("!HB", b, o + 16)
            if length < 19:
                raise RuntimeError("speaker sent a message of length %d" % length)
            if len(b) - o >= length:
                self.off = o + length
                return mtype, b[o + 19:o + length]
        return None

    def slow_read(self, deadline):
        """Reads 2 kB every 100 ms (all at once after DIR/fast exists) until
        the speaker closes; writes DIR/slow after the first second."""
        t0, signaled = time.time(), False
        fast = os.path.join(self.a.dir, "fast")
        while time.time() < deadline:
            quick = os.path.exists(fast)
            try:
                d = self.sock.recv(1 << 20 if quick else 2048)
            except socket.timeout:
                continue
            except ConnectionResetError:
                self.reset = True
                return
            if not d:
                self.closed = True
                return
            self.feed(d)
            m = self.buffered()
            while m is not None:
                self.handle(*m)
                m = self.buffered()
            if not signaled and time.time() - t0 > 1:
                open(os.path.join(self.a.dir, "slow"), "w").write("%d\n" % self.updates)
                signaled = True
            if not quick:
                time.sleep(0.1)

    def handle(self, mtype, body):
        if mtype == NOTIFICATION:
            self.notification = body.hex()
        elif mtype == UPDATE:
            self.update(body)
        elif mtype == ROUTE_REFRESH and len(body) >= 4:
            if body[2] == 1:
                self.borr += 1
            elif body[2] == 2:
                self.eorr += 1

    def update(self, body):
        self.updates += 1
        wl = struct.unpack("!H", body[:2])[0]
        withdrawn = body[2:2 + wl]
        al = struct.unpack("!H", body[2 + wl:4 + wl])[0]
        attrs = body[4 + wl:4 + wl + al]
        nlri = body[4 + wl + al:]
        if wl == 0 and al == 0 and not nlri:
            self.eor += 1
            return
        for p in parse_prefixes(withdrawn, 4):
            self.withdrawals += 1
            self.table.pop(p, None)
        comm, large, i = (), (), 0
        while i < len(attrs):
            flags, code = attrs[i], attrs[i + 1]
            if flags & 0x10:
                ln = struct.unpack("!H", attrs[i + 2:i + 4])[0]
                v = attrs[i + 4:i + 4 + ln]
                i += 4 + ln
            else:
                ln = attrs[i + 2]
                v = attrs[i + 3:i + 3 + ln]
                i += 3 + ln
            if code == 8:
                comm = tuple(sorted(struct.unpack("!HH", v[j:j + 4]) for j in range(0, len(v), 4)))
            elif code == 32:
                large = tuple(sorted(struct.unpack("!III", v[j:j + 12]) for j in range(0, len(v), 12)))
        for p in parse_prefixes(nlri, 4):
            self.announcements += 1
            self.table[p] = (comm, large)

    def handshake(self, deadline):
        self.sock.sendall(self.open_msg())
        got_open = False
        while True:
            m = self.recv_msg(deadline)
            if m is None:
                raise RuntimeError("closed during the handshake")
            t, body = m
            if t == NOTIFICATION:
                raise RuntimeError("NOTIFICATION during the handshake: " + body.hex())
            if t == OPEN:
                got_open = True
                self.sock.sendall(msg(KEEPALIVE))
            elif t == KEEPALIVE and got_open:
                return

    def read_until(self, done, deadline, quiet=None):
        """Handles messages until done() or deadline; with quiet=S, also stops
        after S seconds without anything but KEEPALIVEs."""
        last = time.time()
        next_check = 0.0
        while True:
            # done() may compare whole tables: at most every 0.3 s.
            if time.time() >= next_check:
                if done():
                    return True
                next_check = time.time() + 0.3
            if self.notification or self.closed:
                return False
            now = time.time()
            if now >= deadline:
                return False
            if quiet is not None and now >= last + quiet:
                return True
            try:
                m = self.recv_msg(min(deadline, now + 0.5))
            except TimeoutError:
                next_check = 0.0
                continue
            if m is None:
                return False
            self.handle(*m)
            if m[0] != KEEPALIVE:
                last = time.time()

    def wait_file(self, path, deadline):
        """Does not read; keeps the session alive with KEEPALIVEs."""
        while not os.path.exists(path):
            if time.time() > deadline:
                return False
            self.keepalive_tick()
            time.sleep(0.1)
        return True


def v6_table(count):
    """UPDATEs carrying `count` /64s of 2001:db8::/32 via MP_REACH_NLRI."""
    base = int(ipaddress.IPv6Address("2001:db8::")) >> 64
    nh = ipaddress.IPv6Address("2001:db8::2").packed
    fixed = attr(0x40, 1, b"\0") + attr(0x40, 2, struct.pack("!BBI", 2, 1, 64513))
    per = (4096 - 19 - 4 - len(fixed) - 4 - 5 - 16) // 9
    out, i = [], 0
    while i < count:
        n = min(per, count - i)
        nlri = b"".join(b"\x40" + struct.pack("!Q", base + i + k) for k in range(n))
        mp = struct.pack("!HBB", 2, 1, 16) + nh + b"\0" + nlri
        attrs = fixed + attr(0x90, 14, mp)
        out.append(msg(UPDATE, struct.pack("!H", 0) + struct.pack("!H", len(attrs)) + attrs))
        i += n
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["stall", "refresh", "feed", "slowread"])
    ap.add_argument("--listen", required=True)
    ap.add_argument("--local-as", type=int, default=64513)
    ap.add_argument("--router-id", default="192.0.2.2")
    ap.add_argument("--hold", type=int, default=30)
    ap.add_argument("--rcvbuf", type=int, default=0)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--expect")
    ap.add_argument("--initial", type=int, default=0,
                    help="the initial table is in once End-of-RIB and this many routes arrived")
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1, help="feed: send the table this many times")
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()
    p = Peer(a)
    deadline = time.time() + a.timeout
    p.accept()
    p.handshake(deadline)
    if a.mode == "slowread":
        p.slow_read(deadline)
        # RFC 4486 §4: Cease (6) / Administrative Shutdown (2), then close.
        ok = (p.notification or "").startswith("0602") and p.closed
        result = {"ok": int(ok), "updates": p.updates, "notification": p.notification or "-",
                  "closed": int(p.closed), "reset": int(p.reset)}
        print("RESULT " + " ".join("%s=%s" % kv for kv in result.items()), flush=True)
        open(os.path.join(a.dir, "done"), "w").write("ok=%d\n" % ok)
        sys.exit(0 if ok else 1)
    # The session may come up before the speaker has its routes (End-of-RIB
    # of an empty table, then the routes as changes): wait for both.
    ok = p.read_until(lambda: p.eor >= 1 and len(p.table) >= a.initial, deadline)
    initial = len(p.table)
    result = {"initial": initial}
    if ok and a.mode == "stall":
        open(os.path.join(a.dir, "synced"), "w").write("%d\n" % initial)
        ok = p.wait_file(os.path.join(a.dir, "resume"), deadline)
        want = expected_table(a.expect)
        ok = ok and p.read_until(lambda: p.table == want, deadline)
        ok = ok and p.table == want
    elif ok and a.mode == "refresh":
        before = p.announcements
        rr = msg(ROUTE_REFRESH, struct.pack("!HBB", 1, 0, 1))
        p.sock.sendall(rr * a.count)
        ok = p.read_until(lambda: False, deadline, quiet=3)
        result["refresh_announcements"] = p.announcements - before
        want = expected_table(a.expect)
        ok = ok and p.table == want
    elif ok and a.mode == "feed":
        t0 = time.time()
        table = v6_table(a.count)
        for _ in range(a.repeat):
            for u in table:
                p.sock.sendall(u)
                p.keepalive_tick()
        p.sock.sendall(msg(KEEPALIVE))
        result["feed_s"] = "%.1f" % (time.time() - t0)
    result.update(ok=int(bool(ok)), table=len(p.table), updates=p.updates,
                  announcements=p.announcements, withdrawals=p.withdrawals,
                  eor=p.eor, borr=p.borr, eorr=p.eorr,
                  notification=p.notification or "-", closed=int(p.closed))
    print("RESULT " + " ".join("%s=%s" % kv for kv in result.items()), flush=True)
    # Stay on the session (reading, answering) until the test has looked at
    # the speaker's side; leaving closes the session.
    open(os.path.join(a.dir, "done"), "w").write("ok=%d\n" % bool(ok))
    finish = os.path.join(a.dir, "finish")
    stayed = p.read_until(lambda: os.path.exists(finish), deadline)
    if not stayed:
        print("session lost before the test finished: notification=%s closed=%d"
              % (p.notification or "-", int(p.closed)), flush=True)
    sys.exit(0 if ok and stayed else 1)


if __name__ == "__main__":
    main()
