# shellcheck shell=bash
# e2e/lib/bfd.sh - helpers for the BFD tests (50-bfd-*). Source after
# lib/daemons.sh and peers/speaker.sh.
#
#   bfd_config DIR PEER TX RX MULT [MULTIHOP]  the speaker config (configs/bfd/) in DIR
#   bird_bfd NAME ADDR        BIRD's `show bfd sessions` line for ADDR (fails if absent / no answer)
#   bird_bfd_up NAME ADDR     that line says Up
#   bird_bfd_has NAME ADDR RE that line matches the regex RE
#   speaker_bfd NAME JQ       field of the speaker's one /status bfd session
#   speaker_bgp_state NAME PEER  the /status BGP state of PEER (fails if unreadable,
#                             the speaker is dead or PEER is not in /status)
#   speaker_not_established NAME PEER  that state read and is not Established
#   bfd_drop NS / bfd_allow NS  nftables in NS dropping / passing BFD (UDP 3784, 4784) out
#   frr_bfd_start NAME NS < frr.conf   zebra + bgpd + bfdd (the frr user), vtysh in $E2E_TMP/NAME
#   frr_vtysh NAME CMD...     vtysh -c CMD... against that FRR
#   frr_bfd_peer NAME ADDR JQ  field of `show bfd peers json` for ADDR

[[ -n ${_E2E_BFD_SOURCED:-} ]] && return 0
_E2E_BFD_SOURCED=1

bfd_config() {
  local dir=$1 peer=$2 tx=$3 rx=$4 mult=$5 mh=${6:-false}
  mkdir -p "$dir"
  cp "$E2E_LIB_DIR/../configs/bfd/00-pool.yaml" "$dir/"
  sed -e "s/@PEER@/$peer/" -e "s/@TX@/$tx/" -e "s/@RX@/$rx/" -e "s/@MULT@/$mult/" \
    -e "s/@MULTIHOP@/$mh/" "$E2E_LIB_DIR/../configs/bfd/10-peer.yaml.in" >"$dir/10-peer.yaml.tmp"
  mv "$dir/10-peer.yaml.tmp" "$dir/10-peer.yaml"
}

bird_bfd() {
  local out; out=$(bird_cmd "$1" show bfd sessions) || return 2
  awk -v a="$2" '$1 == a' <<<"$out" | grep .
}
bird_bfd_up() { bird_bfd_has "$1" "$2" ' Up '; }
# bird_bfd_has NAME ADDR REGEX: BIRD's line for ADDR matches REGEX (no grep -q
# on a pipe: under pipefail an early exit could read as a failed query).
bird_bfd_has() { local l; l=$(bird_bfd "$1" "$2") && [[ $l =~ $3 ]]; }

speaker_bfd() {
  local st; st=$(speaker_status "$1") || return 2
  jq -er ".bfd.sessions[0] | $2" <<<"$st"
}

speaker_bgp_state() {
  local s
  daemon_alive "$1" || return 2
  s=$(speaker_session "$1" "$2" .state) || return 2
  [[ -n $s && $s != null ]] || return 2
  printf '%s\n' "$s"
}
# A failed query is never "down": it returns 2, so a wait for "not
# Established" keeps waiting and times out.
speaker_not_established() { local s; s=$(speaker_bgp_state "$1" "$2") && [[ $s != Established ]]; }

bfd_drop() {
  nsx "$1" nft -f - <<'NFT'
table inet oxlb_bfd_drop {
  chain out { type filter hook output priority 0; udp dport { 3784, 4784 } counter drop; }
}
NFT
}
bfd_allow() { nsx "$1" nft delete table inet oxlb_bfd_drop; }

frr_bfd_start() {
  local name=$1 ns=$2 d
  require /usr/lib/frr/zebra /usr/lib/frr/bgpd /usr/lib/frr/bfdd vtysh jq
  d=$(daemon_dir "$name")
  # zebra and bfdd drop to the frr user (vty group frrvty): it must reach the state dir.
  chmod 711 "$E2E_TMP"; chmod 777 "$d"
  cat >"$d/frr.conf"; chmod 644 "$d/frr.conf"
  spawn "$ns" "$d/zebra.log" /usr/lib/frr/zebra -u frr -g frr -i "$d/zebra.pid" \
    --vty_socket "$d" -z "$d/zserv" -A 127.0.0.1 -P 0 --log stdout -f /dev/null
  wait_until 10 test -S "$d/zserv" || { cat "$d/zebra.log" >&2; die "$name: zebra did not start"; }
  spawn "$ns" "$d/bfdd.log" /usr/lib/frr/bfdd -u frr -g frr -i "$d/bfdd.pid" \
    --vty_socket "$d" -z "$d/zserv" -A 127.0.0.1 -P 0 --log stdout -f /dev/null --bfdctl "$d/bfdd.sock"
  spawn "$ns" "$d/log" /usr/lib/frr/bgpd -u frr -g frr -i "$d/bgpd.pid" \
    --vty_socket "$d" -z "$d/zserv" -A 127.0.0.1 -P 0 --log stdout -f /dev/null
  _daemon_started "$name" "$ns" "$E2E_LAST_PID"
  wait_until 10 vtysh --vty_socket "$d" -d bgpd -c 'show bgp summary' >/dev/null 2>&1 \
    || { cat "$d/log" >&2; die "$name: bgpd does not answer"; }
  wait_until 10 vtysh --vty_socket "$d" -d bfdd -c 'show bfd peers' >/dev/null 2>&1 \
    || { cat "$d/bfdd.log" >&2; die "$name: bfdd does not answer"; }
  # One file for both daemons: vtysh sends each line to the daemon that owns it.
  vtysh --vty_socket "$d" -f "$d/frr.conf" >"$d/apply.log" 2>&1 \
    || { cat "$d/apply.log" >&2; die "$name: config not applied"; }
}
frr_vtysh() {
  local n=$1; shift
  local args=() c
  for c in "$@"; do args+=(-c "$c"); done
  vtysh --vty_socket "$E2E_TMP/$n" "${args[@]}"
}
frr_bfd_peer() {
  local out; out=$(frr_vtysh "$1" 'show bfd peers json') || return 2
  jq -er --arg a "$2" "[.[] | select(.peer == \$a)][0] | $3" <<<"$out"
}
