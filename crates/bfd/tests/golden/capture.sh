#!/usr/bin/env bash
# Captures real BFD Control packets between BIRD 2 (ns a, 192.0.2.1) and FRR
# bfdd with zebra (ns b, 192.0.2.2) and writes each distinct UDP payload as
# <sender>_<state>[_poll|_final].bin here. Run as root:
#   crates/bfd/tests/golden/capture.sh
set -euo pipefail
E2E_TEST_NAME=bfd-golden-capture
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../../e2e/lib/daemons.sh"
require tcpdump python3 bird /usr/lib/frr/bfdd /usr/lib/frr/zebra

ns_create a; ns_create b
ns_link a eth0 192.0.2.1/30 b eth0 192.0.2.2/30
d=$(daemon_dir frr); chmod 711 "$E2E_TMP"; chmod 777 "$d"  # zebra and bfdd drop to the frr user (vty group frrvty)
cat >"$d/frr.conf" <<'CONF'
bfd
 peer 192.0.2.1 local-address 192.0.2.2 interface eth0
  receive-interval 200
  transmit-interval 200
 !
!
CONF
spawn b "$d/zebra.log" /usr/lib/frr/zebra -u frr -g frr -i "$d/zebra.pid" \
  --vty_socket "$d" -z "$d/zserv" -A 127.0.0.1 -P 0 --log stdout -f /dev/null
wait_until 10 test -S "$d/zserv" || die "zebra did not start"
spawn b "$d/bfdd.log" /usr/lib/frr/bfdd -u frr -g frr -i "$d/bfdd.pid" \
  --vty_socket "$d" -z "$d/zserv" -A 127.0.0.1 -P 0 --log stdout -f "$d/frr.conf" \
  --bfdctl "$d/bfdd.sock"
bird_start bird a <<'CONF'
router id 192.0.2.1;
protocol device {}
protocol bfd { interface "eth0" { interval 300 ms; }; neighbor 192.0.2.2 local 192.0.2.1; }
CONF
cap="$E2E_TMP/bfd.pcap"
spawn b "$E2E_TMP/tcpdump.log" tcpdump -i eth0 -U -w "$cap" udp port 3784
tcpdump_pid=$E2E_LAST_PID
wait_until 30 sh -c "vtysh --vty_socket '$d' -d bfdd -c 'show bfd peers json' | grep -q '\"status\":\"up\"'" \
  || die "bfd not up"
sleep 2
# A parameter change: FRR runs a poll sequence.
vtysh --vty_socket "$d" -d bfdd -c 'configure terminal' -c 'bfd' \
  -c 'peer 192.0.2.1 local-address 192.0.2.2 interface eth0' -c 'transmit-interval 400' -c end
sleep 2
# BIRD goes away: FRR reports diag 1 (detection time expired).
daemon_stop bird
sleep 3
kill_pid "$tcpdump_pid" 5
python3 - "$cap" "$here" <<'PY'
import struct, sys, os
cap, out = sys.argv[1], sys.argv[2]
data = open(cap, "rb").read()
magic = struct.unpack("<I", data[:4])[0]
endian = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
off = 24
seen = {}
names = {0: "admindown", 1: "down", 2: "init", 3: "up"}
while off + 16 <= len(data):
    _, _, caplen, _ = struct.unpack(endian + "IIII", data[off:off + 16])
    frame = data[off + 16:off + 16 + caplen]
    off += 16 + caplen
    ip = frame[14:]
    ihl = (ip[0] & 15) * 4
    src = ip[12:16]
    payload = ip[ihl + 8:]
    who = "bird" if src == bytes([192, 0, 2, 1]) else "frr"
    state = names[payload[1] >> 6]
    tag = "_poll" if payload[1] & 0x20 else "_final" if payload[1] & 0x10 else ""
    diag = payload[0] & 31
    name = f"{who}_{state}{tag}" + (f"_diag{diag}" if diag else "")
    if name not in seen:
        seen[name] = payload
        # TTL as sent (RFC 5881 §5: 255) kept in a side file for the test.
        open(os.path.join(out, name + ".bin"), "wb").write(payload)
        open(os.path.join(out, name + ".ttl"), "w").write(f"{ip[8]}\n")
print("\n".join(sorted(seen)))
PY
