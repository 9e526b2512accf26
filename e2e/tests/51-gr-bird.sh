#!/usr/bin/env bash
# Graceful restart (RFC 4724, RFC 8538) with BIRD 2 as the helper
# (`graceful restart on;`), IPv4 and IPv6 sessions:
#  1. BIRD sees our GR capability (restart time 120 s, N bit) on both sessions.
#  2. kill -9 the speaker, drop one Service (gone) from the config while it is
#     down, restart it: a poller reads BIRD's RIB every 50 ms the whole time.
#     No kept VIP is ever missing from a poll, they were marked stale while
#     the speaker was down, they are fresh again after End-of-RIB, and the
#     dropped VIP is gone after End-of-RIB.
#  3. SIGUSR2 (exit for a restart): routes stay, stale; restart refreshes them.
#     Same for SIGTERM with --graceful-restart-on-exit.
#  4. SIGTERM (no restart intent): the routes are withdrawn at once (Hard
#     Reset, or the Cease BIRD takes as such), not left stale.
set -euo pipefail
E2E_TEST_NAME=51-gr-bird
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/speaker.sh"
source "$(dirname "$0")/51-gr-common.bash"
require bird birdc jq curl python3

cfg=$E2E_TMP/config; state=$E2E_TMP/state.json
gr_config "$cfg" true keep-a keep-b gone keep-v6
gr_topology
bird_start router router <<'CONF'
router id 192.0.2.2;
protocol device {}
template bgp lb { local as 64513; passive on; hold time 9; keepalive time 3; graceful restart on; }
protocol bgp oxlb4 from lb { neighbor 192.0.2.1 as 64512; ipv4 { import all; export none; }; }
protocol bgp oxlb6 from lb { neighbor 2001:db8:1::1 as 64512; ipv6 { import all; export none; }; }
CONF

up() {
  wait_until 20 bird_established router oxlb4 || speaker_die sp "IPv4 session not Established"
  wait_until 20 bird_established router oxlb6 || speaker_die sp "IPv6 session not Established"
}
speaker_start sp node "$cfg" NodeA --state-file "$state"
up
wait_until 10 eval '[[ $(gr_vips sp | wc -l) == 4 ]]' || speaker_die sp "want 4 VIPs in /status routes"
mapfile -t vips < <(gr_vips sp)
gone=$(speaker_status sp | jq -r '.services[] | select(.name == "gone") | .ips[0] + "/32"')
[[ $gone == 198.51.100.* ]] || speaker_die sp "no IPv4 address for default/gone: '$gone'"
kept=(); for v in "${vips[@]}"; do [[ $v == "$gone" ]] || kept+=("$v"); done
((${#kept[@]} == 3)) || die "want 3 kept VIPs, have: ${kept[*]}"
log "VIPs: ${vips[*]} (gone: $gone)"
wait_until 10 eval '[[ $( { bird_rib router ipv4; bird_rib router ipv6; } | wc -l) == 4 ]]' \
  || speaker_die sp "BIRD did not learn the 4 VIPs"

for p in oxlb4 oxlb6; do
  info=$(bird_cmd router show protocols all $p)
  af=ipv4; [[ $p == oxlb6 ]] && af=ipv6
  # BIRD's "Neighbor capabilities" block: what our OPEN offered.
  caps=$(awk '/Neighbor capabilities/ { on = 1; next } on && /^    [A-Z]/ { exit } on' <<<"$info")
  grep -q 'Graceful restart' <<<"$caps" && grep -Eq 'Restart time: +120$' <<<"$caps" \
    && grep -Eq "AF preserved: +$af\$" <<<"$caps" \
    || { echo "$info" >&2; die "BIRD $p: our OPEN's graceful restart capability (restart time 120, $af preserved) not seen"; }
  log "ok: BIRD $p sees our graceful restart capability: $(xargs <<<"$caps")"
done

for p in 192.0.2.2 2001:db8:1::2; do
  got=$(speaker_session sp "$p" '.graceful_restart | "\(.restart_time) \(.notification)"') || speaker_die sp "/status query failed"
  [[ $got == "120 false" ]] || speaker_die sp "/status session $p graceful_restart: '$got', want restart time 120, no N bit (BIRD sets none)"
done
log "ok: /status shows graceful restart negotiated (120 s, no N bit from BIRD) on both sessions"

# ---- 2. kill -9, config edited while down, restart within the restart time ----
gr_poll_start bird "$E2E_TMP/router/bird.ctl"
sleep 0.5
t_kill=$(gr_now)
kill -9 "$(daemon_pid sp)"
wait "$(daemon_pid sp)" 2>/dev/null || true
log "speaker killed (SIGKILL)"
for v in "${kept[@]}" "$gone"; do
  wait_until 10 gr_poll_has "$v" stale || die "BIRD did not keep $v as stale after the speaker died: $(gr_last_poll)"
done
log "ok: BIRD holds all 4 VIPs as stale while the speaker is down"
rm "$cfg/svc-gone.yaml"
gr_config "$cfg" true late=198.51.100.9
sleep 1
speaker_start sp node "$cfg" NodeA --state-file "$state"
up
# RFC 4724 §4.1: the restarted speaker's OPEN has the Restart State bit.
for p in oxlb4 oxlb6; do
  bird_proto_matches router $p 'Restart recovery' \
    || { bird_cmd router show protocols all $p >&2; die "BIRD $p: the restarted speaker's OPEN lacks the R bit (no 'Restart recovery')"; }
done
log "ok: the restarted speaker's OPENs carry the R bit (BIRD: Restart recovery)"
gr_wait_all 15 fresh "not refreshed after the restart" "${kept[@]}"
wait_until 15 gr_poll_lacks "$gone" || die "$gone (deleted while down) still in BIRD after End-of-RIB: $(gr_last_poll)"
log "ok: $gone (deleted while down) flushed at End-of-RIB"
sleep 0.5
t_end=$(gr_now)
gr_always "$t_kill" "$t_end" always "a kept VIP disappeared from BIRD across kill -9 + restart" "${kept[@]}"
stale=$(sed -n 's/.*stale_polls=\([0-9]*\).*/\1/p' "$E2E_TMP/always.out")
((stale > 0)) || die "no poll saw the VIPs stale: $(cat "$E2E_TMP/always.out")"
log "ok: no kept VIP ever missing across kill -9 + restart: $(cat "$E2E_TMP/always.out")"
log "measure: GR on, kill -9 + restart: longest absence of ${kept[0]} = $(python3 "$GR_POLL" gap "$GR_LOG" "$t_kill" "${kept[0]}") s"
grep -q 'graceful restart: re-announcing the persisted allocations first' "$E2E_TMP/sp/log" \
  || speaker_die sp "the restarted speaker did not log its restart hold"
# default/late, created while the speaker was down, goes out after End-of-RIB.
late=$(speaker_status sp | jq -r '.services[] | select(.name == "late") | .ips[0] + "/32"')
[[ $late == 198.51.100.* ]] || speaker_die sp "no IPv4 address for default/late: '$late'"
wait_until 10 gr_poll_has "$late" fresh || speaker_die sp "$late (created while down) not in BIRD after End-of-RIB: $(gr_last_poll)"
grep -q 'End-of-RIB sent to every peer; announcing new allocations' "$E2E_TMP/sp/log" \
  || speaker_die sp "the restarted speaker did not release new allocations after End-of-RIB"
log "ok: $late (new while down) announced after End-of-RIB"
kept+=("$late")

# ---- 3. SIGUSR2: exit for a restart, routes kept stale ----
t_usr2=$(gr_now)
pid=$(daemon_pid sp); kill -USR2 "$pid"
rc=0; wait "$pid" || rc=$?
((rc == 0)) || die "speaker exit status $rc after SIGUSR2 (want 0)"
gr_wait_all 10 stale "not kept stale after SIGUSR2" "${kept[@]}"
log "ok: SIGUSR2 left every VIP stale at BIRD: $(bird_cmd router show protocols all oxlb4 | grep -E 'Last error' | xargs)"
speaker_start sp node "$cfg" NodeA --state-file "$state"
up
gr_wait_all 15 fresh "not refreshed after the SIGUSR2 restart" "${kept[@]}"
sleep 0.3
gr_always "$t_usr2" "$(gr_now)" always2 "a VIP disappeared across SIGUSR2 + restart" "${kept[@]}"
log "ok: no VIP missing across SIGUSR2 + restart: $(cat "$E2E_TMP/always2.out")"

# ---- 3b. --graceful-restart-on-exit: SIGTERM exits for a restart too ----
speaker_stop sp
gr_wait_gone 3 "still in BIRD 3 s after SIGTERM" "${kept[@]}"
speaker_start sp node "$cfg" NodeA --state-file "$state" --graceful-restart-on-exit
up
gr_wait_all 15 fresh "not announced after the start" "${kept[@]}"
t_term=$(gr_now)
speaker_stop sp
gr_wait_all 10 stale "not kept stale after SIGTERM with --graceful-restart-on-exit" "${kept[@]}"
speaker_start sp node "$cfg" NodeA --state-file "$state"
up
gr_wait_all 15 fresh "not refreshed after the restart" "${kept[@]}"
sleep 0.3
gr_always "$t_term" "$(gr_now)" always3 "a VIP disappeared across SIGTERM (--graceful-restart-on-exit) + restart" "${kept[@]}"
log "ok: with --graceful-restart-on-exit SIGTERM left the VIPs stale, none missing: $(cat "$E2E_TMP/always3.out")"

# ---- 4. SIGTERM without restart intent: withdrawn at once ----
speaker_stop sp
t_term=$(gr_now)
gr_wait_gone 3 "still in BIRD 3 s after SIGTERM (left stale?)" "${kept[@]}"
log "ok: SIGTERM withdrew every VIP within $(python3 -c "import time; print('%.2f' % (time.time() - $t_term))") s"
for p in oxlb4 oxlb6; do
  bird_proto_matches router $p 'Last error: +Received: .*(Hard reset|Administrative shutdown)' \
    || { bird_cmd router show protocols all $p >&2; die "BIRD $p did not record the Hard Reset / Cease"; }
done
log "ok: BIRD recorded: $(bird_cmd router show protocols all oxlb4 | grep -E 'Last error' | xargs)"
gr_poll_stop
log "PASS"
