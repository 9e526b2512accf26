#!/usr/bin/env bash
# e2e: serial (BFD timers of 100-300 ms)
# oxlb-speaker with BGPPeer.bfdProfile against BIRD 2 (`protocol bfd` +
# `bfd on`): BFD Up on both sides with the negotiated intervals; BIRD's BFD
# packets dropped (nftables in its namespace) -> our BGP session is torn down
# with Cease / BFD Down (hold time 90 s: nothing else could) and stays down
# while BFD is down; packets let through -> BFD Up -> BGP re-established and
# the VIP back in BIRD's RIB; a profile change on reload is applied with a
# poll sequence: BIRD shows the new interval, no BFD or BGP flap; the
# bfdProfile removed on reload -> we keep sending AdminDown for a detection
# time (RFC 5880 §6.8.16; nftables counts them at BIRD), then stop; our BFD
# session is gone from /status (BIRD 2.0.12 drops BGP on the AdminDown,
# see below).
#
#   node (oxlb-speaker, AS 64512) eth0 192.0.2.1/30 --- router (BIRD, AS 64513) eth0 192.0.2.2/30
set -euo pipefail
E2E_TEST_NAME=50-bfd-bird
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/speaker.sh"
source "$(dirname "$0")/../lib/bfd.sh"
require bird birdc jq curl nft

cfg=$E2E_TMP/config
bfd_config "$cfg" 192.0.2.2 100 300 3
ns_create node; ns_create router
ns_link node eth0 192.0.2.1/30 router eth0 192.0.2.2/30
bird_start router router <<'CONF'
router id 192.0.2.2;
protocol device {}
protocol bfd { interface "eth0" { min rx interval 200 ms; min tx interval 200 ms; multiplier 3; }; }
protocol bgp tor { local as 64513; neighbor 192.0.2.1 as 64512; hold time 90; bfd on;
  connect delay time 1; ipv4 { import all; export none; }; }
CONF
speaker_start sp node "$cfg" NodeA
wait_until 20 bird_established router tor || speaker_die sp "BGP not Established"
wait_until 20 bird_bfd_up router 192.0.2.1 || { bird_cmd router show bfd sessions >&2; speaker_die sp "BIRD: BFD not Up"; }
wait_until 10 eval '[[ $(speaker_bfd sp .state) == up ]]' || speaker_die sp "our BFD not up"
# BIRD: Interval = its tx = max(its 200 ms, our rx 300 ms); Timeout = our
# multiplier x max(its rx 200 ms, our tx 100 ms).
line=$(bird_bfd router 192.0.2.1)
grep -Eq ' 0\.300 +0\.600$' <<<"$line" || die "BIRD negotiated other values: $line"
# Ours: tx = max(100, BIRD's rx 200); detection = 3 x max(our rx 300, its tx 200).
wait_until 5 eval '[[ $(speaker_bfd sp "[.tx_interval_ms, .detection_time_ms] | @tsv") == "200	900" ]]' \
  || speaker_die sp "our negotiated values: $(speaker_bfd sp '[.tx_interval_ms, .detection_time_ms] | @tsv')"
[[ $(speaker_metric sp 'metallb_bfd_session_up{peer="192.0.2.2",vrf="default"}') == 1 ]] \
  || speaker_die sp "metallb_bfd_session_up is not 1"
wait_until 10 rib_has bird_routes router ipv4 '^203\.0\.113\.1/32 ' || die "VIP not in BIRD's RIB"
log "ok: BFD and BGP up; BIRD: $line"

# ---- BIRD's BFD packets dropped ----
bfd_drop router
wait_until 10 speaker_not_established sp tor || speaker_die sp "BGP still up (or /status unreadable)"
reason=$(speaker_session sp tor .last_error_sent)
[[ $reason == *"BFD down"* ]] || speaker_die sp "torn down for another reason: $reason"
[[ $(speaker_bfd sp .local_diag) == control-detection-time-expired ]] || speaker_die sp "wrong BFD diag"
[[ $(speaker_metric sp 'metallb_bfd_session_down_events{peer="192.0.2.2",vrf="default"}') == 1 ]] \
  || speaker_die sp "metallb_bfd_session_down_events is not 1"
# BIRD's own view: the session is gone, BIRD received our Cease.
wait_until 5 bird_not_established router tor || die "BIRD still Established"
# BIRD 2.0.12 has no name for Cease subcode 10 (RFC 9384): "Unknown error 6.10".
proto=$(bird_cmd router show protocols all tor) || die "birdc failed"
# Our BFD Down packets race our Cease: when BIRD reads the Down first it
# drops the session itself ("BFD session down") before the Cease arrives;
# that we sent the Cease is checked above (last_error_sent). Anything else
# (a hold timer, another error) fails.
grep -Eq 'Last error: +(Received: .*6\.10|Error: BFD session down)' <<<"$proto" ||
  { printf '%s\n' "$proto" >&2; die "BIRD did not receive Cease/BFD Down nor see BFD go down"; }
wait_until 5 rib_lacks bird_routes router ipv4 '^203\.0\.113\.1/32 ' || die "VIP still in BIRD's RIB"
# Held down while BFD is down: BIRD keeps dialling, we keep refusing.
sleep 3
st=$(speaker_bgp_state sp tor) || speaker_die sp "/status unreadable while BFD is down"
held=$(speaker_session sp tor .bfd_held) || speaker_die sp "/status unreadable while BFD is down"
[[ $st != Established && $held == true ]] || speaker_die sp "BGP came back while BFD is down: state $st, bfd_held $held"
log "ok: BFD down -> BGP torn down with Cease/BFD Down, held down"
# A BGPPeer change while held re-creates the BGP peer: it must stay held.
sed -i 's/holdTime: 90s/holdTime: 60s/' "$cfg/10-peer.yaml"
speaker_hup sp
wait_until 10 eval '[[ $(speaker_session sp tor .bfd_held) == true ]]' || speaker_die sp "re-created peer not held"
sleep 3
st=$(speaker_bgp_state sp tor) || speaker_die sp "/status unreadable after the reload (speaker dead?)"
[[ $st != Established ]] || speaker_die sp "re-created peer came up while BFD is down"
log "ok: a peer re-created by a reload stays held while BFD is down"

# ---- packets let through again ----
bfd_allow router
wait_until 10 eval '[[ $(speaker_bfd sp .state) == up ]]' || speaker_die sp "BFD not up again"
wait_until 20 bird_established router tor || speaker_die sp "BGP not re-established"
wait_until 10 rib_has bird_routes router ipv4 '^203\.0\.113\.1/32 ' || die "VIP not back in BIRD's RIB"
est1=$(speaker_session sp tor .established_count)
log "ok: BFD up -> BGP re-established"

# ---- profile change on reload: poll sequence, no flap ----
ups=$(speaker_bfd sp .session_up_events)
bfd_config "$cfg" 192.0.2.2 100 500 3
sed -i 's/holdTime: 90s/holdTime: 60s/' "$cfg/10-peer.yaml"
speaker_hup sp
wait_until 10 bird_bfd_has router 192.0.2.1 ' 0\.500 +0\.600$' \
  || { bird_bfd router 192.0.2.1 >&2; speaker_die sp "BIRD did not take the new receive interval"; }
sleep 1
[[ $(speaker_bfd sp .session_up_events) == "$ups" && $(speaker_bfd sp .state) == up ]] || speaker_die sp "BFD flapped on reload"
[[ $(speaker_session sp tor .established_count) == "$est1" && $(speaker_session sp tor .state) == Established ]] \
  || speaker_die sp "BGP reset on reload"
[[ $(speaker_bfd sp .polling) == false ]] || speaker_die sp "poll sequence did not finish"
log "ok: profile change applied with a poll sequence, no flap"

# ---- bfdProfile removed: AdminDown for a detection time, BGP stays up ----
# Count the AdminDown packets (State bits, octet 1 of the Control packet,
# = 0) that reach BIRD.
nsx router nft -f - <<'NFT' || die "nft: AdminDown counter not installed"
table inet oxlb_bfd_admindown {
  chain in { type filter hook input priority 0; udp dport 3784 @th,72,2 0 counter; }
}
NFT
admin_downs() {
  local t; t=$(nsx router nft list table inet oxlb_bfd_admindown) || return 2
  awk '/dport 3784/ { for (i = 1; i <= NF; i++) if ($i == "packets") { print $(i + 1); f = 1 } } END { exit !f }' <<<"$t"
}
n=$(admin_downs) || die "cannot read the AdminDown counter"
[[ $n == 0 ]] || die "AdminDown packets while BFD is up: $n"
sed -i '/bfdProfile: fast/d' "$cfg/10-peer.yaml"
speaker_hup sp
wait_until 10 eval '[[ $(speaker_status sp | jq -r ".bfd.sessions | length") == 0 ]]' \
  || speaker_die sp "the removed BFD session is still in /status"
# Our multiplier 3 x the slow rate 1 s: at least 3 AdminDown packets
# (one right away, then about one a second), then nothing more.
wait_until 6 eval '[[ $(admin_downs) -ge 3 ]]' || die "BIRD got $(admin_downs) AdminDown packets, want 3 or more over the detection time"
# The period is 3 x 1 s from the removal: past it, the count stays.
sleep 4
n=$(admin_downs) || die "cannot read the AdminDown counter"
((n >= 5)) || die "BIRD got $n AdminDown packets over the period, want 5 or more (4 at the old rate, then 1 s apart)"
sleep 2
[[ $(admin_downs) == "$n" ]] || die "AdminDown packets still sent after the detection time: $n, then $(admin_downs)"
# BIRD 2.0.12 takes BGP down on any Up -> Down of its BFD session, a
# peer's AdminDown included (its bfd_request_notify has no AdminDown
# exception; RFC 5882 §3.2 asks for one, later BIRD releases have it), and
# then waits out its error backoff: BGP is not checked here; 50-bfd-frr
# checks that a router following §3.2 keeps BGP up.
log "ok: bfdProfile removed: $n AdminDown packets to BIRD over the detection time, then none"
log "PASS"
