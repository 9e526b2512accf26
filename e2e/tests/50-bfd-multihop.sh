#!/usr/bin/env bash
# e2e: serial (BFD timers)
# Multihop BFD (RFC 5883, UDP 4784) across a routed hop: an ebgpMultiHop
# BGPPeer with a bfdProfile against BIRD 2 (`multihop 2; bfd on`). Ours
# leave with TTL 255 (254 at BIRD); BIRD 2.0.12 sends multihop BFD with TTL
# 64 (63 here), so the default minimumTtl 254 refuses them: BIRD sits in
# Init, we in Down, BGP unaffected. minimumTtl 60 on reload -> Up on both
# sides on port 4784; BIRD's BFD dropped -> Cease / BFD Down across the hop.
#
#   node (oxlb-speaker) eth0 192.0.2.1/30 --- hop (forwarding) --- eth0 198.51.100.2/30 router (BIRD)
set -euo pipefail
E2E_TEST_NAME=50-bfd-multihop
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/speaker.sh"
source "$(dirname "$0")/../lib/bfd.sh"
require bird birdc jq curl nft

cfg=$E2E_TMP/config
bfd_config "$cfg" 198.51.100.2 100 200 3 true
ns_create node; ns_create hop; ns_create router
ns_link node eth0 192.0.2.1/30 hop eth0 192.0.2.2/30
ns_link hop eth1 198.51.100.1/30 router eth0 198.51.100.2/30
ns_forwarding hop 1
nsx node ip route add 198.51.100.0/30 via 192.0.2.2
nsx router ip route add 192.0.2.0/30 via 198.51.100.1
bird_start router router <<'CONF'
router id 198.51.100.2;
protocol device {}
protocol bfd { multihop { min rx interval 200 ms; min tx interval 200 ms; multiplier 3; }; }
protocol bgp tor { local 198.51.100.2 as 64513; neighbor 192.0.2.1 as 64512; multihop 2; hold time 90;
  bfd on; connect delay time 1; ipv4 { import all; export none; }; }
CONF
[[ -n ${BFD_DEBUG_PCAP:-} ]] && spawn router "$E2E_TMP/td.log" tcpdump -i eth0 -U -w "$BFD_DEBUG_PCAP" udp
speaker_start sp node "$cfg" NodeA
wait_until 20 bird_established router tor || speaker_die sp "BGP not Established"
wait_until 10 bird_bfd_has router 192.0.2.1 ' Init ' || { bird_cmd router show bfd sessions >&2; die "BIRD does not hear us"; }
[[ $(speaker_bfd sp '[.state, .control_packet_input] | @tsv') == "down	0" ]] || speaker_die sp "TTL 63 packets were accepted with minimumTtl 254"
log "ok: minimumTtl 254 refuses BIRD's TTL-63 packets"
printf '  minimumTtl: 60\n' >>"$cfg/10-peer.yaml"
speaker_hup sp
wait_until 20 bird_bfd_up router 192.0.2.1 || { bird_cmd router show bfd sessions >&2; speaker_die sp "BIRD: BFD not Up"; }
wait_until 10 eval '[[ $(speaker_bfd sp .state) == up ]]' || speaker_die sp "our BFD not up"
[[ $(speaker_bfd sp '[.multihop, .configured.minimum_ttl] | @tsv') == "true	60" ]] || speaker_die sp "not a multihop session"
# The session really runs on 4784: BIRD's packets to us are counted there.
cnt() { nsx node nft list table inet oxlb_bfd_count | awk '/dport 4784/ {for (i=1;i<=NF;i++) if ($i=="packets") print $(i+1)}'; }
nsx node nft -f - <<'NFT'
table inet oxlb_bfd_count {
  chain in { type filter hook input priority 0; udp dport 4784 ip ttl 63 counter; }
}
NFT
wait_until 5 eval '[[ $(cnt) -ge 3 ]]' || die "no BFD packets with TTL 63 on port 4784"
log "ok: multihop BFD up across the hop: $(bird_bfd router 192.0.2.1)"

bfd_drop router
wait_until 10 speaker_not_established sp tor || speaker_die sp "BGP still up (or /status unreadable)"
[[ $(speaker_session sp tor .last_error_sent) == *"BFD down"* ]] || speaker_die sp "torn down for another reason"
wait_until 5 bird_not_established router tor || die "BIRD still Established"
bfd_allow router
wait_until 20 bird_established router tor || speaker_die sp "BGP not re-established"
log "PASS"
