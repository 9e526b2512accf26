#!/usr/bin/env bash
# e2e: serial (stops the API server; its port is free meanwhile and a parallel test could take it)
# The API server stopped for 30 s in a cluster as a MetalLB user has it
# (lib/kube_cluster.sh: deploy/, controller, three speakers, BIRD, an L2
# client): the rig's kube-apiserver is killed by PID (etcd keeps running)
# and started again 30 s later with the same command line
# (kube_stop_apiserver / kube_start_apiserver in lib/kube.sh).
# * the whole time (polled): BIRD keeps 203.0.113.32/32 from all three
#   nodes and arping for 192.0.2.140 is answered by the elected node only;
#   every speaker reports metallb_k8s_client_config_stale_bool 1;
# * after it returns: a Service created and one deleted arrive (BIRD gains
#   203.0.113.40/32 from every node, 203.0.113.32/32 withdrawn), stale 0;
# * BIRD's sessions are never reset (their "established since" times).
# L2 members from --ml-members (see lib/kube_cluster.sh).
set -euo pipefail
E2E_TEST_NAME=48-kube-outage
source "$(dirname "$0")/../lib/kube_cluster.sh"

kc_up
kc_apply <<'EOF'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: keep, namespace: metallb-system}
spec: {addresses: [203.0.113.32/28], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: keep, namespace: metallb-system}
spec: {ipAddressPools: [keep]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: l2keep, namespace: metallb-system}
spec: {addresses: [192.0.2.140/32], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2keep, namespace: metallb-system}
spec: {ipAddressPools: [l2keep], interfaces: [eth0]}
---
apiVersion: v1
kind: Service
metadata: {name: keep-bgp, annotations: {metallb.io/address-pool: keep}}
spec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}]}
---
apiVersion: v1
kind: Service
metadata: {name: keep-l2, annotations: {metallb.io/address-pool: l2keep}}
spec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}]}
EOF
wait_until 20 svc_has_ip keep-bgp 203.0.113.32 || kc_die "svc keep-bgp: EXTERNAL-IP '$(svc_ip keep-bgp)', want 203.0.113.32"
wait_until 20 svc_has_ip keep-l2 192.0.2.140 || kc_die "svc keep-l2: EXTERNAL-IP '$(svc_ip keep-l2)', want 192.0.2.140"
ALL=(192.0.2.11 192.0.2.12 192.0.2.13)
kc_expect_nh "before the outage" 203.0.113.32/32 "${ALL[@]}"
wait_until 20 eval '[[ -n $(kc_agree 192.0.2.140 n1 n2 n3) ]]' || kc_die "the nodes do not agree on a winner for 192.0.2.140"
winner=$(kc_agree 192.0.2.140 n1 n2 n3) || kc_die "the nodes' /status disagree on 192.0.2.140"
for n in "${KC_NODES[@]}"; do [[ ${KC_NAME[$n]} == "$winner" ]] && wn=$n; done
kc_expect_arp "before the outage: $winner" 192.0.2.140 "$wn"
wmac=$(l2_node_mac "$wn" a)
declare -A since=()
for n in "${KC_NODES[@]}"; do since[$n]=$(kc_since "$n"); done

stale() { # N -> the speaker's stale metric
  local mt; mt=$(kc_get "$1" /metrics) || { echo NO-ANSWER; return 2; }
  awk '$1 == "metallb_k8s_client_config_stale_bool" {print $2; f = 1} END {exit !f}' <<<"$mt" || echo MISSING
}
for n in "${KC_NODES[@]}"; do
  [[ $(stale "$n") == 0 ]] || kc_die "${KC_NAME[$n]}: stale metric '$(stale "$n")' before the outage, want 0"
done

# ---- the API server stopped for 30 s ----
kube_stop_apiserver
t0=$SECONDS
log "kube-apiserver killed (PID $_KUBE_APISERVER_OLD); polling BIRD and arping for 30 s"
checks=0 stale_seen=0
while ((SECONDS - t0 < 30)); do
  nh=$(kc_nexthops 203.0.113.32/32) || kc_die "BIRD did not answer during the outage"
  [[ $nh == "${ALL[*]}" ]] || kc_die "during the outage ($((SECONDS - t0)) s): 203.0.113.32/32 via '$nh', want '${ALL[*]}'"
  m=$(kc_arp_macs 192.0.2.140)
  [[ $m == "$wmac" ]] || kc_die "during the outage ($((SECONDS - t0)) s): arping 192.0.2.140 answered by '$m', want only $winner's $wmac"
  if ((stale_seen == 0)); then
    s=1
    for n in "${KC_NODES[@]}"; do [[ $(stale "$n") == 1 ]] || s=0; done
    ((s == 1)) && { stale_seen=1; log "every speaker reports stale 1 after $((SECONDS - t0)) s"; }
  fi
  checks=$((checks + 1))
done
((stale_seen == 1)) || kc_die "not every speaker reported metallb_k8s_client_config_stale_bool 1 during the outage"
for n in "${KC_NODES[@]}"; do
  bird_established rt "$n" || kc_die "BIRD: session with ${KC_NAME[$n]} dropped during the outage"
done
log "ok: API server down 30 s: $checks checks, routes from every node and $winner's ARP answers throughout"

# ---- back: changes made now arrive ----
kube_start_apiserver
log "kube-apiserver back after $((SECONDS - t0)) s"
t1=$SECONDS
kc_apply <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: keep-new, annotations: {metallb.io/loadBalancerIPs: 203.0.113.40}}
spec: {type: LoadBalancer, ports: [{port: 81, protocol: TCP}]}
EOF
out=$(kubectl delete svc keep-bgp -n default 2>&1) || die "kubectl delete svc keep-bgp: $out"
# Each kind's watcher has backed off on its own (0.8 s doubling to 30 s)
# during the outage (the controller's too), so the catch-up can take up to a
# minute or more: the times are logged.
wait_until 120 svc_has_ip keep-new 203.0.113.40 || kc_die "svc keep-new: EXTERNAL-IP '$(svc_ip keep-new)', want 203.0.113.40"
log "controller caught up: keep-new got 203.0.113.40 $((SECONDS - t1)) s after the API server returned"
KC_WAIT=120 kc_expect_nh "after the outage: a new Service arrives" 203.0.113.40/32 "${ALL[@]}"
KC_WAIT=30 kc_expect_nh "after the outage: a deleted Service is withdrawn" 203.0.113.32/32
for n in "${KC_NODES[@]}"; do
  wait_until 30 eval '[[ $(stale "$n") == 0 ]]' || kc_die "${KC_NAME[$n]}: stale metric '$(stale "$n")' after the API server returned, want 0"
  s=$(kc_since "$n")
  [[ $s == "${since[$n]}" ]] || kc_die "BIRD: session with ${KC_NAME[$n]} was reset (since ${since[$n]}, now $s)"
  kill -0 "${KC_SPK_PID[$n]}" || kc_die "${KC_NAME[$n]}: the speaker exited"
done
kc_expect_arp "after the outage: $winner still" 192.0.2.140 "$wn"
kill -0 "$KC_CTL_PID" || kc_die "the controller exited"
log "PASS"
