#!/usr/bin/env bash
# The Kubernetes test rig (scripts/kube-rig.sh, e2e/lib/kube.sh): a real
# etcd + kube-apiserver on loopback with TLS, token auth and RBAC. Checks:
# `kubectl version` shows the server's version; a LoadBalancer Service with
# loadBalancerClass is stored and its /status subresource takes an ingress
# IP (192.0.2.10) that reads back; a CRD with a CEL rule rejects a bad
# object with 422 and the rule's message; a ServiceAccount token (from
# TokenRequest) bound to a Role allowing only `get services` gets 200 on get
# and 403 on patch; `down` leaves no process and no directory.
# Prints (via kube-rig.sh) the time from up to /readyz, and the idle RSS of
# kube-apiserver and etcd.
set -euo pipefail
E2E_TEST_NAME=40-kube-rig
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/kube.sh"
require jq curl

# shellcheck source=../../scripts/kube/versions.env
source "$(dirname "$0")/../../scripts/kube/versions.env"

kube_up # logs the time from `up` to /readyz 200

# ---- versions ----
ver=$(kubectl version -o json) || die "kubectl version failed"
got=$(jq -r '.serverVersion.gitVersion' <<<"$ver")
[[ $got == "$KUBE_VERSION" ]] || die "kubectl version: serverVersion.gitVersion=$got, want $KUBE_VERSION"
want_minor=${KUBE_VERSION#v1.}; want_minor=${want_minor%%.*}
[[ $(jq -r '.serverVersion.major' <<<"$ver") == 1 ]] || die "serverVersion.major: $(jq -c .serverVersion <<<"$ver")"
[[ $(jq -r '.serverVersion.minor' <<<"$ver") == "$want_minor" ]] || die "serverVersion.minor: $(jq -c .serverVersion <<<"$ver")"
log "server $got, kubectl $(jq -r .clientVersion.gitVersion <<<"$ver")"

# ---- LoadBalancer Service with loadBalancerClass, /status ingress ----
NS=rig-test
kubectl create namespace "$NS" >/dev/null
kubectl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Service
metadata: {name: web, namespace: $NS}
spec:
  type: LoadBalancer
  loadBalancerClass: oxlb.io/test
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP}]
YAML
cls=$(kubectl get svc web -n "$NS" -o jsonpath='{.spec.loadBalancerClass}')
[[ $cls == oxlb.io/test ]] || die "svc $NS/web: spec.loadBalancerClass=$cls, want oxlb.io/test"
kubectl patch svc web -n "$NS" --subresource=status --type=merge \
  -p '{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.10","ipMode":"VIP"}]}}}' >/dev/null
ing=$(kubectl get svc web -n "$NS" -o jsonpath='{.status.loadBalancer.ingress[*].ip}/{.status.loadBalancer.ingress[*].ipMode}')
[[ $ing == 192.0.2.10/VIP ]] || die "svc $NS/web: status.loadBalancer.ingress read back as '$ing', want 192.0.2.10/VIP"
# A patch of the main resource must not touch status (the subresource is real).
kubectl patch svc web -n "$NS" --type=merge -p '{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.99"}]}}}' >/dev/null
ing=$(kubectl get svc web -n "$NS" -o jsonpath='{.status.loadBalancer.ingress[*].ip}')
[[ $ing == 192.0.2.10 ]] || die "svc $NS/web: a main-resource patch changed status to '$ing'"

# ---- CRD with a CEL rule ----
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: ranges.rig.oxlb.test}
spec:
  group: rig.oxlb.test
  scope: Namespaced
  names: {plural: ranges, singular: range, kind: Range}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [min, max]
            properties:
              min: {type: integer}
              max: {type: integer}
            x-kubernetes-validations:
            - rule: self.min <= self.max
              message: spec.min must not exceed spec.max
YAML
kubectl wait --for=condition=Established --timeout=30s crd/ranges.rig.oxlb.test >/dev/null
range_doc() { printf '{"apiVersion":"rig.oxlb.test/v1","kind":"Range","metadata":{"name":"%s"},"spec":{"min":%s,"max":%s}}' "$@"; }
code=$(kube_http "$KUBE_RIG_TOKEN" POST "/apis/rig.oxlb.test/v1/namespaces/$NS/ranges" "$(range_doc good 1 5)")
[[ $code == 201 ]] || die "create Range good (1..5): HTTP $code, want 201: $(cat "$E2E_TMP/kube-http.body")"
code=$(kube_http "$KUBE_RIG_TOKEN" POST "/apis/rig.oxlb.test/v1/namespaces/$NS/ranges" "$(range_doc bad 9 2)")
[[ $code == 422 ]] || die "create Range bad (9..2): HTTP $code, want 422: $(cat "$E2E_TMP/kube-http.body")"
msg=$(jq -r '.message' "$E2E_TMP/kube-http.body")
[[ $msg == *"spec.min must not exceed spec.max"* ]] || die "create Range bad: 422 without the rule's message: $msg"
rc=0; out=$(range_doc bad2 7 3 | kubectl apply -f - 2>&1) || rc=$?
((rc != 0)) || die "kubectl apply of Range bad2 (7..3) succeeded, want a rejection"
[[ $out == *"spec.min must not exceed spec.max"* ]] || die "kubectl apply of Range bad2: error lacks the rule's message: $out"
code=$(kube_http "$KUBE_RIG_TOKEN" GET "/apis/rig.oxlb.test/v1/namespaces/$NS/ranges/bad")
[[ $code == 404 ]] || die "Range bad was stored after its 422 (GET: HTTP $code)"

# ---- RBAC: a ServiceAccount token allowed only `get services` ----
kubectl apply -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: svc-reader, namespace: $NS}
rules: [{apiGroups: [""], resources: [services], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: svc-reader, namespace: $NS}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: svc-reader}
subjects: [{kind: ServiceAccount, name: reader, namespace: $NS}]
YAML
tok=$(kube_token_for reader "$NS")
code=$(kube_http "$tok" GET "/api/v1/namespaces/$NS/services/web")
[[ $code == 200 ]] || die "reader GET svc web: HTTP $code, want 200: $(cat "$E2E_TMP/kube-http.body")"
[[ $(jq -r .metadata.name "$E2E_TMP/kube-http.body") == web ]] || die "reader GET svc web: body is not the Service"
code=$(kube_http "$tok" PATCH "/api/v1/namespaces/$NS/services/web" '{"metadata":{"labels":{"x":"y"}}}' application/merge-patch+json)
[[ $code == 403 ]] || die "reader PATCH svc web: HTTP $code, want 403: $(cat "$E2E_TMP/kube-http.body")"
code=$(kube_http "$tok" PATCH "/api/v1/namespaces/$NS/services/web/status" '{"status":{}}' application/merge-patch+json)
[[ $code == 403 ]] || die "reader PATCH svc web/status: HTTP $code, want 403"
who=$(kubectl_as "$tok" get svc web -n "$NS" -o jsonpath='{.metadata.name}')
[[ $who == web ]] || die "kubectl_as reader get svc web: '$who'"
rc=0; out=$(kubectl_as "$tok" label svc web -n "$NS" x=y 2>&1) || rc=$?
if ((rc == 0)) || [[ $out != *forbidden* ]]; then die "kubectl_as reader label svc: rc=$rc, want forbidden: $out"; fi
code=$(kube_http "not-a-token" GET "/api/v1/namespaces/$NS/services/web")
[[ $code == 401 ]] || die "GET with a bogus token: HTTP $code, want 401"

# ---- idle cost ----
rss() { awk '/^VmRSS/ {printf "%d", $2/1024}' "/proc/$1/status"; }
log "idle RSS: etcd $(rss "${KUBE_RIG_PIDS[0]}") MB, kube-apiserver $(rss "${KUBE_RIG_PIDS[1]}") MB"

# ---- down: no process, no directory ----
dir=$KUBE_RIG_DIR
kube_down
for pid in "${KUBE_RIG_PIDS[@]}"; do
  # Gone, or a zombie its adopter has not reaped yet (it runs nothing).
  st=$(cat 2>/dev/null < "/proc/$pid/stat") || continue
  st=${st##*) }
  [[ ${st:0:1} == Z ]] || die "after down: PID $pid still running (state ${st:0:1})"
done
[[ ! -e $dir ]] || die "after down: $dir still exists"
for p in /proc/[0-9]*; do
  c=$(tr '\0' ' ' 2>/dev/null < "$p/cmdline") || continue
  [[ $c != *"$dir/"* ]] || die "after down: ${p#/proc/} still runs with $dir: $c"
done
log "rig down: no process, no directory"
