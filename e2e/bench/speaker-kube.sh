#!/usr/bin/env bash
# Benchmark (not a test: asserts only that the run completed): oxlb-speaker
# in Kubernetes mode against the rig (real kube-apiserver + etcd), one node
# namespace peering with BIRD (as e2e/tests/46-speaker-kube.sh), the API
# reached through kube_bridge_up.
#   1. NODES Node objects (node-000..) and BASE LoadBalancer Services, each
#      with its status set as oxlb-controller writes it and an EndpointSlice
#      with two ready endpoints on two of the nodes (kube_speaker_bulk.py,
#      one keep-alive connection) -> BIRD holds BASE routes; speaker VmRSS.
#   2. With BASE Services present, LAT times: a Service POSTed and its
#      status PATCHed at once (the controller's write) -> its /32 in BIRD's
#      RIB (birdc `show route for` every 2 ms): p50 / p99 / max.
#   3. N - BASE more -> BIRD holds N + LAT routes; speaker VmRSS / VmHWM.
#   sudo e2e/bench/speaker-kube.sh
# Env: BENCH_N (default 10000), BENCH_BASE (1000), BENCH_NODES (100),
# BENCH_LAT (50), OXLB_SPEAKER_KUBE (default target/release/oxlb-speaker,
# built with --features kube if stale or without the subcommand).
set -euo pipefail
E2E_TEST_NAME=speaker-kube
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/speaker.sh"
source "$(dirname "$0")/../lib/kube.sh"
require bird birdc jq python3 socat
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BULK=$REPO/e2e/bench/kube_speaker_bulk.py
N=${BENCH_N:-10000} BASE=${BENCH_BASE:-1000} NODES=${BENCH_NODES:-100} LAT=${BENCH_LAT:-50}
((N > BASE)) || die "BENCH_N=$N must be above BENCH_BASE=$BASE"
BIN=${OXLB_SPEAKER_KUBE:-$REPO/target/release/oxlb-speaker}
if [[ -z ${OXLB_SPEAKER_KUBE:-} ]]; then
  if [[ ! -x $BIN || -n $(find "$REPO/crates" "$REPO/Cargo.lock" \( -name '*.rs' -o -name Cargo.toml -o -name Cargo.lock \) -newer "$BIN" -print -quit) ]] ||
    ! "$BIN" help kubernetes >/dev/null 2>&1; then
    (cd "$REPO" && cargo build --release -p speaker --features kube --bin oxlb-speaker >&2) ||
      die "cargo build --release -p speaker --features kube failed"
  fi
fi
"$BIN" help kubernetes >/dev/null || die "$BIN has no kubernetes subcommand"
kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }

kube_up
export KUBE_RIG_TOKEN
kubectl apply -f "$REPO/deploy/crds.yaml" >/dev/null || die "kubectl apply deploy/crds.yaml failed"
kubectl wait --for=condition=Established --timeout=30s -f "$REPO/deploy/crds.yaml" >/dev/null || die "CRDs not established"
kubectl create namespace metallb-system >/dev/null
kubectl create namespace bulk >/dev/null
kubectl apply -f - >/dev/null <<'EOF2' || die "kubectl apply of the MetalLB objects failed"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bulk, namespace: metallb-system}
spec: {addresses: [198.18.0.0/15]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.2, holdTime: 90s}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: all, namespace: metallb-system}
spec: {}
---
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {kubernetes.io/hostname: node-a}}
EOF2
python3 "$BULK" nodes "$NODES" >/dev/null || die "creating $NODES Nodes failed"

ns_create node; ns_create router
ns_link node eth0 192.0.2.1/30 router eth0 192.0.2.2/30
bird_start router router <<'CONF'
router id 192.0.2.2;
protocol device {}
protocol bgp oxlb4 { local as 64513; neighbor 192.0.2.1 as 64512; passive on; hold time 90;
  ipv4 { import all; export none; }; }
CONF
kube_bridge_up node
d=$(daemon_dir sp)
cmd=("$BIN" kubernetes --node-name node-a --namespace metallb-system --kubeconfig "$KUBECONFIG"
  --metrics-addr "127.0.0.1:$SPEAKER_PORT")
printf '%q ' "${cmd[@]}" >"$d/cmdline"
spawn node "$d/log" "${cmd[@]}"
_daemon_started sp node "$E2E_LAST_PID"
SP=$E2E_LAST_PID
wait_until 30 grep -q 'stores ready' "$d/log" || speaker_die sp "the speaker's stores did not get ready"
wait_until 30 bird_established router oxlb4 || speaker_die sp "BGP session not Established"
SOCK=$E2E_TMP/router/bird.ctl
rib_at_least() { # COUNT: waits (600 s) until BIRD holds COUNT routes; prints seconds
  local t0 out; t0=$(date +%s.%N)
  out=$(python3 "$REPO/e2e/bench/poll_bird.py" "$SOCK" oxlb4 "$1" 600 0.2) || die "poll_bird.py failed"
  [[ $(jq -r .full <<<"$out") != null ]] || speaker_die sp "BIRD holds $(jq -r .count <<<"$out") routes, want $1"
  awk -v a="$t0" -v b="$(jq -r .full <<<"$out")" 'BEGIN { printf "%.1f", b - a }'
}
load0=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- 1. BASE Services ----
c1=$(python3 "$BULK" services bulk s 0 "$BASE" "$NODES") || die "creating $BASE Services failed"
s1=$(rib_at_least "$BASE")
sleep 5
rss1=$(kb "$SP" VmRSS)
log "$BASE Services + slices on $NODES nodes: created in $(jq -r .seconds <<<"$c1") s, in BIRD ${s1} s after the last; speaker VmRSS ${rss1} kB"

# ---- 2. create -> route with BASE present ----
lat=$(python3 "$BULK" latency bulk l 120000 "$LAT" "$SOCK") || speaker_die sp "latency run failed"
log "create -> route in BIRD with $BASE present: $lat"

# ---- 3. up to N ----
c3=$(python3 "$BULK" services bulk s "$BASE" "$((N - BASE))" "$NODES") || die "creating $((N - BASE)) more Services failed"
s3=$(rib_at_least "$((N + LAT))")
sleep 10
rss3=$(kb "$SP" VmRSS) hwm3=$(kb "$SP" VmHWM)
load1=$(cut -d' ' -f1-3 /proc/loadavg)
slices=$(kubectl get endpointslices -n bulk --no-headers | wc -l) || die "kubectl get endpointslices failed"
log "$N Services, $slices EndpointSlices: the last $((N - BASE)) created in $(jq -r .seconds <<<"$c3") s, in BIRD ${s3} s after; speaker VmRSS ${rss3} kB VmHWM ${hwm3} kB"
speaker_stop sp
printf '%s\n' \
  "| Services (+ slices, $NODES nodes) | speaker VmRSS | VmHWM | create -> route in BIRD p50 / p99 / max (at $BASE, n=$LAT) | load before / after |" \
  "|---|---|---|---|---|" \
  "| $BASE | $((rss1 / 1024)) MB | | $(jq -r .p50_ms <<<"$lat") / $(jq -r .p99_ms <<<"$lat") / $(jq -r .max_ms <<<"$lat") ms | $load0 / |" \
  "| $N (+$LAT) | $((rss3 / 1024)) MB | $((hwm3 / 1024)) MB | | / $load1 |"
