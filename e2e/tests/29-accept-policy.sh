#!/usr/bin/env bash
# Who may connect: the speaker listens; BIRD dials from four addresses.
#  * dyn-ext: peer dynamic=external, BIRD uses AS 65111 -> Established, routes with path 64512
#  * dyn-int: peer dynamic=internal, BIRD uses AS 64512 -> Established (iBGP: lp present, empty path)
#  * dyn-bad: peer dynamic=internal, BIRD uses AS 65222 -> refused with OPEN error 2/2 (Bad Peer AS)
#  * stranger: an address with no --peer at all -> never Established, and no peer entry appears
# and the configured sessions are not disturbed by the refused ones.
#
#   ox e0 (192.0.2.1/30, 198.51.100.1/30, 198.51.100.5/30, 203.0.113.1/30) --- eth0 b (BIRD)
set -euo pipefail
E2E_TEST_NAME=29-accept-policy
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/oxlb.sh"
require bird birdc jq

ns_create ox; ns_create b
ns_link ox e0 192.0.2.1/30,198.51.100.1/30,198.51.100.5/30,203.0.113.1/30 \
  b eth0 192.0.2.2/30,198.51.100.2/30,198.51.100.6/30,203.0.113.2/30

bird_start b b <<'CONF'
router id 192.0.2.2;
protocol device {}
template bgp ox { connect delay time 1; connect retry time 2; error wait time 1,2; }
protocol bgp dyn_ext from ox { local 192.0.2.2 as 65111; neighbor 192.0.2.1 as 64512; ipv4 { import all; export none; }; }
protocol bgp dyn_int from ox { local 198.51.100.2 as 64512; neighbor 198.51.100.1 as 64512; direct; ipv4 { import all; export none; }; }
protocol bgp dyn_bad from ox { local 198.51.100.6 as 65222; neighbor 198.51.100.5 as 64512; direct; ipv4 { import all; export none; }; }
protocol bgp stranger from ox { local 203.0.113.2 as 65333; neighbor 203.0.113.1 as 64512; ipv4 { import all; export none; }; }
CONF

oxlb_routes_v4 3 | oxlb_routes ox
oxlb_start ox ox --router-id 192.0.2.1 --local-as 64512 \
  --listen 192.0.2.1:179 --listen 198.51.100.1:179 --listen 198.51.100.5:179 --listen 203.0.113.1:179 \
  --peer 'address=192.0.2.2,dynamic=external,name=dyn-ext,passive' \
  --peer 'address=198.51.100.2,dynamic=internal,name=dyn-int,passive' \
  --peer 'address=198.51.100.6,dynamic=internal,name=dyn-bad,passive'

wait_until 20 bird_established b dyn_ext || { bird_cmd b show protocols all dyn_ext >&2; oxlb_dump ox; die "dynamic=external not Established"; }
wait_until 20 bird_established b dyn_int || { bird_cmd b show protocols all dyn_int >&2; oxlb_dump ox; die "dynamic=internal not Established"; }
ext_rib() { bird_cmd "$1" show route all protocol dyn_ext | sed 's/\] (100)/] * (100)/' | python3 "$E2E_NORMALIZE" bird "$2"; }
int_rib() { bird_cmd "$1" show route all protocol dyn_int | sed 's/\] (100)/] * (100)/' | python3 "$E2E_NORMALIZE" bird "$2"; }
oxlb_check_rib "dynamic=external routes" ext_rib b ipv4 3 192.0.2.1 64512 0
oxlb_check_rib "dynamic=internal routes" int_rib b ipv4 3 198.51.100.1 - 1

wait_until 15 bird_proto_matches b dyn_bad 'Bad peer AS' \
  || { bird_cmd b show protocols all dyn_bad >&2; oxlb_dump ox; die "dynamic=internal with an external AS: no Bad Peer AS error at BIRD"; }
log "ok: dynamic=internal refuses AS 65222 ($(oxlb_field ox dyn-bad '.last_error_sent // "-"'))"

# Give the stranger several connect attempts.
end=$((SECONDS + 5))
while ((SECONDS < end)); do
  bird_not_established b stranger || { oxlb_dump ox; die "a session from an unconfigured address was Established (or birdc failed)"; }
  bird_not_established b dyn_bad || { oxlb_dump ox; die "dyn-bad Established (or birdc failed)"; }
  sleep 0.2
done
[[ $(oxlb_status ox | jq '[.peers[] | select(.address == "203.0.113.2")] | length') == 0 ]] \
  || { oxlb_dump ox; die "the stranger appears as a peer in the status"; }
log "ok: unconfigured address refused ($(bird_cmd b show protocols stranger | awk '$1 == "stranger" { $1=$2=$3=$4=$5=""; print }'))"
for p in dyn-ext dyn-int; do
  oxlb_established ox $p && [[ $(oxlb_field ox $p .established_count) == 1 ]] || { oxlb_dump ox; die "$p disturbed by the refused connections"; }
done
daemon_alive ox || die "oxlb-bgp died"
log "PASS"
