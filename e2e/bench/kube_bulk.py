#!/usr/bin/env python3
"""Kubernetes API helper for e2e/bench/controller-scale.sh (stdlib only).

Talks to the rig with KUBE_RIG_URL, KUBE_RIG_CA and KUBE_RIG_TOKEN over one
keep-alive HTTPS connection.

  kube_bulk.py create NS PREFIX N        POST N LoadBalancer Services; prints
                                         {"created": N, "seconds": S}
  kube_bulk.py wait NS N TIMEOUT T0_NS   poll the list (1 s) until N Services
                                         in NS have an ingress IP; prints
                                         {"allocated": n, "seconds": since T0_NS}
                                         (exit 1 on timeout)
  kube_bulk.py latency NS PREFIX COUNT   COUNT times: POST one Service, then GET
                                         it every 2 ms until status.loadBalancer
                                         has an IP; prints p50/p99/max in ms
  kube_bulk.py apicost NS PREFIX COUNT   the API server's own share, no controller
                                         involved: COUNT times POST one Service of
                                         another loadBalancerClass (ours ignores
                                         it), wait for its ADDED event on a watch
                                         opened beforehand, PATCH its status the
                                         way the controller does, GET it; prints
                                         p50/p99 of each step and of the sum, ms
"""
import http.client
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse


def conn():
    u = urllib.parse.urlparse(os.environ["KUBE_RIG_URL"])
    ctx = ssl.create_default_context(cafile=os.environ["KUBE_RIG_CA"])
    return http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=30)


HDR = {
    "Authorization": "Bearer " + os.environ.get("KUBE_RIG_TOKEN", ""),
    "Content-Type": "application/json",
    "Accept": "application/json",
}


def req(c, method, path, body=None):
    c.request(method, path, body=None if body is None else json.dumps(body), headers=HDR)
    r = c.getresponse()
    data = r.read()
    if r.status >= 300:
        sys.exit(f"kube_bulk: {method} {path}: HTTP {r.status}: {data[:300]!r}")
    return json.loads(data)


def svc(ns, name):
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": False, "ports": [{"port": 80}]},
    }


def has_ip(s):
    ing = ((s.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return any(i.get("ip") for i in ing)


def create(ns, prefix, n):
    c = conn()
    t = time.monotonic()
    for i in range(n):
        name = f"{prefix}{i:06d}"
        for attempt in range(3):
            try:
                req(c, "POST", f"/api/v1/namespaces/{ns}/services", svc(ns, name))
                break
            except (TimeoutError, ConnectionError, http.client.HTTPException) as e:
                # A POST the API server stalled on (seen once under load):
                # a new connection, then it exists already or is created.
                print(f"kube_bulk: POST {ns}/{name}: {e!r}, retrying on a new connection", file=sys.stderr)
                c.close()
                c = conn()
                c.request("GET", f"/api/v1/namespaces/{ns}/services/{name}", headers=HDR)
                r = c.getresponse()
                r.read()
                if r.status == 200:
                    break
        else:
            sys.exit(f"kube_bulk: POST {ns}/{name}: failed 3 times")
    print(json.dumps({"created": n, "seconds": round(time.monotonic() - t, 2)}))


def count_allocated(c, ns):
    n, cont = 0, ""
    while True:
        q = "limit=2000" + (f"&continue={urllib.parse.quote(cont)}" if cont else "")
        lst = req(c, "GET", f"/api/v1/namespaces/{ns}/services?{q}")
        n += sum(1 for s in lst["items"] if has_ip(s))
        cont = lst["metadata"].get("continue") or ""
        if not cont:
            return n


def wait(ns, n, timeout, t0_ns):
    c = conn()
    end = time.monotonic() + timeout
    while True:
        got = count_allocated(c, ns)
        if got >= n:
            print(json.dumps({"allocated": got, "seconds": round((time.time_ns() - t0_ns) / 1e9, 2)}))
            return
        if time.monotonic() > end:
            print(json.dumps({"allocated": got, "timeout": timeout}))
            sys.exit(1)
        time.sleep(1)


def latency(ns, prefix, count):
    c = conn()
    ms = []
    for i in range(count):
        name = f"{prefix}{i:04d}"
        t = time.monotonic()
        req(c, "POST", f"/api/v1/namespaces/{ns}/services", svc(ns, name))
        while True:
            s = req(c, "GET", f"/api/v1/namespaces/{ns}/services/{name}")
            if has_ip(s):
                break
            if time.monotonic() - t > 30:
                sys.exit(f"kube_bulk: {ns}/{name}: no ingress IP 30 s after creation")
            time.sleep(0.002)
        ms.append((time.monotonic() - t) * 1000)
    ms.sort()
    pick = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]
    print(json.dumps({"n": count, "p50_ms": round(pick(0.5), 1), "p99_ms": round(pick(0.99), 1), "max_ms": round(ms[-1], 1)}))


def pct(ms):
    ms = sorted(ms)
    pick = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]
    return {"p50_ms": round(pick(0.5), 1), "p99_ms": round(pick(0.99), 1)}


def apicost(ns, prefix, count):
    c = conn()
    rv = req(c, "GET", f"/api/v1/namespaces/{ns}/services?limit=1")["metadata"]["resourceVersion"]
    seen, cv = {}, threading.Condition()
    w = conn()
    w.request("GET", f"/api/v1/namespaces/{ns}/services?watch=1&resourceVersion={rv}", headers=HDR)
    wr = w.getresponse()
    if wr.status != 200:
        sys.exit(f"kube_bulk: watch {ns}/services: HTTP {wr.status}")

    def reader():
        while True:
            line = wr.readline()
            if not line:
                return
            ev = json.loads(line)
            if ev.get("type") == "ADDED":
                with cv:
                    seen[ev["object"]["metadata"]["name"]] = time.monotonic()
                    cv.notify_all()

    threading.Thread(target=reader, daemon=True).start()
    post, watch, patch, get, total = [], [], [], [], []
    for i in range(count):
        name = f"{prefix}{i:04d}"
        body = svc(ns, name)
        body["spec"]["loadBalancerClass"] = "bench.example/none"
        t0 = time.monotonic()
        req(c, "POST", f"/api/v1/namespaces/{ns}/services", body)
        t1 = time.monotonic()
        with cv:
            if not cv.wait_for(lambda: name in seen, timeout=30):
                sys.exit(f"kube_bulk: {ns}/{name}: no ADDED event 30 s after creation")
            t2 = max(seen[name], t1)
        c.request("PATCH", f"/api/v1/namespaces/{ns}/services/{name}/status",
                  body=json.dumps({"metadata": {"annotations": {"metallb.io/ip-allocated-from-pool": "bench"}},
                                   "status": {"loadBalancer": {"ingress": [{"ip": f"203.0.113.{i % 250 + 1}"}]}}}),
                  headers=dict(HDR, **{"Content-Type": "application/merge-patch+json"}))
        r = c.getresponse()
        data = r.read()
        if r.status >= 300:
            sys.exit(f"kube_bulk: PATCH {ns}/{name}/status: HTTP {r.status}: {data[:300]!r}")
        t3 = time.monotonic()
        if not has_ip(req(c, "GET", f"/api/v1/namespaces/{ns}/services/{name}")):
            sys.exit(f"kube_bulk: {ns}/{name}: GET after the status PATCH shows no ingress IP")
        t4 = time.monotonic()
        post.append((t1 - t0) * 1e3)
        watch.append((t2 - t1) * 1e3)
        patch.append((t3 - t2) * 1e3)
        get.append((t4 - t3) * 1e3)
        total.append((t4 - t0) * 1e3)
    print(json.dumps({"n": count, "post": pct(post), "watch_after_post": pct(watch),
                      "patch_status": pct(patch), "get": pct(get), "sum": pct(total)}))


def main():
    a = sys.argv[1:]
    if a[:1] == ["create"] and len(a) == 4:
        create(a[1], a[2], int(a[3]))
    elif a[:1] == ["wait"] and len(a) == 5:
        wait(a[1], int(a[2]), float(a[3]), int(a[4]))
    elif a[:1] == ["latency"] and len(a) == 4:
        latency(a[1], a[2], int(a[3]))
    elif a[:1] == ["apicost"] and len(a) == 4:
        apicost(a[1], a[2], int(a[3]))
    else:
        sys.exit(__doc__)


main()
