#!/usr/bin/env bash
# The L2 harness itself (issue 10): e2e/lib/l2topo.sh builds two bridges,
# three nodes and a client; e2e/lib/l2probe.py probes a VIP every 10 ms.
# Proves, with the kernel as the only responder:
#   * the client gets each node's own MAC for its segment-A address (arping,
#     ndisc6), and no answer for a segment-B address (arp_ignore=1);
#   * link down of n2 (inside n2) and carrier loss of n3 (switch side) make
#     arping time out, and both come back;
#   * the nftables fence drops UDP and TCP 7946 to and from a node, and only
#     while it is in place;
#   * the probe sees the VIP's MAC change (v4 and v6) when the address moves
#     from n1 to n2, sees a gratuitous ARP, finds no split brain in that run,
#     and its split-brain check fails when n2 and n3 both own the VIP.
set -euo pipefail
E2E_TEST_NAME=31-l2-topology
source "$(dirname "$0")/../lib/l2topo.sh"
require arping ndisc6 nft python3 ip

python3 "$L2_PROBE" selftest >"$E2E_TMP/selftest.log" 2>&1 \
  || { cat "$E2E_TMP/selftest.log" >&2; die "l2probe selftest failed"; }

l2_topo_create
log "topology up: $(ip netns list | grep -c "^$E2E_PREFIX-") namespaces"

# arping_mac IP: the MAC of the first reply to one ARP request (empty if none).
# (arping exits 1 without a reply; the empty answer is what callers check)
arping_mac() {
  local out; out=$(nsx cl arping -c 1 -w 2 -i eth0 "$1" 2>/dev/null) || true
  sed -nE '1,/bytes from/s/^[0-9]+ bytes from ([0-9a-f:]{17}) .*/\1/p' <<<"$out"
}
answers() { [[ -n $(arping_mac "$1") ]]; }
# arping_times_out IP: true only if arping ran, sent, and got no reply.
arping_times_out() {
  local out rc=0
  out=$(nsx cl arping -c 2 -w 1 -i eth0 "$1" 2>&1) || rc=$?
  [[ $out == *"bytes from"* ]] && return 1
  ((rc == 1)) || { log "arping $1: unexpected exit $rc: $out"; return 2; }
  return 0
}

for n in "${L2_NODES[@]}"; do
  want=$(l2_node_mac "$n" a)
  got=""
  for _ in 1 2 3; do got=$(arping_mac "$(l2_node_ip4 "$n")"); [[ -n $got ]] && break; done
  [[ $got == "$want" ]] || die "arping $(l2_node_ip4 "$n"): got MAC '$got', want $want ($n eth0)"
  out6=$(nsx cl ndisc6 -1 -r 3 -w 500 "$(l2_node_ip6 "$n")" eth0 2>/dev/null) || out6=""
  got6=$(sed -nE 's/.*[Ll]ink-layer address: *([0-9A-Fa-f:]{17}).*/\1/p' <<<"$out6" | tr 'A-F' 'a-f')
  [[ $got6 == "$want" ]] || die "ndisc6 $(l2_node_ip6 "$n"): got MAC '$got6', want $want ($n eth0)"
done
log "ok: arping and ndisc6 get each node's own eth0 MAC"

arping_times_out 198.51.100.11 || die "a segment-B address (n1 eth1) was answered on segment A"
log "ok: segment B addresses are not answered on segment A"

l2_link_down n2
arping_times_out 192.0.2.12 || die "n2 eth0 is down but 192.0.2.12 still answers"
l2_link_up n2
wait_until 10 answers 192.0.2.12 || die "n2 eth0 is up again but 192.0.2.12 does not answer"
log "ok: link down on n2 silences it, link up brings it back"

l2_carrier_down n3
l2_has_carrier n3 && die "switch port of n3 is down but n3 eth0 still reports carrier"
arping_times_out 192.0.2.13 || die "n3's cable is pulled but 192.0.2.13 still answers"
l2_carrier_up n3
wait_until 10 l2_has_carrier n3 || die "n3 eth0 has no carrier after the switch port came back"
wait_until 10 answers 192.0.2.13 || die "n3 is plugged in again but does not answer"
log "ok: carrier loss of n3 (switch side) silences it and is seen in n3"

# --- the membership fence: UDP and TCP 7946 from n2 to n1.
cat >"$E2E_TMP/listen.py" <<'PY'
import socket, sys, threading
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 7946))
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("0.0.0.0", 7946)); t.listen(8)
def tcp():
    while True:
        c, _ = t.accept(); c.close()
threading.Thread(target=tcp, daemon=True).start()
while True:
    d, _ = u.recvfrom(100); print(d.decode(), flush=True)
PY
spawn n1 "$E2E_TMP/listen.log" python3 "$E2E_TMP/listen.py"
# udp_to_n1 TAG: one datagram TAG to n1:7946. tcp_to_n1: a TCP connect to
# n1:7946 within 1 s (exit 3 if it does not connect).
udp_to_n1() {
  nsx n2 python3 -c 'import socket, sys
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(sys.argv[1].encode(), ("192.0.2.11", 7946))' "$1"
}
tcp_to_n1() {
  nsx n2 python3 -c 'import socket, sys
try:
    socket.create_connection(("192.0.2.11", 7946), timeout=1).close()
except OSError:
    sys.exit(3)'
}
# udp_arrives TAG: send TAG and see it in the listener's log (0.5 s).
udp_arrives() {
  udp_to_n1 "$1" || return 2
  local i
  for i in 1 2 3 4 5; do grep -qx "$1" "$E2E_TMP/listen.log" && return 0; sleep 0.1; done
  return 1
}
wait_until 10 tcp_to_n1 || die "TCP 7946 n2 -> n1 does not connect before the fence"
wait_until 5 udp_arrives before || die "UDP 7946 n2 -> n1 not received before the fence"
l2_membership_drop n1
udp_to_n1 fenced || die "could not send UDP 7946 from n2"
rc=0; tcp_to_n1 || rc=$?
((rc == 3)) || die "TCP 7946 n2 -> n1 connected (or failed oddly, exit $rc) through the fence"
grep -qx fenced "$E2E_TMP/listen.log" && die "UDP 7946 n2 -> n1 got through the fence"
dropped=$(l2_membership_dropped_count n1)
((dropped >= 2)) || die "the fence counted $dropped dropped packets, want >= 2 (one UDP, one TCP SYN)"
l2_membership_allow n1
wait_until 10 tcp_to_n1 || die "TCP 7946 n2 -> n1 does not connect after the fence is lifted"
wait_until 5 udp_arrives after || die "UDP 7946 n2 -> n1 not received after the fence"
log "ok: the nftables fence drops UDP+TCP 7946 ($dropped packets) and only while in place"

# --- the probe: a VIP moved from n1 to n2.
mac1=$(l2_node_mac n1 a); mac2=$(l2_node_mac n2 a); mac3=$(l2_node_mac n3 a)
ns_addr n1 eth0 "$L2_VIP4/32,$L2_VIP6/128"
p1="$E2E_TMP/probe-move.jsonl"
l2_probe_start "$p1" --vip4 "$L2_VIP4" --vip6 "$L2_VIP6"
probe=$E2E_LAST_PID
# has_reply FAMILY MAC: one grep on the file (records have a fixed key order)
has_reply() { grep -qE "^\{\"kind\": \"reply\", .*\"family\": $1, .*\"mac\": \"$2\"" "$p1"; }
wait_until 10 has_reply 4 "$mac1" || die "probe: no ARP reply from n1 ($mac1) for $L2_VIP4"
wait_until 10 has_reply 6 "$mac1" || die "probe: no NA from n1 ($mac1) for $L2_VIP6"
trigger=$(l2_now)
ip -n "$(ns_name n1)" addr del "$L2_VIP4/32" dev eth0
ip -n "$(ns_name n1)" addr del "$L2_VIP6/128" dev eth0
ns_addr n2 eth0 "$L2_VIP4/32,$L2_VIP6/128"
[[ $(l2_owners "$L2_VIP4") == n2 ]] || die "l2_owners: want n2, got '$(l2_owners "$L2_VIP4")'"
# Habets arping -U: an unsolicited ARP (sender = target = the VIP) from n2.
nsx n2 arping -U -S "$L2_VIP4" -c 1 -w 1 -i eth0 "$L2_VIP4" >/dev/null 2>&1 || true
wait_until 10 has_reply 4 "$mac2" || die "probe: no ARP reply from n2 ($mac2) after the move"
wait_until 10 has_reply 6 "$mac2" || die "probe: no NA from n2 ($mac2) after the move"
wait_until 5 grep -qF "\"kind\": \"garp\", \"t\"" "$p1" || die "probe: the gratuitous ARP from n2 was not seen"
l2_probe_stop "$probe"
for fam in 4 6; do
  ip=$L2_VIP4; [[ $fam == 6 ]] && ip=$L2_VIP6
  res=$(python3 "$L2_PROBE" failover --log "$p1" --trigger "$trigger" --old-mac "$mac1" --ip "$ip") \
    || die "probe failover (v$fam): no new MAC: $res"
  jq -e --arg m "$mac2" '.new_mac == $m and .gap_ms > 0 and .gap_ms < 2000 and .old_replies_after_new == 0' \
    <<<"$res" >/dev/null || die "probe failover (v$fam): unexpected result $res"
  log "ok: v$fam move n1 -> n2 seen after $(jq -r '.gap_ms|floor' <<<"$res") ms"
done
grep -qE "^\{\"kind\": \"garp\", .*\"mac\": \"$mac2\"" "$p1" || die "probe: garp not attributed to n2"
python3 "$L2_PROBE" splitbrain --log "$p1" 2>/dev/null || die "probe: split brain reported for a clean move"
python3 "$L2_PROBE" summary --log "$p1" >&2

# --- two owners at once: the split-brain check must fail.
ns_addr n3 eth0 "$L2_VIP4/32"
p2="$E2E_TMP/probe-split.jsonl"
l2_probe_start "$p2" --vip4 "$L2_VIP4" --duration 1
probe=$E2E_LAST_PID
wait "$probe" || die "probe (split run) exited non-zero"
rc=0; out=$(python3 "$L2_PROBE" splitbrain --log "$p2" --ip "$L2_VIP4" 2>/dev/null) || rc=$?
((rc == 1)) || die "splitbrain did not fail (exit $rc) with n2 and n3 both owning $L2_VIP4"
grep -qF "\"macs\": [\"$mac2\", \"$mac3\"]" <<<"$out" || die "splitbrain: rounds do not name n2 and n3: $out"
log "ok: split brain of n2+n3 detected in $(wc -l <<<"$out") rounds"
# arping's own duplicate check agrees (an independent tool).
rc=0; nsx cl arping -d -c 3 -w 2 -i eth0 "$L2_VIP4" >/dev/null 2>&1 || rc=$?
((rc == 1)) || die "arping -d did not report two MACs for $L2_VIP4 (exit $rc)"
log "PASS"
