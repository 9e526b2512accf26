#!/usr/bin/env python3
"""Kubernetes API helper for e2e/bench/speaker-kube.sh (stdlib only): the
objects a cluster shows oxlb-speaker, made in bulk over one keep-alive HTTPS
connection (KUBE_RIG_URL, KUBE_RIG_CA, KUBE_RIG_TOKEN).

  kube_speaker_bulk.py nodes N
      POST Nodes node-000..; status InternalIP 198.19.255.x / 198.19.254.x
  kube_speaker_bulk.py services NS PREFIX START COUNT NODES
      per i in START..START+COUNT: POST a LoadBalancer Service, PATCH its
      status to 198.18.0.0 + i (as oxlb-controller writes it, with the pool
      annotation), POST its EndpointSlice (ETP Cluster; two ready endpoints
      on node-(i % NODES) and node-((i + 1) % NODES)); prints
      {"created": COUNT, "seconds": S}
  kube_speaker_bulk.py latency NS PREFIX START COUNT BIRD_SOCKET
      COUNT times: POST one Service and PATCH its status (the controller's
      write, at once), then ask BIRD `show route for IP/32` every 2 ms until
      it holds the route; prints p50/p99/max in ms (from the POST)
"""
import http.client
import ipaddress
import json
import os
import ssl
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from poll_bird import Birdc  # noqa: E402

BASE = ipaddress.IPv4Address("198.18.0.0")


def conn():
    u = urllib.parse.urlparse(os.environ["KUBE_RIG_URL"])
    ctx = ssl.create_default_context(cafile=os.environ["KUBE_RIG_CA"])
    return http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=30)


def req(c, method, path, body=None, ctype="application/json"):
    hdr = {
        "Authorization": "Bearer " + os.environ.get("KUBE_RIG_TOKEN", ""),
        "Content-Type": ctype,
        "Accept": "application/json",
    }
    c.request(method, path, body=None if body is None else json.dumps(body), headers=hdr)
    r = c.getresponse()
    data = r.read()
    if r.status >= 300:
        sys.exit(f"kube_speaker_bulk: {method} {path}: HTTP {r.status}: {data[:300]!r}")
    return json.loads(data)


def node_ip(k):
    return f"198.19.{255 - k // 250}.{1 + k % 250}"


def nodes(n):
    c = conn()
    for k in range(n):
        name = f"node-{k:03d}"
        req(c, "POST", "/api/v1/nodes", {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        })
        req(c, "PATCH", f"/api/v1/nodes/{name}/status",
            {"status": {"addresses": [{"type": "InternalIP", "address": node_ip(k)}]}},
            "application/merge-patch+json")
    print(json.dumps({"nodes": n}))


def make(c, ns, name, ip, endpoints):
    req(c, "POST", f"/api/v1/namespaces/{ns}/services", {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": ns,
                     "annotations": {"metallb.io/ip-allocated-from-pool": "bulk"}},
        "spec": {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": False,
                 "ports": [{"port": 80, "protocol": "TCP"}]},
    })
    req(c, "PATCH", f"/api/v1/namespaces/{ns}/services/{name}/status",
        {"status": {"loadBalancer": {"ingress": [{"ip": str(ip)}]}}},
        "application/merge-patch+json")
    if endpoints:
        req(c, "POST", f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{name}-x", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "ports": [{"port": 8080, "protocol": "TCP"}],
            "endpoints": [
                {"addresses": [addr], "nodeName": node, "conditions": {"ready": True}}
                for (addr, node) in endpoints
            ],
        })


def services(ns, prefix, start, count, n_nodes):
    c = conn()
    t = time.monotonic()
    for i in range(start, start + count):
        ep = [(f"198.19.{i % 200}.{1 + (i + j) % 250}", f"node-{(i + j) % n_nodes:03d}") for j in (0, 1)]
        make(c, ns, f"{prefix}{i:06d}", BASE + i, ep)
    print(json.dumps({"created": count, "seconds": round(time.monotonic() - t, 2)}))


def latency(ns, prefix, start, count, sock):
    c = conn()
    b = Birdc(sock, time.time() + 10)
    ms = []
    for i in range(start, start + count):
        ip = BASE + i
        t = time.monotonic()
        make(c, ns, f"{prefix}{i:06d}", ip, None)
        while True:
            # A route line names the prefix; "Network not found" does not.
            if any(f"{ip}/32" in line for line in b.cmd(f"show route for {ip}/32")):
                break
            if time.monotonic() - t > 30:
                sys.exit(f"kube_speaker_bulk: {ns}/{prefix}{i:06d}: {ip}/32 not in BIRD 30 s after creation")
            time.sleep(0.002)
        ms.append((time.monotonic() - t) * 1000)
    ms.sort()
    pick = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]
    print(json.dumps({"n": count, "p50_ms": round(pick(0.5), 1), "p99_ms": round(pick(0.99), 1),
                      "max_ms": round(ms[-1], 1)}))


def main():
    a = sys.argv[1:]
    if a[:1] == ["nodes"] and len(a) == 2:
        nodes(int(a[1]))
    elif a[:1] == ["services"] and len(a) == 6:
        services(a[1], a[2], int(a[3]), int(a[4]), int(a[5]))
    elif a[:1] == ["latency"] and len(a) == 6:
        latency(a[1], a[2], int(a[3]), int(a[4]), a[5])
    else:
        sys.exit(__doc__)


main()
