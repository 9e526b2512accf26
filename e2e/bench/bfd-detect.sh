#!/usr/bin/env bash
# Benchmark (not a test): how fast a dead peer takes the BGP session down.
# Topology: node (the detector) eth0 192.0.2.1/30 --- router (FRR zebra + bgpd
# + bfdd, AS 64513) eth0 192.0.2.2/30. A trial: at t0 (wall clock just before
# the nftables rule is loaded) everything the router sends to the node is
# dropped; detection = the detector's first "session down" log line after t0
# minus t0. Then the rule goes, the run waits for BGP (and BFD) to be up and
# settled, and the next trial starts.
#
#   sudo e2e/bench/bfd-detect.sh
#   env: BENCH_TRIALS (default 20), BENCH_SCENARIOS (default "hold3 bfd100 bfd300 frr100"),
#        BENCH_OUT (default e2e/bench/results/bfd-detect.md)
#
# Scenarios (detector on the node):
#   hold3   oxlb-speaker, holdTime 3s, no BFD (today's best without BFD)
#   bfd100  oxlb-speaker, BFDProfile 100 ms / 100 ms / x3 (FRR's profile the same)
#   bfd300  oxlb-speaker, BFDProfile 300 ms / 300 ms / x3 (MetalLB's defaults)
#   frr100  FRR bgpd + bfdd on the node instead, BFD 100 ms / 100 ms / x3
#           (FRR-to-FRR, what MetalLB's FRR mode does)
# hold time 90 s in the BFD scenarios (only BFD can be what detects).
set -euo pipefail
E2E_TEST_NAME=bfd-detect
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/daemons.sh"
source "$here/../peers/speaker.sh"
source "$here/../lib/bfd.sh"
require jq curl nft python3
trials=${BENCH_TRIALS:-20}
scenarios=${BENCH_SCENARIOS:-"hold3 bfd100 bfd300 frr100"}
out=${BENCH_OUT:-$here/results/bfd-detect.md}

# The router: FRR; BFD profile p<MS> for the BFD scenarios.
router_conf() { # router_conf HOLD BFD_MS|-
  local hold=$1 ms=$2
  if [[ $ms != - ]]; then
    printf 'bfd\n profile p\n  transmit-interval %s\n  receive-interval %s\n  detect-multiplier 3\n exit\nexit\n' "$ms" "$ms"
  fi
  cat <<CONF
router bgp 64513
 bgp router-id 192.0.2.2
 no bgp ebgp-requires-policy
 neighbor 192.0.2.1 remote-as 64512
 neighbor 192.0.2.1 update-source 192.0.2.2
 neighbor 192.0.2.1 timers 1 $hold
 neighbor 192.0.2.1 timers connect 1
CONF
  [[ $ms != - ]] && echo " neighbor 192.0.2.1 bfd profile p"
  echo "exit"
}

dead() { nsx router nft -f - <<'NFT'
table ip oxlb_bench_dead {
  chain out { type filter hook output priority 0; ip daddr 192.0.2.1 drop; }
}
NFT
}
alive() { nsx router nft delete table ip oxlb_bench_dead; }

# ts_of LINE: seconds since the epoch of a log line (oxlb: RFC 3339; FRR:
# "YYYY/MM/DD HH:MM:SS.ffffff", UTC here).
ts_of() {
  python3 -c '
import sys, re, datetime
l = re.sub(r"\x1b\[[0-9;]*m", "", sys.argv[1])
m = re.match(r"(\d{4})[-/](\d\d)[-/](\d\d)[T ](\d\d):(\d\d):(\d\d)(\.\d+)?", l)
d = datetime.datetime(*map(int, m.groups()[:6]), tzinfo=datetime.timezone.utc)
print("%.6f" % (d.timestamp() + float(m.group(7) or 0)))' "$1"
}

# down_after LOG N PATTERN: the first line matching PATTERN past line N.
down_after() { tail -n +"$(($2 + 1))" "$1" | sed 's/\x1b\[[0-9;]*m//g' | grep -m1 -E "$3"; }

results=()
run_scenario() {
  local sc=$1 ms hold log pattern up
  case $sc in
    hold3) ms=-; hold=3 ;;
    bfd100) ms=100; hold=90 ;;
    bfd300) ms=300; hold=90 ;;
    frr100) ms=100; hold=90 ;;
    *) die "unknown scenario $sc" ;;
  esac
  ns_create node; ns_create router
  ns_link node eth0 192.0.2.1/30 router eth0 192.0.2.2/30
  router_conf "$hold" "$ms" | frr_bfd_start "r-$sc" router
  local cfg=$E2E_TMP/cfg-$sc
  if [[ $sc == frr100 ]]; then
    frr_bfd_start "n-$sc" node <<CONF
log timestamp precision 6
bfd
 profile p
  transmit-interval 100
  receive-interval 100
  detect-multiplier 3
 exit
exit
router bgp 64512
 bgp router-id 192.0.2.1
 bgp log-neighbor-changes
 no bgp ebgp-requires-policy
 neighbor 192.0.2.2 remote-as 64513
 neighbor 192.0.2.2 update-source 192.0.2.1
 neighbor 192.0.2.2 timers 1 90
 neighbor 192.0.2.2 timers connect 1
 neighbor 192.0.2.2 bfd profile p
exit
CONF
    log=$E2E_TMP/n-$sc/log; pattern='ADJCHANGE.*192\.0\.2\.2.*Down'
    up() { [[ $(frr_vtysh "n-$sc" 'show bgp neighbors 192.0.2.2 json' | jq -r '."192.0.2.2".bgpState') == Established ]] \
      && [[ $(frr_bfd_peer "n-$sc" 192.0.2.2 .status) == up ]] && [[ $(frr_bfd_peer "n-$sc" 192.0.2.2 .uptime) -ge 2 ]]; }
  else
    if [[ $ms == - ]]; then
      mkdir -p "$cfg"; cp "$here/../configs/bfd/00-pool.yaml" "$cfg/"
      sed -e 's/@PEER@/192.0.2.2/' -e 's/@MULTIHOP@/false/' -e 's/holdTime: 90s/holdTime: 3s\n  connectTime: 1s/' \
        -e '/bfdProfile/d' -e '/^---$/,$d' "$here/../configs/bfd/10-peer.yaml.in" >"$cfg/10-peer.yaml"
    else
      bfd_config "$cfg" 192.0.2.2 "$ms" "$ms" 3
      sed -i 's/holdTime: 90s/holdTime: 90s\n  connectTime: 1s/' "$cfg/10-peer.yaml"
    fi
    speaker_start "sp-$sc" node "$cfg" NodeA
    log=$E2E_TMP/sp-$sc/log; pattern='session down peer=tor'
    if [[ $ms == - ]]; then
      up() { [[ $(speaker_session "sp-$sc" tor .state) == Established ]]; }
    else
      up() { [[ $(speaker_session "sp-$sc" tor .state) == Established ]] && [[ $(speaker_bfd "sp-$sc" .state) == up ]] \
        && [[ $(frr_bfd_peer "r-$sc" 192.0.2.1 .uptime) -ge 2 ]]; }
    fi
  fi
  local samples=() i n t0 line t1
  for ((i = 0; i < trials; i++)); do
    wait_until 60 up || die "$sc: not up before trial $i"
    n=$(wc -l <"$log")
    t0=$(date +%s.%N)
    dead
    wait_until 30 down_after "$log" "$n" "$pattern" >/dev/null || die "$sc: no session down in trial $i"
    line=$(down_after "$log" "$n" "$pattern")
    t1=$(ts_of "$line")
    samples+=("$(python3 -c "print('%.1f' % (($t1 - $t0) * 1000))")")
    alive
  done
  local stats
  stats=$(printf '%s\n' "${samples[@]}" | python3 -c '
import sys
v = sorted(float(x) for x in sys.stdin)
q = lambda p: v[min(len(v) - 1, int(round(p * (len(v) - 1))))]
print("%d | %.0f | %.0f | %.0f | %.0f" % (len(v), v[0], q(0.5), q(0.99), v[-1]))')
  log "$sc: n | min | p50 | p99 | max (ms): $stats"
  results+=("| $sc | $stats |")
  e2e_cleanup_ns_only
}

# Tear the scenario's namespaces and daemons down before the next one.
e2e_cleanup_ns_only() {
  local p
  for p in "${_E2E_PIDS[@]:-}"; do [[ -n $p ]] && kill_pid "$p" 3 2>/dev/null || true; done
  _E2E_PIDS=()
  for p in node router; do ip netns del "$(ns_name "$p")" 2>/dev/null || true; done
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
for sc in $scenarios; do run_scenario "$sc"; done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p "$(dirname "$out")"
{
  echo "# bfd-detect ($(date -u +%Y-%m-%dT%H:%MZ), $trials trials, load average before: $load0, after: $load1)"
  echo
  echo "| scenario | n | min ms | p50 ms | p99 ms | max ms |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${results[@]}"
} | tee "$out"
