#!/usr/bin/env bash
# oxlb-speaker kubernetes against a real kube-apiserver (the rig, lib/kube.sh)
# and BIRD: deploy/crds.yaml applied, a pool + BGPPeer + BGPAdvertisement and
# a LoadBalancer Service created with kubectl; the speaker runs inside the
# node namespace with a ServiceAccount token (deploy/rbac-speaker.yaml) and reaches the rig through kube_bridge_up (socat over a
# Unix socket). The Service's status is set with
# `kubectl patch --subresource=status`, as oxlb-controller writes it:
#   no status address -> nothing announced (the speaker never allocates);
#   status 198.51.100.5 -> BIRD holds 198.51.100.5/32 via the node;
#   status changed to .6 -> the route moves;
#   bridge cut (the API server unreachable from the node) -> stale metric 1,
#     the route stays and the session stays up, although the Service is
#     deleted and another one created meanwhile;
#   bridge back -> catches up (.6 withdrawn, .7 announced), stale 0;
#   Service deleted -> withdrawn. The BGP session is never reset.
#
#   node "NodeA" (oxlb-speaker, AS 64512) eth0 192.0.2.1/30
#        --- eth0 192.0.2.2/30  router (BIRD, AS 64513, passive)
set -euo pipefail
E2E_TEST_NAME=46-speaker-kube
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/speaker.sh"
source "$(dirname "$0")/../lib/kube.sh"
require bird birdc jq curl socat
REPO=$(cd "$(dirname "$0")/../.." && pwd)

BIN=$(kube_speaker_bin)
"$BIN" kubernetes --help >/dev/null || die "$BIN has no kubernetes subcommand"

kube_up
kubectl apply -f "$REPO/deploy/crds.yaml" >/dev/null
kubectl wait --for=condition=Established --timeout=30s -f "$REPO/deploy/crds.yaml" >/dev/null
kubectl create namespace metallb-system >/dev/null
kubectl apply -f - >/dev/null <<'EOF2'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: default, namespace: metallb-system}
spec:
  addresses: [198.51.100.0/28]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor-v4, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.2, holdTime: 9s}
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: communities, namespace: metallb-system}
spec:
  communities: [{name: lb-vips, value: "64512:100"}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: all-pools, namespace: metallb-system}
spec: {communities: [lb-vips]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: LoadBalancer
  ports: [{port: 80, protocol: TCP}]
EOF2
# As oxlb-controller does it: the pool annotation, then the status subresource.
set_status() { # NAME IP POOL
  kubectl annotate --overwrite svc "$1" -n default "metallb.io/ip-allocated-from-pool=$3" >/dev/null
  kubectl patch svc "$1" -n default --subresource=status --type=merge \
    -p "{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"$2\"}]}}}" >/dev/null
  [[ $(kubectl get svc "$1" -n default -o jsonpath='{.status.loadBalancer.ingress[0].ip}') == "$2" ]] ||
    die "svc $1: status patch did not stick"
}

# The speaker runs with a ServiceAccount token and deploy/'s own speaker
# RBAC, so a watch outside it fails here.
kubectl apply -f "$REPO/deploy/rbac-speaker.yaml" >/dev/null || die "kubectl apply deploy/rbac-speaker.yaml failed"
TOK=$(kube_token_for oxlb-speaker metallb-system)
rc=0; out=$(kubectl_as "$TOK" get secrets -n default 2>&1) || rc=$?
if ((rc == 0)) || [[ $out != *forbidden* ]]; then die "speaker token: get secrets -n default: rc=$rc, want forbidden: $out"; fi
SA_KC=$E2E_TMP/speaker.kubeconfig
cat > "$SA_KC" <<EOF2
apiVersion: v1
kind: Config
clusters: [{name: rig, cluster: {server: "$KUBE_RIG_URL", certificate-authority: "$KUBE_RIG_CA"}}]
users: [{name: oxlb-speaker, user: {token: "$TOK"}}]
contexts: [{name: c, context: {cluster: rig, user: oxlb-speaker}}]
current-context: c
EOF2

ns_create node; ns_create router
ns_link node eth0 192.0.2.1/30 router eth0 192.0.2.2/30
bird_start router router <<'CONF'
router id 192.0.2.2;
protocol device {}
protocol bgp oxlb4 { local as 64513; neighbor 192.0.2.1 as 64512; passive on; hold time 30; keepalive time 3;
  ipv4 { import all; export none; }; }
CONF
kube_bridge_up node

d=$(daemon_dir sp)
cmd=("$BIN" kubernetes --node-name NodeA --namespace metallb-system --kubeconfig "$SA_KC"
  --metrics-addr "127.0.0.1:$SPEAKER_PORT")
printf '%q ' "${cmd[@]}" >"$d/cmdline"
spawn node "$d/log" env RUST_BACKTRACE=1 "${cmd[@]}"
_daemon_started sp node "$E2E_LAST_PID"
wait_until 30 grep -q 'stores ready' "$d/log" || speaker_die sp "the speaker's stores did not get ready"
wait_until 20 bird_established router oxlb4 || speaker_die sp "BGP session not Established"

# The prefixes BIRD holds, sorted; a failed query prints a word no wanted
# set can equal, so a dead BIRD never matches (not even an empty want).
v4set() { local r; r=$(bird_rib router ipv4) || { echo "QUERY-FAILED"; return 2; }; [[ -z $r ]] && return 0; awk '{print $1}' <<<"$r" | sort | tr '\n' ' '; }
want() { (($#)) || return 0; printf '%s\n' "$@" | sort | tr '\n' ' '; }
expect_v4() { # WHAT PREFIX...
  local what=$1; shift
  local w; w=$(want "$@")
  if ! wait_until "${WAIT:-15}" eval '[[ $(v4set) == "$w" ]]'; then
    log "BIRD IPv4: '$(v4set)'"; log "want:      '$w'"; speaker_die sp "$what: BIRD's IPv4 RIB is wrong"
  fi
  log "ok: $what: BIRD IPv4 RIB = '$w'"
}
stale() { speaker_metric sp metallb_k8s_client_config_stale_bool; }
services_in_status() { speaker_status sp | jq -r '[.services[] | "\(.namespace)/\(.name)"] | sort | join(" ")'; }

# ---- no status address: nothing announced, nothing allocated ----
wait_until 10 eval '[[ $(speaker_metric sp metallb_k8s_client_config_loaded_bool) == 1 ]]' ||
  speaker_die sp "config not loaded from the API server"
[[ $(services_in_status sp) == "" ]] || speaker_die sp "a Service without status address is in /status: $(services_in_status)"
expect_v4 "no status yet" 

# ---- status set: announced ----
set_status web 198.51.100.5 default
expect_v4 "status 198.51.100.5" 198.51.100.5/32
rib=$(bird_rib router ipv4) || speaker_die sp "BIRD query failed"
grep -Eq '^198\.51\.100\.5/32 nh=192\.0\.2\.1 path=64512 .*comm=64512:100' <<<"$rib" ||
  { log "$rib"; speaker_die sp "198.51.100.5/32 lacks next hop 192.0.2.1 / path 64512 / community 64512:100"; }

# ---- status changed: the route moves ----
set_status web 198.51.100.6 default
expect_v4 "status moved to .6" 198.51.100.6/32

# ---- API unreachable: last known state kept ----
kube_bridge_down
wait_until 20 eval '[[ $(stale) == 1 ]]' || speaker_die sp "stale metric not 1 with the API server unreachable"
log "ok: API unreachable: stale metric 1"
kubectl delete svc web -n default >/dev/null
kubectl apply -f - >/dev/null <<'EOF2'
apiVersion: v1
kind: Service
metadata: {name: web2, namespace: default}
spec:
  type: LoadBalancer
  ports: [{port: 443, protocol: TCP}]
EOF2
set_status web2 198.51.100.7 default
sleep 5
[[ $(v4set) == "$(want 198.51.100.6/32)" ]] || speaker_die sp "during the outage BIRD's RIB changed: '$(v4set)'"
bird_established router oxlb4 || speaker_die sp "the BGP session dropped during the API outage"
log "ok: API unreachable for 5 s: 198.51.100.6/32 still announced, session up"

# ---- API back: catches up ----
kube_bridge_up node
WAIT=45 expect_v4 "API back: caught up" 198.51.100.7/32
wait_until 10 eval '[[ $(stale) == 0 ]]' || speaker_die sp "stale metric not back to 0"

# ---- Service deleted: withdrawn ----
kubectl delete svc web2 -n default >/dev/null
expect_v4 "Service deleted" 

c=$(speaker_session sp 192.0.2.2 .established_count)
[[ $c == 1 ]] || speaker_die sp "the session was reset (established_count=$c)"
grep -q 'watch failing' "$d/log" || speaker_die sp "no 'watch failing' line in the speaker log"
rss=$(awk '/^VmRSS/ {print $2, $3}' "/proc/$(daemon_pid sp)/status") || die "cannot read the speaker's VmRSS"
log "speaker VmRSS at the end: $rss (binary: $BIN)"
log "PASS"
