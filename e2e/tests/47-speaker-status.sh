#!/usr/bin/env bash
# oxlb-speaker kubernetes writes MetalLB's status objects and Events, against
# the real kube-apiserver (lib/kube.sh) with deploy/rbac-speaker.yaml's
# ServiceAccount: two speakers (node-a, node-b) on one L2 segment with BIRD.
#   orphan: a ServiceBGPStatus labelled node-a for a Service that does not
#     exist is deleted when node-a's speaker starts;
#   BGP Service web -> one ServiceBGPStatus per node (generateName bgp-,
#     labels, status node/serviceName/serviceNamespace/peers [tor]);
#   ownerReference: node-a's speaker is given --pod-name/--pod-uid (its
#     objects are owned by that Pod), node-b's is not (no ownerReference);
#   L2 Service dns, L2Advertisement for nodes labelled l2=yes (node-a) ->
#     one ServiceL2Status from node-a (interfaces [eth0]);
#   a second BGPPeer -> both ServiceBGPStatus patched to peers [tor, tor2];
#   the label moved to node-b -> the L2 status object moves to node-b;
#   Events: nodeAssigned once per node and protocol, not on every reload;
#   node-a restarted -> its objects adopted (same names), no new Event;
#   API server cut -> /readyz 503 naming the stale watch; back -> 200;
#   Services deleted -> every status object gone.
#
#   na (node-a) eth0 192.0.2.1/24 --+
#   nb (node-b) eth0 192.0.2.2/24 --+-- sw (bridge)
#   router (BIRD, AS 64513) eth0 192.0.2.3/24 --+
set -euo pipefail
E2E_TEST_NAME=47-speaker-status
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/speaker.sh"
source "$(dirname "$0")/../lib/kube.sh"
require bird birdc jq curl socat
REPO=$(cd "$(dirname "$0")/../.." && pwd)
NS=metallb-system

BIN=$(kube_speaker_bin)
kube_up
kubectl apply -f "$REPO/deploy/crds.yaml" >/dev/null
kubectl wait --for=condition=Established --timeout=30s -f "$REPO/deploy/crds.yaml" >/dev/null
kubectl create namespace $NS >/dev/null
kubectl apply -f "$REPO/deploy/rbac-speaker.yaml" >/dev/null || die "kubectl apply deploy/rbac-speaker.yaml failed"
kubectl apply -f - >/dev/null <<'EOF2'
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {l2: "yes"}}
---
apiVersion: v1
kind: Node
metadata: {name: node-b}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bgp, namespace: metallb-system}
spec: {addresses: [198.51.100.0/28]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: l2, namespace: metallb-system}
spec: {addresses: [192.0.2.100/32]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.3, holdTime: 9s}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: bgp, namespace: metallb-system}
spec: {ipAddressPools: [bgp]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2, namespace: metallb-system}
spec:
  ipAddressPools: [l2]
  nodeSelectors: [{matchLabels: {l2: "yes"}}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}]}
---
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: default}
spec: {type: LoadBalancer, ports: [{port: 53, protocol: UDP}]}
EOF2
set_status() { # NAME IP POOL, as oxlb-controller writes it
  kubectl annotate --overwrite svc "$1" -n default "metallb.io/ip-allocated-from-pool=$3" >/dev/null
  kubectl patch svc "$1" -n default --subresource=status --type=merge \
    -p "{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"$2\"}]}}}" >/dev/null
}
set_status web 198.51.100.5 bgp
set_status dns 192.0.2.100 l2

# A crash's leftover: node-a's label, a Service that does not exist.
kubectl apply -f - >/dev/null <<'EOF2'
apiVersion: metallb.io/v1beta1
kind: ServiceBGPStatus
metadata:
  name: bgp-orphan
  namespace: metallb-system
  labels: {metallb.io/node: node-a, metallb.io/service-name: ghost, metallb.io/service-namespace: default}
spec: {}
EOF2

TOK=$(kube_token_for oxlb-speaker $NS)
SA_KC=$E2E_TMP/speaker.kubeconfig
cat > "$SA_KC" <<EOF2
apiVersion: v1
kind: Config
clusters: [{name: rig, cluster: {server: "$KUBE_RIG_URL", certificate-authority: "$KUBE_RIG_CA"}}]
users: [{name: oxlb-speaker, user: {token: "$TOK"}}]
contexts: [{name: c, context: {cluster: rig, user: oxlb-speaker}}]
current-context: c
EOF2
# What the token may do with the status kinds: exactly what the writer needs.
for v in list create delete; do
  [[ $(kubectl_as "$TOK" auth can-i "$v" servicel2statuses.metallb.io -n $NS) == yes ]] || die "speaker token cannot $v servicel2statuses"
done
rc=0; out=$(kubectl_as "$TOK" auth can-i update servicebgpstatuses.metallb.io -n $NS 2>&1) || rc=$?
[[ $out == no ]] || die "speaker token: can-i update servicebgpstatuses: '$out' (rc $rc), want no"

ns_create na; ns_create nb; ns_create router
bridge_create sw
bridge_attach sw na eth0 192.0.2.1/24
bridge_attach sw nb eth0 192.0.2.2/24
bridge_attach sw router eth0 192.0.2.3/24
bird_start router router <<'CONF'
router id 192.0.2.3;
protocol device {}
protocol bgp na { local as 64513; neighbor 192.0.2.1 as 64512; passive on; hold time 30; keepalive time 3;
  ipv4 { import all; export none; }; }
protocol bgp nb { local as 64513; neighbor 192.0.2.2 as 64512; passive on; hold time 30; keepalive time 3;
  ipv4 { import all; export none; }; }
CONF
kube_bridge_up na
kube_bridge_up nb
KEY=$E2E_TMP/ml.key
printf 'k8sstat-e2e-%s' "$$" >"$KEY"

# SP_LOG: the speakers' RUST_LOG (e.g. info,kube_runtime=debug to debug).
start_sp() { # NAME NS NODE IP [ARGS...]
  local d; d=$(daemon_dir "$1")
  local cmd=("$BIN" kubernetes --node-name "$3" --namespace $NS --kubeconfig "$SA_KC"
    --metrics-addr "127.0.0.1:$SPEAKER_PORT" --ml-members node-a=192.0.2.1,node-b=192.0.2.2
    --ml-bind-addr "$4:7946" --ml-secret-file "$KEY" --l2-fencing off "${@:5}")
  printf '%q ' "${cmd[@]}" >"$d/cmdline"
  [[ -f $d/log ]] && mv -f "$d/log" "$d/log.$(date +%s%N)"
  spawn "$2" "$d/log" env RUST_BACKTRACE=1 RUST_LOG=${SP_LOG:-info} "${cmd[@]}"
  _daemon_started "$1" "$2" "$E2E_LAST_PID"
  wait_until 30 grep -q 'stores ready' "$d/log" || speaker_die "$1" "$1: the stores did not get ready"
}
# node-a is told its Pod (as the DaemonSet's POD_NAME/POD_UID do), node-b not.
POD_A=(--pod-name oxlb-speaker-a --pod-uid 0a0a0a0a-0000-4000-8000-00000000000a)
start_sp spa na node-a 192.0.2.1 "${POD_A[@]}"
start_sp spb nb node-b 192.0.2.2
wait_until 20 bird_established router na || speaker_die spa "BGP session na not Established"
wait_until 20 bird_established router nb || speaker_die spb "BGP session nb not Established"

# Every status object as one line: kind, node label, status.node, Service
# from the labels and from status, the list; sorted, ';'-joined. A failed
# query prints a word no wanted set equals.
statuses() {
  local j
  j=$(kubectl get servicel2statuses,servicebgpstatuses -n $NS -o json) || { echo QUERY-FAILED; return 2; }
  jq -r '.items[] | [.kind, .metadata.labels["metallb.io/node"], .status.node,
      "\(.metadata.labels["metallb.io/service-namespace"])/\(.metadata.labels["metallb.io/service-name"])",
      "\(.status.serviceNamespace)/\(.status.serviceName)",
      ((.status.peers // [.status.interfaces[]?.name]) | join(","))] | join(" ")' <<<"$j" | sort | tr '\n' ';'
}
expect_statuses() { # WHAT WANT
  local want=$2 # (eval runs inside wait_until: its own $2)
  if ! wait_until 20 eval '[[ $(statuses) == "$want" ]]'; then
    log "status objects: '$(statuses)'"; log "want:           '$want'"
    speaker_dump spb; speaker_die spa "$1: the status objects are wrong"
  fi
  log "ok: $1: $2"
}
names_of() { # KIND-PLURAL NODE: the object names of NODE, sorted
  local j
  j=$(kubectl get "$1" -n $NS -l "metallb.io/node=$2" -o json) || { echo QUERY-FAILED; return 2; }
  jq -r '[.items[].metadata.name] | sort | join(" ")' <<<"$j"
}
# nodeAssigned Events on a Service: "type|message" lines, sorted.
events() {
  local j
  j=$(kubectl get events -n default --field-selector "involvedObject.name=$1,reason=nodeAssigned" -o json) ||
    { echo QUERY-FAILED; return 2; }
  jq -r '.items[] | "\(.type)|\(.message)"' <<<"$j" | sort | tr '\n' ';'
}
expect_events() { # SVC WANT
  local svc=$1 want=$2
  if ! wait_until 15 eval '[[ $(events "$svc") == "$want" ]]'; then
    log "events on $svc: '$(events "$svc")'"; log "want:        '$want'"; speaker_die spa "nodeAssigned Events on $1 are wrong"
  fi
  log "ok: Events on $1: $2"
}

BGP_A='ServiceBGPStatus node-a node-a default/web default/web'
BGP_B='ServiceBGPStatus node-b node-b default/web default/web'
L2_A='ServiceL2Status node-a node-a default/dns default/dns eth0'
L2_B='ServiceL2Status node-b node-b default/dns default/dns eth0'
expect_statuses "both speakers up" "$BGP_A tor;$BGP_B tor;$L2_A;"
n=$(names_of servicebgpstatuses node-a) || die "list servicebgpstatuses failed"
[[ $n == bgp-* && $n != *bgp-orphan* && $n != *" "* ]] || die "node-a's ServiceBGPStatus names: '$n' (want one generated bgp-..., the orphan gone)"
n=$(names_of servicel2statuses node-a) || die "list servicel2statuses failed"
[[ $n == l2-* && $n != *" "* ]] || die "node-a's ServiceL2Status names: '$n' (want one generated l2-...)"
# ownerReference: the Pod when the speaker knows it, none otherwise.
owners() { # NODE: each object's ownerReferences as kind/name/uid, sorted
  local j
  j=$(kubectl get servicel2statuses,servicebgpstatuses -n $NS -l "metallb.io/node=$1" -o json) || { echo QUERY-FAILED; return 2; }
  jq -r '.items[] | [(.metadata.ownerReferences // [])[] | "\(.kind)/\(.name)/\(.uid)"] | join(",") | if . == "" then "none" else . end' <<<"$j" | sort | tr '\n' ';'
}
o=$(owners node-a) || die "owners node-a: query failed"
want_o='Pod/oxlb-speaker-a/0a0a0a0a-0000-4000-8000-00000000000a;'
[[ $o == "$want_o$want_o" ]] || die "node-a's objects' ownerReferences: '$o', want the Pod on both"
o=$(owners node-b) || die "owners node-b: query failed"
[[ $o == "none;" ]] || die "node-b's objects' ownerReferences: '$o', want none (no --pod-name/--pod-uid)"
log "ok: ownerReferences: node-a's objects owned by its Pod, node-b's by nothing"
EV_BGP='Normal|announcing from node "node-a" with protocol "bgp";Normal|announcing from node "node-b" with protocol "bgp";'
expect_events web "$EV_BGP"
expect_events dns 'Normal|announcing from node "node-a" with protocol "layer2";'

# ---- the peer set changes: patched in place ----
before=$(names_of servicebgpstatuses node-a) || die "list failed"
kubectl apply -f - >/dev/null <<'EOF2'
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor2, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.9, holdTime: 9s}
EOF2
expect_statuses "second BGPPeer" "$BGP_A tor,tor2;$BGP_B tor,tor2;$L2_A;"
after=$(names_of servicebgpstatuses node-a) || die "list failed"
[[ $after == "$before" ]] || die "the ServiceBGPStatus was replaced ('$before' -> '$after'), not patched"

# ---- the election moves: the L2 object moves ----
kubectl label node node-a l2- >/dev/null
kubectl label node node-b l2=yes >/dev/null
expect_statuses "L2 election moved to node-b" "$BGP_A tor,tor2;$BGP_B tor,tor2;$L2_B;"
expect_events dns 'Normal|announcing from node "node-a" with protocol "layer2";Normal|announcing from node "node-b" with protocol "layer2";'
# Several reloads happened (peer, labels): still one bgp Event per node.
expect_events web "$EV_BGP"

# ---- node-a restarted: adopts its objects, no new Event ----
before=$(names_of servicebgpstatuses node-a) || die "list failed"
kill_pid "$(daemon_pid spa)" 5
start_sp spa na node-a 192.0.2.1 "${POD_A[@]}"
wait_until 20 bird_established router na || speaker_die spa "BGP session na not back"
# Nothing is to change: give the writer time to do something wrong.
sleep 3
after=$(names_of servicebgpstatuses node-a) || die "list failed"
[[ $after == "$before" ]] || die "node-a's ServiceBGPStatus after restart: '$after', want the adopted '$before'"
expect_statuses "node-a restarted" "$BGP_A tor,tor2;$BGP_B tor,tor2;$L2_B;"
[[ $(events web) == "$EV_BGP" ]] || die "a restart sent Events again: '$(events web)'"
log "ok: restart adopted $after, no new Event"

# ---- API server cut: /readyz 503 naming the stale watch ----
readyz() { # SPEAKER: "CODE BODY"
  local ns=${_E2E_DAEMON_NS[$1]} code
  code=$(nsx "$ns" curl -s --max-time 5 -o "$E2E_TMP/readyz.body" -w '%{http_code}' "http://127.0.0.1:$SPEAKER_PORT/readyz") ||
    { echo "QUERY-FAILED"; return 2; }
  printf '%s %s' "$code" "$(cat "$E2E_TMP/readyz.body")"
}
[[ $(readyz spb) == "200 ready" ]] || die "spb /readyz before the outage: '$(readyz spb)'"
kube_bridge_down # both nodes: na's relay forwards through the same socket
wait_until 30 eval '[[ $(readyz spb) == "503 watch cache stale: "* ]]' || speaker_die spb "/readyz not 503 with the API server unreachable: '$(readyz spb)'"
log "ok: API unreachable: /readyz $(readyz spb)"
sleep 5 # an outage the watches notice (as 46's)
[[ $(readyz spa) == "503 watch cache stale: "* ]] || speaker_die spa "/readyz not 503 with the API server unreachable: '$(readyz spa)'"
kube_bridge_up nb
wait_until 45 eval '[[ $(readyz spb) == "200 ready" ]]' || speaker_die spb "/readyz not 200 after the API server came back: '$(readyz spb)'"
wait_until 45 eval '[[ $(readyz spa) == "200 ready" ]]' || speaker_die spa "/readyz not 200 after the API server came back: '$(readyz spa)'"
log "ok: API back: /readyz 200"

# ---- Services deleted: every status object gone ----
kubectl delete svc web dns -n default >/dev/null
expect_statuses "Services deleted" ""
log "PASS"
