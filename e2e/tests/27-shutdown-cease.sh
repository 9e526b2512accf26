#!/usr/bin/env bash
# e2e: serial (exit within 5 s of SIGTERM)
# Shutdown puts the Cease on the wire even when the writer is in the middle
# of a table transfer to a slow reader. A raw peer (e2e/peers/table_peer.py,
# hold 0: no KEEPALIVEs either way) reads the initial table of 100,000 routes
# (one attribute set: full 4 kB UPDATEs) at 2 kB per 100 ms, so our writer is
# always blocked inside a 4 kB UPDATE. Then SIGTERM: the speaker must send
# Cease / Administrative Shutdown (RFC 4486 §4) after the UPDATE it is
# writing, and exit within 5 s. The old shutdown slept 50 ms and closed, which
# is shorter than the ~200 ms this writer needs to finish its UPDATE: the peer
# saw the close without a NOTIFICATION.
#
#   ox (oxlb 64512) e0 192.0.2.1/30 ---- eth0 192.0.2.2/30 p (table_peer.py 64513)
set -euo pipefail
E2E_TEST_NAME=27-shutdown-cease
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/oxlb.sh"
source "$(dirname "$0")/../peers/table_peer.sh"
require python3 jq
N=100000

ns_create ox; ns_create p
ns_link ox e0 192.0.2.1/30 p eth0 192.0.2.2/30
nsx ox sysctl -qw net.ipv4.tcp_wmem='4096 16384 65536'

table_routes $N - | oxlb_routes ox
table_peer_start p slowread --listen 192.0.2.2 --hold 0 --rcvbuf 16384 --timeout 60
oxlb_start ox ox --router-id 192.0.2.1 --local-as 64512 \
  --peer 'address=192.0.2.2,as=64513,name=p,hold=0,connect-time=1'
wait_until 30 test -s "$TABLE_PEER_DIR/slow" || { oxlb_dump ox; cat "$E2E_TMP/peer.log" >&2; die "peer did not start reading"; }
got=$(cat "$TABLE_PEER_DIR/slow")
((got < N / 810)) || die "the peer already read the whole table ($got UPDATEs): it is not slow enough"
log "ok: table transfer under way ($got UPDATEs read by the peer)"

opid=$(daemon_pid ox); t0=$SECONDS
kill -TERM "$opid"
wait_until 5 eval "! daemon_alive ox" || die "oxlb-bgp did not exit within 5 s of SIGTERM"
rc=0; wait "$opid" || rc=$?
((rc == 0)) || die "oxlb-bgp exited with status $rc"
log "ok: speaker exited $((SECONDS - t0)) s after SIGTERM"
touch "$TABLE_PEER_DIR/fast"
res=$(table_peer_done 30) || die "peer gave no result"
log "peer: $res"
rc=0; table_peer_wait 10 || rc=$?
((rc == 0)) || die "the peer did not see Cease/Administrative Shutdown before the close: $res"
log "PASS"
