#!/usr/bin/env python3
"""Builds the fuzz seed corpora from the golden captures.

Every message of every captured stream becomes a seed for message_decode;
every UPDATE body a seed for update_decode; every UPDATE's path attribute
field a seed for attribute_decode. The first byte of each seed selects the
session parameters (see bgp_proto::fuzzing::params_from): bit 0 = 4-octet
AS, bit 2 = ADD-PATH, bit 3 = eBGP; it is set to what the capture negotiated.

Usage: fuzz/make-seeds.py  (from crates/bgp-proto)
"""
import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "tests", "golden")

# (case, side) -> params byte, from each case's README.
PARAMS = {
    ("bird-gobgp-ebgp-v4", "a"): 0b1001, ("bird-gobgp-ebgp-v4", "b"): 0b1001,
    ("bird-gobgp-ibgp-v6", "a"): 0b0001, ("bird-gobgp-ibgp-v6", "b"): 0b0001,
    ("frr-bird-ebgp", "a"): 0b1101, ("frr-bird-ebgp", "b"): 0b1001,
    ("gobgp-bird-2byte", "a"): 0b1000, ("gobgp-bird-2byte", "b"): 0b1000,
}


def messages(data):
    i = 0
    while i + 19 <= len(data):
        length = int.from_bytes(data[i + 16:i + 18], "big")
        if length < 19:
            sys.exit("bad length in stream")
        yield data[i:i + length]
        i += length


def write(target, data):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    for (case, side), p in sorted(PARAMS.items()):
        with open(os.path.join(GOLDEN, case, side + ".bin"), "rb") as f:
            stream = f.read()
        # The whole stream as one seed too: the decoder handles sequences.
        write("message_decode", bytes([p]) + stream)
        for m in messages(stream):
            write("message_decode", bytes([p]) + m)
            if m[18] != 2:
                continue
            body = m[19:]
            write("update_decode", bytes([p]) + body)
            wlen = int.from_bytes(body[0:2], "big")
            alen = int.from_bytes(body[2 + wlen:4 + wlen], "big")
            write("attribute_decode", bytes([p]) + body[4 + wlen:4 + wlen + alen])


if __name__ == "__main__":
    main()
