#!/usr/bin/env python3
"""Writes the hand-made seeds: one valid packet per state and one packet per
§6.8.6 discard rule, named after the rule (tests/fuzz_corpus.rs checks each
fails at that field). Captured packets (tests/golden/*.bin) are copied in too."""
import os, shutil, struct

here = os.path.dirname(os.path.abspath(__file__))

def pkt(vers=1, diag=0, sta=3, flags=0, mult=3, length=24, my=7, your=9,
        tx=300000, rx=300000, echo=0, extra=b""):
    b0 = (vers << 5) | diag
    b1 = (sta << 6) | flags
    return struct.pack("!BBBBIIIII", b0, b1, mult, length, my, your, tx, rx, echo) + extra

seeds = {
    "up": pkt(),
    "down_your_0": pkt(sta=1, your=0),
    "init": pkt(sta=2),
    "admin_down": pkt(sta=0, diag=7, your=0),
    "poll": pkt(flags=0x20),
    "final": pkt(flags=0x10),
    "version_0": pkt(vers=0),
    "length_23": pkt(length=23),
    "length_30": pkt(length=30),
    "detect_mult_0": pkt(mult=0),
    "multipoint": pkt(flags=0x01),
    "my_discriminator_0": pkt(my=0),
    "your_discriminator_0_up": pkt(your=0),
    "auth": pkt(flags=0x04, length=26, extra=b"\x01\x02"),
    "truncated_20": pkt()[:20],
}
for target in ("control_decode", "session_packets"):
    d = os.path.join(here, "seeds", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name + ".bin"), "wb") as f:
            f.write(data)
    golden = os.path.join(here, "..", "tests", "golden")
    if os.path.isdir(golden):
        for n in os.listdir(golden):
            if n.endswith(".bin"):
                shutil.copy(os.path.join(golden, n), os.path.join(d, "golden_" + n))
# A whole handshake for the session target.
with open(os.path.join(here, "seeds", "session_packets", "handshake.bin"), "wb") as f:
    f.write(pkt(sta=1, your=0) + pkt(sta=2, diag=1) + pkt(sta=3, diag=1) + pkt(sta=1, diag=1))
