#!/usr/bin/env bash
# e2e: serial (carrier-loss event latency)
# The Linux sockets of crates/l2 (l2::linux) against real tools, through a
# Linux bridge with MLD snooping ON and a querier (so the bridge forwards a
# multicast group only to ports that reported it):
#   * ArpPort receives an arping request (printed in hex) and its reply
#     reaches arping (RTT reported);
#   * NdpPort's join of a VIP's solicited-node group sends an MLD report the
#     bridge learns (bridge mdb), ndisc6's NS for that VIP arrives with hop
#     limit 255 and the destination group, and the NA we send is accepted by
#     ndisc6 (the kernel filled the checksum);
#   * an NS for a group nobody joined is not forwarded to our port (the
#     snooping really filters, so the join is what let the first one in);
#   * the client kernel's unicast NUD probe for the VIP is received (packet
#     socket with a BPF filter) and answered: the entry becomes REACHABLE;
#   * a gratuitous ARP and an unsolicited NA sent on SIGUSR1 are captured by
#     tcpdump in the client, the NA's checksum verified by tcpdump;
#   * the ARP socket does not receive outgoing frames (the node kernel's own
#     ARP reply);
#   * LinkWatcher reports carrier loss within 100 ms of `ip link set down` on
#     the veth peer (5 trials, latencies printed; they include starting `ip`);
#   * the ports survive their own interface going admin down and up;
#   * with notifications lost (tiny buffer, reader stopped during a burst of
#     100 new links, then 100 removals) the resync reports every change;
#   * leaving the group (on SIGUSR2, socket still open) sends the MLD Done
#     the bridge acts on.
# Topology: node(eth0) -- p1 [sw: br0] p2 -- (eth0)cli, 192.0.2.0/24 and
# 2001:db8:10::/64. The probe is crates/l2/examples/l2-sockets-probe.rs.
set -euo pipefail
E2E_TEST_NAME=32-l2-sockets
source "$(dirname "$0")/../lib/netns.sh"
require arping ndisc6 tcpdump bridge cargo

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
(cd "$ROOT" && cargo build -q --release -p l2 --example l2-sockets-probe) \
  || die "build of l2-sockets-probe failed"
PROBE=$ROOT/target/release/examples/l2-sockets-probe

VIP4=192.0.2.100
VIP6=2001:db8:10::100
GROUP6=ff02::1:ff00:100
OTHER6=2001:db8:10::200 # its group ff02::1:ff00:200 is joined by nobody

ns_create node; ns_create cli; bridge_create sw
nsx sw sysctl -qw net.ipv6.conf.br0.disable_ipv6=0   # the querier needs an address
bridge_attach sw node eth0 192.0.2.1/24,2001:db8:10::1/64   # switch port p1
bridge_attach sw cli eth0 192.0.2.2/24,2001:db8:10::2/64    # switch port p2
# Snooping on, and the bridge as MLD querier: without a querier the bridge
# floods every group and the join would prove nothing. The response interval
# is set first: enabling the querier arms a delay of that length (10 s by
# default) before the bridge stops flooding unknown groups.
nsx sw ip link set br0 type bridge mcast_snooping 1 mcast_query_response_interval 50 \
  mcast_startup_query_interval 50
nsx sw ip link set br0 type bridge mcast_querier 1
NODE_MAC=$(nsx node cat /sys/class/net/eth0/address)

mkdir -p "$E2E_TMP/probe" "$E2E_TMP/cap"
PLOG=$E2E_TMP/probe/log
spawn node "$PLOG" "$PROBE" eth0 "$VIP4" "$VIP6"
PROBE_PID=$E2E_LAST_PID
probe_has() { grep -Eq -- "$1" "$PLOG"; }
wait_until 10 probe_has '^ready ' || die "probe not ready"
probe_has "^link name=eth0 .* arp=ok ndp=ok " || die "eth0 not reported eligible"

# --- the join is seen by the snooping bridge -----------------------------
mdb_has() { local out; out=$(nsx sw bridge mdb show dev br0) && grep -Eq "port p1 grp $1( |$)" <<<"$out"; }
wait_until 10 mdb_has "$GROUP6" || { nsx sw bridge mdb show >&2; die "no mdb entry for $GROUP6 on p1"; }

# --- ARP: request in (hex), reply out, arping sees our MAC ---------------
out=$(nsx cli arping -c 3 -i eth0 "$VIP4") || { printf '%s\n' "$out" >&2; die "arping got no reply"; }
printf '%s\n' "$out" >&2
grep -qi "from $NODE_MAC ($VIP4)" <<<"$out" || die "arping reply not from $NODE_MAC"
probe_has '^arp-rx len=[0-9]+ hex=ffffffffffff[0-9a-f]{12}08060001080006040001' \
  || die "probe printed no ARP request"
probe_has "^arp-tx reply to=192\.0\.2\.2 " || die "probe sent no ARP reply"
# 50 more requests, 10 ms apart, for recv->send percentiles
out=$(nsx cli arping -c 50 -W 0.01 -i eth0 "$VIP4") || die "arping burst got no reply"
pct() { sort -n | awk -v p="$1" '{v[NR]=$1} END {i=int((NR*p+99)/100); if (i<1) i=1; print v[i]}'; }
loop_p=$(grep -Eo '^arp-tx .*loop_us=[0-9.]+' "$PLOG" | grep -Eo '[0-9.]+$')
rtt_p=$(grep -Eo 'time=[0-9.]+ [um]sec' <<<"$out" | awk -F'[= ]' '{print ($3 == "msec") ? $2 * 1000 : $2}')
arping_us="probe recv->send p50=$(pct 50 <<<"$loop_p") p99=$(pct 99 <<<"$loop_p") us over $(wc -l <<<"$loop_p");"
arping_us+=" arping RTT p50=$(pct 50 <<<"$rtt_p") p99=$(pct 99 <<<"$rtt_p") us over $(wc -l <<<"$rtt_p")"

# --- NDP: NS for the joined VIP through the snooping bridge, NA back ------
# NS frames that reach the node's port (before its IP stack filters groups)
NS_TXT=$E2E_TMP/cap/ns.txt
spawn node "$NS_TXT" tcpdump -i eth0 -n -l 'icmp6 and ip6[40] == 135'
NS_CAP=$E2E_LAST_PID
wait_until 5 grep -q 'listening on' "$NS_TXT" || die "tcpdump (node) did not start"
other_seen() { grep -c "> ff02::1:ff00:200:" "$NS_TXT" || true; }
# poll until the bridge filters: an NS for the unjoined group no longer
# reaches p1 (the capture is checked again below, behind a positive frame)
filtering() {
  local before; before=$(other_seen)
  nsx cli ndisc6 -1 -r 1 -w 100 "$OTHER6" eth0 >/dev/null 2>&1 && return 1
  [[ $(other_seen) == "$before" ]]
}
wait_until 10 filtering || die "the bridge keeps flooding an unjoined group"
mark=$(wc -l <"$NS_TXT")
nsx cli ndisc6 -1 -r 2 -w 300 "$OTHER6" eth0 >/dev/null 2>&1 \
  && die "ndisc6 got an answer for $OTHER6, which nobody serves"
out=$(nsx cli ndisc6 -1 -r 3 -w 1000 "$VIP6" eth0) || { printf '%s\n' "$out" >&2; die "ndisc6 got no NA"; }
printf '%s\n' "$out" >&2
grep -qi "Target link-layer address: $NODE_MAC" <<<"$out" || die "ndisc6: NA without our MAC"
grep -q " from $VIP6\$" <<<"$out" || die "ndisc6: NA not sent from the VIP"
probe_has "^ns-rx src=[0-9a-f:]+ dst=$GROUP6 hop_limit=255 truncated=false hex=8700" \
  || die "probe printed no NS to $GROUP6 with hop limit 255"
probe_has "^na-tx to=" || die "probe sent no NA"
# (captured first: no `grep -q` at the end of a pipe under pipefail)
since_mark() { tail -n +"$((mark + 1))" "$NS_TXT"; }
joined_seen() { local t; t=$(since_mark) && [[ $t == *"> $GROUP6:"* ]]; }
wait_until 5 joined_seen || die "tcpdump on node saw no NS to $GROUP6"
kill_pid "$NS_CAP"
seen=$(since_mark) || die "cannot read the node's capture $NS_TXT"
if [[ $seen == *"> ff02::1:ff00:200:"* ]]; then
  cat "$NS_TXT" >&2
  die "the bridge forwarded an NS for an unjoined group: snooping is not filtering"
fi
probe_has "dst=ff02::1:ff00:200" && die "probe received an NS for an unjoined group"

# --- NUD: the client kernel's own unicast NS for the VIP is answered ------
# A STALE entry plus one packet makes the kernel probe the VIP with a
# unicast NS (RFC 4861 §7.3.3); it reaches the packet socket (the raw one
# never sees it, the VIP is not local) and our NA makes the entry REACHABLE.
nsx cli sysctl -qw net.ipv6.neigh.eth0.delay_first_probe_time=0
nsx cli ip -6 neigh replace "$VIP6" lladdr "$NODE_MAC" dev eth0 nud stale
nsx cli bash -c "echo nud >/dev/udp/$VIP6/9" || die "could not send to $VIP6"
reachable() { local out; out=$(nsx cli ip -6 neigh show "$VIP6" dev eth0) && grep -q REACHABLE <<<"$out"; }
wait_until 5 reachable || { nsx cli ip -6 neigh show dev eth0 >&2; die "client NUD for $VIP6 did not succeed"; }
probe_has "^ns-rx src=[0-9a-f:]+ dst=$VIP6 hop_limit=255 truncated=false hex=8700" \
  || die "probe printed no unicast NS to $VIP6"
[[ $(grep -c '^na-tx ' "$PLOG") -ge 2 ]] || die "probe sent no NA to the NUD probe"

# --- frames we originate are seen by the peer ----------------------------
spawn cli "$E2E_TMP/cap/cli.txt" tcpdump -i eth0 -n -l -vv 'arp or (icmp6 and ip6[40] == 136)'
wait_until 5 grep -q 'listening on' "$E2E_TMP/cap/cli.txt" || die "tcpdump (cli) did not start"
kill -USR1 "$PROBE_PID"
wait_until 5 probe_has '^una-tx' || die "probe did not send GARP/NA"
cap_has() { grep -Eq -- "$1" "$E2E_TMP/cap/cli.txt"; }
wait_until 5 cap_has "Request who-has $VIP4 tell $VIP4" || die "client saw no gratuitous ARP request"
wait_until 5 cap_has "Reply $VIP4 is-at $NODE_MAC" || die "client saw no gratuitous ARP reply"
wait_until 5 cap_has "neighbor advertisement.*tgt is $VIP6" || die "client saw no unsolicited NA"
cap_has 'icmp6 sum ok' || { cat "$E2E_TMP/cap/cli.txt" >&2; die "NA checksum not verified by tcpdump"; }
cap_has 'bad .*sum' && die "tcpdump reports a bad checksum"
cap_has 'Flags \[override\]' || die "unsolicited NA without Override"
# Outgoing frames (here the node kernel's ARP reply for its own 192.0.2.1)
# must not reach the ARP socket (see crates/l2/src/linux/arp.rs).
# A request for the VIP follows; once the probe has printed that one,
# anything queued before it (the kernel's reply included) has been printed.
rx_count() { grep -c '^arp-rx ' "$PLOG" || true; }
rx_before=$(rx_count)
nsx cli arping -c 1 -i eth0 192.0.2.1 >/dev/null || die "the node kernel did not answer ARP"
nsx cli arping -c 1 -i eth0 "$VIP4" >/dev/null || die "arping after the GARP got no reply"
more_rx() { [[ $(rx_count) -gt $rx_before ]]; }
wait_until 5 more_rx || die "probe printed no ARP request after the GARP"
NODE_HEX=${NODE_MAC//:/}
probe_has "^arp-rx len=[0-9]+ hex=[0-9a-f]{12}$NODE_HEX" && die "the ARP socket received an outgoing frame"

# --- carrier loss arrives as an event within 100 ms ----------------------
lats=()
for i in 1 2 3 4 5; do
  before=$(grep -c '^link-event name=eth0 .* lower_up=false' "$PLOG" || true)
  t0=$(date +%s%N)
  nsx sw ip link set p1 down
  lost() { [[ $(grep -c '^link-event name=eth0 .* lower_up=false' "$PLOG" || true) -gt $before ]]; }
  wait_until 2 lost || die "no carrier-loss event for eth0 (trial $i)"
  t1=$(grep '^link-event name=eth0 .* lower_up=false' "$PLOG" | tail -n 1 | grep -Eo 'at_ns=[0-9]+' | cut -d= -f2)
  ev=$(grep '^link-event name=eth0 .* lower_up=false' "$PLOG" | tail -n 1) || die "cannot read the carrier-loss event from $PLOG"
  [[ $ev == *'health_lost=true'* ]] || die "carrier-loss event does not say health_lost=true: $ev"
  lat_us=$(( (t1 - t0) / 1000 ))
  lats+=("$lat_us")
  ((lat_us < 100000)) || die "carrier-loss event after ${lat_us} us (trial $i), limit 100 ms"
  up_before=$(grep -c '^link-event name=eth0 .* up=true lower_up=true' "$PLOG" || true)
  nsx sw ip link set p1 up
  back() { [[ $(grep -c '^link-event name=eth0 .* up=true lower_up=true' "$PLOG" || true) -gt $up_before ]]; }
  wait_until 2 back || die "no carrier-up event for eth0 (trial $i)"
done

kill -0 "$PROBE_PID" || die "probe died"

# --- our own interface admin down and up: the ports keep working ----------
# (the kernel reports ENETDOWN once on a bound packet socket; the ports
# wait for the interface instead of failing)
nsx node ip link set eth0 down
admin_down() { grep -q '^link-event name=eth0 .* up=false ' "$PLOG"; }
wait_until 2 admin_down || die "no admin-down event for eth0"
nsx node ip link set eth0 up
wait_until 5 probe_has '^link-event name=eth0 .* up=true lower_up=true .* ndp=ok ' \
  || die "eth0 not back up with a usable link-local"
out=$(nsx cli arping -c 1 -w 3 -i eth0 "$VIP4") || { printf '%s\n' "$out" >&2; die "no ARP reply after eth0 down/up"; }
out=$(nsx cli ndisc6 -1 -r 3 -w 500 "$VIP6" eth0) || { printf '%s\n' "$out" >&2; die "no NA after eth0 down/up"; }
kill -0 "$PROBE_PID" || die "probe died after eth0 down/up"

# --- leave: SIGUSR2 makes the probe leave the group while its socket stays
# open; with fast leave on p1 the bridge drops the entry on the MLD Done ---
nsx sw bridge link set dev p1 fastleave on
wait_until 10 mdb_has "$GROUP6" || die "no mdb entry for $GROUP6 on p1 after the carrier trials"
kill -USR2 "$PROBE_PID"
wait_until 5 probe_has '^left groups=\[\]' || die "probe did not leave the group on SIGUSR2"
gone() { local out; out=$(nsx sw bridge mdb show dev br0) && ! grep -Eq "port p1 grp $GROUP6( |$)" <<<"$out"; }
wait_until 5 gone || { nsx sw bridge mdb show >&2; die "mdb entry for $GROUP6 stayed after the leave"; }
kill -0 "$PROBE_PID" || die "probe died after the leave"
# --- lost netlink messages: a resync reports every change ----------------
# A second probe with a tiny netlink buffer is stopped (SIGSTOP) while 100
# veth pairs are created (this kernel has no dummy driver), so the kernel must drop notifications (ENOBUFS);
# after SIGCONT the watcher dumps again and reports each new link, then
# each removed one after a second stopped burst.
ns_create fl
nsx fl ip link add eth0 type veth peer name peer0
nsx fl ip link set peer0 up
nsx fl ip link set eth0 up
FLOG=$E2E_TMP/probe/flood.log
L2_PROBE_NETLINK_RCVBUF=4096 spawn fl "$FLOG" "$PROBE" eth0 192.0.2.200 2001:db8:10::200
FLOOD_PID=$E2E_LAST_PID
flood_has() { grep -Eq -- "$1" "$FLOG"; }
wait_until 10 flood_has '^ready ' || die "flood probe not ready"
batch() { local i; for ((i = 0; i < 100; i++)); do printf "link $1 d$i$2\n" "$i"; done; }
count_links() { grep -E "^link-event name=d[0-9]+ .* kind=$1 " "$FLOG" | cut -d' ' -f2 | sort -u | wc -l; }
kill -STOP "$FLOOD_PID"
batch add ' type veth peer name e%s' | nsx fl ip -batch - || { kill -CONT "$FLOOD_PID"; die "ip -batch add failed"; }
kill -CONT "$FLOOD_PID"
all_added() { [[ $(count_links updated) -ge 100 ]]; }
wait_until 10 all_added || die "only $(count_links updated) of 100 new links reported after the overrun"
flood_has '^netlink-overrun total=[1-9]' || die "no overrun although the reader was stopped"
kill -STOP "$FLOOD_PID"
batch del '%.0s' | nsx fl ip -batch - || { kill -CONT "$FLOOD_PID"; die "ip -batch del failed"; }
kill -CONT "$FLOOD_PID"
all_removed() { [[ $(count_links removed) -ge 100 ]]; }
wait_until 10 all_removed || die "only $(count_links removed) of 100 removed links reported"
kill -0 "$FLOOD_PID" || die "flood probe died"
overruns=$(grep -Eo 'netlink-overrun total=[0-9]+' "$FLOG" | tail -n 1)

loops=$(grep -Eo '^na-tx .*loop_us=[0-9.]+' "$PLOG" | grep -Eo '[0-9.]+$' | paste -sd' ')
log "carrier-loss event latency (us, ip link set down -> event): ${lats[*]}"
log "NDP recv->send in the probe (us; the first NA also resolves the client's MAC): $loops"
log "ARP (send() includes the veth delivery to the peer): $arping_us"
log "stopped reader, 100 links added then removed: $overruns, all 200 changes reported"
log "PASS"
