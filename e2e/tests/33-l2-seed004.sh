#!/usr/bin/env bash
# Seed 004 (/work/shared/seeds/004_fe3588966831e1a1.txt) end to end in L2
# mode: its IPAddressPool `example` and L2Advertisement `example`
# (nodeSelectors kubernetes.io/hostname: NodeA; interfaces: the seed's eth3
# renamed eth0, everything else byte-identical, compared here against the
# seed itself), its Service `nginx` (pool annotation), and three Node
# objects NodeA..NodeC whose InternalIPs are the membership addresses (no
# --ml-members flag: the members come from the Nodes). The nodes run in the
# l2topo namespaces n1 (NodeA), n2 (NodeB), n3 (NodeC).
#   * `check` gives nginx an address of pool example; standalone mode
#     allocates the same one and writes it to the state file;
#   * every node's /status names NodeA the winner, candidates NodeA only;
#   * arping from the client gets NodeA's (n1's) eth0 MAC, and only that MAC;
#   * no reply on eth1 (interfaces: [eth0]).
set -euo pipefail
E2E_TEST_NAME=33-l2-seed004
source "$(dirname "$0")/../lib/l2speaker.sh"
cfg=$L2SP_CONFIGS/seed004
SEED=${SEED004:-/work/shared/seeds/004_fe3588966831e1a1.txt}

# the objects are the seed's (when the seed is at hand): the pool and the
# advertisement as the seed's two `kubectl apply` heredocs, eth3 -> eth0
if [[ -f $SEED ]]; then
  python3 - "$SEED" "$cfg/10-seed004-pool-and-l2.yaml" <<'PY' || die "the seed 004 objects in $cfg differ from $SEED"
import re, sys
seed = open(sys.argv[1]).read()
blocks = re.findall(r"cat <<EOF \| kubectl apply -f -\n(.*?)EOF\n", seed, re.S)
pool = [b for b in blocks if "kind: IPAddressPool" in b]
l2 = [b for b in blocks if "kind: L2Advertisement" in b]
assert len(pool) == 1 and len(l2) == 1, "seed: want one IPAddressPool and one L2Advertisement"
assert l2[0].count("- eth3\n") == 1, "seed: the L2Advertisement names eth3 once"
mine = open(sys.argv[2]).read()
mine = mine[mine.index("apiVersion"):]
sys.exit(mine != pool[0] + "---\n" + l2[0].replace("- eth3\n", "- eth0\n"))
PY
  log "ok: pool and L2Advertisement byte-identical to the seed (eth3 -> eth0)"
else
  log "seed file $SEED not present: the fixture's own copy is used as is"
fi

_speaker_ensure_bin
plan=$("$SPEAKER_BIN" check --config "$cfg" --node-name NodeA --output json) || die "check failed on $cfg"
[[ $(jq '.errors | length' <<<"$plan") == 0 ]] || die "check reports errors: $plan"
ip=$(jq -r '.services[] | select(.name == "nginx") | .ips | join(",")' <<<"$plan")
[[ $ip =~ ^192\.168\.(10\.[0-9]+|9\.[1-5])$ ]] || die "check: nginx got '$ip', want one IPv4 of pool example"
[[ $(jq -r '.services[] | select(.name == "nginx") | .pool' <<<"$plan") == example ]] || die "check: nginx not in pool example"
c=$(jq -c --arg ip "$ip" '[.l2[] | select(.ip == $ip) | {winner, candidates}]' <<<"$plan") \
  || die "check --output json has no l2 plan: $plan"
[[ $c == '[{"winner":"NodeA","candidates":["NodeA"]}]' ]] || die "check: the L2 plan for $ip is $c, want winner NodeA, candidates NodeA"
log "ok: check gives nginx $ip from pool example, L2 winner NodeA (candidates NodeA)"

L2SP_NAMES=([n1]=NodeA [n2]=NodeB [n3]=NodeC)
l2_topo_create
ns_create cb
_l2_plug swb cb eth0 pcb 198.51.100.200/24 02:00:00:00:0b:c8
L2SP_CLIENT_SRC[cb]=198.51.100.200
for n in "${L2_NODES[@]}"; do l2sp_start "$n" "${L2SP_NAMES[$n]}" "$cfg"; done

wait_until 15 eval '[[ $(l2sp_agree "$ip" n1 n2 n3) == NodeA ]]' \
  || { for n in n1 n2 n3; do speaker_dump "sp-$n"; done; die "$ip: the nodes do not all elect NodeA"; }
for n in n1 n2 n3; do
  c=$(l2sp_vip "$n" "$ip" '.candidates | join(",")') || die "$n: /status has no $ip"
  [[ $c == '"NodeA"' ]] || speaker_die "sp-$n" "${L2SP_NAMES[$n]}: candidates for $ip are $c, want NodeA only"
  m=$(speaker_status "sp-$n" | jq -c '[.l2.members[] | tostring] | length') || die "$n: /status has no l2.members"
  [[ $m == 3 ]] || speaker_die "sp-$n" "${L2SP_NAMES[$n]}: $m members from the Node objects, want 3"
done
log "ok: NodeA, NodeB, NodeC all elect NodeA for $ip (candidates: NodeA)"

wait_until 10 eval '[[ $(l2_arping_mac "$ip") == "$(l2_node_mac n1 a)" ]]' || die "arping $ip does not get NodeA (n1) $(l2_node_mac n1 a)"
macs=$(l2_arping_macs "$ip")
[[ $(sort -u <<<"$macs") == "$(l2_node_mac n1 a)" ]] || die "arping $ip: replies from $(sort -u <<<"$macs" | tr '\n' ' '), want only NodeA's"
l2_arping_times_out "$ip" cb || die "arping $ip from segment B was answered (or failed): interfaces: [eth0]"
log "ok: arping $ip gets NodeA's eth0 MAC only; nothing on eth1"

# every node allocates on its own (standalone): all three must hold the same IP
for n in n1 n2 n3; do
  state=$E2E_TMP/state-$n.json
  wait_until 10 test -s "$state" || die "${L2SP_NAMES[$n]} wrote no state file"
  jq -e . "$state" >/dev/null || die "state file $state is not JSON"
  grep -qF "$ip" "$state" || die "state file of ${L2SP_NAMES[$n]} lacks $ip: $(cat "$state")"
done
log "ok: the state files of NodeA, NodeB, NodeC hold $ip"
for n in n1 n2 n3; do speaker_stop "sp-$n"; done
log "PASS"
