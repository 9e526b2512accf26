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
#   kube_bridge_up NS...     make the rig reachable at the same 127.0.0.1:PORT
#                            inside each test namespace NS (the rig listens on the
#                            root namespace's loopback only): socat from a
#                            Unix socket in $E2E_TMP (namespace-independent)
#                            to the rig, and inside each NS from 127.0.0.1:PORT to
#                            that socket; the same kubeconfig (and the cert,
#                            issued for 127.0.0.1) works there. PIDs registered
#   kube_bridge_down         cut it: kill both socats and the per-connection
#                            children they forked, by PID (an API outage as
#                            NS sees it); kube_bridge_up NS... restores it
#   kube_stop_apiserver      SIGKILL the rig's kube-apiserver by PID (etcd
#                            keeps running); its command line is kept
#   kube_start_apiserver     start it again with that command line (same
#                            port, PKI, etcd: the data survives), wait for
#                            /readyz
#   kube_restart_apiserver   the two in a row
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
  local ns port sock
  (($#)) || die "kube_bridge_up: no namespace given"
  require socat
  port=${KUBE_RIG_URL##*:}; port=${port%%/*}
  [[ $port =~ ^[0-9]+$ ]] || die "kube_bridge_up: no port in KUBE_RIG_URL=$KUBE_RIG_URL"
  sock=$E2E_TMP/kube-api.sock
  rm -f "$sock"
  spawn - "$E2E_TMP/kube-bridge-root.log" socat "UNIX-LISTEN:$sock,fork" "TCP:127.0.0.1:$port"
  KUBE_BRIDGE_PIDS=("$E2E_LAST_PID")
  wait_until 5 test -S "$sock" || die "kube_bridge_up: $sock did not appear"
  for ns in "$@"; do
    spawn "$ns" "$E2E_TMP/kube-bridge-$ns.log" socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$sock"
    KUBE_BRIDGE_PIDS+=("$E2E_LAST_PID")
  done
  for ns in "$@"; do
    wait_until 5 nsx "$ns" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" ||
      die "kube_bridge_up: 127.0.0.1:$port does not answer inside $ns"
  done
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

# free_port: a TCP port on 127.0.0.1 free right now (bound with port 0,
# released); for daemons under test (e.g. oxlb-controller --metrics-addr).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' ||
    die "free_port: python3 could not bind 127.0.0.1:0"
}

# kube_stop_apiserver: SIGKILL the rig's kube-apiserver (by PID, etcd keeps
# running) and keep its command line for kube_start_apiserver.
kube_stop_apiserver() {
  local old
  old=$(awk '$1 == "kube-apiserver" {print $2}' "$KUBE_RIG_DIR/pids")
  [[ -n $old ]] || die "kube_stop_apiserver: no kube-apiserver PID in $KUBE_RIG_DIR/pids"
  mapfile -d '' _KUBE_APISERVER_CMD < "/proc/$old/cmdline" || die "kube_stop_apiserver: /proc/$old/cmdline unreadable"
  ((${#_KUBE_APISERVER_CMD[@]} > 1)) || die "kube_stop_apiserver: PID $old has no command line (exited?)"
  kill -KILL "$old" || die "kube_stop_apiserver: kill $old failed"
  while kill -0 "$old" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$old/stat" 2>/dev/null) != Z ]]; do sleep 0.1; done
  _KUBE_APISERVER_OLD=$old
}

# kube_start_apiserver: start the kube-apiserver stopped by
# kube_stop_apiserver with the same command line (same port, PKI and etcd,
# so the data survives); waits for /readyz. Updates KUBE_RIG_DIR/pids.
kube_start_apiserver() {
  local old=${_KUBE_APISERVER_OLD:-} new try
  [[ -n $old && ${#_KUBE_APISERVER_CMD[@]} -gt 1 ]] || die "kube_start_apiserver: no kube_stop_apiserver before"
  # The old listener can take a moment to go; retry while the port is taken.
  for try in $(seq 20); do
    "${_KUBE_APISERVER_CMD[@]}" </dev/null >"$KUBE_RIG_DIR/kube-apiserver.restart.log" 2>&1 &
    new=$!
    register_pid "$new"
    sleep 1
    kill -0 "$new" 2>/dev/null && break
    grep -q 'address already in use' "$KUBE_RIG_DIR/kube-apiserver.restart.log" ||
      die "kube_start_apiserver: kube-apiserver exited: $(tail -3 "$KUBE_RIG_DIR/kube-apiserver.restart.log")"
    log "kube_start_apiserver: port still taken (try $try), retrying"
  done
  sed -i "s/^kube-apiserver $old\$/kube-apiserver $new/" "$KUBE_RIG_DIR/pids"
  KUBE_RIG_PIDS=("${KUBE_RIG_PIDS[@]/$old/$new}")
  _KUBE_APISERVER_OLD=
  wait_until 90 kubectl get --raw /readyz || die "kube_start_apiserver: kube-apiserver (PID $new) not ready in 90 s: $(tail -5 "$KUBE_RIG_DIR/kube-apiserver.restart.log")"
}

# kube_restart_apiserver: kill the rig's kube-apiserver (SIGKILL, by PID)
# and start it again at once (kube_stop_apiserver + kube_start_apiserver).
kube_restart_apiserver() {
  kube_stop_apiserver
  kube_start_apiserver
}

# ---- oxlb-controller under test (tests 41-44) ----
#   kube_controller_bin       print the oxlb-controller binary ($OXLB_CONTROLLER,
#                             else target/debug, rebuilt when sources are newer)
#   kube_controller_setup     apply deploy/crds.yaml + deploy/rbac.yaml, create
#                             metallb-system; sets CTL_TOK (the ServiceAccount's
#                             token) and CTL_KC (a kubeconfig with only it)
#   kube_controller_start TAG [ARGS...]
#                             start `oxlb-controller run` with CTL_KC, a free
#                             --metrics-addr port on 127.0.0.1 (CTL_MPORT),
#                             wait for "stores ready"; sets CTL_PID, CTL_LOG, CTL_MPORT
kube_controller_bin() {
  if [[ -n ${OXLB_CONTROLLER:-} ]]; then
    [[ -x $OXLB_CONTROLLER ]] || die "OXLB_CONTROLLER=$OXLB_CONTROLLER is not an executable"
    printf '%s' "$OXLB_CONTROLLER"; return 0
  fi
  local bin=$_KUBE_ROOT/target/debug/oxlb-controller
  if [[ ! -x $bin || -n $(find "$_KUBE_ROOT/crates" "$_KUBE_ROOT/Cargo.lock" \( -name '*.rs' -o -name Cargo.toml -o -name Cargo.lock \) -newer "$bin" -print -quit) ]]; then
    log "building oxlb-controller (cargo build -p controller --bin oxlb-controller)"
    (cd "$_KUBE_ROOT" && cargo build -p controller --bin oxlb-controller >&2) || die "cargo build -p controller failed"
  fi
  printf '%s' "$bin"
}

# kube_speaker_bin: oxlb-speaker built with the `kube` feature (the
# `kubernetes` subcommand): $OXLB_SPEAKER_KUBE, else target/debug (built by
# test-all with --features kube; rebuilt with the feature when sources are
# newer, never without it, so tests sharing target/debug agree).
kube_speaker_bin() {
  if [[ -n ${OXLB_SPEAKER_KUBE:-} ]]; then
    [[ -x $OXLB_SPEAKER_KUBE ]] || die "OXLB_SPEAKER_KUBE=$OXLB_SPEAKER_KUBE is not an executable"
    printf '%s' "$OXLB_SPEAKER_KUBE"; return 0
  fi
  local bin=$_KUBE_ROOT/target/debug/oxlb-speaker
  if [[ ! -x $bin || -n $(find "$_KUBE_ROOT/crates" "$_KUBE_ROOT/Cargo.lock" \( -name '*.rs' -o -name Cargo.toml -o -name Cargo.lock \) -newer "$bin" -print -quit) ]] ||
    ! "$bin" help kubernetes >/dev/null 2>&1; then
    log "building oxlb-speaker with kube (cargo build -p speaker --features kube --bin oxlb-speaker)"
    (cd "$_KUBE_ROOT" && cargo build -p speaker --features kube --bin oxlb-speaker >&2) || die "cargo build -p speaker --features kube failed"
  fi
  printf '%s' "$bin"
}

kube_controller_setup() {
  kubectl apply -f "$_KUBE_ROOT/deploy/crds.yaml" >/dev/null || die "kubectl apply deploy/crds.yaml failed"
  kubectl wait --for=condition=Established --timeout=30s -f "$_KUBE_ROOT/deploy/crds.yaml" >/dev/null || die "CRDs not Established"
  kubectl create namespace metallb-system >/dev/null || die "create namespace metallb-system failed"
  kubectl apply -f "$_KUBE_ROOT/deploy/rbac.yaml" >/dev/null || die "kubectl apply deploy/rbac.yaml failed"
  CTL_TOK=$(kubectl create token oxlb-controller -n metallb-system --duration=1h) || die "TokenRequest for oxlb-controller failed"
  CTL_KC=$E2E_TMP/controller.kubeconfig
  cat > "$CTL_KC" <<KC
apiVersion: v1
kind: Config
clusters: [{name: rig, cluster: {server: "$KUBE_RIG_URL", certificate-authority: "$KUBE_RIG_CA"}}]
users: [{name: oxlb-controller, user: {token: "$CTL_TOK"}}]
contexts: [{name: c, context: {cluster: rig, user: oxlb-controller}}]
current-context: c
KC
}

kube_controller_start() {
  local tag=$1; shift
  CTL_BIN=${CTL_BIN:-$(kube_controller_bin)}
  CTL_MPORT=$(free_port)
  CTL_LOG=$E2E_TMP/controller.$tag.log
  spawn - "$CTL_LOG" "$CTL_BIN" run --kubeconfig "$CTL_KC" --namespace metallb-system --metrics-addr "127.0.0.1:$CTL_MPORT" "$@"
  CTL_PID=$E2E_LAST_PID
  wait_until 60 grep -q 'stores ready' "$CTL_LOG" || { tail -20 "$CTL_LOG" >&2; die "controller ($tag) did not get its stores ready"; }
  kill -0 "$CTL_PID" || { tail -20 "$CTL_LOG" >&2; die "controller ($tag) exited"; }
}

# Service helpers (namespace default unless given):
#   svc_ip NAME [NS]          the ingress IPs, space-separated (fails if the
#                             Service cannot be read)
#   svc_event NAME REASON [NS] the messages of its Events with that reason
svc_ip() { kubectl get svc "$1" -n "${2:-default}" -o jsonpath='{.status.loadBalancer.ingress[*].ip}'; }
svc_has_ip() { local got; got=$(svc_ip "$1" "${3:-default}") && [[ $got == "$2" ]]; }
svc_event() {
  kubectl get events -n "${3:-default}" --field-selector "involvedObject.name=$1,reason=$2" \
    -o jsonpath='{range .items[*]}{.message}{"\n"}{end}'
}
svc_has_event() { local m; m=$(svc_event "$@") && [[ -n $m ]]; }
svc_pool() { kubectl get svc "$1" -n "${2:-default}" -o jsonpath='{.metadata.annotations.metallb\.io/ip-allocated-from-pool}'; }

# kube_field_ref PATH POD NODE IP NS: the value of a Pod env fieldRef, as
# the kubelet would resolve it (no Pod exists here: no kubelet; the uid is
# one of the form the API server gives, stable per Pod name).
kube_field_ref() {
  case $1 in
    metadata.name) printf '%s' "$2" ;;
    metadata.namespace) printf '%s' "$5" ;;
    metadata.uid) python3 -c 'import sys, uuid; print(uuid.uuid5(uuid.NAMESPACE_DNS, sys.argv[1]))' "$2" ||
      die "python3 uuid failed" ;;
    spec.nodeName) printf '%s' "$3" ;;
    status.podIP | status.hostIP) printf '%s' "$4" ;;
    *) die "fieldRef $1: not resolved by lib/kube.sh" ;;
  esac
}
