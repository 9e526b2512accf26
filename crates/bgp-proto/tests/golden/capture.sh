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
    if bash "${BASH_SOURCE[0]}" --case "$c" "$out"; then echo "== ok $c"; else echo "== FAILED $c"; rc=1; fi
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
  wait_until 10 sh -c "tcpdump -r '$WORK/capture.pcap' -n 'tcp[tcpflags] & (tcp-fin|tcp-rst) != 0' 2>/dev/null | wc -l | grep -qv '^[01]\$'" \
    || log "warning: did not see the TCP teardown"
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
  ns_link a eth0 192.0.2.1/30 b eth0 192.0.2.2/30
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
1. OPEN both ways (4-octet AS capability; BIRD's OPEN My AS field is AS_TRANS 23456), KEEPALIVEs.
2. A (BIRD) announces static routes, next hop 192.0.2.1, AS_PATH 4200000001, ORIGIN IGP:
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

fn="case_$CASE"
declare -F "$fn" >/dev/null || die "unknown case $CASE (known: ${ALL_CASES[*]})"
"$fn"
log "captured $CASE: $(stat -c %s "$CASE_DIR/a.bin") + $(stat -c %s "$CASE_DIR/b.bin") bytes"
