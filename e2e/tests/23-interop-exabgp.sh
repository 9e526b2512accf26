#!/usr/bin/env bash
# Interop: oxlb-bgp (AS 64512) announces 10 IPv4 /32 and 10 IPv6 /128 to
# ExaBGP over eBGP (AS 64513, v4 + v6 sessions) and iBGP (AS 64512, v4 + v6).
# Here the speaker's peers are passive (--listen): ExaBGP dials. Asserts from
# the updates ExaBGP received: next hop, AS_PATH, LOCAL_PREF (iBGP),
# communities, large communities; then a withdrawal via routes-file + SIGHUP.
#
#   ox (oxlb 64512) e0 192.0.2.1/30 2001:db8:1::1/64 --- eth0 .2 ::2  xe (ExaBGP 64513)
#                   i0 192.0.2.5/30 2001:db8:2::1/64 --- eth0 .6 ::2  xi (ExaBGP 64512)
set -euo pipefail
E2E_TEST_NAME=23-interop-exabgp
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/oxlb.sh"
require exabgp jq python3

ns_create ox; ns_create xe; ns_create xi
ns_link ox e0 192.0.2.1/30,2001:db8:1::1/64 xe eth0 192.0.2.2/30,2001:db8:1::2/64
ns_link ox i0 192.0.2.5/30,2001:db8:2::1/64 xi eth0 192.0.2.6/30,2001:db8:2::2/64

{ oxlb_routes_v4 10; oxlb_routes_v6 10; } | oxlb_routes ox
oxlb_start ox ox --router-id 192.0.2.1 --local-as 64512 \
  --listen 192.0.2.1:179 --listen '[2001:db8:1::1]:179' \
  --listen 192.0.2.5:179 --listen '[2001:db8:2::1]:179' \
  --peer 'address=192.0.2.2,as=64513,name=e4,passive' \
  --peer 'address=2001:db8:1::2,as=64513,name=e6,passive' \
  --peer 'address=192.0.2.6,as=64512,name=i4,passive' \
  --peer 'address=2001:db8:2::2,as=64512,name=i6,passive'

exa_conf() { # NAME LOCAL-AS ROUTER-ID V4-LOCAL V4-PEER V6-LOCAL V6-PEER
  exabgp_api_process "$1"
  cat <<CONF
neighbor $5 {
  router-id $3;
  local-address $4;
  local-as $2;
  peer-as 64512;
  family { ipv4 unicast; }
  api { processes [ api ]; receive { parsed; update; } neighbor-changes; }
}
neighbor $7 {
  router-id $3;
  local-address $6;
  local-as $2;
  peer-as 64512;
  family { ipv6 unicast; }
  api { processes [ api ]; receive { parsed; update; } neighbor-changes; }
}
CONF
}
exabgp_start xe xe < <(exa_conf xe 64513 192.0.2.2 192.0.2.2 192.0.2.1 2001:db8:1::2 2001:db8:1::1)
exabgp_start xi xi < <(exa_conf xi 64512 192.0.2.6 192.0.2.6 192.0.2.5 2001:db8:2::2 2001:db8:2::1)

log "waiting for 4 sessions"
for p in "xe 192.0.2.1" "xe 2001:db8:1::1" "xi 192.0.2.5" "xi 2001:db8:2::1"; do
  # shellcheck disable=SC2086
  wait_until 25 exabgp_established $p || { daemon_log ${p% *} 20 >&2; oxlb_dump ox; die "ExaBGP ${p/ /:} not up"; }
done
for p in e4 e6 i4 i6; do
  wait_until 5 oxlb_established ox "$p" || { oxlb_dump ox; die "speaker: $p not Established in status"; }
done
log "ok: eBGP and iBGP, IPv4 and IPv6 sessions Established (both sides)"

oxlb_check_rib "eBGP v4" exabgp_routes xe ipv4 10 192.0.2.1 64512 0
oxlb_check_rib "eBGP v6" exabgp_routes xe ipv6 10 2001:db8:1::1 64512 0
oxlb_check_rib "iBGP v4" exabgp_routes xi ipv4 10 192.0.2.5 - 1
oxlb_check_rib "iBGP v6" exabgp_routes xi ipv6 10 2001:db8:2::1 - 1

{ oxlb_routes_v4 10 2 3; oxlb_routes_v6 10 4; } | oxlb_routes ox
oxlb_check_rib "eBGP v4 after withdrawal" exabgp_routes xe ipv4 10 192.0.2.1 64512 0 2 3
oxlb_check_rib "eBGP v6 after withdrawal" exabgp_routes xe ipv6 10 2001:db8:1::1 64512 0 4
oxlb_check_rib "iBGP v4 after withdrawal" exabgp_routes xi ipv4 10 192.0.2.5 - 1 2 3
oxlb_check_rib "iBGP v6 after withdrawal" exabgp_routes xi ipv6 10 2001:db8:2::1 - 1 4

for p in e4 e6 i4 i6; do
  [[ $(oxlb_field ox "$p" .established_count) == 1 ]] || { oxlb_dump ox; die "$p was reset (established_count != 1)"; }
done
daemon_alive ox || die "oxlb-bgp died"
log "PASS"
