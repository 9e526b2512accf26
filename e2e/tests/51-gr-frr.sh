#!/usr/bin/env bash
# Graceful restart (RFC 4724, RFC 8538) with FRR bgpd + zebra as the helper
# (`bgp graceful-restart`), IPv4 and IPv6 sessions:
#  1. FRR sees our GR capability (restart time 120 s, N bit, F bit per family).
#  2. kill -9 the speaker, drop one Service (gone) while it is down, restart:
#     a poller reads FRR's RIB (`show bgp ipv4|ipv6 unicast json`) every 50 ms
#     the whole time. No kept VIP is ever missing, they are "stale" while the
#     speaker is down, not stale after End-of-RIB; the dropped VIP is gone.
#  3. SIGUSR2 (exit for a restart; with the N bit an Administrative Reset,
#     RFC 8538 §4): routes stay, stale; the restart refreshes them.
#  4. SIGTERM (no restart intent): Hard Reset (RFC 8538 §3), routes
#     withdrawn at once, never stale.
#  5. control, graceful restart off: kill -9 + restart, the VIP does leave
#     FRR's RIB (the poller sees a disappearance); the gap is measured.
set -euo pipefail
E2E_TEST_NAME=51-gr-frr
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/speaker.sh"
source "$(dirname "$0")/51-gr-common.bash"
require vtysh jq curl python3

cfg=$E2E_TMP/config; state=$E2E_TMP/state.json
gr_config "$cfg" true keep-a keep-b gone keep-v6
gr_topology
gr_frr_start router router <<'CONF'
hostname router
router bgp 64513
 bgp router-id 192.0.2.2
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 bgp graceful-restart
 neighbor 192.0.2.1 remote-as 64512
 neighbor 192.0.2.1 passive
 neighbor 192.0.2.1 timers 3 9
 neighbor 2001:db8:1::1 remote-as 64512
 neighbor 2001:db8:1::1 passive
 neighbor 2001:db8:1::1 timers 3 9
 address-family ipv4 unicast
  neighbor 192.0.2.1 activate
 exit-address-family
 address-family ipv6 unicast
  neighbor 2001:db8:1::1 activate
 exit-address-family
CONF
peers=(192.0.2.1 2001:db8:1::1)
up() {
  local p
  for p in "${peers[@]}"; do
    wait_until 20 frr_established router "$p" || { frr_cmd router 'show bgp summary' >&2; speaker_die sp "FRR: session with $p not Established"; }
  done
}

speaker_start sp node "$cfg" NodeA --state-file "$state"
up
wait_until 10 eval '[[ $(gr_vips sp | wc -l) == 4 ]]' || speaker_die sp "want 4 VIPs in /status routes"
mapfile -t vips < <(gr_vips sp)
gone=$(speaker_status sp | jq -r '.services[] | select(.name == "gone") | .ips[0] + "/32"')
[[ $gone == 198.51.100.* ]] || speaker_die sp "no IPv4 address for default/gone: '$gone'"
kept=(); for v in "${vips[@]}"; do [[ $v == "$gone" ]] || kept+=("$v"); done
log "VIPs: ${vips[*]} (gone: $gone)"

for p in "${peers[@]}"; do
  af="IPv4 Unicast"; [[ $p == *:* ]] && af="IPv6 Unicast"
  info=$(frr_cmd router "show bgp neighbors $p") || die "vtysh failed"
  for want in 'Graceful Restart Capability: advertised and received' 'Remote Restart timer is 120 seconds' \
      "$af\\(preserved\\)" 'Remote GR Mode: Restart' 'N bit: True' 'R bit: False'; do
    grep -Eq -- "$want" <<<"$info" || { echo "$info" >&2; die "FRR $p: '$want' not in show bgp neighbors"; }
  done
done
log "ok: FRR sees our graceful restart capability with the N bit and restart time 120 on both sessions"
for p in 192.0.2.2 2001:db8:1::2; do
  got=$(speaker_session sp "$p" '.graceful_restart | "\(.restart_time) \(.notification)"') || speaker_die sp "/status query failed"
  [[ $got == "120 true" ]] || speaker_die sp "/status session $p graceful_restart: '$got', want restart time 120 and the N bit"
done
log "ok: /status shows graceful restart negotiated (120 s, N bit) on both sessions"

gr_poll_start frr "$E2E_TMP/router"
for v in "${vips[@]}"; do
  wait_until 10 gr_poll_has "$v" fresh || speaker_die sp "FRR did not learn $v: $(gr_last_poll)"
done

# ---- 2. kill -9, config edited while down, restart ----
t_kill=$(gr_now)
kill -9 "$(daemon_pid sp)"; wait "$(daemon_pid sp)" 2>/dev/null || true
log "speaker killed (SIGKILL)"
for v in "${vips[@]}"; do
  wait_until 10 gr_poll_has "$v" stale || die "FRR did not mark $v stale after the speaker died: $(gr_last_poll)"
done
log "ok: FRR holds all 4 VIPs as stale while the speaker is down"
rm "$cfg/svc-gone.yaml"
sleep 1
speaker_start sp node "$cfg" NodeA --state-file "$state"
up
# RFC 4724 §4.1: the restarted speaker's OPEN has the Restart State bit.
for p in "${peers[@]}"; do
  nb=$(frr_cmd router "show bgp neighbors $p") || die "FRR $p: vtysh show bgp neighbors failed"
  [[ $nb == *'R bit: True'* ]] || { printf '%s\n' "$nb" >&2; die "FRR $p: the restarted speaker's OPEN lacks the R bit"; }
done
log "ok: FRR saw the R bit in the restarted speaker's OPENs"
gr_wait_all 15 fresh "still stale (or missing) after the restart" "${kept[@]}"
wait_until 15 gr_poll_lacks "$gone" || die "$gone (deleted while down) still in FRR after End-of-RIB: $(gr_last_poll)"
log "ok: $gone (deleted while down) flushed at End-of-RIB"
sleep 0.3
gr_always "$t_kill" "$(gr_now)" always "a kept VIP disappeared from FRR across kill -9 + restart" "${kept[@]}"
stale=$(sed -n 's/.*stale_polls=\([0-9]*\).*/\1/p' "$E2E_TMP/always.out")
((stale > 0)) || die "no poll saw the VIPs stale: $(cat "$E2E_TMP/always.out")"
log "ok: no kept VIP ever missing from FRR across kill -9 + restart: $(cat "$E2E_TMP/always.out")"
log "measure: FRR, GR on, kill -9 + restart: longest absence of ${kept[0]} = $(python3 "$GR_POLL" gap "$GR_LOG" "$t_kill" "${kept[0]}") s"

# ---- 3. SIGUSR2: Administrative Reset with the N bit, routes kept stale ----
t_usr2=$(gr_now)
pid=$(daemon_pid sp); kill -USR2 "$pid"
rc=0; wait "$pid" || rc=$?
((rc == 0)) || die "speaker exit status $rc after SIGUSR2 (want 0)"
gr_wait_all 10 stale "not kept stale after SIGUSR2" "${kept[@]}"
last=$(frr_cmd router "show bgp neighbors 192.0.2.1" | grep -Ei 'Last reset|notification' | head -2 | xargs)
log "ok: SIGUSR2 left every VIP stale at FRR (FRR: $last)"
speaker_start sp node "$cfg" NodeA --state-file "$state"
up
gr_wait_all 15 fresh "not refreshed after the SIGUSR2 restart" "${kept[@]}"
sleep 0.3
gr_always "$t_usr2" "$(gr_now)" always2 "a VIP disappeared from FRR across SIGUSR2 + restart" "${kept[@]}"
log "ok: no VIP missing across SIGUSR2 + restart: $(cat "$E2E_TMP/always2.out")"

# ---- 4. SIGTERM: Hard Reset, withdrawn at once ----
speaker_stop sp
t_term=$(gr_now)
gr_wait_gone 3 "still in FRR 3 s after SIGTERM (left stale?)" "${kept[@]}"
log "ok: SIGTERM withdrew every VIP within $(python3 -c "import time; print('%.2f' % (time.time() - $t_term))") s"
info=$(frr_cmd router "show bgp neighbors 192.0.2.1")
grep -Eiq 'Hard Reset' <<<"$info" || { echo "$info" >&2; die "FRR did not record a Hard Reset from the speaker"; }
log "ok: FRR recorded: $(grep -Ei 'hard reset' <<<"$info" | head -2 | xargs)"

# ---- 5. control, graceful restart off: kill -9 + restart 1 s later ----
gr_config "$cfg" false
speaker_start sp node "$cfg" NodeA --state-file "$state"
up
for v in "${kept[@]}"; do
  wait_until 15 gr_poll_has "$v" fresh || die "GR off: FRR did not learn $v: $(gr_last_poll)"
done
sleep 0.5
t_kill=$(gr_now)
kill -9 "$(daemon_pid sp)"; wait "$(daemon_pid sp)" 2>/dev/null || true
sleep 1
speaker_start sp node "$cfg" NodeA --state-file "$state"
up
for v in "${kept[@]}"; do
  wait_until 15 gr_poll_has "$v" fresh || die "GR off: $v not back after the restart: $(gr_last_poll)"
done
sleep 0.3
gr_poll_stop
gap=$(python3 "$GR_POLL" gap "$GR_LOG" "$t_kill" "${kept[0]}")
awk -v g="$gap" 'BEGIN { exit !(g > 0) }' || die "control: without graceful restart the VIP should have left FRR (gap $gap s): the poller would be blind"
log "measure: FRR, GR off, kill -9 + restart 1 s later: ${kept[0]} absent for $gap s"
speaker_stop sp
log "PASS"
