#!/usr/bin/env python3
"""Poll a BIRD control socket every INTERVAL s until table TABLE holds N routes.

Prints one JSON line: {"established": T1, "full": T2, "count": C} with
absolute times (time.time()) of the first poll that saw protocol PROTO
Established and the first that saw >= N routes (null on timeout).

  poll_bird.py SOCKET PROTO N TIMEOUT_S [INTERVAL_S] [TABLE] [atleast|atmost]

With `atmost` (for withdrawals) "full" is the first poll that saw <= N routes.
"""
import json
import re
import socket
import sys
import time


class Birdc:
    def __init__(self, path, deadline):
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.01)
        self.f = self.s.makefile("rb")
        self._reply()  # greeting

    def _reply(self):
        lines = []
        while True:
            line = self.f.readline().decode(errors="replace")
            if not line:
                raise EOFError
            lines.append(line.rstrip("\n"))
            if len(line) >= 5 and line[:4].isdigit() and line[4] == " ":
                return lines

    def cmd(self, c):
        self.s.sendall((c + "\n").encode())
        return self._reply()


def main():
    path, proto, n, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    interval = float(sys.argv[5]) if len(sys.argv) > 5 else 0.02
    table = sys.argv[6] if len(sys.argv) > 6 else "master4"
    mode = sys.argv[7] if len(sys.argv) > 7 else "atleast"
    if mode not in ("atleast", "atmost"):
        sys.exit("poll_bird.py: mode %r: want atleast or atmost" % mode)
    deadline = time.time() + timeout
    b = Birdc(path, deadline)
    est = full = None
    count = 0
    while time.time() < deadline:
        now = time.time()
        if est is None and any("Established" in l for l in b.cmd("show protocols " + proto)):
            est = now
        for l in b.cmd("show route count table " + table):
            m = re.search(r"(\d+) of (\d+) routes", l)
            if m:
                count = int(m.group(1))
        if (count >= n) if mode == "atleast" else (count <= n):
            full = now
            break
        time.sleep(interval)
    print(json.dumps({"established": est, "full": full, "count": count}))


if __name__ == "__main__":
    main()
