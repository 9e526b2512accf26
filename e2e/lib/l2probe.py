#!/usr/bin/env python3
"""l2probe: who answers ARP/NDP for a VIP, probed every 10 ms from a client.

Runs inside the client namespace of e2e/lib/l2topo.sh. Subcommands:

  probe      --iface IF --src4 IP [--src6 IP] [--vip4 IP] [--vip6 IP]
             [--interval-ms 10] [--duration S]
             Every interval: one ARP request for --vip4 (broadcast) and one
             Neighbor Solicitation for --vip6 (to its solicited-node group,
             with our source link-layer address option), from an AF_PACKET
             raw socket. Every frame heard is parsed; JSON lines on stdout:
               {"kind": "start", "t", "mac", "iface", "interval_ms"}
               {"kind": "reply", "t", "family": 4|6, "ip", "mac", "eth_src", "round"}
               {"kind": "garp", "t", "ip", "mac", "op"}         gratuitous ARP
               {"kind": "una",  "t", "ip", "mac", "override"}   unsolicited NA
               {"kind": "stop", "t", "rounds"}                  on SIGTERM/--duration
             "round" is the number of the last request round sent before
             the reply arrived (replies on a namespace bridge take far less
             than the 10 ms between rounds). "t" is wall-clock seconds
             (time.time(), the clock of `date +%s.%N`).
  failover   --log F --trigger T --old-mac M [--ip VIP] [--family 4|6]
             Gap from T to the first reply for VIP from a MAC other than M,
             in ms; also the first GARP/unsolicited NA from a new MAC, how
             many replies M still sent after T (old_replies_after; a request
             in flight at T may still be answered) and after the new MAC had
             answered (old_replies_after_new: two responders). One JSON line;
             exit 1 if no new MAC answered.
  splitbrain --log F [--ip VIP] [--from T] [--to T]
             Exit 1 (and print the rounds) if, within one probe round, two
             different MACs answered for the same VIP.
  summary    --log F    replies per (family, ip, mac), GARPs, NAs, rounds.
  selftest   the parser and analysis unit tests (also runnable with pytest).
"""

import argparse
import ipaddress
import json
import os
import select
import signal
import socket
import struct
import sys
import time
import unittest

ETH_P_ALL = 0x0003
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
PACKET_OUTGOING = 4
BROADCAST = b"\xff" * 6


def mac_str(b):
    return ":".join(f"{x:02x}" for x in b)


def mac_bytes(s):
    parts = s.split(":")
    if len(parts) != 6:
        raise ValueError(f"MAC address '{s}': expected 6 colon-separated octets")
    return bytes(int(p, 16) for p in parts)


# ---------------------------------------------------------------- ARP (RFC 826)
#  0      6      12    14        16        18   19   20
#  | dst  | src  |0806 | htype=1 | ptype=0800 |hlen=6|plen=4| op |
#  22: sha(6) spa(4) tha(6) tpa(4)   -> 42 octets, padded to 60 on the wire


def build_arp_request(src_mac, src_ip, target_ip):
    """A broadcast ARP request 'who has target_ip, tell src_ip'."""
    return (BROADCAST + src_mac + struct.pack("!H", ETH_P_ARP)
            + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
            + src_mac + ipaddress.IPv4Address(src_ip).packed
            + b"\x00" * 6 + ipaddress.IPv4Address(target_ip).packed)


def build_arp(op, eth_src, eth_dst, sha, spa, tha, tpa):
    """Any ARP frame (used by the self-test to play the answering node)."""
    return (eth_dst + eth_src + struct.pack("!H", ETH_P_ARP)
            + struct.pack("!HHBBH", 1, 0x0800, 6, 4, op)
            + sha + ipaddress.IPv4Address(spa).packed
            + tha + ipaddress.IPv4Address(tpa).packed)


def parse_arp(frame):
    """Ethernet/IPv4 ARP -> dict, or None for anything else or truncated."""
    if len(frame) < 42 or struct.unpack_from("!H", frame, 12)[0] != ETH_P_ARP:
        return None
    htype, ptype, hlen, plen, op = struct.unpack_from("!HHBBH", frame, 14)
    # RFC 826: only Ethernet hardware (1) with IPv4 protocol addresses, whose
    # lengths must be 6 and 4; requests (1) and replies (2) only.
    if htype != 1 or ptype != 0x0800 or hlen != 6 or plen != 4 or op not in (1, 2):
        return None
    return {
        "eth_dst": mac_str(frame[0:6]), "eth_src": mac_str(frame[6:12]), "op": op,
        "sha": mac_str(frame[22:28]), "spa": str(ipaddress.IPv4Address(frame[28:32])),
        "tha": mac_str(frame[32:38]), "tpa": str(ipaddress.IPv4Address(frame[38:42])),
    }


# ---------------------------------------------------------- NDP (RFC 4861 §4.3/§4.4)
#  Ethernet(14) | IPv6(40): ver/tc/flow, payload len, next=58, hop=255, src, dst
#  ICMPv6: type(135 NS / 136 NA) code=0 checksum | reserved or R,S,O flags (4)
#          | target(16) | options: type, len (units of 8 octets), value


def _icmp6_checksum(src, dst, payload):
    pseudo = src + dst + struct.pack("!I", len(payload)) + b"\x00\x00\x00" + bytes([58])
    data = pseudo + payload
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def _ipv6_frame(eth_src, eth_dst, src, dst, icmp):
    icmp = icmp[:2] + struct.pack("!H", _icmp6_checksum(src, dst, icmp)) + icmp[4:]
    ip6 = struct.pack("!IHBB", 6 << 28, len(icmp), 58, 255) + src + dst
    return eth_dst + eth_src + struct.pack("!H", ETH_P_IPV6) + ip6 + icmp


def solicited_node(target):
    """RFC 4291 §2.7.1: ff02::1:ff00:0/104 plus the low 24 bits of the target."""
    t = ipaddress.IPv6Address(target).packed
    return ipaddress.IPv6Address(b"\xff\x02" + b"\x00" * 9 + b"\x01\xff" + t[13:16])


def build_ns(src_mac, src_ip, target_ip):
    """NS for target_ip to its solicited-node group, with our source LLA option."""
    dst = solicited_node(target_ip)
    # RFC 2464 §7: IPv6 multicast -> 33:33 + the low 32 bits of the group.
    eth_dst = b"\x33\x33" + dst.packed[12:16]
    icmp = (struct.pack("!BBHI", 135, 0, 0, 0) + ipaddress.IPv6Address(target_ip).packed
            + bytes([1, 1]) + src_mac)
    return _ipv6_frame(src_mac, eth_dst, ipaddress.IPv6Address(src_ip).packed, dst.packed, icmp)


def build_na(eth_src, eth_dst, src_ip, dst_ip, target_ip, solicited, override, tlla=True):
    """NA (the self-test's answering node)."""
    flags = (0x40 if solicited else 0) | (0x20 if override else 0)
    icmp = struct.pack("!BBHB3x", 136, 0, 0, flags) + ipaddress.IPv6Address(target_ip).packed
    if tlla:
        icmp += bytes([2, 1]) + eth_src
    return _ipv6_frame(eth_src, eth_dst, ipaddress.IPv6Address(src_ip).packed,
                       ipaddress.IPv6Address(dst_ip).packed, icmp)


def parse_na(frame):
    """Ethernet/IPv6/ICMPv6 NA -> dict, or None (not an NA, or malformed)."""
    if len(frame) < 14 + 40 + 24 or struct.unpack_from("!H", frame, 12)[0] != ETH_P_IPV6:
        return None
    vtf, plen, nxt, hop = struct.unpack_from("!IHBB", frame, 14)
    if vtf >> 28 != 6 or nxt != 58 or 54 + plen > len(frame) or plen < 24:
        return None
    icmp = frame[54:54 + plen]
    if icmp[0] != 136 or icmp[1] != 0:
        return None
    # RFC 4861 §7.1.2: a valid NA has hop limit 255 and a correct checksum.
    src, dst = frame[22:38], frame[38:54]
    if hop != 255 or _icmp6_checksum(src, dst, icmp[:2] + b"\x00\x00" + icmp[4:]) != \
            struct.unpack_from("!H", icmp, 2)[0]:
        return None
    flags = icmp[4]
    tlla = None
    off = 24
    # RFC 4861 §4.6: options are TLVs in units of 8 octets; length 0 is invalid.
    while off + 2 <= len(icmp):
        otype, olen = icmp[off], icmp[off + 1]
        if olen == 0 or off + olen * 8 > len(icmp):
            return None
        if otype == 2 and olen == 1:
            tlla = mac_str(icmp[off + 2:off + 8])
        off += olen * 8
    return {
        "eth_src": mac_str(frame[6:12]), "eth_dst": mac_str(frame[0:6]),
        "src": str(ipaddress.IPv6Address(src)), "dst": str(ipaddress.IPv6Address(dst)),
        "target": str(ipaddress.IPv6Address(icmp[8:24])),
        "router": bool(flags & 0x80), "solicited": bool(flags & 0x40),
        "override": bool(flags & 0x20), "tlla": tlla,
    }


def classify(frame, t, rnd, src4, vips):
    """One received frame -> a log record (dict) or None."""
    a = parse_arp(frame)
    if a is not None:
        if a["spa"] == a["tpa"]:
            return {"kind": "garp", "t": t, "ip": a["spa"], "mac": a["sha"], "op": a["op"]}
        if a["op"] == 2 and a["spa"] in vips and a["tpa"] == src4:
            return {"kind": "reply", "t": t, "family": 4, "ip": a["spa"], "mac": a["sha"],
                    "eth_src": a["eth_src"], "round": rnd}
        return None
    n = parse_na(frame)
    if n is not None:
        mac = n["tlla"] or n["eth_src"]
        if n["solicited"]:
            if n["target"] in vips:
                return {"kind": "reply", "t": t, "family": 6, "ip": n["target"], "mac": mac,
                        "eth_src": n["eth_src"], "round": rnd}
            return None
        return {"kind": "una", "t": t, "ip": n["target"], "mac": mac, "override": n["override"]}
    return None


# ------------------------------------------------------------------ the probe loop

def run_probe(args):
    own = mac_bytes(open(f"/sys/class/net/{args.iface}/address").read().strip())
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((args.iface, 0))
    s.setblocking(False)
    vips = {v for v in (args.vip4, args.vip6) if v}
    if args.vip6 and not args.src6:
        sys.exit("l2probe: --vip6 needs --src6")
    frames = []
    if args.vip4:
        frames.append(build_arp_request(own, args.src4, args.vip4))
    if args.vip6:
        frames.append(build_ns(own, args.src6, args.vip6))
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    signal.signal(signal.SIGINT, lambda *_: stop.__setitem__(0, True))
    out = sys.stdout

    def emit(rec):
        out.write(json.dumps(rec) + "\n")
        out.flush()

    interval = args.interval_ms / 1000.0
    rnd = 0
    emit({"kind": "start", "t": time.time(), "mac": mac_str(own), "iface": args.iface,
          "interval_ms": args.interval_ms, "vips": sorted(vips)})
    end = time.monotonic() + args.duration if args.duration else None
    nxt = time.monotonic()
    while not stop[0]:
        now = time.monotonic()
        if end is not None and now >= end:
            break
        if now >= nxt:
            rnd += 1
            for f in frames:
                try:
                    s.send(f)
                except OSError as e:  # link down: keep probing, note it
                    emit({"kind": "send_error", "t": time.time(), "round": rnd, "error": str(e)})
            nxt += interval
            if nxt < now:  # we were descheduled; do not burst to catch up
                nxt = now + interval
            continue
        try:
            r, _, _ = select.select([s], [], [], max(0.0, nxt - now))
        except InterruptedError:
            continue
        if not r:
            continue
        while True:
            try:
                frame, addr = s.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                break
            if addr[2] == PACKET_OUTGOING:
                continue
            rec = classify(frame, time.time(), rnd, args.src4, vips)
            if rec is not None:
                emit(rec)
    emit({"kind": "stop", "t": time.time(), "rounds": rnd})
    return 0


# ------------------------------------------------------------------ analysis

def read_log(path):
    recs = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                recs.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise SystemExit(f"l2probe: {path} line {n}: not JSON ({e})")
    return recs


def failover(recs, trigger, old_mac, ip=None, family=None):
    """The first reply after `trigger` from a MAC other than old_mac."""
    old_mac = old_mac.lower()
    res = {"trigger": trigger, "old_mac": old_mac, "new_mac": None, "gap_ms": None,
           "first_announce_ms": None, "old_replies_after": 0, "old_replies_after_new": 0,
           "last_old_reply_ms": None,
           "last_reply_before_ms": None}
    for r in recs:
        if r["kind"] == "reply" and (ip is None or r["ip"] == ip) \
                and (family is None or r["family"] == family):
            dt = (r["t"] - trigger) * 1000.0
            if r["t"] <= trigger:
                res["last_reply_before_ms"] = dt
                res["last_before_mac"] = r["mac"]
            elif r["mac"] == old_mac:
                res["old_replies_after"] += 1
                if res["new_mac"] is not None:
                    res["old_replies_after_new"] += 1
                res["last_old_reply_ms"] = dt
            elif res["new_mac"] is None:
                res["new_mac"], res["gap_ms"] = r["mac"], dt
        elif r["kind"] in ("garp", "una") and (ip is None or r["ip"] == ip) \
                and r["t"] > trigger and r["mac"] != old_mac and res["first_announce_ms"] is None:
            res["first_announce_ms"] = (r["t"] - trigger) * 1000.0
            res["announce_mac"] = r["mac"]
    return res


def split_brain(recs, ip=None, t_from=None, t_to=None):
    """Rounds in which two different MACs answered for the same VIP."""
    seen = {}
    for r in recs:
        if r["kind"] != "reply" or (ip is not None and r["ip"] != ip):
            continue
        if (t_from is not None and r["t"] < t_from) or (t_to is not None and r["t"] > t_to):
            continue
        seen.setdefault((r["round"], r["ip"]), set()).add(r["mac"])
    return [{"round": k[0], "ip": k[1], "macs": sorted(v)}
            for k, v in sorted(seen.items()) if len(v) > 1]


def summary(recs):
    out = {"rounds": None, "replies": {}, "garp": {}, "una": {}, "send_errors": 0}
    for r in recs:
        k = r["kind"]
        if k == "stop":
            out["rounds"] = r["rounds"]
        elif k == "reply":
            key = f'{r["family"]} {r["ip"]} {r["mac"]}'
            out["replies"][key] = out["replies"].get(key, 0) + 1
        elif k in ("garp", "una"):
            key = f'{r["ip"]} {r["mac"]}'
            out[k][key] = out[k].get(key, 0) + 1
        elif k == "send_error":
            out["send_errors"] += 1
    return out


# ------------------------------------------------------------------ self-test

A = mac_bytes("02:00:00:00:0a:01")
B = mac_bytes("02:00:00:00:0a:02")
C = mac_bytes("02:00:00:00:0a:c8")


class ParserTests(unittest.TestCase):
    def test_arp_request_bytes_match_rfc826_layout(self):
        f = build_arp_request(C, "192.0.2.200", "192.0.2.100")
        self.assertEqual(len(f), 42)
        self.assertEqual(f.hex(), "ffffffffffff" "02000000 0ac8".replace(" ", "") + "0806"
                         "0001" "0800" "06" "04" "0001" "020000000ac8" "c00002c8"
                         "000000000000" "c0000264")

    def test_reply_to_our_request_is_a_reply_with_the_sender_mac(self):
        f = build_arp(2, A, C, A, "192.0.2.100", C, "192.0.2.200") + b"\x00" * 18
        r = classify(f, 1.0, 7, "192.0.2.200", {"192.0.2.100"})
        self.assertEqual(r, {"kind": "reply", "t": 1.0, "family": 4, "ip": "192.0.2.100",
                             "mac": "02:00:00:00:0a:01", "eth_src": "02:00:00:00:0a:01",
                             "round": 7})

    def test_reply_for_another_address_or_another_asker_is_ignored(self):
        f = build_arp(2, A, C, A, "192.0.2.11", C, "192.0.2.200")
        self.assertIsNone(classify(f, 1.0, 1, "192.0.2.200", {"192.0.2.100"}))
        f = build_arp(2, A, B, A, "192.0.2.100", B, "192.0.2.12")
        self.assertIsNone(classify(f, 1.0, 1, "192.0.2.200", {"192.0.2.100"}))

    def test_gratuitous_request_and_reply_are_both_garp(self):
        for op in (1, 2):
            f = build_arp(op, B, BROADCAST, B, "192.0.2.100", BROADCAST if op == 2 else b"\0" * 6,
                          "192.0.2.100")
            r = classify(f, 2.0, 3, "192.0.2.200", {"192.0.2.100"})
            self.assertEqual((r["kind"], r["mac"], r["op"]), ("garp", "02:00:00:00:0a:02", op))

    def test_truncated_or_non_ethernet_arp_is_rejected(self):
        f = build_arp(2, A, C, A, "192.0.2.100", C, "192.0.2.200")
        for n in range(len(f)):
            self.assertIsNone(parse_arp(f[:n]))
        bad = bytearray(f)
        bad[18] = 8  # hlen 8
        self.assertIsNone(parse_arp(bytes(bad)))
        bad = bytearray(f)
        bad[21] = 3  # op 3 (RARP)
        self.assertIsNone(parse_arp(bytes(bad)))

    def test_ns_goes_to_the_solicited_node_group_with_a_valid_checksum(self):
        f = build_ns(C, "2001:db8:1::200", "2001:db8:1::100")
        self.assertEqual(f[0:6].hex(), "3333ff000100")
        self.assertEqual(str(ipaddress.IPv6Address(f[38:54])), "ff02::1:ff00:100")
        self.assertEqual(f[21], 255)
        icmp = f[54:]
        self.assertEqual(_icmp6_checksum(f[22:38], f[38:54], icmp), 0)  # sums to zero when valid
        self.assertEqual(icmp[0], 135)
        self.assertEqual(icmp[24:32], bytes([1, 1]) + C)

    def test_solicited_na_is_a_reply_and_unsolicited_na_is_an_announcement(self):
        f = build_na(A, C, "2001:db8:1::100", "2001:db8:1::200", "2001:db8:1::100", True, False)
        r = classify(f, 3.0, 9, "192.0.2.200", {"2001:db8:1::100"})
        self.assertEqual((r["kind"], r["family"], r["mac"], r["round"]),
                         ("reply", 6, "02:00:00:00:0a:01", 9))
        f = build_na(B, b"\x33\x33\0\0\0\1", "2001:db8:1::100", "ff02::1", "2001:db8:1::100",
                     False, True)
        r = classify(f, 3.0, 9, "192.0.2.200", {"2001:db8:1::100"})
        self.assertEqual((r["kind"], r["mac"], r["override"]), ("una", "02:00:00:00:0a:02", True))

    def test_na_without_tlla_uses_the_ethernet_source(self):
        f = build_na(A, C, "2001:db8:1::100", "2001:db8:1::200", "2001:db8:1::100", True, False,
                     tlla=False)
        self.assertEqual(parse_na(f)["tlla"], None)
        self.assertEqual(classify(f, 0, 0, "x", {"2001:db8:1::100"})["mac"], "02:00:00:00:0a:01")

    def test_na_with_bad_hop_limit_checksum_or_option_length_is_rejected(self):
        good = build_na(A, C, "2001:db8:1::100", "2001:db8:1::200", "2001:db8:1::100", True, False)
        self.assertIsNotNone(parse_na(good))
        for idx, val in ((21, 64), (57, good[57] ^ 1), (55 + 24, 0)):  # hop, checksum, opt len 0
            bad = bytearray(good)
            bad[idx] = val
            self.assertIsNone(parse_na(bytes(bad)), f"byte {idx} = {val}")
        for n in range(len(good)):
            self.assertIsNone(parse_na(good[:n]))


def _rec(kind, t, mac, rnd=0, ip="192.0.2.100", family=4):
    return {"kind": kind, "t": t, "mac": mac, "round": rnd, "ip": ip, "family": family}


class AnalysisTests(unittest.TestCase):
    def test_failover_gap_is_measured_to_the_first_new_mac(self):
        recs = [_rec("reply", 10.00, "a", 1), _rec("reply", 10.01, "a", 2),
                _rec("reply", 10.35, "b", 36), _rec("reply", 10.36, "b", 37)]
        r = failover(recs, 10.015, "A")
        self.assertEqual(r["new_mac"], "b")
        self.assertAlmostEqual(r["gap_ms"], 335.0, places=3)
        self.assertEqual(r["old_replies_after"], 0)

    def test_old_owner_still_answering_is_counted(self):
        recs = [_rec("reply", 10.0, "a", 1), _rec("reply", 10.02, "a", 3),
                _rec("garp", 10.04, "b"), _rec("reply", 10.05, "b", 6)]
        recs.append(_rec("reply", 10.06, "a", 6))
        r = failover(recs, 10.01, "a")
        self.assertEqual((r["old_replies_after"], r["new_mac"]), (2, "b"))
        self.assertEqual(r["old_replies_after_new"], 1)
        self.assertAlmostEqual(r["first_announce_ms"], 30.0, places=3)

    def test_no_new_mac_means_no_gap(self):
        r = failover([_rec("reply", 10.0, "a", 1), _rec("reply", 11.0, "a", 2)], 10.5, "a")
        self.assertIsNone(r["gap_ms"])

    def test_two_macs_in_one_round_is_split_brain_and_in_successive_rounds_is_not(self):
        ok = [_rec("reply", 1.0, "a", 1), _rec("reply", 1.01, "b", 2)]
        self.assertEqual(split_brain(ok), [])
        bad = ok + [_rec("reply", 1.02, "a", 3), _rec("reply", 1.021, "b", 3)]
        self.assertEqual(split_brain(bad), [{"round": 3, "ip": "192.0.2.100", "macs": ["a", "b"]}])
        self.assertEqual(split_brain(bad, t_to=1.015), [])


def selftest():
    suite = unittest.TestSuite()
    for cls in (ParserTests, AnalysisTests):
        suite.addTests(unittest.defaultTestLoader.loadTestsFromTestCase(cls))
    return 0 if unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful() else 1


# ------------------------------------------------------------------ CLI

def main(argv):
    p = argparse.ArgumentParser(prog="l2probe", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("probe")
    pr.add_argument("--iface", required=True)
    pr.add_argument("--src4", required=True)
    pr.add_argument("--src6")
    pr.add_argument("--vip4")
    pr.add_argument("--vip6")
    pr.add_argument("--interval-ms", type=float, default=10.0)
    pr.add_argument("--duration", type=float)
    fo = sub.add_parser("failover")
    fo.add_argument("--log", required=True)
    fo.add_argument("--trigger", type=float, required=True)
    fo.add_argument("--old-mac", required=True)
    fo.add_argument("--ip")
    fo.add_argument("--family", type=int, choices=(4, 6))
    sb = sub.add_parser("splitbrain")
    sb.add_argument("--log", required=True)
    sb.add_argument("--ip")
    sb.add_argument("--from", dest="t_from", type=float)
    sb.add_argument("--to", dest="t_to", type=float)
    su = sub.add_parser("summary")
    su.add_argument("--log", required=True)
    sub.add_parser("selftest")
    a = p.parse_args(argv)
    if a.cmd == "probe":
        if not (a.vip4 or a.vip6):
            p.error("probe: give --vip4 and/or --vip6")
        return run_probe(a)
    if a.cmd == "selftest":
        return selftest()
    recs = read_log(a.log)
    if a.cmd == "failover":
        r = failover(recs, a.trigger, a.old_mac, a.ip, a.family)
        print(json.dumps(r))
        return 0 if r["gap_ms"] is not None else 1
    if a.cmd == "splitbrain":
        bad = split_brain(recs, a.ip, a.t_from, a.t_to)
        for b in bad:
            print(json.dumps(b))
        n = sum(1 for r in recs if r["kind"] == "reply")
        print(json.dumps({"split_rounds": len(bad), "replies": n}), file=sys.stderr)
        return 1 if bad else 0
    print(json.dumps(summary(recs), indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
