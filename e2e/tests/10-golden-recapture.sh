#!/usr/bin/env bash
# Re-runs crates/bgp-proto/tests/golden/capture.sh into a temp dir and checks
# that every case produced a.bin/b.bin that are non-empty BGP streams: each one
# a sequence of framed BGP messages (16 x 0xff marker, length 19..65535, type
# 1..5) ending exactly at the end of the file, starting with an OPEN.
# (The lead will extend this to run the Rust decoder on the fresh capture.)
set -euo pipefail
E2E_TEST_NAME=10-golden-recapture
source "$(dirname "$0")/../lib/netns.sh"
REPO=$(cd "$(dirname "$0")/../.." && pwd)
GOLDEN="$REPO/crates/bgp-proto/tests/golden"
out="$E2E_TMP/golden"

# the TCP reassembler first, on synthetic captures with known streams
tshark_opt=(); command -v tshark >/dev/null && tshark_opt=(--tshark)
python3 "$GOLDEN/pcap2streams_selftest.py" "${tshark_opt[@]}" || die "pcap2streams self-test failed"

# in the background with its PID registered, so an interrupted test stops it (and
# capture.sh forwards that to the running case, which cleans up its namespaces)
spawn - "$E2E_TMP/capture.log" bash "$GOLDEN/capture.sh" "$out"
cap_pid=$E2E_LAST_PID
wait "$cap_pid" && cap_rc=0 || cap_rc=$?
cat "$E2E_TMP/capture.log" >&2
((cap_rc == 0)) || die "capture.sh failed (exit $cap_rc)"

# every committed case must have been re-captured
cases=()
for d in "$GOLDEN"/*/; do
  [[ -f $d/a.bin ]] && cases+=("$(basename "$d")")
done
((${#cases[@]} >= 1)) || die "no committed golden cases found in $GOLDEN"

check_stream() {
  python3 - "$1" <<'PY'
import sys
p = sys.argv[1]
d = open(p, "rb").read()
if not d:
    sys.exit("%s: empty" % p)
i = n = 0
types = []
while i < len(d):
    if d[i:i + 16] != b"\xff" * 16:
        sys.exit("%s: bad marker at offset %d" % (p, i))
    if i + 19 > len(d):
        sys.exit("%s: truncated header at offset %d" % (p, i))
    ln = int.from_bytes(d[i + 16:i + 18], "big")
    t = d[i + 18]
    if ln < 19 or i + ln > len(d) or t not in (1, 2, 3, 4, 5):
        sys.exit("%s: bad message at offset %d (length %d, type %d)" % (p, i, ln, t))
    types.append(t)
    i += ln
if types[0] != 1:
    sys.exit("%s: first message is type %d, not OPEN" % (p, types[0]))
print("%s: %d messages, types %s" % (p, len(types), "".join(map(str, types))))
PY
}

for c in "${cases[@]}"; do
  for f in a.bin b.bin; do
    [[ -s $out/$c/$f ]] || die "$c/$f missing or empty in the re-capture"
    [[ $(head -c 16 "$out/$c/$f" | od -An -tx1 | tr -d ' \n') == ffffffffffffffffffffffffffffffff ]] \
      || die "$c/$f does not start with a BGP marker"
    check_stream "$out/$c/$f" || die "$c/$f is not a well-formed BGP message stream"
  done
  # both sides must have sent a NOTIFICATION or the other side must have: every case ends with a Cease
  cat "$out/$c/a.bin" "$out/$c/b.bin" | python3 -c '
import sys
d = sys.stdin.buffer.read()
i = 0
seen = False
while i < len(d):
    ln = int.from_bytes(d[i+16:i+18], "big")
    if d[i+18] == 3 and d[i+19] == 6:
        seen = True
    i += ln
sys.exit(0 if seen else 1)' || die "$c: no Cease NOTIFICATION in the re-capture"
  log "ok: $c"
done

# The fresh captures must satisfy the same decoder assertions as the stored
# ones: every message decodes, the announced content matches each case's
# README, and our re-encoding decodes to the same values.
repo=$(cd "$(dirname "$0")/../.." && pwd)
log "running the bgp-proto golden test on the fresh captures"
(cd "$repo" && GOLDEN_DIR="$out" cargo test -q -p bgp-proto --test golden) \
  || die "bgp-proto's golden test fails on the fresh captures in $out"
log "PASS"
