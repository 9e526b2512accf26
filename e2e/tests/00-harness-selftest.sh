#!/usr/bin/env bash
# Harness self-test: proves every launcher and RIB query helper works.
#
# Topology (one /30 + one /64 per link, all documentation ranges):
#
#   gobgp (AS 65002) --- 192.0.2.0/30, 2001:db8:0:1::/64 ---+
#   frr   (AS 65003) --- 192.0.2.4/30, 2001:db8:0:2::/64 ---+-- bird (AS 4200000001)
#   exa   (AS 65004) --- 192.0.2.8/30                     ---+
#
# BIRD peers eBGP with all three over IPv4, and with GoBGP and FRR over IPv6
# too. Every daemon announces its own routes; the test asserts, from each
# daemon's own RIB, that it learned everybody else's (through BIRD).
set -euo pipefail
E2E_TEST_NAME=00-harness-selftest
source "$(dirname "$0")/../lib/daemons.sh"

ns_create rs; ns_create gob; ns_create frr; ns_create exa
ns_link rs to-gob 192.0.2.1/30,2001:db8:0:1::1/64 gob eth0 192.0.2.2/30,2001:db8:0:1::2/64
ns_link rs to-frr 192.0.2.5/30,2001:db8:0:2::1/64 frr eth0 192.0.2.6/30,2001:db8:0:2::2/64
ns_link rs to-exa 192.0.2.9/30 exa eth0 192.0.2.10/30

bird_start bird rs <<'CONF'
router id 192.0.2.1;
protocol device {}
protocol static s4 {
  ipv4;
  route 203.0.113.1/32 blackhole { bgp_community.add((65001,100)); bgp_large_community.add((4200000001,1,2)); };
}
protocol static s6 { ipv6; route 2001:db8:ff01::/48 blackhole; }
template bgp peer { local as 4200000001; connect delay time 1; connect retry time 2; }
protocol bgp gob4 from peer { neighbor 192.0.2.2 as 65002; ipv4 { import all; export filter { bgp_med = 7; accept; }; }; }
protocol bgp gob6 from peer { neighbor 2001:db8:0:1::2 as 65002; ipv6 { import all; export all; }; }
protocol bgp frr4 from peer { neighbor 192.0.2.6 as 65003; ipv4 { import all; export all; }; }
# FRR bgpd without zebra knows no interfaces, so it rejects a link-local next
# hop ("no peer interface information"): set a global-only next hop explicitly.
protocol bgp frr6 from peer { neighbor 2001:db8:0:2::2 as 65003; ipv6 { import all; export filter { bgp_next_hop = 2001:db8:0:2::1; accept; }; }; }
protocol bgp exa4 from peer { neighbor 192.0.2.10 as 65004; ipv4 { import all; export all; }; }
CONF

gobgp_start gobgp gob <<'CONF'
[global.config]
  as = 65002
  router-id = "192.0.2.2"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "192.0.2.1"
    peer-as = 4200000001
  [neighbors.timers.config]
    connect-retry = 1
[[neighbors]]
  [neighbors.config]
    neighbor-address = "2001:db8:0:1::1"
    peer-as = 4200000001
  [neighbors.timers.config]
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
CONF

frr_start frr frr <<'CONF'
hostname frr
router bgp 65003
 bgp router-id 192.0.2.6
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 192.0.2.5 remote-as 4200000001
 neighbor 192.0.2.5 timers connect 1
 neighbor 2001:db8:0:2::1 remote-as 4200000001
 neighbor 2001:db8:0:2::1 timers connect 1
 address-family ipv4 unicast
  network 198.51.100.128/25
  no neighbor 2001:db8:0:2::1 activate
 exit-address-family
 address-family ipv6 unicast
  network 2001:db8:ff03::/48
  neighbor 2001:db8:0:2::1 activate
 exit-address-family
CONF

exabgp_start exabgp exa <<CONF
$(exabgp_api_process exabgp)
neighbor 192.0.2.9 {
  router-id 192.0.2.10;
  local-address 192.0.2.10;
  local-as 65004;
  peer-as 4200000001;
  api { processes [ api ]; receive { parsed; update; } neighbor-changes; }
  static {
    route 203.0.113.4/32 next-hop self community [65004:4] large-community [65004:0:4];
  }
}
CONF

log "waiting for sessions"
for p in gob4 gob6 frr4 frr6 exa4; do
  wait_until 30 bird_established bird "$p" || { bird_cmd bird show protocols all "$p"; die "BIRD $p not Established"; }
done
wait_until 10 gobgp_established gobgp 192.0.2.1 || die "gobgp v4 session"
wait_until 10 frr_established frr 2001:db8:0:2::1 || die "frr v6 session"
wait_until 10 exabgp_established exabgp 192.0.2.9 || die "exabgp session"

# GoBGP's routes come from its API (gobgpd has no static routes in its config).
gobgp_cmd gobgp global rib add 198.51.100.0/25 community 65002:2 large-community 65002:0:2 local-pref 200 >/dev/null
gobgp_cmd gobgp global rib add -a ipv6 2001:db8:ff02::/48 community 65002:6 >/dev/null
exabgp_send exabgp "announce route 203.0.113.44/32 next-hop self community [65004:44]"

# expect_route WHAT FN NAME AFI REGEX: wait until FN NAME AFI prints a line matching REGEX.
expect_route() {
  local what=$1 fn=$2 name=$3 afi=$4 re=$5
  if ! wait_until 20 rib_has "$fn" "$name" "$afi" "$re"; then
    log "$name RIB ($afi):"; "$fn" "$name" "$afi" >&2 || true
    die "$what: no route matching /$re/"
  fi
  log "ok: $what"
}

expect_route "bird <- gobgp v4"  bird_routes bird ipv4 '^198\.51\.100\.0/25 nh=192\.0\.2\.2 path=65002 lp=100 med=- comm=65002:2 lcomm=65002:0:2$'
expect_route "bird <- gobgp v6"  bird_routes bird ipv6 '^2001:db8:ff02::/48 nh=2001:db8:0:1::2 path=65002 .*comm=65002:6 '
expect_route "bird <- frr v4"    bird_routes bird ipv4 '^198\.51\.100\.128/25 nh=192\.0\.2\.6 path=65003 '
expect_route "bird <- frr v6"    bird_routes bird ipv6 '^2001:db8:ff03::/48 nh=2001:db8:0:2::2 path=65003 '
expect_route "bird <- exabgp"    bird_routes bird ipv4 '^203\.0\.113\.4/32 nh=192\.0\.2\.10 path=65004 lp=100 med=- comm=65004:4 lcomm=65004:0:4$'
expect_route "bird <- exabgp api" bird_routes bird ipv4 '^203\.0\.113\.44/32 nh=192\.0\.2\.10 path=65004 .*comm=65004:44 '

expect_route "gobgp <- bird v4"  gobgp_routes gobgp ipv4 '^203\.0\.113\.1/32 nh=192\.0\.2\.1 path=4200000001 lp=- med=7 comm=65001:100 lcomm=4200000001:1:2$'
expect_route "gobgp <- bird v6"  gobgp_routes gobgp ipv6 '^2001:db8:ff01::/48 nh=2001:db8:0:1::1 path=4200000001 '
expect_route "gobgp <- frr v4"   gobgp_routes gobgp ipv4 '^198\.51\.100\.128/25 nh=192\.0\.2\.1 path=4200000001,65003 '
expect_route "gobgp <- frr v6"   gobgp_routes gobgp ipv6 '^2001:db8:ff03::/48 nh=2001:db8:0:1::1 path=4200000001,65003 '
expect_route "gobgp <- exabgp"   gobgp_routes gobgp ipv4 '^203\.0\.113\.4/32 nh=192\.0\.2\.1 path=4200000001,65004 .*comm=65004:4 '

expect_route "frr <- bird v4"    frr_routes frr ipv4 '^203\.0\.113\.1/32 nh=192\.0\.2\.5 path=4200000001 .*comm=65001:100 lcomm=4200000001:1:2$'
expect_route "frr <- gobgp v4"   frr_routes frr ipv4 '^198\.51\.100\.0/25 nh=192\.0\.2\.5 path=4200000001,65002 .*comm=65002:2 lcomm=65002:0:2$'
expect_route "frr <- gobgp v6"   frr_routes frr ipv6 '^2001:db8:ff02::/48 nh=2001:db8:0:2::1 path=4200000001,65002 '
expect_route "frr <- exabgp"     frr_routes frr ipv4 '^203\.0\.113\.4/32 nh=192\.0\.2\.5 path=4200000001,65004 '

expect_route "exabgp <- bird"    exabgp_routes exabgp ipv4 '^203\.0\.113\.1/32 nh=192\.0\.2\.9 path=4200000001 .*comm=65001:100 lcomm=4200000001:1:2$'
expect_route "exabgp <- gobgp"   exabgp_routes exabgp ipv4 '^198\.51\.100\.0/25 nh=192\.0\.2\.9 path=4200000001,65002 '
expect_route "exabgp <- frr"     exabgp_routes exabgp ipv4 '^198\.51\.100\.128/25 nh=192\.0\.2\.9 path=4200000001,65003 '

# Withdrawals propagate and are visible through every query helper.
gobgp_cmd gobgp global rib del 198.51.100.0/25 >/dev/null
for q in "bird_routes bird" "frr_routes frr" "exabgp_routes exabgp"; do
  # shellcheck disable=SC2086 # $q is "FN NAME"
  wait_until 20 rib_lacks $q ipv4 '^198\.51\.100\.0/25 ' || die "withdrawal not seen by: $q"
done
log "ok: withdrawal propagated"

# L2 segment helper: three hosts on one bridge see each other (v4 + v6, ARP/ND).
bridge_create sw
for i in 1 2 3; do
  ns_create "h$i"
  bridge_attach sw "h$i" eth0 "198.51.100.$i/24,2001:db8:5::$i/64"
done
# (no ping on the base image: arping and ndisc6 are in install-deps)
wait_until 10 nsx h1 arping -q -c 1 -w 1 -i eth0 198.51.100.3 || die "bridge: h1 gets no ARP reply from h3"
wait_until 10 nsx h2 ndisc6 -q -1 -r 1 -w 500 2001:db8:5::1 eth0 || die "bridge: h2 gets no NA from h1"
[[ $(ip -n "$(ns_name sw)" -o link show master br0 | wc -l) -eq 3 ]] || die "bridge: expected 3 ports"
log "ok: bridge segment"

# Every daemon is still running (none crashed during the test).
for d in bird gobgp frr exabgp; do daemon_alive "$d" || die "$d died"; done

# A stopped daemon is a failed query, never an empty table: after each stop,
# its routes query must fail and neither rib_has nor rib_lacks may succeed.
for q in "bird_routes bird" "frr_routes frr" "gobgp_routes gobgp" "exabgp_routes exabgp"; do
  daemon_stop "${q#* }"
  # shellcheck disable=SC2086 # $q is "FN NAME"
  if $q ipv4 >/dev/null 2>&1; then die "$q succeeded with the daemon stopped"; fi
  # shellcheck disable=SC2086
  if rib_lacks $q ipv4 '^198\.51\.100\.0/25 '; then die "rib_lacks $q reads a stopped daemon as an absent route"; fi
  # shellcheck disable=SC2086
  if rib_has $q ipv4 '.'; then die "rib_has $q matched on a stopped daemon"; fi
done
if bird_not_established bird gob4; then die "bird_not_established reads a stopped BIRD as a session down"; fi
log "ok: queries to stopped daemons fail"
log "PASS"
