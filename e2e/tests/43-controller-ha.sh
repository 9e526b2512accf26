#!/usr/bin/env bash
# e2e: serial (stops the API server; its port is free meanwhile and a parallel test could take it)
# oxlb-controller HA against a real kube-apiserver: two replicas with
# --leader-elect (short timing: lease 6 s, renew deadline 4 s, retry 1 s).
# The Lease coordination.k8s.io/v1 metallb-system/oxlb-controller names the
# leader; only the leader writes (the follower's update counter stays 0,
# its /readyz is 200: a ready standby); kill -9 of the leader: the follower
# holds the Lease within lease duration + one retry period, no IP moves,
# and a new Service gets an IP; then the API server is killed and started
# again (same etcd, same port): the controller reconnects, nothing moves,
# a Service created after it gets an IP.
set -euo pipefail
E2E_TEST_NAME=43-controller-ha
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/kube.sh"
require jq curl
CTL_BIN=$(kube_controller_bin)
kube_up
kube_controller_setup
LEASE=(--leader-elect --lease-duration 6 --renew-deadline 4 --retry-period 1)

kubectl apply -f - >/dev/null <<'EOF2'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: ha, namespace: metallb-system}
spec: {addresses: [198.51.100.64/28]}
EOF2
holder() { kubectl get lease oxlb-controller -n metallb-system -o jsonpath='{.spec.holderIdentity}'; }
holder_is() { local h; h=$(holder) && [[ $h == "$1" ]]; }
metric() { # PORT NAME
  local body; body=$(curl -sf --max-time 5 "http://127.0.0.1:$1/metrics") || return 1
  awk -v n="$2" '$1 == n {print $2; f=1} END {exit !f}' <<<"$body"
}
lb() {
  kubectl apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: default}
spec: {type: LoadBalancer, ports: [{port: 80}]}
EOF2
}
expect() { wait_until 20 svc_has_ip "$1" "$2" || die "svc $1: EXTERNAL-IP '$(svc_ip "$1")', want $2"; }
snapshot() { kubectl get svc -n default -o json | jq -c '[.items[] | {n: .metadata.name, ip: [.status.loadBalancer.ingress[]?.ip]}] | sort_by(.n)'; }

POD_NAME=ctl-a kube_controller_start a "${LEASE[@]}"
A_PID=$CTL_PID A_PORT=$CTL_MPORT A_LOG=$CTL_LOG
wait_until 15 holder_is ctl-a || die "Lease holder '$(holder)', want ctl-a (the only replica)"
POD_NAME=ctl-b kube_controller_start b "${LEASE[@]}"
B_PID=$CTL_PID B_PORT=$CTL_MPORT B_LOG=$CTL_LOG
lb s1
expect s1 198.51.100.64
curl -sf --max-time 5 "http://127.0.0.1:$B_PORT/readyz" >/dev/null || die "follower ctl-b: /readyz not 200 (a synced follower is a ready standby)"
[[ $(metric "$A_PORT" oxlb_controller_leader) == 1 ]] || die "ctl-a: oxlb_controller_leader '$(metric "$A_PORT" oxlb_controller_leader)', want 1"
[[ $(metric "$B_PORT" oxlb_controller_leader) == 0 ]] || die "ctl-b: oxlb_controller_leader '$(metric "$B_PORT" oxlb_controller_leader)', want 0"
[[ $(metric "$B_PORT" metallb_k8s_client_updates_total) == 0 ]] || die "follower ctl-b wrote: updates_total $(metric "$B_PORT" metallb_k8s_client_updates_total)"
holder_is ctl-a || die "Lease holder '$(holder)' changed while ctl-a lives, want ctl-a"
log "ctl-a leads, ctl-b follows (ready, 0 writes); s1 got 198.51.100.64"

# ---- the leader dies ----
before=$(snapshot)
kill -KILL "$A_PID"
t0=$(date +%s%N)
wait_until 8 holder_is ctl-b || die "Lease holder '$(holder)' 8 s after ctl-a was killed, want ctl-b (lease 6 s + retry 1 s)"
took=$((($(date +%s%N) - t0) / 1000000))
lb s2
expect s2 198.51.100.65
after=$(snapshot)
[[ $(jq -c 'map(select(.n != "s2"))' <<<"$after") == "$before" ]] || die "IPs moved across the failover: before $before, after $after"
[[ $(metric "$B_PORT" oxlb_controller_leader) == 1 ]] || die "ctl-b: oxlb_controller_leader not 1 after taking over"
grep -q 'leading: restoring' "$B_LOG" || die "ctl-b: no restore pass logged when it took over"
log "failover: ctl-b holds the Lease $took ms after kill -9 of ctl-a; s2 got 198.51.100.65, nothing moved"

# ---- the API server restarts ----
before=$(snapshot)
kube_restart_apiserver
log "kube-apiserver restarted"
lb s3
expect s3 198.51.100.66
after=$(snapshot)
[[ $(jq -c 'map(select(.n != "s3"))' <<<"$after") == "$before" ]] || die "IPs moved across the API server restart: before $before, after $after"
holder_is ctl-b || die "Lease holder '$(holder)' after the API server restart, want ctl-b"
kill -0 "$B_PID" || die "ctl-b exited: $(tail -5 "$B_LOG")"
log "API server restart: ctl-b reconnected, s3 got 198.51.100.66, nothing moved"
