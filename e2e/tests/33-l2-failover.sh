#!/usr/bin/env bash
# e2e: serial (L2 failover timing)
# oxlb-speaker L2 failover on three nodes (e2e/lib/l2topo.sh), one dual-stack
# VIP (e2e/configs/l2/failover: 192.0.2.100 + 2001:db8:1::100), fencing by
# majority (the default). The client probes both every 10 ms (l2probe.py) and
# captures ARP and ICMPv6 with tcpdump. Three failures of the announcer:
#   kill       SIGKILL of its speaker: another node's MAC answers v4 and v6,
#              and tcpdump saw that node's gratuitous ARP and unsolicited NA;
#   link       its eth0 goes down: the VIP moves (same checks);
#   partition  its UDP+TCP 7946 dropped (nftables, 1 vs 2): it reports itself
#              fenced and stops answering, the two others elect a new
#              announcer, and no probe round ever sees two MACs (splitbrain),
#              nor the old MAC after the new one.
# After each, the node is restored and the three agree again.
set -euo pipefail
E2E_TEST_NAME=33-l2-failover
source "$(dirname "$0")/../lib/l2speaker.sh"
require tcpdump nft
cfg=$L2SP_CONFIGS/failover
V4=$L2_VIP4
V6=$L2_VIP6

l2_topo_create
spawn cl "$E2E_TMP/tcpdump.log" tcpdump -i eth0 -n -U -w "$E2E_TMP/cl.pcap" 'arp or icmp6'
wait_until 10 grep -q 'listening on' "$E2E_TMP/tcpdump.log" || die "tcpdump did not start in cl"
start_node() { l2sp_start "$1" "$1" "$cfg" --ml-members "$(l2sp_members)"; }
for n in "${L2_NODES[@]}"; do start_node "$n"; done

# settled: all three agree on the winner of V4 and V6 (the same node: one
# election per Service), and arping gets its MAC. Prints the winner.
settled() {
  local w w6; w=$(l2sp_agree "$V4" "${L2_NODES[@]}") || return 1
  w6=$(l2sp_agree "$V6" "${L2_NODES[@]}") || return 1
  [[ $w == "$w6" ]] || return 1
  [[ $(l2_arping_mac "$V4") == "$(l2_node_mac "$w" a)" ]] || return 1
  printf '%s\n' "$w"
}
settle() {
  wait_until 20 eval 'settled >/dev/null' \
    || { for n in "${L2_NODES[@]}"; do speaker_dump "sp-$n"; done; die "$1: the three nodes do not settle on one winner"; }
  settled
}

# pcap_has TRIGGER REGEX: a captured frame after TRIGGER (epoch s) matches REGEX.
pcap_has() {
  local out; out=$(tcpdump -r "$E2E_TMP/cl.pcap" -n -e -tt 2>/dev/null) || return 2
  # (the regex through the environment: awk -v would eat its backslashes)
  RE=$2 awk -v t="$1" '$1 + 0 > t + 0 && $0 ~ ENVIRON["RE"] { f = 1 } END { exit !f }' <<<"$out"
}
failover_seen() { python3 "$L2_PROBE" failover --log "$1" --trigger "$2" --old-mac "$3" --ip "$4" >/dev/null; }

# phase NAME CAUSE: the winner W fails by CAUSE W; checks the move; leaves W failed.
phase() {
  local name=$1 cause=$2 w old plog trigger probe res6 res new nw
  w=$(settle "before $name")
  old=$(l2_node_mac "$w" a)
  plog="$E2E_TMP/probe-$name.jsonl"
  l2_probe_start "$plog" --vip4 "$V4" --vip6 "$V6"
  probe=$E2E_LAST_PID
  wait_until 5 grep -qE "\"kind\": \"reply\", .*\"mac\": \"$old\"" "$plog" || die "$name: $w ($old) does not answer the probe"
  trigger=$(l2_now)
  "$cause" "$w"
  wait_until 10 failover_seen "$plog" "$trigger" "$old" "$V4" \
    || { for n in "${L2_NODES[@]}"; do speaker_dump "sp-$n" 2>/dev/null || true; done; die "$name: no other MAC answered $V4 within 10 s"; }
  wait_until 5 failover_seen "$plog" "$trigger" "$old" "$V6" || die "$name: no other MAC answered $V6 within 5 s"
  sleep 1 # keep probing: the old MAC must stay silent
  l2_probe_stop "$probe"
  res=$(python3 "$L2_PROBE" failover --log "$plog" --trigger "$trigger" --old-mac "$old" --ip "$V4") || die "$name: failover analysis failed"
  res6=$(python3 "$L2_PROBE" failover --log "$plog" --trigger "$trigger" --old-mac "$old" --ip "$V6") || die "$name: v6 failover analysis failed"
  new=$(jq -r .new_mac <<<"$res")
  [[ $(jq -r .new_mac <<<"$res6") == "$new" ]] || die "$name: v4 moved to $new, v6 to $(jq -r .new_mac <<<"$res6")"
  nw=""
  for n in "${L2_NODES[@]}"; do [[ $(l2_node_mac "$n" a) == "$new" ]] && nw=$n; done
  [[ -n $nw && $nw != "$w" ]] || die "$name: the new MAC $new is no node's eth0"
  local others=()
  for n in "${L2_NODES[@]}"; do [[ $n == "$w" ]] || others+=("$n"); done
  [[ $(l2sp_agree "$V4" "${others[@]}") == "$nw" ]] || die "$name: ${others[*]} do not both name $nw, the node that answers"
  jq -e '.old_replies_after_new == 0' <<<"$res" >/dev/null || die "$name: the old owner $w answered after $nw did: $res"
  jq -e '.old_replies_after_new == 0' <<<"$res6" >/dev/null || die "$name: the old owner $w answered v6 after $nw did: $res6"
  python3 "$L2_PROBE" splitbrain --log "$plog" --from "$trigger" >"$E2E_TMP/split-$name.txt" 2>&1 \
    || die "$name: two MACs answered in one probe round: $(head -n 5 "$E2E_TMP/split-$name.txt")"
  wait_until 5 pcap_has "$trigger" "^[0-9.]+ $new > ff:ff:ff:ff:ff:ff, .*ARP.*Request who-has ${V4//./\\.}( \\([0-9a-f:]+\\))? tell ${V4//./\\.}," \
    || die "$name: tcpdump saw no gratuitous ARP request for $V4 from $nw ($new)"
  wait_until 5 pcap_has "$trigger" "^[0-9.]+ $new > ff:ff:ff:ff:ff:ff, .*ARP.*Reply ${V4//./\\.} is-at $new," \
    || die "$name: tcpdump saw no gratuitous ARP reply for $V4 from $nw ($new)"
  wait_until 5 pcap_has "$trigger" "^[0-9.]+ $new > 33:33:00:00:00:01, .*neighbor advertisement, tgt is $V6," \
    || die "$name: tcpdump saw no unsolicited NA for $V6 from $nw ($new) to ff02::1"
  log "ok: $name of $w: $nw answers after $(jq -r '.gap_ms|floor' <<<"$res") ms (v4), $(jq -r '.gap_ms|floor' <<<"$res6") ms (v6); GARP + NA captured; no split round"
  PHASE_OLD=$w
}

# --- kill
phase kill l2sp_crash
start_node "$PHASE_OLD"
# --- link down
phase link l2_link_down
l2_link_up "$PHASE_OLD"
# --- partition: the fenced node must say so and stay silent while fenced
fence() {
  l2_membership_drop "$1"
  wait_until 5 l2sp_fenced "$1" || speaker_die "sp-$1" "$1 is cut off from both peers but does not report itself fenced"
}
phase partition fence
w=$PHASE_OLD
((${#w} > 0)) || die "no partitioned node"
l2sp_fenced "$w" || speaker_die "sp-$w" "$w stopped reporting fenced while still cut off"
on=$(l2sp_vip "$w" "$V4" '.announcing_on | length') || die "$w: no $V4 in /status"
[[ $on == 0 ]] || speaker_die "sp-$w" "$w is fenced but announces $V4 on $on interfaces"
dropped=$(l2_membership_dropped_count "$w")
((dropped > 0)) || die "the fence in $w dropped nothing (membership traffic never tried 7946?)"
l2_membership_allow "$w"
unfenced() { local rc=0; l2sp_fenced "$1" || rc=$?; ((rc == 1)); }
wait_until 10 unfenced "$w" || speaker_die "sp-$w" "$w still fenced 10 s after the partition healed"
settle "after the partition" >/dev/null
log "ok: the partition healed ($dropped packets dropped while fenced), $w unfenced, one winner again"
for n in "${L2_NODES[@]}"; do speaker_stop "sp-$n"; done
log "PASS"
