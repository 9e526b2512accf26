#!/usr/bin/env bash
# Benchmark (not a test): time from a Service added by reload to its route in
# the peer's RIB, for oxlb-speaker standalone, and for comparison the same for
# GoBGP's CLI path (`gobgp global rib add PREFIX`), with the same receiver and
# the same poller.
#
#   sudo e2e/bench/reload-latency.sh            # 100 changes each
#   sudo BENCH_N=250 e2e/bench/reload-latency.sh
#   BENCH_POLL_US=200 (pause between polls; 0 = busy poll, which on a small
#   machine competes with the speaker for a CPU)
#
# Topology (all inside the benchmark's own namespaces, documentation ranges only):
#   sp: oxlb-speaker (AS 64512) eth0 192.0.2.1/30 --- eth0 192.0.2.2/30 rx: BIRD (AS 64513)
#   gb: gobgpd       (AS 64512) eth0 192.0.2.5/30 --- eth1 192.0.2.6/30 rx: same BIRD
# One change, oxlb: t0; write a new Service file (atomic rename) requesting
# 203.0.113.i via metallb.universe.tf/loadBalancerIPs; SIGHUP the speaker;
# poll BIRD's control socket (`show route 203.0.113.i/32`, persistent
# connection, back-to-back) until the route is there: t1. One change, GoBGP:
# t0; run `gobgp -u 127.0.0.1 -p 50051 global rib add 198.51.100.i/32`
# (the CLI, inside gobgpd's namespace); same poll: t1. The driver runs in gb's
# namespace (the BIRD socket and the speaker's config dir are files; SIGHUP
# crosses namespaces). Poll overhead = the measured time of one poll
# (birdc command round trip), i.e. the resolution of every sample.
set -euo pipefail
E2E_TEST_NAME=bench-reload-latency
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
source "$BENCH_DIR/../lib/daemons.sh"
source "$BENCH_DIR/../peers/speaker.sh"
require bird birdc gobgpd gobgp python3 jq curl
N=${BENCH_N:-100}
((N <= 250)) || die "BENCH_N <= 250 (one /24 of VIPs)"
_speaker_ensure_bin

ns_create sp; ns_create gb; ns_create rx
ns_link sp eth0 192.0.2.1/30 rx eth0 192.0.2.2/30
ns_link gb eth0 192.0.2.5/30 rx eth1 192.0.2.6/30
bird_start rx rx <<'CONF'
router id 192.0.2.2;
protocol device {}
protocol bgp oxlb { local 192.0.2.2 as 64513; neighbor 192.0.2.1 as 64512; passive on; hold time 240; ipv4 { import all; export none; }; }
protocol bgp gobgp { local 192.0.2.6 as 64513; neighbor 192.0.2.5 as 64512; passive on; hold time 240; ipv4 { import all; export none; }; }
CONF
gobgp_start gb gb <<'CONF'
[global.config]
  as = 64512
  router-id = "192.0.2.5"
  port = -1
[[neighbors]]
  [neighbors.config]
    neighbor-address = "192.0.2.6"
    peer-as = 64513
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 240
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
CONF

cfg=$E2E_TMP/config; mkdir -p "$cfg"
cat >"$cfg/00-base.yaml" <<'Y'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bench, namespace: metallb-system}
spec: {addresses: [203.0.113.0/24]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: rx, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.2, holdTime: 240s}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: all, namespace: metallb-system}
Y
speaker_start sp sp "$cfg" node1 --state-file "$E2E_TMP/state.json"
wait_until 20 bird_established rx oxlb || speaker_die sp "oxlb session not Established"
wait_until 20 bird_established rx gobgp || { daemon_log gb >&2; die "gobgp session not Established"; }
log "both sessions Established; $N changes each"

cat >"$E2E_TMP/driver.py" <<'PY'
import json, os, signal, socket, statistics, subprocess, sys, time
sock, cfg, pid, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

class Birdc:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); self.s.connect(path)
        self.f = self.s.makefile("rb"); self.reply()
    def reply(self):
        out = []
        while True:
            l = self.f.readline().decode(errors="replace")
            if not l: raise EOFError
            out.append(l)
            if len(l) >= 5 and l[:4].isdigit() and l[4] == " ": return out
    def has(self, prefix):
        self.s.sendall(("show route %s\n" % prefix).encode())
        # present: "1007-Table master4:" then " PREFIX  unicast [...]"; absent: "8001 Network not found"
        want = prefix + " "
        return any(l[5:].lstrip().startswith(want) if l[:4].isdigit() else l.lstrip().startswith(want)
                   for l in self.reply())

b = Birdc(sock)
gap = float(os.environ.get("BENCH_POLL_US", "200")) / 1e6  # pause between polls: a busy poller would steal a CPU from the speaker
pf = time.perf_counter
# poll overhead: one absent-route query
ov = []
for _ in range(500):
    t = pf(); assert not b.has("192.0.2.255/32"); ov.append(pf() - t)

def wait(prefix, t0, timeout=5.0):
    polls = 0
    while True:
        polls += 1
        if b.has(prefix): return pf() - t0, polls
        if pf() - t0 > timeout: raise SystemExit("timeout waiting for %s" % prefix)
        if gap: time.sleep(gap)

res = {"oxlb": [], "gobgp": [], "oxlb_polls": [], "gobgp_polls": []}
for i in range(1, n + 1):
    ip = "203.0.113.%d" % i
    doc = ("apiVersion: v1\nkind: Service\nmetadata:\n  name: bench-%03d\n  namespace: default\n"
           "  annotations:\n    metallb.universe.tf/loadBalancerIPs: %s\nspec:\n  type: LoadBalancer\n"
           "  ports: [{port: 80}]\n") % (i, ip)
    tmp = os.path.join(cfg, ".tmp-%03d" % i)
    t0 = pf()
    with open(tmp, "w") as f: f.write(doc)
    os.rename(tmp, os.path.join(cfg, "50-bench-%03d.yaml" % i))
    os.kill(pid, signal.SIGHUP)
    dt, polls = wait(ip + "/32", t0)
    res["oxlb"].append(dt); res["oxlb_polls"].append(polls)
    time.sleep(0.02)
    gp = "198.51.100.%d/32" % i
    t0 = pf()
    subprocess.run(["gobgp", "-u", "127.0.0.1", "-p", "50051", "global", "rib", "add", gp], check=True,
                   stdout=subprocess.DEVNULL)
    dt, polls = wait(gp, t0)
    res["gobgp"].append(dt); res["gobgp_polls"].append(polls)
    time.sleep(0.02)

def q(xs, p):
    xs = sorted(xs); k = max(0, min(len(xs) - 1, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]
out = {"n": n, "poll_ms": {"p50": statistics.median(ov) * 1e3, "p99": q(ov, 99) * 1e3}}
for k in ("oxlb", "gobgp"):
    xs = res[k]
    out[k] = {"p50": statistics.median(xs) * 1e3, "p99": q(xs, 99) * 1e3, "max": max(xs) * 1e3,
              "min": min(xs) * 1e3, "first20_p50": statistics.median(xs[:20]) * 1e3,
              "last20_p50": statistics.median(xs[-20:]) * 1e3, "polls_p50": statistics.median(res[k + "_polls"])}
with open(os.environ.get("BENCH_SAMPLES", "/dev/null"), "w") as f:
    json.dump({k: [x * 1e3 for x in res[k]] for k in ("oxlb", "gobgp")}, f)
print(json.dumps(out))
PY

spid=$(daemon_pid sp)
res=$(BENCH_POLL_US=${BENCH_POLL_US:-200} BENCH_SAMPLES=$E2E_TMP/samples.json nsx gb python3 "$E2E_TMP/driver.py" "$E2E_TMP/rx/bird.ctl" "$cfg" "$spid" "$N") || speaker_die sp "driver failed"
daemon_alive sp || die "speaker died during the run"
[[ -n ${BENCH_SAMPLES_OUT:-} ]] && cp "$E2E_TMP/samples.json" "$BENCH_SAMPLES_OUT"
[[ -n ${BENCH_LOG_OUT:-} ]] && sed 's/\x1b\[[0-9;]*m//g' "$E2E_TMP/sp/log" >"$BENCH_LOG_OUT"
[[ $(bird_cmd rx show route count | grep -o '[0-9]* of [0-9]* routes' | head -1) == "$((2 * N)) of $((2 * N)) routes" ]] \
  || { bird_cmd rx show route count >&2; die "BIRD does not hold all $((2 * N)) routes at the end"; }
[[ $(speaker_session sp 192.0.2.2 .established_count) == 1 ]] || speaker_die sp "the oxlb session was reset during the run"
took=$(sed 's/\x1b\[[0-9;]*m//g' "$E2E_TMP/sp/log" | grep -o 'configuration applied trigger="SIGHUP" took_ms=[0-9.]*' \
  | sed 's/.*took_ms=//' | sort -n | awk '{a[NR]=$1} END {if (NR) printf "%.2f", a[int((NR+1)/2)]; else print "n/a"}')
f() { jq -r "$1" <<<"$res" | xargs printf '%.2f'; }
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
cat <<MD

### Reload latency: Service added -> route in the peer's RIB ($(date -u +%Y-%m-%d), $N changes each)

Machine: $(nproc) CPUs (load average at start: $(cut -d' ' -f1-3 /proc/loadavg)), ${cpu:-unknown CPU}, $(uname -r); BIRD $(bird --version 2>&1 | awk '{print $NF}'), GoBGP $(gobgp --version 2>/dev/null | awk '{print $NF}').
Command: \`sudo e2e/bench/reload-latency.sh\` (BENCH_N=$N)

| path | p50 ms | p99 ms | max ms | min ms |
| --- | ---: | ---: | ---: | ---: |
| oxlb-speaker: write Service file + SIGHUP -> /32 in BIRD | $(f .oxlb.p50) | $(f .oxlb.p99) | $(f .oxlb.max) | $(f .oxlb.min) |
| GoBGP: \`gobgp global rib add\` (CLI) -> /32 in BIRD | $(f .gobgp.p50) | $(f .gobgp.p99) | $(f .gobgp.max) | $(f .gobgp.min) |

Poll overhead (one \`show route PREFIX\` on BIRD's control socket, persistent connection; plus a ${BENCH_POLL_US:-200} us pause between polls = the resolution of each sample): p50 $(f .poll_ms.p50) ms, p99 $(f .poll_ms.p99) ms. Polls per sample (p50): oxlb $(jq -r .oxlb.polls_p50 <<<"$res"), GoBGP $(jq -r .gobgp.polls_p50 <<<"$res").
Growth with the config size (p50 of the first / last 20 changes, i.e. ~1-20 vs ~$((N - 19))-$N Service files): oxlb $(f .oxlb.first20_p50) / $(f .oxlb.last20_p50) ms, GoBGP $(f .gobgp.first20_p50) / $(f .gobgp.last20_p50) ms.
Speaker-side reload time (its log's \`configuration applied ... took_ms\`, median over the run): $took ms.
MD
speaker_stop sp
