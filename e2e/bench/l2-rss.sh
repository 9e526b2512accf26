#!/usr/bin/env bash
# Benchmark (not a test): RSS of one oxlb-speaker with N L2 VIPs (default
# 1,000), against the same speaker and Services with no L2Advertisement (the
# VIPs allocated but not announced): the difference is what L2 mode costs.
#
#   sudo e2e/bench/l2-rss.sh
#   env: BENCH_VIPS (default 1000), BENCH_OUT (default e2e/bench/results/l2-rss-oxlb.md)
#
# One speaker in node n1 of e2e/lib/l2topo.sh (the only member: majority of
# one), pool 198.18.0.0/22 (RFC 2544 range) with an L2Advertisement on eth0,
# N Services from gen_services.py. Measured once /status lists N L2 VIPs, all
# won by n1, and a sample of them answers arping from the client: VmRSS and
# VmHWM from /proc, after 2 s of idle (the announcer's first bursts done).
set -euo pipefail
E2E_TEST_NAME=bench-l2-rss
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
source "$BENCH_DIR/../lib/l2speaker.sh"
N=${BENCH_VIPS:-1000}
OUT=${BENCH_OUT:-$BENCH_DIR/results/l2-rss-oxlb.md}
((N >= 1 && N <= 1024)) || die "BENCH_VIPS=$N: the pool 198.18.0.0/22 holds 1 to 1024"

gen() { # DIR WITH_L2(0|1)
  mkdir -p "$1"
  {
    echo "apiVersion: metallb.io/v1beta1"
    echo "kind: IPAddressPool"
    echo "metadata: {name: l2bench, namespace: metallb-system}"
    echo "spec: {addresses: [198.18.0.0/22]}"
    if (($2)); then
      echo "---"
      echo "apiVersion: metallb.io/v1beta1"
      echo "kind: L2Advertisement"
      echo "metadata: {name: l2bench, namespace: metallb-system}"
      echo "spec: {ipAddressPools: [l2bench], interfaces: [eth0]}"
    fi
  } >"$1/00-pool.yaml"
  python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import gen_services; sys.stdout.write(gen_services.services_plain(int(sys.argv[2])))' \
    "$BENCH_DIR" "$N" >"$1/50-services.yaml"
}
st_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

l2_topo_create
declare -A R=()
for mode in l2 none; do
  d=$E2E_TMP/cfg-$mode
  gen "$d" "$([[ $mode == l2 ]] && echo 1 || echo 0)"
  l2sp_start n1 n1 "$d" --ml-members "n1=$(l2_node_ip4 n1)"
  pid=$(l2sp_pid n1)
  if [[ $mode == l2 ]]; then
    won() {
      speaker_status sp-n1 | jq -e --argjson n "$N" '[.l2.vips[] | select(.winner == "n1")] | length == $n' >/dev/null
    }
    wait_until 60 won || speaker_die sp-n1 "n1 does not win all $N L2 VIPs"
    # a sample of the VIPs (first, second, middle, last of /status) answers
    ips=$(speaker_status sp-n1 | jq -r '.l2.vips[].ip') || die "n1: /status does not answer"
    for ip in $(sed -n "1p;2p;$(((N + 1) / 2))p;\$p" <<<"$ips"); do
      [[ $(l2_arping_mac "$ip") == "$(l2_node_mac n1 a)" ]] || speaker_die sp-n1 "arping $ip does not get n1"
    done
  else
    wait_until 60 eval '[[ $(speaker_status sp-n1 | jq "[.services[]] | length") == "$N" ]]' \
      || speaker_die sp-n1 "/status does not list $N Services"
  fi
  sleep 2
  R[$mode,rss]=$(mb "$(st_kb "$pid" VmRSS)")
  R[$mode,hwm]=$(mb "$(st_kb "$pid" VmHWM)")
  log "$mode: VmRSS ${R[$mode,rss]} MB, VmHWM ${R[$mode,hwm]} MB"
  speaker_stop sp-n1
done

{
  echo "# oxlb-speaker RSS with $N L2 VIPs (e2e/bench/l2-rss.sh)"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ), kernel $(uname -r), commit $(git -C "$SPEAKER_REPO" rev-parse --short HEAD)." \
    "One speaker (the only member), $N Services in pool 198.18.0.0/22; measured when /status lists" \
    "all $N VIPs won by the node and arping from the client gets its MAC, plus 2 s."
  echo
  echo "| config | VmRSS MB | VmHWM MB |"
  echo "| --- | ---: | ---: |"
  echo "| $N Services, L2Advertisement on eth0 (all announced) | ${R[l2,rss]} | ${R[l2,hwm]} |"
  echo "| the same Services, no advertisement (allocated only) | ${R[none,rss]} | ${R[none,hwm]} |"
  echo
  echo "L2 mode's share: $(awk -v a="${R[l2,rss]}" -v b="${R[none,rss]}" 'BEGIN { printf "%.1f", a - b }') MB VmRSS for $N VIPs."
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
cat "$OUT"
