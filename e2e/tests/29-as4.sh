#!/usr/bin/env bash
# 4-octet AS (RFC 6793): the speaker runs as AS 4200000001.
#  * to a 4-octet-capable peer (BIRD) the AS_PATH is [4200000001];
#  * to a 2-octet-only peer (ExaBGP with `asn4 disable`, configured with
#    peer-as 23456 = AS_TRANS) the OPEN carries My AS 23456, the UPDATE carries
#    AS_PATH [23456] (2-octet) plus AS4_PATH [4200000001] (checked on the wire
#    with tcpdump), and ExaBGP reconstructs the path [4200000001].
#
#   b (BIRD 64513)          eth0 192.0.2.2/30 --- e0 192.0.2.1/30 ox (oxlb 4200000001)
#   x (ExaBGP 64514, 2-oct) eth0 192.0.2.6/30 --- x0 192.0.2.5/30 ox
set -euo pipefail
E2E_TEST_NAME=29-as4
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/oxlb.sh"
require bird birdc exabgp jq tcpdump tshark

ns_create ox; ns_create b; ns_create x
ns_link ox e0 192.0.2.1/30 b eth0 192.0.2.2/30
ns_link ox x0 192.0.2.5/30 x eth0 192.0.2.6/30

spawn x "$E2E_TMP/tcpdump.log" tcpdump -i eth0 --immediate-mode -U -w "$E2E_TMP/x.pcap" 'tcp port 179'
tcpdump_pid=$E2E_LAST_PID
wait_until 10 grep -q 'listening on' "$E2E_TMP/tcpdump.log" || die "tcpdump did not start"

bird_start b b <<'CONF'
router id 192.0.2.2;
protocol device {}
protocol bgp ox { local as 64513; neighbor 192.0.2.1 as 4200000001; passive on; ipv4 { import all; export none; }; }
CONF

oxlb_routes_v4 2 | oxlb_routes ox
oxlb_start ox ox --router-id 192.0.2.1 --local-as 4200000001 --listen 192.0.2.5:179 \
  --peer 'address=192.0.2.2,as=64513,name=b' \
  --peer 'address=192.0.2.6,as=64514,name=x,passive'

exabgp_start x x < <(exabgp_api_process x; cat <<'CONF'
neighbor 192.0.2.5 {
  router-id 192.0.2.6;
  local-address 192.0.2.6;
  local-as 64514;
  peer-as 23456;
  capability { asn4 disable; }
  family { ipv4 unicast; }
  api { processes [ api ]; receive { parsed; update; } neighbor-changes; }
}
CONF
)

wait_until 20 bird_established b ox || { oxlb_dump ox; die "BIRD session not Established"; }
wait_until 20 exabgp_established x 192.0.2.5 || { daemon_log x 20 >&2; oxlb_dump ox; die "ExaBGP (2-octet) session not up"; }
oxlb_check_rib "4-octet peer (BIRD)" bird_routes b ipv4 2 192.0.2.1 4200000001 0
oxlb_check_rib "2-octet peer (ExaBGP, path rebuilt from AS4_PATH)" exabgp_routes x ipv4 2 192.0.2.5 4200000001 0

kill_pid "$tcpdump_pid" 5
# Every UPDATE with NLRI from the speaker: AS_PATH must be the 2-octet [23456]
# (40 02 04 02 01 5ba0) and AS4_PATH [4200000001] (c0 11 06 02 01 fa56ea01) present.
# (OPEN My AS: the 2 octets after version 04 must be 5ba0.)
payloads=$(tshark -r "$E2E_TMP/x.pcap" -Y 'ip.src == 192.0.2.5 && tcp.len > 0' -T fields -e tcp.payload 2>/dev/null | tr -d ':')
[[ -n $payloads ]] || die "no BGP segments from the speaker captured"
grep -q 'ffffffffffffffffffffffffffffffff....01045ba0' <<<"$payloads" \
  || { echo "$payloads" >&2; die "OPEN to the 2-octet peer does not carry My AS 23456"; }
updates=$(grep -o 'ffffffffffffffffffffffffffffffff....02[0-9a-f]*' <<<"$payloads" | grep 'cb007101\|cb007102' || true)
[[ -n $updates ]] || { echo "$payloads" >&2; die "no UPDATE with the test NLRI captured"; }
grep -q '40020402015ba0' <<<"$updates" || { echo "$updates" >&2; die "UPDATE lacks the 2-octet AS_PATH [23456]"; }
grep -q 'c011060201fa56ea01' <<<"$updates" || { echo "$updates" >&2; die "UPDATE lacks AS4_PATH [4200000001]"; }
log "ok: wire format to the 2-octet peer: OPEN My AS 23456, AS_PATH [23456], AS4_PATH [4200000001]"
daemon_alive ox || die "oxlb-bgp died"
log "PASS"
