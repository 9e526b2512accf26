#!/usr/bin/env bash
# e2e: serial (full-table load, memory and time logged)
# A peer that sends a full table faster than we count does not fill our
# memory. A raw peer (e2e/peers/table_peer.py) sends 1,000,000 IPv6 /64s of
# 2001:db8::/32 packed in about 2,230 UPDATEs (MP_REACH_NLRI, 4096 bytes
# each), three times over, as fast as TCP takes them. The reader hands decoded messages to the
# peer task over a 16-deep channel and waits when it is full, so at most
# about 16 decoded UPDATEs are in memory, and TCP pushes back on the peer.
# Asserts: prefixes_received reaches exactly 3,000,000; the session stays up
# (never reset, keepalives keep flowing); VmHWM under RSS_LIMIT_MB.
#
#   ox (oxlb 64512) e0 192.0.2.1/30,2001:db8:1::1/64 ---- eth0 .2 p (table_peer.py 64513)
set -euo pipefail
E2E_TEST_NAME=27-full-table-in
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/oxlb.sh"
source "$(dirname "$0")/../peers/table_peer.sh"
require python3 jq
N=1000000
REPEAT=3
# Routes in are counted, never stored. Measured: the speaker with 2 routes
# of its own peaks at 5.5 MB; 16 decoded UPDATEs in flight (~440 prefixes
# of ~32 bytes each) add about 0.25 MB; the limit leaves ~4 MB for allocator
# variance. The old code (unbounded channel from reader to peer task)
# peaked at 15.4-15.6 MB here: the reader ran up to ~10 MB ahead.
RSS_LIMIT_MB=${RSS_LIMIT_MB:-10}
ns_create ox; ns_create p
ns_link ox e0 192.0.2.1/30 p eth0 192.0.2.2/30

oxlb_routes_v4 2 | oxlb_routes ox
table_peer_start p feed --listen 192.0.2.2 --hold 9 --count $N --repeat $REPEAT --timeout 120
oxlb_start ox ox --router-id 192.0.2.1 --local-as 64512 \
  --peer 'address=192.0.2.2,as=64513,name=p,hold=9,connect-time=1'

t0=$SECONDS
wait_until 120 eval "[[ \$(oxlb_field ox p .prefixes_received) -ge $((N * REPEAT)) ]]" \
  || { oxlb_dump ox; cat "$E2E_TMP/peer.log" >&2; die "prefixes_received did not reach $((N * REPEAT))"; }
got=$(oxlb_field ox p .prefixes_received)
((got == N * REPEAT)) || { oxlb_dump ox; die "prefixes_received=$got, want $((N * REPEAT))"; }
log "ok: $REPEAT x $N prefixes counted in ~$((SECONDS - t0)) s; $(oxlb_peer ox p | jq -c '{updates_received, malformed_updates_received}')"
res=$(table_peer_done 60) || { oxlb_dump ox; die "peer gave no result"; }
log "peer: $res"
[[ $res == *" ok=1 "* && $res == *" table=2 "* ]] || die "peer did not get our 2 routes: $res"

ka0=$(oxlb_field ox p .messages_in.keepalive)
wait_until 10 eval "(( \$(oxlb_field ox p .messages_in.keepalive) >= ka0 + 2 ))" \
  || { oxlb_dump ox; die "keepalives from the peer stopped being counted"; }
[[ $(oxlb_field ox p .established_count) == 1 ]] && oxlb_established ox p \
  || { oxlb_dump ox; die "the session was reset"; }
hwm=$(oxlb_rss_kb ox VmHWM)
log "speaker VmHWM ${hwm} kB (limit ${RSS_LIMIT_MB} MB)"
((hwm < RSS_LIMIT_MB * 1024)) || die "VmHWM ${hwm} kB >= ${RSS_LIMIT_MB} MB"
rc=0; table_peer_wait 20 || rc=$?
((rc == 0)) || { cat "$E2E_TMP/peer.log" >&2; die "peer exit status $rc"; }
log "PASS"
