#!/usr/bin/env python3
"""Extract the two TCP payload byte streams of one connection from a pcap.

Pure python3 (standard library only). Reads classic pcap files (micro- or
nanosecond, either byte order) with link type Ethernet (1, with 802.1Q tags),
Linux cooked v1 (113), Linux cooked v2 (276) or raw IP (101/228/229), IPv4
or IPv6, and TCP. Each direction is reassembled by sequence number: segments
are ordered by sequence number, retransmitted (overlapping) bytes are dropped,
and a hole in the sequence space is an error.

Usage:
  pcap2streams.py FILE.pcap --list
  pcap2streams.py FILE.pcap --a ADDR --out-a a.bin --out-b b.bin [--port 179]

--a ADDR names side A by its IP address; the other endpoint is side B. When
the capture holds several TCP connections on the port (a BGP connection
collision, or reconnect attempts after the session was shut down), the first
one in which both sides sent payload is used (--conn N to choose another).
--check-closed exits 0 only if that connection was torn down (FIN both ways,
or a RST), to know when to stop the capture.
"""
import argparse
import ipaddress
import struct
import sys


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise SystemExit("%s: too short for a pcap" % path)
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    elif magic == b"\x0a\x0d\x0d\x0a":
        raise SystemExit("%s: pcapng is not supported; write with tcpdump -w (classic pcap)" % path)
    else:
        raise SystemExit("%s: not a pcap file (magic %s)" % (path, magic.hex()))
    _vmaj, _vmin, _tz, _sig, _snap, linktype = struct.unpack(e + "HHiIII", data[4:24])
    off = 24
    n = 0
    while off + 16 <= len(data):
        ts_s, ts_frac, incl, orig = struct.unpack(e + "IIII", data[off:off + 16])
        off += 16
        pkt = data[off:off + incl]
        off += incl
        n += 1
        if len(pkt) < incl:
            raise SystemExit("%s: truncated record %d" % (path, n))
        yield n, linktype, pkt, incl < orig


def l3(linktype, pkt):
    """Return (ethertype, payload) for the network layer, or None."""
    if linktype == 1:  # Ethernet
        if len(pkt) < 14:
            return None
        et = struct.unpack(">H", pkt[12:14])[0]
        o = 14
        while et in (0x8100, 0x88A8) and len(pkt) >= o + 4:
            et = struct.unpack(">H", pkt[o + 2:o + 4])[0]
            o += 4
        return et, pkt[o:]
    if linktype == 113:  # Linux cooked v1: 16-byte header, protocol at 14
        if len(pkt) < 16:
            return None
        return struct.unpack(">H", pkt[14:16])[0], pkt[16:]
    if linktype == 276:  # Linux cooked v2: 20-byte header, protocol at 0
        if len(pkt) < 20:
            return None
        return struct.unpack(">H", pkt[0:2])[0], pkt[20:]
    if linktype in (101, 12, 14, 228, 229):  # raw IP
        if not pkt:
            return None
        v = pkt[0] >> 4
        return (0x0800 if v == 4 else 0x86DD), pkt
    raise SystemExit("unsupported link type %d" % linktype)


def tcp_of(et, ip):
    """Return (src, dst, tcp_bytes) or None."""
    if et == 0x0800:
        if len(ip) < 20:
            return None
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        frag = struct.unpack(">H", ip[6:8])[0]
        if ip[9] != 6 or (frag & 0x3FFF):
            return None  # not TCP, or a fragment
        src = ipaddress.IPv4Address(ip[12:16])
        dst = ipaddress.IPv4Address(ip[16:20])
        return src, dst, ip[ihl:total]
    if et == 0x86DD:
        if len(ip) < 40:
            return None
        plen = struct.unpack(">H", ip[4:6])[0]
        nxt = ip[6]
        src = ipaddress.IPv6Address(ip[8:24])
        dst = ipaddress.IPv6Address(ip[24:40])
        o = 40
        end = 40 + plen
        while nxt in (0, 43, 60):  # hop-by-hop, routing, destination options
            nxt, hlen = ip[o], (ip[o + 1] + 1) * 8
            o += hlen
        if nxt != 6:
            return None
        return src, dst, ip[o:end]
    return None


class Dir:
    def __init__(self):
        self.isn = None  # sequence number of the first payload byte (SYN+1)
        self.segs = []  # (seq, payload)
        self.fin = False
        self.rst = False


def parse(path, port):
    conns = {}  # key (lo_ep, hi_ep) -> {"order": n, ep: Dir}
    for n, lt, pkt, truncated in read_pcap(path):
        r = l3(lt, pkt)
        if not r:
            continue
        t = tcp_of(*r)
        if not t:
            continue
        src, dst, tcp = t
        if len(tcp) < 20:
            continue
        sport, dport, seq, _ack, offflags = struct.unpack(">HHIIH", tcp[:14])
        if port and port not in (sport, dport):
            continue
        doff = (offflags >> 12) * 4
        flags = offflags & 0x1FF
        payload = tcp[doff:]
        if truncated and payload:
            raise SystemExit("packet %d is truncated: capture with -s 0" % n)
        a, b = (src, sport), (dst, dport)
        key = tuple(sorted([a, b], key=lambda x: (x[0].version, x[0].packed, x[1])))
        c = conns.get(key)
        if c is None or (flags & 0x02 and not flags & 0x10 and c[a].segs):
            # new connection (or a new SYN reusing the same 4-tuple after data)
            if c is not None:
                conns[key + (len(conns),)] = c
            c = conns[key] = {"order": n, a: Dir(), b: Dir()}
        d = c[a]
        if flags & 0x02:  # SYN
            d.isn = (seq + 1) & 0xFFFFFFFF
        if flags & 0x01:
            d.fin = True
        if flags & 0x04:
            d.rst = True
        if payload:
            d.segs.append((seq, payload))
    return conns


def reassemble(d):
    if not d.segs:
        return b""
    base = d.isn if d.isn is not None else d.segs[0][0]
    # relative sequence numbers, robust to wrap-around; segments that precede
    # the base by a little (retransmission before a later-seen SYN) are ignored.
    rel = []
    for seq, p in d.segs:
        r = (seq - base) & 0xFFFFFFFF
        if r >= 0x80000000:
            r -= 0x100000000
        rel.append((r, p))
    if d.isn is None:
        base_min = min(r for r, _ in rel)
        rel = [(r - base_min, p) for r, p in rel]
    rel.sort(key=lambda x: (x[0], -len(x[1])))
    out = bytearray()
    for r, p in rel:
        end = r + len(p)
        if end <= len(out):
            continue  # full retransmission
        if r > len(out):
            raise SystemExit("hole in TCP stream at relative seq %d (have %d bytes)" % (r, len(out)))
        out += p[len(out) - r:]
    return bytes(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pcap")
    ap.add_argument("--port", type=int, default=179, help="TCP port to select (0 = any)")
    ap.add_argument("--list", action="store_true", help="list TCP connections and exit")
    ap.add_argument("--conn", type=int, help="index (from --list) of the connection to extract")
    ap.add_argument("--a", help="IP address of side A")
    ap.add_argument("--out-a")
    ap.add_argument("--out-b")
    ap.add_argument("--check-closed", action="store_true",
                    help="exit 0 if the selected connection was closed (FIN both ways or RST)")
    ap.add_argument("--verify-tshark", action="store_true",
                    help="cross-check both streams against `tshark -z follow,tcp,raw`")
    args = ap.parse_args()

    conns = sorted(parse(args.pcap, args.port).values(), key=lambda c: c["order"])
    summary = []
    for i, c in enumerate(conns):
        eps = [k for k in c if k != "order"]
        sizes = {ep: len(reassemble(c[ep])) for ep in eps}
        summary.append((i, c, eps, sizes))
    if args.list or not (args.a or args.check_closed):
        for i, c, eps, sizes in summary:
            print("%d: %s" % (i, "  ".join("%s:%d sent %d bytes%s%s" % (
                ep[0], ep[1], sizes[ep], " FIN" if c[ep].fin else "", " RST" if c[ep].rst else "")
                for ep in eps)))
        return
    if not summary:
        raise SystemExit("no TCP connection on port %d in %s" % (args.port, args.pcap))
    if args.conn is not None:
        i, c, eps, sizes = summary[args.conn]
    else:
        both = [s for s in summary if all(s[3].values())]
        if not both:
            raise SystemExit("no TCP connection with payload in both directions")
        i, c, eps, sizes = both[0]
    if args.check_closed:
        closed = all(c[ep].fin for ep in eps) or any(c[ep].rst for ep in eps)
        sys.exit(0 if closed else 1)
    a_addr = ipaddress.ip_address(args.a)
    a_ep = [ep for ep in eps if ep[0] == a_addr]
    if len(a_ep) != 1:
        raise SystemExit("side A %s is not an endpoint of connection %d" % (args.a, i))
    a_ep = a_ep[0]
    b_ep = [ep for ep in eps if ep != a_ep][0]
    sa, sb = reassemble(c[a_ep]), reassemble(c[b_ep])
    if args.out_a:
        with open(args.out_a, "wb") as f:
            f.write(sa)
    if args.out_b:
        with open(args.out_b, "wb") as f:
            f.write(sb)
    print("connection %d: A %s:%d sent %d bytes, B %s:%d sent %d bytes" % (
        i, a_ep[0], a_ep[1], len(sa), b_ep[0], b_ep[1], len(sb)))
    if args.verify_tshark:
        verify_tshark(args.pcap, a_ep, b_ep, sa, sb)


def verify_tshark(pcap, a_ep, b_ep, sa, sb):
    """Compare with tshark's own reassembly of the same connection."""
    import subprocess

    def ep(e):
        return ("[%s]" % e[0] if e[0].version == 6 else str(e[0])) + ":%d" % e[1]

    filt = "follow,tcp,raw,%s,%s" % (ep(a_ep), ep(b_ep))
    out = subprocess.run(["tshark", "-r", pcap, "-q", "-z", filt], check=True,
                         capture_output=True, text=True).stdout
    node0 = None
    streams = {0: [], 1: []}
    started = False
    for line in out.splitlines():
        if line.startswith("Node 0:"):
            node0 = line.split(":", 1)[1].strip()
            continue
        if line.startswith("Node 1:"):
            started = True
            continue
        if not started or line.startswith("="):
            continue
        if line.startswith("\t"):
            streams[1].append(line.strip())
        elif line.strip():
            streams[0].append(line.strip())
    got = {0: bytes.fromhex("".join(streams[0])), 1: bytes.fromhex("".join(streams[1]))}
    if node0 is None:
        raise SystemExit("tshark: no follow output")
    a_is_0 = node0 == ep(a_ep)
    ta, tb = (got[0], got[1]) if a_is_0 else (got[1], got[0])
    if ta != sa or tb != sb:
        raise SystemExit("MISMATCH with tshark: A %d/%d bytes, B %d/%d bytes (ours/tshark)" % (
            len(sa), len(ta), len(sb), len(tb)))
    print("tshark agrees: A %d bytes, B %d bytes" % (len(ta), len(tb)))


if __name__ == "__main__":
    main()
