#!/usr/bin/env bash
# e2e: serial (refresh storm)
# A ROUTE-REFRESH storm costs at most a few passes over the table, not one
# per request. A raw peer (e2e/peers/table_peer.py, enhanced route refresh
# negotiated) takes the initial table of 20,000 routes (one attribute set
# each, so one UPDATE per route: a pass is about 1.4 MB, more than the small
# socket buffers set here hold), then sends 10,000 ROUTE-REFRESH requests for
# IPv4 unicast in one write, and reads until the speaker is quiet for 3 s.
# Asserts: every pass is wrapped in BoRR ... EoRR (RFC 7313 §4) and re-sends
# the whole table; at most 3 passes (the one the first request started, the
# one owed when it was under way, and one more if requests were still
# arriving after that one started); the peer's table equals ours; the
# session is never reset; RSS stays under RSS_LIMIT_MB. The old code queued
# a full copy per request (10,000 x 20,000 UPDATEs): the address-space limit
# set on the speaker below makes that an abort rather than a machine-wide OOM.
#
#   ox (oxlb 64512) e0 192.0.2.1/30 ---- eth0 192.0.2.2/30 p (table_peer.py 64513)
set -euo pipefail
E2E_TEST_NAME=27-refresh-storm
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/oxlb.sh"
source "$(dirname "$0")/../peers/table_peer.sh"
require python3 jq prlimit
N=20000
REQUESTS=10000
# 20k routes with distinct attribute sets measured ~25 MB; 64 queued UPDATEs
# and one pass's cursor add nothing that scales with the requests.
RSS_LIMIT_MB=${RSS_LIMIT_MB:-100}

ns_create ox; ns_create p
ns_link ox e0 192.0.2.1/30 p eth0 192.0.2.2/30
nsx ox sysctl -qw net.ipv4.tcp_wmem='4096 16384 262144'

table_routes $N 1 | oxlb_routes ox
table_routes $N 1 >"$TABLE_PEER_DIR/final"
table_peer_start p refresh --listen 192.0.2.2 --hold 30 --rcvbuf 65536 --initial $N \
  --count $REQUESTS --expect "$TABLE_PEER_DIR/final" --timeout 120
oxlb_start ox ox --router-id 192.0.2.1 --local-as 64512 \
  --peer 'address=192.0.2.2,as=64513,name=p,hold=30,connect-time=1'
prlimit --pid "$(daemon_pid ox)" --as=$((4 << 30))

res=$(table_peer_done 150) || { oxlb_dump ox; die "peer gave no result"; }
log "peer: $res"
daemon_alive ox || die "oxlb-bgp died during the storm"
field() { grep -o " $1=[^ ]*" <<<"$res" | cut -d= -f2; }
borr=$(field borr) eorr=$(field eorr) ann=$(field refresh_announcements)
[[ $(field ok) == 1 && $(field table) == "$N" ]] || die "peer table wrong: $res"
((borr == eorr)) || die "BoRR $borr != EoRR $eorr"
((eorr >= 1 && eorr <= 3)) || die "$eorr refresh passes for $REQUESTS requests (want 1..3)"
((ann == eorr * N)) || die "$ann announcements after the storm, want $eorr passes x $N"
log "ok: $REQUESTS requests -> $eorr passes (BoRR/EoRR each), $ann announcements"
[[ $(oxlb_field ox p .established_count) == 1 ]] && oxlb_established ox p \
  || { oxlb_dump ox; die "the session was reset"; }
rr_in=$(oxlb_field ox p .messages_in.route_refresh)
((rr_in == REQUESTS)) || { oxlb_dump ox; die "speaker counted $rr_in ROUTE-REFRESH in, want $REQUESTS"; }
hwm=$(oxlb_rss_kb ox VmHWM)
log "speaker VmHWM ${hwm} kB (limit ${RSS_LIMIT_MB} MB)"
((hwm < RSS_LIMIT_MB * 1024)) || die "VmHWM ${hwm} kB >= ${RSS_LIMIT_MB} MB"
rc=0; table_peer_wait 20 || rc=$?
((rc == 0)) || { cat "$E2E_TMP/peer.log" >&2; die "peer exit status $rc"; }
log "PASS"
