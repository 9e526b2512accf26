#!/usr/bin/env python3
"""Normalize the RIB output of BIRD, GoBGP, FRR and ExaBGP to one text form.

One line per prefix (best path only), sorted:

    PREFIX nh=NEXTHOP path=AS,AS,{AS,AS} lp=N med=N comm=A:B,C:D lcomm=A:B:C

A missing value is "-". AS_SET segments are written in braces. Communities are
sorted. Usage: normalize.py {bird|gobgp|frr|exabgp} [ipv4|ipv6] < input
(for exabgp the input is the JSON-lines log written by the API process).
Standard library only.
"""
import ipaddress
import json
import re
import sys


def fmt(prefix, nh=None, path=None, lp=None, med=None, comm=None, lcomm=None):
    def v(x):
        return "-" if x is None or x == "" or x == [] else str(x)

    return "%s nh=%s path=%s lp=%s med=%s comm=%s lcomm=%s" % (
        prefix,
        v(nh),
        v(",".join(path) if path else None),
        v(lp),
        v(med),
        v(",".join(sorted(comm, key=_ckey)) if comm else None),
        v(",".join(sorted(lcomm, key=_ckey)) if lcomm else None),
    )


def _ckey(c):
    return [int(x) if x.isdigit() else x for x in c.split(":")]


def _afi_ok(prefix, afi):
    if afi is None:
        return True
    try:
        net = ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        return True
    return (net.version == 4) == (afi == "ipv4")


def _pkey(line):
    p = line.split(" ", 1)[0]
    try:
        n = ipaddress.ip_network(p, strict=False)
        return (n.version, n.network_address.packed, n.prefixlen)
    except ValueError:
        return (9, p.encode(), 0)


def bird(text, afi):
    out = []
    cur = None  # dict for the route being parsed
    prefix = None

    def flush():
        if cur and cur["best"] and _afi_ok(cur["prefix"], afi):
            out.append(fmt(cur["prefix"], cur.get("nh"), cur.get("path"), cur.get("lp"),
                           cur.get("med"), cur.get("comm"), cur.get("lcomm")))

    for line in text.splitlines():
        if not line.strip() or line.startswith("BIRD ") or line.startswith("Table "):
            continue
        if line.startswith("\t") or line.startswith("  \t"):
            if cur is None:
                continue
            s = line.strip()
            # BIRD wraps long community lists onto "\t\t(...)" continuation lines
            if s.startswith("(") and cur.get("_last") in ("comm", "lcomm"):
                k = cur["_last"]
                if k == "comm":
                    cur[k] += ["%s:%s" % m for m in re.findall(r"\((\d+),\s*(\d+)\)", s)]
                else:
                    cur[k] += ["%s:%s:%s" % m
                               for m in re.findall(r"\((\d+),\s*(\d+),\s*(\d+)\)", s)]
                continue
            cur["_last"] = None
            if s.startswith("BGP.next_hop:"):
                cur["nh"] = s.split()[1]
            elif s.startswith("BGP.as_path:"):
                p = s.split(":", 1)[1].strip()
                toks = re.findall(r"\{[^}]*\}|\d+", p)
                cur["path"] = [("{" + ",".join(t[1:-1].split()) + "}") if t.startswith("{") else t
                               for t in toks]
            elif s.startswith("BGP.local_pref:"):
                cur["lp"] = s.split()[1]
            elif s.startswith("BGP.med:"):
                cur["med"] = s.split()[1]
            elif s.startswith("BGP.community:"):
                cur["comm"] = ["%s:%s" % m for m in re.findall(r"\((\d+),\s*(\d+)\)", s)]
                cur["_last"] = "comm"
            elif s.startswith("BGP.large_community:"):
                cur["lcomm"] = ["%s:%s:%s" % m
                                for m in re.findall(r"\((\d+),\s*(\d+),\s*(\d+)\)", s)]
                cur["_last"] = "lcomm"
            continue
        # route header line: "PREFIX  type [proto ...] * (pref) ..." or
        # a continuation "                     type [proto ...] ..." for the same prefix
        flush()
        if not line[0].isspace():
            prefix = line.split()[0]
        m = re.search(r"\]\s+(\*)?\s*\(", line)
        cur = {"prefix": prefix, "best": bool(m and m.group(1))}
    flush()
    return out


ORIGIN = {0: "i", 1: "e", 2: "?"}


def gobgp(text, afi):
    out = []
    text = text.strip()
    if not text:
        return out
    data = json.loads(text)
    if isinstance(data, list):  # some versions: list of destinations
        data = {d["prefix"]: d["paths"] for d in data}
    for prefix, paths in data.items():
        if not _afi_ok(prefix, afi):
            continue
        best = [p for p in paths if p.get("best")] or paths[:1]
        for p in best[:1]:
            r = {}
            for a in p.get("attrs", []):
                t = a.get("type")
                if t == 2:
                    path = []
                    for seg in a.get("as_paths", []):
                        asns = [str(x) for x in seg.get("asns", [])]
                        if seg.get("segment_type") == 1:
                            path.append("{" + ",".join(asns) + "}")
                        else:
                            path.extend(asns)
                    r["path"] = path
                elif t == 3:
                    r["nh"] = a.get("nexthop")
                elif t == 14:
                    r["nh"] = a.get("nexthop")
                elif t == 4:
                    r["med"] = a.get("metric")
                elif t == 5:
                    r["lp"] = a.get("value")
                elif t == 8:
                    r["comm"] = ["%d:%d" % (c >> 16, c & 0xFFFF) for c in a.get("communities", [])]
                elif t == 32:
                    r["lcomm"] = ["%d:%d:%d" % (c["ASN"], c["LocalData1"], c["LocalData2"])
                                  for c in a.get("value", [])]
            out.append(fmt(prefix, r.get("nh"), r.get("path"), r.get("lp"), r.get("med"),
                           r.get("comm"), r.get("lcomm")))
    return out


def _json_stream(text):
    dec = json.JSONDecoder()
    i = 0
    n = len(text)
    while i < n:
        while i < n and text[i] not in "{[":
            i += 1
        if i >= n:
            break
        obj, j = dec.raw_decode(text, i)
        yield obj
        i = j


def frr(text, afi):
    """Input: concatenated `show bgp <afi> unicast PREFIX json` outputs."""
    out = []
    for obj in _json_stream(text):
        prefix = obj.get("prefix")
        if not prefix or not _afi_ok(prefix, afi):
            continue
        paths = obj.get("paths", [])
        best = [p for p in paths if isinstance(p.get("bestpath"), dict)
                and p["bestpath"].get("overall")] or paths[:1]
        for p in best[:1]:
            path = None
            segs = (p.get("aspath") or {}).get("segments")
            if segs:
                path = []
                for seg in segs:
                    lst = [str(x) for x in seg.get("list", [])]
                    if seg.get("type") == "as-set":
                        path.append("{" + ",".join(lst) + "}")
                    else:
                        path.extend(lst)
            nh = None
            nhs = p.get("nexthops") or []
            if nhs:
                nh = nhs[0].get("ip")
            comm = (p.get("community") or {}).get("list")
            if comm is None and p.get("community"):
                comm = p["community"].get("string", "").split()
            lcomm = (p.get("largeCommunity") or {}).get("list")
            if lcomm is None and p.get("largeCommunity"):
                lcomm = p["largeCommunity"].get("string", "").split()
            out.append(fmt(prefix, nh, path, p.get("locPrf"), p.get("med", p.get("metric")),
                           comm, lcomm))
    return out


def frr_prefixes(text, afi):
    """Input: `show bgp <afi> unicast json`; prints the prefixes, one a line."""
    obj = json.loads(text) if text.strip() else {}
    return [p for p in (obj.get("routes") or {}) if _afi_ok(p, afi)]


def exabgp(text, afi):
    rib = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if m.get("type") == "state" and m.get("neighbor", {}).get("state") in ("down", "connected"):
            peer = m["neighbor"]["address"]["peer"]
            rib = {k: v for k, v in rib.items() if v[0] != peer}
            continue
        if m.get("type") != "update":
            continue
        nb = m.get("neighbor", {})
        peer = nb.get("address", {}).get("peer")
        upd = nb.get("message", {}).get("update")
        if not upd:
            continue
        attr = upd.get("attribute", {})
        for fam, nhs in (upd.get("withdraw") or {}).items():
            for n in nhs:
                rib.pop(n["nlri"] if isinstance(n, dict) else n, None)
        for fam, bynh in (upd.get("announce") or {}).items():
            # a global + link-local MP_REACH next hop appears as two keys with the
            # same NLRI: only the global one is shown (link-local only if alone)
            seen = set()
            for nh, nlris in sorted(bynh.items(), key=lambda kv: kv[0].lower().startswith("fe80:")):
                for n in nlris:
                    p = n["nlri"] if isinstance(n, dict) else n
                    if p in seen:
                        continue
                    seen.add(p)
                    path = []
                    for x in attr.get("as-path", []):
                        path.append("{" + ",".join(map(str, x)) + "}" if isinstance(x, list) else str(x))
                    for x in attr.get("as-set", []) or []:
                        pass
                    rib[p] = (peer, fmt(p, nh.split(" ")[0], path, attr.get("local-preference"),
                                        attr.get("med"),
                                        ["%d:%d" % tuple(c[:2]) for c in attr.get("community", [])],
                                        ["%d:%d:%d" % tuple(c[:3])
                                         for c in attr.get("large-community", [])]))
    return [v[1] for k, v in rib.items() if _afi_ok(k, afi)]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    kind = sys.argv[1]
    afi = sys.argv[2] if len(sys.argv) > 2 else None
    fn = {"bird": bird, "gobgp": gobgp, "frr": frr, "frr-prefixes": frr_prefixes,
          "exabgp": exabgp}[kind]
    lines = fn(sys.stdin.read(), afi)
    if kind != "frr-prefixes":
        lines.sort(key=_pkey)
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
