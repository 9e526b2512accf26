#!/usr/bin/env bash
# Malformed messages: e2e/peers/malformed_peer.py dials the speaker (a passive
# peer on --listen) once per case, completes OPEN/KEEPALIVE, sends one
# malformed message and checks the NOTIFICATION code/subcode/data (RFC 4271 §6,
# RFC 7313); RFC 7606 cases (bad ORIGIN, missing NEXT_HOP, bad COMMUNITIES
# length, bad ATOMIC_AGGREGATE length) must leave the session up. Throughout,
# the speaker must stay alive and its session to BIRD must stay Established
# (never reset) with the routes still in BIRD's RIB.
#
#   mp (malformed_peer.py 64513) eth0 192.0.2.6/30 --- m0 192.0.2.5/30 ox (oxlb 64512)
#   b  (BIRD 64513)              eth0 192.0.2.2/30 --- e0 192.0.2.1/30 ox
set -euo pipefail
E2E_TEST_NAME=28-malformed
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/oxlb.sh"
require bird birdc jq python3 timeout
PEER="$(cd "$(dirname "$0")/../peers" && pwd)/malformed_peer.py"

ns_create ox; ns_create b; ns_create mp
ns_link ox e0 192.0.2.1/30 b eth0 192.0.2.2/30
ns_link ox m0 192.0.2.5/30 mp eth0 192.0.2.6/30

bird_start b b <<'CONF'
router id 192.0.2.2;
protocol device {}
protocol bgp ox { local as 64513; neighbor 192.0.2.1 as 64512; passive on; ipv4 { import all; export none; }; }
CONF

oxlb_routes_v4 10 | oxlb_routes ox
oxlb_start ox ox --router-id 192.0.2.1 --local-as 64512 --listen 192.0.2.5:179 \
  --peer 'address=192.0.2.2,as=64513,name=bird' \
  --peer 'address=192.0.2.6,as=64513,name=mp,passive,connect-time=1'
wait_until 20 bird_established b ox || { oxlb_dump ox; die "BIRD session not Established"; }
wait_until 5 oxlb_established ox bird || { oxlb_dump ox; die "speaker: bird not Established"; }
oxlb_check_rib "routes at BIRD before" bird_routes b ipv4 10 192.0.2.1 64512 0
since=$(bird_cmd b show protocols ox | awk '$1 == "ox" { print $5 }')
pid=$(daemon_pid ox)

log "running malformed_peer.py"
rc=0
nsx mp timeout 55 python3 "$PEER" --connect 192.0.2.5 --local-as 64513 --router-id 192.0.2.6 \
  >"$E2E_TMP/malformed.out" 2>&1 || rc=$?
cat "$E2E_TMP/malformed.out" >&2

daemon_alive ox || { daemon_log ox >&2; die "oxlb-bgp died (was PID $pid)"; }
[[ $(daemon_pid ox) == "$pid" ]] || die "oxlb-bgp PID changed"
oxlb_established ox bird || { oxlb_dump ox; die "speaker's BIRD session is no longer Established"; }
[[ $(oxlb_field ox bird .established_count) == 1 ]] || { oxlb_dump ox; die "BIRD session was reset during the malformed cases"; }
bird_established b ox || die "BIRD's session is no longer Established"
[[ $(bird_cmd b show protocols ox | awk '$1 == "ox" { print $5 }') == "$since" ]] || die "BIRD session flapped"
oxlb_check_rib "routes at BIRD after" bird_routes b ipv4 10 192.0.2.1 64512 0
log "speaker status for mp: $(oxlb_peer ox mp | jq -c '{state, established_count, messages_out, last_error_sent, last_error_received}')"
nout=$(oxlb_field ox mp .messages_out.notification)
((rc != 0)) || [[ $nout == 10 ]] || die "speaker status counts $nout NOTIFICATIONs sent to mp, expected 10"
((rc == 0)) || die "malformed_peer.py: $(tail -n1 "$E2E_TMP/malformed.out") (exit $rc)"
log "PASS"
