#!/usr/bin/env bash
# Benchmark (not a test), issue 14: what a client sees through a VIP.
#
#   sudo e2e/bench/vip-traffic.sh
#   env: BENCH_TRIALS (default 20) per row
#        BENCH_PARTS  (default "reload-bgp reload-l2 loss-bgp loss-bgp-bfd loss-l2")
#        BENCH_L2_IMPLS (default "oxlb oxlbfast keepalived2 keepalived3")
#        BENCH_OUT    results file (default e2e/bench/results/vip-traffic.md)
#        BENCH_APPEND a JSON-lines file of earlier samples to add to (kept)
#
# Parts (each runs as its own process, with its own namespaces):
#   reload-bgp  cl -- router (BIRD 2, kernel protocol) -- n1 (e2e/lib/vip.sh
#               ecmp_topology, n2 idle); n1 runs oxlb-speaker --bind-vips and
#               an HTTP server on 0.0.0.0:80. Per trial a Service with a new
#               loadBalancerIP is written into the config directory, the
#               client starts retrying (every 10 ms, 0.2 s timeout), then the
#               file is written and SIGHUP sent at once; time = the write ->
#               the client's first answer (wall clock, one machine).
#   reload-l2   cl and n1 on one segment (a veth pair); the same with an L2
#               pool on n1's eth0 (oxlb alone, no membership peers).
#   loss-bgp    both nodes announce one VIP (holdTime 3s) to BIRD (merge paths),
#               both serve; a request loop (a new connection every 20 ms) runs
#               while n1 freezes (nftables drops all its traffic: no FIN, no
#               Cease, the router waits for the hold timer); outage = freeze ->
#               the first request that succeeds after the last failed one
#               (requests by their start; a failed one takes its 0.2 s
#               timeout; which node a connection reaches is the kernel's
#               multipath hash). Between trials n1's speaker
#               is restarted (the node comes back).
#   loss-bgp-bfd the same with BFD 3 x 100 ms (BIRD `protocol bfd`, the
#               nodes' BGPPeer bfdProfile).
#   loss-l2     e2e/lib/l2topo.sh (three nodes, a client, one bridge); every
#               node serves 0.0.0.0:80; the VIP's owner loses its switch port
#               (carrier down: the node is gone); outage = trigger -> the
#               first answer from another node, seen by the request loop.
#               oxlb (--bind-vips, default and fast profile) side by side with
#               keepalived VRRPv2 (advert 1 s) and VRRPv3 (advert 0.1 s), as
#               in e2e/bench/l2-failover.sh.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
TRIALS=${BENCH_TRIALS:-20}
PARTS=${BENCH_PARTS:-reload-bgp reload-l2 loss-bgp loss-bgp-bfd loss-l2}
L2_IMPLS=${BENCH_L2_IMPLS:-oxlb oxlbfast keepalived2 keepalived3}
OUT=${BENCH_OUT:-$BENCH_DIR/results/vip-traffic.md}

if [[ ${1:-} != part ]]; then
  # The driver: each part in its own process, then the report.
  RES=${BENCH_APPEND:-$(mktemp /tmp/vip-traffic.XXXXXX.jsonl)}
  for p in $PARTS; do
    BENCH_RES=$RES "$0" part "$p" || { echo "part $p failed" >&2; exit 1; }
  done
  {
    echo "# Traffic through the VIP (e2e/bench/vip-traffic.sh)"
    echo
    echo "Run $(date -u +%Y-%m-%dT%H:%MZ), kernel $(uname -r), $(nproc) CPUs shared with other work" \
      "(load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)), oxlb commit" \
      "$(git -C "$BENCH_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown). $TRIALS trials per row." \
      "Percentiles by nearest rank."
    echo
    python3 - "$RES" <<'PY'
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def pct(v, p):
    v = sorted(v)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]
print("| part | implementation | trials | p50 ms | p99 ms | min ms | max ms | failed requests p50 |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
seen = []
for r in rows:
    k = (r["part"], r["impl"])
    if k not in seen:
        seen.append(k)
for part, impl in seen:
    rs = [r for r in rows if (r["part"], r["impl"]) == (part, impl)]
    ms = [r["ms"] for r in rs]
    f = [r.get("failed", 0) for r in rs]
    print(f"| {part} | {impl} | {len(rs)} | {pct(ms, 50):.0f} | {pct(ms, 99):.0f} | {min(ms):.0f} | {max(ms):.0f} | {pct(f, 50)} |")
print()
print("Raw samples (ms, in trial order):")
print()
for part, impl in seen:
    print(f"* {part} {impl}: " + " ".join(f'{r["ms"]:.0f}' for r in rows if (r["part"], r["impl"]) == (part, impl)))
PY
  } >"$OUT.tmp"
  mv "$OUT.tmp" "$OUT"
  [[ -n ${BENCH_APPEND:-} ]] || rm -f "$RES"
  cat "$OUT"
  exit 0
fi

PART=$2
E2E_TEST_NAME=bench-vip-$PART
source "$BENCH_DIR/../lib/l2speaker.sh"
source "$BENCH_DIR/../lib/vip.sh"
require bird birdc keepalived nft jq python3
RES=${BENCH_RES:?}
now_ns() { date +%s%N; }
record() { # IMPL MS [FAILED]
  jq -cn --arg part "$PART" --arg impl "$1" --argjson ms "$2" --argjson failed "${3:-0}" \
    '{part: $part, impl: $impl, ms: $ms, failed: $failed}' >>"$RES"
  log "$PART $1: $2 ms (failed requests: ${3:-0})"
}
bind_mode() { if nsx "$1" ip link add oxlb-probe type dummy 2>/dev/null; then nsx "$1" ip link delete oxlb-probe; echo dummy; else echo lo; fi; }

svc_yaml() { # NAME IP
  cat <<YAML
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: default}
spec:
  type: LoadBalancer
  loadBalancerIP: $2
  ports: [{port: 80, protocol: TCP}]
YAML
}

# reload_trials NAME NS IP_PREFIX: per trial a new Service on IP_PREFIX.(100+i).
reload_trials() {
  local sp=$1 dir=$2 prefix=$3 i ip out t0 t1 ms
  for ((i = 1; i <= TRIALS; i++)); do
    ip=$prefix.$((100 + i))
    spawn cl "$E2E_TMP/first-$i.out" python3 "$VIPSERVE" first "http://$ip/" 30
    local cpid=$E2E_LAST_PID
    sleep 0.3
    t0=$(now_ns)
    svc_yaml "bench$i" "$ip" >"$dir/svc-$i.yaml"
    speaker_hup "$sp"
    wait "$cpid" || { cat "$E2E_TMP/first-$i.out" >&2; speaker_die "$sp" "trial $i: $ip never answered"; }
    _l2_unregister_pid "$cpid"
    out=$(cat "$E2E_TMP/first-$i.out")
    t1=${out#* }
    ms=$(python3 -c "print(round(($t1 - $t0 / 1e9) * 1000, 1))")
    record oxlb "$ms"
  done
}

case $PART in
reload-bgp)
  ecmp_topology
  bird_start router router <<'CONF'
router id 203.0.113.1;
protocol device {}
protocol kernel { ipv4 { export where source = RTS_BGP; }; merge paths on; }
template bgp node { local as 64513; passive on; hold time 9; }
protocol bgp n1v4 from node { neighbor 192.0.2.1 as 64512; ipv4 { import all; export none; }; }
CONF
  dir=$E2E_TMP/cfg; mkdir -p "$dir"
  cat >"$dir/00-base.yaml" <<'YAML'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: vips, namespace: metallb-system}
spec: {addresses: [198.51.100.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: all, namespace: metallb-system}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor4, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.2, holdTime: 9s}
YAML
  svc_yaml bench0 198.51.100.100 >"$dir/svc-0.yaml"
  speaker_start s1 n1 "$dir" n1 --bind-vips "$(bind_mode n1)"
  spawn n1 "$E2E_TMP/http.err" python3 "$VIPSERVE" serve n1 0.0.0.0 80 /dev/null
  wait_until 30 nsx cl python3 "$VIPSERVE" first http://198.51.100.100/ 1 >/dev/null || speaker_die s1 "the first Service never answered"
  reload_trials s1 "$dir" 198.51.100
  ;;
reload-l2)
  ns_create cl; ns_create n1
  ns_link n1 eth0 192.0.2.1/24 cl eth0 192.0.2.200/24
  dir=$E2E_TMP/cfg; mkdir -p "$dir"
  cat >"$dir/00-base.yaml" <<'YAML'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: l2, namespace: metallb-system}
spec: {addresses: [192.0.2.64/26, 192.0.2.128/26]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: eth0, namespace: metallb-system}
spec: {ipAddressPools: [l2], interfaces: [eth0]}
YAML
  svc_yaml bench0 192.0.2.100 >"$dir/svc-0.yaml"
  speaker_start s1 n1 "$dir" n1 --bind-vips "$(bind_mode n1)"
  spawn n1 "$E2E_TMP/http.err" python3 "$VIPSERVE" serve n1 0.0.0.0 80 /dev/null
  wait_until 30 nsx cl python3 "$VIPSERVE" first http://192.0.2.100/ 1 >/dev/null || speaker_die s1 "the first Service never answered"
  reload_trials s1 "$dir" 192.0.2
  ;;
loss-bgp | loss-bgp-bfd)
  # loss-bgp-bfd: the same with BFD 3 x 100 ms on both sides (BIRD's
  # `protocol bfd`, the nodes' BGPPeer bfdProfile): the router drops the
  # frozen node's path when BFD, not the hold timer, says it is gone.
  bfd_bird=; bfd_opt=; label="bird merge paths, holdTime 3s"
  if [[ $PART == loss-bgp-bfd ]]; then
    bfd_bird='protocol bfd { interface "*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }'
    bfd_opt='bfd on;'
    label="bird merge paths, holdTime 3s, BFD 3 x 100 ms"
  fi
  ecmp_topology
  bird_start router router <<CONF
router id 203.0.113.1;
protocol device {}
protocol kernel { ipv4 { export where source = RTS_BGP; }; merge paths on; }
$bfd_bird
# error wait time: BIRD waits 60 s by default after a hold-timer expiry before it accepts the node again
template bgp node { local as 64513; passive on; hold time 3; error wait time 1, 2; $bfd_opt }
protocol bgp n1v4 from node { neighbor 192.0.2.1 as 64512; ipv4 { import all; export none; }; }
protocol bgp n2v4 from node { neighbor 192.0.2.5 as 64512; ipv4 { import all; export none; }; }
CONF
  for n in n1 n2; do
    peer=192.0.2.2; [[ $n == n2 ]] && peer=192.0.2.6
    node_config "$E2E_TMP/$n" "$peer" 2001:db8:1::2
    sed -i 's/holdTime: 9s/holdTime: 3s/' "$E2E_TMP/$n/objects.yaml"
    if [[ $PART == loss-bgp-bfd ]]; then
      sed -i "s/peerAddress: $peer, holdTime: 3s}/peerAddress: $peer, holdTime: 3s, bfdProfile: fast}/" "$E2E_TMP/$n/objects.yaml"
      grep -q 'bfdProfile: fast' "$E2E_TMP/$n/objects.yaml" || die "$n: BGPPeer tor4 has no bfdProfile after the edit"
      cat >>"$E2E_TMP/$n/objects.yaml" <<'YAML'
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: fast, namespace: metallb-system}
spec: {receiveInterval: 100, transmitInterval: 100, detectMultiplier: 3}
YAML
    fi
    speaker_start "s$n" "$n" "$E2E_TMP/$n" "$n" --bind-vips "$(bind_mode "$n")"
    spawn "$n" "$E2E_TMP/http-$n.err" python3 "$VIPSERVE" serve "$n" 0.0.0.0 80 /dev/null
  done
  paths() { local j; j=$(nsx router ip -j route show "$VIP4") || return 1; jq -r '[.[] | if .nexthops then .nexthops[] else . end] | length' <<<"$j"; }
  for ((i = 1; i <= TRIALS; i++)); do
    wait_until 60 eval '[[ $(paths) == 2 ]]' || die "trial $i: no 2-path route"
    if [[ $PART == loss-bgp-bfd ]]; then
      bfd_up() { local o; o=$(bird_cmd router show bfd sessions) || return 1; [[ $(grep -c ' Up ' <<<"$o") == 2 ]]; }
      wait_until 30 bfd_up || die "trial $i: BIRD does not show two BFD sessions Up: $(bird_cmd router show bfd sessions)"
    fi
    : >"$E2E_TMP/loop.log"
    spawn cl /dev/null python3 "$VIPSERVE" loop "http://$VIP4/" "$E2E_TMP/loop.log"; lp=$E2E_LAST_PID
    sleep 1
    t0=$(now_ns)
    nsx n1 nft -f - <<'NFT'
table inet benchfreeze {
  chain i { type filter hook input priority -300; policy drop; }
  chain o { type filter hook output priority -300; policy drop; }
}
NFT
    wait_until 30 eval '[[ $(paths) == 1 ]]' || die "trial $i: the router kept n1's path"
    sleep 1
    kill_pid "$lp" 2
    # Outage: freeze -> the first request (by its start) that succeeded
    # after the last failed one; a failed request's own start would hide
    # its 0.2 s timeout, during which the path may still have been dead.
    res=$(awk -v t0="$t0" '$1 > t0 && $2 == "fail" { last = $1; okafter = 0; n++ } $1 > t0 && $2 == "ok" && last && !okafter { okafter = $1 } END { if (last && !okafter) { print "no success after the last failure"; exit 1 } printf "%.1f %d", (last ? (okafter - t0) / 1e6 : 0), n }' "$E2E_TMP/loop.log") ||
      die "trial $i: $res"
    record "$label" "${res% *}" "${res#* }"
    nsx n1 nft delete table inet benchfreeze
    # The node "reboots": a fresh speaker (the frozen one's session backs
    # off its redial after repeated hold-timer losses, RFC 4271 §8.1.1).
    speaker_stop sn1
    speaker_start sn1 n1 "$E2E_TMP/n1" n1 --bind-vips "$(bind_mode n1)"
  done
  ;;
loss-l2)
  # keepalived as in e2e/bench/l2-failover.sh (VRRP, equal priorities, nopreempt).
  declare -A KA_PID=()
  ka_start() { # NODE VERSION ADVERT
    local d="$E2E_TMP/ka-$1"; mkdir -p "$d"
    cat >"$d/keepalived.conf" <<CONF
global_defs { router_id $1
  vrrp_version $2
  script_user root
  enable_script_security }
vrrp_instance VI_1 { state BACKUP
  nopreempt
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int $3
  virtual_ipaddress { $L2_VIP4/32 dev eth0 } }
CONF
    rm -f "$d/vrrp.pid"
    spawn "$1" "$d/log" keepalived --dont-fork --log-console --vrrp --use-file "$d/keepalived.conf" --pid "$d/pid" --vrrp_pid "$d/vrrp.pid"
    KA_PID[$1]=$E2E_LAST_PID
    wait_until 10 test -s "$d/vrrp.pid" || die "keepalived on $1 did not start"
  }
  ka_owner() { local o; o=$(l2_owners "$L2_VIP4"); [[ -n $o && $o != *" "* ]] && printf '%s\n' "$o"; }
  ka_stop() { kill_pid "${KA_PID[$1]}" 5; _l2_unregister_pid "${KA_PID[$1]}"; }
  ox_start() { l2sp_start "$1" "$1" "$L2SP_CONFIGS/failover" --ml-members "$(l2sp_members)" --l2-profile "$2" --bind-vips lo; }
  ox_owner() { l2sp_agree "$L2_VIP4" "${L2_NODES[@]}"; }
  ox_ready() { local st; st=$(speaker_status "sp-$1" 2>/dev/null) || return 1
    jq -e '((.l2.fenced // false) == false) and ([.l2.members[] | if type == "array" then .[1] elif type == "object" then (.alive // .up // false) else false end] | all)' <<<"$st" >/dev/null; }
  l2_topo_create
  for n in "${L2_NODES[@]}"; do spawn "$n" "$E2E_TMP/http-$n.err" python3 "$VIPSERVE" serve "$n" 0.0.0.0 80 /dev/null; done
  for impl in $L2_IMPLS; do
    for n in "${L2_NODES[@]}"; do
      case $impl in
        oxlb) ox_start "$n" default ;; oxlbfast) ox_start "$n" fast ;;
        keepalived2) ka_start "$n" 2 1 ;; keepalived3) ka_start "$n" 3 0.1 ;;
        *) die "unknown implementation $impl" ;;
      esac
    done
    owner_of() { case $impl in oxlb*) ox_owner ;; *) ka_owner ;; esac; }
    settled() { local o n; o=$(owner_of) || return 1; [[ -n $o ]] || return 1
      for n in "${L2_NODES[@]}"; do
        case $impl in oxlb*) ox_ready "$n" || return 1 ;; *) grep -E '\(VI_1\) Entering [A-Z]+ STATE' "$E2E_TMP/ka-$n/log" >/dev/null || return 1 ;; esac
      done; }
    for ((i = 1; i <= TRIALS; i++)); do
      wait_until 30 settled || die "$impl trial $i: not settled"
      owner=$(owner_of)
      : >"$E2E_TMP/loop.log"
      spawn cl /dev/null python3 "$VIPSERVE" loop "http://$L2_VIP4/" "$E2E_TMP/loop.log"; lp=$E2E_LAST_PID
      wait_until 10 grep -q " ok $owner" "$E2E_TMP/loop.log" || die "$impl trial $i: $owner does not answer"
      sleep 0.5
      t0=$(now_ns)
      l2_carrier_down "$owner"
      resumed() { awk -v t0="$t0" -v w="$owner" '$1 > t0 && $2 == "ok" && $3 != w { f = 1; exit } END { exit !f }' "$E2E_TMP/loop.log"; }
      wait_until 20 resumed || die "$impl trial $i: no answer from another node"
      kill_pid "$lp" 2
      res=$(awk -v t0="$t0" -v w="$owner" '$1 > t0 && $2 == "fail" { n++ } $1 > t0 && $2 == "ok" && $3 != w && !f { f = $1 }
            END { printf "%.1f %d", (f - t0) / 1e6, n }' "$E2E_TMP/loop.log")
      record "$impl" "${res% *}" "${res#* }"
      l2_carrier_up "$owner"
      sleep 1
    done
    for n in "${L2_NODES[@]}"; do case $impl in oxlb*) speaker_stop "sp-$n" ;; *) ka_stop "$n" ;; esac; done
  done
  ;;
*) die "unknown part $PART" ;;
esac
