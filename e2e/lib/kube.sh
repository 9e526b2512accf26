# shellcheck shell=bash
# Kubernetes helpers for e2e tests: a real etcd + kube-apiserver per test
# (scripts/kube-rig.sh), on 127.0.0.1 with ports free for this run.
# Source after lib/netns.sh (or lib/daemons.sh), which owns the cleanup trap.
#
#   kube_up [NAME]           start a rig in $E2E_TMP/kube-NAME; its PIDs are
#                            registered, so the test's trap kills them even on
#                            failure. Exports KUBECONFIG, KUBE_RIG_URL,
#                            KUBE_RIG_CA, KUBE_RIG_TOKEN (admin), KUBE_RIG_BIN,
#                            KUBE_RIG_DIR, KUBE_RIG_PIDS; puts kubectl on PATH
#   kube_down                stop it now (kube-rig.sh down): kills by PID,
#                            removes the dir
#   kube_token_for SA NS     create ServiceAccount NS/SA (if missing) and print
#                            a token for it from the TokenRequest API
#   kubectl_as TOKEN ARGS... kubectl as that token (no admin credentials)
#   kube_http TOKEN METHOD PATH [BODY [CONTENT-TYPE]]
#                            raw request; prints the HTTP status code, the
#                            response body is in $E2E_TMP/kube-http.body
#   kube_bridge_up NS        make the rig reachable at the same 127.0.0.1:PORT
#                            inside test namespace NS (the rig listens on the
#                            root namespace's loopback only): socat from a
#                            Unix socket in $E2E_TMP (namespace-independent)
#                            to the rig, and inside NS from 127.0.0.1:PORT to
#                            that socket; the same kubeconfig (and the cert,
#                            issued for 127.0.0.1) works there. PIDs registered
#   kube_bridge_down         cut it: kill both socats and the per-connection
#                            children they forked, by PID (an API outage as
#                            NS sees it); kube_bridge_up NS restores it
_KUBE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KUBE_RIG=$_KUBE_ROOT/scripts/kube-rig.sh

kube_up() {
  local name=${1:-rig} pid
  require curl openssl python3
  "$KUBE_RIG" install >&2 || die "kube_up: scripts/kube-rig.sh install failed"
  KUBE_RIG_DIR=$E2E_TMP/kube-$name
  "$KUBE_RIG" up "$KUBE_RIG_DIR" >&2 || die "kube_up: scripts/kube-rig.sh up $KUBE_RIG_DIR failed"
  KUBE_RIG_PIDS=()
  while read -r _ pid; do
    register_pid "$pid"
    KUBE_RIG_PIDS+=("$pid")
  done < "$KUBE_RIG_DIR/pids"
  ((${#KUBE_RIG_PIDS[@]} == 2)) || die "kube_up: $KUBE_RIG_DIR/pids: want 2 PIDs (etcd, kube-apiserver), got ${#KUBE_RIG_PIDS[@]}"
  set -a
  # shellcheck source=/dev/null
  source "$KUBE_RIG_DIR/env"
  set +a
  export PATH=$KUBE_RIG_BIN:$PATH KUBE_RIG_DIR
}

kube_down() {
  "$KUBE_RIG" down "$KUBE_RIG_DIR" >&2 || die "kube_down: scripts/kube-rig.sh down $KUBE_RIG_DIR failed"
}

kube_token_for() {
  local sa=$1 ns=$2 tok
  kubectl get serviceaccount "$sa" -n "$ns" >/dev/null 2>&1 ||
    kubectl create serviceaccount "$sa" -n "$ns" >/dev/null || die "kube_token_for: create serviceaccount $ns/$sa failed"
  tok=$(kubectl create token "$sa" -n "$ns" --duration=1h) || die "kube_token_for: TokenRequest for $ns/$sa failed"
  [[ -n $tok ]] || die "kube_token_for: TokenRequest for $ns/$sa returned an empty token"
  printf '%s\n' "$tok"
}

kubectl_as() {
  local tok=$1; shift
  # An empty kubeconfig: only the flags count, the admin token cannot leak in.
  [[ -f $E2E_TMP/kube-empty.kubeconfig ]] ||
    printf 'apiVersion: v1\nkind: Config\n' > "$E2E_TMP/kube-empty.kubeconfig"
  kubectl --kubeconfig="$E2E_TMP/kube-empty.kubeconfig" --server="$KUBE_RIG_URL" \
    --certificate-authority="$KUBE_RIG_CA" --token="$tok" "$@"
}

kube_http() {
  local tok=$1 method=$2 path=$3 body=${4:-} ctype=${5:-application/json}
  local args=(-s -o "$E2E_TMP/kube-http.body" -w '%{http_code}' --max-time 10
    --cacert "$KUBE_RIG_CA" -H "Authorization: Bearer $tok" -X "$method")
  [[ -n $body ]] && args+=(-H "Content-Type: $ctype" --data-binary "$body")
  curl "${args[@]}" "$KUBE_RIG_URL$path"
}

kube_bridge_up() {
  local ns=$1 port sock
  require socat
  port=${KUBE_RIG_URL##*:}; port=${port%%/*}
  [[ $port =~ ^[0-9]+$ ]] || die "kube_bridge_up: no port in KUBE_RIG_URL=$KUBE_RIG_URL"
  sock=$E2E_TMP/kube-api.sock
  rm -f "$sock"
  spawn - "$E2E_TMP/kube-bridge-root.log" socat "UNIX-LISTEN:$sock,fork" "TCP:127.0.0.1:$port"
  KUBE_BRIDGE_PIDS=("$E2E_LAST_PID")
  wait_until 5 test -S "$sock" || die "kube_bridge_up: $sock did not appear"
  spawn "$ns" "$E2E_TMP/kube-bridge-$ns.log" socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$sock"
  KUBE_BRIDGE_PIDS+=("$E2E_LAST_PID")
  wait_until 5 nsx "$ns" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" ||
    die "kube_bridge_up: 127.0.0.1:$port does not answer inside $ns"
}

kube_bridge_down() {
  local p c kids
  for p in "${KUBE_BRIDGE_PIDS[@]}"; do
    # Stopped first, so it forks no child after the list is taken.
    kill -STOP "$p" 2>/dev/null || continue
    kids=$(pgrep -P "$p" 2>/dev/null) || kids=
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null || true
    for c in $kids; do kill_pid "$c" 2; done
  done
  KUBE_BRIDGE_PIDS=()
}
