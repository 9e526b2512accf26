#!/usr/bin/env bash
# oxlb-speaker restart keeps IPs: run on examples/ with --state-file, SIGTERM
# (BIRD records the Cease, exit 0), then restart with every file renamed so
# they are read in a different order, plus a new Service that sorts before all
# others (default/aaa-first, no requested IP: without the state it would take
# 172.16.13.0 from default/example). Every previous Service keeps its IP
# (in /status, in `check --state-file`, and in BIRD's RIB); the new one gets a
# free address. A control run of `check` without the state file proves the
# reordering would otherwise have moved an IP. While the first speaker runs, a
# second one on the same state file exits 1 naming the file and the holder's
# PID (the lock), and no temporary state file is left behind.
#
#   node "NodeA" (oxlb-speaker, AS 64512) eth0 192.0.2.1/30 2001:db8:1::1/64
#        --- eth0 192.0.2.2/30 2001:db8:1::2/64  router (BIRD, AS 64513, passive)
set -euo pipefail
E2E_TEST_NAME=33-speaker-restart
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/speaker.sh"
require bird birdc jq curl

cfg=$E2E_TMP/config; examples_copy "$cfg"
state=$E2E_TMP/state.json
ns_create node; ns_create router
ns_link node eth0 192.0.2.1/30,2001:db8:1::1/64 router eth0 192.0.2.2/30,2001:db8:1::2/64
bird_start router router <<'CONF'
router id 192.0.2.2;
protocol device {}
template bgp lb { local as 64513; passive on; hold time 9; keepalive time 3; }
protocol bgp oxlb4 from lb { neighbor 192.0.2.1 as 64512; ipv4 { import all; export none; }; }
protocol bgp oxlb6 from lb { neighbor 2001:db8:1::1 as 64512; ipv6 { import all; export none; }; }
CONF

ipmap() { jq -r '.services[] | "\(.namespace)/\(.name)=\(.ips | join(","))"' | sort; }
speaker_start sp node "$cfg" NodeA --state-file "$state"
wait_until 20 bird_established router oxlb4 || speaker_die sp "IPv4 session not Established"
wait_until 20 bird_established router oxlb6 || speaker_die sp "IPv6 session not Established"
wait_until 10 eval '[[ $(bird_rib router ipv4 | wc -l) == 6 ]]' || speaker_die sp "BIRD did not learn 6 IPv4 VIPs"
before=$(speaker_status sp | ipmap)
log "allocations before restart:"; sed 's/^/    /' <<<"$before" >&2
[[ $(wc -l <<<"$before") == 8 ]] || speaker_die sp "want 8 Services before restart"
grep -qx 'default/example=172.16.13.0' <<<"$before" || speaker_die sp "precondition: default/example should hold 172.16.13.0"
rib_before=$(bird_rib router ipv4; bird_rib router ipv6)

saved_at=$(speaker_metric sp oxlb_state_file_last_save_success_timestamp_seconds) || speaker_die sp "no oxlb_state_file_last_save_success_timestamp_seconds"
awk -v t="$saved_at" -v now="$(date +%s)" 'BEGIN { exit !(t > now - 600 && t <= now + 1) }' \
  || speaker_die sp "last state file save at '$saved_at', want within the last 10 min"
[[ $(speaker_metric sp oxlb_state_file_save_failures_total) == 0 && $(speaker_metric sp oxlb_state_file_unsaved_allocations) == 0 ]] \
  || speaker_die sp "state file save failures or unsaved allocations reported on a writable state file"
log "ok: state file saved (timestamp $saved_at), no failures, nothing held back"

# ---- a second speaker on the same state file is refused (lock) ----
_speaker_ensure_bin
rc=0
second=$(nsx node timeout 10 "$SPEAKER_BIN" standalone --config "$cfg" --node-name NodeA \
  --state-file "$state" --metrics-addr 127.0.0.1:$((SPEAKER_PORT + 1)) 2>&1) || rc=$?
((rc == 1)) || { echo "$second" >&2; speaker_die sp "second speaker on $state: exit $rc, want 1 (124 = it kept running)"; }
[[ $second == *"state file $state: locked by another process (pid $(daemon_pid sp))"* ]] \
  || { echo "$second" >&2; speaker_die sp "second speaker's error does not name the state file and the holder's pid"; }
log "ok: second speaker refused: $second"
daemon_alive sp || die "the first speaker died when a second one tried the same state file"
tmps=$(cd "$(dirname "$state")" && ls -a | grep -c '^state\.json\.tmp' || true)
[[ $tmps == 0 ]] || die "temporary state files left behind: $tmps"

# ---- SIGTERM: Cease to the router, exit 0, state persisted ----
speaker_stop sp
wait_until 5 eval 'bird_not_established router oxlb4 && bird_not_established router oxlb6' || die "BIRD still Established after SIGTERM"
for p in oxlb4 oxlb6; do
  info=$(bird_cmd router show protocols all $p)
  grep -Eiq 'Last error: +Received: (Administrative shutdown|Cease)' <<<"$info" \
    || { echo "$info" >&2; die "BIRD $p did not record a received Cease/Administrative shutdown"; }
done
log "ok: BIRD received Cease (Administrative shutdown) on both sessions: $(bird_cmd router show protocols all oxlb4 | grep 'Last error' | xargs)"
[[ -s $state ]] || die "no state file after SIGTERM"
for ip in 172.16.13.0 172.16.13.1 1.2.3.4 2001:db8:100::; do
  grep -q "\"$ip\"" "$state" || { cat "$state" >&2; die "state file lacks $ip"; }
done

# ---- reorder: reverse the file-name order, add a Service that sorts first ----
i=99
for f in $(cd "$cfg" && ls *.yaml); do
  mv "$cfg/$f" "$cfg/$(printf '%02d' $i)-${f#*-}"; i=$((i - 7))
done
cat >"$cfg/00-aaa-first.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata:
  name: aaa-first
  namespace: default
spec:
  type: LoadBalancer
  ports: [{port: 80}]
Y
log "config files now: $(cd "$cfg" && ls | tr '\n' ' ')"
_speaker_ensure_bin
control=$("$SPEAKER_BIN" check --config "$cfg" --node-name NodeA --output json | ipmap)
if diff <(grep -v aaa-first <<<"$control") <(cat <<<"$before") >/dev/null; then
  die "control: without the state file the new Service should displace default/example's 172.16.13.0 (test would be meaningless)"
else
  log "control (no state file) would move: $(diff <(grep -v aaa-first <<<"$control") <(cat <<<"$before") | grep '^<' | tr '\n' ' ')"
fi
withstate=$("$SPEAKER_BIN" check --config "$cfg" --node-name NodeA --output json --state-file "$state" | ipmap)
diff <(grep -v aaa-first <<<"$withstate") <(cat <<<"$before") >&2 || die "check --state-file does not keep the previous IPs"
log "ok: check --state-file keeps every previous IP"

# ---- restart ----
speaker_start sp node "$cfg" NodeA --state-file "$state"
wait_until 20 bird_established router oxlb4 || speaker_die sp "IPv4 session not Established after restart"
wait_until 20 bird_established router oxlb6 || speaker_die sp "IPv6 session not Established after restart"
after=$(speaker_status sp | ipmap)
log "allocations after restart:"; sed 's/^/    /' <<<"$after" >&2
diff <(grep -v aaa-first <<<"$after") <(cat <<<"$before") >&2 || speaker_die sp "a Service's IP changed across the restart"
new=$(sed -n 's|^default/aaa-first=||p' <<<"$after")
[[ $new =~ ^172\.16\.13\.[0-9]+$ ]] || speaker_die sp "default/aaa-first got '$new', want a free 172.16.13.x"
used=$(cut -d= -f2 <<<"$before" | tr ',' '\n') || die "cannot list the IPs in use before the restart"
[[ -n $used ]] || die "no IPs in use before the restart"
grep -qx -- "$new" <<<"$used" && speaker_die sp "default/aaa-first got $new, an IP already in use"
log "ok: every previous Service kept its IP; default/aaa-first got $new"
want_rib=$( { printf '%s\n' "$rib_before"; printf '%s/32 nh=192.0.2.1 path=64512 lp=100 med=- comm=64512:100 lcomm=64512:1:1\n' "$new"; } | sort)
if ! wait_until 10 eval '[[ $( { bird_rib router ipv4; bird_rib router ipv6; } | sort) == "$want_rib" ]]'; then
  diff <( { bird_rib router ipv4; bird_rib router ipv6; } | sort) <(cat <<<"$want_rib") >&2 || true
  speaker_die sp "BIRD's RIB after restart is not the old routes + $new/32"
fi
log "ok: BIRD's RIB after restart = the same $(wc -l <<<"$rib_before") routes + $new/32"
speaker_stop sp
log "PASS"
