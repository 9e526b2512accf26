#!/usr/bin/env bash
# oxlb-speaker kubernetes: the L2 members come from the speaker Pods, not
# from flags. Real kube-apiserver (lib/kube.sh), the three-node L2 segment of
# lib/l2topo.sh, speakers in n1 and n2 (later n3) with deploy/'s speaker
# RBAC and NO --ml-members. The test creates the Pod objects with kubectl
# (labels app=metallb,component=speaker, MetalLB's METALLB_ML_LABELS
# default, spec.nodeName) and sets status.podIP with
# `kubectl patch --subresource=status`, as a kubelet would:
#   Pods on n1, n2         -> both speakers list exactly n1, n2 as members,
#                             both alive; 192.0.2.100 (election order n3, n2,
#                             n1) is answered by arping from n2's MAC;
#   Pod on n3 + its speaker-> every speaker lists n1, n2, n3, all alive; the
#                             VIP moves to n3 (arping sees n3's MAC); n1 and n2
#                             never restarted their L2 node (same PID, no
#                             "node started" line after the first);
#   n3's Pod deleted       -> n1 and n2 drop n3 from their member list (gone,
#                             not merely down) while n3's speaker still runs;
#                             then the speaker is stopped (the kubelet's
#                             SIGTERM) and arping answers from n2 again.
set -euo pipefail
E2E_TEST_NAME=49-speaker-members
source "$(dirname "$0")/../lib/l2speaker.sh"
source "$(dirname "$0")/../lib/kube.sh"
require socat
REPO=$(cd "$(dirname "$0")/../.." && pwd)
VIP=$L2_VIP4

BIN=$(kube_speaker_bin)
help=$("$BIN" kubernetes --help) || die "$BIN kubernetes --help failed"
[[ $help == *--ml-labels* ]] || die "$BIN kubernetes has no --ml-labels"

kube_up
kubectl apply -f "$REPO/deploy/crds.yaml" >/dev/null || die "kubectl apply deploy/crds.yaml failed"
kubectl wait --for=condition=Established --timeout=30s -f "$REPO/deploy/crds.yaml" >/dev/null ||
  die "CRDs not established"
kubectl create namespace metallb-system >/dev/null || die "kubectl create namespace failed"
kubectl apply -f "$REPO/e2e/configs/l2/failover/00-nodes.yaml" >/dev/null || die "kubectl apply Nodes failed"
for n in "${L2_NODES[@]}"; do
  kubectl patch node "$n" --subresource=status --type=merge \
    -p "{\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"$(l2_node_ip4 "$n")\"}]}}" >/dev/null ||
    die "node $n: status patch failed"
done
kubectl apply -f - >/dev/null <<'EOF2' || die "kubectl apply pool/ad/service failed"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec:
  addresses: [192.0.2.100/32]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: lan, namespace: metallb-system}
spec: {ipAddressPools: [lan]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: LoadBalancer
  ports: [{port: 80, protocol: TCP}]
EOF2
# As oxlb-controller writes it.
kubectl annotate --overwrite svc web -n default metallb.io/ip-allocated-from-pool=lan >/dev/null ||
  die "annotate svc web failed"
kubectl patch svc web -n default --subresource=status --type=merge \
  -p "{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"$VIP\"}]}}}" >/dev/null || die "svc web: status patch failed"

# The speaker Pods: created as the DaemonSet controller would (no kubelet
# runs them here), the IP set through the status subresource as a kubelet
# does; the ServiceAccount must exist for the Pod to be admitted.
kubectl create serviceaccount oxlb-speaker -n metallb-system >/dev/null || die "create serviceaccount failed"
pod_create() { # NODE
  kubectl apply -f - >/dev/null <<EOF2 || die "kubectl apply Pod speaker-$1 failed"
apiVersion: v1
kind: Pod
metadata:
  name: speaker-$1
  namespace: metallb-system
  labels: {app: metallb, component: speaker}
spec:
  nodeName: $1
  hostNetwork: true
  serviceAccountName: oxlb-speaker
  automountServiceAccountToken: false
  containers: [{name: speaker, image: oxlb.invalid/speaker:test}]
EOF2
  local ip; ip=$(l2_node_ip4 "$1")
  kubectl patch pod "speaker-$1" -n metallb-system --subresource=status --type=merge \
    -p "{\"status\":{\"phase\":\"Running\",\"podIP\":\"$ip\",\"podIPs\":[{\"ip\":\"$ip\"}],\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}" >/dev/null ||
    die "pod speaker-$1: status patch failed"
  [[ $(kubectl get pod "speaker-$1" -n metallb-system -o jsonpath='{.status.podIP}') == "$ip" ]] ||
    die "pod speaker-$1: status.podIP did not stick"
}

kubectl apply -f "$REPO/deploy/rbac-speaker.yaml" >/dev/null || die "kubectl apply deploy/rbac-speaker.yaml failed"
TOK=$(kube_token_for oxlb-speaker metallb-system)
kubectl_as "$TOK" get pods -n metallb-system >/dev/null || die "the speaker's token cannot list Pods in metallb-system (deploy/rbac-speaker.yaml)"
SA_KC=$E2E_TMP/speaker.kubeconfig
cat > "$SA_KC" <<EOF2
apiVersion: v1
kind: Config
clusters: [{name: rig, cluster: {server: "$KUBE_RIG_URL", certificate-authority: "$KUBE_RIG_CA"}}]
users: [{name: oxlb-speaker, user: {token: "$TOK"}}]
contexts: [{name: c, context: {cluster: rig, user: oxlb-speaker}}]
current-context: c
EOF2

l2_topo_create
# The rig inside every node namespace: kube_bridge_up for n1 (the root side
# and its socket), then the same socket forwarded inside n2 and n3.
kube_bridge_up n1
API_PORT=${KUBE_RIG_URL##*:}; API_PORT=${API_PORT%%/*}
for n in n2 n3; do
  spawn "$n" "$E2E_TMP/kube-bridge-$n.log" socat "TCP-LISTEN:$API_PORT,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$E2E_TMP/kube-api.sock"
  wait_until 5 nsx "$n" bash -c "exec 3<>/dev/tcp/127.0.0.1/$API_PORT" || die "the API bridge does not answer inside $n"
done

start_speaker() { # NODE
  local n=$1 d; d=$(daemon_dir "sp-$n")
  _SPEAKER_PORT[sp-$n]=$SPEAKER_PORT
  local cmd=("$BIN" kubernetes --node-name "$n" --namespace metallb-system --kubeconfig "$SA_KC"
    --metrics-addr "127.0.0.1:$SPEAKER_PORT" --ml-bind-addr "$(l2_node_ip4 "$n"):7946"
    --ml-secret-file "$L2SP_KEY")
  printf '%q ' "${cmd[@]}" >"$d/cmdline"
  spawn "$n" "$d/log" env RUST_BACKTRACE=1 "${cmd[@]}"
  _daemon_started "sp-$n" "$n" "$E2E_LAST_PID"
  wait_until 30 grep -q 'stores ready' "$d/log" || speaker_die "sp-$n" "sp-$n: the stores did not get ready"
}
# members NODE: the member list NODE's /status shows, "name:alive" sorted
# (fails when /status does not answer or has no L2 section).
members() {
  local st; st=$(speaker_status "sp-$1") || return 2
  jq -er '.l2.members | map("\(.name):\(.alive)") | sort | join(" ")' <<<"$st"
}
expect_members() { # WANT NODE...
  local want=$1 n; shift
  for n in "$@"; do
    wait_until 15 eval '[[ $(members "$n") == "$want" ]]' ||
      speaker_die "sp-$n" "sp-$n: members '$(members "$n" || echo QUERY-FAILED)', want '$want'"
  done
  log "ok: $* list members '$want'"
}
expect_mac_of() { # NODE WHAT
  local want; want=$(l2_node_mac "$1" a)
  wait_until 15 eval '[[ $(l2_arping_mac "$VIP") == "$want" ]]' ||
    { log "arping $VIP: '$(l2_arping_mac "$VIP")'"; speaker_die "sp-$1" "$2: $VIP is not answered from $1 ($want)"; }
  log "ok: $2: arping $VIP answered from $1 ($want)"
}

# ---- two Pods, two speakers ----
pod_create n1; pod_create n2
start_speaker n1; start_speaker n2
expect_members "n1:true n2:true" n1 n2
expect_mac_of n2 "members n1, n2"
[[ $(l2sp_winner n1 "$VIP") == n2 ]] || speaker_die sp-n1 "sp-n1 does not elect n2 for $VIP"
pid1=$(daemon_pid sp-n1); pid2=$(daemon_pid sp-n2)

# ---- a third Pod joins ----
pod_create n3
start_speaker n3
expect_members "n1:true n2:true n3:true" n1 n2 n3
expect_mac_of n3 "n3 joined"
for n in n1 n2; do
  [[ $(l2sp_winner "$n" "$VIP") == n3 ]] || speaker_die "sp-$n" "sp-$n does not elect n3 for $VIP after the join"
  c=$(grep -c 'L2: node started' "$(daemon_dir "sp-$n")/log") || c=0
  [[ $c == 1 ]] || speaker_die "sp-$n" "sp-$n: the L2 node started $c times (want once: the join must not restart it)"
  grep -q 'L2: the member list changed' "$(daemon_dir "sp-$n")/log" || speaker_die "sp-$n" "sp-$n: no 'member list changed' line"
done
[[ $(daemon_pid sp-n1) == "$pid1" && $(daemon_pid sp-n2) == "$pid2" ]] || die "a speaker was restarted"

# ---- n3's Pod deleted: it leaves the member list ----
kubectl delete pod speaker-n3 -n metallb-system --wait=false >/dev/null || die "kubectl delete pod speaker-n3 failed"
daemon_alive sp-n3 || die "sp-n3 died before its Pod was gone from the others' lists"
expect_members "n1:true n2:true" n1 n2
daemon_alive sp-n3 || die "sp-n3 is not running: the list must have changed through the API, not a leave"
# The kubelet would now stop the container.
speaker_stop sp-n3
expect_mac_of n2 "n3's Pod deleted"
for n in n1 n2; do
  [[ $(l2sp_winner "$n" "$VIP") == n2 ]] || speaker_die "sp-$n" "sp-$n does not elect n2 after n3 left"
done
for n in n1 n2; do speaker_stop "sp-$n"; done
log "PASS"
