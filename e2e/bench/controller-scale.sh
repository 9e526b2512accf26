#!/usr/bin/env bash
# Benchmark (not a test: asserts only that the run completed): oxlb-controller
# against the rig (real kube-apiserver + etcd) with N existing Services.
# Per N (fresh rig each): N LoadBalancer Services POSTed in bulk
# (kube_bulk.py, one keep-alive connection; allocateLoadBalancerNodePorts
# false: the NodePort range holds 2,768) while the controller runs ->
# all N allocated, total time; the API server's CPU over that phase and
# its RSS (and etcd's) after; the controller's VmRSS/VmHWM; then 50
# Services created one at a time -> status.loadBalancer set (2 ms GET
# polling; p50/p99/max); the controller's own decision time per pass
# (decide_ms, from its debug log) at N; then the API server's own share of
# that path with no controller in it (kube_bulk.py apicost: POST, the watch
# event, the status PATCH, the GET, p50 each).
#   sudo e2e/bench/controller-scale.sh
# Env: BENCH_N (default "1000 10000"), BENCH_LAT (default 50),
# OXLB_CONTROLLER (default target/release/oxlb-controller, built if stale).
set -euo pipefail
E2E_TEST_NAME=controller-scale
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/kube.sh"
require jq python3
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BULK=$REPO/e2e/bench/kube_bulk.py
if [[ -z ${OXLB_CONTROLLER:-} ]]; then
  OXLB_CONTROLLER=$REPO/target/release/oxlb-controller
  if [[ ! -x $OXLB_CONTROLLER || -n $(find "$REPO/crates" "$REPO/Cargo.lock" \( -name '*.rs' -o -name Cargo.toml -o -name Cargo.lock \) -newer "$OXLB_CONTROLLER" -print -quit) ]]; then
    (cd "$REPO" && cargo build --release -p controller --bin oxlb-controller >&2) || die "cargo build --release -p controller failed"
  fi
fi
export OXLB_CONTROLLER
CTL_BIN=$OXLB_CONTROLLER
TCK=$(getconf CLK_TCK)
cpu_s() { awk -v t="$TCK" '{printf "%.1f", ($14 + $15) / t}' "/proc/$1/stat"; }
kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
results=()
for N in ${BENCH_N:-1000 10000}; do
  kube_up "n$N"
  kube_controller_setup
  kubectl apply -f - >/dev/null <<'EOF2'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bulk, namespace: metallb-system}
spec: {addresses: [198.18.0.0/15]}
EOF2
  kubectl create namespace bulk >/dev/null
  kubectl create namespace lat >/dev/null
  kubectl create namespace api >/dev/null
  RUST_LOG=info,controller::run=debug kube_controller_start "n$N"
  api_pid=$(awk '$1 == "kube-apiserver" {print $2}' "$KUBE_RIG_DIR/pids")
  etcd_pid=$(awk '$1 == "etcd" {print $2}' "$KUBE_RIG_DIR/pids")
  load0=$(cut -d' ' -f1-3 /proc/loadavg)
  cpu0=$(cpu_s "$api_pid") ctl_cpu0=$(cpu_s "$CTL_PID")
  t0=$(date +%s%N)
  created=$(KUBE_RIG_TOKEN=$KUBE_RIG_TOKEN python3 "$BULK" create bulk s "$N") || die "bulk create of $N failed"
  allocated=$(python3 "$BULK" wait bulk "$N" 600 "$t0") || die "not all $N allocated: $allocated"
  cpu1=$(cpu_s "$api_pid") ctl_cpu1=$(cpu_s "$CTL_PID")
  sleep 3
  rss=$(kb "$CTL_PID" VmRSS) hwm=$(kb "$CTL_PID" VmHWM)
  api_rss=$(kb "$api_pid" VmRSS) etcd_rss=$(kb "$etcd_pid" VmRSS)
  log "N=$N: create $(jq -r .seconds <<<"$created") s, all allocated $(jq -r .seconds <<<"$allocated") s after the first POST; controller VmRSS ${rss} kB VmHWM ${hwm} kB; kube-apiserver ${api_rss} kB, CPU $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN{print b-a}') s"
  lines_before=$(wc -l < "$CTL_LOG")
  lat=$(python3 "$BULK" latency lat l "${BENCH_LAT:-50}") || die "latency run failed at N=$N"
  load1=$(cut -d' ' -f1-3 /proc/loadavg)
  # decide_ms of the passes during the latency run (each sees N+i Services)
  decide=$(tail -n +"$((lines_before + 1))" "$CTL_LOG" | awk 'match($0, /decide_ms=[0-9.]+/) {print substr($0, RSTART + 10, RLENGTH - 10) + 0}' | sort -n | awk '{v[NR] = $1} END {if (!NR) print "none"; else printf "%.1f/%.1f", v[int((NR + 1) / 2)], v[NR]}')
  log "N=$N: create -> status $lat; decide_ms median/max $decide; load $load0 -> $load1"
  api=$(python3 "$BULK" apicost api a "${BENCH_LAT:-50}") || die "apicost run failed at N=$N"
  log "N=$N: API server alone: $api"
  apicol=$(jq -r '"\(.post.p50_ms) / \(.watch_after_post.p50_ms) / \(.patch_status.p50_ms) / \(.get.p50_ms) = \(.sum.p50_ms) (p99 \(.sum.p99_ms))"' <<<"$api")
  results+=("| $N | $(jq -r .seconds <<<"$created") s | $(jq -r .seconds <<<"$allocated") s | $(jq -r .p50_ms <<<"$lat") / $(jq -r .p99_ms <<<"$lat") / $(jq -r .max_ms <<<"$lat") ms | $decide ms | $((rss / 1024)) / $((hwm / 1024)) MB | $(awk -v a="$ctl_cpu0" -v b="$ctl_cpu1" 'BEGIN{print b-a}') s | $((api_rss / 1024)) MB, $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN{print b-a}') s CPU | $((etcd_rss / 1024)) MB | $apicol ms | $load0 / $load1 |")
  kill_pid "$CTL_PID"
  kube_down
done
printf '%s\n' "| N | bulk POSTs done | all allocated (from first POST) | create -> status p50 / p99 / max | controller decide per pass median / max | controller VmRSS / VmHWM | controller CPU (bulk) | kube-apiserver RSS, CPU (bulk) | etcd RSS | API server alone p50: POST / watch event / status PATCH / GET = sum | load before / after |" "|---|---|---|---|---|---|---|---|---|---|---|" "${results[@]}"
