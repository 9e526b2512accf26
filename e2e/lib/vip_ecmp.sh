# shellcheck shell=bash
# e2e/lib/vip_ecmp.sh - the body of the 60-vip-bgp-* tests, sourced once the
# router (FRR with zebra, or BIRD with its kernel protocol) is running in
# namespace "router" of ecmp_topology, peering passively with n1 and n2.
# See e2e/tests/60-vip-bgp-frr.sh for what it asserts.

# The admin's own address on n2's lo: never oxlb's to remove.
ADMIN=203.0.113.99
nsx n2 ip addr add "$ADMIN/32" dev lo

# The binder creates oxlb0 as a dummy; a kernel without CONFIG_DUMMY (this
# test VM's) cannot, and then an oxlb0 made beforehand is used as it is.
vip_prepare_oxlb0 n1

node_config "$E2E_TMP/n1cfg" 192.0.2.2 2001:db8:1::2
node_config "$E2E_TMP/n2cfg" 192.0.2.6 2001:db8:2::2
speaker_start s1 n1 "$E2E_TMP/n1cfg" n1 --bind-vips dummy --state-file "$E2E_TMP/n1.state"
speaker_start s2 n2 "$E2E_TMP/n2cfg" n2 --bind-vips lo --state-file "$E2E_TMP/n2.state"

for ip in $VIP4 $VIP6; do
  wait_until 10 vip_bound n1 oxlb0 "$ip" || { vip_addrs n1 >&2; speaker_die s1 "n1: $ip not bound on oxlb0"; }
  wait_until 10 vip_bound n2 lo "$ip" || { vip_addrs n2 >&2; speaker_die s2 "n2: $ip not bound on lo"; }
done
log "ok: $VIP4/32 and $VIP6/128 bound on n1 oxlb0 and n2 lo (noprefixroute, nodad, proto 0x6f)"

# Each node serves both VIPs, answering with its name.
for n in n1 n2; do
  vip_serve "$n" "$n" "$VIP4" 80
  vip_serve "$n" "$n" "$VIP6" 80
done

paths() { # paths AF VIP: number of next hops of the router kernel's route to VIP
  local j; j=$(nsx router ip -j "$1" route show "$2") || return 1
  jq -r '[.[] | if .nexthops then .nexthops[] else . end] | length' <<<"$j"
}
for af in -4 -6; do
  vip=$VIP4; [[ $af == -6 ]] && vip=$VIP6
  wait_until 30 eval "[[ \$(paths $af $vip) == 2 ]]" \
    || { nsx router ip "$af" route >&2; router_dump; die "router kernel: no 2-path route to $vip"; }
done
log "ok: the router's kernel has 2 next hops for $VIP4 and $VIP6"

spread() { # spread URL N: N new connections from the client; both nodes must serve some
  local url=$1 n=$2 out
  out=$(nsx cl python3 "$VIPSERVE" burst "$url" "$n") || die "burst $url failed to run"
  log "burst $url x$n: $out"
  jq -e --argjson n "$n" '(.error // 0) == 0 and (.n1 // 0) > 0 and (.n2 // 0) > 0 and .n1 + .n2 == $n' <<<"$out" >/dev/null \
    || die "burst $url: not spread over n1 and n2 without errors: $out"
}
for vip in $VIP4 $VIP6; do
  url="http://$vip/"; [[ $vip == *:* ]] && url="http://[$vip]/"
  b1=$(vip_served n1 "$vip"); b2=$(vip_served n2 "$vip")
  spread "$url" 200
  a1=$(vip_served n1 "$vip"); a2=$(vip_served n2 "$vip")
  ((a1 > b1 && a2 > b2 && a1 - b1 + a2 - b2 == 200)) \
    || die "$vip: servers' logs count n1 +$((a1 - b1)) n2 +$((a2 - b2)), want both > 0, sum 200"
  log "ok: $vip: 200 connections, servers' logs n1 +$((a1 - b1)) n2 +$((a2 - b2))"
done

# A keep-alive connection that landed on n2 (the survivor): each try is a new
# source port, so the router's hash picks anew.
hold_pid=
for try in $(seq 1 30); do
  # One file per try: a killed try's output must not be read as the next one's.
  hold_out=$E2E_TMP/hold-$try.json
  spawn cl "$hold_out" python3 "$VIPSERVE" hold "http://$VIP4/" 15
  wait_until 10 grep -q first "$hold_out" || die "hold: no first answer: $(cat "$hold_out")"
  if jq -e 'select(.first) | .first == "n2"' "$hold_out" >/dev/null; then hold_pid=$E2E_LAST_PID; break; fi
  kill_pid "$E2E_LAST_PID" 2
done
[[ -n $hold_pid ]] || die "no keep-alive connection landed on n2 in 30 tries"
sleep 1
speaker_stop s1
log "n1 stopped (SIGTERM)"
for vip in $VIP4 $VIP6; do
  vip_absent n1 "$vip" || { vip_addrs n1 >&2; die "n1 still holds $vip after SIGTERM"; }
done
[[ -z $(vip_addrs n1 | awk '$3 == 111') ]] || { vip_addrs n1 >&2; die "n1: an oxlb-marked address is left after SIGTERM"; }
log "ok: n1 holds no VIP address after SIGTERM"
for af in -4 -6; do
  vip=$VIP4; [[ $af == -6 ]] && vip=$VIP6
  wait_until 15 eval "[[ \$(paths $af $vip) == 1 ]]" || { nsx router ip "$af" route >&2; die "router still has 2 paths to $vip"; }
done
for vip in $VIP4 $VIP6; do
  url="http://$vip/"; [[ $vip == *:* ]] && url="http://[$vip]/"
  out=$(nsx cl python3 "$VIPSERVE" burst "$url" 100) || die "burst failed to run"
  jq -e '. == {"n2": 100}' <<<"$out" >/dev/null || die "after n1 left, $url: want all 100 on n2, got $out"
  log "ok: after n1's withdrawal all 100 new connections to $vip reach n2"
done
rc=0; wait "$hold_pid" || rc=$?
hold_res=$(tail -n 1 "$hold_out")
((rc == 0)) && jq -e '.failed == 0 and .bodies == ["n2"] and .ok > 100' <<<"$hold_res" >/dev/null \
  || die "the keep-alive connection on n2 did not survive n1's stop: rc=$rc $hold_res"
log "ok: the keep-alive connection on n2 ran through n1's stop: $hold_res"

# Crash and restart n2: no duplicate, then a clean stop removes ours only.
kill -KILL "$(daemon_pid s2)"
wait_until 5 eval "! daemon_alive s2"
vip_bound n2 lo "$VIP4" || die "n2: after SIGKILL the address should stay (nothing ran to remove it)"
speaker_start s2 n2 "$E2E_TMP/n2cfg" n2 --bind-vips lo --state-file "$E2E_TMP/n2.state"
wait_until 15 eval "[[ \$(speaker_session s2 192.0.2.6 .state) == Established ]]" || speaker_die s2 "session did not come back"
for vip in $VIP4 $VIP6; do
  vip_bound n2 lo "$vip" || { vip_addrs n2 >&2; die "n2 after restart: $vip not bound exactly once"; }
done
log "ok: restart after a crash: each VIP on n2 lo exactly once"
speaker_stop s2
for vip in $VIP4 $VIP6; do
  vip_absent n2 "$vip" || { vip_addrs n2 >&2; die "n2 still holds $vip after SIGTERM"; }
done
addrs=$(vip_addrs n2) || die "cannot list n2's addresses"
grep -qx "lo $ADMIN/32 0" <<<"$addrs" || { printf '%s\n' "$addrs" >&2; die "the admin's $ADMIN/32 on lo is gone"; }
log "ok: n2 stopped: VIPs gone, the admin's $ADMIN/32 on lo untouched"
