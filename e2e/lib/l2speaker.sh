# shellcheck shell=bash
# e2e/lib/l2speaker.sh - oxlb-speaker in L2 mode on the issue-10 topology
# (sources daemons.sh, l2topo.sh and peers/speaker.sh).
#
#   l2sp_start NS NODE CFG [ARGS...]   speaker "sp-NS" in namespace NS as node NODE,
#                                      membership on NS's eth0:7946 with the test's key
#                                      ($L2SP_KEY), state file $E2E_TMP/state-NS.json
#   l2sp_pid NS                        its PID
#   l2sp_crash NS                      SIGKILL it (l2_sigkill: a crash, no leave)
#   l2sp_vip NS IP [JQ]                /status .l2 entry for IP (or a field of it)
#   l2sp_winner NS IP                  the winner NS reports for IP ("" = none); fails if no answer
#   l2sp_agree IP NS...                true if every NS names the same non-empty winner; prints it
#   l2sp_fenced NS                     true if NS reports itself fenced
#   l2_arping_macs IP [NS] [IF]        the MACs of the replies to 3 ARP requests (one a line)
#   l2_arping_mac IP [NS] [IF]         the first one ("" if none)
#   l2_arping_times_out IP [NS] [IF]   arping ran, sent, and got no reply (2 on odd errors)
#   l2_ndisc_mac IP [NS] [IF]          the MAC of the first NA for IP ("" if none)
#   l2_ndisc_times_out IP [NS] [IF]    ndisc6 ran and got no NA (2 on odd errors)
#
# The /status shape is the L2 runtime's NodeStatus: `.l2.vips[]` with ip,
# winner, candidates, reason, announcing_on; `.l2.members`; `.l2.fenced`
# (null or why).

[[ -n ${_E2E_L2SPEAKER_SOURCED:-} ]] && return 0
_E2E_L2SPEAKER_SOURCED=1
source "$(dirname "${BASH_SOURCE[0]}")/daemons.sh"
source "$(dirname "${BASH_SOURCE[0]}")/l2topo.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../peers/speaker.sh"
require arping ndisc6 jq curl python3

L2SP_CONFIGS="$E2E_LIB_DIR/../configs/l2"
L2SP_KEY="$E2E_TMP/memberlist.key"
# a fresh shared key per run (the membership's Secret)
python3 -c 'import os; print(os.urandom(32).hex())' >"$L2SP_KEY"
# n1=192.0.2.11,... ; L2SP_NAMES maps namespace -> node name (default: the same)
declare -A L2SP_NAMES=()
l2sp_members() {
  local n out=()
  for n in "${L2_NODES[@]}"; do out+=("${L2SP_NAMES[$n]:-$n}=$(l2_node_ip4 "$n")"); done
  local IFS=,; printf '%s' "${out[*]}"
}

l2sp_start() {
  local ns=$1 node=$2 cfg=$3; shift 3
  speaker_start "sp-$ns" "$ns" "$cfg" "$node" --state-file "$E2E_TMP/state-$ns.json" \
    --ml-bind-addr "$(l2_node_ip4 "$ns"):7946" --ml-secret-file "$L2SP_KEY" "$@"
}
l2sp_pid() { daemon_pid "sp-$1"; }
l2sp_crash() {
  local pid; pid=$(l2sp_pid "$1") || die "no speaker in $1"
  l2_sigkill "$pid"
}

l2sp_vip() {
  local st; st=$(speaker_status "sp-$1") || return 2
  jq -ce --arg ip "$2" "[.l2.vips[] | select(.ip == \$ip)] | if length == 1 then .[0] | ${3:-.} else error(\"\(length) entries for \" + \$ip) end" <<<"$st"
}
l2sp_winner() {
  local w; w=$(l2sp_vip "$1" "$2" '.winner // ""') || return 2
  jq -r . <<<"$w"
}
l2sp_agree() {
  local ip=$1 ns w first=""; shift
  for ns in "$@"; do
    w=$(l2sp_winner "$ns" "$ip") || return 2
    [[ -n $w ]] || return 1
    [[ -z $first ]] && first=$w
    [[ $w == "$first" ]] || return 1
  done
  printf '%s\n' "$first"
}
l2sp_fenced() {
  local st; st=$(speaker_status "sp-$1") || return 2
  jq -e '(.l2.fenced // false) != false' <<<"$st" >/dev/null
}

# arping from a client namespace (default cl, eth0); -S: the seed's
# addresses are off the client's subnet, so the source is set explicitly.
_l2_arping() { # IP NS IF COUNT WAIT
  local src=$L2_CLIENT_IP4
  [[ $2 != cl ]] && src=${L2SP_CLIENT_SRC[$2]:?no source address for client $2}
  nsx "$2" arping -S "$src" -c "$4" -w "$5" -i "$3" "$1" 2>&1
}
declare -A L2SP_CLIENT_SRC=()
l2_arping_macs() {
  local out; out=$(_l2_arping "$1" "${2:-cl}" "${3:-eth0}" 3 3) || true
  sed -nE 's/^[0-9]+ bytes from ([0-9a-f:]{17}) .*/\1/p' <<<"$out"
}
l2_arping_mac() { local m; m=$(l2_arping_macs "$@"); printf '%s\n' "${m%%$'\n'*}"; }
l2_arping_times_out() {
  local out rc=0
  out=$(_l2_arping "$1" "${2:-cl}" "${3:-eth0}" 2 1) || rc=$?
  [[ $out == *"bytes from"* ]] && return 1
  ((rc == 1)) || { log "arping $1: unexpected exit $rc: $out"; return 2; }
  return 0
}
l2_ndisc_mac() {
  local out; out=$(nsx "${2:-cl}" ndisc6 -1 -r 3 -w 500 "$1" "${3:-eth0}" 2>/dev/null) || true
  sed -nE '0,/[Ll]ink-layer address/s/.*[Ll]ink-layer address: *([0-9A-Fa-f:]{17}).*/\1/p' <<<"$out" | tr 'A-F' 'a-f'
}
l2_ndisc_times_out() {
  local out rc=0
  out=$(nsx "${2:-cl}" ndisc6 -1 -r 2 -w 500 "$1" "${3:-eth0}" 2>&1) || rc=$?
  [[ $out == *[Ll]ink-layer* ]] && return 1
  ((rc == 2)) || { log "ndisc6 $1: unexpected exit $rc: $out"; return 2; }
  return 0
}
