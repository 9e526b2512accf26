#!/usr/bin/env bash
# TCP-MD5 on a dual-stack speaker: IPv4 and IPv6 listeners side by side, an
# IPv6 peer with a key that only BIRD dials (so the key must be on our IPv6
# listening socket: the accept path), and an IPv4 peer with a key that only we
# dial. Both must establish and carry routes; a wrong key on a second IPv6
# pair must not.
#
#   ox e0 192.0.2.1/30     --- eth0 192.0.2.2/30      b (BIRD 64513)  key K4 / ours K4, we dial
#   ox v0 2001:db8:1::1/64 --- v0   2001:db8:1::2/64  b               key K6 / ours K6, passive
#   ox w0 2001:db8:2::1/64 --- w0   2001:db8:2::2/64  b               key K6 / ours "wrong", passive
set -euo pipefail
E2E_TEST_NAME=24-md5-dualstack
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/oxlb.sh"
require bird birdc jq

ns_create ox; ns_create b
ns_link ox e0 192.0.2.1/30 b eth0 192.0.2.2/30
ns_link ox v0 2001:db8:1::1/64 b v0 2001:db8:1::2/64
ns_link ox w0 2001:db8:2::1/64 b w0 2001:db8:2::2/64

bird_start b b <<'CONF'
router id 192.0.2.2;
protocol device {}
protocol bgp good4 { local as 64513; neighbor 192.0.2.1 as 64512; passive on; password "oxlb-K4";
  ipv4 { import all; export none; }; }
template bgp v6 { local as 64513; connect delay time 1; connect retry time 2; password "oxlb-K6";
  ipv6 { import all; export none; }; }
protocol bgp good6 from v6 { neighbor 2001:db8:1::1 as 64512; }
protocol bgp wrong6 from v6 { neighbor 2001:db8:2::1 as 64512; }
CONF

{ oxlb_routes_v4 3; oxlb_routes_v6 3; } | oxlb_routes ox
oxlb_start ox ox --router-id 192.0.2.1 --local-as 64512 \
  --listen 192.0.2.1:179 --listen '[2001:db8:1::1]:179' --listen '[2001:db8:2::1]:179' \
  --peer 'address=192.0.2.2,as=64513,name=good4,password=oxlb-K4' \
  --peer 'address=2001:db8:1::2,as=64513,name=good6,password=oxlb-K6,passive' \
  --peer 'address=2001:db8:2::2,as=64513,name=wrong6,password=wrong,passive'

wait_until 20 bird_established b good4 || { bird_cmd b show protocols all good4 >&2; oxlb_dump ox; die "IPv4 right key (we dial): BIRD not Established"; }
wait_until 20 bird_established b good6 || { bird_cmd b show protocols all good6 >&2; oxlb_dump ox; die "IPv6 right key (BIRD dials): BIRD not Established"; }
for p in good4 good6; do wait_until 5 oxlb_established ox $p || { oxlb_dump ox; die "speaker: $p not Established"; }; done
oxlb_check_rib "IPv4 routes over MD5" bird_routes b ipv4 3 192.0.2.1 64512 0
oxlb_check_rib "IPv6 routes over MD5 (accepted session)" bird_routes b ipv6 3 2001:db8:1::1 64512 0
end=$((SECONDS + 6))
while ((SECONDS < end)); do
  oxlb_not_established ox wrong6 || { oxlb_dump ox; die "wrong6 Established with the wrong key (or the speaker's status unreadable)"; }
  bird_not_established b wrong6 || die "BIRD wrong6 Established with the wrong key (or birdc failed)"
  sleep 0.2
done
[[ $(oxlb_field ox wrong6 .messages_in.open) == 0 ]] || die "wrong6: an OPEN got through"
log "ok: dual-stack MD5: right keys establish both ways, wrong key does not"
daemon_alive ox || die "oxlb-bgp died"
log "PASS"
