#!/usr/bin/env bash
# Graceful restart limits, BIRD 2 as helper, IPv4 and IPv6:
#  1. restart time 5 s (--graceful-restart-time 5), speaker kill -9'd and
#     never restarted: BIRD keeps the VIPs (stale) for the restart time,
#     then flushes them; measured from the poll log.
#  2. control, graceful restart off (enableGracefulRestart: false): kill -9
#     + restart a second later: the VIPs do disappear at BIRD, which proves
#     the poller sees a disappearance; the gap is measured (the GR-off
#     number of docs/benchmarks.md).
set -euo pipefail
E2E_TEST_NAME=51-gr-flush
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/speaker.sh"
source "$(dirname "$0")/51-gr-common.bash"
require bird birdc jq curl python3

cfg=$E2E_TMP/config; state=$E2E_TMP/state.json
gr_config "$cfg" true keep-a keep-v6
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
vips() {
  wait_until 10 eval '[[ $(gr_vips sp | wc -l) == 2 ]]' || speaker_die sp "want 2 VIPs in /status routes"
  mapfile -t vips < <(gr_vips sp)
  for v in "${vips[@]}"; do
    wait_until 10 gr_poll_has "$v" fresh || speaker_die sp "BIRD did not learn $v: $(gr_last_poll)"
  done
}

# ---- 1. restart time 5 s, never back ----
gr_poll_start bird "$E2E_TMP/router/bird.ctl"
speaker_start sp node "$cfg" NodeA --state-file "$state" --graceful-restart-time 5
up; vips
bird_proto_matches router oxlb4 'Restart time: +5$' || { bird_cmd router show protocols all oxlb4 >&2; die "BIRD does not see restart time 5"; }
t_kill=$(gr_now)
kill -9 "$(daemon_pid sp)"; wait "$(daemon_pid sp)" 2>/dev/null || true
log "speaker killed (SIGKILL), not restarted"
gr_wait_gone 10 "still in BIRD 10 s after the speaker died (restart time 5 s)" "${vips[@]}"
t_gone=$(gr_now)
gr_always "$t_kill" "$(python3 -c "print($t_kill + 4.0)")" always "a VIP left BIRD before the 5 s restart time was over" "${vips[@]}"
stale=$(sed -n 's/.*stale_polls=\([0-9]*\).*/\1/p' "$E2E_TMP/always.out")
((stale > 0)) || die "no poll saw the VIPs stale: $(cat "$E2E_TMP/always.out")"
held=$(python3 - "$GR_LOG" "$t_kill" "${vips[0]}" <<'PY'
import json, sys
log, t0, p = sys.argv[1], float(sys.argv[2]), sys.argv[3]
polls = [json.loads(l) for l in open(log) if l.strip()]
gone = [x["t"] for x in polls if x["t"] > t0 and x["ok"] and p not in x["routes"]]
print("%.2f" % (gone[0] - t0) if gone else "never")
PY
)
log "ok: VIPs kept stale for the restart time, then flushed: $(cat "$E2E_TMP/always.out"); flushed ${held} s after kill -9"
awk -v h="$held" 'BEGIN { exit !(h >= 4.5 && h <= 8) }' || die "flushed $held s after kill -9, want about the 5 s restart time"
log "measure: GR on, restart time 5 s, speaker never back: routes flushed after $held s"
gr_poll_stop

# ---- 2. control: graceful restart off, kill -9 + restart ----
gr_config "$cfg" false
rm -f "$GR_LOG"
gr_poll_start bird "$E2E_TMP/router/bird.ctl"
speaker_start sp node "$cfg" NodeA --state-file "$state"
up; vips
proto=$(bird_cmd router show protocols all oxlb4) || die "birdc show protocols all oxlb4 failed"
caps=$(awk '/Neighbor capabilities/ { on = 1; next } on && /^    [A-Z]/ { exit } on' <<<"$proto")
[[ -n $caps ]] || { printf '%s\n' "$proto" >&2; die "BIRD shows no neighbour capabilities for oxlb4"; }
[[ $caps != *'Graceful restart'* ]] || die "graceful restart offered with enableGracefulRestart: false: $caps"
sleep 0.5
t_kill=$(gr_now)
kill -9 "$(daemon_pid sp)"; wait "$(daemon_pid sp)" 2>/dev/null || true
sleep 1
speaker_start sp node "$cfg" NodeA --state-file "$state"
up
gr_wait_all 15 fresh "not back after the restart" "${vips[@]}"
sleep 0.3
gr_poll_stop
gap=$(python3 "$GR_POLL" gap "$GR_LOG" "$t_kill" "${vips[0]}")
awk -v g="$gap" 'BEGIN { exit !(g > 0) }' || die "control: without graceful restart the VIP should have disappeared (gap $gap s): the poller would be blind"
log "measure: GR off, kill -9 + restart 1 s later: ${vips[0]} absent for $gap s"
speaker_stop sp
log "PASS"
