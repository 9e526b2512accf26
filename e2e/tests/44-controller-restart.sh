#!/usr/bin/env bash
# oxlb-controller restart at scale against a real kube-apiserver: 1,000
# LoadBalancer Services allocated, the controller killed with SIGKILL,
# 20 new Services created while it is down (names sorting before and
# after the old ones), restarted: no old Service's IP moves (full
# before/after comparison) and the new ones get free addresses.
set -euo pipefail
E2E_TEST_NAME=44-controller-restart
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/kube.sh"
require jq curl python3
CTL_BIN=$(kube_controller_bin)
kube_up
kube_controller_setup
N=1000
kubectl apply -f - >/dev/null <<'EOF2'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bulk, namespace: metallb-system}
spec: {addresses: [198.18.0.0/20]}
EOF2
kubectl create namespace bulk >/dev/null
gen() { # PREFIX FROM TO -> a List of Services
  python3 - "$@" <<'PY'
import json, sys
p, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
items = [{"apiVersion": "v1", "kind": "Service",
          "metadata": {"name": f"{p}{i:05d}", "namespace": "bulk"},
          "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}} for i in range(a, b)]
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
PY
}
kube_controller_start 1
gen m 0 "$N" > "$E2E_TMP/bulk.json"
kubectl create -f "$E2E_TMP/bulk.json" >/dev/null
allocated() { # -> count of Services in bulk with an ingress IP
  kubectl get svc -n bulk -o json | jq '[.items[] | select((.status.loadBalancer.ingress // []) | length > 0)] | length'
}
count_is() { local c; c=$(allocated) && [[ $c == "$1" ]]; }
wait_until 120 count_is "$N" || die "$(allocated) of $N Services allocated after 120 s; log: $(tail -3 "$CTL_LOG")"
snap() { kubectl get svc -n bulk -o json | jq -c '[.items[] | {n: .metadata.name, ip: [.status.loadBalancer.ingress[]?.ip]}] | sort_by(.n)'; }
before=$(snap)
dups=$(jq '[.[].ip[0]] | length - (unique | length)' <<<"$before")
((dups == 0)) || die "$dups duplicate IPs among $N Services"
log "$N Services allocated; controller VmRSS $(awk '/^VmRSS/ {print $2 " kB"}' "/proc/$CTL_PID/status") (debug build)"
kill -KILL "$CTL_PID"
wait "$CTL_PID" 2>/dev/null || true
gen a 0 10 > "$E2E_TMP/new-a.json"
gen z 0 10 > "$E2E_TMP/new-z.json"
kubectl create -f "$E2E_TMP/new-a.json" -f "$E2E_TMP/new-z.json" >/dev/null
kube_controller_start 2
wait_until 60 count_is $((N + 20)) || die "$(allocated) of $((N + 20)) Services allocated after the restart"
after=$(snap)
old_after=$(jq -c 'map(select(.n | startswith("m")))' <<<"$after")
if [[ $old_after != "$before" ]]; then
  moved=$(jq -n --argjson a "$before" --argjson b "$old_after" '[$a, $b] | transpose | map(select(.[0] != .[1])) | .[:5]')
  die "IPs moved across kill -9 + restart (first 5): $moved"
fi
dups=$(jq '[.[].ip[0]] | length - (unique | length)' <<<"$after")
((dups == 0)) || die "$dups duplicate IPs after the restart"
log "kill -9 + restart with $N Services: no IP moved; 20 new Services allocated, no duplicates"
