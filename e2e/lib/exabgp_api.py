#!/usr/bin/env python3
"""ExaBGP API helper process: argv = LOGFILE FIFO.

Appends every line ExaBGP writes to our stdin (JSON messages) to LOGFILE, and
forwards every line written to FIFO to ExaBGP (our stdout) as an API command.
"""
import os
import sys
import threading


def pump_fifo(path):
    while True:
        with open(path, "r") as f:  # blocks until a writer opens it
            for line in f:
                line = line.strip()
                if line:
                    sys.stdout.write(line + "\n")
                    sys.stdout.flush()


def main():
    log, fifo = sys.argv[1], sys.argv[2]
    threading.Thread(target=pump_fifo, args=(fifo,), daemon=True).start()
    with open(log, "a", buffering=1) as out:
        for line in sys.stdin:
            out.write(line)
    os._exit(0)


if __name__ == "__main__":
    main()
