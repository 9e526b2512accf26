#!/usr/bin/env bash
# Interop: oxlb-bgp (AS 64512) announces 10 IPv4 /32 and 10 IPv6 /128 to BIRD 2
# over eBGP (AS 64513, v4 + v6 sessions) and iBGP (AS 64512, v4 + v6 sessions).
# Asserts from BIRD's own RIB: next hop, AS_PATH, LOCAL_PREF (iBGP only),
# communities, large communities; then a withdrawal (routes-file edit + SIGHUP)
# removes exactly the deleted prefixes on all four sessions, an attribute
# change replaces a route, and a storm of 30 quick reloads converges to the
# last file.
#
#   ox (oxlb 64512) e0 192.0.2.1/30 2001:db8:1::1/64 --- eth0 .2 ::2  be (BIRD 64513, passive)
#                   i0 192.0.2.5/30 2001:db8:2::1/64 --- eth0 .6 ::2  bi (BIRD 64512, passive)
set -euo pipefail
E2E_TEST_NAME=20-interop-bird
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/oxlb.sh"
require bird birdc jq

ns_create ox; ns_create be; ns_create bi
ns_link ox e0 192.0.2.1/30,2001:db8:1::1/64 be eth0 192.0.2.2/30,2001:db8:1::2/64
ns_link ox i0 192.0.2.5/30,2001:db8:2::1/64 bi eth0 192.0.2.6/30,2001:db8:2::2/64

# BIRD is passive here: the speaker must dial (the FRR test covers collisions).
bird_start be be <<'CONF'
router id 192.0.2.2;
protocol device {}
template bgp ox { local as 64513; passive on; hold time 9; keepalive time 3; }
protocol bgp ox4 from ox { neighbor 192.0.2.1 as 64512; ipv4 { import all; export none; }; }
protocol bgp ox6 from ox { neighbor 2001:db8:1::1 as 64512; ipv6 { import all; export none; }; }
CONF
bird_start bi bi <<'CONF'
router id 192.0.2.6;
protocol device {}
template bgp ox { local as 64512; passive on; direct; hold time 9; keepalive time 3; }
protocol bgp ox4 from ox { neighbor 192.0.2.5 as 64512; ipv4 { import all; export none; }; }
protocol bgp ox6 from ox { neighbor 2001:db8:2::1 as 64512; ipv6 { import all; export none; }; }
CONF

{ oxlb_routes_v4 10; oxlb_routes_v6 10; } | oxlb_routes ox
oxlb_start ox ox --router-id 192.0.2.1 --local-as 64512 \
  --peer 'address=192.0.2.2,as=64513,name=e4' \
  --peer 'address=2001:db8:1::2,as=64513,name=e6' \
  --peer 'address=192.0.2.6,as=64512,name=i4' \
  --peer 'address=2001:db8:2::2,as=64512,name=i6'

log "waiting for 4 sessions"
for p in "be ox4" "be ox6" "bi ox4" "bi ox6"; do
  # shellcheck disable=SC2086
  wait_until 20 bird_established $p || { bird_cmd ${p% *} show protocols all ${p#* } >&2; oxlb_dump ox; die "BIRD ${p/ /:} not Established"; }
done
for p in e4 e6 i4 i6; do
  wait_until 5 oxlb_established ox "$p" || { oxlb_dump ox; die "speaker: $p not Established in status"; }
done
log "ok: eBGP and iBGP, IPv4 and IPv6 sessions Established (both sides)"

oxlb_check_rib "eBGP v4" bird_routes be ipv4 10 192.0.2.1 64512 0
oxlb_check_rib "eBGP v6" bird_routes be ipv6 10 2001:db8:1::1 64512 0
oxlb_check_rib "iBGP v4" bird_routes bi ipv4 10 192.0.2.5 - 1
oxlb_check_rib "iBGP v6" bird_routes bi ipv6 10 2001:db8:2::1 - 1

# IPv6 prefixes must not leak into IPv4-only sessions and vice versa.
[[ $(bird_cmd be show route protocol ox4 | grep -c '^2001:') -eq 0 ]] || die "v6 routes on the v4 session"
[[ $(oxlb_field ox e4 .prefixes_announced) == 10 ]] || { oxlb_dump ox; die "e4 prefixes_announced != 10"; }

# ROUTE-REFRESH from BIRD (`reload in`): counted, answered with the table again.
up0=$(oxlb_field ox e4 .messages_out.update)
bird_cmd be reload in ox4 >/dev/null
wait_until 10 eval "(( \$(oxlb_field ox e4 .messages_in.route_refresh) >= 1 && \$(oxlb_field ox e4 .messages_out.update) > up0 ))" \
  || { oxlb_dump ox; die "ROUTE-REFRESH not answered (updates out stayed at $up0)"; }
oxlb_check_rib "eBGP v4 after ROUTE-REFRESH" bird_routes be ipv4 10 192.0.2.1 64512 0
log "ok: ROUTE-REFRESH answered ($up0 -> $(oxlb_field ox e4 .messages_out.update) UPDATEs out)"

# Withdrawal: drop route 10 (v4) and routes 9, 10 (v6), SIGHUP.
{ oxlb_routes_v4 10 10; oxlb_routes_v6 10 9 10; } | oxlb_routes ox
oxlb_check_rib "eBGP v4 after withdrawal" bird_routes be ipv4 10 192.0.2.1 64512 0 10
oxlb_check_rib "eBGP v6 after withdrawal" bird_routes be ipv6 10 2001:db8:1::1 64512 0 9 10
oxlb_check_rib "iBGP v4 after withdrawal" bird_routes bi ipv4 10 192.0.2.5 - 1 10
oxlb_check_rib "iBGP v6 after withdrawal" bird_routes bi ipv6 10 2001:db8:2::1 - 1 9 10

# Attribute change on reload (implicit replace): route 1 gets new communities,
# no large community and local-pref 300; route 10 comes back.
{ echo '203.0.113.1/32 community=65000:999 local-pref=300'; oxlb_routes_v4 10 1; oxlb_routes_v6 10 9 10; } | oxlb_routes ox
want_e='^203\.0\.113\.1/32 nh=192\.0\.2\.1 path=64512 lp=[^ ]+ med=- comm=65000:999 lcomm=-$'
want_i='^203\.0\.113\.1/32 nh=192\.0\.2\.5 path=- lp=300 med=- comm=65000:999 lcomm=-$'
wait_until 20 rib_has bird_routes be ipv4 "$want_e" || { bird_routes be ipv4 >&2; die "eBGP: changed attributes of 203.0.113.1/32 not seen"; }
wait_until 20 rib_has bird_routes bi ipv4 "$want_i" || { bird_routes bi ipv4 >&2; die "iBGP: changed attributes of 203.0.113.1/32 not seen"; }
routes_but_1() { bird_routes "$1" "$2" | grep -v '^203\.0\.113\.1/32 ' || true; }
oxlb_check_rib "eBGP v4 after attribute change (routes 2-10)" routes_but_1 be ipv4 10 192.0.2.1 64512 0 1
log "ok: attribute change replaced the route (eBGP and iBGP)"

# Reload storm: 30 SIGHUPs in quick succession alternating 10 and 5 routes, then
# a final file with 7; every peer must converge to exactly the final file.
for ((k = 0; k < 30; k++)); do
  if ((k % 2)); then oxlb_routes_v4 5; else oxlb_routes_v4 10; fi | oxlb_routes ox
done
oxlb_routes_v4 7 | oxlb_routes ox
oxlb_check_rib "eBGP v4 after reload storm" bird_routes be ipv4 7 192.0.2.1 64512 0
oxlb_check_rib "iBGP v4 after reload storm" bird_routes bi ipv4 7 192.0.2.5 - 1
oxlb_check_rib "eBGP v6 after reload storm (all withdrawn)" bird_routes be ipv6 0 2001:db8:1::1 64512 0
daemon_alive ox || die "oxlb-bgp died during the reload storm"

# The reloads sent diffs, not session resets.
for p in e4 e6 i4 i6; do
  [[ $(oxlb_field ox "$p" .established_count) == 1 ]] || { oxlb_dump ox; die "$p was reset by the reload"; }
done
daemon_alive ox || die "oxlb-bgp died"
log "PASS"
