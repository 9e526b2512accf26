#!/usr/bin/env python3
"""Self-test for pcap2streams.py on synthetic captures (standard library only).

Builds pcaps with out-of-order segments, full and partial retransmissions, a
sequence-number wrap-around, a connection collision, 802.1Q tags, IPv6, and
Linux cooked v1/v2 link types, and checks the reassembled streams. With
--tshark it also cross-checks tshark's reassembly (two Ethernet cases).
Exit 0 on success.
"""
import ipaddress
import os
import random
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = os.path.join(HERE, "pcap2streams.py")


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def tcp(src, dst, sport, dport, seq, ack, flags, payload):
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0)
    if src.version == 4:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, 6, len(hdr) + len(payload))
    else:
        pseudo = src.packed + dst.packed + struct.pack("!IxxxB", len(hdr) + len(payload), 6)
    c = csum(pseudo + hdr + payload)
    return hdr[:16] + struct.pack("!H", c) + hdr[18:] + payload


def ip(src, dst, seg):
    if src.version == 4:
        h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), 0, 0x4000, 64, 6, 0, src.packed, dst.packed)
        h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
        return 0x0800, h + seg
    h = struct.pack("!IHBB16s16s", 6 << 28, len(seg), 6, 64, src.packed, dst.packed)
    return 0x86DD, h + seg


def frame(linktype, et, pkt, vlan=False):
    if linktype == 1:
        if vlan:
            return b"\x02" * 6 + b"\x04" * 6 + struct.pack("!HHH", 0x8100, 7, et) + pkt
        return b"\x02" * 6 + b"\x04" * 6 + struct.pack("!H", et) + pkt
    if linktype == 113:
        return struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 6 + b"\0\0", et) + pkt
    if linktype == 276:
        return struct.pack("!HHIHBB8s", et, 0, 2, 1, 0, 6, b"\x02" * 6 + b"\0\0") + pkt
    raise ValueError(linktype)


def write_pcap(path, linktype, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1000 + i, 0, len(fr), len(fr)) + fr)


def bgp_stream(n, seed):
    r = random.Random(seed)
    out = b""
    for _ in range(n):
        body = bytes(r.randrange(256) for _ in range(r.randrange(0, 120)))
        out += b"\xff" * 16 + struct.pack("!HB", 19 + len(body), 2) + body
    return out


def build(linktype, a, b, sa, sb, isn_a, isn_b, chaos, vlan=False, extra_conn=False):
    """Frames of one connection a:40000 -> b:179, a sends sa, b sends sb."""
    A, B = ipaddress.ip_address(a), ipaddress.ip_address(b)
    pa, pb = 40000, 179
    frames = []

    def emit(src, dst, sp, dp, seq, ack, flags, payload=b""):
        et, pkt = ip(src, dst, tcp(src, dst, sp, dp, seq, ack, flags, payload))
        frames.append(frame(linktype, et, pkt, vlan))

    if extra_conn:  # a collision: another connection b -> a that only exchanges SYN/RST
        emit(B, A, 41000, 179, 5, 0, 0x02)
        emit(A, B, 179, 41000, 0, 6, 0x14)
    emit(A, B, pa, pb, isn_a, 0, 0x02)
    emit(B, A, pb, pa, isn_b, isn_a + 1, 0x12)
    emit(A, B, pa, pb, isn_a + 1, isn_b + 1, 0x10)

    def segments(data, isn, mss):
        segs, off = [], 0
        while off < len(data):
            n = min(mss, len(data) - off)
            segs.append((isn + 1 + off, data[off:off + n]))
            off += n
        return segs

    r = random.Random(len(sa) * 7 + len(sb))
    sega = [(A, B, pa, pb, s, p) for s, p in segments(sa, isn_a, 37)]
    segb = [(B, A, pb, pa, s, p) for s, p in segments(sb, isn_b, 53)]
    pkts = sega + segb
    if chaos:
        # full retransmissions, partial overlaps and out-of-order delivery
        extra = []
        for (s, d, sp, dp, q, p) in r.sample(pkts, k=min(6, len(pkts))):
            extra.append((s, d, sp, dp, q, p))
            if len(p) > 10:
                extra.append((s, d, sp, dp, q + 5, p[5:]))  # overlap starting inside
        pkts = pkts + extra
        # keep each direction's first segment in place so tshark sees a normal start
        head = [sega[0], segb[0]]
        rest = [x for x in pkts if x not in head or pkts.count(x) > 1]
        r.shuffle(rest)
        pkts = head + rest
    for (s, d, sp, dp, q, p) in pkts:
        emit(s, d, sp, dp, q, 0, 0x18, p)
    emit(A, B, pa, pb, isn_a + 1 + len(sa), isn_b + 1 + len(sb), 0x11)
    emit(B, A, pb, pa, isn_b + 1 + len(sb), isn_a + 2 + len(sa), 0x11)
    return frames


def run(args):
    return subprocess.run([sys.executable, TOOL] + args, capture_output=True, text=True)


def main():
    use_tshark = "--tshark" in sys.argv
    cases = [
        ("eth-v4-inorder", 1, "192.0.2.1", "192.0.2.2", 1000, 5000, False, False, False),
        ("eth-v4-chaos", 1, "192.0.2.1", "192.0.2.2", 123456, 987654, True, False, False),
        ("eth-v4-wrap-vlan", 1, "192.0.2.1", "192.0.2.2", 0xFFFFFF00, 0xFFFFFFF0, True, True, False),
        ("eth-v6-chaos-collision", 1, "2001:db8::1", "2001:db8::2", 77, 0x7FFFFFFF, True, False, True),
        ("sll-v6-chaos", 113, "2001:db8::1", "2001:db8::2", 5, 9, True, False, False),
        ("sll2-v4-chaos", 276, "198.51.100.1", "198.51.100.2", 42, 4242, True, False, False),
    ]
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, lt, a, b, ia, ib, chaos, vlan, coll) in enumerate(cases):
            sa, sb = bgp_stream(9, i), bgp_stream(6, 100 + i)
            pcap = os.path.join(tmp, name + ".pcap")
            write_pcap(pcap, lt, build(lt, a, b, sa, sb, ia, ib, chaos, vlan, coll))
            oa, ob = os.path.join(tmp, name + ".a"), os.path.join(tmp, name + ".b")
            args = [pcap, "--a", a, "--out-a", oa, "--out-b", ob]
            # tshark's own "follow" gets heavily shuffled traces across a sequence
            # wrap (or the later half of a shuffled IPv6 trace) wrong, while we match
            # the ground truth there; so cross-check only the plainer Ethernet cases.
            if use_tshark and lt == 1 and name in ("eth-v4-inorder", "eth-v4-chaos"):
                args.append("--verify-tshark")
            r = run(args)
            ok = r.returncode == 0 and open(oa, "rb").read() == sa and open(ob, "rb").read() == sb
            closed = run([pcap, "--check-closed"]).returncode == 0
            ok = ok and closed
            print("%s %s%s" % ("ok  " if ok else "FAIL", name,
                               "" if ok else ": " + (r.stdout + r.stderr).strip()))
            failed += not ok
        # a hole must be an error, not silently skipped
        sa = bgp_stream(3, 1)
        frames = build(1, "192.0.2.1", "192.0.2.2", sa, bgp_stream(1, 2), 10, 20, False)
        del frames[4]  # first data segment of A
        pcap = os.path.join(tmp, "hole.pcap")
        write_pcap(pcap, 1, frames)
        r = run([pcap, "--a", "192.0.2.1", "--out-a", os.path.join(tmp, "h.a")])
        ok = r.returncode != 0 and "hole" in (r.stdout + r.stderr)
        print("%s hole-detected" % ("ok  " if ok else "FAIL"))
        failed += not ok
    print("pcap2streams selftest: %d failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
