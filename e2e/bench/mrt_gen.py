#!/usr/bin/env python3
"""Write an MRT TABLE_DUMP_V2 file with N consecutive IPv4 /32 routes (for
`gobgp mrt inject global FILE`): ORIGIN IGP, empty AS_PATH, NEXT_HOP NH.

`gobgp mrt inject` (GoBGP 3.10 CLI) exits before its gRPC stream is drained
and loses the last few hundred paths of a file, so PAD more records follow
that repeat the first PAD prefixes (re-adding an existing prefix is a no-op
for the count): every one of the N prefixes arrives.

  mrt_gen.py N BASE NEXTHOP OUTFILE [PAD]   e.g. mrt_gen.py 100000 198.18.0.0 192.0.2.1 /tmp/x.mrt
"""
import ipaddress
import struct
import sys


def rec(subtype, body, ts=0):
    return struct.pack("!IHHI", ts, 13, subtype, len(body)) + body


def main():
    n, base, nh, out = int(sys.argv[1]), ipaddress.IPv4Address(sys.argv[2]), sys.argv[3], sys.argv[4]
    pad = int(sys.argv[5]) if len(sys.argv) > 5 else 4096
    nhb = ipaddress.IPv4Address(nh).packed
    # PEER_INDEX_TABLE: collector id, empty view name, 1 peer (AS4, IPv4)
    peers = struct.pack("!4sHH", nhb, 0, 1) + struct.pack("!B4s4sI", 0x02, nhb, nhb, 64512)
    attrs = (struct.pack("!BBBB", 0x40, 1, 1, 0)             # ORIGIN IGP
             + struct.pack("!BBB", 0x40, 2, 0)               # AS_PATH empty
             + struct.pack("!BBB", 0x40, 3, 4) + nhb)        # NEXT_HOP
    with open(out, "wb") as f:
        f.write(rec(1, peers))
        b = int(base)
        for seq in range(n + pad):
            i = seq if seq < n else (seq - n) % n
            body = (struct.pack("!IB", seq, 32) + ipaddress.IPv4Address(b + i).packed
                    + struct.pack("!HHIH", 1, 0, 0, len(attrs)) + attrs)
            f.write(rec(2, body))


if __name__ == "__main__":
    main()
