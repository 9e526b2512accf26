#!/usr/bin/env bash
# Dial failures are visible and not noisy: oxlb-bgp dials three peers that
# can never come up, each retrying about every second (connect-time=1):
#   src  192.0.2.2  source=192.0.2.123, an address on no interface (EADDRNOTAVAIL)
#   md5  192.0.2.4  an 81-byte TCP-MD5 key (the kernel takes at most 80)
#   ref  192.0.2.5  nothing listens (connection refused)
# Asserts, per peer: /status names the cause in last_connect_error, the
# failures are counted by reason (>= 3 each), and the log has exactly one
# warning for that cause however many retries failed.
#
#   ox (oxlb 64512) e0 192.0.2.1/24 --- eth0 192.0.2.2,.4,.5/24  r (no daemon)
set -euo pipefail
E2E_TEST_NAME=29-dial-errors
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/oxlb.sh"
require jq

ns_create ox; ns_create r
ns_link ox e0 192.0.2.1/24 r eth0 192.0.2.2/24,192.0.2.4/24,192.0.2.5/24
key=$(printf 'k%.0s' {1..81})

oxlb_start ox ox --router-id 192.0.2.1 --local-as 64512 \
  --peer 'address=192.0.2.2,as=64513,name=src,source=192.0.2.123,connect-time=1' \
  --peer "address=192.0.2.4,as=64513,name=md5,password=$key,connect-time=1" \
  --peer 'address=192.0.2.5,as=64513,name=ref,connect-time=1'

# check PEER REASON TEXT: the status names TEXT, >= 3 failures of REASON, one warning.
check() {
  local p=$1 reason=$2 text=$3 err warns
  wait_until 15 eval "(( \$(oxlb_field ox $p '.connect_failures.$reason // 0') >= 3 ))" \
    || { oxlb_dump ox; die "$p: fewer than 3 '$reason' failures counted"; }
  err=$(oxlb_field ox $p .last_connect_error)
  [[ $err == *"$text"* ]] || { oxlb_dump ox; die "$p: last_connect_error '$err' does not name '$text'"; }
  # (The text log is coloured: strip the escapes first. grep -c prints 0 and
  # exits 1 when nothing matches; the count is checked right after.)
  warns=$(sed 's/\x1b\[[0-9;]*m//g' "$(daemon_dir ox)/log" | grep -c "WARN .*: connect failed peer=$p ") || true
  [[ $warns == 1 ]] || { oxlb_dump ox; die "$p: $warns warnings for one cause, want 1"; }
  log "ok: $p: $(oxlb_field ox $p .connect_failures.$reason) '$reason' failures, 1 warning: $err"
}
check src source_address "cannot bind source address 192.0.2.123"
check md5 md5 "TCP-MD5 key is 81 bytes"
check ref refused "connect to 192.0.2.5:179"
daemon_alive ox || die "oxlb-bgp died"
log "PASS"
