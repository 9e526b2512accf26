#!/usr/bin/env bash
# The main job, end to end on one machine: a BIRD 2 router in one network
# namespace, `oxlb-speaker standalone` in another, reading the MetalLB objects
# in examples/ (built from the seed documents). It checks the config, runs the
# speaker (with --bind-vips, so the node accepts its VIPs), and prints the
# router's own table, our allocations and our Prometheus metrics; then a
# client behind the router reaches every seed Service through its VIP: an
# HTTP server on the node per VIP and port answers, and the shared DNS IP
# answers over UDP and TCP 53 (two Services, one IP). Cleans everything up.
# Needs root (namespaces); installs BIRD from Debian's packages if missing.
#
#   node "NodeA" (oxlb, AS 64512)  192.0.2.1/30 2001:db8:1::1/64 ---- .2 / ::2  router (BIRD, AS 64513)
#                                  203.0.113.2/24 2001:db8:c::2/64 client ---- .1 / ::1  router
# BIRD's kernel protocol installs the learned VIPs into the router
# namespace's table, so the router forwards the client's packets to the node.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh >/dev/null
E2E_TEST_NAME=demo
source e2e/lib/daemons.sh
require bird birdc jq python3 cargo

echo "building oxlb-speaker (cargo build --release -p speaker)" >&2
cargo build -q --release -p speaker
bin=$PWD/target/release/oxlb-speaker

echo
echo "=== oxlb-speaker check --config examples --node-name NodeA ==="
"$bin" check --config examples --node-name NodeA

ns_create node; ns_create router; ns_create client
ns_link node eth0 192.0.2.1/30,2001:db8:1::1/64 router eth0 192.0.2.2/30,2001:db8:1::2/64
ns_link client eth0 203.0.113.2/24,2001:db8:c::2/64 router eth1 203.0.113.1/24,2001:db8:c::1/64
ns_forwarding router 1
nsx node ip route add default via 192.0.2.2
nsx node ip -6 route add default via 2001:db8:1::2
nsx client ip route add default via 203.0.113.1
nsx client ip -6 route add default via 2001:db8:c::1
# --bind-vips dummy creates oxlb0; on a kernel without the dummy driver
# (CONFIG_DUMMY) the VIPs go on lo instead.
bind=dummy
if nsx node ip link add oxlb-probe type dummy 2>/dev/null; then
  nsx node ip link delete oxlb-probe
else
  bind=lo
  echo "note: this kernel has no dummy driver; binding the VIPs on lo (--bind-vips lo)" >&2
fi

bird_start router router <<'CONF'
router id 192.0.2.2;
protocol device {}
protocol kernel { ipv4 { export where source = RTS_BGP; }; }
protocol kernel { ipv6 { export where source = RTS_BGP; }; }
template bgp lb { local as 64513; passive on; hold time 9; }
protocol bgp oxlb4 from lb { neighbor 192.0.2.1 as 64512; ipv4 { import all; export none; }; }
protocol bgp oxlb6 from lb { neighbor 2001:db8:1::1 as 64512; ipv6 { import all; export none; }; }
CONF

state=$E2E_TMP/state.json
spawn node "$E2E_TMP/speaker.log" "$bin" standalone --config examples --node-name NodeA \
  --state-file "$state" --metrics-addr 127.0.0.1:7472 --bind-vips "$bind"
speaker_pid=$E2E_LAST_PID

wait_until 30 bird_established router oxlb4 || die "IPv4 session did not come up"
wait_until 30 bird_established router oxlb6 || die "IPv6 session did not come up"
all_learned() { [[ $(bird_cmd router show route | grep -c ' unicast ') -ge 7 ]]; }
wait_until 10 all_learned || die "the router did not learn the VIPs"

fetch() { nsx node python3 -c 'import sys,urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"; }

echo
echo "=== the router's table (birdc show route all) ==="
bird_cmd router show route all
echo
echo "=== allocations persisted in the state file ==="
jq -c '.services' "$state"
echo
echo "=== sessions (/status) ==="
fetch http://127.0.0.1:7472/status | jq -c '.sessions[] | {name, address, state, prefixes_announced, hold_time}'
echo
echo "=== metrics (/metrics, MetalLB names) ==="
fetch http://127.0.0.1:7472/metrics | grep -E '^metallb_(bgp_session_up|bgp_announced_prefixes_total|speaker_announced|allocator_addresses_(in_use_)?total|k8s_client_config_(loaded|stale)_bool)'

echo
echo "=== the VIPs bound on the node (--bind-vips $bind; ip -br addr) ==="
nsx node ip -br addr show
echo
echo "=== traffic: from the client namespace behind the router to each Service's VIP ==="
vipserve=e2e/lib/vipserve.py
# One line per Service: NAMESPACE/NAME IP PORT PROTOCOL (the check's IPs, the
# examples' ports; a Service without ports gets HTTP on 80).
services=$("$bin" check --config examples --node-name NodeA --output json | python3 -c '
import glob, json, sys, yaml
ports = {}
for f in sorted(glob.glob("examples/*.yaml")):
    for d in yaml.safe_load_all(open(f)):
        if d and d.get("kind") == "Service":
            m = d["metadata"]
            ports[(m.get("namespace", "default"), m["name"])] = [
                (p["port"], p.get("protocol", "TCP")) for p in d["spec"].get("ports", [])] or [(80, "TCP")]
for s in json.load(sys.stdin)["services"]:
    for ip in s["ips"]:
        for port, proto in ports[(s["namespace"], s["name"])]:
            print(s["namespace"] + "/" + s["name"], ip, port, proto)
')
dns_ip=
while read -r svc ip port proto; do
  if ((port == 53)); then dns_ip=$ip; continue; fi
  spawn node "$E2E_TMP/http-$ip-$port.log" python3 "$vipserve" serve "NodeA $svc on $ip port $port" "$ip" "$port" /dev/null
done <<<"$services"
[[ -n $dns_ip ]] || die "no Service on port 53 in examples/ (the shared DNS IP)"
spawn node "$E2E_TMP/dns.log" python3 "$vipserve" dns "$dns_ip" "$E2E_TMP/dns-queries.log"
while read -r svc ip port proto; do
  ((port == 53)) && continue
  url="http://$ip:$port/"; [[ $ip == *:* ]] && url="http://[$ip]:$port/"
  served() { nsx client curl -s --max-time 2 "$url"; }
  wait_until 20 served >/dev/null || { nsx router ip route >&2; nsx router ip -6 route >&2; die "client: curl $url: no answer"; }
  printf '%-34s curl %-30s -> %s\n' "$svc" "$url" "$(served)"
done <<<"$services"
for proto in udp tcp; do
  dig() { nsx client python3 "$vipserve" dnsq "$dns_ip" demo.example "$proto"; }
  wait_until 20 dig >/dev/null || die "client: DNS over $proto to $dns_ip: no answer"
  printf '%-34s dns  %-30s -> A %s\n' "default/dns-service-${proto}" "$proto $dns_ip:53 demo.example" "$(dig)"
done

kill -TERM "$speaker_pid"
wait_until 5 sh -c "! kill -0 $speaker_pid 2>/dev/null" || die "the speaker did not exit on SIGTERM"
echo
echo "=== after SIGTERM: the node's addresses (the VIPs are gone) ==="
nsx node ip -br addr show
echo
echo "demo finished: the seed Services' VIPs were allocated, announced to BIRD over IPv4 and IPv6, and served to a client behind the router"
