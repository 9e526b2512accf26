#!/usr/bin/env bash
# Profile (not a test; issue 9): what holds oxlb-speaker's heap at full table.
# N Services (gen_services.py, one peer) announced to one BIRD receiver in
# the benchmark's own namespaces, the speaker run under heaptrack; once the
# receiver holds all N routes the speaker is SIGKILLed, so every allocation
# alive at full table is reported as "leaked". Prints heaptrack_print's leak
# list grouped by the innermost frame in an oxlb crate (MB, calls, site).
#
#   cargo build --release -p speaker --bin oxlb-speaker --no-default-features   # system allocator
#   cp target/release/oxlb-speaker /tmp/oxlb-speaker-sysalloc
#   sudo OXLB_SPEAKER=/tmp/oxlb-speaker-sysalloc e2e/bench/speaker-heap.sh [N] [TOP]
#
# (A jemalloc build is not followed by heaptrack: build without the default
# `jemalloc` feature.) Addresses as speaker-scale.sh: 192.0.2.1/30 and
# 192.0.2.2/30, VIPs from 198.18.0.0/15 only as BGP NLRI.
set -euo pipefail
E2E_TEST_NAME=bench-speaker-heap
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
source "$BENCH_DIR/../lib/daemons.sh"
require bird birdc python3 heaptrack heaptrack_print
N=${1:-100000}
TOP=${2:-25}
BIN=${OXLB_SPEAKER:?set OXLB_SPEAKER to a build without the jemalloc feature}
[[ -x $BIN ]] || die "OXLB_SPEAKER=$BIN is not an executable"

ns_create sp; ns_create rx0
ns_link sp eth0 192.0.2.1/30 rx0 eth0 192.0.2.2/30
cfg=$E2E_TMP/cfg
python3 "$BENCH_DIR/gen_services.py" "$N" "$cfg" --peers 1
bird_start b0 rx0 <<CONF
router id 192.0.2.2;
protocol device {}
protocol bgp oxlb { local 192.0.2.2 as 64513; neighbor 192.0.2.1 as 64512; passive on; hold time 240;
  ipv4 { import all; export none; }; }
CONF
python3 "$BENCH_DIR/poll_bird.py" "$E2E_TMP/b0/bird.ctl" oxlb "$N" 120 0.05 master4 atleast >"$E2E_TMP/poll.json" &
poller=$!; register_pid "$poller"
spawn sp "$E2E_TMP/speaker.log" heaptrack -o "$E2E_TMP/heap" "$BIN" standalone --config "$cfg" \
  --node-name node1 --metrics-addr 127.0.0.1:7472 --state-file "$E2E_TMP/state.json"
ht=$E2E_LAST_PID
wait "$poller" || die "poller failed: $(cat "$E2E_TMP/poll.json")"
[[ -n $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("full") or "")' "$E2E_TMP/poll.json") ]] \
  || die "BIRD did not get all $N routes: $(cat "$E2E_TMP/poll.json")"
sleep 1 # the apply's tail (log lines, scrapes' state) settles
pid=$(pgrep -f "^$BIN standalone --config $cfg " | head -n1) || die "speaker process not found"
log "full table; speaker pid $pid: $(grep -E 'VmRSS|VmHWM' "/proc/$pid/status" | tr -s ' \t\n' ' ')"
kill -KILL "$pid"
wait "$ht" || true # heaptrack finishes its file after the child died
heaps=("$E2E_TMP"/heap*.zst)
heap=${heaps[0]}
[[ -f $heap ]] || die "heaptrack wrote no data file (log: $(tail -n 5 "$E2E_TMP/speaker.log"))"
heaptrack_print "$heap" --print-peaks 0 --print-allocators 0 --print-temporary 0 --print-leaks 1 \
  --peak-limit 200 --sub-peak-limit 200 2>/dev/null >"$E2E_TMP/leaks.txt"
python3 - "$E2E_TMP/leaks.txt" "$TOP" <<'PY'
import collections, re, sys
# blocks "<size> leaked over <n> calls from:" then frames (name, "at file:line", "in lib")
ours = re.compile(r"(oxlb_speaker|metallb_api|allocator::|bgp_proto|bgp_session)")
unit = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}
size, calls = collections.Counter(), collections.Counter()
cur = name = None
done = False
for line in open(sys.argv[1]):
    m = re.match(r"^\s*([\d.]+)([KMG]?) leaked over (\d+) calls from:", line)
    if m:
        cur, name, done = (float(m.group(1)) * unit[m.group(2)], int(m.group(3))), None, False
        continue
    s = line.strip()
    if cur is None or done:
        continue
    if name and s.startswith("at "):
        key = name + " @ " + s[3:]
        size[key] += cur[0]; calls[key] += cur[1]; done = True
    elif not s.startswith(("at ", "in ")) and ours.search(s):
        name = re.sub(r"::h[0-9a-f]{16}$", "", s)[:110]
if not size:
    sys.exit("no allocation site in an oxlb crate found in heaptrack's output")
print(f"live at full table, by oxlb site: {sum(size.values()) / 1e6:.1f} MB")
for k, v in size.most_common(int(sys.argv[2])):
    print(f"{v / 1e6:8.2f} MB {calls[k]:8d} calls  {k}")
PY
