#!/usr/bin/env python3
"""Cuts the frames capture.sh needs out of the two pcap files (classic
pcap, Ethernet link type) and writes each as a raw .bin file."""
import struct
import sys


def frames(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(end + "IIII", data[off:off + 16])
        off += 16
        yield data[off:off + incl]
        off += incl


A = bytes.fromhex("02000000000a")
B = bytes.fromhex("02000000000b")
C = bytes.fromhex("02000000000c")  # b after its MAC change


def kind(fr):
    et = fr[12:14]
    if et == b"\x08\x06":
        op = fr[21]
        sip, tip = fr[28:32], fr[38:42]
        if sip == tip:
            return "garp_request" if op == 1 else "garp_reply"
        return "arp_request" if op == 1 else "arp_reply"
    if et == b"\x86\xdd" and fr[20] == 58 and len(fr) > 54:
        t = fr[54]
        if t == 135 and fr[6:12] == A:
            return "ns"
        if t == 136 and fr[6:12] in (B, C):
            # destination ff02::1: unsolicited
            return "unsolicited_na" if fr[38:54] == bytes.fromhex("ff020000000000000000000000000001") else "na"
    return None


def main():
    pcap_b, pcap_a, out = sys.argv[1:4]
    got = {}
    for path in (pcap_b, pcap_a):
        for fr in frames(path):
            k = kind(fr)
            if k and k not in got:
                got[k] = fr
    need = ["arp_request", "arp_reply", "ns", "na", "garp_request", "garp_reply", "unsolicited_na"]
    missing = [k for k in need if k not in got]
    if missing:
        sys.exit(f"extract: missing frames: {missing}")
    for k in need:
        with open(f"{out}/{k}.bin", "wb") as f:
            f.write(got[k])


main()
