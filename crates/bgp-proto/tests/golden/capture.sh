#!/usr/bin/env bash
# Regenerates the golden BGP byte streams in this directory by running real
# sessions between independent BGP implementations (BIRD 2, GoBGP, FRR bgpd)
# in throw-away network namespaces and capturing them with tcpdump.
#
#   capture.sh [OUTDIR] [CASE...]     (needs root; OUTDIR defaults to this dir)
#
# For every case it writes OUTDIR/CASE/{capture.pcap,a.bin,b.bin,README.md}:
# a.bin / b.bin are the TCP payload byte streams sent by side A / side B of
# the BGP connection, reassembled in sequence order (pcap2streams.py).
# Every step waits for a RIB or session state by polling (bounded timeouts),
# never by a fixed sleep. Each case runs in its own process so its namespaces
# and daemons are cleaned up even on failure.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../../.." && pwd)
ALL_CASES=(bird-gobgp-ebgp-v4 bird-gobgp-ibgp-v6 frr-bird-ebgp gobgp-bird-2byte)

if [[ ${1:-} != --case ]]; then
  [[ $(id -u) -eq 0 ]] || { echo "capture.sh: must run as root" >&2; exit 1; }
  out=${1:-$HERE}; shift || true
  mkdir -p "$out"; out=$(cd "$out" && pwd)
  cases=("$@"); ((${#cases[@]})) || cases=("${ALL_CASES[@]}")
  rc=0
  for c in "${cases[@]}"; do
    echo "== capture $c -> $out/$c"
    # the case runs as its own process (its own cleanup trap); INT/TERM is forwarded to it
    bash "${BASH_SOURCE[0]}" --case "$c" "$out" &
    child=$!
    trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 130' INT TERM
    if wait "$child"; then echo "== ok $c"; else echo "== FAILED $c"; rc=1; fi
    trap - INT TERM
  done
  exit $rc
fi

CASE=$2 OUT=$3
E2E_TEST_NAME="capture:$CASE"
# shellcheck source=../../../../e2e/lib/daemons.sh
source "$REPO/e2e/lib/daemons.sh"
CASE_DIR="$OUT/$CASE"
WORK="$E2E_TMP/capture"
mkdir -p "$WORK"

bird_version() { bird --version 2>&1 | awk '{print $NF}'; }
gobgp_version() { gobgpd --version 2>&1 | awk '{print $NF}'; }
frr_version() { /usr/lib/frr/bgpd --version 2>&1 | awk '/version/ {print $NF; exit}'; }

TCPDUMP_PID=
require tcpdump python3
# cap_start NS IF: start tcpdump on NS:IF writing $WORK/capture.pcap (TCP port 179 only).
cap_start() {
  spawn "$1" "$WORK/tcpdump.log" tcpdump -n -i "$2" -s 0 -U -Z root -w "$WORK/capture.pcap" 'tcp port 179'
  TCPDUMP_PID=$E2E_LAST_PID
  wait_until 10 grep -q 'listening on' "$WORK/tcpdump.log" || { cat "$WORK/tcpdump.log" >&2; die "tcpdump did not start"; }
}
# cap_finish A_ADDR: stop tcpdump (after the TCP teardown is seen), split the streams, install the files.
cap_finish() {
  local a=$1
  # wait until both FINs (or a RST) of the BGP connection were captured
  wait_until 10 python3 "$HERE/pcap2streams.py" "$WORK/capture.pcap" --check-closed \
    || die "the BGP connection was not torn down"
  kill_pid "$TCPDUMP_PID" 5
  mkdir -p "$CASE_DIR"
  python3 "$HERE/pcap2streams.py" "$WORK/capture.pcap" --list >&2
  local verify=()
  if command -v tshark >/dev/null; then verify=(--verify-tshark); else log "tshark not installed: streams not cross-checked"; fi
  python3 "$HERE/pcap2streams.py" "$WORK/capture.pcap" --a "$a" --out-a "$WORK/a.bin" --out-b "$WORK/b.bin" "${verify[@]}" >&2
  local f
  for f in a.bin b.bin; do
    [[ -s $WORK/$f ]] || die "$f is empty"
    [[ $(head -c 16 "$WORK/$f" | od -An -tx1 | tr -d ' \n') == ffffffffffffffffffffffffffffffff ]] \
      || die "$f does not start with a BGP marker"
  done
  cp "$WORK/capture.pcap" "$WORK/a.bin" "$WORK/b.bin" "$CASE_DIR/"
  if command -v tshark >/dev/null; then
    # human-readable decode of every BGP message (reference for assertions; not used by tests)
    tshark -r "$WORK/capture.pcap" -Y bgp -O bgp -t r 2>/dev/null \
      | grep -v -e '^Frame [0-9]*: ' -e '^ *\[' -e '^Ethernet II' -e '^Transmission Control Protocol' -e '^Linux cooked' >"$CASE_DIR/decoded.txt" || true
  fi
  chmod 644 "$CASE_DIR"/*
}
# gobgp_nbr_counter NAME PEER JQPATH: a counter from `gobgp neighbor PEER -j`.
gobgp_nbr() { gobgp_cmd "$1" neighbor "$2" -j | jq -r "$3"; }
bird_proto_down() { bird_cmd "$1" show protocols "$2" | grep -Eq "^$2 +BGP +--- +(down|start)"; }

######## case 1: BIRD (AS 4200000001) <-> GoBGP (AS 65002), eBGP over IPv4 ########
case_bird-gobgp-ebgp-v4() {
  ns_create a; ns_create b
  ns_link a eth0 192.0.2.1/30 b eth0 192.0.2.2/30 02:00:00:00:01:0a 02:00:00:00:01:0b
  cap_start a eth0
  bird_start bird a <<'CONF'
router id 192.0.2.1;
protocol device {}
protocol static s4 {
  ipv4;
  route 203.0.113.1/32 blackhole;
  route 203.0.113.2/32 blackhole;
  route 203.0.113.3/32 blackhole;
}
filter to_gobgp {
  if net = 203.0.113.1/32 then {
    bgp_med = 10;
    bgp_community.add((65001,100));
    bgp_large_community.add((4200000001,1,2));
    bgp_ext_community.add((rt,65001,100));
    accept;
  }
  if net = 203.0.113.2/32 then {
    bgp_med = 20;
    bgp_community.add((65001,100));
    bgp_community.add((65001,200));
    bgp_large_community.add((4200000001,1,2));
    bgp_large_community.add((4200000001,3,4));
    accept;
  }
  if net = 203.0.113.3/32 then {
    bgp_community.add((65001,300));
    accept;
  }
  reject;
}
protocol bgp gob {
  local 192.0.2.1 as 4200000001;
  neighbor 192.0.2.2 as 65002;
  hold time 90;
  connect delay time 1;
  ipv4 { import all; export filter to_gobgp; };
}
CONF
  gobgp_start gobgp b <<'CONF'
[global.config]
  as = 65002
  router-id = "192.0.2.2"
  local-address-list = ["192.0.2.2"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "192.0.2.1"
    peer-as = 4200000001
  [neighbors.transport.config]
    passive-mode = true
    local-address = "192.0.2.2"
CONF
  wait_until 30 bird_established bird gob || die "session not established"
  wait_until 20 eval 'gobgp_routes gobgp ipv4 | grep -c "^203\.0\.113\." | grep -qx 3' || die "gobgp did not learn BIRD's routes"
  gobgp_cmd gobgp global rib add 198.51.100.0/24 origin igp community 65002:200 >/dev/null
  wait_until 20 eval 'bird_routes bird ipv4 | grep -q "^198\.51\.100\.0/24 "' || die "bird did not learn 198.51.100.0/24"
  gobgp_cmd gobgp global rib add 198.51.100.128/25 origin igp community 65002:200,65002:300 >/dev/null
  wait_until 20 eval 'bird_routes bird ipv4 | grep -q "^198\.51\.100\.128/25 "' || die "bird did not learn 198.51.100.128/25"
  gobgp_cmd gobgp global rib del 198.51.100.128/25 >/dev/null
  wait_until 20 eval '! bird_routes bird ipv4 | grep -q "^198\.51\.100\.128/25 "' || die "bird did not see the withdrawal"
  local sent; sent=$(gobgp_nbr gobgp 192.0.2.1 '.state.messages.sent.update')
  bird_cmd bird reload in gob >/dev/null
  wait_until 20 eval '(( $(gobgp_nbr gobgp 192.0.2.1 ".state.messages.received.refresh // 0") >= 1 ))' || die "no ROUTE-REFRESH seen by gobgp"
  wait_until 20 eval '(( $(gobgp_nbr gobgp 192.0.2.1 ".state.messages.sent.update") > sent ))' || die "gobgp did not answer the refresh"
  bird_cmd bird disable gob '"maintenance"' >/dev/null
  wait_until 20 eval '(( $(gobgp_nbr gobgp 192.0.2.1 ".state.messages.received.notification // 0") >= 1 ))' || die "no NOTIFICATION seen by gobgp"
  cap_finish 192.0.2.1
  cat >"$CASE_DIR/README.md" <<README
# bird-gobgp-ebgp-v4

One eBGP session over IPv4, captured on BIRD's interface.

| side | daemon | version | ASN | address | router id |
| --- | --- | --- | --- | --- | --- |
| A (a.bin) | BIRD | $(bird_version) | 4200000001 (4-octet) | 192.0.2.1 | 192.0.2.1 |
| B (b.bin) | GoBGP gobgpd | $(gobgp_version) | 65002 | 192.0.2.2 (passive) | 192.0.2.2 |

BIRD connects (GoBGP is passive-mode), so A is the TCP client; hold time 90 s.

What happens, in order:
1. OPEN from A (BIRD): My AS = AS_TRANS 23456; capabilities MP ipv4/unicast, route refresh,
   graceful restart (helper only, restart time 120), 4-octet AS 4200000001, enhanced route
   refresh, LLGR. OPEN from B (GoBGP): route refresh, FQDN "gobgp", MP ipv4/unicast, 4-octet
   AS 65002, extended next hop (ipv4/unicast over IPv6). KEEPALIVEs.
2. A (BIRD) announces static routes (one UPDATE each, in no particular order), next hop
   192.0.2.1, AS_PATH 4200000001 (4-octet encoding), ORIGIN IGP:
   - 203.0.113.1/32: MED 10, COMMUNITY 65001:100, LARGE_COMMUNITY 4200000001:1:2, EXT_COMMUNITY rt 65001:100
   - 203.0.113.2/32: MED 20, COMMUNITY 65001:100 65001:200, LARGE_COMMUNITY 4200000001:1:2 4200000001:3:4
   - 203.0.113.3/32: COMMUNITY 65001:300 (no MED)
   followed by End-of-RIB (empty UPDATE).
3. B (GoBGP) announces 198.51.100.0/24 (ORIGIN IGP, COMMUNITY 65002:200, next hop 192.0.2.2,
   AS_PATH 65002), then 198.51.100.128/25 (COMMUNITY 65002:200 65002:300), then withdraws
   198.51.100.128/25 (IPv4 withdrawn-routes field). GoBGP sends no End-of-RIB (no graceful
   restart configured).
4. A sends ROUTE-REFRESH (AFI 1 / SAFI 1, subtype 0) (\`birdc reload in gob\`); B re-sends its
   Adj-RIB-Out (198.51.100.0/24) in one UPDATE (GoBGP did not advertise enhanced route
   refresh, so there is no BoRR/EoRR).
5. A sends NOTIFICATION Cease (6) / Administrative Shutdown (2) with the RFC 9003
   shutdown communication "maintenance" (\`birdc disable gob "maintenance"\`); TCP closes.

GoBGP's OPEN carries an FQDN capability with hostname "gobgp" (the daemon runs in its own
UTS namespace with that hostname).

Regenerate (as root, from the repository root):
\`crates/bgp-proto/tests/golden/capture.sh crates/bgp-proto/tests/golden $CASE\`
Streams: \`pcap2streams.py capture.pcap --a 192.0.2.1 --out-a a.bin --out-b b.bin\`.
README
}

######## case 2: BIRD <-> GoBGP, iBGP AS 65010 over IPv6 (MP_REACH/MP_UNREACH, RFC 8950) ########
case_bird-gobgp-ibgp-v6() {
  ns_create a; ns_create b
  ns_link a eth0 2001:db8:10::1/64 b eth0 2001:db8:10::2/64 02:00:00:00:02:0a 02:00:00:00:02:0b
  cap_start a eth0
  bird_start bird a <<'CONF'
router id 192.0.2.11;
protocol device {}
protocol static s6 {
  ipv6;
  route 2001:db8:aa::1/128 blackhole;
  route 2001:db8:aa:1::/64 blackhole;
}
protocol static s6b { ipv6; route 2001:db8:aa:2::/64 blackhole; }
protocol static s4 { ipv4; route 203.0.113.10/32 blackhole; }
protocol bgp gob {
  local 2001:db8:10::1 as 65010;
  neighbor 2001:db8:10::2 as 65010;
  direct;
  hold time 90;
  connect delay time 1;
  ipv6 { gateway direct; import all; export filter { bgp_local_pref = 200; accept; }; };
  ipv4 { gateway direct; extended next hop on; import all; export filter { bgp_local_pref = 150; accept; }; };
}
CONF
  gobgp_start gobgp b <<'CONF'
[global.config]
  as = 65010
  router-id = "192.0.2.12"
  local-address-list = ["2001:db8:10::2"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "2001:db8:10::1"
    peer-as = 65010
  [neighbors.transport.config]
    passive-mode = true
    local-address = "2001:db8:10::2"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
CONF
  wait_until 30 bird_established bird gob || die "session not established"
  wait_until 20 eval 'gobgp_routes gobgp ipv6 | grep -c "^2001:db8:aa:" | grep -qx 3' || { gobgp_routes gobgp ipv6 >&2; die "gobgp did not learn BIRD's v6 routes"; }
  wait_until 20 eval 'gobgp_routes gobgp ipv4 | grep -q "^203\.0\.113\.10/32 "' || { gobgp_routes gobgp ipv4 >&2; die "gobgp did not learn BIRD's v4 route"; }
  gobgp_cmd gobgp global rib add -a ipv6 2001:db8:bb::1/128 origin igp local-pref 300 >/dev/null
  gobgp_cmd gobgp global rib add -a ipv6 2001:db8:bb:1::/64 origin igp local-pref 300 >/dev/null
  gobgp_cmd gobgp global rib add -a ipv4 198.51.100.10/32 origin igp nexthop 2001:db8:10::2 local-pref 300 >/dev/null
  wait_until 20 eval 'bird_routes bird ipv6 | grep -c "^2001:db8:bb:" | grep -qx 2' || { bird_routes bird ipv6 >&2; die "bird did not learn GoBGP's v6 routes"; }
  wait_until 20 eval 'bird_routes bird ipv4 | grep -q "^198\.51\.100\.10/32 "' || { bird_routes bird ipv4 >&2; die "bird did not learn GoBGP's v4 route"; }
  gobgp_cmd gobgp global rib del -a ipv6 2001:db8:bb:1::/64 >/dev/null
  wait_until 20 eval '! bird_routes bird ipv6 | grep -q "^2001:db8:bb:1::/64 "' || die "bird did not see the MP_UNREACH"
  bird_cmd bird disable s6b >/dev/null
  wait_until 20 eval '! gobgp_routes gobgp ipv6 | grep -q "^2001:db8:aa:2::/64 "' || die "gobgp did not see the MP_UNREACH"
  gobgp_cmd gobgp neighbor 2001:db8:10::1 disable --reason "v6 maintenance" >/dev/null
  wait_until 20 eval 'bird_cmd bird show protocols all gob | grep -q "Received: Administrative shutdown"' \
    || { bird_cmd bird show protocols all gob >&2; die "bird did not get the Cease"; }
  cap_finish 2001:db8:10::1
  cat >"$CASE_DIR/README.md" <<README
# bird-gobgp-ibgp-v6

One iBGP session (AS 65010 on both sides) over IPv6, captured on BIRD's interface.
IPv6 routes and (RFC 8950 extended next hop) IPv4 routes travel in MP_REACH_NLRI.

| side | daemon | version | ASN | address | router id |
| --- | --- | --- | --- | --- | --- |
| A (a.bin) | BIRD | $(bird_version) | 65010 | 2001:db8:10::1/64, MAC 02:00:00:00:02:0a | 192.0.2.11 |
| B (b.bin) | GoBGP gobgpd | $(gobgp_version) | 65010 | 2001:db8:10::2/64 (passive), MAC 02:00:00:00:02:0b | 192.0.2.12 |

A's link-local address is fe80::ff:fe00:20a (from the fixed MAC). Hold time 90 s.

What happens, in order:
1. OPEN both ways. BIRD: MP ipv6/unicast + ipv4/unicast, route refresh, extended next hop
   (ipv4/unicast over IPv6 next hop), graceful restart (helper), 4-octet AS, enhanced route
   refresh, LLGR. GoBGP: route refresh, FQDN "gobgp", MP ipv6 + ipv4, 4-octet AS, extended
   next hop. Then KEEPALIVEs.
2. A announces, ORIGIN IGP, empty AS_PATH (iBGP), LOCAL_PREF 200, MP_REACH_NLRI AFI 2 with a
   32-byte next hop (global 2001:db8:10::1 + link-local): 2001:db8:aa::1/128,
   2001:db8:aa:1::/64, 2001:db8:aa:2::/64; End-of-RIB for IPv6 (UPDATE with an empty
   MP_UNREACH_NLRI AFI 2/SAFI 1).
3. A announces 203.0.113.10/32 in MP_REACH_NLRI AFI 1/SAFI 1 with an IPv6 next hop (global +
   link-local, RFC 8950), LOCAL_PREF 150; End-of-RIB for IPv4 (empty UPDATE).
4. B announces, ORIGIN IGP, empty AS_PATH, LOCAL_PREF 300, each in its own UPDATE:
   2001:db8:bb::1/128, 2001:db8:bb:1::/64 (MP_REACH AFI 2, 16-byte next hop 2001:db8:10::2),
   198.51.100.10/32 (MP_REACH AFI 1/SAFI 1 with IPv6 next hop 2001:db8:10::2, RFC 8950).
5. B withdraws 2001:db8:bb:1::/64 (MP_UNREACH_NLRI).
6. A withdraws 2001:db8:aa:2::/64 (MP_UNREACH_NLRI) (\`birdc disable s6b\`).
7. B sends NOTIFICATION Cease (6) / Administrative Shutdown (2) with the RFC 9003 shutdown
   communication "v6 maintenance" (\`gobgp neighbor 2001:db8:10::1 disable --reason ...\`);
   TCP closes. (BIRD's later reconnect attempts are in capture.pcap but not in a.bin/b.bin.)

Regenerate (as root, from the repository root):
\`crates/bgp-proto/tests/golden/capture.sh crates/bgp-proto/tests/golden $CASE\`
Streams: \`pcap2streams.py capture.pcap --a 2001:db8:10::1 --out-a a.bin --out-b b.bin\`.
README
}

######## case 3: FRR bgpd (AS 65003) <-> BIRD (AS 65001), eBGP over IPv4 ########
case_frr-bird-ebgp() {
  ns_create a; ns_create b
  ns_link a eth0 192.0.2.5/30 b eth0 192.0.2.6/30 02:00:00:00:03:0a 02:00:00:00:03:0b
  cap_start a eth0
  frr_start frr a <<'CONF'
frr defaults traditional
hostname frr
domainname example.net
route-map PREPEND permit 10
 set as-path prepend 65030 65031
 set community 65003:1 65003:2
 set large-community 65003:0:1
!
router bgp 65003
 bgp router-id 192.0.2.5
 no bgp ebgp-requires-policy
 no bgp network import-check
 bgp graceful-restart
 neighbor 192.0.2.6 remote-as 65001
 neighbor 192.0.2.6 timers connect 1
 address-family ipv4 unicast
  network 198.51.100.0/26 route-map PREPEND
  network 198.51.100.64/26
  network 198.51.100.128/26
  network 198.51.100.192/26
  aggregate-address 198.51.100.128/25 summary-only
  neighbor 192.0.2.6 addpath-tx-all-paths
 exit-address-family
CONF
  bird_start bird b <<'CONF'
router id 192.0.2.6;
protocol device {}
protocol static s4 {
  ipv4;
  route 203.0.113.64/26 blackhole;
  route 203.0.113.128/26 blackhole;
}
filter to_frr {
  if net = 203.0.113.64/26 then {
    bgp_path.prepend(64512);
    bgp_path.prepend(4200000099);
    bgp_community.add((65001,64));
    accept;
  }
  if net = 203.0.113.128/26 then {
    bgp_med = 128;
    bgp_large_community.add((65001,128,1));
    accept;
  }
  reject;
}
protocol bgp frr {
  local 192.0.2.6 as 65001;
  neighbor 192.0.2.5 as 65003;
  passive on;
  hold time 90;
  ipv4 { import all; export filter to_frr; add paths rx; };
}
CONF
  wait_until 30 bird_established bird frr || die "session not established"
  wait_until 20 eval 'bird_routes bird ipv4 | grep -q "^198\.51\.100\.128/25 "' || { bird_routes bird ipv4 >&2; die "bird did not get the aggregate"; }
  wait_until 20 eval 'bird_routes bird ipv4 | grep -q "^198\.51\.100\.0/26 nh=192\.0\.2\.5 path=65003,65030,65031 "' || { bird_routes bird ipv4 >&2; die "bird did not get the prepended route"; }
  wait_until 20 eval 'frr_routes frr ipv4 | grep -c "^203\.0\.113\." | grep -qx 2' || { frr_routes frr ipv4 >&2; die "frr did not get BIRD's routes"; }
  # FRR sends ROUTE-REFRESH; BIRD answers (enhanced route refresh: BoRR, routes, EoRR)
  frr_cmd frr 'clear bgp ipv4 unicast 192.0.2.6 soft in' >/dev/null
  wait_until 20 eval 'frr_cmd frr "show bgp neighbors 192.0.2.6 json" | jq -e ".\"192.0.2.6\".messageStats.routeRefreshSent >= 1"' || die "frr sent no ROUTE-REFRESH"
  wait_until 20 eval 'frr_cmd frr "show bgp neighbors 192.0.2.6 json" | jq -e ".\"192.0.2.6\".messageStats.updatesRecv >= 4"' || die "bird did not answer the refresh"
  # FRR withdraws one route, then shuts the session down with an RFC 9003 message
  frr_config frr 'router bgp 65003' 'address-family ipv4 unicast' 'no network 198.51.100.64/26' >/dev/null
  wait_until 20 eval '! bird_routes bird ipv4 | grep -q "^198\.51\.100\.64/26 "' || die "bird did not see the withdrawal"
  # (FRR keeps quotes as part of the message text, so none here)
  frr_config frr 'router bgp 65003' 'neighbor 192.0.2.6 shutdown message frr maintenance' >/dev/null
  wait_until 20 eval 'bird_cmd bird show protocols all frr | grep -q "Received: Administrative shutdown"' \
    || { bird_cmd bird show protocols all frr >&2; die "bird did not get the Cease"; }
  cap_finish 192.0.2.5
  cat >"$CASE_DIR/README.md" <<README
# frr-bird-ebgp

One eBGP session over IPv4 between FRR bgpd (without zebra) and BIRD, captured on FRR's
interface. Main purpose: FRR's OPEN (many capabilities) and ADD-PATH encoded NLRI.

| side | daemon | version | ASN | address | router id |
| --- | --- | --- | --- | --- | --- |
| A (a.bin) | FRR bgpd | $(frr_version) | 65003 | 192.0.2.5/30, MAC 02:00:00:00:03:0a | 192.0.2.5 |
| B (b.bin) | BIRD | $(bird_version) | 65001 | 192.0.2.6/30 (passive), MAC 02:00:00:00:03:0b | 192.0.2.6 |

FRR connects (BIRD is \`passive on\`). Hold time 180 (FRR "traditional" defaults) / 90 (BIRD).

What happens, in order:
1. OPEN from A (FRR) with capabilities: MP ipv4/unicast, route refresh (old Cisco code 128
   and 2), enhanced route refresh (70), 4-octet AS (65003), extended message (6), ADD-PATH
   (69) ipv4/unicast send+receive, FQDN (73) hostname "frr" domain "example.net",
   graceful restart (64) with restart-state and notification bits set, restart time 120 and
   ipv4/unicast forwarding state, LLGR (71). OPEN from B (BIRD): MP, route refresh, graceful
   restart (helper), 4-octet AS, ADD-PATH ipv4/unicast receive, enhanced route refresh, LLGR.
   KEEPALIVEs.
2. Because B advertised ADD-PATH receive and A send, every IPv4 NLRI that A sends carries a
   4-byte path identifier (RFC 7911); B's NLRI do not.
3. B announces (next hop 192.0.2.6), then End-of-RIB:
   - 203.0.113.128/26: AS_PATH 65001, MED 128, LARGE_COMMUNITY 65001:128:1
   - 203.0.113.64/26: AS_PATH 65001 4200000099 64512 (prepends in BIRD's export filter),
     COMMUNITY 65001:64
4. A announces (next hop 192.0.2.5, ORIGIN IGP, MED 0), then End-of-RIB:
   - 198.51.100.0/26: AS_PATH 65003 65030 65031 (route-map prepend), COMMUNITY 65003:1
     65003:2, LARGE_COMMUNITY 65003:0:1
   - 198.51.100.64/26: AS_PATH 65003
   - 198.51.100.128/25: aggregate (\`aggregate-address 198.51.100.128/25 summary-only\` over
     198.51.100.128/26 and .192/26, which are suppressed): AS_PATH 65003, ATOMIC_AGGREGATE,
     AGGREGATOR AS 65003 / 192.0.2.5
   - B's two routes reflected back: AS_PATH 65003 65001 4200000099 64512 (COMMUNITY 65001:64)
     and 65003 65001 (LARGE_COMMUNITY 65001:128:1; MED not passed on)
5. A sends ROUTE-REFRESH ipv4/unicast (\`clear bgp ipv4 unicast 192.0.2.6 soft in\`); B answers
   with enhanced route refresh: ROUTE-REFRESH subtype 1 (BoRR), its two routes again,
   ROUTE-REFRESH subtype 2 (EoRR).
6. A withdraws 198.51.100.64/26 (IPv4 withdrawn-routes field, with its ADD-PATH id), after
   \`no network 198.51.100.64/26\`. Around steps 5-6 FRR also re-sends some or all of its
   other announcements (unchanged attributes); how many and in which order varies between
   runs, so assert on the set of messages after the ROUTE-REFRESH, not on their order.
7. A sends NOTIFICATION Cease (6) / Administrative Shutdown (2) with the RFC 9003 shutdown
   communication "frr maintenance" (\`neighbor 192.0.2.6 shutdown message frr maintenance\`);
   TCP closes.

Regenerate (as root, from the repository root):
\`crates/bgp-proto/tests/golden/capture.sh crates/bgp-proto/tests/golden $CASE\`
Streams: \`pcap2streams.py capture.pcap --a 192.0.2.5 --out-a a.bin --out-b b.bin\`.
README
}

######## case 4: GoBGP (AS 65004) <-> BIRD (AS 65005, `enable as4 off`): 2-octet AS session ########
case_gobgp-bird-2byte() {
  ns_create a; ns_create b
  ns_link a eth0 192.0.2.9/30 b eth0 192.0.2.10/30 02:00:00:00:04:0a 02:00:00:00:04:0b
  cap_start a eth0
  gobgp_start gobgp a <<'CONF'
[global.config]
  as = 65004
  router-id = "192.0.2.9"
  local-address-list = ["192.0.2.9"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "192.0.2.10"
    peer-as = 65005
  [neighbors.timers.config]
    connect-retry = 1
  [neighbors.transport.config]
    local-address = "192.0.2.9"
CONF
  bird_start bird b <<'CONF'
router id 192.0.2.10;
protocol device {}
protocol static s4 {
  ipv4;
  route 203.0.113.0/25 blackhole;
}
filter to_gobgp {
  bgp_path.prepend(4200000055);
  bgp_community.add((65005,1));
  accept;
}
protocol bgp gob {
  local 192.0.2.10 as 65005;
  neighbor 192.0.2.9 as 65004;
  enable as4 off;
  passive on;
  hold time 90;
  ipv4 { import all; export filter to_gobgp; };
}
CONF
  wait_until 30 bird_established bird gob || { bird_cmd bird show protocols all gob >&2; die "session not established"; }
  gobgp_cmd gobgp global rib add 198.51.100.0/24 origin igp community 65004:4 >/dev/null
  gobgp_cmd gobgp global rib add 198.51.100.128/25 origin igp aspath 4200000066,65066 >/dev/null
  wait_until 20 eval 'bird_routes bird ipv4 | grep -q "^198\.51\.100\.0/24 nh=192\.0\.2\.9 path=65004 "' || { bird_routes bird ipv4 >&2; die "bird did not get 198.51.100.0/24"; }
  wait_until 20 eval 'bird_routes bird ipv4 | grep -q "^198\.51\.100\.128/25 "' || { bird_routes bird ipv4 >&2; die "bird did not get 198.51.100.128/25"; }
  wait_until 20 eval 'gobgp_routes gobgp ipv4 | grep -q "^203\.0\.113\.0/25 nh=192\.0\.2\.10 path=65005,4200000055 "' || { gobgp_routes gobgp ipv4 >&2; die "gobgp did not get 203.0.113.0/25"; }
  bird_cmd bird disable gob '"as4 off bye"' >/dev/null
  wait_until 20 eval '(( $(gobgp_nbr gobgp 192.0.2.10 ".state.messages.received.notification // 0") >= 1 ))' || die "no NOTIFICATION seen by gobgp"
  cap_finish 192.0.2.9
  cat >"$CASE_DIR/README.md" <<README
# gobgp-bird-2byte

One eBGP session over IPv4 on which 4-octet AS numbers are NOT negotiated (BIRD has
\`enable as4 off\` and sends no 4-octet AS capability), so AS_PATH is encoded with 2-octet
ASNs and 4-octet ASNs in paths travel as AS_TRANS (23456) plus an AS4_PATH attribute
(RFC 6793). Captured on GoBGP's interface.

| side | daemon | version | ASN | address | router id |
| --- | --- | --- | --- | --- | --- |
| A (a.bin) | GoBGP gobgpd | $(gobgp_version) | 65004 | 192.0.2.9/30, MAC 02:00:00:00:04:0a | 192.0.2.9 |
| B (b.bin) | BIRD (\`enable as4 off\`) | $(bird_version) | 65005 | 192.0.2.10/30 (passive), MAC 02:00:00:00:04:0b | 192.0.2.10 |

GoBGP connects (BIRD is \`passive on\`). Hold time 90 s.

What happens, in order:
1. OPEN from A (GoBGP): route refresh, FQDN "gobgp", MP ipv4/unicast, 4-octet AS (65004),
   extended next hop. OPEN from B (BIRD): MP ipv4/unicast, route refresh, graceful restart
   (helper), enhanced route refresh, LLGR, and no 4-octet AS capability. KEEPALIVEs.
2. B announces 203.0.113.0/25: ORIGIN IGP, AS_PATH (2-octet) 65005 23456, NEXT_HOP 192.0.2.10,
   COMMUNITY 65005:1, AS4_PATH 65005 4200000055 (BIRD's export filter prepends 4200000055);
   then End-of-RIB.
3. A announces 198.51.100.0/24: ORIGIN IGP, AS_PATH (2-octet) 65004, NEXT_HOP 192.0.2.9,
   COMMUNITY 65004:4 (no AS4_PATH: no 4-octet ASN in the path).
4. A announces 198.51.100.128/25 (\`gobgp global rib add ... aspath 4200000066,65066\`):
   AS_PATH (2-octet) 65004 23456 65066, AS4_PATH 65004 4200000066 65066. GoBGP sends no
   End-of-RIB.
5. B sends NOTIFICATION Cease (6) / Administrative Shutdown (2) with the RFC 9003 shutdown
   communication "as4 off bye"; TCP closes.

Regenerate (as root, from the repository root):
\`crates/bgp-proto/tests/golden/capture.sh crates/bgp-proto/tests/golden $CASE\`
Streams: \`pcap2streams.py capture.pcap --a 192.0.2.9 --out-a a.bin --out-b b.bin\`.
README
}

fn="case_$CASE"
declare -F "$fn" >/dev/null || die "unknown case $CASE (known: ${ALL_CASES[*]})"
"$fn"
log "captured $CASE: $(stat -c %s "$CASE_DIR/a.bin") + $(stat -c %s "$CASE_DIR/b.bin") bytes"
