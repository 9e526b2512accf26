#!/usr/bin/env bash
# TCP-MD5 (RFC 2385) against BIRD: with the right key the session establishes;
# with a wrong key, and with no key on our side, it never does (bounded wait),
# neither in our status nor in BIRD, and the kernel on BIRD's side counts MD5
# failures (proof that the speaker really signs its segments). BIRD dials too
# and the speaker listens, so both the connect and the accept path need the key.
#
#   ox e0 192.0.2.1/30    --- eth0 192.0.2.2/30     b (BIRD 64513)  key K   / ours K       -> up
#   ox w0 198.51.100.1/30 --- w0   198.51.100.2/30  b               key K   / ours "wrong" -> down
#   ox n0 203.0.113.1/30  --- n0   203.0.113.2/30   b               key K   / ours none    -> down
set -euo pipefail
E2E_TEST_NAME=24-md5
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/oxlb.sh"
require bird birdc jq nstat

ns_create ox; ns_create b
ns_link ox e0 192.0.2.1/30 b eth0 192.0.2.2/30
ns_link ox w0 198.51.100.1/30 b w0 198.51.100.2/30
ns_link ox n0 203.0.113.1/30 b n0 203.0.113.2/30

bird_start b b <<'CONF'
router id 192.0.2.2;
protocol device {}
template bgp ox { local as 64513; connect delay time 1; connect retry time 2; password "oxlb-e2e-K3y"; ipv4 { import all; export none; }; }
protocol bgp good from ox { neighbor 192.0.2.1 as 64512; }
protocol bgp wrong from ox { neighbor 198.51.100.1 as 64512; }
protocol bgp nokey from ox { neighbor 203.0.113.1 as 64512; }
CONF

oxlb_routes_v4 3 | oxlb_routes ox
oxlb_start ox ox --router-id 192.0.2.1 --local-as 64512 \
  --listen 192.0.2.1:179 --listen 198.51.100.1:179 --listen 203.0.113.1:179 \
  --peer 'address=192.0.2.2,as=64513,name=good,password=oxlb-e2e-K3y,connect-time=2' \
  --peer 'address=198.51.100.2,as=64513,name=wrong,password=wrong-key,connect-time=2' \
  --peer 'address=203.0.113.2,as=64513,name=nokey,connect-time=2'

wait_until 20 bird_established b good || { bird_cmd b show protocols all good >&2; oxlb_dump ox; die "right key: BIRD not Established"; }
wait_until 5 oxlb_established ox good || { oxlb_dump ox; die "right key: speaker not Established"; }
oxlb_check_rib "routes over the MD5 session" bird_routes b ipv4 3 192.0.2.1 64512 0
log "ok: right key establishes"

# Bounded wait: 8 s more (several connect attempts both ways with connect-time 2).
end=$((SECONDS + 8))
while ((SECONDS < end)); do
  for p in wrong nokey; do
    st=$(oxlb_state ox "$p") || { oxlb_dump ox; die "$p: the speaker's status unreadable"; }
    [[ -n $st && $st != null ]] || { oxlb_dump ox; die "$p: not in the speaker's status"; }
    [[ $st != Established && $st != OpenConfirm ]] || { oxlb_dump ox; die "$p: speaker reached $st without the right key"; }
    bird_not_established b "$p" || die "$p: BIRD Established without the right key (or birdc failed)"
  done
  sleep 0.2
done
for p in wrong nokey; do
  [[ $(oxlb_field ox "$p" .established_count) == 0 ]] || { oxlb_dump ox; die "$p: established_count != 0"; }
  [[ $(oxlb_field ox "$p" .messages_in.open) == 0 ]] || { oxlb_dump ox; die "$p: an OPEN got through"; }
done
fail=$(nsx b nstat -az TcpExtTCPMD5Failure | awk '$1 == "TcpExtTCPMD5Failure" { print $2 }')
notfound=$(nsx b nstat -az TcpExtTCPMD5NotFound | awk '$1 == "TcpExtTCPMD5NotFound" { print $2 }')
log "kernel in BIRD's namespace: TCPMD5Failure=$fail TCPMD5NotFound=$notfound"
((${fail:-0} > 0)) || die "no TCP-MD5 failures counted: the speaker did not sign with its (wrong) key"
((${notfound:-0} > 0)) || die "no unsigned segments counted for the no-key peer (did the speaker dial?)"
oxlb_established ox good || { oxlb_dump ox; die "right-key session dropped"; }
[[ $(oxlb_field ox good .established_count) == 1 ]] || { oxlb_dump ox; die "right-key session flapped"; }
log "ok: wrong key and no key never establish"
daemon_alive ox || die "oxlb-bgp died"
log "PASS"
