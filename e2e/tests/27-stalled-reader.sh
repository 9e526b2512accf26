#!/usr/bin/env bash
# e2e: serial (queue bounds under a stalled reader)
# A peer that stops reading does not make us buffer without bound. A raw peer
# (e2e/peers/table_peer.py) takes the initial table of 100,000 routes (each
# its own attribute set, so one UPDATE per route), then stops reading while
# still sending KEEPALIVEs (hold 30). Meanwhile the routes change 6 times
# (every route gets a new large community; the last change also drops every
# 10th route). Once the socket is full, at most 64 more UPDATEs may be built
# (the bulk queue's bound); RSS stays under RSS_LIMIT_MB and grows by less
# than GROWTH_LIMIT_MB over the last 3 changes (it must not scale with the
# number of changes; the dirty set has one entry per prefix). Before the lazy
# Adj-RIB-Out each change queued 100,000 UPDATEs of 4 kB allocations each.
# Then the peer resumes and must end with exactly the final table, on the
# same session.
#
#   ox (oxlb 64512) e0 192.0.2.1/30 ---- eth0 192.0.2.2/30 p (table_peer.py 64513)
set -euo pipefail
E2E_TEST_NAME=27-stalled-reader
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/oxlb.sh"
source "$(dirname "$0")/../peers/table_peer.sh"
require python3 jq
N=100000
CHANGES=6
# What scales here is the table, not the changes: the advertised copy (what
# the stalled peer has), the desired copy, and while a change is applied the
# new route list and attribute sets (100k distinct sets, one per route),
# plus the allocator's per-thread arenas. Measured: 84 MB after the initial
# table, a plateau of 276 MB from change 3 on (211 MB with
# MALLOC_ARENA_MAX=1). The old code (a queue of every change's UPDATEs)
# reached 520 MB after the initial table and 1.86 GB after 6 changes.
RSS_LIMIT_MB=${RSS_LIMIT_MB:-350}
GROWTH_LIMIT_MB=${GROWTH_LIMIT_MB:-40}

ns_create ox; ns_create p
ns_link ox e0 192.0.2.1/30 p eth0 192.0.2.2/30
# Small socket buffers on both sides, so "stalled" means stalled after a few
# hundred kB rather than after the kernel has taken several changes.
nsx ox sysctl -qw net.ipv4.tcp_wmem='4096 16384 262144'

table_routes $N 0 | oxlb_routes ox
table_routes $N $CHANGES 10 >"$TABLE_PEER_DIR/final"
table_peer_start p stall --listen 192.0.2.2 --hold 30 --rcvbuf 65536 --initial $N --expect "$TABLE_PEER_DIR/final" --timeout 240
oxlb_start ox ox --router-id 192.0.2.1 --local-as 64512 \
  --peer 'address=192.0.2.2,as=64513,name=p,hold=30,connect-time=1'

wait_until 90 test -s "$TABLE_PEER_DIR/synced" || { oxlb_dump ox; cat "$E2E_TMP/peer.log" >&2; die "peer did not get the initial table"; }
[[ $(cat "$TABLE_PEER_DIR/synced") == "$N" ]] || die "initial table at the peer: $(cat "$TABLE_PEER_DIR/synced") routes, want $N"
rss0=$(oxlb_rss_kb ox VmRSS) rss=() out=()
log "ok: initial table of $N routes at the peer; peer stops reading; VmRSS ${rss0} kB"

for ((k = 1; k <= CHANGES; k++)); do
  if ((k < CHANGES)); then table_routes $N $k | oxlb_routes ox; else oxlb_routes ox <"$TABLE_PEER_DIR/final"; fi
  wait_until 30 eval "[[ \$(oxlb_status ox | jq -r .routes) == $( ((k < CHANGES)) && echo $N || echo $((N - N / 10)) ) ]]" \
    || { oxlb_dump ox; die "change $k not loaded"; }
  sleep 2
  daemon_alive ox || die "oxlb-bgp died during change $k"
  rss[k]=$(oxlb_rss_kb ox VmRSS) out[k]=$(oxlb_field ox p .messages_out.update)
  log "change $k: VmRSS ${rss[k]} kB, UPDATEs handed to the writer so far ${out[k]}"
done
oxlb_established ox p || { oxlb_dump ox; die "session dropped while the peer was stalled"; }
# Once the socket is full (during change 1), UPDATEs are built only when the
# writer has room: at most one queue refill (64) more, whatever the changes.
((out[CHANGES] - out[1] <= 64)) \
  || die "$((out[CHANGES] - out[1])) UPDATEs queued for a stalled peer after change 1 (limit 64)"
hwm=$(oxlb_rss_kb ox VmHWM)
log "while stalled: VmRSS ${rss0} kB -> ${rss[CHANGES]} kB, VmHWM ${hwm} kB (limit ${RSS_LIMIT_MB} MB; growth over the last 3 changes ${GROWTH_LIMIT_MB} MB)"
((hwm < RSS_LIMIT_MB * 1024)) || die "VmHWM ${hwm} kB >= ${RSS_LIMIT_MB} MB"
((rss[CHANGES] - rss[CHANGES - 3] < GROWTH_LIMIT_MB * 1024)) \
  || die "VmRSS grew by $((rss[CHANGES] - rss[CHANGES - 3])) kB over the last 3 changes: it grows with changes"

touch "$TABLE_PEER_DIR/resume"
res=$(table_peer_done 180) || { oxlb_dump ox; die "peer gave no result"; }
log "peer: $res"
[[ $res == *" ok=1 "* ]] || { oxlb_dump ox; die "peer did not end with the final table"; }
[[ $(oxlb_field ox p .established_count) == 1 ]] && oxlb_established ox p \
  || { oxlb_dump ox; die "the session was reset"; }
rc=0; table_peer_wait 20 || rc=$?
((rc == 0)) || { cat "$E2E_TMP/peer.log" >&2; die "peer exit status $rc"; }
# Changes made while stalled collapse: the initial N, what the socket buffers
# held of change 1, then each prefix once more; without coalescing it would
# be N per change.
ann=$(grep -o ' announcements=[0-9]*' <<<"$res" | cut -d= -f2)
((ann <= 2 * N + N / 5)) || die "peer received $ann announcements; changes did not collapse (limit $((2 * N + N / 5)))"
log "ok: peer has exactly the final $((N - N / 10)) routes after $ann announcements"
log "PASS"
