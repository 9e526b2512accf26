#!/usr/bin/env bash
# TTL and shutdown: the speaker's BGP segments carry TTL 1 on single-hop eBGP
# and TTL 255 on iBGP and on multihop eBGP (seen with tcpdump on the peer's
# side); SIGTERM makes it send Cease/Administrative Shutdown to every peer
# (BIRD reports it) and exit 0 promptly.
#
#   ox (oxlb 64512) e0 ---- eth0  b (one BIRD, three protocols)
#     192.0.2.1/30    <-> 192.0.2.2/30     eBGP single hop (BIRD 64513)
#     198.51.100.1/30 <-> 198.51.100.2/30  iBGP            (BIRD 64512)
#     203.0.113.1/30  <-> 203.0.113.2/30   eBGP multihop   (BIRD 64513, multihop 2)
set -euo pipefail
E2E_TEST_NAME=29-ttl-shutdown
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/oxlb.sh"
require bird birdc jq tcpdump

ns_create ox; ns_create b
ns_link ox e0 192.0.2.1/30,198.51.100.1/30,203.0.113.1/30 b eth0 192.0.2.2/30,198.51.100.2/30,203.0.113.2/30

cap="$E2E_TMP/tcpdump.txt"
spawn b "$cap" tcpdump -i eth0 --immediate-mode -nn -v -l 'tcp port 179'
wait_until 10 grep -q 'listening on' "$cap" || die "tcpdump did not start"

bird_start b b <<'CONF'
router id 192.0.2.2;
protocol device {}
protocol bgp peer_e { local 192.0.2.2 as 64513; neighbor 192.0.2.1 as 64512; passive on; ipv4 { import all; export none; }; }
protocol bgp peer_i { local 198.51.100.2 as 64512; neighbor 198.51.100.1 as 64512; direct; passive on; ipv4 { import all; export none; }; }
protocol bgp peer_m { local 203.0.113.2 as 64513; neighbor 203.0.113.1 as 64512; multihop 2; passive on; ipv4 { import all; export none; }; }
CONF

oxlb_routes_v4 2 | oxlb_routes ox
oxlb_start ox ox --router-id 192.0.2.1 --local-as 64512 \
  --peer 'address=192.0.2.2,as=64513,name=ebgp' \
  --peer 'address=198.51.100.2,as=64512,name=ibgp' \
  --peer 'address=203.0.113.2,as=64513,name=mhop,multihop'
for p in "peer_e ebgp" "peer_i ibgp" "peer_m mhop"; do
  set -- $p
  wait_until 20 bird_established b $1 || { bird_cmd b show protocols all $1 >&2; oxlb_dump ox; die "BIRD $1 not Established"; }
  wait_until 5 oxlb_established ox $2 || { oxlb_dump ox; die "speaker: $2 not Established"; }
done
log "ok: 3 sessions Established"

# TTLs of the segments the speaker sent, per source address.
ttls() {
  awk -v src="$1" '/ IP \(/ || /^IP \(/ { if (match($0, /ttl [0-9]+/)) ttl = substr($0, RSTART + 4, RLENGTH - 4); next }
    index($1, src ".") == 1 && $2 == ">" { print ttl }' "$cap" | sort -u | paste -sd, -
}
check_ttl() { # SRC WANT WHAT
  local got; got=$(ttls "$1")
  [[ $got == "$2" ]] || { tail -n 20 "$cap" >&2; die "$3: TTL(s) of the speaker's segments from $1: '${got:-none}', expected $2"; }
  log "ok: $3: TTL $got"
}
check_ttl 192.0.2.1 1 "single-hop eBGP"
check_ttl 198.51.100.1 255 "iBGP"
check_ttl 203.0.113.1 255 "multihop eBGP"

pid=$(daemon_pid ox)
log "SIGTERM oxlb-bgp (PID $pid)"
t0=$SECONDS
kill -TERM "$pid"
rc=0
timeout 10 tail --pid="$pid" -f /dev/null || die "oxlb-bgp still running 10 s after SIGTERM"
wait "$pid" || rc=$?
log "oxlb-bgp exited with status $rc after $((SECONDS - t0)) s"
((rc == 0)) || { daemon_log ox >&2; die "exit status $rc after SIGTERM, expected 0"; }
for p in peer_e peer_i peer_m; do
  wait_until 5 bird_proto_matches b "$p" 'Received: Administrative shutdown' \
    || { bird_cmd b show protocols all $p >&2; die "$p: BIRD did not receive Cease/Administrative Shutdown"; }
done
log "ok: every peer received Cease/Administrative Shutdown"
log "PASS"
