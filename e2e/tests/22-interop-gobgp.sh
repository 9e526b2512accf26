#!/usr/bin/env bash
# Interop: oxlb-bgp (AS 64512) announces 10 IPv4 /32 and 10 IPv6 /128 to GoBGP
# over eBGP (AS 64513, v4 + v6 sessions) and iBGP (AS 64512, v4 + v6).
# GoBGP is passive (the speaker dials). Asserts from GoBGP's global RIB: next
# hop, AS_PATH, LOCAL_PREF (iBGP), communities, large communities; then a
# withdrawal via routes-file + SIGHUP.
#
#   ox (oxlb 64512) e0 192.0.2.1/30 2001:db8:1::1/64 --- eth0 .2 ::2  ge (GoBGP 64513)
#                   i0 192.0.2.5/30 2001:db8:2::1/64 --- eth0 .6 ::2  gi (GoBGP 64512)
set -euo pipefail
E2E_TEST_NAME=22-interop-gobgp
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/oxlb.sh"
require gobgpd gobgp jq

ns_create ox; ns_create ge; ns_create gi
ns_link ox e0 192.0.2.1/30,2001:db8:1::1/64 ge eth0 192.0.2.2/30,2001:db8:1::2/64
ns_link ox i0 192.0.2.5/30,2001:db8:2::1/64 gi eth0 192.0.2.6/30,2001:db8:2::2/64

gobgp_conf() { # AS ROUTER-ID V4PEER V6PEER PEER-AS
  cat <<CONF
[global.config]
  as = $1
  router-id = "$2"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "$3"
    peer-as = $5
  [neighbors.transport.config]
    passive-mode = true
[[neighbors]]
  [neighbors.config]
    neighbor-address = "$4"
    peer-as = $5
  [neighbors.transport.config]
    passive-mode = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
CONF
}
gobgp_start ge ge < <(gobgp_conf 64513 192.0.2.2 192.0.2.1 2001:db8:1::1 64512)
gobgp_start gi gi < <(gobgp_conf 64512 192.0.2.6 192.0.2.5 2001:db8:2::1 64512)

{ oxlb_routes_v4 10; oxlb_routes_v6 10; } | oxlb_routes ox
oxlb_start ox ox --router-id 192.0.2.1 --local-as 64512 \
  --peer 'address=192.0.2.2,as=64513,name=e4' \
  --peer 'address=2001:db8:1::2,as=64513,name=e6' \
  --peer 'address=192.0.2.6,as=64512,name=i4' \
  --peer 'address=2001:db8:2::2,as=64512,name=i6'

log "waiting for 4 sessions"
for p in "ge 192.0.2.1" "ge 2001:db8:1::1" "gi 192.0.2.5" "gi 2001:db8:2::1"; do
  # shellcheck disable=SC2086
  wait_until 20 gobgp_established $p || { gobgp_cmd ${p% *} neighbor >&2; oxlb_dump ox; die "GoBGP ${p/ /:} not Established"; }
done
for p in e4 e6 i4 i6; do
  wait_until 5 oxlb_established ox "$p" || { oxlb_dump ox; die "speaker: $p not Established in status"; }
done
log "ok: eBGP and iBGP, IPv4 and IPv6 sessions Established (both sides)"

oxlb_check_rib "eBGP v4" gobgp_routes ge ipv4 10 192.0.2.1 64512 0
oxlb_check_rib "eBGP v6" gobgp_routes ge ipv6 10 2001:db8:1::1 64512 0
oxlb_check_rib "iBGP v4" gobgp_routes gi ipv4 10 192.0.2.5 - 1
oxlb_check_rib "iBGP v6" gobgp_routes gi ipv6 10 2001:db8:2::1 - 1

{ oxlb_routes_v4 10 5; oxlb_routes_v6 10 5 6; } | oxlb_routes ox
oxlb_check_rib "eBGP v4 after withdrawal" gobgp_routes ge ipv4 10 192.0.2.1 64512 0 5
oxlb_check_rib "eBGP v6 after withdrawal" gobgp_routes ge ipv6 10 2001:db8:1::1 64512 0 5 6
oxlb_check_rib "iBGP v4 after withdrawal" gobgp_routes gi ipv4 10 192.0.2.5 - 1 5
oxlb_check_rib "iBGP v6 after withdrawal" gobgp_routes gi ipv6 10 2001:db8:2::1 - 1 5 6

for p in e4 e6 i4 i6; do
  [[ $(oxlb_field ox "$p" .established_count) == 1 ]] || { oxlb_dump ox; die "$p was reset (established_count != 1)"; }
done
daemon_alive ox || die "oxlb-bgp died"
log "PASS"
