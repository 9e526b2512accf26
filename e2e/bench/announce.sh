#!/usr/bin/env bash
# Benchmark (not a test): announce N IPv4 /32 to a BIRD receiver in a network
# namespace, with three announcers in turn: oxlb-bgp (--generate), BIRD itself
# (static routes exported over BGP) and GoBGP (routes injected from an MRT file
# with `gobgp mrt inject global`, the fastest bulk path of its CLI).
#
# For every (announcer, N) a fresh receiver and announcer are started; we
# measure, polling the receiver's control socket every 20 ms:
#   total  = announcer process start -> receiver holds all N routes
#   est    = receiver's session Established -> receiver holds all N routes
#   RSS    = announcer's peak RSS (VmHWM) once the receiver has everything
# and print a markdown table plus the machine.
#
#   sudo e2e/bench/announce.sh                 # N = 1000 10000 100000
#   sudo BENCH_N="1000 10000" e2e/bench/announce.sh
#   BENCH_ANNOUNCERS="oxlb bird gobgp" BENCH_TIMEOUT=180 BENCH_REPEAT=3
#
# Prefixes: N consecutive /32s from 198.18.0.0 (RFC 2544 benchmarking range,
# 198.18.0.0/15 = 131072 addresses; the IPv4 documentation ranges hold only
# 768). They exist only as BGP NLRI between daemons inside the benchmark's own
# namespaces: no daemon here has a kernel protocol, nothing is installed in any
# FIB and no packet is sent to them. Announcer 192.0.2.1 (AS 64512) ---
# receiver 192.0.2.2 (AS 64513), one veth link.
set -euo pipefail
E2E_TEST_NAME=bench-announce
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
source "$BENCH_DIR/../lib/daemons.sh"
source "$BENCH_DIR/../peers/oxlb.sh"
require bird birdc gobgpd gobgp python3 jq
NS_LIST=${BENCH_N:-"1000 10000 100000"}
ANNOUNCERS=${BENCH_ANNOUNCERS:-"oxlb bird gobgp"}
TIMEOUT=${BENCH_TIMEOUT:-180}
REPEAT=${BENCH_REPEAT:-1}   # runs per cell; the table shows the fastest (by total time)
BASE=198.18.0.0
for n in $NS_LIST; do ((n <= 131072)) || die "N=$n does not fit in 198.18.0.0/15"; done

[[ " $ANNOUNCERS " != *" oxlb "* ]] || OXLB_BIN=$(oxlb_bin)  # build before any clock starts
ns_create tx; ns_create rx
ns_link tx eth0 192.0.2.1/30 rx eth0 192.0.2.2/30

now() { date +%s.%N; }
hwm_kb() { awk '$1 == "VmHWM:" { print $2 }' "/proc/$1/status"; }

declare -A RES=()
run=0
# bench ANNOUNCER N: one measurement; stores "total est rss" in RES[ANNOUNCER,N].
bench() {
  local who=$1 n=$2 rxn txn d t0 pid out
  run=$((run + 1)); rxn="rx$run"; txn="tx$run"
  bird_start "$rxn" rx <<'CONF'
router id 192.0.2.2;
protocol device {}
protocol bgp announcer { local as 64513; neighbor 192.0.2.1 as 64512; passive on; hold time 240;
  ipv4 { import all; export none; }; }
CONF
  # prepare the announcer's input before the clock starts
  d=$(daemon_dir "$txn")
  case $who in
    bird)
      {
        echo 'router id 192.0.2.1;'
        echo 'protocol device {}'
        echo 'protocol static bench_routes { ipv4;'
        python3 -c '
import ipaddress, sys
b = int(ipaddress.IPv4Address(sys.argv[2]))
w = sys.stdout.write
for i in range(int(sys.argv[1])):
    w("route %s/32 blackhole;\n" % ipaddress.IPv4Address(b + i))' "$n" "$BASE"
        echo '}'
        echo 'protocol bgp receiver { local as 64512; neighbor 192.0.2.2 as 64513; connect delay time 0; ipv4 { import none; export all; }; }'
      } >"$d/bird.conf.in" ;;
    gobgp)
      python3 "$BENCH_DIR/mrt_gen.py" "$n" "$BASE" 192.0.2.1 "$d/routes.mrt"
      cat >"$d/gobgpd.toml.in" <<'CONF'
[global.config]
  as = 64512
  router-id = "192.0.2.1"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "192.0.2.2"
    peer-as = 64513
  [neighbors.timers.config]
    connect-retry = 1
CONF
      ;;
  esac

  python3 "$BENCH_DIR/poll_bird.py" "$E2E_TMP/$rxn/bird.ctl" announcer "$n" "$TIMEOUT" 0.02 >"$d/poll.json" &
  local poller=$!
  register_pid "$poller"
  sleep 0.2  # let the poller connect (its own start is not measured)
  t0=$(now)
  case $who in
    oxlb)
      oxlb_start "$txn" tx --router-id 192.0.2.1 --local-as 64512 --generate "$n:$BASE" \
        --peer 'address=192.0.2.2,as=64513,name=rx' ;;
    bird) bird_start "$txn" tx <"$d/bird.conf.in" ;;
    gobgp)
      gobgp_start "$txn" tx <"$d/gobgpd.toml.in"
      gobgp_cmd "$txn" mrt inject global "$d/routes.mrt" >"$d/inject.log" 2>&1 \
        || { cat "$d/inject.log" >&2; die "gobgp mrt inject failed"; } ;;
  esac
  pid=$(daemon_pid "$txn")
  wait "$poller" || true
  out=$(cat "$d/poll.json")
  local full est cnt rss
  full=$(jq -r '.full // empty' <<<"$out"); est=$(jq -r '.established // empty' <<<"$out")
  cnt=$(jq -r .count <<<"$out")
  rss=$(hwm_kb "$pid" 2>/dev/null || echo '?')
  local r
  if [[ -z $full ]]; then
    log "$who N=$n: receiver reached only $cnt routes in ${TIMEOUT}s"
    r="timeout(${cnt}) - $rss"
  else
    r="$(python3 -c 'import sys; t0,e,f=map(float,sys.argv[1:]); print("%.2f %.2f" % (f-t0, f-e))' \
      "$t0" "${est:-$t0}" "$full") $rss"
    log "$who N=$n: total $(cut -d' ' -f1 <<<"$r") s, from Established $(cut -d' ' -f2 <<<"$r") s, VmHWM $rss kB"
  fi
  local old=${RES[$who,$n]:-}
  if [[ -z $old || $old == timeout* ]] || { [[ $r != timeout* ]] && awk -v a="${r%% *}" -v b="${old%% *}" 'BEGIN { exit !(a < b) }'; }; then
    RES[$who,$n]=$r
  fi
  daemon_stop "$txn"; daemon_stop "$rxn"
}

for n in $NS_LIST; do
  for ((rep = 0; rep < REPEAT; rep++)); do
    for who in $ANNOUNCERS; do bench "$who" "$n"; done
  done
done

cell() { # WHO N -> "time (est) | RSS"
  local r=${RES[$1,$2]:-"- - -"} t e m
  read -r t e m <<<"$r"
  if [[ $m =~ ^[0-9]+$ ]]; then m="$(awk -v k="$m" 'BEGIN { printf "%.1f MB", k / 1024 }')"; fi
  printf '%s s (%s s) | %s' "$t" "$e" "$m"
}
{
  echo
  echo "### Announce N IPv4 /32 to a BIRD receiver"
  echo
  echo "Time: announcer process start -> receiver has all N routes (in parentheses: from the"
  echo "receiver's session Established). RSS: announcer peak (VmHWM). Polled every 20 ms."
  echo
  hdr="| N |"; sep="|---:|"
  for who in $ANNOUNCERS; do hdr+=" $who time | $who RSS |"; sep+="---:|---:|"; done
  echo "$hdr"; echo "$sep"
  for n in $NS_LIST; do
    row="| $n |"
    for who in $ANNOUNCERS; do row+=" $(cell "$who" "$n") |"; done
    echo "$row"
  done
  echo
  echo "Machine: $(nproc) CPUs, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); best of $REPEAT run(s) per cell"
  echo "Versions: oxlb-bgp $(cd "$OXLB_REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?'), $(bird --version 2>&1 | head -n1), gobgpd $(gobgpd --version 2>&1 | awk '{ print $NF }')"
}
