#!/usr/bin/env bash
# oxlb-speaker reload on examples/ against BIRD: a Service file added (SIGHUP)
# and one added without a signal (file-change poll) appear in BIRD's RIB; a
# Service file removed is withdrawn; an invalid edit keeps the last good config
# (routes unchanged even though a Service file was also removed in the same
# edit; stale metric 1; /status config.errors names object and field); the fix
# applies (stale 0, the pending removal happens). Neither session is reset by
# any of it (established_count stays 1). Then tor-v4's holdTime changes: only
# that session resets (new hold time negotiated), tor-v6 is untouched. Last,
# a same-length edit with the mtime restored (rsync -t) is applied by SIGHUP.
#
#   node "NodeA" (oxlb-speaker, AS 64512) eth0 192.0.2.1/30 2001:db8:1::1/64
#        --- eth0 192.0.2.2/30 2001:db8:1::2/64  router (BIRD, AS 64513, passive, hold 30)
set -euo pipefail
E2E_TEST_NAME=32-speaker-reload
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/speaker.sh"
require bird birdc jq curl

cfg=$E2E_TMP/config; examples_copy "$cfg"
ns_create node; ns_create router
ns_link node eth0 192.0.2.1/30,2001:db8:1::1/64 router eth0 192.0.2.2/30,2001:db8:1::2/64
bird_start router router <<'CONF'
router id 192.0.2.2;
protocol device {}
template bgp lb { local as 64513; passive on; hold time 30; keepalive time 3; }
protocol bgp oxlb4 from lb { neighbor 192.0.2.1 as 64512; ipv4 { import all; export none; }; }
protocol bgp oxlb6 from lb { neighbor 2001:db8:1::1 as 64512; ipv6 { import all; export none; }; }
CONF
speaker_start sp node "$cfg" NodeA --state-file "$E2E_TMP/state.json"
wait_until 20 bird_established router oxlb4 || speaker_die sp "IPv4 session not Established"
wait_until 20 bird_established router oxlb6 || speaker_die sp "IPv6 session not Established"

# The prefixes BIRD holds, sorted; a failed query prints a word no wanted set
# can equal, so a dead BIRD never matches (not even an empty want).
rib_set() { local r; r=$(bird_rib router "$1") || { echo "QUERY-FAILED"; return 2; }; [[ -z $r ]] && return 0; awk '{print $1}' <<<"$r" | sort | tr '\n' ' '; }
v4set() { rib_set ipv4; }
v6set() { rib_set ipv6; }
want() { printf '%s\n' "$@" | sort | tr '\n' ' '; }
base4=(1.2.3.4/32 172.16.13.0/32 172.16.13.1/32 172.16.13.210/32 192.168.1.100/32 192.168.10.0/32)
expect_v4() { # expect_v4 WHAT PREFIX...
  local what=$1; shift
  local w; w=$(want "$@")
  if ! wait_until 10 eval '[[ $(v4set) == "$w" ]]'; then
    log "BIRD IPv4: $(v4set)"; log "want:      $w"; speaker_die sp "$what: BIRD's IPv4 RIB is wrong"
  fi
  log "ok: $what: BIRD IPv4 RIB = $w"
}
no_reset() {
  local p c
  for p in 192.0.2.2 2001:db8:1::2; do
    c=$(speaker_session sp $p .established_count)
    [[ $c == 1 ]] || speaker_die sp "$1: session $p was reset (established_count=$c)"
  done
  [[ $(bird_since) == "$since0" ]] || { bird_cmd router show protocols >&2; speaker_die sp "$1: BIRD's sessions restarted (since changed)"; }
  [[ $(nlog tor-v4) == 0 && $(nlog tor-v6) == 0 ]] || speaker_die sp "$1: a session was re-created (Cease 'peer configuration changed' in the log)"
  log "ok: $1: no session reset (established_count 1 on both)"
}
bird_since() { bird_cmd router show protocols | awk '$1 ~ /^oxlb/ {print $1, $4, $5, $6}' | tr '\n' ' '; }
nlog() { sed 's/\x1b\[[0-9;]*m//g' "$E2E_TMP/sp/log" | grep -c "sending NOTIFICATION peer=$1 .*peer configuration changed" || true; }
stale() { speaker_metric sp metallb_k8s_client_config_stale_bool; }
expect_v4 "initial" "${base4[@]}"
since0=$(bird_since); log "BIRD sessions: $since0"

# ---- 1. add a Service file, SIGHUP ----
cat >"$cfg/50-added.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata:
  name: added
  namespace: default
  annotations:
    metallb.universe.tf/loadBalancerIPs: 172.16.13.77
spec:
  type: LoadBalancer
  ports: [{port: 80}]
Y
speaker_hup sp
expect_v4 "add (SIGHUP)" "${base4[@]}" 172.16.13.77/32
v4rib=$(bird_rib router ipv4) || speaker_die sp "the BIRD IPv4 query failed"
grep -Eq '^172\.16\.13\.77/32 nh=192\.0\.2\.1 path=64512 lp=[^ ]+ med=- comm=64512:100 lcomm=64512:1:1$' <<<"$v4rib" \
  || { bird_rib router ipv4 >&2; speaker_die sp "added route lacks the advertisement's communities"; }
no_reset "add"

# ---- 2. add another Service file, no signal (file-change poll) ----
cat >"$cfg/51-added-v6.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata:
  name: added-v6
  namespace: default
spec:
  type: LoadBalancer
  ipFamilies: [IPv6]
  ipFamilyPolicy: SingleStack
  loadBalancerIP: 2001:db8:100::77
  ports: [{port: 80}]
Y
if ! wait_until 8 eval '[[ $(v6set) == "$(want 2001:db8:100::/128 2001:db8:100::77/128)" ]]'; then
  log "BIRD IPv6: $(v6set)"; speaker_die sp "IPv6 Service added without SIGHUP did not appear (file-change poll)"
fi
log "ok: add (file poll, no signal): 2001:db8:100::77/128 on the IPv6 session"
expect_v4 "IPv4 unchanged by the IPv6 add" "${base4[@]}" 172.16.13.77/32
no_reset "add v6"

# ---- 3. remove a Service file (default/example, 172.16.13.0), SIGHUP ----
rm "$cfg/30-seed004-random-ip-service.yaml"
speaker_hup sp
expect_v4 "remove" 1.2.3.4/32 172.16.13.1/32 172.16.13.210/32 192.168.1.100/32 192.168.10.0/32 172.16.13.77/32
no_reset "remove"

# ---- 4. invalid edit (plus a removal in the same edit): nothing changes ----
cat >"$cfg/60-broken.yaml" <<'Y'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: broken
  namespace: metallb-system
spec:
  addresses:
  - not-an-ip
Y
mv "$cfg/50-added.yaml" "$E2E_TMP/50-added.yaml.off"
speaker_hup sp
wait_until 5 eval '[[ $(stale) == 1 ]]' || speaker_die sp "stale metric not 1 after an invalid edit"
log "ok: metallb_k8s_client_config_stale_bool 1"
st=$(speaker_status sp)
jq -e '.config.stale == true and .config.loaded == true' <<<"$st" >/dev/null || speaker_die sp "/status config not {loaded: true, stale: true}: $(jq -c .config <<<"$st")"
err=$(jq -r '.config.errors | join(" | ")' <<<"$st")
[[ $err == *"IPAddressPool metallb-system/broken"* && $err == *"spec.addresses[0]"* ]] \
  || speaker_die sp "/status config.errors does not name the object and field: '$err'"
log "ok: /status config.errors: $err"
grep -q 'broken' "$E2E_TMP/sp/log" || speaker_die sp "the invalid config error is not logged"
sleep 1.5   # one more poll period: the removal in the same edit must NOT be applied
expect_v4 "invalid edit keeps the last good config" 1.2.3.4/32 172.16.13.1/32 172.16.13.210/32 192.168.1.100/32 192.168.10.0/32 172.16.13.77/32
[[ $(speaker_metric sp metallb_k8s_client_config_loaded_bool) == 1 ]] || speaker_die sp "config_loaded_bool != 1 while stale"
no_reset "invalid edit"

# ---- 5. fix: the pending removal now applies, stale 0 ----
rm "$cfg/60-broken.yaml"
speaker_hup sp
wait_until 5 eval '[[ $(stale) == 0 ]]' || speaker_die sp "stale metric not back to 0 after the fix"
[[ $(speaker_status sp | jq '.config.errors | length') == 0 ]] || speaker_die sp "/status config.errors not empty after the fix"
log "ok: stale 0, no errors after the fix"
expect_v4 "fix" 1.2.3.4/32 172.16.13.1/32 172.16.13.210/32 192.168.1.100/32 192.168.10.0/32
no_reset "fix"

# ---- 6. holdTime of tor-v4 changes: only tor-v4 resets ----
sed -i '0,/holdTime: 9s/s//holdTime: 12s/' "$cfg/20-bgp.yaml"
[[ $(grep -c 'holdTime: 12s' "$cfg/20-bgp.yaml") == 1 ]] || die "sed did not change exactly tor-v4's holdTime"
up6_before=$(speaker_session sp 2001:db8:1::2 .uptime_secs)
speaker_hup sp
if ! wait_until 15 eval '[[ $(nlog tor-v4) == 1 && $(speaker_session sp 192.0.2.2 .state) == Established && $(speaker_session sp 192.0.2.2 .hold_time) == 12 ]]'; then
  speaker_die sp "tor-v4 was not reset (Cease 'peer configuration changed') and re-established with hold 12"
fi
# (established_count is per session object: the re-created session starts again at 1)
[[ $(speaker_session sp 192.0.2.2 .hold_time) == 12 ]] || speaker_die sp "tor-v4 hold_time $(speaker_session sp 192.0.2.2 .hold_time), want 12"
wait_until 10 eval 'bird_cmd router show protocols all oxlb4 | grep -Eq "Hold timer: +[0-9.]+/12"' \
  || { bird_cmd router show protocols all oxlb4 >&2; speaker_die sp "BIRD did not negotiate hold 12 with tor-v4"; }
[[ $(nlog tor-v6) == 0 && $(speaker_session sp 2001:db8:1::2 .established_count) == 1 ]] || speaker_die sp "tor-v6 was reset by tor-v4's holdTime change"
((up6_before <= $(speaker_session sp 2001:db8:1::2 .uptime_secs))) || speaker_die sp "tor-v6 uptime went backwards"
[[ $(speaker_session sp 2001:db8:1::2 .hold_time) == 9 ]] || speaker_die sp "tor-v6 hold_time changed"
log "ok: tor-v4 reset once with hold 12, tor-v6 untouched"
expect_v4 "after tor-v4 reset" 1.2.3.4/32 172.16.13.1/32 172.16.13.210/32 192.168.1.100/32 192.168.10.0/32
[[ $(v6set) == "$(want 2001:db8:100::/128 2001:db8:100::77/128)" ]] || speaker_die sp "IPv6 routes changed"

# ---- 7. same-length edit with the mtime put back (rsync -t), SIGHUP ----
f=$cfg/51-added-v6.yaml
cp -p "$f" "$E2E_TMP/ref.yaml"
sed -i 's/2001:db8:100::77/2001:db8:100::78/' "$f"
cmp -s "$f" "$E2E_TMP/ref.yaml" && die "sed did not change $f"
touch -r "$E2E_TMP/ref.yaml" "$f"
[[ $(stat -c %s.%Y "$f") == $(stat -c %s.%Y "$E2E_TMP/ref.yaml") ]] || die "size/mtime of $f not restored"
speaker_hup sp
if ! wait_until 8 eval '[[ $(v6set) == "$(want 2001:db8:100::/128 2001:db8:100::78/128)" ]]'; then
  log "BIRD IPv6: $(v6set)"; speaker_die sp "SIGHUP did not apply a same-length edit whose mtime was restored"
fi
log "ok: SIGHUP re-read the file whose size and mtime did not change: ::77 -> ::78"
daemon_alive sp || die "speaker died"
speaker_stop sp
log "PASS"
