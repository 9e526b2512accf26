#!/usr/bin/env bash
# oxlb-controller against a real kube-apiserver: edits after allocation, as
# MetalLB handles them. Service edited (address-pool annotation,
# loadBalancerIP, type no longer LoadBalancer: ingress and annotation
# cleared, IP freed); pool shrunk (an orphaned IP: ClearAssignment, then
# re-allocated from what is left, or AllocationFailed and cleared); Service
# deleted (its IP goes to a pending Service); namespace labels changed
# (serviceAllocation.namespaceSelectors: added, then removed: ClearAssignment
# and cleared); an overlapping pool (a
# ConfigurationError Event naming spec.addresses, config_stale_bool 1,
# ConfigurationState/controller Invalid with the error, then Valid again; the
# last good config keeps allocating); a status write denied by RBAC is
# retried with backoff, well before the 30 s resync; a malformed request
# (loadBalancerIP and metallb.io/loadBalancerIPs both) gets a Warning
# LoadBalancerFailed Event and no IP.
set -euo pipefail
E2E_TEST_NAME=42-controller-edits
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/kube.sh"
require jq curl
CTL_BIN=$(kube_controller_bin)
kube_up
kube_controller_setup

kubectl apply -f - >/dev/null <<'EOF2'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: p1, namespace: metallb-system}
spec: {addresses: [198.51.100.0/29]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: p2, namespace: metallb-system}
spec: {addresses: [203.0.113.0/30], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: p3, namespace: metallb-system}
spec:
  addresses: [203.0.113.8/30]
  autoAssign: false
  serviceAllocation:
    namespaceSelectors: [{matchLabels: {team: blue}}]
---
apiVersion: v1
kind: Namespace
metadata: {name: team}
EOF2
kube_controller_start 1

lb() { # NAME [NS [EXTRA-METADATA-YAML [EXTRA-SPEC-YAML]]]
  kubectl apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Service
metadata:
  name: $1
  namespace: ${2:-default}
${3:-}
spec:
  type: LoadBalancer
  ports: [{port: 80}]
${4:-}
EOF2
}
expect() { # NAME IP POOL [NS]
  wait_until 20 svc_has_ip "$1" "$2" "${4:-default}" || die "svc $1: EXTERNAL-IP '$(svc_ip "$1" "${4:-default}")', want '$2'; log: $(tail -3 "$CTL_LOG")"
  local p; p=$(svc_pool "$1" "${4:-default}")
  [[ $p == "$3" ]] || die "svc $1: metallb.io/ip-allocated-from-pool '$p', want '$3'"
}
for s in a b c; do
  lb $s
  expect $s "198.51.100.$(( $(printf '%d' "'$s") - 97 ))" p1
done
log "a b c: 198.51.100.0-2 from p1"

# ---- Service edits ----
lb a default '  annotations: {metallb.io/address-pool: p2}'
expect a 203.0.113.0 p2
lb b default '' '  loadBalancerIP: 198.51.100.5'
expect b 198.51.100.5 p1
kubectl patch svc c -n default --type merge -p '{"spec":{"type":"ClusterIP"}}' >/dev/null
wait_until 20 test -z "$(svc_ip c)$(svc_pool c)" || die "svc c (now ClusterIP): ingress '$(svc_ip c)' annotation '$(svc_pool c)', want both cleared"
lb d
expect d 198.51.100.0 p1
log "edits: a -> p2 203.0.113.0, b loadBalancerIP 198.51.100.5, c ClusterIP cleared, d got the freed 198.51.100.0"

# ---- pool shrink: b's 198.51.100.5 leaves p1 (requested: fails); a's 203.0.113.0 leaves p2 (re-allocated) ----
kubectl apply -f - >/dev/null <<'EOF2'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: p1, namespace: metallb-system}
spec: {addresses: [198.51.100.0/30]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: p2, namespace: metallb-system}
spec: {addresses: [203.0.113.2/31], autoAssign: false}
EOF2
expect a 203.0.113.2 p2
wait_until 20 svc_has_event a ClearAssignment || die "svc a: no ClearAssignment Event after p2 shrank"
wait_until 20 svc_has_ip b '' || die "svc b: EXTERNAL-IP '$(svc_ip b)' kept after 198.51.100.5 left p1"
wait_until 20 svc_has_event b ClearAssignment || die "svc b: no ClearAssignment Event"
wait_until 20 svc_has_event b AllocationFailed || die "svc b: no AllocationFailed Event"
msg=$(svc_event b AllocationFailed)
[[ $msg == *198.51.100.5* ]] || die "svc b: AllocationFailed does not name 198.51.100.5: $msg"
[[ -z $(svc_pool b) ]] || die "svc b: pool annotation '$(svc_pool b)' kept while pending"
expect d 198.51.100.0 p1
log "shrink: a re-allocated to 203.0.113.2, b failed ($(head -1 <<<"$msg")), d kept 198.51.100.0"

# ---- Service deleted: its IP goes to the pending Service ----
lb e
expect e 198.51.100.1 p1
lb f
expect f 198.51.100.2 p1
lb g
expect g 198.51.100.3 p1
lb h
wait_until 20 svc_has_event h AllocationFailed || die "svc h: no AllocationFailed with p1 full"
kubectl delete svc e -n default --wait=true >/dev/null
expect h 198.51.100.1 p1
wait_until 20 svc_has_event h IPAllocated || die "svc h: no IPAllocated Event after e was deleted"
log "delete: e's 198.51.100.1 went to the pending h"

# ---- namespace labels: p3 takes only namespaces labelled team=blue ----
lb t1 team '  annotations: {metallb.io/address-pool: p3}'
wait_until 20 svc_has_event t1 AllocationFailed team || die "svc team/t1: no AllocationFailed while namespace team is unlabelled"
[[ -z $(svc_ip t1 team) ]] || die "svc team/t1 got $(svc_ip t1 team) from p3 without team=blue"
kubectl label namespace team team=blue >/dev/null
expect t1 203.0.113.8 p3 team
log "namespace label team=blue: team/t1 got 203.0.113.8 from p3"
# The label removed: p3 no longer allows team/t1's address (MetalLB: a
# Normal ClearAssignment, then AllocationFailed with p3 the only pool it
# asks for, and the status cleared).
kubectl label namespace team team- >/dev/null
wait_until 20 svc_has_event t1 ClearAssignment team || die "svc team/t1: no ClearAssignment Event after namespace team lost team=blue"
wait_until 20 svc_has_ip t1 '' team || die "svc team/t1: EXTERNAL-IP '$(svc_ip t1 team)' kept after namespace team lost team=blue"
[[ -z $(svc_pool t1 team) ]] || die "svc team/t1: pool annotation '$(svc_pool t1 team)' kept while pending"
log "namespace label removed: team/t1 cleared ($(svc_event t1 ClearAssignment team | head -1))"

# ---- overlapping pool: Event on it, stale config, the last good one keeps running ----
metric() { # NAME -> value (fails when /metrics is unreachable or lacks it)
  local body; body=$(curl -sf --max-time 5 "http://127.0.0.1:$CTL_MPORT/metrics") || return 1
  awk -v n="$1" '$1 == n {print $2; f=1} END {exit !f}' <<<"$body"
}
metric_is() { [[ $(metric "$1") == "$2" ]]; }
metric_is metallb_k8s_client_config_stale_bool 0 || die "config_stale_bool '$(metric metallb_k8s_client_config_stale_bool)' before the overlap, want 0"
# MetalLB's ConfigurationState `controller`: result|errorSummary|condition.
cstate() { kubectl get configurationstate controller -n metallb-system -o jsonpath='{.status.result}|{.status.errorSummary}|{.status.conditions[0].type}={.status.conditions[0].status}'; }
cstate_like() { local v; v=$(cstate) && [[ $v == $1 ]]; }
wait_until 10 cstate_like 'Valid||poolReconcilerValid=True' || die "ConfigurationState controller '$(cstate)' before the overlap, want Valid"
kubectl apply -f - >/dev/null <<'EOF2'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: p4, namespace: metallb-system}
spec: {addresses: [198.51.100.2/31, 192.0.2.0/28]}
EOF2
pool_event() { kubectl get events -n metallb-system --field-selector "involvedObject.name=$1,involvedObject.kind=IPAddressPool,reason=ConfigurationError" -o jsonpath='{range .items[*]}{.message}{"\n"}{end}'; }
pool_has_event() { local m; m=$(pool_event "$1") && [[ -n $m ]]; }
wait_until 20 pool_has_event p4 || die "IPAddressPool p4 (overlaps p1): no ConfigurationError Event"
msg=$(pool_event p4)
[[ $msg == *spec.addresses* && $msg == *p1* ]] || die "IPAddressPool p4 Event does not name spec.addresses and p1: $msg"
wait_until 10 metric_is metallb_k8s_client_config_stale_bool 1 || die "config_stale_bool '$(metric metallb_k8s_client_config_stale_bool)' with overlapping pools, want 1"
metric_is metallb_k8s_client_config_loaded_bool 1 || die "config_loaded_bool '$(metric metallb_k8s_client_config_loaded_bool)', want 1"
log "ConfigurationState now: $(cstate)"
wait_until 10 cstate_like 'Invalid|*p4*spec.addresses*p1*|poolReconcilerValid=False' ||
  die "ConfigurationState controller '$(cstate)' with overlapping pools, want Invalid naming p4, spec.addresses and p1"
kubectl delete svc g -n default --wait=true >/dev/null
lb k
expect k 198.51.100.3 p1
log "overlap: p4 Event '$(head -1 <<<"$msg")', stale 1; k allocated from the last good config"
kubectl delete ipaddresspool p4 -n metallb-system >/dev/null
wait_until 10 metric_is metallb_k8s_client_config_stale_bool 0 || die "config_stale_bool still '$(metric metallb_k8s_client_config_stale_bool)' after p4 was deleted"
wait_until 10 cstate_like 'Valid||poolReconcilerValid=True' || die "ConfigurationState controller '$(cstate)' after p4 was deleted, want Valid"

# ---- a denied status write is retried with backoff, not only at the 30 s resync ----
kubectl delete svc k -n default --wait=true >/dev/null
kubectl delete clusterrolebinding oxlb-controller >/dev/null
lb r
wait_until 20 grep -q 'retrying failed writes' "$CTL_LOG" || die "controller: no retry logged after a denied write; log: $(tail -5 "$CTL_LOG")"
[[ -z $(svc_ip r) ]] || die "svc r got $(svc_ip r) while the controller could not write"
errs=$(metric metallb_k8s_client_update_errors_total) || die "/metrics lacks metallb_k8s_client_update_errors_total"
((errs > 0)) || die "update_errors_total $errs after denied writes, want > 0"
kubectl apply -f "$_KUBE_ROOT/deploy/rbac.yaml" >/dev/null
t0=$SECONDS
# No watch event follows the binding's return: only a retry gets r its IP
# before the 30 s resync.
wait_until 25 svc_has_ip r 198.51.100.3 || die "svc r: EXTERNAL-IP '$(svc_ip r)' 25 s after RBAC came back, want 198.51.100.3 (write not retried before the resync)"
log "denied write retried: r got 198.51.100.3 $((SECONDS - t0)) s after RBAC came back ($errs failed writes)"
kill -0 "$CTL_PID" || die "controller exited: $(tail -5 "$CTL_LOG")"

# ---- a malformed request: spec.loadBalancerIP and metallb.io/loadBalancerIPs both set ----
lb both default '  annotations: {metallb.io/loadBalancerIPs: 198.51.100.6}' '  loadBalancerIP: 198.51.100.6'
wait_until 20 svc_has_event both LoadBalancerFailed || die "svc both (loadBalancerIP and loadBalancerIPs): no LoadBalancerFailed Event"
msg=$(svc_event both LoadBalancerFailed) || die "events of svc both unreadable"
etype=$(kubectl get events -n default --field-selector involvedObject.name=both,reason=LoadBalancerFailed -o jsonpath='{.items[0].type}') || die "events of svc both unreadable"
[[ $etype == Warning ]] || die "svc both: LoadBalancerFailed Event type '$etype', want Warning"
[[ -z $(svc_ip both) ]] || die "svc both got $(svc_ip both) for a malformed request"
log "malformed request: svc both LoadBalancerFailed ($(head -1 <<<"$msg"))"
kill -0 "$CTL_PID" || die "controller exited: $(tail -5 "$CTL_LOG")"
