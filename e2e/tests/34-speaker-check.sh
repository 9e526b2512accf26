#!/usr/bin/env bash
# `oxlb-speaker check`: on examples/ exit 0 with the expected plan (table and
# json); on broken configs exit 1 and each error names the object
# (Kind namespace/name), the file and document, and the field. Broken cases:
# misspelt field, metallb.io object outside metallb-system, overlapping pools,
# unknown community alias, aggregationLength out of range, aggregationLength
# shorter than a pool's prefix, aggregationLengthV6 out of range; all of them
# at once (every error reported). A state file of an unknown version is
# refused naming file, field and value. No network: runs no daemon.
set -euo pipefail
E2E_TEST_NAME=34-speaker-check
source "$(dirname "$0")/../lib/daemons.sh"
source "$(dirname "$0")/../peers/speaker.sh"
require jq
_speaker_ensure_bin
B=$SPEAKER_BIN

# ---- valid: examples/ ----
good=$E2E_TMP/good; examples_copy "$good"
rc=0; table=$("$B" check --config "$good" --node-name NodeA 2>"$E2E_TMP/err") || rc=$?
((rc == 0)) || { cat "$E2E_TMP/err" >&2; die "check on examples/: exit $rc, want 0"; }
head -1 <<<"$table" | grep -Eq '^SERVICE +IPS +POOL +STATUS$' || die "table header: $(head -1 <<<"$table")"
want_rows=(
  'default/dns-service-tcp +1\.2\.3\.4 +default +announced'
  'default/dns-service-udp +1\.2\.3\.4 +default +announced'
  'default/nginx +192\.168\.(10\.[0-9]+|9\.[1-5]) +example +announced'
  'seed-variant/metallb-ippool3 +172\.16\.13\.210 +default +announced'
  'seed-variant/nginx +192\.168\.1\.100 +default +announced'
  'default/web-v6 +2001:db8:100::[0-9a-f]* +default +announced'
  'default/example +172\.16\.13\.[0-9]+ +default +announced'
  'default/metallb-ippool3 +172\.16\.13\.[0-9]+ +default +announced'
  '    bgp 1\.2\.3\.4/32 to tor-v4 \(192\.0\.2\.2\)'
  '    bgp 172\.16\.13\.210/32 to tor-v4 \(192\.0\.2\.2\)'
  '    bgp 2001:db8:100::[0-9a-f]*/128 to tor-v6 \(2001:db8:1::2\)'
  '    l2 192\.168\.(10\.[0-9]+|9\.[1-5]) via example'
)
for r in "${want_rows[@]}"; do
  grep -Eq "^$r\$" <<<"$table" || { echo "$table" >&2; die "table lacks a line matching: $r"; }
done
[[ $(grep -c ' announced$' <<<"$table") == 8 ]] || { echo "$table" >&2; die "table: want 8 Services"; }
[[ $(grep -c '^    bgp .* to tor-v6 ' <<<"$table") == 1 ]] || { echo "$table" >&2; die "table: only web-v6 goes to tor-v6"; }
[[ $(grep -c '^    l2 ' <<<"$table") == 1 ]] || { echo "$table" >&2; die "table: only default/nginx (pool example) has an L2 announcement"; }
log "ok: check examples/ (table): exit 0, 8 Services, expected IPs and announcements"

json=$("$B" check --config "$good" --node-name NodeA --output json) || die "check --output json on examples/: non-zero exit"
jq -e '(.errors == []) and (.warnings | type == "array") and (.services | length == 8)
  and all(.services[]; .pending == null and (.announcements | length >= 1))' <<<"$json" >/dev/null \
  || { jq . <<<"$json" >&2; die "json plan shape"; }
jq -e '[.services[] | select(.ips == ["1.2.3.4"])] | map(.name) | sort == ["dns-service-tcp","dns-service-udp"]' <<<"$json" >/dev/null \
  || die "json: 1.2.3.4 must be shared by exactly the DNS TCP/UDP pair"
jq -e '.services[] | select(.namespace == "default" and .name == "nginx") | .pool == "example"' <<<"$json" >/dev/null \
  || die "json: default/nginx must come from pool example"
jq -e '[.services[] | select(.pool == "example")] | length == 1' <<<"$json" >/dev/null \
  || die "json: pool example (autoAssign false) must serve only the annotated Service"
jq -e '.services[] | select(.name == "web-v6") | .announcements == ["bgp \(.ips[0])/128 to tor-v6 (2001:db8:1::2)"]' <<<"$json" >/dev/null \
  || die "json: web-v6 must be announced only to tor-v6"
log "ok: check examples/ (json): shared IP, pool annotation, autoAssign false, IPv6 only to tor-v6"

# the same config, seen from another node: no L2 (L2Advertisement selects NodeA only), BGP unchanged
jsonb=$("$B" check --config "$good" --node-name NodeB --output json) || die "check --node-name NodeB failed"
jq -e '[.services[].announcements[] | select(startswith("l2 "))] | length == 0' <<<"$jsonb" >/dev/null \
  || die "NodeB: an L2 announcement despite the NodeA nodeSelector"
jq -e '[.services[].announcements[] | select(startswith("bgp "))] | length == 8' <<<"$jsonb" >/dev/null \
  || die "NodeB: want 8 BGP announcements"
log "ok: --node-name NodeB: BGP only (the L2Advertisement selects NodeA)"

# ---- broken configs ----
# broken NAME EXPECTED_REGEX... < YAML : examples/ + 90-bad.yaml; exit 1; each regex
# must match one error (json), the table-mode stderr must also carry it.
broken() {
  local name=$1; shift
  local d=$E2E_TMP/$name; examples_copy "$d"; cat >"$d/90-bad.yaml"
  local rc=0 out err re
  out=$("$B" check --config "$d" --node-name NodeA --output json 2>"$E2E_TMP/err") || rc=$?
  ((rc == 1)) || { echo "$out" >&2; cat "$E2E_TMP/err" >&2; die "$name: check exit $rc, want 1"; }
  jq -e '.services == [] and (.errors | length >= 1)' <<<"$out" >/dev/null || { echo "$out" >&2; die "$name: json shape"; }
  [[ $(jq '.errors | length' <<<"$out") == $# ]] || { jq . <<<"$out" >&2; die "$name: want $# error(s)"; }
  for re in "$@"; do
    jq -r '.errors[]' <<<"$out" | grep -Eq -- "$re" || { jq . <<<"$out" >&2; die "$name: no error matches: $re"; }
  done
  rc=0; "$B" check --config "$d" --node-name NodeA >"$E2E_TMP/out" 2>"$E2E_TMP/err" || rc=$?
  ((rc == 1)) || die "$name: check (table) exit $rc, want 1"
  grep -Eq -- "error: ${1#^}" "$E2E_TMP/err" "$E2E_TMP/out" || { cat "$E2E_TMP/out" "$E2E_TMP/err" >&2; die "$name: table mode does not print the error"; }
  log "ok: $name: exit 1; $(jq -r '.errors[0]' <<<"$out" | sed "s|$d/||" | cut -c1-170)"
}
F='\(.*90-bad\.yaml doc [0-9]+\)'
broken misspelt-field "^BGPPeer metallb-system/typo $F: spec\.peerAdress: unknown field" <<'Y'
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: typo
  namespace: metallb-system
spec:
  myASN: 64512
  peerASN: 64513
  peerAdress: 192.0.2.9
Y
broken other-namespace "^IPAddressPool default/elsewhere $F: metadata\.namespace: .*metallb-system" <<'Y'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: elsewhere
  namespace: default
spec:
  addresses: [198.51.100.0/28]
Y
broken overlapping-pools "^IPAddressPool metallb-system/overlap $F: spec\.addresses\[0\]: .*overlaps with IPAddressPool \"default\"" <<'Y'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: overlap
  namespace: metallb-system
spec:
  addresses: [172.16.13.128/25]
Y
broken unknown-community "^BGPAdvertisement metallb-system/badcomm $F: spec\.communities\[0\]: .*no-such-alias" <<'Y'
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: badcomm
  namespace: metallb-system
spec:
  communities: [no-such-alias]
Y
broken aggregation-length-33 "^BGPAdvertisement metallb-system/badagg $F: spec\.aggregationLength: .*33" <<'Y'
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: badagg
  namespace: metallb-system
spec:
  ipAddressPools: [default]
  aggregationLength: 33
Y
broken aggregation-length-v6-129 "^BGPAdvertisement metallb-system/agg6 $F: spec\.aggregationLengthV6: .*129" <<'Y'
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: agg6
  namespace: metallb-system
spec:
  aggregationLengthV6: 129
Y
broken aggregation-shorter-than-pool \
  "^BGPAdvertisement metallb-system/agg24 $F: spec\.aggregationLength: .*1\.2\.3\.4/32" \
  "^BGPAdvertisement metallb-system/agg24 $F: spec\.aggregationLength: .*192\.168\.1\.100/32" <<'Y'
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: agg24
  namespace: metallb-system
spec:
  ipAddressPools: [default]
  aggregationLength: 24
Y
# several errors in one multi-document file: every error of a stage is reported,
# with its doc number. NOTE: validation is staged - decoding errors (unknown
# field, wrong namespace) are reported alone; the semantic errors of the other
# documents (community alias, aggregationLength) only show once those are fixed.
broken all-decode-errors \
  "^BGPPeer metallb-system/typo \(.*90-bad\.yaml doc 1\): spec\.peerAdress" \
  "^IPAddressPool default/elsewhere \(.*90-bad\.yaml doc 2\): metadata\.namespace" <<'Y'
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: typo, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64513, peerAdress: 192.0.2.9}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: elsewhere, namespace: default}
spec: {addresses: [198.51.100.0/28]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: badcomm, namespace: metallb-system}
spec: {communities: [no-such-alias]}
Y
broken all-semantic-errors \
  "^IPAddressPool metallb-system/overlap \(.*90-bad\.yaml doc 1\): spec\.addresses\[0\]" \
  "^BGPAdvertisement metallb-system/badcomm \(.*90-bad\.yaml doc 2\): spec\.communities\[0\]" \
  "^BGPAdvertisement metallb-system/badagg \(.*90-bad\.yaml doc 3\): spec\.aggregationLength" <<'Y'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: overlap, namespace: metallb-system}
spec: {addresses: [172.16.13.128/25]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: badcomm, namespace: metallb-system}
spec: {communities: [no-such-alias]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: badagg, namespace: metallb-system}
spec: {ipAddressPools: [default], aggregationLength: 33}
Y

# ---- a state file of an unknown format version is refused, naming file, field, value ----
st=$E2E_TMP/state-v2.json
printf '{"version": 2, "services": {}}\n' >"$st"
rc=0; out=$("$B" check --config "$good" --node-name NodeA --state-file "$st" 2>&1) || rc=$?
((rc == 1)) || { echo "$out" >&2; die "check --state-file (version 2): exit $rc, want 1"; }
[[ $out == *"state file $st: field \`version\` is 2, this build reads only version 1"* ]] \
  || die "version error does not name file, field, value and the supported version: $out"
log "ok: unknown state file version refused: $out"
log "PASS"
