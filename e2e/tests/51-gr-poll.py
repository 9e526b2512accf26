#!/usr/bin/env python3
"""RIB poller and checker for the graceful restart tests (51-gr-*.sh).

  51-gr-poll.py poll bird SOCKET STOPFILE INTERVAL_S > LOG
  51-gr-poll.py poll frr VTYDIR STOPFILE INTERVAL_S > LOG
      Reads the router's RIB (both families) every INTERVAL_S until STOPFILE
      exists. One JSON line per poll: {"t": time, "ok": bool, "routes":
      {prefix: stale}} where stale is true when the router marks the route
      stale (BIRD: "(stale)" after the preference, an RFC 4724 route kept
      across our restart; FRR json: "stale": true). A failed query is
      "ok": false, never an empty table.
  51-gr-poll.py always LOG T0 T1 PREFIX...
      Every poll in [T0, T1] answered and held every PREFIX; prints the
      number of polls and how many saw them stale; exit 1 otherwise.
  51-gr-poll.py gap LOG T0 PREFIX
      The longest time after T0 during which PREFIX was missing (first miss
      to the next poll that saw it again; to the end if never), in seconds.
"""
import json
import os
import re
import socket
import sys
import time


class Birdc:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.f = self.s.makefile("rb")
        self._reply()

    def _reply(self):
        lines = []
        while True:
            line = self.f.readline().decode(errors="replace")
            if not line:
                raise EOFError("birdc: connection closed")
            lines.append(line.rstrip("\n"))
            if len(line) >= 5 and line[:4].isdigit() and line[4] == " ":
                if line[0] in "89":
                    raise RuntimeError("birdc: " + line.strip())
                return lines

    def cmd(self, c):
        self.s.sendall((c + "\n").encode())
        return self._reply()


def bird_lines(b, command):
    """The CLI text of a reply: "NNNN-text" and " text" lines, unprefixed."""
    for line in b.cmd(command):
        if line[:4].isdigit() and line[4:5] in ("-", " "):
            if line[:4] in ("0000", "0001"):
                continue
            yield line[5:]
        else:
            yield line[1:]


def bird_restarting(b):
    """BGP protocols whose neighbour is in graceful restart: BIRD keeps
    their routes (RFC 4724 §4.2 stale) until the restart timer or the next
    session's End-of-RIB; `show route` does not flag them, the protocol does."""
    active, proto = set(), None
    for body in bird_lines(b, "show protocols all"):
        words = body.split()
        if len(words) >= 2 and not body.startswith(" ") and words[1] == "BGP":
            proto = words[0]
        elif proto and "Neighbor graceful restart active" in body:
            active.add(proto)
    return active


def bird_routes(b):
    """{prefix: stale} from `show route`: stale when the route's protocol
    is in graceful restart."""
    restarting = bird_restarting(b)
    out = {}
    prefix = None
    for body in bird_lines(b, "show route"):
        # A route line starts with its prefix, an alternative route with
        # blanks, its attributes with a tab.
        if body.startswith("\t") or not body.strip():
            continue
        if not body.startswith(" "):
            first = body.split()[0]
            if "/" not in first:
                prefix = None
                continue
            prefix = first
        if prefix is None:
            continue
        m = re.search(r"\[(\S+) ", body)
        stale = bool(m and m.group(1) in restarting)
        out[prefix] = out.get(prefix, False) or stale
    return out


class Vty:
    """bgpd's vtysh socket (DIR/bgpd.vty): a command is sent NUL-ended;
    the reply is the output, then three NULs and a status octet (0 = ok).
    Spawning vtysh twice per poll took ~300 ms on a loaded machine."""

    def __init__(self, vtydir):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(5)
        self.s.connect(vtydir + "/bgpd.vty")

    def cmd(self, c):
        self.s.sendall(c.encode() + b"\0")
        buf = b""
        while True:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("bgpd vty: connection closed")
            buf += chunk
            if len(buf) >= 4 and buf[-4:-1] == b"\0\0\0":
                if buf[-1] != 0:
                    raise RuntimeError("bgpd vty: %r failed (status %d)" % (c, buf[-1]))
                return buf[:-4].decode(errors="replace")


def frr_routes(vty):
    out = {}
    for afi in ("ipv4", "ipv6"):
        data = json.loads(vty.cmd("show bgp %s unicast json" % afi))
        for prefix, paths in (data.get("routes") or {}).items():
            out[prefix] = any(p.get("stale", False) for p in paths)
    return out


def poll(kind, where, stopfile, interval):
    b = None
    import os
    while not os.path.exists(stopfile):
        t = time.time()
        rec = {"t": t, "ok": True, "routes": {}}
        try:
            if b is None:
                b = Birdc(where) if kind == "bird" else Vty(where)
            rec["routes"] = bird_routes(b) if kind == "bird" else frr_routes(b)
        except Exception as e:  # recorded, never read as "no routes"
            rec = {"t": t, "ok": False, "error": str(e), "routes": {}}
            b = None
        print(json.dumps(rec), flush=True)
        time.sleep(max(0.0, interval - (time.time() - t)))


def load(log):
    with open(log) as f:
        return [json.loads(l) for l in f if l.strip()]


def always(log, t0, t1, prefixes):
    polls = [p for p in load(log) if t0 <= p["t"] <= t1]
    if len(polls) < 2:
        print("only %d polls in [%.3f, %.3f]" % (len(polls), t0, t1))
        return 1
    bad = 0
    stale = 0
    for p in polls:
        if not p["ok"]:
            print("poll at %.3f failed: %s" % (p["t"], p.get("error")))
            bad += 1
            continue
        missing = [x for x in prefixes if x not in p["routes"]]
        if missing:
            print("poll at %.3f lacks %s" % (p["t"], " ".join(missing)))
            bad += 1
        if any(p["routes"].get(x) for x in prefixes):
            stale += 1
    gaps = [b["t"] - a["t"] for a, b in zip(polls, polls[1:])]
    print("polls=%d stale_polls=%d max_interval_ms=%.0f" % (len(polls), stale, 1000 * max(gaps)))
    return 1 if bad else 0


def gap(log, t0, prefix):
    polls = [p for p in load(log) if p["t"] >= t0 and p["ok"]]
    longest, since = 0.0, None
    for p in polls:
        if prefix not in p["routes"]:
            if since is None:
                since = p["t"]
        elif since is not None:
            longest = max(longest, p["t"] - since)
            since = None
    if since is not None and polls:
        longest = max(longest, polls[-1]["t"] - since)
    print("%.3f" % longest)
    return 0


def main():
    a = sys.argv[1:]
    if a[:1] == ["poll"] and len(a) == 5 and a[1] in ("bird", "frr"):
        poll(a[1], a[2], a[3], float(a[4]))
        return 0
    if a[:1] == ["always"] and len(a) >= 5:
        return always(a[1], float(a[2]), float(a[3]), a[4:])
    if a[:1] == ["gap"] and len(a) == 4:
        return gap(a[1], float(a[2]), a[3])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
