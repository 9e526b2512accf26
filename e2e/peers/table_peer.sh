# shellcheck shell=bash
# e2e/peers/table_peer.sh - helpers for the raw table peer (table_peer.py) used
# by the bounded-buffer tests. Source after lib/netns.sh.
#
#   table_routes N K [DROP]   N routes 198.18.0.0 + i (/32, from the bulk
#                             range 198.18.0.0/15), each with its own large
#                             community 64512:K:i (so every route is its own
#                             attribute set: one UPDATE per route, the worst
#                             case for queued bytes); DROP>0 leaves out every
#                             DROP-th route; K "-": no attributes (all
#                             routes share one set: full 4 kB UPDATEs)
#   table_peer_start NS MODE ARGS...   spawn table_peer.py in NS; its PID is
#                             in $TABLE_PEER_PID, its output in $E2E_TMP/peer.log
#   table_peer_done T         wait up to T s for its RESULT (DIR/done); prints it
#   table_peer_wait T         touch DIR/finish, wait up to T s for it to exit;
#                             its exit status

[[ -n ${_E2E_TABLE_PEER_SOURCED:-} ]] && return 0
_E2E_TABLE_PEER_SOURCED=1

TABLE_PEER_PY="$E2E_LIB_DIR/../peers/table_peer.py"
TABLE_PEER_DIR="$E2E_TMP/peer"
mkdir -p "$TABLE_PEER_DIR"

table_routes() {
  awk -v n="$1" -v k="$2" -v drop="${3:-0}" 'BEGIN {
    for (i = 0; i < n; i++) {
      if (drop > 0 && i % drop == 0) continue
      printf "198.%d.%d.%d/32", 18 + int(i / 65536), int(i / 256) % 256, i % 256
      if (k == "-") printf "\n"; else printf " large=64512:%d:%d\n", k, i
    }
  }'
}

table_peer_start() {
  local ns=$1 mode=$2; shift 2
  spawn "$ns" "$E2E_TMP/peer.log" python3 -u "$TABLE_PEER_PY" "$mode" --dir "$TABLE_PEER_DIR" "$@"
  TABLE_PEER_PID=$E2E_LAST_PID
}

# table_peer_done T: waits for the peer's RESULT line and prints it.
table_peer_done() {
  wait_until "$1" test -s "$TABLE_PEER_DIR/done" \
    || { cat "$E2E_TMP/peer.log" >&2; return 1; }
  grep '^RESULT ' "$E2E_TMP/peer.log"
}

# table_peer_wait T: the peer's exit status (124 if still running after T s).
table_peer_wait() {
  local t=$1 rc=0
  touch "$TABLE_PEER_DIR/finish"
  wait_until "$t" eval "! kill -0 $TABLE_PEER_PID" || return 124
  wait "$TABLE_PEER_PID" || rc=$?
  return "$rc"
}
