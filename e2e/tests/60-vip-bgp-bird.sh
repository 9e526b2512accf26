#!/usr/bin/env bash
# Issue 14, as 60-vip-bgp-frr but the router is BIRD 2: both nodes' routes
# merged into one multipath route (`merge paths on`) that BIRD's kernel
# protocol installs into the router namespace's kernel table.
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
E2E_TEST_NAME=60-vip-bgp-bird
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/speaker.sh"
source "$(dirname "$0")/../lib/vip.sh"
require bird birdc jq curl python3

ecmp_topology
bird_start router router <<'CONF'
router id 203.0.113.1;
protocol device {}
protocol direct { ipv4; ipv6; }
protocol kernel k4 { ipv4 { export where source = RTS_BGP; }; merge paths on; }
protocol kernel k6 { ipv6 { export where source = RTS_BGP; }; merge paths on; }
template bgp node { local as 64513; passive on; hold time 9; }
protocol bgp n1v4 from node { neighbor 192.0.2.1 as 64512; ipv4 { import all; export none; }; }
protocol bgp n2v4 from node { neighbor 192.0.2.5 as 64512; ipv4 { import all; export none; }; }
protocol bgp n1v6 from node { neighbor 2001:db8:1::1 as 64512; ipv6 { import all; export none; }; }
protocol bgp n2v6 from node { neighbor 2001:db8:2::1 as 64512; ipv6 { import all; export none; }; }
CONF

router_dump() { bird_cmd router show route all >&2 || true; bird_cmd router show protocols >&2 || true; }
source "$(dirname "$0")/../lib/vip_ecmp.sh"
