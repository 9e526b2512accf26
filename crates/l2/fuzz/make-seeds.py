#!/usr/bin/env python3
"""Writes the fuzz seeds: the captured frames of tests/golden/ and hostile
variants of them (truncated, wrong lengths, hop limit 254, option length
0, multicast target, bad checksum, other addresses, our own MAC).
Run from anywhere: python3 crates/l2/fuzz/make-seeds.py"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "tests", "golden")
ICMP = 14 + 40


def golden(name):
    with open(os.path.join(GOLDEN, name + ".bin"), "rb") as f:
        return bytearray(f.read())


def csum(frame):
    """Recomputes the ICMPv6 checksum of an Ethernet/IPv6 frame."""
    f = bytearray(frame)
    plen = struct.unpack(">H", f[18:20])[0]
    f[ICMP + 2:ICMP + 4] = b"\0\0"
    msg = bytes(f[ICMP:ICMP + plen])
    data = bytes(f[22:54]) + struct.pack(">I", len(msg)) + b"\0\0\0\x3a" + msg
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(">%dH" % (len(data) // 2), data))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    f[ICMP + 2:ICMP + 4] = struct.pack(">H", ~s & 0xFFFF)
    return f


def mutate(frame, at, value, fix=False):
    f = bytearray(frame)
    f[at] = value
    return csum(f) if fix else f


def arp_seeds():
    req = golden("arp_request")
    out = {
        "golden_request": req,
        "golden_reply": golden("arp_reply"),
        "golden_garp_request": golden("garp_request"),
        "golden_garp_reply": golden("garp_reply"),
        "truncated_41": req[:41],
        "truncated_14": req[:14],
        "hlen_8": mutate(req, 18, 8),
        "plen_16": mutate(req, 19, 16),
        "htype_6": mutate(req, 15, 6),
        "op_3": mutate(req, 21, 3),
        "other_target": mutate(req, 41, 99),
        "own_mac_source": req[:6] + bytes.fromhex("02000000000b") + req[12:],
        "unicast_elsewhere": bytes.fromhex("020000000077") + req[6:],
    }
    return out


def ndp_seeds():
    ns, na = golden("ns"), golden("na")
    unsol = golden("unsolicited_na")
    dad = bytearray(ns)
    dad[22:38] = bytes(16)
    dad = csum(dad)
    no_opt = bytearray(ns[:ICMP + 24])
    no_opt[19] = 24
    no_opt = csum(no_opt)
    return {
        "golden_ns": ns,
        "golden_na": na,
        "golden_unsolicited_na": unsol,
        "hop_limit_254": mutate(ns, 21, 254),
        "option_length_0": mutate(ns, ICMP + 25, 0, fix=True),
        "option_length_2": mutate(ns, ICMP + 25, 2, fix=True),
        "multicast_target": mutate(ns, ICMP + 8, 0xFF, fix=True),
        "code_1": mutate(ns, ICMP + 1, 1, fix=True),
        "bad_checksum": mutate(ns, ICMP + 3, ns[ICMP + 3] ^ 1),
        "dad_with_slla": dad,
        "no_source_lla": no_opt,
        "solicited_to_all_nodes": mutate(unsol, ICMP + 4, 0x60, fix=True),
        "payload_len_40": mutate(ns, 19, 40),
        "truncated_60": ns[:60],
        "other_target": mutate(ns, ICMP + 23, 0x99, fix=True),
        "own_mac_slla": csum(ns[:ICMP + 26] + bytes.fromhex("02000000000b")),
    }


def write(target, seeds):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name + ".bin"), "wb") as f:
            f.write(bytes(data))


arp, ndp = arp_seeds(), ndp_seeds()
write("arp_decode", arp)
write("ndp_decode", ndp)
write("responder_frame", {**{"arp_" + k: v for k, v in arp.items()}, **{"ndp_" + k: v for k, v in ndp.items()}})
