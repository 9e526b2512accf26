#!/usr/bin/env bash
# e2e: serial (hold-timer expiry measured in ms)
# Hold timer: hold=3/keepalive=1 on both sides. BIRD is frozen with SIGSTOP;
# the speaker must leave Established within hold+2 s (and not before ~hold-1 s),
# record a hold-timer error, and after SIGCONT get the session and BIRD's
# routes back without any intervention on our side (with the routes-file
# change made while the session was down).
#
#   ox (oxlb 64512) e0 192.0.2.1/30 2001:db8:1::1/64 --- eth0 .2 ::2  b (BIRD 64513)
set -euo pipefail
E2E_TEST_NAME=25-hold-timer
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/oxlb.sh"
require bird birdc jq

ns_create ox; ns_create b
ns_link ox e0 192.0.2.1/30,2001:db8:1::1/64 b eth0 192.0.2.2/30,2001:db8:1::2/64

# error wait time: BIRD's own restart delay after an error (default 60 s) would
# otherwise dominate the recovery time.
bird_start b b <<'CONF'
router id 192.0.2.2;
protocol device {}
template bgp ox { local as 64513; hold time 3; keepalive time 1; connect delay time 1;
  connect retry time 2; error wait time 1,2; }
protocol bgp ox4 from ox { neighbor 192.0.2.1 as 64512; ipv4 { import all; export none; }; }
protocol bgp ox6 from ox { neighbor 2001:db8:1::1 as 64512; ipv6 { import all; export none; }; }
CONF

{ oxlb_routes_v4 10; oxlb_routes_v6 10; } | oxlb_routes ox
oxlb_start ox ox --router-id 192.0.2.1 --local-as 64512 \
  --listen 192.0.2.1:179 --listen '[2001:db8:1::1]:179' \
  --peer 'address=192.0.2.2,as=64513,name=b4,hold=3,keepalive=1,connect-time=2' \
  --peer 'address=2001:db8:1::2,as=64513,name=b6,hold=3,keepalive=1,connect-time=2'

for p in ox4 ox6; do wait_until 20 bird_established b $p || { oxlb_dump ox; die "BIRD $p not Established"; }; done
for p in b4 b6; do wait_until 5 oxlb_established ox $p || { oxlb_dump ox; die "speaker: $p not Established"; }; done
oxlb_check_rib "v4 routes before" bird_routes b ipv4 10 192.0.2.1 64512 0
oxlb_check_rib "v6 routes before" bird_routes b ipv6 10 2001:db8:1::1 64512 0
bpid=$(daemon_pid b)

now_ms() { date +%s%3N; }
log "SIGSTOP BIRD (PID $bpid)"
kill -STOP "$bpid"
t0=$(now_ms)
t4='' t6=''
while (($(now_ms) - t0 < 9000)); do
  [[ -z $t4 ]] && oxlb_not_established ox b4 && t4=$(($(now_ms) - t0))
  [[ -z $t6 ]] && oxlb_not_established ox b6 && t6=$(($(now_ms) - t0))
  [[ -n $t4 && -n $t6 ]] && break
  sleep 0.05
done
log "left Established after: v4 ${t4:-never} ms, v6 ${t6:-never} ms (hold 3 s; status file is written every second)"
for x in "b4 $t4" "b6 $t6"; do
  set -- $x
  [[ -n ${2:-} ]] || { kill -CONT "$bpid"; oxlb_dump ox; die "$1: still Established 9 s after freezing the peer"; }
  (($2 <= 5000)) || { kill -CONT "$bpid"; oxlb_dump ox; die "$1: hold timer fired late ($2 ms > hold+2 s)"; }
  (($2 >= 1500)) || { kill -CONT "$bpid"; oxlb_dump ox; die "$1: dropped too early ($2 ms; hold is 3 s)"; }
  err=$(oxlb_field ox "$1" '.last_error_sent // ""')
  log "$1: state=$(oxlb_state ox "$1") last_error_sent=$err"
  grep -qi hold <<<"$err" || { kill -CONT "$bpid"; oxlb_dump ox; die "$1: last_error_sent does not mention the hold timer"; }
done

# Change the routes while the sessions are down: the re-established sessions
# must carry the new table (route 3 gone, route 11 new), not the old one.
{ oxlb_routes_v4 11 3; oxlb_routes_v6 11 3; } | oxlb_routes ox

log "SIGCONT BIRD"
kill -CONT "$bpid"
for p in b4 b6; do
  wait_until 30 eval "oxlb_established ox $p && [[ \$(oxlb_field ox $p .established_count) -ge 2 ]]" \
    || { bird_cmd b show protocols all >&2; oxlb_dump ox; die "$p: session not re-established after SIGCONT"; }
done
oxlb_check_rib "v4 routes back (changed while down)" bird_routes b ipv4 11 192.0.2.1 64512 0 3
oxlb_check_rib "v6 routes back (changed while down)" bird_routes b ipv6 11 2001:db8:1::1 64512 0 3
daemon_alive ox || die "oxlb-bgp died"
log "PASS"
