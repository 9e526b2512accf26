#!/usr/bin/env bash
# A speaker killed (kill -9 by PID, no Cease, no memberlist leave) in a
# cluster as a MetalLB user has it (lib/kube_cluster.sh: deploy/,
# controller, three speakers, BIRD with hold time 3 s as the BGPPeer's
# holdTime, an L2 client). The node killed is the L2 winner of 192.0.2.150:
# * BIRD drops that node's session and its path for 203.0.113.48/32; the
#   two others' paths stay (the kernel closes a killed process's TCP
#   connection, so BIRD sees it at once; the 3 s hold time is the bound
#   for a node that dies whole, which a killed process is not);
# * the two surviving speakers elect one of themselves and arping for
#   192.0.2.150 is answered by that node's MAC only;
# * the speaker started again (DaemonSet restart): its session is back and
#   BIRD holds the three paths again.
# The time each step took is logged, nothing is asserted on it.
# L2 members from --ml-members (see lib/kube_cluster.sh).
set -euo pipefail
E2E_TEST_NAME=48-kube-kill
source "$(dirname "$0")/../lib/kube_cluster.sh"

kc_up
kc_apply <<'EOF'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: kill, namespace: metallb-system}
spec: {addresses: [203.0.113.48/28], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: kill, namespace: metallb-system}
spec: {ipAddressPools: [kill]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: l2kill, namespace: metallb-system}
spec: {addresses: [192.0.2.150/32], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2kill, namespace: metallb-system}
spec: {ipAddressPools: [l2kill], interfaces: [eth0]}
---
apiVersion: v1
kind: Service
metadata: {name: kill-bgp, annotations: {metallb.io/address-pool: kill}}
spec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}]}
---
apiVersion: v1
kind: Service
metadata: {name: kill-l2, annotations: {metallb.io/address-pool: l2kill}}
spec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}]}
EOF
wait_until 20 svc_has_ip kill-bgp 203.0.113.48 || kc_die "svc kill-bgp: EXTERNAL-IP '$(svc_ip kill-bgp)', want 203.0.113.48"
wait_until 20 svc_has_ip kill-l2 192.0.2.150 || kc_die "svc kill-l2: EXTERNAL-IP '$(svc_ip kill-l2)', want 192.0.2.150"
kc_expect_nh "before the kill" 203.0.113.48/32 192.0.2.11 192.0.2.12 192.0.2.13
wait_until 20 eval '[[ -n $(kc_agree 192.0.2.150 n1 n2 n3) ]]' || kc_die "the nodes do not agree on a winner for 192.0.2.150"
winner=$(kc_agree 192.0.2.150 n1 n2 n3) || kc_die "the nodes' /status disagree on 192.0.2.150"
rest=()
for n in "${KC_NODES[@]}"; do
  if [[ ${KC_NAME[$n]} == "$winner" ]]; then victim=$n; else rest+=("$n"); fi
done
kc_expect_arp "before the kill: $winner" 192.0.2.150 "$victim"

# ---- kill -9 the winner's speaker ----
log "kill -9 ${KC_NAME[$victim]}'s speaker (pid ${KC_SPK_PID[$victim]})"
kc_speaker_kill "$victim"
kc_expect_nh "${KC_NAME[$victim]}'s speaker killed: its path withdrawn" 203.0.113.48/32 "${rest[@]/#n/192.0.2.1}"
wait_until 10 bird_not_established rt "$victim" || kc_die "BIRD: session with ${KC_NAME[$victim]} still Established (or BIRD did not answer)"
wait_until 20 eval '[[ -n $(kc_agree 192.0.2.150 "${rest[@]}") && $(kc_agree 192.0.2.150 "${rest[@]}") != "$winner" ]]' ||
  kc_die "the surviving nodes do not agree on a new winner for 192.0.2.150"
new=$(kc_agree 192.0.2.150 "${rest[@]}") || kc_die "the surviving nodes' /status disagree on 192.0.2.150"
for n in "${rest[@]}"; do [[ ${KC_NAME[$n]} == "$new" ]] && nn=$n; done
kc_expect_arp "${KC_NAME[$victim]} killed: $new takes 192.0.2.150 over" 192.0.2.150 "$nn"
for n in "${rest[@]}"; do
  bird_established rt "$n" || kc_die "BIRD: session with ${KC_NAME[$n]} went down with another node's speaker"
done

# ---- the DaemonSet would start it again ----
kc_speaker_start "$victim"
wait_until 30 bird_established rt "$victim" || kc_die "BIRD: session with ${KC_NAME[$victim]} not back"
kc_expect_nh "${KC_NAME[$victim]}'s speaker back" 203.0.113.48/32 192.0.2.11 192.0.2.12 192.0.2.13
log "PASS"
