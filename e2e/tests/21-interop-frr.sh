#!/usr/bin/env bash
# Interop: oxlb-bgp (AS 64512) announces 10 IPv4 /32 and 10 IPv6 /128 to FRR
# bgpd over eBGP (AS 64513, v4 + v6 sessions) and iBGP (AS 64512, v4 + v6).
# Both sides dial and the speaker also listens, so connection collisions are
# exercised. Asserts from FRR's own RIB: next hop, AS_PATH, LOCAL_PREF (iBGP),
# communities, large communities; then a withdrawal via routes-file + SIGHUP.
#
#   ox (oxlb 64512) e0 192.0.2.1/30 2001:db8:1::1/128 --- eth0 .2 ::2  fe (FRR 64513)
#                   i0 192.0.2.5/30 2001:db8:2::1/128 --- eth0 .6 ::2  fi (FRR 64512)
set -euo pipefail
E2E_TEST_NAME=21-interop-frr
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/oxlb.sh"
require /usr/lib/frr/bgpd vtysh jq

ns_create ox; ns_create fe; ns_create fi
# IPv6 addresses are /128 with a host route over the link: bgpd runs without
# zebra, knows no interfaces and so withdraws every route whose MP_REACH next
# hop includes a link-local address ("sent a v6 LL next-hop and there's no peer
# interface information"). The speaker adds its link-local next hop only when
# the peer is inside one of its on-link prefixes, so with /128s it sends the
# global next hop alone. (BIRD, GoBGP and ExaBGP are tested with /64s + LL.)
ns_link ox e0 192.0.2.1/30,2001:db8:1::1/128 fe eth0 192.0.2.2/30,2001:db8:1::2/128
ns_link ox i0 192.0.2.5/30,2001:db8:2::1/128 fi eth0 192.0.2.6/30,2001:db8:2::2/128
nsx ox ip -6 route add 2001:db8:1::2/128 dev e0; nsx fe ip -6 route add 2001:db8:1::1/128 dev eth0
nsx ox ip -6 route add 2001:db8:2::2/128 dev i0; nsx fi ip -6 route add 2001:db8:2::1/128 dev eth0

frr_start fe fe <<'CONF'
hostname fe
router bgp 64513
 bgp router-id 192.0.2.2
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 192.0.2.1 remote-as 64512
 neighbor 192.0.2.1 timers connect 1
 neighbor 2001:db8:1::1 remote-as 64512
 neighbor 2001:db8:1::1 timers connect 1
 address-family ipv4 unicast
  no neighbor 2001:db8:1::1 activate
 exit-address-family
 address-family ipv6 unicast
  neighbor 2001:db8:1::1 activate
 exit-address-family
CONF
frr_start fi fi <<'CONF'
hostname fi
router bgp 64512
 bgp router-id 192.0.2.6
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 192.0.2.5 remote-as 64512
 neighbor 192.0.2.5 timers connect 1
 neighbor 2001:db8:2::1 remote-as 64512
 neighbor 2001:db8:2::1 timers connect 1
 address-family ipv4 unicast
  no neighbor 2001:db8:2::1 activate
 exit-address-family
 address-family ipv6 unicast
  neighbor 2001:db8:2::1 activate
 exit-address-family
CONF

{ oxlb_routes_v4 10; oxlb_routes_v6 10; } | oxlb_routes ox
oxlb_start ox ox --router-id 192.0.2.1 --local-as 64512 \
  --listen 192.0.2.1:179 --listen '[2001:db8:1::1]:179' \
  --listen 192.0.2.5:179 --listen '[2001:db8:2::1]:179' \
  --peer 'address=192.0.2.2,as=64513,name=e4' \
  --peer 'address=2001:db8:1::2,as=64513,name=e6' \
  --peer 'address=192.0.2.6,as=64512,name=i4' \
  --peer 'address=2001:db8:2::2,as=64512,name=i6'

log "waiting for 4 sessions"
for p in "fe 192.0.2.1" "fe 2001:db8:1::1" "fi 192.0.2.5" "fi 2001:db8:2::1"; do
  # shellcheck disable=SC2086
  wait_until 25 frr_established $p || { frr_cmd ${p% *} "show bgp neighbors ${p#* }" >&2; oxlb_dump ox; die "FRR ${p/ /:} not Established"; }
done
for p in e4 e6 i4 i6; do
  wait_until 5 oxlb_established ox "$p" || { oxlb_dump ox; die "speaker: $p not Established in status"; }
done
log "ok: eBGP and iBGP, IPv4 and IPv6 sessions Established (both sides)"

oxlb_check_rib "eBGP v4" frr_routes fe ipv4 10 192.0.2.1 64512 0
oxlb_check_rib "eBGP v6" frr_routes fe ipv6 10 2001:db8:1::1 64512 0
oxlb_check_rib "iBGP v4" frr_routes fi ipv4 10 192.0.2.5 - 1
oxlb_check_rib "iBGP v6" frr_routes fi ipv6 10 2001:db8:2::1 - 1

{ oxlb_routes_v4 10 1 10; oxlb_routes_v6 10 10; } | oxlb_routes ox
oxlb_check_rib "eBGP v4 after withdrawal" frr_routes fe ipv4 10 192.0.2.1 64512 0 1 10
oxlb_check_rib "eBGP v6 after withdrawal" frr_routes fe ipv6 10 2001:db8:1::1 64512 0 10
oxlb_check_rib "iBGP v4 after withdrawal" frr_routes fi ipv4 10 192.0.2.5 - 1 1 10
oxlb_check_rib "iBGP v6 after withdrawal" frr_routes fi ipv6 10 2001:db8:2::1 - 1 10

for p in e4 e6 i4 i6; do
  [[ $(oxlb_field ox "$p" .established_count) == 1 ]] || { oxlb_dump ox; die "$p was reset (established_count != 1)"; }
done
daemon_alive ox || die "oxlb-bgp died"
log "PASS"
