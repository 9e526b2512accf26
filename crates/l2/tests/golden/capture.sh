#!/usr/bin/env bash
# Captures the golden ARP/NDP frames under this directory from independent
# implementations: arping and ndisc6 ask, the Linux kernel of the other
# namespace answers, tcpdump records both on the answering side.
#
#   requester  ns "a": veth "a0", 02:00:00:00:00:0a, 192.0.2.10/24, 2001:db8::a/64
#   responder  ns "b": veth "b0", 02:00:00:00:00:0b, 192.0.2.11/24, 2001:db8::b/64
#
# Output (raw Ethernet frames, one per file):
#   arp_request.bin   arping -c1 192.0.2.11            (a -> broadcast)
#   arp_reply.bin     the kernel of b answering it     (b -> a)
#   ns.bin            ndisc6 2001:db8::b               (a -> ff02::1:ff00:b)
#   na.bin            the kernel of b answering it     (b -> a)
#   garp_request.bin  arping -U (unsolicited request, sender = target = 192.0.2.10)
#   garp_reply.bin    arping -U -P (unsolicited reply, sender = target = 192.0.2.10)
#   unsolicited_na.bin the kernel of b (ndisc_notify=1) after its MAC changes to
#                     02:00:00:00:00:0c: NA for 2001:db8::b to ff02::1
# Run as root from anywhere: crates/l2/tests/golden/capture.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
source "$here/../../../../e2e/lib/netns.sh"
require arping ndisc6 tcpdump python3

ns_create a
ns_create b
ns_link a a0 192.0.2.10/24,2001:db8::a/64 b b0 192.0.2.11/24,2001:db8::b/64 02:00:00:00:00:0a 02:00:00:00:00:0b
nsx b sysctl -qw net.ipv6.conf.b0.ndisc_notify=1
sleep 1

pcap_b="$E2E_TMP/b.pcap"
pcap_a="$E2E_TMP/a.pcap"
spawn b "$E2E_TMP/tcpdump-b.log" tcpdump -i b0 -U -n -w "$pcap_b" 'arp or icmp6'
tb=$E2E_LAST_PID
spawn a "$E2E_TMP/tcpdump-a.log" tcpdump -i a0 -U -n -w "$pcap_a" 'arp'
ta=$E2E_LAST_PID
wait_until 5 grep -q listening "$E2E_TMP/tcpdump-b.log" || die "tcpdump on b did not start"
wait_until 5 grep -q listening "$E2E_TMP/tcpdump-a.log" || die "tcpdump on a did not start"

nsx a arping -c1 -w 2 -i a0 192.0.2.11 || die "arping got no reply"
nsx a ndisc6 -1 -r 1 -w 2000 2001:db8::b a0 || die "ndisc6 got no reply"
nsx a arping -U -c1 -w 1 -i a0 -S 192.0.2.10 192.0.2.10 || true   # nobody answers a GARP; extract.py fails if it was not sent
nsx a arping -U -P -c1 -w 1 -i a0 -S 192.0.2.10 192.0.2.10 || true   # nobody answers a GARP; extract.py fails if it was not sent
# ndisc_notify: a changed link address makes the kernel announce every address
ip -n "$(ns_name b)" link set b0 address 02:00:00:00:00:0c
sleep 1
kill_pid "$tb"; kill_pid "$ta"

python3 "$here/extract.py" "$pcap_b" "$pcap_a" "$here"
ls -l "$here"/*.bin
