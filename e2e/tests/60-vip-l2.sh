#!/usr/bin/env bash
# e2e: serial (client-visible failover gap)
# Issue 14, L2 mode: traffic through a VIP announced by ARP/NDP, failover,
# and ARP flux, on the L2 topology (e2e/lib/l2topo.sh: n1..n3 with eth0 on
# segment A and eth1 on segment B; the client cl on A) plus a second client
# clb on segment B. The VIPs 192.0.2.100 and 2001:db8:1::100 are advertised
# on eth0 (e2e/configs/l2/failover). n1, n2 bind with --bind-vips dummy
# (oxlb0), n3 with --bind-vips lo. The nodes start with arp_ignore=0 and
# arp_announce=0 everywhere (Linux's default, which l2topo raises; reset
# here), so what prevents ARP flux is what oxlb sets. Asserted:
# * every candidate binds both VIPs, and oxlb set arp_ignore=1,
#   arp_announce=2 on eth0 and eth1 of each node;
# * on segment B, where no responder runs, ARP for the VIP gets no answer
#   from any of the three kernels (nor NS for the IPv6 VIP); the check is
#   shown to see an answer when one node's eth1 goes back to arp_ignore=0;
# * on segment A every ARP reply is the winner's MAC (no kernel answers);
# * HTTP from cl to both VIPs reaches the winner's server;
# * a request loop from cl (IPv4 and IPv6) runs while the winner's speaker
#   is killed (SIGKILL), and again while the winner's switch port goes down
#   (node loss): requests resume on the new winner (gaps logged); the killed
#   speaker restarts with its VIPs bound once;
# * SIGTERM of the others removes their VIPs.
set -euo pipefail
E2E_TEST_NAME=60-vip-l2
source "$(dirname "$0")/../lib/l2speaker.sh"
source "$(dirname "$0")/../lib/vip.sh"
cfg=$L2SP_CONFIGS/failover
V4=$L2_VIP4
V6=$L2_VIP6

l2_topo_create
ns_create clb
_l2_plug swb clb eth0 pclb "198.51.100.200/24,2001:db8:2::200/64" 02:00:00:00:0b:c8
# shellcheck disable=SC2154 # an associative array (l2speaker.sh)
L2SP_CLIENT_SRC[clb]=198.51.100.200
for n in "${L2_NODES[@]}"; do
  nsx "$n" sysctl -qw net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.all.arp_announce=0 \
    net.ipv4.conf.eth0.arp_ignore=0 net.ipv4.conf.eth1.arp_ignore=0 \
    net.ipv4.conf.eth0.arp_announce=0 net.ipv4.conf.eth1.arp_announce=0 >/dev/null
done
vip_prepare_oxlb0 n1; vip_prepare_oxlb0 n2
declare -A MODE=([n1]=dummy [n2]=dummy [n3]=lo)
declare -A BIND_IF=([n1]=oxlb0 [n2]=oxlb0 [n3]=lo)
start_node() { l2sp_start "$1" "$1" "$cfg" --ml-members "$(l2sp_members)" --bind-vips "${MODE[$1]}"; }
for n in "${L2_NODES[@]}"; do start_node "$n"; done

for n in "${L2_NODES[@]}"; do
  for ip in $V4 $V6; do
    wait_until 10 vip_bound "$n" "${BIND_IF[$n]}" "$ip" || { vip_addrs "$n" >&2; speaker_die "sp-$n" "$n: $ip not bound on ${BIND_IF[$n]}"; }
  done
  for i in eth0 eth1; do
    ig=$(nsx "$n" cat "/proc/sys/net/ipv4/conf/$i/arp_ignore") || die "$n: read arp_ignore"
    an=$(nsx "$n" cat "/proc/sys/net/ipv4/conf/$i/arp_announce") || die "$n: read arp_announce"
    [[ $ig == 1 && $an == 2 ]] || die "$n $i: arp_ignore=$ig arp_announce=$an, want 1 and 2 (set by oxlb)"
  done
done
log "ok: every node binds $V4 and $V6 (n1, n2 on oxlb0, n3 on lo); oxlb set arp_ignore=1 arp_announce=2 on eth0, eth1"

w=$(wait_until 20 eval 'l2sp_agree "$V4" "${L2_NODES[@]}" >/dev/null' && l2sp_agree "$V4" "${L2_NODES[@]}") \
  || { for n in "${L2_NODES[@]}"; do speaker_dump "sp-$n"; done; die "no agreed winner for $V4"; }
log "winner: $w"

# ARP flux, segment B: the VIP is local on all three nodes, and nobody answers there.
rc=0; l2_arping_times_out "$V4" clb eth0 || rc=$?
((rc == 0)) || die "segment B: ARP for $V4 got an answer (rc=$rc): a kernel answers for the bound VIP on eth1"
rc=0; l2_ndisc_times_out "$V6" clb eth0 || rc=$?
((rc == 0)) || die "segment B: NS for $V6 got an answer (rc=$rc)"
log "ok: segment B: no answer to ARP for $V4 nor NS for $V6 (no ARP flux)"
# The check can fail: n1's eth1 back to Linux's default answers at once.
nsx n1 sysctl -qw net.ipv4.conf.eth1.arp_ignore=0
m=$(l2_arping_mac "$V4" clb eth0)
[[ $m == "$(l2_node_mac n1 b)" ]] || die "control: with n1 eth1 arp_ignore=0 the kernel should answer for $V4 with $(l2_node_mac n1 b), got '$m'"
nsx n1 sysctl -qw net.ipv4.conf.eth1.arp_ignore=1
log "ok: control: with n1 eth1 at arp_ignore=0 its kernel answers on segment B ($m)"

# Segment A: only the winner's MAC answers.
macs=$(l2_arping_macs "$V4")
[[ -n $macs && -z $(grep -vx "$(l2_node_mac "$w" a)" <<<"$macs") ]] \
  || die "segment A: ARP replies for $V4 from $(tr '\n' ' ' <<<"$macs"), want only $w's $(l2_node_mac "$w" a)"
log "ok: segment A: every ARP reply for $V4 is $w's"

for n in "${L2_NODES[@]}"; do vip_serve "$n" "$n" "$V4" 80; vip_serve "$n" "$n" "$V6" 80; done
for url in "http://$V4/" "http://[$V6]/"; do
  out=$(nsx cl python3 "$VIPSERVE" burst "$url" 20) || die "burst $url failed to run"
  jq -e --arg w "$w" '. == {($w): 20}' <<<"$out" >/dev/null || die "$url: want all 20 on $w, got $out"
  log "ok: $url: 20 of 20 on the winner $w"
done

# failover KIND OLD: a request loop from cl to each VIP (IPv4 and IPv6 side by
# side) while OLD fails: KIND "crash" = SIGKILL of its speaker (its kernel and
# server stay up: the old MAC keeps serving until the new winner's gratuitous
# ARP/NA), "node" = its switch port goes down (the node is gone). Requests
# must resume on another node; the gap is logged.
failover() {
  local kind=$1 old=$2 f g new fails late loop4 loop6
  : >"$E2E_TMP/loop4.log"; : >"$E2E_TMP/loop6.log"
  spawn cl /dev/null python3 "$VIPSERVE" loop "http://$V4/" "$E2E_TMP/loop4.log"; loop4=$E2E_LAST_PID
  spawn cl /dev/null python3 "$VIPSERVE" loop "http://[$V6]/" "$E2E_TMP/loop6.log"; loop6=$E2E_LAST_PID
  wait_until 10 grep -q " ok $old" "$E2E_TMP/loop4.log" || die "$kind: no IPv4 answer from $old before the failure"
  wait_until 10 grep -q " ok $old" "$E2E_TMP/loop6.log" || die "$kind: no IPv6 answer from $old before the failure"
  sleep 1
  case $kind in
    crash) l2sp_crash "$old"; log "$kind: SIGKILL of $old's speaker" ;;
    node) l2_carrier_down "$old"; log "$kind: $old's switch port down" ;;
  esac
  # (awk alone: no `grep -q` at the end of a pipe under pipefail)
  resumed() { awk -v w="$old" '$2 == "ok" && $3 != w { f = 1; exit } END { exit !f }' "$1"; }
  wait_until 20 resumed "$E2E_TMP/loop4.log" || die "$kind: IPv4 requests did not resume on another node"
  wait_until 20 resumed "$E2E_TMP/loop6.log" || die "$kind: IPv6 requests did not resume on another node"
  sleep 0.5
  kill_pid "$loop4" 2; kill_pid "$loop6" 2
  for f in loop4 loop6; do
    # gap: the old winner's last answer to the new one's first.
    g=$(awk -v w="$old" '$2 == "ok" && $3 == w && !first { last = $1 } $2 == "ok" && $3 != w && !first { first = $1 }
        END { if (!first || !last) exit 1; printf "%.3f %s", (first - last) / 1e9, first }' "$E2E_TMP/$f.log") \
      || die "$kind $f: cannot find the old and the new winner's answers"
    new=$(awk -v w="$old" '$2 == "ok" && $3 != w { print $3; exit }' "$E2E_TMP/$f.log")
    fails=$(grep -c ' fail$' "$E2E_TMP/$f.log" || true)
    late=$(awk -v w="$old" -v t="${g#* }" '$1 > t && $2 == "ok" && $3 == w' "$E2E_TMP/$f.log" | wc -l)
    ((late == 0)) || die "$kind $f: $old answered after $new took over"
    log "ok: $kind $f: requests resumed on $new; client-visible gap ${g% *} s (failed tries of 0.2 s: $fails)"
  done
}

failover crash "$w"
survivors=(); for n in "${L2_NODES[@]}"; do [[ $n != "$w" ]] && survivors+=("$n"); done
nw=$(l2sp_agree "$V4" "${survivors[@]}") || die "survivors do not agree on a new winner"
log "after the crash the survivors agree: winner $nw"
# The crashed node comes back (its addresses were left by the crash: kept,
# not duplicated), and all three agree again before the node loss.
start_node "$w"
for ip in $V4 $V6; do vip_bound "$w" "${BIND_IF[$w]}" "$ip" || { vip_addrs "$w" >&2; die "$w after restart: $ip not bound exactly once"; }; done
wait_until 20 eval 'l2sp_agree "$V4" "${L2_NODES[@]}" >/dev/null' || die "no agreement after $w's restart"
w=$(l2sp_agree "$V4" "${L2_NODES[@]}")
log "ok: $w restarted, bound once; winner now: $w"
failover node "$w"
survivors=(); for n in "${L2_NODES[@]}"; do [[ $n != "$w" ]] && survivors+=("$n"); done

for n in "${survivors[@]}"; do
  speaker_stop "sp-$n"
  for ip in $V4 $V6; do vip_absent "$n" "$ip" || { vip_addrs "$n" >&2; die "$n still holds $ip after SIGTERM"; }; done
done
log "ok: SIGTERM removed the VIPs on ${survivors[*]}"
