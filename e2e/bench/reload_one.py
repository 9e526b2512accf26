#!/usr/bin/env python3
"""Add one Service to a running speaker's config and time its route at BIRD.

  reload_one.py BIRD_SOCKET CFG_DIR SPEAKER_PID IP TIMEOUT_S

t0 = just before the new Service file CFG_DIR/60-one.yaml is written (atomic
rename) requesting IP via metallb.io/loadBalancerIPs; then SIGHUP;
then poll BIRD's control socket (`show route IP/32`, persistent connection,
200 us apart) until the route is there. Prints {"ms": T, "polls": P}; exits 1
on timeout.
"""
import json
import os
import signal
import socket
import sys
import time


class Birdc:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.f = self.s.makefile("rb")
        self.reply()

    def reply(self):
        out = []
        while True:
            line = self.f.readline().decode(errors="replace")
            if not line:
                raise EOFError("BIRD closed its control socket")
            out.append(line)
            if len(line) >= 5 and line[:4].isdigit() and line[4] == " ":
                return out

    def has(self, prefix):
        self.s.sendall(("show route %s\n" % prefix).encode())
        want = prefix + " "
        return any(
            (l[5:].lstrip() if l[:4].isdigit() else l.lstrip()).startswith(want) for l in self.reply()
        )


def main():
    sock, cfg, pid, ip, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
    b = Birdc(sock)
    prefix = ip + "/32"
    if b.has(prefix):
        sys.exit("reload_one.py: %s is in BIRD before the change" % prefix)
    doc = (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: one-more\n  namespace: bench\n"
        "  annotations:\n    metallb.io/loadBalancerIPs: %s\nspec:\n  type: LoadBalancer\n"
        "  ports: [{port: 80}]\n" % ip
    )
    tmp = os.path.join(cfg, ".60-one.yaml.tmp")
    pf = time.perf_counter
    t0 = pf()
    with open(tmp, "w") as f:
        f.write(doc)
    os.rename(tmp, os.path.join(cfg, "60-one.yaml"))
    os.kill(pid, signal.SIGHUP)
    polls = 0
    while True:
        polls += 1
        if b.has(prefix):
            print(json.dumps({"ms": (pf() - t0) * 1e3, "polls": polls}))
            return
        if pf() - t0 > timeout:
            sys.exit("reload_one.py: %s not in BIRD %.0f s after the change" % (prefix, timeout))
        time.sleep(0.0002)


if __name__ == "__main__":
    main()
