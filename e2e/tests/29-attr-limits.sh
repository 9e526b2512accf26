#!/usr/bin/env bash
# Attribute size limits: routes whose COMMUNITIES (70 = 280 bytes) or
# LARGE_COMMUNITY (30 = 360 bytes) attribute needs the extended-length flag
# reach BIRD intact; one route whose attributes cannot fit in a 4096-byte
# UPDATE at all (1100 communities) must be refused on its own (it cannot be
# sent) without keeping the other routes from being announced, and without
# disturbing the session. Checked at session start and on SIGHUP.
#
#   ox (oxlb 64512) e0 192.0.2.1/30 --- eth0 192.0.2.2/30 b (BIRD 64513)
set -euo pipefail
E2E_TEST_NAME=29-attr-limits
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/oxlb.sh"
require bird birdc jq

ns_create ox; ns_create b
ns_link ox e0 192.0.2.1/30 b eth0 192.0.2.2/30
bird_start b b <<'CONF'
router id 192.0.2.2;
protocol device {}
protocol bgp ox { local as 64513; neighbor 192.0.2.1 as 64512; passive on; ipv4 { import all; export none; }; }
CONF

big_comm() { local i; printf '198.51.100.1/32'; for ((i = 1; i <= 70; i++)); do printf ' community=65000:%d' "$i"; done; echo; }
big_large() { local i; printf '198.51.100.2/32'; for ((i = 1; i <= 30; i++)); do printf ' large=64512:%d:%d' "$i" "$i"; done; echo; }
too_big() { local i; printf '198.51.100.3/32'; for ((i = 1; i <= 1100; i++)); do printf ' community=65001:%d' "$i"; done; echo; }
want_comm="^198\\.51\\.100\\.1/32 nh=192\\.0\\.2\\.1 path=64512 lp=[^ ]+ med=- comm=$(seq -f '65000:%g' -s, 1 70) lcomm=-\$"
want_large="^198\\.51\\.100\\.2/32 nh=192\\.0\\.2\\.1 path=64512 lp=[^ ]+ med=- comm=- lcomm=$(for i in $(seq 1 30); do printf '64512:%d:%d,' "$i" "$i"; done | sed 's/,$//')\$"
# only_test NAME AFI: the 203.0.113.x routes; fails if BIRD does not answer.
only_test() {
  local out; out=$(bird_routes "$1" "$2") || return 2
  grep '^203\.0\.113\.' <<<"$out" || [[ $? -eq 1 ]]
}

check_all() { # WHEN
  wait_until 15 rib_has bird_routes b ipv4 "$want_comm" || { bird_routes b ipv4 | cut -c1-160 >&2; oxlb_dump ox; die "$1: route with 70 communities (extended length) not at BIRD"; }
  wait_until 5 rib_has bird_routes b ipv4 "$want_large" || { bird_routes b ipv4 | cut -c1-160 >&2; oxlb_dump ox; die "$1: route with 30 large communities not at BIRD"; }
  oxlb_check_rib "$1: the 8 ordinary routes" only_test b ipv4 8 192.0.2.1 64512 0
  rib_lacks bird_routes b ipv4 '^198\.51\.100\.3/32 ' || die "$1: the oversized route reached BIRD (or BIRD did not answer)"
  oxlb_established ox b && [[ $(oxlb_field ox b .established_count) == 1 ]] || { oxlb_dump ox; die "$1: session disturbed"; }
  log "ok: $1: extended-length attributes intact, oversized route did not block the others"
}

# 1. at session start, with the oversized route in the file
{ oxlb_routes_v4 8; big_comm; big_large; too_big; } | oxlb_routes ox
oxlb_start ox ox --router-id 192.0.2.1 --local-as 64512 --peer 'address=192.0.2.2,as=64513,name=b'
wait_until 20 bird_established b ox || { oxlb_dump ox; die "BIRD session not Established"; }
check_all "initial table"

# 2. on reload: drop the oversized route, then add it back together with a change
{ oxlb_routes_v4 8; big_comm; big_large; } | oxlb_routes ox
check_all "reload without the oversized route"
{ oxlb_routes_v4 9 9; big_comm; big_large; too_big; echo '203.0.113.9/32 community=65000:100 community=65000:9 large=64512:1:9 local-pref=200'; } | oxlb_routes ox
wait_until 15 rib_has bird_routes b ipv4 '^203\.0\.113\.9/32 ' || { oxlb_dump ox; die "reload with the oversized route: the new route 203.0.113.9/32 was not announced"; }
daemon_alive ox || die "oxlb-bgp died"
log "PASS"
