# shellcheck shell=bash
# e2e/lib/vip.sh - traffic through VIPs (issue 14): FRR with zebra, the
# ECMP topology, HTTP servers on bound VIPs, address checks. Source after
# lib/daemons.sh and peers/speaker.sh.
#
#   frr_zebra_start NAME NS < bgpd.conf   zebra + bgpd (routes installed into NS's kernel)
#   ecmp_topology                         cl -- router -- n1, n2 (see below)
#   node_config DIR PEER4 PEER6           MetalLB objects: pool, BGPAdvertisement,
#                                         BGPPeers, Services web4 / web6 on the VIPs
#   vip_serve NS NAME ADDR PORT           HTTP server answering NAME; log $E2E_TMP/http-NAME-ADDR.log
#   vip_served NAME ADDR                  requests that server answered (its own log)
#   vip_json NS                           every address of NS as JSON (rtnetlink dump, with IFA_PROTO)
#   vip_addrs NS                          "IF IP/LEN PROTO" for every address but loopback and link-local
#   vip_bound NS IF IP                    IP/host-len is on IF with our mark, noprefixroute
#                                         (and nodad for IPv6), exactly once in NS
#   vip_absent NS IP                      no interface of NS holds IP
#   vipc ARGS...                          e2e/lib/vipserve.py ARGS... (inside a namespace: nsx NS vipc)
#
# ECMP topology (every link a veth pair; the router forwards and hashes on L4):
#   cl eth0 203.0.113.2/24 2001:db8:c::2/64 -- router eth9 203.0.113.1 2001:db8:c::1
#   n1 eth0 192.0.2.1/30 2001:db8:1::1/64   -- router eth1 192.0.2.2 2001:db8:1::2
#   n2 eth0 192.0.2.5/30 2001:db8:2::1/64   -- router eth2 192.0.2.6 2001:db8:2::2

[[ -n ${_E2E_VIP_SOURCED:-} ]] && return 0
_E2E_VIP_SOURCED=1

VIP4=198.51.100.10
VIP6=2001:db8:100::10
VIPSERVE=$E2E_LIB_DIR/vipserve.py

frr_zebra_start() {
  local name=$1 ns=$2 d
  require /usr/lib/frr/zebra /usr/lib/frr/bgpd vtysh
  d=$(daemon_dir "$name"); cat >"$d/bgpd.conf"
  printf 'hostname %s\n' "$name" >"$d/zebra.conf"
  spawn "$ns" "$d/zebra.log" "${_E2E_UTS[@]}" "$name" /usr/lib/frr/zebra -u root -g frrvty \
    -f "$d/zebra.conf" -i "$d/zebra.pid" -z "$d/zserv.api" --vty_socket "$d" -A 127.0.0.1 -P 0 --log stdout
  register_pid "$E2E_LAST_PID"
  wait_until 10 test -S "$d/zserv.api" || { cat "$d/zebra.log" >&2; die "$name: zebra did not start"; }
  spawn "$ns" "$d/log" "${_E2E_UTS[@]}" "$name" /usr/lib/frr/bgpd -S -u root -g root \
    -f "$d/bgpd.conf" -i "$d/bgpd.pid" -z "$d/zserv.api" --vty_socket "$d" -A 127.0.0.1 -P 0 --log stdout
  _daemon_started "$name" "$ns" "$E2E_LAST_PID"
  _daemon_wait_ready "$name" 10 vtysh --vty_socket "$d" -d bgpd -c 'show bgp summary'
}

ecmp_topology() {
  ns_create cl; ns_create router; ns_create n1; ns_create n2
  ns_link cl eth0 203.0.113.2/24,2001:db8:c::2/64 router eth9 203.0.113.1/24,2001:db8:c::1/64
  ns_link n1 eth0 192.0.2.1/30,2001:db8:1::1/64 router eth1 192.0.2.2/30,2001:db8:1::2/64
  ns_link n2 eth0 192.0.2.5/30,2001:db8:2::1/64 router eth2 192.0.2.6/30,2001:db8:2::2/64
  ns_forwarding router 1
  # Hash on the 5-tuple, so one client's connections spread over both paths.
  nsx router sysctl -qw net.ipv4.fib_multipath_hash_policy=1 net.ipv6.fib_multipath_hash_policy=1
  nsx cl ip route add default via 203.0.113.1
  nsx cl ip -6 route add default via 2001:db8:c::1
  nsx n1 ip route add default via 192.0.2.2
  nsx n1 ip -6 route add default via 2001:db8:1::2
  nsx n2 ip route add default via 192.0.2.6
  nsx n2 ip -6 route add default via 2001:db8:2::2
}

node_config() {
  local dir=$1 peer4=$2 peer6=$3
  mkdir -p "$dir"
  cat >"$dir/objects.yaml" <<YAML
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: vips, namespace: metallb-system}
spec:
  addresses: [$VIP4/32, $VIP6/128]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: all, namespace: metallb-system}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor4, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64513, peerAddress: $peer4, holdTime: 9s}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor6, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64513, peerAddress: $peer6, holdTime: 9s}
---
apiVersion: v1
kind: Service
metadata: {name: web4, namespace: default}
spec:
  type: LoadBalancer
  loadBalancerIP: $VIP4
  ports: [{port: 80, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: web6, namespace: default}
spec:
  type: LoadBalancer
  ipFamilies: [IPv6]
  ipFamilyPolicy: SingleStack
  loadBalancerIP: $VIP6
  ports: [{port: 80, protocol: TCP}]
YAML
}

# vip_prepare_oxlb0 NS: when the kernel has no dummy driver, make oxlb0 an
# ifb (the binder uses an existing oxlb0 of any type); else leave its creation
# to the binder.
vip_prepare_oxlb0() {
  if nsx "$1" ip link add oxlb-probe type dummy 2>/dev/null; then
    nsx "$1" ip link delete oxlb-probe
  else
    log "$1: the kernel has no dummy driver (CONFIG_DUMMY): oxlb0 pre-created as ifb"
    nsx "$1" ip link add oxlb0 type ifb || die "$1: cannot create oxlb0 as ifb"
  fi
}

vipc() { python3 "$VIPSERVE" "$@"; }

vip_serve() {
  local ns=$1 name=$2 addr=$3 port=$4
  local log=$E2E_TMP/http-$name-$addr.log
  : >"$log"
  spawn "$ns" "$E2E_TMP/http-$name-$addr.err" python3 "$VIPSERVE" serve "$name" "$addr" "$port" "$log"
  local url="http://$addr:$port/"; [[ $addr == *:* ]] && url="http://[$addr]:$port/"
  wait_until 5 nsx "$ns" python3 "$VIPSERVE" first "$url" 1 >/dev/null \
    || { cat "$E2E_TMP/http-$name-$addr.err" >&2; die "HTTP server $name on $addr:$port did not start in $ns"; }
}
vip_served() {
  local log=$E2E_TMP/http-$1-$2.log
  [[ -f $log ]] || die "no server log $log"
  grep -c '^req ' "$log" || true   # grep -c prints 0 and exits 1 on no match: a count, not a failure
}

vip_json() { nsx "$1" python3 "$VIPSERVE" addrs || die "address dump in $1 failed"; }
vip_addrs() {
  local j; j=$(vip_json "$1") || exit 1
  jq -r '.[] | select((.local | startswith("fe80")) or .local == "127.0.0.1" or .local == "::1" | not)
    | "\(.ifname) \(.local)/\(.prefixlen) \(.proto)"' <<<"$j"
}
vip_bound() {
  local ns=$1 ifname=$2 ip=$3 j len=32
  [[ $ip == *:* ]] && len=128
  j=$(vip_json "$ns") || exit 1
  jq -e --arg i "$ifname" --arg ip "$ip" --argjson len "$len" '
    [.[] | select(.local == $ip)] as $a
    | ($a | length) == 1 and $a[0].ifname == $i and $a[0].prefixlen == $len
      and $a[0].proto == 111 and $a[0].noprefixroute
      and (($ip | contains(":")) | not or $a[0].nodad)' <<<"$j" >/dev/null
}
vip_absent() {
  local j; j=$(vip_json "$1") || exit 1
  jq -e --arg ip "$2" '[.[] | select(.local == $ip)] | length == 0' <<<"$j" >/dev/null
}
