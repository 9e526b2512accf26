# shellcheck shell=bash
# Shared by the 51-gr-*.sh graceful restart tests (sourced, not a test).
#
#   node "NodeA" (oxlb-speaker, AS 64512) eth0 192.0.2.1/30 2001:db8:1::1/64
#        --- eth0 192.0.2.2/30 2001:db8:1::2/64  router (AS 64513, passive helper)
#
# gr_config DIR GR(true|false) [SERVICE...]: the MetalLB objects: pools
#   198.51.100.0/28 and 2001:db8:100::/124, BGPPeers tor-v4/tor-v6 with
#   enableGracefulRestart GR, one BGPAdvertisement, and per SERVICE a file
#   svc-SERVICE.yaml (a name ending in -v6 is an IPv6 Service; NAME=IP
#   asks for that address).
# gr_topology: the namespaces and the link.
# gr_poll_start KIND WHERE: start 51-gr-poll.py (every 50 ms) into $GR_LOG.
# gr_poll_stop: stop it (stop file), wait for it.
# gr_now: time as the poll log writes it.
# gr_vips SPEAKER: "prefix" lines of the VIPs in the speaker's /status routes.
# gr_wait_all T stale|fresh MSG PREFIX...: wait up to T s for each PREFIX in
#   that state in the newest poll; else die "PREFIX MSG: <last poll>".
# gr_wait_gone T MSG PREFIX...: the same for each PREFIX absent.
# gr_always T0 T1 NAME MSG PREFIX...: 51-gr-poll.py `always` (every PREFIX in
#   every poll from T0 to T1) into $E2E_TMP/NAME.out; else print it, die MSG.

GR_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GR_POLL=$GR_DIR/51-gr-poll.py
GR_LOG=$E2E_TMP/poll.log
GR_STOP=$E2E_TMP/poll.stop

gr_config() {
  local dir=$1 gr=$2 s; shift 2
  mkdir -p "$dir"
  cat >"$dir/00-base.yaml" <<Y
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: v4, namespace: metallb-system}
spec: {addresses: [198.51.100.0/28]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: v6, namespace: metallb-system}
spec: {addresses: ["2001:db8:100::/124"]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor-v4, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.2, holdTime: 9s, enableGracefulRestart: $gr}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor-v6, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64513, peerAddress: "2001:db8:1::2", holdTime: 9s, enableGracefulRestart: $gr}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: all, namespace: metallb-system}
Y
  for s in "$@"; do
    if [[ $s == *-v6 ]]; then
      printf 'apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: default}\nspec: {type: LoadBalancer, ipFamilies: [IPv6], ipFamilyPolicy: SingleStack, ports: [{port: 80, protocol: TCP}]}\n' "$s"
    elif [[ $s == *=* ]]; then
      # NAME=IP: a Service asking for that address.
      printf 'apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: default}\nspec: {type: LoadBalancer, loadBalancerIP: %s, ports: [{port: 80, protocol: TCP}]}\n' "${s%%=*}" "${s#*=}"
    else
      printf 'apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: default}\nspec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}]}\n' "$s"
    fi >"$dir/svc-${s%%=*}.yaml"
  done
}

gr_topology() {
  ns_create node; ns_create router
  ns_link node eth0 192.0.2.1/30,2001:db8:1::1/64 router eth0 192.0.2.2/30,2001:db8:1::2/64
}

GR_POLL_PID=
gr_poll_start() {
  rm -f "$GR_STOP"
  python3 "$GR_POLL" poll "$1" "$2" "$GR_STOP" 0.05 >"$GR_LOG" 2>"$E2E_TMP/poll.err" &
  GR_POLL_PID=$!
  register_pid "$GR_POLL_PID"
  wait_until 5 test -s "$GR_LOG" || die "the RIB poller wrote nothing: $(cat "$E2E_TMP/poll.err")"
}
gr_poll_stop() {
  touch "$GR_STOP"
  wait "$GR_POLL_PID" || die "the RIB poller failed: $(cat "$E2E_TMP/poll.err")"
}
gr_now() { python3 -c 'import time; print("%.6f" % time.time())'; }

# gr_vips SPEAKER: the VIP prefixes the speaker hands to its two sessions.
gr_vips() {
  speaker_status "$1" | jq -r '[.routes[]?[]] | unique | .[]'
}

# gr_last_poll: the newest poll line (JSON).
gr_last_poll() { tail -n 1 "$GR_LOG"; }
# gr_poll_has PREFIX [stale|fresh]: the newest poll answered and holds
# PREFIX (marked stale / not stale); 2 when the newest poll failed.
gr_poll_has() {
  local last; last=$(gr_last_poll)
  jq -e '.ok' <<<"$last" >/dev/null || return 2
  case ${2:-any} in
    stale) jq -e --arg p "$1" '.routes[$p] == true' <<<"$last" >/dev/null ;;
    fresh) jq -e --arg p "$1" '.routes[$p] == false' <<<"$last" >/dev/null ;;
    *) jq -e --arg p "$1" '.routes | has($p)' <<<"$last" >/dev/null ;;
  esac
}
gr_wait_all() {
  local t=$1 state=$2 msg=$3 v; shift 3
  for v in "$@"; do
    wait_until "$t" gr_poll_has "$v" "$state" || die "$v $msg: $(gr_last_poll)"
  done
}
gr_wait_gone() {
  local t=$1 msg=$2 v; shift 2
  for v in "$@"; do
    wait_until "$t" gr_poll_lacks "$v" || die "$v $msg: $(gr_last_poll)"
  done
}
gr_always() {
  local t0=$1 t1=$2 out=$E2E_TMP/$3.out msg=$4; shift 4
  python3 "$GR_POLL" always "$GR_LOG" "$t0" "$t1" "$@" >"$out" \
    || { cat "$out" >&2; die "$msg"; }
}
# gr_poll_lacks PREFIX: the newest poll answered and does not hold PREFIX.
gr_poll_lacks() {
  local last; last=$(gr_last_poll)
  jq -e '.ok' <<<"$last" >/dev/null || return 2
  jq -e --arg p "$1" '.routes | has($p) | not' <<<"$last" >/dev/null
}

# gr_frr_start NAME NS < bgpd.conf: zebra, then bgpd talking to it (the
# harness's frr_start runs bgpd -Z; with zebra bgpd resolves IPv6
# link-local next hops on the interface). bgpd's vty socket is in the
# daemon dir, so frr_cmd NAME works. zebra (registered as NAME-zebra) runs
# as user frr (it refuses root, which is not in the frrvty group), with its
# files in its own dir owned by frr.
gr_frr_start() {
  local name=$1 ns=$2 d z
  require /usr/lib/frr/zebra /usr/lib/frr/bgpd vtysh jq
  d=$(daemon_dir "$name"); cat >"$d/bgpd.conf"
  z=$(daemon_dir "$name-zebra"); : >"$z/zebra.conf"
  chmod 711 "$E2E_TMP"; chown -R frr:frr "$z"
  spawn "$ns" "$z/log" "${_E2E_UTS[@]}" "$name" /usr/lib/frr/zebra -u frr -g frr \
    -f "$z/zebra.conf" -z "$z/zserv.api" -i "$z/zebra.pid" --vty_socket "$z" -A 127.0.0.1 -P 0 --log stdout
  _daemon_started "$name-zebra" "$ns" "$E2E_LAST_PID"
  wait_until 10 test -S "$z/zserv.api" || { daemon_log "$name-zebra" >&2; die "$name: zebra did not open $z/zserv.api"; }
  spawn "$ns" "$d/log" "${_E2E_UTS[@]}" "$name" /usr/lib/frr/bgpd -S -n -u root -g root -z "$z/zserv.api" \
    -f "$d/bgpd.conf" -i "$d/bgpd.pid" --vty_socket "$d" -A 127.0.0.1 -P 0 --log stdout
  _daemon_started "$name" "$ns" "$E2E_LAST_PID"
  _daemon_wait_ready "$name" 10 vtysh --vty_socket "$d" -d bgpd -c 'show bgp summary'
  daemon_alive "$name-zebra" || { daemon_log "$name-zebra" >&2; die "$name: zebra died"; }
}
