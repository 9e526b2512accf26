#!/usr/bin/env bash
# e2e: serial (flood)
# A peer that sends us 10,000 routes does not disturb us: BIRD exports 10,000
# IPv6 /64 (2001:db8:ff:N::/64, every other one with a community, so ~5,000+
# distinct UPDATEs) to the speaker over an IPv6 session (hold 3 / keepalive 1),
# while the speaker announces its own routes over an IPv4 session to the same
# BIRD. Asserts: prefixes_received reaches 10,000; both sessions stay
# Established (never reset); keepalives keep flowing both ways; our route
# changes (SIGHUP) still propagate; RSS stays under 50 MB; then BIRD withdraws
# all 10,000 and the sessions still stay up.
#
#   ox (oxlb 64512) e0 192.0.2.1/30 2001:db8:1::1/64 --- eth0 .2 ::2  b (BIRD 64513)
set -euo pipefail
E2E_TEST_NAME=27-flood
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/oxlb.sh"
require bird birdc jq
N=10000
RSS_LIMIT_KB=$((50 * 1024))

ns_create ox; ns_create b
ns_link ox e0 192.0.2.1/30,2001:db8:1::1/64 b eth0 192.0.2.2/30,2001:db8:1::2/64

{
  cat <<'CONF'
router id 192.0.2.2;
protocol device {}
protocol static flood { ipv6;
CONF
  for ((i = 0; i < N; i++)); do
    if ((i % 2)); then
      printf '  route 2001:db8:ff:%x::/64 blackhole { bgp_community.add((65000,%d)); };\n' "$i" "$((i % 65536))"
    else
      printf '  route 2001:db8:ff:%x::/64 blackhole;\n' "$i"
    fi
  done
  cat <<'CONF'
}
template bgp ox { local as 64513; hold time 3; keepalive time 1; passive on; }
protocol bgp ox4 from ox { neighbor 192.0.2.1 as 64512; ipv4 { import all; export none; }; }
protocol bgp ox6 from ox { neighbor 2001:db8:1::1 as 64512; ipv6 { import all; export filter { bgp_next_hop = 2001:db8:1::2; accept; }; }; }
CONF
} | bird_start b b
[[ $(bird_cmd b show route count table master6 | grep -Eo '^[0-9]+' | head -n1) -eq $N ]] \
  || { bird_cmd b show route count table master6 >&2; die "BIRD did not load $N static routes"; }

oxlb_routes_v4 10 | oxlb_routes ox
oxlb_start ox ox --router-id 192.0.2.1 --local-as 64512 \
  --peer 'address=192.0.2.2,as=64513,name=b4,hold=3,keepalive=1' \
  --peer 'address=2001:db8:1::2,as=64513,name=b6,hold=3,keepalive=1'
opid=$(daemon_pid ox)

t0=$SECONDS
wait_until 20 bird_established b ox6 || { oxlb_dump ox; die "BIRD ox6 not Established"; }
wait_until 30 eval "[[ \$(oxlb_field ox b6 .prefixes_received) -ge $N ]]" \
  || { oxlb_dump ox; die "prefixes_received did not reach $N"; }
log "ok: $N prefixes received in ~$((SECONDS - t0)) s; b6: $(oxlb_peer ox b6 | jq -c '{state, updates_received, prefixes_received, messages_in}')"
got=$(oxlb_field ox b6 .prefixes_received)
((got <= N + 100)) || { oxlb_dump ox; die "prefixes_received=$got, expected about $N"; }
oxlb_check_rib "our routes at BIRD during the flood" bird_routes b ipv4 10 192.0.2.1 64512 0

ka() { oxlb_field ox "$1" "$2.keepalive"; }
in0=$(ka b6 .messages_in) out0=$(ka b6 .messages_out) in40=$(ka b4 .messages_in)
wait_until 6 eval "(( \$(ka b6 .messages_in) >= in0 + 2 && \$(ka b6 .messages_out) >= out0 + 2 && \$(ka b4 .messages_in) >= in40 + 2 ))" \
  || { oxlb_dump ox; die "keepalives stalled after the flood"; }
log "ok: keepalives continue (b6 in $in0 -> $(ka b6 .messages_in), out $out0 -> $(ka b6 .messages_out))"

# Our own route changes still go out promptly.
oxlb_routes_v4 10 7 | oxlb_routes ox
oxlb_check_rib "withdrawal after the flood" bird_routes b ipv4 10 192.0.2.1 64512 0 7

rss=$(oxlb_rss_kb ox VmRSS) hwm=$(oxlb_rss_kb ox VmHWM)
log "speaker memory: VmRSS ${rss} kB, VmHWM ${hwm} kB (limit ${RSS_LIMIT_KB} kB)"
((hwm < RSS_LIMIT_KB)) || die "speaker peak RSS ${hwm} kB >= ${RSS_LIMIT_KB} kB"

# BIRD withdraws everything; nothing breaks.
bird_cmd b disable flood >/dev/null
wait_until 20 eval "[[ \$(bird_cmd b show protocols all ox6 | grep -Eo '[0-9]+ exported' | grep -Eo '[0-9]+') == 0 ]]" \
  || die "BIRD did not withdraw the flood"
in1=$(ka b6 .messages_in)
wait_until 6 eval "(( \$(ka b6 .messages_in) >= in1 + 2 ))" || { oxlb_dump ox; die "keepalives stalled after the mass withdrawal"; }
for p in b4 b6; do
  oxlb_established ox $p || { oxlb_dump ox; die "$p not Established at the end"; }
  [[ $(oxlb_field ox $p .established_count) == 1 ]] || { oxlb_dump ox; die "$p was reset during the flood"; }
done
[[ $(daemon_pid ox) == "$opid" ]] && daemon_alive ox || die "oxlb-bgp died"
log "end: b6 $(oxlb_peer ox b6 | jq -c '{updates_received, prefixes_received}'); VmHWM $(oxlb_rss_kb ox VmHWM) kB"
log "PASS"
