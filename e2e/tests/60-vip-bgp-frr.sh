#!/usr/bin/env bash
# Issue 14: client traffic through a VIP announced by two nodes to FRR, with
# zebra installing the routes (maximum-paths 8) into the router's kernel.
# n1 binds with --bind-vips dummy (oxlb0), n2 with --bind-vips lo (next to an
# address the admin put on lo by hand). Asserted:
# * both VIPs (IPv4 and IPv6) are bound before the router has the route, as
#   /32 and /128, noprefixroute, nodad, marked (ip -j addr);
# * the router's kernel has a two-path route to each VIP (ip -j route);
# * 200 new connections from the client (each a new source port) reach both
#   nodes, counted by the servers' own logs, over IPv4 and over IPv6;
# * a keep-alive connection to the node that stays keeps working while the
#   other node is stopped (SIGTERM: Cease, then its addresses go);
# * after the withdrawal all 100 new connections reach the survivor;
# * the stopped node holds no VIP address any more; a crash (SIGKILL) and a
#   restart leave each VIP bound exactly once; the admin's address on lo
#   survives every start and stop.
# Topology: e2e/lib/vip.sh (ecmp_topology).
set -euo pipefail
E2E_TEST_NAME=60-vip-bgp-frr
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/speaker.sh"
source "$(dirname "$0")/../lib/vip.sh"
require vtysh jq curl python3

ecmp_topology
frr_zebra_start router router <<'CONF'
hostname router
router bgp 64513
 bgp router-id 203.0.113.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 bgp bestpath as-path multipath-relax
 neighbor 192.0.2.1 remote-as 64512
 neighbor 192.0.2.5 remote-as 64512
 neighbor 2001:db8:1::1 remote-as 64512
 neighbor 2001:db8:2::1 remote-as 64512
 neighbor 192.0.2.1 timers 3 9
 neighbor 192.0.2.5 timers 3 9
 neighbor 2001:db8:1::1 timers 3 9
 neighbor 2001:db8:2::1 timers 3 9
 address-family ipv4 unicast
  neighbor 192.0.2.1 activate
  neighbor 192.0.2.5 activate
  maximum-paths 8
 exit-address-family
 address-family ipv6 unicast
  neighbor 2001:db8:1::1 activate
  neighbor 2001:db8:2::1 activate
  maximum-paths 8
 exit-address-family
CONF

router_dump() { frr_cmd router 'show bgp summary' 'show ip route' 'show ipv6 route' >&2 || true; }
source "$(dirname "$0")/../lib/vip_ecmp.sh"
