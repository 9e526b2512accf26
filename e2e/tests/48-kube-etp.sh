#!/usr/bin/env bash
# externalTrafficPolicy: Local in a cluster as a MetalLB user has it
# (lib/kube_cluster.sh: deploy/, controller, three speakers, BIRD, an L2
# client). The test writes the EndpointSlices (discovery.k8s.io/v1, label
# kubernetes.io/service-name, endpoints with nodeName and conditions) with
# kubectl, as the EndpointSlice controller would for Pods on those nodes:
# * no slice: neither VIP announced (no BGP path, no ARP answer);
# * BGP VIP web-local: only the nodes with a ready local endpoint (node-b,
#   then node-b + node-c); node-b's endpoint terminating (ready false) ->
#   node-b's path withdrawn; the slice deleted -> withdrawn everywhere;
# * L2 VIP l2-local: elected among the nodes with a ready endpoint (node-b,
#   node-c): arping answered by the elected node only; its endpoint removed
#   -> the other node answers; no endpoint left -> nobody answers.
# How long each change took to reach BIRD / the client is logged (the
# kubectl call included); nothing is asserted on it.
# L2 members from --ml-members (see lib/kube_cluster.sh).
set -euo pipefail
E2E_TEST_NAME=48-kube-etp
source "$(dirname "$0")/../lib/kube_cluster.sh"

kc_up
kc_apply <<'EOF'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: local, namespace: metallb-system}
spec: {addresses: [203.0.113.16/28], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: local, namespace: metallb-system}
spec: {ipAddressPools: [local]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: l2local, namespace: metallb-system}
spec: {addresses: [192.0.2.130/32], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2local, namespace: metallb-system}
spec: {ipAddressPools: [l2local], interfaces: [eth0]}
---
apiVersion: v1
kind: Service
metadata: {name: web-local, annotations: {metallb.io/address-pool: local}}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app: web}
  ports: [{port: 80, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: l2-local, annotations: {metallb.io/address-pool: l2local}}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app: web}
  ports: [{port: 80, protocol: TCP}]
EOF
wait_until 20 svc_has_ip web-local 203.0.113.16 || kc_die "svc web-local: EXTERNAL-IP '$(svc_ip web-local)', want 203.0.113.16"
wait_until 20 svc_has_ip l2-local 192.0.2.130 || kc_die "svc l2-local: EXTERNAL-IP '$(svc_ip l2-local)', want 192.0.2.130"
VIP=203.0.113.16/32 L2VIP=192.0.2.130

# the speakers have applied the Services (both in /status) before "none" is believed
for n in "${KC_NODES[@]}"; do
  wait_until 20 eval '[[ $(kc_get "$n" /status | jq -r "[.services[] | .name] | sort | join(\",\")") == *l2-local*web-local* ]]' ||
    kc_die "${KC_NAME[$n]}: /status does not list both Services"
done
nh=$(kc_nexthops $VIP) || kc_die "BIRD did not answer"
[[ -z $nh ]] || kc_die "web-local without endpoints is announced (via $nh)"
kc_expect_no_arp "l2-local without endpoints" $L2VIP
log "ok: no endpoint slice: nothing announced"

# slice NAME SERVICE [NODE:READY:TERMINATING...]: apply the EndpointSlice
slice() {
  local name=$1 svc=$2 i=0 e node ready term; shift 2
  {
    cat <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $name
  namespace: default
  labels: {kubernetes.io/service-name: $svc, endpointslice.kubernetes.io/managed-by: e2e.oxlb}
addressType: IPv4
ports: [{name: "", port: 80, protocol: TCP}]
endpoints:
EOF
    for e in "$@"; do
      IFS=: read -r node ready term <<<"$e"
      i=$((i + 1))
      cat <<EOF
- addresses: [198.18.0.$i]
  nodeName: $node
  conditions: {ready: $ready, serving: true, terminating: $term}
EOF
    done
    (($#)) || echo "  []"   # no endpoint: endpoints: []
  } | kc_apply
}
# ---- BGP: only from nodes with a ready local endpoint ----
slice web-local-a web-local node-b:true:false
kc_expect_nh "ready endpoint on node-b" $VIP 192.0.2.12
slice web-local-a web-local node-b:true:false node-c:true:false
kc_expect_nh "ready endpoints on node-b, node-c" $VIP 192.0.2.12 192.0.2.13
slice web-local-a web-local node-b:false:true node-c:true:false
kc_expect_nh "node-b's endpoint terminating" $VIP 192.0.2.13

# ---- L2: elected among the nodes with a ready endpoint ----
slice l2-local-a l2-local node-b:true:false node-c:true:false
wait_until 20 eval '[[ $(kc_agree $L2VIP n1 n2 n3) == node-[bc] ]]' ||
  kc_die "the nodes do not agree on node-b or node-c for $L2VIP"
winner=$(kc_agree $L2VIP n1 n2 n3) || kc_die "the nodes' /status disagree on $L2VIP"
c=$(kc_vip n1 $L2VIP '.candidates | sort | join(",")') || kc_die "node-a: /status has no $L2VIP"
[[ $c == '"node-b,node-c"' ]] || kc_die "node-a: candidates for $L2VIP are $c, want node-b,node-c (the nodes with a ready endpoint)"
case $winner in node-b) wn=n2 other=n3 othername=node-c ;; node-c) wn=n3 other=n2 othername=node-b ;; esac
kc_expect_arp "l2-local elected among node-b, node-c: $winner" $L2VIP $wn
slice l2-local-a l2-local "$othername:true:false"
kc_expect_arp "l2-local: $winner's endpoint removed, $othername takes over" $L2VIP $other
slice l2-local-a l2-local
kc_expect_no_arp "l2-local: no endpoint left" $L2VIP

# ---- endpoints gone: withdrawn ----
out=$(kubectl delete endpointslice web-local-a -n default 2>&1) || die "kubectl delete endpointslice web-local-a: $out"
KC_WAIT=10 kc_expect_nh "web-local's slice deleted: withdrawn" $VIP
for n in "${KC_NODES[@]}"; do
  bird_established rt "$n" || kc_die "BIRD: session with ${KC_NAME[$n]} went down"
  kill -0 "${KC_SPK_PID[$n]}" || kc_die "${KC_NAME[$n]}: the speaker exited"
done
log "PASS"
