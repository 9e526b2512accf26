#!/usr/bin/env python3
"""A BGP test peer that sends one malformed message per connection.

For every case it opens a fresh TCP connection to the speaker under test
(--connect, the speaker must accept it: a passive peer plus --listen) or waits
for the speaker to dial (--listen), completes OPEN/KEEPALIVE (except for the
OPEN-error cases, where the bad OPEN replaces ours), sends the malformed
message, and reads until the speaker's NOTIFICATION. It checks error code,
subcode and (where RFC 4271 section 6 / RFC 7313 define it) the data.

Cases from RFC 7606 that must NOT reset the session (treat-as-withdraw,
attribute-discard) are checked the other way round: the session must stay up
(no NOTIFICATION, no close, the speaker keeps sending KEEPALIVEs).

Output: one line per case, "PASS name ..." or "FAIL name: why", then a summary
line; exit status 0 only if every case passed. Standard library only.

  malformed_peer.py --connect 192.0.2.5 --local-as 64513 --router-id 192.0.2.6 [--cases a,b]
"""
import argparse
import ipaddress
import socket
import struct
import sys
import time

MARKER = b"\xff" * 16
OPEN, UPDATE, NOTIFICATION, KEEPALIVE, ROUTE_REFRESH = 1, 2, 3, 4, 5
TYPE_NAMES = {1: "OPEN", 2: "UPDATE", 3: "NOTIFICATION", 4: "KEEPALIVE", 5: "ROUTE-REFRESH"}


def msg(mtype, body=b"", marker=MARKER, length=None):
    if length is None:
        length = 19 + len(body)
    return marker + struct.pack("!HB", length, mtype) + body


def attr(flags, code, value):
    if flags & 0x10 or len(value) > 255:
        return struct.pack("!BBH", flags | 0x10, code, len(value)) + value
    return struct.pack("!BBB", flags, code, len(value)) + value


def update(withdrawn=b"", attrs=b"", nlri=b"", total_attr_len=None):
    if total_attr_len is None:
        total_attr_len = len(attrs)
    return msg(UPDATE, struct.pack("!H", len(withdrawn)) + withdrawn
               + struct.pack("!H", total_attr_len) + attrs + nlri)


class Peer:
    def __init__(self, args):
        self.a = args
        self.asn = args.local_as
        self.rid = ipaddress.IPv4Address(args.router_id).packed
        self.nh = ipaddress.IPv4Address(args.next_hop or args.router_id).packed

    # ---------- well-formed pieces ----------
    def origin(self, v=0):
        return attr(0x40, 1, bytes([v]))

    def as_path(self):
        return attr(0x40, 2, struct.pack("!BBI", 2, 1, self.asn))  # AS_SEQUENCE [asn], 4-octet

    def next_hop(self):
        return attr(0x40, 3, self.nh)

    def base_attrs(self):
        return self.origin() + self.as_path() + self.next_hop()

    def nlri(self, prefix="198.51.100.0/24"):
        n = ipaddress.IPv4Network(prefix)
        nbytes = (n.prefixlen + 7) // 8
        return bytes([n.prefixlen]) + n.network_address.packed[:nbytes]

    def open_msg(self, version=4, hold=None, asn=None):
        asn = self.asn if asn is None else asn
        hold = self.a.hold if hold is None else hold
        caps = b""
        caps += struct.pack("!BBHBB", 1, 4, 1, 0, 1)           # MP IPv4 unicast
        caps += struct.pack("!BB", 2, 0)                        # route refresh
        caps += struct.pack("!BB", 70, 0)                       # enhanced route refresh
        caps += struct.pack("!BBI", 65, 4, asn)                 # 4-octet AS
        opt = struct.pack("!BB", 2, len(caps)) + caps
        my_as = asn if asn < 65536 else 23456
        return msg(OPEN, struct.pack("!BHH4sB", version, my_as, hold, self.rid, len(opt)) + opt)

    # ---------- transport ----------
    def connect(self, deadline):
        last = None
        while time.time() < deadline:
            try:
                if self.a.connect:
                    s = socket.create_connection((self.a.connect, self.a.port), timeout=2,
                                                 source_address=(self.a.bind, 0) if self.a.bind else None)
                else:
                    if not hasattr(self, "lsock"):
                        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                        self.lsock.bind((self.a.listen, self.a.port))
                        self.lsock.listen(4)
                    self.lsock.settimeout(max(0.1, deadline - time.time()))
                    s, _ = self.lsock.accept()
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.settimeout(0.2)
                self.sock, self.buf, self.last_ka = s, b"", time.time()
                return True
            except OSError as e:
                last = e
                time.sleep(0.2)
        raise RuntimeError("cannot connect: %s" % last)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def recv_msg(self, deadline, keepalive=True):
        """Next message (type, body, raw) or None on EOF; raises TimeoutError."""
        while True:
            if len(self.buf) >= 19:
                (length, mtype) = struct.unpack("!HB", self.buf[16:19])
                if len(self.buf) >= length >= 19:
                    raw, self.buf = self.buf[:length], self.buf[length:]
                    return mtype, raw[19:], raw
                if length < 19:
                    raise RuntimeError("speaker sent a message with length %d" % length)
            if time.time() >= deadline:
                raise TimeoutError()
            if keepalive and time.time() - self.last_ka >= 1.0:
                try:
                    self.send(msg(KEEPALIVE))
                except OSError:
                    pass
                self.last_ka = time.time()
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return None
            if not d:
                return None
            self.buf += d

    def handshake(self, deadline, my_open=None):
        """Send OPEN (or my_open), expect OPEN, send KEEPALIVE, expect KEEPALIVE.
        Returns (ok, notification_or_None, peer_open_body)."""
        self.send(my_open if my_open is not None else self.open_msg())
        peer_open = None
        while True:
            m = self.recv_msg(deadline, keepalive=peer_open is not None)
            if m is None:
                return False, None, peer_open
            t, body, raw = m
            if t == NOTIFICATION:
                return False, body, peer_open
            if t == OPEN and peer_open is None:
                peer_open = body
                if my_open is not None:
                    continue  # bad-OPEN case: just wait for the NOTIFICATION
                self.send(msg(KEEPALIVE))
                self.last_ka = time.time()
            elif t == KEEPALIVE and peer_open is not None and my_open is None:
                return True, None, peer_open

    def establish(self, deadline):
        """Retry (fresh connections) until a session is Established."""
        why = "no attempt"
        while time.time() < deadline:
            self.connect(deadline)
            try:
                ok, notif, _ = self.handshake(min(deadline, time.time() + 5))
            except (TimeoutError, OSError) as e:
                ok, notif = False, None
                why = "handshake: %r" % e
            if ok:
                return
            if notif is not None:
                why = "NOTIFICATION during handshake: %s" % fmt_notif(notif)
            elif not why.startswith("handshake"):
                why = "closed during handshake"
            self.close()
            time.sleep(0.3)
        raise RuntimeError("could not establish a session (%s)" % why)

    def wait_notification(self, deadline):
        while True:
            try:
                m = self.recv_msg(deadline)
            except TimeoutError:
                return "timeout"
            if m is None:
                return "closed"
            t, body, raw = m
            if t == NOTIFICATION:
                return body


def fmt_notif(body):
    if len(body) < 2:
        return "short NOTIFICATION %s" % body.hex()
    return "%d/%d data=%s" % (body[0], body[1], body[2:].hex() or "-")


def build_cases(p):
    """name -> (phase, message, code, subcode, data or None (unchecked) or b'' (must be empty))."""
    rr5 = msg(ROUTE_REFRESH, struct.pack("!HBB", 1, 1, 1) + b"\x00")  # BoRR, 5-byte body
    mp = attr(0x80, 14, struct.pack("!HBB", 1, 1, 4) + p.nh + b"\x00" + p.nlri("198.51.100.128/25"))
    wk99 = attr(0x40, 99, b"\xab\xcd")
    return {
        "bad-marker": ("est", msg(KEEPALIVE, marker=b"\xfe" * 16), 1, 1, b""),
        "bad-length": ("est", msg(KEEPALIVE, length=18), 1, 2, b"\x00\x12"),
        "bad-type": ("est", msg(9), 1, 3, b"\x09"),
        "open-version-3": ("open", p.open_msg(version=3), 2, 1, b"\x00\x04"),
        "open-hold-time-1": ("open", p.open_msg(hold=1), 2, 6, None),
        "update-attr-length-overrun": ("est", update(attrs=p.base_attrs(), total_attr_len=200,
                                                     nlri=p.nlri()), 3, 1, None),
        "update-repeated-mp-reach": ("est", update(attrs=p.origin() + p.as_path() + mp + mp),
                                     3, 1, None),
        "update-unrecognized-well-known": ("est", update(attrs=p.base_attrs() + wk99,
                                                         nlri=p.nlri()), 3, 2, wk99),
        "update-nlri-length-33": ("est", update(attrs=p.base_attrs(),
                                                nlri=b"\x21\xc6\x33\x64\x01\x00"), 3, 10, None),
        "route-refresh-borr-length-5": ("est", rr5, 7, 1, rr5),
    }


def build_survivable(p):
    """RFC 7606 cases handled without a session reset."""
    return {
        "7606-bad-origin": update(attrs=p.origin(5) + p.as_path() + p.next_hop(),
                                  nlri=p.nlri("198.51.100.0/25")),
        "7606-missing-next-hop": update(attrs=p.origin() + p.as_path(), nlri=p.nlri("198.51.100.0/26")),
        "7606-community-length-3": update(attrs=p.base_attrs() + attr(0xc0, 8, b"\xfd\xe8\x00"),
                                          nlri=p.nlri("198.51.100.64/26")),
        "7606-atomic-aggregate-length-1": update(attrs=p.base_attrs() + attr(0x40, 6, b"\x00"),
                                                 nlri=p.nlri("198.51.100.128/26")),
        "valid-update": update(attrs=p.base_attrs(), nlri=p.nlri("198.51.100.192/26")),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--connect", help="speaker address to dial")
    g.add_argument("--listen", help="local address to accept the speaker on")
    ap.add_argument("--port", type=int, default=179)
    ap.add_argument("--bind", help="source address when dialing")
    ap.add_argument("--local-as", type=int, required=True)
    ap.add_argument("--router-id", required=True)
    ap.add_argument("--next-hop")
    ap.add_argument("--hold", type=int, default=3, help="hold time in our OPEN (default 3)")
    ap.add_argument("--cases", help="comma-separated case names (default: all)")
    ap.add_argument("--case-timeout", type=float, default=20)
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    p = Peer(a)
    cases = build_cases(p)
    surv = build_survivable(p)
    names = list(cases) + list(surv)
    if a.list:
        print("\n".join(names))
        return 0
    if a.cases:
        names = [n for n in a.cases.split(",") if n]
        bad = [n for n in names if n not in cases and n not in surv]
        if bad:
            ap.error("unknown case(s): %s" % ",".join(bad))
    failed = []
    for name in names:
        t0 = time.time()
        deadline = t0 + a.case_timeout
        try:
            if name in cases:
                phase, data, code, sub, want = cases[name]
                if phase == "open":
                    while True:
                        p.connect(deadline)
                        try:
                            ok, got, peer_open = p.handshake(min(deadline, time.time() + 5), my_open=data)
                        except TimeoutError:
                            got, peer_open = "timeout", None
                        if got is None and peer_open is None and time.time() < deadline:
                            p.close(); time.sleep(0.3); continue  # closed before its OPEN (Idle): retry
                        if got is None:
                            got = "closed"
                        break
                else:
                    p.establish(deadline)
                    p.send(data)
                    got = p.wait_notification(min(deadline, time.time() + 10))
                if isinstance(got, str):
                    raise RuntimeError("no NOTIFICATION (%s)" % got)
                if len(got) < 2 or got[0] != code or got[1] != sub or \
                        (want is not None and got[2:] != want):
                    raise RuntimeError("expected %d/%d data=%s, got %s" % (
                        code, sub, "any" if want is None else (want.hex() or "-"), fmt_notif(got)))
                print("PASS %s: NOTIFICATION %s (%.1fs)" % (name, fmt_notif(got), time.time() - t0),
                      flush=True)
            else:
                p.establish(deadline)
                p.send(surv[name])
                # the session must stay up: 3 s (3 speaker keepalives at hold 3) with no
                # NOTIFICATION and no close
                end = time.time() + 3
                kas = 0
                while True:
                    try:
                        m = p.recv_msg(end)
                    except TimeoutError:
                        break
                    if m is None:
                        raise RuntimeError("speaker closed the session")
                    if m[0] == NOTIFICATION:
                        raise RuntimeError("speaker reset the session: %s" % fmt_notif(m[1]))
                    if m[0] == KEEPALIVE:
                        kas += 1
                if kas < 1:
                    raise RuntimeError("no KEEPALIVE from the speaker within 3 s")
                # end the session politely: Cease / administrative shutdown
                p.send(msg(NOTIFICATION, b"\x06\x02"))
                print("PASS %s: session stayed up (%d keepalives)" % (name, kas), flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure as a FAIL line
            failed.append(name)
            print("FAIL %s: %s" % (name, e), flush=True)
        finally:
            if hasattr(p, "sock"):
                p.close()
            time.sleep(0.1)
    print("%d cases, %d failed%s" % (len(names), len(failed),
                                     (": " + ",".join(failed)) if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
