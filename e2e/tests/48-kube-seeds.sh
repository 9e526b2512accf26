#!/usr/bin/env bash
# The two seed documents end to end in a cluster as a MetalLB user has it
# (lib/kube_cluster.sh: `kubectl apply -k deploy/`, oxlb-controller as the
# Deployment runs it, three speakers with the DaemonSet's args in node
# namespaces, Nodes node-a..node-c with hostname labels NodeA..NodeC, BIRD
# peering with every node, an L2 client),
# everything through kubectl:
# * seed 000: dns-service-tcp and dns-service-udp (verbatim) share 1.2.3.4
#   (the pool holding it, `dns`, is ours, as in 41-controller); a
#   BGPAdvertisement for it: BIRD holds 1.2.3.4/32 from every node (one
#   path per node, next hops 192.0.2.11-13) and its kernel route is ECMP
#   over the three;
# * seed 004: pool `example` and L2Advertisement `example` (the seed's
#   objects, e2e/configs/l2/seed004, eth3 -> eth0; 33-l2-seed004 checks
#   them against the seed), Service `example` pending (autoAssign false),
#   `nginx` with the seed's loadBalancerIPs 192.168.1.100 refused, then
#   with address-pool example: 192.168.10.0, answered by arping from
#   node-a's MAC only (nodeSelectors hostname NodeA), not in BGP;
# * node labels: BGPAdvertisement `edge` (nodeSelectors bgp-edge=yes, on
#   node-a and node-b) and L2Advertisement `l2edge` (l2-edge=yes, on node-c);
#   `kubectl label node` moves them (BGP to node-b + node-c, L2 to node-b)
#   while 1.2.3.4/32 keeps its three paths and BIRD's three sessions keep
#   their "established since" times (hitless: no session reset).
# L2 members come from --ml-members (see lib/kube_cluster.sh) until the
# speaker finds them through the API.
set -euo pipefail
E2E_TEST_NAME=48-kube-seeds
source "$(dirname "$0")/../lib/kube_cluster.sh"
SEED004=$E2E_LIB_DIR/../configs/l2/seed004

KC_LABELS=([n1]=bgp-edge=yes [n2]=bgp-edge=yes [n3]=l2-edge=yes)
kc_up

# ---- seed 000: the pool holding 1.2.3.4, announced over BGP from every node ----
kc_apply <<'EOF'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: dns, namespace: metallb-system}
spec: {addresses: [1.2.3.4/32], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: dns, namespace: metallb-system}
spec: {ipAddressPools: [dns]}
EOF
kc_apply <<'EOF'
apiVersion: v1
kind: Service
metadata:
  name: dns-service-tcp
  namespace: default
  annotations:
    metallb.universe.tf/allow-shared-ip: "key-to-share-1.2.3.4"
spec:
  type: LoadBalancer
  loadBalancerIP: 1.2.3.4
  ports:
    - name: dnstcp
      protocol: TCP
      port: 53
      targetPort: 53
  selector:
    app: dns
---
apiVersion: v1
kind: Service
metadata:
  name: dns-service-udp
  namespace: default
  annotations:
    metallb.universe.tf/allow-shared-ip: "key-to-share-1.2.3.4"
spec:
  type: LoadBalancer
  loadBalancerIP: 1.2.3.4
  ports:
    - name: dnsudp
      protocol: UDP
      port: 53
      targetPort: 53
  selector:
    app: dns
EOF
for s in dns-service-tcp dns-service-udp; do
  ip=$(kc_svc_ip $s)
  [[ $ip == 1.2.3.4 ]] || kc_die "svc $s: EXTERNAL-IP '$ip', want 1.2.3.4"
done
kc_expect_nh "seed 000: shared 1.2.3.4 from every node" 1.2.3.4/32 192.0.2.11 192.0.2.12 192.0.2.13
wait_until 10 eval '[[ $(kc_fib_nexthops 1.2.3.4/32) == "192.0.2.11 192.0.2.12 192.0.2.13" ]]' ||
  kc_die "router's kernel route for 1.2.3.4/32: next hops '$(kc_fib_nexthops 1.2.3.4/32)', want ECMP over the three nodes"
log "ok: router FIB: 1.2.3.4/32 ECMP via $(kc_fib_nexthops 1.2.3.4/32)"

# ---- seed 004: pool + L2Advertisement (NodeA only), the Services of chapter 2 ----
out=$(kubectl apply -f "$SEED004/10-seed004-pool-and-l2.yaml" 2>&1) || die "apply seed 004 pool and L2Advertisement: $out"
kc_apply <<'EOF'
apiVersion: v1
kind: Service
metadata:
  name: example
spec:
  ports:
    - port: 8080
      targetPort: 8080
      protocol: TCP
  type: LoadBalancer
EOF
kc_apply <<'EOF'
apiVersion: v1
kind: Service
metadata:
  name: nginx
  annotations:
    metallb.universe.tf/loadBalancerIPs: 192.168.1.100
spec:
  ports:
  - port: 80
    targetPort: 80
  selector:
    app: nginx
  type: LoadBalancer
EOF
wait_until 20 svc_has_event nginx AllocationFailed || kc_die "svc nginx (192.168.1.100, in no pool): no AllocationFailed Event"
wait_until 20 svc_has_event example AllocationFailed || kc_die "svc example (only autoAssign false pools): no AllocationFailed Event"
out=$(kubectl apply -f "$SEED004/20-seed004-nginx-service.yaml" 2>&1) || die "apply seed 004 nginx Service: $out"
wait_until 20 svc_has_ip nginx 192.168.10.0 || kc_die "svc nginx: EXTERNAL-IP '$(svc_ip nginx)', want 192.168.10.0 (pool example)"
ex=$(svc_ip example) || die "kubectl get svc example failed"
[[ -z $ex ]] || kc_die "svc example got '$ex' from an autoAssign: false pool"
kc_expect_arp "seed 004: nginx 192.168.10.0" 192.168.10.0 n1
for n in "${KC_NODES[@]}"; do
  w=$(kc_get "$n" /status | jq -r '[.l2.vips[] | select(.ip == "192.168.10.0")] | if length == 1 then .[0].winner // "" else "entries: \(length)" end') ||
    kc_die "${KC_NAME[$n]}: /status does not answer"
  [[ $w == node-a ]] || kc_die "${KC_NAME[$n]}: /status L2 winner for 192.168.10.0 is '$w', want node-a"
done
log "ok: every node's /status names node-a (hostname NodeA) the winner for 192.168.10.0"
nh=$(kc_nexthops 192.168.10.0/32) || kc_die "BIRD did not answer"
[[ -z $nh ]] || kc_die "192.168.10.0/32 is in BIRD (via $nh): pool example has no BGPAdvertisement"

# ---- node labels move announcements, hitlessly ----
kc_apply <<'EOF'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: edge, namespace: metallb-system}
spec: {addresses: [203.0.113.0/28], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: edge, namespace: metallb-system}
spec:
  ipAddressPools: [edge]
  nodeSelectors:
  - matchLabels: {bgp-edge: "yes"}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: l2edge, namespace: metallb-system}
spec: {addresses: [192.0.2.120/32], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2edge, namespace: metallb-system}
spec:
  ipAddressPools: [l2edge]
  nodeSelectors:
  - matchLabels: {l2-edge: "yes"}
  interfaces: [eth0]
---
apiVersion: v1
kind: Service
metadata: {name: edge, annotations: {metallb.io/address-pool: edge}}
spec: {type: LoadBalancer, ports: [{port: 443, protocol: TCP}]}
---
apiVersion: v1
kind: Service
metadata: {name: l2edge, annotations: {metallb.io/address-pool: l2edge}}
spec: {type: LoadBalancer, ports: [{port: 443, protocol: TCP}]}
EOF
wait_until 20 svc_has_ip edge 203.0.113.0 || kc_die "svc edge: EXTERNAL-IP '$(svc_ip edge)', want 203.0.113.0"
wait_until 20 svc_has_ip l2edge 192.0.2.120 || kc_die "svc l2edge: EXTERNAL-IP '$(svc_ip l2edge)', want 192.0.2.120"
kc_expect_nh "edge: bgp-edge on node-a, node-b" 203.0.113.0/32 192.0.2.11 192.0.2.12
kc_expect_arp "l2edge: l2-edge on node-c" 192.0.2.120 n3
declare -A since=()
for n in "${KC_NODES[@]}"; do since[$n]=$(kc_since "$n"); done
log "sessions established since: n1 ${since[n1]}, n2 ${since[n2]}, n3 ${since[n3]}"

out=$(kubectl label node node-a bgp-edge- 2>&1) || die "kubectl label node node-a bgp-edge-: $out"
out=$(kubectl label node node-c bgp-edge=yes 2>&1) || die "kubectl label node node-c bgp-edge=yes: $out"
kc_expect_nh "edge: bgp-edge moved node-a -> node-c" 203.0.113.0/32 192.0.2.12 192.0.2.13
out=$(kubectl label node node-c l2-edge- 2>&1) || die "kubectl label node node-c l2-edge-: $out"
out=$(kubectl label node node-b l2-edge=yes 2>&1) || die "kubectl label node node-b l2-edge=yes: $out"
kc_expect_arp "l2edge: l2-edge moved node-c -> node-b" 192.0.2.120 n2
kc_expect_nh "seed 000 untouched by the label changes" 1.2.3.4/32 192.0.2.11 192.0.2.12 192.0.2.13
kc_expect_arp "seed 004 untouched by the label changes" 192.168.10.0 n1
for n in "${KC_NODES[@]}"; do
  bird_established rt "$n" || kc_die "BIRD: session with ${KC_NAME[$n]} not Established after the label changes"
  s=$(kc_since "$n")
  [[ $s == "${since[$n]}" ]] || kc_die "BIRD: session with ${KC_NAME[$n]} was reset by a label change (since ${since[$n]}, now $s)"
  c=$(kc_get "$n" /status | jq -r --arg p "$KC_RT_IP" '[.sessions[] | select(.address == $p or .name == $p)][0].established_count') ||
    kc_die "${KC_NAME[$n]}: /status does not answer"
  [[ $c == 1 ]] || kc_die "${KC_NAME[$n]}: /status established_count for $KC_RT_IP is '$c', want 1"
done
log "ok: label changes hitless: every session still established since its first start"
for n in "${KC_NODES[@]}"; do kill -0 "${KC_SPK_PID[$n]}" || kc_die "${KC_NAME[$n]}: the speaker exited"; done
log "PASS"
