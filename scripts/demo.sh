#!/usr/bin/env bash
# The main job, end to end on one machine: a BIRD 2 router in one network
# namespace, `oxlb-speaker standalone` in another, reading the MetalLB objects
# in examples/ (built from the seed documents). It checks the config, runs the
# speaker, and prints the router's own table, our allocations and our
# Prometheus metrics; then cleans everything up. Needs root (namespaces);
# installs BIRD from Debian's packages if missing.
#
#   node "NodeA" (oxlb, AS 64512)  192.0.2.1/30 2001:db8:1::1/64 ---- .2 / ::2  router (BIRD, AS 64513)
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

ns_create node; ns_create router
ns_link node eth0 192.0.2.1/30,2001:db8:1::1/64 router eth0 192.0.2.2/30,2001:db8:1::2/64

bird_start router router <<'CONF'
router id 192.0.2.2;
protocol device {}
template bgp lb { local as 64513; passive on; hold time 9; }
protocol bgp oxlb4 from lb { neighbor 192.0.2.1 as 64512; ipv4 { import all; export none; }; }
protocol bgp oxlb6 from lb { neighbor 2001:db8:1::1 as 64512; ipv6 { import all; export none; }; }
CONF

state=$E2E_TMP/state.json
spawn node "$E2E_TMP/speaker.log" "$bin" standalone --config examples --node-name NodeA \
  --state-file "$state" --metrics-addr 127.0.0.1:7472
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
kill -TERM "$speaker_pid"
wait_until 5 sh -c "! kill -0 $speaker_pid 2>/dev/null" || die "the speaker did not exit on SIGTERM"
echo
echo "demo finished: the seed Services' VIPs were allocated and announced to BIRD over IPv4 and IPv6"
