# shellcheck shell=bash
# e2e/lib/l2topo.sh - the L2-mode topology of issue 10 (sources netns.sh).
#
#   segment A: switch namespace "swa" (bridge br0)          192.0.2.0/24, 2001:db8:1::/64
#     n1 eth0 192.0.2.11  2001:db8:1::11  02:00:00:00:0a:01   (switch port pn1)
#     n2 eth0 192.0.2.12  2001:db8:1::12  02:00:00:00:0a:02   (switch port pn2)
#     n3 eth0 192.0.2.13  2001:db8:1::13  02:00:00:00:0a:03   (switch port pn3)
#     cl eth0 192.0.2.200 2001:db8:1::200 02:00:00:00:0a:c8   (switch port pcl; the client)
#   segment B: switch namespace "swb" (bridge br0)          198.51.100.0/24, 2001:db8:2::/64
#     n1..n3 eth1 198.51.100.1i  2001:db8:2::1i  02:00:00:00:0b:0i  (switch port pn<i>)
#
# Every name is per PID (netns.sh's $E2E_PREFIX); the switch-side ports have
# fixed names, so a node's cable can be pulled from the switch side (the node
# sees NO-CARRIER) as well as set down inside the node. Nothing here touches
# the root namespace: veth pairs are created directly inside the namespaces,
# and the netns.sh trap kills every registered PID and deletes every
# namespace on exit, failure included.
#
# The VIPs the tests use: 192.0.2.100 and 2001:db8:1::100 (segment A).

[[ -n ${_E2E_L2TOPO_SOURCED:-} ]] && return 0
_E2E_L2TOPO_SOURCED=1
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

L2_NODES=(n1 n2 n3)
L2_VIP4=192.0.2.100
L2_VIP6=2001:db8:1::100
L2_CLIENT_IP4=192.0.2.200
L2_CLIENT_IP6=2001:db8:1::200
L2_CLIENT_MAC=02:00:00:00:0a:c8
L2_PROBE="$E2E_LIB_DIR/l2probe.py"

# l2_node_index NODE: 1 for n1 ... (dies on an unknown node name).
l2_node_index() {
  [[ $1 =~ ^n([1-9])$ ]] || die "l2topo: node name '$1' is not n1..n9"
  printf '%s' "${BASH_REMATCH[1]}"
}
# l2_node_ip4 NODE / l2_node_ip6 NODE / l2_node_mac NODE [a|b]: a node's fixed addresses.
l2_node_ip4() { printf '192.0.2.1%s' "$(l2_node_index "$1")"; }
l2_node_ip6() { printf '2001:db8:1::1%s' "$(l2_node_index "$1")"; }
l2_node_mac() { printf '02:00:00:00:0%s:0%s' "${2:-a}" "$(l2_node_index "$1")"; }

# _l2_plug SW HOST IF PORT ADDRS MAC: veth HOST:IF (fixed MAC) <-> SW:PORT, PORT
# enslaved to SW's br0, both ends up, ADDRS on IF.
_l2_plug() {
  local sw host; sw=$(ns_name "$1"); host=$(ns_name "$2")
  ip link add "$3" address "$6" netns "$host" type veth peer name "$4" netns "$sw" \
    || die "l2topo: veth $2:$3 <-> $1:$4"
  ip -n "$sw" link set "$4" master br0 || die "l2topo: enslave $4 in $1"
  ip -n "$sw" link set "$4" up
  _addr_add "$host" "$3" "$5"
  ip -n "$host" link set "$3" up
}

# l2_topo_create: build both segments, the three nodes and the client.
# Nodes answer ARP only for addresses of the receiving interface
# (arp_ignore=1), as a real host with two NICs on two segments is usually set
# up, so a segment-B address is never answered on segment A.
l2_topo_create() {
  local n i
  bridge_create swa
  bridge_create swb
  ns_create cl
  _l2_plug swa cl eth0 pcl "$L2_CLIENT_IP4/24,$L2_CLIENT_IP6/64" "$L2_CLIENT_MAC"
  for n in "${L2_NODES[@]}"; do
    i=$(l2_node_index "$n")
    ns_create "$n"
    nsx "$n" sysctl -qw net.ipv4.conf.all.arp_ignore=1 >/dev/null
    _l2_plug swa "$n" eth0 "p$n" "192.0.2.1$i/24,2001:db8:1::1$i/64" "$(l2_node_mac "$n" a)"
    _l2_plug swb "$n" eth1 "p$n" "198.51.100.1$i/24,2001:db8:2::1$i/64" "$(l2_node_mac "$n" b)"
  done
}

# l2_topo_destroy: the netns.sh cleanup, run now (kills registered PIDs and
# anything left in our namespaces, deletes them); idempotent, also runs on exit.
l2_topo_destroy() { e2e_cleanup; }

# l2_link_down NODE [IF] / l2_link_up NODE [IF]: administratively down/up the
# node's interface (default eth0) inside the node's namespace.
l2_link_down() { ip -n "$(ns_name "$1")" link set "${2:-eth0}" down || die "l2topo: link down $1 ${2:-eth0}"; }
l2_link_up() { ip -n "$(ns_name "$1")" link set "${2:-eth0}" up || die "l2topo: link up $1 ${2:-eth0}"; }

# l2_carrier_down NODE [a|b] / l2_carrier_up NODE [a|b]: pull the node's cable
# on the switch side (segment a by default): the node's interface stays
# administratively up and reports NO-CARRIER.
l2_carrier_down() { ip -n "$(ns_name "sw${2:-a}")" link set "p$1" down || die "l2topo: carrier down $1"; }
l2_carrier_up() { ip -n "$(ns_name "sw${2:-a}")" link set "p$1" up || die "l2topo: carrier up $1"; }

# l2_has_carrier NODE [IF]: true if the node's interface is up with carrier.
l2_has_carrier() {
  local f; f=$(ip netns exec "$(ns_name "$1")" cat "/sys/class/net/${2:-eth0}/carrier" 2>/dev/null) || return 1
  [[ $f == 1 ]]
}

# l2_membership_drop NODE / l2_membership_allow NODE: drop (or allow again)
# every UDP and TCP packet to or from port 7946 (the membership port) in and
# out of the node, with an nftables table of our own inside its namespace.
l2_membership_drop() {
  nsx "$1" nft -f - <<'NFT' || die "l2topo: nft membership drop in $1"
table inet oxlb_l2_fence {
  chain input { type filter hook input priority -10; policy accept;
    udp dport 7946 counter drop; udp sport 7946 counter drop; tcp dport 7946 counter drop; tcp sport 7946 counter drop; }
  chain output { type filter hook output priority -10; policy accept;
    udp dport 7946 counter drop; udp sport 7946 counter drop; tcp dport 7946 counter drop; tcp sport 7946 counter drop; }
}
NFT
}
l2_membership_allow() { nsx "$1" nft delete table inet oxlb_l2_fence || die "l2topo: nft allow in $1"; }
# l2_membership_dropped_count NODE: packets dropped so far by the fence table.
l2_membership_dropped_count() {
  nsx "$1" nft -j list table inet oxlb_l2_fence 2>/dev/null | python3 -c '
import json, sys
total = 0
for item in json.load(sys.stdin)["nftables"]:
    for e in item.get("rule", {}).get("expr", []):
        if "counter" in e:
            total += e["counter"]["packets"]
print(total)'
}

# _l2_unregister_pid PID...: drop PIDs we have reaped ourselves from the
# cleanup list, so a later process that reuses the number is never killed.
_l2_unregister_pid() {
  local p i
  for p in "$@"; do
    for i in "${!_E2E_PIDS[@]}"; do [[ ${_E2E_PIDS[i]} == "$p" ]] && unset "_E2E_PIDS[i]"; done
  done
  _E2E_PIDS=("${_E2E_PIDS[@]}")
}

# l2_sigkill PID...: SIGSTOP every PID first (so a parent cannot respawn a
# child, nor a child see its parent die and leave gracefully), then SIGKILL
# them all, then reap our own children. A crash, not a shutdown. Call it from
# the main shell (not inside $(...)), which is the parent that can reap.
l2_sigkill() {
  local p
  for p in "$@"; do kill -STOP "$p" 2>/dev/null || true; done
  for p in "$@"; do kill -KILL "$p" 2>/dev/null || true; done
  local st i
  for p in "$@"; do
    # gone, or a zombie (ours is reaped below; an orphan's is init's business)
    for ((i = 0; i < 500; i++)); do
      kill -0 "$p" 2>/dev/null || break
      st=$(ps -o stat= -p "$p" 2>/dev/null | tr -d ' ') || break
      [[ $st == Z* ]] && break
      sleep 0.01
    done
    ((i < 500)) || die "l2topo: pid $p still alive 5 s after SIGKILL"
    wait "$p" 2>/dev/null || true
  done
  _l2_unregister_pid "$@"
}

# l2_owners IP: the nodes (n1 ...) that have IP on eth0, space separated.
l2_owners() {
  local n a out=()
  for n in "${L2_NODES[@]}"; do
    # (no `ip | grep -q` under pipefail: an early grep exit fails the pipe)
    a=$(ip -n "$(ns_name "$n")" -o addr show dev eth0) || die "l2topo: ip addr show in $n"
    [[ $a == *" $1/"* ]] && out+=("$n")
  done
  printf '%s\n' "${out[*]}"
}

# l2_probe_start LOG [probe args]: start l2probe.py in the client namespace,
# JSON lines to LOG (stderr to LOG.err); its PID in $E2E_LAST_PID. Waits until
# the probe has sent its first round.
l2_probe_start() {
  local logf=$1; shift
  ip netns exec "$(ns_name cl)" python3 "$L2_PROBE" probe --iface eth0 \
    --src4 "$L2_CLIENT_IP4" --src6 "$L2_CLIENT_IP6" "$@" </dev/null >"$logf" 2>"$logf.err" &
  E2E_LAST_PID=$!
  register_pid "$E2E_LAST_PID"
  wait_until 10 grep -q '"kind": "start"' "$logf" || { cat "$logf.err" >&2; die "l2topo: probe did not start"; }
}

# l2_probe_stop PID: SIGTERM the probe (it flushes and exits 0) and check its exit.
l2_probe_stop() {
  kill -TERM "$1" 2>/dev/null || die "l2topo: probe $1 is not running"
  local rc=0; wait "$1" || rc=$?
  _l2_unregister_pid "$1"
  ((rc == 0)) || die "l2topo: probe $1 exited $rc"
}

# l2_now: wall-clock seconds with nanoseconds (the probe's clock).
l2_now() { date +%s.%N; }
