# shellcheck shell=bash
# e2e/lib/kube_cluster.sh - a cluster as a MetalLB user has it, for the
# 48-kube-* tests (issue 12): the kube rig (lib/kube.sh) with deploy/
# applied by `kubectl apply -k deploy/`, oxlb-controller run as the
# Deployment would run it, three Node objects, an oxlb-speaker per node run
# with the DaemonSet's args in its own node namespace, a BIRD router peering
# with every node, an L2 client on the nodes' segment.
#
#   segment A (switch swa, lib/l2topo.sh), 192.0.2.0/24:
#     n1 = Node node-a (hostname label NodeA) eth0 192.0.2.11 02:00:00:00:0a:01
#     n2 = Node node-b (hostname label NodeB) eth0 192.0.2.12 02:00:00:00:0a:02
#     n3 = Node node-c (hostname label NodeC) eth0 192.0.2.13 02:00:00:00:0a:03
#     cl = the L2 client 192.0.2.200
#     rt = the router (BIRD, AS 64513, passive, one protocol per node
#          named after the namespace: n1 n2 n3) 192.0.2.254, kernel
#          protocol with `merge paths on` (ECMP routes in rt's own table)
#   segment B (swb): the nodes' eth1, 198.51.100.1i (nobody asks there)
#   the nodes' speakers: AS 64512, BGPPeer `tor` (holdTime 3s), the API
#   server reached through kube_bridge_up (socat over a Unix socket).
#
# The speaker's args are the DaemonSet's (read back from the API), $(VAR)
# expanded from the container's env as the kubelet does (POD_IP = the
# node's eth0 address: hostNetwork; the memberlist Secret's key resolved
# from the API), plus one flag the DaemonSet does not have:
#   --ml-members node-a=192.0.2.11,...   until the speaker finds its L2
#   members through the API itself (issue 12, k8smem); then drop
#   KC_EXTRA_SPEAKER_ARGS below.
#
#   kc_up                 all of the above; every speaker's stores ready,
#                         every session Established
#   kc_apply < yaml       kubectl apply -f - (dies with kubectl's message)
#   kc_speaker_start N    (re)start the speaker of node namespace N
#   kc_speaker_kill N     kill -9 it by PID (a crash: no Cease, no leave)
#   kc_get N PATH         HTTP GET on the speaker's metrics port (in N)
#   kc_vip N IP [JQ]      N's /status .l2.vips[] entry for IP (exactly one)
#   kc_agree IP N...      the L2 winner all of N... name (fails if they differ)
#   kc_nexthops PREFIX    the next hops of every path BIRD holds for PREFIX
#                         (sorted, space separated; "" = none; 2 = BIRD did
#                         not answer, printing QUERY-FAILED)
#   kc_fib_nexthops PFX   the next hops of rt's kernel route (ECMP)
#   kc_expect_nh WHAT PREFIX NH...   wait (KC_WAIT s, default 20) until
#                         kc_nexthops PREFIX is exactly NH...; logs the time
#   kc_arp_macs IP        the distinct MACs answering 3 ARP requests from cl
#   kc_expect_arp WHAT IP N   wait until only node N's eth0 MAC answers
#   kc_expect_no_arp WHAT IP  wait until nobody answers
#   kc_since PROTO        when BIRD's protocol PROTO entered its state
#                         (timeformat iso long ms); fails if BIRD does not answer
#   kc_svc_ip NAME        wait (20 s) for the controller to give Service
#                         default/NAME an address; prints it
#   kc_dump               every speaker's /status + log tail, BIRD's protocols
#   kc_die MSG            kc_dump, then die

[[ -n ${_E2E_KUBE_CLUSTER_SOURCED:-} ]] && return 0
_E2E_KUBE_CLUSTER_SOURCED=1
source "$(dirname "${BASH_SOURCE[0]}")/l2speaker.sh"
source "$(dirname "${BASH_SOURCE[0]}")/kube.sh"
require bird birdc jq curl socat arping base64 python3

KC_REPO=$(cd "$E2E_LIB_DIR/../.." && pwd)
KC_NS=metallb-system
KC_NODES=(n1 n2 n3)
# Node names (lowercase, RFC 1123) and their kubernetes.io/hostname label
# values: seed 004 selects `kubernetes.io/hostname: NodeA`, a label value
# (a kubelet started with --hostname-override=NodeA sets it so).
declare -A KC_NAME=([n1]=node-a [n2]=node-b [n3]=node-c)
declare -A KC_HOST=([n1]=NodeA [n2]=NodeB [n3]=NodeC)
# extra labels per node namespace ("k=v,k=v"), set by the test before kc_up
declare -A KC_LABELS=()
declare -A KC_SPK_PID=()
KC_RT_IP=192.0.2.254
KC_RT_MAC=02:00:00:00:0a:fe
KC_HOLD=3
KC_EXTRA_SPEAKER_ARGS=()

kc_ip() { l2_node_ip4 "$1"; }
kc_members() {
  local n out=()
  for n in "${KC_NODES[@]}"; do out+=("${KC_NAME[$n]}=$(kc_ip "$n")"); done
  local IFS=,; printf '%s' "${out[*]}"
}

kc_apply() {
  local out
  out=$(kubectl apply -f - 2>&1) || die "kubectl apply failed: $out"
}

# The value of a fieldRef, as the kubelet would resolve it for this pod.
_kc_field() { kube_field_ref "$1" "$2" "$3" "$4" "$KC_NS"; } # PATH POD NODE IP
# A secretKeyRef, as the kubelet resolves it: the Secret's value, or unset
# when the Secret is missing and the ref optional.
_kc_secret() { # NAME KEY OPTIONAL -> value (rc 3: optional and absent)
  local j v
  j=$(kubectl get secret "$1" -n "$KC_NS" --ignore-not-found -o json) ||
    die "secretKeyRef $KC_NS/$1: kubectl get secret failed"
  if [[ -z $j ]]; then
    [[ $3 == true ]] && return 3
    die "secretKeyRef $KC_NS/$1: the Secret does not exist and the ref is not optional"
  fi
  v=$(jq -r --arg k "$2" '.data[$k] // empty' <<<"$j") || die "secretKeyRef $KC_NS/$1: not JSON"
  [[ -n $v ]] || die "secretKeyRef $KC_NS/$1: no key $2"
  base64 -d <<<"$v" || die "secretKeyRef $KC_NS/$1 key $2: not base64"
}

# Fills KC_CMD (command + args, $(VAR) expanded from the container's env)
# and KC_ENVS (NAME=VALUE) from a workload's JSON.
kc_pod_command() { # JSON POD NODE IP
  local json=$1 pod=$2 node=$3 ip=$4 name kind val opt e a rc
  local -A env=()
  KC_ENVS=()
  while IFS=$'\t' read -r name kind val opt; do
    case $kind in
      value) ;;
      field) val=$(_kc_field "$val" "$pod" "$node" "$ip") ;;
      secret)
        rc=0; val=$(_kc_secret "${val%%/*}" "${val#*/}" "$opt") || rc=$?
        ((rc == 3)) && continue
        ((rc == 0)) || exit 1 ;;
      *) die "env $name: $kind is not resolved by kube_cluster.sh" ;;
    esac
    env[$name]=$val
    KC_ENVS+=("$name=$val")
  done < <(jq -r '.spec.template.spec.containers[0].env[]? |
      [.name,
       (if .value != null then "value"
        elif .valueFrom.fieldRef then "field"
        elif .valueFrom.secretKeyRef then "secret"
        else "other" end),
       (.value // .valueFrom.fieldRef.fieldPath //
        (.valueFrom.secretKeyRef | select(.) | "\(.name)/\(.key)") // ""),
       (.valueFrom.secretKeyRef.optional // false)] | @tsv' <<<"$json")
  KC_CMD=()
  while IFS= read -r a; do
    for e in "${!env[@]}"; do a=${a//\$($e)/${env[$e]}}; done
    [[ $a != *'$('* ]] || die "argument '$a': a \$(VAR) the container's env does not define"
    KC_CMD+=("$a")
  done < <(jq -r '.spec.template.spec.containers[0] | (.command // [])[], (.args // [])[]' <<<"$json")
  ((${#KC_CMD[@]} > 0)) || die "no command/args in the workload's first container"
}

_kc_kubeconfig() { # FILE USER TOKEN
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: rig, cluster: {server: "$KUBE_RIG_URL", certificate-authority: "$KUBE_RIG_CA"}}]
users: [{name: $2, user: {token: "$3"}}]
contexts: [{name: c, context: {cluster: rig, user: $2}}]
current-context: c
EOF
}

# The controller, one replica, as the Deployment runs it: its args, its
# ServiceAccount's token; --metrics-addr 0.0.0.0:7472 becomes a free port
# on 127.0.0.1 (it runs in the root namespace, shared by parallel runs).
kc_controller_start() {
  local dep port i
  dep=$(kubectl get deployment oxlb-controller -n "$KC_NS" -o json) || die "kubectl get deployment oxlb-controller failed"
  kc_pod_command "$dep" oxlb-controller-e2e-0 control-plane 127.0.0.1
  KC_CMD[0]=$KC_CTL_BIN
  port=$(free_port)
  for ((i = 0; i < ${#KC_CMD[@]}; i++)); do
    [[ ${KC_CMD[i]} == --metrics-addr ]] && KC_CMD[i + 1]=127.0.0.1:$port
  done
  KC_CTL_LOG=$E2E_TMP/controller.log
  log "controller: ${KC_CMD[*]:1}"
  spawn - "$KC_CTL_LOG" env KUBECONFIG="$KC_CTL_KC" "${KC_ENVS[@]}" "${KC_CMD[@]}"
  KC_CTL_PID=$E2E_LAST_PID
  wait_until 60 grep -q 'stores ready' "$KC_CTL_LOG" || die "controller: stores not ready: $(tail -5 "$KC_CTL_LOG")"
}

kc_speaker_start() {
  local n=$1 node=${KC_NAME[$1]} ip ds d
  ip=$(kc_ip "$n")
  ds=$(kubectl get daemonset oxlb-speaker -n "$KC_NS" -o json) || die "kubectl get daemonset oxlb-speaker failed"
  kc_pod_command "$ds" "oxlb-speaker-$n" "$node" "$ip"
  [[ ${KC_CMD[1]} == kubernetes ]] || die "speaker DaemonSet: first arg '${KC_CMD[1]}', want kubernetes"
  KC_CMD[0]=$KC_SPK_BIN
  d=$(daemon_dir "sp-$n")
  [[ -f $d/log ]] && mv -f "$d/log" "$d/log.$(date +%s%N)"
  printf '%q ' "${KC_CMD[@]}" "${KC_EXTRA_SPEAKER_ARGS[@]}" >"$d/cmdline"
  spawn "$n" "$d/log" env RUST_BACKTRACE=1 KUBECONFIG="$KC_SPK_KC" "${KC_ENVS[@]}" "${KC_CMD[@]}" "${KC_EXTRA_SPEAKER_ARGS[@]}"
  KC_SPK_PID[$n]=$E2E_LAST_PID
  _daemon_started "sp-$n" "$n" "$E2E_LAST_PID"
  wait_until 60 grep -q 'stores ready' "$d/log" || kc_die "$node: the speaker's stores did not get ready (cmdline: $(cat "$d/cmdline"))"
  kill -0 "$E2E_LAST_PID" || kc_die "$node: the speaker exited"
  log "$node speaker (pid ${KC_SPK_PID[$n]}): $(cat "$d/cmdline")"
}

kc_speaker_kill() { l2_sigkill "${KC_SPK_PID[$1]:?no speaker in $1}"; KC_SPK_PID[$1]=; }

kc_get() { nsx "$1" curl -sf --max-time 5 "http://$(kc_ip "$1"):7472$2"; }

# As l2speaker.sh's l2sp_vip / l2sp_agree, on the speakers' POD_IP:7472.
kc_vip() { # N IP [JQ]
  local st; st=$(kc_get "$1" /status) || return 2
  jq -ce --arg ip "$2" "[.l2.vips[] | select(.ip == \$ip)] | if length == 1 then .[0] | ${3:-.} else error(\"\\(length) entries for \" + \$ip) end" <<<"$st"
}
kc_agree() { # IP N... -> the winner every N names (non-empty), else fails
  local ip=$1 n w first=""; shift
  for n in "$@"; do
    w=$(kc_vip "$n" "$ip" '.winner // ""') || return 2
    w=$(jq -r . <<<"$w")
    [[ -n $w ]] || return 1
    [[ -z $first ]] && first=$w
    [[ $w == "$first" ]] || return 1
  done
  printf '%s\n' "$first"
}

kc_dump() {
  local n
  for n in "${KC_NODES[@]}"; do
    log "---- ${KC_NAME[$n]} ($n) /status ----"
    kc_get "$n" /status 2>/dev/null | jq -c '{config, sessions, l2: .l2}' >&2 || log "(no answer)"
    log "---- ${KC_NAME[$n]} ($n) log (tail) ----"
    daemon_log "sp-$n" 30 >&2 || true
  done
  log "---- BIRD protocols ----"; bird_cmd rt show protocols >&2 || true
  log "---- controller log (tail) ----"; tail -15 "$KC_CTL_LOG" >&2 || true
}
kc_die() { kc_dump; die "$*"; }

kc_nexthops() {
  local out rc=0
  out=$(bird_cmd rt show route "$1" 2>&1) || rc=$?
  # birdc exits non-zero for BIRD's "Network not found" answer too: that
  # one is an answer (no path); any other failure is not
  if [[ $out == *"Network not found"* ]]; then return 0; fi
  ((rc == 0)) || { echo QUERY-FAILED; return 2; }
  # BIRD 2: each path is a line with its protocol, then "\tvia NH on IF"
  awk '$1 == "via" {print $2}' <<<"$out" | sort -u | tr '\n' ' ' | sed 's/ $//'
}
kc_fib_nexthops() {
  local out
  out=$(ip -n "$(ns_name rt)" route show "$1") || { echo QUERY-FAILED; return 2; }
  { grep -oE 'via [0-9.]+' <<<"$out" || true; } | awk '{print $2}' | sort -u | tr '\n' ' ' | sed 's/ $//'
}
_kc_want() { (($#)) || return 0; printf '%s\n' "$@" | sort -u | tr '\n' ' ' | sed 's/ $//'; }
kc_expect_nh() {
  local what=$1 prefix=$2 w t0; shift 2
  w=$(_kc_want "$@"); t0=$(date +%s%N)
  if ! wait_until "${KC_WAIT:-20}" eval '[[ $(kc_nexthops "$prefix") == "$w" ]]'; then
    log "BIRD paths for $prefix: '$(kc_nexthops "$prefix")', want '$w'"
    kc_die "$what: BIRD's paths for $prefix are wrong"
  fi
  log "ok: $what: $prefix via {$w} ($((($(date +%s%N) - t0) / 1000000)) ms)"
}
kc_arp_macs() { l2_arping_macs "$1" | sort -u | tr '\n' ' ' | sed 's/ $//'; }
kc_expect_arp() {
  local what=$1 ip=$2 mac t0; mac=$(l2_node_mac "$3" a); t0=$(date +%s%N)
  wait_until "${KC_WAIT:-20}" eval '[[ $(kc_arp_macs "$ip") == "$mac" ]]' ||
    kc_die "$what: arping $ip: replies from '$(kc_arp_macs "$ip")', want only ${KC_NAME[$3]}'s $mac"
  log "ok: $what: arping $ip answered by ${KC_NAME[$3]} ($mac) only ($((($(date +%s%N) - t0) / 1000000)) ms)"
}
kc_expect_no_arp() {
  local what=$1 ip=$2
  wait_until "${KC_WAIT:-20}" l2_arping_times_out "$ip" ||
    kc_die "$what: arping $ip is still answered (by '$(kc_arp_macs "$ip")')"
  log "ok: $what: arping $ip unanswered"
}
kc_since() {
  local out s
  out=$(bird_cmd rt show protocols "$1") || die "birdc show protocols $1 failed"
  # Name Proto Table State Since(date time) Info
  s=$(awk -v p="$1" '$1 == p {print $5, $6}' <<<"$out")
  [[ -n $s ]] || die "birdc show protocols $1: no line for $1: $out"
  printf '%s\n' "$s"
}
kc_svc_ip() {
  local svc=$1
  wait_until 20 eval '[[ -n $(svc_ip "$svc") ]]' || kc_die "svc default/$svc: no address from the controller"
  svc_ip "$svc"
}

kc_up() {
  local n i labels out
  KC_SPK_BIN=$(kube_speaker_bin)
  KC_CTL_BIN=$(kube_controller_bin)
  KC_EXTRA_SPEAKER_ARGS=(--ml-members "$(kc_members)")
  kube_up
  out=$(kubectl apply -k "$KC_REPO/deploy" 2>&1) || die "kubectl apply -k deploy/ failed: $out"
  kubectl wait --for=condition=Established --timeout=30s -f "$KC_REPO/deploy/crds.yaml" >/dev/null ||
    die "CRDs from deploy/crds.yaml not Established"
  # MetalLB's install step: the memberlist key (docs/quick-start.md)
  kubectl create secret generic memberlist -n "$KC_NS" \
    --from-literal=secretkey="$(python3 -c 'import os; print(os.urandom(32).hex())')" >/dev/null ||
    die "create secret memberlist failed"
  # The Nodes, as a kubelet registers them (status with the InternalIP).
  for n in "${KC_NODES[@]}"; do
    labels="kubernetes.io/hostname: ${KC_HOST[$n]}, kubernetes.io/os: linux"
    if [[ -n ${KC_LABELS[$n]:-} ]]; then
      local kv
      IFS=, read -ra kv <<<"${KC_LABELS[$n]}"
      for i in "${kv[@]}"; do labels+=", ${i%%=*}: \"${i#*=}\""; done
    fi
    kc_apply <<EOF
apiVersion: v1
kind: Node
metadata:
  name: ${KC_NAME[$n]}
  labels: {$labels}
status:
  addresses:
  - {type: InternalIP, address: $(kc_ip "$n")}
  - {type: Hostname, address: ${KC_HOST[$n]}}
EOF
    out=$(kubectl get node "${KC_NAME[$n]}" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}') ||
      die "kubectl get node ${KC_NAME[$n]} failed"
    [[ $out == "$(kc_ip "$n")" ]] || die "Node ${KC_NAME[$n]}: InternalIP '$out' after create, want $(kc_ip "$n")"
  done
  # the ServiceAccounts of deploy/, their tokens only
  local tok
  tok=$(kube_token_for oxlb-controller "$KC_NS") || exit 1
  KC_CTL_KC=$E2E_TMP/controller.kubeconfig
  _kc_kubeconfig "$KC_CTL_KC" oxlb-controller "$tok"
  tok=$(kube_token_for oxlb-speaker "$KC_NS") || exit 1
  KC_SPK_KC=$E2E_TMP/speaker.kubeconfig
  _kc_kubeconfig "$KC_SPK_KC" oxlb-speaker "$tok"
  # the routers' side of every node
  kc_apply <<EOF
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor, namespace: $KC_NS}
spec: {myASN: 64512, peerASN: 64513, peerAddress: $KC_RT_IP, holdTime: ${KC_HOLD}s}
EOF

  l2_topo_create
  ns_create rt
  _l2_plug swa rt eth0 prt "$KC_RT_IP/24" "$KC_RT_MAC"
  {
    cat <<CONF
router id $KC_RT_IP;
timeformat protocol iso long ms;
protocol device {}
protocol kernel { ipv4 { export all; import none; }; merge paths on; }
template bgp node { local as 64513; passive on; hold time $KC_HOLD; keepalive time 1;
  ipv4 { import all; export none; }; }
CONF
    for n in "${KC_NODES[@]}"; do
      printf 'protocol bgp %s from node { neighbor %s as 64512; }\n' "$n" "$(kc_ip "$n")"
    done
  } | bird_start rt rt
  kube_bridge_up "${KC_NODES[@]}"

  kc_controller_start
  for n in "${KC_NODES[@]}"; do kc_speaker_start "$n"; done
  for n in "${KC_NODES[@]}"; do
    wait_until 30 bird_established rt "$n" || kc_die "BGP session with ${KC_NAME[$n]} not Established"
  done
  log "ok: cluster up: controller + speakers on ${KC_NODES[*]}, every session Established"
}
