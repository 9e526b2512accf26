#!/usr/bin/env bash
# The main job, end to end on one machine: a BIRD 2 router in a network
# namespace, the oxlb BGP engine in another, load-balancer VIPs announced over
# IPv4 and IPv6 eBGP sessions. Prints the router's own table and our session
# status, then cleans everything up. Needs root (network namespaces); installs
# BIRD from Debian's packages if missing.
#
#   node (oxlb, AS 64512)  192.0.2.1/30 2001:db8:1::1/64 ---- 192.0.2.2 2001:db8:1::2  router (BIRD, AS 64513)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh >/dev/null
E2E_TEST_NAME=demo
source e2e/lib/daemons.sh
source e2e/peers/oxlb.sh
require bird birdc jq

ns_create node; ns_create router
ns_link node eth0 192.0.2.1/30,2001:db8:1::1/64 router eth0 192.0.2.2/30,2001:db8:1::2/64

bird_start router router <<'CONF'
router id 192.0.2.2;
protocol device {}
template bgp lb { local as 64513; passive on; }
protocol bgp oxlb4 from lb { neighbor 192.0.2.1 as 64512; ipv4 { import all; export none; }; }
protocol bgp oxlb6 from lb { neighbor 2001:db8:1::1 as 64512; ipv6 { import all; export none; }; }
CONF

oxlb_routes node <<'ROUTES'
# VIPs of three Services: web (shared TCP+UDP DNS IP), api, and an IPv6 one.
203.0.113.10/32 community=64512:100 large=64512:1:10
203.0.113.11/32 community=64512:100 large=64512:1:11
203.0.113.53/32 community=64512:100 community=64512:53
2001:db8:100::10/128 community=64512:100 large=64512:1:10
ROUTES
oxlb_start node node --router-id 192.0.2.1 --local-as 64512 \
  --peer 'address=192.0.2.2,as=64513,name=router-v4' \
  --peer 'address=2001:db8:1::2,as=64513,name=router-v6'

wait_until 30 bird_established router oxlb4 || die "IPv4 session did not come up"
wait_until 30 bird_established router oxlb6 || die "IPv6 session did not come up"
all_learned() {
  [[ $(bird_cmd router show route | grep -c ' unicast ') -ge 4 ]]
}
wait_until 10 all_learned || die "the router did not learn the 4 VIPs"

echo
echo "=== the router's table (birdc show route all) ==="
bird_cmd router show route all
echo
echo "=== oxlb session status ==="
jq '.peers[] | {name, address, state, uptime_secs, prefixes_announced, messages_out, hold_time}' \
  "$(daemon_dir node)/status.json"
echo
echo "demo finished: 4 VIPs announced to BIRD over IPv4 and IPv6 eBGP"
