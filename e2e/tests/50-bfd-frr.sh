#!/usr/bin/env bash
# e2e: serial (BFD timers of 100-500 ms)
# oxlb-speaker with BGPPeer.bfdProfile against FRR (zebra + bgpd + bfdd,
# `neighbor X bfd profile slow`), with mismatched intervals: each side's
# transmit interval is the slower of its own and the other's receive
# interval, as both report; FRR's BFD packets dropped (nftables in its
# namespace) -> Cease / BFD Down, FRR records the notification; packets let
# through -> BFD Up, BGP re-established.
#
#   node (oxlb-speaker, AS 64512) eth0 192.0.2.1/30 --- router (FRR, AS 64513) eth0 192.0.2.2/30
# Ours: tx 100, rx 300, x3. FRR's profile: tx 400, rx 500, x4.
set -euo pipefail
E2E_TEST_NAME=50-bfd-frr
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/speaker.sh"
source "$(dirname "$0")/../lib/bfd.sh"
require jq curl nft

cfg=$E2E_TMP/config
bfd_config "$cfg" 192.0.2.2 100 300 3
ns_create node; ns_create router
ns_link node eth0 192.0.2.1/30 router eth0 192.0.2.2/30
frr_bfd_start frr router <<'CONF'
bfd
 profile slow
  transmit-interval 400
  receive-interval 500
  detect-multiplier 4
 exit
exit
router bgp 64513
 bgp router-id 192.0.2.2
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 192.0.2.1 remote-as 64512
 neighbor 192.0.2.1 timers 30 90
 neighbor 192.0.2.1 timers connect 1
 neighbor 192.0.2.1 update-source 192.0.2.2
 neighbor 192.0.2.1 bfd profile slow
exit
CONF
[[ -n ${BFD_DEBUG_PCAP:-} ]] && spawn router "$E2E_TMP/td.log" tcpdump -i eth0 -U -w "$BFD_DEBUG_PCAP" udp
speaker_start sp node "$cfg" NodeA
frr_state() {
  local nb s
  nb=$(frr_vtysh frr 'show bgp neighbors 192.0.2.1 json') || return 2
  s=$(jq -er '."192.0.2.1".bgpState' <<<"$nb") || return 2
  printf '%s\n' "$s"
}
frr_up() { local s; s=$(frr_state) && [[ $s == Established ]]; }
# A failed vtysh is never "down".
frr_down() { local s; s=$(frr_state) && [[ $s != Established ]]; }
wait_until 20 frr_up || speaker_die sp "FRR: BGP not Established"
wait_until 20 eval '[[ $(frr_bfd_peer frr 192.0.2.1 .status) == up ]]' \
  || { frr_vtysh frr 'show bfd peers' >&2; speaker_die sp "FRR: BFD not up"; }
wait_until 10 eval '[[ $(speaker_bfd sp .state) == up ]]' || speaker_die sp "our BFD not up"
# FRR's view of us once the poll sequences are over: our tx 100, rx 300, x3.
wait_until 5 eval '[[ $(frr_bfd_peer frr 192.0.2.1 "[.\"remote-transmit-interval\", .\"remote-receive-interval\", .\"remote-detect-multiplier\"] | @tsv") == "100	300	3" ]]' \
  || { frr_vtysh frr 'show bfd peers json' >&2; die "FRR sees other values from us"; }
# FRR's own: it sends every max(400, our rx 300) = 400 ms.
[[ $(frr_bfd_peer frr 192.0.2.1 '[."transmit-interval", ."receive-interval", ."detect-multiplier"] | @tsv') == "400	500	4" ]] \
  || { frr_vtysh frr 'show bfd peers json' >&2; die "FRR runs other values"; }
# Ours: tx = max(100, FRR's rx 500) = 500; detection = 4 x max(our rx 300, its tx 400).
wait_until 5 eval '[[ $(speaker_bfd sp "[.tx_interval_ms, .detection_time_ms, .remote_desired_min_tx_ms, .remote_required_min_rx_ms] | @tsv") == "500	1600	400	500" ]]' \
  || speaker_die sp "our negotiated values: $(speaker_bfd sp '[.tx_interval_ms, .detection_time_ms] | @tsv')"
log "ok: mismatched intervals negotiated to the slower on both sides"
# FRR 8.4 re-registers its BFD session once BGP is up (a new discriminator:
# it signals Down, we take BGP down and up again), so count from here.
settled() { frr_up && [[ $(frr_bfd_peer frr 192.0.2.1 '.uptime') -ge 3 ]] && [[ $(speaker_bfd sp .state) == up ]]; }
wait_until 30 settled || speaker_die sp "BGP + BFD did not settle"
down0=$(speaker_metric sp 'metallb_bfd_session_down_events{peer="192.0.2.2",vrf="default"}') || die "no metric"
est0=$(speaker_session sp tor .established_count)

bfd_drop router
wait_until 10 speaker_not_established sp tor || speaker_die sp "BGP still up (or /status unreadable)"
reason=$(speaker_session sp tor .last_error_sent)
[[ $reason == *"BFD down"* ]] || speaker_die sp "torn down for another reason: $reason"
wait_until 5 frr_down || die "FRR still Established (or vtysh failed)"
nb=$(frr_vtysh frr 'show bgp neighbors 192.0.2.1 json') || die "vtysh failed"
jq -e '."192.0.2.1".lastNotificationReason // "" | test("Cease/BFD Down|BFD"; "i")' <<<"$nb" >/dev/null \
  || { jq '."192.0.2.1" | {lastNotificationReason, lastResetDueTo}' <<<"$nb" >&2; die "FRR did not record Cease/BFD Down"; }
[[ $(speaker_metric sp 'metallb_bfd_session_down_events{peer="192.0.2.2",vrf="default"}') == $((down0 + 1)) ]] \
  || speaker_die sp "metallb_bfd_session_down_events did not grow by 1"
log "ok: BFD down -> Cease/BFD Down, FRR: $(jq -r '."192.0.2.1".lastNotificationReason' <<<"$nb")"

bfd_allow router
wait_until 15 eval '[[ $(speaker_bfd sp .state) == up ]]' || speaker_die sp "BFD not up again"
wait_until 20 frr_up || speaker_die sp "BGP not re-established"
# (FRR may re-register its BFD session again once BGP is back: at least one.)
wait_until 10 eval '[[ $(speaker_session sp tor .state) == Established && $(speaker_session sp tor .established_count) -gt $est0 ]]' \
  || speaker_die sp "our session was not re-established"
log "PASS"
