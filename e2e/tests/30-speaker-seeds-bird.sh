#!/usr/bin/env bash
# oxlb-speaker standalone on examples/ (the MetalLB objects built from the seed
# documents) against BIRD 2: `check --output json` gives the expected IPs, then
# BIRD's own RIB must hold exactly those prefixes with the right attributes
# (IPv4 VIPs only on the IPv4 session, the IPv6 VIP only on the IPv6 session,
# community 64512:100, large community 64512:1:1); /metrics and /status agree.
#
#   node "NodeA" (oxlb-speaker, AS 64512) eth0 192.0.2.1/30 2001:db8:1::1/64
#        --- eth0 192.0.2.2/30 2001:db8:1::2/64  router (BIRD, AS 64513, passive)
set -euo pipefail
E2E_TEST_NAME=30-speaker-seeds-bird
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/speaker.sh"
require bird birdc jq curl

cfg=$E2E_TMP/config; examples_copy "$cfg"
_speaker_ensure_bin

# ---- the plan, from `check` ----
plan=$("$SPEAKER_BIN" check --config "$cfg" --node-name NodeA --output json) || die "check failed on examples/"
ip_of() { jq -r --arg ns "$1" --arg n "$2" '.services[] | select(.namespace == $ns and .name == $n) | .ips | join(",")' <<<"$plan"; }
pool_of() { jq -r --arg ns "$1" --arg n "$2" '.services[] | select(.namespace == $ns and .name == $n) | .pool' <<<"$plan"; }
expect_eq() { [[ $2 == "$3" ]] || die "$1: got '$2', want '$3'"; log "ok: $1 = $3"; }
[[ $(jq '.errors | length' <<<"$plan") == 0 ]] || die "check reports errors: $plan"
expect_eq "services in plan" "$(jq '.services | length' <<<"$plan")" 8
expect_eq "default/dns-service-tcp ip" "$(ip_of default dns-service-tcp)" 1.2.3.4
expect_eq "default/dns-service-udp ip (shared)" "$(ip_of default dns-service-udp)" 1.2.3.4
expect_eq "seed-variant/metallb-ippool3 ip (loadBalancerIPs)" "$(ip_of seed-variant metallb-ippool3)" 172.16.13.210
expect_eq "seed-variant/nginx ip (loadBalancerIPs)" "$(ip_of seed-variant nginx)" 192.168.1.100
expect_eq "default/nginx pool (annotation, autoAssign false)" "$(pool_of default nginx)" example
nginx_ip=$(ip_of default nginx)
[[ $nginx_ip =~ ^192\.168\.(10\.[0-9]+|9\.[1-5])$ ]] || die "default/nginx ip $nginx_ip is not in pool example"
for s in example metallb-ippool3; do
  expect_eq "default/$s pool" "$(pool_of default $s)" default
  [[ $(ip_of default $s) =~ ^172\.16\.13\.[0-9]+$ ]] || die "default/$s ip $(ip_of default $s) not from 172.16.13.0/24"
done
v6_ip=$(ip_of default web-v6)
[[ $v6_ip =~ ^2001:db8:100:: ]] || die "default/web-v6 ip '$v6_ip' not from 2001:db8:100::/120"
# no other Service may get an address of pool example (autoAssign: false)
n_example=$(jq '[.services[] | select(.pool == "example")] | length' <<<"$plan")
expect_eq "services in pool example" "$n_example" 1
mapfile -t want4 < <(jq -r '.services[].ips[] | select(contains(".")) + "/32"' <<<"$plan" | sort -u)
want6=("$v6_ip/128")
log "expected IPv4 prefixes: ${want4[*]}; IPv6: ${want6[*]}"
expect_eq "distinct IPv4 VIPs" "${#want4[@]}" 6

# ---- the routers ----
ns_create node; ns_create router
ns_link node eth0 192.0.2.1/30,2001:db8:1::1/64 router eth0 192.0.2.2/30,2001:db8:1::2/64
bird_start router router <<'CONF'
router id 192.0.2.2;
protocol device {}
template bgp lb { local as 64513; passive on; hold time 9; keepalive time 3; }
protocol bgp oxlb4 from lb { neighbor 192.0.2.1 as 64512; ipv4 { import all; export none; }; }
protocol bgp oxlb6 from lb { neighbor 2001:db8:1::1 as 64512; ipv6 { import all; export none; }; }
CONF

speaker_start sp node "$cfg" NodeA --state-file "$E2E_TMP/state.json"
wait_until 20 bird_established router oxlb4 || { bird_cmd router show protocols all oxlb4 >&2; speaker_die sp "IPv4 session not Established"; }
wait_until 20 bird_established router oxlb6 || { bird_cmd router show protocols all oxlb6 >&2; speaker_die sp "IPv6 session not Established"; }
log "ok: both sessions Established"

# every expected prefix, exact attributes: nh = speaker's address, path 64512,
# comm 64512:100, lcomm 64512:1:1 (eBGP: no local-pref sent, BIRD shows its own)
rib_exact() {
  local afi=$1 nh=$2; shift 2
  local out rib p
  out=$(bird_routes router "$afi") || return 2
  rib=$(grep -E '^[0-9a-f:.]+/[0-9]+ ' <<<"$out") || [[ $? -eq 1 ]] || return 2
  [[ $(grep -c . <<<"$rib") -eq $# ]] || return 1
  for p in "$@"; do
    grep -Eq "^${p//./\\.} nh=${nh//./\\.} path=64512 lp=[^ ]+ med=- comm=64512:100 lcomm=64512:1:1$" <<<"$rib" || return 1
  done
}
if ! wait_until 15 rib_exact ipv4 192.0.2.1 "${want4[@]}"; then
  bird_rib router ipv4 >&2; speaker_die sp "BIRD's IPv4 RIB is not exactly ${want4[*]}"
fi
log "ok: BIRD IPv4 RIB = ${#want4[@]} VIPs, nh 192.0.2.1, path 64512, comm 64512:100, lcomm 64512:1:1"
if ! wait_until 15 rib_exact ipv6 2001:db8:1::1 "${want6[@]}"; then
  bird_rib router ipv6 >&2; speaker_die sp "BIRD's IPv6 RIB is not exactly ${want6[*]}"
fi
log "ok: BIRD IPv6 RIB = ${want6[*]} (nh 2001:db8:1::1)"
# per-session: nothing IPv6 over the IPv4 session and vice versa
# (each table is read first, so a failed birdc cannot pass as "no such route")
by4=$(bird_cmd router show route protocol oxlb4) || die "birdc: show route protocol oxlb4 failed"
by6=$(bird_cmd router show route protocol oxlb6) || die "birdc: show route protocol oxlb6 failed"
[[ $(grep -cE '^[0-9]+\.' <<<"$by4") -eq ${#want4[@]} ]] || die "oxlb4 does not carry the ${#want4[@]} IPv4 VIPs: $by4"
[[ $(grep -c ':.*/128' <<<"$by4") -eq 0 ]] || die "IPv6 route on the IPv4 session"
[[ $(grep -cE '^[0-9]+\.' <<<"$by6") -eq 0 ]] || die "IPv4 route on the IPv6 session"
[[ $(grep -c "${v6_ip}/128" <<<"$by6") -eq 1 ]] || die "web-v6 not learned over oxlb6"
log "ok: each VIP only over the session of its family"

# ---- /status ----
st=$(speaker_status sp) || speaker_die sp "/status does not answer"
[[ $(jq -r '.config.loaded' <<<"$st") == true ]] || speaker_die sp "/status config.loaded != true"
[[ $(jq -r '.config.stale' <<<"$st") == false ]] || speaker_die sp "/status config.stale != false"
[[ $(jq '.config.errors | length' <<<"$st") == 0 ]] || speaker_die sp "/status config.errors not empty"
for p in 192.0.2.2 2001:db8:1::2; do
  [[ $(speaker_session sp $p .state) == Established ]] || speaker_die sp "/status: session $p not Established"
  [[ $(speaker_session sp $p .established_count) == 1 ]] || speaker_die sp "/status: session $p established_count != 1"
done
[[ $(speaker_session sp 192.0.2.2 .prefixes_announced) == 6 ]] || speaker_die sp "/status: tor-v4 prefixes_announced != 6"
[[ $(speaker_session sp 2001:db8:1::2 .prefixes_announced) == 1 ]] || speaker_die sp "/status: tor-v6 prefixes_announced != 1"
log "ok: /status config loaded, sessions Established with 6 and 1 prefixes"
routes_v4=$(jq -r '.routes | to_entries[] | select(.key | test("tor-v4|192.0.2.2")) | .value[]' <<<"$st" | sort -u | tr '\n' ' ')
[[ $routes_v4 == "$(printf '%s\n' "${want4[@]}" | sort -u | tr '\n' ' ')" ]] \
  || speaker_die sp "/status routes for tor-v4: '$routes_v4' want '${want4[*]}'"
log "ok: /status routes for tor-v4 match"
jq -e --arg ip 1.2.3.4 '[.services[] | tostring | select(contains($ip))] | length >= 2' <<<"$st" >/dev/null \
  || speaker_die sp "/status services: 1.2.3.4 not shown for both DNS Services"

# ---- /metrics ----
mt=$(speaker_metrics sp) || speaker_die sp "/metrics does not answer"
m() { # m SERIES WANT
  local v; v=$(awk -v s="$1" 'index($0, s" ") == 1 { print $NF }' <<<"$mt")
  [[ $v == "$2" ]] || { grep -E '^metallb_(bgp|k8s)' <<<"$mt" >&2; speaker_die sp "metric $1 = '$v', want $2"; }
  log "ok: $1 = $2"
}
m 'metallb_bgp_session_up{peer="192.0.2.2:179"}' 1
m 'metallb_bgp_session_up{peer="[2001:db8:1::2]:179"}' 1
m 'metallb_bgp_announced_prefixes_total{peer="192.0.2.2:179"}' 6
m 'metallb_bgp_announced_prefixes_total{peer="[2001:db8:1::2]:179"}' 1
m 'metallb_bgp_pending_prefixes_total{peer="192.0.2.2:179"}' 6
m 'metallb_k8s_client_config_loaded_bool' 1
m 'metallb_k8s_client_config_stale_bool' 0
m 'metallb_allocator_ipv4_addresses_in_use_total{pool="default"}' 5
m 'metallb_allocator_ipv6_addresses_in_use_total{pool="default"}' 1
grep -Eq '^metallb_speaker_announced\{.*service="default/dns-service-tcp".*ip="1\.2\.3\.4".*\} 1$|^metallb_speaker_announced\{.*ip="1\.2\.3\.4".*service="default/dns-service-tcp".*\} 1$' <<<"$mt" \
  || { grep speaker_announced <<<"$mt" >&2; speaker_die sp "metallb_speaker_announced for dns-service-tcp/1.2.3.4 missing"; }
grep -Eq '^metallb_allocator_addresses_in_use_total\{pool="default"\} 6$' <<<"$mt" \
  || { grep allocator <<<"$mt" >&2; speaker_die sp "metallb_allocator_addresses_in_use_total{pool=default} != 6"; }
grep -Eq '^metallb_allocator_addresses_in_use_total\{pool="example"\} 1$' <<<"$mt" \
  || { grep allocator <<<"$mt" >&2; speaker_die sp "metallb_allocator_addresses_in_use_total{pool=example} != 1"; }
log "ok: metrics (session_up, announced_prefixes, speaker_announced, allocator in_use, config bools)"

# ---- state file ----
[[ -s $E2E_TMP/state.json ]] || speaker_die sp "state file not written"
jq -e . "$E2E_TMP/state.json" >/dev/null || speaker_die sp "state file is not JSON"
grep -q 172.16.13.210 "$E2E_TMP/state.json" || speaker_die sp "state file lacks 172.16.13.210"

speaker_stop sp
wait_until 5 bird_not_established router oxlb4 || die "BIRD still Established after SIGTERM (or BIRD did not answer)"
log "PASS"
