#!/usr/bin/env bash
# e2e: serial (BFD timers)
# The bfd crate's UDP driver (examples/bfd-peer) against BIRD 2's BFD,
# IPv4 and IPv6 single hop: both sides Up and BIRD shows the negotiated
# intervals (its tx = max(its 200 ms, our rx 300 ms)); BIRD frozen (SIGSTOP)
# -> our side goes Down with diag control-detection-time-expired; BIRD
# resumed -> Up again.
# Topology: o (bfd-peer) eth0 192.0.2.1/30 2001:db8:50::1/64 --- r (BIRD) .2 / ::2
set -euo pipefail
E2E_TEST_NAME=50-bfd-driver
source "$(dirname "$0")/../lib/daemons.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
peer_bin=$root/target/debug/examples/bfd-peer
[[ -x $peer_bin ]] || die "build it first: cargo build -p bfd --features tokio --example bfd-peer"

ns_create o; ns_create r
ns_link o eth0 192.0.2.1/30,2001:db8:50::1/64 r eth0 192.0.2.2/30,2001:db8:50::2/64

bird_start b r <<'CONF'
router id 192.0.2.2;
protocol device {}
protocol bfd {
  interface "eth0" { min rx interval 200 ms; min tx interval 200 ms; multiplier 3; };
  neighbor 192.0.2.1 local 192.0.2.2;
  neighbor 2001:db8:50::1 local 2001:db8:50::2;
}
CONF
spawn o "$E2E_TMP/v4.log" "$peer_bin" 192.0.2.2 192.0.2.1 100 300 3
spawn o "$E2E_TMP/v6.log" "$peer_bin" 2001:db8:50::2 2001:db8:50::1 100 300 3

# last_line LOG: our latest status line (fails if there is none yet).
last_line() { local l; l=$(tail -n 1 "$1") && [[ -n $l ]] && printf '%s\n' "$l"; }
ours_is() { local l; l=$(last_line "$1") && [[ $l == *"state=$2 "* ]]; }
ours_has() { local l; l=$(last_line "$1") && [[ $l == *"$2"* ]]; }
# bird_bfd ADDR: BIRD's line for ADDR in `show bfd sessions` (fails if absent).
bird_bfd() { local out; out=$(bird_cmd b show bfd sessions) || return 2; awk -v a="$1" '$1 == a' <<<"$out" | grep .; }
bird_bfd_up() { local l; l=$(bird_bfd "$1") && [[ $l == *" Up "* ]]; }

for a in 192.0.2.1 2001:db8:50::1; do
  wait_until 20 bird_bfd_up "$a" || { bird_cmd b show bfd sessions >&2; die "BIRD: $a not Up"; }
done
wait_until 10 ours_is "$E2E_TMP/v4.log" up || die "ours v4 not up: $(last_line "$E2E_TMP/v4.log")"
wait_until 10 ours_is "$E2E_TMP/v6.log" up || die "ours v6 not up: $(last_line "$E2E_TMP/v6.log")"
# BIRD's Interval column: its transmit interval, max(200 ms, our rx 300 ms);
# Timeout: our multiplier x max(its rx 200 ms, our tx 100 ms) = 0.600.
for a in 192.0.2.1 2001:db8:50::1; do
  line=$(bird_bfd "$a")
  grep -Eq ' 0\.300 +0\.600$' <<<"$line" || die "BIRD negotiated other values: $line"
done
# Ours: tx = max(100 ms, BIRD's rx 200 ms); detect = 3 x max(300, 200).
wait_until 5 ours_has "$E2E_TMP/v4.log" 'tx_ms=200 detect_ms=900 ' \
  || die "our negotiated values: $(last_line "$E2E_TMP/v4.log")"

bird_pid=$(daemon_pid b)
kill -STOP "$bird_pid"
wait_until 5 ours_is "$E2E_TMP/v4.log" down || die "v4 not down: $(last_line "$E2E_TMP/v4.log")"
wait_until 5 ours_is "$E2E_TMP/v6.log" down || die "v6 not down"
ours_has "$E2E_TMP/v4.log" 'diag=control-detection-time-expired' \
  || die "wrong diag: $(last_line "$E2E_TMP/v4.log")"
kill -CONT "$bird_pid"
wait_until 10 ours_is "$E2E_TMP/v4.log" up || die "v4 not up again"
wait_until 10 bird_bfd_up 192.0.2.1 || die "BIRD: not Up again"
log "PASS"
