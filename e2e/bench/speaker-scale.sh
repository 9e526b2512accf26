#!/usr/bin/env bash
# Benchmark (not a test; issue 9): oxlb-speaker standalone with N LoadBalancer
# Services (gen_services.py: one pool 198.18.0.0/15, K BGPPeers, one
# BGPAdvertisement, the N Services in one `v1 List`) announced to K BIRD
# receivers, one per namespace and link. For each (N, K) a fresh speaker and
# fresh receivers; we measure
#   start     speaker process start -> every receiver holds all N routes
#   RSS/HWM   speaker VmRSS / VmHWM at that moment
#   +1 Svc    a Service file added (atomic rename) + SIGHUP -> its /32 at BIRD
#             (reload_one.py), and the speaker's own `configuration applied ...
#             took_ms` for that reload
#   scrape    /metrics and /status: time of one scrape (curl time_total, the
#             first), VmRSS before / after 20 more of each
#   withdraw  Services file replaced by an empty List + SIGHUP -> every
#             receiver holds 0 routes
#   check     `oxlb-speaker check --output json` on the same files: elapsed
#             and peak RSS (/usr/bin/time -v)
# and, for the same N, the references of announce.sh (BIRD sending static
# routes, GoBGP injecting an MRT file) to one BIRD receiver. Prints a markdown
# table, the command and the machine.
#
#   sudo e2e/bench/speaker-scale.sh                  # N = 1000 10000 100000, K = 1 4
#   sudo BENCH_N="1000 10000" BENCH_PEERS=1 e2e/bench/speaker-scale.sh
#   OXLB_SPEAKER=/path/to/oxlb-speaker (default: target/release, built if stale)
#   BENCH_TIMEOUT=120 (per wait), BENCH_REFS="bird gobgp" ("" = no references),
#   BENCH_PEERS_N=100000 (the N at which K > 1 runs; default: the largest N)
#
# Addresses: receivers 192.0.2.(4k+2)/30, the speaker 192.0.2.(4k+1)/30 on
# link k; VIPs from 198.18.0.0/15 (RFC 2544 benchmarking range). They exist
# only as BGP NLRI between daemons in the benchmark's own namespaces: no
# kernel protocol, nothing in any FIB, no packet sent to them.
set -euo pipefail
E2E_TEST_NAME=bench-speaker-scale
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
source "$BENCH_DIR/../lib/daemons.sh"
source "$BENCH_DIR/../peers/speaker.sh"
require bird birdc python3 jq curl /usr/bin/time
NS_LIST=${BENCH_N:-"1000 10000 100000"}
PEERS_LIST=${BENCH_PEERS:-"1 4"}
TIMEOUT=${BENCH_TIMEOUT:-120}
REFS=${BENCH_REFS-"bird gobgp"}
MAXN=0
for n in $NS_LIST; do
  ((n >= 1 && n <= 131000)) || die "N=$n: want 1..131000 (198.18.0.0/15, one address kept for the +1 Service)"
  if ((n > MAXN)); then MAXN=$n; fi
done
PEERS_N=${BENCH_PEERS_N:-$MAXN}
MAXK=1
for k in $PEERS_LIST; do ((k >= 1 && k <= 8)) || die "BENCH_PEERS: $k: want 1..8"; if ((k > MAXK)); then MAXK=$k; fi; done
ONE_IP=198.19.255.254 # the +1 Service's address: in the pool, above any N's allocations
_speaker_ensure_bin
log "speaker binary: $SPEAKER_BIN"

ns_create sp
for ((k = 0; k < MAXK; k++)); do
  ns_create "rx$k"
  ns_link sp "eth$k" "192.0.2.$((4 * k + 1))/30" "rx$k" eth0 "192.0.2.$((4 * k + 2))/30"
done

now() { date +%s.%N; }
st_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
sub() { python3 -c 'import sys; print("%.3f" % (float(sys.argv[1]) - float(sys.argv[2])))' "$1" "$2"; }

# wait_pollers OUTFILE...: wait for every poller (children of this shell: never call inside
# $(...)); sets WP_FULL to the latest "full" time, empty if any poller timed out
declare -a POLLERS=()
WP_FULL=
wait_pollers() {
  local p f x
  for p in "${POLLERS[@]}"; do wait "$p" || true; done
  POLLERS=(); WP_FULL=
  for f in "$@"; do
    x=$(jq -r '.full // empty' "$f")
    if [[ -z $x ]]; then log "poller $f: $(cat "$f")"; WP_FULL=; return 0; fi
    if [[ -z $WP_FULL ]] || awk -v a="$x" -v b="$WP_FULL" 'BEGIN { exit !(a > b) }'; then WP_FULL=$x; fi
  done
}
# start_pollers RUN K COUNT MODE: one poll_bird.py per receiver (outputs $E2E_TMP/pollRUN-k.json)
start_pollers() {
  local run=$1 k=$2 count=$3 mode=$4 i
  for ((i = 0; i < k; i++)); do
    python3 "$BENCH_DIR/poll_bird.py" "$E2E_TMP/b$run-$i/bird.ctl" oxlb "$count" "$TIMEOUT" 0.02 master4 "$mode" \
      >"$E2E_TMP/poll$run-$i.json" &
    POLLERS+=($!); register_pid $!
  done
  sleep 0.2 # the pollers connect (not measured)
}
poll_files() { local i; for ((i = 0; i < $2; i++)); do printf '%s ' "$E2E_TMP/poll$1-$i.json"; done; }
# applied NAME: the speaker's "configuration applied" log lines so far
applied() { sed 's/\x1b\[[0-9;]*m//g' "$E2E_TMP/$1/log" | grep -o 'configuration applied trigger="[^"]*" took_ms=[0-9.]*' || true; }
# allocated NAME: how many "IP allocated" lines the speaker has logged
allocated() { grep -c 'IP allocated' "$E2E_TMP/$1/log" || true; }
curl_t() { nsx sp curl -sf --max-time 10 -o /dev/null -w '%{time_total}' "http://127.0.0.1:$SPEAKER_PORT$1"; }

declare -A R=()
run=0
# bench N K: one speaker run; results in R[N,K,field]
bench() {
  local n=$1 k=$2 i cfg t0 full pid
  run=$((run + 1))
  cfg=$E2E_TMP/cfg$run
  python3 "$BENCH_DIR/gen_services.py" "$n" "$cfg" --peers "$k"
  for ((i = 0; i < k; i++)); do
    bird_start "b$run-$i" "rx$i" <<CONF
router id 192.0.2.$((4 * i + 2));
protocol device {}
protocol bgp oxlb { local 192.0.2.$((4 * i + 2)) as 64513; neighbor 192.0.2.$((4 * i + 1)) as 64512; passive on; hold time 240;
  ipv4 { import all; export none; }; }
CONF
  done
  if ((k == 1)); then
    # check on the same files (before the daemon, so they do not compete)
    /usr/bin/time -v "$SPEAKER_BIN" check --config "$cfg" --node-name node1 --output json \
      >"$E2E_TMP/check$run.json" 2>"$E2E_TMP/check$run.time" || { tail -n 30 "$E2E_TMP/check$run.time" >&2; die "check N=$n failed"; }
    [[ $(jq '.services | length' "$E2E_TMP/check$run.json") == "$n" ]] || die "check N=$n: not $n Services in its output"
    R[$n,$k,check_s]=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, a, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + a[i]; printf "%.2f", s }' "$E2E_TMP/check$run.time")
    R[$n,$k,check_mb]=$(mb "$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$E2E_TMP/check$run.time")")
  fi

  start_pollers "$run" "$k" "$n" atleast
  t0=$(now)
  speaker_start "sp$run" sp "$cfg" node1 --state-file "$E2E_TMP/state$run.json"
  pid=$(daemon_pid "sp$run")
  # shellcheck disable=SC2046
  wait_pollers $(poll_files "$run" "$k"); full=$WP_FULL
  [[ -n $full ]] || speaker_die "sp$run" "N=$n K=$k: receivers did not get all routes in ${TIMEOUT}s"
  R[$n,$k,start_s]=$(sub "$full" "$t0")
  R[$n,$k,rss]=$(mb "$(st_kb "$pid" VmRSS)"); R[$n,$k,hwm]=$(mb "$(st_kb "$pid" VmHWM)")
  log "N=$n K=$k: full table ${R[$n,$k,start_s]} s, VmRSS ${R[$n,$k,rss]} MB, VmHWM ${R[$n,$k,hwm]} MB"

  if ((k == 1)); then
    # one Service more, by reload (the file watcher may reload too: every reload it causes is listed)
    local one before alloc0
    before=$(applied "sp$run" | wc -l)
    alloc0=$(allocated "sp$run")
    one=$(python3 "$BENCH_DIR/reload_one.py" "$E2E_TMP/b$run-0/bird.ctl" "$cfg" "$pid" "$ONE_IP" "$TIMEOUT") \
      || speaker_die "sp$run" "N=$n: the added Service's route did not reach BIRD"
    R[$n,$k,one_ms]=$(jq -r '.ms | . * 100 | round / 100' <<<"$one")
    wait_until 10 eval "(( \$(applied 'sp$run' | grep -c SIGHUP) > 0 )) && (( \$(applied 'sp$run' | wc -l) > $before ))" \
      || speaker_die "sp$run" "no 'configuration applied' log line after the SIGHUP"
    sleep 0.5 # a watcher-triggered reload, if any, is logged too
    R[$n,$k,one_took]=$(applied "sp$run" | tail -n +"$((before + 1))" \
      | sed -E 's/.*trigger="([^"]*)" took_ms=([0-9.]*).*/\1 \2/' | awk '{ printf "%s%s %.1f", (NR > 1 ? ", " : ""), $1, $2 }')
    R[$n,$k,one_alloc]=$(($(allocated "sp$run") - alloc0))
    # scrapes
    local m1 s1 rb ra j
    rb=$(st_kb "$pid" VmRSS)
    m1=$(curl_t /metrics) || speaker_die "sp$run" "/metrics failed"
    s1=$(curl_t /status) || speaker_die "sp$run" "/status failed"
    for ((j = 0; j < 20; j++)); do
      curl_t /metrics >/dev/null || speaker_die "sp$run" "/metrics failed"
      curl_t /status >/dev/null || speaker_die "sp$run" "/status failed"
    done
    ra=$(st_kb "$pid" VmRSS)
    R[$n,$k,metrics_ms]=$(awk -v t="$m1" 'BEGIN { printf "%.1f", t * 1000 }')
    R[$n,$k,status_ms]=$(awk -v t="$s1" 'BEGIN { printf "%.1f", t * 1000 }')
    R[$n,$k,scrape_rss]="$(mb "$rb") -> $(mb "$ra")"
    # withdraw all
    start_pollers "$run" "$k" 0 atmost
    t0=$(now)
    printf 'apiVersion: v1\nkind: List\nitems: []\n' >"$cfg/.50-services.yaml.tmp"
    mv -f "$cfg/.50-services.yaml.tmp" "$cfg/50-services.yaml"
    rm -f "$cfg/60-one.yaml"
    kill -HUP "$pid"
    # shellcheck disable=SC2046
    wait_pollers $(poll_files "$run" "$k"); full=$WP_FULL
    [[ -n $full ]] || speaker_die "sp$run" "N=$n: receivers still hold routes ${TIMEOUT}s after withdraw-all"
    R[$n,$k,withdraw_s]=$(sub "$full" "$t0")
  fi
  daemon_alive "sp$run" || die "sp$run died during the run"
  speaker_stop "sp$run"
  for ((i = 0; i < k; i++)); do daemon_stop "b$run-$i"; done
  rm -rf "$cfg"
}

for n in $NS_LIST; do bench "$n" 1; done
for k in $PEERS_LIST; do if ((k > 1)); then bench "$PEERS_N" "$k"; fi; done

refs=""
if [[ -n $REFS ]]; then
  refs=$(BENCH_N="$NS_LIST" BENCH_ANNOUNCERS="$REFS" BENCH_TIMEOUT="$TIMEOUT" "$BENCH_DIR/announce.sh") \
    || die "announce.sh (references) failed"
fi

if [[ -n ${OXLB_SPEAKER:-} ]]; then
  rev="given by OXLB_SPEAKER"
else
  rev="built from $(cd "$SPEAKER_REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?')"
fi
cat <<MD

### oxlb-speaker at N Services, 1 BGP peer ($(date -u +%Y-%m-%d))

Command: \`sudo BENCH_N="$NS_LIST" BENCH_PEERS="$PEERS_LIST" e2e/bench/speaker-scale.sh\`
Binary: $SPEAKER_BIN ($(stat -c %y "$SPEAKER_BIN" | cut -d. -f1), $rev)

| N | start -> full table s | VmRSS MB | VmHWM MB | withdraw all s | check s | check peak MB | +1 Service -> BIRD ms | speaker reloads it caused: trigger took_ms | "IP allocated" log lines it caused | /metrics ms | /status ms | VmRSS before -> after 20 scrapes MB |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|
MD
for n in $NS_LIST; do
  echo "| $n | ${R[$n,1,start_s]} | ${R[$n,1,rss]} | ${R[$n,1,hwm]} | ${R[$n,1,withdraw_s]} | ${R[$n,1,check_s]} | ${R[$n,1,check_mb]} | ${R[$n,1,one_ms]} | ${R[$n,1,one_took]:-?} | ${R[$n,1,one_alloc]} | ${R[$n,1,metrics_ms]} | ${R[$n,1,status_ms]} | ${R[$n,1,scrape_rss]} |"
done
if [[ " $PEERS_LIST " == *" "[2-8]" "* ]]; then
  echo
  echo "#### K peers at N=$PEERS_N (K receivers, one per link)"
  echo
  echo "| K | start -> all K receivers full s | VmRSS MB | VmHWM MB | VmRSS per extra peer MB |"
  echo "|---:|---:|---:|---:|---:|"
  for k in $PEERS_LIST; do
    [[ -n ${R[$PEERS_N,$k,rss]:-} ]] || continue
    per=-
    if ((k > 1)) && [[ -n ${R[$PEERS_N,1,rss]:-} ]]; then
      per=$(awk -v a="${R[$PEERS_N,$k,rss]}" -v b="${R[$PEERS_N,1,rss]}" -v k="$k" 'BEGIN { printf "%.1f", (a - b) / (k - 1) }')
    fi
    echo "| $k | ${R[$PEERS_N,$k,start_s]} | ${R[$PEERS_N,$k,rss]} | ${R[$PEERS_N,$k,hwm]} | $per |"
  done
fi
if [[ -n $refs ]]; then
  echo
  echo "#### References (announce.sh, same N, one BIRD receiver)"
  echo "$refs"
fi
echo
echo "Machine: $(nproc) CPUs, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); $(bird --version 2>&1 | head -n1)"
