#!/usr/bin/env bash
# oxlb-controller against a real kube-apiserver (the rig, lib/kube.sh):
# deploy/crds.yaml and deploy/rbac.yaml applied; broken objects rejected by
# `kubectl apply` with the field named (CEL rules generated from the Rust
# types); the seed documents' YAML (shared/seeds 000 and 004, verbatim where
# they are complete YAML) applied; oxlb-controller run as a process with the
# ServiceAccount's token only. Checks with kubectl: the EXTERNAL-IP each seed
# promises, the metallb.io/ip-allocated-from-pool annotation, IPAllocated /
# AllocationFailed Events, autoAssign false honoured, a Service of another
# loadBalancerClass left alone, a forbidden write is forbidden; then kill -9
# while a Service that sorts first waits, restart:
# no IP moves and the new Service gets the next address; then a controller
# with --lb-class other.example/lb allocates only that class.
set -euo pipefail
E2E_TEST_NAME=41-controller
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/kube.sh"
require jq
REPO=$(cd "$(dirname "$0")/../.." && pwd)

controller_bin() {
  if [[ -n ${OXLB_CONTROLLER:-} ]]; then
    [[ -x $OXLB_CONTROLLER ]] || die "OXLB_CONTROLLER=$OXLB_CONTROLLER is not an executable"
    printf '%s' "$OXLB_CONTROLLER"; return 0
  fi
  local bin=$REPO/target/debug/oxlb-controller
  if [[ ! -x $bin || -n $(find "$REPO/crates" "$REPO/Cargo.lock" \( -name '*.rs' -o -name Cargo.toml -o -name Cargo.lock \) -newer "$bin" -print -quit) ]]; then
    log "building oxlb-controller (cargo build -p controller --bin oxlb-controller)"
    (cd "$REPO" && cargo build -p controller --bin oxlb-controller >&2) || die "cargo build -p controller failed"
  fi
  printf '%s' "$bin"
}
BIN=$(controller_bin)

kube_up

# ---- CRDs: generated, established, printer columns ----
kubectl apply -f "$REPO/deploy/crds.yaml" >/dev/null
kubectl wait --for=condition=Established --timeout=30s -f "$REPO/deploy/crds.yaml" >/dev/null
kubectl create namespace metallb-system >/dev/null
kubectl apply -f "$REPO/deploy/rbac.yaml" >/dev/null

# ---- invalid objects: rejected, the field named ----
reject() { # WANT... < yaml
  local out rc=0 w
  out=$(kubectl apply -f - 2>&1) || rc=$?
  ((rc != 0)) || die "kubectl apply of a broken object succeeded: $out"
  for w in "$@"; do
    [[ $out == *"$w"* ]] || die "kubectl apply rejection lacks '$w': $out"
  done
  log "rejected: $(tr '\n' ' ' <<<"$out" | cut -c1-200)"
}
reject 'spec.addresses' 'must be a CIDR' <<'YAML'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: broken, namespace: metallb-system}
spec: {addresses: [192.0.2.300/24]}
YAML
reject 'spec.addresses' <<'YAML'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bare-ip, namespace: metallb-system}
spec: {addresses: [192.0.2.7]}
YAML
reject 'spec.myASN' 'spec.keepaliveTime' 'spec.holdTime' <<'YAML'
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: broken, namespace: metallb-system}
spec: {myASN: 0, peerASN: 64500, peerAddress: 192.0.2.1, holdTime: 2s, keepaliveTime: 10s}
YAML
reject 'spec.peerASN' <<'YAML'
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: broken2, namespace: metallb-system}
spec: {myASN: 64500, peerASN: 4294967296, peerAddress: 192.0.2.1}
YAML
for k in ipaddresspool bgppeer; do
  n=$(kubectl get "$k" -n metallb-system -o name | wc -l)
  ((n == 0)) || die "a rejected $k was stored: $(kubectl get "$k" -n metallb-system -o name)"
done

# ---- seed 004 (Alauda): pool and L2Advertisement, verbatim ----
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: example
  namespace: metallb-system
spec:
  addresses:
  - 192.168.10.0/24
  - 192.168.9.1-192.168.9.5
  - fc00:f853:0ccd:e799::/124
  autoAssign: false
EOF
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: example
  namespace: metallb-system
spec:
  ipAddressPools:
  - example
  nodeSelectors:
  - matchLabels:
      kubernetes.io/hostname: NodeA
  interfaces:
  - eth3
EOF
cols=$(kubectl get ipaddresspool example -n metallb-system --no-headers)
[[ $cols == "example "*false*false*192.168.10.0/24* ]] || die "IPAddressPool printer columns (Auto Assign, Avoid Buggy IPs, Addresses): '$cols'"
# Seed 000 asks for "the pool holding 1.2.3.4" without giving it: ours,
# autoAssign false, so that only the seeds' requests draw from it. (1.2.3.4
# only ever exists as an API object here; no packet carries it.)
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: dns, namespace: metallb-system}
spec: {addresses: [1.2.3.4/32], autoAssign: false}
EOF

# ---- the controller, with the ServiceAccount's token only ----
TOK=$(kubectl create token oxlb-controller -n metallb-system --duration=1h)
SA_KC=$E2E_TMP/controller.kubeconfig
cat > "$SA_KC" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: rig, cluster: {server: "$KUBE_RIG_URL", certificate-authority: "$KUBE_RIG_CA"}}]
users: [{name: oxlb-controller, user: {token: "$TOK"}}]
contexts: [{name: c, context: {cluster: rig, user: oxlb-controller}}]
current-context: c
EOF
LOGF=$E2E_TMP/controller.log
MPORT=$(free_port)
start_controller() {
  spawn - "$LOGF.$1" "$BIN" run --kubeconfig "$SA_KC" --namespace metallb-system --metrics-addr "127.0.0.1:$MPORT" "${@:2}"
  CTL_PID=$E2E_LAST_PID
  wait_until 30 grep -q 'stores ready' "$LOGF.$1" || { cat "$LOGF.$1" >&2; die "controller ($1) did not get its stores ready"; }
  kill -0 "$CTL_PID" || { cat "$LOGF.$1" >&2; die "controller ($1) exited"; }
}
start_controller 1

# least privilege: the controller's token cannot write a Service's spec or delete it
rc=0; out=$(kubectl_as "$TOK" label svc kubernetes -n default x=y 2>&1) || rc=$?
if ((rc == 0)) || [[ $out != *forbidden* ]]; then die "controller token: label svc: rc=$rc, want forbidden: $out"; fi
rc=0; out=$(kubectl_as "$TOK" get secrets -n metallb-system 2>&1) || rc=$?
if ((rc == 0)) || [[ $out != *forbidden* ]]; then die "controller token: get secrets: rc=$rc, want forbidden: $out"; fi
# `kubectl auth can-i` as the ServiceAccount: exit 0 "yes", exit 1 "no";
# anything else (an unreachable API server) fails the test.
can_i() { # WANT(yes|no) VERB RESOURCE [ARGS...]
  local want=$1 rc=0 out; shift
  out=$(kubectl_as "$TOK" auth can-i "$@" 2>&1) || rc=$?
  case $want:$rc:$out in
    yes:0:yes | no:1:no) ;;
    *) die "controller token: auth can-i $*: rc=$rc '$out', want $want" ;;
  esac
}
can_i yes patch services --subresource=status -n default
can_i yes patch ipaddresspools.metallb.io --subresource=status -n metallb-system
can_i yes create events.events.k8s.io -n default
can_i yes create leases.coordination.k8s.io -n metallb-system
can_i yes update leases.coordination.k8s.io/oxlb-controller -n metallb-system
can_i no update leases.coordination.k8s.io/other -n metallb-system
can_i no create leases.coordination.k8s.io -n default
can_i no update services -n default
can_i no delete services -n default
can_i no patch ipaddresspools.metallb.io -n metallb-system
can_i no get secrets -n metallb-system

ext_ip() { kubectl get svc "$1" -n default -o jsonpath='{.status.loadBalancer.ingress[*].ip}'; }
has_ip() { [[ $(ext_ip "$1") == "$2" ]]; }
event_for() { # NAME REASON -> the messages
  kubectl get events -n default --field-selector "involvedObject.name=$1,reason=$2" -o jsonpath='{range .items[*]}{.message}{"\n"}{end}'
}
has_event() { [[ -n $(event_for "$1" "$2") ]]; }
expect_ip() { # NAME IP POOL
  wait_until 20 has_ip "$1" "$2" || die "svc $1: EXTERNAL-IP '$(ext_ip "$1")', want $2; controller log: $(tail -5 "$LOGF".*)"
  local pool
  pool=$(kubectl get svc "$1" -n default -o jsonpath='{.metadata.annotations.metallb\.io/ip-allocated-from-pool}')
  [[ $pool == "$3" ]] || die "svc $1: metallb.io/ip-allocated-from-pool='$pool', want $3"
  [[ $(kubectl get svc "$1" -n default --no-headers | awk '{print $4}') == "$2" ]] || die "svc $1: kubectl get svc EXTERNAL-IP column is not $2"
}

# ---- seed 000: two Services sharing 1.2.3.4 (verbatim) ----
kubectl apply -f - >/dev/null <<'EOF'
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
expect_ip dns-service-tcp 1.2.3.4 dns
expect_ip dns-service-udp 1.2.3.4 dns
wait_until 10 has_event dns-service-udp IPAllocated || die "svc dns-service-udp: no IPAllocated Event"
# MetalLB warns about the old annotation prefix once the Service is updated.
wait_until 10 has_event dns-service-tcp deprecatedAnnotation || die "svc dns-service-tcp: no deprecatedAnnotation Event"
dep=$(kubectl get events -n default --field-selector "involvedObject.name=dns-service-tcp,reason=deprecatedAnnotation" \
  -o jsonpath='{range .items[*]}{.type} {.message}{"\n"}{end}') || die "kubectl get events (deprecatedAnnotation) failed"
[[ $dep == "Warning Service uses deprecated annotation metallb.universe.tf/allow-shared-ip" ]] ||
  die "svc dns-service-tcp: deprecatedAnnotation Events '$dep', want one Warning naming metallb.universe.tf/allow-shared-ip"
log "seed 000: dns-service-tcp and dns-service-udp share 1.2.3.4"

# ---- seed 004, chapter 2 step 1: random IP, but the only pools are autoAssign false ----
kubectl apply -f - >/dev/null <<'EOF'
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
wait_until 20 has_event example AllocationFailed || die "svc example: no AllocationFailed Event (autoAssign false pools only)"
[[ -z $(ext_ip example) ]] || die "svc example got $(ext_ip example) from an autoAssign: false pool"
log "seed 004 step 1: example stays pending: $(event_for example AllocationFailed | head -1)"

# ---- step 2: a requested IP outside every pool ----
kubectl apply -f - >/dev/null <<'EOF'
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
wait_until 20 has_event nginx AllocationFailed || die "svc nginx (192.168.1.100, in no pool): no AllocationFailed Event"
[[ -z $(ext_ip nginx) ]] || die "svc nginx got $(ext_ip nginx) for an IP in no pool"
msg=$(event_for nginx AllocationFailed | head -1)
[[ $msg == *192.168.1.100* ]] || die "svc nginx AllocationFailed does not name 192.168.1.100: $msg"

# ---- step 3: the same Service re-applied with address-pool example ----
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Service
metadata:
  name: nginx
  annotations:
    metallb.universe.tf/address-pool: example
spec:
  ports:
  - port: 80
    targetPort: 80
  selector:
    app: nginx
  type: LoadBalancer
EOF
expect_ip nginx 192.168.10.0 example
wait_until 10 has_event nginx IPAllocated || die "svc nginx: no IPAllocated Event"
log "seed 004 step 3: nginx got 192.168.10.0 from example: $(event_for nginx IPAllocated | head -1)"

# ---- --lb-class unset: a Service with a loadBalancerClass is not ours ----
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Service
metadata:
  name: classy
  annotations: {metallb.io/address-pool: example}
spec: {type: LoadBalancer, loadBalancerClass: other.example/lb, ports: [{port: 82}]}
EOF

# ---- kill -9; a Service that sorts before nginx arrives while down; restart ----
before=$(kubectl get svc -n default -o json | jq -c '[.items[] | select(.metadata.name != "classy") | {n: .metadata.name, ip: [.status.loadBalancer.ingress[]?.ip]}]')
kill -KILL "$CTL_PID"
wait "$CTL_PID" 2>/dev/null || true
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Service
metadata:
  name: aaa-new
  annotations:
    metallb.io/address-pool: example
spec:
  ports: [{port: 81}]
  type: LoadBalancer
EOF
start_controller 2
expect_ip aaa-new 192.168.10.1 example
after=$(kubectl get svc -n default -o json | jq -c '[.items[] | select(.metadata.name != "aaa-new" and .metadata.name != "classy") | {n: .metadata.name, ip: [.status.loadBalancer.ingress[]?.ip]}]')
[[ $after == "$before" ]] || die "IPs moved across kill -9 + restart: before $before, after $after"
kill -0 "$CTL_PID" || die "controller (2) exited: $(tail -5 "$LOGF.2")"
# Read into variables first: a failed query must fail, not read as "none".
got=$(ext_ip classy) || die "svc classy unreadable"
[[ -z $got ]] || die "svc classy (loadBalancerClass other.example/lb) got $got"
evs=$(event_for classy IPAllocated) || die "events of svc classy unreadable"
evs+=$(event_for classy AllocationFailed) || die "events of svc classy unreadable"
[[ -z $evs ]] || die "svc classy (another class) got Events: $evs"
log "restart: no IP moved ($after); aaa-new got 192.168.10.1"

# ---- numbers: one Service created -> status set (kubectl polling, 20 ms), RSS ----
t0=$(date +%s%N)
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: timed, annotations: {metallb.io/address-pool: example}}
spec: {type: LoadBalancer, ports: [{port: 83}]}
YAML
for ((i = 0; i < 500; i++)); do
  [[ -n $(ext_ip timed) ]] && break
  sleep 0.02
done
[[ $(ext_ip timed) == 192.168.10.2 ]] || die "svc timed: EXTERNAL-IP '$(ext_ip timed)', want 192.168.10.2"
log "Service created -> status.loadBalancer set: $((($(date +%s%N) - t0) / 1000000)) ms (incl. kubectl apply and polling)"
# ---- /metrics, /readyz, IPAddressPool status: the allocator's counts ----
curl -sf --max-time 5 "http://127.0.0.1:$MPORT/readyz" >/dev/null || die "controller /readyz not 200 after its stores synced"
curl -sf --max-time 5 "http://127.0.0.1:$MPORT/healthz" >/dev/null || die "controller /healthz not 200"
metrics=$(curl -sf --max-time 5 "http://127.0.0.1:$MPORT/metrics") || die "controller /metrics not 200"
# example: 192.168.10.0/24 + 192.168.9.1-5 = 261 IPv4, fc00:f853:ccd:e799::/124 = 16 IPv6;
# in use: nginx, aaa-new, timed. dns: 1.2.3.4, shared by two Services, counts once.
for want in 'metallb_allocator_addresses_in_use_total{pool="example"} 3' \
  'metallb_allocator_addresses_total{pool="example"} 277' \
  'metallb_allocator_ipv4_addresses_total{pool="example"} 261' \
  'metallb_allocator_ipv6_addresses_total{pool="example"} 16' \
  'metallb_allocator_addresses_in_use_total{pool="dns"} 1' \
  'metallb_k8s_client_config_loaded_bool 1' 'metallb_k8s_client_config_stale_bool 0'; do
  grep -qxF "$want" <<<"$metrics" || die "controller /metrics lacks '$want': $(grep -F metallb_ <<<"$metrics" | grep -v '^#')"
done
pool_status() { kubectl get ipaddresspool "$1" -n metallb-system -o jsonpath='{.status.assignedIPv4}/{.status.availableIPv4}/{.status.assignedIPv6}/{.status.availableIPv6}'; }
wait_until 10 test "$(pool_status example)" = 3/258/0/16 || die "IPAddressPool example status (assignedIPv4/availableIPv4/assignedIPv6/availableIPv6) '$(pool_status example)', want 3/258/0/16"
wait_until 10 test "$(pool_status dns)" = 1/0/0/0 || die "IPAddressPool dns status '$(pool_status dns)', want 1/0/0/0"
log "metrics + pool status: example $(pool_status example), dns $(pool_status dns)"
log "controller RSS: $(awk '/^VmRSS/ {print $2 " kB"}' "/proc/$CTL_PID/status") (debug build, 7 Services)"

# ---- --lb-class set: only that class is ours, the others are left alone ----
before=$(kubectl get svc -n default -o json | jq -c '[.items[] | select(.metadata.name != "classy") | {n: .metadata.name, ip: [.status.loadBalancer.ingress[]?.ip]}]') || die "svc list unreadable"
kill_pid "$CTL_PID"
start_controller 3 --lb-class other.example/lb
# It sees only classy (MetalLB: instances of different classes are meant to
# have their own pools), so classy gets the pool's first address.
expect_ip classy 192.168.10.0 example
wait_until 10 has_event classy IPAllocated || die "svc classy: no IPAllocated Event from the --lb-class controller"
after=$(kubectl get svc -n default -o json | jq -c '[.items[] | select(.metadata.name != "classy") | {n: .metadata.name, ip: [.status.loadBalancer.ingress[]?.ip]}]') || die "svc list unreadable"
[[ $after == "$before" ]] || die "the --lb-class other.example/lb controller changed class-less Services: before $before, after $after"
kill -0 "$CTL_PID" || die "controller (3) exited: $(tail -5 "$LOGF.3")"
log "--lb-class other.example/lb: classy got 192.168.10.0, the class-less Services kept theirs"
