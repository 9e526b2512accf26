#!/usr/bin/env bash
# oxlb-speaker in L2 mode on three nodes (e2e/lib/l2topo.sh), config
# e2e/configs/l2/answer: who answers ARP and NDP for which VIP.
#   * every node's /status names the same winner per VIP, the one MetalLB's
#     order (sha256(node + "#" + ip), recomputed here) puts first, and the
#     client's arping (IPv4) / ndisc6 (IPv6) gets that node's eth0 MAC;
#   * `interfaces: [eth0]`: nothing is answered on eth1 (a second client on
#     segment B), while a pool whose L2Advertisement names no interface is
#     answered there with the winner's eth1 MAC (the control);
#   * the BGP-only pool's VIPs are never answered (v4 and v6, both segments);
#   * nodeSelectors (n2, n3) for a VIP whose first node by hash is n1: n2
#     answers, and after n2 crashes n3 does; n1 never sends a reply for it;
#   * the counters move: requests/responses/gratuitous per ip, the announcer gauge.
set -euo pipefail
E2E_TEST_NAME=33-l2-answer
source "$(dirname "$0")/../lib/l2speaker.sh"
cfg=$L2SP_CONFIGS/answer
_speaker_ensure_bin
"$SPEAKER_BIN" check --config "$cfg" --node-name n1 --output json >"$E2E_TMP/check.json" \
  || die "check failed on $cfg"
[[ $(jq '.errors | length' "$E2E_TMP/check.json") == 0 ]] || die "check reports errors: $(cat "$E2E_TMP/check.json")"

# first_by_hash IP NODE...: MetalLB's order, computed independently of oxlb.
first_by_hash() {
  python3 -c 'import hashlib, sys
ip = sys.argv[1]
print(min(sys.argv[2:], key=lambda n: hashlib.sha256(f"{n}#{ip}".encode()).digest()))' "$@"
}
[[ $(first_by_hash 192.0.2.105 n1 n2 n3) == n1 ]] || die "fixture: 192.0.2.105 must sort n1 first (the selector test relies on it)"

b=$(jq -c '[.l2[] | select(.ip == "192.0.2.120" or .ip == "2001:db8:1::120")]' "$E2E_TMP/check.json") \
  || die "check --output json has no l2 plan: $(cat "$E2E_TMP/check.json")"
[[ $b == '[]' ]] || die "check plans L2 for the BGP-only pool: $b"

l2_topo_create
# a second client on segment B: sees what the nodes answer on eth1
ns_create cb
_l2_plug swb cb eth0 pcb 198.51.100.200/24,2001:db8:2::200/64 02:00:00:00:0b:c8
L2SP_CLIENT_SRC[cb]=198.51.100.200
for n in "${L2_NODES[@]}"; do l2sp_start "$n" "$n" "$cfg" --ml-members "$(l2sp_members)"; done

# --- the election: the same winner on every node, the hash's first.
declare -A WIN=()
for ip in 192.0.2.100 192.0.2.101 2001:db8:1::100 198.51.100.100; do
  want=$(first_by_hash "$ip" n1 n2 n3)
  wait_until 15 l2sp_agree "$ip" n1 n2 n3 >/dev/null \
    || { for n in n1 n2 n3; do speaker_dump "sp-$n"; done; die "$ip: the nodes do not agree on a winner"; }
  got=$(l2sp_agree "$ip" n1 n2 n3) || die "$ip: agreement lost"
  [[ $got == "$want" ]] || die "$ip: the nodes elect $got, MetalLB's order elects $want"
  c=$(jq -r --arg ip "$ip" '[.l2[] | select(.ip == $ip) | .winner] | join(",")' "$E2E_TMP/check.json") \
    || die "check --output json has no l2 plan for $ip"
  [[ $c == "$got" ]] || die "$ip: check's plan names winner '$c', the running nodes $got"
  WIN[$ip]=$got
  log "ok: $ip elected $got on n1, n2, n3"
done
want=$(first_by_hash 192.0.2.105 n2 n3)
wait_until 15 l2sp_agree 192.0.2.105 n1 n2 n3 >/dev/null || die "192.0.2.105: the nodes do not agree"
got=$(l2sp_agree 192.0.2.105 n1 n2 n3) || die "192.0.2.105: agreement lost"
[[ $got == "$want" ]] || die "192.0.2.105 (nodeSelectors n2, n3): elected $got, want $want"
for n in n1 n2 n3; do
  c=$(l2sp_vip "$n" 192.0.2.105 '.candidates | sort | join(",")') || die "$n: /status has no 192.0.2.105"
  [[ $c == '"n2,n3"' ]] || speaker_die "sp-$n" "$n: candidates for 192.0.2.105 are $c, want n2,n3"
done
log "ok: 192.0.2.105 candidates n2,n3 on every node (n1 excluded by nodeSelectors), winner $got"

# --- arping / ndisc6 from the client on segment A
expect_macs() { # IP MAC [NS] [IF]: every reply to 3 requests comes from MAC
  local macs; macs=$(l2_arping_macs "$1" "${3:-cl}" "${4:-eth0}")
  [[ -n $macs ]] || die "arping $1 from ${3:-cl}: no reply (want $2)"
  [[ $(sort -u <<<"$macs") == "$2" ]] || die "arping $1 from ${3:-cl}: replies from $(sort -u <<<"$macs" | tr '\n' ' '), want only $2"
}
for ip in 192.0.2.100 192.0.2.101 198.51.100.100; do
  expect_macs "$ip" "$(l2_node_mac "${WIN[$ip]}" a)"
done
expect_macs 192.0.2.105 "$(l2_node_mac "$want" a)"
got6=""
for _ in 1 2 3; do got6=$(l2_ndisc_mac 2001:db8:1::100); [[ -n $got6 ]] && break; done
[[ $got6 == "$(l2_node_mac "${WIN[2001:db8:1::100]}" a)" ]] \
  || die "ndisc6 2001:db8:1::100: got '$got6', want ${WIN[2001:db8:1::100]}'s eth0 MAC"
log "ok: arping and ndisc6 on segment A get the elected node's eth0 MAC"

# --- segment B: interfaces: [eth0] excludes eth1; the no-interfaces pool is the control
expect_macs 198.51.100.100 "$(l2_node_mac "${WIN[198.51.100.100]}" b)" cb
for ip in 192.0.2.100 192.0.2.101 192.0.2.105; do
  l2_arping_times_out "$ip" cb || die "arping $ip from segment B was answered (or failed); interfaces: [eth0] excludes eth1"
done
l2_ndisc_times_out 2001:db8:1::100 cb || die "ndisc6 2001:db8:1::100 from segment B was answered (or failed)"
log "ok: eth1 answers only the pool without interfaces: (winner's eth1 MAC), never the eth0-only pools"

# --- the BGP-only pool: never answered
for c in cl cb; do
  l2_arping_times_out 192.0.2.120 "$c" || die "arping 192.0.2.120 (BGP-only pool) from $c was answered (or failed)"
  l2_ndisc_times_out 2001:db8:1::120 "$c" || die "ndisc6 2001:db8:1::120 (BGP-only pool) from $c was answered (or failed)"
done
log "ok: the BGP-only pool's VIPs are never answered"

# --- counters: metric NS NAME IP [NODE]: the value of NAME{ip=IP[,node=NODE]} ("" if absent)
metric() {
  local mt; mt=$(speaker_metrics "sp-$1") || return 2
  awk -v n="$2" -v ip="ip=\"$3\"" -v node="${4:+node=\"$4\"}" '
    index($0, n "{") == 1 && index($0, ip) && (node == "" || index($0, node)) { print $NF; exit }' <<<"$mt"
}
w=${WIN[192.0.2.100]}
r0=$(metric "$w" metallb_layer2_responses_sent 192.0.2.100) || die "$w: /metrics does not answer"
q0=$(metric "$w" metallb_layer2_requests_received 192.0.2.100)
expect_macs 192.0.2.100 "$(l2_node_mac "$w" a)"
r1=$(metric "$w" metallb_layer2_responses_sent 192.0.2.100)
q1=$(metric "$w" metallb_layer2_requests_received 192.0.2.100)
g=$(metric "$w" metallb_layer2_gratuitous_sent 192.0.2.100)
a=$(metric "$w" oxlb_layer2_announcer 192.0.2.100 "$w")
[[ -n $r0 && -n $r1 && -n $q0 && -n $q1 && -n $g && -n $a ]] \
  || speaker_die "sp-$w" "$w: L2 series missing: responses '$r0'/'$r1' requests '$q0'/'$q1' gratuitous '$g' announcer '$a'"
python3 -c 'import sys; r0, r1, q0, q1, g, a = map(float, sys.argv[1:]); sys.exit(not (r1 - r0 >= 3 and q1 - q0 >= 3 and g >= 1 and a == 1))' \
  "$r0" "$r1" "$q0" "$q1" "$g" "$a" \
  || speaker_die "sp-$w" "$w: counters for 192.0.2.100: responses $r0 -> $r1, requests $q0 -> $q1 (want +3 each), gratuitous $g (want >= 1), announcer $a (want 1)"
for n in n1 n2 n3; do
  [[ $n == "$w" ]] && continue
  v=$(metric "$n" metallb_layer2_responses_sent 192.0.2.100) || die "$n: /metrics does not answer"
  [[ -z $v || $v == 0 ]] || speaker_die "sp-$n" "$n is not the winner of 192.0.2.100 but sent $v responses"
done
on=$(l2sp_vip "$w" 192.0.2.100 '.announcing_on | sort | join(",")') || die "$w: no 192.0.2.100 in /status"
[[ $on == '"eth0"' ]] || speaker_die "sp-$w" "$w announces 192.0.2.100 on $on, want eth0 only"
on=$(l2sp_vip "${WIN[198.51.100.100]}" 198.51.100.100 '.announcing_on | sort | join(",")') || die "no 198.51.100.100 in /status"
[[ $on == '"eth0,eth1"' ]] || die "${WIN[198.51.100.100]} announces 198.51.100.100 on $on, want eth0,eth1"
log "ok: $w: responses $r0 -> $r1, requests $q0 -> $q1, gratuitous $g, announcer 1; the others sent none"

# --- nodeSelectors: with n2 gone, n3 (not n1, although n1 sorts first) answers 192.0.2.105
l2sp_crash n2
wait_until 10 eval '[[ $(l2sp_agree 192.0.2.105 n1 n3) == n3 ]]' || die "192.0.2.105 did not move to n3 after n2 crashed"
wait_until 10 eval '[[ $(l2_arping_mac 192.0.2.105) == "$(l2_node_mac n3 a)" ]]' || die "arping 192.0.2.105 does not get n3 after n2 crashed"
expect_macs 192.0.2.105 "$(l2_node_mac n3 a)"
v=$(metric n1 metallb_layer2_responses_sent 192.0.2.105) || die "n1: /metrics does not answer"
[[ -z $v || $v == 0 ]] || die "n1 (excluded by nodeSelectors) sent $v responses for 192.0.2.105"
log "ok: after n2 crashed 192.0.2.105 went to n3; n1 never answered it"
for n in n1 n3; do speaker_stop "sp-$n"; done
log "PASS"
