#!/usr/bin/env bash
# Benchmark (not a test): oxlb-bgp announcing N IPv4 /32 to K BGP sessions
# (K protocols of one BIRD receiver, one receiver address each), to measure
# what each extra peer costs. Prints, per K: time from process start until
# every session holds all N routes, the announcer's VmRSS at that moment and
# its peak (VmHWM), then the time to withdraw everything (SIGHUP with an
# empty routes file) until every session holds 0.
#
#   e2e/bench/peers.sh                    # N=100000, K = 1 4
#   BENCH_N=10000 BENCH_K="1 2 4" e2e/bench/peers.sh
#
# Prefixes: 198.18.0.0/15 (RFC 2544 benchmarking range), BGP NLRI only,
# between daemons in the benchmark's own namespaces; nothing is installed.
# Session i: announcer 192.0.2.1 (i=0) or 192.0.2.1(2+i) (AS 64512) to
# receiver 192.0.2.(2+i) (AS 64513); K <= 8.
set -euo pipefail
E2E_TEST_NAME=bench-peers
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
source "$BENCH_DIR/../lib/daemons.sh"
source "$BENCH_DIR/../peers/oxlb.sh"
require bird birdc python3 jq
N=${BENCH_N:-100000}
KS=${BENCH_K:-"1 4"}
TIMEOUT=${BENCH_TIMEOUT:-120}
OXLB_BIN=$(oxlb_bin)
now() { date +%s.%N; }
field_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
# route_count RX PROTO: the number of routes BIRD holds from PROTO.
route_count() {
  local out
  out=$(birdc -s "$E2E_TMP/$1/bird.ctl" show route count protocol "$2") || die "birdc failed on $1"
  grep -Eo '^[0-9]+ of [0-9]+ routes' <<<"$out" | grep -Eo '^[0-9]+' || echo none
}
# src I: the announcer's address toward receiver protocol I.
src() { if (($1 == 0)); then echo 192.0.2.1; else echo "192.0.2.1$((2 + $1))"; fi; }
run=0
bench() {
  local k=$1 rxn txn d t0 pid i peers=() full
  run=$((run + 1)); rxn="rx$run"; txn="tx$run"
  # fresh namespaces per run: nothing of the previous run's sockets is left
  ns_create "$txn"; ns_create "$rxn"
  ns_link "$txn" eth0 192.0.2.1/24 "$rxn" eth0 192.0.2.2/24
  for i in 3 4 5 6 7 8 9; do ns_addr "$rxn" eth0 "192.0.2.$i/24"; ns_addr "$txn" eth0 "192.0.2.1$i/24"; done
  {
    echo 'router id 192.0.2.2;'
    echo 'protocol device {}'
    for ((i = 0; i < k; i++)); do
      echo "protocol bgp p$i { local 192.0.2.$((2 + i)) as 64513; neighbor $(src $i) as 64512; passive on; hold time 240;"
      echo '  ipv4 { import all; export none; }; }'
    done
  } | bird_start "$rxn" "$rxn"
  d=$(daemon_dir "$txn")
  for ((i = 0; i < k; i++)); do peers+=(--peer "address=192.0.2.$((2 + i)),source=$(src $i),as=64513,name=p$i,connect-time=1"); done
  python3 -c '
import ipaddress, sys
b = int(ipaddress.IPv4Address("198.18.0.0"))
sys.stdout.write("".join("%s/32\n" % ipaddress.IPv4Address(b + i) for i in range(int(sys.argv[1]))))' "$N" >"$d/routes"
  python3 - "$E2E_TMP/$rxn/bird.ctl" "$k" "$N" "$TIMEOUT" >"$d/poll.json" <<'PY' &
# Polls every 20 ms until each protocol p0..p(K-1) holds N routes; prints
# the absolute time of the first poll that saw all of them full.
import json, re, socket, sys, time
path, k, n, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
deadline = time.time() + timeout
while True:
    try:
        s = socket.socket(socket.AF_UNIX); s.connect(path); break
    except OSError:
        if time.time() > deadline: raise
        time.sleep(0.01)
f = s.makefile("rb")
def reply():
    out = []
    while True:
        l = f.readline().decode(errors="replace")
        if not l: raise EOFError
        out.append(l)
        if len(l) >= 5 and l[:4].isdigit() and l[4] == " ": return out
reply()
full, counts = None, [0] * k
while time.time() < deadline:
    now = time.time()
    for i in range(k):
        s.sendall(("show route count protocol p%d\n" % i).encode())
        for l in reply():
            m = re.search(r"(\d+) of (\d+) routes", l)
            if m: counts[i] = int(m.group(1))
    if min(counts) >= n:
        full = now; break
    time.sleep(0.02)
print(json.dumps({"full": full, "counts": counts}))
PY
  local poller=$!
  register_pid "$poller"
  sleep 0.2
  t0=$(now)
  oxlb_start "$txn" "$txn" --router-id 192.0.2.1 --local-as 64512 "${peers[@]}"
  pid=$(daemon_pid "$txn")
  wait "$poller"
  local rss hwm
  rss=$(field_kb "$pid" VmRSS); hwm=$(field_kb "$pid" VmHWM)
  full=$(jq -r '.full // empty' "$d/poll.json")
  [[ -n $full ]] || die "K=$k: not every session got $N routes: $(jq -c .counts "$d/poll.json")"
  # withdraw all: empty routes file + SIGHUP, until every session holds 0
  : >"$d/routes"
  local w0 wend
  w0=$(now); oxlb_hup "$txn"
  for ((i = 0; i < k; i++)); do
    local deadline=$((SECONDS + 60))
    until [[ $(route_count "$rxn" "p$i") == 0 ]]; do
      ((SECONDS < deadline)) || die "K=$k: p$i still has $(route_count "$rxn" "p$i") routes 60 s after the withdrawal"
      sleep 0.01
    done
  done
  wend=$(now)
  python3 -c 'import sys; t0,f,w0,we=map(float,sys.argv[1:5]); print("| %s | %s | %.2f s | %.1f MB | %.1f MB | %.2f s |" % (sys.argv[5], sys.argv[6], f-t0, int(sys.argv[7])/1024, int(sys.argv[8])/1024, we-w0))' \
    "$t0" "$full" "$w0" "$wend" "$N" "$k" "$rss" "$hwm" >>"$E2E_TMP/results"
  daemon_stop "$txn"; daemon_stop "$rxn"
}
for k in $KS; do bench "$k"; done
echo "| N | peers | start -> full table | VmRSS at full | VmHWM | withdraw all |"
echo "|---:|---:|---:|---:|---:|---:|"
cat "$E2E_TMP/results"
echo "oxlb-bgp $(cd "$OXLB_REPO" && git rev-parse --short HEAD), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
