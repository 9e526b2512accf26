#!/usr/bin/env bash
# A restarted peer gets the routes back without intervention: FRR bgpd
# (passive, so the speaker must redial) is stopped gracefully (SIGTERM) and
# started again, then killed (SIGKILL) and started again. Each time the
# speaker must notice the loss, reconnect on its own and FRR's fresh RIB must
# hold all 10 v4 + 10 v6 routes again.
#
#   ox (oxlb 64512) e0 192.0.2.1/30 2001:db8:1::1/64 --- eth0 .2 ::2  fr (FRR 64513, passive)
set -euo pipefail
E2E_TEST_NAME=26-restart-peer
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/oxlb.sh"
require /usr/lib/frr/bgpd vtysh jq

ns_create ox; ns_create fr
# /128 + host routes: bgpd without zebra rejects link-local next hops (see 21-interop-frr).
ns_link ox e0 192.0.2.1/30,2001:db8:1::1/128 fr eth0 192.0.2.2/30,2001:db8:1::2/128
nsx ox ip -6 route add 2001:db8:1::2/128 dev e0; nsx fr ip -6 route add 2001:db8:1::1/128 dev eth0

FRR_CONF='hostname fr
router bgp 64513
 bgp router-id 192.0.2.2
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 192.0.2.1 remote-as 64512
 neighbor 192.0.2.1 passive
 neighbor 2001:db8:1::1 remote-as 64512
 neighbor 2001:db8:1::1 passive
 address-family ipv4 unicast
  no neighbor 2001:db8:1::1 activate
 exit-address-family
 address-family ipv6 unicast
  neighbor 2001:db8:1::1 activate
 exit-address-family'
frr_start fr fr <<<"$FRR_CONF"

{ oxlb_routes_v4 10; oxlb_routes_v6 10; } | oxlb_routes ox
oxlb_start ox ox --router-id 192.0.2.1 --local-as 64512 \
  --peer 'address=192.0.2.2,as=64513,name=f4,connect-time=2' \
  --peer 'address=2001:db8:1::2,as=64513,name=f6,connect-time=2'

# up N: both sessions Established (both sides) with established_count N, routes in FRR's RIB.
up() {
  local n=$1 p
  for p in 192.0.2.1 2001:db8:1::1; do
    wait_until 30 frr_established fr $p || { frr_cmd fr "show bgp neighbors $p" >&2; oxlb_dump ox; die "FRR $p not Established ($2)"; }
  done
  for p in f4 f6; do
    wait_until 5 eval "oxlb_established ox $p && [[ \$(oxlb_field ox $p .established_count) == $n ]]" \
      || { oxlb_dump ox; die "speaker: $p not Established with established_count=$n ($2)"; }
  done
  oxlb_check_rib "v4 routes $2" frr_routes fr ipv4 10 192.0.2.1 64512 0
  oxlb_check_rib "v6 routes $2" frr_routes fr ipv6 10 2001:db8:1::1 64512 0
}
# down WHY: the speaker notices the loss of both sessions.
down() {
  local p
  for p in f4 f6; do
    wait_until 10 oxlb_not_established ox $p || { oxlb_dump ox; die "speaker: $p still Established (or no status) after $1"; }
    log "$p after $1: state=$(oxlb_state ox $p) last_error_received=$(oxlb_field ox $p '.last_error_received // "-"')"
  done
}

up 1 "at start"

log "stopping FRR gracefully (SIGTERM)"
daemon_stop fr
down "FRR SIGTERM"
frr_start fr fr <<<"$FRR_CONF"
up 2 "after graceful restart"

log "killing FRR (SIGKILL)"
kill -KILL "$(daemon_pid fr)"
down "FRR SIGKILL"
frr_start fr fr <<<"$FRR_CONF"
up 3 "after SIGKILL restart"

daemon_alive ox || die "oxlb-bgp died"
log "PASS"
